//! `kaohe hub audit`: the latest records of the audit log.

use jiff::Timestamp;
use kaohe_tables::terminal;

use super::{Invocation, beijing};
use crate::audit;

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// 显示条数（number of records）
    #[arg(long, default_value_t = 50, value_name = "条数")]
    pub limit: u32,
}

pub(super) fn run(inv: &Invocation, AuditArgs { limit }: AuditArgs) -> anyhow::Result<()> {
    let conn = inv.open()?;
    let rows: Vec<Vec<String>> = audit::recent(&conn, limit)?
        .into_iter()
        .map(|r| {
            vec![
                r.seq.to_string(),
                r.time.parse::<Timestamp>().map(beijing).unwrap_or(r.time),
                r.operator,
                r.action,
                r.subject,
                r.detail.to_string(),
            ]
        })
        .collect();
    print!(
        "{}",
        terminal::render(
            &["序号", "时间（北京）", "操作人", "操作", "对象", "详情"],
            &rows
        )
    );
    Ok(())
}
