//! What the review desk reads: the feedback notices sent, the objections
//! with their materials and decisions ([`objections`]), and one material
//! file's bytes for download ([`material`]). Reads only.

use rusqlite::{Connection, OptionalExtension, params};

/// A feedback notice as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeSent {
    pub unit_id: String,
    /// ISO dates (`2024-01-31`).
    pub notified_on: String,
    pub verification_deadline: String,
    pub review_request_deadline: String,
    pub operator: String,
}

/// One objection with what was decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectionRecord {
    pub id: i64,
    pub unit_id: String,
    pub reason: String,
    /// RFC 3339.
    pub filed_at: String,
    pub filed_by: String,
    /// ISO date.
    pub decision_deadline: String,
    /// `upheld` / `revised`, when decided.
    pub decision: Option<String>,
    pub decided_at: Option<String>,
    pub decided_by: Option<String>,
    pub decision_note: Option<String>,
    /// (file name, SHA-256 hex, size).
    pub materials: Vec<(String, String, i64)>,
}

impl ObjectionRecord {
    /// 维持 / 更正 / 待决定.
    pub fn decision_zh(&self) -> &'static str {
        match self.decision.as_deref() {
            Some("upheld") => "维持原结果",
            Some("revised") => "更正",
            _ => "待决定",
        }
    }
}

/// The year's feedback notices, by unit.
pub fn notices(conn: &Connection, year: i32) -> rusqlite::Result<Vec<NoticeSent>> {
    let mut stmt = conn.prepare(
        "SELECT unit_id, notified_on, verification_deadline, review_request_deadline, operator
         FROM notifications WHERE year = ?1 ORDER BY unit_id",
    )?;
    let rows = stmt.query_map([year], |r| {
        Ok(NoticeSent {
            unit_id: r.get(0)?,
            notified_on: r.get(1)?,
            verification_deadline: r.get(2)?,
            review_request_deadline: r.get(3)?,
            operator: r.get(4)?,
        })
    })?;
    rows.collect()
}

/// The year's objections, open ones first, then by filing order; `unit`
/// narrows to one unit.
pub fn objections(
    conn: &Connection,
    year: i32,
    unit: Option<&str>,
) -> rusqlite::Result<Vec<ObjectionRecord>> {
    let mut stmt = conn.prepare(
        "SELECT id, unit_id, reason, filed_at, filed_by, decision_deadline, decision, decided_at,
                decided_by, decision_note
         FROM objections WHERE year = ?1 AND (?2 IS NULL OR unit_id = ?2)
         ORDER BY decision IS NOT NULL, id",
    )?;
    let mut out: Vec<ObjectionRecord> = stmt
        .query_map(params![year, unit], |r| {
            Ok(ObjectionRecord {
                id: r.get(0)?,
                unit_id: r.get(1)?,
                reason: r.get(2)?,
                filed_at: r.get(3)?,
                filed_by: r.get(4)?,
                decision_deadline: r.get(5)?,
                decision: r.get(6)?,
                decided_at: r.get(7)?,
                decided_by: r.get(8)?,
                decision_note: r.get(9)?,
                materials: Vec::new(),
            })
        })?
        .collect::<Result<_, _>>()?;
    let mut stmt = conn.prepare(
        "SELECT file_name, sha256, size FROM objection_materials WHERE objection_id = ?1 ORDER BY file_name",
    )?;
    for o in &mut out {
        o.materials = stmt
            .query_map([o.id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
    }
    Ok(out)
}

/// The bytes of one material file of an objection.
pub fn material(
    conn: &Connection,
    objection: i64,
    file_name: &str,
) -> rusqlite::Result<Option<Vec<u8>>> {
    conn.query_row(
        "SELECT content FROM objection_materials WHERE objection_id = ?1 AND file_name = ?2",
        params![objection, file_name],
        |r| r.get(0),
    )
    .optional()
}
