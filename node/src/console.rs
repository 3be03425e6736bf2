//! 控制台（the assessor's web console）：`kaohe node console` serves it on
//! 127.0.0.1 only — the assessor's own PC — and prints a one-time login
//! link; opening it starts a session (HttpOnly, SameSite=Strict cookie)
//! and the link is spent.
//!
//! An edge like [`crate::cli`]: every page calls the library functions the
//! commands call — [`crate::store`], [`crate::template`], [`crate::import`],
//! [`crate::evaluate::score`], [`crate::evaluate::submit`],
//! [`crate::deliver`], [`crate::sync`], [`crate::client`],
//! [`crate::review`], [`crate::rotate`], [`crate::witness`] — and adds no
//! rule. Changes are recorded under the
//! operator the console was started for.
//!
//! Layout: this file holds the state ([`NodeConsole`]), the router, the
//! session extractor, errors and what pages share; then one module per
//! page: `status` (状态: pack, sync, outbox, the hub reachable) with
//! `keys` (its key rotation and log-witness sections), `evidence` (证据:
//! template, upload with every problem cell by cell, one value corrected
//! as `node set` does, history),
//! `scoring` (评分: preview with deduction reasons, submit with a
//! confirmation, delivery), `results` (结果: the hub's results, an
//! objection with material files).
//!
//! **Architecture Invariant:** the console never listens off loopback
//! ([`check_loopback`]); a POST needs the session and its CSRF token.

mod evidence;
mod keys;
mod results;
mod scoring;
mod status;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use kaohe_rulepacks::runtime::Runtime;
use kaohe_web::Now;
use kaohe_web::page::{self, Account, Chrome, Flash, NavItem};
use kaohe_web::session::{self, SessionPolicy, Sessions};
use maud::{Markup, html};

use crate::config::NodeConfig;
use crate::store::{Actor, Store};

/// The session cookie's name.
pub const COOKIE: &str = "kaohe_node";
/// The login link's address, written into the data directory.
pub const ADDR_FILE: &str = "console.addr";
/// The largest upload (a workbook, objection material).
pub const MAX_UPLOAD_BYTES: usize = 40 * 1024 * 1024;

const APP: &str = "kaohe 考核节点控制台";
const NAV: &[NavItem] = &[
    NavItem {
        href: "/",
        label: "状态",
    },
    NavItem {
        href: "/evidence",
        label: "证据",
    },
    NavItem {
        href: "/scoring",
        label: "评分",
    },
    NavItem {
        href: "/results",
        label: "结果",
    },
];

/// The node console refuses any address but loopback.
#[derive(Debug, thiserror::Error)]
#[error(
    "节点控制台只在本机提供：监听地址 {0} 不是 127.0.0.1 或 ::1（the node console serves loopback only）"
)]
pub struct NotLoopback(pub SocketAddr);

/// Loopback only: the console is the assessor's own PC's.
pub fn check_loopback(addr: SocketAddr) -> Result<(), NotLoopback> {
    if addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(NotLoopback(addr))
    }
}

/// How to run the console.
#[derive(Clone)]
pub struct ConsoleOptions {
    pub config: NodeConfig,
    /// Who the console's changes are recorded under.
    pub operator: String,
    pub runtime: Runtime,
    pub sessions: SessionPolicy,
    pub now: Now,
}

/// The console's state; cheap to clone.
#[derive(Clone)]
pub struct NodeConsole(Arc<Inner>);

struct Inner {
    config: NodeConfig,
    operator: String,
    runtime: Runtime,
    sessions: Sessions<()>,
    /// The unspent one-time login token.
    login: Mutex<Option<String>>,
    now: Now,
}

impl std::fmt::Debug for NodeConsole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeConsole")
            .field("node", &self.0.config.name)
            .finish_non_exhaustive()
    }
}

impl NodeConsole {
    /// The console and its one-time login token.
    pub fn new(options: ConsoleOptions) -> (NodeConsole, String) {
        let token = session::random_token();
        let console = NodeConsole(Arc::new(Inner {
            config: options.config,
            operator: options.operator,
            runtime: options.runtime,
            sessions: Sessions::new(options.sessions, options.now.clone()),
            login: Mutex::new(Some(token.clone())),
            now: options.now,
        }));
        (console, token)
    }

    /// The node's evidence store, opened for one request.
    fn store(&self) -> Result<Store, PageError> {
        Store::open(&self.0.config.store_file)
            .map_err(|e| PageError::Internal(format!("打开证据库失败（open the store）：{e}")))
    }

    /// Who acts, now (whole seconds: the history is read by people).
    fn actor(&self) -> Actor {
        let now = (self.0.now)();
        Actor {
            operator: self.0.operator.clone(),
            at: jiff::Timestamp::from_second(now.as_second()).unwrap_or(now),
        }
    }

    /// The node's key, for signed calls and submissions.
    fn key(&self) -> Result<kaohe_proto::SigningKeyPair, PageError> {
        kaohe_proto::SigningKeyPair::load(&self.0.config.key_file)
            .map_err(|e| PageError::Internal(format!("读取节点私钥失败（load the node key）：{e}")))
    }

    /// Runs `f` — work that talks to the hub with the store open — on a
    /// blocking thread with a runtime of its own, as the CLI runs it: the
    /// store and the client's calls are not meant to move between threads.
    async fn with_hub<T: Send + 'static, F>(
        &self,
        f: impl FnOnce(NodeConsole) -> F + Send + 'static,
    ) -> Result<T, PageError>
    where
        F: std::future::Future<Output = Result<T, PageError>>,
    {
        let c = self.clone();
        tokio::task::spawn_blocking(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| {
                    PageError::Internal(format!("启动异步运行时（start a runtime）：{e}"))
                })?;
            rt.block_on(f(c))
        })
        .await
        .map_err(|e| PageError::Internal(format!("后台任务失败（task failed）：{e}")))?
    }
}

/// The console's routes.
pub fn router(console: NodeConsole) -> Router {
    Router::new()
        .route("/login/{token}", get(login))
        .route("/logout", post(logout))
        .route("/", get(status::page))
        .route("/sync", post(status::sync))
        .route("/deliver", post(status::deliver))
        .route("/rotate/prepare", post(keys::prepare))
        .route("/rotate/adopt", post(keys::adopt))
        .route("/witness/resolve", post(keys::resolve))
        .route("/evidence", get(evidence::page).post(evidence::upload))
        .route("/evidence/set", post(evidence::set))
        .route("/evidence/template/{file}", get(evidence::template))
        .route("/scoring", get(scoring::page))
        .route("/scoring/submit", post(scoring::submit))
        .route("/results", get(results::page))
        .route("/results/object", post(results::object))
        .merge(kaohe_web::assets::router())
        .layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES))
        .with_state(console)
}

/// Spends the one-time token: a session starts, the link is dead.
async fn login(State(c): State<NodeConsole>, Path(token): Path<String>) -> Response {
    let ok = {
        let mut slot = c.0.login.lock().unwrap_or_else(PoisonError::into_inner);
        match slot.as_deref() {
            Some(t) if session::csrf_matches(t, &token) => {
                *slot = None;
                true
            }
            _ => false,
        }
    };
    if !ok {
        return PageError::Forbidden(
            "登录链接无效或已用过：请重新运行 kaohe node console 获取新的链接（login link invalid or spent）"
                .into(),
        )
        .into_response();
    }
    let s = c.0.sessions.create(());
    (
        [(
            header::SET_COOKIE,
            session::set_cookie(COOKIE, &s.token, false),
        )],
        Redirect::to("/"),
    )
        .into_response()
}

#[derive(Debug, serde::Deserialize)]
struct Logout {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    State(c): State<NodeConsole>,
    user: User,
    axum::Form(f): axum::Form<Logout>,
) -> Response {
    if let Err(e) = user.check_csrf(&f.csrf) {
        return e.into_response();
    }
    c.0.sessions.remove(&user.token);
    (
        [(header::SET_COOKIE, session::clear_cookie(COOKIE, false))],
        page::page(
            &chrome(None),
            "已退出",
            html! { p { "已退出登录。再次使用请重新运行 kaohe node console。" } },
        ),
    )
        .into_response()
}

/// A live session of this console.
#[derive(Debug, Clone)]
pub struct User {
    token: String,
    csrf: String,
}

impl FromRequestParts<NodeConsole> for User {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, c: &NodeConsole) -> Result<User, Response> {
        let session =
            session::read_cookie(&parts.headers, COOKIE).and_then(|t| c.0.sessions.get(&t));
        match session {
            Some(s) => Ok(User {
                token: s.token,
                csrf: s.csrf,
            }),
            None => Err(PageError::Unauthorized.into_response()),
        }
    }
}

impl User {
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
}

/// Why a page could not be shown or a form was refused.
#[derive(Debug)]
pub enum PageError {
    /// No session: the link must be opened first.
    Unauthorized,
    Forbidden(String),
    NotFound(String),
    Invalid(String),
    Unavailable(String),
    Internal(String),
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PageError::Unauthorized => f.write_str("请先登录"),
            PageError::Forbidden(t)
            | PageError::NotFound(t)
            | PageError::Invalid(t)
            | PageError::Unavailable(t)
            | PageError::Internal(t) => f.write_str(t),
        }
    }
}

impl PageError {
    fn invalid(e: impl std::fmt::Display) -> PageError {
        PageError::Invalid(e.to_string())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, text) = match self {
            PageError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "请先登录",
                "请打开 kaohe node console 显示的一次性登录链接（open the one-time login link）"
                    .to_owned(),
            ),
            PageError::Forbidden(t) => (StatusCode::FORBIDDEN, "无权操作", t),
            PageError::NotFound(t) => (StatusCode::NOT_FOUND, "没有找到", t),
            PageError::Invalid(t) => (StatusCode::UNPROCESSABLE_ENTITY, "未能完成", t),
            PageError::Unavailable(t) => (StatusCode::SERVICE_UNAVAILABLE, "暂不可用", t),
            PageError::Internal(t) => {
                tracing::error!("节点控制台出错（console error）：{t}");
                (StatusCode::INTERNAL_SERVER_ERROR, "出错了", t)
            }
        };
        let body = html! { (page::flash(Flash::Error, &text)) p { a href="/" { "回到状态页" } } };
        (status, page::page(&chrome(None), title, body)).into_response()
    }
}

fn chrome<'a>(account: Option<Account<'a>>) -> Chrome<'a> {
    Chrome {
        app: APP,
        nav: NAV,
        current: "",
        account,
    }
}

/// A page in the console's chrome with its pending message.
fn render(c: &NodeConsole, user: &User, current: &str, title: &str, body: Markup) -> Response {
    let flash = c.0.sessions.take_flash(&user.token);
    let name = format!("{}（{}）", c.0.config.name, c.0.operator);
    let mut chrome = chrome(Some(Account {
        name: &name,
        role: "本机",
        csrf: &user.csrf,
        logout: "/logout",
    }));
    chrome.current = current;
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
fn done(c: &NodeConsole, user: &User, to: &str, kind: Flash, text: impl Into<String>) -> Response {
    c.0.sessions.set_flash(&user.token, kind, text);
    Redirect::to(to).into_response()
}

fn csrf(user: &User) -> Markup {
    page::csrf_field(&user.csrf)
}

/// `?year=` or the latest year with an active pack.
fn pick_year(store: &Store, asked: Option<u16>) -> Result<u16, PageError> {
    if let Some(y) = asked {
        return Ok(y);
    }
    store
        .packs()
        .map_err(|e| PageError::Internal(e.to_string()))?
        .into_iter()
        .filter(|(_, active)| *active)
        .map(|(id, _)| id.year)
        .max()
        .ok_or_else(|| {
            PageError::Unavailable(
                "还没有启用的规则包：请先在「状态」页同步（no active pack: sync first）".into(),
            )
        })
}
