//! The rubric language, manifest, ABI codec, reference interpreter, fixtures
//! harness and `kaohe pack` commands, tested through the public API.
//!
//! Layout: this file holds the mini rubric and the helpers every part
//! shares; `compile_errors`, `semantics` (formulas in the interpreter),
//! `finalise`, `abi_codec`, `manifest`, `fixtures` and `cli` one file each.

use std::path::{Path, PathBuf};

use kaohe_rulepacks::abi::{self, FinaliseInput, UnitInput, UnitStatus};
use kaohe_rulepacks::interp::Interpreter;
use kaohe_rulepacks::manifest::{IndicatorKind, Manifest, Round};
use kaohe_rulepacks::rubric::{self, CheckedRubric, CompileError, Diagnostics};

mod abi_codec;
mod cli;
mod compile_errors;
mod finalise;
mod fixtures;
mod manifest;
mod semantics;

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel)
}

fn mini_src() -> String {
    std::fs::read_to_string(data("mini/rubric.toml")).expect("mini rubric")
}

fn mini() -> CheckedRubric {
    rubric::compile("mini.toml", &mini_src()).unwrap_or_else(|d| panic!("{}", d.render()))
}

/// The mini rubric as an ABI 1 pack (the layouts of ABI.md §2–§3).
fn mini_v1() -> CheckedRubric {
    mini().with_abi(kaohe_rulepacks::manifest::ABI_V1)
}

/// Replaces exactly one occurrence of `from`.
fn edit(src: &str, from: &str, to: &str) -> String {
    assert_eq!(src.matches(from).count(), 1, "`{from}` must occur once");
    src.replacen(from, to, 1)
}

fn errors_of(src: &str) -> Diagnostics {
    match rubric::compile("t.toml", src) {
        Ok(_) => panic!("expected compile errors"),
        Err(d) => d,
    }
}

/// 1-based line and character column of the `nth` occurrence of `needle`.
fn pos(src: &str, needle: &str, nth: usize) -> (usize, usize) {
    let at = src.match_indices(needle).nth(nth).expect("needle").0;
    let before = &src[..at];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, col)
}
