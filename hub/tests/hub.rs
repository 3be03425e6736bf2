//! The hub end to end: real SQLite files, real Ed25519 signatures, a real
//! WebAssembly pack (the hand-written ABI pack with a full manifest) and a
//! real gRPC server on 127.0.0.1:0.
//!
//! Every refused submission is checked for the gRPC status, the rejection
//! code, that the message names what is wrong, that exactly one
//! `submission.reject` audit record was written, and that **nothing else
//! stored changed** (every table but the audit log dumped before and after).
//!
//! Layout: this file holds the county every test starts from ([`setup`]),
//! the served hub ([`Running`]), the submissions its nodes make, and the
//! node-facing reads (`ListMyUnits`, packs, the hub's time); then one
//! folder each:
//! - `submissions`: accepted, idempotent, late, streamed, receipts kept
//!   over a restart;
//! - `refusals`: one table of bad submissions and what the hub answers;
//! - `identity`: a key rotated mid-year, a unit the roster gives to
//!   another assessor;
//! - `wire`: raw frames that are not protobuf or too large, in a stream
//!   and alone; an unregistered key's signed call;
//! - `deadlines`: streams that stall;
//! - `certs`: mTLS, client certificates and their revocation list (the
//!   certificates from `pki`, the hub tests' one test CA);
//! - `workflow`, `result_service`: results, objections, review, approval;
//! - `backup`: online backup and restore;
//! - `self_test`: publishing runs the pack's own self-test first (issue
//!   #13 §3);
//! - `console`: the web console's router without a socket — every page
//!   for every role, each action allowed or refused (403, nothing written),
//!   CSRF, session expiry, login throttling, a refused roster upload;
//! - `support`: the ABI pack with a full manifest (shared with the bench).

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

mod backup;
mod certs;
mod console;
mod deadlines;
mod identity;
mod pki;
mod refusals;
mod result_service;
mod self_test;
mod submissions;
mod support;
mod wire;
mod workflow;

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
        principal: None,
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
                assessor_unit: None,
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

    /// Every table but the audit log, row by row — once the writer has
    /// stored the signed heads of the batches it answered: it writes them
    /// when idle, so a client holding its receipt (TCP_NODELAY: at once)
    /// could otherwise see the head of an earlier batch land between two
    /// dumps and take it for a change of its own call.
    fn dump(&self) -> BTreeMap<String, Vec<String>> {
        let conn = self.conn();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let pending: i64 = conn
                .query_row(
                    "SELECT count(*) FROM receipt_batches WHERE signed_head IS NULL",
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            if pending == 0 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the writer never stored the signed heads of its batches"
            );
            std::thread::yield_now();
        }
        dump(&conn)
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

// ------------------------------------------------------- a node's reads --

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
