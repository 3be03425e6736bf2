//! The page shell every console page is drawn in, and the small pieces
//! pages share: messages, problem lists, the CSRF field, a confirmation
//! form, a download link.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use crate::assets;

/// One entry of the navigation bar.
#[derive(Debug, Clone, Copy)]
pub struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
}

/// What frames a page: the console's name, its navigation and who is
/// logged in.
#[derive(Debug, Clone)]
pub struct Chrome<'a> {
    /// `kaohe 汇总中心控制台`.
    pub app: &'a str,
    pub nav: &'a [NavItem],
    /// The `href` of the current section, highlighted.
    pub current: &'a str,
    /// The account and its role, with the logout form's CSRF token.
    pub account: Option<Account<'a>>,
}

/// Who is logged in, shown top right.
#[derive(Debug, Clone, Copy)]
pub struct Account<'a> {
    pub name: &'a str,
    pub role: &'a str,
    pub csrf: &'a str,
    /// Where the logout form posts.
    pub logout: &'a str,
}

/// A whole page.
pub fn page(chrome: &Chrome<'_>, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) "｜" (chrome.app) }
                link rel="stylesheet" href=(assets::CSS_PATH);
                script src=(assets::JS_PATH) defer {}
            }
            body {
                header.top {
                    span.app { (chrome.app) }
                    @if chrome.account.is_some() {
                        nav {
                            @for item in chrome.nav {
                                a href=(item.href) class=[(item.href == chrome.current).then_some("current")] { (item.label) }
                            }
                        }
                    }
                    @if let Some(a) = chrome.account {
                        div.account {
                            span { (a.name) "（" (a.role) "）" }
                            form.inline method="post" action=(a.logout) {
                                (csrf_field(a.csrf))
                                button type="submit" { "退出登录" }
                            }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
                footer { "kaohe 考核 · " (chrome.app) }
            }
        }
    }
}

/// The hidden field every form carries.
pub fn csrf_field(token: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(token); }
}

/// The kinds of message a page shows above its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flash {
    Ok,
    Error,
    Warn,
}

/// A message box.
pub fn flash(kind: Flash, text: &str) -> Markup {
    let class = match kind {
        Flash::Ok => "flash ok",
        Flash::Error => "flash error",
        Flash::Warn => "flash warn",
    };
    html! { div class=(class) role="status" { (text) } }
}

/// Every problem of a refused file, one per line, as the CLI lists them.
pub fn problems(title: &str, lines: &[String]) -> Markup {
    html! {
        div.flash.error role="alert" { (title) }
        ul.problems {
            @for l in lines { li { (l) } }
        }
    }
}

/// A table with a header row; cells are markup.
pub fn table(head: &[&str], rows: impl IntoIterator<Item = Vec<Markup>>) -> Markup {
    html! {
        table {
            thead { tr { @for h in head { th { (h) } } } }
            tbody {
                @for row in rows {
                    tr { @for cell in row { td { (cell) } } }
                }
            }
        }
    }
}

/// A file to download under `file_name` (any script: RFC 5987 encoded),
/// never cached.
pub fn download(content_type: &str, file_name: &str, bytes: Vec<u8>) -> Response {
    download_body(content_type, file_name, axum::body::Body::from(bytes))
}

/// [`download`] of a body that may be streamed (a large file read in
/// chunks).
pub fn download_body(content_type: &str, file_name: &str, body: axum::body::Body) -> Response {
    let encoded: String = file_name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename*=UTF-8''{encoded}"),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response()
}
