//! Stages 4 (pack) and 5 (scope), and the round deadlines: pure functions
//! of the submission and the registry snapshot, `now` passed in.

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::{self, TimeZone};
use kaohe_proto::model::{Rejection, RejectionCode};
use kaohe_proto::submission::{PackIdentity, Round, Submission};
use kaohe_rulepacks::manifest::{self, Schedule};

use crate::registry::nodes::{NodeRecord, NodeRefusal};
use crate::registry::scope::{ScopeViolation, method_name_zh};
use crate::registry::units::{UnitRecord, YearRoster};

/// Stage 4: the pack named must be the current version of its (id, year),
/// with the same module.
pub fn check_pack(sub: &Submission, current: Option<&PackIdentity>) -> Result<(), Rejection> {
    let named = &sub.pack;
    let refuse = |message: String, field: &str| Rejection {
        code: RejectionCode::PackMismatch,
        message,
        field: Some(field.to_owned()),
    };
    let Some(current) = current else {
        return Err(refuse(
            format!(
                "单位 {}：规则包 {}-{} 尚未在汇总中心发布，不能接收按它计算的结果（pack {}-{} is not published at the hub）",
                sub.unit_id, named.id, named.year, named.id, named.year
            ),
            "submission.pack.id",
        ));
    };
    if named.version != current.version {
        let relation = if named.version < current.version {
            "已被取代"
        } else {
            "尚未发布"
        };
        return Err(refuse(
            format!(
                "单位 {}：提交所用规则包 {}-{} 第 {} 版{relation}，当前版本为第 {} 版；请同步规则包、重新计算后再提交（pack version {} is not current; the current version is {}）",
                sub.unit_id,
                named.id,
                named.year,
                named.version,
                current.version,
                named.version,
                current.version
            ),
            "submission.pack.version",
        ));
    }
    if named.module_sha256 != current.module_sha256 {
        return Err(refuse(
            format!(
                "单位 {}：规则包 {} 的模块摘要 {} 与汇总中心发布的 {} 不符，节点使用的模块不是发布的模块（module SHA-256 differs from the published one）",
                sub.unit_id,
                current,
                hex::encode(named.module_sha256),
                hex::encode(current.module_sha256)
            ),
            "submission.pack.module_sha256",
        ));
    }
    Ok(())
}

/// Stage 5: the year, every method and the unit (in that year's roster)
/// must be inside the node's delegated scope, and the roster must give
/// the unit to the node's assessor ([`NodeRecord::authorize`]). Returns
/// the unit.
pub fn check_scope<'a>(
    node: &NodeRecord,
    sub: &Submission,
    roster: Option<&'a YearRoster>,
) -> Result<&'a UnitRecord, Rejection> {
    let year = i32::from(sub.year);
    let refuse = |violation: String, field: &str| Rejection {
        code: RejectionCode::OutOfScope,
        message: format!(
            "节点 {}（{}）上报单位 {}：{violation}",
            node.name, node.id, sub.unit_id
        ),
        field: Some(field.to_owned()),
    };
    if !node.scope.years.contains(&year) {
        let violation = ScopeViolation::Year {
            year,
            allowed: node.scope.years.iter().copied().collect(),
        };
        return Err(refuse(violation.to_string(), "submission.year"));
    }
    let not_in_roster = || {
        refuse(
            format!(
                "{year} 年度名册中没有单位 {}，不是该年度的考核对象（unit not in the {year} roster）",
                sub.unit_id
            ),
            "submission.unit_id",
        )
    };
    let Some(view) = roster else {
        return Err(not_in_roster());
    };
    let Some(unit) = view.get(&sub.unit_id) else {
        return Err(not_in_roster());
    };
    for (i, block) in sub.methods.iter().enumerate() {
        if let Err(refusal) = node.authorize(unit, &block.method_id, year, view) {
            let field = match &refusal {
                NodeRefusal::OutOfScope { violation, .. } => match violation.as_ref() {
                    ScopeViolation::Year { .. } => "submission.year".to_owned(),
                    ScopeViolation::Method { .. } => format!("submission.methods[{i}].method_id"),
                    ScopeViolation::Unit { .. }
                    | ScopeViolation::UnitOfAnotherYear { .. }
                    | ScopeViolation::NotTheAssessor { .. } => "submission.unit_id".to_owned(),
                },
                NodeRefusal::Revoked { .. } => "signatures".to_owned(),
            };
            let text = match refusal {
                NodeRefusal::OutOfScope { violation, .. } => violation.to_string(),
                revoked @ NodeRefusal::Revoked { .. } => revoked.to_string(),
            };
            return Err(refuse(text, &field));
        }
    }
    Ok(unit)
}

/// A method id with its Chinese name, for messages.
pub fn method_label(method: &str) -> String {
    match method_name_zh(method) {
        Some(zh) => format!("{zh}（{method}）"),
        None => method.to_owned(),
    }
}

/// A pack's schedule names a report deadline that is no instant: the pack
/// cannot be used to judge lateness, so the hub does not activate it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeadlineError {
    #[error("{} 的上报期限年份超出范围（deadline year out of range）", round.name_zh())]
    YearOutOfRange { round: manifest::Round },
    #[error(
        "{} 的上报期限 {year}-{month}-{day} 不是有效日期（invalid deadline）：{reason}",
        round.name_zh()
    )]
    InvalidDate {
        round: manifest::Round,
        year: i16,
        month: u8,
        day: u8,
        reason: String,
    },
    #[error("{} 的上报期限无法换算（deadline out of range）：{reason}", round.name_zh())]
    OutOfRange {
        round: manifest::Round,
        reason: String,
    },
}

/// The instant each round's report deadline passes: the end of the
/// deadline day in Beijing time (UTC+8; China keeps no daylight saving).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoundDeadlines {
    /// Indexed by the ABI round code (0 annual, 1..4 quarters).
    ends: [Timestamp; 5],
}

impl RoundDeadlines {
    /// The deadlines of a pack's schedule for its year.
    pub fn of(schedule: &Schedule, year: u16) -> Result<RoundDeadlines, DeadlineError> {
        let beijing = TimeZone::fixed(tz::offset(8));
        let mut ends = [Timestamp::UNIX_EPOCH; 5];
        for round in manifest::Round::ALL {
            let d = schedule.round_deadlines.get(round);
            let y = i16::try_from(u32::from(year) + u32::from(d.next_year))
                .map_err(|_| DeadlineError::YearOutOfRange { round })?;
            let day = Date::new(y, d.month as i8, d.day as i8).map_err(|e| {
                DeadlineError::InvalidDate {
                    round,
                    year: y,
                    month: d.month,
                    day: d.day,
                    reason: e.to_string(),
                }
            })?;
            let end = day
                .tomorrow()
                .and_then(|t| t.to_zoned(beijing.clone()))
                .map_err(|e| DeadlineError::OutOfRange {
                    round,
                    reason: e.to_string(),
                })?;
            ends[round.code() as usize] = end.timestamp();
        }
        Ok(RoundDeadlines { ends })
    }

    /// The first instant after the deadline of `round`.
    pub fn end(&self, round: Round) -> Timestamp {
        self.ends[round.abi_code() as usize]
    }

    /// Whether a commit at `at` is after the deadline of `round`.
    pub fn is_late(&self, round: Round, at: Timestamp) -> bool {
        at >= self.end(round)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kaohe_rulepacks::manifest::{Deadline, ReviewRuns, RoundDeadlines as Dl};

    fn schedule() -> Schedule {
        let d = |month, day, next_year| Deadline {
            month,
            day,
            next_year,
        };
        Schedule {
            verification_days: 5,
            review_request_days: 5,
            review_request_runs: ReviewRuns::After,
            review_decision_days: 10,
            round_deadlines: Dl {
                q1: d(4, 10, false),
                q2: d(7, 10, false),
                q3: d(10, 10, false),
                q4: d(1, 10, true),
                annual: d(1, 20, true),
            },
        }
    }

    #[test]
    fn a_deadline_ends_at_midnight_beijing_time_of_its_day() {
        let dl = RoundDeadlines::of(&schedule(), 2022).unwrap();
        // 2023-01-20 23:59:59 Beijing = 15:59:59 UTC: still on time.
        assert!(!dl.is_late(Round::Annual, "2023-01-20T15:59:59Z".parse().unwrap()));
        assert!(dl.is_late(Round::Annual, "2023-01-20T16:00:00Z".parse().unwrap()));
        assert!(!dl.is_late(Round::Q1, "2022-04-10T15:59:59Z".parse().unwrap()));
        assert!(dl.is_late(Round::Q1, "2022-04-10T16:00:00Z".parse().unwrap()));
        assert!(dl.is_late(Round::Q4, "2023-01-11T00:00:00Z".parse().unwrap()));
    }

    #[test]
    fn an_impossible_deadline_is_an_error_naming_the_round() {
        let mut s = schedule();
        s.round_deadlines.q2 = Deadline {
            month: 2,
            day: 30,
            next_year: false,
        };
        let err = RoundDeadlines::of(&s, 2022).unwrap_err().to_string();
        assert!(err.contains("第二季度"), "{err}");
    }
}
