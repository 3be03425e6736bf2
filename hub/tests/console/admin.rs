//! The console's administration pages: 账户, 日历, 往年结果 and 备份 — each
//! role × each new action (allowed or 403, nothing written), CSRF missing
//! or wrong, bad uploads refused with the commands' own problems and
//! nothing written, the audit rows naming the account, a backup made,
//! listed and downloaded byte for byte.

use kaohe_hub::calendar::format_date_zh;
use kaohe_hub::registry::calendar_years;

use super::*;

/// A year file the effective calendar accepts (a year after the built-in
/// ones), and one with a date outside its year.
const GOOD_YEAR: &str = "year = 2031\nnotice = \"国务院办公厅关于2031年部分节假日安排的通知\"\nurl = \"https://www.gov.cn/\"\n\n[[holiday]]\nname = \"元旦\"\noff = [2031-01-01]\nmake_up_workdays = []\n";
const BAD_YEAR: &str = "year = 2031\nnotice = \"国务院办公厅关于2031年部分节假日安排的通知\"\nurl = \"https://www.gov.cn/\"\n\n[[holiday]]\nname = \"元旦\"\noff = [2030-02-30]\nmake_up_workdays = []\n";

const GOOD_HISTORY: &str = "单位编号,年度,总分,等次\nt1,2021,95,优秀\nt2,2021,95.5,excellent\n";
const BAD_HISTORY: &str =
    "单位编号,年度,总分,等次\nt1,2021,95,优秀\nt2,2021,95.5,特优\nt3,二〇二一,,优秀\n";

fn escaped(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn backups(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("backups"))
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Everything a refused action must leave as it was: the database and
/// the backups folder.
fn state(dir: &Path) -> (BTreeMap<String, Vec<String>>, usize, Vec<String>) {
    (dump_dir(dir), audit_actions(dir).len(), backups(dir))
}

/// The pages: 日历 and 往年结果 for every role; 账户 and 备份 for the
/// administrator only.
#[tokio::test]
async fn the_administration_pages_answer_by_role() {
    let f = fixture();
    for (name, admin) in [("admin", true), ("reviewer", false), ("reader", false)] {
        let b = browser(&f.app, name).await;
        for (page, expect) in [
            ("/calendar?year=2023", "2023 年 国务院办公厅"),
            ("/history?year=2022", "往年结果"),
        ] {
            let a = get(&f.app, Some(&b), page).await;
            assert_eq!(a.status, StatusCode::OK, "{name} {page}: {}", a.body);
            assert!(a.body.contains(expect), "{name} {page}: {}", a.body);
            // Only the administrator gets the import forms.
            assert_eq!(a.body.contains("enctype"), admin, "{name} {page}");
        }
        for (page, expect) in [
            ("/accounts", "控制台账号"),
            ("/backup", "恢复（须在终端进行）"),
        ] {
            let a = get(&f.app, Some(&b), page).await;
            if admin {
                assert_eq!(a.status, StatusCode::OK, "{page}: {}", a.body);
                assert!(a.body.contains(expect), "{page}: {}", a.body);
            } else {
                assert_eq!(a.status, StatusCode::FORBIDDEN, "{name} {page}");
                assert!(a.body.contains("无权进行此操作"), "{}", a.body);
            }
        }
    }
    let b = browser(&f.app, "admin").await;
    let accounts = get(&f.app, Some(&b), "/accounts").await.body;
    for want in ["reviewer", "审核员", "只读", "有效"] {
        assert!(accounts.contains(want), "accounts lack {want}: {accounts}");
    }
    // The restore is a terminal step, with the exact command.
    let backup = get(&f.app, Some(&b), "/backup").await.body;
    assert!(
        backup.contains("restore --from") && backup.contains("hub-receipt.key"),
        "{backup}"
    );
    // The navigation names the new sections.
    for label in ["日历", "账户", "备份"] {
        assert!(backup.contains(label), "nav lacks {label}");
    }
}

/// Each new action for each role: the administrator's go through (and are
/// audited under its name); the others' answer 403 and write nothing.
#[tokio::test]
async fn each_administration_action_is_the_administrators_and_audited_with_the_account() {
    let f = fixture();
    let actions = [
        "account.add",
        "account.password",
        "account.disable",
        "calendar.import",
        "history.import",
        "backup",
    ];
    for name in ["reader", "reviewer", "admin"] {
        let b = browser(&f.app, name).await;
        for action in actions {
            let before = state(&f.s.dir);
            let c = b.csrf.as_str();
            let new_name = format!("clerk-{name}");
            let a = match action {
                "account.add" => {
                    post_form(
                        &f.app,
                        &b,
                        "/accounts",
                        &[
                            ("csrf", c),
                            ("name", &new_name),
                            ("role", "reviewer"),
                            ("password", "a long password 1"),
                            ("password2", "a long password 1"),
                        ],
                    )
                    .await
                }
                "account.password" => {
                    post_form(
                        &f.app,
                        &b,
                        "/accounts/password",
                        &[
                            ("csrf", c),
                            ("name", "reader"),
                            ("password", PASSWORD),
                            ("password2", PASSWORD),
                        ],
                    )
                    .await
                }
                "account.disable" => {
                    post_form(
                        &f.app,
                        &b,
                        "/accounts/disable",
                        &[("csrf", c), ("name", "clerk-admin"), ("reason", "调离")],
                    )
                    .await
                }
                "calendar.import" => {
                    post_multipart(
                        &f.app,
                        &b,
                        "/calendar/import",
                        &[("csrf", c)],
                        &[("file", "2031.toml", GOOD_YEAR.as_bytes())],
                    )
                    .await
                }
                "history.import" => {
                    post_multipart(
                        &f.app,
                        &b,
                        "/history",
                        &[("csrf", c), ("year", "2022")],
                        &[("file", "往年结果.csv", GOOD_HISTORY.as_bytes())],
                    )
                    .await
                }
                "backup" => post_form(&f.app, &b, "/backup", &[("csrf", c)]).await,
                _ => unreachable!(),
            };
            if name == "admin" {
                assert_eq!(a.status, StatusCode::SEE_OTHER, "{action}: {}", a.body);
                let next = get(&f.app, Some(&b), &a.location).await;
                assert!(next.body.contains("flash ok"), "{action}: {}", next.body);
            } else {
                assert_eq!(a.status, StatusCode::FORBIDDEN, "{name} {action}");
                assert!(a.body.contains("无权进行此操作"), "{}", a.body);
                assert_eq!(state(&f.s.dir), before, "{name} {action} wrote something");
            }
        }
    }
    let audited = audit_actions(&f.s.dir);
    for action in [
        "account.add",
        "account.password",
        "account.disable",
        "calendar.import",
        "history.import",
        "hub.backup",
    ] {
        assert!(
            audited.iter().any(|(o, a)| o == "admin" && a == action),
            "admin {action} not audited: {audited:?}"
        );
    }
    // What was done is there: the account, disabled; the year; the history; the backup.
    let conn = db::open_existing(&f.s.dir).unwrap();
    let clerk = accounts::find(&conn, "clerk-admin").unwrap().unwrap();
    assert_eq!(clerk.role, Role::Reviewer);
    assert!(clerk.disabled.is_some());
    assert!(
        calendar_years::effective_calendar(&conn)
            .unwrap()
            .covers(2031)
    );
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM history_results", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 2);
    assert_eq!(backups(&f.s.dir).len(), 1);
    // The new account logs in with the password typed twice.
    assert_eq!(
        login(&f.app, "clerk-reviewer", "a long password 1")
            .await
            .status,
        StatusCode::UNAUTHORIZED,
        "only the administrator's add went through"
    );
}

/// The new forms refuse a missing or another session's CSRF token and
/// write nothing.
#[tokio::test]
async fn the_administration_forms_refuse_a_missing_or_wrong_csrf_token() {
    let f = fixture();
    let admin = browser(&f.app, "admin").await;
    let other = browser(&f.app, "reviewer").await;
    let before = state(&f.s.dir);
    for csrf in ["", other.csrf.as_str(), "forged"] {
        for (path, fields) in [
            (
                "/accounts",
                vec![
                    ("name", "x1"),
                    ("role", "admin"),
                    ("password", PASSWORD),
                    ("password2", PASSWORD),
                ],
            ),
            (
                "/accounts/password",
                vec![
                    ("name", "reader"),
                    ("password", "another password 9"),
                    ("password2", "another password 9"),
                ],
            ),
            (
                "/accounts/disable",
                vec![("name", "reader"), ("reason", "调离")],
            ),
            ("/backup", vec![]),
        ] {
            let mut fields = fields;
            fields.push(("csrf", csrf));
            let a = post_form(&f.app, &admin, path, &fields).await;
            assert_eq!(a.status, StatusCode::FORBIDDEN, "{path} {csrf:?}");
            assert!(a.body.contains("表单令牌"), "{}", a.body);
        }
        for (path, file, bytes) in [
            ("/calendar/import", "2031.toml", GOOD_YEAR),
            ("/history", "往年结果.csv", GOOD_HISTORY),
        ] {
            let a = post_multipart(
                &f.app,
                &admin,
                path,
                &[("csrf", csrf), ("year", "2022")],
                &[("file", file, bytes.as_bytes())],
            )
            .await;
            assert_eq!(a.status, StatusCode::FORBIDDEN, "{path} {csrf:?}");
        }
    }
    assert_eq!(state(&f.s.dir), before);
}

/// Accounts as `kaohe hub user` keeps them: the password rules, the two
/// entries agreeing, one's own account never disabled from the console.
#[tokio::test]
async fn account_forms_keep_the_commands_rules_and_write_nothing_when_refused() {
    let f = fixture();
    let b = browser(&f.app, "admin").await;
    let before = state(&f.s.dir);
    for (path, fields, why) in [
        (
            "/accounts",
            vec![
                ("name", "li"),
                ("role", "reviewer"),
                ("password", "a long password 1"),
                ("password2", "a long password 2"),
            ],
            "两次输入的密码不一致".to_owned(),
        ),
        (
            "/accounts",
            vec![
                ("name", "li"),
                ("role", "reviewer"),
                ("password", "short"),
                ("password2", "short"),
            ],
            accounts::AccountError::WeakPassword.to_string(),
        ),
        (
            "/accounts",
            vec![
                ("name", "reader"),
                ("role", "reviewer"),
                ("password", PASSWORD),
                ("password2", PASSWORD),
            ],
            accounts::AccountError::Exists("reader".into()).to_string(),
        ),
        (
            "/accounts",
            vec![
                ("name", "li"),
                ("role", "boss"),
                ("password", PASSWORD),
                ("password2", PASSWORD),
            ],
            "未知角色".to_owned(),
        ),
        (
            "/accounts/password",
            vec![
                ("name", "nobody"),
                ("password", PASSWORD),
                ("password2", PASSWORD),
            ],
            accounts::AccountError::NotFound("nobody".into()).to_string(),
        ),
        (
            "/accounts/disable",
            vec![("name", "admin"), ("reason", "调离")],
            accounts::AccountError::OwnAccount("admin".into()).to_string(),
        ),
        (
            "/accounts/disable",
            vec![("name", "reader"), ("reason", " ")],
            accounts::AccountError::NoReason.to_string(),
        ),
    ] {
        let mut fields = fields;
        fields.push(("csrf", &b.csrf));
        let a = post_form(&f.app, &b, path, &fields).await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {why}");
        assert!(
            a.body.contains(&escaped(&why)),
            "{path} lacks {why}: {}",
            a.body
        );
    }
    assert_eq!(state(&f.s.dir), before);

    // A reset password works at the next login, the old one no longer.
    let a = post_form(
        &f.app,
        &b,
        "/accounts/password",
        &[
            ("csrf", &b.csrf),
            ("name", "reader"),
            ("password", "reset password 42"),
            ("password2", "reset password 42"),
        ],
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(
        login(&f.app, "reader", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&f.app, "reader", "reset password 42").await.status,
        StatusCode::SEE_OTHER
    );
    // The list shows the last login, from the audit log: only the
    // reviewer never logged in here.
    let page = get(&f.app, Some(&b), "/accounts").await.body;
    assert_eq!(page.matches("从未登录").count(), 1, "{page}");
}

/// A year file with a mistake is refused with the message `kaohe hub
/// calendar import` gives, the calendar untouched; a deadline is computed
/// as `kaohe hub calendar deadline` computes it.
#[tokio::test]
async fn a_bad_calendar_file_is_refused_as_the_cli_refuses_it_and_deadlines_are_the_clis() {
    let f = fixture();
    let b = browser(&f.app, "admin").await;
    let cli_err = {
        let mut conn = db::open_existing(&f.s.dir).unwrap();
        calendar_years::import_calendar_year(&mut conn, BAD_YEAR, &actor(START)).unwrap_err()
    };
    let before = state(&f.s.dir);
    let a = post_multipart(
        &f.app,
        &b,
        "/calendar/import",
        &[("csrf", &b.csrf)],
        &[("file", "2031.toml", BAD_YEAR.as_bytes())],
    )
    .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert!(
        a.body.contains(&escaped(&cli_err.to_string())),
        "page lacks {cli_err}: {}",
        a.body
    );
    assert!(a.body.contains("日历未作任何改动"), "{}", a.body);
    // Not UTF-8: refused too.
    let a = post_multipart(
        &f.app,
        &b,
        "/calendar/import",
        &[("csrf", &b.csrf)],
        &[("file", "2031.toml", b"year = \xff")],
    )
    .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("不是 UTF-8 编码"), "{}", a.body);
    assert_eq!(state(&f.s.dir), before);

    // The deadline of the command, in working days and in calendar days.
    let conn = db::open_existing(&f.s.dir).unwrap();
    let calendar = calendar_years::effective_calendar(&conn).unwrap();
    let from = jiff::civil::date(2022, 9, 30);
    let working = calendar.add_working_days(from, 5).unwrap();
    let natural = calendar.deadline_after_days(from, 5).unwrap();
    let a = get(
        &f.app,
        Some(&b),
        "/calendar?year=2022&from=2022-09-30&days=5",
    )
    .await;
    let want = format!(
        "自 {} 起 5 个工作日（当日不计），期限为 {}",
        format_date_zh(from),
        format_date_zh(working)
    );
    assert!(a.body.contains(&want), "lacks {want}: {}", a.body);
    let a = get(
        &f.app,
        Some(&b),
        "/calendar?year=2022&from=2022-09-30&days=5&natural=1",
    )
    .await;
    assert!(
        a.body.contains(&format_date_zh(natural)) && a.body.contains("期满日为休息日的顺延"),
        "{}",
        a.body
    );
    // The 国庆 holiday as `calendar show` describes it.
    assert!(a.body.contains("国庆节"), "{}", a.body);
    let a = get(&f.app, Some(&b), "/calendar?year=2022&from=昨天&days=5").await;
    assert!(a.body.contains("不是日期"), "{}", a.body);
}

/// Earlier years' results with mistakes are refused whole: the page lists
/// the problems `kaohe hub history import` gives for the same file, by
/// row and column, and nothing is written.
#[tokio::test]
async fn a_bad_history_file_is_refused_with_the_clis_problems_and_nothing_written() {
    let f = fixture();
    let b = browser(&f.app, "admin").await;
    let file = f.s.dir.join("往年结果-有误.csv");
    std::fs::write(&file, BAD_HISTORY).unwrap();
    let cli_err = {
        let mut conn = db::open_existing(&f.s.dir).unwrap();
        let data =
            kaohe_hub::results::load_year(&conn, &Runtime::new(small_runtime()).unwrap(), 2022)
                .unwrap();
        kaohe_hub::workflow::history::import_history_file(
            &mut conn,
            &file,
            data.manifest(),
            &actor(START),
        )
        .unwrap_err()
    };
    let kaohe_hub::workflow::history::HistoryImportError::Invalid(problems) = cli_err else {
        panic!("{cli_err}");
    };
    assert!(problems.len() >= 2, "{problems:?}");
    std::fs::remove_file(&file).unwrap();
    let before = state(&f.s.dir);
    let a = post_multipart(
        &f.app,
        &b,
        "/history",
        &[("csrf", &b.csrf), ("year", "2022")],
        &[("file", "往年结果-有误.csv", BAD_HISTORY.as_bytes())],
    )
    .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    for p in &problems {
        assert!(a.body.contains(&escaped(p)), "page lacks {p}: {}", a.body);
    }
    assert!(a.body.contains("未写入任何数据"), "{}", a.body);
    // An old .xls is named, not read.
    let a = post_multipart(
        &f.app,
        &b,
        "/history",
        &[("csrf", &b.csrf), ("year", "2022")],
        &[("file", "往年结果.xls", b"\xd0\xcf\x11\xe0")],
    )
    .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert!(a.body.contains(".xls"), "{}", a.body);
    assert_eq!(state(&f.s.dir), before);
    // The good file goes in, and the page counts the year.
    let a = post_multipart(
        &f.app,
        &b,
        "/history",
        &[("csrf", &b.csrf), ("year", "2022")],
        &[("file", "往年结果.csv", GOOD_HISTORY.as_bytes())],
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let page = get(&f.app, Some(&b), "/history?year=2022").await.body;
    assert!(page.contains("已导入往年考核结果 2 条"), "{page}");
    assert!(page.contains("2021年"), "{page}");
}

/// A backup made from the console is the command's: written under
/// `backups/`, integrity-checked, audited; listed and downloaded byte for
/// byte; a name outside the folder is not served.
#[tokio::test]
async fn a_backup_is_made_listed_and_downloaded_and_nothing_else_is_served() {
    let f = fixture();
    let b = browser(&f.app, "admin").await;
    let a = post_form(&f.app, &b, "/backup", &[("csrf", &b.csrf)]).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let page = get(&f.app, Some(&b), "/backup").await.body;
    assert!(
        page.contains("SHA-256") && page.contains("完整性检查通过"),
        "{page}"
    );
    // Two in the same second of the hub's (fixed) clock: both kept.
    let a = post_form(&f.app, &b, "/backup", &[("csrf", &b.csrf)]).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let names = backups(&f.s.dir);
    assert_eq!(names.len(), 2, "{names:?}");
    let page = get(&f.app, Some(&b), "/backup").await.body;
    for name in &names {
        assert!(page.contains(name.as_str()), "{page}");
    }
    let name = &names[0];
    let stored = std::fs::read(f.s.dir.join("backups").join(name)).unwrap();
    let res = f
        .app
        .clone()
        .oneshot(
            Request::get(format!("/backup/file/{name}"))
                .header(header::COOKIE, &b.cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 30)
        .await
        .unwrap();
    assert_eq!(bytes.as_ref(), stored.as_slice());
    // The copy is a database of the same schema.
    let copy = rusqlite::Connection::open(f.s.dir.join("backups").join(name)).unwrap();
    let v: u32 = copy
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, db::SCHEMA_VERSION);
    for bad in ["..%2Fhub.db", "hub.db", "nothing.db", ".hidden.db"] {
        let a = get(&f.app, Some(&b), &format!("/backup/file/{bad}")).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{bad}");
    }
    let reader = browser(&f.app, "reader").await;
    let a = get(&f.app, Some(&reader), &format!("/backup/file/{name}")).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let audited = audit_actions(&f.s.dir);
    assert_eq!(
        audited
            .iter()
            .filter(|(o, a)| o == "admin" && a == "hub.backup")
            .count(),
        2
    );
}
