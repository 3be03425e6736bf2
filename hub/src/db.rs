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

use std::path::{Path, PathBuf};

use kaohe_tables::sqlite::{self, Missing, Schema};
use rusqlite::Connection;

pub use kaohe_tables::sqlite::IntegrityError;

/// The database file inside the hub's data directory.
pub const DB_FILE: &str = "hub.db";

/// Ordered schema migrations; index *i* upgrades version *i* to *i + 1*.
///
/// Never edit a migration that has shipped: append a new one.
pub const MIGRATIONS: &[&str] = &[
    // 1: registry — audit log (append-only), units per year, nodes.
    r#"
    CREATE TABLE audit_log (
        seq      INTEGER PRIMARY KEY AUTOINCREMENT,
        time     TEXT NOT NULL,
        operator TEXT NOT NULL,
        action   TEXT NOT NULL,
        subject  TEXT NOT NULL,
        detail   TEXT NOT NULL CHECK (json_valid(detail))
    ) STRICT;
    CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN
        SELECT RAISE(ABORT, '审计日志只能追加，不能修改（audit_log is append-only: UPDATE refused）');
    END;
    CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN
        SELECT RAISE(ABORT, '审计日志只能追加，不能删除（audit_log is append-only: DELETE refused）');
    END;

    CREATE TABLE units (
        year                   INTEGER NOT NULL,
        id                     TEXT NOT NULL,
        name                   TEXT NOT NULL,
        category               TEXT NOT NULL,
        parent_id              TEXT,
        supervising_department TEXT,
        assessor               TEXT NOT NULL,
        PRIMARY KEY (year, id),
        FOREIGN KEY (year, parent_id) REFERENCES units (year, id)
            DEFERRABLE INITIALLY DEFERRED
    ) STRICT;
    CREATE INDEX units_parent ON units (year, parent_id);

    CREATE TABLE nodes (
        key_id            TEXT PRIMARY KEY,
        public_key        TEXT NOT NULL UNIQUE,
        name              TEXT NOT NULL,
        assessor          TEXT NOT NULL CHECK (assessor IN
            ('county_office', 'sasac', 'health_commission', 'township', 'county_unit')),
        scope             TEXT NOT NULL CHECK (json_valid(scope)),
        added_at          TEXT NOT NULL,
        revoked_at        TEXT,
        revocation_reason TEXT,
        CHECK ((revoked_at IS NULL) = (revocation_reason IS NULL))
    ) STRICT;
    "#,
    // 2: rule packs (all versions kept, one current per (pack, year)), the
    //    re-evaluation requests a new version leaves behind, imported
    //    calendar years.
    r#"
    CREATE TABLE packs (
        pack_id       TEXT NOT NULL,
        year          INTEGER NOT NULL,
        version       INTEGER NOT NULL CHECK (version >= 1),
        module_sha256 BLOB NOT NULL CHECK (length(module_sha256) = 32),
        module        BLOB NOT NULL,
        envelope      BLOB NOT NULL,
        published_at  TEXT NOT NULL,
        published_by  TEXT NOT NULL,
        is_current    INTEGER NOT NULL CHECK (is_current IN (0, 1)),
        PRIMARY KEY (pack_id, year, version)
    ) STRICT;
    CREATE UNIQUE INDEX packs_one_current ON packs (pack_id, year) WHERE is_current = 1;

    CREATE TABLE pack_reevaluations (
        seq                INTEGER PRIMARY KEY AUTOINCREMENT,
        pack_id            TEXT NOT NULL,
        year               INTEGER NOT NULL,
        superseded_version INTEGER NOT NULL,
        current_version    INTEGER NOT NULL,
        requested_at       TEXT NOT NULL,
        completed_at       TEXT,
        FOREIGN KEY (pack_id, year, superseded_version) REFERENCES packs (pack_id, year, version),
        FOREIGN KEY (pack_id, year, current_version) REFERENCES packs (pack_id, year, version)
    ) STRICT;

    CREATE TABLE calendar_years (
        year        INTEGER PRIMARY KEY,
        source      TEXT NOT NULL,
        sha256      TEXT NOT NULL,
        imported_at TEXT NOT NULL,
        imported_by TEXT NOT NULL
    ) STRICT;
    "#,
    // 3: ingestion — committed batches (receipt heads), accepted
    //    submissions, their results per method with scores and fired
    //    clauses. Supersession keeps history: exactly one current result
    //    per (node, unit, year, round, method).
    r#"
    CREATE TABLE receipt_batches (
        batch_id    INTEGER PRIMARY KEY,
        commit_time INTEGER NOT NULL,
        tree_size   INTEGER NOT NULL CHECK (tree_size >= 1),
        hub_key_id  TEXT NOT NULL,
        signed_head BLOB
    ) STRICT;

    CREATE TABLE submissions (
        id           INTEGER PRIMARY KEY,
        digest       BLOB NOT NULL UNIQUE CHECK (length(digest) = 32),
        node_id      TEXT NOT NULL REFERENCES nodes (key_id),
        sequence     INTEGER NOT NULL CHECK (sequence >= 1),
        unit_id      TEXT NOT NULL,
        year         INTEGER NOT NULL,
        round        TEXT NOT NULL CHECK (round IN ('Q1', 'Q2', 'Q3', 'Q4', 'annual')),
        pack_id      TEXT NOT NULL,
        pack_version INTEGER NOT NULL,
        created_at   INTEGER NOT NULL,
        committed_at INTEGER NOT NULL,
        late         INTEGER NOT NULL CHECK (late IN (0, 1)),
        batch_id     INTEGER NOT NULL REFERENCES receipt_batches (batch_id),
        leaf_index   INTEGER NOT NULL CHECK (leaf_index >= 0),
        envelope     BLOB NOT NULL,
        UNIQUE (node_id, sequence),
        UNIQUE (batch_id, leaf_index),
        FOREIGN KEY (pack_id, year, pack_version) REFERENCES packs (pack_id, year, version),
        FOREIGN KEY (year, unit_id) REFERENCES units (year, id)
    ) STRICT;

    CREATE TABLE results (
        submission_id      INTEGER NOT NULL REFERENCES submissions (id),
        method_id          TEXT NOT NULL,
        node_id            TEXT NOT NULL,
        unit_id            TEXT NOT NULL,
        year               INTEGER NOT NULL,
        round              TEXT NOT NULL,
        sequence           INTEGER NOT NULL,
        pack_id            TEXT NOT NULL,
        pack_version       INTEGER NOT NULL,
        late               INTEGER NOT NULL CHECK (late IN (0, 1)),
        is_current         INTEGER NOT NULL CHECK (is_current IN (0, 1)),
        superseded_by      INTEGER REFERENCES submissions (id),
        needs_reevaluation INTEGER NOT NULL DEFAULT 0 CHECK (needs_reevaluation IN (0, 1)),
        PRIMARY KEY (submission_id, method_id),
        CHECK ((is_current = 1) = (superseded_by IS NULL))
    ) STRICT, WITHOUT ROWID;
    CREATE UNIQUE INDEX results_one_current
        ON results (node_id, unit_id, year, round, method_id) WHERE is_current = 1;
    CREATE INDEX results_by_pack
        ON results (pack_id, year, pack_version) WHERE is_current = 1;

    CREATE TABLE result_scores (
        submission_id INTEGER NOT NULL,
        method_id     TEXT NOT NULL,
        indicator_id  TEXT NOT NULL,
        score         INTEGER NOT NULL,
        PRIMARY KEY (submission_id, indicator_id),
        FOREIGN KEY (submission_id, method_id) REFERENCES results (submission_id, method_id)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE result_clauses (
        submission_id INTEGER NOT NULL,
        method_id     TEXT NOT NULL,
        clause_id     TEXT NOT NULL,
        amount        INTEGER NOT NULL,
        reason        TEXT NOT NULL,
        PRIMARY KEY (submission_id, clause_id),
        FOREIGN KEY (submission_id, method_id) REFERENCES results (submission_id, method_id)
    ) STRICT, WITHOUT ROWID;
    "#,
    // 4: workflow — feedback notices with their deadlines, objections
    //    (复核申请) with their materials and decisions, recorded decisions
    //    (penalty-cap overrides, excusals; the latest per unit and kind is in
    //    force, earlier ones kept), the yearly approval (审定) and publication,
    //    and earlier years' approved results imported for the use of results.
    r#"
    CREATE TABLE notifications (
        year                     INTEGER NOT NULL,
        unit_id                  TEXT NOT NULL,
        notified_on              TEXT NOT NULL,
        verification_deadline    TEXT NOT NULL,
        review_request_deadline  TEXT NOT NULL,
        notified_at              TEXT NOT NULL,
        operator                 TEXT NOT NULL,
        notice                   TEXT NOT NULL,
        PRIMARY KEY (year, unit_id),
        FOREIGN KEY (year, unit_id) REFERENCES units (year, id)
    ) STRICT;

    CREATE TABLE objections (
        id                 INTEGER PRIMARY KEY,
        year               INTEGER NOT NULL,
        unit_id            TEXT NOT NULL,
        reason             TEXT NOT NULL CHECK (length(trim(reason)) > 0),
        filed_at           TEXT NOT NULL,
        filed_at_unix      INTEGER NOT NULL,
        filed_by           TEXT NOT NULL,
        decision_deadline  TEXT NOT NULL,
        decision           TEXT CHECK (decision IN ('upheld', 'revised')),
        decided_at         TEXT,
        decided_by         TEXT,
        decision_note      TEXT,
        revised_submission INTEGER REFERENCES submissions (id),
        CHECK ((decision IS NULL) = (decided_at IS NULL)),
        CHECK ((decision = 'revised') = (revised_submission IS NOT NULL)),
        FOREIGN KEY (year, unit_id) REFERENCES notifications (year, unit_id)
    ) STRICT;

    CREATE TABLE objection_materials (
        objection_id INTEGER NOT NULL REFERENCES objections (id),
        file_name    TEXT NOT NULL,
        sha256       TEXT NOT NULL CHECK (length(sha256) = 64),
        size         INTEGER NOT NULL CHECK (size >= 0),
        content      BLOB NOT NULL,
        PRIMARY KEY (objection_id, file_name)
    ) STRICT;

    CREATE TABLE recorded_decisions (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        year        INTEGER NOT NULL,
        unit_id     TEXT NOT NULL,
        kind        TEXT NOT NULL CHECK (kind IN ('penalty_cap', 'excusal')),
        cap         INTEGER CHECK (cap IS NULL OR cap >= 0),
        reason      TEXT NOT NULL CHECK (length(trim(reason)) > 0),
        recorded_at TEXT NOT NULL,
        operator    TEXT NOT NULL,
        CHECK ((kind = 'penalty_cap') = (cap IS NOT NULL)),
        FOREIGN KEY (year, unit_id) REFERENCES units (year, id)
    ) STRICT;

    CREATE TABLE approvals (
        year                 INTEGER PRIMARY KEY,
        doc_number           TEXT NOT NULL CHECK (length(trim(doc_number)) > 0),
        approved_at          TEXT NOT NULL,
        operator             TEXT NOT NULL,
        consolidation_sha256 TEXT NOT NULL,
        results              TEXT NOT NULL CHECK (json_valid(results))
    ) STRICT;

    CREATE TABLE publications (
        year         INTEGER PRIMARY KEY REFERENCES approvals (year),
        published_at TEXT NOT NULL,
        operator     TEXT NOT NULL
    ) STRICT;

    CREATE TABLE history_results (
        year        INTEGER NOT NULL,
        unit_id     TEXT NOT NULL,
        total       INTEGER NOT NULL,
        grade       TEXT NOT NULL,
        source      TEXT NOT NULL,
        imported_at TEXT NOT NULL,
        PRIMARY KEY (year, unit_id)
    ) STRICT;
    "#,
    // 5: rectification (整改) — plans and reports received per unit with
    //    their material (size, SHA-256, content). Append-only: a corrected
    //    plan is a new row, the latest of each kind counts. Who owes one is
    //    derived from the consolidation and outcomes, not stored.
    r#"
    CREATE TABLE rectifications (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        year        INTEGER NOT NULL,
        unit_id     TEXT NOT NULL,
        kind        TEXT NOT NULL CHECK (kind IN ('plan', 'report')),
        received_at TEXT NOT NULL,
        operator    TEXT NOT NULL,
        note        TEXT,
        file_name   TEXT NOT NULL CHECK (length(file_name) > 0),
        sha256      TEXT NOT NULL CHECK (length(sha256) = 64),
        size        INTEGER NOT NULL CHECK (size > 0 AND size <= 20971520),
        content     BLOB NOT NULL CHECK (length(content) = size),
        FOREIGN KEY (year, unit_id) REFERENCES units (year, id)
    ) STRICT;
    CREATE INDEX rectifications_unit ON rectifications (year, unit_id, kind);
    CREATE TRIGGER rectifications_no_update BEFORE UPDATE ON rectifications
    BEGIN
        SELECT RAISE(ABORT, '整改记录只能追加，不能修改（rectifications are append-only: UPDATE refused）');
    END;
    CREATE TRIGGER rectifications_no_delete BEFORE DELETE ON rectifications
    BEGIN
        SELECT RAISE(ABORT, '整改记录只能追加，不能删除（rectifications are append-only: DELETE refused）');
    END;
    "#,
    // 6: each result carries its replayed indicator scores and fired
    //    clauses itself, as compact JSON in key order (integer hundredths):
    //    `scores` = `{"L1":400,…}`, `clauses` = `[["C2b",100,"reason"],…]`.
    //    One row per result instead of one per indicator and clause is most
    //    of the single writer's work saved. The rows of `result_scores` and
    //    `result_clauses` are moved in, then the two tables dropped.
    r#"
    ALTER TABLE results ADD COLUMN scores TEXT NOT NULL DEFAULT '{}'
        CHECK (json_valid(scores) AND json_type(scores) = 'object');
    ALTER TABLE results ADD COLUMN clauses TEXT NOT NULL DEFAULT '[]'
        CHECK (json_valid(clauses) AND json_type(clauses) = 'array');
    UPDATE results SET
        scores = coalesce((
            SELECT json_group_object(s.indicator_id, s.score ORDER BY s.indicator_id)
            FROM result_scores s
            WHERE s.submission_id = results.submission_id AND s.method_id = results.method_id
        ), '{}'),
        clauses = coalesce((
            SELECT json_group_array(json_array(c.clause_id, c.amount, c.reason) ORDER BY c.clause_id)
            FROM result_clauses c
            WHERE c.submission_id = results.submission_id AND c.method_id = results.method_id
        ), '[]');
    DROP TABLE result_scores;
    DROP TABLE result_clauses;
    "#,
];

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
    #[error(
        "数据目录 {dir} 中没有数据库 {DB_FILE}，请先运行 `kaohe hub init`（no database: run `kaohe hub init` first）"
    )]
    NotInitialised { dir: PathBuf },
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
mod tests {
    use super::*;

    fn table_names(conn: &Connection) -> Vec<String> {
        sqlite::table_names(conn).unwrap()
    }

    /// Every table of the schema (the connection's pragmas, and foreign keys
    /// off while migrating, are tested in `kaohe_tables::sqlite`).
    #[test]
    fn fresh_database_is_migrated_to_the_latest_schema() {
        let dir = tempfile::tempdir().unwrap();
        let conn = create(&dir.path().join("data")).unwrap();
        assert_eq!(schema_version(&conn).unwrap(), SCHEMA_VERSION);
        assert_eq!(
            table_names(&conn),
            [
                "approvals",
                "audit_log",
                "calendar_years",
                "history_results",
                "nodes",
                "notifications",
                "objection_materials",
                "objections",
                "pack_reevaluations",
                "packs",
                "publications",
                "receipt_batches",
                "recorded_decisions",
                "rectifications",
                "results",
                "sqlite_sequence",
                "submissions",
                "units",
            ]
        );
        let fk: i64 = conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 1, "on again after migrating");
        integrity_check(&conn).unwrap();
    }

    #[test]
    fn reopening_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        drop(create(dir.path()).unwrap());
        let conn = open_existing(dir.path()).unwrap();
        assert_eq!(schema_version(&conn).unwrap(), SCHEMA_VERSION);
    }

    #[test]
    fn open_existing_without_init_says_run_init_and_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let err = open_existing(dir.path()).unwrap_err();
        assert!(matches!(err, OpenError::NotInitialised { .. }));
        assert!(err.to_string().contains("kaohe hub init"), "{err}");
        assert!(!dir.path().join(DB_FILE).exists());
    }

    #[test]
    fn upgrade_from_a_version_1_snapshot_keeps_data_and_adds_later_tables() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        {
            // Snapshot of a hub that ran schema 1: a unit and an audit record.
            let old = open_at_version(&path, 1).unwrap();
            assert_eq!(schema_version(&old).unwrap(), 1);
            assert!(!table_names(&old).iter().any(|t| t == "packs"));
            old.execute(
                "INSERT INTO units (year, id, name, category, parent_id, supervising_department, assessor)
                 VALUES (2024, 'xiaodian', '肖旗乡', 'township', NULL, NULL, 'county_office')",
                [],
            )
            .unwrap();
            old.execute(
                "INSERT INTO audit_log (time, operator, action, subject, detail)
                 VALUES ('2024-01-02T03:04:05Z', 'wang', 'units.import', 'year:2024', '{}')",
                [],
            )
            .unwrap();
        }
        let conn = open(&path).unwrap();
        assert_eq!(schema_version(&conn).unwrap(), SCHEMA_VERSION);
        let name: String = conn
            .query_row(
                "SELECT name FROM units WHERE year = 2024 AND id = 'xiaodian'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(name, "肖旗乡");
        let audit: i64 = conn
            .query_row("SELECT count(*) FROM audit_log", [], |r| r.get(0))
            .unwrap();
        assert_eq!(audit, 1);
        assert!(table_names(&conn).iter().any(|t| t == "packs"));
        integrity_check(&conn).unwrap();
    }

    #[test]
    fn upgrade_from_a_version_5_snapshot_moves_scores_and_clauses_onto_results() {
        use std::collections::BTreeMap;

        use kaohe_proto::submission::FiredClause;

        use crate::ingest::store;

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        // A reason an official might type: quotes, a backslash, a newline.
        let awkward = "会议记录缺\"签字\"，见附件\\2\n另扣";
        {
            // Snapshot of a hub that ran schema 5: one submission with two
            // methods (scores and clauses each), an older one of the same
            // unit superseded by it, and a result with no clause fired.
            let old = open_at_version(&path, 5).unwrap();
            assert_eq!(schema_version(&old).unwrap(), 5);
            old.execute_batch(&format!(
                "INSERT INTO units (year, id, name, category, parent_id, supervising_department, assessor)
                 VALUES (2022, 't1', '肖旗乡', 'township', NULL, NULL, 'county_office');
                 INSERT INTO nodes (key_id, public_key, name, assessor, scope, added_at)
                 VALUES ('n1', 'pk1', '县依法治县办', 'county_office', '{{}}', '2022-01-01T00:00:00Z');
                 INSERT INTO packs (pack_id, year, version, module_sha256, module, envelope,
                     published_at, published_by, is_current)
                 VALUES ('p', 2022, 1, zeroblob(32), x'00', x'00', '2022-01-01T00:00:00Z', 'wang', 1);
                 INSERT INTO receipt_batches (batch_id, commit_time, tree_size, hub_key_id)
                 VALUES (1, 1670000000, 2, 'hub');
                 INSERT INTO submissions (id, digest, node_id, sequence, unit_id, year, round,
                     pack_id, pack_version, created_at, committed_at, late, batch_id, leaf_index, envelope)
                 VALUES (1, zeroblob(32), 'n1', 1, 't1', 2022, 'annual', 'p', 1, 1, 1670000000, 0, 1, 0, x'00'),
                        (2, randomblob(32), 'n1', 2, 't1', 2022, 'annual', 'p', 1, 2, 1670000000, 1, 1, 1, x'00');
                 INSERT INTO results (submission_id, method_id, node_id, unit_id, year, round, sequence,
                     pack_id, pack_version, late, is_current, superseded_by)
                 VALUES (1, 'daily', 'n1', 't1', 2022, 'annual', 1, 'p', 1, 0, 0, 2),
                        (2, 'daily', 'n1', 't1', 2022, 'annual', 2, 'p', 1, 1, 1, NULL),
                        (2, 'survey', 'n1', 't1', 2022, 'annual', 2, 'p', 1, 1, 1, NULL);
                 INSERT INTO result_scores (submission_id, method_id, indicator_id, score)
                 VALUES (1, 'daily', 'L1', 0),
                        (2, 'daily', 'L2', 300), (2, 'daily', 'L10', -50), (2, 'daily', 'L1', 400),
                        (2, 'survey', 'S1', 1250);
                 INSERT INTO result_clauses (submission_id, method_id, clause_id, amount, reason)
                 VALUES (1, 'daily', 'L1a', 400, '未学习'),
                        (2, 'daily', 'L2b', 100, '{awkward}'), (2, 'daily', 'L10a', 50, '迟报');",
                awkward = awkward.replace('\'', "''")
            ))
            .unwrap();
        }
        let conn = open(&path).unwrap();
        assert_eq!(schema_version(&conn).unwrap(), SCHEMA_VERSION);
        let tables = table_names(&conn);
        assert!(!tables.iter().any(|t| t == "result_scores"), "{tables:?}");
        assert!(!tables.iter().any(|t| t == "result_clauses"), "{tables:?}");
        integrity_check(&conn).unwrap();

        let scores = |pairs: &[(&str, i64)]| -> BTreeMap<String, i64> {
            pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
        };
        let clauses = |rows: &[(&str, i64, &str)]| -> BTreeMap<String, FiredClause> {
            rows.iter()
                .map(|(k, amount, reason)| {
                    let c = FiredClause {
                        amount: *amount,
                        reason: reason.to_string(),
                    };
                    (k.to_string(), c)
                })
                .collect()
        };
        let expected = [
            (
                1,
                "daily",
                scores(&[("L1", 0)]),
                clauses(&[("L1a", 400, "未学习")]),
            ),
            (
                2,
                "daily",
                scores(&[("L1", 400), ("L10", -50), ("L2", 300)]),
                clauses(&[("L10a", 50, "迟报"), ("L2b", 100, awkward)]),
            ),
            (2, "survey", scores(&[("S1", 1250)]), clauses(&[])),
        ];
        let mut stmt = conn
            .prepare("SELECT submission_id, method_id, scores, clauses FROM results ORDER BY 1, 2")
            .unwrap();
        let rows: Vec<(i64, String, String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rows.len(), expected.len());
        for (row, (sid, method, want_scores, want_clauses)) in rows.iter().zip(&expected) {
            assert_eq!((row.0, row.1.as_str()), (*sid, *method));
            // Byte for byte what ingestion writes for the same result.
            assert_eq!(row.2, store::scores_json(want_scores).unwrap());
            assert_eq!(row.3, store::clauses_json(want_clauses).unwrap());
            assert_eq!(&store::parse_scores(&row.2).unwrap(), want_scores);
            assert_eq!(&store::parse_clauses(&row.3).unwrap(), want_clauses);
        }
        assert_eq!(rows[2].3, "[]");

        // What consolidation reads: the current results, nothing lost.
        let current = crate::results::load_results(&conn, 2022, "p").unwrap();
        assert_eq!(current.len(), 2);
        assert_eq!(current[0].scores, expected[1].2);
        let amounts: BTreeMap<String, i64> = [("L10a".to_string(), 50), ("L2b".to_string(), 100)]
            .into_iter()
            .collect();
        assert_eq!(current[0].clauses, amounts);
        assert!(current[0].late);
        assert_eq!(current[1].scores, expected[2].2);
        assert!(current[1].clauses.is_empty());
    }

    #[test]
    fn result_json_that_is_not_an_object_or_array_is_refused_by_the_schema() {
        let dir = tempfile::tempdir().unwrap();
        let conn = create(dir.path()).unwrap();
        // No parent rows needed: the CHECK fires before foreign keys matter.
        for (scores, clauses) in [("[]", "[]"), ("{}", "{}"), ("{", "[]"), ("{}", "not json")] {
            let err = conn
                .execute(
                    "INSERT INTO results (submission_id, method_id, node_id, unit_id, year, round,
                         sequence, pack_id, pack_version, late, is_current, scores, clauses)
                     VALUES (1, 'daily', 'n', 'u', 2022, 'annual', 1, 'p', 1, 0, 1, ?1, ?2)",
                    [scores, clauses],
                )
                .unwrap_err();
            assert!(
                err.to_string().contains("CHECK"),
                "{scores} {clauses}: {err}"
            );
        }
    }
}
