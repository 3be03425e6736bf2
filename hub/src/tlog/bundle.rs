//! 证明包（the proof bundle of one unit's year）：`kaohe hub export` writes
//! one per unit as `<out>/proofs/<unit-id>.json`; `kaohe verify` checks it
//! offline with no database.
//!
//! A bundle holds every leaf a verifier needs, each with its RFC 9162
//! inclusion proof: of the year's log — its rollover leaf, the roster
//! import(s), the pack publication(s) with the authorities' statement, the
//! records of the nodes that signed the unit's submissions (registration,
//! revocation, …), every workflow act on the unit, the approval (with the
//! approved results and the log head they were computed from) and the
//! publication — proved against one checkpoint with the witnesses'
//! cosignatures; the registrations found only in earlier years' logs,
//! proved against the log head the next year's rollover leaf carries; the
//! unit's submission envelopes; and the consistency proof from the
//! approval's log head to the checkpoint. The pack modules are found by
//! their SHA-256 in a folder (export writes them beside the bundles as
//! `pack-<sha256>.wasm`) or carried in `modules`.
//!
//! **One form:** a bundle is the pretty-printed JSON of [`ProofBundle`]
//! with a final newline, nothing else; [`ProofBundle::parse`] refuses any
//! other spelling of the same content. So a bundle with any one byte
//! changed is refused — by the format check when the content is the same,
//! by the proofs when it is not.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use kaohe_proto::merkle::Hash;
use kaohe_proto::tlog::leaf::{LEAF_PREFIX, Leaf, LeafError, canonical_json};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The `format` of this version.
pub const BUNDLE_FORMAT: &str = "kaohe-proof-bundle/v1";
/// Largest bundle [`ProofBundle::parse`] reads.
pub const MAX_BUNDLE_BYTES: usize = 64 * 1024 * 1024;

/// One unit's year, provable offline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProofBundle {
    /// [`BUNDLE_FORMAT`].
    pub format: String,
    /// The assessment year.
    pub year: u16,
    /// The unit.
    pub unit_id: String,
    /// The checkpoint of the year's log that `leaves` are proved against:
    /// a C2SP signed note with the hub's signature and the witnesses'
    /// cosignatures.
    pub checkpoint: String,
    /// Leaves of the year's log, by index.
    pub leaves: Vec<ProvedLeaf>,
    /// Leaves of earlier years' logs, newest year first; each year's are
    /// proved against the log head the next year's rollover leaf carries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier: Vec<EarlierLog>,
    /// RFC 9162 consistency proof (hex hashes) from the log head the
    /// approval names to `checkpoint`.
    pub approval_consistency: Vec<String>,
    /// The unit's submissions as the hub received them (protobuf
    /// `Envelope`, base64), in the order of their leaves.
    pub envelopes: Vec<String>,
    /// Pack modules (base64), when carried in the bundle.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub modules: Vec<String>,
    /// What the exported documents say of the unit. Not authenticated:
    /// `kaohe verify` compares it with the approval and with its own
    /// recomputation, so a result changed in the hub's database after the
    /// approval shows up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<PublishedResult>,
}

/// A unit's result as the exported documents show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishedResult {
    /// Total, hundredths; absent when the unit was not scored.
    pub total: Option<i64>,
    /// Grade id; absent when the unit was not scored.
    pub grade: Option<String>,
    /// Excused (免于考核).
    pub excused: bool,
}

/// A leaf with its inclusion proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvedLeaf {
    /// Its index in its year's log.
    pub index: u64,
    /// Its kind (`submission`, `audit`, `rollover`).
    pub kind: String,
    /// Its JSON body; the leaf's bytes are `kaohe-leaf/v1 <kind>\n` and
    /// the body in canonical form.
    pub body: Value,
    /// Inclusion proof, hex hashes from the leaf's sibling up.
    pub proof: Vec<String>,
}

/// Leaves of an earlier year's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EarlierLog {
    /// That year.
    pub year: u16,
    /// Its leaves, by index.
    pub leaves: Vec<ProvedLeaf>,
}

/// Why bytes are not a proof bundle.
#[derive(Debug, thiserror::Error)]
pub enum BundleFormatError {
    #[error("证明包超过 {MAX_BUNDLE_BYTES} 字节（proof bundle too large）")]
    TooLarge,
    #[error("证明包不是有效的 JSON 证明包（not a proof bundle）：{0}")]
    Json(#[from] serde_json::Error),
    #[error("证明包格式为 {0:?}，本程序只认 {BUNDLE_FORMAT}（unknown bundle format）")]
    Format(String),
    #[error(
        "证明包已被改动：内容与 `kaohe hub export` 写出的唯一格式不一致（the bundle's bytes are not its one form: it was edited）"
    )]
    NotItsForm,
}

impl ProofBundle {
    /// The bundle's one form: pretty JSON and a final newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).expect("a bundle serialises to JSON");
        out.push(b'\n');
        out
    }

    /// Reads a bundle written by [`ProofBundle::to_bytes`], refusing any
    /// other bytes (see the module docs).
    pub fn parse(bytes: &[u8]) -> Result<ProofBundle, BundleFormatError> {
        if bytes.len() > MAX_BUNDLE_BYTES {
            return Err(BundleFormatError::TooLarge);
        }
        let bundle: ProofBundle = serde_json::from_slice(bytes)?;
        if bundle.format != BUNDLE_FORMAT {
            return Err(BundleFormatError::Format(
                bundle.format.chars().take(60).collect(),
            ));
        }
        if bundle.to_bytes() != bytes {
            return Err(BundleFormatError::NotItsForm);
        }
        Ok(bundle)
    }

    /// The carried pack modules, decoded.
    pub fn carried_modules(&self) -> Result<Vec<Vec<u8>>, base64::DecodeError> {
        self.modules.iter().map(|m| BASE64.decode(m)).collect()
    }
}

impl ProvedLeaf {
    /// A leaf and its proof, for the bundle.
    pub fn new(index: u64, leaf_bytes: &[u8], proof: &[Hash]) -> Result<ProvedLeaf, LeafError> {
        let leaf = Leaf::parse(leaf_bytes)?;
        let text = std::str::from_utf8(leaf_bytes).map_err(|_| LeafError::Header)?;
        let (_, body) = text.split_once('\n').ok_or(LeafError::Header)?;
        Ok(ProvedLeaf {
            index,
            kind: leaf.kind().to_owned(),
            body: serde_json::from_str(body).map_err(|e| LeafError::Body(e.to_string()))?,
            proof: proof.iter().map(hex::encode).collect(),
        })
    }

    /// The leaf's bytes.
    pub fn leaf_bytes(&self) -> Vec<u8> {
        let mut out = format!("{LEAF_PREFIX}{}\n", self.kind);
        canonical_json(&self.body, &mut out);
        out.into_bytes()
    }

    /// The leaf, parsed strictly.
    pub fn leaf(&self) -> Result<Leaf, LeafError> {
        Leaf::parse(&self.leaf_bytes())
    }

    /// The proof's hashes.
    pub fn proof_hashes(&self) -> Option<Vec<Hash>> {
        parse_hashes(&self.proof)
    }
}

/// Hex hashes → hashes; `None` if one is not 64 lowercase hex characters.
pub fn parse_hashes(hexes: &[String]) -> Option<Vec<Hash>> {
    hexes
        .iter()
        .map(|h| {
            let mut out = [0u8; 32];
            (!h.bytes().any(|b| b.is_ascii_uppercase())
                && hex::decode_to_slice(h, &mut out).is_ok())
            .then_some(out)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kaohe_proto::tlog::leaf::{RolloverLeaf, TreeHead};

    fn bundle() -> ProofBundle {
        let leaf = Leaf::Rollover(RolloverLeaf {
            year: 2022,
            head: TreeHead {
                size: 3,
                root: [5; 32],
            },
            checkpoint: None,
        });
        ProofBundle {
            format: BUNDLE_FORMAT.into(),
            year: 2023,
            unit_id: "town-01".into(),
            checkpoint: "note".into(),
            leaves: vec![ProvedLeaf::new(0, &leaf.to_bytes(), &[[1; 32]]).unwrap()],
            earlier: vec![],
            approval_consistency: vec![hex::encode([2; 32])],
            envelopes: vec![BASE64.encode(b"env")],
            modules: vec![],
            published: Some(PublishedResult {
                total: Some(8_512),
                grade: Some("good".into()),
                excused: false,
            }),
        }
    }

    #[test]
    fn a_bundle_reads_back_and_its_leaves_are_their_bytes() {
        let b = bundle();
        let bytes = b.to_bytes();
        let back = ProofBundle::parse(&bytes).unwrap();
        assert_eq!(back, b);
        assert_eq!(back.leaves[0].leaf().unwrap().kind(), "rollover");
        assert_eq!(back.leaves[0].proof_hashes().unwrap(), vec![[1; 32]]);
    }

    #[test]
    fn every_one_byte_change_is_refused_or_changes_the_content() {
        let b = bundle();
        let bytes = b.to_bytes();
        for i in 0..bytes.len() {
            for flip in [1u8, 0x20] {
                let mut changed = bytes.clone();
                changed[i] ^= flip;
                if let Ok(other) = ProofBundle::parse(&changed) {
                    assert_ne!(other, b, "byte {i} changed but the bundle reads the same");
                }
            }
        }
        let respaced = String::from_utf8(bytes).unwrap().replacen("  ", "\t", 1);
        assert!(matches!(
            ProofBundle::parse(respaced.as_bytes()),
            Err(BundleFormatError::NotItsForm)
        ));
    }
}
