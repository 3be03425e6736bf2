//! `kaohe node witness`: the hub's year logs as this node witnessed them,
//! the evidence of every inconsistency, and (`--resolve`) an official's
//! decision after looking into one, which lets delivery resume.

use std::path::Path;

use anyhow::{Context as _, bail};
use kaohe_proto::SigningKeyPair;

use super::{actor, open};
use crate::store::Store;
use crate::witness;

#[derive(Debug, clap::Args)]
pub(super) struct WitnessArgs {
    /// 经核查后处理某年度日志不一致的证据，恢复送达（resolve a year's evidence after looking into it）
    #[arg(long, requires_all = ["year", "reason"])]
    resolve: bool,
    /// 考核年度（assessment year）
    #[arg(long, value_name = "年度")]
    year: Option<u16>,
    /// 处理意见：核查了什么、为何接受汇总中心现在的日志（what was checked and why）
    #[arg(long, value_name = "意见")]
    reason: Option<String>,
    /// 操作人（默认为当前登录用户）（operator; default: the login user）
    #[arg(long, value_name = "姓名")]
    operator: Option<String>,
}

pub(super) fn run(dir: &Path, a: WitnessArgs) -> anyhow::Result<()> {
    let (config, mut store) = open(dir)?;
    if !a.resolve {
        print_state(&store)?;
        print_evidence(&store, true)?;
        return Ok(());
    }
    let (Some(year), Some(reason)) = (a.year, a.reason) else {
        bail!("--resolve 须同时写明 --year 和 --reason（--resolve needs --year and --reason）");
    };
    let Some(hub) = config.hub.receipt_key else {
        bail!(
            "节点配置中没有汇总中心公钥（[hub] receipt_key），不能核对检查点（no hub key pinned）"
        );
    };
    let key =
        SigningKeyPair::load(&config.key_file).context("读取节点私钥（load the node key）")?;
    let actor = actor(a.operator)?;
    let Some(adopt) = witness::adoptable(&store, year, &hub, &key.public(), &actor.at.to_string())?
    else {
        bail!("{year} 年透明日志没有待处理的不一致证据（no open evidence for the year）");
    };
    let n = store.resolve_log_evidence(year, &adopt, &actor, &reason)?;
    println!(
        "已记录处理意见，{n} 份证据标记为已处理（保留备查）；本节点以汇总中心出示的 {year} 年检查点（{} 条记录）为准继续见证（resolved; evidence kept; witnessing continues from the hub's checkpoint）",
        adopt.size
    );
    match witness::delivery_stopped(&store)? {
        Some(why) => println!("{why}"),
        None => println!("已恢复送达（delivery resumes）"),
    }
    Ok(())
}

/// The witnessed logs and, when delivery is stopped, why (for `status`).
pub(super) fn print_state(store: &Store) -> anyhow::Result<()> {
    let years = store.witnessed_years()?;
    if years.is_empty() {
        println!("尚未见证汇总中心的透明日志（no log witnessed yet）：同步时自动进行");
    }
    for year in years {
        if let Some(w) = store.witnessed(year)? {
            let cosigned = witness::cosigners(&w.checkpoint);
            println!(
                "透明日志（log）{year} 年：已见证 {} 条记录一致，{cosigned} 个见证节点副署（上次核对 {}）",
                w.size, w.checked_at
            );
        }
    }
    if let Some(why) = witness::delivery_stopped(store)? {
        println!("警告（warning）：{why}");
        print_evidence(store, false)?;
    }
    Ok(())
}

fn print_evidence(store: &Store, all: bool) -> anyhow::Result<()> {
    for e in store.log_evidence()? {
        if e.resolved.is_some() && !all {
            continue;
        }
        let head = witness::describe_checkpoint;
        println!(
            "  证据 #{}　{} 年　发现于 {}：{}",
            e.id, e.year, e.found_at, e.reason
        );
        println!("    本节点已见证：{}", head(&e.held));
        println!("    汇总中心出示：{}", head(&e.presented));
        if let Some((at, by, why)) = &e.resolved {
            println!("    已处理（resolved）：{at}　{by}：{why}");
        }
    }
    Ok(())
}
