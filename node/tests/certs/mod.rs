//! 证书故障（certificate faults, RELIABILITY.md "certificates"), node side,
//! against the real `kaohe hub serve`.
//!
//! `kaohe node sync` refuses a hub whose server certificate is expired,
//! not yet valid, or for client authentication only: nothing is synced and
//! the Chinese hint says which. A node whose client certificate the county
//! CA revoked (`kaohe hub serve --client-crl`) is refused with the serial
//! named, and syncs once the hub's CRL file is replaced — without a
//! restart. "Signed by another authority" is
//! `the_node_syncs_over_tls_only_with_a_certificate_of_its_ca`.

use super::*;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CertifiedIssuer, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyIdMethod, KeyPair, KeyUsagePurpose, RevokedCertParams,
    SerialNumber, date_time_ymd,
};

/// The county CA, kept to issue and revoke; files in `dir`.
struct CountyCa {
    ca: CertifiedIssuer<'static, KeyPair>,
    dir: PathBuf,
}

/// How a certificate differs from a good one.
#[derive(Clone, Copy)]
enum Fault {
    None,
    /// Valid 1999–2000 only.
    Expired,
    /// Valid from 2099 only.
    NotYetValid,
    /// Extended key usage ClientAuth on a server certificate.
    ClientAuthOnly,
}

impl CountyCa {
    fn new(dir: &Path) -> CountyCa {
        std::fs::create_dir_all(dir).unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "宝丰县考核 CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        CountyCa {
            ca,
            dir: dir.to_path_buf(),
        }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// `<stem>.pem` and `<stem>.key`.
    fn issue(&self, stem: &str, names: Vec<String>, serial: u64, server: bool, fault: Fault) {
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

    /// A server certificate for the test hub's names.
    fn server(&self, stem: &str, fault: Fault) {
        let names = vec!["127.0.0.1".to_string(), "localhost".to_string()];
        self.issue(stem, names, 7, true, fault);
    }

    /// `crl.pem` revoking `serials`.
    fn crl(&self, serials: &[u64], number: u64) -> PathBuf {
        self.crl_file("crl.pem", serials, number, 2099)
    }

    /// `name`, a CRL revoking `serials`, next updated on 1 January of
    /// `next_update_year`.
    fn crl_file(&self, name: &str, serials: &[u64], number: u64, next_update_year: i32) -> PathBuf {
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
    fn serve_args(&self, stem: &str, mtls: Option<&Path>) -> Vec<std::ffi::OsString> {
        let mut args: Vec<std::ffi::OsString> = vec![
            "--tls-cert".into(),
            self.file(&format!("{stem}.pem")).into(),
            "--tls-key".into(),
            self.file(&format!("{stem}.key")).into(),
        ];
        if let Some(crl) = mtls {
            args.extend([
                "--client-ca".into(),
                self.file("ca.pem").into(),
                "--client-crl".into(),
                crl.into(),
            ]);
        }
        args
    }
}

/// Starts the hub with a faulty server certificate; `kaohe node sync` must
/// fail naming the fault (`words`) and sync nothing.
fn the_node_refuses_the_hub_certificate(fault: Fault, words: &[&str]) {
    let mut f = federation(2);
    let ca = CountyCa::new(&f.tmp.path().join("pki"));
    ca.server("server", fault);
    f.start_tls_hub(
        &ca.serve_args("server", None),
        &[("ca_cert", ca.file("ca.pem"))],
    );
    let err = f
        .node(&["sync", "--operator", "王科员"])
        .expect_err("the hub's certificate must be refused");
    let msg = format!("{err:#}");
    assert!(msg.contains("无法连接汇总中心"), "{msg}");
    assert!(msg.contains("汇总中心的证书未通过核验"), "{msg}");
    for w in words {
        assert!(msg.contains(w), "the hint should say {w:?}: {msg}");
    }
    assert_eq!(f.scope_years(), Vec::<u16>::new(), "nothing synced");
    assert!(f.store().packs().unwrap().is_empty(), "no pack fetched");
}

#[test]
fn the_node_refuses_a_hub_certificate_that_expired() {
    the_node_refuses_the_hub_certificate(Fault::Expired, &["已过期"]);
}

#[test]
fn the_node_refuses_a_hub_certificate_not_yet_valid() {
    the_node_refuses_the_hub_certificate(Fault::NotYetValid, &["尚未生效"]);
}

#[test]
fn the_node_refuses_a_hub_certificate_for_client_auth_only() {
    the_node_refuses_the_hub_certificate(Fault::ClientAuthOnly, &["不是服务器证书", "serverAuth"]);
}

/// `kaohe hub serve --client-crl`: the node whose certificate the county CA
/// revoked is refused with its serial named and nothing synced; when the
/// office replaces the CRL file with one that no longer lists it, the
/// running hub serves it.
#[test]
fn a_node_whose_client_certificate_was_revoked_is_refused_naming_the_serial() {
    let mut f = federation(2);
    let own = f.key_id();
    let ca = CountyCa::new(&f.tmp.path().join("pki"));
    ca.server("server", Fault::None);
    ca.issue(
        "node",
        vec![format!("{own}.node.kaohe")],
        0xBEEF,
        false,
        Fault::None,
    );
    let crl = ca.crl(&[0xBEEF], 1);
    f.start_tls_hub(
        &ca.serve_args("server", Some(&crl)),
        &[
            ("ca_cert", ca.file("ca.pem")),
            ("client_cert", ca.file("node.pem")),
            ("client_key", ca.file("node.key")),
        ],
    );
    let err = f
        .node(&["sync", "--operator", "王科员"])
        .expect_err("a revoked certificate must be refused");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("吊销") && msg.contains("BEEF"),
        "the refusal should name the revocation and the serial: {msg}"
    );
    assert_eq!(f.scope_years(), Vec::<u16>::new(), "nothing synced");

    // A new CRL that lists another serial; the file's modification time is
    // set apart so the running hub sees the replacement.
    let replaced = ca.crl(&[0x1234], 2);
    assert_eq!(replaced, crl);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&crl)
        .unwrap()
        .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(2_000_000))
        .unwrap();
    f.node(&["sync", "--operator", "王科员"]).unwrap();
    assert_eq!(f.scope_years(), vec![2022]);
    assert_eq!(f.store().packs().unwrap().len(), 1);
}

/// `hub.crl`: the node checks the hub's certificate against the county
/// CA's revocation list on every connection. Revoked → refused, saying so,
/// nothing synced; the office's next list (without the serial) is picked
/// up by the next command. A list from another CA or one past its
/// `nextUpdate` refuses every connection rather than skip the check.
#[test]
fn the_node_refuses_a_hub_certificate_on_the_county_crl() {
    let mut f = federation(2);
    let ca = CountyCa::new(&f.tmp.path().join("pki"));
    ca.server("server", Fault::None); // serial 7
    let revoked = ca.crl_file("county.crl.pem", &[7, 9], 1, 2099);
    f.start_tls_hub(
        &ca.serve_args("server", None),
        &[("ca_cert", ca.file("ca.pem")), ("crl", revoked.clone())],
    );
    let refused = |f: &Federation, words: &[&str]| {
        let err = f
            .node(&["sync", "--operator", "王科员"])
            .expect_err("the hub's certificate must be refused");
        let msg = format!("{err:#}");
        assert!(msg.contains("无法连接汇总中心"), "{msg}");
        for w in words {
            assert!(msg.contains(w), "the refusal should say {w:?}: {msg}");
        }
        assert_eq!(f.scope_years(), Vec::<u16>::new(), "nothing synced");
        assert!(f.store().packs().unwrap().is_empty(), "no pack fetched");
    };
    refused(&f, &["已被县 CA 吊销", "hub.crl"]);

    // Another CA's list: the status is unknown, and unknown is refused.
    let other = CountyCa::new(&f.tmp.path().join("other-pki"));
    let foreign = other.crl_file("foreign.crl.pem", &[], 1, 2099);
    f.set_hub_key("crl", &foreign);
    refused(&f, &["不是签发汇总中心证书的 CA"]);

    // The county's list, but past its next update (2021-01-01).
    let stale = ca.crl_file("stale.crl.pem", &[], 2, 2021);
    f.set_hub_key("crl", &stale);
    refused(&f, &["吊销列表已过期"]);

    // The office's current list no longer holds serial 7: served.
    let current = ca.crl_file("current.crl.pem", &[9], 3, 2099);
    f.set_hub_key("crl", &current);
    f.node(&["sync", "--operator", "王科员"]).unwrap();
    assert_eq!(f.scope_years(), vec![2022]);
    assert_eq!(f.store().packs().unwrap().len(), 1);
}
