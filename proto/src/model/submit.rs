//! Submitting: why the hub refused a submission ([`Rejection`] and its
//! gRPC status), the outcomes of a `SubmitStream` call and `GetReceipt`.

use super::{FIELD_METADATA_KEY, MAX_NAME_CHARS, MAX_TEXT_CHARS, REJECTION_METADATA_KEY};
use crate::envelope::{Digest, EnvelopeError};
use crate::pb;
use crate::receipt::Receipt;
use crate::submission::SubmissionError;
use crate::validate::{FieldError, Problem, optional_text, required, text};

/// Why the hub refused one submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectionCode {
    /// Malformed or fails validation.
    Invalid,
    /// No signature verifies, or one from a known key fails.
    BadSignature,
    /// Signed by a key the hub does not know or has revoked.
    UnknownKey,
    /// The identity in the payload differs from the authenticated one.
    IdentityMismatch,
    /// Unit, method or year outside the node's delegated scope.
    OutOfScope,
    /// Not computed with the pack the hub accepts for that year.
    PackMismatch,
    /// Replaying the pack on the evidence gives other scores.
    ReplayMismatch,
    /// An older sequence number than one already accepted.
    Stale,
    /// The same sequence number with different content.
    SequenceReused,
    /// The round's results are approved; nothing more is accepted.
    Closed,
    /// Larger than the hub accepts.
    TooLarge,
}

impl RejectionCode {
    /// The gRPC status code a unary call answers with.
    pub fn grpc_code(self) -> tonic::Code {
        use tonic::Code;
        match self {
            RejectionCode::Invalid | RejectionCode::ReplayMismatch | RejectionCode::TooLarge => {
                Code::InvalidArgument
            }
            RejectionCode::BadSignature | RejectionCode::UnknownKey => Code::Unauthenticated,
            RejectionCode::IdentityMismatch | RejectionCode::OutOfScope => Code::PermissionDenied,
            RejectionCode::PackMismatch | RejectionCode::Stale | RejectionCode::Closed => {
                Code::FailedPrecondition
            }
            RejectionCode::SequenceReused => Code::AlreadyExists,
        }
    }

    fn to_pb(self) -> pb::RejectionCode {
        use pb::RejectionCode as P;
        match self {
            RejectionCode::Invalid => P::Invalid,
            RejectionCode::BadSignature => P::BadSignature,
            RejectionCode::UnknownKey => P::UnknownKey,
            RejectionCode::IdentityMismatch => P::IdentityMismatch,
            RejectionCode::OutOfScope => P::OutOfScope,
            RejectionCode::PackMismatch => P::PackMismatch,
            RejectionCode::ReplayMismatch => P::ReplayMismatch,
            RejectionCode::Stale => P::Stale,
            RejectionCode::SequenceReused => P::SequenceReused,
            RejectionCode::Closed => P::Closed,
            RejectionCode::TooLarge => P::TooLarge,
        }
    }

    fn from_pb(p: pb::RejectionCode) -> Option<RejectionCode> {
        use pb::RejectionCode as P;
        Some(match p {
            P::Unspecified => return None,
            P::Invalid => RejectionCode::Invalid,
            P::BadSignature => RejectionCode::BadSignature,
            P::UnknownKey => RejectionCode::UnknownKey,
            P::IdentityMismatch => RejectionCode::IdentityMismatch,
            P::OutOfScope => RejectionCode::OutOfScope,
            P::PackMismatch => RejectionCode::PackMismatch,
            P::ReplayMismatch => RejectionCode::ReplayMismatch,
            P::Stale => RejectionCode::Stale,
            P::SequenceReused => RejectionCode::SequenceReused,
            P::Closed => RejectionCode::Closed,
            P::TooLarge => RejectionCode::TooLarge,
        })
    }

    /// The wire name, e.g. `REJECTION_CODE_STALE`.
    pub fn wire_name(self) -> &'static str {
        self.to_pb().as_str_name()
    }
}

/// One refused submission: a code, a message an official can act on
/// (Chinese first, English beside) and the field at fault, if one is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Why.
    pub code: RejectionCode,
    /// What and where, in both languages.
    pub message: String,
    /// Path of the offending field.
    pub field: Option<String>,
}

impl Rejection {
    /// A rejection not tied to one field.
    pub fn new(code: RejectionCode, message: impl Into<String>) -> Rejection {
        Rejection {
            code,
            message: message.into(),
            field: None,
        }
    }

    /// The status a unary `Submit` answers with: the code's gRPC code, the
    /// message, and the rejection code (and field) in metadata so the
    /// client can recover it with [`Rejection::from_status`].
    pub fn to_status(&self) -> tonic::Status {
        let mut metadata = tonic::metadata::MetadataMap::new();
        metadata.insert(
            REJECTION_METADATA_KEY,
            tonic::metadata::MetadataValue::from_static(self.code.wire_name()),
        );
        if let Some(value) = self.field.as_deref().and_then(|f| f.parse().ok()) {
            metadata.insert(FIELD_METADATA_KEY, value);
        }
        tonic::Status::with_metadata(self.code.grpc_code(), self.message.clone(), metadata)
    }

    /// The rejection an error status carries, if it carries one.
    pub fn from_status(status: &tonic::Status) -> Option<Rejection> {
        let name = status
            .metadata()
            .get(REJECTION_METADATA_KEY)?
            .to_str()
            .ok()?;
        let code = RejectionCode::from_pb(pb::RejectionCode::from_str_name(name)?)?;
        let field = status
            .metadata()
            .get(FIELD_METADATA_KEY)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Some(Rejection {
            code,
            message: status.message().to_owned(),
            field,
        })
    }
}

impl From<Rejection> for tonic::Status {
    fn from(r: Rejection) -> Self {
        r.to_status()
    }
}

impl From<&EnvelopeError> for Rejection {
    fn from(e: &EnvelopeError) -> Self {
        let (code, field) = match e {
            EnvelopeError::WrongPayloadType { .. } => (RejectionCode::Invalid, "payload_type"),
            EnvelopeError::TruncatedPayload => (RejectionCode::Invalid, "payload"),
            EnvelopeError::OversizePayload { .. } => (RejectionCode::TooLarge, "payload"),
            EnvelopeError::TooManySignatures { .. } => (RejectionCode::TooLarge, "signatures"),
            EnvelopeError::DuplicateSigner(_)
            | EnvelopeError::BadSignature(_)
            | EnvelopeError::TooFewSignatures { .. } => (RejectionCode::BadSignature, "signatures"),
            EnvelopeError::UnknownKey(_) => (RejectionCode::UnknownKey, "signatures"),
        };
        Rejection {
            code,
            message: e.to_string(),
            field: Some(field.to_owned()),
        }
    }
}

impl From<&SubmissionError> for Rejection {
    fn from(e: &SubmissionError) -> Self {
        let (code, field) = match e {
            SubmissionError::Envelope(inner) => return Rejection::from(inner),
            SubmissionError::SignerCount(_) => (RejectionCode::BadSignature, Some("signatures")),
            SubmissionError::Decode(_) => (RejectionCode::Invalid, Some("payload")),
            SubmissionError::Invalid(f) => {
                return Rejection {
                    code: RejectionCode::Invalid,
                    message: e.to_string(),
                    field: Some(format!("submission.{}", f.field)),
                };
            }
            SubmissionError::IdentityMismatch { .. } => {
                (RejectionCode::IdentityMismatch, Some("submission.node_id"))
            }
            SubmissionError::PeerMismatch { .. } => (RejectionCode::IdentityMismatch, None),
        };
        Rejection {
            code,
            message: e.to_string(),
            field: field.map(str::to_owned),
        }
    }
}

impl From<FieldError> for Rejection {
    /// A wire envelope that does not convert (e.g. a 63-byte signature).
    fn from(e: FieldError) -> Self {
        Rejection {
            code: RejectionCode::Invalid,
            message: e.to_string(),
            field: Some(e.field),
        }
    }
}

impl From<SubmissionError> for tonic::Status {
    fn from(e: SubmissionError) -> Self {
        Rejection::from(&e).to_status()
    }
}

impl From<EnvelopeError> for tonic::Status {
    fn from(e: EnvelopeError) -> Self {
        Rejection::from(&e).to_status()
    }
}

impl TryFrom<pb::Rejection> for Rejection {
    type Error = FieldError;
    fn try_from(m: pb::Rejection) -> Result<Self, FieldError> {
        let code = match pb::RejectionCode::try_from(m.code) {
            Ok(p) => RejectionCode::from_pb(p).ok_or(FieldError::new("code", Problem::Missing))?,
            Err(_) => return Err(FieldError::new("code", Problem::UnknownEnum(m.code))),
        };
        Ok(Rejection {
            code,
            message: text("message", m.message, MAX_TEXT_CHARS)?,
            field: optional_text("field", m.field, MAX_NAME_CHARS)?,
        })
    }
}

impl From<Rejection> for pb::Rejection {
    fn from(r: Rejection) -> Self {
        pb::Rejection {
            code: r.code.to_pb() as i32,
            message: r.message,
            field: r.field.unwrap_or_default(),
        }
    }
}

/// The outcome of one envelope of a `SubmitStream` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitOutcome {
    /// 0-based position of the envelope in the request stream.
    pub index: u64,
    /// Digest of the envelope as received.
    pub digest: Digest,
    /// The receipt, or why the envelope was refused.
    pub result: Result<Receipt, Rejection>,
}

/// Outcomes settled by one committed batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptChunk {
    /// In any order; `index` says which envelope each is for.
    pub outcomes: Vec<SubmitOutcome>,
}

impl TryFrom<pb::SubmitOutcome> for SubmitOutcome {
    type Error = FieldError;
    fn try_from(m: pb::SubmitOutcome) -> Result<Self, FieldError> {
        use pb::submit_outcome::Outcome;
        let result = match required("outcome", m.outcome)? {
            Outcome::Receipt(r) => Ok(Receipt::try_from(r).map_err(|e| e.within("receipt"))?),
            Outcome::Rejection(r) => {
                Err(Rejection::try_from(r).map_err(|e| e.within("rejection"))?)
            }
        };
        Ok(SubmitOutcome {
            index: m.index,
            digest: Digest::from_field("digest", &m.digest)?,
            result,
        })
    }
}

impl From<SubmitOutcome> for pb::SubmitOutcome {
    fn from(o: SubmitOutcome) -> Self {
        use pb::submit_outcome::Outcome;
        pb::SubmitOutcome {
            index: o.index,
            digest: o.digest.0.to_vec(),
            outcome: Some(match o.result {
                Ok(r) => Outcome::Receipt(r.into()),
                Err(r) => Outcome::Rejection(r.into()),
            }),
        }
    }
}

impl TryFrom<pb::ReceiptChunk> for ReceiptChunk {
    type Error = FieldError;
    fn try_from(m: pb::ReceiptChunk) -> Result<Self, FieldError> {
        let outcomes = m
            .outcomes
            .into_iter()
            .enumerate()
            .map(|(i, o)| {
                SubmitOutcome::try_from(o).map_err(|e| e.within(format!("outcomes[{i}]")))
            })
            .collect::<Result<_, _>>()?;
        Ok(ReceiptChunk { outcomes })
    }
}

impl From<ReceiptChunk> for pb::ReceiptChunk {
    fn from(c: ReceiptChunk) -> Self {
        pb::ReceiptChunk {
            outcomes: c.outcomes.into_iter().map(Into::into).collect(),
        }
    }
}

/// `GetReceipt`: the receipt of this submission digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetReceiptRequest {
    /// The submission digest.
    pub digest: Digest,
}

impl TryFrom<pb::GetReceiptRequest> for GetReceiptRequest {
    type Error = FieldError;
    fn try_from(m: pb::GetReceiptRequest) -> Result<Self, FieldError> {
        Ok(GetReceiptRequest {
            digest: Digest::from_field("digest", &m.digest)?,
        })
    }
}

impl From<GetReceiptRequest> for pb::GetReceiptRequest {
    fn from(r: GetReceiptRequest) -> Self {
        pb::GetReceiptRequest {
            digest: r.digest.0.to_vec(),
        }
    }
}
