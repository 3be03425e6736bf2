//! The hub end to end: real SQLite files, real Ed25519 signatures, a real
//! WebAssembly pack (the hand-written ABI pack with a full manifest) and a
//! real gRPC server on 127.0.0.1:0.
//!
//! Every refusal test asserts the gRPC status, the rejection code, that the
//! message names what is wrong, that exactly one `submission.reject` audit
//! record was written, and that **nothing else stored changed** (every
//! table but the audit log dumped before and after).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use kaohe_hub::audit::Actor;
use kaohe_hub::clock::{Clock, ManualClock};
use kaohe_hub::registry::nodes::{self, AssessorKind, NewNode};
use kaohe_hub::registry::scope::Scope;
use kaohe_hub::registry::units::{self, ResponsibleAssessor, RosterSource, UnitRecord};
use kaohe_hub::server::{Hub, ServeOptions};
use kaohe_hub::{config, db, progress, publish};
use kaohe_proto::call_auth::{self, paths};
use kaohe_proto::model::{
    self, FetchedPack, ListMyUnitsResponse, ListPacksResponse, ReceiptChunk, Rejection,
    RejectionCode,
};
use kaohe_proto::pb::pack_service_client::PackServiceClient;
use kaohe_proto::pb::submission_service_client::SubmissionServiceClient;
use kaohe_proto::pb::unit_service_client::UnitServiceClient;
use kaohe_proto::submission::{FiredClause, SUBMISSION_PAYLOAD_TYPE};
use kaohe_proto::{
    Digest, Envelope, MethodBlock, PackIdentity, PublicKey, Receipt, Round, SigningKeyPair,
    Submission, pb,
};
use kaohe_rulepacks::runtime::{Runtime, RuntimeConfig};
use kaohe_rulepacks::sign::{self, Expectation, TrustPolicy};
use rusqlite::Connection;
use rusqlite::types::ValueRef;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;

mod certs;
mod deadlines;
mod support;
use support::{PACK_ID, abi_pack};

// -------------------------------------------------------- the hub setup --

/// Before the 2022 annual deadline (2023-01-20, Beijing).
const START: &str = "2022-12-01T08:00:00Z";
/// After it.
const AFTER_DEADLINE: &str = "2023-01-20T16:00:00Z";

fn authority() -> SigningKeyPair {
    SigningKeyPair::from_seed(&[90; 32])
}

fn node_key(seed: u8) -> SigningKeyPair {
    SigningKeyPair::from_seed(&[seed; 32])
}

fn small_runtime() -> RuntimeConfig {
    RuntimeConfig {
        max_concurrent_instances: 2,
        ..RuntimeConfig::default()
    }
}

fn actor(at: &str) -> Actor {
    Actor::new("测试员", at.parse().unwrap())
}

fn unit(year: i32, id: &str, name: &str, category: &str) -> UnitRecord {
    UnitRecord {
        year,
        id: id.into(),
        name: name.into(),
        category: category.into(),
        parent: None,
        supervising_department: None,
        assessor: ResponsibleAssessor::CountyOffice,
    }
}

/// Publishes a pack the way `kaohe hub pack publish` does: signed by the
/// authority, verified, test-loaded.
fn publish_pack(dir: &Path, year: u16, version: u32) -> PackIdentity {
    let module = abi_pack(year, version);
    let envelope = sign::sign_pack(&module, 1_660_000_000, &[&authority()]).unwrap();
    let policy = TrustPolicy::new(vec![authority().public()], 1).unwrap();
    let runtime = Runtime::new(small_runtime()).unwrap();
    let mut conn = db::open_existing(dir).unwrap();
    let (verified, _) = publish::publish_signed(
        &mut conn,
        &runtime,
        &policy,
        &module,
        &envelope.to_protobuf(),
        &actor("2022-01-05T00:00:00Z"),
    )
    .unwrap();
    verified.identity
}

/// A data directory with rosters for 2022 and 2023, three nodes
/// (A and B: townships, `daily`, 2022; C: townships, `daily`, 2022–2023)
/// and pack abi-demo 2022 v1 and 2023 v1 published.
struct Setup {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    pack: PackIdentity,
    pack_2023: PackIdentity,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("hub");
    let mut conn = db::create(&dir).unwrap();
    config::init_receipt_key(&dir).unwrap();
    let source = RosterSource {
        file: "名册.xlsx".into(),
        sha256: "0".repeat(64),
    };
    units::replace_year(
        &mut conn,
        2022,
        &[
            unit(2022, "t1", "肖旗乡", "township"),
            unit(2022, "t2", "大营镇", "township"),
            unit(2022, "d1", "县司法局", "department"),
        ],
        &source,
        &actor("2022-01-02T00:00:00Z"),
    )
    .unwrap();
    units::replace_year(
        &mut conn,
        2023,
        &[unit(2023, "t1", "肖旗乡", "township")],
        &source,
        &actor("2023-01-02T00:00:00Z"),
    )
    .unwrap();
    for (seed, name, years) in [
        (1u8, "甲节点", vec![2022]),
        (2, "乙节点", vec![2022]),
        (3, "丙节点", vec![2022, 2023]),
    ] {
        nodes::add_node(
            &mut conn,
            NewNode {
                name: name.into(),
                assessor: AssessorKind::CountyOffice,
                public_key: node_key(seed).public().to_string(),
                scope: Scope {
                    categories: ["township".to_string()].into(),
                    methods: ["daily".to_string()].into(),
                    years: years.into_iter().collect(),
                    ..Scope::default()
                },
            },
            &actor("2022-01-03T00:00:00Z"),
        )
        .unwrap();
    }
    drop(conn);
    let pack = publish_pack(&dir, 2022, 1);
    let pack_2023 = publish_pack(&dir, 2023, 1);
    Setup {
        _tmp: tmp,
        dir,
        pack,
        pack_2023,
    }
}

/// A running hub on 127.0.0.1:0 with a manual clock.
struct Running {
    setup: Setup,
    addr: SocketAddr,
    hub_key: PublicKey,
    clock: ManualClock,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), kaohe_hub::server::ServeError>>>,
}

async fn start(setup: Setup) -> Running {
    start_with(setup, |_| {}).await
}

async fn start_with(setup: Setup, adjust: impl FnOnce(&mut ServeOptions)) -> Running {
    let (clock, handle) = Clock::manual(START.parse().unwrap());
    let mut options = ServeOptions::new(&setup.dir, clock);
    options.runtime = small_runtime();
    adjust(&mut options);
    let hub = Hub::start(options).expect("hub starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(hub.serve(listener, async {
        let _ = stopped.await;
    }));
    let hub_key = config::load_receipt_key(&setup.dir).unwrap().public();
    Running {
        setup,
        addr,
        hub_key,
        clock: handle,
        stop: Some(stop),
        task: Some(task),
    }
}

impl Running {
    async fn client(&self) -> SubmissionServiceClient<tonic::transport::Channel> {
        SubmissionServiceClient::connect(format!("http://{}", self.addr))
            .await
            .unwrap()
    }

    /// Stops the server and waits until the writer has finished.
    async fn stop(mut self) -> Setup {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
        self.setup
    }

    fn conn(&self) -> Connection {
        db::open_existing(&self.setup.dir).unwrap()
    }

    /// Every table but the audit log, row by row.
    fn dump(&self) -> BTreeMap<String, Vec<String>> {
        dump(&self.conn())
    }

    /// The `submission.reject` audit records, oldest first: (operator, detail).
    fn rejections(&self) -> Vec<(String, serde_json::Value)> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT operator, detail FROM audit_log WHERE action = 'submission.reject' ORDER BY seq")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .unwrap()
            .map(|r| {
                let (op, detail) = r.unwrap();
                (op, serde_json::from_str(&detail).unwrap())
            })
            .collect()
    }

    fn count(&self, sql: &str) -> i64 {
        self.conn().query_row(sql, [], |r| r.get(0)).unwrap()
    }

    fn now(&self) -> i64 {
        // The manual clock only moves when a test moves it.
        START.parse::<Timestamp>().unwrap().as_second()
    }

    /// Submits `envelope` and expects a refusal: checks the status code,
    /// the rejection code, the words of the message, one new audit record
    /// and that nothing else stored changed.
    async fn refused(
        &self,
        envelope: pb::Envelope,
        code: Code,
        rejection: RejectionCode,
        words: &[&str],
    ) -> Rejection {
        let before = self.dump();
        let audit_before = self.rejections().len();
        let status = self
            .client()
            .await
            .submit(envelope)
            .await
            .expect_err("the submission must be refused");
        assert_eq!(status.code(), code, "{status:?}");
        let r = Rejection::from_status(&status).expect("rejection metadata");
        assert_eq!(r.code, rejection, "{r:?}");
        for w in words {
            assert!(r.message.contains(w), "message lacks {w:?}: {}", r.message);
        }
        assert_eq!(
            self.dump(),
            before,
            "a refused submission changed stored data"
        );
        let audit = self.rejections();
        assert_eq!(
            audit.len(),
            audit_before + 1,
            "one audit record per refusal"
        );
        let (_, detail) = audit.last().unwrap();
        assert_eq!(detail["code"], rejection.wire_name());
        assert_eq!(detail["message"], r.message.as_str());
        r
    }
}

fn dump(conn: &Connection) -> BTreeMap<String, Vec<String>> {
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'audit_log' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut out = BTreeMap::new();
    for table in tables {
        let mut stmt = conn.prepare(&format!("SELECT * FROM {table}")).unwrap();
        let n = stmt.column_count();
        let mut rows: Vec<String> = stmt
            .query_map([], |r| {
                let mut row = String::new();
                for i in 0..n {
                    let cell = match r.get_ref(i)? {
                        ValueRef::Null => "NULL".to_owned(),
                        ValueRef::Integer(v) => v.to_string(),
                        ValueRef::Real(v) => v.to_string(),
                        ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                        ValueRef::Blob(b) => hex::encode(b),
                    };
                    row.push_str(&cell);
                    row.push('|');
                }
                Ok(row)
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        rows.sort();
        out.insert(table, rows);
    }
    out
}

// ----------------------------------------------------------- submissions --

/// What abi-pack computes for `sessions` (a count) and `plan`.
fn daily_block(sessions: i64, plan: bool) -> MethodBlock {
    let mut block = MethodBlock {
        method_id: "daily".into(),
        ..MethodBlock::default()
    };
    block
        .evidence
        .insert("sessions".into(), Some(sessions * 100));
    block
        .evidence
        .insert("plan".into(), Some(if plan { 100 } else { 0 }));
    let deduction = if sessions < 2 { 200 } else { 0 };
    block.scores.insert("L1".into(), 400 - deduction);
    block.scores.insert("L2".into(), if plan { 300 } else { 0 });
    if deduction > 0 {
        block.clauses.insert(
            "L1a".into(),
            FiredClause {
                amount: deduction,
                reason: "专题学习少于2次，扣2分".into(),
            },
        );
    }
    block
}

fn submission(key: &SigningKeyPair, pack: &PackIdentity, unit: &str, sequence: u64) -> Submission {
    Submission {
        pack: pack.clone(),
        unit_id: unit.into(),
        year: pack.year,
        round: Round::Annual,
        node_id: key.key_id(),
        sequence,
        created_at: 1_669_881_600,
        methods: vec![daily_block(3, true)],
    }
}

fn signed(s: &Submission, key: &SigningKeyPair) -> pb::Envelope {
    s.to_envelope(key).into()
}

fn envelope_digest(e: &pb::Envelope) -> Digest {
    Digest::of_pae(&e.payload_type, &e.payload)
}

async fn accept(running: &Running, envelope: pb::Envelope) -> Receipt {
    let wire = running
        .client()
        .await
        .submit(envelope)
        .await
        .expect("accepted")
        .into_inner();
    Receipt::try_from(wire).expect("a well-formed receipt")
}

// ----------------------------------------------------------------- tests --

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
async fn a_forged_signature_is_refused_unauthenticated() {
    let setup = setup();
    let pack = setup.pack.clone();
    let running = start(setup).await;
    let a = node_key(1);
    accept(&running, signed(&submission(&a, &pack, "t2", 1), &a)).await;
    let mut envelope = signed(&submission(&a, &pack, "t1", 2), &a);
    envelope.signatures[0].sig[10] ^= 0x01;
    running
        .refused(
            envelope,
            Code::Unauthenticated,
            RejectionCode::BadSignature,
            &["签名无效"],
        )
        .await;
    // A signature over other bytes: the payload changed after signing.
    let mut envelope = signed(&submission(&a, &pack, "t1", 3), &a);
    let last = envelope.payload.len() - 1;
    envelope.payload[last] ^= 0x01;
    running
        .refused(
            envelope,
            Code::Unauthenticated,
            RejectionCode::BadSignature,
            &[a.key_id().as_str()],
        )
        .await;
    // A signature that does not verify proves nothing about its sender:
    // `kaohe hub progress` counts these apart, not against node A.
    let conn = running.conn();
    assert_eq!(progress::unidentified_refusals(&conn).unwrap(), 2);
    let report = progress::report(&conn, 2022).unwrap();
    let a_progress = report.iter().find(|p| p.node.key_id == a.key_id()).unwrap();
    assert_eq!(a_progress.rejected_total(), 0);
    assert_eq!((a_progress.reported, a_progress.expected), (1, 2));
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_key_is_refused_unauthenticated() {
    let setup = setup();
    let pack = setup.pack.clone();
    let running = start(setup).await;
    let stranger = node_key(77);
    let envelope = signed(&submission(&stranger, &pack, "t1", 1), &stranger);
    running
        .refused(
            envelope,
            Code::Unauthenticated,
            RejectionCode::UnknownKey,
            &[stranger.key_id().as_str(), "kaohe hub node add"],
        )
        .await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_revoked_while_the_hub_runs_is_refused_with_the_reason() {
    let setup = setup();
    let pack = setup.pack.clone();
    let running = start(setup).await;
    let b = node_key(2);
    accept(&running, signed(&submission(&b, &pack, "t1", 1), &b)).await;
    // The CLI revokes B through its own connection while the hub serves.
    nodes::revoke_node(
        &mut running.conn(),
        "乙节点",
        "密钥遗失",
        &actor("2022-12-01T09:00:00Z"),
    )
    .unwrap();
    let envelope = signed(&submission(&b, &pack, "t2", 2), &b);
    running
        .refused(
            envelope,
            Code::Unauthenticated,
            RejectionCode::UnknownKey,
            &["乙节点", "吊销", "密钥遗失"],
        )
        .await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_payload_is_refused_invalid_argument() {
    let setup = setup();
    let running = start(setup).await;
    let a = node_key(1);
    // Correctly signed, but not a protobuf submission.
    let envelope: pb::Envelope =
        Envelope::sign(SUBMISSION_PAYLOAD_TYPE, vec![0xff; 40], &[&a]).into();
    running
        .refused(
            envelope,
            Code::InvalidArgument,
            RejectionCode::Invalid,
            &["无法解码"],
        )
        .await;
    // Decodes, but a field is invalid: the round is missing.
    let mut s = submission(&a, &running.setup.pack, "t1", 1);
    let mut wire = pb::Submission::from(&s);
    wire.round = 0;
    s.sequence = 1;
    let envelope: pb::Envelope = Envelope::sign(
        SUBMISSION_PAYLOAD_TYPE,
        prost::Message::encode_to_vec(&wire),
        &[&a],
    )
    .into();
    let r = running
        .refused(
            envelope,
            Code::InvalidArgument,
            RejectionCode::Invalid,
            &["round"],
        )
        .await;
    assert_eq!(r.field.as_deref(), Some("submission.round"));
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_id_other_than_the_signer_is_refused_permission_denied() {
    let setup = setup();
    let pack = setup.pack.clone();
    let running = start(setup).await;
    let (a, c) = (node_key(1), node_key(3));
    // Node A signs a submission that claims to come from node C.
    let mut s = submission(&a, &pack, "t1", 1);
    s.node_id = c.key_id();
    let envelope: pb::Envelope = Envelope::sign(SUBMISSION_PAYLOAD_TYPE, s.encode(), &[&a]).into();
    let r = running
        .refused(
            envelope,
            Code::PermissionDenied,
            RejectionCode::IdentityMismatch,
            &[c.key_id().as_str(), a.key_id().as_str()],
        )
        .await;
    assert_eq!(r.field.as_deref(), Some("submission.node_id"));
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_superseded_pack_version_is_refused_naming_the_current_one() {
    let setup = setup();
    let v1 = setup.pack.clone();
    let running = start(setup).await;
    let a = node_key(1);
    accept(&running, signed(&submission(&a, &v1, "t1", 1), &a)).await;
    // Version 2 is published while the hub serves.
    let v2 = publish_pack(&running.setup.dir, 2022, 2);
    assert_eq!(
        running.count("SELECT needs_reevaluation FROM results WHERE pack_version = 1"),
        1,
        "results under the superseded version are flagged for re-evaluation"
    );
    let envelope = signed(&submission(&a, &v1, "t2", 2), &a);
    let r = running
        .refused(
            envelope,
            Code::FailedPrecondition,
            RejectionCode::PackMismatch,
            &["第 1 版", "第 2 版", "t2"],
        )
        .await;
    assert_eq!(r.field.as_deref(), Some("submission.pack.version"));
    // Under the current version the same report is accepted.
    accept(&running, signed(&submission(&a, &v2, "t2", 3), &a)).await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unit_outside_the_nodes_scope_is_refused_permission_denied() {
    let setup = setup();
    let pack = setup.pack.clone();
    let running = start(setup).await;
    let a = node_key(1);
    // d1 is a department: node A may only report townships.
    let envelope = signed(&submission(&a, &pack, "d1", 1), &a);
    let r = running
        .refused(
            envelope,
            Code::PermissionDenied,
            RejectionCode::OutOfScope,
            &["d1", "县司法局", "甲节点"],
        )
        .await;
    assert_eq!(r.field.as_deref(), Some("submission.unit_id"));
    // A unit that is in no roster of that year.
    let envelope = signed(&submission(&a, &pack, "t9", 2), &a);
    running
        .refused(
            envelope,
            Code::PermissionDenied,
            RejectionCode::OutOfScope,
            &["t9", "名册"],
        )
        .await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_method_outside_the_nodes_scope_is_refused_permission_denied() {
    let setup = setup();
    let pack = setup.pack.clone();
    let running = start(setup).await;
    let a = node_key(1);
    let mut s = submission(&a, &pack, "t1", 1);
    s.methods[0].method_id = "field_inspection".into();
    let r = running
        .refused(
            signed(&s, &a),
            Code::PermissionDenied,
            RejectionCode::OutOfScope,
            &["实地考察"],
        )
        .await;
    assert_eq!(r.field.as_deref(), Some("submission.methods[0].method_id"));
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_year_outside_the_nodes_scope_is_refused_permission_denied() {
    let setup = setup();
    let pack_2023 = setup.pack_2023.clone();
    let running = start(setup).await;
    // Node A is delegated 2022 only; 2023 has a current pack and roster.
    let a = node_key(1);
    let r = running
        .refused(
            signed(&submission(&a, &pack_2023, "t1", 1), &a),
            Code::PermissionDenied,
            RejectionCode::OutOfScope,
            &["2023"],
        )
        .await;
    assert_eq!(r.field.as_deref(), Some("submission.year"));
    // Node C is delegated 2023: the same report from C is accepted.
    let c = node_key(3);
    accept(&running, signed(&submission(&c, &pack_2023, "t1", 1), &c)).await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_score_one_hundredth_off_is_refused_naming_the_unit_and_indicator() {
    let setup = setup();
    let pack = setup.pack.clone();
    let running = start(setup).await;
    let a = node_key(1);
    let mut s = submission(&a, &pack, "t1", 1);
    *s.methods[0].scores.get_mut("L2").unwrap() = 299;
    let r = running
        .refused(
            signed(&s, &a),
            Code::InvalidArgument,
            RejectionCode::ReplayMismatch,
            &["t1", "肖旗乡", "L2", "2.99", "3.00", "0.01"],
        )
        .await;
    assert_eq!(r.field.as_deref(), Some("submission.methods[0].scores[L2]"));
    // A clause the replay does not fire, with the scores otherwise right.
    let mut s = submission(&a, &pack, "t1", 2);
    s.methods[0].clauses.insert(
        "L1a".into(),
        FiredClause {
            amount: 200,
            reason: "虚报".into(),
        },
    );
    running
        .refused(
            signed(&s, &a),
            Code::InvalidArgument,
            RejectionCode::ReplayMismatch,
            &["L1a"],
        )
        .await;
    // Evidence the pack refuses: a required field missing.
    let mut s = submission(&a, &pack, "t1", 3);
    s.methods[0].evidence.insert("plan".into(), None);
    running
        .refused(
            signed(&s, &a),
            Code::InvalidArgument,
            RejectionCode::Invalid,
            &["plan"],
        )
        .await;
    // `kaohe hub progress` shows the refusals against node A, with reasons.
    let report = progress::report(&running.conn(), 2022).unwrap();
    let a_progress = report.iter().find(|p| p.node.key_id == a.key_id()).unwrap();
    assert_eq!(a_progress.rejected_total(), 3);
    assert_eq!(
        a_progress.rejected[0].code,
        "REJECTION_CODE_REPLAY_MISMATCH"
    );
    assert_eq!(a_progress.rejected[0].count, 2);
    assert!(a_progress.rejected[0].latest_message.contains("L1a"));
    assert!(a_progress.last_seen.is_some());
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
async fn an_older_sequence_after_a_newer_one_is_refused_as_stale() {
    let setup = setup();
    let pack = setup.pack.clone();
    let running = start(setup).await;
    let a = node_key(1);
    let mut newer = submission(&a, &pack, "t1", 5);
    newer.methods = vec![daily_block(5, false)];
    accept(&running, signed(&newer, &a)).await;
    let older = submission(&a, &pack, "t1", 3);
    let r = running
        .refused(
            signed(&older, &a),
            Code::FailedPrecondition,
            RejectionCode::Stale,
            &["t1", "序号 5", "序号 3"],
        )
        .await;
    assert_eq!(r.field.as_deref(), Some("submission.methods[0]"));
    // The same sequence number with other content.
    let mut reused = submission(&a, &pack, "t2", 5);
    reused.methods = vec![daily_block(4, true)];
    running
        .refused(
            signed(&reused, &a),
            Code::AlreadyExists,
            RejectionCode::SequenceReused,
            &["序号 5"],
        )
        .await;
    // A newer one supersedes: history kept, one current.
    accept(&running, signed(&submission(&a, &pack, "t1", 7), &a)).await;
    let conn = running.conn();
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
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversize_message_is_refused_out_of_range_and_an_oversize_payload_too_large() {
    let setup = setup();
    let running = start(setup).await;
    let a = node_key(1);
    let before = running.dump();
    let big: pb::Envelope = Envelope::sign(
        SUBMISSION_PAYLOAD_TYPE,
        vec![7; model::MAX_ENVELOPE_MESSAGE_BYTES + 1],
        &[&a],
    )
    .into();
    let status = running.client().await.submit(big).await.unwrap_err();
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert_eq!(running.dump(), before);
    // Inside the message limit but over the payload cap: refused by the hub.
    let payload = vec![7; kaohe_proto::envelope::DEFAULT_MAX_PAYLOAD_BYTES + 1];
    let envelope: pb::Envelope = Envelope::sign(SUBMISSION_PAYLOAD_TYPE, payload, &[&a]).into();
    running
        .refused(
            envelope,
            Code::InvalidArgument,
            RejectionCode::TooLarge,
            &["超过上限"],
        )
        .await;
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
    let a_progress = report.iter().find(|p| p.node.key_id == a.key_id()).unwrap();
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

/// The hub time a response or an error status states.
fn hub_time(metadata: &tonic::metadata::MetadataMap) -> i64 {
    metadata
        .get(call_auth::HUB_TIME_METADATA_KEY)
        .expect("kaohe-hub-time sent")
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// A hub on an injected clock six hours behind the OS states that clock on
/// every answer and every error, so a node signs with it and is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_and_error_carries_the_hubs_injected_time() {
    let hub_now = Timestamp::now()
        .checked_sub(jiff::SignedDuration::from_hours(6))
        .unwrap();
    let hub_now = Timestamp::from_second(hub_now.as_second()).unwrap();
    let running = start_with(setup(), |o| o.clock = Clock::Fixed(hub_now)).await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", running.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    // An answer of an unsigned call.
    let mut packs = PackServiceClient::new(channel.clone());
    let answer = packs
        .list_packs(pb::ListPacksRequest::default())
        .await
        .unwrap();
    assert_eq!(hub_time(answer.metadata()), hub_now.as_second());
    // A signed call with the OS clock: refused as skewed, stating the hub's time.
    let c = node_key(3);
    let mut units = UnitServiceClient::new(channel.clone());
    let list = |time: i64| {
        let mut request = tonic::Request::new(pb::ListMyUnitsRequest::default());
        call_auth::sign_call(&mut request, &c, paths::LIST_MY_UNITS, time);
        request
    };
    let status = units
        .list_my_units(list(Timestamp::now().as_second()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    let told = hub_time(status.metadata());
    assert_eq!(told, hub_now.as_second());
    // Signed with the time the hub stated: accepted.
    let answer = units.list_my_units(list(told)).await.unwrap();
    assert_eq!(hub_time(answer.metadata()), hub_now.as_second());
    assert!(!answer.into_inner().units.is_empty());
    // A refused submission's status too.
    let mut submissions = SubmissionServiceClient::new(channel);
    let stranger = node_key(77);
    let status = submissions
        .submit(signed(
            &submission(&stranger, &running.setup.pack, "t1", 1),
            &stranger,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert_eq!(hub_time(status.metadata()), hub_now.as_second());
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_my_units_and_packs_serve_the_calling_node() {
    let setup = setup();
    let running = start(setup).await;
    let c = node_key(3);
    let mut units = UnitServiceClient::connect(format!("http://{}", running.addr))
        .await
        .unwrap();
    let mut request = tonic::Request::new(pb::ListMyUnitsRequest { year: 2022 });
    call_auth::sign_call(&mut request, &c, paths::LIST_MY_UNITS, running.now());
    let mine =
        ListMyUnitsResponse::try_from(units.list_my_units(request).await.unwrap().into_inner())
            .unwrap();
    assert_eq!(mine.node_id, c.key_id());
    let ids: Vec<&str> = mine.units.iter().map(|u| u.unit_id.as_str()).collect();
    assert_eq!(ids, vec!["t1", "t2"], "townships only, not the department");
    assert!(mine.covers("t1", "daily", 2022));
    assert!(!mine.covers("d1", "daily", 2022));
    let status = units
        .list_my_units(tonic::Request::new(pb::ListMyUnitsRequest { year: 2022 }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);

    let mut packs = PackServiceClient::connect(format!("http://{}", running.addr))
        .await
        .unwrap()
        .max_decoding_message_size(model::MAX_FETCH_PACK_MESSAGE_BYTES);
    let list = ListPacksResponse::try_from(
        packs
            .list_packs(pb::ListPacksRequest { year: 2022 })
            .await
            .unwrap()
            .into_inner(),
    )
    .unwrap();
    assert_eq!(list.packs.len(), 1);
    assert!(list.packs[0].current);
    let fetched = FetchedPack::try_from(
        packs
            .fetch_pack(pb::FetchPackRequest {
                id: PACK_ID.into(),
                year: 2022,
                version: 0,
            })
            .await
            .unwrap()
            .into_inner(),
    )
    .unwrap();
    assert_eq!(fetched.identity, running.setup.pack);
    // The node can verify what it fetched against the pinned authority.
    let policy = TrustPolicy::new(vec![authority().public()], 1).unwrap();
    sign::verify_pack(
        &fetched.module,
        &fetched.signature,
        &policy,
        &Expectation::default(),
    )
    .unwrap();
    let status = packs
        .fetch_pack(pb::FetchPackRequest {
            id: PACK_ID.into(),
            year: 2022,
            version: 9,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
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

#[test]
fn publishing_refuses_a_pack_the_authorities_did_not_sign_enough() {
    let setup = setup();
    let module = abi_pack(2022, 2);
    let runtime = Runtime::new(small_runtime()).unwrap();
    let mut conn = db::open_existing(&setup.dir).unwrap();
    let before = dump(&conn);
    // Signed by a key the hub does not pin.
    let envelope = sign::sign_pack(&module, 1, &[&node_key(50)]).unwrap();
    let policy = TrustPolicy::new(vec![authority().public()], 1).unwrap();
    let err = publish::publish_signed(
        &mut conn,
        &runtime,
        &policy,
        &module,
        &envelope.to_protobuf(),
        &actor(START),
    )
    .unwrap_err();
    assert!(matches!(err, publish::PublishError::Trust(_)), "{err}");
    // Two of two required, one given.
    let second = node_key(51);
    let policy = TrustPolicy::new(vec![authority().public(), second.public()], 2).unwrap();
    let envelope = sign::sign_pack(&module, 1, &[&authority()]).unwrap();
    let err = publish::publish_signed(
        &mut conn,
        &runtime,
        &policy,
        &module,
        &envelope.to_protobuf(),
        &actor(START),
    )
    .unwrap_err();
    assert!(err.to_string().contains("少于要求"), "{err}");
    assert_eq!(dump(&conn), before, "nothing published");
}

// ------------------------------------------- results and the workflow --
//
// Accepted results come in through the ingestion library entry (the
// single writer, `Committer`) with real signed submissions and the real
// pack; the workflow then runs on the same database.
mod workflow {
    use super::*;
    use kaohe_hub::calendar::Calendar;
    use kaohe_hub::ingest::{Candidate, Committer};
    use kaohe_hub::results;
    use kaohe_hub::workflow::{self as wf, Decision, Material, WorkflowError};

    /// Before the feedback notices of these tests.
    const BEFORE_NOTICE: &str = "2022-09-20T00:00:00Z";

    /// Commits `envelope` with the hub clock at `at`; it must be accepted.
    fn ingest(dir: &Path, at: &str, envelope: pb::Envelope) {
        let conn = db::open_existing(dir).unwrap();
        let key = config::load_receipt_key(dir).unwrap();
        let runtime = Runtime::new(small_runtime()).unwrap();
        let mut committer =
            Committer::new(conn, runtime, key, Clock::Fixed(at.parse().unwrap())).unwrap();
        let candidate = Candidate::verify(0, envelope, &committer.nodes(), None);
        let outcomes = committer.commit(vec![candidate]).unwrap();
        assert!(outcomes[0].result.is_ok(), "{:?}", outcomes[0].result);
    }

    fn with_sessions(
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
    fn two_townships_reported() -> (Setup, SigningKeyPair) {
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
        let data =
            results::load_year(&conn, &Runtime::new(small_runtime()).unwrap(), 2022).unwrap();
        let c = data.consolidate().unwrap();
        (data, c)
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

        let o = data.outcomes(&c);
        let meta = results::NoticeMeta {
            county: "宝丰县".into(),
            scheme_name: "法治宝丰（法治政府）建设".into(),
            issuer: "县法治办".into(),
            doc_number: "宝法治办〔2023〕1号".into(),
            published_on: "2023年3月1日".into(),
            recipients: String::new(),
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
        let err = wf::approve(&mut conn, &c, "宝法治办〔2022〕9号", &at("2022-10-11")).unwrap_err();
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
        let (_, c) = consolidated(&s.dir);
        let err = wf::approve(&mut conn, &c, "宝法治办〔2022〕9号", &at("2022-10-20")).unwrap_err();
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
        wf::approve(&mut conn, &c, "宝法治办〔2022〕9号", &at("2022-10-21")).unwrap();
        let err =
            wf::approve(&mut conn, &c, "宝法治办〔2022〕10号", &at("2022-10-21")).unwrap_err();
        assert!(
            matches!(err, WorkflowError::AlreadyApproved { .. }),
            "{err}"
        );

        // After approval a review decision needs a recorded reason.
        wf::object(
            &mut conn,
            &cal,
            data.manifest(),
            2022,
            "t1",
            "名次有误",
            &[],
            &at("2022-10-24"),
        )
        .unwrap();
        let err = wf::decide(
            &mut conn,
            2022,
            "t1",
            Decision::Upheld,
            None,
            &at("2022-10-24"),
        )
        .unwrap_err();
        assert!(
            matches!(err, WorkflowError::ReasonAfterApproval { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("宝法治办〔2022〕9号"), "{err}");
        wf::decide(
            &mut conn,
            2022,
            "t1",
            Decision::Upheld,
            Some("经核查名次无误"),
            &at("2022-10-24"),
        )
        .unwrap();

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
                "review.object",
                "review.decide",
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
        let err =
            import_history_file(&mut conn, &bad, data.manifest(), &at("2022-09-01")).unwrap_err();
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
            &[],
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
        let (_, c) = consolidated(&s.dir);
        wf::approve(&mut conn, &c, "宝法治办〔2022〕9号", &at("2022-09-21")).unwrap();
        // t1 was never notified: the approval alone closes the year.
        refused_closed(
            &s.dir,
            "2022-09-22T02:00:00Z",
            with_sessions(&a, &s.pack, "t1", 3, 2),
            &["t1", "2022年9月21日", "宝法治办〔2022〕9号"],
        );
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
            &[],
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
        let summary =
            units::replace_year(&mut conn, 2022, &kept, &source, &at("2022-10-11")).unwrap();
        assert_eq!(summary.removed, vec!["t4".to_string(), "v4".to_string()]);
        assert_eq!(units::load_roster(&conn, 2022).unwrap().len(), 5);
    }
}

// ------------------------------------------------------ ResultService --
//
// A node reads its units' results and files objections over gRPC, with
// the same deadline rules as the CLI (`workflow::object`).
mod result_service {
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
        let data =
            results::load_year(&conn, &Runtime::new(small_runtime()).unwrap(), 2022).unwrap();
        let c = data.consolidate().unwrap();
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
        let parts =
            Objection::new(header("t2", "第二次专题学习有记录"), material.clone()).into_parts();
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
}

// ------------------------------------------------------------------ mTLS --

/// A CA, a server certificate for `localhost`, and per node a client
/// certificate naming `<key id>.node.kaohe`; PEM files in `dir`.
struct Pki {
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    ca_pem: String,
}

fn write_pki(dir: &Path, nodes: &[&SigningKeyPair]) -> Pki {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa,
        KeyPair, KeyUsagePurpose,
    };
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf = |name: String, usage: ExtendedKeyUsagePurpose, stem: &str| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec![name]).unwrap();
        params.extended_key_usages = vec![usage];
        let cert = params.signed_by(&key, &ca).unwrap();
        std::fs::write(dir.join(format!("{stem}.pem")), cert.pem()).unwrap();
        std::fs::write(dir.join(format!("{stem}.key")), key.serialize_pem()).unwrap();
    };
    leaf(
        "localhost".into(),
        ExtendedKeyUsagePurpose::ServerAuth,
        "server",
    );
    for node in nodes {
        leaf(
            format!("{}.{}", node.key_id(), kaohe_hub::server::NODE_CERT_DOMAIN),
            ExtendedKeyUsagePurpose::ClientAuth,
            node.key_id().as_str(),
        );
    }
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    Pki {
        ca: dir.join("ca.pem"),
        server_cert: dir.join("server.pem"),
        server_key: dir.join("server.key"),
        ca_pem: ca.pem(),
    }
}

/// A TLS channel to the hub, presenting `node`'s client certificate (or none).
async fn tls_channel(
    running: &Running,
    pki: &Pki,
    dir: &Path,
    node: Option<&SigningKeyPair>,
) -> Result<tonic::transport::Channel, tonic::transport::Error> {
    use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&pki.ca_pem))
        .domain_name("localhost");
    if let Some(node) = node {
        let stem = node.key_id();
        tls = tls.identity(Identity::from_pem(
            std::fs::read(dir.join(format!("{stem}.pem"))).unwrap(),
            std::fs::read(dir.join(format!("{stem}.key"))).unwrap(),
        ));
    }
    Endpoint::from_shared(format!("https://127.0.0.1:{}", running.addr.port()))
        .unwrap()
        .tls_config(tls)?
        .connect()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_mtls_the_client_certificate_must_name_the_signing_node() {
    let setup = setup();
    let pack = setup.pack.clone();
    let pki_dir = setup.dir.join("pki");
    std::fs::create_dir_all(&pki_dir).unwrap();
    let (a, c) = (node_key(1), node_key(3));
    let pki = write_pki(&pki_dir, &[&a, &c]);
    let files = kaohe_hub::server::TlsFiles {
        cert: pki.server_cert.clone(),
        key: pki.server_key.clone(),
        client_ca: Some(pki.ca.clone()),
        client_crl: None,
    };
    let running = start_with(setup, move |o| o.tls = Some(files)).await;

    // Node A over its own certificate: accepted.
    let channel = tls_channel(&running, &pki, &pki_dir, Some(&a))
        .await
        .unwrap();
    let mut client = SubmissionServiceClient::new(channel.clone());
    let receipt = client
        .submit(signed(&submission(&a, &pack, "t1", 1), &a))
        .await
        .expect("accepted over mTLS")
        .into_inner();
    Receipt::try_from(receipt)
        .unwrap()
        .verify(&running.hub_key)
        .unwrap();

    // Node C's envelope sent over node A's connection: refused, nothing stored.
    let before = running.dump();
    let status = client
        .submit(signed(&submission(&c, &pack, "t2", 1), &c))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let r = Rejection::from_status(&status).unwrap();
    assert_eq!(r.code, RejectionCode::IdentityMismatch);
    assert!(r.message.contains("客户端证书"), "{}", r.message);
    assert_eq!(running.dump(), before);

    // A signed call by C over A's certificate: refused.
    let mut units = UnitServiceClient::new(channel);
    let mut request = tonic::Request::new(pb::ListMyUnitsRequest { year: 2022 });
    call_auth::sign_call(&mut request, &c, paths::LIST_MY_UNITS, running.now());
    assert_eq!(
        units.list_my_units(request).await.unwrap_err().code(),
        Code::PermissionDenied
    );

    // No client certificate: the hub does not serve the connection.
    let refused = match tls_channel(&running, &pki, &pki_dir, None).await {
        Err(_) => true,
        Ok(channel) => SubmissionServiceClient::new(channel)
            .submit(signed(&submission(&a, &pack, "t2", 2), &a))
            .await
            .is_err(),
    };
    assert!(
        refused,
        "a connection without a client certificate must not be served"
    );
    assert_eq!(running.dump(), before);
    running.stop().await;
}

// ------------------------------------------------------ backup, restore --

mod backup {
    use super::*;
    use kaohe_hub::backup::{self as bk, BackupError};

    /// The audit log (seq, operator, action, subject), in order.
    fn audit_rows(conn: &Connection) -> Vec<(i64, String, String, String)> {
        conn.prepare("SELECT seq, operator, action, subject FROM audit_log ORDER BY seq")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn file_len(path: &Path) -> u64 {
        std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
    }

    /// Names in `dir` (to see that nothing, not even a temporary file, is left).
    fn names(dir: &Path) -> Vec<String> {
        let mut out: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        out.sort();
        out
    }

    #[test]
    fn a_backup_taken_while_data_sits_in_the_wal_restores_to_identical_tables() {
        let s = setup();
        // A second connection (as the server would hold) writes a revocation
        // and keeps it in the WAL: no checkpoint while it stays open.
        let mut writer = db::open_existing(&s.dir).unwrap();
        writer
            .execute_batch("PRAGMA wal_autocheckpoint = 0")
            .unwrap();
        nodes::revoke_node(
            &mut writer,
            "乙节点",
            "密钥遗失",
            &actor("2022-06-01T00:00:00Z"),
        )
        .unwrap();
        assert!(
            file_len(&s.dir.join("hub.db-wal")) > 0,
            "the revocation should still be in the WAL"
        );
        let live_tables = dump(&writer);
        let live_audit = audit_rows(&writer);
        assert!(live_audit.iter().any(|r| r.2 == "node.revoke"));

        let out_dir = tempfile::tempdir().unwrap();
        let out = out_dir.path().join("hub-2022.db");
        let report = bk::backup(&s.dir, &out, &actor("2022-06-02T00:00:00Z")).unwrap();
        assert_eq!(report.bytes, file_len(&out));
        assert_eq!(report.schema_version, db::SCHEMA_VERSION);
        assert_eq!(names(out_dir.path()), vec!["hub-2022.db".to_string()]);

        // The backup is recorded in the live audit log (after the copy).
        let after = audit_rows(&writer);
        assert_eq!(after.len(), live_audit.len() + 1);
        assert_eq!(after.last().unwrap().2, bk::ACTION_BACKUP);

        // Never overwrites: the same name again is refused, the file untouched.
        let bytes = std::fs::read(&out).unwrap();
        let err = bk::backup(&s.dir, &out, &actor("2022-06-02T00:00:00Z")).unwrap_err();
        assert!(matches!(err, BackupError::Exists { .. }), "{err}");
        assert!(std::fs::read(&out).unwrap() == bytes);
        assert_eq!(names(out_dir.path()), vec!["hub-2022.db".to_string()]);

        // Restore into a fresh data directory: identical tables, the audit log
        // as it was at the copy plus the restore record.
        let fresh = out_dir.path().join("restored");
        bk::restore(&fresh, &out, &actor("2022-06-03T00:00:00Z")).unwrap();
        assert_eq!(names(&fresh), vec!["hub.db".to_string()]);
        let restored = db::open_existing(&fresh).unwrap();
        db::integrity_check(&restored).unwrap();
        assert_eq!(dump(&restored), live_tables);
        let restored_audit = audit_rows(&restored);
        assert_eq!(restored_audit[..live_audit.len()], live_audit[..]);
        assert_eq!(restored_audit.len(), live_audit.len() + 1);
        assert_eq!(restored_audit.last().unwrap().1, "测试员");
        assert_eq!(restored_audit.last().unwrap().2, bk::ACTION_RESTORE);
        let revoked: Option<String> = restored
            .query_row(
                "SELECT revoked_at FROM nodes WHERE name = '乙节点'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(
            revoked.is_some(),
            "the WAL-only revocation is in the backup"
        );
        drop(restored);

        // A data directory that has a database is never overwritten, and the
        // live hub's directory least of all.
        let live_before = std::fs::read(s.dir.join("hub.db")).unwrap();
        for dir in [&fresh, &s.dir] {
            let err = bk::restore(dir, &out, &actor("2022-06-03T00:00:00Z")).unwrap_err();
            assert!(matches!(err, BackupError::LiveDatabase { .. }), "{err}");
        }
        assert!(std::fs::read(s.dir.join("hub.db")).unwrap() == live_before);
        drop(writer);
    }

    #[test]
    fn a_corrupted_or_newer_backup_is_refused_and_leaves_nothing_behind() {
        let s = setup();
        let tmp = tempfile::tempdir().unwrap();
        let good = tmp.path().join("good.db");
        bk::backup(&s.dir, &good, &actor("2022-06-02T00:00:00Z")).unwrap();

        // Garbage over pages 2–5 (page 1, the header, intact).
        let mut bytes = std::fs::read(&good).unwrap();
        let page = 4096;
        assert!(bytes.len() > 6 * page, "backup unexpectedly small");
        for b in &mut bytes[page..5 * page] {
            *b = 0x5a;
        }
        let corrupt = tmp.path().join("corrupt.db");
        std::fs::write(&corrupt, &bytes).unwrap();
        let target = tmp.path().join("restore-corrupt");
        let err = bk::restore(&target, &corrupt, &actor("2022-06-03T00:00:00Z")).unwrap_err();
        assert!(matches!(err, BackupError::Integrity { .. }), "{err:?}");
        assert!(
            names(&target).is_empty(),
            "left behind: {:?}",
            names(&target)
        );

        // Not a database at all.
        let junk = tmp.path().join("junk.db");
        std::fs::write(&junk, b"not a database ".repeat(500)).unwrap();
        let err = bk::restore(&target, &junk, &actor("2022-06-03T00:00:00Z")).unwrap_err();
        assert!(matches!(err, BackupError::NotADatabase { .. }), "{err:?}");
        assert!(names(&target).is_empty());

        // Written by a newer kaohe: refused, not migrated or "repaired".
        let newer = tmp.path().join("newer.db");
        std::fs::copy(&good, &newer).unwrap();
        Connection::open(&newer)
            .unwrap()
            .pragma_update(None, "user_version", db::SCHEMA_VERSION + 1)
            .unwrap();
        let err = bk::restore(&target, &newer, &actor("2022-06-03T00:00:00Z")).unwrap_err();
        match err {
            BackupError::NewerSchema {
                found, supported, ..
            } => {
                assert_eq!(found, db::SCHEMA_VERSION + 1);
                assert_eq!(supported, db::SCHEMA_VERSION);
            }
            other => panic!("expected NewerSchema, got {other:?}"),
        }
        assert!(names(&target).is_empty());

        // The good one still restores there.
        bk::restore(&target, &good, &actor("2022-06-03T00:00:00Z")).unwrap();
        assert_eq!(names(&target), vec!["hub.db".to_string()]);
    }

    #[test]
    fn the_deploy_example_hub_toml_parses_with_the_real_parser() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/hub/hub.toml");
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(&example, dir.path().join(config::CONFIG_FILE)).unwrap();
        let parsed = config::HubConfig::load(dir.path()).unwrap();
        let policy = parsed.trust_policy(dir.path()).unwrap();
        assert_eq!(parsed.packs.authorities.len(), 3);
        assert_eq!(policy.threshold(), 2, "the example is 2 of 3");
    }
}
