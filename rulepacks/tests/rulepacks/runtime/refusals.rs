//! What the runtime refuses: malformed output, and at load imports, wrong
//! exports or ABI version, a missing or bad manifest, disabled proposals,
//! oversized modules, compilation past its bound and invalid configs.

use super::*;

#[test]
fn malformed_output_is_refused_correct_output_accepted() {
    let rt = runtime();
    let pack = rt.load(&fixture("bad-output")).unwrap();
    let mode = |m: u32| {
        let mut b = m.to_le_bytes().to_vec();
        b.resize(16, 0);
        b
    };
    for m in [0, 1, 3] {
        assert!(
            matches!(
                err(pack.call_evaluate(&mode(m), 1)),
                RuntimeError::MalformedOutput(_)
            ),
            "mode {m}"
        );
    }
    assert!(matches!(
        err(pack.call_evaluate(&mode(2), 1)),
        RuntimeError::MalformedOutput(msg) if msg.contains("-77")
    ));
    assert_eq!(pack.call_evaluate(&mode(4), 1).unwrap().len(), 16);
    // kaohe_alloc returning an out-of-bounds region, or failing.
    assert!(matches!(
        err(pack.call_evaluate(&[0; 7], 1)),
        RuntimeError::MalformedOutput(_)
    ));
    assert!(matches!(
        err(pack.call_evaluate(&[0; 9], 1)),
        RuntimeError::OutOfMemory { .. }
    ));
    assert_good_pack_still_works(&rt);
}

// ------------------------------------------------------- load-time refusals

#[test]
fn imports_are_refused() {
    let rt = runtime();
    match err(rt.load(&fixture("import"))) {
        RuntimeError::ImportNotAllowed { module, name } => {
            assert_eq!(
                (module.as_str(), name.as_str()),
                ("wasi_snapshot_preview1", "fd_write")
            );
        }
        other => panic!("expected ImportNotAllowed, got {other:?}"),
    }
    assert_good_pack_still_works(&rt);
}

#[test]
fn missing_or_mistyped_exports_are_refused() {
    let rt = runtime();
    assert!(matches!(
        err(rt.load(&fixture("missing-export"))),
        RuntimeError::MissingExport {
            name: "kaohe_finalise"
        }
    ));
    assert!(matches!(
        err(rt.load(&fixture("wrong-export-type"))),
        RuntimeError::WrongExportType {
            name: "kaohe_evaluate",
            ..
        }
    ));
    assert_good_pack_still_works(&rt);
}

#[test]
fn wrong_abi_version_is_refused() {
    let rt = runtime();
    assert!(matches!(
        err(rt.load(&fixture("wrong-abi"))),
        RuntimeError::AbiVersionMismatch { found: 2, .. }
    ));
    assert_good_pack_still_works(&rt);
}

#[test]
fn manifest_must_be_one_valid_version_1_section() {
    let rt = runtime();
    let bare = fixture("no-manifest");
    assert!(matches!(err(rt.load(&bare)), RuntimeError::ManifestMissing));

    let good = br#"{"manifest_version":1,"abi_version":1,"fields":[],"indicators":[]}"#;
    let with = |payload: &[u8]| with_custom_section(bare.clone(), "kaohe-manifest", payload);
    rt.load(&with(good)).unwrap();

    let invalid: [&[u8]; 5] = [
        b"{not json",
        b"[1, 2]",
        b"\xff\xfe",
        br#"{"manifest_version":1,"abi_version":1,"indicators":[]}"#,
        br#"{"manifest_version":"1","abi_version":1,"fields":[],"indicators":[]}"#,
    ];
    for payload in invalid {
        assert!(
            matches!(
                err(rt.load(&with(payload))),
                RuntimeError::ManifestInvalid(_)
            ),
            "{}",
            String::from_utf8_lossy(payload)
        );
    }
    let v2 = br#"{"manifest_version":2,"abi_version":1,"fields":[],"indicators":[]}"#;
    assert!(matches!(
        err(rt.load(&with(v2))),
        RuntimeError::ManifestVersionMismatch {
            field: "manifest_version",
            found: 2
        }
    ));
    // ABI 1 and 2 are spoken; 3 is not, and the refusal says so in Chinese.
    let abi3 = br#"{"manifest_version":1,"abi_version":3,"fields":[],"indicators":[]}"#;
    let e = err(rt.load(&with(abi3)));
    assert!(
        matches!(
            e,
            RuntimeError::ManifestVersionMismatch {
                field: "abi_version",
                found: 3
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("本程序不支持"), "{e}");
    let twice = with_custom_section(with(good), "kaohe-manifest", good);
    assert!(matches!(
        err(rt.load(&twice)),
        RuntimeError::ManifestInvalid(_)
    ));
    assert_good_pack_still_works(&rt);
}

#[test]
fn not_a_module_and_disabled_proposals_are_refused() {
    let rt = runtime();
    assert!(matches!(err(rt.load(b"")), RuntimeError::NotAModule(_)));
    assert!(matches!(
        err(rt.load(b"\0asm\x01\0\0\0garbage")),
        RuntimeError::NotAModule(_)
    ));
    // SIMD is off: a v128 instruction makes the module invalid here.
    let simd = wat::parse_str(
        r#"(module (func (result i32) (i32x4.extract_lane 0 (v128.const i32x4 1 2 3 4))))"#,
    )
    .unwrap();
    assert!(matches!(err(rt.load(&simd)), RuntimeError::NotAModule(_)));
    // Threads are off: shared memory is invalid here.
    let shared = wat::parse_str(r#"(module (memory (export "memory") 1 1 shared))"#).unwrap();
    assert!(matches!(err(rt.load(&shared)), RuntimeError::NotAModule(_)));
    assert_good_pack_still_works(&rt);
}

#[test]
fn module_size_cap_is_exact_and_oversized_modules_are_refused() {
    let wasm = fixture("abi-pack");
    let exact = runtime_with(RuntimeConfig {
        max_module_bytes: wasm.len(),
        ..RuntimeConfig::default()
    });
    exact.load(&wasm).unwrap();
    let under = runtime_with(RuntimeConfig {
        max_module_bytes: wasm.len() - 1,
        ..RuntimeConfig::default()
    });
    assert!(matches!(
        err(under.load(&wasm)),
        RuntimeError::TooLarge { .. }
    ));

    // Under the default 8 MiB cap: 7 MiB of padding loads, 8 MiB does not.
    let rt = runtime();
    let padded = |mib: usize| with_custom_section(wasm.clone(), "padding", &vec![0; mib << 20]);
    rt.load(&padded(7)).unwrap();
    assert!(matches!(
        err(rt.load(&padded(8))),
        RuntimeError::TooLarge { cap, .. } if cap == 8 << 20
    ));
    assert_good_pack_still_works(&rt);
}

/// A valid pack with `n` extra exported functions: slow enough to compile
/// that a zero compile bound always passes first.
fn many_functions(n: usize) -> Vec<u8> {
    let mut text = String::from(
        r#"(module
  (@custom "kaohe-manifest" "{\"manifest_version\":1,\"abi_version\":1,\"fields\":[],\"indicators\":[]}")
  (memory (export "memory") 1)
  (func (export "kaohe_abi_version") (result i32) (i32.const 1))
  (func (export "kaohe_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "kaohe_evaluate") (param i32 i32) (result i64) (i64.const 0))
  (func (export "kaohe_finalise") (param i32 i32) (result i64) (i64.const 0))
"#,
    );
    for i in 0..n {
        text.push_str(&format!(
            "  (func (export \"f{i}\") (param i64) (result i64)
    (i64.add (i64.mul (local.get 0) (i64.const {i})) (i64.rotl (local.get 0) (i64.const 7))))\n"
        ));
    }
    text.push(')');
    wat::parse_str(&text).unwrap()
}

#[test]
fn compilation_beyond_its_bound_is_abandoned() {
    // The timeout is the backstop for what the static limits cannot see:
    // lift the function and export limits so this module reaches the
    // compiler.
    let big = many_functions(5000);
    let lifted = CompileLimits {
        max_functions: 10_000,
        max_exports: 10_000,
        ..CompileLimits::default()
    };
    let rt = runtime_with(RuntimeConfig {
        compile_timeout: Duration::ZERO,
        compile_limits: lifted.clone(),
        ..RuntimeConfig::default()
    });
    assert!(matches!(
        err(rt.load(&big)),
        RuntimeError::CompileTimeout { .. }
    ));

    let patient = runtime_with(RuntimeConfig {
        compile_limits: lifted,
        ..RuntimeConfig::default()
    });
    patient.load(&big).unwrap().call_evaluate(&[], 0).unwrap();
    assert_good_pack_still_works(&patient);
}

#[test]
fn invalid_configs_are_refused() {
    for config in [
        RuntimeConfig {
            memory_cap_bytes: 100_000,
            ..RuntimeConfig::default()
        },
        RuntimeConfig {
            max_concurrent_instances: 0,
            ..RuntimeConfig::default()
        },
        RuntimeConfig {
            epoch_tick: Duration::ZERO,
            ..RuntimeConfig::default()
        },
    ] {
        assert!(matches!(err(Runtime::new(config)), RuntimeError::Config(_)));
    }
}
