//! Keys and double reports over a year, through the real binary
//! (RELIABILITY.md "scope": a node whose key was rotated mid-year, no clash
//! with its own earlier reports): a key rotated with `hub node rotate-key`
//! and `node rotate-key prepare/adopt` keeps the node's reports, receipts
//! and sequence, and its proof bundle verifies with reports under both
//! keys; two nodes reporting one slot is settled by `hub ruling`,
//! which `hub results` tells how to do.

use super::*;

/// Reports under the old key, the key rotated mid-year, a correction under
/// the new key: one node, one current result per unit, the sequence
/// continued, every receipt still valid, no 重复上报.
#[test]
fn a_key_rotated_mid_year_keeps_the_nodes_history_and_sequence() {
    let mut f = Federation::new(3, "satisfaction");
    f.start_hub(Some(ANNUAL_NOW));
    f.sync();
    let units = f.units.clone();
    f.import_rates(&units, "90");
    f.submit();
    assert_eq!(f.outbox_count("accepted"), 3);

    // The node makes its next key; run again, the same one.
    let prepared = f.node(&["rotate-key", "prepare"]);
    let new_key = key_in(&prepared, "新公钥");
    assert_eq!(
        key_in(&f.node(&["rotate-key", "prepare"]), "新公钥"),
        new_key
    );
    // Not registered yet: adopting is refused, the old key stays in use.
    let early = f.node_fails(&["rotate-key", "adopt"]);
    assert!(early.contains("汇总中心尚未登记新密钥"), "{early}");
    assert!(early.contains("kaohe hub node rotate-key"), "{early}");
    f.sync();

    // The county office installs it.
    let out = f.hub(&[
        "node",
        "rotate-key",
        NODE_NAME,
        "--key",
        &new_key,
        "--reason",
        "年中定期更换",
    ]);
    assert!(out.contains("从序号 4 起签名"), "{out}");
    let adopted = f.node(&["rotate-key", "adopt"]);
    assert!(adopted.contains("已改用新密钥"), "{adopted}");
    assert!(
        f.node_dir
            .join(format!("node.key.retired-{}", f.node_key_id))
            .exists()
    );

    // A correction under the new key: sequence 4, the same node.
    f.import_rates(&units[..1], "97");
    let out = f.submit();
    assert!(out.contains("序号（sequence）4"), "{out}");
    assert!(out.contains("被拒绝 0 份"), "{out}");
    let hub = f.hub_db();
    let rows: Vec<String> = strings(
        &hub,
        "SELECT node_id || ' ' || signer_key_id || ' ' || sequence FROM submissions ORDER BY sequence",
    );
    let old = &f.node_key_id;
    let new_id = f.config().key_file;
    let new_id = kaohe_proto::SigningKeyPair::load(&new_id)
        .unwrap()
        .key_id()
        .to_string();
    assert_eq!(
        rows,
        vec![
            format!("{old} {old} 1"),
            format!("{old} {old} 2"),
            format!("{old} {old} 3"),
            format!("{old} {new_id} 4"),
        ]
    );
    assert_eq!(
        count(
            &hub,
            "SELECT count(*) FROM results WHERE unit_id = 'u0001' AND is_current = 1",
            []
        ),
        1
    );
    // Every receipt, old key's and new, is valid and at the hub.
    let r = f.receipts_are_at_the_hub();
    assert_eq!(r.held, 4);
    let results = f.hub(&["results", "--year", "2022"]);
    assert!(!results.contains("重复上报"), "{results}");
    let list = f.hub(&["node", "list"]);
    assert!(list.contains(&format!("此前：{old}")), "{list}");

    // The year's log keeps it one node across its keys: approved, witnessed
    // by the node under its new key, exported — the unit's proof bundle
    // (a report under each key) verifies offline.
    for u in f.unit_ids() {
        f.hub(&[
            "excuse",
            "--year",
            "2022",
            "--unit",
            &u,
            "--reason",
            "机构改革，本年度另行考核",
        ]);
    }
    f.hub(&[
        "approve",
        "--year",
        "2022",
        "--doc-number",
        "宝法治办〔2023〕1号",
    ]);
    let out = f.sync();
    assert!(out.contains("已副署"), "{out}");
    let exports = f.root().join("exports-2022");
    f.hub(&["export", "--year", "2022", "--out", s(&exports)]);
    let bundle = exports.join("proofs/u0001.json");
    let mut args = vec!["verify", s(&bundle), "--hub", &f.receipt_key];
    for a in &f.authorities {
        args.extend(["--authority", a.public.as_str()]);
    }
    args.extend(["--witnesses", "1-of", &new_key]);
    let out = kaohe(&args);
    assert!(
        out.status.success() && all_output(&out).contains("核验通过（verified）"),
        "{}",
        all_output(&out)
    );
    f.finish();
}

/// A second node, registered for the same departments, reports the same
/// unit: `hub results` lists the double report with the command; `hub
/// ruling` settles it (audited) and the unit's result is the chosen one.
#[test]
fn a_double_report_is_resolved_by_a_ruling() {
    let mut f = Federation::new(2, "satisfaction");
    let second = f.root().join("node-2");
    let (second_key, second_id) = f.init_node(&second, "第二测试节点", "county_office");
    f.hub(&[
        "node",
        "add",
        "--name",
        "第二测试节点",
        "--assessor",
        "county_office",
        "--key",
        &second_key,
        "--categories",
        "government_department",
        "--methods",
        "satisfaction",
        "--years",
        "2022",
    ]);
    let addr = f.start_hub(Some(ANNUAL_NOW));
    point_dir_at(&second, &format!("http://{addr}"), &[]);
    f.sync();
    let units = f.units.clone();
    f.import_rates(&units, "90");
    f.submit();
    // The second node reports u0001 with another rate.
    let on_second = |args: &[&str]| {
        let mut all = vec!["node", "--data-dir", s(&second)];
        all.extend_from_slice(args);
        kaohe_ok(&all)
    };
    on_second(&["sync", "--operator", "赵科员"]);
    let csv = f.root().join("第二节点.csv");
    std::fs::write(
        &csv,
        "单位编号,单位名称,轮次,法治建设满意率（%）\nunit_id,unit_name,round,sat_rate\nu0001,宝丰县测试局0001,年度,80\n",
    )
    .unwrap();
    on_second(&["import", "--year", "2022", s(&csv), "--operator", "赵科员"]);
    let out = on_second(&["submit", "--year", "2022", "--operator", "赵科员"]);
    assert!(out.contains("已送达 1 份"), "{out}");

    let results = f.hub(&["results", "--year", "2022"]);
    let pending = section(&results, "【待裁定的重复上报】");
    assert!(
        pending.contains("宝丰县测试局0001（u0001）满意度调查年度"),
        "{results}"
    );
    assert!(pending.contains("「第二测试节点」"), "{results}");
    assert!(
        pending.contains(
            "kaohe hub ruling --year 2022 --unit u0001 --round annual --method satisfaction --node <节点编号> --reason <理由>"
        ),
        "{results}"
    );
    // Ruling without a reason is refused; with one, recorded.
    let o = kaohe(&[
        "hub",
        "--data-dir",
        s(&f.hub_dir),
        "--operator",
        OPERATOR,
        "ruling",
        "--year",
        "2022",
        "--unit",
        "u0001",
        "--round",
        "annual",
        "--method",
        "satisfaction",
        "--node",
        NODE_NAME,
        "--reason",
        " ",
    ]);
    assert!(!o.status.success());
    assert!(
        all_output(&o).contains("裁定理由不能为空"),
        "{}",
        all_output(&o)
    );
    let out = f.hub(&[
        "ruling",
        "--year",
        "2022",
        "--unit",
        "u0001",
        "--round",
        "annual",
        "--method",
        "satisfaction",
        "--node",
        NODE_NAME,
        "--reason",
        "名册所列考核主体的节点为本节点",
    ]);
    assert!(out.contains("已裁定"), "{out}");
    let results = f.hub(&["results", "--year", "2022"]);
    assert!(!results.contains("【待裁定的重复上报】"), "{results}");
    assert!(!results.contains("重复上报"), "{results}");
    let audit = strings(
        &f.hub_db(),
        "SELECT detail FROM audit_log WHERE action = 'results.ruling'",
    );
    assert_eq!(audit.len(), 1);
    assert!(
        audit[0].contains("名册所列考核主体的节点为本节点"),
        "{audit:?}"
    );
    assert!(
        audit[0].contains(&second_id),
        "both reports are named: {audit:?}"
    );
    f.finish();
}
