//! The hub at scale: a whole year of a county, a city or a province, from
//! signed submissions to `kaohe hub results`.
//!
//! `cargo bench -p kaohe-hub --bench scale`; `KAOHE_SCALE_UNITS` sets the
//! number of units (default 10 000). Prints only; asserts nothing. The last
//! line is `units=N ingest_per_s=… consolidate_s=… peak_rss_mb=… db_mb=…`.
//!
//! 1. **setup**: a hub data directory under cargo's target tmpdir (deleted at
//!    the end), the Baofeng 2022 rubric compiled with its fixtures as the
//!    self-test and published; a roster of N units in the sample county's
//!    category mix (`src/demo/county.rs`: 6 townships, 3 party organs, 2
//!    congress/CPPCC, 7 departments, 2 court/procuratorate, 3 mass
//!    organisations, 3 stationed units, 3 enterprises, 3 hospitals and 7
//!    villages in 39), villages under at most 16 township nodes; the
//!    assessor nodes (county office, SASAC, health commission, townships);
//! 2. **generate**: per unit the reports its category must send (four
//!    quarters of daily evaluation, one annual submission with every annual
//!    method), evidence from the rubric's hand-worked fixtures varied per
//!    unit, scores and clauses computed by the pack as a node computes
//!    them, signed by the unit's assessor node on both cores;
//! 3. **ingest**: every envelope through the real gRPC `SubmitStream` on
//!    127.0.0.1 into the hub's SQLite (verify, replay, commit, receipts):
//!    accepted envelopes per second;
//! 4. **results**: `kaohe hub results --year 2022` (load, consolidate,
//!    rank, outcomes, the printout, the digest) in a fresh process — this
//!    bench re-run with `KAOHE_SCALE_RESULTS` — timed, its peak resident
//!    memory read from its own `/proc/self/status` (`VmHWM`), stdout
//!    discarded.
//!
//! Above 120,000 units (or with `KAOHE_SCALE_SIGN_WHILE_SENDING`) the
//! envelopes are signed while they are sent, on the same cores as the hub.
//!
//! `ratio results_per_unit_us/…` compares the cost per unit with the
//! 10 000-unit figure of issue #17's table; `hub/benches/scale-plot.py`
//! draws time and memory against N from the last lines of several runs.

/// The `kaohe` binary's allocator, so `hub results` runs here as there.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use kaohe_hub::audit::Actor;
use kaohe_hub::clock::Clock;
use kaohe_hub::registry::nodes::{self, AssessorKind, NewNode};
use kaohe_hub::registry::scope::Scope;
use kaohe_hub::registry::units::{self, ResponsibleAssessor, RosterSource, UnitRecord};
use kaohe_hub::server::{Hub, ServeOptions};
use kaohe_hub::{config, db, publish};
use kaohe_proto::model::ReceiptChunk;
use kaohe_proto::pb::submission_service_client::SubmissionServiceClient;
use kaohe_proto::submission::FiredClause;
use kaohe_proto::{MethodBlock, PackIdentity, SigningKeyPair, Submission, pb};
use kaohe_rulepacks::abi::{UnitInput, UnitStatus};
use kaohe_rulepacks::fixture::{Expected, Fixture};
use kaohe_rulepacks::manifest::{FieldType, Manifest, Round};
use kaohe_rulepacks::pack::Pack;
use kaohe_rulepacks::rubric::{self, CheckedRubric};
use kaohe_rulepacks::runtime::{Runtime, RuntimeConfig};
use kaohe_rulepacks::sign::{self, TrustPolicy};
use tokio_stream::StreamExt as _;

const YEAR: i32 = 2022;
/// The sample county's mix: (category, units in 39).
const MIX: [(&str, usize); 10] = [
    ("township", 6),
    ("party_organ", 3),
    ("congress_cppcc", 2),
    ("government_department", 7),
    ("court_procuratorate", 2),
    ("mass_organisation", 3),
    ("stationed_unit", 3),
    ("enterprise", 3),
    ("hospital", 3),
    ("village", 7),
];
const VILLAGE_NODES: usize = 16;
/// Up to this many units every envelope is signed before the stream
/// starts (~1.5 KB each); above it they are signed while they are sent.
const PREGENERATE_UNITS: usize = 120_000;
/// Units generated, evaluated and signed at a time.
const SLICE: usize = 2048;

fn main() {
    if let Ok(dir) = std::env::var("KAOHE_SCALE_RESULTS") {
        results_child(Path::new(&dir));
        return;
    }
    let n: usize = std::env::var("KAOHE_SCALE_UNITS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    println!(
        "kaohe-hub scale benchmark: {n} units, {cores} cores, load average {}",
        load_average()
    );

    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    // `KAOHE_SCALE_KEEP=DIR` keeps the hub directory there (for profiling
    // `hub results` on it again); by default it goes with the tempdir.
    let dir = match std::env::var_os("KAOHE_SCALE_KEEP") {
        Some(keep) => PathBuf::from(keep),
        None => tmp.path().join("hub"),
    };
    let t = Instant::now();
    let rubric = load_rubric();
    let (pack_id, module) = setup(&dir, &rubric);
    let roster = roster(n);
    let nodes = register(&dir, &roster);
    println!(
        "setup: {:.1} s (roster of {n}, {} nodes)",
        t.elapsed().as_secs_f64(),
        nodes.len()
    );

    let t = Instant::now();
    let runtime = Runtime::new(RuntimeConfig::default()).expect("runtime");
    let pack = Pack::load(&runtime, &module, &pack_id).expect("pack loads");
    let templates = templates(&rubric);
    let stream_generated =
        n > PREGENERATE_UNITS || std::env::var_os("KAOHE_SCALE_SIGN_WHILE_SENDING").is_some();
    let (envelopes, (ingest_per_s, accepted, refused)) = if !stream_generated {
        let mut wires = Vec::new();
        generate(&pack, &templates, &roster, &nodes, &pack_id, &mut |part| {
            wires.extend(part);
        });
        println!(
            "generate: {} envelopes in {:.1} s",
            wires.len(),
            t.elapsed().as_secs_f64()
        );
        (wires.len(), ingest(&dir, tokio_stream::iter(wires)))
    } else {
        // Too many to hold: signed while they are sent, on the same cores
        // as the hub (the ingest rate is lower for it).
        println!("generate: while ingesting");
        let (tx, rx) = tokio::sync::mpsc::channel::<pb::Envelope>(16_384);
        std::thread::scope(|s| {
            let generator = s.spawn(|| {
                let mut sent = 0;
                generate(&pack, &templates, &roster, &nodes, &pack_id, &mut |part| {
                    sent += part.len();
                    for e in part {
                        tx.blocking_send(e).expect("the stream is open");
                    }
                });
                drop(tx);
                sent
            });
            let result = ingest(&dir, tokio_stream::wrappers::ReceiverStream::new(rx));
            (generator.join().expect("generator"), result)
        })
    };
    drop(pack);
    println!("ingest: {accepted} accepted, {refused} refused");
    assert_eq!(refused, 0, "every synthetic envelope is accepted");
    assert_eq!(accepted, envelopes);
    let db_mb = file_mb(&dir.join("hub.db")) + file_mb(&dir.join("hub.db-wal"));

    // `hub results` in a fresh process, as an official runs it.
    let (consolidate_s, peak_rss_mb) = results_in_child(&dir);
    println!(
        "ratio results_per_unit_us/issue17_10k {:.2}",
        consolidate_s * 1e6 / n as f64 / (0.95e6 / 10_000.0)
    );
    println!(
        "ratio results_peak_rss_kb_per_unit {:.2}",
        peak_rss_mb * 1024.0 / n as f64
    );
    println!("load average after: {}", load_average());
    println!(
        "units={n} ingest_per_s={ingest_per_s:.0} consolidate_s={consolidate_s:.2} peak_rss_mb={peak_rss_mb:.0} db_mb={db_mb:.0}"
    );
}

fn load_rubric() -> CheckedRubric {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rulepacks/baofeng-2022/rubric.toml");
    rubric::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn fixtures(rubric: &CheckedRubric) -> Vec<Fixture> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rulepacks/baofeng-2022/fixtures");
    Fixture::load_dir(&dir, &rubric.manifest).expect("fixtures")
}

/// A fresh hub directory with the 2022 pack published.
fn setup(dir: &Path, rubric: &CheckedRubric) -> (PackIdentity, Vec<u8>) {
    let mut conn = db::create(dir).expect("db");
    config::init_receipt_key(dir).expect("key");
    let test = kaohe_rulepacks::compile::self_test(rubric, &fixtures(rubric)).expect("self-test");
    let module = kaohe_rulepacks::compile::compile_with_self_test(rubric, &test).expect("compiles");
    let authority = SigningKeyPair::from_seed(&[90; 32]);
    let envelope = sign::sign_pack(&module, 1, &[&authority]).expect("sign");
    let policy = TrustPolicy::new(vec![authority.public()], 1).expect("policy");
    let runtime = Runtime::new(RuntimeConfig::with_cache_under(dir)).expect("runtime");
    let (verified, _) = publish::publish_signed(
        &mut conn,
        &runtime,
        &policy,
        &module,
        &envelope.to_protobuf(),
        &actor(),
    )
    .expect("publish");
    (verified.identity, module)
}

fn actor() -> Actor {
    Actor::new("bench", "2022-01-01T00:00:00Z".parse().expect("time"))
}

/// N units in the sample county's mix; villages under the first
/// [`VILLAGE_NODES`] townships.
fn roster(n: usize) -> Vec<UnitRecord> {
    let total: usize = MIX.iter().map(|m| m.1).sum();
    let mut out = Vec::with_capacity(n);
    let mut townships = Vec::new();
    for i in 0..n {
        // Spread the mix evenly: unit i takes the category at its place in
        // the 39-slot cycle.
        let slot = i % total;
        let (category, _) = MIX
            .iter()
            .scan(0, |acc, m| {
                *acc += m.1;
                Some((m.0, *acc))
            })
            .find(|(_, end)| slot < *end)
            .expect("slot in the mix");
        let id = format!("u{i:06}");
        let (parent, assessor) = match category {
            "enterprise" => (None, ResponsibleAssessor::Sasac),
            "hospital" => (None, ResponsibleAssessor::HealthCommission),
            "village" => {
                let t: &String = &townships[i % townships.len().clamp(1, VILLAGE_NODES)];
                (Some(t.clone()), ResponsibleAssessor::Unit(t.clone()))
            }
            _ => (None, ResponsibleAssessor::CountyOffice),
        };
        if category == "township" {
            townships.push(id.clone());
        }
        out.push(UnitRecord {
            year: YEAR,
            name: format!("示例单位{i}"),
            id,
            category: category.into(),
            parent,
            supervising_department: None,
            assessor,
            principal: None,
        });
    }
    out
}

/// One registered node: its key, and the next sequence number.
struct Node {
    key: SigningKeyPair,
    sequence: u64,
}

/// The roster stored and one node per assessor; unit → node index.
fn register(dir: &Path, roster: &[UnitRecord]) -> Vec<Node> {
    let mut conn = db::open_existing(dir).expect("db");
    let source = RosterSource {
        file: "bench".into(),
        sha256: "0".repeat(64),
    };
    units::replace_year(&mut conn, YEAR, roster, &source, &actor()).expect("roster");
    let methods: std::collections::BTreeSet<String> = [
        "daily",
        "supervision",
        "file_review",
        "online_check",
        "field_inspection",
        "satisfaction",
        "bonus_penalty",
    ]
    .map(String::from)
    .into();
    let mut out = Vec::new();
    let mut add = |name: String, assessor, unit: Option<String>, scope: Scope| {
        let key = SigningKeyPair::from_seed(&[out.len() as u8 + 1; 32]);
        nodes::add_node(
            &mut conn,
            NewNode {
                name,
                assessor,
                assessor_unit: unit,
                public_key: key.public().to_string(),
                scope,
            },
            &actor(),
        )
        .expect("node");
        out.push(Node { key, sequence: 0 });
    };
    let categories = |c: &[&str]| Scope {
        categories: c.iter().map(|s| s.to_string()).collect(),
        methods: methods.clone(),
        years: [YEAR].into(),
        ..Scope::default()
    };
    add(
        "依法治县办".into(),
        AssessorKind::CountyOffice,
        None,
        categories(&MIX[..7].iter().map(|m| m.0).collect::<Vec<_>>()),
    );
    add(
        "国资局".into(),
        AssessorKind::Sasac,
        None,
        categories(&["enterprise"]),
    );
    add(
        "卫健委".into(),
        AssessorKind::HealthCommission,
        None,
        categories(&["hospital"]),
    );
    let parents: std::collections::BTreeSet<&String> =
        roster.iter().filter_map(|u| u.parent.as_ref()).collect();
    for p in parents {
        add(
            format!("乡镇 {p}"),
            AssessorKind::Township,
            Some(p.clone()),
            Scope {
                subtrees: [p.clone()].into(),
                methods: methods.clone(),
                years: [YEAR].into(),
                ..Scope::default()
            },
        );
    }
    out
}

/// The node index that reports `unit`.
fn node_of(unit: &UnitRecord, village_parents: &[String]) -> usize {
    match &unit.assessor {
        ResponsibleAssessor::CountyOffice => 0,
        ResponsibleAssessor::Sasac => 1,
        ResponsibleAssessor::HealthCommission => 2,
        ResponsibleAssessor::Unit(t) => {
            3 + village_parents
                .binary_search(t)
                .expect("a township with a node")
        }
    }
}

/// Per category: the annual evidence of each hand-worked fixture of that
/// category with a whole sheet and no marks; and the four quarters of the
/// first fixture that has them.
struct Templates {
    annual: Vec<Vec<Vec<Option<i64>>>>,
    quarters: Vec<(Round, Vec<Option<i64>>)>,
}

fn templates(rubric: &CheckedRubric) -> Templates {
    let m = &rubric.manifest;
    let all = fixtures(rubric);
    let mut annual = vec![Vec::new(); m.categories.len()];
    let mut quarters = Vec::new();
    for f in &all {
        let whole = matches!(&f.expected, Expected::Scores { sheet: Some(_), .. });
        if !whole || !f.evidence.not_applicable.is_empty() {
            continue;
        }
        for (round, values) in &f.evidence.rounds {
            if *round == Round::Annual {
                annual[f.evidence.category].push(values.clone());
            }
        }
        if quarters.is_empty() && f.evidence.rounds.len() == 5 {
            quarters = f
                .evidence
                .rounds
                .iter()
                .filter(|(r, _)| *r != Round::Annual)
                .cloned()
                .collect();
        }
    }
    for (c, list) in annual.iter().enumerate() {
        assert!(!list.is_empty(), "a fixture for {}", m.categories[c].id);
    }
    assert_eq!(quarters.len(), 4, "a fixture with four quarters");
    Templates { annual, quarters }
}

/// `values` varied for unit `u`: each count or decimal moved a little
/// within its range.
fn vary(m: &Manifest, values: &[Option<i64>], u: usize) -> Vec<Option<i64>> {
    values
        .iter()
        .enumerate()
        .map(|(f, v)| {
            let field = &m.fields[f];
            let step = match field.kind {
                FieldType::Count => 100,
                FieldType::Decimal => 37,
                _ => return *v,
            };
            v.map(|v| {
                let d = ((u.wrapping_mul(2_654_435_761) ^ f.wrapping_mul(40_503)) % 5) as i64 - 2;
                let lo = field.min.unwrap_or(0);
                let hi = field.max.unwrap_or(i64::MAX);
                (v + d * step).clamp(lo, hi)
            })
        })
        .collect()
}

/// Every envelope of the year, signed, in the order a node would send
/// them (unit by unit, quarters then the annual report).
fn generate(
    pack: &Pack,
    t: &Templates,
    roster: &[UnitRecord],
    nodes: &[Node],
    pack_id: &PackIdentity,
    sink: &mut dyn FnMut(Vec<pb::Envelope>),
) {
    let m = pack.manifest();
    let mut parents: Vec<String> = roster.iter().filter_map(|u| u.parent.clone()).collect();
    parents.sort();
    parents.dedup();
    let mut sequences: Vec<u64> = nodes.iter().map(|n| n.sequence).collect();
    for slice in roster.chunks(SLICE) {
        // (unit, node, input) per report.
        let mut reports: Vec<(&UnitRecord, usize, UnitInput, UnitInput)> = Vec::new();
        for unit in slice {
            let u: usize = unit.id[1..].parse().expect("unit number");
            let c = m.category_index(&unit.category).expect("category");
            let node = node_of(unit, &parents);
            let expected = m.expected_reports(c);
            let mut annual_mask = 0u32;
            for &(method, round) in &expected {
                if round == Round::Annual {
                    annual_mask |= 1 << method;
                }
            }
            let quarter_mask = expected
                .iter()
                .filter(|(_, r)| *r != Round::Annual)
                .fold(0u32, |acc, (method, _)| acc | 1 << method);
            let input = |round, methods, values: Vec<Option<i64>>| UnitInput {
                category: c as u32,
                round,
                methods,
                values,
                not_applicable: Vec::new(),
            };
            if quarter_mask != 0 {
                for (round, values) in &t.quarters {
                    reports.push((
                        unit,
                        node,
                        input(*round, quarter_mask, vary(m, values, u)),
                        input(*round, quarter_mask, values.clone()),
                    ));
                }
            }
            let list = &t.annual[c];
            let base = &list[u / 39 % list.len()];
            reports.push((
                unit,
                node,
                input(Round::Annual, annual_mask, vary(m, base, u)),
                input(Round::Annual, annual_mask, base.clone()),
            ));
        }
        let varied: Vec<UnitInput> = reports.iter().map(|r| r.2.clone()).collect();
        let mut outputs = pack.evaluate(&varied).expect("evaluates");
        // A variation the rubric refuses falls back to the fixture itself.
        let fallback: Vec<usize> = (0..outputs.len())
            .filter(|&k| outputs[k].status != UnitStatus::Ok)
            .collect();
        if !fallback.is_empty() {
            let plain: Vec<UnitInput> = fallback.iter().map(|&k| reports[k].3.clone()).collect();
            for (k, o) in fallback
                .iter()
                .zip(pack.evaluate(&plain).expect("evaluates"))
            {
                assert_eq!(o.status, UnitStatus::Ok, "fixture evidence evaluates");
                reports[*k].2 = reports[*k].3.clone();
                outputs[*k] = o;
            }
        }
        let subs: Vec<(usize, Submission)> = reports
            .iter()
            .zip(&outputs)
            .map(|((unit, node, input, _), output)| {
                sequences[*node] += 1;
                let mut blocks: Vec<MethodBlock> = Vec::new();
                for (mi, method) in m.methods.iter().enumerate() {
                    if input.methods & (1 << mi) == 0 {
                        continue;
                    }
                    let mut block = MethodBlock {
                        method_id: method.id.clone(),
                        ..MethodBlock::default()
                    };
                    for (f, field) in m.fields.iter().enumerate() {
                        if field.method == method.id {
                            block.evidence.insert(field.id.clone(), input.values[f]);
                        }
                    }
                    for (i, score) in output.indicators.iter().enumerate() {
                        if let Some(s) = score
                            && m.indicators[i].method == method.id
                        {
                            block.scores.insert(m.indicators[i].id.clone(), *s);
                        }
                    }
                    for (k, amount) in output.clauses.iter().enumerate() {
                        if let Some(amount) = amount
                            && let Some((i, clause)) = m.clause(k)
                            && m.indicators[i].method == method.id
                        {
                            block.clauses.insert(
                                clause.id.clone(),
                                FiredClause {
                                    amount: *amount,
                                    reason: clause.reason.clone(),
                                },
                            );
                        }
                    }
                    blocks.push(block);
                }
                let round = match input.round {
                    Round::Annual => kaohe_proto::Round::Annual,
                    Round::Q1 => kaohe_proto::Round::Q1,
                    Round::Q2 => kaohe_proto::Round::Q2,
                    Round::Q3 => kaohe_proto::Round::Q3,
                    Round::Q4 => kaohe_proto::Round::Q4,
                };
                (
                    *node,
                    Submission {
                        pack: pack_id.clone(),
                        unit_id: unit.id.clone(),
                        year: YEAR as u16,
                        round,
                        node_id: nodes[*node].key.key_id(),
                        sequence: sequences[*node],
                        created_at: 1_648_771_200,
                        methods: blocks,
                    },
                )
            })
            .collect();
        // Signing is most of the cost: both cores.
        let per = subs.len().div_ceil(2).max(1);
        let signed: Vec<Vec<pb::Envelope>> = std::thread::scope(|s| {
            let handles: Vec<_> = subs
                .chunks(per)
                .map(|part| {
                    s.spawn(move || {
                        part.iter()
                            .map(|(node, sub)| sub.to_envelope(&nodes[*node].key).into())
                            .collect::<Vec<pb::Envelope>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("signer"))
                .collect()
        });
        sink(signed.into_iter().flatten().collect());
    }
}

/// Every envelope through one `SubmitStream`; (accepted per second,
/// accepted, refused).
fn ingest(
    dir: &Path,
    wires: impl tokio_stream::Stream<Item = pb::Envelope> + Send + 'static,
) -> (f64, usize, usize) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio");
    rt.block_on(async {
        let (clock, _) = Clock::manual("2022-04-01T00:00:00Z".parse().expect("time"));
        let hub = Hub::start(ServeOptions::new(dir, clock)).expect("hub starts");
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
            .expect("connect")
            .max_decoding_message_size(64 << 20);
        let t = Instant::now();
        let mut responses = client
            .submit_stream(wires)
            .await
            .expect("stream")
            .into_inner();
        let (mut accepted, mut refused) = (0, 0);
        let mut first_refusal = None;
        while let Some(chunk) = responses.next().await {
            let chunk = ReceiptChunk::try_from(chunk.expect("chunk")).expect("valid chunk");
            for o in chunk.outcomes {
                match o.result {
                    Ok(_) => accepted += 1,
                    Err(e) => {
                        refused += 1;
                        first_refusal.get_or_insert(e);
                    }
                }
            }
        }
        let rate = accepted as f64 / t.elapsed().as_secs_f64().max(1e-9);
        if let Some(e) = first_refusal {
            println!("first refusal: {e:?}");
        }
        let _ = stop.send(());
        let _ = server.await;
        (rate, accepted, refused)
    })
}

/// Runs `hub results` in a fresh process of this bench; (seconds, peak RSS
/// in MB).
fn results_in_child(dir: &Path) -> (f64, f64) {
    let exe = std::env::current_exe().expect("this bench");
    let printout = dir.with_file_name("results.txt");
    let out = Command::new(exe)
        .env("KAOHE_SCALE_RESULTS", dir)
        .stdout(std::fs::File::create(&printout).expect("printout file"))
        .stderr(Stdio::piped())
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "hub results failed: {text}");
    for l in text.lines().filter(|l| l.starts_with("stage ")) {
        println!("{l}");
    }
    if let Some(cpu) = text.lines().find_map(|l| l.strip_prefix("cpu ")) {
        println!("results cpu_s={cpu} (user + system, the wall clock is consolidate_s)");
    }
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("results "))
        .unwrap_or_else(|| panic!("no results line: {text}"));
    let mut it = line.split(' ').map(|v| v.parse::<f64>().expect("number"));
    let (s, mb) = (it.next().expect("seconds"), it.next().expect("mb"));
    // What the official reads first: the summary lines of the printout.
    let printout = std::fs::read_to_string(&printout).expect("printout");
    println!(
        "results printout: {} lines, {:.1} MB",
        printout.lines().count(),
        printout.len() as f64 / 1e6
    );
    if let Ok(keep) = std::env::var("KAOHE_SCALE_KEEP_PRINTOUT") {
        std::fs::write(keep, &printout).expect("keep the printout");
    }
    (s, mb)
}

/// The child: `kaohe hub results --year 2022`, timed; prints
/// `results SECONDS PEAK_MB` on stderr.
fn results_child(dir: &Path) {
    if std::env::var_os("KAOHE_SCALE_STAGES").is_some() {
        stages(dir);
    }
    let t = Instant::now();
    kaohe_hub::cli::run(kaohe_hub::cli::Args {
        data_dir: PathBuf::from(dir),
        operator: Some("bench".into()),
        command: kaohe_hub::cli::Command::Results(kaohe_hub::cli::results::ResultsArgs {
            year: YEAR,
            category: None,
        }),
    })
    .expect("hub results");
    let s = t.elapsed().as_secs_f64();
    eprintln!("cpu {:.3}", cpu_seconds());
    eprintln!("results {s:.3} {:.1}", vm_hwm_kb() as f64 / 1024.0);
}

/// Where time and memory go: `hub results`' steps one by one, with the
/// resident and peak memory after each (`KAOHE_SCALE_STAGES=1`).
fn stages(dir: &Path) {
    let report = |what: &str, t: Instant| {
        eprintln!(
            "stage {what:<28} {:>8.3} s  rss {:>7.1} MB (anon {:>7.1})  peak {:>7.1} MB",
            t.elapsed().as_secs_f64(),
            vm_kb("VmRSS:") as f64 / 1024.0,
            vm_kb("RssAnon:") as f64 / 1024.0,
            vm_kb("VmHWM:") as f64 / 1024.0
        );
    };
    let conn = db::open_existing(dir).expect("db");
    let runtime = Runtime::new(RuntimeConfig::with_cache_under(dir)).expect("runtime");
    report("start", Instant::now());
    if std::env::var_os("KAOHE_SCALE_STAGES_RESULTS").is_some() {
        let t = Instant::now();
        let pack_id: String = conn
            .query_row("SELECT pack_id FROM packs WHERE is_current = 1", [], |r| {
                r.get(0)
            })
            .expect("pack");
        let r = kaohe_hub::results::load_results_keeping(
            &conn,
            YEAR,
            &pack_id,
            1,
            Some(&Default::default()),
        )
        .expect("results");
        report(&format!("load_results ({})", r.len()), t);
        drop(r);
        report("dropped", Instant::now());
    }
    let t = Instant::now();
    let data = kaohe_hub::results::load_year(&conn, &runtime, YEAR).expect("load");
    report("load_year", t);
    let t = Instant::now();
    let detail = kaohe_hub::consolidate::Detail::Lean;
    let c = data.consolidate(&conn, detail).expect("consolidates");
    report("consolidate", t);
    let t = Instant::now();
    let outcomes = data.outcomes(&c);
    report("outcomes", t);
    let t = Instant::now();
    let digest = data.sha256(&conn, &c, detail).expect("digest");
    report("sha256 (filled)", t);
    let y = kaohe_hub::results::ConsolidatedYear {
        data,
        consolidation: c,
        outcomes,
        detail,
    };
    let t = Instant::now();
    let text = kaohe_hub::cli::results::render_results(&y, None);
    report("render_results", t);
    drop((text, digest, y));
}

/// User + system CPU seconds of this process (`/proc/self/stat`): on a
/// machine shared with others, steadier than the wall clock.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name, which is in parentheses.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat(5): 11 and 12 here.
    (ticks(11) + ticks(12)) / 100.0
}

/// Peak resident set of this process (`VmHWM`), in KiB.
fn vm_hwm_kb() -> u64 {
    vm_kb("VmHWM:")
}

/// A `Vm…:` line of `/proc/self/status`, in KiB.
fn vm_kb(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split(' ').take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn file_mb(path: &Path) -> f64 {
    std::fs::metadata(path).map_or(0.0, |m| m.len() as f64 / 1e6)
}
