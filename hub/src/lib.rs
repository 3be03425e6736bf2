//! kaohe-hub：县级汇总中心（the county hub）。
//!
//! The hub keeps the registry of the assessment — who is assessed each year
//! (units), who assesses them (nodes and their delegated scope), which rule
//! pack is in force — in one SQLite database, with an append-only audit log
//! of every change, and knows the working-day calendar that the scheme's
//! deadlines (5 个工作日 to verify a result, 5 to request a review) run on.
//! Verification, storage of submissions, consolidation and ranking build on
//! this foundation.
//!
//! Layout:
//! - [`db`]: opening `DATA_DIR/hub.db` — WAL, `synchronous = FULL`, foreign
//!   keys, busy timeout; schema migrations by `PRAGMA user_version`; a newer
//!   database is refused untouched; `integrity_check`.
//! - [`audit`]: the append-only audit log and the [`Actor`](audit::Actor)
//!   (operator + time) every change carries.
//! - [`registry`]: units per year and their import from Excel/CSV, nodes and
//!   their scopes, rule pack versions, imported calendar years.
//! - [`calendar`]: statutory holidays and make-up workdays, working-day and
//!   calendar-day deadlines. Pure.
//! - [`cli`]: `kaohe hub …`.
//! - [`table`]: CJK-aligned text tables for the CLI.
//!
//! **Architecture Invariant:** [`calendar`] and
//! [`Scope::check`](registry::scope::Scope::check) do no IO and read no
//! clock; "now" enters only at the CLI/server edge as an
//! [`Actor`](audit::Actor).
//!
//! **Architecture Invariant:** every registry change and its audit record
//! commit in the same transaction; the audit log cannot be updated or
//! deleted (triggers raise).
#![forbid(unsafe_code)]

pub mod audit;
pub mod calendar;
pub mod cli;
pub mod db;
pub mod registry;
pub mod table;
