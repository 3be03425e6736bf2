//! Refusals end to end (RELIABILITY.md promises 3, 5 and 7): one table of
//! what the county office changes at the hub between a node's evaluation
//! and its delivery, run by one checker. Each refusal is shown at the node
//! with the hub's Chinese reason — by `kaohe node deliver`, `kaohe node
//! status` and the hub's `kaohe hub progress` — and the hub stores nothing
//! for it; then each case goes on as the office and the node would.

use std::panic::AssertUnwindSafe;

use super::*;

/// The cases, each on a federation of its own.
const REFUSALS: &[Refusal] = &[
    // The county office moves a unit to another assessor (a county
    // enterprise, assessed by the SASAC) after the node synced and
    // evaluated it: the node's queued result for that unit is refused as out
    // of scope (`OUT_OF_SCOPE`, the rejection the unary `Submit` answers
    // with `PERMISSION_DENIED`), naming the unit, its new category and the
    // node's grant; the other units are accepted; the hub stores no
    // submission and no result for it, and it stays refused.
    Refusal {
        case: "a unit moved out of the node's scope",
        units: 3,
        before: |f| {
            let units = f.units.clone();
            f.import_rates(&units, "92");
            let queued = f.queue("annual");
            assert!(
                queued.contains("已放入发件箱（queued）：u0003　序号（sequence）3"),
                "{queued}"
            );
        },
        change: |f| {
            let mut moved = f.units.clone();
            moved[2].category = "enterprise";
            moved[2].assessor = "国资局";
            f.import_roster(&moved);
        },
        accepted: 2,
        refused: &[(3, "u0003")],
        code: "OUT_OF_SCOPE",
        message: |f, _| {
            Message::Is(format!(
                "节点 {NODE_NAME}（{}）上报单位 u0003：单位 u0003（宝丰县测试局0003，类别 enterprise）不在本节点授权的考核对象范围内；授权范围为：类别 government_department（unit out of scope）",
                f.node_key_id
            ))
        },
        field: "submission.unit_id",
        stored: &[("u0001", 1, 1), ("u0002", 2, 1)],
        reported: "2/2",
        then: |f| {
            // Delivering again sends nothing: a refusal is final.
            let again = f.node(&["deliver"]);
            assert!(
                again.contains("没有需要送达的提交（nothing to deliver）"),
                "{again}"
            );
            assert_eq!(f.outbox_count("rejected"), 1);
            assert_eq!(f.hub_rows("submissions"), 2);
        },
        receipts: 2,
    },
    // The county office revokes the node (`kaohe hub node revoke`) while the
    // hub serves: the results the node queued before are refused naming the
    // revocation and its reason, nothing is stored, and the node's signed
    // calls are refused with `PERMISSION_DENIED`.
    Refusal {
        case: "a revoked node",
        units: 2,
        before: |f| {
            let units = f.units.clone();
            f.import_rates(&units, "90");
            let out = f.submit();
            assert!(
                out.contains(
                    "已送达 2 份（accepted with a verified receipt）；被拒绝 0 份；待重发 0 份"
                ),
                "{out}"
            );
            f.import_rates(&units, "95");
            f.queue("annual");
        },
        change: |f| {
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
        },
        accepted: 0,
        refused: &[(3, "u0001"), (4, "u0002")],
        code: "UNKNOWN_KEY",
        message: |f, _| Message::Parts {
            starts: revoked_who(f),
            has: REVOKED_WHY,
            ends: "；该节点的上报一律拒收",
        },
        field: "signatures",
        stored: &[("u0001", 1, 1), ("u0002", 2, 1)],
        reported: "2/2",
        then: |f| {
            // Signed calls are refused too: the node cannot sync any more.
            let sync = f.node_output(&["sync", "--operator", "王科员"]);
            assert!(!sync.status.success());
            let text = all_output(&sync);
            assert!(
                text.contains(&format!(
                    "汇总中心拒绝（PERMISSION_DENIED）：{}",
                    revoked_who(f)
                )) && text.contains(REVOKED_WHY),
                "{text}"
            );
        },
        receipts: 2,
    },
    // The node evaluated under pack v1; the office publishes v2 before the
    // node delivers. Delivered without a sync, the v1 results are refused
    // (`PACK_MISMATCH`, naming the current version) and nothing under v1 is
    // stored; the next sync activates v2 and flags them for re-evaluation,
    // and the next submit is accepted under v2. Had the node synced first,
    // its unsent results of the older version are superseded and never sent
    // (v3 below).
    Refusal {
        case: "results of a superseded pack version",
        units: 2,
        before: |f| {
            let units = f.units.clone();
            f.import_rates(&units, "90");
            f.queue("annual");
        },
        change: |f| {
            let v2 = f.build_pack(2);
            let out = f.hub(&["pack", "publish", s(&v2)]);
            assert!(out.contains("已发布规则包 baofeng-2022 v2"), "{out}");
        },
        accepted: 0,
        refused: &[(1, "u0001"), (2, "u0002")],
        code: "PACK_MISMATCH",
        message: |_, unit| {
            Message::Is(format!(
                "单位 {unit}：提交所用规则包 baofeng-2022 第 1 版已被取代，当前版本为第 2 版；请同步规则包、重新计算后再提交（pack version 1 is not current; the current version is 2）"
            ))
        },
        field: "submission.pack.version",
        stored: &[],
        reported: "0/2",
        then: superseded_then_resubmitted,
        receipts: 4,
    },
];

#[test]
fn federation_refuses_what_the_county_office_changed_after_the_evaluation() {
    for case in REFUSALS {
        if let Err(panic) = std::panic::catch_unwind(AssertUnwindSafe(|| check(case))) {
            eprintln!("refusal case failed: {}", case.case);
            std::panic::resume_unwind(panic);
        }
    }
}

/// One refusal end to end.
struct Refusal {
    /// What the hub refuses.
    case: &'static str,
    /// Government departments on the roster (`u0001`…).
    units: usize,
    /// What the node does once synced, up to queueing what will be refused.
    before: fn(&mut Federation),
    /// What the county office changes at the hub meanwhile.
    change: fn(&mut Federation),
    /// What `kaohe node deliver` then gets accepted…
    accepted: usize,
    /// …and refused: (sequence, unit).
    refused: &'static [(u64, &'static str)],
    /// The rejection code the node shows (`REJECTION_CODE_` left off).
    code: &'static str,
    /// The refusal's message for a unit, as node and hub show it.
    message: fn(&Federation, &str) -> Message,
    /// The field the refusal names.
    field: &'static str,
    /// The hub's submissions right after: (unit, sequence, pack version).
    stored: &'static [(&'static str, i64, u32)],
    /// `kaohe hub progress`'s reported/expected for the node.
    reported: &'static str,
    /// How the case goes on.
    then: fn(&mut Federation),
    /// The receipts the node holds in the end.
    receipts: usize,
}

/// A refusal's message.
enum Message {
    Is(String),
    /// Starts, contains and ends so (the middle holds a time).
    Parts {
        starts: String,
        has: &'static str,
        ends: &'static str,
    },
}

impl Message {
    /// Whether `text` is this message.
    fn is(&self, text: &str) -> bool {
        match self {
            Message::Is(m) => text == m,
            Message::Parts { starts, has, ends } => {
                text.starts_with(starts.as_str()) && text.contains(has) && text.ends_with(ends)
            }
        }
    }
}

/// Sets up the case's federation, refuses, checks what the node and the
/// hub show and store, and lets the case go on.
fn check(case: &Refusal) {
    let mut f = Federation::new(case.units, "satisfaction");
    f.start_hub(Some(ANNUAL_NOW));
    f.sync();
    (case.before)(&mut f);
    (case.change)(&mut f);

    let out = f.node(&["deliver"]);
    assert!(
        out.contains(&format!(
            "已送达 {} 份（accepted with a verified receipt）；被拒绝 {} 份；待重发 0 份",
            case.accepted,
            case.refused.len()
        )),
        "{out}"
    );
    let status = f.node(&["status"]);
    let field = format!("（字段 field：{}）", case.field);
    for (seq, unit) in case.refused {
        let message = (case.message)(&f, unit);
        let delivered = line_after(
            &out,
            &format!("  被拒绝（rejected）序号 {seq}　{unit} 2022 年度："),
        );
        let shown = line_after(
            &status,
            &format!("  序号 {seq}　{unit}　2022 年度　{}：", case.code),
        );
        for (what, line) in [("deliver", delivered), ("status", shown)] {
            let text = line
                .strip_suffix(field.as_str())
                .unwrap_or_else(|| panic!("{what}: #{seq} does not name {field}: {line}"));
            assert!(message.is(text), "{what}: #{seq}: {line}");
        }
    }
    assert_eq!(
        outbox_table(&status),
        [
            "0".to_owned(),
            "0".to_owned(),
            "0".to_owned(),
            case.stored.len().to_string(),
            case.refused.len().to_string(),
            "0".to_owned()
        ]
    );

    // Nothing of the refused at the hub; its progress names the refusals.
    assert_eq!(stored(&f), rows(case.stored));
    let sequences: Vec<String> = case.refused.iter().map(|(s, _)| s.to_string()).collect();
    assert_eq!(
        count(
            &f.hub_db(),
            &format!(
                "SELECT count(*) FROM results WHERE sequence IN ({})",
                sequences.join(", ")
            ),
            []
        ),
        0
    );
    let progress = f.hub(&["progress"]);
    let p = row(
        &progress,
        &format!("{NODE_NAME}（{}）", &f.node_key_id[..8]),
    );
    assert_eq!(p[3..5], [case.reported, "0"], "{progress}");
    let n = case.refused.len();
    let (_, last) = case.refused[n - 1];
    let latest = p[5]
        .strip_prefix(&format!("{n}：{}×{n}（最近：", case.code))
        .and_then(|rest| rest.strip_suffix('）'))
        .unwrap_or_else(|| panic!("{progress}"));
    assert!((case.message)(&f, last).is(latest), "{progress}");

    (case.then)(&mut f);
    assert_eq!(f.receipts_are_at_the_hub().held, case.receipts);
    f.finish();
}

/// The rest of the line of `text` that starts with `prefix`.
fn line_after<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line {prefix:?} in:\n{text}"))
}

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

fn rows(rows: &[(&str, i64, u32)]) -> Vec<(String, i64, u32)> {
    rows.iter()
        .map(|(unit, sequence, version)| ((*unit).to_owned(), *sequence, *version))
        .collect()
}

/// How a revoked node is named: `节点 … 已于 ` (the time follows).
fn revoked_who(f: &Federation) -> String {
    format!("节点 {NODE_NAME}（{}）已于 ", f.node_key_id)
}

const REVOKED_WHY: &str = "被吊销，原因：节点私钥疑似泄露，停用（node revoked）";

/// After a `PACK_MISMATCH`: the next sync activates v2, evaluates the
/// refused results again under it from the stored evidence and delivers
/// them (issue #13 §3; before, it listed them for the next submit); then,
/// synced before delivering, the older version's queued results are
/// superseded and never sent, and the same sync sends their v3 successors.
fn superseded_then_resubmitted(f: &mut Federation) {
    let units = f.units.clone();
    let out = f.sync();
    assert!(
        out.contains("已核验并启用规则包（pack verified and activated）：baofeng-2022 v2"),
        "{out}"
    );
    assert!(
        out.contains("  u0001　年度　satisfaction（原按 baofeng-2022 v1 计算）"),
        "{out}"
    );
    assert!(
        out.contains("已送达 2 份（accepted with a verified receipt）；被拒绝 0 份；待重发 0 份"),
        "{out}"
    );
    assert_eq!(stored(f), rows(&[("u0001", 3, 2), ("u0002", 4, 2)]));
    let out = f.submit();
    assert!(
        out.contains("未变化，不重复提交（unchanged）：u0001"),
        "{out}"
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
    assert!(
        out.contains("已送达 2 份（accepted with a verified receipt）；被拒绝 0 份；待重发 0 份"),
        "{out}"
    );
    let out = f.node(&["deliver"]);
    assert!(
        out.contains("没有需要送达的提交（nothing to deliver）"),
        "{out}"
    );
    let status = f.node(&["status"]);
    assert_eq!(outbox_table(&status), ["0", "0", "0", "4", "2", "2"]);
    assert_eq!(
        stored(f),
        rows(&[
            ("u0001", 3, 2),
            ("u0002", 4, 2),
            ("u0001", 7, 3),
            ("u0002", 8, 3)
        ]),
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
}
