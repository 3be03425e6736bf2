//! The single writer ([`Committer`]): stages 4–7 for a batch inside one
//! write transaction, against a fresh [`RegistrySnapshot`]; the receipts
//! are built only after the commit.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use jiff::Timestamp;
use kaohe_proto::PackIdentity;
use kaohe_proto::envelope::{Digest, EnvelopeError};
use kaohe_proto::keys::{KeyId, SigningKeyPair};
use kaohe_proto::model::{Rejection, RejectionCode, SubmitOutcome};
use kaohe_proto::receipt::{LogInclusion, ReceiptBatch, ReceiptItem};
use kaohe_proto::submission::{Submission, Supersession, VerifiedSubmission, compare_sequence};
use kaohe_proto::tlog::leaf::{Leaf, SubmissionLeaf};
use kaohe_proto::tlog::proof::TlogProof;
use kaohe_rulepacks::runtime::Runtime;
use rusqlite::{Connection, TransactionBehavior};
use serde_json::json;

use super::snapshot::{ActivePack, RegistrySnapshot};
use super::verify::{Candidate, NodeDirectory, check_active, check_key, verify_envelope};
use super::{ACTION_REJECT, Refusal, checks, replay, store};
use crate::audit::{self, Actor};
use crate::calendar::{beijing_date, format_date_zh};
use crate::clock::Clock;
use crate::lock;
use crate::registry::StoreError;
use crate::tlog::{self, LogError};

/// Committing a batch failed: the transaction was rolled back and nothing
/// of the batch is stored.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error(
        "数据库写入失败，本批上报均未保存，请稍后重试（storage failed; nothing of this batch was committed, retry later）：{0}"
    )]
    Sqlite(#[from] rusqlite::Error),
    #[error(
        "读取登记数据失败，本批上报均未保存（cannot read the registry; nothing committed）：{0}"
    )]
    Store(#[from] StoreError),
    #[error("汇总中心内部错误，本批上报均未保存（internal error; nothing committed）：{0}")]
    Invariant(&'static str),
    #[error(
        "写入透明日志失败，本批上报均未保存（the log could not be appended; nothing committed）：{0}"
    )]
    Log(#[from] LogError),
}

/// The single writer: owns the database connection, the pack runtime, the
/// registry snapshot and the receipt key.
pub struct Committer {
    conn: Connection,
    runtime: Runtime,
    snapshot: RegistrySnapshot,
    key: SigningKeyPair,
    clock: Clock,
    /// Signed heads built after their batch committed, written with the
    /// next batch (or [`Committer::flush_heads`]); until then a receipt is
    /// rebuilt from the stored leaves, which gives the same bytes.
    pending_heads: Vec<(i64, Vec<u8>)>,
}

impl std::fmt::Debug for Committer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Committer")
            .field("hub_key", &self.key.key_id())
            .finish_non_exhaustive()
    }
}

/// Where a candidate stands during a batch.
enum Slot {
    Refused(Refusal),
    /// Same digest as an earlier candidate of this batch.
    SameAs(usize),
    /// Already committed in an earlier batch.
    Committed,
    /// Passed stages 1–5, waiting for replay.
    Checked(Checked),
    /// Passed everything; its leaf index in this batch.
    Accepted(Accepted),
}

struct Checked {
    /// The node's id (`submission.node_id` is the key that signed).
    node: KeyId,
    submission: VerifiedSubmission,
    active: Arc<ActivePack>,
    unit_name: String,
    /// The unit's category in this year's roster.
    category: String,
    /// It arrived while an objection of its unit was undecided: a
    /// correction made in the review (复核), never late.
    revises_objection: bool,
}

struct Accepted {
    checked: Checked,
    /// Position of its candidate in the batch.
    candidate: usize,
    leaf: usize,
    late: bool,
    /// Per method block: whether a current result is replaced.
    replaces: Vec<bool>,
}

impl Committer {
    /// A writer over an open, migrated database.
    pub fn new(
        conn: Connection,
        runtime: Runtime,
        key: SigningKeyPair,
        clock: Clock,
    ) -> Result<Committer, StoreError> {
        // The writer's statements stay prepared; a larger page cache keeps
        // the unique indexes it probes in memory.
        conn.set_prepared_statement_cache_capacity(64);
        conn.execute_batch("PRAGMA cache_size = -32768;")?;
        let mut snapshot = RegistrySnapshot::default();
        snapshot.refresh(&conn, &runtime)?;
        Ok(Committer {
            conn,
            runtime,
            snapshot,
            key,
            clock,
            pending_heads: Vec::new(),
        })
    }

    /// The node directory of the latest snapshot (for the verifiers).
    pub fn nodes(&self) -> Arc<NodeDirectory> {
        Arc::clone(&self.snapshot.nodes)
    }

    /// The rosters and packs of the latest snapshot, for the verify
    /// workers' replay ahead ([`replay::ahead`]).
    pub fn replay_view(&self) -> Arc<super::snapshot::ReplayView> {
        self.snapshot.replay_view()
    }

    /// The hub's receipt key.
    pub fn key(&self) -> &SigningKeyPair {
        &self.key
    }

    /// Reloads the registry snapshot if the CLI changed the database.
    pub fn refresh(&mut self) -> Result<bool, StoreError> {
        self.snapshot.refresh(&self.conn, &self.runtime)
    }

    /// Runs stages 4–7 on a batch and commits it; returns one outcome per
    /// candidate, in order. On error nothing of the batch was stored.
    pub fn commit(
        &mut self,
        mut candidates: Vec<Candidate>,
    ) -> Result<Vec<SubmitOutcome>, CommitError> {
        let Committer {
            conn,
            runtime,
            snapshot,
            key,
            clock,
            pending_heads,
        } = self;
        // Load what changed (compiling a new pack) before taking the write
        // lock, so the CLI never waits on a compilation; the look inside
        // the transaction then only catches a change made in between.
        snapshot.refresh(conn, runtime)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for (batch, head) in pending_heads.drain(..) {
            store::save_head(&tx, batch, &head)?;
        }
        snapshot.refresh(&tx, runtime)?;
        // The hub's clock, read once: lateness and the receipts' commit time.
        let now = clock.now();
        let commit_time = now.as_second();

        let mut slots: Vec<Slot> = Vec::with_capacity(candidates.len());
        let mut seen: HashMap<Digest, usize> = HashMap::new();
        let mut years = YearWindows::default();
        for (i, candidate) in candidates.iter_mut().enumerate() {
            let slot = match stage_1_to_5(&tx, snapshot, &mut years, candidate, &mut seen, i, now)?
            {
                Ok(slot) => slot,
                Err(refusal) => Slot::Refused(refusal),
            };
            slots.push(slot);
        }

        // Stage 6: replay, one pack call per pack — except where a verify
        // worker replayed against the same pack, category and unit name.
        let mut groups: HashMap<PackIdentity, Vec<usize>> = HashMap::new();
        for (i, slot) in slots.iter_mut().enumerate() {
            let Slot::Checked(c) = slot else { continue };
            let ahead = candidates[i].ahead.as_ref().filter(|a| {
                &a.pack == c.active.identity()
                    && a.category == c.category
                    && a.unit_name == c.unit_name
            });
            match ahead.map(|a| &a.verdict) {
                Some(Ok(())) => {}
                Some(Err(rejection)) => {
                    let refusal = Refusal::from(rejection.clone())
                        .about(Some(&c.node), Some(&c.submission.submission.unit_id));
                    *slot = Slot::Refused(refusal);
                }
                None => groups
                    .entry(c.active.identity().clone())
                    .or_default()
                    .push(i),
            }
        }
        for members in groups.into_values() {
            let mut pack = None;
            let mut batch = Vec::with_capacity(members.len());
            for &i in &members {
                if let Slot::Checked(c) = &slots[i] {
                    pack.get_or_insert_with(|| Arc::clone(&c.active));
                    batch.push(replay::Replayed {
                        submission: &c.submission.submission,
                        unit_name: &c.unit_name,
                        category: &c.category,
                    });
                }
            }
            let Some(pack) = pack else { continue };
            let verdicts = replay::replay_batch(&pack.pack, &batch);
            drop(batch);
            for (&i, verdict) in members.iter().zip(verdicts) {
                if let Err(rejection) = verdict
                    && let Slot::Checked(c) = &slots[i]
                {
                    let refusal = Refusal::from(rejection)
                        .about(Some(&c.node), Some(&c.submission.submission.unit_id));
                    slots[i] = Slot::Refused(refusal);
                }
            }
        }

        // Stage 7a: supersession by sequence numbers, in arrival order.
        let mut overlay: HashMap<store::ResultKey, u64> = HashMap::new();
        let mut used_sequences: HashSet<(KeyId, u64)> = HashSet::new();
        let mut leaves = 0usize;
        for (position, slot) in slots.iter_mut().enumerate() {
            let Slot::Checked(_) = slot else { continue };
            let Slot::Checked(checked) = std::mem::replace(slot, Slot::Committed) else {
                continue;
            };
            match supersession(&tx, &checked, &overlay, &used_sequences)? {
                Err(refusal) => *slot = Slot::Refused(refusal),
                Ok(replaces) => {
                    let v = &checked.submission;
                    used_sequences.insert((checked.node.clone(), v.submission.sequence));
                    for k in store::ResultKey::all(&checked.node, v) {
                        overlay.insert(k, v.submission.sequence);
                    }
                    // A correction made in the review is not a late report.
                    let late = !checked.revises_objection
                        && checked.active.deadlines.is_late(v.submission.round, now);
                    *slot = Slot::Accepted(Accepted {
                        checked,
                        candidate: position,
                        leaf: leaves,
                        late,
                        replaces,
                    });
                    leaves += 1;
                }
            }
        }

        // Stage 7b: write.
        let accepted: Vec<&Accepted> = slots
            .iter()
            .filter_map(|s| match s {
                Slot::Accepted(a) => Some(a),
                _ => None,
            })
            .collect();
        let batch_id = if accepted.is_empty() {
            None
        } else {
            Some(store::insert_batch(
                &tx,
                commit_time,
                accepted.len(),
                &key.key_id(),
            )?)
        };
        if let Some(batch_id) = batch_id {
            let mut rows: Vec<store::NewSubmission<'_>> = Vec::with_capacity(accepted.len());
            for a in &accepted {
                let candidate = candidates.get(a.candidate);
                let envelope =
                    candidate
                        .and_then(|c| c.envelope.as_ref())
                        .ok_or(CommitError::Invariant(
                            "accepted candidate without its envelope",
                        ))?;
                rows.push(store::NewSubmission {
                    node: &a.checked.node,
                    verified: &a.checked.submission,
                    envelope,
                    leaf: a.leaf,
                    late: a.late,
                    replaces: &a.replaces,
                    encoded: candidate.and_then(|c| c.encoded.as_ref()),
                });
            }
            store::insert_submissions(&tx, batch_id, commit_time, &rows)?;
        }
        let inclusions = append_to_log(&tx, &accepted, key, now, commit_time)?;
        let actor_time = now;
        for (candidate, slot) in candidates.iter().zip(&slots) {
            // A copy of a refused envelope is refused (and recorded) too.
            let refusal = match slot {
                Slot::Refused(r) => Some(r),
                Slot::SameAs(first) => match slots.get(*first) {
                    Some(Slot::Refused(r)) => Some(r),
                    _ => None,
                },
                _ => None,
            };
            if let Some(refusal) = refusal {
                audit_refusal(&tx, candidate, refusal, actor_time)?;
            }
        }
        tx.commit()?;

        // Receipts, only now that the batch is durable.
        let items: Vec<ReceiptItem> = accepted
            .iter()
            .map(|a| {
                let s = &a.checked.submission;
                ReceiptItem {
                    digest: s.digest,
                    unit_id: s.submission.unit_id.clone(),
                    year: s.submission.year,
                    round: s.submission.round,
                    late: a.late,
                }
            })
            .collect();
        let mut receipts = ReceiptBatch::build(&items, key, commit_time);
        for (receipt, inclusion) in receipts.iter_mut().zip(inclusions) {
            receipt.log = Some(inclusion);
        }
        if let (Some(batch_id), Some(first)) = (batch_id, receipts.first()) {
            pending_heads.push((batch_id, first.signed_head.to_protobuf()));
        }
        let mut outcomes: Vec<SubmitOutcome> = Vec::with_capacity(candidates.len());
        for (i, (candidate, slot)) in candidates.iter().zip(&slots).enumerate() {
            let result = match slot {
                Slot::Refused(r) => Err(r.rejection.clone()),
                Slot::Accepted(a) => receipts
                    .get(a.leaf)
                    .cloned()
                    .ok_or_else(|| internal("receipt missing for an accepted leaf")),
                Slot::SameAs(first) => outcomes
                    .get(*first)
                    .map(|o| o.result.clone())
                    .unwrap_or_else(|| Err(internal("duplicate refers to a later candidate"))),
                Slot::Committed => match store::load_receipt(conn, &candidate.digest, key)? {
                    Some(stored) => Ok(stored.receipt),
                    None => Err(internal("committed submission without receipt")),
                },
                Slot::Checked(_) => Err(internal("candidate left unchecked")),
            };
            debug_assert!(outcomes.len() == i);
            outcomes.push(SubmitOutcome {
                index: candidate.index,
                digest: candidate.digest,
                result,
            });
        }
        Ok(outcomes)
    }

    /// Writes the signed heads of committed batches that are not yet stored.
    pub fn flush_heads(&mut self) -> Result<(), CommitError> {
        if self.pending_heads.is_empty() {
            return Ok(());
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        for (batch, head) in self.pending_heads.drain(..) {
            store::save_head(&tx, batch, &head)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The stored receipt of a committed submission and its node.
    pub fn receipt(&self, digest: &Digest) -> Result<Option<store::StoredReceipt>, StoreError> {
        store::load_receipt(&self.conn, digest, &self.key)
    }
}

/// Appends one log leaf per accepted submission (arrival order), signs one
/// checkpoint per year the batch touched, and returns each submission's
/// inclusion under it — all inside the batch's transaction: the leaves
/// commit with the submissions, and nothing signed leaves the writer
/// before the commit.
fn append_to_log(
    tx: &Connection,
    accepted: &[&Accepted],
    key: &SigningKeyPair,
    now: Timestamp,
    commit_time: i64,
) -> Result<Vec<LogInclusion>, CommitError> {
    let mut log = tlog::Appender::new(tx);
    let mut placed = Vec::with_capacity(accepted.len());
    for a in accepted {
        let s = &a.checked.submission;
        let leaf = SubmissionLeaf {
            digest: s.digest,
            signer: s.node_id.clone(),
            unit: s.submission.unit_id.clone(),
            year: s.submission.year,
            round: s.submission.round,
            commit_time,
            late: a.late,
        };
        let index = log.append(
            leaf.year,
            &Leaf::Submission(leaf.clone()),
            None,
            Some(&s.digest),
        )?;
        placed.push((index, leaf));
    }
    let mut checkpoints: HashMap<u16, tlog::LogCheckpoint> = HashMap::new();
    for (_, leaf) in &placed {
        if let std::collections::hash_map::Entry::Vacant(e) = checkpoints.entry(leaf.year) {
            e.insert(log.checkpoint(leaf.year, key, now)?);
        }
    }
    placed
        .into_iter()
        .map(|(index, leaf)| {
            let checkpoint = &checkpoints[&leaf.year];
            Ok(LogInclusion {
                proof: TlogProof {
                    extra: None,
                    index,
                    inclusion: log.inclusion_proof(leaf.year, index, checkpoint.size)?,
                    checkpoint: checkpoint.note.clone(),
                },
                leaf,
            })
        })
        .collect()
}

fn internal(what: &str) -> Rejection {
    tracing::error!("ingest invariant broken: {what}");
    Rejection::new(
        RejectionCode::Invalid,
        format!("汇总中心内部错误，请联系管理员（internal error: {what}）"),
    )
}

/// Stages 1 (again, against the fresh registry), duplicates, 4 and 5.
/// Takes the candidate's verified submission (moved into the slot, not
/// copied: nothing reads it from the candidate afterwards).
fn stage_1_to_5(
    conn: &Connection,
    snapshot: &RegistrySnapshot,
    years: &mut YearWindows,
    candidate: &mut Candidate,
    seen: &mut HashMap<Digest, usize>,
    position: usize,
    now: Timestamp,
) -> Result<Result<Slot, Refusal>, CommitError> {
    let taken = std::mem::replace(
        &mut candidate.verified,
        // Never read: a placeholder that allocates nothing.
        Err(Refusal::new(RejectionCode::Invalid, String::new(), None)),
    );
    let verified = match taken {
        Ok(v) => v,
        // The verifier's directory may predate a node added a moment ago:
        // look again with the fresh one (no signature was checked yet).
        Err(r) if r.rejection.code == RejectionCode::UnknownKey => {
            match candidate.envelope.as_ref().filter(|e| {
                e.signatures
                    .iter()
                    .any(|s| snapshot.nodes.get(&s.key_id).is_some())
            }) {
                Some(envelope) => {
                    match verify_envelope(envelope, &snapshot.nodes, candidate.peer.as_deref()) {
                        Ok(v) => v,
                        Err(r) => return Ok(Err(r)),
                    }
                }
                None => return Ok(Err(r)),
            }
        }
        Err(r) => return Ok(Err(r)),
    };
    let node = match snapshot.nodes.get(&verified.node_id) {
        Some(node) => node,
        None => {
            return Ok(Err(Refusal {
                rejection: Rejection::from(&EnvelopeError::UnknownKey(verified.node_id.clone())),
                node: Some(verified.node_id.clone()),
                unit: None,
            }));
        }
    };
    if let Err(r) = check_active(node) {
        return Ok(Err(r));
    }
    if let Some(&first) = seen.get(&verified.digest) {
        return Ok(Ok(Slot::SameAs(first)));
    }
    seen.insert(verified.digest, position);
    if store::is_committed(conn, &verified.digest)? {
        return Ok(Ok(Slot::Committed));
    }
    let sub = &verified.submission;
    if let Err(r) = check_key(node, &verified.node_id, sub) {
        return Ok(Err(r));
    }
    let about = |r: Refusal| r.about(Some(&node.id), Some(&sub.unit_id));
    if i64::try_from(sub.sequence).is_err() {
        return Ok(Err(about(Refusal::new(
            RejectionCode::Invalid,
            format!(
                "序号 {} 超出汇总中心可保存的范围（最大 {}）（sequence out of range）",
                sub.sequence,
                i64::MAX
            ),
            Some("submission.sequence"),
        ))));
    }
    // Stage 4: the pack.
    let pack = match snapshot.packs.get(&(sub.pack.id.clone(), sub.pack.year)) {
        Some(Ok(active)) => Some(active),
        Some(Err(reason)) => {
            return Ok(Err(about(Refusal::new(
                RejectionCode::PackMismatch,
                format!("单位 {}：{reason}；请联系汇总中心管理员", sub.unit_id),
                Some("submission.pack"),
            ))));
        }
        None => None,
    };
    if let Err(r) = checks::check_pack(sub, pack.map(|p| p.identity())) {
        return Ok(Err(about(r.into())));
    }
    let Some(pack) = pack else {
        return Ok(Err(about(
            internal("pack check passed without a pack").into(),
        )));
    };
    // Stage 5: scope.
    let roster = snapshot.rosters.get(&i32::from(sub.year));
    let unit = match checks::check_scope(node, sub, roster) {
        Ok(unit) => unit,
        Err(r) => return Ok(Err(about(r.into()))),
    };
    // The review window.
    let revises_objection = match check_window(conn, years, sub, &unit.name, now)? {
        Ok(open_objection) => open_objection,
        Err(r) => return Ok(Err(about(r))),
    };
    Ok(Ok(Slot::Checked(Checked {
        node: node.id.clone(),
        submission: verified,
        active: Arc::clone(pack),
        unit_name: unit.name.clone(),
        category: unit.category.clone(),
        revises_objection,
    })))
}

/// What one batch's transaction reads once per year for the review
/// windows ([`check_window`]): the approval in force ([`lock::locked`]),
/// and whether any unit of the year was notified — when none was, no unit
/// has a deadline or an objection, and no unit's window is read. Nothing
/// else writes while the writer's transaction is open, so it holds for the
/// whole batch; a new batch starts with an empty one.
#[derive(Debug, Default)]
pub struct YearWindows {
    years: HashMap<i32, (Option<lock::Locked>, bool)>,
}

impl YearWindows {
    fn of(
        &mut self,
        conn: &Connection,
        year: i32,
    ) -> rusqlite::Result<&(Option<lock::Locked>, bool)> {
        Ok(match self.years.entry(year) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert((lock::locked(conn, year)?, store::year_notified(conn, year)?))
            }
        })
    }
}

/// Whether `sub`'s unit may still receive a new result at `now` (see the
/// module docs, stage 5): refused as [`RejectionCode::Closed`] while the
/// year's approval is in force — first, whatever else holds, naming the
/// 文号 ([`lock::locked`]) — and after the unit's review-request deadline,
/// unless an objection of the unit is undecided (the submission may revise
/// it). `Ok(true)`: accepted because such an objection is open. `years`
/// is the batch's [`YearWindows`].
pub fn check_window(
    conn: &Connection,
    years: &mut YearWindows,
    sub: &Submission,
    unit_name: &str,
    now: Timestamp,
) -> Result<Result<bool, Refusal>, CommitError> {
    let year = i32::from(sub.year);
    let (locked, notified) = years.of(conn, year)?;
    if let Some(locked) = locked {
        return Ok(Err(Refusal::new(
            RejectionCode::Closed,
            format!(
                "单位 {}（{unit_name}）：{locked}；不再接收新的上报",
                sub.unit_id
            ),
            Some("submission.year"),
        )));
    }
    if !*notified {
        return Ok(Ok(false));
    }
    let window = store::review_window(conn, year, &sub.unit_id)?;
    if window.open_objection {
        return Ok(Ok(true));
    }
    let closed = |why: String| {
        Refusal::new(
            RejectionCode::Closed,
            format!(
                "单位 {}（{unit_name}）{year} 年度考核：{why}，不再接收新的上报；如有异议，请由县法治办在期限内登记复核申请后重新上报（review window closed）",
                sub.unit_id
            ),
            Some("submission.unit_id"),
        )
    };
    if let Some(deadline) = &window.review_request_deadline {
        let deadline: jiff::civil::Date = deadline.parse().map_err(|_| {
            rusqlite::Error::InvalidColumnType(
                0,
                "review_request_deadline".into(),
                rusqlite::types::Type::Text,
            )
        })?;
        if beijing_date(now) > deadline {
            return Ok(Err(closed(format!(
                "申请复核的期限为 {}，已过期限",
                format_date_zh(deadline)
            ))));
        }
    }
    Ok(Ok(false))
}

/// Stage 7a for one submission: its sequence number against the stored
/// ones and those accepted earlier in this batch. Returns, per method
/// block, whether it replaces a current result.
fn supersession(
    conn: &Connection,
    checked: &Checked,
    overlay: &HashMap<store::ResultKey, u64>,
    used: &HashSet<(KeyId, u64)>,
) -> Result<Result<Vec<bool>, Refusal>, CommitError> {
    let v = &checked.submission;
    let sub = &v.submission;
    let node = &checked.node;
    let about = |r: Refusal| r.about(Some(node), Some(&sub.unit_id));
    let reused = used.contains(&(node.clone(), sub.sequence))
        || store::sequence_taken(conn, node, sub.sequence)?;
    if reused {
        return Ok(Err(about(Refusal::new(
            RejectionCode::SequenceReused,
            format!(
                "单位 {}（{}）：节点 {} 的序号 {} 已用于另一份内容不同的提交；每份新提交须使用新的序号（sequence number reused with different content）",
                sub.unit_id, checked.unit_name, node, sub.sequence
            ),
            Some("submission.sequence"),
        ))));
    }
    let mut replaces = Vec::with_capacity(sub.methods.len());
    for (i, key) in store::ResultKey::all(node, v).enumerate() {
        let stored = match overlay.get(&key) {
            Some(seq) => Some(*seq),
            None => store::current_sequence(conn, &key)?,
        };
        replaces.push(stored.is_some());
        if let Some(stored) = stored
            && compare_sequence(stored, sub.sequence) != Supersession::Newer
        {
            return Ok(Err(about(Refusal::new(
                RejectionCode::Stale,
                format!(
                    "单位 {}（{}）{} {} 年{}：已接收本节点序号 {stored} 的较新提交，序号 {} 的这份提交较旧，不予接收（stale: a newer submission, sequence {stored}, is already accepted）",
                    sub.unit_id,
                    checked.unit_name,
                    checks::method_label(&key.method_id),
                    sub.year,
                    sub.round.name_zh(),
                    sub.sequence
                ),
                Some(&format!("submission.methods[{i}]")),
            ))));
        }
    }
    Ok(Ok(replaces))
}

fn audit_refusal(
    conn: &Connection,
    candidate: &Candidate,
    refusal: &Refusal,
    at: Timestamp,
) -> rusqlite::Result<i64> {
    let operator = match &refusal.node {
        Some(node) => format!("node/{node}"),
        None => "unauthenticated".to_owned(),
    };
    let r = &refusal.rejection;
    audit::append(
        conn,
        &Actor::new(operator, at),
        ACTION_REJECT,
        &format!("submission/{}", candidate.digest),
        &json!({
            "code": r.code.wire_name(),
            "field": r.field,
            "message": r.message,
            "node": refusal.node,
            "unit": refusal.unit,
            "index": candidate.index,
        }),
    )
}
