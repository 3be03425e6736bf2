//! The node, then the hub, killed in the middle of a stream at an exact
//! point — once a chunk of receipts is recorded (RELIABILITY.md promises 1
//! and 2, "crashes"). The node's delivery runs in-process so that the kill
//! can wait for that point: in a child process (this test binary run again
//! as the same test) for the node, in the test with an observer for the
//! hub.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead as _, BufReader, Write as _};

use super::*;

/// Set in the child process: the node directory.
const DELIVERY_CHILD_ENV: &str = "KAOHE_TEST_KILLED_DELIVERY_DIR";
const DELIVERY_MARKER: &str = "KAOHE-CHILD-FIRST-CHUNK-RECORDED";
/// More than one hub chunk (the hub commits at most 512 envelopes at once).
const MANY: usize = 600;

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

/// The child's part: deliver, and stop forever once the first chunk is
/// recorded (the parent kills it there).
fn child_deliver(dir: &Path) {
    let config = NodeConfig::load_from_dir(dir).unwrap();
    let mut observer = |_: &ChunkReport| announce_and_wait_to_be_killed(DELIVERY_MARKER);
    let result = deliver_pass(&config, &DeliverOptions::default(), &mut observer);
    println!("KAOHE-CHILD-FINISHED {result:?}");
    std::process::exit(3);
}

/// The node is killed (SIGKILL) in the middle of a stream, then the hub
/// is; after each, every receipt the node holds is in the hub's database
/// for exactly that commit, nothing is there twice, and the rest is
/// delivered.
#[test]
fn a_node_or_hub_killed_mid_stream_loses_nothing_and_accepts_nothing_twice() {
    if let Ok(dir) = std::env::var(DELIVERY_CHILD_ENV) {
        child_deliver(Path::new(&dir));
        return;
    }
    let mut f = Federation::new(MANY, "satisfaction");
    f.start_hub(None);
    f.sync();
    f.import_rates(&f.units, "91");
    f.queue("annual");
    assert_eq!(states(&f.entries()), BTreeMap::from([("to_send", MANY)]));

    // 1. The node dies mid-stream.
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "federation::node_killed::a_node_or_hub_killed_mid_stream_loses_nothing_and_accepts_nothing_twice",
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
    let held = f.receipts_are_at_the_hub().stored;
    assert!(held >= after_kill["accepted"]);

    // The next delivery recovers the interrupted entries and sends them
    // again; those the hub had committed come back with their receipts.
    let report = f.deliver_pass(&mut |_| {});
    assert_eq!(report.recovered, after_kill["sending"]);
    assert!(report.call_error.is_none(), "{:?}", report.call_error);
    assert_eq!(states(&f.entries()), BTreeMap::from([("accepted", MANY)]));
    assert_eq!(f.receipts_are_at_the_hub().stored, MANY);
    let recovered = f
        .entries()
        .into_iter()
        .find(|e| e.attempts == 2)
        .expect("an entry sent twice");
    let history = f.store().transitions(recovered.sequence).unwrap();
    assert!(history.iter().any(|t| t.3 == "interrupted"), "{history:?}");

    // 2. New values for every unit; the hub dies mid-stream.
    f.import_rates(&f.units, "93");
    f.queue("annual");
    let config = f.config();
    let mut killed_after = None;
    let report = {
        let mut kill_on_first = |c: &ChunkReport| {
            if killed_after.is_none() {
                killed_after = Some(c.accepted.len());
                f.kill_hub();
            }
        };
        // A window of 100: when the first chunk is recorded the hub has been
        // sent at most 100 envelopes, so the kill is certainly mid-stream.
        let options = DeliverOptions {
            window: 100,
            ..DeliverOptions::default()
        };
        deliver_pass(&config, &options, &mut kill_on_first)
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
    let held = f.receipts_are_at_the_hub().stored;
    assert!(held >= MANY + report.accepted.len());

    // While it is down: nothing changes but the retry times.
    let down = f.deliver_pass(&mut |_| {});
    assert!(down.call_error.as_ref().is_some_and(|c| c.transient));
    assert!(down.accepted.is_empty());

    // Restarted: the rest is delivered; nothing is accepted twice.
    f.start_hub(None);
    let report = f.deliver_pass(&mut |_| {});
    assert!(report.call_error.is_none(), "{:?}", report.call_error);
    assert_eq!(
        states(&f.entries()),
        BTreeMap::from([("accepted", 2 * MANY)])
    );
    assert_eq!(f.receipts_are_at_the_hub().stored, 2 * MANY);
    // The hub's current result of every unit is the newer one.
    let conn = f.hub_db();
    let current: BTreeSet<i64> = conn
        .prepare("SELECT sequence FROM results WHERE is_current = 1")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(current.len(), MANY);
    assert!(current.iter().all(|s| *s > MANY as i64));
    drop(conn);
    f.store().integrity_check().unwrap();
    f.finish();
}
