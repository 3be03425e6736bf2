use kaohe_rulepacks::manifest::{ReviewRuns, Schedule};

use super::*;
use crate::calendar::{Calendar, format_date_zh};
use crate::consolidate::{Assessment, Consolidation};
use crate::lock::in_force;
use crate::outcome::YearResults;
use jiff::civil::date;
use rusqlite::{Connection, params};

fn schedule(runs: ReviewRuns) -> Schedule {
    let mut s = crate::consolidate::golden::county()
        .manifest()
        .schedule
        .clone();
    s.review_request_runs = runs;
    s.verification_days = 5;
    s.review_request_days = 5;
    s
}

#[test]
fn deadlines_skip_the_national_day_holiday_and_count_the_make_up_workday() {
    let cal = Calendar::builtin();
    // Notified Friday 2024-09-27; 2024-09-29 (Sun) is a make-up workday,
    // 10-01..10-07 the National Day holiday, 10-12 (Sat) a make-up workday.
    let d = deadlines(&cal, &schedule(ReviewRuns::After), date(2024, 9, 27)).unwrap();
    assert_eq!(d.verification, date(2024, 10, 10));
    assert_eq!(format_date_zh(d.verification), "2024年10月10日（星期四）");
    assert_eq!(d.review_request, date(2024, 10, 16));
    let d = deadlines(&cal, &schedule(ReviewRuns::Alongside), date(2024, 9, 27)).unwrap();
    assert_eq!(d.review_request, d.verification);
}

#[test]
fn an_approval_recognises_the_consolidation_it_approved_and_no_other() {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = crate::db::create(dir.path()).unwrap();
    let mut c = crate::consolidate::golden::county().consolidate();
    // Approval refuses unassessed units; what is approved here is the rest.
    c.units
        .retain(|u| !matches!(u.assessment, Assessment::NotAssessed { .. }));
    let actor = Actor::new("tester", "2023-01-10T02:00:00Z".parse().unwrap());
    let digest = approve_held(&mut conn, &c, "宝法治办〔2023〕1号", &actor).unwrap();
    let record = in_force(&conn, c.year).unwrap().unwrap();
    assert_eq!(record.doc_number, "宝法治办〔2023〕1号");
    assert_eq!(record.consolidation_sha256, digest);
    assert!(record.approves(&c.sha256()));

    // One total changed after approval: no longer what was approved.
    let mut changed = c.clone();
    let scored = changed
        .units
        .iter_mut()
        .find_map(|u| match &mut u.assessment {
            Assessment::Assessed(s) => Some(s),
            _ => None,
        })
        .unwrap();
    scored.total += 1;
    assert!(!record.approves(&changed.sha256()));
    assert_eq!(in_force(&conn, c.year + 1).unwrap(), None);
}

#[test]
fn a_deadline_beyond_the_calendar_is_an_error_not_a_guess() {
    let cal = Calendar::builtin();
    let last = cal.years().max().unwrap();
    let err = deadlines(
        &cal,
        &schedule(ReviewRuns::After),
        date(last as i16, 12, 28),
    )
    .unwrap_err();
    assert!(!err.to_string().is_empty());
}

// ------------------------------------------------- 审定 locks (issue #13 §1)

/// A hub database holding the golden county's 2022 roster (units only)
/// and the golden consolidation without its unassessed units — what an
/// approval accepts.
fn approvable() -> (tempfile::TempDir, Connection, Consolidation) {
    let dir = tempfile::tempdir().unwrap();
    let mut conn = crate::db::create(dir.path()).unwrap();
    let g = crate::consolidate::golden::county();
    let tx = conn.transaction().unwrap();
    for u in g.roster.iter() {
        tx.execute(
            "INSERT INTO units (year, id, name, category, parent_id, supervising_department, assessor)
             VALUES (?1, ?2, ?3, ?4, NULL, NULL, ?5)",
            params![u.year, u.id, u.name, u.category, u.assessor.as_stored()],
        )
        .unwrap();
    }
    // T1 notified; its review-request window runs to the end of 2022.
    tx.execute(
        "INSERT INTO notifications (year, unit_id, notified_on, verification_deadline,
           review_request_deadline, notified_at, operator, notice)
         VALUES (2022, 'T1', '2022-12-01', '2022-12-30', '2022-12-30', 'x', 'y', 'z')",
        [],
    )
    .unwrap();
    tx.commit().unwrap();
    let mut c = g.consolidate();
    c.units
        .retain(|u| !matches!(u.assessment, Assessment::NotAssessed { .. }));
    (dir, conn, c)
}

/// [`approve`] of a consolidation built in memory (the golden county), as
/// if the database consolidated to it.
fn approve_held(
    conn: &mut Connection,
    c: &Consolidation,
    doc_number: &str,
    actor: &Actor,
) -> Result<String, WorkflowError> {
    approve_shown(conn, c, doc_number, None, actor)
}

fn approve_shown(
    conn: &mut Connection,
    c: &Consolidation,
    doc_number: &str,
    shown: Option<&str>,
    actor: &Actor,
) -> Result<String, WorkflowError> {
    approval::approve_with(conn, c.year, doc_number, shown, actor, |tx| {
        Ok(approval::Approvable {
            consolidation: c.clone(),
            reevaluation: crate::results::awaiting_reevaluation(tx, c.year)?,
            digest: c.sha256(),
        })
    })
}

fn at(day: &str) -> Actor {
    Actor::new("县法治办王某", format!("{day}T02:00:00Z").parse().unwrap())
}

fn material() -> Vec<Material> {
    vec![Material {
        file_name: "证明.pdf".into(),
        bytes: b"%PDF-1.4".to_vec(),
    }]
}

fn count(conn: &Connection, table: &str) -> i64 {
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

fn audit_actions(conn: &Connection) -> Vec<String> {
    conn.prepare("SELECT action FROM audit_log ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// RELIABILITY (workflow): a change after approval — override, excusal,
/// objection, decision, notice, a second approval — is refused naming the
/// approval; nothing is stored. Before issue #13 an override or excusal was
/// only noted in the audit log and an objection was accepted.
#[test]
fn after_approval_every_change_is_refused_naming_the_approval() {
    let (_dir, mut conn, c) = approvable();
    let g = crate::consolidate::golden::county();
    approve_held(&mut conn, &c, "宝法治办〔2022〕9号", &at("2022-12-10")).unwrap();
    let named = |e: WorkflowError| {
        assert!(matches!(e, WorkflowError::Locked(_)), "{e:?}");
        let text = e.to_string();
        assert!(
            text.contains("宝法治办〔2022〕9号") && text.contains("2022年12月10日"),
            "{text}"
        );
    };
    named(override_cap(&mut conn, 2022, "T1", 2000, "情节特殊", &at("2022-12-11")).unwrap_err());
    named(excuse(&mut conn, 2022, "T1", "机构调整", &at("2022-12-11")).unwrap_err());
    named(
        object(
            &mut conn,
            &Calendar::builtin(),
            g.manifest(),
            2022,
            "T1",
            "得分有误",
            &material(),
            &at("2022-12-11"),
        )
        .unwrap_err(),
    );
    named(
        decide(
            &mut conn,
            2022,
            "T1",
            Decision::Upheld,
            Some("维持"),
            &at("2022-12-11"),
        )
        .unwrap_err(),
    );
    named(
        notify(
            &mut conn,
            &Calendar::builtin(),
            g.manifest(),
            &c,
            &["T2".into()],
            date(2022, 12, 12),
            &at("2022-12-12"),
        )
        .unwrap_err(),
    );
    let again = approve_held(&mut conn, &c, "宝法治办〔2022〕10号", &at("2022-12-12")).unwrap_err();
    assert!(
        matches!(again, WorkflowError::AlreadyApproved { .. }),
        "{again}"
    );
    assert!(again.to_string().contains("宝法治办〔2022〕9号"), "{again}");
    for table in ["recorded_decisions", "objections"] {
        assert_eq!(count(&conn, table), 0, "{table}");
    }
    assert_eq!(count(&conn, "notifications"), 1);
    assert_eq!(audit_actions(&conn), [action::APPROVE]);
}

/// Reopening (撤销审定) is the one way back: audited with its reason, the
/// approval kept and marked, nothing exported or published until approved
/// again, and the new approval names the one it replaces.
#[test]
fn reopening_keeps_the_approval_and_the_next_one_replaces_it() {
    let (_dir, mut conn, c) = approvable();
    let first = approve_held(&mut conn, &c, "宝法治办〔2022〕9号", &at("2022-12-10")).unwrap();
    publish(&mut conn, 2022, &at("2022-12-11")).unwrap();
    assert!(matches!(
        reopen(&mut conn, 2022, "  ", &at("2022-12-12")),
        Err(WorkflowError::Empty { .. })
    ));
    assert!(matches!(
        reopen(&mut conn, 2023, "无", &at("2022-12-12")),
        Err(WorkflowError::NothingToReopen { year: 2023 })
    ));
    let old = reopen(&mut conn, 2022, "T1 得分计算有误", &at("2022-12-12")).unwrap();
    assert_eq!(old.doc_number, "宝法治办〔2022〕9号");
    assert!(matches!(
        reopen(&mut conn, 2022, "再次", &at("2022-12-12")),
        Err(WorkflowError::NothingToReopen { .. })
    ));
    // Open again: a change is accepted; nothing is published or exported.
    override_cap(&mut conn, 2022, "T1", 1500, "经审定同意", &at("2022-12-13")).unwrap();
    let err = publish(&mut conn, 2022, &at("2022-12-13")).unwrap_err();
    assert!(
        err.to_string().contains("宝法治办〔2022〕9号") && err.to_string().contains("撤销"),
        "{err}"
    );
    let err = approved_for_export(&conn, &c).unwrap_err();
    assert!(matches!(err, WorkflowError::Reopened { .. }), "{err}");

    // Approved again (here the same consolidation: the override is for a
    // unit without penalties) — naming the one it replaces.
    let second = approve_held(&mut conn, &c, "宝法治办〔2022〕12号", &at("2022-12-14")).unwrap();
    assert_eq!(first, second);
    let all = crate::lock::of_year(&conn, 2022).unwrap();
    assert_eq!(all.len(), 2, "the reopened approval stays on record");
    let reopened = all[0].reopened.as_ref().unwrap();
    assert_eq!(
        (reopened.by.as_str(), reopened.reason.as_str()),
        ("县法治办王某", "T1 得分计算有误")
    );
    assert_eq!(all[1].replaces, Some(all[0].id));
    let exported = approved_for_export(&conn, &c).unwrap();
    assert_eq!(exported.approval.doc_number, "宝法治办〔2022〕12号");
    assert_eq!(exported.replaces.unwrap().doc_number, "宝法治办〔2022〕9号");
    assert!(
        exported.publication.is_none(),
        "the new approval is not published yet"
    );
    publish(&mut conn, 2022, &at("2022-12-15")).unwrap();
    assert_eq!(count(&conn, "publications"), 2, "both publications kept");
    assert_eq!(
        audit_actions(&conn),
        [
            action::APPROVE,
            action::PUBLISH,
            action::REOPEN,
            action::OVERRIDE,
            action::APPROVE,
            action::PUBLISH
        ]
    );
    let log = crate::audit::recent(&conn, 10).unwrap();
    assert_eq!(log[2].detail["reason"], "T1 得分计算有误");
    assert_eq!(
        log[4].detail["replaces"]["doc_number"],
        "宝法治办〔2022〕9号"
    );
}

/// Exports carry the approval's digest and refuse a year that no longer
/// matches it.
#[test]
fn an_export_is_refused_when_the_year_no_longer_matches_its_approval() {
    let (_dir, mut conn, c) = approvable();
    assert!(matches!(
        approved_for_export(&conn, &c),
        Err(WorkflowError::NotApproved { year: 2022, .. })
    ));
    let digest = approve_held(&mut conn, &c, "宝法治办〔2022〕9号", &at("2022-12-10")).unwrap();
    assert_eq!(
        approved_for_export(&conn, &c)
            .unwrap()
            .approval
            .consolidation_sha256,
        digest
    );
    let mut changed = c.clone();
    changed.units[0].name.push('镇');
    let err = approved_for_export(&conn, &changed).unwrap_err();
    assert!(
        matches!(err, WorkflowError::ApprovalMismatch { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("宝法治办〔2022〕9号"), "{err}");
}

/// The next year's history (consecutive 优秀, regressions) reads what was
/// approved, never the year recomputed after.
#[test]
fn next_years_history_reads_the_approved_result_never_a_later_edit() {
    let (_dir, mut conn, c) = approvable();
    approve_held(&mut conn, &c, "宝法治办〔2022〕9号", &at("2022-12-10")).unwrap();
    let approved = YearResults::from_consolidation(&c);
    assert_eq!(
        crate::results::load_history(&conn, 2023).unwrap(),
        std::slice::from_ref(&approved)
    );
    // Reopened and changed, not yet approved again: still the approved one.
    reopen(&mut conn, 2022, "更正", &at("2022-12-12")).unwrap();
    assert_eq!(
        crate::results::load_history(&conn, 2023).unwrap(),
        [approved]
    );
    let mut corrected = c.clone();
    let t1 = corrected
        .units
        .iter_mut()
        .find(|u| u.unit_id == "T1")
        .and_then(|u| match &mut u.assessment {
            Assessment::Assessed(s) => Some(s),
            _ => None,
        })
        .unwrap();
    t1.total -= 2000;
    t1.grade = "good".into();
    approve_held(
        &mut conn,
        &corrected,
        "宝法治办〔2022〕12号",
        &at("2022-12-14"),
    )
    .unwrap();
    let history = crate::results::load_history(&conn, 2023).unwrap();
    assert_eq!(history[0].units["T1"].grade, "good");
}

/// RELIABILITY (workflow): a review request without material is refused
/// (考核方案 六（三）"申请复核并提供证明材料"); nothing is stored.
#[test]
fn a_review_request_without_material_is_refused() {
    let (_dir, mut conn, _) = approvable();
    let g = crate::consolidate::golden::county();
    let file = |conn: &mut Connection, material: &[Material]| {
        object(
            conn,
            &Calendar::builtin(),
            g.manifest(),
            2022,
            "T1",
            "得分有误",
            material,
            &at("2022-12-05"),
        )
    };
    let err = file(&mut conn, &[]).unwrap_err();
    assert!(matches!(err, WorkflowError::NoMaterial { .. }), "{err}");
    assert!(err.to_string().contains("证明材料"), "{err}");
    assert_eq!(count(&conn, "objections"), 0);
    file(&mut conn, &material()).unwrap();
    assert_eq!(count(&conn, "objections"), 1);
}

/// RELIABILITY (workflow): a superseded pack's results used as final.
/// Before issue #13 the v1 result was consolidated with the v2 finaliser;
/// now it is left out, listed as 待重新评价, and approval waits for it.
#[test]
fn results_of_a_superseded_pack_version_await_reevaluation_and_block_approval() {
    let (_dir, mut conn, c) = approvable();
    conn.execute_batch(
        "INSERT INTO nodes (key_id, public_key, name, assessor, scope, added_at)
         VALUES ('n1', 'pk1', '县依法治县办', 'county_office', '{}', '2022-01-01T00:00:00Z');
         INSERT INTO packs (pack_id, year, version, module_sha256, module, envelope, published_at, published_by, is_current)
         VALUES ('baofeng', 2022, 1, zeroblob(32), x'00', x'00', '2022-01-01T00:00:00Z', 'w', 0),
                ('baofeng', 2022, 2, randomblob(32), x'00', x'00', '2022-06-01T00:00:00Z', 'w', 1);
         INSERT INTO receipt_batches (batch_id, commit_time, tree_size, hub_key_id) VALUES (1, 1650000000, 2, 'hub');
         INSERT INTO submissions (id, digest, node_id, sequence, unit_id, year, round, pack_id, pack_version,
             created_at, committed_at, late, batch_id, leaf_index, envelope)
         VALUES (1, randomblob(32), 'n1', 1, 'T1', 2022, 'annual', 'baofeng', 1, 1, 1650000000, 0, 1, 0, x'00'),
                (2, randomblob(32), 'n1', 2, 'T2', 2022, 'annual', 'baofeng', 2, 2, 1660000000, 0, 1, 1, x'00');
         INSERT INTO results (submission_id, method_id, node_id, unit_id, year, round, sequence,
             pack_id, pack_version, late, is_current, needs_reevaluation)
         VALUES (1, 'satisfaction', 'n1', 'T1', 2022, 'annual', 1, 'baofeng', 1, 0, 1, 1),
                (2, 'satisfaction', 'n1', 'T2', 2022, 'annual', 2, 'baofeng', 2, 0, 1, 0);",
    )
    .unwrap();
    let stale = crate::results::awaiting_reevaluation(&conn, 2022).unwrap();
    assert_eq!(stale.len(), 1);
    assert_eq!(
        (
            stale[0].unit_id.as_str(),
            stale[0].computed_under,
            stale[0].current
        ),
        ("T1", 1, 2)
    );
    assert_eq!(
        stale[0].describe(Some("杨庄镇")),
        "杨庄镇（T1）的 satisfaction 年度结果：按第 1 版计算，待按第 2 版重新评价"
    );
    // Consolidation reads only the current version's results.
    let current = crate::results::load_results(&conn, 2022, "baofeng", 2).unwrap();
    assert_eq!(
        current
            .iter()
            .map(|r| r.unit_id.as_str())
            .collect::<Vec<_>>(),
        ["T2"]
    );
    let err = approve_held(&mut conn, &c, "宝法治办〔2022〕9号", &at("2022-12-10")).unwrap_err();
    assert!(
        matches!(err, WorkflowError::AwaitingReevaluation { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("杨庄镇（T1）"), "{err}");
    assert_eq!(count(&conn, "approvals"), 0);
    // An excused unit's results do not count, stale or not.
    excuse(&mut conn, 2022, "T1", "机构撤并", &at("2022-12-10")).unwrap();
    let mut excused = c.clone();
    excused
        .units
        .iter_mut()
        .find(|u| u.unit_id == "T1")
        .unwrap()
        .assessment = Assessment::Excused {
        reason: "机构撤并".into(),
    };
    approve_held(
        &mut conn,
        &excused,
        "宝法治办〔2022〕9号",
        &at("2022-12-11"),
    )
    .unwrap();
}

/// The digest the official was shown must be the year's now, or nothing is
/// recorded; a blank one (a form without it) is no check.
#[test]
fn an_approval_is_refused_when_the_year_moved_on_from_what_was_shown() {
    let (_dir, mut conn, c) = approvable();
    let stale = "0".repeat(64);
    let err = approve_shown(
        &mut conn,
        &c,
        "宝法治办〔2022〕9号",
        Some(&stale),
        &at("2022-12-10"),
    )
    .unwrap_err();
    assert!(
        matches!(err, WorkflowError::ChangedSinceShown { .. }),
        "{err}"
    );
    assert!(err.to_string().contains(&stale), "{err}");
    assert_eq!(count(&conn, "approvals"), 0);
    assert!(audit_actions(&conn).is_empty());
    let digest = approve_shown(
        &mut conn,
        &c,
        "宝法治办〔2022〕9号",
        Some(&format!(" {} ", c.sha256())),
        &at("2022-12-10"),
    )
    .unwrap();
    assert_eq!(digest, c.sha256());
}
