//! `kaohe`: the one command officials install.
//!
//! `main` only parses arguments, sets up logging and turns `run` into an exit
//! code; every subcommand lives in a library crate (`kaohe pack …` in
//! `kaohe-rulepacks`, `kaohe hub …` in `kaohe-hub`, `kaohe node …` in
//! `kaohe-node`); `kaohe verify` (offline, `verify`) and `kaohe demo` are
//! the binary's own. The Chinese chrome of the help text (headings, the help flag)
//! is applied here once, to every subcommand.

mod demo;
mod verify;

use std::process::ExitCode;

/// mimalloc rather than glibc's malloc: consolidating a large year makes
/// and drops many small allocations, and glibc's heap spent a third of
/// `hub results`' time on them (issue #17; `hub/benches/scale-results.txt`).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// 离线核验单位年度证明包（verify a proof bundle offline）：日志包含证明、见证副署、签名、授权范围、复算与汇总
    Verify(verify::Args),
    /// 演示（demo）：以独立进程运行一个示例县连续两年的完整考核
    Demo(demo::Args),
}

fn main() -> ExitCode {
    let matches = match chinese_chrome(Cli::command()).try_get_matches() {
        Ok(m) => m,
        Err(e) => parse_error(e),
    };
    quiet_when_the_reader_goes();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    init_tracing(cli.log.as_deref());
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "错误（error）：{}",
                kaohe_tables::os_error::chinese(&error_text(&e))
            );
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, each said once: a cause whose text the
/// message already carries (many messages quote their cause) is skipped.
fn error_text(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Pack(cmd) => kaohe_rulepacks::cli::run(cmd),
        Command::Hub(args) => kaohe_hub::cli::run(args),
        Command::Node(args) => kaohe_node::cli::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Demo(args) => demo::run(args),
    }
}

/// `kaohe hub results | head`: when the reader of the output goes away,
/// end quietly with the status a Unix tool killed by SIGPIPE has (141)
/// instead of a panic and its backtrace. (Not by restoring SIGPIPE itself:
/// the vectored writes of a TLS connection would then kill a node the
/// moment a hub drops the connection.)
fn quiet_when_the_reader_goes() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to std") && message.contains("(os error 32)") {
            std::process::exit(141);
        }
        default(info);
    }));
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

/// Reports a command-line mistake in Chinese (clap's own messages are
/// English) and exits with clap's code; help and version print as usual.
fn parse_error(e: clap::Error) -> ! {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let ctx = |kind| match e.get(kind) {
        Some(ContextValue::String(s)) => s.clone(),
        Some(ContextValue::Strings(v)) => v.join("、"),
        Some(ContextValue::StyledStr(s)) => s.to_string(),
        Some(ContextValue::StyledStrs(v)) => v
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("、"),
        Some(ContextValue::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let arg = ctx(ContextKind::InvalidArg);
    let what = match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => e.exit(),
        ErrorKind::InvalidSubcommand => format!(
            "没有命令「{}」（unrecognized subcommand）",
            ctx(ContextKind::InvalidSubcommand)
        ),
        ErrorKind::UnknownArgument => format!("不认识的参数「{arg}」（unexpected argument）"),
        ErrorKind::MissingRequiredArgument => {
            format!("缺少必需的参数：{arg}（missing required argument）")
        }
        ErrorKind::MissingSubcommand => "缺少命令（missing subcommand）".to_owned(),
        ErrorKind::InvalidValue => format!(
            "参数 {arg} 的取值「{}」无效{}（invalid value）",
            ctx(ContextKind::InvalidValue),
            match ctx(ContextKind::ValidValue) {
                v if v.is_empty() => String::new(),
                v => format!("，可选：{v}"),
            }
        ),
        ErrorKind::ValueValidation => format!(
            "参数 {arg} 的取值「{}」无效（invalid value）：{}",
            ctx(ContextKind::InvalidValue),
            std::error::Error::source(&e).map_or_else(String::new, |s| match s.to_string() {
                m if m.contains("invalid digit") => "须为整数（not a whole number）".to_owned(),
                m if m.contains("too large") || m.contains("too small") => {
                    "超出范围（out of range）".to_owned()
                }
                m => m,
            })
        ),
        ErrorKind::ArgumentConflict => format!(
            "参数 {arg} 不能与 {} 同时使用（conflicting arguments）",
            ctx(ContextKind::PriorArg)
        ),
        ErrorKind::TooManyValues | ErrorKind::TooFewValues | ErrorKind::WrongNumberOfValues => {
            format!("参数 {arg} 的取值个数不对（wrong number of values）")
        }
        ErrorKind::NoEquals => format!("参数 {arg} 须写成 {arg}=取值（equals sign needed）"),
        _ => format!("命令行有误（invalid command line）：{}", e.kind()),
    };
    let mut text = format!("错误（error）：{what}\n");
    let suggested = [ContextKind::SuggestedSubcommand, ContextKind::SuggestedArg]
        .into_iter()
        .map(ctx)
        .find(|s| !s.is_empty());
    if let Some(s) = suggested {
        text.push_str(&format!("  是否想用「{s}」？（did you mean）\n"));
    }
    let usage = ctx(ContextKind::Usage);
    if !usage.is_empty() {
        let usage = usage
            .trim()
            .trim_start_matches("Usage:")
            .trim_start_matches("用法（usage）：")
            .trim();
        text.push_str(&format!("\n用法（usage）：{usage}\n"));
    }
    text.push_str("\n加 --help 查看说明（for more information, try --help）\n");
    eprint!("{text}");
    std::process::exit(e.exit_code())
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
