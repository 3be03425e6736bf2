//! C2SP checkpoints (<https://c2sp.org/tlog-checkpoint>): the signed head
//! of a log, as a signed note whose text is the origin line, the tree size
//! in decimal, the base64 root hash, and optional extension lines.
//!
//! The log (the hub) signs with Ed25519 under a key name equal to the
//! origin; witnesses (nodes) add cosignatures ([`super::cosignature`]).
//! [`open`] checks both and returns a [`VerifiedCheckpoint`].

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::keys::SigningKeyPair;
use crate::merkle::Hash;

use super::note::{KeyName, KeyNameError, NoteError, NoteKeyId, SignedNote};
use super::verifier::{NoteVerifier, OpenError, VerifierKind};

/// A log's tree head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Names the log; unique among logs.
    pub origin: String,
    /// Number of leaves.
    pub size: u64,
    /// RFC 9162 root hash of the `size` leaves.
    pub root: Hash,
    /// Opaque extension lines, each non-empty (the spec discourages them:
    /// monitors cannot audit them).
    pub extensions: Vec<String>,
}

/// Why a note text is not a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// Fewer than three lines, or no final newline.
    #[error(
        "检查点须至少三行且以换行结尾（checkpoint must have at least three lines and end with a newline）"
    )]
    TooFewLines,
    /// A line is empty.
    #[error("检查点第 {line} 行为空（checkpoint line {line} is empty）")]
    EmptyLine {
        /// 1-based line.
        line: usize,
    },
    /// A line holds a control character.
    #[error("检查点第 {line} 行含控制字符（checkpoint line {line} holds a control character）")]
    ControlCharacter {
        /// 1-based line.
        line: usize,
    },
    /// The size is not decimal digits without leading zeros, or exceeds u64.
    #[error(
        "检查点的树大小须为无前导零的十进制数（checkpoint tree size must be decimal without leading zeros）: {0:?}"
    )]
    BadSize(String),
    /// The root is not standard base64 of 32 bytes.
    #[error(
        "检查点的根哈希须为 32 字节的标准 base64（checkpoint root hash must be standard base64 of 32 bytes）"
    )]
    BadRoot,
}

/// Why a checkpoint could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignCheckpointError {
    /// The origin cannot be the log's key name.
    #[error("检查点来源不能用作日志密钥名（checkpoint origin cannot be the log's key name）: {0}")]
    Origin(#[from] KeyNameError),
    /// The fields do not make a checkpoint that reads back the same.
    #[error("检查点字段无效（checkpoint fields are invalid）: {0}")]
    Fields(#[from] CheckpointError),
    /// The text is not note text.
    #[error(transparent)]
    Note(#[from] NoteError),
}

/// Why a signed checkpoint does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenCheckpointError {
    /// The log's key must be a plain Ed25519 note key.
    #[error("日志密钥须为 Ed25519 注记密钥（the log key must be an Ed25519 note key）")]
    LogKeyKind,
    /// The note is malformed, or a trusted signature fails.
    #[error("检查点签名注记无效（checkpoint note does not verify）: {0}")]
    Note(#[from] OpenError),
    /// The log did not sign (only witnesses did).
    #[error(
        "检查点没有日志 {name}+{key_id} 的签名（checkpoint is not signed by the log {name}+{key_id}）"
    )]
    NotSignedByLog {
        /// The log key's name.
        name: KeyName,
        /// The log key's ID.
        key_id: NoteKeyId,
    },
    /// The text is not a checkpoint.
    #[error("检查点正文无效（checkpoint text is invalid）: {0}")]
    Body(#[from] CheckpointError),
    /// The checkpoint is of another log.
    #[error(
        "检查点来源为 {origin:?}，应为 {expected:?}（checkpoint origin is {origin:?}, expected {expected:?}）"
    )]
    OriginMismatch {
        /// The checkpoint's origin.
        origin: String,
        /// The log key's name.
        expected: String,
    },
}

impl Checkpoint {
    /// Parses a checkpoint note text strictly: at least three non-empty
    /// lines and a final newline; the size decimal without leading zeros;
    /// the root standard base64 of exactly 32 bytes.
    pub fn parse(text: &str) -> Result<Checkpoint, CheckpointError> {
        let body = text
            .strip_suffix('\n')
            .ok_or(CheckpointError::TooFewLines)?;
        let lines: Vec<&str> = body.split('\n').collect();
        let [origin, size, root, extensions @ ..] = lines.as_slice() else {
            return Err(CheckpointError::TooFewLines);
        };
        for (i, line) in lines.iter().enumerate() {
            if line.is_empty() {
                return Err(CheckpointError::EmptyLine { line: i + 1 });
            }
            if line.chars().any(char::is_control) {
                return Err(CheckpointError::ControlCharacter { line: i + 1 });
            }
        }
        let canonical =
            size.bytes().all(|b| b.is_ascii_digit()) && (*size == "0" || !size.starts_with('0'));
        let size_value = size
            .parse::<u64>()
            .ok()
            .filter(|_| canonical)
            .ok_or_else(|| CheckpointError::BadSize(size.chars().take(40).collect()))?;
        let root = BASE64
            .decode(root)
            .ok()
            .and_then(|r| Hash::try_from(r.as_slice()).ok())
            .ok_or(CheckpointError::BadRoot)?;
        Ok(Checkpoint {
            origin: (*origin).to_owned(),
            size: size_value,
            root,
            extensions: extensions.iter().map(|e| (*e).to_owned()).collect(),
        })
    }

    /// The note text: origin, size, root and extension lines, each ending
    /// in a newline.
    pub fn to_text(&self) -> String {
        let mut text = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            BASE64.encode(self.root)
        );
        for e in &self.extensions {
            let _ = writeln!(text, "{e}");
        }
        text
    }

    /// The checkpoint signed by the log's key, under the origin as key name.
    pub fn sign(&self, log_key: &SigningKeyPair) -> Result<SignedNote, SignCheckpointError> {
        // A key name has no white space or control characters, so the
        // origin is one line; extension lines must be lines too, so that
        // what is signed reads back as exactly these fields.
        let name = KeyName::new(self.origin.clone())?;
        for (i, e) in self.extensions.iter().enumerate() {
            let line = 4 + i;
            if e.is_empty() {
                return Err(CheckpointError::EmptyLine { line }.into());
            }
            if e.chars().any(char::is_control) {
                return Err(CheckpointError::ControlCharacter { line }.into());
            }
        }
        Ok(SignedNote::sign(&self.to_text(), &name, log_key)?)
    }
}

/// A checkpoint the log signed, with the cosignatures that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCheckpoint {
    /// The tree head.
    pub checkpoint: Checkpoint,
    /// Each trusted witness whose cosignature verified, once, with the time
    /// it states.
    pub cosignatures: Vec<(NoteVerifier, i64)>,
    /// The note as received (unknown signatures included), to pass on.
    pub note: SignedNote,
}

/// Opens a signed checkpoint: the note must carry a valid signature by
/// `log` (an Ed25519 key whose name is the checkpoint's origin); each
/// signature by a `witnesses` key must verify, and those are returned.
/// Whether enough witnesses cosigned is the caller's policy.
pub fn open(
    bytes: &[u8],
    log: &NoteVerifier,
    witnesses: &[NoteVerifier],
) -> Result<VerifiedCheckpoint, OpenCheckpointError> {
    SignedNote::parse(bytes)
        .map_err(OpenError::from)?
        .verify_checkpoint(log, witnesses)
}

impl SignedNote {
    /// [`open`] for a note already parsed.
    pub fn verify_checkpoint(
        &self,
        log: &NoteVerifier,
        witnesses: &[NoteVerifier],
    ) -> Result<VerifiedCheckpoint, OpenCheckpointError> {
        if log.kind() != VerifierKind::Ed25519 {
            return Err(OpenCheckpointError::LogKeyKind);
        }
        let trusted: Vec<NoteVerifier> = std::iter::once(log).chain(witnesses).cloned().collect();
        let verified = self.verify(&trusted)?;
        if !verified.signed_by(log) {
            return Err(OpenCheckpointError::NotSignedByLog {
                name: log.name().clone(),
                key_id: log.key_id(),
            });
        }
        // Only now, with the log's signature checked, is the text read.
        let checkpoint = Checkpoint::parse(verified.text())?;
        if checkpoint.origin != log.name().as_str() {
            return Err(OpenCheckpointError::OriginMismatch {
                origin: checkpoint.origin,
                expected: log.name().to_string(),
            });
        }
        let cosignatures = verified
            .signatures()
            .iter()
            .filter(|s| s.verifier != *log)
            .filter_map(|s| Some((s.verifier.clone(), s.timestamp?)))
            .collect();
        Ok(VerifiedCheckpoint {
            checkpoint,
            cosignatures,
            note: self.clone(),
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::cosignature::cosign;
    use super::*;
    use crate::merkle::vectors::h;

    /// A real checkpoint of a real log, with real witness cosignatures:
    /// the example in sigsum-rs 0.3.0 `src/lib.rs` (made by `sigsum-submit`
    /// v0.14 against the sigsum-test-2025-3 policy), rewritten from
    /// sigsum's ASCII proof format into C2SP notes. Log
    /// `sigsum.org/v1/tree/<hex SHA-256 of the log key>` (serviceberry,
    /// key 47e48160…ce39); its tree head signature is an Ed25519 note
    /// signature over the checkpoint text, and each witness's is a
    /// cosignature/v1 at time 1770193051.
    pub(crate) mod sigsum {
        use super::*;

        pub const ORIGIN: &str =
            "sigsum.org/v1/tree/1643169b32bef33a3f54f8a353b87c475d19b6223cbb106390d10a29978e1cba";
        pub const LOG_KEY: &str =
            "47e481606d8acba747a6b053d6c2d191605fb122175d410a1202a91430abce39";
        pub const SIZE: u64 = 381382;
        pub const ROOT: &str = "901fefc6f1d978d2c2bedb82d448755bcdc7e8626e67ac7ee80873771be9b667";
        pub const LOG_SIGNATURE: &str = "8a8bf1fca60d1344fb6e2106e8f8906af833d3d75a21fe8d3af72be459f7a11f2ae6606ec6344a13b851cd454b3d281a2b1ae47732f7a8d6afbcc0134d1a2d00";
        pub const TIME: u64 = 1770193051;
        /// (witness name from the policy, public key, signature).
        pub const COSIGNATURES: [(&str, &str, &str); 3] = [
            (
                "remora.n621.de",
                "ebcdeb78e7fdb2ef9227b2c1ef11e94600b55b4d6d9a57877e31ee89e59adc36",
                "3434b4646904714f4983c8e7e976a45332711f10012b19fbeb5549b6c0c04fb4ed52feed2da829354623c52b22b90093776034a8d57d660f9ff27a118f5bf801",
            ),
            (
                "witness.stagemole.eu",
                "4a921b7caef58ae670cdc11ef4184f1c058f7b9259a9107a969f69fa54aa496f",
                "aaf642e81a54399777180f238573d74878b68c7b645d8011583621405bb450b4e7887fc76502a8142c493d64e3ed3e556d82dad1706411082e58805f64fa9d02",
            ),
            (
                "transparency.dev/DEV:witness-little-garden",
                "2b6eb0ec483503544cde4e8fc1ce6d1921db21dffccc186865f808f7625443cc",
                "b44c41f75566850003f7f655a6dc7bb38bb980e8e2c383871e29883805d3adec7782a08388b9386d9718380a4bb6900043e2b46080cff0fa75a500c36ef9df0a",
            ),
        ];

        fn key(hex_text: &str) -> crate::keys::PublicKey {
            crate::keys::PublicKey::from_bytes(&h(hex_text)).unwrap()
        }

        pub fn log() -> NoteVerifier {
            NoteVerifier::ed25519(KeyName::new(ORIGIN).unwrap(), key(LOG_KEY))
        }

        pub fn witnesses() -> Vec<NoteVerifier> {
            COSIGNATURES
                .iter()
                .map(|(name, k, _)| {
                    NoteVerifier::cosignature_v1(KeyName::new(*name).unwrap(), key(k))
                })
                .collect()
        }

        /// The checkpoint note: text, log signature, three cosignatures.
        pub fn note() -> String {
            let text = Checkpoint {
                origin: ORIGIN.into(),
                size: SIZE,
                root: h(ROOT),
                extensions: Vec::new(),
            }
            .to_text();
            let line = |v: &NoteVerifier, sig: Vec<u8>| {
                crate::tlog::note::NoteSignature {
                    name: v.name().clone(),
                    key_id: v.key_id(),
                    signature: sig,
                }
                .line()
            };
            let mut out = format!(
                "{text}\n{}",
                line(&log(), hex::decode(LOG_SIGNATURE).unwrap())
            );
            for (v, (_, _, sig)) in witnesses().iter().zip(COSIGNATURES) {
                let blob = [TIME.to_be_bytes().to_vec(), hex::decode(sig).unwrap()].concat();
                out.push_str(&line(v, blob));
            }
            out
        }
    }

    #[test]
    fn the_spec_example_parses_and_reads_back() {
        // c2sp.org/tlog-checkpoint, the example (the signer's key is not published).
        let note = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";
        let parsed = SignedNote::parse(note.as_bytes()).unwrap();
        let c = Checkpoint::parse(parsed.text()).unwrap();
        assert_eq!(c.origin, "example.com/behind-the-sofa");
        assert_eq!(c.size, 20852163);
        assert_eq!(
            BASE64.encode(c.root),
            "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="
        );
        assert!(c.extensions.is_empty());
        assert_eq!(c.to_text(), parsed.text());
        let sig = &parsed.signatures()[0];
        assert_eq!(sig.name.as_str(), "example.com/behind-the-sofa");
        assert_eq!(sig.signature.len(), 64);
        assert_eq!(parsed.to_bytes(), note.as_bytes());
    }

    #[test]
    fn a_real_cosigned_checkpoint_verifies() {
        let note = sigsum::note();
        let v = open(note.as_bytes(), &sigsum::log(), &sigsum::witnesses()).unwrap();
        assert_eq!(v.checkpoint.origin, sigsum::ORIGIN);
        assert_eq!(v.checkpoint.size, sigsum::SIZE);
        assert_eq!(v.checkpoint.root, h(sigsum::ROOT));
        assert_eq!(v.cosignatures.len(), 3);
        assert!(
            v.cosignatures
                .iter()
                .all(|(_, t)| *t == sigsum::TIME as i64)
        );
        // The remora witness's key ID is its published one.
        assert_eq!(v.cosignatures[0].0.key_id().to_string(), "da77ade7");
        // Without trusted witnesses the log's signature still opens it; the
        // cosignatures are kept in the note, unverified.
        let alone = open(note.as_bytes(), &sigsum::log(), &[]).unwrap();
        assert!(alone.cosignatures.is_empty());
        assert_eq!(alone.note.signatures().len(), 4);
        // Any byte changed in the text breaks the log's signature.
        let tampered = note.replacen("381382", "381383", 1);
        assert!(matches!(
            open(tampered.as_bytes(), &sigsum::log(), &[]),
            Err(OpenCheckpointError::Note(
                OpenError::InvalidSignature { .. }
            ))
        ));
    }

    #[test]
    fn the_log_must_have_signed_and_named_itself() {
        let log_key = SigningKeyPair::from_seed(&[7; 32]);
        let witness_key = SigningKeyPair::from_seed(&[8; 32]);
        let c = Checkpoint {
            origin: "kaohe.example/log/2023".into(),
            size: 3,
            root: [9; 32],
            extensions: Vec::new(),
        };
        let log = NoteVerifier::ed25519(KeyName::new(c.origin.clone()).unwrap(), log_key.public());
        let w_name = KeyName::new("node-1.example").unwrap();
        let witness = NoteVerifier::cosignature_v1(w_name.clone(), witness_key.public());
        let mut note = c.sign(&log_key).unwrap();
        note.add_signature(cosign(note.text(), &w_name, &witness_key, 100).unwrap())
            .unwrap();
        let v = open(&note.to_bytes(), &log, std::slice::from_ref(&witness)).unwrap();
        assert_eq!(v.checkpoint, c);
        assert_eq!(v.cosignatures, [(witness.clone(), 100)]);

        // Cosigned only: the log's signature is missing.
        let mut cosigned_only = SignedNote::parse(&note.to_bytes()).unwrap();
        let other_log = SigningKeyPair::from_seed(&[10; 32]);
        let other_name = KeyName::new("elsewhere").unwrap();
        cosigned_only = {
            let mut n = SignedNote::sign(cosigned_only.text(), &other_name, &other_log).unwrap();
            n.add_signature(cosigned_only.signatures()[1].clone())
                .unwrap();
            n
        };
        assert_eq!(
            open(
                &cosigned_only.to_bytes(),
                &log,
                std::slice::from_ref(&witness)
            ),
            Err(OpenCheckpointError::NotSignedByLog {
                name: log.name().clone(),
                key_id: log.key_id()
            })
        );
        // A log key whose name is not the origin.
        let renamed = SignedNote::sign(
            &c.to_text(),
            &KeyName::new("kaohe.example/log/2024").unwrap(),
            &log_key,
        )
        .unwrap();
        let renamed_log = NoteVerifier::ed25519(
            KeyName::new("kaohe.example/log/2024").unwrap(),
            log_key.public(),
        );
        assert!(matches!(
            open(&renamed.to_bytes(), &renamed_log, &[]),
            Err(OpenCheckpointError::OriginMismatch { .. })
        ));
        // A cosigner key given as the log key.
        assert_eq!(
            open(&note.to_bytes(), &witness, &[]),
            Err(OpenCheckpointError::LogKeyKind)
        );
        // A signed text that is not a checkpoint.
        let not_checkpoint =
            SignedNote::sign("kaohe.example/log/2023\n3\n", log.name(), &log_key).unwrap();
        assert_eq!(
            open(&not_checkpoint.to_bytes(), &log, &[]),
            Err(OpenCheckpointError::Body(CheckpointError::TooFewLines))
        );
    }

    #[test]
    fn checkpoint_text_is_parsed_strictly() {
        // From transparency-dev/formats `log/checkpoint_test.go`, adapted:
        // a kaohe root hash is SHA-256, so "bananas" is no root.
        let root = BASE64.encode([7u8; 32]);
        let ok = Checkpoint::parse(&format!("Log\n123\n{root}\n")).unwrap();
        assert_eq!((ok.origin.as_str(), ok.size), ("Log", 123));
        let ext = Checkpoint::parse(&format!("Log\n9944\n{root}\nlots\nof\nlines\n")).unwrap();
        assert_eq!(ext.extensions, ["lots", "of", "lines"]);
        assert_eq!(
            ext.to_text(),
            format!("Log\n9944\n{root}\nlots\nof\nlines\n")
        );
        assert_eq!(
            Checkpoint::parse(&format!("Log\n0\n{root}\n"))
                .unwrap()
                .size,
            0
        );
        let cases = [
            ("Head\n9944\n".to_owned(), CheckpointError::TooFewLines),
            (
                format!("\n9944\n{root}\n"),
                CheckpointError::EmptyLine { line: 1 },
            ),
            (format!("Log\n123\n{root}"), CheckpointError::TooFewLines),
            (
                format!("Log\nbananas\n{root}\n"),
                CheckpointError::BadSize("bananas".into()),
            ),
            (
                format!("Log\n-34\n{root}\n"),
                CheckpointError::BadSize("-34".into()),
            ),
            (
                format!("Log\n+34\n{root}\n"),
                CheckpointError::BadSize("+34".into()),
            ),
            (
                format!("Log\n034\n{root}\n"),
                CheckpointError::BadSize("034".into()),
            ),
            (
                format!("Log\n3438945738945739845734895735\n{root}\n"),
                CheckpointError::BadSize("3438945738945739845734895735".into()),
            ),
            (
                "Log\n123\nThisIsn'tBase64\n".to_owned(),
                CheckpointError::BadRoot,
            ),
            (
                "Log\n123\nYmFuYW5hcw==\n".to_owned(),
                CheckpointError::BadRoot,
            ),
            // Trailing newlines would be empty extension lines.
            (
                format!("Log\n9944\n{root}\n\n\n\n"),
                CheckpointError::EmptyLine { line: 4 },
            ),
            (
                format!("Log\t1\n1\n{root}\n"),
                CheckpointError::ControlCharacter { line: 1 },
            ),
        ];
        for (text, want) in cases {
            assert_eq!(Checkpoint::parse(&text), Err(want), "{text:?}");
        }
    }

    #[test]
    fn only_checkpoints_that_read_back_the_same_are_signed() {
        let key = SigningKeyPair::from_seed(&[7; 32]);
        let good = Checkpoint {
            origin: "log".into(),
            size: 1,
            root: [1; 32],
            extensions: vec!["ext".into()],
        };
        let note = good.sign(&key).unwrap();
        assert_eq!(Checkpoint::parse(note.text()).unwrap(), good);
        let bad_origin = Checkpoint {
            origin: "a log".into(),
            ..good.clone()
        };
        assert!(matches!(
            bad_origin.sign(&key),
            Err(SignCheckpointError::Origin(_))
        ));
        let with = |e: &str| Checkpoint {
            extensions: vec!["ext".into(), e.into()],
            ..good.clone()
        };
        assert_eq!(
            with("").sign(&key),
            Err(SignCheckpointError::Fields(CheckpointError::EmptyLine {
                line: 5
            }))
        );
        assert_eq!(
            with("a\nb").sign(&key),
            Err(SignCheckpointError::Fields(
                CheckpointError::ControlCharacter { line: 5 }
            ))
        );
    }
}
