//! 考核对象名册（roster of units）：每个考核年度一份。
//!
//! Units change with reorganisations, so the roster is kept per assessment
//! year and the key of a unit is `(year, id)`. A unit's parent is a unit of
//! the same year (a township's villages, the hospitals under the health
//! commission).
//!
//! **Re-import rule.** Importing a year's roster again replaces that year's
//! roster in one transaction: units in the file are inserted or updated in
//! place (so rows elsewhere that refer to `(year, id)` stay valid), units no
//! longer in the file are deleted — unless any other table refers to them
//! by foreign key (results, once they exist), or by `(year, unit_id)` without
//! one (objections, earlier years' results), in which case the whole import
//! is refused and the message names each such unit and table. The check
//! reads the schema's foreign keys, so tables added later are covered without
//! changing this module. Parents among the units themselves are checked at
//! commit, on the final roster (a parent may leave with its children). Node scopes name units by id and are not foreign
//! keys: a scope naming a unit that left the roster simply matches nothing.

use std::collections::BTreeMap;
use std::fmt;

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::json;

use super::StoreError;
use crate::audit::{self, Actor};
use crate::lock::{self, Locked};

/// One assessee of one assessment year.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitRecord {
    pub year: i32,
    /// 单位编号.
    pub id: String,
    /// 单位名称.
    pub name: String,
    /// 类别: a category id of the year's rule pack, e.g. `township`.
    pub category: String,
    /// 上级单位: id of a unit of the same year.
    pub parent: Option<String>,
    /// 主管部门 of a stationed unit (驻宝单位), as written; results are copied to it.
    pub supervising_department: Option<String>,
    /// 考核主体.
    pub assessor: ResponsibleAssessor,
    /// 主要负责人 (optional): named with the unit in a commendation.
    pub principal: Option<String>,
}

/// Who assesses a unit (考核主体), per 考核方案 七（三）分级考核: the county
/// office assesses townships and county units, the SASAC the county
/// enterprises, the health commission the county hospitals, and each
/// township or county unit its own subordinate system.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum ResponsibleAssessor {
    CountyOffice,
    Sasac,
    HealthCommission,
    /// A township or county unit assessing its own system: that unit's id.
    Unit(String),
}

impl ResponsibleAssessor {
    /// The ids reserved for the county-level assessors; no unit may use them.
    pub const RESERVED_IDS: [&'static str; 3] = ["county_office", "sasac", "health_commission"];

    /// The stored form: one of [`Self::RESERVED_IDS`] or a unit id.
    pub fn as_stored(&self) -> &str {
        match self {
            Self::CountyOffice => "county_office",
            Self::Sasac => "sasac",
            Self::HealthCommission => "health_commission",
            Self::Unit(id) => id,
        }
    }

    pub fn from_stored(s: &str) -> Self {
        match s {
            "county_office" => Self::CountyOffice,
            "sasac" => Self::Sasac,
            "health_commission" => Self::HealthCommission,
            other => Self::Unit(other.to_string()),
        }
    }

    /// Reads an import cell: the English ids or the Chinese names of the
    /// county-level assessors; anything else is taken as a unit id.
    pub fn from_import(s: &str) -> Self {
        match s {
            "依法治县办" | "县依法治县办" | "县委依法治县办" => {
                Self::CountyOffice
            }
            "国资局" | "县国资局" => Self::Sasac,
            "卫健委" | "县卫健委" => Self::HealthCommission,
            other => Self::from_stored(other),
        }
    }
}

impl fmt::Display for ResponsibleAssessor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CountyOffice => f.write_str("依法治县办"),
            Self::Sasac => f.write_str("国资局"),
            Self::HealthCommission => f.write_str("卫健委"),
            Self::Unit(id) => f.write_str(id),
        }
    }
}

/// The roster of one year, by unit id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct YearRoster {
    pub year: i32,
    pub units: BTreeMap<String, UnitRecord>,
}

impl YearRoster {
    pub fn get(&self, id: &str) -> Option<&UnitRecord> {
        self.units.get(id)
    }

    pub fn len(&self) -> usize {
        self.units.len()
    }

    pub fn is_empty(&self) -> bool {
        self.units.is_empty()
    }

    /// Units in id order.
    pub fn iter(&self) -> impl Iterator<Item = &UnitRecord> {
        self.units.values()
    }
}

/// What a roster replacement changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplaceSummary {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
    pub unchanged: usize,
}

/// A unit another table still refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitReference {
    pub unit_id: String,
    pub table: String,
}

/// Replacing a year's roster failed; nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum ReplaceUnitsError {
    #[error(
        "{year} 年度名册中下列单位已被其他记录引用，不能从名册中删除，整个导入未生效（units still referenced; import refused）：{}",
        references.iter().map(|r| format!("{}（表 {}）", r.unit_id, r.table)).collect::<Vec<_>>().join("、")
    )]
    Referenced {
        year: i32,
        references: Vec<UnitReference>,
    },
    #[error("{year} 年度名册未导入：{locked}")]
    Locked { year: i32, locked: Locked },
    #[error("写入 {year} 年度名册失败，已回滚（cannot store roster, rolled back）：{source}")]
    Sqlite { year: i32, source: rusqlite::Error },
}

/// Where a roster came from, for the audit record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterSource {
    /// The file name as given.
    pub file: String,
    /// SHA-256 of the file's bytes, hex.
    pub sha256: String,
}

/// Loads the roster of `year` (empty if none was imported).
pub fn load_roster(conn: &Connection, year: i32) -> Result<YearRoster, StoreError> {
    Ok(query_roster(conn, year)?)
}

fn query_roster(conn: &Connection, year: i32) -> rusqlite::Result<YearRoster> {
    let mut stmt = conn.prepare(
        "SELECT id, name, category, parent_id, supervising_department, assessor, principal
         FROM units WHERE year = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([year], |r| {
        Ok(UnitRecord {
            year,
            id: r.get(0)?,
            name: r.get(1)?,
            category: r.get(2)?,
            parent: r.get(3)?,
            supervising_department: r.get(4)?,
            assessor: ResponsibleAssessor::from_stored(&r.get::<_, String>(5)?),
            principal: r.get(6)?,
        })
    })?;
    let mut units = BTreeMap::new();
    for unit in rows {
        let unit = unit?;
        units.insert(unit.id.clone(), unit);
    }
    Ok(YearRoster { year, units })
}

/// One unit of one year.
pub fn load_unit(conn: &Connection, year: i32, id: &str) -> Result<Option<UnitRecord>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT name, category, parent_id, supervising_department, assessor, principal
             FROM units WHERE year = ?1 AND id = ?2",
            params![year, id],
            |r| {
                Ok(UnitRecord {
                    year,
                    id: id.to_string(),
                    name: r.get(0)?,
                    category: r.get(1)?,
                    parent: r.get(2)?,
                    supervising_department: r.get(3)?,
                    assessor: ResponsibleAssessor::from_stored(&r.get::<_, String>(4)?),
                    principal: r.get(5)?,
                })
            },
        )
        .optional()?)
}

/// Years with a roster, and how many units each has.
pub fn roster_years(conn: &Connection) -> Result<Vec<(i32, usize)>, StoreError> {
    let mut stmt = conn.prepare("SELECT year, count(*) FROM units GROUP BY year ORDER BY year")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as usize)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// For every unit id in a roster other than `year`'s: the years it appears in.
/// Lets the import say "parent of another year" instead of "unknown parent".
pub fn ids_in_other_years(
    conn: &Connection,
    year: i32,
) -> Result<BTreeMap<String, Vec<i32>>, StoreError> {
    let mut stmt = conn.prepare("SELECT id, year FROM units WHERE year <> ?1 ORDER BY id, year")?;
    let rows = stmt.query_map([year], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i32>(1)?))
    })?;
    let mut out: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for row in rows {
        let (id, y) = row?;
        out.entry(id).or_default().push(y);
    }
    Ok(out)
}

/// Replaces the roster of `year` with `units` (already validated: ids unique,
/// parents and unit assessors inside `units`), in one transaction with its
/// audit record. See the module docs for the rule on removed units.
pub fn replace_year(
    conn: &mut Connection,
    year: i32,
    units: &[UnitRecord],
    source: &RosterSource,
    actor: &Actor,
) -> Result<ReplaceSummary, ReplaceUnitsError> {
    let sql = |source| ReplaceUnitsError::Sqlite { year, source };
    let tx = conn.transaction().map_err(sql)?;
    if let Some(locked) = lock::locked(&tx, year).map_err(sql)? {
        return Err(ReplaceUnitsError::Locked { year, locked });
    }
    let old = query_roster(&tx, year).map_err(sql)?;
    let new: BTreeMap<&str, &UnitRecord> = units.iter().map(|u| (u.id.as_str(), u)).collect();

    let mut summary = ReplaceSummary::default();
    for id in old.units.keys() {
        if !new.contains_key(id.as_str()) {
            summary.removed.push(id.clone());
        }
    }
    let references = references_to(&tx, year, &summary.removed).map_err(sql)?;
    if !references.is_empty() {
        return Err(ReplaceUnitsError::Referenced { year, references });
    }
    // Nothing outside `units` refers to a removed unit (checked above), but
    // removed and kept units may refer to each other as parents: check the
    // foreign keys at commit, on the final roster (reset by the commit).
    tx.execute_batch("PRAGMA defer_foreign_keys = ON")
        .map_err(sql)?;

    for id in &summary.removed {
        tx.execute(
            "DELETE FROM units WHERE year = ?1 AND id = ?2",
            params![year, id],
        )
        .map_err(sql)?;
    }
    for (id, unit) in &new {
        match old.units.get(*id) {
            Some(existing) if existing == *unit => {
                summary.unchanged += 1;
                continue;
            }
            Some(_) => summary.changed.push(id.to_string()),
            None => summary.added.push(id.to_string()),
        }
        tx.execute(
            "INSERT INTO units (year, id, name, category, parent_id, supervising_department, assessor, principal)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (year, id) DO UPDATE SET
               name = excluded.name, category = excluded.category,
               parent_id = excluded.parent_id,
               supervising_department = excluded.supervising_department,
               assessor = excluded.assessor, principal = excluded.principal",
            params![
                year,
                unit.id,
                unit.name,
                unit.category,
                unit.parent,
                unit.supervising_department,
                unit.assessor.as_stored(),
                unit.principal
            ],
        )
        .map_err(sql)?;
    }
    audit::append(
        &tx,
        actor,
        audit::action::UNITS_IMPORT,
        &format!("units/{year}"),
        &json!({
            "year": year,
            "file": source.file,
            "sha256": source.sha256,
            "units": units.len(),
            "added": summary.added,
            "changed": summary.changed,
            "removed": summary.removed,
        }),
    )
    .map_err(sql)?;
    tx.commit().map_err(sql)?;
    Ok(summary)
}

/// Tables that refer to a unit of a year by `(year, unit_id)` without a
/// foreign key to `units`.
const IMPLICIT_REFERENCES: &[&str] = &["objections", "history_results"];

/// Rows of other tables that refer to any of `ids` in `year`: by foreign
/// key to `units`, or by `(year, unit_id)` ([`IMPLICIT_REFERENCES`]).
fn references_to(
    conn: &Connection,
    year: i32,
    ids: &[String],
) -> rusqlite::Result<Vec<UnitReference>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut tables: Vec<String> = Vec::new();
    {
        let mut stmt = conn.prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'units'",
        )?;
        for t in stmt.query_map([], |r| r.get(0))? {
            tables.push(t?);
        }
    }
    // (table, [(from column, referenced units column)]) per foreign key.
    let mut keys: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for table in &tables {
        let mut stmt = conn.prepare("SELECT id, seq, \"table\", \"from\", \"to\" FROM pragma_foreign_key_list(?1) ORDER BY id, seq")?;
        let mut by_id: BTreeMap<i64, Vec<(String, String)>> = BTreeMap::new();
        for row in stmt.query_map([table], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<String>>(4)?,
            ))
        })? {
            let (id, seq, target, from, to) = row?;
            if target != "units" {
                continue;
            }
            // A foreign key without column names refers to the primary key (year, id).
            let to = to.unwrap_or_else(|| if seq == 0 { "year" } else { "id" }.to_string());
            by_id.entry(id).or_default().push((from, to));
        }
        keys.extend(by_id.into_values().map(|cols| (table.clone(), cols)));
    }
    let mut found = Vec::new();
    for id in ids {
        // Tables that name a unit by (year, unit_id) without a foreign key
        // to `units` (objections refer to the notice; history has none).
        for table in IMPLICIT_REFERENCES {
            let exists: bool = conn.query_row(
                &format!(
                    "SELECT EXISTS (SELECT 1 FROM \"{table}\" WHERE year = ?1 AND unit_id = ?2)"
                ),
                params![year, id],
                |r| r.get(0),
            )?;
            if exists {
                found.push(UnitReference {
                    unit_id: id.clone(),
                    table: (*table).to_string(),
                });
            }
        }
        for (table, cols) in &keys {
            let mut clause = Vec::new();
            let mut values: Vec<rusqlite::types::Value> = Vec::new();
            for (from, to) in cols {
                clause.push(format!(
                    "\"{}\" = ?{}",
                    from.replace('"', "\"\""),
                    values.len() + 1
                ));
                values.push(match to.as_str() {
                    "year" => rusqlite::types::Value::Integer(i64::from(year)),
                    _ => rusqlite::types::Value::Text(id.clone()),
                });
            }
            let sql = format!(
                "SELECT EXISTS (SELECT 1 FROM \"{}\" WHERE {})",
                table.replace('"', "\"\""),
                clause.join(" AND ")
            );
            let exists: bool =
                conn.query_row(&sql, rusqlite::params_from_iter(values), |r| r.get(0))?;
            if exists {
                found.push(UnitReference {
                    unit_id: id.clone(),
                    table: table.clone(),
                });
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn unit(year: i32, id: &str, category: &str, parent: Option<&str>) -> UnitRecord {
        UnitRecord {
            year,
            id: id.to_string(),
            name: format!("{id}名称"),
            category: category.to_string(),
            parent: parent.map(str::to_string),
            supervising_department: None,
            assessor: ResponsibleAssessor::CountyOffice,
            principal: None,
        }
    }

    fn actor() -> Actor {
        Actor::new("li", "2024-12-01T01:00:00Z".parse().unwrap())
    }

    fn source() -> RosterSource {
        RosterSource {
            file: "units.csv".into(),
            sha256: "00".into(),
        }
    }

    #[test]
    fn replacing_a_roster_adds_updates_and_removes_with_one_audit_record() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::db::create(dir.path()).unwrap();
        let first = vec![
            unit(2024, "a", "township", None),
            unit(2024, "a1", "village", Some("a")),
            unit(2024, "b", "township", None),
        ];
        let s = replace_year(&mut conn, 2024, &first, &source(), &actor()).unwrap();
        assert_eq!(s.added, vec!["a", "a1", "b"]);

        let mut second = vec![
            unit(2024, "a", "township", None),
            unit(2024, "a1", "village", Some("a")),
            unit(2024, "c", "department", None),
        ];
        second[1].name = "新名称".into();
        let s = replace_year(&mut conn, 2024, &second, &source(), &actor()).unwrap();
        assert_eq!(s.added, vec!["c"]);
        assert_eq!(s.changed, vec!["a1"]);
        assert_eq!(s.removed, vec!["b"]);
        assert_eq!(s.unchanged, 1);

        let roster = load_roster(&conn, 2024).unwrap();
        assert_eq!(roster.len(), 3);
        assert_eq!(roster.get("a1").unwrap().name, "新名称");
        assert!(roster.get("b").is_none());
        let log = audit::recent(&conn, 10).unwrap();
        assert_eq!(log.len(), 2);
        assert_eq!(log[1].detail["removed"], json!(["b"]));
        assert_eq!(log[1].subject, "units/2024");
    }

    #[test]
    fn removing_a_unit_another_table_refers_to_is_refused_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::db::create(dir.path()).unwrap();
        let first = vec![
            unit(2024, "a", "township", None),
            unit(2024, "b", "township", None),
        ];
        replace_year(&mut conn, 2024, &first, &source(), &actor()).unwrap();
        // An accepted submission about unit b (its node, pack and batch too).
        conn.execute_batch(
            "INSERT INTO nodes (key_id, public_key, name, assessor, scope, added_at)
               VALUES ('k', 'pk', '节点', 'county_office', '{}', 't');
             INSERT INTO packs VALUES ('p', 2024, 1, zeroblob(32), x'00', x'00', 't', 'o', 1);
             INSERT INTO receipt_batches (batch_id, commit_time, tree_size, hub_key_id)
               VALUES (1, 0, 1, 'h');
             INSERT INTO submissions (digest, node_id, sequence, unit_id, year, round, pack_id,
                 pack_version, created_at, committed_at, late, batch_id, leaf_index, envelope)
               VALUES (zeroblob(32), 'k', 1, 'b', 2024, 'annual', 'p', 1, 0, 0, 0, 1, 0, x'00');",
        )
        .unwrap();
        let second = vec![unit(2024, "a", "county_unit", None)];
        let err = replace_year(&mut conn, 2024, &second, &source(), &actor()).unwrap_err();
        match &err {
            ReplaceUnitsError::Referenced { year, references } => {
                assert_eq!(*year, 2024);
                assert_eq!(
                    references,
                    &vec![UnitReference {
                        unit_id: "b".into(),
                        table: "submissions".into()
                    }]
                );
            }
            other => panic!("expected Referenced, got {other:?}"),
        }
        assert!(err.to_string().contains("b（表 submissions）"), "{err}");
        // Nothing changed, not even the category of the kept unit.
        let roster = load_roster(&conn, 2024).unwrap();
        assert_eq!(roster.len(), 2);
        assert_eq!(roster.get("a").unwrap().category, "township");
        assert_eq!(audit::recent(&conn, 10).unwrap().len(), 1);
    }

    #[test]
    fn other_years_are_untouched_and_reported_by_id() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::db::create(dir.path()).unwrap();
        replace_year(
            &mut conn,
            2023,
            &[unit(2023, "old", "township", None)],
            &source(),
            &actor(),
        )
        .unwrap();
        replace_year(
            &mut conn,
            2024,
            &[unit(2024, "new", "township", None)],
            &source(),
            &actor(),
        )
        .unwrap();
        assert_eq!(roster_years(&conn).unwrap(), vec![(2023, 1), (2024, 1)]);
        let others = ids_in_other_years(&conn, 2024).unwrap();
        assert_eq!(others.get("old"), Some(&vec![2023]));
        assert!(!others.contains_key("new"));
        assert_eq!(load_unit(&conn, 2023, "old").unwrap().unwrap().year, 2023);
        assert!(load_unit(&conn, 2024, "old").unwrap().is_none());
    }
}
