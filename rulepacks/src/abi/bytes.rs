//! The byte-level pieces both entry points share: the input header, value
//! pairs, and a bounds-checked reader.

use super::{BatchError, HEADER_LEN};

/// The input header; `abi` is the manifest's ABI word (`Manifest::abi_word`).
pub(super) fn header(out: &mut Vec<u8>, magic: [u8; 4], abi: u32, n: u32, count: u32) {
    out.extend_from_slice(&magic);
    out.extend_from_slice(&abi.to_le_bytes());
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
}

pub(super) fn pair(out: &mut Vec<u8>, v: Option<i64>) {
    let (flag, v) = match v {
        Some(v) => (1i64, v),
        None => (0, 0),
    };
    out.extend_from_slice(&flag.to_le_bytes());
    out.extend_from_slice(&v.to_le_bytes());
}

/// Header checks in the order ABI.md §5 gives: length of the header, magic,
/// version (`abi`, the manifest's ABI word); the caller then checks the
/// count and the total length.
pub(super) fn read_header(
    bytes: &[u8],
    magic: [u8; 4],
    abi: u32,
) -> Result<(u32, u32), BatchError> {
    if bytes.len() < HEADER_LEN {
        return Err(BatchError::BadLength);
    }
    if bytes[0..4] != magic {
        return Err(BatchError::BadMagic);
    }
    let mut r = Reader::new(&bytes[4..HEADER_LEN]);
    if r.u32() != abi {
        return Err(BatchError::WrongAbi);
    }
    Ok((r.u32(), r.u32()))
}

pub(super) fn check_len(bytes: &[u8], n: u32, rec: usize) -> Result<(), BatchError> {
    let expected = HEADER_LEN as u64 + u64::from(n) * rec as u64;
    if bytes.len() as u64 != expected {
        return Err(BatchError::BadLength);
    }
    Ok(())
}

/// Little-endian reader over a slice whose length the caller has checked.
pub(super) struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, at: 0 }
    }

    pub(super) fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut b = [0u8; N];
        // The callers check the total length first; a short read yields zeros
        // rather than a panic.
        if let Some(s) = self.bytes.get(self.at..self.at + N) {
            b.copy_from_slice(s);
        }
        self.at += N;
        b
    }

    pub(super) fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take())
    }

    pub(super) fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take())
    }

    pub(super) fn i64(&mut self) -> i64 {
        i64::from_le_bytes(self.take())
    }
}
