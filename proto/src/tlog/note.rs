//! C2SP signed notes (<https://c2sp.org/signed-note>): a UTF-8 text ending
//! in a newline, a blank line, and one or more signature lines
//! `— <key name> <base64(key ID || signature)>`.
//!
//! - [`KeyName`], [`NoteKeyId`]: who signed; the key ID is the first four
//!   bytes of `SHA-256(name || 0x0A || type || public key)`.
//! - [`SignedNote`]: parsed strictly (size caps, UTF-8, no control
//!   characters, final newline); re-encodes to exactly the bytes parsed.
//! - [`sign_ed25519`]: an Ed25519 signature line; cosignatures are made in
//!   [`super::cosignature`].
//!
//! Trusted keys and opening a note against them are in [`super::verifier`].

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest as _, Sha256};

use crate::keys::SigningKeyPair;

/// Largest note accepted, bytes: room for 16 post-quantum signatures (the
/// spec's minimum) besides the text.
pub const MAX_NOTE_BYTES: usize = 128 * 1024;
/// Most signature lines accepted; the reference implementation
/// (golang.org/x/mod/sumdb/note) refuses more than 100.
pub const MAX_NOTE_SIGNATURES: usize = 100;
/// Longest key name, bytes.
pub const MAX_KEY_NAME_BYTES: usize = 255;
/// Signature type byte of plain Ed25519 note signatures.
pub const SIGNATURE_TYPE_ED25519: u8 = 0x01;
/// Signature type byte of timestamped Ed25519 cosignatures (cosignature/v1).
pub const SIGNATURE_TYPE_COSIGNATURE_V1: u8 = 0x04;
/// What starts every signature line: an em dash and a space.
const SIGNATURE_LINE_PREFIX: &str = "\u{2014} ";

/// The name of a signing key: non-empty, at most 255 bytes, no Unicode
/// white space, no `+`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyName(String);

/// A key name that breaks the rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "密钥名须为 1–255 字节、不含空白字符、加号与控制字符（key name must be 1–255 bytes without white space, '+' or control characters）: {0:?}"
)]
pub struct KeyNameError(pub String);

impl KeyName {
    /// Checks and wraps a key name.
    pub fn new(name: impl Into<String>) -> Result<KeyName, KeyNameError> {
        let name = name.into();
        let ok = !name.is_empty()
            && name.len() <= MAX_KEY_NAME_BYTES
            && !name
                .chars()
                .any(|c| c.is_whitespace() || c == '+' || c.is_control());
        if ok {
            Ok(KeyName(name))
        } else {
            Err(KeyNameError(name.chars().take(80).collect()))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for KeyName {
    type Err = KeyNameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KeyName::new(s)
    }
}

/// The 4-byte key ID that starts every note signature.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NoteKeyId(pub [u8; 4]);

impl NoteKeyId {
    /// `SHA-256(name || 0x0A || signature type || public key)[:4]`.
    pub fn derive(name: &KeyName, signature_type: u8, public_key: &[u8]) -> NoteKeyId {
        let mut h = Sha256::new();
        h.update(name.as_str());
        h.update([b'\n', signature_type]);
        h.update(public_key);
        let digest = h.finalize();
        NoteKeyId([digest[0], digest[1], digest[2], digest[3]])
    }
}

impl fmt::Display for NoteKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for NoteKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NoteKeyId({self})")
    }
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The signer's key name.
    pub name: KeyName,
    /// The signer's key ID.
    pub key_id: NoteKeyId,
    /// The signature bytes after the key ID (their form depends on the
    /// signature type).
    pub signature: Vec<u8>,
}

impl NoteSignature {
    /// The line, newline included.
    pub fn line(&self) -> String {
        let mut raw = Vec::with_capacity(4 + self.signature.len());
        raw.extend_from_slice(&self.key_id.0);
        raw.extend_from_slice(&self.signature);
        format!(
            "{SIGNATURE_LINE_PREFIX}{} {}\n",
            self.name,
            BASE64.encode(raw)
        )
    }
}

/// Why bytes are not a signed note.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// Larger than [`MAX_NOTE_BYTES`].
    #[error(
        "签名注记有 {bytes} 字节，超过上限 {max}（signed note is {bytes} bytes, over the {max} limit）"
    )]
    TooLarge {
        /// Size received.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// Not UTF-8.
    #[error("签名注记第 {offset} 字节起不是 UTF-8（signed note is not UTF-8 from byte {offset}）")]
    NotUtf8 {
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// A control character other than newline.
    #[error("签名注记第 {line} 行含控制字符（signed note line {line} holds a control character）")]
    ControlCharacter {
        /// 1-based line.
        line: usize,
    },
    /// The text does not end in a newline.
    #[error("注记正文须以换行结尾（note text must end with a newline）")]
    TextWithoutNewline,
    /// No blank line followed by signature lines.
    #[error(
        "签名注记没有以空行分隔的签名行（signed note has no signature lines after a blank line）"
    )]
    NoSignatures,
    /// The last signature line does not end in a newline.
    #[error("签名注记须以换行结尾（signed note must end with a newline）")]
    MissingFinalNewline,
    /// A line of the signature block does not start with `— `.
    #[error(
        "签名注记第 {line} 行不是以“— ”开头的签名行（signed note line {line} is not a signature line starting with an em dash）"
    )]
    NotSignatureLine {
        /// 1-based line.
        line: usize,
    },
    /// The key name of a signature line breaks the rules.
    #[error(
        "签名注记第 {line} 行的密钥名无效（signed note line {line} has an invalid key name）: {source}"
    )]
    BadKeyName {
        /// 1-based line.
        line: usize,
        /// What is wrong with the name.
        source: KeyNameError,
    },
    /// The signature is not standard padded base64.
    #[error(
        "签名注记第 {line} 行的签名不是标准 base64（signed note line {line}: signature is not standard base64）"
    )]
    BadBase64 {
        /// 1-based line.
        line: usize,
    },
    /// The signature is shorter than a key ID and one byte.
    #[error("签名注记第 {line} 行的签名过短（signed note line {line}: signature is too short）")]
    SignatureTooShort {
        /// 1-based line.
        line: usize,
    },
    /// More than [`MAX_NOTE_SIGNATURES`] signature lines.
    #[error("签名注记的签名超过 {max} 个（signed note has more than {max} signatures）")]
    TooManySignatures {
        /// The limit.
        max: usize,
    },
}

/// A signed note as received; nothing verified yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedNote {
    text: String,
    signatures: Vec<NoteSignature>,
}

impl SignedNote {
    /// Parses a signed note strictly: at most [`MAX_NOTE_BYTES`], UTF-8,
    /// no control characters but newline, the text separated from one or
    /// more signature lines by the last blank line, a final newline, at
    /// most [`MAX_NOTE_SIGNATURES`] signatures.
    pub fn parse(bytes: &[u8]) -> Result<SignedNote, NoteError> {
        if bytes.len() > MAX_NOTE_BYTES {
            return Err(NoteError::TooLarge {
                bytes: bytes.len(),
                max: MAX_NOTE_BYTES,
            });
        }
        let all = std::str::from_utf8(bytes).map_err(|e| NoteError::NotUtf8 {
            offset: e.valid_up_to(),
        })?;
        check_controls(all, 1)?;
        let split = all.rfind("\n\n").ok_or(NoteError::NoSignatures)?;
        let (text, block) = (&all[..=split], &all[split + 2..]);
        if block.is_empty() {
            return Err(NoteError::NoSignatures);
        }
        let block = block
            .strip_suffix('\n')
            .ok_or(NoteError::MissingFinalNewline)?;
        // The text's lines, then the blank line.
        let first_line = text.matches('\n').count() + 2;
        let mut signatures = Vec::new();
        for (i, raw) in block.split('\n').enumerate() {
            if signatures.len() == MAX_NOTE_SIGNATURES {
                return Err(NoteError::TooManySignatures {
                    max: MAX_NOTE_SIGNATURES,
                });
            }
            signatures.push(parse_signature_line(raw, first_line + i)?);
        }
        Ok(SignedNote {
            text: text.to_owned(),
            signatures,
        })
    }

    /// A note of `text` signed with Ed25519 by `key` under `name`.
    pub fn sign(text: &str, name: &KeyName, key: &SigningKeyPair) -> Result<SignedNote, NoteError> {
        check_text(text)?;
        Ok(SignedNote {
            text: text.to_owned(),
            signatures: vec![sign_ed25519(text, name, key)],
        })
    }

    /// The note text, final newline included.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Every signature line, in order, verified or not.
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// Adds a signature line, replacing one by the same name and key ID.
    pub fn add_signature(&mut self, signature: NoteSignature) -> Result<(), NoteError> {
        self.signatures
            .retain(|s| (&s.name, s.key_id) != (&signature.name, signature.key_id));
        if self.signatures.len() == MAX_NOTE_SIGNATURES {
            return Err(NoteError::TooManySignatures {
                max: MAX_NOTE_SIGNATURES,
            });
        }
        self.signatures.push(signature);
        Ok(())
    }

    /// The encoded note: the text, a blank line, the signature lines.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }
}

impl fmt::Display for SignedNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)?;
        f.write_str("\n")?;
        self.signatures
            .iter()
            .try_for_each(|s| f.write_str(&s.line()))
    }
}

/// An Ed25519 signature line over `text` by `key` under `name`.
pub fn sign_ed25519(text: &str, name: &KeyName, key: &SigningKeyPair) -> NoteSignature {
    NoteSignature {
        name: name.clone(),
        key_id: NoteKeyId::derive(name, SIGNATURE_TYPE_ED25519, key.public().as_bytes()),
        signature: key.sign(text.as_bytes()).to_vec(),
    }
}

/// A text that can be signed: ends in a newline, no control characters
/// but newline, and room left for signatures.
pub(crate) fn check_text(text: &str) -> Result<(), NoteError> {
    if !text.ends_with('\n') {
        return Err(NoteError::TextWithoutNewline);
    }
    if text.len() >= MAX_NOTE_BYTES {
        return Err(NoteError::TooLarge {
            bytes: text.len(),
            max: MAX_NOTE_BYTES,
        });
    }
    check_controls(text, 1)
}

fn check_controls(text: &str, first_line: usize) -> Result<(), NoteError> {
    match text.find(|c: char| c < ' ' && c != '\n') {
        Some(at) => Err(NoteError::ControlCharacter {
            line: first_line + text[..at].matches('\n').count(),
        }),
        None => Ok(()),
    }
}

fn parse_signature_line(raw: &str, line: usize) -> Result<NoteSignature, NoteError> {
    let rest = raw
        .strip_prefix(SIGNATURE_LINE_PREFIX)
        .ok_or(NoteError::NotSignatureLine { line })?;
    let (name, b64) = rest.split_once(' ').ok_or(NoteError::BadBase64 { line })?;
    let name = KeyName::new(name).map_err(|source| NoteError::BadKeyName { line, source })?;
    let raw = BASE64
        .decode(b64)
        .map_err(|_| NoteError::BadBase64 { line })?;
    if raw.len() < 5 {
        return Err(NoteError::SignatureTooShort { line });
    }
    let (id, signature) = raw.split_at(4);
    Ok(NoteSignature {
        name,
        key_id: NoteKeyId([id[0], id[1], id[2], id[3]]),
        signature: signature.to_vec(),
    })
}

#[cfg(test)]
pub(crate) mod tests;
