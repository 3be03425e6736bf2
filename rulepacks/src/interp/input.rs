//! A unit's evaluate input as the interpreter reads it: typed, raw, or in
//! place in the bytes of either ABI (no per-unit decoding into vectors).

use crate::abi::v2::{bit_at, u64_at};

/// One unit of an evaluate input, however it is held.
pub(super) struct View<'a> {
    pub(super) category: u32,
    pub(super) round: u32,
    pub(super) methods: u32,
    pub(super) reserved: u32,
    pub(super) fields: Fields<'a>,
    pub(super) marks: Marks<'a>,
}

/// The not-applicable marks of a unit (ABI 1.1), in indicator order.
pub(super) enum Marks<'a> {
    /// Empty = none marked.
    Typed(&'a [bool]),
    Raw(&'a [i64]),
    /// `mark i64` per indicator, little-endian.
    Bytes(&'a [u8]),
    /// ABI 2.1: one bit per indicator in u64 words.
    Bits(&'a [u8]),
}

impl Marks<'_> {
    /// The mark of indicator `i` as the ABI has it (0 or 1; anything else
    /// is refused).
    pub(super) fn get(&self, i: usize) -> i64 {
        match self {
            Marks::Typed(v) => i64::from(v.get(i).copied().unwrap_or(false)),
            Marks::Raw(v) => v.get(i).copied().unwrap_or(0),
            Marks::Bytes(b) => b
                .get(8 * i..8 * i + 8)
                .and_then(|s| <[u8; 8]>::try_from(s).ok())
                .map(i64::from_le_bytes)
                .unwrap_or(0),
            Marks::Bits(b) => i64::from(bit_at(b, 0, i)),
        }
    }
}

pub(super) enum Fields<'a> {
    Typed(&'a [Option<i64>]),
    Raw(&'a [(i64, i64)]),
    /// `present i64 | value i64` per field, little-endian.
    Bytes(&'a [u8]),
    /// ABI 2: the presence bits (u64 words) and the value slots (i64).
    Bits {
        present: &'a [u8],
        values: &'a [u8],
    },
}

impl Fields<'_> {
    pub(super) fn len(&self) -> usize {
        match self {
            Fields::Typed(v) => v.len(),
            Fields::Raw(v) => v.len(),
            Fields::Bytes(b) => b.len() / 16,
            Fields::Bits { values, .. } => values.len() / 8,
        }
    }

    pub(super) fn get(&self, i: usize) -> (i64, i64) {
        match self {
            Fields::Typed(v) => match v.get(i).copied().flatten() {
                Some(x) => (1, x),
                None => (0, 0),
            },
            Fields::Raw(v) => v.get(i).copied().unwrap_or((0, 0)),
            Fields::Bytes(b) => {
                let at = |o: usize| {
                    b.get(o..o + 8)
                        .and_then(|s| <[u8; 8]>::try_from(s).ok())
                        .map(i64::from_le_bytes)
                        .unwrap_or(0)
                };
                (at(16 * i), at(16 * i + 8))
            }
            Fields::Bits { present, values } => (
                i64::from(bit_at(present, 0, i)),
                u64_at(values, 8 * i) as i64,
            ),
        }
    }
}
