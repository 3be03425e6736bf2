//! 登录与退出：the login form, the login (throttled per account and per
//! address, every attempt audited), the logout.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use kaohe_web::PeerAddr;
use kaohe_web::page::{self, Chrome, Flash};
use kaohe_web::session;
use maud::html;
use serde::Deserialize;

use super::{APP, COOKIE, Console, NAV, PageError, User};
use crate::accounts::{self, LoginError};

#[derive(Debug, Deserialize)]
pub(super) struct Why {
    why: Option<String>,
}

pub(super) async fn form(Query(q): Query<Why>) -> Response {
    let note = match q.why.as_deref() {
        Some("expired") => Some((Flash::Warn, "会话已过期，请重新登录（session expired）")),
        Some("disabled") => Some((Flash::Error, "账号已停用，请联系管理员（account disabled）")),
        Some("out") => Some((Flash::Ok, "已退出登录（logged out）")),
        _ => None,
    };
    login_page(note.map(|(k, t)| (k, t.to_owned())), "")
}

fn login_page(note: Option<(Flash, String)>, name: &str) -> Response {
    let chrome = Chrome {
        app: APP,
        nav: NAV,
        current: "",
        account: None,
    };
    let body = html! {
        div.login {
            @if let Some((kind, text)) = &note { (page::flash(*kind, text)) }
            form.card method="post" action="/login" {
                label for="name" { "账号" }
                input #name type="text" name="name" value=(name) autocomplete="username" required autofocus;
                label for="password" { "密码" }
                input #password type="password" name="password" autocomplete="current-password" required;
                p { button type="submit" { "登录" } }
            }
            p.muted { "账号由管理员用 kaohe hub user add 建立。" }
        }
    };
    let status = match note {
        Some((Flash::Error, _)) => axum::http::StatusCode::UNAUTHORIZED,
        _ => axum::http::StatusCode::OK,
    };
    (status, page::page(&chrome, "登录", body)).into_response()
}

#[derive(Debug, Deserialize)]
pub(super) struct Login {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
}

pub(super) async fn submit(
    State(c): State<Console>,
    peer: Option<axum::Extension<PeerAddr>>,
    Form(f): Form<Login>,
) -> Response {
    let addr = peer.map_or_else(|| "本机进程内".to_owned(), |p| p.0.0.ip().to_string());
    let name = f.name.trim().to_owned();
    let keys = vec![format!("account:{name}"), format!("addr:{addr}")];
    if let Some(wait) = c.0.throttle.wait(&keys) {
        let secs = wait.as_secs().max(1);
        return login_page(
            Some((
                Flash::Error,
                format!(
                    "登录失败次数过多，请 {secs} 秒后再试（too many failed logins; wait {secs} s）"
                ),
            )),
            &name,
        );
    }
    let (n, a) = (name.clone(), addr.clone());
    let outcome = c
        .db(move |conn, inner| {
            let at = inner.clock.now();
            let result = accounts::login(conn, &n, &f.password);
            let why = match &result {
                Ok(_) => Ok(()),
                Err(LoginError::Wrong) => Err("wrong"),
                Err(LoginError::Disabled(_)) => Err("disabled"),
                Err(LoginError::Sqlite(_)) => Err("error"),
            };
            accounts::record_login(conn, &n, at, &a, why).map_err(PageError::db)?;
            Ok(result)
        })
        .await;
    match outcome {
        Ok(Ok(account)) => {
            c.0.throttle.succeeded(&keys[0]);
            let s = c.0.sessions.create(account.name.clone());
            (
                [(
                    header::SET_COOKIE,
                    session::set_cookie(COOKIE, &s.token, c.0.secure),
                )],
                Redirect::to("/"),
            )
                .into_response()
        }
        Ok(Err(e)) => {
            c.0.throttle.failed(&keys);
            login_page(Some((Flash::Error, e.to_string())), &name)
        }
        Err(e) => e.into_response(),
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct Logout {
    #[serde(default)]
    csrf: String,
}

pub(super) async fn logout(
    State(c): State<Console>,
    user: User,
    headers: HeaderMap,
    Form(f): Form<Logout>,
) -> Response {
    if let Err(e) = user.check_csrf(&f.csrf) {
        return e.into_response();
    }
    if let Some(token) = session::read_cookie(&headers, COOKIE) {
        c.0.sessions.remove(&token);
    }
    let name = user.name.clone();
    let _ = c
        .db(move |conn, inner| {
            crate::audit::append(
                conn,
                &crate::audit::Actor::new(name.clone(), inner.clock.now()),
                accounts::action::LOGOUT,
                &name,
                &serde_json::json!({}),
            )
            .map_err(PageError::db)
        })
        .await;
    (
        [(
            header::SET_COOKIE,
            session::clear_cookie(COOKIE, c.0.secure),
        )],
        Redirect::to("/login?why=out"),
    )
        .into_response()
}
