//! kaohe-rulepacks' one integration-test binary (STYLE.md: one per crate, so
//! wasmtime and cranelift are linked once).
//!
//! - `language`: the rubric language, compile errors, semantics, the ABI
//!   codec, the manifest, the fixtures and `kaohe pack check|eval`;
//! - `runtime`: the wasmtime sandbox with the hand-written and hostile
//!   `.wat` guests, every limit obeyed and broken;
//! - `compile`: the compiler, differentially tested against the interpreter;
//! - `pack`: `pack::Pack` — loading under an identity, its typed errors, and
//!   agreement with the interpreter through `pack::Evaluator`;
//! - `compile_limits`: the static shape limits checked before compiling
//!   and the per-call fuel ceiling;
//! - `not_applicable`: items marked not applicable and the per-unit
//!   conversion, loss reasons of `score =` indicators, the bottom-n share;
//! - `self_test`: the fixtures a built pack carries and the dry run that
//!   refuses a pack answering otherwise;
//! - `sign`: pack statements, k-of-n trust policies and their refusals;
//! - `abi2`: ABI 2 beside ABI 1 — one rubric both ways answers the same,
//!   and a module relabelled from one ABI to the other is refused.

mod abi2;
mod compile;
mod compile_limits;
mod language;
mod not_applicable;
mod pack;
mod runtime;
mod self_test;
mod sign;
