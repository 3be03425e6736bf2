use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::super::verifier::{NoteVerifier, OpenError, VerifierKeyError, VerifierKind, open};
use super::*;
use crate::keys::KeyError;

// The golang.org/x/mod/sumdb/note test keys and notes
// (sumdb/note/note_test.go): PeterNeumann's signer key is
// `PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz`,
// i.e. base64(0x01 || 32-byte Ed25519 seed).
pub(crate) const PETER_VKEY: &str =
    "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const PETER_SKEY_MATERIAL: &str = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n";
const PETER_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_SIG: &str = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

pub(crate) fn peter_key() -> SigningKeyPair {
    let raw = BASE64.decode(PETER_SKEY_MATERIAL).unwrap();
    assert_eq!(raw[0], SIGNATURE_TYPE_ED25519);
    SigningKeyPair::from_seed(&raw[1..].try_into().unwrap())
}

fn peter() -> NoteVerifier {
    NoteVerifier::parse(PETER_VKEY).unwrap()
}

fn enoch() -> NoteVerifier {
    NoteVerifier::parse(ENOCH_VKEY).unwrap()
}

fn note(parts: &[&str]) -> Vec<u8> {
    parts.concat().into_bytes()
}

#[test]
fn signing_reproduces_the_reference_note_byte_for_byte() {
    let name = KeyName::new("PeterNeumann").unwrap();
    let signed = SignedNote::sign(TEXT, &name, &peter_key()).unwrap();
    assert_eq!(
        String::from_utf8(signed.to_bytes()).unwrap(),
        [TEXT, "\n", PETER_SIG].concat()
    );
    // The signer's key is the published verifier key, text form and all.
    let ours = NoteVerifier::ed25519(name, peter_key().public());
    assert_eq!(ours.to_string(), PETER_VKEY);
    assert_eq!(ours, peter());
    assert_eq!(ours.key_id().to_string(), "c74f20a3");
}

#[test]
fn reference_notes_open_with_their_keys() {
    let both = note(&[TEXT, "\n", PETER_SIG, ENOCH_SIG]);
    // One known: the other is kept in the note but ignored.
    let parsed = SignedNote::parse(&both).unwrap();
    assert_eq!(parsed.text(), TEXT);
    assert_eq!(parsed.signatures().len(), 2);
    assert_eq!(parsed.to_bytes(), both, "re-encodes to the bytes parsed");
    let v = parsed.verify(&[peter()]).unwrap();
    assert_eq!(v.text(), TEXT);
    assert_eq!(v.signatures().len(), 1);
    assert!(v.signed_by(&peter()) && !v.signed_by(&enoch()));
    assert_eq!(v.signatures()[0].timestamp, None);
    // Both known.
    let v = open(&both, &[peter(), enoch()]).unwrap();
    assert!(v.signed_by(&peter()) && v.signed_by(&enoch()));
    // None known.
    assert_eq!(open(&both, &[]), Err(OpenError::NoTrustedSignature));
    // The same trusted key twice is not ambiguous; two keys under one
    // name and key ID are.
    assert!(open(&both, &[enoch(), peter(), enoch()]).is_ok());
    // Repeated lines count once.
    let repeated = note(&[TEXT, "\n", PETER_SIG, PETER_SIG, ENOCH_SIG, ENOCH_SIG]);
    let v = open(&repeated, &[peter()]).unwrap();
    assert_eq!(v.signatures().len(), 1);
}

#[test]
fn a_trusted_key_whose_signature_fails_refuses_the_note() {
    // As in the reference test: four characters spliced into Peter's signature.
    let bad = [&PETER_SIG[..60], "ABCD", &PETER_SIG[60..]].concat();
    assert_eq!(
        open(&note(&[TEXT, "\n", &bad]), &[peter()]),
        Err(OpenError::InvalidSignature {
            name: KeyName::new("PeterNeumann").unwrap(),
            key_id: peter().key_id()
        })
    );
    // The same by an unknown key is ignored, and a good signature still counts.
    let bad_enoch = [&ENOCH_SIG[..60], "ABCD", &ENOCH_SIG[60..]].concat();
    assert!(open(&note(&[TEXT, "\n", PETER_SIG, &bad_enoch]), &[peter()]).is_ok());
    // A well-formed but short signature by a trusted key.
    assert!(matches!(
        open(
            &note(&[TEXT, "\n", "\u{2014} PeterNeumann x08go/ZJ\n"]),
            &[peter()]
        ),
        Err(OpenError::InvalidSignature { .. })
    ));
    // Another text under Peter's signature.
    let other = TEXT.replace("problem", "answer");
    assert!(matches!(
        open(&note(&[&other, "\n", PETER_SIG]), &[peter()]),
        Err(OpenError::InvalidSignature { .. })
    ));
}

#[test]
fn malformed_notes_are_refused_saying_where() {
    let without_newline = &PETER_SIG[..PETER_SIG.len() - 1];
    let bad_name = "\u{2014} Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    let cases: Vec<(Vec<u8>, NoteError)> = vec![
        // The reference test's bad messages.
        (note(&[TEXT]), NoteError::NoSignatures),
        (note(&[TEXT, "\n"]), NoteError::NoSignatures),
        (
            note(&[TEXT, "\n", without_newline]),
            NoteError::MissingFinalNewline,
        ),
        (
            note(&["\x01", TEXT, "\n", PETER_SIG]),
            NoteError::ControlCharacter { line: 1 },
        ),
        (
            [
                b"\xff".as_slice(),
                TEXT.as_bytes(),
                b"\n",
                PETER_SIG.as_bytes(),
            ]
            .concat(),
            NoteError::NotUtf8 { offset: 0 },
        ),
        (
            note(&[TEXT, "\n", bad_name]),
            NoteError::BadBase64 { line: 4 },
        ),
        (
            note(&[TEXT, "\n", PETER_SIG, "Unexpected line.\n"]),
            NoteError::NotSignatureLine { line: 5 },
        ),
        // And more.
        (
            note(&[TEXT, "\n", "\u{2014} Peter+Neumann AAAAAAA=\n"]),
            NoteError::BadKeyName {
                line: 4,
                source: KeyNameError("Peter+Neumann".into()),
            },
        ),
        (
            note(&[TEXT, "\n", "\u{2014} PeterNeumann AAAA\n"]),
            NoteError::SignatureTooShort { line: 4 },
        ),
        (
            note(&[TEXT, "\n", "\u{2014} PeterNeumann AAAAAAB=\n"]),
            NoteError::BadBase64 { line: 4 },
        ),
        (
            note(&[TEXT, "\n", "- PeterNeumann AAAAAAA=\n"]),
            NoteError::NotSignatureLine { line: 4 },
        ),
        (
            note(&["line\r\n", "\n", PETER_SIG]),
            NoteError::ControlCharacter { line: 1 },
        ),
        (
            note(&[TEXT, "\n", PETER_SIG, "\t\n"]),
            NoteError::ControlCharacter { line: 5 },
        ),
    ];
    for (bytes, want) in cases {
        let got = SignedNote::parse(&bytes);
        assert_eq!(
            got,
            Err(want.clone()),
            "{:?}",
            String::from_utf8_lossy(&bytes)
        );
        assert!(matches!(
            open(&bytes, &[peter()]),
            Err(OpenError::Malformed(e)) if e == want
        ));
    }
}

#[test]
fn size_and_signature_count_are_capped() {
    // The reference refuses 101 signatures; 100 are fine.
    let many = |n: usize| note(&[TEXT, "\n", &PETER_SIG.repeat(n)]);
    assert!(open(&many(MAX_NOTE_SIGNATURES), &[peter()]).is_ok());
    assert_eq!(
        SignedNote::parse(&many(MAX_NOTE_SIGNATURES + 1)),
        Err(NoteError::TooManySignatures { max: 100 })
    );
    let huge = note(&[&"x".repeat(MAX_NOTE_BYTES), "\n\n", PETER_SIG]);
    assert_eq!(
        SignedNote::parse(&huge),
        Err(NoteError::TooLarge {
            bytes: huge.len(),
            max: MAX_NOTE_BYTES
        })
    );
    let name = KeyName::new("PeterNeumann").unwrap();
    let mut signed = SignedNote::sign(TEXT, &name, &peter_key()).unwrap();
    for i in 1..MAX_NOTE_SIGNATURES {
        let other = KeyName::new(format!("k{i}")).unwrap();
        signed
            .add_signature(sign_ed25519(TEXT, &other, &peter_key()))
            .unwrap();
    }
    assert_eq!(
        signed.add_signature(sign_ed25519(
            TEXT,
            &KeyName::new("one-more").unwrap(),
            &peter_key()
        )),
        Err(NoteError::TooManySignatures { max: 100 })
    );
    // Re-signing by the same key replaces, so it still fits.
    signed
        .add_signature(sign_ed25519(TEXT, &name, &peter_key()))
        .unwrap();
    assert_eq!(signed.signatures().len(), MAX_NOTE_SIGNATURES);
}

#[test]
fn text_to_sign_must_be_note_text() {
    let name = KeyName::new("PeterNeumann").unwrap();
    let key = peter_key();
    assert_eq!(
        SignedNote::sign("abc", &name, &key),
        Err(NoteError::TextWithoutNewline)
    );
    assert_eq!(
        SignedNote::sign("a\x07\n", &name, &key),
        Err(NoteError::ControlCharacter { line: 1 })
    );
    // Empty lines inside (and at the end of) the text are allowed: the
    // last blank line separates the signatures.
    for text in ["a\n\nb\n", "Note\n\n"] {
        let signed = SignedNote::sign(text, &name, &key).unwrap();
        let reopened = open(&signed.to_bytes(), &[peter()]).unwrap();
        assert_eq!(reopened.text(), text);
    }
}

#[test]
fn key_names_follow_the_spec() {
    for good in ["PeterNeumann", "example.com/log42", "县/日志", "a"] {
        assert!(KeyName::new(good).is_ok(), "{good}");
    }
    let long = "x".repeat(MAX_KEY_NAME_BYTES + 1);
    for bad in [
        "",
        "a b",
        "a+b",
        "a\u{3000}b",
        "a\u{a0}b",
        "a\tb",
        long.as_str(),
    ] {
        assert!(KeyName::new(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn reference_verifier_keys_parse_and_manglings_do_not() {
    assert_eq!(peter().name().as_str(), "PeterNeumann");
    assert_eq!(peter().kind(), VerifierKind::Ed25519);
    // As in the reference test: every proper substring, and every
    // single byte incremented, is refused.
    let b = PETER_VKEY.as_bytes();
    for i in 0..=b.len() {
        for j in i + 1..=b.len() {
            if (i, j) != (0, b.len()) {
                let s = std::str::from_utf8(&b[i..j]).unwrap();
                assert!(NoteVerifier::parse(s).is_err(), "{s}");
            }
        }
    }
    for i in 0..b.len() {
        let mut m = b.to_vec();
        m[i] += 1;
        let s = String::from_utf8(m).unwrap();
        assert!(NoteVerifier::parse(&s).is_err(), "{s}");
    }
    // Wrong-length key with an adjusted key ID; unknown type with an
    // adjusted key ID (both from the reference test). The first one's
    // base64 has non-zero padding bits, which strict decoding refuses
    // before its length is looked at; a canonical one of the wrong
    // length is refused for its length.
    assert!(matches!(
        NoteVerifier::parse(
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
        ),
        Err(VerifierKeyError::Base64)
    ));
    assert!(matches!(
        NoteVerifier::parse(
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWAAAA"
        ),
        Err(VerifierKeyError::Key(KeyError::Length(35)))
    ));
    assert!(matches!(
        NoteVerifier::parse("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"),
        Err(VerifierKeyError::UnsupportedType(0x65))
    ));
    assert!(matches!(
        NoteVerifier::parse("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"),
        Err(VerifierKeyError::KeyIdMismatch { .. })
    ));
    // transparency-dev/formats `note_cosigv1_test.go` verifier keys.
    let test = NoteVerifier::parse("TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6");
    assert_eq!(test.unwrap().kind(), VerifierKind::Ed25519);
    assert!(matches!(
        NoteVerifier::parse("bananas.sigstore.dev+12344556"),
        Err(VerifierKeyError::Format)
    ));
    assert!(matches!(
        NoteVerifier::parse("rekor.sigstore.dev+12345678+THIS_IS_NOT_BASE64!"),
        Err(VerifierKeyError::Base64)
    ));
    assert!(matches!(
        NoteVerifier::parse("rekor.sigstore.dev+12345678+AwEB"),
        Err(VerifierKeyError::UnsupportedType(3))
    ));
    assert!(matches!(
        NoteVerifier::parse(
            "rekor.sigstore.dev+NOT_A_NUMBER+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6"
        ),
        Err(VerifierKeyError::KeyIdFormat)
    ));
}

#[test]
fn a_weak_key_is_refused_as_a_verifier_key() {
    // The identity point (small order), with its key ID worked out.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let name = KeyName::new("weak").unwrap();
    let id = NoteKeyId::derive(&name, SIGNATURE_TYPE_ED25519, &identity);
    let material = BASE64.encode([&[SIGNATURE_TYPE_ED25519][..], &identity].concat());
    assert!(matches!(
        NoteVerifier::parse(&format!("weak+{id}+{material}")),
        Err(VerifierKeyError::Key(KeyError::WeakKey))
    ));
}
