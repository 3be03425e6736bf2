//! `pack::Pack`, the one way to load a compiled pack and call it: the
//! identity it is loaded under, its typed errors, and agreement with the
//! reference interpreter through the `Evaluator` trait.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use kaohe_proto::PackIdentity;
use kaohe_rulepacks::abi::{FinaliseInput, UnitOutput, merge_outputs};
use kaohe_rulepacks::compile;
use kaohe_rulepacks::fixture::{self, Fixture};
use kaohe_rulepacks::interp::Interpreter;
use kaohe_rulepacks::manifest::{ABI_V1, IndicatorKind, Manifest, Round};
use kaohe_rulepacks::pack::{Evaluator, Pack, PackError, sha256};
use kaohe_rulepacks::rubric::{self, CheckedRubric};
use kaohe_rulepacks::runtime::{Runtime, RuntimeConfig, RuntimeError};

fn mini_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/mini")
}

fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| Runtime::new(RuntimeConfig::default()).expect("runtime"))
}

/// The mini rubric and its compiled module.
fn mini() -> (CheckedRubric, Vec<u8>) {
    let r = rubric::load(&mini_dir().join("rubric.toml")).unwrap_or_else(|e| panic!("{e}"));
    let wasm = compile::compile(&r).expect("the mini rubric compiles");
    (r, wasm)
}

/// The identity a module's own manifest names.
fn identity_of(m: &Manifest, module: &[u8]) -> PackIdentity {
    PackIdentity {
        id: m.pack.id.clone(),
        year: u16::try_from(m.pack.year).unwrap(),
        version: m.pack.version,
        module_sha256: sha256(module),
    }
}

/// A `.wat` fixture with its manifest section replaced by `manifest`
/// (every byte escaped, so any JSON fits the WAT string).
fn wat_with_manifest(name: &str, manifest: &Manifest) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/wat")
        .join(format!("{name}.wat"));
    let text = std::fs::read_to_string(&path).unwrap();
    let start = text
        .find("(@custom \"kaohe-manifest\"")
        .expect("a manifest section");
    let end = start + text[start..].find(")\n").expect("its end") + 1;
    let escaped: String = manifest
        .to_canonical_json()
        .iter()
        .map(|b| format!("\\{b:02x}"))
        .collect();
    let text = format!(
        "{}(@custom \"kaohe-manifest\" \"{escaped}\"){}",
        &text[..start],
        &text[end..]
    );
    wat::parse_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn a_pack_loads_under_its_own_identity_and_refuses_another_naming_both() {
    let (r, wasm) = mini();
    let id = identity_of(&r.manifest, &wasm);

    let pack = Pack::load(runtime(), &wasm, &id).expect("loads under its own identity");
    assert_eq!(pack.identity(), &id);
    assert_eq!(pack.digest(), &id.module_sha256);
    assert_eq!(pack.manifest(), &r.manifest);

    // Another version of the same module: refused, naming both packs.
    let v2 = PackIdentity {
        version: 2,
        ..id.clone()
    };
    let e = Pack::load(runtime(), &wasm, &v2).unwrap_err();
    assert!(
        matches!(&e, PackError::IdentityMismatch { expected, found }
            if **expected == v2 && found.version == 1),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(
        msg.contains("规则包 mini-2022 v2") && msg.contains("mini-2022 第 1 版"),
        "{msg}"
    );

    // Another id, or another year: refused the same way.
    for other in [
        PackIdentity {
            id: "baofeng".into(),
            ..id.clone()
        },
        PackIdentity {
            year: 2023,
            ..id.clone()
        },
    ] {
        let e = Pack::load(runtime(), &wasm, &other).unwrap_err();
        assert!(matches!(e, PackError::IdentityMismatch { .. }), "{e:?}");
        assert!(e.to_string().contains(&other.to_string()), "{e}");
    }

    // A module whose bytes are not the ones named: refused before compiling.
    let mut changed = wasm.clone();
    let last = changed.len() - 1;
    changed[last] ^= 1;
    let e = Pack::load(runtime(), &changed, &id).unwrap_err();
    assert!(
        matches!(&e, PackError::ModuleMismatch { pack, found }
            if **pack == id && *found == sha256(&changed)),
        "{e:?}"
    );
    assert!(e.to_string().contains("规则包 mini-2022 v1"), "{e}");

    // Without an expectation the identity is the manifest's own.
    let found = Pack::load_as_found(runtime(), &wasm).expect("loads");
    assert_eq!(found.identity(), &id);
}

#[test]
fn a_module_that_is_no_pack_is_a_load_or_manifest_error_naming_it() {
    let (r, _) = mini();
    // No exports at all: the sandbox refuses it.
    let empty = wat::parse_str("(module)").unwrap();
    let e = Pack::load(runtime(), &empty, &identity_of(&r.manifest, &empty)).unwrap_err();
    assert!(
        matches!(&e, PackError::Load { pack, .. } if pack == "mini-2022 v1"),
        "{e:?}"
    );
    assert!(e.to_string().contains("无法加载规则包 mini-2022 v1"), "{e}");

    // A pack the runtime accepts whose manifest is not a complete v1 one.
    let bad_output = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/wat/bad-output.wat"),
    )
    .unwrap();
    let module = wat::parse_str(&bad_output).unwrap();
    let e = Pack::load_as_found(runtime(), &module).unwrap_err();
    assert!(matches!(e, PackError::Manifest { .. }), "{e:?}");
    assert!(
        e.to_string().contains(&hex::encode(sha256(&module))[..16]),
        "the module is named by its digest: {e}"
    );
}

#[test]
fn malformed_evaluate_output_is_the_typed_error_naming_the_pack() {
    // ABI 1 (the hand-written packs below speak it).
    let r = mini().0.with_abi(ABI_V1);
    let m = &r.manifest;
    let units = fixture::Evidence::load(&mini_dir().join("fixtures/01-town-full.toml"), m)
        .unwrap()
        .units();

    // `bad-output.wat` answers 16 bytes at 2048: too short for the mini
    // manifest's units. The runtime catches the length.
    let short = wat_with_manifest("bad-output", m);
    let pack = Pack::load(runtime(), &short, &identity_of(m, &short)).expect("loads");
    let e = pack.evaluate(&units).unwrap_err();
    assert!(
        matches!(&e, PackError::MalformedOutput { pack, reason }
            if pack == "mini-2022 v1" && reason.contains("输出长度 16")),
        "{e:?}"
    );

    // The right length, but every byte 0xff: the status word is no status
    // the ABI defines. The decoder catches it, with the same error.
    let record = m.evaluate_output_record();
    let garbage = format!(
        r#"(module
          (@custom "kaohe-manifest" "{}")
          (memory (export "memory") 4)
          (func (export "kaohe_abi_version") (result i32) (i32.const 1))
          (func (export "kaohe_alloc") (param i32) (result i32) (i32.const 1024))
          (func (export "kaohe_evaluate") (param $p i32) (param $len i32) (result i64)
            (local $out i32)
            (local.set $out (i32.mul (i32.load offset=8 (local.get $p)) (i32.const {record})))
            (memory.fill (i32.const 131072) (i32.const 0xff) (local.get $out))
            (i64.or (i64.shl (i64.const 131072) (i64.const 32))
                    (i64.extend_i32_u (local.get $out))))
          (func (export "kaohe_finalise") (param i32 i32) (result i64) (i64.const -1)))"#,
        m.to_canonical_json()
            .iter()
            .map(|b| format!("\\{b:02x}"))
            .collect::<String>()
    );
    let garbage = wat::parse_str(&garbage).unwrap();
    let pack = Pack::load(runtime(), &garbage, &identity_of(m, &garbage)).expect("loads");
    let e = pack.evaluate(&units).unwrap_err();
    assert!(
        matches!(&e, PackError::MalformedOutput { pack, reason }
            if pack == "mini-2022 v1" && reason.contains("第 0 个单位不合规")),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .contains("规则包 mini-2022 v1 的输出不符合 ABI"),
        "{e}"
    );

    // A pack refusing the batch (finalise returns −1, bad magic) is a
    // runtime error, not malformed output.
    let sheet = pack.finalise(&[kaohe_rulepacks::abi::FinaliseInput {
        category: 0,
        scores: vec![None; m.indicators.len()],
        penalty_cap_override: None,
        not_applicable: Vec::new(),
    }]);
    assert!(
        matches!(
            sheet,
            Err(PackError::Runtime {
                source: RuntimeError::BadInput(_),
                ..
            })
        ),
        "{sheet:?}"
    );
    // An empty batch is answered without calling the pack.
    assert_eq!(pack.evaluate(&[]).unwrap(), Vec::<UnitOutput>::new());
}

#[test]
fn the_pack_and_the_interpreter_agree_through_the_evaluator_trait() {
    let (r, wasm) = mini();
    let pack = Pack::load(runtime(), &wasm, &identity_of(&r.manifest, &wasm)).expect("loads");
    let interp = Interpreter::new(&r);
    let evaluators: [&dyn Evaluator; 2] = [&pack, &interp];
    assert_eq!(evaluators[0].manifest(), evaluators[1].manifest());

    let fixtures = Fixture::load_dir(&mini_dir().join("fixtures"), &r.manifest).unwrap();
    assert_eq!(fixtures.len(), 6);
    for f in &fixtures {
        let units = f.evidence.units();
        let [by_pack, by_interp] = evaluators.map(|e| e.evaluate(&units).unwrap());
        assert_eq!(by_pack, by_interp, "{}", f.name);
        for e in evaluators {
            fixture::check_with(f, e).unwrap_or_else(|d| panic!("{}: {d:?}", f.name));
        }
        if by_pack.iter().all(|o| o.status.is_ok()) {
            let rounds: Vec<(Round, &UnitOutput)> = f
                .evidence
                .rounds
                .iter()
                .map(|(round, _)| *round)
                .zip(&by_pack)
                .collect();
            let sheet = merge_outputs(
                &r.manifest,
                f.evidence.category as u32,
                &rounds,
                f.evidence.penalty_cap_override,
            )
            .unwrap();
            let [a, b] = evaluators.map(|e| e.finalise(std::slice::from_ref(&sheet)).unwrap());
            assert_eq!(a, b, "{}", f.name);
        }
    }
}

/// Issue #17: a year is finalised in calls sized by the pack's memory,
/// never one call sized by the year. Under a 1 MiB memory cap a 2022 sheet
/// (36 indicators, ABI 2.1: 320 bytes in, 72 out) fits ~1,340 units per
/// call, so 5,000 units take four calls — one call would run out of memory
/// — and every sheet is the interpreter's, in order.
#[test]
fn a_year_larger_than_one_call_is_finalised_in_calls_that_fit_the_pack_memory() {
    let r = rubric::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("baofeng-2022/rubric.toml"))
        .unwrap_or_else(|e| panic!("{e}"));
    let wasm = compile::compile(&r).expect("the 2022 rubric compiles");
    // A fuel ceiling per call high enough that memory is what binds.
    let small = Runtime::new(RuntimeConfig {
        memory_cap_bytes: 1 << 20,
        memory_keep_resident_bytes: 1 << 20,
        max_concurrent_instances: 2,
        max_wasm_fuel_per_call: 1 << 50,
        ..RuntimeConfig::default()
    })
    .unwrap();
    let pack = Pack::load(&small, &wasm, &identity_of(&r.manifest, &wasm)).expect("loads");
    let m = &r.manifest;
    let per_call = pack
        .loaded()
        .units_per_call(kaohe_rulepacks::runtime::Entry::Finalise) as usize;
    assert_eq!(
        per_call as u64,
        (1u64 << 19) / (m.finalise_input_record() as u64 + 72),
        "half the memory over a unit's records"
    );
    let units: Vec<FinaliseInput> = (0..5_000usize)
        .map(|u| {
            let category = u % m.categories.len();
            let mut scores = vec![None; m.indicators.len()];
            for i in m.applicable_indicators(category) {
                let points = m.points(i, category).unwrap_or(0);
                scores[i] = Some(match m.indicators[i].kind {
                    IndicatorKind::Scored => points - ((u * 13 + i * 7) as i64 % (points / 2 + 1)),
                    _ => 0,
                });
            }
            FinaliseInput {
                category: category as u32,
                penalty_cap_override: None,
                scores,
                not_applicable: Vec::new(),
            }
        })
        .collect();
    assert!(
        (100..units.len() / 3).contains(&per_call),
        "{per_call} units per call"
    );
    // One call with the whole year does not fit the pack's memory.
    let whole = kaohe_rulepacks::abi::encode_finalise_input(m, &units).unwrap();
    let one_call = pack.loaded().call_finalise(&whole, units.len() as u32);
    assert!(
        matches!(
            one_call,
            Err(RuntimeError::OutOfMemory { .. } | RuntimeError::InputTooLarge { .. })
        ),
        "{one_call:?}"
    );
    let by_pack = pack.finalise(&units).expect("finalised in calls");
    let by_interp = Interpreter::new(&r).finalise(&units);
    assert_eq!(by_pack.len(), units.len());
    assert!(by_pack.iter().all(|o| o.result().is_ok()));
    assert_eq!(by_pack, by_interp);
}

/// A call is also sized by the fuel ceiling: no more units than get their
/// full `wasm_fuel_per_unit` under `max_wasm_fuel_per_call`, so a batch is
/// never refused for fuel where its units one by one would not be.
#[test]
fn calls_are_sized_by_the_fuel_ceiling_too() {
    use kaohe_rulepacks::runtime::Entry;
    let (r, wasm) = mini();
    let config = RuntimeConfig {
        wasm_fuel_base: 1_000_000,
        max_wasm_fuel_per_call: 1_000_000 + 10 * r.manifest.limits.wasm_fuel_per_unit,
        ..RuntimeConfig::default()
    };
    let rt = Runtime::new(config).unwrap();
    let pack = Pack::load(&rt, &wasm, &identity_of(&r.manifest, &wasm)).expect("loads");
    assert_eq!(pack.loaded().units_per_call(Entry::Evaluate), 10);
    assert_eq!(pack.loaded().units_per_call(Entry::Finalise), 10);
    assert_eq!(
        pack.loaded().wasm_fuel_for(10),
        1_000_000 + 10 * r.manifest.limits.wasm_fuel_per_unit,
        "ten units get their full fuel"
    );
    // 25 units: three calls, the same answers as the interpreter.
    let units =
        fixture::Evidence::load(&mini_dir().join("fixtures/01-town-full.toml"), &r.manifest)
            .unwrap()
            .units();
    let many: Vec<_> = units.iter().cycle().take(25).cloned().collect();
    assert_eq!(
        pack.evaluate(&many).unwrap(),
        Interpreter::new(&r).evaluate(&many)
    );
}

/// ABI 2 (ABI.md §10): a hand-written pack whose sparse evaluate output
/// breaks the layout is refused with the typed error naming the pack and
/// what is wrong, whichever way it breaks it.
#[test]
fn malformed_abi2_output_is_refused_naming_the_fault() {
    let (r, _) = mini();
    let m = &r.manifest;
    assert!(m.is_v2() && !m.has_not_applicable() && m.indicators.len() == 8);
    let wasm = wat_with_manifest("abi2-bad-output", m);
    let pack = Pack::load(runtime(), &wasm, &identity_of(m, &wasm)).expect("an ABI 2 pack loads");
    let refused = |category: u32| {
        let unit = kaohe_rulepacks::abi::UnitInput {
            category,
            round: Round::Annual,
            methods: m.all_methods_mask(),
            values: vec![None; m.fields.len()],
            not_applicable: Vec::new(),
        };
        match pack.evaluate(&[unit]).unwrap_err() {
            PackError::MalformedOutput { pack, reason } => {
                assert_eq!(pack, "mini-2022 v1");
                reason
            }
            e => panic!("{e:?}"),
        }
    };
    let r0 = refused(0);
    assert!(
        r0.contains("第 0 个单位不合规") && r0.contains("未计分的指标 L1 有触发的条款"),
        "{r0}"
    );
    let r1 = refused(1);
    assert!(r1.contains("输出长度") && r1.contains("至多"), "{r1}");
    let r2 = refused(2);
    assert!(r2.contains("截断"), "{r2}");
}
