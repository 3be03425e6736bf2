//! The manifest: everything the hub and the node need to know about a rule
//! pack without running it (ABI.md §4).
//!
//! A manifest is produced from a checked rubric ([`crate::rubric::compile`])
//! and embedded in the pack's WebAssembly module as canonical JSON
//! ([`Manifest::to_canonical_json`]). A manifest read back from a module is
//! untrusted: [`Manifest::from_json`] checks the versions and every internal
//! reference, so the lookups and record sizes below never panic on it.
//!
//! Conventions: every score, point value and range bound is an `i64` count of
//! hundredths of a point (3 points = `300`); vectors are in ABI order (the
//! index of a field, indicator, clause, category, method or grade is its
//! position here, and the ABI speaks only in those indices).

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The manifest schema this code reads and writes.
pub const MANIFEST_VERSION: u32 = 1;
/// The pack ABI this code speaks (ABI.md).
pub const ABI_VERSION: u32 = 1;
/// At most this many methods: the ABI selects methods with a `u32` bit mask.
pub const MAX_METHODS: usize = 32;

/// The whole manifest. Field order here is the order of keys in the canonical
/// JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`MANIFEST_VERSION`].
    pub manifest_version: u32,
    /// Always [`ABI_VERSION`].
    pub abi_version: u32,
    pub pack: PackInfo,
    /// SHA-256 (lower-case hex) of the rubric source bytes the pack was built from.
    pub source_sha256: String,
    pub limits: Limits,
    pub groups: Vec<Group>,
    pub categories: Vec<Category>,
    pub methods: Vec<Method>,
    /// ABI field order.
    pub fields: Vec<Field>,
    /// ABI indicator order; their clauses, concatenated in this order, are the
    /// ABI clause order.
    pub indicators: Vec<Indicator>,
    pub composition: Composition,
    pub schedule: Schedule,
    pub outcomes: Outcomes,
}

/// Pack identity (`[pack]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackInfo {
    /// `[a-z0-9_-]+`, e.g. `baofeng`.
    pub id: String,
    pub year: u32,
    /// Increases with each corrected publication of the same year's rubric.
    pub version: u32,
    pub title: String,
    pub issuer: String,
}

/// `baofeng-2022 v1`, as [`PackIdentity`](kaohe_proto::PackIdentity) writes it.
impl fmt::Display for PackInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{} v{}", self.id, self.year, self.version)
    }
}

/// Deterministic budgets (ABI.md §6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Rubric fuel per unit (sum of indicator costs a unit may spend).
    pub fuel_per_unit: u64,
    /// wasmtime fuel per unit of a batch (the host adds a fixed base).
    pub wasm_fuel_per_unit: u64,
}

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
    /// Formula text of a flag indicator's condition.
    pub when: Option<String>,
    /// Deduction clauses (scored) or award clauses (bonus, penalty).
    pub clauses: Vec<Clause>,
    /// Rubric fuel this indicator costs whenever it is evaluated (ABI.md §6).
    pub fuel_cost: u64,
}

/// A grade band (等次), highest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grade {
    /// excellent | good | pass | fail (or the rubric's own ids).
    pub id: String,
    pub name: String,
    /// Inclusive lower bound of the total, hundredths.
    pub min: i64,
}

/// How indicator scores make the sheet (RUBRIC.md "Composition").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Composition {
    /// Hundredths (100 points = `10000`).
    pub full_marks: i64,
    /// 换算 to full marks when the applicable points are fewer.
    pub normalise: bool,
    pub bonus_cap: i64,
    /// "In principle"; finalise accepts a recorded override.
    pub penalty_cap: i64,
    /// Grade id a serious case can never get (units are demoted one band).
    pub serious_case_bars: String,
    /// Highest first, strictly decreasing `min`.
    pub grades: Vec<Grade>,
    /// Share of a ranking's units that may be excellent, in hundredths of
    /// the whole (30 = 30 %); 0 = no quota. Applied by the hub.
    pub excellent_quota: i64,
}

/// Whether the review-request window runs alongside or after verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewRuns {
    Alongside,
    After,
}

/// A month-day deadline of a round; `next_year` when it falls in the year
/// after the assessed year (the first such date after the round's period).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deadline {
    pub month: u8,
    pub day: u8,
    pub next_year: bool,
}

/// Report deadlines per round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoundDeadlines {
    #[serde(rename = "Q1")]
    pub q1: Deadline,
    #[serde(rename = "Q2")]
    pub q2: Deadline,
    #[serde(rename = "Q3")]
    pub q3: Deadline,
    #[serde(rename = "Q4")]
    pub q4: Deadline,
    pub annual: Deadline,
}

impl RoundDeadlines {
    pub fn get(&self, round: Round) -> Deadline {
        match round {
            Round::Annual => self.annual,
            Round::Q1 => self.q1,
            Round::Q2 => self.q2,
            Round::Q3 => self.q3,
            Round::Q4 => self.q4,
        }
    }
}

/// Time parameters of the feedback workflow, in working days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    pub verification_days: u32,
    pub review_request_days: u32,
    pub review_request_runs: ReviewRuns,
    pub review_decision_days: u32,
    pub round_deadlines: RoundDeadlines,
}

/// Parameters of the use of results (考核结果运用).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outcomes {
    /// Units ranked in the last `warn_bottom` places get a warning notice.
    pub warn_bottom: u32,
    /// A drop of at least this much (hundredths) from last year's total is a
    /// big regression (warning notice).
    pub big_regression_points: i64,
    pub commend_consecutive_excellent: u32,
    pub recommend_township_consecutive_excellent: u32,
    /// Category ids the township recommendation applies to.
    pub recommend_categories: Vec<String>,
    /// Grade ids that receive a recommendation letter (法治建议书).
    pub letter_grades: Vec<String>,
    /// Grade ids that lead to admonition (约谈) and a rectification order.
    pub admonish_grades: Vec<String>,
    /// Copy list (抄送).
    pub copy_list: Vec<String>,
}

/// An evaluation round: the annual round or one quarter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Round {
    #[serde(rename = "annual")]
    Annual,
    Q1,
    Q2,
    Q3,
    Q4,
}

impl Round {
    /// All rounds in ABI order.
    pub const ALL: [Round; 5] = [Round::Annual, Round::Q1, Round::Q2, Round::Q3, Round::Q4];
    /// The quarters in order.
    pub const QUARTERS: [Round; 4] = [Round::Q1, Round::Q2, Round::Q3, Round::Q4];

    /// ABI code: 0 annual, 1..4 quarters.
    pub fn code(self) -> u32 {
        match self {
            Round::Annual => 0,
            Round::Q1 => 1,
            Round::Q2 => 2,
            Round::Q3 => 3,
            Round::Q4 => 4,
        }
    }

    pub fn from_code(code: u32) -> Option<Round> {
        Round::ALL.get(code as usize).copied()
    }

    /// `annual`, `Q1` … as written in rubrics and fixtures.
    pub fn id(self) -> &'static str {
        match self {
            Round::Annual => "annual",
            Round::Q1 => "Q1",
            Round::Q2 => "Q2",
            Round::Q3 => "Q3",
            Round::Q4 => "Q4",
        }
    }

    pub fn from_id(id: &str) -> Option<Round> {
        Round::ALL.into_iter().find(|r| r.id() == id)
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            Round::Annual => "年度",
            Round::Q1 => "第一季度",
            Round::Q2 => "第二季度",
            Round::Q3 => "第三季度",
            Round::Q4 => "第四季度",
        }
    }

    pub fn is_quarter(self) -> bool {
        self != Round::Annual
    }
}

/// A manifest that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("清单不是有效的 JSON（manifest is not valid JSON）：{0}")]
    Json(#[from] serde_json::Error),
    #[error(
        "不支持的清单版本（unsupported manifest version）：manifest_version = {manifest_version}，abi_version = {abi_version}；本程序只支持 1 / 1"
    )]
    UnsupportedVersion {
        manifest_version: u32,
        abi_version: u32,
    },
    #[error("清单自相矛盾（inconsistent manifest）：{0}")]
    Inconsistent(String),
}

impl Manifest {
    /// Parses and validates a manifest read from a module or a file.
    pub fn from_json(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        #[derive(Deserialize)]
        struct Versions {
            manifest_version: u32,
            abi_version: u32,
        }
        // Check the versions before the shape, so a future manifest is
        // refused as "unsupported" rather than "malformed".
        let v: Versions = serde_json::from_slice(bytes)?;
        if v.manifest_version != MANIFEST_VERSION || v.abi_version != ABI_VERSION {
            return Err(ManifestError::UnsupportedVersion {
                manifest_version: v.manifest_version,
                abi_version: v.abi_version,
            });
        }
        let m: Manifest = serde_json::from_slice(bytes)?;
        m.validate()?;
        Ok(m)
    }

    /// The canonical JSON bytes: compact, keys in struct order, no maps with
    /// unordered keys. The same manifest always gives the same bytes.
    pub fn to_canonical_json(&self) -> Vec<u8> {
        // Serialising these plain structs cannot fail (no maps with non-string
        // keys, no custom serialisers); fall back to an empty object rather
        // than panic should that ever change.
        serde_json::to_vec(self).unwrap_or_else(|_| b"{}".to_vec())
    }

    /// Checks every invariant the ABI code and the helpers rely on.
    pub fn validate(&self) -> Result<(), ManifestError> {
        let bad = |s: String| Err(ManifestError::Inconsistent(s));
        if self.manifest_version != MANIFEST_VERSION || self.abi_version != ABI_VERSION {
            return Err(ManifestError::UnsupportedVersion {
                manifest_version: self.manifest_version,
                abi_version: self.abi_version,
            });
        }
        unique("group", self.groups.iter().map(|g| g.id.as_str()))?;
        unique("category", self.categories.iter().map(|c| c.id.as_str()))?;
        unique("method", self.methods.iter().map(|m| m.id.as_str()))?;
        unique("field", self.fields.iter().map(|f| f.id.as_str()))?;
        unique("indicator", self.indicators.iter().map(|i| i.id.as_str()))?;
        unique(
            "clause",
            self.indicators
                .iter()
                .flat_map(|i| i.clauses.iter().map(|c| c.id.as_str())),
        )?;
        unique(
            "grade",
            self.composition.grades.iter().map(|g| g.id.as_str()),
        )?;
        if self.methods.len() > MAX_METHODS {
            return bad(format!(
                "考核方式超过 {MAX_METHODS} 种（more than {MAX_METHODS} methods）"
            ));
        }
        if u32::try_from(self.fields.len()).is_err()
            || u32::try_from(self.indicators.len()).is_err()
            || u32::try_from(self.categories.len()).is_err()
        {
            return bad("数量超出 u32（counts exceed u32）".into());
        }
        for c in &self.categories {
            for g in &c.groups {
                if self.group_index(g).is_none() {
                    return bad(format!("类别 {} 引用未知分组 {g}（unknown group）", c.id));
                }
            }
        }
        for m in &self.methods {
            if m.quarterly != m.combine.is_some() {
                return bad(format!(
                    "考核方式 {} 的 quarterly 与 combine 不一致（combine must be given exactly for quarterly methods）",
                    m.id
                ));
            }
        }
        for f in &self.fields {
            if self.method_index(&f.method).is_none() {
                return bad(format!(
                    "字段 {} 引用未知考核方式 {}（unknown method）",
                    f.id, f.method
                ));
            }
            if (f.kind == FieldType::Choice) == f.choices.is_empty() {
                return bad(format!(
                    "字段 {} 的选项与类型不符（choices must be given exactly for choice fields）",
                    f.id
                ));
            }
            if let (Some(lo), Some(hi)) = (f.min, f.max)
                && lo > hi
            {
                return bad(format!("字段 {} 的 min 大于 max（min > max）", f.id));
            }
            if let Missing::Default(d) = f.missing
                && !f.accepts(d)
            {
                return bad(format!(
                    "字段 {} 的默认值无效（default out of domain）",
                    f.id
                ));
            }
        }
        for ind in &self.indicators {
            if self.group_index(&ind.group).is_none() {
                return bad(format!(
                    "指标 {} 引用未知分组 {}（unknown group）",
                    ind.id, ind.group
                ));
            }
            if self.method_index(&ind.method).is_none() {
                return bad(format!(
                    "指标 {} 引用未知考核方式 {}（unknown method）",
                    ind.id, ind.method
                ));
            }
            if ind.points.len() != self.categories.len() {
                return bad(format!(
                    "指标 {} 的分值表长度与类别数不符（points must have one entry per category）",
                    ind.id
                ));
            }
            for (c, p) in ind.points.iter().enumerate() {
                let Some(p) = p else { continue };
                let in_group = self.categories[c].groups.contains(&ind.group);
                let ok = match ind.kind {
                    IndicatorKind::Flag => *p == 0,
                    _ => *p > 0,
                };
                if !in_group || !ok {
                    return bad(format!(
                        "指标 {} 对类别 {} 的分值无效（invalid points for category）",
                        ind.id, self.categories[c].id
                    ));
                }
            }
            let shape_ok = match ind.kind {
                IndicatorKind::Scored => {
                    ind.flag.is_none()
                        && ind.when.is_none()
                        && (ind.score.is_some() == ind.clauses.is_empty())
                }
                IndicatorKind::Bonus | IndicatorKind::Penalty => {
                    ind.flag.is_none() && ind.when.is_none() && ind.score.is_none()
                }
                IndicatorKind::Flag => {
                    ind.flag.is_some()
                        && ind.when.is_some()
                        && ind.score.is_none()
                        && ind.clauses.is_empty()
                }
            };
            if !shape_ok {
                return bad(format!(
                    "指标 {} 的规则与类型 {} 不符（rule does not fit the indicator kind）",
                    ind.id,
                    ind.kind.id()
                ));
            }
        }
        let comp = &self.composition;
        if comp.full_marks <= 0 || comp.bonus_cap < 0 || comp.penalty_cap < 0 {
            return bad("满分、加分上限或减分上限无效（invalid full marks or caps）".into());
        }
        // As the rubric check has it: a category's scored points (its
        // `applicable`) never exceed full marks — also so that summing them
        // cannot overflow (found by fuzzing `kaohe pack inspect`).
        for (c, cat) in self.categories.iter().enumerate() {
            let total = self
                .indicators
                .iter()
                .filter(|i| i.kind == IndicatorKind::Scored)
                .filter_map(|i| i.points.get(c).copied().flatten())
                .try_fold(0i64, i64::checked_add);
            if total.is_none_or(|t| t > comp.full_marks) {
                return bad(format!(
                    "类别 {} 的计分指标分值合计超过满分（scored points of the category exceed full marks）",
                    cat.id
                ));
            }
        }
        if comp.grades.len() < 2 {
            return bad("至少需要两个等次（at least two grades）".into());
        }
        if comp.grades.windows(2).any(|w| w[0].min <= w[1].min) {
            return bad("等次下限须严格递减（grade minimums must strictly decrease）".into());
        }
        match self.grade_index(&comp.serious_case_bars) {
            Some(g) if g + 1 < comp.grades.len() => {}
            _ => {
                return bad(
                    "serious_case_bars 须为非最低的等次（must name a grade other than the lowest）"
                        .into(),
                );
            }
        }
        if !(0..=100).contains(&comp.excellent_quota) {
            return bad("优秀比例须在 0 到 1 之间（excellent quota out of range）".into());
        }
        let out = &self.outcomes;
        for c in &out.recommend_categories {
            if self.category_index(c).is_none() {
                return bad(format!("outcomes 引用未知类别 {c}（unknown category）"));
            }
        }
        for g in out.letter_grades.iter().chain(&out.admonish_grades) {
            if self.grade_index(g).is_none() {
                return bad(format!("outcomes 引用未知等次 {g}（unknown grade）"));
            }
        }
        if self.limits.fuel_per_unit == 0 {
            return bad("fuel_per_unit 须大于 0（must be positive）".into());
        }
        Ok(())
    }

    pub fn group_index(&self, id: &str) -> Option<usize> {
        self.groups.iter().position(|g| g.id == id)
    }

    pub fn category_index(&self, id: &str) -> Option<usize> {
        self.categories.iter().position(|c| c.id == id)
    }

    pub fn method_index(&self, id: &str) -> Option<usize> {
        self.methods.iter().position(|m| m.id == id)
    }

    pub fn field_index(&self, id: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.id == id)
    }

    pub fn indicator_index(&self, id: &str) -> Option<usize> {
        self.indicators.iter().position(|i| i.id == id)
    }

    pub fn grade_index(&self, id: &str) -> Option<usize> {
        self.composition.grades.iter().position(|g| g.id == id)
    }

    /// Global ABI index of the clause `id` and the index of its indicator.
    pub fn clause_index(&self, id: &str) -> Option<(usize, usize)> {
        let mut k = 0;
        for (i, ind) in self.indicators.iter().enumerate() {
            for c in &ind.clauses {
                if c.id == id {
                    return Some((k, i));
                }
                k += 1;
            }
        }
        None
    }

    /// `K`: the number of clauses of all indicators.
    pub fn clause_count(&self) -> usize {
        self.indicators.iter().map(|i| i.clauses.len()).sum()
    }

    /// For each indicator, the ABI index of its first clause (its clauses are
    /// `offsets[i] .. offsets[i] + indicators[i].clauses.len()`).
    pub fn clause_offsets(&self) -> Vec<usize> {
        let mut k = 0;
        self.indicators
            .iter()
            .map(|i| {
                let at = k;
                k += i.clauses.len();
                at
            })
            .collect()
    }

    /// The clause at ABI index `k`, with its indicator index.
    pub fn clause(&self, k: usize) -> Option<(usize, &Clause)> {
        let mut rest = k;
        for (i, ind) in self.indicators.iter().enumerate() {
            if rest < ind.clauses.len() {
                return Some((i, &ind.clauses[rest]));
            }
            rest -= ind.clauses.len();
        }
        None
    }

    /// Bit mask of every method (the `methods` value that evaluates all).
    pub fn all_methods_mask(&self) -> u32 {
        match self.methods.len() {
            n if n >= 32 => u32::MAX,
            n => (1u32 << n) - 1,
        }
    }

    /// Bit mask of the given method ids; `None` if one is unknown.
    pub fn methods_mask<'a>(&self, ids: impl IntoIterator<Item = &'a str>) -> Option<u32> {
        let mut mask = 0u32;
        for id in ids {
            mask |= 1u32 << self.method_index(id)?;
        }
        Some(mask)
    }

    /// Points of indicator `indicator` for category `category` (hundredths), or
    /// `None` when it does not apply (or either index is out of range).
    pub fn points(&self, indicator: usize, category: usize) -> Option<i64> {
        self.indicators
            .get(indicator)?
            .points
            .get(category)
            .copied()?
    }

    /// Whether indicator `indicator` applies to category `category`.
    pub fn applies(&self, indicator: usize, category: usize) -> bool {
        self.points(indicator, category).is_some()
    }

    /// Indices of the indicators that apply to category `category`, in order.
    pub fn applicable_indicators(&self, category: usize) -> impl Iterator<Item = usize> + '_ {
        (0..self.indicators.len()).filter(move |&i| self.applies(i, category))
    }

    /// Sum of the points of the scored indicators that apply to `category`
    /// (the sheet's `applicable`).
    pub fn applicable_points(&self, category: usize) -> i64 {
        self.applicable_indicators(category)
            .filter(|&i| self.indicators[i].kind == IndicatorKind::Scored)
            .filter_map(|i| self.points(i, category))
            .sum()
    }

    /// Index of an indicator's method (valid manifests only; `None` otherwise).
    pub fn indicator_method(&self, indicator: usize) -> Option<usize> {
        self.method_index(&self.indicators.get(indicator)?.method)
    }

    /// The ABI rule of §2: whether `indicator` is evaluated for a unit of
    /// `category` in `round` with the method mask `methods`.
    pub fn is_evaluated(
        &self,
        indicator: usize,
        category: usize,
        round: Round,
        methods: u32,
    ) -> bool {
        let Some(m) = self.indicator_method(indicator) else {
            return false;
        };
        self.applies(indicator, category)
            && methods & (1u32 << m) != 0
            && self.methods[m].quarterly == round.is_quarter()
    }

    /// Highest points the indicator has in any category (0 if none).
    pub fn max_points(&self, indicator: usize) -> i64 {
        self.indicators
            .get(indicator)
            .map(|i| i.points.iter().flatten().copied().max().unwrap_or(0))
            .unwrap_or(0)
    }

    /// Bytes per unit of the `kaohe_evaluate` input: `16 + 16·F`.
    pub fn evaluate_input_record(&self) -> usize {
        16 + 16 * self.fields.len()
    }

    /// Bytes per unit of the `kaohe_evaluate` output: `16 + 16·I + 16·K`.
    pub fn evaluate_output_record(&self) -> usize {
        16 + 16 * self.indicators.len() + 16 * self.clause_count()
    }

    /// Bytes per unit of the `kaohe_finalise` input: `16 + 16·I`.
    pub fn finalise_input_record(&self) -> usize {
        16 + 16 * self.indicators.len()
    }

    /// Bytes per unit of the `kaohe_finalise` output: `72`.
    pub fn finalise_output_record(&self) -> usize {
        FINALISE_OUTPUT_RECORD
    }
}

/// Bytes per unit of the `kaohe_finalise` output.
pub const FINALISE_OUTPUT_RECORD: usize = 8 + 8 * 8;

fn unique<'a>(what: &str, ids: impl Iterator<Item = &'a str>) -> Result<(), ManifestError> {
    let mut seen = HashSet::new();
    for id in ids {
        if !seen.insert(id) {
            return Err(ManifestError::Inconsistent(format!(
                "重复的 {what} 标识 {id}（duplicate {what} id）"
            )));
        }
    }
    Ok(())
}
