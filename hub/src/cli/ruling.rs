//! `kaohe hub ruling`: 裁定 — which node's report stands where two nodes
//! reported one unit's method and round.

use kaohe_rulepacks::manifest::Round;

use super::{Invocation, Now};
use crate::workflow::ruling::{self, Slot};

#[derive(Debug, clap::Args)]
pub struct RulingArgs {
    /// 考核年度（assessment year）
    #[arg(long, value_name = "年度")]
    pub year: i32,
    /// 单位编号（unit id）
    #[arg(long, value_name = "单位编号")]
    pub unit: String,
    /// 轮次：annual 或 Q1–Q4（round）
    #[arg(long, value_parser = parse_round, value_name = "轮次")]
    pub round: Round,
    /// 考核方式（method），如 daily
    #[arg(long, value_name = "方式")]
    pub method: String,
    /// 采用哪个节点的上报：节点编号、密钥编号或节点名称（the node whose report stands）
    #[arg(long, value_name = "节点")]
    pub node: String,
    /// 裁定理由，记入审计日志（reason）
    #[arg(long, value_name = "理由")]
    pub reason: String,
    #[command(flatten)]
    pub now: Now,
}

/// `annual`, `Q1`–`Q4` (any case), or the Chinese round names.
pub fn parse_round(s: &str) -> Result<Round, String> {
    let s = s.trim();
    Round::ALL
        .into_iter()
        .find(|r| r.id().eq_ignore_ascii_case(s) || r.name_zh() == s)
        .ok_or_else(|| format!("须为 annual 或 Q1–Q4（unknown round {s:?}）"))
}

pub(super) fn run(inv: &Invocation, args: RulingArgs) -> anyhow::Result<()> {
    let actor = inv.actor_at(&args.now)?;
    let mut conn = inv.open()?;
    let slot = Slot {
        year: args.year,
        unit_id: args.unit.trim(),
        round: args.round,
        method_id: args.method.trim(),
    };
    let r = ruling::rule(&mut conn, slot, &args.node, &args.reason, &actor)?;
    println!(
        "已裁定：单位 {} {} 年度{} {} 采用节点 {} 的上报（提交 {}），理由：{}；其他节点对此项的上报不计入（ruling recorded）",
        r.unit_id,
        r.year,
        r.round.name_zh(),
        r.method_id,
        r.node_id,
        r.submission_id,
        r.reason
    );
    Ok(())
}
