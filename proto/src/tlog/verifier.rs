//! Trusted keys of signed notes and opening a note against them.
//!
//! - [`NoteVerifier`]: a trusted key, also in the verifier-key text form
//!   `<name>+<hex key ID>+<base64(type || key)>`; Ed25519 (type `0x01`) or
//!   an Ed25519 cosigner (type `0x04`, [`super::cosignature`]).
//! - [`SignedNote::verify`] → [`VerifiedNote`]: signatures by unknown keys
//!   are kept but ignored; one by a known key that fails refuses the note;
//!   at least one known key must have signed.
//!
//! Every check is Ed25519 `verify_strict` through [`PublicKey`].

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::keys::{KeyError, PublicKey};

use super::note::{
    KeyName, KeyNameError, NoteError, NoteKeyId, SIGNATURE_TYPE_COSIGNATURE_V1,
    SIGNATURE_TYPE_ED25519, SignedNote,
};

/// Why a note does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// The bytes are not a signed note.
    #[error(transparent)]
    Malformed(#[from] NoteError),
    /// Two different trusted keys share a name and key ID.
    #[error("受信密钥 {name}+{key_id} 不唯一（trusted key {name}+{key_id} is ambiguous）")]
    AmbiguousKey {
        /// The key name.
        name: KeyName,
        /// The key ID.
        key_id: NoteKeyId,
    },
    /// A trusted key's signature does not verify.
    #[error(
        "受信密钥 {name}+{key_id} 的签名无效（signature by trusted key {name}+{key_id} is invalid）"
    )]
    InvalidSignature {
        /// The key name.
        name: KeyName,
        /// The key ID.
        key_id: NoteKeyId,
    },
    /// No trusted key signed.
    #[error("签名注记没有任何受信密钥的签名（signed note has no signature by a trusted key）")]
    NoTrustedSignature,
}

impl SignedNote {
    /// Checks the signatures against trusted keys. A signature whose name
    /// and key ID match no trusted key is ignored; one that matches must
    /// verify, or the whole note is refused; at least one must verify.
    pub fn verify(&self, trusted: &[NoteVerifier]) -> Result<VerifiedNote, OpenError> {
        let mut verified: Vec<VerifiedSignature> = Vec::new();
        for sig in self.signatures() {
            let mut matching = trusted
                .iter()
                .filter(|v| v.name == sig.name && v.key_id == sig.key_id);
            let Some(verifier) = matching.next() else {
                continue;
            };
            if matching.any(|other| other != verifier) {
                return Err(OpenError::AmbiguousKey {
                    name: sig.name.clone(),
                    key_id: sig.key_id,
                });
            }
            let timestamp = verifier.check(self.text(), &sig.signature).ok_or_else(|| {
                OpenError::InvalidSignature {
                    name: sig.name.clone(),
                    key_id: sig.key_id,
                }
            })?;
            if !verified.iter().any(|v| v.verifier == *verifier) {
                verified.push(VerifiedSignature {
                    verifier: verifier.clone(),
                    timestamp,
                });
            }
        }
        if verified.is_empty() {
            return Err(OpenError::NoTrustedSignature);
        }
        Ok(VerifiedNote {
            text: self.text().to_owned(),
            signatures: verified,
        })
    }
}

/// Parses `bytes` and verifies them against trusted keys.
pub fn open(bytes: &[u8], trusted: &[NoteVerifier]) -> Result<VerifiedNote, OpenError> {
    SignedNote::parse(bytes)?.verify(trusted)
}

/// A note whose text at least one trusted key signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedNote {
    text: String,
    signatures: Vec<VerifiedSignature>,
}

impl VerifiedNote {
    /// The signed text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The trusted keys whose signatures verified, each once, in note order.
    pub fn signatures(&self) -> &[VerifiedSignature] {
        &self.signatures
    }

    /// Whether `verifier` signed.
    pub fn signed_by(&self, verifier: &NoteVerifier) -> bool {
        self.signatures.iter().any(|s| s.verifier == *verifier)
    }
}

/// A signature that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSignature {
    /// The trusted key.
    pub verifier: NoteVerifier,
    /// For a cosignature, the time it states (unix seconds).
    pub timestamp: Option<i64>,
}

/// What a trusted key's signatures are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VerifierKind {
    /// Ed25519 over the note text (type `0x01`).
    Ed25519,
    /// A timestamped Ed25519 cosignature/v1 (type `0x04`).
    CosignatureV1,
}

impl VerifierKind {
    /// The signature type byte.
    pub fn signature_type(self) -> u8 {
        match self {
            VerifierKind::Ed25519 => SIGNATURE_TYPE_ED25519,
            VerifierKind::CosignatureV1 => SIGNATURE_TYPE_COSIGNATURE_V1,
        }
    }
}

/// A trusted key: name, kind and Ed25519 public key; its key ID follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: KeyName,
    key_id: NoteKeyId,
    kind: VerifierKind,
    key: PublicKey,
}

/// Why a verifier-key string does not parse.
#[derive(Debug, thiserror::Error)]
pub enum VerifierKeyError {
    /// Not `<name>+<hex>+<base64>`.
    #[error(
        "验证密钥须写作 `<名称>+<8 位十六进制>+<base64>`（verifier key must be `<name>+<8 hex digits>+<base64>`）"
    )]
    Format,
    /// The name breaks the rules.
    #[error(transparent)]
    Name(#[from] KeyNameError),
    /// The key ID is not 8 hex digits.
    #[error("验证密钥的密钥 ID 须为 8 位十六进制（verifier key ID must be 8 hex digits）")]
    KeyIdFormat,
    /// The key part is not standard padded base64.
    #[error("验证密钥的公钥部分不是标准 base64（verifier key material is not standard base64）")]
    Base64,
    /// A signature type this crate does not verify.
    #[error(
        "验证密钥的签名类型 0x{0:02x} 不受支持（verifier key signature type 0x{0:02x} is not supported）"
    )]
    UnsupportedType(u8),
    /// The key is not a strong Ed25519 public key.
    #[error("验证密钥的公钥无效（verifier key's public key is invalid）: {0}")]
    Key(#[from] KeyError),
    /// The stated key ID is not the one the name and key give.
    #[error(
        "验证密钥写明的密钥 ID {stated} 与计算所得 {derived} 不符（verifier key states key ID {stated}, name and key give {derived}）"
    )]
    KeyIdMismatch {
        /// Written in the string.
        stated: NoteKeyId,
        /// Derived from the name and key.
        derived: NoteKeyId,
    },
}

impl NoteVerifier {
    /// A key whose Ed25519 signatures cover the note text.
    pub fn ed25519(name: KeyName, key: PublicKey) -> NoteVerifier {
        NoteVerifier::new(name, VerifierKind::Ed25519, key)
    }

    /// A cosigner whose signatures are cosignature/v1.
    pub fn cosignature_v1(name: KeyName, key: PublicKey) -> NoteVerifier {
        NoteVerifier::new(name, VerifierKind::CosignatureV1, key)
    }

    fn new(name: KeyName, kind: VerifierKind, key: PublicKey) -> NoteVerifier {
        let key_id = NoteKeyId::derive(&name, kind.signature_type(), key.as_bytes());
        NoteVerifier {
            name,
            key_id,
            kind,
            key,
        }
    }

    /// Parses `<name>+<hex key ID>+<base64(type || 32-byte key)>`, type
    /// `0x01` or `0x04`; the key ID must be the one name and key give.
    pub fn parse(vkey: &str) -> Result<NoteVerifier, VerifierKeyError> {
        // The name has no '+', base64 may: split twice from the left.
        let mut parts = vkey.splitn(3, '+');
        let (Some(name), Some(id), Some(material)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(VerifierKeyError::Format);
        };
        let name = KeyName::new(name)?;
        let mut stated = [0u8; 4];
        if id.len() != 8 || hex::decode_to_slice(id, &mut stated).is_err() {
            return Err(VerifierKeyError::KeyIdFormat);
        }
        let raw = BASE64
            .decode(material)
            .map_err(|_| VerifierKeyError::Base64)?;
        let (&kind, key) = raw.split_first().ok_or(VerifierKeyError::Base64)?;
        let kind = match kind {
            SIGNATURE_TYPE_ED25519 => VerifierKind::Ed25519,
            SIGNATURE_TYPE_COSIGNATURE_V1 => VerifierKind::CosignatureV1,
            other => return Err(VerifierKeyError::UnsupportedType(other)),
        };
        let key = <[u8; 32]>::try_from(key).map_err(|_| KeyError::Length(key.len()))?;
        let verifier = NoteVerifier::new(name, kind, PublicKey::from_bytes(&key)?);
        if verifier.key_id != NoteKeyId(stated) {
            return Err(VerifierKeyError::KeyIdMismatch {
                stated: NoteKeyId(stated),
                derived: verifier.key_id,
            });
        }
        Ok(verifier)
    }

    /// The key name.
    pub fn name(&self) -> &KeyName {
        &self.name
    }

    /// The key ID.
    pub fn key_id(&self) -> NoteKeyId {
        self.key_id
    }

    /// What its signatures are.
    pub fn kind(&self) -> VerifierKind {
        self.kind
    }

    /// The Ed25519 public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.key
    }

    /// Checks one signature (the bytes after the key ID) over `text`:
    /// `Some(timestamp)` when it verifies (`Some(None)` for plain Ed25519).
    fn check(&self, text: &str, signature: &[u8]) -> Option<Option<i64>> {
        match self.kind {
            VerifierKind::Ed25519 => {
                let sig = <&[u8; 64]>::try_from(signature).ok()?;
                self.key.verify_strict(text.as_bytes(), sig).then_some(None)
            }
            VerifierKind::CosignatureV1 => {
                super::cosignature::verify(&self.key, text, signature).map(Some)
            }
        }
    }
}

impl fmt::Display for NoteVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut material = Vec::with_capacity(33);
        material.push(self.kind.signature_type());
        material.extend_from_slice(self.key.as_bytes());
        write!(
            f,
            "{}+{}+{}",
            self.name,
            self.key_id,
            BASE64.encode(material)
        )
    }
}

impl FromStr for NoteVerifier {
    type Err = VerifierKeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NoteVerifier::parse(s)
    }
}
