//! `kaohe node import`: a filled template, all or nothing.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use kaohe_tables::sheet::{Limits, Workbook};

use super::{actor, open};
use crate::import;

#[derive(Debug, clap::Args)]
pub(super) struct ImportArgs {
    /// 填好的模板（.xlsx 或 .csv）（the filled template）
    #[arg(value_name = "文件")]
    file: PathBuf,
    /// 考核年度（assessment year）
    #[arg(long, value_name = "年度")]
    year: u16,
    /// 操作人（默认为当前登录用户）（operator; default: the login user）
    #[arg(long, value_name = "姓名")]
    operator: Option<String>,
}

pub(super) fn run(dir: &Path, a: ImportArgs) -> anyhow::Result<()> {
    let (_config, mut store) = open(dir)?;
    let actor = actor(a.operator)?;
    let mut progress = |n: usize| eprintln!("已写入 {n} 项……（{n} values written）");
    let report = import::import_file(
        &mut store,
        &a.file,
        a.year,
        &actor,
        &Limits::default(),
        &mut progress,
    )
    .with_context(|| format!("导入 {}（import the file）", a.file.display()))?;
    let s = report.summary;
    println!(
        "已导入 {}（imported）：{} 行、{} 组；新增 {}、修改 {}、清除 {}、未变 {}",
        a.file.display(),
        report.rows,
        report.blocks,
        s.added,
        s.changed,
        s.removed,
        s.unchanged
    );
    if let Some(e) = report.encoding {
        println!("  文字编码（encoding）：{}", e.name());
    }
    if let Some(note) = Workbook::hidden_note(&report.hidden_sheets) {
        println!("  {note}");
    }
    if report.normalised > 0 {
        println!(
            "  {} 个单元格含全角数字或符号，已按半角读取（full-width digits read as ASCII）",
            report.normalised
        );
    }
    Ok(())
}
