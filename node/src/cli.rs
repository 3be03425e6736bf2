//! `kaohe node …`：考核节点的命令行（the node's command line）。
//!
//! The only module that reads the clock, the environment and the terminal;
//! everything below takes them as arguments. Every command loads and checks
//! `node.toml` first (nothing connects or writes before that), then opens the
//! evidence store. The commands that talk to the hub (`sync`, `submit`,
//! `deliver`, `results`, `object`) run a single-threaded tokio runtime of their own.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow, bail};
use kaohe_proto::SigningKeyPair;
use kaohe_rulepacks::manifest::{Assessor, Round};
use kaohe_rulepacks::pack::Pack;
use kaohe_rulepacks::runtime::{Runtime, RuntimeConfig};
use kaohe_tables::sheet::{Limits, Workbook};

use crate::client;
use crate::config::{NodeConfig, Timeouts};
use crate::deliver::{self, ChunkReport, DeliverOptions, PassReport};
use crate::evaluate;
use crate::import;
use crate::init::{self, InitOptions};
use crate::layout::Layout;
use crate::outbox::State;
use crate::review;
use crate::store::{Actor, Store};
use crate::sync;
use crate::template::{self, CsvEncoding, Prefill};
use crate::value;

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
    /// 评分、签名并放入发件箱，随即送达汇总中心（evaluate, sign, queue and deliver）
    Submit(SubmitArgs),
    /// 从汇总中心同步规则包（核验签名后启用）和本节点的考核范围（sync packs and scope）
    Sync(SyncArgs),
    /// 把发件箱中待送达的提交送到汇总中心并保存回执（deliver the outbox）
    Deliver(DeliverArgs),
    /// 查看发件箱（show the outbox）
    Outbox,
    /// 节点状态：规则包、同步、发件箱各状态数量、被拒原因与回执（node status and receipts）
    Status(StatusArgs),
    /// 查看汇总中心对本节点所评单位的考核结果（the hub's results for this node's units）
    Results(ResultsArgs),
    /// 对本节点所评单位的考核结果提出异议（申请复核），附证明材料（file an objection with material）
    Object(ObjectArgs),
}

#[derive(Debug, clap::Args)]
struct SubmitArgs {
    #[command(flatten)]
    evaluate: EvaluateArgs,
    /// 只放入发件箱，暂不送达（queue only; deliver later）
    #[arg(long)]
    no_deliver: bool,
}

#[derive(Debug, clap::Args)]
struct SyncArgs {
    /// 操作人（默认为当前登录用户）（operator; default: the login user）
    #[arg(long, value_name = "姓名")]
    operator: Option<String>,
}

#[derive(Debug, clap::Args)]
struct DeliverArgs {
    /// 持续送达：按保存的重试时间自动重试，直到全部送达（keep retrying with backoff until everything is delivered）
    #[arg(long)]
    follow: bool,
    /// 与 --follow 同用：最多等待这么久，如 2h 或 30m（with --follow: give up after this long）
    #[arg(long, value_name = "时长", requires = "follow")]
    max_wait: Option<jiff::SignedDuration>,
}

#[derive(Debug, clap::Args)]
struct StatusArgs {
    /// 列出全部回执（默认只列最近 20 份）（list every receipt）
    #[arg(long)]
    all: bool,
}

#[derive(Debug, clap::Args)]
struct ResultsArgs {
    /// 考核年度（assessment year）
    #[arg(long, value_name = "年度")]
    year: u16,
    /// 轮次：annual 或 Q1–Q4；默认全部（round; default: all）
    #[arg(long, value_parser = parse_round, value_name = "轮次")]
    round: Option<Round>,
}

#[derive(Debug, clap::Args)]
struct ObjectArgs {
    /// 考核年度（assessment year）
    #[arg(long, value_name = "年度")]
    year: u16,
    /// 单位编号，须在本节点的考核范围内（unit id, in this node's scope）
    #[arg(long, value_name = "单位")]
    unit: String,
    /// 异议理由（the objection, in Chinese）
    #[arg(long, value_name = "理由")]
    reason: String,
    /// 证明材料文件，可重复；多个文件打包为一个 zip 送出，合计不超过 20 MiB（supporting material; repeatable）
    #[arg(long = "material", value_name = "文件", required = true)]
    materials: Vec<PathBuf>,
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
    /// 汇总中心回执公钥 ed25519:…（县依法治县办提供，即 `kaohe hub init` 显示的回执公钥），用于离线核验回执（the hub's receipt public key, pinned）
    #[arg(long, value_name = "公钥")]
    hub_receipt_key: Option<String>,
    /// 本节点的客户端证书（PEM），汇总中心启用 mTLS（--client-ca）时必填；证书须含 DNS 名称「密钥编号.node.kaohe」（client certificate for mTLS）
    #[arg(long, value_name = "文件", requires = "client_key")]
    client_cert: Option<PathBuf>,
    /// 客户端证书的私钥（PEM，未加密），与 --client-cert 同时给出（its private key）
    #[arg(long, value_name = "文件", requires = "client_cert")]
    client_key: Option<PathBuf>,
    /// 县 CA 的证书吊销列表（PEM 或 DER），仅用于 https：每次连接都核对汇总中心的证书是否已被吊销（the county CA's CRL）
    #[arg(long, value_name = "文件")]
    crl: Option<PathBuf>,
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
        Command::Evaluate(a) => cmd_evaluate(dir, a, None),
        Command::Submit(a) => cmd_evaluate(dir, a.evaluate, Some(!a.no_deliver)),
        Command::Sync(a) => cmd_sync(dir, a),
        Command::Deliver(a) => cmd_deliver(dir, a),
        Command::Outbox => cmd_outbox(dir),
        Command::Status(a) => cmd_status(dir, a),
        Command::Results(a) => cmd_results(dir, a),
        Command::Object(a) => cmd_object(dir, a),
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
        hub_receipt_key: a.hub_receipt_key,
        client_cert: a.client_cert,
        client_key: a.client_key,
        crl: a.crl,
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
    if c.hub.receipt_key.is_none() {
        println!();
        println!(
            "注意：尚未配置汇总中心回执公钥，送达前请在 node.toml 的 [hub] receipt_key 中填写（no hub receipt key pinned yet: nothing is delivered until it is）。"
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
    print_superseded(&installed);
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
        kaohe_tables::terminal::render(
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
            .unwrap_or_else(|| kaohe_rulepacks::rubric::decimal::format_hundredths(v)),
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
        kaohe_tables::terminal::render(
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

/// `evaluate` (`deliver: None`) and `submit` (`Some(deliver afterwards)`).
fn cmd_evaluate(dir: &Path, a: EvaluateArgs, submit: Option<bool>) -> anyhow::Result<()> {
    let (config, mut store) = open(dir)?;
    // Load the key before any work so a bad key file fails first.
    let key = if submit.is_some() {
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
    let loaded = Pack::load(&runtime, &module, &pack.identity)?;
    // The jobs are built from the stored manifest and the pack reads its
    // own: they must be the same.
    if loaded.manifest() != &pack.manifest {
        bail!(
            "规则包 {} 内嵌的清单与证据库中的不一致（embedded manifest differs）",
            pack.identity
        );
    }
    // Results computed under an earlier pack of the year: evaluated again
    // now (by `submit`, whatever round was asked for).
    let again = store
        .reevaluations(a.year)
        .context("查找需重新评价的结果（find results to evaluate again）")?;
    let mut rounds = vec![a.round];
    if !again.is_empty() {
        print_reevaluations(a.year, &again, &pack.identity.to_string());
        if submit.is_some() {
            for r in &again {
                if !rounds.contains(&r.round) {
                    rounds.push(r.round);
                }
            }
        } else {
            println!(
                "提交（kaohe node submit）时将按新版一并重新评价（submit evaluates them again）"
            );
        }
        println!();
    }
    let scope = store
        .scope(a.year)
        .context("读取考核范围（read the scope）")?;
    let only = (!a.methods.is_empty()).then_some(a.methods.as_slice());
    let mut results = Vec::new();
    for (i, round) in rounds.iter().enumerate() {
        // The asked-for round honours --method; a re-evaluation redoes all.
        let only = if i == 0 { only } else { None };
        let jobs = evaluate::jobs(&store, &pack.manifest, &scope, *round, only)
            .context("准备评分输入（build the inputs）")?;
        if jobs.is_empty() {
            println!(
                "{} {} 没有需要评分的单位和考核方式（nothing to evaluate）",
                a.year,
                round.name_zh()
            );
            continue;
        }
        let round_results = evaluate::run(&loaded, jobs).context("评分（evaluate）")?;
        print!("{}", evaluate::summary(&pack.manifest, &round_results));
        results.extend(round_results);
    }
    let (Some(key), Some(deliver)) = (key, submit) else {
        return Ok(());
    };
    if !results.is_empty() {
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
    if !deliver {
        println!("已保存在发件箱，稍后用 `kaohe node deliver` 送达（queued; deliver later）");
        return Ok(());
    }
    let Some(hub_key) = config.hub.receipt_key else {
        println!(
            "已保存在发件箱；node.toml 中尚未配置汇总中心回执公钥（[hub] receipt_key），暂不送达（queued; no receipt key pinned, not delivered）"
        );
        return Ok(());
    };
    let lock = match deliver::DeliveryLock::acquire(&config.store_file) {
        Ok(lock) => lock,
        Err(e @ deliver::LockError::Busy { .. }) => {
            println!("已保存在发件箱；{e}");
            return Ok(());
        }
        Err(e) => return Err(e).context("送达（deliver）"),
    };
    println!();
    let report = tokio_runtime()?.block_on(deliver::deliver_pass(
        &lock,
        &mut store,
        &config,
        &hub_key,
        &DeliverOptions::default(),
        &jiff::Timestamp::now,
        &mut print_chunk,
    ))?;
    // Queued durably: a hub that cannot be reached is not an error of
    // `submit`; the entries wait in `retry`.
    print_pass(&store, &report)?;
    Ok(())
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

fn print_chunk(c: &ChunkReport) {
    println!(
        "第 {} 批回执（chunk {}）：接收 {}，拒绝 {}{}",
        c.chunk,
        c.chunk,
        c.accepted.len(),
        c.rejected.len(),
        if c.bad_receipts.is_empty() {
            String::new()
        } else {
            format!("，回执核验失败 {}", c.bad_receipts.len())
        }
    );
}

fn print_pass(store: &Store, r: &PassReport) -> anyhow::Result<()> {
    if r.recovered > 0 {
        println!(
            "上次送达中断，{} 份提交重新发送（{} interrupted entries sent again）",
            r.recovered, r.recovered
        );
    }
    for (seq, why) in &r.superseded {
        println!("已作废，不发送（superseded）：序号 {seq}：{why}");
    }
    if r.sent == 0 && r.rejected.is_empty() {
        println!("没有需要送达的提交（nothing to deliver）");
    } else {
        println!(
            "已送达 {} 份（accepted with a verified receipt）；被拒绝 {} 份；待重发 {} 份",
            r.accepted.len(),
            r.rejected.len(),
            r.failed.len()
        );
    }
    for (seq, why) in &r.rejected {
        let unit = store
            .outbox_entry(*seq)?
            .map(|e| format!("{} {} {}", e.unit_id, e.year, e.round.name_zh()))
            .unwrap_or_default();
        println!("  被拒绝（rejected）序号 {seq}　{unit}：{why}");
    }
    if let Some(f) = &r.call_error {
        println!("{}", f.message);
    }
    let counts = store.outbox_counts()?;
    if counts.pending() > 0 {
        let next = store
            .next_retry_at()?
            .map(|t| format!("，下次自动重试约在 {}（北京时间）", beijing(t)))
            .unwrap_or_default();
        println!(
            "发件箱仍有 {} 份待送达{next}；运行 `kaohe node deliver` 立即重试，或 `kaohe node deliver --follow` 自动重试直到送达（pending entries are kept and retried）",
            counts.pending()
        );
    }
    Ok(())
}

fn cmd_sync(dir: &Path, a: SyncArgs) -> anyhow::Result<()> {
    let (config, mut store) = open(dir)?;
    let key =
        SigningKeyPair::load(&config.key_file).context("读取节点私钥（load the node key）")?;
    let actor = actor(a.operator)?;
    let runtime = Runtime::new(RuntimeConfig::default())
        .context("启动规则包运行环境（start the pack runtime）")?;
    let report = tokio_runtime()?.block_on(async {
        let hub = client::connect(&config.hub, &config.hub.timeouts)
            .await
            .context("连接汇总中心（connect to the hub）")?;
        let now = || jiff::Timestamp::now().as_second();
        let report = sync::sync(&mut store, &config, &key, &runtime, &hub, &actor, &now)
            .await
            .context("同步（sync）")?;
        if let Some(offset) = hub.clock_offset()
            && offset.abs() > 60
        {
            println!(
                "注意：本机时钟与汇总中心相差约 {offset} 秒，已按汇总中心时间签名；请校准时钟（the node's clock is off; signed with the hub's time）"
            );
        }
        anyhow::Ok(report)
    })?;
    for (year, units, methods) in &report.scopes {
        println!("{year} 年考核范围（scope）：{units} 个单位，{methods} 种考核方式");
    }
    for year in &report.dropped_years {
        println!("{year} 年已不在本节点的授权范围内，本地范围已清空（year no longer delegated）");
    }
    for id in &report.up_to_date {
        println!("规则包已是最新（up to date）：{id}");
    }
    for installed in &report.installed {
        println!(
            "已核验并启用规则包（pack verified and activated）：{}　{}（{} 个签发机构签名）",
            installed.identity,
            installed.title,
            installed.signers.len()
        );
        print_superseded(installed);
    }
    for year in &report.no_pack {
        println!("汇总中心尚无 {year} 年的当前规则包（no current pack yet）");
    }
    for (year, list) in &report.reevaluate {
        let active = store
            .active_pack(*year)?
            .map(|p| p.identity.to_string())
            .unwrap_or_default();
        print_reevaluations(*year, list, &active);
        println!(
            "  下次 `kaohe node submit --year {year}` 时自动按新版重新评价并提交（done by the next submit）"
        );
    }
    for (pack, why) in &report.refused {
        println!("未启用规则包（pack refused）{pack}：{why}");
    }
    if !report.refused.is_empty() {
        bail!(
            "{} 个规则包未通过核验，未启用；各年度仍使用原规则包（packs refused; the last good ones stay）",
            report.refused.len()
        );
    }
    Ok(())
}

fn cmd_deliver(dir: &Path, a: DeliverArgs) -> anyhow::Result<()> {
    let (config, mut store) = open(dir)?;
    let hub_key = deliver::receipt_key(&config)?;
    let lock = deliver::DeliveryLock::acquire(&config.store_file).context("送达（deliver）")?;
    let rt = tokio_runtime()?;
    let started = std::time::Instant::now();
    let max_wait = match a.max_wait {
        Some(d) => Some(
            std::time::Duration::try_from(d)
                .map_err(|_| anyhow!("--max-wait 须为正的时长（must be positive）"))?,
        ),
        None => None,
    };
    let options = DeliverOptions {
        respect_retry_time: a.follow,
        ..DeliverOptions::default()
    };
    loop {
        let report = rt.block_on(deliver::deliver_pass(
            &lock,
            &mut store,
            &config,
            &hub_key,
            &options,
            &jiff::Timestamp::now,
            &mut print_chunk,
        ))?;
        print_pass(&store, &report)?;
        if let Some(f) = &report.call_error
            && !f.transient
        {
            bail!(
                "送达失败，需要人工处理（delivery needs attention）：{}",
                f.message
            );
        }
        let pending = store.outbox_counts()?.pending();
        if pending == 0 {
            return Ok(());
        }
        if !a.follow {
            if report.call_error.is_some() || !report.failed.is_empty() {
                bail!(
                    "{pending} 份提交未能送达，已保存待重发（{pending} entries not delivered; kept for retry）"
                );
            }
            // More than one stream's worth: go on while every entry sent
            // got its answer.
            if report.sent == 0 {
                return Ok(());
            }
            continue;
        }
        // Follow: more to send right away, or wait for the earliest
        // stored retry time (bounded).
        if report.sent > 0 && report.call_error.is_none() && report.failed.is_empty() {
            continue;
        }
        let now = jiff::Timestamp::now().as_second();
        let wait = store
            .next_retry_at()?
            .map_or(1, |t| t.saturating_sub(now))
            .clamp(1, crate::outbox::RETRY_MAX_SECONDS);
        let wait = std::time::Duration::from_secs(wait.unsigned_abs());
        if let Some(max) = max_wait
            && started.elapsed() + wait > max
        {
            bail!(
                "已等待 {:?}，仍有 {pending} 份提交未送达（gave up waiting; entries stay pending）",
                started.elapsed()
            );
        }
        println!(
            "{} 秒后重试（retrying in {} s）……",
            wait.as_secs(),
            wait.as_secs()
        );
        std::thread::sleep(wait);
    }
}

fn cmd_status(dir: &Path, a: StatusArgs) -> anyhow::Result<()> {
    let (config, store) = open(dir)?;
    println!("节点（node）：{}　{}", config.name, config.hub.address);
    match store.meta(sync::LAST_SYNC)? {
        Some(at) => println!("上次同步（last sync, UTC）：{at}"),
        None => println!("尚未同步（never synced）：请运行 `kaohe node sync`"),
    }
    if config.hub.receipt_key.is_none() {
        println!("未配置汇总中心回执公钥（[hub] receipt_key），不能送达（no receipt key pinned）");
    }
    for (identity, active) in store.packs()? {
        if active {
            println!("启用的规则包（active pack）：{identity}");
            let again = store.reevaluations(identity.year)?;
            if !again.is_empty() {
                print_reevaluations(identity.year, &again, &identity.to_string());
            }
        }
    }
    let c = store.outbox_counts()?;
    println!();
    print!(
        "{}",
        kaohe_tables::terminal::render(
            &["待发送", "发送中", "待重发", "已接收", "被拒绝", "已作废"],
            &[vec![
                c.to_send.to_string(),
                c.sending.to_string(),
                c.retry.to_string(),
                c.accepted.to_string(),
                c.rejected.to_string(),
                c.superseded.to_string(),
            ]]
        )
    );
    if let Some(t) = store.next_retry_at()? {
        println!("下次自动重试（next retry, Beijing）：{}", beijing(t));
    }
    let rejected = store.outbox(Some(State::Rejected))?;
    if !rejected.is_empty() {
        println!();
        println!("被拒绝的提交及汇总中心给出的原因（rejected, with the hub's reason）：");
        for e in &rejected {
            println!(
                "  序号 {}　{}　{} {}　{}：{}",
                e.sequence,
                e.unit_id,
                e.year,
                e.round.name_zh(),
                e.rejection_code
                    .as_deref()
                    .map(|c| c.trim_start_matches("REJECTION_CODE_"))
                    .unwrap_or("本节点拒发"),
                e.last_error.as_deref().unwrap_or("")
            );
        }
    }
    let accepted = store.outbox(Some(State::Accepted))?;
    if !accepted.is_empty() {
        let shown: Vec<&crate::outbox::Entry> = if a.all {
            accepted.iter().collect()
        } else {
            accepted.iter().rev().take(20).rev().collect()
        };
        let rows: Vec<Vec<String>> = shown
            .iter()
            .map(|e| {
                let (commit, late, place, check) = match e.decoded_receipt() {
                    Some(Ok(r)) => (
                        beijing(r.leaf.commit_time),
                        if r.leaf.late { "逾期" } else { "按时" }.to_string(),
                        format!("{}", r.leaf_index),
                        match &config.hub.receipt_key {
                            Some(k) => match crate::outbox::check_receipt(e, &r, k) {
                                Ok(()) => "有效".to_string(),
                                Err(_) => "无效！".to_string(),
                            },
                            None => "未核验".to_string(),
                        },
                    ),
                    _ => ("?".into(), "?".into(), "?".into(), "无法解码！".into()),
                };
                vec![
                    e.sequence.to_string(),
                    e.unit_id.clone(),
                    format!("{} {}", e.year, e.round.name_zh()),
                    e.pack_label(),
                    commit,
                    late,
                    place,
                    e.digest.to_string()[..16].to_string(),
                    check,
                ]
            })
            .collect();
        println!();
        println!(
            "回执（receipts）：共 {} 份{}",
            accepted.len(),
            if a.all || accepted.len() <= 20 {
                String::new()
            } else {
                "，以下为最近 20 份（--all 列出全部）".to_string()
            }
        );
        print!(
            "{}",
            kaohe_tables::terminal::render(
                &[
                    "序号",
                    "单位",
                    "轮次",
                    "规则包",
                    "汇总中心提交时间（北京）",
                    "是否逾期",
                    "批内位置",
                    "摘要（前8字节）",
                    "回执核验"
                ],
                &rows
            )
        );
    }
    Ok(())
}

fn cmd_results(dir: &Path, a: ResultsArgs) -> anyhow::Result<()> {
    let (config, _store) = open(dir)?;
    let key =
        SigningKeyPair::load(&config.key_file).context("读取节点私钥（load the node key）")?;
    let request = kaohe_proto::model::ListResultsRequest {
        year: a.year,
        round: a.round.map(evaluate::proto_round),
    };
    let answer = tokio_runtime()?.block_on(async {
        let hub = client::connect(&config.hub, &config.hub.timeouts)
            .await
            .context("连接汇总中心（connect to the hub）")?;
        let now = || jiff::Timestamp::now().as_second();
        anyhow::Ok(hub.list_results(&key, request, &now).await)
    })?;
    let results = match answer {
        Ok(r) => r.results,
        Err(client::CallError::Status(s)) if s.code() == tonic::Code::Unimplemented => {
            bail!(
                "汇总中心尚未提供考核结果查询（ListResults 未实现），请向县依法治县办询问（the hub does not serve ListResults yet）"
            )
        }
        Err(e) => return Err(e).context("查询考核结果（ListResults）"),
    };
    print!("{}", review::render_results(a.year, &results));
    Ok(())
}

fn cmd_object(dir: &Path, a: ObjectArgs) -> anyhow::Result<()> {
    let (config, _store) = open(dir)?;
    let key =
        SigningKeyPair::load(&config.key_file).context("读取节点私钥（load the node key）")?;
    if a.reason.trim().is_empty() {
        bail!("请用 --reason 写明异议理由（give the reason）");
    }
    let material =
        review::read_material(&a.materials).context("读取证明材料（read the material）")?;
    let size = material.bytes.len();
    let objection = review::objection(&a.unit, a.year, &a.reason, material);
    // One call per command: the stream's deadline bounds the whole upload
    // (the channel's per-call deadline would cut a slow 20 MiB upload).
    let timeouts = Timeouts {
        call: config.hub.timeouts.stream,
        ..config.hub.timeouts.clone()
    };
    println!(
        "正在向汇总中心提交异议及材料 {} 字节（filing the objection）…",
        size
    );
    let answer = tokio_runtime()?.block_on(async {
        let hub = client::connect(&config.hub, &timeouts)
            .await
            .context("连接汇总中心（connect to the hub）")?;
        let now = || jiff::Timestamp::now().as_second();
        anyhow::Ok(hub.file_objection(&key, objection, &now).await)
    })?;
    match answer {
        Ok(receipt) => {
            print!("{}", review::render_receipt(&a.unit, a.year, &receipt));
            Ok(())
        }
        Err(e) => Err(anyhow!("{e}")).context(format!(
            "汇总中心未受理单位 {} 的复核申请（objection not filed）",
            a.unit
        )),
    }
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
        kaohe_tables::terminal::render(
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
