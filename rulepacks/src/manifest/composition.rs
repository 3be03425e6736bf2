//! How indicator scores make a sheet and a grade ([`Composition`],
//! [`Grade`]), and the parameters of the use of results ([`Outcomes`]).

use serde::{Deserialize, Serialize};

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
