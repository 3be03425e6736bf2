//! `kaohe_evaluate` (ABI.md §2): its input, encoded by the host and read
//! by Rust implementations of the pack side, and its output, decoded as
//! untrusted bytes.

use super::bytes::{Reader, check_len, header, pair, read_header};
use super::{
    AbiError, BatchError, EVALUATE_MAGIC, HEADER_LEN, UnitInput, UnitOutput, check_status,
};
use crate::manifest::{IndicatorKind, Manifest};

/// The `kaohe_evaluate` input for `units`.
pub fn encode_evaluate_input(
    manifest: &Manifest,
    units: &[UnitInput],
) -> Result<Vec<u8>, AbiError> {
    if manifest.is_v2() {
        return super::v2::encode_evaluate_input(manifest, units);
    }
    let f = manifest.fields.len();
    let len = HEADER_LEN as u64 + units.len() as u64 * manifest.evaluate_input_record() as u64;
    let n = u32::try_from(units.len()).map_err(|_| AbiError::TooLarge)?;
    if len > i32::MAX as u64 {
        return Err(AbiError::TooLarge);
    }
    let ni = manifest.indicators.len();
    let marks = manifest.has_not_applicable();
    let mut out = Vec::with_capacity(len as usize);
    header(&mut out, EVALUATE_MAGIC, manifest.abi_word(), n, f as u32);
    for (i, u) in units.iter().enumerate() {
        super::check_unit_shape(i, u, f, ni, marks)?;
        out.extend_from_slice(&u.category.to_le_bytes());
        out.extend_from_slice(&u.round.code().to_le_bytes());
        out.extend_from_slice(&u.methods.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        for v in &u.values {
            let (p, v) = match v {
                Some(v) => (1i64, *v),
                None => (0, 0),
            };
            out.extend_from_slice(&p.to_le_bytes());
            out.extend_from_slice(&v.to_le_bytes());
        }
        if marks {
            for k in 0..ni {
                let na = u.not_applicable.get(k).copied().unwrap_or(false);
                out.extend_from_slice(&i64::from(na).to_le_bytes());
            }
        }
    }
    Ok(out)
}

/// One unit of an evaluate input exactly as the bytes say (a pack must cope
/// with values the typed [`UnitInput`] cannot express).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawUnitInput {
    pub category: u32,
    pub round: u32,
    pub methods: u32,
    pub reserved: u32,
    /// `(present, value)` per field.
    pub fields: Vec<(i64, i64)>,
    /// The not-applicable mark per indicator (ABI 1.1; empty under 1.0).
    pub not_applicable: Vec<i64>,
}

impl From<&UnitInput> for RawUnitInput {
    fn from(u: &UnitInput) -> RawUnitInput {
        RawUnitInput {
            category: u.category,
            round: u.round.code(),
            methods: u.methods,
            reserved: 0,
            fields: u
                .values
                .iter()
                .map(|v| match v {
                    Some(v) => (1, *v),
                    None => (0, 0),
                })
                .collect(),
            not_applicable: u.not_applicable.iter().map(|&na| i64::from(na)).collect(),
        }
    }
}

/// The batch-level checks of §5 for an evaluate input, in their documented
/// order; returns `n`.
pub fn check_evaluate_input(manifest: &Manifest, bytes: &[u8]) -> Result<u32, BatchError> {
    let (n, count) = read_header(bytes, EVALUATE_MAGIC, manifest.abi_word())?;
    if count as usize != manifest.fields.len() {
        return Err(BatchError::CountsDisagree);
    }
    check_len(bytes, n, manifest.evaluate_input_record())?;
    Ok(n)
}

/// The pack side of §2: reads an evaluate input, with the batch-level checks
/// of §5 in their documented order.
pub fn decode_evaluate_input(
    manifest: &Manifest,
    bytes: &[u8],
) -> Result<Vec<RawUnitInput>, BatchError> {
    if manifest.is_v2() {
        return super::v2::decode_evaluate_input(manifest, bytes);
    }
    let n = check_evaluate_input(manifest, bytes)?;
    let mut r = Reader::new(&bytes[HEADER_LEN..]);
    let mut units = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let category = r.u32();
        let round = r.u32();
        let methods = r.u32();
        let reserved = r.u32();
        let fields = (0..manifest.fields.len())
            .map(|_| (r.i64(), r.i64()))
            .collect();
        let not_applicable = if manifest.has_not_applicable() {
            (0..manifest.indicators.len()).map(|_| r.i64()).collect()
        } else {
            Vec::new()
        };
        units.push(RawUnitInput {
            category,
            round,
            methods,
            reserved,
            fields,
            not_applicable,
        });
    }
    Ok(units)
}

/// The pack side of §2: writes the evaluate output. Missing entries of a
/// short vector are written as zero.
pub fn encode_evaluate_output(manifest: &Manifest, units: &[UnitOutput]) -> Vec<u8> {
    if manifest.is_v2() {
        return super::v2::encode_evaluate_output(manifest, units);
    }
    let (ni, nk) = (manifest.indicators.len(), manifest.clause_count());
    let mut out = Vec::with_capacity(units.len() * manifest.evaluate_output_record());
    for u in units {
        out.extend_from_slice(&u.status.code().to_le_bytes());
        out.extend_from_slice(&u.status.detail().to_le_bytes());
        out.extend_from_slice(&u.fuel_used.to_le_bytes());
        for i in 0..ni {
            if u.is_not_applicable(i) {
                out.extend_from_slice(&2i64.to_le_bytes());
                out.extend_from_slice(&0i64.to_le_bytes());
            } else {
                pair(&mut out, u.indicators.get(i).copied().flatten());
            }
        }
        for k in 0..nk {
            pair(&mut out, u.clauses.get(k).copied().flatten());
        }
    }
    out
}

/// Reads a pack's evaluate output for `n` units, refusing anything ABI.md
/// does not allow (wrong length, unknown status, a detail out of range, a
/// flag word other than 0/1, values on a failed unit or an unevaluated
/// indicator, a negative amount, a score outside the indicator's range,
/// more fuel than the budget, a not-applicable state under ABI 1.0 or on an
/// indicator the rubric never lets be marked).
pub fn decode_evaluate_output(
    manifest: &Manifest,
    n: usize,
    bytes: &[u8],
) -> Result<Vec<UnitOutput>, AbiError> {
    if manifest.is_v2() {
        return super::v2::decode_evaluate_output(manifest, n, bytes);
    }
    let rec = manifest.evaluate_output_record();
    let expected = n as u64 * rec as u64;
    if bytes.len() as u64 != expected {
        return Err(AbiError::OutputLength {
            expected,
            found: bytes.len(),
        });
    }
    let ni = manifest.indicators.len();
    let offsets = manifest.clause_offsets();
    let nk = manifest.clause_count();
    let marks = manifest.has_not_applicable();
    let mut r = Reader::new(bytes);
    let mut units = Vec::with_capacity(n);
    for unit in 0..n {
        let bad = |reason: String| AbiError::Malformed { unit, reason };
        let status = check_status(manifest, unit, r.u32(), r.u32(), r.u64())?;
        let fuel_used = status.1;
        let status = status.0;
        let mut indicators = Vec::with_capacity(ni);
        let mut not_applicable = vec![false; ni];
        for (i, na) in not_applicable.iter_mut().enumerate() {
            let (state, score) = (r.i64(), r.i64());
            let id = &manifest.indicators[i].id;
            indicators.push(match state {
                0 if score == 0 => None,
                2 if marks && score == 0 => {
                    *na = true;
                    None
                }
                1 => {
                    let max = manifest.max_points(i);
                    let ok = match manifest.indicators[i].kind {
                        IndicatorKind::Flag => score == 0 || score == 100,
                        _ => (0..=max).contains(&score),
                    };
                    if !ok {
                        return Err(bad(format!("指标 {id} 的得分 {score} 超出范围（score out of range）")));
                    }
                    Some(score)
                }
                _ => {
                    return Err(bad(format!(
                        "指标 {id} 的 state/score 为 {state}/{score}（state must be 0 with score 0, 1, or under ABI 1.1 2 with score 0）"
                    )));
                }
            });
        }
        let mut clauses = Vec::with_capacity(nk);
        for k in 0..nk {
            let (fired, amount) = (r.i64(), r.i64());
            clauses.push(match fired {
                0 if amount == 0 => None,
                1 if amount >= 0 => Some(amount),
                _ => {
                    return Err(bad(format!(
                        "第 {k} 条款的 fired/amount 为 {fired}/{amount}（fired must be 0 with amount 0, or 1 with amount ≥ 0）"
                    )));
                }
            });
        }
        if !status.is_ok()
            && (indicators.iter().any(Option::is_some)
                || clauses.iter().any(Option::is_some)
                || not_applicable.iter().any(|&na| na))
        {
            return Err(bad(
                "出错的单位不得带有得分（a failed unit must be all zero）".into(),
            ));
        }
        for (i, ind) in manifest.indicators.iter().enumerate() {
            if indicators[i].is_none()
                && clauses[offsets[i]..offsets[i] + ind.clauses.len()]
                    .iter()
                    .any(Option::is_some)
            {
                return Err(bad(format!(
                    "未计分的指标 {} 有触发的条款（clause fired on an unevaluated indicator）",
                    ind.id
                )));
            }
        }
        for (i, ind) in manifest.indicators.iter().enumerate() {
            if not_applicable[i] && !ind.allow_not_applicable {
                return Err(bad(format!(
                    "指标 {} 不可标记不适用，输出却标为不适用（not applicable where the rubric does not allow it）",
                    ind.id
                )));
            }
        }
        units.push(UnitOutput {
            status,
            fuel_used,
            indicators,
            clauses,
            not_applicable,
        });
    }
    Ok(units)
}
