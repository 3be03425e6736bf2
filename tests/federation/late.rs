//! A node offline across a whole round (RELIABILITY.md, "network and
//! time"): late arrivals are accepted and marked late, never dropped and
//! never passed off as on time.

use super::*;

/// The hub's clock during the first quarter (Q1 closes 2022-04-15).
const IN_Q1: &str = "2022-04-08T10:00:00+08:00";
/// After Q1's deadline, before Q2's (2022-07-15).
const IN_Q2: &str = "2022-07-08T10:00:00+08:00";

/// The daily-evaluation fields of every quarter row of the node's CSV
/// template (`kaohe node template --format csv`), filled as an official
/// would: one study session, nothing overdue, one event, three posts.
fn fill_quarters(f: &Federation) -> PathBuf {
    let template = f.root().join("2022-证据模板.csv");
    f.node(&[
        "template",
        "--year",
        "2022",
        "--format",
        "csv",
        "--encoding",
        "utf8",
        "-o",
        s(&template),
    ]);
    let text = std::fs::read_to_string(&template).unwrap();
    let mut lines = text.lines();
    let labels = lines.next().unwrap();
    let keys: Vec<&str> = lines.next().unwrap().split(',').collect();
    let value = |key: &str| match key {
        "q_study_sessions" => Some("1"),
        "q_tasks_overdue" => Some("0"),
        "q_pufa_events" => Some("1"),
        "q_pufa_posts" => Some("3"),
        _ => None,
    };
    let mut out = format!("{labels}\n{}\n", keys.join(","));
    for row in lines {
        let mut cells: Vec<String> = row.split(',').map(str::to_owned).collect();
        if cells[2] != "年度" {
            for (i, key) in keys.iter().enumerate() {
                if let Some(v) = value(key) {
                    cells[i] = v.to_owned();
                }
            }
        }
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    let filled = f.root().join("2022-日常评价.csv");
    std::fs::write(&filled, out).unwrap();
    filled
}

/// The hub serves in Q1; the node syncs but reports nothing. The hub is
/// restarted in Q2, after Q1's deadline; the node then reports Q1 and Q2.
/// Both are accepted; Q1 is marked late (迟报) at the hub — in its
/// database, `hub progress`, `hub results` and the node's receipts — and
/// Q2 is not.
#[test]
fn federation_accepts_a_round_reported_after_its_deadline_as_late() {
    let mut f = Federation::new(2, "daily");
    f.start_hub(Some(IN_Q1));
    f.sync();
    let filled = fill_quarters(&f);
    f.node(&[
        "import",
        "--year",
        "2022",
        s(&filled),
        "--operator",
        "王科员",
    ]);
    // The node goes offline for the rest of the quarter.
    f.stop_hub();

    f.start_hub(Some(IN_Q2));
    for round in ["Q1", "Q2"] {
        let out = f.node(&[
            "submit",
            "--year",
            "2022",
            "--round",
            round,
            "--operator",
            "王科员",
        ]);
        assert!(
            out.contains(
                "已送达 2 份（accepted with a verified receipt）；被拒绝 0 份；待重发 0 份"
            ),
            "{out}"
        );
    }

    let db = f.hub_db();
    let mut stmt = db
        .prepare("SELECT unit_id, round, late FROM submissions ORDER BY round, unit_id")
        .unwrap();
    let rows: Vec<(String, String, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        rows,
        [
            ("u0001".into(), "Q1".into(), 1),
            ("u0002".into(), "Q1".into(), 1),
            ("u0001".into(), "Q2".into(), 0),
            ("u0002".into(), "Q2".into(), 0),
        ]
    );

    // Not dropped: the late quarter counts, as the current result.
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM results WHERE is_current = 1 AND round = 'Q1' AND late = 1",
            []
        ),
        2
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM results WHERE is_current = 1 AND round = 'Q2' AND late = 0",
            []
        ),
        2
    );
    drop(stmt);
    drop(db);

    // The hub's progress: both units reported, two reports late.
    let progress = f.hub(&["progress"]);
    let p = row(
        &progress,
        &format!("{NODE_NAME}（{}）", &f.node_key_id[..8]),
    );
    assert_eq!(
        p[1..],
        [
            "baofeng 第 1 版（当前）",
            "2022-07-08 10:00",
            "2/2",
            "2",
            "0"
        ],
        "{progress}"
    );

    // The hub's results: Q1 listed late (and counted), Q2 not.
    let results = f.hub(&["results", "--year", "2022"]);
    let late = section(&results, "【迟报单位】（已计入考核）");
    assert_eq!(
        late.lines().skip(3).map(cells).collect::<Vec<_>>(),
        [
            [
                "u0001",
                "宝丰县测试局0001",
                "日常评价第一季度",
                "2022年7月8日"
            ],
            [
                "u0002",
                "宝丰县测试局0002",
                "日常评价第一季度",
                "2022年7月8日"
            ],
        ],
        "{results}"
    );
    assert!(!late.contains("第二季度"), "{results}");

    // The node's receipts say the same.
    let status = f.node(&["status"]);
    for (seq, unit, round, late) in [
        ("1", "u0001", "2022 第一季度", "逾期"),
        ("2", "u0002", "2022 第一季度", "逾期"),
        ("3", "u0001", "2022 第二季度", "按时"),
        ("4", "u0002", "2022 第二季度", "按时"),
    ] {
        let r = row(&status, seq);
        assert_eq!(
            (r[1], r[2], r[4], r[5], r[8]),
            (unit, round, "2022-07-08 10:00:00", late, "有效"),
            "{status}"
        );
    }
    f.finish();
}
