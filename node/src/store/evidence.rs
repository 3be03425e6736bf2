//! Evidence: `evidence`, `evidence_sources` and the append-only
//! `evidence_history`. A batch of changes is written in one transaction,
//! every change recorded with its source (operator, time, file).

use std::collections::BTreeMap;

use kaohe_rulepacks::manifest::Round;
use rusqlite::{TransactionBehavior, params};

use super::cells::{CellWriter, Cells};
use super::{Actor, MarkWrite, Store, StoreError, parse_round};

const EVIDENCE: Cells = Cells {
    table: "evidence",
    history: "evidence_history",
    key: "field_id",
    value: "value",
    old: "old_value",
    new: "new_value",
};

/// How often (in written rows) [`Store::apply_evidence`] reports progress.
pub const PROGRESS_EVERY: usize = 500;

/// A stored evidence value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceRow {
    pub unit_id: String,
    pub round: Round,
    pub field_id: String,
    /// ABI-encoded.
    pub value: i64,
    /// Who wrote it last.
    pub operator: String,
    /// When (RFC 3339, UTC).
    pub at: String,
}

/// One change to make: `value: None` removes the stored value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceWrite {
    pub unit_id: String,
    pub round: Round,
    pub field_id: String,
    pub value: Option<i64>,
}

/// Where a batch of changes came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    /// `kaohe node import FILE`.
    Import { file_name: String, sha256: [u8; 32] },
    /// `kaohe node set`.
    Set,
}

/// What [`Store::apply_evidence`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ApplySummary {
    pub added: usize,
    pub changed: usize,
    pub removed: usize,
    pub unchanged: usize,
}

impl ApplySummary {
    /// Changes written (history rows added).
    pub fn written(&self) -> usize {
        self.added + self.changed + self.removed
    }
}

/// One recorded change: who changed what, old → new.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    pub seq: i64,
    pub unit_id: String,
    pub year: u16,
    pub round: Round,
    pub field_id: String,
    pub old_value: Option<i64>,
    pub new_value: Option<i64>,
    pub operator: String,
    pub at: String,
    /// `import` or `set`.
    pub kind: String,
    pub file_name: Option<String>,
}

/// Writing evidence failed; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(
        "单位 {unit_id} 已不在 {year} 年的考核范围内，导入已取消（unit left the scope while importing; nothing written）"
    )]
    OutOfScope { unit_id: String, year: u16 },
    #[error("操作人不能为空（operator must not be empty）")]
    NoOperator,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for ApplyError {
    fn from(e: rusqlite::Error) -> Self {
        ApplyError::Store(StoreError::Sqlite(e))
    }
}

impl Store {
    /// Applies `writes` for `year` in **one transaction**: all or nothing.
    /// Each write that changes something also appends a history row naming
    /// the source (operator, time, file). `progress` is called with the
    /// number of writes handled so far, every [`PROGRESS_EVERY`] writes,
    /// from inside the transaction.
    pub fn apply_evidence(
        &mut self,
        year: u16,
        writes: &[EvidenceWrite],
        source: &SourceKind,
        actor: &Actor,
        progress: &mut dyn FnMut(usize),
    ) -> Result<ApplySummary, ApplyError> {
        self.apply_evidence_and_marks(year, writes, &[], source, actor, progress)
    }

    /// [`Store::apply_evidence`] with not-applicable marks written in the
    /// same transaction, under the same source.
    pub fn apply_evidence_and_marks(
        &mut self,
        year: u16,
        writes: &[EvidenceWrite],
        marks: &[MarkWrite],
        source: &SourceKind,
        actor: &Actor,
        progress: &mut dyn FnMut(usize),
    ) -> Result<ApplySummary, ApplyError> {
        if actor.operator.trim().is_empty() {
            return Err(ApplyError::NoOperator);
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        // The scope may have changed since the caller validated against it.
        {
            let mut in_scope =
                tx.prepare("SELECT 1 FROM scope_units WHERE year = ?1 AND unit_id = ?2")?;
            let mut checked = std::collections::BTreeSet::new();
            let units = writes
                .iter()
                .map(|w| &w.unit_id)
                .chain(marks.iter().map(|m| &m.unit_id));
            for unit_id in units {
                if checked.insert(unit_id.as_str()) && !in_scope.exists(params![year, unit_id])? {
                    return Err(ApplyError::OutOfScope {
                        unit_id: unit_id.clone(),
                        year,
                    });
                }
            }
        }
        let (kind, file_name, sha) = match source {
            SourceKind::Import { file_name, sha256 } => (
                "import",
                Some(file_name.as_str()),
                Some(hex::encode(sha256)),
            ),
            SourceKind::Set => ("set", None, None),
        };
        tx.execute(
            "INSERT INTO evidence_sources (kind, file_name, file_sha256, operator, at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![kind, file_name, sha, actor.operator, actor.at.to_string()],
        )?;
        let source_id = tx.last_insert_rowid();
        let mut summary = ApplySummary::default();
        {
            let mut cells = CellWriter::prepare(&tx, &EVIDENCE)?;
            for (i, w) in writes.iter().enumerate() {
                cells.write(
                    &w.unit_id,
                    year,
                    w.round,
                    &w.field_id,
                    w.value.as_ref(),
                    source_id,
                    &mut summary,
                )?;
                if (i + 1) % PROGRESS_EVERY == 0 {
                    progress(i + 1);
                }
            }
        }
        super::marks::write(&tx, year, marks, source_id, &mut summary)?;
        tx.commit()?;
        Ok(summary)
    }

    /// Every stored value of `year`, ordered by unit, round, field.
    pub fn evidence(&self, year: u16) -> Result<Vec<EvidenceRow>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT e.unit_id, e.round, e.field_id, e.value, s.operator, s.at
             FROM evidence e JOIN evidence_sources s ON s.id = e.source_id
             WHERE e.year = ?1 ORDER BY e.unit_id, e.round, e.field_id",
        )?;
        let rows = stmt.query_map([year], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (unit_id, round, field_id, value, operator, at) = row?;
            out.push(EvidenceRow {
                unit_id,
                round: parse_round(&round)?,
                field_id,
                value,
                operator,
                at,
            });
        }
        Ok(out)
    }

    /// The values of one unit and round, by field id.
    pub fn evidence_of(
        &self,
        unit_id: &str,
        year: u16,
        round: Round,
    ) -> Result<BTreeMap<String, i64>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT field_id, value FROM evidence WHERE unit_id = ?1 AND year = ?2 AND round = ?3",
        )?;
        let rows = stmt.query_map(params![unit_id, year, round.id()], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
        Ok(rows.collect::<Result<BTreeMap<String, i64>, _>>()?)
    }

    /// The change history of `year` (optionally one unit), oldest first.
    pub fn history(&self, year: u16, unit_id: Option<&str>) -> Result<Vec<HistoryRow>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT h.seq, h.unit_id, h.year, h.round, h.field_id, h.old_value, h.new_value,
                    s.operator, s.at, s.kind, s.file_name
             FROM evidence_history h JOIN evidence_sources s ON s.id = h.source_id
             WHERE h.year = ?1 AND (?2 IS NULL OR h.unit_id = ?2)
             ORDER BY h.seq",
        )?;
        let rows = stmt.query_map(params![year, unit_id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, u16>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, Option<i64>>(5)?,
                r.get::<_, Option<i64>>(6)?,
                r.get::<_, String>(7)?,
                r.get::<_, String>(8)?,
                r.get::<_, String>(9)?,
                r.get::<_, Option<String>>(10)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (
                seq,
                unit_id,
                year,
                round,
                field_id,
                old_value,
                new_value,
                operator,
                at,
                kind,
                file_name,
            ) = row?;
            out.push(HistoryRow {
                seq,
                unit_id,
                year,
                round: parse_round(&round)?,
                field_id,
                old_value,
                new_value,
                operator,
                at,
                kind,
                file_name,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::DB_FILE;
    use crate::testutil::{actor, sample_scope};

    #[test]
    fn evidence_writes_record_who_changed_what() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::create(&dir.path().join(DB_FILE)).unwrap();
        store.replace_scope(&sample_scope(2022)).unwrap();
        let w = |v: Option<i64>| EvidenceWrite {
            unit_id: "xiaodian".into(),
            round: Round::Q1,
            field_id: "study".into(),
            value: v,
        };
        let mut apply = |v: Option<i64>, who: &str| {
            store
                .apply_evidence(2022, &[w(v)], &SourceKind::Set, &actor(who), &mut |_| {})
                .unwrap()
        };
        let only = |f: fn(&mut ApplySummary)| {
            let mut s = ApplySummary::default();
            f(&mut s);
            s
        };
        assert_eq!(apply(Some(300), "王"), only(|s| s.added = 1));
        assert_eq!(apply(Some(300), "王"), only(|s| s.unchanged = 1));
        assert_eq!(apply(Some(500), "李"), only(|s| s.changed = 1));
        assert_eq!(apply(None, "李"), only(|s| s.removed = 1));
        let h = store.history(2022, Some("xiaodian")).unwrap();
        let changes: Vec<_> = h
            .iter()
            .map(|r| (r.old_value, r.new_value, r.operator.as_str()))
            .collect();
        assert_eq!(
            changes,
            vec![
                (None, Some(300), "王"),
                (Some(300), Some(500), "李"),
                (Some(500), None, "李")
            ]
        );
        assert!(store.evidence(2022).unwrap().is_empty());
        // The history cannot be rewritten.
        let err = store
            .conn
            .execute("DELETE FROM evidence_history", [])
            .unwrap_err();
        assert!(err.to_string().contains("append-only"), "{err}");
    }

    #[test]
    fn a_unit_that_left_the_scope_fails_the_whole_write() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::create(&dir.path().join(DB_FILE)).unwrap();
        store.replace_scope(&sample_scope(2022)).unwrap();
        let writes = [
            EvidenceWrite {
                unit_id: "xiaodian".into(),
                round: Round::Annual,
                field_id: "plan".into(),
                value: Some(100),
            },
            EvidenceWrite {
                unit_id: "elsewhere".into(),
                round: Round::Annual,
                field_id: "plan".into(),
                value: Some(100),
            },
        ];
        let err = store
            .apply_evidence(2022, &writes, &SourceKind::Set, &actor("王"), &mut |_| {})
            .unwrap_err();
        assert!(
            matches!(err, ApplyError::OutOfScope { ref unit_id, .. } if unit_id == "elsewhere")
        );
        assert!(store.evidence(2022).unwrap().is_empty());
        assert!(store.history(2022, None).unwrap().is_empty());
    }
}
