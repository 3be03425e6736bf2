//! The hub SIGKILLed in the middle of a stream (RELIABILITY.md promises 1
//! and 2, "crashes"), with the real binary on both sides.

use super::*;

/// Envelopes in the stream: one unit each, one round.
const UNITS: usize = 2_000;
/// Batches to try before giving up on catching the stream half-way (each
/// attempt that finishes too fast is simply delivered whole).
const ATTEMPTS: usize = 3;

/// `kaohe node deliver` streams 2,000 envelopes; once the node has recorded
/// some receipts but not all, the hub is killed with `kill -KILL`. Every
/// receipt the node holds is then in the hub's database; after a restart on
/// the same data directory the next `deliver` completes, every submission
/// is stored exactly once, and both databases pass `PRAGMA
/// integrity_check`.
#[test]
fn federation_hub_killed_mid_stream_loses_nothing_and_stores_nothing_twice() {
    let mut f = Federation::new(UNITS, "satisfaction");
    f.start_hub(Some(ANNUAL_NOW));
    let out = f.sync();
    assert!(
        out.contains("2022 年考核范围（scope）：2000 个单位，1 种考核方式"),
        "{out}"
    );
    let units = f.units.clone();

    let mut batches = 0;
    let caught = loop {
        assert!(
            batches < ATTEMPTS,
            "{ATTEMPTS} streams of {UNITS} were each delivered before the test saw a partial one"
        );
        batches += 1;
        let rate = format!("{}", 90 + batches);
        f.import_rates(&units, &rate);
        let out = f.queue("annual");
        assert!(out.contains("已保存在发件箱"), "{out}");
        let before = f.outbox_count("accepted");
        let target = before + UNITS as i64;
        assert_eq!(f.outbox_count("to_send"), UNITS as i64);

        let log = f.root().join(format!("deliver-{batches}.log"));
        let mut deliver = f.spawn_node(&["deliver"], &log);
        // Some receipts recorded, not all: kill the hub there.
        let partial = poll("receipts at the node", || {
            let n = f.outbox_count("accepted");
            if n > before && n < target {
                return Some(Some(n));
            }
            // Finished before the poll saw it half-way: try a new batch.
            if deliver.try_wait().unwrap().is_some() && f.outbox_count("accepted") == target {
                return Some(None);
            }
            None
        });
        let Some(partial) = partial else {
            continue;
        };
        f.kill_hub();
        let exit = deliver.wait().unwrap();
        let text = std::fs::read_to_string(&log).unwrap();
        if exit.success() {
            // The last chunk was recorded between the poll and the kill:
            // everything was delivered; start the hub again, next batch.
            assert_eq!(f.outbox_count("accepted"), target, "{text}");
            f.start_hub(Some(ANNUAL_NOW));
            continue;
        }
        break (partial - before, text);
    };
    let (partial, text) = caught;
    // The node saw the connection break and kept the rest for a retry.
    let pending = text
        .lines()
        .find_map(|l| l.strip_prefix("错误（error）："))
        .and_then(|l| l.split_once(" 份提交未能送达，已保存待重发"))
        .map(|(n, _)| n.parse::<i64>().unwrap())
        .unwrap_or_else(|| panic!("no pending count in:\n{text}"));

    // Every receipt the node holds is in the hub's database.
    let total = (batches * UNITS) as i64;
    let held = f.receipts_are_at_the_hub().held as i64;
    assert!(held >= total - UNITS as i64 + partial, "{held} {partial}");
    assert_eq!(held, total - pending);
    assert_eq!(
        f.outbox_count("accepted") + f.outbox_count("retry"),
        total,
        "every entry is accepted or waits for a retry"
    );
    integrity_ok(&f.hub_db());
    integrity_ok(&f.node_db());

    // Restarted on the same data directory: the rest is delivered.
    f.start_hub(Some(ANNUAL_NOW));
    let out = f.node(&["deliver"]);
    assert!(
        out.contains(&format!(
            "已送达 {pending} 份（accepted with a verified receipt）；被拒绝 0 份；待重发 0 份"
        )),
        "{out}"
    );
    assert_eq!(f.outbox_count("accepted"), total);
    assert_eq!(f.receipts_are_at_the_hub().held as i64, total);

    // Exactly once: by digest, by (node, sequence), by unit and batch.
    let db = f.hub_db();
    assert_eq!(count(&db, "SELECT count(*) FROM submissions", []), total);
    assert_eq!(
        count(&db, "SELECT count(DISTINCT digest) FROM submissions", []),
        total
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM (SELECT DISTINCT node_id, sequence FROM submissions)",
            []
        ),
        total
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM (SELECT unit_id FROM submissions
             GROUP BY unit_id, round HAVING count(*) != ?1)",
            [batches as i64]
        ),
        0,
        "each unit once per batch"
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM submissions WHERE late = 1", []),
        0,
        "committed before the deadline, by the hub's clock"
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM results WHERE is_current = 1", []),
        UNITS as i64
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(DISTINCT unit_id) FROM results WHERE is_current = 1",
            []
        ),
        UNITS as i64
    );
    drop(db);
    f.finish();
}
