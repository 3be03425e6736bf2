//! `kaohe node sync`: packs (verified k of n, never rolled back) and the
//! delegated scope from the hub; after a newer pack version, the results
//! computed under the old one evaluated again, queued and delivered.

use std::path::Path;

use anyhow::{Context as _, bail};
use kaohe_proto::SigningKeyPair;
use kaohe_rulepacks::runtime::{Runtime, RuntimeConfig};

use super::deliver::{print_chunk, print_pass};
use super::{actor, open, print_reevaluations, print_self_test, print_superseded, tokio_runtime};
use crate::config::NodeConfig;
use crate::deliver::{self, DeliverOptions};
use crate::store::Store;
use crate::witness::{self, Verdict, YearWitness};
use crate::{client, sync};

#[derive(Debug, clap::Args)]
pub(super) struct SyncArgs {
    /// 操作人（默认为当前登录用户）（operator; default: the login user）
    #[arg(long, value_name = "姓名")]
    operator: Option<String>,
}

pub(super) fn run(dir: &Path, a: SyncArgs) -> anyhow::Result<()> {
    let (config, mut store) = open(dir)?;
    let key =
        SigningKeyPair::load(&config.key_file).context("读取节点私钥（load the node key）")?;
    let actor = actor(a.operator)?;
    let runtime = Runtime::new(RuntimeConfig::with_cache_under(dir))
        .context("启动规则包运行环境（start the pack runtime）")?;
    let report = tokio_runtime()?.block_on(async {
        let hub = client::connect(&config.hub, &config.hub.timeouts)
            .await
            .context("连接汇总中心（connect to the hub）")?;
        let now = || jiff::Timestamp::now().as_second();
        let report = sync::sync(&mut store, &config, &key, &runtime, &hub, &actor, &now)
            .await
            .context("同步（sync）")?;
        if let Some(offset) = hub.clock_offset()
            && offset.abs() > 60
        {
            println!(
                "注意：本机时钟与汇总中心相差约 {offset} 秒，已按汇总中心时间签名；请校准时钟（the node's clock is off; signed with the hub's time）"
            );
        }
        anyhow::Ok(report)
    })?;
    for (year, units, methods) in &report.scopes {
        println!("{year} 年考核范围（scope）：{units} 个单位，{methods} 种考核方式");
    }
    for year in &report.dropped_years {
        println!("{year} 年已不在本节点的授权范围内，本地范围已清空（year no longer delegated）");
    }
    for id in &report.up_to_date {
        println!("规则包已是最新（up to date）：{id}");
    }
    for installed in &report.installed {
        println!(
            "已核验并启用规则包（pack verified and activated）：{}　{}（{} 个签发机构签名）",
            installed.identity,
            installed.title,
            installed.signers.len()
        );
        print_self_test(installed);
        print_superseded(installed);
    }
    for year in &report.no_pack {
        println!("汇总中心尚无 {year} 年的当前规则包（no current pack yet）");
    }
    let mut queued = 0;
    for (year, done) in &report.reevaluated {
        let active = store
            .active_pack(*year)?
            .map(|p| p.identity.to_string())
            .unwrap_or_default();
        print_reevaluations(*year, &done.listed, &active);
        println!(
            "  已按新版用已存证据重新评价（evaluated again from the stored evidence）：放入发件箱 {} 份，未变化 {} 份，未提交 {} 份",
            done.report.queued.len(),
            done.report.unchanged.len(),
            done.report.refused.len()
        );
        for (unit, why) in &done.report.refused {
            println!("  未提交（not submitted）：{unit}：{why}");
        }
        queued += done.report.queued.len();
    }
    for (year, list, why) in &report.reevaluate {
        let active = store
            .active_pack(*year)?
            .map(|p| p.identity.to_string())
            .unwrap_or_default();
        print_reevaluations(*year, list, &active);
        println!("  重新评价未完成（not evaluated again）：{why}");
        println!(
            "  请检查后运行 `kaohe node submit --year {year}`，将按新版重新评价并提交（the next submit does it）"
        );
    }
    let inconsistent = print_witness(&report.witness);
    // An inconsistent log stops delivery: what was queued stays in the
    // outbox until an official resolves the evidence.
    let stopped = witness::delivery_stopped(&store)?;
    if queued > 0 && stopped.is_none() {
        deliver_queued(&config, &mut store)?;
    }
    for (pack, why) in &report.refused {
        println!("未启用规则包（pack refused）{pack}：{why}");
    }
    if let Some(why) = stopped {
        println!("警告（warning）：{why}");
        bail!(
            "汇总中心的透明日志与本节点见证的不一致（{inconsistent} 个年度为本次发现），已停止送达（the hub's log is inconsistent: delivery stopped）"
        );
    }
    if !report.refused.is_empty() {
        bail!(
            "{} 个规则包未通过核验，未启用；各年度仍使用原规则包（packs refused; the last good ones stay）",
            report.refused.len()
        );
    }
    Ok(())
}

/// Prints what witnessing found per year; returns how many years were
/// found inconsistent now.
fn print_witness(found: &[(u16, YearWitness)]) -> usize {
    let mut inconsistent = 0;
    for (year, w) in found {
        match w {
            YearWitness::NoLog => {}
            YearWitness::Cosigned {
                verdict,
                size,
                cosignatures,
            } => {
                let what = match verdict {
                    Verdict::First => format!("首次见证，{size} 条记录"),
                    Verdict::Grew { from } => {
                        format!("由 {from} 条增至 {size} 条，与本节点上次见证的一致")
                    }
                    _ => format!("{size} 条记录，与本节点上次见证的一致"),
                };
                println!(
                    "{year} 年透明日志（log）：{what}，已副署（共 {cosignatures} 个见证节点副署）（consistent; cosigned）"
                );
            }
            YearWitness::Inconsistent { reason, evidence } => {
                inconsistent += 1;
                println!(
                    "警告（warning）：{reason}。证据 #{evidence}：本节点已见证的和汇总中心出示的两份签名检查点均已保存（evidence kept）"
                );
            }
            YearWitness::Failed(e) => {
                println!("未能见证 {year} 年透明日志（log not witnessed this time）：{e}");
            }
        }
    }
    inconsistent
}

/// Delivers what the re-evaluation queued, as `submit` does: a hub that
/// cannot be reached leaves the entries waiting in the outbox (not an
/// error of `sync`).
fn deliver_queued(config: &NodeConfig, store: &mut Store) -> anyhow::Result<()> {
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
    let report = tokio_runtime()?.block_on(deliver::deliver_pass(
        &lock,
        store,
        config,
        &hub_key,
        &DeliverOptions::default(),
        &jiff::Timestamp::now,
        &mut print_chunk,
    ))?;
    print_pass(store, &report)
}
