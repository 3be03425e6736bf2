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
            "accounts",
            "approvals",
            "audit_log",
            "calendar_years",
            "history_results",
            "log_checkpoints",
            "log_cosignatures",
            "log_hashes",
            "log_leaves",
            "node_keys",
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
            "rulings",
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
    // A mistyped --data-dir is the likely cause: it is named first, and
    // init is offered only for a new hub.
    let typo = dir.path().join("hbu");
    let text = open_existing(&typo).unwrap_err().to_string();
    assert!(text.contains("（该目录不存在）"), "{text}");
    assert!(text.contains("请核对 --data-dir 是否写对"), "{text}");
    assert!(text.contains("只有新建汇总中心时"), "{text}");
    assert!(!typo.exists());
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

    use super::result_columns as store;

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
    let current = crate::results::load_results(&conn, 2022, "p", 1).unwrap();
    assert_eq!(current.len(), 2);
    assert_eq!(current[0].scores, expected[1].2);
    let amounts: BTreeMap<String, i64> = [("L10a".to_string(), 50), ("L2b".to_string(), 100)]
        .into_iter()
        .collect();
    assert_eq!(current[0].clauses, amounts);
    assert!(current[0].late);
    assert_eq!(current[1].scores, expected[2].2);
    assert!(current[1].clauses.is_empty());

    // Issue #17: a consolidation keeps only the evidence a loss reason
    // names; a result stored without evidence still has none.
    conn.execute(
        "UPDATE results SET evidence = '{\"a\":100,\"sat_rate\":9500}' WHERE method_id = 'survey'",
        [],
    )
    .unwrap();
    let all = crate::results::load_results(&conn, 2022, "p", 1).unwrap();
    assert_eq!(
        all[1].evidence,
        Some(BTreeMap::from([
            ("a".into(), 100),
            ("sat_rate".into(), 9500)
        ]))
    );
    let keep = ["sat_rate".to_string()].into();
    let kept = crate::results::load_results_keeping(&conn, 2022, "p", 1, Some(&keep)).unwrap();
    assert_eq!(kept[0].evidence, None);
    assert_eq!(
        kept[1].evidence,
        Some(BTreeMap::from([("sat_rate".into(), 9500)]))
    );
    assert_eq!(
        (kept[0].scores.clone(), kept[1].clauses.len()),
        (all[0].scores.clone(), 0)
    );
}

#[test]
fn upgrade_from_a_version_6_snapshot_gives_every_node_its_key_history() {
    use kaohe_proto::keys::SigningKeyPair;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DB_FILE);
    let pair = SigningKeyPair::from_seed(&[4; 32]);
    {
        // A hub of schema 6: one node (its id is its key id) that reported once.
        let old = open_at_version(&path, 6).unwrap();
        old.execute_batch(&format!(
            "INSERT INTO units (year, id, name, category, parent_id, supervising_department, assessor)
             VALUES (2022, 't1', '肖旗乡', 'township', NULL, NULL, 'county_office');
             INSERT INTO nodes (key_id, public_key, name, assessor, scope, added_at)
             VALUES ('{id}', '{public}', '县依法治县办', 'county_office',
                     '{{\"categories\":[\"township\"],\"methods\":[\"daily\"],\"years\":[2022]}}',
                     '2022-01-01T00:00:00Z');
             INSERT INTO packs (pack_id, year, version, module_sha256, module, envelope,
                 published_at, published_by, is_current)
             VALUES ('p', 2022, 1, zeroblob(32), x'00', x'00', '2022-01-01T00:00:00Z', 'wang', 1);
             INSERT INTO receipt_batches (batch_id, commit_time, tree_size, hub_key_id)
             VALUES (1, 1670000000, 1, 'hub');
             INSERT INTO submissions (id, digest, node_id, sequence, unit_id, year, round,
                 pack_id, pack_version, created_at, committed_at, late, batch_id, leaf_index, envelope)
             VALUES (1, zeroblob(32), '{id}', 7, 't1', 2022, 'annual', 'p', 1, 1, 1670000000, 0, 1, 0, x'00');",
            id = pair.key_id(),
            public = pair.public()
        ))
        .unwrap();
    }
    let conn = open(&path).unwrap();
    integrity_check(&conn).unwrap();
    let node = crate::registry::nodes::node_by_key_id(&conn, &pair.key_id())
        .unwrap()
        .unwrap();
    assert_eq!(node.id, pair.key_id());
    assert_eq!(node.key.key_id, pair.key_id());
    assert_eq!(node.key.first_sequence, 1);
    assert!(node.earlier_keys.is_empty());
    assert_eq!(node.assessor_unit, None);
    assert!(!node.scope.own_unit);
    let signer: String = conn
        .query_row(
            "SELECT signer_key_id FROM submissions WHERE id = 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(signer, pair.key_id().as_str());
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

/// Migration 7 keeps a year approved and published under schema 6: the
/// approval in force (and locking the year), its publication attached to
/// it, and the unit without a principal.
#[test]
fn upgrade_from_a_version_6_snapshot_keeps_the_approval_in_force_and_its_publication() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DB_FILE);
    {
        let old = open_at_version(&path, 6).unwrap();
        old.execute_batch(
            "INSERT INTO units (year, id, name, category, parent_id, supervising_department, assessor)
             VALUES (2022, 't1', '肖旗乡', 'township', NULL, NULL, 'county_office');
             INSERT INTO approvals (year, doc_number, approved_at, operator, consolidation_sha256, results)
             VALUES (2022, '宝法治办〔2023〕1号', '2023-03-01T02:00:00Z', 'wang', 'abc', '{\"year\":2022,\"units\":{}}');
             INSERT INTO publications (year, published_at, operator)
             VALUES (2022, '2023-03-02T02:00:00Z', 'wang');",
        )
        .unwrap();
    }
    let conn = open(&path).unwrap();
    assert_eq!(schema_version(&conn).unwrap(), SCHEMA_VERSION);
    integrity_check(&conn).unwrap();
    let approval = crate::lock::in_force(&conn, 2022).unwrap().unwrap();
    assert_eq!(approval.doc_number, "宝法治办〔2023〕1号");
    assert_eq!((approval.replaces, approval.reopened), (None, None));
    let published = crate::lock::publication(&conn, approval.id)
        .unwrap()
        .unwrap();
    assert_eq!(published.published_at, "2023-03-02T02:00:00Z");
    assert!(crate::lock::locked(&conn, 2022).unwrap().is_some());
    let roster = crate::registry::units::load_roster(&conn, 2022).unwrap();
    assert_eq!(roster.get("t1").unwrap().principal, None);
}

/// Migration 13 keeps a log written under schema 12, with a hash row for
/// every complete subtree, as it was: the rows below level 8 go, and the
/// roots, the signed checkpoint, every inclusion and consistency proof and
/// the next appends are the same as before.
#[test]
fn upgrade_from_a_version_12_snapshot_keeps_every_proof_of_the_log() {
    use kaohe_proto::keys::SigningKeyPair;
    use kaohe_proto::merkle::{self, verify_consistency, verify_inclusion};
    use kaohe_proto::tlog::checkpoint::Checkpoint;
    use kaohe_proto::tlog::leaf::{Leaf, RolloverLeaf, TreeHead, log_origin};
    use kaohe_proto::tlog::tree::MemoryTree;

    let leaf = |i: u64| {
        Leaf::Rollover(RolloverLeaf {
            year: 2021,
            head: TreeHead {
                size: i,
                root: [i as u8; 32],
            },
            checkpoint: None,
        })
    };
    let hub = SigningKeyPair::from_seed(&[3; 32]);
    let at: jiff::Timestamp = "2023-01-05T00:00:00Z".parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DB_FILE);
    let mut memory = MemoryTree::new();
    let mut roots = vec![merkle::empty_tree_hash()];
    let (size, stored_before) = (600u64, 1196);
    let note = {
        // Schema 12's writer: a leaf row, then a row per subtree completed.
        let old = open_at_version(&path, 12).unwrap();
        let mut rows = 0;
        for i in 0..size {
            let bytes = leaf(i).to_bytes();
            old.execute(
                "INSERT INTO log_leaves (year, idx, kind, leaf) VALUES (2022, ?1, 'rollover', ?2)",
                rusqlite::params![i as i64, bytes],
            )
            .unwrap();
            for (id, hash) in memory.append(merkle::leaf_hash(&bytes)).unwrap() {
                old.execute(
                    "INSERT INTO log_hashes (year, level, idx, hash) VALUES (2022, ?1, ?2, ?3)",
                    rusqlite::params![id.level, id.index as i64, hash.as_slice()],
                )
                .unwrap();
                rows += 1;
            }
            roots.push(memory.root());
        }
        assert_eq!(rows, stored_before);
        let note = Checkpoint {
            origin: log_origin(&hub.key_id(), 2022),
            size,
            root: memory.root(),
            extensions: Vec::new(),
        }
        .sign(&hub)
        .unwrap();
        old.execute(
            "INSERT INTO log_checkpoints (year, size, root, note, signed_at) VALUES (2022, ?1, ?2, ?3, ?4)",
            rusqlite::params![size as i64, memory.root().as_slice(), note.to_string(), at.to_string()],
        )
        .unwrap();
        note
    };
    let conn = open(&path).unwrap();
    assert_eq!(schema_version(&conn).unwrap(), SCHEMA_VERSION);
    integrity_check(&conn).unwrap();
    let levels: Vec<(u8, i64)> = conn
        .prepare("SELECT level, idx FROM log_hashes ORDER BY level, idx")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(levels, [(8, 0), (8, 1), (9, 0)]);
    // The checkpoint the hub signed is the one it gives again: the stored
    // tree still has its root.
    let signed = crate::tlog::checkpoint(&conn, 2022, &hub, at).unwrap();
    assert_eq!((signed.size, signed.root), (size, memory.root()));
    assert_eq!(signed.note.to_string(), note.to_string());
    for new in [1, 255, 256, 257, 511, 512, 513, size] {
        for index in (0..new).step_by(41).chain([new - 1]) {
            let proof = crate::tlog::inclusion_proof(&conn, 2022, index, new).unwrap();
            verify_inclusion(
                &leaf(index).hash(),
                index,
                new,
                &proof,
                &roots[new as usize],
            )
            .unwrap();
        }
        for old in (1..new).step_by(53) {
            let proof = crate::tlog::consistency_proof(&conn, 2022, old, new).unwrap();
            verify_consistency(old, new, &roots[old as usize], &roots[new as usize], &proof)
                .unwrap();
        }
    }
    // The log goes on from where it was, and the trigger is back.
    let mut log = crate::tlog::Appender::new(&conn);
    for i in size..size + 20 {
        log.append(2022, &leaf(i), None, None).unwrap();
        memory.append(leaf(i).hash()).unwrap();
    }
    assert_eq!(log.head(2022).unwrap().root, memory.root());
    let err = conn.execute("DELETE FROM log_hashes", []).unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
}
