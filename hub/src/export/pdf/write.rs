//! The second pass: the font subset for exactly the characters used, and
//! each page's content stream from its display list.

use std::collections::BTreeSet;

use pdf_writer::types::TextRenderingMode;
use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref, Str, TextStr};

use super::layout::Op;
use super::{PAGE_H, PAGE_W, RED};
use crate::export::ExportError;
use crate::export::font::{Font, deflate};
use crate::export::model::Report;

/// Writes the pages with the font subset for the characters they use.
pub(super) fn write_pdf(
    report: &Report,
    font: &Font,
    pages: &[Vec<Op>],
) -> Result<Vec<u8>, ExportError> {
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
