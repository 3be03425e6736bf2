//! The root tests' certificate authority: a CA that keeps its key to issue
//! the hub's server certificate and the nodes' client certificates — good
//! ones and each kind of faulty one ([`Fault`]) — and to sign revocation
//! lists, all as PEM files in one directory. Certificates are made here with
//! rcgen, in the test. (The demo has its own CA in `src/demo/pki.rs`: it
//! ships in the binary and never makes a faulty certificate.)

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CertifiedIssuer, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyIdMethod, KeyPair, KeyUsagePurpose, RevokedCertParams,
    SerialNumber, date_time_ymd,
};

/// The serial of every server certificate [`TestCa::server`] issues.
pub const SERVER_SERIAL: u64 = 7;

/// A CA that keeps its key, writing `ca.pem` and what it issues into `dir`.
pub struct TestCa {
    ca: CertifiedIssuer<'static, KeyPair>,
    dir: PathBuf,
}

/// How a certificate differs from a good one.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    None,
    /// Valid 1999–2000 only.
    Expired,
    /// Valid from 2099 only.
    NotYetValid,
    /// Extended key usage ClientAuth on a server certificate.
    ClientAuthOnly,
}

/// Which clients `kaohe hub serve` serves.
#[derive(Debug, Clone, Copy)]
pub enum Clients<'a> {
    /// Any: no client certificate asked for.
    Any,
    /// Those with a client certificate of this CA (`--client-ca`).
    Certified,
    /// Those with a client certificate of this CA that the list at the
    /// path does not revoke (`--client-ca`, `--client-crl`).
    CertifiedUnlessRevoked(&'a Path),
}

impl TestCa {
    /// A CA named `name` with its certificate in `dir/ca.pem`.
    pub fn new(dir: &Path, name: &str) -> TestCa {
        std::fs::create_dir_all(dir).unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        TestCa {
            ca,
            dir: dir.to_path_buf(),
        }
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// `<stem>.pem` and `<stem>.key`.
    pub fn issue(&self, stem: &str, names: Vec<String>, serial: u64, server: bool, fault: Fault) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(names).unwrap();
        params.serial_number = Some(SerialNumber::from(serial));
        params.extended_key_usages = vec![match (server, fault) {
            (true, Fault::ClientAuthOnly) | (false, _) => ExtendedKeyUsagePurpose::ClientAuth,
            (true, _) => ExtendedKeyUsagePurpose::ServerAuth,
        }];
        match fault {
            Fault::Expired => {
                params.not_before = date_time_ymd(1999, 1, 1);
                params.not_after = date_time_ymd(2000, 1, 1);
            }
            Fault::NotYetValid => {
                params.not_before = date_time_ymd(2099, 1, 1);
                params.not_after = date_time_ymd(2100, 1, 1);
            }
            Fault::None | Fault::ClientAuthOnly => {}
        }
        let cert = params.signed_by(&key, &self.ca).unwrap();
        std::fs::write(self.file(&format!("{stem}.pem")), cert.pem()).unwrap();
        std::fs::write(self.file(&format!("{stem}.key")), key.serialize_pem()).unwrap();
    }

    /// A server certificate for the test hub's names (`127.0.0.1`,
    /// `localhost`), serial [`SERVER_SERIAL`].
    pub fn server(&self, stem: &str, fault: Fault) {
        let names = vec!["127.0.0.1".to_string(), "localhost".to_string()];
        self.issue(stem, names, SERVER_SERIAL, true, fault);
    }

    /// A client certificate for the node whose key id is `key_id`: the
    /// name `<key id>.node.kaohe` the hub binds to the signing key.
    pub fn node(&self, stem: &str, key_id: &str, serial: u64) {
        let name = format!("{key_id}.{}", kaohe_hub::server::NODE_CERT_DOMAIN);
        self.issue(stem, vec![name], serial, false, Fault::None);
    }

    /// `crl.pem` revoking `serials`.
    pub fn crl(&self, serials: &[u64], number: u64) -> PathBuf {
        self.crl_file("crl.pem", serials, number, 2099)
    }

    /// `name`, a CRL revoking `serials`, next updated on 1 January of
    /// `next_update_year`.
    pub fn crl_file(
        &self,
        name: &str,
        serials: &[u64],
        number: u64,
        next_update_year: i32,
    ) -> PathBuf {
        let params = CertificateRevocationListParams {
            this_update: date_time_ymd(2020, 1, 1),
            next_update: date_time_ymd(next_update_year, 1, 1),
            crl_number: SerialNumber::from(number),
            issuing_distribution_point: None,
            revoked_certs: serials
                .iter()
                .map(|s| RevokedCertParams {
                    serial_number: SerialNumber::from(*s),
                    revocation_time: date_time_ymd(2020, 6, 1),
                    reason_code: None,
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let path = self.file(name);
        std::fs::write(&path, params.signed_by(&self.ca).unwrap().pem().unwrap()).unwrap();
        path
    }

    /// `kaohe hub serve` TLS options with the server certificate `stem`.
    pub fn serve_args(&self, stem: &str, clients: Clients<'_>) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec![
            "--tls-cert".into(),
            self.file(&format!("{stem}.pem")).into(),
            "--tls-key".into(),
            self.file(&format!("{stem}.key")).into(),
        ];
        if let Clients::Certified | Clients::CertifiedUnlessRevoked(_) = clients {
            args.extend(["--client-ca".into(), self.file("ca.pem").into()]);
        }
        if let Clients::CertifiedUnlessRevoked(crl) = clients {
            args.extend(["--client-crl".into(), crl.into()]);
        }
        args
    }
}
