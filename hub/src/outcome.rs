//! 考核结果运用（use of results）: from an approved [`Consolidation`] and
//! earlier years' approved results, the notices the scheme names
//! (考核方案 六（二）（四）（五）) and the copy list. Pure: no IO, no clock.
//!
//! The rules, every number from the manifest's `outcomes`:
//! - **法治建议书** (recommendation letter): grade in `letter_grades`.
//! - **通报警示** (warning notice), for either reason (one notice listing
//!   both when both hold):
//!   - *bottom of a ranking*: in a ranked category with `n` assessed units,
//!     the last `k = min(warn_bottom, ⌊n × warn_bottom_share⌋)` places
//!     (`Outcomes::warned_places`; the share defaults to one half), i.e.
//!     every unit whose rank `> n − k`. Ranks are competition ranks
//!     (1, 2, 2, 4), so units tied at a rank beyond the line are all warned;
//!     a tie that straddles the line has the better rank and is *not*
//!     (ranks 1,2,2,4,5 with `k` 2: `n − 2 = 3`, only the 4th and 5th). The
//!     share keeps a small ranking's first places out of the "last three":
//!     with 3 units only the last is warned, never "排名第1/3，位列末三名"
//!     (ASSUMPTIONS A-30d; `hub results` asks the office to confirm).
//!   - *big regression* (退步较大, ASSUMPTIONS.md A-19): against the unit's
//!     result of the year before, the total fell by at least
//!     `big_regression_points`, or the grade fell by two or more bands
//!     (e.g. 优秀 → 合格). A fall of one band alone is not "较大": it can be
//!     a change of 0.01 points. A unit without last year's result has no
//!     regression. Applies to every category.
//! - **通报表扬** (commendation): the top band this year and in each of the
//!   `commend_consecutive_excellent − 1` years immediately before; a missing
//!   year breaks the run.
//! - **向上推荐** (recommended upwards): the same with
//!   `recommend_township_consecutive_excellent`, for units of the
//!   `recommend_categories`.
//! - **约谈** (admonition, with rectification order and criticism): grade in
//!   `admonish_grades`, or the major-problem flag whatever the grade.
//! - **抄送** (copy list): the manifest's `copy_list` receives all results;
//!   an assessed unit of a category with `copy_to_supervisor` is also copied
//!   to its supervising department.
//!
//! Units not assessed or excused receive no notice (each not-assessed unit
//! is listed in `problems`). Each notice names its issuer: the unit's
//! responsible assessor (分级考核). Years are matched by unit id.

use std::collections::BTreeMap;

use kaohe_rulepacks::manifest::Manifest;
use kaohe_rulepacks::rubric::decimal::{format_hundredths, format_hundredths_fixed};
use serde::{Deserialize, Serialize};

use crate::consolidate::{Assessment, Consolidation, Scored, UnitResult, assessor_label};

/// One earlier year's approved results (assessed units only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct YearResults {
    pub year: i32,
    /// Unit id → result.
    pub units: BTreeMap<String, PastResult>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PastResult {
    /// Hundredths.
    pub total: i64,
    /// Grade id (`excellent` …), compared with this year's manifest.
    pub grade: String,
}

impl YearResults {
    /// This year's approved consolidation as next year's history.
    pub fn from_consolidation(c: &Consolidation) -> YearResults {
        YearResults {
            year: c.year,
            units: c
                .units
                .iter()
                .filter_map(|u| {
                    u.scored().map(|s| {
                        (
                            u.unit_id.clone(),
                            PastResult {
                                total: s.total,
                                grade: s.grade.clone(),
                            },
                        )
                    })
                })
                .collect(),
        }
    }
}

/// The use of one year's results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcomes {
    pub year: i32,
    /// By unit id, then kind.
    pub notices: Vec<Notice>,
    /// General recipients first (manifest order), then supervising
    /// departments by name.
    pub copy_list: Vec<CopyRecipient>,
    /// What could not be acted on, in Chinese. Sorted.
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub unit_id: String,
    pub unit_name: String,
    pub kind: NoticeKind,
    /// Who issues it: the unit's responsible assessor, in Chinese.
    pub issued_by: String,
    /// Why, in Chinese, e.g. "排名第4/6（并列），位列末三名".
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    RecommendationLetter,
    WarningNotice,
    Commendation,
    RecommendedUpwards,
    Admonition,
}

impl NoticeKind {
    pub fn name_zh(self) -> &'static str {
        match self {
            NoticeKind::RecommendationLetter => "法治建议书",
            NoticeKind::WarningNotice => "通报警示",
            NoticeKind::Commendation => "通报表扬",
            NoticeKind::RecommendedUpwards => "向上推荐",
            NoticeKind::Admonition => "约谈",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyRecipient {
    pub recipient: String,
    pub scope: CopyScope,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "units", rename_all = "snake_case")]
pub enum CopyScope {
    /// All results of the year.
    AllResults,
    /// These units' results (ids).
    Units(Vec<String>),
}

impl Outcomes {
    /// The notices of one unit.
    pub fn for_unit<'a>(&'a self, unit_id: &'a str) -> impl Iterator<Item = &'a Notice> + 'a {
        self.notices.iter().filter(move |n| n.unit_id == unit_id)
    }

    /// Everyone a unit's result is copied to.
    pub fn copy_recipients(&self, unit_id: &str) -> Vec<&str> {
        self.copy_list
            .iter()
            .filter(|c| match &c.scope {
                CopyScope::AllResults => true,
                CopyScope::Units(units) => units.iter().any(|u| u == unit_id),
            })
            .map(|c| c.recipient.as_str())
            .collect()
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// The use of `current`'s results; see the module docs.
pub fn outcomes(current: &Consolidation, history: &[YearResults], manifest: &Manifest) -> Outcomes {
    let rules = &manifest.outcomes;
    let grades = &manifest.composition.grades;
    let top = grades.first().map(|g| g.id.as_str()).unwrap_or_default();
    let past: BTreeMap<i32, &YearResults> = history.iter().map(|h| (h.year, h)).collect();
    // The names of the units that assess others (分级考核), for who issues
    // a notice: not a copy of every unit's.
    let assessors: std::collections::BTreeSet<&str> =
        current.units.iter().map(|u| u.assessor.as_str()).collect();
    let names: BTreeMap<String, String> = current
        .units
        .iter()
        .filter(|u| assessors.contains(u.unit_id.as_str()))
        .map(|u| (u.unit_id.clone(), u.name.clone()))
        .collect();
    let mut notices: BTreeMap<(String, NoticeKind), Notice> = BTreeMap::new();
    let mut add = |u: &UnitResult, kind: NoticeKind, reason: String| {
        notices
            .entry((u.unit_id.clone(), kind))
            .or_insert_with(|| Notice {
                unit_id: u.unit_id.clone(),
                unit_name: u.name.clone(),
                kind,
                issued_by: assessor_label(&names, &u.assessor),
                reasons: Vec::new(),
            })
            .reasons
            .push(reason);
    };
    let mut problems = Vec::new();

    for u in &current.units {
        let s = match &u.assessment {
            Assessment::Assessed(s) => s,
            Assessment::NotAssessed { gaps } => {
                problems.push(format!(
                    "单位 {}（{}）未评定，不作结果运用：{}",
                    u.unit_id,
                    u.name,
                    gaps.iter()
                        .map(|g| g.message.as_str())
                        .collect::<Vec<_>>()
                        .join("；")
                ));
                continue;
            }
            Assessment::Excused { .. } => continue,
        };
        let grade_name = &s.grade_name;
        let total = format_hundredths_fixed(s.total);
        if rules.letter_grades.contains(&s.grade) {
            add(
                u,
                NoticeKind::RecommendationLetter,
                format!(
                    "考核等次为{grade_name}（{total}分），制发法治建议书，建议取消其先进等次或评先资格"
                ),
            );
        }
        if let Some(p) = s.rank {
            let places = rules.warned_places(p.of as usize);
            let line = i64::from(p.of) - places as i64;
            if places > 0 && i64::from(p.rank) > line {
                add(
                    u,
                    NoticeKind::WarningNotice,
                    format!(
                        "排名第{}/{}{}，位列{}",
                        p.rank,
                        p.of,
                        if p.tied { "（并列）" } else { "" },
                        match places {
                            // "末一名" is not said; the last place is 末位.
                            1 => "末位".to_owned(),
                            n => format!("末{}名", zh_count(u32::try_from(n).unwrap_or(u32::MAX))),
                        }
                    ),
                );
            }
        }
        if let Some(last) = past
            .get(&(current.year - 1))
            .and_then(|y| y.units.get(&u.unit_id))
        {
            let year = current.year - 1;
            let drop = last.total - s.total;
            if rules.big_regression_points > 0 && drop >= rules.big_regression_points {
                add(
                    u,
                    NoticeKind::WarningNotice,
                    format!(
                        "总分{total}分，比{year}年{}分下降{}分（达到{}分），退步较大",
                        format_hundredths_fixed(last.total),
                        format_hundredths_fixed(drop),
                        format_hundredths(rules.big_regression_points)
                    ),
                );
            } else if let (Some(was), Some(now)) = (
                manifest.grade_index(&last.grade),
                manifest.grade_index(&s.grade),
            ) && now >= was + 2
            {
                add(
                    u,
                    NoticeKind::WarningNotice,
                    format!(
                        "等次由{year}年的{}降为{grade_name}，下降两个及以上等次，退步较大",
                        grades[was].name
                    ),
                );
            }
        }
        let run = excellent_run(current.year, &u.unit_id, s, top, &past);
        let k = rules.commend_consecutive_excellent;
        if k > 0 && run >= k {
            add(
                u,
                NoticeKind::Commendation,
                format!(
                    "连续{k}年（{}）考核{}，报请县委、县政府通报表扬或者奖励",
                    years_text(current.year, k),
                    grades[0].name
                ),
            );
        }
        let k = rules.recommend_township_consecutive_excellent;
        if k > 0 && run >= k && rules.recommend_categories.contains(&u.category) {
            add(
                u,
                NoticeKind::RecommendedUpwards,
                format!(
                    "连续{k}年（{}）考核{}，优先向省、市推荐创建依法行政示范单位、法治政府建设示范项目",
                    years_text(current.year, k),
                    grades[0].name
                ),
            );
        }
        if rules.admonish_grades.contains(&s.grade) {
            add(
                u,
                NoticeKind::Admonition,
                format!("考核等次为{grade_name}（{total}分），约谈、责令整改、通报批评"),
            );
        }
        if s.major_problem {
            add(
                u,
                NoticeKind::Admonition,
                format!(
                    "发生重大法治问题（不论等次，本年度{grade_name}），约谈、责令整改、通报批评"
                ),
            );
        }
    }

    let mut copy_list: Vec<CopyRecipient> = rules
        .copy_list
        .iter()
        .map(|r| CopyRecipient {
            recipient: r.clone(),
            scope: CopyScope::AllResults,
            reason:
                "考核结果抄送，作为政绩考核、文明单位创建、平安建设创建、营商环境评价等的评分依据"
                    .to_owned(),
        })
        .collect();
    let mut supervisors: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for u in &current.units {
        let copies = manifest
            .category_index(&u.category)
            .is_some_and(|c| manifest.categories[c].copy_to_supervisor);
        if !copies || u.scored().is_none() {
            continue;
        }
        match u.supervising_department.as_deref().map(str::trim) {
            Some(d) if !d.is_empty() => supervisors.entry(d).or_default().push(u.unit_id.clone()),
            _ => problems.push(format!(
                "单位 {}（{}）的考核结果应同时抄送主管部门，但名册未登记主管部门",
                u.unit_id, u.name
            )),
        }
    }
    copy_list.extend(supervisors.into_iter().map(|(d, units)| CopyRecipient {
        recipient: d.to_owned(),
        scope: CopyScope::Units(units),
        reason: "驻宝单位的考核结果同时抄送有关主管部门".to_owned(),
    }));
    problems.sort();
    Outcomes {
        year: current.year,
        notices: notices.into_values().collect(),
        copy_list,
        problems,
    }
}

/// Consecutive years in the top band ending with this one (this year
/// counts 1; each earlier year must be in `past` with the top grade).
fn excellent_run(
    year: i32,
    unit_id: &str,
    s: &Scored,
    top: &str,
    past: &BTreeMap<i32, &YearResults>,
) -> u32 {
    if s.grade != top {
        return 0;
    }
    let mut run = 1;
    let mut y = year - 1;
    while past
        .get(&y)
        .and_then(|h| h.units.get(unit_id))
        .is_some_and(|r| r.grade == top)
    {
        run += 1;
        y -= 1;
    }
    run
}

/// `2021—2022年` for the `k` years ending with `year`.
fn years_text(year: i32, k: u32) -> String {
    let first = year - (k as i32 - 1);
    if first == year {
        format!("{year}年")
    } else {
        format!("{first}—{year}年")
    }
}

/// Small counts in Chinese numerals (末三名); others in digits.
fn zh_count(n: u32) -> String {
    const DIGITS: [&str; 10] = ["零", "一", "二", "三", "四", "五", "六", "七", "八", "九"];
    match n {
        0..=9 => DIGITS[n as usize].to_owned(),
        10 => "十".to_owned(),
        11..=19 => format!("十{}", DIGITS[(n % 10) as usize]),
        20..=99 if n.is_multiple_of(10) => format!("{}十", DIGITS[(n / 10) as usize]),
        20..=99 => format!(
            "{}十{}",
            DIGITS[(n / 10) as usize],
            DIGITS[(n % 10) as usize]
        ),
        _ => n.to_string(),
    }
}

#[cfg(test)]
mod tests {
    //! Golden tests on the hand-built county (`hub/tests/golden/county-2022.toml`,
    //! with its 2021 history). Every expectation was worked out by hand.

    use super::*;
    use crate::consolidate::golden::county;
    use crate::consolidate::{ConsolidationInput, consolidate};

    use NoticeKind::{
        Admonition, Commendation, RecommendationLetter, RecommendedUpwards, WarningNotice,
    };

    fn reasons<'a>(o: &'a Outcomes, unit: &str, kind: NoticeKind) -> Vec<&'a str> {
        o.notices
            .iter()
            .find(|n| n.unit_id == unit && n.kind == kind)
            .unwrap_or_else(|| panic!("{unit} should have {kind:?}"))
            .reasons
            .iter()
            .map(String::as_str)
            .collect()
    }

    #[test]
    fn golden_notices_are_exactly_the_hand_worked_list() {
        let g = county();
        let o = outcomes(&g.consolidate(), &g.history, g.manifest());
        let got: Vec<(&str, NoticeKind)> = o
            .notices
            .iter()
            .map(|n| (n.unit_id.as_str(), n.kind))
            .collect();
        // Letters: 合格 T6 77.00, M1 70.59; 不合格 E1 54.90.
        // Warnings, bottom (the last min(3, ⌊n/2⌋) places): townships n 6 →
        //   3, rank > 3: T4, T5 (tied 4th), T6; departments n 5 → 2, rank >
        //   3: D4, D5; stationed n 4 → 2, rank > 2: S5, S2 — not S4, 2nd of
        //   4 with 97.00 (issue #13: a small ranking's first places are
        //   never its "last three").
        // Warnings, regression vs 2021 (≥ 10 points): T6 90.00 → 77.00,
        //   S2 92.00 → 82.00 (exactly 10), E1 85.00 → 54.90. Not S5 (−6, one
        //   band) nor C1 (−9.99, one band).
        // Commendations (优秀 in 2021 and 2022): T1, D1, H1.
        // Recommended upwards (townships, same run): T1.
        // Admonitions: E1 (不合格), S1 (major problem on 优秀).
        assert_eq!(
            got,
            [
                ("D1", Commendation),
                ("D4", WarningNotice),
                ("D5", WarningNotice),
                ("E1", RecommendationLetter),
                ("E1", WarningNotice),
                ("E1", Admonition),
                ("H1", Commendation),
                ("M1", RecommendationLetter),
                ("S1", Admonition),
                ("S2", WarningNotice),
                ("S5", WarningNotice),
                ("T1", Commendation),
                ("T1", RecommendedUpwards),
                ("T4", WarningNotice),
                ("T5", WarningNotice),
                ("T6", RecommendationLetter),
                ("T6", WarningNotice),
            ]
        );
    }

    #[test]
    fn each_notice_says_why_in_chinese() {
        let g = county();
        let o = outcomes(&g.consolidate(), &g.history, g.manifest());
        assert_eq!(
            reasons(&o, "T4", WarningNotice),
            ["排名第4/6（并列），位列末三名"]
        );
        assert_eq!(
            reasons(&o, "T6", WarningNotice),
            [
                "排名第6/6，位列末三名",
                "总分77.00分，比2021年90.00分下降13.00分（达到10分），退步较大",
            ]
        );
        assert_eq!(
            reasons(&o, "S2", WarningNotice),
            [
                "排名第4/4，位列末二名",
                "总分82.00分，比2021年92.00分下降10.00分（达到10分），退步较大",
            ]
        );
        assert_eq!(reasons(&o, "S5", WarningNotice), ["排名第3/4，位列末二名"]);
        assert_eq!(
            reasons(&o, "E1", WarningNotice),
            ["总分54.90分，比2021年85.00分下降30.10分（达到10分），退步较大"]
        );
        assert_eq!(
            reasons(&o, "T6", RecommendationLetter),
            ["考核等次为合格（77.00分），制发法治建议书，建议取消其先进等次或评先资格"]
        );
        assert_eq!(
            reasons(&o, "E1", Admonition),
            ["考核等次为不合格（54.90分），约谈、责令整改、通报批评"]
        );
        assert_eq!(
            reasons(&o, "S1", Admonition),
            ["发生重大法治问题（不论等次，本年度优秀），约谈、责令整改、通报批评"]
        );
        assert_eq!(
            reasons(&o, "T1", Commendation),
            ["连续2年（2021—2022年）考核优秀，报请县委、县政府通报表扬或者奖励"]
        );
        assert_eq!(
            reasons(&o, "T1", RecommendedUpwards),
            [
                "连续2年（2021—2022年）考核优秀，优先向省、市推荐创建依法行政示范单位、法治政府建设示范项目"
            ]
        );
        // 分级考核: each notice comes from the unit's own assessor.
        let issuer = |unit: &str| o.for_unit(unit).next().map(|n| n.issued_by.clone());
        assert_eq!(issuer("T1").as_deref(), Some("依法治县办"));
        assert_eq!(issuer("H1").as_deref(), Some("卫健委"));
        assert_eq!(issuer("E1").as_deref(), Some("国资局"));
        // A tie straddling the line, a −9.99 drop: nothing.
        assert_eq!(
            o.for_unit("D2").count() + o.for_unit("D3").count() + o.for_unit("C1").count(),
            0
        );
    }

    #[test]
    fn copy_list_adds_each_stationed_units_supervising_department() {
        let g = county();
        let o = outcomes(&g.consolidate(), &g.history, g.manifest());
        let general = [
            "县纪委监委",
            "县委组织部",
            "县文明建设事务服务中心",
            "县委政法委",
            "县发改委",
        ];
        assert_eq!(o.copy_recipients("T1"), general);
        let mut s1 = general.to_vec();
        s1.push("国家税务总局平顶山市税务局");
        assert_eq!(o.copy_recipients("S1"), s1);
        // Supervisors by name; S3 (not assessed) has no result to copy.
        let supervisors: Vec<(&str, &CopyScope)> = o.copy_list[general.len()..]
            .iter()
            .map(|c| (c.recipient.as_str(), &c.scope))
            .collect();
        let units = |id: &str| CopyScope::Units(vec![id.to_owned()]);
        assert_eq!(
            supervisors,
            [
                ("国家税务总局平顶山市税务局", &units("S1")),
                ("平顶山市气象局", &units("S2")),
                ("平顶山市消防救援支队", &units("S4")),
                ("平顶山市邮政分公司", &units("S5")),
            ]
        );
    }

    #[test]
    fn units_not_assessed_get_no_notice_and_are_listed() {
        let g = county();
        let o = outcomes(&g.consolidate(), &g.history, g.manifest());
        let listed: Vec<&str> = o
            .problems
            .iter()
            .map(|p| &p[..p.find('（').unwrap()])
            .collect();
        assert_eq!(listed, ["单位 D6", "单位 S3", "单位 V2"]);
        assert!(
            o.problems[0].ends_with("满意度调查（satisfaction）年度结果未报送（report missing）")
        );
        for id in ["D6", "S3", "V2", "D7"] {
            assert_eq!(o.for_unit(id).count(), 0, "{id}");
        }
    }

    #[test]
    fn falling_two_grades_is_a_big_regression_even_under_the_point_threshold() {
        // M1 is 合格 (70.59) this year. Against a made-up 2021 of 优秀 at
        // 75.00 the total fell only 4.41, but two bands (优秀 → 合格).
        // Against 良好 at 75.00 it fell one band: no regression.
        let g = county();
        let c = g.consolidate();
        let year = |grade: &str| YearResults {
            year: 2021,
            units: [(
                "M1".to_owned(),
                PastResult {
                    total: 7500,
                    grade: grade.into(),
                },
            )]
            .into(),
        };
        let o = outcomes(&c, &[year("excellent")], g.manifest());
        assert_eq!(
            reasons(&o, "M1", WarningNotice),
            ["等次由2021年的优秀降为合格，下降两个及以上等次，退步较大"]
        );
        let o = outcomes(&c, &[year("good")], g.manifest());
        assert!(!o.for_unit("M1").any(|n| n.kind == WarningNotice));
    }

    #[test]
    fn three_years_needed_means_three_unbroken_years() {
        // commend = 3: T1 needs 2020 优秀 too. 2020: T1 优秀, D1 良好, H1 absent.
        let g = county();
        let mut manifest = g.manifest().clone();
        manifest.outcomes.commend_consecutive_excellent = 3;
        let mut history = g.history.clone();
        history.push(YearResults {
            year: 2020,
            units: [
                (
                    "T1".to_owned(),
                    PastResult {
                        total: 9100,
                        grade: "excellent".into(),
                    },
                ),
                (
                    "D1".to_owned(),
                    PastResult {
                        total: 8800,
                        grade: "good".into(),
                    },
                ),
            ]
            .into(),
        });
        let o = outcomes(&g.consolidate(), &history, &manifest);
        let commended: Vec<&str> = o
            .notices
            .iter()
            .filter(|n| n.kind == Commendation)
            .map(|n| n.unit_id.as_str())
            .collect();
        assert_eq!(commended, ["T1"]);
        assert_eq!(
            reasons(&o, "T1", Commendation),
            ["连续3年（2020—2022年）考核优秀，报请县委、县政府通报表扬或者奖励"]
        );
        // The township recommendation still needs 2.
        assert!(o.for_unit("T1").any(|n| n.kind == RecommendedUpwards));
    }

    #[test]
    fn a_wider_bottom_moves_the_line_and_small_rankings_are_all_warned() {
        // warn_bottom 4 with the share at 1 (the scheme's letter): townships
        // 6 → rank > 2: T3, T4, T5, T6; departments 5 → rank > 1: D2, D3
        // (now past the line), D4, D5; stationed 4 → rank > 0: all four, the
        // first included.
        let g = county();
        let mut manifest = g.manifest().clone();
        manifest.outcomes.warn_bottom = 4;
        manifest.outcomes.warn_bottom_share = Some(100);
        let o = outcomes(&g.consolidate(), &[], &manifest);
        let warned: Vec<&str> = o
            .notices
            .iter()
            .filter(|n| n.kind == WarningNotice)
            .map(|n| n.unit_id.as_str())
            .collect();
        assert_eq!(
            warned,
            [
                "D2", "D3", "D4", "D5", "S1", "S2", "S4", "S5", "T3", "T4", "T5", "T6"
            ]
        );
        assert_eq!(reasons(&o, "S1", WarningNotice), ["排名第1/4，位列末四名"]);
    }

    /// Issue #13: with 3 or fewer ranked units every unit was among the
    /// "last three", so the first-placed unit was warned.
    #[test]
    fn a_small_ranking_warns_at_most_half_of_it_never_its_first() {
        let g = county();
        let mut c = g.consolidate();
        // Keep three stationed units: S1 (1st), S5, S2.
        c.units.retain(|u| u.unit_id != "S4");
        for u in &mut c.units {
            if let Assessment::Assessed(s) = &mut u.assessment
                && let Some(p) = &mut s.rank
                && u.category == "stationed_unit"
            {
                p.of = 3;
                if p.rank > 2 {
                    p.rank -= 1;
                }
            }
        }
        let o = outcomes(&c, &[], g.manifest());
        let warned: Vec<&str> = o
            .notices
            .iter()
            .filter(|n| n.kind == WarningNotice && n.unit_id.starts_with('S'))
            .map(|n| n.unit_id.as_str())
            .collect();
        assert_eq!(warned, ["S2"]);
        assert_eq!(reasons(&o, "S2", WarningNotice), ["排名第3/3，位列末位"]);
        assert!(
            o.notices
                .iter()
                .flat_map(|n| &n.reasons)
                .all(|r| !r.contains("排名第1/")),
            "no first place is warned"
        );
    }

    #[test]
    fn this_year_becomes_next_years_history_and_outcomes_are_deterministic() {
        let g = county();
        let c = g.consolidate();
        let h = YearResults::from_consolidation(&c);
        assert_eq!(h.year, 2022);
        assert_eq!(h.units.len(), 22, "assessed units only");
        assert_eq!(
            h.units["T6"],
            PastResult {
                total: 7700,
                grade: "pass".into()
            }
        );
        assert!(!h.units.contains_key("D6") && !h.units.contains_key("D7"));
        let a = outcomes(&c, &g.history, g.manifest()).to_json();
        let mut reversed = g.history.clone();
        reversed.push(YearResults {
            year: 2019,
            units: BTreeMap::new(),
        });
        reversed.reverse();
        assert_eq!(a, outcomes(&c, &reversed, g.manifest()).to_json());
        // The same through a fresh consolidation of the same inputs.
        let again = consolidate(&ConsolidationInput { ..g.input() }, g.finaliser()).unwrap();
        assert_eq!(a, outcomes(&again, &g.history, g.manifest()).to_json());
    }

    #[test]
    fn small_counts_read_as_chinese_numerals() {
        assert_eq!(
            [1, 3, 10, 12, 20, 35, 100].map(zh_count),
            ["一", "三", "十", "十二", "二十", "三十五", "100"].map(String::from)
        );
    }
}
