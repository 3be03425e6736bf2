//! 控制台（the hub's web console）：the county office's pages, served by
//! `kaohe hub serve` on its own listener (`[console]` in `hub.toml`).
//!
//! An edge, like [`crate::cli`] and [`crate::server`]: every page reads
//! and every form writes through the same library functions the commands
//! call — [`crate::registry`], [`crate::publish`], [`crate::results`],
//! [`crate::workflow`], [`crate::export`], [`crate::audit`] — and adds no
//! rule. Who may do what is [`Role::may`](crate::accounts::Role::may);
//! every change is audited with the logged-in account as the operator
//! and the hub's clock as the time.
//!
//! Layout: this file holds the state ([`Console`]), the router, the
//! logged-in [`User`] extractor (session, account still enabled, role,
//! CSRF) and the errors every page shares; then one module per section:
//! `login`, `overview` (总览), `roster` (名册), `nodes` (节点), `packs`
//! (规则包), `results` (结果), `unit` (单位), `review` (反馈与复核),
//! `approval` (审定与公布), `outcomes` (结果运用) with `history` (往年结果
//! import), `calendar` (日历), `audit` (审计日志), `accounts` (账户) and
//! `backup` (备份; restore stays a terminal step).
//! Every form posts to its own handler, one per action.
//!
//! **Architecture Invariant:** a POST changes nothing unless the session
//! is live, the account enabled, its role allows the action and the form
//! carries the session's CSRF token; a refused upload writes nothing.

mod accounts;
mod approval;
mod audit;
mod backup;
mod calendar;
mod history;
mod login;
mod nodes;
mod outcomes;
mod overview;
mod packs;
mod results;
mod review;
mod roster;
mod unit;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use kaohe_rulepacks::runtime::Runtime;
use kaohe_web::page::{self, Account, Chrome, Flash, NavItem};
use kaohe_web::session::{SessionPolicy, Sessions};
use kaohe_web::throttle::Throttle;
use kaohe_web::{Now, session};
use maud::{Markup, html};
use rusqlite::Connection;

use crate::accounts::{Permission, Role};
use crate::audit::Actor;
use crate::clock::Clock;
use crate::db;
use crate::results::ConsolidatedYear;

/// The session cookie's name.
pub const COOKIE: &str = "kaohe_hub";
/// The console's address, written into the data directory once it listens.
pub const ADDR_FILE: &str = "console.addr";
/// The largest upload (a roster, a pack and its signatures, material).
pub const MAX_UPLOAD_BYTES: usize = 60 * 1024 * 1024;

const APP: &str = "kaohe 汇总中心控制台";

const NAV: &[NavItem] = &[
    NavItem {
        href: "/",
        label: "总览",
    },
    NavItem {
        href: "/roster",
        label: "名册",
    },
    NavItem {
        href: "/nodes",
        label: "节点",
    },
    NavItem {
        href: "/packs",
        label: "规则包",
    },
    NavItem {
        href: "/results",
        label: "结果",
    },
    NavItem {
        href: "/review",
        label: "反馈与复核",
    },
    NavItem {
        href: "/approval",
        label: "审定与公布",
    },
    NavItem {
        href: "/outcomes",
        label: "结果运用",
    },
    NavItem {
        href: "/calendar",
        label: "日历",
    },
    NavItem {
        href: "/audit",
        label: "审计日志",
    },
    NavItem {
        href: "/accounts",
        label: "账户",
    },
    NavItem {
        href: "/backup",
        label: "备份",
    },
];

/// How to run the console.
#[derive(Clone)]
pub struct ConsoleOptions {
    pub data_dir: PathBuf,
    /// The hub's clock: the time of every audited change (as the gRPC
    /// service stamps commits), also when injected (`--now`).
    pub clock: Clock,
    /// The pack runtime (shared with the gRPC service when serving).
    pub runtime: Runtime,
    /// Secure cookies (HTTPS).
    pub secure: bool,
    pub sessions: SessionPolicy,
    /// The real clock sessions and login throttling run on, injectable in
    /// tests; never the hub's possibly fixed assessment clock.
    pub now: Now,
}

/// Opening the console failed.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error(transparent)]
    Open(#[from] db::OpenError),
}

/// The console's state; cheap to clone.
#[derive(Clone)]
pub struct Console(Arc<Inner>);

struct Inner {
    data_dir: PathBuf,
    /// One connection for the console's reads and writes, used on blocking
    /// threads; SQLite serialises its writes with the gRPC writer's.
    db: Mutex<Connection>,
    runtime: Runtime,
    clock: Clock,
    secure: bool,
    sessions: Sessions<String>,
    throttle: Throttle,
    /// The last consolidated year with the `data_version` it was read at:
    /// pages of one year do not consolidate again until something changed.
    cache: Mutex<Option<(i64, i32, Arc<ConsolidatedYear>)>>,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("data_dir", &self.0.data_dir)
            .finish_non_exhaustive()
    }
}

impl Console {
    pub fn open(options: ConsoleOptions) -> Result<Console, ConsoleError> {
        let conn = db::open_existing(&options.data_dir)?;
        Ok(Console(Arc::new(Inner {
            data_dir: options.data_dir,
            db: Mutex::new(conn),
            runtime: options.runtime,
            clock: options.clock,
            secure: options.secure,
            sessions: Sessions::new(options.sessions, options.now.clone()),
            throttle: Throttle::new(options.now),
            cache: Mutex::new(None),
        })))
    }

    /// Runs `f` on a blocking thread with the console's connection.
    async fn db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection, &Inner) -> Result<T, PageError> + Send + 'static,
    ) -> Result<T, PageError> {
        let inner = Arc::clone(&self.0);
        tokio::task::spawn_blocking(move || {
            let mut conn = inner.db.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut conn, &inner)
        })
        .await
        .map_err(|e| PageError::Internal(format!("后台任务失败（task failed）：{e}")))?
    }
}

impl Inner {
    /// The year consolidated as the database is now (cached until the
    /// database changes).
    fn year(&self, conn: &Connection, year: i32) -> Result<Arc<ConsolidatedYear>, PageError> {
        let version: i64 = conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))
            .map_err(PageError::db)?;
        // `data_version` only moves for other connections' commits; count
        // our own with the total changes too.
        let version = version
            .wrapping_mul(1_000_003)
            .wrapping_add(conn.total_changes() as i64);
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((v, y, c)) = cache.as_ref()
            && *v == version
            && *y == year
        {
            return Ok(Arc::clone(c));
        }
        let c = Arc::new(
            crate::results::consolidate_year(conn, &self.runtime, year)
                .map_err(|e| PageError::Unavailable(e.to_string()))?,
        );
        *cache = Some((version, year, Arc::clone(&c)));
        Ok(c)
    }

    /// The audit actor of a change: the account, at the hub's clock.
    fn actor(&self, user: &User) -> Actor {
        Actor::new(user.name.clone(), self.clock.now())
    }
}

/// The console's routes.
pub fn router(console: Console) -> Router {
    Router::new()
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/", get(overview::page))
        .route("/roster", get(roster::page).post(roster::import))
        .route("/nodes", get(nodes::page).post(nodes::register))
        .route("/nodes/edit", post(nodes::edit))
        .route("/nodes/rotate-key", post(nodes::rotate_key))
        .route("/nodes/revoke", post(nodes::revoke))
        .route("/packs", get(packs::page).post(packs::publish))
        .route("/packs/{pack}/{year}/{version}/rubric", get(packs::rubric))
        .route("/results", get(results::page))
        .route("/units/{year}/{unit}", get(unit::page))
        .route("/units/{year}/{unit}/excuse", post(unit::excuse))
        .route("/units/{year}/{unit}/override", post(unit::override_cap))
        .route("/units/{year}/{unit}/ruling", post(unit::ruling))
        .route("/review", get(review::page))
        .route("/review/notify", post(review::notify))
        .route("/review/object", post(review::object))
        .route("/review/decide", post(review::decide))
        .route("/review/material/{id}/{name}", get(review::material))
        .route("/approval", get(approval::page))
        .route("/approval/approve", post(approval::approve))
        .route("/approval/reopen", post(approval::reopen))
        .route("/approval/publish", post(approval::publish))
        .route("/approval/{year}/export/{file}", get(approval::export))
        .route("/outcomes", get(outcomes::page))
        .route("/outcomes/rectification", post(outcomes::record))
        .route("/history", get(history::page).post(history::import))
        .route("/calendar", get(calendar::page))
        .route("/calendar/import", post(calendar::import))
        .route("/audit", get(audit::page))
        .route("/accounts", get(accounts::page).post(accounts::add))
        .route("/accounts/password", post(accounts::password))
        .route("/accounts/disable", post(accounts::disable))
        .route("/backup", get(backup::page).post(backup::make))
        .route("/backup/file/{name}", get(backup::file))
        .merge(kaohe_web::assets::router())
        .layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES))
        .with_state(console)
}

// ------------------------------------------------------------ the user --

/// The logged-in account of a request: a live session whose account is
/// still enabled. Anything else is sent to the login page.
#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub role: Role,
    token: String,
    csrf: String,
}

impl FromRequestParts<Console> for User {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, c: &Console) -> Result<User, Response> {
        let to_login = |why: &str| {
            let target = format!("/login?why={why}");
            Redirect::to(&target).into_response()
        };
        let Some(token) = session::read_cookie(&parts.headers, COOKIE) else {
            return Err(to_login("none"));
        };
        let Some(s) = c.0.sessions.get(&token) else {
            return Err(to_login("expired"));
        };
        let name = s.principal.clone();
        let account = c
            .db(move |conn, _| crate::accounts::find(conn, &name).map_err(PageError::db))
            .await
            .map_err(IntoResponse::into_response)?;
        match account {
            Some(a) if a.disabled.is_none() => Ok(User {
                name: a.name,
                role: a.role,
                token: s.token,
                csrf: s.csrf,
            }),
            _ => {
                c.0.sessions.remove(&token);
                Err(to_login("disabled"))
            }
        }
    }
}

impl User {
    /// Refuses (403) unless the role allows `p`.
    fn require(&self, p: Permission) -> Result<(), PageError> {
        if self.role.may(p) {
            return Ok(());
        }
        let needed = match p {
            Permission::Read => "任一角色",
            Permission::Review => "审核员或管理员",
            Permission::Administer => "管理员",
        };
        Err(PageError::Forbidden(format!(
            "账号 {}（{}）无权进行此操作：需要{needed}角色（forbidden for this role）",
            self.name, self.role
        )))
    }

    /// Refuses (403) a form without this session's CSRF token.
    fn check_csrf(&self, sent: &str) -> Result<(), PageError> {
        if session::csrf_matches(&self.csrf, sent) {
            Ok(())
        } else {
            Err(PageError::Forbidden(
                "表单令牌缺失或不符，操作未执行：请刷新页面后重试（CSRF token missing or wrong）"
                    .into(),
            ))
        }
    }

    /// A change allowed for the role, from a form of this session.
    fn may_change(&self, p: Permission, csrf: &str) -> Result<(), PageError> {
        self.check_csrf(csrf)?;
        self.require(p)
    }

    /// A multipart form that changes the hub, read whole under
    /// [`MAX_UPLOAD_BYTES`], then refused unless it is this session's and
    /// the role allows `p` — before any of its fields is used.
    async fn read_change(
        &self,
        mp: axum::extract::Multipart,
        p: Permission,
    ) -> Result<kaohe_web::upload::Form, PageError> {
        let form = kaohe_web::upload::read(mp, MAX_UPLOAD_BYTES)
            .await
            .map_err(PageError::invalid)?;
        self.may_change(p, form.text("csrf"))?;
        Ok(form)
    }
}

// ------------------------------------------------------- pages, errors --

/// Why a page could not be shown or a form was refused.
#[derive(Debug)]
pub enum PageError {
    /// 403: role or CSRF.
    Forbidden(String),
    /// 404.
    NotFound(String),
    /// 400/422: the input is wrong; nothing was written.
    Invalid(String),
    /// 503: the year cannot be consolidated yet and the like.
    Unavailable(String),
    /// 500.
    Internal(String),
}

impl PageError {
    fn db(e: rusqlite::Error) -> PageError {
        PageError::Internal(format!("数据库读写失败（database error）：{e}"))
    }

    /// Any library error shown as what is wrong with the input.
    fn invalid(e: impl std::fmt::Display) -> PageError {
        PageError::Invalid(e.to_string())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, text) = match self {
            PageError::Forbidden(t) => (StatusCode::FORBIDDEN, "无权操作", t),
            PageError::NotFound(t) => (StatusCode::NOT_FOUND, "没有找到", t),
            PageError::Invalid(t) => (StatusCode::UNPROCESSABLE_ENTITY, "未能完成", t),
            PageError::Unavailable(t) => (StatusCode::SERVICE_UNAVAILABLE, "暂不可用", t),
            PageError::Internal(t) => {
                tracing::error!("控制台出错（console error）：{t}");
                (StatusCode::INTERNAL_SERVER_ERROR, "出错了", t)
            }
        };
        let chrome = Chrome {
            app: APP,
            nav: NAV,
            current: "",
            account: None,
        };
        let body = html! {
            (page::flash(Flash::Error, &text))
            p { a href="javascript:history.back()" { "返回上一页" } " · " a href="/" { "回到总览" } }
        };
        (status, page::page(&chrome, title, body)).into_response()
    }
}

/// A page in the console's chrome, for `user`, with its pending message.
fn render(c: &Console, user: &User, current: &str, title: &str, body: Markup) -> Response {
    let flash = c.0.sessions.take_flash(&user.token);
    let chrome = Chrome {
        app: APP,
        nav: NAV,
        current,
        account: Some(Account {
            name: &user.name,
            role: user.role.name_zh(),
            csrf: &user.csrf,
            logout: "/logout",
        }),
    };
    let body = html! {
        @if let Some((kind, text)) = flash { (page::flash(kind, &text)) }
        (body)
    };
    (
        [(header::CACHE_CONTROL, "no-store")],
        page::page(&chrome, title, body),
    )
        .into_response()
}

/// After a change: the message kept for the next page, then there.
fn done(c: &Console, user: &User, to: &str, text: impl Into<String>) -> Response {
    c.0.sessions.set_flash(&user.token, Flash::Ok, text);
    Redirect::to(to).into_response()
}

/// The form field every form of `user` carries.
fn csrf(user: &User) -> Markup {
    page::csrf_field(&user.csrf)
}

/// A page's `?year=`, as the year picker sends it.
#[derive(Debug, serde::Deserialize)]
pub(super) struct YearQuery {
    year: Option<i32>,
}

/// `?year=` or the latest year with a roster.
fn pick_year(conn: &Connection, asked: Option<i32>) -> Result<i32, PageError> {
    if let Some(y) = asked {
        return Ok(y);
    }
    crate::registry::units::roster_years(conn)
        .map_err(|e| PageError::Internal(e.to_string()))?
        .last()
        .map(|(y, _)| *y)
        .ok_or_else(|| {
            PageError::Unavailable("尚未导入任何名册：请先在「名册」页导入（no roster yet）".into())
        })
}

/// The year picker shown above a year's pages.
fn year_picker(conn: &Connection, path: &str, year: i32) -> Markup {
    let years: Vec<i32> = crate::registry::units::roster_years(conn)
        .map(|ys| ys.into_iter().map(|(y, _)| y).collect())
        .unwrap_or_default();
    html! {
        form.no-print method="get" action=(path) {
            label.inline { "考核年度 "
                select name="year" onchange="this.form.submit()" {
                    @for y in &years {
                        option value=(y) selected[*y == year] { (y) "年度" }
                    }
                }
            }
            noscript { button type="submit" { "查看" } }
        }
    }
}
