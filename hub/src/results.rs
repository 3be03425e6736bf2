//! 考核结果（results）：从数据库读出一个年度的已接受上报结果、名册和已记录的
//! 决定，用当前规则包汇总（[`consolidate`]），并映射为导出模型
//! ([`export::Report`](crate::export::Report))。
//!
//! This is the IO shell around the pure [`consolidate`] and
//! [`outcomes`](crate::outcome::outcomes):
//! [`load_year`] reads everything a consolidation is a function of (the
//! current pack of the year, the roster, the **current** accepted results
//! computed under that pack version with their scores and fired clauses —
//! of a slot two nodes reported, only the one a ruling (裁定) chose — the
//! recorded decisions, earlier years' approved results) and
//! [`YearData::consolidate`] runs the pack's `kaohe_finalise`.
//!
//! **A superseded pack's results are never final.** After a newer version
//! of the year's pack is published, the results computed under the older
//! one stay on record but are left out of the consolidation — a v1 sheet is
//! never finalised by v2 — and are listed as 待重新评价
//! ([`awaiting_reevaluation`], [`YearData::reevaluation`]) until the node
//! reports again under the new version (the node does that on its next
//! sync); approval is refused while any remain. [`consolidate_year`] does both and adds the outcomes:
//! the one way every command and call that shows, notifies, approves,
//! exports or rectifies a year gets it. Recomputing from the same database
//! gives the same consolidation bytes (RELIABILITY.md promise 4); the
//! approval stores their SHA-256 ([`Consolidation::sha256`]).
//!
//! [`to_report`] is pure: consolidation + outcomes + manifest + the notice's
//! metadata → the export model.
//!
//! - [`reports`]: one unit's accepted submissions (current and
//!   superseded) with their evidence and receipts.
//! - `rulings`: the rulings (裁定) in force and what they drop.
//! - [`stream`]: the year's results read all at once, or a unit at a time
//!   in unit order — how a year is consolidated, so that only a batch of
//!   units' results is ever held (issue #17).

mod reevaluation;
pub mod reports;
pub mod rulings;
pub mod stream;

pub use reevaluation::{Reevaluation, awaiting_reevaluation};
pub use stream::{load_results, load_results_keeping};

use std::collections::BTreeMap;

use jiff::Timestamp;
use kaohe_rulepacks::manifest::{IndicatorKind, Manifest, Round};
use kaohe_rulepacks::pack::{Pack, PackError};
use kaohe_rulepacks::runtime::Runtime;
use rusqlite::Connection;

use crate::calendar::beijing_day;
use crate::consolidate::{
    self, AcceptedResult, Assessment, ConsolidateError, Consolidation, Decisions, Detail, Excusal,
    ExcusalScope, Filler, PenaltyCapOverride,
};
use crate::export::model::{
    self as m, CategoryTable, IndicatorLine, LateUnit, OutcomeKind, OutcomeRow, Report, Row,
    Unassessed, UnitBreakdown,
};
#[cfg(doc)]
use crate::lock;
use crate::outcome::{self, NoticeKind, Outcomes, PastResult, YearResults};
use crate::registry::StoreError;
use crate::registry::packs;
use crate::registry::units::{self, ResponsibleAssessor, YearRoster};

/// Loading or consolidating a year failed.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("数据库读写失败（database error）：{0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{year} 年度没有名册，请先导入名册（no roster for the year）")]
    NoRoster { year: i32 },
    #[error("{year} 年度没有当前规则包，请先发布规则包（no current pack for the year）")]
    NoPack { year: i32 },
    #[error(
        "{year} 年度有多个当前规则包（{}），无法确定按哪个汇总（several current packs）",
        ids.join("、")
    )]
    SeveralPacks { year: i32, ids: Vec<String> },
    #[error("规则包不可用（unusable pack）：{0}")]
    Pack(#[from] PackError),
    #[error("数据库中的上报结果已损坏（corrupt stored result）：{0}")]
    Corrupt(String),
    #[error("{0}")]
    Consolidate(#[from] ConsolidateError),
}

/// Everything one year's consolidation is computed from.
pub struct YearData {
    pub year: i32,
    /// The year's current pack; its manifest is the year's.
    pub pack: Pack,
    pub roster: YearRoster,
    pub results: ResultSource,
    pub decisions: Decisions,
    /// Earlier years' approved results, oldest first.
    pub history: Vec<YearResults>,
    /// Current results computed under an older version of the year's pack,
    /// left out of `results` (待重新评价).
    pub reevaluation: Vec<Reevaluation>,
}

impl std::fmt::Debug for YearData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("YearData")
            .field("year", &self.year)
            .field("results", &self.results)
            .finish_non_exhaustive()
    }
}

/// A year's current accepted results (of its current pack version, the
/// rulings applied).
#[derive(Debug, Clone)]
pub enum ResultSource {
    /// Held in memory (tests; a year built by hand).
    Held(Vec<AcceptedResult>),
    /// Read from the database a unit at a time when consolidated.
    Stored(stream::Stored),
}

impl ResultSource {
    /// Runs `f` over the results a unit at a time, units in id order.
    fn units<T: Send>(
        &self,
        conn: &Connection,
        f: impl FnOnce(&mut dyn Iterator<Item = Vec<AcceptedResult>>) -> T + Send,
    ) -> Result<T, ResultsError> {
        match self {
            ResultSource::Held(all) => {
                let mut by_unit: BTreeMap<&str, Vec<AcceptedResult>> = BTreeMap::new();
                for r in all {
                    by_unit.entry(&r.unit_id).or_default().push(r.clone());
                }
                Ok(f(&mut by_unit.into_values()))
            }
            ResultSource::Stored(stored) => stored.units(conn, f),
        }
    }
}

impl YearData {
    /// The year's pack manifest.
    pub fn manifest(&self) -> &Manifest {
        self.pack.manifest()
    }

    /// Runs the consolidation with the pack's own finaliser, the results
    /// read from `conn` a unit at a time when they are stored.
    pub fn consolidate(
        &self,
        conn: &Connection,
        detail: Detail,
    ) -> Result<Consolidation, ResultsError> {
        self.results
            .units(conn, |units| {
                consolidate::consolidate_units(
                    self.manifest(),
                    &self.roster,
                    &self.decisions,
                    units,
                    detail,
                    |sheets| self.pack.finalise(sheets),
                )
            })?
            .map_err(ResultsError::from)
    }

    /// The SHA-256 of consolidation `c` of this year as
    /// [`Consolidation::sha256`] gives it for the full consolidation,
    /// filling in a [`Detail::Lean`] one's detail a unit at a time.
    pub fn sha256(
        &self,
        conn: &Connection,
        c: &Consolidation,
        detail: Detail,
    ) -> Result<String, ResultsError> {
        if detail == Detail::Full {
            return Ok(c.sha256());
        }
        let filler = Filler::new(self.manifest(), &self.roster, &self.decisions);
        self.results.units(conn, |units| {
            let mut units = units.peekable();
            c.sha256_filled(|u| {
                while units.next_if(|g| g[0].unit_id < u.unit_id).is_some() {}
                let results = units.next_if(|g| g[0].unit_id == u.unit_id);
                filler.fill(u, results.unwrap_or_default());
            })
        })
    }

    /// The use of results of `c` against the earlier years.
    pub fn outcomes(&self, c: &Consolidation) -> Outcomes {
        outcome::outcomes(c, &self.history, self.manifest())
    }
}

/// A year consolidated from the database as it is now, with the use of
/// results.
#[derive(Debug)]
pub struct ConsolidatedYear {
    /// What the consolidation was computed from (the pack among it).
    pub data: YearData,
    pub consolidation: Consolidation,
    /// The use of results of `consolidation` against the earlier years.
    pub outcomes: Outcomes,
    /// Whether `consolidation` holds every unit's per-indicator detail.
    pub detail: Detail,
}

impl ConsolidatedYear {
    /// The year's pack manifest.
    pub fn manifest(&self) -> &Manifest {
        self.data.manifest()
    }

    /// The commended units (通报表扬 names the unit and its principal,
    /// 考核方案 六（二）) whose roster entry names no principal: (unit id,
    /// name), once each, in the notices' order.
    pub fn commended_without_principal(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for n in &self.outcomes.notices {
            if n.kind == crate::outcome::NoticeKind::Commendation
                && self
                    .data
                    .roster
                    .get(&n.unit_id)
                    .is_none_or(|u| u.principal.is_none())
                && !out.iter().any(|(id, _)| *id == n.unit_id)
            {
                out.push((n.unit_id.clone(), n.unit_name.clone()));
            }
        }
        out
    }
}

/// Loads the year ([`load_year`]), consolidates it with its pack and
/// derives the outcomes. No clock is read: the answer is a function of the
/// database alone, so nothing here needs "now".
pub fn consolidate_year(
    conn: &Connection,
    runtime: &Runtime,
    year: i32,
) -> Result<ConsolidatedYear, ResultsError> {
    consolidate_year_with(conn, runtime, year, Detail::Full)
}

/// [`consolidate_year`], keeping each unit's per-indicator detail or not
/// ([`Detail::Lean`]: what `kaohe hub results` prints needs none of it, and
/// a national year's detail does not fit in memory; the digest works it
/// out again a unit at a time, [`ConsolidatedYear::sha256`]).
pub fn consolidate_year_with(
    conn: &Connection,
    runtime: &Runtime,
    year: i32,
    detail: Detail,
) -> Result<ConsolidatedYear, ResultsError> {
    // The roster, the decisions and every result are read in one read
    // transaction, so they are the database at one instant even while
    // ingest commits beside it; a caller already in a transaction (approve,
    // `hub results` with its digest) reads in that one.
    let _read = match conn.is_autocommit() {
        true => Some(conn.unchecked_transaction()?),
        false => None,
    };
    let data = load_year(conn, runtime, year)?;
    let consolidation = data.consolidate(conn, detail)?;
    let outcomes = data.outcomes(&consolidation);
    Ok(ConsolidatedYear {
        data,
        consolidation,
        outcomes,
        detail,
    })
}

/// Reads the year's inputs; see the module docs.
pub fn load_year(
    conn: &Connection,
    runtime: &Runtime,
    year: i32,
) -> Result<YearData, ResultsError> {
    let roster = units::load_roster(conn, year)?;
    if roster.is_empty() {
        return Err(ResultsError::NoRoster { year });
    }
    let pack_ids: Vec<String> = conn
        .prepare("SELECT DISTINCT pack_id FROM packs WHERE year = ?1 AND is_current = 1 ORDER BY pack_id")?
        .query_map([year], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let pack_id = match pack_ids.as_slice() {
        [] => return Err(ResultsError::NoPack { year }),
        [one] => one.clone(),
        _ => {
            return Err(ResultsError::SeveralPacks {
                year,
                ids: pack_ids,
            });
        }
    };
    let year16 = u16::try_from(year).map_err(|_| ResultsError::NoPack { year })?;
    let stored =
        packs::current_pack(conn, &pack_id, year16)?.ok_or(ResultsError::NoPack { year })?;
    let pack = Pack::load(runtime, &stored.module, &stored.identity)?;
    let manifest = pack.manifest();
    let reason_fields = manifest
        .reason_fields()
        .into_iter()
        .map(|f| manifest.fields[f].id.clone())
        .collect();
    let mut by_unit: BTreeMap<String, Vec<rulings::Ruling>> = BTreeMap::new();
    for r in rulings::in_force(conn, year)? {
        by_unit.entry(r.unit_id.clone()).or_default().push(r);
    }
    let results = ResultSource::Stored(stream::Stored {
        year,
        pack_id,
        version: stored.identity.version,
        evidence: reason_fields,
        rulings: by_unit,
    });
    let decisions = load_decisions(conn, year)?;
    let history = load_history(conn, year)?;
    let reevaluation = awaiting_reevaluation(conn, year)?;
    Ok(YearData {
        year,
        pack,
        roster,
        results,
        decisions,
        history,
        reevaluation,
    })
}

/// The recorded decisions in force for `year`: per unit, the latest
/// penalty-cap override and the latest excusal.
pub fn load_decisions(conn: &Connection, year: i32) -> Result<Decisions, ResultsError> {
    let mut decisions = Decisions::default();
    let mut stmt = conn.prepare(
        "SELECT unit_id, kind, cap, reason FROM recorded_decisions WHERE year = ?1 ORDER BY seq",
    )?;
    let rows = stmt.query_map([year], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<i64>>(2)?,
            r.get::<_, String>(3)?,
        ))
    })?;
    let mut excusals: BTreeMap<String, String> = BTreeMap::new();
    for row in rows {
        let (unit_id, kind, cap, reason) = row?;
        match (kind.as_str(), cap) {
            ("penalty_cap", Some(cap)) => {
                decisions
                    .penalty_cap_overrides
                    .insert(unit_id, PenaltyCapOverride { cap, reason });
            }
            ("excusal", _) => {
                excusals.insert(unit_id, reason);
            }
            _ => {
                return Err(ResultsError::Corrupt(format!(
                    "决定记录 {unit_id} {kind} 无效"
                )));
            }
        }
    }
    decisions.excusals = excusals
        .into_iter()
        .map(|(unit_id, reason)| Excusal {
            unit_id,
            scope: ExcusalScope::Unit,
            reason,
        })
        .collect();
    Ok(decisions)
}

/// Earlier years' approved results: imported history, overridden by years
/// approved on this hub — each year's latest approval
/// ([`lock::last_approved`]), as stored when it was approved, never the
/// year recomputed now. Oldest first.
pub fn load_history(conn: &Connection, before: i32) -> Result<Vec<YearResults>, ResultsError> {
    let mut years: BTreeMap<i32, YearResults> = BTreeMap::new();
    let mut stmt = conn.prepare(
        "SELECT year, unit_id, total, grade FROM history_results WHERE year < ?1 ORDER BY year, unit_id",
    )?;
    let rows = stmt.query_map([before], |r| {
        Ok((
            r.get::<_, i32>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, String>(3)?,
        ))
    })?;
    for row in rows {
        let (year, unit, total, grade) = row?;
        years
            .entry(year)
            .or_insert_with(|| YearResults {
                year,
                units: BTreeMap::new(),
            })
            .units
            .insert(unit, PastResult { total, grade });
    }
    let mut stmt = conn.prepare(
        "SELECT year, results FROM approvals a WHERE year < ?1
           AND id = (SELECT max(id) FROM approvals b WHERE b.year = a.year)
         ORDER BY year",
    )?;
    let rows = stmt.query_map([before], |r| {
        Ok((r.get::<_, i32>(0)?, r.get::<_, String>(1)?))
    })?;
    for row in rows {
        let (year, json) = row?;
        let approved: YearResults = serde_json::from_str(&json)
            .map_err(|e| ResultsError::Corrupt(format!("{year} 年度审定结果：{e}")))?;
        years.insert(year, approved);
    }
    Ok(years.into_values().collect())
}

/// What the published notice says about itself (not in the consolidation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoticeMeta {
    pub county: String,
    pub scheme_name: String,
    /// The county office as it signs (发文机关); also the issuer of the
    /// letters to the units it assesses.
    pub issuer: String,
    pub doc_number: String,
    /// 成文日期 as printed.
    pub published_on: String,
    pub recipients: String,
    /// The approval's digest ([`crate::lock::Approval::consolidation_sha256`]).
    pub approval_sha256: String,
    /// The reopened approval the exported one replaces.
    pub replaces: Option<m::ReplacedApproval>,
    /// Unit id → principal (主要负责人), from the roster.
    pub principals: BTreeMap<String, String>,
}

impl NoticeMeta {
    /// Who signs what `assessor` (as stored) issues: the county office as
    /// [`NoticeMeta::issuer`], the county SASAC and health commission under
    /// the county's name, a unit by its roster name (分级考核).
    pub fn issuer_of(&self, assessor: &str, names: &BTreeMap<String, String>) -> String {
        match ResponsibleAssessor::from_stored(assessor) {
            ResponsibleAssessor::CountyOffice => self.issuer.clone(),
            ResponsibleAssessor::Unit(id) => names.get(&id).cloned().unwrap_or(id),
            other => format!("{}{other}", self.county),
        }
    }
}

/// The defaults of the names a published notice carries beyond the
/// database (`kaohe hub export`'s and the console's).
pub const DEFAULT_COUNTY: &str = "宝丰县";
pub const DEFAULT_SCHEME_NAME: &str = "法治宝丰（法治政府）建设";
pub const DEFAULT_ISSUER: &str = "中共宝丰县委全面依法治县委员会办公室";

/// The notice's names that the database does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeNames {
    pub county: String,
    pub scheme_name: String,
    pub issuer: String,
    pub recipients: String,
}

impl Default for NoticeNames {
    fn default() -> Self {
        NoticeNames {
            county: DEFAULT_COUNTY.into(),
            scheme_name: DEFAULT_SCHEME_NAME.into(),
            issuer: DEFAULT_ISSUER.into(),
            recipients: String::new(),
        }
    }
}

/// Maps a consolidation and its outcomes onto the export model. Pure.
pub fn to_report(
    c: &Consolidation,
    o: &Outcomes,
    manifest: &Manifest,
    meta: &NoticeMeta,
) -> Report {
    let grade_name = |id: &str| {
        manifest
            .composition
            .grades
            .iter()
            .find(|g| g.id == id)
            .map(|g| g.name.clone())
            .unwrap_or_else(|| id.to_owned())
    };
    let mut categories = Vec::new();
    for cat in &manifest.categories {
        let rows: Vec<Row> = if let Some(ranking) = c.ranking(&cat.id).filter(|_| cat.ranked) {
            ranking
                .entries
                .iter()
                .map(|e| Row {
                    rank: Some(e.rank),
                    unit_id: e.unit_id.clone(),
                    unit_name: e.name.clone(),
                    total: e.total,
                    grade_name: grade_name(&e.grade),
                    late: c
                        .unit(&e.unit_id)
                        .is_some_and(|u| !u.late_reports.is_empty()),
                })
                .collect()
        } else {
            let mut rows: Vec<Row> = c
                .units
                .iter()
                .filter(|u| u.category == cat.id)
                .filter_map(|u| {
                    u.scored().map(|s| Row {
                        rank: None,
                        unit_id: u.unit_id.clone(),
                        unit_name: u.name.clone(),
                        total: s.total,
                        grade_name: s.grade_name.clone(),
                        late: !u.late_reports.is_empty(),
                    })
                })
                .collect();
            rows.sort_by(|a, b| {
                b.total
                    .cmp(&a.total)
                    .then_with(|| a.unit_id.cmp(&b.unit_id))
            });
            rows
        };
        if rows.is_empty() {
            continue;
        }
        categories.push(CategoryTable {
            name: cat.name.clone(),
            ranked: cat.ranked,
            rows,
        });
    }
    let grade_counts = manifest
        .composition
        .grades
        .iter()
        .map(|g| m::GradeCount {
            grade_name: g.name.clone(),
            count: c
                .units
                .iter()
                .filter(|u| u.scored().is_some_and(|s| s.grade == g.id))
                .count() as u32,
        })
        .collect();
    let mut breakdown = Vec::new();
    let mut unassessed = Vec::new();
    for u in &c.units {
        match &u.assessment {
            Assessment::Assessed(s) => {
                let cat = manifest.category_index(&u.category);
                let indicators = s
                    .indicators
                    .iter()
                    .map(|i| {
                        let idx = manifest.indicator_index(&i.indicator_id);
                        IndicatorLine {
                            id: i.indicator_id.clone(),
                            name: idx
                                .map(|x| manifest.indicators[x].name.clone())
                                .unwrap_or_else(|| i.indicator_id.clone()),
                            kind: match idx.map(|x| manifest.indicators[x].kind) {
                                Some(IndicatorKind::Bonus) => m::LineKind::Bonus,
                                Some(IndicatorKind::Penalty) => m::LineKind::Penalty,
                                Some(IndicatorKind::Flag) => m::LineKind::Flag,
                                Some(IndicatorKind::Scored) | None => m::LineKind::Scored,
                            },
                            points: match (idx, cat) {
                                (Some(x), Some(k)) => manifest.points(x, k).unwrap_or(0),
                                _ => 0,
                            },
                            score: i.score,
                            // A formula's lost points have their own reason.
                            reasons: i
                                .reason
                                .iter()
                                .cloned()
                                .chain(
                                    s.fired
                                        .iter()
                                        .filter(|f| f.indicator_id == i.indicator_id)
                                        .map(|f| {
                                            let round = if f.round == Round::Annual {
                                                String::new()
                                            } else {
                                                format!("（{}）", f.round.name_zh())
                                            };
                                            format!("{}{round}", f.reason)
                                        }),
                                )
                                .collect(),
                        }
                    })
                    .collect();
                breakdown.push(UnitBreakdown {
                    unit_id: u.unit_id.clone(),
                    unit_name: u.name.clone(),
                    category: u.category_name.clone(),
                    indicators,
                    converted: s.converted,
                    bonus: s.bonus,
                    penalty: s.penalty,
                    total: s.total,
                    grade_name: s.grade_name.clone(),
                });
            }
            Assessment::NotAssessed { gaps } => unassessed.push(Unassessed {
                unit_id: u.unit_id.clone(),
                unit_name: u.name.clone(),
                missing: gaps
                    .iter()
                    .map(|g| g.message.clone())
                    .collect::<Vec<_>>()
                    .join("；"),
                excused: false,
            }),
            Assessment::Excused { reason } => unassessed.push(Unassessed {
                unit_id: u.unit_id.clone(),
                unit_name: u.name.clone(),
                missing: reason.clone(),
                excused: true,
            }),
        }
    }
    let mut late_units: BTreeMap<String, LateUnit> = BTreeMap::new();
    for l in &c.completeness.late {
        let at = Timestamp::from_second(l.received_at)
            .map(beijing_day)
            .unwrap_or_else(|_| l.received_at.to_string());
        let entry = late_units
            .entry(l.unit_id.clone())
            .or_insert_with(|| LateUnit {
                unit_id: l.unit_id.clone(),
                unit_name: l.unit_name.clone(),
                detail: String::new(),
            });
        if !entry.detail.is_empty() {
            entry.detail.push('；');
        }
        entry.detail.push_str(&format!(
            "{}{}结果{}提交，已过上报期限",
            l.method_name,
            l.round.name_zh(),
            at
        ));
    }
    let names: BTreeMap<String, String> = c
        .units
        .iter()
        .map(|u| (u.unit_id.clone(), u.name.clone()))
        .collect();
    let mut outcomes = Vec::new();
    for n in &o.notices {
        let issuer = c
            .unit(&n.unit_id)
            .map(|u| meta.issuer_of(&u.assessor, &names))
            .unwrap_or_else(|| meta.issuer.clone());
        let kinds: &[OutcomeKind] = match n.kind {
            NoticeKind::RecommendationLetter => &[OutcomeKind::RecommendationLetter],
            NoticeKind::WarningNotice => &[OutcomeKind::Warning],
            NoticeKind::Commendation => &[OutcomeKind::Commendation],
            NoticeKind::RecommendedUpwards => &[OutcomeKind::RecommendUpward],
            // 考核方案 六（五）: 不合格 → 约谈、责令整改、通报批评.
            NoticeKind::Admonition => &[
                OutcomeKind::Admonition,
                OutcomeKind::RectificationOrder,
                OutcomeKind::Criticism,
            ],
        };
        for &kind in kinds {
            outcomes.push(OutcomeRow {
                kind,
                unit_id: n.unit_id.clone(),
                unit_name: n.unit_name.clone(),
                reason: n.reasons.join("；"),
                issuer: issuer.clone(),
                principal: meta.principals.get(&n.unit_id).cloned(),
            });
        }
    }
    outcomes.sort_by(|a, b| a.kind.cmp(&b.kind).then_with(|| a.unit_id.cmp(&b.unit_id)));
    Report {
        county: meta.county.clone(),
        year: c.year,
        scheme_name: meta.scheme_name.clone(),
        title: format!("关于{}年度{}考核结果的通报", c.year, meta.scheme_name),
        doc_number: meta.doc_number.clone(),
        issuer: meta.issuer.clone(),
        published_on: meta.published_on.clone(),
        recipients: meta.recipients.clone(),
        intro: Vec::new(),
        closing: Vec::new(),
        categories,
        grade_counts,
        breakdown,
        outcomes,
        late_units: late_units.into_values().collect(),
        unassessed,
        copy_to: o.copy_list.iter().map(|r| r.recipient.clone()).collect(),
        leaderboards: leaderboards(c),
        approval_sha256: meta.approval_sha256.clone(),
        replaces: meta.replaces.clone(),
    }
}

/// The quarterly leaderboards (党建引领·比拼四季) as the export shows them.
pub fn leaderboards(c: &Consolidation) -> Vec<m::QuarterBoard> {
    c.leaderboards.iter().map(|b| leaderboard(c, b)).collect()
}

/// One of `c`'s quarterly leaderboards as the export shows it.
pub fn leaderboard(c: &Consolidation, b: &consolidate::rank::QuarterBoard) -> m::QuarterBoard {
    let name = |id: &String| c.unit(id).map(|u| u.name.clone()).unwrap_or(id.clone());
    m::QuarterBoard {
        quarter: b.round.name_zh().to_owned(),
        category: b.category_name.clone(),
        max_points: b.max_points,
        rows: b
            .entries
            .iter()
            .map(|e| m::BoardRow {
                rank: e.rank,
                tied: e.tied,
                unit_id: e.unit_id.clone(),
                unit_name: e.name.clone(),
                points: e.points,
            })
            .collect(),
        not_reported: b.not_reported.iter().map(name).collect(),
        excused: b.excused.iter().map(name).collect(),
    }
}
