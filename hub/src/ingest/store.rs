//! The SQL of stage 7 and of receipts (tables of migration 3, results'
//! `scores` and `clauses` of migration 6, see [`crate::db::MIGRATIONS`]).
//!
//! - `receipt_batches`: one row per committed batch — commit time (hub
//!   clock), size, the hub key, and the signed head once written;
//! - `submissions`: one row per accepted envelope (digest unique, the
//!   node's sequence number unique per node), with the envelope as
//!   received, `late`, and its place (batch, leaf) in the receipt tree;
//!   `node_id` is the node's id (migration 7), `signer_key_id` the key of
//!   it that signed;
//! - `results`: one row per (submission, method); exactly one current row
//!   per (node, unit, year, round, method), older ones kept with
//!   `superseded_by`; `needs_reevaluation` when its pack was superseded;
//!   the replayed indicator scores and fired clauses ride on the row as
//!   compact JSON in key order ([`result_columns`](crate::db::result_columns)), so the single writer
//!   inserts one row per result, not one per indicator.
//!
//! A receipt is never stored as such: it is a deterministic function of
//! the batch's leaves, its commit time and the hub key (Ed25519 signatures
//! are deterministic), so it is rebuilt on demand and comes out the same
//! bytes; the signed head is also stored, which keeps receipts stable even
//! if the hub key is later replaced. Its log inclusion is proved against
//! the first checkpoint that includes the submission — the one signed at
//! the end of its batch ([`crate::tlog::inclusion_of`]) — so it too is the
//! same every time.

use std::borrow::Cow;
use std::str::FromStr;

use kaohe_proto::envelope::{Digest, Envelope};
use kaohe_proto::keys::{KeyId, SigningKeyPair};
use kaohe_proto::merkle;
use kaohe_proto::receipt::{Receipt, ReceiptBatch, ReceiptItem, ReceiptLeaf};
use kaohe_proto::submission::{Round, VerifiedSubmission};
use rusqlite::{Connection, OptionalExtension, params};

use crate::db::result_columns::{clauses_json, evidence_json, marks_json, scores_json};
use crate::registry::StoreError;

/// What one current result is kept per.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResultKey {
    pub node_id: KeyId,
    pub unit_id: String,
    pub year: u16,
    pub round: Round,
    pub method_id: String,
}

impl ResultKey {
    /// One key per method block of a submission by the node `node` (the
    /// node's id, whichever of its keys signed).
    pub fn all<'a>(
        node: &'a KeyId,
        v: &'a VerifiedSubmission,
    ) -> impl Iterator<Item = ResultKey> + 'a {
        let s = &v.submission;
        s.methods.iter().map(move |m| ResultKey {
            node_id: node.clone(),
            unit_id: s.unit_id.clone(),
            year: s.year,
            round: s.round,
            method_id: m.method_id.clone(),
        })
    }
}

/// Whether an envelope with this digest is committed.
pub fn is_committed(conn: &Connection, digest: &Digest) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT 1 FROM submissions WHERE digest = ?1")?
        .exists([digest.0.as_slice()])
}

/// Where the review workflow of one unit's year stands, for the
/// closed-window check (the approval is checked before, by
/// [`crate::lock::locked`]): the unit's review-request deadline (ISO date)
/// if it was notified, and whether an objection of the unit is undecided.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReviewWindow {
    pub review_request_deadline: Option<String>,
    pub open_objection: bool,
}

/// Whether any unit of `year` was notified: an objection needs its unit's
/// notice, so when none was, no unit of the year has a review window to
/// read ([`review_window`]).
pub fn year_notified(conn: &Connection, year: i32) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM notifications WHERE year = ?1)")?
        .query_row([year], |r| r.get(0))
}

/// Reads the [`ReviewWindow`] of `unit` in `year`.
pub fn review_window(conn: &Connection, year: i32, unit: &str) -> rusqlite::Result<ReviewWindow> {
    let review_request_deadline = conn
        .prepare_cached(
            "SELECT review_request_deadline FROM notifications WHERE year = ?1 AND unit_id = ?2",
        )?
        .query_row(params![year, unit], |r| r.get(0))
        .optional()?;
    let open_objection = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM objections WHERE year = ?1 AND unit_id = ?2 AND decision IS NULL)",
        )?
        .query_row(params![year, unit], |r| r.get(0))?;
    Ok(ReviewWindow {
        review_request_deadline,
        open_objection,
    })
}

/// Whether the node (by its id: every key of it) already used this
/// sequence number.
pub fn sequence_taken(conn: &Connection, node: &KeyId, sequence: u64) -> rusqlite::Result<bool> {
    let Ok(sequence) = i64::try_from(sequence) else {
        return Ok(false);
    };
    conn.prepare_cached("SELECT 1 FROM submissions WHERE node_id = ?1 AND sequence = ?2")?
        .exists(params![node.as_str(), sequence])
}

/// The sequence number of the current result for `key`, if any.
pub fn current_sequence(conn: &Connection, key: &ResultKey) -> rusqlite::Result<Option<u64>> {
    conn.prepare_cached(
        "SELECT sequence FROM results
         WHERE node_id = ?1 AND unit_id = ?2 AND year = ?3 AND round = ?4 AND method_id = ?5
           AND is_current = 1",
    )?
    .query_row(
        params![
            key.node_id.as_str(),
            key.unit_id,
            key.year,
            key.round.to_string(),
            key.method_id
        ],
        |r| r.get::<_, i64>(0),
    )
    .optional()
    .map(|s| s.map(|s| s.max(0) as u64))
}

/// Records a committed batch; returns its id.
pub fn insert_batch(
    conn: &Connection,
    commit_time: i64,
    tree_size: usize,
    hub_key: &KeyId,
) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "INSERT INTO receipt_batches (commit_time, tree_size, hub_key_id) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![commit_time, tree_size as i64, hub_key.as_str()])?;
    Ok(conn.last_insert_rowid())
}

/// Stores the signed head of a committed batch (protobuf envelope).
pub fn save_head(conn: &Connection, batch_id: i64, head: &[u8]) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "UPDATE receipt_batches SET signed_head = ?2 WHERE batch_id = ?1 AND signed_head IS NULL",
    )?
    .execute(params![batch_id, head])?;
    Ok(())
}

/// What a submission's rows carry that is a function of the envelope and
/// the submission alone: the envelope as stored and each method block's
/// JSON columns. A verify worker encodes it ([`Encoded::of`], on
/// [`Candidate::verify`](super::Candidate::verify)), so the single writer
/// only binds it; the bytes are the ones the writer would have encoded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Encoded {
    pub envelope: Vec<u8>,
    /// Per method block: `scores`, `clauses`, `not_applicable`, `evidence`.
    pub columns: Vec<[String; 4]>,
}

impl Encoded {
    pub fn of(envelope: &Envelope, v: &VerifiedSubmission) -> serde_json::Result<Encoded> {
        Ok(Encoded {
            envelope: envelope.to_protobuf(),
            columns: v
                .submission
                .methods
                .iter()
                .map(|b| {
                    Ok([
                        scores_json(&b.scores)?,
                        clauses_json(&b.clauses)?,
                        marks_json(&b.not_applicable)?,
                        evidence_json(&b.evidence)?,
                    ])
                })
                .collect::<serde_json::Result<_>>()?,
        })
    }
}

/// An accepted submission to write.
#[derive(Debug)]
pub struct NewSubmission<'a> {
    /// The node's id; `verified.node_id` is the key that signed.
    pub node: &'a KeyId,
    pub verified: &'a VerifiedSubmission,
    pub envelope: &'a Envelope,
    /// Its leaf index in the batch.
    pub leaf: usize,
    pub late: bool,
    /// Per method block: whether a current result exists to supersede.
    pub replaces: &'a [bool],
    /// Its columns encoded ahead ([`Encoded::of`] of this envelope and
    /// submission); encoded here when `None`.
    pub encoded: Option<&'a Encoded>,
}

/// Writes the accepted submissions of a batch: submissions in digest order
/// (one sorted pass over the unique index), then, in arrival order, each
/// result superseding the current one for its key.
pub fn insert_submissions(
    conn: &Connection,
    batch_id: i64,
    commit_time: i64,
    rows: &[NewSubmission<'_>],
) -> rusqlite::Result<()> {
    // Each row's columns as a verify worker encoded them, or encoded here.
    let encoded: Vec<Cow<'_, Encoded>> = rows
        .iter()
        .map(|r| match r.encoded {
            Some(e) => Ok(Cow::Borrowed(e)),
            None => Encoded::of(r.envelope, r.verified).map(Cow::Owned),
        })
        .collect::<serde_json::Result<_>>()
        .map_err(to_sql)?;
    let mut by_digest: Vec<(&NewSubmission<'_>, &Encoded)> =
        rows.iter().zip(encoded.iter().map(|e| &**e)).collect();
    by_digest.sort_by_key(|(r, _)| r.verified.digest);
    let mut ids = vec![0i64; rows.len()];
    {
        let mut insert = conn.prepare_cached(
            "INSERT INTO submissions (digest, node_id, sequence, unit_id, year, round, pack_id,
                 pack_version, created_at, committed_at, late, batch_id, leaf_index, envelope,
                 signer_key_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
        )?;
        for (row, encoded) in &by_digest {
            let v = row.verified;
            let s = &v.submission;
            insert.execute(params![
                v.digest.0.as_slice(),
                row.node.as_str(),
                i64::try_from(s.sequence).unwrap_or(i64::MAX),
                s.unit_id,
                s.year,
                s.round.to_string(),
                s.pack.id,
                s.pack.version,
                s.created_at,
                commit_time,
                row.late,
                batch_id,
                row.leaf as i64,
                encoded.envelope,
                v.node_id.as_str(),
            ])?;
            if let Some(slot) = ids.get_mut(row.leaf) {
                *slot = conn.last_insert_rowid();
            }
        }
    }
    let mut order = by_digest;
    order.sort_by_key(|(r, _)| r.leaf);
    let mut supersede = conn.prepare_cached(
        "UPDATE results SET is_current = 0, superseded_by = ?6
         WHERE node_id = ?1 AND unit_id = ?2 AND year = ?3 AND round = ?4 AND method_id = ?5
           AND is_current = 1",
    )?;
    let mut result = conn.prepare_cached(
        "INSERT INTO results (submission_id, method_id, node_id, unit_id, year, round, sequence,
             pack_id, pack_version, late, is_current, scores, clauses, not_applicable, evidence)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 1, ?11, ?12, ?13, ?14)",
    )?;
    for (row, encoded) in order {
        let id = ids.get(row.leaf).copied().unwrap_or_default();
        let v = row.verified;
        let s = &v.submission;
        let round = s.round.to_string();
        let sequence = i64::try_from(s.sequence).unwrap_or(i64::MAX);
        if encoded.columns.len() != s.methods.len() {
            return Err(rusqlite::Error::ToSqlConversionFailure(
                format!(
                    "上报 {} 编码的方法数 {} 与方法块数 {} 不符（encoded columns do not match the method blocks）",
                    v.digest,
                    encoded.columns.len(),
                    s.methods.len()
                )
                .into(),
            ));
        }
        for (b, (block, [scores, clauses, marks, evidence])) in
            s.methods.iter().zip(&encoded.columns).enumerate()
        {
            if row.replaces.get(b).copied().unwrap_or(true) {
                supersede.execute(params![
                    row.node.as_str(),
                    s.unit_id,
                    s.year,
                    round,
                    block.method_id,
                    id
                ])?;
            }
            result.execute(params![
                id,
                block.method_id,
                row.node.as_str(),
                s.unit_id,
                s.year,
                round,
                sequence,
                s.pack.id,
                s.pack.version,
                row.late,
                scores,
                clauses,
                marks,
                evidence,
            ])?;
        }
    }
    Ok(())
}

fn to_sql(e: serde_json::Error) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(Box::new(e))
}

/// A committed submission's receipt and the node (its id) that sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReceipt {
    pub node_id: KeyId,
    pub receipt: Receipt,
}

/// The receipt of a committed submission: from the stored signed head and
/// the batch's leaves, or rebuilt with `key` when the head is not stored
/// yet (the same bytes: signing is deterministic).
pub fn load_receipt(
    conn: &Connection,
    digest: &Digest,
    key: &SigningKeyPair,
) -> Result<Option<StoredReceipt>, StoreError> {
    let row = conn
        .prepare_cached("SELECT batch_id, leaf_index, node_id FROM submissions WHERE digest = ?1")?
        .query_row([digest.0.as_slice()], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .optional()?;
    let Some((batch_id, leaf_index, node_id)) = row else {
        return Ok(None);
    };
    let corrupt = |detail: String| StoreError::Corrupt {
        table: "receipt_batches",
        key: batch_id.to_string(),
        detail,
    };
    let node_id = KeyId::from_str(&node_id).map_err(|e| corrupt(format!("node_id: {e}")))?;
    let (commit_time, tree_size, hub_key_id, head): (i64, i64, String, Option<Vec<u8>>) = conn
        .prepare_cached(
            "SELECT commit_time, tree_size, hub_key_id, signed_head FROM receipt_batches WHERE batch_id = ?1",
        )?
        .query_row([batch_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
    let mut stmt = conn.prepare_cached(
        "SELECT digest, unit_id, year, round, late FROM submissions WHERE batch_id = ?1 ORDER BY leaf_index",
    )?;
    let rows = stmt.query_map([batch_id], |r| {
        Ok((
            r.get::<_, Vec<u8>>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, u16>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, bool>(4)?,
        ))
    })?;
    let mut items = Vec::new();
    for row in rows {
        let (d, unit_id, year, round, late) = row?;
        items.push(ReceiptItem {
            digest: Digest(
                d.as_slice()
                    .try_into()
                    .map_err(|_| corrupt("digest length".into()))?,
            ),
            unit_id,
            year,
            round: Round::from_str(&round).map_err(|e| corrupt(format!("round: {e}")))?,
            late,
        });
    }
    if items.len() as i64 != tree_size {
        return Err(corrupt(format!(
            "batch has {} submissions, tree_size {tree_size}",
            items.len()
        )));
    }
    let index = usize::try_from(leaf_index).map_err(|_| corrupt("leaf_index".into()))?;
    let log = crate::tlog::inclusion_of(conn, digest).map_err(|e| StoreError::Corrupt {
        table: "log_leaves",
        key: digest.to_string(),
        detail: e.to_string(),
    })?;
    let mut receipt = match head {
        Some(head) => {
            let signed_head =
                Envelope::from_protobuf(&head).map_err(|e| corrupt(format!("signed_head: {e}")))?;
            let hashes: Vec<merkle::Hash> = items
                .iter()
                .map(|i| leaf(i, commit_time).leaf_hash())
                .collect();
            let (_, mut paths) = merkle::root_and_paths(&hashes);
            let item = items
                .get(index)
                .ok_or_else(|| corrupt("leaf_index".into()))?;
            Receipt {
                leaf: leaf(item, commit_time),
                leaf_index: index as u64,
                inclusion_path: std::mem::take(
                    paths
                        .get_mut(index)
                        .ok_or_else(|| corrupt("leaf_index".into()))?,
                ),
                signed_head,
                log: None,
            }
        }
        None => {
            if hub_key_id != key.key_id().as_str() {
                return Err(corrupt(format!(
                    "batch signed by hub key {hub_key_id}, which is not the current key, and its head was not stored"
                )));
            }
            ReceiptBatch::build(&items, key, commit_time)
                .into_iter()
                .nth(index)
                .ok_or_else(|| corrupt("leaf_index".into()))?
        }
    };
    receipt.log = log;
    Ok(Some(StoredReceipt { node_id, receipt }))
}

fn leaf(item: &ReceiptItem, commit_time: i64) -> ReceiptLeaf {
    ReceiptLeaf {
        digest: item.digest,
        unit_id: item.unit_id.clone(),
        year: item.year,
        round: item.round,
        commit_time,
        late: item.late,
    }
}
