//! The validated model of the RPC messages that are not signed payloads:
//! packs, units, results, objections, and the outcomes of submitting.
//!
//! **API Boundary:** servers and clients convert each `pb::X` they receive
//! into the model type here with `TryFrom` (junk is refused at that point,
//! naming the field) and build replies with `From<model> for pb::X`.
//! Logic never sees a generated type.
//!
//! # Layout
//!
//! One module per request/response family, every type re-exported here:
//! - `date` — [`Date`], the civil date deadlines travel as;
//! - `submit` — [`Rejection`] and [`RejectionCode`] (→ `tonic::Status`),
//!   [`SubmitOutcome`], [`ReceiptChunk`], [`GetReceiptRequest`];
//! - `packs` — `ListPacks` and `FetchPack`: [`PackSummary`], [`FetchedPack`];
//! - `units` — `ListMyUnits`: [`Unit`], the caller's scope;
//! - `results` — `ListResults`: [`UnitResult`], [`Scores`], [`Grade`],
//!   [`ResultStatus`], [`Rank`];
//! - `leaderboard` — the quarterly leaderboards `ListResults` carries:
//!   [`QuarterBoard`], [`BoardEntry`];
//! - `objections` — `FileObjection`: [`ObjectionHeader`], [`ObjectionPart`],
//!   [`ObjectionAssembler`], [`Objection`], [`ObjectionReceipt`];
//! - `log` — `GetCheckpoint` and `AddCosignature`: how nodes witness the
//!   year's transparency log.
//!
//! The limits below are shared by every family.

mod date;
mod leaderboard;
mod log;
mod objections;
mod packs;
mod results;
mod submit;
mod units;

pub use date::Date;
pub use leaderboard::{BoardEntry, QuarterBoard};
pub use log::{
    AddCosignatureRequest, AddCosignatureResponse, GetCheckpointRequest, GetCheckpointResponse,
};
pub use objections::{
    Objection, ObjectionAssembler, ObjectionHeader, ObjectionPart, ObjectionReceipt,
};
pub use packs::{FetchPackRequest, FetchedPack, ListPacksRequest, ListPacksResponse, PackSummary};
pub use results::{
    Grade, ListResultsRequest, ListResultsResponse, Rank, ResultReason, ResultStatus, Scores,
    UnitResult,
};
pub use submit::{GetReceiptRequest, ReceiptChunk, Rejection, RejectionCode, SubmitOutcome};
pub use units::{ListMyUnitsRequest, ListMyUnitsResponse, Unit};

use crate::envelope::DEFAULT_MAX_PAYLOAD_BYTES;
use crate::validate::{self, FieldError};

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

/// A year that may be 0, meaning every year.
fn optional_year(field: &str, year: u32) -> Result<Option<u16>, FieldError> {
    if year == 0 {
        Ok(None)
    } else {
        validate::year(field, year).map(Some)
    }
}

#[cfg(test)]
mod tests;
