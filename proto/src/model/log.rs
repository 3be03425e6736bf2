//! The log: `GetCheckpoint` and `AddCosignature`, how nodes witness each
//! year's transparency log ([`crate::tlog`]).

use crate::merkle::{Hash, MAX_INCLUSION_PATH};
use crate::pb;
use crate::tlog::note::SignedNote;
use crate::validate::{self, FieldError};

/// `GetCheckpoint`: the newest checkpoint of a year's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetCheckpointRequest {
    /// The log's assessment year.
    pub year: u16,
    /// Tree size of the last checkpoint the caller checked; 0 for none.
    pub from_size: u64,
}

/// The newest checkpoint with its cosignatures, and a consistency proof
/// from the size asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetCheckpointResponse {
    /// The checkpoint note: the hub's signature and the cosignatures.
    pub checkpoint: SignedNote,
    /// RFC 9162 consistency proof from `from_size` to the checkpoint.
    pub consistency: Vec<Hash>,
}

/// `AddCosignature`: a witness's cosignature of a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCosignatureRequest {
    /// The checkpoint note carrying the witness's cosignature line.
    pub checkpoint: SignedNote,
}

/// How many witnesses have cosigned that checkpoint now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddCosignatureResponse {
    /// Cosignatures the hub holds for the checkpoint.
    pub cosignatures: u32,
}

fn note(field: &str, bytes: &[u8]) -> Result<SignedNote, FieldError> {
    SignedNote::parse(bytes)
        .map_err(|e| FieldError::invalid(field, e.to_string(), "not a C2SP signed note"))
}

impl TryFrom<pb::GetCheckpointRequest> for GetCheckpointRequest {
    type Error = FieldError;
    fn try_from(m: pb::GetCheckpointRequest) -> Result<Self, FieldError> {
        Ok(GetCheckpointRequest {
            year: validate::year("year", m.year)?,
            from_size: m.from_size,
        })
    }
}

impl From<GetCheckpointRequest> for pb::GetCheckpointRequest {
    fn from(r: GetCheckpointRequest) -> Self {
        pb::GetCheckpointRequest {
            year: r.year.into(),
            from_size: r.from_size,
        }
    }
}

impl TryFrom<pb::GetCheckpointResponse> for GetCheckpointResponse {
    type Error = FieldError;
    fn try_from(m: pb::GetCheckpointResponse) -> Result<Self, FieldError> {
        validate::at_most("consistency", &m.consistency, 2 * MAX_INCLUSION_PATH)?;
        Ok(GetCheckpointResponse {
            checkpoint: note("checkpoint", &m.checkpoint)?,
            consistency: m
                .consistency
                .iter()
                .enumerate()
                .map(|(i, h)| validate::hash32(&format!("consistency[{i}]"), h))
                .collect::<Result<_, _>>()?,
        })
    }
}

impl From<GetCheckpointResponse> for pb::GetCheckpointResponse {
    fn from(r: GetCheckpointResponse) -> Self {
        pb::GetCheckpointResponse {
            checkpoint: r.checkpoint.to_bytes(),
            consistency: r.consistency.iter().map(|h| h.to_vec()).collect(),
        }
    }
}

impl TryFrom<pb::AddCosignatureRequest> for AddCosignatureRequest {
    type Error = FieldError;
    fn try_from(m: pb::AddCosignatureRequest) -> Result<Self, FieldError> {
        Ok(AddCosignatureRequest {
            checkpoint: note("checkpoint", &m.checkpoint)?,
        })
    }
}

impl From<AddCosignatureRequest> for pb::AddCosignatureRequest {
    fn from(r: AddCosignatureRequest) -> Self {
        pb::AddCosignatureRequest {
            checkpoint: r.checkpoint.to_bytes(),
        }
    }
}

impl From<pb::AddCosignatureResponse> for AddCosignatureResponse {
    fn from(m: pb::AddCosignatureResponse) -> Self {
        AddCosignatureResponse {
            cosignatures: m.cosignatures,
        }
    }
}

impl From<AddCosignatureResponse> for pb::AddCosignatureResponse {
    fn from(r: AddCosignatureResponse) -> Self {
        pb::AddCosignatureResponse {
            cosignatures: r.cosignatures,
        }
    }
}
