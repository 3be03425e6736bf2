//! The files a config names (the hub's CA, the client certificate and
//! key, the CRL): each must read and be what its key says.

use std::path::{Path, PathBuf};

use rustls_pki_types::CertificateRevocationListDer;
use rustls_pki_types::pem::PemObject as _;

use super::problems::Problems;

/// Reads a certificate revocation list, PEM (`-----BEGIN X509 CRL-----`)
/// or DER, and checks that it parses; the reason in Chinese otherwise.
pub fn parse_crl(bytes: &[u8]) -> Result<CertificateRevocationListDer<'static>, String> {
    let der = if bytes.windows(10).any(|w| w == b"-----BEGIN") {
        CertificateRevocationListDer::from_pem_slice(bytes)
            .map_err(|e| format!("不是 PEM 格式的证书吊销列表 / not a PEM CRL: {e}"))?
    } else {
        CertificateRevocationListDer::from(bytes.to_vec())
    };
    webpki::OwnedCertRevocationList::from_der(der.as_ref())
        .map_err(|e| format!("不是有效的证书吊销列表 / not a valid CRL: {e:?}"))?;
    Ok(der)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

pub(super) fn pem_certificate(bytes: &[u8]) -> Result<(), String> {
    if contains(bytes, b"-----BEGIN CERTIFICATE-----") {
        Ok(())
    } else {
        Err("不是 PEM 证书 / not a PEM certificate".into())
    }
}

/// A PEM private key rustls can use: PKCS#8, SEC1 or PKCS#1, not encrypted.
pub(super) fn pem_private_key(bytes: &[u8]) -> Result<(), String> {
    let pem = [
        &b"-----BEGIN PRIVATE KEY-----"[..],
        b"-----BEGIN EC PRIVATE KEY-----",
        b"-----BEGIN RSA PRIVATE KEY-----",
    ]
    .iter()
    .any(|m| contains(bytes, m));
    if pem && !contains(bytes, b"ENCRYPTED") {
        Ok(())
    } else {
        Err("不是未加密的 PEM 私钥 / not an unencrypted PEM private key".into())
    }
}

/// Resolves `raw` against `base` and checks that the file reads and that
/// `check` accepts it; records a problem naming the file and why otherwise.
pub(super) fn checked_file(
    p: &mut Problems,
    base: &Path,
    raw: &str,
    key: &str,
    expected: &str,
    check: impl FnOnce(&[u8]) -> Result<(), String>,
) -> Option<PathBuf> {
    let path = base.join(raw);
    let why = match std::fs::read(&path) {
        Ok(bytes) => match check(&bytes) {
            Ok(()) => return Some(path),
            Err(why) => why,
        },
        Err(e) => kaohe_tables::os_error::chinese(&e.to_string()).into_owned(),
    };
    p.bad(key, expected, format!("{}（{why}）", path.display()));
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_is_no_crl_is_refused_in_both_encodings() {
        let pem = b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n";
        let err = parse_crl(pem).unwrap_err();
        assert!(err.contains("证书吊销列表"), "{err}");
        let err = parse_crl(b"\x30\x03\x02\x01\x01").unwrap_err();
        assert!(err.contains("不是有效的证书吊销列表"), "{err}");
        let err = parse_crl(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
            .unwrap_err();
        assert!(err.contains("PEM"), "{err}");
    }
}
