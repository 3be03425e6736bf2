//! ABI 2 beside ABI 1 (ABI.md §10): the same rubric compiled both ways
//! answers the same through `Pack` on every fixture of both yearly packs,
//! whole sheets included; and the ABI a module speaks is part of what its
//! authorities sign, so a module relabelled from one ABI to the other is
//! refused by the signature check and by the loader.

use std::path::Path;

use kaohe_rulepacks::abi::{UnitOutput, merge_outputs};
use kaohe_rulepacks::compile;
use kaohe_rulepacks::fixture::{self, Fixture};
use kaohe_rulepacks::manifest::{ABI_V1, ABI_V2, Round};
use kaohe_rulepacks::pack::{Evaluator, Pack, PackError, sha256};
use kaohe_rulepacks::rubric;
use kaohe_rulepacks::runtime::{Runtime, RuntimeConfig, RuntimeError};
use kaohe_rulepacks::sign::{Expectation, PackTrustError, TrustPolicy, sign_pack, verify_pack};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig::default()).expect("runtime")
}

#[test]
fn one_rubric_as_abi_1_and_abi_2_packs_answers_the_same_on_every_fixture() {
    let rt = runtime();
    for year in ["baofeng-2022", "baofeng-2023"] {
        let r2 = rubric::load(&root().join(year).join("rubric.toml")).expect("rubric");
        assert_eq!(r2.manifest.abi_version, ABI_V2, "{year}: built as ABI 2");
        let r1 = r2.clone().with_abi(ABI_V1);
        let load = |r: &rubric::CheckedRubric| {
            let wasm = compile::compile(r).expect("compiles");
            let pack = Pack::load_as_found(&rt, &wasm).expect("loads");
            assert_eq!(pack.manifest().abi_version, r.manifest.abi_version);
            pack
        };
        let (v2, v1) = (load(&r2), load(&r1));
        let fixtures =
            Fixture::load_dir(&root().join(year).join("fixtures"), &r2.manifest).expect("fixtures");
        assert!(fixtures.len() >= 6, "{year}");
        let mut sheets = 0;
        for f in &fixtures {
            let units = f.evidence.units();
            let two = v2.evaluate(&units).expect("ABI 2 evaluates");
            assert_eq!(
                two,
                v1.evaluate(&units).expect("ABI 1 evaluates"),
                "{year} {}",
                f.name
            );
            for p in [&v2 as &dyn Evaluator, &v1] {
                fixture::check_with(f, p).unwrap_or_else(|d| panic!("{year} {}: {d:?}", f.name));
            }
            if !two.iter().all(|o| o.status.is_ok()) {
                continue;
            }
            let rounds: Vec<(Round, &UnitOutput)> = f
                .evidence
                .rounds
                .iter()
                .map(|(round, _)| *round)
                .zip(&two)
                .collect();
            let Ok(sheet) = merge_outputs(
                &r2.manifest,
                f.evidence.category as u32,
                &rounds,
                f.evidence.penalty_cap_override,
            ) else {
                continue;
            };
            let sheet = std::slice::from_ref(&sheet);
            assert_eq!(
                v2.finalise(sheet).expect("ABI 2 finalises"),
                v1.finalise(sheet).expect("ABI 1 finalises"),
                "{year} {}",
                f.name
            );
            sheets += 1;
        }
        assert!(sheets >= 3, "{year}: only {sheets} sheets compared");
    }
}

/// Rewrites the manifest's `"abi_version":X` to `"abi_version":Y` in a
/// module's bytes (same length, so the module stays well-formed).
fn relabel(module: &[u8], from: u32, to: u32) -> Vec<u8> {
    let (a, b) = (
        format!("\"abi_version\":{from}"),
        format!("\"abi_version\":{to}"),
    );
    let at = module
        .windows(a.len())
        .position(|w| w == a.as_bytes())
        .expect("the manifest names its ABI");
    let mut out = module.to_vec();
    out[at..at + b.len()].copy_from_slice(b.as_bytes());
    out
}

#[test]
fn a_module_relabelled_to_the_other_abi_is_refused_by_its_signature_and_by_the_loader() {
    let r = rubric::load(&root().join("tests/data/mini/rubric.toml")).expect("mini");
    let key = kaohe_proto::SigningKeyPair::from_seed(&[7; 32]);
    let trust = TrustPolicy::new(vec![key.public()], 1).expect("policy");
    let rt = runtime();
    for (rubric, from, to) in [
        (r.clone(), ABI_V2, ABI_V1),
        (r.clone().with_abi(ABI_V1), ABI_V1, ABI_V2),
    ] {
        let module = compile::compile(&rubric).expect("compiles");
        let envelope = sign_pack(&module, 1_700_000_000, &[&key]).expect("signs");
        assert!(verify_pack(&module, &envelope, &trust, &Expectation::default()).is_ok());
        let relabelled = relabel(&module, from, to);
        assert_eq!(
            verify_pack(&relabelled, &envelope, &trust, &Expectation::default()),
            Err(PackTrustError::TamperedModule {
                signed: hex::encode(sha256(&module)),
                actual: hex::encode(sha256(&relabelled)),
            }),
            "ABI {from} relabelled {to}: the statement names the module's digest"
        );
        // Loaded without a signature, its code still says what it speaks.
        match Pack::load_as_found(&rt, &relabelled) {
            Err(PackError::Load {
                source: RuntimeError::AbiVersionMismatch { found, expected },
                ..
            }) => assert_eq!((found, expected), (from as i32, to as i32)),
            other => panic!("ABI {from} relabelled {to}: {other:?}"),
        }
    }
}
