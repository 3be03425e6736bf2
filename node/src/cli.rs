//! `kaohe node …`：考核节点的命令行（the node's command line）。
//!
//! The only module that reads the clock, the environment and the terminal;
//! everything below takes them as arguments. Every command loads and checks
//! `node.toml` first (nothing connects or writes before that), then opens the
//! evidence store. The commands that talk to the hub (`sync`, `submit`,
//! `deliver`, `results`, `object`) run a single-threaded tokio runtime of their own.
//!
//! Layout: one file per command under `cli/` (`init`, `pack`, `template`,
//! `import`, `set`, `history`, `evaluate`, `submit`, `sync`, `deliver`,
//! `outbox`, `status`, `results`, `object`, `witness`, `rotate_key`), each with its arguments and
//! its `run`; here the command list and what several commands share
//! (opening the node, the operator, the async runtime, Beijing time).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow};
use kaohe_rulepacks::manifest::Round;

use crate::config::NodeConfig;
use crate::layout::Layout;
use crate::store::{Actor, Store};

mod deliver;
mod evaluate;
mod history;
mod import;
mod init;
mod object;
mod outbox;
mod pack;
mod results;
mod rotate_key;
mod set;
mod status;
mod submit;
mod sync;
mod template;
mod witness;

/// 考核节点（assessor node）：初始化、填报模板、导入证据、评分、签名提交。
#[derive(Debug, clap::Args)]
pub struct Args {
    /// 数据目录（data directory）：配置 node.toml、密钥 node.key、证据库 node.db
    #[arg(long, default_value = "kaohe-node", value_name = "目录", global = true)]
    data_dir: PathBuf,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// 初始化节点：创建数据目录、签名密钥、配置与证据库，并显示公钥供县依法治县办登记（initialise the node）
    Init(init::InitArgs),
    /// 规则包：核验签发机构签名后启用、查看（rule packs: verify and activate, list）
    #[command(subcommand)]
    Pack(pack::PackCommand),
    /// 生成本节点的证据填报模板（Excel 或 CSV）（write the evidence template）
    Template(template::TemplateArgs),
    /// 导入填好的模板：全部检查通过才保存，否则列出所有问题（import a filled template, all or nothing）
    Import(import::ImportArgs),
    /// 录入或更正一个证据值（set or correct one value）
    Set(set::SetArgs),
    /// 查看证据修改记录：谁、何时、改了什么（show who changed what）
    History(history::HistoryArgs),
    /// 用规则包为本节点的单位评分并显示结果，不保存（evaluate; nothing is saved）
    Evaluate(evaluate::EvaluateArgs),
    /// 评分、签名并放入发件箱，随即送达汇总中心（evaluate, sign, queue and deliver）
    Submit(submit::SubmitArgs),
    /// 从汇总中心同步规则包（核验签名后启用）和本节点的考核范围（sync packs and scope）
    Sync(sync::SyncArgs),
    /// 把发件箱中待送达的提交送到汇总中心并保存回执（deliver the outbox）
    Deliver(deliver::DeliverArgs),
    /// 查看发件箱（show the outbox）
    Outbox,
    /// 节点状态：规则包、同步、发件箱各状态数量、被拒原因与回执（node status and receipts）
    Status(status::StatusArgs),
    /// 查看汇总中心对本节点所评单位的考核结果（the hub's results for this node's units）
    Results(results::ResultsArgs),
    /// 对本节点所评单位的考核结果提出异议（申请复核），附证明材料（file an objection with material）
    Object(object::ObjectArgs),
    /// 汇总中心透明日志的见证情况与不一致证据；经核查后处理证据以恢复送达（the hub's log as witnessed; resolve evidence）
    Witness(witness::WitnessArgs),
    /// 更换节点密钥：prepare 生成新密钥，adopt 在汇总中心登记后改用（rotate the node's key）
    #[command(subcommand)]
    RotateKey(rotate_key::RotateKeyCommand),
}

/// Runs `kaohe node …`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let dir = &args.data_dir;
    match args.command {
        Command::Init(a) => init::run(dir, a),
        Command::Pack(c) => pack::run(dir, c),
        Command::Template(a) => template::run(dir, a),
        Command::Import(a) => import::run(dir, a),
        Command::Set(a) => set::run(dir, a),
        Command::History(a) => history::run(dir, a),
        Command::Evaluate(a) => evaluate::run(dir, a),
        Command::Submit(a) => submit::run(dir, a),
        Command::Sync(a) => sync::run(dir, a),
        Command::Deliver(a) => deliver::run(dir, a),
        Command::Outbox => outbox::run(dir),
        Command::Status(a) => status::run(dir, a),
        Command::Results(a) => results::run(dir, a),
        Command::Object(a) => object::run(dir, a),
        Command::Witness(a) => witness::run(dir, a),
        Command::RotateKey(c) => rotate_key::run(dir, c),
    }
}

fn parse_round(s: &str) -> Result<Round, String> {
    Layout::round_of_sheet(s).ok_or_else(|| format!("须为 annual 或 Q1–Q4（unknown round {s:?}）"))
}

fn open(dir: &Path) -> anyhow::Result<(NodeConfig, Store)> {
    let config =
        NodeConfig::load_from_dir(dir).context("读取节点配置（load the node configuration）")?;
    let store = Store::open(&config.store_file).context("打开证据库（open the evidence store）")?;
    Ok((config, store))
}

fn actor(operator: Option<String>) -> anyhow::Result<Actor> {
    let operator = operator
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("USERNAME").ok())
        .filter(|o| !o.trim().is_empty())
        .ok_or_else(|| {
            anyhow!("请用 --operator 写明操作人（name the operator with --operator）")
        })?;
    Ok(Actor {
        operator: operator.trim().to_string(),
        // Whole seconds: the history is read by people.
        at: jiff::Timestamp::from_second(jiff::Timestamp::now().as_second())
            .context("读取系统时间（read the clock）")?,
    })
}

fn print_reevaluations(year: u16, list: &[crate::store::Reevaluation], active: &str) {
    println!(
        "{year} 年规则包已更新为 {active}，以下 {} 项结果须按新版重新评价（results to evaluate again under the new pack）：",
        list.len()
    );
    for r in list {
        println!(
            "  {}　{}　{}（原按 {} 计算）",
            r.unit_id,
            r.round.name_zh(),
            r.methods,
            r.computed_under
        );
    }
}

fn print_self_test(installed: &crate::pack::Installed) {
    match &installed.self_test {
        Some(p) => println!(
            "  自检通过（self-test passed）：{} 个单位轮次、{} 张得分表与签发时的结果逐字节一致",
            p.evaluate_units, p.finalise_units
        ),
        None => {
            println!("  规则包未内嵌自检用例（早于自检的规则包）（the pack carries no self-test）")
        }
    }
}

fn print_superseded(installed: &crate::pack::Installed) {
    if let Some(old) = &installed.replaced {
        println!("  取代（replaces）：{old}");
    }
    if !installed.superseded.is_empty() {
        println!(
            "  发件箱中按旧版计算、尚未发送的 {} 份提交已作废，不会发送（superseded, never sent）：序号 {}",
            installed.superseded.len(),
            join_numbers(&installed.superseded)
        );
    }
}

fn join_numbers(ns: &[u64]) -> String {
    let mut out: Vec<String> = ns.iter().take(20).map(u64::to_string).collect();
    if ns.len() > 20 {
        out.push(format!("……共 {} 份", ns.len()));
    }
    out.join("、")
}

fn tokio_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("启动异步运行时（start the async runtime）")
}

/// Beijing time (UTC+8) for officials.
fn beijing(unix: i64) -> String {
    jiff::Timestamp::from_second(unix)
        .map(|t| {
            t.to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
                .strftime("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|_| unix.to_string())
}
