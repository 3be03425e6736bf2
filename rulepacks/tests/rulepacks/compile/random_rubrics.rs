//! Small random rubrics with random well-typed formulas (huge literals,
//! divisions by zero, small fuel budgets), and rubrics of more than 64
//! indicators.

use super::*;

/// Formula pieces over the fields of one method (prefix `a` or `q`).
struct Grammar {
    num: Vec<BoxedStrategy<String>>,
    boolean: Vec<BoxedStrategy<String>>,
}

const LITERALS: [&str; 16] = [
    "0",
    "0.01",
    "0.5",
    "1",
    "2",
    "2.5",
    "3",
    "7",
    "10",
    "100",
    "99.99",
    "3037000499.97",
    "1000000000",
    "46116860184273879.04",
    "92233720368547758",
    "92233720368547758.07",
];

fn grammar(prefix: &'static str, depth: usize) -> Grammar {
    let p = prefix;
    let num_leaf = prop_oneof![
        2 => proptest::sample::select(LITERALS.to_vec()).prop_map(str::to_string),
        3 => proptest::sample::select(vec!["c1", "c2", "d1", "d2"]).prop_map(move |f| format!("{p}_{f}")),
    ]
    .boxed();
    let bool_leaf = prop_oneof![
        1 => proptest::sample::select(vec!["true", "false"]).prop_map(str::to_string),
        3 => proptest::sample::select(vec!["b", "b2"]).prop_map(move |f| format!("{p}_{f}")),
        2 => proptest::sample::select(vec!["c2", "d2", "b", "ch"]).prop_map(move |f| format!("present({p}_{f})")),
        2 => proptest::sample::select(vec!["好", "一般", "差"]).prop_map(move |c| format!("({p}_ch == \"{c}\")")),
    ]
    .boxed();
    let mut num = vec![num_leaf.clone()];
    let mut boolean = vec![bool_leaf.clone()];
    for d in 1..=depth {
        let (n, b) = (num[d - 1].clone(), boolean[d - 1].clone());
        let n2 = (n.clone(), n.clone());
        let arith = (
            n2.clone(),
            proptest::sample::select(vec!["+", "-", "*", "/"]),
        )
            .prop_map(|((x, y), op)| format!("({x} {op} {y})"));
        let numd = prop_oneof![
            2 => num_leaf.clone(),
            6 => arith,
            1 => n.clone().prop_map(|x| format!("-{x}")),
            1 => n2.clone().prop_map(|(x, y)| format!("min({x}, {y})")),
            1 => (n.clone(), n.clone(), n.clone()).prop_map(|(x, y, z)| format!("max({x}, {y}, {z})")),
            1 => (n.clone(), n.clone(), n.clone()).prop_map(|(x, y, z)| format!("clamp({x}, {y}, {z})")),
            2 => (b.clone(), n.clone(), n.clone()).prop_map(|(c, x, y)| format!("(if {c} then {x} else {y})")),
        ]
        .boxed();
        let cmp = (
            n2,
            proptest::sample::select(vec!["<", "<=", ">", ">=", "==", "!="]),
        )
            .prop_map(|((x, y), op)| format!("({x} {op} {y})"));
        let b2 = (b.clone(), b.clone());
        let boold = prop_oneof![
            2 => bool_leaf.clone(),
            5 => cmp,
            2 => b2.clone().prop_map(|(x, y)| format!("({x} and {y})")),
            2 => b2.clone().prop_map(|(x, y)| format!("({x} or {y})")),
            1 => b2.prop_map(|(x, y)| format!("({x} == {y})")),
            1 => b.clone().prop_map(|x| format!("(not {x})")),
            1 => (b.clone(), b.clone(), b).prop_map(|(c, x, y)| format!("(if {c} then {x} else {y})")),
        ]
        .boxed();
        num.push(numd);
        boolean.push(boold);
    }
    Grammar { num, boolean }
}

#[derive(Debug, Clone)]
enum RuleSpec {
    Deductions(Vec<(String, Option<String>)>),
    Score(String),
    Awards(bool, Vec<(String, Option<String>)>),
    Flag(String, bool),
}

#[derive(Debug, Clone)]
struct IndicatorSpec {
    quarterly: bool,
    group_h: bool,
    points: i64,
    /// Points for category `cb` when different (group G only).
    points_cb: Option<Option<i64>>,
    rule: RuleSpec,
    /// `allow_not_applicable = true` (scored indicators only).
    na: bool,
}

#[derive(Debug, Clone)]
struct RubricSpec {
    fuel: u64,
    normalise: bool,
    serious_bars_good: bool,
    indicators: Vec<IndicatorSpec>,
}

fn indicator_strategy(depth: usize) -> BoxedStrategy<IndicatorSpec> {
    let ga = grammar("a", depth);
    let gq = grammar("q", depth);
    let gs = [ga, gq];
    let mut per_method = Vec::new();
    for (mi, g) in gs.iter().enumerate() {
        let num = g.num[depth].clone();
        let boolean = g.boolean[depth].clone();
        let amount = prop_oneof![
            1 => Just(None),
            1 => (1..=6i64).prop_map(|v| Some(v.to_string())),
            3 => num.clone().prop_map(Some),
        ];
        let clauses = proptest::collection::vec((boolean.clone(), amount), 1..=3);
        let rule = prop_oneof![
            3 => clauses.clone().prop_map(RuleSpec::Deductions),
            2 => num.prop_map(RuleSpec::Score),
            2 => (any::<bool>(), clauses).prop_map(|(bonus, cs)| RuleSpec::Awards(bonus, cs)),
            1 => (boolean, any::<bool>()).prop_map(|(w, s)| RuleSpec::Flag(w, s)),
        ];
        let quarterly = mi == 1;
        per_method.push(
            (
                rule,
                any::<bool>(),
                1..=10i64,
                prop_oneof![2 => Just(None), 1 => Just(Some(None)), 1 => (1..=10i64).prop_map(|p| Some(Some(p)))],
                proptest::bool::weighted(0.3),
            )
                .prop_map(move |(rule, group_h, points, points_cb, na)| IndicatorSpec {
                    quarterly,
                    group_h,
                    points,
                    points_cb,
                    na: na && matches!(rule, RuleSpec::Deductions(_) | RuleSpec::Score(_)),
                    rule,
                })
                .boxed(),
        );
    }
    prop_oneof![per_method[0].clone(), per_method[1].clone()].boxed()
}

fn rubric_strategy() -> BoxedStrategy<RubricSpec> {
    let depth = 4;
    (
        prop_oneof![3 => Just(100_000u64), 2 => 1..60u64, 1 => 60..400u64],
        any::<bool>(),
        any::<bool>(),
        proptest::collection::vec(indicator_strategy(depth), 1..=6),
        (1..=10i64, any::<bool>()),
    )
        .prop_map(
            |(fuel, normalise, serious_bars_good, mut indicators, (p0, quarterly))| {
                // Indicator 0 is scored in group G with plain points, so every
                // category has a scored indicator.
                indicators.insert(
                    0,
                    IndicatorSpec {
                        quarterly,
                        group_h: false,
                        points: p0,
                        points_cb: None,
                        rule: RuleSpec::Score(if quarterly {
                            "q_c1".into()
                        } else {
                            "a_c1".into()
                        }),
                        na: false,
                    },
                );
                // Not applicable needs conversion (RUBRIC.md §3).
                let normalise = normalise || indicators.iter().any(|i| i.na);
                RubricSpec {
                    fuel,
                    normalise,
                    serious_bars_good,
                    indicators,
                }
            },
        )
        .boxed()
}

fn render(spec: &RubricSpec) -> String {
    let mut s = format!(
        r#"
[pack]
id = "random"
year = 2022
version = 1
title = "随机"
issuer = "测试"
[limits]
fuel_per_unit = {}
[[group]]
id = "G"
name = "组G"
[[group]]
id = "H"
name = "组H"
[[category]]
id = "ca"
no = 1
name = "甲"
groups = ["G", "H"]
ranked = true
assessor = "county_office"
[[category]]
id = "cb"
no = 2
name = "乙"
groups = ["G"]
ranked = false
assessor = "county_office"
[[method]]
id = "a"
name = "年度"
[[method]]
id = "q"
name = "季度"
quarterly = true
combine = "sum"
"#,
        spec.fuel
    );
    for m in ["a", "q"] {
        s.push_str(&format!(
            r#"
[[field]]
id = "{m}_c1"
label = "c1"
type = "count"
max = 1000
method = "{m}"
missing = "refuse"
[[field]]
id = "{m}_c2"
label = "c2"
type = "count"
method = "{m}"
default = 3
[[field]]
id = "{m}_d1"
label = "d1"
type = "decimal"
method = "{m}"
missing = "refuse"
[[field]]
id = "{m}_d2"
label = "d2"
type = "decimal"
min = -50
max = 50
method = "{m}"
default = 0
[[field]]
id = "{m}_b"
label = "b"
type = "bool"
method = "{m}"
default = false
[[field]]
id = "{m}_b2"
label = "b2"
type = "bool"
method = "{m}"
missing = "refuse"
[[field]]
id = "{m}_ch"
label = "ch"
type = "choice"
choices = ["好", "一般", "差"]
method = "{m}"
default = "一般"
"#
        ));
    }
    let mut clause_no = 0;
    for (i, ind) in spec.indicators.iter().enumerate() {
        let method = if ind.quarterly { "q" } else { "a" };
        let group = if ind.group_h { "H" } else { "G" };
        let kind = match &ind.rule {
            RuleSpec::Deductions(_) | RuleSpec::Score(_) => "scored",
            RuleSpec::Awards(true, _) => "bonus",
            RuleSpec::Awards(false, _) => "penalty",
            RuleSpec::Flag(..) => "flag",
        };
        s.push_str(&format!(
            "\n[[indicator]]\nid = \"I{i}\"\ngroup = \"{group}\"\nname = \"指标{i}\"\nkind = \"{kind}\"\nmethod = \"{method}\"\n"
        ));
        if ind.na {
            s.push_str("allow_not_applicable = true\n");
        }
        if kind != "flag" {
            match (ind.group_h, ind.points_cb) {
                (false, Some(Some(p))) => s.push_str(&format!(
                    "points = {{ default = {}, cb = {p} }}\n",
                    ind.points
                )),
                (false, Some(None)) => s.push_str(&format!("points = {{ ca = {} }}\n", ind.points)),
                _ => s.push_str(&format!("points = {}\n", ind.points)),
            }
        }
        let clauses =
            |s: &mut String, table: &str, cs: &[(String, Option<String>)], n: &mut usize| {
                for (when, amount) in cs {
                    s.push_str(&format!(
                        "  [[indicator.{table}]]\n  id = \"K{n}\"\n  when = '{when}'\n"
                    ));
                    if let Some(a) = amount {
                        s.push_str(&format!("  amount = '{a}'\n"));
                    }
                    s.push_str("  reason = \"理由\"\n");
                    *n += 1;
                }
            };
        match &ind.rule {
            RuleSpec::Score(f) => s.push_str(&format!("score = '{f}'\n")),
            RuleSpec::Flag(w, serious) => s.push_str(&format!(
                "when = '{w}'\nflag = \"{}\"\n",
                if *serious {
                    "serious_case"
                } else {
                    "major_problem"
                }
            )),
            RuleSpec::Deductions(cs) => clauses(&mut s, "deduction", cs, &mut clause_no),
            RuleSpec::Awards(_, cs) => clauses(&mut s, "award", cs, &mut clause_no),
        }
    }
    s.push_str(&format!(
        r#"
[composition]
full_marks = 100
normalise = {}
bonus_cap = 5
penalty_cap = 10
serious_case_bars = "{}"
  [[composition.grade]]
  id = "excellent"
  name = "优秀"
  min = 90
  [[composition.grade]]
  id = "good"
  name = "良好"
  min = 80
  [[composition.grade]]
  id = "pass"
  name = "合格"
  min = 60
  [[composition.grade]]
  id = "fail"
  name = "不合格"
  min = 0
[schedule]
verification_days = 5
review_request_days = 5
review_request_runs = "alongside"
review_decision_days = 10
round_deadline = {{ Q1 = "04-15", Q2 = "07-15", Q3 = "10-15", Q4 = "01-15", annual = "01-31" }}
[outcomes]
warn_bottom = 3
big_regression_points = 10
commend_consecutive_excellent = 2
recommend_township_consecutive_excellent = 2
copy_list = []
"#,
        spec.normalise,
        if spec.serious_bars_good {
            "good"
        } else {
            "excellent"
        }
    ));
    s
}

#[test]
fn random_rubrics_with_random_formulas_match_the_interpreter() {
    let mut runner = TestRunner::new(config(96));
    let statuses = std::cell::RefCell::new(std::collections::BTreeSet::new());
    let sheets = std::cell::Cell::new(0u32);
    runner
        .run(&(rubric_strategy(), any::<u64>()), |(spec, seed)| {
            let src = render(&spec);
            let r = compile_src(&src);
            let pack = Pack::new(&r);
            let mut inner = seeded_runner(seed);
            let units = sample(&mut inner, &units_strategy(&pack.manifest, 40));
            let fail = |e: String| TestCaseError::fail(format!("{e}\n--- rubric:\n{src}"));
            pack.check_evaluate(&units).map_err(fail)?;
            if let Ok(out) = pack
                .interp
                .evaluate_bytes(&encode_units(&pack.manifest, &units))
            {
                statuses
                    .borrow_mut()
                    .extend(super::statuses(&pack.manifest, units.len(), &out));
            }
            let fins = sample(
                &mut inner,
                &proptest::collection::vec(finalise_strategy(&pack.manifest), 1..16),
            );
            pack.check_finalise(&fins).map_err(fail)?;
            for _ in 0..3 {
                if sheet_check(&pack, &mut inner).map_err(fail)? {
                    sheets.set(sheets.get() + 1);
                }
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    // The generator reaches every evaluate status.
    assert!(
        sheets.get() >= 30,
        "only {} assessees reached a sheet",
        sheets.get()
    );
    let statuses = statuses.into_inner();
    for code in [0, 1, 2, 3, 4, 6] {
        assert!(
            statuses.contains(&code),
            "status {code} never produced: {statuses:?}"
        );
    }
}

/// More than 64 indicators: the evaluated set spans several mask words.
/// Extra scored indicators become bonus or penalty awards so the scored
/// points stay within full marks.
#[test]
fn rubrics_with_more_than_64_indicators_match_the_interpreter() {
    let wide = (
        proptest::collection::vec(indicator_strategy(2), 130..=140),
        1..=10i64,
        any::<u64>(),
    )
        .prop_map(|(extra, p0, seed)| {
            let mut indicators = vec![IndicatorSpec {
                quarterly: false,
                group_h: false,
                points: p0,
                points_cb: None,
                rule: RuleSpec::Score("a_c1".into()),
                na: false,
            }];
            indicators.extend(extra.into_iter().enumerate().map(|(k, mut ind)| {
                // Category `cb` lacks group H: there, the required fields
                // are read only by indicators of the later mask words.
                ind.group_h = k < 70;
                ind.rule = match ind.rule {
                    RuleSpec::Deductions(cs) => RuleSpec::Awards(k % 2 == 0, cs),
                    RuleSpec::Score(f) => {
                        RuleSpec::Awards(k % 2 == 1, vec![("true".into(), Some(f))])
                    }
                    r => r,
                };
                ind.na = false;
                ind
            }));
            (
                RubricSpec {
                    fuel: 100_000,
                    normalise: true,
                    serious_bars_good: false,
                    indicators,
                },
                seed,
            )
        });
    let mut runner = TestRunner::new(config(6));
    runner
        .run(&wide, |(spec, seed)| {
            let src = render(&spec);
            let r = compile_src(&src);
            assert!(r.manifest.indicators.len() > 128);
            let pack = Pack::new(&r);
            let mut inner = seeded_runner(seed);
            let units = sample(&mut inner, &units_strategy(&pack.manifest, 60));
            pack.check_evaluate(&units).map_err(TestCaseError::fail)?;
            let fins = sample(
                &mut inner,
                &proptest::collection::vec(finalise_strategy(&pack.manifest), 1..16),
            );
            pack.check_finalise(&fins).map_err(TestCaseError::fail)?;
            for _ in 0..3 {
                sheet_check(&pack, &mut inner).map_err(TestCaseError::fail)?;
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}
