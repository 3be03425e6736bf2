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
//! Layout: [`demo_two_years_over_mtls_agree_with_the_reference_interpreter`]
//! (the one test); `independent` (evidence → interpreter → ranking);
//! `export` (the xlsx as a table of units); small helpers below.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use calamine::{Data, Reader, Xlsx, open_workbook};
use kaohe_rulepacks::abi::merge_outputs;
use kaohe_rulepacks::fixture::Evidence;
use kaohe_rulepacks::interp::Interpreter;
use kaohe_rulepacks::manifest::{FieldType, Manifest, Round};
use kaohe_rulepacks::rubric::decimal::format_hundredths_fixed;

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
struct Row {
    category: String,
    total: i64,
    grade: String,
    rank: Option<u32>,
}

/// The demo runs both years, and every unit's total, grade and rank in the
/// hub's export equals what the reference interpreter gives on the imported
/// evidence; late and unassessed units, the year-over-year outcomes and the
/// objection are the scripted ones; the hub served TLS and refused a node
/// without a client certificate; a second run refuses the directory and a
/// `--fresh` rerun exports byte-identical workbooks.
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
        "【村（社区）（分级考核）】只评定等次",
        "【迟报单位】",
        "【未考核单位】",
        "【结果运用】",
        "连续2年（2022—2023年）考核优秀",
        "退步较大",
        "复核申请第 1 号：更正",
        "本轮未联网上报（离线）",
        "（Excel），评分、签名、上报",
        "（CSV），评分、签名、上报",
        "exports-2023",
    ] {
        assert!(
            text.contains(needle),
            "演示输出缺少「{needle}」（the demo did not print it）：\n{text}"
        );
    }

    // 4. TLS and client certificates.
    check_tls(&dir, &hub);
    hub.stop();
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
        exports.insert(
            year,
            std::fs::read(&xlsx).unwrap_or_else(|e| panic!("读取 {}：{e}", xlsx.display())),
        );
    }
    drop(db);

    // 5. A second run refuses the directory; --fresh reruns it and the
    // exports are the same bytes (the same evidence gives the same results).
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
    for (year, first) in &exports {
        let xlsx = dir.join(format!("exports-{year}/{year}年度考核结果.xlsx"));
        let second =
            std::fs::read(&xlsx).unwrap_or_else(|e| panic!("读取 {}：{e}", xlsx.display()));
        assert!(
            *first == second,
            "{year} 年度两次运行导出的工作簿字节不同（the xlsx export differs between two runs）：{} vs {} bytes",
            first.len(),
            second.len()
        );
    }
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

/// Evidence → reference interpreter → grades and ranks, without the hub.
mod independent {
    use super::*;

    pub struct Results {
        pub rows: BTreeMap<String, Row>,
        /// Unit → indicator id → score, for the indicators present.
        pub indicators: BTreeMap<String, BTreeMap<String, i64>>,
        /// Category id → its name (as the export shows it).
        pub category_names: BTreeMap<String, String>,
    }

    pub fn results(dir: &Path, year: u16, db: &rusqlite::Connection) -> Results {
        let source =
            std::fs::read_to_string(repo(&format!("rulepacks/baofeng-{year}/rubric.toml")))
                .expect("read the rubric");
        let rubric = kaohe_rulepacks::rubric::compile("rubric.toml", &source)
            .unwrap_or_else(|e| panic!("{year} 年度细则编译失败：{e}"));
        let interp = Interpreter::new(&rubric);
        let m = interp.manifest();
        let ranked: Vec<&str> = m
            .categories
            .iter()
            .filter(|c| c.ranked)
            .map(|c| c.id.as_str())
            .collect();
        assert_eq!(
            ranked, RANKED,
            "{year} 年度规则包的排名类别（ranked categories）"
        );

        let roster = roster(&dir.join("hub/名册（示例数据）.csv"));
        let mut evidence = evidence(dir, year, m);
        let (y, unit, field, value) = CORRECTION;
        if y == year {
            let f = m.field_index(field).expect("the corrected field");
            let annual = evidence
                .get_mut(unit)
                .and_then(|r| r.get_mut(&Round::Annual))
                .expect("the corrected unit's annual evidence");
            annual[f] = Some(parse(m, f, value));
        }
        let caps = penalty_caps(db, year);
        let excused = excused(db, year);
        assert_eq!(excused, [EXCUSED], "{year} 年度免于考核的单位");

        let mut rows = BTreeMap::new();
        let mut indicators = BTreeMap::new();
        for (unit, rounds) in evidence {
            if excused.contains(&unit) {
                continue;
            }
            let category = roster
                .get(&unit)
                .unwrap_or_else(|| panic!("{unit} 不在名册中（not on the roster）"));
            let c = m
                .category_index(category)
                .unwrap_or_else(|| panic!("{unit} 的类别 {category} 不在规则包中"));
            let ev = Evidence {
                category: c,
                methods: m.all_methods_mask(),
                rounds: rounds.into_iter().collect(),
                penalty_cap_override: caps.get(&unit).copied(),
            };
            let outs = interp.evaluate(&ev.units());
            for ((round, _), out) in ev.rounds.iter().zip(&outs) {
                assert!(
                    out.status.is_ok(),
                    "{year} {unit} {} 解释器评分失败：{:?}",
                    round.name_zh(),
                    out.status
                );
            }
            let pairs: Vec<(Round, &_)> = ev.rounds.iter().map(|(r, _)| *r).zip(&outs).collect();
            let input = merge_outputs(m, c as u32, &pairs, ev.penalty_cap_override)
                .unwrap_or_else(|e| panic!("{year} {unit} 汇总各轮次失败：{e}"));
            let fin = interp.finalise(std::slice::from_ref(&input));
            let sheet = *fin[0]
                .result()
                .unwrap_or_else(|s| panic!("{year} {unit} 定档失败：{s:?}"));
            rows.insert(
                unit.clone(),
                Row {
                    category: category.clone(),
                    total: sheet.total,
                    grade: m.composition.grades[sheet.grade as usize].name.clone(),
                    rank: None,
                },
            );
            let mut scores: BTreeMap<String, i64> = m
                .indicators
                .iter()
                .zip(&input.scores)
                .filter_map(|(ind, s)| s.map(|s| (ind.id.clone(), s)))
                .collect();
            // The sheet's lines the export prints after the indicators.
            scores.insert("换算得分（百分制）".into(), sheet.converted);
            scores.insert("加分".into(), sheet.bonus);
            scores.insert("扣分".into(), -sheet.penalty);
            indicators.insert(unit, scores);
        }

        // Competition ranking: ties share a rank, the next one skips (1,2,2,4).
        for cat in RANKED {
            let totals: Vec<i64> = rows
                .values()
                .filter(|r| r.category == cat)
                .map(|r| r.total)
                .collect();
            for r in rows.values_mut().filter(|r| r.category == cat) {
                let above = totals.iter().filter(|t| **t > r.total).count();
                r.rank = Some(above as u32 + 1);
            }
        }
        let category_names = m
            .categories
            .iter()
            .map(|c| (c.id.clone(), c.name.clone()))
            .collect();
        Results {
            rows,
            indicators,
            category_names,
        }
    }

    /// Unit id → category id, from the roster the hub imported.
    fn roster(path: &Path) -> BTreeMap<String, String> {
        let mut r =
            csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}：{e}", path.display()));
        let headers = r.headers().expect("roster headers").clone();
        let col = |h: &str| {
            headers
                .iter()
                .position(|x| x == h)
                .unwrap_or_else(|| panic!("名册缺少列 {h}"))
        };
        let (id, category) = (col("单位编号"), col("类别"));
        r.records()
            .map(|rec| {
                let rec = rec.expect("roster row");
                (rec[id].to_owned(), rec[category].to_owned())
            })
            .collect()
    }

    /// Unit → round → one value per manifest field, from every node's filled
    /// CSV files of `year`. A round whose cells are all empty for a unit was
    /// not reported in that file.
    fn evidence(
        dir: &Path,
        year: u16,
        m: &Manifest,
    ) -> BTreeMap<String, BTreeMap<Round, Vec<Option<i64>>>> {
        let mut out: BTreeMap<String, BTreeMap<Round, Vec<Option<i64>>>> = BTreeMap::new();
        let mut files = 0;
        for e in std::fs::read_dir(dir.join("nodes")).expect("nodes/") {
            let nd = e.expect("nodes/ entry").path();
            for round in Round::ALL {
                let stem = format!("{year}-{}-证据（示例数据）", round.id());
                let (path, rows) = read_filled(&nd, &stem, round);
                files += 1;
                let keys: Vec<&str> = rows[1].iter().map(String::as_str).collect();
                let col = |k: &str| {
                    keys.iter()
                        .position(|x| *x == k)
                        .unwrap_or_else(|| panic!("{} 第 2 行缺少 {k}", path.display()))
                };
                let id_col = col("unit_id");
                // CSV: a round column; Excel: one sheet per round.
                let round_col = keys.iter().position(|x| *x == "round");
                let fields: Vec<(usize, usize)> = keys
                    .iter()
                    .enumerate()
                    .filter(|(_, k)| !["unit_id", "unit_name", "round"].contains(k))
                    .map(|(i, k)| {
                        let f = m
                            .field_index(k)
                            .unwrap_or_else(|| panic!("{}：{k} 不是规则包的字段", path.display()));
                        (i, f)
                    })
                    .collect();
                for row in &rows[2..] {
                    let mut values = vec![None; m.fields.len()];
                    let mut any = false;
                    for &(i, f) in &fields {
                        let cell = row.get(i).map_or("", |c| c.trim());
                        if !cell.is_empty() {
                            values[f] = Some(parse(m, f, cell));
                            any = true;
                        }
                    }
                    let row_round = match round_col {
                        None => round,
                        Some(c) => Round::ALL
                            .into_iter()
                            .find(|r| r.name_zh() == row[c])
                            .unwrap_or_else(|| panic!("{}：未知轮次 {}", path.display(), &row[c])),
                    };
                    if !any {
                        continue;
                    }
                    assert_eq!(
                        row_round,
                        round,
                        "{}：{} 填写了其他轮次的行（another round's row filled）",
                        path.display(),
                        &row[id_col]
                    );
                    let prev = out
                        .entry(row[id_col].to_owned())
                        .or_default()
                        .insert(round, values);
                    assert!(prev.is_none(), "{} {} 被填报两次", &row[id_col], round.id());
                }
            }
        }
        assert_eq!(files, 25, "五个节点、五个轮次的证据文件");
        out
    }

    /// The rows of a filled evidence file `stem`.csv (UTF-8, a round column)
    /// or `stem`.xlsx (the sheet of `round`), as text.
    fn read_filled(nd: &Path, stem: &str, round: Round) -> (PathBuf, Vec<Vec<String>>) {
        let csv_path = nd.join(format!("{stem}.csv"));
        if csv_path.exists() {
            let text = std::fs::read_to_string(&csv_path)
                .unwrap_or_else(|e| panic!("{}：{e}", csv_path.display()));
            let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
            let rows = csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(text.as_bytes())
                .records()
                .map(|r| {
                    r.unwrap_or_else(|e| panic!("{}：{e}", csv_path.display()))
                        .iter()
                        .map(str::to_owned)
                        .collect()
                })
                .collect();
            return (csv_path, rows);
        }
        let path = nd.join(format!("{stem}.xlsx"));
        let mut book: Xlsx<_> =
            open_workbook(&path).unwrap_or_else(|e| panic!("打开 {}：{e}", path.display()));
        let sheet = round.name_zh();
        let rows = book
            .worksheet_range(sheet)
            .unwrap_or_else(|e| panic!("{} 没有工作表 {sheet}：{e}", path.display()))
            .rows()
            .map(|r| {
                r.iter()
                    .map(|c| match c {
                        Data::Empty => String::new(),
                        other => other.to_string(),
                    })
                    .collect()
            })
            .collect();
        (path, rows)
    }

    /// A cell as an official writes it → the ABI value (hundredths; 是 100,
    /// 否 0; a choice's index × 100).
    pub fn parse(m: &Manifest, f: usize, cell: &str) -> i64 {
        let field = &m.fields[f];
        let bad = || -> ! { panic!("{} 的值「{cell}」无法识别", field.id) };
        match field.kind {
            FieldType::Bool => match cell {
                "是" => 100,
                "否" => 0,
                _ => bad(),
            },
            FieldType::Choice => {
                field
                    .choices
                    .iter()
                    .position(|c| c == cell)
                    .unwrap_or_else(|| bad()) as i64
                    * 100
            }
            FieldType::Count | FieldType::Decimal => {
                let (int, frac) = cell.split_once('.').unwrap_or((cell, ""));
                if frac.len() > 2 || !frac.chars().all(|c| c.is_ascii_digit()) {
                    bad();
                }
                let int: i64 = int.parse().unwrap_or_else(|_| bad());
                let frac: i64 = format!("{frac:0<2}").parse().unwrap_or_else(|_| bad());
                int * 100 + if int < 0 { -frac } else { frac }
            }
        }
    }

    fn penalty_caps(db: &rusqlite::Connection, year: u16) -> BTreeMap<String, i64> {
        db.prepare(
            "SELECT unit_id, cap FROM recorded_decisions WHERE year = ?1 AND kind = 'penalty_cap' ORDER BY seq",
        )
        .and_then(|mut s| {
            s.query_map([year], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()
        })
        .expect("read penalty-cap decisions")
    }

    fn excused(db: &rusqlite::Connection, year: u16) -> Vec<String> {
        db.prepare(
            "SELECT unit_id FROM recorded_decisions WHERE year = ?1 AND kind = 'excusal' ORDER BY seq",
        )
        .and_then(|mut s| s.query_map([year], |r| r.get(0))?.collect::<Result<_, _>>())
        .expect("read excusals")
    }
}

/// The hub's Excel export as tables keyed by unit.
mod export {
    use super::*;

    pub struct Export {
        /// 等次汇总: every graded unit (category shown by name).
        pub rows: BTreeMap<String, Row>,
        /// 排名-*: the units of the ranked categories.
        pub ranking: BTreeMap<String, Row>,
        /// 分项明细: unit → indicator id (or sheet line) → score.
        pub indicators: BTreeMap<String, BTreeMap<String, i64>>,
        /// 结果运用: (kind, unit, reason).
        pub outcomes: Vec<(String, String, String)>,
        /// 迟报与未考核: unit → detail.
        pub late: BTreeMap<String, String>,
        pub unassessed: BTreeMap<String, String>,
        /// 免于考核: unit → recorded reason.
        pub excused: BTreeMap<String, String>,
    }

    pub fn read(path: &Path) -> Export {
        let mut book: Xlsx<_> =
            open_workbook(path).unwrap_or_else(|e| panic!("打开 {}：{e}", path.display()));
        let names = book.sheet_names();
        let mut sheet = |name: &str| -> Vec<Vec<Data>> {
            book.worksheet_range(name)
                .unwrap_or_else(|e| panic!("{} 没有工作表 {name}：{e}", path.display()))
                .rows()
                .map(<[Data]>::to_vec)
                .collect()
        };
        let mut ranking = BTreeMap::new();
        for name in names.iter().filter(|n| n.starts_with("排名-")) {
            for r in sheet(name)
                .iter()
                .skip(2)
                .filter(|r| !text(r, 1).is_empty())
            {
                ranking.insert(
                    text(r, 1),
                    Row {
                        category: name.clone(),
                        rank: rank(&r[0]),
                        total: hundredths(&r[3]),
                        grade: text(r, 4),
                    },
                );
            }
        }
        // 等次汇总: the counts, a blank row, a header, then one row per unit.
        let mut rows = BTreeMap::new();
        let grades = sheet("等次汇总");
        let header = grades
            .iter()
            .position(|r| text(r, 1) == "类别")
            .expect("等次汇总 的明细表头");
        for r in &grades[header + 1..] {
            if text(r, 3).is_empty() {
                continue;
            }
            let prev = rows.insert(
                text(r, 3),
                Row {
                    category: text(r, 1),
                    rank: rank(&r[2]),
                    total: hundredths(&r[5]),
                    grade: text(r, 0),
                },
            );
            assert!(prev.is_none(), "等次汇总 中 {} 出现两次", text(r, 3));
        }
        let mut indicators: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
        for r in sheet("分项明细").iter().skip(2) {
            let (unit, id, label) = (text(r, 0), text(r, 3), text(r, 4));
            if unit.is_empty() || label == "总分" {
                continue;
            }
            let key = if id.is_empty() { label } else { id };
            indicators
                .entry(unit)
                .or_default()
                .insert(key, hundredths(&r[6]));
        }
        let outcomes = sheet("结果运用")
            .iter()
            .skip(2)
            .filter(|r| !text(r, 1).is_empty())
            .map(|r| (text(r, 0), text(r, 1), text(r, 3)))
            .collect();
        let (mut late, mut unassessed, mut excused) =
            (BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
        for r in sheet("迟报与未考核").iter().skip(2) {
            match text(r, 0).as_str() {
                "迟报" => {
                    late.insert(text(r, 1), text(r, 3));
                }
                "未考核" => {
                    unassessed.insert(text(r, 1), text(r, 3));
                }
                "免于考核" => {
                    excused.insert(text(r, 1), text(r, 3));
                }
                other => panic!("迟报与未考核表中未知的情况（unknown kind）：{other}"),
            }
        }
        Export {
            rows,
            ranking,
            indicators,
            outcomes,
            late,
            unassessed,
            excused,
        }
    }

    fn text(r: &[Data], i: usize) -> String {
        match r.get(i) {
            Some(Data::String(s)) => s.trim().to_owned(),
            Some(Data::Empty) | None => String::new(),
            Some(other) => other.to_string(),
        }
    }

    fn rank(d: &Data) -> Option<u32> {
        match d {
            Data::Int(n) => Some(*n as u32),
            Data::Float(f) => Some(*f as u32),
            Data::Empty => None,
            other => panic!("名次单元格不是数字：{other:?}"),
        }
    }

    /// A points cell (two decimals) as hundredths: the export writes
    /// `hundredths / 100`, so rounding the product recovers it exactly.
    fn hundredths(d: &Data) -> i64 {
        match d {
            Data::Float(f) => (f * 100.0).round() as i64,
            Data::Int(n) => n * 100,
            other => panic!("分数单元格不是数字：{other:?}"),
        }
    }
}

fn kaohe(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kaohe"))
        .args(args)
        .env_remove("KAOHE_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("run the kaohe binary")
}

fn kaohe_ok(args: &[&str]) -> String {
    let o = kaohe(args);
    assert!(
        o.status.success(),
        "kaohe {args:?} 失败（failed）：\n{}{}",
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}
