//! The hub's log as this node witnessed it: `log_witnessed` (per year the
//! last checkpoint found consistent) and `log_evidence` (every
//! inconsistency, with both signed checkpoints; never deleted, resolved by
//! an official).

use rusqlite::{OptionalExtension as _, TransactionBehavior, params};

use super::{Actor, Store, StoreError};

/// The last checkpoint of a year's log this node found consistent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Witnessed {
    pub year: u16,
    pub size: u64,
    pub root: [u8; 32],
    /// The signed note as the hub presented it.
    pub checkpoint: String,
    /// When it was checked (the node's clock, RFC 3339).
    pub checked_at: String,
}

/// An inconsistency found in a year's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvidence {
    pub id: i64,
    pub year: u16,
    pub found_at: String,
    /// The checkpoint this node held (signed note).
    pub held: String,
    /// The checkpoint the hub presented (signed note).
    pub presented: String,
    /// The consistency proof the hub gave, hex hashes.
    pub proof: Vec<String>,
    /// What does not hold, in Chinese.
    pub reason: String,
    /// (when, who, why) an official resolved it.
    pub resolved: Option<(String, String, String)>,
}

/// An inconsistency to record.
#[derive(Debug, Clone)]
pub struct NewLogEvidence<'a> {
    pub year: u16,
    pub held: &'a str,
    pub presented: &'a str,
    pub proof: &'a [String],
    pub reason: &'a str,
}

/// Resolving a year's evidence failed.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("{year} 年透明日志没有待处理的不一致证据（no open evidence for the year）")]
    NothingOpen { year: u16 },
    #[error("处理意见（--reason）不能为空（a reason is required）")]
    NoReason,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for ResolveError {
    fn from(e: rusqlite::Error) -> Self {
        ResolveError::Store(StoreError::Sqlite(e))
    }
}

fn evidence_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(LogEvidence, String)> {
    let resolved = match (
        r.get::<_, Option<String>>(7)?,
        r.get::<_, Option<String>>(8)?,
        r.get::<_, Option<String>>(9)?,
    ) {
        (Some(at), Some(by), Some(why)) => Some((at, by, why)),
        _ => None,
    };
    Ok((
        LogEvidence {
            id: r.get(0)?,
            year: r.get(1)?,
            found_at: r.get(2)?,
            held: r.get(3)?,
            presented: r.get(4)?,
            proof: Vec::new(),
            reason: r.get(6)?,
            resolved,
        },
        r.get(5)?,
    ))
}

const EVIDENCE_COLUMNS: &str =
    "id, year, found_at, held, presented, proof, reason, resolved_at, resolved_by, resolution";

impl Store {
    /// The last consistent checkpoint of `year`'s log, if any.
    pub fn witnessed(&self, year: u16) -> Result<Option<Witnessed>, StoreError> {
        let row = self
            .conn
            .query_row(
                "SELECT year, size, root, checkpoint, checked_at FROM log_witnessed WHERE year = ?1",
                [year],
                |r| {
                    Ok((
                        r.get::<_, u16>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, Vec<u8>>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                    ))
                },
            )
            .optional()?;
        row.map(|(year, size, root, checkpoint, checked_at)| {
            Ok(Witnessed {
                year,
                size: u64::try_from(size)
                    .map_err(|_| StoreError::Corrupt(format!("log_witnessed {year}: size")))?,
                root: root
                    .as_slice()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt(format!("log_witnessed {year}: root")))?,
                checkpoint,
                checked_at,
            })
        })
        .transpose()
    }

    /// Every year with a witnessed checkpoint.
    pub fn witnessed_years(&self) -> Result<Vec<u16>, StoreError> {
        Ok(self
            .conn
            .prepare("SELECT year FROM log_witnessed ORDER BY year")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?)
    }

    /// Keeps `w` as the year's last consistent checkpoint.
    pub fn record_witnessed(&mut self, w: &Witnessed) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO log_witnessed (year, size, root, checkpoint, checked_at)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (year) DO UPDATE SET size = excluded.size, root = excluded.root,
                 checkpoint = excluded.checkpoint, checked_at = excluded.checked_at",
            params![
                w.year,
                i64::try_from(w.size).unwrap_or(i64::MAX),
                w.root.as_slice(),
                w.checkpoint,
                w.checked_at
            ],
        )?;
        Ok(())
    }

    /// Records an inconsistency, unless the same one (same checkpoints) is
    /// already open; returns its id.
    pub fn record_log_evidence(
        &mut self,
        e: &NewLogEvidence<'_>,
        at: &str,
    ) -> Result<i64, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let open: Option<i64> = tx
            .query_row(
                "SELECT id FROM log_evidence
                 WHERE year = ?1 AND held = ?2 AND presented = ?3 AND resolved_at IS NULL",
                params![e.year, e.held, e.presented],
                |r| r.get(0),
            )
            .optional()?;
        let id = match open {
            Some(id) => id,
            None => {
                let proof = serde_json::to_string(e.proof)
                    .map_err(|err| StoreError::Corrupt(err.to_string()))?;
                tx.execute(
                    "INSERT INTO log_evidence (year, found_at, held, presented, proof, reason)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![e.year, at, e.held, e.presented, proof, e.reason],
                )?;
                tx.last_insert_rowid()
            }
        };
        tx.commit()?;
        Ok(id)
    }

    /// Every inconsistency, open ones first, then by id.
    pub fn log_evidence(&self) -> Result<Vec<LogEvidence>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {EVIDENCE_COLUMNS} FROM log_evidence ORDER BY resolved_at IS NOT NULL, id"
        ))?;
        let rows = stmt.query_map([], evidence_row)?;
        let mut out = Vec::new();
        for row in rows {
            let (mut e, proof) = row?;
            e.proof = serde_json::from_str(&proof)
                .map_err(|err| StoreError::Corrupt(format!("log_evidence {}: {err}", e.id)))?;
            out.push(e);
        }
        Ok(out)
    }

    /// The inconsistencies no official has resolved yet.
    pub fn open_log_evidence(&self) -> Result<Vec<LogEvidence>, StoreError> {
        Ok(self
            .log_evidence()?
            .into_iter()
            .filter(|e| e.resolved.is_none())
            .collect())
    }

    /// An official resolves the year's open evidence, after looking into
    /// it: each is marked with who, when and why (never deleted), and the
    /// checkpoint the hub last presented becomes the year's witnessed one,
    /// so the next sync checks consistency from there.
    pub fn resolve_log_evidence(
        &mut self,
        year: u16,
        adopt: &Witnessed,
        actor: &Actor,
        reason: &str,
    ) -> Result<usize, ResolveError> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(ResolveError::NoReason);
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n = tx.execute(
            "UPDATE log_evidence SET resolved_at = ?2, resolved_by = ?3, resolution = ?4
             WHERE year = ?1 AND resolved_at IS NULL",
            params![year, actor.at.to_string(), actor.operator, reason],
        )?;
        if n == 0 {
            return Err(ResolveError::NothingOpen { year });
        }
        tx.execute(
            "INSERT INTO log_witnessed (year, size, root, checkpoint, checked_at)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (year) DO UPDATE SET size = excluded.size, root = excluded.root,
                 checkpoint = excluded.checkpoint, checked_at = excluded.checked_at",
            params![
                year,
                i64::try_from(adopt.size).unwrap_or(i64::MAX),
                adopt.root.as_slice(),
                adopt.checkpoint,
                actor.at.to_string()
            ],
        )?;
        tx.commit()?;
        Ok(n)
    }
}
