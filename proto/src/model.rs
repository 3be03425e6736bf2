//! The validated model of the RPC messages that are not signed payloads:
//! packs, units, results, objections, and the outcomes of submitting.
//!
//! **API Boundary:** servers and clients convert each `pb::X` they receive
//! into the model type here with `TryFrom` (junk is refused at that point,
//! naming the field) and build replies with `From<model> for pb::X`.
//! Logic never sees a generated type.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

use crate::envelope::{DEFAULT_MAX_PAYLOAD_BYTES, Digest, Envelope, EnvelopeError};
use crate::keys::KeyId;
use crate::pb;
use crate::receipt::Receipt;
use crate::submission::{PackIdentity, Round, SubmissionError};
use crate::validate::{
    self, FieldError, Problem, identifier, optional_identifier, optional_text, required, text,
};

/// Largest pack module the hub serves in one `FetchPack` reply.
pub const MAX_PACK_MODULE_BYTES: usize = 16 * 1024 * 1024;
/// gRPC message limit for `FetchPack` replies (module plus envelope and
/// framing): clients set `max_decoding_message_size` to this.
pub const MAX_FETCH_PACK_MESSAGE_BYTES: usize = MAX_PACK_MODULE_BYTES + 1024 * 1024;
/// gRPC message limit for one `Envelope` (default payload cap plus room for
/// type and signatures): the hub sets `max_decoding_message_size` to this.
pub const MAX_ENVELOPE_MESSAGE_BYTES: usize = DEFAULT_MAX_PAYLOAD_BYTES + 64 * 1024;
/// Largest objection material, in bytes.
pub const MAX_OBJECTION_MATERIAL_BYTES: u64 = 20 * 1024 * 1024;
/// Largest material chunk in one `ObjectionPart`.
pub const MAX_OBJECTION_CHUNK_BYTES: usize = 1024 * 1024;
/// Chunk size [`Objection::into_parts`] uses.
pub const OBJECTION_CHUNK_BYTES: usize = 256 * 1024;
/// Longest human text (reasons, names) in characters.
const MAX_TEXT_CHARS: usize = 2000;
/// Longest name (unit name, file name) in characters.
const MAX_NAME_CHARS: usize = 200;
/// gRPC metadata key carrying a rejection's code on an error status.
pub const REJECTION_METADATA_KEY: &str = "kaohe-rejection";
/// gRPC metadata key carrying a rejection's field on an error status.
pub const FIELD_METADATA_KEY: &str = "kaohe-field";

// ---------------------------------------------------------------- dates --

/// A civil date (deadlines, in the county's calendar).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

impl Date {
    /// The date, if it exists (years 1000..=9999).
    pub fn new(year: u16, month: u8, day: u8) -> Option<Date> {
        let leap =
            year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
        let days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return None,
        };
        ((1000..=9999).contains(&year) && (1..=days).contains(&day)).then_some(Date {
            year,
            month,
            day,
        })
    }

    /// The year.
    pub fn year(self) -> u16 {
        self.year
    }

    /// The month, 1..=12.
    pub fn month(self) -> u8 {
        self.month
    }

    /// The day of the month, 1..=31.
    pub fn day(self) -> u8 {
        self.day
    }
}

impl fmt::Display for Date {
    /// `YYYY-MM-DD`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl TryFrom<pb::Date> for Date {
    type Error = FieldError;
    fn try_from(m: pb::Date) -> Result<Self, FieldError> {
        let parts = (
            u16::try_from(m.year),
            u8::try_from(m.month),
            u8::try_from(m.day),
        );
        match parts {
            (Ok(y), Ok(mo), Ok(d)) => Date::new(y, mo, d),
            _ => None,
        }
        .ok_or_else(|| {
            FieldError::invalid(
                "",
                format!("{}-{}-{} 不是有效日期", m.year, m.month, m.day),
                format!("{}-{}-{} is not a valid date", m.year, m.month, m.day),
            )
        })
    }
}

impl From<Date> for pb::Date {
    fn from(d: Date) -> Self {
        pb::Date {
            year: d.year.into(),
            month: d.month.into(),
            day: d.day.into(),
        }
    }
}

fn optional_date(field: &str, m: Option<pb::Date>) -> Result<Option<Date>, FieldError> {
    m.map(|d| {
        Date::try_from(d).map_err(|mut e| {
            e.field = field.to_owned();
            e
        })
    })
    .transpose()
}

// ----------------------------------------------------------- submitting --

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

// ---------------------------------------------------------------- packs --

/// `ListPacks`: every pack, or those of one year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ListPacksRequest {
    /// Only this year.
    pub year: Option<u16>,
}

/// One pack the hub holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackSummary {
    /// Which pack.
    pub identity: PackIdentity,
    /// The version the hub accepts submissions for in that year.
    pub current: bool,
    /// Module size in bytes.
    pub module_size: u64,
}

/// The packs the hub holds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListPacksResponse {
    /// Newest first within a year.
    pub packs: Vec<PackSummary>,
}

/// `FetchPack`: one pack, by id, year and version (or the current version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchPackRequest {
    /// Pack id.
    pub id: String,
    /// Year.
    pub year: u16,
    /// `None` asks for the current version.
    pub version: Option<u32>,
}

/// A fetched pack: the module whose hash matches its identity, and the
/// authorities' signature envelope, not yet verified (the node verifies k of
/// n before activating).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedPack {
    /// Which pack.
    pub identity: PackIdentity,
    /// The WebAssembly module.
    pub module: Vec<u8>,
    /// The pack authorities' signatures.
    pub signature: Envelope,
}

fn optional_year(field: &str, year: u32) -> Result<Option<u16>, FieldError> {
    if year == 0 {
        Ok(None)
    } else {
        validate::year(field, year).map(Some)
    }
}

fn pack_identity(field: &str, m: Option<pb::PackIdentity>) -> Result<PackIdentity, FieldError> {
    PackIdentity::try_from(required(field, m)?).map_err(|e| e.within(field))
}

impl TryFrom<pb::ListPacksRequest> for ListPacksRequest {
    type Error = FieldError;
    fn try_from(m: pb::ListPacksRequest) -> Result<Self, FieldError> {
        Ok(ListPacksRequest {
            year: optional_year("year", m.year)?,
        })
    }
}

impl From<ListPacksRequest> for pb::ListPacksRequest {
    fn from(r: ListPacksRequest) -> Self {
        pb::ListPacksRequest {
            year: r.year.map_or(0, u32::from),
        }
    }
}

impl TryFrom<pb::ListPacksResponse> for ListPacksResponse {
    type Error = FieldError;
    fn try_from(m: pb::ListPacksResponse) -> Result<Self, FieldError> {
        let packs = m
            .packs
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                Ok(PackSummary {
                    identity: pack_identity(&format!("packs[{i}].identity"), p.identity)?,
                    current: p.current,
                    module_size: p.module_size,
                })
            })
            .collect::<Result<_, FieldError>>()?;
        Ok(ListPacksResponse { packs })
    }
}

impl From<ListPacksResponse> for pb::ListPacksResponse {
    fn from(r: ListPacksResponse) -> Self {
        pb::ListPacksResponse {
            packs: r
                .packs
                .into_iter()
                .map(|p| pb::PackSummary {
                    identity: Some((&p.identity).into()),
                    current: p.current,
                    module_size: p.module_size,
                })
                .collect(),
        }
    }
}

impl TryFrom<pb::FetchPackRequest> for FetchPackRequest {
    type Error = FieldError;
    fn try_from(m: pb::FetchPackRequest) -> Result<Self, FieldError> {
        Ok(FetchPackRequest {
            id: identifier("id", m.id)?,
            year: validate::year("year", m.year)?,
            version: (m.version != 0).then_some(m.version),
        })
    }
}

impl From<FetchPackRequest> for pb::FetchPackRequest {
    fn from(r: FetchPackRequest) -> Self {
        pb::FetchPackRequest {
            id: r.id,
            year: r.year.into(),
            version: r.version.unwrap_or(0),
        }
    }
}

impl TryFrom<pb::FetchPackResponse> for FetchedPack {
    type Error = FieldError;
    fn try_from(m: pb::FetchPackResponse) -> Result<Self, FieldError> {
        let identity = pack_identity("identity", m.identity)?;
        if m.module.is_empty() {
            return Err(FieldError::new("module", Problem::Missing));
        }
        if m.module.len() > MAX_PACK_MODULE_BYTES {
            return Err(FieldError::invalid(
                "module",
                format!(
                    "模块 {} 字节，超过上限 {MAX_PACK_MODULE_BYTES} 字节",
                    m.module.len()
                ),
                format!(
                    "module of {} bytes exceeds the {MAX_PACK_MODULE_BYTES}-byte limit",
                    m.module.len()
                ),
            ));
        }
        if <[u8; 32]>::from(Sha256::digest(&m.module)) != identity.module_sha256 {
            return Err(FieldError::invalid(
                "module",
                "模块的 SHA-256 与 identity.module_sha256 不符",
                "module SHA-256 differs from identity.module_sha256",
            ));
        }
        let signature = Envelope::try_from(required("signature", m.signature)?)
            .map_err(|e| e.within("signature"))?;
        Ok(FetchedPack {
            identity,
            module: m.module,
            signature,
        })
    }
}

impl From<FetchedPack> for pb::FetchPackResponse {
    fn from(p: FetchedPack) -> Self {
        pb::FetchPackResponse {
            identity: Some((&p.identity).into()),
            module: p.module,
            signature: Some(p.signature.into()),
        }
    }
}

// ---------------------------------------------------------------- units --

/// `ListMyUnits`: the caller's scope, for one year or every year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ListMyUnitsRequest {
    /// Only this year.
    pub year: Option<u16>,
}

/// One assessee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// Identifier.
    pub unit_id: String,
    /// Chinese name, as published.
    pub name: String,
    /// Category id from the rule pack.
    pub category_id: String,
    /// Parent unit, if any.
    pub parent_id: Option<String>,
    /// Supervising department (stationed units), if any.
    pub supervising_dept: Option<String>,
}

/// The calling node's delegated scope: these units × methods × years.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListMyUnitsResponse {
    /// The identity the hub authenticated the caller as.
    pub node_id: KeyId,
    /// Units in scope, each once.
    pub units: Vec<Unit>,
    /// Methods in scope, each once.
    pub method_ids: Vec<String>,
    /// Years in scope, each once.
    pub years: Vec<u16>,
}

impl ListMyUnitsResponse {
    /// Whether the scope covers this unit, method and year.
    pub fn covers(&self, unit_id: &str, method_id: &str, year: u16) -> bool {
        self.years.contains(&year)
            && self.method_ids.iter().any(|m| m == method_id)
            && self.units.iter().any(|u| u.unit_id == unit_id)
    }
}

impl TryFrom<pb::ListMyUnitsRequest> for ListMyUnitsRequest {
    type Error = FieldError;
    fn try_from(m: pb::ListMyUnitsRequest) -> Result<Self, FieldError> {
        Ok(ListMyUnitsRequest {
            year: optional_year("year", m.year)?,
        })
    }
}

impl From<ListMyUnitsRequest> for pb::ListMyUnitsRequest {
    fn from(r: ListMyUnitsRequest) -> Self {
        pb::ListMyUnitsRequest {
            year: r.year.map_or(0, u32::from),
        }
    }
}

impl TryFrom<pb::Unit> for Unit {
    type Error = FieldError;
    fn try_from(m: pb::Unit) -> Result<Self, FieldError> {
        Ok(Unit {
            unit_id: identifier("unit_id", m.unit_id)?,
            name: text("name", m.name, MAX_NAME_CHARS)?,
            category_id: identifier("category_id", m.category_id)?,
            parent_id: optional_identifier("parent_id", m.parent_id)?,
            supervising_dept: optional_text(
                "supervising_dept",
                m.supervising_dept,
                MAX_NAME_CHARS,
            )?,
        })
    }
}

impl From<Unit> for pb::Unit {
    fn from(u: Unit) -> Self {
        pb::Unit {
            unit_id: u.unit_id,
            name: u.name,
            category_id: u.category_id,
            parent_id: u.parent_id.unwrap_or_default(),
            supervising_dept: u.supervising_dept.unwrap_or_default(),
        }
    }
}

/// Refuses the second occurrence of a key.
fn unique<'a>(
    seen: &mut HashSet<String>,
    field: String,
    key: &'a str,
) -> Result<&'a str, FieldError> {
    if seen.insert(key.to_owned()) {
        Ok(key)
    } else {
        Err(FieldError::new(field, Problem::Duplicate(key.to_owned())))
    }
}

impl TryFrom<pb::ListMyUnitsResponse> for ListMyUnitsResponse {
    type Error = FieldError;
    fn try_from(m: pb::ListMyUnitsResponse) -> Result<Self, FieldError> {
        let node_id = KeyId::from_str(&m.node_id).map_err(|_| {
            FieldError::invalid(
                "node_id",
                "须为 32 个小写十六进制字符的密钥标识",
                "must be a key id of 32 lowercase hex characters",
            )
        })?;
        let mut seen = HashSet::new();
        let mut units = Vec::with_capacity(m.units.len());
        for (i, u) in m.units.into_iter().enumerate() {
            let unit = Unit::try_from(u).map_err(|e| e.within(format!("units[{i}]")))?;
            unique(&mut seen, format!("units[{i}].unit_id"), &unit.unit_id)?;
            units.push(unit);
        }
        let mut seen = HashSet::new();
        let mut method_ids = Vec::with_capacity(m.method_ids.len());
        for (i, id) in m.method_ids.into_iter().enumerate() {
            let field = format!("method_ids[{i}]");
            let id = identifier(&field, id)?;
            unique(&mut seen, field, &id)?;
            method_ids.push(id);
        }
        let mut seen = HashSet::new();
        let mut years = Vec::with_capacity(m.years.len());
        for (i, y) in m.years.into_iter().enumerate() {
            let field = format!("years[{i}]");
            let year = validate::year(&field, y)?;
            unique(&mut seen, field, &year.to_string())?;
            years.push(year);
        }
        Ok(ListMyUnitsResponse {
            node_id,
            units,
            method_ids,
            years,
        })
    }
}

impl From<ListMyUnitsResponse> for pb::ListMyUnitsResponse {
    fn from(r: ListMyUnitsResponse) -> Self {
        pb::ListMyUnitsResponse {
            node_id: r.node_id.into(),
            units: r.units.into_iter().map(Into::into).collect(),
            method_ids: r.method_ids,
            years: r.years.into_iter().map(u32::from).collect(),
        }
    }
}

// -------------------------------------------------------------- results --

/// `ListResults`: the caller's units' results for a year, one round or all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListResultsRequest {
    /// Year.
    pub year: u16,
    /// Only this round.
    pub round: Option<Round>,
}

/// 等次: the grade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Grade {
    /// 优秀.
    Excellent,
    /// 良好.
    Good,
    /// 合格.
    Pass,
    /// 不合格.
    Fail,
}

impl Grade {
    /// The Chinese name.
    pub fn name_zh(self) -> &'static str {
        match self {
            Grade::Excellent => "优秀",
            Grade::Good => "良好",
            Grade::Pass => "合格",
            Grade::Fail => "不合格",
        }
    }
}

/// Where a result stands in the workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResultStatus {
    /// Nothing reported: not assessed, never 0.
    NotAssessed,
    /// Consolidated, not yet sent for verification.
    Provisional,
    /// The verification window (核实) is open.
    Verification,
    /// A review (复核) is pending.
    Review,
    /// Approved (审定).
    Approved,
    /// Published (公布).
    Published,
}

impl ResultStatus {
    /// The Chinese name.
    pub fn name_zh(self) -> &'static str {
        match self {
            ResultStatus::NotAssessed => "未考核",
            ResultStatus::Provisional => "初步结果",
            ResultStatus::Verification => "核实中",
            ResultStatus::Review => "复核中",
            ResultStatus::Approved => "已审定",
            ResultStatus::Published => "已公布",
        }
    }
}

/// A unit's scores, in hundredths of a point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scores {
    /// Points applicable to the unit's category.
    pub applicable: i64,
    /// Sum of scored indicators.
    pub raw: i64,
    /// Raw normalised to 100 (换算).
    pub converted: i64,
    /// Bonus after its cap.
    pub bonus: i64,
    /// Penalty after its cap (or the recorded override).
    pub penalty: i64,
    /// `converted + bonus − penalty`.
    pub total: i64,
}

/// One reason a score moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultReason {
    /// The indicator.
    pub indicator_id: String,
    /// The clause that fired, if one did.
    pub clause_id: Option<String>,
    /// Hundredths of a point.
    pub amount: i64,
    /// The reason in Chinese.
    pub text: String,
}

/// A rank within the unit's category: `position` of `of`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rank {
    /// 1-based; ties share a position.
    pub position: u32,
    /// Ranked units in the category.
    pub of: u32,
}

/// A unit's result for a year and round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitResult {
    /// The assessee.
    pub unit_id: String,
    /// Year.
    pub year: u16,
    /// Round.
    pub round: Round,
    /// Workflow state.
    pub status: ResultStatus,
    /// `None` exactly when not assessed.
    pub scores: Option<Scores>,
    /// `None` until graded.
    pub grade: Option<Grade>,
    /// `None` when the category is not ranked.
    pub rank: Option<Rank>,
    /// Why scores moved.
    pub reasons: Vec<ResultReason>,
    /// Last working day to verify the result.
    pub verification_deadline: Option<Date>,
    /// Last working day to request a review.
    pub review_deadline: Option<Date>,
}

/// The caller's units' results.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListResultsResponse {
    /// One per unit and round.
    pub results: Vec<UnitResult>,
}

impl TryFrom<pb::ListResultsRequest> for ListResultsRequest {
    type Error = FieldError;
    fn try_from(m: pb::ListResultsRequest) -> Result<Self, FieldError> {
        Ok(ListResultsRequest {
            year: validate::year("year", m.year)?,
            round: if m.round == pb::Round::Unspecified as i32 {
                None
            } else {
                Some(Round::from_wire("round", m.round)?)
            },
        })
    }
}

impl From<ListResultsRequest> for pb::ListResultsRequest {
    fn from(r: ListResultsRequest) -> Self {
        pb::ListResultsRequest {
            year: r.year.into(),
            round: r
                .round
                .map_or(pb::Round::Unspecified as i32, Round::to_wire),
        }
    }
}

fn grade_from_wire(field: &str, v: i32) -> Result<Option<Grade>, FieldError> {
    match pb::Grade::try_from(v) {
        Ok(pb::Grade::Unspecified) => Ok(None),
        Ok(pb::Grade::Excellent) => Ok(Some(Grade::Excellent)),
        Ok(pb::Grade::Good) => Ok(Some(Grade::Good)),
        Ok(pb::Grade::Pass) => Ok(Some(Grade::Pass)),
        Ok(pb::Grade::Fail) => Ok(Some(Grade::Fail)),
        Err(_) => Err(FieldError::new(field, Problem::UnknownEnum(v))),
    }
}

fn grade_to_wire(g: Option<Grade>) -> i32 {
    let g = match g {
        None => pb::Grade::Unspecified,
        Some(Grade::Excellent) => pb::Grade::Excellent,
        Some(Grade::Good) => pb::Grade::Good,
        Some(Grade::Pass) => pb::Grade::Pass,
        Some(Grade::Fail) => pb::Grade::Fail,
    };
    g as i32
}

fn status_from_wire(field: &str, v: i32) -> Result<ResultStatus, FieldError> {
    use pb::ResultStatus as P;
    match P::try_from(v) {
        Ok(P::Unspecified) => Err(FieldError::new(field, Problem::Missing)),
        Ok(P::NotAssessed) => Ok(ResultStatus::NotAssessed),
        Ok(P::Provisional) => Ok(ResultStatus::Provisional),
        Ok(P::Verification) => Ok(ResultStatus::Verification),
        Ok(P::Review) => Ok(ResultStatus::Review),
        Ok(P::Approved) => Ok(ResultStatus::Approved),
        Ok(P::Published) => Ok(ResultStatus::Published),
        Err(_) => Err(FieldError::new(field, Problem::UnknownEnum(v))),
    }
}

fn status_to_wire(s: ResultStatus) -> i32 {
    use pb::ResultStatus as P;
    let s = match s {
        ResultStatus::NotAssessed => P::NotAssessed,
        ResultStatus::Provisional => P::Provisional,
        ResultStatus::Verification => P::Verification,
        ResultStatus::Review => P::Review,
        ResultStatus::Approved => P::Approved,
        ResultStatus::Published => P::Published,
    };
    s as i32
}

impl TryFrom<pb::Scores> for Scores {
    type Error = FieldError;
    fn try_from(m: pb::Scores) -> Result<Self, FieldError> {
        let expected = m
            .converted
            .checked_add(m.bonus)
            .and_then(|v| v.checked_sub(m.penalty));
        if expected != Some(m.total) {
            return Err(FieldError::invalid(
                "total",
                "总分不等于换算分 + 加分 − 扣分",
                "total is not converted + bonus − penalty",
            ));
        }
        Ok(Scores {
            applicable: m.applicable,
            raw: m.raw,
            converted: m.converted,
            bonus: m.bonus,
            penalty: m.penalty,
            total: m.total,
        })
    }
}

impl From<Scores> for pb::Scores {
    fn from(s: Scores) -> Self {
        pb::Scores {
            applicable: s.applicable,
            raw: s.raw,
            converted: s.converted,
            bonus: s.bonus,
            penalty: s.penalty,
            total: s.total,
        }
    }
}

impl TryFrom<pb::Reason> for ResultReason {
    type Error = FieldError;
    fn try_from(m: pb::Reason) -> Result<Self, FieldError> {
        Ok(ResultReason {
            indicator_id: identifier("indicator_id", m.indicator_id)?,
            clause_id: optional_identifier("clause_id", m.clause_id)?,
            amount: m.amount,
            text: text("text", m.text, MAX_TEXT_CHARS)?,
        })
    }
}

impl From<ResultReason> for pb::Reason {
    fn from(r: ResultReason) -> Self {
        pb::Reason {
            indicator_id: r.indicator_id,
            clause_id: r.clause_id.unwrap_or_default(),
            amount: r.amount,
            text: r.text,
        }
    }
}

impl TryFrom<pb::UnitResult> for UnitResult {
    type Error = FieldError;
    fn try_from(m: pb::UnitResult) -> Result<Self, FieldError> {
        let status = status_from_wire("status", m.status)?;
        let scores = m
            .scores
            .map(|s| Scores::try_from(s).map_err(|e| e.within("scores")))
            .transpose()?;
        if scores.is_none() != (status == ResultStatus::NotAssessed) {
            return Err(FieldError::invalid(
                "scores",
                "仅“未考核”的结果没有分数",
                "scores must be absent exactly when the status is not assessed",
            ));
        }
        let grade = grade_from_wire("grade", m.grade)?;
        if grade.is_some() && scores.is_none() {
            return Err(FieldError::invalid(
                "grade",
                "未考核的单位不能有等次",
                "a unit that was not assessed cannot have a grade",
            ));
        }
        let rank = match (m.rank, m.rank_of) {
            (0, 0) => None,
            (position, of) if (1..=of).contains(&position) => Some(Rank { position, of }),
            (position, of) => {
                return Err(FieldError::new(
                    "rank",
                    Problem::OutOfRange {
                        min: 1,
                        max: of.into(),
                        got: position.into(),
                    },
                ));
            }
        };
        let reasons = m
            .reasons
            .into_iter()
            .enumerate()
            .map(|(i, r)| ResultReason::try_from(r).map_err(|e| e.within(format!("reasons[{i}]"))))
            .collect::<Result<_, _>>()?;
        Ok(UnitResult {
            unit_id: identifier("unit_id", m.unit_id)?,
            year: validate::year("year", m.year)?,
            round: Round::from_wire("round", m.round)?,
            status,
            scores,
            grade,
            rank,
            reasons,
            verification_deadline: optional_date("verification_deadline", m.verification_deadline)?,
            review_deadline: optional_date("review_deadline", m.review_deadline)?,
        })
    }
}

impl From<UnitResult> for pb::UnitResult {
    fn from(r: UnitResult) -> Self {
        let rank = r.rank.unwrap_or(Rank { position: 0, of: 0 });
        pb::UnitResult {
            unit_id: r.unit_id,
            year: r.year.into(),
            round: r.round.to_wire(),
            status: status_to_wire(r.status),
            scores: r.scores.map(Into::into),
            grade: grade_to_wire(r.grade),
            rank: rank.position,
            rank_of: rank.of,
            reasons: r.reasons.into_iter().map(Into::into).collect(),
            verification_deadline: r.verification_deadline.map(Into::into),
            review_deadline: r.review_deadline.map(Into::into),
        }
    }
}

impl TryFrom<pb::ListResultsResponse> for ListResultsResponse {
    type Error = FieldError;
    fn try_from(m: pb::ListResultsResponse) -> Result<Self, FieldError> {
        let results = m
            .results
            .into_iter()
            .enumerate()
            .map(|(i, r)| UnitResult::try_from(r).map_err(|e| e.within(format!("results[{i}]"))))
            .collect::<Result<_, _>>()?;
        Ok(ListResultsResponse { results })
    }
}

impl From<ListResultsResponse> for pb::ListResultsResponse {
    fn from(r: ListResultsResponse) -> Self {
        pb::ListResultsResponse {
            results: r.results.into_iter().map(Into::into).collect(),
        }
    }
}

// ----------------------------------------------------------- objections --

/// What an objection is about, and the material that follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectionHeader {
    /// The assessee.
    pub unit_id: String,
    /// Year.
    pub year: u16,
    /// Round.
    pub round: Round,
    /// The objection, in Chinese.
    pub reason: String,
    /// File name of the material (no path); required when there is material.
    pub material_name: Option<String>,
    /// Media type of the material.
    pub media_type: Option<String>,
    /// Exact size of the material in bytes.
    pub material_size: u64,
    /// SHA-256 of the material.
    pub material_sha256: [u8; 32],
}

/// One message of a `FileObjection` stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectionPart {
    /// First, exactly once.
    Header(ObjectionHeader),
    /// Material bytes, in order.
    Chunk(Vec<u8>),
}

/// An objection with all of its material, size and hash checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Objection {
    /// The header.
    pub header: ObjectionHeader,
    /// The material.
    pub material: Vec<u8>,
}

/// Reassembles a `FileObjection` stream: a header, then chunks that add up
/// to exactly the declared size and hash.
#[derive(Debug)]
pub struct ObjectionAssembler {
    header: ObjectionHeader,
    material: Vec<u8>,
}

/// The hub's answer to a filed objection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectionReceipt {
    /// The hub's identifier for the objection.
    pub objection_id: String,
    /// Hub clock when stored, unix seconds.
    pub received_at: i64,
    /// Last working day for the review decision.
    pub review_deadline: Option<Date>,
}

impl Objection {
    /// An objection over `material`: sets the header's size and hash from it.
    pub fn new(mut header: ObjectionHeader, material: Vec<u8>) -> Objection {
        header.material_size = material.len() as u64;
        header.material_sha256 = Sha256::digest(&material).into();
        Objection { header, material }
    }

    /// The request stream: the header, then [`OBJECTION_CHUNK_BYTES`] chunks.
    pub fn into_parts(self) -> Vec<pb::ObjectionPart> {
        use pb::objection_part::Part;
        let mut parts = Vec::with_capacity(1 + self.material.len().div_ceil(OBJECTION_CHUNK_BYTES));
        parts.push(pb::ObjectionPart {
            part: Some(Part::Header(self.header.into())),
        });
        parts.extend(
            self.material
                .chunks(OBJECTION_CHUNK_BYTES)
                .map(|c| pb::ObjectionPart {
                    part: Some(Part::Chunk(c.to_vec())),
                }),
        );
        parts
    }
}

impl ObjectionAssembler {
    /// Starts from the first part, which must be the header.
    pub fn start(first: ObjectionPart) -> Result<ObjectionAssembler, FieldError> {
        match first {
            // Memory grows with what arrives, not with what is declared.
            ObjectionPart::Header(header) => Ok(ObjectionAssembler {
                material: Vec::new(),
                header,
            }),
            ObjectionPart::Chunk(_) => Err(FieldError::invalid(
                "part",
                "第一条消息须为 header",
                "the first message must be the header",
            )),
        }
    }

    /// Adds the next part, which must be a chunk within the declared size.
    pub fn push(&mut self, part: ObjectionPart) -> Result<(), FieldError> {
        let chunk = match part {
            ObjectionPart::Chunk(chunk) => chunk,
            ObjectionPart::Header(_) => {
                return Err(FieldError::invalid(
                    "header",
                    "header 只能出现一次",
                    "the header may appear only once",
                ));
            }
        };
        if chunk.len() > MAX_OBJECTION_CHUNK_BYTES {
            return Err(FieldError::invalid(
                "chunk",
                format!(
                    "分块 {} 字节，超过上限 {MAX_OBJECTION_CHUNK_BYTES} 字节",
                    chunk.len()
                ),
                format!(
                    "chunk of {} bytes exceeds the {MAX_OBJECTION_CHUNK_BYTES}-byte limit",
                    chunk.len()
                ),
            ));
        }
        let total = self.material.len() as u64 + chunk.len() as u64;
        if total > self.header.material_size {
            return Err(FieldError::invalid(
                "header.material_size",
                format!("材料超过声明的 {} 字节", self.header.material_size),
                format!(
                    "material exceeds the declared {} bytes",
                    self.header.material_size
                ),
            ));
        }
        self.material.extend_from_slice(&chunk);
        Ok(())
    }

    /// Ends the stream: the material must be exactly the declared size and hash.
    pub fn finish(self) -> Result<Objection, FieldError> {
        if self.material.len() as u64 != self.header.material_size {
            return Err(FieldError::invalid(
                "header.material_size",
                format!(
                    "只收到 {} 字节，声明为 {} 字节",
                    self.material.len(),
                    self.header.material_size
                ),
                format!(
                    "received {} bytes, {} declared",
                    self.material.len(),
                    self.header.material_size
                ),
            ));
        }
        if <[u8; 32]>::from(Sha256::digest(&self.material)) != self.header.material_sha256 {
            return Err(FieldError::invalid(
                "header.material_sha256",
                "材料的 SHA-256 与声明不符",
                "material SHA-256 differs from the declared one",
            ));
        }
        Ok(Objection {
            header: self.header,
            material: self.material,
        })
    }
}

/// A file name without any path: no `/`, `\`, and not `.` or `..`.
fn file_name(field: &str, value: String) -> Result<Option<String>, FieldError> {
    let name = optional_text(field, value, MAX_NAME_CHARS)?;
    if let Some(n) = &name
        && (n.contains(['/', '\\']) || n == "." || n == "..")
    {
        return Err(FieldError::invalid(
            field,
            "须为不含路径的文件名",
            "must be a file name without a path",
        ));
    }
    Ok(name)
}

impl TryFrom<pb::ObjectionHeader> for ObjectionHeader {
    type Error = FieldError;
    fn try_from(m: pb::ObjectionHeader) -> Result<Self, FieldError> {
        if m.material_size > MAX_OBJECTION_MATERIAL_BYTES {
            return Err(FieldError::new(
                "material_size",
                Problem::OutOfRange {
                    min: 0,
                    max: MAX_OBJECTION_MATERIAL_BYTES as i64,
                    got: i64::try_from(m.material_size).unwrap_or(i64::MAX),
                },
            ));
        }
        let material_name = file_name("material_name", m.material_name)?;
        if m.material_size > 0 && material_name.is_none() {
            return Err(FieldError::new("material_name", Problem::Missing));
        }
        Ok(ObjectionHeader {
            unit_id: identifier("unit_id", m.unit_id)?,
            year: validate::year("year", m.year)?,
            round: Round::from_wire("round", m.round)?,
            reason: text("reason", m.reason, MAX_TEXT_CHARS)?,
            material_name,
            media_type: optional_text("media_type", m.media_type, MAX_NAME_CHARS)?,
            material_size: m.material_size,
            material_sha256: validate::hash32("material_sha256", &m.material_sha256)?,
        })
    }
}

impl From<ObjectionHeader> for pb::ObjectionHeader {
    fn from(h: ObjectionHeader) -> Self {
        pb::ObjectionHeader {
            unit_id: h.unit_id,
            year: h.year.into(),
            round: h.round.to_wire(),
            reason: h.reason,
            material_name: h.material_name.unwrap_or_default(),
            media_type: h.media_type.unwrap_or_default(),
            material_size: h.material_size,
            material_sha256: h.material_sha256.to_vec(),
        }
    }
}

impl TryFrom<pb::ObjectionPart> for ObjectionPart {
    type Error = FieldError;
    fn try_from(m: pb::ObjectionPart) -> Result<Self, FieldError> {
        use pb::objection_part::Part;
        match required("part", m.part)? {
            Part::Header(h) => Ok(ObjectionPart::Header(
                ObjectionHeader::try_from(h).map_err(|e| e.within("header"))?,
            )),
            Part::Chunk(c) => Ok(ObjectionPart::Chunk(c)),
        }
    }
}

impl TryFrom<pb::ObjectionReceipt> for ObjectionReceipt {
    type Error = FieldError;
    fn try_from(m: pb::ObjectionReceipt) -> Result<Self, FieldError> {
        Ok(ObjectionReceipt {
            objection_id: identifier("objection_id", m.objection_id)?,
            received_at: m.received_at,
            review_deadline: optional_date("review_deadline", m.review_deadline)?,
        })
    }
}

impl From<ObjectionReceipt> for pb::ObjectionReceipt {
    fn from(r: ObjectionReceipt) -> Self {
        pb::ObjectionReceipt {
            objection_id: r.objection_id,
            received_at: r.received_at,
            review_deadline: r.review_deadline.map(Into::into),
        }
    }
}

#[cfg(test)]
mod tests;
