//! Serving a console: plain HTTP (loopback only, [`check_listen`]) or
//! HTTPS with rustls ([`tls_config`], the same certificate and key the
//! hub's gRPC serves), one task per connection, each request tagged with
//! its [`PeerAddr`](crate::PeerAddr), until shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tower_service::Service as _;

use crate::PeerAddr;

/// A TLS handshake that takes longer is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// In-flight requests get this long after shutdown.
const DRAIN: Duration = Duration::from_secs(5);

/// The listen address cannot serve as asked.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error(
        "控制台监听地址 {addr} 不是本机回环地址，却没有 HTTPS 证书：明文 HTTP 只允许在 127.0.0.1 / ::1 上提供；请为汇总中心配置 --tls-cert 与 --tls-key，或把监听地址改为 127.0.0.1（plain HTTP on a non-loopback address refused）"
    )]
    PlainOffLoopback { addr: SocketAddr },
}

/// Plain HTTP is refused unless the address is loopback: a password or a
/// session cookie must never cross a network in the clear.
pub fn check_listen(addr: SocketAddr, tls: bool) -> Result<(), ListenError> {
    if tls || addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(ListenError::PlainOffLoopback { addr })
    }
}

/// The certificate or key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("控制台 HTTPS 证书无法读取（bad certificate PEM）：{0}")]
    Cert(String),
    #[error("控制台 HTTPS 私钥无法读取（bad key PEM）：{0}")]
    Key(String),
    #[error("控制台 HTTPS 配置无效（TLS configuration）：{0}")]
    Config(#[from] rustls::Error),
}

/// A rustls server configuration from PEM certificate chain and key
/// (ring provider, as the hub's gRPC TLS and the node's connector use).
pub fn tls_config(cert_pem: &[u8], key_pem: &[u8]) -> Result<Arc<ServerConfig>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Cert(e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::Cert("没有证书（no certificate）".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| TlsError::Key(e.to_string()))?;
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves `app` on `listener` until `shutdown` resolves; then stops
/// accepting and gives in-flight requests a few seconds.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<Arc<ServerConfig>>,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: keep serving.
                    tracing::warn!("控制台接受连接失败（accept failed）：{e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(PeerAddr(peer));
            app.clone().call(req)
        });
        let acceptor = acceptor.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let builder = auto::Builder::new(TokioExecutor::new());
            let result = match acceptor {
                Some(acceptor) => {
                    let tls =
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                            Ok(Ok(tls)) => tls,
                            _ => return,
                        };
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
                    watcher.watch(conn.into_owned()).await
                }
                None => {
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(tcp), service);
                    watcher.watch(conn.into_owned()).await
                }
            };
            if let Err(e) = result {
                tracing::debug!("控制台连接结束（connection ended）：{e}");
            }
        });
    }
    let _ = tokio::time::timeout(DRAIN, graceful.shutdown()).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_for_loopback_only() {
        let lo: SocketAddr = "127.0.0.1:7701".parse().unwrap();
        let lo6: SocketAddr = "[::1]:7701".parse().unwrap();
        let lan: SocketAddr = "192.0.2.10:7701".parse().unwrap();
        assert!(check_listen(lo, false).is_ok());
        assert!(check_listen(lo6, false).is_ok());
        assert!(check_listen(lan, true).is_ok());
        let err = check_listen(lan, false).unwrap_err().to_string();
        assert!(
            err.contains("192.0.2.10:7701") && err.contains("明文"),
            "{err}"
        );
    }
}
