//! Ingestion throughput, measured beside its raw costs in the same run.
//!
//! `cargo bench -p kaohe-hub --bench ingest` (or `cargo test --release
//! -p kaohe-hub --bench ingest`); `KAOHE_BENCH_N` sets the number of
//! envelopes (default 20 000). Prints only; asserts nothing.
//!
//! - **ingest**: signed envelopes pushed through the real gRPC server
//!   (`SubmitStream` on 127.0.0.1, client in the same process) into SQLite
//!   (WAL, `synchronous = FULL`): accepted envelopes per second, from the
//!   first envelope sent to the last receipt received;
//! - **raw strict verify**: `verify_strict` over the PAE bytes, one thread
//!   and one thread per core;
//! - **raw pack evaluation**: `kaohe_evaluate` on batches of 512 units
//!   (fresh instance per batch), and the whole replay stage (mapping,
//!   evaluation, comparison);
//! - **raw inserts**: the rows ingestion writes (a submission, and per
//!   method one result carrying its scores and clauses as JSON) with
//!   ingestion's own statements ([`ingest::store::insert_submissions`]), in
//!   transactions of 512, sorted, fsync'd — the envelope and JSON columns
//!   encoded beforehand, as the verify workers do ([`ingest::store::Encoded`]);
//! - **log**: what the single writer does for the year's transparency log
//!   ([`tlog::Appender`]): a leaf per submission, one signed checkpoint per
//!   batch of 512 and each leaf's inclusion proof under it, fsync'd; the
//!   `ratio log/ingest` line is the log's share of one submission's
//!   ingest time (ingest rate ÷ log rate), measured in the same run;
//! - **unary latency**: one `Submit` at a time on the idle hub after the
//!   stream, beside a raw fsync'd one-row commit.
//!
//! The last lines are `ratio NAME VALUE`: ingest against raw strict
//! verification on all cores (aim ≥ 0.75) and on one, and a unary submit
//! against the commit it waits for.

use std::time::Instant;

/// The `kaohe` binary's allocator, so the hub runs here as there.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use kaohe_hub::clock::Clock;
use kaohe_hub::ingest::{self, ActivePack, NodeDirectory, replay};
use kaohe_hub::server::{Hub, ServeOptions};
use kaohe_hub::{config, db, tlog};
use kaohe_proto::model::ReceiptChunk;
use kaohe_proto::pb::submission_service_client::SubmissionServiceClient;
use kaohe_proto::submission::FiredClause;
use kaohe_proto::{Envelope, SigningKeyPair, pb};
use kaohe_rulepacks::abi;
use kaohe_rulepacks::runtime::{Runtime, RuntimeConfig};
use tokio_stream::StreamExt as _;

#[path = "../tests/support/mod.rs"]
#[allow(dead_code, reason = "shared with the tests, which use all of it")]
mod support;

mod county;
use county::{prepare, submission};

const BATCH: usize = 512;
/// Unary submits timed after the stream.
const UNARY: usize = 50;

fn main() {
    let n: usize = std::env::var("KAOHE_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let ifma = std::fs::read_to_string("/proc/cpuinfo")
        .map(|c| c.contains("avx512ifma"))
        .unwrap_or(false);
    println!("kaohe-hub ingest benchmark: {n} envelopes, {cores} cores, CPU avx512ifma: {ifma}");

    let node = SigningKeyPair::from_seed(&[1; 32]);
    let tmp = tempfile::tempdir().expect("tempdir");
    let ingest_dir = tmp.path().join("ingest");
    let insert_dir = tmp.path().join("insert");
    // UNARY more units: the unary submits after the stream.
    let pack = prepare(&ingest_dir, &node, n + UNARY);
    prepare(&insert_dir, &node, n);
    let wide_dir = tmp.path().join("wide");
    prepare(&wide_dir, &node, n);
    let log_dir = tmp.path().join("log");
    prepare(&log_dir, &node, n);

    let envelopes: Vec<Envelope> = (0..n)
        .map(|i| submission(&node, &pack, i).to_envelope(&node))
        .collect();
    let unary: Vec<pb::Envelope> = (n..n + UNARY)
        .map(|i| submission(&node, &pack, i).to_envelope(&node).into())
        .collect();

    // Raw strict verification.
    let public = node.public();
    let messages: Vec<(Vec<u8>, [u8; 64])> = envelopes
        .iter()
        .map(|e| (e.pae(), e.signatures[0].sig))
        .collect();
    let t = Instant::now();
    let ok = messages
        .iter()
        .filter(|(m, s)| public.verify_strict(m, s))
        .count();
    let verify_1 = rate(ok, t);
    let t = Instant::now();
    let per = messages.len().div_ceil(cores);
    let ok: usize = std::thread::scope(|scope| {
        let handles: Vec<_> = messages
            .chunks(per)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .filter(|(m, s)| public.verify_strict(m, s))
                        .count()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    let verify_all = rate(ok, t);

    // Stages 1–3 as the server runs them (convert, verify, decode).
    let directory =
        NodeDirectory::load(&db::open_existing(&ingest_dir).expect("db")).expect("nodes");
    let verified: Vec<_> = envelopes
        .iter()
        .map(|e| ingest::verify_envelope(e, &directory, None).expect("verifies"))
        .collect();

    // Raw pack evaluation and the replay stage.
    let runtime = Runtime::new(RuntimeConfig::default()).expect("runtime");
    let module = support::abi_pack(2022, 1);
    let active = ActivePack::load(&runtime, &pack, &module).expect("pack loads");
    let replayed: Vec<replay::Replayed<'_>> = verified
        .iter()
        .map(|v| replay::Replayed {
            submission: &v.submission,
            unit_name: "乡镇",
            category: "township",
        })
        .collect();
    let inputs: Vec<abi::UnitInput> = replayed
        .iter()
        .map(|r| replay::unit_input(active.pack.manifest(), r).expect("maps"))
        .collect();
    let encoded: Vec<(Vec<u8>, u32)> = inputs
        .chunks(BATCH)
        .map(|c| {
            (
                abi::encode_evaluate_input(active.pack.manifest(), c).expect("encodes"),
                c.len() as u32,
            )
        })
        .collect();
    let t = Instant::now();
    let mut units = 0;
    for (input, k) in &encoded {
        active
            .pack
            .loaded()
            .call_evaluate(input, *k)
            .expect("evaluates");
        units += *k as usize;
    }
    let eval = rate(units, t);
    let t = Instant::now();
    let mut passed = 0;
    for chunk in replayed.chunks(BATCH) {
        passed += replay::replay_batch(&active.pack, chunk)
            .iter()
            .filter(|v| v.is_ok())
            .count();
    }
    let replay_rate = rate(passed, t);

    // Raw inserts: the same rows (submission + result with its scores and
    // clauses as JSON), the real statements, fsync'd batches — for the
    // bench pack's two-indicator sheets, and for sheets as wide as a full
    // annual sheet of the 2022 pack (36 indicators, 3 fired clauses).
    let insert = raw_inserts(&insert_dir, &verified, &envelopes);
    let wide: Vec<_> = verified.iter().cloned().map(widen).collect();
    let insert_wide = raw_inserts(&wide_dir, &wide, &envelopes);
    let log = log_appends(&log_dir, &verified);

    // Ingest through the real server.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let wires: Vec<pb::Envelope> = envelopes.iter().cloned().map(Into::into).collect();
    let (ingest_rate, accepted, chunks, latencies) = rt.block_on(async {
        let (clock, _) = Clock::manual("2022-12-01T00:00:00Z".parse().expect("time"));
        let hub = Hub::start(ServeOptions::new(&ingest_dir, clock)).expect("hub starts");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(hub.serve(listener, async {
            let _ = stopped.await;
        }));
        let mut client = SubmissionServiceClient::connect(format!("http://{addr}"))
            .await
            .expect("connect");
        let t = Instant::now();
        let mut responses = client
            .submit_stream(tokio_stream::iter(wires))
            .await
            .expect("stream")
            .into_inner();
        let (mut accepted, mut chunks) = (0, 0);
        while let Some(chunk) = responses.next().await {
            let chunk = ReceiptChunk::try_from(chunk.expect("chunk")).expect("valid chunk");
            chunks += 1;
            accepted += chunk.outcomes.iter().filter(|o| o.result.is_ok()).count();
        }
        let r = rate(accepted, t);
        // Unary calls on the idle hub, one at a time.
        let mut latencies: Vec<f64> = Vec::with_capacity(UNARY);
        for e in unary {
            let t = Instant::now();
            client.submit(e).await.expect("accepted");
            latencies.push(t.elapsed().as_secs_f64() * 1e3);
        }
        latencies.sort_by(f64::total_cmp);
        let _ = stop.send(());
        let _ = server.await;
        (r, accepted, chunks, latencies)
    });
    let commit_floor = commit_floor(&tmp.path().join("floor.db"));

    println!();
    println!("{:<48}{:>14}", "measure", "per second");
    println!(
        "{:<48}{:>14.0}",
        format!("ingest via gRPC → SQLite ({accepted} accepted, {chunks} chunks)"),
        ingest_rate
    );
    println!("{:<48}{:>14.0}", "raw strict verify, 1 thread", verify_1);
    println!(
        "{:<48}{:>14.0}",
        format!("raw strict verify, {cores} threads"),
        verify_all
    );
    println!(
        "{:<48}{:>14.0}",
        format!("raw pack evaluation, batches of {BATCH}"),
        eval
    );
    println!(
        "{:<48}{:>14.0}",
        "replay stage (map + evaluate + compare)", replay_rate
    );
    println!(
        "{:<48}{:>14.0}",
        format!("raw inserts (submissions, batches of {BATCH})"),
        insert
    );
    println!(
        "{:<48}{:>14.0}",
        "raw inserts, full-sheet width (36 scores, 3 clauses)", insert_wide
    );
    println!(
        "{:<48}{:>14.0}",
        "log: leaf + checkpoint per batch + inclusion proof", log
    );
    let median = latencies.get(latencies.len() / 2).copied().unwrap_or(0.0);
    println!(
        "{:<48}{:>14.2}",
        format!("unary Submit on the idle hub, median of {UNARY} (ms)"),
        median
    );
    println!(
        "{:<48}{:>14.2}",
        "raw fsync'd one-row commit, median (ms)", commit_floor
    );
    println!();
    println!("load average: {}", load_average());
    println!(
        "ratio ingest/verify_all_cores {:.2}",
        ingest_rate / verify_all
    );
    println!("ratio ingest/verify_one_core {:.2}", ingest_rate / verify_1);
    println!(
        "ratio unary_submit/commit_floor {:.1}",
        median / commit_floor
    );
    println!(
        "ratio log/ingest {:.3} (the log's share of a submission's ingest time; aim ≤ 0.10)",
        ingest_rate / log
    );
}

/// Median milliseconds of a one-row SQLite commit with the hub's pragmas
/// (WAL, `synchronous = FULL`): the floor of a unary submit's commit.
fn commit_floor(path: &std::path::Path) -> f64 {
    let conn = rusqlite::Connection::open(path).expect("db");
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
         CREATE TABLE t (x INTEGER);",
    )
    .expect("pragmas");
    let mut times: Vec<f64> = (0..UNARY)
        .map(|i| {
            let t = Instant::now();
            conn.execute("INSERT INTO t VALUES (?1)", [i as i64])
                .expect("insert");
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split(' ').take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Appends `verified` to a 2022 log as the writer does: per fsync'd batch
/// of [`BATCH`], a leaf each, one checkpoint, each leaf's inclusion proof
/// under it; leaves per second.
fn log_appends(
    dir: &std::path::Path,
    verified: &[kaohe_proto::submission::VerifiedSubmission],
) -> f64 {
    use kaohe_proto::tlog::leaf::{Leaf, SubmissionLeaf};
    let conn = db::open_existing(dir).expect("db");
    let key = config::load_receipt_key(dir).expect("key");
    let at = "2022-12-01T00:00:00Z".parse().expect("time");
    let t = Instant::now();
    let mut written = 0;
    for chunk in verified.chunks(BATCH) {
        let tx = conn.unchecked_transaction().expect("tx");
        {
            let mut log = tlog::Appender::new(&tx);
            let mut placed = Vec::with_capacity(chunk.len());
            for v in chunk {
                let leaf = Leaf::Submission(SubmissionLeaf {
                    digest: v.digest,
                    signer: v.node_id.clone(),
                    unit: v.submission.unit_id.clone(),
                    year: v.submission.year,
                    round: v.submission.round,
                    commit_time: 1_670_000_000,
                    late: false,
                });
                placed.push(
                    log.append(2022, &leaf, None, Some(&v.digest))
                        .expect("append"),
                );
            }
            let checkpoint = log.checkpoint(2022, &key, at).expect("checkpoint");
            for index in placed {
                log.inclusion_proof(2022, index, checkpoint.size)
                    .expect("proof");
            }
        }
        tx.commit().expect("commit");
        written += chunk.len();
    }
    rate(written, t)
}

/// Inserts `verified` (with their `envelopes`) into the database in `dir`
/// as ingestion does, in fsync'd transactions of [`BATCH`]; rows per second.
fn raw_inserts(
    dir: &std::path::Path,
    verified: &[kaohe_proto::submission::VerifiedSubmission],
    envelopes: &[Envelope],
) -> f64 {
    let conn = db::open_existing(dir).expect("db");
    let key = config::load_receipt_key(dir).expect("key");
    // Encoded on the verify workers in the server, not by the writer.
    let encoded: Vec<ingest::store::Encoded> = verified
        .iter()
        .zip(envelopes)
        .map(|(v, e)| ingest::store::Encoded::of(e, v).expect("encodes"))
        .collect();
    let t = Instant::now();
    let mut written = 0;
    for (b, chunk) in verified.chunks(BATCH).enumerate() {
        let tx = conn.unchecked_transaction().expect("tx");
        let batch = ingest::store::insert_batch(&tx, 1_670_000_000, chunk.len(), &key.key_id())
            .expect("batch");
        let rows: Vec<ingest::store::NewSubmission<'_>> = chunk
            .iter()
            .enumerate()
            .map(|(i, v)| ingest::store::NewSubmission {
                // The node's first key signed: its id is the node's.
                node: &v.node_id,
                verified: v,
                envelope: &envelopes[b * BATCH + i],
                leaf: i,
                late: false,
                replaces: &[false],
                encoded: Some(&encoded[b * BATCH + i]),
            })
            .collect();
        ingest::store::insert_submissions(&tx, batch, 1_670_000_000, &rows).expect("insert");
        tx.commit().expect("commit");
        written += chunk.len();
    }
    rate(written, t)
}

/// The submission with as many scores and clauses as a full annual sheet of
/// the 2022 pack (the rows the writer stores; nothing re-verifies them).
fn widen(
    mut v: kaohe_proto::submission::VerifiedSubmission,
) -> kaohe_proto::submission::VerifiedSubmission {
    let block = &mut v.submission.methods[0];
    for k in 0..34 {
        block.scores.insert(format!("W{k:02}"), 300 + k);
    }
    for k in 0..3 {
        block.clauses.insert(
            format!("W{k:02}a"),
            FiredClause {
                amount: 50,
                reason: "示例扣分理由，长度与真实理由相近".into(),
            },
        );
    }
    v
}

fn rate(count: usize, since: Instant) -> f64 {
    count as f64 / since.elapsed().as_secs_f64().max(1e-9)
}
