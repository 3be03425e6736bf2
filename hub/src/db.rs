//! 数据库（database）：数据目录中的 `hub.db`（SQLite）。
//!
//! [`MIGRATIONS`] is the hub's schema; opening, the pragmas (WAL,
//! `synchronous = FULL`: a commit is on disk before a receipt is issued;
//! foreign keys; a busy timeout so the CLI and the server can share the
//! file), migrating and the integrity check are [`kaohe_tables::sqlite`]'s.
//! All pending migrations run in one `BEGIN IMMEDIATE` transaction with
//! foreign keys off and a `foreign_key_check` before commit, so a migration
//! may rebuild a table others refer to; a database whose version is newer
//! than this code knows is refused **before anything is written to it**.
//!
//! Layout: `migrations` (the schema, one migration per version),
//! [`result_columns`] (the JSON encoding of `results.scores` and
//! `results.clauses`: written by ingest, read by results).

use std::path::{Path, PathBuf};

use kaohe_tables::sqlite::{self, Missing, Schema};
use rusqlite::Connection;

pub use kaohe_tables::sqlite::IntegrityError;
pub use migrations::MIGRATIONS;

mod migrations;
pub mod result_columns;

/// The database file inside the hub's data directory.
pub const DB_FILE: &str = "hub.db";

/// The hub's schema: its migrations, and its name in messages.
pub const SCHEMA: Schema = Schema {
    noun: "数据库",
    migrations: MIGRATIONS,
};

/// The schema version this code writes and understands.
pub const SCHEMA_VERSION: u32 = SCHEMA.version();

/// Opening (and migrating) the hub database failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("不能创建数据目录 {path}（cannot create data directory）：{source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Most often a mistyped `--data-dir`: the message must not invite
    /// creating a second, empty hub there.
    #[error(
        "数据目录 {dir}{} 中没有汇总中心的数据库 {DB_FILE}：请核对 --data-dir 是否写对（应为汇总中心的数据目录，如 /var/lib/kaohe/hub）；只有新建汇总中心时才在新目录运行 `kaohe hub init`（no hub database here: check --data-dir; run `kaohe hub init` only to set up a new hub）",
        if *.dir_exists { "" } else { "（该目录不存在）" }
    )]
    NotInitialised { dir: PathBuf, dir_exists: bool },
    #[error(transparent)]
    Database(#[from] sqlite::OpenError),
}

/// Opens `DATA_DIR/hub.db`, creating the directory and the database if needed,
/// and migrates it to [`SCHEMA_VERSION`].
pub fn create(data_dir: &Path) -> Result<Connection, OpenError> {
    std::fs::create_dir_all(data_dir).map_err(|source| OpenError::CreateDir {
        path: data_dir.to_path_buf(),
        source,
    })?;
    open(&data_dir.join(DB_FILE))
}

/// Opens `DATA_DIR/hub.db`, which must exist (see [`create`]), migrating it
/// to [`SCHEMA_VERSION`].
pub fn open_existing(data_dir: &Path) -> Result<Connection, OpenError> {
    let path = data_dir.join(DB_FILE);
    if !path.is_file() {
        return Err(OpenError::NotInitialised {
            dir: data_dir.to_path_buf(),
            dir_exists: data_dir.is_dir(),
        });
    }
    open(&path)
}

/// Opens the database file at `path` (created if absent) and migrates it to
/// [`SCHEMA_VERSION`]. A newer database is refused untouched.
pub fn open(path: &Path) -> Result<Connection, OpenError> {
    open_at_version(path, SCHEMA_VERSION)
}

/// Runs `PRAGMA integrity_check` (and the foreign key check).
pub fn integrity_check(conn: &Connection) -> Result<(), IntegrityError> {
    SCHEMA.integrity_check(conn)
}

/// The schema version recorded in the database.
pub fn schema_version(conn: &Connection) -> rusqlite::Result<u32> {
    sqlite::schema_version(conn)
}

/// Opens and migrates up to `target` (≤ [`SCHEMA_VERSION`]); tests use a
/// lower target to build old-schema snapshots.
pub(crate) fn open_at_version(path: &Path, target: u32) -> Result<Connection, OpenError> {
    Ok(SCHEMA.open_at(path, target, Missing::Create)?)
}

#[cfg(test)]
mod tests;
