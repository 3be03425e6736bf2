//! Results and the workflow. Accepted results come in through the
//! ingestion library entry (the single writer, `Committer`) with real
//! signed submissions and the real pack; the workflow then runs on the same
//! database.

use super::*;
use kaohe_hub::calendar::Calendar;
use kaohe_hub::ingest::{Candidate, Committer};
use kaohe_hub::results;
use kaohe_hub::workflow::{self as wf, Decision, Material, WorkflowError};

mod closed;

/// Before the feedback notices of these tests.
const BEFORE_NOTICE: &str = "2022-09-20T00:00:00Z";

/// Commits `envelope` with the hub clock at `at`; it must be accepted.
pub(super) fn ingest(dir: &Path, at: &str, envelope: pb::Envelope) {
    let conn = db::open_existing(dir).unwrap();
    let key = config::load_receipt_key(dir).unwrap();
    let runtime = Runtime::new(small_runtime()).unwrap();
    let mut committer =
        Committer::new(conn, runtime, key, Clock::Fixed(at.parse().unwrap())).unwrap();
    let candidate = Candidate::verify(0, envelope, &committer.nodes(), None);
    let outcomes = committer.commit(vec![candidate]).unwrap();
    assert!(outcomes[0].result.is_ok(), "{:?}", outcomes[0].result);
}

pub(super) fn with_sessions(
    key: &SigningKeyPair,
    pack: &PackIdentity,
    unit: &str,
    seq: u64,
    sessions: i64,
) -> pb::Envelope {
    let mut s = submission(key, pack, unit, seq);
    s.methods = vec![daily_block(sessions, true)];
    signed(&s, key)
}

/// The county of `setup()` with both townships' daily reports accepted
/// before the notices: t1 with 3 study sessions (full marks), t2 with 1
/// (the L1a deduction fires). Returns the setup and t1/t2's node key.
pub(super) fn two_townships_reported() -> (Setup, SigningKeyPair) {
    let s = setup();
    let a = node_key(1);
    ingest(
        &s.dir,
        BEFORE_NOTICE,
        with_sessions(&a, &s.pack, "t1", 1, 3),
    );
    ingest(
        &s.dir,
        BEFORE_NOTICE,
        with_sessions(&a, &s.pack, "t2", 2, 1),
    );
    (s, a)
}

fn consolidated(dir: &Path) -> (results::YearData, kaohe_hub::consolidate::Consolidation) {
    let conn = db::open_existing(dir).unwrap();
    let data = results::load_year(&conn, &Runtime::new(small_runtime()).unwrap(), 2022).unwrap();
    let c = data
        .consolidate(&conn, kaohe_hub::consolidate::Detail::Full)
        .unwrap();
    (data, c)
}

/// [`wf::approve`] of 2022 on the Beijing morning of `day`.
fn approve(
    conn: &mut rusqlite::Connection,
    doc_number: &str,
    shown: Option<&str>,
    day: &str,
) -> Result<String, WorkflowError> {
    wf::approve(
        conn,
        &Runtime::new(small_runtime()).unwrap(),
        2022,
        doc_number,
        shown,
        &at(day),
    )
}

fn count(dir: &Path, sql: &str) -> i64 {
    db::open_existing(dir)
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

/// Beijing 10:00 on `day` (2022-10-19 → 2022-10-19T02:00:00Z).
fn at(day: &str) -> Actor {
    Actor::new("县法治办王某", format!("{day}T02:00:00Z").parse().unwrap())
}

#[test]
fn results_load_from_the_database_and_map_onto_the_report() {
    let (s, _) = two_townships_reported();
    let (data, c) = consolidated(&s.dir);
    // 7 of 7 points → 100; 5 of 7 → 71.43 (normalised), t2 has the L1a reason.
    let t1 = c.unit("t1").unwrap().scored().unwrap();
    let t2 = c.unit("t2").unwrap().scored().unwrap();
    assert_eq!(t1.total, 10_000);
    assert!(t2.total < t1.total);
    assert_eq!(t1.rank.unwrap().rank, 1);
    assert_eq!(t2.rank.unwrap().rank, 2);
    // d1 is a department: the pack has no such category, so not assessed, never 0.
    assert!(c.unit("d1").unwrap().scored().is_none());
    // Issue #17: `hub results` consolidates lean, the results streamed from
    // the database on a second connection; its digest fills each unit's
    // detail in from the database again and is the full consolidation's.
    {
        use kaohe_hub::consolidate::Detail;
        let conn = db::open_existing(&s.dir).unwrap();
        let lean = data.consolidate(&conn, Detail::Lean).unwrap();
        assert!(lean.unit("t2").unwrap().scored().unwrap().fired.is_empty());
        assert!(!t2.fired.is_empty());
        assert_eq!(data.sha256(&conn, &lean, Detail::Lean).unwrap(), c.sha256());
    }

    let o = data.outcomes(&c);
    let meta = results::NoticeMeta {
        county: "宝丰县".into(),
        scheme_name: "法治宝丰（法治政府）建设".into(),
        issuer: "县法治办".into(),
        doc_number: "宝法治办〔2023〕1号".into(),
        published_on: "2023年3月1日".into(),
        recipients: String::new(),
        ..Default::default()
    };
    let report = results::to_report(&c, &o, data.manifest(), &meta);
    assert_eq!(report.categories.len(), 1);
    let rows = &report.categories[0].rows;
    assert_eq!((rows[0].unit_id.as_str(), rows[0].rank), ("t1", Some(1)));
    assert_eq!((rows[1].unit_id.as_str(), rows[1].rank), ("t2", Some(2)));
    let b = report.breakdown.iter().find(|b| b.unit_id == "t2").unwrap();
    let l1 = b.indicators.iter().find(|i| i.id == "L1").unwrap();
    assert_eq!((l1.points, l1.score), (400, 200));
    assert_eq!(l1.reasons, vec!["专题学习少于2次，扣2分".to_string()]);
    assert_eq!(report.unassessed.len(), 1);
    assert_eq!(report.unassessed[0].unit_id, "d1");
    let counted: u32 = report.grade_counts.iter().map(|g| g.count).sum();
    assert_eq!(counted, 2);
    // Recomputing gives the same bytes (promise 4).
    assert_eq!(consolidated(&s.dir).1.to_json(), c.to_json());
}

#[test]
fn notice_objection_review_approval_and_publication() {
    let (s, a) = two_townships_reported();
    let (data, c) = consolidated(&s.dir);
    let cal = Calendar::builtin();
    let mut conn = db::open_existing(&s.dir).unwrap();

    // Notified Friday 2022-09-30: National Day 10-01..07, make-up
    // workdays Sat 10-08 and Sun 10-09. Verification ends 10-12,
    // the review request (after verification) 10-19.
    let notices = wf::notify(
        &mut conn,
        &cal,
        data.manifest(),
        &c,
        &["t2".into()],
        jiff::civil::date(2022, 9, 30),
        &at("2022-09-30"),
    )
    .unwrap();
    assert_eq!(notices.len(), 1);
    let t2 = notices.iter().find(|n| n.unit_id == "t2").unwrap();
    assert!(t2.text.contains("2022年10月12日（星期三）"), "{}", t2.text);
    assert!(t2.text.contains("2022年10月19日（星期三）"), "{}", t2.text);
    assert!(t2.text.contains("专题学习少于2次，扣2分"), "{}", t2.text);
    let again = wf::notify(
        &mut conn,
        &cal,
        data.manifest(),
        &c,
        &["t2".into()],
        jiff::civil::date(2022, 10, 10),
        &at("2022-10-10"),
    );
    assert!(
        matches!(again, Err(WorkflowError::AlreadyNotified { .. })),
        "{again:?}"
    );
    // t1 is notified later (Monday 10-10): its request window ends 10-24.
    let t1 = wf::notify(
        &mut conn,
        &cal,
        data.manifest(),
        &c,
        &[],
        jiff::civil::date(2022, 10, 10),
        &at("2022-10-10"),
    );
    assert!(
        matches!(t1, Err(WorkflowError::AlreadyNotified { .. })),
        "all = both assessed units, t2 already: refused whole"
    );
    let t1 = wf::notify(
        &mut conn,
        &cal,
        data.manifest(),
        &c,
        &["t1".into()],
        jiff::civil::date(2022, 10, 10),
        &at("2022-10-10"),
    )
    .unwrap();
    assert_eq!(
        t1[0].deadlines.review_request,
        jiff::civil::date(2022, 10, 24)
    );

    // Approval refused while d1 is not assessed, until excused.
    let err = approve(&mut conn, "宝法治办〔2022〕9号", None, "2022-10-11").unwrap_err();
    assert!(err.to_string().contains("县司法局"), "{err}");
    assert_eq!(count(&s.dir, "SELECT count(*) FROM approvals"), 0);
    wf::excuse(
        &mut conn,
        2022,
        "d1",
        "不属本规则包考核类别，另行考核",
        &at("2022-10-11"),
    )
    .unwrap();

    // An objection within the window, with material.
    let material = Material {
        file_name: "学习记录.pdf".into(),
        bytes: b"%PDF-1.4 records".to_vec(),
    };
    let filed = wf::object(
        &mut conn,
        &cal,
        data.manifest(),
        2022,
        "t2",
        "第二次专题学习有记录",
        &[material],
        &at("2022-10-19"),
    )
    .unwrap();
    assert_eq!(filed.materials[0].1.len(), 64);
    let err = approve(&mut conn, "宝法治办〔2022〕9号", None, "2022-10-20").unwrap_err();
    assert!(
        matches!(err, WorkflowError::OpenReviews { ref units } if units == &["t2".to_string()]),
        "{err}"
    );

    // A late objection is refused with the deadline, and nothing is stored.
    let before = count(&s.dir, "SELECT count(*) FROM objections");
    let err = wf::object(
        &mut conn,
        &cal,
        data.manifest(),
        2022,
        "t2",
        "迟到的异议",
        &[],
        &at("2022-10-20"),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("2022年10月19日（星期三）"),
        "{err}"
    );
    assert_eq!(count(&s.dir, "SELECT count(*) FROM objections"), before);

    // Revised needs a newer submission after the objection.
    let err = wf::decide(
        &mut conn,
        2022,
        "t2",
        Decision::Revised,
        None,
        &at("2022-10-20"),
    )
    .unwrap_err();
    assert!(
        matches!(err, WorkflowError::NoNewSubmission { .. }),
        "{err}"
    );
    ingest(
        &s.dir,
        "2022-10-20T03:00:00Z",
        with_sessions(&a, &s.pack, "t2", 3, 3),
    );
    let decided = wf::decide(
        &mut conn,
        2022,
        "t2",
        Decision::Revised,
        None,
        &at("2022-10-21"),
    )
    .unwrap();
    let newest: i64 = count(
        &s.dir,
        "SELECT max(id) FROM submissions WHERE unit_id = 't2'",
    );
    assert_eq!(decided.revised_submission, Some(newest));

    // Approval now passes, once.
    let (_, c) = consolidated(&s.dir);
    assert_eq!(
        c.unit("t2").unwrap().scored().unwrap().total,
        10_000,
        "the revised result counts"
    );
    approve(&mut conn, "宝法治办〔2022〕9号", None, "2022-10-21").unwrap();
    let err = approve(&mut conn, "宝法治办〔2022〕10号", None, "2022-10-21").unwrap_err();
    assert!(
        matches!(err, WorkflowError::AlreadyApproved { .. }),
        "{err}"
    );

    // After approval (审定 is final) an objection is refused naming the
    // approval, with material or without; nothing is stored. (Before issue
    // #13 it was accepted and decided after the fact.)
    let before = count(&s.dir, "SELECT count(*) FROM objections");
    let err = wf::object(
        &mut conn,
        &cal,
        data.manifest(),
        2022,
        "t1",
        "名次有误",
        &[Material {
            file_name: "名次说明.pdf".into(),
            bytes: b"%PDF-1.4".to_vec(),
        }],
        &at("2022-10-24"),
    )
    .unwrap_err();
    assert!(matches!(err, WorkflowError::Locked(_)), "{err}");
    assert!(err.to_string().contains("宝法治办〔2022〕9号"), "{err}");
    assert_eq!(count(&s.dir, "SELECT count(*) FROM objections"), before);

    wf::publish(&mut conn, 2022, &at("2022-10-25")).unwrap();
    assert!(wf::publish(&mut conn, 2022, &at("2022-10-26")).is_err());
    let actions: Vec<String> = conn
        .prepare("SELECT action || ':' || operator FROM audit_log WHERE action LIKE 'review.%' OR action LIKE 'results.%' OR action LIKE 'decision.%' ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        actions
            .iter()
            .map(|a| a.split(':').next().unwrap())
            .collect::<Vec<_>>(),
        [
            "results.notify",
            "results.notify",
            "decision.excuse",
            "review.object",
            "review.decide",
            "results.approve",
            "results.publish"
        ]
    );
    assert!(actions.iter().all(|a| a.ends_with(":县法治办王某")));
    // The approved results are next year's history.
    let history = results::load_history(&conn, 2023).unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].units["t1"].grade, "excellent");
}

/// 整改: a notified unit with a deduction owes a plan, a full-marks unit
/// does not; a report before a plan is refused; plans (a corrected one
/// counting) and the report are listed and audit-logged.
#[test]
fn rectification_plans_and_reports_are_tracked_per_owing_unit() {
    use std::collections::BTreeSet;
    use wf::rectification::{self as rect, Kind, RectificationError};
    let (s, _) = two_townships_reported();
    let (data, c) = consolidated(&s.dir);
    let o = data.outcomes(&c);
    let mut conn = db::open_existing(&s.dir).unwrap();

    // Before notification nobody owes: the problems were not yet fed back.
    assert!(rect::owed(&c, data.manifest(), &BTreeSet::new(), None).is_empty());
    wf::notify(
        &mut conn,
        &Calendar::builtin(),
        data.manifest(),
        &c,
        &[],
        jiff::civil::date(2022, 9, 30),
        &at("2022-09-30"),
    )
    .unwrap();
    let notified = rect::notified(&conn, 2022).unwrap();
    let owed = rect::owed(&c, data.manifest(), &notified, None);
    assert_eq!(owed.len(), 1, "{owed:?}");
    assert_eq!(owed[0].unit_id, "t2");
    assert_eq!(owed[0].why_zh(), "扣分 1 项");
    assert!(!owed[0].admonished);

    let file = |name: &str, text: &str| Material {
        file_name: name.into(),
        bytes: text.as_bytes().to_vec(),
    };
    let plan = file("大营镇整改方案.pdf", "%PDF 整改方案 第一稿");
    let none = "SELECT count(*) FROM rectifications";

    // A report before any plan is refused, nothing stored.
    let err = rect::record(
        &mut conn,
        &c,
        data.manifest(),
        &o,
        "t2",
        Kind::Report,
        &file("整改情况报告.pdf", "%PDF 报告"),
        None,
        &at("2022-10-20"),
    )
    .unwrap_err();
    assert!(
        matches!(err, RectificationError::ReportBeforePlan { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("尚未报送整改方案"), "{err}");
    // The full-marks unit owes nothing, and is told why.
    let err = rect::record(
        &mut conn,
        &c,
        data.manifest(),
        &o,
        "t1",
        Kind::Plan,
        &plan,
        None,
        &at("2022-10-20"),
    )
    .unwrap_err();
    assert!(
        matches!(err, RectificationError::NothingOwed { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("未扣分"), "{err}");
    assert_eq!(count(&s.dir, none), 0);

    // Plan, corrected plan, report.
    let first = rect::record(
        &mut conn,
        &c,
        data.manifest(),
        &o,
        "t2",
        Kind::Plan,
        &plan,
        Some("第一稿"),
        &at("2022-11-01"),
    )
    .unwrap();
    assert_eq!(first.sha256.len(), 64);
    assert_eq!(first.size, plan.bytes.len());
    let rows = rect::status(&conn, &c, data.manifest(), &o).unwrap();
    let text = rect::render(2022, &rows);
    assert!(text.contains("2022年11月1日"), "{text}");
    assert!(text.contains("未报告"), "{text}");
    rect::record(
        &mut conn,
        &c,
        data.manifest(),
        &o,
        "t2",
        Kind::Plan,
        &file("大营镇整改方案（修改稿）.pdf", "%PDF 整改方案 修改稿"),
        Some("按意见修改"),
        &at("2022-11-03"),
    )
    .unwrap();
    rect::record(
        &mut conn,
        &c,
        data.manifest(),
        &o,
        "t2",
        Kind::Report,
        &file("整改情况报告.pdf", "%PDF 报告"),
        None,
        &at("2022-12-01"),
    )
    .unwrap();
    assert_eq!(count(&s.dir, none), 3);

    let rows = rect::status(&conn, &c, data.manifest(), &o).unwrap();
    assert_eq!(rows.len(), 1);
    let t2 = &rows[0];
    assert_eq!(t2.unit_id, "t2");
    let p = t2.plan.as_ref().unwrap();
    assert_eq!(
        (p.count, p.file_name.as_str()),
        (2, "大营镇整改方案（修改稿）.pdf")
    );
    assert_eq!(t2.report.as_ref().unwrap().count, 1);
    let text = rect::render(2022, &rows);
    assert!(text.contains("大营镇"), "{text}");
    assert!(text.contains("扣分 1 项"), "{text}");
    assert!(text.contains("2022年11月3日（第 2 次报送）"), "{text}");
    assert!(text.contains("2022年12月1日"), "{text}");
    assert!(
        !text.contains("未报告") && !text.contains("未报送"),
        "{text}"
    );
    assert!(!text.contains("肖旗乡"), "{text}");

    // Audit: one record per accepted record, with the operator; none for refusals.
    let actions: Vec<(String, String, String)> = conn
        .prepare("SELECT action, operator, subject FROM audit_log WHERE action LIKE 'rectification.%' ORDER BY seq")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        actions.iter().map(|a| a.0.as_str()).collect::<Vec<_>>(),
        [
            "rectification.plan",
            "rectification.plan",
            "rectification.report"
        ]
    );
    assert!(
        actions
            .iter()
            .all(|a| a.1 == "县法治办王某" && a.2 == "2022/t2")
    );
    // Append-only.
    assert!(
        conn.execute("UPDATE rectifications SET note = 'x'", [])
            .is_err()
    );
    assert!(conn.execute("DELETE FROM rectifications", []).is_err());
    assert_eq!(count(&s.dir, none), 3);
}

/// Earlier years' results imported from a file change this year's use
/// of results: a second consecutive 优秀 is commended, a fall of 10
/// points or more is warned as a big regression. A file with one bad
/// cell writes nothing and names the row and column.
#[test]
fn imported_history_changes_outcomes_all_or_nothing() {
    use kaohe_hub::outcome::NoticeKind;
    use kaohe_hub::workflow::history::import_history_file;
    let (s, _) = two_townships_reported();
    let (data, c) = consolidated(&s.dir);
    let before = data.outcomes(&c);
    let has = |o: &kaohe_hub::outcome::Outcomes, unit: &str, kind: NoticeKind| {
        o.for_unit(unit).any(|n| n.kind == kind)
    };
    let reasons = |o: &kaohe_hub::outcome::Outcomes, unit: &str| {
        o.for_unit(unit)
            .filter(|n| n.kind == NoticeKind::WarningNotice)
            .flat_map(|n| n.reasons.clone())
            .collect::<Vec<_>>()
    };
    assert!(!has(&before, "t1", NoticeKind::Commendation));
    let t2_before = reasons(&before, "t2");

    let mut conn = db::open_existing(&s.dir).unwrap();
    let bad = s.dir.join("往年结果-有误.csv");
    std::fs::write(
        &bad,
        "单位编号,年度,总分,等次\nt1,2021,95,优秀\nt2,2021,95.5,特优\n",
    )
    .unwrap();
    let err = import_history_file(&mut conn, &bad, data.manifest(), &at("2022-09-01")).unwrap_err();
    assert!(err.to_string().contains("第3行第4列"), "{err}");
    assert!(err.to_string().contains("特优"), "{err}");
    assert_eq!(
        count(&s.dir, "SELECT count(*) FROM history_results"),
        0,
        "nothing written"
    );

    let good = s.dir.join("往年结果.csv");
    std::fs::write(
        &good,
        "单位编号,年度,总分,等次\nt1,2021,95,优秀\nt2,2021,95.5,excellent\n",
    )
    .unwrap();
    assert_eq!(
        import_history_file(&mut conn, &good, data.manifest(), &at("2022-09-01"))
            .unwrap()
            .rows,
        2
    );
    assert_eq!(
        count(
            &s.dir,
            "SELECT count(*) FROM audit_log WHERE action = 'history.import'"
        ),
        1
    );
    let (data, c) = consolidated(&s.dir);
    let after = data.outcomes(&c);
    assert!(
        has(&after, "t1", NoticeKind::Commendation),
        "{:?}",
        after.notices
    );
    let t2_after = reasons(&after, "t2");
    assert_eq!(t2_after.len(), t2_before.len() + 1, "{t2_after:?}");
}

/// Re-importing a roster that drops units other records refer to is
/// refused whole with the friendly message naming every unit and
/// table (also `objections` and `history_results`, which refer to a
/// unit without a foreign key to `units`), and nothing changes; units
/// nothing refers to are dropped, a parent together with its child.
#[test]
fn a_roster_dropping_referenced_units_is_refused_naming_unit_and_table() {
    let s = setup();
    let mut conn = db::open_existing(&s.dir).unwrap();
    let source = RosterSource {
        file: "名册.xlsx".into(),
        sha256: "0".repeat(64),
    };
    let child = |id: &str, parent: &str| UnitRecord {
        parent: Some(parent.into()),
        ..unit(2022, id, "村", "village")
    };
    let full = vec![
        unit(2022, "t1", "肖旗乡", "township"),
        unit(2022, "t2", "大营镇", "township"),
        unit(2022, "d1", "县司法局", "department"),
        unit(2022, "t3", "石桥镇", "township"),
        child("v3", "t3"),
        unit(2022, "t4", "观音堂林站", "township"),
        child("v4", "t4"),
    ];
    units::replace_year(&mut conn, 2022, &full, &source, &at("2022-09-01")).unwrap();
    let a = node_key(1);
    ingest(
        &s.dir,
        BEFORE_NOTICE,
        with_sessions(&a, &s.pack, "t2", 1, 1),
    );
    let (data, c) = consolidated(&s.dir);
    let cal = Calendar::builtin();
    wf::notify(
        &mut conn,
        &cal,
        data.manifest(),
        &c,
        &["t2".into()],
        jiff::civil::date(2022, 9, 30),
        &at("2022-09-30"),
    )
    .unwrap();
    wf::object(
        &mut conn,
        &cal,
        data.manifest(),
        2022,
        "t2",
        "有异议",
        // 考核方案 六（三）: a review request comes with material.
        &[wf::Material {
            file_name: "证明材料.pdf".into(),
            bytes: b"%PDF-1.4".to_vec(),
        }],
        &at("2022-10-10"),
    )
    .unwrap();
    wf::excuse(&mut conn, 2022, "d1", "另行考核", &at("2022-10-10")).unwrap();
    conn.execute(
        "INSERT INTO history_results (year, unit_id, total, grade, source, imported_at)
         VALUES (2022, 't3', 9500, 'excellent', '往年结果.csv', '2022-10-10T02:00:00Z')",
        [],
    )
    .unwrap();

    let before = dump(&conn);
    let imports = "SELECT count(*) FROM audit_log WHERE action = 'units.import'";
    let imports_before = count(&s.dir, imports);
    let err = units::replace_year(
        &mut conn,
        2022,
        &[unit(2022, "t1", "肖旗乡", "township")],
        &source,
        &at("2022-10-11"),
    )
    .unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(err, units::ReplaceUnitsError::Referenced { .. }),
        "{message}"
    );
    for named in [
        "t2（表 submissions）",
        "t2（表 notifications）",
        "t2（表 objections）",
        "d1（表 recorded_decisions）",
        "t3（表 history_results）",
    ] {
        assert!(message.contains(named), "lacks {named}: {message}");
    }
    assert!(!message.contains("FOREIGN KEY"), "{message}");
    assert_eq!(dump(&conn), before, "nothing changed");
    assert_eq!(count(&s.dir, imports), imports_before);

    // t4 and its village v4 are referenced by nothing: dropped together.
    let kept: Vec<UnitRecord> = full[..5].to_vec();
    let summary = units::replace_year(&mut conn, 2022, &kept, &source, &at("2022-10-11")).unwrap();
    assert_eq!(summary.removed, vec!["t4".to_string(), "v4".to_string()]);
    assert_eq!(units::load_roster(&conn, 2022).unwrap().len(), 5);
}

/// Issue #17: approval consolidates the year inside its own write
/// transaction. A report committed after the official looked is not
/// approved unseen: with the digest the official saw, approval is refused
/// and nothing recorded; approved again, it records the database as
/// committed, and exports agree with it.
#[test]
fn an_approval_records_the_year_as_committed_not_as_last_seen() {
    let (s, a) = two_townships_reported();
    let mut conn = db::open_existing(&s.dir).unwrap();
    wf::excuse(&mut conn, 2022, "d1", "另行考核", &at("2022-09-21")).unwrap();
    let seen = consolidated(&s.dir).1.sha256();
    // A correction from t2's assessor arrives after the official looked.
    ingest(
        &s.dir,
        BEFORE_NOTICE,
        with_sessions(&a, &s.pack, "t2", 3, 3),
    );
    let err = approve(&mut conn, "宝法治办〔2022〕9号", Some(&seen), "2022-09-21").unwrap_err();
    assert!(
        matches!(err, WorkflowError::ChangedSinceShown { ref shown, ref now, .. } if *shown == seen && *now != seen),
        "{err}"
    );
    assert!(err.to_string().contains("请重新查看"), "{err}");
    assert_eq!(count(&s.dir, "SELECT count(*) FROM approvals"), 0);
    assert_eq!(
        count(
            &s.dir,
            "SELECT count(*) FROM audit_log WHERE action = 'results.approve'"
        ),
        0
    );

    let (_, now) = consolidated(&s.dir);
    assert_eq!(now.unit("t2").unwrap().scored().unwrap().total, 10_000);
    let digest = approve(
        &mut conn,
        "宝法治办〔2022〕9号",
        Some(&now.sha256()),
        "2022-09-21",
    )
    .unwrap();
    assert_eq!(digest, now.sha256());
    let approved = wf::approved_for_export(&conn, &now).unwrap();
    assert_eq!(approved.approval.consolidation_sha256, digest);
}
