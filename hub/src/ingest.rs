//! 接收上报（ingestion）：核验、复算、提交、回执。
//!
//! Every submission passes the same stages, in this order; the first that
//! fails refuses it whole with its own [`RejectionCode`] (and so its own
//! gRPC status), a message naming the unit, indicator, field or scope, an
//! audit record (`submission.reject`), and **nothing else stored changes**:
//!
//! 1. **signature** — exactly one signature, strict Ed25519 over the bytes
//!    received, by a registered key of an active node (a revoked node is
//!    refused with the date and reason) — [`verify_envelope`];
//! 2. **payload** — decodes once, validates (`Submission::try_from`);
//! 3. **identity** — `node_id` inside is the signer, and the client
//!    certificate names the signer when mTLS is used ([`PeerIdentity`]);
//!
//!    *then, an envelope already committed (same digest) is answered with
//!    its stored receipt: submitting twice is harmless even after a newer
//!    pack or a scope change;*
//! 4. **pack** — the pack named is the current version for its (id, year);
//!    a superseded version is refused naming the current one
//!    ([`checks::check_pack`]);
//! 5. **scope** — the unit (in that year's roster), every method and the
//!    year lie in the node's delegated scope ([`checks::check_scope`]);
//!    **closed** — the unit's review window is still open: a unit notified
//!    whose review-request deadline has passed by the hub's clock at
//!    commit (Beijing date), or any unit of an approved year, is refused
//!    with [`RejectionCode::Closed`] naming the date — unless the unit has
//!    an undecided objection, which this submission may then revise
//!    ([`check_window`]);
//! 6. **replay** — the evidence inside is run through the current pack
//!    (one `kaohe_evaluate` call per batch and pack) and must reproduce
//!    every indicator score and fired clause exactly ([`replay`]);
//! 7. **commit** — supersession by the node's own sequence numbers per
//!    (unit, year, round, method): a newer one replaces (history kept), an
//!    older one arriving later is refused as stale, a reused number with
//!    other content is refused; then the batch is written in one
//!    transaction (WAL, `synchronous = FULL`), rows in key order, with
//!    lateness by the hub's clock read once inside the transaction (a
//!    correction arriving while its unit's objection is undecided is a
//!    review correction, never late).
//!    **Only after the commit** are the receipts built: one
//!    [`ReceiptBatch`] signature per committed batch.
//!
//! Stages 1–3 are pure CPU work and run in parallel outside the writer
//! ([`Candidate::verify`]); stages 4–7 run in the single writer
//! ([`Committer`]) inside the write transaction, against a registry
//! snapshot that is reloaded whenever another connection (the CLI) has
//! committed since — so a node revoked, a pack published or a roster
//! replaced a moment ago is already in force for the next batch.
//!
//! The current packs are [`ActivePack`]s: the [`Pack`] loaded under its
//! stored identity, with the round deadlines of its schedule; a pack that
//! cannot be loaded is a [`PackUnavailable`] that refuses whatever names it.
//!
//! Layout: [`checks`] (stages 4–5 and the deadline, pure), [`replay`]
//! (stage 6: evidence → ABI input → comparison, pure apart from the
//! sandboxed pack call), [`store`] (the SQL of stage 7 and of receipts).

pub mod checks;
pub mod replay;
pub mod store;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use jiff::Timestamp;
use kaohe_proto::envelope::{Digest, Envelope, EnvelopeError, KeyLookup, Limits};
use kaohe_proto::keys::{KeyId, PublicKey, SigningKeyPair};
use kaohe_proto::model::{Rejection, RejectionCode, SubmitOutcome};
use kaohe_proto::receipt::{ReceiptBatch, ReceiptItem};
use kaohe_proto::submission::{
    SUBMISSION_PAYLOAD_TYPE, Submission, SubmissionError, Supersession, VerifiedSubmission,
    compare_sequence,
};
use kaohe_proto::{PackIdentity, pb};
use kaohe_rulepacks::pack::{Pack, PackError};
use kaohe_rulepacks::runtime::Runtime;
use rusqlite::{Connection, TransactionBehavior};
use serde_json::json;

use crate::audit::{self, Actor};
use crate::calendar::{beijing_date, format_date_zh};
use crate::clock::Clock;
use crate::registry::StoreError;
use crate::registry::nodes::{self, NodeRecord, NodeState};
use crate::registry::units::{self, YearRoster};

pub use checks::{DeadlineError, RoundDeadlines};

/// Audit action of a refused submission.
pub const ACTION_REJECT: &str = "submission.reject";

/// Why a submission is refused, with what the audit record names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Code, message and field, as the node receives them.
    pub rejection: Rejection,
    /// The signing node, once known.
    pub node: Option<KeyId>,
    /// The unit, once the payload decoded.
    pub unit: Option<String>,
}

impl Refusal {
    fn new(code: RejectionCode, message: impl Into<String>, field: Option<&str>) -> Refusal {
        Refusal {
            rejection: Rejection {
                code,
                message: message.into(),
                field: field.map(str::to_owned),
            },
            node: None,
            unit: None,
        }
    }

    fn about(mut self, node: Option<&KeyId>, unit: Option<&str>) -> Refusal {
        if self.node.is_none() {
            self.node = node.cloned();
        }
        if self.unit.is_none() {
            self.unit = unit.map(str::to_owned);
        }
        self
    }
}

/// The identity a client certificate proves (mTLS), compared with the
/// signer in stage 3.
pub trait PeerIdentity: Send + Sync {
    /// Whether the certificate is the one of `node`.
    fn is_node(&self, node: &KeyId) -> bool;
    /// How the certificate names itself, for messages.
    fn describe(&self) -> String;
}

/// Every registered node by key id, revoked ones included (a signature by
/// a revoked node still verifies; stage 1 then refuses it as revoked).
#[derive(Debug, Clone, Default)]
pub struct NodeDirectory {
    nodes: HashMap<KeyId, NodeRecord>,
}

impl NodeDirectory {
    /// The directory of these nodes.
    pub fn new(list: impl IntoIterator<Item = NodeRecord>) -> NodeDirectory {
        NodeDirectory {
            nodes: list.into_iter().map(|n| (n.key_id.clone(), n)).collect(),
        }
    }

    /// Loads every registered node.
    pub fn load(conn: &Connection) -> Result<NodeDirectory, StoreError> {
        Ok(NodeDirectory::new(nodes::list_nodes(conn)?))
    }

    /// The node with this key id.
    pub fn get(&self, id: &KeyId) -> Option<&NodeRecord> {
        self.nodes.get(id)
    }
}

impl KeyLookup for NodeDirectory {
    fn lookup(&self, id: &KeyId) -> Option<PublicKey> {
        self.nodes.get(id).map(|n| n.public_key)
    }
}

/// Stages 1–3 for one envelope: strict signature by a registered, active
/// node; decode and validate once; `node_id` is the signer (and the client
/// certificate's node, if any).
pub fn verify_envelope(
    envelope: &Envelope,
    nodes: &NodeDirectory,
    peer: Option<&dyn PeerIdentity>,
) -> Result<VerifiedSubmission, Refusal> {
    let refuse = |e: &SubmissionError| Refusal {
        rejection: Rejection::from(e),
        node: None,
        unit: None,
    };
    // Stage 1: signature, key, node active.
    if envelope.signatures.len() != 1 {
        return Err(refuse(&SubmissionError::SignerCount(
            envelope.signatures.len(),
        )));
    }
    let verified = envelope
        .verify_with(SUBMISSION_PAYLOAD_TYPE, nodes, 1, &Limits::default())
        .map_err(|e| {
            let mut r = refuse(&SubmissionError::Envelope(e.clone()));
            if let EnvelopeError::UnknownKey(id) = &e {
                r.rejection.message = format!(
                    "{}；请先在汇总中心登记该节点（kaohe hub node add），或改用已登记的密钥（register the node first）",
                    r.rejection.message
                );
                r.node = Some(id.clone());
            }
            r
        })?;
    let signer = verified
        .signers
        .first()
        .cloned()
        .ok_or_else(|| refuse(&SubmissionError::SignerCount(0)))?;
    let node = nodes.get(&signer).ok_or_else(|| {
        refuse(&SubmissionError::Envelope(EnvelopeError::UnknownKey(
            signer.clone(),
        )))
    })?;
    check_active(node)?;
    // Stage 2: decode once, validate.
    let submission = Submission::decode(verified.payload).map_err(|e| {
        let mut r = refuse(&e);
        r.node = Some(signer.clone());
        r
    })?;
    // Stage 3: identity.
    let about = |r: Refusal| r.about(Some(&signer), Some(&submission.unit_id));
    if submission.node_id != signer {
        return Err(about(refuse(&SubmissionError::IdentityMismatch {
            payload: submission.node_id.clone(),
            signer: signer.clone(),
        })));
    }
    if let Some(peer) = peer
        && !peer.is_node(&signer)
    {
        return Err(about(Refusal::new(
            RejectionCode::IdentityMismatch,
            format!(
                "连接所用的客户端证书（{}）不属于签名节点 {signer}（{}）：每个节点须使用自己的证书（the client certificate is not the signing node's）",
                peer.describe(),
                node.name
            ),
            None,
        )));
    }
    Ok(VerifiedSubmission {
        submission,
        digest: verified.digest,
        node_id: signer,
    })
}

fn check_active(node: &NodeRecord) -> Result<(), Refusal> {
    if let NodeState::Revoked { at, reason } = &node.state {
        let refusal = nodes::NodeRefusal::Revoked {
            key_id: node.key_id.clone(),
            name: node.name.clone(),
            at: *at,
            reason: reason.clone(),
        };
        return Err(Refusal {
            rejection: Rejection {
                code: RejectionCode::UnknownKey,
                message: format!("{refusal}；该节点的上报一律拒收"),
                field: Some("signatures".to_owned()),
            },
            node: Some(node.key_id.clone()),
            unit: None,
        });
    }
    Ok(())
}

/// One envelope after stages 1–3, on its way to the writer.
#[derive(Clone)]
pub struct Candidate {
    /// Position in its call (0 for `Submit`, the stream index otherwise).
    pub index: u64,
    /// SHA-256 of the PAE bytes as received.
    pub digest: Digest,
    /// The envelope, when it converted.
    pub envelope: Option<Envelope>,
    /// The outcome of stages 1–3.
    pub verified: Result<VerifiedSubmission, Refusal>,
    /// The connection's client certificate, kept for a second look.
    pub peer: Option<Arc<dyn PeerIdentity>>,
}

impl std::fmt::Debug for Candidate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Candidate")
            .field("index", &self.index)
            .field("digest", &self.digest)
            .field("verified", &self.verified.as_ref().map(|v| &v.node_id))
            .finish_non_exhaustive()
    }
}

impl Candidate {
    /// Converts a wire envelope and runs stages 1–3.
    pub fn verify(
        index: u64,
        wire: pb::Envelope,
        nodes: &NodeDirectory,
        peer: Option<Arc<dyn PeerIdentity>>,
    ) -> Candidate {
        // The digest of the bytes as received, also for an envelope that
        // does not convert (its outcome must still name it).
        let digest = Digest::of_pae(&wire.payload_type, &wire.payload);
        match Envelope::try_from(wire) {
            Ok(envelope) => {
                let verified = verify_envelope(&envelope, nodes, peer.as_deref());
                Candidate {
                    index,
                    digest,
                    envelope: Some(envelope),
                    verified,
                    peer,
                }
            }
            Err(e) => Candidate {
                index,
                digest,
                envelope: None,
                verified: Err(Refusal {
                    rejection: Rejection::from(e.within("envelope")),
                    node: None,
                    unit: None,
                }),
                peer,
            },
        }
    }
}

/// A current pack the hub can replay: loaded once, kept while current,
/// with the round deadlines its schedule gives (lateness is judged by
/// them at commit).
#[derive(Debug)]
pub struct ActivePack {
    pub pack: Pack,
    pub deadlines: RoundDeadlines,
}

/// Why the current pack of an (id, year) cannot be replayed here: every
/// submission naming it is refused with this reason until it is fixed.
#[derive(Debug, thiserror::Error)]
pub enum PackUnavailable {
    #[error("汇总中心不能使用该规则包（the hub cannot use the pack）：{0}")]
    Pack(#[from] PackError),
    #[error("规则包 {pack}：{source}")]
    Deadlines {
        pack: PackIdentity,
        #[source]
        source: DeadlineError,
    },
    #[error("规则包 {0} 的模块缺失（module missing）")]
    ModuleMissing(PackIdentity),
}

impl ActivePack {
    /// Loads a stored pack under its stored identity ([`Pack::load`]) and
    /// computes its round deadlines.
    pub fn load(
        runtime: &Runtime,
        identity: &PackIdentity,
        module: &[u8],
    ) -> Result<ActivePack, PackUnavailable> {
        let pack = Pack::load(runtime, module, identity)?;
        let deadlines =
            RoundDeadlines::of(&pack.manifest().schedule, identity.year).map_err(|source| {
                PackUnavailable::Deadlines {
                    pack: identity.clone(),
                    source,
                }
            })?;
        Ok(ActivePack { pack, deadlines })
    }

    /// Id, year, version and module SHA-256.
    pub fn identity(&self) -> &PackIdentity {
        self.pack.identity()
    }
}

/// What the writer checks against: the registry as of the last look, and
/// the current packs loaded for replay.
#[derive(Debug, Default)]
pub struct RegistrySnapshot {
    /// `PRAGMA data_version` when loaded; changes when another connection
    /// commits.
    data_version: Option<i64>,
    pub nodes: Arc<NodeDirectory>,
    pub rosters: BTreeMap<i32, YearRoster>,
    /// Current pack per (id, year); `Err` when it cannot be replayed here.
    pub packs: HashMap<(String, u16), Result<Arc<ActivePack>, PackUnavailable>>,
}

impl RegistrySnapshot {
    /// Reloads everything if another connection committed since the last
    /// load (packs whose identity did not change are kept loaded). Returns
    /// whether it reloaded.
    pub fn refresh(&mut self, conn: &Connection, runtime: &Runtime) -> Result<bool, StoreError> {
        let version: i64 = conn.query_row("PRAGMA data_version", [], |r| r.get(0))?;
        if self.data_version == Some(version) {
            return Ok(false);
        }
        self.nodes = Arc::new(NodeDirectory::load(conn)?);
        let mut rosters = BTreeMap::new();
        for (year, _) in units::roster_years(conn)? {
            rosters.insert(year, units::load_roster(conn, year)?);
        }
        self.rosters = rosters;
        let mut packs = HashMap::new();
        for summary in crate::registry::packs::list_packs(conn)? {
            if !summary.is_current {
                continue;
            }
            let id = &summary.identity;
            let key = (id.id.clone(), id.year);
            let kept = match self.packs.remove(&key) {
                Some(Ok(active)) if active.identity() == id => Some(Ok(active)),
                _ => None,
            };
            let entry = match kept {
                Some(entry) => entry,
                None => {
                    let stored =
                        crate::registry::packs::pack_version(conn, &id.id, id.year, id.version)?;
                    match stored {
                        Some(stored) => ActivePack::load(runtime, id, &stored.module).map(Arc::new),
                        None => Err(PackUnavailable::ModuleMissing(id.clone())),
                    }
                }
            };
            if let Err(e) = &entry {
                tracing::error!("{e}");
            }
            packs.insert(key, entry);
        }
        self.packs = packs;
        self.data_version = Some(version);
        Ok(true)
    }
}

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
        candidates: Vec<Candidate>,
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
        for (i, candidate) in candidates.iter().enumerate() {
            let slot = match stage_1_to_5(&tx, snapshot, candidate, &mut seen, i, now)? {
                Ok(slot) => slot,
                Err(refusal) => Slot::Refused(refusal),
            };
            slots.push(slot);
        }

        // Stage 6: replay, one pack call per pack.
        let mut groups: HashMap<PackIdentity, Vec<usize>> = HashMap::new();
        for (i, slot) in slots.iter().enumerate() {
            if let Slot::Checked(c) = slot {
                groups
                    .entry(c.active.identity().clone())
                    .or_default()
                    .push(i);
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
                    let refusal = Refusal::from(rejection).about(
                        Some(&c.submission.node_id),
                        Some(&c.submission.submission.unit_id),
                    );
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
                    used_sequences.insert((v.node_id.clone(), v.submission.sequence));
                    for k in store::ResultKey::all(v) {
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
                let envelope = candidates
                    .get(a.candidate)
                    .and_then(|c| c.envelope.as_ref())
                    .ok_or(CommitError::Invariant(
                        "accepted candidate without its envelope",
                    ))?;
                rows.push(store::NewSubmission {
                    verified: &a.checked.submission,
                    envelope,
                    leaf: a.leaf,
                    late: a.late,
                    replaces: &a.replaces,
                });
            }
            store::insert_submissions(&tx, batch_id, commit_time, &rows)?;
        }
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
        let receipts = ReceiptBatch::build(&items, key, commit_time);
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

fn internal(what: &str) -> Rejection {
    tracing::error!("ingest invariant broken: {what}");
    Rejection::new(
        RejectionCode::Invalid,
        format!("汇总中心内部错误，请联系管理员（internal error: {what}）"),
    )
}

/// Stages 1 (again, against the fresh registry), duplicates, 4 and 5.
fn stage_1_to_5(
    conn: &Connection,
    snapshot: &RegistrySnapshot,
    candidate: &Candidate,
    seen: &mut HashMap<Digest, usize>,
    position: usize,
    now: Timestamp,
) -> Result<Result<Slot, Refusal>, CommitError> {
    let verified = match &candidate.verified {
        Ok(v) => v.clone(),
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
                None => return Ok(Err(r.clone())),
            }
        }
        Err(r) => return Ok(Err(r.clone())),
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
    let about = |r: Refusal| r.about(Some(&verified.node_id), Some(&sub.unit_id));
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
    let revises_objection = match check_window(conn, sub, &unit.name, now)? {
        Ok(open_objection) => open_objection,
        Err(r) => return Ok(Err(about(r))),
    };
    Ok(Ok(Slot::Checked(Checked {
        submission: verified.clone(),
        active: Arc::clone(pack),
        unit_name: unit.name.clone(),
        category: unit.category.clone(),
        revises_objection,
    })))
}

/// Whether `sub`'s unit may still receive a new result at `now` (see the
/// module docs, stage 5): refused as [`RejectionCode::Closed`] after the
/// year's approval or after the unit's review-request deadline, unless an
/// objection of the unit is undecided (the submission may revise it).
/// `Ok(true)`: accepted because such an objection is open.
pub fn check_window(
    conn: &Connection,
    sub: &Submission,
    unit_name: &str,
    now: Timestamp,
) -> Result<Result<bool, Refusal>, CommitError> {
    let year = i32::from(sub.year);
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
    if let Some((at, doc_number)) = &window.approved {
        let on = at
            .parse::<Timestamp>()
            .map(|t| format_date_zh(beijing_date(t)))
            .unwrap_or_else(|_| at.clone());
        return Ok(Err(closed(format!(
            "年度考核结果已于 {on} 审定（文号 {doc_number}）"
        ))));
    }
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

impl From<Rejection> for Refusal {
    fn from(rejection: Rejection) -> Refusal {
        Refusal {
            rejection,
            node: None,
            unit: None,
        }
    }
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
    let about = |r: Refusal| r.about(Some(&v.node_id), Some(&sub.unit_id));
    let reused = used.contains(&(v.node_id.clone(), sub.sequence))
        || store::sequence_taken(conn, &v.node_id, sub.sequence)?;
    if reused {
        return Ok(Err(about(Refusal::new(
            RejectionCode::SequenceReused,
            format!(
                "单位 {}（{}）：节点 {} 的序号 {} 已用于另一份内容不同的提交；每份新提交须使用新的序号（sequence number reused with different content）",
                sub.unit_id, checked.unit_name, v.node_id, sub.sequence
            ),
            Some("submission.sequence"),
        ))));
    }
    let mut replaces = Vec::with_capacity(sub.methods.len());
    for (i, key) in store::ResultKey::all(v).enumerate() {
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
