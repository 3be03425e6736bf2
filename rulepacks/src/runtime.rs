//! The sandboxed rule-pack runtime: the only code in kaohe that touches
//! wasmtime.
//!
//! A [`Runtime`] owns one wasmtime `Engine` for the process and a ticker
//! thread that advances the engine's epoch. [`Runtime::load`] checks a
//! pack's bytes and compiles them into a [`LoadedPack`]; every
//! [`LoadedPack::call_evaluate`] / [`LoadedPack::call_finalise`] runs one
//! batch in a **fresh store**: instantiate, `kaohe_alloc(len)`, write the
//! input, call, bounds-check and copy the output out, drop the store.
//! Nothing survives between batches. See `rulepacks/ABI.md` for the contract.
//!
//! ## What a pack is refused for, at load
//!
//! - more than [`RuntimeConfig::max_module_bytes`] bytes ([`RuntimeError::TooLarge`]);
//! - not a valid module for this engine: threads, shared memory, SIMD,
//!   relaxed SIMD, multi-memory and memory64 are disabled, so modules using
//!   them are refused ([`RuntimeError::NotAModule`]);
//! - **any import** ([`RuntimeError::ImportNotAllowed`]): a pack gets no
//!   WASI, no clock, no randomness, no host functions at all — the `Linker`
//!   is empty;
//! - a missing ABI export or one of the wrong type (`memory`,
//!   `kaohe_abi_version: () -> i32`, `kaohe_alloc: (i32) -> i32`,
//!   `kaohe_evaluate` and `kaohe_finalise: (i32, i32) -> i64`);
//! - other than exactly one 32-bit memory, or more than one table
//!   ([`RuntimeError::Unsupported`]); a declared minimum memory above the
//!   memory cap ([`RuntimeError::MemoryTooLarge`]) or table above the table
//!   cap ([`RuntimeError::TableTooLarge`]) — such a pack could never run;
//! - not exactly one `kaohe-manifest` custom section holding a UTF-8 JSON
//!   object with `abi_version == 1`, `manifest_version == 1`, `fields` and
//!   `indicators` arrays, and a `limits.wasm_fuel_per_unit` (if present) no
//!   higher than [`RuntimeConfig::max_wasm_fuel_per_unit`];
//! - compilation not finished within [`RuntimeConfig::compile_timeout`]
//!   ([`RuntimeError::CompileTimeout`]). Compilation runs on its own thread
//!   and the load gives up when the bound passes; Cranelift cannot be
//!   cancelled, so the abandoned thread finishes in the background, its
//!   work bounded by the module size cap. (Refusing by size alone would
//!   depend on how fast this machine is; the thread gives the caller a
//!   bound it can rely on.)
//! - `kaohe_abi_version()` (run, with any start function, under the same
//!   fuel and deadline as a call) not returning 1.
//!
//! ## The limits on every call
//!
//! | limit | how | error |
//! |---|---|---|
//! | wasm fuel `base + n × per_unit` | `Store::set_fuel`, deterministic | [`RuntimeError::OutOfFuel`] |
//! | wall clock | epoch deadline, ticker thread | [`RuntimeError::DeadlineExceeded`] |
//! | memory | own `ResourceLimiter`: growing beyond the cap **traps** | [`RuntimeError::OutOfMemory`] |
//! | table elements | same limiter | [`RuntimeError::TableTooLarge`] |
//! | wasm stack | `Config::max_wasm_stack` | [`RuntimeError::StackOverflow`] |
//! | output | pointer and length inside memory, length as the counts require | [`RuntimeError::MalformedOutput`] |
//!
//! Growing memory beyond the cap traps rather than making `memory.grow`
//! return −1: a pack cannot probe the cap and go on, so a node and the hub
//! whose caps differ can never compute different sheets — at worst one of
//! them reports an error. Fuel is the deterministic budget; per unit it
//! comes from the manifest (ABI.md §6) so node and hub agree, and the host
//! only caps it. The epoch deadline is the backstop for what fuel does not
//! count (bulk memory work, a slow machine): it is
//! `deadline_ticks + fuel / fuel_per_deadline_tick` ticks, so that it grows
//! with the fuel granted and legitimate work runs out of fuel long before it
//! hits the deadline, keeping results independent of machine speed.
//! Floats are allowed but NaNs are canonicalised, so they are deterministic
//! too. The wasm stack limit is deterministic per target architecture
//! (frame sizes come from Cranelift); callers' threads need at least
//! `max_wasm_stack` plus ~1 MiB of native stack (Rust's default 2 MiB for
//! spawned threads suffices with the default 512 KiB).
//!
//! ## Instance allocation
//!
//! The default [`Allocator::Pooling`] pre-reserves
//! `max_concurrent_instances` slots (memory, table, instance metadata) so a
//! fresh store + instantiation is a slot reuse instead of an `mmap`/`munmap`
//! pair; this matters because every batch, and every replayed submission at
//! the hub, instantiates afresh. Each memory slot reserves 4 GiB plus
//! wasmtime's 32 MiB guard of address space
//! ([`RuntimeConfig::elide_bounds_checks`]), so compiled code needs no
//! explicit bounds checks (they cost about a third of the evaluation time
//! of the 2022 pack); 16 slots reserve about 64.5 GiB of *virtual*,
//! never-committed `PROT_NONE` address space. The memory cap is still the
//! limiter's: the pool's `max_memory_size` is the cap and growth beyond it
//! traps. The first [`RuntimeConfig::memory_keep_resident_bytes`] of a
//! slot stay resident between stores and are reset with `memset` rather
//! than released and page-faulted in again, which otherwise dominates a
//! batch;
//! at most `max_concurrent_instances` × that much stays resident (128 MiB
//! by default). [`Allocator::OnDemand`] is kept for comparison; hosts that
//! restrict address space turn `elide_bounds_checks` off (reserving only
//! the cap, with explicit checks). Either way at most
//! `max_concurrent_instances` stores exist at once: further callers wait
//! (each holder is bounded by its deadline), so total guest memory is at
//! most `max_concurrent_instances × memory_cap_bytes`.
//!
//! ## The compiled-module cache
//!
//! With [`RuntimeConfig::cache_dir`] set, compiled modules are stored by
//! SHA-256 of the wasm and the engine's compatibility hash; see the `cache`
//! module docs for the trust model (directory ownership is the anchor, an
//! embedded SHA-256 guards integrity).
//!
//! ## Benchmark floor
//!
//! [`LoadedPack::call_trivial`] is a fresh store + instantiation + a call to
//! `kaohe_abi_version`: the fixed cost every batch pays before any rubric
//! work, for the same module and therefore the same memory.

mod cache;
mod error;
mod inspect;

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, InstancePre, Linker, Module, ModuleExport,
    PoolingAllocationConfig, ResourceLimiter, Store, Trap, TypedFunc, WasmBacktraceDetails,
    WasmFeatures, WasmParams, WasmResults,
};

pub use cache::CacheOutcome;
pub use error::{BadInputCode, RuntimeError};
pub use inspect::{Counts, MANIFEST_SECTION};

use cache::ModuleCache;
use inspect::{StaticCaps, inspect};

const WASM_PAGE: u64 = 65_536;
const MIB: u64 = 1024 * 1024;

/// How instances get their memories and tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allocator {
    /// Pre-reserved slots, reused across stores (the default).
    Pooling,
    /// `mmap` per instantiation, `munmap` when the store drops.
    OnDemand,
}

/// Limits and settings of a [`Runtime`]. `Default` gives the documented
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
    /// Bound on compiling one module. Default 60 s.
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
            default_wasm_fuel_per_unit: 1_000_000,
            max_wasm_fuel_per_unit: 100_000_000,
            epoch_tick: Duration::from_millis(10),
            deadline_ticks: 500,
            fuel_per_deadline_tick: 1_000_000,
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

/// Which pack entry point a call runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// `kaohe_evaluate` (ABI.md §2).
    Evaluate,
    /// `kaohe_finalise` (ABI.md §3).
    Finalise,
}

impl Entry {
    fn export(self) -> &'static str {
        match self {
            Self::Evaluate => "kaohe_evaluate",
            Self::Finalise => "kaohe_finalise",
        }
    }
}

/// The result of one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallOutput {
    /// The output bytes, exactly as long as the ABI requires.
    pub bytes: Vec<u8>,
    /// Wasm fuel the batch consumed (instantiation, start function, alloc
    /// and the entry point); deterministic for the same pack and input.
    pub wasm_fuel_used: u64,
}

/// The process's wasm engine and its limits. Create one per process and
/// clone it (clones share the engine, the ticker and the instance slots).
#[derive(Clone)]
pub struct Runtime {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

/// A pack that passed every load check, ready to be called. Keeps the
/// runtime's engine and ticker alive while it exists.
pub struct LoadedPack {
    shared: Arc<Shared>,
    pre: InstancePre<CallState>,
    exports: Exports,
    digest: [u8; 32],
    manifest_json: Vec<u8>,
    counts: Counts,
    wasm_fuel_per_unit: u64,
    cache_outcome: CacheOutcome,
}

impl std::fmt::Debug for LoadedPack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPack")
            .field("digest", &hex::encode(self.digest))
            .field("counts", &self.counts)
            .field("wasm_fuel_per_unit", &self.wasm_fuel_per_unit)
            .field("cache_outcome", &self.cache_outcome)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Builds the engine, starts the epoch ticker and opens the cache
    /// directory (if any).
    pub fn new(config: RuntimeConfig) -> Result<Self, RuntimeError> {
        check_config(&config)?;
        let engine = Engine::new(&engine_config(&config))
            .map_err(|e| RuntimeError::Config(format!("{e:#}")))?;
        let cache = match &config.cache_dir {
            Some(dir) => Some(ModuleCache::open(dir, &engine)?),
            None => None,
        };
        let ticker = Ticker::start(engine.clone(), config.epoch_tick)?;
        Ok(Self {
            shared: Arc::new(Shared {
                linker: Linker::new(&engine),
                gate: Gate::new(config.max_concurrent_instances),
                engine,
                cache,
                config,
                _ticker: ticker,
            }),
        })
    }

    /// The configuration this runtime was built with.
    pub fn config(&self) -> &RuntimeConfig {
        &self.shared.config
    }

    /// Checks, compiles (or fetches from the cache) and test-runs a pack;
    /// see the module docs for everything it refuses.
    pub fn load(&self, wasm: &[u8]) -> Result<LoadedPack, RuntimeError> {
        let shared = &self.shared;
        let config = &shared.config;
        if wasm.len() > config.max_module_bytes {
            return Err(RuntimeError::TooLarge {
                size: wasm.len(),
                cap: config.max_module_bytes,
            });
        }
        Module::validate(&shared.engine, wasm)
            .map_err(|e| RuntimeError::NotAModule(format!("{e:#}")))?;
        let inspected = inspect(
            wasm,
            &StaticCaps {
                memory_bytes: config.memory_cap_bytes,
                table_elements: u64::from(config.max_table_elements),
            },
        )?;
        let wasm_fuel_per_unit = inspected
            .wasm_fuel_per_unit
            .unwrap_or(config.default_wasm_fuel_per_unit);
        if wasm_fuel_per_unit > config.max_wasm_fuel_per_unit {
            return Err(RuntimeError::ManifestInvalid(format!(
                "limits.wasm_fuel_per_unit = {wasm_fuel_per_unit} 超过本机上限 {} / exceeds this host's ceiling of {}",
                config.max_wasm_fuel_per_unit, config.max_wasm_fuel_per_unit
            )));
        }

        let mut digest = [0u8; 32];
        digest.copy_from_slice(&Sha256::digest(wasm));
        let (module, cache_outcome) = shared.compile_cached(wasm, &hex::encode(digest))?;
        let pre = shared
            .linker
            .instantiate_pre(&module)
            .map_err(|e| RuntimeError::Instantiate(format!("{e:#}")))?;
        let exports = Exports::resolve(&module)?;
        let pack = LoadedPack {
            shared: Arc::clone(shared),
            pre,
            exports,
            digest,
            manifest_json: inspected.manifest_json,
            counts: inspected.counts,
            wasm_fuel_per_unit,
            cache_outcome,
        };
        let found = pack.call_trivial()?;
        if found != 1 {
            return Err(RuntimeError::AbiVersionMismatch { found });
        }
        Ok(pack)
    }
}

impl LoadedPack {
    /// SHA-256 of the pack's wasm bytes.
    pub fn digest(&self) -> &[u8; 32] {
        &self.digest
    }

    /// The raw bytes of the `kaohe-manifest` section (UTF-8 JSON).
    pub fn manifest_json(&self) -> &[u8] {
        &self.manifest_json
    }

    /// The record counts read from the manifest.
    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// Wasm fuel granted per unit (from the manifest, or the default).
    pub fn wasm_fuel_per_unit(&self) -> u64 {
        self.wasm_fuel_per_unit
    }

    /// Wasm fuel a call with `n_units` units gets: `base + n × per_unit`.
    pub fn wasm_fuel_for(&self, n_units: u32) -> u64 {
        self.shared
            .config
            .wasm_fuel_base
            .saturating_add(u64::from(n_units).saturating_mul(self.wasm_fuel_per_unit))
    }

    /// What the module cache did when this pack was loaded.
    pub fn cache_outcome(&self) -> &CacheOutcome {
        &self.cache_outcome
    }

    /// Runs `kaohe_evaluate` on one batch of `n_units` units (ABI.md §2).
    pub fn call_evaluate(&self, input: &[u8], n_units: u32) -> Result<Vec<u8>, RuntimeError> {
        self.call(Entry::Evaluate, input, n_units)
            .map(|out| out.bytes)
    }

    /// Runs `kaohe_finalise` on one batch of `n_units` units (ABI.md §3).
    pub fn call_finalise(&self, input: &[u8], n_units: u32) -> Result<Vec<u8>, RuntimeError> {
        self.call(Entry::Finalise, input, n_units)
            .map(|out| out.bytes)
    }

    /// Runs one batch through `entry` in a fresh store and returns the
    /// output together with the wasm fuel used. The output must be exactly
    /// as long as the manifest's counts require for `n_units` units.
    pub fn call(
        &self,
        entry: Entry,
        input: &[u8],
        n_units: u32,
    ) -> Result<CallOutput, RuntimeError> {
        let cap = self.shared.config.memory_cap_bytes;
        let input_len = i32::try_from(input.len())
            .ok()
            .filter(|&len| len as u64 <= cap)
            .ok_or(RuntimeError::InputTooLarge {
                len: input.len(),
                cap,
            })?;
        let expected_len = match entry {
            Entry::Evaluate => self.counts.evaluate_output_len(n_units),
            Entry::Finalise => self.counts.finalise_output_len(n_units),
        };
        let fuel = self.wasm_fuel_for(n_units);
        let mut session = self.instantiate(fuel)?;
        let store = &mut session.store;
        let instance = session.instance;
        let fault = |store: &Store<CallState>, e| classify(e, store.data(), cap, Phase::Call);

        let exports = &self.exports;
        let memory = instance
            .get_module_export(&mut *store, &exports.memory)
            .and_then(wasmtime::Extern::into_memory)
            .ok_or(RuntimeError::MissingExport { name: "memory" })?;
        let alloc = exports.func::<i32, i32>(store, instance, &exports.alloc, "kaohe_alloc")?;
        let run = match entry {
            Entry::Evaluate => &exports.evaluate,
            Entry::Finalise => &exports.finalise,
        };
        let run = exports.func::<(i32, i32), i64>(store, instance, run, entry.export())?;

        let ptr = alloc
            .call(&mut *store, input_len)
            .map_err(|e| fault(store, e))?;
        if ptr < 0 {
            return Err(RuntimeError::OutOfMemory { cap_bytes: cap });
        }
        memory.write(&mut *store, ptr as usize, input).map_err(|_| {
            RuntimeError::MalformedOutput(format!(
                "kaohe_alloc({input_len}) 返回的区域 {ptr} 越界 / kaohe_alloc({input_len}) returned region {ptr} out of bounds"
            ))
        })?;
        let ret = run
            .call(&mut *store, (ptr, input_len))
            .map_err(|e| fault(store, e))?;
        if ret < 0 {
            return Err(match BadInputCode::from_code(ret) {
                Some(code) => RuntimeError::BadInput(code),
                None => RuntimeError::MalformedOutput(format!(
                    "未定义的返回码 {ret} / undefined return code {ret}"
                )),
            });
        }
        let out_ptr = (ret as u64) >> 32;
        let out_len = (ret as u64) & 0xffff_ffff;
        if out_len != expected_len {
            return Err(RuntimeError::MalformedOutput(format!(
                "输出长度 {out_len}，应为 {expected_len}（{n_units} 个单位）/ output length {out_len}, expected {expected_len} for {n_units} units"
            )));
        }
        let data = memory.data(&*store);
        let bytes = usize::try_from(out_ptr)
            .ok()
            .zip(usize::try_from(out_len).ok())
            .and_then(|(p, l)| data.get(p..p.checked_add(l)?))
            .ok_or_else(|| {
                RuntimeError::MalformedOutput(format!(
                    "输出区域 {out_ptr}+{out_len} 超出内存 {} 字节 / output region {out_ptr}+{out_len} outside memory of {} bytes",
                    data.len(),
                    data.len()
                ))
            })?
            .to_vec();
        let left = store.get_fuel().unwrap_or(0);
        Ok(CallOutput {
            bytes,
            wasm_fuel_used: fuel.saturating_sub(left),
        })
    }

    /// Fresh store + instantiation + `kaohe_abi_version()`, under the base
    /// fuel and the deadline: the fixed cost every batch pays (the
    /// benchmark floor). Returns the version the pack reports.
    pub fn call_trivial(&self) -> Result<i32, RuntimeError> {
        let cap = self.shared.config.memory_cap_bytes;
        let mut session = self.instantiate(self.shared.config.wasm_fuel_base)?;
        let store = &mut session.store;
        let version = self.exports.func::<(), i32>(
            store,
            session.instance,
            &self.exports.abi_version,
            "kaohe_abi_version",
        )?;
        version
            .call(&mut *store, ())
            .map_err(|e| classify(e, store.data(), cap, Phase::Call))
    }

    /// Waits for a slot, creates a fresh store with the limits, fuel and
    /// deadline, and instantiates (running any start function).
    fn instantiate(&self, fuel: u64) -> Result<Session<'_>, RuntimeError> {
        let shared = &*self.shared;
        let config = &shared.config;
        let permit = shared.gate.acquire();
        let mut store = Store::new(
            &shared.engine,
            CallState {
                limiter: CapLimiter {
                    memory_cap: usize::try_from(config.memory_cap_bytes).unwrap_or(usize::MAX),
                    table_cap: config.max_table_elements as usize,
                    hit: None,
                },
            },
        );
        store.limiter(|state| &mut state.limiter);
        store
            .set_fuel(fuel)
            .map_err(|e| RuntimeError::Config(format!("{e:#}")))?;
        let extra = fuel.checked_div(config.fuel_per_deadline_tick).unwrap_or(0);
        store.set_epoch_deadline(config.deadline_ticks.saturating_add(extra));
        store.epoch_deadline_trap();
        let instance = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| classify(e, store.data(), config.memory_cap_bytes, Phase::Instantiate))?;
        Ok(Session {
            store,
            instance,
            _permit: permit,
        })
    }
}

/// The ABI exports, resolved once at load so a call looks them up by
/// index rather than by name.
struct Exports {
    memory: ModuleExport,
    abi_version: ModuleExport,
    alloc: ModuleExport,
    evaluate: ModuleExport,
    finalise: ModuleExport,
}

impl Exports {
    fn resolve(module: &Module) -> Result<Self, RuntimeError> {
        let get = |name: &'static str| {
            module
                .get_export_index(name)
                .ok_or(RuntimeError::MissingExport { name })
        };
        Ok(Self {
            memory: get("memory")?,
            abi_version: get("kaohe_abi_version")?,
            alloc: get("kaohe_alloc")?,
            evaluate: get("kaohe_evaluate")?,
            finalise: get("kaohe_finalise")?,
        })
    }

    /// The instance's function for `export`, checked against its type
    /// (already checked at load; this is cheap).
    fn func<P: WasmParams, R: WasmResults>(
        &self,
        store: &mut Store<CallState>,
        instance: wasmtime::Instance,
        export: &ModuleExport,
        name: &'static str,
    ) -> Result<TypedFunc<P, R>, RuntimeError> {
        instance
            .get_module_export(&mut *store, export)
            .and_then(wasmtime::Extern::into_func)
            .ok_or(RuntimeError::MissingExport { name })?
            .typed::<P, R>(&*store)
            .map_err(|e| RuntimeError::Instantiate(format!("{e:#}")))
    }
}

/// State shared by a runtime and the packs it loaded.
struct Shared {
    engine: Engine,
    config: RuntimeConfig,
    /// Empty: packs get no imports.
    linker: Linker<CallState>,
    gate: Gate,
    cache: Option<ModuleCache>,
    /// Stops (and joins) the epoch thread when the last user is gone.
    _ticker: Ticker,
}

impl Shared {
    /// Fetches the compiled module from the cache or compiles it (bounded
    /// in time) and stores it.
    fn compile_cached(
        &self,
        wasm: &[u8],
        digest_hex: &str,
    ) -> Result<(Module, CacheOutcome), RuntimeError> {
        let Some(cache) = &self.cache else {
            return Ok((self.compile(wasm)?, CacheOutcome::Disabled));
        };
        let rejected = match cache.get(&self.engine, digest_hex) {
            Ok(Some(module)) => return Ok((module, CacheOutcome::Hit)),
            Ok(None) => None,
            Err(reason) => Some(reason),
        };
        let module = self.compile(wasm)?;
        let outcome = match (cache.put(digest_hex, &module), rejected) {
            (Err(reason), _) => CacheOutcome::StoreFailed(reason),
            (Ok(()), Some(reason)) => CacheOutcome::Rejected(reason),
            (Ok(()), None) => CacheOutcome::Stored,
        };
        Ok((module, outcome))
    }

    /// Compiles on a separate thread and gives up after the bound.
    fn compile(&self, wasm: &[u8]) -> Result<Module, RuntimeError> {
        let bound = self.config.compile_timeout;
        let engine = self.engine.clone();
        let bytes = wasm.to_vec();
        let (tx, rx) = mpsc::sync_channel(1);
        thread::Builder::new()
            .name("kaohe-compile".to_owned())
            .spawn(move || {
                // The receiver may have given up; nothing to do then.
                let _ = tx.send(Module::from_binary(&engine, &bytes));
            })
            .map_err(|e| RuntimeError::Compile(format!("spawn: {e}")))?;
        match rx.recv_timeout(bound) {
            Ok(Ok(module)) => Ok(module),
            Ok(Err(e)) => Err(RuntimeError::Compile(format!("{e:#}"))),
            Err(RecvTimeoutError::Timeout) => Err(RuntimeError::CompileTimeout { bound }),
            Err(RecvTimeoutError::Disconnected) => Err(RuntimeError::Compile(
                "编译线程异常退出 / the compiler thread ended without a result".to_owned(),
            )),
        }
    }
}

/// One call's store, dropped (returning its pooling slot) before the
/// permit is released.
struct Session<'a> {
    store: Store<CallState>,
    instance: wasmtime::Instance,
    _permit: Permit<'a>,
}

/// Per-store data: only the limiter.
struct CallState {
    limiter: CapLimiter,
}

#[derive(Debug, Clone, Copy)]
enum LimitHit {
    Memory,
    Table { elements: usize },
}

/// Traps on growth beyond the caps and records which cap was hit, so the
/// failure is reported as `OutOfMemory` / `TableTooLarge` whatever shape
/// the trap takes. Growth beyond a module's own declared maximum (below
/// the cap) fails the standard way, `memory.grow` returning −1.
struct CapLimiter {
    memory_cap: usize,
    table_cap: usize,
    hit: Option<LimitHit>,
}

impl ResourceLimiter for CapLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_cap {
            self.hit = Some(LimitHit::Memory);
            wasmtime::bail!("memory cap of {} bytes exceeded", self.memory_cap);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.table_cap {
            self.hit = Some(LimitHit::Table { elements: desired });
            wasmtime::bail!("table cap of {} elements exceeded", self.table_cap);
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        1
    }

    fn tables(&self) -> usize {
        1
    }

    fn memories(&self) -> usize {
        1
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Instantiate,
    Call,
}

/// Maps a wasmtime error to the runtime's error kinds: a recorded limit
/// first, then the trap code; anything else is a trap message (during a
/// call) or an instantiation failure.
fn classify(err: wasmtime::Error, state: &CallState, cap_bytes: u64, phase: Phase) -> RuntimeError {
    match state.limiter.hit {
        Some(LimitHit::Memory) => return RuntimeError::OutOfMemory { cap_bytes },
        Some(LimitHit::Table { elements }) => {
            return RuntimeError::TableTooLarge {
                elements: elements as u64,
                cap: state.limiter.table_cap as u64,
            };
        }
        None => {}
    }
    match err.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => RuntimeError::OutOfFuel,
        Some(Trap::Interrupt) => RuntimeError::DeadlineExceeded,
        Some(Trap::StackOverflow) => RuntimeError::StackOverflow,
        Some(trap) => RuntimeError::Trap(trap.to_string()),
        None if phase == Phase::Instantiate => RuntimeError::Instantiate(format!("{err:#}")),
        None => RuntimeError::Trap(format!("{err:#}")),
    }
}

fn check_config(config: &RuntimeConfig) -> Result<(), RuntimeError> {
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
    if config.max_wasm_stack_bytes == 0 {
        return bad("max_wasm_stack_bytes 须大于 0 / max_wasm_stack_bytes must be positive");
    }
    Ok(())
}

/// Address space reserved per linear memory (wasmtime adds its guard
/// region): 4 GiB when bounds checks are elided, else just the cap.
fn memory_reservation(config: &RuntimeConfig) -> u64 {
    if config.elide_bounds_checks {
        (4 * 1024 * MIB).max(config.memory_cap_bytes)
    } else {
        config.memory_cap_bytes
    }
}

fn engine_config(config: &RuntimeConfig) -> Config {
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

/// A counting semaphore bounding the stores alive at once.
struct Gate {
    free: Mutex<u32>,
    freed: Condvar,
}

struct Permit<'a> {
    gate: &'a Gate,
}

impl Gate {
    fn new(slots: u32) -> Self {
        Self {
            free: Mutex::new(slots),
            freed: Condvar::new(),
        }
    }

    fn acquire(&self) -> Permit<'_> {
        // Nothing panics while the lock is held, so poisoning carries no
        // broken invariant; recover the guard.
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        while *free == 0 {
            free = self
                .freed
                .wait(free)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *free -= 1;
        Permit { gate: self }
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        *self
            .gate
            .free
            .lock()
            .unwrap_or_else(PoisonError::into_inner) += 1;
        self.gate.freed.notify_one();
    }
}

/// The thread that advances the engine's epoch every tick; stopped and
/// joined on drop.
struct Ticker {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    fn start(engine: Engine, tick: Duration) -> Result<Self, RuntimeError> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = thread::Builder::new()
            .name("kaohe-epoch".to_owned())
            .spawn(move || {
                // Waiting on the channel (not sleeping) lets drop stop the
                // thread at once: dropping the sender disconnects it.
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(tick) {
                    engine.increment_epoch();
                }
            })
            .map_err(|e| RuntimeError::Config(format!("spawn epoch ticker: {e}")))?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            // The thread cannot panic; a join error would only repeat one.
            let _ = thread.join();
        }
    }
}
