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
//!
//! Layout: this file holds the helpers, the evidence strategies and the
//! module's shape; `baofeng`, `random_rubrics` and `edges` one file each.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use kaohe_rulepacks::abi::{self, FinaliseInput, UnitOutput};
use kaohe_rulepacks::compile;
use kaohe_rulepacks::fixture::{self, Fixture};
use kaohe_rulepacks::interp::Interpreter;
use kaohe_rulepacks::manifest::{
    ABI_V1, Field, FieldType, IndicatorKind, Manifest, Missing, Round,
};
use kaohe_rulepacks::rubric::{self, CheckedRubric};
use kaohe_rulepacks::runtime::{Runtime, RuntimeConfig, RuntimeError};

mod baofeng;
mod edges;
mod random_rubrics;
mod raw;

use raw::{RawFinalise, RawUnit, encode_finalise, encode_units, statuses, unit_records};

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

/// A rubric compiled both ways (the pack and the interpreter), in the ABI
/// its manifest names; an ABI 2 rubric also as ABI 1, its twin, so every
/// differential test checks both layouts and that they say the same.
struct Pack {
    manifest: Manifest,
    interp: Interpreter,
    compiled: kaohe_rulepacks::pack::Pack,
    v1: Option<Box<Pack>>,
}

impl Pack {
    fn new(rubric: &CheckedRubric) -> Pack {
        let mut pack = Pack::one(rubric);
        if rubric.manifest.is_v2() {
            pack.v1 = Some(Box::new(Pack::one(&rubric.clone().with_abi(ABI_V1))));
        }
        pack
    }

    fn one(rubric: &CheckedRubric) -> Pack {
        let wasm = compile::compile(rubric).expect("compiles");
        let compiled = kaohe_rulepacks::pack::Pack::load_as_found(runtime(), &wasm)
            .expect("the runtime loads the pack");
        assert_eq!(compiled.manifest(), &rubric.manifest);
        Pack {
            manifest: rubric.manifest.clone(),
            interp: Interpreter::new(rubric),
            compiled,
            v1: None,
        }
    }

    /// [`Pack::check_evaluate_one`] in each ABI, and — where the raw
    /// words mean the same in both (present and marks 0 or 1) — the same
    /// decoded outputs from ABI 1 and ABI 2.
    fn check_evaluate(&self, units: &[RawUnit]) -> Result<(), String> {
        self.check_evaluate_one(units)?;
        let Some(v1) = &self.v1 else { return Ok(()) };
        v1.check_evaluate_one(units)
            .map_err(|e| format!("ABI 1: {e}"))?;
        let same_meaning = units.iter().all(|u| {
            u.fields.iter().all(|&(p, _)| p == 0 || p == 1)
                && u.marks.iter().all(|&x| x == 0 || x == 1)
        });
        if !same_meaning {
            return Ok(());
        }
        let two = self
            .interp
            .evaluate_bytes(&encode_units(&self.manifest, units));
        let one = v1.interp.evaluate_bytes(&encode_units(&v1.manifest, units));
        match (two, one) {
            (Ok(two), Ok(one)) => {
                let two = abi::decode_evaluate_output(&self.manifest, units.len(), &two);
                let one = abi::decode_evaluate_output(&v1.manifest, units.len(), &one);
                if two.as_ref().ok() != one.as_ref().ok() {
                    return Err("ABI 1 and ABI 2 outputs say different things".into());
                }
                Ok(())
            }
            (two, one) if two.as_ref().err() == one.as_ref().err() => Ok(()),
            (two, one) => Err(format!(
                "ABI 2 batch {:?} vs ABI 1 batch {:?}",
                two.err(),
                one.err()
            )),
        }
    }

    /// [`Pack::check_finalise_one`] in each ABI, and the same bytes from
    /// both (the finalise output is one layout) where the present words
    /// mean the same (0, 1 or 2).
    fn check_finalise(&self, units: &[RawFinalise]) -> Result<(), String> {
        self.check_finalise_one(units)?;
        let Some(v1) = &self.v1 else { return Ok(()) };
        v1.check_finalise_one(units)
            .map_err(|e| format!("ABI 1: {e}"))?;
        let same_meaning = units.iter().all(|u| {
            u.flags & !1 == 0
                && u.scores.iter().all(|&(p, _)| {
                    (0..=2).contains(&p) && (p != 2 || self.manifest.has_not_applicable())
                })
        });
        if same_meaning
            && self
                .interp
                .finalise_bytes(&encode_finalise(&self.manifest, units))
                != v1
                    .interp
                    .finalise_bytes(&encode_finalise(&v1.manifest, units))
        {
            return Err("ABI 1 and ABI 2 sheets differ".into());
        }
        Ok(())
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
    fn check_evaluate_one(&self, units: &[RawUnit]) -> Result<(), String> {
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

    fn check_finalise_one(&self, units: &[RawFinalise]) -> Result<(), String> {
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

/// The Baofeng 2022 rubric and its pack, compiled once.
fn baofeng() -> &'static (CheckedRubric, Pack) {
    static P: OnceLock<(CheckedRubric, Pack)> = OnceLock::new();
    P.get_or_init(|| {
        let r = load_rubric(&root().join("baofeng-2022/rubric.toml"));
        let p = Pack::new(&r);
        (r, p)
    })
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
    (
        category,
        round,
        methods,
        reserved,
        fields,
        marks_strategy(m),
    )
        .prop_map(
            |(category, round, methods, reserved, fields, marks)| RawUnit {
                category,
                round,
                methods,
                reserved,
                fields,
                marks,
            },
        )
        .boxed()
}

/// Not-applicable marks (ABI 1.1): mostly none, often 1 on indicators the
/// rubric lets be marked, sometimes on one it does not, or a value other
/// than 0 or 1. Empty under ABI 1.0.
fn marks_strategy(m: &Manifest) -> BoxedStrategy<Vec<i64>> {
    if !m.has_not_applicable() {
        return Just(Vec::new()).boxed();
    }
    let per: Vec<BoxedStrategy<i64>> = m
        .indicators
        .iter()
        .map(|ind| {
            if ind.allow_not_applicable {
                prop_oneof![12 => Just(0i64), 4 => Just(1i64), 1 => Just(2i64)].boxed()
            } else {
                prop_oneof![60 => Just(0i64), 1 => Just(1i64), 1 => Just(-1i64)].boxed()
            }
        })
        .collect();
    prop_oneof![3 => Just(vec![0i64; m.indicators.len()]), 2 => per].boxed()
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
                        (Some(p), IndicatorKind::Scored) if ind.allow_not_applicable => prop_oneof![
                            2 => (0..=p).prop_map(|v| (1i64, v)),
                            1 => Just((1i64, p)),
                            1 => Just((1i64, 0)),
                            1 => Just((2i64, 0)),
                        ]
                        .boxed(),
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
                            1 => proptest::sample::select(vec![(1i64, -1i64), (1, 101), (2, 0), (2, 5), (3, 0), (0, 1), (1, i64::MAX)]),
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
    // Valid not-applicable marks: some of the markable indicators, in every
    // round that evaluates them.
    let chosen: Vec<bool> = m
        .indicators
        .iter()
        .map(|ind| ind.allow_not_applicable && sample(runner, &proptest::bool::weighted(0.3)))
        .collect();
    let units: Vec<RawUnit> = (0..5u32)
        .map(|round| RawUnit {
            category: c,
            round,
            methods: all,
            reserved: 0,
            fields: sample(runner, &fields),
            marks: if m.has_not_applicable() {
                (0..m.indicators.len())
                    .map(|i| {
                        let r = Round::from_code(round).expect("round");
                        i64::from(chosen[i] && m.is_evaluated(i, c as usize, r, all))
                    })
                    .collect()
            } else {
                Vec::new()
            },
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
                not_applicable: u.marks.clone(),
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
    let (r, _) = baofeng();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("baofeng-2022.wasm");
    let fixtures = root().join("baofeng-2022/fixtures");
    let report = compile::build(r, &fixtures, &out).expect("builds");
    assert!(
        report.contains("已编译") && report.contains("SHA-256"),
        "{report}"
    );
    let wasm = std::fs::read(&out).expect("written");
    let loaded = runtime().load(&wasm).expect("loads");
    // The compiled rubric plus its fixtures as the self-test section, and
    // nothing else: the same code as the pack without it.
    let with_test = compile::compile_with_self_test(
        r,
        &compile::self_test(
            r,
            &Fixture::load_dir(&fixtures, &r.manifest).expect("fixtures"),
        )
        .expect("self-test"),
    )
    .expect("compiles");
    assert_eq!(loaded.digest(), &kaohe_rulepacks::pack::sha256(&with_test));
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("dir").count(),
        1,
        "no temporary file left"
    );
}
