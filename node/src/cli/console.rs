//! `kaohe node console`: the assessor's web console on 127.0.0.1, opened
//! with the one-time login link it prints (and writes, mode 0600, to
//! `DATA_DIR/console.url` for a launcher), until ctrl-c or SIGTERM.

use std::path::Path;

use anyhow::Context as _;
use kaohe_rulepacks::runtime::{Runtime, RuntimeConfig};

use super::{actor, open};
use crate::console::{self, ConsoleOptions, NodeConsole};

/// The file the login link is written to.
pub const URL_FILE: &str = "console.url";

#[derive(Debug, clap::Args)]
pub(super) struct ConsoleArgs {
    /// 监听地址，只能是本机回环地址（loopback only）；端口为 0 时由系统分配
    #[arg(long, default_value = "127.0.0.1:7710", value_name = "地址:端口")]
    listen: std::net::SocketAddr,
    /// 操作人，记入证据修改记录（默认为当前登录用户）（operator; default: the login user）
    #[arg(long, value_name = "姓名")]
    operator: Option<String>,
}

pub(super) fn run(dir: &Path, a: ConsoleArgs) -> anyhow::Result<()> {
    console::check_loopback(a.listen)?;
    let (config, _store) = open(dir)?;
    let operator = actor(a.operator)?.operator;
    let runtime = Runtime::new(RuntimeConfig::default())
        .context("启动规则包运行环境（start the pack runtime）")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("启动异步运行时（start the async runtime）")?;
    rt.block_on(async move {
        let (console, token) = NodeConsole::new(ConsoleOptions {
            config,
            operator,
            runtime,
            sessions: Default::default(),
            now: kaohe_web::system_now(),
        });
        let listener = tokio::net::TcpListener::bind(a.listen)
            .await
            .with_context(|| format!("监听 {}（bind）", a.listen))?;
        let addr = listener
            .local_addr()
            .context("读取监听地址（local address）")?;
        let link = format!("http://{addr}/login/{token}");
        write_private(&dir.join(URL_FILE), &format!("{link}\n"))?;
        {
            use std::io::Write as _;
            let mut out = std::io::stdout().lock();
            writeln!(out, "节点控制台（node console）：{link}")?;
            writeln!(
                out,
                "请在本机浏览器中打开上面的一次性登录链接（只能用一次；重新运行本命令得到新的链接）"
            )?;
            out.flush()?;
        }
        kaohe_web::serve::serve(listener, console::router(console), None, shutdown()).await?;
        println!("节点控制台已停止（console stopped）");
        anyhow::Ok(())
    })
}

/// Writes `text` to `path` readable by the owner only.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let _ = std::fs::remove_file(path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut f = options
        .open(path)
        .with_context(|| format!("写入 {}（write the login link）", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

async fn shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
