//! `kaohe hub notify`: the feedback notices (问题通报反馈), which start the
//! verification and review-request deadlines.

use std::path::PathBuf;

use anyhow::Context;
use jiff::civil::Date;

use super::{Invocation, Now};
use crate::calendar;
use crate::registry::calendar_years;
use crate::workflow;

#[derive(Debug, clap::Args)]
pub struct NotifyArgs {
    /// 考核年度（assessment year）
    #[arg(long, value_name = "年度")]
    pub year: i32,
    /// 单位编号，可多次给出；不给则通报全部已考核单位（units; default all assessed）
    #[arg(long = "unit", value_name = "单位编号")]
    pub units: Vec<String>,
    /// 通报日期（notification date），默认为“现在”的北京日期
    #[arg(long, value_name = "日期")]
    pub on: Option<Date>,
    /// 把每份通报写入此目录（write each notice as a text file here）
    #[arg(long, value_name = "目录")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub now: Now,
}

pub(super) fn run(inv: &Invocation, args: NotifyArgs) -> anyhow::Result<()> {
    let NotifyArgs {
        year,
        units,
        on,
        out,
        now,
    } = args;
    let actor = inv.actor_at(&now)?;
    let mut conn = inv.open()?;
    let cal = calendar_years::effective_calendar(&conn)?;
    let y = inv.consolidate(&conn, year)?;
    let on = on.unwrap_or_else(|| calendar::beijing_date(actor.at));
    let notices = workflow::notify(
        &mut conn,
        &cal,
        y.manifest(),
        &y.consolidation,
        &units,
        on,
        &actor,
    )?;
    if let Some(out) = &out {
        std::fs::create_dir_all(out).with_context(|| format!("创建目录 {}", out.display()))?;
    }
    for n in &notices {
        println!("{}", n.text);
        if let Some(out) = &out {
            let path = out.join(format!("{year}年度问题通报反馈-{}.txt", n.unit_id));
            std::fs::write(&path, &n.text).with_context(|| format!("写入 {}", path.display()))?;
        }
    }
    println!("已通报 {} 个单位（notified）。", notices.len());
    Ok(())
}
