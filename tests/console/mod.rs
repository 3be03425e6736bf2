//! Both web consoles in a real headless Chromium (Debian's `chromium` and
//! `chromium-driver`, which `.ci/run` installs), driven over WebDriver
//! (`fantoccini`) against real `kaohe` processes on 127.0.0.1: a small
//! county set up through the CLI (one pack authority, a hub serving its
//! console, one assessor node serving its own), then the year as the
//! officials click through it — log in; the node syncs; a workbook with a
//! mistake is refused naming the cell, the fixed one imported; scores
//! previewed and submitted; the hub's ranking and a unit; the notice; an
//! objection filed at the node with a material file; the hub decides it,
//! approves and the PDF is downloaded. The page's Chinese is shown to be
//! drawn with the console's CJK font (two characters draw differently —
//! tofu boxes would not), and screenshots of the main pages are saved in
//! `target/console-shots/` for a person to look at.
//!
//! Nothing waits on a fixed sleep: every step waits for the page to say
//! what it should, bounded by [`POLL_LIMIT`] as a guard against a hang.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::{kaohe_ok, path_str as s};

/// A guard against a hang, never a timing assertion.
const POLL_LIMIT: Duration = Duration::from_secs(120);
/// The hub's fixed clock: before the annual report deadline (2024-01-31).
const HUB_NOW: &str = "2024-01-22T10:00:00+08:00";
const ADMIN_PASSWORD: &str = "browser-test-admin";
const UNITS: [(&str, &str); 3] = [
    ("u0001", "宝丰县测试司法局"),
    ("u0002", "宝丰县测试财政局"),
    ("u0003", "宝丰县测试水利局"),
];

/// A child process killed when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls `f` until it gives a value; panics after [`POLL_LIMIT`].
fn poll<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < POLL_LIMIT, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn spawn(args: &[&str], log: &Path) -> Running {
    let log = std::fs::File::create(log).unwrap();
    Running(
        Command::new(env!("CARGO_BIN_EXE_kaohe"))
            .args(args)
            .env_remove("KAOHE_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap(),
    )
}

/// The county: one authority, the hub (console on plain HTTP, loopback),
/// one node delegated the three departments, its console started.
struct County {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    node_dir: PathBuf,
    hub_console: String,
    node_link: String,
    _hub: Running,
    _node_console: Running,
}

fn county() -> County {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let (hub_dir, node_dir) = (root.join("hub"), root.join("node"));
    let hub = |args: &[&str]| {
        let mut all = vec!["hub", "--data-dir", s(&hub_dir), "--operator", "初始化"];
        all.extend_from_slice(args);
        kaohe_ok(&all)
    };
    let key = root.join("authority.key");
    let public = key_in(&kaohe_ok(&["pack", "keygen", "-o", s(&key)]), "公钥");
    let rubric = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/console/rubric.toml");
    let wasm = root.join("webtest-2023.wasm");
    kaohe_ok(&["pack", "build", s(&rubric), "-o", s(&wasm)]);
    kaohe_ok(&["pack", "sign", s(&wasm), "--key", s(&key)]);
    let receipt = key_in(&hub(&["init"]), "回执公钥");
    std::fs::write(
        hub_dir.join("hub.toml"),
        format!("[packs]\nauthorities = [\"{public}\"]\nthreshold = 1\n\n[console]\nlisten = \"127.0.0.1:0\"\n"),
    )
    .unwrap();
    add_admin(&hub_dir);
    hub(&["pack", "publish", s(&wasm)]);
    let mut roster = String::from("单位编号,单位名称,类别,上级单位,主管部门,考核主体\n");
    for (id, name) in UNITS {
        roster.push_str(&format!("{id},{name},government_department,,,依法治县办\n"));
    }
    let roster_file = root.join("名册.csv");
    std::fs::write(&roster_file, roster).unwrap();
    hub(&["units", "import", s(&roster_file), "--year", "2023"]);
    let out = kaohe_ok(&[
        "node",
        "--data-dir",
        s(&node_dir),
        "init",
        "--hub",
        "http://127.0.0.1:1",
        "--name",
        "测试县依法治县办节点",
        "--assessor",
        "county_office",
        "--authority-key",
        &public,
        "--threshold",
        "1",
        "--hub-receipt-key",
        &receipt,
    ]);
    let node_key = key_in(&out, "公钥");
    hub(&[
        "node",
        "add",
        "--name",
        "测试县依法治县办节点",
        "--assessor",
        "county_office",
        "--key",
        &node_key,
        "--categories",
        "government_department",
        "--methods",
        "supervision",
        "--years",
        "2023",
    ]);
    let addr_file = hub_dir.join("hub.addr");
    let hub_proc = spawn(
        &[
            "hub",
            "--data-dir",
            s(&hub_dir),
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--now",
            HUB_NOW,
        ],
        &root.join("hub.log"),
    );
    let grpc = poll("the hub's address", || read_line(&addr_file));
    let hub_console = poll("the hub console's address", || {
        read_line(&hub_dir.join("console.addr"))
    });
    // The node's official points node.toml at the hub.
    let config = node_dir.join("node.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text.replace(
        "address = \"http://127.0.0.1:1\"",
        &format!("address = \"http://{grpc}\""),
    );
    std::fs::write(&config, text).unwrap();
    let node_console = spawn(
        &[
            "node",
            "--data-dir",
            s(&node_dir),
            "console",
            "--listen",
            "127.0.0.1:0",
            "--operator",
            "王科员",
        ],
        &root.join("node-console.log"),
    );
    let node_link = poll("the node console's login link", || {
        read_line(&node_dir.join("console.url"))
    });
    County {
        _tmp: tmp,
        root,
        node_dir,
        hub_console,
        node_link,
        _hub: hub_proc,
        _node_console: node_console,
    }
}

fn add_admin(hub_dir: &Path) {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_kaohe"))
        .args([
            "hub",
            "--data-dir",
            s(hub_dir),
            "--operator",
            "初始化",
            "user",
            "add",
            "admin",
            "--role",
            "admin",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{ADMIN_PASSWORD}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

fn read_line(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .filter(|t| t.ends_with('\n'))
        .map(|t| t.trim().to_owned())
}

fn key_in(out: &str, label: &str) -> String {
    out.lines()
        .filter(|l| l.contains(label))
        .flat_map(|l| l.split(['：', ' ', '，']))
        .find(|w| w.starts_with("ed25519:"))
        .map(|w| w.trim().to_owned())
        .unwrap_or_else(|| panic!("no {label} in:\n{out}"))
}

/// `chromedriver` on a free port; Debian's Chromium behind it.
fn chromedriver(log: &Path) -> (Running, u16) {
    for tool in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
        assert!(
            Path::new(tool).exists(),
            "{tool} is missing: install Debian's chromium, chromium-driver and a CJK font (apt-get install chromium chromium-driver chromium-l10n fonts-wqy-zenhei), as .ci/run does"
        );
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = std::fs::File::create(log).unwrap();
    // An official's browser speaks Chinese: with Debian's chromium-l10n,
    // Chromium on Linux takes its interface language (the file chooser,
    // a date field's placeholder) from LANGUAGE, not from --lang.
    let child = Command::new("/usr/bin/chromedriver")
        .arg(format!("--port={port}"))
        .env("LANGUAGE", "zh_CN")
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    poll("chromedriver to listen", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    });
    (Running(child), port)
}

async fn browser(port: u16) -> Client {
    let caps = json!({
        "browserName": "chrome",
        "acceptInsecureCerts": true,
        // The forms that ask "确定…？" are confirmed, as an official would.
        "unhandledPromptBehavior": "accept",
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1000", "--lang=zh-CN"],
        },
    });
    let Value::Object(caps) = caps else {
        unreachable!()
    };
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a WebDriver session with headless Chromium")
}

/// Waits until the page's visible text contains `want`; returns it.
async fn wait_text(c: &Client, want: &str) -> String {
    let start = Instant::now();
    loop {
        if let Ok(body) = c.find(Locator::Css("body")).await
            && let Ok(text) = body.text().await
            && text.contains(want)
        {
            return text;
        }
        assert!(
            start.elapsed() < POLL_LIMIT,
            "the page never said {want:?}:\n{}",
            c.source().await.unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn shot(c: &Client, name: &str) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("console-shots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = c.screenshot().await.unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

async fn fill(c: &Client, css: &str, text: &str) {
    let e = c
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|_| panic!("no {css}"));
    e.clear().await.ok();
    e.send_keys(text).await.unwrap();
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|_| panic!("no {css}"))
        .click()
        .await
        .unwrap();
}

/// The evidence CSV an official fills (the template's two header rows).
fn evidence_csv(report_of_first: &str) -> String {
    let mut csv = String::from(
        "单位编号,单位名称,轮次,已制定年度法治工作计划,年度报告公开情况\nunit_id,unit_name,round,sup_plan,sup_report\n",
    );
    for (i, (id, name)) in UNITS.iter().enumerate() {
        let report = if i == 0 {
            report_of_first
        } else if i == 1 {
            "逾期公开"
        } else {
            "按时公开"
        };
        csv.push_str(&format!("{id},{name},年度,是,{report}\n"));
    }
    csv
}

/// Draws 考 and 核 with the page's font onto a canvas: the font face must
/// have loaded, both must leave ink, and differently (tofu boxes are all
/// the same).
async fn assert_cjk_font(c: &Client) {
    let v = c
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
            document.fonts.load('40px KaoheCJK', '考核').then(() => {
              const ink = (ch) => {
                const cv = document.createElement('canvas'); cv.width = 60; cv.height = 60;
                const x = cv.getContext('2d');
                x.fillStyle = '#fff'; x.fillRect(0, 0, 60, 60);
                x.fillStyle = '#000'; x.font = '40px KaoheCJK'; x.fillText(ch, 6, 46);
                return x.getImageData(0, 0, 60, 60).data;
              };
              const a = ink('考'), b = ink('核');
              let diff = 0, inkA = 0, inkB = 0;
              for (let i = 0; i < a.length; i += 4) {
                if (a[i] !== b[i]) diff++;
                if (a[i] < 128) inkA++;
                if (b[i] < 128) inkB++;
              }
              const loaded = [...document.fonts].some(f => f.family.includes('KaoheCJK') && f.status === 'loaded');
              done({ diff, inkA, inkB, loaded, family: getComputedStyle(document.body).fontFamily });
            }, (e) => done({ error: String(e) }));"#,
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        v["loaded"],
        json!(true),
        "the console's CJK font did not load: {v}"
    );
    assert!(
        v["family"].as_str().unwrap_or("").contains("KaoheCJK"),
        "{v}"
    );
    for k in ["inkA", "inkB", "diff"] {
        assert!(
            v[k].as_u64().unwrap_or(0) > 40,
            "{k} too small — tofu or nothing drawn: {v}"
        );
    }
}

/// The year from the two consoles alone, in a real browser.
#[tokio::test(flavor = "multi_thread")]
async fn a_year_from_the_two_consoles_in_a_real_browser() {
    let county = county();
    let (_driver, port) = chromedriver(&county.root.join("chromedriver.log"));
    let c = browser(port).await;
    let (hub, node) = (county.hub_console.clone(), county.node_link.clone());
    let node_base = node.split("/login/").next().unwrap().to_owned();

    // 节点：一次性链接登录，同步规则包和考核范围。
    c.goto(&node).await.unwrap();
    wait_text(&c, "发件箱").await;
    click(&c, "form[action='/sync'] button").await;
    wait_text(&c, "已核验并启用规则包").await;
    shot(&c, "node-status").await;

    // 证据：有错的文件被拒，单元格逐一列出；改正后导入。
    c.goto(&format!("{node_base}/evidence?year=2023"))
        .await
        .unwrap();
    let bad = county.root.join("证据-有错.csv");
    std::fs::write(&bad, evidence_csv("也许公开")).unwrap();
    let problems = {
        let store = kaohe_node::store::Store::open(&county.node_dir.join("node.db")).unwrap();
        let mut store = store;
        let actor = kaohe_node::store::Actor {
            operator: "检查".into(),
            at: jiff::Timestamp::now(),
        };
        match kaohe_node::import::import_file(
            &mut store,
            &bad,
            2023,
            &actor,
            &Default::default(),
            &mut |_| {},
        ) {
            Err(kaohe_node::import::ImportError::Invalid { problems, .. }) => problems,
            other => panic!("the bad file should be refused: {other:?}"),
        }
    };
    fill(&c, "form[action='/evidence'] input[type=file]", s(&bad)).await;
    click(&c, "form[action='/evidence'] button").await;
    let text = wait_text(&c, "未导入任何数据").await;
    for p in &problems {
        assert!(
            text.contains(&p.to_string()),
            "the cell is not named as the CLI names it: {p}\n{text}"
        );
    }
    assert!(text.contains("也许公开"), "{text}");
    shot(&c, "node-evidence-refused").await;
    let good = county.root.join("证据.csv");
    std::fs::write(&good, evidence_csv("按时公开")).unwrap();
    fill(&c, "form[action='/evidence'] input[type=file]", s(&good)).await;
    click(&c, "form[action='/evidence'] button").await;
    wait_text(&c, "已导入 证据.csv").await;

    // 评分：预览（含扣分原因），确认后签名提交并送达。
    c.goto(&format!("{node_base}/scoring?year=2023&round=annual"))
        .await
        .unwrap();
    wait_text(&c, "年度报告逾期公开，扣2分").await;
    shot(&c, "node-scoring").await;
    click(&c, "form[action='/scoring/submit'] button").await;
    wait_text(&c, "已送达 3 份").await;

    // 汇总中心：登录，排名，单位。
    c.goto(&format!("{hub}/login")).await.unwrap();
    fill(&c, "input[name=name]", "admin").await;
    fill(&c, "input[name=password]", ADMIN_PASSWORD).await;
    click(&c, "form[action='/login'] button").await;
    wait_text(&c, "上报进度").await;
    shot(&c, "hub-overview").await;
    c.goto(&format!("{hub}/results?year=2023")).await.unwrap();
    let ranking = wait_text(&c, "评定等次并排名").await;
    let (first, second) = (
        ranking.find(UNITS[0].1).unwrap(),
        ranking.find(UNITS[1].1).unwrap(),
    );
    assert!(
        first < second && ranking.contains("并列"),
        "u0001 and u0003 tie first, u0002 after:\n{ranking}"
    );
    assert_cjk_font(&c).await;
    shot(&c, "hub-results").await;
    c.goto(&format!("{hub}/units/2023/u0002")).await.unwrap();
    let unit = wait_text(&c, "年度报告逾期公开，扣2分").await;
    assert!(
        unit.contains("测试县依法治县办节点") && unit.contains("回执"),
        "{unit}"
    );
    shot(&c, "hub-unit").await;

    // 反馈：通报。
    c.goto(&format!("{hub}/review?year=2023")).await.unwrap();
    click(&c, "form[action='/review/notify'] button").await;
    wait_text(&c, "已通报 3 个单位").await;

    // 节点：对 u0002 提出异议，附证明材料。
    c.goto(&format!("{node_base}/results?year=2023"))
        .await
        .unwrap();
    wait_text(&c, "提出异议").await;
    click(&c, "select[name=unit] option[value=u0002]").await;
    fill(
        &c,
        "textarea[name=reason]",
        "年度报告实为按时公开，附网站截图",
    )
    .await;
    let material = county.root.join("网站截图说明.txt");
    std::fs::write(&material, "示例数据：年度报告于1月15日公开。").unwrap();
    fill(
        &c,
        "form[action='/results/object'] input[type=file]",
        s(&material),
    )
    .await;
    click(&c, "form[action='/results/object'] button").await;
    wait_text(&c, "汇总中心已受理").await;
    shot(&c, "node-objection").await;

    // 汇总中心：材料可下载，作出决定，审定，下载 PDF 通报。
    c.goto(&format!("{hub}/review?year=2023")).await.unwrap();
    let review = wait_text(&c, "网站截图说明.txt").await;
    assert!(
        review.contains("个工作日"),
        "the decision deadline counts down: {review}"
    );
    shot(&c, "hub-review").await;
    fill(
        &c,
        "form[action='/review/decide'] textarea[name=reason]",
        "经核实，维持原评分",
    )
    .await;
    click(&c, "form[action='/review/decide'] button").await;
    wait_text(&c, "维持原结果").await;
    c.goto(&format!("{hub}/approval?year=2023")).await.unwrap();
    // The form carries the digest of the year as shown; approval records it.
    wait_text(&c, "本次审定的是本页打开时的汇总结果").await;
    let shown = c
        .find(Locator::Css(
            "form[action='/approval/approve'] input[name=sha256]",
        ))
        .await
        .unwrap()
        .attr("value")
        .await
        .unwrap()
        .expect("the approval form carries the digest shown");
    assert_eq!(shown.len(), 64, "{shown}");
    shot(&c, "hub-approve-form").await;
    fill(&c, "input[name=doc_number]", "测法治办〔2024〕1号").await;
    click(&c, "form[action='/approval/approve'] button").await;
    let done = wait_text(&c, "已记录 2023 年度考核结果审定").await;
    assert!(
        done.contains(&shown),
        "the approval records the year as shown"
    );
    shot(&c, "hub-approval").await;
    let pdf = c
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
            fetch('/approval/2023/export/notice.pdf').then(async (r) => {
              const bytes = new Uint8Array(await r.arrayBuffer());
              done({ status: r.status, type: r.headers.get('content-type'),
                     disposition: r.headers.get('content-disposition'),
                     head: String.fromCharCode(...bytes.slice(0, 5)), size: bytes.length });
            });"#,
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(pdf["status"], json!(200), "{pdf}");
    assert_eq!(pdf["type"], json!("application/pdf"), "{pdf}");
    assert_eq!(pdf["head"], json!("%PDF-"), "{pdf}");
    assert!(
        pdf["disposition"]
            .as_str()
            .unwrap_or("")
            .contains("attachment"),
        "{pdf}"
    );

    // 汇总中心的管理页：新建账号（密码输入两次）、日历、在线备份。
    c.goto(&format!("{hub}/accounts")).await.unwrap();
    wait_text(&c, "控制台账号").await;
    fill(&c, "form[action='/accounts'] input[name=name]", "clerk2").await;
    for field in ["password", "password2"] {
        fill(
            &c,
            &format!("form[action='/accounts'] input[name={field}]"),
            "browser-test-clerk",
        )
        .await;
    }
    click(&c, "form[action='/accounts'] button").await;
    wait_text(&c, "已新建控制台账号 clerk2").await;
    shot(&c, "hub-accounts").await;
    c.goto(&format!("{hub}/calendar?year=2023")).await.unwrap();
    wait_text(&c, "全年工作日").await;
    shot(&c, "hub-calendar").await;
    c.goto(&format!("{hub}/backup")).await.unwrap();
    click(&c, "form[action='/backup'] button").await;
    wait_text(&c, "完整性检查通过").await;
    shot(&c, "hub-backup").await;
    c.close().await.unwrap();
}
