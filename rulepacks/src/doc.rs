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
//!
//! Layout:
//! - here: the notes tables, the content both renderings share
//!   ([`category_doc`], [`overview`], [`category_table`]) and the files
//!   ([`render`], [`run`]);
//! - `xlsx`: [`workbook`], the Excel rendering;
//! - `html`: [`html()`], the HTML rendering.

mod html;
mod xlsx;

pub use html::html;
pub use xlsx::workbook;

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::decimal::format_hundredths;
use crate::manifest::{Category, Indicator, IndicatorKind, Manifest};

/// The sheet names that are not categories.
pub const OVERVIEW_SHEET: &str = "说明";
/// The sheet holding the assumptions tables.
pub const ASSUMPTIONS_SHEET: &str = "假设与选定事项";
/// The column headers of a category sheet.
pub const CATEGORY_COLUMNS: [&str; 5] = ["序号", "考核内容", "分值", "考核方法", "评分标准"];

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

/// Appended to the criteria of an indicator the assessor may mark not
/// applicable.
pub const NOT_APPLICABLE_NOTE: &str = "本项不适用于本单位的，考核主体可标记“不适用”并写明理由，本单位应考分值相应减少，按实际考核内容换算（考核方案 五）。";

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
                criteria: if ind.allow_not_applicable {
                    format!("{}\n{NOT_APPLICABLE_NOTE}", ind.criteria.trim())
                } else {
                    ind.criteria.trim().to_string()
                },
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
    let rubric = &crate::rubric::file_of(rubric);
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

#[cfg(test)]
mod tests;
