//! 审定 means final (issue #13 §1, RELIABILITY.md promise 8), through the
//! real binary: after `kaohe hub approve` every change to the year — an
//! override, an excusal, an objection (at the hub and from the node), a
//! revised report, a new pack version, the roster — is refused naming the
//! approval's 文号 and nothing is stored; `kaohe hub reopen` with a reason
//! is the one way back, and the new approval's exports name both. And
//! (§3) a superseded pack's results are not final: 待重新评价 until the
//! node's next sync resubmits them under the new version.

use super::*;

const FIRST: &str = "宝法治办〔2023〕1号";
const SECOND: &str = "宝法治办〔2023〕2号";

/// The federation with both units' satisfaction reported and accepted.
fn reported() -> Federation {
    let mut f = Federation::new(2, "satisfaction");
    f.start_hub(Some(ANNUAL_NOW));
    f.sync();
    f.import_rates(&f.units, "90");
    f.submit();
    assert_eq!(states(&f.entries()), BTreeMap::from([("accepted", 2)]));
    f
}

/// Both units excused: approval needs every unit assessed or excused, and
/// a unit here reports one method of seven.
fn excuse_all(f: &Federation) {
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
}

fn names_the_approval(text: &str, what: &str) {
    assert!(
        text.contains(&format!("审定（文号 {FIRST}）")),
        "{what}: the refusal names the approval:\n{text}"
    );
}

#[test]
fn after_approval_every_change_is_refused_naming_it_and_reopening_is_the_one_way_back() {
    let f = reported();
    excuse_all(&f);
    let out = f.hub(&["approve", "--year", "2022", "--doc-number", FIRST]);
    assert!(out.contains("已记录 2022 年度考核结果审定"), "{out}");
    let unit = f.units[0].id.clone();
    let rows = |table: &str| f.hub_rows(table);
    let before = [
        "recorded_decisions",
        "objections",
        "submissions",
        "packs",
        "units",
    ]
    .map(rows);

    // The county office's own changes.
    names_the_approval(
        &f.hub_fails(&[
            "override",
            "--year",
            "2022",
            "--unit",
            &unit,
            "--cap",
            "15",
            "--reason",
            "情节特殊",
        ]),
        "override",
    );
    names_the_approval(
        &f.hub_fails(&[
            "excuse", "--year", "2022", "--unit", &unit, "--reason", "再次",
        ]),
        "excuse",
    );
    let material = f.root().join("证明材料.pdf");
    std::fs::write(&material, b"%PDF-1.4 evidence").unwrap();
    names_the_approval(
        &f.hub_fails(&[
            "review",
            "object",
            "--year",
            "2022",
            "--unit",
            &unit,
            "--reason",
            "得分有误",
            "--material",
            s(&material),
        ]),
        "hub review object",
    );
    // The node's: an objection over gRPC, a revised report.
    names_the_approval(
        &f.node_fails(&[
            "object",
            "--year",
            "2022",
            "--unit",
            &unit,
            "--reason",
            "得分有误",
            "--material",
            s(&material),
        ]),
        "node object",
    );
    f.import_rates(&f.units[..1], "97");
    let out = f.submit();
    assert!(out.contains("被拒绝 1 份"), "{out}");
    names_the_approval(&out, "a revised report");
    // A new version of the year's pack, and the year's roster.
    let v2 = f.build_pack(2);
    names_the_approval(&f.hub_fails(&["pack", "publish", s(&v2)]), "pack publish");
    let roster = f.root().join("名册-改.csv");
    std::fs::write(&roster, roster_csv(&f.units[..1])).unwrap();
    names_the_approval(
        &f.hub_fails(&["units", "import", s(&roster), "--year", "2022"]),
        "units import",
    );
    assert_eq!(
        [
            "recorded_decisions",
            "objections",
            "submissions",
            "packs",
            "units",
        ]
        .map(rows),
        before,
        "nothing refused was stored"
    );

    // Reopening: with a reason, audited; the year opens again, nothing is
    // exported until it is approved again.
    let err = f.hub_fails(&["reopen", "--year", "2022", "--reason", " "]);
    assert!(err.contains("原因"), "{err}");
    let out = f.hub(&[
        "reopen",
        "--year",
        "2022",
        "--reason",
        "县司法局得分计算有误，经县委、县政府同意重新审定",
    ]);
    assert!(
        out.contains(&format!("已撤销 2022 年度考核结果的审定（文号 {FIRST}")),
        "{out}"
    );
    let exports = f.root().join("exports");
    let err = f.hub_fails(&["export", "--year", "2022", "--out", s(&exports)]);
    assert!(err.contains(FIRST) && err.contains("撤销"), "{err}");
    f.hub(&[
        "override",
        "--year",
        "2022",
        "--unit",
        &unit,
        "--cap",
        "15",
        "--reason",
        "经审定同意",
    ]);
    let out = f.hub(&["approve", "--year", "2022", "--doc-number", SECOND]);
    assert!(
        out.contains(&format!("替代已撤销的审定（文号 {FIRST}）")),
        "{out}"
    );

    // Both approvals in the audit log and in `hub results`.
    let audit = f.hub(&["audit", "--limit", "50"]);
    let approvals: Vec<&str> = audit
        .lines()
        .filter(|l| l.contains("results.approve") || l.contains("results.reopen"))
        .collect();
    assert_eq!(approvals.len(), 3, "{audit}");
    assert!(approvals[0].contains("results.approve") && approvals[0].contains(FIRST));
    assert!(
        approvals[1].contains("results.reopen") && approvals[1].contains("县司法局得分计算有误")
    );
    assert!(approvals[2].contains("results.approve") && approvals[2].contains(SECOND));
    let results = f.hub(&["results", "--year", "2022"]);
    let record = section(&results, "【审定记录】");
    assert!(
        record.contains(&format!("文号 {FIRST}")) && record.contains("撤销审定"),
        "{record}"
    );
    assert!(
        record.contains(&format!("文号 {SECOND}")) && record.contains(&format!("替代文号 {FIRST}")),
        "{record}"
    );

    // The exports of the new approval name both, with its digest.
    let out = f.hub(&["export", "--year", "2022", "--out", s(&exports)]);
    assert!(
        out.contains(&format!(
            "依据审定文号 {SECOND}，替代已撤销的审定文号 {FIRST}"
        )),
        "{out}"
    );
    let digest = strings(
        &f.hub_db(),
        "SELECT consolidation_sha256 FROM approvals WHERE reopened_at IS NULL",
    );
    let mut book: calamine::Xlsx<_> =
        calamine::open_workbook(exports.join("2022年度考核结果.xlsx")).unwrap();
    use calamine::Reader as _;
    let info: Vec<String> = book
        .worksheet_range("审定信息")
        .unwrap()
        .cells()
        .map(|(_, _, d)| d.to_string())
        .collect();
    for want in [SECOND, FIRST, digest[0].as_str()] {
        assert!(info.iter().any(|c| c == want), "{want} in {info:?}");
    }
    let pdf = lopdf::Document::load(exports.join("2022年度考核结果通报.pdf")).unwrap();
    let pages: Vec<u32> = pdf.get_pages().keys().copied().collect();
    let text: String = pdf
        .extract_text(&pages)
        .unwrap()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    assert!(
        text.contains(&format!("原审定文号{FIRST}")) && text.contains(SECOND),
        "{text}"
    );
    f.finish();
}

/// §3: a pack version published before approval leaves the results of the
/// old one 待重新评价 — out of the consolidation, blocking approval — until
/// the node's next sync evaluates them again from its stored evidence and
/// delivers them; then the year can be approved.
#[test]
fn a_superseded_packs_results_await_the_nodes_next_sync_before_approval() {
    let f = reported();
    let v2 = f.build_pack(2);
    f.hub(&["pack", "publish", s(&v2)]);
    let results = f.hub(&["results", "--year", "2022"]);
    let stale = section(&results, "【待重新评价】");
    for u in &f.units {
        assert!(
            stale.contains(&u.id),
            "{} awaits re-evaluation:\n{stale}",
            u.id
        );
    }
    assert!(stale.contains("第 1 版"), "{stale}");
    let err = f.hub_fails(&["approve", "--year", "2022", "--doc-number", FIRST]);
    assert!(
        err.contains("待重新评价") && err.contains("第 2 版"),
        "{err}"
    );
    assert_eq!(f.hub_rows("approvals"), 0);

    // The node's next sync: v2 activated, both units evaluated again from
    // the evidence it holds, delivered — nobody retypes anything.
    let out = f.sync();
    assert!(
        out.contains("已按新版用已存证据重新评价") && out.contains("放入发件箱 2 份"),
        "{out}"
    );
    assert!(out.contains("已送达 2 份"), "{out}");
    let current = strings(
        &f.hub_db(),
        "SELECT DISTINCT CAST(pack_version AS TEXT) FROM results WHERE is_current = 1",
    );
    assert_eq!(current, ["2"]);
    let results = f.hub(&["results", "--year", "2022"]);
    assert!(!results.contains("【待重新评价】"), "{results}");
    let err = f.hub_fails(&["approve", "--year", "2022", "--doc-number", FIRST]);
    assert!(
        !err.contains("待重新评价") && err.contains("未被考核"),
        "{err}"
    );
    excuse_all(&f);
    f.hub(&["approve", "--year", "2022", "--doc-number", FIRST]);
    f.finish();
}
