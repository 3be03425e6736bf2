//! The hub's schema as ordered migrations ([`MIGRATIONS`]), applied through
//! [`super::SCHEMA`].

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
    // 7: 审定 that locks, and can be reopened (撤销审定 / 重新审定).
    //    Every approval of a year is kept (never deleted); at most one is in
    //    force per year; a reopening marks it superseded with who, when and
    //    why, and the next approval names the one it replaces. A publication
    //    belongs to one approval. While an approval is in force, new rows
    //    that would change the year's result (a submission, a recorded
    //    decision, an objection, a pack version) are refused by triggers:
    //    the code checks first and names the 文号 (`lock::locked`); the
    //    triggers are the backstop for a path that forgets (their message
    //    is a literal: an expression in RAISE needs SQLite 3.47, and an
    //    older sqlite3 could then not read the schema at all). Only inserts
    //    are guarded, so a later migration may still backfill a column.
    //    Units get their principal (主要负责人).
    r#"
    CREATE TABLE approvals_v7 (
        id                   INTEGER PRIMARY KEY,
        year                 INTEGER NOT NULL,
        doc_number           TEXT NOT NULL CHECK (length(trim(doc_number)) > 0),
        approved_at          TEXT NOT NULL,
        operator             TEXT NOT NULL,
        consolidation_sha256 TEXT NOT NULL,
        results              TEXT NOT NULL CHECK (json_valid(results)),
        replaces             INTEGER REFERENCES approvals_v7 (id),
        reopened_at          TEXT,
        reopened_by          TEXT,
        reopen_reason        TEXT CHECK (reopen_reason IS NULL OR length(trim(reopen_reason)) > 0),
        CHECK ((reopened_at IS NULL) = (reopened_by IS NULL)),
        CHECK ((reopened_at IS NULL) = (reopen_reason IS NULL))
    ) STRICT;
    INSERT INTO approvals_v7 (year, doc_number, approved_at, operator, consolidation_sha256, results)
        SELECT year, doc_number, approved_at, operator, consolidation_sha256, results
        FROM approvals ORDER BY year;
    CREATE TABLE publications_v7 (
        approval_id  INTEGER PRIMARY KEY REFERENCES approvals_v7 (id),
        year         INTEGER NOT NULL,
        published_at TEXT NOT NULL,
        operator     TEXT NOT NULL
    ) STRICT;
    INSERT INTO publications_v7 (approval_id, year, published_at, operator)
        SELECT a.id, p.year, p.published_at, p.operator
        FROM publications p JOIN approvals_v7 a ON a.year = p.year;
    DROP TABLE publications;
    DROP TABLE approvals;
    ALTER TABLE approvals_v7 RENAME TO approvals;
    ALTER TABLE publications_v7 RENAME TO publications;
    CREATE UNIQUE INDEX approvals_one_in_force ON approvals (year) WHERE reopened_at IS NULL;

    CREATE TRIGGER approvals_no_delete BEFORE DELETE ON approvals
    BEGIN
        SELECT RAISE(ABORT, '审定记录不能删除，只能撤销审定（approvals are never deleted）');
    END;
    CREATE TRIGGER approvals_reopen_only BEFORE UPDATE ON approvals
    WHEN OLD.reopened_at IS NOT NULL
      OR NEW.id IS NOT OLD.id OR NEW.year IS NOT OLD.year
      OR NEW.doc_number IS NOT OLD.doc_number OR NEW.approved_at IS NOT OLD.approved_at
      OR NEW.operator IS NOT OLD.operator
      OR NEW.consolidation_sha256 IS NOT OLD.consolidation_sha256
      OR NEW.results IS NOT OLD.results OR NEW.replaces IS NOT OLD.replaces
    BEGIN
        SELECT RAISE(ABORT, '审定记录只能标记为已撤销一次，其余内容不能修改（an approval can only be reopened, once）');
    END;
    CREATE TRIGGER publications_no_update BEFORE UPDATE ON publications
    BEGIN
        SELECT RAISE(ABORT, '公布记录不能修改（publications are never changed）');
    END;
    CREATE TRIGGER publications_no_delete BEFORE DELETE ON publications
    BEGIN
        SELECT RAISE(ABORT, '公布记录不能删除（publications are never deleted）');
    END;

    CREATE TRIGGER submissions_locked BEFORE INSERT ON submissions
    WHEN EXISTS (SELECT 1 FROM approvals WHERE year = NEW.year AND reopened_at IS NULL)
    BEGIN
        SELECT RAISE(ABORT, '该年度考核结果已审定，不再接收上报；须先撤销审定（year approved: locked）');
    END;
    CREATE TRIGGER recorded_decisions_locked BEFORE INSERT ON recorded_decisions
    WHEN EXISTS (SELECT 1 FROM approvals WHERE year = NEW.year AND reopened_at IS NULL)
    BEGIN
        SELECT RAISE(ABORT, '该年度考核结果已审定，不能再记录决定；须先撤销审定（year approved: locked）');
    END;
    CREATE TRIGGER objections_locked BEFORE INSERT ON objections
    WHEN EXISTS (SELECT 1 FROM approvals WHERE year = NEW.year AND reopened_at IS NULL)
    BEGIN
        SELECT RAISE(ABORT, '该年度考核结果已审定，不再受理复核申请；须先撤销审定（year approved: locked）');
    END;
    CREATE TRIGGER packs_locked BEFORE INSERT ON packs
    WHEN EXISTS (SELECT 1 FROM approvals WHERE year = NEW.year AND reopened_at IS NULL)
    BEGIN
        SELECT RAISE(ABORT, '该年度考核结果已审定，不能发布该年度的规则包；须先撤销审定（year approved: locked）');
    END;

    ALTER TABLE units ADD COLUMN principal TEXT CHECK (principal IS NULL OR length(trim(principal)) > 0);
    "#,
    // 8: a node is an identity with a history of keys, and names the unit
    //    whose system it assesses; rulings (裁定) on double reports.
    //    `nodes.key_id` stays the node's id: the key id of its first key,
    //    which every earlier `submissions.node_id` and `results.node_id`
    //    already holds. `node_keys` lists each node's keys — exactly one
    //    current (not retired) — with the first sequence number each may
    //    sign, so a rotated node's reports keep one identity and one
    //    sequence. `submissions.signer_key_id` records which key signed.
    //    `rulings` names, per (unit, year, round, method) reported by
    //    more than one node, the node whose report stands; the latest
    //    ruling of a slot is in force, earlier ones are kept; like the
    //    other inserts that change a year's result, a ruling of an approved
    //    year is refused by a trigger as a backstop (`lock::locked` first).
    r#"
    ALTER TABLE nodes ADD COLUMN assessor_unit TEXT;

    CREATE TABLE node_keys (
        key_id         TEXT PRIMARY KEY,
        node_id        TEXT NOT NULL REFERENCES nodes (key_id),
        public_key     TEXT NOT NULL UNIQUE,
        first_sequence INTEGER NOT NULL CHECK (first_sequence >= 1),
        added_at       TEXT NOT NULL,
        retired_at     TEXT,
        retired_reason TEXT,
        CHECK ((retired_at IS NULL) = (retired_reason IS NULL))
    ) STRICT;
    CREATE UNIQUE INDEX node_keys_one_current ON node_keys (node_id) WHERE retired_at IS NULL;
    CREATE INDEX node_keys_by_node ON node_keys (node_id);
    INSERT INTO node_keys (key_id, node_id, public_key, first_sequence, added_at)
        SELECT key_id, key_id, public_key, 1, added_at FROM nodes;

    ALTER TABLE submissions ADD COLUMN signer_key_id TEXT REFERENCES node_keys (key_id);
    UPDATE submissions SET signer_key_id = node_id;

    CREATE TABLE rulings (
        seq           INTEGER PRIMARY KEY AUTOINCREMENT,
        year          INTEGER NOT NULL,
        unit_id       TEXT NOT NULL,
        round         TEXT NOT NULL CHECK (round IN ('Q1', 'Q2', 'Q3', 'Q4', 'annual')),
        method_id     TEXT NOT NULL,
        node_id       TEXT NOT NULL REFERENCES nodes (key_id),
        submission_id INTEGER NOT NULL REFERENCES submissions (id),
        reason        TEXT NOT NULL CHECK (length(trim(reason)) > 0),
        decided_at    TEXT NOT NULL,
        operator      TEXT NOT NULL,
        FOREIGN KEY (year, unit_id) REFERENCES units (year, id)
    ) STRICT;
    CREATE INDEX rulings_slot ON rulings (year, unit_id, round, method_id);
    CREATE TRIGGER rulings_locked BEFORE INSERT ON rulings
    WHEN EXISTS (SELECT 1 FROM approvals WHERE year = NEW.year AND reopened_at IS NULL)
    BEGIN
        SELECT RAISE(ABORT, '该年度考核结果已审定，不能再裁定；须先撤销审定（year approved: locked）');
    END;
    "#,
    // 9: a result keeps the items its node marked not applicable (不适用),
    //    with the reasons — `{"N2_5":"…"}` — and the evidence it was
    //    replayed on — `{"sat_rate":9650,…}` (present values, hundredths) —
    //    so a formula's lost points can be explained. Results committed
    //    before this have no evidence column value (NULL).
    r#"
    ALTER TABLE results ADD COLUMN not_applicable TEXT NOT NULL DEFAULT '{}'
        CHECK (json_valid(not_applicable) AND json_type(not_applicable) = 'object');
    ALTER TABLE results ADD COLUMN evidence TEXT
        CHECK (evidence IS NULL OR (json_valid(evidence) AND json_type(evidence) = 'object'));
    "#,
    // 10: the year's transparency log (`crate::tlog`): one append-only
    //    RFC 9162 log per assessment year — its leaves in commit order (with
    //    the audit record or the envelope digest each records), the hashes
    //    of its complete subtrees (insert-only: they never change), the
    //    checkpoints the hub signed and the witnesses' cosignatures of them.
    //    A database of an older version starts each year's log at its next
    //    event. Triggers make every table append-only.
    r#"
    CREATE TABLE log_leaves (
        year      INTEGER NOT NULL CHECK (year BETWEEN 2000 AND 2100),
        idx       INTEGER NOT NULL CHECK (idx >= 0),
        kind      TEXT NOT NULL CHECK (kind IN ('submission', 'audit', 'rollover')),
        leaf      BLOB NOT NULL,
        audit_seq INTEGER REFERENCES audit_log (seq),
        digest    BLOB CHECK (digest IS NULL OR length(digest) = 32),
        PRIMARY KEY (year, idx)
    ) STRICT, WITHOUT ROWID;
    CREATE UNIQUE INDEX log_leaves_by_digest ON log_leaves (digest) WHERE digest IS NOT NULL;
    CREATE INDEX log_leaves_by_audit ON log_leaves (audit_seq) WHERE audit_seq IS NOT NULL;

    CREATE TABLE log_hashes (
        year  INTEGER NOT NULL,
        level INTEGER NOT NULL CHECK (level BETWEEN 0 AND 63),
        idx   INTEGER NOT NULL CHECK (idx >= 0),
        hash  BLOB NOT NULL CHECK (length(hash) = 32),
        PRIMARY KEY (year, level, idx)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE log_checkpoints (
        year      INTEGER NOT NULL,
        size      INTEGER NOT NULL CHECK (size >= 0),
        root      BLOB NOT NULL CHECK (length(root) = 32),
        note      TEXT NOT NULL,
        signed_at TEXT NOT NULL,
        PRIMARY KEY (year, size)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE log_cosignatures (
        year        INTEGER NOT NULL,
        size        INTEGER NOT NULL,
        witness     TEXT NOT NULL,
        line        TEXT NOT NULL,
        time        INTEGER NOT NULL,
        received_at TEXT NOT NULL,
        PRIMARY KEY (year, size, witness),
        FOREIGN KEY (year, size) REFERENCES log_checkpoints (year, size)
    ) STRICT, WITHOUT ROWID;

    CREATE TRIGGER log_leaves_no_update BEFORE UPDATE ON log_leaves
    BEGIN SELECT RAISE(ABORT, '透明日志只能追加，不能修改（log_leaves is append-only: UPDATE refused）'); END;
    CREATE TRIGGER log_leaves_no_delete BEFORE DELETE ON log_leaves
    BEGIN SELECT RAISE(ABORT, '透明日志只能追加，不能删除（log_leaves is append-only: DELETE refused）'); END;
    CREATE TRIGGER log_hashes_no_update BEFORE UPDATE ON log_hashes
    BEGIN SELECT RAISE(ABORT, '透明日志只能追加，不能修改（log_hashes is append-only: UPDATE refused）'); END;
    CREATE TRIGGER log_hashes_no_delete BEFORE DELETE ON log_hashes
    BEGIN SELECT RAISE(ABORT, '透明日志只能追加，不能删除（log_hashes is append-only: DELETE refused）'); END;
    CREATE TRIGGER log_checkpoints_no_update BEFORE UPDATE ON log_checkpoints
    BEGIN SELECT RAISE(ABORT, '检查点只能追加，不能修改（log_checkpoints is append-only: UPDATE refused）'); END;
    CREATE TRIGGER log_checkpoints_no_delete BEFORE DELETE ON log_checkpoints
    BEGIN SELECT RAISE(ABORT, '检查点只能追加，不能删除（log_checkpoints is append-only: DELETE refused）'); END;
    CREATE TRIGGER log_cosignatures_no_update BEFORE UPDATE ON log_cosignatures
    BEGIN SELECT RAISE(ABORT, '副署只能追加，不能修改（log_cosignatures is append-only: UPDATE refused）'); END;
    CREATE TRIGGER log_cosignatures_no_delete BEFORE DELETE ON log_cosignatures
    BEGIN SELECT RAISE(ABORT, '副署只能追加，不能删除（log_cosignatures is append-only: DELETE refused）'); END;
    "#,
    // 11: console accounts (控制台账号) — local accounts with Argon2id
    //    password hashes (PHC strings) and roles. Never deleted: a disabled
    //    account keeps its name, so the audit log's operators stay
    //    unambiguous.
    r#"
    CREATE TABLE accounts (
        name                TEXT PRIMARY KEY CHECK (length(trim(name)) > 0),
        role                TEXT NOT NULL CHECK (role IN ('admin', 'reviewer', 'readonly')),
        password_hash       TEXT NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
        created_at          TEXT NOT NULL,
        created_by          TEXT NOT NULL,
        password_changed_at TEXT NOT NULL,
        disabled_at         TEXT,
        disabled_reason     TEXT,
        CHECK ((disabled_at IS NULL) = (disabled_reason IS NULL))
    ) STRICT;
    "#,
    // 12: a year's current results by unit, so consolidation reads them
    //    one unit after another in unit order (`results::stream`) instead of
    //    holding the whole year (issue #17).
    r#"
    CREATE INDEX results_by_unit ON results (year, unit_id) WHERE is_current = 1;
    "#,
    // 13: the log stores the hashes of complete subtrees of 256 leaves and
    //    more only (`tlog::store::STORED_LEVEL`); a smaller one lies inside
    //    one tile of 256 leaves and is hashed again from them when read.
    //    The single writer inserted two hash rows per leaf, it now inserts
    //    one per 128 (issue #17). The rows below level 8 are removed — the
    //    one delete the log's tables ever see, done here with the trigger
    //    lifted and put back as it was: they only repeated what the leaves
    //    give, and every root, proof and signed checkpoint stays the same.
    r#"
    DROP TRIGGER log_hashes_no_delete;
    DELETE FROM log_hashes WHERE level < 8;
    CREATE TRIGGER log_hashes_no_delete BEFORE DELETE ON log_hashes
    BEGIN SELECT RAISE(ABORT, '透明日志只能追加，不能删除（log_hashes is append-only: DELETE refused）'); END;
    "#,
];
