//! The host-side quarter combination (ABI.md §7) and the merge of
//! per-round outputs into the sheet that is finalised.

use super::{FinaliseInput, MergeError, UnitOutput};
use crate::manifest::{Combine, IndicatorKind, Manifest, Round};

/// Rounds the exact quotient `n / d` half away from zero (四舍五入).
/// `None` when `d == 0`.
pub fn div_round(n: i128, d: i128) -> Option<i128> {
    if d == 0 {
        return None;
    }
    let q = n / d;
    let r = n % d;
    // |r| < |d|, so 2|r| cannot overflow an i128 built from i64 operands.
    if 2 * r.abs() >= d.abs() {
        Some(if (n < 0) == (d < 0) { q + 1 } else { q - 1 })
    } else {
        Some(q)
    }
}

/// ABI.md §7: the annual score of a quarterly indicator from its quarter
/// scores (`None` = not evaluated that quarter). `points` is the indicator's
/// points for the unit's category. Returns `None` when no quarter was
/// evaluated.
///
/// | kind | mean | sum | last |
/// |---|---|---|---|
/// | scored | mean of the evaluated quarters, rounded | `points − Σ (points − qᵢ)`, clamped to `0..=points` (deductions accumulate) | latest evaluated quarter |
/// | bonus, penalty | mean, rounded | `min(Σ qᵢ, points)` | latest |
/// | flag | raised if raised in any quarter | same | same |
pub fn combine_quarters(
    combine: Combine,
    kind: IndicatorKind,
    points: i64,
    quarters: [Option<i64>; 4],
) -> Option<i64> {
    let present: Vec<i64> = quarters.iter().flatten().copied().collect();
    if present.is_empty() {
        return None;
    }
    if kind == IndicatorKind::Flag {
        return Some(if present.iter().any(|&q| q != 0) {
            100
        } else {
            0
        });
    }
    let sum: i128 = present.iter().map(|&q| i128::from(q)).sum();
    let k = present.len() as i128;
    let (p, sum) = (i128::from(points), sum);
    let v = match combine {
        Combine::Mean => div_round(sum, k).unwrap_or(0),
        Combine::Last => i128::from(*present.last().unwrap_or(&0)),
        Combine::Sum => match kind {
            IndicatorKind::Scored => (p - (p * k - sum)).clamp(0, p.max(0)),
            _ => sum.min(p),
        },
    };
    // Every case is bounded by the inputs or by `points`, so it fits an i64.
    Some(i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX }))
}

/// Merges a unit's per-round evaluate outputs (from any number of nodes and
/// methods) into the finalise input: annual-round indicators are taken as
/// they are, quarterly indicators are combined with [`combine_quarters`].
/// An indicator scored twice in the same round is a conflict; an indicator
/// not scored in any round stays absent (finalise then reports it).
///
/// Not applicable (ABI 1.1): an annual indicator marked not applicable is
/// not applicable on the sheet; a quarter marked not applicable is left
/// out of the combination like a quarter not evaluated, and a quarterly
/// indicator marked in every quarter that reported it is not applicable
/// for the year.
pub fn merge_outputs(
    manifest: &Manifest,
    category: u32,
    outputs: &[(Round, &UnitOutput)],
    penalty_cap_override: Option<i64>,
) -> Result<FinaliseInput, MergeError> {
    let c = category as usize;
    if c >= manifest.categories.len() {
        return Err(MergeError::Category(category));
    }
    let ni = manifest.indicators.len();
    let mut annual: Vec<Option<i64>> = vec![None; ni];
    let mut quarters: Vec<[Option<i64>; 4]> = vec![[None; 4]; ni];
    // Per indicator and round (annual, Q1..Q4): marked not applicable.
    let mut marked: Vec<[bool; 5]> = vec![[false; 5]; ni];
    // Each indicator's method, looked up once (not once per round).
    let method_of: Vec<Option<usize>> = (0..ni).map(|i| manifest.indicator_method(i)).collect();
    for (round, out) in outputs {
        let rid = round.id();
        if !out.status.is_ok() {
            return Err(MergeError::Failed {
                round: rid,
                code: out.status.code(),
            });
        }
        if out.indicators.len() != ni {
            return Err(MergeError::Shape { round: rid });
        }
        for (i, score) in out.indicators.iter().enumerate() {
            let na = out.is_not_applicable(i);
            if score.is_none() && !na {
                continue;
            }
            let ind = &manifest.indicators[i];
            let quarterly = method_of[i].is_some_and(|m| manifest.methods[m].quarterly);
            if quarterly != round.is_quarter() || !manifest.applies(i, c) {
                return Err(MergeError::WrongRound {
                    indicator: ind.id.clone(),
                    round: rid,
                });
            }
            let slot = match round {
                Round::Annual => &mut annual[i],
                q => &mut quarters[i][q.code() as usize - 1],
            };
            let mark = &mut marked[i][round.code() as usize];
            if slot.is_some() || *mark {
                return Err(if na || score.is_some() && *mark {
                    MergeError::ScoredAndNotApplicable {
                        indicator: ind.id.clone(),
                        round: rid,
                    }
                } else {
                    MergeError::Conflict {
                        indicator: ind.id.clone(),
                        round: rid,
                    }
                });
            }
            match score {
                Some(score) => *slot = Some(*score),
                None => *mark = true,
            }
        }
    }
    let not_applicable: Vec<bool> = (0..ni)
        .map(|i| {
            let [a, quarters_marked @ ..] = marked[i];
            a || quarters_marked.iter().any(|&m| m) && quarters[i].iter().all(Option::is_none)
        })
        .collect();
    let mut scores = annual;
    for (i, q) in quarters.into_iter().enumerate() {
        let Some(m) = method_of[i] else {
            continue;
        };
        let (Some(combine), Some(points)) = (manifest.methods[m].combine, manifest.points(i, c))
        else {
            continue;
        };
        if manifest.methods[m].quarterly {
            scores[i] = combine_quarters(combine, manifest.indicators[i].kind, points, q);
        }
    }
    Ok(FinaliseInput {
        category,
        penalty_cap_override,
        scores,
        not_applicable: if not_applicable.iter().any(|&na| na) {
            not_applicable
        } else {
            Vec::new()
        },
    })
}
