//! Scopes mean what the roster says (RELIABILITY.md "scope"), through the
//! real binary: a township node reports its villages, not the township the
//! roster gives to the county office — unless its scope says so for a
//! self-assessment; `hub node add` warns of both and of the methods nobody
//! reports; a scope edited mid-year (audited) takes effect at the next
//! delivery; the node says why a unit is not assessed.

use super::*;

/// 肖旗乡 (assessed by the county office) and its two villages (assessed
/// by 肖旗乡).
fn township_roster() -> Vec<Unit> {
    let village = |i: usize| Unit {
        id: format!("xq-v{i}"),
        name: format!("肖旗乡测试村{i}"),
        category: "village",
        parent: "xq",
        assessor: "xq",
    };
    vec![
        Unit {
            id: "xq".into(),
            name: "肖旗乡".into(),
            category: "township",
            parent: "",
            assessor: "依法治县办",
        },
        village(1),
        village(2),
    ]
}

/// The guide's old example, a township node with `--subtrees xq`: warned at
/// registration that the township is the county office's and that six of
/// the seven methods are granted to nobody. With `--own-unit` the node
/// reports the township too; the county office then withdraws it (`hub
/// node edit`, audited): the queued self-report is refused at the hub with
/// the reason, the villages are accepted, and `node status` and `node
/// results` say why units are not assessed.
#[test]
fn a_self_report_is_refused_once_the_scope_no_longer_says_so() {
    let mut f = Federation::with(
        township_roster(),
        "township",
        &[
            "--assessor",
            "township",
            "--assessor-unit",
            "xq",
            "--subtrees",
            "xq",
            "--own-unit",
            "--methods",
            "satisfaction",
            "--years",
            "2022",
        ],
    );
    // Own unit said explicitly: no warning about the township; the six
    // methods nobody is granted are.
    assert!(
        !f.registered.contains("其他考核主体考核的单位"),
        "{}",
        f.registered
    );
    assert!(
        f.registered
            .contains("2022 年度：3 个单位的应报考核方式本节点未获授权"),
        "{}",
        f.registered
    );
    assert!(
        f.registered.contains("日常评价（daily，尚无节点获授权）"),
        "{}",
        f.registered
    );
    assert!(f.registered.contains("将是「未考核」"), "{}", f.registered);

    // The same scope for another township node, without --own-unit: the
    // registration names the township as the county office's.
    let other = kaohe_ok(&["pack", "keygen", "-o", s(&f.root().join("other.key"))]);
    let other_key = key_in(&other, "公钥");
    let warned = f.hub(&[
        "node",
        "add",
        "--name",
        "肖旗乡另一节点",
        "--assessor",
        "township",
        "--assessor-unit",
        "xq",
        "--key",
        &other_key,
        "--subtrees",
        "xq",
        "--methods",
        "satisfaction",
        "--years",
        "2022",
    ]);
    assert!(
        warned.contains(
            "授权范围包含 1 个名册上由其他考核主体考核的单位，本节点对它们的上报将被拒收：肖旗乡（xq，考核主体依法治县办）"
        ),
        "{warned}"
    );
    assert!(
        warned.contains("kaohe hub node edit --own-unit"),
        "{warned}"
    );
    f.hub(&["node", "revoke", "肖旗乡另一节点", "--reason", "重复登记"]);

    f.start_hub(Some(ANNUAL_NOW));
    f.sync();
    assert_eq!(
        f.store()
            .scope(2022)
            .unwrap()
            .units
            .iter()
            .map(|u| u.unit_id.as_str())
            .collect::<Vec<_>>(),
        ["xq", "xq-v1", "xq-v2"],
        "its own unit is in scope while the scope says so"
    );
    let units = f.units.clone();
    f.import_rates(&units, "92");
    f.queue("annual");

    // The county office withdraws the self-assessment, with its reason.
    let edited = f.hub(&[
        "node",
        "edit",
        NODE_NAME,
        "--own-unit",
        "false",
        "--reason",
        "方案未允许乡镇自评",
    ]);
    assert!(edited.contains("已修改节点"), "{edited}");
    assert!(edited.contains("含本单位自评"), "{edited}");
    assert!(
        edited.contains("授权范围包含 1 个名册上由其他考核主体考核的单位"),
        "{edited}"
    );
    let audit = strings(
        &f.hub_db(),
        "SELECT detail FROM audit_log WHERE action = 'node.edit'",
    );
    assert_eq!(audit.len(), 1);
    assert!(audit[0].contains("方案未允许乡镇自评"), "{audit:?}");

    // The queued self-report is refused with the roster's reason.
    let out = f.node(&["deliver"]);
    assert!(out.contains("被拒绝 1 份"), "{out}");
    assert!(out.contains("考核主体是依法治县办"), "{out}");
    assert!(out.contains("--own-unit"), "{out}");
    assert_eq!(f.outbox_count("accepted"), 2);
    assert_eq!(f.outbox_count("rejected"), 1);
    assert_eq!(
        count(
            &f.hub_db(),
            "SELECT count(*) FROM submissions WHERE unit_id = 'xq'",
            []
        ),
        0
    );

    // Why the villages are not assessed: at the node, offline and online.
    let status = f.node(&["status"]);
    let gaps = section(&status, "2022 年尚未考核的单位及原因");
    let village = gaps
        .lines()
        .find(|l| l.contains("（xq-v1）"))
        .unwrap_or_else(|| panic!("{status}"));
    assert!(
        village.contains("肖旗乡测试村1（xq-v1）未考核：缺 日常评价（daily）各季度、"),
        "{village}"
    );
    assert!(
        village.contains("本节点未获授权，须由其他考核主体上报"),
        "{village}"
    );
    assert!(!village.contains("满意度调查"), "delivered: {village}");
    // The township, still in the scope the node synced, says it was refused.
    let township = gaps.lines().find(|l| l.contains("（xq）")).unwrap();
    assert!(township.contains("被汇总中心拒收"), "{township}");
    let results = f.node(&["results", "--year", "2022"]);
    let why = section(&results, "未考核的原因");
    assert!(why.contains("xq-v1"), "{results}");
    assert!(
        why.contains("应由考核主体肖旗乡（xq）上报，但尚无节点获授权上报此方式"),
        "{results}"
    );
    f.finish();
}
