//! `kaohe hub review object | decide`: objections (复核申请) filed on an
//! assessee's behalf, and the decisions on them.

use std::path::PathBuf;

use super::{Invocation, Now, read_capped};
use crate::calendar::format_date_zh;
use crate::registry::calendar_years;
use crate::workflow::{self, Decision, Material};

#[derive(Debug, clap::Subcommand)]
pub enum ReviewCommand {
    /// 依法治县办代考核对象登记异议（复核申请）及证明材料（record an objection）
    Object {
        /// 考核年度（assessment year）
        #[arg(long, value_name = "年度")]
        year: i32,
        /// 单位编号（unit id）
        #[arg(long, value_name = "单位编号")]
        unit: String,
        /// 异议理由（reason）
        #[arg(long, value_name = "理由")]
        reason: String,
        /// 证明材料文件，可多次给出（material files）
        #[arg(long = "material", value_name = "文件")]
        materials: Vec<PathBuf>,
        #[command(flatten)]
        now: Now,
    },
    /// 对复核申请作出决定：维持（--upheld）或更正（--revised，须已有异议之后的新上报）
    Decide {
        /// 考核年度（assessment year）
        #[arg(long, value_name = "年度")]
        year: i32,
        /// 单位编号（unit id）
        #[arg(long, value_name = "单位编号")]
        unit: String,
        /// 维持原结果（upheld）
        #[arg(long, conflicts_with = "revised", required_unless_present = "revised")]
        upheld: bool,
        /// 更正：依据异议之后提交的新上报（revised）
        #[arg(long)]
        revised: bool,
        /// 决定说明（reason）；审定后不能再作出决定，须先撤销审定
        #[arg(long, value_name = "原因")]
        reason: Option<String>,
        #[command(flatten)]
        now: Now,
    },
}

pub(super) fn run(inv: &Invocation, command: ReviewCommand) -> anyhow::Result<()> {
    match command {
        ReviewCommand::Object {
            year,
            unit,
            reason,
            materials,
            now,
        } => {
            let actor = inv.actor_at(&now)?;
            let mut conn = inv.open()?;
            let cal = calendar_years::effective_calendar(&conn)?;
            let data = inv.load(&conn, year)?;
            let mut files = Vec::new();
            for path in &materials {
                files.push(Material {
                    file_name: path
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_else(|| path.display().to_string()),
                    bytes: read_capped(path, workflow::MAX_MATERIAL_BYTES as u64)?,
                });
            }
            let filed = workflow::object(
                &mut conn,
                &cal,
                data.manifest(),
                year,
                &unit,
                &reason,
                &files,
                &actor,
            )?;
            println!(
                "已登记单位 {unit} 的复核申请（第 {} 号），应于 {} 前作出决定（objection recorded）",
                filed.id,
                format_date_zh(filed.decision_deadline)
            );
            for (name, sha, size) in filed.materials {
                println!("  证明材料 {name}：{size} 字节，SHA-256 {sha}");
            }
        }
        ReviewCommand::Decide {
            year,
            unit,
            upheld: _,
            revised,
            reason,
            now,
        } => {
            let actor = inv.actor_at(&now)?;
            let mut conn = inv.open()?;
            let decision = if revised {
                Decision::Revised
            } else {
                Decision::Upheld
            };
            let d = workflow::decide(&mut conn, year, &unit, decision, reason.as_deref(), &actor)?;
            match d.revised_submission {
                Some(s) => println!(
                    "复核申请第 {} 号：更正，依据第 {s} 号上报（revised）",
                    d.objection
                ),
                None => println!("复核申请第 {} 号：维持原结果（upheld）", d.objection),
            }
        }
    }
    Ok(())
}
