//! The Excel rendering: the overview sheet, one sheet per category, the
//! assumptions sheet; every text cell written as text, widths sized for
//! Chinese.

use rust_xlsxwriter::{
    DocProperties, ExcelDateTime, Format, FormatAlign, FormatBorder, Workbook, Worksheet, XlsxError,
};

use super::{
    ASSUMPTIONS_SHEET, CATEGORY_COLUMNS, CategoryDoc, NoteTable, OVERVIEW_SHEET, category_doc,
    category_table, overview,
};
use crate::manifest::Manifest;

/// Widths of the category sheet's columns (Excel character units).
const CATEGORY_WIDTHS: [f64; 5] = [6.0, 34.0, 8.0, 12.0, 90.0];

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
