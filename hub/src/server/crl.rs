//! 客户端证书吊销列表（client certificate revocation list）for mTLS.
//!
//! `kaohe hub serve --client-ca CA --client-crl CRL`: [`ClientCrl::load`]
//! reads the CRL (PEM or DER) and checks, before anything is served, that
//! it parses, that the client CA signed it and that its `nextUpdate` has
//! not passed; any failure stops the start, naming the file.
//!
//! [`ClientCrlLayer`] then checks **every call** (every service, every
//! method) of a client certificate issued by that CA: a certificate whose
//! serial the list holds is refused `UNAUTHENTICATED`, naming the serial.
//! The TLS handshake (rustls) has already verified the chain, the validity
//! period and the key usage; tonic offers no CRL hook there, so revocation
//! is checked per call instead — which also means a connection opened
//! before the revocation cannot go on calling.
//!
//! **Replacing the file** takes effect without a restart: each call looks
//! at the file's modification time and length (one `stat`), and reads and
//! checks the file again only when they changed. A replacement that does
//! not load (unreadable, not from the CA, expired) is logged and the
//! previous list stays in force until a good one replaces it. A list in
//! force whose `nextUpdate` passes keeps being applied, with a warning in
//! the log once.
//!
//! Times are the system's real time, as in the TLS handshake — not the
//! hub's injectable [`crate::clock::Clock`].
//!
//! rustls-webpki parses the list and looks serials up; it keeps the CRL
//! signature check and the `nextUpdate` field to itself (it uses them
//! only while verifying a leaf), so this module reads the outer structure
//! with the `x509-cert` crate to verify the signature with the CA's key
//! ([`webpki::EndEntityCert::verify_signature`]) and read `nextUpdate`.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::SystemTime;

use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{
    CertificateDer, CertificateRevocationListDer, SignatureVerificationAlgorithm,
};
use tonic::Status;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use webpki::{CertRevocationList, OwnedCertRevocationList};

/// Loading the client CRL failed.
#[derive(Debug, thiserror::Error)]
pub enum CrlError {
    #[error("读取吊销列表 {path} 失败（cannot read CRL）：{source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("吊销列表 {path} 不是 PEM 或 DER 格式的证书吊销列表（not a CRL）：{detail}")]
    Parse { path: PathBuf, detail: String },
    #[error("客户端证书签发机构文件 {ca} 中没有证书（no certificate in the client CA file）")]
    NoCa { ca: PathBuf },
    #[error(
        "吊销列表 {path} 不是客户端证书签发机构 {ca} 签发的：签发者或签名不符（CRL not signed by the client CA）"
    )]
    NotFromCa { path: PathBuf, ca: PathBuf },
    #[error(
        "吊销列表 {path} 已过期（下次更新时间为 {next_update}），请用 openssl ca -gencrl 重新生成（CRL expired）"
    )]
    Expired { path: PathBuf, next_update: String },
    #[error("吊销列表 {path} 只能与 --client-ca 一起使用（a CRL needs the client CA）")]
    WithoutCa { path: PathBuf },
}

/// The CRL in force for client certificates, re-read when its file changes.
pub struct ClientCrl {
    path: PathBuf,
    ca_path: PathBuf,
    /// The client CA file's certificates (a bundle may hold several).
    cas: Vec<CertificateDer<'static>>,
    /// A std mutex: held for a comparison, and for a reload only when the
    /// file changed.
    current: Mutex<Current>,
}

impl std::fmt::Debug for ClientCrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCrl")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

struct Current {
    /// The file as last looked at (good or not): a reload is tried only
    /// when this changes.
    seen: Option<FileStamp>,
    list: Arc<Loaded>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    modified: SystemTime,
    len: u64,
}

struct Loaded {
    crl: CertRevocationList<'static>,
    /// `nextUpdate`, unix seconds.
    next_update: i64,
    /// Whether the log already said this list's `nextUpdate` passed.
    warned_expired: AtomicBool,
}

impl ClientCrl {
    /// Reads `path` and checks it against the client CA (`ca_pem`, read
    /// from `ca_path`): parses, signed by the CA, `nextUpdate` not passed.
    pub fn load(path: &Path, ca_path: &Path, ca_pem: &[u8]) -> Result<ClientCrl, CrlError> {
        let cas: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(ca_pem)
            .filter_map(Result::ok)
            .collect();
        if cas.is_empty() {
            return Err(CrlError::NoCa {
                ca: ca_path.to_owned(),
            });
        }
        let seen = stamp(path);
        let list = load_file(path, ca_path, &cas, now())?;
        Ok(ClientCrl {
            path: path.to_owned(),
            ca_path: ca_path.to_owned(),
            cas,
            current: Mutex::new(Current {
                seen,
                list: Arc::new(list),
            }),
        })
    }

    /// `Err` with the refusal when `cert_der` (a client certificate) is
    /// revoked by the list in force.
    pub fn check(&self, cert_der: &[u8]) -> Result<(), String> {
        let list = self.in_force();
        let der = CertificateDer::from(cert_der);
        let Ok(cert) = webpki::EndEntityCert::try_from(&der) else {
            // rustls accepted it in the handshake; nothing to look up.
            return Ok(());
        };
        if cert.issuer() != list.crl.issuer() {
            // Not issued directly by the CA that issued the list.
            return Ok(());
        }
        match list.crl.find_serial(cert.serial()) {
            Ok(None) => Ok(()),
            Ok(Some(_)) => Err(format!(
                "客户端证书已被县 CA 吊销（序列号 {}）：请向县依法治县办申请新证书（client certificate revoked）",
                serial_hex(cert.serial())
            )),
            Err(e) => Err(format!(
                "吊销列表 {} 中的条目无法读取，无法确认客户端证书（序列号 {}）未被吊销（unreadable CRL entry）：{e:?}",
                self.path.display(),
                serial_hex(cert.serial())
            )),
        }
    }

    /// The list in force, re-read first when the file changed.
    fn in_force(&self) -> Arc<Loaded> {
        let seen = stamp(&self.path);
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.is_some() && seen != current.seen {
            current.seen = seen;
            match load_file(&self.path, &self.ca_path, &self.cas, now()) {
                Ok(list) => {
                    tracing::info!(
                        "已换用新的吊销列表 {}（reloaded the client CRL）",
                        self.path.display()
                    );
                    current.list = Arc::new(list);
                }
                Err(e) => tracing::error!("{e}；继续使用原吊销列表（keeping the previous CRL）"),
            }
        }
        let list = Arc::clone(&current.list);
        drop(current);
        if now() >= list.next_update && !list.warned_expired.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "吊销列表 {} 已过下次更新时间 {}：仍按它拒绝已吊销的证书，请尽快用 openssl ca -gencrl 重新生成（the client CRL is past its nextUpdate）",
                self.path.display(),
                format_time(list.next_update)
            );
        }
        list
    }
}

/// A layer that refuses every call presenting a revoked client certificate
/// (see the module docs); without a list it passes everything on.
#[derive(Debug, Clone)]
pub struct ClientCrlLayer {
    crl: Option<Arc<ClientCrl>>,
}

impl ClientCrlLayer {
    pub fn new(crl: Option<Arc<ClientCrl>>) -> ClientCrlLayer {
        ClientCrlLayer { crl }
    }
}

impl<S> tower_layer::Layer<S> for ClientCrlLayer {
    type Service = ClientCrlService<S>;

    fn layer(&self, inner: S) -> ClientCrlService<S> {
        ClientCrlService {
            inner,
            crl: self.crl.clone(),
        }
    }
}

/// The service of [`ClientCrlLayer`].
#[derive(Debug, Clone)]
pub struct ClientCrlService<S> {
    inner: S,
    crl: Option<Arc<ClientCrl>>,
}

impl<S, B, ResBody> tower_service::Service<http::Request<B>> for ClientCrlService<S>
where
    S: tower_service::Service<http::Request<B>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if let Some(crl) = &self.crl
            && let Some(certs) = request
                .extensions()
                .get::<TlsConnectInfo<TcpConnectInfo>>()
                .and_then(TlsConnectInfo::peer_certs)
            && let Some(leaf) = certs.first()
            && let Err(message) = crl.check(leaf)
        {
            let response = Status::unauthenticated(message).into_http();
            return Box::pin(std::future::ready(Ok(response)));
        }
        Box::pin(self.inner.call(request))
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn stamp(path: &Path) -> Option<FileStamp> {
    let meta = std::fs::metadata(path).ok()?;
    Some(FileStamp {
        modified: meta.modified().ok()?,
        len: meta.len(),
    })
}

fn load_file(
    path: &Path,
    ca_path: &Path,
    cas: &[CertificateDer<'static>],
    now: i64,
) -> Result<Loaded, CrlError> {
    let bytes = std::fs::read(path).map_err(|source| CrlError::Read {
        path: path.to_owned(),
        source,
    })?;
    let parse = |detail: String| CrlError::Parse {
        path: path.to_owned(),
        detail,
    };
    let der: Vec<u8> = if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        CertificateRevocationListDer::from_pem_slice(&bytes)
            .map_err(|e| parse(format!("{e:?}")))?
            .as_ref()
            .to_vec()
    } else {
        bytes
    };
    let crl = OwnedCertRevocationList::from_der(&der).map_err(|e| parse(format!("{e:?}")))?;
    let crl = CertRevocationList::from(crl);
    let parts = split(&der).ok_or_else(|| parse("DER 结构不符（bad DER structure）".into()))?;
    let signed = cas.iter().any(|ca| {
        webpki::EndEntityCert::try_from(ca).is_ok_and(|ca| {
            ca.subject() == crl.issuer()
                && SIGNATURE_ALGS
                    .iter()
                    .filter(|alg| alg.signature_alg_id().as_ref() == parts.algorithm.as_slice())
                    .any(|alg| {
                        ca.verify_signature(*alg, &parts.tbs, &parts.signature)
                            .is_ok()
                    })
        })
    });
    if !signed {
        return Err(CrlError::NotFromCa {
            path: path.to_owned(),
            ca: ca_path.to_owned(),
        });
    }
    if now >= parts.next_update {
        return Err(CrlError::Expired {
            path: path.to_owned(),
            next_update: format_time(parts.next_update),
        });
    }
    Ok(Loaded {
        crl,
        next_update: parts.next_update,
        warned_expired: AtomicBool::new(false),
    })
}

/// What the signature check needs from `CertificateList`.
struct Parts {
    /// `tbsCertList`, tag and length included (what was signed).
    tbs: Vec<u8>,
    /// The `AlgorithmIdentifier`'s contents (OID and parameters).
    algorithm: Vec<u8>,
    /// The signature bits.
    signature: Vec<u8>,
    /// `nextUpdate`, unix seconds.
    next_update: i64,
}

/// The signed part, the algorithm, the signature and `nextUpdate` of a
/// DER `CertificateList`, read with the `x509-cert` crate (strict DER, so
/// re-encoding the signed part gives back the bytes that were signed).
/// webpki has already parsed the whole list (and requires `nextUpdate`).
fn split(der: &[u8]) -> Option<Parts> {
    use x509_cert::der::{Decode as _, Encode as _};
    let list = x509_cert::crl::CertificateList::from_der(der).ok()?;
    let tbs = list.tbs_cert_list.to_der().ok()?;
    let alg = &list.signature_algorithm;
    let mut algorithm = alg.oid.to_der().ok()?;
    if let Some(parameters) = &alg.parameters {
        algorithm.extend(parameters.to_der().ok()?);
    }
    let signature = list.signature.as_bytes()?.to_vec();
    let next_update = list.tbs_cert_list.next_update?.to_unix_duration().as_secs();
    Some(Parts {
        tbs,
        algorithm,
        signature,
        next_update: i64::try_from(next_update).ok()?,
    })
}

/// Serial as openssl prints it: uppercase hex without the sign byte.
fn serial_hex(serial: &[u8]) -> String {
    let trimmed = match serial {
        [0, rest @ ..] if !rest.is_empty() => rest,
        other => other,
    };
    hex::encode_upper(trimmed)
}

fn format_time(unix: i64) -> String {
    jiff::Timestamp::from_second(unix)
        .map(|t| {
            t.to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
                .strftime("%Y-%m-%d %H:%M:%S（北京时间）")
                .to_string()
        })
        .unwrap_or_else(|_| unix.to_string())
}

static SIGNATURE_ALGS: &[&dyn SignatureVerificationAlgorithm] = &[
    webpki::ring::ECDSA_P256_SHA256,
    webpki::ring::ECDSA_P256_SHA384,
    webpki::ring::ECDSA_P384_SHA256,
    webpki::ring::ECDSA_P384_SHA384,
    webpki::ring::ED25519,
    webpki::ring::RSA_PKCS1_2048_8192_SHA256,
    webpki::ring::RSA_PKCS1_2048_8192_SHA384,
    webpki::ring::RSA_PKCS1_2048_8192_SHA512,
    webpki::ring::RSA_PKCS1_2048_8192_SHA256_ABSENT_PARAMS,
    webpki::ring::RSA_PKCS1_2048_8192_SHA384_ABSENT_PARAMS,
    webpki::ring::RSA_PKCS1_2048_8192_SHA512_ABSENT_PARAMS,
    webpki::ring::RSA_PKCS1_3072_8192_SHA384,
    webpki::ring::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
    webpki::ring::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
    webpki::ring::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_read_as_openssl_prints_them() {
        assert_eq!(serial_hex(&[0x00, 0xab, 0x01]), "AB01");
        assert_eq!(serial_hex(&[0x10, 0x00]), "1000");
        assert_eq!(serial_hex(&[0x00]), "00");
    }
}
