//! 授权覆盖（coverage）：名册、授权范围与规则包合起来，每个单位的每种应报考核方式
//! 由哪个节点上报——登记节点时的提醒，和「未考核」的原因。
//!
//! Pure: the roster, the nodes and the methods each category must report
//! (from the year's pack, as [`Required`]) are passed in.
//!
//! - [`who_reports`]: the active nodes that may report a method on a unit.
//! - [`registration_warnings`]: what registering (or editing) a node
//!   should tell the county office — units its scope reaches that the
//!   roster gives to another assessor, units left without a required
//!   method and who (if anyone) reports it, units of its assessor it
//!   does not reach.
//! - [`owed_by`]: for a missing report, who owes it, in Chinese.

use std::collections::{BTreeMap, BTreeSet};

use super::nodes::{NodeRecord, assessor_name};
use super::scope::{RegistryView, method_name_zh};
use super::units::{UnitRecord, YearRoster};

/// The methods every unit of a category must report, by category id (in
/// the pack's method order).
pub type Required = BTreeMap<String, Vec<String>>;

/// The active nodes that may report `method` on `unit` in its year.
pub fn who_reports<'n>(
    nodes: &'n [NodeRecord],
    unit: &UnitRecord,
    method: &str,
    view: &impl RegistryView,
) -> Vec<&'n NodeRecord> {
    nodes
        .iter()
        .filter(|n| n.authorize(unit, method, unit.year, view).is_ok())
        .collect()
}

/// Who owes `method` of `unit`, for a 未考核 reason: the nodes that may
/// report it, or that none may (and whose unit the roster says it is).
pub fn owed_by(
    nodes: &[NodeRecord],
    unit: &UnitRecord,
    method: &str,
    view: &impl RegistryView,
) -> String {
    let reporters = who_reports(nodes, unit, method, view);
    let assessor = assessor_name(&unit.assessor, view, unit.year);
    if reporters.is_empty() {
        format!(
            "应由考核主体{assessor}上报，但尚无节点获授权上报此方式，请县依法治县办调整授权范围（kaohe hub node edit）"
        )
    } else {
        format!(
            "应由考核主体{assessor}的节点{}上报",
            reporters
                .iter()
                .map(|n| format!("「{}」", n.name))
                .collect::<Vec<_>>()
                .join("或")
        )
    }
}

/// The warnings for `node` in `year` against the roster, every other node
/// and what each category must report; empty when all is well. `required`
/// is `None` when the year has no pack yet (then methods are not checked).
pub fn registration_warnings(
    node: &NodeRecord,
    others: &[NodeRecord],
    roster: &YearRoster,
    required: Option<&Required>,
) -> Vec<String> {
    let year = roster.year;
    let mut warnings = Vec::new();
    if !node.scope.years.contains(&year) {
        return warnings;
    }
    // Units the scope reaches that the roster gives to someone else.
    let foreign: Vec<String> = roster
        .iter()
        .filter(|u| node.scope.covers_unit(u, roster) && node.check_assessor(u, roster).is_err())
        .map(|u| {
            format!(
                "{}（{}，考核主体{}）",
                u.name,
                u.id,
                assessor_name(&u.assessor, roster, year)
            )
        })
        .collect();
    if !foreign.is_empty() {
        warnings.push(format!(
            "{year} 年度：授权范围包含 {} 个名册上由其他考核主体考核的单位，本节点对它们的上报将被拒收：{}（units the roster gives to another assessor）",
            foreign.len(),
            shorten(&foreign)
        ));
        if let Some(own) = node.assessor_unit.as_deref()
            && !node.scope.own_unit
            && foreign.iter().any(|f| f.contains(&format!("（{own}，")))
        {
            warnings.push(format!(
                "若本节点须对本单位 {own} 自评，请用 kaohe hub node edit --own-unit 写明（self-assessment must be explicit）"
            ));
        }
    }
    // Units of the node's assessor that the scope does not reach.
    if let Some(responsible) = node.responsible() {
        let unreached: Vec<String> = roster
            .iter()
            .filter(|u| u.assessor == responsible && !node.scope.covers_unit(u, roster))
            .map(|u| format!("{}（{}）", u.name, u.id))
            .collect();
        if !unreached.is_empty() {
            warnings.push(format!(
                "{year} 年度：名册上由本节点的考核主体考核的 {} 个单位不在授权范围内，本节点不能上报：{}（units of this assessor outside the scope）",
                unreached.len(),
                shorten(&unreached)
            ));
        }
    }
    // Required methods the node is not granted, grouped so that a category
    // of forty villages is one line.
    let Some(required) = required else {
        warnings.push(format!(
            "{year} 年度尚未发布规则包，无法核对授权的考核方式是否齐全（no pack for {year}: methods not checked）"
        ));
        return warnings;
    };
    let mut gaps: BTreeMap<Vec<(String, String)>, Vec<String>> = BTreeMap::new();
    for unit in roster.iter().filter(|u| node.may_report(u, roster)) {
        let Some(methods) = required.get(&unit.category) else {
            continue;
        };
        let missing: Vec<(String, String)> = methods
            .iter()
            .filter(|m| !node.scope.methods.contains(*m))
            .map(|m| {
                let by = who_reports(others, unit, m, roster);
                let who = if by.is_empty() {
                    "尚无节点获授权".to_string()
                } else {
                    format!(
                        "由{}上报",
                        by.iter()
                            .map(|n| format!("「{}」", n.name))
                            .collect::<Vec<_>>()
                            .join("或")
                    )
                };
                (m.clone(), who)
            })
            .collect();
        if !missing.is_empty() {
            gaps.entry(missing)
                .or_default()
                .push(format!("{}（{}）", unit.name, unit.id));
        }
    }
    for (missing, units) in gaps {
        let unassessed = missing.iter().any(|(_, who)| who == "尚无节点获授权");
        warnings.push(format!(
            "{year} 年度：{} 个单位的应报考核方式本节点未获授权：{}；{}：{}（required methods not granted）",
            units.len(),
            missing
                .iter()
                .map(|(m, who)| format!("{}（{m}，{who}）", method_name_zh(m).unwrap_or(m)))
                .collect::<Vec<_>>()
                .join("、"),
            if unassessed {
                "没有节点上报的方式缺着，这些单位将是「未考核」"
            } else {
                "须由上述节点上报"
            },
            shorten(&units)
        ));
    }
    warnings
}

/// At most ten items, then how many more.
fn shorten(items: &[String]) -> String {
    let mut out: Vec<&str> = items.iter().take(10).map(String::as_str).collect();
    let more;
    if items.len() > 10 {
        more = format!("……共 {} 个", items.len());
        out.push(&more);
    }
    out.join("、")
}

/// Unit ids a scope names (subtrees, units) that are not in `roster`.
pub fn unknown_units(node: &NodeRecord, roster: &YearRoster) -> BTreeSet<String> {
    node.scope
        .subtrees
        .iter()
        .chain(&node.scope.units)
        .chain(node.assessor_unit.as_ref())
        .filter(|id| roster.get(id).is_none())
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::nodes::AssessorKind;
    use crate::registry::nodes::tests::key;
    use crate::registry::scope::Scope;
    use crate::registry::units::ResponsibleAssessor;
    use crate::registry::units::tests::unit;

    fn roster() -> YearRoster {
        let village = |id: &str| {
            let mut v = unit(2024, id, "village", Some("xq"));
            v.assessor = ResponsibleAssessor::Unit("xq".into());
            v
        };
        YearRoster {
            year: 2024,
            units: [
                unit(2024, "xq", "township", None),
                village("xq1"),
                village("xq2"),
            ]
            .into_iter()
            .map(|u| (u.id.clone(), u))
            .collect(),
        }
    }

    fn node(name: &str, seed: u8, unit: Option<&str>, scope: Scope) -> NodeRecord {
        let pair = kaohe_proto::keys::SigningKeyPair::from_seed(&[seed; 32]);
        assert_eq!(pair.public().to_string(), key(seed));
        NodeRecord {
            id: pair.key_id(),
            key: crate::registry::nodes::NodeKey {
                key_id: pair.key_id(),
                public_key: pair.public(),
                first_sequence: 1,
                added_at: "2024-01-01T00:00:00Z".parse().unwrap(),
                retired: None,
            },
            earlier_keys: Vec::new(),
            name: name.into(),
            assessor: if unit.is_some() {
                AssessorKind::Township
            } else {
                AssessorKind::CountyOffice
            },
            assessor_unit: unit.map(str::to_string),
            scope,
            added_at: "2024-01-01T00:00:00Z".parse().unwrap(),
            state: crate::registry::nodes::NodeState::Active,
        }
    }

    fn scope(subtrees: &[&str], methods: &[&str]) -> Scope {
        Scope {
            subtrees: subtrees.iter().map(|s| s.to_string()).collect(),
            methods: methods.iter().map(|s| s.to_string()).collect(),
            years: [2024].into(),
            ..Scope::default()
        }
    }

    fn required() -> Required {
        [(
            "village".to_string(),
            vec!["daily".to_string(), "satisfaction".to_string()],
        )]
        .into()
    }

    /// The guide's example: `--subtrees xiaoqi --methods daily` for a
    /// township node reaches the township itself (the county office's)
    /// and leaves satisfaction to nobody.
    #[test]
    fn the_guides_scope_is_warned_about_the_township_and_the_missing_method() {
        let r = roster();
        let township = node("肖旗乡节点", 1, Some("xq"), scope(&["xq"], &["daily"]));
        let w = registration_warnings(&township, &[], &r, Some(&required()));
        let all = w.join("\n");
        assert!(all.contains("xq名称（xq，考核主体依法治县办）"), "{all}");
        assert!(all.contains("--own-unit"), "{all}");
        assert!(
            all.contains(
                "2 个单位的应报考核方式本节点未获授权：满意度调查（satisfaction，尚无节点获授权）"
            ),
            "{all}"
        );
        assert!(all.contains("未考核"), "{all}");
        assert!(!all.contains("不在授权范围内"), "{all}");
        // Another node granted satisfaction: named, and no longer 未考核.
        let survey = node(
            "满意度调查节点",
            2,
            Some("xq"),
            scope(&["xq"], &["satisfaction"]),
        );
        let w = registration_warnings(
            &township,
            std::slice::from_ref(&survey),
            &r,
            Some(&required()),
        );
        let all = w.join("\n");
        assert!(all.contains("由「满意度调查节点」上报"), "{all}");
        assert!(!all.contains("未考核"), "{all}");
        assert_eq!(
            owed_by(
                &[township.clone(), survey],
                r.get("xq1").unwrap(),
                "satisfaction",
                &r
            ),
            "应由考核主体xq名称（xq）的节点「满意度调查节点」上报"
        );
        assert!(
            owed_by(&[township], r.get("xq1").unwrap(), "satisfaction", &r)
                .contains("尚无节点获授权")
        );
    }

    #[test]
    fn a_scope_that_fits_the_roster_has_no_warnings() {
        let r = roster();
        let township = node(
            "肖旗乡节点",
            1,
            Some("xq"),
            scope(&[], &["daily", "satisfaction"]),
        );
        let township = NodeRecord {
            scope: Scope {
                units: ["xq1".to_string(), "xq2".to_string()].into(),
                ..township.scope
            },
            ..township
        };
        assert_eq!(
            registration_warnings(&township, &[], &r, Some(&required())),
            Vec::<String>::new()
        );
        assert!(unknown_units(&township, &r).is_empty());
        // Without a pack the methods cannot be checked, and it says so.
        let w = registration_warnings(&township, &[], &r, None);
        assert!(w[0].contains("尚未发布规则包"), "{w:?}");
    }
}
