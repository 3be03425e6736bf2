//! 文本表格（text tables）：命令行输出中按显示宽度对齐的中文表格。
//!
//! Widths are terminal columns (`unicode-width`: a Chinese character is 2),
//! so columns line up however much Chinese a cell holds.

use unicode_width::UnicodeWidthStr as _;

/// Renders `header` and `rows` as aligned columns separated by two spaces,
/// with a rule under the header. Rows shorter than the header are padded.
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let n = header
        .len()
        .max(rows.iter().map(Vec::len).max().unwrap_or(0));
    let mut widths = vec![0usize; n];
    for (i, h) in header.iter().enumerate() {
        widths[i] = widths[i].max(h.width());
    }
    for row in rows {
        for (i, c) in row.iter().enumerate() {
            widths[i] = widths[i].max(c.width());
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let mut out = String::new();
        for (i, w) in widths.iter().enumerate() {
            let c = cells.get(i).copied().unwrap_or("");
            out.push_str(c);
            if i + 1 < n {
                out.push_str(&" ".repeat(w - c.width() + 2));
            }
        }
        out.trim_end().to_string()
    };
    let mut out = line(header.to_vec());
    out.push('\n');
    out.push_str(&"─".repeat(widths.iter().sum::<usize>() + 2 * n.saturating_sub(1)));
    out.push('\n');
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_cells_align_by_display_width() {
        let t = render(
            &["单位", "得分"],
            &[
                vec!["肖旗乡".into(), "93.5".into()],
                vec!["justice".into(), "7".into()],
            ],
        );
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "单位     得分");
        assert_eq!(lines[2], "肖旗乡   93.5");
        assert_eq!(lines[3], "justice  7");
    }
}
