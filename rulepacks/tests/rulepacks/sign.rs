//! Pack signing and trust (ABI.md §8): k-of-n statements over the
//! hand-written ABI pack (`fixtures/wat/abi-pack.wat`, pack `abi-demo`,
//! year 2022, version 1), every refusal RELIABILITY.md promise 5 names, and
//! `kaohe pack keygen | sign | verify | inspect` through their library
//! functions on real files.

use std::path::{Path, PathBuf};

use kaohe_proto::{Envelope, PackIdentity, SigningKeyPair};
use kaohe_rulepacks::cli::eval_report;
use kaohe_rulepacks::fixture::Evidence;
use kaohe_rulepacks::interp::Interpreter;
use kaohe_rulepacks::pack::sha256;
use kaohe_rulepacks::runtime::{MANIFEST_SECTION, Runtime, RuntimeConfig};
use kaohe_rulepacks::sign::command::{
    default_sig_path, inspect_files, keygen, load_pack_file, sign_files, verify_files,
    verify_report,
};
use kaohe_rulepacks::sign::{
    Expectation, MAX_STATEMENT_BYTES, PACK_STATEMENT_TYPE, PackStatement, PackTrustError,
    PolicyError, SignError, TrustPolicy, add_signature, manifest_section, sign_pack, verify_pack,
};
use kaohe_rulepacks::{compile, rubric};

// ---------------------------------------------------------------- helpers

const ISSUED: i64 = 1_700_000_000;

fn wat_source(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/wat")
        .join(format!("{name}.wat"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The ABI pack as written: abi-demo, 2022, version 1.
fn abi_pack() -> Vec<u8> {
    wat::parse_str(wat_source("abi-pack")).expect("abi-pack.wat")
}

/// The ABI pack with another id, year or version in its manifest.
fn abi_pack_as(id: &str, year: u32, version: u32) -> Vec<u8> {
    let from = r#"\"pack\":{\"id\":\"abi-demo\",\"year\":2022,\"version\":1,"#;
    let source = wat_source("abi-pack");
    assert!(source.contains(from), "abi-pack.wat names abi-demo 2022 v1");
    let to = format!(r#"\"pack\":{{\"id\":\"{id}\",\"year\":{year},\"version\":{version},"#);
    wat::parse_str(source.replace(from, &to)).expect("edited abi-pack.wat")
}

/// `module` with one more custom section at the end: other bytes, same
/// manifest.
fn with_custom_section(module: &[u8], name: &str, data: &[u8]) -> Vec<u8> {
    let mut body = vec![u8::try_from(name.len()).unwrap()];
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(data);
    let mut out = module.to_vec();
    out.push(0);
    let mut len = body.len();
    loop {
        let byte = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(&body);
    out
}

fn key(seed: u8) -> SigningKeyPair {
    SigningKeyPair::from_seed(&[seed; 32])
}

/// Authorities a, b, c (the county office, the justice bureau, a third).
fn authorities() -> [SigningKeyPair; 3] {
    [key(1), key(2), key(3)]
}

fn policy(keys: &[&SigningKeyPair], threshold: usize) -> TrustPolicy {
    TrustPolicy::new(keys.iter().map(|k| k.public()).collect(), threshold).expect("policy")
}

fn identity(module: &[u8], id: &str, year: u16, version: u32) -> PackIdentity {
    PackIdentity {
        id: id.into(),
        year,
        version,
        module_sha256: sha256(module),
    }
}

/// An envelope over a hand-made statement, for refusals `sign_pack` would
/// never produce.
fn sign_statement(statement: &PackStatement, keys: &[&SigningKeyPair]) -> Envelope {
    Envelope::sign(PACK_STATEMENT_TYPE, statement.to_json(), keys)
}

fn any() -> Expectation<'static> {
    Expectation::default()
}

// ---------------------------------------------------------------- accepted

#[test]
fn two_of_three_authorities_accept_the_pack() {
    let [a, b, c] = authorities();
    let module = abi_pack();
    let envelope = sign_pack(&module, ISSUED, &[&a, &c]).unwrap();
    let trust = policy(&[&a, &b, &c], 2);
    let v = verify_pack(&module, &envelope, &trust, &any()).unwrap();
    assert_eq!(v.identity, identity(&module, "abi-demo", 2022, 1));
    assert_eq!(v.signers, vec![a.key_id(), c.key_id()]);
    assert_eq!(v.title, "ABI 示例规则包");
    assert_eq!(v.issued_at, ISSUED);
    assert_eq!(v.statement_digest, envelope.digest());

    // Expecting its year and with itself already accepted, it still passes:
    // re-verifying an accepted pack is harmless.
    let accepted = [v.identity.clone()];
    let again = Expectation {
        year: Some(2022),
        accepted: &accepted,
    };
    assert_eq!(verify_pack(&module, &envelope, &trust, &again).unwrap(), v);

    // All three sign; three of three required.
    let all = sign_pack(&module, ISSUED, &[&a, &b, &c]).unwrap();
    assert!(verify_pack(&module, &all, &policy(&[&a, &b, &c], 3), &any()).is_ok());
}

#[test]
fn offices_signing_separately_make_the_same_envelope_as_signing_together() {
    let [a, b, _] = authorities();
    let module = abi_pack();
    // The county office signs first, the justice bureau adds its signature
    // later to the same file.
    let mut envelope = sign_pack(&module, ISSUED, &[&a]).unwrap();
    let statement = add_signature(&mut envelope, &module, &b).unwrap();
    assert_eq!(statement.identity, identity(&module, "abi-demo", 2022, 1));
    assert_eq!(envelope, sign_pack(&module, ISSUED, &[&a, &b]).unwrap());
    let v = verify_pack(&module, &envelope, &policy(&[&a, &b], 2), &any()).unwrap();
    assert_eq!(v.signers, vec![a.key_id(), b.key_id()]);
}

#[test]
fn signatures_by_untrusted_keys_are_ignored_when_enough_authorities_signed() {
    let [a, b, c] = authorities();
    let stranger = key(99);
    let module = abi_pack();
    let envelope = sign_pack(&module, ISSUED, &[&stranger, &a, &b]).unwrap();
    let v = verify_pack(&module, &envelope, &policy(&[&a, &b, &c], 2), &any()).unwrap();
    assert_eq!(v.signers, vec![a.key_id(), b.key_id()]);
}

#[test]
fn statement_json_is_the_documented_form_and_round_trips() {
    let module = abi_pack();
    let statement = PackStatement::for_module(&module, ISSUED).unwrap();
    let json = String::from_utf8(statement.to_json()).unwrap();
    assert_eq!(
        json,
        format!(
            r#"{{"statement_version":1,"pack":{{"id":"abi-demo","year":2022,"version":1,"module_sha256":"{}"}},"title":"ABI 示例规则包","issued_at":1700000000}}"#,
            hex::encode(sha256(&module))
        )
    );
    assert_eq!(
        PackStatement::from_json(json.as_bytes()).unwrap(),
        statement
    );
}

#[test]
fn the_manifest_read_without_compiling_is_the_one_the_runtime_loads() {
    let module = abi_pack();
    let loaded = Runtime::new(RuntimeConfig::default())
        .unwrap()
        .load(&module)
        .unwrap();
    assert_eq!(manifest_section(&module).unwrap(), loaded.manifest_json());
    assert_eq!(loaded.digest(), &sha256(&module));
}

// ---------------------------------------------------------------- refused

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

// ---------------------------------------------------------------- files

#[test]
fn keygen_sign_add_verify_and_inspect_round_trip_on_files() {
    let dir = tempfile::tempdir().unwrap();
    let at = |name: &str| -> PathBuf { dir.path().join(name) };
    let pack = at("abi-demo-2022.wasm");
    std::fs::write(&pack, abi_pack()).unwrap();

    // Two offices make their keys; keys are never overwritten.
    let office = keygen(&at("office.key")).unwrap();
    let bureau = keygen(&at("bureau.key")).unwrap();
    assert!(keygen(&at("office.key")).is_err());
    let office_key = SigningKeyPair::load(&at("office.key")).unwrap();
    let bureau_key = SigningKeyPair::load(&at("bureau.key")).unwrap();
    assert!(office.contains(&office_key.public().to_string()));
    assert!(office.contains(office_key.key_id().as_str()));
    assert!(bureau.contains(&bureau_key.public().to_string()));

    // The office signs (creating PACK.wasm.sig), the bureau adds to it.
    let sig = default_sig_path(&pack);
    assert_eq!(sig, at("abi-demo-2022.wasm.sig"));
    let first = sign_files(&pack, &[at("office.key")], None, ISSUED).unwrap();
    assert!(first.contains("已签名"), "{first}");
    let trust_two = policy(&[&office_key, &bureau_key], 2);
    let err = verify_files(&pack, &sig, &trust_two, &any()).unwrap_err();
    assert_eq!(
        err.downcast_ref::<PackTrustError>(),
        Some(&PackTrustError::TooFewSignatures {
            valid: 1,
            needed: 2,
            untrusted: 0
        })
    );
    let second = sign_files(&pack, &[at("bureau.key")], Some(&sig), ISSUED + 60).unwrap();
    assert!(second.contains("已加签"), "{second}");

    // The file is the protobuf envelope, and the same as signing together
    // (the statement keeps the first issue time).
    let bytes = std::fs::read(&sig).unwrap();
    let envelope = Envelope::from_protobuf(&bytes).unwrap();
    assert_eq!(
        envelope,
        sign_pack(&abi_pack(), ISSUED, &[&office_key, &bureau_key]).unwrap()
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Signing again with a key that signed is refused; the file is unchanged.
    let again = sign_files(&pack, &[at("office.key")], None, ISSUED).unwrap_err();
    assert_eq!(
        again.downcast_ref::<SignError>(),
        Some(&SignError::AlreadySigned(office_key.key_id()))
    );
    assert_eq!(std::fs::read(&sig).unwrap(), bytes);

    // Verify: two of two, for 2022.
    let for_2022 = Expectation {
        year: Some(2022),
        accepted: &[],
    };
    let verified = verify_files(&pack, &sig, &trust_two, &for_2022).unwrap();
    let report = verify_report(&verified, &trust_two);
    assert!(report.contains("核验通过"), "{report}");
    assert!(report.contains(bureau_key.key_id().as_str()));

    // Inspect names the identity, the digest and both key ids.
    let inspected = inspect_files(&pack, Some(&sig)).unwrap();
    for needle in [
        "abi-demo",
        "2022",
        &hex::encode(sha256(&abi_pack())),
        office_key.key_id().as_str(),
        bureau_key.key_id().as_str(),
        "与此模块一致",
        "指标 2 个",
    ] {
        assert!(
            inspected.contains(needle),
            "{needle} missing in\n{inspected}"
        );
    }

    // A changed byte in the pack file: refused, and inspect says so.
    let mut tampered = abi_pack();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x20;
    std::fs::write(&pack, &tampered).unwrap();
    let err = verify_files(&pack, &sig, &trust_two, &for_2022).unwrap_err();
    assert!(matches!(
        err.downcast_ref::<PackTrustError>(),
        Some(PackTrustError::TamperedModule { .. })
    ));
    assert!(format!("{err:#}").contains("不得启用"));
    assert!(
        inspect_files(&pack, Some(&sig))
            .unwrap()
            .contains("与此模块不一致")
    );
    // … and the bureau will not co-sign the changed module either.
    let third = keygen(&at("third.key"));
    assert!(third.is_ok());
    let cosign = sign_files(&pack, &[at("third.key")], None, ISSUED).unwrap_err();
    assert!(matches!(
        cosign.downcast_ref::<SignError>(),
        Some(SignError::ModuleMismatch { .. })
    ));
    assert_eq!(std::fs::read(&sig).unwrap(), bytes);

    // A signature file that is not an envelope.
    std::fs::write(&sig, b"garbage").unwrap();
    std::fs::write(&pack, abi_pack()).unwrap();
    assert!(verify_files(&pack, &sig, &trust_two, &for_2022).is_err());
}

#[test]
fn the_compiled_baofeng_pack_signs_inspects_and_evaluates_like_the_interpreter() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("baofeng-2022");
    let checked = rubric::load(&root.join("rubric.toml")).unwrap_or_else(|e| panic!("{e}"));
    let module = compile::compile(&checked).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pack = dir.path().join("baofeng-2022.wasm");
    std::fs::write(&pack, &module).unwrap();
    let m = &checked.manifest;

    let [a, b, _] = authorities();
    let envelope = sign_pack(&module, ISSUED, &[&a, &b]).unwrap();
    let v = verify_pack(
        &module,
        &envelope,
        &policy(&[&a, &b], 2),
        &Expectation {
            year: Some(2022),
            accepted: &[],
        },
    )
    .unwrap();
    assert_eq!(
        (
            v.identity.id.as_str(),
            u32::from(v.identity.year),
            v.identity.version
        ),
        (m.pack.id.as_str(), m.pack.year, m.pack.version)
    );
    assert_eq!(v.title, m.pack.title);

    // Inspect summarises the typed manifest: every category, group and grade.
    std::fs::write(default_sig_path(&pack), envelope.to_protobuf()).unwrap();
    let inspected = inspect_files(&pack, Some(&default_sig_path(&pack))).unwrap();
    assert!(
        inspected.contains(&format!("类别 {} 个", m.categories.len())),
        "{inspected}"
    );
    assert!(inspected.contains(&format!("证据字段（fields）：{} 个", m.fields.len())));
    for needle in m
        .categories
        .iter()
        .map(|c| &c.name)
        .chain(m.groups.iter().map(|g| &g.name))
        .chain(m.composition.grades.iter().map(|g| &g.name))
        .chain(m.methods.iter().map(|x| &x.name))
    {
        assert!(
            inspected.contains(needle.as_str()),
            "{needle} missing in\n{inspected}"
        );
    }

    // `kaohe pack eval PACK.wasm` prints the same sheet as the interpreter.
    let wasm = load_pack_file(&pack).unwrap();
    assert_eq!(wasm.manifest(), m);
    let interp = Interpreter::new(&checked);
    for fixture in [
        "01-township-full.toml",
        "17-government-fail-both-flags.toml",
    ] {
        let ev = Evidence::load(&root.join("fixtures").join(fixture), m).unwrap();
        let through_runtime = eval_report(&wasm, &ev);
        assert_eq!(through_runtime, eval_report(&interp, &ev), "{fixture}");
        assert!(through_runtime.1, "{fixture}: {}", through_runtime.0);
    }
}

#[test]
fn pack_commands_parse_as_documented() {
    use clap::{CommandFactory as _, Parser as _};
    use kaohe_rulepacks::cli::Command;

    #[derive(Debug, clap::Parser)]
    struct Kaohe {
        #[command(subcommand)]
        pack: Command,
    }
    Kaohe::command().debug_assert();

    let [a, b, _] = authorities();
    let (pa, pb) = (a.public().to_string(), b.public().to_string());
    let args = [
        "kaohe",
        "verify",
        "p.wasm",
        "--authority",
        &pa,
        "--authority",
        &pb,
        "--threshold",
        "2",
        "--year",
        "2022",
    ];
    match Kaohe::try_parse_from(args).unwrap().pack {
        Command::Verify(v) => {
            assert_eq!(v.pack, PathBuf::from("p.wasm"));
            assert_eq!(v.authorities, vec![a.public(), b.public()]);
            assert_eq!((v.threshold, v.year, v.sig), (2, Some(2022), None));
        }
        other => panic!("{other:?}"),
    }
    match Kaohe::try_parse_from([
        "kaohe", "sign", "p.wasm", "--key", "a.key", "--key", "b.key",
    ])
    .unwrap()
    .pack
    {
        Command::Sign(s) => {
            assert_eq!(s.keys, vec![PathBuf::from("a.key"), PathBuf::from("b.key")]);
            assert_eq!(s.out, None);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        Kaohe::try_parse_from(["kaohe", "keygen", "-o", "k"])
            .unwrap()
            .pack,
        Command::Keygen(_)
    ));
    assert!(matches!(
        Kaohe::try_parse_from(["kaohe", "inspect", "p.wasm", "--sig", "p.sig"])
            .unwrap()
            .pack,
        Command::Inspect(_)
    ));
    // A public key that is not one, and signing without a key, are refused.
    assert!(
        Kaohe::try_parse_from([
            "kaohe",
            "verify",
            "p.wasm",
            "--authority",
            "ed25519:AAAA",
            "--threshold",
            "1"
        ])
        .is_err()
    );
    assert!(Kaohe::try_parse_from(["kaohe", "sign", "p.wasm"]).is_err());
}
