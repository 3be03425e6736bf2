//! 发件箱（outbox）：已签名、待送达汇总中心的提交，持久保存。
//!
//! Each entry is one signed [`Envelope`] — one submission for one unit,
//! round and method set — under the node's **sequence number**, written by
//! `submit` in the same transaction as the evaluation it carries and the
//! bump of the persisted counter (so sequence numbers are never reused,
//! whatever crashes). Entries and their transitions are never deleted.
//!
//! This module is the outbox's rules, pure: the state machine ([`next`]),
//! the order in which entries may leave ([`plan_claim`]), retry times
//! ([`retry_delay`], [`is_due`]) and what a receipt must show
//! ([`check_receipt`]). The SQL that stores entries lives in the store
//! (`store::outbox`), which only applies what these allow and records every
//! transition:
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
//! the store writes it **in the same transaction** as the state change.
//! Sending the same envelope again after an interruption is harmless: the
//! hub answers a duplicate with the same receipt.
//!
//! **Order.** Entries are handed out in sequence order and never an entry
//! while an earlier pending entry of the same (unit, year, round) is held
//! back (waiting for its retry time, or still `sending`): the hub decides
//! newer and older by sequence number, so a newer result must never
//! overtake an older one ([`plan_claim`], applied by
//! [`Store::claim_due`](crate::store::Store::claim_due)).
//!
//! **Packs.** An entry computed under a pack that is no longer its year's
//! active pack is never sent: activating a pack supersedes them (in the
//! activation's transaction, [`Store::install_pack`](crate::store::Store::install_pack)),
//! and claiming supersedes any it still finds instead of claiming it.
//! [`Store::reevaluations`](crate::store::Store::reevaluations) lists what
//! must be evaluated again.
//!
//! **Retry times.** A transient failure stores `next_attempt_at` (unix
//! seconds by the node's clock, exponential backoff with jitter:
//! [`retry_delay`]); a restart resumes from it. A time further ahead than
//! [`RETRY_MAX_SECONDS`] means the clock moved back, and the entry is due.

use std::collections::{HashMap, HashSet};
use std::fmt;

use kaohe_proto::model::RejectionCode;
use kaohe_proto::receipt::Receipt;
use kaohe_proto::{Digest, Envelope, PublicKey, ReceiptError};
use kaohe_rulepacks::manifest::Round;
use prost::Message as _;

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

/// Checks a receipt against the entry it should acknowledge: it verifies
/// with the hub key — its batch head and its inclusion in the year's log
/// (revision 5: a receipt outside the log is no receipt) — and names the
/// entry's digest, unit, year and round.
pub fn check_receipt(
    entry: &Entry,
    receipt: &Receipt,
    hub: &PublicKey,
) -> Result<(), ReceiptMismatch> {
    receipt.verify(hub)?;
    receipt.verify_log(hub)?;
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

/// Why an entry of an older (or another) pack is superseded.
pub fn superseded_reason(entry_pack: &str, active: &str) -> String {
    format!(
        "规则包已更新为 {active}，按 {entry_pack} 计算的这份结果作废、不再发送；下次评分或提交时按新版重新评价（superseded: the pack is now {active}; never sent, evaluated again under the new pack）"
    )
}

/// The active pack of each year as claiming sees it: year → (pack id,
/// version).
pub type ActivePacks = HashMap<u16, (String, u32)>;

/// What claiming does with one pending entry ([`plan_claim`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Still `sending` (settled by its outcome); it holds back the later
    /// entries of its unit, year and round.
    InFlight,
    /// Computed under a pack that is no longer its year's active pack:
    /// superseded, never sent; the reason.
    Supersede(String),
    /// Left for later: not yet due, behind a held-back entry of the same
    /// unit, year and round, or beyond the limit.
    Wait,
    /// Sent now.
    Claim,
}

/// The order rules of claiming, pure. `pending` are the `to_send`, `retry`
/// and `sending` entries in sequence order; the answer holds one
/// [`Decision`] per entry, and the earliest retry time among the entries
/// left waiting because they are not yet due. An entry is claimed only if
/// it is due (its retry time has come, unless `respect_retry_time` is
/// false), no earlier pending entry of the same unit, year and round is
/// held back, and fewer than `limit` were claimed before it.
pub fn plan_claim(
    pending: &[Entry],
    active: &ActivePacks,
    now: i64,
    respect_retry_time: bool,
    limit: usize,
) -> (Vec<Decision>, Option<i64>) {
    let mut decisions = Vec::with_capacity(pending.len());
    let mut next_due: Option<i64> = None;
    let mut claimed = 0;
    let mut held: HashSet<(&str, u16, Round)> = HashSet::new();
    for e in pending {
        let subject = (e.unit_id.as_str(), e.year, e.round);
        if e.state == State::Sending {
            held.insert(subject);
            decisions.push(Decision::InFlight);
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
                decisions.push(Decision::Supersede(reason));
                continue;
            }
        }
        let due = !respect_retry_time || is_due(e.next_attempt_at, now);
        if !due || held.contains(&subject) || claimed >= limit {
            if !due && let Some(t) = e.next_attempt_at {
                next_due = Some(next_due.map_or(t, |d| d.min(t)));
            }
            held.insert(subject);
            decisions.push(Decision::Wait);
            continue;
        }
        claimed += 1;
        decisions.push(Decision::Claim);
    }
    (decisions, next_due)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(sequence: u64, unit: &str, state: State, retry_at: Option<i64>, pack: u32) -> Entry {
        let envelope = Envelope {
            payload_type: "application/vnd.kaohe.test".into(),
            payload: sequence.to_le_bytes().to_vec(),
            signatures: Vec::new(),
        };
        Entry {
            sequence,
            evaluation_id: i64::try_from(sequence).unwrap(),
            unit_id: unit.into(),
            year: 2022,
            round: Round::Annual,
            methods: "satisfaction".into(),
            digest: envelope.digest(),
            envelope,
            state,
            attempts: 0,
            last_error: None,
            receipt: None,
            next_attempt_at: retry_at,
            rejection_code: None,
            pack_id: "test".into(),
            pack_version: pack,
        }
    }

    /// The order rules without a database: an entry in flight or waiting
    /// for its retry time holds back the later entries of its unit, year
    /// and round while other units go ahead; an entry of a replaced pack is
    /// superseded; the limit counts only what is claimed.
    #[test]
    fn a_held_back_entry_holds_back_only_its_own_unit_and_round() {
        use Decision::{Claim, InFlight, Wait};
        let active: ActivePacks = HashMap::from([(2022, ("test".to_string(), 2))]);
        let pending = [
            entry(1, "justice", State::Sending, None, 2),
            entry(2, "justice", State::ToSend, None, 2),
            entry(3, "xiaodian", State::Retry, Some(1_100), 2),
            entry(4, "xiaodian", State::ToSend, None, 2),
            entry(5, "zhaozhuang", State::ToSend, None, 1),
            entry(6, "zhaozhuang", State::Retry, Some(900), 2),
            entry(7, "other", State::ToSend, None, 2),
        ];
        let (decisions, next_due) = plan_claim(&pending, &active, 1_000, true, 1);
        let superseded = match &decisions[4] {
            Decision::Supersede(why) => why.clone(),
            other => panic!("#5 under v1 must be superseded, got {other:?}"),
        };
        assert!(
            superseded.contains("test-2022 v1") && superseded.contains("test-2022 v2"),
            "{superseded}"
        );
        assert_eq!(
            decisions,
            vec![
                InFlight,
                Wait,
                Wait,
                Wait,
                Decision::Supersede(superseded),
                Claim,
                Wait
            ]
        );
        assert_eq!(next_due, Some(1_100));
        // Retry times not respected, no limit: everything not in flight or
        // behind it leaves, in sequence order.
        let (decisions, next_due) = plan_claim(&pending, &active, 1_000, false, 10);
        assert_eq!(
            decisions
                .iter()
                .map(|d| matches!(d, Claim))
                .collect::<Vec<_>>(),
            [false, false, true, true, false, true, true]
        );
        assert_eq!(next_due, None);
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
