//! `cargo bench -p kaohe-rulepacks --bench pack`: the Baofeng 2022 pack
//! (ABI 2, as `kaohe pack build` makes it, and the same rubric as an ABI 1
//! pack beside it) on a full sheet (all methods, every category, the annual round and the four
//! quarters, complete evidence with a realistic mix of deductions) through
//! the sandboxed runtime in batches of 1 and of 1,000, through the
//! reference interpreter, and the floor every batch pays: a fresh store,
//! instantiation and a trivial call; and the whole-sheet path hosts run
//! (typed units → five rounds decoded → merged → finalised) through the
//! `Pack` and the interpreter. Prints numbers and `ratio NAME VALUE`
//! lines; asserts nothing about time. Runs in about ten seconds.
//!
//! `KAOHE_BENCH_WHATIF=1` adds what the same pack does on engines
//! configured like the runtime's but with other memory settings (kept
//! resident across stores, a 4 GiB reservation without explicit bounds
//! checks), and the evaluation code alone (one instance, memory already
//! faulted in) — to see where a batch's time goes. `KAOHE_BENCH_SPAN_MS`
//! sets how long each measurement runs (default 1500).

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use kaohe_rulepacks::abi::{self, UnitInput, UnitOutput, merge_outputs};
use kaohe_rulepacks::compile;
use kaohe_rulepacks::interp::Interpreter;
use kaohe_rulepacks::manifest::{ABI_V1, FieldType, Manifest, Missing, Round};
use kaohe_rulepacks::pack::{Evaluator, Pack};
use kaohe_rulepacks::runtime::{Runtime, RuntimeConfig};

fn main() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("baofeng-2022/rubric.toml");
    let rubric = kaohe_rulepacks::rubric::load(&path).expect("the 2022 rubric compiles");
    let m = &rubric.manifest;
    assert!(m.is_v2(), "kaohe pack build emits ABI 2");
    let wasm = compile::compile(&rubric).expect("the compiler accepts it");
    let mut config = RuntimeConfig::default();
    if let Some(f) = std::env::var("KAOHE_BENCH_MAX_FUEL_PER_CALL")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        config.max_wasm_fuel_per_call = f;
    }
    let runtime = Runtime::new(config).expect("runtime");
    let pack = runtime.load(&wasm).expect("the runtime loads the pack");
    let interp = Interpreter::new(&rubric);
    // The same rubric as an ABI 1 pack, for comparison.
    let rubric_v1 = rubric.clone().with_abi(ABI_V1);
    let m1 = &rubric_v1.manifest;
    let wasm_v1 = compile::compile(&rubric_v1).expect("the compiler accepts it as ABI 1");
    let pack_v1 = runtime
        .load(&wasm_v1)
        .expect("the runtime loads the ABI 1 pack");
    let interp_v1 = Interpreter::new(&rubric_v1);

    let units = evidence(m, 1000);
    let batch = abi::encode_evaluate_input(m, &units).expect("encodes");
    let batch_v1 = abi::encode_evaluate_input(m1, &units).expect("encodes");
    let singles: Vec<Vec<u8>> = units
        .iter()
        .map(|u| abi::encode_evaluate_input(m, std::slice::from_ref(u)).expect("encodes"))
        .collect();
    // Sanity, not timing: the packs and the interpreters agree on the
    // bench input, ABI 1 and 2 say the same, and it is mostly ok units.
    let want = interp.evaluate_bytes(&batch).expect("interpreter");
    assert!(
        pack.call_evaluate(&batch, 1000).expect("pack") == want,
        "pack and interpreter disagree"
    );
    let want_v1 = interp_v1.evaluate_bytes(&batch_v1).expect("interpreter");
    assert!(
        pack_v1.call_evaluate(&batch_v1, 1000).expect("pack") == want_v1,
        "ABI 1 pack and interpreter disagree"
    );
    let outs = abi::decode_evaluate_output(m, 1000, &want).expect("decodes");
    assert_eq!(
        outs,
        abi::decode_evaluate_output(m1, 1000, &want_v1).expect("decodes"),
        "ABI 1 and 2 outputs say different things"
    );
    let ok = outs.iter().filter(|o| o.status.is_ok()).count();
    let fired: usize = outs
        .iter()
        .map(|o| o.clauses.iter().flatten().count())
        .sum();
    let fuel: u64 = outs.iter().map(|o| o.fuel_used).sum();

    println!(
        "kaohe rule pack benchmark — {} {} (v{}), ABI {} beside ABI 1",
        m.pack.id, m.pack.year, m.pack.version, m.abi_version
    );
    println!(
        "  module {} bytes (ABI 1: {}); {} fields, {} indicators, {} clauses; 1000 units: {ok} ok, {fired} clauses fired, {:.0} rubric fuel per unit",
        wasm.len(),
        wasm_v1.len(),
        m.fields.len(),
        m.indicators.len(),
        m.clause_count(),
        fuel as f64 / 1000.0
    );
    println!(
        "  bytes per unit — evaluate in {} (ABI 1: {}), out {:.0} (ABI 1: {}); finalise in {} (ABI 1: {})",
        m.evaluate_input_record(),
        m1.evaluate_input_record(),
        want.len() as f64 / 1000.0,
        m1.evaluate_output_record(),
        m.finalise_input_record(),
        m1.finalise_input_record()
    );

    let floor = rate(|| {
        black_box(pack.call_trivial().expect("trivial call"));
        1
    });
    // Each pack rate is measured paired with its interpreter baseline
    // (alternating slices), so a ratio is not the load of the moment. The
    // baseline of `batch_evaluate` is the interpreter on ABI 1 bytes, as
    // issue #17 measured it; on the same ABI 2 bytes it is printed too.
    let interp_on = |i: &Interpreter, b: &[u8]| {
        black_box(i.evaluate_bytes(black_box(b)).expect("interpreter"));
        1000
    };
    let run_on = |p: &kaohe_rulepacks::runtime::LoadedPack, b: &[u8]| {
        black_box(p.call_evaluate(black_box(b), 1000).expect("batch of 1000"));
        1000
    };
    let (b1000, interp_v1_rate) = paired(
        || run_on(&pack, &batch),
        || interp_on(&interp_v1, &batch_v1),
    );
    let (b1000_v1, interp_v1_rate_b) = paired(
        || run_on(&pack_v1, &batch_v1),
        || interp_on(&interp_v1, &batch_v1),
    );
    let (b1000_c, interp_rate) = paired(|| run_on(&pack, &batch), || interp_on(&interp, &batch));
    let mut k = 0;
    let b1 = rate(|| {
        k = (k + 1) % singles.len();
        black_box(
            pack.call_evaluate(black_box(&singles[k]), 1)
                .expect("batch of 1"),
        );
        1
    });

    // The whole-sheet path as hosts run it: typed units in, each
    // assessee's five rounds decoded, merged and finalised.
    let typed = Pack::load_as_found(&runtime, &wasm).expect("the typed pack loads");
    let typed_v1 = Pack::load_as_found(&runtime, &wasm_v1).expect("the typed pack loads");
    let sheets = |e: &dyn Evaluator| -> u64 {
        let outs = e.evaluate(black_box(&units)).expect("evaluates");
        let mut sheets = Vec::with_capacity(units.len() / 5);
        for (a, rounds) in outs.chunks(5).enumerate() {
            let rounds: Vec<(Round, &UnitOutput)> =
                units[a * 5..].iter().map(|u| u.round).zip(rounds).collect();
            if let Ok(sheet) = merge_outputs(m, units[a * 5].category, &rounds, None) {
                sheets.push(sheet);
            }
        }
        black_box(e.finalise(&sheets).expect("finalises"));
        (units.len() / 5) as u64
    };
    assert_eq!(
        typed.evaluate(&units).expect("evaluates"),
        typed_v1.evaluate(&units).expect("evaluates"),
        "the typed ABI 1 and 2 paths disagree"
    );
    if let Some(n) = std::env::var("KAOHE_BENCH_PROFILE")
        .ok()
        .and_then(|s| s.parse::<u32>().ok())
    {
        // For a profiler: only the pack's whole-sheet path, n times.
        for _ in 0..n {
            sheets(&typed);
        }
        return;
    }
    let (sheet_pack, sheet_interp) = paired(|| sheets(&typed), || sheets(&interp));
    let (sheet_pack_v1, sheet_interp_b) = paired(|| sheets(&typed_v1), || sheets(&interp));

    println!();
    println!("  {:<50} {:>12} {:>10}", "", "per second", "µs each");
    row(
        "floor: fresh store + instantiate + trivial call",
        floor,
        "calls",
    );
    row(
        "interpreter (evaluate_bytes, batches of 1000)",
        interp_rate,
        "units",
    );
    row("  the same, ABI 1 bytes", interp_v1_rate, "units");
    row("runtime, batches of 1000", b1000, "units");
    row("  the same, ABI 1 pack", b1000_v1, "units");
    row("runtime, batches of 1", b1, "units = calls");
    row(
        "whole sheet, pack (5 rounds → merge → finalise)",
        sheet_pack,
        "sheets",
    );
    row("  the same, ABI 1 pack", sheet_pack_v1, "sheets");
    row("whole sheet, interpreter", sheet_interp, "sheets");
    println!();
    let batch_ratio = b1000 / interp_v1_rate;
    let sheet_ratio = sheet_pack / sheet_interp;
    println!("  batch-1000 ÷ interpreter:  {batch_ratio:.2}×   (aim ≥ 4×)");
    println!("  whole sheet ÷ interpreter: {sheet_ratio:.2}×   (aim ≥ 3×)");
    println!(
        "  batch-1 time ÷ floor time: {:.2}×   (aim ≤ 2×)",
        floor / b1
    );

    println!();
    println!("ratio batch_evaluate/interpreter {batch_ratio:.2}");
    println!(
        "ratio batch_evaluate/interpreter_same_abi2_bytes {:.2}",
        b1000_c / interp_rate
    );
    println!("ratio sheet/interpreter {sheet_ratio:.2}");
    println!(
        "ratio v1_batch_evaluate/interpreter {:.2}",
        b1000_v1 / interp_v1_rate_b
    );
    println!(
        "ratio v1_sheet/interpreter {:.2}",
        sheet_pack_v1 / sheet_interp_b
    );
    println!("ratio batch1_time/floor_time {:.2}", floor / b1);

    // Where a whole sheet's time goes, per sheet: the five rounds
    // evaluated (typed, as hosts call it), merged, finalised.
    let outs = typed.evaluate(&units).expect("evaluates");
    let merged: Vec<_> = outs
        .chunks(5)
        .enumerate()
        .filter_map(|(a, rounds)| {
            let rounds: Vec<(Round, &UnitOutput)> =
                units[a * 5..].iter().map(|u| u.round).zip(rounds).collect();
            merge_outputs(m, units[a * 5].category, &rounds, None).ok()
        })
        .collect();
    let per_sheet = (units.len() / 5) as u64;
    println!();
    println!("  a whole sheet, stage by stage (µs per sheet):");
    for (what, e) in [
        ("pack", &typed as &dyn Evaluator),
        ("ABI 1 pack", &typed_v1),
        ("interpreter", &interp),
    ] {
        let ev = rate(|| {
            black_box(e.evaluate(black_box(&units)).expect("evaluates"));
            per_sheet
        });
        let fin = rate(|| {
            black_box(e.finalise(black_box(&merged)).expect("finalises"));
            per_sheet
        });
        println!(
            "    {what:<12} evaluate 5 rounds {:>6.2}   finalise {:>6.2}",
            1e6 / ev,
            1e6 / fin
        );
    }
    let merge = rate(|| {
        for (a, rounds) in outs.chunks(5).enumerate() {
            let rounds: Vec<(Round, &UnitOutput)> =
                units[a * 5..].iter().map(|u| u.round).zip(rounds).collect();
            black_box(merge_outputs(m, units[a * 5].category, &rounds, None).ok());
        }
        per_sheet
    });
    println!("    merge (host, the same for all) {:>6.2}", 1e6 / merge);

    if std::env::var_os("KAOHE_BENCH_WHATIF").is_some() {
        whatif::run(&wasm, &batch, &singles, interp_rate, want.len());
    }
}

fn row(what: &str, per_s: f64, unit: &str) {
    println!("  {what:<50} {per_s:>12.0} {:>10.2}  ({unit})", 1e6 / per_s);
}

/// Runs `f` repeatedly for the span after a fifth of it as warm-up; `f`
/// returns the units it processed. Returns units per second.
fn rate(mut f: impl FnMut() -> u64) -> f64 {
    let span = std::env::var("KAOHE_BENCH_SPAN_MS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(Duration::from_millis(1500), Duration::from_millis);
    let warm = Instant::now();
    while warm.elapsed() < span / 5 {
        f();
    }
    let start = Instant::now();
    let mut units = 0u64;
    while start.elapsed() < span {
        units += f();
    }
    units as f64 / start.elapsed().as_secs_f64()
}

/// Rates of `a` and `b` measured in alternating slices of 20 ms over the
/// span (after a fifth of it as warm-up), so that a shared machine's load
/// falls on both alike: the ratio of the two is what a run is for.
fn paired(mut a: impl FnMut() -> u64, mut b: impl FnMut() -> u64) -> (f64, f64) {
    let span = std::env::var("KAOHE_BENCH_SPAN_MS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(Duration::from_millis(1500), Duration::from_millis);
    let slice = Duration::from_millis(20);
    let warm = Instant::now();
    while warm.elapsed() < span / 5 {
        a();
        b();
    }
    let (mut ta, mut tb) = (Duration::ZERO, Duration::ZERO);
    let (mut na, mut nb) = (0u64, 0u64);
    while ta + tb < 2 * span {
        let t = Instant::now();
        while t.elapsed() < slice {
            na += a();
        }
        ta += t.elapsed();
        let t = Instant::now();
        while t.elapsed() < slice {
            nb += b();
        }
        tb += t.elapsed();
    }
    (na as f64 / ta.as_secs_f64(), nb as f64 / tb.as_secs_f64())
}

/// A realistic evidence mix: assessees of every category, each with its
/// annual round and four quarters, all methods; every field supplied with
/// a value that is usually fine and sometimes earns a deduction.
fn evidence(m: &Manifest, n: usize) -> Vec<UnitInput> {
    let mut seed = 2022u64;
    let mut next = move || {
        seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let all = m.all_methods_mask();
    (0..n)
        .map(|k| {
            let assessee = k / 5;
            let round = Round::from_code((k % 5) as u32).expect("round");
            let category = (assessee % m.categories.len()) as u32;
            let values = m
                .fields
                .iter()
                .map(|f| {
                    let r = next();
                    if matches!(f.missing, Missing::Default(_)) && r % 4 == 0 {
                        return None;
                    }
                    Some(match f.kind {
                        FieldType::Bool => {
                            if r % 5 == 0 {
                                0
                            } else {
                                100
                            }
                        }
                        FieldType::Choice => ((r >> 8) % f.choices.len() as u64) as i64 * 100,
                        FieldType::Count | FieldType::Decimal => {
                            let lo = f.min.unwrap_or(0);
                            let hi = f.max.unwrap_or(lo + 10_000).min(lo + 10_000);
                            let step = if f.kind == FieldType::Count { 100 } else { 1 };
                            let span = ((hi - lo) / step + 1) as u64;
                            // Mostly small counts (few problems found).
                            let pick = if r % 3 == 0 {
                                (r >> 8) % span
                            } else {
                                (r >> 8) % span.min(4)
                            };
                            lo + pick as i64 * step
                        }
                    })
                })
                .collect();
            UnitInput {
                category,
                round,
                methods: all,
                values,
                not_applicable: Vec::new(),
            }
        })
        .collect()
}

/// The same pack on engines set up like `runtime::engine_config` except
/// for the memory settings under study. Diagnostics only: the runtime's
/// own configuration is the one the rows above measure.
mod whatif {
    use std::hint::black_box;
    use std::time::Instant;

    use wasmtime::{
        Config, Engine, InstanceAllocationStrategy, InstancePre, Linker, Module,
        PoolingAllocationConfig, Store,
    };

    use super::{rate, row};

    struct Engined {
        engine: Engine,
        pre: InstancePre<()>,
    }

    impl Engined {
        fn new(wasm: &[u8], keep_resident: usize, reservation: u64) -> Engined {
            let cap: u64 = 64 << 20;
            let mut c = Config::new();
            c.consume_fuel(true)
                .epoch_interruption(true)
                .cranelift_nan_canonicalization(true)
                .wasm_simd(false)
                .wasm_relaxed_simd(false)
                .wasm_multi_memory(false)
                .wasm_memory64(false)
                .max_wasm_stack(512 * 1024)
                .memory_reservation(reservation)
                .memory_may_move(false);
            let mut pool = PoolingAllocationConfig::new();
            pool.total_core_instances(16)
                .total_memories(16)
                .total_tables(16)
                .max_unused_warm_slots(16)
                .max_memories_per_module(1)
                .max_tables_per_module(1)
                .max_memory_size(reservation.max(cap) as usize)
                .table_elements(10_000)
                .linear_memory_keep_resident(keep_resident);
            c.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
            let engine = Engine::new(&c).expect("engine");
            let module = Module::new(&engine, wasm).expect("module");
            let pre = Linker::new(&engine)
                .instantiate_pre(&module)
                .expect("instance pre");
            Engined { engine, pre }
        }

        fn store(&self, fuel: u64) -> (Store<()>, wasmtime::Instance) {
            let mut store = Store::new(&self.engine, ());
            store.set_fuel(fuel).expect("fuel");
            store.set_epoch_deadline(u64::MAX / 2);
            let instance = self.pre.instantiate(&mut store).expect("instantiates");
            (store, instance)
        }

        fn trivial(&self) -> i32 {
            let (mut store, inst) = self.store(10_000_000);
            let f = inst
                .get_typed_func::<(), i32>(&mut store, "kaohe_abi_version")
                .expect("export");
            f.call(&mut store, ()).expect("runs")
        }

        /// The runtime's call sequence: fresh store, alloc, write, run,
        /// copy the output out.
        fn evaluate(&self, input: &[u8]) -> Vec<u8> {
            let (mut store, inst) = self.store(u64::MAX / 4);
            let mem = inst.get_memory(&mut store, "memory").expect("memory");
            let alloc = inst
                .get_typed_func::<i32, i32>(&mut store, "kaohe_alloc")
                .expect("alloc");
            let run = inst
                .get_typed_func::<(i32, i32), i64>(&mut store, "kaohe_evaluate")
                .expect("evaluate");
            let p = alloc
                .call(&mut store, input.len() as i32)
                .expect("alloc runs");
            mem.write(&mut store, p as usize, input)
                .expect("input fits");
            let r = run
                .call(&mut store, (p, input.len() as i32))
                .expect("evaluate runs");
            let (at, len) = ((r as u64 >> 32) as usize, (r as u64 & 0xffff_ffff) as usize);
            mem.data(&store)[at..at + len].to_vec()
        }

        /// Seconds per unit of `kaohe_evaluate` alone: one instance, the
        /// input written once, output memory faulted in beforehand.
        fn code_only(&self, input: &[u8], units: usize, reps: usize) -> f64 {
            let (mut store, inst) = self.store(u64::MAX / 4);
            let mem = inst.get_memory(&mut store, "memory").expect("memory");
            let alloc = inst
                .get_typed_func::<i32, i32>(&mut store, "kaohe_alloc")
                .expect("alloc");
            let run = inst
                .get_typed_func::<(i32, i32), i64>(&mut store, "kaohe_evaluate")
                .expect("evaluate");
            let p = alloc
                .call(&mut store, input.len() as i32)
                .expect("alloc runs");
            mem.write(&mut store, p as usize, input)
                .expect("input fits");
            let start = p as usize + input.len();
            let end = start + (reps + 1) * (units * 1700 + 64);
            let have = mem.data_size(&store);
            if end > have {
                mem.grow(&mut store, ((end - have) / 65536 + 1) as u64)
                    .expect("grows");
            }
            mem.data_mut(&mut store)[start..end].fill(0);
            let t = Instant::now();
            for _ in 0..reps {
                black_box(
                    run.call(&mut store, (p, input.len() as i32))
                        .expect("evaluate runs"),
                );
            }
            t.elapsed().as_secs_f64() / (reps * units) as f64
        }
    }

    /// The runtime itself under other memory settings, measured in the
    /// same process as the production rows so that the noise of a shared
    /// machine does not pass for a difference.
    fn runtime_variants(wasm: &[u8], batch: &[u8], singles: &[Vec<u8>], interp_rate: f64) {
        use kaohe_rulepacks::runtime::{Runtime, RuntimeConfig};
        let production = RuntimeConfig::default();
        println!();
        println!("  the runtime under other settings (same code path as the rows above):");
        for (elide, keep, what) in [
            (
                false,
                0,
                "old production: cap-sized reservation, nothing resident",
            ),
            (
                false,
                production.memory_keep_resident_bytes,
                "+ keep resident only",
            ),
            (true, 0, "+ 4 GiB reservation only"),
            (
                true,
                production.memory_keep_resident_bytes,
                "production (both)",
            ),
        ] {
            let rt = Runtime::new(RuntimeConfig {
                elide_bounds_checks: elide,
                memory_keep_resident_bytes: keep,
                table_keep_resident_bytes: if keep == 0 {
                    0
                } else {
                    production.table_keep_resident_bytes
                },
                ..RuntimeConfig::default()
            })
            .expect("runtime");
            let pack = rt.load(wasm).expect("loads");
            let floor = rate(|| {
                black_box(pack.call_trivial().expect("trivial"));
                1
            });
            let mut k = 0;
            let b1 = rate(|| {
                k = (k + 1) % singles.len();
                black_box(pack.call_evaluate(&singles[k], 1).expect("batch of 1"));
                1
            });
            let b1000 = rate(|| {
                black_box(pack.call_evaluate(batch, 1000).expect("batch of 1000"));
                1000
            });
            println!("  {what}");
            row("    floor", floor, "calls");
            row("    batches of 1", b1, "units = calls");
            row("    batches of 1000", b1000, "units");
            println!(
                "    batch-1000 ÷ interpreter {:.2}×; batch-1 ÷ floor {:.2}×",
                b1000 / interp_rate,
                floor / b1
            );
        }
    }

    /// What the host-side memory traffic of one batch of 1000 costs on
    /// its own, per unit, with plain buffers: copying the input in, the
    /// output out into a fresh `Vec` (as `call_evaluate` and the
    /// interpreter both return), and the `memset` that resets the dirtied
    /// part of a kept-resident slot when the store drops.
    fn host_costs(batch: &[u8], out_len: usize, dirty: usize) {
        let per_unit = |secs: f64| secs * 1e6 / 1000.0;
        let mut guest = vec![1u8; dirty.max(batch.len() + out_len)];
        let best = |f: &mut dyn FnMut()| {
            let mut best = f64::MAX;
            for _ in 0..50 {
                let t = Instant::now();
                f();
                best = best.min(t.elapsed().as_secs_f64());
            }
            best
        };
        let copy_in = best(&mut || guest[..batch.len()].copy_from_slice(black_box(batch)));
        let copy_out = best(&mut || {
            black_box(guest[batch.len()..batch.len() + out_len].to_vec());
        });
        let reset = best(&mut || black_box(&mut guest[..dirty]).fill(0));
        println!();
        println!(
            "  host memory traffic of a batch of 1000 (best of 50, µs per unit): input {} B copy-in {:.3}; output {} B copy-out into a fresh Vec {:.3}; memset of {} B dirtied {:.3}",
            batch.len(),
            per_unit(copy_in),
            out_len,
            per_unit(copy_out),
            dirty,
            per_unit(reset)
        );
    }

    pub(super) fn run(
        wasm: &[u8],
        batch: &[u8],
        singles: &[Vec<u8>],
        interp_rate: f64,
        out_len: usize,
    ) {
        // The pack's bump allocator puts the output after the input: what a
        // batch dirties is about input + output (plus the pack's data).
        host_costs(batch, out_len, batch.len() + out_len);
        runtime_variants(wasm, batch, singles, interp_rate);
        println!();
        println!("  what if (engines like the runtime's, other memory settings):");
        for (keep, reservation, what) in [
            (
                0usize,
                64u64 << 20,
                "as the runtime: 64 MiB reservation, no keep-resident",
            ),
            (
                4 << 20,
                64 << 20,
                "+ keep 4 MiB resident (memset, no page faults)",
            ),
            (
                0,
                4 << 30,
                "+ 4 GiB reservation (no explicit bounds checks)",
            ),
            (4 << 20, 4 << 30, "+ both"),
        ] {
            let e = Engined::new(wasm, keep, reservation);
            let floor = rate(|| {
                black_box(e.trivial());
                1
            });
            let mut k = 0;
            let b1 = rate(|| {
                k = (k + 1) % singles.len();
                black_box(e.evaluate(&singles[k]));
                1
            });
            let b1000 = rate(|| {
                black_box(e.evaluate(batch));
                1000
            });
            let mut best = f64::MAX;
            for _ in 0..5 {
                best = best.min(e.code_only(batch, 1000, 20));
            }
            println!("  {what}");
            row("    floor", floor, "calls");
            row("    batches of 1", b1, "units = calls");
            row("    batches of 1000", b1000, "units");
            row("    kaohe_evaluate code alone", 1.0 / best, "units");
            println!(
                "    batch-1000 ÷ interpreter {:.2}×; batch-1 ÷ floor {:.2}×; code alone ÷ interpreter {:.2}×",
                b1000 / interp_rate,
                floor / b1,
                (1.0 / best) / interp_rate
            );
        }
    }
}
