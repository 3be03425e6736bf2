//! 发件箱（outbox）：已签名、待送达汇总中心的提交，持久保存。
//!
//! Each entry is one signed [`Envelope`] — one submission for one unit,
//! round and method set — under the node's **sequence number**, written by
//! `submit` in the same transaction as the evaluation it carries and the
//! bump of the persisted counter (so sequence numbers are never reused,
//! whatever crashes). Entries and their transitions are never deleted.
//!
//! The state machine is a pure function ([`next`]); the SQL around it only
//! applies what [`next`] allows and records every transition:
//!
//! ```text
//!   to_send ──claim──▶ sending ──accepted(receipt)──▶ accepted
//!      │                │  │ ──rejected(reason)────▶ rejected
//!      │    retry ◀─failed─┘  │
//!      │    retry ◀─interrupted┘   (the node stopped while sending)
//!      │    retry ──claim──▶ sending
//!      └──────┴──supersede(reason)──▶ superseded   (a newer pack replaced it; never sent)
//! ```
//!
//! `accepted` requires a receipt that verified against the pinned hub key
//! and names this entry's digest, unit, year and round ([`check_receipt`]);
//! it is written **in the same transaction** as the state change. Sending
//! the same envelope again after an interruption is harmless: the hub
//! answers a duplicate with the same receipt.
//!
//! **Order.** [`Store::claim_due`] hands out entries in sequence order and
//! never an entry while an earlier pending entry of the same (unit, year,
//! round) is held back (waiting for its retry time, or still `sending`):
//! the hub decides newer and older by sequence number, so a newer result
//! must never overtake an older one.
//!
//! **Packs.** An entry computed under a pack that is no longer its year's
//! active pack is never sent: activating a pack supersedes them
//! ([`supersede_other_packs`], in the activation's transaction), and
//! [`Store::claim_due`] supersedes any it still finds instead of claiming
//! it. [`Store::reevaluations`] lists what must be evaluated again.
//!
//! **Retry times.** A transient failure stores `next_attempt_at` (unix
//! seconds by the node's clock, exponential backoff with jitter:
//! [`retry_delay`]); a restart resumes from it. A time further ahead than
//! [`RETRY_MAX_SECONDS`] means the clock moved back, and the entry is due.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use kaohe_proto::model::RejectionCode;
use kaohe_proto::receipt::Receipt;
use kaohe_proto::{Digest, Envelope, KeyId, PublicKey, ReceiptError};
use kaohe_rulepacks::manifest::Round;
use prost::Message as _;
use rusqlite::{OptionalExtension as _, TransactionBehavior, params};

use crate::store::{Store, StoreError, get_u64, parse_round, sql_u64};

/// An outbox entry's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Signed and stored, never sent.
    ToSend,
    /// Handed to the delivery loop.
    Sending,
    /// The hub committed it; its receipt is stored.
    Accepted,
    /// The hub refused it for a reason that sending again will not change.
    Rejected,
    /// A send failed (network, hub down, interrupted); to be sent again.
    Retry,
    /// Computed under a pack that a newer one replaced; never sent.
    Superseded,
}

/// What happened to an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// The delivery loop takes it.
    Claim,
    /// A verified receipt arrived.
    Accepted,
    /// The hub refused it (permanent).
    Rejected,
    /// The send failed (transient).
    Failed,
    /// The node restarted while it was being sent.
    Interrupted,
    /// A newer pack became active for its year before it was sent.
    Supersede,
}

impl Event {
    pub const ALL: [Event; 6] = [
        Event::Claim,
        Event::Accepted,
        Event::Rejected,
        Event::Failed,
        Event::Interrupted,
        Event::Supersede,
    ];
}

/// A transition [`next`] does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("发件箱状态 {from} 不允许 {event:?}（outbox transition not allowed）")]
pub struct TransitionError {
    pub from: State,
    pub event: Event,
}

/// The outbox state machine.
pub fn next(from: State, event: Event) -> Result<State, TransitionError> {
    use Event as E;
    use State as S;
    match (from, event) {
        (S::ToSend | S::Retry, E::Claim) => Ok(S::Sending),
        (S::Sending, E::Accepted) => Ok(S::Accepted),
        (S::Sending, E::Rejected) => Ok(S::Rejected),
        (S::Sending, E::Failed | E::Interrupted) => Ok(S::Retry),
        // Only what is not in flight: an entry being sent is settled by
        // its outcome (the hub refuses an old pack itself).
        (S::ToSend | S::Retry, E::Supersede) => Ok(S::Superseded),
        _ => Err(TransitionError { from, event }),
    }
}

impl State {
    pub const ALL: [State; 6] = [
        State::ToSend,
        State::Sending,
        State::Accepted,
        State::Rejected,
        State::Retry,
        State::Superseded,
    ];

    pub fn id(self) -> &'static str {
        match self {
            State::ToSend => "to_send",
            State::Sending => "sending",
            State::Accepted => "accepted",
            State::Rejected => "rejected",
            State::Retry => "retry",
            State::Superseded => "superseded",
        }
    }

    pub fn from_id(id: &str) -> Option<State> {
        State::ALL.into_iter().find(|s| s.id() == id)
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            State::ToSend => "待发送",
            State::Sending => "发送中",
            State::Accepted => "已接收",
            State::Rejected => "被拒绝",
            State::Retry => "待重发",
            State::Superseded => "已作废",
        }
    }

    /// Whether the entry still has to reach the hub.
    pub fn is_pending(self) -> bool {
        matches!(self, State::ToSend | State::Sending | State::Retry)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}（{}）", self.name_zh(), self.id())
    }
}

/// First retry delay, seconds.
pub const RETRY_BASE_SECONDS: i64 = 5;
/// Longest retry delay, seconds (also the bound beyond which a stored
/// retry time is taken as a clock that moved back).
pub const RETRY_MAX_SECONDS: i64 = 30 * 60;

/// Exponential backoff with jitter: after the `attempts`-th failed attempt
/// wait between half and all of `min(BASE × 2^(attempts−1), MAX)` seconds;
/// `jitter` (any random number) picks the point, so that many nodes
/// coming back at once do not retry in step. Pure.
pub fn retry_delay(attempts: u32, jitter: u64) -> i64 {
    let doublings = attempts.saturating_sub(1).min(30);
    let full = RETRY_BASE_SECONDS
        .saturating_mul(1i64 << doublings)
        .min(RETRY_MAX_SECONDS);
    let half = full / 2;
    let spread = u64::try_from(full - half).unwrap_or(0) + 1;
    half + i64::try_from(jitter % spread).unwrap_or(0)
}

/// Whether an entry with this stored retry time may be sent at `now`.
pub fn is_due(next_attempt_at: Option<i64>, now: i64) -> bool {
    match next_attempt_at {
        None => true,
        Some(t) => t <= now || t > now.saturating_add(RETRY_MAX_SECONDS),
    }
}

/// An entry as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub sequence: u64,
    pub evaluation_id: i64,
    pub unit_id: String,
    pub year: u16,
    pub round: Round,
    /// Method ids, comma-separated, manifest order.
    pub methods: String,
    pub digest: Digest,
    pub envelope: Envelope,
    pub state: State,
    pub attempts: u32,
    pub last_error: Option<String>,
    /// Protobuf bytes of the verified receipt (accepted entries).
    pub receipt: Option<Vec<u8>>,
    /// When to try again (unix seconds, node clock), after a failure.
    pub next_attempt_at: Option<i64>,
    /// The hub's rejection code (`REJECTION_CODE_…`) of a rejected entry;
    /// `None` when it was refused locally.
    pub rejection_code: Option<String>,
    /// The pack the evaluation was computed under.
    pub pack_id: String,
    pub pack_version: u32,
}

impl Entry {
    /// The stored receipt, decoded.
    pub fn decoded_receipt(&self) -> Option<Result<Receipt, String>> {
        let bytes = self.receipt.as_deref()?;
        Some(
            kaohe_proto::pb::Receipt::decode(bytes)
                .map_err(|e| e.to_string())
                .and_then(|pb| Receipt::try_from(pb).map_err(|e| e.to_string())),
        )
    }

    /// `baofeng-2022 v1`.
    pub fn pack_label(&self) -> String {
        format!("{}-{} v{}", self.pack_id, self.year, self.pack_version)
    }
}

/// A delivery outcome to record.
#[derive(Debug, Clone)]
pub enum Outcome<'a> {
    /// The hub's receipt; checked with [`check_receipt`] before it is stored.
    Accepted {
        receipt: &'a Receipt,
        hub: &'a PublicKey,
    },
    /// A permanent refusal, with the hub's code (`None`: refused by this
    /// node before sending) and reason.
    Rejected {
        code: Option<RejectionCode>,
        reason: String,
    },
    /// A transient failure; try again at `retry_at` (unix seconds, node
    /// clock; `None`: at the next attempt).
    Failed {
        reason: String,
        retry_at: Option<i64>,
    },
}

/// A receipt that does not belong to the entry or does not verify.
#[derive(Debug, thiserror::Error)]
pub enum ReceiptMismatch {
    #[error(transparent)]
    Invalid(#[from] ReceiptError),
    #[error("回执所指的提交 {found} 不是本条 {expected}（receipt is for another submission）")]
    Digest { expected: Digest, found: Digest },
    #[error("回执的单位、年度或轮次与本条不符（receipt names another unit, year or round）")]
    Subject,
}

/// Recording an outcome failed; the entry is unchanged.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("发件箱中没有序号 {0}（no outbox entry with this sequence number）")]
    NotFound(u64),
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error(transparent)]
    Receipt(#[from] ReceiptMismatch),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for RecordError {
    fn from(e: rusqlite::Error) -> Self {
        RecordError::Store(StoreError::Sqlite(e))
    }
}

/// Checks a receipt against the entry it should acknowledge: it verifies
/// with the hub key and names the entry's digest, unit, year and round.
pub fn check_receipt(
    entry: &Entry,
    receipt: &Receipt,
    hub: &PublicKey,
) -> Result<(), ReceiptMismatch> {
    receipt.verify(hub)?;
    let leaf = &receipt.leaf;
    if leaf.digest != entry.digest {
        return Err(ReceiptMismatch::Digest {
            expected: entry.digest,
            found: leaf.digest,
        });
    }
    if leaf.unit_id != entry.unit_id
        || leaf.year != entry.year
        || leaf.round.abi_code() != entry.round.code()
    {
        return Err(ReceiptMismatch::Subject);
    }
    Ok(())
}

/// Counts of entries per state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub to_send: u64,
    pub sending: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub retry: u64,
    pub superseded: u64,
}

impl Counts {
    /// Entries that still have to reach the hub.
    pub fn pending(&self) -> u64 {
        self.to_send + self.sending + self.retry
    }
}

/// What [`Store::claim_due`] did.
#[derive(Debug, Clone, Default)]
pub struct Claim {
    /// Now `sending`, in sequence order.
    pub entries: Vec<Entry>,
    /// Superseded instead of claimed (computed under a pack no longer
    /// active): sequence and reason.
    pub superseded: Vec<(u64, String)>,
    /// Pending entries left for later: not yet due, or behind one that is.
    pub waiting: usize,
    /// The earliest stored retry time among the waiting entries.
    pub next_due: Option<i64>,
}

/// How an outcome in a batch was settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// Now in this state.
    State(State),
    /// The receipt did not check out: recorded as a failure instead (the
    /// entry is `retry`, never `accepted` without a verified receipt).
    BadReceipt(String),
    /// Not applied (unknown sequence, or the entry had already moved on).
    Skipped(String),
}

/// A result that must be evaluated again under the year's active pack:
/// its last evaluation was computed under another pack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reevaluation {
    pub unit_id: String,
    pub round: Round,
    pub methods: String,
    /// The pack it was computed under, e.g. `baofeng-2022 v1`.
    pub computed_under: String,
}

/// A recorded transition: from (none for the first), to, when, why.
pub type Transition = (Option<State>, State, String, String);

/// A new entry, written by `submit` inside its transaction.
#[derive(Debug, Clone)]
pub(crate) struct NewEntry<'a> {
    pub sequence: u64,
    pub evaluation_id: i64,
    pub unit_id: &'a str,
    pub year: u16,
    pub round: Round,
    pub methods: &'a str,
    pub envelope: &'a Envelope,
    /// The envelope's one signature (the node's).
    pub signature: &'a kaohe_proto::Signature,
    pub at: &'a str,
}

/// Inserts an entry in state `to_send` (inside the caller's transaction).
pub(crate) fn insert(tx: &rusqlite::Transaction<'_>, e: &NewEntry<'_>) -> rusqlite::Result<()> {
    let sig = e.signature;
    tx.execute(
        "INSERT INTO outbox (sequence, evaluation_id, unit_id, year, round, methods, digest,
                             payload_type, payload, key_id, signature, state, attempts,
                             created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 'to_send', 0, ?12, ?12)",
        params![
            sql_u64(e.sequence)?,
            e.evaluation_id,
            e.unit_id,
            e.year,
            e.round.id(),
            e.methods,
            e.envelope.digest().0.as_slice(),
            e.envelope.payload_type,
            e.envelope.payload,
            sig.key_id.as_str(),
            sig.sig.as_slice(),
            e.at,
        ],
    )?;
    transition(tx, e.sequence, None, State::ToSend, e.at, "signed")
}

fn transition(
    tx: &rusqlite::Transaction<'_>,
    sequence: u64,
    from: Option<State>,
    to: State,
    at: &str,
    detail: &str,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO outbox_transitions (sequence, from_state, to_state, at, detail)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![sql_u64(sequence)?, from.map(State::id), to.id(), at, detail],
    )?;
    Ok(())
}

/// Why an entry of an older (or another) pack is superseded.
fn superseded_reason(entry_pack: &str, active: &str) -> String {
    format!(
        "规则包已更新为 {active}，按 {entry_pack} 计算的这份结果作废、不再发送；下次评分或提交时按新版重新评价（superseded: the pack is now {active}; never sent, evaluated again under the new pack）"
    )
}

/// Supersedes every unsent entry (`to_send`, `retry`) of `active.year`
/// computed under another pack than `active` (inside the activation's
/// transaction). Returns their sequence numbers.
pub(crate) fn supersede_other_packs(
    tx: &rusqlite::Transaction<'_>,
    active: &kaohe_proto::PackIdentity,
    at: &str,
) -> rusqlite::Result<Vec<u64>> {
    let rows: Vec<(u64, String, String, u32)> = {
        let mut stmt = tx.prepare(
            "SELECT o.sequence, o.state, e.pack_id, e.pack_version
             FROM outbox o JOIN evaluations e ON e.id = o.evaluation_id
             WHERE e.pack_year = ?1 AND o.state IN ('to_send', 'retry')
               AND NOT (e.pack_id = ?2 AND e.pack_version = ?3)
             ORDER BY o.sequence",
        )?;
        stmt.query_map(params![active.year, active.id, active.version], |r| {
            Ok((get_u64(r, 0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<Result<_, _>>()?
    };
    let active_label = active.to_string();
    let mut out = Vec::with_capacity(rows.len());
    for (sequence, state, pack_id, version) in rows {
        let Some(from) = State::from_id(&state) else {
            continue;
        };
        let reason = superseded_reason(
            &format!("{pack_id}-{} v{version}", active.year),
            &active_label,
        );
        apply_supersede(tx, sequence, from, &reason, at)?;
        out.push(sequence);
    }
    Ok(out)
}

fn apply_supersede(
    tx: &rusqlite::Transaction<'_>,
    sequence: u64,
    from: State,
    reason: &str,
    at: &str,
) -> rusqlite::Result<()> {
    let Ok(to) = next(from, Event::Supersede) else {
        return Ok(());
    };
    tx.execute(
        "UPDATE outbox SET state = ?1, last_error = ?2, next_attempt_at = NULL, updated_at = ?3
         WHERE sequence = ?4",
        params![to.id(), reason, at, sql_u64(sequence)?],
    )?;
    transition(tx, sequence, Some(from), to, at, reason)
}

const ENTRY_SELECT: &str = "SELECT o.sequence, o.evaluation_id, o.unit_id, o.year, o.round,
     o.methods, o.digest, o.payload_type, o.payload, o.key_id, o.signature, o.state,
     o.attempts, o.last_error, o.receipt, o.next_attempt_at, o.rejection_code,
     e.pack_id, e.pack_version
     FROM outbox o JOIN evaluations e ON e.id = o.evaluation_id";

impl Store {
    /// The last sequence number used (0 before the first submission).
    pub fn last_sequence(&self) -> Result<u64, StoreError> {
        Ok(self.conn.query_row(
            "SELECT value FROM counters WHERE name = 'sequence'",
            [],
            |r| get_u64(r, 0),
        )?)
    }

    /// Moves up to `limit` entries from `to_send`/`retry` to `sending`, in
    /// sequence order, and returns them (retry times are not waited for).
    pub fn claim(&mut self, limit: usize, at: &jiff::Timestamp) -> Result<Vec<Entry>, StoreError> {
        Ok(self.claim_due(limit, at, false)?.entries)
    }

    /// Claims up to `limit` entries for sending, in sequence order, in one
    /// transaction: an entry is claimed only if it is due (its retry time
    /// has come, unless `respect_retry_time` is false) and no earlier
    /// pending entry of the same unit, year and round is held back. An
    /// entry computed under a pack that is no longer its year's active pack
    /// is superseded instead, never claimed.
    pub fn claim_due(
        &mut self,
        limit: usize,
        at: &jiff::Timestamp,
        respect_retry_time: bool,
    ) -> Result<Claim, StoreError> {
        let now = at.as_second();
        let at = at.to_string();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let active: HashMap<u16, (String, u32)> = {
            let mut stmt =
                tx.prepare("SELECT year, pack_id, version FROM packs WHERE is_active = 1")?;
            stmt.query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))?
                .collect::<Result<_, _>>()?
        };
        let pending = {
            let mut stmt = tx.prepare(&format!(
                "{ENTRY_SELECT} WHERE o.state IN ('to_send', 'retry', 'sending') ORDER BY o.sequence"
            ))?;
            let rows = stmt.query_map([], raw_entry)?;
            rows.collect::<Result<Vec<_>, _>>()?
        };
        let mut claim = Claim::default();
        let mut held: HashSet<(String, u16, Round)> = HashSet::new();
        for raw in pending {
            let mut e = entry(raw)?;
            let subject = (e.unit_id.clone(), e.year, e.round);
            if e.state == State::Sending {
                held.insert(subject);
                continue;
            }
            match active.get(&e.year) {
                Some((id, version)) if *id == e.pack_id && *version == e.pack_version => {}
                other => {
                    let active_label = other.map_or_else(
                        || format!("（{} 年无启用的规则包）", e.year),
                        |(id, v)| format!("{id}-{} v{v}", e.year),
                    );
                    let reason = superseded_reason(&e.pack_label(), &active_label);
                    apply_supersede(&tx, e.sequence, e.state, &reason, &at)?;
                    claim.superseded.push((e.sequence, reason));
                    continue;
                }
            }
            let due = !respect_retry_time || is_due(e.next_attempt_at, now);
            if !due || held.contains(&subject) || claim.entries.len() >= limit {
                if !due && let Some(t) = e.next_attempt_at {
                    claim.next_due = Some(claim.next_due.map_or(t, |d: i64| d.min(t)));
                }
                held.insert(subject);
                claim.waiting += 1;
                continue;
            }
            let to = next(e.state, Event::Claim).map_err(|t| StoreError::Corrupt(t.to_string()))?;
            tx.execute(
                "UPDATE outbox SET state = ?1, attempts = attempts + 1, updated_at = ?2 WHERE sequence = ?3",
                params![to.id(), at, sql_u64(e.sequence)?],
            )?;
            transition(&tx, e.sequence, Some(e.state), to, &at, "claim")?;
            e.state = to;
            e.attempts += 1;
            claim.entries.push(e);
        }
        tx.commit()?;
        Ok(claim)
    }

    /// Records the outcome of sending entry `sequence`. A receipt that does
    /// not check out is refused and the entry left unchanged.
    pub fn record(
        &mut self,
        sequence: u64,
        outcome: &Outcome<'_>,
        at: &jiff::Timestamp,
    ) -> Result<State, RecordError> {
        let at = at.to_string();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let to = apply(&tx, sequence, outcome, &at)?;
        tx.commit()?;
        Ok(to)
    }

    /// Records the outcomes of one chunk of a stream in **one
    /// transaction** (each receipt is stored with its entry's change to
    /// `accepted`). A receipt that does not check out is recorded as a
    /// failure with `bad_receipt_retry_at` instead, so the entry is sent
    /// again rather than trusted.
    pub fn record_chunk(
        &mut self,
        outcomes: &[(u64, Outcome<'_>)],
        at: &jiff::Timestamp,
        bad_receipt_retry_at: Option<i64>,
    ) -> Result<Vec<(u64, Settled)>, StoreError> {
        let at = at.to_string();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut out = Vec::with_capacity(outcomes.len());
        for (sequence, outcome) in outcomes {
            let settled = match apply(&tx, *sequence, outcome, &at) {
                Ok(state) => Settled::State(state),
                Err(RecordError::Receipt(why)) => {
                    let reason = format!(
                        "汇总中心回执核验失败，未标记为已接收，将重新发送（receipt does not verify; not accepted, will be sent again）：{why}"
                    );
                    let failed = Outcome::Failed {
                        reason: reason.clone(),
                        retry_at: bad_receipt_retry_at,
                    };
                    match apply(&tx, *sequence, &failed, &at) {
                        Ok(_) => Settled::BadReceipt(reason),
                        Err(RecordError::Store(e)) => return Err(e),
                        Err(e) => Settled::Skipped(e.to_string()),
                    }
                }
                Err(RecordError::Store(e)) => return Err(e),
                Err(e @ (RecordError::NotFound(_) | RecordError::Transition(_))) => {
                    Settled::Skipped(e.to_string())
                }
            };
            out.push((*sequence, settled));
        }
        tx.commit()?;
        Ok(out)
    }

    /// After a restart: every `sending` entry becomes `retry` (whether the
    /// hub got it is unknown; sending it again is harmless). Returns how
    /// many. Only the holder of the delivery lock may call this.
    pub fn recover_interrupted(&mut self, at: &jiff::Timestamp) -> Result<usize, StoreError> {
        let at = at.to_string();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let sequences: Vec<u64> = {
            let mut stmt = tx.prepare("SELECT sequence FROM outbox WHERE state = 'sending'")?;
            stmt.query_map([], |r| get_u64(r, 0))?
                .collect::<Result<_, _>>()?
        };
        let to = next(State::Sending, Event::Interrupted)
            .map_err(|t| StoreError::Corrupt(t.to_string()))?;
        for s in &sequences {
            tx.execute(
                "UPDATE outbox SET state = ?1, next_attempt_at = NULL, updated_at = ?2 WHERE sequence = ?3",
                params![to.id(), at, sql_u64(*s)?],
            )?;
            transition(&tx, *s, Some(State::Sending), to, &at, "interrupted")?;
        }
        tx.commit()?;
        Ok(sequences.len())
    }

    /// Entries in sequence order, optionally only those in `state`.
    pub fn outbox(&self, state: Option<State>) -> Result<Vec<Entry>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "{ENTRY_SELECT} WHERE (?1 IS NULL OR o.state = ?1) ORDER BY o.sequence"
        ))?;
        let rows = stmt.query_map([state.map(State::id)], raw_entry)?;
        rows.map(|r| entry(r?)).collect()
    }

    /// One entry.
    pub fn outbox_entry(&self, sequence: u64) -> Result<Option<Entry>, StoreError> {
        let raw = self
            .conn
            .query_row(
                &format!("{ENTRY_SELECT} WHERE o.sequence = ?1"),
                [sql_u64(sequence)?],
                raw_entry,
            )
            .optional()?;
        raw.map(entry).transpose()
    }

    /// The recorded transitions of an entry: (from, to, at, detail).
    pub fn transitions(&self, sequence: u64) -> Result<Vec<Transition>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT from_state, to_state, at, detail FROM outbox_transitions
             WHERE sequence = ?1 ORDER BY seq",
        )?;
        let rows = stmt.query_map([sql_u64(sequence)?], |r| {
            Ok((
                r.get::<_, Option<String>>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?;
        let state = |s: &str| {
            State::from_id(s).ok_or_else(|| StoreError::Corrupt(format!("transition state {s:?}")))
        };
        let mut out = Vec::new();
        for row in rows {
            let (from, to, at, detail) = row?;
            out.push((
                from.as_deref().map(state).transpose()?,
                state(&to)?,
                at,
                detail,
            ));
        }
        Ok(out)
    }

    /// How many entries are in each state.
    pub fn outbox_counts(&self) -> Result<Counts, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT state, count(*) FROM outbox GROUP BY state")?;
        let mut c = Counts::default();
        for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, get_u64(r, 1)?)))? {
            let (s, n) = row?;
            match State::from_id(&s) {
                Some(State::ToSend) => c.to_send = n,
                Some(State::Sending) => c.sending = n,
                Some(State::Accepted) => c.accepted = n,
                Some(State::Rejected) => c.rejected = n,
                Some(State::Retry) => c.retry = n,
                Some(State::Superseded) => c.superseded = n,
                None => return Err(StoreError::Corrupt(format!("outbox state {s:?}"))),
            }
        }
        Ok(c)
    }

    /// The earliest stored retry time of the `retry` entries.
    pub fn next_retry_at(&self) -> Result<Option<i64>, StoreError> {
        Ok(self.conn.query_row(
            "SELECT min(next_attempt_at) FROM outbox WHERE state = 'retry'",
            [],
            |r| r.get(0),
        )?)
    }

    /// Results of `year` that must be evaluated again under the year's
    /// active pack, for units still in the year's scope: their evaluations
    /// were computed under another pack (accepted, superseded, still
    /// pending, or refused by the hub for naming an old pack), and none
    /// under the active pack is accepted or on its way.
    pub fn reevaluations(&self, year: u16) -> Result<Vec<Reevaluation>, StoreError> {
        let Some(active) = self.active_pack(year)? else {
            return Ok(Vec::new());
        };
        let in_scope: HashSet<String> = self
            .scope(year)?
            .units
            .into_iter()
            .map(|u| u.unit_id)
            .collect();
        let mut stmt = self.conn.prepare(
            "SELECT e.unit_id, e.round, e.methods, e.pack_id, e.pack_version, o.state, o.rejection_code
             FROM evaluations e JOIN outbox o ON o.evaluation_id = e.id
             WHERE e.year = ?1 ORDER BY e.id",
        )?;
        let rows = stmt.query_map([year], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, u32>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, Option<String>>(6)?,
            ))
        })?;
        // Per (unit, round, methods): the latest old-pack label, and
        // whether something under the active pack counts.
        let mut keys: BTreeMap<(String, String, String), (Option<String>, bool)> = BTreeMap::new();
        let pack_mismatch = RejectionCode::PackMismatch.wire_name();
        for row in rows {
            let (unit, round, methods, pack_id, version, state, code) = row?;
            let state = State::from_id(&state)
                .ok_or_else(|| StoreError::Corrupt(format!("outbox state {state:?}")))?;
            let slot = keys.entry((unit, round, methods)).or_default();
            let current = pack_id == active.identity.id && version == active.identity.version;
            if current {
                if !matches!(state, State::Rejected | State::Superseded) {
                    slot.1 = true;
                }
            } else if state != State::Rejected || code.as_deref() == Some(pack_mismatch) {
                slot.0 = Some(format!("{pack_id}-{year} v{version}"));
            }
        }
        let mut out = Vec::new();
        for ((unit_id, round, methods), (old, covered)) in keys {
            if let Some(computed_under) = old
                && !covered
                && in_scope.contains(&unit_id)
            {
                out.push(Reevaluation {
                    unit_id,
                    round: parse_round(&round)?,
                    methods,
                    computed_under,
                });
            }
        }
        Ok(out)
    }
}

/// One transition applied inside `tx`; an error leaves the entry unchanged.
fn apply(
    tx: &rusqlite::Transaction<'_>,
    sequence: u64,
    outcome: &Outcome<'_>,
    at: &str,
) -> Result<State, RecordError> {
    let raw = tx
        .query_row(
            &format!("{ENTRY_SELECT} WHERE o.sequence = ?1"),
            [sql_u64(sequence)?],
            raw_entry,
        )
        .optional()?
        .ok_or(RecordError::NotFound(sequence))?;
    let e = entry(raw)?;
    let (event, detail, receipt, retry_at, code) = match outcome {
        Outcome::Accepted { receipt, hub } => {
            check_receipt(&e, receipt, hub)?;
            let bytes = kaohe_proto::pb::Receipt::from((*receipt).clone()).encode_to_vec();
            (
                Event::Accepted,
                "receipt verified".to_string(),
                Some(bytes),
                None,
                None,
            )
        }
        Outcome::Rejected { code, reason } => (
            Event::Rejected,
            reason.clone(),
            None,
            None,
            code.map(RejectionCode::wire_name),
        ),
        Outcome::Failed { reason, retry_at } => {
            (Event::Failed, reason.clone(), None, *retry_at, None)
        }
    };
    let to = next(e.state, event)?;
    let last_error = match event {
        Event::Accepted => None,
        _ => Some(detail.clone()),
    };
    tx.execute(
        "UPDATE outbox SET state = ?1, last_error = ?2, receipt = ?3, updated_at = ?4,
                           next_attempt_at = ?5, rejection_code = ?6
         WHERE sequence = ?7",
        params![
            to.id(),
            last_error,
            receipt,
            at,
            retry_at,
            code,
            sql_u64(sequence)?
        ],
    )?;
    transition(tx, sequence, Some(e.state), to, at, &detail)?;
    Ok(to)
}

type RawEntry = (
    (
        u64,
        i64,
        String,
        u16,
        String,
        String,
        Vec<u8>,
        String,
        Vec<u8>,
    ),
    (
        String,
        Vec<u8>,
        String,
        u32,
        Option<String>,
        Option<Vec<u8>>,
        Option<i64>,
        Option<String>,
        String,
        u32,
    ),
);

fn raw_entry(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawEntry> {
    Ok((
        (
            get_u64(r, 0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
            r.get(7)?,
            r.get(8)?,
        ),
        (
            r.get(9)?,
            r.get(10)?,
            r.get(11)?,
            r.get(12)?,
            r.get(13)?,
            r.get(14)?,
            r.get(15)?,
            r.get(16)?,
            r.get(17)?,
            r.get(18)?,
        ),
    ))
}

fn entry(raw: RawEntry) -> Result<Entry, StoreError> {
    let (
        (sequence, evaluation_id, unit_id, year, round, methods, digest, payload_type, payload),
        (
            key_id,
            sig,
            state,
            attempts,
            last_error,
            receipt,
            next_attempt_at,
            rejection_code,
            pack_id,
            pack_version,
        ),
    ) = raw;
    let corrupt = |what: &str| StoreError::Corrupt(format!("outbox #{sequence}: {what}"));
    let digest = Digest(<[u8; 32]>::try_from(digest.as_slice()).map_err(|_| corrupt("digest"))?);
    let sig = <[u8; 64]>::try_from(sig.as_slice()).map_err(|_| corrupt("signature"))?;
    let key_id: KeyId = key_id.parse().map_err(|_| corrupt("key id"))?;
    let envelope = Envelope {
        payload_type,
        payload,
        signatures: vec![kaohe_proto::Signature { key_id, sig }],
    };
    if envelope.digest() != digest {
        return Err(corrupt("digest does not match the stored envelope"));
    }
    Ok(Entry {
        sequence,
        evaluation_id,
        unit_id,
        year,
        round: parse_round(&round)?,
        methods,
        digest,
        envelope,
        state: State::from_id(&state).ok_or_else(|| corrupt("state"))?,
        attempts,
        last_error,
        receipt,
        next_attempt_at,
        rejection_code,
        pack_id,
        pack_version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::evaluate;
    use crate::store::{EvidenceWrite, SourceKind};
    use crate::testutil::{TEST_RUBRIC, actor, store_with_pack, test_manifest};
    use kaohe_proto::SigningKeyPair;
    use kaohe_proto::receipt::{ReceiptBatch, ReceiptItem};

    fn ts(s: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(s).unwrap()
    }

    /// Sets `sat_rate` of `unit` and submits the satisfaction results of
    /// `units`; returns the sequence numbers queued.
    fn submit_sat(store: &mut Store, values: &[(&str, i64)]) -> Vec<u64> {
        let writes: Vec<EvidenceWrite> = values
            .iter()
            .map(|(u, v)| EvidenceWrite {
                unit_id: (*u).into(),
                round: Round::Annual,
                field_id: "sat_rate".into(),
                value: Some(*v),
            })
            .collect();
        store
            .apply_evidence(2022, &writes, &SourceKind::Set, &actor("王"), &mut |_| {})
            .unwrap();
        let rubric = kaohe_rulepacks::rubric::compile("t.toml", TEST_RUBRIC).unwrap();
        let interp = kaohe_rulepacks::interp::Interpreter::new(&rubric);
        let m = test_manifest();
        let pack = store.active_pack(2022).unwrap().unwrap();
        let scope = store.scope(2022).unwrap();
        let only = vec!["satisfaction".to_string()];
        let jobs = evaluate::jobs(store, &m, &scope, Round::Annual, Some(&only))
            .unwrap()
            .into_iter()
            .filter(|j| values.iter().any(|(u, _)| *u == j.unit.unit_id))
            .collect();
        let results = evaluate::run(&interp, jobs).unwrap();
        let key = SigningKeyPair::from_seed(&[5; 32]);
        evaluate::submit(store, &key, &pack, &results, &actor("王"))
            .unwrap()
            .queued
            .into_iter()
            .map(|(_, s)| s)
            .collect()
    }

    fn sequences(entries: &[Entry]) -> Vec<u64> {
        entries.iter().map(|e| e.sequence).collect()
    }

    /// The hub decides newer and older by sequence number only: if the
    /// node sent justice #3 while justice #1 waited for its retry time, #1
    /// would later be refused as stale. So #3 waits for #1, while another
    /// unit's entry goes ahead.
    #[test]
    fn a_newer_entry_never_overtakes_an_older_one_of_the_same_unit_and_round() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = store_with_pack(dir.path());
        assert_eq!(
            submit_sat(&mut store, &[("justice", 9000), ("xiaodian", 8000)]),
            vec![1, 2]
        );
        let claimed = store.claim_due(10, &ts(1_000), true).unwrap();
        assert_eq!(sequences(&claimed.entries), vec![1, 2]);
        // #1 fails and must wait until 1_100; #2 fails and may go at once.
        for (seq, retry_at) in [(1, 1_100), (2, 1_000)] {
            store
                .record(
                    seq,
                    &Outcome::Failed {
                        reason: "汇总中心暂不可用".into(),
                        retry_at: Some(retry_at),
                    },
                    &ts(1_000),
                )
                .unwrap();
        }
        // A newer justice result (#3) is queued meanwhile.
        assert_eq!(submit_sat(&mut store, &[("justice", 9500)]), vec![3]);
        let c = store.claim_due(10, &ts(1_050), true).unwrap();
        assert_eq!(sequences(&c.entries), vec![2], "#3 must not overtake #1");
        assert_eq!((c.waiting, c.next_due), (2, Some(1_100)));
        store.recover_interrupted(&ts(1_050)).unwrap();
        // A restart resumes from the stored time: still not due at 1_099.
        let c = store.claim_due(10, &ts(1_099), true).unwrap();
        assert_eq!(sequences(&c.entries), vec![2]);
        store.recover_interrupted(&ts(1_099)).unwrap();
        let c = store.claim_due(10, &ts(1_100), true).unwrap();
        assert_eq!(sequences(&c.entries), vec![1, 2, 3], "in sequence order");
        store.recover_interrupted(&ts(1_100)).unwrap();
        // An official asking to deliver now does not wait for retry times,
        // but order still holds, and the limit never splits it wrongly.
        let c = store.claim_due(2, &ts(1_000), false).unwrap();
        assert_eq!(sequences(&c.entries), vec![1, 2]);
        assert_eq!(c.waiting, 1);
        let transitions = store.transitions(1).unwrap();
        assert_eq!(
            transitions.iter().map(|t| t.1).collect::<Vec<_>>(),
            vec![
                State::ToSend,
                State::Sending,
                State::Retry,
                State::Sending,
                State::Retry,
                State::Sending
            ]
        );
    }

    /// Promise 2: a receipt is stored in the same transaction as the entry's
    /// change to accepted, and only a receipt that verifies counts; a chunk
    /// with one bad receipt records the others and sends that one again.
    #[test]
    fn a_chunk_is_recorded_at_once_and_a_bad_receipt_never_makes_an_entry_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = store_with_pack(dir.path());
        submit_sat(
            &mut store,
            &[("justice", 9000), ("xiaodian", 8000), ("zhaozhuang", 7000)],
        );
        let claimed = store.claim(10, &ts(1_000)).unwrap();
        let hub = SigningKeyPair::from_seed(&[8; 32]);
        let item = |e: &Entry| ReceiptItem {
            digest: e.digest,
            unit_id: e.unit_id.clone(),
            year: e.year,
            round: kaohe_proto::Round::Annual,
            late: false,
        };
        let receipts =
            ReceiptBatch::build(&[item(&claimed[0]), item(&claimed[1])], &hub, 1_700_000_000);
        let forged = ReceiptBatch::build(
            &[item(&claimed[2])],
            &SigningKeyPair::from_seed(&[66; 32]),
            1_700_000_000,
        );
        let hub_key = hub.public();
        let settled = store
            .record_chunk(
                &[
                    (
                        1,
                        Outcome::Accepted {
                            receipt: &receipts[0],
                            hub: &hub_key,
                        },
                    ),
                    (
                        2,
                        Outcome::Rejected {
                            code: Some(RejectionCode::ReplayMismatch),
                            reason: "复算得分不一致".into(),
                        },
                    ),
                    (
                        3,
                        Outcome::Accepted {
                            receipt: &forged[0],
                            hub: &hub_key,
                        },
                    ),
                    // A second outcome for #1: the entry has moved on.
                    (
                        1,
                        Outcome::Rejected {
                            code: None,
                            reason: "x".into(),
                        },
                    ),
                ],
                &ts(1_001),
                Some(2_801),
            )
            .unwrap();
        assert_eq!(settled[0], (1, Settled::State(State::Accepted)));
        assert_eq!(settled[1], (2, Settled::State(State::Rejected)));
        assert!(matches!(&settled[2], (3, Settled::BadReceipt(why)) if why.contains("核验失败")));
        assert!(matches!(settled[3], (1, Settled::Skipped(_))));
        let e1 = store.outbox_entry(1).unwrap().unwrap();
        assert_eq!(e1.decoded_receipt().unwrap().unwrap(), receipts[0]);
        let e2 = store.outbox_entry(2).unwrap().unwrap();
        assert_eq!(
            (
                e2.state,
                e2.rejection_code.as_deref(),
                e2.last_error.as_deref()
            ),
            (
                State::Rejected,
                Some("REJECTION_CODE_REPLAY_MISMATCH"),
                Some("复算得分不一致")
            )
        );
        let e3 = store.outbox_entry(3).unwrap().unwrap();
        assert_eq!(
            (e3.state, e3.receipt.as_ref(), e3.next_attempt_at),
            (State::Retry, None, Some(2_801))
        );
        let c = store.outbox_counts().unwrap();
        assert_eq!((c.accepted, c.rejected, c.retry, c.pending()), (1, 1, 1, 1));
    }

    /// The schema 1 → 2 upgrade rebuilds the outbox: every entry and
    /// transition is carried over, the new state is allowed, and the
    /// no-delete trigger and foreign keys are in force again.
    #[test]
    fn upgrading_a_version_1_store_keeps_every_outbox_entry_and_transition() {
        use crate::store::open_at_version;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.db");
        let v1 = open_at_version(&path, 1, true).unwrap();
        let node = SigningKeyPair::from_seed(&[5; 32]);
        let envelope =
            kaohe_proto::Envelope::sign("application/vnd.kaohe.test", b"x".to_vec(), &[&node]);
        let sig = &envelope.signatures[0];
        v1.conn
            .execute_batch(
                "INSERT INTO units VALUES ('justice', '县司法局', 'department', NULL, NULL);
                 INSERT INTO packs VALUES ('test', 2022, 1, zeroblob(32), x'00', '{}', x'00',
                                           '2022-01-01T00:00:00Z', 1);
                 INSERT INTO evaluations (unit_id, year, round, methods, pack_id, pack_year,
                                          pack_version, evidence, result, content_sha256,
                                          evaluated_at, evaluated_by)
                 VALUES ('justice', 2022, 'annual', 'satisfaction', 'test', 2022, 1, '{}', '{}',
                         zeroblob(32), '2022-01-01T00:00:00Z', '王');",
            )
            .unwrap();
        v1.conn
            .execute(
                "INSERT INTO outbox (sequence, evaluation_id, unit_id, year, round, methods, digest,
                                     payload_type, payload, key_id, signature, state, attempts,
                                     last_error, created_at, updated_at)
                 VALUES (1, 1, 'justice', 2022, 'annual', 'satisfaction', ?1, ?2, ?3, ?4, ?5,
                         'retry', 2, '连接被拒绝', 't', 't')",
                rusqlite::params![
                    envelope.digest().0.as_slice(),
                    envelope.payload_type,
                    envelope.payload,
                    sig.key_id.as_str(),
                    sig.sig.as_slice()
                ],
            )
            .unwrap();
        v1.conn
            .execute_batch(
                "INSERT INTO outbox_transitions (sequence, from_state, to_state, at, detail)
                 VALUES (1, NULL, 'to_send', 't', 'signed'), (1, 'to_send', 'sending', 't', 'claim'),
                        (1, 'sending', 'retry', 't', '连接被拒绝');",
            )
            .unwrap();
        drop(v1);

        let mut store = Store::open(&path).unwrap();
        assert_eq!(
            store.schema_version().unwrap(),
            crate::store::SCHEMA_VERSION
        );
        store.integrity_check().unwrap();
        let e = store.outbox_entry(1).unwrap().unwrap();
        assert_eq!(
            (
                e.state,
                e.attempts,
                e.last_error.as_deref(),
                e.next_attempt_at,
                e.envelope
            ),
            (State::Retry, 2, Some("连接被拒绝"), None, envelope)
        );
        assert_eq!(store.transitions(1).unwrap().len(), 3);
        assert!(
            store.conn.execute("DELETE FROM outbox", []).is_err(),
            "trigger lost"
        );
        let fk: i64 = store
            .conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 1, "foreign keys back on after migrating");
        // The new state exists: the v1 pack is not active any more.
        store
            .conn
            .execute("UPDATE packs SET is_active = 0", [])
            .unwrap();
        let c = store.claim_due(10, &ts(1_000), false).unwrap();
        assert!(c.entries.is_empty());
        assert_eq!(c.superseded.len(), 1);
        assert_eq!(
            store.outbox_entry(1).unwrap().unwrap().state,
            State::Superseded
        );
    }

    #[test]
    fn the_state_machine_allows_exactly_the_documented_transitions() {
        let mut allowed = Vec::new();
        for s in State::ALL {
            for e in Event::ALL {
                if let Ok(t) = next(s, e) {
                    allowed.push((s, e, t));
                }
            }
        }
        use Event as E;
        use State as S;
        assert_eq!(
            allowed,
            vec![
                (S::ToSend, E::Claim, S::Sending),
                (S::ToSend, E::Supersede, S::Superseded),
                (S::Sending, E::Accepted, S::Accepted),
                (S::Sending, E::Rejected, S::Rejected),
                (S::Sending, E::Failed, S::Retry),
                (S::Sending, E::Interrupted, S::Retry),
                (S::Retry, E::Claim, S::Sending),
                (S::Retry, E::Supersede, S::Superseded),
            ]
        );
        // Terminal states stay terminal: nothing accepted, refused or
        // superseded is ever sent again.
        for terminal in [S::Accepted, S::Rejected, S::Superseded] {
            assert!(
                Event::ALL.iter().all(|e| next(terminal, *e).is_err()),
                "{terminal} is not terminal"
            );
        }
        // Nothing in flight is superseded.
        assert!(next(S::Sending, E::Supersede).is_err());
    }

    #[test]
    fn retry_delays_double_with_jitter_within_half_and_full_up_to_the_cap() {
        for attempts in 1..=40u32 {
            let full = (RETRY_BASE_SECONDS << (attempts - 1).min(30)).min(RETRY_MAX_SECONDS);
            for jitter in [0u64, 1, 7, 12345, u64::MAX] {
                let d = retry_delay(attempts, jitter);
                assert!(
                    (full / 2..=full).contains(&d),
                    "attempt {attempts}, jitter {jitter}: {d} not in [{}, {full}]",
                    full / 2
                );
            }
        }
        assert_eq!(retry_delay(1, 0), RETRY_BASE_SECONDS / 2);
        assert_eq!(retry_delay(1000, 0), RETRY_MAX_SECONDS / 2);
        // Different jitter spreads the retries.
        let spread: HashSet<i64> = (0..100).map(|j| retry_delay(5, j)).collect();
        assert!(spread.len() > 10, "{spread:?}");
    }

    #[test]
    fn an_entry_is_due_at_its_time_or_when_the_clock_moved_back() {
        assert!(is_due(None, 100));
        assert!(!is_due(Some(101), 100));
        assert!(is_due(Some(100), 100));
        // A retry time beyond the longest delay: the node's clock went
        // back (or the time was written by a wrong clock); do not wait.
        assert!(is_due(Some(100 + RETRY_MAX_SECONDS + 1), 100));
        assert!(!is_due(Some(100 + RETRY_MAX_SECONDS), 100));
    }
}
