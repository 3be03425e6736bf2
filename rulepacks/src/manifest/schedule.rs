//! Rounds and the feedback workflow's time parameters: [`Round`],
//! report deadlines, verification and review windows.

use serde::{Deserialize, Serialize};

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
