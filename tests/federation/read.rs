//! Reading what the commands printed — table rows and cells, sections, the
//! outbox counts of `kaohe node status` — and what a SQLite file holds,
//! read-only.

use std::path::Path;

pub fn read_only(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap_or_else(|e| panic!("open {} read-only: {e}", path.display()))
}

pub fn count<P: rusqlite::Params>(conn: &rusqlite::Connection, sql: &str, params: P) -> i64 {
    conn.query_row(sql, params, |r| r.get(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

pub fn strings(conn: &rusqlite::Connection, sql: &str) -> Vec<String> {
    let mut stmt = conn.prepare(sql).unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The cells of the table row of `text` whose first cell is `first`
/// (tables pad their columns with at least two spaces).
pub fn row<'a>(text: &'a str, first: &str) -> Vec<&'a str> {
    text.lines()
        .map(cells)
        .find(|c| c.first() == Some(&first))
        .unwrap_or_else(|| panic!("no row {first:?} in:\n{text}"))
}

/// The counts of `kaohe node status`: 待发送 发送中 待重发 已接收 被拒绝 已作废.
pub fn outbox_table(status: &str) -> Vec<&str> {
    let mut lines = status.lines().skip_while(|l| !l.starts_with("待发送"));
    assert_eq!(
        lines.next().map(cells),
        Some(vec![
            "待发送",
            "发送中",
            "待重发",
            "已接收",
            "被拒绝",
            "已作废"
        ]),
        "{status}"
    );
    lines.nth(1).map(cells).unwrap_or_default()
}

/// The cells of one table line.
pub fn cells(line: &str) -> Vec<&str> {
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect()
}

/// The block of `text` from the line starting with `heading` to the next
/// blank line.
pub fn section<'a>(text: &'a str, heading: &str) -> &'a str {
    let start = text
        .find(heading)
        .unwrap_or_else(|| panic!("no {heading:?} in:\n{text}"));
    let rest = &text[start..];
    &rest[..rest.find("\n\n").unwrap_or(rest.len())]
}

/// `PRAGMA integrity_check` says `ok`.
pub fn integrity_ok(conn: &rusqlite::Connection) {
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}
