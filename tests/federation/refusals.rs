//! Refusals end to end (RELIABILITY.md promises 3, 5 and 7): each is shown
//! at the node with the hub's Chinese reason — by `kaohe node deliver`,
//! `kaohe node status` and the hub's `kaohe hub progress` — and the hub
//! stores nothing for it.

use super::*;

/// The units and pack versions of the hub's `submissions`, by unit.
fn stored(f: &Federation) -> Vec<(String, i64, u32)> {
    let db = f.hub_db();
    let mut stmt = db
        .prepare("SELECT unit_id, sequence, pack_version FROM submissions ORDER BY sequence")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn stored_row(unit: &str, sequence: i64, version: u32) -> (String, i64, u32) {
    (unit.to_owned(), sequence, version)
}

/// The county office moves a unit to another assessor (a county
/// enterprise, assessed by the SASAC) after the node synced and evaluated
/// it: the node's queued result for that unit is refused as out of scope
/// (`OUT_OF_SCOPE`, the rejection the unary `Submit` answers with
/// `PERMISSION_DENIED`), naming the unit, its new category and the node's
/// grant; the other units are accepted; the hub stores no submission and
/// no result for it, and it stays refused.
#[test]
fn federation_refuses_a_unit_moved_out_of_the_nodes_scope() {
    let mut f = Federation::new(3, "satisfaction");
    f.start_hub(Some(ANNUAL_NOW));
    f.sync();
    let units = f.units.clone();
    f.import_rates(&units, "92");
    let queued = f.queue("annual");
    assert!(
        queued.contains("已放入发件箱（queued）：u0003　序号（sequence）3"),
        "{queued}"
    );

    let mut moved = units.clone();
    moved[2].category = "enterprise";
    moved[2].assessor = "国资局";
    f.import_roster(&moved);

    let reason = format!(
        "节点 {NODE_NAME}（{}）上报单位 u0003：单位 u0003（宝丰县测试局0003，类别 enterprise）不在本节点授权的考核对象范围内；授权范围为：类别 government_department（unit out of scope）",
        f.node_key_id
    );
    let out = f.node(&["deliver"]);
    assert!(
        out.contains("已送达 2 份（accepted with a verified receipt）；被拒绝 1 份；待重发 0 份"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "  被拒绝（rejected）序号 3　u0003 2022 年度：{reason}（字段 field：submission.unit_id）\n"
        )),
        "{out}"
    );
    let status = f.node(&["status"]);
    assert!(
        status.contains(&format!(
            "  序号 3　u0003　2022 年度　OUT_OF_SCOPE：{reason}（字段 field：submission.unit_id）\n"
        )),
        "{status}"
    );
    assert_eq!(outbox_table(&status), ["0", "0", "0", "2", "1", "0"]);

    // Nothing of u0003 at the hub; the hub's progress names the refusal.
    assert_eq!(
        stored(&f),
        [stored_row("u0001", 1, 1), stored_row("u0002", 2, 1)]
    );
    assert_eq!(
        count(
            &f.hub_db(),
            "SELECT count(*) FROM results WHERE unit_id = 'u0003'",
            []
        ),
        0
    );
    let progress = f.hub(&["progress"]);
    let p = row(
        &progress,
        &format!("{NODE_NAME}（{}）", &f.node_key_id[..8]),
    );
    assert_eq!(p[3..5], ["2/2", "0"], "{progress}");
    assert_eq!(p[5], format!("1：OUT_OF_SCOPE×1（最近：{reason}）"));

    // Delivering again sends nothing: a refusal is final.
    let again = f.node(&["deliver"]);
    assert!(
        again.contains("没有需要送达的提交（nothing to deliver）"),
        "{again}"
    );
    assert_eq!(f.outbox_count("rejected"), 1);
    assert_eq!(f.hub_rows("submissions"), 2);
    assert_eq!(f.receipts_are_at_the_hub().held, 2);
    f.finish();
}

/// The county office revokes the node (`kaohe hub node revoke`) while the
/// hub serves: the results the node queued before are refused naming the
/// revocation and its reason, nothing is stored, and the node's signed
/// calls are refused with `PERMISSION_DENIED`.
#[test]
fn federation_refuses_a_revoked_node() {
    let mut f = Federation::new(2, "satisfaction");
    f.start_hub(Some(ANNUAL_NOW));
    f.sync();
    let units = f.units.clone();
    f.import_rates(&units, "90");
    let out = f.node(&["submit", "--year", "2022", "--operator", "王科员"]);
    assert!(
        out.contains("已送达 2 份（accepted with a verified receipt）；被拒绝 0 份；待重发 0 份"),
        "{out}"
    );

    f.import_rates(&units, "95");
    f.queue("annual");
    let out = f.hub(&[
        "node",
        "revoke",
        NODE_NAME,
        "--reason",
        "节点私钥疑似泄露，停用",
    ]);
    assert!(
        out.contains(&format!(
            "已吊销节点「{NODE_NAME}」（{}），原因：节点私钥疑似泄露，停用（node revoked）",
            f.node_key_id
        )),
        "{out}"
    );

    let who = format!("节点 {NODE_NAME}（{}）已于 ", f.node_key_id);
    let why = "被吊销，原因：节点私钥疑似泄露，停用（node revoked）";
    let out = f.node(&["deliver"]);
    assert!(
        out.contains("已送达 0 份（accepted with a verified receipt）；被拒绝 2 份；待重发 0 份"),
        "{out}"
    );
    for (seq, unit) in [(3, "u0001"), (4, "u0002")] {
        let line = out
            .lines()
            .find(|l| {
                l.starts_with(&format!(
                    "  被拒绝（rejected）序号 {seq}　{unit} 2022 年度："
                ))
            })
            .unwrap_or_else(|| panic!("#{seq} not refused:\n{out}"));
        assert!(line.contains(&who) && line.contains(why), "{line}");
        assert!(
            line.ends_with("；该节点的上报一律拒收（字段 field：signatures）"),
            "{line}"
        );
    }
    let status = f.node(&["status"]);
    for (seq, unit) in [(3, "u0001"), (4, "u0002")] {
        let prefix = format!("  序号 {seq}　{unit}　2022 年度　UNKNOWN_KEY：{who}");
        assert!(
            status
                .lines()
                .any(|l| l.starts_with(&prefix) && l.contains(why)),
            "{status}"
        );
    }

    // Signed calls are refused too: the node cannot sync any more.
    let sync = f.node_output(&["sync", "--operator", "王科员"]);
    assert!(!sync.status.success());
    let text = all_output(&sync);
    assert!(
        text.contains(&format!("汇总中心拒绝（PERMISSION_DENIED）：{who}")) && text.contains(why),
        "{text}"
    );

    // Only what was accepted before the revocation is stored.
    assert_eq!(
        stored(&f),
        [stored_row("u0001", 1, 1), stored_row("u0002", 2, 1)]
    );
    assert_eq!(
        count(
            &f.hub_db(),
            "SELECT count(*) FROM results WHERE sequence > 2",
            []
        ),
        0
    );
    let progress = f.hub(&["progress"]);
    let p = row(
        &progress,
        &format!("{NODE_NAME}（{}）", &f.node_key_id[..8]),
    );
    assert!(
        p[5].starts_with(&format!("2：UNKNOWN_KEY×2（最近：{who}")),
        "{progress}"
    );
    assert_eq!(f.receipts_are_at_the_hub().held, 2);
    f.finish();
}

/// The node evaluated under pack v1; the office publishes v2 before the
/// node delivers. Delivered without a sync, the v1 results are refused
/// (`PACK_MISMATCH`, naming the current version) and nothing under v1 is
/// stored; the next sync activates v2 and flags them for re-evaluation, and
/// the next submit is accepted under v2. Had the node synced first, its
/// unsent results of the older version are superseded and never sent (v3
/// below).
#[test]
fn federation_refuses_results_of_a_superseded_pack_version() {
    let mut f = Federation::new(2, "satisfaction");
    f.start_hub(Some(ANNUAL_NOW));
    f.sync();
    let units = f.units.clone();
    f.import_rates(&units, "90");
    f.queue("annual");
    let v2 = f.build_pack(2);
    let out = f.hub(&["pack", "publish", s(&v2)]);
    assert!(out.contains("已发布规则包 baofeng-2022 v2"), "{out}");

    let out = f.node(&["deliver"]);
    assert!(
        out.contains("已送达 0 份（accepted with a verified receipt）；被拒绝 2 份；待重发 0 份"),
        "{out}"
    );
    let reason = |unit: &str| {
        format!(
            "单位 {unit}：提交所用规则包 baofeng-2022 第 1 版已被取代，当前版本为第 2 版；请同步规则包、重新计算后再提交（pack version 1 is not current; the current version is 2）（字段 field：submission.pack.version）"
        )
    };
    let status = f.node(&["status"]);
    for (seq, unit) in [(1, "u0001"), (2, "u0002")] {
        assert!(
            out.contains(&format!(
                "  被拒绝（rejected）序号 {seq}　{unit} 2022 年度：{}\n",
                reason(unit)
            )),
            "{out}"
        );
        assert!(
            status.contains(&format!(
                "  序号 {seq}　{unit}　2022 年度　PACK_MISMATCH：{}\n",
                reason(unit)
            )),
            "{status}"
        );
    }
    assert_eq!(f.hub_rows("submissions"), 0, "nothing under v1 is stored");
    assert_eq!(f.hub_rows("results"), 0);

    let out = f.sync();
    assert!(
        out.contains("已核验并启用规则包（pack verified and activated）：baofeng-2022 v2"),
        "{out}"
    );
    assert!(
        out.contains("  u0001　年度　satisfaction（原按 baofeng-2022 v1 计算）"),
        "{out}"
    );
    let out = f.node(&["submit", "--year", "2022", "--operator", "王科员"]);
    assert!(
        out.contains("已送达 2 份（accepted with a verified receipt）；被拒绝 0 份；待重发 0 份"),
        "{out}"
    );
    assert_eq!(
        stored(&f),
        [stored_row("u0001", 3, 2), stored_row("u0002", 4, 2)]
    );

    // Synced before delivering: the older version's results are never sent.
    f.import_rates(&units, "97");
    f.queue("annual");
    let v3 = f.build_pack(3);
    f.hub(&["pack", "publish", s(&v3)]);
    let out = f.sync();
    assert!(
        out.contains("  发件箱中按旧版计算、尚未发送的 2 份提交已作废，不会发送（superseded, never sent）：序号 5、6"),
        "{out}"
    );
    let out = f.node(&["deliver"]);
    assert!(
        out.contains("没有需要送达的提交（nothing to deliver）"),
        "{out}"
    );
    let status = f.node(&["status"]);
    assert_eq!(outbox_table(&status), ["0", "0", "0", "2", "2", "2"]);
    let out = f.node(&["submit", "--year", "2022", "--operator", "王科员"]);
    assert!(
        out.contains("已送达 2 份（accepted with a verified receipt）；被拒绝 0 份；待重发 0 份"),
        "{out}"
    );
    assert_eq!(
        stored(&f),
        [
            stored_row("u0001", 3, 2),
            stored_row("u0002", 4, 2),
            stored_row("u0001", 7, 3),
            stored_row("u0002", 8, 3)
        ],
        "#5 and #6 (v2, superseded) never reached the hub"
    );
    assert_eq!(
        strings(
            &f.hub_db(),
            "SELECT DISTINCT unit_id || ' v' || pack_version FROM results
             WHERE is_current = 1 ORDER BY 1"
        ),
        ["u0001 v3", "u0002 v3"]
    );
    assert_eq!(f.receipts_are_at_the_hub().held, 4);
    f.finish();
}
