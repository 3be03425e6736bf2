//! `kaohe node …` end to end: the command line in-process on a real data
//! directory with the Baofeng 2022 rubric, a real child process killed in
//! the middle of an import, and — from "the federation" down — a real hub:
//! the `kaohe` binary (`kaohe hub serve`) as a child process, killed with
//! SIGKILL and restarted while the node syncs and delivers.
//!
//! **How the hub binary is found.** An integration test of `kaohe-node`
//! does not get the root package's binary built for it (`CARGO_BIN_EXE_*`
//! exists only in the root package's own tests). [`kaohe_bin`] takes
//! `target/<profile>/kaohe` beside this test binary when it is newer than
//! every source the hub is built from (as right after `cargo nextest run
//! --workspace` or `cargo build`, which build it), and otherwise runs
//! `cargo build -p kaohe --bin kaohe` once per test process with the same
//! cargo, target directory and profile — never a stale hub, and no rebuild
//! when it is current (a `-p kaohe` build resolves features differently
//! from `-p kaohe-node`, so building unconditionally would recompile the
//! TLS stack on every run). Cargo releases the build lock before it runs
//! tests, so this works under `cargo test` too; if another crate of the
//! workspace does not compile, these tests fail saying so.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use clap::Parser as _;
use kaohe_node::cli;
use kaohe_node::config::NodeConfig;
use kaohe_node::import;
use kaohe_node::store::{
    Actor, EvidenceRow, HistoryRow, NewPack, PROGRESS_EVERY, Scope, Store, UnitInfo,
};
use kaohe_proto::{Envelope, PackIdentity, SigningKeyPair};
use kaohe_rulepacks::manifest::Round;
use kaohe_tables::sheet::{Format, Limits};
use sha2::Digest as _;

mod deadlines;

mod certs;

#[derive(Debug, clap::Parser)]
struct Cli {
    #[command(flatten)]
    args: cli::Args,
}

/// Runs `kaohe node <args>` in-process.
fn node(dir: &Path, args: &[&str]) -> anyhow::Result<()> {
    let mut argv = vec![
        "kaohe-node".to_string(),
        "--data-dir".into(),
        dir.display().to_string(),
    ];
    argv.extend(args.iter().map(|s| s.to_string()));
    let cli = Cli::try_parse_from(argv).map_err(|e| anyhow::anyhow!("{e}"))?;
    cli::run(cli.args)
}

fn baofeng() -> kaohe_rulepacks::rubric::CheckedRubric {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rulepacks/baofeng-2022/rubric.toml");
    match kaohe_rulepacks::rubric::load(&path) {
        Ok(r) => r,
        Err(e) => panic!("the Baofeng rubric does not compile: {e}"),
    }
}

fn actor(name: &str) -> Actor {
    Actor {
        operator: name.into(),
        at: jiff::Timestamp::from_second(1_700_000_000).expect("fixed time"),
    }
}

fn unit(id: &str, name: &str, category: &str) -> UnitInfo {
    UnitInfo {
        unit_id: id.into(),
        name: name.into(),
        category_id: category.into(),
        parent_id: None,
        supervising_dept: None,
    }
}

/// What sync will do: install a verified pack and the year's scope.
fn install(store: &mut Store, module: &[u8], units: Vec<UnitInfo>, methods: &[&str]) {
    let rubric = baofeng();
    let m = &rubric.manifest;
    let identity = PackIdentity {
        id: m.pack.id.clone(),
        year: 2022,
        version: m.pack.version,
        module_sha256: sha2::Sha256::digest(module).into(),
    };
    let authority = SigningKeyPair::from_seed(&[3; 32]);
    let signature = Envelope::sign("application/vnd.kaohe.test", module.to_vec(), &[&authority]);
    store
        .install_pack(
            &NewPack {
                identity: &identity,
                module,
                manifest: m,
                signature: &signature,
            },
            &actor("sync"),
        )
        .expect("install the pack");
    store
        .replace_scope(&Scope {
            year: 2022,
            units,
            methods: methods.iter().map(|s| s.to_string()).collect(),
        })
        .expect("replace the scope");
}

fn snapshot(store: &Store) -> (Vec<EvidenceRow>, Vec<HistoryRow>) {
    (
        store.evidence(2022).expect("evidence"),
        store.history(2022, None).expect("history"),
    )
}

#[test]
fn init_template_import_set_evaluate_and_submit_through_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("county-office");
    let authority = SigningKeyPair::from_seed(&[3; 32]).public().to_string();

    // A bad init names the problem and creates nothing.
    let err = node(
        &dir,
        &[
            "init",
            "--hub",
            "https://127.0.0.1:7443",
            "--name",
            "宝丰县依法治县办",
            "--assessor",
            "county_office",
            "--authority-key",
            &authority,
            "--threshold",
            "2",
        ],
    )
    .unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("pack_authorities.threshold") && msg.contains("hub.ca_cert"),
        "{msg}"
    );
    assert!(!dir.exists());

    node(
        &dir,
        &[
            "init",
            "--hub",
            "http://127.0.0.1:7443",
            "--name",
            "宝丰县依法治县办",
            "--assessor",
            "county_office",
            "--authority-key",
            &authority,
        ],
    )
    .unwrap();
    let config = NodeConfig::load_from_dir(&dir).unwrap();
    assert_eq!(config.authorities.threshold, 1);
    SigningKeyPair::load(&config.key_file).unwrap();

    // The county office distributes the compiled Baofeng pack and its
    // authority signature; the node verifies and activates it.
    let module = kaohe_rulepacks::compile::compile(&baofeng()).expect("compile the Baofeng rubric");
    let wasm = tmp.path().join("baofeng-2022.wasm");
    std::fs::write(&wasm, &module).unwrap();
    let signer = SigningKeyPair::from_seed(&[3; 32]);
    let envelope = kaohe_rulepacks::sign::sign_pack(&module, 1_700_000_000, &[&signer]).unwrap();
    std::fs::write(
        tmp.path().join("baofeng-2022.wasm.sig"),
        envelope.to_protobuf(),
    )
    .unwrap();
    // Signed by an authority this node does not pin: refused.
    let stranger = SigningKeyPair::from_seed(&[4; 32]);
    let foreign = kaohe_rulepacks::sign::sign_pack(&module, 1_700_000_000, &[&stranger]).unwrap();
    let foreign_sig = tmp.path().join("foreign.sig");
    std::fs::write(&foreign_sig, foreign.to_protobuf()).unwrap();
    let err = node(
        &dir,
        &[
            "pack",
            "install",
            wasm.to_str().unwrap(),
            "--signature",
            foreign_sig.to_str().unwrap(),
            "--operator",
            "王",
        ],
    )
    .unwrap_err();
    assert!(format!("{err:#}").contains("未启用"), "{err:#}");
    node(
        &dir,
        &[
            "pack",
            "install",
            wasm.to_str().unwrap(),
            "--operator",
            "王",
        ],
    )
    .unwrap();
    node(&dir, &["pack", "list"]).unwrap();
    // No hub here: the scope goes in through the store API (sync against
    // a real hub is tested below).
    {
        let mut store = Store::open(&config.store_file).unwrap();
        assert!(store.active_pack(2022).unwrap().is_some());
        store
            .replace_scope(&Scope {
                year: 2022,
                units: vec![
                    unit("xiaodian", "肖旗乡", "township"),
                    unit("zhaozhuang", "赵庄镇", "township"),
                ],
                methods: vec!["satisfaction".into(), "daily".into()],
            })
            .unwrap();
    }

    let xlsx = tmp.path().join("2022.xlsx");
    node(
        &dir,
        &["template", "--year", "2022", "-o", xlsx.to_str().unwrap()],
    )
    .unwrap();
    assert!(xlsx.is_file());
    // Not overwritten without --force.
    assert!(
        node(
            &dir,
            &["template", "--year", "2022", "-o", xlsx.to_str().unwrap()]
        )
        .is_err()
    );

    // A CSV saved by Chinese Excel (GB18030) with every required value.
    let csv = tmp.path().join("2022.csv");
    node(
        &dir,
        &[
            "template",
            "--year",
            "2022",
            "--encoding",
            "gb18030",
            "-o",
            csv.to_str().unwrap(),
        ],
    )
    .unwrap();
    let bytes = std::fs::read(&csv).unwrap();
    let (text, _, bad) = encoding_rs::GB18030.decode(&bytes);
    assert!(!bad);
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let ids: Vec<String> = lines[1].split(',').map(str::to_string).collect();
    let col = |id: &str| {
        ids.iter()
            .position(|c| c == id)
            .unwrap_or_else(|| panic!("no column {id}"))
    };
    for line in lines.iter_mut().skip(2) {
        let mut cells: Vec<String> = line.split(',').map(str::to_string).collect();
        if cells[2] == "年度" {
            cells[col("sat_rate")] = "９５．５".into(); // full-width, accepted
        } else {
            cells[col("q_study_sessions")] = "2".into();
            cells[col("q_pufa_events")] = "3".into();
            cells[col("q_pufa_posts")] = "12".into();
        }
        *line = cells.join(",");
    }
    let filled = encoding_rs::GB18030
        .encode(&(lines.join("\r\n") + "\r\n"))
        .0
        .into_owned();
    std::fs::write(&csv, filled).unwrap();
    node(
        &dir,
        &[
            "import",
            csv.to_str().unwrap(),
            "--year",
            "2022",
            "--operator",
            "王科员",
        ],
    )
    .unwrap();

    // A correction from the command line, then the history says who did what.
    let err = node(
        &dir,
        &[
            "set",
            "xiaodian",
            "sat_rate",
            "100.5",
            "--year",
            "2022",
            "--operator",
            "李",
        ],
    )
    .unwrap_err();
    assert!(format!("{err:#}").contains("超出取值范围"), "{err:#}");
    node(
        &dir,
        &[
            "set",
            "xiaodian",
            "sat_rate",
            "96",
            "--year",
            "2022",
            "--operator",
            "李科长",
        ],
    )
    .unwrap();
    node(&dir, &["history", "--year", "2022", "--unit", "xiaodian"]).unwrap();
    {
        let store = Store::open(&config.store_file).unwrap();
        let h = store.history(2022, Some("xiaodian")).unwrap();
        let last = h.last().unwrap();
        assert_eq!(
            (last.old_value, last.new_value, last.operator.as_str()),
            (Some(9550), Some(9600), "李科长")
        );
        assert_eq!(
            store
                .evidence_of("zhaozhuang", 2022, Round::Q3)
                .unwrap()
                .get("q_pufa_posts"),
            Some(&1200)
        );
    }

    // Evaluate (dry run) and submit with the compiled pack in the sandbox.
    node(
        &dir,
        &[
            "evaluate",
            "--year",
            "2022",
            "--round",
            "Q1",
            "--operator",
            "王",
        ],
    )
    .unwrap();
    node(
        &dir,
        &[
            "submit",
            "--year",
            "2022",
            "--round",
            "annual",
            "--operator",
            "王",
        ],
    )
    .unwrap();
    node(
        &dir,
        &[
            "submit",
            "--year",
            "2022",
            "--round",
            "Q1",
            "--operator",
            "王",
        ],
    )
    .unwrap();
    node(&dir, &["outbox"]).unwrap();
    let store = Store::open(&config.store_file).unwrap();
    let entries = store.outbox(None).unwrap();
    let got: Vec<_> = entries
        .iter()
        .map(|e| (e.sequence, e.unit_id.as_str(), e.round, e.methods.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, "xiaodian", Round::Annual, "satisfaction"),
            (2, "zhaozhuang", Round::Annual, "satisfaction"),
            (3, "xiaodian", Round::Q1, "daily"),
            (4, "zhaozhuang", Round::Q1, "daily"),
        ]
    );
    let key = SigningKeyPair::load(&config.key_file).unwrap();
    let s = kaohe_proto::verify_submission(&entries[0].envelope, &key.public())
        .unwrap()
        .submission;
    assert_eq!(s.methods[0].evidence.get("sat_rate"), Some(&Some(9600)));
    store.integrity_check().unwrap();
}

/// Set in the child process of the kill test: the data directory to import into.
const CHILD_ENV: &str = "KAOHE_NODE_TEST_KILLED_IMPORT_DIR";
/// Printed by the child once it is inside the import's transaction.
const MARKER: &str = "KAOHE-CHILD-INSIDE-TRANSACTION";
const UNITS: usize = 1_200;

fn big_csv(dir: &Path, sat: &str) -> PathBuf {
    let mut text = String::from(
        "单位编号,单位名称,轮次,法治建设满意率（%）\nunit_id,unit_name,round,sat_rate\n",
    );
    for i in 0..UNITS {
        text.push_str(&format!("u{i:04},单位{i},年度,{sat}\n"));
    }
    let path = dir.join(format!("big-{sat}.csv"));
    std::fs::write(&path, text).unwrap();
    path
}

/// A child process's signal to its parent: prints `marker`, then blocks
/// until the parent kills it (the parent holds our stdin open).
fn announce_and_wait_to_be_killed(marker: &str) -> ! {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{marker}");
    let _ = out.flush();
    drop(out);
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    std::process::exit(4);
}

/// The child's part: import the big file and stop forever inside the
/// transaction, after the first progress report (the parent kills it).
fn child_import(dir: &Path) {
    let mut store = Store::open(&dir.join("node.db")).expect("child opens the store");
    let csv = big_csv(dir, "77");
    let mut progress = |_n: usize| announce_and_wait_to_be_killed(MARKER);
    let result = import::import_file(
        &mut store,
        &csv,
        2022,
        &actor("子进程"),
        &Limits::default(),
        &mut progress,
    );
    println!("KAOHE-CHILD-FINISHED {result:?}");
    std::process::exit(3);
}

/// RELIABILITY.md "node killed mid-import": a real process is killed
/// (SIGKILL) while its import transaction has written rows; afterwards the
/// store passes `integrity_check` and holds exactly what it held before.
#[test]
fn a_node_killed_mid_import_leaves_nothing_half_written() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        child_import(Path::new(&dir));
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut store = Store::create(&dir.join("node.db")).unwrap();
    let units = (0..UNITS)
        .map(|i| {
            unit(
                &format!("u{i:04}"),
                &format!("单位{i}"),
                "government_department",
            )
        })
        .collect();
    install(
        &mut store,
        b"module bytes for the kill test",
        units,
        &["satisfaction"],
    );
    // Earlier evidence that must survive untouched.
    let first = big_csv(dir, "60");
    let r = import::import_file(
        &mut store,
        &first,
        2022,
        &actor("王"),
        &Limits::default(),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(r.summary.added, UNITS);
    const {
        assert!(
            UNITS > PROGRESS_EVERY,
            "the child must report progress inside the transaction"
        )
    };
    let before = snapshot(&store);
    drop(store);

    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "a_node_killed_mid_import_leaves_nothing_half_written",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if line.contains(MARKER) {
            seen.push(line);
            break;
        }
        seen.push(line);
    }
    assert!(
        seen.last().is_some_and(|l| l.contains(MARKER)),
        "the child never got inside the transaction: {seen:?}"
    );
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success());

    let store = Store::open(&dir.join("node.db")).unwrap();
    store.integrity_check().unwrap();
    assert_eq!(
        snapshot(&store),
        before,
        "a killed import left changes behind"
    );
    drop(store);

    // The store is usable: the same import, not interrupted, goes through.
    let mut store = Store::open(&dir.join("node.db")).unwrap();
    let again = big_csv(dir, "77");
    let r = import::import_bytes(
        &mut store,
        "big-77.csv",
        &std::fs::read(&again).unwrap(),
        Format::Csv,
        2022,
        &actor("王"),
        &Limits::default(),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(r.summary.changed, UNITS);
}

// ------------------------------------------------------------ the federation --

use std::collections::{BTreeMap, BTreeSet};
use std::process::Child;
use std::sync::OnceLock;

use kaohe_node::deliver::{self, ChunkReport, DeliverOptions, DeliveryLock, PassReport};
use kaohe_node::outbox::{Entry, State};
use kaohe_proto::PublicKey;

/// The `kaohe` binary for `kaohe hub …` (see the module docs): the one in
/// this test binary's target directory if it is newer than every source
/// the hub is built from, else built now with cargo.
fn kaohe_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test binary's path");
        // target/<profile>/deps/node-<hash>
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("the test binary lives in target/<profile>/deps");
        let bin = profile_dir.join(format!("kaohe{}", std::env::consts::EXE_SUFFIX));
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let built = std::fs::metadata(&bin).and_then(|m| m.modified()).ok();
        let newest = newest_source(&workspace);
        if built.is_some_and(|b| b >= newest) {
            return bin;
        }
        let target_dir = profile_dir.parent().expect("target directory");
        let profile = profile_dir
            .file_name()
            .and_then(|n| n.to_str())
            .expect("profile directory name");
        let mut cargo = Command::new(env!("CARGO"));
        cargo
            .args([
                "build",
                "--quiet",
                "-p",
                "kaohe",
                "--bin",
                "kaohe",
                "--manifest-path",
            ])
            .arg(workspace.join("Cargo.toml"))
            .arg("--target-dir")
            .arg(target_dir);
        match profile {
            "debug" => {}
            "release" => {
                cargo.arg("--release");
            }
            other => {
                cargo.args(["--profile", other]);
            }
        }
        eprintln!("building the hub binary for the federation tests: {cargo:?}");
        let status = cargo.status().expect("run cargo to build the kaohe binary");
        assert!(
            status.success(),
            "`cargo build -p kaohe --bin kaohe` failed: these tests need the real hub binary"
        );
        assert!(bin.is_file(), "no binary at {}", bin.display());
        bin
    })
}

/// The newest modification time of what `kaohe hub …` is built from: the
/// manifests and lock file, and every file of `src/`, `hub/`, `proto/`
/// and `rulepacks/` (tests and benches aside). `node/` is left out on
/// purpose: the hub's behaviour does not depend on it, and editing the
/// node must not rebuild the whole binary before every test run.
fn newest_source(workspace: &Path) -> std::time::SystemTime {
    fn walk(path: &Path, newest: &mut std::time::SystemTime) {
        let Ok(meta) = std::fs::metadata(path) else {
            return;
        };
        if meta.is_dir() {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if matches!(name, "tests" | "benches" | "target") {
                return;
            }
            for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
                walk(&entry.path(), newest);
            }
        } else if let Ok(m) = meta.modified() {
            *newest = (*newest).max(m);
        }
    }
    let mut newest = std::time::SystemTime::UNIX_EPOCH;
    for part in [
        "Cargo.toml",
        "Cargo.lock",
        "src",
        "hub",
        "proto",
        "rulepacks",
    ] {
        walk(&workspace.join(part), &mut newest);
    }
    newest
}

fn authority_a() -> SigningKeyPair {
    SigningKeyPair::from_seed(&[31; 32])
}

fn authority_b() -> SigningKeyPair {
    SigningKeyPair::from_seed(&[32; 32])
}

/// The Baofeng 2022 rubric compiled as `version`, signed by `signers`,
/// written to `dir`; returns the module path (signature beside it, `.sig`).
fn baofeng_pack(dir: &Path, version: u32, signers: &[&SigningKeyPair]) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rulepacks/baofeng-2022/rubric.toml");
    let src = std::fs::read_to_string(&path).unwrap();
    assert!(
        src.contains("\nversion = 1\n"),
        "the [pack] version line moved"
    );
    let src = src.replacen("\nversion = 1\n", &format!("\nversion = {version}\n"), 1);
    let rubric = kaohe_rulepacks::rubric::compile("rubric.toml", &src)
        .unwrap_or_else(|e| panic!("the Baofeng rubric v{version} does not compile: {e:?}"));
    let module = kaohe_rulepacks::compile::compile(&rubric).expect("compile to wasm");
    let envelope = kaohe_rulepacks::sign::sign_pack(&module, 1_700_000_000, signers).unwrap();
    let wasm = dir.join(format!("baofeng-2022-v{version}-{}.wasm", signers.len()));
    std::fs::write(&wasm, &module).unwrap();
    let mut sig = wasm.clone().into_os_string();
    sig.push(".sig");
    std::fs::write(sig, envelope.to_protobuf()).unwrap();
    wasm
}

/// A hub data directory and, while it serves, its `kaohe hub serve` child.
struct HubProcess {
    dir: PathBuf,
    log: PathBuf,
    child: Option<Child>,
    receipt_key: String,
}

/// How long a starting hub may take to print its address before the test
/// gives up (a guard against a hung start, not a timing assertion).
const HUB_START_LIMIT: std::time::Duration = std::time::Duration::from_secs(300);

impl HubProcess {
    /// `kaohe hub init`, the authorities in `hub.toml` (threshold 1), and
    /// the 2022 roster.
    fn init(root: &Path, roster: &str) -> HubProcess {
        let dir = root.join("hub");
        let mut hub = HubProcess {
            log: root.join("hub.log"),
            dir,
            child: None,
            receipt_key: String::new(),
        };
        let out = hub.run(&["init"]);
        hub.receipt_key = out
            .lines()
            .find(|l| l.contains("回执公钥"))
            .and_then(|l| l.split('：').find(|w| w.starts_with("ed25519:")))
            .unwrap_or_else(|| panic!("`kaohe hub init` printed no receipt key:\n{out}"))
            .trim()
            .to_string();
        std::fs::write(
            hub.dir.join("hub.toml"),
            format!(
                "[packs]\nauthorities = [\"{}\", \"{}\"]\nthreshold = 1\n",
                authority_a().public(),
                authority_b().public()
            ),
        )
        .unwrap();
        hub.import_roster(roster);
        hub
    }

    fn command(&self) -> Command {
        let mut c = Command::new(kaohe_bin());
        c.arg("hub")
            .arg("--data-dir")
            .arg(&self.dir)
            .args(["--operator", "县依法治县办测试员"])
            .env_remove("KAOHE_LOG");
        c
    }

    /// Runs `kaohe hub <args>`; it must succeed. Returns stdout.
    fn run(&self, args: &[&str]) -> String {
        let out = self.command().args(args).output().expect("run kaohe hub");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "kaohe hub {args:?} failed:\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    }

    fn import_roster(&self, csv: &str) {
        let file = self.dir.join("名册.csv");
        std::fs::write(&file, csv).unwrap();
        self.run(&["units", "import", file.to_str().unwrap(), "--year", "2022"]);
    }

    fn publish(&self, wasm: &Path) -> String {
        self.run(&["pack", "publish", wasm.to_str().unwrap()])
    }

    /// Starts `kaohe hub serve` on a free loopback port and returns its
    /// address once the hub printed it (it prints after binding).
    fn start(&mut self) -> String {
        self.start_with(&[])
    }

    /// [`HubProcess::start`] with more `serve` options (TLS files).
    fn start_with(&mut self, extra: &[&std::ffi::OsStr]) -> String {
        assert!(self.child.is_none(), "the hub is already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut child = self
            .command()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn kaohe hub serve");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        // Reads the address, then keeps draining stdout so the hub never
        // writes into a closed pipe.
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if !sent
                    && let Some(addr) = line
                        .split('：')
                        .nth(1)
                        .filter(|_| line.contains("监听地址"))
                {
                    let _ = tx.send(addr.trim().to_string());
                    sent = true;
                }
            }
        });
        self.child = Some(child);
        match rx.recv_timeout(HUB_START_LIMIT) {
            Ok(addr) => addr,
            Err(_) => panic!(
                "the hub did not start:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            ),
        }
    }

    /// SIGKILL: no shutdown, no flush, nothing handed over.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The hub database, read-only.
    fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open_with_flags(
            self.dir.join("hub.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap()
    }

    /// Accepted submissions: digest → (pack version, committed_at, leaf index).
    fn submissions(&self) -> BTreeMap<Vec<u8>, (u32, i64, i64)> {
        let conn = self.db();
        let mut stmt = conn
            .prepare("SELECT digest, pack_version, committed_at, leaf_index FROM submissions")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?, r.get(3)?))))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn integrity_ok(&self) {
        let conn = self.db();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A hub with the Baofeng 2022 pack v1 (signed by both authorities) and a
/// registered node that pins both authorities with threshold 2 and the
/// hub's receipt key.
struct Federation {
    tmp: tempfile::TempDir,
    hub: HubProcess,
    node_dir: PathBuf,
    units: Vec<String>,
}

fn roster(units: &[String], extra: &[&str]) -> String {
    let mut csv = String::from("单位编号,单位名称,类别,上级单位,主管部门,考核主体\n");
    for u in units
        .iter()
        .map(String::as_str)
        .chain(extra.iter().copied())
    {
        csv.push_str(&format!("{u},单位{u},government_department,,,依法治县办\n"));
    }
    // A unit of another category: never in this node's scope.
    csv.push_str("qiye01,宝丰县某国有企业,enterprise,,,依法治县办\n");
    csv
}

fn federation(n: usize) -> Federation {
    let tmp = tempfile::tempdir().unwrap();
    let units: Vec<String> = (0..n).map(|i| format!("u{i:04}")).collect();
    let hub = HubProcess::init(tmp.path(), &roster(&units, &[]));
    let v1 = baofeng_pack(tmp.path(), 1, &[&authority_a(), &authority_b()]);
    let out = hub.publish(&v1);
    assert!(out.contains("已发布"), "{out}");
    let node_dir = tmp.path().join("node");
    node(
        &node_dir,
        &[
            "init",
            "--hub",
            "http://127.0.0.1:1",
            "--name",
            "宝丰县依法治县办",
            "--assessor",
            "county_office",
            "--authority-key",
            &authority_a().public().to_string(),
            "--authority-key",
            &authority_b().public().to_string(),
            "--threshold",
            "2",
            "--hub-receipt-key",
            &hub.receipt_key,
        ],
    )
    .unwrap();
    let config = NodeConfig::load_from_dir(&node_dir).unwrap();
    let key = SigningKeyPair::load(&config.key_file).unwrap();
    hub.run(&[
        "node",
        "add",
        "--name",
        "宝丰县依法治县办节点",
        "--assessor",
        "county_office",
        "--key",
        &key.public().to_string(),
        "--categories",
        "government_department",
        "--methods",
        "satisfaction",
        "--years",
        "2022",
    ]);
    Federation {
        tmp,
        hub,
        node_dir,
        units,
    }
}

impl Federation {
    /// Starts the hub and points the node at it (the address changes on
    /// every start: port 0).
    fn start_hub(&mut self) {
        let addr = self.hub.start();
        let path = self.node_dir.join("node.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let text: Vec<String> = text
            .lines()
            .map(|l| {
                if l.starts_with("address = ") {
                    format!("address = \"http://{addr}\"")
                } else {
                    l.to_string()
                }
            })
            .collect();
        std::fs::write(&path, text.join("\n") + "\n").unwrap();
    }

    fn node(&self, args: &[&str]) -> anyhow::Result<()> {
        node(&self.node_dir, args)
    }

    fn config(&self) -> NodeConfig {
        NodeConfig::load_from_dir(&self.node_dir).unwrap()
    }

    fn store(&self) -> Store {
        Store::open(&self.config().store_file).unwrap()
    }

    /// Satisfaction rates for `units` (`sat_rate` = `rate`), imported as an
    /// official would, from a CSV.
    fn import_rates(&self, units: &[String], rate: &str) {
        let mut csv = String::from(
            "单位编号,单位名称,轮次,法治建设满意率（%）\nunit_id,unit_name,round,sat_rate\n",
        );
        for u in units {
            csv.push_str(&format!("{u},单位{u},年度,{rate}\n"));
        }
        let mut store = self.store();
        import::import_bytes(
            &mut store,
            "满意度.csv",
            csv.as_bytes(),
            Format::Csv,
            2022,
            &actor("王科员"),
            &Limits::default(),
            &mut |_| {},
        )
        .expect("import the rates");
    }

    fn submit(&self, deliver: bool) {
        let mut args = vec!["submit", "--year", "2022", "--operator", "王科员"];
        if !deliver {
            args.push("--no-deliver");
        }
        self.node(&args).expect("submit");
    }

    /// One delivery pass in-process, with an observer of each chunk.
    fn deliver_pass(&self, observer: &mut dyn FnMut(&ChunkReport)) -> PassReport {
        let config = self.config();
        let hub_key: PublicKey = config.hub.receipt_key.expect("receipt key pinned");
        let lock = DeliveryLock::acquire(&config.store_file).unwrap();
        let mut store = self.store();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(deliver::deliver_pass(
                &lock,
                &mut store,
                &config,
                &hub_key,
                &DeliverOptions::default(),
                &jiff::Timestamp::now,
                observer,
            ))
            .unwrap()
    }

    fn entries(&self) -> Vec<Entry> {
        self.store().outbox(None).unwrap()
    }

    /// Every receipt the node holds verifies, is in the hub's database for
    /// exactly that commit, and no digest is there twice; returns how many
    /// the hub holds.
    fn receipts_match_the_hub(&self) -> usize {
        let hub_key = self.config().hub.receipt_key.unwrap();
        let at_hub = self.hub.submissions();
        for e in self.entries().iter().filter(|e| e.state == State::Accepted) {
            let receipt = e.decoded_receipt().unwrap().unwrap();
            kaohe_node::outbox::check_receipt(e, &receipt, &hub_key).unwrap();
            let (version, committed_at, leaf) = at_hub
                .get(e.digest.0.as_slice())
                .unwrap_or_else(|| panic!("receipt #{} is not in the hub database", e.sequence));
            assert_eq!(
                (*version, *committed_at, *leaf),
                (
                    e.pack_version,
                    receipt.leaf.commit_time,
                    i64::try_from(receipt.leaf_index).unwrap()
                ),
                "#{}: the receipt names another commit than the stored one",
                e.sequence
            );
        }
        let conn = self.hub.db();
        let (rows, distinct): (i64, i64) = conn
            .query_row(
                "SELECT count(*), count(DISTINCT digest) FROM submissions",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(rows, distinct);
        usize::try_from(rows).unwrap()
    }
}

fn states(entries: &[Entry]) -> BTreeMap<&'static str, usize> {
    let mut m = BTreeMap::new();
    for e in entries {
        *m.entry(e.state.id()).or_insert(0) += 1;
    }
    m
}

/// Sync (twice: nothing duplicated), submit while the hub is down (entries
/// wait in `retry` with a stored retry time), deliver once it is up; a
/// permanent rejection with the hub's reason; the same envelope again gets
/// the same receipt; a node clock three hours off still syncs.
#[test]
fn the_node_syncs_waits_out_a_hub_that_is_down_and_delivers_when_it_is_up() {
    let mut f = federation(6);
    f.start_hub();
    f.node(&["sync", "--operator", "王科员"]).unwrap();
    f.node(&["sync", "--operator", "王科员"]).unwrap();
    {
        let store = f.store();
        let scope = store.scope(2022).unwrap();
        assert_eq!(
            scope
                .units
                .iter()
                .map(|u| u.unit_id.clone())
                .collect::<Vec<_>>(),
            f.units,
            "the enterprise is outside the node's delegated categories"
        );
        assert_eq!(scope.methods, vec!["satisfaction".to_string()]);
        let packs = store.packs().unwrap();
        assert_eq!(packs.len(), 1, "synced twice, stored once: {packs:?}");
        assert_eq!((packs[0].0.version, packs[0].1), (1, true));
    }

    // The hub goes down; the node keeps working offline.
    f.hub.kill();
    // u0005 gets no value yet (see the rejection below).
    f.import_rates(&f.units[..5], "95.5");
    let before_submit = jiff::Timestamp::now().as_second();
    f.submit(true);
    let entries = f.entries();
    assert_eq!(entries.len(), 5);
    for e in &entries {
        assert_eq!((e.state, e.attempts), (State::Retry, 1), "#{}", e.sequence);
        let retry_at = e.next_attempt_at.expect("a stored retry time");
        assert!(retry_at > before_submit, "#{}: {retry_at}", e.sequence);
        assert!(
            e.last_error
                .as_deref()
                .unwrap()
                .contains("无法连接汇总中心")
        );
    }
    // `deliver` while it is still down: still waiting, nothing lost.
    assert!(
        f.node(&["deliver"]).is_err(),
        "an unreachable hub is reported"
    );
    assert_eq!(states(&f.entries()), BTreeMap::from([("retry", 5)]));

    // It comes back: everything is delivered, with receipts.
    f.start_hub();
    f.node(&["deliver"]).unwrap();
    assert_eq!(states(&f.entries()), BTreeMap::from([("accepted", 5)]));
    assert_eq!(f.receipts_match_the_hub(), 5);
    f.node(&["status", "--all"]).unwrap();

    // A permanent rejection: the county office took u0005 off the roster
    // after the node's last sync; its result is refused with the hub's
    // reason, and stays refused.
    let mut kept = f.units.clone();
    kept.retain(|u| u != "u0005");
    f.hub.import_roster(&roster(&kept, &[]));
    f.import_rates(&["u0005".to_string(), "u0001".to_string()], "88");
    f.submit(true);
    let entries = f.entries();
    let refused: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.state == State::Rejected)
        .collect();
    assert_eq!(refused.len(), 1, "{:?}", states(&entries));
    let r = refused[0];
    assert_eq!(r.unit_id, "u0005");
    assert_eq!(
        r.rejection_code.as_deref(),
        Some("REJECTION_CODE_OUT_OF_SCOPE")
    );
    let reason = r.last_error.as_deref().unwrap();
    assert!(
        reason.contains("u0005") && reason.contains("名册"),
        "{reason}"
    );
    let u1: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.unit_id == "u0001" && e.state == State::Accepted)
        .collect();
    assert_eq!(u1.len(), 2, "u0001's newer value is accepted too");
    f.node(&["deliver"]).unwrap();
    assert_eq!(
        f.store().outbox_entry(r.sequence).unwrap().unwrap().state,
        State::Rejected
    );
    assert_eq!(f.receipts_match_the_hub(), 6);

    // The same envelope again: the same receipt, and still one row.
    let first = &entries[0];
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let config = f.config();
    let again = rt.block_on(async {
        let mut client =
            kaohe_proto::pb::submission_service_client::SubmissionServiceClient::connect(
                config.hub.address.clone(),
            )
            .await
            .unwrap();
        client
            .submit(kaohe_proto::pb::Envelope::from(first.envelope.clone()))
            .await
            .unwrap()
            .into_inner()
    });
    let again = kaohe_proto::Receipt::try_from(again).unwrap();
    assert_eq!(again, first.decoded_receipt().unwrap().unwrap());
    assert_eq!(f.receipts_match_the_hub(), 6);

    // A node clock three hours slow: the hub would refuse a call signed
    // with it, but sync follows the hub's clock and succeeds.
    let key = SigningKeyPair::load(&config.key_file).unwrap();
    let skewed = || jiff::Timestamp::now().as_second() - 3 * 3600;
    rt.block_on(async {
        let mut raw = kaohe_proto::pb::unit_service_client::UnitServiceClient::connect(
            config.hub.address.clone(),
        )
        .await
        .unwrap();
        let mut request = tonic::Request::new(kaohe_proto::pb::ListMyUnitsRequest { year: 2022 });
        kaohe_proto::call_auth::sign_call(
            &mut request,
            &key,
            kaohe_proto::call_auth::paths::LIST_MY_UNITS,
            skewed(),
        );
        let refused = raw.list_my_units(request).await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");

        let hub = kaohe_node::client::connect(&config.hub, &Default::default())
            .await
            .unwrap();
        let units = hub.list_my_units(&key, Some(2022), &skewed).await.unwrap();
        assert_eq!(units.units.len(), 5);
        let offset = hub.clock_offset().expect("the hub's time was learned");
        assert!((3 * 3600 - 5..=3 * 3600 + 5).contains(&offset), "{offset}");
    });
    let mut store = f.store();
    let runtime = kaohe_rulepacks::runtime::Runtime::new(Default::default()).unwrap();
    let report = rt
        .block_on(async {
            let hub = kaohe_node::client::connect(&config.hub, &Default::default())
                .await
                .unwrap();
            kaohe_node::sync::sync(
                &mut store,
                &config,
                &key,
                &runtime,
                &hub,
                &actor("王"),
                &skewed,
            )
            .await
        })
        .unwrap();
    assert_eq!(report.scopes, vec![(2022, 5, 1)], "u0005 left the scope");
    assert_eq!(report.up_to_date.len(), 1);

    results_and_objections(&mut f);
    f.hub.integrity_ok();
    store.integrity_check().unwrap();
    drop(f.tmp);
}

/// `kaohe node results` and `object` against the real hub: this node's
/// units only, in a CJK table; an objection before the county office
/// notified the unit is refused with the hub's Chinese reason and nothing
/// is stored; one for a unit outside the scope is refused naming it.
///
/// Not covered here: an accepted objection. The hub notifies (and so
/// opens the review window for) assessed units only, and a unit of this
/// federation has satisfaction results alone, not all seven methods.
fn results_and_objections(f: &mut Federation) {
    let material = f.tmp.path().join("满意度测评说明.pdf");
    std::fs::write(&material, b"%PDF-1.4 the survey was run twice").unwrap();

    f.node(&["results", "--year", "2022"]).unwrap();
    let config = f.config();
    let key = SigningKeyPair::load(&config.key_file).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let now = || jiff::Timestamp::now().as_second();
    let results = rt.block_on(async {
        let hub = kaohe_node::client::connect(&config.hub, &Default::default())
            .await
            .unwrap();
        hub.list_results(
            &key,
            kaohe_proto::model::ListResultsRequest {
                year: 2022,
                round: None,
            },
            &now,
        )
        .await
        .unwrap()
        .results
    });
    assert_eq!(
        results
            .iter()
            .map(|r| r.unit_id.as_str())
            .collect::<Vec<_>>(),
        ["u0000", "u0001", "u0002", "u0003", "u0004"],
        "this node's units only (not u0005, off the roster, nor the enterprise)"
    );
    let text = kaohe_node::review::render_results(2022, &results);
    let u1 = text
        .lines()
        .find(|l| l.starts_with("u0001 "))
        .unwrap_or_else(|| panic!("no row for u0001:\n{text}"));
    // Satisfaction alone does not assess a unit: no scores, no deadlines.
    assert!(u1.contains("未考核"), "{u1}");
    assert!(
        results
            .iter()
            .all(|r| r.scores.is_none() && r.review_deadline.is_none()),
        "{results:?}"
    );

    let refused = f
        .node(&[
            "object",
            "--year",
            "2022",
            "--unit",
            "u0001",
            "--reason",
            "满意率测评样本有误",
            "--material",
            material.to_str().unwrap(),
        ])
        .unwrap_err();
    let text = format!("{refused:#}");
    assert!(
        text.contains("FAILED_PRECONDITION") && text.contains("尚未通报"),
        "{text}"
    );

    let m = kaohe_node::review::read_material(std::slice::from_ref(&material)).unwrap();
    let o = kaohe_node::review::objection("qiye01", 2022, "满意率测评样本有误", m);
    let e = rt
        .block_on(async {
            let hub = kaohe_node::client::connect(&config.hub, &Default::default())
                .await
                .unwrap();
            hub.file_objection(&key, o, &now).await
        })
        .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("PERMISSION_DENIED") && text.contains("qiye01") && text.contains("委托范围"),
        "{text}"
    );
    let filed: i64 = f
        .hub
        .db()
        .query_row("SELECT count(*) FROM objections", [], |r| r.get(0))
        .unwrap();
    assert_eq!(filed, 0, "a refused objection is not stored");
}

/// Set in the child process of the delivery kill test: the node directory.
const DELIVERY_CHILD_ENV: &str = "KAOHE_NODE_TEST_KILLED_DELIVERY_DIR";
const DELIVERY_MARKER: &str = "KAOHE-CHILD-FIRST-CHUNK-RECORDED";
/// More than one hub chunk (the hub commits at most 512 envelopes at once).
const MANY: usize = 600;

/// The child's part: deliver, and stop forever once the first chunk is
/// recorded (the parent kills it there).
fn child_deliver(dir: &Path) {
    let config = NodeConfig::load_from_dir(dir).unwrap();
    let hub_key = config.hub.receipt_key.unwrap();
    let lock = DeliveryLock::acquire(&config.store_file).unwrap();
    let mut store = Store::open(&config.store_file).unwrap();
    let mut observer = |_: &ChunkReport| announce_and_wait_to_be_killed(DELIVERY_MARKER);
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(deliver::deliver_pass(
            &lock,
            &mut store,
            &config,
            &hub_key,
            &DeliverOptions::default(),
            &jiff::Timestamp::now,
            &mut observer,
        ));
    println!("KAOHE-CHILD-FINISHED {result:?}");
    std::process::exit(3);
}

/// RELIABILITY.md promises 1 and 2 under "crashes": the node is killed
/// (SIGKILL) in the middle of a stream, then the hub is; after each, every
/// receipt the node holds is in the hub's database for exactly that
/// commit, nothing is there twice, and the rest is delivered.
#[test]
fn a_node_or_hub_killed_mid_stream_loses_nothing_and_accepts_nothing_twice() {
    if let Ok(dir) = std::env::var(DELIVERY_CHILD_ENV) {
        child_deliver(Path::new(&dir));
        return;
    }
    let mut f = federation(MANY);
    f.start_hub();
    f.node(&["sync", "--operator", "王科员"]).unwrap();
    f.import_rates(&f.units, "91");
    f.submit(false);
    assert_eq!(states(&f.entries()), BTreeMap::from([("to_send", MANY)]));

    // 1. The node dies mid-stream.
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "a_node_or_hub_killed_mid_stream_loses_nothing_and_accepts_nothing_twice",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DELIVERY_CHILD_ENV, &f.node_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let done = line.contains(DELIVERY_MARKER);
        seen.push(line);
        if done {
            break;
        }
    }
    assert!(
        seen.last().is_some_and(|l| l.contains(DELIVERY_MARKER)),
        "the child never recorded a chunk: {seen:?}"
    );
    child.kill().unwrap();
    assert!(!child.wait().unwrap().success());
    let after_kill = states(&f.entries());
    assert!(
        after_kill.get("accepted").is_some_and(|n| *n > 0),
        "{after_kill:?}"
    );
    assert!(
        after_kill.get("sending").is_some_and(|n| *n > 0),
        "the kill was not mid-stream: {after_kill:?}"
    );
    f.store().integrity_check().unwrap();
    let held = f.receipts_match_the_hub();
    assert!(held >= after_kill["accepted"]);

    // The next delivery recovers the interrupted entries and sends them
    // again; those the hub had committed come back with their receipts.
    let report = f.deliver_pass(&mut |_| {});
    assert_eq!(report.recovered, after_kill["sending"]);
    assert!(report.call_error.is_none(), "{:?}", report.call_error);
    assert_eq!(states(&f.entries()), BTreeMap::from([("accepted", MANY)]));
    assert_eq!(f.receipts_match_the_hub(), MANY);
    let recovered = f
        .entries()
        .into_iter()
        .find(|e| e.attempts == 2)
        .expect("an entry sent twice");
    let history = f.store().transitions(recovered.sequence).unwrap();
    assert!(history.iter().any(|t| t.3 == "interrupted"), "{history:?}");

    // 2. New values for every unit; the hub dies mid-stream.
    f.import_rates(&f.units, "93");
    f.submit(false);
    let mut killed_after = None;
    let report = {
        let hub = &mut f.hub;
        let mut kill_on_first = |c: &ChunkReport| {
            if killed_after.is_none() {
                killed_after = Some(c.accepted.len());
                hub.kill();
            }
        };
        let config = NodeConfig::load_from_dir(&f.node_dir).unwrap();
        let lock = DeliveryLock::acquire(&config.store_file).unwrap();
        let mut store = Store::open(&config.store_file).unwrap();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(deliver::deliver_pass(
                &lock,
                &mut store,
                &config,
                &config.hub.receipt_key.unwrap(),
                // A window of 100: when the first chunk is recorded the hub
                // has been sent at most 100 envelopes, so the kill below is
                // certainly mid-stream.
                &DeliverOptions {
                    window: 100,
                    ..DeliverOptions::default()
                },
                &jiff::Timestamp::now,
                &mut kill_on_first,
            ))
            .unwrap()
    };
    assert!(killed_after.is_some(), "no chunk arrived before the kill");
    let failure = report.call_error.clone().unwrap_or_else(|| {
        panic!("the stream broke, yet: {report:?} (killed after {killed_after:?})")
    });
    assert!(failure.transient, "{failure:?}");
    assert!(report.accepted.len() <= 100, "{}", report.accepted.len());
    assert!(report.failed.len() >= MANY - 100, "{}", report.failed.len());
    let entries = f.entries();
    for e in entries.iter().filter(|e| e.sequence > MANY as u64) {
        assert!(
            matches!(e.state, State::Accepted | State::Retry),
            "#{} {:?}",
            e.sequence,
            e.state
        );
        if e.state == State::Retry {
            assert!(e.next_attempt_at.is_some());
        }
    }
    let held = f.receipts_match_the_hub();
    assert!(held >= MANY + report.accepted.len());

    // While it is down: nothing changes but the retry times.
    let down = f.deliver_pass(&mut |_| {});
    assert!(down.call_error.as_ref().is_some_and(|c| c.transient));
    assert!(down.accepted.is_empty());

    // Restarted: the rest is delivered; nothing is accepted twice.
    f.start_hub();
    let report = f.deliver_pass(&mut |_| {});
    assert!(report.call_error.is_none(), "{:?}", report.call_error);
    assert_eq!(
        states(&f.entries()),
        BTreeMap::from([("accepted", 2 * MANY)])
    );
    assert_eq!(f.receipts_match_the_hub(), 2 * MANY);
    // The hub's current result of every unit is the newer one.
    let conn = f.hub.db();
    let current: BTreeSet<i64> = conn
        .prepare("SELECT sequence FROM results WHERE is_current = 1")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(current.len(), MANY);
    assert!(current.iter().all(|s| *s > MANY as i64));
    f.hub.integrity_ok();
    f.store().integrity_check().unwrap();
}

/// A corrected pack: v2 signed by one authority is refused (the node pins
/// two, threshold 2) and v1 stays; v3 signed by both is activated, the
/// results queued under v1 and not yet sent are superseded — never sent —
/// and the next submit evaluates every unit again under v3: each unit ends
/// accepted once under the current pack.
#[test]
fn a_corrected_pack_replaces_unsent_results_and_the_new_ones_are_accepted() {
    let mut f = federation(4);
    f.start_hub();
    f.node(&["sync", "--operator", "王科员"]).unwrap();
    f.import_rates(&f.units, "90");
    f.submit(true);
    assert_eq!(states(&f.entries()), BTreeMap::from([("accepted", 4)]));

    // Two corrections queued while the hub is down.
    f.hub.kill();
    f.import_rates(&f.units[..2], "97");
    f.submit(true);
    let unsent: Vec<Entry> = f
        .entries()
        .into_iter()
        .filter(|e| e.state == State::Retry)
        .collect();
    assert_eq!(unsent.len(), 2);

    // The office publishes v2, signed by one authority only.
    f.start_hub();
    let dir = f.tmp.path().to_path_buf();
    f.hub.publish(&baofeng_pack(&dir, 2, &[&authority_a()]));
    let err = f.node(&["sync", "--operator", "王科员"]).unwrap_err();
    assert!(format!("{err:#}").contains("未通过核验"), "{err:#}");
    {
        let store = f.store();
        assert_eq!(
            store.active_pack(2022).unwrap().unwrap().identity.version,
            1
        );
        assert!(store.reevaluations(2022).unwrap().is_empty());
        assert_eq!(
            states(&store.outbox(None).unwrap())["retry"],
            2,
            "nothing superseded"
        );
    }

    // v3, signed by both: activated; the unsent v1 results are replaced.
    let out = f
        .hub
        .publish(&baofeng_pack(&dir, 3, &[&authority_a(), &authority_b()]));
    assert!(out.contains("已发布"), "{out}");
    f.node(&["sync", "--operator", "王科员"]).unwrap();
    {
        let store = f.store();
        assert_eq!(
            store.active_pack(2022).unwrap().unwrap().identity.version,
            3
        );
        for e in &unsent {
            let now = store.outbox_entry(e.sequence).unwrap().unwrap();
            assert_eq!(now.state, State::Superseded, "#{}", e.sequence);
            assert!(now.last_error.unwrap().contains("baofeng-2022 v3"));
        }
        let again: BTreeSet<String> = store
            .reevaluations(2022)
            .unwrap()
            .into_iter()
            .map(|r| r.unit_id)
            .collect();
        assert_eq!(
            again,
            f.units.iter().cloned().collect(),
            "every unit, under v3"
        );
    }
    f.node(&["status"]).unwrap();

    f.submit(true);
    let entries = f.entries();
    assert!(f.store().reevaluations(2022).unwrap().is_empty());
    let mut accepted_v3: BTreeMap<&str, usize> = BTreeMap::new();
    for e in entries.iter().filter(|e| e.pack_version == 3) {
        assert_eq!(e.state, State::Accepted, "#{}", e.sequence);
        *accepted_v3.entry(e.unit_id.as_str()).or_insert(0) += 1;
    }
    assert_eq!(
        accepted_v3,
        f.units.iter().map(|u| (u.as_str(), 1)).collect(),
        "each unit accepted exactly once under the current pack"
    );
    // The superseded ones never reached the hub.
    let at_hub = f.hub.submissions();
    for e in &unsent {
        assert!(
            !at_hub.contains_key(e.digest.0.as_slice()),
            "#{} was sent",
            e.sequence
        );
    }
    assert_eq!(f.receipts_match_the_hub(), 8);
    let conn = f.hub.db();
    let current: Vec<(String, u32)> = conn
        .prepare("SELECT unit_id, pack_version FROM results WHERE is_current = 1 ORDER BY unit_id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        current,
        f.units.iter().map(|u| (u.clone(), 3)).collect::<Vec<_>>()
    );
    f.hub.integrity_ok();
}

// ------------------------------------------------------------- TLS, mTLS --

/// Certificates made for a test: the county CA with the hub's server
/// certificate (127.0.0.1, localhost) and node client certificates, and a
/// rogue CA with a server certificate for the same names.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    /// `ca.pem`; `server.{pem,key}`; `rogue-server.{pem,key}` (signed by
    /// another CA); `<key id>.{pem,key}` with SAN `<key id>.node.kaohe`
    /// for each of `node_key_ids`.
    fn write(dir: &Path, node_key_ids: &[&str]) -> Pki {
        use rcgen::{
            BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa,
            KeyPair, KeyUsagePurpose,
        };
        std::fs::create_dir_all(dir).unwrap();
        let issuer = |name: &str| {
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, name);
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.key_usages = vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::DigitalSignature,
            ];
            CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
        };
        let county = issuer("宝丰县考核 CA");
        let rogue = issuer("另一个 CA");
        let leaf = |ca: &CertifiedIssuer<'_, KeyPair>,
                    names: Vec<String>,
                    usage: ExtendedKeyUsagePurpose,
                    stem: &str| {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(names).unwrap();
            params.extended_key_usages = vec![usage];
            let cert = params.signed_by(&key, ca).unwrap();
            std::fs::write(dir.join(format!("{stem}.pem")), cert.pem()).unwrap();
            std::fs::write(dir.join(format!("{stem}.key")), key.serialize_pem()).unwrap();
        };
        let server_names = || vec!["127.0.0.1".to_string(), "localhost".to_string()];
        leaf(
            &county,
            server_names(),
            ExtendedKeyUsagePurpose::ServerAuth,
            "server",
        );
        leaf(
            &rogue,
            server_names(),
            ExtendedKeyUsagePurpose::ServerAuth,
            "rogue-server",
        );
        for id in node_key_ids {
            // `kaohe_hub::server::NODE_CERT_DOMAIN`
            leaf(
                &county,
                vec![format!("{id}.node.kaohe")],
                ExtendedKeyUsagePurpose::ClientAuth,
                id,
            );
        }
        std::fs::write(dir.join("ca.pem"), county.pem()).unwrap();
        Pki {
            dir: dir.to_path_buf(),
        }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// `kaohe hub serve` options for the server certificate `stem`.
    fn serve_args(&self, stem: &str, client_ca: bool) -> Vec<std::ffi::OsString> {
        let mut args: Vec<std::ffi::OsString> = vec![
            "--tls-cert".into(),
            self.file(&format!("{stem}.pem")).into(),
            "--tls-key".into(),
            self.file(&format!("{stem}.key")).into(),
        ];
        if client_ca {
            args.push("--client-ca".into());
            args.push(self.file("ca.pem").into());
        }
        args
    }
}

impl Federation {
    /// The node's key id.
    fn key_id(&self) -> String {
        SigningKeyPair::load(&self.config().key_file)
            .unwrap()
            .key_id()
            .to_string()
    }

    /// Starts the hub with `serve_args` and points the node at it over
    /// https with the given `[hub]` files (`ca_cert`, `client_cert`, …).
    fn start_tls_hub(&mut self, serve_args: &[std::ffi::OsString], files: &[(&str, PathBuf)]) {
        let args: Vec<&std::ffi::OsStr> = serve_args.iter().map(|a| a.as_os_str()).collect();
        let addr = self.hub.start_with(&args);
        let port = addr.rsplit(':').next().unwrap();
        let path = self.node_dir.join("node.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let mut out = Vec::new();
        for l in text.lines() {
            if ["ca_cert =", "client_cert =", "client_key =", "crl ="]
                .iter()
                .any(|k| l.starts_with(k))
            {
                continue;
            }
            if l.starts_with("address = ") {
                out.push(format!("address = \"https://127.0.0.1:{port}\""));
                for (k, p) in files {
                    out.push(format!("{k} = {:?}", p.display().to_string()));
                }
            } else {
                out.push(l.to_string());
            }
        }
        std::fs::write(&path, out.join("\n") + "\n").unwrap();
        self.config(); // the rewritten config passes the check
    }

    /// Sets `key` of node.toml's `[hub]` to the file `path`, replacing the
    /// line if there is one (the rewritten config must pass the check).
    fn set_hub_key(&self, key: &str, path: &Path) {
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

    /// Years with a synced scope.
    fn scope_years(&self) -> Vec<u16> {
        self.store().scope_years().unwrap()
    }
}

/// A node refuses a hub whose certificate another CA signed, and syncs
/// over TLS with the county CA's.
#[test]
fn the_node_syncs_over_tls_only_with_a_certificate_of_its_ca() {
    let mut f = federation(2);
    let pki = Pki::write(&f.tmp.path().join("pki"), &[]);

    f.start_tls_hub(
        &pki.serve_args("rogue-server", false),
        &[("ca_cert", pki.file("ca.pem"))],
    );
    let err = f
        .node(&["sync", "--operator", "王科员"])
        .expect_err("a hub certificate of another CA must be refused");
    let msg = format!("{err:#}");
    assert!(msg.contains("无法连接汇总中心"), "{msg}");
    assert!(
        msg.contains("证书未通过核验") && msg.contains("hub.ca_cert"),
        "the certificate should be named as the reason: {msg}"
    );
    assert_eq!(f.scope_years(), Vec::<u16>::new());
    assert!(f.store().packs().unwrap().is_empty());
    f.hub.kill();

    f.start_tls_hub(
        &pki.serve_args("server", false),
        &[("ca_cert", pki.file("ca.pem"))],
    );
    f.node(&["sync", "--operator", "王科员"]).unwrap();
    let scope = f.store().scope(2022).unwrap();
    assert_eq!(
        scope
            .units
            .iter()
            .map(|u| u.unit_id.clone())
            .collect::<Vec<_>>(),
        f.units
    );
    assert_eq!(f.store().packs().unwrap().len(), 1);
}

/// With `--client-ca` the hub serves only the node presenting its own
/// certificate: none, or another node's, is refused with a message saying so.
#[test]
fn with_mtls_the_node_presents_its_own_client_certificate() {
    let mut f = federation(2);
    let own = f.key_id();
    let other = SigningKeyPair::from_seed(&[9; 32]).key_id().to_string();
    assert_ne!(own, other);
    let pki = Pki::write(&f.tmp.path().join("pki"), &[&own, &other]);
    let serve = pki.serve_args("server", true);
    let ca = ("ca_cert", pki.file("ca.pem"));

    // No client certificate.
    f.start_tls_hub(&serve, std::slice::from_ref(&ca));
    let err = f
        .node(&["sync", "--operator", "王科员"])
        .expect_err("the hub requires a client certificate");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("客户端证书") && msg.contains("hub.client_cert"),
        "the message should say a client certificate is needed: {msg}"
    );
    assert_eq!(f.scope_years(), Vec::<u16>::new());
    f.hub.kill();

    // Another node's certificate.
    f.start_tls_hub(
        &serve,
        &[
            ca.clone(),
            ("client_cert", pki.file(&format!("{other}.pem"))),
            ("client_key", pki.file(&format!("{other}.key"))),
        ],
    );
    let err = f
        .node(&["sync", "--operator", "王科员"])
        .expect_err("another node's certificate must be refused");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("客户端证书") && msg.contains(&own),
        "the refusal should name the certificate and the node: {msg}"
    );
    assert_eq!(f.scope_years(), Vec::<u16>::new());
    f.hub.kill();

    // Its own certificate.
    f.start_tls_hub(
        &serve,
        &[
            ca,
            ("client_cert", pki.file(&format!("{own}.pem"))),
            ("client_key", pki.file(&format!("{own}.key"))),
        ],
    );
    f.node(&["sync", "--operator", "王科员"]).unwrap();
    assert_eq!(f.scope_years(), vec![2022]);
    assert_eq!(f.store().scope(2022).unwrap().units.len(), f.units.len());
}

/// Every example in `deploy/node/` passes the real config check (with its
/// `ca_cert`, and the mTLS pair when uncommented, pointed at files that
/// exist here: the README says the files must exist).
#[test]
fn every_deploy_node_example_parses() {
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/node");
    let tmp = tempfile::tempdir().unwrap();
    let pem = |name: &str, label: &str| {
        let p = tmp.path().join(name);
        std::fs::write(
            &p,
            format!("-----BEGIN {label}-----\nMIIB\n-----END {label}-----\n"),
        )
        .unwrap();
        p.display().to_string()
    };
    let ca = pem("county-ca.pem", "CERTIFICATE");
    let cert = pem("node-tls.pem", "CERTIFICATE");
    let key = pem("node-tls.key", "PRIVATE KEY");
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(&deploy).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let mut with_files = String::new();
        let mut mtls = 0;
        for line in text.lines() {
            let (k, rest) = match line.trim_start_matches("# ").split_once(" = ") {
                Some((k, rest)) => (k.trim(), rest),
                None => ("", ""),
            };
            let swapped = match k {
                "ca_cert" if !line.starts_with('#') => Some(&ca),
                "client_cert" => Some(&cert),
                "client_key" => Some(&key),
                _ => None,
            };
            match swapped {
                Some(file) => {
                    let comment = rest.split_once('#').map(|(_, c)| c).unwrap_or("");
                    with_files.push_str(&format!("{k} = {file:?}  #{comment}\n"));
                    mtls += usize::from(k.starts_with("client_"));
                }
                None => with_files.push_str(&format!("{line}\n")),
            }
        }
        let example = NodeConfig::parse(&text.replace("/etc/kaohe/county-ca.pem", &ca), &path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(example.hub.tls, "{}", path.display());
        assert_eq!(example.hub.client_identity, None, "mTLS is commented out");
        assert_eq!(mtls, 2, "{}: the mTLS pair is documented", path.display());
        let config = NodeConfig::parse(&with_files, &path)
            .unwrap_or_else(|e| panic!("{} with mTLS: {e}", path.display()));
        let identity = config.hub.client_identity.expect("client identity");
        assert_eq!(identity.cert, Path::new(&cert));
        assert_eq!(identity.key, Path::new(&key));
        seen.push(path.file_name().unwrap().to_string_lossy().into_owned());
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            "county_office.toml",
            "health_commission.toml",
            "sasac.toml",
            "township.toml"
        ]
    );
}
