//! The schema's migrations, version by version (the tables are described
//! in [`super`]'s docs).

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
    // 3: items the assessor marked not applicable (不适用) to a unit, with
    // the reason and an append-only history, written like evidence.
    r#"
    CREATE TABLE not_applicable (
        unit_id      TEXT NOT NULL REFERENCES units (unit_id),
        year         INTEGER NOT NULL,
        round        TEXT NOT NULL CHECK (round IN ('annual', 'Q1', 'Q2', 'Q3', 'Q4')),
        indicator_id TEXT NOT NULL,
        reason       TEXT NOT NULL CHECK (length(trim(reason)) > 0),
        source_id    INTEGER NOT NULL REFERENCES evidence_sources (id),
        PRIMARY KEY (unit_id, year, round, indicator_id)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE not_applicable_history (
        seq          INTEGER PRIMARY KEY AUTOINCREMENT,
        unit_id      TEXT NOT NULL,
        year         INTEGER NOT NULL,
        round        TEXT NOT NULL,
        indicator_id TEXT NOT NULL,
        old_reason   TEXT,
        new_reason   TEXT,
        source_id    INTEGER NOT NULL REFERENCES evidence_sources (id),
        CHECK (old_reason IS NOT new_reason)
    ) STRICT;
    CREATE TRIGGER not_applicable_history_no_update BEFORE UPDATE ON not_applicable_history
    BEGIN
        SELECT RAISE(ABORT, '不适用标记的修改记录只能追加（not_applicable_history is append-only: UPDATE refused）');
    END;
    CREATE TRIGGER not_applicable_history_no_delete BEFORE DELETE ON not_applicable_history
    BEGIN
        SELECT RAISE(ABORT, '不适用标记的修改记录只能追加（not_applicable_history is append-only: DELETE refused）');
    END;
    "#,
    // 4: the hub's transparency log as this node witnessed it: per year the
    // last checkpoint found consistent, and the evidence of every
    // inconsistency (both signed checkpoints and the proof given), kept for
    // ever; an unresolved one stops delivery until an official resolves it.
    r#"
    CREATE TABLE log_witnessed (
        year       INTEGER PRIMARY KEY,
        size       INTEGER NOT NULL CHECK (size >= 1),
        root       BLOB NOT NULL CHECK (length(root) = 32),
        checkpoint TEXT NOT NULL,
        checked_at TEXT NOT NULL
    ) STRICT;
    CREATE TABLE log_evidence (
        id          INTEGER PRIMARY KEY,
        year        INTEGER NOT NULL,
        found_at    TEXT NOT NULL,
        held        TEXT NOT NULL,
        presented   TEXT NOT NULL,
        proof       TEXT NOT NULL CHECK (json_valid(proof)),
        reason      TEXT NOT NULL,
        resolved_at TEXT,
        resolved_by TEXT,
        resolution  TEXT,
        CHECK ((resolved_at IS NULL) = (resolved_by IS NULL)),
        CHECK ((resolved_at IS NULL) = (resolution IS NULL))
    ) STRICT;
    CREATE TRIGGER log_evidence_no_delete BEFORE DELETE ON log_evidence
    BEGIN
        SELECT RAISE(ABORT, '日志不一致的证据不能删除（log_evidence is never deleted）');
    END;
    "#,
];
