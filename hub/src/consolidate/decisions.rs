//! The recorded decisions checked against the manifest and the roster
//! once per consolidation; a decision that cannot apply is a problem, not
//! an error.

use std::collections::{BTreeMap, BTreeSet};

use kaohe_rulepacks::manifest::{Manifest, Round};

use super::{Decisions, ExcusalScope, PenaltyCapOverride, method_label};
use crate::registry::units::YearRoster;

/// The decisions, checked against the manifest and roster once.
pub(crate) struct CheckedDecisions<'a> {
    pub(crate) excused_units: BTreeMap<&'a str, &'a str>,
    /// (unit, method index, round) → reason.
    pub(crate) excused_quarters: BTreeMap<(&'a str, usize, Round), &'a str>,
    overrides: &'a BTreeMap<String, PenaltyCapOverride>,
}

impl Decisions {
    pub(super) fn checked<'a>(
        &'a self,
        manifest: &Manifest,
        roster: &YearRoster,
        problems: &mut BTreeSet<String>,
    ) -> CheckedDecisions<'a> {
        let mut excused_units = BTreeMap::new();
        let mut excused_quarters = BTreeMap::new();
        for e in &self.excusals {
            if roster.get(&e.unit_id).is_none() {
                problems.insert(format!(
                    "免考决定所指单位 {} 不在名册中，未生效（excusal names an unknown unit）",
                    e.unit_id
                ));
                continue;
            }
            match &e.scope {
                ExcusalScope::Unit => {
                    excused_units.insert(e.unit_id.as_str(), e.reason.as_str());
                }
                ExcusalScope::Quarter { method_id, round } => {
                    match manifest.method_index(method_id) {
                        Some(m) if manifest.methods[m].quarterly && round.is_quarter() => {
                            excused_quarters
                                .insert((e.unit_id.as_str(), m, *round), e.reason.as_str());
                        }
                        _ => {
                            problems.insert(format!(
                                "单位 {} 的免报决定（{}{}）不是按季度考核的方式的某一季度，未生效（excusal must name a quarter of a quarterly method）",
                                e.unit_id,
                                method_label(manifest, method_id),
                                round.name_zh()
                            ));
                        }
                    }
                }
            }
        }
        for (unit, o) in &self.penalty_cap_overrides {
            if roster.get(unit).is_none() {
                problems.insert(format!(
                    "减分上限决定所指单位 {unit} 不在名册中，未生效（override names an unknown unit）"
                ));
            } else if o.cap < 0 {
                problems.insert(format!(
                    "单位 {unit} 的减分上限决定为负数，未生效（negative penalty cap）"
                ));
            }
        }
        CheckedDecisions {
            excused_units,
            excused_quarters,
            overrides: &self.penalty_cap_overrides,
        }
    }
}

impl CheckedDecisions<'_> {
    pub(super) fn penalty_cap(&self, unit: &str) -> Option<&PenaltyCapOverride> {
        self.overrides.get(unit).filter(|o| o.cap >= 0)
    }
}
