//! What formulas mean in the reference interpreter: rounding, division by
//! zero, overflow, functions, fuel, required fields and refused input.

use super::*;

/// A rubric with three decimal fields, a count, a choice and one flag
/// indicator whose `when` is the formula under test.
fn formula_rubric(when: &str, fuel: u64) -> CheckedRubric {
    let src = format!(
        r#"
[pack]
id = "f"
year = 2022
version = 1
title = "公式"
issuer = "测试"
[limits]
fuel_per_unit = {fuel}
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
[[method]]
id = "m"
name = "方式"
[[field]]
id = "a"
label = "a"
type = "decimal"
method = "m"
default = 0
[[field]]
id = "b"
label = "b"
type = "decimal"
method = "m"
default = 0
[[field]]
id = "n"
label = "n"
type = "count"
method = "m"
missing = "refuse"
[[field]]
id = "r"
label = "r"
type = "choice"
choices = ["好", "一般", "差"]
method = "m"
default = "好"
[[indicator]]
id = "S"
group = "G"
name = "计分"
points = 100
method = "m"
score = "n"
[[indicator]]
id = "T"
group = "G"
name = "公式"
kind = "flag"
method = "m"
when = '{when}'
flag = "major_problem"
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
round_deadline = {{ Q1 = "04-15", Q2 = "07-15", Q3 = "10-15", Q4 = "01-15", annual = "01-31" }}
[outcomes]
warn_bottom = 3
big_regression_points = 10
commend_consecutive_excellent = 2
recommend_township_consecutive_excellent = 2
copy_list = []
"#
    );
    rubric::compile("f.toml", &src).unwrap_or_else(|d| panic!("{}", d.render()))
}

/// Evaluates the formula with a, b (hundredths) and n = 1.
fn holds(when: &str, a: Option<i64>, b: Option<i64>) -> Result<bool, UnitStatus> {
    let r = formula_rubric(when, 1000);
    let out = Interpreter::new(&r).evaluate(&[UnitInput {
        category: 0,
        round: Round::Annual,
        methods: 1,
        values: vec![a, b, Some(100), None],
        not_applicable: Vec::new(),
    }]);
    match out[0].status {
        UnitStatus::Ok => Ok(out[0].indicators[1] == Some(100)),
        s => Err(s),
    }
}

#[test]
fn multiplication_and_division_round_half_away_from_zero() {
    let t = |f: &str, a: i64, b: i64| holds(f, Some(a), Some(b));
    assert_eq!(t("a * b == 1.25", 250, 50), Ok(true));
    assert_eq!(t("a * b == 0.03", 5, 50), Ok(true));
    assert_eq!(t("a * b == -0.03", -5, 50), Ok(true));
    assert_eq!(t("a * b == -0.02", -5, 50), Ok(false));
    assert_eq!(t("a / b == 0.33", 100, 300), Ok(true));
    assert_eq!(t("a / b == 0.67", 200, 300), Ok(true));
    assert_eq!(t("a / b == -0.67", -200, 300), Ok(true));
    assert_eq!(t("a / b == -0.13", -100, 800), Ok(true));
    assert_eq!(t("a / b == -0.12", -100, 800), Ok(false));
    assert_eq!(t("-a == 0 - a", 123, 0), Ok(true));
    assert_eq!(t("10 - 3 - 2 == 5", 0, 0), Ok(true));
}

#[test]
fn division_by_zero_names_the_indicator() {
    assert_eq!(
        holds("a / b > 1", Some(100), Some(0)),
        Err(UnitStatus::DivisionByZero(1))
    );
    // and/or evaluate both sides: the guard does not short-circuit.
    assert_eq!(
        holds("b != 0 and a / b > 1", Some(100), Some(0)),
        Err(UnitStatus::DivisionByZero(1))
    );
    // if does.
    assert_eq!(
        holds("if b != 0 then a / b > 1 else false", Some(100), Some(0)),
        Ok(false)
    );
}

#[test]
fn overflow_names_the_indicator() {
    assert_eq!(
        holds("a + 1 > 0", Some(i64::MAX), None),
        Err(UnitStatus::Overflow(1))
    );
    assert_eq!(
        holds("-a < 0", Some(i64::MIN), None),
        Err(UnitStatus::Overflow(1))
    );
    // The intermediate product must fit even when the result would.
    assert_eq!(
        holds("a * b > 0", Some(i64::MAX / 10), Some(1000)),
        Err(UnitStatus::Overflow(1))
    );
    assert_eq!(
        holds("a / b > 0", Some(i64::MAX / 10), Some(1)),
        Err(UnitStatus::Overflow(1))
    );
    assert_eq!(holds("a * b > 0", Some(i64::MAX), Some(1)), Ok(true));
}

#[test]
fn functions_present_and_choices() {
    assert_eq!(holds("min(a, b, 3) == 1", Some(100), Some(500)), Ok(true));
    assert_eq!(holds("max(a, b) == 5", Some(100), Some(500)), Ok(true));
    assert_eq!(holds("clamp(a, 0, 2) == 2", Some(900), None), Ok(true));
    assert_eq!(holds("clamp(5, 10, 0) == 10", None, None), Ok(true));
    assert_eq!(
        holds("present(a) and not present(b)", Some(0), None),
        Ok(true)
    );
    assert_eq!(holds("present(b)", Some(0), None), Ok(false));
    assert_eq!(holds("r == \"好\"", None, None), Ok(true), "default choice");
    assert_eq!(
        holds("(1 + if a > 0 then 2 else 3) == 3", Some(1), None),
        Ok(true)
    );
}

#[test]
fn fuel_is_the_node_count_and_runs_out() {
    // S: 1 + 1 (score = n); T: 1 + 3 (a > 0).
    let r = formula_rubric("a > 0", 1000);
    assert_eq!(r.manifest.indicators[0].fuel_cost, 2);
    assert_eq!(r.manifest.indicators[1].fuel_cost, 4);
    let unit = UnitInput {
        category: 0,
        round: Round::Annual,
        methods: 1,
        values: vec![Some(1), None, Some(100), None],
        not_applicable: Vec::new(),
    };
    let ok = Interpreter::new(&r).evaluate(std::slice::from_ref(&unit));
    assert_eq!((ok[0].status, ok[0].fuel_used), (UnitStatus::Ok, 6));
    // A budget of exactly 6 suffices; 5 stops at T with S's 2 spent.
    let r = formula_rubric("a > 0", 6);
    assert_eq!(
        Interpreter::new(&r).evaluate(std::slice::from_ref(&unit))[0].status,
        UnitStatus::Ok
    );
    let r = formula_rubric("a > 0", 5);
    let out = Interpreter::new(&r).evaluate(std::slice::from_ref(&unit));
    assert_eq!(
        (out[0].status, out[0].fuel_used),
        (UnitStatus::OutOfFuel(1), 2)
    );
    assert!(
        out[0].indicators.iter().all(Option::is_none),
        "no partial sheet"
    );
    let r = formula_rubric("a > 0", 1);
    let out = Interpreter::new(&r).evaluate(&[unit]);
    assert_eq!(
        (out[0].status, out[0].fuel_used),
        (UnitStatus::OutOfFuel(0), 0)
    );
}

#[test]
fn required_fields_only_when_read_and_first_in_field_order() {
    let r = mini();
    let i = Interpreter::new(&r);
    let m = &r.manifest;
    let f = |id| m.field_index(id).expect("field");
    // town, review method, both staff fields and avg_score missing:
    // the first missing read field in field order is staff_total.
    let mut values = vec![None; m.fields.len()];
    let unit = |values: Vec<Option<i64>>, category| UnitInput {
        category,
        round: Round::Annual,
        methods: m.methods_mask(["review"]).expect("mask"),
        values,
        not_applicable: Vec::new(),
    };
    let out = i.evaluate(&[unit(values.clone(), 0)]);
    assert_eq!(
        out[0].status,
        UnitStatus::MissingField(f("staff_total") as u32)
    );
    values[f("staff_total")] = Some(2000);
    values[f("staff_front")] = Some(1700);
    let out = i.evaluate(&[unit(values.clone(), 0)]);
    assert_eq!(
        out[0].status,
        UnitStatus::MissingField(f("avg_score") as u32)
    );
    // dept has no N group: nothing reads those fields.
    let out = i.evaluate(&[unit(vec![None; m.fields.len()], 1)]);
    assert_eq!(out[0].status, UnitStatus::Ok);
    assert_eq!(
        out[0].indicators[m.indicator_index("L2").expect("L2")],
        Some(0)
    );
}

#[test]
fn invalid_input_is_refused_per_unit() {
    let r = mini();
    let m = &r.manifest;
    let i = Interpreter::new(&r);
    let ok = abi::RawUnitInput {
        category: 1,
        round: 0,
        methods: m.all_methods_mask(),
        reserved: 0,
        fields: vec![(0, 0); m.fields.len()],
        not_applicable: Vec::new(),
    };
    let avg = m.field_index("avg_score").expect("avg");
    let rating = m.field_index("q_rating").expect("rating");
    let sessions = m.field_index("q_sessions").expect("sessions");
    let cases: Vec<(abi::RawUnitInput, UnitStatus)> = vec![
        (
            abi::RawUnitInput {
                category: 3,
                ..ok.clone()
            },
            UnitStatus::InvalidInput(0),
        ),
        (
            abi::RawUnitInput {
                round: 5,
                ..ok.clone()
            },
            UnitStatus::InvalidInput(0),
        ),
        (
            abi::RawUnitInput {
                reserved: 1,
                ..ok.clone()
            },
            UnitStatus::InvalidInput(0),
        ),
        (
            abi::RawUnitInput {
                methods: 8,
                ..ok.clone()
            },
            UnitStatus::InvalidInput(0),
        ),
        (
            with(&ok, avg, (1, 10_001)),
            UnitStatus::InvalidInput(avg as u32),
        ),
        (with(&ok, avg, (2, 0)), UnitStatus::InvalidInput(avg as u32)),
        (with(&ok, avg, (0, 5)), UnitStatus::InvalidInput(avg as u32)),
        (
            with(&ok, rating, (1, 300)),
            UnitStatus::InvalidInput(rating as u32),
        ),
        (
            with(&ok, rating, (1, 150)),
            UnitStatus::InvalidInput(rating as u32),
        ),
        (
            with(&ok, sessions, (1, 150)),
            UnitStatus::InvalidInput(sessions as u32),
        ),
        (
            with(&ok, sessions, (1, -100)),
            UnitStatus::InvalidInput(sessions as u32),
        ),
    ];
    let mut batch: Vec<_> = cases.iter().map(|(u, _)| u.clone()).collect();
    batch.push(ok.clone());
    let out = i.evaluate_raw(&batch);
    for ((_, want), got) in cases.iter().zip(&out) {
        assert_eq!(got.status, *want);
    }
    // One unit's error never affects another.
    assert_eq!(out.last().expect("ok unit").status, UnitStatus::Ok);
}

fn with(u: &abi::RawUnitInput, f: usize, v: (i64, i64)) -> abi::RawUnitInput {
    let mut u = u.clone();
    u.fields[f] = v;
    u
}

#[test]
fn per_category_points() {
    let r = mini();
    let m = &r.manifest;
    let l2 = m.indicator_index("L2").expect("L2");
    assert_eq!(
        m.indicators[l2].points,
        vec![Some(2000), Some(3000), Some(2000)]
    );
    let n1 = m.indicator_index("N1").expect("N1");
    assert_eq!(m.indicators[n1].points, vec![Some(4000), None, Some(4000)]);
    assert_eq!(
        (0..3).map(|c| m.applicable_points(c)).collect::<Vec<_>>(),
        vec![10000, 4000, 10000]
    );
    assert!(
        !m.applies(m.indicator_index("B1").expect("B1"), 2),
        "village has no B"
    );
    assert_eq!(m.applicable_indicators(1).count(), 6);
}
