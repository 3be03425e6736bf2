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
//!                       │  │ ──rejected(reason)────▶ rejected
//!   retry ◀──failed─────┘  │
//!   retry ◀──interrupted───┘   (the node stopped while sending)
//!   retry ──claim──▶ sending
//! ```
//!
//! `accepted` requires a receipt that verified against the hub key and
//! names this entry's digest, unit, year and round ([`check_receipt`]); it is
//! stored with the entry. Sending the same envelope again after an
//! interruption is harmless: the hub answers a duplicate with the same
//! receipt.
//!
//! The delivery loop (`deliver.rs`, a gRPC client) is not written yet; it
//! will `claim`, send, and `record` each outcome.

use std::fmt;

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
        _ => Err(TransitionError { from, event }),
    }
}

impl State {
    pub const ALL: [State; 5] = [
        State::ToSend,
        State::Sending,
        State::Accepted,
        State::Rejected,
        State::Retry,
    ];

    pub fn id(self) -> &'static str {
        match self {
            State::ToSend => "to_send",
            State::Sending => "sending",
            State::Accepted => "accepted",
            State::Rejected => "rejected",
            State::Retry => "retry",
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
}

/// A delivery outcome to record.
#[derive(Debug, Clone)]
pub enum Outcome<'a> {
    /// The hub's receipt; checked with [`check_receipt`] before it is stored.
    Accepted {
        receipt: &'a Receipt,
        hub: &'a PublicKey,
    },
    /// A permanent refusal, with the hub's reason.
    Rejected { reason: String },
    /// A transient failure.
    Failed { reason: String },
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
}

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

const ENTRY_COLUMNS: &str =
    "sequence, evaluation_id, unit_id, year, round, methods, digest, payload_type, payload,
     key_id, signature, state, attempts, last_error, receipt";

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
    /// sequence order, and returns them.
    pub fn claim(&mut self, limit: usize, at: &jiff::Timestamp) -> Result<Vec<Entry>, StoreError> {
        let at = at.to_string();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let entries = {
            let mut stmt = tx.prepare(&format!(
                "SELECT {ENTRY_COLUMNS} FROM outbox WHERE state IN ('to_send', 'retry')
                 ORDER BY sequence LIMIT ?1"
            ))?;
            let rows = stmt.query_map([i64::try_from(limit).unwrap_or(i64::MAX)], raw_entry)?;
            rows.collect::<Result<Vec<_>, _>>()?
        };
        let mut out = Vec::with_capacity(entries.len());
        for raw in entries {
            let mut e = entry(raw)?;
            let to = next(e.state, Event::Claim).map_err(|t| StoreError::Corrupt(t.to_string()))?;
            tx.execute(
                "UPDATE outbox SET state = ?1, attempts = attempts + 1, updated_at = ?2 WHERE sequence = ?3",
                params![to.id(), at, sql_u64(e.sequence)?],
            )?;
            transition(&tx, e.sequence, Some(e.state), to, &at, "claim")?;
            e.state = to;
            e.attempts += 1;
            out.push(e);
        }
        tx.commit()?;
        Ok(out)
    }

    /// Records the outcome of sending entry `sequence`.
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
        let raw = tx
            .query_row(
                &format!("SELECT {ENTRY_COLUMNS} FROM outbox WHERE sequence = ?1"),
                [sql_u64(sequence)?],
                raw_entry,
            )
            .optional()?
            .ok_or(RecordError::NotFound(sequence))?;
        let e = entry(raw)?;
        let (event, detail, receipt) = match outcome {
            Outcome::Accepted { receipt, hub } => {
                check_receipt(&e, receipt, hub)?;
                let bytes = kaohe_proto::pb::Receipt::from((*receipt).clone()).encode_to_vec();
                (Event::Accepted, "receipt verified".to_string(), Some(bytes))
            }
            Outcome::Rejected { reason } => (Event::Rejected, reason.clone(), None),
            Outcome::Failed { reason } => (Event::Failed, reason.clone(), None),
        };
        let to = next(e.state, event)?;
        let last_error = match event {
            Event::Accepted => None,
            _ => Some(detail.clone()),
        };
        tx.execute(
            "UPDATE outbox SET state = ?1, last_error = ?2, receipt = ?3, updated_at = ?4 WHERE sequence = ?5",
            params![to.id(), last_error, receipt, at, sql_u64(sequence)?],
        )?;
        transition(&tx, sequence, Some(e.state), to, &at, &detail)?;
        tx.commit()?;
        Ok(to)
    }

    /// After a restart: every `sending` entry becomes `retry` (whether the
    /// hub got it is unknown; sending it again is harmless). Returns how many.
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
                "UPDATE outbox SET state = ?1, updated_at = ?2 WHERE sequence = ?3",
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
            "SELECT {ENTRY_COLUMNS} FROM outbox WHERE (?1 IS NULL OR state = ?1) ORDER BY sequence"
        ))?;
        let rows = stmt.query_map([state.map(State::id)], raw_entry)?;
        rows.map(|r| entry(r?)).collect()
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
                None => return Err(StoreError::Corrupt(format!("outbox state {s:?}"))),
            }
        }
        Ok(c)
    }
}

type RawEntry = (
    u64,
    i64,
    String,
    u16,
    String,
    String,
    Vec<u8>,
    String,
    Vec<u8>,
    String,
    Vec<u8>,
    String,
    u32,
    Option<String>,
    Option<Vec<u8>>,
);

fn raw_entry(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawEntry> {
    Ok((
        get_u64(r, 0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
        r.get(11)?,
        r.get(12)?,
        r.get(13)?,
        r.get(14)?,
    ))
}

fn entry(raw: RawEntry) -> Result<Entry, StoreError> {
    let (
        sequence,
        evaluation_id,
        unit_id,
        year,
        round,
        methods,
        digest,
        payload_type,
        payload,
        key_id,
        sig,
        state,
        attempts,
        last_error,
        receipt,
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
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_machine_allows_exactly_the_documented_transitions() {
        let mut allowed = Vec::new();
        for s in State::ALL {
            for e in [
                Event::Claim,
                Event::Accepted,
                Event::Rejected,
                Event::Failed,
                Event::Interrupted,
            ] {
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
                (S::Sending, E::Accepted, S::Accepted),
                (S::Sending, E::Rejected, S::Rejected),
                (S::Sending, E::Failed, S::Retry),
                (S::Sending, E::Interrupted, S::Retry),
                (S::Retry, E::Claim, S::Sending),
            ]
        );
        // Terminal states stay terminal: nothing accepted is ever resent.
        assert!(next(S::Accepted, E::Claim).is_err());
        assert!(next(S::Rejected, E::Claim).is_err());
    }
}
