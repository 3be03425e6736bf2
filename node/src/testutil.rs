//! Shared fixtures of the unit tests: a small rubric exercising every field
//! type, a quarterly method, a method outside the node's scope and a field
//! only one category reads.

use kaohe_rulepacks::manifest::Manifest;

use crate::store::{Actor, Scope, UnitInfo};

/// A rubric small enough to reason about in tests. Categories: `township`
/// (groups L) and `department` (groups L, N1). Methods: `daily` (quarterly),
/// `supervision`, `satisfaction`, `file_review`.
pub const TEST_RUBRIC: &str = r#"
[pack]
id = "test"
year = 2022
version = 1
title = "测试细则"
issuer = "测试县依法治县办"

[limits]
fuel_per_unit = 100000

[[group]]
id = "L"
name = "党的领导"

[[group]]
id = "N1"
name = "分类职责：推进依法行政"

[[category]]
id = "township"
no = 1
name = "乡镇"
groups = ["L"]
ranked = true
assessor = "county_office"

[[category]]
id = "department"
no = 4
name = "县政府部门"
groups = ["L", "N1"]
ranked = true
assessor = "county_office"

[[method]]
id = "daily"
name = "日常评价"
quarterly = true
combine = "mean"

[[method]]
id = "supervision"
name = "监督督察"
quarterly = false

[[method]]
id = "satisfaction"
name = "满意度调查"
quarterly = false

[[method]]
id = "file_review"
name = "集中评查"
quarterly = false

[[field]]
id = "q_study"
label = "法治专题学习次数"
type = "count"
min = 0
max = 100
unit = "次"
method = "daily"
missing = "refuse"
help = "本季度开展法治专题学习的次数"

[[field]]
id = "q_overdue"
label = "逾期未完成工作项数"
type = "count"
min = 0
max = 100
unit = "项"
method = "daily"
default = 0
help = "未通报的按0项计"

[[field]]
id = "sup_plan"
label = "已制定年度法治工作计划"
type = "bool"
method = "supervision"
missing = "refuse"
help = "是否制定年度法治工作计划"

[[field]]
id = "sup_problems"
label = "督察发现问题数"
type = "count"
min = 0
max = 100
unit = "个"
method = "supervision"
default = 0
help = "督察中发现的问题个数"

[[field]]
id = "sup_report"
label = "年度报告公开情况"
type = "choice"
choices = ["按时公开", "逾期公开", "未公开"]
method = "supervision"
missing = "refuse"
help = "法治政府建设年度报告的公开情况"

[[field]]
id = "dept_cases"
label = "行政复议纠错件数"
type = "count"
min = 0
max = 1000
unit = "件"
method = "supervision"
missing = "refuse"
help = "仅县政府部门填写"

[[field]]
id = "sat_rate"
label = "群众满意率"
type = "decimal"
min = 0
max = 100
unit = "%"
method = "satisfaction"
missing = "refuse"
help = "满意度调查的满意率"

[[field]]
id = "fr_files"
label = "评查案卷数"
type = "count"
min = 0
max = 1000
unit = "件"
method = "file_review"
missing = "refuse"
help = "集中评查的案卷数"

[[indicator]]
id = "L1"
group = "L"
name = "学习贯彻法治思想"
kind = "scored"
points = 4
method = "daily"
clause = "四（一）1"
criteria = "每季度至少学习2次，少于2次扣2分；逾期工作每项扣1分。"
  [[indicator.deduction]]
  id = "L1a"
  when = "q_study < 2"
  amount = "2"
  reason = "学习少于2次，扣2分"
  [[indicator.deduction]]
  id = "L1b"
  when = "q_overdue > 0"
  amount = "q_overdue"
  reason = "逾期未完成工作，每项扣1分"

[[indicator]]
id = "L2"
group = "L"
name = "年度工作计划与督察"
kind = "scored"
points = 3
method = "supervision"
clause = "四（一）2"
criteria = "未制定计划扣3分；督察发现问题扣1分；年度报告未公开扣1分。"
  [[indicator.deduction]]
  id = "L2a"
  when = "not sup_plan"
  reason = "未制定年度法治工作计划，扣3分"
  [[indicator.deduction]]
  id = "L2b"
  when = "sup_problems > 0"
  amount = "1"
  reason = "督察发现问题，扣1分"
  [[indicator.deduction]]
  id = "L2c"
  when = "sup_report == \"未公开\""
  amount = "1"
  reason = "年度报告未公开，扣1分"

[[indicator]]
id = "L3"
group = "L"
name = "群众满意度"
kind = "scored"
points = 3
method = "satisfaction"
clause = "五（六）"
criteria = "得分 = 满意率 × 3 ÷ 100。"
score = "sat_rate * 3 / 100"

[[indicator]]
id = "L4"
group = "L"
name = "案卷评查"
kind = "scored"
points = 2
method = "file_review"
clause = "五（三）"
criteria = "无案卷扣2分。"
  [[indicator.deduction]]
  id = "L4a"
  when = "fr_files < 1"
  reason = "无评查案卷，扣2分"

[[indicator]]
id = "N1a"
group = "N1"
name = "行政复议纠错"
kind = "scored"
points = 2
method = "supervision"
clause = "四（三）1"
criteria = "纠错超过5件扣2分。"
  [[indicator.deduction]]
  id = "N1a1"
  when = "dept_cases > 5"
  reason = "行政复议纠错超过5件，扣2分"

[composition]
full_marks = 100
normalise = true
bonus_cap = 5
penalty_cap = 10
serious_case_bars = "excellent"
excellent_quota = 0.0
  [[composition.grade]]
  id = "excellent"
  name = "优秀"
  min = 90
  [[composition.grade]]
  id = "good"
  name = "良好"
  min = 80
  [[composition.grade]]
  id = "pass"
  name = "合格"
  min = 60
  [[composition.grade]]
  id = "fail"
  name = "不合格"
  min = 0

[schedule]
verification_days = 5
review_request_days = 5
review_request_runs = "alongside"
review_decision_days = 10
round_deadline = { Q1 = "04-15", Q2 = "07-15", Q3 = "10-15", Q4 = "01-15", annual = "01-31" }

[outcomes]
warn_bottom = 3
big_regression_points = 10
commend_consecutive_excellent = 2
recommend_township_consecutive_excellent = 2
recommend_categories = ["township"]
letter_grades = ["pass", "fail"]
admonish_grades = ["fail"]
copy_list = ["县纪委监委"]
"#;

/// The compiled test rubric's manifest.
/// A node config pinning `keys` as pack authorities with `threshold`.
pub fn config_pinning(
    dir: &std::path::Path,
    keys: &[&kaohe_proto::SigningKeyPair],
    threshold: usize,
) -> crate::config::NodeConfig {
    let keys: Vec<String> = keys.iter().map(|k| k.public().to_string()).collect();
    let text = crate::config::render(
        "n",
        kaohe_rulepacks::manifest::Assessor::CountyOffice,
        "http://127.0.0.1:1",
        None,
        None,
        &keys,
        threshold,
    );
    crate::config::NodeConfig::parse(&text, &dir.join(crate::config::CONFIG_FILE)).unwrap()
}

/// [`TEST_RUBRIC`] at `version`, compiled to a pack module.
pub fn test_module(version: u32) -> Vec<u8> {
    let src = TEST_RUBRIC.replace("version = 1", &format!("version = {version}"));
    let rubric = kaohe_rulepacks::rubric::compile("t.toml", &src).unwrap();
    kaohe_rulepacks::compile::compile(&rubric).unwrap()
}

pub fn test_manifest() -> Manifest {
    match kaohe_rulepacks::rubric::compile("test-rubric.toml", TEST_RUBRIC) {
        Ok(r) => r.manifest,
        Err(d) => panic!("the test rubric does not compile:\n{d}"),
    }
}

pub fn actor(name: &str) -> Actor {
    Actor {
        operator: name.to_string(),
        at: jiff::Timestamp::from_second(1_700_000_000).expect("fixed time"),
    }
}

pub fn unit(id: &str, name: &str, category: &str) -> UnitInfo {
    UnitInfo {
        unit_id: id.into(),
        name: name.into(),
        category_id: category.into(),
        parent_id: None,
        supervising_dept: None,
    }
}

/// Two townships and a department; methods daily, supervision and
/// satisfaction (not file_review).
pub fn sample_scope(year: u16) -> Scope {
    Scope {
        year,
        units: vec![
            unit("justice", "县司法局", "department"),
            unit("xiaodian", "肖旗乡", "township"),
            unit("zhaozhuang", "赵庄镇", "township"),
        ],
        methods: vec!["daily".into(), "satisfaction".into(), "supervision".into()],
    }
}

/// A store in `dir` with the test rubric's manifest as the active 2022 pack
/// and [`sample_scope`] as the 2022 scope.
pub fn store_with_pack(dir: &std::path::Path) -> crate::store::Store {
    let mut store =
        crate::store::Store::create(&dir.join(crate::store::DB_FILE)).expect("create store");
    install_test_pack(&mut store, &test_manifest(), b"test module");
    store.replace_scope(&sample_scope(2022)).expect("scope");
    store
}

/// Installs `manifest` with `module` as the active pack of its year.
pub fn install_test_pack(store: &mut crate::store::Store, manifest: &Manifest, module: &[u8]) {
    use sha2::Digest as _;
    let identity = kaohe_proto::PackIdentity {
        id: manifest.pack.id.clone(),
        year: u16::try_from(manifest.pack.year).expect("year"),
        version: manifest.pack.version,
        module_sha256: sha2::Sha256::digest(module).into(),
    };
    let authority = kaohe_proto::SigningKeyPair::from_seed(&[9; 32]);
    let signature = kaohe_proto::Envelope::sign(
        "application/vnd.kaohe.test-pack",
        module.to_vec(),
        &[&authority],
    );
    store
        .install_pack(
            &crate::store::NewPack {
                identity: &identity,
                module,
                manifest,
                signature: &signature,
            },
            &actor("sync"),
        )
        .expect("install pack");
}

/// A cell of a test workbook.
#[derive(Debug, Clone)]
pub enum T {
    S(&'static str),
    Own(String),
    N(f64),
    B(bool),
    F(&'static str),
    /// A date (year, month, day), formatted as a date in Excel.
    D(u16, u8, u8),
    E,
}

/// A test sheet: name, rows, merged ranges `(r0, c0, r1, c1)`.
pub struct Sheet {
    pub name: String,
    pub rows: Vec<Vec<T>>,
    pub merged: Vec<(u32, u16, u32, u16)>,
}

/// Writes sheets to `.xlsx` bytes with rust_xlsxwriter.
pub fn xlsx(sheets: &[Sheet]) -> Vec<u8> {
    xlsx_hiding(sheets, &[])
}

/// Writes sheets to `.xlsx` bytes, the sheets named in `hidden` hidden (the
/// first sheet not hidden is the active one).
pub fn xlsx_hiding(sheets: &[Sheet], hidden: &[&str]) -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let active = sheets
        .iter()
        .position(|s| !hidden.contains(&s.name.as_str()));
    let date_format = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd");
    let date = |y, m, d| rust_xlsxwriter::ExcelDateTime::from_ymd(y, m, d).expect("date");
    for (i, s) in sheets.iter().enumerate() {
        let ws = book.add_worksheet();
        ws.set_name(&s.name).expect("sheet name");
        if hidden.contains(&s.name.as_str()) {
            ws.set_hidden(true);
        } else if Some(i) == active {
            ws.set_active(true);
        }
        for (r, row) in s.rows.iter().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                let (r, c) = (r as u32, c as u16);
                match cell {
                    T::S(t) => drop(ws.write_string(r, c, *t).expect("write")),
                    T::Own(t) => drop(ws.write_string(r, c, t).expect("write")),
                    T::N(n) => drop(ws.write_number(r, c, *n).expect("write")),
                    T::B(b) => drop(ws.write_boolean(r, c, *b).expect("write")),
                    T::F(f) => drop(ws.write_formula(r, c, *f).expect("write")),
                    T::D(y, m, d) => drop(
                        ws.write_datetime_with_format(r, c, date(*y, *m, *d), &date_format)
                            .expect("write"),
                    ),
                    T::E => {}
                }
            }
        }
        for &(r0, c0, r1, c1) in &s.merged {
            ws.merge_range(r0, c0, r1, c1, "", &rust_xlsxwriter::Format::new())
                .expect("merge");
        }
    }
    book.save_to_buffer().expect("save")
}

/// The two header rows of a round's sheet, as the template writes them.
pub fn header_rows(
    layout: &crate::layout::Layout<'_>,
    round: kaohe_rulepacks::manifest::Round,
) -> Vec<Vec<T>> {
    let fields = layout.fields_for(round);
    let mut zh = vec![T::S("单位编号"), T::S("单位名称")];
    let mut ids = vec![T::S("unit_id"), T::S("unit_name")];
    for &f in fields {
        zh.push(T::Own(crate::layout::header(layout.field(f))));
        ids.push(T::Own(layout.field(f).id.clone()));
    }
    vec![zh, ids]
}

/// Writes an empty certificate revocation list of a throw-away CA, as PEM
/// to `pem` and as DER to `der`.
pub fn write_crl(pem: &std::path::Path, der: &std::path::Path) {
    use rcgen::{
        BasicConstraints, CertificateParams, CertificateRevocationListParams, CertifiedIssuer,
        IsCa, KeyIdMethod, KeyPair, KeyUsagePurpose, SerialNumber, date_time_ymd,
    };
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    let crl = CertificateRevocationListParams {
        this_update: date_time_ymd(2020, 1, 1),
        next_update: date_time_ymd(2099, 1, 1),
        crl_number: SerialNumber::from(1u64),
        issuing_distribution_point: None,
        revoked_certs: Vec::new(),
        key_identifier_method: KeyIdMethod::Sha256,
    }
    .signed_by(&ca)
    .unwrap();
    std::fs::write(pem, crl.pem().unwrap()).unwrap();
    std::fs::write(der, crl.der()).unwrap();
}

/// Receipts of a batch, as a hub of revision 5 gives them: each chained to
/// a log of 2022 holding just the batch's submissions, under a checkpoint
/// signed by `hub`.
pub fn receipts_in_log(
    items: &[kaohe_proto::ReceiptItem],
    hub: &kaohe_proto::SigningKeyPair,
    commit_time: i64,
) -> Vec<kaohe_proto::Receipt> {
    use kaohe_proto::receipt::LogInclusion;
    use kaohe_proto::tlog::checkpoint::Checkpoint;
    use kaohe_proto::tlog::leaf::{Leaf, SubmissionLeaf, log_origin};
    use kaohe_proto::tlog::proof::TlogProof;
    use kaohe_proto::tlog::tree::MemoryTree;
    let mut receipts = kaohe_proto::ReceiptBatch::build(items, hub, commit_time);
    let leaves: Vec<SubmissionLeaf> = items
        .iter()
        .map(|i| SubmissionLeaf {
            digest: i.digest,
            signer: kaohe_proto::KeyId::of(&[1; 32]),
            unit: i.unit_id.clone(),
            year: i.year,
            round: i.round,
            commit_time,
            late: i.late,
        })
        .collect();
    let mut tree = MemoryTree::new();
    for l in &leaves {
        tree.append(Leaf::Submission(l.clone()).hash())
            .expect("append");
    }
    let year = items.first().map_or(2022, |i| i.year);
    let checkpoint = Checkpoint {
        origin: log_origin(&hub.key_id(), year),
        size: tree.size(),
        root: tree.root(),
        extensions: Vec::new(),
    }
    .sign(hub)
    .expect("sign");
    for (i, (receipt, leaf)) in receipts.iter_mut().zip(leaves).enumerate() {
        receipt.log = Some(LogInclusion {
            leaf,
            proof: TlogProof {
                extra: None,
                index: i as u64,
                inclusion: tree.inclusion_proof(i as u64, tree.size()).expect("proof"),
                checkpoint: checkpoint.clone(),
            },
        });
    }
    receipts
}
