//! The first pass: text, rules and fills positioned on A4 pages
//! ([`Layout`]), measured with the font; paragraphs and ruled tables
//! broken into pages, a table's header repeated on each page it continues.

use super::linebreak::{Line, break_lines};
use super::{BODY, BODY_LEADING, FLOOR, LEFT, MM, PAGE_W, RIGHT, SMALL, TABLE, TEXT_W, TOP};
use crate::export::ExportError;
use crate::export::font::Font;

pub(super) struct Column {
    pub(super) title: &'static str,
    /// Share of the text width.
    pub(super) share: f32,
    pub(super) align: Align,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Align {
    Left,
    Center,
    Right,
    /// Left, full lines stretched to the width.
    Justify,
}

#[derive(Clone, Copy)]
pub(super) struct Style {
    pub(super) size: f32,
    pub(super) leading: f32,
    /// First-line indent in ems.
    pub(super) indent: f32,
    pub(super) align: Align,
    pub(super) bold: bool,
    pub(super) red: bool,
}

impl Style {
    pub(super) fn body() -> Style {
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
pub(super) enum Op {
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

pub(super) struct Layout<'f> {
    pub(super) font: &'f Font<'f>,
    pages: Vec<Vec<Op>>,
    /// Top of the next line box on the current page.
    pub(super) y: f32,
}

impl<'f> Layout<'f> {
    pub(super) fn new(font: &'f Font<'f>) -> Layout<'f> {
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
    pub(super) fn keep(&mut self, height: f32) {
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
    pub(super) fn text(
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

    pub(super) fn rule(&mut self, x1: f32, x2: f32, width: f32, red: bool) {
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
    pub(super) fn baseline(&self, size: f32, leading: f32) -> f32 {
        self.y + (leading - size) / 2.0 + size * 0.88
    }

    pub(super) fn paragraph(
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
    pub(super) fn table(
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
    pub(super) fn finish_with_page_numbers(mut self) -> Vec<Vec<Op>> {
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
pub(super) fn balanced(font: &Font, text: &str, size: f32, lines: Vec<Line>) -> Vec<Line> {
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
