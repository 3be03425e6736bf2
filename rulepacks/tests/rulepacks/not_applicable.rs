//! Issue #13 §2 in the language, the ABI, the interpreter and the compiled
//! pack: items marked not applicable (不适用) and the per-unit conversion,
//! the reasons `score =` indicators give for lost points, and the bottom-n
//! share of small rankings. The hand-worked fixtures 18–21 of the 2022 pack
//! run through both evaluators in `compile::every_fixture_passes_through_the_runtime`.

use std::path::Path;

use kaohe_rulepacks::abi::{self, FinaliseInput, UnitInput, UnitOutput, UnitStatus};
use kaohe_rulepacks::interp::Interpreter;
use kaohe_rulepacks::manifest::{ABI_V1, Manifest, Round};
use kaohe_rulepacks::pack::{Evaluator, Pack, PackError};
use kaohe_rulepacks::rubric::{self, CheckedRubric, CompileError};
use kaohe_rulepacks::runtime::{Runtime, RuntimeConfig};

fn mini_src() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/mini/rubric.toml"),
    )
    .expect("mini rubric")
}

fn edit(src: &str, from: &str, to: &str) -> String {
    assert_eq!(src.matches(from).count(), 1, "`{from}` must occur once");
    src.replacen(from, to, 1)
}

fn compile(src: &str) -> CheckedRubric {
    rubric::compile("t.toml", src).unwrap_or_else(|d| panic!("{}", d.render()))
}

fn errors(src: &str) -> Vec<CompileError> {
    match rubric::compile("t.toml", src) {
        Ok(_) => panic!("expected compile errors"),
        Err(d) => d.0.into_iter().map(|e| e.error).collect(),
    }
}

/// N1's loss-reason template in [`marking_src`].
const REASON: &str = "reason = \"一线 {staff_front} 人、共 {staff_total} 人，计划 {has_plan}，均分 {avg_score}：得 {score} 分（满分 {points}），失 {lost} 分\"";

/// mini with N1 (score formula, with a loss-reason template) and N2
/// (deductions) markable; town: L1 10 + L2 20 + N1 40 + N2 30 = 100.
fn marking_src() -> String {
    let src = edit(
        &mini_src(),
        "points = 40\nmethod = \"review\"\nscore =",
        &format!(
            "points = 40\nmethod = \"review\"\nallow_not_applicable = true\n{REASON}\nscore ="
        ),
    );
    edit(
        &src,
        "name = \"法治理论测试\"\npoints = 30",
        "name = \"法治理论测试\"\npoints = 30\nallow_not_applicable = true",
    )
}

fn marking() -> CheckedRubric {
    compile(&marking_src())
}

fn idx(m: &Manifest, id: &str) -> usize {
    m.indicator_index(id).expect("indicator")
}

fn field(m: &Manifest, id: &str) -> usize {
    m.field_index(id).expect("field")
}

/// A town's annual review evidence: 8 of 10 staff in the front line, a
/// plan, an average of 70.
fn town_annual(m: &Manifest, marked: &[&str]) -> UnitInput {
    let mut values = vec![None; m.fields.len()];
    values[field(m, "staff_total")] = Some(1000);
    values[field(m, "staff_front")] = Some(800);
    values[field(m, "has_plan")] = Some(100);
    values[field(m, "avg_score")] = Some(7000);
    let mut not_applicable = vec![false; m.indicators.len()];
    for id in marked {
        not_applicable[idx(m, id)] = true;
    }
    UnitInput {
        category: 0,
        round: Round::Annual,
        methods: m.all_methods_mask(),
        values,
        not_applicable,
    }
}

fn compiled(r: &CheckedRubric) -> Pack {
    let wasm = kaohe_rulepacks::compile::compile(r).expect("compiles");
    let runtime = Runtime::new(RuntimeConfig::default()).expect("runtime");
    Pack::load_as_found(&runtime, &wasm).expect("loads")
}

#[test]
fn marking_is_declared_by_the_rubric_needs_conversion_and_leaves_something_to_convert_over() {
    // Only scored indicators may be marked.
    let src = edit(
        &mini_src(),
        "kind = \"bonus\"\npoints = 5",
        "kind = \"bonus\"\nallow_not_applicable = true\npoints = 5",
    );
    assert!(matches!(
        errors(&src)[..],
        [CompileError::KeyNotForKind { ref key, .. }] if key == "allow_not_applicable"
    ));
    // Conversion must be on.
    let src = edit(&marking_src(), "normalise = true", "normalise = false");
    assert!(matches!(
        errors(&src)[..],
        [CompileError::NotApplicableWithoutNormalise { ref indicator }] if indicator == "N1"
    ));
    // A category (village: L1, L2, N1, N2) whose every scored indicator may
    // be marked has nothing left to convert over.
    let src = edit(
        &edit(
            &marking_src(),
            "name = \"深入学习贯彻习近平法治思想\"\npoints = 10",
            "name = \"深入学习贯彻习近平法治思想\"\npoints = 10\nallow_not_applicable = true",
        ),
        "name = \"把法治建设纳入年度工作计划\"\npoints = { default = 20, dept = 30 }",
        "name = \"把法治建设纳入年度工作计划\"\npoints = { default = 20, dept = 30 }\nallow_not_applicable = true",
    );
    let errs = errors(&src);
    assert!(
        errs.iter()
            .all(|e| matches!(e, CompileError::CategoryAllNotApplicable { .. })),
        "{errs:?}"
    );
    assert_eq!(errs.len(), 3, "town, dept and village: {errs:?}");
}

#[test]
fn a_rubric_that_marks_nothing_keeps_abi_x_0_and_its_bytes() {
    let plain = compile(&mini_src());
    assert_eq!(plain.manifest.abi_minor, 0);
    assert_eq!(plain.manifest.abi_word(), 2, "ABI 2.0");
    assert_eq!(
        plain.clone().with_abi(ABI_V1).manifest.abi_word(),
        1,
        "as ABI 1: 1.0"
    );
    let json = String::from_utf8(plain.manifest.to_canonical_json()).unwrap();
    assert!(
        !json.contains("abi_minor") && !json.contains("allow_not_applicable"),
        "{json}"
    );
    let marking = marking();
    assert_eq!(marking.manifest.abi_minor, 1);
    assert_eq!(marking.manifest.abi_word(), 0x0001_0002, "ABI 2.1");
    assert_eq!(
        marking.clone().with_abi(ABI_V1).manifest.abi_word(),
        0x0001_0001,
        "as ABI 1: 1.1"
    );
    let json = String::from_utf8(marking.manifest.to_canonical_json()).unwrap();
    assert!(
        json.contains(r#""abi_version":2,"abi_minor":1,"#)
            && json.contains(r#""allow_not_applicable":true"#),
        "{json}"
    );
    // Read back strictly, and a minor this code does not speak is refused.
    assert_eq!(
        Manifest::from_json(json.as_bytes()).unwrap(),
        marking.manifest
    );
    let future = json.replace(r#""abi_minor":1"#, r#""abi_minor":2"#);
    assert!(Manifest::from_json(future.as_bytes()).is_err());
}

#[test]
fn a_marked_indicator_is_not_evaluated_costs_no_fuel_and_needs_none_of_its_fields() {
    let r = marking();
    let m = &r.manifest;
    let interp = Interpreter::new(&r);
    let pack = compiled(&r);
    let (n1, n2) = (idx(m, "N1"), idx(m, "N2"));
    let all = &interp.evaluate(&[town_annual(m, &[])])[0];
    let mut unit = town_annual(m, &["N2"]);
    // N2 alone reads avg_score (required): marked, it may be left out.
    unit.values[field(m, "avg_score")] = None;
    for evaluator in [&interp as &dyn Evaluator, &pack] {
        let out = &evaluator.evaluate(std::slice::from_ref(&unit)).unwrap()[0];
        assert_eq!(out.status, UnitStatus::Ok);
        assert!(out.is_not_applicable(n2) && !out.is_not_applicable(n1));
        assert_eq!(out.indicators[n2], None);
        assert_eq!(out.indicators[n1], all.indicators[n1]);
        assert_eq!(
            out.fuel_used,
            all.fuel_used - m.indicators[n2].fuel_cost,
            "a marked indicator costs no fuel"
        );
    }
    // Unmarked, the missing field refuses the unit as before.
    let mut unmarked = unit.clone();
    unmarked.not_applicable.clear();
    assert_eq!(
        interp.evaluate(&[unmarked])[0].status,
        UnitStatus::MissingField(field(m, "avg_score") as u32)
    );
}

#[test]
fn marks_are_refused_where_the_rubric_category_or_round_does_not_allow_them() {
    let r = marking();
    let m = &r.manifest;
    let interp = Interpreter::new(&r);
    let pack = compiled(&r);
    let refused = |unit: UnitInput, at: &str| {
        for evaluator in [&interp as &dyn Evaluator, &pack] {
            let out = &evaluator.evaluate(std::slice::from_ref(&unit)).unwrap()[0];
            assert_eq!(
                out.status,
                UnitStatus::NotApplicableRefused(idx(m, at) as u32),
                "{at}"
            );
            assert!(
                out.status.describe(m).contains("不能标记为不适用"),
                "{}",
                out.status.describe(m)
            );
        }
    };
    // L2 may not be marked.
    refused(town_annual(m, &["L2"]), "L2");
    // N2 is not evaluated in a quarter.
    let mut q = town_annual(m, &["N2"]);
    q.round = Round::Q1;
    q.values = vec![None; m.fields.len()];
    q.values[field(m, "q_sessions")] = Some(100);
    refused(q, "N2");
    // dept has no group N.
    let mut dept = town_annual(m, &["N1"]);
    dept.category = m.category_index("dept").unwrap() as u32;
    refused(dept, "N1");
    // A mark other than 0 or 1, as the bytes may say.
    let mut raw = abi::RawUnitInput::from(&town_annual(m, &[]));
    raw.not_applicable[idx(m, "N1")] = 2;
    assert_eq!(
        interp.evaluate_raw(&[raw])[0].status,
        UnitStatus::NotApplicableRefused(idx(m, "N1") as u32)
    );
}

#[test]
fn the_sheet_is_converted_over_the_points_that_remain() {
    let r = marking();
    let m = &r.manifest;
    let interp = Interpreter::new(&r);
    let pack = compiled(&r);
    let (l1, l2, n1, n2) = (idx(m, "L1"), idx(m, "L2"), idx(m, "N1"), idx(m, "N2"));
    let mut scores = vec![None; m.indicators.len()];
    scores[l1] = Some(1000);
    scores[l2] = Some(2000);
    scores[n1] = Some(3500);
    for i in m.applicable_indicators(0) {
        if m.indicators[i].kind != kaohe_rulepacks::manifest::IndicatorKind::Scored {
            scores[i] = Some(0);
        }
    }
    let mut not_applicable = vec![false; m.indicators.len()];
    not_applicable[n2] = true;
    let unit = FinaliseInput {
        category: 0,
        penalty_cap_override: None,
        scores,
        not_applicable,
    };
    for evaluator in [&interp as &dyn Evaluator, &pack] {
        let out = evaluator.finalise(std::slice::from_ref(&unit)).unwrap()[0];
        let s = out.result().expect("a sheet");
        // applicable 100 − 30 = 70; raw 65 → round(6500 × 10000 / 7000) = 9285.71… → 92.86
        assert_eq!(
            (s.applicable, s.raw, s.converted, s.total),
            (7000, 6500, 9286, 9286)
        );
        assert_eq!(m.composition.grades[s.grade as usize].id, "excellent");
    }
    // Marked with a score, or an indicator that may not be marked: refused.
    let mut scored = unit.clone();
    let mut raw = abi::RawFinaliseInput::from(&scored);
    raw.scores[n2] = (2, 100);
    assert_eq!(
        interp.finalise_raw(&[raw])[0].status,
        UnitStatus::NotApplicableRefused(n2 as u32)
    );
    scored.not_applicable[l2] = true;
    scored.scores[l2] = None;
    for evaluator in [&interp as &dyn Evaluator, &pack] {
        assert_eq!(
            evaluator.finalise(std::slice::from_ref(&scored)).unwrap()[0].status,
            UnitStatus::NotApplicableRefused(l2 as u32)
        );
    }
}

#[test]
fn a_quarter_marked_not_applicable_is_left_out_and_every_quarter_marked_is_the_year() {
    let src = edit(
        &marking_src(),
        "name = \"深入学习贯彻习近平法治思想\"\npoints = 10",
        "name = \"深入学习贯彻习近平法治思想\"\npoints = 10\nallow_not_applicable = true",
    );
    // village keeps L2 (never markable); town and dept too.
    let r = compile(&src);
    let m = &r.manifest;
    let l1 = idx(m, "L1");
    let quarter = |round, sessions: i64, marked: bool| UnitInput {
        category: 0,
        round,
        methods: m.all_methods_mask(),
        values: {
            let mut v = vec![None; m.fields.len()];
            v[field(m, "q_sessions")] = (!marked).then_some(sessions * 100);
            v
        },
        not_applicable: {
            let mut v = vec![false; m.indicators.len()];
            v[l1] = marked;
            v
        },
    };
    let interp = Interpreter::new(&r);
    let outs = interp.evaluate(&[
        quarter(Round::Q1, 0, true),
        quarter(Round::Q2, 0, false),
        quarter(Round::Q3, 1, false),
        quarter(Round::Q4, 1, false),
    ]);
    let pairs: Vec<(Round, &UnitOutput)> = [Round::Q1, Round::Q2, Round::Q3, Round::Q4]
        .into_iter()
        .zip(&outs)
        .collect();
    let merged = abi::merge_outputs(m, 0, &pairs, None).unwrap();
    // Q2 7, Q3 10, Q4 10: mean of three = 27/3 = 9.
    assert_eq!(merged.scores[l1], Some(900));
    assert!(!merged.is_not_applicable(l1));

    let all_marked = interp.evaluate(&[quarter(Round::Q1, 0, true), quarter(Round::Q2, 0, true)]);
    let pairs: Vec<(Round, &UnitOutput)> = [Round::Q1, Round::Q2]
        .into_iter()
        .zip(&all_marked)
        .collect();
    let merged = abi::merge_outputs(m, 0, &pairs, None).unwrap();
    assert_eq!(merged.scores[l1], None);
    assert!(merged.is_not_applicable(l1));

    // Marked and scored in the same round (two reports): refused.
    let twice = interp.evaluate(&[quarter(Round::Q1, 0, true), quarter(Round::Q1, 1, false)]);
    let pairs: Vec<(Round, &UnitOutput)> = vec![(Round::Q1, &twice[0]), (Round::Q1, &twice[1])];
    assert!(matches!(
        abi::merge_outputs(m, 0, &pairs, None),
        Err(abi::MergeError::ScoredAndNotApplicable { .. })
    ));
}

#[test]
fn a_pack_of_abi_1_0_from_an_earlier_year_still_loads_replays_and_refuses_marks() {
    // The 2022 pack as compiled before ABI 1.1 (fixtures/v1/README.md).
    let wasm = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/v1/baofeng-2022-abi-1.0.wasm"),
    )
    .unwrap();
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let pack = Pack::load_as_found(&runtime, &wasm).expect("an ABI 1.0 pack loads");
    let m = pack.manifest();
    assert_eq!((m.abi_minor, m.abi_word()), (0, 1));
    assert!(m.indicators.iter().all(|i| !i.allow_not_applicable));
    // Its year's hand-worked fixtures of that time (01–17) still replay.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("baofeng-2022/fixtures");
    let mut checked = 0;
    for n in 1..=17 {
        let path = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| {
                p.file_name()
                    .is_some_and(|f| f.to_string_lossy().starts_with(&format!("{n:02}-")))
            })
            .expect("fixture");
        let fx = kaohe_rulepacks::fixture::Fixture::load(&path, m).expect("loads");
        kaohe_rulepacks::fixture::check_with(&fx, &pack)
            .unwrap_or_else(|d| panic!("{}: {d:?}", fx.name));
        checked += 1;
    }
    assert_eq!(checked, 17);
    // Marks cannot be encoded for it: refused before any call.
    let unit = UnitInput {
        category: 0,
        round: Round::Annual,
        methods: m.all_methods_mask(),
        values: vec![None; m.fields.len()],
        not_applicable: (0..m.indicators.len()).map(|i| i == 0).collect(),
    };
    assert!(matches!(
        pack.evaluate(&[unit]),
        Err(PackError::Encode {
            source: abi::AbiError::NotApplicableUnsupported { unit: 0 },
            ..
        })
    ));
}

#[test]
fn not_applicable_output_is_refused_where_the_abi_or_the_rubric_does_not_allow_it() {
    // ABI 1: state 2 in the indicator's pair.
    let r = marking().with_abi(ABI_V1);
    let m = &r.manifest;
    let n1 = idx(m, "N1");
    let l2 = idx(m, "L2");
    let ok = abi::encode_evaluate_output(m, &[only_n1_marked(m, n1)]);
    let decoded = abi::decode_evaluate_output(m, 1, &ok).unwrap();
    assert!(decoded[0].is_not_applicable(n1));
    // The same bytes naming L2 (never markable): refused.
    let mut bad = ok.clone();
    let at = |i: usize| 16 + 16 * i;
    bad[at(n1)] = 0;
    bad[at(l2)] = 2;
    assert!(abi::decode_evaluate_output(m, 1, &bad).is_err());
    // Under ABI 1.0 state 2 does not exist.
    let plain = compile(&mini_src()).with_abi(ABI_V1).manifest;
    let mut old = ok.clone();
    old[at(n1)] = 2;
    assert!(abi::decode_evaluate_output(&plain, 1, &old).is_err());

    // ABI 2.1: a bit of the not-applicable set (after the evaluated set).
    let r = marking();
    let m = &r.manifest;
    let ok = abi::encode_evaluate_output(m, &[only_n1_marked(m, n1)]);
    let decoded = abi::decode_evaluate_output(m, 1, &ok).unwrap();
    assert!(decoded[0].is_not_applicable(n1));
    let na = 16 + 8 * m.indicator_words();
    let mut bad = ok.clone();
    bad[na + n1 / 8] &= !(1 << (n1 % 8));
    bad[na + l2 / 8] |= 1 << (l2 % 8);
    assert!(
        abi::decode_evaluate_output(m, 1, &bad).is_err(),
        "L2 marked"
    );
    let mut both = ok.clone();
    both[16 + n1 / 8] |= 1 << (n1 % 8);
    assert!(
        abi::decode_evaluate_output(m, 1, &both).is_err(),
        "evaluated and not applicable"
    );
    // ABI 2.0 has no not-applicable set: these bytes are not its output.
    let plain = compile(&mini_src()).manifest;
    assert!(abi::decode_evaluate_output(&plain, 1, &ok).is_err());
}

fn only_n1_marked(m: &Manifest, n1: usize) -> UnitOutput {
    UnitOutput {
        status: UnitStatus::Ok,
        fuel_used: 0,
        indicators: vec![None; m.indicators.len()],
        clauses: vec![None; m.clause_count()],
        not_applicable: (0..m.indicators.len()).map(|i| i == n1).collect(),
    }
}

#[test]
fn a_score_formula_that_loses_points_gives_its_reason() {
    let r = marking();
    let m = &r.manifest;
    let n1 = idx(m, "N1");
    let unit = town_annual(m, &[]);
    let value = |f: usize| unit.values[f];
    // 8 of 10: clamp((0.8 − 0.6) × 200, 0, 40) = 40 — nothing lost.
    assert_eq!(m.loss_reason(n1, 0, &value, 4000), None);
    assert_eq!(
        m.loss_reason(n1, 0, &value, 3550).as_deref(),
        Some("一线 8 人、共 10 人，计划 是，均分 70.00：得 35.50 分（满分 40.00），失 4.50 分")
    );
    // An indicator with a formula and no template: the formula itself.
    let plain = compile(&mini_src()).manifest;
    assert_eq!(
        plain.loss_reason(n1, 0, &value, 1000).as_deref(),
        Some(
            "按评分公式“if staff_total == 0 then 40 else clamp((staff_front / staff_total - 0.6) * 200, 0, 40)”计得 10.00 分，失 30.00 分"
        )
    );
    // Deductions carry their clauses' reasons: no formula reason.
    assert_eq!(m.loss_reason(idx(m, "N2"), 0, &value, 0), None);

    // The template's placeholders are checked: a field of another method, a
    // name that is no field, a stray brace.
    for (template, name) in [
        ("{q_sessions}", "q_sessions"),
        ("{nothing}", "nothing"),
        ("失 {lost 分", "{lost 分"),
    ] {
        let src = edit(&marking_src(), REASON, &format!("reason = \"{template}\""));
        assert!(
            matches!(
                errors(&src)[..],
                [CompileError::UnknownPlaceholder { name: ref n }] if n == name
            ),
            "{template}: {:?}",
            errors(&src)
        );
    }
    // `reason` belongs to a score formula, not to deductions.
    let src = edit(
        &mini_src(),
        "name = \"法治理论测试\"\npoints = 30",
        "name = \"法治理论测试\"\npoints = 30\nreason = \"失 {lost} 分\"",
    );
    assert!(matches!(
        errors(&src)[..],
        [CompileError::KeyNotForKind { ref key, .. }] if key == "reason"
    ));
}

#[test]
fn the_bottom_n_warning_never_reaches_beyond_its_share_of_a_small_ranking() {
    let outcomes = compile(&mini_src()).manifest.outcomes;
    assert_eq!(outcomes.warn_bottom_share, None, "default share");
    let warned: Vec<usize> = (0..=8).map(|n| outcomes.warned_places(n)).collect();
    // half, rounded down, never more than warn_bottom = 3
    assert_eq!(warned, vec![0, 0, 1, 1, 2, 2, 3, 3, 3]);
    assert!(outcomes.share_limits_warnings(3) && !outcomes.share_limits_warnings(6));

    let src = edit(
        &mini_src(),
        "warn_bottom = 3\n",
        "warn_bottom = 3\nwarn_bottom_share = 1\n",
    );
    let all = compile(&src).manifest.outcomes;
    assert_eq!(
        all.warned_places(3),
        3,
        "a share of 1 is the scheme's letter"
    );
    let src = edit(
        &mini_src(),
        "warn_bottom = 3\n",
        "warn_bottom = 3\nwarn_bottom_share = 1.5\n",
    );
    assert!(matches!(
        errors(&src)[..],
        [CompileError::InvalidValue { ref key, .. }] if key == "warn_bottom_share"
    ));
}
