//! `kaohe node results`: the hub's results for this node's units.

use std::path::Path;

use anyhow::{Context as _, bail};
use kaohe_proto::SigningKeyPair;
use kaohe_rulepacks::manifest::Round;

use super::{open, parse_round, tokio_runtime};
use crate::{client, evaluate, review};

#[derive(Debug, clap::Args)]
pub(super) struct ResultsArgs {
    /// 考核年度（assessment year）
    #[arg(long, value_name = "年度")]
    year: u16,
    /// 轮次：annual 或 Q1–Q4；默认全部（round; default: all）
    #[arg(long, value_parser = parse_round, value_name = "轮次")]
    round: Option<Round>,
}

pub(super) fn run(dir: &Path, a: ResultsArgs) -> anyhow::Result<()> {
    let (config, _store) = open(dir)?;
    let key =
        SigningKeyPair::load(&config.key_file).context("读取节点私钥（load the node key）")?;
    let request = kaohe_proto::model::ListResultsRequest {
        year: a.year,
        round: a.round.map(evaluate::proto_round),
    };
    let answer = tokio_runtime()?.block_on(async {
        let hub = client::connect(&config.hub, &config.hub.timeouts)
            .await
            .context("连接汇总中心（connect to the hub）")?;
        let now = || jiff::Timestamp::now().as_second();
        anyhow::Ok(hub.list_results(&key, request, &now).await)
    })?;
    let answer = match answer {
        Ok(r) => r,
        Err(client::CallError::Status(s)) if s.code() == tonic::Code::Unimplemented => {
            bail!(
                "汇总中心尚未提供考核结果查询（ListResults 未实现），请向县依法治县办询问（the hub does not serve ListResults yet）"
            )
        }
        Err(e) => return Err(e).context("查询考核结果（ListResults）"),
    };
    print!("{}", review::render_results(a.year, &answer.results));
    print!("{}", review::render_leaderboards(&answer.leaderboards));
    Ok(())
}
