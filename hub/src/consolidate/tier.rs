//! The tiered view (分级考核): per unit with subordinate units, how its
//! units stand — assessed, not assessed, excused, and per grade.

use std::collections::{BTreeMap, BTreeSet};

use kaohe_rulepacks::manifest::Manifest;

use super::{Assessment, GradeCount, Tier, UnitResult};
use crate::registry::units::YearRoster;

pub(super) fn tiers(
    manifest: &Manifest,
    roster: &YearRoster,
    units: &[UnitResult],
    problems: &mut BTreeSet<String>,
) -> Vec<Tier> {
    let mut children: BTreeMap<&str, Vec<&UnitResult>> = BTreeMap::new();
    for u in units {
        if let Some(p) = &u.parent {
            children.entry(p.as_str()).or_default().push(u);
        }
    }
    children
        .into_iter()
        .map(|(parent, kids)| {
            let parent_name = match roster.get(parent) {
                Some(p) => p.name.clone(),
                None => {
                    problems.insert(format!(
                        "上级单位 {parent} 不在名册中，其下属单位仍单列（parent not on the roster）"
                    ));
                    String::new()
                }
            };
            let mut grades: Vec<GradeCount> = manifest
                .composition
                .grades
                .iter()
                .map(|g| GradeCount {
                    grade: g.id.clone(),
                    name: g.name.clone(),
                    count: 0,
                })
                .collect();
            let (mut assessed, mut not_assessed, mut excused) = (0, 0, 0);
            for k in &kids {
                match &k.assessment {
                    Assessment::Assessed(s) => {
                        assessed += 1;
                        if let Some(g) = grades.iter_mut().find(|g| g.grade == s.grade) {
                            g.count += 1;
                        }
                    }
                    Assessment::NotAssessed { .. } => not_assessed += 1,
                    Assessment::Excused { .. } => excused += 1,
                }
            }
            Tier {
                parent_id: parent.to_owned(),
                parent_name,
                units: kids.iter().map(|k| k.unit_id.clone()).collect(),
                total: kids.len() as u32,
                assessed,
                not_assessed,
                excused,
                grades,
            }
        })
        .collect()
}
