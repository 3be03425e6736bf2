//! Tampering with a hub's files as someone with access to them would, for
//! the tests that show it is detected.

use std::path::Path;

use kaohe_proto::merkle;
use kaohe_proto::tlog::tree::MemoryTree;

/// Rewrites `year`'s log in the hub's database as a hub that means to hide
/// it would: the append-only triggers dropped, the leaves changed by
/// `edit` (in place, or some removed), every subtree hash recomputed, and
/// the checkpoints and cosignatures of that year removed — so the hub
/// serves a self-consistent but different history, and signs it anew.
pub fn rewrite_log(hub_dir: &Path, year: u16, edit: impl FnOnce(&mut Vec<Vec<u8>>)) {
    let conn = rusqlite::Connection::open(hub_dir.join("hub.db")).unwrap();
    conn.execute_batch(
        "DROP TRIGGER log_leaves_no_update; DROP TRIGGER log_leaves_no_delete;
         DROP TRIGGER log_hashes_no_delete;
         DROP TRIGGER log_checkpoints_no_delete; DROP TRIGGER log_cosignatures_no_delete;",
    )
    .unwrap();
    let mut leaves: Vec<Vec<u8>> = conn
        .prepare("SELECT leaf FROM log_leaves WHERE year = ?1 ORDER BY idx")
        .unwrap()
        .query_map([year], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let before = leaves.clone();
    edit(&mut leaves);
    assert_ne!(leaves, before, "the edit changed nothing");
    assert!(leaves.len() <= before.len(), "rewrite or remove only");
    let tx = conn.unchecked_transaction().unwrap();
    tx.execute("DELETE FROM log_cosignatures WHERE year = ?1", [year])
        .unwrap();
    tx.execute("DELETE FROM log_checkpoints WHERE year = ?1", [year])
        .unwrap();
    tx.execute("DELETE FROM log_hashes WHERE year = ?1", [year])
        .unwrap();
    tx.execute(
        "DELETE FROM log_leaves WHERE year = ?1 AND idx >= ?2",
        rusqlite::params![year, leaves.len() as i64],
    )
    .unwrap();
    let mut tree = MemoryTree::new();
    for (i, leaf) in leaves.iter().enumerate() {
        tx.execute(
            "UPDATE log_leaves SET leaf = ?3 WHERE year = ?1 AND idx = ?2",
            rusqlite::params![year, i as i64, leaf],
        )
        .unwrap();
        for (id, hash) in tree.append(merkle::leaf_hash(leaf)).unwrap() {
            tx.execute(
                "INSERT INTO log_hashes (year, level, idx, hash) VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![year, id.level, id.index as i64, hash.as_slice()],
            )
            .unwrap();
        }
    }
    tx.commit().unwrap();
}

/// Copies the files of a data directory (not its subfolders).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}
