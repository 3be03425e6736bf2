//! The sandboxed rule-pack runtime: the only code in kaohe that touches
//! wasmtime.
//!
//! A [`Runtime`] owns one wasmtime `Engine` for the process and a ticker
//! thread that advances the engine's epoch. [`Runtime::load`] checks a
//! pack's bytes and compiles them into a [`LoadedPack`]; every
//! [`LoadedPack::call_evaluate`] / [`LoadedPack::call_finalise`] runs one
//! batch in a **fresh store**: instantiate, `kaohe_alloc(len)`, write the
//! input, call, bounds-check and copy the output out, drop the store
//! ([`LoadedPack::call_with`]: the input written and the output read in
//! the pack's memory, no copy either way).
//! Nothing survives between batches. See `rulepacks/ABI.md` for the contract.
//!
//! ## What a pack is refused for, at load
//!
//! - more than [`RuntimeConfig::max_module_bytes`] bytes ([`RuntimeError::TooLarge`]);
//! - beyond a static limit on its shape ([`RuntimeConfig::compile_limits`]:
//!   functions, body bytes, code bytes, locals, types, globals, exports,
//!   data and element segments — [`RuntimeError::ExceedsLimit`]), read from
//!   the section headers before anything is validated or compiled, so a
//!   module built to be slow or huge to compile is refused in milliseconds;
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
//!   object with an `abi_version` of 1 or 2, `manifest_version == 1`, an
//!   `abi_minor` of 0 (or absent) or 1, `fields` and
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
//!   fuel and deadline as a call) not returning the ABI word its manifest
//!   names (`abi_version | abi_minor << 16`: 1 for ABI 1.0, `0x0001_0001`
//!   for 1.1, 2 for 2.0, `0x0001_0002` for 2.1).
//!
//! ## The limits on every call
//!
//! | limit | how | error |
//! |---|---|---|
//! | wasm fuel `min(base + n × per_unit, max_wasm_fuel_per_call)` | `Store::set_fuel`, deterministic | [`RuntimeError::OutOfFuel`] |
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
//! Both stop growing at `max_wasm_fuel_per_call`: a slow pack given a large
//! batch runs out of fuel within seconds instead of running for minutes
//! (the hub and a node batch differently, so a batch that runs out is
//! retried unit by unit by the hub's replay; results never depend on it).
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
//!
//! ## Layout
//!
//! - here: [`Runtime`] (load) and [`LoadedPack`] (call), the resolved ABI
//!   exports and the bounded compilation;
//! - `config`: [`RuntimeConfig`] and its defaults, the checks on it, the
//!   wasmtime `Config` and pooling allocator it gives;
//! - `compile_limits`: [`CompileLimits`], the shape limits checked before
//!   compiling;
//! - `inspect`: the static load-time checks of a module's bytes;
//! - `limits`: the store limiter, the gate on stores alive at once, the
//!   epoch ticker, and how a failure is classified;
//! - `cache`: the compiled-module cache;
//! - `error`: [`RuntimeError`] and [`BadInputCode`].

mod cache;
mod compile_limits;
mod config;
mod error;
mod inspect;
mod limits;

use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;

use sha2::{Digest, Sha256};
use wasmtime::{
    Engine, InstancePre, Linker, Module, ModuleExport, Store, TypedFunc, WasmParams, WasmResults,
};

pub use cache::CacheOutcome;
pub use compile_limits::CompileLimits;
pub use config::{Allocator, MODULE_CACHE_DIR, RuntimeConfig};
pub use error::{BadInputCode, RuntimeError};
pub use inspect::{Counts, MANIFEST_SECTION};

use cache::ModuleCache;
use config::{check_config, engine_config};
use inspect::{StaticCaps, inspect};
use limits::{CallState, CapLimiter, Gate, Permit, Phase, Ticker, classify};

/// Units per call at most, whatever the memory cap allows: 4,096 sheets of
/// a 36-indicator pack are ~2.7 MB, within the memory kept resident
/// between calls, and a fresh instance per 4,096 units costs nothing
/// measurable.
pub const MAX_UNITS_PER_CALL: u32 = 4096;

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
    self_test: Option<Vec<u8>>,
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
        compile_limits::check(wasm, &config.compile_limits)?;
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
            self_test: inspected.self_test,
            counts: inspected.counts,
            wasm_fuel_per_unit,
            cache_outcome,
        };
        let found = pack.call_trivial()?;
        let expected = pack.counts.abi_word();
        if found != expected {
            return Err(RuntimeError::AbiVersionMismatch { found, expected });
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

    /// The raw bytes of the `kaohe-selftest` section, if any (read by
    /// [`crate::selftest::SelfTest::decode`]).
    pub fn self_test_bytes(&self) -> Option<&[u8]> {
        self.self_test.as_deref()
    }

    /// The record counts read from the manifest.
    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// Wasm fuel granted per unit (from the manifest, or the default).
    pub fn wasm_fuel_per_unit(&self) -> u64 {
        self.wasm_fuel_per_unit
    }

    /// Wasm fuel a call with `n_units` units gets: `base + n × per_unit`,
    /// never more than the runtime's `max_wasm_fuel_per_call`.
    pub fn wasm_fuel_for(&self, n_units: u32) -> u64 {
        let config = &self.shared.config;
        config
            .wasm_fuel_base
            .saturating_add(u64::from(n_units).saturating_mul(self.wasm_fuel_per_unit))
            .min(config.max_wasm_fuel_per_call)
    }

    /// The most units one call through `entry` is given: half the memory
    /// cap over the unit's input and output records (the other half is the
    /// pack's own — its data, stack and anything it allocates besides), no
    /// more than the per-call fuel ceiling grants each its full
    /// `wasm_fuel_per_unit` (`(max_wasm_fuel_per_call − base) / per_unit`:
    /// a larger call would get less fuel per unit than its pack asked for
    /// and could run out where smaller calls do not), and at most
    /// [`MAX_UNITS_PER_CALL`]. A batch sized by the year would outgrow the
    /// memory or the fuel at some number of units; one sized by this never
    /// does for a pack that keeps to its records and its fuel.
    pub fn units_per_call(&self, entry: Entry) -> u32 {
        let c = &self.counts;
        let config = &self.shared.config;
        let per_unit = match entry {
            Entry::Evaluate => c.evaluate_input_len(1) - 16 + c.evaluate_output_len(1),
            Entry::Finalise => c.finalise_input_len(1) - 16 + c.finalise_output_len(1),
        };
        let by_memory = config.memory_cap_bytes / 2 / per_unit.max(1);
        let by_fuel = config
            .max_wasm_fuel_per_call
            .saturating_sub(config.wasm_fuel_base)
            .checked_div(self.wasm_fuel_per_unit)
            .unwrap_or(u64::MAX);
        let n = by_memory
            .min(by_fuel)
            .clamp(1, u64::from(MAX_UNITS_PER_CALL));
        u32::try_from(n).unwrap_or(MAX_UNITS_PER_CALL)
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
    /// output together with the wasm fuel used. The output's length must be
    /// what the manifest's counts require for `n_units` units (ABI 2's
    /// sparse evaluate output: at most that).
    pub fn call(
        &self,
        entry: Entry,
        input: &[u8],
        n_units: u32,
    ) -> Result<CallOutput, RuntimeError> {
        let (bytes, wasm_fuel_used) = self.call_with(
            entry,
            input.len(),
            n_units,
            |mem| {
                mem.copy_from_slice(input);
                Ok::<(), std::convert::Infallible>(())
            },
            <[u8]>::to_vec,
        )?;
        let bytes = match bytes {
            Ok(bytes) => bytes,
            Err(never) => match never {},
        };
        Ok(CallOutput {
            bytes,
            wasm_fuel_used,
        })
    }

    /// [`LoadedPack::call`] without copies: `write` fills the `input_len`
    /// bytes of input straight in the pack's memory (its error, if any, is
    /// returned as the inner `Err` and nothing runs), and `read` reads the
    /// output straight from the pack's memory before the store is dropped.
    /// Returns what `read` made and the wasm fuel used.
    pub fn call_with<R, E>(
        &self,
        entry: Entry,
        input_len: usize,
        n_units: u32,
        write: impl FnOnce(&mut [u8]) -> Result<(), E>,
        read: impl FnOnce(&[u8]) -> R,
    ) -> Result<(Result<R, E>, u64), RuntimeError> {
        let cap = self.shared.config.memory_cap_bytes;
        let len = input_len;
        let input_len = i32::try_from(len)
            .ok()
            .filter(|&len| len as u64 <= cap)
            .ok_or(RuntimeError::InputTooLarge { len, cap })?;
        let (expected_len, sparse) = match entry {
            Entry::Evaluate => (
                self.counts.evaluate_output_len(n_units),
                self.counts.evaluate_output_sparse(),
            ),
            Entry::Finalise => (self.counts.finalise_output_len(n_units), false),
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
        let region = memory
            .data_mut(&mut *store)
            .get_mut(ptr as usize..ptr as usize + len)
            .ok_or_else(|| {
                RuntimeError::MalformedOutput(format!(
                    "kaohe_alloc({input_len}) 返回的区域 {ptr} 越界 / kaohe_alloc({input_len}) returned region {ptr} out of bounds"
                ))
            })?;
        if let Err(e) = write(region) {
            return Ok((Err(e), 0));
        }
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
        if out_len != expected_len && !(sparse && out_len <= expected_len) {
            return Err(RuntimeError::MalformedOutput(format!(
                "输出长度 {out_len}，应为{} {expected_len}（{n_units} 个单位）/ output length {out_len}, expected {}{expected_len} for {n_units} units",
                if sparse { "至多" } else { "" },
                if sparse { "at most " } else { "" },
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
            })?;
        let made = read(bytes);
        let left = store.get_fuel().unwrap_or(0);
        Ok((Ok(made), fuel.saturating_sub(left)))
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
