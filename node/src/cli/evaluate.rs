//! `kaohe node evaluate`: score the year's units with the active pack and
//! show the results; nothing is saved (`submit` shares the scoring).

use std::path::Path;

use anyhow::Context as _;
use kaohe_rulepacks::manifest::Round;
use kaohe_rulepacks::runtime::{Runtime, RuntimeConfig};

use super::{actor, open, parse_round, print_reevaluations};
use crate::evaluate::{self, UnitResult};
use crate::store::{PackInfo, Store};

#[derive(Debug, clap::Args)]
pub(super) struct EvaluateArgs {
    /// 考核年度（assessment year）
    #[arg(long, value_name = "年度")]
    pub(super) year: u16,
    /// 轮次：annual 或 Q1–Q4（round）
    #[arg(long, value_parser = parse_round, value_name = "轮次", default_value = "annual")]
    pub(super) round: Round,
    /// 只评这些考核方式，可重复（only these methods; repeatable）
    #[arg(long = "method", value_name = "方式")]
    pub(super) methods: Vec<String>,
    /// 操作人（默认为当前登录用户）（operator; default: the login user）
    #[arg(long, value_name = "姓名")]
    pub(super) operator: Option<String>,
}

/// Runs `kaohe node evaluate`: the scores are shown, nothing is saved.
pub(super) fn run(dir: &Path, a: EvaluateArgs) -> anyhow::Result<()> {
    let (_config, store) = open(dir)?;
    // `evaluate` and `submit` take the same arguments, the operator too.
    actor(a.operator.clone())?;
    score(&store, &a, false)?;
    Ok(())
}

/// Scores the asked-for round with the year's active pack and shows the
/// results. `submitting`: results computed under an earlier pack of the
/// year are evaluated again too (otherwise only named).
pub(super) fn score(
    store: &Store,
    a: &EvaluateArgs,
    submitting: bool,
) -> anyhow::Result<(PackInfo, Vec<UnitResult>)> {
    // Compiled modules are cached beside node.db, in the data directory.
    let data_dir = store.path().parent().unwrap_or(Path::new("."));
    let runtime = Runtime::new(RuntimeConfig::with_cache_under(data_dir))
        .context("启动规则包运行环境（start the pack runtime）")?;
    let scored = evaluate::score(
        store,
        &runtime,
        &evaluate::ScoreRequest {
            year: a.year,
            round: a.round,
            methods: a.methods.clone(),
            submitting,
        },
    )?;
    if !scored.reevaluations.is_empty() {
        print_reevaluations(
            a.year,
            &scored.reevaluations,
            &scored.pack.identity.to_string(),
        );
        if !submitting {
            println!(
                "提交（kaohe node submit）时将按新版一并重新评价（submit evaluates them again）"
            );
        }
        println!();
    }
    let mut results = Vec::new();
    for (round, round_results) in scored.rounds {
        if round_results.is_empty() {
            println!(
                "{} {} 没有需要评分的单位和考核方式（nothing to evaluate）",
                a.year,
                round.name_zh()
            );
            continue;
        }
        print!(
            "{}",
            evaluate::summary(&scored.pack.manifest, &round_results)
        );
        results.extend(round_results);
    }
    Ok((scored.pack, results))
}
