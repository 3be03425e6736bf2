//! `kaohe hub rectification record | list`: rectification plans and
//! reports (整改) received, and who still owes one.

use std::path::PathBuf;

use anyhow::bail;

use super::{Invocation, Now, read_capped};
use crate::workflow::{self, Material, rectification};

#[derive(Debug, clap::Subcommand)]
pub enum RectificationCommand {
    /// 登记收到的整改方案（--plan）或整改情况报告（--report，须先有整改方案）（record a plan or report）
    Record {
        /// 考核年度（assessment year）
        #[arg(long, value_name = "年度")]
        year: i32,
        /// 单位编号（unit id）
        #[arg(long, value_name = "单位编号")]
        unit: String,
        /// 整改方案文件（plan file）
        #[arg(
            long,
            value_name = "文件",
            conflicts_with = "report",
            required_unless_present = "report"
        )]
        plan: Option<PathBuf>,
        /// 整改情况报告文件（report file）
        #[arg(long, value_name = "文件")]
        report: Option<PathBuf>,
        /// 备注（note）
        #[arg(long, value_name = "备注")]
        note: Option<String>,
        #[command(flatten)]
        now: Now,
    },
    /// 列出须整改单位及其整改方案、整改情况报告的报送情况（list）
    List {
        /// 考核年度（assessment year）
        #[arg(long, value_name = "年度")]
        year: i32,
    },
}

pub(super) fn run(inv: &Invocation, command: RectificationCommand) -> anyhow::Result<()> {
    match command {
        RectificationCommand::Record {
            year,
            unit,
            plan,
            report,
            note,
            now,
        } => {
            let actor = inv.actor_at(&now)?;
            let (kind, path) = match (plan, report) {
                (Some(p), None) => (rectification::Kind::Plan, p),
                (None, Some(p)) => (rectification::Kind::Report, p),
                _ => bail!("须给出 --plan 或 --report 之一（one of --plan, --report）"),
            };
            let material = Material {
                file_name: path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| path.display().to_string()),
                bytes: read_capped(&path, workflow::MAX_MATERIAL_BYTES as u64)?,
            };
            let mut conn = inv.open()?;
            let y = inv.consolidate(&conn, year)?;
            let r = rectification::record(
                &mut conn,
                &y.consolidation,
                y.manifest(),
                &y.outcomes,
                &unit,
                kind,
                &material,
                note.as_deref(),
                &actor,
            )?;
            println!(
                "已登记单位 {unit} 的{}（第 {} 号，整改原因：{}）：{}，{} 字节，SHA-256 {}",
                kind.name_zh(),
                r.id,
                r.owed.why_zh(),
                material.file_name,
                r.size,
                r.sha256
            );
        }
        RectificationCommand::List { year } => {
            let conn = inv.open()?;
            let y = inv.consolidate(&conn, year)?;
            let rows = rectification::status(&conn, &y.consolidation, y.manifest(), &y.outcomes)?;
            print!("{}", rectification::render(year, &rows));
        }
    }
    Ok(())
}
