//! Objections: the `FileObjection` stream, its reassembly and the hub's
//! receipt.

use sha2::{Digest as _, Sha256};

use super::date::{Date, optional_date};
use super::{
    MAX_NAME_CHARS, MAX_OBJECTION_CHUNK_BYTES, MAX_OBJECTION_MATERIAL_BYTES, MAX_TEXT_CHARS,
    OBJECTION_CHUNK_BYTES,
};
use crate::pb;
use crate::submission::Round;
use crate::validate::{self, FieldError, Problem, identifier, optional_text, required, text};

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
