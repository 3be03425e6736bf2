//! The submission: what a node signs about one unit, year and round, defined
//! once for node and hub. Encoded as protobuf inside an [`Envelope`] of type
//! [`SUBMISSION_PAYLOAD_TYPE`]; its digest is SHA-256 of the PAE bytes.
//!
//! **Invariant:** the node a submission comes from is the key that signed it;
//! a `node_id` in the payload that disagrees is refused
//! ([`SubmissionError::IdentityMismatch`]).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use prost::Message as _;

use crate::envelope::{Digest, Envelope, EnvelopeError, KeyLookup, Limits};
use crate::keys::{KeyId, SigningKeyPair};
use crate::pb;
use crate::validate::{self, FieldError, Problem, identifier, required};

/// Payload type of a signed submission.
pub const SUBMISSION_PAYLOAD_TYPE: &str = "application/vnd.kaohe.submission.v1+protobuf";
/// Most method blocks in one submission.
pub const MAX_METHODS: usize = 16;
/// Longest reason text of a fired clause, in characters.
pub const MAX_REASON_CHARS: usize = 500;

/// The assessment round: a quarter of the daily evaluation, or the year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Round {
    /// First quarter (第一季度).
    Q1,
    /// Second quarter (第二季度).
    Q2,
    /// Third quarter (第三季度).
    Q3,
    /// Fourth quarter (第四季度).
    Q4,
    /// The annual assessment (年度).
    Annual,
}

impl Round {
    /// Every round, in calendar order.
    pub const ALL: [Round; 5] = [Round::Q1, Round::Q2, Round::Q3, Round::Q4, Round::Annual];

    /// The round of a wire enum value; `ROUND_UNSPECIFIED` and unknown values
    /// are refused.
    pub fn from_wire(field: &str, value: i32) -> Result<Round, FieldError> {
        match pb::Round::try_from(value) {
            Ok(pb::Round::Q1) => Ok(Round::Q1),
            Ok(pb::Round::Q2) => Ok(Round::Q2),
            Ok(pb::Round::Q3) => Ok(Round::Q3),
            Ok(pb::Round::Q4) => Ok(Round::Q4),
            Ok(pb::Round::Annual) => Ok(Round::Annual),
            Ok(pb::Round::Unspecified) => Err(FieldError::new(field, Problem::Missing)),
            Err(_) => Err(FieldError::new(field, Problem::UnknownEnum(value))),
        }
    }

    /// The wire enum value.
    pub fn to_wire(self) -> i32 {
        let round = match self {
            Round::Q1 => pb::Round::Q1,
            Round::Q2 => pb::Round::Q2,
            Round::Q3 => pb::Round::Q3,
            Round::Q4 => pb::Round::Q4,
            Round::Annual => pb::Round::Annual,
        };
        round as i32
    }

    /// The rule-pack ABI's round number: 0 annual, 1..=4 the quarters.
    pub fn abi_code(self) -> u32 {
        match self {
            Round::Annual => 0,
            Round::Q1 => 1,
            Round::Q2 => 2,
            Round::Q3 => 3,
            Round::Q4 => 4,
        }
    }

    /// Whether this is a quarter.
    pub fn is_quarter(self) -> bool {
        self != Round::Annual
    }

    /// The Chinese name, as officials read it.
    pub fn name_zh(self) -> &'static str {
        match self {
            Round::Q1 => "第一季度",
            Round::Q2 => "第二季度",
            Round::Q3 => "第三季度",
            Round::Q4 => "第四季度",
            Round::Annual => "年度",
        }
    }
}

impl fmt::Display for Round {
    /// `Q1`..`Q4` or `annual`, as in rubric files.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Round::Q1 => "Q1",
            Round::Q2 => "Q2",
            Round::Q3 => "Q3",
            Round::Q4 => "Q4",
            Round::Annual => "annual",
        })
    }
}

impl FromStr for Round {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<Self, FieldError> {
        Round::ALL
            .into_iter()
            .find(|r| r.to_string() == s)
            .ok_or_else(|| {
                FieldError::invalid("round", "须为 Q1–Q4 或 annual", "must be Q1–Q4 or annual")
            })
    }
}

/// Which rule pack computed a result.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PackIdentity {
    /// Pack id, e.g. `baofeng`.
    pub id: String,
    /// Assessment year.
    pub year: u16,
    /// Published version, at least 1.
    pub version: u32,
    /// SHA-256 of the WebAssembly module.
    pub module_sha256: [u8; 32],
}

impl fmt::Display for PackIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{} v{}", self.id, self.year, self.version)
    }
}

/// A deduction or award clause that fired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiredClause {
    /// Hundredths of a point deducted or awarded.
    pub amount: i64,
    /// The reason in Chinese.
    pub reason: String,
}

/// What one method produced for the unit.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MethodBlock {
    /// Method id, e.g. `daily`.
    pub method_id: String,
    /// Evidence by field id, in hundredths; `None` when not provided.
    pub evidence: BTreeMap<String, Option<i64>>,
    /// Indicator scores by indicator id, in hundredths.
    pub scores: BTreeMap<String, i64>,
    /// Fired clauses by clause id.
    pub clauses: BTreeMap<String, FiredClause>,
    /// Indicators marked not applicable (不适用) to the unit, by indicator
    /// id, with the assessor's reason.
    pub not_applicable: BTreeMap<String, String>,
}

/// The payload a node signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// The pack that computed the scores.
    pub pack: PackIdentity,
    /// The assessee.
    pub unit_id: String,
    /// Assessment year; equals `pack.year`.
    pub year: u16,
    /// The round.
    pub round: Round,
    /// Key id of the signing node.
    pub node_id: KeyId,
    /// The node's sequence number, at least 1, increasing with each submission.
    pub sequence: u64,
    /// Node clock at creation, unix seconds; informational only.
    pub created_at: i64,
    /// One block per method, each method once.
    pub methods: Vec<MethodBlock>,
}

/// A submission whose envelope verified, decoded and validated once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSubmission {
    /// The decoded submission.
    pub submission: Submission,
    /// SHA-256 of the envelope's PAE bytes.
    pub digest: Digest,
    /// The key that signed; equals `submission.node_id`.
    pub node_id: KeyId,
}

/// What the receiver checks beyond the signature.
#[derive(Debug, Clone, Copy, Default)]
pub struct SubmissionCheck<'a> {
    /// The identity the connection authenticated (client certificate), if any.
    pub peer: Option<&'a KeyId>,
    /// Envelope limits.
    pub limits: Limits,
}

/// Why a submission was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmissionError {
    /// The envelope did not verify.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// A submission carries exactly one signature, its node's.
    #[error(
        "提交须恰有一个签名，实有 {0} 个（a submission must carry exactly one signature, found {0}）"
    )]
    SignerCount(usize),
    /// The signed payload is not a protobuf submission.
    #[error("提交载荷无法解码（submission payload does not decode）: {0}")]
    Decode(#[from] prost::DecodeError),
    /// A field is invalid.
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// The payload's node id is not the signing key's id.
    #[error(
        "提交中的节点标识 {payload} 与签名密钥 {signer} 不符（node_id {payload} in the submission differs from the signing key {signer}）"
    )]
    IdentityMismatch {
        /// `node_id` written in the payload.
        payload: KeyId,
        /// The key that signed.
        signer: KeyId,
    },
    /// The signing key is not the identity the connection authenticated.
    #[error(
        "签名密钥 {signer} 与连接证书身份 {peer} 不符（signing key {signer} differs from the connection's identity {peer}）"
    )]
    PeerMismatch {
        /// The key that signed.
        signer: KeyId,
        /// The identity of the connection.
        peer: KeyId,
    },
}

/// What a supersedes what: one per (unit, year, round, method).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SupersessionKey {
    /// The assessee.
    pub unit_id: String,
    /// Assessment year.
    pub year: u16,
    /// The round.
    pub round: Round,
    /// The method.
    pub method_id: String,
}

/// An arriving submission against the stored one for the same key (and the
/// same node): decided by the node's sequence numbers, never by clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Supersession {
    /// A higher sequence number: replaces the stored one.
    Newer,
    /// The same sequence number: the same envelope again is harmless (answer
    /// with the same receipt); different content is a reused sequence number.
    Same,
    /// A lower sequence number arriving later: refused as stale.
    Stale,
}

/// Compares the stored sequence number with an incoming one.
pub fn compare_sequence(stored: u64, incoming: u64) -> Supersession {
    match incoming.cmp(&stored) {
        std::cmp::Ordering::Greater => Supersession::Newer,
        std::cmp::Ordering::Equal => Supersession::Same,
        std::cmp::Ordering::Less => Supersession::Stale,
    }
}

impl Submission {
    /// The protobuf bytes. Maps are encoded in key order, so the same
    /// submission always gives the same bytes.
    pub fn encode(&self) -> Vec<u8> {
        pb::Submission::from(self).encode_to_vec()
    }

    /// Decodes and validates protobuf bytes.
    pub fn decode(bytes: &[u8]) -> Result<Submission, SubmissionError> {
        let wire = pb::Submission::decode(bytes)?;
        Ok(Submission::try_from(wire)?)
    }

    /// Checks the rules the receiver will check, before signing.
    pub fn validate(&self) -> Result<(), FieldError> {
        Submission::try_from(pb::Submission::from(self)).map(drop)
    }

    /// Signs the encoded submission. `node_id` must be `key.key_id()`: the
    /// receiver refuses anything else.
    pub fn to_envelope(&self, key: &SigningKeyPair) -> Envelope {
        Envelope::sign(SUBMISSION_PAYLOAD_TYPE, self.encode(), &[key])
    }

    /// One key per method block.
    pub fn supersession_keys(&self) -> impl Iterator<Item = SupersessionKey> + '_ {
        self.methods.iter().map(|m| SupersessionKey {
            unit_id: self.unit_id.clone(),
            year: self.year,
            round: self.round,
            method_id: m.method_id.clone(),
        })
    }
}

/// Verifies strictly, decodes once, validates, and checks that the payload's
/// node id is the signer.
pub fn verify_submission(
    envelope: &Envelope,
    keys: &dyn KeyLookup,
) -> Result<VerifiedSubmission, SubmissionError> {
    verify_submission_with(envelope, keys, &SubmissionCheck::default())
}

/// As [`verify_submission`], and the signer must also be `peer`, the identity
/// the connection authenticated (client certificate).
pub fn verify_submission_from(
    envelope: &Envelope,
    keys: &dyn KeyLookup,
    peer: &KeyId,
) -> Result<VerifiedSubmission, SubmissionError> {
    let check = SubmissionCheck {
        peer: Some(peer),
        ..SubmissionCheck::default()
    };
    verify_submission_with(envelope, keys, &check)
}

/// The general form of [`verify_submission`].
pub fn verify_submission_with(
    envelope: &Envelope,
    keys: &dyn KeyLookup,
    check: &SubmissionCheck<'_>,
) -> Result<VerifiedSubmission, SubmissionError> {
    if envelope.signatures.len() != 1 {
        return Err(SubmissionError::SignerCount(envelope.signatures.len()));
    }
    let verified = envelope.verify_with(SUBMISSION_PAYLOAD_TYPE, keys, 1, &check.limits)?;
    let submission = Submission::decode(verified.payload)?;
    let signer = verified
        .signers
        .into_iter()
        .next()
        .ok_or(EnvelopeError::TooFewSignatures {
            needed: 1,
            valid: 0,
        })?;
    if submission.node_id != signer {
        return Err(SubmissionError::IdentityMismatch {
            payload: submission.node_id,
            signer,
        });
    }
    if let Some(peer) = check.peer
        && *peer != signer
    {
        return Err(SubmissionError::PeerMismatch {
            signer,
            peer: peer.clone(),
        });
    }
    Ok(VerifiedSubmission {
        submission,
        digest: verified.digest,
        node_id: signer,
    })
}

impl TryFrom<pb::PackIdentity> for PackIdentity {
    type Error = FieldError;
    fn try_from(m: pb::PackIdentity) -> Result<Self, FieldError> {
        Ok(PackIdentity {
            id: identifier("id", m.id)?,
            year: validate::year("year", m.year)?,
            version: match m.version {
                0 => return Err(FieldError::new("version", Problem::Missing)),
                v => v,
            },
            module_sha256: validate::hash32("module_sha256", &m.module_sha256)?,
        })
    }
}

impl From<&PackIdentity> for pb::PackIdentity {
    fn from(p: &PackIdentity) -> Self {
        pb::PackIdentity {
            id: p.id.clone(),
            year: p.year.into(),
            version: p.version,
            module_sha256: p.module_sha256.to_vec(),
        }
    }
}

impl TryFrom<pb::MethodBlock> for MethodBlock {
    type Error = FieldError;
    fn try_from(m: pb::MethodBlock) -> Result<Self, FieldError> {
        let mut block = MethodBlock {
            method_id: identifier("method_id", m.method_id)?,
            ..MethodBlock::default()
        };
        for (i, e) in m.evidence.into_iter().enumerate() {
            let field = format!("evidence[{i}].field_id");
            let id = identifier(&field, e.field_id)?;
            insert_unique(&mut block.evidence, &field, id, e.value)?;
        }
        for (i, s) in m.scores.into_iter().enumerate() {
            let field = format!("scores[{i}].indicator_id");
            let id = identifier(&field, s.indicator_id)?;
            insert_unique(&mut block.scores, &field, id, s.score)?;
        }
        for (i, c) in m.clauses.into_iter().enumerate() {
            let field = format!("clauses[{i}].clause_id");
            let id = identifier(&field, c.clause_id)?;
            let reason =
                validate::text(&format!("clauses[{i}].reason"), c.reason, MAX_REASON_CHARS)?;
            let clause = FiredClause {
                amount: c.amount,
                reason,
            };
            insert_unique(&mut block.clauses, &field, id, clause)?;
        }
        for (i, n) in m.not_applicable.into_iter().enumerate() {
            let field = format!("not_applicable[{i}].indicator_id");
            let id = identifier(&field, n.indicator_id)?;
            let reason = validate::text(
                &format!("not_applicable[{i}].reason"),
                n.reason,
                MAX_REASON_CHARS,
            )?;
            insert_unique(&mut block.not_applicable, &field, id, reason)?;
        }
        Ok(block)
    }
}

fn insert_unique<V>(
    map: &mut BTreeMap<String, V>,
    field: &str,
    key: String,
    value: V,
) -> Result<(), FieldError> {
    match map.entry(key) {
        std::collections::btree_map::Entry::Occupied(e) => {
            Err(FieldError::new(field, Problem::Duplicate(e.key().clone())))
        }
        std::collections::btree_map::Entry::Vacant(e) => {
            e.insert(value);
            Ok(())
        }
    }
}

impl From<&MethodBlock> for pb::MethodBlock {
    fn from(b: &MethodBlock) -> Self {
        pb::MethodBlock {
            method_id: b.method_id.clone(),
            evidence: b
                .evidence
                .iter()
                .map(|(id, value)| pb::EvidenceValue {
                    field_id: id.clone(),
                    value: *value,
                })
                .collect(),
            scores: b
                .scores
                .iter()
                .map(|(id, score)| pb::IndicatorScore {
                    indicator_id: id.clone(),
                    score: *score,
                })
                .collect(),
            clauses: b
                .clauses
                .iter()
                .map(|(id, c)| pb::FiredClause {
                    clause_id: id.clone(),
                    amount: c.amount,
                    reason: c.reason.clone(),
                })
                .collect(),
            not_applicable: b
                .not_applicable
                .iter()
                .map(|(id, reason)| pb::NotApplicable {
                    indicator_id: id.clone(),
                    reason: reason.clone(),
                })
                .collect(),
        }
    }
}

impl TryFrom<pb::Submission> for Submission {
    type Error = FieldError;
    fn try_from(m: pb::Submission) -> Result<Self, FieldError> {
        let pack =
            PackIdentity::try_from(required("pack", m.pack)?).map_err(|e| e.within("pack"))?;
        let unit_id = identifier("unit_id", m.unit_id)?;
        let year = validate::year("year", m.year)?;
        if pack.year != year {
            return Err(FieldError::invalid(
                "pack.year",
                format!("规则包年度 {} 与提交年度 {year} 不符", pack.year),
                format!(
                    "pack year {} differs from the submission year {year}",
                    pack.year
                ),
            ));
        }
        let round = Round::from_wire("round", m.round)?;
        let node_id = KeyId::from_str(&m.node_id).map_err(|_| {
            FieldError::invalid(
                "node_id",
                "须为 32 个小写十六进制字符的密钥编号",
                "must be a key id of 32 lowercase hex characters",
            )
        })?;
        if m.sequence == 0 {
            return Err(FieldError::new("sequence", Problem::Missing));
        }
        if m.created_at < 0 {
            return Err(FieldError::new(
                "created_at",
                Problem::OutOfRange {
                    min: 0,
                    max: i64::MAX,
                    got: m.created_at,
                },
            ));
        }
        if m.methods.is_empty() {
            return Err(FieldError::new("methods", Problem::Missing));
        }
        validate::at_most("methods", &m.methods, MAX_METHODS)?;
        let mut methods: Vec<MethodBlock> = Vec::with_capacity(m.methods.len());
        for (i, block) in m.methods.into_iter().enumerate() {
            let block =
                MethodBlock::try_from(block).map_err(|e| e.within(format!("methods[{i}]")))?;
            if methods.iter().any(|b| b.method_id == block.method_id) {
                return Err(FieldError::new(
                    format!("methods[{i}].method_id"),
                    Problem::Duplicate(block.method_id),
                ));
            }
            methods.push(block);
        }
        Ok(Submission {
            pack,
            unit_id,
            year,
            round,
            node_id,
            sequence: m.sequence,
            created_at: m.created_at,
            methods,
        })
    }
}

impl From<&Submission> for pb::Submission {
    fn from(s: &Submission) -> Self {
        pb::Submission {
            pack: Some(pb::PackIdentity::from(&s.pack)),
            unit_id: s.unit_id.clone(),
            year: s.year.into(),
            round: s.round.to_wire(),
            node_id: s.node_id.to_string(),
            sequence: s.sequence,
            created_at: s.created_at,
            methods: s.methods.iter().map(pb::MethodBlock::from).collect(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
