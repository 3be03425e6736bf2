//! kaohe-node：考核节点（the assessor's node, `kaohe node …`）。
//!
//! An assessor — the county office (依法治县办), the county SASAC (国资局),
//! the health commission (卫健委), a township or a county unit — runs a node:
//! it holds the evidence of the units it assesses in SQLite, gives officials
//! an Excel/CSV template generated from the year's rule pack, imports the
//! filled template all-or-nothing, evaluates its units with the pack, and
//! signs each result into a durable outbox for delivery to the county hub.
//!
//! Layout:
//! - [`config`]: `node.toml` — hub address, TLS trust, deadlines
//!   ([`config::Timeouts`]), pinned pack-authority keys and threshold,
//!   name, assessor; checked before anything connects (`config/parse`,
//!   `files`, `problems`, `render`);
//! - [`init`]: `kaohe node init` — data directory, Ed25519 key (0600),
//!   config, store;
//! - [`store`]: `node.db` — WAL, `synchronous = FULL`, `user_version`
//!   migrations; one module per table group owning its SQL: `scope`,
//!   `packs`, `evidence` (with its change history), `evaluations` (a
//!   submit's [`store::Queue`]), `outbox`;
//! - [`value`]: exact decimal text → hundredths per field type (no floats);
//! - [`pack`]: `kaohe node pack install` — k-of-n authority signatures,
//!   no rollback, sandbox load, then activation;
//! - [`layout`]: which sheets, columns and cells a year's template has, shared
//!   by template and import;
//! - [`template`]: `kaohe node template` — the `.xlsx` (validation, locked
//!   unit columns, notes sheet) and CSV templates;
//! - [`import`]: `kaohe node import` / `set` — every problem at once, then one
//!   transaction (`import/problem`, `check` with `check/columns` and
//!   `check/row`, `set`);
//! - [`evaluate`]: ABI inputs from stored evidence, [`evaluate::evaluate_units`]
//!   (the wasm pack, or any [`kaohe_rulepacks::pack::Evaluator`]),
//!   per-method results; `evaluate/submit` signs and queues, `summary`
//!   renders;
//! - [`outbox`]: the outbox's rules, pure — the state machine, the order
//!   entries leave in ([`outbox::plan_claim`]), retry times, the receipt
//!   check; the store applies them;
//! - [`tls`]: the rustls connector to the hub — `hub.ca_cert` only, the
//!   client certificate, the county CA's CRL;
//! - [`client`]: the gRPC connection to the hub — through [`tls`], deadlines
//!   on every call, signed calls that follow the hub's clock;
//! - [`review`]: `kaohe node results` and `object` — the hub's results as
//!   tables, objection material (one file, or several bundled as a zip);
//! - [`sync`]: `kaohe node sync` — packs (verified k of n, never rolled
//!   back), the delegated scope, then witnessing;
//! - [`witness`]: the hub's year logs witnessed on every sync — a
//!   checkpoint consistent with the last one stored is kept and cosigned;
//!   an inconsistent one is kept with it as evidence and stops delivery
//!   until an official resolves it;
//! - [`deliver`]: one delivery pass — claim in order, `SubmitStream`,
//!   record each chunk's outcomes as they arrive, backoff for the rest;
//! - [`standing`]: why a unit in scope is not assessed yet — each required
//!   report not delegated here, not submitted, pending or refused (pure,
//!   offline; `kaohe node status`);
//! - [`rotate`]: `kaohe node rotate-key` — the next key made beside the
//!   current one, adopted once the hub registered it (outbox delivered,
//!   sequence untouched);
//! - [`cli`]: `kaohe node …`, one file per command under `cli/`; the only
//!   place with `anyhow`, the clock and the terminal.
//!
//! Reading the officials' `.xlsx` / CSV files (size and zip caps, formulas
//! kept as formulas, hidden sheets never read), opening and migrating
//! `node.db`, and the CLI's text tables are [`kaohe_tables`]'s, shared with
//! the hub.
//!
//! **Architecture Invariant:** only [`store`] runs SQL; the connection is
//! private to it, and its modules depend on [`outbox`]'s rules, never the
//! reverse. No two modules of this crate name each other
//! (`.ci/module-cycles.py`): `config` is plain data that `tls` and
//! `client` are built from.
//!
//! **Architecture Invariant:** evidence values are integers (hundredths)
//! from the moment a cell is read; no `f64` reaches the store or the pack.
//!
//! **Architecture Invariant:** an import or a `set` writes in one SQLite
//! transaction after every check passed; a rejected file changes nothing.
//!
//! **Architecture Invariant:** an envelope enters the outbox in the same
//! transaction as the evaluation it carries and the sequence number it
//! uses; neither outbox entries nor evaluations are ever deleted.
//!
//! **Architecture Invariant:** an entry becomes `accepted` only with a
//! receipt that verified offline against the pinned hub receipt key, stored
//! in the same transaction; an entry computed under a pack that is no
//! longer its year's active pack is never sent; a newer entry never leaves
//! before an older pending one of the same unit, year and round.
//!
//! **Architecture Invariant:** a node cosigns a checkpoint of the hub's log
//! only after checking it extends the last one it stored; it never
//! replaces a stored checkpoint with an inconsistent one, and never
//! delivers while an inconsistency is unresolved.
//!
//! **Architecture Invariant:** the node's clock decides nothing the hub
//! relies on: order is by sequence number, lateness by the hub's clock,
//! and signed calls are signed with the hub's time as last reported.
#![forbid(unsafe_code)]

pub mod cli;
pub mod client;
pub mod config;
pub mod deliver;
pub mod evaluate;
pub mod import;
pub mod init;
pub mod layout;
pub mod outbox;
pub mod pack;
pub mod review;
pub mod rotate;
pub mod standing;
pub mod store;
pub mod sync;
pub mod template;
pub mod tls;
pub mod value;
pub mod witness;

#[cfg(test)]
mod testutil;
