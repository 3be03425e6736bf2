//! What registering or editing a node should tell the county office, read
//! from the database: the year's one current pack (for the methods each
//! category must report), the roster and the other nodes, put through the
//! pure [`coverage`](crate::registry::coverage) checks. (Beside the
//! registry, not in it: it reads the pack through [`crate::consolidate`],
//! which itself reads the registry.) `kaohe hub node add|edit` and
//! the console's 节点 page print the same list.
//!
//! - [`year_pack`]: the year's one current pack, loaded.
//! - [`node_warnings`]: the warnings for one node, every year of its scope.

use kaohe_rulepacks::pack::{Pack, PackError};
use kaohe_rulepacks::runtime::Runtime;
use rusqlite::Connection;

use crate::registry::StoreError;
use crate::registry::coverage::{self, Required};
use crate::registry::nodes::{self, NodeRecord};
use crate::registry::{packs, units};

/// Reading the registry or loading a stored pack failed.
#[derive(Debug, thiserror::Error)]
pub enum WarningsError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("读取规则包失败（stored pack）：{0}")]
    Pack(#[from] PackError),
}

/// The year's one current pack, loaded; `None` when the year has none (or
/// several), for the registry checks against it.
pub fn year_pack(
    conn: &Connection,
    runtime: &Runtime,
    year: i32,
) -> Result<Option<Pack>, WarningsError> {
    let Ok(year16) = u16::try_from(year) else {
        return Ok(None);
    };
    let current: Vec<_> = packs::list_packs(conn)?
        .into_iter()
        .filter(|p| p.is_current && p.identity.year == year16)
        .collect();
    let [one] = current.as_slice() else {
        return Ok(None);
    };
    let Some(stored) = packs::current_pack(conn, &one.identity.id, year16)? else {
        return Ok(None);
    };
    Ok(Some(Pack::load(runtime, &stored.module, &stored.identity)?))
}

/// What the county office should know about `node`'s scope in every year
/// it names: no roster yet, unit ids the roster lacks, units the roster
/// gives to another assessor, required methods nobody reports.
pub fn node_warnings(
    conn: &Connection,
    runtime: &Runtime,
    node: &NodeRecord,
) -> Result<Vec<String>, WarningsError> {
    let others: Vec<NodeRecord> = nodes::list_nodes(conn)?
        .into_iter()
        .filter(|n| n.id != node.id)
        .collect();
    let mut warnings = Vec::new();
    for &year in &node.scope.years {
        let roster = units::load_roster(conn, year)?;
        if roster.is_empty() {
            warnings.push(format!(
                "尚未导入 {year} 年度名册，无法核对授权范围；导入名册后请用 kaohe hub node list 复核（no roster for {year} yet）"
            ));
            continue;
        }
        for id in coverage::unknown_units(node, &roster) {
            warnings.push(format!(
                "单位 {id} 不在 {year} 年度名册中，这一项在该年度不授权任何单位（unit not in the {year} roster）"
            ));
        }
        let required: Option<Required> = year_pack(conn, runtime, year)?
            .map(|pack| crate::consolidate::required_methods(pack.manifest()));
        warnings.extend(coverage::registration_warnings(
            node,
            &others,
            &roster,
            required.as_ref(),
        ));
    }
    Ok(warnings)
}
