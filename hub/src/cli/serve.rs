//! `kaohe hub serve`: the gRPC services, until SIGTERM or ctrl-c.

use std::path::PathBuf;

use anyhow::Context;
use jiff::Timestamp;

use super::Invocation;
use crate::clock::Clock;
use crate::config;
use crate::server::{self, Hub, ServeOptions, TlsFiles};

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
