//! `kaohe hub approve`: the year's approval (审定), recording the SHA-256
//! of the consolidation approved; from then on the year is locked.

use super::{Invocation, Now};
use crate::{lock, workflow};

#[derive(Debug, clap::Args)]
pub struct ApproveArgs {
    /// 考核年度（assessment year）
    #[arg(long, value_name = "年度")]
    pub year: i32,
    /// 审定文号（document number），如 宝法治办〔2023〕1号
    #[arg(long, value_name = "文号")]
    pub doc_number: String,
    /// 可选：审定前核对过的汇总 SHA-256（控制台“审定与公布”页所示）；审定时的汇总与之不一致则不记录审定
    #[arg(long, value_name = "SHA-256")]
    pub sha256: Option<String>,
    #[command(flatten)]
    pub now: Now,
}

pub(super) fn run(inv: &Invocation, args: ApproveArgs) -> anyhow::Result<()> {
    let ApproveArgs {
        year,
        doc_number,
        sha256,
        now,
    } = args;
    let actor = inv.actor_at(&now)?;
    let mut conn = inv.open()?;
    let digest = workflow::approve(
        &mut conn,
        &inv.runtime()?,
        year,
        &doc_number,
        sha256.as_deref(),
        &actor,
    )?;
    println!(
        "已记录 {year} 年度考核结果审定，文号 {}，汇总 SHA-256 {digest}（approved）",
        doc_number.trim()
    );
    if let Some(old) = lock::in_force(&conn, year)?
        .and_then(|a| a.replaces)
        .map(|id| lock::by_id(&conn, id))
        .transpose()?
        .flatten()
    {
        println!(
            "本次审定替代已撤销的审定（文号 {}），导出的文件将注明两者",
            old.doc_number
        );
    }
    println!("审定后该年度结果不能再改动；确需更正的，先撤销审定（kaohe hub reopen）");
    Ok(())
}
