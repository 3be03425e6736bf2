//! The whole federation through the real `kaohe` binary: a pack authority,
//! a county hub and an assessor node, every one a separate process driven
//! only through the commands an official would type (`kaohe pack …`,
//! `kaohe hub …`, `kaohe node …`). The tests read the hub's and the node's
//! SQLite files read-only to check what was stored; they never write them.
//!
//! Layout:
//! - this file: [`Federation`] (authority key, hub data directory and its
//!   `kaohe hub serve` child, one node), the helpers they share;
//! - `refusals`: out of scope, revoked node, superseded pack version —
//!   refused with the hub's Chinese reason, nothing stored;
//! - `hub_killed`: the hub SIGKILLed in the middle of a 2,000-envelope
//!   stream, restarted, everything stored exactly once;
//! - `late`: a node offline across a round's deadline catches up; its
//!   reports are accepted and marked late (迟报), the on-time ones are not.

mod hub_killed;
mod late;
mod refusals;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The operator every hub command records.
pub const OPERATOR: &str = "县依法治县办测试员";
/// The node's display name, at the node and at the hub.
pub const NODE_NAME: &str = "宝丰县依法治县办测试节点";
/// The hub's clock while nodes report the annual round (the 2022 pack's
/// annual deadline is 2023-01-31): nothing reported then is late.
pub const ANNUAL_NOW: &str = "2023-01-16T10:00:00+08:00";
/// How long a condition polled for may take before the test gives up: a
/// guard against a hang, never a timing assertion.
pub const POLL_LIMIT: Duration = Duration::from_secs(300);

/// Runs `kaohe <args>` to completion.
pub fn kaohe(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kaohe"))
        .args(args)
        .env_remove("KAOHE_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("run the kaohe binary")
}

/// Runs `kaohe <args>`, which must succeed; returns its stdout.
pub fn kaohe_ok(args: &[&str]) -> String {
    let o = kaohe(args);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "kaohe {args:?} failed ({}):\n{out}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

/// stdout and stderr of a finished command, together.
pub fn all_output(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

/// The `ed25519:…` key on the first line of `out` that mentions `label`.
fn key_in(out: &str, label: &str) -> String {
    out.lines()
        .filter(|l| l.contains(label))
        .flat_map(|l| l.split(['：', ' ', '，']))
        .find(|w| w.starts_with("ed25519:"))
        .map(|w| w.trim().to_owned())
        .unwrap_or_else(|| panic!("no key after {label:?} in:\n{out}"))
}

/// Polls `done` until it returns `Some`, a few milliseconds apart, for at
/// most [`POLL_LIMIT`].
pub fn poll<T>(what: &str, mut done: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = done() {
            return v;
        }
        assert!(start.elapsed() < POLL_LIMIT, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A unit of the test roster.
#[derive(Debug, Clone)]
pub struct Unit {
    pub id: String,
    pub name: String,
    pub category: &'static str,
    pub assessor: &'static str,
}

impl Unit {
    /// A government department (category 4), assessed by the county office.
    pub fn department(i: usize) -> Unit {
        Unit {
            id: format!("u{i:04}"),
            name: format!("宝丰县测试局{i:04}"),
            category: "government_department",
            assessor: "依法治县办",
        }
    }
}

/// The roster CSV `kaohe hub units import` reads.
pub fn roster_csv(units: &[Unit]) -> String {
    let mut csv = String::from("单位编号,单位名称,类别,上级单位,主管部门,考核主体\n");
    for u in units {
        csv.push_str(&format!(
            "{},{},{},,,{}\n",
            u.id, u.name, u.category, u.assessor
        ));
    }
    csv
}

/// A county: the pack authority's key, the hub's data directory (and its
/// server while it runs) and one assessor node delegated the county's
/// government departments, all under one temporary directory.
pub struct Federation {
    pub tmp: tempfile::TempDir,
    pub authority_key: PathBuf,
    pub authority: String,
    pub hub_dir: PathBuf,
    pub receipt_key: String,
    pub node_dir: PathBuf,
    pub node_key: String,
    /// The node's key id, as the hub names the node in its messages.
    pub node_key_id: String,
    pub units: Vec<Unit>,
    server: Option<Child>,
}

impl Federation {
    /// `kaohe pack keygen/build/sign` (the Baofeng 2022 rubric, v1), `kaohe
    /// hub init`, the authority pinned in `hub.toml`, `pack publish`, the
    /// roster of `n` government departments, `kaohe node init` and `kaohe
    /// hub node add` for categories `government_department`, `methods`,
    /// year 2022. The hub is not serving yet.
    pub fn new(n: usize, methods: &str) -> Federation {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let authority_key = root.join("authority.key");
        let authority = key_in(
            &kaohe_ok(&["pack", "keygen", "-o", s(&authority_key)]),
            "公钥",
        );
        let hub_dir = root.join("hub");
        let mut f = Federation {
            tmp,
            authority_key,
            authority,
            receipt_key: String::new(),
            node_dir: root.join("node"),
            node_key: String::new(),
            node_key_id: String::new(),
            hub_dir,
            units: (1..=n).map(Unit::department).collect(),
            server: None,
        };
        f.receipt_key = key_in(&f.hub(&["init"]), "回执公钥");
        std::fs::write(
            f.hub_dir.join("hub.toml"),
            format!(
                "[packs]\nauthorities = [\"{}\"]\nthreshold = 1\n",
                f.authority
            ),
        )
        .unwrap();
        let v1 = f.build_pack(1);
        let out = f.hub(&["pack", "publish", s(&v1)]);
        assert!(out.contains("已发布规则包 baofeng-2022 v1"), "{out}");
        let units = f.units.clone();
        f.import_roster(&units);

        let out = kaohe_ok(&[
            "node",
            "--data-dir",
            s(&f.node_dir),
            "init",
            "--hub",
            "http://127.0.0.1:1",
            "--name",
            NODE_NAME,
            "--assessor",
            "county_office",
            "--authority-key",
            &f.authority,
            "--hub-receipt-key",
            &f.receipt_key,
        ]);
        f.node_key = key_in(&out, "公钥");
        f.node_key_id = out
            .lines()
            .find_map(|l| l.split_once("密钥标识（key id）："))
            .map(|(_, id)| id.trim().to_owned())
            .unwrap_or_else(|| panic!("no key id in:\n{out}"));
        let out = f.hub(&[
            "node",
            "add",
            "--name",
            NODE_NAME,
            "--assessor",
            "county_office",
            "--key",
            &f.node_key.clone(),
            "--categories",
            "government_department",
            "--methods",
            methods,
            "--years",
            "2022",
        ]);
        assert!(out.contains("已登记节点"), "{out}");
        f
    }

    pub fn root(&self) -> &Path {
        self.tmp.path()
    }

    /// The Baofeng 2022 rubric as `version`, compiled and signed by the
    /// authority with `kaohe pack build` and `kaohe pack sign`.
    pub fn build_pack(&self, version: u32) -> PathBuf {
        let src = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("rulepacks/baofeng-2022/rubric.toml"),
        )
        .unwrap();
        assert!(
            src.contains("\nversion = 1\n"),
            "the [pack] version line moved"
        );
        let src = src.replacen("\nversion = 1\n", &format!("\nversion = {version}\n"), 1);
        let rubric = self.root().join(format!("rubric-v{version}.toml"));
        std::fs::write(&rubric, src).unwrap();
        let wasm = self.root().join(format!("baofeng-2022-v{version}.wasm"));
        kaohe_ok(&["pack", "build", s(&rubric), "-o", s(&wasm)]);
        kaohe_ok(&["pack", "sign", s(&wasm), "--key", s(&self.authority_key)]);
        wasm
    }

    /// `kaohe hub --data-dir … --operator … <args>`, which must succeed.
    pub fn hub(&self, args: &[&str]) -> String {
        kaohe_ok(&self.hub_args(args))
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

    /// Replaces the 2022 roster (`kaohe hub units import`).
    pub fn import_roster(&self, units: &[Unit]) {
        let file = self.hub_dir.join("2022-名册.csv");
        std::fs::write(&file, roster_csv(units)).unwrap();
        let out = self.hub(&["units", "import", s(&file), "--year", "2022"]);
        assert!(out.contains("已导入 2022 年度名册"), "{out}");
    }

    /// `kaohe hub serve --listen 127.0.0.1:0 --now <now>` (the real clock
    /// when `now` is `None`); waits for the address file, then points the
    /// node at the new address (port 0: it changes on every start).
    pub fn start_hub(&mut self, now: Option<&str>) -> String {
        assert!(self.server.is_none(), "the hub is already serving");
        let addr_file = self.hub_dir.join(kaohe_hub::server::ADDR_FILE);
        let _ = std::fs::remove_file(&addr_file);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.root().join("hub-serve.log"))
            .unwrap();
        let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
        if let Some(now) = now {
            args.extend(["--now", now]);
        }
        let child = Command::new(env!("CARGO_BIN_EXE_kaohe"))
            .args(self.hub_args(&args))
            .env_remove("KAOHE_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn kaohe hub serve");
        self.server = Some(child);
        let addr = poll("the hub's address file", || {
            if let Some(status) = self.server.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "kaohe hub serve exited ({status}):\n{}",
                    std::fs::read_to_string(self.root().join("hub-serve.log")).unwrap_or_default()
                );
            }
            std::fs::read_to_string(&addr_file)
                .ok()
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty())
        });
        self.point_node_at(&addr);
        addr
    }

    /// SIGTERM, as systemd stops it: the hub shuts down cleanly.
    /// Stops the hub cleanly and checks both databases' integrity: how
    /// every test ends.
    pub fn finish(mut self) {
        self.stop_hub();
        integrity_ok(&self.hub_db());
        integrity_ok(&self.node_db());
    }

    pub fn stop_hub(&mut self) {
        let mut child = self.server.take().expect("the hub is serving");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = child.wait().unwrap();
        assert!(exit.success(), "the hub stopped with {exit}");
    }

    /// `kill -KILL`: no shutdown, no flush, nothing handed over.
    pub fn kill_hub(&mut self) {
        let mut child = self.server.take().expect("the hub is serving");
        let status = Command::new("kill")
            .args(["-KILL", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = child.wait().unwrap();
        assert!(!exit.success(), "SIGKILLed, yet {exit}");
    }

    fn point_node_at(&self, addr: &str) {
        let path = self.node_dir.join("node.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\naddress = "), "{text}");
        let text: Vec<String> = text
            .lines()
            .map(|l| {
                if l.starts_with("address = ") {
                    format!("address = \"http://{addr}\"")
                } else {
                    l.to_owned()
                }
            })
            .collect();
        std::fs::write(&path, text.join("\n") + "\n").unwrap();
    }

    fn node_args<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut all = vec!["node", "--data-dir", s(&self.node_dir)];
        all.extend_from_slice(args);
        all
    }

    /// `kaohe node --data-dir … <args>`, which must succeed.
    pub fn node(&self, args: &[&str]) -> String {
        kaohe_ok(&self.node_args(args))
    }

    /// `kaohe node …`, whatever its outcome.
    pub fn node_output(&self, args: &[&str]) -> Output {
        kaohe(&self.node_args(args))
    }

    /// `kaohe node …` as a child process (stdout and stderr to `log`).
    pub fn spawn_node(&self, args: &[&str], log: &Path) -> Child {
        let log = std::fs::File::create(log).unwrap();
        Command::new(env!("CARGO_BIN_EXE_kaohe"))
            .args(self.node_args(args))
            .env_remove("KAOHE_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn kaohe node")
    }

    pub fn sync(&self) -> String {
        self.node(&["sync", "--operator", "王科员"])
    }

    /// The satisfaction rate (`sat_rate`, annual) of `units`, typed into a
    /// CSV as an official would and imported with `kaohe node import`.
    pub fn import_rates(&self, units: &[Unit], rate: &str) {
        let mut csv = String::from(
            "单位编号,单位名称,轮次,法治建设满意率（%）\nunit_id,unit_name,round,sat_rate\n",
        );
        for u in units {
            csv.push_str(&format!("{},{},年度,{rate}\n", u.id, u.name));
        }
        let file = self.root().join(format!("满意度-{rate}.csv"));
        std::fs::write(&file, csv).unwrap();
        let out = self.node(&["import", "--year", "2022", s(&file), "--operator", "王科员"]);
        assert!(out.contains("已导入"), "{out}");
    }

    /// `kaohe node submit --year 2022 --round <round>`, queued only.
    pub fn queue(&self, round: &str) -> String {
        self.node(&[
            "submit",
            "--year",
            "2022",
            "--round",
            round,
            "--operator",
            "王科员",
            "--no-deliver",
        ])
    }

    /// The hub's database, read-only.
    pub fn hub_db(&self) -> rusqlite::Connection {
        read_only(&self.hub_dir.join("hub.db"))
    }

    /// The node's store, read-only.
    pub fn node_db(&self) -> rusqlite::Connection {
        read_only(&self.node_dir.join("node.db"))
    }

    /// Node outbox entries by state.
    pub fn outbox_count(&self, state: &str) -> i64 {
        count(
            &self.node_db(),
            "SELECT count(*) FROM outbox WHERE state = ?1",
            [state],
        )
    }

    /// Rows of the hub's `submissions` (or of `results`).
    pub fn hub_rows(&self, table: &str) -> i64 {
        count(&self.hub_db(), &format!("SELECT count(*) FROM {table}"), [])
    }

    /// Every outbox entry the node holds a receipt for is in the hub's
    /// database under the same digest, node and sequence; returns how
    /// many receipts the node holds.
    pub fn receipts_are_at_the_hub(&self) -> usize {
        let node = self.node_db();
        let hub = self.hub_db();
        let key_id: String = node
            .query_row("SELECT DISTINCT key_id FROM outbox", [], |r| r.get(0))
            .unwrap();
        let mut stmt = node
            .prepare("SELECT sequence, digest FROM outbox WHERE state = 'accepted'")
            .unwrap();
        let held: Vec<(i64, Vec<u8>)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        for (sequence, digest) in &held {
            let stored: Option<(String, i64)> = hub
                .query_row(
                    "SELECT node_id, sequence FROM submissions WHERE digest = ?1",
                    [digest],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .ok();
            assert_eq!(
                stored,
                Some((key_id.clone(), *sequence)),
                "the node holds a receipt for #{sequence} that the hub did not store"
            );
        }
        held.len()
    }
}

impl Drop for Federation {
    /// A failing test leaves no hub behind.
    fn drop(&mut self) {
        if let Some(mut child) = self.server.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn read_only(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap_or_else(|e| panic!("open {} read-only: {e}", path.display()))
}

pub fn count<P: rusqlite::Params>(conn: &rusqlite::Connection, sql: &str, params: P) -> i64 {
    conn.query_row(sql, params, |r| r.get(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

pub fn strings(conn: &rusqlite::Connection, sql: &str) -> Vec<String> {
    let mut stmt = conn.prepare(sql).unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The cells of the table row of `text` whose first cell is `first`
/// (tables pad their columns with at least two spaces).
pub fn row<'a>(text: &'a str, first: &str) -> Vec<&'a str> {
    text.lines()
        .map(cells)
        .find(|c| c.first() == Some(&first))
        .unwrap_or_else(|| panic!("no row {first:?} in:\n{text}"))
}

/// The counts of `kaohe node status`: 待发送 发送中 待重发 已接收 被拒绝 已作废.
pub fn outbox_table(status: &str) -> Vec<&str> {
    let mut lines = status.lines().skip_while(|l| !l.starts_with("待发送"));
    assert_eq!(
        lines.next().map(cells),
        Some(vec![
            "待发送",
            "发送中",
            "待重发",
            "已接收",
            "被拒绝",
            "已作废"
        ]),
        "{status}"
    );
    lines.nth(1).map(cells).unwrap_or_default()
}

/// The cells of one table line.
pub fn cells(line: &str) -> Vec<&str> {
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect()
}

/// The block of `text` from the line starting with `heading` to the next
/// blank line.
pub fn section<'a>(text: &'a str, heading: &str) -> &'a str {
    let start = text
        .find(heading)
        .unwrap_or_else(|| panic!("no {heading:?} in:\n{text}"));
    let rest = &text[start..];
    &rest[..rest.find("\n\n").unwrap_or(rest.len())]
}

/// `PRAGMA integrity_check` says `ok`.
pub fn integrity_ok(conn: &rusqlite::Connection) {
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}
