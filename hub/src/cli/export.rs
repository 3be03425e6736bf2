//! `kaohe hub export`: the approved results as the workbook, the published
//! notice (PDF) and the letters (DOCX) — only the approval in force, only
//! if the year consolidated now is exactly what it approved; each file
//! carries the approval's digest and, after a reopening, names the
//! approval it replaces.

use std::path::PathBuf;

use anyhow::Context;
use jiff::Timestamp;

use super::Invocation;
use crate::calendar;
use crate::export::model::ReplacedApproval;
use crate::export::{self, ExportOptions};
use crate::results::{self, NoticeMeta};
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
    #[arg(long, default_value = "宝丰县", value_name = "县名")]
    pub county: String,
    /// 考核名称（scheme name, without the year）
    #[arg(long, default_value = "法治宝丰（法治政府）建设", value_name = "名称")]
    pub scheme_name: String,
    /// 发文机关（issuer）
    #[arg(
        long,
        default_value = "中共宝丰县委全面依法治县委员会办公室",
        value_name = "机关"
    )]
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
    // Refused unless the approval in force approves exactly this year.
    let approved = workflow::approved_for_export(&conn, &y.consolidation)?;
    let approval = &approved.approval;
    let published_at = approved
        .publication
        .as_ref()
        .map_or(approval.approved_at.as_str(), |p| p.published_at.as_str());
    let published_on = day(published_at);
    let meta = NoticeMeta {
        county,
        scheme_name,
        issuer,
        doc_number: approval.doc_number.clone(),
        published_on,
        recipients,
        approval_sha256: approval.consolidation_sha256.clone(),
        replaces: approved.replaces.as_ref().map(|old| ReplacedApproval {
            doc_number: old.doc_number.clone(),
            approved_on: day(&old.approved_at),
            reopened_on: old
                .reopened
                .as_ref()
                .map(|r| day(&r.at))
                .unwrap_or_default(),
            reason: old
                .reopened
                .as_ref()
                .map(|r| r.reason.clone())
                .unwrap_or_default(),
        }),
        principals: y
            .data
            .roster
            .iter()
            .filter_map(|u| Some((u.id.clone(), u.principal.clone()?)))
            .collect(),
    };
    let report = results::to_report(&y.consolidation, &y.outcomes, y.manifest(), &meta);
    let written = export::write_all(&report, &out, &ExportOptions { font })
        .context("导出考核结果（export）")?;
    if let Some(old) = &meta.replaces {
        println!(
            "本次导出依据审定文号 {}，替代已撤销的审定文号 {}",
            approval.doc_number, old.doc_number
        );
    }
    for p in written {
        println!("已写入 {}", p.display());
    }
    Ok(())
}

/// `2023年3月1日` of an RFC 3339 instant (the stored text if it does not
/// parse).
fn day(at: &str) -> String {
    at.parse::<Timestamp>()
        .map(calendar::beijing_day)
        .unwrap_or_else(|_| at.to_owned())
}
