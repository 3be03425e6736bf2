//! 考核结果通报 PDF：the published results notice, typeset on A4 after the
//! layout of Party and government documents (GB/T 9704: 37/35/28/26 mm
//! margins, 16 pt body on a 22-line page, 22 pt title, red issuer mark and
//! separator, page numbers `— n —`).
//!
//! Two passes: [`Layout`] breaks lines and tables into pages as a display
//! list of positioned text, rules and fills (measuring with the font, and
//! failing on any character the font lacks, naming where it was); then
//! [`write_pdf`] embeds the font subset for exactly the characters used and
//! writes each page's content stream.
//!
//! Line breaking is the Chinese kind: a line may end between any two CJK
//! characters; runs of ASCII (numbers, Latin words) are kept whole; 禁则:
//! no line starts with closing punctuation (，。、；：？！）》」…) and none
//! ends with opening punctuation (（《「…), characters are carried down to
//! the next line instead. Full lines are justified by spreading the slack
//! over the character gaps.
//!
//! Sections: 排名, 等次, 党建引领·比拼四季 (the quarterly leaderboards), 结果
//! 运用, 迟报和未考核; after a reopening, a paragraph naming the approval
//! replaced; at the end, the approval's 文号 and digest.
//!
//! Layout: `layout` (the first pass), `linebreak` (the Chinese line
//! breaking it measures with), `write` (the second pass). This file
//! holds the page geometry and what the notice says, in order.

mod layout;
mod linebreak;
mod write;

use kaohe_rulepacks::rubric::decimal::format_hundredths_fixed;

use self::layout::{Align, Column, Layout, Style};
use self::write::write_pdf;
use super::ExportError;
use super::font::Font;
use super::model::{OutcomeKind, Report, board_tables};

const MM: f32 = 72.0 / 25.4;
const PAGE_W: f32 = 210.0 * MM;
const PAGE_H: f32 = 297.0 * MM;
const TOP: f32 = 37.0 * MM;
const BOTTOM: f32 = 35.0 * MM;
const LEFT: f32 = 28.0 * MM;
const RIGHT: f32 = 26.0 * MM;
const TEXT_W: f32 = PAGE_W - LEFT - RIGHT;
/// The lowest y (from the top) a line may reach.
const FLOOR: f32 = PAGE_H - BOTTOM;

/// 三号 body text, 22 lines to the page.
const BODY: f32 = 16.0;
const BODY_LEADING: f32 = (PAGE_H - TOP - BOTTOM) / 22.0;
/// 二号 title.
const TITLE: f32 = 22.0;
/// 小四 in tables.
const TABLE: f32 = 12.0;
/// 四号 in the 版记 (抄送) and page numbers.
const SMALL: f32 = 14.0;
/// Largest size of the red issuer mark (shrunk to fit the width).
const MARK: f32 = 30.0;

/// Official red.
const RED: (f32, f32, f32) = (0.90, 0.0, 0.07);

/// Renders the notice of `report` in `font`.
pub(crate) fn render(report: &Report, font: &Font) -> Result<Vec<u8>, ExportError> {
    check_names(report, font)?;
    let mut layout = Layout::new(font);
    notice(report, &mut layout)?;
    let pages = layout.finish_with_page_numbers();
    write_pdf(report, font, &pages)
}

/// Every unit name is checked once, up front, so a missing character is
/// reported at the row it came from rather than inside a composed list.
fn check_names(report: &Report, font: &Font) -> Result<(), ExportError> {
    for cat in &report.categories {
        font.check(&cat.name, &|| format!("类别名称「{}」", cat.name))?;
        for (i, row) in cat.rows.iter().enumerate() {
            font.check(&row.unit_name, &|| {
                format!(
                    "类别「{}」第 {} 行（单位编号 {}）的单位名称",
                    cat.name,
                    i + 1,
                    row.unit_id
                )
            })?;
            font.check(&row.grade_name, &|| {
                format!(
                    "类别「{}」第 {} 行（单位编号 {}）的等次",
                    cat.name,
                    i + 1,
                    row.unit_id
                )
            })?;
        }
    }
    for (what, list) in [
        (
            "结果运用",
            report
                .outcomes
                .iter()
                .map(|o| (&o.unit_id, &o.unit_name, &o.reason))
                .collect::<Vec<_>>(),
        ),
        (
            "迟报单位",
            report
                .late_units
                .iter()
                .map(|l| (&l.unit_id, &l.unit_name, &l.detail))
                .collect(),
        ),
        (
            "未考核单位",
            report
                .unassessed
                .iter()
                .map(|u| (&u.unit_id, &u.unit_name, &u.missing))
                .collect(),
        ),
    ] {
        for (i, (id, name, note)) in list.into_iter().enumerate() {
            let at = || format!("{what}第 {} 项（单位编号 {id}）", i + 1);
            font.check(name, &|| format!("{}的单位名称", at()))?;
            font.check(note, &|| format!("{}的说明", at()))?;
        }
    }
    Ok(())
}

/// The notice, top to bottom.
fn notice(report: &Report, l: &mut Layout) -> Result<(), ExportError> {
    // 版头: red issuer mark, 文号, red separator.
    let mark = if report.issuer.is_empty() {
        &report.county
    } else {
        &report.issuer
    };
    l.font.check(mark, &|| "发文机关".to_string())?;
    let size = MARK.min(0.96 * TEXT_W / l.font.width(mark, 1.0).max(1.0));
    l.y += 6.0 * MM;
    l.paragraph(
        mark,
        &Style {
            size,
            leading: size * 1.6,
            indent: 0.0,
            align: Align::Center,
            bold: true,
            red: true,
        },
        &|| "发文机关".into(),
    )?;
    l.y += BODY_LEADING * 0.5;
    if !report.doc_number.is_empty() {
        l.paragraph(
            &report.doc_number,
            &Style {
                indent: 0.0,
                align: Align::Center,
                ..Style::body()
            },
            &|| "文号".into(),
        )?;
    }
    l.y += 4.0;
    l.rule(LEFT, PAGE_W - RIGHT, 1.5, true);
    l.y += BODY_LEADING;

    l.paragraph(
        &report.title,
        &Style {
            size: TITLE,
            leading: TITLE * 1.6,
            indent: 0.0,
            align: Align::Center,
            bold: true,
            ..Style::body()
        },
        &|| "标题".into(),
    )?;
    l.y += BODY_LEADING;

    if !report.recipients.is_empty() {
        l.paragraph(
            &format!("{}：", report.recipients),
            &Style {
                indent: 0.0,
                ..Style::body()
            },
            &|| "主送机关".into(),
        )?;
    }
    for (i, p) in report.intro_or_standard().iter().enumerate() {
        l.paragraph(p, &Style::body(), &|| format!("正文开头第 {} 段", i + 1))?;
    }
    if let Some(text) = report.replaces_text() {
        l.paragraph(&text, &Style::body(), &|| "替代说明".into())?;
    }

    let mut section = 0;
    let mut heading = |l: &mut Layout, text: &str, reserve: f32| -> Result<(), ExportError> {
        section += 1;
        l.keep(BODY_LEADING + reserve);
        l.paragraph(
            &format!("{}、{text}", cn_number(section)),
            &Style {
                bold: true,
                ..Style::body()
            },
            &|| format!("第{}部分标题", cn_number(section)),
        )
    };

    // 一、排名
    let ranked: Vec<_> = report.categories.iter().filter(|c| c.ranked).collect();
    if !ranked.is_empty() {
        heading(l, "各类别考核排名", 0.0)?;
        for (i, cat) in ranked.iter().enumerate() {
            // Keep the sub-heading with the table header and a first row.
            l.keep(BODY_LEADING + 3.0 * TABLE * 2.0);
            l.paragraph(
                &format!("（{}）{}", cn_number(i + 1), cat.name),
                &Style::body(),
                &|| format!("排名表「{}」的标题", cat.name),
            )?;
            let rows: Vec<Vec<String>> = cat
                .rows
                .iter()
                .map(|r| {
                    vec![
                        r.rank.map(|n| n.to_string()).unwrap_or_default(),
                        r.unit_name.clone(),
                        format_hundredths_fixed(r.total),
                        r.grade_name.clone(),
                        if r.late {
                            "迟报".to_string()
                        } else {
                            String::new()
                        },
                    ]
                })
                .collect();
            l.table(&RANKING_COLUMNS, &rows, &|row, col| {
                format!(
                    "排名表「{}」第 {} 行（{}）",
                    cat.name,
                    row + 1,
                    RANKING_COLUMNS[col].title
                )
            })?;
            l.y += BODY_LEADING * 0.5;
        }
    }

    // 二、等次
    let assessed: usize = report.categories.iter().map(|c| c.rows.len()).sum();
    if assessed > 0 {
        heading(l, "考核等次", BODY_LEADING)?;
        let order = report.grade_order();
        let counts: Vec<String> = order
            .iter()
            .map(|g| format!("{g}{}个", report.units_graded(g).len()))
            .collect();
        l.paragraph(
            &format!("本年度共考核{assessed}个单位，其中{}。", counts.join("、")),
            &Style::body(),
            &|| "等次汇总".into(),
        )?;
        for grade in order {
            let units = report.units_graded(grade);
            if units.is_empty() {
                continue;
            }
            l.paragraph(
                &format!("{grade}等次（{}个）：{}。", units.len(), units.join("、")),
                &Style::body(),
                &|| format!("等次「{grade}」名单"),
            )?;
        }
    }

    // 党建引领·比拼四季: one table per ranked category, a column per quarter.
    if !report.leaderboards.is_empty() {
        heading(l, "党建引领·比拼四季季度擂台", BODY_LEADING)?;
        for (i, (category, table)) in board_tables(&report.leaderboards).iter().enumerate() {
            l.keep(BODY_LEADING + 3.0 * TABLE * 2.0);
            l.paragraph(
                &format!("（{}）{category}", cn_number(i + 1)),
                &Style::body(),
                &|| format!("季度擂台「{category}」的标题"),
            )?;
            l.table(&BOARD_COLUMNS, table, &|row, col| {
                format!(
                    "季度擂台「{category}」第 {} 行（{}）",
                    row + 1,
                    BOARD_COLUMNS[col].title
                )
            })?;
            l.y += BODY_LEADING * 0.5;
        }
    }

    /// A unit in a listing: its name, and the note in brackets if any.
    fn named(name: &str, note: &str) -> String {
        if note.is_empty() {
            name.to_owned()
        } else {
            format!("{name}（{note}）")
        }
    }

    // 三、结果运用
    if !report.outcomes.is_empty() {
        heading(l, "考核结果运用", BODY_LEADING)?;
        let mut n = 0;
        for kind in OutcomeKind::ALL {
            let items: Vec<String> = report
                .outcomes
                .iter()
                .filter(|o| o.kind == kind)
                .map(|o| named(o.unit_name.as_str(), &o.reason))
                .collect();
            if items.is_empty() {
                continue;
            }
            n += 1;
            l.paragraph(
                &format!("（{}）{}：{}。", cn_number(n), kind.zh(), items.join("；")),
                &Style::body(),
                &|| format!("结果运用「{}」", kind.zh()),
            )?;
        }
    }

    // 四、迟报和未考核
    if !report.late_units.is_empty() || !report.unassessed.is_empty() {
        heading(l, "迟报和未考核单位", BODY_LEADING)?;
        if !report.late_units.is_empty() {
            let items: Vec<String> = report
                .late_units
                .iter()
                .map(|u| named(u.unit_name.as_str(), &u.detail))
                .collect();
            l.paragraph(
                &format!("迟报单位：{}。", items.join("；")),
                &Style::body(),
                &|| "迟报单位".into(),
            )?;
        }
        for excused in [false, true] {
            let items: Vec<String> = report
                .unassessed
                .iter()
                .filter(|u| u.excused == excused)
                .map(|u| named(u.unit_name.as_str(), &u.missing))
                .collect();
            if items.is_empty() {
                continue;
            }
            let label = if excused {
                "免于考核单位"
            } else {
                "未考核单位"
            };
            l.paragraph(
                &format!("{label}：{}。", items.join("；")),
                &Style::body(),
                &|| label.into(),
            )?;
        }
    }

    for (i, p) in report.closing_or_standard().iter().enumerate() {
        l.paragraph(p, &Style::body(), &|| format!("正文结尾第 {} 段", i + 1))?;
    }

    // 署名 centred over the date, the date 4 characters from the right.
    l.keep(BODY_LEADING * 4.0);
    l.y += BODY_LEADING * 2.0;
    let right = 4.0 * BODY;
    let date_w = l.font.width(&report.published_on, BODY);
    let date_centre = PAGE_W - RIGHT - right - date_w / 2.0;
    for (text, what) in [
        (&report.issuer, "发文机关署名"),
        (&report.published_on, "成文日期"),
    ] {
        if text.is_empty() {
            continue;
        }
        l.font.check(text, &|| what.to_string())?;
        let w = l.font.width(text, BODY);
        let x = (date_centre - w / 2.0).min(PAGE_W - RIGHT - w).max(LEFT);
        if w > TEXT_W {
            l.paragraph(
                text,
                &Style {
                    indent: 0.0,
                    align: Align::Right,
                    ..Style::body()
                },
                &|| what.to_string(),
            )?;
        } else {
            l.keep(BODY_LEADING);
            let baseline = l.baseline(BODY, BODY_LEADING);
            l.text(x, baseline, BODY, text.clone(), 0.0, false, false);
            l.y += BODY_LEADING;
        }
    }

    // 版记: 抄送 and 印发 between rules.
    if !report.copy_to.is_empty() {
        l.keep(SMALL * 2.0 * 3.0);
        l.y += BODY_LEADING;
        l.rule(LEFT, PAGE_W - RIGHT, 0.75, false);
        let style = Style {
            size: SMALL,
            leading: SMALL * 2.0,
            indent: 1.0,
            ..Style::body()
        };
        l.paragraph(
            &format!("抄送：{}。", report.copy_to.join("，")),
            &style,
            &|| "抄送".into(),
        )?;
        l.rule(LEFT, PAGE_W - RIGHT, 0.5, false);
        let printed = format!("{}　　{}印发", report.issuer, report.published_on);
        l.paragraph(
            &printed,
            &Style {
                indent: 0.0,
                align: Align::Right,
                ..style
            },
            &|| "印发机关和日期".into(),
        )?;
        l.rule(LEFT, PAGE_W - RIGHT, 0.75, false);
    }

    // Which approved result this is: the digest the approval recorded, in
    // groups of 16 so that it wraps.
    if !report.approval_sha256.is_empty() {
        let groups: Vec<String> = report
            .approval_sha256
            .as_bytes()
            .chunks(16)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        l.y += BODY_LEADING * 0.5;
        l.paragraph(
            &format!(
                "审定文号 {}，审定汇总 SHA-256：{}",
                report.doc_number,
                groups.join(" ")
            ),
            &Style {
                size: SMALL,
                leading: SMALL * 1.8,
                indent: 0.0,
                ..Style::body()
            },
            &|| "审定汇总摘要".into(),
        )?;
    }
    Ok(())
}

const BOARD_COLUMNS: [Column; 5] = [
    Column {
        title: "单位",
        share: 0.32,
        align: Align::Left,
    },
    Column {
        title: "第一季度",
        share: 0.17,
        align: Align::Center,
    },
    Column {
        title: "第二季度",
        share: 0.17,
        align: Align::Center,
    },
    Column {
        title: "第三季度",
        share: 0.17,
        align: Align::Center,
    },
    Column {
        title: "第四季度",
        share: 0.17,
        align: Align::Center,
    },
];

const RANKING_COLUMNS: [Column; 5] = [
    Column {
        title: "名次",
        share: 0.10,
        align: Align::Center,
    },
    Column {
        title: "单位",
        share: 0.50,
        align: Align::Left,
    },
    Column {
        title: "得分",
        share: 0.14,
        align: Align::Center,
    },
    Column {
        title: "等次",
        share: 0.12,
        align: Align::Center,
    },
    Column {
        title: "备注",
        share: 0.14,
        align: Align::Center,
    },
];

/// `1` → `一`, `12` → `十二`, `20` → `二十` (section numbers up to 99).
fn cn_number(n: usize) -> String {
    const D: [&str; 10] = ["〇", "一", "二", "三", "四", "五", "六", "七", "八", "九"];
    match n {
        0..=9 => D[n].to_string(),
        10..=19 => format!("十{}", if n == 10 { "" } else { D[n % 10] }),
        20..=99 => format!(
            "{}十{}",
            D[n / 10],
            if n.is_multiple_of(10) { "" } else { D[n % 10] }
        ),
        _ => n.to_string(),
    }
}

#[cfg(test)]
mod tests;
