//! `kaohe node …` on its own: the command line in-process on a real data
//! directory with the Baofeng 2022 rubric, a real child process killed in
//! the middle of an import, every deploy example through the real config
//! check, and (`deadlines`) a "hub" that never answers. Whatever needs a
//! real hub is a test of the federation, in the root package's
//! `tests/federation/`, where the `kaohe` binary is built for the tests.

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
        let example = NodeConfig::parse(&text.replace("/etc/kaohe/tls/county-ca.pem", &ca), &path)
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
