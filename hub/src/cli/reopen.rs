//! `kaohe hub reopen`: 撤销审定 — the one audited way to change an approved
//! year. The approval stays on record, marked reopened with who and why;
//! the year is open again until `kaohe hub approve` records the new
//! approval, which names the one it replaces.

use super::{Invocation, Now};
use crate::workflow;

#[derive(Debug, clap::Args)]
pub struct ReopenArgs {
    /// 考核年度（assessment year）
    #[arg(long, value_name = "年度")]
    pub year: i32,
    /// 撤销审定的原因，记入审计日志（reason, recorded）
    #[arg(long, value_name = "原因")]
    pub reason: String,
    #[command(flatten)]
    pub now: Now,
}

pub(super) fn run(inv: &Invocation, args: ReopenArgs) -> anyhow::Result<()> {
    let ReopenArgs { year, reason, now } = args;
    let actor = inv.actor_at(&now)?;
    let mut conn = inv.open()?;
    let old = workflow::reopen(&mut conn, year, &reason, &actor)?;
    println!(
        "已撤销 {year} 年度考核结果的审定（文号 {}，{} 审定），原因：{}（reopened）",
        old.doc_number,
        old.approved_on(),
        reason.trim()
    );
    println!(
        "原审定记录保留；改动后须重新审定（kaohe hub approve），新的审定将注明替代文号 {}，此前不能导出或公布",
        old.doc_number
    );
    Ok(())
}
