//! The delegated scope: `units`, `scope_units`, `scope_methods`. Units are
//! never deleted (evidence refers to them); a year's scope is replaced
//! whole by sync.

use rusqlite::{OptionalExtension as _, TransactionBehavior, params};

use super::{Store, StoreError};

/// One assessee the node knows: the unit as the hub publishes it.
pub use kaohe_proto::model::Unit as UnitInfo;

/// The node's delegated scope for one year: these units × these methods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub year: u16,
    /// Ordered by unit id when read from the store.
    pub units: Vec<UnitInfo>,
    /// Ordered by method id.
    pub methods: Vec<String>,
}

impl Scope {
    pub fn unit(&self, unit_id: &str) -> Option<&UnitInfo> {
        self.units.iter().find(|u| u.unit_id == unit_id)
    }

    pub fn has_method(&self, method_id: &str) -> bool {
        self.methods.iter().any(|m| m == method_id)
    }
}

/// Replacing a year's scope failed.
#[derive(Debug, thiserror::Error)]
pub enum ScopeError {
    #[error("单位 {unit_id} 在范围中出现两次（unit listed twice in the scope）")]
    DuplicateUnit { unit_id: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for ScopeError {
    fn from(e: rusqlite::Error) -> Self {
        ScopeError::Store(StoreError::Sqlite(e))
    }
}

impl Store {
    /// Replaces the year's scope (units are added or updated, never deleted,
    /// since evidence may refer to them).
    pub fn replace_scope(&mut self, scope: &Scope) -> Result<(), ScopeError> {
        let mut seen = std::collections::BTreeSet::new();
        for u in &scope.units {
            if !seen.insert(u.unit_id.as_str()) {
                return Err(ScopeError::DuplicateUnit {
                    unit_id: u.unit_id.clone(),
                });
            }
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM scope_units WHERE year = ?1", [scope.year])?;
        tx.execute("DELETE FROM scope_methods WHERE year = ?1", [scope.year])?;
        for u in &scope.units {
            tx.execute(
                "INSERT INTO units (unit_id, name, category_id, parent_id, supervising_dept)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (unit_id) DO UPDATE SET name = excluded.name,
                     category_id = excluded.category_id, parent_id = excluded.parent_id,
                     supervising_dept = excluded.supervising_dept",
                params![
                    u.unit_id,
                    u.name,
                    u.category_id,
                    u.parent_id,
                    u.supervising_dept
                ],
            )?;
            tx.execute(
                "INSERT INTO scope_units (year, unit_id) VALUES (?1, ?2)",
                params![scope.year, u.unit_id],
            )?;
        }
        for m in &scope.methods {
            tx.execute(
                "INSERT OR IGNORE INTO scope_methods (year, method_id) VALUES (?1, ?2)",
                params![scope.year, m],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The year's scope (empty when none was synced).
    pub fn scope(&self, year: u16) -> Result<Scope, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT u.unit_id, u.name, u.category_id, u.parent_id, u.supervising_dept
             FROM scope_units s JOIN units u USING (unit_id)
             WHERE s.year = ?1 ORDER BY u.unit_id",
        )?;
        let units = stmt
            .query_map([year], unit_from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        let mut stmt = self
            .conn
            .prepare("SELECT method_id FROM scope_methods WHERE year = ?1 ORDER BY method_id")?;
        let methods = stmt
            .query_map([year], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(Scope {
            year,
            units,
            methods,
        })
    }

    /// A unit the node has heard of (in any year's scope).
    pub fn unit(&self, unit_id: &str) -> Result<Option<UnitInfo>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT unit_id, name, category_id, parent_id, supervising_dept
                 FROM units WHERE unit_id = ?1",
                [unit_id],
                unit_from_row,
            )
            .optional()?)
    }

    /// Every unit id the node has heard of, in any year.
    pub fn known_units(&self) -> Result<std::collections::BTreeSet<String>, StoreError> {
        let mut stmt = self.conn.prepare("SELECT unit_id FROM units")?;
        let ids = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<std::collections::BTreeSet<String>, _>>()?;
        Ok(ids)
    }

    /// The years whose scope lists this unit.
    pub fn unit_years(&self, unit_id: &str) -> Result<Vec<u16>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT year FROM scope_units WHERE unit_id = ?1 ORDER BY year")?;
        let years = stmt
            .query_map([unit_id], |r| r.get(0))?
            .collect::<Result<Vec<u16>, _>>()?;
        Ok(years)
    }

    /// The years the node holds a scope for.
    pub fn scope_years(&self) -> Result<Vec<u16>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT year FROM scope_units UNION SELECT year FROM scope_methods ORDER BY year",
        )?;
        let years = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<Vec<u16>, _>>()?;
        Ok(years)
    }
}

fn unit_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UnitInfo> {
    Ok(UnitInfo {
        unit_id: r.get(0)?,
        name: r.get(1)?,
        category_id: r.get(2)?,
        parent_id: r.get(3)?,
        supervising_dept: r.get(4)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::DB_FILE;
    use crate::testutil::sample_scope;

    #[test]
    fn scope_replacement_keeps_units_known_and_rejects_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::create(&dir.path().join(DB_FILE)).unwrap();
        store.replace_scope(&sample_scope(2021)).unwrap();
        let mut s = sample_scope(2022);
        s.units.retain(|u| u.unit_id != "xiaodian");
        store.replace_scope(&s).unwrap();
        assert!(store.scope(2022).unwrap().unit("xiaodian").is_none());
        assert!(store.unit("xiaodian").unwrap().is_some());
        assert_eq!(store.unit_years("xiaodian").unwrap(), vec![2021]);
        let mut dup = sample_scope(2023);
        dup.units.push(dup.units[0].clone());
        assert!(matches!(
            store.replace_scope(&dup),
            Err(ScopeError::DuplicateUnit { .. })
        ));
        assert!(store.scope(2023).unwrap().units.is_empty());
    }
}
