//! `kaohe demo` end to end, its results checked by a second path.
//!
//! The demo runs two assessment years of the sample county as separate
//! processes over TLS with client certificates. This test does not trust
//! the hub's consolidation: it reads the evidence exactly as the nodes
//! imported it (the filled CSV files under `nodes/`, plus the one correction
//! made after an objection), scores every unit with the reference
//! interpreter of `kaohe-rulepacks`, ranks the ranked categories itself, and
//! compares total, grade, rank and every indicator score with the hub's
//! Excel export. Nothing of `kaohe_hub` is called; the hub's database is
//! only read, read-only, for what the workflow decided (objections,
//! excusals, penalty-cap overrides).
//!
//! Layout: this file holds
//! [`demo_two_years_over_mtls_agree_with_the_reference_interpreter`] (the
//! one test) and its checks; `independent.rs` (evidence → interpreter →
//! ranking); `export.rs` (the xlsx as a table of units); `log.rs` (every
//! proof bundle through `kaohe verify`, and tampered ones refused).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use calamine::{Data, Reader, Xlsx, open_workbook};
use kaohe_rulepacks::abi::merge_outputs;
use kaohe_rulepacks::fixture::Evidence;
use kaohe_rulepacks::interp::Interpreter;
use kaohe_rulepacks::manifest::{FieldType, Manifest, Round};
use kaohe_rulepacks::rubric::decimal::format_hundredths_fixed;

use crate::{kaohe, kaohe_ok, path_str, repo, stderr, stdout};

pub(crate) mod export;
mod independent;
mod log;

const YEARS: [u16; 2] = [2022, 2023];
/// The categories the scheme grades and ranks (1, 4, 7).
const RANKED: [&str; 3] = ["township", "government_department", "stationed_unit"];
/// The correction made after the 2023 objection (`kaohe node set`), as the
/// demo's `evidence::OBJECTION` makes it: year, unit, field, value.
const CORRECTION: (u16, &str, &str, &str) = (2023, "guanyintang", "oc_annual_report", "按时公开");
/// Never reports; excused (免于考核) before approval, both years.
const EXCUSED: &str = "zrzyj";
/// The villages of the township node that is offline over the 2023 Q3 round.
const LATE_2023: [&str; 3] = ["zhaozhuang-v1", "zhaozhuang-v2", "zhaozhuang-v3"];
/// A guard against a hang while polling, never a timing assertion.
const POLL_LIMIT: Duration = Duration::from_secs(300);

/// One unit's result, from either side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Row {
    pub(crate) category: String,
    pub(crate) total: i64,
    pub(crate) grade: String,
    pub(crate) rank: Option<u32>,
}

/// The demo runs both years, and every unit's total, grade and rank in the
/// hub's export equals what the reference interpreter gives on the imported
/// evidence; late and unassessed units, the year-over-year outcomes and the
/// objection are the scripted ones; the hub served TLS and refused a node
/// without a client certificate; a second run refuses the directory and a
/// `--fresh` rerun exports the same workbooks (each carrying its run's
/// approval digest).
#[test]
fn demo_two_years_over_mtls_agree_with_the_reference_interpreter() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("demo");
    // --keep-running: the hub stays up so the test can knock on it without
    // a client certificate; the test stops it below.
    let o = kaohe(&["demo", "--dir", path_str(&dir), "--keep-running"]);
    let text = stdout(&o);
    assert!(
        o.status.success(),
        "kaohe demo 失败（demo failed）：\n{text}\n{}",
        stderr(&o)
    );
    let hub = KeptHub::from_output(&text, &dir);
    // What the demo prints for an official, in Chinese.
    for needle in [
        "2023 年度第1类排名 【各乡镇、龙王沟乡村振兴示范区、观音堂林业生态旅游示范区、铁路地区办事处】评定等次并排名",
        "2023 年度第4类排名 【县政府组成部门、直属单位，部门管理机构】评定等次并排名",
        "2023 年度第7类排名 【有关驻宝单位】评定等次并排名",
        "2022 年度第1类排名（供对照）",
        "2023 年度其他类别等次：",
        "【县属医院（分级考核）】只评定等次",
        // Issue #13: the quarterly leaderboard is shown.
        "2023 年度党建引领·比拼四季（季度擂台，各季度得分与名次）：",
        "【党建引领·比拼四季】",
        "【村（社区）（分级考核）】只评定等次",
        "【迟报单位】",
        "【未考核单位】",
        "【结果运用】",
        // One item marked not applicable, with its reason (issue #13).
        "【不适用的考核内容】",
        "N2_5 深入推进服务型行政执法建设",
        "国资局为履行出资人职责的特设机构，不承担行政执法职能",
        "连续2年（2022—2023年）考核优秀",
        "退步较大",
        // Issue #14: a county's report — dates as officials write them,
        // names where the hub has ids.
        "2024年2月19日作出复核决定：更正",
        "对宝丰县观音堂林业生态旅游示范区（示例数据）的结果申请复核",
        "第三季度日常评价（截至2023年10月10日）：4 个考核主体",
        "宝丰县赵庄镇（示例数据）本轮未联网上报（离线）",
        "宝丰县赵庄镇（示例数据）补报第三季度日常评价 3 个单位（迟报）",
        "县级 3 个用 Excel 模板，乡镇 2 个用 CSV 模板",
        "2024年3月20日县委、县政府审定考核结果（宝法治办〔2024〕1号）",
        "宝丰县自然资源局（示例数据）本年度免于考核",
        "2024年1月31日向 38 个单位通报反馈考核结果",
        "exports-2023",
    ] {
        assert!(
            text.contains(needle),
            "演示输出缺少「{needle}」（the demo did not print it）：\n{text}"
        );
    }
    // Not a log: no English gloss after a line, no RFC 3339 instants, no
    // submission numbers or unit ids where a name exists.
    let report = text.split("汇总中心保持运行").next().unwrap_or_default();
    for line in report.lines() {
        let gloss = line.split('（').skip(1).any(|after| {
            after.split_once('）').is_some_and(|(inside, _)| {
                inside.chars().any(|c| c.is_ascii_alphabetic())
                    && inside.chars().all(|c| c.is_ascii() && c != '/')
            })
        });
        assert!(!gloss, "英文注释（an English gloss）：{line}");
        for leak in [
            "+08:00",
            "依据第",
            "节点编号",
            "单位 guanyintang",
            "：zrzyj",
        ] {
            assert!(!line.contains(leak), "「{leak}」：{line}");
        }
    }

    // 4. TLS and client certificates.
    check_tls(&dir, &hub);
    // The quarterly leaderboard reaches the nodes (issue #13): the county
    // office's node reads it with its results.
    let office = dir.join("nodes/county-office");
    let results = kaohe_ok(&[
        "node",
        "--data-dir",
        path_str(&office),
        "results",
        "--year",
        "2023",
    ]);
    assert!(
        results.contains("【党建引领·比拼四季】第一季度") && results.contains("（满分"),
        "节点未收到季度擂台（the node got no leaderboard）：\n{results}"
    );
    hub.stop();

    // 5. The proof bundles, verified offline; tampering refused.
    log::check(&dir, &text);
    assert!(
        text.contains("汇总中心保持运行：https://"),
        "演示未以 https 报告汇总中心地址（hub not reported over https）：\n{text}"
    );

    let db = rusqlite::Connection::open_with_flags(
        dir.join("hub/hub.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open hub.db read-only");

    let mut exports = BTreeMap::new();
    for year in YEARS {
        let xlsx = dir.join(format!("exports-{year}/{year}年度考核结果.xlsx"));
        let export = export::read(&xlsx);

        // 1. Independent rankings.
        let ours = independent::results(&dir, year, &db);
        compare(year, &ours, &export);

        // 2. Late and unassessed.
        check_late_and_unassessed(year, &export, &dir);

        // 3. Year over year, and the objection.
        if year == 2023 {
            check_outcomes_2023(&export, &db);
        }
        // The workbook carries the digest of the consolidation approved.
        let approved: String = db
            .query_row(
                "SELECT consolidation_sha256 FROM approvals WHERE year = ?1 AND reopened_at IS NULL",
                [year],
                |r| r.get(0),
            )
            .expect("the year's approval in force");
        let sheets = sheets_of(&xlsx);
        let info = sheets
            .iter()
            .find(|(name, _)| name == "审定信息")
            .unwrap_or_else(|| panic!("{year} 年度工作簿没有「审定信息」（no approval sheet）"));
        assert!(
            info.1.iter().flatten().any(|c| *c == approved),
            "{year} 年度工作簿的审定汇总摘要应为 {approved}（the approval's digest）：{:?}",
            info.1
        );
        exports.insert(year, sheets);
    }
    drop(db);

    // 6. A second run refuses the directory; --fresh reruns it and the
    // exports hold the same results (the same evidence gives the same
    // results).
    let again = kaohe(&["demo", "--dir", path_str(&dir)]);
    assert!(
        !again.status.success() && stderr(&again).contains("非空"),
        "第二次运行应拒绝非空目录（a second run must refuse the non-empty directory）：\n{}{}",
        stdout(&again),
        stderr(&again)
    );
    let fresh = kaohe(&["demo", "--dir", path_str(&dir), "--fresh"]);
    assert!(
        fresh.status.success() && stdout(&fresh).contains("汇总中心已停止"),
        "--fresh 重新运行失败（--fresh rerun failed）：\n{}{}",
        stdout(&fresh),
        stderr(&fresh)
    );
    // Every sheet but 审定信息, cell by cell: the approval's digest covers
    // the nodes' key ids (who reported late), which each run makes anew.
    for (year, first) in &exports {
        let xlsx = dir.join(format!("exports-{year}/{year}年度考核结果.xlsx"));
        let second = sheets_of(&xlsx);
        let results = |sheets: &[(String, Vec<Vec<String>>)]| -> Vec<(String, Vec<Vec<String>>)> {
            sheets
                .iter()
                .filter(|(name, _)| name != "审定信息")
                .cloned()
                .collect()
        };
        assert!(
            results(first) == results(&second),
            "{year} 年度两次运行导出的工作簿内容不同（the xlsx export differs between two runs）"
        );
    }
}

/// Every sheet of a workbook, by name, as text cells.
fn sheets_of(path: &Path) -> Vec<(String, Vec<Vec<String>>)> {
    let mut book: Xlsx<_> =
        open_workbook(path).unwrap_or_else(|e| panic!("打开 {}：{e}", path.display()));
    book.sheet_names()
        .into_iter()
        .map(|name| {
            let rows = book
                .worksheet_range(&name)
                .unwrap_or_else(|e| panic!("{} 的工作表 {name}：{e}", path.display()))
                .rows()
                .map(|r| r.iter().map(ToString::to_string).collect())
                .collect();
            (name, rows)
        })
        .collect()
}

/// Every unit on both sides, with the same total, grade and rank, and the
/// same indicator scores.
fn compare(year: u16, ours: &independent::Results, export: &export::Export) {
    let mut problems = Vec::new();
    let ids = |m: &BTreeMap<String, Row>| m.keys().cloned().collect::<BTreeSet<_>>();
    let (a, b) = (ids(&ours.rows), ids(&export.rows));
    for u in a.difference(&b) {
        problems.push(format!(
            "{u}：解释器有结果，导出中没有（missing from the export）"
        ));
    }
    for u in b.difference(&a) {
        problems.push(format!(
            "{u}：导出中有，解释器无结果（not assessed by the interpreter）"
        ));
    }
    for (u, mine) in &ours.rows {
        let Some(theirs) = export.rows.get(u) else {
            continue;
        };
        let category_name = &ours.category_names[&mine.category];
        if &theirs.category != category_name {
            problems.push(format!(
                "{u} 类别（category）：解释器 {category_name}，导出 {}",
                theirs.category
            ));
        }
        if (mine.total, &mine.grade, mine.rank) != (theirs.total, &theirs.grade, theirs.rank) {
            problems.push(format!(
                "{u}：解释器 总分 {} 等次 {} 名次 {:?}；导出 总分 {} 等次 {} 名次 {:?}",
                format_hundredths_fixed(mine.total),
                mine.grade,
                mine.rank,
                format_hundredths_fixed(theirs.total),
                theirs.grade,
                theirs.rank
            ));
        }
        if let Some(sheet) = export.ranking.get(u)
            && (sheet.total, &sheet.grade, sheet.rank) != (mine.total, &mine.grade, mine.rank)
        {
            problems.push(format!(
                "{u}：排名表 总分 {} 等次 {} 名次 {:?}，解释器 {} {} {:?}",
                format_hundredths_fixed(sheet.total),
                sheet.grade,
                sheet.rank,
                format_hundredths_fixed(mine.total),
                mine.grade,
                mine.rank
            ));
        }
        let (want, got) = (&ours.indicators[u], export.indicators.get(u));
        if Some(want) != got {
            problems.push(format!(
                "{u} 分项得分（indicator scores）：解释器 {want:?}，导出 {got:?}"
            ));
        }
    }
    // Only the ranked categories' units have a rank, and each is in its sheet.
    for (u, mine) in &ours.rows {
        let ranked = RANKED.contains(&mine.category.as_str());
        if ranked != export.ranking.contains_key(u) {
            problems.push(format!(
                "{u}：排名表中{}（ranking sheet）",
                if ranked { "缺少" } else { "不应出现" }
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{year} 年度：汇总中心导出与参考解释器不一致（the hub's export disagrees with the reference interpreter）：\n{}",
        problems.join("\n")
    );
}

fn check_late_and_unassessed(year: u16, export: &export::Export, dir: &Path) {
    let late: BTreeSet<&str> = export.late.keys().map(String::as_str).collect();
    let want: BTreeSet<&str> = if year == 2022 {
        BTreeSet::new()
    } else {
        LATE_2023.into_iter().collect()
    };
    assert_eq!(
        late, want,
        "{year} 年度迟报单位（late units）不符：{:?}",
        export.late
    );
    for (u, detail) in &export.late {
        assert!(
            detail.contains("日常评价第三季度"),
            "{year} {u} 迟报的应是第三季度日常评价（late for the Q3 round）：{detail}"
        );
    }
    assert!(
        !late.contains(CORRECTION.1),
        "{year}：{} 在复核期内更正，不应列为迟报（corrected within its objection, not late）",
        CORRECTION.1
    );

    // The workbook lists no unit as not assessed, and the excused one as
    // 免于考核 with the recorded reason.
    assert!(
        export.unassessed.is_empty(),
        "{year} 年度导出中不应有未考核单位（no unassessed unit）：{:?}",
        export.unassessed
    );
    assert!(
        export
            .excused
            .get(EXCUSED)
            .is_some_and(|why| why.contains("机构改革")),
        "{year} 年度导出应列出免于考核的 {EXCUSED} 及原因（the excused unit and its reason）：{:?}",
        export.excused
    );
    assert!(
        !export.rows.contains_key(EXCUSED) && !export.ranking.contains_key(EXCUSED),
        "{year} {EXCUSED} 免于考核，不应有得分或名次（an excused unit has no score）"
    );
    // The hub's text output lists it apart, as excused: every line naming
    // it says 免于考核, none shows a score.
    let results = kaohe_ok(&[
        "hub",
        "--data-dir",
        path_str(&dir.join("hub")),
        "results",
        "--year",
        &year.to_string(),
    ]);
    let lines: Vec<&str> = results.lines().filter(|l| l.contains(EXCUSED)).collect();
    assert!(
        !lines.is_empty(),
        "{year} results 未列出 {EXCUSED}（not listed）：\n{results}"
    );
    for line in lines {
        assert!(
            line.contains("免于考核") && !line.contains("0.00"),
            "{year} results 中 {EXCUSED} 的行应显示免于考核，不显示 0 分（shown as excused, never with 0）：{line}"
        );
    }
}

fn check_outcomes_2023(export: &export::Export, db: &rusqlite::Connection) {
    let has = |unit: &str, kinds: &[&str], reason: &str| {
        export
            .outcomes
            .iter()
            .any(|(k, u, r)| u == unit && kinds.contains(&k.as_str()) && r.contains(reason))
    };
    let show = || {
        export
            .outcomes
            .iter()
            .map(|(k, u, r)| format!("{k} {u} {r}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    for (unit, kind, reason) in [
        ("longwanggou", &["通报表扬"][..], "连续2年"),
        ("longwanggou", &["向上推荐"], "优先向省、市推荐"),
        ("yangzhuang", &["通报警示"], "退步较大"),
        ("yangzhuang", &["通报警示"], "末三名"),
    ] {
        assert!(
            has(unit, kind, reason),
            "2023 年度结果运用缺少 {unit} {kind:?}（{reason}）（missing outcome）：\n{}",
            show()
        );
    }
    let decisions: Vec<(String, Option<String>)> = db
        .prepare("SELECT unit_id, decision FROM objections WHERE year = 2023 ORDER BY id")
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()
        })
        .expect("read objections");
    assert_eq!(
        decisions,
        vec![(CORRECTION.1.to_owned(), Some("revised".to_owned()))],
        "2023 年度的异议应只有 {} 一件，复核决定为更正（revised）",
        CORRECTION.1
    );
}

/// The hub served https with client certificates and the CA's CRL: every
/// node is configured for it (and checks the hub against the CRL), and a
/// node without a certificate is turned away at the handshake.
fn check_tls(dir: &Path, hub: &KeptHub) {
    // Every hub start in the log serves TLS and asks for client certificates.
    let log = std::fs::read_to_string(dir.join("demo.log")).expect("demo.log");
    let serves: Vec<&str> = log.lines().filter(|l| l.contains(" serve ")).collect();
    assert!(
        serves.len() >= 10,
        "demo.log 中汇总中心启动次数过少（hub starts）：{}",
        serves.len()
    );
    for l in serves {
        assert!(
            l.contains("--tls-cert")
                && l.contains("--tls-key")
                && l.contains("--client-ca")
                && l.contains("--client-crl"),
            "汇总中心须以 TLS、客户端证书和吊销列表运行（TLS + mTLS + CRL）：{l}"
        );
    }
    let mut nodes = 0;
    for e in std::fs::read_dir(dir.join("nodes")).expect("nodes/") {
        let nd = e.expect("nodes/ entry").path();
        let toml = std::fs::read_to_string(nd.join("node.toml")).expect("node.toml");
        let value = |key: &str| {
            toml.lines()
                .find_map(|l| l.strip_prefix(&format!("{key} = \"")))
                .and_then(|v| v.strip_suffix('"'))
                .map(str::to_owned)
        };
        let address = value("address").unwrap_or_default();
        assert!(
            address.starts_with("https://"),
            "{} 的汇总中心地址应为 https://（hub address）：{address}",
            nd.display()
        );
        // The county CA's revocation list too: the node checks the hub's
        // certificate against it on every connection.
        for key in ["client_cert", "client_key", "ca_cert", "crl"] {
            let file = value(key).unwrap_or_else(|| {
                panic!(
                    "{} 的 node.toml 未设置 {key}（mTLS not configured）",
                    nd.display()
                )
            });
            let pem = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file}：{e}"));
            assert!(pem.starts_with("-----BEGIN "), "{file} 不是 PEM 文件");
        }
        nodes += 1;
    }
    assert_eq!(nodes, 5, "演示应有五个节点（five nodes）");

    // A node the county CA never certified: the hub closes the connection
    // after the TLS handshake (--client-ca), before any call is answered.
    let probe = dir
        .parent()
        .expect("demo dir has a parent")
        .join("probe-node");
    let addr = format!("https://{}", hub.addr);
    kaohe_ok(&[
        "node",
        "--data-dir",
        path_str(&probe),
        "init",
        "--hub",
        &addr,
        "--ca-cert",
        path_str(&dir.join("ca/ca.pem")),
        "--name",
        "未获证书的探测节点（示例数据）",
        "--assessor",
        "county_office",
    ]);
    let o = kaohe(&[
        "node",
        "--data-dir",
        path_str(&probe),
        "sync",
        "--operator",
        "测试",
    ]);
    assert!(
        !o.status.success() && stderr(&o).contains("客户端证书"),
        "没有客户端证书的节点应在握手时被拒绝（a node without a client certificate must be refused）：\n{}{}",
        stdout(&o),
        stderr(&o)
    );
}

/// The hub a `--keep-running` demo left serving; stopped (SIGTERM) on drop.
struct KeptHub {
    addr: String,
    pid: u32,
    serve_log: PathBuf,
    stopped: bool,
}

impl KeptHub {
    fn from_output(text: &str, dir: &Path) -> KeptHub {
        let line = text
            .lines()
            .find(|l| l.starts_with("汇总中心保持运行："))
            .unwrap_or_else(|| panic!("演示未报告保持运行的汇总中心（no kept hub）：\n{text}"));
        let addr = line
            .split("https://")
            .nth(1)
            .and_then(|r| r.split('（').next())
            .expect("hub address")
            .to_owned();
        let pid = line
            .split("进程号 ")
            .nth(1)
            .and_then(|r| r.split('；').next())
            .and_then(|p| p.parse().ok())
            .expect("hub pid");
        KeptHub {
            addr,
            pid,
            serve_log: dir.join("hub/serve.log"),
            stopped: false,
        }
    }

    fn stopped_count(&self) -> usize {
        std::fs::read_to_string(&self.serve_log)
            .unwrap_or_default()
            .matches("汇总中心已停止")
            .count()
    }

    fn terminate(&self) -> usize {
        let before = self.stopped_count();
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        before
    }

    /// SIGTERM, then wait until the hub says it stopped cleanly. (It is no
    /// child of this test, so its exit status cannot be waited for.)
    fn stop(mut self) {
        let before = self.terminate();
        self.stopped = true;
        let start = Instant::now();
        while self.stopped_count() == before {
            assert!(
                start.elapsed() < POLL_LIMIT,
                "汇总中心（进程 {}）未停止（hub did not stop）",
                self.pid
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for KeptHub {
    fn drop(&mut self) {
        if !self.stopped {
            self.terminate();
        }
    }
}
