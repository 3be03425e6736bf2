//! Starting the hub ([`Hub::start`]: database, receipt key, pack runtime,
//! the writer thread, TLS) and serving it until shutdown ([`Hub::serve`]);
//! the address file `kaohe hub serve` writes once it listens.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use kaohe_proto::model::{MAX_ENVELOPE_MESSAGE_BYTES, MAX_FETCH_PACK_MESSAGE_BYTES};
use kaohe_proto::pb::log_service_server::LogServiceServer;
use kaohe_proto::pb::pack_service_server::PackServiceServer;
use kaohe_proto::pb::result_service_server::ResultServiceServer;
use kaohe_proto::pb::unit_service_server::UnitServiceServer;
use kaohe_rulepacks::runtime::{Runtime, RuntimeConfig};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};

use super::crl::{ClientCrl, ClientCrlLayer, CrlError};
use super::frames::wire_status_layer;
use super::limits::{Limits, hub_time_layer};
use super::submissions::Submissions;
use super::writer::{Published, writer_loop};
use super::{ADDR_FILE, Shared};
use crate::clock::Clock;
use crate::ingest::Committer;
use crate::{config, db};

/// How long a stopping hub lets open connections finish before dropping
/// them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

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
    /// Defaults for a data directory (compiled packs cached beneath it).
    pub fn new(data_dir: impl Into<PathBuf>, clock: Clock) -> ServeOptions {
        let data_dir = data_dir.into();
        ServeOptions {
            runtime: RuntimeConfig::with_cache_under(&data_dir),
            data_dir,
            clock,
            tls: None,
            limits: Limits::default(),
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

impl Hub {
    /// Opens everything and starts the writer thread. Loading the current
    /// packs (compiling them) happens here, before anything is served.
    pub fn start(options: ServeOptions) -> Result<Hub, ServeError> {
        let conn = db::open_existing(&options.data_dir)?;
        let reader = db::open_existing(&options.data_dir)?;
        let key = config::load_receipt_key(&options.data_dir)?;
        let workflow = db::open_existing(&options.data_dir)?;
        let runtime = Runtime::new(options.runtime.clone())?;
        let hub_key = key.clone();
        let mut committer = Committer::new(conn, runtime.clone(), key, options.clock.clone())?;
        let nodes = Arc::new(RwLock::new(committer.nodes()));
        let replay = Arc::new(RwLock::new(committer.replay_view()));
        let (jobs, rx) = mpsc::channel(options.limits.queue.max(1));
        let published = Published {
            nodes: Arc::clone(&nodes),
            replay: Arc::clone(&replay),
        };
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
                replay,
                reader: Arc::new(Mutex::new(reader)),
                workflow: Arc::new(Mutex::new(workflow)),
                hub_key,
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
            .layer(hub_time_layer(shared.clock.clone()))
            // Inside the hub-time layer: a refusal carries the hub's time too.
            .layer(ClientCrlLayer::new(crl))
            // tonic's English refusals of a malformed or oversize message,
            // in Chinese.
            .layer(wire_status_layer())
            .timeout(limits.call_timeout)
            .concurrency_limit_per_connection(limits.per_connection)
            .max_concurrent_streams(limits.max_streams)
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .http2_keepalive_timeout(Some(Duration::from_secs(20)))
            .tcp_nodelay(true);
        if let Some(tls) = tls {
            builder = builder.tls_config(tls)?;
        }
        let (stopping_tx, stopping) = tokio::sync::oneshot::channel::<()>();
        let signal = async move {
            shutdown.await;
            // Streams stop reading; what they handed over still commits.
            let _ = shutdown_tx.send(true);
            let _ = stopping_tx.send(());
        };
        let serving = builder
            .add_service(Submissions::new(shared.clone(), MAX_ENVELOPE_MESSAGE_BYTES))
            .add_service(
                PackServiceServer::new(shared.clone())
                    .max_encoding_message_size(MAX_FETCH_PACK_MESSAGE_BYTES),
            )
            .add_service(UnitServiceServer::new(shared.clone()))
            .add_service(ResultServiceServer::new(shared.clone()))
            .add_service(LogServiceServer::new(shared.clone()))
            // tonic's `tcp_nodelay` applies to listeners it binds itself;
            // this one is ours, so each accepted socket gets it here: with
            // Nagle on, a unary answer waited out the client's delayed ACK
            // (~40 ms) although the commit took a fraction of that.
            .serve_with_incoming_shutdown(
                TcpIncoming::from(listener).with_nodelay(Some(true)),
                signal,
            );
        // A graceful shutdown waits for every connection to close, and an
        // idle client that never answers holds it for the HTTP/2 keepalive
        // (50 s) — past systemd's patience. After SHUTDOWN_GRACE the
        // connections are dropped: nothing is lost, since a receipt is only
        // sent after its commit and the writer below still commits
        // everything already handed to it; a client that got no receipt
        // sends again and gets the same one.
        let grace = async {
            match stopping.await {
                Ok(()) => tokio::time::sleep(SHUTDOWN_GRACE).await,
                Err(_) => std::future::pending().await,
            }
        };
        let result = tokio::select! {
            served = serving => served,
            () = grace => Ok(()),
        };
        let _ = shared.jobs.send(super::writer::Job::Stop).await;
        drop(shared);
        let joined = tokio::task::spawn_blocking(move || writer.join()).await;
        result?;
        match joined {
            Ok(Ok(())) => Ok(()),
            _ => Err(ServeError::WriterPanicked),
        }
    }

    /// The pack runtime (engine and module cache), for the web console
    /// served beside the gRPC services.
    pub fn runtime(&self) -> Runtime {
        self.shared.runtime.clone()
    }

    /// Whether clients must present certificates.
    pub fn requires_client_certificates(&self) -> bool {
        self.mtls
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
