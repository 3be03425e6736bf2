//! The console's maintenance forms: one value corrected on 证据 as `node
//! set` checks it (refused with the command's own reason, nothing
//! written), the key rotation on 状态 (the next key shown as `rotate-key
//! prepare` shows it; adopting refused with a Chinese reason while the hub
//! cannot confirm it, the key untouched), the witness section and its
//! resolve form; every form refused without the session's CSRF token.

use super::*;

async fn post(app: &Router, cookie: &str, path: &str, body: &str) -> Answer {
    let req = Request::post(path)
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body.to_owned()))
        .unwrap();
    send(app, req).await
}

/// `application/x-www-form-urlencoded`, every byte but ASCII letters and
/// digits percent-encoded.
fn form(fields: &[(&str, &str)]) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    };
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn escaped(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[tokio::test(flavor = "multi_thread")]
async fn one_value_is_corrected_as_node_set_checks_it_and_a_refusal_writes_nothing() {
    let f = fixture();
    let (cookie, csrf) = login(&f).await;
    let page = get(&f.app, &cookie, "/evidence").await.body;
    assert!(
        page.contains("单项更正") && page.contains("sat_rate"),
        "{page}"
    );

    // Each refusal is the command's, word for word, and writes nothing.
    for (unit, field, round, value) in [
        ("xiaodian", "sat_rate", "", "188"),
        ("nowhere", "sat_rate", "", "90"),
        ("xiaodian", "no_such_field", "", "1"),
        ("xiaodian", "q_study", "", "2"),
        ("xiaodian", "sat_rate", "Q1", "90"),
    ] {
        let round_arg = crate::layout::Layout::round_of_sheet(round);
        let cli = {
            let mut store = Store::open(&f.dir.join(crate::store::DB_FILE)).unwrap();
            crate::import::set_value(
                &mut store,
                2022,
                unit,
                field,
                value,
                round_arg,
                &crate::testutil::actor("cli"),
            )
            .unwrap_err()
        };
        let before = snapshot(&f.dir);
        let a = post(
            &f.app,
            &cookie,
            "/evidence/set",
            &form(&[
                ("csrf", &csrf),
                ("year", "2022"),
                ("unit", unit),
                ("field", field),
                ("round", round),
                ("value", value),
            ]),
        )
        .await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{unit} {field}");
        assert!(
            a.body.contains(&escaped(&cli.to_string())),
            "page lacks {cli}: {}",
            a.body
        );
        assert_eq!(snapshot(&f.dir), before, "{unit} {field}: nothing written");
    }

    // A good value is saved, with the operator in the history.
    let a = post(
        &f.app,
        &cookie,
        "/evidence/set",
        &form(&[
            ("csrf", &csrf),
            ("year", "2022"),
            ("unit", "xiaodian"),
            ("field", "q_study"),
            ("round", "Q1"),
            ("value", "2"),
        ]),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let page = get(&f.app, &cookie, "/evidence?year=2022&unit=xiaodian")
        .await
        .body;
    assert!(
        page.contains("已保存（saved）：xiaodian q_study = 2"),
        "{page}"
    );
    assert!(
        page.contains("王科员") && page.contains("逐项录入"),
        "{page}"
    );
    let store = Store::open(&f.dir.join(crate::store::DB_FILE)).unwrap();
    let h = store.history(2022, Some("xiaodian")).unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].operator, "王科员");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_next_key_is_shown_and_adopting_is_refused_until_the_hub_confirms_it() {
    let f = fixture();
    let (cookie, csrf) = login(&f).await;
    let key_file = f.dir.join("node.key");
    let key_before = std::fs::read(&key_file).ok();
    let page = get(&f.app, &cookie, "/").await.body;
    assert!(
        page.contains("密钥轮换") && page.contains("生成新密钥"),
        "{page}"
    );
    // Adopting before a next key exists, or while the hub cannot be
    // reached: refused in Chinese, the key as it was.
    let a = post(&f.app, &cookie, "/rotate/adopt", &form(&[("csrf", &csrf)])).await;
    assert!(
        a.status == StatusCode::SERVICE_UNAVAILABLE || a.status == StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        a.body
    );
    assert!(a.body.contains("本节点仍使用原密钥"), "{}", a.body);

    let a = post(
        &f.app,
        &cookie,
        "/rotate/prepare",
        &form(&[("csrf", &csrf)]),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let page = get(&f.app, &cookie, "/").await.body;
    let next = kaohe_proto::SigningKeyPair::load(&f.dir.join("node.key.next")).unwrap();
    assert!(page.contains("已生成新密钥（next key made）"), "{page}");
    assert!(
        page.contains(&next.public().to_string()) && page.contains(next.key_id().as_str()),
        "the page shows the public key to hand over: {page}"
    );
    // Prepared again: the same key.
    let a = post(
        &f.app,
        &cookie,
        "/rotate/prepare",
        &form(&[("csrf", &csrf)]),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    let again = get(&f.app, &cookie, "/").await.body;
    assert!(again.contains("新密钥已存在，沿用"), "{again}");
    assert!(again.contains(&next.public().to_string()));

    let a = post(&f.app, &cookie, "/rotate/adopt", &form(&[("csrf", &csrf)])).await;
    assert_ne!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert!(a.body.contains("本节点仍使用原密钥"), "{}", a.body);
    assert_eq!(
        std::fs::read(&key_file).ok(),
        key_before,
        "the key is as it was"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_witness_state_is_shown_and_resolving_needs_open_evidence() {
    let f = fixture();
    let (cookie, csrf) = login(&f).await;
    let page = get(&f.app, &cookie, "/").await.body;
    assert!(
        page.contains("透明日志见证") && page.contains("尚未见证"),
        "{page}"
    );
    assert!(
        !page.contains("/witness/resolve"),
        "no open evidence, no form"
    );
    let a = post(
        &f.app,
        &cookie,
        "/witness/resolve",
        &form(&[("csrf", &csrf), ("year", "2022"), ("reason", "已核查")]),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert!(
        a.body.contains("没有汇总中心公钥") || a.body.contains("没有待处理的不一致证据"),
        "{}",
        a.body
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_maintenance_forms_are_refused_without_the_sessions_csrf_token() {
    let f = fixture();
    let (cookie, csrf) = login(&f).await;
    let before = snapshot(&f.dir);
    for token in ["", "0123456789abcdef"] {
        assert_ne!(token, csrf);
        for (path, fields) in [
            (
                "/evidence/set",
                "year=2022&unit=xiaodian&field=q_study&round=Q1&value=2",
            ),
            ("/rotate/prepare", ""),
            ("/rotate/adopt", ""),
            ("/witness/resolve", "year=2022&reason=x"),
        ] {
            let a = post(&f.app, &cookie, path, &format!("csrf={token}&{fields}")).await;
            assert_eq!(a.status, StatusCode::FORBIDDEN, "{path} {token:?}");
        }
    }
    assert_eq!(snapshot(&f.dir), before, "nothing written");
    assert!(
        !f.dir.join("node.key.next").exists(),
        "no key made without the token"
    );
}

/// A log inconsistency kept as evidence stops delivery; the 状态 page
/// shows both checkpoints and the resolve form, and resolving it there
/// records the official's reason as `witness --resolve` does and lets
/// delivery resume — the evidence kept.
#[tokio::test(flavor = "multi_thread")]
async fn an_inconsistent_log_is_resolved_from_the_status_page_and_delivery_resumes() {
    use kaohe_proto::merkle;
    use kaohe_proto::tlog::checkpoint::Checkpoint;
    use kaohe_proto::tlog::leaf::log_origin;
    use kaohe_proto::tlog::tree::MemoryTree;

    let hub = kaohe_proto::SigningKeyPair::from_seed(&[41; 32]);
    let tree = |tag: u8| {
        let mut t = MemoryTree::new();
        for i in 0..5u8 {
            let leaf = if i >= 3 { [i, tag] } else { [i, 0] };
            t.append(merkle::leaf_hash(&leaf)).unwrap();
        }
        t
    };
    let signed = |t: &MemoryTree| {
        Checkpoint {
            origin: log_origin(&hub.key_id(), 2022),
            size: t.size(),
            root: t.root(),
            extensions: vec![],
        }
        .sign(&hub)
        .unwrap()
        .to_string()
    };
    let (held_tree, presented_tree) = (tree(1), tree(2));

    // The fixture's node, with the hub's receipt key pinned.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let authority = kaohe_proto::SigningKeyPair::from_seed(&[9; 32]);
    let text = crate::config::render(
        "n",
        kaohe_rulepacks::manifest::Assessor::CountyOffice,
        "http://127.0.0.1:1",
        None,
        Some(&hub.public().to_string()),
        &[authority.public().to_string()],
        1,
    );
    let config = NodeConfig::parse(&text, &dir.join(crate::config::CONFIG_FILE)).unwrap();
    kaohe_proto::SigningKeyPair::from_seed(&[4; 32])
        .save(&config.key_file)
        .unwrap();
    let mut store = Store::create(&config.store_file).unwrap();
    install_test_pack(&mut store, &test_manifest(), &test_module(1));
    store.replace_scope(&sample_scope(2022)).unwrap();
    let held = crate::store::Witnessed {
        year: 2022,
        size: held_tree.size(),
        root: held_tree.root(),
        checkpoint: signed(&held_tree),
        checked_at: "2022-10-01T00:00:00Z".into(),
    };
    store.record_witnessed(&held).unwrap();
    let presented = signed(&presented_tree);
    store
        .record_log_evidence(
            &crate::store::NewLogEvidence {
                year: 2022,
                held: &held.checkpoint,
                presented: &presented,
                proof: &[],
                reason: "同为 5 条记录，根哈希不同",
            },
            "2022-10-02T00:00:00Z",
        )
        .unwrap();
    drop(store);
    let (console, token) = NodeConsole::new(ConsoleOptions {
        config: config.clone(),
        operator: "王科员".into(),
        runtime: Runtime::new(Default::default()).unwrap(),
        sessions: SessionPolicy::default(),
        now: kaohe_web::system_now(),
    });
    let f = Fixture {
        _dir: tmp,
        dir,
        app: router(console),
        token,
    };
    let (cookie, csrf) = login(&f).await;
    let page = get(&f.app, &cookie, "/").await.body;
    for want in [
        "停止送达",
        "同为 5 条记录，根哈希不同",
        &hex::encode(held_tree.root()),
        &hex::encode(presented_tree.root()),
        "/witness/resolve",
    ] {
        assert!(page.contains(want), "status lacks {want}: {page}");
    }
    // No reason: refused as the command refuses it, nothing changed.
    let a = post(
        &f.app,
        &cookie,
        "/witness/resolve",
        &form(&[("csrf", &csrf), ("year", "2022"), ("reason", "  ")]),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    let store = Store::open(&config.store_file).unwrap();
    assert!(crate::witness::delivery_stopped(&store).unwrap().is_some());
    drop(store);

    let a = post(
        &f.app,
        &cookie,
        "/witness/resolve",
        &form(&[
            ("csrf", &csrf),
            ("year", "2022"),
            ("reason", "汇总中心从备份恢复，已核实"),
        ]),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let page = get(&f.app, &cookie, "/").await.body;
    assert!(page.contains("已恢复送达"), "{page}");
    assert!(!page.contains("/witness/resolve"), "{page}");
    let store = Store::open(&config.store_file).unwrap();
    assert_eq!(crate::witness::delivery_stopped(&store).unwrap(), None);
    assert_eq!(
        store.witnessed(2022).unwrap().unwrap().root,
        presented_tree.root()
    );
    let all = store.log_evidence().unwrap();
    let (_, by, why) = all[0].resolved.clone().unwrap();
    assert_eq!(
        (by.as_str(), why.as_str()),
        ("王科员", "汇总中心从备份恢复，已核实")
    );
}
