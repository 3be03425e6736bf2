//! 填报模板（templates）：`kaohe node template` 生成的 Excel 与 CSV 文件。
//!
//! Generated from the [`Layout`] — the year's manifest and this node's units
//! and methods — so the import reads back exactly what the template asks.
//!
//! The `.xlsx` template, per round sheet (`年度`, `第一季度` …):
//!
//! - row 1: Chinese headers with units (`法治专题学习次数（次）`), bold, wrapped;
//! - row 2 (hidden): the ids the import keys on (`unit_id`, `unit_name`,
//!   field ids);
//! - a row per unit: `单位编号` and `单位名称` as locked text, then one cell per
//!   field: unlocked where the field applies to the unit's category, grey
//!   and locked where it does not;
//! - data validation on every field column: whole numbers or decimals within
//!   the field's range, a 是/否 dropdown for `bool`, the choices' dropdown
//!   for `choice`, each with an input message from the rubric's help text;
//! - panes frozen below the headers and right of the unit name, sheet
//!   protected (no password: protection prevents slips, it is not security).
//!
//! After the fields, a yellow-headed `不适用理由：<indicator>` column for each
//! indicator the assessor may mark not applicable: open text (at most 500
//! characters) where the indicator applies to the unit, grey elsewhere.
//!
//! Then the notes sheet `填表说明`: the template's marker (pack, year), the
//! filling rules, and a row per field with its label, unit, type, range,
//! whether it is required, its method, the rubric's help text and the
//! indicators (with criteria) that read it.
//!
//! The CSV template has the same two header rows plus a `轮次` column and a
//! row per unit and round; it is UTF-8 with a BOM by default so Chinese
//! Excel opens it correctly (GB18030 and plain UTF-8 on request). Text that
//! Excel would take for a formula (`= + - @` first) is written with a
//! leading `'`.
//!
//! With stored values given, the template is prefilled with them, so
//! officials can correct what was imported and import the file again.

use std::collections::BTreeMap;

use kaohe_rulepacks::manifest::{Field, FieldType, Missing, Round};
use rust_xlsxwriter::{
    Color, DataValidation, DataValidationErrorStyle, DataValidationRule, Format, FormatAlign,
    FormatBorder, Workbook, Worksheet, XlsxError,
};

use crate::layout::{
    self, Layout, NOTES_SHEET, ROUND_HEADER, ROUND_KEY, UNIT_ID_HEADER, UNIT_ID_KEY,
    UNIT_NAME_HEADER, UNIT_NAME_KEY,
};
use crate::value::{self, NO, YES};

/// Stored evidence to prefill.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prefill {
    /// Values by (unit id, round, field id).
    pub values: BTreeMap<(String, Round, String), i64>,
    /// Not-applicable reasons by (unit id, round, indicator id).
    pub marks: BTreeMap<(String, Round, String), String>,
}

impl Prefill {
    /// Nothing to prefill: a blank template.
    pub fn new() -> Prefill {
        Prefill::default()
    }

    /// The evidence and not-applicable marks stored for `year` (what
    /// `kaohe node template --with-values` and the console's download of a
    /// filled template carry).
    pub fn stored(
        store: &crate::store::Store,
        year: u16,
    ) -> Result<Prefill, crate::store::StoreError> {
        Ok(Prefill {
            values: store
                .evidence(year)?
                .into_iter()
                .map(|e| ((e.unit_id, e.round, e.field_id), e.value))
                .collect(),
            marks: store
                .marks(year)?
                .into_iter()
                .map(|m| ((m.unit_id, m.round, m.indicator_id), m.reason))
                .collect(),
        })
    }
}

/// Text encodings of a CSV template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum CsvEncoding {
    /// UTF-8 with a byte-order mark (what Chinese Excel opens correctly).
    #[default]
    #[value(name = "utf8-bom")]
    Utf8Bom,
    /// UTF-8 without BOM.
    #[value(name = "utf8")]
    Utf8,
    /// GB18030 (a superset of GBK).
    #[value(name = "gb18030")]
    Gb18030,
}

/// Writing the workbook failed (a bug or a rubric text Excel cannot hold).
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("生成 Excel 模板失败（cannot write the xlsx template）：{0}")]
    Xlsx(#[from] XlsxError),
    #[error("生成 CSV 模板失败（cannot write the CSV template）：{0}")]
    Csv(String),
}

/// The `.xlsx` template.
pub fn xlsx(layout: &Layout<'_>, prefill: &Prefill) -> Result<Vec<u8>, TemplateError> {
    let mut book = Workbook::new();
    let styles = Styles::new();
    for &round in &layout.rounds {
        let sheet = book.add_worksheet();
        round_sheet(sheet, layout, round, prefill, &styles)?;
    }
    let notes = book.add_worksheet();
    notes_sheet(notes, layout, &styles)?;
    if let Ok(first) = book.worksheet_from_index(0) {
        first.set_active(true);
    }
    Ok(book.save_to_buffer()?)
}

/// The CSV template in `encoding`.
pub fn csv(
    layout: &Layout<'_>,
    prefill: &Prefill,
    encoding: CsvEncoding,
) -> Result<Vec<u8>, TemplateError> {
    let fields = layout.all_fields();
    let marks = layout.all_marks();
    let m = layout.manifest;
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    let csv_err = |e: csv::Error| TemplateError::Csv(e.to_string());
    let mut headers = vec![
        UNIT_ID_HEADER.to_string(),
        UNIT_NAME_HEADER.to_string(),
        ROUND_HEADER.to_string(),
    ];
    headers.extend(fields.iter().map(|&f| layout::header(layout.field(f))));
    headers.extend(marks.iter().map(|&i| layout::mark_header(&m.indicators[i])));
    w.write_record(&headers).map_err(csv_err)?;
    let mut ids = vec![
        UNIT_ID_KEY.to_string(),
        UNIT_NAME_KEY.to_string(),
        ROUND_KEY.to_string(),
    ];
    ids.extend(fields.iter().map(|&f| layout.field(f).id.clone()));
    ids.extend(marks.iter().map(|&i| layout::mark_key(&m.indicators[i])));
    w.write_record(&ids).map_err(csv_err)?;
    for unit in &layout.scope.units {
        for &round in &layout.rounds {
            let mut row = vec![
                csv_text(&unit.unit_id),
                csv_text(&unit.name),
                Layout::sheet_name(round).to_string(),
            ];
            for &f in &fields {
                let field = layout.field(f);
                let v = prefill
                    .values
                    .get(&(unit.unit_id.clone(), round, field.id.clone()));
                row.push(match v {
                    Some(&v) if layout.field_in_round(f, round) => value::display(field, v),
                    _ => String::new(),
                });
            }
            for &i in &marks {
                let ind = &m.indicators[i];
                let reason = prefill
                    .marks
                    .get(&(unit.unit_id.clone(), round, ind.id.clone()));
                row.push(match reason {
                    Some(r) if layout.mark_in_round(i, round) => csv_text(r),
                    _ => String::new(),
                });
            }
            w.write_record(&row).map_err(csv_err)?;
        }
    }
    let bytes = w
        .into_inner()
        .map_err(|e| TemplateError::Csv(e.to_string()))?;
    Ok(match encoding {
        CsvEncoding::Utf8 => bytes,
        CsvEncoding::Utf8Bom => {
            let mut out = b"\xEF\xBB\xBF".to_vec();
            out.extend_from_slice(&bytes);
            out
        }
        CsvEncoding::Gb18030 => {
            // The CSV writer produced UTF-8 from `String`s.
            let text = String::from_utf8_lossy(&bytes);
            encoding_rs::GB18030.encode(&text).0.into_owned()
        }
    })
}

/// Text that Excel would read as a formula gets a leading `'`.
fn csv_text(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

struct Styles {
    header: Format,
    mark_header: Format,
    ids: Format,
    unit: Format,
    input: Format,
    input_text: Format,
    not_applicable: Format,
    title: Format,
    wrap: Format,
    marker: Format,
}

impl Styles {
    fn new() -> Styles {
        let border = |f: Format| f.set_border(FormatBorder::Thin);
        Styles {
            mark_header: border(
                Format::new()
                    .set_bold()
                    .set_text_wrap()
                    .set_align(FormatAlign::Center)
                    .set_align(FormatAlign::VerticalCenter)
                    .set_background_color(Color::RGB(0xFFF2CC))
                    .set_locked(),
            ),
            header: border(
                Format::new()
                    .set_bold()
                    .set_text_wrap()
                    .set_align(FormatAlign::Center)
                    .set_align(FormatAlign::VerticalCenter)
                    .set_background_color(Color::RGB(0xDDEBF7))
                    .set_locked(),
            ),
            ids: Format::new()
                .set_font_color(Color::Gray)
                .set_font_size(8)
                .set_locked(),
            unit: border(
                Format::new()
                    .set_num_format("@")
                    .set_background_color(Color::RGB(0xF2F2F2))
                    .set_locked(),
            ),
            input: border(Format::new().set_unlocked()),
            input_text: border(Format::new().set_unlocked().set_num_format("@")),
            not_applicable: border(
                Format::new()
                    .set_background_color(Color::RGB(0xBFBFBF))
                    .set_locked(),
            ),
            title: Format::new().set_bold().set_font_size(14),
            wrap: Format::new().set_text_wrap().set_align(FormatAlign::Top),
            marker: Format::new().set_font_color(Color::Gray).set_font_size(8),
        }
    }
}

fn round_sheet(
    sheet: &mut Worksheet,
    layout: &Layout<'_>,
    round: Round,
    prefill: &Prefill,
    s: &Styles,
) -> Result<(), TemplateError> {
    sheet.set_name(Layout::sheet_name(round))?;
    let fields = layout.fields_for(round);
    sheet.write_string_with_format(0, 0, UNIT_ID_HEADER, &s.header)?;
    sheet.write_string_with_format(0, 1, UNIT_NAME_HEADER, &s.header)?;
    sheet.write_string_with_format(1, 0, UNIT_ID_KEY, &s.ids)?;
    sheet.write_string_with_format(1, 1, UNIT_NAME_KEY, &s.ids)?;
    sheet.set_column_width(0, 14)?;
    sheet.set_column_width(1, 24)?;
    for (j, &f) in fields.iter().enumerate() {
        let col = col_num(j + 2);
        let field = layout.field(f);
        sheet.write_string_with_format(0, col, layout::header(field), &s.header)?;
        sheet.write_string_with_format(1, col, &field.id, &s.ids)?;
        sheet.set_column_width(col, 16)?;
    }
    let m = layout.manifest;
    let marks = layout.marks_for(round);
    let mark_col = |k: usize| col_num(fields.len() + 2 + k);
    for (k, &i) in marks.iter().enumerate() {
        let ind = &m.indicators[i];
        sheet.write_string_with_format(0, mark_col(k), layout::mark_header(ind), &s.mark_header)?;
        sheet.write_string_with_format(1, mark_col(k), layout::mark_key(ind), &s.ids)?;
        sheet.set_column_width(mark_col(k), 24)?;
    }
    sheet.set_row_height(0, 48)?;
    sheet.set_row_hidden(1)?;
    let n = layout.scope.units.len();
    for (i, unit) in layout.scope.units.iter().enumerate() {
        let row = row_num(i + 2);
        sheet.write_string_with_format(row, 0, &unit.unit_id, &s.unit)?;
        sheet.write_string_with_format(row, 1, &unit.name, &s.unit)?;
        let category = layout.category_of(unit);
        for (j, &f) in fields.iter().enumerate() {
            let col = col_num(j + 2);
            let field = layout.field(f);
            if !category.is_some_and(|c| layout.applies(c, f)) {
                sheet.write_blank(row, col, &s.not_applicable)?;
                continue;
            }
            let text_cell = matches!(field.kind, FieldType::Bool | FieldType::Choice);
            let format = if text_cell { &s.input_text } else { &s.input };
            match prefill
                .values
                .get(&(unit.unit_id.clone(), round, field.id.clone()))
            {
                Some(&v) if text_cell => {
                    sheet.write_string_with_format(row, col, value::display(field, v), format)?;
                }
                Some(&v) => {
                    // Hundredths to f64 is exact for every value a field's
                    // range allows in practice (|v| < 2^53); the import reads
                    // it back through its shortest decimal text.
                    sheet.write_number_with_format(row, col, v as f64 / 100.0, format)?;
                }
                None => {
                    sheet.write_blank(row, col, format)?;
                }
            }
        }
        for (k, &i) in marks.iter().enumerate() {
            if !category.is_some_and(|c| layout.mark_applies(c, i)) {
                sheet.write_blank(row, mark_col(k), &s.not_applicable)?;
                continue;
            }
            let key = (unit.unit_id.clone(), round, m.indicators[i].id.clone());
            match prefill.marks.get(&key) {
                Some(reason) => {
                    sheet.write_string_with_format(row, mark_col(k), reason, &s.input_text)?
                }
                None => sheet.write_blank(row, mark_col(k), &s.input_text)?,
            };
        }
    }
    if n > 0 {
        let (first, last) = (2, row_num(n + 1));
        for (j, &f) in fields.iter().enumerate() {
            let col = col_num(j + 2);
            if let Some(dv) = validation(layout.field(f)) {
                sheet.add_data_validation(first, col, last, col, &dv)?;
            }
        }
        for (k, &i) in marks.iter().enumerate() {
            if let Some(dv) = mark_validation(&m.indicators[i]) {
                sheet.add_data_validation(first, mark_col(k), last, mark_col(k), &dv)?;
            }
        }
    }
    sheet.set_freeze_panes(2, 2)?;
    sheet.protect();
    Ok(())
}

/// The data validation of a not-applicable reason column: text of at most
/// 500 characters, with a message saying what a reason does.
fn mark_validation(ind: &kaohe_rulepacks::manifest::Indicator) -> Option<DataValidation> {
    let max = kaohe_proto::submission::MAX_REASON_CHARS as u32;
    let message = clip(
        &format!(
            "{} {} 不适用于本单位的，写明理由（至多{max}字）：该指标不评分，本单位应考分值相应减少，按实际考核内容换算。适用则留空。",
            ind.id, ind.name
        ),
        250,
    );
    DataValidation::new()
        .allow_text_length(DataValidationRule::Between(1, max))
        .ignore_blank(true)
        .set_input_title("不适用理由")
        .ok()?
        .set_input_message(message)
        .ok()?
        .set_error_title("理由过长")
        .ok()?
        .set_error_message(format!("“不适用理由”至多{max}字。"))
        .ok()
        .map(|dv| dv.set_error_style(DataValidationErrorStyle::Stop))
}

/// The data validation of a field's column, if Excel can express it.
fn validation(field: &Field) -> Option<DataValidation> {
    let expected = value::expected(field);
    let dv = match field.kind {
        FieldType::Count => {
            let lo = field.min.map_or(i32::MIN, |v| to_i32(v / 100));
            let hi = field.max.map_or(i32::MAX, |v| to_i32(v / 100));
            DataValidation::new().allow_whole_number(DataValidationRule::Between(lo, hi))
        }
        FieldType::Decimal => {
            let lo = field.min.map_or(-1e15, |v| v as f64 / 100.0);
            let hi = field.max.map_or(1e15, |v| v as f64 / 100.0);
            DataValidation::new().allow_decimal_number(DataValidationRule::Between(lo, hi))
        }
        FieldType::Bool => DataValidation::new().allow_list_strings(&[YES, NO]).ok()?,
        FieldType::Choice => DataValidation::new()
            .allow_list_strings(&field.choices)
            .ok()?,
    };
    let required = match field.missing {
        Missing::Refuse => "必填".to_string(),
        Missing::Default(d) => format!("可不填，不填按 {} 计", value::display(field, d)),
    };
    let message = clip(
        &format!("{}\n须填{expected}；{required}。", field.help),
        250,
    );
    let dv = dv
        .ignore_blank(true)
        .set_input_title(clip(&field.label, 30))
        .ok()?
        .set_input_message(message)
        .ok()?
        .set_error_title("输入无效")
        .ok()?
        .set_error_message(clip(&format!("「{}」须填{expected}。", field.label), 250))
        .ok()?
        .set_error_style(DataValidationErrorStyle::Stop);
    Some(dv)
}

fn notes_sheet(
    sheet: &mut Worksheet,
    layout: &Layout<'_>,
    s: &Styles,
) -> Result<(), TemplateError> {
    sheet.set_name(NOTES_SHEET)?;
    let m = layout.manifest;
    sheet.write_string_with_format(0, 0, layout.marker(), &s.marker)?;
    sheet.write_string_with_format(
        1,
        0,
        format!("{}　{} 年度证据填报模板", m.pack.title, layout.scope.year),
        &s.title,
    )?;
    let rules = [
        "1. 每个工作表对应一个轮次：“年度”填年度考核方式的证据，“第一季度”至“第四季度”填按季度评价的证据。",
        "2. 一行中只要填写了某一考核方式的任一项，该考核方式的必填项都须填写；某考核方式的各项全部留空，表示本次不报送该方式，已保存的数值不变。",
        "3. 灰色单元格表示该项不适用于该单位的类别，请勿填写。",
        "4. 数值最多保留两位小数，请直接填写数值，不要使用公式；“是/否”与选择项请从下拉列表中选择。全角数字（如１２．５）可以识别。",
        "5. 请勿修改、移动表头行和隐藏的第2行，请勿修改单位编号、单位名称，请勿合并单元格、增删列。",
        "6. 导入时全部检查通过才会保存；任何一处有误都不保存，并列出所有问题（工作表、行、列、单位、规则）。",
        "7. 修改后重新导入，会覆盖原来的数值，并记录修改人、修改时间及修改前后的值。",
        "8. “不适用理由：……”列（黄色表头）：某项指标不适用于该单位的（如不承担行政执法职能），由考核主体在该列写明理由；该指标不评分，本单位应考分值相应减少，按实际考核内容换算（考核方案五），理由随考核结果一并列出。只有该指标用到的必填项可以不填。适用则留空。",
    ];
    for (i, r) in rules.iter().enumerate() {
        sheet.write_string(row_num(i + 3), 0, *r)?;
    }
    let top = row_num(rules.len() + 4);
    let headers = [
        "工作表",
        "字段编号",
        "项目",
        "计量单位",
        "类型",
        "取值",
        "是否必填",
        "考核方式",
        "填写说明",
        "相关指标与评分标准",
    ];
    for (j, h) in headers.iter().enumerate() {
        sheet.write_string_with_format(top, col_num(j), *h, &s.header)?;
    }
    let mut row = top + 1;
    for &round in &layout.rounds {
        if round.is_quarter() && round != Round::Q1 {
            continue;
        }
        for &f in layout.fields_for(round) {
            let field = layout.field(f);
            let method = m
                .method_index(&field.method)
                .map(|i| m.methods[i].name.clone())
                .unwrap_or_else(|| field.method.clone());
            let sheet_name = if round.is_quarter() {
                "第一季度至第四季度"
            } else {
                "年度"
            };
            let kind = match field.kind {
                FieldType::Count => "整数",
                FieldType::Decimal => "数值（最多两位小数）",
                FieldType::Bool => "是/否",
                FieldType::Choice => "选择",
            };
            let required = match field.missing {
                Missing::Refuse => "必填".to_string(),
                Missing::Default(d) => format!("可不填（不填按 {} 计）", value::display(field, d)),
            };
            let related: Vec<String> = layout
                .indicators_reading(f)
                .into_iter()
                .map(|i| {
                    let ind = &m.indicators[i];
                    format!("{} {}：{}", ind.id, ind.name, ind.criteria.trim())
                })
                .collect();
            let cells = [
                sheet_name.to_string(),
                field.id.clone(),
                field.label.clone(),
                field.unit.clone(),
                kind.to_string(),
                value::expected(field),
                required,
                method,
                field.help.clone(),
                related.join("\n"),
            ];
            for (j, c) in cells.iter().enumerate() {
                sheet.write_string_with_format(row, col_num(j), c, &s.wrap)?;
            }
            row += 1;
        }
        for &i in layout.marks_for(round) {
            let ind = &m.indicators[i];
            let method = m
                .method_index(&ind.method)
                .map(|k| m.methods[k].name.clone())
                .unwrap_or_else(|| ind.method.clone());
            let cells = [
                if round.is_quarter() {
                    "第一季度至第四季度"
                } else {
                    "年度"
                }
                .to_string(),
                layout::mark_key(ind),
                layout::mark_header(ind),
                String::new(),
                "文字".to_string(),
                format!("至多{}字", kaohe_proto::submission::MAX_REASON_CHARS),
                "不适用时必填理由；适用则留空".to_string(),
                method,
                "该指标不适用于本单位时写明理由：不评分，应考分值相应减少并换算".to_string(),
                format!("{} {}：{}", ind.id, ind.name, ind.criteria.trim()),
            ];
            for (j, c) in cells.iter().enumerate() {
                sheet.write_string_with_format(row, col_num(j), c, &s.wrap)?;
            }
            row += 1;
        }
    }
    for (j, w) in [10.0, 22.0, 28.0, 8.0, 12.0, 24.0, 16.0, 10.0, 40.0, 60.0]
        .iter()
        .enumerate()
    {
        sheet.set_column_width(col_num(j), *w)?;
    }
    Ok(())
}

fn clip(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

fn to_i32(v: i64) -> i32 {
    i32::try_from(v).unwrap_or(if v < 0 { i32::MIN } else { i32::MAX })
}

fn row_num(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

fn col_num(i: usize) -> u16 {
    u16::try_from(i).unwrap_or(u16::MAX)
}
