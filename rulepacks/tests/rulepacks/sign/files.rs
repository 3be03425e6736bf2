//! `kaohe pack keygen | sign | verify | inspect` on real files, the
//! compiled Baofeng pack end to end, and the commands' documented syntax.

use super::*;

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
    assert!(
        inspected.contains(&format!("规则包接口（ABI）：2.{}（紧凑输入", m.abi_minor)),
        "the ABI the pack speaks: {inspected}"
    );
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
