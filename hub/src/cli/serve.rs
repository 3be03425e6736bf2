//! `kaohe hub serve`: the gRPC services, until SIGTERM or ctrl-c.

use std::path::PathBuf;

use anyhow::Context;
use jiff::Timestamp;

use super::Invocation;
use crate::clock::Clock;
use crate::server::{self, Hub, ServeOptions, TlsFiles};
use crate::{config, console};

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

pub(super) fn run(inv: &Invocation, args: ServeArgs) -> anyhow::Result<()> {
    let dir = inv.dir();
    let clock = match (args.now, args.clock_offset) {
        (Some(at), _) => Clock::Fixed(at),
        (None, Some(by)) => Clock::Offset(by),
        (None, None) => Clock::System,
    };
    let mut options = ServeOptions::new(dir, clock.clone());
    // hub.toml (`[limits]`, `[console]`), checked before anything is bound.
    let hub_config = config::HubConfig::load(dir)?;
    options.limits = server::Limits::from_config(&hub_config.limits);
    let console_tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
        _ => None,
    };
    if let Some(console) = &hub_config.console {
        console.check(dir, console_tls.is_some())?;
    }
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
        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        let console = match &hub_config.console {
            Some(cfg) => Some(
                start_console(
                    dir,
                    cfg,
                    console_tls.as_ref(),
                    clock,
                    hub.runtime(),
                    stop.clone(),
                )
                .await?,
            ),
            None => None,
        };
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
        let mut grpc_stop = stop.clone();
        let serving = hub.serve(listener, async move {
            let _ = grpc_stop.wait_for(|s| *s).await;
        });
        tokio::pin!(serving);
        let result = tokio::select! {
            r = &mut serving => r,
            () = shutdown_signal() => {
                let _ = stop_tx.send(true);
                serving.await
            }
        };
        let _ = stop_tx.send(true);
        if let Some(console) = console {
            let _ = console.await;
        }
        result?;
        println!("汇总中心已停止：已回执的上报均已保存（hub stopped）");
        anyhow::Ok(())
    })
}

/// Binds and starts the web console of `[console]` (HTTPS with the hub's
/// certificate and key when given), prints its address and writes
/// `DATA_DIR/console.addr`; it serves until `stop` turns true.
async fn start_console(
    dir: &std::path::Path,
    cfg: &config::ConsoleConfig,
    tls: Option<&(PathBuf, PathBuf)>,
    clock: Clock,
    runtime: kaohe_rulepacks::runtime::Runtime,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<tokio::task::JoinHandle<std::io::Result<()>>> {
    let tls = match tls {
        Some((cert, key)) => {
            let read = |p: &PathBuf| {
                std::fs::read(p).with_context(|| {
                    format!("读取控制台 HTTPS 文件 {}（read TLS file）", p.display())
                })
            };
            Some(kaohe_web::serve::tls_config(&read(cert)?, &read(key)?)?)
        }
        None => None,
    };
    let console = console::Console::open(console::ConsoleOptions {
        data_dir: dir.to_path_buf(),
        clock,
        runtime,
        secure: tls.is_some(),
        sessions: Default::default(),
        now: kaohe_web::system_now(),
    })
    .context("启动网页控制台（start the web console）")?;
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("控制台监听 {}（bind the console）", cfg.listen))?;
    let addr = listener
        .local_addr()
        .context("读取控制台地址（local address）")?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let file = dir.join(console::ADDR_FILE);
    std::fs::write(&file, format!("{scheme}://{addr}\n"))
        .with_context(|| format!("写入 {}（write the console address）", file.display()))?;
    println!("网页控制台（web console）：{scheme}://{addr}/");
    let app = console::router(console);
    Ok(tokio::spawn(async move {
        kaohe_web::serve::serve(listener, app, tls, async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await
    }))
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
