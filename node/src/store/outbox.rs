//! The outbox's tables: `outbox` (one signed envelope per entry) and the
//! append-only `outbox_transitions`. Every change of state goes through
//! [`crate::outbox::next`] and is recorded as a transition; the order in
//! which entries leave is [`crate::outbox::plan_claim`]'s.

use kaohe_proto::model::RejectionCode;
use kaohe_proto::{Digest, Envelope, KeyId};
use kaohe_rulepacks::manifest::Round;
use prost::Message as _;
use rusqlite::{OptionalExtension as _, TransactionBehavior, params};

use super::{Store, StoreError, get_u64, parse_round, sql_u64};
use crate::outbox::{
    ActivePacks, Decision, Entry, Event, Outcome, ReceiptMismatch, State, TransitionError,
    check_receipt, next, plan_claim, superseded_reason,
};

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

/// A recorded transition: from (none for the first), to, when, why.
pub type Transition = (Option<State>, State, String, String);

/// A new entry, written by [`Queue::push`](super::Queue::push) inside a
/// submit's transaction.
#[derive(Debug, Clone)]
pub(super) struct NewEntry<'a> {
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
pub(super) fn insert(tx: &rusqlite::Transaction<'_>, e: &NewEntry<'_>) -> rusqlite::Result<()> {
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

/// Supersedes every unsent entry (`to_send`, `retry`) of `active.year`
/// computed under another pack than `active` (inside the activation's
/// transaction). Returns their sequence numbers.
pub(super) fn supersede_other_packs(
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
        let active: ActivePacks = {
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
            rows.map(|r| entry(r?)).collect::<Result<Vec<_>, _>>()?
        };
        let (decisions, next_due) = plan_claim(&pending, &active, now, respect_retry_time, limit);
        let mut claim = Claim {
            next_due,
            ..Claim::default()
        };
        for (mut e, decision) in pending.into_iter().zip(decisions) {
            match decision {
                Decision::InFlight => {}
                Decision::Wait => claim.waiting += 1,
                Decision::Supersede(reason) => {
                    apply_supersede(&tx, e.sequence, e.state, &reason, &at)?;
                    claim.superseded.push((e.sequence, reason));
                }
                Decision::Claim => {
                    let to = next(e.state, Event::Claim)
                        .map_err(|t| StoreError::Corrupt(t.to_string()))?;
                    tx.execute(
                        "UPDATE outbox SET state = ?1, attempts = attempts + 1, updated_at = ?2 WHERE sequence = ?3",
                        params![to.id(), at, sql_u64(e.sequence)?],
                    )?;
                    transition(&tx, e.sequence, Some(e.state), to, &at, "claim")?;
                    e.state = to;
                    e.attempts += 1;
                    claim.entries.push(e);
                }
            }
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
mod tests;
