//! The whole federation through the real `kaohe` binary: two pack
//! authorities, a county hub and an assessor node, every one a separate
//! process driven through the commands an official would type (`kaohe pack
//! …`, `kaohe hub …`, `kaohe node …`). The tests read the hub's SQLite file
//! read-only to check what was stored, and what the node holds through
//! `kaohe_node`'s store; only where a fault must strike at an exact point
//! of a delivery (a chunk recorded, then a kill) do they run the node's
//! delivery pass in-process ([`Federation::deliver_pass`]).
//!
//! Layout:
//! - this file: [`Federation`] (the authorities' keys, the hub's data
//!   directory and its `kaohe hub serve` child, one node), the helpers they
//!   share; `pki`: the root tests' one test CA; `read`: reading what the
//!   commands printed (table rows, sections) and what the databases hold;
//!   `stores`: the [`Federation`]'s read-only views of the hub's and the
//!   node's databases (rows, accepted submissions, receipts at the hub);
//! - `refusals`: one table of refusals — out of scope, revoked node,
//!   superseded pack version — each with the hub's Chinese reason at the
//!   node, nothing stored;
//! - `offline`: sync, a hub that is down while the node submits, delivery
//!   once it is up, a permanent refusal, the same envelope again, a node
//!   clock hours off, results and objections;
//! - `hub_killed`: the hub SIGKILLed in the middle of a 2,000-envelope
//!   stream, restarted, everything stored exactly once;
//! - `node_killed`: the node, then the hub, killed mid-stream at a recorded
//!   chunk;
//! - `packs`: a corrected pack, under-signed then signed by both authorities,
//!   replacing results not yet sent;
//! - `late`: a node offline across a round's deadline catches up; its
//!   reports are accepted and marked late (迟报), the on-time ones are not;
//! - `not_applicable`: an item marked not applicable in the node's
//!   template, replayed and converted at the hub, printed with its reason
//!   (issue #13 §2);
//! - `pack_safety`: a pack that scores otherwise than its self-test, and a
//!   module built to be slow to compile, refused with the last good pack
//!   kept (issue #13 §3);
//! - `certs`: TLS and mTLS between node and hub, and every certificate
//!   fault the node must refuse or be refused for;
//! - `deadlines`: delivering to a hub that never answers;
//! - `log`: the year's transparency log as the node witnesses it — a
//!   rewritten history, a removed leaf and a forked log refused on the
//!   next sync, delivery stopped until an official resolves it, nothing
//!   lost; `tamper`: a hub's files changed as someone with access would
//!   (shared with the demo's tests);
//! - `keys`: a key rotated mid-year (history and sequence kept, no clash),
//!   a double report settled by a ruling (裁定);
//! - `roster`: a roster refused for a category the year's pack does not
//!   know and an unknown 考核主体; a name with full-width digits stored as
//!   the node's template writes it;
//! - `wire`: a frame that is not protobuf, in a stream and alone, against
//!   the real `kaohe hub serve`;
//! - `scope`: a township node and the roster — its own township refused
//!   unless the scope says so, warnings at registration, a scope edited
//!   mid-year, why a unit is not assessed;
//! - `approval`: 审定 locks the year — every change after it refused naming
//!   the 文号, the audited reopening and the new approval the exports name;
//!   a superseded pack's results awaiting re-evaluation until the node's
//!   next sync resubmits them.

mod approval;
mod certs;
mod deadlines;
mod hub_killed;
mod keys;
mod late;
mod log;
mod node_killed;
mod not_applicable;
mod offline;
mod pack_safety;
mod packs;
mod pki;
mod read;
mod refusals;
mod roster;
mod scope;
mod stores;
pub mod tamper;
mod wire;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use kaohe_node::config::NodeConfig;
use kaohe_node::deliver::{self, ChunkReport, DeliverOptions, DeliveryLock, PassReport};
use kaohe_node::outbox::{Entry, State};
use kaohe_node::store::Store;
use kaohe_proto::PublicKey;

use crate::path_str as s;
use crate::{kaohe, kaohe_ok};
use read::{cells, count, integrity_ok, outbox_table, read_only, row, section, strings};

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

/// stdout and stderr of a finished command, together.
pub fn all_output(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
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
    /// 上级单位 (empty: none).
    pub parent: &'static str,
    pub assessor: &'static str,
}

impl Unit {
    /// A government department (category 4), assessed by the county office.
    pub fn department(i: usize) -> Unit {
        Unit {
            id: format!("u{i:04}"),
            name: format!("宝丰县测试局{i:04}"),
            category: "government_department",
            parent: "",
            assessor: "依法治县办",
        }
    }

    /// A county enterprise (category 8): never in the node's scope, which
    /// is the county's government departments.
    pub fn enterprise() -> Unit {
        Unit {
            id: "qiye01".into(),
            name: "宝丰县某国有企业".into(),
            category: "enterprise",
            parent: "",
            assessor: "依法治县办",
        }
    }
}

/// The roster CSV `kaohe hub units import` reads.
pub fn roster_csv(units: &[Unit]) -> String {
    let mut csv = String::from("单位编号,单位名称,类别,上级单位,主管部门,考核主体\n");
    for u in units {
        csv.push_str(&format!(
            "{},{},{},{},,{}\n",
            u.id, u.name, u.category, u.parent, u.assessor
        ));
    }
    csv
}

/// A pack authority's key, made with `kaohe pack keygen`.
pub struct Authority {
    pub key: PathBuf,
    pub public: String,
}

/// A county: two pack authorities (the hub pins both with threshold 1, the
/// node with threshold 2), the hub's data directory (and its server while
/// it runs) and one assessor node delegated the county's government
/// departments, all under one temporary directory.
pub struct Federation {
    pub tmp: tempfile::TempDir,
    pub authorities: [Authority; 2],
    pub hub_dir: PathBuf,
    pub receipt_key: String,
    pub node_dir: PathBuf,
    pub node_key: String,
    /// The node's key id, as the hub names the node in its messages.
    pub node_key_id: String,
    pub units: Vec<Unit>,
    /// What `kaohe hub node add` printed when the node was registered
    /// (its warnings among it).
    pub registered: String,
    server: Option<Child>,
}

impl Federation {
    /// `kaohe pack keygen` twice, `kaohe hub init`, both authorities pinned
    /// in `hub.toml` (threshold 1), the Baofeng 2022 rubric built as v1 and
    /// signed by both (`pack build/sign`), `pack publish`, the roster of `n`
    /// government departments, `kaohe node init` pinning both authorities
    /// (threshold 2) and the hub's receipt key, and `kaohe hub node add` for
    /// categories `government_department`, `methods`, year 2022. The hub is
    /// not serving yet.
    pub fn new(n: usize, methods: &str) -> Federation {
        Federation::with(
            (1..=n).map(Unit::department).collect(),
            "county_office",
            &[
                "--assessor",
                "county_office",
                "--categories",
                "government_department",
                "--methods",
                methods,
                "--years",
                "2022",
            ],
        )
    }

    /// [`Federation::new`] with another roster and node: `units` imported,
    /// the node initialised as `init_assessor` and registered with
    /// `kaohe hub node add --name … --key … <register>`.
    pub fn with(units: Vec<Unit>, init_assessor: &str, register: &[&str]) -> Federation {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let authority = |stem: &str| {
            let key = root.join(format!("authority-{stem}.key"));
            let public = key_in(&kaohe_ok(&["pack", "keygen", "-o", s(&key)]), "公钥");
            Authority { key, public }
        };
        let authorities = [authority("a"), authority("b")];
        let hub_dir = root.join("hub");
        let mut f = Federation {
            tmp,
            authorities,
            receipt_key: String::new(),
            node_dir: root.join("node"),
            node_key: String::new(),
            node_key_id: String::new(),
            hub_dir,
            units,
            registered: String::new(),
            server: None,
        };
        f.receipt_key = key_in(&f.hub(&["init"]), "回执公钥");
        std::fs::write(
            f.hub_dir.join("hub.toml"),
            format!(
                "[packs]\nauthorities = [\"{}\", \"{}\"]\nthreshold = 1\n",
                f.authorities[0].public, f.authorities[1].public
            ),
        )
        .unwrap();
        let v1 = f.build_pack(1);
        let out = f.hub(&["pack", "publish", s(&v1)]);
        assert!(out.contains("已发布规则包 baofeng-2022 v1"), "{out}");
        let units = f.units.clone();
        f.import_roster(&units);

        let node_dir = f.node_dir.clone();
        (f.node_key, f.node_key_id) = f.init_node(&node_dir, NODE_NAME, init_assessor);
        let key = f.node_key.clone();
        let mut add = vec!["node", "add", "--name", NODE_NAME, "--key", &key];
        add.extend_from_slice(register);
        let out = f.hub(&add);
        assert!(out.contains("已登记节点"), "{out}");
        f.registered = out;
        f
    }

    /// `kaohe node init` of a node in `dir` pinning both authorities
    /// (threshold 2) and the hub's receipt key; returns its public key and
    /// key id.
    pub fn init_node(&self, dir: &Path, name: &str, assessor: &str) -> (String, String) {
        let out = kaohe_ok(&[
            "node",
            "--data-dir",
            s(dir),
            "init",
            "--hub",
            "http://127.0.0.1:1",
            "--name",
            name,
            "--assessor",
            assessor,
            "--authority-key",
            &self.authorities[0].public,
            "--authority-key",
            &self.authorities[1].public,
            "--threshold",
            "2",
            "--hub-receipt-key",
            &self.receipt_key,
        ]);
        let key_id = out
            .lines()
            .find_map(|l| l.split_once("密钥编号（key id）："))
            .map(|(_, id)| id.trim().to_owned())
            .unwrap_or_else(|| panic!("no key id in:\n{out}"));
        (key_in(&out, "公钥"), key_id)
    }

    pub fn root(&self) -> &Path {
        self.tmp.path()
    }

    /// The ids of [`Federation::units`], in order.
    pub fn unit_ids(&self) -> Vec<String> {
        self.units.iter().map(|u| u.id.clone()).collect()
    }

    /// The Baofeng 2022 rubric as `version`, compiled and signed by both
    /// authorities with `kaohe pack build` and `kaohe pack sign`.
    pub fn build_pack(&self, version: u32) -> PathBuf {
        self.build_pack_signed_by(version, &[&self.authorities[0], &self.authorities[1]])
    }

    /// [`Federation::build_pack`], signed by `signers` only.
    pub fn build_pack_signed_by(&self, version: u32, signers: &[&Authority]) -> PathBuf {
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
        // The rubric's hand-worked fixtures become the pack's self-test.
        let fixtures =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("rulepacks/baofeng-2022/fixtures");
        kaohe_ok(&[
            "pack",
            "build",
            s(&rubric),
            "-o",
            s(&wasm),
            "--fixtures",
            s(&fixtures),
        ]);
        let mut sign = vec!["pack", "sign", s(&wasm)];
        for a in signers {
            sign.extend(["--key", s(&a.key)]);
        }
        kaohe_ok(&sign);
        wasm
    }

    /// `kaohe hub --data-dir … --operator … <args>`, which must succeed.
    pub fn hub(&self, args: &[&str]) -> String {
        kaohe_ok(&self.hub_args(args))
    }

    /// `kaohe hub … <args>`, which must fail; returns what it printed.
    pub fn hub_fails(&self, args: &[&str]) -> String {
        let o = kaohe(&self.hub_args(args));
        let text = all_output(&o);
        assert!(!o.status.success(), "kaohe hub {args:?} succeeded:\n{text}");
        text
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
    /// node at the new address over http (port 0: it changes on every
    /// start).
    pub fn start_hub(&mut self, now: Option<&str>) -> String {
        let addr = self.serve(now, &[]);
        self.point_node_at(&format!("http://{addr}"), &[]);
        addr
    }

    /// Starts the hub on the real clock with `serve_args` (its TLS files,
    /// see [`pki::TestCa::serve_args`]) and points the node at it over
    /// https with the given `[hub]` files (`ca_cert`, `client_cert`, …).
    pub fn start_tls_hub(&mut self, serve_args: &[OsString], files: &[(&str, PathBuf)]) {
        let addr = self.serve(None, serve_args);
        let port = addr.rsplit(':').next().unwrap();
        self.point_node_at(&format!("https://127.0.0.1:{port}"), files);
    }

    /// Spawns `kaohe hub serve` and returns its address once the hub wrote
    /// it (it writes it after binding).
    fn serve(&mut self, now: Option<&str>, extra: &[OsString]) -> String {
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
            .args(extra)
            .env_remove("KAOHE_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn kaohe hub serve");
        self.server = Some(child);
        poll("the hub's address file", || {
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
        })
    }

    /// Stops the hub cleanly and checks both databases' integrity: how
    /// every test ends.
    pub fn finish(mut self) {
        self.stop_hub();
        integrity_ok(&self.hub_db());
        integrity_ok(&self.node_db());
    }

    /// SIGTERM, as systemd stops it: the hub shuts down cleanly.
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

    /// Rewrites node.toml's `[hub]` as its official would: `address =
    /// <url>`, then `files` (`ca_cert`, `client_cert`, `client_key`, `crl`)
    /// in place of any earlier ones. The rewritten config must pass the
    /// node's check.
    fn point_node_at(&self, url: &str, files: &[(&str, PathBuf)]) {
        point_dir_at(&self.node_dir, url, files);
        self.config();
    }

    /// Sets `key` of node.toml's `[hub]` to the file `path`, replacing the
    /// line if there is one (the rewritten config must pass the check).
    pub fn set_hub_file(&self, key: &str, path: &Path) {
        let file = self.node_dir.join("node.toml");
        let text = std::fs::read_to_string(&file).unwrap();
        let line = format!("{key} = {:?}", path.display().to_string());
        let mut out: Vec<String> = text
            .lines()
            .filter(|l| !l.starts_with(&format!("{key} =")))
            .map(str::to_string)
            .collect();
        let at = out
            .iter()
            .position(|l| l.starts_with("address = "))
            .unwrap()
            + 1;
        out.insert(at, line);
        std::fs::write(&file, out.join("\n") + "\n").unwrap();
        self.config();
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

    /// `kaohe node …`, which must fail; returns what it printed.
    pub fn node_fails(&self, args: &[&str]) -> String {
        let o = self.node_output(args);
        let text = all_output(&o);
        assert!(
            !o.status.success(),
            "kaohe node {args:?} succeeded:\n{text}"
        );
        text
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

    /// `kaohe node submit --year 2022` (the annual round), delivered at once.
    pub fn submit(&self) -> String {
        self.node(&["submit", "--year", "2022", "--operator", "王科员"])
    }

    /// `kaohe node submit --year 2022` with the hub down: everything is
    /// queued, and the command fails like `deliver`, saying how many
    /// entries wait and why in Chinese (no English OS tail).
    pub fn submit_hub_down(&self) -> String {
        let err = self.node_fails(&["submit", "--year", "2022", "--operator", "王科员"]);
        assert!(err.contains("份提交未能送达，已保存待重发"), "{err}");
        assert!(err.contains("无法连接汇总中心"), "{err}");
        assert!(!err.contains("Connection refused"), "{err}");
        err
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

    /// The node's configuration, as the node reads and checks it.
    pub fn config(&self) -> NodeConfig {
        NodeConfig::load_from_dir(&self.node_dir).unwrap()
    }

    /// The node's store, through `kaohe_node`.
    pub fn store(&self) -> Store {
        Store::open(&self.config().store_file).unwrap()
    }

    /// The node's outbox, oldest first.
    pub fn entries(&self) -> Vec<Entry> {
        self.store().outbox(None).unwrap()
    }

    /// Years with a synced scope.
    pub fn scope_years(&self) -> Vec<u16> {
        self.store().scope_years().unwrap()
    }

    /// One delivery pass of the node in-process, with an observer of each
    /// recorded chunk.
    pub fn deliver_pass(&self, observer: &mut dyn FnMut(&ChunkReport)) -> PassReport {
        deliver_pass(&self.config(), &DeliverOptions::default(), observer)
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

/// One delivery pass of the node whose configuration is `config`, run
/// in-process: what `kaohe node deliver` does, with an observer of each
/// recorded chunk.
pub fn deliver_pass(
    config: &NodeConfig,
    options: &DeliverOptions,
    observer: &mut dyn FnMut(&ChunkReport),
) -> PassReport {
    let hub_key: PublicKey = config.hub.receipt_key.expect("receipt key pinned");
    let lock = DeliveryLock::acquire(&config.store_file).unwrap();
    let mut store = Store::open(&config.store_file).unwrap();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(deliver::deliver_pass(
            &lock,
            &mut store,
            config,
            &hub_key,
            options,
            &jiff::Timestamp::now,
            observer,
        ))
        .unwrap()
}

/// Outbox entries by state.
pub fn states(entries: &[Entry]) -> BTreeMap<&'static str, usize> {
    let mut m = BTreeMap::new();
    for e in entries {
        *m.entry(e.state.id()).or_insert(0) += 1;
    }
    m
}

/// Rewrites the `[hub]` of the node.toml in `dir` as its official would:
/// `address = <url>`, then `files` (`ca_cert`, `client_cert`,
/// `client_key`, `crl`) in place of any earlier ones.
pub fn point_dir_at(dir: &Path, url: &str, files: &[(&str, PathBuf)]) {
    let path = dir.join("node.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("\naddress = "), "{text}");
    let mut out = Vec::new();
    for l in text.lines() {
        if ["ca_cert =", "client_cert =", "client_key =", "crl ="]
            .iter()
            .any(|k| l.starts_with(k))
        {
            continue;
        }
        if l.starts_with("address = ") {
            out.push(format!("address = \"{url}\""));
            for (k, p) in files {
                out.push(format!("{k} = {:?}", p.display().to_string()));
            }
        } else {
            out.push(l.to_owned());
        }
    }
    std::fs::write(&path, out.join("\n") + "\n").unwrap();
}
