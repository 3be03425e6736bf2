//! What is assessed and how: indicator groups, categories of assessee,
//! methods, evidence fields, indicators and their clauses.

use serde::{Deserialize, Serialize};

/// An indicator group of the "1+1+N" content (L, C, N1..N4, S, B …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    pub id: String,
    pub name: String,
}

/// Who assesses a category (分级考核).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Assessor {
    /// 依法治县办
    CountyOffice,
    /// 国资局
    Sasac,
    /// 卫健委
    HealthCommission,
    /// 乡镇 (assesses its villages and communities)
    Township,
    /// 县直单位 (assesses its own system)
    CountyUnit,
}

impl Assessor {
    /// Every assessor, in declaration order.
    pub const ALL: [Assessor; 5] = [
        Assessor::CountyOffice,
        Assessor::Sasac,
        Assessor::HealthCommission,
        Assessor::Township,
        Assessor::CountyUnit,
    ];

    /// The identifier used in rubrics and JSON.
    pub fn id(self) -> &'static str {
        match self {
            Assessor::CountyOffice => "county_office",
            Assessor::Sasac => "sasac",
            Assessor::HealthCommission => "health_commission",
            Assessor::Township => "township",
            Assessor::CountyUnit => "county_unit",
        }
    }

    /// Parses [`Assessor::id`].
    pub fn from_id(id: &str) -> Option<Assessor> {
        Assessor::ALL.into_iter().find(|a| a.id() == id)
    }

    /// Chinese name.
    pub fn name_zh(self) -> &'static str {
        match self {
            Assessor::CountyOffice => "依法治县办",
            Assessor::Sasac => "国资局",
            Assessor::HealthCommission => "卫健委",
            Assessor::Township => "乡镇",
            Assessor::CountyUnit => "县直单位",
        }
    }
}

/// A category of assessees (考核对象类别).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Category {
    pub id: String,
    /// The scheme's number (1..8); lower-tier categories continue 9, 10 …
    pub no: u32,
    pub name: String,
    /// Ids of the groups whose indicators apply to this category.
    pub groups: Vec<String>,
    /// Graded and ranked (true) or only graded.
    pub ranked: bool,
    pub assessor: Assessor,
    /// Results are also copied to the unit's supervising department (驻宝单位).
    pub copy_to_supervisor: bool,
}

/// How the four quarter scores of a quarterly method make the year's score
/// (ABI.md §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Combine {
    Mean,
    Sum,
    Last,
}

impl Combine {
    pub fn id(self) -> &'static str {
        match self {
            Combine::Mean => "mean",
            Combine::Sum => "sum",
            Combine::Last => "last",
        }
    }

    pub fn from_id(id: &str) -> Option<Combine> {
        [Combine::Mean, Combine::Sum, Combine::Last]
            .into_iter()
            .find(|c| c.id() == id)
    }
}

/// An assessment method (考核方式).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Method {
    pub id: String,
    pub name: String,
    /// Evaluated per quarter (rounds Q1..Q4) rather than once (round annual).
    pub quarterly: bool,
    /// `Some` exactly when `quarterly`.
    pub combine: Option<Combine>,
}

/// The type of an evidence field and how its value is encoded in the ABI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// Whole number; ABI value = count × 100.
    Count,
    /// Number with at most two decimals; ABI value in hundredths.
    Decimal,
    /// ABI value 0 (false) or 100 (true).
    Bool,
    /// ABI value = 0-based index into `choices` × 100.
    Choice,
}

impl FieldType {
    pub fn id(self) -> &'static str {
        match self {
            FieldType::Count => "count",
            FieldType::Decimal => "decimal",
            FieldType::Bool => "bool",
            FieldType::Choice => "choice",
        }
    }

    pub fn from_id(id: &str) -> Option<FieldType> {
        [
            FieldType::Count,
            FieldType::Decimal,
            FieldType::Bool,
            FieldType::Choice,
        ]
        .into_iter()
        .find(|t| t.id() == id)
    }
}

/// What happens when an official did not supply a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Missing {
    /// The unit is refused (status 1) if an evaluated indicator reads it.
    Refuse,
    /// This ABI-encoded value is used, and `present(f)` is false.
    Default(i64),
}

/// An evidence field (证据项), in ABI field order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Field {
    pub id: String,
    pub label: String,
    #[serde(rename = "type")]
    pub kind: FieldType,
    /// Inclusive lower bound, ABI-encoded (count and decimal only; a count
    /// without an explicit `min` gets 0).
    pub min: Option<i64>,
    /// Inclusive upper bound, ABI-encoded (count and decimal only).
    pub max: Option<i64>,
    pub unit: String,
    /// Id of the method this field is evidence for.
    pub method: String,
    pub missing: Missing,
    /// Choice labels (choice only; empty otherwise).
    pub choices: Vec<String>,
    pub help: String,
}

impl Field {
    /// Whether `value` (ABI-encoded) is a valid value of this field: its type's
    /// domain and its range (ABI.md §2, status 6).
    pub fn accepts(&self, value: i64) -> bool {
        match self.kind {
            FieldType::Count | FieldType::Decimal => {
                (self.kind == FieldType::Decimal || value % 100 == 0)
                    && self.min.is_none_or(|m| value >= m)
                    && self.max.is_none_or(|m| value <= m)
            }
            FieldType::Bool => value == 0 || value == 100,
            FieldType::Choice => {
                value >= 0 && value % 100 == 0 && ((value / 100) as u64) < self.choices.len() as u64
            }
        }
    }
}

/// What an indicator's value means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IndicatorKind {
    /// 0..points, counted in the raw score (扣完为止).
    Scored,
    /// Added after normalisation, capped by `composition.bonus_cap`.
    Bonus,
    /// Subtracted after normalisation, capped by `composition.penalty_cap`.
    Penalty,
    /// 0 or 100; raises a [`Flag`] on the sheet.
    Flag,
}

impl IndicatorKind {
    pub fn id(self) -> &'static str {
        match self {
            IndicatorKind::Scored => "scored",
            IndicatorKind::Bonus => "bonus",
            IndicatorKind::Penalty => "penalty",
            IndicatorKind::Flag => "flag",
        }
    }

    pub fn from_id(id: &str) -> Option<IndicatorKind> {
        [
            IndicatorKind::Scored,
            IndicatorKind::Bonus,
            IndicatorKind::Penalty,
            IndicatorKind::Flag,
        ]
        .into_iter()
        .find(|k| k.id() == id)
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            IndicatorKind::Scored => "计分",
            IndicatorKind::Bonus => "加分",
            IndicatorKind::Penalty => "减分",
            IndicatorKind::Flag => "标记",
        }
    }
}

/// A sheet flag raised by a flag indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    /// 情节严重: the unit cannot get the barred grade (bit 0).
    SeriousCase,
    /// 重大法治问题: admonition and rectification (bit 1).
    MajorProblem,
}

impl Flag {
    pub fn id(self) -> &'static str {
        match self {
            Flag::SeriousCase => "serious_case",
            Flag::MajorProblem => "major_problem",
        }
    }

    pub fn from_id(id: &str) -> Option<Flag> {
        [Flag::SeriousCase, Flag::MajorProblem]
            .into_iter()
            .find(|f| f.id() == id)
    }

    /// The bit of the finalise output's `flags`.
    pub fn bit(self) -> u32 {
        match self {
            Flag::SeriousCase => 1,
            Flag::MajorProblem => 2,
        }
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            Flag::SeriousCase => "情节严重",
            Flag::MajorProblem => "重大法治问题",
        }
    }
}

/// A deduction (scored) or award (bonus/penalty) clause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Clause {
    /// Unique in the pack.
    pub id: String,
    /// Formula text of the condition.
    pub when: String,
    /// Formula text of the amount; `None` = the indicator's points for the
    /// unit's category.
    pub amount: Option<String>,
    /// Chinese reason shown on the sheet, e.g. "未开展专题学习，扣2分".
    pub reason: String,
}

/// An indicator (指标), in ABI indicator order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Indicator {
    pub id: String,
    /// Group id.
    pub group: String,
    pub name: String,
    pub kind: IndicatorKind,
    /// One entry per category, in category order: `None` when the indicator
    /// does not apply to that category, otherwise its points there
    /// (hundredths; the maximum value for scored, the per-indicator cap for
    /// bonus and penalty, `0` for flags).
    pub points: Vec<Option<i64>>,
    /// Method id.
    pub method: String,
    /// The scheme clause it implements, e.g. "考核方案 四（一）1".
    pub clause: String,
    /// Scoring criteria text (评分标准).
    pub criteria: String,
    /// Flag indicators only.
    pub flag: Option<Flag>,
    /// Formula text of a scored indicator's direct score, if it has one.
    pub score: Option<String>,
    /// Why a `score` indicator lost points: a Chinese template with
    /// `{field}`, `{score}`, `{points}` and `{lost}` placeholders
    /// (`Manifest::loss_reason`). Absent: a generic reason naming the
    /// formula.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Formula text of a flag indicator's condition.
    pub when: Option<String>,
    /// Deduction clauses (scored) or award clauses (bonus, penalty).
    pub clauses: Vec<Clause>,
    /// Rubric fuel this indicator costs whenever it is evaluated (ABI.md §6).
    pub fuel_cost: u64,
    /// The assessor may mark this (scored) indicator not applicable (不适用)
    /// for a unit, with a reason; the unit's sheet is then converted over
    /// its remaining points (ABI 1.1).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_not_applicable: bool,
}
