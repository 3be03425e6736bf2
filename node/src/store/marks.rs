//! Items marked not applicable (不适用): `not_applicable` and its
//! append-only `not_applicable_history`. A mark is evidence: written with
//! the values of the same import, in the same transaction and under the
//! same source, every change recorded old → new.

use std::collections::BTreeMap;

use kaohe_rulepacks::manifest::Round;
use rusqlite::{Transaction, params};

use super::cells::{CellWriter, Cells};
use super::{ApplySummary, Store, StoreError, parse_round};

const MARKS: Cells = Cells {
    table: "not_applicable",
    history: "not_applicable_history",
    key: "indicator_id",
    value: "reason",
    old: "old_reason",
    new: "new_reason",
};

/// One change to make: `reason: None` removes the mark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkWrite {
    pub unit_id: String,
    pub round: Round,
    pub indicator_id: String,
    pub reason: Option<String>,
}

/// A stored mark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkRow {
    pub unit_id: String,
    pub round: Round,
    pub indicator_id: String,
    pub reason: String,
}

/// One recorded change of a mark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkHistoryRow {
    pub unit_id: String,
    pub round: Round,
    pub indicator_id: String,
    pub old_reason: Option<String>,
    pub new_reason: Option<String>,
    pub operator: String,
    pub at: String,
}

/// Writes `marks` for `year` inside the caller's transaction under
/// `source_id`, counting them into `summary`.
pub(super) fn write(
    tx: &Transaction<'_>,
    year: u16,
    marks: &[MarkWrite],
    source_id: i64,
    summary: &mut ApplySummary,
) -> rusqlite::Result<()> {
    let mut cells = CellWriter::prepare(tx, &MARKS)?;
    for w in marks {
        cells.write(
            &w.unit_id,
            year,
            w.round,
            &w.indicator_id,
            w.reason.as_ref(),
            source_id,
            summary,
        )?;
    }
    Ok(())
}

impl Store {
    /// The marks of one unit and round: indicator id → reason.
    pub fn marks_of(
        &self,
        unit_id: &str,
        year: u16,
        round: Round,
    ) -> Result<BTreeMap<String, String>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT indicator_id, reason FROM not_applicable
             WHERE unit_id = ?1 AND year = ?2 AND round = ?3",
        )?;
        let rows = stmt.query_map(params![unit_id, year, round.id()], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every mark of `year`, ordered by unit, round, indicator.
    pub fn marks(&self, year: u16) -> Result<Vec<MarkRow>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT unit_id, round, indicator_id, reason FROM not_applicable
             WHERE year = ?1 ORDER BY unit_id, round, indicator_id",
        )?;
        let rows = stmt.query_map([year], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (unit_id, round, indicator_id, reason) = row?;
            out.push(MarkRow {
                unit_id,
                round: parse_round(&round)?,
                indicator_id,
                reason,
            });
        }
        Ok(out)
    }

    /// The change history of the marks of `year` (optionally one unit),
    /// oldest first.
    pub fn mark_history(
        &self,
        year: u16,
        unit_id: Option<&str>,
    ) -> Result<Vec<MarkHistoryRow>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT h.unit_id, h.round, h.indicator_id, h.old_reason, h.new_reason,
                    s.operator, s.at
             FROM not_applicable_history h JOIN evidence_sources s ON s.id = h.source_id
             WHERE h.year = ?1 AND (?2 IS NULL OR h.unit_id = ?2)
             ORDER BY h.seq",
        )?;
        let rows = stmt.query_map(params![year, unit_id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (unit_id, round, indicator_id, old_reason, new_reason, operator, at) = row?;
            out.push(MarkHistoryRow {
                unit_id,
                round: parse_round(&round)?,
                indicator_id,
                old_reason,
                new_reason,
                operator,
                at,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{DB_FILE, SourceKind};
    use crate::testutil::{actor, sample_scope};

    #[test]
    fn marks_are_written_with_evidence_and_every_change_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::create(&dir.path().join(DB_FILE)).unwrap();
        store.replace_scope(&sample_scope(2022)).unwrap();
        let w = |reason: Option<&str>| MarkWrite {
            unit_id: "xiaodian".into(),
            round: Round::Annual,
            indicator_id: "N2_5".into(),
            reason: reason.map(str::to_owned),
        };
        let apply = |store: &mut Store, reason: Option<&str>, who: &str| {
            store
                .apply_evidence_and_marks(
                    2022,
                    &[],
                    &[w(reason)],
                    &SourceKind::Set,
                    &actor(who),
                    &mut |_| {},
                )
                .unwrap()
        };
        assert_eq!(apply(&mut store, Some("无执法职能"), "王").added, 1);
        assert_eq!(apply(&mut store, Some("无执法职能"), "王").unchanged, 1);
        assert_eq!(apply(&mut store, Some("执法权由上级行使"), "李").changed, 1);
        assert_eq!(
            store
                .marks_of("xiaodian", 2022, Round::Annual)
                .unwrap()
                .get("N2_5")
                .map(String::as_str),
            Some("执法权由上级行使")
        );
        assert_eq!(store.marks(2022).unwrap().len(), 1);
        assert_eq!(apply(&mut store, None, "李").removed, 1);
        assert!(store.marks(2022).unwrap().is_empty());
        let h = store.mark_history(2022, Some("xiaodian")).unwrap();
        let changes: Vec<_> = h
            .iter()
            .map(|r| {
                (
                    r.old_reason.as_deref(),
                    r.new_reason.as_deref(),
                    r.operator.as_str(),
                )
            })
            .collect();
        assert_eq!(
            changes,
            vec![
                (None, Some("无执法职能"), "王"),
                (Some("无执法职能"), Some("执法权由上级行使"), "李"),
                (Some("执法权由上级行使"), None, "李"),
            ]
        );
        let err = store
            .conn
            .execute("DELETE FROM not_applicable_history", [])
            .unwrap_err();
        assert!(err.to_string().contains("append-only"), "{err}");
    }
}
