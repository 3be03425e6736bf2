//! `kaohe`: the one command officials install.
//!
//! `main` only parses arguments, sets up logging and turns `run` into an exit
//! code; every subcommand lives in a library crate (`kaohe pack …` in
//! `kaohe-rulepacks`, `kaohe hub …` in `kaohe-hub`, `kaohe node …` in
//! `kaohe-node`). The Chinese chrome of the help text (headings, the help flag)
//! is applied here once, to every subcommand.

mod demo;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// 考核（kaohe）：县级法治政府建设年度考核的联邦系统。
///
/// 依法治县办、国资局、卫健委和各乡镇在本地节点（node）录入证据、运行年度规则包（rule pack）并签名上报；
/// 县级汇总中心（hub）核验、复算、汇总、评定等次、排名并出具结果。
#[derive(Debug, Parser)]
#[command(name = "kaohe", version)]
struct Cli {
    /// 日志详细程度（log level），如 info、debug；也可用环境变量 KAOHE_LOG
    #[arg(
        long,
        global = true,
        value_name = "级别",
        help_heading = "选项（options）"
    )]
    log: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// 规则包（rule pack）：检查、求值、编译、签名、查看、生成细则文档
    #[command(subcommand)]
    Pack(kaohe_rulepacks::cli::Command),
    /// 县级汇总中心（hub）：登记单位与节点、发布规则包、核验与汇总上报结果、工作日历
    Hub(kaohe_hub::cli::Args),
    /// 考核主体节点（node）：初始化、证据模板与导入、求值、签名上报、发件箱
    Node(kaohe_node::cli::Args),
    /// 演示（demo）：以独立进程运行一个示例县的首年完整考核
    Demo(demo::Args),
}

fn main() -> ExitCode {
    let matches = chinese_chrome(Cli::command()).get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    init_tracing(cli.log.as_deref());
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("错误（error）：{e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Pack(cmd) => kaohe_rulepacks::cli::run(cmd),
        Command::Hub(args) => kaohe_hub::cli::run(args),
        Command::Node(args) => kaohe_node::cli::run(args),
        Command::Demo(args) => demo::run(args),
    }
}

fn init_tracing(level: Option<&str>) {
    use tracing_subscriber::EnvFilter;
    let filter = match level {
        Some(l) => EnvFilter::new(l),
        None => EnvFilter::try_from_env("KAOHE_LOG").unwrap_or_else(|_| EnvFilter::new("warn")),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Puts clap's own words (headings, the help and version flags) into Chinese,
/// with the English beside them, on the command and every subcommand.
fn chinese_chrome(cmd: clap::Command) -> clap::Command {
    use clap::{Arg, ArgAction};
    let is_root = cmd.get_name() == "kaohe";
    let cmd = cmd
        .help_template("{about-with-newline}\n用法（usage）：{usage}\n\n{all-args}{after-help}")
        .subcommand_help_heading("命令（commands）")
        .next_help_heading("选项（options）")
        .disable_help_subcommand(true)
        .disable_help_flag(true)
        .mut_args(|a| {
            if a.is_positional() {
                a.help_heading("参数（arguments）")
            } else if a.get_help_heading().is_none() {
                a.help_heading("选项（options）")
            } else {
                a
            }
        })
        .arg(
            Arg::new("help")
                .short('h')
                .long("help")
                .action(ArgAction::Help)
                .help("显示帮助（help）"),
        );
    let cmd = if is_root {
        cmd.disable_version_flag(true).arg(
            Arg::new("version")
                .short('V')
                .long("version")
                .action(ArgAction::Version)
                .help("显示版本（version）"),
        )
    } else {
        cmd
    };
    cmd.mut_subcommands(chinese_chrome)
}
