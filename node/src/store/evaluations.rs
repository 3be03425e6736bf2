//! Evaluations: `evaluations` (what was signed, under which pack, from
//! which evidence; never deleted) and the `sequence` counter. A submit
//! writes evaluations, their outbox entries and the counter in one
//! transaction ([`Queue`]), so a sequence number is never used twice
//! whatever crashes.

use std::collections::{BTreeMap, HashSet};

use kaohe_proto::model::RejectionCode;
use kaohe_proto::{Envelope, PackIdentity, Signature};
use kaohe_rulepacks::manifest::Round;
use rusqlite::{OptionalExtension as _, Transaction, TransactionBehavior, params};

use super::outbox::{NewEntry, insert};
use super::{Actor, Store, StoreError, get_u64, parse_round, sql_u64};
use crate::outbox::State;

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

/// An evaluation to store with its signed envelope ([`Queue::push`]).
#[derive(Debug, Clone)]
pub struct NewEvaluation<'a> {
    pub unit_id: &'a str,
    pub round: Round,
    /// Method ids, comma-separated, manifest order.
    pub methods: &'a str,
    /// The pack it was computed under (its year is the evaluation's).
    pub pack: &'a PackIdentity,
    /// The evidence passed, as JSON.
    pub evidence: &'a str,
    /// Scores and fired clauses, as JSON.
    pub result: &'a str,
    /// What identifies an unchanged evaluation: pack, unit, round,
    /// methods, evidence and result.
    pub content_sha256: &'a [u8; 32],
    pub actor: &'a Actor,
}

/// One submit's transaction: evaluations, their outbox entries and the
/// sequence counter are written together or not at all (dropped without
/// [`Queue::commit`]: nothing is written).
pub struct Queue<'a> {
    tx: Transaction<'a>,
    /// The last sequence number used so far.
    sequence: u64,
}

impl Store {
    /// The last sequence number used (0 before the first submission).
    pub fn last_sequence(&self) -> Result<u64, StoreError> {
        Ok(self.conn.query_row(
            "SELECT value FROM counters WHERE name = 'sequence'",
            [],
            |r| get_u64(r, 0),
        )?)
    }

    /// Begins a submit's transaction (see [`Queue`]).
    pub fn queue(&mut self) -> Result<Queue<'_>, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let sequence: u64 = tx.query_row(
            "SELECT value FROM counters WHERE name = 'sequence'",
            [],
            |r| get_u64(r, 0),
        )?;
        Ok(Queue { tx, sequence })
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

impl Queue<'_> {
    /// The sequence number the next [`Queue::push`] uses.
    pub fn next_sequence(&self) -> u64 {
        self.sequence + 1
    }

    /// The content digest of the latest evaluation of this unit, year,
    /// round and method set whose entry still counts (not refused, not
    /// superseded).
    pub fn last_content(
        &self,
        unit_id: &str,
        year: u16,
        round: Round,
        methods: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .tx
            .query_row(
                "SELECT e.content_sha256 FROM evaluations e JOIN outbox o ON o.evaluation_id = e.id
                 WHERE e.unit_id = ?1 AND e.year = ?2 AND e.round = ?3 AND e.methods = ?4
                   AND o.state NOT IN ('rejected', 'superseded')
                 ORDER BY e.id DESC LIMIT 1",
                params![unit_id, year, round.id(), methods],
                |row| row.get(0),
            )
            .optional()?)
    }

    /// Stores `evaluation` and its envelope, signed by the node with
    /// `signature`, as outbox entry [`Queue::next_sequence`] in state
    /// `to_send`; returns that sequence number.
    pub fn push(
        &mut self,
        evaluation: &NewEvaluation<'_>,
        envelope: &Envelope,
        signature: &Signature,
    ) -> Result<u64, StoreError> {
        let e = evaluation;
        let sequence = self.next_sequence();
        let at = e.actor.at.to_string();
        self.tx.execute(
            "INSERT INTO evaluations (unit_id, year, round, methods, pack_id, pack_year, pack_version,
                                      evidence, result, content_sha256, evaluated_at, evaluated_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                e.unit_id,
                e.pack.year,
                e.round.id(),
                e.methods,
                e.pack.id,
                e.pack.year,
                e.pack.version,
                e.evidence,
                e.result,
                e.content_sha256.as_slice(),
                at,
                e.actor.operator,
            ],
        )?;
        let evaluation_id = self.tx.last_insert_rowid();
        insert(
            &self.tx,
            &NewEntry {
                sequence,
                evaluation_id,
                unit_id: e.unit_id,
                year: e.pack.year,
                round: e.round,
                methods: e.methods,
                envelope,
                signature,
                at: &at,
            },
        )?;
        self.sequence = sequence;
        Ok(sequence)
    }

    /// Writes the counter and commits everything pushed.
    pub fn commit(self) -> Result<(), StoreError> {
        self.tx.execute(
            "UPDATE counters SET value = ?1 WHERE name = 'sequence'",
            [sql_u64(self.sequence)?],
        )?;
        self.tx.commit()?;
        Ok(())
    }
}
