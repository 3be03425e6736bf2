//! Refused files and `set` values as tables: each case is one row (or one
//! column, or one value) with every problem it must raise, run by one
//! checker per shape. A file is refused whole, so each table is one file
//! and every problem of it is reported at once.

use kaohe_rulepacks::manifest::Round;
use kaohe_tables::sheet::Format;
use kaohe_tables::text::column_letters;

use super::{csv_text, good_annual, import, problems, rows, sheet, snapshot};
use crate::import::{ImportError, Problem, Rule, SetError, set_value};
use crate::store::{Scope, Store};
use crate::testutil::{T, actor, store_with_pack, test_manifest, unit, xlsx};
use crate::value::ValueError;
use T::{B, E, F, N, S};

/// A problem a row must raise: the column letter (`""`: the whole row),
/// the unit it names (`""`: none) and the rule it breaks.
#[derive(Clone, Copy)]
struct Want {
    col: &'static str,
    unit: &'static str,
    rule: fn(&Rule) -> bool,
}

fn w(col: &'static str, unit: &'static str, rule: fn(&Rule) -> bool) -> Want {
    Want { col, unit, rule }
}

/// One data row of a refused file: what is wrong with it, its cells (a
/// CSV line for a CSV), and every problem it raises (none: it is fine).
type Row<C> = (&'static str, C, Vec<Want>);

fn matches_want(p: &Problem, want: &Want) -> bool {
    let named = |s: &'static str| (!s.is_empty()).then_some(s);
    p.at.column.map(column_letters).as_deref() == named(want.col)
        && p.at.unit.as_deref() == named(want.unit)
        && (want.rule)(&p.rule)
}

/// Checks the problems of one sheet (`None`: a CSV) whose table rows start
/// at `first_row` (1-based): each row raises exactly the problems its case
/// names, no more. Returns the problems at no row of the table (other
/// sheets, header rows) for the test to check.
fn check_rows<C>(
    ps: &[Problem],
    sheet: Option<&str>,
    first_row: usize,
    table: &[Row<C>],
) -> Vec<Problem> {
    let mut failures = Vec::new();
    for (i, (case, _, want)) in table.iter().enumerate() {
        let row = first_row + i;
        let got: Vec<&Problem> = ps
            .iter()
            .filter(|p| p.at.sheet.as_deref() == sheet && p.at.row == Some(row))
            .collect();
        let missing = want
            .iter()
            .filter(|w| !got.iter().any(|p| matches_want(p, w)))
            .count();
        if missing > 0 || got.len() != want.len() {
            failures.push(format!(
                "{sheet:?} row {row} ({case}): {} expected, {missing} of them missing; got:\n    {}",
                want.len(),
                got.iter()
                    .map(|p| format!("{p:?}"))
                    .collect::<Vec<_>>()
                    .join("\n    ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let rows = first_row..first_row + table.len();
    ps.iter()
        .filter(|p| p.at.sheet.as_deref() != sheet || !p.at.row.is_some_and(|r| rows.contains(&r)))
        .cloned()
        .collect()
}

fn cells<C: Clone>(table: &[Row<C>]) -> Vec<C> {
    table.iter().map(|(_, c, _)| c.clone()).collect()
}

/// 年度 of one workbook holding every kind of bad row (rows from 3).
#[rustfmt::skip]
fn every_kind_annual() -> Vec<Row<Vec<T>>> {
    vec![
        ("fine", vec![S("justice"), S("县司法局"), S("是"), N(1.0), S("逾期公开"), N(3.0), N(95.0)], vec![]),
        ("text where a number belongs; a value in a cell that does not apply",
         vec![S("xiaodian"), S("肖旗乡"), S("是"), S("三"), S("按时公开"), N(3.0), N(90.0)],
         vec![w("D", "xiaodian", |r| matches!(r, Rule::Value(ValueError::NotANumber { .. }))),
              w("F", "xiaodian", |r| matches!(r, Rule::NotApplicable { .. }))]),
        ("required value missing; out of range; name does not match",
         vec![S("zhaozhuang"), S("赵庄乡"), E, N(1.0), S("按时公开"), E, N(101.0)],
         vec![w("C", "zhaozhuang", |r| matches!(r, Rule::MissingRequired { .. })),
              w("G", "zhaozhuang", |r| matches!(r, Rule::Value(ValueError::OutOfRange { .. }))),
              w("B", "zhaozhuang", |r| matches!(r, Rule::NameMismatch { .. }))]),
        ("unknown unit", vec![S("nobody"), E, S("是")], vec![w("A", "", |r| matches!(r, Rule::UnknownUnit { id } if id == "nobody"))]),
        ("unit outside this year's scope", vec![S("old"), S("旧单位"), S("是")], vec![w("A", "", |r| matches!(r, Rule::OutOfScope { id, year: 2022 } if id == "old"))]),
        ("a number where the unit id (text) belongs", vec![N(410421.0), S("某单位"), S("是")], vec![w("A", "", |r| matches!(r, Rule::UnitIdNotText { found } if found.contains("410421")))]),
        ("duplicate of row 3",
         vec![S("justice"), S("县司法局"), S("否"), N(0.0), S("按时公开"), N(1.0), N(80.0)],
         vec![w("", "justice", |r| matches!(r, Rule::DuplicateRow { first } if first.contains("第3行")))]),
        ("missing unit id", vec![E, S("肖旗乡"), S("是")], vec![w("A", "", |r| matches!(r, Rule::MissingUnitId))]),
        ("an id no unit has", vec![S("zhaozhuang2"), E], vec![w("A", "", |r| matches!(r, Rule::UnknownUnit { .. }))]),
    ]
}

/// 第一季度 of the same workbook (rows from 3).
#[rustfmt::skip]
fn every_kind_q1() -> Vec<Row<Vec<T>>> {
    vec![
        ("formula where a value belongs", vec![S("xiaodian"), S("肖旗乡"), F("=1+1"), E], vec![w("C", "xiaodian", |r| matches!(r, Rule::Formula { formula } if formula.contains("1+1")))]),
        ("full-width digits (accepted); more than two decimals", vec![S("zhaozhuang"), S("赵庄镇"), S("１２"), N(2.555)], vec![w("D", "zhaozhuang", |r| matches!(r, Rule::Value(ValueError::TooManyDecimals { .. })))]),
        ("a logical where a number belongs", vec![S("justice"), S("县司法局"), B(true), E], vec![w("C", "justice", |r| matches!(r, Rule::Value(ValueError::WrongType { .. })))]),
    ]
}

#[test]
fn every_kind_of_bad_row_is_reported_at_once_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_with_pack(dir.path());
    // "old" was in scope in 2021 only.
    store
        .replace_scope(&Scope {
            year: 2021,
            units: vec![unit("old", "旧单位", "township")],
            methods: vec!["daily".into()],
        })
        .unwrap();
    import(&mut store, "first.xlsx", &good_annual(), Format::Xlsx).unwrap();
    let before = snapshot(&store);
    let (annual, q1) = (every_kind_annual(), every_kind_q1());
    let book = xlsx(&[
        sheet("年度", rows(Round::Annual, cells(&annual))),
        sheet("第一季度", rows(Round::Q1, cells(&q1))),
        sheet("Sheet3", vec![vec![S("随手记的东西")]]),
    ]);
    let ps = problems(import(&mut store, "bad.xlsx", &book, Format::Xlsx));
    let rest = check_rows(&ps, Some("年度"), 3, &annual);
    let rest = check_rows(&rest, Some("第一季度"), 3, &q1);
    assert!(
        matches!(&rest[..], [p] if p.at.sheet.as_deref() == Some("Sheet3")
            && matches!(p.rule, Rule::UnknownSheet { .. })),
        "{rest:?}"
    );
    // Every problem says where, and the message lists them all.
    assert!(
        ps.iter()
            .all(|p| p.at.row.is_some() || p.at.sheet.is_some())
    );
    let msg = ImportError::Invalid {
        file: "bad.xlsx".into(),
        problems: ps.clone(),
    }
    .to_string();
    assert!(
        msg.contains("未导入任何数据") && msg.contains("工作表「年度」第5行G列"),
        "{msg}"
    );
    assert_eq!(
        snapshot(&store),
        before,
        "a rejected file changed the store"
    );
}

#[rustfmt::skip]
fn other_values() -> Vec<Row<Vec<T>>> {
    vec![
        ("a number for a yes/no; a fraction for a count; not a choice; three decimals",
         vec![S("justice"), S("县司法局"), N(1.0), N(1.5), S("较好"), N(3.0), N(95.123)],
         vec![w("C", "justice", |r| matches!(r, Rule::Value(ValueError::WrongType { .. }))),
              w("D", "justice", |r| matches!(r, Rule::Value(ValueError::NotWhole { .. }))),
              w("E", "justice", |r| matches!(r, Rule::Value(ValueError::NotAChoice { .. }))),
              w("G", "justice", |r| matches!(r, Rule::Value(ValueError::TooManyDecimals { .. })))]),
        ("a negative count; a word for a number",
         vec![S("xiaodian"), S("肖旗乡"), S("是"), N(-1.0), S("按时公开"), E, S("九十")],
         vec![w("D", "xiaodian", |r| matches!(r, Rule::Value(ValueError::OutOfRange { .. }))),
              w("G", "xiaodian", |r| matches!(r, Rule::Value(ValueError::NotANumber { .. })))]),
    ]
}

#[test]
fn other_value_problems() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_with_pack(dir.path());
    let table = other_values();
    let book = xlsx(&[sheet("年度", rows(Round::Annual, cells(&table)))]);
    let ps = problems(import(&mut store, "v.xlsx", &book, Format::Xlsx));
    let rest = check_rows(&ps, Some("年度"), 3, &table);
    assert!(rest.is_empty(), "{rest:?}");
    assert_eq!(ps.len(), 6, "{ps:?}");
    assert!(store.evidence(2022).unwrap().is_empty());
}

/// One column of a refused 年度 header: its Chinese header (`None`: the
/// field's own), the id in the id row, and the problem it raises at the
/// header row (`None`: the column is fine).
type Column = (
    Option<&'static str>,
    &'static str,
    Option<fn(&Rule) -> bool>,
);

/// A problem of the header test: row, column (`None`: the whole row), rule.
type AtHeader = (usize, Option<usize>, fn(&Rule) -> bool);

#[rustfmt::skip]
fn header_columns() -> Vec<Column> {
    vec![
        (Some("单位编号"), "unit_id", None),
        (Some("单位名称"), "unit_name", None),
        (None, "sup_plan", None),
        (Some("督察问题"), "sup_problems", Some(|r| matches!(r, Rule::RenamedHeader { found, .. } if found == "督察问题"))),
        (None, "fr_files", Some(|r| matches!(r, Rule::FieldNotInScope { field, method } if field == "fr_files" && method == "集中评查"))),
        (None, "q_study", Some(|r| matches!(r, Rule::FieldWrongSheet { quarterly: true, .. }))),
        (Some("备注"), "foo", Some(|r| matches!(r, Rule::UnknownColumn { text } if text.contains("foo")))),
        (None, "sup_plan", Some(|r| matches!(r, Rule::DuplicateColumn { first, .. } if first == "C"))),
        (None, "sat_rate", None),
    ]
}

#[test]
fn header_problems_are_reported_with_their_column() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_with_pack(dir.path());
    let m = test_manifest();
    let columns = header_columns();
    let zh = columns
        .iter()
        .map(|(zh, id, _)| match zh {
            Some(text) => S(text),
            None => T::Own(crate::layout::header(&m.fields[m.field_index(id).unwrap()])),
        })
        .collect();
    let ids = columns.iter().map(|(_, id, _)| S(id)).collect();
    // sup_report and dept_cases are missing; J has data but no header; C4:D4
    // is merged.
    let mut s = sheet(
        "年度",
        vec![
            zh,
            ids,
            vec![
                S("justice"),
                S("县司法局"),
                S("是"),
                N(1.0),
                E,
                E,
                E,
                E,
                N(90.0),
                S("多出来的"),
            ],
            vec![
                S("xiaodian"),
                S("肖旗乡"),
                S("是"),
                N(1.0),
                E,
                E,
                E,
                E,
                N(90.0),
            ],
        ],
    );
    s.merged.push((3, 2, 3, 3));
    let ps = problems(import(&mut store, "h.xlsx", &xlsx(&[s]), Format::Xlsx));
    let mut want: Vec<AtHeader> = columns
        .iter()
        .enumerate()
        .filter_map(|(c, (_, _, rule))| rule.map(|rule| (2, Some(c), rule)))
        .collect();
    let elsewhere: [AtHeader; 4] = [
        (
            2,
            None,
            |r| matches!(r, Rule::MissingColumn { id, .. } if id == "sup_report"),
        ),
        (
            2,
            None,
            |r| matches!(r, Rule::MissingColumn { id, .. } if id == "dept_cases"),
        ),
        (3, Some(9), |r| matches!(r, Rule::UnnamedColumn)),
        (
            4,
            Some(2),
            |r| matches!(r, Rule::Merged { range } if range == "C4:D4"),
        ),
    ];
    want.extend(elsewhere);
    for (row, col, rule) in &want {
        assert!(
            ps.iter().any(|p| p.at.sheet.as_deref() == Some("年度")
                && p.at.row == Some(*row)
                && p.at.column == *col
                && p.at.unit.is_none()
                && rule(&p.rule)),
            "no problem at row {row} col {:?}; got:\n{ps:#?}",
            col.map(column_letters)
        );
    }
    assert_eq!(ps.len(), want.len(), "{ps:#?}");
    assert!(store.evidence(2022).unwrap().is_empty());
}

/// CSV columns: unit_id, unit_name, round, sup_plan, sup_problems,
/// sup_report, dept_cases, sat_rate, q_study, q_overdue (rows from 3).
#[rustfmt::skip]
fn csv_rows() -> Vec<Row<&'static str>> {
    vec![
        ("ragged (8 of 10)", "justice,县司法局,年度,是,0,按时公开,3,95.5", vec![w("", "", |r| matches!(r, Rule::Ragged { found: 8, expected: 10 }))]),
        ("bad round", "xiaodian,肖旗乡,第五季度,,,,,,1,", vec![w("C", "xiaodian", |r| matches!(r, Rule::BadRound { .. }))]),
        ("quarterly value on an annual row", "xiaodian,肖旗乡,年度,是,0,按时公开,,90,2,", vec![w("I", "xiaodian", |r| matches!(r, Rule::WrongRoundValue { quarterly: true }))]),
        ("annual value on a quarterly row", "zhaozhuang,赵庄镇,第一季度,是,,,,,1,", vec![w("D", "zhaozhuang", |r| matches!(r, Rule::WrongRoundValue { quarterly: false }))]),
        ("duplicate of row 6 (Q1 = 第一季度)", "zhaozhuang,赵庄镇,Q1,,,,,,1,", vec![w("", "zhaozhuang", |r| matches!(r, Rule::DuplicateRow { .. }))]),
    ]
}

#[test]
fn csv_row_problems() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_with_pack(dir.path());
    let table = csv_rows();
    let text = csv_text(&cells(&table));
    let ps = problems(import(&mut store, "r.csv", text.as_bytes(), Format::Csv));
    let rest = check_rows(&ps, None, 3, &table);
    assert!(rest.is_empty(), "{rest:?}");
    // CSV locations say 第N列 rather than a letter.
    let shown = ps
        .iter()
        .find(|p| matches!(p.rule, Rule::BadRound { .. }))
        .unwrap()
        .to_string();
    assert!(
        shown.starts_with("第4行第3列「轮次」 单位 xiaodian："),
        "{shown}"
    );
    assert!(store.evidence(2022).unwrap().is_empty());
}

/// A refused `set`: what is wrong, unit, field, value, round, and the rule
/// it breaks.
type SetCase = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Option<Round>,
    fn(&Rule) -> bool,
);

#[rustfmt::skip]
fn refused_sets() -> Vec<SetCase> {
    vec![
        ("unknown unit", "nobody", "sat_rate", "1", None, |r| matches!(r, Rule::UnknownUnit { .. })),
        ("unknown field", "justice", "nope", "1", None, |r| matches!(r, Rule::UnknownField { .. })),
        ("method outside the scope", "justice", "fr_files", "1", None, |r| matches!(r, Rule::FieldNotInScope { .. })),
        ("quarterly field without a quarter", "justice", "q_study", "1", None, |r| matches!(r, Rule::RoundRequired)),
        ("annual field with a quarter", "justice", "sat_rate", "1", Some(Round::Q2), |r| matches!(r, Rule::RoundNotAllowed { .. })),
        ("field the unit's category does not have", "xiaodian", "dept_cases", "1", None, |r| matches!(r, Rule::NotApplicable { .. })),
        ("out of range", "justice", "sat_rate", "100.5", None, |r| matches!(r, Rule::Value(ValueError::OutOfRange { .. }))),
    ]
}

#[test]
fn set_checks_like_the_import() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_with_pack(dir.path());
    let a = actor("王");
    let set = |store: &mut Store, unit: &str, field: &str, v: &str, round| {
        set_value(store, 2022, unit, field, v, round, &a)
    };
    for (case, unit, field, value, round, rule) in refused_sets() {
        match set(&mut store, unit, field, value, round) {
            Err(SetError::Invalid(p)) => assert!(rule(&p.rule), "{case}: {:?}", p.rule),
            other => panic!("{case}: expected Invalid, got {other:?}"),
        }
    }
    let s = set(&mut store, "justice", "q_study", "３", Some(Round::Q2)).unwrap();
    assert_eq!(s.added, 1);
    let s = set(&mut store, "justice", "q_study", "4", Some(Round::Q2)).unwrap();
    assert_eq!(s.changed, 1);
    let h = store.history(2022, Some("justice")).unwrap();
    assert_eq!(h.len(), 2);
    assert_eq!(
        (h[1].old_value, h[1].new_value, h[1].kind.as_str()),
        (Some(300), Some(400), "set")
    );
}
