//! End-to-end tests of the exports, each read back with an independent
//! reader: calamine for the workbook, lopdf for the PDF, quick-xml for the
//! DOCX drafts.

use std::io::{Cursor, Read};

use calamine::{Data, Reader, Xlsx};

use kaohe_rulepacks::rubric::decimal::format_hundredths_fixed;

use super::model::*;
use super::*;

/// Names an attacker or a careless clerk could type: a formula, the other
/// formula prefixes, XML metacharacters.
const FORMULA_NAME: &str = "=HYPERLINK(\"http://x\",\"点击\")镇";
const AMP_NAME: &str = "县市场监督管理局&质监站<一>";

fn row(rank: Option<u32>, id: &str, name: &str, total: i64, grade: &str) -> Row {
    Row {
        rank,
        unit_id: id.into(),
        unit_name: name.into(),
        total,
        grade_name: grade.into(),
        late: false,
    }
}

fn sample() -> Report {
    let townships = CategoryTable {
        name: "乡镇（街道）、示范区、铁路地区办事处".into(),
        ranked: true,
        rows: vec![
            row(Some(1), "t01", "赵庄镇", 9650, "优秀"),
            Row {
                late: true,
                ..row(Some(2), "t02", "肖旗乡", 9420, "良好")
            },
            row(Some(2), "t03", FORMULA_NAME, 9420, "良好"),
            row(Some(4), "t04", "+城关镇", 9010, "良好"),
            row(Some(5), "t05", "-铁路地区办事处", 8800, "合格"),
            row(Some(6), "t06", "@观音堂林业生态旅游示范区", 8550, "合格"),
            row(Some(7), "007", "杨庄镇", 7980, "合格"),
        ],
    };
    let departments = CategoryTable {
        name: "政府部门及直属单位".into(),
        ranked: true,
        rows: vec![
            row(Some(1), "sfj", "县司法局", 9800, "优秀"),
            row(Some(2), "scj", AMP_NAME, 5920, "不合格"),
        ],
    };
    let courts = CategoryTable {
        name: "法院、检察院".into(),
        ranked: false,
        rows: vec![
            row(None, "fy", "县人民法院", 9300, "优秀"),
            row(None, "jcy", "县人民检察院", 9100, "良好"),
        ],
    };
    let categories = vec![townships, departments, courts];
    let mut report = Report {
        county: "宝丰县".into(),
        year: 2022,
        scheme_name: "法治宝丰（法治政府）建设".into(),
        title: "关于2022年度法治宝丰（法治政府）建设考核结果的通报".into(),
        doc_number: "宝法治办〔2023〕1号".into(),
        issuer: "中共宝丰县委全面依法治县委员会办公室".into(),
        published_on: "2023年3月1日".into(),
        recipients: "各乡镇人民政府、铁路地区办事处，县直各单位".into(),
        categories,
        breakdown: vec![UnitBreakdown {
            unit_id: "007".into(),
            unit_name: "杨庄镇".into(),
            category: "乡镇（街道）、示范区、铁路地区办事处".into(),
            indicators: vec![
                IndicatorLine {
                    id: "L1".into(),
                    name: "党政主要负责人履行推进法治建设第一责任人职责".into(),
                    kind: LineKind::Scored,
                    points: 1000,
                    score: 1000,
                    reasons: vec![],
                },
                IndicatorLine {
                    id: "N2.3".into(),
                    name: "行政规范性文件合法性审核".into(),
                    kind: LineKind::Scored,
                    points: 800,
                    score: 500,
                    reasons: vec![
                        "2份规范性文件未经合法性审核即印发".into(),
                        "备案超期".into(),
                    ],
                },
            ],
            converted: 8180,
            bonus: 0,
            penalty: 200,
            total: 7980,
            grade_name: "合格".into(),
        }],
        outcomes: vec![
            OutcomeRow {
                kind: OutcomeKind::Commendation,
                unit_id: "t01".into(),
                unit_name: "赵庄镇".into(),
                reason: "连续2年考核优秀".into(),
                issuer: "中共宝丰县委全面依法治县委员会办公室".into(),
                principal: Some("王某某".into()),
            },
            OutcomeRow {
                kind: OutcomeKind::RecommendationLetter,
                unit_id: "007".into(),
                unit_name: "杨庄镇".into(),
                reason: "考核等次为合格".into(),
                issuer: "中共宝丰县委全面依法治县委员会办公室".into(),
                principal: None,
            },
            OutcomeRow {
                kind: OutcomeKind::Warning,
                unit_id: "007".into(),
                unit_name: "杨庄镇".into(),
                reason: "排名后三名".into(),
                issuer: "中共宝丰县委全面依法治县委员会办公室".into(),
                principal: None,
            },
            OutcomeRow {
                kind: OutcomeKind::Admonition,
                unit_id: "scj".into(),
                unit_name: AMP_NAME.into(),
                reason: "考核等次为不合格".into(),
                issuer: "中共宝丰县委全面依法治县委员会办公室".into(),
                principal: None,
            },
            OutcomeRow {
                kind: OutcomeKind::RecommendationLetter,
                unit_id: "scj".into(),
                unit_name: AMP_NAME.into(),
                reason: "考核等次为不合格".into(),
                issuer: "中共宝丰县委全面依法治县委员会办公室".into(),
                principal: None,
            },
        ],
        late_units: vec![LateUnit {
            unit_id: "t02".into(),
            unit_name: "肖旗乡".into(),
            detail: "2023年1月20日提交，逾期2个工作日".into(),
        }],
        unassessed: vec![
            Unassessed {
                unit_id: "dag".into(),
                unit_name: "县档案馆".into(),
                missing: "未报送实地考察结果".into(),
                excused: false,
            },
            Unassessed {
                unit_id: "zrzyj".into(),
                unit_name: "县自然资源局".into(),
                missing: "机构改革期间职能划转".into(),
                excused: true,
            },
        ],
        copy_to: vec![
            "县纪委监委".into(),
            "县委组织部".into(),
            "县委政法委".into(),
        ],
        ..Report::default()
    };
    report.grade_counts = grade_counts(&report);
    report
}

fn grade_counts(report: &Report) -> Vec<GradeCount> {
    ["优秀", "良好", "合格", "不合格"]
        .iter()
        .map(|g| GradeCount {
            grade_name: g.to_string(),
            count: report.units_graded(g).len() as u32,
        })
        .collect()
}

fn all_unit_names(report: &Report) -> Vec<String> {
    report
        .all_rows()
        .map(|(_, r)| r.unit_name.clone())
        .chain(report.unassessed.iter().map(|u| u.unit_name.clone()))
        .collect()
}

// ------------------------------------------------------------------ xlsx

fn read_workbook(bytes: Vec<u8>) -> Xlsx<Cursor<Vec<u8>>> {
    calamine::open_workbook_from_rs(Cursor::new(bytes)).expect("a readable workbook")
}

#[test]
fn workbook_reads_back_with_every_unit_rank_and_grade() {
    let report = sample();
    let mut book = read_workbook(render_xlsx(&report).unwrap());
    let names = book.sheet_names();
    assert_eq!(
        names,
        [
            "排名-乡镇（街道）、示范区、铁路地区办事处",
            "排名-政府部门及直属单位",
            "等次汇总",
            "分项明细",
            "结果运用",
            "迟报与未考核"
        ]
    );

    // Ranking sheets: row by row as the report has them.
    for (sheet, cat) in names
        .iter()
        .zip(report.categories.iter().filter(|c| c.ranked))
    {
        let range = book.worksheet_range(sheet).unwrap();
        assert_eq!(
            range.get_value((1, 2)),
            Some(&Data::String("单位名称".into()))
        );
        for (i, r) in cat.rows.iter().enumerate() {
            let at = (i as u32 + 2, 0);
            assert_eq!(
                range.get_value(at),
                Some(&Data::Float(f64::from(r.rank.unwrap()))),
                "{sheet} {at:?}"
            );
            assert_eq!(
                range.get_value((at.0, 1)),
                Some(&Data::String(r.unit_id.clone()))
            );
            assert_eq!(
                range.get_value((at.0, 2)),
                Some(&Data::String(r.unit_name.clone()))
            );
            assert_eq!(
                range.get_value((at.0, 3)),
                Some(&Data::Float(r.total as f64 / 100.0))
            );
            assert_eq!(
                range.get_value((at.0, 4)),
                Some(&Data::String(r.grade_name.clone()))
            );
            let late = if r.late { "迟报" } else { "" };
            assert_eq!(
                range
                    .get_value((at.0, 5))
                    .map(|d| d.to_string())
                    .unwrap_or_default(),
                late
            );
        }
    }

    // 等次汇总 lists every assessed unit, ranked or not, with its grade.
    let summary = book.worksheet_range("等次汇总").unwrap();
    let cells: Vec<String> = summary.cells().map(|(_, _, d)| d.to_string()).collect();
    for (_, r) in report.all_rows() {
        let at = summary
            .cells()
            .find(|(_, _, d)| **d == Data::String(r.unit_name.clone()))
            .unwrap_or_else(|| panic!("{} in 等次汇总", r.unit_name));
        assert_eq!(
            summary.get_value((at.0 as u32, 0)),
            Some(&Data::String(r.grade_name.clone()))
        );
    }
    assert!(cells.contains(&"不合格".to_string()));

    let detail = book.worksheet_range("分项明细").unwrap();
    let detail: Vec<String> = detail.cells().map(|(_, _, d)| d.to_string()).collect();
    assert!(
        detail
            .iter()
            .any(|c| c.contains("2份规范性文件未经合法性审核即印发"))
    );
    assert!(detail.contains(&"N2.3".to_string()));

    let outcomes = book.worksheet_range("结果运用").unwrap();
    let outcomes: Vec<String> = outcomes.cells().map(|(_, _, d)| d.to_string()).collect();
    for o in &report.outcomes {
        assert!(outcomes.contains(&o.unit_name) && outcomes.contains(&o.reason));
        assert!(outcomes.contains(&o.kind.zh().to_string()));
    }
    let missing = book.worksheet_range("迟报与未考核").unwrap();
    let missing: Vec<String> = missing.cells().map(|(_, _, d)| d.to_string()).collect();
    assert!(
        missing.contains(&"县档案馆".to_string())
            && missing.contains(&"未报送实地考察结果".to_string())
    );
    assert!(missing.contains(&"肖旗乡".to_string()));
    // An excused unit is listed as such, with the recorded reason.
    let rows = book.worksheet_range("迟报与未考核").unwrap();
    let excused: Vec<String> = rows
        .rows()
        .find(|r| r.iter().any(|c| *c == "zrzyj"))
        .expect("the excused unit is listed")
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        excused,
        ["免于考核", "zrzyj", "县自然资源局", "机构改革期间职能划转"]
    );
}

/// RELIABILITY (export): text beginning with `= + - @` is text, never a
/// formula — checked with calamine's formula reader on every sheet.
#[test]
fn workbook_has_no_formula_and_formula_like_names_stay_text() {
    let report = sample();
    let mut book = read_workbook(render_xlsx(&report).unwrap());
    for sheet in book.sheet_names() {
        let formulas = book.worksheet_formula(&sheet).unwrap();
        let found: Vec<_> = formulas.cells().filter(|(_, _, f)| !f.is_empty()).collect();
        assert!(found.is_empty(), "formulas in {sheet}: {found:?}");
    }
    let range = book
        .worksheet_range("排名-乡镇（街道）、示范区、铁路地区办事处")
        .unwrap();
    for name in [
        FORMULA_NAME,
        "+城关镇",
        "-铁路地区办事处",
        "@观音堂林业生态旅游示范区",
    ] {
        assert!(
            range
                .cells()
                .any(|(_, _, d)| *d == Data::String(name.into())),
            "{name} is a string cell"
        );
    }
    // An identifier with leading zeros stays text.
    assert!(
        range
            .cells()
            .any(|(_, _, d)| *d == Data::String("007".into()))
    );

    // Control: the same reader does see a formula where there is one.
    let mut control = rust_xlsxwriter::Workbook::new();
    control.add_worksheet().write_formula(0, 0, "=1+1").unwrap();
    let mut control = read_workbook(control.save_to_buffer().unwrap());
    let formulas = control.worksheet_formula("Sheet1").unwrap();
    assert_eq!(
        formulas.cells().filter(|(_, _, f)| !f.is_empty()).count(),
        1
    );
}

// ------------------------------------------------------------------- pdf

fn pdf_text(bytes: &[u8]) -> (lopdf::Document, Vec<String>) {
    let doc = lopdf::Document::load_mem(bytes).expect("a PDF lopdf can read");
    let pages: Vec<String> = doc
        .get_pages()
        .keys()
        .map(|&n| {
            let text = doc.extract_text(&[n]).expect("text");
            // Lines break anywhere: compare without whitespace.
            text.chars().filter(|c| !c.is_whitespace()).collect()
        })
        .collect();
    (doc, pages)
}

fn squeeze(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

#[test]
fn notice_text_extracts_with_every_unit_name() {
    let report = sample();
    let bytes = render_pdf(&report, &ExportOptions::default()).unwrap();
    let (_, pages) = pdf_text(&bytes);
    let all = pages.concat();
    for name in all_unit_names(&report) {
        assert!(all.contains(&squeeze(&name)), "{name} not in the PDF text");
    }
    for expected in [
        "关于2022年度法治宝丰（法治政府）建设考核结果的通报",
        "宝法治办〔2023〕1号",
        "中共宝丰县委全面依法治县委员会办公室",
        "2023年3月1日",
        "优秀等次（3个）：赵庄镇、县司法局、县人民法院。",
        "通报警示：杨庄镇（排名后三名）",
        "96.50",
        "迟报",
        "抄送：县纪委监委，县委组织部，县委政法委。",
    ] {
        assert!(
            all.contains(&squeeze(expected)),
            "{expected} not in the PDF text"
        );
    }
    // Ranks appear in the table in front of their units.
    assert!(all.contains("1赵庄镇96.50优秀"), "{all}");
    assert!(all.contains("7杨庄镇79.80合格"), "{all}");
}

#[test]
fn notice_embeds_a_subset_truetype_font_with_tounicode() {
    let bytes = render_pdf(&sample(), &ExportOptions::default()).unwrap();
    let (doc, _) = pdf_text(&bytes);
    let mut descriptors = 0;
    for obj in doc.objects.values() {
        let Ok(dict) = obj.as_dict() else { continue };
        if dict.get(b"Type").and_then(|t| t.as_name()).ok() == Some(b"FontDescriptor".as_slice()) {
            descriptors += 1;
            let name = dict.get(b"FontName").unwrap().as_name().unwrap();
            let name = std::str::from_utf8(name).unwrap();
            let (tag, rest) = name.split_once('+').expect("subset tag");
            assert!(
                tag.len() == 6 && tag.bytes().all(|b| b.is_ascii_uppercase()),
                "{name}"
            );
            assert_eq!(rest, "NotoSerifCJKsc-Regular");
            let file = dict
                .get(b"FontFile2")
                .expect("FontFile2")
                .as_reference()
                .unwrap();
            let stream = doc.get_object(file).unwrap().as_stream().unwrap();
            let font = stream.decompressed_content().unwrap();
            // Only the glyphs used: a few hundred, not the 7,600 carried.
            let face = ttf_parser::Face::parse(&font, 0).expect("a TrueType font");
            assert!(face.tables().glyf.is_some());
            assert!(
                face.number_of_glyphs() > 100 && face.number_of_glyphs() < 600,
                "{}",
                face.number_of_glyphs()
            );
            assert!(
                font.len() < EMBEDDED_FONT.len() / 10,
                "{} bytes",
                font.len()
            );
        }
        if dict.get(b"Subtype").and_then(|t| t.as_name()).ok() == Some(b"Type0".as_slice()) {
            assert_eq!(
                dict.get(b"Encoding").unwrap().as_name().unwrap(),
                b"Identity-H"
            );
            assert!(dict.get(b"ToUnicode").is_ok());
        }
    }
    assert_eq!(descriptors, 1);
}

#[test]
fn long_tables_break_across_pages_with_the_header_repeated() {
    let mut report = sample();
    report.categories[0].rows = (1..=80)
        .map(|i| {
            row(
                Some(i),
                &format!("u{i:03}"),
                &format!("第{i}测试镇"),
                10000 - i64::from(i) * 10,
                "良好",
            )
        })
        .collect();
    report.grade_counts = grade_counts(&report);
    let bytes = render_pdf(&report, &ExportOptions::default()).unwrap();
    let (_, pages) = pdf_text(&bytes);
    assert!(pages.len() >= 3, "{} pages", pages.len());
    let header = "名次单位得分等次备注";
    let with_header: Vec<usize> = (0..pages.len())
        .filter(|&p| pages[p].contains(header))
        .collect();
    // The 80 rows run over at least two pages, each starting with the header.
    // A table row reads rank, name, score (the grade lists name them too).
    let table_row = |i: u32| {
        format!(
            "{i}第{i}测试镇{}",
            format_hundredths_fixed(10000 - i64::from(i) * 10)
        )
    };
    let with_rows: Vec<usize> = (0..pages.len())
        .filter(|&p| (1..=80).any(|i| pages[p].contains(&table_row(i))))
        .collect();
    assert!(with_rows.len() >= 2, "{with_rows:?}");
    for p in &with_rows {
        assert!(
            with_header.contains(p),
            "page {} has rows but no header",
            p + 1
        );
    }
    for i in 1..=80 {
        assert!(pages.concat().contains(&table_row(i)), "row {i}");
    }
    // Page numbers.
    for (i, page) in pages.iter().enumerate() {
        assert!(
            page.contains(&format!("—{}—", i + 1)),
            "page number {}",
            i + 1
        );
    }
}

#[test]
fn a_character_missing_from_the_font_fails_naming_it_and_where() {
    let mut report = sample();
    report.categories[1].rows[0].unit_name = "县𠀀局".into();
    let err = render_pdf(&report, &ExportOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("字体缺少字符「𠀀」(U+20000)"), "{err}");
    assert!(
        err.contains("类别「政府部门及直属单位」第 1 行（单位编号 sfj）的单位名称"),
        "{err}"
    );

    // Nothing is written when the PDF cannot be made.
    let dir = tempfile::tempdir().unwrap();
    assert!(write_all(&report, dir.path(), &ExportOptions::default()).is_err());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

    // Generated text is checked too: a title character.
    let mut report = sample();
    report.title = "关于𠀀的通报".into();
    let err = render_pdf(&report, &ExportOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("「𠀀」") && err.contains("标题"), "{err}");
}

#[test]
fn a_font_file_can_replace_the_embedded_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("county.ttf");
    std::fs::write(&path, EMBEDDED_FONT).unwrap();
    let options = ExportOptions {
        font: Some(path.clone()),
    };
    let bytes = render_pdf(&sample(), &options).unwrap();
    let (_, pages) = pdf_text(&bytes);
    assert!(pages.concat().contains("县人民检察院"));

    std::fs::write(&path, &EMBEDDED_FONT[..1000]).unwrap();
    let err = render_pdf(&sample(), &options).unwrap_err().to_string();
    assert!(err.contains("county.ttf"), "{err}");
}

// ------------------------------------------------------------------ docx

/// The parts of a `.docx`, each checked to be well-formed XML; returns
/// `word/document.xml` raw and the concatenated text of its `w:t` runs.
fn read_docx(bytes: &[u8]) -> (String, String) {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).expect("a zip");
    let mut names: Vec<String> = zip.file_names().map(|n| n.unwrap().to_string()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "[Content_Types].xml",
            "_rels/.rels",
            "docProps/core.xml",
            "word/_rels/document.xml.rels",
            "word/document.xml",
            "word/fontTable.xml",
            "word/styles.xml"
        ]
    );
    let mut document = String::new();
    for name in &names {
        let mut xml = String::new();
        zip.by_name(name).unwrap().read_to_string(&mut xml).unwrap();
        // Well-formed: quick-xml reads every event to the end.
        let mut reader = quick_xml::Reader::from_str(&xml);
        loop {
            match reader.read_event() {
                Ok(quick_xml::events::Event::Eof) => break,
                Ok(_) => {}
                Err(e) => panic!("{name} is not well-formed: {e}"),
            }
        }
        if name == "word/document.xml" {
            document = xml;
        }
    }
    let mut text = String::new();
    let mut reader = quick_xml::Reader::from_str(&document);
    let mut in_t = false;
    loop {
        match reader.read_event().unwrap() {
            quick_xml::events::Event::Start(e) if e.name().as_ref() == "w:t" => in_t = true,
            quick_xml::events::Event::End(e) if e.name().as_ref() == "w:t" => in_t = false,
            quick_xml::events::Event::Text(t) if in_t => text.push_str(t.as_ref()),
            quick_xml::events::Event::GeneralRef(r) if in_t => {
                text.push_str(match r.as_ref() {
                    "amp" => "&",
                    "lt" => "<",
                    "gt" => ">",
                    "quot" => "\"",
                    "apos" => "'",
                    other => panic!("unexpected entity {other}"),
                });
            }
            quick_xml::events::Event::Eof => break,
            _ => {}
        }
    }
    (document, text)
}

#[test]
fn letters_name_the_unit_the_reason_and_the_grade() {
    let report = sample();
    let letters = render_letters(&report).unwrap();
    let names: Vec<&str> = letters.iter().map(|l| l.file_name.as_str()).collect();
    assert_eq!(
        names,
        [
            "法治建议书-007-杨庄镇.docx",
            "法治建议书-scj-县市场监督管理局&质监站_一_.docx",
            "约谈通知-scj-县市场监督管理局&质监站_一_.docx",
            "通报警示.docx",
            "通报表扬.docx"
        ]
    );
    let text = |i: usize| read_docx(&letters[i].bytes);

    let (_, t) = text(0);
    for want in [
        "法治建议书",
        "杨庄镇：",
        "考核等次为合格",
        "等次为合格",
        "79.80",
        "行政规范性文件合法性审核",
        "2份规范性文件未经合法性审核即印发",
        "【文号】",
        "【盖章】",
    ] {
        assert!(t.contains(want), "{want} in 法治建议书: {t}");
    }

    // A name with & and < is escaped in the XML and reads back whole.
    let (raw, t) = text(1);
    assert!(t.contains(&format!("{AMP_NAME}：")), "{t}");
    assert!(t.contains("等次为不合格"));
    assert!(raw.contains("县市场监督管理局&amp;质监站&lt;一&gt;"));
    assert!(!raw.contains(AMP_NAME));

    let (_, t) = text(2);
    for want in [
        AMP_NAME,
        "考核等次为不合格",
        "约谈",
        "【约谈时间】",
        "【约谈地点】",
    ] {
        assert!(t.contains(want), "{want} in 约谈通知: {t}");
    }
    let (_, t) = text(3);
    for want in [
        "通报警示",
        "杨庄镇",
        "排名后三名",
        "等次为合格",
        "各乡镇人民政府",
    ] {
        assert!(t.contains(want), "{want} in 通报警示: {t}");
    }
    let (raw, t) = text(4);
    for want in ["通报表扬", "赵庄镇", "连续2年考核优秀", "等次为优秀"] {
        assert!(t.contains(want), "{want} in 通报表扬: {t}");
    }
    for font in ["仿宋_GB2312", "方正小标宋简体"] {
        assert!(raw.contains(&format!("w:eastAsia=\"{font}\"")), "{font}");
    }
}

// --------------------------------------------------------------- whole

#[test]
fn write_all_writes_every_document_and_the_same_report_gives_the_same_bytes() {
    let report = sample();
    let dir = tempfile::tempdir().unwrap();
    let paths = write_all(&report, dir.path(), &ExportOptions::default()).unwrap();
    let rel: Vec<String> = paths
        .iter()
        .map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string())
        .collect();
    assert_eq!(rel[0], "2022年度考核结果.xlsx");
    assert_eq!(rel[1], "2022年度考核结果通报.pdf");
    assert_eq!(rel.len(), 2 + 5);
    assert!(
        rel[2..]
            .iter()
            .all(|r| r.starts_with("letters/") && r.ends_with(".docx"))
    );
    let first: Vec<Vec<u8>> = paths.iter().map(|p| std::fs::read(p).unwrap()).collect();
    // No temporary file is left behind.
    let leftovers = walk(dir.path())
        .into_iter()
        .filter(|p| p.ends_with(".tmp"))
        .count();
    assert_eq!(leftovers, 0);

    let again = tempfile::tempdir().unwrap();
    let paths = write_all(&report, again.path(), &ExportOptions::default()).unwrap();
    for (p, bytes) in paths.iter().zip(&first) {
        assert_eq!(&std::fs::read(p).unwrap(), bytes, "{} differs", p.display());
    }
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out
}

#[test]
fn bad_reports_are_refused_whole_saying_where() {
    let mut report = sample();
    report.categories[0].rows[3].unit_name = "城关\u{7}镇".into();
    let err = render_letters(&report).unwrap_err().to_string();
    assert!(
        err.contains("U+0007") && err.contains("第 4 行（单位编号 t04）的单位名称"),
        "{err}"
    );

    let mut report = sample();
    report.grade_counts[0].count += 1;
    let err = render_xlsx(&report).unwrap_err().to_string();
    assert!(
        err.contains("「优秀」为 4 个单位") && err.contains("却有 3 个"),
        "{err}"
    );
}

#[test]
fn an_empty_report_still_renders_every_document() {
    let report = Report {
        county: "宝丰县".into(),
        year: 2022,
        title: "关于2022年度考核结果的通报".into(),
        ..Report::default()
    };
    let bytes = render_pdf(&report, &ExportOptions::default()).unwrap();
    let (_, pages) = pdf_text(&bytes);
    assert_eq!(pages.len(), 1);
    assert!(pages[0].contains("关于2022年度考核结果的通报"));
    let mut book = read_workbook(render_xlsx(&report).unwrap());
    assert_eq!(
        book.sheet_names(),
        ["等次汇总", "分项明细", "结果运用", "迟报与未考核"]
    );
    assert!(book.worksheet_range("结果运用").is_ok());
    assert!(render_letters(&report).unwrap().is_empty());
}

#[test]
fn long_names_wrap_inside_their_cell_and_a_row_no_page_holds_is_refused() {
    let mut report = sample();
    let long = "宝丰县".to_string() + &"很长的单位名称".repeat(12);
    report.categories[1].rows[0].unit_name = long.clone();
    let bytes = render_pdf(&report, &ExportOptions::default()).unwrap();
    let (_, pages) = pdf_text(&bytes);
    assert!(
        pages.concat().contains(&long),
        "the wrapped name reads back whole"
    );

    report.categories[1].rows[0].unit_name = "很长".repeat(2000);
    let err = render_pdf(&report, &ExportOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("排名表「政府部门及直属单位」第 1 行（单位）内容过长"),
        "{err}"
    );
}

mod issue13;
