//! The one way a versioned cell is written: evidence values and
//! not-applicable marks are both cells keyed by (unit, year, round, key),
//! kept in a current table beside an append-only history table that
//! records every change old → new under its source.

use kaohe_rulepacks::manifest::Round;
use rusqlite::types::{FromSql, ToSql};
use rusqlite::{OptionalExtension as _, Statement, Transaction, params};

use super::ApplySummary;

/// Where one kind of cell lives: the current table, its history table and
/// their columns.
pub(super) struct Cells {
    pub table: &'static str,
    pub history: &'static str,
    /// The key within a unit and round: `field_id`, `indicator_id`.
    pub key: &'static str,
    /// The current value's column: `value`, `reason`.
    pub value: &'static str,
    /// The history's columns: `old_value`/`new_value`, `old_reason`/`new_reason`.
    pub old: &'static str,
    pub new: &'static str,
}

/// A batch's prepared statements for one kind of cell, inside the
/// caller's transaction.
pub(super) struct CellWriter<'t> {
    current: Statement<'t>,
    upsert: Statement<'t>,
    delete: Statement<'t>,
    history: Statement<'t>,
}

impl<'t> CellWriter<'t> {
    pub fn prepare(tx: &'t Transaction<'_>, c: &Cells) -> rusqlite::Result<Self> {
        let Cells {
            table,
            history,
            key,
            value,
            old,
            new,
        } = c;
        let at = format!("unit_id = ?1 AND year = ?2 AND round = ?3 AND {key} = ?4");
        Ok(CellWriter {
            current: tx.prepare(&format!("SELECT {value} FROM {table} WHERE {at}"))?,
            upsert: tx.prepare(&format!(
                "INSERT INTO {table} (unit_id, year, round, {key}, {value}, source_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (unit_id, year, round, {key})
                 DO UPDATE SET {value} = excluded.{value}, source_id = excluded.source_id"
            ))?,
            delete: tx.prepare(&format!("DELETE FROM {table} WHERE {at}"))?,
            history: tx.prepare(&format!(
                "INSERT INTO {history} (unit_id, year, round, {key}, {old}, {new}, source_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
            ))?,
        })
    }

    /// Sets one cell to `new` (`None` removes it) under `source_id`,
    /// recording the change in the history and counting it into `summary`.
    #[allow(clippy::too_many_arguments)]
    pub fn write<V: ToSql + FromSql + PartialEq>(
        &mut self,
        unit_id: &str,
        year: u16,
        round: Round,
        key: &str,
        new: Option<&V>,
        source_id: i64,
        summary: &mut ApplySummary,
    ) -> rusqlite::Result<()> {
        let at = params![unit_id, year, round.id(), key];
        let old: Option<V> = self.current.query_row(at, |r| r.get(0)).optional()?;
        if old.as_ref() == new {
            summary.unchanged += 1;
            return Ok(());
        }
        match new {
            Some(value) => {
                self.upsert
                    .execute(params![unit_id, year, round.id(), key, value, source_id])?;
                if old.is_some() {
                    summary.changed += 1;
                } else {
                    summary.added += 1;
                }
            }
            None => {
                self.delete.execute(at)?;
                summary.removed += 1;
            }
        }
        self.history
            .execute(params![unit_id, year, round.id(), key, old, new, source_id])?;
        Ok(())
    }
}
