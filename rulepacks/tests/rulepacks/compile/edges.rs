//! Arithmetic at the edges: every operator on a grid of i64 edge values,
//! and points so large that normalisation needs 128 bits.

use super::*;

/// One bonus indicator per operator, each in its own method with fields
/// `x{k}`, `y{k}` (unbounded decimals): awards report `max(r, 0)` and
/// `max(0 − r, 0)` of the result `r`, so every value is visible.
fn edge_rubric() -> CheckedRubric {
    let ops = [
        "x * y",
        "x / y",
        "x + y",
        "x - y",
        "-x",
        "min(x, y)",
        "clamp(x, y, 0)",
        "x * 0.5",
        "x / 3",
        "x / -3",
        "x * -1",
        "x - 1",
        "x + -1",
        "x * 92233720368547758.07",
        "x / 0",
    ];
    let mut s = String::from(
        r#"
[pack]
id = "edges"
year = 2022
version = 1
title = "边界"
issuer = "测试"
[[group]]
id = "G"
name = "组"
[[category]]
id = "c"
no = 1
name = "类"
groups = ["G"]
ranked = false
assessor = "county_office"
"#,
    );
    for (k, op) in ops.iter().enumerate() {
        let f = op
            .replace('x', &format!("x{k}"))
            .replace('y', &format!("y{k}"));
        s.push_str(&format!(
            r#"
[[method]]
id = "m{k}"
name = "方式{k}"
[[field]]
id = "x{k}"
label = "x"
type = "decimal"
method = "m{k}"
missing = "refuse"
[[field]]
id = "y{k}"
label = "y"
type = "decimal"
method = "m{k}"
missing = "refuse"
[[indicator]]
id = "B{k}"
group = "G"
name = "运算{k}"
kind = "bonus"
points = 1
method = "m{k}"
  [[indicator.award]]
  id = "P{k}"
  when = "x{k} == x{k}"
  amount = "{f}"
  reason = "正"
  [[indicator.award]]
  id = "N{k}"
  when = "true"
  amount = "0 - ({f})"
  reason = "负"
"#
        ));
    }
    s.push_str(
        r#"
[[indicator]]
id = "S"
group = "G"
name = "计分"
points = 100
method = "m0"
score = "100"
[composition]
full_marks = 100
normalise = true
bonus_cap = 5
penalty_cap = 10
serious_case_bars = "excellent"
  [[composition.grade]]
  id = "excellent"
  name = "优秀"
  min = 90
  [[composition.grade]]
  id = "fail"
  name = "不合格"
  min = 0
[schedule]
verification_days = 5
review_request_days = 5
review_request_runs = "after"
review_decision_days = 10
round_deadline = { Q1 = "04-15", Q2 = "07-15", Q3 = "10-15", Q4 = "01-15", annual = "01-31" }
[outcomes]
warn_bottom = 3
big_regression_points = 10
commend_consecutive_excellent = 2
recommend_township_consecutive_excellent = 2
copy_list = []
"#,
    );
    compile_src(&s)
}

#[test]
fn every_operator_agrees_on_a_grid_of_i64_edges() {
    let r = edge_rubric();
    let pack = Pack::new(&r);
    let m = &pack.manifest;
    let nf = m.fields.len();
    let nops = m.methods.len();
    let mut units = Vec::new();
    for k in 0..nops {
        for &x in &EDGES {
            for &y in &EDGES {
                let mut fields = vec![(0i64, 0i64); nf];
                fields[2 * k] = (1, x);
                fields[2 * k + 1] = (1, y);
                units.push(RawUnit {
                    category: 0,
                    round: 0,
                    methods: 1 << k,
                    reserved: 0,
                    fields,
                    marks: Vec::new(),
                });
            }
        }
    }
    assert_eq!(units.len(), nops * EDGES.len() * EDGES.len());
    pack.check_evaluate(&units)
        .unwrap_or_else(|e| panic!("{e}"));
    // Every outcome occurs on the grid: ok, division by zero, overflow.
    let outs = pack
        .interp
        .evaluate_bytes(&encode_units(m, &units))
        .expect("runs");
    let codes: std::collections::BTreeSet<u32> =
        statuses(m, units.len(), &outs).into_iter().collect();
    assert_eq!(
        codes,
        [0, 2, 3].into_iter().collect(),
        "statuses on the grid"
    );
}

/// Points so large that `raw × full_marks` needs 128 bits, caps large
/// enough for `total` to leave i64.
fn huge_rubric() -> CheckedRubric {
    compile_src(
        r#"
[pack]
id = "huge"
year = 2022
version = 1
title = "巨大"
issuer = "测试"
[[group]]
id = "G"
name = "组"
[[group]]
id = "B"
name = "加减"
[[category]]
id = "c"
no = 1
name = "类"
groups = ["G", "B"]
ranked = false
assessor = "county_office"
[[category]]
id = "d"
no = 2
name = "类2"
groups = ["G"]
ranked = false
assessor = "county_office"
[[method]]
id = "m"
name = "方式"
[[field]]
id = "x"
label = "x"
type = "decimal"
method = "m"
default = 0
[[indicator]]
id = "S1"
group = "G"
name = "一"
points = { default = 30000000000000000, d = 3 }
method = "m"
score = "x"
[[indicator]]
id = "S2"
group = "G"
name = "二"
points = 20000000000000000.16
method = "m"
score = "x"
[[indicator]]
id = "BB"
group = "B"
name = "加"
kind = "bonus"
points = 92233720368547758
method = "m"
  [[indicator.award]]
  id = "BBa"
  when = "x > 0"
  reason = "加"
[[indicator]]
id = "PP"
group = "B"
name = "减"
kind = "penalty"
points = 92233720368547758
method = "m"
  [[indicator.award]]
  id = "PPa"
  when = "x > 0"
  reason = "减"
[[indicator]]
id = "PQ"
group = "B"
name = "减2"
kind = "penalty"
points = 92233720368547758
method = "m"
  [[indicator.award]]
  id = "PQa"
  when = "x > 0"
  reason = "减"
[[indicator]]
id = "F"
group = "G"
name = "严重"
kind = "flag"
method = "m"
when = "x > 0"
flag = "serious_case"
[composition]
full_marks = 92233720368547758
normalise = true
bonus_cap = 92233720368547758
penalty_cap = 50000000000000000
serious_case_bars = "good"
  [[composition.grade]]
  id = "excellent"
  name = "优秀"
  min = 90000000000000000
  [[composition.grade]]
  id = "good"
  name = "良好"
  min = 60000000000000000
  [[composition.grade]]
  id = "pass"
  name = "合格"
  min = 10000000000000000
  [[composition.grade]]
  id = "fail"
  name = "不合格"
  min = 0
[schedule]
verification_days = 5
review_request_days = 5
review_request_runs = "after"
review_decision_days = 10
round_deadline = { Q1 = "04-15", Q2 = "07-15", Q3 = "10-15", Q4 = "01-15", annual = "01-31" }
[outcomes]
warn_bottom = 3
big_regression_points = 10
commend_consecutive_excellent = 2
recommend_township_consecutive_excellent = 2
copy_list = []
"#,
    )
}

/// A raw score `r ≤ a` with `r·full ≡ a/2 (mod a)`: the conversion's
/// exact half-way case.
fn half_way_raw(full: i64, a: i64) -> Option<i64> {
    fn egcd(x: i128, y: i128) -> (i128, i128, i128) {
        if y == 0 {
            (x, 1, 0)
        } else {
            let (g, s, t) = egcd(y, x % y);
            (g, t, s - (x / y) * t)
        }
    }
    let (full, a) = (i128::from(full), i128::from(a));
    let (g, inv, _) = egcd(full, a);
    if a % 2 != 0 || (a / 2) % g != 0 {
        return None;
    }
    let m = a / g;
    let r = ((a / 2 / g) % m * (inv.rem_euclid(m))).rem_euclid(m);
    debug_assert_eq!((r * full) % a, a / 2);
    i64::try_from(r).ok()
}

#[test]
fn huge_points_normalise_exactly_and_overflow_is_status_3() {
    let r = huge_rubric();
    let pack = Pack::new(&r);
    let mut runner = TestRunner::new(config(200));
    runner
        .run(
            &proptest::collection::vec(finalise_strategy(&pack.manifest), 1..24),
            |units| pack.check_finalise(&units).map_err(TestCaseError::fail),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    // Pinned: both 128-bit conversion and the total overflow happen.
    let m = &pack.manifest;
    let sheet = |c: u32, score: &dyn Fn(usize, i64) -> i64, cap: Option<i64>| {
        RawFinalise::from(&FinaliseInput {
            category: c,
            penalty_cap_override: cap,
            scores: (0..m.indicators.len())
                .map(|i| m.points(i, c as usize).map(|p| score(i, p)))
                .collect(),
            not_applicable: Vec::new(),
        })
    };
    let flag = |i: usize| m.indicators[i].kind == IndicatorKind::Flag;
    let half = half_way_raw(m.composition.full_marks, m.applicable_points(0))
        .expect("a half-way raw score exists");
    assert!(half <= m.points(0, 0).expect("S1 applies"));
    let cases = [
        // raw = applicable: converted = full marks; + a bonus leaves i64.
        sheet(
            0,
            &|i, p| {
                if flag(i) {
                    0
                } else if i < 2 {
                    p
                } else if i == 2 {
                    100
                } else {
                    0
                }
            },
            None,
        ),
        // the same with a penalty that brings the total back.
        sheet(
            0,
            &|i, p| {
                if flag(i) {
                    0
                } else if i < 3 {
                    p
                } else {
                    p / 3
                }
            },
            Some(i64::MAX),
        ),
        sheet(0, &|i, p| if flag(i) { 100 } else { p / 7 }, None),
        sheet(1, &|i, p| if flag(i) { 100 } else { p / 3 }, None),
        // both penalties at their points: their sum saturates.
        sheet(0, &|i, p| if flag(i) { 0 } else { p }, Some(i64::MAX)),
        // raw·full_marks exactly half-way between two multiples of
        // applicable: rounds up.
        sheet(0, &|i, _| if i == 0 { half } else { 0 }, None),
    ];
    pack.check_finalise(&cases)
        .unwrap_or_else(|e| panic!("{e}"));
    let out = pack
        .interp
        .finalise_bytes(&encode_finalise(m, &cases))
        .expect("runs");
    let codes: Vec<u32> = out
        .chunks(72)
        .map(|o| u32::from_le_bytes(o[0..4].try_into().unwrap()))
        .collect();
    assert!(codes.contains(&0) && codes.contains(&3), "{codes:?}");
}
