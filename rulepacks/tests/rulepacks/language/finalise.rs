//! Finalise in the reference interpreter: per-category points, grade
//! bands and their edges, caps and overrides, normalisation, missing
//! indicators.

use super::*;

/// A town sheet with every indicator present: N2 carries `n2`, B1 `b`,
/// P1 `p`, F1 `serious`.
fn town(n2: i64, b: i64, p: i64, serious: bool, cap: Option<i64>) -> FinaliseInput {
    FinaliseInput {
        category: 0,
        penalty_cap_override: cap,
        scores: vec![
            Some(1000),
            Some(2000),
            Some(4000),
            Some(n2),
            Some(b),
            Some(p),
            Some(if serious { 100 } else { 0 }),
            Some(0),
        ],
        not_applicable: Vec::new(),
    }
}

fn run(u: FinaliseInput) -> abi::FinaliseOutput {
    Interpreter::new(&mini()).finalise(&[u])[0]
}

fn grade(u: FinaliseInput) -> String {
    let r = mini();
    let out = Interpreter::new(&r).finalise(&[u])[0];
    assert_eq!(out.status, UnitStatus::Ok);
    r.manifest.composition.grades[out.sheet.grade as usize]
        .id
        .clone()
}

#[test]
fn grade_band_edges() {
    // raw = 70 + n2
    assert_eq!(grade(town(2000, 0, 0, false, None)), "excellent"); // 90.00
    assert_eq!(grade(town(1999, 0, 0, false, None)), "good"); // 89.99
    assert_eq!(grade(town(1000, 0, 0, false, None)), "good"); // 80.00
    assert_eq!(grade(town(999, 0, 0, false, None)), "pass"); // 79.99
    assert_eq!(grade(town(0, 0, 1000, false, None)), "pass"); // 70 − 10 = 60.00
    assert_eq!(grade(town(0, 0, 1001, false, None)), "pass"); // capped at 10 → 60.00
    assert_eq!(grade(town(0, 0, 1001, false, Some(1001))), "fail"); // 59.99
}

#[test]
fn caps_and_override() {
    let s = run(town(3000, 500, 1500, false, None)).sheet;
    assert_eq!((s.bonus, s.penalty, s.total), (500, 1000, 9500));
    let s = run(town(3000, 500, 1500, false, Some(1200))).sheet;
    assert_eq!((s.penalty, s.total), (1200, 9300));
    let s = run(town(3000, 500, 1500, false, Some(0))).sheet;
    assert_eq!((s.penalty, s.total), (0, 10500));
    assert_eq!(
        run(town(3000, 0, 0, false, Some(-1))).status,
        UnitStatus::InvalidInput(0)
    );
}

#[test]
fn serious_case_bars_excellent_only() {
    let s = run(town(3000, 0, 0, true, None)).sheet;
    assert_eq!((s.total, s.grade, s.serious_case), (10000, 1, true));
    let s = run(town(1000, 0, 0, true, None)).sheet;
    assert_eq!((s.total, s.grade), (8000, 1), "good stays good");
    let s = run(town(0, 0, 1000, true, None)).sheet;
    assert_eq!(s.grade, 2, "pass stays pass");
}

#[test]
fn normalisation_rounds_half_up() {
    let r = mini();
    let i = Interpreter::new(&r);
    let dept = |l1: i64, l2: i64| FinaliseInput {
        category: 1,
        penalty_cap_override: None,
        scores: vec![
            Some(l1),
            Some(l2),
            None,
            None,
            Some(0),
            Some(0),
            Some(0),
            Some(0),
        ],
        not_applicable: Vec::new(),
    };
    // 833 × 10000 / 4000 = 2082.5 → 2083; 1 × 10000 / 4000 = 2.5 → 3
    let out = i.finalise(&[dept(833, 0), dept(1, 0), dept(1000, 3000)]);
    assert_eq!(
        (out[0].sheet.applicable, out[0].sheet.converted),
        (4000, 2083)
    );
    assert_eq!(out[1].sheet.converted, 3);
    assert_eq!(out[2].sheet.converted, 10000);
}

#[test]
fn missing_and_inapplicable_indicators() {
    let mut u = town(3000, 0, 0, false, None);
    u.scores[3] = None;
    assert_eq!(run(u).status, UnitStatus::MissingIndicator(3));
    let u = FinaliseInput {
        category: 1,
        penalty_cap_override: None,
        scores: vec![
            Some(1000),
            Some(3000),
            Some(0),
            None,
            Some(0),
            Some(0),
            Some(0),
            Some(0),
        ],
        not_applicable: Vec::new(),
    };
    assert_eq!(run(u).status, UnitStatus::InvalidInput(2));
    let mut u = town(3000, 0, 0, false, None);
    u.scores[3] = Some(3001);
    assert_eq!(run(u).status, UnitStatus::InvalidInput(3));
    let mut u = town(3000, 0, 0, false, None);
    u.scores[6] = Some(50);
    assert_eq!(run(u).status, UnitStatus::InvalidInput(6));
}

#[test]
fn total_below_every_band_is_the_lowest() {
    let r = mini();
    let u = FinaliseInput {
        category: 1,
        penalty_cap_override: Some(10_000),
        scores: vec![
            Some(100),
            Some(0),
            None,
            None,
            Some(0),
            Some(1500),
            Some(0),
            Some(0),
        ],
        not_applicable: Vec::new(),
    };
    let s = Interpreter::new(&r).finalise(&[u])[0].sheet;
    assert_eq!(
        (s.converted, s.penalty, s.total, s.grade),
        (250, 1500, -1250, 3)
    );
}
