//! Receipts: the hub's signed proof that it committed a submission.
//!
//! The hub signs once per committed batch. Each receipt leaf (digest, unit,
//! year, round, commit time, late) is hashed into an RFC 9162 Merkle tree
//! ([`crate::merkle`]); the tree's root, size, commit time and the hub's key
//! id form the [`BatchHead`], signed as an [`Envelope`] of type
//! [`BATCH_HEAD_PAYLOAD_TYPE`]. Every [`Receipt`] carries its leaf, index,
//! inclusion path and the signed head, so anyone holding the hub's public key
//! can check it offline.
//!
//! Since revision 5 a receipt is also chained to the year's transparency
//! log ([`crate::tlog`]): [`Receipt::log`] carries the submission's log leaf
//! and a C2SP proof of its inclusion under the checkpoint the hub signed at
//! the end of the batch ([`Receipt::verify_log`]).

use std::str::FromStr;

use prost::Message as _;

use crate::envelope::{Digest, Envelope, EnvelopeError};
use crate::keys::{KeyId, PublicKey, SigningKeyPair};
use crate::merkle::{self, Hash, InclusionError};
use crate::pb;
use crate::submission::Round;
use crate::tlog::checkpoint::VerifiedCheckpoint;
use crate::tlog::leaf::{Leaf, SubmissionLeaf, log_verifier};
use crate::tlog::proof::{ProofVerifyError, TlogProof};
use crate::validate::{self, FieldError, Problem, identifier, required};

/// Payload type of a signed batch head.
pub const BATCH_HEAD_PAYLOAD_TYPE: &str = "application/vnd.kaohe.receipt-batch.v1+protobuf";
pub use crate::merkle::MAX_INCLUSION_PATH;
/// First byte of a leaf's canonical encoding: its version.
const LEAF_ENCODING_VERSION: u8 = 1;

/// A committed submission, before the batch gives it a commit time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptItem {
    /// Submission digest.
    pub digest: Digest,
    /// The assessee.
    pub unit_id: String,
    /// Assessment year.
    pub year: u16,
    /// The round.
    pub round: Round,
    /// Committed after the round's deadline (by the hub's clock at commit).
    pub late: bool,
}

/// What one receipt attests, as hashed into the batch tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptLeaf {
    /// Submission digest.
    pub digest: Digest,
    /// The assessee.
    pub unit_id: String,
    /// Assessment year.
    pub year: u16,
    /// The round.
    pub round: Round,
    /// Hub clock at commit, unix seconds (the batch's commit time).
    pub commit_time: i64,
    /// Committed after the round's deadline.
    pub late: bool,
}

/// The signed summary of one committed batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchHead {
    /// RFC 9162 tree hash over the batch's leaves.
    pub root: Hash,
    /// Number of leaves, at least 1.
    pub tree_size: u64,
    /// Hub clock at commit, unix seconds.
    pub commit_time: i64,
    /// The hub key that signs the head.
    pub hub_key_id: KeyId,
}

/// The hub's receipt for one submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// What is attested.
    pub leaf: ReceiptLeaf,
    /// Position of the leaf in its batch.
    pub leaf_index: u64,
    /// Sibling hashes from the leaf up (RFC 9162 inclusion proof).
    pub inclusion_path: Vec<Hash>,
    /// The signed [`BatchHead`].
    pub signed_head: Envelope,
    /// The submission's place in the year's log (revision 5).
    pub log: Option<LogInclusion>,
}

/// A submission's log leaf and the proof of its inclusion under a
/// checkpoint signed by the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogInclusion {
    /// The log leaf of the submission.
    pub leaf: SubmissionLeaf,
    /// Its index, inclusion proof and the signed checkpoint.
    pub proof: TlogProof,
}

/// Signing a committed batch of receipts.
#[derive(Debug)]
pub struct ReceiptBatch;

/// Why a receipt does not check out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// The batch head's signature does not verify with the hub key.
    #[error("回执批次签名无效（receipt batch signature invalid）: {0}")]
    Head(#[from] EnvelopeError),
    /// The signed head is not a protobuf batch head.
    #[error("回执批次头无法解码（receipt batch head does not decode）: {0}")]
    HeadDecode(#[from] prost::DecodeError),
    /// A field of the signed head is invalid.
    #[error("回执批次头无效（receipt batch head invalid）: {0}")]
    HeadInvalid(#[from] FieldError),
    /// The head names another hub key than the one that signed it.
    #[error(
        "回执批次头写明的密钥 {named} 不是签名密钥 {signer}（batch head names key {named}, signed by {signer}）"
    )]
    WrongHubKey {
        /// The key that signed.
        signer: KeyId,
        /// The key the head names.
        named: KeyId,
    },
    /// The leaf's commit time is not the batch's.
    #[error(
        "回执提交时间 {leaf} 与批次时间 {head} 不符（receipt commit time {leaf} differs from the batch's {head}）"
    )]
    CommitTimeMismatch {
        /// The leaf's commit time.
        leaf: i64,
        /// The head's commit time.
        head: i64,
    },
    /// The leaf is not in the signed tree at that index.
    #[error("回执不在签名的批次中（receipt is not in the signed batch）: {0}")]
    Inclusion(#[from] InclusionError),
    /// The receipt carries no log inclusion.
    #[error("回执没有透明日志的包含证明（receipt carries no log inclusion proof）")]
    NoLogInclusion,
    /// The log leaf records something else than the receipt.
    #[error(
        "回执的日志叶与回执不符：{field}（the receipt's log leaf differs from the receipt: {field}）"
    )]
    LogLeafMismatch {
        /// The field that differs.
        field: &'static str,
    },
    /// The log proof does not verify.
    #[error("回执的日志证明无效（receipt's log proof does not verify）: {0}")]
    LogProof(#[from] ProofVerifyError),
}

impl ReceiptBatch {
    /// Receipts for a committed batch, in the order of `items`, under one
    /// signature by `hub_key`. An empty batch has no receipts and is not
    /// signed.
    pub fn build(
        items: &[ReceiptItem],
        hub_key: &SigningKeyPair,
        commit_time: i64,
    ) -> Vec<Receipt> {
        if items.is_empty() {
            return Vec::new();
        }
        let leaves: Vec<ReceiptLeaf> = items
            .iter()
            .map(|item| ReceiptLeaf {
                digest: item.digest,
                unit_id: item.unit_id.clone(),
                year: item.year,
                round: item.round,
                commit_time,
                late: item.late,
            })
            .collect();
        let hashes: Vec<Hash> = leaves.iter().map(ReceiptLeaf::leaf_hash).collect();
        let (root, paths) = merkle::root_and_paths(&hashes);
        let head = BatchHead {
            root,
            tree_size: leaves.len() as u64,
            commit_time,
            hub_key_id: hub_key.key_id(),
        };
        let signed_head = Envelope::sign(
            BATCH_HEAD_PAYLOAD_TYPE,
            pb::BatchHead::from(&head).encode_to_vec(),
            &[hub_key],
        );
        leaves
            .into_iter()
            .zip(paths)
            .enumerate()
            .map(|(i, (leaf, inclusion_path))| Receipt {
                leaf,
                leaf_index: i as u64,
                inclusion_path,
                signed_head: signed_head.clone(),
                log: None,
            })
            .collect()
    }
}

impl ReceiptLeaf {
    /// The canonical encoding hashed into the tree (all integers
    /// big-endian): version `0x01` | digest (32) | year (u16) | round (u8,
    /// the wire enum value) | commit_time (i64) | late (u8, 0 or 1) |
    /// unit_id length (u16) | unit_id (UTF-8).
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let unit = self.unit_id.as_bytes();
        // Identifiers are at most 64 bytes; a longer one never verifies.
        let unit_len = u16::try_from(unit.len()).unwrap_or(u16::MAX);
        let mut out = Vec::with_capacity(1 + 32 + 2 + 1 + 8 + 1 + 2 + unit.len());
        out.push(LEAF_ENCODING_VERSION);
        out.extend_from_slice(&self.digest.0);
        out.extend_from_slice(&self.year.to_be_bytes());
        out.push(self.round.to_wire() as u8);
        out.extend_from_slice(&self.commit_time.to_be_bytes());
        out.push(u8::from(self.late));
        out.extend_from_slice(&unit_len.to_be_bytes());
        out.extend_from_slice(unit);
        out
    }

    /// RFC 9162 leaf hash of [`ReceiptLeaf::canonical_bytes`].
    pub fn leaf_hash(&self) -> Hash {
        merkle::leaf_hash(&self.canonical_bytes())
    }
}

impl Receipt {
    /// Checks the receipt offline against the hub's public key: the batch
    /// head, and the log inclusion when the receipt carries one.
    pub fn verify(&self, hub: &PublicKey) -> Result<(), ReceiptError> {
        self.verified_head(hub)?;
        if self.log.is_some() {
            self.verify_log(hub)?;
        }
        Ok(())
    }

    /// Checks the log inclusion, which must be there: the log leaf records
    /// the receipt's digest, unit, year, round, commit time and lateness,
    /// and is included in a checkpoint of that year's log signed by `hub`.
    /// Returns the checkpoint (no witnesses are asked for here).
    pub fn verify_log(&self, hub: &PublicKey) -> Result<VerifiedCheckpoint, ReceiptError> {
        let log = self.log.as_ref().ok_or(ReceiptError::NoLogInclusion)?;
        let (a, b) = (&self.leaf, &log.leaf);
        let differs = [
            ("digest", a.digest != b.digest),
            ("unit_id", a.unit_id != b.unit),
            ("year", a.year != b.year),
            ("round", a.round != b.round),
            ("commit_time", a.commit_time != b.commit_time),
            ("late", a.late != b.late),
        ];
        if let Some((field, _)) = differs.into_iter().find(|(_, d)| *d) {
            return Err(ReceiptError::LogLeafMismatch { field });
        }
        let leaf_hash = Leaf::Submission(b.clone()).hash();
        Ok(log
            .proof
            .verify(&leaf_hash, &log_verifier(hub, b.year), &[])?)
    }

    /// Checks the receipt and returns the batch head it is part of: the head
    /// is signed by `hub` and names it, the leaf's commit time is the
    /// head's, and the leaf is at `leaf_index` of the signed tree.
    pub fn verified_head(&self, hub: &PublicKey) -> Result<BatchHead, ReceiptError> {
        let verified = self.signed_head.verify(BATCH_HEAD_PAYLOAD_TYPE, hub)?;
        let head = BatchHead::try_from(pb::BatchHead::decode(verified.payload)?)?;
        let signer = hub.key_id();
        if head.hub_key_id != signer {
            return Err(ReceiptError::WrongHubKey {
                signer,
                named: head.hub_key_id,
            });
        }
        if self.leaf.commit_time != head.commit_time {
            return Err(ReceiptError::CommitTimeMismatch {
                leaf: self.leaf.commit_time,
                head: head.commit_time,
            });
        }
        merkle::verify_inclusion(
            &self.leaf.leaf_hash(),
            self.leaf_index,
            head.tree_size,
            &self.inclusion_path,
            &head.root,
        )?;
        Ok(head)
    }
}

impl TryFrom<pb::ReceiptLeaf> for ReceiptLeaf {
    type Error = FieldError;
    fn try_from(m: pb::ReceiptLeaf) -> Result<Self, FieldError> {
        Ok(ReceiptLeaf {
            digest: Digest::from_field("digest", &m.digest)?,
            unit_id: identifier("unit_id", m.unit_id)?,
            year: validate::year("year", m.year)?,
            round: Round::from_wire("round", m.round)?,
            commit_time: m.commit_time,
            late: m.late,
        })
    }
}

impl From<&ReceiptLeaf> for pb::ReceiptLeaf {
    fn from(l: &ReceiptLeaf) -> Self {
        pb::ReceiptLeaf {
            digest: l.digest.0.to_vec(),
            unit_id: l.unit_id.clone(),
            year: l.year.into(),
            round: l.round.to_wire(),
            commit_time: l.commit_time,
            late: l.late,
        }
    }
}

impl TryFrom<pb::BatchHead> for BatchHead {
    type Error = FieldError;
    fn try_from(m: pb::BatchHead) -> Result<Self, FieldError> {
        if m.tree_size == 0 {
            return Err(FieldError::new("tree_size", Problem::Missing));
        }
        Ok(BatchHead {
            root: validate::hash32("root", &m.root)?,
            tree_size: m.tree_size,
            commit_time: m.commit_time,
            hub_key_id: KeyId::from_str(&m.hub_key_id).map_err(|_| {
                FieldError::invalid(
                    "hub_key_id",
                    "须为 32 个小写十六进制字符的密钥编号",
                    "must be a key id of 32 lowercase hex characters",
                )
            })?,
        })
    }
}

impl From<&BatchHead> for pb::BatchHead {
    fn from(h: &BatchHead) -> Self {
        pb::BatchHead {
            root: h.root.to_vec(),
            tree_size: h.tree_size,
            commit_time: h.commit_time,
            hub_key_id: h.hub_key_id.to_string(),
        }
    }
}

impl TryFrom<pb::Receipt> for Receipt {
    type Error = FieldError;
    fn try_from(m: pb::Receipt) -> Result<Self, FieldError> {
        let leaf =
            ReceiptLeaf::try_from(required("leaf", m.leaf)?).map_err(|e| e.within("leaf"))?;
        validate::at_most("inclusion_path", &m.inclusion_path, MAX_INCLUSION_PATH)?;
        let inclusion_path = m
            .inclusion_path
            .iter()
            .enumerate()
            .map(|(i, h)| validate::hash32(&format!("inclusion_path[{i}]"), h))
            .collect::<Result<_, _>>()?;
        let signed_head = Envelope::try_from(required("signed_head", m.signed_head)?)
            .map_err(|e| e.within("signed_head"))?;
        let log = m
            .log
            .map(LogInclusion::try_from)
            .transpose()
            .map_err(|e| e.within("log"))?;
        Ok(Receipt {
            leaf,
            leaf_index: m.leaf_index,
            inclusion_path,
            signed_head,
            log,
        })
    }
}

impl TryFrom<pb::LogInclusion> for LogInclusion {
    type Error = FieldError;
    fn try_from(m: pb::LogInclusion) -> Result<Self, FieldError> {
        let leaf = match Leaf::parse(&m.leaf) {
            Ok(Leaf::Submission(leaf)) => leaf,
            Ok(other) => {
                return Err(FieldError::invalid(
                    "leaf",
                    format!("须为上报的日志叶，收到的是 {}", other.kind()),
                    format!("must be a submission leaf, got {}", other.kind()),
                ));
            }
            Err(e) => {
                return Err(FieldError::invalid(
                    "leaf",
                    e.to_string(),
                    "not a kaohe log leaf",
                ));
            }
        };
        let proof = TlogProof::parse(&m.proof)
            .map_err(|e| FieldError::invalid("proof", e.to_string(), "not a C2SP tlog-proof"))?;
        Ok(LogInclusion { leaf, proof })
    }
}

impl From<&LogInclusion> for pb::LogInclusion {
    fn from(l: &LogInclusion) -> Self {
        pb::LogInclusion {
            leaf: Leaf::Submission(l.leaf.clone()).to_bytes(),
            proof: l.proof.to_bytes(),
        }
    }
}

impl From<Receipt> for pb::Receipt {
    fn from(r: Receipt) -> Self {
        pb::Receipt {
            leaf: Some(pb::ReceiptLeaf::from(&r.leaf)),
            leaf_index: r.leaf_index,
            inclusion_path: r.inclusion_path.iter().map(|h| h.to_vec()).collect(),
            signed_head: Some(pb::Envelope::from(r.signed_head)),
            log: r.log.as_ref().map(pb::LogInclusion::from),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub() -> SigningKeyPair {
        SigningKeyPair::from_seed(&[31; 32])
    }

    fn items(n: usize) -> Vec<ReceiptItem> {
        (0..n)
            .map(|i| ReceiptItem {
                digest: Digest([i as u8; 32]),
                unit_id: format!("unit-{i}"),
                year: 2022,
                round: Round::ALL[i % 5],
                late: i % 3 == 0,
            })
            .collect()
    }

    #[test]
    fn every_receipt_of_batches_1_to_17_verifies() {
        let hub = hub();
        for n in 1..=17 {
            let receipts = ReceiptBatch::build(&items(n), &hub, 1_700_000_000);
            assert_eq!(receipts.len(), n);
            for (i, r) in receipts.iter().enumerate() {
                assert_eq!(r.leaf_index, i as u64);
                assert_eq!(r.leaf.unit_id, format!("unit-{i}"));
                let head = r.verified_head(&hub.public()).unwrap();
                assert_eq!(head.tree_size, n as u64);
                assert_eq!(head.hub_key_id, hub.key_id());
                // And after a trip over the wire.
                let back = Receipt::try_from(pb::Receipt::from(r.clone())).unwrap();
                assert_eq!(&back, r);
                assert_eq!(back.verify(&hub.public()), Ok(()));
            }
        }
        assert!(ReceiptBatch::build(&[], &hub, 0).is_empty());
    }

    #[test]
    fn tampered_leaf_fields_are_refused() {
        let hub = hub();
        let receipts = ReceiptBatch::build(&items(5), &hub, 1_700_000_000);
        let r = &receipts[2];
        type Tamper = fn(&mut ReceiptLeaf);
        let tampers: &[Tamper] = &[
            |l| l.digest.0[31] ^= 1,
            |l| l.unit_id.push('x'),
            |l| l.year += 1,
            |l| l.round = Round::Annual,
            |l| l.late = !l.late,
        ];
        for tamper in tampers {
            let mut bad = r.clone();
            tamper(&mut bad.leaf);
            assert_ne!(bad.leaf, r.leaf);
            assert_eq!(
                bad.verify(&hub.public()),
                Err(ReceiptError::Inclusion(InclusionError::RootMismatch))
            );
        }
        let mut late_commit = r.clone();
        late_commit.leaf.commit_time += 1;
        assert_eq!(
            late_commit.verify(&hub.public()),
            Err(ReceiptError::CommitTimeMismatch {
                leaf: 1_700_000_001,
                head: 1_700_000_000
            })
        );
    }

    #[test]
    fn tampered_path_index_or_root_are_refused() {
        let hub = hub();
        let receipts = ReceiptBatch::build(&items(6), &hub, 5);
        let r = &receipts[4];
        for i in 0..r.inclusion_path.len() {
            let mut bad = r.clone();
            bad.inclusion_path[i][0] ^= 0x80;
            assert!(matches!(
                bad.verify(&hub.public()),
                Err(ReceiptError::Inclusion(_))
            ));
        }
        // Another leaf's path.
        let mut wrong_path = r.clone();
        wrong_path.inclusion_path = receipts[1].inclusion_path.clone();
        assert!(matches!(
            wrong_path.verify(&hub.public()),
            Err(ReceiptError::Inclusion(_))
        ));
        // Wrong index, including one past the end.
        for index in [0, 1, 2, 3, 5, 6, u64::MAX] {
            let mut bad = r.clone();
            bad.leaf_index = index;
            assert!(
                matches!(bad.verify(&hub.public()), Err(ReceiptError::Inclusion(_))),
                "index {index}"
            );
        }
        // A head with another root, signed by the real hub key, still fails
        // for this leaf.
        let mut head =
            BatchHead::try_from(pb::BatchHead::decode(r.signed_head.payload.as_slice()).unwrap())
                .unwrap();
        head.root[0] ^= 1;
        let mut other_root = r.clone();
        other_root.signed_head = Envelope::sign(
            BATCH_HEAD_PAYLOAD_TYPE,
            pb::BatchHead::from(&head).encode_to_vec(),
            &[&hub],
        );
        assert_eq!(
            other_root.verify(&hub.public()),
            Err(ReceiptError::Inclusion(InclusionError::RootMismatch))
        );
        // The signed head's bytes changed without re-signing.
        let mut unsigned_root = r.clone();
        let at = unsigned_root.signed_head.payload.len() / 2;
        unsigned_root.signed_head.payload[at] ^= 1;
        assert_eq!(
            unsigned_root.verify(&hub.public()),
            Err(ReceiptError::Head(EnvelopeError::BadSignature(
                hub.key_id()
            )))
        );
    }

    #[test]
    fn wrong_hub_key_is_refused() {
        let hub = hub();
        let impostor = SigningKeyPair::from_seed(&[32; 32]);
        let r = &ReceiptBatch::build(&items(3), &hub, 9)[1];
        assert_eq!(
            r.verify(&impostor.public()),
            Err(ReceiptError::Head(EnvelopeError::UnknownKey(hub.key_id())))
        );
        // Receipts minted by an impostor do not verify with the hub key.
        let forged = &ReceiptBatch::build(&items(3), &impostor, 9)[1];
        assert!(matches!(
            forged.verify(&hub.public()),
            Err(ReceiptError::Head(_))
        ));
        // A head signed by the hub that names another key.
        let mut head = r.verified_head(&hub.public()).unwrap();
        head.hub_key_id = impostor.key_id();
        let mut misnamed = r.clone();
        misnamed.signed_head = Envelope::sign(
            BATCH_HEAD_PAYLOAD_TYPE,
            pb::BatchHead::from(&head).encode_to_vec(),
            &[&hub],
        );
        assert_eq!(
            misnamed.verify(&hub.public()),
            Err(ReceiptError::WrongHubKey {
                signer: hub.key_id(),
                named: impostor.key_id()
            })
        );
    }

    #[test]
    fn a_submission_envelope_is_not_a_batch_head() {
        let hub = hub();
        let mut r = ReceiptBatch::build(&items(1), &hub, 9).remove(0);
        r.signed_head = Envelope::sign(
            crate::submission::SUBMISSION_PAYLOAD_TYPE,
            r.signed_head.payload.clone(),
            &[&hub],
        );
        assert!(matches!(
            r.verify(&hub.public()),
            Err(ReceiptError::Head(EnvelopeError::WrongPayloadType { .. }))
        ));
    }

    #[test]
    fn canonical_leaf_bytes_are_pinned() {
        let leaf = ReceiptLeaf {
            digest: Digest([0xaa; 32]),
            unit_id: "u1".into(),
            year: 2022,
            round: Round::Q3,
            commit_time: 1,
            late: true,
        };
        let mut expect = vec![1u8];
        expect.extend([0xaa; 32]);
        expect.extend([0x07, 0xe6, 3]);
        expect.extend([0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 2, b'u', b'1']);
        assert_eq!(leaf.canonical_bytes(), expect);
    }

    #[test]
    fn wire_receipt_junk_names_the_field() {
        let hub = hub();
        let good = pb::Receipt::from(ReceiptBatch::build(&items(2), &hub, 9).remove(0));
        let mut bad = good.clone();
        bad.inclusion_path[0].pop();
        assert_eq!(
            Receipt::try_from(bad).unwrap_err().field,
            "inclusion_path[0]"
        );
        let mut bad = good.clone();
        bad.leaf.as_mut().unwrap().round = 0;
        assert_eq!(Receipt::try_from(bad).unwrap_err().field, "leaf.round");
        let mut bad = good.clone();
        bad.signed_head = None;
        assert_eq!(Receipt::try_from(bad).unwrap_err().field, "signed_head");
        let mut bad = good;
        bad.inclusion_path = vec![vec![0; 32]; MAX_INCLUSION_PATH + 1];
        assert_eq!(Receipt::try_from(bad).unwrap_err().field, "inclusion_path");
    }

    /// A receipt whose log inclusion sits at index 2 of a 3-leaf log of
    /// 2022, under a checkpoint `signer` signed.
    fn chained(signer: &SigningKeyPair) -> Receipt {
        use crate::tlog::checkpoint::Checkpoint;
        use crate::tlog::leaf::log_origin;
        use crate::tlog::tree::MemoryTree;
        let hub = hub();
        let mut r = ReceiptBatch::build(&items(3), &hub, 9).remove(1);
        let leaf = SubmissionLeaf {
            digest: r.leaf.digest,
            signer: KeyId::of(&[9; 32]),
            unit: r.leaf.unit_id.clone(),
            year: r.leaf.year,
            round: r.leaf.round,
            commit_time: 9,
            late: r.leaf.late,
        };
        let mut tree = MemoryTree::new();
        tree.append(merkle::leaf_hash(b"a")).unwrap();
        tree.append(merkle::leaf_hash(b"b")).unwrap();
        tree.append(Leaf::Submission(leaf.clone()).hash()).unwrap();
        let checkpoint = Checkpoint {
            origin: log_origin(&hub.key_id(), 2022),
            size: 3,
            root: tree.root(),
            extensions: vec![],
        }
        .sign(signer)
        .unwrap();
        r.log = Some(LogInclusion {
            leaf,
            proof: TlogProof {
                extra: None,
                index: 2,
                inclusion: tree.inclusion_proof(2, 3).unwrap(),
                checkpoint,
            },
        });
        r
    }

    #[test]
    fn a_receipt_chained_to_the_log_verifies_and_travels_unchanged() {
        let hub = hub();
        let r = chained(&hub);
        r.verify(&hub.public()).unwrap();
        assert_eq!(r.verify_log(&hub.public()).unwrap().checkpoint.size, 3);
        assert_eq!(Receipt::try_from(pb::Receipt::from(r.clone())).unwrap(), r);
    }

    #[test]
    fn a_log_inclusion_that_does_not_match_or_verify_is_refused() {
        let hub = hub();
        let good = chained(&hub);
        let mut bad = good.clone();
        bad.log.as_mut().unwrap().leaf.late = !good.leaf.late;
        assert_eq!(
            bad.verify(&hub.public()).unwrap_err(),
            ReceiptError::LogLeafMismatch { field: "late" }
        );
        let mut bad = good.clone();
        bad.log.as_mut().unwrap().proof.index = 1;
        assert!(matches!(
            bad.verify_log(&hub.public()).unwrap_err(),
            ReceiptError::LogProof(ProofVerifyError::Inclusion(_))
        ));
        let impostor = chained(&SigningKeyPair::from_seed(&[32; 32]));
        assert!(matches!(
            impostor.verify_log(&hub.public()).unwrap_err(),
            ReceiptError::LogProof(ProofVerifyError::Checkpoint(_))
        ));
        let mut none = good;
        none.log = None;
        none.verify(&hub.public()).unwrap();
        assert_eq!(
            none.verify_log(&hub.public()).unwrap_err(),
            ReceiptError::NoLogInclusion
        );
    }

    #[test]
    fn a_wire_log_inclusion_must_hold_a_submission_leaf_and_a_proof() {
        let hub = hub();
        let good = pb::Receipt::from(chained(&hub));
        let mut bad = good.clone();
        bad.log.as_mut().unwrap().leaf.push(b' ');
        assert_eq!(Receipt::try_from(bad).unwrap_err().field, "log.leaf");
        let mut bad = good.clone();
        bad.log.as_mut().unwrap().proof[0] ^= 1;
        assert_eq!(Receipt::try_from(bad).unwrap_err().field, "log.proof");
        let mut bad = good;
        bad.log.as_mut().unwrap().leaf = Leaf::Rollover(crate::tlog::leaf::RolloverLeaf {
            year: 2021,
            head: crate::tlog::leaf::TreeHead {
                size: 1,
                root: [0; 32],
            },
            checkpoint: None,
        })
        .to_bytes();
        assert_eq!(Receipt::try_from(bad).unwrap_err().field, "log.leaf");
    }
}
