//! Golden tests of the consolidation on the hand-built county of
//! `hub/tests/golden/county-2022.toml`. Every expected number below was
//! worked out by hand from the Baofeng 2022 rubric (the arithmetic is in the
//! data file's comments and repeated here where it matters); none was
//! produced by the code under test.

use kaohe_rulepacks::abi::FinaliseOutput;
use kaohe_rulepacks::manifest::Round;

use super::golden::{Golden, county};
use super::*;

mod scale;

fn scored<'a>(c: &'a Consolidation, id: &str) -> &'a Scored {
    match &c
        .unit(id)
        .unwrap_or_else(|| panic!("{id} on the roster"))
        .assessment
    {
        Assessment::Assessed(s) => s,
        other => panic!("{id} should be assessed, is {other:?}"),
    }
}

fn gaps<'a>(c: &'a Consolidation, id: &str) -> &'a [Gap] {
    match &c
        .unit(id)
        .unwrap_or_else(|| panic!("{id} on the roster"))
        .assessment
    {
        Assessment::NotAssessed { gaps } => gaps,
        other => panic!("{id} should not be assessed, is {other:?}"),
    }
}

fn order(r: &Ranking) -> Vec<(u32, &str)> {
    r.entries
        .iter()
        .map(|e| (e.rank, e.unit_id.as_str()))
        .collect()
}

#[test]
fn golden_sheets_match_the_hand_computation() {
    let c = county().consolidate();
    // (unit, applicable, raw, converted, bonus, penalty, total, grade), hundredths.
    type Row = (&'static str, i64, i64, i64, i64, i64, i64, &'static str);
    #[rustfmt::skip]
    let expected: &[Row] = &[
        // 100-point categories: total = 100 − deductions + bonus − penalty.
        ("T1", 10000, 9800, 9800, 300, 0, 10100, "excellent"),    // 100 − 2 + 3
        ("T2", 10000, 9800, 9800, 0, 0, 9800, "excellent"),       // L1 (4+2+4+4)/4 = 3.5; − 0.5 − 1.5
        ("T3", 10000, 9700, 9700, 0, 0, 9700, "excellent"),       // − 1 − 2
        ("T4", 10000, 9525, 9525, 0, 0, 9525, "excellent"),       // − 3 − 1.75
        ("T5", 10000, 9525, 9525, 0, 0, 9525, "excellent"),       // C3 (0.5+4+0.5+4)/4 = 2.25; − 1.75 − 3
        ("T6", 10000, 8900, 8900, 0, 1200, 7700, "pass"),         // − 5 − 6; penalties 8 + 5 = 13 → override cap 12
        ("D1", 10000, 9900, 9900, 0, 0, 9900, "excellent"),
        ("D2", 10000, 9700, 9700, 0, 0, 9700, "excellent"),
        ("D3", 10000, 9700, 9700, 0, 0, 9700, "excellent"),
        ("D4", 10000, 9100, 9100, 0, 0, 9100, "excellent"),
        ("D5", 10000, 8967, 8967, 0, 0, 8967, "good"),            // L1 (3+4+4)/3 = 3.67 (Q1 excused); − 0.33 − 10
        ("S1", 10000, 10000, 10000, 100, 0, 10100, "excellent"),
        ("S2", 10000, 8200, 8200, 0, 0, 8200, "good"),
        ("S4", 10000, 9700, 9700, 0, 0, 9700, "excellent"),
        ("S5", 10000, 8900, 8900, 0, 0, 8900, "good"),
        // Converted (换算): round(raw × 100 / applicable), half away from zero.
        ("P1", 9100, 8900, 9780, 0, 0, 9780, "excellent"),        // 8900·100/91 = 9780.21…
        ("C1", 9100, 7736, 8501, 0, 0, 8501, "good"),             // 7736·100/91 = 8501.09…
        ("R1", 5100, 5100, 10000, 0, 0, 10000, "excellent"),
        ("M1", 5100, 3600, 7059, 0, 0, 7059, "pass"),             // 3600·100/51 = 7058.82…
        ("E1", 5100, 2800, 5490, 0, 0, 5490, "fail"),             // 2800·100/51 = 5490.19…
        ("H1", 5100, 4650, 9118, 0, 0, 9118, "excellent"),        // 4650·100/51 = 9117.64…
        ("V1", 3100, 2790, 9000, 0, 0, 9000, "excellent"),        // 2790·100/31 = 9000 exactly: the band edge
    ];
    for &(id, applicable, raw, converted, bonus, penalty, total, grade) in expected {
        let s = scored(&c, id);
        assert_eq!(
            (
                s.applicable,
                s.raw,
                s.converted,
                s.bonus,
                s.penalty,
                s.total,
                s.grade.as_str()
            ),
            (applicable, raw, converted, bonus, penalty, total, grade),
            "{id}"
        );
    }
    let assessed = c.units.iter().filter(|u| u.scored().is_some()).count();
    assert_eq!(
        assessed,
        expected.len(),
        "every other unit is not assessed or excused"
    );
    assert!(scored(&c, "S1").major_problem);
    assert!(!scored(&c, "T1").major_problem);
    assert_eq!(scored(&c, "M1").grade_name, "合格");
}

#[test]
fn ranked_categories_tie_and_skip_and_list_the_unassessed_apart() {
    let c = county().consolidate();
    assert_eq!(
        c.rankings
            .iter()
            .map(|r| r.category.as_str())
            .collect::<Vec<_>>(),
        ["township", "government_department", "stationed_unit"],
        "the three ranked categories, manifest order"
    );
    // 101.00, 98.00, 97.00, 95.25, 95.25, 77.00 → 1, 2, 3, 4, 4, 6.
    let towns = c.ranking("township").unwrap();
    assert_eq!(
        order(towns),
        [
            (1, "T1"),
            (2, "T2"),
            (3, "T3"),
            (4, "T4"),
            (4, "T5"),
            (6, "T6")
        ]
    );
    assert_eq!(
        towns.entries.iter().map(|e| e.tied).collect::<Vec<_>>(),
        [false, false, false, true, true, false]
    );
    // 99.00, 97.00, 97.00, 91.00, 89.67 → 1, 2, 2, 4, 5; D2 before D3 by id only.
    let depts = c.ranking("government_department").unwrap();
    assert_eq!(
        order(depts),
        [(1, "D1"), (2, "D2"), (2, "D3"), (4, "D4"), (5, "D5")]
    );
    assert_eq!(depts.not_assessed, ["D6"]);
    assert_eq!(depts.excused, ["D7"]);
    // 101.00, 97.00, 89.00, 82.00.
    let stationed = c.ranking("stationed_unit").unwrap();
    assert_eq!(
        order(stationed),
        [(1, "S1"), (2, "S4"), (3, "S5"), (4, "S2")]
    );
    assert_eq!(stationed.not_assessed, ["S3"]);
    // The place is also on the sheet; graded-only categories have none.
    assert_eq!(
        scored(&c, "T5").rank,
        Some(Place {
            rank: 4,
            of: 6,
            tied: true
        })
    );
    assert_eq!(
        scored(&c, "D5").rank,
        Some(Place {
            rank: 5,
            of: 5,
            tied: false
        })
    );
    assert_eq!(scored(&c, "P1").rank, None);
}

#[test]
fn a_unit_missing_satisfaction_is_not_assessed_and_says_exactly_that() {
    let c = county().consolidate();
    let g = gaps(&c, "D6");
    assert_eq!(
        g,
        [Gap {
            what: GapKind::MissingReport {
                method_id: "satisfaction".into(),
                round: Round::Annual
            },
            message: "满意度调查（satisfaction）年度结果未报送（report missing）".into(),
        }]
    );
    assert!(
        !c.ranking("government_department")
            .unwrap()
            .entries
            .iter()
            .any(|e| e.unit_id == "D6")
    );
}

#[test]
fn a_missing_quarter_is_a_gap_not_a_mean_of_three() {
    // S3 sent Q1, Q2 and Q4 of the daily evaluation but not Q3: without a
    // recorded excusal that is missing data, not a three-quarter mean.
    let c = county().consolidate();
    assert_eq!(
        gaps(&c, "S3"),
        [Gap {
            what: GapKind::MissingReport {
                method_id: "daily".into(),
                round: Round::Q3
            },
            message: "日常评价（daily）第三季度结果未报送（report missing）".into(),
        }]
    );
    assert_eq!(
        gaps(&c, "V2").iter().map(|g| &g.what).collect::<Vec<_>>(),
        [&GapKind::MissingReport {
            method_id: "field_inspection".into(),
            round: Round::Annual
        }]
    );
}

#[test]
fn an_excused_quarter_is_left_out_of_the_mean() {
    // D5: L1 over Q2..Q4 = (3 + 4 + 4) / 3 = 3.666… → 3.67; C3 stays 4.
    let c = county().consolidate();
    let s = scored(&c, "D5");
    let ind = |id: &str| {
        s.indicators
            .iter()
            .find(|i| i.indicator_id == id)
            .map(|i| i.score)
    };
    assert_eq!(ind("L1"), Some(367));
    assert_eq!(ind("C3"), Some(400));
    assert_eq!(
        s.notes,
        ["日常评价第一季度经决定免报（2022年4月新组建，第一季度未设立），年度得分按其余季度合并"]
    );
}

#[test]
fn an_excused_unit_is_listed_apart_and_expects_nothing() {
    let c = county().consolidate();
    assert_eq!(
        c.unit("D7").unwrap().assessment,
        Assessment::Excused {
            reason: "2022年6月机构改革并入县委办公室".into()
        }
    );
    assert_eq!(c.completeness.excused_units, ["D7"]);
    assert!(!c.completeness.missing.iter().any(|m| m.unit_id == "D7"));
}

#[test]
fn the_recorded_penalty_cap_override_is_applied_and_shown() {
    // T6: P1 8 + P2 5 = 13 penalty points; the recorded cap is 12.
    let g = county();
    let c = g.consolidate();
    let s = scored(&c, "T6");
    assert_eq!((s.penalty, s.total), (1200, 7700));
    assert_eq!(s.penalty_cap_override.as_ref().map(|o| o.cap), Some(1200));
    assert!(
        s.notes[0].starts_with("减分上限经记录的决定调整为 12 分（原则上 10 分）："),
        "{:?}",
        s.notes
    );
    // Without the decision the cap is the rubric's 10: 89 − 10 = 79.00.
    let mut decisions = g.decisions.clone();
    decisions.penalty_cap_overrides.clear();
    let input = ConsolidationInput {
        decisions: &decisions,
        ..g.input()
    };
    let c = consolidate(&input, g.finaliser()).unwrap();
    let s = scored(&c, "T6");
    assert_eq!(
        (s.penalty, s.total, s.penalty_cap_override.is_none()),
        (1000, 7900, true)
    );
}

#[test]
fn fired_clauses_and_indicator_values_are_on_the_sheet() {
    let c = county().consolidate();
    let t2 = scored(&c, "T2");
    assert_eq!(
        t2.fired,
        [FiredClause {
            round: Round::Q2,
            indicator_id: "L1".into(),
            clause_id: "L1a".into(),
            amount: 200,
            reason: "本季度党组（党委）理论学习中心组未开展习近平法治思想专题学习，扣2分".into(),
        }]
    );
    assert_eq!(
        t2.indicators
            .iter()
            .find(|i| i.indicator_id == "L1")
            .map(|i| i.score),
        Some(350)
    );
    // T1: N2_1a comes before B1a in the rubric.
    let t1: Vec<_> = scored(&c, "T1")
        .fired
        .iter()
        .map(|f| (f.clause_id.as_str(), f.amount))
        .collect();
    assert_eq!(t1, [("N2_1a", 200), ("B1a", 300)]);
    // Villages have L, N4, S and B: 3 + 3 + 1 + 6 indicators.
    assert_eq!(scored(&c, "V1").indicators.len(), 13);
}

#[test]
fn completeness_says_who_has_not_reported_what_and_who_was_late() {
    let c = county().consolidate();
    let k = &c.completeness;
    // 26 units, D7 excused: 25 × 10 reports (4 daily quarters + 6 annual
    // methods, the same count for every category of this rubric) = 250; D5's
    // Q1 daily excused → 249 expected; D6, S3, V2 each miss one → 246.
    assert_eq!((k.expected, k.received, k.excused_reports), (249, 246, 1));
    let missing: Vec<_> = k
        .missing
        .iter()
        .map(|m| {
            (
                m.unit_id.as_str(),
                m.method_id.as_str(),
                m.round,
                m.assessor.as_str(),
            )
        })
        .collect();
    assert_eq!(
        missing,
        [
            ("D6", "satisfaction", Round::Annual, "county_office"),
            ("S3", "daily", Round::Q3, "county_office"),
            ("V2", "field_inspection", Round::Annual, "T2"),
        ]
    );
    let late: Vec<_> = k
        .late
        .iter()
        .map(|l| {
            (
                l.unit_id.as_str(),
                l.method_id.as_str(),
                l.round,
                l.node_id.as_str(),
            )
        })
        .collect();
    assert_eq!(
        late,
        [
            ("S4", "satisfaction", Round::Annual, "stats_bureau"),
            ("T3", "daily", Round::Q4, "county_office")
        ]
    );
    // Late is shown, never dropped: T3 is assessed and its unit lists the report.
    assert_eq!(
        c.unit("T3").unwrap().late_reports,
        [ReportKey {
            method_id: "daily".into(),
            round: Round::Q4
        }]
    );
    assert_eq!(scored(&c, "T3").total, 9700);
}

#[test]
fn quarterly_leaderboards_rank_the_daily_evaluation() {
    let c = county().consolidate();
    // 4 quarters × 3 ranked categories.
    assert_eq!(c.leaderboards.len(), 12);
    let board = |q: Round, cat: &str| {
        c.leaderboards
            .iter()
            .find(|b| b.round == q && b.category == cat)
            .unwrap_or_else(|| panic!("{q:?} {cat}"))
    };
    let entries = |b: &rank::QuarterBoard| {
        b.entries
            .iter()
            .map(|e| (e.rank, e.unit_id.clone(), e.points))
            .collect::<Vec<_>>()
    };
    // L1 + C3, 8 points. Q1: T5 has C3 0.5 → 4.50; the other five 8.00, tied first.
    let q1 = board(Round::Q1, "township");
    assert_eq!(q1.max_points, 800);
    assert_eq!(
        entries(q1),
        [
            (1, "T1".into(), 800),
            (1, "T2".into(), 800),
            (1, "T3".into(), 800),
            (1, "T4".into(), 800),
            (1, "T6".into(), 800),
            (6, "T5".into(), 450),
        ]
    );
    // Q2: T2's L1 is 2 → 6.00, last.
    assert_eq!(
        entries(board(Round::Q2, "township")).last(),
        Some(&(6, "T2".into(), 600))
    );
    // Q1 departments: D5 excused for Q1, D7 excused; D6 did report its dailies.
    let d1 = board(Round::Q1, "government_department");
    assert_eq!(d1.excused, ["D5", "D7"]);
    assert_eq!(d1.entries.len(), 5);
    assert!(d1.entries.iter().all(|e| e.rank == 1 && e.points == 800));
    // Q2 departments: D5's L1 is 3 → 7.00, sixth of six.
    assert_eq!(
        entries(board(Round::Q2, "government_department")).last(),
        Some(&(6, "D5".into(), 700))
    );
    // Q3 stationed: S3 did not report.
    let s3 = board(Round::Q3, "stationed_unit");
    assert_eq!(s3.not_reported, ["S3"]);
    assert_eq!(s3.entries.len(), 4);
}

#[test]
fn tier_view_counts_each_subordinate_system() {
    let c = county().consolidate();
    assert_eq!(
        c.tiers
            .iter()
            .map(|t| t.parent_id.as_str())
            .collect::<Vec<_>>(),
        ["D2", "T2"]
    );
    let counts = |t: &Tier| {
        t.grades
            .iter()
            .map(|g| (g.grade.clone(), g.count))
            .collect::<Vec<_>>()
    };
    // 闹店镇: V1 90.00 优秀, V2 not assessed.
    let t2 = c.tier("T2").unwrap();
    assert_eq!(t2.parent_name, "闹店镇");
    assert_eq!(t2.units, ["V1", "V2"]);
    assert_eq!(
        (t2.total, t2.assessed, t2.not_assessed, t2.excused),
        (2, 1, 1, 0)
    );
    assert_eq!(
        counts(t2),
        [
            ("excellent".into(), 1),
            ("good".into(), 0),
            ("pass".into(), 0),
            ("fail".into(), 0)
        ]
    );
    // 卫健委: the hospital, 91.18 优秀.
    let d2 = c.tier("D2").unwrap();
    assert_eq!(
        (d2.units.as_slice(), d2.total, d2.assessed),
        (&["H1".to_owned()][..], 1, 1)
    );
    assert_eq!(
        counts(d2),
        [
            ("excellent".into(), 1),
            ("good".into(), 0),
            ("pass".into(), 0),
            ("fail".into(), 0)
        ]
    );
}

#[test]
fn the_same_inputs_give_the_same_bytes_in_any_order() {
    let g = county();
    let first = g.consolidate().to_json();
    assert_eq!(first, g.consolidate().to_json());
    // The results in reverse order (as another query might return them).
    let mut reversed = g.results.clone();
    reversed.reverse();
    let input = ConsolidationInput {
        results: &reversed,
        ..g.input()
    };
    assert_eq!(first, consolidate(&input, g.finaliser()).unwrap().to_json());
    // And the JSON reads back to the same value.
    let back: Consolidation = serde_json::from_slice(&first).unwrap();
    assert_eq!(back, g.consolidate());
}

#[test]
fn two_nodes_reporting_the_same_method_and_round_is_not_assessed() {
    let g = county();
    let mut results = g.results.clone();
    let mut twice = results
        .iter()
        .find(|r| r.unit_id == "T1" && r.method_id == "daily" && r.round == Round::Q1)
        .unwrap()
        .clone();
    twice.node_id = "T1-self".into();
    results.push(twice);
    let input = ConsolidationInput {
        results: &results,
        ..g.input()
    };
    let c = consolidate(&input, g.finaliser()).unwrap();
    assert_eq!(
        gaps(&c, "T1")
            .iter()
            .map(|g| g.message.as_str())
            .collect::<Vec<_>>(),
        [
            "日常评价（daily）第一季度结果由 2 个节点重复上报（T1-self、county_office），须裁定采用哪一份（reported twice）"
        ]
    );
    // T1 leaves the ranking: 98.00 is now first of five.
    assert_eq!(
        order(c.ranking("township").unwrap()),
        [(1, "T2"), (2, "T3"), (3, "T4"), (3, "T5"), (5, "T6")]
    );
    // …and the Q1 board, where it is not counted either.
    let q1 = c
        .leaderboards
        .iter()
        .find(|b| b.round == Round::Q1 && b.category == "township")
        .unwrap();
    assert_eq!(q1.not_reported, ["T1"]);
}

#[test]
fn results_and_decisions_that_fit_nothing_are_problems_not_scores() {
    let g = county();
    let mut results = g.results.clone();
    let mut stray = results[0].clone();
    stray.unit_id = "X9".into();
    results.push(stray);
    let mut unknown = results
        .iter()
        .find(|r| r.unit_id == "R1" && r.method_id == "satisfaction")
        .unwrap()
        .clone();
    unknown.scores.insert("Z9".into(), 100);
    results.retain(|r| !(r.unit_id == "R1" && r.method_id == "satisfaction"));
    results.push(unknown);
    // A daily result in the annual round: daily is quarterly, so it is not
    // a report anyone expects.
    let mut off_round = results
        .iter()
        .find(|r| r.unit_id == "T1" && r.method_id == "daily")
        .unwrap()
        .clone();
    off_round.round = Round::Annual;
    off_round.clauses.insert("L1a".into(), 200);
    results.push(off_round);
    // A late report from an excused unit.
    let mut excused = results.iter().find(|r| r.unit_id == "D1").unwrap().clone();
    excused.unit_id = "D7".into();
    excused.late = true;
    results.push(excused);
    let mut decisions = g.decisions.clone();
    decisions.excusals.push(Excusal {
        unit_id: "T1".into(),
        scope: ExcusalScope::Quarter {
            method_id: "satisfaction".into(),
            round: Round::Q2,
        },
        reason: "误录".into(),
    });
    let input = ConsolidationInput {
        results: &results,
        decisions: &decisions,
        ..g.input()
    };
    let c = consolidate(&input, g.finaliser()).unwrap();
    assert_eq!(c.units.len(), 26, "the stray result adds no unit");
    assert!(
        c.problems
            .iter()
            .any(|p| p.starts_with("单位 X9 不在 2022 年度名册中")),
        "{:?}",
        c.problems
    );
    assert!(
        c.problems
            .iter()
            .any(|p| p.starts_with("单位 T1 的免报决定（满意度调查（satisfaction）第二季度）"))
    );
    assert!(c.problems.iter().any(|p| {
        p.starts_with("单位 T1（杨庄镇）的日常评价（daily）年度结果不是本类别应报的结果")
    }));
    assert!(
        c.problems
            .iter()
            .any(|p| p.starts_with("单位 D7（县档案局）已免于考核，其 1 份上报结果未计入"))
    );
    assert!(
        c.completeness.late.iter().all(|l| l.unit_id != "D7"),
        "not counted, so not late either"
    );
    let t1 = scored(&c, "T1");
    assert_eq!(
        t1.total, 10100,
        "neither the stray report nor the bad excusal changes T1"
    );
    assert_eq!(
        t1.fired
            .iter()
            .map(|f| f.clause_id.as_str())
            .collect::<Vec<_>>(),
        ["N2_1a", "B1a"],
        "the uncounted report's clause is not on the sheet"
    );
    assert_eq!(
        gaps(&c, "R1").iter().map(|g| &g.what).collect::<Vec<_>>(),
        [&GapKind::UnknownScore {
            method_id: "satisfaction".into(),
            round: Round::Annual,
            id: "Z9".into()
        }]
    );
}

#[test]
fn an_excellent_quota_caps_and_never_splits_a_tie() {
    // With a 50 % quota (hub policy, rank.rs):
    // townships 6 → at most 3: T1, T2, T3 keep 优秀; T4 = T5 (95.25) would
    //   make 5 → both 良好.
    // departments 5 → ⌊2.5⌋ = 2: D1 keeps it; D2 = D3 would make 3 → both
    //   良好, and D4 (91.00) below them too — a lower total never keeps what
    //   a higher one lost. D5 was 良好 already.
    // stationed 4 → 2: S1, S4 keep it; S5, S2 were 良好.
    // Graded-only categories have no quota: P1 stays 优秀.
    let g = county();
    let mut manifest = g.manifest().clone();
    manifest.composition.excellent_quota = 50;
    let input = ConsolidationInput {
        manifest: &manifest,
        ..g.input()
    };
    let c = consolidate(&input, g.finaliser()).unwrap();
    let grade = |id: &str| scored(&c, id).grade.clone();
    for (id, want) in [
        ("T1", "excellent"),
        ("T2", "excellent"),
        ("T3", "excellent"),
        ("T4", "good"),
        ("T5", "good"),
        ("T6", "pass"),
        ("D1", "excellent"),
        ("D2", "good"),
        ("D3", "good"),
        ("D4", "good"),
        ("D5", "good"),
        ("S1", "excellent"),
        ("S4", "excellent"),
        ("S5", "good"),
        ("S2", "good"),
        ("P1", "excellent"),
    ] {
        assert_eq!(grade(id), want, "{id}");
    }
    assert_eq!(
        scored(&c, "T4").notes,
        [
            "优秀等次比例上限：本类别 6 个参评单位中至多 3 个评为优秀，按排名（并列者同进退）调整为良好"
        ]
    );
    assert!(
        !scored(&c, "D5")
            .notes
            .iter()
            .any(|n| n.starts_with("优秀等次比例上限")),
        "D5 was 良好 by its score, not by the quota"
    );
    // Ranks do not change, and the ranking shows the final grade.
    let towns = c.ranking("township").unwrap();
    assert_eq!(towns.entries[3].grade, "good");
    assert_eq!(
        order(towns),
        [
            (1, "T1"),
            (2, "T2"),
            (3, "T3"),
            (4, "T4"),
            (4, "T5"),
            (6, "T6")
        ]
    );
}

#[test]
fn a_failing_or_short_finaliser_fails_the_whole_consolidation() {
    let g = county();
    let err = consolidate(&g.input(), |_| {
        Err::<Vec<FinaliseOutput>, _>("fuel exhausted")
    })
    .unwrap_err();
    assert_eq!(err, ConsolidateError::Finalise("fuel exhausted".into()));
    let err = consolidate(&g.input(), |units| {
        let mut out = g.interp.finalise(units);
        out.pop();
        Ok::<_, std::convert::Infallible>(out)
    })
    .unwrap_err();
    // 22 assessed units were sent (see golden_sheets_match_the_hand_computation).
    assert_eq!(
        err,
        ConsolidateError::OutputCount {
            expected: 22,
            got: 21
        }
    );
}

#[test]
fn the_compiled_pack_consolidates_to_the_same_bytes_as_the_interpreter() {
    use kaohe_rulepacks::runtime::{Runtime, RuntimeConfig};
    let g: Golden = county();
    let wasm = kaohe_rulepacks::compile::compile(&g.rubric).expect("the rubric compiles to wasm");
    let runtime = Runtime::new(RuntimeConfig {
        max_concurrent_instances: 2,
        ..RuntimeConfig::default()
    })
    .unwrap();
    let pack = kaohe_rulepacks::pack::Pack::load_as_found(&runtime, &wasm).unwrap();
    assert_eq!(pack.manifest(), g.manifest());
    let with_pack = consolidate(&g.input(), |units| pack.finalise(units)).unwrap();
    assert_eq!(with_pack.to_json(), g.consolidate().to_json());
}

/// Issue #13 §2: an item the assessor marked not applicable leaves the
/// unit's applicable points and the sheet is converted over the rest; the
/// reason is on the result. A formula that lost points says why.
#[test]
fn an_item_marked_not_applicable_is_converted_over_the_rest_and_every_loss_has_a_reason() {
    let mut g = county();
    for r in &mut g.results {
        if r.unit_id == "D1" && r.method_id == "field_inspection" {
            assert_eq!(r.scores.remove("N2_5"), Some(500));
            r.not_applicable
                .insert("N2_5".into(), "本局不承担行政执法职能".into());
        }
        if r.unit_id == "D1" && r.method_id == "satisfaction" {
            r.evidence = Some([("sat_rate".to_owned(), 9500)].into());
        }
    }
    let c = g.consolidate();
    let d1 = scored(&c, "D1");
    // applicable 100 − 5 = 95; raw 99 − 5 = 94;
    // converted round(9400 × 10000 / 9500) = round(9894.73…) = 9895.
    assert_eq!(
        (d1.applicable, d1.raw, d1.converted, d1.total),
        (9500, 9400, 9895, 9895)
    );
    assert_eq!(
        d1.not_applicable,
        [NotApplicable {
            indicator_id: "N2_5".into(),
            name: "深入推进服务型行政执法建设".into(),
            points: 500,
            reason: "本局不承担行政执法职能".into(),
        }]
    );
    assert!(
        d1.notes
            .iter()
            .any(|n| n
                == "指标 N2_5（深入推进服务型行政执法建设，5 分）不适用：本局不承担行政执法职能"),
        "{:?}",
        d1.notes
    );
    assert!(d1.notes.iter().any(|n| n.contains("应考分值 95 分")));
    let reason = |s: &Scored, id: &str| {
        s.indicators
            .iter()
            .find(|i| i.indicator_id == id)
            .and_then(|i| i.reason.clone())
    };
    // S1 from its evidence, as the rubric words it.
    assert_eq!(
        reason(d1, "S1").as_deref(),
        Some("满意率 95.00%，按“10 −（100 − 满意率）× 0.2”计得 9.00 分，失 1.00 分")
    );
    // A result kept without its evidence: the formula and the numbers.
    assert_eq!(
        reason(scored(&c, "S4"), "S1").as_deref(),
        Some("按评分公式“10 - (100 - sat_rate) * 0.2”计得 7.00 分，失 3.00 分")
    );
    // Deductions explain themselves through their fired clauses; full
    // marks need no reason.
    assert_eq!(reason(scored(&c, "T2"), "L1"), None);
    assert_eq!(reason(scored(&c, "D2"), "S1"), None);
    // The other units are unchanged and carry no marks.
    assert!(scored(&c, "D2").not_applicable.is_empty());
}
