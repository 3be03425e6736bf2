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

/// The bottom-n share when a pack names none: half of the ranking.
pub const DEFAULT_WARN_BOTTOM_SHARE: i64 = 50;

/// Parameters of the use of results (考核结果运用).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outcomes {
    /// Units ranked in the last `warn_bottom` places get a warning notice —
    /// never more than [`Outcomes::warn_bottom_share`] of the ranking.
    pub warn_bottom: u32,
    /// The most of a ranking's units the bottom-n warning may reach, in
    /// hundredths of the whole (50 = half, rounded down), so that in a
    /// small ranking the first-placed unit is never among the "last
    /// three". Absent: [`DEFAULT_WARN_BOTTOM_SHARE`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn_bottom_share: Option<i64>,
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

impl Outcomes {
    /// How many of a ranking's `ranked` units the bottom-n warning reaches:
    /// `min(warn_bottom, ⌊ranked × share⌋)`. A ranking of 3 warns its last
    /// unit only; of 6 or more, the last three.
    pub fn warned_places(&self, ranked: usize) -> usize {
        let share = self
            .warn_bottom_share
            .unwrap_or(DEFAULT_WARN_BOTTOM_SHARE)
            .clamp(0, 100) as usize;
        (self.warn_bottom as usize).min(ranked.saturating_mul(share) / 100)
    }

    /// Whether the share, not `warn_bottom`, decides the warned places of a
    /// ranking of `ranked` units (the office should confirm the rule then).
    pub fn share_limits_warnings(&self, ranked: usize) -> bool {
        self.warned_places(ranked) < (self.warn_bottom as usize).min(ranked)
    }
}
