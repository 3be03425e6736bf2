//! 汇总（consolidation）：一年的已接受上报结果 → 每个单位的得分表和等次、
//! 排名、季度擂台（党建引领·比拼四季）、分级考核视图、报送完整性。
//!
//! [`consolidate`] is a pure function of its [`ConsolidationInput`] (the
//! manifest, the year's roster, the accepted current per-method results and
//! the recorded decisions) and of the pack's `kaohe_finalise`, passed in as a
//! function ([`Pack::finalise`](kaohe_rulepacks::pack::Pack::finalise) in
//! production, the reference interpreter in tests). It reads no clock, no
//! file and no database; every collection in the output is sorted, so
//! serialising the same inputs twice gives the same bytes (RELIABILITY.md
//! promise 4).
//!
//! Per unit (roster order):
//! 1. the reports it must receive are every (method, round) of a method that
//!    has an indicator applicable to its category — `Q1`..`Q4` for quarterly
//!    methods, `annual` otherwise ([`expected_reports`]); a recorded
//!    [`Excusal`] removes the whole unit or one quarter of a quarterly method;
//! 2. a report missing or received twice (two nodes, same method and round)
//!    makes the unit **not assessed**, with a [`Gap`] saying exactly what —
//!    never a silent 0; a missing quarter is a gap too (only an excused
//!    quarter is left out of the combination, RUBRIC.md §6);
//! 3. the per-method results are merged into one sheet
//!    ([`abi::merge_outputs`], quarters combined per the manifest), every
//!    applicable indicator must be present, and the whole year is finalised
//!    by the pack in one batch (with a recorded penalty-cap override);
//! 4. ranked categories are ranked by total, descending; equal totals share
//!    a rank and the next rank skips (1, 2, 2, 4); display order among equals
//!    is by unit id; units not assessed or excused are listed apart; the
//!    manifest's excellent quota, when it sets one, is applied here
//!    ([`rank`]).
//!
//! Layout: [`rank`] — competition ranking, the excellent quota and the
//! quarterly leaderboard.

pub mod rank;

#[cfg(test)]
pub(crate) mod golden;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use kaohe_rulepacks::abi::{self, FinaliseInput, FinaliseOutput, UnitOutput, UnitStatus};
use kaohe_rulepacks::manifest::{IndicatorKind, Manifest, Round};
use kaohe_rulepacks::rubric::decimal::format_hundredths;
use serde::{Deserialize, Serialize};

use crate::registry::units::{ResponsibleAssessor, UnitRecord, YearRoster};

/// Everything a consolidation is computed from. Nothing else is read.
#[derive(Debug, Clone, Copy)]
pub struct ConsolidationInput<'a> {
    /// The year's pack manifest (categories, methods, indicators, grades).
    pub manifest: &'a Manifest,
    /// The year's roster: category, parent, supervising department and
    /// responsible assessor of every unit.
    pub roster: &'a YearRoster,
    /// The accepted **current** results (one per node, unit, round and
    /// method; superseded ones are not passed). Order does not matter.
    pub results: &'a [AcceptedResult],
    pub decisions: &'a Decisions,
}

/// One accepted per-method result, as the hub stored it after the replay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptedResult {
    pub unit_id: String,
    pub round: Round,
    pub method_id: String,
    /// Key id of the node that reported it.
    pub node_id: String,
    /// Indicator id → score (hundredths), as replayed.
    pub scores: BTreeMap<String, i64>,
    /// Fired clause id → amount (hundredths).
    pub clauses: BTreeMap<String, i64>,
    /// Committed after the round's deadline (hub clock).
    pub late: bool,
    /// Hub commit time, unix seconds.
    pub received_at: i64,
}

/// Recorded decisions of the county office that change a consolidation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decisions {
    /// Unit id → override of the penalty cap ("原则上不超过10分").
    pub penalty_cap_overrides: BTreeMap<String, PenaltyCapOverride>,
    pub excusals: Vec<Excusal>,
}

/// A recorded override of the penalty cap for one unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PenaltyCapOverride {
    /// Hundredths.
    pub cap: i64,
    pub reason: String,
}

/// A recorded decision that a unit, or one quarter of a quarterly method,
/// is not assessed (e.g. a unit formed in April needs no Q1 report).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Excusal {
    pub unit_id: String,
    pub scope: ExcusalScope,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ExcusalScope {
    /// The unit is not assessed this year (免于考核): not expected to
    /// report, listed apart, never ranked.
    Unit,
    /// One quarter of a quarterly method: not expected; the year's value
    /// combines the other quarters (RUBRIC.md §6). A report received for
    /// it anyway is not counted.
    Quarter { method_id: String, round: Round },
}

/// The pack's `kaohe_finalise` failed for the whole batch, or answered for
/// a different number of units: nothing can be consolidated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsolidateError {
    #[error("规则包定稿失败，无法汇总（the pack could not finalise the batch）：{0}")]
    Finalise(String),
    #[error(
        "规则包返回 {got} 个单位的得分表，应为 {expected} 个（finalise output count mismatch）"
    )]
    OutputCount { expected: usize, got: usize },
}

/// The consolidated year.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consolidation {
    pub year: i32,
    pub pack: PackRef,
    /// Every roster unit, by id.
    pub units: Vec<UnitResult>,
    /// The ranked categories, in manifest order.
    pub rankings: Vec<Ranking>,
    /// Per quarter (Q1..Q4), per ranked category with a quarterly method.
    pub leaderboards: Vec<rank::QuarterBoard>,
    /// Each unit that has subordinate units (分级考核), by parent id.
    pub tiers: Vec<Tier>,
    pub completeness: Completeness,
    /// Inputs that could not be used, in Chinese (results for units not on
    /// the roster, decisions naming unknown units, …). Sorted.
    pub problems: Vec<String>,
}

/// Which pack the consolidation was computed with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackRef {
    pub id: String,
    pub year: u32,
    pub version: u32,
}

/// One unit's standing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitResult {
    pub unit_id: String,
    pub name: String,
    pub category: String,
    pub category_name: String,
    pub parent: Option<String>,
    pub supervising_department: Option<String>,
    /// The responsible assessor as stored (`county_office`, `sasac`,
    /// `health_commission` or a unit id).
    pub assessor: String,
    pub assessment: Assessment,
    /// Reports of this unit committed after their deadline.
    pub late_reports: Vec<ReportKey>,
}

impl UnitResult {
    /// The score sheet, when the unit was assessed.
    pub fn scored(&self) -> Option<&Scored> {
        match &self.assessment {
            Assessment::Assessed(s) => Some(s),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Assessment {
    Assessed(Scored),
    /// Something is missing or unusable; `gaps` says exactly what.
    NotAssessed {
        gaps: Vec<Gap>,
    },
    /// A recorded excusal of the whole unit.
    Excused {
        reason: String,
    },
}

/// A finalised sheet with its grade and rank.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scored {
    pub applicable: i64,
    pub raw: i64,
    pub converted: i64,
    pub bonus: i64,
    pub penalty: i64,
    pub total: i64,
    /// Grade id (after the excellent quota, if any).
    pub grade: String,
    pub grade_name: String,
    pub serious_case: bool,
    pub major_problem: bool,
    /// Place in its category's ranking (ranked categories only).
    pub rank: Option<Place>,
    pub penalty_cap_override: Option<PenaltyCapOverride>,
    /// Why the sheet differs from the plain rule (excused quarters, an
    /// override, the quota), in Chinese.
    pub notes: Vec<String>,
    /// The year's value of every applicable indicator, manifest order.
    pub indicators: Vec<IndicatorScore>,
    /// Every fired clause, by round then manifest order.
    pub fired: Vec<FiredClause>,
}

/// A rank among `of` assessed units; `tied` when another unit shares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Place {
    pub rank: u32,
    pub of: u32,
    pub tied: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndicatorScore {
    pub indicator_id: String,
    pub score: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FiredClause {
    pub round: Round,
    pub indicator_id: String,
    pub clause_id: String,
    pub amount: i64,
    pub reason: String,
}

/// A (method, round) report.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ReportKey {
    pub method_id: String,
    pub round: Round,
}

/// Why a unit is not assessed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    #[serde(flatten)]
    pub what: GapKind,
    /// The same in Chinese, for officials.
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GapKind {
    /// An expected report was not received.
    MissingReport { method_id: String, round: Round },
    /// Two or more nodes reported the same method and round.
    DuplicateReport {
        method_id: String,
        round: Round,
        nodes: Vec<String>,
    },
    /// A result names an indicator or clause the pack does not have, or of
    /// another method.
    UnknownScore {
        method_id: String,
        round: Round,
        id: String,
    },
    /// An applicable indicator has no score after the merge.
    MissingIndicator { indicator_id: String },
    /// The unit's category is not in the pack.
    UnknownCategory { category: String },
    /// The merge refused the results (ABI.md §7).
    Merge { detail: String },
    /// The pack refused the sheet (ABI.md §3 status).
    Finalise { detail: String },
}

/// The ranking of one ranked category.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ranking {
    pub category: String,
    pub category_name: String,
    /// Assessed units by rank, then unit id.
    pub entries: Vec<RankEntry>,
    /// Unit ids not assessed (see their gaps), unranked.
    pub not_assessed: Vec<String>,
    /// Unit ids excused.
    pub excused: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RankEntry {
    pub rank: u32,
    pub tied: bool,
    pub unit_id: String,
    pub name: String,
    pub total: i64,
    pub grade: String,
}

/// A unit's own subordinate system (村 under 乡镇, 医院 under 卫健委).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tier {
    pub parent_id: String,
    pub parent_name: String,
    /// Subordinate unit ids.
    pub units: Vec<String>,
    pub total: u32,
    pub assessed: u32,
    pub not_assessed: u32,
    pub excused: u32,
    /// Every grade of the manifest, highest first, with its count among the
    /// assessed subordinate units.
    pub grades: Vec<GradeCount>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GradeCount {
    pub grade: String,
    pub name: String,
    pub count: u32,
}

/// Who has not reported what, and who reported late.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Completeness {
    /// Reports expected from the manifest (excused ones not counted).
    pub expected: u32,
    /// Expected reports received (a report received twice counts once).
    pub received: u32,
    /// Excused quarters.
    pub excused_reports: u32,
    /// Units excused entirely (expect nothing).
    pub excused_units: Vec<String>,
    /// By unit id, then method (manifest order), then round.
    pub missing: Vec<MissingReport>,
    /// By unit id, then method, round and node.
    pub late: Vec<LateReport>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissingReport {
    pub unit_id: String,
    pub unit_name: String,
    /// The unit's responsible assessor, as stored.
    pub assessor: String,
    pub method_id: String,
    pub method_name: String,
    pub round: Round,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LateReport {
    pub unit_id: String,
    pub unit_name: String,
    pub method_id: String,
    pub method_name: String,
    pub round: Round,
    pub node_id: String,
    pub received_at: i64,
}

impl Consolidation {
    pub fn unit(&self, id: &str) -> Option<&UnitResult> {
        self.units
            .binary_search_by(|u| u.unit_id.as_str().cmp(id))
            .ok()
            .map(|i| &self.units[i])
    }

    pub fn ranking(&self, category: &str) -> Option<&Ranking> {
        self.rankings.iter().find(|r| r.category == category)
    }

    pub fn tier(&self, parent: &str) -> Option<&Tier> {
        self.tiers.iter().find(|t| t.parent_id == parent)
    }

    /// Canonical JSON: the same consolidation always gives the same bytes.
    pub fn to_json(&self) -> Vec<u8> {
        // Plain structs, string-keyed maps only: serialising cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// SHA-256 (hex) of [`to_json`](Consolidation::to_json): what an
    /// approval records, and what is compared with the record later to
    /// tell whether the year changed since it was approved.
    pub fn sha256(&self) -> String {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(self.to_json()))
    }
}

/// The reports a unit of category `category` must receive, in manifest
/// method order: every method with an applicable indicator, in `Q1`..`Q4`
/// when quarterly, else `annual`.
pub fn expected_reports(manifest: &Manifest, category: usize) -> Vec<(usize, Round)> {
    let mut out = Vec::new();
    for (m, method) in manifest.methods.iter().enumerate() {
        let applies = manifest
            .applicable_indicators(category)
            .any(|i| manifest.indicator_method(i) == Some(m));
        if !applies {
            continue;
        }
        if method.quarterly {
            out.extend(Round::QUARTERS.iter().map(|&q| (m, q)));
        } else {
            out.push((m, Round::Annual));
        }
    }
    out
}

/// Consolidates the year; see the module docs.
pub fn consolidate<E: fmt::Display>(
    input: &ConsolidationInput<'_>,
    finalise: impl FnOnce(&[FinaliseInput]) -> Result<Vec<FinaliseOutput>, E>,
) -> Result<Consolidation, ConsolidateError> {
    let manifest = input.manifest;
    let roster = input.roster;
    let mut problems = BTreeSet::new();
    if i64::from(roster.year) != i64::from(manifest.pack.year) {
        problems.insert(format!(
            "名册年度 {} 与规则包年度 {} 不一致（roster and pack years differ）",
            roster.year, manifest.pack.year
        ));
    }

    let mut by_unit: BTreeMap<&str, Vec<&AcceptedResult>> = BTreeMap::new();
    for r in input.results {
        if roster.get(&r.unit_id).is_some() {
            by_unit.entry(r.unit_id.as_str()).or_default().push(r);
        } else {
            problems.insert(format!(
                "单位 {} 不在 {} 年度名册中，其{}{}结果未计入（unit not on the roster）",
                r.unit_id,
                roster.year,
                method_label(manifest, &r.method_id),
                r.round.name_zh()
            ));
        }
    }
    for list in by_unit.values_mut() {
        list.sort_by(|a, b| result_order(manifest, a, b));
    }
    let decisions = Decisions::checked(input.decisions, manifest, roster, &mut problems);

    let mut units = Vec::with_capacity(roster.len());
    let mut completeness = Completeness::default();
    let mut batch: Vec<FinaliseInput> = Vec::new();
    // Per sheet of the batch: the unit's place in `units` and the reports
    // that made the sheet.
    let mut batch_units: Vec<(usize, Vec<&AcceptedResult>)> = Vec::new();
    for unit in roster.iter() {
        let results = by_unit.get(unit.id.as_str()).map_or(&[][..], Vec::as_slice);
        let category = manifest.category_index(&unit.category);
        let mut late = Vec::new();
        // An excused unit's reports are not counted, late or not.
        let excused = decisions.excused_units.contains_key(unit.id.as_str());
        for r in results.iter().filter(|r| r.late && !excused) {
            late.push(ReportKey {
                method_id: r.method_id.clone(),
                round: r.round,
            });
            completeness.late.push(LateReport {
                unit_id: unit.id.clone(),
                unit_name: unit.name.clone(),
                method_id: r.method_id.clone(),
                method_name: method_name(manifest, &r.method_id),
                round: r.round,
                node_id: r.node_id.clone(),
                received_at: r.received_at,
            });
        }
        late.sort();
        late.dedup();
        let assessment = if let Some(reason) = decisions.excused_units.get(unit.id.as_str()) {
            completeness.excused_units.push(unit.id.clone());
            if !results.is_empty() {
                problems.insert(format!(
                    "单位 {}（{}）已免于考核，其 {} 份上报结果未计入（unit excused, results not counted）",
                    unit.id,
                    unit.name,
                    results.len()
                ));
            }
            Assessment::Excused {
                reason: (*reason).to_owned(),
            }
        } else if let Some(c) = category {
            match prepare(
                manifest,
                unit,
                c,
                results,
                &decisions,
                &mut completeness,
                &mut problems,
            ) {
                Ok((sheet, used)) => {
                    batch.push(sheet);
                    batch_units.push((units.len(), used));
                    // Replaced by the finalised sheet below.
                    Assessment::NotAssessed { gaps: Vec::new() }
                }
                Err(gaps) => Assessment::NotAssessed { gaps },
            }
        } else {
            problems.insert(format!(
                "单位 {}（{}）的类别 {} 不在规则包中，无法确定应报结果（unknown category）",
                unit.id, unit.name, unit.category
            ));
            Assessment::NotAssessed {
                gaps: vec![Gap {
                    message: format!(
                        "类别 {} 不在 {} 年度规则包中（unknown category）",
                        unit.category, manifest.pack.year
                    ),
                    what: GapKind::UnknownCategory {
                        category: unit.category.clone(),
                    },
                }],
            }
        };
        units.push(UnitResult {
            unit_id: unit.id.clone(),
            name: unit.name.clone(),
            category: unit.category.clone(),
            category_name: category
                .map(|c| manifest.categories[c].name.clone())
                .unwrap_or_default(),
            parent: unit.parent.clone(),
            supervising_department: unit.supervising_department.clone(),
            assessor: unit.assessor.as_stored().to_owned(),
            assessment,
            late_reports: late,
        });
    }

    let outputs = if batch.is_empty() {
        Vec::new()
    } else {
        finalise(&batch).map_err(|e| ConsolidateError::Finalise(e.to_string()))?
    };
    if outputs.len() != batch.len() {
        return Err(ConsolidateError::OutputCount {
            expected: batch.len(),
            got: outputs.len(),
        });
    }
    for ((sheet, output), (at, used)) in batch.iter().zip(&outputs).zip(&batch_units) {
        let unit = &roster.units[&units[*at].unit_id];
        units[*at].assessment = finalised(manifest, unit, sheet, output, used, &decisions);
    }

    let rankings = rank::rank_categories(manifest, &mut units);
    let leaderboards = rank::leaderboards(
        manifest,
        roster,
        &by_unit,
        &decisions.excused_quarters,
        &decisions.excused_units,
    );
    let tiers = tiers(manifest, roster, &units, &mut problems);
    completeness.missing.sort_by(|a, b| {
        (&a.unit_id, method_pos(manifest, &a.method_id), a.round).cmp(&(
            &b.unit_id,
            method_pos(manifest, &b.method_id),
            b.round,
        ))
    });
    completeness.late.sort_by(|a, b| {
        (
            &a.unit_id,
            method_pos(manifest, &a.method_id),
            a.round,
            &a.node_id,
        )
            .cmp(&(
                &b.unit_id,
                method_pos(manifest, &b.method_id),
                b.round,
                &b.node_id,
            ))
    });
    Ok(Consolidation {
        year: roster.year,
        pack: PackRef {
            id: manifest.pack.id.clone(),
            year: manifest.pack.year,
            version: manifest.pack.version,
        },
        units,
        rankings,
        leaderboards,
        tiers,
        completeness,
        problems: problems.into_iter().collect(),
    })
}

/// The decisions, checked against the manifest and roster once.
pub(crate) struct CheckedDecisions<'a> {
    pub(crate) excused_units: BTreeMap<&'a str, &'a str>,
    /// (unit, method index, round) → reason.
    pub(crate) excused_quarters: BTreeMap<(&'a str, usize, Round), &'a str>,
    overrides: &'a BTreeMap<String, PenaltyCapOverride>,
}

impl Decisions {
    fn checked<'a>(
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
    fn penalty_cap(&self, unit: &str) -> Option<&PenaltyCapOverride> {
        self.overrides.get(unit).filter(|o| o.cap >= 0)
    }
}

/// Everything before the pack: expected reports, gaps, the merged sheet.
fn prepare<'r>(
    manifest: &Manifest,
    unit: &UnitRecord,
    category: usize,
    results: &[&'r AcceptedResult],
    decisions: &CheckedDecisions<'_>,
    completeness: &mut Completeness,
    problems: &mut BTreeSet<String>,
) -> Result<(FinaliseInput, Vec<&'r AcceptedResult>), Vec<Gap>> {
    let expected = expected_reports(manifest, category);
    let mut received: BTreeMap<(usize, Round), Vec<&AcceptedResult>> = BTreeMap::new();
    for &r in results {
        let key = manifest.method_index(&r.method_id).map(|m| (m, r.round));
        match key {
            Some(key) if expected.contains(&key) => received.entry(key).or_default().push(r),
            _ => {
                problems.insert(format!(
                    "单位 {}（{}）的{}{}结果不是本类别应报的结果，未计入（report not expected for the category）",
                    unit.id,
                    unit.name,
                    method_label(manifest, &r.method_id),
                    r.round.name_zh()
                ));
            }
        }
    }
    let mut gaps = Vec::new();
    let mut used: Vec<&'r AcceptedResult> = Vec::new();
    for &(m, round) in &expected {
        let method = &manifest.methods[m];
        let label = format!("{}（{}）{}", method.name, method.id, round.name_zh());
        let got = received.get(&(m, round)).map_or(&[][..], Vec::as_slice);
        if decisions
            .excused_quarters
            .contains_key(&(unit.id.as_str(), m, round))
        {
            completeness.excused_reports += 1;
            if !got.is_empty() {
                problems.insert(format!(
                    "单位 {}（{}）的{}已决定免报，收到的结果未计入（excused report not counted）",
                    unit.id, unit.name, label
                ));
            }
            continue;
        }
        completeness.expected += 1;
        match got {
            [] => {
                completeness.missing.push(MissingReport {
                    unit_id: unit.id.clone(),
                    unit_name: unit.name.clone(),
                    assessor: unit.assessor.as_stored().to_owned(),
                    method_id: method.id.clone(),
                    method_name: method.name.clone(),
                    round,
                });
                gaps.push(Gap {
                    message: format!("{label}结果未报送（report missing）"),
                    what: GapKind::MissingReport {
                        method_id: method.id.clone(),
                        round,
                    },
                });
            }
            [one] => {
                completeness.received += 1;
                used.push(one);
            }
            many => {
                completeness.received += 1;
                let nodes: Vec<String> = many.iter().map(|r| r.node_id.clone()).collect();
                gaps.push(Gap {
                    message: format!(
                        "{label}结果由 {} 个节点重复上报（{}），须裁定采用哪一份（reported twice）",
                        nodes.len(),
                        nodes.join("、")
                    ),
                    what: GapKind::DuplicateReport {
                        method_id: method.id.clone(),
                        round,
                        nodes,
                    },
                });
            }
        }
    }
    let mut outputs = Vec::with_capacity(used.len());
    for r in &used {
        match unit_output(manifest, r) {
            Ok(o) => outputs.push((r.round, o)),
            Err(mut g) => gaps.append(&mut g),
        }
    }
    if !gaps.is_empty() {
        return Err(gaps);
    }
    let pairs: Vec<(Round, &UnitOutput)> = outputs.iter().map(|(r, o)| (*r, o)).collect();
    let cap = decisions.penalty_cap(&unit.id).map(|o| o.cap);
    let sheet = abi::merge_outputs(manifest, category as u32, &pairs, cap).map_err(|e| {
        vec![Gap {
            message: format!("各方式结果无法合并为得分表（cannot merge）：{e}"),
            what: GapKind::Merge {
                detail: e.to_string(),
            },
        }]
    })?;
    let missing: Vec<Gap> = manifest
        .applicable_indicators(category)
        .filter(|&i| sheet.scores[i].is_none())
        .map(|i| {
            let ind = &manifest.indicators[i];
            Gap {
                message: format!(
                    "缺少指标 {}（{}）的得分（indicator missing）",
                    ind.id, ind.name
                ),
                what: GapKind::MissingIndicator {
                    indicator_id: ind.id.clone(),
                },
            }
        })
        .collect();
    if missing.is_empty() {
        Ok((sheet, used))
    } else {
        Err(missing)
    }
}

/// An accepted result as the ABI's per-round output.
fn unit_output(manifest: &Manifest, r: &AcceptedResult) -> Result<UnitOutput, Vec<Gap>> {
    let mut out = UnitOutput {
        status: UnitStatus::Ok,
        fuel_used: 0,
        indicators: vec![None; manifest.indicators.len()],
        clauses: vec![None; manifest.clause_count()],
    };
    let mut gaps = Vec::new();
    let label = format!(
        "{}{}",
        method_label(manifest, &r.method_id),
        r.round.name_zh()
    );
    let mut unknown = |id: &str, what: &str| {
        gaps.push(Gap {
            message: format!("{label}结果含{what} {id}（unknown score）"),
            what: GapKind::UnknownScore {
                method_id: r.method_id.clone(),
                round: r.round,
                id: id.to_owned(),
            },
        });
    };
    for (id, &score) in &r.scores {
        match manifest.indicator_index(id) {
            Some(i) if manifest.indicators[i].method == r.method_id => {
                out.indicators[i] = Some(score);
            }
            Some(_) => unknown(id, "不属于该考核方式的指标"),
            None => unknown(id, "规则包中没有的指标"),
        }
    }
    for (id, &amount) in &r.clauses {
        match manifest.clause_index(id) {
            Some((k, i)) if manifest.indicators[i].method == r.method_id => {
                out.clauses[k] = Some(amount);
            }
            Some(_) => unknown(id, "不属于该考核方式的条款"),
            None => unknown(id, "规则包中没有的条款"),
        }
    }
    if gaps.is_empty() { Ok(out) } else { Err(gaps) }
}

/// The pack's answer for one unit as its assessment.
fn finalised(
    manifest: &Manifest,
    unit: &UnitRecord,
    sheet: &FinaliseInput,
    output: &FinaliseOutput,
    used: &[&AcceptedResult],
    decisions: &CheckedDecisions<'_>,
) -> Assessment {
    let s = match output.result() {
        Ok(s) => s,
        Err(status) => {
            return Assessment::NotAssessed {
                gaps: vec![Gap {
                    message: format!(
                        "规则包拒绝定稿（the pack refused the sheet）：{}",
                        status.describe(manifest)
                    ),
                    what: GapKind::Finalise {
                        detail: status.describe(manifest),
                    },
                }],
            };
        }
    };
    let grade = &manifest.composition.grades[s.grade as usize];
    let mut notes = Vec::new();
    for ((u, m, round), reason) in &decisions.excused_quarters {
        if *u == unit.id {
            notes.push(format!(
                "{}{}经决定免报（{}），年度得分按其余季度合并",
                manifest.methods[*m].name,
                round.name_zh(),
                reason
            ));
        }
    }
    let over = decisions.penalty_cap(&unit.id).cloned();
    if let Some(o) = &over {
        notes.push(format!(
            "减分上限经记录的决定调整为 {} 分（原则上 {} 分）：{}",
            format_hundredths(o.cap),
            format_hundredths(manifest.composition.penalty_cap),
            o.reason
        ));
    }
    if s.serious_case {
        notes.push(format!(
            "情节严重，不得评为{}",
            manifest
                .grade_index(&manifest.composition.serious_case_bars)
                .map(|g| manifest.composition.grades[g].name.as_str())
                .unwrap_or_default()
        ));
    }
    let indicators = manifest
        .applicable_indicators(sheet.category as usize)
        .filter_map(|i| {
            sheet.scores[i].map(|score| IndicatorScore {
                indicator_id: manifest.indicators[i].id.clone(),
                score,
            })
        })
        .collect();
    let mut fired: Vec<(Round, usize, FiredClause)> = Vec::new();
    for r in used {
        for (id, &amount) in &r.clauses {
            if let Some((k, i)) = manifest.clause_index(id)
                && let Some((_, clause)) = manifest.clause(k)
            {
                fired.push((
                    r.round,
                    k,
                    FiredClause {
                        round: r.round,
                        indicator_id: manifest.indicators[i].id.clone(),
                        clause_id: id.clone(),
                        amount,
                        reason: clause.reason.clone(),
                    },
                ));
            }
        }
    }
    fired.sort_by_key(|f| (f.0, f.1));
    Assessment::Assessed(Scored {
        applicable: s.applicable,
        raw: s.raw,
        converted: s.converted,
        bonus: s.bonus,
        penalty: s.penalty,
        total: s.total,
        grade: grade.id.clone(),
        grade_name: grade.name.clone(),
        serious_case: s.serious_case,
        major_problem: s.major_problem,
        rank: None,
        penalty_cap_override: over,
        notes,
        indicators,
        fired: fired.into_iter().map(|(_, _, f)| f).collect(),
    })
}

fn tiers(
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

/// Results of one unit in a fixed order (method, round, node, time), so
/// nothing downstream depends on the order the caller passed them in.
fn result_order(manifest: &Manifest, a: &AcceptedResult, b: &AcceptedResult) -> std::cmp::Ordering {
    (
        method_pos(manifest, &a.method_id),
        &a.method_id,
        a.round,
        &a.node_id,
        a.received_at,
    )
        .cmp(&(
            method_pos(manifest, &b.method_id),
            &b.method_id,
            b.round,
            &b.node_id,
            b.received_at,
        ))
}

fn method_pos(manifest: &Manifest, id: &str) -> usize {
    manifest.method_index(id).unwrap_or(usize::MAX)
}

fn method_name(manifest: &Manifest, id: &str) -> String {
    manifest
        .method_index(id)
        .map(|m| manifest.methods[m].name.clone())
        .unwrap_or_else(|| id.to_owned())
}

/// `日常评价（daily）`, or the bare id of an unknown method.
fn method_label(manifest: &Manifest, id: &str) -> String {
    match manifest.method_index(id) {
        Some(m) => format!("{}（{}）", manifest.methods[m].name, id),
        None => format!("未知考核方式 {id}"),
    }
}

/// The Chinese display of a responsible assessor: the county-level
/// assessors by name, a unit by its roster name.
pub fn assessor_label(roster_names: &BTreeMap<String, String>, stored: &str) -> String {
    match ResponsibleAssessor::from_stored(stored) {
        ResponsibleAssessor::Unit(id) => roster_names.get(&id).cloned().unwrap_or(id),
        other => other.to_string(),
    }
}

/// Whether indicator `i` is scored (counts in the raw score and on the leaderboard).
pub(crate) fn is_scored(manifest: &Manifest, i: usize) -> bool {
    manifest.indicators[i].kind == IndicatorKind::Scored
}
