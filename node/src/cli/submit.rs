//! `kaohe node submit`: score as `evaluate` does, sign each result into
//! the outbox, then deliver (unless `--no-deliver`).

use std::path::Path;

use anyhow::Context as _;
use kaohe_proto::SigningKeyPair;

use super::deliver::{fail_if_undelivered, print_chunk, print_pass};
use super::evaluate::{EvaluateArgs, score};
use super::{actor, open, tokio_runtime};
use crate::deliver::{self, DeliverOptions};
use crate::evaluate;

#[derive(Debug, clap::Args)]
pub(super) struct SubmitArgs {
    #[command(flatten)]
    evaluate: EvaluateArgs,
    /// 只放入发件箱，暂不送达（queue only; deliver later）
    #[arg(long)]
    no_deliver: bool,
}

/// Runs `kaohe node submit`.
pub(super) fn run(dir: &Path, a: SubmitArgs) -> anyhow::Result<()> {
    let (config, mut store) = open(dir)?;
    // Load the key before any work so a bad key file fails first.
    let key =
        SigningKeyPair::load(&config.key_file).context("读取节点私钥（load the node key）")?;
    let actor = actor(a.evaluate.operator.clone())?;
    let (pack, results) = score(&store, &a.evaluate, true)?;
    let deliver = !a.no_deliver;
    if !results.is_empty() {
        let report = evaluate::submit(&mut store, &key, &pack, &results, &actor)
            .context("签名并放入发件箱（sign and queue）")?;
        println!();
        for (unit, seq) in &report.queued {
            println!("已放入发件箱（queued）：{unit}　序号（sequence）{seq}");
        }
        for unit in &report.unchanged {
            println!("未变化，不重复提交（unchanged）：{unit}");
        }
        for (unit, why) in &report.refused {
            println!("未提交（not submitted）：{unit}：{why}");
        }
    }
    if !deliver {
        println!("已保存在发件箱，稍后用 `kaohe node deliver` 送达（queued; deliver later）");
        return Ok(());
    }
    let Some(hub_key) = config.hub.receipt_key else {
        println!(
            "已保存在发件箱；node.toml 中尚未配置汇总中心回执公钥（[hub] receipt_key），暂不送达（queued; no receipt key pinned, not delivered）"
        );
        return Ok(());
    };
    let lock = match deliver::DeliveryLock::acquire(&config.store_file) {
        Ok(lock) => lock,
        Err(e @ deliver::LockError::Busy { .. }) => {
            println!("已保存在发件箱；{e}");
            return Ok(());
        }
        Err(e) => return Err(e).context("送达（deliver）"),
    };
    println!();
    let report = tokio_runtime()?.block_on(deliver::deliver_pass(
        &lock,
        &mut store,
        &config,
        &hub_key,
        &DeliverOptions::default(),
        &jiff::Timestamp::now,
        &mut print_chunk,
    ))?;
    // Queued durably either way; but like `deliver`, a hub that could not
    // take them is a failed command (the entries wait in `retry`).
    print_pass(&store, &report)?;
    fail_if_undelivered(&store, &report)
}
