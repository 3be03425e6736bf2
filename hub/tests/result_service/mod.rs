//! `ResultService`: a node reads its units' results and files objections
//! over gRPC, with the same deadline rules as the CLI (`workflow::object`).

use super::*;
use kaohe_hub::calendar::{Calendar, format_date_zh};
use kaohe_hub::results;
use kaohe_hub::server::FILE_OBJECTION_PATH;
use kaohe_hub::workflow as wf;
use kaohe_proto::model::{
    Grade, ListResultsResponse, Objection, ObjectionHeader, ObjectionReceipt, ResultStatus,
};
use kaohe_proto::pb::result_service_client::ResultServiceClient;

async fn client(running: &Running) -> ResultServiceClient<tonic::transport::Channel> {
    ResultServiceClient::connect(format!("http://{}", running.addr))
        .await
        .unwrap()
}

async fn list(running: &Running, key: &SigningKeyPair, now: i64) -> ListResultsResponse {
    let mut request = tonic::Request::new(pb::ListResultsRequest {
        year: 2022,
        round: 0,
    });
    call_auth::sign_call(&mut request, key, paths::LIST_RESULTS, now);
    let wire = client(running)
        .await
        .list_results(request)
        .await
        .expect("listed")
        .into_inner();
    ListResultsResponse::try_from(wire).expect("well-formed results")
}

fn header(unit: &str, reason: &str) -> ObjectionHeader {
    ObjectionHeader {
        unit_id: unit.into(),
        year: 2022,
        round: Round::Annual,
        reason: reason.into(),
        material_name: Some("学习记录.pdf".into()),
        media_type: Some("application/pdf".into()),
        material_size: 0,
        material_sha256: [0; 32],
    }
}

async fn file(
    running: &Running,
    key: &SigningKeyPair,
    now: i64,
    parts: Vec<pb::ObjectionPart>,
) -> Result<ObjectionReceipt, tonic::Status> {
    let mut request = tonic::Request::new(tokio_stream::iter(parts));
    call_auth::sign_call(&mut request, key, FILE_OBJECTION_PATH, now);
    let wire = client(running)
        .await
        .file_objection(request)
        .await?
        .into_inner();
    Ok(ObjectionReceipt::try_from(wire).expect("well-formed objection receipt"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_lists_its_units_results_and_files_an_objection_within_the_window_only() {
    let setup = setup();
    let pack = setup.pack.clone();
    let running = start(setup).await;
    let a = node_key(1);
    let mut t1 = submission(&a, &pack, "t1", 1);
    t1.methods = vec![daily_block(3, true)];
    let mut t2 = submission(&a, &pack, "t2", 2);
    t2.methods = vec![daily_block(1, true)];
    accept(&running, signed(&t1, &a)).await;
    accept(&running, signed(&t2, &a)).await;

    // Before any notice: provisional, scores and reasons, no deadlines;
    // d1 (a department) is not in A's scope and not listed.
    let got = list(&running, &a, running.now()).await;
    let ids: Vec<&str> = got.results.iter().map(|r| r.unit_id.as_str()).collect();
    assert_eq!(ids, ["t1", "t2"]);
    let r1 = &got.results[0];
    assert_eq!(r1.status, ResultStatus::Provisional);
    assert_eq!(r1.scores.unwrap().total, 10_000);
    assert_eq!(r1.grade, Some(Grade::Excellent));
    assert_eq!(r1.rank.map(|r| (r.position, r.of)), Some((1, 2)));
    let r2 = &got.results[1];
    assert_eq!(r2.grade, Some(Grade::Pass));
    assert_eq!(r2.reasons.len(), 1);
    assert_eq!(r2.reasons[0].clause_id.as_deref(), Some("L1a"));
    assert_eq!(r2.reasons[0].text, "专题学习少于2次，扣2分");
    assert_eq!(r2.review_deadline, None);

    // t2 is notified Monday 2022-11-21: verification to 11-28, the
    // review request (after verification) to 12-05.
    let mut conn = running.conn();
    let data = results::load_year(&conn, &Runtime::new(small_runtime()).unwrap(), 2022).unwrap();
    let c = data
        .consolidate(&conn, kaohe_hub::consolidate::Detail::Full)
        .unwrap();
    let notices = wf::notify(
        &mut conn,
        &Calendar::builtin(),
        data.manifest(),
        &c,
        &["t2".into()],
        jiff::civil::date(2022, 11, 21),
        &actor("2022-11-21T02:00:00Z"),
    )
    .unwrap();
    let deadline = notices[0].deadlines.review_request;
    assert_eq!(deadline, jiff::civil::date(2022, 12, 5));
    let got = list(&running, &a, running.now()).await;
    let r2 = &got.results[1];
    assert_eq!(r2.status, ResultStatus::Verification);
    assert_eq!(r2.review_deadline, model::Date::new(2022, 12, 5));
    assert_eq!(r2.verification_deadline, model::Date::new(2022, 11, 28));

    // Within the window (2022-12-01): stored with its material.
    let material = b"%PDF-1.4 second session records".to_vec();
    let parts = Objection::new(header("t2", "第二次专题学习有记录"), material.clone()).into_parts();
    let receipt = file(&running, &a, running.now(), parts)
        .await
        .expect("objection accepted");
    assert_eq!(receipt.received_at, running.now());
    assert!(receipt.review_deadline.is_some());
    let stored: (String, i64, String) = running
        .conn()
        .query_row(
            "SELECT o.filed_by, m.size, m.sha256 FROM objections o JOIN objection_materials m ON m.objection_id = o.id WHERE o.id = ?1",
            [receipt.objection_id.parse::<i64>().unwrap()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(stored.0, format!("node/{}", a.key_id()));
    assert_eq!(stored.1, material.len() as i64);
    assert_eq!(
        stored.2,
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&material))
    );
    assert_eq!(
        list(&running, &a, running.now()).await.results[1].status,
        ResultStatus::Review
    );

    let objections = || running.count("SELECT count(*) FROM objections");
    let before = objections();
    // A digest that does not match the bytes sent: refused, nothing stored.
    let mut parts = Objection::new(header("t2", "再次申请"), material.clone()).into_parts();
    if let Some(pb::objection_part::Part::Header(h)) = &mut parts[0].part {
        h.material_sha256[0] ^= 1;
    }
    let status = file(&running, &a, running.now(), parts).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("SHA-256"), "{}", status.message());
    // Without material (考核方案 六（三）"申请复核并提供证明材料"): refused
    // with the reason (before issue #13 it was stored).
    let mut bare = header("t2", "再次申请");
    bare.material_name = None;
    bare.media_type = None;
    let status = file(
        &running,
        &a,
        running.now(),
        Objection::new(bare, Vec::new()).into_parts(),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains("证明材料"),
        "{}",
        status.message()
    );
    // Another node's unit (d1 is a department; A assesses townships).
    let parts = Objection::new(header("d1", "不服"), Vec::new()).into_parts();
    let status = file(&running, &a, running.now(), parts).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(status.message().contains("d1"), "{}", status.message());
    // Unsigned: refused before anything is read.
    let status = client(&running)
        .await
        .file_objection(tokio_stream::iter(
            Objection::new(header("t2", "x"), Vec::new()).into_parts(),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert_eq!(objections(), before);

    // After the deadline (Beijing 2022-12-06): refused, naming it.
    let late: Timestamp = "2022-12-06T02:00:00Z".parse().unwrap();
    running.clock.set(late);
    let parts = Objection::new(header("t2", "迟到的异议"), material).into_parts();
    let status = file(&running, &a, late.as_second(), parts)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(
        status.message().contains(&format_date_zh(deadline)),
        "{}",
        status.message()
    );
    assert!(
        status.message().contains("2022年12月5日（星期一）"),
        "{}",
        status.message()
    );
    assert_eq!(objections(), before);
    running.stop().await;
}

/// `ListResults` with a round keeps that round's reasons only and names
/// it; a unit not assessed says what is missing and who may report it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_results_honours_its_round_and_says_why_a_unit_is_not_assessed() {
    let setup = setup();
    let pack = setup.pack.clone();
    let running = start(setup).await;
    let a = node_key(1);
    let mut t2 = submission(&a, &pack, "t2", 1);
    t2.methods = vec![daily_block(1, true)];
    accept(&running, signed(&t2, &a)).await;
    let listed = |round: Option<Round>| {
        let running = &running;
        let a = &a;
        async move {
            let mut request =
                tonic::Request::new(pb::ListResultsRequest::from(model::ListResultsRequest {
                    year: 2022,
                    round,
                }));
            call_auth::sign_call(&mut request, a, paths::LIST_RESULTS, running.now());
            let wire = client(running)
                .await
                .list_results(request)
                .await
                .unwrap()
                .into_inner();
            ListResultsResponse::try_from(wire).unwrap().results
        }
    };
    let all = listed(None).await;
    // t1 was not reported by anyone: not assessed, and why.
    assert_eq!(all[0].unit_id, "t1");
    assert_eq!(all[0].status, ResultStatus::NotAssessed);
    let why = all[0].not_assessed_because.join("\n");
    assert!(why.contains("日常评价（daily）年度结果未报送"), "{why}");
    assert!(why.contains("应由考核主体依法治县办的节点「"), "{why}");
    assert!(why.contains("「甲节点」"), "{why}");
    assert!(all[1].not_assessed_because.is_empty());
    assert_eq!(all[1].reasons.len(), 1);
    // The annual round: its reason, and the round named.
    let annual = listed(Some(Round::Annual)).await;
    assert_eq!(annual[1].round, Round::Annual);
    assert_eq!(annual[1].reasons.len(), 1);
    // The first quarter: nothing of the annual round.
    let q1 = listed(Some(Round::Q1)).await;
    assert_eq!(q1[1].round, Round::Q1);
    assert!(q1[1].reasons.is_empty(), "{:?}", q1[1].reasons);
    assert!(q1[0].not_assessed_because.is_empty());
    running.stop().await;
}
