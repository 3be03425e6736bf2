//! This binary as the demo's child processes: [`Kaohe`] runs one command
//! per step and logs it to `demo.log`; [`HubServer`] is the `kaohe hub
//! serve` child, stopped with SIGTERM (also when the demo fails half-way);
//! [`configure_node`] edits a node's `[hub]` as its official would.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result, anyhow, bail};

use super::{HUB_START_POLLS, OPERATOR, pki, s};

/// Edits the node's `[hub]` section as its official would: the hub's
/// address once the hub has one, and the client certificate once the county
/// CA issued it.
/// Points node.toml at `addr`, and adds the client certificate and the
/// CA's revocation list when given.
pub(super) fn configure_node(
    node_dir: &Path,
    addr: Option<&str>,
    tls: Option<(&pki::Issued, &Path)>,
) -> Result<()> {
    let path = node_dir.join("node.toml");
    let text = std::fs::read_to_string(&path)?;
    let mut found = false;
    let mut lines = Vec::new();
    for l in text.lines() {
        if l.starts_with("address = ") {
            found = true;
            lines.push(match addr {
                Some(a) => format!("address = \"https://{a}\""),
                None => l.to_owned(),
            });
            if let Some((c, crl)) = tls {
                lines.push(format!("client_cert = \"{}\"", s(&c.cert)));
                lines.push(format!("client_key = \"{}\"", s(&c.key)));
                lines.push(format!("crl = \"{}\"", s(crl)));
            }
        } else {
            lines.push(l.to_owned());
        }
    }
    if !found {
        bail!("{} 中没有 address（no hub address line）", path.display());
    }
    std::fs::write(&path, lines.join("\n") + "\n")?;
    Ok(())
}

/// This binary, run as a separate process per step.
pub(super) struct Kaohe {
    pub(super) exe: PathBuf,
    hub_dir: PathBuf,
    /// Every step's command and output, for reading later.
    pub(super) log: PathBuf,
}

impl Kaohe {
    pub(super) fn new(dir: &Path) -> Result<Kaohe> {
        Ok(Kaohe {
            exe: std::env::current_exe().context("找不到 kaohe 程序（current_exe）")?,
            hub_dir: dir.join("hub"),
            log: dir.join("demo.log"),
        })
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.exe);
        c.args(args).env_remove("KAOHE_LOG").stdin(Stdio::null());
        c
    }

    fn hub_args<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut all = vec![
            "hub",
            "--data-dir",
            s(&self.hub_dir),
            "--operator",
            OPERATOR,
        ];
        all.extend_from_slice(args);
        all
    }

    /// Runs `kaohe <args>`; fails with its output unless it succeeds.
    pub(super) fn run(&self, args: &[&str]) -> Result<String> {
        let out = self
            .command(args)
            .output()
            .with_context(|| format!("运行 kaohe {}", args.join(" ")))?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        self.log_line(&format!("$ kaohe {}\n{stdout}{stderr}", args.join(" ")));
        if !out.status.success() {
            bail!(
                "kaohe {} 失败（failed）：\n{stdout}{stderr}",
                args.join(" ")
            );
        }
        Ok(stdout)
    }

    /// Appends to `demo.log` (best effort: the log is for reading later).
    fn log_line(&self, text: &str) {
        use std::io::Write as _;
        if let Ok(mut log) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
        {
            let _ = writeln!(log, "{text}");
        }
    }

    pub(super) fn hub(&self, args: &[&str]) -> Result<String> {
        self.run(&self.hub_args(args))
    }

    /// `kaohe hub <args>` with `input` on standard input (a password).
    pub(super) fn hub_with_input(&self, args: &[&str], input: &str) -> Result<String> {
        use std::io::Write as _;
        let all = self.hub_args(args);
        let mut child = self
            .command(&all)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("运行 kaohe {}", all.join(" ")))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(input.as_bytes())?;
        }
        let out = child.wait_with_output()?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        self.log_line(&format!(
            "$ kaohe {}  （密码从标准输入读入）\n{stdout}{stderr}",
            all.join(" ")
        ));
        if !out.status.success() {
            bail!("kaohe {} 失败（failed）：\n{stdout}{stderr}", all.join(" "));
        }
        Ok(stdout)
    }

    /// Starts `kaohe node console` for the node in `dir` as a child that
    /// outlives the demo; returns its process id and one-time login link.
    pub(super) fn node_console(&self, dir: &Path) -> Result<(u32, String)> {
        let url_file = dir.join("console.url");
        let _ = std::fs::remove_file(&url_file);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("console.log"))?;
        let args = [
            "node",
            "--data-dir",
            s(dir),
            "console",
            "--listen",
            "127.0.0.1:0",
            "--operator",
            OPERATOR,
        ];
        self.log_line(&format!("$ kaohe {}  （后台运行）\n", args.join(" ")));
        let mut child = self
            .command(&args)
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()
            .context("启动节点控制台（spawn kaohe node console）")?;
        for _ in 0..HUB_START_POLLS {
            if let Ok(text) = std::fs::read_to_string(&url_file)
                && text.ends_with('\n')
            {
                return Ok((child.id(), text.trim().to_owned()));
            }
            if let Some(status) = child.try_wait()? {
                bail!(
                    "节点控制台启动失败（{status}）：\n{}",
                    std::fs::read_to_string(dir.join("console.log")).unwrap_or_default()
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = child.kill();
        Err(anyhow!(
            "节点控制台未能在限定时间内启动（node console did not start）"
        ))
    }

    pub(super) fn node(&self, dir: &Path, args: &[&str]) -> Result<String> {
        let mut all = vec!["node", "--data-dir", s(dir)];
        all.extend_from_slice(args);
        self.run(&all)
    }
}

/// The `kaohe hub serve` child.
pub(super) struct HubServer {
    child: Option<Child>,
    pub(super) addr: String,
}

impl HubServer {
    pub(super) fn start(
        k: &Kaohe,
        hub_dir: &Path,
        cert: &pki::Issued,
        ca: &pki::CountyCa,
        now: &str,
    ) -> Result<HubServer> {
        let addr_file = hub_dir.join(kaohe_hub::server::ADDR_FILE);
        let _ = std::fs::remove_file(&addr_file);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(hub_dir.join("serve.log"))?;
        let (client_ca, client_crl) = (ca.cert(), ca.crl());
        let args = k.hub_args(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            s(&cert.cert),
            "--tls-key",
            s(&cert.key),
            "--client-ca",
            s(&client_ca),
            "--client-crl",
            s(&client_crl),
            "--now",
            now,
        ]);
        k.log_line(&format!(
            "$ kaohe {}  （后台运行，输出见 {}）\n",
            args.join(" "),
            hub_dir.join("serve.log").display()
        ));
        let child = k
            .command(&args)
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()
            .context("启动汇总中心（spawn kaohe hub serve）")?;
        let mut hub = HubServer {
            child: Some(child),
            addr: String::new(),
        };
        for _ in 0..HUB_START_POLLS {
            if let Ok(text) = std::fs::read_to_string(&addr_file)
                && !text.trim().is_empty()
            {
                hub.addr = text.trim().to_owned();
                return Ok(hub);
            }
            if let Some(status) = hub.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                bail!(
                    "汇总中心启动失败（{status}）：\n{}",
                    std::fs::read_to_string(hub_dir.join("serve.log")).unwrap_or_default()
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Err(anyhow!("汇总中心未能在限定时间内启动（hub did not start）"))
    }

    pub(super) fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Leaves the hub serving after the demo exits.
    pub(super) fn detach(mut self) {
        self.child = None;
    }

    /// SIGTERM (the hub shuts down cleanly), then waits for it.
    pub(super) fn stop(mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        terminate(&mut child)?;
        let status = child.wait()?;
        if !status.success() {
            bail!("汇总中心退出异常（hub exited with {status}）");
        }
        Ok(())
    }
}

#[cfg(unix)]
fn terminate(child: &mut Child) -> Result<()> {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .context("运行 kill")?;
    if !status.success() {
        bail!("kill -TERM {} 失败", child.id());
    }
    Ok(())
}

#[cfg(not(unix))]
fn terminate(child: &mut Child) -> Result<()> {
    child.kill()?;
    Ok(())
}

impl Drop for HubServer {
    /// A demo that fails half-way does not leave a hub behind.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = terminate(&mut child);
            let _ = child.wait();
        }
    }
}
