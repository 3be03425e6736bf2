//! The import and the template together: what is stored, how files are
//! read (encodings, hidden sheets, Chinese headers), and the round trip.
//! Refused files are tables in `refusals`.

use std::collections::BTreeSet;

use kaohe_rulepacks::manifest::Round;
use kaohe_tables::sheet::Cell;

use super::*;
use crate::store::{EvidenceRow, HistoryRow, Scope};
use crate::template::{self, CsvEncoding, Prefill};
use crate::testutil::{
    T, actor, header_rows, sample_scope, store_with_pack, test_manifest, unit, xlsx, xlsx_hiding,
};
use T::{D, E, N, S};

mod not_applicable;
mod refusals;

fn sheet(name: &str, rows: Vec<Vec<T>>) -> crate::testutil::Sheet {
    crate::testutil::Sheet {
        name: name.to_string(),
        rows,
        merged: Vec::new(),
    }
}

fn rows(round: Round, data: Vec<Vec<T>>) -> Vec<Vec<T>> {
    let m = test_manifest();
    let scope = sample_scope(2022);
    let layout = Layout::new(&m, &scope).unwrap();
    let mut out = header_rows(&layout, round);
    out.extend(data);
    out
}

fn import(
    store: &mut Store,
    name: &str,
    bytes: &[u8],
    format: Format,
) -> Result<ImportReport, ImportError> {
    import_bytes(
        store,
        name,
        bytes,
        format,
        2022,
        &actor("王科员"),
        &Limits::default(),
        &mut |_| {},
    )
}

fn problems(r: Result<ImportReport, ImportError>) -> Vec<Problem> {
    match r {
        Err(ImportError::Invalid { problems, .. }) => problems,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

fn snapshot(store: &Store) -> (Vec<EvidenceRow>, Vec<HistoryRow>) {
    (
        store.evidence(2022).unwrap(),
        store.history(2022, None).unwrap(),
    )
}

fn good_annual() -> Vec<u8> {
    xlsx(&[sheet(
        "年度",
        rows(
            Round::Annual,
            vec![
                vec![
                    S("justice"),
                    S("县司法局"),
                    S("是"),
                    N(0.0),
                    S("按时公开"),
                    N(3.0),
                    N(95.5),
                ],
                vec![
                    S("xiaodian"),
                    S("肖旗乡"),
                    S("否"),
                    N(2.0),
                    S("未公开"),
                    E,
                    N(90.0),
                ],
                // zhaozhuang reports nothing: an empty block.
                vec![S("zhaozhuang"), S("赵庄镇")],
            ],
        ),
    )])
}

#[test]
fn a_valid_workbook_is_stored_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_with_pack(dir.path());
    let report = import(&mut store, "2022.xlsx", &good_annual(), Format::Xlsx).unwrap();
    assert_eq!(report.rows, 2);
    assert_eq!(
        report.blocks, 4,
        "supervision and satisfaction for two units"
    );
    assert_eq!(report.summary.added, 9, "{report:?}");
    let got: Vec<_> = store
        .evidence(2022)
        .unwrap()
        .into_iter()
        .map(|e| (e.unit_id, e.field_id, e.value))
        .collect();
    let want: Vec<(String, String, i64)> = [
        ("justice", "dept_cases", 300),
        ("justice", "sat_rate", 9550),
        ("justice", "sup_plan", 100),
        ("justice", "sup_problems", 0),
        ("justice", "sup_report", 0),
        ("xiaodian", "sat_rate", 9000),
        ("xiaodian", "sup_plan", 0),
        ("xiaodian", "sup_problems", 200),
        ("xiaodian", "sup_report", 200),
    ]
    .into_iter()
    .map(|(u, f, v)| (u.to_string(), f.to_string(), v))
    .collect();
    // xiaodian's dept_cases does not apply to a township: never written.
    assert_eq!(got, want);
    assert!(
        store
            .evidence(2022)
            .unwrap()
            .iter()
            .all(|e| e.operator == "王科员")
    );
}

/// Issue #14: a refused cell is echoed short and as an official reads
/// it — 1E+308, not 309 digits; a date, not its serial number; a 1 MB
/// text cut to its first 100 characters.
#[test]
fn refused_cells_are_echoed_short_and_as_officials_read_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_with_pack(dir.path());
    let book = xlsx(&[sheet(
        "年度",
        rows(
            Round::Annual,
            vec![vec![
                S("justice"),
                S("县司法局"),
                S("是"),
                N(1e308),
                S("按时公开"),
                N(3.0),
                D(2024, 1, 8),
            ]],
        ),
    )]);
    let err = import(&mut store, "v.xlsx", &book, Format::Xlsx).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("「1E+308」数值过大"), "{msg}");
    assert!(!msg.contains("0000000000"), "{msg}");
    assert!(msg.contains("不能填日期 2024-01-08"), "{msg}");

    let huge = "九".repeat(1_000_000);
    let text = csv_text(&[&format!(
        "justice,县司法局,年度,是,{huge},按时公开,3,95.5,,"
    )]);
    let err = import(&mut store, "v.csv", text.as_bytes(), Format::Csv).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&"九".repeat(100)), "{}", &msg[..300]);
    assert!(msg.contains("共 1000000 个字符"), "{}", &msg[..300]);
    assert!(msg.len() < 2_000, "{} bytes", msg.len());
    assert!(store.evidence(2022).unwrap().is_empty());
}

#[test]
fn an_old_xls_renamed_xlsx_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_with_pack(dir.path());
    let mut xls = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    xls.resize(4096, 0);
    let err = import(&mut store, "2022.xlsx", &xls, Format::Xlsx).unwrap_err();
    assert!(
        matches!(
            err,
            ImportError::Read {
                source: ReadError::OldXls,
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("2022.xlsx") && msg.contains("旧版"), "{msg}");
}

/// The one rule for sheets: a hidden sheet is never read (here a hidden
/// 第一季度 with values that would be refused), and the report names it.
#[test]
fn a_hidden_sheet_is_never_read_and_is_named_in_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_with_pack(dir.path());
    let annual = sheet(
        "年度",
        rows(
            Round::Annual,
            vec![vec![
                S("justice"),
                S("县司法局"),
                S("是"),
                N(0.0),
                S("按时公开"),
                N(3.0),
                N(95.5),
            ]],
        ),
    );
    let hidden = sheet(
        "第一季度",
        rows(
            Round::Q1,
            vec![vec![S("justice"), S("县司法局"), S("很多"), S("很多")]],
        ),
    );
    let book = xlsx_hiding(&[hidden, annual], &["第一季度"]);
    let report = import(&mut store, "h.xlsx", &book, Format::Xlsx).unwrap();
    assert_eq!(report.hidden_sheets, ["第一季度"]);
    let rounds: BTreeSet<Round> = store
        .evidence(2022)
        .unwrap()
        .into_iter()
        .map(|e| e.round)
        .collect();
    assert_eq!(rounds, BTreeSet::from([Round::Annual]));
}

#[test]
fn a_sheet_without_the_id_row_is_read_by_its_chinese_headers() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_with_pack(dir.path());
    let mut r = rows(
        Round::Q2,
        vec![
            vec![S("xiaodian"), S("肖旗乡"), N(3.0), E],
            vec![S("justice"), E, S("２"), S("1")],
        ],
    );
    r.remove(1);
    let report = import(
        &mut store,
        "q2.xlsx",
        &xlsx(&[sheet("第二季度", r)]),
        Format::Xlsx,
    )
    .unwrap();
    assert_eq!(report.normalised, 1);
    let got: Vec<_> = store
        .evidence(2022)
        .unwrap()
        .into_iter()
        .map(|e| (e.unit_id, e.round, e.field_id, e.value))
        .collect();
    assert_eq!(
        got,
        vec![
            ("justice".into(), Round::Q2, "q_overdue".into(), 100),
            ("justice".into(), Round::Q2, "q_study".into(), 200),
            ("xiaodian".into(), Round::Q2, "q_study".into(), 300),
        ]
    );
    // Without either header row nothing can be read.
    let ps = problems(import(
        &mut store,
        "none.xlsx",
        &xlsx(&[sheet("第二季度", vec![vec![S("xiaodian"), N(3.0)]])]),
        Format::Xlsx,
    ));
    assert!(
        matches!(
            ps[..],
            [Problem {
                rule: Rule::NoHeader,
                ..
            }]
        ),
        "{ps:?}"
    );
}

fn csv_text(data: &[&str]) -> String {
    let m = test_manifest();
    let scope = sample_scope(2022);
    let layout = Layout::new(&m, &scope).unwrap();
    let t = template::csv(&layout, &Prefill::new(), CsvEncoding::Utf8).unwrap();
    let t = String::from_utf8(t).unwrap();
    let mut lines: Vec<&str> = t.lines().take(2).collect();
    lines.extend_from_slice(data);
    lines.join("\r\n") + "\r\n"
}

// CSV columns: unit_id, unit_name, round, sup_plan, sup_problems,
// sup_report, dept_cases, sat_rate, q_study, q_overdue.
const CSV_ROWS: &[&str] = &[
    "justice,县司法局,年度,是,0,按时公开,3,95.5,,",
    "justice,县司法局,第一季度,,,,,,4,",
    "xiaodian,肖旗乡,年度,否,１,逾期公开,,88,,",
    "xiaodian,肖旗乡,Q1,,,,,,1,2",
];

#[test]
fn csv_is_read_alike_from_utf8_with_and_without_bom_and_gb18030() {
    let text = csv_text(CSV_ROWS);
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(text.as_bytes());
    let gb = encoding_rs::GB18030.encode(&text).0.into_owned();
    assert!(std::str::from_utf8(&gb).is_err());
    let mut results = Vec::new();
    for (bytes, enc) in [
        (bom, TextEncoding::Utf8Bom),
        (text.clone().into_bytes(), TextEncoding::Utf8),
        (gb, TextEncoding::Gb18030),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut store = store_with_pack(dir.path());
        let report = import(&mut store, "e.csv", &bytes, Format::Csv).unwrap();
        assert_eq!(report.encoding, Some(enc));
        assert_eq!(report.normalised, 1);
        results.push(
            store
                .evidence(2022)
                .unwrap()
                .into_iter()
                .map(|e| (e.unit_id, e.round, e.field_id, e.value))
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(results[0].len(), 12, "{:?}", results[0]);
    assert_eq!(results[0], results[1]);
    assert_eq!(results[0], results[2]);
    assert!(results[0].contains(&("xiaodian".into(), Round::Annual, "sup_problems".into(), 100)));
    assert!(results[0].contains(&("xiaodian".into(), Round::Q1, "q_overdue".into(), 200)));
}

#[test]
fn reimporting_a_corrected_file_replaces_values_and_records_who_changed_what() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_with_pack(dir.path());
    import(&mut store, "v1.xlsx", &good_annual(), Format::Xlsx).unwrap();
    let corrected = xlsx(&[sheet(
        "年度",
        rows(
            Round::Annual,
            vec![
                // sup_problems cleared (optional: removed), sat_rate corrected.
                vec![
                    S("xiaodian"),
                    S("肖旗乡"),
                    S("否"),
                    E,
                    S("未公开"),
                    E,
                    N(92.5),
                ],
            ],
        ),
    )]);
    let report = import_bytes(
        &mut store,
        "v2.xlsx",
        &corrected,
        Format::Xlsx,
        2022,
        &actor("李科长"),
        &Limits::default(),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(
        (
            report.summary.changed,
            report.summary.removed,
            report.summary.unchanged
        ),
        (1, 1, 2)
    );
    let h: Vec<_> = store
        .history(2022, Some("xiaodian"))
        .unwrap()
        .into_iter()
        .filter(|h| h.operator == "李科长")
        .map(|h| (h.field_id, h.old_value, h.new_value, h.file_name))
        .collect();
    assert_eq!(
        h,
        vec![
            (
                "sup_problems".into(),
                Some(200),
                None,
                Some("v2.xlsx".into())
            ),
            (
                "sat_rate".into(),
                Some(9000),
                Some(9250),
                Some("v2.xlsx".into())
            ),
        ]
    );
    // justice was not in the corrected file: untouched.
    assert_eq!(
        store
            .evidence_of("justice", 2022, Round::Annual)
            .unwrap()
            .len(),
        5
    );
}

#[test]
fn a_zip_bomb_is_refused_and_nothing_is_written() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_with_pack(dir.path());
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut w = zip::ZipWriter::new(&mut out);
        let o = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        w.start_file("xl/worksheets/sheet1.xml", o).unwrap();
        for _ in 0..200 {
            w.write_all(&[b' '; 1024 * 1024]).unwrap();
        }
        w.finish().unwrap();
    }
    let bomb = out.into_inner();
    let err = import(&mut store, "bomb.xlsx", &bomb, Format::Xlsx).unwrap_err();
    assert!(
        matches!(
            err,
            ImportError::Read {
                source: ReadError::ZipBomb { .. },
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("bomb.xlsx"), "{err}");
    assert!(store.history(2022, None).unwrap().is_empty());
}

#[test]
fn a_template_of_another_year_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_with_pack(dir.path());
    let mut m2023 = test_manifest();
    m2023.pack.year = 2023;
    crate::testutil::install_test_pack(&mut store, &m2023, b"2023 module");
    store.replace_scope(&sample_scope(2023)).unwrap();
    let m = test_manifest();
    let scope = sample_scope(2022);
    let layout = Layout::new(&m, &scope).unwrap();
    let bytes = template::xlsx(&layout, &Prefill::new()).unwrap();
    let err = import_bytes(
        &mut store,
        "t.xlsx",
        &bytes,
        Format::Xlsx,
        2023,
        &actor("王"),
        &Limits::default(),
        &mut |_| {},
    )
    .unwrap_err();
    let ps = problems(Err(err));
    assert!(
        ps.iter().any(|p| matches!(
            p.rule,
            Rule::WrongYear {
                found: 2022,
                expected: 2023
            }
        )),
        "{ps:?}"
    );
}

fn prefill() -> Prefill {
    let mut p = Prefill::new();
    for (u, r, f, v) in [
        ("justice", Round::Annual, "sup_plan", 100),
        ("justice", Round::Annual, "sup_problems", 0),
        ("justice", Round::Annual, "sup_report", 100),
        ("justice", Round::Annual, "dept_cases", 700),
        ("justice", Round::Annual, "sat_rate", 9999),
        ("xiaodian", Round::Annual, "sat_rate", 1),
        ("xiaodian", Round::Q3, "q_study", 500),
        ("zhaozhuang", Round::Q4, "q_study", 0),
        ("zhaozhuang", Round::Q4, "q_overdue", 1200),
    ] {
        p.values.insert((u.to_string(), r, f.to_string()), v);
    }
    p
}

fn stored(store: &Store) -> Prefill {
    Prefill {
        values: store
            .evidence(2022)
            .unwrap()
            .into_iter()
            .map(|e| ((e.unit_id, e.round, e.field_id), e.value))
            .collect(),
        marks: store
            .marks(2022)
            .unwrap()
            .into_iter()
            .map(|m| ((m.unit_id, m.round, m.indicator_id), m.reason))
            .collect(),
    }
}

#[test]
fn template_round_trip_xlsx_and_csv() {
    let m = test_manifest();
    let scope = sample_scope(2022);
    let layout = Layout::new(&m, &scope).unwrap();
    let values = prefill();
    for (name, bytes, format) in [
        (
            "t.xlsx",
            template::xlsx(&layout, &values).unwrap(),
            Format::Xlsx,
        ),
        (
            "t.csv",
            template::csv(&layout, &values, CsvEncoding::Utf8Bom).unwrap(),
            Format::Csv,
        ),
        (
            "t.csv",
            template::csv(&layout, &values, CsvEncoding::Gb18030).unwrap(),
            Format::Csv,
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut store = store_with_pack(dir.path());
        // xiaodian's annual block has only sat_rate: its other required
        // supervision fields are missing, so fill them.
        let mut v = values.clone();
        for (f, x) in [("sup_plan", 0), ("sup_report", 0)] {
            v.values
                .insert(("xiaodian".into(), Round::Annual, f.into()), x);
        }
        let bytes = match format {
            Format::Xlsx => template::xlsx(&layout, &v).unwrap(),
            Format::Csv if name == "t.csv" && bytes.starts_with(b"\xEF\xBB\xBF") => {
                template::csv(&layout, &v, CsvEncoding::Utf8Bom).unwrap()
            }
            Format::Csv => template::csv(&layout, &v, CsvEncoding::Gb18030).unwrap(),
        };
        let report = import(&mut store, name, &bytes, format).unwrap();
        assert_eq!(stored(&store), v, "{name}: {report:?}");
    }
}

#[test]
fn the_empty_template_imports_as_nothing_and_has_the_promised_shape() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_with_pack(dir.path());
    let m = test_manifest();
    let scope = sample_scope(2022);
    let layout = Layout::new(&m, &scope).unwrap();
    let bytes = template::xlsx(&layout, &Prefill::new()).unwrap();
    let report = import(&mut store, "empty.xlsx", &bytes, Format::Xlsx).unwrap();
    assert_eq!(report.summary, ApplySummary::default());

    let book = sheet::read(&bytes, Format::Xlsx, &Limits::default()).unwrap();
    let names: Vec<_> = book
        .grids
        .iter()
        .map(|g| g.sheet.clone().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "年度",
            "第一季度",
            "第二季度",
            "第三季度",
            "第四季度",
            "填表说明"
        ]
    );
    let annual = &book.grids[0];
    assert_eq!(
        annual.cell(0, 2),
        &Cell::Text("已制定年度法治工作计划".into())
    );
    assert_eq!(
        annual.cell(0, 3),
        &Cell::Text("督察发现问题数（个）".into())
    );
    assert_eq!(annual.cell(1, 3), &Cell::Text("sup_problems".into()));
    assert_eq!(annual.cell(2, 0), &Cell::Text("justice".into()));
    assert_eq!(annual.cell(4, 1), &Cell::Text("赵庄镇".into()));
    let notes = &book.grids[5];
    assert_eq!(
        notes.cell(0, 0),
        &Cell::Text("kaohe-template 2022 test v1".into())
    );
    let notes_text: String = notes
        .rows
        .iter()
        .flatten()
        .filter_map(|c| c.text())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        notes_text.contains("本季度开展法治专题学习的次数"),
        "help text missing"
    );
    assert!(notes_text.contains("每季度至少学习2次"), "criteria missing");

    // Hidden id row, validations, protection and locked/unlocked cells,
    // read from the sheet's XML.
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(&bytes)).unwrap();
    let mut xml = String::new();
    std::io::Read::read_to_string(
        &mut zip.by_name("xl/worksheets/sheet1.xml").unwrap(),
        &mut xml,
    )
    .unwrap();
    assert!(
        xml.contains(r#"<row r="2""#) && xml.contains(r#"hidden="1""#),
        "id row not hidden"
    );
    assert!(xml.contains("<sheetProtection"), "sheet not protected");
    assert!(
        xml.contains(r#"type="whole""#) && xml.contains(r#"type="decimal""#),
        "{xml}"
    );
    assert!(
        xml.contains(r#"type="list""#) && xml.contains("按时公开,逾期公开,未公开"),
        "choice dropdown missing"
    );
    assert!(
        xml.contains("<formula1>0</formula1><formula2>100</formula2>"),
        "range missing"
    );
}

#[test]
fn csv_text_excel_would_read_as_a_formula_is_quoted_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_with_pack(dir.path());
    let scope = Scope {
        year: 2022,
        units: vec![unit("-dash", "=SUM(A1)单位", "township")],
        methods: vec!["daily".into()],
    };
    store.replace_scope(&scope).unwrap();
    let m = test_manifest();
    let layout = Layout::new(&m, &scope).unwrap();
    let mut values = Prefill::new();
    values
        .values
        .insert(("-dash".into(), Round::Q1, "q_study".into()), 300);
    let bytes = template::csv(&layout, &values, CsvEncoding::Utf8).unwrap();
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(text.contains("'-dash,'=SUM(A1)单位,第一季度,3"), "{text}");
    import(&mut store, "f.csv", &bytes, Format::Csv).unwrap();
    assert_eq!(
        store
            .evidence_of("-dash", 2022, Round::Q1)
            .unwrap()
            .get("q_study"),
        Some(&300)
    );
}
