//! Items marked not applicable (不适用, issue #13) in the template and the
//! import: the reason columns, a required field only a marked indicator
//! reads, a whole method reported by a reason alone, and the refusals.

use super::*;
use crate::store::MarkRow;

/// The test rubric with L3 (satisfaction, a formula) and N1a (department
/// only, the one reader of the required `dept_cases`) markable.
fn marking_manifest() -> kaohe_rulepacks::manifest::Manifest {
    let src = crate::testutil::TEST_RUBRIC
        .replacen(
            "name = \"群众满意度\"\nkind = \"scored\"",
            "name = \"群众满意度\"\nkind = \"scored\"\nallow_not_applicable = true",
            1,
        )
        .replacen(
            "name = \"行政复议纠错\"\nkind = \"scored\"",
            "name = \"行政复议纠错\"\nkind = \"scored\"\nallow_not_applicable = true",
            1,
        );
    let m = kaohe_rulepacks::rubric::compile("t.toml", &src)
        .unwrap_or_else(|d| panic!("{d}"))
        .manifest;
    assert_eq!(m.abi_minor, 1);
    m
}

fn marking_store(dir: &std::path::Path) -> Store {
    let mut store = Store::create(&dir.join(crate::store::DB_FILE)).unwrap();
    crate::testutil::install_test_pack(&mut store, &marking_manifest(), b"marking module");
    store.replace_scope(&sample_scope(2022)).unwrap();
    store
}

/// The CSV template's two header rows and `data`.
fn marking_csv(data: &[&str]) -> Vec<u8> {
    let m = marking_manifest();
    let scope = sample_scope(2022);
    let layout = Layout::new(&m, &scope).unwrap();
    let t = template::csv(&layout, &Prefill::new(), CsvEncoding::Utf8).unwrap();
    let t = String::from_utf8(t).unwrap();
    let mut lines: Vec<&str> = t.lines().take(2).collect();
    lines.extend_from_slice(data);
    (lines.join("\r\n") + "\r\n").into_bytes()
}

// CSV columns: unit_id, unit_name, round, sup_plan, sup_problems,
// sup_report, dept_cases, sat_rate, q_study, q_overdue, na.L3, na.N1a.

#[test]
fn the_template_has_a_reason_column_per_markable_indicator_open_where_it_applies() {
    let m = marking_manifest();
    let scope = sample_scope(2022);
    let layout = Layout::new(&m, &scope).unwrap();
    let t = String::from_utf8(template::csv(&layout, &Prefill::new(), CsvEncoding::Utf8).unwrap())
        .unwrap();
    let lines: Vec<&str> = t.lines().collect();
    assert!(
        lines[0].ends_with("不适用理由：L3 群众满意度,不适用理由：N1a 行政复议纠错"),
        "{}",
        lines[0]
    );
    assert!(lines[1].ends_with("na.L3,na.N1a"), "{}", lines[1]);
    // The workbook: the reason columns after the fields, grey where the
    // indicator does not apply (N1a for townships).
    let xlsx = template::xlsx(&layout, &Prefill::new()).unwrap();
    let book = kaohe_tables::sheet::read(&xlsx, Format::Xlsx, &Limits::default()).unwrap();
    let annual = book
        .grids
        .iter()
        .find(|g| g.sheet.as_deref() == Some("年度"))
        .unwrap();
    let headers: Vec<String> = annual.rows[0]
        .iter()
        .filter_map(|c| c.text().map(str::to_owned))
        .collect();
    assert!(
        headers.ends_with(&[
            "不适用理由：L3 群众满意度".to_owned(),
            "不适用理由：N1a 行政复议纠错".to_owned()
        ]),
        "{headers:?}"
    );
    // The notes sheet explains them.
    let notes = book
        .grids
        .iter()
        .find(|g| g.sheet.as_deref() == Some(crate::layout::NOTES_SHEET))
        .unwrap();
    assert!(
        notes.rows.iter().flatten().any(|c| c
            .text()
            .is_some_and(|t| t.contains("不适用理由") && t.contains("换算"))),
        "the notes explain the reason columns"
    );
}

#[test]
fn a_reason_marks_the_item_and_frees_the_fields_only_it_reads() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = marking_store(dir.path());
    let bytes = marking_csv(&[
        // justice: N1a not applicable, so dept_cases (required, read only
        // by N1a) may stay empty; satisfaction reported by its reason alone.
        "justice,县司法局,年度,是,0,按时公开,,,,,本局当年未开展满意度调查（机构改革）,本局不是行政复议被申请人",
        "xiaodian,肖旗乡,年度,是,0,按时公开,,90,,,,",
    ]);
    let report = import(&mut store, "m.csv", &bytes, Format::Csv).unwrap();
    // justice: supervision and satisfaction; xiaodian: supervision and satisfaction.
    assert_eq!(report.blocks, 4);
    assert_eq!(
        store.marks(2022).unwrap(),
        vec![
            MarkRow {
                unit_id: "justice".into(),
                round: Round::Annual,
                indicator_id: "L3".into(),
                reason: "本局当年未开展满意度调查（机构改革）".into(),
            },
            MarkRow {
                unit_id: "justice".into(),
                round: Round::Annual,
                indicator_id: "N1a".into(),
                reason: "本局不是行政复议被申请人".into(),
            },
        ]
    );
    assert!(
        !store
            .evidence_of("justice", 2022, Round::Annual)
            .unwrap()
            .contains_key("dept_cases")
    );
    // A corrected file: the reason cleared, the field now given.
    let bytes = marking_csv(&["justice,县司法局,年度,是,0,按时公开,2,,,,理由不变的满意度,"]);
    import(&mut store, "m2.csv", &bytes, Format::Csv).unwrap();
    let marks = store.marks_of("justice", 2022, Round::Annual).unwrap();
    assert_eq!(marks.len(), 1, "{marks:?}");
    assert_eq!(marks["L3"], "理由不变的满意度");
    let h = store.mark_history(2022, Some("justice")).unwrap();
    assert!(
        h.iter()
            .any(|r| r.indicator_id == "N1a" && r.new_reason.is_none()),
        "{h:?}"
    );
}

#[test]
fn reasons_are_refused_where_they_cannot_apply_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = marking_store(dir.path());
    let long = "长".repeat(501);
    let rows = [
        // Without the reason the required field is missing.
        "justice,县司法局,年度,是,0,按时公开,,95,,,,".to_owned(),
        // N1a does not apply to a township.
        "xiaodian,肖旗乡,年度,是,0,按时公开,,90,,,,乡镇无此职责".to_owned(),
        // A reason in a quarter's row.
        "zhaozhuang,赵庄镇,第一季度,,,,,,2,,季度不适用,".to_owned(),
        // Too long.
        format!("zhaozhuang,赵庄镇,年度,是,0,按时公开,,90,,,{long},"),
    ];
    let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
    let ps = problems(import(
        &mut store,
        "bad.csv",
        &marking_csv(&rows),
        Format::Csv,
    ));
    let rules: Vec<&Rule> = ps.iter().map(|p| &p.rule).collect();
    assert!(
        rules.iter().any(
            |r| matches!(r, Rule::MissingRequired { field, .. } if field == "行政复议纠错件数")
        ),
        "{rules:?}"
    );
    assert!(
        rules
            .iter()
            .any(|r| matches!(r, Rule::NotApplicable { category } if category == "乡镇")),
        "{rules:?}"
    );
    assert!(
        rules
            .iter()
            .any(|r| matches!(r, Rule::WrongRoundValue { .. })),
        "{rules:?}"
    );
    assert!(
        rules.iter().any(|r| matches!(
            r,
            Rule::MarkTooLong {
                chars: 501,
                max: 500
            }
        )),
        "{rules:?}"
    );
    assert!(ps.iter().all(|p| p.to_string().contains('（')), "{ps:?}");
    assert!(store.marks(2022).unwrap().is_empty());
    assert!(store.evidence(2022).unwrap().is_empty());
}
