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
use crate::consolidate::Assessment;
use crate::export::model::ReplacedApproval;
use crate::export::{self, ExportOptions};
use crate::results::{self, NoticeMeta};
use crate::tlog::bundle::PublishedResult;
use crate::{config, tlog, workflow};

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
    let mut report = results::to_report(&y.consolidation, &y.outcomes, y.manifest(), &meta);
    let mut proofs = proof_bundles(inv, &conn, year)?;
    for bundle in &mut proofs.bundles {
        bundle.published = y
            .consolidation
            .units
            .iter()
            .find(|u| u.unit_id == bundle.unit_id)
            .map(|u| PublishedResult {
                total: u.scored().map(|s| s.total),
                grade: u.scored().map(|s| s.grade.clone()),
                excused: matches!(u.assessment, Assessment::Excused { .. }),
            });
    }
    report.closing.push(checkpoint_paragraph(&proofs));
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
    export::proofs::write_proofs(&proofs, &out).context("写入证明包（write proofs）")?;
    print_proofs(&proofs, &out);
    Ok(())
}

/// Every unit's proof bundle, for `kaohe verify`.
fn proof_bundles(
    inv: &Invocation,
    conn: &rusqlite::Connection,
    year: i32,
) -> anyhow::Result<tlog::BundleSet> {
    let year = u16::try_from(year).context("年度超出范围（year out of range）")?;
    let key = config::load_receipt_key(inv.dir())
        .context("读取汇总中心密钥以签名日志检查点（load the hub key to sign a checkpoint）")?;
    tlog::bundles(conn, year, &key, Timestamp::now())
        .context("生成证明包（build the proof bundles）")
}

/// The notice's statement of the log checkpoint the approved results were
/// computed from, and of the cosigned one the bundles are proved against.
fn checkpoint_paragraph(set: &tlog::BundleSet) -> String {
    format!(
        "本结果依据{year}年度考核透明日志的前 {approved} 条记录审定（检查点根哈希 {root}）；\
         各单位的证明包依据日志大小为 {size} 的检查点，经 {k} 个见证节点副署，\
         可用 kaohe verify 离线核验。",
        year = set.year,
        approved = set.approval_head.size,
        root = hex::encode(set.approval_head.root),
        size = set.checkpoint.size,
        k = set.cosignatures,
    )
}

fn print_proofs(set: &tlog::BundleSet, out: &std::path::Path) {
    let year = set.year;
    println!(
        "已写入 {} 个单位的证明包和 {} 个规则包模块：{}（proof bundles）",
        set.bundles.len(),
        set.modules.len(),
        out.join(export::proofs::PROOFS_DIR).display()
    );
    println!(
        "证明依据 {year} 年透明日志检查点：日志大小 {}，{} 个见证节点副署（log checkpoint: size, witness cosignatures）",
        set.checkpoint.size, set.cosignatures
    );
    if set.signed_now || set.cosignatures == 0 {
        println!(
            "注意：该检查点尚无见证节点副署；请各节点运行 `kaohe node sync` 后重新导出，证明包方能通过 `kaohe verify --witnesses`（no witness has cosigned this checkpoint yet）"
        );
    }
}

/// `2023年3月1日` of an RFC 3339 instant (the stored text if it does not
/// parse).
fn day(at: &str) -> String {
    at.parse::<Timestamp>()
        .map(calendar::beijing_day)
        .unwrap_or_else(|_| at.to_owned())
}
