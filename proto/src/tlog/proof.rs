//! C2SP proof bundles (<https://c2sp.org/tlog-proof>): everything needed to
//! check offline that an entry is in a log whose witnesses cosigned it.
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! extra <base64>          (optional, unauthenticated)
//! index <leaf index>
//! <base64 inclusion proof hash>   (zero or more, from the leaf's sibling up)
//!
//! <the cosigned checkpoint, verbatim>
//! ```

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::merkle::{self, Hash, InclusionError, MAX_INCLUSION_PATH};

use super::checkpoint::{OpenCheckpointError, VerifiedCheckpoint};
use super::note::{MAX_NOTE_BYTES, NoteError, SignedNote};
use super::verifier::NoteVerifier;

/// The first line of a proof bundle.
pub const TLOG_PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";
/// Largest bundle accepted, bytes: a largest note plus a longest path.
pub const MAX_PROOF_BYTES: usize = MAX_NOTE_BYTES + 8 * 1024;

/// An entry's proof of inclusion under a signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    /// Application data carried along, not authenticated.
    pub extra: Option<Vec<u8>>,
    /// The entry's leaf index.
    pub index: u64,
    /// RFC 9162 inclusion proof of the leaf in the checkpoint's tree.
    pub inclusion: Vec<Hash>,
    /// The checkpoint, as the log and witnesses signed it.
    pub checkpoint: SignedNote,
}

/// Why bytes are not a proof bundle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofFormatError {
    /// Larger than [`MAX_PROOF_BYTES`].
    #[error(
        "证明包有 {bytes} 字节，超过上限 {max}（proof bundle is {bytes} bytes, over the {max} limit）"
    )]
    TooLarge {
        /// Size received.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// Not UTF-8.
    #[error("证明包不是 UTF-8（proof bundle is not UTF-8）")]
    NotUtf8,
    /// The first line is not [`TLOG_PROOF_HEADER`].
    #[error(
        "证明包首行须为 `c2sp.org/tlog-proof@v1`（proof bundle must start with `c2sp.org/tlog-proof@v1`）"
    )]
    Header,
    /// The `extra` line's data is not standard base64.
    #[error(
        "证明包第 2 行的 extra 不是标准 base64（proof bundle line 2: extra is not standard base64）"
    )]
    Extra,
    /// No `index <decimal>` line where it belongs.
    #[error(
        "证明包第 {line} 行须为 `index <无前导零的十进制>`（proof bundle line {line} must be `index <decimal without leading zeros>`）"
    )]
    Index {
        /// 1-based line.
        line: usize,
    },
    /// A proof line is not standard base64 of 32 bytes.
    #[error(
        "证明包第 {line} 行不是 32 字节哈希的标准 base64（proof bundle line {line} is not standard base64 of a 32-byte hash）"
    )]
    Hash {
        /// 1-based line.
        line: usize,
    },
    /// More proof hashes than any tree needs.
    #[error(
        "证明包的包含路径超过 {max} 个哈希（proof bundle's inclusion proof has more than {max} hashes）"
    )]
    PathTooLong {
        /// The limit.
        max: usize,
    },
    /// No blank line before the checkpoint.
    #[error("证明包缺少检查点前的空行（proof bundle has no blank line before the checkpoint）")]
    NoCheckpoint,
    /// The checkpoint is not a signed note.
    #[error("证明包中的检查点无效（proof bundle's checkpoint is malformed）: {0}")]
    Checkpoint(#[from] NoteError),
}

/// Why a proof bundle does not prove its entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofVerifyError {
    /// The checkpoint does not verify.
    #[error(transparent)]
    Checkpoint(#[from] OpenCheckpointError),
    /// The entry is not at the index of the checkpoint's tree.
    #[error("条目不在检查点的树中（entry is not in the checkpoint's tree）: {0}")]
    Inclusion(#[from] InclusionError),
}

impl TlogProof {
    /// Parses a bundle strictly: the header, an optional `extra` line,
    /// `index` without leading zeros, at most [`MAX_INCLUSION_PATH`] hash
    /// lines, a blank line and a well-formed signed note.
    pub fn parse(bytes: &[u8]) -> Result<TlogProof, ProofFormatError> {
        if bytes.len() > MAX_PROOF_BYTES {
            return Err(ProofFormatError::TooLarge {
                bytes: bytes.len(),
                max: MAX_PROOF_BYTES,
            });
        }
        let all = std::str::from_utf8(bytes).map_err(|_| ProofFormatError::NotUtf8)?;
        // The proof part has no empty line, so the first blank line ends it.
        let (head, note) = all
            .split_once("\n\n")
            .ok_or(ProofFormatError::NoCheckpoint)?;
        let mut lines = head.split('\n').zip(1..).peekable();
        if lines.next().map(|(l, _)| l) != Some(TLOG_PROOF_HEADER) {
            return Err(ProofFormatError::Header);
        }
        let extra = match lines.next_if(|(l, _)| l.starts_with("extra ")) {
            Some((l, _)) => Some(
                BASE64
                    .decode(&l["extra ".len()..])
                    .map_err(|_| ProofFormatError::Extra)?,
            ),
            None => None,
        };
        let (index_line, line) = lines.next().unwrap_or(("", 2));
        let index = index_line
            .strip_prefix("index ")
            .filter(|d| d.bytes().all(|b| b.is_ascii_digit()) && (*d == "0" || !d.starts_with('0')))
            .and_then(|d| d.parse::<u64>().ok())
            .ok_or(ProofFormatError::Index { line })?;
        let mut inclusion = Vec::new();
        for (l, line) in lines {
            if inclusion.len() == MAX_INCLUSION_PATH {
                return Err(ProofFormatError::PathTooLong {
                    max: MAX_INCLUSION_PATH,
                });
            }
            let hash = BASE64
                .decode(l)
                .ok()
                .and_then(|h| Hash::try_from(h.as_slice()).ok())
                .ok_or(ProofFormatError::Hash { line })?;
            inclusion.push(hash);
        }
        Ok(TlogProof {
            extra,
            index,
            inclusion,
            checkpoint: SignedNote::parse(note.as_bytes())?,
        })
    }

    /// The bundle's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("{TLOG_PROOF_HEADER}\n");
        if let Some(extra) = &self.extra {
            let _ = writeln!(out, "extra {}", BASE64.encode(extra));
        }
        let _ = writeln!(out, "index {}", self.index);
        for h in &self.inclusion {
            let _ = writeln!(out, "{}", BASE64.encode(h));
        }
        out.push('\n');
        out.push_str(&self.checkpoint.to_string());
        out.into_bytes()
    }

    /// Checks offline that the entry whose RFC 9162 leaf hash is
    /// `leaf_hash` is at [`TlogProof::index`] of the tree the checkpoint
    /// commits to, and that the log signed the checkpoint
    /// ([`super::checkpoint::open`]). Returns the checkpoint with the
    /// witnesses' cosignatures that verified; how many are enough is the
    /// caller's policy.
    pub fn verify(
        &self,
        leaf_hash: &Hash,
        log: &NoteVerifier,
        witnesses: &[NoteVerifier],
    ) -> Result<VerifiedCheckpoint, ProofVerifyError> {
        let verified = self.checkpoint.verify_checkpoint(log, witnesses)?;
        merkle::verify_inclusion(
            leaf_hash,
            self.index,
            verified.checkpoint.size,
            &self.inclusion,
            &verified.checkpoint.root,
        )?;
        Ok(verified)
    }
}

#[cfg(test)]
mod tests {
    use super::super::checkpoint::tests::sigsum;
    use super::*;
    use crate::merkle::vectors::h;
    use sha2::{Digest as _, Sha256};

    /// The entry and inclusion proof of the same sigsum-rs example: the
    /// leaf is `SHA-256(SHA-256(message)) || leaf signature || signer key
    /// hash`, with message `Hello, Sigsum!\n`.
    const INDEX: u64 = 381381;
    const NODE_HASHES: [&str; 10] = [
        "d009c5dbeaaa5be1788ea9533f6f398747755a8245012165ac73f753b7917672",
        "fb515551fe18f6e53d7d7f49b80abbb5c702b9662ee74fc7730e4a7685000aa4",
        "e21e73ee8caf0d49cdcd2f334b3f64e85e4a151daf8d09b6034306bb21b88480",
        "f77bc4db00e509149b6e2fc0028d7107dd415929dc9972f32fe758ce39bcc9a0",
        "3acb38f01c633d917b899ed4e522a49a02bf20d358f98ca530e3a3065591e7f2",
        "889de80c543a5ae8e35430988dc120ac7edde74b776f9082f814ea88190a601f",
        "199f812b9f3667dec31f964098e32652477a2f3d458019b6f8f4acc645cf0131",
        "084580f8f6324d4ae42dbcb779502ab9fab77e0c2b92519fe089be72e38d60ed",
        "9ddbece4939d621df53f31e2729d5fa7802fd82f3edfb784483d8b7fa9cf41e2",
        "e1c7a90c09949c263807e5970aef47f9a06164b759995ab814aff94aff9dcd00",
    ];
    const LEAF_SIGNATURE: &str = "38dd0b42cab5166611a4f8346db1c6ffe81ee2345f3ffe36a466eb8fce1d4b2879fbb5f26291d25e610b2dc7f30eaa603efd97739ae585657d0f7181726eec00";
    const SIGNER_KEY_HASH: &str =
        "2c8d843ed6237e9ea033207113329fdd1428c75f8fd3c6782ae46c92c7a00c40";

    fn leaf_hash() -> Hash {
        let checksum = Sha256::digest(Sha256::digest(b"Hello, Sigsum!\n"));
        let leaf = [
            checksum.as_slice(),
            &hex::decode(LEAF_SIGNATURE).unwrap(),
            &h(SIGNER_KEY_HASH),
        ]
        .concat();
        merkle::leaf_hash(&leaf)
    }

    fn bundle() -> String {
        let mut out = format!("{TLOG_PROOF_HEADER}\nindex {INDEX}\n");
        for n in NODE_HASHES {
            out.push_str(&BASE64.encode(h(n)));
            out.push('\n');
        }
        format!("{out}\n{}", sigsum::note())
    }

    #[test]
    fn a_real_proof_bundle_verifies_offline() {
        let bytes = bundle();
        let proof = TlogProof::parse(bytes.as_bytes()).unwrap();
        assert_eq!(proof.index, INDEX);
        assert_eq!(proof.inclusion.len(), 10);
        assert_eq!(proof.extra, None);
        assert_eq!(proof.to_bytes(), bytes.as_bytes());
        let v = proof
            .verify(&leaf_hash(), &sigsum::log(), &sigsum::witnesses())
            .unwrap();
        assert_eq!(v.checkpoint.size, 381382);
        assert_eq!(v.cosignatures.len(), 3);
        // Another entry, or another index, is not proven.
        assert_eq!(
            proof.verify(&[0; 32], &sigsum::log(), &[]),
            Err(ProofVerifyError::Inclusion(InclusionError::RootMismatch))
        );
        let mut moved = proof.clone();
        moved.index -= 1;
        assert!(matches!(
            moved.verify(&leaf_hash(), &sigsum::log(), &[]),
            Err(ProofVerifyError::Inclusion(_))
        ));
    }

    #[test]
    fn any_byte_changed_in_a_bundle_fails() {
        // Every position of the bundle, one bit flipped: it no longer
        // parses, no longer verifies, or (a witness line's name or key ID
        // changed, so the line is no longer that witness's and is ignored)
        // fewer witnesses cosigned: a policy wanting all three refuses it.
        let bytes = bundle().into_bytes();
        let (log, witnesses) = (sigsum::log(), sigsum::witnesses());
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x01;
            let outcome = TlogProof::parse(&bad).map(|p| p.verify(&leaf_hash(), &log, &witnesses));
            assert!(
                !matches!(&outcome, Ok(Ok(v)) if v.cosignatures.len() == 3),
                "byte {i} ({:?}) flipped still verifies",
                bytes[i] as char
            );
        }
    }

    #[test]
    fn extra_data_round_trips_and_is_not_authenticated() {
        let mut proof = TlogProof::parse(bundle().as_bytes()).unwrap();
        proof.extra = Some(b"kaohe receipt 42".to_vec());
        let bytes = proof.to_bytes();
        assert!(
            String::from_utf8_lossy(&bytes).starts_with(
                "c2sp.org/tlog-proof@v1\nextra a2FvaGUgcmVjZWlwdCA0Mg==\nindex 381381\n"
            )
        );
        let back = TlogProof::parse(&bytes).unwrap();
        assert_eq!(back, proof);
        assert!(back.verify(&leaf_hash(), &sigsum::log(), &[]).is_ok());
    }

    #[test]
    fn malformed_bundles_are_refused_saying_where() {
        let note = sigsum::note();
        let hash = BASE64.encode([1u8; 32]);
        let cases = [
            (
                format!("c2sp.org/tlog-proof@v2\nindex 1\n\n{note}"),
                ProofFormatError::Header,
            ),
            (
                format!("{TLOG_PROOF_HEADER}\nextra !!\nindex 1\n\n{note}"),
                ProofFormatError::Extra,
            ),
            (
                format!("{TLOG_PROOF_HEADER}\n\n{note}"),
                ProofFormatError::Index { line: 2 },
            ),
            (
                format!("{TLOG_PROOF_HEADER}\nindex 01\n\n{note}"),
                ProofFormatError::Index { line: 2 },
            ),
            (
                format!("{TLOG_PROOF_HEADER}\nindex -1\n\n{note}"),
                ProofFormatError::Index { line: 2 },
            ),
            (
                format!("{TLOG_PROOF_HEADER}\nextra AA==\nindx 1\n\n{note}"),
                ProofFormatError::Index { line: 3 },
            ),
            (
                format!("{TLOG_PROOF_HEADER}\nindex 1\n{hash}\nAAAA\n\n{note}"),
                ProofFormatError::Hash { line: 4 },
            ),
            (
                format!(
                    "{TLOG_PROOF_HEADER}\nindex 1\n{}\n{note}",
                    format!("{hash}\n").repeat(65)
                ),
                ProofFormatError::PathTooLong { max: 64 },
            ),
            (
                format!("{TLOG_PROOF_HEADER}\nindex 1\n"),
                ProofFormatError::NoCheckpoint,
            ),
            (
                format!("{TLOG_PROOF_HEADER}\nindex 1\n\nnot a note\n"),
                ProofFormatError::Checkpoint(NoteError::NoSignatures),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(TlogProof::parse(text.as_bytes()), Err(want), "{text:?}");
        }
        let huge = vec![b'a'; MAX_PROOF_BYTES + 1];
        assert!(matches!(
            TlogProof::parse(&huge),
            Err(ProofFormatError::TooLarge { .. })
        ));
    }
}
