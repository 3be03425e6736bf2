//! RELIABILITY.md "slow or stuck peer": `kaohe node deliver` to a "hub"
//! that reads the stream and never answers stops at the deadlines of
//! `node.toml` `[hub]`, says so in Chinese, and keeps every entry; pointed
//! back at the real hub, it delivers them. No durations are asserted; a
//! command still running after [`GUARD`] is killed and the test fails.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};

use super::*;

/// How long the command may run before the test kills it and fails (a
/// guard against a hang, not a timing assertion).
const GUARD: Duration = Duration::from_secs(60);

/// A "hub" on 127.0.0.1 that accepts connections, reads and discards
/// everything and never writes; it lives until the test process ends.
fn stuck_hub() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut stream, &mut std::io::sink());
            });
        }
    });
    addr
}

/// Points `node.toml` at `address` and sets the `[hub]` deadlines
/// (`(key, seconds)`; earlier deadline lines are dropped).
fn point_at(f: &Federation, address: &str, deadlines: &[(&str, u64)]) {
    let path = f.node_dir.join("node.toml");
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
    f.config();
}

/// `kaohe node <args>` as a child process, killed (and the test failed)
/// after [`GUARD`]; whether it succeeded and what it printed.
fn node_with_guard(f: &Federation, args: &[&str]) -> (bool, String) {
    let log = f.root().join("node-guarded.log");
    let mut child = f.spawn_node(args, &log);
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
    (status.success(), std::fs::read_to_string(&log).unwrap())
}

fn assert_says(text: &str, words: &[&str]) {
    for w in words {
        assert!(text.contains(w), "the message lacks {w:?}:\n{text}");
    }
}

/// `deliver` with three entries in the outbox, to a hub that reads the
/// stream and never answers: it stops at the call deadline naming
/// `SubmitStream`, every entry is still in the outbox, unchanged and
/// pending, the real hub got nothing; then, pointed at the real hub, the
/// same entries are delivered and receipted.
#[test]
fn deliver_to_a_stuck_hub_keeps_the_outbox_and_a_later_delivery_succeeds() {
    let mut f = Federation::new(3, "satisfaction");
    f.start_hub(None);
    f.sync();
    f.import_rates(&f.units, "95.5");
    f.queue("annual");
    let before = f.entries();
    assert_eq!(states(&before), BTreeMap::from([("to_send", 3)]));
    let real = f.config().hub.address;

    let addr = stuck_hub();
    point_at(
        &f,
        &format!("http://{addr}"),
        &[
            ("connect_timeout_secs", 2),
            ("call_timeout_secs", 1),
            ("stream_timeout_secs", 2),
        ],
    );
    let (ok, text) = node_with_guard(&f, &["deliver"]);
    assert!(!ok, "deliver to a stuck hub must fail:\n{text}");
    assert_says(
        &text,
        &[
            "调用超时",
            "SubmitStream",
            "秒内答复",
            "未获回执的提交全部保留",
            "3 份提交未能送达，已保存待重发",
        ],
    );
    let after = f.entries();
    assert_eq!(after.len(), before.len());
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(
            (a.sequence, &a.digest, &a.unit_id, &a.envelope),
            (b.sequence, &b.digest, &b.unit_id, &b.envelope),
            "an entry changed"
        );
        assert_eq!(a.state, State::Retry, "#{} waits for a retry", a.sequence);
        assert!(a.receipt.is_none(), "#{} has no receipt", a.sequence);
        assert_says(a.last_error.as_deref().unwrap_or(""), &["调用超时"]);
    }
    assert_eq!(
        f.receipts_are_at_the_hub().stored,
        0,
        "the real hub got nothing"
    );

    // Pointed back at the real hub (deadlines a real delivery fits in).
    point_at(
        &f,
        &real,
        &[
            ("connect_timeout_secs", 10),
            ("call_timeout_secs", 30),
            ("stream_timeout_secs", 60),
        ],
    );
    f.node(&["deliver"]);
    assert_eq!(states(&f.entries()), BTreeMap::from([("accepted", 3)]));
    assert_eq!(f.receipts_are_at_the_hub().stored, 3);
    f.finish();
}
