//! A loaded rule pack: the one way kaohe loads a compiled pack and calls it.
//!
//! Loading a module, checking that it is the pack it should be, encoding a
//! batch, calling the sandbox and decoding the answer happen here and
//! nowhere else: hub replay, publish and results, node activation and
//! evaluation, and `kaohe pack eval` all hold a [`Pack`]. Its errors are one
//! [`PackError`], Chinese first, every message naming the pack.
//!
//! [`Evaluator`] is what scoring needs of a pack — its manifest,
//! `kaohe_evaluate` and `kaohe_finalise` on typed input — so the same code
//! can run the compiled pack or the reference
//! [`Interpreter`](crate::interp::Interpreter), which implements it too.
//!
//! Layout:
//! - [`Pack`]: [`Pack::load`] (the identity the caller expects: a stored or
//!   verified pack), [`Pack::load_as_found`] (whatever a file holds, for
//!   `kaohe pack eval`), [`Pack::evaluate`], [`Pack::finalise`],
//!   [`Pack::self_test`] (the dry run before activation);
//! - [`Evaluator`]: the trait both the pack and the interpreter implement;
//! - [`PackError`]: every way loading or calling can fail;
//! - [`sha256`]: the module digest an identity names (signing uses it too).

use kaohe_proto::PackIdentity;
use sha2::{Digest as _, Sha256};

use crate::abi::{
    self, AbiError, FinaliseInput, FinaliseOutput, UnitInput, UnitOutput, decode_evaluate_output,
    decode_finalise_output, encode_evaluate_input, encode_finalise_input,
};
use crate::manifest::{Manifest, ManifestError, PackInfo};
use crate::runtime::{BadInputCode, Entry, LoadedPack, Runtime, RuntimeError};
use crate::selftest::{Passed, SelfTest, SelfTestError};

/// What scores a batch as ABI.md §2–§3 say: the sandboxed [`Pack`] or the
/// reference [`Interpreter`](crate::interp::Interpreter).
pub trait Evaluator {
    /// The manifest batches are encoded against and outputs read with.
    fn manifest(&self) -> &Manifest;
    /// `kaohe_evaluate`: one output per unit, in order. A unit's own error
    /// is its status; `Err` means the whole batch failed.
    fn evaluate(&self, units: &[UnitInput]) -> Result<Vec<UnitOutput>, PackError>;
    /// `kaohe_finalise`: one sheet per unit, in order.
    fn finalise(&self, units: &[FinaliseInput]) -> Result<Vec<FinaliseOutput>, PackError>;
}

/// A compiled pack loaded in the sandbox, with its typed manifest and its
/// identity (id, year, version from the manifest; SHA-256 of the module).
pub struct Pack {
    loaded: LoadedPack,
    manifest: Manifest,
    identity: PackIdentity,
}

/// Loading or calling a pack failed. Load-time variants mean the pack can
/// never be used; call-time variants refer to one batch.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    /// The module's bytes are not the ones the identity names.
    #[error(
        "规则包 {pack} 的模块摘要为 {}，应为 {}：不是该规则包的模块（module SHA-256 differs from the pack's）",
        hex::encode(found),
        hex::encode(pack.module_sha256)
    )]
    ModuleMismatch {
        pack: Box<PackIdentity>,
        found: [u8; 32],
    },
    /// The sandbox refused the module.
    #[error("无法加载规则包 {pack}（cannot load the pack）：{source}")]
    Load {
        pack: String,
        #[source]
        source: RuntimeError,
    },
    /// The embedded manifest is not a complete, consistent manifest v1.
    #[error("规则包 {pack} 的清单不可用（unusable manifest）：{source}")]
    Manifest {
        pack: String,
        #[source]
        source: ManifestError,
    },
    /// The manifest names another id, year or version than expected.
    #[error(
        "规则包 {expected} 的清单写明的是 {}-{} 第 {} 版（manifest names another pack）",
        found.id,
        found.year,
        found.version
    )]
    IdentityMismatch {
        expected: Box<PackIdentity>,
        found: Box<PackInfo>,
    },
    /// The manifest's year does not fit a pack identity.
    #[error("规则包 {pack} 的清单年度 {year} 超出范围（manifest year out of range）")]
    YearOutOfRange { pack: String, year: u32 },
    /// The batch cannot be put into the ABI's input layout.
    #[error("规则包 {pack}：无法编码输入（cannot encode the input）：{source}")]
    Encode {
        pack: String,
        #[source]
        source: AbiError,
    },
    /// The call failed in the sandbox: fuel, deadline, memory, a trap, or
    /// the pack refusing the batch.
    #[error("规则包 {pack} 运行失败（the pack failed）：{source}")]
    Runtime {
        pack: String,
        #[source]
        source: RuntimeError,
    },
    /// The pack answered, but not as the ABI allows (pointer, length or
    /// content).
    #[error("规则包 {pack} 的输出不符合 ABI（malformed output）：{reason}")]
    MalformedOutput { pack: String, reason: String },
    /// The pack's embedded self-test is unreadable or did not pass.
    #[error("规则包 {pack}：{source}")]
    SelfTest {
        pack: String,
        #[source]
        source: SelfTestError,
    },
}

/// SHA-256 of a module's bytes: the digest a [`PackIdentity`] names.
pub fn sha256(module: &[u8]) -> [u8; 32] {
    Sha256::digest(module).into()
}

impl Pack {
    /// Loads a stored or verified pack: the module's SHA-256 must be
    /// `expected`'s (checked before anything is compiled) and its manifest
    /// must name `expected`'s id, year and version.
    pub fn load(
        runtime: &Runtime,
        module: &[u8],
        expected: &PackIdentity,
    ) -> Result<Pack, PackError> {
        let found = sha256(module);
        if found != expected.module_sha256 {
            return Err(PackError::ModuleMismatch {
                pack: Box::new(expected.clone()),
                found,
            });
        }
        let (loaded, manifest) = load_parts(runtime, module, &expected.to_string())?;
        let p = &manifest.pack;
        if p.id != expected.id
            || p.year != u32::from(expected.year)
            || p.version != expected.version
        {
            return Err(PackError::IdentityMismatch {
                expected: Box::new(expected.clone()),
                found: Box::new(p.clone()),
            });
        }
        Ok(Pack {
            loaded,
            manifest,
            identity: expected.clone(),
        })
    }

    /// Loads whatever pack `module` is, taking its identity from its own
    /// manifest: for `kaohe pack eval` of a file, where nothing is expected.
    /// Never use it for a pack that is to be trusted.
    pub fn load_as_found(runtime: &Runtime, module: &[u8]) -> Result<Pack, PackError> {
        let digest = sha256(module);
        let label = format!("（模块 SHA-256 {}…）", &hex::encode(digest)[..16]);
        let (loaded, manifest) = load_parts(runtime, module, &label)?;
        let p = &manifest.pack;
        let year = u16::try_from(p.year).map_err(|_| PackError::YearOutOfRange {
            pack: format!("{}{label}", p.id),
            year: p.year,
        })?;
        let identity = PackIdentity {
            id: p.id.clone(),
            year,
            version: p.version,
            module_sha256: digest,
        };
        Ok(Pack {
            loaded,
            manifest,
            identity,
        })
    }

    /// The pack's manifest, as embedded in the module.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Id, year, version and module SHA-256.
    pub fn identity(&self) -> &PackIdentity {
        &self.identity
    }

    /// SHA-256 of the module bytes.
    pub fn digest(&self) -> &[u8; 32] {
        self.loaded.digest()
    }

    /// The sandboxed module, for what only the runtime knows (fuel, the
    /// cache outcome) and for benchmarks of raw calls.
    pub fn loaded(&self) -> &LoadedPack {
        &self.loaded
    }

    /// Runs the self-test the pack carries (`crate::selftest`): `Ok(None)`
    /// when it carries none (packs built before self-tests), `Ok(Some)`
    /// when every byte agreed, `Err` otherwise. Hosts run it before
    /// activating a pack.
    pub fn self_test(&self) -> Result<Option<Passed>, PackError> {
        let Some(bytes) = self.loaded.self_test_bytes() else {
            return Ok(None);
        };
        let failed = |source| PackError::SelfTest {
            pack: self.identity.to_string(),
            source,
        };
        let test = SelfTest::decode(bytes).map_err(failed)?;
        let call = |entry| {
            move |input: &[u8], n: u32| {
                self.loaded
                    .call(entry, input, n)
                    .map(|out| out.bytes)
                    .map_err(|e| e.to_string())
            }
        };
        test.run(
            &self.manifest,
            &call(crate::runtime::Entry::Evaluate),
            &call(crate::runtime::Entry::Finalise),
        )
        .map(Some)
        .map_err(failed)
    }

    /// `kaohe_evaluate` through the sandbox, in as many calls as the pack's
    /// memory needs ([`LoadedPack::units_per_call`]); one output per unit,
    /// in order. An empty batch is answered without a call.
    pub fn evaluate(&self, units: &[UnitInput]) -> Result<Vec<UnitOutput>, PackError> {
        self.in_calls(Entry::Evaluate, units, |part| self.evaluate_call(part))
    }

    fn evaluate_call(&self, units: &[UnitInput]) -> Result<Vec<UnitOutput>, PackError> {
        let m = &self.manifest;
        let n = units.len();
        // ABI 2: the input written and the output decoded in the pack's
        // memory. ABI 1 keeps its encoder (a vector copied in).
        let outs = if m.is_v2() {
            let len = abi::v2::evaluate_input_len(m, n).map_err(|e| self.encode(e))?;
            self.loaded.call_with(
                Entry::Evaluate,
                len,
                self.count(n)?,
                |mem| abi::v2::write_evaluate_input(m, units, mem),
                |out| decode_evaluate_output(m, n, out),
            )
        } else {
            let input = encode_evaluate_input(m, units).map_err(|e| self.encode(e))?;
            self.loaded.call_with(
                Entry::Evaluate,
                input.len(),
                self.count(n)?,
                |mem| {
                    mem.copy_from_slice(&input);
                    Ok(())
                },
                |out| decode_evaluate_output(m, n, out),
            )
        };
        let outs = outs
            .map_err(|e| self.runtime(e))?
            .0
            .map_err(|e| self.encode(e))?
            .map_err(|e| self.output(&e))?;
        // A unit that evaluated reports exactly its marks as not applicable.
        let none = |marks: &[bool]| !marks.contains(&true);
        for (k, (unit, out)) in units.iter().zip(&outs).enumerate() {
            // Nearly every unit marks nothing and reports nothing: one
            // scan of each, not a lookup per indicator.
            if !out.status.is_ok() || none(&unit.not_applicable) && none(&out.not_applicable) {
                continue;
            }
            let marked = |i: usize| unit.not_applicable.get(i).copied().unwrap_or(false);
            if let Some(i) =
                (0..self.manifest.indicators.len()).find(|&i| out.is_not_applicable(i) != marked(i))
            {
                return Err(self.output(&AbiError::Malformed {
                    unit: k,
                    reason: format!(
                        "指标 {} 的“不适用”与输入不一致（not-applicable state differs from the input）",
                        self.manifest.indicators[i].id
                    ),
                }));
            }
        }
        Ok(outs)
    }

    /// `kaohe_finalise` through the sandbox, in as many calls as the
    /// pack's memory needs ([`LoadedPack::units_per_call`]): a year of any
    /// size is finalised, never one call sized by the year. One sheet per
    /// unit, in order. An empty batch is answered without a call.
    pub fn finalise(&self, units: &[FinaliseInput]) -> Result<Vec<FinaliseOutput>, PackError> {
        self.in_calls(Entry::Finalise, units, |part| self.finalise_call(part))
    }

    /// Runs `call` on `units` in parts of at most `units_per_call`. A part
    /// the pack runs out of memory on is split in halves and run again: a
    /// pack may use more memory per unit than its records, and what a unit
    /// scores never depends on its batch (ABI.md §2), so only a single
    /// unit out of memory is the pack's failure.
    fn in_calls<T, O>(
        &self,
        entry: Entry,
        units: &[T],
        call: impl Fn(&[T]) -> Result<Vec<O>, PackError>,
    ) -> Result<Vec<O>, PackError> {
        fn run<T, O>(
            units: &[T],
            call: &impl Fn(&[T]) -> Result<Vec<O>, PackError>,
            out: &mut Vec<O>,
        ) -> Result<(), PackError> {
            match call(units) {
                Ok(part) => {
                    // A batch that fits one call (the usual case) keeps
                    // the call's vector: no second copy of every output.
                    if out.is_empty() {
                        *out = part;
                    } else {
                        out.extend(part);
                    }
                    Ok(())
                }
                Err(PackError::Runtime {
                    source:
                        RuntimeError::OutOfMemory { .. }
                        | RuntimeError::BadInput(BadInputCode::OutOfMemory),
                    ..
                }) if units.len() > 1 => {
                    let (a, b) = units.split_at(units.len() / 2);
                    run(a, call, out)?;
                    run(b, call, out)
                }
                Err(e) => Err(e),
            }
        }
        let mut out = Vec::new();
        let per_call = self.loaded.units_per_call(entry) as usize;
        for part in units.chunks(per_call) {
            run(part, &call, &mut out)?;
        }
        Ok(out)
    }

    fn finalise_call(&self, units: &[FinaliseInput]) -> Result<Vec<FinaliseOutput>, PackError> {
        let m = &self.manifest;
        let n = units.len();
        let outs = if m.is_v2() {
            let len = abi::v2::finalise_input_len(m, n).map_err(|e| self.encode(e))?;
            self.loaded.call_with(
                Entry::Finalise,
                len,
                self.count(n)?,
                |mem| abi::v2::write_finalise_input(m, units, mem),
                |out| decode_finalise_output(m, n, out),
            )
        } else {
            let input = encode_finalise_input(m, units).map_err(|e| self.encode(e))?;
            self.loaded.call_with(
                Entry::Finalise,
                input.len(),
                self.count(n)?,
                |mem| {
                    mem.copy_from_slice(&input);
                    Ok(())
                },
                |out| decode_finalise_output(m, n, out),
            )
        };
        outs.map_err(|e| self.runtime(e))?
            .0
            .map_err(|e| self.encode(e))?
            .map_err(|e| self.output(&e))
    }

    fn count(&self, n: usize) -> Result<u32, PackError> {
        u32::try_from(n).map_err(|_| self.encode(AbiError::TooLarge))
    }

    fn encode(&self, source: AbiError) -> PackError {
        PackError::Encode {
            pack: self.identity.to_string(),
            source,
        }
    }

    /// The runtime's own output checks (pointer, length, status code) and
    /// the decoder's are the same fault to the caller: one variant.
    fn runtime(&self, e: RuntimeError) -> PackError {
        let pack = self.identity.to_string();
        match e {
            RuntimeError::MalformedOutput(reason) => PackError::MalformedOutput { pack, reason },
            source => PackError::Runtime { pack, source },
        }
    }

    fn output(&self, e: &AbiError) -> PackError {
        PackError::MalformedOutput {
            pack: self.identity.to_string(),
            reason: e.to_string(),
        }
    }
}

impl std::fmt::Debug for Pack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pack")
            .field("identity", &self.identity)
            .field("loaded", &self.loaded)
            .finish_non_exhaustive()
    }
}

impl Evaluator for Pack {
    fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    fn evaluate(&self, units: &[UnitInput]) -> Result<Vec<UnitOutput>, PackError> {
        Pack::evaluate(self, units)
    }

    fn finalise(&self, units: &[FinaliseInput]) -> Result<Vec<FinaliseOutput>, PackError> {
        Pack::finalise(self, units)
    }
}

/// Compiles the module in the sandbox and reads its manifest; `pack` names
/// it in errors.
fn load_parts(
    runtime: &Runtime,
    module: &[u8],
    pack: &str,
) -> Result<(LoadedPack, Manifest), PackError> {
    let loaded = runtime.load(module).map_err(|source| PackError::Load {
        pack: pack.to_owned(),
        source,
    })?;
    let manifest =
        Manifest::from_json(loaded.manifest_json()).map_err(|source| PackError::Manifest {
            pack: pack.to_owned(),
            source,
        })?;
    Ok((loaded, manifest))
}
