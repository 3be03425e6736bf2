//! Signed envelopes (DSSE v1): a payload type, the payload bytes and
//! Ed25519 signatures over their pre-authentication encoding ([`pae`]).
//!
//! **Invariant:** verification runs `verify_strict` over the bytes as
//! received; nothing is decoded before its signature holds, and nothing is
//! re-encoded to be verified.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

use crate::keys::{KeyId, PublicKey, SigningKeyPair};
use crate::pb;
use crate::validate::{FieldError, Problem};

/// Default cap on a payload's size: 4 MiB.
pub const DEFAULT_MAX_PAYLOAD_BYTES: usize = 4 * 1024 * 1024;
/// Default cap on the number of signatures checked on one envelope.
pub const DEFAULT_MAX_SIGNATURES: usize = 16;

/// A DSSE v1 envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Media type of the payload.
    pub payload_type: String,
    /// The encoded payload, signed as is.
    pub payload: Vec<u8>,
    /// Signatures over `pae(payload_type, payload)`.
    pub signatures: Vec<Signature>,
}

/// One signature of an envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// Id of the key that signed.
    pub key_id: KeyId,
    /// The Ed25519 signature.
    pub sig: [u8; 64],
}

/// A SHA-256 hash, printed as 64 lowercase hex characters. A submission's
/// digest is SHA-256 of its envelope's PAE bytes ([`Envelope::digest`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(pub [u8; 32]);

/// Where verification finds public keys by id.
pub trait KeyLookup {
    /// The key with this id, if it is known (and not revoked).
    fn lookup(&self, id: &KeyId) -> Option<PublicKey>;
}

impl KeyLookup for HashMap<KeyId, PublicKey> {
    fn lookup(&self, id: &KeyId) -> Option<PublicKey> {
        self.get(id).copied()
    }
}

impl KeyLookup for BTreeMap<KeyId, PublicKey> {
    fn lookup(&self, id: &KeyId) -> Option<PublicKey> {
        self.get(id).copied()
    }
}

/// A single key knows itself.
impl KeyLookup for PublicKey {
    fn lookup(&self, id: &KeyId) -> Option<PublicKey> {
        (self.key_id() == *id).then_some(*self)
    }
}

impl KeyLookup for Vec<PublicKey> {
    fn lookup(&self, id: &KeyId) -> Option<PublicKey> {
        self.iter().find(|k| k.key_id() == *id).copied()
    }
}

/// Limits applied before any signature is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest payload accepted, in bytes.
    pub max_payload_bytes: usize,
    /// Most signatures one envelope may carry.
    pub max_signatures: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_payload_bytes: DEFAULT_MAX_PAYLOAD_BYTES,
            max_signatures: DEFAULT_MAX_SIGNATURES,
        }
    }
}

/// An envelope whose signatures held: the payload may now be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedEnvelope<'a> {
    /// The payload type (equal to the expected one).
    pub payload_type: &'a str,
    /// The payload bytes exactly as received.
    pub payload: &'a [u8],
    /// Known keys whose signature verified, in envelope order.
    pub signers: Vec<KeyId>,
    /// SHA-256 of the PAE bytes.
    pub digest: Digest,
}

/// Why an envelope was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// The payload type is not the one expected here.
    #[error(
        "载荷类型应为 {expected}，实为 {got:?}（payload type must be {expected}, got {got:?}）"
    )]
    WrongPayloadType {
        /// The type this receiver accepts.
        expected: String,
        /// The type in the envelope.
        got: String,
    },
    /// The payload is empty: nothing was signed, or it was cut off.
    #[error("载荷为空或被截断（payload is empty or truncated）")]
    TruncatedPayload,
    /// The payload is larger than the receiver accepts.
    #[error(
        "载荷 {got} 字节，超过上限 {max} 字节（payload of {got} bytes exceeds the {max}-byte limit）"
    )]
    OversizePayload {
        /// The cap.
        max: usize,
        /// The payload's size.
        got: usize,
    },
    /// More signatures than the receiver checks.
    #[error("签名 {got} 个，超过上限 {max} 个（{got} signatures exceed the limit of {max}）")]
    TooManySignatures {
        /// The cap.
        max: usize,
        /// Signatures in the envelope.
        got: usize,
    },
    /// The same key signed twice.
    #[error("密钥 {0} 重复签名（key {0} signed more than once）")]
    DuplicateSigner(KeyId),
    /// No known key signed (the first unknown signer is named).
    #[error("签名密钥 {0} 未登记或已吊销（signing key {0} is unknown or revoked）")]
    UnknownKey(KeyId),
    /// A known key's signature does not verify over the bytes received.
    #[error("密钥 {0} 的签名无效（signature by key {0} does not verify）")]
    BadSignature(KeyId),
    /// Fewer distinct known keys signed validly than required.
    #[error(
        "有效签名 {valid} 个，少于要求的 {needed} 个（{valid} valid signatures, {needed} required）"
    )]
    TooFewSignatures {
        /// Signatures required.
        needed: usize,
        /// Valid signatures from distinct known keys.
        valid: usize,
    },
}

/// DSSE v1 pre-authentication encoding:
/// `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, LEN as ASCII decimal.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let type_len = payload_type.len().to_string();
    let body_len = payload.len().to_string();
    let mut out = Vec::with_capacity(
        10 + type_len.len() + payload_type.len() + body_len.len() + payload.len(),
    );
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(type_len.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(body_len.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

impl Envelope {
    /// Signs `payload` as `payload_type` with every key given, in order.
    pub fn sign(payload_type: &str, payload: Vec<u8>, signers: &[&SigningKeyPair]) -> Envelope {
        let message = pae(payload_type, &payload);
        let signatures = signers
            .iter()
            .map(|key| Signature {
                key_id: key.key_id(),
                sig: key.sign(&message),
            })
            .collect();
        Envelope {
            payload_type: payload_type.to_owned(),
            payload,
            signatures,
        }
    }

    /// The PAE bytes the signatures cover.
    pub fn pae(&self) -> Vec<u8> {
        pae(&self.payload_type, &self.payload)
    }

    /// The protobuf encoding, as the envelope travels and is stored.
    pub fn to_protobuf(&self) -> Vec<u8> {
        use prost::Message as _;
        pb::Envelope::from(self.clone()).encode_to_vec()
    }

    /// Decodes and converts a protobuf envelope (signatures not yet checked).
    pub fn from_protobuf(bytes: &[u8]) -> Result<Envelope, FieldError> {
        use prost::Message as _;
        let wire = pb::Envelope::decode(bytes).map_err(|e| {
            FieldError::invalid(
                "envelope",
                format!("信封无法解码：{e}"),
                format!("envelope does not decode: {e}"),
            )
        })?;
        Envelope::try_from(wire)
    }

    /// SHA-256 of the PAE bytes.
    pub fn digest(&self) -> Digest {
        Digest::of_pae(&self.payload_type, &self.payload)
    }

    /// At least one valid signature by a known key, default [`Limits`].
    pub fn verify(
        &self,
        expected_type: &str,
        keys: &dyn KeyLookup,
    ) -> Result<VerifiedEnvelope<'_>, EnvelopeError> {
        self.verify_with(expected_type, keys, 1, &Limits::default())
    }

    /// Valid signatures by at least `k` distinct known keys (k of n pack
    /// authorities), default [`Limits`]; returns the signers.
    pub fn verify_threshold(
        &self,
        expected_type: &str,
        keys: &dyn KeyLookup,
        k: usize,
    ) -> Result<Vec<KeyId>, EnvelopeError> {
        self.verify_with(expected_type, keys, k, &Limits::default())
            .map(|v| v.signers)
    }

    /// The general check. In order: payload type, empty payload, payload
    /// size, signature count, duplicate signers; then every signature by a
    /// known key must verify strictly (one that fails refuses the whole
    /// envelope); signatures by unknown keys are skipped; at least
    /// `threshold` (never less than 1) must remain.
    pub fn verify_with(
        &self,
        expected_type: &str,
        keys: &dyn KeyLookup,
        threshold: usize,
        limits: &Limits,
    ) -> Result<VerifiedEnvelope<'_>, EnvelopeError> {
        let needed = threshold.max(1);
        if self.payload_type != expected_type {
            return Err(EnvelopeError::WrongPayloadType {
                expected: expected_type.to_owned(),
                got: self.payload_type.chars().take(200).collect(),
            });
        }
        if self.payload.is_empty() {
            return Err(EnvelopeError::TruncatedPayload);
        }
        if self.payload.len() > limits.max_payload_bytes {
            return Err(EnvelopeError::OversizePayload {
                max: limits.max_payload_bytes,
                got: self.payload.len(),
            });
        }
        if self.signatures.len() > limits.max_signatures {
            return Err(EnvelopeError::TooManySignatures {
                max: limits.max_signatures,
                got: self.signatures.len(),
            });
        }
        let mut seen = HashSet::with_capacity(self.signatures.len());
        if let Some(dup) = self.signatures.iter().find(|s| !seen.insert(&s.key_id)) {
            return Err(EnvelopeError::DuplicateSigner(dup.key_id.clone()));
        }

        let message = self.pae();
        let mut signers = Vec::new();
        let mut first_unknown = None;
        for signature in &self.signatures {
            match keys.lookup(&signature.key_id) {
                None => {
                    first_unknown.get_or_insert(&signature.key_id);
                }
                // A lookup that answers with another key than the id names
                // is treated as a failure, never as a pass.
                Some(key)
                    if key.key_id() == signature.key_id
                        && key.verify_strict(&message, &signature.sig) =>
                {
                    signers.push(signature.key_id.clone());
                }
                Some(_) => return Err(EnvelopeError::BadSignature(signature.key_id.clone())),
            }
        }
        if signers.len() >= needed {
            return Ok(VerifiedEnvelope {
                payload_type: &self.payload_type,
                payload: &self.payload,
                signers,
                digest: Digest(Sha256::digest(&message).into()),
            });
        }
        match first_unknown {
            Some(unknown) if signers.is_empty() => Err(EnvelopeError::UnknownKey(unknown.clone())),
            _ => Err(EnvelopeError::TooFewSignatures {
                needed,
                valid: signers.len(),
            }),
        }
    }
}

impl TryFrom<pb::Envelope> for Envelope {
    type Error = FieldError;
    fn try_from(m: pb::Envelope) -> Result<Self, FieldError> {
        if m.payload_type.is_empty() {
            return Err(FieldError::new("payload_type", Problem::Missing));
        }
        let signatures = m
            .signatures
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                let key_id = KeyId::from_str(&s.key_id).map_err(|_| {
                    FieldError::new(
                        format!("signatures[{i}].key_id"),
                        Problem::Invalid {
                            zh: "须为 32 个小写十六进制字符".into(),
                            en: "must be 32 lowercase hex characters".into(),
                        },
                    )
                })?;
                let sig = <[u8; 64]>::try_from(s.sig.as_slice()).map_err(|_| {
                    FieldError::new(
                        format!("signatures[{i}].sig"),
                        Problem::WrongLength {
                            expected: 64,
                            got: s.sig.len(),
                        },
                    )
                })?;
                Ok(Signature { key_id, sig })
            })
            .collect::<Result<_, FieldError>>()?;
        Ok(Envelope {
            payload_type: m.payload_type,
            payload: m.payload,
            signatures,
        })
    }
}

impl From<Envelope> for pb::Envelope {
    fn from(e: Envelope) -> Self {
        pb::Envelope {
            payload_type: e.payload_type,
            payload: e.payload,
            signatures: e
                .signatures
                .into_iter()
                .map(|s| pb::Signature {
                    key_id: s.key_id.into(),
                    sig: s.sig.to_vec(),
                })
                .collect(),
        }
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

impl FromStr for Digest {
    type Err = FieldError;
    /// 64 hex characters.
    fn from_str(s: &str) -> Result<Self, FieldError> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| {
            FieldError::invalid(
                "digest",
                "须为 64 个十六进制字符",
                "must be 64 hex characters",
            )
        })?;
        Ok(Digest(out))
    }
}

impl Digest {
    /// SHA-256 of `pae(payload_type, payload)`: an envelope's digest,
    /// computable from a wire envelope even when it does not convert.
    pub fn of_pae(payload_type: &str, payload: &[u8]) -> Digest {
        Digest(Sha256::digest(pae(payload_type, payload)).into())
    }

    /// The digest in a received message field.
    pub fn from_field(field: &str, bytes: &[u8]) -> Result<Digest, FieldError> {
        crate::validate::hash32(field, bytes).map(Digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TYPE: &str = "application/vnd.kaohe.test.v1+protobuf";

    fn keys(pairs: &[&SigningKeyPair]) -> HashMap<KeyId, PublicKey> {
        pairs.iter().map(|k| (k.key_id(), k.public())).collect()
    }

    #[test]
    fn pae_matches_the_dsse_spec_example() {
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
    }

    #[test]
    fn round_trip_through_protobuf() {
        let a = SigningKeyPair::from_seed(&[1; 32]);
        let env = Envelope::sign(TYPE, b"payload".to_vec(), &[&a]);
        let wire = pb::Envelope::from(env.clone());
        let back = Envelope::try_from(wire).unwrap();
        assert_eq!(back, env);
        assert_eq!(Envelope::from_protobuf(&env.to_protobuf()).unwrap(), env);
        let err = Envelope::from_protobuf(&env.to_protobuf()[..5]).unwrap_err();
        assert_eq!(err.field, "envelope");
        let verified = back.verify(TYPE, &keys(&[&a])).unwrap();
        assert_eq!(verified.payload, b"payload");
        assert_eq!(verified.signers, vec![a.key_id()]);
        assert_eq!(verified.digest, env.digest());
        assert_eq!(
            verified.digest.0,
            <[u8; 32]>::from(Sha256::digest(pae(TYPE, b"payload")))
        );
    }

    #[test]
    fn every_single_bit_flip_is_refused() {
        let a = SigningKeyPair::from_seed(&[2; 32]);
        let known = keys(&[&a]);
        let env = Envelope::sign(TYPE, b"\x08\x01\x12\x05hello".to_vec(), &[&a]);
        assert!(env.verify(TYPE, &known).is_ok());
        let mut checked = 0;
        for i in 0..env.payload.len() * 8 {
            let mut bad = env.clone();
            bad.payload[i / 8] ^= 1 << (i % 8);
            assert_eq!(
                bad.verify(TYPE, &known),
                Err(EnvelopeError::BadSignature(a.key_id()))
            );
            checked += 1;
        }
        for i in 0..64 * 8 {
            let mut bad = env.clone();
            bad.signatures[0].sig[i / 8] ^= 1 << (i % 8);
            assert_eq!(
                bad.verify(TYPE, &known),
                Err(EnvelopeError::BadSignature(a.key_id()))
            );
            checked += 1;
        }
        for i in 0..TYPE.len() * 8 {
            let mut bytes = TYPE.as_bytes().to_vec();
            bytes[i / 8] ^= 1 << (i % 8);
            // A flip that leaves invalid UTF-8 cannot even be carried.
            let Ok(flipped) = String::from_utf8(bytes) else {
                continue;
            };
            let mut bad = env.clone();
            bad.payload_type = flipped.clone();
            // Expecting the original type: refused for its type.
            assert!(matches!(
                bad.verify(TYPE, &known),
                Err(EnvelopeError::WrongPayloadType { .. })
            ));
            // Even a receiver expecting the flipped type refuses: the
            // signature covers the type.
            assert_eq!(
                bad.verify(&flipped, &known),
                Err(EnvelopeError::BadSignature(a.key_id()))
            );
            checked += 1;
        }
        assert!(checked > 64 * 8 + TYPE.len() * 4);
    }

    #[test]
    fn signature_for_one_type_presented_as_another_is_refused() {
        let a = SigningKeyPair::from_seed(&[3; 32]);
        let known = keys(&[&a]);
        let env = Envelope::sign(
            "application/vnd.kaohe.receipt-batch.v1+protobuf",
            b"same bytes".to_vec(),
            &[&a],
        );
        let mut relabelled = env.clone();
        relabelled.payload_type = "application/vnd.kaohe.submission.v1+protobuf".into();
        assert_eq!(
            relabelled.verify("application/vnd.kaohe.submission.v1+protobuf", &known),
            Err(EnvelopeError::BadSignature(a.key_id()))
        );
        assert!(matches!(
            env.verify("application/vnd.kaohe.submission.v1+protobuf", &known),
            Err(EnvelopeError::WrongPayloadType { .. })
        ));
    }

    #[test]
    fn weak_key_forgery_is_refused_by_verify_strict() {
        // With the identity point as public key, R = identity and s = 0 is a
        // "signature" of every message under the lenient check.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let weak = PublicKey::unchecked(&identity);
        let mut forged = [0u8; 64];
        forged[0] = 1;
        let lenient = ed25519_dalek::VerifyingKey::from_bytes(&identity).unwrap();
        use ed25519_dalek::Verifier as _;
        assert!(
            lenient
                .verify(
                    &pae(TYPE, b"x"),
                    &ed25519_dalek::Signature::from_bytes(&forged)
                )
                .is_ok(),
            "the forgery passes the lenient check, so this test means something"
        );
        let env = Envelope {
            payload_type: TYPE.into(),
            payload: b"x".to_vec(),
            signatures: vec![Signature {
                key_id: weak.key_id(),
                sig: forged,
            }],
        };
        assert_eq!(
            env.verify(TYPE, &weak),
            Err(EnvelopeError::BadSignature(weak.key_id()))
        );
    }

    #[test]
    fn unknown_key_and_random_signature() {
        let a = SigningKeyPair::from_seed(&[4; 32]);
        let stranger = SigningKeyPair::from_seed(&[5; 32]);
        let env = Envelope::sign(TYPE, b"p".to_vec(), &[&stranger]);
        assert_eq!(
            env.verify(TYPE, &keys(&[&a])),
            Err(EnvelopeError::UnknownKey(stranger.key_id()))
        );
        let mut random = Envelope::sign(TYPE, b"p".to_vec(), &[&a]);
        random.signatures[0].sig = [0x5a; 64];
        assert_eq!(
            random.verify(TYPE, &keys(&[&a])),
            Err(EnvelopeError::BadSignature(a.key_id()))
        );
        // Signature made over other bytes.
        let other = Envelope::sign(TYPE, b"q".to_vec(), &[&a]);
        let mut swapped = Envelope::sign(TYPE, b"p".to_vec(), &[&a]);
        swapped.signatures = other.signatures;
        assert_eq!(
            swapped.verify(TYPE, &keys(&[&a])),
            Err(EnvelopeError::BadSignature(a.key_id()))
        );
        // A known key whose entry names another key is never a pass.
        let liar: HashMap<KeyId, PublicKey> = [(a.key_id(), stranger.public())].into();
        assert_eq!(
            Envelope::sign(TYPE, b"p".to_vec(), &[&stranger, &a]).verify(TYPE, &liar),
            Err(EnvelopeError::BadSignature(a.key_id()))
        );
    }

    #[test]
    fn unknown_signers_are_skipped_when_a_known_one_holds() {
        let a = SigningKeyPair::from_seed(&[6; 32]);
        let stranger = SigningKeyPair::from_seed(&[7; 32]);
        let env = Envelope::sign(TYPE, b"p".to_vec(), &[&stranger, &a]);
        assert_eq!(
            env.verify(TYPE, &keys(&[&a])).unwrap().signers,
            vec![a.key_id()]
        );
    }

    #[test]
    fn empty_oversize_and_unsigned_payloads_are_refused() {
        let a = SigningKeyPair::from_seed(&[8; 32]);
        let known = keys(&[&a]);
        assert_eq!(
            Envelope::sign(TYPE, Vec::new(), &[&a]).verify(TYPE, &known),
            Err(EnvelopeError::TruncatedPayload)
        );
        let limits = Limits {
            max_payload_bytes: 10,
            ..Limits::default()
        };
        let big = Envelope::sign(TYPE, vec![1; 11], &[&a]);
        assert_eq!(
            big.verify_with(TYPE, &known, 1, &limits),
            Err(EnvelopeError::OversizePayload { max: 10, got: 11 })
        );
        let fits = Envelope::sign(TYPE, vec![1; 10], &[&a]);
        assert!(fits.verify_with(TYPE, &known, 1, &limits).is_ok());
        let unsigned = Envelope::sign(TYPE, b"p".to_vec(), &[]);
        assert_eq!(
            unsigned.verify(TYPE, &known),
            Err(EnvelopeError::TooFewSignatures {
                needed: 1,
                valid: 0
            })
        );
        // Threshold 0 still needs one signature.
        assert!(unsigned.verify_threshold(TYPE, &known, 0).is_err());
    }

    #[test]
    fn threshold_counts_distinct_known_keys() {
        let authorities: Vec<_> = (10..13u8)
            .map(|s| SigningKeyPair::from_seed(&[s; 32]))
            .collect();
        let [a, b, c] = [&authorities[0], &authorities[1], &authorities[2]];
        let stranger = SigningKeyPair::from_seed(&[99; 32]);
        let known = keys(&[a, b, c]);
        let two = Envelope::sign(TYPE, b"pack".to_vec(), &[a, &stranger, c]);
        assert_eq!(
            two.verify_threshold(TYPE, &known, 2),
            Ok(vec![a.key_id(), c.key_id()])
        );
        assert_eq!(
            two.verify_threshold(TYPE, &known, 3),
            Err(EnvelopeError::TooFewSignatures {
                needed: 3,
                valid: 2
            })
        );
        let mut twice = Envelope::sign(TYPE, b"pack".to_vec(), &[a, b]);
        twice.signatures.push(twice.signatures[0].clone());
        assert_eq!(
            twice.verify_threshold(TYPE, &known, 2),
            Err(EnvelopeError::DuplicateSigner(a.key_id()))
        );
        let many: Vec<_> = (0..17u8)
            .map(|s| SigningKeyPair::from_seed(&[s; 32]))
            .collect();
        let refs: Vec<_> = many.iter().collect();
        assert_eq!(
            Envelope::sign(TYPE, b"pack".to_vec(), &refs).verify_threshold(TYPE, &known, 2),
            Err(EnvelopeError::TooManySignatures { max: 16, got: 17 })
        );
    }

    #[test]
    fn wire_conversion_names_the_bad_field() {
        let a = SigningKeyPair::from_seed(&[9; 32]);
        let mut wire = pb::Envelope::from(Envelope::sign(TYPE, b"p".to_vec(), &[&a]));
        wire.signatures[0].sig.pop();
        let err = Envelope::try_from(wire.clone()).unwrap_err();
        assert_eq!(err.field, "signatures[0].sig");
        wire.signatures[0].sig.push(0);
        wire.signatures[0].key_id = "nothex".into();
        assert_eq!(
            Envelope::try_from(wire.clone()).unwrap_err().field,
            "signatures[0].key_id"
        );
        wire.payload_type.clear();
        assert_eq!(Envelope::try_from(wire).unwrap_err().field, "payload_type");
    }

    #[test]
    fn digest_text_round_trip() {
        let d = Envelope::sign(TYPE, b"p".to_vec(), &[]).digest();
        assert_eq!(d.to_string().parse::<Digest>().unwrap(), d);
        assert!("zz".parse::<Digest>().is_err());
    }
}
