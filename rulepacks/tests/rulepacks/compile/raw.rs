//! Evaluate and finalise inputs exactly as the bytes say, in either ABI,
//! and reading an evaluate output unit by unit.

use kaohe_rulepacks::abi::{self, FinaliseInput};
use kaohe_rulepacks::manifest::Manifest;

/// One evaluate unit exactly as the bytes say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RawUnit {
    pub(super) category: u32,
    pub(super) round: u32,
    pub(super) methods: u32,
    pub(super) reserved: u32,
    pub(super) fields: Vec<(i64, i64)>,
    /// Not-applicable marks, one per indicator (written under ABI 1.1).
    pub(super) marks: Vec<i64>,
}

pub(super) fn encode_units(m: &Manifest, units: &[RawUnit]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(b"KHEV");
    out.extend_from_slice(&m.abi_word().to_le_bytes());
    out.extend_from_slice(&(units.len() as u32).to_le_bytes());
    out.extend_from_slice(&(m.fields.len() as u32).to_le_bytes());
    for u in units {
        for w in [u.category, u.round, u.methods, u.reserved] {
            out.extend_from_slice(&w.to_le_bytes());
        }
        if m.is_v2() {
            // ABI 2: a present word other than 0 is a set bit; a mark other
            // than 0 too.
            out.extend(bits(m.fields.len(), |f| u.fields[f].0 != 0));
            if m.has_not_applicable() {
                out.extend(bits(m.indicators.len(), |i| {
                    u.marks.get(i).copied().unwrap_or(0) != 0
                }));
            }
            for (_, v) in &u.fields {
                out.extend_from_slice(&v.to_le_bytes());
            }
            continue;
        }
        for (p, v) in &u.fields {
            out.extend_from_slice(&p.to_le_bytes());
            out.extend_from_slice(&v.to_le_bytes());
        }
        if m.has_not_applicable() {
            for i in 0..m.indicators.len() {
                let mark = u.marks.get(i).copied().unwrap_or(0);
                out.extend_from_slice(&mark.to_le_bytes());
            }
        }
    }
    out
}

/// ABI 2's bit set of `n` items, `set(i)` for each, as bytes.
pub(super) fn bits(n: usize, set: impl Fn(usize) -> bool) -> Vec<u8> {
    let mut words = vec![0u64; n.div_ceil(64)];
    for i in (0..n).filter(|&i| set(i)) {
        words[i / 64] |= 1 << (i % 64);
    }
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// An evaluate output cut into its units' records (ABI 1: fixed length;
/// ABI 2: each as long as its fired clauses make it).
pub(super) fn unit_records(m: &Manifest, out: &[u8]) -> Vec<Vec<u8>> {
    if !m.is_v2() {
        return out
            .chunks(m.evaluate_output_record())
            .map(<[u8]>::to_vec)
            .collect();
    }
    let fixed = m.evaluate_output_fixed();
    let mut records = Vec::new();
    let mut at = 0;
    while at < out.len() {
        let fired = u32::from_le_bytes(out[at + fixed - 8..at + fixed - 4].try_into().unwrap());
        let end = at + fixed + 16 * fired as usize;
        records.push(out[at..end].to_vec());
        at = end;
    }
    records
}

/// The status code of each unit of an evaluate output (either ABI).
pub(super) fn statuses(m: &Manifest, n: usize, out: &[u8]) -> Vec<u32> {
    abi::decode_evaluate_output(m, n, out)
        .expect("interpreter output decodes")
        .iter()
        .map(|o| o.status.code())
        .collect()
}

/// One finalise unit exactly as the bytes say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RawFinalise {
    pub(super) category: u32,
    pub(super) flags: u32,
    pub(super) penalty_cap: i64,
    pub(super) scores: Vec<(i64, i64)>,
}

impl From<&FinaliseInput> for RawFinalise {
    fn from(u: &FinaliseInput) -> RawFinalise {
        RawFinalise {
            category: u.category,
            flags: u32::from(u.penalty_cap_override.is_some()),
            penalty_cap: u.penalty_cap_override.unwrap_or(0),
            scores: u
                .scores
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    if u.is_not_applicable(i) {
                        (2, 0)
                    } else {
                        s.map_or((0, 0), |s| (1, s))
                    }
                })
                .collect(),
        }
    }
}

pub(super) fn encode_finalise(m: &Manifest, units: &[RawFinalise]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(b"KHFI");
    out.extend_from_slice(&m.abi_word().to_le_bytes());
    out.extend_from_slice(&(units.len() as u32).to_le_bytes());
    out.extend_from_slice(&(m.indicators.len() as u32).to_le_bytes());
    for u in units {
        out.extend_from_slice(&u.category.to_le_bytes());
        out.extend_from_slice(&u.flags.to_le_bytes());
        out.extend_from_slice(&u.penalty_cap.to_le_bytes());
        if m.is_v2() {
            // ABI 2: present bit = bit 0 of the word, not-applicable bit =
            // bit 1 (so 3 sets both).
            let ni = m.indicators.len();
            out.extend(bits(ni, |i| u.scores[i].0 & 1 != 0));
            if m.has_not_applicable() {
                out.extend(bits(ni, |i| u.scores[i].0 & 2 != 0));
            }
            for (_, v) in &u.scores {
                out.extend_from_slice(&v.to_le_bytes());
            }
            continue;
        }
        for (p, v) in &u.scores {
            out.extend_from_slice(&p.to_le_bytes());
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}
