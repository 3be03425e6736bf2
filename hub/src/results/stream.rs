//! A year's current results read from the database: all at once
//! ([`load_results_keeping`]) or a unit at a time in unit order
//! ([`Stored::units`], through the `results_by_unit` index), so that
//! consolidating a national year holds only a batch of units' results
//! (issue #17).

use std::collections::{BTreeMap, BTreeSet};

use kaohe_rulepacks::manifest::Round;
use rusqlite::{Connection, Row, params};

use super::ResultsError;
use super::rulings::{self, Ruling};
use crate::consolidate::AcceptedResult;
use crate::db::result_columns;

/// Where a year's current results are read from when it is consolidated:
/// its pack version, the evidence fields kept and the rulings in force.
#[derive(Debug, Clone)]
pub struct Stored {
    pub year: i32,
    pub pack_id: String,
    pub version: u32,
    /// The evidence fields a loss reason names ([`load_results_keeping`]).
    pub evidence: BTreeSet<String>,
    /// The rulings in force, by unit.
    pub rulings: BTreeMap<String, Vec<Ruling>>,
}

const SELECT: &str = "SELECT r.submission_id, r.method_id, r.node_id, r.unit_id, r.round, r.late,
        s.committed_at, r.scores, r.clauses, r.not_applicable, r.evidence";

impl Stored {
    /// Runs `f` over the year's current results a unit at a time, units in
    /// id order (each unit's results with the rulings applied), as
    /// [`consolidate_units`](crate::consolidate::consolidate_units) takes
    /// them. A read error stops the units and is returned after `f`.
    ///
    /// The rows are read on this thread through `conn`, so they belong to
    /// whatever read the caller holds `conn` in (one transaction for a
    /// whole year: [`consolidate_year_with`](super::consolidate_year_with));
    /// `f` runs on a second thread, behind the reading by a bounded number
    /// of units, so reading and consolidating use both cores.
    pub fn units<T: Send>(
        &self,
        conn: &Connection,
        f: impl FnOnce(&mut dyn Iterator<Item = Vec<AcceptedResult>>) -> T + Send,
    ) -> Result<T, ResultsError> {
        std::thread::scope(|s| {
            // Units go over in chunks: a hand-over per unit cost a thread
            // wake-up per unit (an eighth of the CPU time).
            let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Vec<AcceptedResult>>>(
                READ_AHEAD_UNITS / UNITS_PER_CHUNK,
            );
            let consolidating = s.spawn(move || f(&mut rx.into_iter().flatten()));
            let read = self.read(conn, |units| {
                loop {
                    let chunk: Vec<_> = units.by_ref().take(UNITS_PER_CHUNK).collect();
                    // Done, or `f` stopped early.
                    if chunk.is_empty() || tx.send(chunk).is_err() {
                        return;
                    }
                }
            });
            // The units end here for `f`, read in full or stopped by an error.
            drop(tx);
            let out = match consolidating.join() {
                Ok(out) => out,
                Err(panic) => std::panic::resume_unwind(panic),
            };
            read.map(|()| out)
        })
    }

    /// [`Stored::units`] on this thread.
    fn read<T>(
        &self,
        conn: &Connection,
        f: impl FnOnce(&mut Units<'_, '_>) -> T,
    ) -> Result<T, ResultsError> {
        let mut stmt = conn.prepare(&format!(
            "{SELECT}
             FROM results r INDEXED BY results_by_unit JOIN submissions s ON s.id = r.submission_id
             WHERE r.year = ?1 AND r.is_current = 1 AND r.pack_id = ?2 AND r.pack_version = ?3
             ORDER BY r.unit_id"
        ))?;
        let rows = stmt.query(params![self.year, self.pack_id, self.version])?;
        let mut units = Units {
            rows,
            stored: self,
            pending: None,
            error: None,
        };
        let out = f(&mut units);
        match units.error {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }
}

/// Units read ahead of the consolidation ([`Stored::units`]).
const READ_AHEAD_UNITS: usize = 256;

/// Units handed to the consolidating thread at a time ([`Stored::units`]).
const UNITS_PER_CHUNK: usize = 32;

/// The year's results of one unit after another ([`Stored::units`]).
pub struct Units<'s, 'd> {
    rows: rusqlite::Rows<'s>,
    stored: &'d Stored,
    pending: Option<AcceptedResult>,
    error: Option<ResultsError>,
}

impl Units<'_, '_> {
    fn read(&mut self) -> Option<AcceptedResult> {
        if self.error.is_some() {
            return None;
        }
        let row = match self.rows.next() {
            Ok(Some(row)) => read_row(row, Some(&self.stored.evidence)),
            Ok(None) => return None,
            Err(e) => Err(e.into()),
        };
        row.map_err(|e| self.error = Some(e)).ok()
    }
}

impl Iterator for Units<'_, '_> {
    type Item = Vec<AcceptedResult>;

    fn next(&mut self) -> Option<Vec<AcceptedResult>> {
        let first = match self.pending.take() {
            Some(r) => r,
            None => self.read()?,
        };
        let mut unit = vec![first];
        while let Some(r) = self.read() {
            if r.unit_id != unit[0].unit_id {
                self.pending = Some(r);
                break;
            }
            unit.push(r);
        }
        if let Some(rulings) = self.stored.rulings.get(&unit[0].unit_id) {
            rulings::apply(rulings, &mut unit);
        }
        Some(unit)
    }
}

/// The current accepted per-method results of `year` computed under
/// version `version` of `pack_id` (older versions' are
/// [`awaiting_reevaluation`](super::awaiting_reevaluation)), with all their
/// evidence.
pub fn load_results(
    conn: &Connection,
    year: i32,
    pack_id: &str,
    version: u32,
) -> Result<Vec<AcceptedResult>, ResultsError> {
    load_results_keeping(conn, year, pack_id, version, None)
}

/// [`load_results`], keeping of each result's evidence only the fields in
/// `evidence` when given: a year's evidence is most of what its results
/// weigh, and a consolidation reads back only the fields a loss reason
/// names ([`Manifest::reason_fields`](kaohe_rulepacks::manifest::Manifest::reason_fields)).
/// A result stored with evidence keeps `Some` (perhaps empty), one stored
/// without keeps `None`, so a reason is rendered exactly as from the whole
/// evidence.
pub fn load_results_keeping(
    conn: &Connection,
    year: i32,
    pack_id: &str,
    version: u32,
    evidence: Option<&BTreeSet<String>>,
) -> Result<Vec<AcceptedResult>, ResultsError> {
    let mut out = Vec::new();
    let mut stmt = conn.prepare(&format!(
        "{SELECT}
         FROM results r JOIN submissions s ON s.id = r.submission_id
         WHERE r.year = ?1 AND r.pack_id = ?2 AND r.pack_version = ?3 AND r.is_current = 1
         ORDER BY r.submission_id, r.method_id"
    ))?;
    let mut rows = stmt.query(params![year, pack_id, version])?;
    while let Some(r) = rows.next()? {
        out.push(read_row(r, evidence)?);
    }
    Ok(out)
}

/// One row of [`SELECT`].
fn read_row(
    r: &Row<'_>,
    evidence: Option<&BTreeSet<String>>,
) -> Result<AcceptedResult, ResultsError> {
    let sid: i64 = r.get(0)?;
    let method_id: String = r.get(1)?;
    // The JSON columns are parsed where SQLite holds them, not copied.
    let json = |i: usize| -> Result<Option<&str>, ResultsError> {
        Ok(r.get_ref(i)?
            .as_str_or_null()
            .map_err(rusqlite::Error::from)?)
    };
    let round: &str = r.get_ref(4)?.as_str().map_err(rusqlite::Error::from)?;
    let round = Round::from_id(round)
        .ok_or_else(|| ResultsError::Corrupt(format!("上报 {sid} 的轮次 {round} 无效")))?;
    let corrupt = |what: &str, e: serde_json::Error| {
        ResultsError::Corrupt(format!("上报 {sid} 方法 {method_id} 的{what}：{e}"))
    };
    let scores = result_columns::parse_scores(json(7)?.unwrap_or_default())
        .map_err(|e| corrupt("指标得分（scores）", e))?;
    let clauses = result_columns::parse_clause_amounts(json(8)?.unwrap_or_default())
        .map_err(|e| corrupt("扣分条款（clauses）", e))?;
    let not_applicable = result_columns::parse_marks(json(9)?.unwrap_or_default())
        .map_err(|e| corrupt("不适用标记（not_applicable）", e))?;
    let evidence = json(10)?
        .map(|json| match evidence {
            Some(keep) => result_columns::parse_evidence_keeping(json, |f| keep.contains(f)),
            None => result_columns::parse_evidence(json),
        })
        .transpose()
        .map_err(|e| corrupt("证据（evidence）", e))?;
    Ok(AcceptedResult {
        unit_id: r.get(3)?,
        round,
        node_id: r.get(2)?,
        method_id,
        scores,
        clauses,
        not_applicable,
        evidence,
        late: r.get(5)?,
        received_at: r.get(6)?,
    })
}
