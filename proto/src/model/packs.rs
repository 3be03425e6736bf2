//! Packs: `ListPacks` and `FetchPack`.

use sha2::{Digest as _, Sha256};

use super::{MAX_PACK_MODULE_BYTES, optional_year};
use crate::envelope::Envelope;
use crate::pb;
use crate::submission::PackIdentity;
use crate::validate::{self, FieldError, Problem, identifier, required};

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
