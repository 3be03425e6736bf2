//! 与汇总中心的 TLS 连接（TLS to the hub）: trust, client certificate and
//! the county CA's revocation list.
//!
//! tonic's own TLS settings take a CA and an identity but no certificate
//! revocation list, so the node builds the rustls configuration itself and
//! hands tonic a connector ([`TlsConnect`]) that opens TCP, completes the
//! TLS handshake and insists on HTTP/2 (ALPN `h2`). The verifier is
//! rustls's WebPKI server verifier over `hub.ca_cert` only (no system
//! roots); with `hub.crl` it also checks the hub's certificate against the
//! list:
//!
//! - a certificate the list revokes is refused (`Revoked`);
//! - a list the CA did not sign leaves the status unknown, and an unknown
//!   status is refused (`UnknownRevocationStatus`): a wrong file cannot
//!   silently switch the check off;
//! - a list whose `nextUpdate` has passed is refused
//!   (`ExpiredRevocationList`), so a node cannot go on trusting a list the
//!   CA has replaced.
//!
//! Only the hub's own certificate is looked up (the county CA issues it
//! directly). [`crate::client::tls_hint`] turns each refusal into Chinese.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper_util::rt::TokioIo;
use rustls::client::WebPkiServerVerifier;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tonic::codegen::http::Uri;

use crate::config::{HubConfig, parse_crl};

/// The ALPN protocol gRPC runs over.
const H2: &[u8] = b"h2";

/// The TLS settings named in the config cannot be used (nothing was
/// sent).
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("读取汇总中心 CA 证书 {path} 失败（cannot read the hub CA certificate）：{source}")]
    CaCert {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "读取节点客户端证书或私钥 {path} 失败（cannot read the node's client certificate or key）：{source}"
    )]
    ClientCert {
        path: String,
        source: std::io::Error,
    },
    #[error("节点配置使用 https 但没有 ca_cert（https without a CA certificate）")]
    NoCaCert,
    #[error("TLS 设置无效（invalid TLS settings）：{0}")]
    Invalid(String),
    #[error("读取证书吊销列表 {path} 失败（cannot read the CRL, hub.crl）：{detail}")]
    Crl { path: String, detail: String },
}

/// Opens TCP and TLS to the hub for tonic (see the module docs).
#[derive(Clone)]
pub struct TlsConnect {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
    host: String,
    port: u16,
    /// TCP and TLS together, also when the channel reconnects later.
    deadline: std::time::Duration,
}

impl TlsConnect {
    /// The connector for `hub` (which must be https): reads the CA, the
    /// client certificate and key, and the CRL named in the config.
    pub fn new(hub: &HubConfig) -> Result<TlsConnect, TlsError> {
        let ca = hub.ca_cert.as_ref().ok_or(TlsError::NoCaCert)?;
        let ca_pem = std::fs::read(ca).map_err(|source| TlsError::CaCert {
            path: ca.display().to_string(),
            source,
        })?;
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&ca_pem) {
            let cert = cert.map_err(|e| invalid(format!("{}：{e}", ca.display())))?;
            roots
                .add(cert)
                .map_err(|e| invalid(format!("{}：{e}", ca.display())))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider));
        if let Some(path) = &hub.crl {
            let bytes = std::fs::read(path).map_err(|source| TlsError::Crl {
                path: path.display().to_string(),
                detail: source.to_string(),
            })?;
            let crl = parse_crl(&bytes).map_err(|detail| TlsError::Crl {
                path: path.display().to_string(),
                detail,
            })?;
            verifier = verifier
                .with_crls([crl])
                .only_check_end_entity_revocation()
                .enforce_revocation_expiration();
        }
        let verifier = verifier
            .build()
            .map_err(|e| invalid(format!("{}：{e}", ca.display())))?;
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid(e.to_string()))?
            .with_webpki_verifier(verifier);
        let mut config = match &hub.client_identity {
            None => builder.with_no_client_auth(),
            Some(identity) => {
                let read = |path: &std::path::Path| {
                    std::fs::read(path).map_err(|source| TlsError::ClientCert {
                        path: path.display().to_string(),
                        source,
                    })
                };
                let cert_pem = read(&identity.cert)?;
                let certs = CertificateDer::pem_slice_iter(&cert_pem)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| invalid(format!("{}：{e}", identity.cert.display())))?;
                let key = PrivateKeyDer::from_pem_slice(&read(&identity.key)?)
                    .map_err(|e| invalid(format!("{}：{e}", identity.key.display())))?;
                builder
                    .with_client_auth_cert(certs, key)
                    .map_err(|e| invalid(format!("{}：{e}", identity.cert.display())))?
            }
        };
        config.alpn_protocols = vec![H2.to_vec()];
        let name = ServerName::try_from(hub.host.clone())
            .map_err(|e| invalid(format!("{}：{e}", hub.host)))?;
        Ok(TlsConnect {
            config: Arc::new(config),
            name,
            host: hub.host.clone(),
            port: hub.port,
            deadline: hub.timeouts.connect,
        })
    }
}

fn invalid(detail: String) -> TlsError {
    TlsError::Invalid(detail)
}

impl tower_service::Service<Uri> for TlsConnect {
    type Response = TokioIo<TlsStream<TcpStream>>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Connects to the configured host and port whatever `_uri` says (the
    /// channel's URI carries no TLS; see [`crate::client::connect`]).
    fn call(&mut self, _uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let seconds = this.deadline.as_secs();
            let handshake = async {
                let tcp = TcpStream::connect((this.host.as_str(), this.port)).await?;
                tcp.set_nodelay(true)?;
                TlsConnector::from(this.config)
                    .connect(this.name, tcp)
                    .await
            };
            let tls = tokio::time::timeout(this.deadline, handshake)
                .await
                .map_err(|_| {
                    io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("{seconds} 秒内未完成 TCP 与 TLS 握手（连接超时）（no TLS connection within {seconds} s）"),
                    )
                })??;
            if tls.get_ref().1.alpn_protocol() != Some(H2) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "汇总中心未协商 HTTP/2（ALPN h2），不是 kaohe 汇总中心（the peer did not negotiate HTTP/2）",
                ));
            }
            Ok(TokioIo::new(tls))
        })
    }
}
