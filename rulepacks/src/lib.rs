//! kaohe-rulepacks: the rubric language, the manifest and pack ABI, the
//! reference interpreter, the fixtures harness and `kaohe pack …`.
//!
//! Layout:
//! - [`rubric`]: the TOML rubric source → [`rubric::CheckedRubric`]
//!   (RUBRIC.md), with compile errors in Chinese and English;
//! - [`decimal`]: the one parser and formatter of hundredths (also
//!   `rubric::decimal`);
//! - [`manifest`]: what hub and node know about a pack without running it
//!   (ABI.md §4), and the loss reasons of `score =` indicators;
//! - [`abi`]: the byte layouts of `kaohe_evaluate` / `kaohe_finalise`, the
//!   quarter combination and the merge into a sheet (ABI.md §2–§7);
//! - [`interp`]: the reference interpreter — the oracle every compiled pack
//!   is tested against;
//! - [`fixture`]: hand-worked evidence fixtures and their checker, generic
//!   over the evaluator;
//! - [`compile`]: the rubric compiler to a WebAssembly pack (`kaohe pack build`);
//! - [`runtime`]: the wasmtime sandbox that runs compiled packs (ABI.md);
//! - [`pack`]: a compiled pack loaded with its manifest and identity — the
//!   one way to load a pack and call it — the [`pack::Evaluator`] trait
//!   that it and the interpreter implement, and [`pack::sha256`], the
//!   module digest an identity names;
//! - [`selftest`]: the fixtures a pack carries and the dry run hosts make
//!   before activating it;
//! - [`sign`]: pack statements, k-of-n authority signatures, the trust
//!   policy and `verify_pack` (ABI.md §8), with `kaohe pack keygen | sign |
//!   verify | inspect` in [`sign::command`];
//! - [`doc`]: the rubric rendered as the published document (Excel, HTML);
//! - [`cli`]: `kaohe pack check | eval | doc`.
//!
//! **Architecture Invariant:** nothing here but `cli` and `sign::command` does IO beyond reading
//! the files it is pointed at; scoring is a pure function of the rubric and
//! the evidence, in integer hundredths.

pub mod abi;
pub mod cli;
pub mod compile;
pub mod decimal;
pub mod doc;
pub mod fixture;
pub mod interp;
pub mod manifest;
pub mod pack;
pub mod rubric;
pub mod runtime;
pub mod selftest;
pub mod sign;
