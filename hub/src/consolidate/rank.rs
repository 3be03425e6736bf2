//! 排名（ranking）: competition ranking, the excellent quota, and the
//! quarterly leaderboard of the daily evaluation (党建引领·比拼四季).
//!
//! **Ties.** Units are ordered by total, highest first. Equal totals share
//! a rank and the next rank skips the places they fill ("1224"
//! competition ranking: 1, 2, 2, 4). Among equals the display order is by
//! unit id, which carries no meaning and is there only so that the output
//! is the same bytes every time.
//!
//! **Excellent quota** (`composition.excellent_quota`, hundredths of the
//! whole; 0 = none): in each ranked category at most
//! `⌊assessed × quota / 100⌋` units keep the top grade. Going down the
//! ranking a group of tied units keeps it only if the whole group fits;
//! the first group that does not fit, and every unit below it, is moved to
//! the next band — the quota is a cap, and equal totals are never split.

use std::collections::BTreeMap;

use kaohe_rulepacks::manifest::{Manifest, Round};
use serde::{Deserialize, Serialize};

use super::ids::Ids;
use super::{AcceptedResult, Assessment, Place, RankEntry, Ranking, UnitResult, is_scored};
use crate::registry::units::UnitRecord;

/// Competition ranks of `totals`, which must be sorted highest first:
/// equal totals share a rank, the next rank skips (`[9, 8, 8, 7]` →
/// `[1, 2, 2, 4]`).
pub fn competition_ranks(totals: &[i64]) -> Vec<u32> {
    let mut ranks: Vec<u32> = Vec::with_capacity(totals.len());
    for (i, t) in totals.iter().enumerate() {
        let rank = match ranks.last() {
            Some(&prev) if totals[i - 1] == *t => prev,
            _ => i as u32 + 1,
        };
        ranks.push(rank);
    }
    ranks
}

/// Whether each total (sorted) is shared with a neighbour.
fn tied(totals: &[i64]) -> Vec<bool> {
    (0..totals.len())
        .map(|i| {
            (i > 0 && totals[i - 1] == totals[i])
                || (i + 1 < totals.len() && totals[i + 1] == totals[i])
        })
        .collect()
}

/// Ranks every ranked category (manifest order), applies the excellent
/// quota and writes each assessed unit's [`Place`].
pub(super) fn rank_categories(manifest: &Manifest, units: &mut [UnitResult]) -> Vec<Ranking> {
    let mut rankings = Vec::new();
    for category in manifest.categories.iter().filter(|c| c.ranked) {
        let mut members: Vec<(i64, usize)> = Vec::new();
        let (mut not_assessed, mut excused) = (Vec::new(), Vec::new());
        for (at, u) in units.iter().enumerate() {
            if u.category != category.id {
                continue;
            }
            match &u.assessment {
                Assessment::Assessed(s) => members.push((s.total, at)),
                Assessment::NotAssessed { .. } => not_assessed.push(u.unit_id.clone()),
                Assessment::Excused { .. } => excused.push(u.unit_id.clone()),
            }
        }
        members.sort_by(|a, b| {
            b.0.cmp(&a.0)
                .then_with(|| units[a.1].unit_id.cmp(&units[b.1].unit_id))
        });
        let totals: Vec<i64> = members.iter().map(|m| m.0).collect();
        let ranks = competition_ranks(&totals);
        let ties = tied(&totals);
        apply_quota(manifest, units, &members, &ranks);
        let of = members.len() as u32;
        let mut entries = Vec::with_capacity(members.len());
        for (i, &(total, at)) in members.iter().enumerate() {
            let u = &mut units[at];
            if let Assessment::Assessed(s) = &mut u.assessment {
                s.rank = Some(Place {
                    rank: ranks[i],
                    of,
                    tied: ties[i],
                });
                entries.push(RankEntry {
                    rank: ranks[i],
                    tied: ties[i],
                    unit_id: u.unit_id.clone(),
                    name: u.name.clone(),
                    total,
                    grade: s.grade.clone(),
                });
            }
        }
        rankings.push(Ranking {
            category: category.id.clone(),
            category_name: category.name.clone(),
            entries,
            not_assessed,
            excused,
        });
    }
    rankings
}

/// The excellent quota of the module docs, on one ranking (`members` in
/// rank order, `ranks` their competition ranks).
fn apply_quota(
    manifest: &Manifest,
    units: &mut [UnitResult],
    members: &[(i64, usize)],
    ranks: &[u32],
) {
    let comp = &manifest.composition;
    if comp.excellent_quota <= 0 || comp.grades.len() < 2 {
        return;
    }
    let (top, next) = (&comp.grades[0], &comp.grades[1]);
    let allowed = members.len() as i64 * comp.excellent_quota / 100;
    let mut kept = 0i64;
    let mut full = false;
    let mut i = 0;
    while i < members.len() {
        let end = (i..members.len())
            .find(|&j| ranks[j] != ranks[i])
            .unwrap_or(members.len());
        let group = &members[i..end];
        let excellent = group
            .iter()
            .filter(|(_, at)| matches!(&units[*at].assessment, Assessment::Assessed(s) if s.grade == top.id))
            .count() as i64;
        if !full && kept + excellent <= allowed {
            kept += excellent;
        } else {
            full = true;
            for &(_, at) in group {
                if let Assessment::Assessed(s) = &mut units[at].assessment
                    && s.grade == top.id
                {
                    s.grade = next.id.clone();
                    s.grade_name = next.name.clone();
                    s.notes.push(format!(
                        "{}等次比例上限：本类别 {} 个参评单位中至多 {} 个评为{}，按排名（并列者同进退）调整为{}",
                        top.name,
                        members.len(),
                        allowed,
                        top.name,
                        next.name
                    ));
                }
            }
        }
        i = end;
    }
}

/// One quarter's daily-evaluation leaderboard of one ranked category.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarterBoard {
    pub round: Round,
    pub category: String,
    pub category_name: String,
    /// Points of the category's scored indicators of quarterly methods.
    pub max_points: i64,
    /// By rank, then unit id.
    pub entries: Vec<BoardEntry>,
    /// Units whose quarterly reports for this quarter are missing, or
    /// received twice (see the unit's gaps).
    pub not_reported: Vec<String>,
    /// Units excused entirely, or for this quarter.
    pub excused: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoardEntry {
    pub rank: u32,
    pub tied: bool,
    pub unit_id: String,
    pub name: String,
    /// Sum of the unit's scored indicators of the quarterly methods this
    /// quarter (hundredths).
    pub points: i64,
}

/// The leaderboards: per quarter, per ranked category that has a quarterly
/// method. A unit is on a board when every quarterly method it is assessed
/// in was reported exactly once for that quarter; its points are the sum of
/// those reports' scored indicators (bonus, penalty and flag indicators do
/// not count). Ranked exactly like the year.
///
/// Built a unit at a time ([`Boards::add`], roster order) as the year's
/// results stream by, keeping per unit only its standing in each quarter.
pub(super) struct Boards<'r> {
    /// Per category, per quarter: its quarterly methods (none: no board, or
    /// the category is not ranked).
    quarterly: Vec<[Vec<usize>; 4]>,
    /// Per category: its units, roster order.
    units: Vec<Vec<BoardUnit<'r>>>,
}

struct BoardUnit<'r> {
    id: &'r str,
    name: &'r str,
    quarters: [Quarter; 4],
}

#[derive(Debug, Clone, Copy)]
enum Quarter {
    /// No board for this quarter.
    None,
    Excused,
    NotReported,
    Points(i64),
}

impl<'r> Boards<'r> {
    pub(super) fn new(manifest: &Manifest) -> Boards<'r> {
        let quarterly = manifest
            .categories
            .iter()
            .enumerate()
            .map(|(c, category)| {
                let expected = manifest.expected_reports(c);
                Round::QUARTERS.map(|round| {
                    if !category.ranked {
                        return Vec::new();
                    }
                    expected
                        .iter()
                        .filter(|&&(_, r)| r == round)
                        .map(|&(m, _)| m)
                        .collect()
                })
            })
            .collect();
        Boards {
            quarterly,
            units: manifest.categories.iter().map(|_| Vec::new()).collect(),
        }
    }

    /// One roster unit (in roster order) with all its results.
    pub(super) fn add(
        &mut self,
        manifest: &Manifest,
        ids: &Ids<'_>,
        unit: &'r UnitRecord,
        results: &[AcceptedResult],
        excused_quarters: &BTreeMap<(&str, usize, Round), &str>,
        excused_units: &BTreeMap<&str, &str>,
    ) {
        let Some(c) = manifest.category_index(&unit.category) else {
            return;
        };
        let quarterly = &self.quarterly[c];
        if quarterly.iter().all(Vec::is_empty) {
            return;
        }
        let id = unit.id.as_str();
        let mut quarters = [Quarter::None; 4];
        for (q, round) in Round::QUARTERS.into_iter().enumerate() {
            let methods = &quarterly[q];
            if methods.is_empty() {
                continue;
            }
            if excused_units.contains_key(id)
                || methods
                    .iter()
                    .any(|&m| excused_quarters.contains_key(&(id, m, round)))
            {
                quarters[q] = Quarter::Excused;
                continue;
            }
            let mut points = 0i64;
            let mut complete = true;
            for &m in methods {
                let method = &manifest.methods[m].id;
                let mut reports = results
                    .iter()
                    .filter(|r| r.round == round && &r.method_id == method);
                match (reports.next(), reports.next()) {
                    (Some(r), None) => {
                        points += r
                            .scores
                            .iter()
                            .filter(|(ind, _)| {
                                ids.indicator(ind).is_some_and(|i| {
                                    is_scored(manifest, i) && manifest.applies(i, c)
                                })
                            })
                            .map(|(_, s)| *s)
                            .sum::<i64>();
                    }
                    _ => complete = false,
                }
            }
            quarters[q] = if complete {
                Quarter::Points(points)
            } else {
                Quarter::NotReported
            };
        }
        self.units[c].push(BoardUnit {
            id,
            name: unit.name.as_str(),
            quarters,
        });
    }

    /// The boards, per quarter then category (manifest order).
    pub(super) fn finish(self, manifest: &Manifest) -> Vec<QuarterBoard> {
        let mut boards = Vec::new();
        for (q, round) in Round::QUARTERS.into_iter().enumerate() {
            for (c, category) in manifest.categories.iter().enumerate() {
                let quarterly = &self.quarterly[c][q];
                if quarterly.is_empty() {
                    continue;
                }
                let max_points = manifest
                    .applicable_indicators(c)
                    .filter(|&i| is_scored(manifest, i))
                    .filter(|&i| {
                        manifest
                            .indicator_method(i)
                            .is_some_and(|m| quarterly.contains(&m))
                    })
                    .filter_map(|i| manifest.points(i, c))
                    .sum();
                let mut scored: Vec<(i64, &str, &str)> = Vec::new();
                let (mut not_reported, mut excused) = (Vec::new(), Vec::new());
                for u in &self.units[c] {
                    match u.quarters[q] {
                        Quarter::Points(p) => scored.push((p, u.id, u.name)),
                        Quarter::NotReported => not_reported.push(u.id.to_owned()),
                        Quarter::Excused => excused.push(u.id.to_owned()),
                        Quarter::None => {}
                    }
                }
                scored.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
                let totals: Vec<i64> = scored.iter().map(|s| s.0).collect();
                let ranks = competition_ranks(&totals);
                let ties = tied(&totals);
                boards.push(QuarterBoard {
                    round,
                    category: category.id.clone(),
                    category_name: category.name.clone(),
                    max_points,
                    entries: scored
                        .iter()
                        .enumerate()
                        .map(|(i, &(points, id, name))| BoardEntry {
                            rank: ranks[i],
                            tied: ties[i],
                            unit_id: id.to_owned(),
                            name: name.to_owned(),
                            points,
                        })
                        .collect(),
                    not_reported,
                    excused,
                });
            }
        }
        boards
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_share_a_rank_and_the_next_rank_skips() {
        assert_eq!(
            competition_ranks(&[9000, 8000, 8000, 7000]),
            vec![1, 2, 2, 4]
        );
        assert_eq!(
            tied(&[9000, 8000, 8000, 7000]),
            vec![false, true, true, false]
        );
    }

    #[test]
    fn a_tie_at_the_top_and_at_the_bottom() {
        // 95 95 90 80 80 → 1 1 3 4 4
        assert_eq!(
            competition_ranks(&[9500, 9500, 9000, 8000, 8000]),
            vec![1, 1, 3, 4, 4]
        );
    }

    #[test]
    fn all_equal_all_first_and_empty_is_empty() {
        assert_eq!(competition_ranks(&[5000, 5000, 5000]), vec![1, 1, 1]);
        assert_eq!(tied(&[5000, 5000, 5000]), vec![true, true, true]);
        assert!(competition_ranks(&[]).is_empty());
        assert_eq!(competition_ranks(&[1]), vec![1]);
        assert_eq!(tied(&[1]), vec![false]);
    }

    #[test]
    fn totals_differing_by_one_hundredth_are_not_tied() {
        assert_eq!(competition_ranks(&[9001, 9000, 9000]), vec![1, 2, 2]);
    }
}
