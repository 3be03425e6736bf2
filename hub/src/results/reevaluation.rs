//! Current results computed under an older version of the year's pack
//! (待重新评价): left out of the consolidation, listed until reported again.

use kaohe_rulepacks::manifest::Round;
use rusqlite::Connection;

/// A current result computed under an older version of the year's pack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reevaluation {
    pub unit_id: String,
    pub method_id: String,
    pub round: Round,
    /// Key id of the node that reported it (and will report it again).
    pub node_id: String,
    /// The version it was computed under.
    pub computed_under: u32,
    /// The year's current version.
    pub current: u32,
}

impl Reevaluation {
    /// `大营镇（t2）的 satisfaction 年度结果：按第 1 版计算，待按第 2 版重新评价`.
    pub fn describe(&self, unit_name: Option<&str>) -> String {
        let unit = match unit_name {
            Some(name) => format!("{name}（{}）", self.unit_id),
            None => self.unit_id.clone(),
        };
        format!(
            "{unit}的 {} {}结果：按第 {} 版计算，待按第 {} 版重新评价",
            self.method_id,
            self.round.name_zh(),
            self.computed_under,
            self.current
        )
    }
}

/// The year's current results computed under another version than the
/// current one of their pack, by unit, method and round.
pub fn awaiting_reevaluation(conn: &Connection, year: i32) -> rusqlite::Result<Vec<Reevaluation>> {
    // Two seeks of the by-pack index, below and above the current
    // version: a scan of the year's results took seconds at scale.
    let side = |op: &str| {
        format!(
            "SELECT r.unit_id, r.method_id, r.round, r.node_id, r.pack_version, p.version
             FROM packs p CROSS JOIN results r INDEXED BY results_by_pack
               ON r.pack_id = p.pack_id AND r.year = p.year AND r.is_current = 1
              AND r.pack_version {op} p.version
             WHERE p.year = ?1 AND p.is_current = 1"
        )
    };
    let mut stmt = conn.prepare(&format!(
        "{} UNION ALL {} ORDER BY 1, 2, 3, 4",
        side("<"),
        side(">")
    ))?;
    let rows = stmt.query_map([year], |r| {
        let round: String = r.get(2)?;
        Ok(Reevaluation {
            unit_id: r.get(0)?,
            method_id: r.get(1)?,
            round: Round::from_id(&round).ok_or_else(|| {
                rusqlite::Error::InvalidColumnType(2, "round".into(), rusqlite::types::Type::Text)
            })?,
            node_id: r.get(3)?,
            computed_under: r.get(4)?,
            current: r.get(5)?,
        })
    })?;
    rows.collect()
}
