//! 证据库（evidence store）：数据目录中的 `node.db`（SQLite）。
//!
//! One file holds everything a node must not lose: the synced rule packs,
//! the units and methods in its delegated scope, the evidence officials
//! entered with its full change history, and (written by `submit`) the
//! evaluations with the signed envelopes of the outbox.
//!
//! Opening, the pragmas (WAL, `synchronous = FULL`: a committed import or
//! outbox entry is on disk; foreign keys; a busy timeout so two `kaohe node`
//! commands can share the file), migrating and the integrity check are
//! [`kaohe_tables::sqlite`]'s: [`MIGRATIONS`] run in one transaction with
//! foreign keys off and a `foreign_key_check` before commit, and a store
//! newer than this code is refused before anything is written to it.
//!
//! ## Schema (version 3)
//!
//! | table | one row per | notes |
//! |---|---|---|
//! | `units` | unit the node has heard of | from sync; never deleted (evidence refers to it) |
//! | `scope_units`, `scope_methods` | (year, unit) / (year, method) in scope | replaced per year by sync |
//! | `packs` | synced pack version | module, manifest, authorities' envelope; one active per year, never an older version |
//! | `evidence_sources` | import or `set` | who (operator), when, file name and SHA-256 |
//! | `evidence` | (unit, year, round, field) | ABI-encoded value (hundredths), the source that wrote it |
//! | `evidence_history` | change | old → new (NULL = absent), append-only (triggers) |
//! | `not_applicable` | (unit, year, round, indicator) marked not applicable | the assessor's reason, the source that wrote it |
//! | `not_applicable_history` | change of a mark | old → new reason (NULL = not marked), append-only (triggers) |
//! | `counters` | named counter | `sequence`: the node's last submission sequence number |
//! | `evaluations` | evaluation that was submitted | evidence and result as JSON; never deleted |
//! | `outbox` | signed envelope | state `to_send → sending → accepted / rejected / retry`, or `superseded` (replaced by a newer pack, never sent); the persisted next attempt time (`next_attempt_at`, unix seconds) and the hub's rejection code; never deleted |
//! | `outbox_transitions` | state change | append-only |
//! | `node_meta` | named value | `last_sync`: when `kaohe node sync` last completed |
//! | `log_witnessed` | year | the last checkpoint of the hub's log found consistent (version 3) |
//! | `log_evidence` | inconsistency found | both signed checkpoints, the proof given, the reason; resolved by an official, never deleted (version 3) |
//!
//! Version 2 rebuilt `outbox` (a CHECK constraint cannot be altered in
//! SQLite) to add the `superseded` state, `next_attempt_at` and
//! `rejection_code`; every row and transition is carried over. Version 3
//! added the not-applicable marks and their history.
//!
//! Layout — each module owns the SQL of its tables, and nothing outside
//! this module runs SQL:
//! - `migrations`: [`MIGRATIONS`], the schema above, version by version;
//! - `scope`: `units`, `scope_units`, `scope_methods` ([`Scope`]);
//! - `packs`: `packs` — install and activate ([`Store::install_pack`]);
//! - `evidence`: `evidence`, `evidence_sources`, `evidence_history`
//!   ([`Store::apply_evidence`], all or nothing; with marks
//!   [`Store::apply_evidence_and_marks`]);
//! - `cells`: the one writer of a versioned cell (current table + history),
//!   used by `evidence` and `marks`;
//! - `marks`: `not_applicable` and its history ([`MarkWrite`], read per
//!   unit and round for evaluation);
//! - `evaluations`: `evaluations` and the `sequence` counter — a submit's
//!   transaction ([`Queue`]) and what must be evaluated again;
//! - `outbox`: `outbox`, `outbox_transitions` — claiming, recording
//!   outcomes, superseding; it applies what the pure state machine in
//!   [`crate::outbox`] allows;
//! - `witness`: `log_witnessed`, `log_evidence` — the hub's log as this
//!   node witnessed it ([`crate::witness`]);
//! - here: opening, the schema version, `node_meta`.

use std::fmt;
use std::path::{Path, PathBuf};

use kaohe_rulepacks::manifest::Round;
use kaohe_tables::sqlite::{self, Missing, Schema};
use rusqlite::{Connection, OptionalExtension as _, params};

mod cells;
mod evaluations;
mod evidence;
mod marks;
mod migrations;
mod outbox;
mod packs;
mod scope;
mod witness;

pub use evaluations::{NewEvaluation, Queue, Reevaluation};
pub use evidence::{
    ApplyError, ApplySummary, EvidenceRow, EvidenceWrite, HistoryRow, PROGRESS_EVERY, SourceKind,
};
pub use marks::{MarkHistoryRow, MarkRow, MarkWrite};
pub use migrations::MIGRATIONS;
pub use outbox::{Claim, Counts, RecordError, Settled, Transition};
pub use packs::{InstallPackError, NewPack, NoPack, PackInfo};
pub use scope::{Scope, ScopeError, UnitInfo};
pub use witness::{LogEvidence, NewLogEvidence, ResolveError, Witnessed};

/// The database file inside the node's data directory.
pub const DB_FILE: &str = "node.db";

/// The store's schema: its migrations, and its name in messages.
pub const SCHEMA: Schema = Schema {
    noun: "证据库",
    migrations: MIGRATIONS,
};

/// The schema version this code writes and understands.
pub const SCHEMA_VERSION: u32 = SCHEMA.version();

/// The node's evidence store.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

/// Who did something, and when (passed in: the store reads no clock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The official's name or login.
    pub operator: String,
    pub at: jiff::Timestamp,
}

/// Opening (and migrating) the store failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(
        "证据库 {path} 不存在，请先运行 `kaohe node init`（no evidence store: run `kaohe node init` first）"
    )]
    NotInitialised { path: PathBuf },
    #[error(
        "证据库 {path} 已存在，不会覆盖（the evidence store already exists and is not overwritten）"
    )]
    AlreadyExists { path: PathBuf },
    #[error(transparent)]
    Database(#[from] sqlite::OpenError),
}

/// A read or a simple write of the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("证据库读写失败（evidence store error）：{0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("证据库中的数据损坏（corrupt data in the evidence store）：{0}")]
    Corrupt(String),
}

pub use kaohe_tables::sqlite::IntegrityError;

impl Store {
    /// Creates a new store at `path`; refuses if the file exists.
    pub fn create(path: &Path) -> Result<Store, OpenError> {
        if path.exists() {
            return Err(OpenError::AlreadyExists {
                path: path.to_path_buf(),
            });
        }
        open_at_version(path, SCHEMA_VERSION, true)
    }

    /// Opens an existing store, migrating it to [`SCHEMA_VERSION`]. A newer
    /// store is refused untouched.
    pub fn open(path: &Path) -> Result<Store, OpenError> {
        if !path.is_file() {
            return Err(OpenError::NotInitialised {
                path: path.to_path_buf(),
            });
        }
        open_at_version(path, SCHEMA_VERSION, false)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version recorded in the file.
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        Ok(sqlite::schema_version(&self.conn)?)
    }

    /// `PRAGMA integrity_check` and the foreign key check.
    pub fn integrity_check(&self) -> Result<(), IntegrityError> {
        SCHEMA.integrity_check(&self.conn)
    }

    /// A named value of `node_meta` (e.g. `last_sync`).
    pub fn meta(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT value FROM node_meta WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// Sets a named value of `node_meta`.
    pub fn set_meta(&mut self, name: &str, value: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO node_meta (name, value) VALUES (?1, ?2)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            params![name, value],
        )?;
        Ok(())
    }

    /// The connection, for tests that check what the schema itself refuses
    /// (the triggers); library code goes through the methods above.
    #[cfg(test)]
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}（{}）", self.operator, self.at)
    }
}

/// A `u64` (sequence numbers, counts) as SQLite's signed integer.
fn sql_u64(v: u64) -> rusqlite::Result<i64> {
    i64::try_from(v).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

/// A column holding a non-negative integer as `u64`.
fn get_u64(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<u64> {
    let v: i64 = r.get(i)?;
    u64::try_from(v).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Integer, Box::new(e))
    })
}

fn parse_round(text: &str) -> Result<Round, StoreError> {
    Round::from_id(text).ok_or_else(|| StoreError::Corrupt(format!("unknown round {text:?}")))
}

/// Opens and migrates up to `target`; tests use a lower target to build
/// old-schema snapshots.
fn open_at_version(path: &Path, target: u32, create: bool) -> Result<Store, OpenError> {
    let missing = if create {
        Missing::Create
    } else {
        Missing::Refuse
    };
    Ok(Store {
        conn: SCHEMA.open_at(path, target, missing)?,
        path: path.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_store_has_every_table() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(&dir.path().join(DB_FILE)).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        assert_eq!(
            sqlite::table_names(&store.conn).unwrap(),
            [
                "counters",
                "evaluations",
                "evidence",
                "evidence_history",
                "evidence_sources",
                "log_evidence",
                "log_witnessed",
                "node_meta",
                "not_applicable",
                "not_applicable_history",
                "outbox",
                "outbox_transitions",
                "packs",
                "scope_methods",
                "scope_units",
                "sqlite_sequence",
                "units",
            ]
        );
        store.integrity_check().unwrap();
    }

    #[test]
    fn create_refuses_an_existing_file_and_open_refuses_a_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        let err = Store::open(&path).unwrap_err();
        assert!(matches!(err, OpenError::NotInitialised { .. }), "{err:?}");
        assert!(err.to_string().contains("kaohe node init"), "{err}");
        assert!(!path.exists(), "open must not create the store");
        drop(Store::create(&path).unwrap());
        assert!(matches!(
            Store::create(&path),
            Err(OpenError::AlreadyExists { .. })
        ));
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    }

    /// "No pack" says whether the year is in the node's scope at all, so
    /// an official is not sent to sync for a year no pack will ever cover.
    #[test]
    fn a_year_without_a_pack_says_whether_the_node_has_it_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::create(&dir.path().join(DB_FILE)).unwrap();
        let none = store.require_pack(2022).unwrap().unwrap_err().to_string();
        assert!(none.contains("尚未同步考核范围"), "{none}");
        store
            .replace_scope(&crate::testutil::sample_scope(2022))
            .unwrap();
        let wanted = store.require_pack(2022).unwrap().unwrap_err().to_string();
        assert!(
            wanted.starts_with("2022 年还没有启用的规则包：请先运行 kaohe node sync"),
            "{wanted}"
        );
        assert!(
            wanted.contains("汇总中心尚未发布 2022 年的规则包"),
            "{wanted}"
        );
        crate::testutil::install_test_pack(
            &mut store,
            &crate::testutil::test_manifest(),
            b"test module",
        );
        assert!(store.require_pack(2022).unwrap().is_ok());
        let other = store.require_pack(2021).unwrap().unwrap_err().to_string();
        assert!(
            other.starts_with("2021 年不在本节点的考核范围内，没有该年度的规则包可用：本节点的考核年度为 2022，已启用规则包的年度为 2022"),
            "{other}"
        );
    }

    #[test]
    fn an_unmigrated_store_is_brought_to_the_current_schema() {
        // Version 0 is an empty SQLite file (what a crash during `init`
        // before the first migration committed leaves behind).
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        drop(open_at_version(&path, 0, true).unwrap());
        let raw = Connection::open(&path).unwrap();
        assert_eq!(sqlite::schema_version(&raw).unwrap(), 0);
        drop(raw);
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        assert!(
            sqlite::table_names(&store.conn)
                .unwrap()
                .iter()
                .any(|t| t == "outbox")
        );
    }
}
