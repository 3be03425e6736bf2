//! Steps 1–3 of the module docs for one unit: the reports it must receive
//! and the gaps, the per-method results merged into one sheet for the
//! pack ([`prepare`]), and the pack's answer read back as its assessment
//! ([`finalised`]).

use std::collections::{BTreeMap, BTreeSet};

use kaohe_rulepacks::abi::{self, FinaliseInput, FinaliseOutput, UnitOutput, UnitStatus};
use kaohe_rulepacks::manifest::{Manifest, Round};
use kaohe_rulepacks::rubric::decimal::format_hundredths;

use super::decisions::CheckedDecisions;
use super::ids::Ids;
use super::{
    AcceptedResult, Assessment, Completeness, Detail, FiredClause, Gap, GapKind, IndicatorScore,
    MissingReport, NotApplicable, Scored, method_label,
};
use crate::registry::units::UnitRecord;

/// Everything before the pack: expected reports, gaps, the merged sheet.
#[allow(
    clippy::too_many_arguments,
    reason = "one unit's inputs and the year's accumulators"
)]
///
/// `results` are the unit's, in [`result_order`](super::result_order); the
/// sheet comes with the places in `results` of the reports that made it.
pub(super) fn prepare(
    manifest: &Manifest,
    ids: &Ids<'_>,
    unit: &UnitRecord,
    category: usize,
    results: &[AcceptedResult],
    decisions: &CheckedDecisions<'_>,
    completeness: &mut Completeness,
    problems: &mut BTreeSet<String>,
) -> Result<(FinaliseInput, Vec<usize>), Vec<Gap>> {
    let expected = ids.expected(category);
    let mut received: BTreeMap<(usize, Round), Vec<usize>> = BTreeMap::new();
    for (at, r) in results.iter().enumerate() {
        let key = ids.method(&r.method_id).map(|m| (m, r.round));
        match key {
            Some(key) if expected.contains(&key) => received.entry(key).or_default().push(at),
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
    let mut used: Vec<usize> = Vec::new();
    for &(m, round) in expected {
        let method = &manifest.methods[m];
        let label = || format!("{}（{}）{}", method.name, method.id, round.name_zh());
        let got = received.get(&(m, round)).map_or(&[][..], Vec::as_slice);
        if decisions
            .excused_quarters
            .contains_key(&(unit.id.as_str(), m, round))
        {
            completeness.excused_reports += 1;
            if !got.is_empty() {
                problems.insert(format!(
                    "单位 {}（{}）的{}已决定免报，收到的结果未计入（excused report not counted）",
                    unit.id,
                    unit.name,
                    label()
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
                    message: format!("{}结果未报送（report missing）", label()),
                    what: GapKind::MissingReport {
                        method_id: method.id.clone(),
                        round,
                    },
                });
            }
            [one] => {
                completeness.received += 1;
                used.push(*one);
            }
            many => {
                completeness.received += 1;
                let nodes: Vec<String> = many.iter().map(|&r| results[r].node_id.clone()).collect();
                gaps.push(Gap {
                    message: format!(
                        "{}结果由 {} 个节点重复上报（{}），须裁定采用哪一份（reported twice）",
                        label(),
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
    for r in used.iter().map(|&at| &results[at]) {
        match unit_output(manifest, ids, r) {
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
        .filter(|&i| sheet.scores[i].is_none() && !sheet.is_not_applicable(i))
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
fn unit_output(
    manifest: &Manifest,
    ids: &Ids<'_>,
    r: &AcceptedResult,
) -> Result<UnitOutput, Vec<Gap>> {
    let mut out = UnitOutput {
        status: UnitStatus::Ok,
        fuel_used: 0,
        indicators: vec![None; manifest.indicators.len()],
        clauses: vec![None; manifest.clause_count()],
        not_applicable: vec![false; manifest.indicators.len()],
    };
    let mut gaps = Vec::new();
    let mut unknown = |id: &str, what: &str| {
        gaps.push(Gap {
            message: format!(
                "{}{}结果含{what} {id}（unknown score）",
                method_label(manifest, &r.method_id),
                r.round.name_zh()
            ),
            what: GapKind::UnknownScore {
                method_id: r.method_id.clone(),
                round: r.round,
                id: id.to_owned(),
            },
        });
    };
    for (id, &score) in &r.scores {
        match ids.indicator(id) {
            Some(i) if manifest.indicators[i].method == r.method_id => {
                out.indicators[i] = Some(score);
            }
            Some(_) => unknown(id, "不属于该考核方式的指标"),
            None => unknown(id, "规则包中没有的指标"),
        }
    }
    for (id, &amount) in &r.clauses {
        match ids.clause(id) {
            Some((k, i, _)) if manifest.indicators[i].method == r.method_id => {
                out.clauses[k] = Some(amount);
            }
            Some(_) => unknown(id, "不属于该考核方式的条款"),
            None => unknown(id, "规则包中没有的条款"),
        }
    }
    for id in r.not_applicable.keys() {
        match ids.indicator(id) {
            Some(i) if manifest.indicators[i].method == r.method_id => {
                out.not_applicable[i] = true;
            }
            Some(_) => unknown(id, "标记为不适用的、不属于该考核方式的指标"),
            None => unknown(id, "标记为不适用的、规则包中没有的指标"),
        }
    }
    if gaps.is_empty() { Ok(out) } else { Err(gaps) }
}

/// The indicators of `sheet` marked not applicable, with their reasons.
fn not_applicable(
    manifest: &Manifest,
    sheet: &FinaliseInput,
    used: &[&AcceptedResult],
) -> Vec<NotApplicable> {
    let c = sheet.category as usize;
    (0..manifest.indicators.len())
        .filter(|&i| sheet.is_not_applicable(i))
        .map(|i| {
            let ind = &manifest.indicators[i];
            let mut reasons: Vec<&str> = Vec::new();
            for r in used {
                if let Some(reason) = r.not_applicable.get(&ind.id)
                    && !reasons.contains(&reason.as_str())
                {
                    reasons.push(reason);
                }
            }
            NotApplicable {
                indicator_id: ind.id.clone(),
                name: ind.name.clone(),
                points: manifest.points(i, c).unwrap_or(0),
                reason: reasons.join("；"),
            }
        })
        .collect()
}

/// Why indicator `i` of the sheet lost points, when it is a `score =`
/// indicator that did: rendered from the evidence of its annual report,
/// or — quarterly, or a result kept before the hub stored evidence — from
/// its formula alone.
fn loss_reason(
    manifest: &Manifest,
    category: usize,
    i: usize,
    score: i64,
    used: &[&AcceptedResult],
) -> Option<String> {
    let ind = &manifest.indicators[i];
    let annual = used
        .iter()
        .find(|r| r.round == Round::Annual && r.method_id == ind.method)
        .and_then(|r| r.evidence.as_ref());
    match annual {
        Some(evidence) => {
            let value = |f: usize| evidence.get(&manifest.fields[f].id).copied();
            manifest.loss_reason(i, category, &value, score)
        }
        None => manifest.formula_loss_reason(i, category, score),
    }
}

/// A finalised sheet's per-indicator detail: the year's value of every
/// applicable indicator with why it lost points, and every fired clause by
/// round then manifest order. A function of the merged sheet and the
/// reports that made it, not of the pack's answer, so it can be worked out
/// again for one unit when a [`Detail::Lean`] consolidation left it out.
pub(super) fn detail(
    manifest: &Manifest,
    ids: &Ids<'_>,
    sheet: &FinaliseInput,
    used: &[&AcceptedResult],
) -> (Vec<IndicatorScore>, Vec<FiredClause>) {
    let category = sheet.category as usize;
    let indicators = manifest
        .applicable_indicators(category)
        .filter_map(|i| {
            sheet.scores[i].map(|score| IndicatorScore {
                indicator_id: manifest.indicators[i].id.clone(),
                score,
                reason: loss_reason(manifest, category, i, score, used),
            })
        })
        .collect();
    let mut fired: Vec<(Round, usize, FiredClause)> = Vec::new();
    for r in used {
        for (id, &amount) in &r.clauses {
            if let Some((k, i, clause)) = ids.clause(id) {
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
    (indicators, fired.into_iter().map(|(_, _, f)| f).collect())
}

/// The pack's answer for one unit as its assessment.
#[allow(
    clippy::too_many_arguments,
    reason = "one unit's sheet, answer and reports, and the year's lookups"
)]
pub(super) fn finalised(
    manifest: &Manifest,
    ids: &Ids<'_>,
    unit: &UnitRecord,
    sheet: &FinaliseInput,
    output: &FinaliseOutput,
    used: &[&AcceptedResult],
    decisions: &CheckedDecisions<'_>,
    detail: Detail,
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
    let marked = not_applicable(manifest, sheet, used);
    for n in &marked {
        notes.push(format!(
            "指标 {}（{}，{} 分）不适用：{}",
            n.indicator_id,
            n.name,
            format_hundredths(n.points),
            n.reason
        ));
    }
    if !marked.is_empty() {
        notes.push(format!(
            "应考分值 {} 分，按实际得分换算为百分制（考核方案五）",
            format_hundredths(s.applicable)
        ));
    }
    let (indicators, fired) = if detail == Detail::Full {
        self::detail(manifest, ids, sheet, used)
    } else {
        (Vec::new(), Vec::new())
    };
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
        fired,
        not_applicable: marked,
    })
}
