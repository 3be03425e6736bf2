//! The node console's router without a socket: the one-time login link,
//! every page, CSRF, a bad upload refused with the CLI's problems and
//! nothing written, a good one imported, scoring previewed and submitted
//! into the outbox; every form refused without the session's CSRF token;
//! an idle session ended.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt as _;

use super::*;

mod maintenance;
use crate::layout::Layout;
use crate::template::{self, CsvEncoding, Prefill};
use crate::testutil::{
    config_pinning, install_test_pack, sample_scope, test_manifest, test_module,
};

struct Fixture {
    _dir: tempfile::TempDir,
    dir: std::path::PathBuf,
    app: Router,
    token: String,
}

fn fixture() -> Fixture {
    fixture_at(kaohe_web::system_now())
}

/// The fixture with sessions on the clock `now`.
fn fixture_at(now: kaohe_web::Now) -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let authority = kaohe_proto::SigningKeyPair::from_seed(&[9; 32]);
    let config = config_pinning(&dir, &[&authority], 1);
    kaohe_proto::SigningKeyPair::from_seed(&[4; 32])
        .save(&config.key_file)
        .unwrap();
    let mut store = Store::create(&config.store_file).unwrap();
    install_test_pack(&mut store, &test_manifest(), &test_module(1));
    store.replace_scope(&sample_scope(2022)).unwrap();
    drop(store);
    let (console, token) = NodeConsole::new(ConsoleOptions {
        config,
        operator: "王科员".into(),
        runtime: Runtime::new(Default::default()).unwrap(),
        sessions: SessionPolicy::default(),
        now,
    });
    Fixture {
        _dir: tmp,
        dir,
        app: router(console),
        token,
    }
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

async fn send(app: &Router, req: Request<Body>) -> Answer {
    let res = app.clone().oneshot(req).await.unwrap();
    let (status, headers) = (res.status(), res.headers().clone());
    let bytes = axum::body::to_bytes(res.into_body(), 64 << 20)
        .await
        .unwrap();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

async fn get(app: &Router, cookie: &str, path: &str) -> Answer {
    send(
        app,
        Request::get(path)
            .header(header::COOKIE, cookie)
            .body(Body::empty())
            .unwrap(),
    )
    .await
}

async fn upload(app: &Router, cookie: &str, csrf: &str, name: &str, bytes: &[u8]) -> Answer {
    let b = "node-test-boundary";
    let mut body = format!(
        "--{b}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n--{b}\r\nContent-Disposition: form-data; name=\"year\"\r\n\r\n2022\r\n--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend(format!("\r\n--{b}--\r\n").as_bytes());
    let req = Request::post("/evidence")
        .header(header::COOKIE, cookie)
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={b}"),
        )
        .body(Body::from(body))
        .unwrap();
    send(app, req).await
}

/// Logs in with the link; returns the cookie and the session's CSRF token.
async fn login(f: &Fixture) -> (String, String) {
    let a = send(
        &f.app,
        Request::get(format!("/login/{}", f.token))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let set = a.headers[header::SET_COOKIE].to_str().unwrap().to_owned();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let cookie = set.split(';').next().unwrap().to_owned();
    let page = get(&f.app, &cookie, "/evidence").await.body;
    let at = page.find("name=\"csrf\" value=\"").unwrap() + 19;
    let csrf = page[at..].split('"').next().unwrap().to_owned();
    (cookie, csrf)
}

/// The template's two header rows and `rows` (CSV columns: unit_id,
/// unit_name, round, sup_plan, sup_problems, sup_report, dept_cases,
/// sat_rate, q_study, q_overdue).
fn csv(rows: &[&str]) -> Vec<u8> {
    let m = test_manifest();
    let scope = sample_scope(2022);
    let layout = Layout::new(&m, &scope).unwrap();
    let t = String::from_utf8(template::csv(&layout, &Prefill::new(), CsvEncoding::Utf8).unwrap())
        .unwrap();
    let mut lines: Vec<&str> = t.lines().take(2).collect();
    lines.extend_from_slice(rows);
    (lines.join("\r\n") + "\r\n").into_bytes()
}

fn snapshot(dir: &std::path::Path) -> (usize, usize, u64) {
    let store = Store::open(&dir.join(crate::store::DB_FILE)).unwrap();
    (
        store.evidence(2022).unwrap().len(),
        store.history(2022, None).unwrap().len(),
        store.outbox_counts().unwrap().pending(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_login_link_works_once_and_nothing_answers_without_a_session() {
    let f = fixture();
    assert_eq!(get(&f.app, "", "/").await.status, StatusCode::UNAUTHORIZED);
    let wrong = send(
        &f.app,
        Request::get("/login/guess").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let (cookie, _) = login(&f).await;
    let again = send(
        &f.app,
        Request::get(format!("/login/{}", f.token))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(again.status, StatusCode::FORBIDDEN, "a spent link");
    assert!(again.body.contains("已用过"), "{}", again.body);
    for (page, want) in [
        ("/", "发件箱"),
        ("/evidence", "下载填报模板"),
        ("/scoring?year=2022&round=annual", "预览不保存任何内容"),
        ("/results", "提出异议"),
    ] {
        let a = get(&f.app, &cookie, page).await;
        assert_eq!(a.status, StatusCode::OK, "{page}: {}", a.body);
        assert!(a.body.contains(want), "{page} lacks {want}");
    }
    // The hub of the fixture cannot be reached, and the pages say so.
    assert!(get(&f.app, &cookie, "/").await.body.contains("无法连接"));
    let t = get(&f.app, &cookie, "/evidence/template/xlsx?year=2022").await;
    assert_eq!(t.status, StatusCode::OK);
    assert!(
        t.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains(".xlsx")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_upload_names_every_cell_as_the_cli_does_and_writes_nothing() {
    let f = fixture();
    let (cookie, csrf) = login(&f).await;
    let bad = csv(&[
        "justice,县司法局,年度,也许,0,按时公开,3,95.5,,",
        "xiaodian,肖旗乡,年度,否,-1,逾期公开,,188,,",
    ]);
    let path = f.dir.join("证据-有错.csv");
    std::fs::write(&path, &bad).unwrap();
    let cli = {
        let mut store = Store::open(&f.dir.join(crate::store::DB_FILE)).unwrap();
        crate::import::import_file(
            &mut store,
            &path,
            2022,
            &crate::testutil::actor("cli"),
            &Default::default(),
            &mut |_| {},
        )
        .unwrap_err()
    };
    let crate::import::ImportError::Invalid { problems, .. } = cli else {
        panic!("{cli}")
    };
    assert!(problems.len() >= 2, "{problems:?}");
    let before = snapshot(&f.dir);
    // Without the CSRF token: refused before anything is read.
    assert_eq!(
        upload(&f.app, &cookie, "", "证据-有错.csv", &bad)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let a = upload(&f.app, &cookie, &csrf, "证据-有错.csv", &bad).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    for p in &problems {
        let shown = p
            .to_string()
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;");
        assert!(a.body.contains(&shown), "page lacks {p}: {}", a.body);
    }
    assert_eq!(snapshot(&f.dir), before, "nothing written");
}

#[tokio::test(flavor = "multi_thread")]
async fn evidence_imported_is_previewed_with_reasons_then_submitted_into_the_outbox() {
    let f = fixture();
    let (cookie, csrf) = login(&f).await;
    let good = csv(&[
        "justice,县司法局,年度,是,0,按时公开,3,95.5,,",
        "xiaodian,肖旗乡,年度,否,1,逾期公开,,88,,",
        "zhaozhuang,赵庄镇,年度,是,0,按时公开,,90,,",
    ]);
    let a = upload(&f.app, &cookie, &csrf, "证据.csv", &good).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let page = get(&f.app, &cookie, "/evidence").await.body;
    assert!(page.contains("已导入 证据.csv"), "{page}");
    assert!(
        page.contains("王科员") && page.contains("sat_rate"),
        "history with the operator"
    );
    let preview = get(&f.app, &cookie, "/scoring?year=2022&round=annual")
        .await
        .body;
    assert!(
        preview.contains("肖旗乡") && preview.contains("签名并提交"),
        "{preview}"
    );
    let before = snapshot(&f.dir);
    let body = format!("csrf={csrf}&year=2022&round=annual");
    let req = Request::post("/scoring/submit")
        .header(header::COOKIE, &cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    let a = send(&f.app, req).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let after = snapshot(&f.dir);
    assert!(
        after.2 > before.2,
        "queued in the outbox: {before:?} → {after:?}"
    );
    let page = get(&f.app, &cookie, "/scoring?year=2022&round=annual")
        .await
        .body;
    assert!(page.contains("已签名并放入发件箱"), "{page}");
}

/// Every form of the console, posted without the CSRF token and with a
/// wrong one: 403, and nothing in the store changes.
#[tokio::test(flavor = "multi_thread")]
async fn every_form_is_refused_without_the_sessions_csrf_token_and_writes_nothing() {
    let f = fixture();
    let (cookie, csrf) = login(&f).await;
    let before = snapshot(&f.dir);
    for token in ["", "0123456789abcdef"] {
        assert_ne!(token, csrf);
        for (path, fields) in [
            ("/sync", "year=2022"),
            ("/deliver", ""),
            ("/scoring/submit", "year=2022&round=annual"),
            ("/logout", ""),
        ] {
            let body = format!("csrf={token}&{fields}");
            let req = Request::post(path)
                .header(header::COOKIE, &cookie)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(body))
                .unwrap();
            let a = send(&f.app, req).await;
            assert_eq!(
                a.status,
                StatusCode::FORBIDDEN,
                "{path} with {token:?}: {}",
                a.body
            );
        }
        let b = "csrf-boundary";
        let body = format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{token}\r\n--{b}\r\nContent-Disposition: form-data; name=\"year\"\r\n\r\n2022\r\n--{b}\r\nContent-Disposition: form-data; name=\"unit\"\r\n\r\njustice\r\n--{b}\r\nContent-Disposition: form-data; name=\"reason\"\r\n\r\n有误\r\n--{b}\r\nContent-Disposition: form-data; name=\"material\"; filename=\"材料.txt\"\r\n\r\n材料\r\n--{b}--\r\n"
        );
        let req = Request::post("/results/object")
            .header(header::COOKIE, &cookie)
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={b}"),
            )
            .body(Body::from(body))
            .unwrap();
        assert_eq!(
            send(&f.app, req).await.status,
            StatusCode::FORBIDDEN,
            "/results/object"
        );
        assert_eq!(
            upload(&f.app, &cookie, token, "证据.csv", &csv(&[]))
                .await
                .status,
            StatusCode::FORBIDDEN,
            "/evidence"
        );
    }
    assert_eq!(snapshot(&f.dir), before, "nothing written");
    // The session survived the refusals (the logout without a token too).
    assert_eq!(get(&f.app, &cookie, "/").await.status, StatusCode::OK);
}

/// A session left idle past the policy's limit is ended: the pages ask
/// for the login link again.
#[tokio::test(flavor = "multi_thread")]
async fn an_idle_session_ends() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicI64, Ordering};
    let wall = Arc::new(AtomicI64::new(1_800_000_000));
    let read = Arc::clone(&wall);
    let f = fixture_at(Arc::new(move || {
        jiff::Timestamp::from_second(read.load(Ordering::SeqCst)).unwrap()
    }));
    let (cookie, _) = login(&f).await;
    assert_eq!(
        get(&f.app, &cookie, "/evidence").await.status,
        StatusCode::OK
    );
    let idle = SessionPolicy::default().idle.as_secs();
    wall.fetch_add(idle + 1, Ordering::SeqCst);
    let a = get(&f.app, &cookie, "/evidence").await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.body);
}
