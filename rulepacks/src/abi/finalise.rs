//! `kaohe_finalise` (ABI.md §3): its input and output, the same way.

use super::bytes::{Reader, check_len, header, pair, read_header};
use super::{
    AbiError, BatchError, FINALISE_MAGIC, FinaliseInput, FinaliseOutput, HEADER_LEN, Sheet,
    UnitStatus,
};
use crate::manifest::Manifest;

/// The `kaohe_finalise` input for `units`.
pub fn encode_finalise_input(
    manifest: &Manifest,
    units: &[FinaliseInput],
) -> Result<Vec<u8>, AbiError> {
    if manifest.is_v2() {
        return super::v2::encode_finalise_input(manifest, units);
    }
    let ni = manifest.indicators.len();
    let len = HEADER_LEN as u64 + units.len() as u64 * manifest.finalise_input_record() as u64;
    let n = u32::try_from(units.len()).map_err(|_| AbiError::TooLarge)?;
    if len > i32::MAX as u64 {
        return Err(AbiError::TooLarge);
    }
    let mut out = Vec::with_capacity(len as usize);
    header(&mut out, FINALISE_MAGIC, manifest.abi_word(), n, ni as u32);
    for (i, u) in units.iter().enumerate() {
        if u.scores.len() != ni {
            return Err(AbiError::ValueCount {
                unit: i,
                expected: ni,
                found: u.scores.len(),
            });
        }
        if !u.not_applicable.is_empty() && u.not_applicable.len() != ni {
            return Err(AbiError::ValueCount {
                unit: i,
                expected: ni,
                found: u.not_applicable.len(),
            });
        }
        if !manifest.has_not_applicable() && u.not_applicable.iter().any(|&na| na) {
            return Err(AbiError::NotApplicableUnsupported { unit: i });
        }
        out.extend_from_slice(&u.category.to_le_bytes());
        let flags = u32::from(u.penalty_cap_override.is_some());
        out.extend_from_slice(&flags.to_le_bytes());
        out.extend_from_slice(&u.penalty_cap_override.unwrap_or(0).to_le_bytes());
        for (k, s) in u.scores.iter().enumerate() {
            if u.is_not_applicable(k) {
                // ABI 1.1: present = 2, score 0.
                out.extend_from_slice(&2i64.to_le_bytes());
                out.extend_from_slice(&0i64.to_le_bytes());
            } else {
                pair(&mut out, *s);
            }
        }
    }
    Ok(out)
}

/// One unit of a finalise input exactly as the bytes say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFinaliseInput {
    pub category: u32,
    pub flags: u32,
    pub penalty_cap: i64,
    /// `(present, score)` per indicator; present 2 = not applicable (1.1).
    pub scores: Vec<(i64, i64)>,
}

impl From<&FinaliseInput> for RawFinaliseInput {
    fn from(u: &FinaliseInput) -> RawFinaliseInput {
        RawFinaliseInput {
            category: u.category,
            flags: u32::from(u.penalty_cap_override.is_some()),
            penalty_cap: u.penalty_cap_override.unwrap_or(0),
            scores: u
                .scores
                .iter()
                .enumerate()
                .map(|(k, s)| match s {
                    _ if u.is_not_applicable(k) => (2, 0),
                    Some(s) => (1, *s),
                    None => (0, 0),
                })
                .collect(),
        }
    }
}

/// The pack side of §3: reads a finalise input.
pub fn decode_finalise_input(
    manifest: &Manifest,
    bytes: &[u8],
) -> Result<Vec<RawFinaliseInput>, BatchError> {
    if manifest.is_v2() {
        return super::v2::decode_finalise_input(manifest, bytes);
    }
    let (n, count) = read_header(bytes, FINALISE_MAGIC, manifest.abi_word())?;
    if count as usize != manifest.indicators.len() {
        return Err(BatchError::CountsDisagree);
    }
    check_len(bytes, n, manifest.finalise_input_record())?;
    let mut r = Reader::new(&bytes[HEADER_LEN..]);
    let mut units = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let category = r.u32();
        let flags = r.u32();
        let penalty_cap = r.i64();
        let scores = (0..manifest.indicators.len())
            .map(|_| (r.i64(), r.i64()))
            .collect();
        units.push(RawFinaliseInput {
            category,
            flags,
            penalty_cap,
            scores,
        });
    }
    Ok(units)
}

/// The pack side of §3: writes the finalise output.
pub fn encode_finalise_output(units: &[FinaliseOutput]) -> Vec<u8> {
    let mut out = Vec::with_capacity(units.len() * crate::manifest::FINALISE_OUTPUT_RECORD);
    for u in units {
        let s = &u.sheet;
        out.extend_from_slice(&u.status.code().to_le_bytes());
        out.extend_from_slice(&u.status.detail().to_le_bytes());
        for v in [
            s.applicable,
            s.raw,
            s.converted,
            s.bonus,
            s.penalty,
            s.total,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&i64::from(s.grade).to_le_bytes());
        out.extend_from_slice(&i64::from(s.flags()).to_le_bytes());
    }
    out
}

/// Reads a pack's finalise output for `n` units, refusing anything ABI.md
/// does not allow (length, status, detail range, values on a failed unit, a
/// grade or flag out of range, caps exceeded, `total ≠ converted + bonus −
/// penalty`).
pub fn decode_finalise_output(
    manifest: &Manifest,
    n: usize,
    bytes: &[u8],
) -> Result<Vec<FinaliseOutput>, AbiError> {
    let rec = manifest.finalise_output_record();
    let expected = n as u64 * rec as u64;
    if bytes.len() as u64 != expected {
        return Err(AbiError::OutputLength {
            expected,
            found: bytes.len(),
        });
    }
    let ni = manifest.indicators.len();
    let grades = manifest.composition.grades.len() as i64;
    let mut r = Reader::new(bytes);
    let mut units = Vec::with_capacity(n);
    for unit in 0..n {
        let bad = |reason: String| AbiError::Malformed { unit, reason };
        let code = r.u32();
        let detail = r.u32();
        let status = UnitStatus::from_parts(code, detail)
            .filter(|s| {
                matches!(
                    s,
                    UnitStatus::Ok
                        | UnitStatus::Overflow(_)
                        | UnitStatus::MissingIndicator(_)
                        | UnitStatus::InvalidInput(_)
                ) || (manifest.has_not_applicable()
                    && matches!(s, UnitStatus::NotApplicableRefused(_)))
            })
            .ok_or_else(|| bad(format!("未知状态码 {code}（unknown status）")))?;
        let detail_ok = match status {
            UnitStatus::Ok => detail == 0,
            UnitStatus::MissingIndicator(d) | UnitStatus::NotApplicableRefused(d) => {
                (d as usize) < ni
            }
            _ => d_ok(detail, ni),
        };
        if !detail_ok {
            return Err(bad(format!(
                "状态 {code} 的 detail {detail} 超出范围（detail out of range）"
            )));
        }
        let v: Vec<i64> = (0..8).map(|_| r.i64()).collect();
        let (grade, flags) = (v[6], v[7]);
        if !status.is_ok() {
            if v.iter().any(|&x| x != 0) {
                return Err(bad(
                    "出错的单位不得带有得分（a failed unit must be all zero）".into(),
                ));
            }
            units.push(FinaliseOutput {
                status,
                sheet: Sheet::default(),
            });
            continue;
        }
        if !(0..grades).contains(&grade) {
            return Err(bad(format!(
                "等次序号 {grade} 超出范围（grade out of range）"
            )));
        }
        if !(0..=3).contains(&flags) {
            return Err(bad(format!("flags {flags} 超出范围（flags out of range）")));
        }
        let sheet = Sheet {
            applicable: v[0],
            raw: v[1],
            converted: v[2],
            bonus: v[3],
            penalty: v[4],
            total: v[5],
            grade: grade as u32,
            serious_case: flags & 1 != 0,
            major_problem: flags & 2 != 0,
        };
        if !(0..=manifest.composition.bonus_cap).contains(&sheet.bonus) || sheet.penalty < 0 {
            return Err(bad(
                "加分超出上限或减分为负（bonus above its cap or negative penalty）".into(),
            ));
        }
        if sheet
            .converted
            .checked_add(sheet.bonus)
            .and_then(|x| x.checked_sub(sheet.penalty))
            != Some(sheet.total)
        {
            return Err(bad("total ≠ converted + bonus − penalty".into()));
        }
        units.push(FinaliseOutput { status, sheet });
    }
    Ok(units)
}

fn d_ok(detail: u32, ni: usize) -> bool {
    detail == 0 || (detail as usize) < ni
}
