//! Online backup and restore (`kaohe hub backup`, `restore`), and the
//! deploy example `hub.toml` read by the real parser.

use super::*;
use kaohe_hub::backup::{self as bk, BackupError};

/// The audit log (seq, operator, action, subject), in order.
fn audit_rows(conn: &Connection) -> Vec<(i64, String, String, String)> {
    conn.prepare("SELECT seq, operator, action, subject FROM audit_log ORDER BY seq")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Names in `dir` (to see that nothing, not even a temporary file, is left).
fn names(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

#[test]
fn a_backup_taken_while_data_sits_in_the_wal_restores_to_identical_tables() {
    let s = setup();
    // A second connection (as the server would hold) writes a revocation
    // and keeps it in the WAL: no checkpoint while it stays open.
    let mut writer = db::open_existing(&s.dir).unwrap();
    writer
        .execute_batch("PRAGMA wal_autocheckpoint = 0")
        .unwrap();
    nodes::revoke_node(
        &mut writer,
        "乙节点",
        "密钥遗失",
        &actor("2022-06-01T00:00:00Z"),
    )
    .unwrap();
    assert!(
        file_len(&s.dir.join("hub.db-wal")) > 0,
        "the revocation should still be in the WAL"
    );
    let live_tables = dump(&writer);
    let live_audit = audit_rows(&writer);
    assert!(live_audit.iter().any(|r| r.2 == "node.revoke"));

    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("hub-2022.db");
    let report = bk::backup(&s.dir, &out, &actor("2022-06-02T00:00:00Z")).unwrap();
    assert_eq!(report.bytes, file_len(&out));
    assert_eq!(report.schema_version, db::SCHEMA_VERSION);
    assert_eq!(names(out_dir.path()), vec!["hub-2022.db".to_string()]);

    // The backup is recorded in the live audit log (after the copy).
    let after = audit_rows(&writer);
    assert_eq!(after.len(), live_audit.len() + 1);
    assert_eq!(after.last().unwrap().2, bk::ACTION_BACKUP);

    // Never overwrites: the same name again is refused, the file untouched.
    let bytes = std::fs::read(&out).unwrap();
    let err = bk::backup(&s.dir, &out, &actor("2022-06-02T00:00:00Z")).unwrap_err();
    assert!(matches!(err, BackupError::Exists { .. }), "{err}");
    assert!(std::fs::read(&out).unwrap() == bytes);
    assert_eq!(names(out_dir.path()), vec!["hub-2022.db".to_string()]);

    // Restore into a fresh data directory: identical tables, the audit log
    // as it was at the copy plus the restore record.
    let fresh = out_dir.path().join("restored");
    bk::restore(&fresh, &out, &actor("2022-06-03T00:00:00Z")).unwrap();
    assert_eq!(names(&fresh), vec!["hub.db".to_string()]);
    let restored = db::open_existing(&fresh).unwrap();
    db::integrity_check(&restored).unwrap();
    // The restore is recorded like any act: in the audit log (left out of
    // `dump`) and, as a leaf of each open year's transparency log, in the
    // log's tables — which therefore hold what they held at the copy plus
    // those leaves (and the hash of a tile the leaf completed, if it did).
    let log_tables = ["log_leaves", "log_hashes"];
    let mut restored_tables = dump(&restored);
    let mut live_rest = live_tables.clone();
    for t in log_tables {
        let (live, now) = (
            live_rest.remove(t).unwrap(),
            restored_tables.remove(t).unwrap(),
        );
        assert!(
            live.iter().all(|row| now.contains(row)),
            "{t}: a row of the copy is missing"
        );
        if t == "log_leaves" {
            assert!(now.len() > live.len(), "{t}: the restore is not in the log");
        }
    }
    assert_eq!(restored_tables, live_rest);
    let open_years: i64 = restored
        .query_row("SELECT count(DISTINCT year) FROM log_leaves", [], |r| {
            r.get(0)
        })
        .unwrap();
    let restore_leaves: i64 = restored
        .query_row(
            "SELECT count(*) FROM log_leaves l JOIN audit_log a ON a.seq = l.audit_seq
             WHERE a.action = ?1",
            [bk::ACTION_RESTORE],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!((open_years, restore_leaves), (2, 2));
    let restored_audit = audit_rows(&restored);
    assert_eq!(restored_audit[..live_audit.len()], live_audit[..]);
    assert_eq!(restored_audit.len(), live_audit.len() + 1);
    assert_eq!(restored_audit.last().unwrap().1, "测试员");
    assert_eq!(restored_audit.last().unwrap().2, bk::ACTION_RESTORE);
    let revoked: Option<String> = restored
        .query_row(
            "SELECT revoked_at FROM nodes WHERE name = '乙节点'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        revoked.is_some(),
        "the WAL-only revocation is in the backup"
    );
    drop(restored);

    // A data directory that has a database is never overwritten, and the
    // live hub's directory least of all.
    let live_before = std::fs::read(s.dir.join("hub.db")).unwrap();
    for dir in [&fresh, &s.dir] {
        let err = bk::restore(dir, &out, &actor("2022-06-03T00:00:00Z")).unwrap_err();
        assert!(matches!(err, BackupError::LiveDatabase { .. }), "{err}");
    }
    assert!(std::fs::read(s.dir.join("hub.db")).unwrap() == live_before);
    drop(writer);
}

#[test]
fn a_corrupted_or_newer_backup_is_refused_and_leaves_nothing_behind() {
    let s = setup();
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("good.db");
    bk::backup(&s.dir, &good, &actor("2022-06-02T00:00:00Z")).unwrap();

    // Garbage over pages 2–5 (page 1, the header, intact).
    let mut bytes = std::fs::read(&good).unwrap();
    let page = 4096;
    assert!(bytes.len() > 6 * page, "backup unexpectedly small");
    for b in &mut bytes[page..5 * page] {
        *b = 0x5a;
    }
    let corrupt = tmp.path().join("corrupt.db");
    std::fs::write(&corrupt, &bytes).unwrap();
    let target = tmp.path().join("restore-corrupt");
    let err = bk::restore(&target, &corrupt, &actor("2022-06-03T00:00:00Z")).unwrap_err();
    assert!(matches!(err, BackupError::Integrity { .. }), "{err:?}");
    assert!(
        names(&target).is_empty(),
        "left behind: {:?}",
        names(&target)
    );

    // Not a database at all.
    let junk = tmp.path().join("junk.db");
    std::fs::write(&junk, b"not a database ".repeat(500)).unwrap();
    let err = bk::restore(&target, &junk, &actor("2022-06-03T00:00:00Z")).unwrap_err();
    assert!(matches!(err, BackupError::NotADatabase { .. }), "{err:?}");
    assert!(names(&target).is_empty());

    // Written by a newer kaohe: refused, not migrated or "repaired".
    let newer = tmp.path().join("newer.db");
    std::fs::copy(&good, &newer).unwrap();
    Connection::open(&newer)
        .unwrap()
        .pragma_update(None, "user_version", db::SCHEMA_VERSION + 1)
        .unwrap();
    let err = bk::restore(&target, &newer, &actor("2022-06-03T00:00:00Z")).unwrap_err();
    match err {
        BackupError::NewerSchema {
            found, supported, ..
        } => {
            assert_eq!(found, db::SCHEMA_VERSION + 1);
            assert_eq!(supported, db::SCHEMA_VERSION);
        }
        other => panic!("expected NewerSchema, got {other:?}"),
    }
    assert!(names(&target).is_empty());

    // The good one still restores there.
    bk::restore(&target, &good, &actor("2022-06-03T00:00:00Z")).unwrap();
    assert_eq!(names(&target), vec!["hub.db".to_string()]);
}

#[test]
fn the_deploy_example_hub_toml_parses_with_the_real_parser() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/hub/hub.toml");
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(&example, dir.path().join(config::CONFIG_FILE)).unwrap();
    let parsed = config::HubConfig::load(dir.path()).unwrap();
    let policy = parsed.trust_policy(dir.path()).unwrap();
    assert_eq!(parsed.packs.authorities.len(), 3);
    assert_eq!(policy.threshold(), 2, "the example is 2 of 3");
}
