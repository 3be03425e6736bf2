//! Results: `ListResults`, a unit's scores, grade, rank and status.

use super::MAX_TEXT_CHARS;
use super::date::{Date, optional_date};
use super::leaderboard::QuarterBoard;
use crate::pb;
use crate::submission::Round;
use crate::validate::{self, FieldError, Problem, identifier, optional_identifier, text};

/// `ListResults`: the caller's units' results for a year, one round or all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListResultsRequest {
    /// Year.
    pub year: u16,
    /// Only this round.
    pub round: Option<Round>,
}

/// 等次: the grade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Grade {
    /// 优秀.
    Excellent,
    /// 良好.
    Good,
    /// 合格.
    Pass,
    /// 不合格.
    Fail,
}

impl Grade {
    /// The Chinese name.
    pub fn name_zh(self) -> &'static str {
        match self {
            Grade::Excellent => "优秀",
            Grade::Good => "良好",
            Grade::Pass => "合格",
            Grade::Fail => "不合格",
        }
    }
}

/// Where a result stands in the workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResultStatus {
    /// Nothing reported: not assessed, never 0.
    NotAssessed,
    /// Consolidated, not yet sent for verification.
    Provisional,
    /// The verification window (核实) is open.
    Verification,
    /// A review (复核) is pending.
    Review,
    /// Approved (审定).
    Approved,
    /// Published (公布).
    Published,
}

impl ResultStatus {
    /// The Chinese name.
    pub fn name_zh(self) -> &'static str {
        match self {
            ResultStatus::NotAssessed => "未考核",
            ResultStatus::Provisional => "初步结果",
            ResultStatus::Verification => "核实中",
            ResultStatus::Review => "复核中",
            ResultStatus::Approved => "已审定",
            ResultStatus::Published => "已公布",
        }
    }
}

/// A unit's scores, in hundredths of a point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scores {
    /// Points applicable to the unit's category.
    pub applicable: i64,
    /// Sum of scored indicators.
    pub raw: i64,
    /// Raw normalised to 100 (换算).
    pub converted: i64,
    /// Bonus after its cap.
    pub bonus: i64,
    /// Penalty after its cap (or the recorded override).
    pub penalty: i64,
    /// `converted + bonus − penalty`.
    pub total: i64,
}

/// One reason a score moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultReason {
    /// The indicator.
    pub indicator_id: String,
    /// The clause that fired, if one did.
    pub clause_id: Option<String>,
    /// Hundredths of a point.
    pub amount: i64,
    /// The reason in Chinese.
    pub text: String,
}

/// A rank within the unit's category: `position` of `of`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rank {
    /// 1-based; ties share a position.
    pub position: u32,
    /// Ranked units in the category.
    pub of: u32,
}

/// A unit's result for a year and round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitResult {
    /// The assessee.
    pub unit_id: String,
    /// Year.
    pub year: u16,
    /// Round.
    pub round: Round,
    /// Workflow state.
    pub status: ResultStatus,
    /// `None` exactly when not assessed.
    pub scores: Option<Scores>,
    /// `None` until graded.
    pub grade: Option<Grade>,
    /// `None` when the category is not ranked.
    pub rank: Option<Rank>,
    /// Why scores moved.
    pub reasons: Vec<ResultReason>,
    /// Last working day to verify the result.
    pub verification_deadline: Option<Date>,
    /// Last working day to request a review.
    pub review_deadline: Option<Date>,
    /// Why the unit is not assessed (what is missing, who owes it); empty
    /// unless `status` is [`ResultStatus::NotAssessed`].
    pub not_assessed_because: Vec<String>,
}

/// The caller's units' results.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListResultsResponse {
    /// One per unit and round.
    pub results: Vec<UnitResult>,
    /// The quarterly leaderboards (党建引领·比拼四季) of the ranked
    /// categories of the caller's units; empty from a hub before protocol
    /// revision 2.
    pub leaderboards: Vec<QuarterBoard>,
}

impl TryFrom<pb::ListResultsRequest> for ListResultsRequest {
    type Error = FieldError;
    fn try_from(m: pb::ListResultsRequest) -> Result<Self, FieldError> {
        Ok(ListResultsRequest {
            year: validate::year("year", m.year)?,
            round: if m.round == pb::Round::Unspecified as i32 {
                None
            } else {
                Some(Round::from_wire("round", m.round)?)
            },
        })
    }
}

impl From<ListResultsRequest> for pb::ListResultsRequest {
    fn from(r: ListResultsRequest) -> Self {
        pb::ListResultsRequest {
            year: r.year.into(),
            round: r
                .round
                .map_or(pb::Round::Unspecified as i32, Round::to_wire),
        }
    }
}

fn grade_from_wire(field: &str, v: i32) -> Result<Option<Grade>, FieldError> {
    match pb::Grade::try_from(v) {
        Ok(pb::Grade::Unspecified) => Ok(None),
        Ok(pb::Grade::Excellent) => Ok(Some(Grade::Excellent)),
        Ok(pb::Grade::Good) => Ok(Some(Grade::Good)),
        Ok(pb::Grade::Pass) => Ok(Some(Grade::Pass)),
        Ok(pb::Grade::Fail) => Ok(Some(Grade::Fail)),
        Err(_) => Err(FieldError::new(field, Problem::UnknownEnum(v))),
    }
}

fn grade_to_wire(g: Option<Grade>) -> i32 {
    let g = match g {
        None => pb::Grade::Unspecified,
        Some(Grade::Excellent) => pb::Grade::Excellent,
        Some(Grade::Good) => pb::Grade::Good,
        Some(Grade::Pass) => pb::Grade::Pass,
        Some(Grade::Fail) => pb::Grade::Fail,
    };
    g as i32
}

fn status_from_wire(field: &str, v: i32) -> Result<ResultStatus, FieldError> {
    use pb::ResultStatus as P;
    match P::try_from(v) {
        Ok(P::Unspecified) => Err(FieldError::new(field, Problem::Missing)),
        Ok(P::NotAssessed) => Ok(ResultStatus::NotAssessed),
        Ok(P::Provisional) => Ok(ResultStatus::Provisional),
        Ok(P::Verification) => Ok(ResultStatus::Verification),
        Ok(P::Review) => Ok(ResultStatus::Review),
        Ok(P::Approved) => Ok(ResultStatus::Approved),
        Ok(P::Published) => Ok(ResultStatus::Published),
        Err(_) => Err(FieldError::new(field, Problem::UnknownEnum(v))),
    }
}

fn status_to_wire(s: ResultStatus) -> i32 {
    use pb::ResultStatus as P;
    let s = match s {
        ResultStatus::NotAssessed => P::NotAssessed,
        ResultStatus::Provisional => P::Provisional,
        ResultStatus::Verification => P::Verification,
        ResultStatus::Review => P::Review,
        ResultStatus::Approved => P::Approved,
        ResultStatus::Published => P::Published,
    };
    s as i32
}

impl TryFrom<pb::Scores> for Scores {
    type Error = FieldError;
    fn try_from(m: pb::Scores) -> Result<Self, FieldError> {
        let expected = m
            .converted
            .checked_add(m.bonus)
            .and_then(|v| v.checked_sub(m.penalty));
        if expected != Some(m.total) {
            return Err(FieldError::invalid(
                "total",
                "总分不等于换算分 + 加分 − 扣分",
                "total is not converted + bonus − penalty",
            ));
        }
        Ok(Scores {
            applicable: m.applicable,
            raw: m.raw,
            converted: m.converted,
            bonus: m.bonus,
            penalty: m.penalty,
            total: m.total,
        })
    }
}

impl From<Scores> for pb::Scores {
    fn from(s: Scores) -> Self {
        pb::Scores {
            applicable: s.applicable,
            raw: s.raw,
            converted: s.converted,
            bonus: s.bonus,
            penalty: s.penalty,
            total: s.total,
        }
    }
}

impl TryFrom<pb::Reason> for ResultReason {
    type Error = FieldError;
    fn try_from(m: pb::Reason) -> Result<Self, FieldError> {
        Ok(ResultReason {
            indicator_id: identifier("indicator_id", m.indicator_id)?,
            clause_id: optional_identifier("clause_id", m.clause_id)?,
            amount: m.amount,
            text: text("text", m.text, MAX_TEXT_CHARS)?,
        })
    }
}

impl From<ResultReason> for pb::Reason {
    fn from(r: ResultReason) -> Self {
        pb::Reason {
            indicator_id: r.indicator_id,
            clause_id: r.clause_id.unwrap_or_default(),
            amount: r.amount,
            text: r.text,
        }
    }
}

impl TryFrom<pb::UnitResult> for UnitResult {
    type Error = FieldError;
    fn try_from(m: pb::UnitResult) -> Result<Self, FieldError> {
        let status = status_from_wire("status", m.status)?;
        let scores = m
            .scores
            .map(|s| Scores::try_from(s).map_err(|e| e.within("scores")))
            .transpose()?;
        if scores.is_none() != (status == ResultStatus::NotAssessed) {
            return Err(FieldError::invalid(
                "scores",
                "仅“未考核”的结果没有分数",
                "scores must be absent exactly when the status is not assessed",
            ));
        }
        let grade = grade_from_wire("grade", m.grade)?;
        if grade.is_some() && scores.is_none() {
            return Err(FieldError::invalid(
                "grade",
                "未考核的单位不能有等次",
                "a unit that was not assessed cannot have a grade",
            ));
        }
        let rank = match (m.rank, m.rank_of) {
            (0, 0) => None,
            (position, of) if (1..=of).contains(&position) => Some(Rank { position, of }),
            (position, of) => {
                return Err(FieldError::new(
                    "rank",
                    Problem::OutOfRange {
                        min: 1,
                        max: of.into(),
                        got: position.into(),
                    },
                ));
            }
        };
        let reasons = m
            .reasons
            .into_iter()
            .enumerate()
            .map(|(i, r)| ResultReason::try_from(r).map_err(|e| e.within(format!("reasons[{i}]"))))
            .collect::<Result<_, _>>()?;
        if !m.not_assessed_because.is_empty() && status != ResultStatus::NotAssessed {
            return Err(FieldError::invalid(
                "not_assessed_because",
                "只有“未考核”的结果才有未考核原因",
                "only a unit not assessed has reasons for it",
            ));
        }
        let not_assessed_because = m
            .not_assessed_because
            .into_iter()
            .enumerate()
            .map(|(i, t)| text(&format!("not_assessed_because[{i}]"), t, MAX_TEXT_CHARS))
            .collect::<Result<_, _>>()?;
        Ok(UnitResult {
            unit_id: identifier("unit_id", m.unit_id)?,
            year: validate::year("year", m.year)?,
            round: Round::from_wire("round", m.round)?,
            status,
            scores,
            grade,
            rank,
            reasons,
            verification_deadline: optional_date("verification_deadline", m.verification_deadline)?,
            review_deadline: optional_date("review_deadline", m.review_deadline)?,
            not_assessed_because,
        })
    }
}

impl From<UnitResult> for pb::UnitResult {
    fn from(r: UnitResult) -> Self {
        let rank = r.rank.unwrap_or(Rank { position: 0, of: 0 });
        pb::UnitResult {
            unit_id: r.unit_id,
            year: r.year.into(),
            round: r.round.to_wire(),
            status: status_to_wire(r.status),
            scores: r.scores.map(Into::into),
            grade: grade_to_wire(r.grade),
            rank: rank.position,
            rank_of: rank.of,
            reasons: r.reasons.into_iter().map(Into::into).collect(),
            verification_deadline: r.verification_deadline.map(Into::into),
            review_deadline: r.review_deadline.map(Into::into),
            not_assessed_because: r.not_assessed_because,
        }
    }
}

impl TryFrom<pb::ListResultsResponse> for ListResultsResponse {
    type Error = FieldError;
    fn try_from(m: pb::ListResultsResponse) -> Result<Self, FieldError> {
        let results = m
            .results
            .into_iter()
            .enumerate()
            .map(|(i, r)| UnitResult::try_from(r).map_err(|e| e.within(format!("results[{i}]"))))
            .collect::<Result<_, _>>()?;
        let leaderboards = m
            .leaderboards
            .into_iter()
            .enumerate()
            .map(|(i, b)| {
                QuarterBoard::try_from(b).map_err(|e| e.within(format!("leaderboards[{i}]")))
            })
            .collect::<Result<_, _>>()?;
        Ok(ListResultsResponse {
            results,
            leaderboards,
        })
    }
}

impl From<ListResultsResponse> for pb::ListResultsResponse {
    fn from(r: ListResultsResponse) -> Self {
        pb::ListResultsResponse {
            results: r.results.into_iter().map(Into::into).collect(),
            leaderboards: r.leaderboards.into_iter().map(Into::into).collect(),
        }
    }
}
