use super::*;
use crate::audit;
use crate::registry::units::ResponsibleAssessor;
use kaohe_tables::text::Fold;
use rust_xlsxwriter::{Format as XlsxFormat, Workbook};

fn other_years() -> BTreeMap<String, Vec<i32>> {
    [("old".to_string(), vec![2023])].into()
}

fn csv_problems(text: &str) -> Vec<ImportProblem> {
    match parse_units(text.as_bytes(), Format::Csv, 2024, &other_years()) {
        Err(ReadUnitsError::Invalid { problems }) => problems,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

/// (row, 0-based column, short kind name) of each problem, sorted.
fn summary(problems: &[ImportProblem]) -> Vec<(Option<usize>, Option<usize>, String)> {
    let mut out: Vec<_> = problems
        .iter()
        .map(|p| {
            let kind = format!("{:?}", p.kind);
            let short = kind.split([' ', '{', '(']).next().unwrap_or("").to_string();
            (p.location.row, p.location.column, short)
        })
        .collect();
    out.sort();
    out
}

const GOOD: &str = "单位编号,单位名称,类别,上级单位,主管部门,考核主体\n\
        t1,肖旗乡,township,,,依法治县办\n\
        t1v1,肖旗村,village,t1,,t1\n\
        wjw,县卫健委,department,,,依法治县办\n\
        h1,县人民医院,hospital,wjw,,卫健委\n\
        gt,县供电公司,stationed_enterprise,,市供电公司,国资局\n";

#[test]
fn a_good_csv_gives_every_field() {
    let units = parse_units(GOOD.as_bytes(), Format::Csv, 2024, &other_years()).unwrap();
    assert_eq!(units.len(), 5);
    let v = &units[1];
    assert_eq!(
        (v.year, v.id.as_str(), v.name.as_str(), v.category.as_str()),
        (2024, "t1v1", "肖旗村", "village")
    );
    assert_eq!(v.parent.as_deref(), Some("t1"));
    assert_eq!(v.assessor, ResponsibleAssessor::Unit("t1".into()));
    assert_eq!(units[3].assessor, ResponsibleAssessor::HealthCommission);
    assert_eq!(units[4].assessor, ResponsibleAssessor::Sasac);
    assert_eq!(
        units[4].supervising_department.as_deref(),
        Some("市供电公司")
    );
    assert_eq!(units[0].parent, None);
}

#[test]
fn a_csv_with_bom_and_english_headers_in_another_order_is_read() {
    let text = "\u{feff}name,id,category,parent,assessor,supervising_department\r\n\
                    肖旗乡,t1,township,,county_office,\r\n";
    let units = parse_units(text.as_bytes(), Format::Csv, 2024, &other_years()).unwrap();
    assert_eq!(units.len(), 1);
    assert_eq!(units[0].id, "t1");
    assert_eq!(units[0].name, "肖旗乡");
    assert_eq!(units[0].assessor, ResponsibleAssessor::CountyOffice);
}

#[test]
fn a_gb18030_csv_from_chinese_excel_is_read() {
    let (bytes, _, had_errors) = encoding_rs::GB18030.encode(GOOD);
    assert!(!had_errors);
    assert!(std::str::from_utf8(&bytes).is_err(), "must not be UTF-8");
    let units = parse_units(&bytes, Format::Csv, 2024, &other_years()).unwrap();
    assert_eq!(units.len(), 5);
    assert_eq!(units[0].name, "肖旗乡");
    assert_eq!(
        units[4].supervising_department.as_deref(),
        Some("市供电公司")
    );
}

#[test]
fn utf16_and_undecodable_bytes_are_refused_with_a_hint() {
    let err = parse_units(b"\xFF\xFEa\x00", Format::Csv, 2024, &other_years()).unwrap_err();
    assert!(matches!(err, ReadUnitsError::Read(ReadError::Utf16)));
    assert!(err.to_string().contains("UTF-8"), "{err}");
    let err = parse_units(b"\x81\x20\x81\x20", Format::Csv, 2024, &other_years()).unwrap_err();
    assert!(
        matches!(err, ReadUnitsError::Read(ReadError::Encoding)),
        "{err:?}"
    );
}

#[test]
fn full_width_digits_and_padded_cells_are_normalised() {
    let text = "单位编号,单位名称,类别,上级单位,主管部门,考核主体\n\
                    １０１,\u{3000}肖旗乡 ,ｔｏｗｎｓｈｉｐ,,,依法治县办\n";
    let units = parse_units(text.as_bytes(), Format::Csv, 2024, &other_years()).unwrap();
    assert_eq!(units[0].id, "101");
    assert_eq!(units[0].name, "肖旗乡");
    assert_eq!(units[0].category, "township");
}

#[test]
fn every_bad_row_is_reported_at_once_with_row_and_column() {
    let text = "单位编号,单位名称,类别,上级单位,主管部门,考核主体\n\
            t1,肖旗乡,township,,,依法治县办\n\
            t2,,township,,,依法治县办\n\
            t3,杨庄镇,Township,,,依法治县办\n\
            t1,重复乡,township,,,依法治县办\n\
            v1,某村,village,t9,,t1\n\
            v2,某村二,village,old,,t1\n\
            v3,某村三,village,t1,,依法治县办,多余\n\
            v4,某村四,village\n\
            sasac,国资单位,department,,,国资局\n\
            h1,医院,hospital,,县卫健委,wjx\n\
            c1,甲,department,c2,,依法治县办\n\
            c2,乙,department,c1,,依法治县办\n\
            b@d,坏编号,department,,,依法治县办\n";
    let problems = csv_problems(text);
    let s = |row, col: Option<usize>, kind: &str| (Some(row), col, kind.to_string());
    assert_eq!(
        summary(&problems),
        vec![
            s(3, Some(1), "EmptyValue"),
            s(4, Some(2), "BadCategory"),
            s(5, Some(0), "DuplicateId"),
            s(6, Some(3), "UnknownParent"),
            s(7, Some(3), "ParentOfAnotherYear"),
            s(8, None, "Ragged"),
            s(9, None, "Ragged"),
            s(10, Some(0), "ReservedId"),
            s(11, Some(5), "UnknownAssessorUnit"),
            s(12, Some(3), "ParentCycle"),
            s(14, Some(0), "BadId"),
        ]
    );
    let text = ReadUnitsError::Invalid { problems }.to_string();
    for needle in [
        "共 11 处问题，未写入任何数据",
        "第3行第2列「单位名称」：单位名称（name） 不能为空",
        "第4行第3列「类别」：类别「Township」格式不对",
        "第5行第1列「单位编号」：单位编号「t1」重复，第2行已有",
        "第6行第4列「上级单位」：上级单位「t9」不在本文件中",
        "上级单位「old」只在 2023 年度名册中",
        "第8行：本行有 7 个字段，表头有 6 个",
        "第9行：本行有 3 个字段",
        "考核主体「wjx」",
        "c1 → c2 → c1",
        "单位编号（id）「b@d」格式不对",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

#[test]
fn renamed_duplicate_and_missing_headers_are_reported() {
    let problems = csv_problems(
        "单位编号,单位名字,类别,上级单位,类别,考核主体\n\
             t1,肖旗乡,township,,township,依法治县办\n",
    );
    let text = format_problems(&problems);
    assert_eq!(
        summary(&problems),
        vec![
            (Some(1), None, "MissingHeader".to_string()),
            (Some(1), None, "MissingHeader".to_string()),
            (Some(1), Some(1), "UnknownHeader".to_string()),
            (Some(1), Some(4), "DuplicateHeader".to_string()),
        ],
        "{text}"
    );
    assert!(text.contains("第1行第2列：未知表头「单位名字」"), "{text}");
    assert!(text.contains("缺少表头 单位名称（name）"), "{text}");
    assert!(
        text.contains("缺少表头 主管部门（supervising_department）"),
        "{text}"
    );
    assert!(
        text.contains("表头 类别（category） 重复，第3列已有"),
        "{text}"
    );
}

#[test]
fn a_header_without_rows_or_an_empty_file_is_refused() {
    let problems = csv_problems("单位编号,单位名称,类别,上级单位,主管部门,考核主体\n");
    assert_eq!(
        summary(&problems),
        vec![(Some(1), None, "NoRows".to_string())]
    );
    // Zero bytes are refused by the reader; blank lines and empty
    // fields are content-free.
    assert!(matches!(
        parse_units(b"", Format::Csv, 2024, &other_years()),
        Err(ReadUnitsError::Read(ReadError::Empty))
    ));
    let problems = csv_problems("\n,,\n");
    assert_eq!(
        summary(&problems),
        vec![(None, None, "NoContent".to_string())]
    );
}

fn workbook(build: impl FnOnce(&mut rust_xlsxwriter::Worksheet)) -> Vec<u8> {
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("名册").unwrap();
    build(ws);
    wb.save_to_buffer().unwrap()
}

fn xlsx_header(ws: &mut rust_xlsxwriter::Worksheet, row: u32) {
    for (col, h) in [
        "单位编号（id）",
        "单位名称",
        "类别",
        "上级单位",
        "主管部门",
        "考核主体",
    ]
    .iter()
    .enumerate()
    {
        ws.write_string(row, col as u16, *h).unwrap();
    }
}

#[test]
fn a_real_xlsx_with_a_title_row_and_numeric_ids_is_read() {
    let bytes = workbook(|ws| {
        ws.merge_range(
            0,
            0,
            0,
            5,
            "2024年度法治建设考核对象名册",
            &XlsxFormat::new(),
        )
        .unwrap();
        xlsx_header(ws, 1);
        ws.write_number(2, 0, 101).unwrap();
        ws.write_string(2, 1, "肖旗乡").unwrap();
        ws.write_string(2, 2, "township").unwrap();
        ws.write_string(2, 5, "依法治县办").unwrap();
        ws.write_string(3, 0, "101-1").unwrap();
        ws.write_string(3, 1, "肖旗村").unwrap();
        ws.write_string(3, 2, "village").unwrap();
        ws.write_number(3, 3, 101).unwrap();
        ws.write_number(3, 5, 101).unwrap();
    });
    let units = parse_units(&bytes, Format::Xlsx, 2024, &other_years()).unwrap();
    assert_eq!(units.len(), 2);
    assert_eq!(units[0].id, "101");
    assert_eq!(units[1].parent.as_deref(), Some("101"));
    assert_eq!(units[1].assessor, ResponsibleAssessor::Unit("101".into()));
}

#[test]
fn xlsx_problems_name_the_sheet_row_column_letter_and_header() {
    let bytes = workbook(|ws| {
        xlsx_header(ws, 0);
        ws.write_string(1, 0, "t1").unwrap();
        ws.write_string(1, 1, "肖旗乡").unwrap();
        ws.write_string(1, 2, "township").unwrap();
        ws.write_string(1, 5, "依法治县办").unwrap();
        // A number where a name is expected, and a note in column H without header.
        ws.write_string(2, 0, "t2").unwrap();
        ws.write_number(2, 1, 123).unwrap();
        ws.write_string(2, 2, "township").unwrap();
        ws.write_string(2, 5, "依法治县办").unwrap();
        ws.write_string(2, 7, "备注").unwrap();
        // A logical value where a category is expected.
        ws.write_string(3, 0, "t3").unwrap();
        ws.write_string(3, 1, "杨庄镇").unwrap();
        ws.write_boolean(3, 2, true).unwrap();
        ws.write_string(3, 5, "依法治县办").unwrap();
    });
    let err = parse_units(&bytes, Format::Xlsx, 2024, &other_years()).unwrap_err();
    let ReadUnitsError::Invalid { problems } = &err else {
        panic!("expected Invalid, got {err:?}");
    };
    assert_eq!(
        summary(problems),
        vec![
            (Some(3), Some(1), "NotText".to_string()),
            (Some(3), Some(7), "UnnamedColumn".to_string()),
            (Some(4), Some(2), "BadCategory".to_string()),
        ]
    );
    assert!(
        problems
            .iter()
            .all(|p| p.location.sheet.as_deref() == Some("名册"))
    );
    let text = err.to_string();
    for needle in [
        "工作表「名册」第3行B列「单位名称」：单位名称（name） 应为文字，实际是数字 123",
        "工作表「名册」第3行H列：此列没有表头却有内容，共 1 行",
        "工作表「名册」第4行C列「类别」：类别「逻辑值 TRUE」格式不对",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

/// A formula's cached value is whatever the file's author wrote there
/// (here the id `t9` over a formula that could say anything): the
/// roster used to take it; now the cell is refused where it stands.
#[test]
fn formula_cells_are_refused_not_read_as_their_cached_value() {
    let bytes = workbook(|ws| {
        xlsx_header(ws, 0);
        ws.write_formula(
            1,
            0,
            rust_xlsxwriter::Formula::new("=\"t\"&\"9\"").set_result("t9"),
        )
        .unwrap();
        ws.write_string(1, 1, "某乡").unwrap();
        ws.write_string(1, 2, "township").unwrap();
        ws.write_string(1, 5, "依法治县办").unwrap();
    });
    let err = parse_units(&bytes, Format::Xlsx, 2024, &other_years()).unwrap_err();
    let ReadUnitsError::Invalid { problems } = &err else {
        panic!("expected Invalid, got {err:?}");
    };
    assert_eq!(
        summary(problems),
        vec![(Some(2), Some(0), "Formula".to_string())]
    );
    let text = err.to_string();
    assert!(
        text.contains("工作表「名册」第2行A列「单位编号（id）」：单元格是公式 =\"t\"&\"9\""),
        "{text}"
    );
}

/// Issue #14: a refused cell is echoed short and as officials read it —
/// a date as a date, a huge number as 1E+308, a 1 MB id cut to 100
/// characters.
#[test]
fn refused_cells_are_echoed_short_and_as_officials_read_them() {
    let bytes = workbook(|ws| {
        xlsx_header(ws, 0);
        ws.write_string(1, 0, "t1").unwrap();
        ws.write_string(1, 1, "肖旗乡").unwrap();
        let day = rust_xlsxwriter::ExcelDateTime::from_ymd(2024, 1, 8).unwrap();
        ws.write_datetime_with_format(1, 2, &day, &XlsxFormat::new().set_num_format("yyyy-mm-dd"))
            .unwrap();
        ws.write_string(1, 5, "依法治县办").unwrap();
        ws.write_number(2, 0, 1e308).unwrap();
        ws.write_string(2, 1, "杨庄镇").unwrap();
        ws.write_string(2, 2, "township").unwrap();
        ws.write_string(2, 5, "依法治县办").unwrap();
    });
    let text = parse_units(&bytes, Format::Xlsx, 2024, &other_years())
        .unwrap_err()
        .to_string();
    assert!(text.contains("类别「日期 2024-01-08」格式不对"), "{text}");
    assert!(text.contains("「数字 1E+308」格式不对"), "{text}");
    assert!(!text.contains("0000000000"), "{text}");

    let huge = "x".repeat(1_000_000);
    let csv = format!(
        "单位编号,单位名称,类别,上级单位,主管部门,考核主体\n{huge},某乡,township,,,依法治县办\n"
    );
    let text = parse_units(csv.as_bytes(), Format::Csv, 2024, &other_years())
        .unwrap_err()
        .to_string();
    assert!(text.contains(&"x".repeat(100)), "{}", &text[..300]);
    assert!(text.contains("共 1000000 个字符"), "{}", &text[..300]);
    assert!(text.len() < 2_000, "{} bytes", text.len());
}

#[test]
fn a_truncated_workbook_is_refused_not_half_read() {
    let bytes = workbook(|ws| {
        xlsx_header(ws, 0);
        ws.write_string(1, 0, "t1").unwrap();
    });
    let err = parse_units(
        &bytes[..bytes.len() / 2],
        Format::Xlsx,
        2024,
        &other_years(),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            ReadUnitsError::Read(ReadError::NotXlsx { .. } | ReadError::Workbook { .. })
        ),
        "{err:?}"
    );
}

/// Found by fuzzing the node's reader: a tiny file naming the last cell
/// of a sheet is read cell by cell (no dense grid). The roster used to
/// read it and report the stray cell as a column without header; with
/// the shared reader it is refused by its position, which is named.
#[test]
fn a_stray_cell_at_the_end_of_the_sheet_is_named_not_allocated() {
    let bytes = workbook(|ws| {
        xlsx_header(ws, 0);
        ws.write_string(1, 0, "t1").unwrap();
        ws.write_string(1, 1, "肖旗乡").unwrap();
        ws.write_string(1, 2, "township").unwrap();
        ws.write_string(1, 5, "依法治县办").unwrap();
        ws.write_number(1_048_575, 16_383, 1.0).unwrap();
    });
    let err = parse_units(&bytes, Format::Xlsx, 2024, &other_years()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("工作表「名册」的内容至少到第 1048576 行"),
        "{text}"
    );
    assert!(
        matches!(
            err,
            ReadUnitsError::Read(ReadError::SheetTooLarge {
                rows: 1_048_576,
                columns: 16_384,
                ..
            })
        ),
        "{err:?}"
    );
}

#[test]
fn a_file_that_is_not_a_workbook_is_refused_clearly() {
    let err = parse_units(b"not a zip", Format::Xlsx, 2024, &other_years()).unwrap_err();
    assert!(
        matches!(err, ReadUnitsError::Read(ReadError::NotXlsx { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains(".xlsx"), "{err}");
    assert!(matches!(
        Format::from_path(Path::new("名册.xls")),
        Err(ReadError::UnsupportedFormat { .. })
    ));
}

/// An Excel 97-2003 roster renamed `.xlsx` was "not a valid zip"; it is
/// named for what it is.
#[test]
fn an_old_xls_renamed_xlsx_is_named_as_such() {
    let mut xls = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    xls.resize(4096, 0);
    let err = parse_units(&xls, Format::Xlsx, 2024, &other_years()).unwrap_err();
    assert!(
        matches!(err, ReadUnitsError::Read(ReadError::OldXls)),
        "{err:?}"
    );
    assert!(err.to_string().contains("旧版 Excel 97-2003"), "{err}");
}

#[test]
fn import_is_all_or_nothing_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = crate::db::create(&dir.path().join("hub")).unwrap();
    let actor = Actor::new("wang", "2024-12-01T00:00:00Z".parse().unwrap());
    let good = dir.path().join("good.csv");
    std::fs::write(&good, GOOD).unwrap();
    let outcome = import_units_file(&mut conn, &good, 2024, None, &actor).unwrap();
    assert_eq!(outcome.units, 5);
    assert_eq!(outcome.summary.added.len(), 5);

    // One good change and one bad row: nothing at all is written.
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        GOOD.replace("肖旗乡", "肖旗乡（新）")
            .replace("hospital,wjw", "hospital,nowhere"),
    )
    .unwrap();
    let err = import_units_file(&mut conn, &bad, 2024, None, &actor).unwrap_err();
    assert_eq!(err.problems().len(), 1);
    let msg = err.to_string();
    assert!(msg.contains("bad.csv"), "{msg}");
    assert!(msg.contains("第5行第4列「上级单位」"), "{msg}");
    let roster = units::load_roster(&conn, 2024).unwrap();
    assert_eq!(roster.get("t1").unwrap().name, "肖旗乡");
    assert_eq!(roster.get("h1").unwrap().parent.as_deref(), Some("wjw"));
    assert_eq!(audit::recent(&conn, 10).unwrap().len(), 1);

    // The same file for another year: the parent check knows 2024's ids.
    let next = dir.path().join("next.csv");
    std::fs::write(
        &next,
        "单位编号,单位名称,类别,上级单位,主管部门,考核主体\nx,某村,village,t1,,依法治县办\n",
    )
    .unwrap();
    let err = import_units_file(&mut conn, &next, 2025, None, &actor).unwrap_err();
    assert!(
        err.to_string()
            .contains("上级单位「t1」只在 2024 年度名册中"),
        "{err}"
    );

    let log = audit::recent(&conn, 10).unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].detail["file"], serde_json::json!("good.csv"));
    assert_eq!(log[0].detail["units"], serde_json::json!(5));
}

/// A township's system with full-width digits and signs in a name: the
/// roster stores what the node's template writes and its import reads back
/// (digits and signs folded), so the node's own unedited template imports.
#[test]
fn a_name_with_full_width_digits_and_signs_is_stored_as_the_node_reads_it() {
    let text = "单位编号,单位名称,类别,上级单位,主管部门,考核主体\n\
        t1,肖旗乡,township,,,依法治县办\n\
        t1g3,肖旗乡第３村民组（２０２４年新设）,village,t1,,t1\n\
        t1x,＋字路口村－东片,village,t1,,t1\n";
    let units = parse_units(text.as_bytes(), Format::Csv, 2024, &other_years()).unwrap();
    assert_eq!(units[1].name, "肖旗乡第3村民组（2024年新设）");
    assert_eq!(units[2].name, "+字路口村-东片");
    // Exactly what the node's import (`value::normalise`: trim, then fold
    // digits and signs) makes of the cell its template wrote.
    for u in &units {
        let read_back =
            kaohe_tables::text::fold_width(kaohe_tables::text::trim(&u.name), Fold::Numbers);
        assert_eq!(read_back, u.name);
    }
}

#[test]
fn categories_the_years_pack_does_not_know_are_refused_naming_the_pack() {
    let pack = PackCategories {
        pack: "baofeng-2024 第 1 版".into(),
        categories: vec![
            ("township".into(), "乡镇".into()),
            ("village".into(), "村（社区）".into()),
        ],
    };
    let dir = tempfile::tempdir().unwrap();
    let mut conn = crate::db::create(&dir.path().join("hub")).unwrap();
    let actor = Actor::new("wang", "2024-12-01T00:00:00Z".parse().unwrap());
    let file = dir.path().join("units.csv");
    std::fs::write(
        &file,
        "单位编号,单位名称,类别,上级单位,主管部门,考核主体\n\
         t1,肖旗乡,township,,,依法治县办\n\
         t1v1,肖旗村,villages,t1,,t1\n",
    )
    .unwrap();
    let err = import_units_file(&mut conn, &file, 2024, Some(&pack), &actor).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(
            "第3行第3列「类别」：类别「villages」不是规则包 baofeng-2024 第 1 版 的考核类别"
        ),
        "{msg}"
    );
    assert!(msg.contains("village（村（社区））"), "{msg}");
    assert!(units::load_roster(&conn, 2024).unwrap().is_empty());
    // Without the year's pack the form alone is checked.
    import_units_file(&mut conn, &file, 2024, None, &actor).unwrap();
}
