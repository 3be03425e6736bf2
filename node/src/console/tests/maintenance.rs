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
