//! What the hub's and the node's databases hold, read as a test checks
//! it: read-only connections, row counts, the hub's accepted submissions
//! and whether every receipt the node holds is at the hub.

use std::collections::BTreeMap;

use super::*;

impl Federation {
    /// The hub's database, read-only.
    pub fn hub_db(&self) -> rusqlite::Connection {
        read_only(&self.hub_dir.join("hub.db"))
    }

    /// The node's store, read-only.
    pub fn node_db(&self) -> rusqlite::Connection {
        read_only(&self.node_dir.join("node.db"))
    }

    /// Node outbox entries by state.
    pub fn outbox_count(&self, state: &str) -> i64 {
        count(
            &self.node_db(),
            "SELECT count(*) FROM outbox WHERE state = ?1",
            [state],
        )
    }

    /// Rows of the hub's `submissions` (or of `results`).
    pub fn hub_rows(&self, table: &str) -> i64 {
        count(&self.hub_db(), &format!("SELECT count(*) FROM {table}"), [])
    }

    /// The hub's accepted submissions by digest.
    pub fn hub_submissions(&self) -> BTreeMap<Vec<u8>, Stored> {
        let conn = self.hub_db();
        let mut stmt = conn
            .prepare(
                "SELECT digest, node_id, sequence, pack_version, committed_at, leaf_index
                 FROM submissions",
            )
            .unwrap();
        stmt.query_map([], |r| {
            Ok((
                r.get(0)?,
                Stored {
                    node_id: r.get(1)?,
                    sequence: r.get(2)?,
                    pack_version: r.get(3)?,
                    committed_at: r.get(4)?,
                    leaf_index: r.get(5)?,
                },
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    }

    /// Every receipt the node holds verifies under the hub's receipt key
    /// and is in the hub's database for exactly that commit — the same
    /// digest, node, sequence, pack version, commit time and leaf — and no
    /// digest is stored twice.
    pub fn receipts_are_at_the_hub(&self) -> Receipts {
        let hub_key: PublicKey = self.receipt_key.parse().unwrap();
        let at_hub = self.hub_submissions();
        let mut held = 0;
        for e in self.entries().iter().filter(|e| e.state == State::Accepted) {
            let receipt = e.decoded_receipt().unwrap().unwrap();
            kaohe_node::outbox::check_receipt(e, &receipt, &hub_key).unwrap();
            let stored = at_hub.get(e.digest.0.as_slice()).unwrap_or_else(|| {
                panic!(
                    "the node holds a receipt for #{} that the hub did not store",
                    e.sequence
                )
            });
            assert_eq!(
                (stored.node_id.as_str(), stored.sequence),
                (
                    self.node_key_id.as_str(),
                    i64::try_from(e.sequence).unwrap()
                ),
                "#{}: stored for another node or sequence",
                e.sequence
            );
            assert_eq!(
                (stored.pack_version, stored.committed_at, stored.leaf_index),
                (
                    e.pack_version,
                    receipt.leaf.commit_time,
                    i64::try_from(receipt.leaf_index).unwrap()
                ),
                "#{}: the receipt names another commit than the stored one",
                e.sequence
            );
            held += 1;
        }
        let (rows, distinct): (i64, i64) = self
            .hub_db()
            .query_row(
                "SELECT count(*), count(DISTINCT digest) FROM submissions",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(rows, distinct);
        Receipts {
            held,
            stored: usize::try_from(rows).unwrap(),
        }
    }
}

/// One row of the hub's `submissions`.
#[derive(Debug)]
pub struct Stored {
    pub node_id: String,
    pub sequence: i64,
    pub pack_version: u32,
    pub committed_at: i64,
    pub leaf_index: i64,
}

/// What [`Federation::receipts_are_at_the_hub`] counted.
#[derive(Debug, Clone, Copy)]
pub struct Receipts {
    /// Receipts the node holds.
    pub held: usize,
    /// Submissions the hub stored.
    pub stored: usize,
}
