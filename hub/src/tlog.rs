//! 透明日志（the year's transparency log）：每个考核年度一个只追加的 Merkle
//! 日志，记录决定该年度结果的每一件事。
//!
//! One RFC 9162 log per assessment year, kept in `hub.db` beside what it
//! records. Its leaves ([`kaohe_proto::tlog::leaf`]), in commit order:
//! - every accepted submission — appended by the single writer in the
//!   batch transaction that commits it ([`Appender`]);
//! - every audit record that shapes a year's result — appended by
//!   [`audit::append`](crate::audit::append) in the transaction of the
//!   change it records ([`record_audit`]; which actions, of which years:
//!   `classify`);
//! - the previous year's log head, as the first leaf of each year's log
//!   but the first (rollover).
//!
//! Nothing is ever removed: a correction is a new leaf. Checkpoints
//! (C2SP `tlog-checkpoint`, origin [`log_origin`], signed with the hub's
//! key) are signed once per batch by the writer and whenever a witness
//! asks for the newest ([`checkpoint`]); witnesses' cosignatures are
//! checked and kept ([`add_cosignatures`]) and published with the
//! checkpoint ([`cosigned_note`]).
//!
//! Layout: `store` (the SQL of migrations 10 and 13 and
//! [`SqlTree`](store::SqlTree), the tree over the stored leaves and the
//! stored hashes of subtrees of 256 leaves and more), `classify` (the rule per audit
//! action and what a leaf carries), [`bundle`] (the per-unit proof bundle
//! `kaohe hub export` writes and `kaohe verify` checks), `assemble`
//! (building those bundles from the log: [`bundles`]).
//!
//! **Architecture Invariant:** a leaf is appended in the same transaction
//! as the event it records; the tables are append-only (triggers raise).
//! This module names no sibling that records audit entries (it is called
//! by [`crate::audit`]); what it reads of the registry and the workflow it
//! reads with its own queries.

mod assemble;
pub mod bundle;
mod classify;
mod store;

#[cfg(test)]
mod tests;

use std::collections::HashMap;

use jiff::Timestamp;
use kaohe_proto::envelope::Digest;
use kaohe_proto::keys::{KeyId, PublicKey, SigningKeyPair};
use kaohe_proto::merkle::{self, Hash};
use kaohe_proto::receipt::LogInclusion;
use kaohe_proto::tlog::checkpoint::{Checkpoint, SignCheckpointError};
use kaohe_proto::tlog::leaf::{
    AuditLeaf, Leaf, RolloverLeaf, TreeHead, log_origin, witness_of, witness_verifier,
};
use kaohe_proto::tlog::note::SignedNote;
use kaohe_proto::tlog::proof::TlogProof;
use kaohe_proto::tlog::tree::{self, TreeError};
use rusqlite::Connection;

pub use assemble::{BundleError, BundleSet, bundles};
pub use classify::{LeafRule, RULES, rule_of};
pub use store::SqlTree;

/// An audit record being written, as [`record_audit`] sees it.
#[derive(Debug, Clone, Copy)]
pub struct AuditEvent<'a> {
    pub seq: i64,
    pub time: &'a str,
    pub operator: &'a str,
    pub action: &'a str,
    pub subject: &'a str,
    pub detail: &'a serde_json::Value,
}

/// The log could not be read, appended to or signed; the transaction it
/// was part of is rolled back by the caller.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("透明日志读写失败（log storage failed）：{0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{year} 年透明日志的哈希树不完整（the {year} log's tree is incomplete）：{detail}")]
    Tree { year: u16, detail: String },
    #[error("签名 {year} 年日志检查点失败（cannot sign the {year} checkpoint）：{source}")]
    Sign {
        year: u16,
        source: SignCheckpointError,
    },
    #[error("{year} 年还没有透明日志（no log for {year} yet）")]
    NoLog { year: u16 },
    #[error(
        "{year} 年透明日志的前 {size} 条记录与本汇总中心已签署的检查点不符：数据库中的日志被改动，不再签署（the stored log no longer gives the root the hub signed: it was edited）"
    )]
    Tampered { year: u16, size: u64 },
    #[error(
        "审计记录 {action}（{subject}）缺少{what}，无法确定记入哪一年的透明日志（the audit record names no year for the log）"
    )]
    NoYear {
        action: String,
        subject: String,
        what: &'static str,
    },
    #[error("{year} 年透明日志第 {index} 号叶已损坏（corrupt log leaf）：{detail}")]
    CorruptLeaf {
        year: u16,
        index: u64,
        detail: String,
    },
}

impl LogError {
    fn tree(year: u16) -> impl Fn(TreeError<store::ReadError>) -> LogError {
        move |e| LogError::Tree {
            year,
            detail: e.to_string(),
        }
    }
}

/// A checkpoint the hub signed, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogCheckpoint {
    pub year: u16,
    pub size: u64,
    pub root: Hash,
    /// Signed by the hub only.
    pub note: SignedNote,
}

impl LogCheckpoint {
    fn from_row(year: u16, row: store::CheckpointRow) -> Result<LogCheckpoint, LogError> {
        let note = SignedNote::parse(row.note.as_bytes()).map_err(|e| LogError::Tree {
            year,
            detail: format!(
                "检查点 {} 的签名注记（stored checkpoint note）：{e}",
                row.size
            ),
        })?;
        Ok(LogCheckpoint {
            year,
            size: row.size,
            root: row.root,
            note,
        })
    }
}

/// Appends leaves to the logs inside the caller's transaction, keeping
/// each year's tree (and the hashes it read or wrote) for the proofs of
/// the same batch.
pub struct Appender<'c> {
    conn: &'c Connection,
    trees: HashMap<u16, (SqlTree<'c>, u64)>,
}

impl<'c> Appender<'c> {
    pub fn new(conn: &'c Connection) -> Appender<'c> {
        Appender {
            conn,
            trees: HashMap::new(),
        }
    }

    fn tree(&mut self, year: u16) -> Result<&mut (SqlTree<'c>, u64), LogError> {
        if !self.trees.contains_key(&year) {
            let size = store::size(self.conn, year)?;
            self.trees
                .insert(year, (SqlTree::new(self.conn, year), size));
        }
        Ok(self.trees.get_mut(&year).expect("inserted above"))
    }

    /// The size of `year`'s log, with what this appender added.
    pub fn size(&mut self, year: u16) -> Result<u64, LogError> {
        Ok(self.tree(year)?.1)
    }

    /// The log's head (size and root) as it stands.
    pub fn head(&mut self, year: u16) -> Result<TreeHead, LogError> {
        let (tree, size) = self.tree(year)?;
        let root = tree::tree_hash(*size, tree).map_err(LogError::tree(year))?;
        Ok(TreeHead { size: *size, root })
    }

    /// Appends `leaf` to `year`'s log — first its rollover leaf when the
    /// log is empty and an earlier year's log exists — and returns its
    /// index.
    pub fn append(
        &mut self,
        year: u16,
        leaf: &Leaf,
        audit_seq: Option<i64>,
        digest: Option<&Digest>,
    ) -> Result<u64, LogError> {
        if self.size(year)? == 0
            && !matches!(leaf, Leaf::Rollover(_))
            && let Some(rollover) = self.rollover(year)?
        {
            self.append_at(year, &Leaf::Rollover(rollover), None, None)?;
        }
        self.append_at(year, leaf, audit_seq, digest)
    }

    fn append_at(
        &mut self,
        year: u16,
        leaf: &Leaf,
        audit_seq: Option<i64>,
        digest: Option<&Digest>,
    ) -> Result<u64, LogError> {
        let conn = self.conn;
        let (tree, size) = self.tree(year)?;
        let index = *size;
        let bytes = leaf.to_bytes();
        let created = tree::append_hashes(index, merkle::leaf_hash(&bytes), tree)
            .map_err(LogError::tree(year))?;
        store::insert_leaf(
            conn,
            &store::NewLeaf {
                year,
                index,
                kind: leaf.kind(),
                bytes: &bytes,
                audit_seq,
                digest,
            },
        )?;
        tree.insert(&created)?;
        *size += 1;
        Ok(index)
    }

    /// The first leaf of `year`'s log: the newest earlier year's log head,
    /// with its signed checkpoint when the hub signed one of that size.
    fn rollover(&mut self, year: u16) -> Result<Option<RolloverLeaf>, LogError> {
        let Some(previous) = store::years(self.conn)?
            .into_iter()
            .filter(|&y| y < year)
            .max()
        else {
            return Ok(None);
        };
        let head = self.head(previous)?;
        let checkpoint = cosigned_note(self.conn, previous, head.size)?.map(|n| n.to_string());
        Ok(Some(RolloverLeaf {
            year: previous,
            head,
            checkpoint,
        }))
    }

    /// The checkpoint of `year`'s log as it stands: the stored one when the
    /// hub already signed this size, else signed with `key` now and stored.
    pub fn checkpoint(
        &mut self,
        year: u16,
        key: &SigningKeyPair,
        at: Timestamp,
    ) -> Result<LogCheckpoint, LogError> {
        let conn = self.conn;
        let head = self.head(year)?;
        if head.size == 0 {
            return Err(LogError::NoLog { year });
        }
        if let Some(row) = store::checkpoint_at(conn, year, head.size)? {
            // The hub's own check: a tree that no longer gives the root it
            // signed was edited in the database; never sign over that.
            if row.root != head.root {
                return Err(LogError::Tampered {
                    year,
                    size: head.size,
                });
            }
            return LogCheckpoint::from_row(year, row);
        }
        let note = Checkpoint {
            origin: log_origin(&key.key_id(), year),
            size: head.size,
            root: head.root,
            extensions: Vec::new(),
        }
        .sign(key)
        .map_err(|source| LogError::Sign { year, source })?;
        store::insert_checkpoint(
            conn,
            year,
            &store::CheckpointRow {
                size: head.size,
                root: head.root,
                note: note.to_string(),
            },
            &at.to_string(),
        )?;
        Ok(LogCheckpoint {
            year,
            size: head.size,
            root: head.root,
            note,
        })
    }

    /// The inclusion proof of leaf `index` in the first `size` leaves.
    pub fn inclusion_proof(
        &mut self,
        year: u16,
        index: u64,
        size: u64,
    ) -> Result<Vec<Hash>, LogError> {
        let (tree, _) = self.tree(year)?;
        tree::inclusion_proof(index, size, tree).map_err(LogError::tree(year))
    }
}

/// Appends the leaves of an audit record being written (see `classify`);
/// returns (year, index) of each. Called by
/// [`audit::append`](crate::audit::append) inside its transaction.
pub fn record_audit(
    conn: &Connection,
    event: &AuditEvent<'_>,
) -> Result<Vec<(u16, u64)>, LogError> {
    // Refusals are recorded by the thousand inside ingest batches: no query.
    if let Some(LeafRule::NotALeaf(_)) = rule_of(event.action) {
        return Ok(Vec::new());
    }
    let open = store::years(conn)?;
    let years = classify::target_years(conn, event, &open)?.map_err(|what| LogError::NoYear {
        action: event.action.to_owned(),
        subject: event.subject.to_owned(),
        what,
    })?;
    let mut appender = Appender::new(conn);
    let mut out = Vec::with_capacity(years.len());
    for year in years {
        let head = appender.head(year)?;
        let leaf = Leaf::Audit(AuditLeaf {
            seq: event.seq,
            time: event.time.to_owned(),
            operator: event.operator.to_owned(),
            action: event.action.to_owned(),
            subject: event.subject.to_owned(),
            detail: event.detail.clone(),
            carried: classify::carried(conn, event, year, head)?,
        });
        out.push((year, appender.append(year, &leaf, Some(event.seq), None)?));
    }
    Ok(out)
}

/// The years whose log has begun, ascending.
pub fn open_years(conn: &Connection) -> Result<Vec<u16>, LogError> {
    Ok(store::years(conn)?)
}

/// The size of `year`'s log.
pub fn size(conn: &Connection, year: u16) -> Result<u64, LogError> {
    Ok(store::size(conn, year)?)
}

/// The newest checkpoint of `year`'s log, signed with `key` now if the log
/// grew since the last one (and stored).
pub fn checkpoint(
    conn: &Connection,
    year: u16,
    key: &SigningKeyPair,
    at: Timestamp,
) -> Result<LogCheckpoint, LogError> {
    Appender::new(conn).checkpoint(year, key, at)
}

/// The largest checkpoint of `year` the hub signed, if any.
pub fn latest_checkpoint(conn: &Connection, year: u16) -> Result<Option<LogCheckpoint>, LogError> {
    store::latest_checkpoint(conn, year)?
        .map(|row| LogCheckpoint::from_row(year, row))
        .transpose()
}

/// Checkpoint (`year`, `size`) as the hub signed it, with every
/// cosignature received for it; `None` when the hub signed no checkpoint
/// of that size.
pub fn cosigned_note(
    conn: &Connection,
    year: u16,
    size: u64,
) -> Result<Option<SignedNote>, LogError> {
    let Some(row) = store::checkpoint_at(conn, year, size)? else {
        return Ok(None);
    };
    let mut text = row.note;
    // Each stored line ends in its newline, as `NoteSignature::line` gives it.
    for line in store::cosignature_lines(conn, year, size)? {
        text.push_str(&line);
    }
    SignedNote::parse(text.as_bytes())
        .map(Some)
        .map_err(|e| LogError::Tree {
            year,
            detail: format!("检查点 {size} 与副署（stored checkpoint and cosignatures）：{e}"),
        })
}

/// The RFC 9162 consistency proof of `year`'s log from `old` to `new`
/// leaves.
pub fn consistency_proof(
    conn: &Connection,
    year: u16,
    old: u64,
    new: u64,
) -> Result<Vec<Hash>, LogError> {
    tree::consistency_proof(old, new, &SqlTree::new(conn, year)).map_err(LogError::tree(year))
}

/// The inclusion proof of leaf `index` in the first `size` leaves.
pub fn inclusion_proof(
    conn: &Connection,
    year: u16,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, LogError> {
    tree::inclusion_proof(index, size, &SqlTree::new(conn, year)).map_err(LogError::tree(year))
}

/// A committed submission's place in the log, as its receipt carries it:
/// proved against the first checkpoint that includes it (the one signed at
/// the end of its batch), so the receipt is the same every time.
pub fn inclusion_of(conn: &Connection, digest: &Digest) -> Result<Option<LogInclusion>, LogError> {
    let Some((year, index)) = store::position_of(conn, digest)? else {
        return Ok(None);
    };
    let Some(row) = store::first_checkpoint_covering(conn, year, index)? else {
        return Ok(None);
    };
    let checkpoint = LogCheckpoint::from_row(year, row)?;
    let bytes = store::leaf(conn, year, index)?.unwrap_or_default();
    let corrupt = |detail: String| LogError::CorruptLeaf {
        year,
        index,
        detail,
    };
    let leaf = match Leaf::parse(&bytes).map_err(|e| corrupt(e.to_string()))? {
        Leaf::Submission(leaf) => leaf,
        other => return Err(corrupt(format!("应为上报叶，实为 {}", other.kind()))),
    };
    Ok(Some(LogInclusion {
        leaf,
        proof: TlogProof {
            extra: None,
            index,
            inclusion: inclusion_proof(conn, year, index, checkpoint.size)?,
            checkpoint: checkpoint.note,
        },
    }))
}

/// Why a cosignature was not taken.
#[derive(Debug, thiserror::Error)]
pub enum CosignError {
    #[error("副署的不是检查点（not a checkpoint）：{0}")]
    NotACheckpoint(String),
    #[error("检查点来源 {origin} 不是本汇总中心的日志（a checkpoint of another log）")]
    OtherLog { origin: String },
    #[error(
        "本汇总中心没有签过 {year} 年大小为 {size} 的这个检查点（the hub signed no such checkpoint）"
    )]
    UnknownCheckpoint { year: u16, size: u64 },
    #[error("没有已登记节点的有效副署（no valid cosignature of a registered node）")]
    NoWitness,
    #[error("节点 {witness} 的副署无效（invalid cosignature）：{detail}")]
    BadCosignature { witness: KeyId, detail: String },
    #[error(transparent)]
    Log(#[from] LogError),
}

impl From<rusqlite::Error> for CosignError {
    fn from(e: rusqlite::Error) -> CosignError {
        CosignError::Log(e.into())
    }
}

/// Takes the witnesses' cosignatures on `note`: it must be a checkpoint
/// the hub signed (same text); each signature named `kaohe.witness/<key
/// id>` of a node `witness` knows must verify as cosignature/v1 and is
/// stored. Returns how many witnesses have cosigned that checkpoint now.
pub fn add_cosignatures(
    conn: &Connection,
    note: &SignedNote,
    hub: &PublicKey,
    witness: &dyn Fn(&KeyId) -> Option<PublicKey>,
    at: Timestamp,
) -> Result<u32, CosignError> {
    let cp =
        Checkpoint::parse(note.text()).map_err(|e| CosignError::NotACheckpoint(e.to_string()))?;
    let year = cp
        .origin
        .rsplit('/')
        .next()
        .and_then(|y| y.parse::<u16>().ok())
        .filter(|&y| cp.origin == log_origin(&hub.key_id(), y))
        .ok_or_else(|| CosignError::OtherLog {
            origin: cp.origin.clone(),
        })?;
    let stored = store::checkpoint_at(conn, year, cp.size)?
        .map(|row| LogCheckpoint::from_row(year, row))
        .transpose()?
        .filter(|c| c.note.text() == note.text())
        .ok_or(CosignError::UnknownCheckpoint {
            year,
            size: cp.size,
        })?;
    let mut taken = 0;
    for signature in note.signatures() {
        let Some(node) = witness_of(&signature.name) else {
            continue;
        };
        let Some(key) = witness(&node) else {
            continue;
        };
        let verifier = witness_verifier(&key);
        if verifier.key_id() != signature.key_id {
            continue;
        }
        let verified = note.verify(std::slice::from_ref(&verifier)).map_err(|e| {
            CosignError::BadCosignature {
                witness: node.clone(),
                detail: e.to_string(),
            }
        })?;
        let time = verified
            .signatures()
            .iter()
            .find_map(|s| s.timestamp)
            .unwrap_or_default();
        store::insert_cosignature(
            conn,
            &store::NewCosignature {
                year,
                size: stored.size,
                witness: node.as_str(),
                line: &signature.line(),
                time,
                received_at: &at.to_string(),
            },
        )?;
        taken += 1;
    }
    if taken == 0 {
        return Err(CosignError::NoWitness);
    }
    Ok(store::cosignature_lines(conn, year, stored.size)?.len() as u32)
}
