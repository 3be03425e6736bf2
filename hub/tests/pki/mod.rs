//! The hub tests' certificate authority: a CA that keeps its key to issue
//! server and client certificates — good ones and each kind of faulty one
//! (`Leaf`) — and to sign revocation lists, written as PEM (or DER) files.
//! Certificates are made here with rcgen, in the test.

use std::path::{Path, PathBuf};

use kaohe_hub::server::NODE_CERT_DOMAIN;
use kaohe_proto::SigningKeyPair;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CertifiedIssuer, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyIdMethod, KeyPair, KeyUsagePurpose, RevokedCertParams,
    SerialNumber, date_time_ymd,
};

/// Both test CAs carry this name: a CRL of the other one differs only in
/// its key, so only the signature check can tell them apart.
const CA_NAME: &str = "宝丰县考核 CA";

/// A CA that keeps its key (to issue leaves and sign CRLs), writing PEM
/// files into `dir`.
pub struct TestCa {
    ca: CertifiedIssuer<'static, KeyPair>,
    dir: PathBuf,
    stem: &'static str,
}

/// How a client certificate differs from a good one.
#[derive(Default, Clone, Copy)]
pub struct Leaf {
    pub serial: u64,
    /// Valid 1999–2000 only.
    pub expired: bool,
    /// Valid from 2099 only.
    pub not_yet_valid: bool,
    /// Extended key usage ServerAuth instead of ClientAuth.
    pub server_auth_only: bool,
    /// `basicConstraints CA:TRUE`.
    pub ca: bool,
}

/// A client certificate's PEM files.
pub struct ClientFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TestCa {
    pub fn new(dir: &Path, stem: &'static str) -> TestCa {
        std::fs::create_dir_all(dir).unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, CA_NAME);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        std::fs::write(dir.join(format!("{stem}.pem")), ca.pem()).unwrap();
        TestCa {
            ca,
            dir: dir.to_path_buf(),
            stem,
        }
    }

    pub fn ca_file(&self) -> PathBuf {
        self.dir.join(format!("{}.pem", self.stem))
    }

    pub fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    /// A server certificate for `localhost`: (cert, key).
    pub fn server(&self) -> (PathBuf, PathBuf) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params.signed_by(&key, &self.ca).unwrap();
        let stem = format!("{}-server", self.stem);
        self.write(&stem, &cert.pem(), &key.serialize_pem())
    }

    /// A client certificate naming `node` (`<key id>.node.kaohe`).
    pub fn client(&self, node: &SigningKeyPair, stem: &str, leaf: Leaf) -> ClientFiles {
        let key = KeyPair::generate().unwrap();
        let name = format!("{}.{NODE_CERT_DOMAIN}", node.key_id());
        let mut params = CertificateParams::new(vec![name]).unwrap();
        params.serial_number = Some(SerialNumber::from(leaf.serial));
        params.extended_key_usages = vec![if leaf.server_auth_only {
            ExtendedKeyUsagePurpose::ServerAuth
        } else {
            ExtendedKeyUsagePurpose::ClientAuth
        }];
        if leaf.expired {
            params.not_before = date_time_ymd(1999, 1, 1);
            params.not_after = date_time_ymd(2000, 1, 1);
        }
        if leaf.not_yet_valid {
            params.not_before = date_time_ymd(2099, 1, 1);
            params.not_after = date_time_ymd(2100, 1, 1);
        }
        if leaf.ca {
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.key_usages = vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::DigitalSignature,
            ];
        }
        let cert = params.signed_by(&key, &self.ca).unwrap();
        let (cert, key) = self.write(stem, &cert.pem(), &key.serialize_pem());
        ClientFiles { cert, key }
    }

    /// A CRL revoking `serials`, valid until 1 January `valid_until`, as
    /// PEM or DER in `file`.
    pub fn crl(
        &self,
        file: &str,
        serials: &[u64],
        number: u64,
        valid_until: i32,
        pem: bool,
    ) -> PathBuf {
        let params = CertificateRevocationListParams {
            this_update: date_time_ymd(2020, 1, 1),
            next_update: date_time_ymd(valid_until, 1, 1),
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
        let crl = params.signed_by(&self.ca).unwrap();
        let path = self.dir.join(file);
        if pem {
            std::fs::write(&path, crl.pem().unwrap()).unwrap();
        } else {
            std::fs::write(&path, crl.der()).unwrap();
        }
        path
    }

    fn write(&self, stem: &str, cert: &str, key: &str) -> (PathBuf, PathBuf) {
        let (c, k) = (
            self.dir.join(format!("{stem}.pem")),
            self.dir.join(format!("{stem}.key")),
        );
        std::fs::write(&c, cert).unwrap();
        std::fs::write(&k, key).unwrap();
        (c, k)
    }
}
