//! 证书故障（certificate faults, RELIABILITY.md "certificates"), hub side.
//!
//! With mTLS the hub refuses a client certificate that is expired, not yet
//! valid or of the wrong key usage (ServerAuth only; a CA certificate used
//! as a leaf) — rustls in the handshake — and, with `--client-crl`, every
//! call presenting a certificate the county CA revoked, naming its serial,
//! while an unrevoked sibling is served. A CRL that another CA signed (same
//! name, other key), an expired one or an unreadable one stops the start.
//! A replaced CRL file is picked up without a restart. "Signed by another
//! authority" is `with_mtls_the_client_certificate_must_name_the_signing_node`
//! (below) and, on the node's side, `tests/federation/certs.rs`.
//!
//! Certificates come from the one test CA (`pki`); the hub is the real
//! in-process server on 127.0.0.1, reached over real TLS connections.

use super::*;
use crate::pki::{ClientFiles, Leaf, TestCa};
use kaohe_hub::server::{ServeError, TlsFiles};

fn tls_files(ca: &TestCa, crl: Option<PathBuf>) -> TlsFiles {
    let (cert, key) = ca.server();
    TlsFiles {
        cert,
        key,
        client_ca: Some(ca.ca_file()),
        client_crl: crl,
    }
}

/// Why a call was not answered.
#[derive(Debug)]
enum Refused {
    /// The TLS connection failed (the handshake, or the alert after it).
    Connect(String),
    /// The hub (or the transport, after a late alert) answered with a status.
    Status(tonic::Status),
}

/// A TLS channel to `running` trusting `ca`, presenting `client` (or no
/// client certificate).
async fn channel(
    running: &Running,
    ca: &TestCa,
    client: Option<&ClientFiles>,
) -> Result<tonic::transport::Channel, Refused> {
    use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca.ca_pem()))
        .domain_name("localhost");
    if let Some(client) = client {
        tls = tls.identity(Identity::from_pem(
            std::fs::read(&client.cert).unwrap(),
            std::fs::read(&client.key).unwrap(),
        ));
    }
    Endpoint::from_shared(format!("https://127.0.0.1:{}", running.addr.port()))
        .unwrap()
        .tls_config(tls)
        .map_err(|e| Refused::Connect(format!("{e:?}")))?
        .connect()
        .await
        .map_err(|e| Refused::Connect(format!("{e:?}")))
}

/// Submits `node`'s envelope for `unit` over a connection presenting `client`.
async fn submit_as(
    running: &Running,
    ca: &TestCa,
    client: &ClientFiles,
    node: &SigningKeyPair,
    unit: &str,
) -> Result<Receipt, Refused> {
    let channel = channel(running, ca, Some(client)).await?;
    let envelope = signed(&submission(node, &running.setup.pack, unit, 1), node);
    let receipt = SubmissionServiceClient::new(channel)
        .submit(envelope)
        .await
        .map_err(Refused::Status)?
        .into_inner();
    Ok(Receipt::try_from(receipt).unwrap())
}

/// `ListPacks` (an unsigned call) over a connection presenting `client`.
async fn list_packs_as(
    running: &Running,
    ca: &TestCa,
    client: &ClientFiles,
) -> Result<ListPacksResponse, Refused> {
    let channel = channel(running, ca, Some(client)).await?;
    let list = PackServiceClient::new(channel)
        .list_packs(pb::ListPacksRequest { year: 2022 })
        .await
        .map_err(Refused::Status)?
        .into_inner();
    Ok(ListPacksResponse::try_from(list).unwrap())
}

/// Starts an mTLS hub, offers node A's `bad` certificate (refused in the
/// handshake, nothing stored), then node C's good sibling (accepted: the
/// hub was up and the refusal was about the certificate).
async fn refused_in_the_handshake(bad: Leaf) {
    let setup = setup();
    let ca = TestCa::new(&setup.dir.join("pki"), "county-ca");
    let (a, c) = (node_key(1), node_key(3));
    let bad = ca.client(&a, "a-bad", bad);
    let good = ca.client(
        &c,
        "c-good",
        Leaf {
            serial: 3,
            ..Leaf::default()
        },
    );
    let files = tls_files(&ca, None);
    let running = start_with(setup, move |o| o.tls = Some(files)).await;
    let before = running.dump();

    let refused = submit_as(&running, &ca, &bad, &a, "t1").await;
    // Refused by TLS: the connection fails, or its first call sees the
    // alert (or the closed connection) as a transport error.
    match refused {
        Err(Refused::Connect(why)) => assert!(!why.is_empty()),
        Err(Refused::Status(status)) => assert!(
            std::error::Error::source(&status).is_some_and(|e| e.is::<tonic::transport::Error>()),
            "expected a transport failure, not an answer: {status:?}"
        ),
        Ok(receipt) => panic!("the bad certificate was served: {receipt:?}"),
    }
    assert!(
        list_packs_as(&running, &ca, &bad).await.is_err(),
        "an unsigned call over the bad certificate was served"
    );
    assert_eq!(running.dump(), before, "nothing is stored");

    let receipt = submit_as(&running, &ca, &good, &c, "t2")
        .await
        .expect("the sibling certificate is served");
    receipt.verify(&running.hub_key).unwrap();
    running.stop().await;
}

/// A client certificate past its `notAfter` is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_client_certificate_is_refused() {
    refused_in_the_handshake(Leaf {
        serial: 1,
        expired: true,
        ..Leaf::default()
    })
    .await;
}

/// A client certificate before its `notBefore` is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_not_yet_valid_is_refused() {
    refused_in_the_handshake(Leaf {
        serial: 1,
        not_yet_valid: true,
        ..Leaf::default()
    })
    .await;
}

/// A certificate for servers only (extended key usage ServerAuth) is no
/// client certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_for_server_auth_only_is_refused() {
    refused_in_the_handshake(Leaf {
        serial: 1,
        server_auth_only: true,
        ..Leaf::default()
    })
    .await;
}

/// A CA certificate (here a sub-CA the county CA signed, naming the node)
/// presented as the client's own certificate is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ca_certificate_used_as_a_client_certificate_is_refused() {
    refused_in_the_handshake(Leaf {
        serial: 1,
        ca: true,
        ..Leaf::default()
    })
    .await;
}

/// Over mTLS the client certificate names the node: node A's envelope over
/// its own certificate is accepted; node C's envelope, or a call C signed,
/// over A's connection is refused; a connection without a client
/// certificate is not served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_mtls_the_client_certificate_must_name_the_signing_node() {
    let setup = setup();
    let pack = setup.pack.clone();
    let ca = TestCa::new(&setup.dir.join("pki"), "county-ca");
    let (a, c) = (node_key(1), node_key(3));
    let cert_a = ca.client(
        &a,
        "a",
        Leaf {
            serial: 1,
            ..Leaf::default()
        },
    );
    let files = tls_files(&ca, None);
    let running = start_with(setup, move |o| o.tls = Some(files)).await;

    // Node A over its own certificate: accepted.
    let own = channel(&running, &ca, Some(&cert_a)).await.unwrap();
    let mut client = SubmissionServiceClient::new(own.clone());
    let receipt = client
        .submit(signed(&submission(&a, &pack, "t1", 1), &a))
        .await
        .expect("accepted over mTLS")
        .into_inner();
    Receipt::try_from(receipt)
        .unwrap()
        .verify(&running.hub_key)
        .unwrap();

    // Node C's envelope sent over node A's connection: refused, nothing stored.
    let before = running.dump();
    let status = client
        .submit(signed(&submission(&c, &pack, "t2", 1), &c))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let r = Rejection::from_status(&status).unwrap();
    assert_eq!(r.code, RejectionCode::IdentityMismatch);
    assert!(r.message.contains("客户端证书"), "{}", r.message);
    assert_eq!(running.dump(), before);

    // A signed call by C over A's certificate: refused.
    let mut units = UnitServiceClient::new(own);
    let mut request = tonic::Request::new(pb::ListMyUnitsRequest { year: 2022 });
    call_auth::sign_call(&mut request, &c, paths::LIST_MY_UNITS, running.now());
    assert_eq!(
        units.list_my_units(request).await.unwrap_err().code(),
        Code::PermissionDenied
    );

    // No client certificate: the hub does not serve the connection.
    let refused = match channel(&running, &ca, None).await {
        Err(_) => true,
        Ok(none) => SubmissionServiceClient::new(none)
            .submit(signed(&submission(&a, &pack, "t2", 2), &a))
            .await
            .is_err(),
    };
    assert!(
        refused,
        "a connection without a client certificate must not be served"
    );
    assert_eq!(running.dump(), before);
    running.stop().await;
}

fn assert_revoked(refused: Result<impl std::fmt::Debug, Refused>, serial: &str) {
    match refused {
        Err(Refused::Status(status)) => {
            assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
            assert!(
                status.message().contains("客户端证书已被县 CA 吊销")
                    && status.message().contains(&format!("序列号 {serial}")),
                "the refusal should name the revocation and serial {serial}: {}",
                status.message()
            );
        }
        other => panic!("expected UNAUTHENTICATED naming serial {serial}, got {other:?}"),
    }
}

/// Gives `path` a modification time of its own, so the hub sees the
/// replacement however fast the test writes (no sleeping).
fn touch(path: &Path, seconds: u64) {
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds))
        .unwrap();
}

/// With `--client-crl` every call presenting a revoked certificate is
/// refused `UNAUTHENTICATED` naming its serial, an unrevoked sibling is
/// served, and a replaced CRL takes effect without a restart (a broken
/// replacement leaves the previous list in force).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_client_certificate_is_refused_on_every_call_naming_its_serial() {
    let setup = setup();
    let ca = TestCa::new(&setup.dir.join("pki"), "county-ca");
    let (a, c) = (node_key(1), node_key(3));
    let leaf = |serial| Leaf {
        serial,
        ..Leaf::default()
    };
    let cert_a = ca.client(&a, "a", leaf(0x1001));
    let cert_c = ca.client(&c, "c", leaf(0x1003));
    let crl = ca.crl("county-ca.crl.pem", &[0x1001], 1, 2099, true);
    touch(&crl, 1_000_000);
    let files = tls_files(&ca, Some(crl.clone()));
    let running = start_with(setup, move |o| o.tls = Some(files)).await;
    let before = running.dump();

    // A is revoked: its submission and an unsigned call are refused.
    assert_revoked(submit_as(&running, &ca, &cert_a, &a, "t1").await, "1001");
    assert_revoked(list_packs_as(&running, &ca, &cert_a).await, "1001");
    assert_eq!(running.dump(), before, "nothing is stored");
    // C, issued by the same CA and not listed, is served.
    submit_as(&running, &ca, &cert_c, &c, "t2")
        .await
        .expect("the unrevoked sibling is served")
        .verify(&running.hub_key)
        .unwrap();
    assert_eq!(
        list_packs_as(&running, &ca, &cert_c)
            .await
            .unwrap()
            .packs
            .len(),
        1
    );

    // The county office issues a new CRL (DER this time) revoking C only.
    let written = ca.crl("county-ca.crl.pem", &[0x1003], 2, 2099, false);
    assert_eq!(written, crl);
    touch(&crl, 2_000_000);
    assert_revoked(list_packs_as(&running, &ca, &cert_c).await, "1003");
    submit_as(&running, &ca, &cert_a, &a, "t1")
        .await
        .expect("A is no longer listed")
        .verify(&running.hub_key)
        .unwrap();

    // A broken replacement is not applied: the previous list stays.
    std::fs::write(&crl, "不是吊销列表").unwrap();
    touch(&crl, 3_000_000);
    assert_revoked(list_packs_as(&running, &ca, &cert_c).await, "1003");
    assert!(list_packs_as(&running, &ca, &cert_a).await.is_ok());
    running.stop().await;
}

/// `Hub::start` with `crl` as the client CRL of `ca`: the error text.
fn start_error(setup: &Setup, ca: &TestCa, crl: PathBuf, with_ca: bool) -> String {
    let mut options = ServeOptions::new(&setup.dir, Clock::System);
    options.runtime = small_runtime();
    let mut files = tls_files(ca, Some(crl));
    if !with_ca {
        files.client_ca = None;
    }
    options.tls = Some(files);
    let err = Hub::start(options).expect_err("the hub must not start");
    assert!(matches!(err, ServeError::Crl(_)), "{err:?}");
    err.to_string()
}

/// A CRL the client CA did not sign (another CA of the same name), an
/// expired one, an unreadable one, a missing one, or one without a client
/// CA: `hub serve` does not start, naming the file.
#[test]
fn a_crl_of_another_ca_expired_or_unreadable_stops_the_start() {
    let setup = setup();
    let pki = setup.dir.join("pki");
    let county = TestCa::new(&pki, "county-ca");
    let other = TestCa::new(&pki, "other-ca");
    let shown = |p: &Path| p.display().to_string();

    let foreign = other.crl("other.crl.pem", &[1], 1, 2099, true);
    let msg = start_error(&setup, &county, foreign.clone(), true);
    assert!(
        msg.contains("不是客户端证书签发机构") && msg.contains(&shown(&foreign)),
        "{msg}"
    );

    let expired = county.crl("expired.crl.der", &[1], 1, 2021, false);
    let msg = start_error(&setup, &county, expired.clone(), true);
    assert!(
        msg.contains("已过期") && msg.contains(&shown(&expired)),
        "{msg}"
    );

    let garbage = pki.join("garbage.crl");
    std::fs::write(
        &garbage,
        "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n",
    )
    .unwrap();
    let msg = start_error(&setup, &county, garbage.clone(), true);
    assert!(msg.contains(&shown(&garbage)), "{msg}");

    let missing = pki.join("missing.crl.pem");
    let msg = start_error(&setup, &county, missing.clone(), true);
    assert!(
        msg.contains("读取吊销列表") && msg.contains(&shown(&missing)),
        "{msg}"
    );

    let good = county.crl("county.crl.pem", &[1], 1, 2099, true);
    let msg = start_error(&setup, &county, good.clone(), false);
    assert!(msg.contains("--client-ca"), "{msg}");

    // The county CA's own, current CRL starts.
    let mut options = ServeOptions::new(&setup.dir, Clock::System);
    options.runtime = small_runtime();
    options.tls = Some(tls_files(&county, Some(good)));
    let hub = Hub::start(options).expect("a good CRL starts");
    assert!(hub.requires_client_certificates());
}
