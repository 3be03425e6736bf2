//! `kaohe pack doc`: the rubric as the document officials distribute (考核细则).
//!
//! One parsed rubric, two renderings: an Excel workbook and a self-contained
//! Chinese HTML page. Both come from the same [`Manifest`] (the checked
//! rubric), so the published rubric and the executable pack cannot drift.
//!
//! Workbook layout:
//! - `说明`: pack identity, composition (换算, caps, grade bands), deadlines,
//!   use of results, and the table of categories;
//! - one sheet per category: 序号 · 考核内容 · 分值 · 考核方法 · 评分标准, grouped
//!   by the "1+1+N" groups, with the category's applicable points;
//! - `假设与选定事项`: the tables of the `ASSUMPTIONS.md` beside the rubric, so
//!   officials can tell the scheme's rules from our choices.
//!
//! **Invariant:** every text cell is written with `write_string*`, never as a
//! formula, so a criterion that starts with `=` stays text. Column widths are
//! explicit and sized for Chinese text (≈ 2 width units per character).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use rust_xlsxwriter::{
    DocProperties, ExcelDateTime, Format, FormatAlign, FormatBorder, Workbook, Worksheet, XlsxError,
};

use crate::manifest::{Category, Indicator, IndicatorKind, Manifest};
use crate::rubric::decimal::format_hundredths;

/// The sheet names that are not categories.
pub const OVERVIEW_SHEET: &str = "说明";
/// The sheet holding the assumptions tables.
pub const ASSUMPTIONS_SHEET: &str = "假设与选定事项";
/// The column headers of a category sheet.
pub const CATEGORY_COLUMNS: [&str; 5] = ["序号", "考核内容", "分值", "考核方法", "评分标准"];
/// Widths of the category sheet's columns (Excel character units).
const CATEGORY_WIDTHS: [f64; 5] = [6.0, 34.0, 8.0, 12.0, 90.0];

/// A table taken from a Markdown notes file (`ASSUMPTIONS.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteTable {
    /// The nearest heading above the table (without the `#`s).
    pub title: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// Reads every pipe table of a Markdown file, each under its nearest
/// heading. Inline code marks and emphasis are removed from cells.
pub fn parse_note_tables(markdown: &str) -> Vec<NoteTable> {
    let mut tables = Vec::new();
    let mut title = String::new();
    let mut current: Option<NoteTable> = None;
    for line in markdown.lines() {
        let t = line.trim();
        if t.starts_with('|') {
            let cells = split_row(t);
            let is_rule = cells
                .iter()
                .all(|c| !c.is_empty() && c.chars().all(|ch| matches!(ch, '-' | ':' | ' ')));
            match current.as_mut() {
                None => {
                    current = Some(NoteTable {
                        title: title.clone(),
                        header: cells,
                        rows: Vec::new(),
                    })
                }
                Some(_) if is_rule => {}
                Some(table) => table.rows.push(cells),
            }
            continue;
        }
        if let Some(table) = current.take() {
            tables.push(table);
        }
        if let Some(h) = t.strip_prefix('#') {
            title = h.trim_start_matches('#').trim().to_string();
        }
    }
    if let Some(table) = current.take() {
        tables.push(table);
    }
    tables
}

fn split_row(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|');
    let inner = inner.strip_suffix('|').unwrap_or(inner);
    inner.split('|').map(|c| clean_markdown(c.trim())).collect()
}

fn clean_markdown(text: &str) -> String {
    text.replace("**", "").replace('`', "")
}

/// One row of a category's rubric, as both renderings show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub no: usize,
    /// 考核内容: the indicator's name, id and the scheme clause.
    pub content: String,
    /// 分值: points for scored indicators; a short text otherwise.
    pub points: String,
    /// Points in hundredths (scored indicators only).
    pub points_hundredths: Option<i64>,
    /// 考核方法
    pub method: String,
    /// 评分标准
    pub criteria: String,
}

/// A group of rows under its "1+1+N" heading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub heading: String,
    pub rows: Vec<Row>,
}

/// The rubric of one category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryDoc {
    pub sheet_name: String,
    pub title: String,
    pub summary: String,
    pub sections: Vec<Section>,
    /// Applicable scored points (hundredths).
    pub applicable: i64,
}

const CHINESE_ORDINALS: [&str; 10] = ["一", "二", "三", "四", "五", "六", "七", "八", "九", "十"];

fn ordinal(i: usize) -> String {
    CHINESE_ORDINALS
        .get(i)
        .map(|s| (*s).to_string())
        .unwrap_or_else(|| (i + 1).to_string())
}

/// A worksheet name: at most 31 characters, none of `[]:*?/\`.
fn sheet_name(category: &Category) -> String {
    let raw = format!("{} {}", category.no, category.name);
    let cleaned: String = raw
        .chars()
        .map(|c| if "[]:*?/\\".contains(c) { '_' } else { c })
        .collect();
    if cleaned.chars().count() <= 31 {
        cleaned
    } else {
        let mut s: String = cleaned.chars().take(30).collect();
        s.push('…');
        s
    }
}

fn method_name(m: &Manifest, id: &str) -> String {
    m.methods
        .iter()
        .find(|x| x.id == id)
        .map(|x| {
            if x.quarterly {
                format!("{}（按季度）", x.name)
            } else {
                x.name.clone()
            }
        })
        .unwrap_or_else(|| id.to_string())
}

fn group_name(m: &Manifest, id: &str) -> String {
    m.groups
        .iter()
        .find(|g| g.id == id)
        .map(|g| g.name.clone())
        .unwrap_or_else(|| id.to_string())
}

fn grade_line(m: &Manifest) -> String {
    let g = &m.composition.grades;
    let mut parts = Vec::new();
    for (i, band) in g.iter().enumerate() {
        let lo = format_hundredths(band.min);
        match i.checked_sub(1).and_then(|j| g.get(j)) {
            None => parts.push(format!("{} {lo}分及以上", band.name)),
            Some(above) if i + 1 == g.len() => parts.push(format!(
                "{} 低于{}分",
                band.name,
                format_hundredths(above.min)
            )),
            Some(above) => parts.push(format!(
                "{} {lo}分及以上、低于{}分",
                band.name,
                format_hundredths(above.min)
            )),
        }
    }
    parts.join("；")
}

fn content_text(ind: &Indicator) -> String {
    if ind.clause.is_empty() {
        format!("{} {}", ind.id, ind.name)
    } else {
        format!("{} {}\n（{}）", ind.id, ind.name, ind.clause)
    }
}

/// The rubric of category `c` (index into `m.categories`).
pub fn category_doc(m: &Manifest, c: usize) -> Option<CategoryDoc> {
    let category = m.categories.get(c)?;
    let mut sections = Vec::new();
    let mut no = 0;
    for group in &m.groups {
        if !category.groups.contains(&group.id) {
            continue;
        }
        let mut rows = Vec::new();
        let mut sum = 0;
        let mut has_scored = false;
        for (i, ind) in m.indicators.iter().enumerate() {
            if ind.group != group.id {
                continue;
            }
            let Some(points) = m.points(i, c) else {
                continue;
            };
            no += 1;
            let (points_str, points_hundredths) = match ind.kind {
                IndicatorKind::Scored => {
                    sum += points;
                    has_scored = true;
                    (format_hundredths(points), Some(points))
                }
                IndicatorKind::Bonus => ("加分".to_string(), None),
                IndicatorKind::Penalty => ("减分".to_string(), None),
                IndicatorKind::Flag => ("—".to_string(), None),
            };
            rows.push(Row {
                no,
                content: content_text(ind),
                points: points_str,
                points_hundredths,
                method: method_name(m, &ind.method),
                criteria: ind.criteria.trim().to_string(),
            });
        }
        if rows.is_empty() {
            continue;
        }
        let heading = if has_scored {
            format!(
                "{}、{}（{}分）",
                ordinal(sections.len()),
                group.name,
                format_hundredths(sum)
            )
        } else {
            format!(
                "{}、{}（加分累计不超过{}分，扣分累计原则上不超过{}分）",
                ordinal(sections.len()),
                group.name,
                format_hundredths(m.composition.bonus_cap),
                format_hundredths(m.composition.penalty_cap)
            )
        };
        sections.push(Section { heading, rows });
    }
    let applicable = m.applicable_points(c);
    let full = m.composition.full_marks;
    let conversion = if m.composition.normalise && applicable < full {
        format!(
            "应考分值{}分，不足{}分，按“实得分 × {} ÷ {}”换算（四舍五入到0.01分）后再计加减分",
            format_hundredths(applicable),
            format_hundredths(full),
            format_hundredths(full),
            format_hundredths(applicable)
        )
    } else {
        format!("应考分值{}分", format_hundredths(applicable))
    };
    let ranked = if category.ranked {
        "评定等次并排名"
    } else {
        "只评定等次"
    };
    Some(CategoryDoc {
        sheet_name: sheet_name(category),
        title: format!("{}——第{}类：{}", m.pack.title, category.no, category.name),
        summary: format!(
            "考核内容：{}；{}；{}；考核主体：{}",
            category.groups.join("+"),
            conversion,
            ranked,
            category.assessor.name_zh()
        ),
        sections,
        applicable,
    })
}

/// The overview lines (label, text) shown on the `说明` sheet and the page head.
pub fn overview(m: &Manifest) -> Vec<(String, String)> {
    let comp = &m.composition;
    let s = &m.schedule;
    let o = &m.outcomes;
    let mut lines = vec![
        ("考核细则".to_string(), m.pack.title.clone()),
        ("制定单位".to_string(), m.pack.issuer.clone()),
        (
            "年度与版本".to_string(),
            format!(
                "{}年度，第{}版（规则包 {}）",
                m.pack.year, m.pack.version, m.pack.id
            ),
        ),
        (
            "计分".to_string(),
            format!(
                "百分制（满分{}分）。各指标扣分扣完为止；实际考核内容不足{}分的，按实得分换算为百分制后，再加加分、减减分。",
                format_hundredths(comp.full_marks),
                format_hundredths(comp.full_marks)
            ),
        ),
        (
            "加减分".to_string(),
            format!(
                "加分累计不超过{}分；扣分累计原则上不超过{}分；情节严重的，不得被评为{}等次。",
                format_hundredths(comp.bonus_cap),
                format_hundredths(comp.penalty_cap),
                m.composition
                    .grades
                    .iter()
                    .find(|g| g.id == comp.serious_case_bars)
                    .map(|g| g.name.as_str())
                    .unwrap_or(comp.serious_case_bars.as_str())
            ),
        ),
        ("等次".to_string(), grade_line(m)),
        (
            "核实与复核".to_string(),
            format!(
                "考核对象在{}个工作日内核实；有异议的，{}个工作日内申请复核并提供证明材料（{}）；复核在{}个工作日内作出决定。",
                s.verification_days,
                s.review_request_days,
                match s.review_request_runs {
                    crate::manifest::ReviewRuns::Alongside => "与核实期同时起算",
                    crate::manifest::ReviewRuns::After => "核实期满后起算",
                },
                s.review_decision_days
            ),
        ),
        (
            "结果运用".to_string(),
            format!(
                "排名最后{}名和比上年退步{}分及以上的通报警示；连续{}年优秀的报请通报表扬或奖励；考核结果抄送{}。",
                o.warn_bottom,
                format_hundredths(o.big_regression_points),
                o.commend_consecutive_excellent,
                o.copy_list.join("、")
            ),
        ),
    ];
    let grade_names = |ids: &[String]| -> String {
        ids.iter()
            .map(|id| {
                m.composition
                    .grades
                    .iter()
                    .find(|g| &g.id == id)
                    .map(|g| g.name.clone())
                    .unwrap_or_else(|| id.clone())
            })
            .collect::<Vec<_>>()
            .join("、")
    };
    let mut more = Vec::new();
    if !o.letter_grades.is_empty() {
        more.push(format!(
            "考核等次为{}的，制发法治建议书",
            grade_names(&o.letter_grades)
        ));
    }
    if !o.admonish_grades.is_empty() {
        more.push(format!(
            "考核等次为{}或发生重大法治问题的，约谈、责令整改、通报批评",
            grade_names(&o.admonish_grades)
        ));
    }
    if !o.recommend_categories.is_empty() {
        let cats: Vec<String> = o
            .recommend_categories
            .iter()
            .map(|id| {
                m.categories
                    .iter()
                    .find(|c| &c.id == id)
                    .map(|c| format!("第{}类", c.no))
                    .unwrap_or_else(|| id.clone())
            })
            .collect();
        more.push(format!(
            "{}连续{}年优秀的，优先向省、市推荐创建依法行政示范单位、法治政府建设示范项目",
            cats.join("、"),
            o.recommend_township_consecutive_excellent
        ));
    }
    let supervised: Vec<String> = m
        .categories
        .iter()
        .filter(|c| c.copy_to_supervisor)
        .map(|c| format!("第{}类", c.no))
        .collect();
    if !supervised.is_empty() {
        more.push(format!(
            "{}的考核结果同时抄送有关主管部门",
            supervised.join("、")
        ));
    }
    if !more.is_empty() {
        lines.push((
            "结果运用（续）".to_string(),
            format!("{}。", more.join("；")),
        ));
    }
    let quarterly: Vec<String> = m
        .methods
        .iter()
        .filter(|x| x.quarterly)
        .map(|x| x.name.clone())
        .collect();
    if !quarterly.is_empty() {
        lines.push((
            "季度评价".to_string(),
            format!(
                "{}按季度评分，年度得分由四个季度合成（{}）。",
                quarterly.join("、"),
                m.methods
                    .iter()
                    .filter_map(|x| x.combine.map(|c| match c {
                        crate::manifest::Combine::Mean => "取平均值",
                        crate::manifest::Combine::Sum => "求和",
                        crate::manifest::Combine::Last => "取第四季度",
                    }))
                    .next()
                    .unwrap_or("")
            ),
        ));
    }
    lines
}

/// The table of categories on the overview: 类别, 名称, 考核内容, 应考分值, 排名, 考核主体.
pub fn category_table(m: &Manifest) -> (Vec<String>, Vec<Vec<String>>) {
    let header = [
        "序号",
        "考核对象类别",
        "考核内容",
        "应考分值",
        "是否排名",
        "考核主体",
    ]
    .map(String::from)
    .to_vec();
    let rows = m
        .categories
        .iter()
        .enumerate()
        .map(|(c, cat)| {
            vec![
                cat.no.to_string(),
                cat.name.clone(),
                cat.groups
                    .iter()
                    .map(|g| format!("{g} {}", group_name(m, g)))
                    .collect::<Vec<_>>()
                    .join("\n"),
                format_hundredths(m.applicable_points(c)),
                if cat.ranked { "排名" } else { "只评等次" }.to_string(),
                cat.assessor.name_zh().to_string(),
            ]
        })
        .collect();
    (header, rows)
}

// ───────────────────────────── Excel ─────────────────────────────

struct Formats {
    title: Format,
    note: Format,
    header: Format,
    section: Format,
    cell: Format,
    center: Format,
    number: Format,
    total: Format,
}

impl Formats {
    fn new() -> Formats {
        let base = Format::new()
            .set_font_name("宋体")
            .set_font_size(11)
            .set_text_wrap()
            .set_align(FormatAlign::Top);
        let bordered = base.clone().set_border(FormatBorder::Thin);
        Formats {
            title: base
                .clone()
                .set_font_size(16)
                .set_bold()
                .set_align(FormatAlign::Center)
                .set_align(FormatAlign::VerticalCenter),
            note: base.clone(),
            header: bordered
                .clone()
                .set_bold()
                .set_background_color(0xD9E1F2)
                .set_align(FormatAlign::Center)
                .set_align(FormatAlign::VerticalCenter),
            section: bordered.clone().set_bold().set_background_color(0xF2F2F2),
            cell: bordered.clone(),
            center: bordered.clone().set_align(FormatAlign::Center),
            number: bordered
                .clone()
                .set_align(FormatAlign::Center)
                .set_num_format("0.##"),
            total: bordered.set_bold(),
        }
    }
}

/// A rough row height (points) for wrapped Chinese text in a column of
/// `width` units: Excel does not grow rows for wrapped text written by
/// rust_xlsxwriter, so the height is set explicitly.
fn row_height(texts: &[(&str, f64)]) -> f64 {
    let lines = texts
        .iter()
        .map(|(text, width)| {
            let per_line = (width / 2.0).max(1.0);
            text.split('\n')
                .map(|l| {
                    let units: f64 = l
                        .chars()
                        .map(|c| if c.is_ascii() { 0.5 } else { 1.0 })
                        .sum();
                    (units / per_line).ceil().max(1.0)
                })
                .sum::<f64>()
        })
        .fold(1.0, f64::max);
    (lines * 15.0).min(409.0)
}

fn write_category_sheet(
    ws: &mut Worksheet,
    doc: &CategoryDoc,
    f: &Formats,
) -> Result<(), XlsxError> {
    ws.set_name(&doc.sheet_name)?;
    for (col, width) in CATEGORY_WIDTHS.iter().enumerate() {
        ws.set_column_width(col as u16, *width)?;
    }
    ws.set_landscape();
    ws.set_paper_size(9); // A4
    ws.merge_range(0, 0, 0, 4, &doc.title, &f.title)?;
    ws.set_row_height(0, 30)?;
    ws.merge_range(1, 0, 1, 4, &doc.summary, &f.note)?;
    ws.set_row_height(1, row_height(&[(&doc.summary, 150.0)]))?;
    for (col, h) in CATEGORY_COLUMNS.iter().enumerate() {
        ws.write_string_with_format(2, col as u16, *h, &f.header)?;
    }
    ws.set_repeat_rows(2, 2)?;
    ws.set_freeze_panes(3, 0)?;
    let mut r: u32 = 3;
    for section in &doc.sections {
        ws.merge_range(r, 0, r, 4, &section.heading, &f.section)?;
        r += 1;
        for row in &section.rows {
            ws.write_string_with_format(r, 0, row.no.to_string(), &f.center)?;
            ws.write_string_with_format(r, 1, &row.content, &f.cell)?;
            match row.points_hundredths {
                // Display only: the points of the published rubric, never a score.
                Some(p) => ws.write_number_with_format(r, 2, p as f64 / 100.0, &f.number)?,
                None => ws.write_string_with_format(r, 2, &row.points, &f.center)?,
            };
            ws.write_string_with_format(r, 3, &row.method, &f.center)?;
            ws.write_string_with_format(r, 4, &row.criteria, &f.cell)?;
            ws.set_row_height(
                r,
                row_height(&[
                    (&row.content, CATEGORY_WIDTHS[1]),
                    (&row.criteria, CATEGORY_WIDTHS[4]),
                ]),
            )?;
            r += 1;
        }
    }
    ws.write_string_with_format(r, 0, "", &f.total)?;
    ws.write_string_with_format(r, 1, "合计（应考分值）", &f.total)?;
    ws.write_number_with_format(r, 2, doc.applicable as f64 / 100.0, &f.number)?;
    ws.write_string_with_format(r, 3, "", &f.total)?;
    ws.write_string_with_format(r, 4, "", &f.total)?;
    Ok(())
}

fn write_table(
    ws: &mut Worksheet,
    start: u32,
    header: &[String],
    rows: &[Vec<String>],
    widths: &[f64],
    f: &Formats,
) -> Result<u32, XlsxError> {
    let mut r = start;
    for (col, h) in header.iter().enumerate() {
        ws.write_string_with_format(r, col as u16, h, &f.header)?;
    }
    r += 1;
    for row in rows {
        let mut texts = Vec::new();
        for (col, cell) in row.iter().enumerate() {
            ws.write_string_with_format(r, col as u16, cell, &f.cell)?;
            texts.push((cell.as_str(), widths.get(col).copied().unwrap_or(20.0)));
        }
        ws.set_row_height(r, row_height(&texts))?;
        r += 1;
    }
    Ok(r)
}

/// Renders the workbook. `notes` are the tables of `ASSUMPTIONS.md` (may be
/// empty; the assumptions sheet then says so).
pub fn workbook(m: &Manifest, notes: &[NoteTable]) -> Result<Vec<u8>, XlsxError> {
    let f = Formats::new();
    let mut wb = Workbook::new();
    // A fixed creation date keeps the bytes reproducible.
    let created = ExcelDateTime::from_ymd(m.pack.year.clamp(1900, 9999) as u16, 1, 1)?;
    wb.set_properties(
        &DocProperties::new()
            .set_title(&m.pack.title)
            .set_author(&m.pack.issuer)
            .set_company(&m.pack.issuer)
            .set_creation_datetime(&created),
    );

    // 说明
    let ws = wb.add_worksheet();
    ws.set_name(OVERVIEW_SHEET)?;
    let widths = [14.0, 40.0, 40.0, 10.0, 10.0, 12.0];
    for (col, w) in widths.iter().enumerate() {
        ws.set_column_width(col as u16, *w)?;
    }
    ws.merge_range(0, 0, 0, 5, &m.pack.title, &f.title)?;
    ws.set_row_height(0, 30)?;
    let mut r = 1;
    for (label, text) in overview(m) {
        ws.write_string_with_format(r, 0, &label, &f.header)?;
        ws.merge_range(r, 1, r, 5, &text, &f.cell)?;
        ws.set_row_height(r, row_height(&[(&text, 110.0)]))?;
        r += 1;
    }
    r += 1;
    let (header, rows) = category_table(m);
    write_table(ws, r, &header, &rows, &widths, &f)?;

    // one sheet per category
    for c in 0..m.categories.len() {
        if let Some(doc) = category_doc(m, c) {
            let ws = wb.add_worksheet();
            write_category_sheet(ws, &doc, &f)?;
        }
    }

    // 假设与选定事项
    let ws = wb.add_worksheet();
    ws.set_name(ASSUMPTIONS_SHEET)?;
    let widths = [10.0, 30.0, 40.0, 60.0, 24.0];
    for (col, w) in widths.iter().enumerate() {
        ws.set_column_width(col as u16, *w)?;
    }
    let mut r = 0;
    if notes.is_empty() {
        ws.write_string_with_format(0, 0, "（本规则包未附假设与选定事项表）", &f.note)?;
    }
    for table in notes {
        let last = table.header.len().saturating_sub(1).max(1) as u16;
        ws.merge_range(r, 0, r, last, &table.title, &f.section)?;
        r += 1;
        r = write_table(ws, r, &table.header, &table.rows, &widths, &f)?;
        r += 1;
    }
    wb.save_to_buffer()
}

// ───────────────────────────── files ─────────────────────────────

/// The notes file read beside a rubric.
pub const NOTES_FILE: &str = "ASSUMPTIONS.md";

/// Both renderings of one rubric.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub manifest: Manifest,
    pub xlsx: Vec<u8>,
    pub html: String,
}

/// Compiles the rubric at `rubric` and renders it, with the tables of the
/// `ASSUMPTIONS.md` beside it when there is one.
pub fn render(rubric: &Path) -> anyhow::Result<Rendered> {
    let source = std::fs::read_to_string(rubric)
        .with_context(|| format!("读取考核细则源文件 {}（read rubric）", rubric.display()))?;
    let checked = crate::rubric::compile(&rubric.display().to_string(), &source)
        .map_err(|d| anyhow::anyhow!("{}", d.render()))?;
    let notes_path = rubric.with_file_name(NOTES_FILE);
    let notes = match std::fs::read_to_string(&notes_path) {
        Ok(md) => parse_note_tables(&md),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            return Err(e).with_context(|| format!("读取 {}（read notes）", notes_path.display()));
        }
    };
    let m = checked.manifest;
    let xlsx = workbook(&m, &notes).context("生成 Excel 考核细则（render workbook）")?;
    let html = html(&m, &notes);
    Ok(Rendered {
        manifest: m,
        xlsx,
        html,
    })
}

/// `kaohe pack doc`: writes `<id>-<year>-考核细则.xlsx` and `.html` into
/// `out_dir` and returns their paths.
pub fn run(rubric: &Path, out_dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let r = render(rubric)?;
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("创建输出目录 {}（create output dir）", out_dir.display()))?;
    let stem = format!("{}-{}-考核细则", r.manifest.pack.id, r.manifest.pack.year);
    let xlsx = out_dir.join(format!("{stem}.xlsx"));
    let html = out_dir.join(format!("{stem}.html"));
    std::fs::write(&xlsx, &r.xlsx).with_context(|| format!("写入 {}（write）", xlsx.display()))?;
    std::fs::write(&html, &r.html).with_context(|| format!("写入 {}（write）", html.display()))?;
    Ok(vec![xlsx, html])
}

// ───────────────────────────── HTML ─────────────────────────────

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' => out.push_str("<br>"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:\"Noto Serif CJK SC\",\"Source Han Serif SC\",SimSun,\"宋体\",serif;margin:2em auto;max-width:72em;line-height:1.6;color:#111}\
h1{text-align:center;font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #999}\
table{border-collapse:collapse;width:100%;margin:1em 0}th,td{border:1px solid #666;padding:.3em .5em;vertical-align:top}\
th{background:#d9e1f2}td.c{text-align:center;white-space:nowrap}tr.s td{background:#f2f2f2;font-weight:bold}\
dl{display:grid;grid-template-columns:8em 1fr;gap:.3em 1em}dt{font-weight:bold}dd{margin:0}\
nav a{margin-right:1em}@media print{nav{display:none}h2{page-break-before:always}}";

/// Renders the HTML page (UTF-8, self-contained, Chinese).
pub fn html(m: &Manifest, notes: &[NoteTable]) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        esc(&m.pack.title),
        esc(&m.pack.title)
    );
    h.push_str("<dl>\n");
    for (label, text) in overview(m) {
        let _ = writeln!(h, "<dt>{}</dt><dd>{}</dd>", esc(&label), esc(&text));
    }
    h.push_str("</dl>\n<nav>");
    for (c, cat) in m.categories.iter().enumerate() {
        let _ = write!(h, "<a href=\"#c{c}\">第{}类</a>", cat.no);
    }
    if !notes.is_empty() {
        h.push_str("<a href=\"#assumptions\">假设与选定事项</a>");
    }
    h.push_str("</nav>\n<h2>考核对象类别</h2>\n");
    let (header, rows) = category_table(m);
    html_table(&mut h, &header, &rows);
    for c in 0..m.categories.len() {
        let Some(doc) = category_doc(m, c) else {
            continue;
        };
        let _ = writeln!(
            h,
            "<h2 id=\"c{c}\">{}</h2>\n<p>{}</p>",
            esc(&doc.title),
            esc(&doc.summary)
        );
        h.push_str("<table>\n<tr>");
        for col in CATEGORY_COLUMNS {
            let _ = write!(h, "<th>{col}</th>");
        }
        h.push_str("</tr>\n");
        for section in &doc.sections {
            let _ = writeln!(
                h,
                "<tr class=\"s\"><td colspan=\"5\">{}</td></tr>",
                esc(&section.heading)
            );
            for row in &section.rows {
                let _ = writeln!(
                    h,
                    "<tr><td class=\"c\">{}</td><td>{}</td><td class=\"c\">{}</td><td class=\"c\">{}</td><td>{}</td></tr>",
                    row.no,
                    esc(&row.content),
                    esc(&row.points),
                    esc(&row.method),
                    esc(&row.criteria)
                );
            }
        }
        let _ = writeln!(
            h,
            "<tr class=\"s\"><td></td><td>合计（应考分值）</td><td class=\"c\">{}</td><td></td><td></td></tr>\n</table>",
            format_hundredths(doc.applicable)
        );
    }
    if !notes.is_empty() {
        h.push_str("<h2 id=\"assumptions\">假设与选定事项</h2>\n");
        for table in notes {
            let _ = writeln!(h, "<h3>{}</h3>", esc(&table.title));
            html_table(&mut h, &table.header, &table.rows);
        }
    }
    h.push_str("</body>\n</html>\n");
    h
}

fn html_table(h: &mut String, header: &[String], rows: &[Vec<String>]) {
    h.push_str("<table>\n<tr>");
    for col in header {
        let _ = write!(h, "<th>{}</th>", esc(col));
    }
    h.push_str("</tr>\n");
    for row in rows {
        h.push_str("<tr>");
        for cell in row {
            let _ = write!(h, "<td>{}</td>", esc(cell));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n");
}

#[cfg(test)]
mod tests {
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
            let rows: Vec<Vec<String>> =
                range.rows().map(|r| r.iter().map(text).collect()).collect();
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
                        assert_eq!(row[4], ind.criteria.trim());
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
}
