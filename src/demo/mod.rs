//! `kaohe demo`：一个示例县的首年（2022 年度）完整考核，各方为独立进程。
//!
//! Runs this very binary (`std::env::current_exe()`) as every actor: the pack
//! authority (`kaohe pack keygen/build/sign`), the county hub (`kaohe hub
//! init`, `units import`, `node add`, `pack publish`, a `hub serve` child on
//! 127.0.0.1, then `results`, `notify`, `excuse`, `approve`,
//! `publish-results`, `export`) and four assessor nodes (`kaohe node init`,
//! `sync`, `template`, `import`, `submit`, `deliver`). The nodes reach the
//! hub over plain http on loopback; TLS with a county CA is a later step.
//!
//! The hub runs with `--now` fixed in early 2023 and every dated hub
//! command gets a fixed instant too, so the deadlines, the notices and the
//! approval are the same on every run.

mod county;
mod evidence;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result, anyhow, bail};

/// 运行一个示例县的首年（2022 年度）完整考核：规则包、汇总中心、四个考核主体节点，各为独立进程
#[derive(Debug, clap::Args)]
pub struct Args {
    /// 演示数据目录（demo directory）；须不存在或为空
    #[arg(long, value_name = "目录", default_value = "kaohe-demo")]
    dir: PathBuf,
    /// 目录非空时先清空（empty a non-empty directory first）
    #[arg(long)]
    fresh: bool,
    /// 结束后保持汇总中心运行，并显示其地址（leave the hub serving）
    #[arg(long)]
    keep_running: bool,
}

const YEAR: &str = "2022";
const OPERATOR: &str = "演示操作员";
/// The rounds in reporting order, each with the hub's fixed clock while
/// nodes report it: a few days before the 2022 pack's deadline of the round
/// (Q1 04-15, Q2 07-15, Q3 10-15, Q4 01-15, annual 01-31).
const ROUNDS: [(&str, &str); 5] = [
    ("Q1", "2022-04-08T10:00:00+08:00"),
    ("Q2", "2022-07-08T10:00:00+08:00"),
    ("Q3", "2022-10-10T10:00:00+08:00"),
    ("Q4", "2023-01-09T10:00:00+08:00"),
    ("annual", "2023-01-16T10:00:00+08:00"),
];
const NOTIFY_NOW: &str = "2023-02-01T09:00:00+08:00";
const APPROVE_NOW: &str = "2023-03-20T09:00:00+08:00";
const PUBLISH_NOW: &str = "2023-03-24T09:00:00+08:00";
pub const DOC_NUMBER: &str = "宝法治办〔2023〕1号";
/// The rubric the demo compiles, built into the binary.
const RUBRIC_2022: &str = include_str!("../../rulepacks/baofeng-2022/rubric.toml");
/// Polls of `hub.addr` before giving up on a starting hub (100 ms apart).
const HUB_START_POLLS: u32 = 3000;

pub fn run(args: Args) -> Result<()> {
    let dir = prepare_dir(&args.dir, args.fresh)?;
    let k = Kaohe::new(&dir)?;
    println!(
        "考核演示（示例数据）：宝丰县 {YEAR} 年度法治政府建设考核，目录 {}",
        dir.display()
    );

    // 1 规则包与汇总中心
    println!("\n一、发布机关签发 {YEAR} 年度规则包，县依法治县办初始化汇总中心");
    let key = dir.join("authority/pack-authority.key");
    std::fs::create_dir_all(dir.join("authority"))?;
    let out = k.run(&["pack", "keygen", "-o", s(&key)])?;
    let authority = key_in(&out, "公钥")?;
    let rubric = dir.join("authority/rubric.toml");
    std::fs::write(&rubric, RUBRIC_2022)?;
    let wasm = dir.join("authority/baofeng-2022.wasm");
    k.run(&["pack", "build", s(&rubric), "-o", s(&wasm)])?;
    k.run(&["pack", "sign", s(&wasm), "--key", s(&key)])?;
    let hub_dir = dir.join("hub");
    let out = k.hub(&["init"])?;
    let receipt_key = key_in(&out, "回执公钥")?;
    std::fs::write(
        hub_dir.join("hub.toml"),
        format!("[packs]\nauthorities = [\"{authority}\"]\nthreshold = 1\n"),
    )?;
    print_first(&k.hub(&["pack", "publish", s(&wasm)])?);

    // 2 名册
    let roster = hub_dir.join("2022-名册（示例数据）.csv");
    std::fs::write(&roster, county::roster_csv())?;
    print_first(&k.hub(&["units", "import", s(&roster), "--year", YEAR])?);

    // 3 节点
    println!("\n二、考核主体节点初始化并登记");
    let nodes = county::nodes();
    for n in &nodes {
        let nd = dir.join("nodes").join(n.dir);
        let out = k.node(
            &nd,
            &[
                "init",
                "--hub",
                "http://127.0.0.1:1",
                "--name",
                n.name,
                "--assessor",
                n.assessor,
                "--authority-key",
                &authority,
                "--hub-receipt-key",
                &receipt_key,
            ],
        )?;
        let node_key = key_in(&out, "公钥")?;
        let mut add = vec![
            "node",
            "add",
            "--name",
            n.name,
            "--assessor",
            n.assessor,
            "--key",
            &node_key,
            "--methods",
            county::ALL_METHODS,
            "--years",
            YEAR,
        ];
        let units;
        match &n.delegation {
            county::Delegation::Categories(c) => add.extend(["--categories", c]),
            county::Delegation::Units(u) => {
                units = u.join(",");
                add.extend(["--units", &units]);
            }
        }
        print_first(&k.hub(&add)?);
    }

    // 4 各节点按轮次填报上报：每轮汇总中心以该轮期限前的固定时刻运行
    println!("\n三、各节点填报证据，按季度和年度评分、签名并上报");
    let mut rng = evidence::Rng::new(evidence::SEED);
    let mut hub = None;
    for (i, (round, now)) in ROUNDS.iter().enumerate() {
        if let Some(h) = hub.take() {
            HubServer::stop(h)?;
        }
        let h = HubServer::start(&k, &hub_dir, now)?;
        println!(
            "  汇总中心 http://{}，固定时刻 {now}，上报 {}",
            h.addr,
            round_zh(round)
        );
        for n in &nodes {
            let nd = dir.join("nodes").join(n.dir);
            point_node_at(&nd, &h.addr)?;
            k.node(&nd, &["sync", "--operator", OPERATOR])?;
            if i == 0 {
                let units = fill_evidence(&k, &nd, &mut rng)?;
                println!("    {}：{units} 个单位的全年证据已导入", n.name);
            }
            k.node(
                &nd,
                &[
                    "submit",
                    "--year",
                    YEAR,
                    "--round",
                    round,
                    "--operator",
                    OPERATOR,
                    "--no-deliver",
                ],
            )?;
            k.node(&nd, &["deliver"])?;
        }
        hub = Some(h);
    }
    let hub = hub.ok_or_else(|| anyhow!("没有上报轮次（no rounds）"))?;
    let served = hub.addr.clone();

    // 5 汇总、通报、审定、公布、导出
    println!("\n四、汇总中心汇总、通报、审定、公布、导出");
    k.hub(&["results", "--year", YEAR])?;
    let notices = dir.join("notices");
    k.hub(&[
        "notify",
        "--year",
        YEAR,
        "--out",
        s(&notices),
        "--now",
        NOTIFY_NOW,
    ])?;
    let sent = std::fs::read_dir(&notices).map_or(0, |d| d.count());
    println!("  已向 {sent} 个单位通报反馈考核结果（{NOTIFY_NOW}）");
    print_first(&k.hub(&[
        "excuse",
        "--year",
        YEAR,
        "--unit",
        county::UNREPORTED,
        "--reason",
        county::UNREPORTED_REASON,
        "--now",
        APPROVE_NOW,
    ])?);
    print_first(&k.hub(&[
        "approve",
        "--year",
        YEAR,
        "--doc-number",
        DOC_NUMBER,
        "--now",
        APPROVE_NOW,
    ])?);
    print_first(&k.hub(&["publish-results", "--year", YEAR, "--now", PUBLISH_NOW])?);
    let exports = dir.join("exports");
    k.hub(&["export", "--year", YEAR, "--out", s(&exports)])?;

    // 6 结果
    println!("\n五、考核结果（示例数据）");
    for (n, category) in [
        (1, "township"),
        (4, "government_department"),
        (7, "stationed_unit"),
    ] {
        let out = k.hub(&["results", "--year", YEAR, "--category", category])?;
        let ranking = sections(&out)
            .into_iter()
            .find(|s| s.starts_with('【') && s.contains("排名\n"))
            .ok_or_else(|| anyhow!("第{n}类没有排名表（no ranking）：\n{out}"))?;
        println!("\n第{n}类排名 {ranking}");
    }
    let all = k.hub(&["results", "--year", YEAR])?;
    println!("\n其他类别等次：");
    for s in sections(&all) {
        if s.lines().next().is_some_and(|l| l.contains("只评定等次")) {
            println!("\n{s}");
        }
    }
    match sections(&all)
        .into_iter()
        .find(|s| s.starts_with("【未考核单位】"))
    {
        Some(s) => println!("\n{s}"),
        None => println!("\n【未考核单位】无"),
    }

    println!("\n六、文件位置");
    for (what, ext) in [
        ("Excel 工作簿", "xlsx"),
        ("PDF 通报", "pdf"),
        ("Word 文书", "docx"),
    ] {
        let files = files_with(&exports, ext)?;
        println!("  {what}：{} 个", files.len());
        for f in files.iter().take(3) {
            println!("    {}", f.display());
        }
        if files.len() > 3 {
            println!("    ……（另 {} 个）", files.len() - 3);
        }
    }
    println!("  通报反馈：{}", notices.display());
    println!("  汇总中心数据目录：{}", hub_dir.display());
    println!("  节点数据目录：{}", dir.join("nodes").display());

    if args.keep_running {
        println!(
            "\n汇总中心保持运行：http://{served}（进程号 {}）",
            hub.pid()
        );
        hub.detach();
    } else {
        hub.stop()?;
        println!("\n汇总中心已停止（hub stopped）");
    }
    Ok(())
}

fn round_zh(round: &str) -> &'static str {
    match round {
        "Q1" => "第一季度日常评价",
        "Q2" => "第二季度日常评价",
        "Q3" => "第三季度日常评价",
        "Q4" => "第四季度日常评价",
        _ => "年度考核",
    }
}

/// The node's templates (xlsx for officials, CSV for the generator), the
/// CSV filled from the seed and imported; returns how many units got evidence.
fn fill_evidence(k: &Kaohe, nd: &Path, rng: &mut evidence::Rng) -> Result<usize> {
    let xlsx = nd.join("2022-证据模板.xlsx");
    k.node(nd, &["template", "--year", YEAR, "-o", s(&xlsx)])?;
    let csv_template = nd.join("2022-证据模板.csv");
    k.node(
        nd,
        &[
            "template",
            "--year",
            YEAR,
            "--format",
            "csv",
            "--encoding",
            "utf8",
            "-o",
            s(&csv_template),
        ],
    )?;
    let filled = nd.join("2022-证据（示例数据）.csv");
    let config = kaohe_node::config::NodeConfig::load_from_dir(nd)?;
    let summary = evidence::fill_template(
        &config.store_file,
        2022,
        &csv_template,
        &filled,
        rng,
        &[county::UNREPORTED],
    )?;
    k.node(
        nd,
        &["import", "--year", YEAR, s(&filled), "--operator", OPERATOR],
    )?;
    Ok(summary.units)
}

fn s(p: &Path) -> &str {
    p.to_str().expect("the demo directory is valid UTF-8")
}

/// Marks a directory as the demo's own, so `--fresh` may wipe it.
const DEMO_MARKER: &str = ".kaohe-demo";

/// Creates `dir`, refusing a non-empty one unless `fresh` and it is an
/// earlier demo's; returns it absolute.
fn prepare_dir(dir: &Path, fresh: bool) -> Result<PathBuf> {
    if dir.exists() {
        let non_empty = std::fs::read_dir(dir)?.next().is_some();
        if non_empty {
            if !fresh {
                bail!(
                    "目录 {} 非空；换一个目录，或加 --fresh 清空后重来（directory not empty）",
                    dir.display()
                );
            }
            // Only ever wipe what an earlier demo created: a mistyped
            // `--dir ~ --fresh` must not delete a home directory.
            if !dir.join(DEMO_MARKER).is_file() {
                bail!(
                    "目录 {} 不是演示目录（没有 {DEMO_MARKER}），--fresh 不会清空它；请换一个目录（not a demo directory）",
                    dir.display()
                );
            }
            std::fs::remove_dir_all(dir)?;
        }
    }
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join(DEMO_MARKER),
        "kaohe demo 生成的目录，可用 --fresh 清空（created by kaohe demo）\n",
    )?;
    let dir = std::fs::canonicalize(dir)?;
    if dir.to_str().is_none() {
        bail!("目录路径须为 UTF-8（directory path must be UTF-8）");
    }
    Ok(dir)
}

/// The `ed25519:…` key on the first output line that mentions `label`.
fn key_in(out: &str, label: &str) -> Result<String> {
    out.lines()
        .filter(|l| l.contains(label))
        .flat_map(|l| l.split(['：', ' ', '，']))
        .find(|w| w.starts_with("ed25519:"))
        .map(|w| w.trim().to_owned())
        .ok_or_else(|| anyhow!("输出中没有「{label}」（no key printed）：\n{out}"))
}

/// The blank-line separated blocks of a command's output, trimmed.
fn sections(out: &str) -> Vec<&str> {
    out.split("\n\n")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

fn print_first(out: &str) {
    if let Some(l) = out.lines().next() {
        println!("  {l}");
    }
}

/// Files named `*.ext` in `dir` and its subdirectories (`letters/`…), sorted.
fn files_with(dir: &Path, ext: &str) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("读取 {}", d.display()))? {
            let p = e?.path();
            if p.is_dir() {
                todo.push(p);
            } else if p.extension().is_some_and(|x| x == ext) {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Sets the node's hub address (`[hub] address`) once the hub has one.
fn point_node_at(node_dir: &Path, addr: &str) -> Result<()> {
    let path = node_dir.join("node.toml");
    let text = std::fs::read_to_string(&path)?;
    let mut found = false;
    let text: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with("address = ") {
                found = true;
                format!("address = \"http://{addr}\"")
            } else {
                l.to_owned()
            }
        })
        .collect();
    if !found {
        bail!("{} 中没有 address（no hub address line）", path.display());
    }
    std::fs::write(&path, text.join("\n") + "\n")?;
    Ok(())
}

/// This binary, run as a separate process per step.
struct Kaohe {
    exe: PathBuf,
    hub_dir: PathBuf,
    log: PathBuf,
}

impl Kaohe {
    fn new(dir: &Path) -> Result<Kaohe> {
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
    fn run(&self, args: &[&str]) -> Result<String> {
        let out = self
            .command(args)
            .output()
            .with_context(|| format!("运行 kaohe {}", args.join(" ")))?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        use std::io::Write;
        if let Ok(mut log) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
        {
            let _ = writeln!(log, "$ kaohe {}\n{stdout}{stderr}", args.join(" "));
        }
        if !out.status.success() {
            bail!(
                "kaohe {} 失败（failed）：\n{stdout}{stderr}",
                args.join(" ")
            );
        }
        Ok(stdout)
    }

    fn hub(&self, args: &[&str]) -> Result<String> {
        self.run(&self.hub_args(args))
    }

    fn node(&self, dir: &Path, args: &[&str]) -> Result<String> {
        let mut all = vec!["node", "--data-dir", s(dir)];
        all.extend_from_slice(args);
        self.run(&all)
    }
}

/// The `kaohe hub serve` child.
struct HubServer {
    child: Option<Child>,
    addr: String,
}

impl HubServer {
    fn start(k: &Kaohe, hub_dir: &Path, now: &str) -> Result<HubServer> {
        let addr_file = hub_dir.join(kaohe_hub::server::ADDR_FILE);
        let _ = std::fs::remove_file(&addr_file);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(hub_dir.join("serve.log"))?;
        let child = k
            .command(&k.hub_args(&["serve", "--listen", "127.0.0.1:0", "--now", now]))
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

    fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Leaves the hub serving after the demo exits.
    fn detach(mut self) {
        self.child = None;
    }

    /// SIGTERM (the hub shuts down cleanly), then waits for it.
    fn stop(mut self) -> Result<()> {
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
