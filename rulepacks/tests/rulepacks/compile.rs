//! The compiler against the reference interpreter. Compiled packs run
//! through the real runtime (`pack::Pack`, `runtime::LoadedPack`) must answer byte for
//! byte what `Interpreter::evaluate_bytes` / `finalise_bytes` answer:
//!
//! - the Baofeng 2022 rubric with random evidence (every category and
//!   round, random method masks, values inside and outside their ranges,
//!   missing fields, malformed units) and random finalise inputs;
//! - small random rubrics with random well-typed formulas (huge literals
//!   for overflow, divisions by zero, small fuel budgets);
//! - an exhaustive grid of i64 edge values through every arithmetic
//!   operator, and a rubric with astronomically large points (128-bit
//!   normalisation);
//! - every hand-worked fixture, through `fixture::check_with`;
//! - the same units in batches of 1, 7, 1000 and shuffled.
//!
//! No test asserts on durations.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use kaohe_rulepacks::abi::{self, FinaliseInput, UnitOutput};
use kaohe_rulepacks::compile;
use kaohe_rulepacks::fixture::{self, Fixture};
use kaohe_rulepacks::interp::Interpreter;
use kaohe_rulepacks::manifest::{Field, FieldType, IndicatorKind, Manifest, Missing, Round};
use kaohe_rulepacks::rubric::{self, CheckedRubric};
use kaohe_rulepacks::runtime::{Runtime, RuntimeConfig, RuntimeError};

// ---------------------------------------------------------------- helpers

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| Runtime::new(RuntimeConfig::default()).expect("runtime"))
}

fn load_rubric(path: &Path) -> CheckedRubric {
    rubric::load(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn compile_src(src: &str) -> CheckedRubric {
    rubric::compile("generated.toml", src).unwrap_or_else(|d| panic!("{}\n---\n{src}", d.render()))
}

/// A rubric compiled both ways.
struct Pack {
    manifest: Manifest,
    interp: Interpreter,
    compiled: kaohe_rulepacks::pack::Pack,
}

impl Pack {
    fn new(rubric: &CheckedRubric) -> Pack {
        let wasm = compile::compile(rubric).expect("compiles");
        let compiled = kaohe_rulepacks::pack::Pack::load_as_found(runtime(), &wasm)
            .expect("the runtime loads the pack");
        assert_eq!(compiled.manifest(), &rubric.manifest);
        Pack {
            manifest: rubric.manifest.clone(),
            interp: Interpreter::new(rubric),
            compiled,
        }
    }

    /// Both answers to an evaluate input: output bytes or the batch code.
    fn evaluate(&self, input: &[u8], n: usize) -> (Result<Vec<u8>, i64>, Result<Vec<u8>, i64>) {
        let want = self.interp.evaluate_bytes(input).map_err(|e| e.code());
        let got = answer(self.compiled.loaded().call_evaluate(input, n as u32));
        (got, want)
    }

    fn finalise(&self, input: &[u8], n: usize) -> (Result<Vec<u8>, i64>, Result<Vec<u8>, i64>) {
        let want = self.interp.finalise_bytes(input).map_err(|e| e.code());
        let got = answer(self.compiled.loaded().call_finalise(input, n as u32));
        (got, want)
    }

    /// Evaluates `units` both ways; on any difference, a readable report.
    fn check_evaluate(&self, units: &[RawUnit]) -> Result<(), String> {
        let input = encode_units(&self.manifest, units);
        let (got, want) = self.evaluate(&input, units.len());
        let (got, want) = match (got, want) {
            (Ok(g), Ok(w)) => (g, w),
            (g, w) if g == w => return Ok(()),
            (g, w) => {
                return Err(format!(
                    "batch: pack {:?} vs interpreter {:?}",
                    g.err(),
                    w.err()
                ));
            }
        };
        if got == want {
            // The pack's bytes must also be well-formed output.
            return abi::decode_evaluate_output(&self.manifest, units.len(), &got)
                .map(|_| ())
                .map_err(|e| e.to_string());
        }
        let g = abi::decode_evaluate_output(&self.manifest, units.len(), &got);
        let w = abi::decode_evaluate_output(&self.manifest, units.len(), &want)
            .expect("interpreter output decodes");
        let Ok(g) = g else {
            return Err(format!("pack output malformed: {:?}", g.err()));
        };
        for (k, (a, b)) in g.iter().zip(&w).enumerate() {
            if a != b {
                return Err(format!(
                    "unit {k} of {}: {:?}\n pack:        {}\n interpreter: {}",
                    units.len(),
                    units[k],
                    show_output(&self.manifest, a),
                    show_output(&self.manifest, b)
                ));
            }
        }
        Err("outputs differ in bytes but decode equal".into())
    }

    fn check_finalise(&self, units: &[RawFinalise]) -> Result<(), String> {
        let input = encode_finalise(&self.manifest, units);
        let (got, want) = self.finalise(&input, units.len());
        if got == want {
            // Not decoded here: identical bytes decode identically, and
            // `abi::decode_finalise_output` refuses some sheets the
            // interpreter produces (it checks the total in i64 with an
            // intermediate `converted + bonus` that may leave i64).
            return Ok(());
        }
        let (Ok(g), Ok(w)) = (&got, &want) else {
            return Err(format!(
                "batch: pack {:?} vs interpreter {:?}",
                got.err(),
                want.err()
            ));
        };
        for (k, ((a, b), u)) in g.chunks(72).zip(w.chunks(72)).zip(units).enumerate() {
            if a != b {
                return Err(format!(
                    "finalise unit {k}: {u:?}\n pack:        {:?}\n interpreter: {:?}",
                    words(a),
                    words(b)
                ));
            }
        }
        Err(format!(
            "finalise outputs differ in length: {} vs {}",
            g.len(),
            w.len()
        ))
    }
}

fn answer(r: Result<Vec<u8>, RuntimeError>) -> Result<Vec<u8>, i64> {
    match r {
        Ok(b) => Ok(b),
        Err(RuntimeError::BadInput(code)) => Err(code.code()),
        Err(e) => panic!("the pack failed in the runtime: {e}"),
    }
}

fn words(b: &[u8]) -> Vec<i64> {
    let mut v = vec![
        i64::from(u32::from_le_bytes(b[0..4].try_into().unwrap())),
        i64::from(u32::from_le_bytes(b[4..8].try_into().unwrap())),
    ];
    v.extend(
        b[8..]
            .chunks(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap())),
    );
    v
}

fn show_output(m: &Manifest, u: &UnitOutput) -> String {
    let inds: Vec<String> = u
        .indicators
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.map(|s| format!("{}={s}", m.indicators[i].id)))
        .collect();
    let fired: Vec<String> = u
        .clauses
        .iter()
        .enumerate()
        .filter_map(|(k, a)| {
            a.map(|a| {
                format!(
                    "{}={a}",
                    m.clause(k).map(|c| c.1.id.as_str()).unwrap_or("?")
                )
            })
        })
        .collect();
    format!(
        "{:?} fuel {} [{}] fired [{}]",
        u.status,
        u.fuel_used,
        inds.join(" "),
        fired.join(" ")
    )
}

/// One evaluate unit exactly as the bytes say.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RawUnit {
    category: u32,
    round: u32,
    methods: u32,
    reserved: u32,
    fields: Vec<(i64, i64)>,
}

fn encode_units(m: &Manifest, units: &[RawUnit]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(b"KHEV");
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&(units.len() as u32).to_le_bytes());
    out.extend_from_slice(&(m.fields.len() as u32).to_le_bytes());
    for u in units {
        for w in [u.category, u.round, u.methods, u.reserved] {
            out.extend_from_slice(&w.to_le_bytes());
        }
        for (p, v) in &u.fields {
            out.extend_from_slice(&p.to_le_bytes());
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}

/// One finalise unit exactly as the bytes say.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RawFinalise {
    category: u32,
    flags: u32,
    penalty_cap: i64,
    scores: Vec<(i64, i64)>,
}

impl From<&FinaliseInput> for RawFinalise {
    fn from(u: &FinaliseInput) -> RawFinalise {
        RawFinalise {
            category: u.category,
            flags: u32::from(u.penalty_cap_override.is_some()),
            penalty_cap: u.penalty_cap_override.unwrap_or(0),
            scores: u
                .scores
                .iter()
                .map(|s| s.map_or((0, 0), |s| (1, s)))
                .collect(),
        }
    }
}

fn encode_finalise(m: &Manifest, units: &[RawFinalise]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(b"KHFI");
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&(units.len() as u32).to_le_bytes());
    out.extend_from_slice(&(m.indicators.len() as u32).to_le_bytes());
    for u in units {
        out.extend_from_slice(&u.category.to_le_bytes());
        out.extend_from_slice(&u.flags.to_le_bytes());
        out.extend_from_slice(&u.penalty_cap.to_le_bytes());
        for (p, v) in &u.scores {
            out.extend_from_slice(&p.to_le_bytes());
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}

fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// A runner whose randomness comes from `seed` (for evidence generated
/// after a random rubric is compiled).
fn seeded_runner(seed: u64) -> TestRunner {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    TestRunner::new_with_rng(config(1), TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
}

fn sample<S: Strategy>(runner: &mut TestRunner, s: &S) -> S::Value {
    s.new_tree(runner)
        .expect("strategy yields a value")
        .current()
}

// ---------------------------------------------------------------- strategies

/// i64 values where the arithmetic changes behaviour.
const EDGES: [i64; 30] = [
    i64::MIN,
    i64::MIN + 1,
    i64::MIN / 100 - 1,
    i64::MIN / 100,
    -3_037_000_500,
    -10_000,
    -101,
    -100,
    -51,
    -50,
    -49,
    -1,
    0,
    1,
    2,
    49,
    50,
    51,
    99,
    100,
    101,
    300,
    10_000,
    3_037_000_499,
    3_037_000_500,
    i64::MAX / 100,
    i64::MAX / 100 + 1,
    i64::MAX / 2 + 1,
    i64::MAX - 1,
    i64::MAX,
];

/// A value the field accepts (ABI-encoded).
fn valid_value(f: &Field) -> BoxedStrategy<i64> {
    match f.kind {
        FieldType::Count => {
            let lo = f.min.unwrap_or(0) / 100;
            let hi = f.max.map_or(lo + 50, |m| m / 100).min(lo + 100_000);
            prop_oneof![
                4 => (lo..=lo.saturating_add(5).min(hi)).prop_map(|v| v * 100),
                4 => (lo..=hi).prop_map(|v| v * 100),
                1 => Just(hi * 100),
            ]
            .boxed()
        }
        FieldType::Decimal => match (f.min, f.max) {
            (Some(lo), Some(hi)) => prop_oneof![4 => lo..=hi, 1 => Just(lo), 1 => Just(hi)].boxed(),
            (lo, hi) => {
                let lo = lo.unwrap_or(i64::MIN);
                let hi = hi.unwrap_or(i64::MAX);
                prop_oneof![
                    3 => -20_000i64..20_000,
                    2 => proptest::sample::select(EDGES.to_vec()),
                    1 => any::<i64>(),
                ]
                .prop_map(move |v| v.clamp(lo, hi))
                .boxed()
            }
        },
        FieldType::Bool => prop_oneof![Just(0i64), Just(100i64)].boxed(),
        FieldType::Choice => (0..f.choices.len() as i64).prop_map(|i| i * 100).boxed(),
    }
}

/// Complete evidence: every required field supplied, the others half the
/// time.
fn complete_entry(f: &Field) -> BoxedStrategy<(i64, i64)> {
    let valid = valid_value(f).prop_map(|v| (1i64, v));
    match f.missing {
        Missing::Refuse => valid.boxed(),
        Missing::Default(_) => prop_oneof![Just((0i64, 0i64)), valid].boxed(),
    }
}

/// `(present, value)` of one field: mostly well-formed, sometimes absent,
/// out of range or malformed.
fn field_entry(f: &Field, noisy: bool) -> BoxedStrategy<(i64, i64)> {
    let absent_weight = if matches!(f.missing, Missing::Default(_)) {
        3
    } else {
        1
    };
    let valid = valid_value(f).prop_map(|v| (1i64, v));
    if !noisy {
        return prop_oneof![absent_weight => Just((0i64, 0i64)), 12 => valid].boxed();
    }
    let around: Vec<i64> = [f.min, f.max]
        .into_iter()
        .flatten()
        .flat_map(|b| {
            [
                b.saturating_sub(1),
                b.saturating_add(1),
                b.saturating_sub(100),
                b.saturating_add(100),
            ]
        })
        .chain([-100, -1, 1, 50, 101, 150, 300, 1_000_000])
        .collect();
    prop_oneof![
        3 => Just((0i64, 0i64)),
        12 => valid,
        1 => proptest::sample::select(around).prop_map(|v| (1i64, v)),
        1 => any::<i64>().prop_map(|v| (1i64, v)),
        1 => prop_oneof![Just((2i64, 0i64)), Just((-1, 0)), Just((0, 100)), Just((i64::MIN, 5))],
    ]
    .boxed()
}

/// Evaluate units for a manifest: every category and round, random method
/// masks (often all), complete evidence or noisy evidence, sometimes a
/// malformed unit.
fn unit_strategy(m: &Manifest) -> BoxedStrategy<RawUnit> {
    let nc = m.categories.len() as u32;
    let all = m.all_methods_mask();
    let complete: Vec<_> = m.fields.iter().map(complete_entry).collect();
    let clean: Vec<_> = m.fields.iter().map(|f| field_entry(f, false)).collect();
    let noisy: Vec<_> = m.fields.iter().map(|f| field_entry(f, true)).collect();
    let fields = prop_oneof![3 => complete, 2 => clean, 2 => noisy];
    let category = prop_oneof![20 => 0..nc, 1 => nc..nc + 3, 1 => Just(u32::MAX)];
    let round = prop_oneof![20 => 0u32..=4, 1 => Just(5u32), 1 => Just(u32::MAX)];
    let methods = prop_oneof![
        6 => Just(all),
        6 => any::<u32>().prop_map(move |x| x & all),
        1 => any::<u32>(),
    ];
    let reserved = prop_oneof![30 => Just(0u32), 1 => any::<u32>()];
    (category, round, methods, reserved, fields)
        .prop_map(|(category, round, methods, reserved, fields)| RawUnit {
            category,
            round,
            methods,
            reserved,
            fields,
        })
        .boxed()
}

fn units_strategy(m: &Manifest, max: usize) -> BoxedStrategy<Vec<RawUnit>> {
    proptest::collection::vec(unit_strategy(m), 1..=max).boxed()
}

/// Finalise units: mostly shaped like a merged sheet (present exactly when
/// applicable, scores in range), sometimes off by one, malformed or with
/// an override.
fn finalise_strategy(m: &Manifest) -> BoxedStrategy<RawFinalise> {
    let nc = m.categories.len() as u32;
    let m2 = m.clone();
    let category = prop_oneof![20 => 0..nc, 1 => Just(nc)];
    (category, 0u8..10)
        .prop_flat_map(move |(c, mode)| {
            let per: Vec<BoxedStrategy<(i64, i64)>> = m2
                .indicators
                .iter()
                .map(|ind| {
                    let pts = ind.points.get(c as usize).copied().flatten();
                    let good = match (pts, ind.kind) {
                        (None, _) => Just((0i64, 0i64)).boxed(),
                        (Some(_), IndicatorKind::Flag) => prop_oneof![Just((1i64, 0i64)), Just((1, 100))].boxed(),
                        (Some(p), _) => prop_oneof![
                            2 => (0..=p).prop_map(|v| (1i64, v)),
                            1 => Just((1i64, p)),
                            1 => Just((1i64, 0)),
                        ]
                        .boxed(),
                    };
                    if mode < 7 {
                        good
                    } else {
                        prop_oneof![
                            8 => good,
                            1 => Just((0i64, 0i64)),
                            1 => proptest::sample::select(vec![(1i64, -1i64), (1, 101), (2, 0), (0, 1), (1, i64::MAX)]),
                            1 => (0..=1i64, any::<i64>()),
                        ]
                        .boxed()
                    }
                })
                .collect();
            let flags = prop_oneof![6 => Just((0u32, 0i64)), 3 => (Just(1u32), prop_oneof![0..2_000i64, Just(i64::MAX)]), 1 => (0u32..4, -5..5i64)];
            (Just(c), flags, per)
        })
        .prop_map(|(category, (flags, penalty_cap), scores)| RawFinalise {
            category,
            flags,
            penalty_cap,
            scores,
        })
        .boxed()
}

/// Complete evidence for one assessee: the annual round and the four
/// quarters, same category and methods; evaluated, merged and finalised.
/// Returns whether a sheet was finalised (every round ok).
fn sheet_check(pack: &Pack, runner: &mut TestRunner) -> Result<bool, String> {
    let m = &pack.manifest;
    let c = sample(runner, &(0..m.categories.len() as u32));
    let all = m.all_methods_mask();
    let fields: Vec<_> = m.fields.iter().map(complete_entry).collect();
    let units: Vec<RawUnit> = (0..5u32)
        .map(|round| RawUnit {
            category: c,
            round,
            methods: all,
            reserved: 0,
            fields: sample(runner, &fields),
        })
        .collect();
    pack.check_evaluate(&units)?;
    let outs = pack.interp.evaluate_raw(
        &units
            .iter()
            .map(|u| abi::RawUnitInput {
                category: u.category,
                round: u.round,
                methods: u.methods,
                reserved: u.reserved,
                fields: u.fields.clone(),
            })
            .collect::<Vec<_>>(),
    );
    if outs.iter().any(|o| !o.status.is_ok()) {
        return Ok(false);
    }
    let pairs: Vec<(Round, &UnitOutput)> = outs
        .iter()
        .enumerate()
        .map(|(r, o)| (Round::from_code(r as u32).expect("round"), o))
        .collect();
    let cap = sample(
        runner,
        &prop_oneof![3 => Just(None), 1 => (0..3_000i64).prop_map(Some)],
    );
    let merged = abi::merge_outputs(m, c, &pairs, cap).map_err(|e| e.to_string())?;
    pack.check_finalise(&[RawFinalise::from(&merged)])?;
    Ok(true)
}

// ---------------------------------------------------------------- Baofeng 2022

fn baofeng() -> &'static (CheckedRubric, Pack) {
    static P: OnceLock<(CheckedRubric, Pack)> = OnceLock::new();
    P.get_or_init(|| {
        let r = load_rubric(&root().join("baofeng-2022/rubric.toml"));
        let p = Pack::new(&r);
        (r, p)
    })
}

#[test]
fn baofeng_random_evidence_matches_the_interpreter() {
    let (_, pack) = baofeng();
    let mut runner = TestRunner::new(config(160));
    runner
        .run(&units_strategy(&pack.manifest, 48), |units| {
            pack.check_evaluate(&units).map_err(TestCaseError::fail)
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn baofeng_random_sheets_match_the_interpreter() {
    let (_, pack) = baofeng();
    let mut runner = TestRunner::new(config(120));
    let sheets = std::cell::Cell::new(0);
    runner
        .run(
            &(
                proptest::collection::vec(finalise_strategy(&pack.manifest), 1..24),
                any::<u64>(),
            ),
            |(units, seed)| {
                pack.check_finalise(&units).map_err(TestCaseError::fail)?;
                let mut inner = seeded_runner(seed);
                let done = sheet_check(pack, &mut inner).map_err(TestCaseError::fail)?;
                sheets.set(sheets.get() + u32::from(done));
                Ok(())
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        sheets.get() >= 60,
        "only {} of 120 assessees reached a sheet",
        sheets.get()
    );
}

#[test]
fn every_fixture_passes_through_the_runtime() {
    let mut checked = 0;
    for dir in ["baofeng-2022", "baofeng-2023", "tests/data/mini"] {
        let r = load_rubric(&root().join(dir).join("rubric.toml"));
        let pack = Pack::new(&r);
        let fixtures = Fixture::load_dir(&root().join(dir).join("fixtures"), &r.manifest)
            .expect("fixtures load");
        assert!(!fixtures.is_empty(), "{dir}: no fixtures");
        for fx in &fixtures {
            if let Err(diffs) = fixture::check_with(fx, &pack.compiled) {
                let lines: Vec<String> = diffs.iter().map(ToString::to_string).collect();
                panic!("{dir}/{}: {}", fx.name, lines.join("\n"));
            }
            // And the interpreter agrees with the fixture too (the oracle).
            fixture::check_with(fx, &pack.interp)
                .unwrap_or_else(|d| panic!("{dir}/{}: interpreter: {d:?}", fx.name));
            checked += 1;
        }
    }
    assert!(checked >= 17 + 7 + 6, "only {checked} fixtures checked");
}

/// Splitmix64, for a deterministic shuffle.
fn mix(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[test]
fn batch_size_and_order_do_not_change_a_units_bytes() {
    let (_, pack) = baofeng();
    let m = &pack.manifest;
    let rec = m.evaluate_output_record();
    let mut runner = TestRunner::deterministic();
    let units: Vec<RawUnit> = (0..1000)
        .map(|_| sample(&mut runner, &unit_strategy(m)))
        .collect();
    let statuses: std::collections::BTreeSet<u32> = pack
        .interp
        .evaluate_raw(
            &units
                .iter()
                .map(|u| abi::RawUnitInput {
                    category: u.category,
                    round: u.round,
                    methods: u.methods,
                    reserved: u.reserved,
                    fields: u.fields.clone(),
                })
                .collect::<Vec<_>>(),
        )
        .iter()
        .map(|o| o.status.code())
        .collect();
    assert!(
        statuses.contains(&0) && statuses.contains(&1) && statuses.contains(&6),
        "{statuses:?}"
    );

    let run = |batch: &[RawUnit]| -> Vec<Vec<u8>> {
        let bytes = pack
            .compiled
            .loaded()
            .call_evaluate(&encode_units(m, batch), batch.len() as u32)
            .expect("batch runs");
        bytes.chunks(rec).map(<[u8]>::to_vec).collect()
    };
    let whole = run(&units);
    assert_eq!(whole.len(), 1000);
    let want = pack
        .interp
        .evaluate_bytes(&encode_units(m, &units))
        .expect("interpreter");
    assert!(
        whole.concat() == want,
        "batch of 1000 differs from the interpreter"
    );

    let sevens: Vec<Vec<u8>> = units.chunks(7).flat_map(run).collect();
    assert!(
        sevens == whole,
        "batches of 7 differ from one batch of 1000"
    );
    let ones: Vec<Vec<u8>> = units.chunks(1).flat_map(run).collect();
    assert!(ones == whole, "batches of 1 differ from one batch of 1000");

    let mut order: Vec<usize> = (0..units.len()).collect();
    let mut seed = 2022;
    for i in (1..order.len()).rev() {
        let j = (mix(&mut seed) % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    let shuffled: Vec<RawUnit> = order.iter().map(|&i| units[i].clone()).collect();
    let out = run(&shuffled);
    for (k, &i) in order.iter().enumerate() {
        assert!(
            out[k] == whole[i],
            "unit {i} differs when shuffled to position {k}"
        );
    }
}

#[test]
fn batch_errors_are_the_interpreters() {
    let (_, pack) = baofeng();
    let m = &pack.manifest;
    let mut runner = TestRunner::deterministic();
    let units: Vec<RawUnit> = (0..3)
        .map(|_| sample(&mut runner, &unit_strategy(m)))
        .collect();
    let good = encode_units(m, &units);
    let mut cases: Vec<(Vec<u8>, i64)> = vec![
        (good[..15].to_vec(), -3),
        (Vec::new(), -3),
        ([b"KHFI".as_slice(), &good[4..]].concat(), -1),
        ([&good[..4], &2u32.to_le_bytes(), &good[8..]].concat(), -2),
        (
            [
                &good[..12],
                &(m.fields.len() as u32 + 1).to_le_bytes(),
                &good[16..],
            ]
            .concat(),
            -4,
        ),
        (good[..good.len() - 1].to_vec(), -3),
        ([good.as_slice(), &[0u8; 16]].concat(), -3),
        ([&good[..8], &4u32.to_le_bytes(), &good[12..]].concat(), -3),
        (good[..16].to_vec(), -3),
    ];
    // n = 0 is a valid, empty batch.
    let empty = [&good[..8], &0u32.to_le_bytes(), &good[12..16]].concat();
    cases.push((empty, 0));
    for (k, (input, code)) in cases.iter().enumerate() {
        let n = if *code == 0 { 0 } else { 3 };
        let (got, want) = pack.evaluate(input, n);
        assert_eq!(got, want, "case {k}");
        match want {
            Err(c) => assert_eq!(c, *code, "case {k}"),
            Ok(b) => assert!(b.is_empty() && *code == 0, "case {k}"),
        }
    }
    let fin = encode_finalise(m, &[]);
    let (got, want) = pack.finalise(&fin, 0);
    assert_eq!(got, want);
    let (got, want) = pack.finalise(&fin[..10], 0);
    assert_eq!((got, want), (Err(-3), Err(-3)));
    let (got, want) = pack.finalise(&good, 3);
    assert_eq!((got, want), (Err(-1), Err(-1)));
}

// ---------------------------------------------------------------- random rubrics

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
            )
                .prop_map(move |(rule, group_h, points, points_cb)| IndicatorSpec {
                    quarterly,
                    group_h,
                    points,
                    points_cb,
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
                    },
                );
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
            for o in pack
                .interp
                .evaluate_bytes(&encode_units(&pack.manifest, &units))
                .unwrap_or_default()
                .chunks(pack.manifest.evaluate_output_record())
            {
                statuses
                    .borrow_mut()
                    .insert(u32::from_le_bytes(o[0..4].try_into().unwrap()));
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

// ---------------------------------------------------------------- arithmetic edges

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
    let codes: std::collections::BTreeSet<u32> = outs
        .chunks(m.evaluate_output_record())
        .map(|o| u32::from_le_bytes(o[0..4].try_into().unwrap()))
        .collect();
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

// ---------------------------------------------------------------- the module

#[test]
fn module_has_the_abi_shape_and_nothing_else() {
    use wasmparser::{Parser, Payload};
    let (r, _) = baofeng();
    let wasm = compile::compile(r).expect("compiles");
    assert_eq!(
        wasm,
        compile::compile(r).expect("compiles"),
        "compilation is deterministic"
    );
    let mut exports = Vec::new();
    let mut manifests = Vec::new();
    let mut float_ops = 0;
    for payload in Parser::new(0).parse_all(&wasm) {
        match payload.expect("parses") {
            Payload::ImportSection(_) => panic!("a compiled pack imports nothing"),
            Payload::StartSection { .. } => panic!("no start function"),
            Payload::ExportSection(s) => {
                for e in s {
                    exports.push(e.expect("export").name.to_string());
                }
            }
            Payload::CustomSection(c) => manifests.push((c.name().to_string(), c.data().to_vec())),
            Payload::CodeSectionEntry(body) => {
                let mut ops = body.get_operators_reader().expect("operators");
                while !ops.eof() {
                    let op = format!("{:?}", ops.read().expect("operator"));
                    if op.starts_with("F32") || op.starts_with("F64") || op.starts_with("V128") {
                        float_ops += 1;
                    }
                }
            }
            _ => {}
        }
    }
    exports.sort();
    assert_eq!(
        exports,
        [
            "kaohe_abi_version",
            "kaohe_alloc",
            "kaohe_evaluate",
            "kaohe_finalise",
            "memory"
        ]
    );
    assert_eq!(float_ops, 0, "no float or SIMD instructions");
    assert_eq!(manifests.len(), 1);
    assert_eq!(manifests[0].0, "kaohe-manifest");
    assert!(
        manifests[0].1 == r.manifest.to_canonical_json(),
        "the manifest section is the canonical JSON"
    );
    assert_eq!(
        Manifest::from_json(&manifests[0].1).expect("manifest reads back"),
        r.manifest
    );
}

#[test]
fn build_writes_a_pack_the_runtime_loads() {
    let (r, pack) = baofeng();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("baofeng-2022.wasm");
    let report = compile::build(r, &out).expect("builds");
    assert!(
        report.contains("已编译") && report.contains("SHA-256"),
        "{report}"
    );
    let wasm = std::fs::read(&out).expect("written");
    let loaded = runtime().load(&wasm).expect("loads");
    assert_eq!(loaded.digest(), pack.compiled.digest());
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("dir").count(),
        1,
        "no temporary file left"
    );
}
