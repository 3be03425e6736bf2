//! RELIABILITY.md "slow or stuck peer" at the node: a "hub" that accepts
//! the connection and then never answers — one that never reads or writes,
//! one that reads everything and never writes — costs `kaohe node sync`,
//! `results` at most the deadlines of `node.toml` `[hub]`; the command
//! exits non-zero saying in Chinese which call timed out after how many
//! seconds and that nothing is lost. (`deliver` to a stuck hub, which ends
//! with a delivery to the real one, is a federation test:
//! `tests/federation/deadlines.rs`.)
//!
//! Each command runs as a real child process: this test binary run again
//! as the same test with [`CHILD_ENV`] set, which runs `kaohe node …`
//! in-process and exits as `kaohe` does (message on stderr, status 1).
//! No durations are asserted; a child still running after [`GUARD`] is
//! killed and the test fails.

use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use super::*;

/// The data directory of a child run.
const CHILD_ENV: &str = "KAOHE_NODE_TEST_DEADLINE_DIR";
/// Its `kaohe node` arguments, separated by U+001F.
const ARGS_ENV: &str = "KAOHE_NODE_TEST_DEADLINE_ARGS";
/// How long a child may run before the test kills it and fails (a guard
/// against a hang, not a timing assertion).
const GUARD: Duration = Duration::from_secs(60);

/// In a child run: runs the command and exits as `kaohe` would.
fn child_main() {
    let (Ok(dir), Ok(args)) = (std::env::var(CHILD_ENV), std::env::var(ARGS_ENV)) else {
        return;
    };
    let args: Vec<&str> = args.split('\u{1f}').collect();
    match node(Path::new(&dir), &args) {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            eprintln!("错误（error）：{e:#}");
            std::process::exit(1);
        }
    }
}

/// Runs `kaohe node <args>` on `dir` as a child process of test `test`;
/// returns whether it succeeded and what it printed (stdout, stderr).
fn child_node(test: &str, dir: &Path, args: &[&str]) -> (bool, String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            &format!("deadlines::{test}"),
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir)
        .env(ARGS_ENV, args.join("\u{1f}"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let out = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let err = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > GUARD {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`kaohe node {args:?}` was still waiting after {GUARD:?}: no deadline fired");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = format!("{}\n{}", out.join().unwrap(), err.join().unwrap());
    (status.success(), text)
}

/// How a stuck hub behaves once it accepted a connection.
#[derive(Clone, Copy)]
enum Stuck {
    /// Never reads, never writes (the connection is held open).
    Silent,
    /// Reads and discards everything, never writes.
    Reader,
}

/// A "hub" on 127.0.0.1 that accepts connections and never answers; it
/// lives until the test process ends.
fn stuck_hub(kind: Stuck) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            match kind {
                Stuck::Silent => held.push(stream),
                Stuck::Reader => {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut stream, &mut std::io::sink());
                    });
                }
            }
        }
    });
    addr
}

/// Points `node.toml` at `address` and sets the `[hub]` deadlines
/// (`(key, seconds)`; earlier deadline lines are dropped).
fn point_at(dir: &Path, address: &str, deadlines: &[(&str, u64)]) {
    let path = dir.join("node.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        if line.starts_with("address = ") {
            out.push_str(&format!("address = \"{address}\"\n"));
            for (key, seconds) in deadlines {
                out.push_str(&format!("{key} = {seconds}\n"));
            }
        } else if !line.contains("_timeout_secs = ") || line.starts_with('#') {
            out.push_str(line);
            out.push('\n');
        }
    }
    std::fs::write(&path, out).unwrap();
    NodeConfig::load_from_dir(dir).expect("the edited node.toml is valid");
}

/// `kaohe node init` against `hub`, with a pinned authority and receipt key.
fn init_node(dir: &Path, hub: &str, ca: Option<&Path>) {
    let authority = SigningKeyPair::from_seed(&[31; 32]).public().to_string();
    let receipt = SigningKeyPair::from_seed(&[77; 32]).public().to_string();
    let mut args = vec![
        "init",
        "--hub",
        hub,
        "--name",
        "宝丰县依法治县办",
        "--assessor",
        "county_office",
        "--authority-key",
        &authority,
        "--hub-receipt-key",
        &receipt,
    ];
    let ca = ca.map(|p| p.display().to_string());
    if let Some(ca) = &ca {
        args.extend(["--ca-cert", ca]);
    }
    node(dir, &args).unwrap();
}

/// The node tests' one test CA: a self-signed county CA certificate,
/// written to `dir/ca.pem` — what `hub.ca_cert` needs for an https hub
/// (the stuck hubs here never get as far as presenting a certificate).
fn county_ca(dir: &Path) -> PathBuf {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    std::fs::create_dir_all(dir).unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "宝丰县考核 CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    let path = dir.join("ca.pem");
    std::fs::write(&path, ca.pem()).unwrap();
    path
}

fn assert_says(text: &str, words: &[&str]) {
    for w in words {
        assert!(text.contains(w), "the message lacks {w:?}:\n{text}");
    }
}

/// A hub that accepts and never says a word: `sync` stops at the call
/// deadline of `node.toml` and says which call, after how long, and that
/// nothing is lost.
#[test]
fn sync_with_a_hub_that_accepts_and_never_answers_stops_at_the_call_deadline() {
    child_main();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    let addr = stuck_hub(Stuck::Silent);
    init_node(&dir, &format!("http://{addr}"), None);
    point_at(
        &dir,
        &format!("http://{addr}"),
        &[("connect_timeout_secs", 2), ("call_timeout_secs", 1)],
    );
    let (ok, text) = child_node(
        "sync_with_a_hub_that_accepts_and_never_answers_stops_at_the_call_deadline",
        &dir,
        &["sync", "--operator", "王科员"],
    );
    assert!(!ok, "sync against a stuck hub must fail:\n{text}");
    assert_says(
        &text,
        &[
            "错误（error）",
            "调用超时",
            "未在 1 秒内答复 ListPacks",
            "不受影响",
            "DEADLINE_EXCEEDED",
        ],
    );
}

/// A TLS "hub" that reads the client's hello and never answers: the
/// handshake never completes, and `results` stops at the connect deadline
/// having sent nothing.
#[test]
fn a_tls_hub_that_never_completes_the_handshake_stops_at_the_connect_deadline() {
    child_main();
    let tmp = tempfile::tempdir().unwrap();
    let ca = county_ca(&tmp.path().join("pki"));
    let dir = tmp.path().join("node");
    let addr = stuck_hub(Stuck::Reader);
    let address = format!("https://127.0.0.1:{}", addr.port());
    init_node(&dir, &address, Some(&ca));
    point_at(&dir, &address, &[("connect_timeout_secs", 2)]);
    let (ok, text) = child_node(
        "a_tls_hub_that_never_completes_the_handshake_stops_at_the_connect_deadline",
        &dir,
        &["results", "--year", "2022"],
    );
    assert!(!ok, "results against a stuck hub must fail:\n{text}");
    assert_says(
        &text,
        &["连接超时", "2 秒内未完成连接", "未发送任何内容", &address],
    );
}

/// A deadline of 0 seconds in `node.toml` is refused before anything
/// connects, naming the key and the file.
#[test]
fn a_zero_deadline_is_refused_naming_the_key_and_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    init_node(&dir, "http://127.0.0.1:1", None);
    let path = dir.join("node.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("[hub]\n", "[hub]\ncall_timeout_secs = 0\n");
    std::fs::write(&path, text).unwrap();
    let err = node(&dir, &["sync", "--operator", "王科员"]).unwrap_err();
    assert_says(
        &format!("{err:#}"),
        &[
            "hub.call_timeout_secs",
            "整数秒",
            &path.display().to_string(),
        ],
    );
}
