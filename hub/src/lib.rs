//! kaohe-hub：县级汇总中心（the county hub）。
//!
//! The hub keeps the registry of the assessment — who is assessed each year
//! (units), who assesses them (nodes and their delegated scope), which rule
//! pack is in force — in one SQLite database, with an append-only audit log
//! of every change, and knows the working-day calendar that the scheme's
//! deadlines (5 个工作日 to verify a result, 5 to request a review) run on.
//! On top, the hub receives the nodes' signed submissions: it verifies,
//! replays the pack on the evidence, commits and answers with signed
//! receipts ([`ingest`]), over gRPC ([`server`]).
//!
//! Layout:
//! - [`db`]: `DATA_DIR/hub.db` — the schema's migrations, opened, migrated
//!   and checked by [`kaohe_tables::sqlite`] (WAL, `synchronous = FULL`,
//!   foreign keys; a newer database refused untouched; `integrity_check`);
//!   the JSON encoding of a result row's scores and clauses, which ingest
//!   writes and results reads.
//! - [`audit`]: the append-only audit log and the [`Actor`](audit::Actor)
//!   (operator + time) every change carries.
//! - [`registry`]: units per year and their import from Excel/CSV (read by
//!   [`kaohe_tables::sheet`]), nodes and their scopes, rule pack versions,
//!   imported calendar years.
//! - [`calendar`]: statutory holidays and make-up workdays, working-day and
//!   calendar-day deadlines, the Beijing date of an instant. Pure.
//! - [`ingest`]: the submission pipeline — signature, payload, identity
//!   (`verify`), pack, scope, replay, commit (`committer`, against a
//!   registry `snapshot`) — and receipts; the single writer.
//! - [`server`]: an edge — the serve loop, the writer thread, one module
//!   per tonic service, limits and deadlines, signed calls, shutdown.
//! - [`publish`]: verifying and activating a signed pack.
//! - [`progress`]: per-node reporting progress.
//! - [`consolidate`]: the year's accepted results → sheets, grades, rankings,
//!   quarterly leaderboards, tiers, completeness. Pure.
//! - [`outcome`]: letters, warnings, commendations, admonitions and the copy
//!   list from approved results and earlier years. Pure.
//! - [`clock`]: the hub's clock, injectable; [`config`]: `hub.toml`
//!   (pack authorities) and the receipt key.
//! - [`cli`]: an edge — `kaohe hub …`, one module per command (its text
//!   tables are [`kaohe_tables::terminal`]'s).
//! - [`results`]: the year's inputs read from the database, consolidated
//!   with the current pack with its outcomes
//!   ([`consolidate_year`](results::consolidate_year), the one way every
//!   command and call gets a year's results), mapped onto the export model.
//! - [`lock`]: the approval records (every approval of a year kept, one in
//!   force) and [`locked`](lock::locked), the one check that an approved
//!   year refuses a change, naming the approval's 文号.
//! - [`workflow`]: feedback notices with working-day deadlines, objections
//!   and review decisions, excusals and penalty-cap overrides, approval,
//!   reopening (撤销审定), publication, earlier years' results,
//!   rectification plans and reports (整改).
//! - [`export`]: the results workbook, the published notice (PDF, with an
//!   embedded CJK font) and letter drafts (DOCX), and the proof bundles.
//! - [`tlog`]: the year's transparency log — leaves appended with the
//!   events they record (accepted submissions, audit records that shape a
//!   year's result), checkpoints, witnesses' cosignatures, proof bundles.
//!
//! **Architecture Invariant:** [`calendar`], [`consolidate`], [`outcome`] and
//! [`Scope::check`](registry::scope::Scope::check) do no IO and read no
//! clock; "now" enters only at the CLI/server edge as an
//! [`Actor`](audit::Actor).
//!
//! **Architecture Invariant:** [`cli`] and [`server`] are edges: no library
//! module's code names them, and both call the same library functions. No two
//! sibling modules name each other (`.ci/module-cycles.py`).
//!
//! **Architecture Invariant:** every registry change and its audit record
//! commit in the same transaction; the audit log cannot be updated or
//! deleted (triggers raise).
//!
//! **Architecture Invariant:** while a year's approval is in force, nothing
//! that makes its result changes: each writer calls
//! [`lock::locked`] inside its transaction; the only way back is
//! [`workflow::reopen`].
//!
//! **Architecture Invariant:** one thread writes submissions (the
//! [`Committer`](ingest::Committer)); a receipt is built only after the
//! transaction holding its submission committed; a refused submission
//! changes nothing but the audit log.
#![forbid(unsafe_code)]

pub mod audit;
pub mod backup;
pub mod calendar;
pub mod cli;
pub mod clock;
pub mod config;
pub mod consolidate;
pub mod db;
pub mod export;
pub mod ingest;
pub mod lock;
pub mod outcome;
pub mod progress;
pub mod publish;
pub mod registry;
pub mod results;
pub mod server;
pub mod tlog;
pub mod workflow;
