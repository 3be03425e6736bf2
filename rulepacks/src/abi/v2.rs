//! ABI 2 (ABI.md §10): compact inputs — a unit's presence (and mark) bits
//! in u64 words, then one 8-byte slot per field or indicator — and a sparse
//! evaluate output — the evaluated (and not-applicable) bits, a score slot
//! per indicator, then only the clauses that fired. The finalise output is
//! ABI 1's.
//!
//! The host writes inputs straight into a slice (the pack's memory) and
//! reads outputs straight from one: no intermediate buffer, no vector per
//! record beyond the host types the [`Pack`](crate::pack::Pack) API returns.

use super::{
    AbiError, BatchError, EVALUATE_MAGIC, FINALISE_MAGIC, FinaliseInput, HEADER_LEN,
    RawFinaliseInput, RawUnitInput, UnitInput, UnitOutput,
};
use crate::manifest::{IndicatorKind, Manifest};

/// Little-endian u64 at `at` (the caller checked the bounds; a short slice
/// reads as zero rather than panicking).
#[inline]
pub(crate) fn u64_at(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8)
        .and_then(|s| <[u8; 8]>::try_from(s).ok())
        .map_or(0, u64::from_le_bytes)
}

#[inline]
pub(crate) fn u32_at(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
        .map_or(0, u32::from_le_bytes)
}

/// Bit `i` of the u64 words starting at `at`.
#[inline]
pub(crate) fn bit_at(b: &[u8], at: usize, i: usize) -> bool {
    (u64_at(b, at + 8 * (i / 64)) >> (i % 64)) & 1 == 1
}

/// Whether any bit at or above `count` is set in the `⌈count/64⌉` words at
/// `at` (bits the layout reserves, which must be 0).
pub(crate) fn stray_bits(b: &[u8], at: usize, count: usize) -> bool {
    let words = count.div_ceil(64);
    words > 0 && !count.is_multiple_of(64) && u64_at(b, at + 8 * (words - 1)) >> (count % 64) != 0
}

fn put(out: &mut [u8], at: usize, bytes: &[u8]) {
    out[at..at + bytes.len()].copy_from_slice(bytes);
}

/// Bytes of the whole evaluate input for `n` units, or `TooLarge`.
pub fn evaluate_input_len(manifest: &Manifest, n: usize) -> Result<usize, AbiError> {
    let len = HEADER_LEN as u64 + n as u64 * manifest.evaluate_input_record() as u64;
    if len > i32::MAX as u64 || u32::try_from(n).is_err() {
        return Err(AbiError::TooLarge);
    }
    Ok(len as usize)
}

/// Writes the ABI 2 evaluate input for `units` into `out`, which must be
/// exactly [`evaluate_input_len`] bytes; every byte is written.
pub fn write_evaluate_input(
    manifest: &Manifest,
    units: &[UnitInput],
    out: &mut [u8],
) -> Result<(), AbiError> {
    let (nf, ni) = (manifest.fields.len(), manifest.indicators.len());
    let marks = manifest.has_not_applicable();
    let (wf, wi) = (manifest.field_words(), manifest.indicator_words());
    let rec = manifest.evaluate_input_record();
    let values_at = 16 + 8 * wf + if marks { 8 * wi } else { 0 };
    if out.len() != evaluate_input_len(manifest, units.len())? {
        return Err(AbiError::TooLarge);
    }
    put(out, 0, &EVALUATE_MAGIC);
    put(out, 4, &manifest.abi_word().to_le_bytes());
    put(out, 8, &(units.len() as u32).to_le_bytes());
    put(out, 12, &(nf as u32).to_le_bytes());
    for (k, (u, r)) in units
        .iter()
        .zip(out[HEADER_LEN..].chunks_exact_mut(rec))
        .enumerate()
    {
        super::check_unit_shape(k, u, nf, ni, marks)?;
        let (head, values) = r.split_at_mut(values_at);
        head[..8].copy_from_slice(
            &(u64::from(u.category) | u64::from(u.round.code()) << 32).to_le_bytes(),
        );
        head[8..16].copy_from_slice(&u64::from(u.methods).to_le_bytes());
        // Presence bits gathered 64 at a time, values written branch-free.
        let words = &mut head[16..];
        for (w, (fields, slots)) in u
            .values
            .chunks(64)
            .zip(values.chunks_mut(8 * 64))
            .enumerate()
        {
            let mut bits = 0u64;
            for (j, (v, slot)) in fields.iter().zip(slots.chunks_exact_mut(8)).enumerate() {
                bits |= u64::from(v.is_some()) << j;
                slot.copy_from_slice(&v.unwrap_or(0).to_le_bytes());
            }
            words[8 * w..8 * w + 8].copy_from_slice(&bits.to_le_bytes());
        }
        if marks {
            let at = 8 * wf;
            for w in 0..wi {
                let mut bits = 0u64;
                for (j, &na) in u.not_applicable.iter().skip(64 * w).take(64).enumerate() {
                    bits |= u64::from(na) << j;
                }
                words[at + 8 * w..at + 8 * w + 8].copy_from_slice(&bits.to_le_bytes());
            }
        }
    }
    Ok(())
}

/// The ABI 2 evaluate input for `units`, as a vector.
pub(super) fn encode_evaluate_input(
    manifest: &Manifest,
    units: &[UnitInput],
) -> Result<Vec<u8>, AbiError> {
    let mut out = vec![0; evaluate_input_len(manifest, units.len())?];
    write_evaluate_input(manifest, units, &mut out)?;
    Ok(out)
}

/// Where a unit's pieces sit in an ABI 2 evaluate input record.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EvalIn {
    pub present: usize,
    /// The mark words (2.1), if any.
    pub marks: Option<usize>,
    pub values: usize,
}

impl EvalIn {
    pub(crate) fn of(m: &Manifest) -> EvalIn {
        let present = 16;
        let marks = m
            .has_not_applicable()
            .then_some(present + 8 * m.field_words());
        let values = present
            + 8 * m.field_words()
            + if marks.is_some() {
                8 * m.indicator_words()
            } else {
                0
            };
        EvalIn {
            present,
            marks,
            values,
        }
    }

    /// Whether a record sets a bit the layout reserves (presence bits at or
    /// above `F`, mark bits at or above `I`): §10, a unit check (status 6,
    /// detail 0).
    pub(crate) fn stray(&self, m: &Manifest, rec: &[u8]) -> bool {
        stray_bits(rec, self.present, m.fields.len())
            || self
                .marks
                .is_some_and(|at| stray_bits(rec, at, m.indicators.len()))
    }
}

/// The pack side of §10: reads an ABI 2 evaluate input (the batch checks
/// first) into ABI 1's raw records. A reserved bit set shows as a non-zero
/// `reserved`, which the unit checks refuse alike.
pub(super) fn decode_evaluate_input(
    manifest: &Manifest,
    bytes: &[u8],
) -> Result<Vec<RawUnitInput>, BatchError> {
    let (n, count) = super::bytes::read_header(bytes, EVALUATE_MAGIC, manifest.abi_word())?;
    if count as usize != manifest.fields.len() {
        return Err(BatchError::CountsDisagree);
    }
    super::bytes::check_len(bytes, n, manifest.evaluate_input_record())?;
    let lay = EvalIn::of(manifest);
    let (nf, ni) = (manifest.fields.len(), manifest.indicators.len());
    Ok(bytes[HEADER_LEN..]
        .chunks_exact(manifest.evaluate_input_record())
        .map(|r| RawUnitInput {
            category: u32_at(r, 0),
            round: u32_at(r, 4),
            methods: u32_at(r, 8),
            reserved: u32_at(r, 12) | u32::from(lay.stray(manifest, r)),
            fields: (0..nf)
                .map(|f| {
                    (
                        i64::from(bit_at(r, lay.present, f)),
                        u64_at(r, lay.values + 8 * f) as i64,
                    )
                })
                .collect(),
            not_applicable: match lay.marks {
                Some(at) => (0..ni).map(|i| i64::from(bit_at(r, at, i))).collect(),
                None => Vec::new(),
            },
        })
        .collect())
}

/// Where a unit's pieces sit in an ABI 2 evaluate output record.
#[derive(Debug, Clone, Copy)]
struct EvalOut {
    evaluated: usize,
    na: Option<usize>,
    scores: usize,
    fired: usize,
    fixed: usize,
}

impl EvalOut {
    fn of(m: &Manifest) -> EvalOut {
        let wi = m.indicator_words();
        let na = m.has_not_applicable().then_some(16 + 8 * wi);
        let scores = 16 + 8 * wi * if na.is_some() { 2 } else { 1 };
        let fired = scores + 8 * m.indicators.len();
        EvalOut {
            evaluated: 16,
            na,
            scores,
            fired,
            fixed: fired + 8,
        }
    }
}

/// The pack side of §10: writes the sparse evaluate output.
pub(super) fn encode_evaluate_output(manifest: &Manifest, units: &[UnitOutput]) -> Vec<u8> {
    let lay = EvalOut::of(manifest);
    let ni = manifest.indicators.len();
    let mut out = Vec::with_capacity(units.len() * lay.fixed);
    for u in units {
        let start = out.len();
        out.resize(start + lay.fixed, 0);
        let r = &mut out[start..];
        put(r, 0, &u.status.code().to_le_bytes());
        put(r, 4, &u.status.detail().to_le_bytes());
        put(r, 8, &u.fuel_used.to_le_bytes());
        for i in 0..ni {
            if let Some(s) = u.indicators.get(i).copied().flatten() {
                r[lay.evaluated + 8 * (i / 64) + (i % 64) / 8] |= 1 << (i % 8);
                put(r, lay.scores + 8 * i, &s.to_le_bytes());
            }
            if let Some(at) = lay.na
                && u.is_not_applicable(i)
            {
                r[at + 8 * (i / 64) + (i % 64) / 8] |= 1 << (i % 8);
            }
        }
        let mut fired = 0u32;
        for (k, a) in u.clauses.iter().enumerate() {
            if let Some(a) = a {
                out.extend_from_slice(&(k as u32).to_le_bytes());
                out.extend_from_slice(&0u32.to_le_bytes());
                out.extend_from_slice(&a.to_le_bytes());
                fired += 1;
            }
        }
        put(&mut out[start..], lay.fired, &fired.to_le_bytes());
    }
    out
}

/// Reads a pack's sparse evaluate output for `n` units straight from
/// `bytes` (the pack's memory), refusing anything §10 does not allow: a
/// record cut short or bytes left over, the unit checks of ABI 1 (status,
/// detail, fuel), a reserved bit or word set, an indicator both evaluated
/// and not applicable, a score outside its range or on an indicator not
/// evaluated, clauses out of order, out of range, on an indicator not
/// evaluated or with a negative amount, anything on a failed unit.
pub(super) fn decode_evaluate_output(
    manifest: &Manifest,
    n: usize,
    bytes: &[u8],
) -> Result<Vec<UnitOutput>, AbiError> {
    let lay = EvalOut::of(manifest);
    let (ni, nk) = (manifest.indicators.len(), manifest.clause_count());
    let wi = manifest.indicator_words();
    // Per indicator the highest score it may have (a flag: 100) and
    // whether it is a flag (0 or 100 only); per clause its indicator.
    let range: Vec<(bool, i64)> = (0..ni)
        .map(|i| {
            let flag = manifest.indicators[i].kind == IndicatorKind::Flag;
            (flag, if flag { 100 } else { manifest.max_points(i) })
        })
        .collect();
    let owner: Vec<usize> = manifest
        .indicators
        .iter()
        .enumerate()
        .flat_map(|(i, ind)| std::iter::repeat_n(i, ind.clauses.len()))
        .collect();
    let mut units = Vec::with_capacity(n);
    let mut pos = 0usize;
    for unit in 0..n {
        let bad = |reason: String| AbiError::Malformed { unit, reason };
        let Some(r) = bytes.get(pos..pos + lay.fixed) else {
            return Err(bad(format!(
                "输出在第 {unit} 个单位处截断，共 {} 字节（output cut short）",
                bytes.len()
            )));
        };
        let (status, fuel_used) =
            super::check_status(manifest, unit, u32_at(r, 0), u32_at(r, 4), u64_at(r, 8))?;
        if stray_bits(r, lay.evaluated, ni) || lay.na.is_some_and(|at| stray_bits(r, at, ni)) {
            return Err(bad(
                "指标位集中保留位非零（reserved bits set in an indicator set）".into(),
            ));
        }
        let mut indicators = Vec::with_capacity(ni);
        let mut not_applicable = vec![false; ni];
        let mut any = false;
        for w in 0..wi {
            let ev = u64_at(r, lay.evaluated + 8 * w);
            let na = lay.na.map_or(0, |at| u64_at(r, at + 8 * w));
            if ev & na != 0 {
                let i = 64 * w + (ev & na).trailing_zeros() as usize;
                return Err(bad(format!(
                    "指标 {} 既计分又不适用（both evaluated and not applicable）",
                    manifest.indicators[i].id
                )));
            }
            any |= ev | na != 0;
            let mut na_bits = na;
            while na_bits != 0 {
                let i = 64 * w + na_bits.trailing_zeros() as usize;
                na_bits &= na_bits - 1;
                if !manifest.indicators[i].allow_not_applicable {
                    return Err(bad(format!(
                        "指标 {} 不可标记不适用，输出却标为不适用（not applicable where the rubric does not allow it）",
                        manifest.indicators[i].id
                    )));
                }
                not_applicable[i] = true;
            }
            let end = (64 * (w + 1)).min(ni);
            let slots = &r[lay.scores + 8 * 64 * w..lay.scores + 8 * end];
            let ranges = &range[64 * w..end];
            // The common case in one pass without a branch per indicator:
            // a fault is only noted here and named by the scan below.
            let mut fault = false;
            for (j, (&(flag, max), slot)) in ranges.iter().zip(slots.chunks_exact(8)).enumerate() {
                let score = i64::from_le_bytes(slot.try_into().unwrap_or([0; 8]));
                let on = (ev >> j) & 1 == 1;
                fault |= if on {
                    !(0..=max).contains(&score) || flag && score % 100 != 0
                } else {
                    score != 0
                };
                indicators.push(on.then_some(score));
            }
            if fault {
                for (j, slot) in slots.chunks_exact(8).enumerate() {
                    let i = 64 * w + j;
                    let score = i64::from_le_bytes(slot.try_into().unwrap_or([0; 8]));
                    let (flag, max) = range[i];
                    if (ev >> j) & 1 == 1 {
                        if !(0..=max).contains(&score) || flag && score % 100 != 0 {
                            return Err(bad(format!(
                                "指标 {} 的得分 {score} 超出范围（score out of range）",
                                manifest.indicators[i].id
                            )));
                        }
                    } else if score != 0 {
                        return Err(bad(format!(
                            "未计分的指标 {} 的得分槽为 {score}，应为 0（score on an unevaluated indicator）",
                            manifest.indicators[i].id
                        )));
                    }
                }
            }
        }
        let fired = u32_at(r, lay.fired) as usize;
        if u32_at(r, lay.fired + 4) != 0 || fired > nk {
            return Err(bad(format!(
                "触发条款数 {fired} 超出范围或保留字非零（fired count out of range）"
            )));
        }
        if !status.is_ok() && (any || fired != 0) {
            return Err(bad(
                "出错的单位不得带有得分（a failed unit must be all zero）".into(),
            ));
        }
        let end = lay.fixed + 16 * fired;
        let Some(list) = bytes.get(pos + lay.fixed..pos + end) else {
            return Err(bad(format!(
                "输出在第 {unit} 个单位的条款表处截断，共 {} 字节（output cut short）",
                bytes.len()
            )));
        };
        let mut clauses = vec![None; nk];
        let mut next = 0usize;
        for e in list.chunks_exact(16) {
            let k = u32_at(e, 0) as usize;
            let amount = u64_at(e, 8) as i64;
            if k < next || k >= nk || u32_at(e, 4) != 0 || amount < 0 {
                return Err(bad(format!(
                    "条款表项 {k}/{amount} 无效：须按序号递增、在范围内、金额 ≥ 0（clause entry out of order, out of range or negative）"
                )));
            }
            if indicators[owner[k]].is_none() {
                return Err(bad(format!(
                    "未计分的指标 {} 有触发的条款（clause fired on an unevaluated indicator）",
                    manifest.indicators[owner[k]].id
                )));
            }
            clauses[k] = Some(amount);
            next = k + 1;
        }
        units.push(UnitOutput {
            status,
            fuel_used,
            indicators,
            clauses,
            not_applicable,
        });
        pos += end;
    }
    if pos != bytes.len() {
        return Err(AbiError::OutputLength {
            expected: pos as u64,
            found: bytes.len(),
        });
    }
    Ok(units)
}

/// Bytes of the whole finalise input for `n` units, or `TooLarge`.
pub fn finalise_input_len(manifest: &Manifest, n: usize) -> Result<usize, AbiError> {
    let len = HEADER_LEN as u64 + n as u64 * manifest.finalise_input_record() as u64;
    if len > i32::MAX as u64 || u32::try_from(n).is_err() {
        return Err(AbiError::TooLarge);
    }
    Ok(len as usize)
}

/// Where a unit's pieces sit in an ABI 2 finalise input record.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FinIn {
    pub present: usize,
    pub na: Option<usize>,
    pub scores: usize,
}

impl FinIn {
    pub(crate) fn of(m: &Manifest) -> FinIn {
        let wi = m.indicator_words();
        let na = m.has_not_applicable().then_some(16 + 8 * wi);
        FinIn {
            present: 16,
            na,
            scores: 16 + 8 * wi * if na.is_some() { 2 } else { 1 },
        }
    }
}

/// Writes the ABI 2 finalise input for `units` into `out` (exactly
/// [`finalise_input_len`] bytes; every byte is written).
pub fn write_finalise_input(
    manifest: &Manifest,
    units: &[FinaliseInput],
    out: &mut [u8],
) -> Result<(), AbiError> {
    let ni = manifest.indicators.len();
    let lay = FinIn::of(manifest);
    let rec = manifest.finalise_input_record();
    if out.len() != finalise_input_len(manifest, units.len())? {
        return Err(AbiError::TooLarge);
    }
    put(out, 0, &FINALISE_MAGIC);
    put(out, 4, &manifest.abi_word().to_le_bytes());
    put(out, 8, &(units.len() as u32).to_le_bytes());
    put(out, 12, &(ni as u32).to_le_bytes());
    for (k, (u, r)) in units
        .iter()
        .zip(out[HEADER_LEN..].chunks_exact_mut(rec))
        .enumerate()
    {
        if u.scores.len() != ni {
            return Err(AbiError::ValueCount {
                unit: k,
                expected: ni,
                found: u.scores.len(),
            });
        }
        if !u.not_applicable.is_empty() && u.not_applicable.len() != ni {
            return Err(AbiError::ValueCount {
                unit: k,
                expected: ni,
                found: u.not_applicable.len(),
            });
        }
        if lay.na.is_none() && u.not_applicable.iter().any(|&na| na) {
            return Err(AbiError::NotApplicableUnsupported { unit: k });
        }
        r[..lay.scores].fill(0);
        put(r, 0, &u.category.to_le_bytes());
        put(
            r,
            4,
            &u32::from(u.penalty_cap_override.is_some()).to_le_bytes(),
        );
        put(r, 8, &u.penalty_cap_override.unwrap_or(0).to_le_bytes());
        let (head, scores) = r.split_at_mut(lay.scores);
        for (i, (s, slot)) in u.scores.iter().zip(scores.chunks_exact_mut(8)).enumerate() {
            match (u.is_not_applicable(i), s, lay.na) {
                (true, _, Some(at)) => {
                    head[at + 8 * (i / 64) + (i % 64) / 8] |= 1 << (i % 8);
                    slot.fill(0);
                }
                (false, Some(s), _) => {
                    head[lay.present + 8 * (i / 64) + (i % 64) / 8] |= 1 << (i % 8);
                    slot.copy_from_slice(&s.to_le_bytes());
                }
                _ => slot.fill(0),
            }
        }
    }
    Ok(())
}

/// The ABI 2 finalise input for `units`, as a vector.
pub(super) fn encode_finalise_input(
    manifest: &Manifest,
    units: &[FinaliseInput],
) -> Result<Vec<u8>, AbiError> {
    let mut out = vec![0; finalise_input_len(manifest, units.len())?];
    write_finalise_input(manifest, units, &mut out)?;
    Ok(out)
}

/// The pack side of §10: reads an ABI 2 finalise input into ABI 1's raw
/// records — present bit → 1, not-applicable bit → 2, both → 3 (refused
/// as invalid); a reserved bit set shows as flag bit 1, refused alike.
pub(super) fn decode_finalise_input(
    manifest: &Manifest,
    bytes: &[u8],
) -> Result<Vec<RawFinaliseInput>, BatchError> {
    let (n, count) = super::bytes::read_header(bytes, FINALISE_MAGIC, manifest.abi_word())?;
    let ni = manifest.indicators.len();
    if count as usize != ni {
        return Err(BatchError::CountsDisagree);
    }
    super::bytes::check_len(bytes, n, manifest.finalise_input_record())?;
    let lay = FinIn::of(manifest);
    Ok(bytes[HEADER_LEN..]
        .chunks_exact(manifest.finalise_input_record())
        .map(|r| {
            let stray =
                stray_bits(r, lay.present, ni) || lay.na.is_some_and(|at| stray_bits(r, at, ni));
            RawFinaliseInput {
                category: u32_at(r, 0),
                flags: u32_at(r, 4) | if stray { 2 } else { 0 },
                penalty_cap: u64_at(r, 8) as i64,
                scores: (0..ni)
                    .map(|i| {
                        let p = i64::from(bit_at(r, lay.present, i))
                            | lay.na.map_or(0, |at| i64::from(bit_at(r, at, i)) << 1);
                        (p, u64_at(r, lay.scores + 8 * i) as i64)
                    })
                    .collect(),
            }
        })
        .collect())
}
