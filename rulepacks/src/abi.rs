//! The byte layouts of the pack ABI (ABI.md §2–§3) as Rust, the host-side
//! quarter combination (§7) and the merge of per-round outputs into the sheet
//! that is finalised.
//!
//! Encoders are for the host (inputs) and for Rust implementations of the
//! pack side (outputs, used by the reference interpreter's byte-level entry
//! points); decoders of outputs treat the bytes as untrusted and refuse
//! anything ABI.md does not allow.
//!
//! Layout (every item re-exported here):
//! - here: the records both sides exchange ([`UnitInput`], [`UnitOutput`],
//!   [`FinaliseInput`], [`FinaliseOutput`], [`Sheet`], [`UnitStatus`]) and
//!   the errors;
//! - `evaluate`: the `kaohe_evaluate` input and output codecs;
//! - `finalise`: the `kaohe_finalise` input and output codecs;
//! - [`v2`]: ABI 2's compact inputs and sparse evaluate output (ABI.md
//!   §10); the codecs above dispatch to it on the manifest's
//!   `abi_version`, so callers name no version;
//! - `combine`: [`combine_quarters`], [`merge_outputs`], [`div_round`];
//! - `bytes`: the header, value pairs and the bounds-checked reader they share.

mod bytes;
mod combine;
mod evaluate;
mod finalise;
pub mod v2;

pub use combine::{combine_quarters, div_round, merge_outputs};
pub use evaluate::{
    RawUnitInput, check_evaluate_input, decode_evaluate_input, decode_evaluate_output,
    encode_evaluate_input, encode_evaluate_output,
};
pub use finalise::{
    RawFinaliseInput, decode_finalise_input, decode_finalise_output, encode_finalise_input,
    encode_finalise_output,
};

use crate::manifest::{Manifest, Round};

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
    /// The indicators the assessor marked not applicable (不适用) for this
    /// unit and round: one entry per manifest indicator, or empty for
    /// none. Only a pack of ABI 1.1 takes marks.
    pub not_applicable: Vec<bool>,
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
    /// 7 (ABI 1.1): an indicator is marked not applicable where it may not
    /// be (indicator index).
    NotApplicableRefused(u32),
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
            UnitStatus::NotApplicableRefused(_) => 7,
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
            | UnitStatus::InvalidInput(d)
            | UnitStatus::NotApplicableRefused(d) => d,
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
            7 => UnitStatus::NotApplicableRefused(detail),
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
            UnitStatus::NotApplicableRefused(_) => "not_applicable_refused",
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
            UnitStatus::NotApplicableRefused(d) => format!(
                "指标 {} 不能标记为不适用：细则不允许、不适用于该类别或本轮次不评价（not-applicable mark refused）",
                ind(d)
            ),
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
    /// One per indicator: marked not applicable, so not evaluated
    /// (`indicators[i]` is `None`).
    pub not_applicable: Vec<bool>,
}

impl UnitOutput {
    /// The output of a unit that failed: every indicator and clause zero.
    pub fn failed(manifest: &Manifest, status: UnitStatus, fuel_used: u64) -> UnitOutput {
        UnitOutput {
            status,
            fuel_used,
            indicators: vec![None; manifest.indicators.len()],
            clauses: vec![None; manifest.clause_count()],
            not_applicable: vec![false; manifest.indicators.len()],
        }
    }

    /// Whether indicator `i` was marked not applicable.
    pub fn is_not_applicable(&self, i: usize) -> bool {
        self.not_applicable.get(i).copied().unwrap_or(false)
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
    /// One per indicator, or empty for none: not applicable to this unit
    /// (its `scores` entry is `None`); the sheet is converted over the
    /// remaining points (ABI 1.1).
    pub not_applicable: Vec<bool>,
}

impl FinaliseInput {
    /// Whether indicator `i` is marked not applicable.
    pub fn is_not_applicable(&self, i: usize) -> bool {
        self.not_applicable.get(i).copied().unwrap_or(false)
    }
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
    #[error(
        "第 {unit} 个单位有标记为不适用的指标，但规则包只支持 ABI 1.0，不能接受“不适用”（the pack predates not-applicable marks）"
    )]
    NotApplicableUnsupported { unit: usize },
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
    #[error(
        "指标 {indicator} 在 {round} 中既有得分又标记为不适用（indicator both scored and not applicable）"
    )]
    ScoredAndNotApplicable {
        indicator: String,
        round: &'static str,
    },
}

/// A unit's status word, detail and fuel as an evaluate output states them
/// (ABI 1 and 2 alike): a status evaluate may return, a detail in range,
/// fuel within the budget.
fn check_status(
    manifest: &Manifest,
    unit: usize,
    code: u32,
    detail: u32,
    fuel_used: u64,
) -> Result<(UnitStatus, u64), AbiError> {
    let bad = |reason: String| AbiError::Malformed { unit, reason };
    let (ni, nf) = (manifest.indicators.len(), manifest.fields.len());
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
        UnitStatus::NotApplicableRefused(d) => manifest.has_not_applicable() && (d as usize) < ni,
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
    Ok((status, fuel_used))
}

/// One unit's input against the pack's shape — a value per field, a
/// not-applicable flag per indicator or none at all, marks only where the
/// ABI carries them: both ABIs' one check, before a byte is written.
fn check_unit_shape(
    unit: usize,
    u: &UnitInput,
    fields: usize,
    indicators: usize,
    marks: bool,
) -> Result<(), AbiError> {
    if u.values.len() != fields {
        return Err(AbiError::ValueCount {
            unit,
            expected: fields,
            found: u.values.len(),
        });
    }
    if !u.not_applicable.is_empty() && u.not_applicable.len() != indicators {
        return Err(AbiError::ValueCount {
            unit,
            expected: indicators,
            found: u.not_applicable.len(),
        });
    }
    if !marks && u.not_applicable.iter().any(|&na| na) {
        return Err(AbiError::NotApplicableUnsupported { unit });
    }
    Ok(())
}
