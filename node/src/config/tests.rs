//! `node.toml`: every key checked and named, every problem at once, the
//! rendered file round-tripping.

use super::*;

fn key() -> String {
    kaohe_proto::SigningKeyPair::from_seed(&[7; 32])
        .public()
        .to_string()
}

fn hub_key() -> String {
    kaohe_proto::SigningKeyPair::from_seed(&[8; 32])
        .public()
        .to_string()
}

fn write_ca(dir: &Path) -> PathBuf {
    let p = dir.join("ca.pem");
    std::fs::write(
        &p,
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    p
}

fn good(dir: &Path) -> String {
    let ca = write_ca(dir);
    render(
        "宝丰县依法治县办",
        Assessor::CountyOffice,
        "https://127.0.0.1:7443",
        Some(&ca),
        Some(&hub_key()),
        &[key()],
        1,
    )
}

/// Problems of `text` as `(key, found present)`; the message names the file.
fn problems(dir: &Path, text: &str) -> Vec<(String, String)> {
    let path = dir.join(CONFIG_FILE);
    match NodeConfig::parse(text, &path) {
        Err(e @ ConfigError::Invalid { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains(&path.display().to_string()),
                "file not named: {msg}"
            );
            let ConfigError::Invalid { problems, .. } = e else {
                unreachable!()
            };
            problems
                .into_iter()
                .map(|p| (p.key.clone(), p.to_string()))
                .collect()
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
}

fn keys_of(dir: &Path, text: &str) -> Vec<String> {
    problems(dir, text).into_iter().map(|(k, _)| k).collect()
}

#[test]
fn the_rendered_config_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let c = NodeConfig::parse(&good(dir.path()), &dir.path().join(CONFIG_FILE)).unwrap();
    assert_eq!(c.name, "宝丰县依法治县办");
    assert_eq!(c.assessor, Assessor::CountyOffice);
    assert_eq!(c.hub.address, "https://127.0.0.1:7443");
    assert_eq!(
        (c.hub.host.as_str(), c.hub.port, c.hub.tls),
        ("127.0.0.1", 7443, true)
    );
    assert_eq!(c.authorities.threshold, 1);
    assert_eq!(c.authorities.keys.len(), 1);
    assert_eq!(
        c.hub.receipt_key.map(|k| k.to_string()),
        Some(hub_key()),
        "the pinned receipt key"
    );
    assert_eq!(c.key_file, dir.path().join("node.key"));
    assert_eq!(c.store_file, dir.path().join("node.db"));
}

#[test]
fn bad_toml_names_the_file_and_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(CONFIG_FILE);
    let err = NodeConfig::parse("name = \"x\"\nassessor = \n", &path).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ConfigError::Syntax { .. }), "{err:?}");
    assert!(
        msg.contains(&path.display().to_string()) && msg.contains("line 2"),
        "{msg}"
    );
}

#[test]
fn each_key_is_checked_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let g = good(dir.path());
    let k = key();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "name",
            g.replace("name = \"宝丰县依法治县办\"\n", ""),
            "缺少此项",
        ),
        (
            "name",
            g.replace("name = \"宝丰县依法治县办\"", "name = \"  \""),
            "节点名称",
        ),
        (
            "name",
            g.replace("name = \"宝丰县依法治县办\"", "name = 3"),
            "整数 3",
        ),
        (
            "assessor",
            g.replace("assessor = \"county_office\"", "assessor = \"mayor\""),
            "county_office、sasac",
        ),
        (
            "key_file",
            g.replace("key_file = \"node.key\"", "key_file = 7"),
            "整数 7",
        ),
        (
            "hub.address",
            g.replace("https://127.0.0.1:7443", "ftp://127.0.0.1:7443"),
            "https://",
        ),
        (
            "hub.address",
            g.replace("https://127.0.0.1:7443", "https://127.0.0.1"),
            "端口",
        ),
        (
            "hub.address",
            g.replace("https://127.0.0.1:7443", "https://127.0.0.1:99999"),
            "65535",
        ),
        (
            "hub.address",
            g.replace("https://127.0.0.1:7443", "https://hub:7443/api"),
            "路径",
        ),
        (
            "hub.address",
            g.replace("https://127.0.0.1:7443", "http://hub.example.cn:80"),
            "回环",
        ),
        (
            "hub.ca_cert",
            g.replace("ca.pem", "missing.pem"),
            "missing.pem",
        ),
        (
            "hub.ca_cert",
            g.replace("ca.pem", "missing.pem"),
            "文件或目录不存在，请核对路径（os error 2）",
        ),
        (
            "hub",
            g.replace(
                "[hub]\naddress = \"https://127.0.0.1:7443\"",
                "[hubb]\naddress = \"x\"",
            ),
            "缺少此项",
        ),
        (
            "pack_authorities.keys[0]",
            g.replace(&k, "ed25519:AAAA"),
            "ed25519:AAAA",
        ),
        (
            "pack_authorities.keys[0]",
            g.replace(&k, "rsa:abc"),
            "rsa:abc",
        ),
        (
            "pack_authorities.threshold",
            g.replace("threshold = 1", "threshold = 2"),
            "1 到 1",
        ),
        (
            "pack_authorities.threshold",
            g.replace("threshold = 1", "threshold = \"all\""),
            "整数",
        ),
        (
            "hub.receipt_key",
            g.replace(&hub_key(), "ed25519:AAAA"),
            "ed25519:AAAA",
        ),
        ("color", format!("color = \"red\"\n{g}"), "不认识的配置项"),
        (
            "hub.proxy",
            g.replace("[hub]\n", "[hub]\nproxy = \"x\"\n"),
            "不认识的配置项",
        ),
    ];
    for (key, text, says) in cases {
        let found = problems(dir.path(), &text);
        assert!(
            found.iter().any(|(k, msg)| k == key && msg.contains(says)),
            "expected a problem at {key} saying {says:?}; got {found:?}"
        );
    }
}

#[test]
fn https_without_a_ca_is_refused_and_loopback_http_is_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let no_ca = render(
        "n",
        Assessor::Sasac,
        "https://10.0.0.5:7443",
        None,
        None,
        &[],
        0,
    );
    assert_eq!(keys_of(dir.path(), &no_ca), vec!["hub.ca_cert"]);
    let http = render(
        "n",
        Assessor::Sasac,
        "http://127.0.0.1:7443",
        None,
        None,
        &[],
        0,
    );
    let c = NodeConfig::parse(&http, &dir.path().join(CONFIG_FILE)).unwrap();
    assert!(!c.hub.tls);
    assert!(c.authorities.keys.is_empty());
}

#[test]
fn a_ca_file_that_is_not_pem_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.der"), [0x30, 0x82, 0x01]).unwrap();
    let text = render(
        "n",
        Assessor::Sasac,
        "https://10.0.0.5:7443",
        Some(&dir.path().join("ca.der")),
        None,
        &[],
        0,
    );
    let found = problems(dir.path(), &text);
    assert!(
        found
            .iter()
            .any(|(k, m)| k == "hub.ca_cert" && m.contains("PEM")),
        "{found:?}"
    );
}

#[test]
fn duplicate_keys_and_a_threshold_without_keys_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca = write_ca(dir.path());
    let dup = render(
        "n",
        Assessor::Township,
        "https://h:1",
        Some(&ca),
        None,
        &[key(), key()],
        1,
    );
    assert_eq!(keys_of(dir.path(), &dup), vec!["pack_authorities.keys[1]"]);
    let none = render(
        "n",
        Assessor::Township,
        "https://h:1",
        Some(&ca),
        None,
        &[],
        1,
    );
    assert_eq!(
        keys_of(dir.path(), &none),
        vec!["pack_authorities.threshold"]
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let text = "name = \"\"\nassessor = \"x\"\n[hub]\naddress = \"ftp://x\"\n";
    let keys = keys_of(dir.path(), text);
    assert_eq!(keys, vec!["name", "assessor", "hub.address"]);
}

#[test]
fn a_client_certificate_needs_its_key_pem_files_and_https() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = write_ca(d);
    let cert = d.join("node-tls.pem");
    std::fs::write(&cert, std::fs::read(&ca).unwrap()).unwrap();
    let key_pem = d.join("node-tls.key");
    std::fs::write(
        &key_pem,
        "-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let with = |address: &str, client: Option<(&Path, &Path)>| {
        let tls = TlsFiles {
            ca_cert: Some(&ca),
            client,
            crl: None,
        };
        render_with_tls(
            "n",
            Assessor::Township,
            address,
            &tls,
            Some(&hub_key()),
            &[key()],
            1,
        )
    };

    // Both, https: accepted, paths resolved.
    let text = with("https://127.0.0.1:7443", Some((&cert, &key_pem)));
    let config = NodeConfig::parse(&text, &d.join(CONFIG_FILE)).unwrap();
    assert_eq!(
        config.hub.client_identity,
        Some(ClientIdentity {
            cert: cert.clone(),
            key: key_pem.clone()
        })
    );
    let none = NodeConfig::parse(&good(d), &d.join(CONFIG_FILE)).unwrap();
    assert_eq!(none.hub.client_identity, None);

    // Only one of them: the other is named as missing.
    let only_cert = text
        .lines()
        .filter(|l| !l.starts_with("client_key"))
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(keys_of(d, &only_cert), vec!["hub.client_key"]);
    let only_key = text
        .lines()
        .filter(|l| !l.starts_with("client_cert"))
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(keys_of(d, &only_key), vec!["hub.client_cert"]);

    // Swapped files: neither looks right; each problem names its file.
    let swapped = with("https://127.0.0.1:7443", Some((&key_pem, &cert)));
    let found = problems(d, &swapped);
    assert!(
        found.iter().any(|(k, m)| k == "hub.client_cert"
            && m.contains("node-tls.key")
            && m.contains("PEM")),
        "{found:?}"
    );
    assert!(
        found.iter().any(|(k, m)| k == "hub.client_key"
            && m.contains("node-tls.pem")
            && m.contains("私钥")),
        "{found:?}"
    );

    // A missing file, an encrypted key, plain http.
    let missing = with(
        "https://127.0.0.1:7443",
        Some((&d.join("nope.pem"), &key_pem)),
    );
    assert_eq!(keys_of(d, &missing), vec!["hub.client_cert"]);
    let encrypted = d.join("enc.key");
    std::fs::write(
        &encrypted,
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIGH\n-----END ENCRYPTED PRIVATE KEY-----\n",
    )
    .unwrap();
    let enc = with("https://127.0.0.1:7443", Some((&cert, &encrypted)));
    assert_eq!(keys_of(d, &enc), vec!["hub.client_key"]);
    let http = with("http://127.0.0.1:7443", Some((&cert, &key_pem)));
    assert_eq!(keys_of(d, &http), vec!["hub.client_cert"]);
}

/// `hub.crl`: a CRL file (PEM or DER) on an https hub; anything else
/// is refused naming the key and the file.
#[test]
fn a_crl_must_be_a_readable_crl_and_needs_https() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let g = good(d);
    assert!(g.contains("# crl = "), "init documents the key:\n{g}");
    assert_eq!(
        NodeConfig::parse(&g, &d.join(CONFIG_FILE)).unwrap().hub.crl,
        None
    );

    let pem = d.join("county.crl.pem");
    let der = d.join("county.crl");
    crate::testutil::write_crl(&pem, &der);
    let with = |text: &str, file: &Path| {
        text.replace(
            "[hub]\n",
            &format!("[hub]\ncrl = {:?}\n", file.display().to_string()),
        )
    };
    for file in [&pem, &der] {
        let config = NodeConfig::parse(&with(&g, file), &d.join(CONFIG_FILE)).unwrap();
        assert_eq!(config.hub.crl.as_deref(), Some(file.as_path()));
    }

    // A certificate, a missing file: named with the key.
    for (file, words) in [
        (d.join("ca.pem"), "证书吊销列表"),
        (d.join("nope.crl"), "nope.crl"),
    ] {
        let found = problems(d, &with(&g, &file));
        assert!(
            found.len() == 1 && found[0].0 == "hub.crl" && found[0].1.contains(words),
            "{found:?}"
        );
    }
    // Plain http.
    let http = with(&g, &pem).replace("https://127.0.0.1:7443", "http://127.0.0.1:7443");
    assert_eq!(keys_of(d, &http), vec!["hub.crl"]);
}

#[test]
fn a_missing_config_says_run_init() {
    let dir = tempfile::tempdir().unwrap();
    let err = NodeConfig::load_from_dir(dir.path()).unwrap_err();
    assert!(matches!(err, ConfigError::NotFound { .. }));
    assert!(err.to_string().contains("kaohe node init"), "{err}");
}

/// RELIABILITY.md "slow or stuck peer": the deadlines are read from
/// `[hub]`, default when absent, and a bad one is refused naming the
/// key and the file.
#[test]
fn hub_deadlines_are_configurable_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(CONFIG_FILE);
    let g = good(dir.path());
    assert!(
        g.contains("# call_timeout_secs = 60"),
        "init documents the deadlines with their defaults:\n{g}"
    );
    let c = NodeConfig::parse(&g, &path).unwrap();
    assert_eq!(c.hub.timeouts, Timeouts::default());

    let set = g.replace(
        "[hub]\n",
        "[hub]\nconnect_timeout_secs = 3\ncall_timeout_secs = 7\nstream_timeout_secs = 90\n",
    );
    let c = NodeConfig::parse(&set, &path).unwrap();
    assert_eq!(
        c.hub.timeouts,
        Timeouts {
            connect: std::time::Duration::from_secs(3),
            call: std::time::Duration::from_secs(7),
            stream: std::time::Duration::from_secs(90),
        }
    );

    for (line, key, found) in [
        ("call_timeout_secs = 0", "hub.call_timeout_secs", "0"),
        ("call_timeout_secs = -5", "hub.call_timeout_secs", "-5"),
        (
            "connect_timeout_secs = 601",
            "hub.connect_timeout_secs",
            "601",
        ),
        (
            "stream_timeout_secs = 86401",
            "hub.stream_timeout_secs",
            "86401",
        ),
        (
            "stream_timeout_secs = \"600\"",
            "hub.stream_timeout_secs",
            "文字",
        ),
        ("call_timeout_secs = 1.5", "hub.call_timeout_secs", "小数"),
    ] {
        let text = g.replace("[hub]\n", &format!("[hub]\n{line}\n"));
        let found_problems = problems(dir.path(), &text);
        assert_eq!(
            found_problems
                .iter()
                .map(|(k, _)| k.as_str())
                .collect::<Vec<_>>(),
            vec![key],
            "{line}"
        );
        let message = &found_problems[0].1;
        assert!(
            message.contains(found) && message.contains("整数秒"),
            "{line}: {message}"
        );
    }
}
