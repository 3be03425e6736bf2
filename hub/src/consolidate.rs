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
//!    methods, `annual` otherwise ([`Manifest::expected_reports`]); a recorded
//!    [`Excusal`] removes the whole unit or one quarter of a quarterly method;
//! 2. a report missing or received twice (two nodes, same method and round)
//!    makes the unit **not assessed**, with a [`Gap`] saying exactly what —
//!    never a silent 0; a missing quarter is a gap too (only an excused
//!    quarter is left out of the combination, RUBRIC.md §6);
//! 3. the per-method results are merged into one sheet
//!    ([`merge_outputs`](kaohe_rulepacks::abi::merge_outputs), quarters
//!    combined per the manifest), every applicable indicator must be
//!    present, and the sheets are finalised by the pack in batches of
//!    [`SHEETS_PER_BATCH`] (with a recorded penalty-cap override);
//! 4. ranked categories are ranked by total, descending; equal totals share
//!    a rank and the next rank skips (1, 2, 2, 4); display order among equals
//!    is by unit id; units not assessed or excused are listed apart; the
//!    manifest's excellent quota, when it sets one, is applied here
//!    ([`rank`]).
//!
//! The year's results may be streamed a unit at a time
//! ([`consolidate_units`]), and the per-indicator detail left out
//! ([`Detail::Lean`]) and worked out again per unit ([`Filler`]) — a
//! national year in bounded memory (issue #17).
//!
//! Layout: `decisions` — the recorded decisions checked once; `sheet` —
//! steps 1–3 for one unit; [`rank`] — competition ranking, the excellent
//! quota and the quarterly leaderboard; `tier` — the tiered view per parent
//! unit; `lean` — the detail of a lean consolidation and its digest.

mod decisions;
mod ids;
mod lean;
pub mod rank;
mod sheet;
mod tier;

#[cfg(test)]
pub(crate) mod golden;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use kaohe_rulepacks::abi::{FinaliseInput, FinaliseOutput};
use kaohe_rulepacks::manifest::{IndicatorKind, Manifest, Round};
use serde::{Deserialize, Serialize};

pub use self::lean::Filler;
use crate::registry::units::{ResponsibleAssessor, YearRoster};

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
    /// Indicator id → the reason it was marked not applicable (不适用).
    pub not_applicable: BTreeMap<String, String>,
    /// Field id → the value it was replayed on (hundredths, supplied values
    /// only), to explain a formula's lost points; `None` for results
    /// committed before the hub kept evidence.
    pub evidence: Option<BTreeMap<String, i64>>,
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
#[allow(
    clippy::large_enum_variant,
    reason = "one per unit, built once and read by every output; most units are assessed"
)]
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
    /// The indicators the assessor marked not applicable (不适用) to the
    /// unit, manifest order: left out of `applicable`, the sheet converted
    /// over the rest (scheme 五). Printed with the result, reasons and all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_applicable: Vec<NotApplicable>,
}

/// An indicator marked not applicable to a unit, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotApplicable {
    pub indicator_id: String,
    pub name: String,
    /// The points it would have had (hundredths).
    pub points: i64,
    /// The assessor's reason (the reasons of the quarters marked, for a
    /// quarterly indicator, each once).
    pub reason: String,
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
    /// Why a `score =` indicator lost points, in Chinese
    /// (`Manifest::loss_reason`); a deduction's reasons are its fired
    /// clauses. `None` when nothing was lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
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
        lean::sha256_of(self)
    }
}

/// The methods each category must report ([`Manifest::expected_reports`], every
/// round counted once), by category id: what the registry checks a node's
/// scope against.
pub fn required_methods(manifest: &Manifest) -> BTreeMap<String, Vec<String>> {
    manifest
        .categories
        .iter()
        .enumerate()
        .map(|(c, category)| {
            let mut methods: Vec<String> = Vec::new();
            for (m, _) in manifest.expected_reports(c) {
                let id = &manifest.methods[m].id;
                if !methods.contains(id) {
                    methods.push(id.clone());
                }
            }
            (category.id.clone(), methods)
        })
        .collect()
}

/// Sheets handed to the finaliser at a time: bounded, so the sheets waiting
/// for the pack never grow with the year (the pack splits a batch further
/// as its memory needs, `Pack::finalise`).
pub const SHEETS_PER_BATCH: usize = 4096;

/// Whether a consolidation keeps every assessed unit's per-indicator
/// detail ([`Scored::indicators`], [`Scored::fired`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Everything, as every export and view reads it.
    Full,
    /// Without `indicators` and `fired` (left empty): what rankings,
    /// grades, tiers, completeness and outcomes need, in memory that a
    /// national year fits (issue #17). [`Filler`] works one unit's detail
    /// out again, e.g. while the digest streams
    /// ([`Consolidation::sha256_filled`]).
    Lean,
}

/// Consolidates the year; see the module docs.
pub fn consolidate<E: fmt::Display>(
    input: &ConsolidationInput<'_>,
    finalise: impl FnMut(&[FinaliseInput]) -> Result<Vec<FinaliseOutput>, E>,
) -> Result<Consolidation, ConsolidateError> {
    let mut by_unit: BTreeMap<&str, Vec<AcceptedResult>> = BTreeMap::new();
    for r in input.results {
        by_unit
            .entry(r.unit_id.as_str())
            .or_default()
            .push(r.clone());
    }
    consolidate_units(
        input.manifest,
        input.roster,
        input.decisions,
        by_unit.into_values(),
        Detail::Full,
        finalise,
    )
}

/// [`consolidate`] with the year's results streamed a unit at a time:
/// `units` yields each unit's results together (all of them, in any order
/// within the unit), units in ascending id order — as
/// [`results::stream`](crate::results) reads them from the database — so
/// only a batch of units is ever held. The same inputs give the same
/// consolidation as [`consolidate`] (with [`Detail::Full`]).
pub fn consolidate_units<E: fmt::Display>(
    manifest: &Manifest,
    roster: &YearRoster,
    decisions: &Decisions,
    units: impl IntoIterator<Item = Vec<AcceptedResult>>,
    detail: Detail,
    mut finalise: impl FnMut(&[FinaliseInput]) -> Result<Vec<FinaliseOutput>, E>,
) -> Result<Consolidation, ConsolidateError> {
    let mut problems = BTreeSet::new();
    if i64::from(roster.year) != i64::from(manifest.pack.year) {
        problems.insert(format!(
            "名册年度 {} 与规则包年度 {} 不一致（roster and pack years differ）",
            roster.year, manifest.pack.year
        ));
    }
    let decisions = Decisions::checked(decisions, manifest, roster, &mut problems);
    let ids = ids::Ids::new(manifest);
    let not_on_roster = |problems: &mut BTreeSet<String>, results: &[AcceptedResult]| {
        for r in results {
            problems.insert(format!(
                "单位 {} 不在 {} 年度名册中，其{}{}结果未计入（unit not on the roster）",
                r.unit_id,
                roster.year,
                method_label(manifest, &r.method_id),
                r.round.name_zh()
            ));
        }
    };
    let mut stream = units.into_iter().filter(|g| !g.is_empty()).peekable();

    let mut units = Vec::with_capacity(roster.len());
    let mut completeness = Completeness::default();
    let mut boards = rank::Boards::new(manifest);
    let mut batch: Vec<FinaliseInput> = Vec::with_capacity(SHEETS_PER_BATCH);
    // Per sheet of the batch: the unit's place in `units`, its results and
    // the places among them of the reports that made the sheet.
    let mut batch_units: Vec<(usize, Vec<AcceptedResult>, Vec<usize>)> = Vec::new();
    // The sheets are finalised a batch at a time, so what waits for the pack
    // is bounded whatever the size of the year.
    let mut finalise_batch = |batch: &mut Vec<FinaliseInput>,
                              batch_units: &mut Vec<(usize, Vec<AcceptedResult>, Vec<usize>)>,
                              units: &mut Vec<UnitResult>|
     -> Result<(), ConsolidateError> {
        if batch.is_empty() {
            return Ok(());
        }
        let outputs = finalise(batch).map_err(|e| ConsolidateError::Finalise(e.to_string()))?;
        if outputs.len() != batch.len() {
            return Err(ConsolidateError::OutputCount {
                expected: batch.len(),
                got: outputs.len(),
            });
        }
        for ((sheet, output), (at, results, used)) in
            batch.iter().zip(&outputs).zip(batch_units.iter())
        {
            let unit = &roster.units[&units[*at].unit_id];
            let used: Vec<&AcceptedResult> = used.iter().map(|&u| &results[u]).collect();
            units[*at].assessment = sheet::finalised(
                manifest, &ids, unit, sheet, output, &used, &decisions, detail,
            );
        }
        batch.clear();
        batch_units.clear();
        Ok(())
    };
    for unit in roster.iter() {
        // Results of units before this one in id order are of no roster unit.
        while let Some(g) = stream.next_if(|g| g[0].unit_id.as_str() < unit.id.as_str()) {
            not_on_roster(&mut problems, &g);
        }
        let mut results = stream
            .next_if(|g| g[0].unit_id == unit.id)
            .unwrap_or_default();
        results.sort_by(|a, b| result_order(manifest, a, b));
        boards.add(
            manifest,
            &ids,
            unit,
            &results,
            &decisions.excused_quarters,
            &decisions.excused_units,
        );
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
            match sheet::prepare(
                manifest,
                &ids,
                unit,
                c,
                &results,
                &decisions,
                &mut completeness,
                &mut problems,
            ) {
                Ok((sheet, used)) => {
                    batch.push(sheet);
                    batch_units.push((units.len(), results, used));
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
        if batch.len() == SHEETS_PER_BATCH {
            finalise_batch(&mut batch, &mut batch_units, &mut units)?;
        }
    }
    finalise_batch(&mut batch, &mut batch_units, &mut units)?;
    for g in stream {
        not_on_roster(&mut problems, &g);
    }

    let rankings = rank::rank_categories(manifest, &mut units);
    let leaderboards = boards.finish(manifest);
    let tiers = tier::tiers(manifest, roster, &units, &mut problems);
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
