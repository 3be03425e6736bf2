//! 考核结果工作簿（results workbook）：排名（one sheet per ranked category）,
//! 等次汇总, 分项明细, 结果运用, 迟报与未考核, then 季度擂台 (党建引领·比拼四季,
//! when the year has quarterly leaderboards) and 审定信息 (the approval's
//! 文号 and digest, and the approval it replaces, when the report rests on
//! one).
//!
//! Every text cell is written with `write_string`, never `write` or a
//! formula: a unit name such as `=HYPERLINK(…)` or `+1` stays text
//! (RELIABILITY: export). Identifiers (单位编号, 指标编号) are text too, so
//! `007` keeps its zeros. Scores are numbers formatted `0.00` so officials
//! can sort and sum; ranks are numbers. Column widths are set from the
//! content's display width (a CJK character counts two).

use rust_xlsxwriter::{
    DocProperties, ExcelDateTime, Format, FormatAlign, FormatBorder, Workbook, Worksheet, XlsxError,
};
use unicode_width::UnicodeWidthStr;

use super::ExportError;
use super::model::{OutcomeKind, Report};

/// Column width bounds, in Excel character units.
const MIN_WIDTH: usize = 6;
const MAX_WIDTH: usize = 60;
/// Columns of long text (reasons) wrap at this width instead of growing.
const WRAP_WIDTH: usize = 40;
/// Excel's limit on a sheet name, in characters.
const SHEET_NAME_MAX: usize = 31;

pub(crate) fn render(report: &Report) -> Result<Vec<u8>, ExportError> {
    build(report).map_err(|e| ExportError::Xlsx(e.to_string()))
}

struct Formats {
    title: Format,
    header: Format,
    text: Format,
    wrap: Format,
    number: Format,
    integer: Format,
}

impl Formats {
    fn new() -> Formats {
        let cell = Format::new()
            .set_border(FormatBorder::Thin)
            .set_align(FormatAlign::VerticalCenter);
        Formats {
            title: Format::new().set_bold().set_font_size(14),
            header: cell
                .clone()
                .set_bold()
                .set_background_color(0xD9D9D9)
                .set_align(FormatAlign::Center)
                .set_text_wrap(),
            text: cell.clone(),
            wrap: cell.clone().set_text_wrap(),
            number: cell
                .clone()
                .set_num_format("0.00")
                .set_align(FormatAlign::Right),
            integer: cell.set_align(FormatAlign::Center),
        }
    }
}

/// A worksheet being filled, remembering each column's widest content.
struct Sheet<'a> {
    ws: &'a mut Worksheet,
    f: &'a Formats,
    widths: Vec<usize>,
    /// Columns whose text wraps (reasons): capped at [`WRAP_WIDTH`].
    wrap: Vec<bool>,
}

impl<'a> Sheet<'a> {
    fn new(ws: &'a mut Worksheet, f: &'a Formats, name: &str) -> Result<Sheet<'a>, XlsxError> {
        ws.set_name(name)?;
        Ok(Sheet {
            ws,
            f,
            widths: Vec::new(),
            wrap: Vec::new(),
        })
    }

    fn grow(&mut self, col: u16, text: &str) {
        let col = usize::from(col);
        if self.widths.len() <= col {
            self.widths.resize(col + 1, 0);
            self.wrap.resize(col + 1, false);
        }
        let w = text.lines().map(UnicodeWidthStr::width).max().unwrap_or(0);
        self.widths[col] = self.widths[col].max(w);
    }

    fn title(&mut self, row: u32, text: &str) -> Result<(), XlsxError> {
        self.ws
            .write_string_with_format(row, 0, text, &self.f.title)?;
        Ok(())
    }

    fn header(&mut self, row: u32, titles: &[&str]) -> Result<(), XlsxError> {
        for (col, t) in (0u16..).zip(titles) {
            self.grow(col, t);
            self.ws
                .write_string_with_format(row, col, *t, &self.f.header)?;
        }
        Ok(())
    }

    fn text(&mut self, row: u32, col: u16, text: &str) -> Result<(), XlsxError> {
        self.grow(col, text);
        self.ws
            .write_string_with_format(row, col, text, &self.f.text)?;
        Ok(())
    }

    fn wrapped(&mut self, row: u32, col: u16, text: &str) -> Result<(), XlsxError> {
        self.grow(col, text);
        self.wrap[usize::from(col)] = true;
        self.ws
            .write_string_with_format(row, col, text, &self.f.wrap)?;
        Ok(())
    }

    /// A score in hundredths, shown `0.00`.
    fn points(&mut self, row: u32, col: u16, hundredths: i64) -> Result<(), XlsxError> {
        self.grow(
            col,
            &kaohe_rulepacks::rubric::decimal::format_hundredths_fixed(hundredths),
        );
        // Display only: the f64 is the decimal the hundredths denote.
        self.ws
            .write_number_with_format(row, col, hundredths as f64 / 100.0, &self.f.number)?;
        Ok(())
    }

    fn integer(&mut self, row: u32, col: u16, n: u32) -> Result<(), XlsxError> {
        self.grow(col, &n.to_string());
        self.ws
            .write_number_with_format(row, col, f64::from(n), &self.f.integer)?;
        Ok(())
    }

    fn blank(&mut self, row: u32, col: u16) -> Result<(), XlsxError> {
        self.ws.write_blank(row, col, &self.f.text)?;
        Ok(())
    }

    /// Sets every column's width from its content and freezes the rows
    /// above `header_row + 1`.
    fn finish(self, header_row: u32) -> Result<(), XlsxError> {
        for ((col, w), wrap) in (0u16..).zip(&self.widths).zip(&self.wrap) {
            let max = if *wrap { WRAP_WIDTH } else { MAX_WIDTH };
            let w = (w + 2).clamp(MIN_WIDTH, max);
            self.ws.set_column_width(col, w as f64)?;
        }
        self.ws.set_freeze_panes(header_row + 1, 0)?;
        Ok(())
    }
}

fn build(report: &Report) -> Result<Vec<u8>, XlsxError> {
    let mut book = Workbook::new();
    // Fixed creation time: the same report gives the same bytes.
    let created = ExcelDateTime::from_ymd(1980, 1, 1)?;
    book.set_properties(
        &DocProperties::new()
            .set_title(format!("{}年度考核结果", report.year))
            .set_company(&report.county)
            .set_author(&report.issuer)
            .set_creation_datetime(&created),
    );
    let f = Formats::new();
    let mut names = SheetNames::default();
    let heading = format!("{}年度{}考核", report.year, report.scheme_name);

    for cat in report.categories.iter().filter(|c| c.ranked) {
        let mut s = Sheet::new(
            book.add_worksheet(),
            &f,
            &names.take(&format!("排名-{}", cat.name)),
        )?;
        s.title(0, &format!("{heading}排名：{}", cat.name))?;
        s.header(1, &["名次", "单位编号", "单位名称", "总分", "等次", "备注"])?;
        for (row, r) in (2u32..).zip(&cat.rows) {
            match r.rank {
                Some(n) => s.integer(row, 0, n)?,
                None => s.blank(row, 0)?,
            }
            s.text(row, 1, &r.unit_id)?;
            s.text(row, 2, &r.unit_name)?;
            s.points(row, 3, r.total)?;
            s.text(row, 4, &r.grade_name)?;
            s.text(row, 5, if r.late { "迟报" } else { "" })?;
        }
        s.finish(1)?;
    }

    {
        let mut s = Sheet::new(book.add_worksheet(), &f, &names.take("等次汇总"))?;
        s.title(0, &format!("{heading}等次汇总"))?;
        s.header(1, &["等次", "单位数"])?;
        let mut row = 2;
        for g in &report.grade_counts {
            s.text(row, 0, &g.grade_name)?;
            s.integer(row, 1, g.count)?;
            row += 1;
        }
        row += 1;
        s.header(
            row,
            &[
                "等次",
                "类别",
                "名次",
                "单位编号",
                "单位名称",
                "总分",
                "备注",
            ],
        )?;
        for grade in report.grade_order() {
            for (cat, r) in report.all_rows().filter(|(_, r)| r.grade_name == grade) {
                row += 1;
                s.text(row, 0, &r.grade_name)?;
                s.text(row, 1, &cat.name)?;
                match r.rank {
                    Some(n) => s.integer(row, 2, n)?,
                    None => s.blank(row, 2)?,
                }
                s.text(row, 3, &r.unit_id)?;
                s.text(row, 4, &r.unit_name)?;
                s.points(row, 5, r.total)?;
                s.text(row, 6, if r.late { "迟报" } else { "" })?;
            }
        }
        s.finish(1)?;
    }

    {
        let mut s = Sheet::new(book.add_worksheet(), &f, &names.take("分项明细"))?;
        s.title(0, &format!("{heading}分项得分明细"))?;
        s.header(
            1,
            &[
                "单位编号",
                "单位名称",
                "类别",
                "指标编号",
                "指标名称",
                "分值",
                "得分",
                "扣分理由",
            ],
        )?;
        let mut row = 1;
        for b in &report.breakdown {
            let line = |s: &mut Sheet, row: u32| -> Result<(), XlsxError> {
                s.text(row, 0, &b.unit_id)?;
                s.text(row, 1, &b.unit_name)?;
                s.text(row, 2, &b.category)
            };
            for ind in &b.indicators {
                row += 1;
                line(&mut s, row)?;
                s.text(row, 3, &ind.id)?;
                s.text(row, 4, &ind.name)?;
                s.points(row, 5, ind.points)?;
                s.points(row, 6, ind.score)?;
                s.wrapped(row, 7, &ind.reasons.join("\n"))?;
            }
            for (label, value, note) in [
                ("换算得分（百分制）", b.converted, ""),
                ("加分", b.bonus, ""),
                ("扣分", -b.penalty, ""),
                ("总分", b.total, b.grade_name.as_str()),
            ] {
                row += 1;
                line(&mut s, row)?;
                s.blank(row, 3)?;
                s.text(row, 4, label)?;
                s.blank(row, 5)?;
                s.points(row, 6, value)?;
                if note.is_empty() {
                    s.blank(row, 7)?;
                } else {
                    s.text(row, 7, &format!("等次：{note}"))?;
                }
            }
        }
        s.finish(1)?;
    }

    {
        let mut s = Sheet::new(book.add_worksheet(), &f, &names.take("结果运用"))?;
        s.title(0, &format!("{heading}结果运用"))?;
        s.header(1, &["结果运用", "单位编号", "单位名称", "依据", "发出单位"])?;
        let mut row = 1;
        for kind in OutcomeKind::ALL {
            for o in report.outcomes.iter().filter(|o| o.kind == kind) {
                row += 1;
                s.text(row, 0, kind.zh())?;
                s.text(row, 1, &o.unit_id)?;
                s.text(row, 2, &o.unit_name)?;
                s.wrapped(row, 3, &o.reason)?;
                s.text(row, 4, &o.issuer)?;
            }
        }
        s.finish(1)?;
    }

    {
        let mut s = Sheet::new(book.add_worksheet(), &f, &names.take("迟报与未考核"))?;
        s.title(0, &format!("{heading}迟报与未考核单位"))?;
        s.header(1, &["情况", "单位编号", "单位名称", "说明"])?;
        let mut row = 1;
        for (what, id, name, note) in report
            .late_units
            .iter()
            .map(|u| ("迟报", &u.unit_id, &u.unit_name, &u.detail))
            .chain(
                report
                    .unassessed
                    .iter()
                    .map(|u| (u.status(), &u.unit_id, &u.unit_name, &u.missing)),
            )
        {
            row += 1;
            s.text(row, 0, what)?;
            s.text(row, 1, id)?;
            s.text(row, 2, name)?;
            s.wrapped(row, 3, note)?;
        }
        s.finish(1)?;
    }

    if !report.leaderboards.is_empty() {
        let mut s = Sheet::new(book.add_worksheet(), &f, &names.take("季度擂台"))?;
        s.title(0, &format!("{heading}党建引领·比拼四季季度擂台"))?;
        s.header(
            1,
            &[
                "季度",
                "类别",
                "名次",
                "单位编号",
                "单位名称",
                "得分",
                "满分",
                "备注",
            ],
        )?;
        let mut row = 1;
        for b in &report.leaderboards {
            for r in &b.rows {
                row += 1;
                s.text(row, 0, &b.quarter)?;
                s.text(row, 1, &b.category)?;
                s.integer(row, 2, r.rank)?;
                s.text(row, 3, &r.unit_id)?;
                s.text(row, 4, &r.unit_name)?;
                s.points(row, 5, r.points)?;
                s.points(row, 6, b.max_points)?;
                s.text(row, 7, if r.tied { "并列" } else { "" })?;
            }
            for (what, names) in [("未完整上报", &b.not_reported), ("免于考核", &b.excused)]
            {
                if names.is_empty() {
                    continue;
                }
                row += 1;
                s.text(row, 0, &b.quarter)?;
                s.text(row, 1, &b.category)?;
                s.blank(row, 2)?;
                s.blank(row, 3)?;
                s.wrapped(row, 4, &names.join("、"))?;
                s.blank(row, 5)?;
                s.blank(row, 6)?;
                s.text(row, 7, what)?;
            }
        }
        s.finish(1)?;
    }

    if !report.approval_sha256.is_empty() {
        let mut s = Sheet::new(book.add_worksheet(), &f, &names.take("审定信息"))?;
        s.title(0, &format!("{heading}审定信息"))?;
        s.header(1, &["项目", "内容"])?;
        let mut rows: Vec<(&str, String)> = vec![
            ("审定文号", report.doc_number.clone()),
            ("审定汇总 SHA-256", report.approval_sha256.clone()),
        ];
        if let Some(old) = &report.replaces {
            rows.extend([
                ("替代的审定文号", old.doc_number.clone()),
                ("原审定日期", old.approved_on.clone()),
                ("撤销审定日期", old.reopened_on.clone()),
                ("撤销审定原因", old.reason.clone()),
            ]);
        }
        for (row, (what, value)) in (2u32..).zip(&rows) {
            s.text(row, 0, what)?;
            s.wrapped(row, 1, value)?;
        }
        s.finish(1)?;
    }

    book.save_to_buffer()
}

/// Sheet names that Excel accepts: at most 31 characters, none of
/// `[ ] : * ? / \`, not starting or ending with `'`, unique regardless of
/// case.
#[derive(Default)]
struct SheetNames {
    used: Vec<String>,
}

impl SheetNames {
    fn take(&mut self, wanted: &str) -> String {
        let clean: String = wanted
            .chars()
            .map(|c| {
                if "[]:*?/\\".contains(c) || c.is_control() {
                    '_'
                } else {
                    c
                }
            })
            .collect();
        let clean = clean.trim_matches('\'');
        let base: String = clean.chars().take(SHEET_NAME_MAX).collect();
        let mut name = if base.is_empty() {
            "Sheet".to_string()
        } else {
            base.clone()
        };
        let mut n = 1;
        while self
            .used
            .iter()
            .any(|u| u.to_lowercase() == name.to_lowercase())
        {
            n += 1;
            let suffix = format!("({n})");
            let keep = SHEET_NAME_MAX - suffix.chars().count();
            name = format!("{}{suffix}", base.chars().take(keep).collect::<String>());
        }
        self.used.push(name.clone());
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sheet_names_are_legal_and_unique() {
        let mut names = SheetNames::default();
        assert_eq!(names.take("排名-乡镇"), "排名-乡镇");
        assert_eq!(names.take("排名-乡镇"), "排名-乡镇(2)");
        assert_eq!(names.take("排名-a/b:c"), "排名-a_b_c");
        let long = names.take(&format!("排名-{}", "很长的类别名称".repeat(10)));
        assert_eq!(long.chars().count(), SHEET_NAME_MAX);
        let again = names.take(&format!("排名-{}", "很长的类别名称".repeat(10)));
        assert_eq!(again.chars().count(), SHEET_NAME_MAX);
        assert!(again.ends_with("(2)"));
    }
}
