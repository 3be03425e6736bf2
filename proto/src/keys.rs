//! Ed25519 keys: the public key and its text form, key ids, and the signing
//! key pair with its key file.
//!
//! A [`PublicKey`] is never weak: parsing refuses small-order points, and
//! every signature check is `verify_strict`. A key's [`KeyId`] is the first
//! 16 bytes of SHA-256 of the raw 32-byte public key, as 32 lowercase hex
//! characters. The key file format is documented in `proto/README.md`.

use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{SigningKey, VerifyingKey};
use sha2::{Digest as _, Sha256};

/// Prefix of a public key's text form.
pub const PUBLIC_KEY_PREFIX: &str = "ed25519:";
/// First non-comment line of a key file.
pub const KEY_FILE_FORMAT: &str = "kaohe-ed25519-secret-v1";
/// Key files larger than this are refused unread.
const MAX_KEY_FILE_BYTES: u64 = 4096;

/// What went wrong with a key, its text form or its file.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The text does not start with `ed25519:`.
    #[error(
        "公钥须写作 `ed25519:<base64>`（public key must be written `ed25519:<base64>`）: {0:?}"
    )]
    NotEd25519Text(String),
    /// The base64 part does not decode.
    #[error("公钥的 base64 无法解码（public key base64 does not decode）: {0}")]
    Base64(#[from] base64::DecodeError),
    /// The key is not 32 bytes.
    #[error("公钥应为 32 字节，实为 {0} 字节（public key must be 32 bytes, got {0}）")]
    Length(usize),
    /// The bytes are not a point on the curve.
    #[error("公钥不是有效的 Ed25519 点（public key is not a valid Ed25519 point）")]
    InvalidPoint,
    /// A small-order point: signatures by it prove nothing.
    #[error("公钥为弱密钥（小阶点），拒绝使用（public key is weak (small order) and refused）")]
    WeakKey,
    /// A key id that is not 32 lowercase hex characters.
    #[error(
        "密钥编号须为 32 个小写十六进制字符（key id must be 32 lowercase hex characters）: {0:?}"
    )]
    KeyIdFormat(String),
    /// Reading or writing the key file failed.
    #[error("密钥文件 {path} 读写失败（key file {path} could not be read or written）: {source}")]
    Io {
        /// The key file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The key file already exists; keys are never overwritten.
    #[error("密钥文件 {0} 已存在，不会覆盖（key file {0} already exists and is not overwritten）")]
    AlreadyExists(PathBuf),
    /// Group or others may read the key file.
    #[error(
        "密钥文件 {path} 权限为 {mode:o}，组或其他用户可读；请执行 chmod 600（key file {path} has mode {mode:o}, readable by group or others; run chmod 600）"
    )]
    PermissionsTooOpen {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The key file does not follow the format.
    #[error(
        "密钥文件 {path} 第 {line} 行格式错误（key file {path} line {line} is malformed）: {reason}"
    )]
    FileFormat {
        /// The key file.
        path: PathBuf,
        /// 1-based line, 0 for the file as a whole.
        line: usize,
        /// What is wrong, in English.
        reason: String,
    },
    /// The public key or key id in the file does not belong to its secret.
    #[error(
        "密钥文件 {0} 中的公钥或密钥编号与私钥不符（key file {0}: public key or key id does not match the secret）"
    )]
    Mismatch(PathBuf),
}

/// An Ed25519 public key that is valid and not weak.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Parses the text form `ed25519:<base64 of 32 bytes>`.
    pub fn parse(text: &str) -> Result<PublicKey, KeyError> {
        let b64 = text
            .strip_prefix(PUBLIC_KEY_PREFIX)
            .ok_or_else(|| KeyError::NotEd25519Text(text.chars().take(40).collect()))?;
        let raw = BASE64.decode(b64)?;
        let bytes =
            <[u8; 32]>::try_from(raw.as_slice()).map_err(|_| KeyError::Length(raw.len()))?;
        PublicKey::from_bytes(&bytes)
    }

    /// The key from its raw 32 bytes; refuses invalid and weak points.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<PublicKey, KeyError> {
        let key = VerifyingKey::from_bytes(bytes).map_err(|_| KeyError::InvalidPoint)?;
        if key.is_weak() {
            return Err(KeyError::WeakKey);
        }
        Ok(PublicKey(key))
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    /// The key's id.
    pub fn key_id(&self) -> KeyId {
        KeyId::of(self.as_bytes())
    }

    /// Strict Ed25519 verification (no weak keys, no malleable signatures).
    pub fn verify_strict(&self, message: &[u8], sig: &[u8; 64]) -> bool {
        let sig = ed25519_dalek::Signature::from_bytes(sig);
        self.0.verify_strict(message, &sig).is_ok()
    }

    /// Wraps a key without the weak-key check, so tests can show that
    /// `verify_strict` still refuses what a weak key "signs".
    #[cfg(test)]
    pub(crate) fn unchecked(bytes: &[u8; 32]) -> PublicKey {
        PublicKey(VerifyingKey::from_bytes(bytes).expect("test key decompresses"))
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PUBLIC_KEY_PREFIX}{}", BASE64.encode(self.as_bytes()))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

impl FromStr for PublicKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PublicKey::parse(s)
    }
}

impl serde::Serialize for PublicKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for PublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        PublicKey::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A key id: the first 16 bytes of SHA-256 of the raw public key, as 32
/// lowercase hex characters.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeyId(String);

impl KeyId {
    /// The id of a raw 32-byte public key.
    pub fn of(public_key: &[u8; 32]) -> KeyId {
        let hash = Sha256::digest(public_key);
        KeyId(hex::encode(&hash[..16]))
    }

    /// The 32 hex characters.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.0)
    }
}

impl FromStr for KeyId {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if ok {
            Ok(KeyId(s.to_owned()))
        } else {
            Err(KeyError::KeyIdFormat(s.chars().take(40).collect()))
        }
    }
}

impl TryFrom<String> for KeyId {
    type Error = KeyError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<KeyId> for String {
    fn from(id: KeyId) -> String {
        id.0
    }
}

/// An Ed25519 signing key with its public half.
#[derive(Clone)]
pub struct SigningKeyPair {
    signing: SigningKey,
    public: PublicKey,
}

impl SigningKeyPair {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> SigningKeyPair {
        SigningKeyPair::from_signing_key(SigningKey::generate(&mut rand::rng()))
    }

    /// The key pair of a 32-byte secret seed (RFC 8032 private key).
    pub fn from_seed(seed: &[u8; 32]) -> SigningKeyPair {
        SigningKeyPair::from_signing_key(SigningKey::from_bytes(seed))
    }

    fn from_signing_key(signing: SigningKey) -> SigningKeyPair {
        // A key derived from a clamped secret scalar is a multiple of the
        // base point, so never of small order.
        let public = PublicKey(signing.verifying_key());
        SigningKeyPair { signing, public }
    }

    /// The public key.
    pub fn public(&self) -> PublicKey {
        self.public
    }

    /// The public key's id.
    pub fn key_id(&self) -> KeyId {
        self.public.key_id()
    }

    /// An Ed25519 signature over `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        use ed25519_dalek::Signer as _;
        self.signing.sign(message).to_bytes()
    }

    /// Writes the key file: created new with mode 0600 (never chmod-ed
    /// afterwards), refused if the file exists, synced before returning.
    pub fn save(&self, path: &Path) -> Result<(), KeyError> {
        let io = |source| KeyError::Io {
            path: path.to_owned(),
            source,
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                KeyError::AlreadyExists(path.to_owned())
            } else {
                io(e)
            }
        })?;
        let text = format!(
            "# kaohe 签名私钥，请勿外传 (kaohe signing key: keep it secret)\n\
             {KEY_FILE_FORMAT}\n\
             key-id: {}\n\
             public: {}\n\
             secret: {}\n",
            self.key_id(),
            self.public,
            BASE64.encode(self.signing.as_bytes()),
        );
        file.write_all(text.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)
    }

    /// Reads a key file written by [`SigningKeyPair::save`]. On unix, refuses
    /// a file that group or others may read or write.
    pub fn load(path: &Path) -> Result<SigningKeyPair, KeyError> {
        let io = |source| KeyError::Io {
            path: path.to_owned(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(KeyError::PermissionsTooOpen {
                    path: path.to_owned(),
                    mode,
                });
            }
        }
        let format_error = |line, reason: &str| KeyError::FileFormat {
            path: path.to_owned(),
            line,
            reason: reason.to_owned(),
        };
        if meta.len() > MAX_KEY_FILE_BYTES {
            return Err(format_error(0, "file is larger than 4096 bytes"));
        }
        let mut text = String::new();
        file.take(MAX_KEY_FILE_BYTES)
            .read_to_string(&mut text)
            .map_err(io)?;
        parse_key_file(&text)
            .map_err(|(line, reason)| format_error(line, reason))?
            .check(path)
    }
}

/// The fields of a key file, before they are checked against each other.
struct KeyFile {
    key_id: KeyId,
    public: PublicKey,
    secret: [u8; 32],
}

impl KeyFile {
    fn check(self, path: &Path) -> Result<SigningKeyPair, KeyError> {
        let pair = SigningKeyPair::from_seed(&self.secret);
        if pair.public != self.public || pair.key_id() != self.key_id {
            return Err(KeyError::Mismatch(path.to_owned()));
        }
        Ok(pair)
    }
}

fn parse_key_file(text: &str) -> Result<KeyFile, (usize, &'static str)> {
    let mut format_seen = false;
    let (mut key_id, mut public, mut secret) = (None, None, None);
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if !format_seen {
            if line != KEY_FILE_FORMAT {
                return Err((line_no, "first line must be `kaohe-ed25519-secret-v1`"));
            }
            format_seen = true;
            continue;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or((line_no, "expected `name: value`"))?;
        let value = value.trim();
        let slot_was_empty = match name.trim() {
            "key-id" => key_id
                .replace(KeyId::from_str(value).map_err(|_| (line_no, "bad key-id"))?)
                .is_none(),
            "public" => public
                .replace(PublicKey::parse(value).map_err(|_| (line_no, "bad public key"))?)
                .is_none(),
            "secret" => {
                let raw = BASE64
                    .decode(value)
                    .map_err(|_| (line_no, "secret is not base64"))?;
                let seed = <[u8; 32]>::try_from(raw.as_slice())
                    .map_err(|_| (line_no, "secret must be 32 bytes"))?;
                secret.replace(seed).is_none()
            }
            _ => return Err((line_no, "unknown name; expected key-id, public or secret")),
        };
        if !slot_was_empty {
            return Err((line_no, "name given twice"));
        }
    }
    if !format_seen {
        return Err((0, "empty file"));
    }
    match (key_id, public, secret) {
        (Some(key_id), Some(public), Some(secret)) => Ok(KeyFile {
            key_id,
            public,
            secret,
        }),
        _ => Err((0, "key-id, public and secret are all required")),
    }
}

impl fmt::Debug for SigningKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret.
        write!(f, "SigningKeyPair({})", self.key_id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_key_text_round_trip() {
        let pair = SigningKeyPair::from_seed(&[7; 32]);
        let text = pair.public().to_string();
        assert!(text.starts_with("ed25519:"));
        assert_eq!(text.len(), "ed25519:".len() + 44);
        let parsed = PublicKey::parse(&text).unwrap();
        assert_eq!(parsed, pair.public());
        assert_eq!(parsed.key_id(), pair.key_id());
        let json = serde_json::to_string(&parsed).unwrap();
        assert_eq!(serde_json::from_str::<PublicKey>(&json).unwrap(), parsed);
    }

    #[test]
    fn rfc8032_test_1_known_answer() {
        let mut seed = [0u8; 32];
        hex::decode_to_slice(
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            &mut seed,
        )
        .unwrap();
        let pair = SigningKeyPair::from_seed(&seed);
        assert_eq!(
            pair.public().to_string(),
            "ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
        );
        assert_eq!(
            hex::encode(pair.sign(b"")),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555f\
             b8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
    }

    #[test]
    fn key_id_is_sha256_prefix_of_raw_key() {
        let pair = SigningKeyPair::from_seed(&[1; 32]);
        let expect = hex::encode(&Sha256::digest(pair.public().as_bytes())[..16]);
        assert_eq!(pair.key_id().as_str(), expect);
        assert_eq!(KeyId::from_str(&expect).unwrap(), pair.key_id());
        let json = serde_json::to_string(&pair.key_id()).unwrap();
        assert_eq!(json, format!("\"{expect}\""));
        assert!(serde_json::from_str::<KeyId>("\"ABCDEF\"").is_err());
        assert!(KeyId::from_str(&expect.to_uppercase()).is_err());
        assert!(KeyId::from_str(&expect[..31]).is_err());
    }

    #[test]
    fn parse_refuses_bad_text() {
        assert!(matches!(
            PublicKey::parse("rsa:AAAA"),
            Err(KeyError::NotEd25519Text(_))
        ));
        assert!(matches!(
            PublicKey::parse("ed25519:!!!"),
            Err(KeyError::Base64(_))
        ));
        assert!(matches!(
            PublicKey::parse(&format!("ed25519:{}", BASE64.encode([9u8; 31]))),
            Err(KeyError::Length(31))
        ));
    }

    #[test]
    fn weak_keys_are_refused() {
        // The identity point (y = 1) and the order-2 point (y = -1) have small order.
        let identity = {
            let mut b = [0u8; 32];
            b[0] = 1;
            b
        };
        let order_two = {
            let mut b = [0xffu8; 32];
            b[0] = 0xec;
            b[31] = 0x7f;
            b
        };
        for bytes in [identity, order_two] {
            assert!(matches!(
                PublicKey::from_bytes(&bytes),
                Err(KeyError::WeakKey)
            ));
            let text = format!("ed25519:{}", BASE64.encode(bytes));
            assert!(matches!(PublicKey::parse(&text), Err(KeyError::WeakKey)));
        }
    }

    #[test]
    fn sign_and_verify() {
        let pair = SigningKeyPair::generate();
        let sig = pair.sign(b"kaohe");
        assert!(pair.public().verify_strict(b"kaohe", &sig));
        assert!(!pair.public().verify_strict(b"kaohf", &sig));
        assert_ne!(SigningKeyPair::generate().key_id(), pair.key_id());
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let pair = SigningKeyPair::from_seed(&[3; 32]);
        let debug = format!("{pair:?}");
        assert!(!debug.contains(&BASE64.encode([3u8; 32])));
        assert!(debug.contains(pair.key_id().as_str()));
    }

    #[cfg(unix)]
    fn mode_of(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn save_creates_mode_0600_and_load_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.key");
        let pair = SigningKeyPair::generate();
        pair.save(&path).unwrap();
        #[cfg(unix)]
        assert_eq!(mode_of(&path), 0o600);
        let loaded = SigningKeyPair::load(&path).unwrap();
        assert_eq!(loaded.public(), pair.public());
        assert_eq!(loaded.sign(b"x"), pair.sign(b"x"));
        assert!(matches!(pair.save(&path), Err(KeyError::AlreadyExists(_))));
    }

    #[cfg(unix)]
    #[test]
    fn load_refuses_group_or_other_readable_file() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.key");
        SigningKeyPair::generate().save(&path).unwrap();
        for mode in [0o640, 0o604, 0o660] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let err = SigningKeyPair::load(&path).unwrap_err();
            assert!(
                matches!(err, KeyError::PermissionsTooOpen { mode: m, .. } if m == mode),
                "{err}"
            );
            assert!(err.to_string().contains("chmod 600"));
        }
    }

    #[test]
    fn load_refuses_malformed_or_mismatched_files() {
        let dir = tempfile::tempdir().unwrap();
        let pair = SigningKeyPair::from_seed(&[5; 32]);
        let other = SigningKeyPair::from_seed(&[6; 32]);
        let secret = BASE64.encode([5u8; 32]);
        let cases = [
            ("empty", String::new()),
            ("wrong-format", "kaohe-rsa\n".to_owned()),
            (
                "missing-secret",
                format!(
                    "{KEY_FILE_FORMAT}\nkey-id: {}\npublic: {}\n",
                    pair.key_id(),
                    pair.public()
                ),
            ),
            (
                "twice",
                format!(
                    "{KEY_FILE_FORMAT}\nkey-id: {0}\nkey-id: {0}\npublic: {1}\nsecret: {secret}\n",
                    pair.key_id(),
                    pair.public()
                ),
            ),
            (
                "other-public",
                format!(
                    "{KEY_FILE_FORMAT}\nkey-id: {}\npublic: {}\nsecret: {secret}\n",
                    pair.key_id(),
                    other.public()
                ),
            ),
            (
                "other-key-id",
                format!(
                    "{KEY_FILE_FORMAT}\nkey-id: {}\npublic: {}\nsecret: {secret}\n",
                    other.key_id(),
                    pair.public()
                ),
            ),
        ];
        for (name, text) in cases {
            let path = dir.path().join(name);
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            options
                .open(&path)
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
            let err = SigningKeyPair::load(&path).unwrap_err();
            let expected_kind = name.starts_with("other");
            assert_eq!(
                matches!(err, KeyError::Mismatch(_)),
                expected_kind,
                "{name}: {err}"
            );
            assert_eq!(
                matches!(err, KeyError::FileFormat { .. }),
                !expected_kind,
                "{name}: {err}"
            );
        }
    }
}
