//! The consoles' static files, compiled into the binary: the stylesheet,
//! the one script (a confirmation before a form that asks for one) and the
//! CJK font, so a page renders Chinese on a PC without Chinese fonts and
//! on an intranet without a CDN.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

/// The stylesheet (screen and print).
pub const CSS: &str = include_str!("assets/console.css");
/// The one script.
pub const JS: &str = include_str!("assets/console.js");
/// Noto Serif CJK SC, subset to GB2312 (SIL Open Font License 1.1): the
/// same file the hub typesets its PDF notices in (`hub/assets/fonts/`,
/// licence and provenance there).
pub const CJK_FONT: &[u8] = include_bytes!("../../hub/assets/fonts/NotoSerifCJKsc-GB2312.ttf");

/// Where pages find the stylesheet, script and font. The font's name
/// carries a version: browsers may keep it for a year.
pub const CSS_PATH: &str = "/assets/console-v1.css";
pub const JS_PATH: &str = "/assets/console-v1.js";
pub const FONT_PATH: &str = "/assets/cjk-v1.ttf";

/// `GET` routes for the three files; merge into a console's router.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            CSS_PATH,
            get(|| async { file("text/css; charset=utf-8", CSS.as_bytes()) }),
        )
        .route(
            JS_PATH,
            get(|| async { file("text/javascript; charset=utf-8", JS.as_bytes()) }),
        )
        .route(FONT_PATH, get(|| async { file("font/ttf", CJK_FONT) }))
}

fn file(content_type: &'static str, bytes: &'static [u8]) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        bytes,
    )
}
