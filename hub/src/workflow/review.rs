//! 复核: an objection filed on the assessee's behalf, with its material
//! ([`object`]), and the decision on it ([`decide`]), each within its
//! working-day deadline and refused while the year is approved
//! ([`lock::locked`]).

use jiff::civil::Date;
use kaohe_rulepacks::manifest::Manifest;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::{MAX_MATERIAL_BYTES, WorkflowError, action};
use crate::audit::{self, Actor};
use crate::calendar::{Calendar, beijing_date, format_date_zh};
use crate::lock;

/// One material file of an objection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Material {
    pub file_name: String,
    pub bytes: Vec<u8>,
}

/// A filed objection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filed {
    pub id: i64,
    pub decision_deadline: Date,
    /// (file name, SHA-256 hex, size).
    pub materials: Vec<(String, String, usize)>,
}

/// Records an objection of `unit` on its behalf; see the module docs.
#[allow(
    clippy::too_many_arguments,
    reason = "the store, the calendar and the pack, then the objection's own four parts"
)]
pub fn object(
    conn: &mut Connection,
    cal: &Calendar,
    manifest: &Manifest,
    year: i32,
    unit: &str,
    reason: &str,
    materials: &[Material],
    actor: &Actor,
) -> Result<Filed, WorkflowError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(WorkflowError::Empty {
            what: "异议理由"
        });
    }
    let mut seen = std::collections::BTreeSet::new();
    for m in materials {
        if m.bytes.len() > MAX_MATERIAL_BYTES {
            return Err(WorkflowError::MaterialTooLarge {
                name: m.file_name.clone(),
                size: m.bytes.len(),
            });
        }
        if !seen.insert(m.file_name.as_str()) {
            return Err(WorkflowError::DuplicateMaterial {
                name: m.file_name.clone(),
            });
        }
    }
    let tx = conn.transaction()?;
    if let Some(locked) = lock::locked(&tx, year)? {
        return Err(locked.into());
    }
    let deadline: Option<String> = tx
        .query_row(
            "SELECT review_request_deadline FROM notifications WHERE year = ?1 AND unit_id = ?2",
            params![year, unit],
            |r| r.get(0),
        )
        .optional()?;
    let Some(deadline) = deadline else {
        return Err(WorkflowError::NotNotified { unit: unit.into() });
    };
    let deadline: Date = deadline.parse().map_err(|_| {
        rusqlite::Error::InvalidColumnType(
            0,
            "review_request_deadline".into(),
            rusqlite::types::Type::Text,
        )
    })?;
    let today = beijing_date(actor.at);
    if today > deadline {
        return Err(WorkflowError::ObjectionLate {
            unit: unit.into(),
            deadline: format_date_zh(deadline),
        });
    }
    // After the deadline check: a late request cannot be mended by adding
    // material, so that is what the office is told first.
    if materials.is_empty() {
        return Err(WorkflowError::NoMaterial { unit: unit.into() });
    }
    let decision_deadline = cal.add_working_days(today, manifest.schedule.review_decision_days)?;
    tx.execute(
        "INSERT INTO objections (year, unit_id, reason, filed_at, filed_at_unix, filed_by, decision_deadline)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            year,
            unit,
            reason,
            actor.at.to_string(),
            actor.at.as_second(),
            actor.operator,
            decision_deadline.to_string()
        ],
    )?;
    let id = tx.last_insert_rowid();
    let mut stored = Vec::new();
    for m in materials {
        let sha = hex::encode(Sha256::digest(&m.bytes));
        tx.execute(
            "INSERT INTO objection_materials (objection_id, file_name, sha256, size, content) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, m.file_name, sha, m.bytes.len() as i64, m.bytes],
        )?;
        stored.push((m.file_name.clone(), sha, m.bytes.len()));
    }
    audit::append(
        &tx,
        actor,
        action::OBJECT,
        &format!("{year}/{unit}"),
        &json!({
            "objection": id,
            "reason": reason,
            "decision_deadline": decision_deadline.to_string(),
            "materials": stored.iter().map(|(n, s, z)| json!({"name": n, "sha256": s, "size": z})).collect::<Vec<_>>(),
        }),
    )?;
    tx.commit()?;
    Ok(Filed {
        id,
        decision_deadline,
        materials: stored,
    })
}

/// The decision on an objection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// 维持原结果.
    Upheld,
    /// 更正: the result is replaced by a newer submission.
    Revised,
}

/// What [`decide`] recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decided {
    pub objection: i64,
    /// The submission the revision rests on.
    pub revised_submission: Option<i64>,
}

/// Decides the open objection of `unit`; see the module docs.
pub fn decide(
    conn: &mut Connection,
    year: i32,
    unit: &str,
    decision: Decision,
    reason: Option<&str>,
    actor: &Actor,
) -> Result<Decided, WorkflowError> {
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    let tx = conn.transaction()?;
    if let Some(locked) = lock::locked(&tx, year)? {
        return Err(locked.into());
    }
    let open: Option<(i64, i64, String, String)> = tx
        .query_row(
            "SELECT id, filed_at_unix, filed_at, decision_deadline FROM objections
             WHERE year = ?1 AND unit_id = ?2 AND decision IS NULL ORDER BY id LIMIT 1",
            params![year, unit],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    let Some((id, filed_unix, filed_at, deadline)) = open else {
        return Err(WorkflowError::NoOpenObjection { unit: unit.into() });
    };
    if let Ok(deadline) = deadline.parse::<Date>()
        && beijing_date(actor.at) > deadline
    {
        return Err(WorkflowError::DecisionLate {
            unit: unit.into(),
            deadline: format_date_zh(deadline),
        });
    }
    let revised_submission = match decision {
        Decision::Upheld => None,
        Decision::Revised => {
            let sid: Option<i64> = tx.query_row(
                "SELECT max(s.id) FROM submissions s
                 WHERE s.year = ?1 AND s.unit_id = ?2 AND s.committed_at > ?3
                   AND EXISTS (SELECT 1 FROM results r WHERE r.submission_id = s.id AND r.is_current = 1)",
                params![year, unit, filed_unix],
                |r| r.get(0),
            )?;
            match sid {
                Some(sid) => Some(sid),
                None => {
                    return Err(WorkflowError::NoNewSubmission {
                        unit: unit.into(),
                        filed: filed_at,
                    });
                }
            }
        }
    };
    let kind = match decision {
        Decision::Upheld => "upheld",
        Decision::Revised => "revised",
    };
    tx.execute(
        "UPDATE objections SET decision = ?1, decided_at = ?2, decided_by = ?3, decision_note = ?4,
           revised_submission = ?5 WHERE id = ?6",
        params![
            kind,
            actor.at.to_string(),
            actor.operator,
            reason,
            revised_submission,
            id
        ],
    )?;
    audit::append(
        &tx,
        actor,
        action::DECIDE,
        &format!("{year}/{unit}"),
        &json!({"objection": id, "decision": kind, "reason": reason, "revised_submission": revised_submission}),
    )?;
    tx.commit()?;
    Ok(Decided {
        objection: id,
        revised_submission,
    })
}
