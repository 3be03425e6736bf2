//! The byte layouts of the pack ABI (ABI.md §2–§3) as Rust, the host-side
//! quarter combination (§7) and the merge of per-round outputs into the sheet
//! that is finalised.
//!
//! Encoders are for the host (inputs) and for Rust implementations of the
//! pack side (outputs, used by the reference interpreter's byte-level entry
//! points); decoders of outputs treat the bytes as untrusted and refuse
//! anything ABI.md does not allow.

use crate::manifest::{Combine, IndicatorKind, Manifest, Round};

/// Magic of a `kaohe_evaluate` input.
pub const EVALUATE_MAGIC: [u8; 4] = *b"KHEV";
/// Magic of a `kaohe_finalise` input.
pub const FINALISE_MAGIC: [u8; 4] = *b"KHFI";
/// Bytes of the input header (magic, abi, n, count).
pub const HEADER_LEN: usize = 16;

/// Evidence of one unit for one round, as the host supplies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitInput {
    /// Index into `manifest.categories`.
    pub category: u32,
    pub round: Round,
    /// Bit `m` set = evaluate indicators of `manifest.methods[m]`.
    pub methods: u32,
    /// One entry per manifest field, ABI-encoded; `None` = not supplied.
    pub values: Vec<Option<i64>>,
}

/// A unit's status (ABI.md §5) with the index it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnitStatus {
    /// 0
    Ok,
    /// 1: a required field is missing (field index).
    MissingField(u32),
    /// 2: division by zero (indicator index).
    DivisionByZero(u32),
    /// 3: arithmetic overflow (indicator index; finalise: indicator or 0).
    Overflow(u32),
    /// 4: out of rubric fuel (indicator index).
    OutOfFuel(u32),
    /// 5: finalise: an applicable indicator is missing (indicator index).
    MissingIndicator(u32),
    /// 6: invalid input for this unit (field or indicator index, or 0).
    InvalidInput(u32),
}

impl UnitStatus {
    pub fn code(self) -> u32 {
        match self {
            UnitStatus::Ok => 0,
            UnitStatus::MissingField(_) => 1,
            UnitStatus::DivisionByZero(_) => 2,
            UnitStatus::Overflow(_) => 3,
            UnitStatus::OutOfFuel(_) => 4,
            UnitStatus::MissingIndicator(_) => 5,
            UnitStatus::InvalidInput(_) => 6,
        }
    }

    pub fn detail(self) -> u32 {
        match self {
            UnitStatus::Ok => 0,
            UnitStatus::MissingField(d)
            | UnitStatus::DivisionByZero(d)
            | UnitStatus::Overflow(d)
            | UnitStatus::OutOfFuel(d)
            | UnitStatus::MissingIndicator(d)
            | UnitStatus::InvalidInput(d) => d,
        }
    }

    pub fn from_parts(code: u32, detail: u32) -> Option<UnitStatus> {
        Some(match code {
            0 => UnitStatus::Ok,
            1 => UnitStatus::MissingField(detail),
            2 => UnitStatus::DivisionByZero(detail),
            3 => UnitStatus::Overflow(detail),
            4 => UnitStatus::OutOfFuel(detail),
            5 => UnitStatus::MissingIndicator(detail),
            6 => UnitStatus::InvalidInput(detail),
            _ => return None,
        })
    }

    pub fn is_ok(self) -> bool {
        self == UnitStatus::Ok
    }

    /// The id the fixtures use for this status (`missing_field` …).
    pub fn kind_id(self) -> &'static str {
        match self {
            UnitStatus::Ok => "ok",
            UnitStatus::MissingField(_) => "missing_field",
            UnitStatus::DivisionByZero(_) => "division_by_zero",
            UnitStatus::Overflow(_) => "overflow",
            UnitStatus::OutOfFuel(_) => "out_of_fuel",
            UnitStatus::MissingIndicator(_) => "missing_indicator",
            UnitStatus::InvalidInput(_) => "invalid_input",
        }
    }

    /// Chinese and English description naming the field or indicator.
    pub fn describe(self, manifest: &Manifest) -> String {
        let field = |d: u32| {
            manifest
                .fields
                .get(d as usize)
                .map(|f| format!("{}（{}）", f.id, f.label))
                .unwrap_or_else(|| format!("#{d}"))
        };
        let ind = |d: u32| {
            manifest
                .indicators
                .get(d as usize)
                .map(|i| format!("{}（{}）", i.id, i.name))
                .unwrap_or_else(|| format!("#{d}"))
        };
        match self {
            UnitStatus::Ok => "正常（ok）".into(),
            UnitStatus::MissingField(d) => {
                format!("缺少必填证据 {}（required field missing）", field(d))
            }
            UnitStatus::DivisionByZero(d) => {
                format!("指标 {} 计算中除以零（division by zero）", ind(d))
            }
            UnitStatus::Overflow(d) => format!("指标 {} 计算溢出（arithmetic overflow）", ind(d)),
            UnitStatus::OutOfFuel(d) => {
                format!(
                    "计算量超出规则包限额，停在指标 {}（out of rubric fuel）",
                    ind(d)
                )
            }
            UnitStatus::MissingIndicator(d) => {
                format!(
                    "缺少适用指标 {} 的得分（applicable indicator missing）",
                    ind(d)
                )
            }
            UnitStatus::InvalidInput(d) => format!("输入无效（invalid input），位置 #{d}"),
        }
    }
}

/// A pack's answer for one unit of an evaluate batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitOutput {
    pub status: UnitStatus,
    /// Rubric fuel consumed by this unit (ABI.md §6).
    pub fuel_used: u64,
    /// One per indicator: `Some(score)` when evaluated (hundredths).
    pub indicators: Vec<Option<i64>>,
    /// One per clause: `Some(amount)` when fired (hundredths).
    pub clauses: Vec<Option<i64>>,
}

impl UnitOutput {
    /// The output of a unit that failed: every indicator and clause zero.
    pub fn failed(manifest: &Manifest, status: UnitStatus, fuel_used: u64) -> UnitOutput {
        UnitOutput {
            status,
            fuel_used,
            indicators: vec![None; manifest.indicators.len()],
            clauses: vec![None; manifest.clause_count()],
        }
    }
}

/// A unit's merged sheet (all methods, quarters combined), to be finalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinaliseInput {
    pub category: u32,
    /// A recorded override of the penalty cap (hundredths), if any.
    pub penalty_cap_override: Option<i64>,
    /// One per indicator: `Some(score)` when present.
    pub scores: Vec<Option<i64>>,
}

/// The finalised score sheet (ABI.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sheet {
    /// Points applicable to the category (hundredths).
    pub applicable: i64,
    /// Sum of the scored indicators.
    pub raw: i64,
    /// `raw` normalised to full marks (换算).
    pub converted: i64,
    /// After the bonus cap.
    pub bonus: i64,
    /// After the penalty cap (or the override).
    pub penalty: i64,
    /// `converted + bonus − penalty`.
    pub total: i64,
    /// Index into `manifest.composition.grades`.
    pub grade: u32,
    /// A serious case was flagged (the barred grade is excluded).
    pub serious_case: bool,
    /// A major problem was flagged.
    pub major_problem: bool,
}

impl Sheet {
    /// The `flags` word of the ABI.
    pub fn flags(&self) -> u32 {
        u32::from(self.serious_case) | (u32::from(self.major_problem) << 1)
    }
}

/// A pack's answer for one unit of a finalise batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FinaliseOutput {
    pub status: UnitStatus,
    /// All zero unless `status` is `Ok`.
    pub sheet: Sheet,
}

impl FinaliseOutput {
    pub fn result(&self) -> Result<&Sheet, UnitStatus> {
        if self.status.is_ok() {
            Ok(&self.sheet)
        } else {
            Err(self.status)
        }
    }
}

/// The batch-level refusals a pack returns as a negative number (ABI.md §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("输入魔数错误（bad magic）")]
    BadMagic,
    #[error("ABI 版本不符（wrong ABI version）")]
    WrongAbi,
    #[error("输入长度与数量不符（length does not match the counts）")]
    BadLength,
    #[error("输入中的数量与清单不符（counts disagree with the manifest）")]
    CountsDisagree,
    #[error("规则包内存不足（pack out of memory）")]
    OutOfMemory,
}

impl BatchError {
    pub fn code(self) -> i64 {
        match self {
            BatchError::BadMagic => -1,
            BatchError::WrongAbi => -2,
            BatchError::BadLength => -3,
            BatchError::CountsDisagree => -4,
            BatchError::OutOfMemory => -5,
        }
    }

    pub fn from_code(code: i64) -> Option<BatchError> {
        Some(match code {
            -1 => BatchError::BadMagic,
            -2 => BatchError::WrongAbi,
            -3 => BatchError::BadLength,
            -4 => BatchError::CountsDisagree,
            -5 => BatchError::OutOfMemory,
            _ => return None,
        })
    }
}

/// Input the host cannot encode, or output a pack should not have produced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AbiError {
    #[error("第 {unit} 个单位的取值个数为 {found}，清单要求 {expected}（value count mismatch）")]
    ValueCount {
        unit: usize,
        expected: usize,
        found: usize,
    },
    #[error("批次过大，超出 32 位长度（batch too large for the 32-bit ABI）")]
    TooLarge,
    #[error("规则包输出长度为 {found} 字节，应为 {expected} 字节（output length mismatch）")]
    OutputLength { expected: u64, found: usize },
    #[error("规则包输出的第 {unit} 个单位不合规（malformed output）：{reason}")]
    Malformed { unit: usize, reason: String },
}

/// A merge of per-round outputs into one sheet that cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    #[error("类别序号 {0} 超出清单范围（category out of range）")]
    Category(u32),
    #[error("{round} 的结果有错误，不能汇总（a round's output has an error）：状态 {code}")]
    Failed { round: &'static str, code: u32 },
    #[error("{round} 的结果长度与清单不符（output shape mismatch）")]
    Shape { round: &'static str },
    #[error("指标 {indicator} 在 {round} 中被重复计分（indicator scored twice in one round）")]
    Conflict {
        indicator: String,
        round: &'static str,
    },
    #[error("指标 {indicator} 不应在 {round} 中计分（indicator scored in the wrong round）")]
    WrongRound {
        indicator: String,
        round: &'static str,
    },
}

/// The `kaohe_evaluate` input for `units`.
pub fn encode_evaluate_input(
    manifest: &Manifest,
    units: &[UnitInput],
) -> Result<Vec<u8>, AbiError> {
    let f = manifest.fields.len();
    let len = HEADER_LEN as u64 + units.len() as u64 * manifest.evaluate_input_record() as u64;
    let n = u32::try_from(units.len()).map_err(|_| AbiError::TooLarge)?;
    if len > i32::MAX as u64 {
        return Err(AbiError::TooLarge);
    }
    let mut out = Vec::with_capacity(len as usize);
    header(&mut out, EVALUATE_MAGIC, n, f as u32);
    for (i, u) in units.iter().enumerate() {
        if u.values.len() != f {
            return Err(AbiError::ValueCount {
                unit: i,
                expected: f,
                found: u.values.len(),
            });
        }
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
        }
    }
}

/// The batch-level checks of §5 for an evaluate input, in their documented
/// order; returns `n`.
pub fn check_evaluate_input(manifest: &Manifest, bytes: &[u8]) -> Result<u32, BatchError> {
    let (n, count) = read_header(bytes, EVALUATE_MAGIC)?;
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
        units.push(RawUnitInput {
            category,
            round,
            methods,
            reserved,
            fields,
        });
    }
    Ok(units)
}

/// The pack side of §2: writes the evaluate output. Missing entries of a
/// short vector are written as zero.
pub fn encode_evaluate_output(manifest: &Manifest, units: &[UnitOutput]) -> Vec<u8> {
    let (ni, nk) = (manifest.indicators.len(), manifest.clause_count());
    let mut out = Vec::with_capacity(units.len() * manifest.evaluate_output_record());
    for u in units {
        out.extend_from_slice(&u.status.code().to_le_bytes());
        out.extend_from_slice(&u.status.detail().to_le_bytes());
        out.extend_from_slice(&u.fuel_used.to_le_bytes());
        for i in 0..ni {
            pair(&mut out, u.indicators.get(i).copied().flatten());
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
/// more fuel than the budget).
pub fn decode_evaluate_output(
    manifest: &Manifest,
    n: usize,
    bytes: &[u8],
) -> Result<Vec<UnitOutput>, AbiError> {
    let rec = manifest.evaluate_output_record();
    let expected = n as u64 * rec as u64;
    if bytes.len() as u64 != expected {
        return Err(AbiError::OutputLength {
            expected,
            found: bytes.len(),
        });
    }
    let (ni, nf) = (manifest.indicators.len(), manifest.fields.len());
    let offsets = manifest.clause_offsets();
    let nk = manifest.clause_count();
    let mut r = Reader::new(bytes);
    let mut units = Vec::with_capacity(n);
    for unit in 0..n {
        let bad = |reason: String| AbiError::Malformed { unit, reason };
        let code = r.u32();
        let detail = r.u32();
        let fuel_used = r.u64();
        let status = UnitStatus::from_parts(code, detail)
            .filter(|s| !matches!(s, UnitStatus::MissingIndicator(_)))
            .ok_or_else(|| bad(format!("未知状态码 {code}（unknown status）")))?;
        let detail_ok = match status {
            UnitStatus::Ok => detail == 0,
            UnitStatus::MissingField(d) => (d as usize) < nf,
            UnitStatus::InvalidInput(d) => d == 0 || (d as usize) < nf,
            UnitStatus::DivisionByZero(d) | UnitStatus::Overflow(d) | UnitStatus::OutOfFuel(d) => {
                (d as usize) < ni
            }
            UnitStatus::MissingIndicator(_) => false,
        };
        if !detail_ok {
            return Err(bad(format!(
                "状态 {code} 的 detail {detail} 超出范围（detail out of range）"
            )));
        }
        if fuel_used > manifest.limits.fuel_per_unit {
            return Err(bad(format!(
                "fuel_used {fuel_used} 超过限额 {}（fuel above the budget）",
                manifest.limits.fuel_per_unit
            )));
        }
        let mut indicators = Vec::with_capacity(ni);
        for i in 0..ni {
            let (state, score) = (r.i64(), r.i64());
            let id = &manifest.indicators[i].id;
            indicators.push(match state {
                0 if score == 0 => None,
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
                        "指标 {id} 的 state/score 为 {state}/{score}（state must be 0 with score 0, or 1）"
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
            && (indicators.iter().any(Option::is_some) || clauses.iter().any(Option::is_some))
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
        units.push(UnitOutput {
            status,
            fuel_used,
            indicators,
            clauses,
        });
    }
    Ok(units)
}

/// The `kaohe_finalise` input for `units`.
pub fn encode_finalise_input(
    manifest: &Manifest,
    units: &[FinaliseInput],
) -> Result<Vec<u8>, AbiError> {
    let ni = manifest.indicators.len();
    let len = HEADER_LEN as u64 + units.len() as u64 * manifest.finalise_input_record() as u64;
    let n = u32::try_from(units.len()).map_err(|_| AbiError::TooLarge)?;
    if len > i32::MAX as u64 {
        return Err(AbiError::TooLarge);
    }
    let mut out = Vec::with_capacity(len as usize);
    header(&mut out, FINALISE_MAGIC, n, ni as u32);
    for (i, u) in units.iter().enumerate() {
        if u.scores.len() != ni {
            return Err(AbiError::ValueCount {
                unit: i,
                expected: ni,
                found: u.scores.len(),
            });
        }
        out.extend_from_slice(&u.category.to_le_bytes());
        let flags = u32::from(u.penalty_cap_override.is_some());
        out.extend_from_slice(&flags.to_le_bytes());
        out.extend_from_slice(&u.penalty_cap_override.unwrap_or(0).to_le_bytes());
        for s in &u.scores {
            pair(&mut out, *s);
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
    /// `(present, score)` per indicator.
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
                .map(|s| match s {
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
    let (n, count) = read_header(bytes, FINALISE_MAGIC)?;
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
                )
            })
            .ok_or_else(|| bad(format!("未知状态码 {code}（unknown status）")))?;
        let detail_ok = match status {
            UnitStatus::Ok => detail == 0,
            UnitStatus::MissingIndicator(d) => (d as usize) < ni,
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

/// Rounds the exact quotient `n / d` half away from zero (四舍五入).
/// `None` when `d == 0`.
pub fn div_round(n: i128, d: i128) -> Option<i128> {
    if d == 0 {
        return None;
    }
    let q = n / d;
    let r = n % d;
    // |r| < |d|, so 2|r| cannot overflow an i128 built from i64 operands.
    if 2 * r.abs() >= d.abs() {
        Some(if (n < 0) == (d < 0) { q + 1 } else { q - 1 })
    } else {
        Some(q)
    }
}

/// ABI.md §7: the annual score of a quarterly indicator from its quarter
/// scores (`None` = not evaluated that quarter). `points` is the indicator's
/// points for the unit's category. Returns `None` when no quarter was
/// evaluated.
///
/// | kind | mean | sum | last |
/// |---|---|---|---|
/// | scored | mean of the evaluated quarters, rounded | `points − Σ (points − qᵢ)`, clamped to `0..=points` (deductions accumulate) | latest evaluated quarter |
/// | bonus, penalty | mean, rounded | `min(Σ qᵢ, points)` | latest |
/// | flag | raised if raised in any quarter | same | same |
pub fn combine_quarters(
    combine: Combine,
    kind: IndicatorKind,
    points: i64,
    quarters: [Option<i64>; 4],
) -> Option<i64> {
    let present: Vec<i64> = quarters.iter().flatten().copied().collect();
    if present.is_empty() {
        return None;
    }
    if kind == IndicatorKind::Flag {
        return Some(if present.iter().any(|&q| q != 0) {
            100
        } else {
            0
        });
    }
    let sum: i128 = present.iter().map(|&q| i128::from(q)).sum();
    let k = present.len() as i128;
    let (p, sum) = (i128::from(points), sum);
    let v = match combine {
        Combine::Mean => div_round(sum, k).unwrap_or(0),
        Combine::Last => i128::from(*present.last().unwrap_or(&0)),
        Combine::Sum => match kind {
            IndicatorKind::Scored => (p - (p * k - sum)).clamp(0, p.max(0)),
            _ => sum.min(p),
        },
    };
    // Every case is bounded by the inputs or by `points`, so it fits an i64.
    Some(i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX }))
}

/// Merges a unit's per-round evaluate outputs (from any number of nodes and
/// methods) into the finalise input: annual-round indicators are taken as
/// they are, quarterly indicators are combined with [`combine_quarters`].
/// An indicator scored twice in the same round is a conflict; an indicator
/// not scored in any round stays absent (finalise then reports it).
pub fn merge_outputs(
    manifest: &Manifest,
    category: u32,
    outputs: &[(Round, &UnitOutput)],
    penalty_cap_override: Option<i64>,
) -> Result<FinaliseInput, MergeError> {
    let c = category as usize;
    if c >= manifest.categories.len() {
        return Err(MergeError::Category(category));
    }
    let ni = manifest.indicators.len();
    let mut annual: Vec<Option<i64>> = vec![None; ni];
    let mut quarters: Vec<[Option<i64>; 4]> = vec![[None; 4]; ni];
    for (round, out) in outputs {
        let rid = round.id();
        if !out.status.is_ok() {
            return Err(MergeError::Failed {
                round: rid,
                code: out.status.code(),
            });
        }
        if out.indicators.len() != ni {
            return Err(MergeError::Shape { round: rid });
        }
        for (i, score) in out.indicators.iter().enumerate() {
            let Some(score) = *score else { continue };
            let ind = &manifest.indicators[i];
            let quarterly = manifest
                .indicator_method(i)
                .is_some_and(|m| manifest.methods[m].quarterly);
            if quarterly != round.is_quarter() || !manifest.applies(i, c) {
                return Err(MergeError::WrongRound {
                    indicator: ind.id.clone(),
                    round: rid,
                });
            }
            let slot = match round {
                Round::Annual => &mut annual[i],
                q => &mut quarters[i][q.code() as usize - 1],
            };
            if slot.replace(score).is_some() {
                return Err(MergeError::Conflict {
                    indicator: ind.id.clone(),
                    round: rid,
                });
            }
        }
    }
    let mut scores = annual;
    for (i, q) in quarters.into_iter().enumerate() {
        let Some(m) = manifest.indicator_method(i) else {
            continue;
        };
        let (Some(combine), Some(points)) = (manifest.methods[m].combine, manifest.points(i, c))
        else {
            continue;
        };
        if manifest.methods[m].quarterly {
            scores[i] = combine_quarters(combine, manifest.indicators[i].kind, points, q);
        }
    }
    Ok(FinaliseInput {
        category,
        penalty_cap_override,
        scores,
    })
}

fn header(out: &mut Vec<u8>, magic: [u8; 4], n: u32, count: u32) {
    out.extend_from_slice(&magic);
    out.extend_from_slice(&crate::manifest::ABI_VERSION.to_le_bytes());
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
}

fn pair(out: &mut Vec<u8>, v: Option<i64>) {
    let (flag, v) = match v {
        Some(v) => (1i64, v),
        None => (0, 0),
    };
    out.extend_from_slice(&flag.to_le_bytes());
    out.extend_from_slice(&v.to_le_bytes());
}

/// Header checks in the order ABI.md §5 gives: length of the header, magic,
/// version; the caller then checks the count and the total length.
fn read_header(bytes: &[u8], magic: [u8; 4]) -> Result<(u32, u32), BatchError> {
    if bytes.len() < HEADER_LEN {
        return Err(BatchError::BadLength);
    }
    if bytes[0..4] != magic {
        return Err(BatchError::BadMagic);
    }
    let mut r = Reader::new(&bytes[4..HEADER_LEN]);
    if r.u32() != crate::manifest::ABI_VERSION {
        return Err(BatchError::WrongAbi);
    }
    Ok((r.u32(), r.u32()))
}

fn check_len(bytes: &[u8], n: u32, rec: usize) -> Result<(), BatchError> {
    let expected = HEADER_LEN as u64 + u64::from(n) * rec as u64;
    if bytes.len() as u64 != expected {
        return Err(BatchError::BadLength);
    }
    Ok(())
}

/// Little-endian reader over a slice whose length the caller has checked.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, at: 0 }
    }

    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut b = [0u8; N];
        // The callers check the total length first; a short read yields zeros
        // rather than a panic.
        if let Some(s) = self.bytes.get(self.at..self.at + N) {
            b.copy_from_slice(s);
        }
        self.at += N;
        b
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take())
    }

    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take())
    }

    fn i64(&mut self) -> i64 {
        i64::from_le_bytes(self.take())
    }
}
