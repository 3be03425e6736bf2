//! `kaohe node …`：考核节点的命令行（the node's command line）。
//!
//! The only module that reads the clock, the environment and the terminal;
//! everything below takes them as arguments. Every command loads and checks
//! `node.toml` first (nothing connects or writes before that), then opens the
//! evidence store.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow, bail};
use kaohe_proto::SigningKeyPair;
use kaohe_rulepacks::manifest::{Assessor, Round};
use kaohe_rulepacks::runtime::{Runtime, RuntimeConfig};

use crate::config::NodeConfig;
use crate::evaluate;
use crate::import;
use crate::init::{self, InitOptions};
use crate::layout::Layout;
use crate::outbox::State;
use crate::store::{Actor, Store};
use crate::template::{self, CsvEncoding, Prefill};
use crate::value;
use crate::workbook::Limits;

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
    Init(InitArgs),
    /// 规则包：核验签发机构签名后启用、查看（rule packs: verify and activate, list）
    #[command(subcommand)]
    Pack(PackCommand),
    /// 生成本节点的证据填报模板（Excel 或 CSV）（write the evidence template）
    Template(TemplateArgs),
    /// 导入填好的模板：全部检查通过才保存，否则列出所有问题（import a filled template, all or nothing）
    Import(ImportArgs),
    /// 录入或更正一个证据值（set or correct one value）
    Set(SetArgs),
    /// 查看证据修改记录：谁、何时、改了什么（show who changed what）
    History(HistoryArgs),
    /// 用规则包为本节点的单位评分并显示结果，不保存（evaluate; nothing is saved）
    Evaluate(EvaluateArgs),
    /// 评分、签名并放入发件箱，等待送达汇总中心（evaluate, sign and queue for the hub）
    Submit(EvaluateArgs),
    /// 查看发件箱（show the outbox）
    Outbox,
}

#[derive(Debug, clap::Args)]
struct InitArgs {
    /// 汇总中心地址，如 https://127.0.0.1:7443（hub address）
    #[arg(long, value_name = "地址")]
    hub: String,
    /// 节点名称，如 宝丰县依法治县办（node name）
    #[arg(long, value_name = "名称")]
    name: String,
    /// 考核主体（assessor）
    #[arg(long, value_parser = parse_assessor, value_name = "主体")]
    assessor: Assessor,
    /// 规则包签发机构公钥 ed25519:…，可重复（pack authority key; repeatable）
    #[arg(long = "authority-key", value_name = "公钥")]
    authority_keys: Vec<String>,
    /// 至少需要几个签发机构签名（k of n；默认全部）（signatures required）
    #[arg(long, value_name = "K")]
    threshold: Option<usize>,
    /// 签发汇总中心证书的 CA 证书（PEM），使用 https 时必填（hub CA certificate）
    #[arg(long, value_name = "文件")]
    ca_cert: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
enum PackCommand {
    /// 核验规则包的签发机构签名（k of n）并启用；未通过则原规则包不变（verify and activate a pack）
    Install {
        /// 规则包模块（.wasm）（the pack module）
        #[arg(value_name = "文件")]
        module: PathBuf,
        /// 签名文件；默认为 模块文件名.sig（signature file; default MODULE.sig）
        #[arg(long, value_name = "文件")]
        signature: Option<PathBuf>,
        /// 操作人（默认为当前登录用户）（operator; default: the login user）
        #[arg(long, value_name = "姓名")]
        operator: Option<String>,
    },
    /// 列出本节点保存的规则包（list the packs this node holds）
    List,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum TemplateFormat {
    Xlsx,
    Csv,
}

#[derive(Debug, clap::Args)]
struct TemplateArgs {
    /// 考核年度（assessment year）
    #[arg(long, value_name = "年度")]
    year: u16,
    /// 文件格式；默认按输出文件扩展名（format; default from the file name）
    #[arg(long, value_enum)]
    format: Option<TemplateFormat>,
    /// CSV 的文字编码（CSV text encoding）
    #[arg(long, value_enum, default_value_t = CsvEncoding::Utf8Bom)]
    encoding: CsvEncoding,
    /// 预先填入已保存的数值，便于更正后重新导入（prefill stored values）
    #[arg(long)]
    with_values: bool,
    /// 覆盖已有文件（overwrite an existing file）
    #[arg(long)]
    force: bool,
    /// 输出文件（output file）
    #[arg(short, long, value_name = "文件")]
    output: PathBuf,
}

#[derive(Debug, clap::Args)]
struct ImportArgs {
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

#[derive(Debug, clap::Args)]
struct SetArgs {
    /// 单位编号（unit id）
    #[arg(value_name = "单位")]
    unit: String,
    /// 字段编号，见模板隐藏的第2行或填表说明（field id）
    #[arg(value_name = "字段")]
    field: String,
    /// 数值：数字、是/否 或选项文字（the value）
    #[arg(value_name = "数值", allow_hyphen_values = true)]
    value: String,
    /// 考核年度（assessment year）
    #[arg(long, value_name = "年度")]
    year: u16,
    /// 季度 Q1–Q4，按季度填报的项必填（quarter, for quarterly fields）
    #[arg(long, value_parser = parse_round, value_name = "季度")]
    round: Option<Round>,
    /// 操作人（默认为当前登录用户）（operator; default: the login user）
    #[arg(long, value_name = "姓名")]
    operator: Option<String>,
}

#[derive(Debug, clap::Args)]
struct HistoryArgs {
    /// 考核年度（assessment year）
    #[arg(long, value_name = "年度")]
    year: u16,
    /// 只看一个单位（one unit only）
    #[arg(long, value_name = "单位")]
    unit: Option<String>,
}

#[derive(Debug, clap::Args)]
struct EvaluateArgs {
    /// 考核年度（assessment year）
    #[arg(long, value_name = "年度")]
    year: u16,
    /// 轮次：annual 或 Q1–Q4（round）
    #[arg(long, value_parser = parse_round, value_name = "轮次", default_value = "annual")]
    round: Round,
    /// 只评这些考核方式，可重复（only these methods; repeatable）
    #[arg(long = "method", value_name = "方式")]
    methods: Vec<String>,
    /// 操作人（默认为当前登录用户）（operator; default: the login user）
    #[arg(long, value_name = "姓名")]
    operator: Option<String>,
}

/// Runs `kaohe node …`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let dir = &args.data_dir;
    match args.command {
        Command::Init(a) => cmd_init(dir, a),
        Command::Pack(PackCommand::Install {
            module,
            signature,
            operator,
        }) => cmd_pack_install(dir, &module, signature, operator),
        Command::Pack(PackCommand::List) => cmd_pack_list(dir),
        Command::Template(a) => cmd_template(dir, a),
        Command::Import(a) => cmd_import(dir, a),
        Command::Set(a) => cmd_set(dir, a),
        Command::History(a) => cmd_history(dir, a),
        Command::Evaluate(a) => cmd_evaluate(dir, a, false),
        Command::Submit(a) => cmd_evaluate(dir, a, true),
        Command::Outbox => cmd_outbox(dir),
    }
}

fn parse_assessor(s: &str) -> Result<Assessor, String> {
    Assessor::from_id(s).ok_or_else(|| {
        format!("须为 county_office、sasac、health_commission、township 或 county_unit（unknown assessor {s:?}）")
    })
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

fn cmd_init(dir: &Path, a: InitArgs) -> anyhow::Result<()> {
    let report = init::init(&InitOptions {
        data_dir: dir.to_path_buf(),
        hub: a.hub,
        name: a.name,
        assessor: a.assessor,
        authority_keys: a.authority_keys,
        threshold: a.threshold,
        ca_cert: a.ca_cert,
    })
    .context("初始化节点（initialise the node）")?;
    let c = &report.config;
    println!("节点已初始化（node initialised）：{}", dir.display());
    println!(
        "  名称（name）：{}　考核主体（assessor）：{}（{}）",
        c.name,
        c.assessor.name_zh(),
        c.assessor.id()
    );
    println!("  配置（config）：{}", c.path.display());
    println!("  证据库（store）：{}", c.store_file.display());
    println!("  私钥（key, mode 0600）：{}", c.key_file.display());
    println!();
    println!(
        "请将以下公钥和密钥标识交县依法治县办登记（register this key with the county office）："
    );
    println!("  公钥（public key）：{}", report.public_key);
    println!("  密钥标识（key id）：{}", report.key_id);
    if c.authorities.keys.is_empty() {
        println!();
        println!(
            "注意：尚未配置规则包签发机构公钥，同步前请在 node.toml 的 [pack_authorities] 中填写（no pack authority keys pinned yet）。"
        );
    }
    Ok(())
}

/// Largest module or signature file read.
const MAX_PACK_FILE_BYTES: u64 = 64 * 1024 * 1024;

fn read_capped(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    use std::io::Read as _;
    let f = std::fs::File::open(path)
        .with_context(|| format!("打开{what} {}（open the file）", path.display()))?;
    let mut bytes = Vec::new();
    f.take(MAX_PACK_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("读取{what} {}（read the file）", path.display()))?;
    if bytes.len() as u64 > MAX_PACK_FILE_BYTES {
        bail!(
            "{what} {} 超过 {MAX_PACK_FILE_BYTES} 字节（file too large）",
            path.display()
        );
    }
    Ok(bytes)
}

fn cmd_pack_install(
    dir: &Path,
    module: &Path,
    signature: Option<PathBuf>,
    operator: Option<String>,
) -> anyhow::Result<()> {
    let (config, mut store) = open(dir)?;
    let actor = actor(operator)?;
    let sig_path = signature.unwrap_or_else(|| {
        let mut p = module.as_os_str().to_owned();
        p.push(".sig");
        PathBuf::from(p)
    });
    let bytes = read_capped(module, "规则包模块")?;
    let sig = read_capped(&sig_path, "签名文件")?;
    let envelope = kaohe_proto::Envelope::from_protobuf(&sig).with_context(|| {
        format!(
            "解码签名文件 {}（decode the signature file）",
            sig_path.display()
        )
    })?;
    let runtime = Runtime::new(RuntimeConfig::default())
        .context("启动规则包运行环境（start the pack runtime）")?;
    let installed = crate::pack::install(&mut store, &config, &runtime, &bytes, &envelope, &actor)
        .with_context(|| format!("启用规则包 {}（activate the pack）", module.display()))?;
    println!(
        "已启用规则包（pack activated）：{}　{}",
        installed.identity, installed.title
    );
    println!(
        "  模块 SHA-256：{}",
        hex::encode(installed.identity.module_sha256)
    );
    for k in &installed.signers {
        println!("  签发机构（signed by）：{k}");
    }
    Ok(())
}

fn cmd_pack_list(dir: &Path) -> anyhow::Result<()> {
    let (_config, store) = open(dir)?;
    let rows: Vec<Vec<String>> = store
        .packs()
        .context("读取规则包（read the packs）")?
        .into_iter()
        .map(|(id, active)| {
            vec![
                id.year.to_string(),
                id.id.clone(),
                id.version.to_string(),
                hex::encode(&id.module_sha256[..8]),
                if active {
                    "启用中（active）".into()
                } else {
                    String::new()
                },
            ]
        })
        .collect();
    print!(
        "{}",
        crate::table::render(
            &["年度", "规则包", "版本", "SHA-256（前8字节）", "状态"],
            &rows
        )
    );
    Ok(())
}

fn cmd_template(dir: &Path, a: TemplateArgs) -> anyhow::Result<()> {
    let (_config, store) = open(dir)?;
    let format = match a.format {
        Some(f) => f,
        None => match a
            .output
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("csv") => TemplateFormat::Csv,
            Some("xlsx") => TemplateFormat::Xlsx,
            _ => bail!(
                "请用 --format xlsx|csv 指定格式，或让输出文件以 .xlsx / .csv 结尾（cannot tell the format）"
            ),
        },
    };
    let pack = store
        .active_pack(a.year)
        .context("读取规则包（read the pack）")?
        .ok_or_else(|| {
            anyhow!(
                "{} 年还没有启用的规则包，请先同步（no active pack: sync first）",
                a.year
            )
        })?;
    let scope = store
        .scope(a.year)
        .context("读取考核范围（read the scope）")?;
    let layout =
        Layout::new(&pack.manifest, &scope).context("生成模板布局（lay out the template）")?;
    let prefill: Prefill = if a.with_values {
        store
            .evidence(a.year)
            .context("读取已保存的证据（read stored evidence）")?
            .into_iter()
            .map(|e| ((e.unit_id, e.round, e.field_id), e.value))
            .collect()
    } else {
        Prefill::new()
    };
    let bytes = match format {
        TemplateFormat::Xlsx => template::xlsx(&layout, &prefill),
        TemplateFormat::Csv => template::csv(&layout, &prefill, a.encoding),
    }
    .context("生成模板（write the template）")?;
    write_output(&a.output, &bytes, a.force)?;
    println!(
        "已生成 {} 年模板（template written）：{}（{} 个单位，{} 个轮次）",
        a.year,
        a.output.display(),
        scope.units.len(),
        layout.rounds.len()
    );
    Ok(())
}

fn write_output(path: &Path, bytes: &[u8], force: bool) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut f = options.open(path).with_context(|| {
        format!(
            "创建 {}（create the output file; use --force to overwrite）",
            path.display()
        )
    })?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("写入 {}（write the output file）", path.display()))
}

fn cmd_import(dir: &Path, a: ImportArgs) -> anyhow::Result<()> {
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
    if report.normalised > 0 {
        println!(
            "  {} 个单元格含全角数字或符号，已按半角读取（full-width digits read as ASCII）",
            report.normalised
        );
    }
    Ok(())
}

fn cmd_set(dir: &Path, a: SetArgs) -> anyhow::Result<()> {
    let (_config, mut store) = open(dir)?;
    let actor = actor(a.operator)?;
    let s = import::set_value(
        &mut store, a.year, &a.unit, &a.field, &a.value, a.round, &actor,
    )
    .with_context(|| format!("设置 {} 的 {}（set the value）", a.unit, a.field))?;
    if s.written() == 0 {
        println!("数值未变（unchanged）");
    } else {
        println!("已保存（saved）：{} {} = {}", a.unit, a.field, a.value);
    }
    Ok(())
}

fn cmd_history(dir: &Path, a: HistoryArgs) -> anyhow::Result<()> {
    let (_config, store) = open(dir)?;
    let pack = store
        .active_pack(a.year)
        .context("读取规则包（read the pack）")?;
    let rows = store
        .history(a.year, a.unit.as_deref())
        .context("读取修改记录（read the history）")?;
    let show = |field_id: &str, v: Option<i64>| match v {
        None => "（空）".to_string(),
        Some(v) => pack
            .as_ref()
            .and_then(|p| p.manifest.fields.iter().find(|f| f.id == field_id))
            .map(|f| value::display(f, v))
            .unwrap_or_else(|| value::format_hundredths(v)),
    };
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|h| {
            vec![
                h.at.clone(),
                h.operator.clone(),
                h.unit_id.clone(),
                h.round.name_zh().to_string(),
                h.field_id.clone(),
                show(&h.field_id, h.old_value),
                show(&h.field_id, h.new_value),
                h.file_name.clone().unwrap_or_else(|| h.kind.clone()),
            ]
        })
        .collect();
    print!(
        "{}",
        crate::table::render(
            &[
                "时间（UTC）",
                "操作人",
                "单位",
                "轮次",
                "字段",
                "原值",
                "新值",
                "来源"
            ],
            &table
        )
    );
    Ok(())
}

fn cmd_evaluate(dir: &Path, a: EvaluateArgs, submit: bool) -> anyhow::Result<()> {
    let (config, mut store) = open(dir)?;
    // Load the key before any work so a bad key file fails first.
    let key = if submit {
        Some(SigningKeyPair::load(&config.key_file).context("读取节点私钥（load the node key）")?)
    } else {
        None
    };
    let actor = actor(a.operator)?;
    let pack = store
        .active_pack(a.year)
        .context("读取规则包（read the pack）")?
        .ok_or_else(|| {
            anyhow!(
                "{} 年还没有启用的规则包，请先同步（no active pack: sync first）",
                a.year
            )
        })?;
    let module = store
        .pack_module(&pack.identity)
        .context("读取规则包模块（read the pack module）")?
        .ok_or_else(|| {
            anyhow!(
                "证据库中缺少规则包模块 {}（pack module missing）",
                pack.identity
            )
        })?;
    let runtime = Runtime::new(RuntimeConfig::default())
        .context("启动规则包运行环境（start the pack runtime）")?;
    let loaded = runtime
        .load(&module)
        .with_context(|| format!("加载规则包 {}（load the pack）", pack.identity))?;
    let embedded = kaohe_rulepacks::manifest::Manifest::from_json(loaded.manifest_json())
        .context("读取规则包内嵌清单（read the embedded manifest）")?;
    if embedded != pack.manifest {
        bail!(
            "规则包 {} 内嵌的清单与证据库中的不一致（embedded manifest differs）",
            pack.identity
        );
    }
    let scope = store
        .scope(a.year)
        .context("读取考核范围（read the scope）")?;
    let only = (!a.methods.is_empty()).then_some(a.methods.as_slice());
    let jobs = evaluate::jobs(&store, &pack.manifest, &scope, a.round, only)
        .context("准备评分输入（build the inputs）")?;
    if jobs.is_empty() {
        println!(
            "{} {} 没有需要评分的单位和考核方式（nothing to evaluate）",
            a.year,
            a.round.name_zh()
        );
        return Ok(());
    }
    let results = evaluate::run(&loaded, &pack.manifest, jobs).context("评分（evaluate）")?;
    print!("{}", evaluate::summary(&pack.manifest, &results));
    if let Some(key) = key {
        let report = evaluate::submit(&mut store, &key, &pack, &results, &actor)
            .context("签名并放入发件箱（sign and queue）")?;
        println!();
        for (unit, seq) in &report.queued {
            println!("已放入发件箱（queued）：{unit}　序号（sequence）{seq}");
        }
        for unit in &report.unchanged {
            println!("未变化，不重复提交（unchanged）：{unit}");
        }
        for (unit, why) in &report.refused {
            println!("未提交（not submitted）：{unit}：{why}");
        }
    }
    Ok(())
}

fn cmd_outbox(dir: &Path) -> anyhow::Result<()> {
    let (_config, store) = open(dir)?;
    let entries = store
        .outbox(None)
        .context("读取发件箱（read the outbox）")?;
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                e.sequence.to_string(),
                e.unit_id.clone(),
                e.year.to_string(),
                e.round.name_zh().to_string(),
                e.methods.clone(),
                e.state.to_string(),
                e.attempts.to_string(),
                e.last_error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    print!(
        "{}",
        crate::table::render(
            &[
                "序号",
                "单位",
                "年度",
                "轮次",
                "考核方式",
                "状态",
                "尝试",
                "说明"
            ],
            &rows
        )
    );
    let pending = entries.iter().filter(|e| e.state.is_pending()).count();
    println!(
        "待送达 {pending} 条（pending）；已接收 {} 条",
        entries
            .iter()
            .filter(|e| e.state == State::Accepted)
            .count()
    );
    Ok(())
}
