//! `kaohe hub excuse`: a unit not assessed this year (免于考核), with the
//! reason.

use super::{Invocation, Now};
use crate::workflow;

#[derive(Debug, clap::Args)]
pub struct ExcuseArgs {
    /// 考核年度（assessment year）
    #[arg(long, value_name = "年度")]
    pub year: i32,
    /// 单位编号（unit id）
    #[arg(long, value_name = "单位编号")]
    pub unit: String,
    /// 原因，记入审计日志（reason）
    #[arg(long, value_name = "原因")]
    pub reason: String,
    #[command(flatten)]
    pub now: Now,
}

pub(super) fn run(inv: &Invocation, args: ExcuseArgs) -> anyhow::Result<()> {
    let ExcuseArgs {
        year,
        unit,
        reason,
        now,
    } = args;
    let actor = inv.actor_at(&now)?;
    let mut conn = inv.open()?;
    workflow::excuse(&mut conn, year, &unit, &reason, &actor)?;
    println!(
        "已记录：{unit} {year} 年度免于考核，原因：{}",
        reason.trim()
    );
    Ok(())
}
