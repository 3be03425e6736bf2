//! TLS between node and hub, and 证书故障 (certificate faults,
//! RELIABILITY.md "certificates") on the node's side, against the real
//! `kaohe hub serve`.
//!
//! The node syncs only with a hub whose certificate its CA signed; with
//! `--client-ca` the hub serves only the node presenting its own client
//! certificate. `kaohe node sync` refuses a hub whose server certificate is
//! expired, not yet valid, for client authentication only, or on the county
//! CA's revocation list (`hub.crl`): nothing is synced and the Chinese hint
//! says which. A node whose client certificate the county CA revoked
//! (`kaohe hub serve --client-crl`) is refused with the serial named, and
//! syncs once the hub's CRL file is replaced — without a restart.

use super::pki::{Clients, Fault, TestCa};
use super::*;

/// A node refuses a hub whose certificate another CA signed, and syncs
/// over TLS with the county CA's.
#[test]
fn the_node_syncs_over_tls_only_with_a_certificate_of_its_ca() {
    let mut f = Federation::new(2, "satisfaction");
    let ca = TestCa::new(&f.root().join("pki"), "宝丰县考核 CA");
    ca.server("server", Fault::None);
    let rogue = TestCa::new(&f.root().join("rogue-pki"), "另一个 CA");
    rogue.server("rogue-server", Fault::None);

    f.start_tls_hub(
        &rogue.serve_args("rogue-server", Clients::Any),
        &[("ca_cert", ca.file("ca.pem"))],
    );
    let msg = f.node_fails(&["sync", "--operator", "王科员"]);
    assert!(msg.contains("无法连接汇总中心"), "{msg}");
    assert!(
        msg.contains("证书未通过核验") && msg.contains("hub.ca_cert"),
        "the certificate should be named as the reason: {msg}"
    );
    assert_eq!(f.scope_years(), Vec::<u16>::new());
    assert!(f.store().packs().unwrap().is_empty());
    f.kill_hub();

    f.start_tls_hub(
        &ca.serve_args("server", Clients::Any),
        &[("ca_cert", ca.file("ca.pem"))],
    );
    f.sync();
    let scope = f.store().scope(2022).unwrap();
    assert_eq!(
        scope
            .units
            .iter()
            .map(|u| u.unit_id.clone())
            .collect::<Vec<_>>(),
        f.unit_ids()
    );
    assert_eq!(f.store().packs().unwrap().len(), 1);
}

/// With `--client-ca` the hub serves only the node presenting its own
/// certificate: none, or another node's, is refused with a message saying so.
#[test]
fn with_mtls_the_node_presents_its_own_client_certificate() {
    let mut f = Federation::new(2, "satisfaction");
    let own = f.node_key_id.clone();
    let other = kaohe_proto::SigningKeyPair::from_seed(&[9; 32])
        .key_id()
        .to_string();
    assert_ne!(own, other);
    let ca = TestCa::new(&f.root().join("pki"), "宝丰县考核 CA");
    ca.server("server", Fault::None);
    ca.node(&own, &own, 11);
    ca.node(&other, &other, 12);
    let serve = ca.serve_args("server", Clients::Certified);
    let ca_cert = ("ca_cert", ca.file("ca.pem"));

    // No client certificate.
    f.start_tls_hub(&serve, std::slice::from_ref(&ca_cert));
    let msg = f.node_fails(&["sync", "--operator", "王科员"]);
    assert!(
        msg.contains("客户端证书") && msg.contains("hub.client_cert"),
        "the message should say a client certificate is needed: {msg}"
    );
    assert_eq!(f.scope_years(), Vec::<u16>::new());
    f.kill_hub();

    // Another node's certificate.
    f.start_tls_hub(
        &serve,
        &[
            ca_cert.clone(),
            ("client_cert", ca.file(&format!("{other}.pem"))),
            ("client_key", ca.file(&format!("{other}.key"))),
        ],
    );
    let msg = f.node_fails(&["sync", "--operator", "王科员"]);
    assert!(
        msg.contains("客户端证书") && msg.contains(&own),
        "the refusal should name the certificate and the node: {msg}"
    );
    assert_eq!(f.scope_years(), Vec::<u16>::new());
    f.kill_hub();

    // Its own certificate.
    f.start_tls_hub(
        &serve,
        &[
            ca_cert,
            ("client_cert", ca.file(&format!("{own}.pem"))),
            ("client_key", ca.file(&format!("{own}.key"))),
        ],
    );
    f.sync();
    assert_eq!(f.scope_years(), vec![2022]);
    assert_eq!(f.store().scope(2022).unwrap().units.len(), f.units.len());
}

/// Starts the hub with a faulty server certificate; `kaohe node sync` must
/// fail naming the fault (`words`) and sync nothing.
fn the_node_refuses_the_hub_certificate(fault: Fault, words: &[&str]) {
    let mut f = Federation::new(2, "satisfaction");
    let ca = TestCa::new(&f.root().join("pki"), "宝丰县考核 CA");
    ca.server("server", fault);
    f.start_tls_hub(
        &ca.serve_args("server", Clients::Any),
        &[("ca_cert", ca.file("ca.pem"))],
    );
    let msg = f.node_fails(&["sync", "--operator", "王科员"]);
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
    let mut f = Federation::new(2, "satisfaction");
    let own = f.node_key_id.clone();
    let ca = TestCa::new(&f.root().join("pki"), "宝丰县考核 CA");
    ca.server("server", Fault::None);
    ca.node("node", &own, 0xBEEF);
    let crl = ca.crl(&[0xBEEF], 1);
    f.start_tls_hub(
        &ca.serve_args("server", Clients::CertifiedUnlessRevoked(&crl)),
        &[
            ("ca_cert", ca.file("ca.pem")),
            ("client_cert", ca.file("node.pem")),
            ("client_key", ca.file("node.key")),
        ],
    );
    let msg = f.node_fails(&["sync", "--operator", "王科员"]);
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
    f.sync();
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
    let mut f = Federation::new(2, "satisfaction");
    let ca = TestCa::new(&f.root().join("pki"), "宝丰县考核 CA");
    ca.server("server", Fault::None);
    let revoked = ca.crl_file("county.crl.pem", &[pki::SERVER_SERIAL, 9], 1, 2099);
    f.start_tls_hub(
        &ca.serve_args("server", Clients::Any),
        &[("ca_cert", ca.file("ca.pem")), ("crl", revoked.clone())],
    );
    let refused = |f: &Federation, words: &[&str]| {
        let msg = f.node_fails(&["sync", "--operator", "王科员"]);
        assert!(msg.contains("无法连接汇总中心"), "{msg}");
        for w in words {
            assert!(msg.contains(w), "the refusal should say {w:?}: {msg}");
        }
        assert_eq!(f.scope_years(), Vec::<u16>::new(), "nothing synced");
        assert!(f.store().packs().unwrap().is_empty(), "no pack fetched");
    };
    refused(&f, &["已被县 CA 吊销", "hub.crl"]);

    // Another CA's list: the status is unknown, and unknown is refused.
    let other = TestCa::new(&f.root().join("other-pki"), "宝丰县考核 CA");
    let foreign = other.crl_file("foreign.crl.pem", &[], 1, 2099);
    f.set_hub_file("crl", &foreign);
    refused(&f, &["不是签发汇总中心证书的 CA"]);

    // The county's list, but past its next update (2021-01-01).
    let stale = ca.crl_file("stale.crl.pem", &[], 2, 2021);
    f.set_hub_file("crl", &stale);
    refused(&f, &["吊销列表已过期"]);

    // The office's current list no longer holds the server's serial: served.
    let current = ca.crl_file("current.crl.pem", &[9], 3, 2099);
    f.set_hub_file("crl", &current);
    f.sync();
    assert_eq!(f.scope_years(), vec![2022]);
    assert_eq!(f.store().packs().unwrap().len(), 1);
}

/// Under mTLS, adopting a rotated key while node.toml still presents the
/// old key's client certificate is refused for that reason — not as "the
/// hub does not know the new key yet", which sent an official to the
/// county office for nothing — and succeeds with the new key's certificate.
#[test]
fn adopting_a_new_key_with_the_old_keys_certificate_names_the_certificate() {
    let mut f = Federation::new(1, "satisfaction");
    let own = f.node_key_id.clone();
    let ca = TestCa::new(&f.root().join("pki"), "宝丰县考核 CA");
    ca.server("server", Fault::None);
    ca.node(&own, &own, 11);
    let serve = ca.serve_args("server", Clients::Certified);
    let ca_cert = ("ca_cert", ca.file("ca.pem"));
    f.start_tls_hub(
        &serve,
        &[
            ca_cert.clone(),
            ("client_cert", ca.file(&format!("{own}.pem"))),
            ("client_key", ca.file(&format!("{own}.key"))),
        ],
    );
    f.sync();
    let prepared = f.node(&["rotate-key", "prepare"]);
    let new_key = key_in(&prepared, "新公钥");
    let new_id = prepared
        .lines()
        .find(|l| l.contains("新密钥编号"))
        .and_then(|l| l.rsplit('：').next())
        .map(|id| id.trim().to_owned())
        .unwrap_or_else(|| panic!("no key id in:\n{prepared}"));
    f.hub(&[
        "node",
        "rotate-key",
        NODE_NAME,
        "--key",
        &new_key,
        "--reason",
        "年中定期更换",
    ]);

    let refused = f.node_fails(&["rotate-key", "adopt"]);
    assert!(
        refused.contains("客户端证书") && refused.contains("不属于密钥"),
        "the certificate should be named: {refused}"
    );
    assert!(!refused.contains("尚未登记新密钥"), "{refused}");
    assert!(
        !f.node_dir
            .join(format!("node.key.retired-{}", f.node_key_id))
            .exists(),
        "the old key stays in use"
    );

    // With the new key's certificate it is adopted.
    ca.node(&new_id, &new_id, 12);
    f.kill_hub();
    f.start_tls_hub(
        &serve,
        &[
            ca_cert,
            ("client_cert", ca.file(&format!("{new_id}.pem"))),
            ("client_key", ca.file(&format!("{new_id}.key"))),
        ],
    );
    let adopted = f.node(&["rotate-key", "adopt"]);
    assert!(adopted.contains("已改用新密钥"), "{adopted}");
}
