//! The rulings (裁定) recorded for a year, read: which are in force and
//! what they drop from the year's results before consolidation. Recording
//! one is a workflow act ([`crate::workflow::ruling::rule`]); this is the
//! part consolidation needs, so results never reach into the workflow.

use kaohe_rulepacks::manifest::Round;
use rusqlite::Connection;

use crate::consolidate::AcceptedResult;

/// A recorded ruling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ruling {
    pub seq: i64,
    pub year: i32,
    pub unit_id: String,
    pub round: Round,
    pub method_id: String,
    /// The node (its id) whose report stands.
    pub node_id: String,
    /// The chosen node's report when the ruling was made.
    pub submission_id: i64,
    pub reason: String,
    /// RFC 3339, the hub's time of the act.
    pub decided_at: String,
    pub operator: String,
}

/// The rulings in force for `year`: the latest of each slot.
pub fn in_force(conn: &Connection, year: i32) -> rusqlite::Result<Vec<Ruling>> {
    let mut stmt = conn.prepare(
        "SELECT seq, unit_id, round, method_id, node_id, submission_id, reason, decided_at, operator
         FROM rulings r WHERE year = ?1
           AND seq = (SELECT max(seq) FROM rulings x WHERE x.year = r.year AND x.unit_id = r.unit_id
                        AND x.round = r.round AND x.method_id = r.method_id)
         ORDER BY unit_id, round, method_id",
    )?;
    let rows = stmt.query_map([year], |r| {
        let round: String = r.get(2)?;
        Ok(Ruling {
            seq: r.get(0)?,
            year,
            unit_id: r.get(1)?,
            round: Round::from_id(&round).ok_or_else(|| {
                rusqlite::Error::InvalidColumnType(2, "round".into(), rusqlite::types::Type::Text)
            })?,
            method_id: r.get(3)?,
            node_id: r.get(4)?,
            submission_id: r.get(5)?,
            reason: r.get(6)?,
            decided_at: r.get(7)?,
            operator: r.get(8)?,
        })
    })?;
    rows.collect()
}

/// Drops, for every ruled slot, the results of the nodes the ruling did
/// not choose — as long as the chosen node still has its result there
/// (results are never deleted, so it has; the check keeps a damaged
/// database from losing both).
pub fn apply(rulings: &[Ruling], results: &mut Vec<AcceptedResult>) {
    for ruling in rulings {
        let in_slot = |r: &AcceptedResult| {
            r.unit_id == ruling.unit_id
                && r.round == ruling.round
                && r.method_id == ruling.method_id
        };
        let chosen_present = results
            .iter()
            .any(|r| in_slot(r) && r.node_id == ruling.node_id);
        if chosen_present {
            results.retain(|r| !in_slot(r) || r.node_id == ruling.node_id);
        }
    }
}
