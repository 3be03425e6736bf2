//! Shared by the integration tests and the benchmark: the hand-written
//! ABI pack (`rulepacks/fixtures/wat/abi-pack.wat`) with a complete
//! manifest, for any year and version.

use std::path::Path;

use kaohe_rulepacks::manifest::{
    Assessor, Category, Clause, Composition, Deadline, Field, FieldType, Grade, Group, Indicator,
    IndicatorKind, Limits, Manifest, Method, Missing, Outcomes, PackInfo, ReviewRuns,
    RoundDeadlines, Schedule,
};

pub const PACK_ID: &str = "abi-demo";

/// The hand-written ABI pack (rulepacks/fixtures/wat/abi-pack.wat) with a
/// complete manifest for `year` and `version` in place of its short one,
/// and the self-test its author records (what it answers for four units
/// and their sheets), which the hub runs before publishing it.
pub fn abi_pack(year: u16, version: u32) -> Vec<u8> {
    let module = abi_pack_without_self_test(year, version);
    let runtime = kaohe_rulepacks::runtime::Runtime::new(Default::default()).expect("runtime");
    let pack = kaohe_rulepacks::pack::Pack::load_as_found(&runtime, &module).expect("loads");
    let unit = |sessions: i64, plan: bool| kaohe_rulepacks::abi::UnitInput {
        category: 0,
        round: kaohe_rulepacks::manifest::Round::Annual,
        methods: 1,
        values: vec![Some(sessions * 100), Some(if plan { 100 } else { 0 })],
        not_applicable: Vec::new(),
    };
    let units = [unit(3, true), unit(1, true), unit(2, false), unit(0, false)];
    let sheet = |l1: i64, l2: i64| kaohe_rulepacks::abi::FinaliseInput {
        category: 0,
        penalty_cap_override: None,
        scores: vec![Some(l1), Some(l2)],
        not_applicable: Vec::new(),
    };
    let sheets = [sheet(400, 300), sheet(200, 300), sheet(400, 0)];
    let test = kaohe_rulepacks::compile::record_self_test(&pack, &units, &sheets).expect("records");
    kaohe_rulepacks::selftest::embed(&module, &test)
}

/// [`abi_pack`] as it was before packs carried a self-test.
pub fn abi_pack_without_self_test(year: u16, version: u32) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rulepacks/fixtures/wat/abi-pack.wat");
    let wat = std::fs::read_to_string(&path).expect("abi-pack.wat");
    let start = wat
        .find("(@custom \"kaohe-manifest\"")
        .expect("manifest section");
    let end = start + wat[start..].find("(memory").expect("memory after manifest");
    let json = String::from_utf8(manifest(year, version).to_canonical_json()).unwrap();
    let escaped = json.replace('\\', "\\\\").replace('"', "\\\"");
    let text = format!(
        "{}(@custom \"kaohe-manifest\" \"{escaped}\")\n\n  {}",
        &wat[..start],
        &wat[end..]
    );
    wat::parse_str(&text).expect("abi pack with a full manifest assembles")
}

/// abi-pack's rubric: one category, one annual method `daily`, fields
/// `sessions` (count, required) and `plan` (bool, required); L1 (4 points,
/// clause L1a deducts 2 when sessions < 2), L2 (3 points if plan).
pub fn manifest(year: u16, version: u32) -> Manifest {
    let deadline = |month, day, next_year| Deadline {
        month,
        day,
        next_year,
    };
    Manifest {
        manifest_version: 1,
        abi_version: 1,
        abi_minor: 0,
        pack: PackInfo {
            id: PACK_ID.into(),
            year: year.into(),
            version,
            title: "ABI 示例规则包".into(),
            issuer: "测试".into(),
        },
        source_sha256: "0".repeat(64),
        limits: Limits {
            fuel_per_unit: 1000,
            wasm_fuel_per_unit: 200_000,
        },
        groups: vec![Group {
            id: "L".into(),
            name: "党的领导".into(),
        }],
        categories: vec![Category {
            id: "township".into(),
            no: 1,
            name: "乡镇".into(),
            groups: vec!["L".into()],
            ranked: true,
            assessor: Assessor::CountyOffice,
            copy_to_supervisor: false,
        }],
        methods: vec![Method {
            id: "daily".into(),
            name: "日常评价".into(),
            quarterly: false,
            combine: None,
        }],
        fields: vec![
            Field {
                id: "sessions".into(),
                label: "专题学习次数".into(),
                kind: FieldType::Count,
                min: Some(0),
                max: Some(10_000),
                unit: "次".into(),
                method: "daily".into(),
                missing: Missing::Refuse,
                choices: vec![],
                help: String::new(),
            },
            Field {
                id: "plan".into(),
                label: "年度工作计划".into(),
                kind: FieldType::Bool,
                min: None,
                max: None,
                unit: String::new(),
                method: "daily".into(),
                missing: Missing::Refuse,
                choices: vec![],
                help: String::new(),
            },
        ],
        indicators: vec![
            Indicator {
                id: "L1".into(),
                group: "L".into(),
                name: "专题学习".into(),
                kind: IndicatorKind::Scored,
                points: vec![Some(400)],
                method: "daily".into(),
                clause: "考核方案 四（一）1".into(),
                criteria: "未开展专题学习的扣分".into(),
                flag: None,
                score: None,
                when: None,
                clauses: vec![Clause {
                    id: "L1a".into(),
                    when: "sessions < 2".into(),
                    amount: Some("2".into()),
                    reason: "专题学习少于2次，扣2分".into(),
                }],
                fuel_cost: 4,
                reason: None,
                allow_not_applicable: false,
            },
            Indicator {
                id: "L2".into(),
                group: "L".into(),
                name: "年度计划".into(),
                kind: IndicatorKind::Scored,
                points: vec![Some(300)],
                method: "daily".into(),
                clause: "考核方案 四（一）2".into(),
                criteria: "有年度计划得3分".into(),
                flag: None,
                score: Some("if plan then 3 else 0".into()),
                when: None,
                clauses: vec![],
                fuel_cost: 4,
                reason: None,
                allow_not_applicable: false,
            },
        ],
        composition: Composition {
            full_marks: 10_000,
            normalise: true,
            bonus_cap: 500,
            penalty_cap: 1000,
            serious_case_bars: "excellent".into(),
            grades: vec![
                Grade {
                    id: "excellent".into(),
                    name: "优秀".into(),
                    min: 9000,
                },
                Grade {
                    id: "good".into(),
                    name: "良好".into(),
                    min: 8000,
                },
                Grade {
                    id: "pass".into(),
                    name: "合格".into(),
                    min: 6000,
                },
                Grade {
                    id: "fail".into(),
                    name: "不合格".into(),
                    min: 0,
                },
            ],
            excellent_quota: 0,
        },
        schedule: Schedule {
            verification_days: 5,
            review_request_days: 5,
            review_request_runs: ReviewRuns::After,
            review_decision_days: 10,
            round_deadlines: RoundDeadlines {
                q1: deadline(4, 10, false),
                q2: deadline(7, 10, false),
                q3: deadline(10, 10, false),
                q4: deadline(1, 10, true),
                annual: deadline(1, 20, true),
            },
        },
        outcomes: Outcomes {
            warn_bottom: 3,
            warn_bottom_share: None,
            big_regression_points: 1000,
            commend_consecutive_excellent: 2,
            recommend_township_consecutive_excellent: 3,
            recommend_categories: vec!["township".into()],
            letter_grades: vec!["pass".into(), "fail".into()],
            admonish_grades: vec!["fail".into()],
            copy_list: vec![],
        },
    }
}
