//! Every limit obeyed and broken: fuel, the epoch deadline, memory and
//! table growth, the stack, and traps reported with their cause.

use super::*;

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
