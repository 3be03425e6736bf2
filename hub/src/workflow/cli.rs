//! `kaohe hub results | export | notify | review | excuse | override |
//! approve | publish-results | history | rectification`：考核结果与反馈复核的命令行。
//!
//! Thin: parse, read `--now` (or the clock) once into the [`Actor`], open
//! the database, call [`crate::results`] / [`crate::workflow`], print
//! Chinese tables.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use jiff::Timestamp;
use jiff::civil::Date;
use kaohe_rulepacks::rubric::decimal::{format_hundredths_fixed, parse_hundredths};
use kaohe_rulepacks::runtime::Runtime;
use kaohe_tables::sheet::Workbook;
use kaohe_tables::terminal;
use rusqlite::Connection;

use crate::audit::Actor;
use crate::calendar::{self, format_date_zh};
use crate::cli::{open, read_capped};
use crate::consolidate::Assessment;
use crate::export::{self, ExportOptions};
use crate::registry::calendar_years;
use crate::results::{self, ConsolidatedYear, NoticeMeta, YearData};
use crate::workflow::{self, Decision, Material, rectification};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// 汇总并显示一个年度的考核结果：排名、等次、迟报和未考核单位、结果运用（show results）
    Results {
        /// 考核年度（assessment year）
        #[arg(long, value_name = "年度")]
        year: i32,
        /// 只显示这一类别（category id）
        #[arg(long, value_name = "类别")]
        category: Option<String>,
    },
    /// 导出已审定的考核结果：Excel 工作簿、PDF 通报、Word 文书（export approved results）
    Export {
        /// 考核年度（assessment year）
        #[arg(long, value_name = "年度")]
        year: i32,
        /// 输出目录（output directory）
        #[arg(long, value_name = "目录")]
        out: PathBuf,
        /// PDF 所用 TrueType 字体（font file），默认为内嵌的思源宋体子集
        #[arg(long, value_name = "字体文件")]
        font: Option<PathBuf>,
        /// 县名（county）
        #[arg(long, default_value = "宝丰县", value_name = "县名")]
        county: String,
        /// 考核名称（scheme name, without the year）
        #[arg(long, default_value = "法治宝丰（法治政府）建设", value_name = "名称")]
        scheme_name: String,
        /// 发文机关（issuer）
        #[arg(
            long,
            default_value = "中共宝丰县委全面依法治县委员会办公室",
            value_name = "机关"
        )]
        issuer: String,
        /// 主送机关（recipients）
        #[arg(long, default_value = "", value_name = "机关")]
        recipients: String,
    },
    /// 向考核对象通报反馈考核结果（问题通报反馈），并起算核实和申请复核期限（notify units）
    Notify {
        /// 考核年度（assessment year）
        #[arg(long, value_name = "年度")]
        year: i32,
        /// 单位编号，可多次给出；不给则通报全部已考核单位（units; default all assessed）
        #[arg(long = "unit", value_name = "单位编号")]
        units: Vec<String>,
        /// 通报日期（notification date），默认为“现在”的北京日期
        #[arg(long, value_name = "日期")]
        on: Option<Date>,
        /// 把每份通报写入此目录（write each notice as a text file here）
        #[arg(long, value_name = "目录")]
        out: Option<PathBuf>,
        #[command(flatten)]
        now: Now,
    },
    /// 复核（review）：登记异议、作出决定
    #[command(subcommand)]
    Review(ReviewCommand),
    /// 往年考核结果（earlier years' results）
    #[command(subcommand)]
    History(HistoryCommand),
    /// 整改（rectification）：登记整改方案和整改情况报告、查看须整改单位
    #[command(subcommand)]
    Rectification(RectificationCommand),
    /// 记录某单位本年度免于考核及其原因（excuse a unit）
    Excuse {
        /// 考核年度（assessment year）
        #[arg(long, value_name = "年度")]
        year: i32,
        /// 单位编号（unit id）
        #[arg(long, value_name = "单位编号")]
        unit: String,
        /// 原因，记入审计日志（reason）
        #[arg(long, value_name = "原因")]
        reason: String,
        #[command(flatten)]
        now: Now,
    },
    /// 记录某单位扣分上限的调整及其原因（override the penalty cap）
    Override {
        /// 考核年度（assessment year）
        #[arg(long, value_name = "年度")]
        year: i32,
        /// 单位编号（unit id）
        #[arg(long, value_name = "单位编号")]
        unit: String,
        /// 扣分上限（分），如 15 或 12.5（cap in points）
        #[arg(long, value_name = "分")]
        cap: String,
        /// 原因，记入审计日志（reason）
        #[arg(long, value_name = "原因")]
        reason: String,
        #[command(flatten)]
        now: Now,
    },
    /// 记录县委、县政府审定考核结果（approve, once a year）
    Approve {
        /// 考核年度（assessment year）
        #[arg(long, value_name = "年度")]
        year: i32,
        /// 审定文号（document number），如 宝法治办〔2023〕1号
        #[arg(long, value_name = "文号")]
        doc_number: String,
        #[command(flatten)]
        now: Now,
    },
    /// 记录考核结果已公布（publish approved results）
    PublishResults {
        /// 考核年度（assessment year）
        #[arg(long, value_name = "年度")]
        year: i32,
        #[command(flatten)]
        now: Now,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum HistoryCommand {
    /// 导入往年考核结果（单位编号、年度、总分、等次），用于结果运用；全部无误才写入（import earlier years' results）
    Import {
        /// Excel（.xlsx）或 CSV 文件（file）
        #[arg(value_name = "文件")]
        file: PathBuf,
        /// 这些往年结果用于哪一考核年度：等次按该年度规则包的等次核对（the year whose pack's grades apply）
        #[arg(long, value_name = "年度")]
        year: i32,
        #[command(flatten)]
        now: Now,
    },
}

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
        /// 决定说明；审定后作出的决定必须写明（reason; required after approval）
        #[arg(long, value_name = "原因")]
        reason: Option<String>,
        #[command(flatten)]
        now: Now,
    },
}

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

/// `--now`: the hub's fixed clock for demos and tests.
#[derive(Debug, Clone, clap::Args)]
pub struct Now {
    /// 固定“现在”的时刻（RFC 3339），用于演示和测试（fixed clock）
    #[arg(long, value_name = "时刻")]
    pub now: Option<Timestamp>,
}

/// Runs one of the results and workflow commands.
pub fn run(
    dir: &Path,
    command: Command,
    actor: impl FnOnce() -> anyhow::Result<Actor>,
) -> anyhow::Result<()> {
    let with_now = |now: &Now, actor: Actor| match now.now {
        Some(at) => Actor::new(actor.operator, at),
        None => actor,
    };
    match command {
        Command::Results { year, category } => {
            let conn = open(dir)?;
            let y = consolidate(&conn, year)?;
            print!("{}", render_results(&y, category.as_deref()));
            if let Some(approval) = workflow::approval_record(&conn, year)? {
                let (doc, at) = (&approval.doc_number, &approval.approved_at);
                if approval.approves(&y.consolidation) {
                    println!("\n已审定（文号 {doc}，{at}），当前汇总与审定时一致。");
                } else {
                    println!(
                        "\n注意：已审定（文号 {doc}，{at}），但当前汇总与审定时不同（审定后有改动）。"
                    );
                }
            }
        }
        Command::Export {
            year,
            out,
            font,
            county,
            scheme_name,
            issuer,
            recipients,
        } => {
            let conn = open(dir)?;
            let Some(workflow::Approval {
                doc_number,
                approved_at,
                ..
            }) = workflow::approval_record(&conn, year)?
            else {
                bail!("{year} 年度考核结果尚未审定，不能导出通报（not approved）");
            };
            let published_at = workflow::publication(&conn, year)?.unwrap_or(approved_at);
            let published_on = published_at
                .parse::<Timestamp>()
                .map(calendar::beijing_day)
                .unwrap_or(published_at);
            let y = consolidate(&conn, year)?;
            let meta = NoticeMeta {
                county,
                scheme_name,
                issuer,
                doc_number,
                published_on,
                recipients,
            };
            let report = results::to_report(&y.consolidation, &y.outcomes, y.manifest(), &meta);
            let written = export::write_all(&report, &out, &ExportOptions { font })
                .context("导出考核结果（export）")?;
            for p in written {
                println!("已写入 {}", p.display());
            }
        }
        Command::Notify {
            year,
            units,
            on,
            out,
            now,
        } => {
            let actor = with_now(&now, actor()?);
            let mut conn = open(dir)?;
            let cal = calendar_years::effective_calendar(&conn)?;
            let y = consolidate(&conn, year)?;
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
                std::fs::create_dir_all(out)
                    .with_context(|| format!("创建目录 {}", out.display()))?;
            }
            for n in &notices {
                println!("{}", n.text);
                if let Some(out) = &out {
                    let path = out.join(format!("{year}年度问题通报反馈-{}.txt", n.unit_id));
                    std::fs::write(&path, &n.text)
                        .with_context(|| format!("写入 {}", path.display()))?;
                }
            }
            println!("已通报 {} 个单位（notified）。", notices.len());
        }
        Command::Review(ReviewCommand::Object {
            year,
            unit,
            reason,
            materials,
            now,
        }) => {
            let actor = with_now(&now, actor()?);
            let mut conn = open(dir)?;
            let cal = calendar_years::effective_calendar(&conn)?;
            let data = load(&conn, year)?;
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
        Command::Review(ReviewCommand::Decide {
            year,
            unit,
            upheld: _,
            revised,
            reason,
            now,
        }) => {
            let actor = with_now(&now, actor()?);
            let mut conn = open(dir)?;
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
        Command::History(HistoryCommand::Import { file, year, now }) => {
            let actor = with_now(&now, actor()?);
            let mut conn = open(dir)?;
            let data = load(&conn, year)?;
            let done =
                workflow::history::import_history_file(&mut conn, &file, data.manifest(), &actor)?;
            println!(
                "已导入往年考核结果 {} 条（imported），来自 {}",
                done.rows,
                file.display()
            );
            if let Some(note) = Workbook::hidden_note(&done.hidden_sheets) {
                println!("{note}");
            }
        }
        Command::Rectification(RectificationCommand::Record {
            year,
            unit,
            plan,
            report,
            note,
            now,
        }) => {
            let actor = with_now(&now, actor()?);
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
            let mut conn = open(dir)?;
            let y = consolidate(&conn, year)?;
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
        Command::Rectification(RectificationCommand::List { year }) => {
            let conn = open(dir)?;
            let y = consolidate(&conn, year)?;
            let rows = rectification::status(&conn, &y.consolidation, y.manifest(), &y.outcomes)?;
            print!("{}", rectification::render(year, &rows));
        }
        Command::Excuse {
            year,
            unit,
            reason,
            now,
        } => {
            let actor = with_now(&now, actor()?);
            let mut conn = open(dir)?;
            workflow::excuse(&mut conn, year, &unit, &reason, &actor)?;
            println!(
                "已记录：{unit} {year} 年度免于考核，原因：{}",
                reason.trim()
            );
        }
        Command::Override {
            year,
            unit,
            cap,
            reason,
            now,
        } => {
            let actor = with_now(&now, actor()?);
            let hundredths = parse_points(&cap)?;
            let mut conn = open(dir)?;
            workflow::override_cap(&mut conn, year, &unit, hundredths, &reason, &actor)?;
            println!(
                "已记录：{unit} {year} 年度扣分上限调整为 {} 分，原因：{}",
                format_hundredths_fixed(hundredths),
                reason.trim()
            );
        }
        Command::Approve {
            year,
            doc_number,
            now,
        } => {
            let actor = with_now(&now, actor()?);
            let mut conn = open(dir)?;
            let y = consolidate(&conn, year)?;
            let digest = workflow::approve(&mut conn, &y.consolidation, &doc_number, &actor)?;
            println!(
                "已记录 {year} 年度考核结果审定，文号 {}，汇总 SHA-256 {digest}（approved）",
                doc_number.trim()
            );
        }
        Command::PublishResults { year, now } => {
            let actor = with_now(&now, actor()?);
            let mut conn = open(dir)?;
            workflow::publish(&mut conn, year, &actor)?;
            println!("已记录 {year} 年度考核结果公布（published）");
        }
    }
    Ok(())
}

fn runtime() -> anyhow::Result<Runtime> {
    Runtime::new(Default::default()).context("启动规则包运行环境（start the pack runtime）")
}

/// The year's inputs, for the commands that need only its manifest.
fn load(conn: &Connection, year: i32) -> anyhow::Result<YearData> {
    Ok(results::load_year(conn, &runtime()?, year)?)
}

/// The year consolidated now, with its outcomes.
fn consolidate(conn: &Connection, year: i32) -> anyhow::Result<ConsolidatedYear> {
    Ok(results::consolidate_year(conn, &runtime()?, year)?)
}

/// Points as an official types them (`15`, `12.5`, `0.05`) → hundredths,
/// read by the one parser of decimal literals; negative points are refused.
pub fn parse_points(text: &str) -> anyhow::Result<i64> {
    let t = text.trim();
    match parse_hundredths(t) {
        Ok(v) if v >= 0 => Ok(v),
        Ok(_) => Err(anyhow::anyhow!(
            "分数 {t:?} 无效，应为如 15 或 12.5 的非负数（invalid points）"
        )),
        Err(e) => Err(anyhow::anyhow!(
            "分数 {t:?} 无效，应为如 15 或 12.5 的非负数（invalid points）：{e}"
        )),
    }
}

/// The `hub results` text: ranking tables of ranked categories, grade
/// counts of the others, late and not-assessed units, outcomes. Pure.
pub fn render_results(y: &ConsolidatedYear, category: Option<&str>) -> String {
    let (c, o, manifest) = (&y.consolidation, &y.outcomes, y.manifest());
    let mut out = format!(
        "{} 年度考核结果（规则包 {}-{} 第 {} 版）\n",
        c.year, c.pack.id, c.pack.year, c.pack.version
    );
    for cat in &manifest.categories {
        if category.is_some_and(|x| x != cat.id) {
            continue;
        }
        let units: Vec<_> = c.units.iter().filter(|u| u.category == cat.id).collect();
        if units.is_empty() {
            continue;
        }
        if let Some(r) = c.ranking(&cat.id).filter(|_| cat.ranked) {
            out.push_str(&format!("\n【{}】评定等次并排名\n", cat.name));
            let rows: Vec<Vec<String>> = r
                .entries
                .iter()
                .map(|e| {
                    let late = c
                        .unit(&e.unit_id)
                        .is_some_and(|u| !u.late_reports.is_empty());
                    vec![
                        format!("{}{}", e.rank, if e.tied { "（并列）" } else { "" }),
                        e.unit_id.clone(),
                        e.name.clone(),
                        format_hundredths_fixed(e.total),
                        grade_name(manifest, &e.grade),
                        if late { "迟报".into() } else { String::new() },
                    ]
                })
                .collect();
            out.push_str(&terminal::render(
                &["名次", "编号", "单位", "总分", "等次", "备注"],
                &rows,
            ));
        } else {
            out.push_str(&format!("\n【{}】只评定等次\n", cat.name));
            let rows: Vec<Vec<String>> = manifest
                .composition
                .grades
                .iter()
                .map(|g| {
                    let names: Vec<&str> = units
                        .iter()
                        .filter(|u| u.scored().is_some_and(|s| s.grade == g.id))
                        .map(|u| u.name.as_str())
                        .collect();
                    vec![g.name.clone(), names.len().to_string(), names.join("、")]
                })
                .collect();
            out.push_str(&terminal::render(&["等次", "单位数", "单位"], &rows));
        }
    }
    let late: Vec<Vec<String>> = c
        .completeness
        .late
        .iter()
        .filter(|l| category.is_none_or(|x| c.unit(&l.unit_id).is_some_and(|u| u.category == x)))
        .map(|l| {
            vec![
                l.unit_id.clone(),
                l.unit_name.clone(),
                format!("{}{}", l.method_name, l.round.name_zh()),
                Timestamp::from_second(l.received_at)
                    .map(calendar::beijing_day)
                    .unwrap_or_default(),
            ]
        })
        .collect();
    if !late.is_empty() {
        out.push_str("\n【迟报单位】（已计入考核）\n");
        out.push_str(&terminal::render(
            &["编号", "单位", "上报", "提交日期"],
            &late,
        ));
    }
    let mut missing = Vec::new();
    for u in &c.units {
        if category.is_some_and(|x| x != u.category) {
            continue;
        }
        match &u.assessment {
            Assessment::NotAssessed { gaps } => missing.push(vec![
                u.unit_id.clone(),
                u.name.clone(),
                "未考核".into(),
                gaps.iter()
                    .map(|g| g.message.as_str())
                    .collect::<Vec<_>>()
                    .join("；"),
            ]),
            Assessment::Excused { reason } => missing.push(vec![
                u.unit_id.clone(),
                u.name.clone(),
                "免于考核".into(),
                reason.clone(),
            ]),
            Assessment::Assessed(_) => {}
        }
    }
    if !missing.is_empty() {
        out.push_str("\n【未考核单位】（不计 0 分）\n");
        out.push_str(&terminal::render(
            &["编号", "单位", "状态", "缺少什么 / 原因"],
            &missing,
        ));
    }
    let notices: Vec<Vec<String>> = o
        .notices
        .iter()
        .filter(|n| category.is_none_or(|x| c.unit(&n.unit_id).is_some_and(|u| u.category == x)))
        .map(|n| {
            vec![
                n.kind.name_zh().to_string(),
                n.unit_name.clone(),
                n.issued_by.clone(),
                n.reasons.join("；"),
            ]
        })
        .collect();
    if !notices.is_empty() {
        out.push_str("\n【结果运用】\n");
        out.push_str(&terminal::render(
            &["类别", "单位", "发出单位", "原因"],
            &notices,
        ));
    }
    out
}

fn grade_name(manifest: &kaohe_rulepacks::manifest::Manifest, id: &str) -> String {
    manifest
        .composition
        .grades
        .iter()
        .find(|g| g.id == id)
        .map(|g| g.name.clone())
        .unwrap_or_else(|| id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_parse_to_hundredths_and_junk_is_refused() {
        assert_eq!(parse_points("15").unwrap(), 1500);
        assert_eq!(parse_points("12.5").unwrap(), 1250);
        assert_eq!(parse_points("0.05").unwrap(), 5);
        for bad in ["", "-1", "1.234", "abc", ".5", "1e3"] {
            assert!(parse_points(bad).is_err(), "{bad}");
        }
    }
}
