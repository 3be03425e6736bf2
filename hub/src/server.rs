//! 服务（serving）：汇总中心的 gRPC 服务。
//!
//! [`Hub::start`] opens the database, loads the receipt key, the pack
//! runtime and the current packs, and starts the **single writer** thread
//! (the [`Committer`]); [`Hub::serve`] then answers on a bound listener
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
//!   the end of the stream); `GetReceipt` (signed call, own digests only).
//! - `PackService`: `ListPacks`, `FetchPack` from the packs table.
//! - `UnitService`: `ListMyUnits` for the calling node.
//! - `ResultService`: `ListResults` and `FileObjection` ([`results`]).
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
//! = [`MAX_ENVELOPE_MESSAGE_BYTES`] for envelopes; an oversize one is
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
//! included — carries [`call_auth::HUB_TIME_METADATA_KEY`] with the
//! hub's [`Clock`] in unix seconds ([`HubTimeLayer`]), so that a node
//! signs its next call with the time the hub checks against, also when
//! the hub runs on an injected clock (`--now`, `--clock-offset`).
//!
//! **Shutdown**: when `shutdown` resolves, streams stop reading, every
//! chunk already handed to the writer is committed and its receipts sent,
//! in-flight unary calls finish, then the writer drains its queue, stores
//! the pending signed heads and closes the database.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use kaohe_proto::call_auth::{self, CallCredentials};
use kaohe_proto::keys::KeyId;
use kaohe_proto::model::{
    self, FetchPackRequest, FetchedPack, GetReceiptRequest, ListMyUnitsRequest,
    ListMyUnitsResponse, ListPacksRequest, ListPacksResponse, MAX_ENVELOPE_MESSAGE_BYTES,
    MAX_FETCH_PACK_MESSAGE_BYTES, ReceiptChunk, SubmitOutcome,
};
use kaohe_proto::pb::pack_service_server::{PackService, PackServiceServer};
use kaohe_proto::pb::result_service_server::ResultServiceServer;
use kaohe_proto::pb::submission_service_server::{SubmissionService, SubmissionServiceServer};
use kaohe_proto::pb::unit_service_server::{UnitService, UnitServiceServer};
use kaohe_proto::{Envelope, pb};
use kaohe_rulepacks::runtime::{Runtime, RuntimeConfig};
use rusqlite::Connection;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::transport::{Certificate, CertificateDer, Identity, Server, ServerTlsConfig};
use tonic::{Request, Response, Status, Streaming};

use crate::clock::Clock;
use crate::config;
use crate::db;
use crate::ingest::store::StoredReceipt;
use crate::ingest::{Candidate, Committer, NodeDirectory, PeerIdentity};
use crate::registry::nodes::{self, NodeRecord, NodeState};
use crate::registry::packs;
use crate::registry::units;

mod crl;
mod results;
pub use crl::{ClientCrl, ClientCrlLayer, CrlError};
pub use results::FILE_OBJECTION_PATH;

/// Client certificates name their node as `<key id>.node.kaohe`.
pub const NODE_CERT_DOMAIN: &str = "node.kaohe";
/// The file, in the data directory, that holds the address the hub serves on.
pub const ADDR_FILE: &str = "hub.addr";

/// Bounds on what the server accepts and holds.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Server deadline of a unary call.
    pub call_timeout: Duration,
    /// A stream that sends nothing for this long is ended.
    pub stream_idle: Duration,
    /// Most envelopes verified and committed as one chunk of a stream.
    pub chunk: usize,
    /// Most envelopes the writer commits in one transaction.
    pub max_batch: usize,
    /// Requests waiting for the writer before callers wait.
    pub queue: usize,
    /// Requests served at once on one connection.
    pub per_connection: usize,
    /// HTTP/2 streams open at once on one connection.
    pub max_streams: u32,
    /// Threads verifying one chunk in parallel.
    pub verify_workers: usize,
}

impl Limits {
    /// The defaults with what `hub.toml` `[limits]` sets (checked when the
    /// file was loaded).
    pub fn from_config(config: &config::LimitsConfig) -> Limits {
        let mut limits = Limits::default();
        if let Some(t) = config.call_timeout() {
            limits.call_timeout = t;
        }
        if let Some(t) = config.stream_idle() {
            limits.stream_idle = t;
        }
        limits
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            call_timeout: Duration::from_secs(30),
            stream_idle: Duration::from_secs(120),
            chunk: 512,
            max_batch: 4096,
            queue: 64,
            per_connection: 64,
            max_streams: 64,
            verify_workers: std::thread::available_parallelism()
                .map(usize::from)
                .unwrap_or(2),
        }
    }
}

/// TLS material, PEM.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// With it, clients must present a certificate issued by this CA (mTLS).
    pub client_ca: Option<PathBuf>,
    /// The CA's certificate revocation list (PEM or DER); only with
    /// `client_ca`. A call presenting a listed certificate is refused
    /// ([`ClientCrl`]).
    pub client_crl: Option<PathBuf>,
}

/// How to run the hub.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub data_dir: PathBuf,
    pub clock: Clock,
    pub tls: Option<TlsFiles>,
    pub limits: Limits,
    pub runtime: RuntimeConfig,
}

impl ServeOptions {
    /// Defaults for a data directory.
    pub fn new(data_dir: impl Into<PathBuf>, clock: Clock) -> ServeOptions {
        ServeOptions {
            data_dir: data_dir.into(),
            clock,
            tls: None,
            limits: Limits::default(),
            runtime: RuntimeConfig::default(),
        }
    }
}

/// Starting or running the hub failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Open(#[from] db::OpenError),
    #[error("读取回执签名密钥失败，请先运行 kaohe hub init（cannot load the receipt key）：{0}")]
    Key(#[from] kaohe_proto::KeyError),
    #[error("规则包运行环境无法启动（cannot start the pack runtime）：{0}")]
    Runtime(#[from] kaohe_rulepacks::runtime::RuntimeError),
    #[error("读取登记数据失败（cannot read the registry）：{0}")]
    Store(#[from] crate::registry::StoreError),
    #[error("读取 TLS 文件 {path} 失败（cannot read TLS file）：{source}")]
    TlsFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Crl(#[from] CrlError),
    #[error("gRPC 服务出错（transport error）：{0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("写入地址文件 {path} 失败（cannot write address file）：{source}")]
    AddrFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("提交线程异常退出（the writer thread panicked）")]
    WriterPanicked,
}

/// A started hub: the writer runs; not yet serving.
pub struct Hub {
    shared: Shared,
    writer: std::thread::JoinHandle<()>,
    tls: Option<ServerTlsConfig>,
    mtls: bool,
    /// The client CRL checked on every call (mTLS with `client_crl`).
    crl: Option<Arc<ClientCrl>>,
    shutdown_tx: watch::Sender<bool>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").finish_non_exhaustive()
    }
}

/// The writer's answer to a chunk: its outcomes, or why nothing committed.
type CommitReply = oneshot::Sender<Result<Vec<SubmitOutcome>, String>>;

enum Job {
    Commit {
        candidates: Vec<Candidate>,
        reply: CommitReply,
    },
    Receipt {
        digest: kaohe_proto::Digest,
        reply: oneshot::Sender<Result<Option<StoredReceipt>, String>>,
    },
}

/// What every service handle shares.
#[derive(Clone)]
struct Shared {
    jobs: mpsc::Sender<Job>,
    /// The writer publishes its latest node directory here for verifiers.
    nodes: Arc<RwLock<Arc<NodeDirectory>>>,
    /// A second connection for reads (WAL: never blocks the writer).
    reader: Arc<Mutex<Connection>>,
    /// A connection for workflow writes (objections), outside the
    /// submission writer; SQLite serialises it with the writer.
    workflow: Arc<Mutex<Connection>>,
    /// The pack runtime (shares the writer's engine and module cache), for
    /// consolidating a year on `ListResults` and `FileObjection`.
    runtime: Runtime,
    clock: Clock,
    limits: Limits,
    mtls: bool,
    shutdown: watch::Receiver<bool>,
}

impl Hub {
    /// Opens everything and starts the writer thread. Loading the current
    /// packs (compiling them) happens here, before anything is served.
    pub fn start(options: ServeOptions) -> Result<Hub, ServeError> {
        let conn = db::open_existing(&options.data_dir)?;
        let reader = db::open_existing(&options.data_dir)?;
        let key = config::load_receipt_key(&options.data_dir)?;
        let workflow = db::open_existing(&options.data_dir)?;
        let runtime = Runtime::new(options.runtime.clone())?;
        let mut committer = Committer::new(conn, runtime.clone(), key, options.clock.clone())?;
        let nodes = Arc::new(RwLock::new(committer.nodes()));
        let (jobs, rx) = mpsc::channel(options.limits.queue.max(1));
        let published = Arc::clone(&nodes);
        let max_batch = options.limits.max_batch.max(1);
        let writer = std::thread::Builder::new()
            .name("kaohe-writer".to_owned())
            .spawn(move || writer_loop(&mut committer, rx, &published, max_batch))
            .map_err(|_| ServeError::WriterPanicked)?;
        let (tls, mtls, crl) = match &options.tls {
            Some(files) => {
                let read = |path: &Path| {
                    std::fs::read(path).map_err(|source| ServeError::TlsFile {
                        path: path.to_owned(),
                        source,
                    })
                };
                let mut config = ServerTlsConfig::new()
                    .identity(Identity::from_pem(read(&files.cert)?, read(&files.key)?));
                let mut crl = None;
                match (&files.client_ca, &files.client_crl) {
                    (Some(ca), crl_path) => {
                        let pem = read(ca)?;
                        if let Some(path) = crl_path {
                            crl = Some(Arc::new(ClientCrl::load(path, ca, &pem)?));
                        }
                        config = config.client_ca_root(Certificate::from_pem(pem));
                    }
                    (None, Some(path)) => {
                        return Err(CrlError::WithoutCa { path: path.clone() }.into());
                    }
                    (None, None) => {}
                }
                (Some(config), files.client_ca.is_some(), crl)
            }
            None => (None, false, None),
        };
        let (shutdown_tx, shutdown) = watch::channel(false);
        Ok(Hub {
            shared: Shared {
                jobs,
                nodes,
                reader: Arc::new(Mutex::new(reader)),
                workflow: Arc::new(Mutex::new(workflow)),
                runtime,
                clock: options.clock,
                limits: options.limits,
                mtls,
                shutdown,
            },
            writer,
            tls,
            mtls,
            crl,
            shutdown_tx,
        })
    }

    /// Serves on `listener` until `shutdown` resolves, then finishes what
    /// was handed to the writer and stops it.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ServeError> {
        let Hub {
            shared,
            writer,
            tls,
            mtls: _,
            crl,
            shutdown_tx,
        } = self;
        let limits = shared.limits.clone();
        let mut builder = Server::builder()
            .layer(HubTimeLayer::new(shared.clock.clone()))
            // Inside the hub-time layer: a refusal carries the hub's time too.
            .layer(ClientCrlLayer::new(crl))
            .timeout(limits.call_timeout)
            .concurrency_limit_per_connection(limits.per_connection)
            .max_concurrent_streams(limits.max_streams)
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .http2_keepalive_timeout(Some(Duration::from_secs(20)))
            .tcp_nodelay(true);
        if let Some(tls) = tls {
            builder = builder.tls_config(tls)?;
        }
        let signal = async move {
            shutdown.await;
            // Streams stop reading; what they handed over still commits.
            let _ = shutdown_tx.send(true);
        };
        let result = builder
            .add_service(
                SubmissionServiceServer::new(shared.clone())
                    .max_decoding_message_size(MAX_ENVELOPE_MESSAGE_BYTES),
            )
            .add_service(
                PackServiceServer::new(shared.clone())
                    .max_encoding_message_size(MAX_FETCH_PACK_MESSAGE_BYTES),
            )
            .add_service(UnitServiceServer::new(shared.clone()))
            .add_service(ResultServiceServer::new(shared.clone()))
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), signal)
            .await;
        drop(shared);
        let joined = tokio::task::spawn_blocking(move || writer.join()).await;
        result?;
        match joined {
            Ok(Ok(())) => Ok(()),
            _ => Err(ServeError::WriterPanicked),
        }
    }

    /// Whether clients must present certificates.
    pub fn requires_client_certificates(&self) -> bool {
        self.mtls
    }
}

/// A tower layer that stamps every HTTP response (so every gRPC answer
/// and every trailers-only error status) with the hub's clock as
/// [`call_auth::HUB_TIME_METADATA_KEY`], read when the response is ready.
#[derive(Debug, Clone)]
pub struct HubTimeLayer {
    clock: Clock,
}

impl HubTimeLayer {
    /// Stamps responses with `clock`.
    pub fn new(clock: Clock) -> HubTimeLayer {
        HubTimeLayer { clock }
    }
}

impl<S> tower_layer::Layer<S> for HubTimeLayer {
    type Service = HubTime<S>;

    fn layer(&self, inner: S) -> HubTime<S> {
        HubTime {
            inner,
            clock: self.clock.clone(),
        }
    }
}

/// The service of [`HubTimeLayer`].
#[derive(Debug, Clone)]
pub struct HubTime<S> {
    inner: S,
    clock: Clock,
}

impl<S, B, ResBody> tower_service::Service<http::Request<B>> for HubTime<S>
where
    S: tower_service::Service<http::Request<B>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: 'static,
    ResBody: 'static,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let answer = self.inner.call(request);
        let clock = self.clock.clone();
        Box::pin(async move {
            let mut response = answer.await?;
            response.headers_mut().insert(
                call_auth::HUB_TIME_METADATA_KEY,
                http::HeaderValue::from(clock.now().as_second()),
            );
            Ok(response)
        })
    }
}

/// Writes `DATA_DIR/hub.addr` whole (temporary file, then rename), so a
/// reader never sees half an address.
pub fn write_addr_file(data_dir: &Path, addr: SocketAddr) -> Result<PathBuf, ServeError> {
    let path = data_dir.join(ADDR_FILE);
    let tmp = data_dir.join(format!("{ADDR_FILE}.tmp"));
    let fail = |source| ServeError::AddrFile {
        path: path.clone(),
        source,
    };
    std::fs::write(&tmp, format!("{addr}\n")).map_err(fail)?;
    std::fs::rename(&tmp, &path).map_err(fail)?;
    Ok(path)
}

/// The writer thread: takes what is queued (up to `max_batch` envelopes)
/// into one transaction, answers, and stores signed heads when idle.
fn writer_loop(
    committer: &mut Committer,
    mut rx: mpsc::Receiver<Job>,
    published: &RwLock<Arc<NodeDirectory>>,
    max_batch: usize,
) {
    while let Some(first) = rx.blocking_recv() {
        let mut commits: Vec<(usize, CommitReply)> = Vec::new();
        let mut lookups = Vec::new();
        let mut batch: Vec<Candidate> = Vec::new();
        let mut next = Some(first);
        while let Some(job) = next.take() {
            match job {
                Job::Commit { candidates, reply } => {
                    commits.push((candidates.len(), reply));
                    batch.extend(candidates);
                }
                Job::Receipt { digest, reply } => lookups.push((digest, reply)),
            }
            if batch.len() < max_batch {
                next = rx.try_recv().ok();
            }
        }
        if !commits.is_empty() {
            match committer.commit(batch) {
                Ok(outcomes) => {
                    let mut outcomes = outcomes.into_iter();
                    for (n, reply) in commits {
                        let _ = reply.send(Ok(outcomes.by_ref().take(n).collect()));
                    }
                }
                Err(e) => {
                    tracing::error!("{e}");
                    for (_, reply) in commits {
                        let _ = reply.send(Err(e.to_string()));
                    }
                }
            }
            *published.write().unwrap_or_else(PoisonError::into_inner) = committer.nodes();
        }
        // After the commit: a lookup queued behind a submission sees it.
        for (digest, reply) in lookups {
            let _ = reply.send(committer.receipt(&digest).map_err(|e| e.to_string()));
        }
        if rx.is_empty()
            && let Err(e) = committer.flush_heads()
        {
            tracing::warn!("{e}");
        }
    }
    if let Err(e) = committer.flush_heads() {
        tracing::warn!("{e}");
    }
}

/// A client certificate (mTLS).
struct CertPeer {
    der: CertificateDer<'static>,
}

impl PeerIdentity for CertPeer {
    fn is_node(&self, node: &KeyId) -> bool {
        let name = format!("{node}.{NODE_CERT_DOMAIN}");
        let Ok(server_name) = rustls_pki_types::ServerName::try_from(name.as_str()) else {
            return false;
        };
        webpki::EndEntityCert::try_from(&self.der)
            .and_then(|cert| cert.verify_is_valid_for_subject_name(&server_name))
            .is_ok()
    }

    fn describe(&self) -> String {
        format!(
            "证书摘要 {}",
            hex::encode(&<sha2::Sha256 as sha2::Digest>::digest(&self.der)[..8])
        )
    }
}

impl Shared {
    fn peer<T>(&self, request: &Request<T>) -> Result<Option<Arc<dyn PeerIdentity>>, Status> {
        if !self.mtls {
            return Ok(None);
        }
        let der = request
            .peer_certs()
            .and_then(|certs| certs.first().cloned())
            .ok_or_else(|| {
                Status::unauthenticated(
                    "汇总中心要求客户端证书，连接未出示证书（client certificate required）",
                )
            })?;
        Ok(Some(Arc::new(CertPeer { der })))
    }

    /// Stages 1–3 for a chunk, split over the verify workers, in order.
    async fn verify(
        &self,
        items: Vec<(u64, pb::Envelope)>,
        peer: Option<Arc<dyn PeerIdentity>>,
    ) -> Result<Vec<Candidate>, Status> {
        let nodes = Arc::clone(&self.nodes.read().unwrap_or_else(PoisonError::into_inner));
        let workers = self.limits.verify_workers.clamp(1, items.len().max(1));
        let per = items.len().div_ceil(workers).max(1);
        let mut parts = Vec::with_capacity(workers);
        let mut items = items.into_iter();
        loop {
            let part: Vec<(u64, pb::Envelope)> = items.by_ref().take(per).collect();
            if part.is_empty() {
                break;
            }
            let nodes = Arc::clone(&nodes);
            let peer = peer.clone();
            parts.push(tokio::task::spawn_blocking(move || {
                part.into_iter()
                    .map(|(i, wire)| Candidate::verify(i, wire, &nodes, peer.clone()))
                    .collect::<Vec<_>>()
            }));
        }
        let mut out = Vec::new();
        for part in parts {
            out.extend(
                part.await
                    .map_err(|_| Status::internal("核验线程异常（verifier failed）"))?,
            );
        }
        Ok(out)
    }

    /// Hands a chunk to the writer; the receiver resolves once committed.
    async fn commit(
        &self,
        candidates: Vec<Candidate>,
    ) -> Result<oneshot::Receiver<Result<Vec<SubmitOutcome>, String>>, Status> {
        let (reply, rx) = oneshot::channel();
        self.jobs
            .send(Job::Commit { candidates, reply })
            .await
            .map_err(|_| unavailable())?;
        Ok(rx)
    }

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

    /// Identifies the caller of a signed call (see the module docs).
    async fn caller<T>(
        &self,
        request: &Request<T>,
        path: &'static str,
    ) -> Result<NodeRecord, Status> {
        let creds = CallCredentials::from_metadata(request.metadata())
            .map_err(|e| Status::unauthenticated(e.to_string()))?;
        let peer = self.peer(request)?;
        let id = creds.node.clone();
        let node = self
            .read(move |conn| nodes::node_by_key_id(conn, &id).map_err(store_status))
            .await?
            .ok_or_else(|| {
                Status::unauthenticated(format!(
                    "节点 {} 未在汇总中心登记（node not registered）",
                    creds.node
                ))
            })?;
        creds
            .verify(&node.public_key, path, self.clock.now().as_second())
            .map_err(|e| Status::unauthenticated(e.to_string()))?;
        if let NodeState::Revoked { at, reason } = &node.state {
            return Err(Status::permission_denied(format!(
                "节点 {}（{}）已于 {at} 被吊销，原因：{reason}（node revoked）",
                node.name, node.key_id
            )));
        }
        if let Some(peer) = peer
            && !peer.is_node(&node.key_id)
        {
            return Err(Status::permission_denied(format!(
                "客户端证书（{}）不属于节点 {}（client certificate is not this node's）",
                peer.describe(),
                node.key_id
            )));
        }
        Ok(node)
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

#[tonic::async_trait]
impl SubmissionService for Shared {
    async fn submit(
        &self,
        request: Request<pb::Envelope>,
    ) -> Result<Response<pb::Receipt>, Status> {
        let peer = self.peer(&request)?;
        let wire = request.into_inner();
        let candidates = self.verify(vec![(0, wire)], peer).await?;
        let outcome = self
            .commit(candidates)
            .await?
            .await
            .map_err(|_| unavailable())?
            .map_err(Status::unavailable)?
            .pop()
            .ok_or_else(|| Status::internal("没有提交结果（no outcome）"))?;
        match outcome.result {
            Ok(receipt) => Ok(Response::new(receipt.into())),
            Err(rejection) => Err(rejection.to_status()),
        }
    }

    type SubmitStreamStream = ReceiverStream<Result<pb::ReceiptChunk, Status>>;

    async fn submit_stream(
        &self,
        request: Request<Streaming<pb::Envelope>>,
    ) -> Result<Response<Self::SubmitStreamStream>, Status> {
        let peer = self.peer(&request)?;
        let inbound = request.into_inner();
        let (out, rx) = mpsc::channel(8);
        tokio::spawn(pump(self.clone(), inbound, peer, out));
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn get_receipt(
        &self,
        request: Request<pb::GetReceiptRequest>,
    ) -> Result<Response<pb::Receipt>, Status> {
        let node = self.caller(&request, call_auth::paths::GET_RECEIPT).await?;
        let GetReceiptRequest { digest } =
            GetReceiptRequest::try_from(request.into_inner()).map_err(field_status)?;
        let (reply, rx) = oneshot::channel();
        self.jobs
            .send(Job::Receipt { digest, reply })
            .await
            .map_err(|_| unavailable())?;
        let stored = rx
            .await
            .map_err(|_| unavailable())?
            .map_err(Status::unavailable)?
            .ok_or_else(|| {
                Status::not_found(format!(
                    "没有摘要为 {digest} 的已提交上报（no committed submission with this digest）"
                ))
            })?;
        if stored.node_id != node.key_id {
            return Err(Status::permission_denied(
                "该摘要属于另一节点的上报（the digest belongs to another node's submission）",
            ));
        }
        Ok(Response::new(stored.receipt.into()))
    }
}

/// One queued step of a stream's answer, in arrival order.
enum Pending {
    Chunk(oneshot::Receiver<Result<Vec<SubmitOutcome>, String>>),
    End(Status),
}

/// Reads a stream in chunks and hands each to the writer; a forwarder
/// sends each chunk's outcomes back once committed, in order.
async fn pump(
    shared: Shared,
    mut inbound: Streaming<pb::Envelope>,
    peer: Option<Arc<dyn PeerIdentity>>,
    out: mpsc::Sender<Result<pb::ReceiptChunk, Status>>,
) {
    let (queue, mut pending) = mpsc::channel::<Pending>(4);
    let forward = tokio::spawn(async move {
        while let Some(step) = pending.recv().await {
            let item = match step {
                Pending::Chunk(rx) => match rx.await {
                    Ok(Ok(outcomes)) => Ok(ReceiptChunk { outcomes }.into()),
                    Ok(Err(e)) => Err(Status::unavailable(e)),
                    Err(_) => Err(unavailable()),
                },
                Pending::End(status) => Err(status),
            };
            let stop = item.is_err();
            if out.send(item).await.is_err() || stop {
                break;
            }
        }
    });
    let mut shutdown = shared.shutdown.clone();
    let mut index = 0u64;
    loop {
        let chunk = match next_chunk(&mut inbound, &shared.limits, &mut shutdown).await {
            Ok(chunk) => chunk,
            Err(status) => {
                let _ = queue.send(Pending::End(status)).await;
                break;
            }
        };
        if chunk.is_empty() {
            break;
        }
        let items: Vec<(u64, pb::Envelope)> = chunk
            .into_iter()
            .map(|e| {
                let i = index;
                index += 1;
                (i, e)
            })
            .collect();
        let step = match shared.verify(items, peer.clone()).await {
            Ok(candidates) => match shared.commit(candidates).await {
                Ok(rx) => Pending::Chunk(rx),
                Err(status) => Pending::End(status),
            },
            Err(status) => Pending::End(status),
        };
        let end = matches!(step, Pending::End(_));
        if queue.send(step).await.is_err() || end {
            break;
        }
    }
    drop(queue);
    let _ = forward.await;
}

/// Waits for the next envelope, then takes whatever else has already
/// arrived, up to `limits.chunk`. Empty at the end of the stream.
async fn next_chunk(
    inbound: &mut Streaming<pb::Envelope>,
    limits: &Limits,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<Vec<pb::Envelope>, Status> {
    if *shutdown.borrow() {
        return Err(shutting_down());
    }
    let first = tokio::select! {
        message = tokio::time::timeout(limits.stream_idle, inbound.message()) => match message {
            Ok(Ok(Some(m))) => m,
            Ok(Ok(None)) => return Ok(Vec::new()),
            Ok(Err(status)) => return Err(status),
            // Also a client stopped in the middle of a message: what it
            // sent of that message is dropped with the stream, never stored.
            Err(_) => return Err(stream_idle(limits)),
        },
        _ = shutdown.changed() => return Err(shutting_down()),
    };
    let mut chunk = vec![first];
    while chunk.len() < limits.chunk {
        // Only what is already here: never wait to fill a chunk.
        let ready = tokio::select! {
            biased;
            message = inbound.message() => Some(message),
            () = std::future::ready(()) => None,
        };
        match ready {
            Some(Ok(Some(m))) => chunk.push(m),
            Some(Ok(None)) | None => break,
            Some(Err(status)) => {
                // Commit what came before the broken message; the error
                // ends the stream on the next read.
                tracing::debug!(
                    "stream read error after {} envelopes: {status}",
                    chunk.len()
                );
                break;
            }
        }
    }
    Ok(chunk)
}

/// The status that ends a stream silent for [`Limits::stream_idle`].
fn stream_idle(limits: &Limits) -> Status {
    let seconds = limits.stream_idle.as_secs();
    Status::deadline_exceeded(format!(
        "汇总中心 {seconds} 秒内没有收到新的上报（数据流空闲超时），数据流已结束：已回执的上报均已保存，未回执的请重新提交（stream idle for {seconds} s: ended; everything receipted is stored, resubmit the rest）"
    ))
}

fn shutting_down() -> Status {
    Status::unavailable(
        "汇总中心正在关闭：已回执的上报均已保存，未回执的请稍后重新提交（hub shutting down; resubmit what has no receipt）",
    )
}

#[tonic::async_trait]
impl PackService for Shared {
    async fn list_packs(
        &self,
        request: Request<pb::ListPacksRequest>,
    ) -> Result<Response<pb::ListPacksResponse>, Status> {
        let ListPacksRequest { year } =
            ListPacksRequest::try_from(request.into_inner()).map_err(field_status)?;
        let mut list = self
            .read(|conn| packs::list_packs(conn).map_err(store_status))
            .await?;
        list.retain(|p| year.is_none_or(|y| p.identity.year == y));
        list.sort_by(|a, b| {
            (b.identity.year, b.identity.version, &a.identity.id).cmp(&(
                a.identity.year,
                a.identity.version,
                &b.identity.id,
            ))
        });
        let packs = list
            .into_iter()
            .map(|p| model::PackSummary {
                identity: p.identity,
                current: p.is_current,
                module_size: p.module_len as u64,
            })
            .collect();
        Ok(Response::new(ListPacksResponse { packs }.into()))
    }

    async fn fetch_pack(
        &self,
        request: Request<pb::FetchPackRequest>,
    ) -> Result<Response<pb::FetchPackResponse>, Status> {
        let req = FetchPackRequest::try_from(request.into_inner()).map_err(field_status)?;
        let (id, year, version) = (req.id.clone(), req.year, req.version);
        let stored = self
            .read(move |conn| {
                match version {
                    Some(v) => packs::pack_version(conn, &id, year, v),
                    None => packs::current_pack(conn, &id, year),
                }
                .map_err(store_status)
            })
            .await?
            .ok_or_else(|| {
                let which = req
                    .version
                    .map_or("当前版本".to_owned(), |v| format!("第 {v} 版"));
                Status::not_found(format!(
                    "汇总中心没有规则包 {}-{} 的{which}（no such pack or version）",
                    req.id, req.year
                ))
            })?;
        let signature = Envelope::from_protobuf(&stored.envelope).map_err(|e| {
            Status::internal(format!(
                "已存规则包的签名信封无法解码（stored signature corrupt）：{e}"
            ))
        })?;
        Ok(Response::new(
            FetchedPack {
                identity: stored.identity,
                module: stored.module,
                signature,
            }
            .into(),
        ))
    }
}

#[tonic::async_trait]
impl UnitService for Shared {
    async fn list_my_units(
        &self,
        request: Request<pb::ListMyUnitsRequest>,
    ) -> Result<Response<pb::ListMyUnitsResponse>, Status> {
        let node = self
            .caller(&request, call_auth::paths::LIST_MY_UNITS)
            .await?;
        let ListMyUnitsRequest { year } =
            ListMyUnitsRequest::try_from(request.into_inner()).map_err(field_status)?;
        let years: Vec<u16> = node
            .scope
            .years
            .iter()
            .filter_map(|y| u16::try_from(*y).ok())
            .filter(|y| year.is_none_or(|want| want == *y))
            .collect();
        let scope = node.scope.clone();
        let wanted = years.clone();
        let units = self
            .read(move |conn| {
                // Latest year first: a unit listed in several years is
                // described as in the latest.
                let mut out: Vec<model::Unit> = Vec::new();
                for y in wanted.iter().rev() {
                    let roster = units::load_roster(conn, i32::from(*y)).map_err(store_status)?;
                    for unit in roster.iter() {
                        if scope.covers_unit(unit, &roster)
                            && !out.iter().any(|u| u.unit_id == unit.id)
                        {
                            out.push(model::Unit {
                                unit_id: unit.id.clone(),
                                name: unit.name.clone(),
                                category_id: unit.category.clone(),
                                parent_id: unit.parent.clone(),
                                supervising_dept: unit.supervising_department.clone(),
                            });
                        }
                    }
                }
                out.sort_by(|a, b| a.unit_id.cmp(&b.unit_id));
                Ok(out)
            })
            .await?;
        Ok(Response::new(
            ListMyUnitsResponse {
                node_id: node.key_id,
                units,
                method_ids: node.scope.methods.iter().cloned().collect(),
                years,
            }
            .into(),
        ))
    }
}
