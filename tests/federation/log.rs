//! The year's transparency log as the node witnesses it: a history the hub
//! rewrites, a leaf it removes, and a log it serves differently (a fork),
//! are each refused by
//! the node on its next sync with both signed checkpoints kept; delivery
//! stops (nothing is lost) until an official resolves it; then it resumes.

use super::tamper::{copy_dir, rewrite_log};
use super::{ANNUAL_NOW, Federation, OPERATOR};
use crate::path_str as s;

/// The node's open evidence, as `kaohe node witness` lists it.
fn witness_listing(f: &Federation) -> String {
    f.node(&["witness"])
}

/// The hub rewrites its history (two leaves change places, as a changed
/// order of events would): the node that witnessed the old history refuses
/// the new one on its next sync, keeps both checkpoints, stops delivering
/// while the new report waits in the outbox, and after an official's
/// resolution delivers it; everything accepted before is still at the hub.
#[test]
fn a_rewritten_history_stops_the_node_until_an_official_resolves_it() {
    let mut f = Federation::new(2, "satisfaction");
    f.start_hub(Some(ANNUAL_NOW));
    let out = f.sync();
    assert!(out.contains("2022 年透明日志（log）：首次见证"), "{out}");
    let units = f.units.clone();
    f.import_rates(&units, "90");
    let out = f.submit();
    assert!(out.contains("已送达 2 份"), "{out}");
    let out = f.sync();
    assert!(
        out.contains("与本节点上次见证的一致，已副署（共 1 个见证节点副署）"),
        "{out}"
    );
    let accepted = f.outbox_count("accepted");
    assert_eq!(accepted, 2);
    let at_hub = f.hub_rows("submissions");
    f.stop_hub();

    rewrite_log(&f.hub_dir, 2022, |leaves| leaves.swap(1, 2));
    f.start_hub(Some(ANNUAL_NOW));
    let text = f.node_fails(&["sync", "--operator", "王科员"]);
    assert!(
        text.contains("根哈希却与本节点已见证的不同：汇总中心给出了另一份历史"),
        "{text}"
    );
    assert!(text.contains("停止送达"), "{text}");
    let status = f.node(&["status"]);
    assert!(
        status.contains("警告（warning）：汇总中心的2022 年透明日志与本节点见证的不一致"),
        "{status}"
    );
    let listed = witness_listing(&f);
    assert!(
        listed.contains("本节点已见证：") && listed.contains("汇总中心出示："),
        "{listed}"
    );

    // A new report is evaluated and queued, but not delivered.
    f.import_rates(&units[..1], "80");
    f.queue("annual");
    let text = f.node_fails(&["deliver"]);
    assert!(text.contains("本节点停止送达"), "{text}");
    assert!(text.contains("发件箱中的提交全部保留"), "{text}");
    assert_eq!(f.outbox_count("to_send"), 1);
    assert_eq!(f.outbox_count("accepted"), accepted);
    assert_eq!(f.hub_rows("submissions"), at_hub);

    // An official looks into it and resolves: delivery resumes.
    let text = f.node_fails(&["witness", "--resolve", "--year", "2022"]);
    assert!(text.contains("--reason"), "{text}");
    let out = f.node(&[
        "witness",
        "--resolve",
        "--year",
        "2022",
        "--reason",
        "已向县依法治县办核实",
        "--operator",
        OPERATOR,
    ]);
    assert!(out.contains("已恢复送达"), "{out}");
    let out = f.node(&["deliver"]);
    assert!(out.contains("已送达 1 份"), "{out}");
    assert_eq!(f.outbox_count("accepted"), accepted + 1);
    assert_eq!(f.hub_rows("submissions"), at_hub + 1);
    let out = f.sync();
    assert!(out.contains("与本节点上次见证的一致"), "{out}");
    let listed = witness_listing(&f);
    assert!(listed.contains("已处理（resolved）"), "{listed}");
    f.finish();
}

/// A leaf removed from the middle of the log (a registration the hub wants
/// forgotten), the rest moved up and the tree redone: the node that
/// witnessed the longer log refuses the shorter one and keeps its own
/// checkpoint; the reports it delivered are still at the hub.
#[test]
fn a_removed_leaf_is_refused_by_the_node_that_witnessed_it() {
    let mut f = Federation::new(2, "satisfaction");
    f.start_hub(Some(ANNUAL_NOW));
    f.sync();
    let units = f.units.clone();
    f.import_rates(&units, "90");
    f.submit();
    let out = f.sync();
    assert!(out.contains("已副署"), "{out}");
    let at_hub = f.hub_rows("submissions");
    let held = f.store().witnessed(2022).unwrap().unwrap();
    f.stop_hub();

    rewrite_log(&f.hub_dir, 2022, |leaves| {
        leaves.remove(1);
    });
    f.start_hub(Some(ANNUAL_NOW));
    let text = f.node_fails(&["sync", "--operator", "王科员"]);
    assert!(
        text.contains("已记录的内容被删除，历史被改写") && text.contains("停止送达"),
        "{text}"
    );
    let evidence = f.store().log_evidence().unwrap();
    assert_eq!(evidence.len(), 1);
    assert_eq!(evidence[0].held, held.checkpoint);
    assert_eq!(f.store().witnessed(2022).unwrap().unwrap(), held);
    assert_eq!(f.hub_rows("submissions"), at_hub);
    f.finish();
}

/// A split view: the hub shows the node one history, then — as it would
/// show another node — a branch of it that grew differently from an
/// earlier point. The node proves the new checkpoint does not extend what
/// it witnessed and keeps both as evidence.
#[test]
fn a_log_served_differently_is_refused_by_the_node_that_saw_the_other_branch() {
    let mut f = Federation::new(2, "satisfaction");
    f.start_hub(Some(ANNUAL_NOW));
    f.sync();
    f.stop_hub();
    // The fork point: the hub's database as it is now.
    let branch = f.root().join("hub-branch");
    copy_dir(&f.hub_dir, &branch);

    f.start_hub(Some(ANNUAL_NOW));
    let units = f.units.clone();
    f.import_rates(&units, "90");
    f.submit();
    let out = f.sync();
    assert!(out.contains("已副署"), "{out}");
    f.stop_hub();

    // The other branch grows by other acts, past what the node saw.
    for (unit, why) in [("u0001", "另一分支的记录一"), ("u0002", "另一分支的记录二")]
    {
        for _ in 0..2 {
            super::kaohe_ok(&[
                "hub",
                "--data-dir",
                s(&branch),
                "--operator",
                OPERATOR,
                "excuse",
                "--year",
                "2022",
                "--unit",
                unit,
                "--reason",
                why,
            ]);
        }
    }
    let seen = f.root().join("hub-seen");
    std::fs::rename(&f.hub_dir, &seen).unwrap();
    std::fs::rename(&branch, &f.hub_dir).unwrap();
    f.start_hub(Some(ANNUAL_NOW));
    let text = f.node_fails(&["sync", "--operator", "王科员"]);
    assert!(
        text.contains("汇总中心不能证明 2022 年透明日志的新检查点")
            && text.contains("历史被改写或分叉"),
        "{text}"
    );
    let evidence = f.store().log_evidence().unwrap();
    assert_eq!(evidence.len(), 1);
    assert_ne!(evidence[0].held, evidence[0].presented);
    // The checkpoint the node keeps is still the one it witnessed.
    let kept = f.store().witnessed(2022).unwrap().unwrap();
    assert_eq!(kept.checkpoint, evidence[0].held);
    f.finish();
}
