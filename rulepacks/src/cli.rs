//! `kaohe pack …`: thin commands over the library. Output for officials is
//! Chinese first with the English beside it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use crate::abi::{FinaliseOutput, UnitOutput, merge_outputs};
use crate::decimal::Points;
use crate::fixture::Evidence;
use crate::interp::Interpreter;
use crate::manifest::{IndicatorKind, Manifest, Round};
use crate::pack::Evaluator;
use crate::rubric::{CheckedRubric, LoadError};

/// 规则包命令（rule pack commands）
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// 检查考核细则源文件，列出全部错误（check a rubric and list every error）
    Check {
        /// 考核细则源文件（rubric.toml），或含它的规则包目录（a rubric, or the pack directory holding it）
        #[arg(value_name = "细则")]
        rubric: PathBuf,
    },
    /// 对一份证据求值，打印评分表：细则源文件用参考解释器，.wasm 规则包在沙箱中运行（evaluate evidence and print the score sheet: a rubric with the reference interpreter, a .wasm pack in the sandbox）
    Eval {
        /// 考核细则源文件（rubric.toml）或编译好的规则包（PACK.wasm）
        #[arg(value_name = "细则")]
        rubric: PathBuf,
        /// 证据文件（evidence file: category, methods, [evidence.annual], [evidence.Q1] …）
        #[arg(value_name = "证据")]
        evidence: PathBuf,
    },
    /// 生成下发的考核细则文档（Excel 与 HTML）（render the rubric as the published document）
    Doc {
        /// 考核细则源文件（rubric.toml）或含它的规则包目录；同目录的 ASSUMPTIONS.md 一并收入
        #[arg(value_name = "细则")]
        rubric: PathBuf,
        /// 输出目录（output directory）
        #[arg(long, value_name = "目录", default_value = ".")]
        out: PathBuf,
    },
    /// 生成规则包发布机关密钥（generate a pack authority key）
    Keygen(crate::sign::command::KeygenArgs),
    /// 发布机关签署规则包，或在已有签名文件上加签（sign a pack, or add a signature to its signature file）
    Sign(crate::sign::command::SignArgs),
    /// 按固定信任的发布机关公钥与门槛核验规则包（verify a pack against pinned authority keys and a threshold）
    Verify(crate::sign::command::VerifyArgs),
    /// 查看规则包的标识、摘要、清单概要与签名（show a pack's identity, digest, manifest summary and signatures）
    Inspect(crate::sign::command::InspectArgs),
    /// 把考核细则编译为 WebAssembly 规则包，内嵌手算用例作为自检（compile a rubric to a WebAssembly rule pack with its fixtures as the pack's self-test）
    Build {
        /// 考核细则源文件（rubric.toml），或含它的规则包目录（a rubric, or the pack directory holding it）
        #[arg(value_name = "细则")]
        rubric: PathBuf,
        /// 输出的规则包（output pack, e.g. baofeng-2022.wasm）
        #[arg(short = 'o', long = "out", alias = "output", value_name = "规则包")]
        output: PathBuf,
        /// 手算用例目录，默认为细则同目录的 fixtures/（fixtures directory; default: fixtures/ beside the rubric）
        #[arg(long, value_name = "目录")]
        fixtures: Option<PathBuf>,
    },
}

/// Runs one `kaohe pack` command.
pub fn run(cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::Check { rubric } => {
            let r = load(&rubric)?;
            print!("{}", check_report(&r));
            Ok(())
        }
        Command::Eval { rubric, evidence } if rubric.extension().is_some_and(|e| e == "wasm") => {
            let pack = crate::sign::command::load_pack_file(&rubric)?;
            let ev =
                Evidence::load(&evidence, pack.manifest()).map_err(|e| anyhow::anyhow!("{e}"))?;
            let (text, ok) = eval_report(&pack, &ev);
            print!("{text}");
            if !ok {
                bail!("求值失败（evaluation failed），见上（see above）");
            }
            Ok(())
        }
        Command::Eval { rubric, evidence } => {
            let r = load(&rubric)?;
            let ev = Evidence::load(&evidence, &r.manifest).map_err(|e| anyhow::anyhow!("{e}"))?;
            let interp = Interpreter::new(&r);
            let (text, ok) = eval_report(&interp, &ev);
            print!("{text}");
            if !ok {
                bail!("求值失败（evaluation failed），见上（see above）");
            }
            Ok(())
        }
        Command::Doc { rubric, out } => {
            for path in crate::doc::run(&rubric, &out)? {
                println!("已生成（written）：{}", path.display());
            }
            Ok(())
        }
        Command::Keygen(args) => args.run(),
        Command::Sign(args) => args.run(),
        Command::Verify(args) => args.run(),
        Command::Inspect(args) => args.run(),
        Command::Build {
            rubric,
            output,
            fixtures,
        } => {
            let r = load(&rubric)?;
            let file = crate::rubric::file_of(&rubric);
            let fixtures = fixtures
                .unwrap_or_else(|| file.parent().unwrap_or(Path::new(".")).join("fixtures"));
            print!("{}", crate::compile::build(&r, &fixtures, &output)?);
            Ok(())
        }
    }
}

/// Compiles a rubric file; on failure prints every error with its position
/// and returns an error counting them.
fn load(path: &Path) -> anyhow::Result<CheckedRubric> {
    match crate::rubric::load(path) {
        Ok(r) => Ok(r),
        Err(LoadError::Compile(d)) => {
            eprint!("{}", d.render());
            bail!(
                "{} 处错误（{} errors）：{}",
                d.0.len(),
                d.0.len(),
                path.display()
            )
        }
        Err(e) => Err(e).context("读取考核细则（read the rubric）"),
    }
}

/// What `kaohe pack check` prints for a rubric that compiled.
pub fn check_report(r: &CheckedRubric) -> String {
    let m = &r.manifest;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "检查通过（ok）：{} {} 年第 {} 版《{}》",
        m.pack.id, m.pack.year, m.pack.version, m.pack.title
    );
    let _ = writeln!(
        s,
        "  {} 个分组、{} 个类别、{} 种考核方式、{} 个证据字段、{} 个指标、{} 条条款（groups, categories, methods, fields, indicators, clauses）",
        m.groups.len(),
        m.categories.len(),
        m.methods.len(),
        m.fields.len(),
        m.indicators.len(),
        m.clause_count()
    );
    let _ = writeln!(
        s,
        "  各类别应考分值与单次求值最大燃料（applicable points and worst-case rubric fuel per category）："
    );
    for (c, cat) in m.categories.iter().enumerate() {
        let fuel = |quarter: bool| -> u64 {
            m.applicable_indicators(c)
                .filter(|&i| {
                    m.indicator_method(i)
                        .is_some_and(|mi| m.methods[mi].quarterly == quarter)
                })
                .map(|i| m.indicators[i].fuel_cost)
                .sum()
        };
        let (annual, quarter) = (fuel(false), fuel(true));
        let _ = writeln!(
            s,
            "    {}（{}）：{} 分；燃料 年度 {annual}、季度 {quarter}",
            cat.name,
            cat.id,
            Points(m.applicable_points(c))
        );
        for (what, f) in [("年度（annual）", annual), ("季度（quarter）", quarter)] {
            if f > m.limits.fuel_per_unit {
                let _ = writeln!(
                    s,
                    "    警告（warning）：{what}求值需 {f} 燃料，超过限额 fuel_per_unit = {}，该类别单位将因燃料耗尽而失败（units would run out of fuel）",
                    m.limits.fuel_per_unit
                );
            }
        }
    }
    s
}

/// The Chinese score sheet of one unit's evidence, and whether evaluation
/// succeeded, through any evaluator: the reference interpreter or a
/// compiled pack in the runtime. An evaluator that fails is reported in
/// the text.
pub fn eval_report(evaluator: &dyn Evaluator, ev: &Evidence) -> (String, bool) {
    let m = evaluator.manifest();
    let c = ev.category;
    let mut s = String::new();
    let cat = &m.categories[c];
    let methods: Vec<String> = m
        .methods
        .iter()
        .enumerate()
        .filter(|(i, _)| ev.methods & (1 << i) != 0)
        .map(|(_, x)| format!("{}（{}）", x.name, x.id))
        .collect();
    let _ = writeln!(s, "考核评分表（score sheet）");
    let _ = writeln!(
        s,
        "规则包（pack）：{} {} 年第 {} 版《{}》",
        m.pack.id, m.pack.year, m.pack.version, m.pack.title
    );
    let _ = writeln!(s, "类别（category）：{}（{}）", cat.name, cat.id);
    let _ = writeln!(s, "考核方式（methods）：{}", methods.join("、"));
    let units = ev.units();
    let outs = match evaluator.evaluate(&units) {
        Ok(outs) if outs.len() == units.len() => outs,
        Ok(outs) => {
            let _ = writeln!(
                s,
                "  求值结果 {} 个，应为 {} 个（wrong number of outputs）",
                outs.len(),
                units.len()
            );
            return (s, false);
        }
        Err(e) => {
            let _ = writeln!(s, "  求值失败（evaluation failed）：{e}");
            return (s, false);
        }
    };
    let mut ok = true;
    for ((round, values), out) in ev.rounds.iter().zip(&outs) {
        let _ = writeln!(s);
        let _ = writeln!(s, "—— {}（{}）——", round.name_zh(), round.id());
        if !out.status.is_ok() {
            let _ = writeln!(s, "  错误（error）：{}", out.status.describe(m));
            ok = false;
            continue;
        }
        let reasons = ev.not_applicable.get(round).map(Vec::as_slice);
        round_table(&mut s, m, c, out, values, reasons.unwrap_or_default());
    }
    if !ok {
        return (s, false);
    }
    let pairs: Vec<(Round, &UnitOutput)> = ev.rounds.iter().map(|(r, _)| *r).zip(&outs).collect();
    let _ = writeln!(s);
    let _ = writeln!(s, "—— 汇总（sheet）——");
    let input = match merge_outputs(m, c as u32, &pairs, ev.penalty_cap_override) {
        Ok(i) => i,
        Err(e) => {
            let _ = writeln!(s, "  不能汇总（cannot merge）：{e}");
            return (s, false);
        }
    };
    let quarterly: Vec<usize> = m
        .applicable_indicators(c)
        .filter(|&i| {
            m.indicator_method(i)
                .is_some_and(|mi| m.methods[mi].quarterly)
        })
        .collect();
    if !quarterly.is_empty() {
        let _ = writeln!(
            s,
            "  季度指标的年度值（quarterly indicators combined for the year）："
        );
        for i in quarterly {
            let ind = &m.indicators[i];
            let v = input.scores[i]
                .map(|v| Points(v).to_string())
                .unwrap_or_else(|| "—".into());
            let _ = writeln!(s, "    {} {}  {}", pad(&ind.id, 8), pad(&ind.name, 40), v);
        }
    }
    let out: FinaliseOutput = match evaluator.finalise(std::slice::from_ref(&input)).as_deref() {
        Ok([out]) => *out,
        Ok(outs) => {
            let _ = writeln!(
                s,
                "  定档结果 {} 个，应为 1 个（wrong number of outputs）",
                outs.len()
            );
            return (s, false);
        }
        Err(e) => {
            let _ = writeln!(s, "  定档失败（finalise failed）：{e}");
            return (s, false);
        }
    };
    match out.result() {
        Err(status) => {
            let _ = writeln!(s, "  未能定档（no sheet）：{}", status.describe(m));
            let _ = writeln!(
                s,
                "  （只评了部分考核方式时，其余指标没有得分；完整定档需要全部适用指标 / a full sheet needs every applicable indicator）"
            );
        }
        Ok(sheet) => {
            let grade = &m.composition.grades[sheet.grade as usize];
            let mut flags = Vec::new();
            if sheet.serious_case {
                flags.push(format!(
                    "情节严重，不得评为{}（serious case）",
                    m.grade_index(&m.composition.serious_case_bars)
                        .map(|g| m.composition.grades[g].name.as_str())
                        .unwrap_or("")
                ));
            }
            if sheet.major_problem {
                flags.push("发生重大法治问题（major problem）".into());
            }
            let marked: Vec<String> = input
                .not_applicable
                .iter()
                .enumerate()
                .filter(|&(_, &na)| na)
                .map(|(i, _)| m.indicators[i].id.clone())
                .collect();
            let applicable_note = if marked.is_empty() {
                String::new()
            } else {
                format!(
                    "（{} 不适用，不计入；按实际考核内容换算 / not applicable, left out）",
                    marked.join("、")
                )
            };
            let conv_note = if sheet.converted != sheet.raw {
                format!(
                    "（{} × {} ÷ {}，四舍五入）",
                    Points(sheet.raw),
                    Points(m.composition.full_marks),
                    Points(sheet.applicable)
                )
            } else {
                String::new()
            };
            let cap_note = match ev.penalty_cap_override {
                Some(p) => format!("（减分上限经记录调整为 {} / cap override）", Points(p)),
                None => String::new(),
            };
            for (k, v) in [
                (
                    "应考分值（applicable）",
                    format!("{}{applicable_note}", Points(sheet.applicable)),
                ),
                ("原始得分（raw）", Points(sheet.raw).to_string()),
                (
                    "换算得分（converted）",
                    format!("{}{conv_note}", Points(sheet.converted)),
                ),
                ("加分（bonus）", Points(sheet.bonus).to_string()),
                (
                    "减分（penalty）",
                    format!("{}{cap_note}", Points(sheet.penalty)),
                ),
                ("总分（total）", Points(sheet.total).to_string()),
                ("等次（grade）", format!("{}（{}）", grade.name, grade.id)),
                (
                    "标记（flags）",
                    if flags.is_empty() {
                        "无（none）".into()
                    } else {
                        flags.join("；")
                    },
                ),
            ] {
                let _ = writeln!(s, "  {} {v}", pad(k, 24));
            }
        }
    }
    (s, true)
}

fn round_table(
    s: &mut String,
    m: &Manifest,
    c: usize,
    out: &UnitOutput,
    values: &[Option<i64>],
    not_applicable: &[Option<String>],
) {
    let offsets = m.clause_offsets();
    let _ = writeln!(
        s,
        "  {} {} {} 得分（score）",
        pad("指标", 8),
        pad("名称（indicator）", 40),
        pad("分值", 6)
    );
    let mut any = false;
    for (i, ind) in m.indicators.iter().enumerate() {
        if out.is_not_applicable(i) {
            any = true;
            let reason = not_applicable.get(i).cloned().flatten().unwrap_or_default();
            let points = m
                .points(i, c)
                .map(|p| Points(p).to_string())
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "  {} {} {} 不适用（not applicable）：{reason}",
                pad(&ind.id, 8),
                pad(&ind.name, 40),
                pad(&points, 6)
            );
            continue;
        }
        let Some(score) = out.indicators.get(i).copied().flatten() else {
            continue;
        };
        any = true;
        let (points, value) = match ind.kind {
            IndicatorKind::Flag => (
                "—".to_string(),
                if score != 0 {
                    format!(
                        "是（raised）：{}",
                        ind.flag.map(|f| f.name_zh()).unwrap_or("")
                    )
                } else {
                    "否（no）".into()
                },
            ),
            IndicatorKind::Bonus => (
                m.points(i, c)
                    .map(|p| Points(p).to_string())
                    .unwrap_or_default(),
                signed("+", score),
            ),
            IndicatorKind::Penalty => (
                m.points(i, c)
                    .map(|p| Points(p).to_string())
                    .unwrap_or_default(),
                signed("-", score),
            ),
            IndicatorKind::Scored => (
                m.points(i, c)
                    .map(|p| Points(p).to_string())
                    .unwrap_or_default(),
                Points(score).to_string(),
            ),
        };
        let _ = writeln!(
            s,
            "  {} {} {} {value}",
            pad(&ind.id, 8),
            pad(&ind.name, 40),
            pad(&points, 6)
        );
        if let Some(reason) = m.loss_reason(i, c, &|f| values.get(f).copied().flatten(), score) {
            let _ = writeln!(s, "      失分理由（why points were lost）：{reason}");
        }
        for (j, clause) in ind.clauses.iter().enumerate() {
            if let Some(a) = out.clauses.get(offsets[i] + j).copied().flatten() {
                let sign = if ind.kind == IndicatorKind::Bonus {
                    "+"
                } else {
                    "-"
                };
                let _ = writeln!(
                    s,
                    "      {} {}{}  {}",
                    pad(&clause.id, 8),
                    sign,
                    Points(a),
                    clause.reason
                );
            }
        }
    }
    if !any {
        let _ = writeln!(
            s,
            "  （本轮次没有评估的指标 / nothing evaluated in this round）"
        );
    }
    let _ = writeln!(s, "  规则燃料（rubric fuel）：{}", out.fuel_used);
}

fn signed(sign: &str, v: i64) -> String {
    if v == 0 {
        "0".into()
    } else {
        format!("{sign}{}", Points(v))
    }
}

/// Pads to a display width, counting CJK characters as two columns.
fn pad(text: &str, width: usize) -> String {
    let w: usize = text.chars().map(|c| if c.is_ascii() { 1 } else { 2 }).sum();
    format!("{text}{}", " ".repeat(width.saturating_sub(w)))
}
