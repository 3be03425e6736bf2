//! kaohe-web：网页控制台的共用部分（what the hub's and the node's web
//! consoles share）。
//!
//! The consoles themselves are edges in their crates (`kaohe_hub::console`,
//! `kaohe_node::console`), like the CLI and the gRPC server: they call the
//! same library functions the commands call and add no rule. What both need
//! to be a page an official can use — and nothing about the assessment —
//! lives here once:
//!
//! Layout:
//! - [`page`]: the page shell (header, navigation, account, messages, print
//!   styles), the CSRF form field, tables and small pieces every page uses;
//! - [`assets`]: the stylesheet, the one small script and the CJK font, all
//!   compiled into the binary and served under `/assets/` (no CDN: consoles
//!   run on intranets);
//! - [`session`]: server-side sessions that expire (idle and absolute), the
//!   session cookie (HttpOnly, SameSite=Strict, Secure off loopback), the
//!   per-session CSRF token;
//! - [`throttle`]: failed logins slowed per account and per address;
//! - [`fmt`]: dates as 2024年1月8日（星期一）, Beijing times, scores with two
//!   decimals;
//! - [`upload`]: multipart forms read under a size cap;
//! - [`chart`]: a small SVG bar chart writer (no JavaScript library);
//! - [`serve`]: serving a router over HTTP or HTTPS (rustls) until
//!   shutdown, and the rule that plain HTTP is for loopback only.
//!
//! **Architecture Invariant:** nothing here knows units, scores or packs
//! beyond formatting a number: a rule of the scheme never lives in a page.
#![forbid(unsafe_code)]

pub mod assets;
pub mod chart;
pub mod fmt;
pub mod page;
pub mod serve;
pub mod session;
pub mod throttle;
pub mod upload;

pub use session::{Now, system_now};

/// The peer address of a request, inserted by [`serve::serve`] (absent in
/// router tests without a socket).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub std::net::SocketAddr);
