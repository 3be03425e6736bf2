//! `kaohe hub progress`: reporting progress per node.

use anyhow::bail;
use kaohe_tables::terminal;
use rusqlite::Connection;

use super::{Invocation, beijing};
use crate::progress;
use crate::registry::units;

#[derive(Debug, clap::Args)]
pub struct ProgressArgs {
    /// 考核年度（assessment year），默认为最近一个有名册的年度
    #[arg(long, value_name = "年度")]
    pub year: Option<i32>,
}

pub(super) fn run(inv: &Invocation, ProgressArgs { year }: ProgressArgs) -> anyhow::Result<()> {
    let conn = inv.open()?;
    let year = match year {
        Some(y) => y,
        None => match units::roster_years(&conn)?.last() {
            Some((y, _)) => *y,
            None => bail!("尚未导入任何名册，请用 --year 指明年度（no roster yet）"),
        },
    };
    show_progress(&conn, year)
}

fn show_progress(conn: &Connection, year: i32) -> anyhow::Result<()> {
    let report = progress::report(conn, year)?;
    if report.is_empty() {
        println!("尚未登记任何节点（no nodes）");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = report
        .iter()
        .map(|p| {
            vec![
                format!("{}（{}）", p.node.name, &p.node.id.as_str()[..8]),
                match &p.pack {
                    None => "—".into(),
                    Some((id, v, Some(cur))) if cur == v => format!("{id} 第 {v} 版（当前）"),
                    Some((id, v, Some(cur))) => format!("{id} 第 {v} 版（已被第 {cur} 版取代）"),
                    Some((id, v, None)) => format!("{id} 第 {v} 版"),
                },
                p.last_seen.map(beijing).unwrap_or_else(|| "从未".into()),
                format!("{}/{}", p.reported, p.expected),
                p.late.to_string(),
                if p.rejected.is_empty() {
                    "0".into()
                } else {
                    format!(
                        "{}：{}",
                        p.rejected_total(),
                        p.rejected
                            .iter()
                            .map(|r| format!(
                                "{}×{}（最近：{}）",
                                r.code.trim_start_matches("REJECTION_CODE_"),
                                r.count,
                                r.latest_message
                            ))
                            .collect::<Vec<_>>()
                            .join("；")
                    )
                },
            ]
        })
        .collect();
    println!("{year} 年度上报进度（progress）");
    print!(
        "{}",
        terminal::render(
            &[
                "节点",
                "所用规则包",
                "最后联系（北京）",
                "已报/应报单位",
                "逾期",
                "被拒（原因）"
            ],
            &rows
        )
    );
    let unknown = progress::unidentified_refusals(conn)?;
    if unknown > 0 {
        println!(
            "另有 {unknown} 份上报来自未登记或无法识别的来源，已拒收（refused from unidentified senders）"
        );
    }
    Ok(())
}
