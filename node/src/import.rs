//! 证据导入（evidence import）：`kaohe node import` 与 `kaohe node set`。
//!
//! **All or nothing.** The whole file is read ([`kaohe_tables::sheet`]) and
//! checked against the [`Layout`] first; every problem is reported at once,
//! each naming the sheet, row, column (with its header), unit and the rule
//! broken ([`Problem`]); nothing is written unless the whole file is valid.
//! The valid evidence is then written in **one SQLite transaction**
//! ([`Store::apply_evidence`]), so a node killed mid-import leaves nothing
//! half-written.
//!
//! What a row means. In each row the cells of one **method** form a block:
//! a block with no value at all is "not reported in this file" and leaves
//! stored values alone; a block with any value is the unit's complete
//! evidence of that method for that round — its required fields must be
//! filled, and an optional field left empty removes a stored value. A
//! corrected file imported again therefore replaces what it covers, and
//! every change (old → new, who, when, which file) is kept in the history.
//!
//! The rules, each a [`Rule`]: unknown sheet, header rows not found,
//! missing / unknown / renamed / duplicated / unnamed columns, merged cells,
//! a field of a method outside this node's scope or on the wrong round's
//! sheet, ragged CSV rows, a missing or non-text unit id, unknown unit, unit
//! outside the scope, unit name not matching the id, bad round (CSV),
//! duplicate rows, formulas, Excel error values, wrong types (text where a
//! number belongs and the reverse), more than two decimals, out of range,
//! missing required values, values in cells that do not apply to the
//! unit's category or (CSV) to the row's round, and a template of another
//! year. Full-width digits are accepted and counted (see [`crate::value`]).
//!
//! Not applicable: a reason written in an indicator's `不适用理由` column
//! marks it not applicable (不适用) to the unit for the round; it belongs
//! to its method's block (so a block may be reported by a reason alone —
//! a whole method not applicable), and a required field that only marked
//! indicators read may be left empty. A reason must be text of at most
//! 500 characters, in a cell that applies to the unit. The reason columns
//! are optional: a template made before they existed imports as before,
//! leaving stored marks alone.
//!
//! Layout: here the import of a file, all or nothing; `problem` (what an
//! official is told: [`Problem`] = [`Location`] + [`Rule`]), `check` (the
//! pure check of a file's grids against the [`Layout`] — sheets and the
//! template marker, then `check/columns` the header rows and columns,
//! `check/row` each row's unit, round and cells), `set` (one value from
//! the command line, with the same checks).

use std::path::Path;

use kaohe_tables::sheet::{self, Format, Limits, LoadError, ReadError, TextEncoding};
use sha2::{Digest as _, Sha256};

use crate::layout::{Layout, LayoutError};
use crate::store::{
    Actor, ApplyError, ApplySummary, EvidenceWrite, MarkWrite, SourceKind, Store, StoreError,
};

mod check;
mod problem;
mod set;

pub use check::check;
pub use problem::{Location, Problem, Rule};
pub use set::{SetError, check_set, set_value};

/// The import refused the file (nothing was written), or writing failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("不能读取文件 {path}（cannot read the file）：{source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{file}：{source}")]
    Read { file: String, source: ReadError },
    #[error(transparent)]
    NoPack(#[from] crate::store::NoPack),
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error("{}", invalid_message(file, problems))]
    Invalid {
        file: String,
        problems: Vec<Problem>,
    },
    #[error(
        "导入 {file} 时写入失败，未保存任何数据（writing failed; nothing was saved）：{source}"
    )]
    Apply { file: String, source: ApplyError },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid_message(file: &str, problems: &[Problem]) -> String {
    format!(
        "{file} 有 {} 处问题，未导入任何数据（{} problems; nothing was imported）：{}",
        problems.len(),
        problems.len(),
        sheet::problem_lines(problems)
    )
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    pub summary: ApplySummary,
    /// Data rows that reported something.
    pub rows: usize,
    /// (unit, round, method) blocks written.
    pub blocks: usize,
    /// Cells read after mapping full-width characters to ASCII.
    pub normalised: usize,
    /// CSV only: how the text was decoded.
    pub encoding: Option<TextEncoding>,
    /// Hidden sheets of the workbook, which were not read.
    pub hidden_sheets: Vec<String>,
    pub sha256: [u8; 32],
}

/// The checked content of a file, ready to be written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    pub writes: Vec<EvidenceWrite>,
    /// Not-applicable marks set or cleared (reason columns of reported
    /// blocks).
    pub marks: Vec<MarkWrite>,
    pub rows: usize,
    pub blocks: usize,
    pub normalised: usize,
}

/// Imports `path` (`.xlsx` or `.csv`) as the evidence of `year`.
pub fn import_file(
    store: &mut Store,
    path: &Path,
    year: u16,
    actor: &Actor,
    limits: &Limits,
    progress: &mut dyn FnMut(usize),
) -> Result<ImportReport, ImportError> {
    let shown = path.display().to_string();
    let loaded = sheet::load(path, limits).map_err(|e| match e {
        LoadError::Io { source, .. } => ImportError::Io {
            path: shown.clone(),
            source,
        },
        LoadError::Read(source) => ImportError::Read {
            file: shown.clone(),
            source,
        },
    })?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| shown.clone());
    import_bytes(
        store,
        &name,
        &loaded.bytes,
        loaded.format,
        year,
        actor,
        limits,
        progress,
    )
}

/// Imports a file's bytes; `file_name` is used in messages and the history.
#[allow(
    clippy::too_many_arguments,
    reason = "one call site each in the CLI and the tests"
)]
pub fn import_bytes(
    store: &mut Store,
    file_name: &str,
    bytes: &[u8],
    format: Format,
    year: u16,
    actor: &Actor,
    limits: &Limits,
    progress: &mut dyn FnMut(usize),
) -> Result<ImportReport, ImportError> {
    let pack = store.require_pack(year)??;
    let scope = store.scope(year)?;
    let layout = Layout::new(&pack.manifest, &scope)?;
    let book = sheet::read(bytes, format, limits).map_err(|source| ImportError::Read {
        file: file_name.to_string(),
        source,
    })?;
    let known = store.known_units()?;
    let plan = check(&layout, &book.grids, &known).map_err(|problems| ImportError::Invalid {
        file: file_name.to_string(),
        problems,
    })?;
    let sha256: [u8; 32] = Sha256::digest(bytes).into();
    let source = SourceKind::Import {
        file_name: file_name.to_string(),
        sha256,
    };
    let summary = store
        .apply_evidence_and_marks(year, &plan.writes, &plan.marks, &source, actor, progress)
        .map_err(|source| ImportError::Apply {
            file: file_name.to_string(),
            source,
        })?;
    Ok(ImportReport {
        summary,
        rows: plan.rows,
        blocks: plan.blocks,
        normalised: plan.normalised,
        encoding: book.encoding,
        hidden_sheets: book.hidden,
        sha256,
    })
}

#[cfg(test)]
mod tests;
