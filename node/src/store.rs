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
//! ## Schema (version 2)
//!
//! | table | one row per | notes |
//! |---|---|---|
//! | `units` | unit the node has heard of | from sync; never deleted (evidence refers to it) |
//! | `scope_units`, `scope_methods` | (year, unit) / (year, method) in scope | replaced per year by sync |
//! | `packs` | synced pack version | module, manifest, authorities' envelope; one active per year, never an older version |
//! | `evidence_sources` | import or `set` | who (operator), when, file name and SHA-256 |
//! | `evidence` | (unit, year, round, field) | ABI-encoded value (hundredths), the source that wrote it |
//! | `evidence_history` | change | old → new (NULL = absent), append-only (triggers) |
//! | `counters` | named counter | `sequence`: the node's last submission sequence number |
//! | `evaluations` | evaluation that was submitted | evidence and result as JSON; never deleted |
//! | `outbox` | signed envelope | state `to_send → sending → accepted / rejected / retry`, or `superseded` (replaced by a newer pack, never sent); the persisted next attempt time (`next_attempt_at`, unix seconds) and the hub's rejection code; never deleted |
//! | `outbox_transitions` | state change | append-only |
//! | `node_meta` | named value | `last_sync`: when `kaohe node sync` last completed |
//!
//! Version 2 rebuilt `outbox` (a CHECK constraint cannot be altered in
//! SQLite) to add the `superseded` state, `next_attempt_at` and
//! `rejection_code`; every row and transition is carried over.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use kaohe_proto::{Envelope, PackIdentity};
use kaohe_rulepacks::manifest::{Manifest, Round};
use kaohe_tables::sqlite::{self, Missing, Schema};
use rusqlite::{Connection, OptionalExtension as _, TransactionBehavior, params};
use sha2::{Digest as _, Sha256};

/// The database file inside the node's data directory.
pub const DB_FILE: &str = "node.db";

/// How often (in written rows) [`Store::apply_evidence`] reports progress.
pub const PROGRESS_EVERY: usize = 500;

/// Ordered schema migrations; index *i* upgrades version *i* to *i + 1*.
///
/// Never edit a migration that has shipped: append a new one.
pub const MIGRATIONS: &[&str] = &[
    // 1: scope, packs, evidence with history, evaluations and the outbox.
    r#"
    CREATE TABLE units (
        unit_id          TEXT PRIMARY KEY,
        name             TEXT NOT NULL,
        category_id      TEXT NOT NULL,
        parent_id        TEXT,
        supervising_dept TEXT
    ) STRICT;

    CREATE TABLE scope_units (
        year    INTEGER NOT NULL,
        unit_id TEXT NOT NULL REFERENCES units (unit_id),
        PRIMARY KEY (year, unit_id)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE scope_methods (
        year      INTEGER NOT NULL,
        method_id TEXT NOT NULL,
        PRIMARY KEY (year, method_id)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE packs (
        pack_id       TEXT NOT NULL,
        year          INTEGER NOT NULL,
        version       INTEGER NOT NULL CHECK (version >= 1),
        module_sha256 BLOB NOT NULL CHECK (length(module_sha256) = 32),
        module        BLOB NOT NULL,
        manifest      TEXT NOT NULL CHECK (json_valid(manifest)),
        signature     BLOB NOT NULL,
        installed_at  TEXT NOT NULL,
        is_active     INTEGER NOT NULL CHECK (is_active IN (0, 1)),
        PRIMARY KEY (pack_id, year, version)
    ) STRICT;
    CREATE UNIQUE INDEX packs_one_active ON packs (year) WHERE is_active = 1;

    CREATE TABLE evidence_sources (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        kind        TEXT NOT NULL CHECK (kind IN ('import', 'set')),
        file_name   TEXT,
        file_sha256 TEXT,
        operator    TEXT NOT NULL,
        at          TEXT NOT NULL,
        CHECK ((kind = 'import') = (file_sha256 IS NOT NULL))
    ) STRICT;

    CREATE TABLE evidence (
        unit_id   TEXT NOT NULL REFERENCES units (unit_id),
        year      INTEGER NOT NULL,
        round     TEXT NOT NULL CHECK (round IN ('annual', 'Q1', 'Q2', 'Q3', 'Q4')),
        field_id  TEXT NOT NULL,
        value     INTEGER NOT NULL,
        source_id INTEGER NOT NULL REFERENCES evidence_sources (id),
        PRIMARY KEY (unit_id, year, round, field_id)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE evidence_history (
        seq       INTEGER PRIMARY KEY AUTOINCREMENT,
        unit_id   TEXT NOT NULL,
        year      INTEGER NOT NULL,
        round     TEXT NOT NULL,
        field_id  TEXT NOT NULL,
        old_value INTEGER,
        new_value INTEGER,
        source_id INTEGER NOT NULL REFERENCES evidence_sources (id),
        CHECK (old_value IS NOT new_value)
    ) STRICT;
    CREATE INDEX evidence_history_key ON evidence_history (unit_id, year, round, field_id);
    CREATE TRIGGER evidence_history_no_update BEFORE UPDATE ON evidence_history
    BEGIN
        SELECT RAISE(ABORT, '证据修改记录只能追加（evidence_history is append-only: UPDATE refused）');
    END;
    CREATE TRIGGER evidence_history_no_delete BEFORE DELETE ON evidence_history
    BEGIN
        SELECT RAISE(ABORT, '证据修改记录只能追加（evidence_history is append-only: DELETE refused）');
    END;

    CREATE TABLE counters (
        name  TEXT PRIMARY KEY,
        value INTEGER NOT NULL CHECK (value >= 0)
    ) STRICT;
    INSERT INTO counters (name, value) VALUES ('sequence', 0);

    CREATE TABLE evaluations (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        unit_id      TEXT NOT NULL REFERENCES units (unit_id),
        year         INTEGER NOT NULL,
        round        TEXT NOT NULL CHECK (round IN ('annual', 'Q1', 'Q2', 'Q3', 'Q4')),
        methods      TEXT NOT NULL,
        pack_id      TEXT NOT NULL,
        pack_year    INTEGER NOT NULL,
        pack_version INTEGER NOT NULL,
        evidence     TEXT NOT NULL CHECK (json_valid(evidence)),
        result       TEXT NOT NULL CHECK (json_valid(result)),
        content_sha256 BLOB NOT NULL CHECK (length(content_sha256) = 32),
        evaluated_at TEXT NOT NULL,
        evaluated_by TEXT NOT NULL,
        FOREIGN KEY (pack_id, pack_year, pack_version) REFERENCES packs (pack_id, year, version)
    ) STRICT;
    CREATE INDEX evaluations_key ON evaluations (unit_id, year, round, methods);
    CREATE TRIGGER evaluations_no_delete BEFORE DELETE ON evaluations
    BEGIN
        SELECT RAISE(ABORT, '已提交的评价不能删除（evaluations are never deleted）');
    END;

    CREATE TABLE outbox (
        sequence      INTEGER PRIMARY KEY CHECK (sequence >= 1),
        evaluation_id INTEGER NOT NULL UNIQUE REFERENCES evaluations (id),
        unit_id       TEXT NOT NULL,
        year          INTEGER NOT NULL,
        round         TEXT NOT NULL,
        methods       TEXT NOT NULL,
        digest        BLOB NOT NULL UNIQUE CHECK (length(digest) = 32),
        payload_type  TEXT NOT NULL,
        payload       BLOB NOT NULL,
        key_id        TEXT NOT NULL,
        signature     BLOB NOT NULL CHECK (length(signature) = 64),
        state         TEXT NOT NULL CHECK (state IN ('to_send', 'sending', 'accepted', 'rejected', 'retry')),
        attempts      INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
        last_error    TEXT,
        receipt       BLOB,
        created_at    TEXT NOT NULL,
        updated_at    TEXT NOT NULL,
        CHECK ((state = 'accepted') = (receipt IS NOT NULL))
    ) STRICT;
    CREATE INDEX outbox_pending ON outbox (state) WHERE state IN ('to_send', 'sending', 'retry');
    CREATE TRIGGER outbox_no_delete BEFORE DELETE ON outbox
    BEGIN
        SELECT RAISE(ABORT, '发件箱记录不能删除（outbox entries are never deleted）');
    END;

    CREATE TABLE outbox_transitions (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        sequence   INTEGER NOT NULL REFERENCES outbox (sequence),
        from_state TEXT,
        to_state   TEXT NOT NULL,
        at         TEXT NOT NULL,
        detail     TEXT NOT NULL
    ) STRICT;
    CREATE TRIGGER outbox_transitions_no_update BEFORE UPDATE ON outbox_transitions
    BEGIN
        SELECT RAISE(ABORT, '发件箱状态记录只能追加（outbox_transitions is append-only）');
    END;
    CREATE TRIGGER outbox_transitions_no_delete BEFORE DELETE ON outbox_transitions
    BEGIN
        SELECT RAISE(ABORT, '发件箱状态记录只能追加（outbox_transitions is append-only）');
    END;
    "#,
    // 2: superseded outbox entries, persisted retry times, rejection codes;
    // node_meta. The outbox is rebuilt because SQLite cannot alter a CHECK.
    r#"
    CREATE TABLE outbox_v2 (
        sequence        INTEGER PRIMARY KEY CHECK (sequence >= 1),
        evaluation_id   INTEGER NOT NULL UNIQUE REFERENCES evaluations (id),
        unit_id         TEXT NOT NULL,
        year            INTEGER NOT NULL,
        round           TEXT NOT NULL,
        methods         TEXT NOT NULL,
        digest          BLOB NOT NULL UNIQUE CHECK (length(digest) = 32),
        payload_type    TEXT NOT NULL,
        payload         BLOB NOT NULL,
        key_id          TEXT NOT NULL,
        signature       BLOB NOT NULL CHECK (length(signature) = 64),
        state           TEXT NOT NULL CHECK (state IN ('to_send', 'sending', 'accepted', 'rejected', 'retry', 'superseded')),
        attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
        last_error      TEXT,
        receipt         BLOB,
        created_at      TEXT NOT NULL,
        updated_at      TEXT NOT NULL,
        next_attempt_at INTEGER,
        rejection_code  TEXT,
        CHECK ((state = 'accepted') = (receipt IS NOT NULL))
    ) STRICT;
    INSERT INTO outbox_v2 (sequence, evaluation_id, unit_id, year, round, methods, digest,
                           payload_type, payload, key_id, signature, state, attempts,
                           last_error, receipt, created_at, updated_at)
        SELECT sequence, evaluation_id, unit_id, year, round, methods, digest,
               payload_type, payload, key_id, signature, state, attempts,
               last_error, receipt, created_at, updated_at
        FROM outbox;
    DROP TABLE outbox;
    ALTER TABLE outbox_v2 RENAME TO outbox;
    CREATE INDEX outbox_pending ON outbox (state) WHERE state IN ('to_send', 'sending', 'retry');
    CREATE INDEX outbox_subject ON outbox (unit_id, year, round);
    CREATE TRIGGER outbox_no_delete BEFORE DELETE ON outbox
    BEGIN
        SELECT RAISE(ABORT, '发件箱记录不能删除（outbox entries are never deleted）');
    END;

    CREATE TABLE node_meta (
        name  TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) STRICT;
    "#,
];

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
    pub(crate) conn: Connection,
    path: PathBuf,
}

/// Who did something, and when (passed in: the store reads no clock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The official's name or login.
    pub operator: String,
    pub at: jiff::Timestamp,
}

/// One assessee the node knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitInfo {
    pub unit_id: String,
    /// Chinese name, as published.
    pub name: String,
    /// Category id of the rule pack.
    pub category_id: String,
    pub parent_id: Option<String>,
    pub supervising_dept: Option<String>,
}

/// The node's delegated scope for one year: these units × these methods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub year: u16,
    /// Ordered by unit id when read from the store.
    pub units: Vec<UnitInfo>,
    /// Ordered by method id.
    pub methods: Vec<String>,
}

impl Scope {
    pub fn unit(&self, unit_id: &str) -> Option<&UnitInfo> {
        self.units.iter().find(|u| u.unit_id == unit_id)
    }

    pub fn has_method(&self, method_id: &str) -> bool {
        self.methods.iter().any(|m| m == method_id)
    }
}

/// A verified pack to install (sync verifies the authorities' signatures
/// before it calls [`Store::install_pack`]; the store checks only that the
/// pieces belong together).
#[derive(Debug, Clone)]
pub struct NewPack<'a> {
    pub identity: &'a PackIdentity,
    pub module: &'a [u8],
    pub manifest: &'a Manifest,
    /// The pack authorities' envelope, kept as evidence of the verification.
    pub signature: &'a Envelope,
}

/// The active pack of a year, without its module bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackInfo {
    pub identity: PackIdentity,
    pub manifest: Manifest,
}

/// A stored evidence value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceRow {
    pub unit_id: String,
    pub round: Round,
    pub field_id: String,
    /// ABI-encoded.
    pub value: i64,
    /// Who wrote it last.
    pub operator: String,
    /// When (RFC 3339, UTC).
    pub at: String,
}

/// One change to make: `value: None` removes the stored value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceWrite {
    pub unit_id: String,
    pub round: Round,
    pub field_id: String,
    pub value: Option<i64>,
}

/// Where a batch of changes came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    /// `kaohe node import FILE`.
    Import { file_name: String, sha256: [u8; 32] },
    /// `kaohe node set`.
    Set,
}

/// What [`Store::apply_evidence`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ApplySummary {
    pub added: usize,
    pub changed: usize,
    pub removed: usize,
    pub unchanged: usize,
}

impl ApplySummary {
    /// Changes written (history rows added).
    pub fn written(&self) -> usize {
        self.added + self.changed + self.removed
    }
}

/// One recorded change: who changed what, old → new.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    pub seq: i64,
    pub unit_id: String,
    pub year: u16,
    pub round: Round,
    pub field_id: String,
    pub old_value: Option<i64>,
    pub new_value: Option<i64>,
    pub operator: String,
    pub at: String,
    /// `import` or `set`.
    pub kind: String,
    pub file_name: Option<String>,
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

/// Installing a pack was refused.
#[derive(Debug, thiserror::Error)]
pub enum InstallPackError {
    #[error(
        "规则包模块的 SHA-256 与标识不符（module SHA-256 differs from the pack identity {identity}）"
    )]
    ModuleDigest { identity: String },
    #[error(
        "规则包清单是 {manifest}，与标识 {identity} 不符（manifest does not match the pack identity）"
    )]
    ManifestMismatch { identity: String, manifest: String },
    #[error(
        "{year} 年已启用 {active}，不会换成更旧的 {offered}（an older pack version is never activated）"
    )]
    Older {
        year: u16,
        active: String,
        offered: String,
    },
    #[error(
        "{identity} 已以不同的模块安装过（the same version was installed with a different module）"
    )]
    Conflict { identity: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Replacing a year's scope failed.
#[derive(Debug, thiserror::Error)]
pub enum ScopeError {
    #[error("单位 {unit_id} 在范围中出现两次（unit listed twice in the scope）")]
    DuplicateUnit { unit_id: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Writing evidence failed; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(
        "单位 {unit_id} 已不在 {year} 年的考核范围内，导入已取消（unit left the scope while importing; nothing written）"
    )]
    OutOfScope { unit_id: String, year: u16 },
    #[error("操作人不能为空（operator must not be empty）")]
    NoOperator,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for ApplyError {
    fn from(e: rusqlite::Error) -> Self {
        ApplyError::Store(StoreError::Sqlite(e))
    }
}

impl From<rusqlite::Error> for InstallPackError {
    fn from(e: rusqlite::Error) -> Self {
        InstallPackError::Store(StoreError::Sqlite(e))
    }
}

impl From<rusqlite::Error> for ScopeError {
    fn from(e: rusqlite::Error) -> Self {
        ScopeError::Store(StoreError::Sqlite(e))
    }
}

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

    // ------------------------------------------------------------ scope --

    /// Replaces the year's scope (units are added or updated, never deleted,
    /// since evidence may refer to them).
    pub fn replace_scope(&mut self, scope: &Scope) -> Result<(), ScopeError> {
        let mut seen = std::collections::BTreeSet::new();
        for u in &scope.units {
            if !seen.insert(u.unit_id.as_str()) {
                return Err(ScopeError::DuplicateUnit {
                    unit_id: u.unit_id.clone(),
                });
            }
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM scope_units WHERE year = ?1", [scope.year])?;
        tx.execute("DELETE FROM scope_methods WHERE year = ?1", [scope.year])?;
        for u in &scope.units {
            tx.execute(
                "INSERT INTO units (unit_id, name, category_id, parent_id, supervising_dept)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (unit_id) DO UPDATE SET name = excluded.name,
                     category_id = excluded.category_id, parent_id = excluded.parent_id,
                     supervising_dept = excluded.supervising_dept",
                params![
                    u.unit_id,
                    u.name,
                    u.category_id,
                    u.parent_id,
                    u.supervising_dept
                ],
            )?;
            tx.execute(
                "INSERT INTO scope_units (year, unit_id) VALUES (?1, ?2)",
                params![scope.year, u.unit_id],
            )?;
        }
        for m in &scope.methods {
            tx.execute(
                "INSERT OR IGNORE INTO scope_methods (year, method_id) VALUES (?1, ?2)",
                params![scope.year, m],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The year's scope (empty when none was synced).
    pub fn scope(&self, year: u16) -> Result<Scope, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT u.unit_id, u.name, u.category_id, u.parent_id, u.supervising_dept
             FROM scope_units s JOIN units u USING (unit_id)
             WHERE s.year = ?1 ORDER BY u.unit_id",
        )?;
        let units = stmt
            .query_map([year], unit_from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        let mut stmt = self
            .conn
            .prepare("SELECT method_id FROM scope_methods WHERE year = ?1 ORDER BY method_id")?;
        let methods = stmt
            .query_map([year], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(Scope {
            year,
            units,
            methods,
        })
    }

    /// A unit the node has heard of (in any year's scope).
    pub fn unit(&self, unit_id: &str) -> Result<Option<UnitInfo>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT unit_id, name, category_id, parent_id, supervising_dept
                 FROM units WHERE unit_id = ?1",
                [unit_id],
                unit_from_row,
            )
            .optional()?)
    }

    /// Every unit id the node has heard of, in any year.
    pub fn known_units(&self) -> Result<std::collections::BTreeSet<String>, StoreError> {
        let mut stmt = self.conn.prepare("SELECT unit_id FROM units")?;
        let ids = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<std::collections::BTreeSet<String>, _>>()?;
        Ok(ids)
    }

    /// The years whose scope lists this unit.
    pub fn unit_years(&self, unit_id: &str) -> Result<Vec<u16>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT year FROM scope_units WHERE unit_id = ?1 ORDER BY year")?;
        let years = stmt
            .query_map([unit_id], |r| r.get(0))?
            .collect::<Result<Vec<u16>, _>>()?;
        Ok(years)
    }

    // ------------------------------------------------------------ packs --

    /// Stores a pack and makes it the year's active pack, in one
    /// transaction. Installing the active version again is harmless; an
    /// older version than the active one is refused (the last good pack
    /// stays). In the same transaction every unsent outbox entry of that
    /// year computed under another pack is superseded (never sent); their
    /// sequence numbers are returned.
    pub fn install_pack(
        &mut self,
        pack: &NewPack<'_>,
        actor: &Actor,
    ) -> Result<Vec<u64>, InstallPackError> {
        let id = pack.identity;
        let digest: [u8; 32] = Sha256::digest(pack.module).into();
        if digest != id.module_sha256 {
            return Err(InstallPackError::ModuleDigest {
                identity: id.to_string(),
            });
        }
        let p = &pack.manifest.pack;
        if p.id != id.id || p.year != u32::from(id.year) || p.version != id.version {
            return Err(InstallPackError::ManifestMismatch {
                identity: id.to_string(),
                manifest: format!("{}-{} v{}", p.id, p.year, p.version),
            });
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let existing: Option<Vec<u8>> = tx
            .query_row(
                "SELECT module_sha256 FROM packs WHERE pack_id = ?1 AND year = ?2 AND version = ?3",
                params![id.id, id.year, id.version],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(sha) = &existing
            && *sha != id.module_sha256
        {
            return Err(InstallPackError::Conflict {
                identity: id.to_string(),
            });
        }
        let active: Option<(String, u32)> = tx
            .query_row(
                "SELECT pack_id, version FROM packs WHERE year = ?1 AND is_active = 1",
                [id.year],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((active_id, active_version)) = &active
            && *active_id == id.id
            && *active_version > id.version
        {
            return Err(InstallPackError::Older {
                year: id.year,
                active: format!("{active_id}-{} v{active_version}", id.year),
                offered: id.to_string(),
            });
        }
        if existing.is_none() {
            let signature = pack.signature.to_protobuf();
            tx.execute(
                "INSERT INTO packs (pack_id, year, version, module_sha256, module, manifest,
                                    signature, installed_at, is_active)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0)",
                params![
                    id.id,
                    id.year,
                    id.version,
                    id.module_sha256.as_slice(),
                    pack.module,
                    String::from_utf8_lossy(&pack.manifest.to_canonical_json()),
                    signature,
                    actor.at.to_string(),
                ],
            )?;
        }
        tx.execute(
            "UPDATE packs SET is_active = 0 WHERE year = ?1 AND is_active = 1",
            [id.year],
        )?;
        tx.execute(
            "UPDATE packs SET is_active = 1 WHERE pack_id = ?1 AND year = ?2 AND version = ?3",
            params![id.id, id.year, id.version],
        )?;
        let superseded = crate::outbox::supersede_other_packs(&tx, id, &actor.at.to_string())?;
        tx.commit()?;
        Ok(superseded)
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

    /// The years the node holds a scope for.
    pub fn scope_years(&self) -> Result<Vec<u16>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT year FROM scope_units UNION SELECT year FROM scope_methods ORDER BY year",
        )?;
        let years = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<Vec<u16>, _>>()?;
        Ok(years)
    }

    /// The year's active pack (identity and manifest), if any.
    pub fn active_pack(&self, year: u16) -> Result<Option<PackInfo>, StoreError> {
        let row: Option<(String, u16, u32, Vec<u8>, String)> = self
            .conn
            .query_row(
                "SELECT pack_id, year, version, module_sha256, manifest
                 FROM packs WHERE year = ?1 AND is_active = 1",
                [year],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()?;
        let Some((id, year, version, sha, manifest)) = row else {
            return Ok(None);
        };
        let module_sha256 = <[u8; 32]>::try_from(sha.as_slice()).map_err(|_| {
            StoreError::Corrupt(format!("packs.module_sha256 of {id}-{year} v{version}"))
        })?;
        let manifest = Manifest::from_json(manifest.as_bytes()).map_err(|e| {
            StoreError::Corrupt(format!("packs.manifest of {id}-{year} v{version}: {e}"))
        })?;
        Ok(Some(PackInfo {
            identity: PackIdentity {
                id,
                year,
                version,
                module_sha256,
            },
            manifest,
        }))
    }

    /// Every pack this node holds (any year, active or not).
    pub fn pack_identities(&self) -> Result<Vec<PackIdentity>, StoreError> {
        Ok(self.packs()?.into_iter().map(|(id, _)| id).collect())
    }

    /// Every pack this node holds with whether it is its year's active one,
    /// by year, id and version.
    pub fn packs(&self) -> Result<Vec<(PackIdentity, bool)>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT pack_id, year, version, module_sha256, is_active FROM packs ORDER BY year, pack_id, version",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, u16>(1)?,
                r.get::<_, u32>(2)?,
                r.get::<_, Vec<u8>>(3)?,
                r.get::<_, bool>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, year, version, sha, active) = row?;
            let module_sha256 = <[u8; 32]>::try_from(sha.as_slice()).map_err(|_| {
                StoreError::Corrupt(format!("packs.module_sha256 of {id}-{year} v{version}"))
            })?;
            out.push((
                PackIdentity {
                    id,
                    year,
                    version,
                    module_sha256,
                },
                active,
            ));
        }
        Ok(out)
    }

    /// The module bytes of a stored pack.
    pub fn pack_module(&self, identity: &PackIdentity) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT module FROM packs WHERE pack_id = ?1 AND year = ?2 AND version = ?3",
                params![identity.id, identity.year, identity.version],
                |r| r.get(0),
            )
            .optional()?)
    }

    // --------------------------------------------------------- evidence --

    /// Applies `writes` for `year` in **one transaction**: all or nothing.
    /// Each write that changes something also appends a history row naming
    /// the source (operator, time, file). `progress` is called with the
    /// number of writes handled so far, every [`PROGRESS_EVERY`] writes,
    /// from inside the transaction.
    pub fn apply_evidence(
        &mut self,
        year: u16,
        writes: &[EvidenceWrite],
        source: &SourceKind,
        actor: &Actor,
        progress: &mut dyn FnMut(usize),
    ) -> Result<ApplySummary, ApplyError> {
        if actor.operator.trim().is_empty() {
            return Err(ApplyError::NoOperator);
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        // The scope may have changed since the caller validated against it.
        {
            let mut in_scope =
                tx.prepare("SELECT 1 FROM scope_units WHERE year = ?1 AND unit_id = ?2")?;
            let mut checked = std::collections::BTreeSet::new();
            for w in writes {
                if checked.insert(w.unit_id.as_str())
                    && !in_scope.exists(params![year, w.unit_id])?
                {
                    return Err(ApplyError::OutOfScope {
                        unit_id: w.unit_id.clone(),
                        year,
                    });
                }
            }
        }
        let (kind, file_name, sha) = match source {
            SourceKind::Import { file_name, sha256 } => (
                "import",
                Some(file_name.as_str()),
                Some(hex::encode(sha256)),
            ),
            SourceKind::Set => ("set", None, None),
        };
        tx.execute(
            "INSERT INTO evidence_sources (kind, file_name, file_sha256, operator, at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![kind, file_name, sha, actor.operator, actor.at.to_string()],
        )?;
        let source_id = tx.last_insert_rowid();
        let mut summary = ApplySummary::default();
        {
            let mut current = tx.prepare(
                "SELECT value FROM evidence WHERE unit_id = ?1 AND year = ?2 AND round = ?3 AND field_id = ?4",
            )?;
            let mut upsert = tx.prepare(
                "INSERT INTO evidence (unit_id, year, round, field_id, value, source_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (unit_id, year, round, field_id)
                 DO UPDATE SET value = excluded.value, source_id = excluded.source_id",
            )?;
            let mut delete = tx.prepare(
                "DELETE FROM evidence WHERE unit_id = ?1 AND year = ?2 AND round = ?3 AND field_id = ?4",
            )?;
            let mut history = tx.prepare(
                "INSERT INTO evidence_history (unit_id, year, round, field_id, old_value, new_value, source_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for (i, w) in writes.iter().enumerate() {
                let key = params![w.unit_id, year, w.round.id(), w.field_id];
                let old: Option<i64> = current.query_row(key, |r| r.get(0)).optional()?;
                match (old, w.value) {
                    (o, n) if o == n => summary.unchanged += 1,
                    (_, Some(new)) => {
                        upsert.execute(params![
                            w.unit_id,
                            year,
                            w.round.id(),
                            w.field_id,
                            new,
                            source_id
                        ])?;
                        if old.is_some() {
                            summary.changed += 1;
                        } else {
                            summary.added += 1;
                        }
                    }
                    (_, None) => {
                        delete.execute(key)?;
                        summary.removed += 1;
                    }
                }
                if old != w.value {
                    history.execute(params![
                        w.unit_id,
                        year,
                        w.round.id(),
                        w.field_id,
                        old,
                        w.value,
                        source_id
                    ])?;
                }
                if (i + 1) % PROGRESS_EVERY == 0 {
                    progress(i + 1);
                }
            }
        }
        tx.commit()?;
        Ok(summary)
    }

    /// Every stored value of `year`, ordered by unit, round, field.
    pub fn evidence(&self, year: u16) -> Result<Vec<EvidenceRow>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT e.unit_id, e.round, e.field_id, e.value, s.operator, s.at
             FROM evidence e JOIN evidence_sources s ON s.id = e.source_id
             WHERE e.year = ?1 ORDER BY e.unit_id, e.round, e.field_id",
        )?;
        let rows = stmt.query_map([year], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (unit_id, round, field_id, value, operator, at) = row?;
            out.push(EvidenceRow {
                unit_id,
                round: parse_round(&round)?,
                field_id,
                value,
                operator,
                at,
            });
        }
        Ok(out)
    }

    /// The values of one unit and round, by field id.
    pub fn evidence_of(
        &self,
        unit_id: &str,
        year: u16,
        round: Round,
    ) -> Result<BTreeMap<String, i64>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT field_id, value FROM evidence WHERE unit_id = ?1 AND year = ?2 AND round = ?3",
        )?;
        let rows = stmt.query_map(params![unit_id, year, round.id()], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
        Ok(rows.collect::<Result<BTreeMap<String, i64>, _>>()?)
    }

    /// The change history of `year` (optionally one unit), oldest first.
    pub fn history(&self, year: u16, unit_id: Option<&str>) -> Result<Vec<HistoryRow>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT h.seq, h.unit_id, h.year, h.round, h.field_id, h.old_value, h.new_value,
                    s.operator, s.at, s.kind, s.file_name
             FROM evidence_history h JOIN evidence_sources s ON s.id = h.source_id
             WHERE h.year = ?1 AND (?2 IS NULL OR h.unit_id = ?2)
             ORDER BY h.seq",
        )?;
        let rows = stmt.query_map(params![year, unit_id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, u16>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, Option<i64>>(5)?,
                r.get::<_, Option<i64>>(6)?,
                r.get::<_, String>(7)?,
                r.get::<_, String>(8)?,
                r.get::<_, String>(9)?,
                r.get::<_, Option<String>>(10)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (
                seq,
                unit_id,
                year,
                round,
                field_id,
                old_value,
                new_value,
                operator,
                at,
                kind,
                file_name,
            ) = row?;
            out.push(HistoryRow {
                seq,
                unit_id,
                year,
                round: parse_round(&round)?,
                field_id,
                old_value,
                new_value,
                operator,
                at,
                kind,
                file_name,
            });
        }
        Ok(out)
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}（{}）", self.operator, self.at)
    }
}

/// A `u64` (sequence numbers, counts) as SQLite's signed integer.
pub(crate) fn sql_u64(v: u64) -> rusqlite::Result<i64> {
    i64::try_from(v).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

/// A column holding a non-negative integer as `u64`.
pub(crate) fn get_u64(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<u64> {
    let v: i64 = r.get(i)?;
    u64::try_from(v).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Integer, Box::new(e))
    })
}

pub(crate) fn parse_round(text: &str) -> Result<Round, StoreError> {
    Round::from_id(text).ok_or_else(|| StoreError::Corrupt(format!("unknown round {text:?}")))
}

fn unit_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UnitInfo> {
    Ok(UnitInfo {
        unit_id: r.get(0)?,
        name: r.get(1)?,
        category_id: r.get(2)?,
        parent_id: r.get(3)?,
        supervising_dept: r.get(4)?,
    })
}

/// Opens and migrates up to `target`; tests use a lower target to build
/// old-schema snapshots.
pub(crate) fn open_at_version(path: &Path, target: u32, create: bool) -> Result<Store, OpenError> {
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
    use crate::testutil::{actor, sample_scope};

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
                "node_meta",
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

    #[test]
    fn evidence_writes_record_who_changed_what() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::create(&dir.path().join(DB_FILE)).unwrap();
        store.replace_scope(&sample_scope(2022)).unwrap();
        let w = |v: Option<i64>| EvidenceWrite {
            unit_id: "xiaodian".into(),
            round: Round::Q1,
            field_id: "study".into(),
            value: v,
        };
        let mut apply = |v: Option<i64>, who: &str| {
            store
                .apply_evidence(2022, &[w(v)], &SourceKind::Set, &actor(who), &mut |_| {})
                .unwrap()
        };
        let only = |f: fn(&mut ApplySummary)| {
            let mut s = ApplySummary::default();
            f(&mut s);
            s
        };
        assert_eq!(apply(Some(300), "王"), only(|s| s.added = 1));
        assert_eq!(apply(Some(300), "王"), only(|s| s.unchanged = 1));
        assert_eq!(apply(Some(500), "李"), only(|s| s.changed = 1));
        assert_eq!(apply(None, "李"), only(|s| s.removed = 1));
        let h = store.history(2022, Some("xiaodian")).unwrap();
        let changes: Vec<_> = h
            .iter()
            .map(|r| (r.old_value, r.new_value, r.operator.as_str()))
            .collect();
        assert_eq!(
            changes,
            vec![
                (None, Some(300), "王"),
                (Some(300), Some(500), "李"),
                (Some(500), None, "李")
            ]
        );
        assert!(store.evidence(2022).unwrap().is_empty());
        // The history cannot be rewritten.
        let err = store
            .conn
            .execute("DELETE FROM evidence_history", [])
            .unwrap_err();
        assert!(err.to_string().contains("append-only"), "{err}");
    }

    #[test]
    fn a_unit_that_left_the_scope_fails_the_whole_write() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::create(&dir.path().join(DB_FILE)).unwrap();
        store.replace_scope(&sample_scope(2022)).unwrap();
        let writes = [
            EvidenceWrite {
                unit_id: "xiaodian".into(),
                round: Round::Annual,
                field_id: "plan".into(),
                value: Some(100),
            },
            EvidenceWrite {
                unit_id: "elsewhere".into(),
                round: Round::Annual,
                field_id: "plan".into(),
                value: Some(100),
            },
        ];
        let err = store
            .apply_evidence(2022, &writes, &SourceKind::Set, &actor("王"), &mut |_| {})
            .unwrap_err();
        assert!(
            matches!(err, ApplyError::OutOfScope { ref unit_id, .. } if unit_id == "elsewhere")
        );
        assert!(store.evidence(2022).unwrap().is_empty());
        assert!(store.history(2022, None).unwrap().is_empty());
    }

    #[test]
    fn scope_replacement_keeps_units_known_and_rejects_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::create(&dir.path().join(DB_FILE)).unwrap();
        store.replace_scope(&sample_scope(2021)).unwrap();
        let mut s = sample_scope(2022);
        s.units.retain(|u| u.unit_id != "xiaodian");
        store.replace_scope(&s).unwrap();
        assert!(store.scope(2022).unwrap().unit("xiaodian").is_none());
        assert!(store.unit("xiaodian").unwrap().is_some());
        assert_eq!(store.unit_years("xiaodian").unwrap(), vec![2021]);
        let mut dup = sample_scope(2023);
        dup.units.push(dup.units[0].clone());
        assert!(matches!(
            store.replace_scope(&dup),
            Err(ScopeError::DuplicateUnit { .. })
        ));
        assert!(store.scope(2023).unwrap().units.is_empty());
    }
}
