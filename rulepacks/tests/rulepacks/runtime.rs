//! The sandboxed runtime against a hand-written ABI pack and hostile guests
//! (`fixtures/wat/`). Every limit is tested obeyed and broken, and after
//! every failure the same `Runtime` must still evaluate the good pack
//! correctly. No test asserts on durations: only on error kinds and bytes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use kaohe_rulepacks::runtime::{
    Allocator, BadInputCode, CacheOutcome, Counts, Entry, LoadedPack, Runtime, RuntimeConfig,
    RuntimeError,
};

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
            clauses: 1
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

// ---------------------------------------------------------------- fuel

#[test]
fn bounded_loop_obeys_fuel_endless_loop_runs_out() {
    let rt = runtime();
    let spin = rt.load(&fixture("spin")).unwrap();
    let mut input = n_and_zeros(0);
    input[0..8].copy_from_slice(&1000u64.to_le_bytes());
    spin.call_evaluate(&input, 0).unwrap();

    let endless = rt.load(&fixture("endless-loop")).unwrap();
    assert!(matches!(
        err(endless.call_evaluate(&[], 0)),
        RuntimeError::OutOfFuel
    ));
    assert_good_pack_still_works(&rt);
}

#[test]
fn fuel_grows_with_the_units_of_the_batch() {
    // spin's manifest grants 1 000 000 fuel per unit; 1 000 000 iterations
    // cost about 8 fuel each. One unit (1.1 M) is too little, twenty
    // (20.1 M) enough.
    let rt = runtime_with(RuntimeConfig {
        wasm_fuel_base: 100_000,
        ..RuntimeConfig::default()
    });
    let spin = rt.load(&fixture("spin")).unwrap();
    assert_eq!(spin.wasm_fuel_per_unit(), 1_000_000);
    let input = |n: u32| {
        let mut b = n_and_zeros(n);
        b[0..8].copy_from_slice(&1_000_000u64.to_le_bytes());
        b
    };
    assert!(matches!(
        err(spin.call_evaluate(&input(1), 1)),
        RuntimeError::OutOfFuel
    ));
    let a = spin.call(Entry::Evaluate, &input(20), 20).unwrap();
    let b = spin.call(Entry::Evaluate, &input(20), 20).unwrap();
    assert_eq!(a.bytes.len(), 20 * 16);
    assert!(
        a.wasm_fuel_used > 1_000_000,
        "at least one fuel per iteration"
    );
    assert!(a.wasm_fuel_used <= spin.wasm_fuel_for(20));
    assert_eq!(a.wasm_fuel_used, b.wasm_fuel_used, "fuel is deterministic");
    assert_good_pack_still_works(&rt);
}

#[test]
fn start_function_bounded_runs_endless_runs_out_at_load() {
    let rt = runtime();
    let bounded = rt.load(&fixture("start-bounded")).unwrap();
    assert_eq!(bounded.call_trivial().unwrap(), 1, "the start function ran");
    bounded.call_evaluate(&[], 0).unwrap();

    assert!(matches!(
        err(rt.load(&fixture("start-loop"))),
        RuntimeError::OutOfFuel
    ));
    assert_good_pack_still_works(&rt);
}

#[test]
fn manifest_asking_more_fuel_than_the_host_ceiling_is_refused() {
    let manifest = br#"{"manifest_version":1,"abi_version":1,"fields":[],"indicators":[],
        "limits":{"wasm_fuel_per_unit":100000001}}"#;
    let wasm = with_custom_section(fixture("no-manifest"), "kaohe-manifest", manifest);
    let rt = runtime();
    assert!(matches!(
        err(rt.load(&wasm)),
        RuntimeError::ManifestInvalid(_)
    ));
    let ok = br#"{"manifest_version":1,"abi_version":1,"fields":[],"indicators":[],
        "limits":{"wasm_fuel_per_unit":100000000}}"#;
    let wasm = with_custom_section(fixture("no-manifest"), "kaohe-manifest", ok);
    assert_eq!(rt.load(&wasm).unwrap().wasm_fuel_per_unit(), 100_000_000);
}

// ------------------------------------------------------------ deadline

#[test]
fn endless_loop_with_huge_fuel_hits_the_deadline() {
    let rt = runtime_with(deadline_only_config());
    let endless = rt.load(&fixture("endless-loop")).unwrap();
    assert!(matches!(
        err(endless.call_evaluate(&[], 0)),
        RuntimeError::DeadlineExceeded
    ));
    // Work within the deadline completes under the same config.
    assert_good_pack_still_works(&rt);
}

#[test]
fn endless_start_function_with_huge_fuel_hits_the_deadline() {
    let rt = runtime_with(deadline_only_config());
    assert!(matches!(
        err(rt.load(&fixture("start-loop"))),
        RuntimeError::DeadlineExceeded
    ));
    assert_good_pack_still_works(&rt);
}

#[test]
fn pack_outliving_its_runtime_handle_keeps_the_ticker() {
    let rt = runtime_with(deadline_only_config());
    let endless = rt.load(&fixture("endless-loop")).unwrap();
    drop(rt);
    // Without the epoch ticker this would never return.
    assert!(matches!(
        err(endless.call_evaluate(&[], 0)),
        RuntimeError::DeadlineExceeded
    ));
}

// ---------------------------------------------------------------- memory

fn grow_input(pages: u32, table_elements: u32) -> Vec<u8> {
    let mut b = pages.to_le_bytes().to_vec();
    b.extend(table_elements.to_le_bytes());
    b
}

#[test]
fn memory_growth_within_cap_succeeds_growth_bomb_is_out_of_memory() {
    let rt = runtime();
    let grow = rt.load(&fixture("grow")).unwrap();
    grow.call_evaluate(&grow_input(16, 0), 0).unwrap();
    // 1 + 1023 pages is exactly the 64 MiB cap.
    grow.call_evaluate(&grow_input(1023, 0), 0).unwrap();
    assert!(matches!(
        err(grow.call_evaluate(&grow_input(1024, 0), 0)),
        RuntimeError::OutOfMemory { cap_bytes } if cap_bytes == 64 << 20
    ));
    assert!(matches!(
        err(grow.call_evaluate(&grow_input(u32::MAX, 0), 0)),
        RuntimeError::OutOfMemory { .. }
    ));
    assert_good_pack_still_works(&rt);
}

#[test]
fn table_growth_within_cap_succeeds_beyond_is_refused() {
    let rt = runtime();
    let grow = rt.load(&fixture("grow")).unwrap();
    grow.call_evaluate(&grow_input(0, 9_999), 0).unwrap();
    assert!(matches!(
        err(grow.call_evaluate(&grow_input(0, 10_000), 0)),
        RuntimeError::TableTooLarge {
            elements: 10_001,
            cap: 10_000
        }
    ));
    assert_good_pack_still_works(&rt);
}

#[test]
fn huge_declared_memory_refused_at_load_fits_a_bigger_cap() {
    let rt = runtime();
    assert!(matches!(
        err(rt.load(&fixture("huge-memory"))),
        RuntimeError::MemoryTooLarge { declared_bytes, cap_bytes }
            if declared_bytes == 128 << 20 && cap_bytes == 64 << 20
    ));
    assert_good_pack_still_works(&rt);

    let big = runtime_with(RuntimeConfig {
        memory_cap_bytes: 128 << 20,
        max_concurrent_instances: 2,
        ..RuntimeConfig::default()
    });
    big.load(&fixture("huge-memory"))
        .unwrap()
        .call_evaluate(&[], 0)
        .unwrap();
}

#[test]
fn huge_table_refused_at_load_fits_a_bigger_cap() {
    let rt = runtime();
    assert!(matches!(
        err(rt.load(&fixture("huge-table"))),
        RuntimeError::TableTooLarge {
            elements: 100_000,
            cap: 10_000
        }
    ));
    assert_good_pack_still_works(&rt);

    let big = runtime_with(RuntimeConfig {
        max_table_elements: 100_000,
        ..RuntimeConfig::default()
    });
    big.load(&fixture("huge-table"))
        .unwrap()
        .call_evaluate(&[], 0)
        .unwrap();
}

#[test]
fn input_beyond_the_memory_cap_is_refused_before_running() {
    let rt = runtime_with(RuntimeConfig {
        memory_cap_bytes: 64 << 10,
        ..RuntimeConfig::default()
    });
    let pack = rt.load(&fixture("abi-pack")).unwrap();
    assert!(matches!(
        err(pack.call_evaluate(&vec![0; (64 << 10) + 1], 1)),
        RuntimeError::InputTooLarge { .. }
    ));
    assert_good_pack_still_works(&rt);
}

// ---------------------------------------------------------------- stack

#[test]
fn shallow_recursion_runs_deep_recursion_overflows_the_stack() {
    let rt = runtime();
    let recurse = rt.load(&fixture("recurse")).unwrap();
    recurse.call_evaluate(&1000u32.to_le_bytes(), 0).unwrap();
    assert!(matches!(
        err(recurse.call_evaluate(&u32::MAX.to_le_bytes(), 0)),
        RuntimeError::StackOverflow
    ));
    assert_good_pack_still_works(&rt);
}

// ---------------------------------------------------------------- traps

#[test]
fn traps_are_reported_with_their_cause() {
    let rt = runtime();
    let trap = rt.load(&fixture("trap")).unwrap();
    match err(trap.call_evaluate(&[], 0)) {
        RuntimeError::Trap(msg) => assert!(msg.contains("unreachable"), "{msg}"),
        other => panic!("expected Trap, got {other:?}"),
    }
    match err(trap.call_finalise(&[], 0)) {
        RuntimeError::Trap(msg) => assert!(msg.contains("out of bounds"), "{msg}"),
        other => panic!("expected Trap, got {other:?}"),
    }
    assert_good_pack_still_works(&rt);
}

// ------------------------------------------------------------ bad output

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
        RuntimeError::AbiVersionMismatch { found: 2 }
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
    let abi2 = br#"{"manifest_version":1,"abi_version":2,"fields":[],"indicators":[]}"#;
    assert!(matches!(
        err(rt.load(&with(abi2))),
        RuntimeError::ManifestVersionMismatch {
            field: "abi_version",
            found: 2
        }
    ));
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
    let big = many_functions(5000);
    let rt = runtime_with(RuntimeConfig {
        compile_timeout: Duration::ZERO,
        ..RuntimeConfig::default()
    });
    assert!(matches!(
        err(rt.load(&big)),
        RuntimeError::CompileTimeout { .. }
    ));

    let patient = runtime();
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

// ---------------------------------------------------------------- cache

fn cached_runtime(dir: &Path) -> Runtime {
    runtime_with(RuntimeConfig {
        cache_dir: Some(dir.to_owned()),
        ..RuntimeConfig::default()
    })
}

fn only_entry(dir: &Path) -> PathBuf {
    let entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(
        entries.len(),
        1,
        "one entry, no temporary files: {entries:?}"
    );
    entries.into_iter().next().unwrap()
}

fn sample_output(pack: &LoadedPack) -> Vec<u8> {
    pack.call_evaluate(&sample_input(), 5).unwrap()
}

#[test]
fn cache_stores_then_hits_across_runtimes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("modules");
    let wasm = fixture("abi-pack");

    let first = cached_runtime(&dir).load(&wasm).unwrap();
    assert_eq!(*first.cache_outcome(), CacheOutcome::Stored);
    let entry = only_entry(&dir);
    let name = entry.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with(&hex::encode(first.digest())), "{name}");

    let second = cached_runtime(&dir).load(&wasm).unwrap();
    assert_eq!(*second.cache_outcome(), CacheOutcome::Hit);
    assert_eq!(sample_output(&first), sample_output(&second));
    assert_eq!(
        decode_evaluate(&sample_output(&second), 5),
        expected_sample()
    );
}

#[test]
fn corrupted_cache_entry_is_rejected_recompiled_and_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("modules");
    let wasm = fixture("abi-pack");
    cached_runtime(&dir).load(&wasm).unwrap();
    let entry = only_entry(&dir);
    let mut bytes = std::fs::read(&entry).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    std::fs::write(&entry, &bytes).unwrap();

    let again = cached_runtime(&dir).load(&wasm).unwrap();
    assert!(
        matches!(again.cache_outcome(), CacheOutcome::Rejected(r) if r.contains("checksum")),
        "{:?}",
        again.cache_outcome()
    );
    assert_eq!(
        decode_evaluate(&sample_output(&again), 5),
        expected_sample()
    );
    assert_eq!(
        *cached_runtime(&dir).load(&wasm).unwrap().cache_outcome(),
        CacheOutcome::Hit
    );
}

#[cfg(unix)]
#[test]
fn cache_refuses_directories_and_entries_others_can_write() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("modules");
    let wasm = fixture("abi-pack");
    cached_runtime(&dir).load(&wasm).unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700, "created private");
    let entry = only_entry(&dir);
    assert_eq!(mode(&entry), 0o600, "written private");

    std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o666)).unwrap();
    let pack = cached_runtime(&dir).load(&wasm).unwrap();
    assert!(
        matches!(pack.cache_outcome(), CacheOutcome::Rejected(r) if r.contains("writable")),
        "{:?}",
        pack.cache_outcome()
    );

    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    assert!(matches!(
        err(Runtime::new(RuntimeConfig {
            cache_dir: Some(dir.clone()),
            ..RuntimeConfig::default()
        })),
        RuntimeError::Cache(_)
    ));
}
