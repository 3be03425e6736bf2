//! `kaohe hub export`: the approved results as the workbook, the published
//! notice (PDF) and the letters (DOCX) — only the approval in force, only
//! if the year consolidated now is exactly what it approved; each file
//! carries the approval's digest and, after a reopening, names the
//! approval it replaces.

use std::path::PathBuf;

use anyhow::Context;

use super::Invocation;
use crate::export::{self, ExportOptions};
use crate::results::{self, NoticeNames};
use crate::workflow;

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// 考核年度（assessment year）
    #[arg(long, value_name = "年度")]
    pub year: i32,
    /// 输出目录（output directory）
    #[arg(long, value_name = "目录")]
    pub out: PathBuf,
    /// PDF 所用 TrueType 字体（font file），默认为内嵌的思源宋体子集
    #[arg(long, value_name = "字体文件")]
    pub font: Option<PathBuf>,
    /// 县名（county）
    #[arg(long, default_value = results::DEFAULT_COUNTY, value_name = "县名")]
    pub county: String,
    /// 考核名称（scheme name, without the year）
    #[arg(long, default_value = results::DEFAULT_SCHEME_NAME, value_name = "名称")]
    pub scheme_name: String,
    /// 发文机关（issuer）
    #[arg(long, default_value = results::DEFAULT_ISSUER, value_name = "机关")]
    pub issuer: String,
    /// 主送机关（recipients）
    #[arg(long, default_value = "", value_name = "机关")]
    pub recipients: String,
}

pub(super) fn run(inv: &Invocation, args: ExportArgs) -> anyhow::Result<()> {
    let ExportArgs {
        year,
        out,
        font,
        county,
        scheme_name,
        issuer,
        recipients,
    } = args;
    let conn = inv.open()?;
    let y = inv.consolidate(&conn, year)?;
    let names = NoticeNames {
        county,
        scheme_name,
        issuer,
        recipients,
    };
    // Refused unless the approval in force approves exactly this year.
    let report = workflow::approved_report(&conn, &y, names)?;
    let written = export::write_all(&report, &out, &ExportOptions { font })
        .context("导出考核结果（export）")?;
    if let Some(old) = &report.replaces {
        println!(
            "本次导出依据审定文号 {}，替代已撤销的审定文号 {}",
            report.doc_number, old.doc_number
        );
    }
    for p in written {
        println!("已写入 {}", p.display());
    }
    Ok(())
}
