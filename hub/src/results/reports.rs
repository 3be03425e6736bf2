//! One unit's reports as the hub holds them ([`unit_reports`]): every
//! accepted submission — current or superseded — with the node that signed
//! it, where its receipt sits in the log (batch and leaf), whether it was
//! late, and per method the evidence it carried and the scores the replay
//! confirmed. Reads only; the evidence is decoded from the stored envelope,
//! the bytes that were signed.

use std::collections::BTreeMap;

use kaohe_proto::{Envelope, Submission};
use rusqlite::{Connection, params};

use super::ResultsError;

/// One accepted submission of a unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitReport {
    pub submission_id: i64,
    /// The signing node's key id and registered name.
    pub node_id: String,
    pub node_name: String,
    pub sequence: i64,
    /// `Q1`..`Q4`, `annual`.
    pub round: String,
    pub pack_id: String,
    pub pack_version: u32,
    /// Hub commit time, unix seconds.
    pub committed_at: i64,
    pub late: bool,
    /// The receipt: batch and leaf index, the envelope's digest (hex).
    pub batch_id: i64,
    pub leaf_index: i64,
    pub digest: String,
    /// The submission that replaced it, when it is no longer current.
    pub superseded_by: Option<i64>,
    pub methods: Vec<MethodReport>,
}

/// What one method of a submission carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodReport {
    pub method_id: String,
    /// Field id → hundredths (`None`: not provided).
    pub evidence: BTreeMap<String, Option<i64>>,
    /// Indicator id → score (hundredths).
    pub scores: BTreeMap<String, i64>,
    /// (clause id, amount, reason).
    pub clauses: Vec<(String, i64, String)>,
}

/// Every accepted submission of `unit` in `year`, newest first.
pub fn unit_reports(
    conn: &Connection,
    year: i32,
    unit: &str,
) -> Result<Vec<UnitReport>, ResultsError> {
    let mut stmt = conn.prepare(
        "SELECT s.id, s.node_id, coalesce(n.name, ''), s.sequence, s.round, s.pack_id,
                s.pack_version, s.committed_at, s.late, s.batch_id, s.leaf_index, s.digest,
                s.envelope,
                (SELECT max(r.superseded_by) FROM results r WHERE r.submission_id = s.id)
         FROM submissions s LEFT JOIN nodes n ON n.key_id = s.node_id
         WHERE s.year = ?1 AND s.unit_id = ?2
         ORDER BY s.committed_at DESC, s.id DESC",
    )?;
    let rows = stmt.query_map(params![year, unit], |r| {
        Ok((
            UnitReport {
                submission_id: r.get(0)?,
                node_id: r.get(1)?,
                node_name: r.get(2)?,
                sequence: r.get(3)?,
                round: r.get(4)?,
                pack_id: r.get(5)?,
                pack_version: r.get(6)?,
                committed_at: r.get(7)?,
                late: r.get(8)?,
                batch_id: r.get(9)?,
                leaf_index: r.get(10)?,
                digest: hex::encode(r.get::<_, Vec<u8>>(11)?),
                superseded_by: r.get(13)?,
                methods: Vec::new(),
            },
            r.get::<_, Vec<u8>>(12)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (mut report, envelope) = row?;
        let corrupt = |what: String| {
            ResultsError::Corrupt(format!(
                "上报 {} 的信封（envelope）：{what}",
                report.submission_id
            ))
        };
        let envelope = Envelope::from_protobuf(&envelope).map_err(|e| corrupt(e.to_string()))?;
        let submission =
            Submission::decode(&envelope.payload).map_err(|e| corrupt(e.to_string()))?;
        report.methods = submission
            .methods
            .into_iter()
            .map(|m| MethodReport {
                method_id: m.method_id,
                evidence: m.evidence,
                scores: m.scores,
                clauses: m
                    .clauses
                    .into_iter()
                    .map(|(id, c)| (id, c.amount, c.reason))
                    .collect(),
            })
            .collect();
        out.push(report);
    }
    Ok(out)
}
