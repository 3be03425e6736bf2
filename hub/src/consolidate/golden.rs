//! Test support: the hand-built golden county of
//! `hub/tests/golden/county-2022.toml`, read into the inputs of
//! [`consolidate`](super::consolidate) and [`outcomes`](crate::outcome::outcomes),
//! with the Baofeng 2022 rubric's reference interpreter as the finaliser.
//!
//! This builds inputs only; every expected value lives in the tests, worked
//! out by hand (the file's comments show the arithmetic).

use std::collections::BTreeMap;
use std::convert::Infallible;

use kaohe_rulepacks::abi::{FinaliseInput, FinaliseOutput};
use kaohe_rulepacks::interp::Interpreter;
use kaohe_rulepacks::manifest::{Flag, IndicatorKind, Manifest, Round};
use kaohe_rulepacks::rubric::{self, CheckedRubric};
use serde::Deserialize;

use super::{
    AcceptedResult, Consolidation, ConsolidationInput, Decisions, Excusal, ExcusalScope,
    PenaltyCapOverride, consolidate,
};
use crate::outcome::{PastResult, YearResults};
use crate::registry::units::{ResponsibleAssessor, UnitRecord, YearRoster};

pub(crate) const COUNTY: &str = include_str!("../../tests/golden/county-2022.toml");

pub(crate) struct Golden {
    pub rubric: CheckedRubric,
    pub interp: Interpreter,
    pub roster: YearRoster,
    pub results: Vec<AcceptedResult>,
    pub decisions: Decisions,
    pub history: Vec<YearResults>,
}

impl Golden {
    pub fn manifest(&self) -> &Manifest {
        &self.rubric.manifest
    }

    pub fn input(&self) -> ConsolidationInput<'_> {
        ConsolidationInput {
            manifest: self.manifest(),
            roster: &self.roster,
            results: &self.results,
            decisions: &self.decisions,
        }
    }

    /// The interpreter as the pack's `kaohe_finalise`.
    pub fn finaliser(
        &self,
    ) -> impl Fn(&[FinaliseInput]) -> Result<Vec<FinaliseOutput>, Infallible> + '_ {
        |units| Ok(self.interp.finalise(units))
    }

    pub fn consolidate(&self) -> Consolidation {
        consolidate(&self.input(), self.finaliser()).expect("the golden county consolidates")
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    year: i32,
    unit: Vec<Unit>,
    #[serde(rename = "override", default)]
    overrides: Vec<Override>,
    #[serde(rename = "excuse", default)]
    excuses: Vec<Excuse>,
    #[serde(default)]
    history: Vec<History>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Unit {
    id: String,
    name: String,
    category: String,
    assessor: String,
    parent: Option<String>,
    supervisor: Option<String>,
    principal: Option<String>,
    #[serde(default)]
    less: BTreeMap<String, String>,
    #[serde(default)]
    award: BTreeMap<String, String>,
    #[serde(default)]
    flags: Vec<String>,
    #[serde(default)]
    fired: BTreeMap<String, String>,
    #[serde(default)]
    missing: Vec<String>,
    #[serde(default)]
    late: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Override {
    unit: String,
    cap: String,
    reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Excuse {
    unit: String,
    method: Option<String>,
    round: Option<String>,
    reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct History {
    year: i32,
    units: BTreeMap<String, Past>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Past {
    total: String,
    grade: String,
}

/// "1.5" → 150, "3.64" → 364, "12" → 1200 (test data only).
pub(crate) fn hundredths(text: &str) -> i64 {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    assert!(frac.len() <= 2, "at most two decimals: {text}");
    let frac = format!("{frac:0<2}");
    whole.parse::<i64>().expect("whole part") * 100 + frac.parse::<i64>().expect("decimals")
}

/// `"daily@Q3"` → (daily, Q3); `"satisfaction"` → (satisfaction, annual).
fn key(text: &str) -> (String, Round) {
    match text.split_once('@') {
        Some((id, q)) => (id.to_owned(), Round::from_id(q).expect("a quarter")),
        None => (text.to_owned(), Round::Annual),
    }
}

fn received_at(round: Round, late: bool) -> i64 {
    // Just before each round's deadline (Beijing time); late ones ten days after.
    let on_time = match round {
        Round::Q1 => 1_649_952_000,
        Round::Q2 => 1_657_814_400,
        Round::Q3 => 1_665_763_200,
        Round::Q4 => 1_673_712_000,
        Round::Annual => 1_675_094_400,
    };
    if late {
        on_time + 10 * 86_400 + 3_600
    } else {
        on_time
    }
}

pub(crate) fn county() -> Golden {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../rulepacks/baofeng-2022/rubric.toml"
    );
    let rubric =
        rubric::load(std::path::Path::new(path)).expect("the Baofeng 2022 rubric compiles");
    let file: File = toml::from_str(COUNTY).expect("the golden county parses");
    let m = &rubric.manifest;
    let mut units = BTreeMap::new();
    let mut results = Vec::new();
    for u in &file.unit {
        units.insert(
            u.id.clone(),
            UnitRecord {
                year: file.year,
                id: u.id.clone(),
                name: u.name.clone(),
                category: u.category.clone(),
                parent: u.parent.clone(),
                supervising_department: u.supervisor.clone(),
                assessor: ResponsibleAssessor::from_stored(&u.assessor),
                principal: u.principal.clone(),
            },
        );
        let c = m
            .category_index(&u.category)
            .expect("a category of the pack");
        for (at, method) in m.methods.iter().enumerate() {
            let rounds: &[Round] = if method.quarterly {
                &Round::QUARTERS
            } else {
                &[Round::Annual]
            };
            for &round in rounds {
                if u.missing.contains(&report_name(&method.id, round)) {
                    continue;
                }
                let mut scores = BTreeMap::new();
                for i in m.applicable_indicators(c) {
                    if m.indicator_method(i) != Some(at) {
                        continue;
                    }
                    let ind = &m.indicators[i];
                    let score = match ind.kind {
                        IndicatorKind::Scored => {
                            let points = m.points(i, c).expect("applies");
                            let less = u
                                .less
                                .get(&report_name(&ind.id, round))
                                .map_or(0, |t| hundredths(t));
                            points - less
                        }
                        IndicatorKind::Bonus | IndicatorKind::Penalty => {
                            u.award.get(&ind.id).map_or(0, |t| hundredths(t))
                        }
                        IndicatorKind::Flag => {
                            let raised = ind
                                .flag
                                .is_some_and(|f: Flag| u.flags.iter().any(|x| x == f.id()));
                            if raised { 100 } else { 0 }
                        }
                    };
                    scores.insert(ind.id.clone(), score);
                }
                if scores.is_empty() {
                    continue;
                }
                let clauses = u
                    .fired
                    .iter()
                    .filter_map(|(k, v)| {
                        let (id, r) = key(k);
                        let (_, i) = m.clause_index(&id).expect("a clause of the pack");
                        (r == round && m.indicators[i].method == method.id)
                            .then(|| (id, hundredths(v)))
                    })
                    .collect();
                let late = u.late.contains(&report_name(&method.id, round));
                results.push(AcceptedResult {
                    unit_id: u.id.clone(),
                    round,
                    method_id: method.id.clone(),
                    node_id: if method.id == "satisfaction" {
                        "stats_bureau".to_owned()
                    } else {
                        u.assessor.clone()
                    },
                    scores,
                    clauses,
                    not_applicable: BTreeMap::new(),
                    evidence: None,
                    late,
                    received_at: received_at(round, late),
                });
            }
        }
    }
    let mut decisions = Decisions::default();
    for o in &file.overrides {
        decisions.penalty_cap_overrides.insert(
            o.unit.clone(),
            PenaltyCapOverride {
                cap: hundredths(&o.cap),
                reason: o.reason.clone(),
            },
        );
    }
    for e in &file.excuses {
        let scope = match (&e.method, &e.round) {
            (Some(method_id), Some(round)) => ExcusalScope::Quarter {
                method_id: method_id.clone(),
                round: Round::from_id(round).expect("a round"),
            },
            _ => ExcusalScope::Unit,
        };
        decisions.excusals.push(Excusal {
            unit_id: e.unit.clone(),
            scope,
            reason: e.reason.clone(),
        });
    }
    let history = file
        .history
        .iter()
        .map(|h| YearResults {
            year: h.year,
            units: h
                .units
                .iter()
                .map(|(id, p)| {
                    (
                        id.clone(),
                        PastResult {
                            total: hundredths(&p.total),
                            grade: p.grade.clone(),
                        },
                    )
                })
                .collect(),
        })
        .collect();
    Golden {
        interp: Interpreter::new(&rubric),
        rubric,
        roster: YearRoster {
            year: file.year,
            units,
        },
        results,
        decisions,
        history,
    }
}

/// How the file names a report or a quarterly score: `daily@Q3`, `S1`.
fn report_name(id: &str, round: Round) -> String {
    if round.is_quarter() {
        format!("{id}@{}", round.id())
    } else {
        id.to_owned()
    }
}
