//! 往年结果导入（history import）：earlier years' approved results
//! (单位编号, 年度, 总分, 等次) from Excel or CSV into `history_results`,
//! which [`crate::results::load_history`] hands to
//! [`crate::outcome::outcomes`] (consecutive 优秀 → commendation, a big
//! regression → warning).
//!
//! **All or nothing**: every row is checked first and every problem is
//! reported with its sheet, row and column; nothing is written unless all
//! rows are valid. The file is read by [`kaohe_tables::sheet`] as the
//! roster is ([`crate::registry::import::LIMITS`]): one visible sheet,
//! hidden sheets never read, formulas refused. Grades are matched against the manifest of the year the
//! history serves, by grade id (`excellent`) or Chinese name (`优秀`), and
//! stored as ids. A row for a (year, unit) already stored replaces it. One
//! audit record (`history.import`) with the file's name and SHA-256.

use std::collections::BTreeMap;
use std::path::Path;

use kaohe_rulepacks::manifest::Manifest;
use kaohe_tables::sheet::{self, Cell, Format, LoadError, Place, ReadError};
use kaohe_tables::text::{self, Fold, echo};
use rusqlite::{Connection, params};
use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::action;
use crate::audit::{self, Actor};
use crate::registry::import::LIMITS;

/// Importing history failed; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum HistoryImportError {
    #[error("读取文件 {path} 失败（cannot read file）：{source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    File(#[from] ReadError),
    #[error("往年结果文件有 {} 处问题，未写入任何数据（nothing written）：{}", .0.len(), sheet::problem_lines(.0))]
    Invalid(Vec<String>),
    #[error("数据库读写失败，未写入任何数据（database error, nothing written）：{0}")]
    Sqlite(#[from] rusqlite::Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    Unit,
    Year,
    Total,
    Grade,
}

const COLUMNS: [(Col, &str, &str); 4] = [
    (Col::Unit, "单位编号", "unit_id"),
    (Col::Year, "年度", "year"),
    (Col::Total, "总分", "total"),
    (Col::Grade, "等次", "grade"),
];

fn header_col(text: &str) -> Option<Col> {
    let key: String = text
        .split(['（', '('])
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_lowercase();
    COLUMNS
        .iter()
        .find(|(_, zh, en)| key == *zh || key == *en)
        .map(|(c, _, _)| *c)
}

/// `95`, `95.5`, `95.50` → hundredths.
fn parse_total(text: &str) -> Option<i64> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty()
        || !whole.chars().all(|c| c.is_ascii_digit())
        || frac.len() > 2
        || !frac.chars().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let frac: i64 = format!("{frac:0<2}").parse().ok()?;
    whole
        .checked_mul(100)?
        .checked_add(frac)
        .filter(|v| *v <= 20_000)
}

/// One checked row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    pub year: i32,
    pub unit_id: String,
    /// Hundredths.
    pub total: i64,
    /// Grade id of `manifest`.
    pub grade: String,
}

/// What an import stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryImport {
    /// Rows stored.
    pub rows: usize,
    /// Hidden sheets of the workbook, which were not read.
    pub hidden_sheets: Vec<String>,
}

/// Parses and checks a history file's bytes. Pure.
pub fn parse_history(
    bytes: &[u8],
    format: Format,
    manifest: &Manifest,
) -> Result<Vec<HistoryRow>, HistoryImportError> {
    check_history(&sheet::read(bytes, format, &LIMITS)?, manifest)
}

fn check_history(
    book: &sheet::Workbook,
    manifest: &Manifest,
) -> Result<Vec<HistoryRow>, HistoryImportError> {
    let grid = book.single()?;
    let place = |row: usize, col: Option<usize>| {
        Place {
            sheet: grid.sheet.as_deref(),
            row: Some(row),
            column: col,
        }
        .to_string()
    };
    let mut problems = Vec::new();
    // Each row with content as text; a formula is refused where it stands
    // and its row is not checked further.
    let mut rows: Vec<(usize, BTreeMap<usize, String>)> = Vec::new();
    let mut formula_rows = Vec::new();
    for (r, cells) in grid.rows.iter().enumerate() {
        let mut texts = BTreeMap::new();
        for (c, cell) in cells.iter().enumerate() {
            let shown = match cell {
                _ if cell.is_empty() => continue,
                Cell::Text(t) => text::fold_width(text::trim(t), Fold::All).into_owned(),
                Cell::Number(n) => text::number(*n),
                Cell::Formula(f) => {
                    problems.push(format!(
                        "{}：单元格是公式 ={}，请改为直接填写内容（formula where a value belongs）",
                        place(r + 1, Some(c)),
                        echo(f)
                    ));
                    formula_rows.push(r + 1);
                    continue;
                }
                other => other.describe(),
            };
            texts.insert(c, shown);
        }
        if !texts.is_empty() {
            rows.push((r + 1, texts));
        }
    }
    let header = rows
        .iter()
        .take(10)
        .position(|(_, cells)| cells.values().filter(|t| header_col(t).is_some()).count() >= 2);
    let Some(h) = header else {
        problems.push(format!(
            "{}找不到表头：须有 单位编号、年度、总分、等次 四列（no header row）",
            Place {
                sheet: grid.sheet.as_deref(),
                ..Place::default()
            }
        ));
        return Err(HistoryImportError::Invalid(problems));
    };
    let (header_row, header_cells) = &rows[h];
    let mut cols: BTreeMap<usize, Col> = BTreeMap::new();
    for (c, text) in header_cells {
        if let Some(col) = header_col(text) {
            cols.insert(*c, col);
        }
    }
    for (col, zh, _) in COLUMNS {
        if !cols.values().any(|c| *c == col) {
            problems.push(format!(
                "{}：缺少「{zh}」列（missing column）",
                place(*header_row, None)
            ));
        }
    }
    if !problems.is_empty() {
        return Err(HistoryImportError::Invalid(problems));
    }
    let grade_names = manifest
        .composition
        .grades
        .iter()
        .map(|g| format!("{}（{}）", g.name, g.id))
        .collect::<Vec<_>>()
        .join("、");
    let mut out = Vec::new();
    let mut seen: BTreeMap<(i32, String), usize> = BTreeMap::new();
    for (number, cells) in &rows[h + 1..] {
        if formula_rows.contains(number) {
            continue;
        }
        let get = |want: Col| {
            cols.iter()
                .find(|(_, c)| **c == want)
                .map(|(i, _)| (*i, cells.get(i).map(String::as_str).unwrap_or("")))
        };
        let (Some((uc, unit)), Some((yc, year)), Some((tc, total)), Some((gc, grade))) = (
            get(Col::Unit),
            get(Col::Year),
            get(Col::Total),
            get(Col::Grade),
        ) else {
            continue;
        };
        let mut bad =
            |c: usize, what: String| problems.push(format!("{}：{what}", place(*number, Some(c))));
        let unit_ok = !unit.is_empty()
            && unit.len() <= 64
            && unit
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !unit_ok {
            bad(
                uc,
                format!("单位编号「{}」无效（invalid unit id）", echo(unit)),
            );
        }
        let year_v = year
            .parse::<i32>()
            .ok()
            .filter(|y| (2000..=2100).contains(y));
        if year_v.is_none() {
            bad(
                yc,
                format!(
                    "年度「{}」无效，须为 2000–2100 的年份（invalid year）",
                    echo(year)
                ),
            );
        }
        let total_v = parse_total(total);
        if total_v.is_none() {
            bad(
                tc,
                format!(
                    "总分「{}」无效，须为 0–200 分、至多两位小数（invalid total）",
                    echo(total)
                ),
            );
        }
        let grade_v = manifest
            .composition
            .grades
            .iter()
            .find(|g| g.id == grade || g.name == grade)
            .map(|g| g.id.clone());
        if grade_v.is_none() {
            bad(
                gc,
                format!(
                    "等次「{}」不是规则包的等次之一：{grade_names}（unknown grade）",
                    echo(grade)
                ),
            );
        }
        if let (true, Some(year), Some(total), Some(grade)) = (unit_ok, year_v, total_v, grade_v) {
            if let Some(first) = seen.insert((year, unit.to_string()), *number) {
                bad(
                    uc,
                    format!("单位 {unit} 的 {year} 年度结果与第{first}行重复（duplicate）"),
                );
            }
            out.push(HistoryRow {
                year,
                unit_id: unit.to_string(),
                total,
                grade,
            });
        }
    }
    if out.is_empty() && problems.is_empty() {
        problems.push(format!(
            "{}：表头下没有数据（no rows）",
            place(*header_row, None)
        ));
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(HistoryImportError::Invalid(problems))
    }
}

/// Reads, checks and stores `path`.
pub fn import_history_file(
    conn: &mut Connection,
    path: &Path,
    manifest: &Manifest,
    actor: &Actor,
) -> Result<HistoryImport, HistoryImportError> {
    let loaded = sheet::load(path, &LIMITS).map_err(|e| match e {
        LoadError::Io { path, source } => HistoryImportError::Read {
            path: path.display().to_string(),
            source,
        },
        LoadError::Read(e) => e.into(),
    })?;
    let file = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    import_history(conn, &file, &loaded.bytes, loaded.format, manifest, actor)
}

/// Checks and stores an uploaded file (the console's 往年结果 form): the
/// format from `file_name`'s extension, as [`import_history_file`] takes
/// it from the path.
pub fn import_history_upload(
    conn: &mut Connection,
    file_name: &str,
    bytes: &[u8],
    manifest: &Manifest,
    actor: &Actor,
) -> Result<HistoryImport, HistoryImportError> {
    let format = Format::from_path(Path::new(file_name))?;
    import_history(conn, file_name, bytes, format, manifest, actor)
}

fn import_history(
    conn: &mut Connection,
    file: &str,
    bytes: &[u8],
    format: Format,
    manifest: &Manifest,
    actor: &Actor,
) -> Result<HistoryImport, HistoryImportError> {
    let book = sheet::read(bytes, format, &LIMITS)?;
    let rows = check_history(&book, manifest)?;
    let sha = hex::encode(Sha256::digest(bytes));
    let source = format!("{file} sha256:{sha}");
    let tx = conn.transaction()?;
    for r in &rows {
        tx.execute(
            "INSERT OR REPLACE INTO history_results (year, unit_id, total, grade, source, imported_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![r.year, r.unit_id, r.total, r.grade, source, actor.at.to_string()],
        )?;
    }
    let mut years: Vec<i32> = rows.iter().map(|r| r.year).collect();
    years.sort_unstable();
    years.dedup();
    audit::append(
        &tx,
        actor,
        action::HISTORY_IMPORT,
        "history_results",
        &json!({"file": file, "sha256": sha, "rows": rows.len(), "years": years}),
    )?;
    tx.commit()?;
    Ok(HistoryImport {
        rows: rows.len(),
        hidden_sheets: book.hidden,
    })
}
