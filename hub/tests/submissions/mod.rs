//! Submissions accepted: stored with a receipt that verifies offline, the
//! same envelope again answered with the same receipt, a late one marked
//! late, receipts streamed per committed chunk, `GetReceipt` for the
//! submitting node only, and every receipt the same after a restart.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_submission_is_stored_and_its_receipt_verifies_offline() {
    let setup = setup();
    let pack = setup.pack.clone();
    let running = start(setup).await;
    let a = node_key(1);
    let mut s = submission(&a, &pack, "t1", 1);
    s.methods = vec![daily_block(1, true)]; // L1a fires: 4 − 2 = 2 points
    let envelope = signed(&s, &a);
    let digest = envelope_digest(&envelope);
    let receipt = accept(&running, envelope).await;

    receipt
        .verify(&running.hub_key)
        .expect("verifies with the hub key alone");
    assert_eq!(receipt.leaf.digest, digest);
    assert_eq!(receipt.leaf.unit_id, "t1");
    assert_eq!(receipt.leaf.year, 2022);
    assert_eq!(receipt.leaf.round, Round::Annual);
    assert!(!receipt.leaf.late);
    assert!(
        receipt.verify(&node_key(9).public()).is_err(),
        "another key must not verify it"
    );

    let conn = running.conn();
    let (node, late, current): (String, i64, i64) = conn
        .query_row(
            "SELECT s.node_id, s.late, r.is_current FROM submissions s JOIN results r ON r.submission_id = s.id WHERE s.digest = ?1",
            [digest.0.as_slice()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(node, a.key_id().as_str());
    assert_eq!((late, current), (0, 1));
    // The replayed scores and fired clauses ride on the result row as JSON
    // in key order (schema 6), integer hundredths.
    let (scores, clauses): (String, String) = conn
        .query_row("SELECT scores, clauses FROM results", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(scores, r#"{"L1":200,"L2":300}"#);
    let clauses: Vec<(String, i64, String)> = serde_json::from_str(&clauses).unwrap();
    assert_eq!(clauses.len(), 1, "{clauses:?}");
    assert_eq!((clauses[0].0.as_str(), clauses[0].1), ("L1a", 200));
    assert!(!clauses[0].2.is_empty(), "the reason is kept: {clauses:?}");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_envelope_again_gets_the_same_receipt_and_one_row() {
    let setup = setup();
    let pack = setup.pack.clone();
    let running = start(setup).await;
    let a = node_key(1);
    let envelope = signed(&submission(&a, &pack, "t1", 1), &a);
    let first = accept(&running, envelope.clone()).await;
    let before = running.dump();
    let again = accept(&running, envelope.clone()).await;
    assert_eq!(again, first, "the same receipt, byte for byte");
    assert_eq!(running.dump(), before, "a duplicate changes nothing");

    // Many identical submissions at once: one row, one receipt for all.
    let other = signed(&submission(&a, &pack, "t2", 2), &a);
    let mut calls = Vec::new();
    for _ in 0..16 {
        let mut client = running.client().await;
        let e = other.clone();
        calls.push(tokio::spawn(async move {
            client.submit(e).await.map(|r| r.into_inner())
        }));
    }
    let mut receipts = Vec::new();
    for call in calls {
        receipts.push(Receipt::try_from(call.await.unwrap().unwrap()).unwrap());
    }
    assert!(
        receipts.windows(2).all(|w| w[0] == w[1]),
        "every caller gets the same receipt"
    );
    assert_eq!(
        running.count("SELECT count(*) FROM submissions WHERE unit_id = 't2'"),
        1
    );
    // And in one stream: the same envelope three times, one row.
    let mut client = running.client().await;
    let third = signed(&submission(&a, &pack, "t1", 3), &a);
    let stream = tokio_stream::iter(vec![third.clone(), third.clone(), third]);
    let mut chunks = client.submit_stream(stream).await.unwrap().into_inner();
    let mut outcomes = Vec::new();
    while let Some(chunk) = chunks.next().await {
        outcomes.extend(ReceiptChunk::try_from(chunk.unwrap()).unwrap().outcomes);
    }
    assert_eq!(outcomes.len(), 3);
    let r0 = outcomes[0].result.clone().unwrap();
    assert!(outcomes.iter().all(|o| o.result.as_ref() == Ok(&r0)));
    assert_eq!(
        running.count("SELECT count(*) FROM submissions WHERE sequence = 3"),
        1
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submission_after_its_rounds_deadline_is_accepted_and_marked_late() {
    let setup = setup();
    let pack = setup.pack.clone();
    let running = start(setup).await;
    let a = node_key(1);
    let on_time = accept(&running, signed(&submission(&a, &pack, "t1", 1), &a)).await;
    assert!(!on_time.leaf.late);
    // The annual deadline is 2023-01-20; the hub's clock passes its end.
    running.clock.set(AFTER_DEADLINE.parse().unwrap());
    let late = accept(&running, signed(&submission(&a, &pack, "t2", 2), &a)).await;
    assert!(late.leaf.late, "marked late in the receipt");
    late.verify(&running.hub_key).unwrap();
    assert_eq!(
        late.leaf.commit_time,
        AFTER_DEADLINE.parse::<Timestamp>().unwrap().as_second()
    );
    assert_eq!(
        running.count("SELECT late FROM submissions WHERE unit_id = 't2'"),
        1
    );
    assert_eq!(
        running.count("SELECT late FROM results WHERE unit_id = 't2'"),
        1
    );
    assert_eq!(
        running.count("SELECT late FROM submissions WHERE unit_id = 't1'"),
        0
    );
    let report = progress::report(&running.conn(), 2022).unwrap();
    let a_progress = report.iter().find(|p| p.node.id == a.key_id()).unwrap();
    assert_eq!(
        (a_progress.reported, a_progress.expected, a_progress.late),
        (2, 2, 1)
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_receipts_arrive_per_committed_chunk() {
    let setup = setup();
    let pack = setup.pack.clone();
    let running = start_with(setup, |o| o.limits.chunk = 16).await;
    let (a, c) = (node_key(1), node_key(3));
    let mut client = running.client().await;
    let (tx, rx) = mpsc::channel::<pb::Envelope>(256);
    let mut chunks = client
        .submit_stream(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    // The first envelopes: their receipts come back while the stream is
    // still open (the server answers per chunk, not at the end).
    for seq in 1..=3 {
        tx.send(signed(&submission(&a, &pack, "t1", seq), &a))
            .await
            .unwrap();
    }
    let mut outcomes = Vec::new();
    while outcomes.len() < 3 {
        let chunk = ReceiptChunk::try_from(chunks.next().await.unwrap().unwrap()).unwrap();
        outcomes.extend(chunk.outcomes);
    }
    // Then many more, with refusals in between (unit d1 is out of scope).
    let mut expected_refused = Vec::new();
    for i in 3u64..100 {
        let seq = i + 1;
        let (key, unit) = if i % 10 == 5 {
            (&a, "d1")
        } else if i % 2 == 0 {
            (&a, "t2")
        } else {
            (&c, "t1")
        };
        if unit == "d1" {
            expected_refused.push(i);
        }
        tx.send(signed(&submission(key, &pack, unit, seq), key))
            .await
            .unwrap();
    }
    drop(tx);
    let mut chunk_count = 1;
    while let Some(chunk) = chunks.next().await {
        let chunk = ReceiptChunk::try_from(chunk.unwrap()).unwrap();
        assert!(
            !chunk.outcomes.is_empty() && chunk.outcomes.len() <= 16,
            "{}",
            chunk.outcomes.len()
        );
        // One committed batch: every receipt of the chunk under one head.
        let heads: Vec<&Envelope> = chunk
            .outcomes
            .iter()
            .filter_map(|o| o.result.as_ref().ok())
            .map(|r| &r.signed_head)
            .collect();
        assert!(
            heads.windows(2).all(|w| w[0] == w[1]),
            "one signed head per chunk"
        );
        chunk_count += 1;
        outcomes.extend(chunk.outcomes);
    }
    assert!(
        chunk_count >= 100 / 16,
        "receipts came in {chunk_count} chunks"
    );
    let indices: Vec<u64> = outcomes.iter().map(|o| o.index).collect();
    assert_eq!(
        indices,
        (0..100).collect::<Vec<_>>(),
        "one outcome per envelope, in order"
    );
    for o in &outcomes {
        match &o.result {
            Ok(receipt) => {
                receipt.verify(&running.hub_key).unwrap();
                assert_eq!(receipt.leaf.digest, o.digest);
            }
            Err(r) => {
                assert!(
                    expected_refused.contains(&o.index),
                    "unexpected refusal {r:?}"
                );
                assert_eq!(r.code, RejectionCode::OutOfScope);
            }
        }
    }
    let refused: Vec<u64> = outcomes
        .iter()
        .filter(|o| o.result.is_err())
        .map(|o| o.index)
        .collect();
    assert_eq!(refused, expected_refused);
    // Supersession inside the stream: one current result per (node, unit).
    assert_eq!(
        running.count("SELECT count(*) FROM results WHERE is_current = 1"),
        3
    );
    assert_eq!(
        running.count("SELECT count(*) FROM submissions"),
        100 - expected_refused.len() as i64
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_receipt_answers_the_submitting_node_only() {
    let setup = setup();
    let pack = setup.pack.clone();
    let running = start(setup).await;
    let (a, c) = (node_key(1), node_key(3));
    let envelope = signed(&submission(&a, &pack, "t1", 1), &a);
    let digest = envelope_digest(&envelope);
    let receipt = accept(&running, envelope).await;
    let mut client = running.client().await;
    let ask = |key: &SigningKeyPair, digest: Digest, now: i64| {
        let mut request =
            tonic::Request::new(pb::GetReceiptRequest::from(model::GetReceiptRequest {
                digest,
            }));
        call_auth::sign_call(&mut request, key, paths::GET_RECEIPT, now);
        request
    };
    let got = client
        .get_receipt(ask(&a, digest, running.now()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(Receipt::try_from(got).unwrap(), receipt);
    let status = client
        .get_receipt(ask(&c, digest, running.now()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let status = client
        .get_receipt(ask(&a, Digest([0; 32]), running.now()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    // Unsigned, or signed for another method, or from a skewed clock.
    let unsigned = tonic::Request::new(pb::GetReceiptRequest {
        digest: digest.0.to_vec(),
    });
    assert_eq!(
        client.get_receipt(unsigned).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    let mut wrong = tonic::Request::new(pb::GetReceiptRequest {
        digest: digest.0.to_vec(),
    });
    call_auth::sign_call(&mut wrong, &a, paths::LIST_MY_UNITS, running.now());
    assert_eq!(
        client.get_receipt(wrong).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    let status = client
        .get_receipt(ask(&a, digest, running.now() - 3600))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(status.message().contains("时钟"), "{}", status.message());
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_shutdown_and_restart_every_receipt_is_there_and_the_same() {
    let setup = setup();
    let pack = setup.pack.clone();
    let running = start(setup).await;
    let a = node_key(1);
    let envelopes: Vec<pb::Envelope> = (1..=5)
        .map(|seq| {
            signed(
                &submission(&a, &pack, if seq % 2 == 0 { "t1" } else { "t2" }, seq),
                &a,
            )
        })
        .collect();
    let mut receipts = Vec::new();
    for e in &envelopes {
        receipts.push(accept(&running, e.clone()).await);
    }
    let setup = running.stop().await;
    {
        let conn = db::open_existing(&setup.dir).unwrap();
        db::integrity_check(&conn).unwrap();
        let unsigned: i64 = conn
            .query_row(
                "SELECT count(*) FROM receipt_batches WHERE signed_head IS NULL",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(unsigned, 0, "signed heads stored by shutdown");
    }
    let running = start(setup).await;
    for (e, r) in envelopes.iter().zip(&receipts) {
        assert_eq!(
            &accept(&running, e.clone()).await,
            r,
            "the same receipt after a restart"
        );
    }
    assert_eq!(running.count("SELECT count(*) FROM submissions"), 5);
    running.stop().await;
}

/// Issue #17: stage 6 runs on the verify workers ahead of the writer
/// (`replay::ahead`); the writer takes a worker's verdict only when its own
/// checks give the same pack, category and unit name, and replays itself
/// otherwise — a stale or foreign verdict never decides.
#[test]
fn the_writer_takes_a_replay_verdict_from_ahead_only_for_the_same_pack_and_unit() {
    use kaohe_hub::ingest::verify::Ahead;
    use kaohe_hub::ingest::{Candidate, replay};

    let s = setup();
    let a = node_key(1);
    let mut committer = committer_on_1_december(&s.dir);
    // t2's L1 claimed in full although one study session deducts 2 points.
    let mut wrong = submission(&a, &s.pack, "t2", 2);
    wrong.methods[0] = daily_block(1, true);
    wrong.methods[0].scores.insert("L1".into(), 400);
    let envelopes = [
        signed(&submission(&a, &s.pack, "t1", 1), &a),
        signed(&wrong, &a),
    ];
    let mut candidates: Vec<Candidate> = envelopes
        .iter()
        .enumerate()
        .map(|(i, e)| Candidate::verify(i as u64, e.clone(), &committer.nodes(), None))
        .collect();
    replay::ahead(&committer.replay_view(), &mut candidates);
    let verdicts: Vec<bool> = candidates
        .iter()
        .map(|c| c.ahead.as_ref().expect("replayed ahead").verdict.is_ok())
        .collect();
    assert_eq!(verdicts, [true, false]);
    let ahead_refusal = candidates[1]
        .ahead
        .as_ref()
        .unwrap()
        .verdict
        .clone()
        .unwrap_err();

    // A verdict reached against another category (a roster changed in
    // between) is not taken: the writer replays and refuses the wrong
    // score all the same.
    let mut forged = candidates.clone();
    forged[1].ahead = Some(Ahead {
        verdict: Ok(()),
        category: "village".into(),
        ..forged[1].ahead.clone().unwrap()
    });
    let outcomes = committer.commit(forged).unwrap();
    assert!(outcomes[0].result.is_ok(), "{:?}", outcomes[0].result);
    let refused = outcomes[1].result.clone().unwrap_err();
    assert_eq!(refused.code, RejectionCode::ReplayMismatch);
    assert_eq!(refused.message, ahead_refusal.message);

    // For the same pack, category and unit the worker's verdict decides:
    // an Err the worker reached is the refusal, without replaying again.
    let mut again = submission(&a, &s.pack, "t2", 3);
    again.methods = vec![daily_block(3, true)];
    let mut c = Candidate::verify(0, signed(&again, &a), &committer.nodes(), None);
    replay::ahead(&committer.replay_view(), std::slice::from_mut(&mut c));
    let mut stamped = c.ahead.clone().unwrap();
    assert!(stamped.verdict.is_ok());
    stamped.verdict = Err(Rejection::new(RejectionCode::ReplayMismatch, "见复算"));
    c.ahead = Some(stamped);
    let outcome = committer.commit(vec![c]).unwrap().pop().unwrap();
    assert_eq!(outcome.result.unwrap_err().message, "见复算");
}

/// Issue #17: the envelope and JSON columns a verify worker encodes
/// (`store::Encoded`) are bound by the writer as they are; a candidate
/// without them (one the writer verified again) is encoded by the writer —
/// the same rows either way.
#[test]
fn the_rows_encoded_on_a_verify_worker_are_the_rows_the_writer_stores() {
    use kaohe_hub::ingest::Candidate;
    use kaohe_hub::ingest::store::Encoded;

    let s = setup();
    let a = node_key(1);
    let mut committer = committer_on_1_december(&s.dir);
    let mut t1 = submission(&a, &s.pack, "t1", 1);
    t1.methods = vec![daily_block(1, true)]; // L1a fires
    let t2 = submission(&a, &s.pack, "t2", 2);
    let mut candidates: Vec<Candidate> = [&t1, &t2]
        .iter()
        .enumerate()
        .map(|(i, sub)| Candidate::verify(i as u64, signed(sub, &a), &committer.nodes(), None))
        .collect();
    let expected: Vec<Encoded> = candidates
        .iter()
        .map(|c| {
            let encoded = c.encoded.clone().expect("encoded on the worker");
            let here = Encoded::of(c.envelope.as_ref().unwrap(), c.verified.as_ref().unwrap());
            assert_eq!(encoded, here.unwrap());
            encoded
        })
        .collect();
    candidates[1].encoded = None;
    let outcomes = committer.commit(candidates.clone()).unwrap();
    assert!(outcomes.iter().all(|o| o.result.is_ok()), "{outcomes:?}");

    let conn = db::open_existing(&s.dir).unwrap();
    for (c, e) in candidates.iter().zip(&expected) {
        let row: (Vec<u8>, [String; 4]) = conn
            .query_row(
                "SELECT s.envelope, r.scores, r.clauses, r.not_applicable, r.evidence
                 FROM submissions s JOIN results r ON r.submission_id = s.id WHERE s.digest = ?1",
                [c.digest.0.as_slice()],
                |r| Ok((r.get(0)?, [r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?])),
            )
            .unwrap();
        assert_eq!(row.0, e.envelope);
        assert_eq!(row.0, c.envelope.as_ref().unwrap().to_protobuf());
        assert_eq!(row.1, e.columns[0]);
    }
    assert_eq!(expected[0].columns[0][0], r#"{"L1":200,"L2":300}"#);
}

/// The single writer on `dir`'s hub with its clock fixed at 2022-12-01.
fn committer_on_1_december(dir: &Path) -> kaohe_hub::ingest::Committer {
    let conn = db::open_existing(dir).unwrap();
    let key = config::load_receipt_key(dir).unwrap();
    let runtime = Runtime::new(small_runtime()).unwrap();
    let clock = Clock::Fixed("2022-12-01T00:00:00Z".parse().unwrap());
    kaohe_hub::ingest::Committer::new(conn, runtime, key, clock).unwrap()
}
