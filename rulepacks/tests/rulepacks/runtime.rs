//! The sandboxed runtime against a hand-written ABI pack and hostile guests
//! (`fixtures/wat/`). Every limit is tested obeyed and broken, and after
//! every failure the same `Runtime` must still evaluate the good pack
//! correctly. No test asserts on durations: only on error kinds and bytes.
//!
//! Layout: this file holds the helpers, the ABI pack read by hand and
//! determinism; `limits` (fuel, deadline, memory, stack, traps),
//! `refusals` (bad output, load-time refusals) and `cache` one file each.

use std::path::{Path, PathBuf};
use std::time::Duration;

use kaohe_rulepacks::runtime::{
    Allocator, BadInputCode, CacheOutcome, CompileLimits, Counts, Entry, LoadedPack, Runtime,
    RuntimeConfig, RuntimeError,
};

mod cache;
mod limits;
mod refusals;

// ---------------------------------------------------------------- helpers

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/wat")
        .join(format!("{name}.wat"));
    wat::parse_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn runtime() -> Runtime {
    runtime_with(RuntimeConfig::default())
}

fn runtime_with(config: RuntimeConfig) -> Runtime {
    Runtime::new(config).expect("runtime")
}

/// A config whose fuel never runs out, so only the epoch deadline (10 ms
/// ticks, 30 of them) can stop an endless loop.
fn deadline_only_config() -> RuntimeConfig {
    RuntimeConfig {
        wasm_fuel_base: u64::MAX / 4,
        max_wasm_fuel_per_call: u64::MAX,
        fuel_per_deadline_tick: 0,
        epoch_tick: Duration::from_millis(10),
        deadline_ticks: 30,
        ..RuntimeConfig::default()
    }
}

/// Unwraps an error and checks its message is bilingual (has CJK text).
fn err<T: std::fmt::Debug>(result: Result<T, RuntimeError>) -> RuntimeError {
    let e = result.expect_err("expected an error");
    let msg = e.to_string();
    assert!(
        msg.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
            && msg.chars().any(|c| c.is_ascii_alphabetic()),
        "message not bilingual: {msg}"
    );
    e
}

/// Appends a custom section (custom sections may end a module).
fn with_custom_section(mut wasm: Vec<u8>, name: &str, payload: &[u8]) -> Vec<u8> {
    let mut body = leb128(name.len());
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(payload);
    wasm.push(0);
    wasm.extend(leb128(body.len()));
    wasm.extend(body);
    wasm
}

fn leb128(mut n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}

fn i64_at(b: &[u8], off: usize) -> i64 {
    i64::from_le_bytes(b[off..off + 8].try_into().unwrap())
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
}

/// One evaluate unit of abi-pack: (category, round, methods, reserved,
/// [(present, value); 2]).
type EvalUnit = (u32, u32, u32, u32, [(i64, i64); 2]);

fn evaluate_input(magic: &[u8; 4], abi: u32, f: u32, units: &[EvalUnit]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(magic);
    b.extend(abi.to_le_bytes());
    b.extend((units.len() as u32).to_le_bytes());
    b.extend(f.to_le_bytes());
    for (category, round, methods, reserved, fields) in units {
        for w in [category, round, methods, reserved] {
            b.extend(w.to_le_bytes());
        }
        for (present, value) in fields {
            b.extend(present.to_le_bytes());
            b.extend(value.to_le_bytes());
        }
    }
    b
}

/// One finalise unit of abi-pack: (category, flags, penalty_cap,
/// [(present, score); 2]).
type FinUnit = (u32, u32, i64, [(i64, i64); 2]);

fn finalise_input(units: &[FinUnit]) -> Vec<u8> {
    let mut b = b"KHFI".to_vec();
    b.extend(1u32.to_le_bytes());
    b.extend((units.len() as u32).to_le_bytes());
    b.extend(2u32.to_le_bytes());
    for (category, flags, cap, indicators) in units {
        b.extend(category.to_le_bytes());
        b.extend(flags.to_le_bytes());
        b.extend(cap.to_le_bytes());
        for (present, score) in indicators {
            b.extend(present.to_le_bytes());
            b.extend(score.to_le_bytes());
        }
    }
    b
}

/// Five units exercising every path of abi-pack's evaluate.
fn sample_units() -> Vec<EvalUnit> {
    vec![
        // 3 sessions, plan: nothing deducted
        (0, 0, 1, 0, [(1, 300), (1, 100)]),
        // 1 session, no plan: clause L1a fires (−2), L2 scores 0
        (0, 0, 1, 0, [(1, 100), (1, 0)]),
        // sessions missing: status 1, detail field 0
        (0, 0, 1, 0, [(0, 0), (1, 100)]),
        // category 3 does not exist: status 6
        (3, 0, 1, 0, [(1, 300), (1, 100)]),
        // round 2: the annual method is not evaluated in a quarter
        (0, 2, 1, 0, [(1, 300), (1, 100)]),
    ]
}

/// Decoded evaluate unit: (status, detail, fuel_used, [(state, score); 2],
/// [(fired, amount); 1]).
type EvalOut = (u32, u32, u64, [(i64, i64); 2], [(i64, i64); 1]);

fn decode_evaluate(out: &[u8], n: usize) -> Vec<EvalOut> {
    assert_eq!(out.len(), n * 64, "16 + 16·2 + 16·1 bytes per unit");
    (0..n)
        .map(|u| {
            let o = u * 64;
            (
                u32_at(out, o),
                u32_at(out, o + 4),
                u64_at(out, o + 8),
                [
                    (i64_at(out, o + 16), i64_at(out, o + 24)),
                    (i64_at(out, o + 32), i64_at(out, o + 40)),
                ],
                [(i64_at(out, o + 48), i64_at(out, o + 56))],
            )
        })
        .collect()
}

fn expected_sample() -> Vec<EvalOut> {
    vec![
        (0, 0, 8, [(1, 400), (1, 300)], [(0, 0)]),
        (0, 0, 8, [(1, 200), (1, 0)], [(1, 200)]),
        (1, 0, 0, [(0, 0), (0, 0)], [(0, 0)]),
        (6, 0, 0, [(0, 0), (0, 0)], [(0, 0)]),
        (0, 0, 0, [(0, 0), (0, 0)], [(0, 0)]),
    ]
}

fn sample_input() -> Vec<u8> {
    evaluate_input(b"KHEV", 1, 2, &sample_units())
}

/// The invariant behind every hostile test: the runtime that just refused
/// or stopped a pack still loads and runs the good pack correctly.
fn assert_good_pack_still_works(rt: &Runtime) {
    let pack = rt.load(&fixture("abi-pack")).expect("good pack loads");
    let out = pack
        .call_evaluate(&sample_input(), 5)
        .expect("good pack runs");
    assert_eq!(decode_evaluate(&out, 5), expected_sample());
}

fn n_and_zeros(n: u32) -> Vec<u8> {
    let mut b = vec![0u8; 16];
    b[8..12].copy_from_slice(&n.to_le_bytes());
    b
}

// ------------------------------------------------------------ the ABI pack

#[test]
fn abi_pack_loads_with_its_manifest_and_counts() {
    let wasm = fixture("abi-pack");
    let pack = runtime().load(&wasm).unwrap();
    assert_eq!(
        pack.counts(),
        Counts {
            fields: 2,
            indicators: 2,
            clauses: 1,
            abi_major: 1,
            abi_minor: 0,
        }
    );
    assert_eq!(
        pack.wasm_fuel_per_unit(),
        200_000,
        "taken from the manifest"
    );
    let manifest: serde_json::Value = serde_json::from_slice(pack.manifest_json()).unwrap();
    assert_eq!(manifest["pack"]["id"], "abi-demo");
    assert_eq!(manifest["pack"]["title"], "ABI 示例规则包");
    assert_eq!(pack.digest().as_slice(), {
        use sha2::Digest;
        sha2::Sha256::digest(&wasm).to_vec()
    });
    assert_eq!(*pack.cache_outcome(), CacheOutcome::Disabled);
    assert_eq!(pack.call_trivial().unwrap(), 1);
}

#[test]
fn abi_pack_evaluate_bytes_read_by_hand() {
    let pack = runtime().load(&fixture("abi-pack")).unwrap();
    let input = sample_input();
    assert_eq!(input.len() as u64, pack.counts().evaluate_input_len(5));
    let out = pack.call(Entry::Evaluate, &input, 5).unwrap();
    assert_eq!(out.bytes.len() as u64, pack.counts().evaluate_output_len(5));
    // Unit 1, read byte by byte: status 0, detail 0, fuel 8, L1 state 1
    // score 200, L2 state 1 score 0, clause fired 1 amount 200.
    let unit1 = &out.bytes[64..128];
    assert_eq!(&unit1[0..8], &[0, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(&unit1[8..16], &[8, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        &unit1[16..32],
        &[1, 0, 0, 0, 0, 0, 0, 0, 200, 0, 0, 0, 0, 0, 0, 0]
    );
    assert_eq!(
        &unit1[32..48],
        &[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    );
    assert_eq!(
        &unit1[48..64],
        &[1, 0, 0, 0, 0, 0, 0, 0, 200, 0, 0, 0, 0, 0, 0, 0]
    );
    assert_eq!(decode_evaluate(&out.bytes, 5), expected_sample());
    assert!(out.wasm_fuel_used > 0 && out.wasm_fuel_used <= pack.wasm_fuel_for(5));
}

#[test]
fn abi_pack_finalise_converts_grades_and_reports_missing() {
    let pack = runtime().load(&fixture("abi-pack")).unwrap();
    let units: Vec<FinUnit> = vec![
        (0, 0, 0, [(1, 400), (1, 300)]), // 7 of 7 → 100.00, excellent
        (0, 0, 0, [(1, 200), (1, 300)]), // 5 of 7 → 71.428… → 71.43, pass
        (0, 0, 0, [(1, 200), (1, 0)]),   // 2 of 7 → 28.571… → 28.57, fail
        (0, 0, 0, [(1, 400), (0, 0)]),   // L2 missing: status 5, detail 1
    ];
    let input = finalise_input(&units);
    assert_eq!(input.len() as u64, pack.counts().finalise_input_len(4));
    let out = pack.call_finalise(&input, 4).unwrap();
    assert_eq!(out.len(), 4 * 72);
    let unit = |u: usize| {
        let o = u * 72;
        let words: Vec<i64> = (0..8).map(|k| i64_at(&out, o + 8 + 8 * k)).collect();
        (u32_at(&out, o), u32_at(&out, o + 4), words)
    };
    // applicable, raw, converted, bonus, penalty, total, grade, flags
    assert_eq!(unit(0), (0, 0, vec![700, 700, 10000, 0, 0, 10000, 0, 0]));
    assert_eq!(unit(1), (0, 0, vec![700, 500, 7143, 0, 0, 7143, 2, 0]));
    assert_eq!(unit(2), (0, 0, vec![700, 200, 2857, 0, 0, 2857, 3, 0]));
    assert_eq!(unit(3), (5, 1, vec![0; 8]));
}

#[test]
fn abi_pack_batch_refusals_map_to_bad_input_codes() {
    let rt = runtime();
    let pack = rt.load(&fixture("abi-pack")).unwrap();
    let units = sample_units();
    let cases = [
        (
            evaluate_input(b"XXXX", 1, 2, &units),
            BadInputCode::BadMagic,
        ),
        (
            evaluate_input(b"KHEV", 2, 2, &units),
            BadInputCode::WrongAbiVersion,
        ),
        (
            evaluate_input(b"KHEV", 1, 3, &units),
            BadInputCode::CountsMismatch,
        ),
    ];
    for (input, code) in cases {
        match err(pack.call_evaluate(&input, 5)) {
            RuntimeError::BadInput(got) => assert_eq!(got, code),
            other => panic!("expected BadInput({code:?}), got {other:?}"),
        }
    }
    let mut short = sample_input();
    short.pop();
    assert!(matches!(
        err(pack.call_evaluate(&short, 5)),
        RuntimeError::BadInput(BadInputCode::LengthMismatch)
    ));
    assert_good_pack_still_works(&rt);
}

#[test]
fn output_length_must_match_the_counts_for_n_units() {
    let pack = runtime().load(&fixture("abi-pack")).unwrap();
    // The input holds 5 units; a caller claiming 4 gets a length mismatch.
    assert!(matches!(
        err(pack.call_evaluate(&sample_input(), 4)),
        RuntimeError::MalformedOutput(_)
    ));
}

// ------------------------------------------------------------ determinism

#[test]
fn same_input_same_bytes_across_stores_runtimes_and_allocators() {
    let wasm = fixture("abi-pack");
    let input = sample_input();
    let pooled = runtime().load(&wasm).unwrap();
    let first = pooled.call(Entry::Evaluate, &input, 5).unwrap();
    let second = pooled.call(Entry::Evaluate, &input, 5).unwrap();
    assert_eq!(first, second, "fresh stores, same bytes and fuel");

    let on_demand = runtime_with(RuntimeConfig {
        allocator: Allocator::OnDemand,
        ..RuntimeConfig::default()
    })
    .load(&wasm)
    .unwrap();
    let third = on_demand.call(Entry::Evaluate, &input, 5).unwrap();
    assert_eq!(first, third, "another Runtime, another allocator");

    let fin = finalise_input(&[(0, 0, 0, [(1, 200), (1, 300)])]);
    assert_eq!(
        pooled.call(Entry::Finalise, &fin, 1).unwrap(),
        on_demand.call(Entry::Finalise, &fin, 1).unwrap()
    );
}

#[test]
fn nothing_survives_between_batches() {
    // counter.wat counts its calls in a global and in memory; with a fresh
    // store per batch every call is its first.
    let pack = runtime().load(&fixture("counter")).unwrap();
    for _ in 0..3 {
        let out = pack.call_evaluate(&[], 1).unwrap();
        assert_eq!((u32_at(&out, 0), u32_at(&out, 4)), (1, 1));
    }
    // The same through a pooling slot that was used before (one slot).
    let one_slot = runtime_with(RuntimeConfig {
        max_concurrent_instances: 1,
        ..RuntimeConfig::default()
    });
    let pack = one_slot.load(&fixture("counter")).unwrap();
    for _ in 0..3 {
        let out = pack.call_evaluate(&[], 1).unwrap();
        assert_eq!((u32_at(&out, 0), u32_at(&out, 4)), (1, 1));
    }
}

/// Grows memory by `pages`, reports the word at `addr` and overwrites it.
const SCRIBBLE_WAT: &str = r#"(module
  (@custom "kaohe-manifest" "{\"manifest_version\":1,\"abi_version\":1,\"fields\":[],\"indicators\":[]}")
  (memory (export "memory") 1)
  (func (export "kaohe_abi_version") (result i32) (i32.const 1))
  (func (export "kaohe_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "kaohe_evaluate") (param $p i32) (param $n i32) (result i64)
    (local $addr i32)
    (drop (memory.grow (i32.load (local.get $p))))
    (local.set $addr (i32.load offset=4 (local.get $p)))
    (i32.store (i32.const 2048) (i32.load (local.get $addr)))
    (i32.store (local.get $addr) (i32.const 0x5a5a5a5a))
    (i64.or (i64.shl (i64.const 2048) (i64.const 32)) (i64.const 16)))
  (func (export "kaohe_finalise") (param i32 i32) (result i64) (i64.const 0)))"#;

#[test]
fn reused_slots_are_clean_and_bounded_whatever_the_memory_settings() {
    // A pooling slot reused by the next store, with memory kept resident
    // (reset by memset) or released, with bounds checks elided (4 GiB
    // reservation, guard pages) or explicit: what one batch wrote is gone,
    // and memory the previous store had grown into is out of bounds again.
    let scribble = |pages: u32, addr: u32| {
        let mut b = pages.to_le_bytes().to_vec();
        b.extend(addr.to_le_bytes());
        b
    };
    let high = 3 * 65_536 + 100;
    for elide_bounds_checks in [true, false] {
        for memory_keep_resident_bytes in [0, RuntimeConfig::default().memory_keep_resident_bytes] {
            let rt = runtime_with(RuntimeConfig {
                max_concurrent_instances: 1,
                elide_bounds_checks,
                memory_keep_resident_bytes,
                ..RuntimeConfig::default()
            });
            let what = format!("elide {elide_bounds_checks}, keep {memory_keep_resident_bytes}");
            let pack = rt.load(&wat::parse_str(SCRIBBLE_WAT).unwrap()).unwrap();
            for (pages, addr) in [(3, high), (3, high), (0, 100), (0, 100)] {
                let out = pack.call_evaluate(&scribble(pages, addr), 1).unwrap();
                assert_eq!(u32_at(&out, 0), 0, "{what}: stale word at {addr}");
            }
            match err(pack.call_evaluate(&scribble(0, high), 1)) {
                RuntimeError::Trap(msg) => assert!(msg.contains("out of bounds"), "{what}: {msg}"),
                other => panic!("{what}: expected Trap, got {other:?}"),
            }
            // Past the 64 MiB cap but inside the 4 GiB reservation.
            match err(pack.call_evaluate(&scribble(0, (64 << 20) + 8), 1)) {
                RuntimeError::Trap(msg) => assert!(msg.contains("out of bounds"), "{what}: {msg}"),
                other => panic!("{what}: expected Trap, got {other:?}"),
            }
            assert_good_pack_still_works(&rt);
        }
    }
}

#[test]
fn concurrent_calls_wait_for_a_slot_instead_of_failing() {
    // One pooling slot, four threads: without the gate, instantiation
    // would fail with the pool exhausted.
    let rt = runtime_with(RuntimeConfig {
        max_concurrent_instances: 1,
        ..RuntimeConfig::default()
    });
    let pack = rt.load(&fixture("abi-pack")).unwrap();
    fn shareable<T: Send + Sync>(_: &T) {}
    shareable(&rt);
    shareable(&pack);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..5 {
                    let out = pack.call_evaluate(&sample_input(), 5).unwrap();
                    assert_eq!(decode_evaluate(&out, 5), expected_sample());
                }
            });
        }
    });
}
