//! C2SP Ed25519 cosignatures (<https://c2sp.org/tlog-cosignature>,
//! cosignature/v1): a witness's statement that, at a time, the checkpoint
//! is the largest consistent tree it has seen of that log.
//!
//! The signed message is `cosignature/v1\ntime <unix seconds>\n` followed by
//! the checkpoint's note text; the note signature is
//! `key ID (4) || timestamp (u64, big-endian) || Ed25519 signature (64)`,
//! the key ID derived with type byte `0x04`. Witnesses (kaohe's nodes) sign
//! with [`cosign`]; [`super::verifier::NoteVerifier::cosignature_v1`] checks.

use crate::keys::{PublicKey, SigningKeyPair};

use super::note::{KeyName, NoteError, NoteKeyId, NoteSignature, SIGNATURE_TYPE_COSIGNATURE_V1};

/// The header line of the signed message.
pub const COSIGNATURE_V1_HEADER: &str = "cosignature/v1";
/// Bytes of a cosignature after the key ID: timestamp and Ed25519 signature.
const TIMESTAMPED_SIGNATURE_BYTES: usize = 8 + 64;

/// Why a cosignature could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CosignError {
    /// The time is before 1970.
    #[error("副署时间 {0} 早于 1970 年（cosignature time {0} is before 1970）")]
    NegativeTime(i64),
    /// The text is not note text.
    #[error(transparent)]
    Text(#[from] NoteError),
}

/// The message a cosignature/v1 signs: the header, the time line, then the
/// checkpoint's note text (final newline included, no signature lines).
pub fn signed_message(time: u64, checkpoint_text: &str) -> Vec<u8> {
    format!("{COSIGNATURE_V1_HEADER}\ntime {time}\n{checkpoint_text}").into_bytes()
}

/// `key`'s cosignature, under `name` and at `time` (unix seconds), of the
/// checkpoint whose note text is `checkpoint_text`. The caller has checked
/// that the checkpoint is consistent with every one it cosigned before.
pub fn cosign(
    checkpoint_text: &str,
    name: &KeyName,
    key: &SigningKeyPair,
    time: i64,
) -> Result<NoteSignature, CosignError> {
    let time = u64::try_from(time).map_err(|_| CosignError::NegativeTime(time))?;
    super::note::check_text(checkpoint_text)?;
    let mut signature = Vec::with_capacity(TIMESTAMPED_SIGNATURE_BYTES);
    signature.extend_from_slice(&time.to_be_bytes());
    signature.extend_from_slice(&key.sign(&signed_message(time, checkpoint_text)));
    Ok(NoteSignature {
        name: name.clone(),
        key_id: NoteKeyId::derive(name, SIGNATURE_TYPE_COSIGNATURE_V1, key.public().as_bytes()),
        signature,
    })
}

/// The time a cosignature states (the bytes after the key ID), unverified;
/// `None` when they are not a cosignature/v1 or the time exceeds 2^63 − 1.
pub fn timestamp(signature: &[u8]) -> Option<i64> {
    let raw: &[u8; TIMESTAMPED_SIGNATURE_BYTES] = signature.try_into().ok()?;
    let time = u64::from_be_bytes(raw[..8].try_into().ok()?);
    i64::try_from(time).ok()
}

/// Checks a cosignature (the bytes after the key ID) by `key` over
/// `checkpoint_text`; the time it states when it verifies.
pub(crate) fn verify(key: &PublicKey, checkpoint_text: &str, signature: &[u8]) -> Option<i64> {
    let time = timestamp(signature)?;
    let sig: &[u8; 64] = signature[8..].try_into().ok()?;
    // `time` is non-negative: it came from a u64 no larger than i64::MAX.
    key.verify_strict(&signed_message(time as u64, checkpoint_text), sig)
        .then_some(time)
}

#[cfg(test)]
mod tests {
    use super::super::note::SignedNote;
    use super::super::verifier::{NoteVerifier, OpenError, VerifierKind, open};
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as BASE64;

    const CHECKPOINT: &str =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

    #[test]
    fn the_signed_message_is_the_spec_example() {
        // c2sp.org/tlog-cosignature, "Ed25519 signed message".
        assert_eq!(
            String::from_utf8(signed_message(1679315147, CHECKPOINT)).unwrap(),
            "cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\n\
             CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
        );
    }

    #[test]
    fn published_cosignatures_state_their_time() {
        let after_key_id = |b64: &str| BASE64.decode(b64).unwrap()[4..].to_vec();
        // The spec's example cosignature line (witness.example.com/w1); its
        // time is the one in the spec's signed-message example.
        let spec = "jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==";
        assert_eq!(timestamp(&after_key_id(spec)), Some(1679315147));
        // transparency-dev/formats `note_cosigv1_test.go` TestCoSigV1Timestamp.
        let works = "ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFiEBYJXORmnFBOBA==";
        assert_eq!(timestamp(&after_key_id(works)), Some(1727964367));
        let plain_ed25519 = "eQjRQm6eSKzFoiYalgwCPXu2y3ijtg68is9M46JKxuZB+dRfTmeQeDBoXnvxZx2ugnkyV+MUMLXpWs1hPb/W/4xkNQY=";
        assert_eq!(timestamp(&after_key_id(plain_ed25519)), None);
        let mut too_late = after_key_id(works);
        too_late[0] = 0x80;
        assert_eq!(timestamp(&too_late), None);
    }

    #[test]
    fn a_published_cosigner_key_has_its_published_key_id() {
        // transparency-dev/formats `note_cosigv1_test.go`: a native 0x04
        // key, Florian Larysch's test witness remora.n621.de (also listed in
        // sigsum-rs's builtin sigsum-test-2025-3 policy as ebcdeb78…dc36).
        let vkey = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2";
        let v = NoteVerifier::parse(vkey).unwrap();
        assert_eq!(v.kind(), VerifierKind::CosignatureV1);
        assert_eq!(
            hex::encode(v.public_key().as_bytes()),
            "ebcdeb78e7fdb2ef9227b2c1ef11e94600b55b4d6d9a57877e31ee89e59adc36"
        );
        assert_eq!(v.to_string(), vkey);
    }

    #[test]
    fn cosign_and_verify_round_trip_and_bind_time_text_and_key() {
        let log = SigningKeyPair::from_seed(&[1; 32]);
        let witness = SigningKeyPair::from_seed(&[2; 32]);
        let log_name = KeyName::new("example.com/behind-the-sofa").unwrap();
        let w_name = KeyName::new("witness.example.com/w1").unwrap();
        let mut note = SignedNote::sign(CHECKPOINT, &log_name, &log).unwrap();
        let cosig = cosign(CHECKPOINT, &w_name, &witness, 1679315147).unwrap();
        assert_eq!(cosig.signature.len(), TIMESTAMPED_SIGNATURE_BYTES);
        note.add_signature(cosig.clone()).unwrap();

        let log_v = NoteVerifier::ed25519(log_name.clone(), log.public());
        let w_v = NoteVerifier::cosignature_v1(w_name.clone(), witness.public());
        let opened = open(&note.to_bytes(), &[log_v.clone(), w_v.clone()]).unwrap();
        let times: Vec<_> = opened.signatures().iter().map(|s| s.timestamp).collect();
        assert_eq!(times, [None, Some(1679315147)]);

        // The same key as plain Ed25519 has another key ID: the line is
        // not its signature and is ignored.
        let as_plain = NoteVerifier::ed25519(w_name.clone(), witness.public());
        assert_ne!(as_plain.key_id(), w_v.key_id());
        assert!(
            !open(&note.to_bytes(), &[log_v, as_plain])
                .unwrap()
                .signed_by(&w_v)
        );

        // Another time, text or key does not verify.
        let mut other_time = cosig.clone();
        other_time.signature[7] ^= 1;
        let other_text = CHECKPOINT.replace("20852163", "20852164");
        let other_key = NoteVerifier::cosignature_v1(
            w_name.clone(),
            SigningKeyPair::from_seed(&[3; 32]).public(),
        );
        assert_eq!(
            verify(w_v.public_key(), CHECKPOINT, &other_time.signature),
            None
        );
        assert_eq!(
            verify(w_v.public_key(), &other_text, &cosig.signature),
            None
        );
        assert_eq!(
            verify(other_key.public_key(), CHECKPOINT, &cosig.signature),
            None
        );
        let mut bad = SignedNote::sign(CHECKPOINT, &log_name, &log).unwrap();
        bad.add_signature(other_time).unwrap();
        assert!(matches!(
            open(&bad.to_bytes(), &[w_v]),
            Err(OpenError::InvalidSignature { .. })
        ));
        // Extension lines are signed too (transparency-dev/formats
        // TestSigCoversExtensionLines).
        let extended = format!("{CHECKPOINT}Extendo\n");
        let c = cosign(&extended, &w_name, &witness, 5).unwrap();
        assert_eq!(verify(&witness.public(), &extended, &c.signature), Some(5));
        let tampered = format!("{CHECKPOINT}Extend@\n");
        assert_eq!(verify(&witness.public(), &tampered, &c.signature), None);
    }

    #[test]
    fn bad_times_and_texts_are_refused() {
        let witness = SigningKeyPair::from_seed(&[2; 32]);
        let name = KeyName::new("w").unwrap();
        assert_eq!(
            cosign(CHECKPOINT, &name, &witness, -1),
            Err(CosignError::NegativeTime(-1))
        );
        assert_eq!(
            cosign("no newline", &name, &witness, 0),
            Err(CosignError::Text(NoteError::TextWithoutNewline))
        );
        // A time past 2^63 − 1 never verifies, even when correctly signed.
        let time = 1u64 << 63;
        let mut signature = time.to_be_bytes().to_vec();
        signature.extend_from_slice(&witness.sign(&signed_message(time, CHECKPOINT)));
        assert_eq!(verify(&witness.public(), CHECKPOINT, &signature), None);
    }
}
