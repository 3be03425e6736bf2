//! The HTML rendering: one self-contained Chinese page.

use std::fmt::Write as _;

use super::{CATEGORY_COLUMNS, NoteTable, category_doc, category_table, overview};
use crate::decimal::format_hundredths;
use crate::manifest::Manifest;

pub(super) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' => out.push_str("<br>"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:\"Noto Serif CJK SC\",\"Source Han Serif SC\",SimSun,\"宋体\",serif;margin:2em auto;max-width:72em;line-height:1.6;color:#111}\
h1{text-align:center;font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #999}\
table{border-collapse:collapse;width:100%;margin:1em 0}th,td{border:1px solid #666;padding:.3em .5em;vertical-align:top}\
th{background:#d9e1f2}td.c{text-align:center;white-space:nowrap}tr.s td{background:#f2f2f2;font-weight:bold}\
dl{display:grid;grid-template-columns:8em 1fr;gap:.3em 1em}dt{font-weight:bold}dd{margin:0}\
nav a{margin-right:1em}@media print{nav{display:none}h2{page-break-before:always}}";

/// Renders the HTML page (UTF-8, self-contained, Chinese).
pub fn html(m: &Manifest, notes: &[NoteTable]) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        esc(&m.pack.title),
        esc(&m.pack.title)
    );
    h.push_str("<dl>\n");
    for (label, text) in overview(m) {
        let _ = writeln!(h, "<dt>{}</dt><dd>{}</dd>", esc(&label), esc(&text));
    }
    h.push_str("</dl>\n<nav>");
    for (c, cat) in m.categories.iter().enumerate() {
        let _ = write!(h, "<a href=\"#c{c}\">第{}类</a>", cat.no);
    }
    if !notes.is_empty() {
        h.push_str("<a href=\"#assumptions\">假设与选定事项</a>");
    }
    h.push_str("</nav>\n<h2>考核对象类别</h2>\n");
    let (header, rows) = category_table(m);
    html_table(&mut h, &header, &rows);
    for c in 0..m.categories.len() {
        let Some(doc) = category_doc(m, c) else {
            continue;
        };
        let _ = writeln!(
            h,
            "<h2 id=\"c{c}\">{}</h2>\n<p>{}</p>",
            esc(&doc.title),
            esc(&doc.summary)
        );
        h.push_str("<table>\n<tr>");
        for col in CATEGORY_COLUMNS {
            let _ = write!(h, "<th>{col}</th>");
        }
        h.push_str("</tr>\n");
        for section in &doc.sections {
            let _ = writeln!(
                h,
                "<tr class=\"s\"><td colspan=\"5\">{}</td></tr>",
                esc(&section.heading)
            );
            for row in &section.rows {
                let _ = writeln!(
                    h,
                    "<tr><td class=\"c\">{}</td><td>{}</td><td class=\"c\">{}</td><td class=\"c\">{}</td><td>{}</td></tr>",
                    row.no,
                    esc(&row.content),
                    esc(&row.points),
                    esc(&row.method),
                    esc(&row.criteria)
                );
            }
        }
        let _ = writeln!(
            h,
            "<tr class=\"s\"><td></td><td>合计（应考分值）</td><td class=\"c\">{}</td><td></td><td></td></tr>\n</table>",
            format_hundredths(doc.applicable)
        );
    }
    if !notes.is_empty() {
        h.push_str("<h2 id=\"assumptions\">假设与选定事项</h2>\n");
        for table in notes {
            let _ = writeln!(h, "<h3>{}</h3>", esc(&table.title));
            html_table(&mut h, &table.header, &table.rows);
        }
    }
    h.push_str("</body>\n</html>\n");
    h
}

fn html_table(h: &mut String, header: &[String], rows: &[Vec<String>]) {
    h.push_str("<table>\n<tr>");
    for col in header {
        let _ = write!(h, "<th>{}</th>", esc(col));
    }
    h.push_str("</tr>\n");
    for row in rows {
        h.push_str("<tr>");
        for cell in row {
            let _ = write!(h, "<td>{}</td>", esc(cell));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n");
}
