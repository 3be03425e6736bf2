//! 文字表格（text tables）：按显示宽度对齐，中文字符占两格。

use unicode_width::UnicodeWidthStr;

/// Renders `rows` under `headers`, columns separated by two spaces and
/// padded to the widest cell as a terminal shows it (CJK = 2 columns).
pub fn render(headers: &[&str], rows: &[Vec<String>]) -> String {
    let columns = headers.len();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.width()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(columns) {
            widths[i] = widths[i].max(cell.width());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    push_row(&mut out, &header, &widths);
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    push_row(&mut out, &rule, &widths);
    for row in rows {
        push_row(&mut out, row, &widths);
    }
    out
}

fn push_row(out: &mut String, row: &[String], widths: &[usize]) {
    let mut line = String::new();
    for (i, width) in widths.iter().enumerate() {
        let cell = row.get(i).map(String::as_str).unwrap_or("");
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
}
