//! The web console's router, without a socket (`tower::ServiceExt::oneshot`),
//! over the county of `setup()` with the townships' reports accepted: every
//! page for every role; each action for each role, allowed or 403 with
//! nothing written; CSRF missing or wrong; session expiry; failed logins
//! slowed and audited; a bad roster upload refused with the same problems
//! the CLI gives, nothing written.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use kaohe_hub::accounts::{self, Role};
use kaohe_hub::console::{self, Console, ConsoleOptions};
use kaohe_web::session::SessionPolicy;
use tower::ServiceExt as _;

mod admin;

use super::workflow::two_townships_reported;
use super::*;

const PASSWORD: &str = "correct horse battery";
/// The console's hub clock: Beijing 10:00 on 2022-10-19, while the
/// notices can be sent and reviewed.
const HUB_NOW: &str = "2022-10-19T02:00:00Z";

struct Fixture {
    s: Setup,
    app: Router,
    /// The real clock of sessions and throttling, moved by tests.
    wall: Arc<AtomicI64>,
}

fn fixture() -> Fixture {
    let (s, _) = two_townships_reported();
    let mut conn = db::open_existing(&s.dir).unwrap();
    for (name, role) in [
        ("admin", Role::Admin),
        ("reviewer", Role::Reviewer),
        ("reader", Role::ReadOnly),
    ] {
        accounts::add(&mut conn, name, role, PASSWORD, &actor(START)).unwrap();
    }
    let wall = Arc::new(AtomicI64::new(1_800_000_000));
    let read = Arc::clone(&wall);
    let console = Console::open(ConsoleOptions {
        data_dir: s.dir.clone(),
        clock: Clock::Fixed(HUB_NOW.parse().unwrap()),
        runtime: Runtime::new(small_runtime()).unwrap(),
        secure: false,
        sessions: SessionPolicy {
            idle: jiff::SignedDuration::from_mins(30),
            absolute: jiff::SignedDuration::from_hours(10),
        },
        now: Arc::new(move || Timestamp::from_second(read.load(Ordering::SeqCst)).unwrap()),
    })
    .unwrap();
    Fixture {
        s,
        app: console::router(console),
        wall,
    }
}

/// A logged-in browser: its cookie and the session's CSRF token.
#[derive(Clone)]
struct Browser {
    cookie: String,
    csrf: String,
}

struct Answer {
    status: StatusCode,
    location: String,
    set_cookie: String,
    body: String,
}

async fn send(app: &Router, req: Request<Body>) -> Answer {
    let res = app.clone().oneshot(req).await.unwrap();
    let h = |name| {
        res.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let (status, location, set_cookie) = (res.status(), h(header::LOCATION), h(header::SET_COOKIE));
    let bytes = axum::body::to_bytes(res.into_body(), 64 << 20)
        .await
        .unwrap();
    Answer {
        status,
        location,
        set_cookie,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

async fn get(app: &Router, b: Option<&Browser>, path: &str) -> Answer {
    let mut req = Request::get(path);
    if let Some(b) = b {
        req = req.header(header::COOKIE, &b.cookie);
    }
    send(app, req.body(Body::empty()).unwrap()).await
}

async fn post_form(app: &Router, b: &Browser, path: &str, fields: &[(&str, &str)]) -> Answer {
    let body = serde_urlencoded::to_string(fields).unwrap();
    let req = Request::post(path)
        .header(header::COOKIE, &b.cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    send(app, req).await
}

/// A multipart form: text fields and (field, file name, bytes) files.
async fn post_multipart(
    app: &Router,
    b: &Browser,
    path: &str,
    fields: &[(&str, &str)],
    files: &[(&str, &str, &[u8])],
) -> Answer {
    let boundary = "kaohe-test-boundary-7d1f";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    for (k, name, bytes) in files {
        body.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").as_bytes());
    let req = Request::post(path)
        .header(header::COOKIE, &b.cookie)
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(Body::from(body))
        .unwrap();
    send(app, req).await
}

async fn login(app: &Router, name: &str, password: &str) -> Answer {
    let body = serde_urlencoded::to_string([("name", name), ("password", password)]).unwrap();
    let req = Request::post("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    send(app, req).await
}

async fn browser(app: &Router, name: &str) -> Browser {
    let a = login(app, name, PASSWORD).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let cookie = a.set_cookie.split(';').next().unwrap().to_owned();
    let mut b = Browser {
        cookie,
        csrf: String::new(),
    };
    let page = get(app, Some(&b), "/results?year=2022").await;
    b.csrf = csrf_in(&page.body);
    b
}

fn csrf_in(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with the CSRF field")
        + 19;
    html[at..].split('"').next().unwrap().to_owned()
}

fn audit_actions(dir: &Path) -> Vec<(String, String)> {
    let conn = db::open_existing(dir).unwrap();
    kaohe_hub::audit::recent(&conn, 1000)
        .unwrap()
        .into_iter()
        .map(|r| (r.operator, r.action))
        .collect()
}

fn dump_dir(dir: &Path) -> BTreeMap<String, Vec<String>> {
    dump(&db::open_existing(dir).unwrap())
}

const PAGES: [(&str, &str); 12] = [
    ("/", "上报进度"),
    ("/roster?year=2022", "2022 年度名册"),
    ("/nodes", "已登记节点"),
    ("/packs", "已发布的规则包"),
    ("/results?year=2022", "名次"),
    ("/units/2022/t2", "扣分、加分原因"),
    ("/review?year=2022", "复核申请"),
    ("/approval?year=2022", "尚未审定"),
    ("/outcomes?year=2022", "结果运用"),
    ("/audit", "审计日志"),
    ("/audit?account=测试员&action=units.", "units.import"),
    ("/packs/abi-demo/2022/1/rubric", "<!DOCTYPE html>"),
];

/// Every page answers every role, in Chinese, dates with the weekday; a
/// request without a session goes to the login page.
#[tokio::test]
async fn every_page_renders_for_every_role_and_none_without_a_login() {
    let f = fixture();
    for (page, _) in PAGES {
        let a = get(&f.app, None, page).await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{page}");
        assert!(a.location.starts_with("/login"), "{page}: {}", a.location);
    }
    for name in ["admin", "reviewer", "reader"] {
        let b = browser(&f.app, name).await;
        for (page, expect) in PAGES {
            let a = get(&f.app, Some(&b), page).await;
            assert_eq!(a.status, StatusCode::OK, "{name} {page}: {}", a.body);
            assert!(
                a.body.contains(expect),
                "{name} {page} lacks {expect}: {}",
                a.body
            );
        }
    }
    let b = browser(&f.app, "reader").await;
    // The unit page: every score, the deduction's reason, the signer, the receipt.
    let unit = get(&f.app, Some(&b), "/units/2022/t2").await.body;
    for want in [
        "专题学习少于2次，扣2分",
        "甲节点",
        "回执：第",
        "现行",
        "（星期",
    ] {
        assert!(unit.contains(want), "unit page lacks {want}: {unit}");
    }
    // The ranking: t1 first, t2 second, totals with two decimals.
    let results = get(&f.app, Some(&b), "/results?year=2022").await.body;
    let (t1, t2) = (
        results.find("肖旗乡").unwrap(),
        results.find("大营镇").unwrap(),
    );
    assert!(t1 < t2 && results.contains("100.00"), "{results}");
    assert!(
        results.contains("未考核单位") && results.contains("县司法局"),
        "{results}"
    );
    // Assets are served from the binary.
    for path in [kaohe_web::assets::CSS_PATH, kaohe_web::assets::FONT_PATH] {
        let a = get(&f.app, None, path).await;
        assert_eq!(a.status, StatusCode::OK, "{path}");
    }
}

/// Each action for each role: allowed ones are not refused for the role
/// (they succeed or fail on the data, never 403); forbidden ones answer
/// 403 and write nothing, not even to the audit log.
#[tokio::test]
async fn each_action_is_allowed_or_refused_by_role_and_refusals_write_nothing() {
    let f = fixture();
    // Categories are checked against the year's pack, which has townships only.
    let roster_csv = "单位编号,单位名称,类别,上级单位,主管部门,考核主体\nt1,肖旗乡,township,,,依法治县办\nt2,大营镇,township,,,依法治县办\nd1,杨庄镇,township,,,依法治县办\n";
    // (action, who may: admin, reviewer, reader)
    type Act = (&'static str, [bool; 3]);
    let actions: [Act; 15] = [
        ("roster", [true, false, false]),
        ("node.add", [true, false, false]),
        ("node.edit", [true, false, false]),
        ("node.rotate", [true, false, false]),
        ("node.revoke", [true, false, false]),
        ("pack.publish", [true, false, false]),
        ("notify", [true, false, false]),
        ("object", [true, false, false]),
        ("decide", [true, true, false]),
        ("excuse", [true, true, false]),
        ("override", [true, true, false]),
        ("ruling", [true, true, false]),
        ("approve", [true, false, false]),
        ("reopen", [true, false, false]),
        ("rectification", [true, false, false]),
    ];
    for (who, name) in ["admin", "reviewer", "reader"]
        .into_iter()
        .enumerate()
        .rev()
    {
        let b = browser(&f.app, name).await;
        for (action, may) in actions {
            let before = (dump_dir(&f.s.dir), audit_actions(&f.s.dir).len());
            let c = b.csrf.as_str();
            let a = match action {
                "roster" => {
                    post_multipart(
                        &f.app,
                        &b,
                        "/roster",
                        &[("csrf", c), ("year", "2022")],
                        &[("file", "名册.csv", roster_csv.as_bytes())],
                    )
                    .await
                }
                "node.add" => {
                    post_form(
                        &f.app,
                        &b,
                        "/nodes",
                        &[
                            ("csrf", c),
                            ("name", "丁节点"),
                            ("assessor", "township"),
                            ("assessor_unit", "t1"),
                            ("key", &node_key(9).public().to_string()),
                            ("categories", "township"),
                            ("methods", "daily"),
                            ("years", "2022"),
                        ],
                    )
                    .await
                }
                "node.edit" => {
                    post_form(
                        &f.app,
                        &b,
                        "/nodes/edit",
                        &[
                            ("csrf", c),
                            ("node", "丙节点"),
                            ("categories", "township"),
                            ("methods", "daily"),
                            ("years", "2022,2023,2024"),
                            ("reason", "增加2024年度"),
                        ],
                    )
                    .await
                }
                "node.rotate" => {
                    post_form(
                        &f.app,
                        &b,
                        "/nodes/rotate-key",
                        &[
                            ("csrf", c),
                            ("node", "丙节点"),
                            ("key", &node_key(8).public().to_string()),
                            ("reason", "密钥到期更换"),
                        ],
                    )
                    .await
                }
                "node.revoke" => {
                    post_form(
                        &f.app,
                        &b,
                        "/nodes/revoke",
                        &[("csrf", c), ("node", "乙节点"), ("reason", "测试")],
                    )
                    .await
                }
                "pack.publish" => {
                    post_multipart(
                        &f.app,
                        &b,
                        "/packs",
                        &[("csrf", c)],
                        &[("module", "p.wasm", b"\0asm"), ("sig", "p.wasm.sig", b"x")],
                    )
                    .await
                }
                "notify" => {
                    post_form(
                        &f.app,
                        &b,
                        "/review/notify",
                        &[("csrf", c), ("year", "2022"), ("units", "t2")],
                    )
                    .await
                }
                "object" => {
                    post_multipart(
                        &f.app,
                        &b,
                        "/review/object",
                        &[
                            ("csrf", c),
                            ("year", "2022"),
                            ("unit", "t2"),
                            ("reason", "学习记录漏报"),
                        ],
                        &[("material", "记录.txt", "三次学习的签到表".as_bytes())],
                    )
                    .await
                }
                "decide" => {
                    post_form(
                        &f.app,
                        &b,
                        "/review/decide",
                        &[
                            ("csrf", c),
                            ("year", "2022"),
                            ("unit", "t2"),
                            ("decision", "upheld"),
                            ("reason", "经核实维持"),
                        ],
                    )
                    .await
                }
                "excuse" => {
                    post_form(
                        &f.app,
                        &b,
                        "/units/2022/d1/excuse",
                        &[("csrf", c), ("reason", "机构改革")],
                    )
                    .await
                }
                "override" => {
                    post_form(
                        &f.app,
                        &b,
                        "/units/2022/t1/override",
                        &[("csrf", c), ("cap", "12.5"), ("reason", "情节特别严重")],
                    )
                    .await
                }
                "approve" => {
                    post_form(
                        &f.app,
                        &b,
                        "/approval/approve",
                        &[
                            ("csrf", c),
                            ("year", "2022"),
                            ("doc_number", "宝法治办〔2022〕9号"),
                        ],
                    )
                    .await
                }
                "ruling" => {
                    post_form(
                        &f.app,
                        &b,
                        "/units/2022/t1/ruling",
                        &[
                            ("csrf", c),
                            ("method", "daily"),
                            ("round", "annual"),
                            ("node", "甲节点"),
                            ("reason", "只有一份上报"),
                        ],
                    )
                    .await
                }
                "reopen" => {
                    post_form(
                        &f.app,
                        &b,
                        "/approval/reopen",
                        &[("csrf", c), ("year", "2022"), ("reason", "复核后更正")],
                    )
                    .await
                }
                "rectification" => {
                    post_multipart(
                        &f.app,
                        &b,
                        "/outcomes/rectification",
                        &[
                            ("csrf", c),
                            ("year", "2022"),
                            ("unit", "t2"),
                            ("kind", "plan"),
                        ],
                        &[("file", "整改方案.docx", b"plan")],
                    )
                    .await
                }
                _ => unreachable!(),
            };
            if may[who] {
                assert_ne!(
                    a.status,
                    StatusCode::FORBIDDEN,
                    "{name} may {action}: {}",
                    a.body
                );
            } else {
                assert_eq!(
                    a.status,
                    StatusCode::FORBIDDEN,
                    "{name} may not {action}: {}",
                    a.body
                );
                assert!(a.body.contains("无权进行此操作"), "{}", a.body);
                assert_eq!(
                    (dump_dir(&f.s.dir), audit_actions(&f.s.dir).len()),
                    before,
                    "{name} {action} wrote something"
                );
            }
        }
    }
    // What the administrator and the reviewer did is audited under their accounts.
    let audited = audit_actions(&f.s.dir);
    // (The reviewer went first: its decision found no objection yet.)
    for (operator, action) in [
        ("admin", "units.import"),
        ("admin", "node.add"),
        ("admin", "node.edit"),
        ("admin", "node.rotate_key"),
        ("admin", "node.revoke"),
        ("admin", "results.notify"),
        ("admin", "review.object"),
        ("admin", "review.decide"),
        ("admin", "results.approve"),
        ("admin", "results.reopen"),
        ("admin", "rectification.plan"),
        ("reviewer", "decision.excuse"),
        ("reviewer", "decision.override"),
    ] {
        assert!(
            audited.iter().any(|(o, a)| o == operator && a == action),
            "{operator} {action} not audited: {audited:?}"
        );
    }
}

/// A form without the session's CSRF token, or with another session's,
/// is refused and writes nothing.
#[tokio::test]
async fn a_form_without_or_with_a_wrong_csrf_token_is_refused_and_writes_nothing() {
    let f = fixture();
    let admin = browser(&f.app, "admin").await;
    let other = browser(&f.app, "reviewer").await;
    let before = (dump_dir(&f.s.dir), audit_actions(&f.s.dir));
    for csrf in ["", other.csrf.as_str(), "forged"] {
        let a = post_form(
            &f.app,
            &admin,
            "/units/2022/d1/excuse",
            &[("csrf", csrf), ("reason", "机构改革")],
        )
        .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{csrf:?}");
        assert!(a.body.contains("表单令牌"), "{}", a.body);
        let a = post_multipart(
            &f.app,
            &admin,
            "/roster",
            &[("csrf", csrf), ("year", "2022")],
            &[("file", "名册.csv", b"x")],
        )
        .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{csrf:?}");
    }
    let a = post_form(
        &f.app,
        &admin,
        "/units/2022/d1/excuse",
        &[("reason", "机构改革")],
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "no csrf field at all");
    assert_eq!((dump_dir(&f.s.dir), audit_actions(&f.s.dir)), before);
    // The right token works.
    let a = post_form(
        &f.app,
        &admin,
        "/units/2022/d1/excuse",
        &[("csrf", &admin.csrf), ("reason", "机构改革")],
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
}

/// Sessions end after 30 minutes idle and at logout; a disabled account's
/// session ends at its next request.
#[tokio::test]
async fn sessions_expire_end_at_logout_and_with_a_disabled_account() {
    let f = fixture();
    let b = browser(&f.app, "reader").await;
    f.wall.fetch_add(29 * 60, Ordering::SeqCst);
    assert_eq!(get(&f.app, Some(&b), "/").await.status, StatusCode::OK);
    f.wall.fetch_add(30 * 60, Ordering::SeqCst);
    let a = get(&f.app, Some(&b), "/").await;
    assert_eq!(
        (a.status, a.location.as_str()),
        (StatusCode::SEE_OTHER, "/login?why=expired")
    );
    assert!(
        get(&f.app, None, "/login?why=expired")
            .await
            .body
            .contains("会话已过期")
    );

    let b = browser(&f.app, "reader").await;
    let a = post_form(&f.app, &b, "/logout", &[("csrf", &b.csrf)]).await;
    assert!(a.set_cookie.contains("Max-Age=0"), "{}", a.set_cookie);
    assert_eq!(
        get(&f.app, Some(&b), "/").await.status,
        StatusCode::SEE_OTHER
    );

    let b = browser(&f.app, "reviewer").await;
    let mut conn = db::open_existing(&f.s.dir).unwrap();
    accounts::disable(&mut conn, "reviewer", "调离", &actor(START)).unwrap();
    let a = get(&f.app, Some(&b), "/").await;
    assert_eq!(a.location, "/login?why=disabled");
    assert_eq!(
        login(&f.app, "reviewer", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
}

/// The session cookie is HttpOnly and SameSite=Strict (Secure when served
/// over HTTPS); failed logins are audited and, after three, slowed per
/// account and per address.
#[tokio::test]
async fn logins_set_a_strict_cookie_and_failures_are_slowed_and_audited() {
    let f = fixture();
    let a = login(&f.app, "admin", PASSWORD).await;
    assert!(a.set_cookie.starts_with("kaohe_hub="), "{}", a.set_cookie);
    assert!(a.set_cookie.contains("HttpOnly") && a.set_cookie.contains("SameSite=Strict"));
    assert!(!a.set_cookie.contains("Secure"), "plain HTTP in the test");
    for _ in 0..3 {
        let a = login(&f.app, "admin", "wrong password").await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
        assert!(a.body.contains("账号或密码不正确"), "{}", a.body);
    }
    // Slowed: even the right password waits now.
    let a = login(&f.app, "admin", PASSWORD).await;
    assert!(a.body.contains("秒后再试"), "{}", a.body);
    assert!(a.set_cookie.is_empty());
    f.wall.fetch_add(2, Ordering::SeqCst);
    assert_eq!(
        login(&f.app, "admin", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    let failed = audit_actions(&f.s.dir)
        .into_iter()
        .filter(|(o, a)| o == "admin" && a == accounts::action::LOGIN_FAILED)
        .count();
    assert_eq!(failed, 3);
}

/// A roster with mistakes is refused whole: the page lists the same
/// problems `kaohe hub units import` gives for the same file (sheet, row,
/// column), and nothing is written.
#[tokio::test]
async fn a_bad_roster_upload_is_refused_with_the_clis_problems_and_nothing_written() {
    let f = fixture();
    let b = browser(&f.app, "admin").await;
    let bad = "单位编号,单位名称,类别,上级单位,主管部门,考核主体\nt1,肖旗乡,township,,,依法治县办\nt1,肖旗乡,township,,,依法治县办\nt9,,township,,,依法治县办\n";
    let file = f.s.dir.join("名册-有错.csv");
    std::fs::write(&file, bad).unwrap();
    let cli_err = {
        let mut conn = db::open_existing(&f.s.dir).unwrap();
        kaohe_hub::registry::import::import_units_file(&mut conn, &file, 2022, None, &actor(START))
            .unwrap_err()
    };
    let problems: Vec<String> = cli_err.problems().iter().map(ToString::to_string).collect();
    assert!(problems.len() >= 2, "{problems:?}");
    let before = (dump_dir(&f.s.dir), audit_actions(&f.s.dir));
    let a = post_multipart(
        &f.app,
        &b,
        "/roster",
        &[("csrf", &b.csrf), ("year", "2022")],
        &[("file", "名册-有错.csv", bad.as_bytes())],
    )
    .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    for p in &problems {
        let escaped = p
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;");
        assert!(a.body.contains(&escaped), "page lacks {p}: {}", a.body);
    }
    assert!(a.body.contains("未作任何改动"), "{}", a.body);
    assert_eq!((dump_dir(&f.s.dir), audit_actions(&f.s.dir)), before);
}
