//! 演示用县 CA（the demo's county certificate authority）.
//!
//! A real county issues certificates with its own CA (deploy/README.md §3,
//! openssl). The demo makes a throw-away one in-process with rcgen so a fresh
//! clone needs no openssl: the CA, the hub's server certificate (for
//! `localhost` and `127.0.0.1`) and one client certificate per node naming
//! `<key id>.node.kaohe`, the name the hub binds to the node's signing key
//! under mTLS — and the CA's (empty) certificate revocation list, which the
//! hub checks client certificates against (`--client-crl`) and every node
//! checks the hub's certificate against (`hub.crl`). Like the certificates
//! (rcgen's default validity), the list is long-lived: the demo never
//! revokes. Keys are written 0600; nothing here is used outside the demo.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CertifiedIssuer,
    DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyIdMethod, KeyPair,
    KeyUsagePurpose, SerialNumber, date_time_ymd,
};

/// The county CA, kept in memory for issuing and on disk as `ca.pem`.
pub struct CountyCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    dir: PathBuf,
}

/// A certificate and its key on disk.
#[derive(Debug, Clone)]
pub struct Issued {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl CountyCa {
    /// Creates the CA in `dir` (`ca.pem`, `ca.key`, `ca.crl.pem`).
    pub fn create(dir: &Path) -> Result<CountyCa> {
        std::fs::create_dir_all(dir)?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = name("宝丰县法治政府建设考核 CA（示例数据）");
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().context("生成 CA 密钥（CA key）")?;
        write_secret(&dir.join("ca.key"), &key.serialize_pem())?;
        let issuer = CertifiedIssuer::self_signed(params, key).context("签发 CA 证书")?;
        std::fs::write(dir.join("ca.pem"), issuer.pem())?;
        let crl = CertificateRevocationListParams {
            this_update: date_time_ymd(2022, 1, 1),
            next_update: date_time_ymd(2099, 1, 1),
            crl_number: SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: Vec::new(),
            key_identifier_method: KeyIdMethod::Sha256,
        }
        .signed_by(&issuer)
        .context("签发吊销列表（CRL）")?;
        std::fs::write(dir.join("ca.crl.pem"), crl.pem()?)?;
        Ok(CountyCa {
            issuer,
            dir: dir.to_path_buf(),
        })
    }

    pub fn cert(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The CA's certificate revocation list (PEM).
    pub fn crl(&self) -> PathBuf {
        self.dir.join("ca.crl.pem")
    }

    /// The hub's server certificate for `localhost` and `127.0.0.1`.
    pub fn issue_hub(&self) -> Result<Issued> {
        self.issue(
            "hub",
            "县级汇总中心（示例数据）",
            vec!["localhost".into(), "127.0.0.1".into()],
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    /// A node's client certificate naming `<key id>.node.kaohe`.
    pub fn issue_node(&self, stem: &str, display: &str, key_id: &str) -> Result<Issued> {
        self.issue(
            stem,
            display,
            vec![format!("{key_id}.{}", kaohe_hub::server::NODE_CERT_DOMAIN)],
            ExtendedKeyUsagePurpose::ClientAuth,
        )
    }

    fn issue(
        &self,
        stem: &str,
        display: &str,
        names: Vec<String>,
        usage: ExtendedKeyUsagePurpose,
    ) -> Result<Issued> {
        let mut params = CertificateParams::new(names)?;
        params.distinguished_name = name(display);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate()?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .with_context(|| format!("签发证书 {stem}"))?;
        let issued = Issued {
            cert: self.dir.join(format!("{stem}.pem")),
            key: self.dir.join(format!("{stem}.key")),
        };
        std::fs::write(&issued.cert, cert.pem())?;
        write_secret(&issued.key, &key.serialize_pem())?;
        Ok(issued)
    }
}

fn name(common: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, "CN");
    dn.push(DnType::OrganizationName, "宝丰县（示例数据）");
    dn.push(DnType::CommonName, common);
    dn
}

/// Writes a private key readable by this user only.
fn write_secret(path: &Path, text: &str) -> Result<()> {
    #[cfg(unix)]
    {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("写入 {}", path.display()))?;
        f.write_all(text.as_bytes())?;
        Ok(())
    }
    #[cfg(not(unix))]
    {
        std::fs::write(path, text).with_context(|| format!("写入 {}", path.display()))
    }
}
