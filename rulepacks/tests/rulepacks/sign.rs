//! Pack signing and trust (ABI.md §8): k-of-n statements over the
//! hand-written ABI pack (`fixtures/wat/abi-pack.wat`, pack `abi-demo`,
//! year 2022, version 1), every refusal RELIABILITY.md promise 5 names, and
//! `kaohe pack keygen | sign | verify | inspect` through their library
//! functions on real files.
//!
//! Layout: this file holds the helpers and what is accepted; `refused` and
//! `files` one file each.

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

mod files;
mod refused;

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
