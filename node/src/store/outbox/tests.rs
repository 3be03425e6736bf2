//! The outbox as stored: order, receipts in the same transaction as
//! `accepted`, and the schema 1 → 2 upgrade.

use kaohe_proto::SigningKeyPair;
use kaohe_proto::model::RejectionCode;
use kaohe_proto::receipt::ReceiptItem;
use kaohe_rulepacks::manifest::Round;

use crate::evaluate;
use crate::outbox::{Entry, Outcome, State};
use crate::store::{EvidenceWrite, SourceKind, Store};
use crate::testutil::{TEST_RUBRIC, actor, store_with_pack, test_manifest};

use super::Settled;

fn ts(s: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_second(s).unwrap()
}

/// Sets `sat_rate` of `unit` and submits the satisfaction results of
/// `units`; returns the sequence numbers queued.
fn submit_sat(store: &mut Store, values: &[(&str, i64)]) -> Vec<u64> {
    let writes: Vec<EvidenceWrite> = values
        .iter()
        .map(|(u, v)| EvidenceWrite {
            unit_id: (*u).into(),
            round: Round::Annual,
            field_id: "sat_rate".into(),
            value: Some(*v),
        })
        .collect();
    store
        .apply_evidence(2022, &writes, &SourceKind::Set, &actor("王"), &mut |_| {})
        .unwrap();
    let rubric = kaohe_rulepacks::rubric::compile("t.toml", TEST_RUBRIC).unwrap();
    let interp = kaohe_rulepacks::interp::Interpreter::new(&rubric);
    let m = test_manifest();
    let pack = store.active_pack(2022).unwrap().unwrap();
    let scope = store.scope(2022).unwrap();
    let only = vec!["satisfaction".to_string()];
    let jobs = evaluate::jobs(store, &m, &scope, Round::Annual, Some(&only))
        .unwrap()
        .into_iter()
        .filter(|j| values.iter().any(|(u, _)| *u == j.unit.unit_id))
        .collect();
    let results = evaluate::run(&interp, jobs).unwrap();
    let key = SigningKeyPair::from_seed(&[5; 32]);
    evaluate::submit(store, &key, &pack, &results, &actor("王"))
        .unwrap()
        .queued
        .into_iter()
        .map(|(_, s)| s)
        .collect()
}

fn sequences(entries: &[Entry]) -> Vec<u64> {
    entries.iter().map(|e| e.sequence).collect()
}

/// The hub decides newer and older by sequence number only: if the
/// node sent justice #3 while justice #1 waited for its retry time, #1
/// would later be refused as stale. So #3 waits for #1, while another
/// unit's entry goes ahead.
#[test]
fn a_newer_entry_never_overtakes_an_older_one_of_the_same_unit_and_round() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_with_pack(dir.path());
    assert_eq!(
        submit_sat(&mut store, &[("justice", 9000), ("xiaodian", 8000)]),
        vec![1, 2]
    );
    let claimed = store.claim_due(10, &ts(1_000), true).unwrap();
    assert_eq!(sequences(&claimed.entries), vec![1, 2]);
    // #1 fails and must wait until 1_100; #2 fails and may go at once.
    for (seq, retry_at) in [(1, 1_100), (2, 1_000)] {
        store
            .record(
                seq,
                &Outcome::Failed {
                    reason: "汇总中心暂不可用".into(),
                    retry_at: Some(retry_at),
                },
                &ts(1_000),
            )
            .unwrap();
    }
    // A newer justice result (#3) is queued meanwhile.
    assert_eq!(submit_sat(&mut store, &[("justice", 9500)]), vec![3]);
    let c = store.claim_due(10, &ts(1_050), true).unwrap();
    assert_eq!(sequences(&c.entries), vec![2], "#3 must not overtake #1");
    assert_eq!((c.waiting, c.next_due), (2, Some(1_100)));
    store.recover_interrupted(&ts(1_050)).unwrap();
    // A restart resumes from the stored time: still not due at 1_099.
    let c = store.claim_due(10, &ts(1_099), true).unwrap();
    assert_eq!(sequences(&c.entries), vec![2]);
    store.recover_interrupted(&ts(1_099)).unwrap();
    let c = store.claim_due(10, &ts(1_100), true).unwrap();
    assert_eq!(sequences(&c.entries), vec![1, 2, 3], "in sequence order");
    store.recover_interrupted(&ts(1_100)).unwrap();
    // An official asking to deliver now does not wait for retry times,
    // but order still holds, and the limit never splits it wrongly.
    let c = store.claim_due(2, &ts(1_000), false).unwrap();
    assert_eq!(sequences(&c.entries), vec![1, 2]);
    assert_eq!(c.waiting, 1);
    let transitions = store.transitions(1).unwrap();
    assert_eq!(
        transitions.iter().map(|t| t.1).collect::<Vec<_>>(),
        vec![
            State::ToSend,
            State::Sending,
            State::Retry,
            State::Sending,
            State::Retry,
            State::Sending
        ]
    );
}

/// Promise 2: a receipt is stored in the same transaction as the entry's
/// change to accepted, and only a receipt that verifies counts; a chunk
/// with one bad receipt records the others and sends that one again.
#[test]
fn a_chunk_is_recorded_at_once_and_a_bad_receipt_never_makes_an_entry_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_with_pack(dir.path());
    submit_sat(
        &mut store,
        &[("justice", 9000), ("xiaodian", 8000), ("zhaozhuang", 7000)],
    );
    let claimed = store.claim(10, &ts(1_000)).unwrap();
    let hub = SigningKeyPair::from_seed(&[8; 32]);
    let item = |e: &Entry| ReceiptItem {
        digest: e.digest,
        unit_id: e.unit_id.clone(),
        year: e.year,
        round: kaohe_proto::Round::Annual,
        late: false,
    };
    let receipts = crate::testutil::receipts_in_log(
        &[item(&claimed[0]), item(&claimed[1])],
        &hub,
        1_700_000_000,
    );
    let forged = crate::testutil::receipts_in_log(
        &[item(&claimed[2])],
        &SigningKeyPair::from_seed(&[66; 32]),
        1_700_000_000,
    );
    let hub_key = hub.public();
    let settled = store
        .record_chunk(
            &[
                (
                    1,
                    Outcome::Accepted {
                        receipt: &receipts[0],
                        hub: &hub_key,
                    },
                ),
                (
                    2,
                    Outcome::Rejected {
                        code: Some(RejectionCode::ReplayMismatch),
                        reason: "复算得分不一致".into(),
                    },
                ),
                (
                    3,
                    Outcome::Accepted {
                        receipt: &forged[0],
                        hub: &hub_key,
                    },
                ),
                // A second outcome for #1: the entry has moved on.
                (
                    1,
                    Outcome::Rejected {
                        code: None,
                        reason: "x".into(),
                    },
                ),
            ],
            &ts(1_001),
            Some(2_801),
        )
        .unwrap();
    assert_eq!(settled[0], (1, Settled::State(State::Accepted)));
    assert_eq!(settled[1], (2, Settled::State(State::Rejected)));
    assert!(matches!(&settled[2], (3, Settled::BadReceipt(why)) if why.contains("核验失败")));
    assert!(matches!(settled[3], (1, Settled::Skipped(_))));
    let e1 = store.outbox_entry(1).unwrap().unwrap();
    assert_eq!(e1.decoded_receipt().unwrap().unwrap(), receipts[0]);
    let e2 = store.outbox_entry(2).unwrap().unwrap();
    assert_eq!(
        (
            e2.state,
            e2.rejection_code.as_deref(),
            e2.last_error.as_deref()
        ),
        (
            State::Rejected,
            Some("REJECTION_CODE_REPLAY_MISMATCH"),
            Some("复算得分不一致")
        )
    );
    let e3 = store.outbox_entry(3).unwrap().unwrap();
    assert_eq!(
        (e3.state, e3.receipt.as_ref(), e3.next_attempt_at),
        (State::Retry, None, Some(2_801))
    );
    let c = store.outbox_counts().unwrap();
    assert_eq!((c.accepted, c.rejected, c.retry, c.pending()), (1, 1, 1, 1));
}

/// The schema 1 → 2 upgrade rebuilds the outbox: every entry and
/// transition is carried over, the new state is allowed, and the
/// no-delete trigger and foreign keys are in force again.
#[test]
fn upgrading_a_version_1_store_keeps_every_outbox_entry_and_transition() {
    use crate::store::open_at_version;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.db");
    let v1 = open_at_version(&path, 1, true).unwrap();
    let node = SigningKeyPair::from_seed(&[5; 32]);
    let envelope =
        kaohe_proto::Envelope::sign("application/vnd.kaohe.test", b"x".to_vec(), &[&node]);
    let sig = &envelope.signatures[0];
    v1.conn
        .execute_batch(
            "INSERT INTO units VALUES ('justice', '县司法局', 'department', NULL, NULL);
             INSERT INTO packs VALUES ('test', 2022, 1, zeroblob(32), x'00', '{}', x'00',
                                       '2022-01-01T00:00:00Z', 1);
             INSERT INTO evaluations (unit_id, year, round, methods, pack_id, pack_year,
                                      pack_version, evidence, result, content_sha256,
                                      evaluated_at, evaluated_by)
             VALUES ('justice', 2022, 'annual', 'satisfaction', 'test', 2022, 1, '{}', '{}',
                     zeroblob(32), '2022-01-01T00:00:00Z', '王');",
        )
        .unwrap();
    v1.conn
        .execute(
            "INSERT INTO outbox (sequence, evaluation_id, unit_id, year, round, methods, digest,
                                 payload_type, payload, key_id, signature, state, attempts,
                                 last_error, created_at, updated_at)
             VALUES (1, 1, 'justice', 2022, 'annual', 'satisfaction', ?1, ?2, ?3, ?4, ?5,
                     'retry', 2, '连接被拒绝', 't', 't')",
            rusqlite::params![
                envelope.digest().0.as_slice(),
                envelope.payload_type,
                envelope.payload,
                sig.key_id.as_str(),
                sig.sig.as_slice()
            ],
        )
        .unwrap();
    v1.conn
        .execute_batch(
            "INSERT INTO outbox_transitions (sequence, from_state, to_state, at, detail)
             VALUES (1, NULL, 'to_send', 't', 'signed'), (1, 'to_send', 'sending', 't', 'claim'),
                    (1, 'sending', 'retry', 't', '连接被拒绝');",
        )
        .unwrap();
    drop(v1);

    let mut store = Store::open(&path).unwrap();
    assert_eq!(
        store.schema_version().unwrap(),
        crate::store::SCHEMA_VERSION
    );
    store.integrity_check().unwrap();
    let e = store.outbox_entry(1).unwrap().unwrap();
    assert_eq!(
        (
            e.state,
            e.attempts,
            e.last_error.as_deref(),
            e.next_attempt_at,
            e.envelope
        ),
        (State::Retry, 2, Some("连接被拒绝"), None, envelope)
    );
    assert_eq!(store.transitions(1).unwrap().len(), 3);
    assert!(
        store.conn.execute("DELETE FROM outbox", []).is_err(),
        "trigger lost"
    );
    let fk: i64 = store
        .conn
        .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
        .unwrap();
    assert_eq!(fk, 1, "foreign keys back on after migrating");
    // The new state exists: the v1 pack is not active any more.
    store
        .conn
        .execute("UPDATE packs SET is_active = 0", [])
        .unwrap();
    let c = store.claim_due(10, &ts(1_000), false).unwrap();
    assert!(c.entries.is_empty());
    assert_eq!(c.superseded.len(), 1);
    assert_eq!(
        store.outbox_entry(1).unwrap().unwrap().state,
        State::Superseded
    );
}
