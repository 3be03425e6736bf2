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
    // Per indicator, one record (one allocation for the whole merge): what
    // the manifest says of it for this category, looked up once and not
    // once per round — whether it is quarterly, its points here (`None`:
    // it does not apply), its method's combination — then the annual
    // score, the quarters' scores, and per round (annual, Q1..Q4) whether
    // it was marked not applicable.
    #[derive(Clone, Copy)]
    struct Slot {
        quarterly: bool,
        points: Option<i64>,
        combine: Option<Combine>,
        annual: Option<i64>,
        quarters: [Option<i64>; 4],
        marked: [bool; 5],
    }
    // Indicators come grouped by method: the previous indicator's method
    // is tried first, before a search by id. One that does not apply to
    // the category needs none: scored in any round it is refused, and it
    // is never combined.
    let mut last: Option<usize> = None;
    let mut slots: Vec<Slot> = manifest
        .indicators
        .iter()
        .map(|ind| {
            let points = ind.points.get(c).copied().flatten();
            let method = match last {
                _ if points.is_none() => None,
                Some(m) if manifest.methods[m].id == ind.method => Some(m),
                _ => manifest.method_index(&ind.method),
            };
            last = method.or(last);
            let method = method.map(|m| &manifest.methods[m]);
            Slot {
                quarterly: method.is_some_and(|m| m.quarterly),
                points,
                combine: method.and_then(|m| m.combine),
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
        let quarter = round.is_quarter();
        let r = round.code() as usize;
        for (i, (score, s)) in out.indicators.iter().zip(slots.iter_mut()).enumerate() {
            let na = out.is_not_applicable(i);
            if score.is_none() && !na {
                continue;
            }
            let id = || manifest.indicators[i].id.clone();
            if s.quarterly != quarter || s.points.is_none() {
                return Err(MergeError::WrongRound {
                    indicator: id(),
                    round: rid,
                });
            }
            let slot = match r {
                0 => &mut s.annual,
                q => &mut s.quarters[q - 1],
            };
            let mark = &mut s.marked[r];
            if slot.is_some() || *mark {
                return Err(if na || score.is_some() && *mark {
                    MergeError::ScoredAndNotApplicable {
                        indicator: id(),
                        round: rid,
                    }
                } else {
                    MergeError::Conflict {
                        indicator: id(),
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
    let na = |s: &Slot| {
        let [a, quarters_marked @ ..] = s.marked;
        a || quarters_marked.contains(&true) && s.quarters.iter().all(Option::is_none)
    };
    let scores = slots
        .iter()
        .enumerate()
        .map(|(i, s)| match (s.quarterly, s.combine, s.points) {
            (true, Some(combine), Some(points)) => {
                combine_quarters(combine, manifest.indicators[i].kind, points, s.quarters)
            }
            _ => s.annual,
        })
        .collect();
    let not_applicable = if slots.iter().any(na) {
        slots.iter().map(na).collect()
    } else {
        Vec::new()
    };
    Ok(FinaliseInput {
        category,
        penalty_cap_override,
        scores,
        not_applicable,
    })
}
