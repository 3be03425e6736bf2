//! `kaohe hub …`：汇总中心的命令行（command line of the hub）。
//!
//! A thin edge: it parses arguments, reads the clock and `$USER` once, opens
//! the database and calls the library; output is Chinese first, tables
//! aligned for CJK width.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::{self, TimeZone};
use kaohe_tables::sheet::Workbook;
use kaohe_tables::terminal;
use rusqlite::Connection;

use crate::audit::{self, Actor};
use crate::calendar::{self, Calendar, format_date_zh};
use crate::clock::Clock;
use crate::config;
use crate::db;
use crate::progress;
use crate::publish;
use crate::registry::calendar_years::{self, Replaced};
use crate::registry::nodes::{self, AssessorKind, NewNode, NodeState};
use crate::registry::packs;
use crate::registry::scope::Scope;
use crate::registry::{import, units};
use crate::server::{self, Hub, ServeOptions, TlsFiles};

/// 汇总中心（hub）：登记考核对象和节点、发布规则包、接收上报、查看进度、管理工作日日历。
#[derive(Debug, clap::Args)]
pub struct Args {
    /// 数据目录（data directory），其中保存数据库 hub.db
    #[arg(long, default_value = "kaohe-hub", value_name = "目录")]
    pub data_dir: PathBuf,

    /// 操作人（operator），记入审计日志；默认为环境变量 USER
    #[arg(long, value_name = "姓名")]
    pub operator: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// 初始化数据目录和数据库，已有数据库则升级结构（initialise or upgrade the database）
    Init,
    /// 考核对象名册（units）：导入、查看
    #[command(subcommand)]
    Units(UnitsCommand),
    /// 节点（nodes）：登记、查看、吊销
    #[command(subcommand)]
    Node(NodeCommand),
    /// 工作日日历（calendar）：查看、导入、推算期限
    #[command(subcommand)]
    Calendar(CalendarCommand),
    /// 审计日志（audit log）：显示最近的记录
    Audit {
        /// 显示条数（number of records）
        #[arg(long, default_value_t = 50, value_name = "条数")]
        limit: u32,
    },
    /// 规则包（rule packs）：发布、查看
    #[command(subcommand)]
    Pack(PackCommand),
    /// 启动 gRPC 服务，接收各节点上报（serve nodes over gRPC）
    Serve(ServeArgs),
    /// 各节点上报进度（reporting progress per node）
    Progress {
        /// 考核年度（assessment year），默认为最近一个有名册的年度
        #[arg(long, value_name = "年度")]
        year: Option<i32>,
    },
    /// 在线备份数据库到新文件（服务运行中亦可），并检查副本完整性；不覆盖已有文件
    /// （online backup of hub.db to a new file, integrity-checked）
    Backup {
        /// 备份文件（backup file），须尚不存在
        #[arg(long, value_name = "文件")]
        out: PathBuf,
    },
    /// 从备份文件恢复数据库到没有 hub.db 的数据目录（restore a backup into an empty data directory）
    Restore {
        /// 备份文件（backup file）
        #[arg(long, value_name = "文件")]
        from: PathBuf,
    },
    /// 考核结果、反馈复核、审定、公布（results and the review workflow）
    #[command(flatten)]
    Workflow(crate::workflow::cli::Command),
}

#[derive(Debug, clap::Subcommand)]
pub enum PackCommand {
    /// 核验发布机关签名（hub.toml 中的公钥与门槛）后发布规则包，成为该年度当前版本
    /// （verify the authorities' signatures and publish a pack）
    Publish {
        /// 规则包模块（.wasm）
        #[arg(value_name = "规则包")]
        module: PathBuf,
        /// 签名文件，默认为「规则包.sig」（signature file, default PACK.wasm.sig）
        #[arg(long, value_name = "签名文件")]
        sig: Option<PathBuf>,
    },
    /// 列出已发布的规则包版本（list published packs）
    List,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// 监听地址（listen address），端口为 0 时由系统分配
    #[arg(long, default_value = "127.0.0.1:7700", value_name = "地址:端口")]
    pub listen: std::net::SocketAddr,
    /// 服务器证书（PEM）（TLS certificate）
    #[arg(long, requires = "tls_key", value_name = "文件")]
    pub tls_cert: Option<PathBuf>,
    /// 服务器私钥（PEM）（TLS key）
    #[arg(long, requires = "tls_cert", value_name = "文件")]
    pub tls_key: Option<PathBuf>,
    /// 客户端证书的签发机构（PEM）：给出后各节点须出示证书（mTLS），证书须含 DNS 名称「密钥编号.node.kaohe」
    #[arg(long, requires = "tls_cert", value_name = "文件")]
    pub client_ca: Option<PathBuf>,
    /// 县 CA 的证书吊销列表（PEM 或 DER，openssl ca -gencrl 生成）：列入的客户端证书一律拒绝；文件更换后自动重读
    #[arg(long, requires = "client_ca", value_name = "文件")]
    pub client_crl: Option<PathBuf>,
    /// 固定“现在”的时刻（RFC 3339），用于演示和测试（fixed clock）
    #[arg(long, conflicts_with = "clock_offset", value_name = "时刻")]
    pub now: Option<Timestamp>,
    /// 时钟偏移，如 720h 或 -2h30m（clock offset）
    #[arg(long, allow_hyphen_values = true, value_name = "时长")]
    pub clock_offset: Option<jiff::SignedDuration>,
}

#[derive(Debug, clap::Subcommand)]
pub enum UnitsCommand {
    /// 从 Excel（.xlsx）或 CSV 导入一个年度的名册，整体替换该年度名册；有任何错误则全部不导入
    /// （import a year's roster, all or nothing）
    Import {
        /// 名册文件（.xlsx 或 .csv；CSV 可为 UTF-8 或 GB18030）
        #[arg(value_name = "文件")]
        file: PathBuf,
        /// 考核年度（assessment year）
        #[arg(long, value_name = "年度")]
        year: i32,
    },
    /// 列出一个年度的名册（list a year's roster）
    List {
        /// 考核年度（assessment year）
        #[arg(long, value_name = "年度")]
        year: i32,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum NodeCommand {
    /// 登记节点及其授权范围：单位（类别、下级单位树、单位清单）× 考核方式 × 年度
    /// （register a node and its scope）
    Add {
        /// 节点名称（display name），如「肖旗乡考核节点」
        #[arg(long, value_name = "名称")]
        name: String,
        /// 考核主体类型（assessor kind）：county_office 依法治县办、sasac 国资局、
        /// health_commission 卫健委、township 乡镇、county_unit 县直单位
        #[arg(long, value_name = "类型")]
        assessor: AssessorKind,
        /// 节点公钥（public key），形如 ed25519:<base64>
        #[arg(long, value_name = "公钥")]
        key: String,
        /// 授权的单位类别，逗号分隔（categories），如 township,department
        #[arg(long, value_delimiter = ',', value_name = "类别")]
        categories: Vec<String>,
        /// 授权的单位（含其全部下级单位），逗号分隔（subtrees rooted at these units）
        #[arg(long, value_delimiter = ',', value_name = "单位编号")]
        subtrees: Vec<String>,
        /// 授权的单位清单，逗号分隔（explicit units）
        #[arg(long, value_delimiter = ',', value_name = "单位编号")]
        units: Vec<String>,
        /// 授权的考核方式，逗号分隔（methods）：daily, supervision, file_review,
        /// online_check, field_inspection, satisfaction, bonus_penalty
        #[arg(long, value_delimiter = ',', required = true, value_name = "方式")]
        methods: Vec<String>,
        /// 授权的年度，逗号分隔（years），如 2024,2025
        #[arg(long, value_delimiter = ',', required = true, value_name = "年度")]
        years: Vec<i32>,
    },
    /// 列出全部节点（list nodes）
    List,
    /// 吊销节点，此后其上报一律拒收（revoke a node）
    Revoke {
        /// 节点：密钥编号、公钥或节点名称（key id, public key or name）
        #[arg(value_name = "节点")]
        node: String,
        /// 吊销原因（reason），记入审计日志
        #[arg(long, value_name = "原因")]
        reason: String,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum CalendarCommand {
    /// 显示一年的法定节假日和调休上班日（show a year's holidays）
    Show {
        /// 年份（year）
        #[arg(value_name = "年份")]
        year: i32,
    },
    /// 导入一年的节假日安排文件（.toml，格式见 hub/data/holidays/）（import a year file）
    Import {
        /// 年度日历文件（year file）
        #[arg(value_name = "文件")]
        file: PathBuf,
    },
    /// 推算期限（compute a deadline）：默认按工作日，通知当日不计
    Deadline {
        /// 起算日（通知日），如 2024-09-27（start date）
        #[arg(long, value_name = "日期")]
        from: Date,
        /// 天数（number of days）
        #[arg(long, value_name = "天数")]
        days: u32,
        /// 按自然日计算，期满日为休息日的顺延到下一个工作日（calendar days）
        #[arg(long)]
        natural: bool,
    },
}

/// Runs one `kaohe hub …` command.
pub fn run(args: Args) -> anyhow::Result<()> {
    let now = Timestamp::now();
    let operator = args.operator.clone();
    let actor = move || -> anyhow::Result<Actor> {
        let name = operator
            .or_else(|| std::env::var("USER").ok())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        match name {
            Some(name) => Ok(Actor::new(name, now)),
            None => {
                bail!("不知道操作人是谁：请用 --operator 指明（operator unknown: pass --operator）")
            }
        }
    };
    let dir = args.data_dir.as_path();
    match args.command {
        Command::Init => {
            let conn = db::create(dir).context("初始化数据库（initialise database）")?;
            db::integrity_check(&conn).context("检查数据库（check database）")?;
            println!(
                "数据库已就绪：{}（结构版本 {}）（database ready）",
                dir.join(db::DB_FILE).display(),
                db::schema_version(&conn)?
            );
            let (key, created) = config::init_receipt_key(dir)
                .context("准备回执签名密钥（prepare the receipt key）")?;
            println!(
                "{}回执签名密钥：{}（权限 0600）（receipt key）\n回执公钥（发给各节点用于核对回执）：{}",
                if created { "已生成" } else { "已有" },
                dir.join(config::RECEIPT_KEY_FILE).display(),
                key.public()
            );
            if config::write_template(dir).context("写入配置文件（write hub.toml）")? {
                println!(
                    "已生成配置文件 {}：发布规则包前请填写发布机关公钥与签名门槛（config template written）",
                    dir.join(config::CONFIG_FILE).display()
                );
            }
        }
        Command::Pack(PackCommand::Publish { module, sig }) => {
            let actor = actor()?;
            let sig =
                sig.unwrap_or_else(|| kaohe_rulepacks::sign::command::default_sig_path(&module));
            let policy = config::HubConfig::load(dir)?.trust_policy(dir)?;
            let module_bytes =
                read_capped(&module, kaohe_proto::model::MAX_PACK_MODULE_BYTES as u64)?;
            let sig_bytes = read_capped(&sig, 1024 * 1024)?;
            let mut conn = open(dir)?;
            let runtime = kaohe_rulepacks::runtime::Runtime::new(Default::default())
                .context("启动规则包运行环境（start the pack runtime）")?;
            let (verified, outcome) = publish::publish_signed(
                &mut conn,
                &runtime,
                &policy,
                &module_bytes,
                &sig_bytes,
                &actor,
            )?;
            let id = &verified.identity;
            match outcome {
                packs::PublishOutcome::Published { superseded } => {
                    println!(
                        "已发布规则包 {id}（{}），SHA-256 {}，由 {} 个发布机关签名（published）",
                        verified.title,
                        hex::encode(id.module_sha256),
                        verified.signers.len()
                    );
                    if let Some(old) = superseded {
                        println!(
                            "第 {old} 版已被取代：按第 {old} 版计算的结果已标记为待重新评价（results of version {old} flagged for re-evaluation）"
                        );
                    }
                }
                packs::PublishOutcome::AlreadyPublished { is_current } => println!(
                    "规则包 {id} 已发布过，未作改动{}（already published）",
                    if is_current {
                        "（当前版本）"
                    } else {
                        "（非当前版本）"
                    }
                ),
            }
        }
        Command::Pack(PackCommand::List) => {
            let conn = open(dir)?;
            let rows: Vec<Vec<String>> = packs::list_packs(&conn)?
                .into_iter()
                .map(|p| {
                    vec![
                        p.identity.id.clone(),
                        p.identity.year.to_string(),
                        p.identity.version.to_string(),
                        if p.is_current {
                            "当前".into()
                        } else {
                            "已取代".into()
                        },
                        hex::encode(&p.identity.module_sha256[..8]),
                        p.module_len.to_string(),
                        beijing(p.published_at),
                        p.published_by,
                    ]
                })
                .collect();
            print!(
                "{}",
                terminal::render(
                    &[
                        "规则包",
                        "年度",
                        "版本",
                        "状态",
                        "SHA-256（前 8 字节）",
                        "字节",
                        "发布时间（北京）",
                        "发布人"
                    ],
                    &rows
                )
            );
        }
        Command::Serve(serve) => serve_command(dir, serve)?,
        Command::Backup { out } => {
            let actor = actor()?;
            let report = crate::backup::backup(dir, &out, &actor)
                .with_context(|| format!("备份数据库到 {}（backup）", out.display()))?;
            println!(
                "已备份到 {}：{} 字节，结构版本 {}，SHA-256 {}，完整性检查通过（backup written, integrity ok）",
                report.path.display(),
                report.bytes,
                report.schema_version,
                report.sha256
            );
            println!(
                "注意：hub.toml 与回执签名密钥 {} 不在备份中，请另行妥善保存（hub.toml and the receipt key are not included）",
                config::RECEIPT_KEY_FILE
            );
        }
        Command::Restore { from } => {
            let actor = actor()?;
            let report = crate::backup::restore(dir, &from, &actor)
                .with_context(|| format!("从 {} 恢复数据库（restore）", from.display()))?;
            println!(
                "已恢复数据库 {}（备份结构版本 {}，现为 {}），SHA-256 {}，完整性检查通过（restored）",
                report.path.display(),
                report.schema_version,
                db::SCHEMA_VERSION,
                report.sha256
            );
            if !dir.join(config::RECEIPT_KEY_FILE).exists() {
                println!(
                    "数据目录中还没有回执签名密钥 {}：请放回原密钥（节点已固定其公钥），勿运行 init 生成新密钥（put the original receipt key back）",
                    config::RECEIPT_KEY_FILE
                );
            }
        }
        Command::Workflow(command) => crate::workflow::cli::run(dir, command, actor)?,
        Command::Progress { year } => {
            let conn = open(dir)?;
            let year = match year {
                Some(y) => y,
                None => match units::roster_years(&conn)?.last() {
                    Some((y, _)) => *y,
                    None => bail!("尚未导入任何名册，请用 --year 指明年度（no roster yet）"),
                },
            };
            show_progress(&conn, year)?;
        }
        Command::Units(UnitsCommand::Import { file, year }) => {
            let actor = actor()?;
            let mut conn = open(dir)?;
            let outcome = import::import_units_file(&mut conn, &file, year, &actor)?;
            let s = &outcome.summary;
            println!(
                "已导入 {year} 年度名册：共 {} 个单位；新增 {}，修改 {}，删除 {}，未变 {}（imported）",
                outcome.units,
                s.added.len(),
                s.changed.len(),
                s.removed.len(),
                s.unchanged
            );
            if !s.removed.is_empty() {
                println!("已删除（removed）：{}", s.removed.join("、"));
            }
            if let Some(note) = Workbook::hidden_note(&outcome.hidden_sheets) {
                println!("{note}");
            }
        }
        Command::Units(UnitsCommand::List { year }) => {
            let conn = open(dir)?;
            list_units(&conn, year)?;
        }
        Command::Node(NodeCommand::Add {
            name,
            assessor,
            key,
            categories,
            subtrees,
            units,
            methods,
            years,
        }) => {
            let actor = actor()?;
            let mut conn = open(dir)?;
            let scope = Scope {
                categories: clean_list(categories),
                subtrees: clean_list(subtrees),
                units: clean_list(units),
                methods: clean_list(methods),
                years: years.into_iter().collect(),
            };
            let node = nodes::add_node(
                &mut conn,
                NewNode {
                    name,
                    assessor,
                    public_key: key,
                    scope,
                },
                &actor,
            )?;
            println!(
                "已登记节点「{}」，密钥编号 {}（node registered）\n授权范围：{}",
                node.name, node.key_id, node.scope
            );
            for warning in scope_warnings(&conn, &node.scope)? {
                println!("警告（warning）：{warning}");
            }
        }
        Command::Node(NodeCommand::List) => {
            let conn = open(dir)?;
            list_nodes(&conn)?;
        }
        Command::Node(NodeCommand::Revoke { node, reason }) => {
            let actor = actor()?;
            let mut conn = open(dir)?;
            let node = nodes::revoke_node(&mut conn, &node, &reason, &actor)?;
            println!(
                "已吊销节点「{}」（{}），原因：{}（node revoked）",
                node.name,
                node.key_id,
                reason.trim()
            );
        }
        Command::Calendar(CalendarCommand::Show { year }) => {
            let conn = open(dir)?;
            let calendar = calendar_years::effective_calendar(&conn)?;
            show_calendar(&conn, &calendar, year)?;
        }
        Command::Calendar(CalendarCommand::Import { file }) => {
            let actor = actor()?;
            let mut conn = open(dir)?;
            let text = read_text(&file)?;
            let (data, replaced) = calendar_years::import_calendar_year(&mut conn, &text, &actor)
                .with_context(|| {
                format!("导入日历文件 {}（import calendar file）", file.display())
            })?;
            let note = match replaced {
                Replaced::Nothing => "",
                Replaced::Builtin => "，替换内置数据（replaces built-in year）",
                Replaced::Imported => "，替换此前导入的数据（replaces earlier import）",
            };
            println!(
                "已导入 {} 年日历：{}{}（calendar imported）",
                data.year, data.notice, note
            );
        }
        Command::Calendar(CalendarCommand::Deadline {
            from,
            days,
            natural,
        }) => {
            let conn = open(dir)?;
            let calendar = calendar_years::effective_calendar(&conn)?;
            if natural {
                let end = calendar.deadline_after_days(from, days)?;
                println!(
                    "自 {} 起 {days} 日（期满日为休息日的顺延），期限为 {}",
                    format_date_zh(from),
                    format_date_zh(end)
                );
            } else {
                let end = calendar.add_working_days(from, days)?;
                println!(
                    "自 {} 起 {days} 个工作日（当日不计），期限为 {}",
                    format_date_zh(from),
                    format_date_zh(end)
                );
            }
        }
        Command::Audit { limit } => {
            let conn = open(dir)?;
            let rows: Vec<Vec<String>> = audit::recent(&conn, limit)?
                .into_iter()
                .map(|r| {
                    vec![
                        r.seq.to_string(),
                        r.time.parse::<Timestamp>().map(beijing).unwrap_or(r.time),
                        r.operator,
                        r.action,
                        r.subject,
                        r.detail.to_string(),
                    ]
                })
                .collect();
            print!(
                "{}",
                terminal::render(
                    &["序号", "时间（北京）", "操作人", "操作", "对象", "详情"],
                    &rows
                )
            );
        }
    }
    Ok(())
}

fn serve_command(dir: &Path, args: ServeArgs) -> anyhow::Result<()> {
    let clock = match (args.now, args.clock_offset) {
        (Some(at), _) => Clock::Fixed(at),
        (None, Some(by)) => Clock::Offset(by),
        (None, None) => Clock::System,
    };
    let mut options = ServeOptions::new(dir, clock);
    // `[limits]` of hub.toml, checked before anything is bound.
    options.limits = server::Limits::from_config(&config::HubConfig::load(dir)?.limits);
    if let (Some(cert), Some(key)) = (args.tls_cert, args.tls_key) {
        options.tls = Some(TlsFiles {
            cert,
            key,
            client_ca: args.client_ca,
            client_crl: args.client_crl,
        });
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("启动异步运行时（start the async runtime）")?;
    runtime.block_on(async move {
        let hub = Hub::start(options).context("启动汇总中心（start the hub）")?;
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("监听 {}（bind）", args.listen))?;
        let addr = listener
            .local_addr()
            .context("读取监听地址（local address）")?;
        let file = server::write_addr_file(dir, addr)?;
        {
            use std::io::Write as _;
            let mut out = std::io::stdout().lock();
            writeln!(out, "监听地址（listening）：{addr}")?;
            writeln!(out, "地址文件（address file）：{}", file.display())?;
            out.flush()?;
        }
        hub.serve(listener, shutdown_signal()).await?;
        println!("汇总中心已停止：已回执的上报均已保存（hub stopped）");
        anyhow::Ok(())
    })
}

/// Resolves on ctrl-c or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn show_progress(conn: &Connection, year: i32) -> anyhow::Result<()> {
    let report = progress::report(conn, year)?;
    if report.is_empty() {
        println!("尚未登记任何节点（no nodes）");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = report
        .iter()
        .map(|p| {
            vec![
                format!("{}（{}）", p.node.name, &p.node.key_id.as_str()[..8]),
                match &p.pack {
                    None => "—".into(),
                    Some((id, v, Some(cur))) if cur == v => format!("{id} 第 {v} 版（当前）"),
                    Some((id, v, Some(cur))) => format!("{id} 第 {v} 版（已被第 {cur} 版取代）"),
                    Some((id, v, None)) => format!("{id} 第 {v} 版"),
                },
                p.last_seen.map(beijing).unwrap_or_else(|| "从未".into()),
                format!("{}/{}", p.reported, p.expected),
                p.late.to_string(),
                if p.rejected.is_empty() {
                    "0".into()
                } else {
                    format!(
                        "{}：{}",
                        p.rejected_total(),
                        p.rejected
                            .iter()
                            .map(|r| format!(
                                "{}×{}（最近：{}）",
                                r.code.trim_start_matches("REJECTION_CODE_"),
                                r.count,
                                r.latest_message
                            ))
                            .collect::<Vec<_>>()
                            .join("；")
                    )
                },
            ]
        })
        .collect();
    println!("{year} 年度上报进度（progress）");
    print!(
        "{}",
        terminal::render(
            &[
                "节点",
                "所用规则包",
                "最后联系（北京）",
                "已报/应报单位",
                "逾期",
                "被拒（原因）"
            ],
            &rows
        )
    );
    let unknown = progress::unidentified_refusals(conn)?;
    if unknown > 0 {
        println!(
            "另有 {unknown} 份上报来自未登记或无法识别的来源，已拒收（refused from unidentified senders）"
        );
    }
    Ok(())
}

/// Reads a file of at most `cap` bytes, saying which file and why not.
pub(crate) fn read_capped(path: &Path, cap: u64) -> anyhow::Result<Vec<u8>> {
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

pub(crate) fn open(dir: &Path) -> anyhow::Result<Connection> {
    db::open_existing(dir).context("打开数据库（open database）")
}

fn read_text(path: &Path) -> anyhow::Result<String> {
    let bytes =
        std::fs::read(path).with_context(|| format!("读取文件 {}（read file）", path.display()))?;
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    String::from_utf8(bytes.to_vec())
        .with_context(|| format!("文件 {} 不是 UTF-8 编码（not UTF-8）", path.display()))
}

fn clean_list<T: Ord + From<String>>(items: Vec<String>) -> std::collections::BTreeSet<T> {
    items
        .into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .map(T::from)
        .collect()
}

fn list_units(conn: &Connection, year: i32) -> anyhow::Result<()> {
    let roster = units::load_roster(conn, year)?;
    if roster.is_empty() {
        let years = units::roster_years(conn)?;
        let have = if years.is_empty() {
            "无".to_string()
        } else {
            years
                .iter()
                .map(|(y, n)| format!("{y}（{n} 个单位）"))
                .collect::<Vec<_>>()
                .join("、")
        };
        println!("{year} 年度没有名册（no roster）；已有名册的年度：{have}");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = roster
        .iter()
        .map(|u| {
            vec![
                u.id.clone(),
                u.name.clone(),
                u.category.clone(),
                u.parent.clone().unwrap_or_default(),
                u.supervising_department.clone().unwrap_or_default(),
                match &u.assessor {
                    units::ResponsibleAssessor::Unit(id) => roster
                        .get(id)
                        .map(|a| format!("{}（{id}）", a.name))
                        .unwrap_or_else(|| id.clone()),
                    other => other.to_string(),
                },
            ]
        })
        .collect();
    print!(
        "{}",
        terminal::render(
            &[
                "单位编号",
                "单位名称",
                "类别",
                "上级单位",
                "主管部门",
                "考核主体"
            ],
            &rows
        )
    );
    println!("共 {} 个单位（{} units）", roster.len(), roster.len());
    Ok(())
}

fn list_nodes(conn: &Connection) -> anyhow::Result<()> {
    let nodes = nodes::list_nodes(conn)?;
    if nodes.is_empty() {
        println!("尚未登记任何节点（no nodes）");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = nodes
        .iter()
        .map(|n| {
            vec![
                n.key_id.to_string(),
                n.name.clone(),
                n.assessor.to_string(),
                match &n.state {
                    NodeState::Active => "有效".to_string(),
                    NodeState::Revoked { at, reason } => {
                        format!("已吊销（{}，{reason}）", beijing(*at))
                    }
                },
                n.scope.to_string(),
            ]
        })
        .collect();
    print!(
        "{}",
        terminal::render(
            &["密钥编号", "节点名称", "考核主体", "状态", "授权范围"],
            &rows
        )
    );
    Ok(())
}

/// Units named in a scope that no roster of the scope's years contains.
fn scope_warnings(conn: &Connection, scope: &Scope) -> anyhow::Result<Vec<String>> {
    let mut warnings = Vec::new();
    let with_roster: Vec<i32> = units::roster_years(conn)?
        .into_iter()
        .map(|(y, _)| y)
        .filter(|y| scope.years.contains(y))
        .collect();
    for year in &scope.years {
        if !with_roster.contains(year) {
            warnings.push(format!(
                "尚未导入 {year} 年度名册（no roster for {year} yet）"
            ));
        }
    }
    for id in scope.subtrees.iter().chain(&scope.units) {
        let mut found = false;
        for &year in &with_roster {
            found |= units::load_unit(conn, year, id)?.is_some();
        }
        if !with_roster.is_empty() && !found {
            warnings.push(format!(
                "单位 {id} 不在已导入的授权年度名册中，这一项不授权任何单位（unit not in any roster）"
            ));
        }
    }
    Ok(warnings)
}

fn show_calendar(conn: &Connection, calendar: &Calendar, year: i32) -> anyhow::Result<()> {
    let Some(data) = calendar.year_data(year) else {
        let covered: Vec<String> = calendar.years().map(|y| y.to_string()).collect();
        bail!(
            "日历未包含 {year} 年（year not covered）；已有：{}。国务院办公厅通知发布后可用 `kaohe hub calendar import` 导入",
            covered.join("、")
        );
    };
    let source = match calendar_years::imported_years(conn)?
        .into_iter()
        .find(|y| y.year == year)
    {
        Some(imported) => format!(
            "导入（imported）：{}，{}",
            beijing(imported.imported_at),
            imported.imported_by
        ),
        None => "内置（built-in）".to_string(),
    };
    println!("{year} 年 {}", data.notice);
    if let Some(number) = &data.document_number {
        println!("文号：{number}");
    }
    if let Some(issued) = data.issued {
        println!("发布日期：{}", format_date_zh(issued));
    }
    if let Some(url) = &data.url {
        println!("原文：{url}");
    }
    println!("数据来源：{source}");
    println!();
    let rows: Vec<Vec<String>> = data
        .holidays
        .iter()
        .map(|h| {
            vec![
                h.name.clone(),
                describe_ranges(&h.off, year),
                if h.make_up_workdays.is_empty() {
                    "—".to_string()
                } else {
                    h.make_up_workdays
                        .iter()
                        .map(|d| day_in_year(*d, year))
                        .collect::<Vec<_>>()
                        .join("、")
                },
            ]
        })
        .collect();
    print!("{}", terminal::render(&["节日", "放假", "调休上班"], &rows));
    println!();
    println!(
        "全年工作日 {} 天（working days）",
        calendar.working_days_in_year(year)?
    );
    Ok(())
}

/// `1月21日至1月27日（共7天）、…` for runs of consecutive dates; the year is
/// written only for dates outside `year` (a notice may list 12月31日 of the
/// year before).
fn describe_ranges(dates: &[Date], year: i32) -> String {
    let mut runs: Vec<(Date, Date, usize)> = Vec::new();
    for &d in dates {
        match runs.last_mut() {
            Some((_, end, n)) if end.tomorrow().ok() == Some(d) => {
                *end = d;
                *n += 1;
            }
            _ => runs.push((d, d, 1)),
        }
    }
    runs.into_iter()
        .map(|(start, end, n)| {
            if n == 1 {
                day_in_year(start, year)
            } else {
                format!(
                    "{}至{}（共{n}天）",
                    short_date(start, year),
                    short_date(end, year)
                )
            }
        })
        .collect::<Vec<_>>()
        .join("、")
}

/// `2月4日（星期日）`, with the year if it is not `year`.
fn day_in_year(date: Date, year: i32) -> String {
    format!(
        "{}（{}）",
        short_date(date, year),
        calendar::weekday_zh(date.weekday())
    )
}

fn short_date(date: Date, year: i32) -> String {
    if i32::from(date.year()) == year {
        format!("{}月{}日", date.month(), date.day())
    } else {
        format!("{}年{}月{}日", date.year(), date.month(), date.day())
    }
}

/// Beijing time (UTC+8, no daylight saving since 1991) for officials.
fn beijing(ts: Timestamp) -> String {
    ts.to_zoned(TimeZone::fixed(tz::offset(8)))
        .strftime("%Y-%m-%d %H:%M")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use jiff::civil::date;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    #[test]
    fn node_add_parses_comma_separated_scope_lists() {
        let cli = Cli::try_parse_from([
            "hub",
            "--data-dir",
            "/tmp/x",
            "node",
            "add",
            "--name",
            "卫健委节点",
            "--assessor",
            "卫健委",
            "--key",
            "ed25519:AAAA",
            "--subtrees",
            "wjw",
            "--methods",
            "daily,field_inspection",
            "--years",
            "2024,2025",
        ])
        .unwrap();
        match cli.args.command {
            Command::Node(NodeCommand::Add {
                assessor,
                methods,
                years,
                subtrees,
                categories,
                ..
            }) => {
                assert_eq!(assessor, AssessorKind::HealthCommission);
                assert_eq!(methods, vec!["daily", "field_inspection"]);
                assert_eq!(years, vec![2024, 2025]);
                assert_eq!(subtrees, vec!["wjw"]);
                assert!(categories.is_empty());
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn deadline_parses_an_iso_date() {
        let cli = Cli::try_parse_from([
            "hub",
            "calendar",
            "deadline",
            "--from",
            "2023-09-28",
            "--days",
            "5",
        ])
        .unwrap();
        assert!(matches!(
            cli.args.command,
            Command::Calendar(CalendarCommand::Deadline { from, days: 5, natural: false })
                if from == date(2023, 9, 28)
        ));
        assert_eq!(cli.args.data_dir, PathBuf::from("kaohe-hub"));
    }

    #[test]
    fn runs_of_days_are_described_as_ranges() {
        let dates = [
            date(2024, 2, 10),
            date(2024, 2, 11),
            date(2024, 2, 12),
            date(2024, 4, 4),
        ];
        assert_eq!(
            describe_ranges(&dates, 2024),
            "2月10日至2月12日（共3天）、4月4日（星期四）"
        );
        let new_year = [date(2022, 12, 31), date(2023, 1, 1), date(2023, 1, 2)];
        assert_eq!(
            describe_ranges(&new_year, 2023),
            "2022年12月31日至1月2日（共3天）"
        );
    }

    #[test]
    fn commands_run_end_to_end_against_a_data_directory() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("hub");
        let args = |command| Args {
            data_dir: data_dir.clone(),
            operator: Some("tester".into()),
            command,
        };
        // Nothing works before init, and nothing is created by trying.
        let err = run(args(Command::Node(NodeCommand::List))).unwrap_err();
        assert!(format!("{err:#}").contains("kaohe hub init"), "{err:#}");
        assert!(!data_dir.exists());

        run(args(Command::Init)).unwrap();
        let csv = dir.path().join("units.csv");
        std::fs::write(
            &csv,
            "单位编号,单位名称,类别,上级单位,主管部门,考核主体\n\
             t1,肖旗乡,township,,,依法治县办\n\
             t1v1,肖旗村,village,t1,,t1\n",
        )
        .unwrap();
        run(args(Command::Units(UnitsCommand::Import {
            file: csv,
            year: 2024,
        })))
        .unwrap();
        run(args(Command::Units(UnitsCommand::List { year: 2024 }))).unwrap();
        run(args(Command::Node(NodeCommand::Add {
            name: "肖旗乡节点".into(),
            assessor: AssessorKind::Township,
            key: crate::registry::nodes::tests::key(9),
            categories: vec![],
            subtrees: vec!["t1".into()],
            units: vec![],
            methods: vec!["daily".into()],
            years: vec![2024],
        })))
        .unwrap();
        run(args(Command::Node(NodeCommand::Revoke {
            node: "肖旗乡节点".into(),
            reason: "测试".into(),
        })))
        .unwrap();
        run(args(Command::Calendar(CalendarCommand::Show {
            year: 2024,
        })))
        .unwrap();
        run(args(Command::Calendar(CalendarCommand::Deadline {
            from: date(2026, 12, 28),
            days: 3,
            natural: false,
        })))
        .unwrap();
        let err = run(args(Command::Calendar(CalendarCommand::Deadline {
            from: date(2026, 12, 28),
            days: 4,
            natural: false,
        })))
        .unwrap_err();
        assert!(format!("{err:#}").contains("2027"), "{err:#}");

        let conn = db::open_existing(&data_dir).unwrap();
        let actions: Vec<String> = audit::recent(&conn, 10)
            .unwrap()
            .into_iter()
            .map(|r| format!("{} {}", r.operator, r.action))
            .collect();
        assert_eq!(
            actions,
            vec![
                "tester units.import",
                "tester node.add",
                "tester node.revoke"
            ]
        );
    }
}
