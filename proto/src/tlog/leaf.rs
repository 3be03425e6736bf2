//! kaohe's log leaves: one canonical, versioned byte encoding per kind of
//! event, so that anyone holding a leaf can read what it records and
//! recompute its hash.
//!
//! ```text
//! kaohe-leaf/v1 <kind>\n<canonical JSON object>
//! ```
//!
//! Canonical JSON: object keys sorted by their UTF-8 bytes, no white space,
//! integers only (no fractions, no exponents), strings as `serde_json`
//! escapes them. A leaf that does not re-encode to exactly its bytes is
//! refused, so one event has exactly one leaf hash.
//!
//! Kinds ([`Leaf`]):
//! - `submission` — an accepted submission: the envelope's digest, its
//!   signer, unit, year, round, the hub's commit time and lateness
//!   ([`SubmissionLeaf`]); the envelope itself travels beside the proof;
//! - `audit` — an audit record of the hub (registry change or workflow act)
//!   verbatim, with what the hub carried along for a verifier
//!   ([`AuditLeaf`]);
//! - `rollover` — the first leaf of a year's log: the previous year's
//!   checkpoint as the hub and its witnesses signed it ([`RolloverLeaf`]).
//!
//! [`log_origin`], [`log_verifier`], [`witness_name`] and
//! [`witness_verifier`] name the keys that sign a year's checkpoints.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::envelope::Digest;
use crate::keys::{KeyId, PublicKey};
use crate::merkle::{self, Hash};
use crate::submission::Round;

use super::note::KeyName;
use super::verifier::NoteVerifier;

/// First line's prefix of every leaf; the kind follows.
pub const LEAF_PREFIX: &str = "kaohe-leaf/v1 ";
/// Largest leaf accepted, bytes (a county's roster carried by an import is
/// the largest: thousands of units stay well below).
pub const MAX_LEAF_BYTES: usize = 4 * 1024 * 1024;

/// One event of a year's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leaf {
    /// An accepted submission.
    Submission(SubmissionLeaf),
    /// An audit record of the hub.
    Audit(AuditLeaf),
    /// The previous year's checkpoint, first leaf of a year.
    Rollover(RolloverLeaf),
}

/// What the log records of an accepted submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmissionLeaf {
    /// The envelope's digest (SHA-256 of its PAE), hex.
    #[serde(with = "digest_hex")]
    pub digest: Digest,
    /// The node whose key signed it.
    pub signer: KeyId,
    /// The assessee.
    pub unit: String,
    /// Assessment year.
    pub year: u16,
    /// `Q1`..`Q4` or `annual`.
    #[serde(with = "round_text")]
    pub round: Round,
    /// The hub's clock at commit, unix seconds.
    pub commit_time: i64,
    /// Committed after the round's deadline.
    pub late: bool,
}

/// An audit record of the hub, as the audit log holds it, and what the hub
/// carried along so that a verifier needs nothing else (the roster an
/// import installed, the statement of a published pack, the results an
/// approval approved and the checkpoint they were computed from).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditLeaf {
    /// The audit record's number.
    pub seq: i64,
    /// When, RFC 3339 (the hub's clock).
    pub time: String,
    /// Who.
    pub operator: String,
    /// What (`node.add`, `results.approve`, …).
    pub action: String,
    /// On what (`node/<key id>`, `2022/unit-id`, …).
    pub subject: String,
    /// The record's detail.
    pub detail: Value,
    /// What the hub added for a verifier; absent when nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carried: Option<Value>,
}

/// The previous year's log as it stood when the next year's log started:
/// the first leaf of every year's log but the first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloverLeaf {
    /// The previous year.
    pub year: u16,
    /// Its log's size and root then: what the rest of the new year's log
    /// (and every checkpoint of it) commits the previous year's log to.
    pub head: TreeHead,
    /// That checkpoint as the hub signed it, with the cosignatures it had,
    /// when the hub had signed one of exactly that size; verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<String>,
}

/// A tree's size and root, as a leaf names a state of a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TreeHead {
    /// Number of leaves.
    pub size: u64,
    /// RFC 9162 root hash of those leaves, lowercase hex.
    #[serde(with = "hash_hex")]
    pub root: Hash,
}

/// Why bytes are not a kaohe leaf.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeafError {
    /// Over [`MAX_LEAF_BYTES`].
    #[error("日志叶有 {0} 字节，超过上限（log leaf of {0} bytes is too large）")]
    TooLarge(usize),
    /// The first line is not `kaohe-leaf/v1 <kind>`.
    #[error(
        "日志叶首行须为 `kaohe-leaf/v1 <类型>`（log leaf must start with `kaohe-leaf/v1 <kind>`）"
    )]
    Header,
    /// A kind this version does not know.
    #[error("日志叶类型 {0:?} 未知（unknown log leaf kind）")]
    UnknownKind(String),
    /// The body is not a JSON object of that kind.
    #[error("日志叶内容无效（log leaf body is invalid）: {0}")]
    Body(String),
    /// The body is JSON but not in canonical form.
    #[error("日志叶内容不是规范 JSON（log leaf body is not canonical JSON）")]
    NotCanonical,
}

impl Leaf {
    /// The kind word of the first line.
    pub fn kind(&self) -> &'static str {
        match self {
            Leaf::Submission(_) => "submission",
            Leaf::Audit(_) => "audit",
            Leaf::Rollover(_) => "rollover",
        }
    }

    /// The leaf's canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let body = match self {
            Leaf::Submission(l) => serde_json::to_value(l),
            Leaf::Audit(l) => serde_json::to_value(l),
            Leaf::Rollover(l) => serde_json::to_value(l),
        }
        .expect("leaf fields serialise to JSON");
        let mut out = format!("{LEAF_PREFIX}{}\n", self.kind());
        canonical_json(&body, &mut out);
        out.into_bytes()
    }

    /// The RFC 9162 leaf hash of [`Leaf::to_bytes`].
    pub fn hash(&self) -> Hash {
        merkle::leaf_hash(&self.to_bytes())
    }

    /// Parses a leaf strictly: header, known kind, a JSON object of that
    /// kind with no unknown field, in canonical form.
    pub fn parse(bytes: &[u8]) -> Result<Leaf, LeafError> {
        if bytes.len() > MAX_LEAF_BYTES {
            return Err(LeafError::TooLarge(bytes.len()));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| LeafError::Header)?;
        let (first, body) = text.split_once('\n').ok_or(LeafError::Header)?;
        let kind = first.strip_prefix(LEAF_PREFIX).ok_or(LeafError::Header)?;
        let value: Value =
            serde_json::from_str(body).map_err(|e| LeafError::Body(e.to_string()))?;
        let body_err = |e: serde_json::Error| LeafError::Body(e.to_string());
        let leaf = match kind {
            "submission" => Leaf::Submission(serde_json::from_value(value).map_err(body_err)?),
            "audit" => Leaf::Audit(serde_json::from_value(value).map_err(body_err)?),
            "rollover" => Leaf::Rollover(serde_json::from_value(value).map_err(body_err)?),
            other => return Err(LeafError::UnknownKind(other.chars().take(40).collect())),
        };
        if leaf.to_bytes() != bytes {
            return Err(LeafError::NotCanonical);
        }
        Ok(leaf)
    }
}

/// Writes `value` as canonical JSON (see the module docs). Fractions and
/// exponents cannot occur: kaohe has no floating point, and a value that
/// holds one is written as `serde_json` would, which [`Leaf::parse`] then
/// refuses as not round-tripping.
pub fn canonical_json(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical_json(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(v, out);
            }
            out.push(']');
        }
        scalar => {
            let _ = write!(out, "{scalar}");
        }
    }
}

/// The origin line of year `year`'s log kept by the hub whose key is
/// `hub`: `kaohe.log/<hub key id>/<year>`. It is also the key name under
/// which the hub signs the log's checkpoints.
pub fn log_origin(hub: &KeyId, year: u16) -> String {
    format!("kaohe.log/{hub}/{year}")
}

/// The trusted key of year `year`'s checkpoints signed by `hub`.
pub fn log_verifier(hub: &PublicKey, year: u16) -> NoteVerifier {
    let name = KeyName::new(log_origin(&hub.key_id(), year))
        .expect("an origin of a key id and a year is a valid key name");
    NoteVerifier::ed25519(name, *hub)
}

/// The key name under which node `node` cosigns checkpoints:
/// `kaohe.witness/<key id>`.
pub fn witness_name(node: &KeyId) -> KeyName {
    KeyName::new(format!("kaohe.witness/{node}")).expect("a key id makes a valid key name")
}

/// The trusted key of node `node`'s cosignatures.
pub fn witness_verifier(node: &PublicKey) -> NoteVerifier {
    NoteVerifier::cosignature_v1(witness_name(&node.key_id()), *node)
}

/// The node key id a witness key name names, if it is one.
pub fn witness_of(name: &KeyName) -> Option<KeyId> {
    name.as_str().strip_prefix("kaohe.witness/")?.parse().ok()
}

mod digest_hex {
    use super::Digest;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Digest, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&d.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Digest, D::Error> {
        let text = String::deserialize(d)?;
        // Lowercase only, so the hex has one spelling.
        if text.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(serde::de::Error::custom("digest must be lowercase hex"));
        }
        text.parse().map_err(serde::de::Error::custom)
    }
}

mod hash_hex {
    use super::Hash;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(h: &Hash, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(h))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Hash, D::Error> {
        let text = String::deserialize(d)?;
        let mut out = [0u8; 32];
        if text.bytes().any(|b| b.is_ascii_uppercase())
            || hex::decode_to_slice(&text, &mut out).is_err()
        {
            return Err(serde::de::Error::custom(
                "root must be 64 lowercase hex characters",
            ));
        }
        Ok(out)
    }
}

mod round_text {
    use super::Round;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(r: &Round, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&r.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Round, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn submission() -> Leaf {
        Leaf::Submission(SubmissionLeaf {
            digest: Digest([0xab; 32]),
            signer: KeyId::of(&[7; 32]),
            unit: "town-01".into(),
            year: 2022,
            round: Round::Q3,
            commit_time: 1_666_000_000,
            late: true,
        })
    }

    #[test]
    fn a_submission_leaf_has_one_documented_encoding() {
        let bytes = submission().to_bytes();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert_eq!(
            text,
            format!(
                "kaohe-leaf/v1 submission\n{{\"commit_time\":1666000000,\"digest\":\"{}\",\"late\":true,\"round\":\"Q3\",\"signer\":\"{}\",\"unit\":\"town-01\",\"year\":2022}}",
                "ab".repeat(32),
                KeyId::of(&[7; 32])
            )
        );
        assert_eq!(Leaf::parse(&bytes).unwrap(), submission());
        assert_eq!(submission().hash(), merkle::leaf_hash(&bytes));
    }

    #[test]
    fn audit_leaves_sort_nested_keys_and_round_trip() {
        let leaf = Leaf::Audit(AuditLeaf {
            seq: 12,
            time: "2022-03-01T08:00:00Z".into(),
            operator: "王科长".into(),
            action: "node.add".into(),
            subject: "node/x".into(),
            detail: json!({"scope": {"years": [2022], "methods": ["daily"]}, "name": "县\"办\""}),
            carried: None,
        });
        let bytes = leaf.to_bytes();
        let text = std::str::from_utf8(&bytes).unwrap();
        assert!(
            text.contains(
                r#""detail":{"name":"县\"办\"","scope":{"methods":["daily"],"years":[2022]}}"#
            ),
            "{text}"
        );
        assert!(!text.contains("carried"), "{text}");
        assert_eq!(Leaf::parse(&bytes).unwrap(), leaf);
    }

    #[test]
    fn anything_but_the_one_encoding_is_refused() {
        let good = String::from_utf8(submission().to_bytes()).unwrap();
        let cases = [
            (good.replacen("v1", "v2", 1), "header"),
            (good.replacen("submission", "receipt", 1), "kind"),
            (good.replacen("{", "{ ", 1), "white space"),
            (good.replacen("\"late\":true,", "", 1), "missing field"),
            (good.replacen("}", ",\"extra\":1}", 1), "unknown field"),
            (
                good.replacen("\"commit_time\":1666000000,", "", 1)
                    .replacen(
                        "\"year\":2022",
                        "\"year\":2022,\"commit_time\":1666000000",
                        1,
                    ),
                "keys out of order",
            ),
            (good.replace("ab", "AB"), "uppercase hex"),
            (good.replacen("2022", "2022.0", 1), "a fraction"),
            (format!("{good}\n"), "trailing newline"),
        ];
        for (bytes, what) in cases {
            assert!(Leaf::parse(bytes.as_bytes()).is_err(), "{what}: {bytes}");
        }
    }

    #[test]
    fn a_rollover_leaf_names_the_previous_head_and_may_carry_its_checkpoint() {
        let mut leaf = RolloverLeaf {
            year: 2022,
            head: TreeHead {
                size: 7,
                root: [0x11; 32],
            },
            checkpoint: None,
        };
        let bytes = Leaf::Rollover(leaf.clone()).to_bytes();
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            format!(
                "kaohe-leaf/v1 rollover\n{{\"head\":{{\"root\":\"{}\",\"size\":7}},\"year\":2022}}",
                "11".repeat(32)
            )
        );
        leaf.checkpoint = Some("note\n".into());
        let bytes = Leaf::Rollover(leaf.clone()).to_bytes();
        assert_eq!(Leaf::parse(&bytes).unwrap(), Leaf::Rollover(leaf));
    }

    #[test]
    fn origins_and_witness_names_are_key_names() {
        let hub = crate::keys::SigningKeyPair::from_seed(&[1; 32]);
        let origin = log_origin(&hub.key_id(), 2023);
        assert_eq!(origin, format!("kaohe.log/{}/2023", hub.key_id()));
        assert_eq!(log_verifier(&hub.public(), 2023).name().as_str(), origin);
        let node = crate::keys::SigningKeyPair::from_seed(&[2; 32]);
        let name = witness_name(&node.key_id());
        assert_eq!(witness_of(&name), Some(node.key_id()));
        assert_eq!(witness_verifier(&node.public()).name(), &name);
        assert_eq!(witness_of(&KeyName::new("other/x").unwrap()), None);
    }
}
