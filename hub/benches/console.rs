//! The console's heaviest pages for a 400-unit county, measured through
//! the real router (session cookie, database, consolidation, HTML).
//!
//! `cargo bench -p kaohe-hub --bench console`; `KAOHE_BENCH_UNITS` sets the
//! county's size (default 400), `KAOHE_BENCH_ROUNDS` the warm requests per
//! page (default 20). Prints only; asserts nothing but that each page
//! answers 200.
//!
//! - **结果 (ranking), cold**: the first request after the database
//!   changed — the whole year consolidated (every unit's report replayed
//!   into the pack's merge, grades, ranking) and rendered;
//! - **结果 (ranking), warm**: the consolidation cached, rendering only;
//! - **单位 (unit)**: one unit's standing, indicator tree and reports (its
//!   evidence and receipt read from the database), a different unit each
//!   request.
//!
//! Each line ends with `ratio page/100ms`: the page's time over 100 ms, the
//! budget a page an official clicks should stay within (≤ 1.00).

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use kaohe_hub::accounts::{self, Role};
use kaohe_hub::audit::Actor;
use kaohe_hub::clock::Clock;
use kaohe_hub::console::{self, Console, ConsoleOptions};
use kaohe_hub::ingest::{Candidate, Committer};
use kaohe_hub::{config, db};
use kaohe_proto::SigningKeyPair;
use kaohe_rulepacks::runtime::{Runtime, RuntimeConfig};
use tower::ServiceExt as _;

#[path = "../tests/support/mod.rs"]
#[allow(dead_code, reason = "shared with the tests, which use all of it")]
mod support;

mod county;

const PASSWORD: &str = "bench-password-1";

fn main() {
    let n: usize = env_or("KAOHE_BENCH_UNITS", 400);
    let rounds: usize = env_or("KAOHE_BENCH_ROUNDS", 20);
    println!("kaohe-hub console benchmark: {n} units, {rounds} warm requests per page");

    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("hub");
    let node = SigningKeyPair::from_seed(&[1; 32]);
    let pack = county::prepare(&dir, &node, n);
    // Every unit's annual report, committed as the gRPC service commits.
    let runtime = Runtime::new(RuntimeConfig::default()).expect("runtime");
    let key = config::load_receipt_key(&dir).expect("receipt key");
    let mut committer = Committer::new(
        db::open_existing(&dir).expect("db"),
        runtime.clone(),
        key,
        Clock::Fixed("2022-12-01T00:00:00Z".parse().expect("time")),
    )
    .expect("committer");
    let candidates: Vec<Candidate> = (0..n)
        .map(|i| {
            let envelope = county::submission(&node, &pack, i).to_envelope(&node);
            Candidate::verify(i as u64, envelope.into(), &committer.nodes(), None)
        })
        .collect();
    let accepted = committer
        .commit(candidates)
        .expect("commit")
        .iter()
        .filter(|o| o.result.is_ok())
        .count();
    assert_eq!(accepted, n, "every report accepted");
    let mut conn = db::open_existing(&dir).expect("db");
    let actor = Actor::new("bench", "2022-12-01T00:00:00Z".parse().expect("time"));
    accounts::add(&mut conn, "admin", Role::Admin, PASSWORD, &actor).expect("account");

    let app = console::router(
        Console::open(ConsoleOptions {
            data_dir: dir.clone(),
            clock: Clock::Fixed("2023-01-10T02:00:00Z".parse().expect("time")),
            runtime,
            secure: false,
            sessions: Default::default(),
            now: kaohe_web::system_now(),
        })
        .expect("console"),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    rt.block_on(async {
        let cookie = login(&app).await;
        let results = "/results?year=2022";
        let (cold, bytes) = page(&app, &cookie, results).await;
        let mut warm = Duration::ZERO;
        for _ in 0..rounds {
            warm += page(&app, &cookie, results).await.0;
        }
        let mut unit = Duration::ZERO;
        let mut unit_bytes = 0;
        for r in 0..rounds {
            let id = county::unit_id(r * n / rounds);
            let (t, b) = page(&app, &cookie, &format!("/units/2022/{id}")).await;
            unit += t;
            unit_bytes = b;
        }
        let per = |d: Duration| d / rounds as u32;
        println!();
        println!("{:<44}{:>12}{:>12}  ratio", "page", "ms", "KiB");
        line("结果 (ranking), cold: consolidate + render", cold, bytes);
        line("结果 (ranking), warm", per(warm), bytes);
        line("单位 (unit page)", per(unit), unit_bytes);
    });
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn line(what: &str, t: Duration, bytes: usize) {
    let ms = t.as_secs_f64() * 1000.0;
    println!(
        "{what:<44}{ms:>12.1}{:>12.1}  ratio page/100ms {:.2}",
        bytes as f64 / 1024.0,
        ms / 100.0
    );
}

async fn login(app: &Router) -> String {
    let body =
        serde_urlencoded::to_string([("name", "admin"), ("password", PASSWORD)]).expect("form");
    let res = app
        .clone()
        .oneshot(
            Request::post("/login")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(body))
                .expect("request"),
        )
        .await
        .expect("login");
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "login");
    let cookie = res
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .expect("session cookie");
    cookie.split(';').next().unwrap_or_default().to_owned()
}

/// One GET with the session: its time (through the whole body) and size.
async fn page(app: &Router, cookie: &str, path: &str) -> (Duration, usize) {
    let t = Instant::now();
    let res = app
        .clone()
        .oneshot(
            Request::get(path)
                .header(header::COOKIE, cookie)
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("page");
    let status = res.status();
    let body = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .expect("body");
    let elapsed = t.elapsed();
    assert_eq!(
        status,
        StatusCode::OK,
        "{path}: {}",
        String::from_utf8_lossy(&body)
    );
    (elapsed, body.len())
}
