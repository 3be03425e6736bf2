//! `kaohe node status`: packs, last sync, why units are not assessed yet,
//! the outbox by state, refusals with the hub's reasons, and the receipts
//! checked again.

use std::path::Path;

use super::{beijing, open, print_reevaluations};
use crate::outbox::State;
use crate::{standing, sync};

#[derive(Debug, clap::Args)]
pub(super) struct StatusArgs {
    /// 列出全部回执（默认只列最近 20 份）（list every receipt）
    #[arg(long)]
    all: bool,
}

pub(super) fn run(dir: &Path, a: StatusArgs) -> anyhow::Result<()> {
    let (config, store) = open(dir)?;
    println!("节点（node）：{}　{}", config.name, config.hub.address);
    match store.meta(sync::LAST_SYNC)? {
        Some(at) => println!("上次同步（last sync, UTC）：{at}"),
        None => println!("尚未同步（never synced）：请运行 `kaohe node sync`"),
    }
    if config.hub.receipt_key.is_none() {
        println!("未配置汇总中心回执公钥（[hub] receipt_key），不能送达（no receipt key pinned）");
    }
    super::witness::print_state(&store)?;
    for (identity, active) in store.packs()? {
        if active {
            println!("启用的规则包（active pack）：{identity}");
            let again = store.reevaluations(identity.year)?;
            if !again.is_empty() {
                print_reevaluations(identity.year, &again, &identity.to_string());
            }
        }
    }
    print_gaps(&store)?;
    let c = store.outbox_counts()?;
    println!();
    print!(
        "{}",
        kaohe_tables::terminal::render(
            &["待发送", "发送中", "待重发", "已接收", "被拒绝", "已作废"],
            &[vec![
                c.to_send.to_string(),
                c.sending.to_string(),
                c.retry.to_string(),
                c.accepted.to_string(),
                c.rejected.to_string(),
                c.superseded.to_string(),
            ]]
        )
    );
    if let Some(t) = store.next_retry_at()? {
        println!("下次自动重试（next retry, Beijing）：{}", beijing(t));
    }
    let rejected = store.outbox(Some(State::Rejected))?;
    if !rejected.is_empty() {
        println!();
        println!("被拒绝的提交及汇总中心给出的原因（rejected, with the hub's reason）：");
        for e in &rejected {
            println!(
                "  序号 {}　{}　{} {}　{}：{}",
                e.sequence,
                e.unit_id,
                e.year,
                e.round.name_zh(),
                e.rejection_code
                    .as_deref()
                    .map(|c| c.trim_start_matches("REJECTION_CODE_"))
                    .unwrap_or("本节点拒发"),
                e.last_error.as_deref().unwrap_or("")
            );
        }
    }
    let accepted = store.outbox(Some(State::Accepted))?;
    if !accepted.is_empty() {
        let shown: Vec<&crate::outbox::Entry> = if a.all {
            accepted.iter().collect()
        } else {
            accepted.iter().rev().take(20).rev().collect()
        };
        let rows: Vec<Vec<String>> = shown
            .iter()
            .map(|e| {
                let (commit, late, place, check) = match e.decoded_receipt() {
                    Some(Ok(r)) => (
                        beijing(r.leaf.commit_time),
                        if r.leaf.late { "逾期" } else { "按时" }.to_string(),
                        format!("{}", r.leaf_index),
                        match &config.hub.receipt_key {
                            Some(k) => match crate::outbox::check_receipt(e, &r, k) {
                                Ok(()) => "有效".to_string(),
                                Err(_) => "无效！".to_string(),
                            },
                            None => "未核验".to_string(),
                        },
                    ),
                    _ => ("?".into(), "?".into(), "?".into(), "无法解码！".into()),
                };
                vec![
                    e.sequence.to_string(),
                    e.unit_id.clone(),
                    format!("{} {}", e.year, e.round.name_zh()),
                    e.pack_label(),
                    commit,
                    late,
                    place,
                    e.digest.to_string()[..16].to_string(),
                    check,
                ]
            })
            .collect();
        println!();
        println!(
            "回执（receipts）：共 {} 份{}",
            accepted.len(),
            if a.all || accepted.len() <= 20 {
                String::new()
            } else {
                "，以下为最近 20 份（--all 列出全部）".to_string()
            }
        );
        print!(
            "{}",
            kaohe_tables::terminal::render(
                &[
                    "序号",
                    "单位",
                    "轮次",
                    "规则包",
                    "汇总中心提交时间（北京）",
                    "是否逾期",
                    "批内位置",
                    "摘要（前8字节）",
                    "回执核验"
                ],
                &rows
            )
        );
    }
    Ok(())
}

/// Per year in scope with an active pack: the units still without every
/// required report, and why ([`standing::gaps`]).
fn print_gaps(store: &crate::store::Store) -> anyhow::Result<()> {
    let outbox = store.outbox(None)?;
    for year in store.scope_years()? {
        let Some(pack) = store.active_pack(year)? else {
            continue;
        };
        let scope = store.scope(year)?;
        let gaps = standing::gaps(&scope, &pack.manifest, &outbox);
        if gaps.is_empty() {
            continue;
        }
        println!();
        println!(
            "{year} 年尚未考核的单位及原因（units not assessed yet, and why）：共 {} 个",
            gaps.len()
        );
        for g in &gaps {
            println!("  {}", g.line());
        }
    }
    Ok(())
}
