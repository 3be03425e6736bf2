//! Who may report what, over time: a node whose key was rotated keeps one
//! identity (its old key's reports stay, never clash with the new key's,
//! and its sequence continues; the old key can no longer submit), and a
//! node reports only units the roster gives to its assessor.

use kaohe_hub::registry::nodes::change;

use super::*;

/// The refusal a status carries.
fn refusal(status: &tonic::Status) -> Rejection {
    Rejection::from_status(status).expect("rejection metadata")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_rotated_mid_year_keeps_the_nodes_reports_and_sequence() {
    let setup = setup();
    let pack = setup.pack.clone();
    let running = start(setup).await;
    let old = node_key(1);
    let new = node_key(7);
    // Under the old key: t1 (sequence 1) and t2 (sequence 2).
    let t1_old = signed(&submission(&old, &pack, "t1", 1), &old);
    let first = accept(&running, t1_old.clone()).await;
    accept(&running, signed(&submission(&old, &pack, "t2", 2), &old)).await;

    // The county office rotates the key while the hub runs.
    let rotated = {
        let mut conn = running.conn();
        change::rotate_key(
            &mut conn,
            "甲节点",
            &new.public().to_string(),
            "定期更换",
            &actor("2022-07-01T00:00:00Z"),
        )
        .unwrap()
    };
    assert_eq!(rotated.node.id, old.key_id());
    assert_eq!(rotated.node.key.first_sequence, 3);

    // The old key's committed envelope is still answered with its receipt.
    assert_eq!(accept(&running, t1_old).await, first);
    // Anything new under the old key is refused, saying what to do.
    let status = running
        .client()
        .await
        .submit(signed(&submission(&old, &pack, "t1", 3), &old))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    let r = refusal(&status);
    assert_eq!(r.code, RejectionCode::UnknownKey);
    assert!(
        r.message.contains("已于 2022年7月1日（星期五）更换为"),
        "{}",
        r.message
    );
    assert!(r.message.contains("rotate-key adopt"), "{}", r.message);
    // The new key continues the node's sequence; starting over is refused.
    let status = running
        .client()
        .await
        .submit(signed(&submission(&new, &pack, "t1", 2), &new))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(
        refusal(&status).message.contains("从序号 3 起"),
        "{status:?}"
    );

    // Sequence 3 under the new key supersedes the old key's t1 result: one
    // node, one current result per slot, no clash.
    let mut s = submission(&new, &pack, "t1", 3);
    s.methods = vec![daily_block(1, true)];
    accept(&running, signed(&s, &new)).await;
    let conn = running.conn();
    let rows: Vec<(String, String, i64, i64)> = conn
        .prepare(
            "SELECT s.node_id, s.signer_key_id, s.sequence, r.is_current
             FROM submissions s JOIN results r ON r.submission_id = s.id
             WHERE s.unit_id = 't1' ORDER BY s.sequence",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let node = old.key_id().to_string();
    assert_eq!(
        rows,
        vec![
            (node.clone(), old.key_id().to_string(), 1, 0),
            (node.clone(), new.key_id().to_string(), 3, 1),
        ]
    );
    // The node's progress counts both units as its own.
    let report = progress::report(&conn, 2022).unwrap();
    let a = report.iter().find(|p| p.node.id == old.key_id()).unwrap();
    assert_eq!(a.reported, 2);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unit_the_roster_gives_to_another_assessor_is_refused_at_ingest() {
    let setup = setup();
    let pack = setup.pack.clone();
    // t2 becomes a township the roster has t1 assess (as if it were one of
    // t1's villages): node 甲 (the county office's) covers it by category.
    {
        let mut conn = db::open_existing(&setup.dir).unwrap();
        let mut t2 = unit(2022, "t2", "大营镇", "township");
        t2.assessor = ResponsibleAssessor::Unit("t1".into());
        units::replace_year(
            &mut conn,
            2022,
            &[
                unit(2022, "t1", "肖旗乡", "township"),
                t2,
                unit(2022, "d1", "县司法局", "department"),
            ],
            &RosterSource {
                file: "名册.xlsx".into(),
                sha256: "1".repeat(64),
            },
            &actor("2022-01-04T00:00:00Z"),
        )
        .unwrap();
    }
    let running = start(setup).await;
    let a = node_key(1);
    let before = running.dump();
    let status = running
        .client()
        .await
        .submit(signed(&submission(&a, &pack, "t2", 1), &a))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let r = refusal(&status);
    assert_eq!(r.code, RejectionCode::OutOfScope);
    assert_eq!(r.field.as_deref(), Some("submission.unit_id"));
    assert!(
        r.message
            .contains("考核主体是肖旗乡（t1），不是本节点（依法治县办）"),
        "{}",
        r.message
    );
    assert_eq!(running.dump(), before);
    // And t1, which the roster gives to the county office, is accepted.
    accept(&running, signed(&submission(&a, &pack, "t1", 2), &a)).await;
    running.stop().await;
}
