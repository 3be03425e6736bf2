//! 文字表格（text tables）：命令行输出中按显示宽度对齐的中文表格。
//!
//! Widths are terminal columns (`unicode-width`: a Chinese character is 2),
//! so columns line up however much Chinese a cell holds.

use unicode_width::UnicodeWidthStr as _;

/// Renders `header` and `rows` as columns separated by two spaces and padded
/// to the widest cell, with a rule of dashes under each header. A row
/// shorter than the header is padded; a longer one widens the table.
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let columns = header
        .len()
        .max(rows.iter().map(Vec::len).max().unwrap_or(0));
    let mut widths = vec![0usize; columns];
    for (i, h) in header.iter().enumerate() {
        widths[i] = widths[i].max(h.width());
    }
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.width());
        }
    }
    let mut out = String::new();
    push_row(&mut out, header.iter().copied(), &widths);
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    push_row(&mut out, rule.iter().map(String::as_str), &widths);
    for row in rows {
        push_row(&mut out, row.iter().map(String::as_str), &widths);
    }
    out
}

fn push_row<'a>(out: &mut String, cells: impl Iterator<Item = &'a str>, widths: &[usize]) {
    let mut cells = cells;
    let mut line = String::new();
    for (i, width) in widths.iter().enumerate() {
        let cell = cells.next().unwrap_or("");
        if i > 0 {
            line.push_str("  ");
        }
        line.push_str(cell);
        if i + 1 < widths.len() {
            line.push_str(&" ".repeat(width.saturating_sub(cell.width())));
        }
    }
    out.push_str(line.trim_end());
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_cells_are_aligned_by_display_width() {
        let text = render(
            &["编号", "名称", "类别"],
            &[
                vec!["t1".into(), "肖旗乡".into(), "township".into()],
                vec!["sfj".into(), "县司法局".into(), "department".into()],
            ],
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "编号  名称      类别");
        assert_eq!(lines[1], "----  --------  ----------");
        assert_eq!(lines[2], "t1    肖旗乡    township");
        assert_eq!(lines[3], "sfj   县司法局  department");
    }

    #[test]
    fn short_rows_are_padded_and_long_rows_widen_the_table() {
        let t = render(
            &["单位", "得分"],
            &[
                vec!["肖旗乡".into(), "93.5".into()],
                vec!["justice".into()],
                vec!["a".into(), "7".into(), "备注".into()],
            ],
        );
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "单位     得分");
        assert_eq!(lines[1], "-------  ----  ----");
        assert_eq!(lines[2], "肖旗乡   93.5");
        assert_eq!(lines[3], "justice");
        assert_eq!(lines[4], "a        7     备注");
    }
}
