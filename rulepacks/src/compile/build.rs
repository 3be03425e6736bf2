//! `kaohe pack build`: the rubric's hand-worked fixtures become the pack's
//! self-test (`crate::selftest`), so every host can dry-run the pack before
//! activating it.
//!
//! Every fixture must first agree with the reference interpreter; the
//! interpreter's bytes for all of them are recorded; the compiled module,
//! self-test embedded, is then loaded in the sandbox and must pass its own
//! self-test before the file is written — a compiler fault never leaves the
//! building machine.

use std::path::Path;

use sha2::{Digest as _, Sha256};

use super::{CompileError, compile_with_self_test};
use crate::abi::{self, FinaliseInput, UnitInput, UnitOutput};
use crate::fixture::{self, Expected, Fixture, FixtureError};
use crate::interp::Interpreter;
use crate::manifest::Round;
use crate::pack::{Evaluator, Pack, PackError};
use crate::rubric::CheckedRubric;
use crate::runtime::{Runtime, RuntimeConfig, RuntimeError};
use crate::selftest::{Batch, SelfTest};

/// Why a pack could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(
        "没有手算用例：{dir} 中没有 *.toml 用例，规则包无法内嵌自检（no fixtures: a pack carries its fixtures as its self-test; give --fixtures）"
    )]
    NoFixtures { dir: String },
    #[error("读取手算用例失败（cannot read the fixtures）：{0}")]
    Fixtures(#[from] FixtureError),
    #[error(
        "手算用例 {name} 与参考解释器不一致，未编译（a fixture disagrees with the reference interpreter）：\n{differences}"
    )]
    FixtureFails { name: String, differences: String },
    #[error("自检用例无法编码（cannot encode the self-test）：{0}")]
    Encode(#[from] abi::AbiError),
    #[error(transparent)]
    Compile(#[from] CompileError),
    #[error("无法启动沙箱运行时（cannot start the runtime）：{0}")]
    Runtime(#[from] RuntimeError),
    #[error(
        "编译出的规则包未通过自检，未写入（the compiled pack fails its self-test: a compiler fault）：{0}"
    )]
    Pack(#[from] PackError),
    #[error("写入 {path} 失败（cannot write the pack）：{source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// The self-test of `rubric` made of `fixtures`: every unit of every
/// fixture as one evaluate batch, and the merged sheet of every fixture
/// whose rounds all evaluate as one finalise batch, with the interpreter's
/// answers. Each fixture must agree with the interpreter first.
pub fn self_test(rubric: &CheckedRubric, fixtures: &[Fixture]) -> Result<SelfTest, BuildError> {
    let m = &rubric.manifest;
    let interp = Interpreter::new(rubric);
    let mut units: Vec<UnitInput> = Vec::new();
    let mut sheets: Vec<FinaliseInput> = Vec::new();
    for fx in fixtures {
        if let Err(diffs) = fixture::check_with(fx, &interp) {
            let lines: Vec<String> = diffs.iter().map(ToString::to_string).collect();
            return Err(BuildError::FixtureFails {
                name: fx.name.clone(),
                differences: lines.join("\n"),
            });
        }
        let ev = &fx.evidence;
        let these = ev.units();
        let outs = interp.evaluate(&these);
        units.extend(these);
        let finalised = matches!(
            fx.expected,
            Expected::Scores { sheet: Some(_), .. }
                | Expected::Error {
                    kind: fixture::ErrorKind::MissingIndicator,
                    ..
                }
        );
        if finalised && outs.iter().all(|o| o.status.is_ok()) {
            let pairs: Vec<(Round, &UnitOutput)> =
                ev.rounds.iter().map(|(r, _)| *r).zip(&outs).collect();
            if let Ok(sheet) =
                abi::merge_outputs(m, ev.category as u32, &pairs, ev.penalty_cap_override)
            {
                sheets.push(sheet);
            }
        }
    }
    record_self_test(&interp, &units, &sheets)
}

/// The self-test of `units` and `sheets` with `evaluator`'s answers as the
/// expected bytes: the reference interpreter for a compiled rubric, or a
/// hand-written pack recording what it answers when it is built (ABI.md
/// §9). Outputs are re-encoded from their typed form, which is exactly the
/// bytes a pack must answer (the codecs accept one encoding only).
pub fn record_self_test(
    evaluator: &dyn Evaluator,
    units: &[UnitInput],
    sheets: &[FinaliseInput],
) -> Result<SelfTest, BuildError> {
    let m = evaluator.manifest();
    let count = |n: usize| u32::try_from(n).map_err(|_| abi::AbiError::TooLarge);
    let evaluate_input = abi::encode_evaluate_input(m, units)?;
    let finalise_input = abi::encode_finalise_input(m, sheets)?;
    let evaluated = evaluator.evaluate(units)?;
    let finalised = evaluator.finalise(sheets)?;
    Ok(SelfTest {
        evaluate: Batch {
            units: count(units.len())?,
            output: abi::encode_evaluate_output(m, &evaluated),
            input: evaluate_input,
        },
        finalise: Batch {
            units: count(sheets.len())?,
            output: abi::encode_finalise_output(&finalised),
            input: finalise_input,
        },
    })
}

/// `kaohe pack build`: the fixtures of `fixtures_dir` become the self-test,
/// the pack is compiled with it, dry-run in the sandbox, and written to
/// `output` (through a temporary file renamed into place). Returns the
/// report.
pub fn build(
    rubric: &CheckedRubric,
    fixtures_dir: &Path,
    output: &Path,
) -> Result<String, BuildError> {
    let m = &rubric.manifest;
    let fixtures = Fixture::load_dir(fixtures_dir, m)?;
    if fixtures.is_empty() {
        return Err(BuildError::NoFixtures {
            dir: fixtures_dir.display().to_string(),
        });
    }
    let test = self_test(rubric, &fixtures)?;
    let wasm = compile_with_self_test(rubric, &test)?;
    // The dry run every host makes before activating the pack, made here
    // first: the compiled module must answer as the interpreter did.
    let runtime = Runtime::new(RuntimeConfig::default())?;
    let passed = Pack::load_as_found(&runtime, &wasm)?.self_test()?;
    let tmp = output.with_extension("wasm.tmp");
    let write = |path: &Path, r: std::io::Result<()>| {
        r.map_err(|source| BuildError::Write {
            path: path.display().to_string(),
            source,
        })
    };
    write(&tmp, std::fs::write(&tmp, &wasm))?;
    write(output, std::fs::rename(&tmp, output))?;
    let (eval_units, sheets) = passed.map_or((0, 0), |p| (p.evaluate_units, p.finalise_units));
    Ok(format!(
        "已编译（built）：{} {} 年第 {} 版 → {}\n  {} 字节（bytes），SHA-256 {}\n  {} 个证据字段、{} 个指标、{} 条条款（fields, indicators, clauses）；ABI {}.{}\n  内嵌自检：{} 个手算用例，{} 个单位轮次、{} 张得分表，已在沙箱中通过（self-test of {} fixtures embedded and passed）\n  尚未签名（not signed yet）\n",
        m.pack.id,
        m.pack.year,
        m.pack.version,
        output.display(),
        wasm.len(),
        hex::encode(Sha256::digest(&wasm)),
        m.fields.len(),
        m.indicators.len(),
        m.clause_count(),
        m.abi_version,
        m.abi_minor,
        fixtures.len(),
        eval_units,
        sheets,
        fixtures.len(),
    ))
}
