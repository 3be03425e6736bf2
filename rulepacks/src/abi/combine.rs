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
    // The evaluated quarters, in order, without allocating.
    let mut buf = [0i64; 4];
    let mut n = 0;
    for q in quarters.into_iter().flatten() {
        buf[n] = q;
        n += 1;
    }
    let present = &buf[..n];
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
    // Per indicator, one record (one allocation for the whole merge): its
    // method's index and whether it is quarterly (looked up once, not once
    // per round), the annual score, the quarters' scores, and per round
    // (annual, Q1..Q4) whether it was marked not applicable.
    #[derive(Clone, Copy)]
    struct Slot {
        method: Option<usize>,
        quarterly: bool,
        annual: Option<i64>,
        quarters: [Option<i64>; 4],
        marked: [bool; 5],
    }
    let mut slots: Vec<Slot> = (0..ni)
        .map(|i| {
            let method = manifest.indicator_method(i);
            Slot {
                method,
                quarterly: method.is_some_and(|m| manifest.methods[m].quarterly),
                annual: None,
                quarters: [None; 4],
                marked: [false; 5],
            }
        })
        .collect();
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
            let s = &mut slots[i];
            if s.quarterly != round.is_quarter() || !manifest.applies(i, c) {
                return Err(MergeError::WrongRound {
                    indicator: ind.id.clone(),
                    round: rid,
                });
            }
            let slot = match round {
                Round::Annual => &mut s.annual,
                q => &mut s.quarters[q.code() as usize - 1],
            };
            let mark = &mut s.marked[round.code() as usize];
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
    let mut any_na = false;
    let mut not_applicable = vec![false; ni];
    let mut scores = vec![None; ni];
    for (i, s) in slots.iter().enumerate() {
        let [a, quarters_marked @ ..] = s.marked;
        let na = a || quarters_marked.iter().any(|&m| m) && s.quarters.iter().all(Option::is_none);
        not_applicable[i] = na;
        any_na |= na;
        scores[i] = s.annual;
        let Some(m) = s.method else {
            continue;
        };
        let (Some(combine), Some(points)) = (manifest.methods[m].combine, manifest.points(i, c))
        else {
            continue;
        };
        if s.quarterly {
            scores[i] = combine_quarters(combine, manifest.indicators[i].kind, points, s.quarters);
        }
    }
    Ok(FinaliseInput {
        category,
        penalty_cap_override,
        scores,
        not_applicable: if any_na { not_applicable } else { Vec::new() },
    })
}
