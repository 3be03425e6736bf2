//! `kaohe hub publish-results`: the approved results published (公布).

use super::{Invocation, Now};
use crate::workflow;

#[derive(Debug, clap::Args)]
pub struct PublishResultsArgs {
    /// 考核年度（assessment year）
    #[arg(long, value_name = "年度")]
    pub year: i32,
    #[command(flatten)]
    pub now: Now,
}

pub(super) fn run(
    inv: &Invocation,
    PublishResultsArgs { year, now }: PublishResultsArgs,
) -> anyhow::Result<()> {
    let actor = inv.actor_at(&now)?;
    let mut conn = inv.open()?;
    workflow::publish(&mut conn, year, &actor)?;
    println!("已记录 {year} 年度考核结果公布（published）");
    Ok(())
}
