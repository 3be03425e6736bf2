//! Every refusal of RELIABILITY.md promise 5: a changed byte, the wrong
//! key, too few or duplicate signers, another year, an older version, a
//! statement that disagrees or is malformed, no readable manifest, and
//! invalid trust policies.

use super::*;

#[test]
fn a_changed_byte_in_the_module_is_refused() {
    let [a, b, _] = authorities();
    let module = abi_pack();
    let envelope = sign_pack(&module, ISSUED, &[&a, &b]).unwrap();
    let trust = policy(&[&a, &b], 2);
    for at in [0, module.len() / 2, module.len() - 1] {
        let mut tampered = module.clone();
        tampered[at] ^= 0x01;
        assert_eq!(
            verify_pack(&tampered, &envelope, &trust, &any()),
            Err(PackTrustError::TamperedModule {
                signed: hex::encode(sha256(&module)),
                actual: hex::encode(sha256(&tampered)),
            }),
            "byte {at} flipped"
        );
    }
    // One byte more is another module too.
    let mut longer = module.clone();
    longer.push(0);
    assert!(matches!(
        verify_pack(&longer, &envelope, &trust, &any()),
        Err(PackTrustError::TamperedModule { .. })
    ));
}

#[test]
fn a_signature_by_the_wrong_key_is_refused() {
    let [a, b, _] = authorities();
    let stranger = key(99);
    let module = abi_pack();
    let envelope = sign_pack(&module, ISSUED, &[&stranger]).unwrap();
    let err = verify_pack(&module, &envelope, &policy(&[&a, &b], 1), &any()).unwrap_err();
    assert_eq!(err, PackTrustError::UnknownKey(stranger.key_id()));
    assert!(err.to_string().contains("不是受信任的规则包发布机关"));
}

#[test]
fn a_signature_that_does_not_verify_is_refused() {
    let [a, b, _] = authorities();
    let module = abi_pack();
    let trust = policy(&[&a, &b], 1);

    // The statement altered after signing (version 1 → 2 in the JSON).
    let mut altered = sign_pack(&module, ISSUED, &[&a]).unwrap();
    let text = String::from_utf8(altered.payload.clone()).unwrap();
    altered.payload = text
        .replace(r#""version":1"#, r#""version":2"#)
        .into_bytes();
    assert_ne!(altered.payload, text.as_bytes());
    assert_eq!(
        verify_pack(&module, &altered, &trust, &any()),
        Err(PackTrustError::BadSignature(a.key_id()))
    );

    // A's real signature taken from another pack's statement.
    let other = sign_pack(&abi_pack_as("abi-demo", 2022, 2), ISSUED, &[&a]).unwrap();
    let mut swapped = sign_pack(&module, ISSUED, &[&a]).unwrap();
    swapped.signatures = other.signatures;
    assert_eq!(
        verify_pack(&module, &swapped, &trust, &any()),
        Err(PackTrustError::BadSignature(a.key_id()))
    );

    // One bad authority signature refuses the envelope even when another
    // authority's signature alone would meet the threshold.
    let mut one_bad = sign_pack(&module, ISSUED, &[&a, &b]).unwrap();
    one_bad.signatures[1].sig[0] ^= 1;
    assert_eq!(
        verify_pack(&module, &one_bad, &trust, &any()),
        Err(PackTrustError::BadSignature(b.key_id()))
    );
}

#[test]
fn too_few_signatures_are_refused_saying_how_many() {
    let [a, b, c] = authorities();
    let stranger = key(99);
    let module = abi_pack();
    let trust = policy(&[&a, &b, &c], 2);

    let one = sign_pack(&module, ISSUED, &[&b]).unwrap();
    let err = verify_pack(&module, &one, &trust, &any()).unwrap_err();
    assert_eq!(
        err,
        PackTrustError::TooFewSignatures {
            valid: 1,
            needed: 2,
            untrusted: 0
        }
    );
    assert!(
        err.to_string().contains("有效签名 1 个，少于要求的 2 个"),
        "{err}"
    );

    let with_stranger = sign_pack(&module, ISSUED, &[&b, &stranger]).unwrap();
    assert_eq!(
        verify_pack(&module, &with_stranger, &trust, &any()),
        Err(PackTrustError::TooFewSignatures {
            valid: 1,
            needed: 2,
            untrusted: 1
        })
    );

    let mut unsigned = one.clone();
    unsigned.signatures.clear();
    assert_eq!(
        verify_pack(&module, &unsigned, &trust, &any()),
        Err(PackTrustError::TooFewSignatures {
            valid: 0,
            needed: 2,
            untrusted: 0
        })
    );
}

#[test]
fn a_duplicate_signer_counts_once() {
    let [a, b, _] = authorities();
    let module = abi_pack();
    let trust = policy(&[&a, &b], 2);

    // A's signature twice must not make two of two.
    let mut twice = sign_pack(&module, ISSUED, &[&a]).unwrap();
    twice.signatures.push(twice.signatures[0].clone());
    let err = verify_pack(&module, &twice, &trust, &any()).unwrap_err();
    assert_eq!(err, PackTrustError::DuplicateSigner(a.key_id()));
    assert!(err.to_string().contains("只计一次"));

    // Nor can one key listed twice in the policy count as two authorities.
    assert_eq!(
        TrustPolicy::new(vec![a.public(), a.public()], 2),
        Err(PolicyError::DuplicateAuthority(a.key_id()))
    );

    // And signing again with the same key is refused, the envelope unchanged.
    let mut envelope = sign_pack(&module, ISSUED, &[&a]).unwrap();
    let before = envelope.clone();
    assert_eq!(
        add_signature(&mut envelope, &module, &a),
        Err(SignError::AlreadySigned(a.key_id()))
    );
    assert_eq!(envelope, before);
}

#[test]
fn a_pack_for_another_year_is_refused() {
    let [a, _, _] = authorities();
    let module = abi_pack_as("abi-demo", 2023, 1);
    let envelope = sign_pack(&module, ISSUED, &[&a]).unwrap();
    let trust = policy(&[&a], 1);
    let for_2022 = Expectation {
        year: Some(2022),
        accepted: &[],
    };
    let err = verify_pack(&module, &envelope, &trust, &for_2022).unwrap_err();
    assert_eq!(
        err,
        PackTrustError::WrongYear {
            id: "abi-demo".into(),
            expected: 2022,
            got: 2023
        }
    );
    assert!(err.to_string().contains("2023 年度"));
    let for_2023 = Expectation {
        year: Some(2023),
        accepted: &[],
    };
    assert_eq!(
        verify_pack(&module, &envelope, &trust, &for_2023)
            .unwrap()
            .identity
            .year,
        2023
    );
}

#[test]
fn an_older_version_than_one_accepted_is_refused() {
    let [a, _, _] = authorities();
    let trust = policy(&[&a], 1);
    let v1 = abi_pack();
    let v2 = abi_pack_as("abi-demo", 2022, 2);
    let v3 = abi_pack_as("abi-demo", 2022, 3);
    let accepted = [
        identity(&v1, "abi-demo", 2022, 1),
        identity(&v2, "abi-demo", 2022, 2),
    ];
    let expect = Expectation {
        year: Some(2022),
        accepted: &accepted,
    };
    let err = verify_pack(
        &v1,
        &sign_pack(&v1, ISSUED, &[&a]).unwrap(),
        &trust,
        &expect,
    )
    .unwrap_err();
    assert_eq!(
        err,
        PackTrustError::Rollback {
            id: "abi-demo".into(),
            year: 2022,
            accepted: 2,
            got: 1
        }
    );
    let message = err.to_string();
    assert!(
        message.contains("第 1 版") && message.contains("第 2 版"),
        "{message}"
    );
    // A newer version passes.
    let v = verify_pack(
        &v3,
        &sign_pack(&v3, ISSUED, &[&a]).unwrap(),
        &trust,
        &expect,
    )
    .unwrap();
    assert_eq!(v.identity.version, 3);
    // Versions of other packs and other years are not compared.
    let other_lines = [
        identity(&v3, "other", 2022, 9),
        identity(&v3, "abi-demo", 2021, 9),
    ];
    let expect = Expectation {
        year: None,
        accepted: &other_lines,
    };
    assert!(
        verify_pack(
            &v1,
            &sign_pack(&v1, ISSUED, &[&a]).unwrap(),
            &trust,
            &expect
        )
        .is_ok()
    );
}

#[test]
fn the_same_version_with_another_module_is_refused() {
    let [a, _, _] = authorities();
    let trust = policy(&[&a], 1);
    let v1 = abi_pack();
    let v1_other = with_custom_section(&v1, "note", b"rebuilt");
    assert_ne!(sha256(&v1), sha256(&v1_other));
    let accepted = [identity(&v1, "abi-demo", 2022, 1)];
    let expect = Expectation {
        year: Some(2022),
        accepted: &accepted,
    };
    let envelope = sign_pack(&v1_other, ISSUED, &[&a]).unwrap();
    // Correctly signed, and only refused because v1 was already accepted.
    assert!(verify_pack(&v1_other, &envelope, &trust, &any()).is_ok());
    assert_eq!(
        verify_pack(&v1_other, &envelope, &trust, &expect),
        Err(PackTrustError::VersionConflict {
            id: "abi-demo".into(),
            year: 2022,
            version: 1,
            accepted: hex::encode(sha256(&v1)),
            got: hex::encode(sha256(&v1_other)),
        })
    );
}

#[test]
fn a_statement_that_disagrees_with_the_manifest_is_refused() {
    let [a, _, _] = authorities();
    let trust = policy(&[&a], 1);
    let module = abi_pack();
    let honest = PackStatement::for_module(&module, ISSUED).unwrap();
    let cases = [
        ("pack.version", "2", "1", {
            let mut s = honest.clone();
            s.identity.version = 2;
            s
        }),
        ("pack.year", "2023", "2022", {
            let mut s = honest.clone();
            s.identity.year = 2023;
            s
        }),
        ("pack.id", "baofeng", "abi-demo", {
            let mut s = honest.clone();
            s.identity.id = "baofeng".into();
            s
        }),
    ];
    for (field, signed, manifest, statement) in cases {
        let envelope = sign_statement(&statement, &[&a]);
        assert_eq!(
            verify_pack(&module, &envelope, &trust, &any()),
            Err(PackTrustError::StatementManifestMismatch {
                field,
                signed: signed.into(),
                manifest: manifest.into(),
            })
        );
        // A co-signer checks the statement first and refuses too.
        let mut cosign = envelope.clone();
        assert!(matches!(
            add_signature(&mut cosign, &module, &key(2)),
            Err(SignError::StatementManifestMismatch { .. })
        ));
        assert_eq!(cosign, envelope);
    }
}

#[test]
fn a_malformed_statement_is_refused() {
    let [a, _, _] = authorities();
    let trust = policy(&[&a], 1);
    let module = abi_pack();
    let good = String::from_utf8(
        PackStatement::for_module(&module, ISSUED)
            .unwrap()
            .to_json(),
    )
    .unwrap();
    let digest = hex::encode(sha256(&module));
    let payloads = [
        "not json".to_owned(),
        good.replace(r#""statement_version":1"#, r#""statement_version":2"#),
        good.replace(r#""issued_at""#, r#""extra":1,"issued_at""#),
        good.replace(r#""issued_at":1700000000"#, r#""issued_at":-1"#),
        good.replace(&digest, &digest.to_uppercase()),
        good.replace(&digest, &digest[..62]),
        good.replace(r#""id":"abi-demo""#, r#""id":"乡镇""#),
        good.replace(r#""year":2022"#, r#""year":1999"#),
        good.replace(r#""version":1"#, r#""version":0"#),
        good.replace(r#""title":"ABI 示例规则包""#, r#""title":"a","title":"b""#),
    ];
    for payload in payloads {
        assert_ne!(payload, good);
        let envelope = Envelope::sign(PACK_STATEMENT_TYPE, payload.clone().into_bytes(), &[&a]);
        assert!(
            matches!(
                verify_pack(&module, &envelope, &trust, &any()),
                Err(PackTrustError::MalformedStatement(_))
            ),
            "{payload}"
        );
    }
    // A correctly signed statement under another payload type.
    let relabelled = Envelope::sign(
        "application/vnd.kaohe.submission.v1+protobuf",
        good.clone().into_bytes(),
        &[&a],
    );
    assert!(matches!(
        verify_pack(&module, &relabelled, &trust, &any()),
        Err(PackTrustError::MalformedStatement(_))
    ));
    // Oversize, checked before any signature.
    let huge = Envelope::sign(
        PACK_STATEMENT_TYPE,
        vec![b' '; MAX_STATEMENT_BYTES + 1],
        &[&a],
    );
    assert!(matches!(
        verify_pack(&module, &huge, &trust, &any()),
        Err(PackTrustError::MalformedStatement(_))
    ));
}

#[test]
fn a_module_without_one_readable_manifest_is_refused() {
    let [a, _, _] = authorities();
    let trust = policy(&[&a], 1);
    let bare = wat::parse_str(wat_source("no-manifest")).unwrap();
    let manifest = br#"{"pack":{"id":"abi-demo","year":2022,"version":1}}"#;
    let one = with_custom_section(&bare, MANIFEST_SECTION, manifest);
    let two = with_custom_section(&one, MANIFEST_SECTION, manifest);
    let repeated_key = with_custom_section(
        &bare,
        MANIFEST_SECTION,
        br#"{"pack":{"id":"abi-demo","year":2022,"version":1},"pack":{"id":"x","year":2022,"version":9}}"#,
    );
    // One manifest with just the pack object is enough to sign and verify.
    let signed = sign_pack(&one, ISSUED, &[&a]).unwrap();
    assert!(verify_pack(&one, &signed, &trust, &any()).is_ok());

    for module in [bare, two, repeated_key] {
        // The signer refuses to make a statement for it …
        assert!(matches!(
            sign_pack(&module, ISSUED, &[&a]),
            Err(SignError::Manifest(_))
        ));
        // … and a statement made by hand over its digest is refused.
        let statement = PackStatement {
            identity: identity(&module, "abi-demo", 2022, 1),
            title: String::new(),
            issued_at: ISSUED,
        };
        assert!(matches!(
            verify_pack(&module, &sign_statement(&statement, &[&a]), &trust, &any()),
            Err(PackTrustError::ManifestUnreadable(_))
        ));
    }
}

#[test]
fn a_cosigner_refuses_a_statement_for_another_module() {
    let [a, b, _] = authorities();
    let module = abi_pack();
    let other = abi_pack_as("abi-demo", 2022, 2);
    let mut envelope = sign_pack(&other, ISSUED, &[&a]).unwrap();
    let before = envelope.clone();
    assert_eq!(
        add_signature(&mut envelope, &module, &b),
        Err(SignError::ModuleMismatch {
            signed: hex::encode(sha256(&other)),
            actual: hex::encode(sha256(&module)),
        })
    );
    assert_eq!(envelope, before);
    assert_eq!(sign_pack(&module, ISSUED, &[]), Err(SignError::NoKeys));
}

#[test]
fn trust_policies_are_validated() {
    let [a, b, _] = authorities();
    assert_eq!(
        TrustPolicy::new(vec![a.public(), b.public()], 0),
        Err(PolicyError::ZeroThreshold)
    );
    assert_eq!(
        TrustPolicy::new(vec![a.public(), b.public()], 3),
        Err(PolicyError::ThresholdAboveAuthorities {
            threshold: 3,
            authorities: 2
        })
    );
    assert_eq!(
        TrustPolicy::new(Vec::new(), 1),
        Err(PolicyError::ThresholdAboveAuthorities {
            threshold: 1,
            authorities: 0
        })
    );
    let many: Vec<_> = (1..=17u8).map(|s| key(s).public()).collect();
    assert_eq!(
        TrustPolicy::new(many.clone(), 17),
        Err(PolicyError::ThresholdAboveSignatureCap {
            threshold: 17,
            cap: 16
        })
    );
    let ok = TrustPolicy::new(many, 16).unwrap();
    assert_eq!((ok.authorities().len(), ok.threshold()), (17, 16));
}
