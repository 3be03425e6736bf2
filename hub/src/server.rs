//! 服务（serving）：汇总中心的 gRPC 服务。
//!
//! [`Hub::start`] opens the database, loads the receipt key, the pack
//! runtime and the current packs, and starts the **single writer** thread
//! (the [`Committer`](crate::ingest::Committer)); [`Hub::serve`] then answers on a bound listener
//! until `shutdown` resolves. `kaohe hub serve` binds, prints the address
//! (and writes `DATA_DIR/hub.addr`) once the hub is ready, and serves until
//! SIGTERM or ctrl-c.
//!
//! Services:
//! - `SubmissionService`: `Submit` (verify on a blocking thread, commit,
//!   answer with the receipt or the rejection as a status); `SubmitStream`
//!   (read what has arrived, up to [`Limits::chunk`] envelopes, verify the
//!   chunk split over every core, hand it to the writer and go on reading
//!   while it commits; each chunk's outcomes stream back as soon as its
//!   batch is committed, in order; a rejected envelope is an outcome, not
//!   the end of the stream, and so is a message that is not an envelope —
//!   the stream is read through `frames`' codec); `GetReceipt` (signed
//!   call, own digests only).
//! - `PackService`: `ListPacks`, `FetchPack` from the packs table.
//! - `UnitService`: `ListMyUnits` for the calling node.
//! - `ResultService`: `ListResults` and `FileObjection` (`results`).
//! - `LogService`: `GetCheckpoint` and `AddCosignature`, the year's
//!   transparency log for its witnesses (`log`).
//!
//! **Identifying the caller** of `ListMyUnits` and `GetReceipt`: a signed
//! call ([`kaohe_proto::call_auth`]) — the node's key id, its clock and an
//! Ed25519 signature over the method path and that time, checked strictly
//! against the registered key, within five minutes of the hub's clock. It
//! works with and without TLS. With `--client-ca` (mTLS) the client
//! certificate must also name the node: a DNS subject alternative name
//! `<key id>.node.kaohe` ([`NODE_CERT_DOMAIN`]), checked for signed calls
//! and for every submission's signer. With `--client-crl` as well, every
//! call presenting a certificate the CA revoked is refused
//! `UNAUTHENTICATED` ([`ClientCrl`]; the file is re-read when replaced).
//!
//! Limits: every message is bounded (`max_decoding_message_size`
//! = [`MAX_ENVELOPE_MESSAGE_BYTES`](kaohe_proto::model::MAX_ENVELOPE_MESSAGE_BYTES) for envelopes; an oversize one is
//! refused by the transport with `OUT_OF_RANGE` before the hub reads it),
//! concurrent streams per connection and requests per connection are
//! capped, every unary call has a server deadline, a stream that sends
//! nothing for [`Limits::stream_idle`] is ended with `DEADLINE_EXCEEDED`
//! (also one stopped inside a message: that part is never stored), and the
//! writer's queue is bounded (back-pressure instead of memory growth). The
//! two deadlines are set in `hub.toml` `[limits]` ([`Limits::from_config`]).
//!
//! **Hub time**: every response of every service — answers and error
//! statuses alike, the `UNAUTHENTICATED` of a skewed signed call
//! included — carries [`HUB_TIME_METADATA_KEY`](kaohe_proto::call_auth::HUB_TIME_METADATA_KEY) with the
//! hub's [`Clock`] in unix seconds ([`hub_time_layer`]), so that a node
//! signs its next call with the time the hub checks against, also when
//! the hub runs on an injected clock (`--now`, `--clock-offset`).
//!
//! **Shutdown**: when `shutdown` resolves, streams stop reading, every
//! chunk already handed to the writer is committed and its receipts sent,
//! in-flight unary calls finish, then the writer drains its queue, stores
//! the pending signed heads and closes the database.
//!
//! A message that does not decode is refused `INVALID_ARGUMENT` and an
//! oversize one `OUT_OF_RANGE`, both with a Chinese reason
//! ([`wire_status_layer`], [`wire_status`]).
//!
//! Layout: `serve` (starting and serving: [`ServeOptions`], [`Hub`], the
//! address file), `writer` (the single writer thread and its jobs),
//! `frames` (messages read by the hub itself, tonic's refusals in Chinese),
//! `limits` (the bounds and deadlines, the hub-time layer), `auth` (signed
//! calls and client certificates), one module per service —
//! `submissions`, `packs`, `units`, `results`, `log` — and `crl` (the
//! client-certificate revocation list). This file holds what every service
//! handle shares (`Shared`) and the statuses they have in common.

use std::sync::{Arc, Mutex, PoisonError, RwLock};

use kaohe_proto::model;
use kaohe_rulepacks::runtime::Runtime;
use rusqlite::Connection;
use tokio::sync::{mpsc, watch};
use tonic::Status;

use crate::clock::Clock;
use crate::ingest::NodeDirectory;
use crate::ingest::snapshot::ReplayView;

mod auth;
mod crl;
mod frames;
mod limits;
mod log;
mod packs;
mod results;
mod serve;
mod submissions;
mod units;
mod writer;

pub use crl::{ClientCrl, ClientCrlLayer, CrlError};
pub use frames::{Frame, FrameCodec, SUBMIT_STREAM_PATH, wire_status, wire_status_layer};
pub use limits::{Limits, hub_time_layer};
pub use results::FILE_OBJECTION_PATH;
pub use serve::{Hub, ServeError, ServeOptions, TlsFiles, write_addr_file};

/// Client certificates name their node as `<key id>.node.kaohe`.
pub const NODE_CERT_DOMAIN: &str = "node.kaohe";
/// The file, in the data directory, that holds the address the hub serves on.
pub const ADDR_FILE: &str = "hub.addr";

/// What every service handle shares.
#[derive(Clone)]
struct Shared {
    jobs: mpsc::Sender<writer::Job>,
    /// The writer publishes its latest node directory here for verifiers.
    nodes: Arc<RwLock<Arc<NodeDirectory>>>,
    /// And the rosters and packs its snapshot holds, for replay ahead.
    replay: Arc<RwLock<Arc<ReplayView>>>,
    /// A second connection for reads (WAL: never blocks the writer).
    reader: Arc<Mutex<Connection>>,
    /// A connection for writes outside the submission writer (objections,
    /// checkpoints asked for by witnesses, cosignatures); SQLite
    /// serialises it with the writer.
    workflow: Arc<Mutex<Connection>>,
    /// The hub's key: it signs the checkpoints witnesses ask for (the
    /// writer holds its own copy for receipts and batch checkpoints).
    hub_key: kaohe_proto::SigningKeyPair,
    /// The pack runtime (shares the writer's engine and module cache), for
    /// consolidating a year on `ListResults` and `FileObjection`.
    runtime: Runtime,
    clock: Clock,
    limits: Limits,
    mtls: bool,
    shutdown: watch::Receiver<bool>,
}

impl Shared {
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, Status> + Send + 'static,
    ) -> Result<T, Status> {
        let reader = Arc::clone(&self.reader);
        tokio::task::spawn_blocking(move || {
            let conn = reader.lock().unwrap_or_else(PoisonError::into_inner);
            f(&conn)
        })
        .await
        .map_err(|_| Status::internal("读取线程异常（reader failed）"))?
    }
}

fn unavailable() -> Status {
    Status::unavailable(
        "汇总中心正在关闭或存储不可用，未提交任何内容，请稍后重试（hub unavailable; nothing committed, retry later）",
    )
}

fn store_status(e: crate::registry::StoreError) -> Status {
    tracing::error!("{e}");
    Status::unavailable(format!(
        "读取数据库失败，请稍后重试（storage unavailable）：{e}"
    ))
}

fn field_status(e: kaohe_proto::FieldError) -> Status {
    model::Rejection::from(e).to_status()
}
