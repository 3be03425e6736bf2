//! What a [`Runtime`](super::Runtime) is built with: [`RuntimeConfig`] and
//! its production defaults, the checks on it, and the wasmtime `Config` it
//! gives (features, stack, reservation, the pooling allocator).

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use wasmtime::{
    Config, Enabled, InstanceAllocationStrategy, PoolingAllocationConfig, WasmBacktraceDetails,
    WasmFeatures,
};

use super::RuntimeError;
use super::compile_limits::CompileLimits;

/// Where a command keeps compiled modules, under its data directory.
pub const MODULE_CACHE_DIR: &str = "module-cache";

pub(super) const WASM_PAGE: u64 = 65_536;
pub(super) const MIB: u64 = 1024 * 1024;

/// How instances get their memories and tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allocator {
    /// Pre-reserved slots, reused across stores (the default).
    Pooling,
    /// `mmap` per instantiation, `munmap` when the store drops.
    OnDemand,
}

/// Limits and settings of a [`Runtime`](super::Runtime). `Default` gives the documented
/// production values.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Cap on an instance's linear memory, in bytes; a multiple of 64 KiB,
    /// at most 4 GiB. Default 64 MiB.
    pub memory_cap_bytes: u64,
    /// Cap on the size of a pack's wasm bytes. Default 8 MiB.
    pub max_module_bytes: usize,
    /// Cap on the elements of the pack's table. Default 10 000.
    pub max_table_elements: u32,
    /// Wasm stack available to a call, in bytes. Default 512 KiB.
    pub max_wasm_stack_bytes: usize,
    /// Wasm fuel every call gets regardless of its size (it also covers a
    /// start function and the load-time `kaohe_abi_version` call).
    /// Default 10 000 000.
    pub wasm_fuel_base: u64,
    /// Ceiling on the wasm fuel of one call, whatever the number of units:
    /// a batch gets `min(wasm_fuel_base + n × per_unit,
    /// max_wasm_fuel_per_call)`, so neither fuel nor the deadline derived
    /// from it grows with the batch beyond this (about 1–5 s of wasm at
    /// the rates measured here). Legitimate packs use a small fraction of
    /// their per-unit grant (the 2022 pack ≈ 10 000 per unit), so they
    /// meet it only in batches of tens of thousands of units; a caller
    /// that must run more splits the batch. Default 1 000 000 000.
    pub max_wasm_fuel_per_call: u64,
    /// Wasm fuel per unit when the manifest names no
    /// `limits.wasm_fuel_per_unit`. Default 1 000 000.
    pub default_wasm_fuel_per_unit: u64,
    /// The most wasm fuel per unit a manifest may ask for; a pack asking
    /// more is refused at load. Default 100 000 000.
    pub max_wasm_fuel_per_unit: u64,
    /// Interval at which the ticker thread advances the epoch. Default 10 ms.
    pub epoch_tick: Duration,
    /// Epoch ticks every call gets before the deadline traps. Default 500
    /// (5 s at the default tick).
    pub deadline_ticks: u64,
    /// Fuel per additional deadline tick: the deadline of a call is
    /// `deadline_ticks + fuel / fuel_per_deadline_tick` ticks. `0` adds
    /// nothing. Default 1 000 000 (i.e. assumes wasm runs at least 100
    /// million fuel per second; it runs several times faster).
    pub fuel_per_deadline_tick: u64,
    /// Static limits on a module's shape that bound its compile time and
    /// memory, checked before compiling. Default [`CompileLimits::default`].
    pub compile_limits: CompileLimits,
    /// Bound on compiling one module, the backstop for what the static
    /// limits cannot see. Default 60 s.
    pub compile_timeout: Duration,
    /// Stores that may exist at once; further calls wait. Also the number
    /// of pooling slots. Default 16.
    pub max_concurrent_instances: u32,
    /// Instance allocation strategy. Default [`Allocator::Pooling`].
    pub allocator: Allocator,
    /// Reserve 4 GiB of address space (plus wasmtime's 32 MiB guard) per
    /// linear memory so that compiled code needs no explicit bounds checks:
    /// every 32-bit address lands in the reservation, and whatever lies
    /// beyond the accessible size traps on a guard page. The memory cap is
    /// enforced by the limiter either way. `false` reserves only
    /// `memory_cap_bytes` (plus guard) and compiles explicit checks, for
    /// hosts that restrict address space. Default `true`.
    pub elide_bounds_checks: bool,
    /// Bytes at the bottom of each pooled linear memory kept resident when
    /// a store drops: they are reset with `memset` instead of being
    /// released with `madvise` and page-faulted in again by the next batch.
    /// Trade-off: up to `max_concurrent_instances` × this much memory stays
    /// resident while the runtime lives, and every store's drop `memset`s
    /// the memory's accessible size up to this bound (about 25 µs per MiB
    /// measured here, far cheaper than a page fault per 4 KiB; a trivial
    /// call pays ~1 µs more, zeroing the pack's initial memory). Should
    /// cover a typical large batch (input + output + the pack's data, about
    /// 2.9 KB per unit for the 2022 pack, so 8 MiB holds ~2,500 units);
    /// memory beyond it is released as before. Pooling only. Default 8 MiB.
    pub memory_keep_resident_bytes: usize,
    /// The same for each pooled table. Default 128 KiB (a table of the
    /// default 10 000 elements).
    pub table_keep_resident_bytes: usize,
    /// Directory for compiled modules; `None` (the default) disables the
    /// cache.
    pub cache_dir: Option<PathBuf>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            memory_cap_bytes: 64 * MIB,
            max_module_bytes: 8 * MIB as usize,
            max_table_elements: 10_000,
            max_wasm_stack_bytes: 512 * 1024,
            wasm_fuel_base: 10_000_000,
            max_wasm_fuel_per_call: 1_000_000_000,
            default_wasm_fuel_per_unit: 1_000_000,
            max_wasm_fuel_per_unit: 100_000_000,
            epoch_tick: Duration::from_millis(10),
            deadline_ticks: 500,
            fuel_per_deadline_tick: 1_000_000,
            compile_limits: CompileLimits::default(),
            compile_timeout: Duration::from_secs(60),
            max_concurrent_instances: 16,
            allocator: Allocator::Pooling,
            elide_bounds_checks: true,
            memory_keep_resident_bytes: 8 * MIB as usize,
            table_keep_resident_bytes: 128 * 1024,
            cache_dir: None,
        }
    }
}

impl RuntimeConfig {
    /// The production defaults with the compiled-module cache in
    /// `data_dir/module-cache`: what every command that owns a data
    /// directory (hub, node) runs packs with.
    pub fn with_cache_under(data_dir: &std::path::Path) -> Self {
        Self {
            cache_dir: Some(data_dir.join(MODULE_CACHE_DIR)),
            ..Self::default()
        }
    }
}

pub(super) fn check_config(config: &RuntimeConfig) -> Result<(), RuntimeError> {
    let bad = |what: &str| Err(RuntimeError::Config(what.to_owned()));
    if config.memory_cap_bytes == 0
        || !config.memory_cap_bytes.is_multiple_of(WASM_PAGE)
        || config.memory_cap_bytes > 4 * 1024 * MIB
    {
        return bad(
            "memory_cap_bytes 须为 64 KiB 的正整数倍且不超过 4 GiB / memory_cap_bytes must be a positive multiple of 64 KiB, at most 4 GiB",
        );
    }
    if config.max_concurrent_instances == 0 {
        return bad(
            "max_concurrent_instances 须大于 0 / max_concurrent_instances must be positive",
        );
    }
    if config.epoch_tick.is_zero() {
        return bad("epoch_tick 须大于 0 / epoch_tick must be positive");
    }
    if config.max_wasm_fuel_per_call < config.wasm_fuel_base {
        return bad(
            "max_wasm_fuel_per_call 不得小于 wasm_fuel_base / max_wasm_fuel_per_call must be at least wasm_fuel_base",
        );
    }
    if config.max_wasm_stack_bytes == 0 {
        return bad("max_wasm_stack_bytes 须大于 0 / max_wasm_stack_bytes must be positive");
    }
    Ok(())
}

/// Address space reserved per linear memory (wasmtime adds its guard
/// region): 4 GiB when bounds checks are elided, else just the cap.
pub(super) fn memory_reservation(config: &RuntimeConfig) -> u64 {
    if config.elide_bounds_checks {
        (4 * 1024 * MIB).max(config.memory_cap_bytes)
    } else {
        config.memory_cap_bytes
    }
}

pub(super) fn engine_config(config: &RuntimeConfig) -> Config {
    let mut c = Config::new();
    c.consume_fuel(true)
        .epoch_interruption(true)
        .cranelift_nan_canonicalization(true)
        // Spelled out rather than left to crate features, which other
        // crates of the workspace could unify on.
        .wasm_features(WasmFeatures::THREADS, false)
        .wasm_features(WasmFeatures::SHARED_EVERYTHING_THREADS, false)
        .wasm_simd(false)
        .wasm_relaxed_simd(false)
        .wasm_multi_memory(false)
        .wasm_memory64(false)
        .max_wasm_stack(config.max_wasm_stack_bytes)
        .parallel_compilation(true)
        // Independent of the environment, so the compatibility hash (the
        // cache key) is too.
        .wasm_backtrace_details(WasmBacktraceDetails::Disable)
        .wasm_backtrace_max_frames(NonZeroUsize::new(16))
        .memory_reservation(memory_reservation(config))
        .memory_may_move(false);
    if config.allocator == Allocator::Pooling {
        let slots = config.max_concurrent_instances;
        let mut pool = PoolingAllocationConfig::new();
        pool.total_core_instances(slots)
            .total_memories(slots)
            .total_tables(slots)
            .max_unused_warm_slots(slots)
            .max_memories_per_module(1)
            .max_tables_per_module(1)
            .max_memory_size(usize::try_from(config.memory_cap_bytes).unwrap_or(usize::MAX))
            .table_elements(config.max_table_elements as usize)
            .linear_memory_keep_resident(config.memory_keep_resident_bytes)
            .table_keep_resident(config.table_keep_resident_bytes)
            // PAGEMAP_SCAN (reset only the dirtied pages, Linux ≥ 6.7) was
            // measured slower here: the ioctl costs more than the `memset`
            // of a small pack's initial memory it saves. Spelled out since
            // wasmtime's default may change.
            .pagemap_scan(Enabled::No);
        c.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    c
}
