//! Every way a submission is refused (RELIABILITY.md promises 3 and 7,
//! "signatures", "scope", "replay and duplicates", "network"): one table of
//! cases — how the bad submission is made, the gRPC code, the rejection and
//! its field, the words the message must say — run by one checker, which
//! also asserts one `submission.reject` audit record per refusal and that
//! nothing else stored changed.
//!
//! A case starts a fresh hub (`setup()`, served) unless it says it follows
//! the case above: then it runs on that hub, after it, and the two are
//! counted together (`kaohe hub progress`).

use std::cell::RefCell;
use std::panic::AssertUnwindSafe;

use super::*;

/// The cases, in the order they run.
const REFUSALS: &[Refusal] = &[
    Refusal {
        case: "a forged signature: one bit of it flipped",
        start: Start::FreshHub,
        build: |h| {
            let (a, pack) = (node_key(1), h.pack());
            h.accept(signed(&submission(&a, &pack, "t2", 1), &a));
            let mut envelope = signed(&submission(&a, &pack, "t1", 2), &a);
            envelope.signatures[0].sig[10] ^= 0x01;
            envelope
        },
        code: Code::Unauthenticated,
        rejection: Some(RejectionCode::BadSignature),
        field: Some("signatures"),
        words: || words(&["签名无效"]),
        then: |_| {},
    },
    Refusal {
        case: "a signature over other bytes: the payload changed after signing",
        start: Start::AfterTheCaseAbove,
        build: |h| {
            let a = node_key(1);
            let mut envelope = signed(&submission(&a, &h.pack(), "t1", 3), &a);
            let last = envelope.payload.len() - 1;
            envelope.payload[last] ^= 0x01;
            envelope
        },
        code: Code::Unauthenticated,
        rejection: Some(RejectionCode::BadSignature),
        field: Some("signatures"),
        words: || vec![node_key(1).key_id().as_str().to_owned()],
        then: |h| {
            // A signature that does not verify proves nothing about its
            // sender: `kaohe hub progress` counts these apart, not against
            // node A.
            let a = node_key(1);
            let conn = h.running().conn();
            assert_eq!(progress::unidentified_refusals(&conn).unwrap(), 2);
            let report = progress::report(&conn, 2022).unwrap();
            let a_progress = report.iter().find(|p| p.node.id == a.key_id()).unwrap();
            assert_eq!(a_progress.rejected_total(), 0);
            assert_eq!((a_progress.reported, a_progress.expected), (1, 2));
        },
    },
    Refusal {
        case: "an unknown key",
        start: Start::FreshHub,
        build: |h| {
            let stranger = node_key(77);
            signed(&submission(&stranger, &h.pack(), "t1", 1), &stranger)
        },
        code: Code::Unauthenticated,
        rejection: Some(RejectionCode::UnknownKey),
        field: Some("signatures"),
        words: || {
            vec![
                node_key(77).key_id().as_str().to_owned(),
                "kaohe hub node add".to_owned(),
            ]
        },
        then: |_| {},
    },
    Refusal {
        case: "a node revoked while the hub runs",
        start: Start::FreshHub,
        build: |h| {
            let b = node_key(2);
            h.accept(signed(&submission(&b, &h.pack(), "t1", 1), &b));
            // The CLI revokes B through its own connection while the hub serves.
            nodes::revoke_node(
                &mut h.running().conn(),
                "乙节点",
                "密钥遗失",
                &actor("2022-12-01T09:00:00Z"),
            )
            .unwrap();
            signed(&submission(&b, &h.pack(), "t2", 2), &b)
        },
        code: Code::Unauthenticated,
        rejection: Some(RejectionCode::UnknownKey),
        field: Some("signatures"),
        words: || words(&["乙节点", "吊销", "密钥遗失"]),
        then: |_| {},
    },
    Refusal {
        case: "a payload that is no submission, correctly signed",
        start: Start::FreshHub,
        build: |_| Envelope::sign(SUBMISSION_PAYLOAD_TYPE, vec![0xff; 40], &[&node_key(1)]).into(),
        code: Code::InvalidArgument,
        rejection: Some(RejectionCode::Invalid),
        field: Some("payload"),
        words: || words(&["无法解码"]),
        then: |_| {},
    },
    Refusal {
        case: "a submission that decodes but has no round",
        start: Start::AfterTheCaseAbove,
        build: |h| {
            let a = node_key(1);
            let mut wire = pb::Submission::from(&submission(&a, &h.pack(), "t1", 1));
            wire.round = 0;
            Envelope::sign(
                SUBMISSION_PAYLOAD_TYPE,
                prost::Message::encode_to_vec(&wire),
                &[&a],
            )
            .into()
        },
        code: Code::InvalidArgument,
        rejection: Some(RejectionCode::Invalid),
        field: Some("submission.round"),
        words: || words(&["round"]),
        then: |_| {},
    },
    Refusal {
        case: "a node id other than the signer's",
        start: Start::FreshHub,
        build: |h| {
            // Node A signs a submission that claims to come from node C.
            let (a, c) = (node_key(1), node_key(3));
            let mut s = submission(&a, &h.pack(), "t1", 1);
            s.node_id = c.key_id();
            Envelope::sign(SUBMISSION_PAYLOAD_TYPE, s.encode(), &[&a]).into()
        },
        code: Code::PermissionDenied,
        rejection: Some(RejectionCode::IdentityMismatch),
        field: Some("submission.node_id"),
        words: || {
            vec![
                node_key(3).key_id().as_str().to_owned(),
                node_key(1).key_id().as_str().to_owned(),
            ]
        },
        then: |_| {},
    },
    Refusal {
        case: "a superseded pack version",
        start: Start::FreshHub,
        build: |h| {
            let (a, v1) = (node_key(1), h.pack());
            h.accept(signed(&submission(&a, &v1, "t1", 1), &a));
            // Version 2 is published while the hub serves.
            h.publish(2);
            assert_eq!(
                h.running()
                    .count("SELECT needs_reevaluation FROM results WHERE pack_version = 1"),
                1,
                "results under the superseded version are flagged for re-evaluation"
            );
            signed(&submission(&a, &v1, "t2", 2), &a)
        },
        code: Code::FailedPrecondition,
        rejection: Some(RejectionCode::PackMismatch),
        field: Some("submission.pack.version"),
        words: || words(&["第 1 版", "第 2 版", "t2"]),
        then: |h| {
            // Under the current version the same report is accepted.
            let a = node_key(1);
            h.accept(signed(&submission(&a, &h.published(), "t2", 3), &a));
        },
    },
    Refusal {
        case: "a unit outside the node's scope",
        start: Start::FreshHub,
        // d1 is a department: node A may only report townships.
        build: |h| {
            let a = node_key(1);
            signed(&submission(&a, &h.pack(), "d1", 1), &a)
        },
        code: Code::PermissionDenied,
        rejection: Some(RejectionCode::OutOfScope),
        field: Some("submission.unit_id"),
        words: || words(&["d1", "县司法局", "甲节点"]),
        then: |_| {},
    },
    Refusal {
        case: "a unit that is in no roster of that year",
        start: Start::AfterTheCaseAbove,
        build: |h| {
            let a = node_key(1);
            signed(&submission(&a, &h.pack(), "t9", 2), &a)
        },
        code: Code::PermissionDenied,
        rejection: Some(RejectionCode::OutOfScope),
        field: Some("submission.unit_id"),
        words: || words(&["t9", "名册"]),
        then: |_| {},
    },
    Refusal {
        case: "a method outside the node's scope",
        start: Start::FreshHub,
        build: |h| {
            let a = node_key(1);
            let mut s = submission(&a, &h.pack(), "t1", 1);
            s.methods[0].method_id = "field_inspection".into();
            signed(&s, &a)
        },
        code: Code::PermissionDenied,
        rejection: Some(RejectionCode::OutOfScope),
        field: Some("submission.methods[0].method_id"),
        words: || words(&["实地考察"]),
        then: |_| {},
    },
    Refusal {
        case: "a year outside the node's scope",
        start: Start::FreshHub,
        // Node A is delegated 2022 only; 2023 has a current pack and roster.
        build: |h| {
            let a = node_key(1);
            signed(&submission(&a, &h.pack_2023(), "t1", 1), &a)
        },
        code: Code::PermissionDenied,
        rejection: Some(RejectionCode::OutOfScope),
        field: Some("submission.year"),
        words: || words(&["2023"]),
        then: |h| {
            // Node C is delegated 2023: the same report from C is accepted.
            let c = node_key(3);
            h.accept(signed(&submission(&c, &h.pack_2023(), "t1", 1), &c));
        },
    },
    Refusal {
        case: "a fired clause whose reason is not the rubric's, the numbers right",
        start: Start::FreshHub,
        build: |h| {
            let a = node_key(1);
            let mut s = submission(&a, &h.pack(), "t1", 1);
            s.methods = vec![daily_block(1, true)];
            s.methods[0].clauses.get_mut("L1a").unwrap().reason =
                "专题学习少于2次，酌情扣分".into();
            signed(&s, &a)
        },
        code: Code::InvalidArgument,
        rejection: Some(RejectionCode::ReplayMismatch),
        field: Some("submission.methods[0].clauses[L1a].reason"),
        words: || words(&["t1", "L1a", "酌情扣分", "专题学习少于2次，扣2分"]),
        then: |_| {},
    },
    Refusal {
        case: "a score one hundredth off the replay",
        start: Start::FreshHub,
        build: |h| {
            let a = node_key(1);
            let mut s = submission(&a, &h.pack(), "t1", 1);
            *s.methods[0].scores.get_mut("L2").unwrap() = 299;
            signed(&s, &a)
        },
        code: Code::InvalidArgument,
        rejection: Some(RejectionCode::ReplayMismatch),
        field: Some("submission.methods[0].scores[L2]"),
        words: || words(&["t1", "肖旗乡", "L2", "2.99", "3.00", "0.01"]),
        then: |_| {},
    },
    Refusal {
        case: "a clause the replay does not fire, the scores otherwise right",
        start: Start::AfterTheCaseAbove,
        build: |h| {
            let a = node_key(1);
            let mut s = submission(&a, &h.pack(), "t1", 2);
            s.methods[0].clauses.insert(
                "L1a".into(),
                FiredClause {
                    amount: 200,
                    reason: "虚报".into(),
                },
            );
            signed(&s, &a)
        },
        code: Code::InvalidArgument,
        rejection: Some(RejectionCode::ReplayMismatch),
        field: Some("submission.methods[0].clauses[L1a]"),
        words: || words(&["L1a"]),
        then: |_| {},
    },
    Refusal {
        case: "evidence the pack refuses: a required field missing",
        start: Start::AfterTheCaseAbove,
        build: |h| {
            let a = node_key(1);
            let mut s = submission(&a, &h.pack(), "t1", 3);
            s.methods[0].evidence.insert("plan".into(), None);
            signed(&s, &a)
        },
        code: Code::InvalidArgument,
        rejection: Some(RejectionCode::Invalid),
        field: Some("submission.methods"),
        words: || words(&["plan"]),
        then: |h| {
            // `kaohe hub progress` shows the refusals against node A, with reasons.
            let a = node_key(1);
            let report = progress::report(&h.running().conn(), 2022).unwrap();
            let a_progress = report.iter().find(|p| p.node.id == a.key_id()).unwrap();
            assert_eq!(a_progress.rejected_total(), 3);
            assert_eq!(
                a_progress.rejected[0].code,
                "REJECTION_CODE_REPLAY_MISMATCH"
            );
            assert_eq!(a_progress.rejected[0].count, 2);
            assert!(a_progress.rejected[0].latest_message.contains("L1a"));
            assert!(a_progress.last_seen.is_some());
        },
    },
    Refusal {
        case: "an older sequence after a newer one",
        start: Start::FreshHub,
        build: |h| {
            let a = node_key(1);
            let mut newer = submission(&a, &h.pack(), "t1", 5);
            newer.methods = vec![daily_block(5, false)];
            h.accept(signed(&newer, &a));
            signed(&submission(&a, &h.pack(), "t1", 3), &a)
        },
        code: Code::FailedPrecondition,
        rejection: Some(RejectionCode::Stale),
        field: Some("submission.methods[0]"),
        words: || words(&["t1", "序号 5", "序号 3"]),
        then: |_| {},
    },
    Refusal {
        case: "the same sequence number with other content",
        start: Start::AfterTheCaseAbove,
        build: |h| {
            let a = node_key(1);
            let mut reused = submission(&a, &h.pack(), "t2", 5);
            reused.methods = vec![daily_block(4, true)];
            signed(&reused, &a)
        },
        code: Code::AlreadyExists,
        rejection: Some(RejectionCode::SequenceReused),
        field: Some("submission.sequence"),
        words: || words(&["序号 5"]),
        then: |h| {
            // A newer one supersedes: history kept, one current.
            let a = node_key(1);
            h.accept(signed(&submission(&a, &h.pack(), "t1", 7), &a));
            let conn = h.running().conn();
            let rows: Vec<(i64, i64, bool)> = conn
                .prepare(
                    "SELECT r.sequence, r.is_current, r.superseded_by IS NOT NULL FROM results r WHERE unit_id = 't1' ORDER BY r.sequence",
                )
                .unwrap()
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert_eq!(rows, vec![(5, 0, true), (7, 1, false)]);
        },
    },
    Refusal {
        case: "a message over the gRPC limit",
        start: Start::FreshHub,
        build: |_| {
            Envelope::sign(
                SUBMISSION_PAYLOAD_TYPE,
                vec![7; model::MAX_ENVELOPE_MESSAGE_BYTES + 1],
                &[&node_key(1)],
            )
            .into()
        },
        code: Code::OutOfRange,
        rejection: None,
        field: None,
        words: Vec::new,
        then: |_| {},
    },
    Refusal {
        case: "inside the message limit but over the payload cap",
        start: Start::AfterTheCaseAbove,
        build: |_| {
            let payload = vec![7; kaohe_proto::envelope::DEFAULT_MAX_PAYLOAD_BYTES + 1];
            Envelope::sign(SUBMISSION_PAYLOAD_TYPE, payload, &[&node_key(1)]).into()
        },
        code: Code::InvalidArgument,
        rejection: Some(RejectionCode::TooLarge),
        field: Some("payload"),
        words: || words(&["超过上限"]),
        then: |_| {},
    },
];

#[test]
fn every_bad_submission_is_refused_with_its_code_and_reason_and_changes_nothing() {
    let mut hub: Option<Served> = None;
    for case in REFUSALS {
        if case.start == Start::FreshHub {
            if let Some(done) = hub.take() {
                done.stop();
            }
            hub = Some(Served::start());
        }
        let served = hub.as_ref().expect("the first case starts a hub");
        if let Err(panic) = std::panic::catch_unwind(AssertUnwindSafe(|| check(served, case))) {
            eprintln!("refusal case failed: {}", case.case);
            std::panic::resume_unwind(panic);
        }
    }
    if let Some(done) = hub {
        done.stop();
    }
}

/// One bad submission and what the hub must answer.
struct Refusal {
    /// What is wrong with it.
    case: &'static str,
    start: Start,
    /// Makes the submission, first changing the hub when the case needs it
    /// (an earlier report accepted, a node revoked, a version published).
    build: fn(&Served) -> pb::Envelope,
    code: Code,
    /// `None`: refused by the transport before the hub looked — no
    /// rejection, no audit record.
    rejection: Option<RejectionCode>,
    /// The field the rejection names.
    field: Option<&'static str>,
    /// Words the rejection's message must contain.
    words: fn() -> Vec<String>,
    /// Checked after the refusal (progress, a report accepted after it).
    then: fn(&Served),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    FreshHub,
    AfterTheCaseAbove,
}

fn words(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| (*w).to_owned()).collect()
}

/// Submits the case's submission and checks the refusal: the status code,
/// the rejection code and field, the words of the message, one new audit
/// record (none when the transport refused), and that nothing else stored
/// changed.
fn check(served: &Served, case: &Refusal) {
    let envelope = (case.build)(served);
    let running = served.running();
    let before = running.dump();
    let audit_before = running.rejections().len();
    let status = served
        .rt
        .block_on(async { running.client().await.submit(envelope).await })
        .expect_err("the submission must be refused");
    assert_eq!(status.code(), case.code, "{status:?}");
    assert_eq!(
        running.dump(),
        before,
        "a refused submission changed stored data"
    );
    let audit = running.rejections();
    match case.rejection {
        Some(rejection) => {
            let r = Rejection::from_status(&status).expect("rejection metadata");
            assert_eq!(r.code, rejection, "{r:?}");
            assert_eq!(r.field.as_deref(), case.field, "{r:?}");
            for w in (case.words)() {
                assert!(r.message.contains(&w), "message lacks {w:?}: {}", r.message);
            }
            assert_eq!(
                audit.len(),
                audit_before + 1,
                "one audit record per refusal"
            );
            let (_, detail) = audit.last().unwrap();
            assert_eq!(detail["code"], rejection.wire_name());
            assert_eq!(detail["message"], r.message.as_str());
        }
        None => assert_eq!(audit.len(), audit_before, "the hub never saw it"),
    }
    (case.then)(served);
}

/// A hub of the table, served on a runtime of its own so that the cases'
/// builders and checks are plain functions.
struct Served {
    rt: tokio::runtime::Runtime,
    running: Option<Running>,
    /// The pack version a case published last.
    published: RefCell<Option<PackIdentity>>,
}

impl Served {
    fn start() -> Served {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let running = rt.block_on(start(setup()));
        Served {
            rt,
            running: Some(running),
            published: RefCell::new(None),
        }
    }

    fn running(&self) -> &Running {
        self.running.as_ref().expect("the hub serves")
    }

    /// abi-demo 2022 v1.
    fn pack(&self) -> PackIdentity {
        self.running().setup.pack.clone()
    }

    /// abi-demo 2023 v1.
    fn pack_2023(&self) -> PackIdentity {
        self.running().setup.pack_2023.clone()
    }

    /// Publishes abi-demo 2022 `version` while the hub serves.
    fn publish(&self, version: u32) {
        let identity = publish_pack(&self.running().setup.dir, 2022, version);
        *self.published.borrow_mut() = Some(identity);
    }

    /// The version [`Served::publish`] published.
    fn published(&self) -> PackIdentity {
        self.published
            .borrow()
            .clone()
            .expect("a version published")
    }

    fn accept(&self, envelope: pb::Envelope) -> Receipt {
        self.rt.block_on(accept(self.running(), envelope))
    }

    fn stop(mut self) {
        if let Some(running) = self.running.take() {
            self.rt.block_on(running.stop());
        }
    }
}
