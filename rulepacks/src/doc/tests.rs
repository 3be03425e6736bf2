use super::html::esc;
use super::*;

#[test]
fn note_tables_keep_their_headings() {
    let md = "# T\n\n## 一、规则\n\n| a | b |\n|---|---|\n| `x` | **y** |\n\ntext\n## 二\n| c |\n|:-:|\n| 1 |\n";
    let t = parse_note_tables(md);
    assert_eq!(t.len(), 2);
    assert_eq!(t[0].title, "一、规则");
    assert_eq!(t[0].header, vec!["a", "b"]);
    assert_eq!(t[0].rows, vec![vec!["x".to_string(), "y".to_string()]]);
    assert_eq!(t[1].rows, vec![vec!["1".to_string()]]);
}

fn baofeng() -> Rendered {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("baofeng-2022/rubric.toml");
    match render(&path) {
        Ok(r) => r,
        Err(e) => panic!("render {}: {e:#}", path.display()),
    }
}

fn text(d: &calamine::Data) -> String {
    match d {
        calamine::Data::String(s) => s.clone(),
        calamine::Data::Empty => String::new(),
        other => other.to_string(),
    }
}

/// The workbook read back with calamine says what the rubric says: one
/// sheet per category with the five columns, every applicable indicator
/// with its points, method and criteria, the applicable total, the
/// assumptions, and not a single formula.
#[test]
fn workbook_reads_back_with_the_rubric_content() {
    use calamine::{Reader, Xlsx, open_workbook_from_rs};
    let r = baofeng();
    let m = &r.manifest;
    let mut wb: Xlsx<_> =
        open_workbook_from_rs(std::io::Cursor::new(r.xlsx.clone())).expect("open xlsx");
    let names = wb.sheet_names();
    assert_eq!(names.len(), m.categories.len() + 2, "{names:?}");
    assert_eq!(names[0], OVERVIEW_SHEET);
    assert_eq!(names[names.len() - 1], ASSUMPTIONS_SHEET);

    for (c, cat) in m.categories.iter().enumerate() {
        let name = &names[c + 1];
        assert!(name.starts_with(&format!("{} ", cat.no)), "{name}");
        assert!(name.chars().count() <= 31);
        let range = wb.worksheet_range(name).expect("sheet");
        let formulas = wb.worksheet_formula(name).expect("formulas");
        assert!(
            formulas.used_cells().all(|(_, _, f)| f.is_empty()),
            "{name} has formulas"
        );
        let rows: Vec<Vec<String>> = range.rows().map(|r| r.iter().map(text).collect()).collect();
        assert!(rows[0][0].contains(&cat.name));
        assert_eq!(rows[2][..5], CATEGORY_COLUMNS.map(String::from));
        // Every applicable indicator appears once, with its method and criteria.
        let mut scored_sum = 0.0;
        for (i, ind) in m.indicators.iter().enumerate() {
            let found: Vec<&Vec<String>> = rows
                .iter()
                .filter(|r| r[1].starts_with(&format!("{} {}", ind.id, ind.name)))
                .collect();
            match m.points(i, c) {
                None => assert!(found.is_empty(), "{} on {name}", ind.id),
                Some(p) => {
                    assert_eq!(found.len(), 1, "{} on {name}", ind.id);
                    let row = found[0];
                    assert!(row[1].contains(&ind.clause));
                    // Markable indicators say so beneath their criteria.
                    let criteria = if ind.allow_not_applicable {
                        format!("{}\n{}", ind.criteria.trim(), super::NOT_APPLICABLE_NOTE)
                    } else {
                        ind.criteria.trim().to_string()
                    };
                    assert_eq!(row[4], criteria);
                    let method = m
                        .methods
                        .iter()
                        .find(|x| x.id == ind.method)
                        .expect("method");
                    assert!(row[3].starts_with(&method.name), "{}: {}", ind.id, row[3]);
                    if ind.kind == IndicatorKind::Scored {
                        let v: f64 = row[2].parse().expect("points number");
                        assert_eq!((v * 100.0).round() as i64, p, "{}", ind.id);
                        scored_sum += v;
                    }
                }
            }
        }
        let total = rows
            .iter()
            .find(|r| r[1] == "合计（应考分值）")
            .expect("total row");
        let t: f64 = total[2].parse().expect("total");
        assert_eq!((t * 100.0).round() as i64, m.applicable_points(c));
        assert_eq!((scored_sum * 100.0).round() as i64, m.applicable_points(c));
    }

    // Specific content officials will look for.
    let township = wb.worksheet_range(&names[1]).expect("township");
    let cells: Vec<String> = township
        .rows()
        .flat_map(|r| r.iter().map(text).collect::<Vec<_>>())
        .collect();
    assert!(cells.iter().any(|c| c.contains("按期办复率达100%")));
    assert!(cells.iter().any(|c| c.contains("日常评价（按季度）")));
    let village = wb
        .worksheet_range(&names[names.len() - 2])
        .expect("village");
    let v: Vec<String> = village
        .rows()
        .flat_map(|r| r.iter().map(text).collect::<Vec<_>>())
        .collect();
    assert!(v.iter().any(|c| c.contains("换算")), "village is converted");
    assert!(
        !v.iter().any(|c| c.starts_with("C1 ")),
        "no C group for villages"
    );

    let overview = wb.worksheet_range(OVERVIEW_SHEET).expect("overview");
    let o: Vec<String> = overview
        .rows()
        .flat_map(|r| r.iter().map(text).collect::<Vec<_>>())
        .collect();
    assert!(o.iter().any(|c| c.contains("优秀 90分及以上")), "{o:?}");
    assert!(o.iter().any(|c| c.contains("县纪委监委、县委组织部")));

    let assumptions = wb.worksheet_range(ASSUMPTIONS_SHEET).expect("assumptions");
    let a: Vec<Vec<String>> = assumptions
        .rows()
        .map(|r| r.iter().map(text).collect())
        .collect();
    let a08 = a.iter().find(|r| r[0] == "A-08").expect("A-08 row");
    assert!(a08[2].contains("90"));
    assert!(a.iter().any(|r| r[0] == "A-22"));
    assert!(
        wb.worksheet_formula(ASSUMPTIONS_SHEET)
            .expect("f")
            .used_cells()
            .all(|(_, _, f)| f.is_empty())
    );
}

#[test]
fn html_page_is_chinese_and_complete() {
    let r = baofeng();
    let h = &r.html;
    assert!(h.starts_with("<!DOCTYPE html>"));
    assert!(h.contains("<html lang=\"zh-CN\">"));
    assert!(h.contains(&esc(&r.manifest.pack.title)));
    for ind in &r.manifest.indicators {
        assert!(h.contains(&esc(&ind.name)), "{}", ind.id);
    }
    for cat in &r.manifest.categories {
        assert!(
            h.contains(&format!("第{}类：{}", cat.no, esc(&cat.name))),
            "{}",
            cat.id
        );
    }
    assert!(h.contains("假设与选定事项"));
    assert!(h.contains("A-22"));
}

#[test]
fn the_workbook_is_reproducible() {
    assert_eq!(baofeng().xlsx, baofeng().xlsx);
}

#[test]
fn html_escapes_text() {
    assert_eq!(
        esc("<a href=\"x\">&'\n"),
        "&lt;a href=&quot;x&quot;&gt;&amp;&#39;<br>"
    );
}
