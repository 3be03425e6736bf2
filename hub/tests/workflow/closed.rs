//! After the review window, and after approval (审定), a new submission is
//! refused `CLOSED` naming why — unless it revises an open objection.

use super::*;

/// Commits `envelope` with the hub clock at `at` and returns its outcome.
fn commit_at(dir: &Path, at: &str, envelope: pb::Envelope) -> model::SubmitOutcome {
    let conn = db::open_existing(dir).unwrap();
    let key = config::load_receipt_key(dir).unwrap();
    let runtime = Runtime::new(small_runtime()).unwrap();
    let mut committer =
        Committer::new(conn, runtime, key, Clock::Fixed(at.parse().unwrap())).unwrap();
    let candidate = Candidate::verify(0, envelope, &committer.nodes(), None);
    committer.commit(vec![candidate]).unwrap().remove(0)
}

/// Commits `envelope` at `at` and expects a CLOSED refusal whose
/// message has `words`, one audit record and nothing else stored.
fn refused_closed(dir: &Path, at: &str, envelope: pb::Envelope, words: &[&str]) {
    let before = dump(&db::open_existing(dir).unwrap());
    let rejects = "SELECT count(*) FROM audit_log WHERE action = 'submission.reject'";
    let audit_before = count(dir, rejects);
    let r = commit_at(dir, at, envelope)
        .result
        .expect_err("a submission after the window closed is refused");
    assert_eq!(r.code, RejectionCode::Closed, "{r:?}");
    assert_eq!(r.code.grpc_code(), Code::FailedPrecondition);
    for w in words {
        assert!(r.message.contains(w), "message lacks {w:?}: {}", r.message);
    }
    assert_eq!(
        dump(&db::open_existing(dir).unwrap()),
        before,
        "nothing stored"
    );
    assert_eq!(count(dir, rejects), audit_before + 1, "one audit record");
    let detail: String = db::open_existing(dir)
        .unwrap()
        .query_row(
            "SELECT detail FROM audit_log WHERE action = 'submission.reject' ORDER BY seq DESC LIMIT 1",
            [],
            |row| row.get(0),
        )
        .unwrap();
    let detail: serde_json::Value = serde_json::from_str(&detail).unwrap();
    assert_eq!(detail["code"], RejectionCode::Closed.wire_name());
}

#[test]
fn after_the_review_window_a_new_submission_is_refused_unless_it_revises_an_open_objection() {
    let (s, a) = two_townships_reported();
    let (data, c) = consolidated(&s.dir);
    let cal = Calendar::builtin();
    let mut conn = db::open_existing(&s.dir).unwrap();
    // Notified Friday 2022-09-30: the review request ends 2022-10-19.
    wf::notify(
        &mut conn,
        &cal,
        data.manifest(),
        &c,
        &[],
        jiff::civil::date(2022, 9, 30),
        &at("2022-09-30"),
    )
    .unwrap();

    // On the last day (Beijing 2022-10-19 23:00) still open.
    let in_time = with_sessions(&a, &s.pack, "t1", 3, 2);
    let first = commit_at(&s.dir, "2022-10-19T15:00:00Z", in_time.clone())
        .result
        .expect("accepted on the deadline day");
    // Beijing 2022-10-20 00:30: closed, naming the deadline.
    refused_closed(
        &s.dir,
        "2022-10-19T16:30:00Z",
        with_sessions(&a, &s.pack, "t1", 4, 3),
        &["t1", "肖旗乡", "2022年10月19日（星期三）"],
    );
    // The envelope committed in time still gets its stored receipt.
    let again = commit_at(&s.dir, "2022-10-20T02:00:00Z", in_time)
        .result
        .expect("the same envelope again");
    assert_eq!(again, first);

    // t2's objection is open: a newer submission revises it.
    wf::object(
        &mut conn,
        &cal,
        data.manifest(),
        2022,
        "t2",
        "第二次专题学习有记录",
        // 考核方案 六（三）: a review request comes with material.
        &[wf::Material {
            file_name: "证明材料.pdf".into(),
            bytes: b"%PDF-1.4".to_vec(),
        }],
        &at("2022-10-19"),
    )
    .unwrap();
    commit_at(
        &s.dir,
        "2022-10-20T03:00:00Z",
        with_sessions(&a, &s.pack, "t2", 5, 3),
    )
    .result
    .expect("a revision of an open objection is accepted");
    let decided = wf::decide(
        &mut conn,
        2022,
        "t2",
        Decision::Revised,
        None,
        &at("2022-10-21"),
    )
    .unwrap();
    let newest = count(
        &s.dir,
        "SELECT max(id) FROM submissions WHERE unit_id = 't2'",
    );
    assert_eq!(decided.revised_submission, Some(newest));
    // Once decided, t2's window is closed too.
    refused_closed(
        &s.dir,
        "2022-10-21T03:00:00Z",
        with_sessions(&a, &s.pack, "t2", 6, 2),
        &["t2", "2022年10月19日（星期三）"],
    );
}

#[test]
fn after_approval_a_new_submission_is_refused_closed() {
    let (s, a) = two_townships_reported();
    let mut conn = db::open_existing(&s.dir).unwrap();
    wf::excuse(&mut conn, 2022, "d1", "另行考核", &at("2022-09-21")).unwrap();
    approve(&mut conn, "宝法治办〔2022〕9号", None, "2022-09-21").unwrap();
    // t1 was never notified: the approval alone closes the year.
    refused_closed(
        &s.dir,
        "2022-09-22T02:00:00Z",
        with_sessions(&a, &s.pack, "t1", 3, 2),
        &["t1", "2022年9月21日", "宝法治办〔2022〕9号"],
    );
}
