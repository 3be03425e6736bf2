//! `kaohe hub …`：汇总中心的命令行（command line of the hub）。
//!
//! A thin edge: it parses arguments, reads the clock and `$USER` once, opens
//! the database and calls the library; output is Chinese first, tables
//! aligned for CJK width. Nothing in the library names this module.
//!
//! Layout: one module per command or command group, each holding its clap
//! arguments and its `run` — [`init`], [`units`], [`node`], [`calendar`],
//! [`audit`], [`pack`], [`serve`], [`progress`], [`backup`] (`backup` and
//! `restore`), then the results and the review workflow: [`results`],
//! [`export`], [`notify`], [`review`], [`history`], [`rectification`],
//! [`excuse`], [`ruling`] (裁定), [`override_cap`] (`override`, a Rust keyword),
//! [`approve`], [`reopen`], [`publish_results`]; [`user`] (the web console's
//! accounts). This file holds the command list,
//! the dispatch and what several commands share (`Invocation`, [`Now`]).

pub mod approve;
pub mod audit;
pub mod backup;
pub mod calendar;
pub mod excuse;
pub mod export;
pub mod history;
pub mod init;
pub mod node;
pub mod notify;
pub mod override_cap;
pub mod pack;
pub mod progress;
pub mod publish_results;
pub mod rectification;
pub mod reopen;
pub mod results;
pub mod review;
pub mod ruling;
pub mod serve;
pub mod units;
pub mod user;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use jiff::Timestamp;
use jiff::tz::{self, TimeZone};
use kaohe_rulepacks::runtime::{Runtime, RuntimeConfig};
use rusqlite::Connection;

use crate::audit::Actor;
use crate::db;
use crate::results::{self as year_results, ConsolidatedYear, YearData};

/// 汇总中心（hub）：登记考核对象和节点、发布规则包、接收上报、查看进度、管理工作日日历。
#[derive(Debug, clap::Args)]
pub struct Args {
    /// 数据目录（data directory），其中保存数据库 hub.db
    #[arg(long, default_value = "kaohe-hub", value_name = "目录", global = true)]
    pub data_dir: PathBuf,

    /// 操作人（operator），记入审计日志；默认为环境变量 USER；可写在任何子命令之后
    #[arg(long, value_name = "姓名", global = true)]
    pub operator: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// 初始化数据目录和数据库，已有数据库则升级结构（initialise or upgrade the database）
    Init(init::InitArgs),
    /// 考核对象名册（units）：导入、查看
    #[command(subcommand)]
    Units(units::UnitsCommand),
    /// 节点（nodes）：登记、查看、吊销
    #[command(subcommand)]
    Node(node::NodeCommand),
    /// 工作日日历（calendar）：查看、导入、推算期限
    #[command(subcommand)]
    Calendar(calendar::CalendarCommand),
    /// 审计日志（audit log）：显示最近的记录
    Audit(audit::AuditArgs),
    /// 规则包（rule packs）：发布、查看
    #[command(subcommand)]
    Pack(pack::PackCommand),
    /// 启动 gRPC 服务，接收各节点上报（serve nodes over gRPC）
    Serve(serve::ServeArgs),
    /// 各节点上报进度（reporting progress per node）
    Progress(progress::ProgressArgs),
    /// 在线备份数据库到新文件（服务运行中亦可），并检查副本完整性；不覆盖已有文件
    /// （online backup of hub.db to a new file, integrity-checked）
    Backup(backup::BackupArgs),
    /// 从备份文件恢复数据库到没有 hub.db 的数据目录（restore a backup into an empty data directory）
    Restore(backup::RestoreArgs),
    /// 汇总并显示一个年度的考核结果：排名、等次、迟报和未考核单位、结果运用（show results）
    Results(results::ResultsArgs),
    /// 导出已审定的考核结果：Excel 工作簿、PDF 通报、Word 文书（export approved results）
    Export(export::ExportArgs),
    /// 向考核对象通报反馈考核结果（问题通报反馈），并起算核实和申请复核期限（notify units）
    Notify(notify::NotifyArgs),
    /// 复核（review）：登记异议、作出决定
    #[command(subcommand)]
    Review(review::ReviewCommand),
    /// 往年考核结果（earlier years' results）
    #[command(subcommand)]
    History(history::HistoryCommand),
    /// 整改（rectification）：登记整改方案和整改情况报告、查看须整改单位
    #[command(subcommand)]
    Rectification(rectification::RectificationCommand),
    /// 记录某单位本年度免于考核及其原因（excuse a unit）
    Excuse(excuse::ExcuseArgs),
    /// 裁定：同一单位同一考核方式和轮次由两个以上节点上报时，采用哪个节点的上报（rule on a double report）
    Ruling(ruling::RulingArgs),
    /// 记录某单位扣分上限的调整及其原因（override the penalty cap）
    Override(override_cap::OverrideArgs),
    /// 记录县委、县政府审定考核结果；审定后该年度结果不能再改动（approve: locks the year）
    Approve(approve::ApproveArgs),
    /// 撤销审定（重新审定前唯一的更正途径），须写明原因，原审定记录保留（reopen an approved year）
    Reopen(reopen::ReopenArgs),
    /// 记录考核结果已公布（publish approved results）
    PublishResults(publish_results::PublishResultsArgs),
    /// 网页控制台账号（console accounts）：新建、重设密码、停用、查看
    #[command(subcommand)]
    User(user::UserCommand),
}

/// Runs one `kaohe hub …` command.
pub fn run(args: Args) -> anyhow::Result<()> {
    let inv = Invocation {
        dir: args.data_dir,
        operator: args.operator,
        now: Timestamp::now(),
    };
    match args.command {
        Command::Init(a) => init::run(&inv, a),
        Command::Units(command) => units::run(&inv, command),
        Command::Node(command) => node::run(&inv, command),
        Command::Calendar(command) => calendar::run(&inv, command),
        Command::Audit(a) => audit::run(&inv, a),
        Command::Pack(command) => pack::run(&inv, command),
        Command::Serve(a) => serve::run(&inv, a),
        Command::Progress(a) => progress::run(&inv, a),
        Command::Backup(a) => backup::run_backup(&inv, a),
        Command::Restore(a) => backup::run_restore(&inv, a),
        Command::Results(a) => results::run(&inv, a),
        Command::Export(a) => export::run(&inv, a),
        Command::Notify(a) => notify::run(&inv, a),
        Command::Review(command) => review::run(&inv, command),
        Command::History(command) => history::run(&inv, command),
        Command::Rectification(command) => rectification::run(&inv, command),
        Command::Excuse(a) => excuse::run(&inv, a),
        Command::Ruling(a) => ruling::run(&inv, a),
        Command::Override(a) => override_cap::run(&inv, a),
        Command::Approve(a) => approve::run(&inv, a),
        Command::Reopen(a) => reopen::run(&inv, a),
        Command::PublishResults(a) => publish_results::run(&inv, a),
        Command::User(command) => user::run(&inv, command),
    }
}

/// One `kaohe hub …` invocation: the data directory, the operator named on
/// the command line, and the time it started (read once).
#[derive(Debug)]
struct Invocation {
    dir: PathBuf,
    operator: Option<String>,
    now: Timestamp,
}

impl Invocation {
    /// The data directory.
    fn dir(&self) -> &Path {
        &self.dir
    }

    /// Who acts, and when; asked only by commands that change something,
    /// so that reading needs no operator.
    fn actor(&self) -> anyhow::Result<Actor> {
        let name = self
            .operator
            .clone()
            .or_else(|| std::env::var("USER").ok())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        match name {
            Some(name) => Ok(Actor::new(name, self.now)),
            None => {
                bail!("不知道操作人是谁：请用 --operator 指明（operator unknown: pass --operator）")
            }
        }
    }

    /// [`actor`](Invocation::actor) at `--now` when it is given.
    fn actor_at(&self, now: &Now) -> anyhow::Result<Actor> {
        let actor = self.actor()?;
        Ok(match now.now {
            Some(at) => Actor::new(actor.operator, at),
            None => actor,
        })
    }

    /// The hub database, which must exist.
    fn open(&self) -> anyhow::Result<Connection> {
        open(&self.dir)
    }
}

/// `--now`: the hub's fixed clock for demos and tests.
#[derive(Debug, Clone, clap::Args)]
pub struct Now {
    /// 固定“现在”的时刻（RFC 3339），用于演示和测试（fixed clock）
    #[arg(long, value_name = "时刻")]
    pub now: Option<Timestamp>,
}

/// Reads a file of at most `cap` bytes, saying which file and why not.
fn read_capped(path: &Path, cap: u64) -> anyhow::Result<Vec<u8>> {
    use std::io::Read as _;
    let file = std::fs::File::open(path)
        .with_context(|| format!("读取文件 {}（read file）", path.display()))?;
    let mut bytes = Vec::new();
    file.take(cap + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("读取文件 {}（read file）", path.display()))?;
    if bytes.len() as u64 > cap {
        bail!(
            "文件 {} 超过 {cap} 字节上限（file too large）",
            path.display()
        );
    }
    Ok(bytes)
}

fn open(dir: &Path) -> anyhow::Result<Connection> {
    db::open_existing(dir).context("打开数据库（open database）")
}

/// The year's one current pack, loaded; `None` when the year has none (or
/// several), for the registry commands that check against it.
fn year_pack(
    conn: &Connection,
    runtime: &Runtime,
    year: i32,
) -> anyhow::Result<Option<kaohe_rulepacks::pack::Pack>> {
    Ok(crate::registration::year_pack(conn, runtime, year)?)
}

impl Invocation {
    /// The pack runtime for one command, its compiled modules cached under
    /// the data directory so a pack is not recompiled by every command.
    fn runtime(&self) -> anyhow::Result<Runtime> {
        Runtime::new(RuntimeConfig::with_cache_under(&self.dir))
            .context("启动规则包运行环境（start the pack runtime）")
    }

    /// The year's inputs, for the commands that need only its manifest.
    fn load(&self, conn: &Connection, year: i32) -> anyhow::Result<YearData> {
        Ok(year_results::load_year(conn, &self.runtime()?, year)?)
    }

    /// The year consolidated now, with its outcomes.
    fn consolidate(&self, conn: &Connection, year: i32) -> anyhow::Result<ConsolidatedYear> {
        self.consolidate_with(conn, year, crate::consolidate::Detail::Full)
    }

    /// [`Self::consolidate`], keeping the per-indicator detail or not.
    fn consolidate_with(
        &self,
        conn: &Connection,
        year: i32,
        detail: crate::consolidate::Detail,
    ) -> anyhow::Result<ConsolidatedYear> {
        Ok(year_results::consolidate_year_with(
            conn,
            &self.runtime()?,
            year,
            detail,
        )?)
    }
}

/// Beijing time (UTC+8, no daylight saving since 1991) for officials.
fn beijing(ts: Timestamp) -> String {
    ts.to_zoned(TimeZone::fixed(tz::offset(8)))
        .strftime("%Y-%m-%d %H:%M")
        .to_string()
}
