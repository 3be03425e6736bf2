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

use std::collections::{BTreeSet, VecDeque};

use pdf_writer::types::TextRenderingMode;
use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref, Str, TextStr};

use super::ExportError;
use super::font::{Font, deflate};
use kaohe_rulepacks::rubric::decimal::format_hundredths_fixed;

use super::model::{OutcomeKind, Report};

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
    Ok(())
}

struct Column {
    title: &'static str,
    /// Share of the text width.
    share: f32,
    align: Align,
}

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

#[derive(Clone, Copy, PartialEq, Eq)]
enum Align {
    Left,
    Center,
    Right,
    /// Left, full lines stretched to the width.
    Justify,
}

#[derive(Clone, Copy)]
struct Style {
    size: f32,
    leading: f32,
    /// First-line indent in ems.
    indent: f32,
    align: Align,
    bold: bool,
    red: bool,
}

impl Style {
    fn body() -> Style {
        Style {
            size: BODY,
            leading: BODY_LEADING,
            indent: 2.0,
            align: Align::Justify,
            bold: false,
            red: false,
        }
    }
}

/// One positioned thing on a page; y from the top of the page.
#[derive(Debug, Clone, PartialEq)]
enum Op {
    Text {
        x: f32,
        baseline: f32,
        size: f32,
        text: String,
        spacing: f32,
        bold: bool,
        red: bool,
    },
    Rule {
        x1: f32,
        y1: f32,
        x2: f32,
        y2: f32,
        width: f32,
        red: bool,
    },
    Fill {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        gray: f32,
    },
}

struct Layout<'f> {
    font: &'f Font<'f>,
    pages: Vec<Vec<Op>>,
    /// Top of the next line box on the current page.
    y: f32,
}

impl<'f> Layout<'f> {
    fn new(font: &'f Font<'f>) -> Layout<'f> {
        Layout {
            font,
            pages: vec![Vec::new()],
            y: TOP,
        }
    }

    fn new_page(&mut self) {
        self.pages.push(Vec::new());
        self.y = TOP;
    }

    /// Starts a new page unless `height` more fits on this one.
    fn keep(&mut self, height: f32) {
        if self.y + height > FLOOR && self.y > TOP {
            self.new_page();
        }
    }

    fn push(&mut self, op: Op) {
        self.pages.last_mut().expect("a page").push(op);
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "one draw call, positional like the PDF operators"
    )]
    fn text(
        &mut self,
        x: f32,
        baseline: f32,
        size: f32,
        text: String,
        spacing: f32,
        bold: bool,
        red: bool,
    ) {
        self.push(Op::Text {
            x,
            baseline,
            size,
            text,
            spacing,
            bold,
            red,
        });
    }

    fn rule(&mut self, x1: f32, x2: f32, width: f32, red: bool) {
        let y = self.y;
        self.push(Op::Rule {
            x1,
            y1: y,
            x2,
            y2: y,
            width,
            red,
        });
    }

    /// The baseline that centres a line of `size` in a box of `leading`
    /// starting at the current y: the CJK em box spans ascender-ish 0.88 em
    /// above to 0.12 em below the baseline.
    fn baseline(&self, size: f32, leading: f32) -> f32 {
        self.y + (leading - size) / 2.0 + size * 0.88
    }

    fn paragraph(
        &mut self,
        text: &str,
        style: &Style,
        location: &dyn Fn() -> String,
    ) -> Result<(), ExportError> {
        self.font.check(text, location)?;
        let indent = style.indent * style.size;
        let mut lines = break_lines(self.font, text, style.size, TEXT_W - indent, TEXT_W);
        if style.align == Align::Center && lines.len() > 1 {
            lines = balanced(self.font, text, style.size, lines);
        }
        for (i, line) in lines.iter().enumerate() {
            self.keep(style.leading);
            let left = if i == 0 { LEFT + indent } else { LEFT };
            let avail = PAGE_W - RIGHT - left;
            let (x, spacing) = place(line, style.align, left, avail);
            let baseline = self.baseline(style.size, style.leading);
            self.text(
                x,
                baseline,
                style.size,
                line.text.clone(),
                spacing,
                style.bold,
                style.red,
            );
            self.y += style.leading;
        }
        Ok(())
    }

    /// A ruled table; its header row is repeated at the top of every page
    /// the table continues on. A row is never split across pages.
    fn table(
        &mut self,
        columns: &[Column],
        rows: &[Vec<String>],
        location: &dyn Fn(usize, usize) -> String,
    ) -> Result<(), ExportError> {
        const PAD: f32 = 4.0;
        let line_h = TABLE * 1.45;
        let widths: Vec<f32> = columns.iter().map(|c| c.share * TEXT_W).collect();
        let font = self.font;
        let lay_row = |cells: &[String],
                       at: &dyn Fn(usize) -> String|
         -> Result<(Vec<Vec<Line>>, f32), ExportError> {
            let mut out = Vec::new();
            let mut n = 1;
            for (col, w) in widths.iter().enumerate() {
                let text = cells.get(col).map(String::as_str).unwrap_or("");
                font.check(text, &|| at(col))?;
                let lines = break_lines(font, text, TABLE, w - 2.0 * PAD, w - 2.0 * PAD);
                n = n.max(lines.len());
                out.push(lines);
            }
            Ok((out, n as f32 * line_h + 2.0 * PAD))
        };
        let titles: Vec<String> = columns.iter().map(|c| c.title.to_string()).collect();
        let (header, header_h) =
            lay_row(&titles, &|col| format!("表头「{}」", columns[col].title))?;
        let draw_row = |l: &mut Layout<'f>, cells: &[Vec<Line>], h: f32, header: bool| {
            let top = l.y;
            if header {
                l.push(Op::Fill {
                    x: LEFT,
                    y: top,
                    w: TEXT_W,
                    h,
                    gray: 0.88,
                });
            }
            let mut x = LEFT;
            for (col, lines) in cells.iter().enumerate() {
                let align = if header {
                    Align::Center
                } else {
                    columns[col].align
                };
                // Vertically centre the cell's lines in the row.
                let mut y = top + (h - lines.len() as f32 * line_h) / 2.0;
                for line in lines {
                    let (tx, spacing) = place(line, align, x + PAD, widths[col] - 2.0 * PAD);
                    let baseline = y + (line_h - TABLE) / 2.0 + TABLE * 0.88;
                    l.text(
                        tx,
                        baseline,
                        TABLE,
                        line.text.clone(),
                        spacing,
                        header,
                        false,
                    );
                    y += line_h;
                }
                x += widths[col];
            }
            // Rules: top, bottom, and every column boundary.
            let bottom = top + h;
            for y in [top, bottom] {
                l.push(Op::Rule {
                    x1: LEFT,
                    y1: y,
                    x2: LEFT + TEXT_W,
                    y2: y,
                    width: 0.6,
                    red: false,
                });
            }
            let mut x = LEFT;
            for w in std::iter::once(0.0).chain(widths.iter().copied()) {
                x += w;
                l.push(Op::Rule {
                    x1: x,
                    y1: top,
                    x2: x,
                    y2: bottom,
                    width: 0.6,
                    red: false,
                });
            }
            l.y = bottom;
        };
        self.keep(header_h + line_h + 2.0 * PAD);
        draw_row(self, &header, header_h, true);
        for (r, cells) in rows.iter().enumerate() {
            let (laid, h) = lay_row(cells, &|col| location(r, col))?;
            if header_h + h > FLOOR - TOP {
                return Err(ExportError::RowTooTall {
                    location: location(r, 1),
                });
            }
            if self.y + h > FLOOR {
                self.new_page();
                draw_row(self, &header, header_h, true);
            }
            draw_row(self, &laid, h, false);
        }
        Ok(())
    }

    /// The pages, each with its number `— n —` 7 mm below the text area.
    fn finish_with_page_numbers(mut self) -> Vec<Vec<Op>> {
        for (i, page) in self.pages.iter_mut().enumerate() {
            let text = format!("— {} —", i + 1);
            let w = self.font.width(&text, SMALL);
            page.push(Op::Text {
                x: (PAGE_W - w) / 2.0,
                baseline: FLOOR + 7.0 * MM + SMALL * 0.88,
                size: SMALL,
                text,
                spacing: 0.0,
                bold: false,
                red: false,
            });
        }
        self.pages
    }
}

/// A centred title over several lines reads best with lines of even
/// length: the narrowest measure that still gives as many lines.
fn balanced(font: &Font, text: &str, size: f32, lines: Vec<Line>) -> Vec<Line> {
    let mut best = lines;
    let mut width = TEXT_W;
    while width > size * 4.0 {
        width -= size;
        let narrower = break_lines(font, text, size, width, width);
        if narrower.len() != best.len() {
            break;
        }
        best = narrower;
    }
    best
}

/// Where a line starts and the extra space between its characters.
fn place(line: &Line, align: Align, left: f32, avail: f32) -> (f32, f32) {
    let slack = (avail - line.width).max(0.0);
    match align {
        Align::Left => (left, 0.0),
        Align::Center => (left + slack / 2.0, 0.0),
        Align::Right => (left + slack, 0.0),
        Align::Justify => {
            let gaps = line.text.chars().count().saturating_sub(1) as f32;
            // Stretch full lines only, and never into visible gaps (a line
            // cut short by a long unbreakable run stays ragged).
            if line.last || gaps == 0.0 || slack / gaps > line.size * 0.25 {
                (left, 0.0)
            } else {
                (left, slack / gaps)
            }
        }
    }
}

/// One line of a broken paragraph.
#[derive(Debug, Clone, PartialEq)]
struct Line {
    text: String,
    /// Natural width at `size`.
    width: f32,
    size: f32,
    /// Last line of its paragraph (not justified).
    last: bool,
}

/// No line may start with these (行首禁则).
fn no_line_start(c: char) -> bool {
    "，。、；：？！）》」』”’〕】〉］｝…—·％,.;:?!)]}%、～".contains(c)
}

/// No line may end with these (行尾禁则).
fn no_line_end(c: char) -> bool {
    "（《「『“‘〔【〈［｛([{".contains(c)
}

/// A piece a line may not be broken inside: one CJK character or
/// punctuation mark, one space, or a run of ASCII graphic characters
/// (a number such as `95.50`, a Latin word, an identifier).
#[derive(Debug, Clone)]
struct Token {
    text: String,
    width: f32,
    space: bool,
}

impl Token {
    fn first(&self) -> char {
        self.text.chars().next().unwrap_or(' ')
    }
    fn last(&self) -> char {
        self.text.chars().last().unwrap_or(' ')
    }
}

fn tokens(font: &Font, text: &str, size: f32) -> Vec<Token> {
    let mut out: Vec<Token> = Vec::new();
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut Vec<Token>| {
        if !run.is_empty() {
            out.push(Token {
                width: font.width(run, size),
                text: std::mem::take(run),
                space: false,
            });
        }
    };
    for c in text.chars() {
        if c.is_ascii_graphic() {
            run.push(c);
            continue;
        }
        flush(&mut run, &mut out);
        let s = c.to_string();
        out.push(Token {
            width: font.width(&s, size),
            text: s,
            space: c == ' ',
        });
    }
    flush(&mut run, &mut out);
    out
}

/// Breaks `text` into lines: the first `first_width` wide, the rest
/// `width`; `\n` forces a break. Always at least one line.
fn break_lines(font: &Font, text: &str, size: f32, first_width: f32, width: f32) -> Vec<Line> {
    let mut lines = Vec::new();
    for (p, para) in text.split('\n').enumerate() {
        let first = if p == 0 { first_width } else { width };
        break_paragraph(
            font,
            para.trim_end_matches('\r'),
            size,
            first,
            width,
            &mut lines,
        );
    }
    lines
}

fn break_paragraph(
    font: &Font,
    text: &str,
    size: f32,
    first_width: f32,
    width: f32,
    lines: &mut Vec<Line>,
) {
    const EPS: f32 = 0.01;
    let mut queue: VecDeque<Token> = tokens(font, text, size).into();
    let mut cur: Vec<Token> = Vec::new();
    let emit = |cur: &mut Vec<Token>, lines: &mut Vec<Line>, last: bool| {
        while cur.last().is_some_and(|t| t.space) {
            cur.pop();
        }
        let text: String = cur.iter().map(|t| t.text.as_str()).collect();
        let width = cur.iter().map(|t| t.width).sum();
        lines.push(Line {
            text,
            width,
            size,
            last,
        });
        cur.clear();
    };
    while let Some(tok) = queue.pop_front() {
        let avail = if lines.is_empty() { first_width } else { width };
        let used: f32 = cur.iter().map(|t| t.width).sum();
        if used + tok.width <= avail + EPS {
            if !(cur.is_empty() && tok.space) {
                cur.push(tok);
            }
            continue;
        }
        if tok.space {
            emit(&mut cur, lines, false);
            continue;
        }
        // A run too long for any line is cut into characters.
        if tok.width > avail + EPS && tok.text.chars().count() > 1 {
            for c in tok.text.chars().rev() {
                let s = c.to_string();
                queue.push_front(Token {
                    width: font.width(&s, size),
                    text: s,
                    space: false,
                });
            }
            continue;
        }
        if cur.is_empty() {
            // A single character wider than the line: it goes alone.
            cur.push(tok);
            emit(&mut cur, lines, false);
            continue;
        }
        // Break before `tok`, carrying characters down so that the next
        // line does not start with a closing mark and this one does not
        // end with an opening mark.
        let mut carry = vec![tok];
        while cur.len() > 1 && no_line_start(carry[0].first()) {
            carry.insert(0, cur.pop().expect("len > 1"));
        }
        while cur.len() > 1 && no_line_end(cur.last().expect("len > 1").last()) {
            carry.insert(0, cur.pop().expect("len > 1"));
        }
        emit(&mut cur, lines, false);
        for t in carry.into_iter().rev() {
            queue.push_front(t);
        }
    }
    if !cur.is_empty() || lines.is_empty() || lines.last().is_some_and(|l| !l.last) {
        emit(&mut cur, lines, true);
    }
}

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

/// Writes the pages with the font subset for the characters they use.
fn write_pdf(report: &Report, font: &Font, pages: &[Vec<Op>]) -> Result<Vec<u8>, ExportError> {
    let mut next = 0;
    let mut next_ref = || {
        next += 1;
        Ref::new(next)
    };
    let catalog = next_ref();
    let tree = next_ref();
    let info = next_ref();
    let type0 = next_ref();
    let page_refs: Vec<(Ref, Ref)> = pages.iter().map(|_| (next_ref(), next_ref())).collect();

    let mut pdf = Pdf::new();
    let chars: BTreeSet<char> = pages
        .iter()
        .flatten()
        .filter_map(|op| match op {
            Op::Text { text, .. } => Some(text.chars()),
            _ => None,
        })
        .flatten()
        .collect();
    let cids = font.embed(&mut pdf, type0, &mut next_ref, chars)?;

    pdf.catalog(catalog).pages(tree).lang(TextStr("zh-CN"));
    pdf.pages(tree)
        .kids(page_refs.iter().map(|(p, _)| *p))
        .count(pages.len() as i32);
    pdf.document_info(info)
        .title(TextStr(&report.title))
        .author(TextStr(&report.issuer))
        .creator(TextStr("kaohe"));

    let font_name = Name(b"F1");
    for (ops, (page_ref, content_ref)) in pages.iter().zip(&page_refs) {
        let mut page = pdf.page(*page_ref);
        page.parent(tree)
            .media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H))
            .contents(*content_ref);
        page.resources().fonts().pair(font_name, type0);
        page.finish();

        let mut c = Content::new();
        for op in ops {
            match op {
                Op::Fill { x, y, w, h, gray } => {
                    c.set_fill_gray(*gray);
                    c.rect(*x, PAGE_H - y - h, *w, *h);
                    c.fill_nonzero();
                }
                Op::Rule {
                    x1,
                    y1,
                    x2,
                    y2,
                    width,
                    red,
                } => {
                    if *red {
                        c.set_stroke_rgb(RED.0, RED.1, RED.2);
                    } else {
                        c.set_stroke_gray(0.0);
                    }
                    c.set_line_width(*width);
                    c.move_to(*x1, PAGE_H - y1);
                    c.line_to(*x2, PAGE_H - y2);
                    c.stroke();
                }
                Op::Text {
                    x,
                    baseline,
                    size,
                    text,
                    spacing,
                    bold,
                    red,
                } => {
                    let encoded: Vec<u8> = text
                        .chars()
                        .flat_map(|ch| cids.get(&ch).copied().unwrap_or(0).to_be_bytes())
                        .collect();
                    if *red {
                        c.set_fill_rgb(RED.0, RED.1, RED.2);
                        c.set_stroke_rgb(RED.0, RED.1, RED.2);
                    } else {
                        c.set_fill_gray(0.0);
                        c.set_stroke_gray(0.0);
                    }
                    c.begin_text();
                    c.set_font(font_name, *size);
                    c.set_char_spacing(*spacing);
                    if *bold {
                        // No bold face is carried: fill and stroke the
                        // outlines (a thin stroke reads as 黑体/小标宋 weight).
                        c.set_line_width(size * 0.035);
                        c.set_text_rendering_mode(TextRenderingMode::FillStroke);
                    } else {
                        c.set_text_rendering_mode(TextRenderingMode::Fill);
                    }
                    c.next_line(*x, PAGE_H - baseline);
                    c.show(Str(&encoded));
                    c.end_text();
                }
            }
        }
        let content = deflate(&c.finish());
        pdf.stream(*content_ref, &content)
            .filter(Filter::FlateDecode);
    }
    Ok(pdf.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::font::FontData;

    fn lines(text: &str, chars_per_line: usize) -> Vec<String> {
        let data = FontData::load(None).unwrap();
        let font = Font::parse(&data).unwrap();
        let w = chars_per_line as f32 * 10.0;
        break_lines(&font, text, 10.0, w, w)
            .into_iter()
            .map(|l| l.text)
            .collect()
    }

    #[test]
    fn cjk_breaks_at_any_character() {
        assert_eq!(
            lines("一二三四五六七八九十", 4),
            ["一二三四", "五六七八", "九十"]
        );
    }

    #[test]
    fn closing_punctuation_never_starts_a_line() {
        // 。 would start line 2: 四 is carried down with it.
        assert_eq!(lines("一二三四。五六", 4), ["一二三", "四。五六"]);
        // Two closing marks in a row: one character carried with both.
        assert_eq!(lines("一二三）。五", 4), ["一二", "三）。五"]);
        for text in [
            "法治宝丰（法治政府）建设考核结果，经县委、县政府审定。现予通报！",
            "甲乙丙丁，戊己庚辛：壬癸、子丑；寅卯？",
        ] {
            for n in 3..9 {
                for line in lines(text, n).iter().skip(1) {
                    let first = line.chars().next().unwrap();
                    assert!(
                        !no_line_start(first),
                        "{n}: line starts with {first}: {line}"
                    );
                }
            }
        }
    }

    #[test]
    fn opening_punctuation_never_ends_a_line() {
        assert_eq!(lines("一二三（四五", 4), ["一二三", "（四五"]);
        for n in 3..9 {
            for line in lines("县司法局《关于「法治」的通知》（试行）", n) {
                let last = line.chars().last().unwrap();
                assert!(!no_line_end(last), "{n}: line ends with {last}: {line}");
            }
        }
    }

    #[test]
    fn numbers_and_latin_words_stay_whole() {
        // "95.50" does not fit after 得分为 on a 6-em line: it moves whole.
        let got = lines("考核得分为95.50分", 6);
        assert_eq!(got[0], "考核得分为");
        assert!(got[1].starts_with("95.50"), "{got:?}");
        // A run longer than a line is cut.
        let got = lines("ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJ", 4);
        assert!(got.len() > 1);
        assert_eq!(got.concat(), "ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJ");
    }

    #[test]
    fn newline_forces_a_break_and_text_is_never_lost() {
        assert_eq!(lines("甲乙\n丙", 10), ["甲乙", "丙"]);
        assert_eq!(lines("", 10), [""]);
        let text = "（一）根据考核结果，对排名后三名的单位予以通报警示，对考核等次为不合格的单位进行约谈。";
        for n in 2..12 {
            assert_eq!(lines(text, n).concat(), text, "{n}");
        }
    }

    #[test]
    fn centred_titles_are_balanced() {
        let data = FontData::load(None).unwrap();
        let font = Font::parse(&data).unwrap();
        let text = "关于2022年度法治宝丰（法治政府）建设考核结果的通报";
        let greedy = break_lines(&font, text, TITLE, TEXT_W, TEXT_W);
        assert_eq!(greedy.len(), 2);
        assert!(
            greedy[0].width - greedy[1].width > TITLE * 6.0,
            "greedy is lopsided"
        );
        let even = balanced(&font, text, TITLE, greedy);
        assert_eq!(even.len(), 2);
        assert!(
            (even[0].width - even[1].width).abs() <= TITLE * 2.0,
            "{even:?}"
        );
        assert_eq!(
            even.iter().map(|l| l.text.as_str()).collect::<String>(),
            text
        );
    }

    #[test]
    fn chinese_section_numbers() {
        assert_eq!(cn_number(1), "一");
        assert_eq!(cn_number(10), "十");
        assert_eq!(cn_number(12), "十二");
        assert_eq!(cn_number(20), "二十");
        assert_eq!(cn_number(35), "三十五");
    }
}
