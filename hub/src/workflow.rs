//! 反馈、复核、审定、公布（workflow）：考核方案 六（一）（三）.
//!
//! - [`notify`]: 问题通报反馈 per unit — the score sheet, the reason of every
//!   deduction and the deadlines as dates: verification (核实) and review
//!   request (申请复核) windows in working days of the effective calendar,
//!   the request window running alongside or after verification as the
//!   manifest says ([`deadlines`], pure).
//! - [`object`]: an objection (异议/复核申请) filed by the county office on
//!   the assessee's behalf, with material (size cap, SHA-256); refused after
//!   the review-request deadline, naming it.
//! - [`decide`]: upheld (维持) or revised (更正: a newer submission for the
//!   unit must have been committed after the objection; its id is recorded),
//!   within `review_decision_days` working days of the filing.
//! - [`excuse`], [`override_cap`]: recorded decisions, each with a reason.
//! - [`approve`]: 审定, one act per year; refused while an objection is
//!   undecided or a unit is not assessed and not excused. Stores the
//!   SHA-256 of the consolidation it approved and the results as next
//!   year's history.
//! - [`publish`]: 公布, after approval, once.
//! - [`history`]: earlier years' results imported from Excel/CSV.
//! - [`queue`]: what the review desk reads — notices sent, objections with
//!   their materials and decisions, a material's bytes.
//! - [`rectification`]: who owes a rectification plan (整改方案), derived
//!   from the consolidation and outcomes; plans and reports received.
//!
//! **Invariant:** every transition and its audit record (with the operator)
//! commit in one transaction; a refused transition changes nothing.
//! **Invariant:** after approval, a review decision needs a recorded reason
//! (overrides and excusals always carry one).
//! "Now" is the [`Actor`]'s time, read at the CLI edge (`--now`); dates are
//! Beijing dates.

pub mod history;
mod notice;
pub mod queue;
pub mod rectification;
mod review;

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::json;

use crate::audit::{self, Actor};
use crate::calendar::CalendarError;
use crate::consolidate::{Assessment, Consolidation};
use crate::outcome::YearResults;

pub use notice::{Deadlines, FeedbackNotice, deadlines, notice_text, notify};
pub use review::{Decided, Decision, Filed, Material, decide, object};

/// Audit actions of the workflow.
pub mod action {
    pub const NOTIFY: &str = "results.notify";
    pub const OBJECT: &str = "review.object";
    pub const DECIDE: &str = "review.decide";
    pub const EXCUSE: &str = "decision.excuse";
    pub const OVERRIDE: &str = "decision.override";
    pub const APPROVE: &str = "results.approve";
    pub const PUBLISH: &str = "results.publish";
    pub const HISTORY_IMPORT: &str = "history.import";
}

/// Largest material file accepted with an objection.
pub const MAX_MATERIAL_BYTES: usize = 20 * 1024 * 1024;

/// A workflow step was refused; nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    #[error("数据库读写失败，未作任何改动（database error, nothing changed）：{0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("推算期限失败（deadline）：{0}")]
    Calendar(#[from] CalendarError),
    #[error("{year} 年度名册中没有单位 {unit}（unknown unit）")]
    UnknownUnit { year: i32, unit: String },
    #[error("单位 {unit} 未被考核（{why}），不能通报反馈（unit not assessed）")]
    NotAssessed { unit: String, why: String },
    #[error("单位 {unit} 已于 {on} 通报反馈，期限不再变动（already notified）")]
    AlreadyNotified { unit: String, on: String },
    #[error("单位 {unit} 尚未通报反馈考核结果，不能申请复核（not notified yet）")]
    NotNotified { unit: String },
    #[error(
        "单位 {unit} 申请复核的期限为 {deadline}，已过期限，复核申请不予受理（review-request deadline passed）"
    )]
    ObjectionLate { unit: String, deadline: String },
    #[error("{what}不能为空（must not be empty）")]
    Empty { what: &'static str },
    #[error(
        "证明材料 {name} 有 {size} 字节，超过 {MAX_MATERIAL_BYTES} 字节上限（material too large）"
    )]
    MaterialTooLarge { name: String, size: usize },
    #[error("证明材料文件名 {name} 重复（duplicate material name）")]
    DuplicateMaterial { name: String },
    #[error("单位 {unit} 没有待决定的复核申请（no open objection）")]
    NoOpenObjection { unit: String },
    #[error(
        "单位 {unit} 的复核申请应于 {deadline} 前作出决定，已过期限（review decision deadline passed）"
    )]
    DecisionLate { unit: String, deadline: String },
    #[error(
        "更正结果须有复核申请（{filed}）之后提交的新上报，单位 {unit} 没有（revised needs a newer submission）"
    )]
    NoNewSubmission { unit: String, filed: String },
    #[error(
        "{year} 年度考核结果已于 {at} 审定（文号 {doc_number}），审定后的改动须写明原因（--reason）（change after approval needs a reason）"
    )]
    ReasonAfterApproval {
        year: i32,
        at: String,
        doc_number: String,
    },
    #[error("{year} 年度考核结果已审定（文号 {doc_number}），每年只审定一次（already approved）")]
    AlreadyApproved { year: i32, doc_number: String },
    #[error("下列单位的复核申请尚未决定，不能审定（open reviews）：{}", units.join("、"))]
    OpenReviews { units: Vec<String> },
    #[error("下列单位未被考核，须先补齐上报或记录免于考核的原因（excuse），才能审定（units not assessed）：{}", units.join("；"))]
    Unassessed { units: Vec<String> },
    #[error("{year} 年度考核结果尚未审定，不能公布（not approved）")]
    NotApproved { year: i32 },
    #[error("{year} 年度考核结果已于 {at} 公布（already published）")]
    AlreadyPublished { year: i32, at: String },
    #[error("扣分上限须为不小于 0 的分数（invalid cap）")]
    BadCap,
}

/// (approved_at, doc_number) of `year`, if approved.
pub fn approval(conn: &Connection, year: i32) -> rusqlite::Result<Option<(String, String)>> {
    conn.query_row(
        "SELECT approved_at, doc_number FROM approvals WHERE year = ?1",
        [year],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
}

/// The approval of a year as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    pub doc_number: String,
    /// RFC 3339, the hub's time of the act.
    pub approved_at: String,
    /// [`Consolidation::sha256`] of the consolidation approved.
    pub consolidation_sha256: String,
}

impl Approval {
    /// Whether `c` is the consolidation that was approved: nothing that
    /// counts changed since.
    pub fn approves(&self, c: &Consolidation) -> bool {
        self.consolidation_sha256 == c.sha256()
    }
}

/// The approval record of `year`, if approved.
pub fn approval_record(conn: &Connection, year: i32) -> rusqlite::Result<Option<Approval>> {
    conn.query_row(
        "SELECT doc_number, approved_at, consolidation_sha256 FROM approvals WHERE year = ?1",
        [year],
        |r| {
            Ok(Approval {
                doc_number: r.get(0)?,
                approved_at: r.get(1)?,
                consolidation_sha256: r.get(2)?,
            })
        },
    )
    .optional()
}

/// (published_at) of `year`, if published.
pub fn publication(conn: &Connection, year: i32) -> rusqlite::Result<Option<String>> {
    conn.query_row(
        "SELECT published_at FROM publications WHERE year = ?1",
        [year],
        |r| r.get(0),
    )
    .optional()
}

fn record_decision(
    conn: &mut Connection,
    year: i32,
    unit: &str,
    cap: Option<i64>,
    reason: &str,
    actor: &Actor,
) -> Result<(), WorkflowError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(WorkflowError::Empty { what: "原因" });
    }
    let tx = conn.transaction()?;
    let known: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM units WHERE year = ?1 AND id = ?2)",
        params![year, unit],
        |r| r.get(0),
    )?;
    if !known {
        return Err(WorkflowError::UnknownUnit {
            year,
            unit: unit.into(),
        });
    }
    let after_approval = approval(&tx, year)?.map(|(_, doc)| doc);
    let (kind, act) = match cap {
        Some(_) => ("penalty_cap", action::OVERRIDE),
        None => ("excusal", action::EXCUSE),
    };
    tx.execute(
        "INSERT INTO recorded_decisions (year, unit_id, kind, cap, reason, recorded_at, operator)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            year,
            unit,
            kind,
            cap,
            reason,
            actor.at.to_string(),
            actor.operator
        ],
    )?;
    audit::append(
        &tx,
        actor,
        act,
        &format!("{year}/{unit}"),
        &json!({"cap": cap, "reason": reason, "after_approval": after_approval}),
    )?;
    tx.commit()?;
    Ok(())
}

/// Records that `unit` is not assessed this year (免于考核), with the reason.
pub fn excuse(
    conn: &mut Connection,
    year: i32,
    unit: &str,
    reason: &str,
    actor: &Actor,
) -> Result<(), WorkflowError> {
    record_decision(conn, year, unit, None, reason, actor)
}

/// Records an override of the penalty cap (hundredths) for `unit`.
pub fn override_cap(
    conn: &mut Connection,
    year: i32,
    unit: &str,
    cap: i64,
    reason: &str,
    actor: &Actor,
) -> Result<(), WorkflowError> {
    if cap < 0 {
        return Err(WorkflowError::BadCap);
    }
    record_decision(conn, year, unit, Some(cap), reason, actor)
}

/// 审定: records the approval of `c` (the consolidation computed from the
/// database now) under `doc_number`; see the module docs.
pub fn approve(
    conn: &mut Connection,
    c: &Consolidation,
    doc_number: &str,
    actor: &Actor,
) -> Result<String, WorkflowError> {
    let doc_number = doc_number.trim();
    if doc_number.is_empty() {
        return Err(WorkflowError::Empty { what: "文号" });
    }
    let year = c.year;
    let tx = conn.transaction()?;
    if let Some((_, doc_number)) = approval(&tx, year)? {
        return Err(WorkflowError::AlreadyApproved { year, doc_number });
    }
    let open: Vec<String> = tx
        .prepare("SELECT DISTINCT unit_id FROM objections WHERE year = ?1 AND decision IS NULL ORDER BY unit_id")?
        .query_map([year], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    if !open.is_empty() {
        return Err(WorkflowError::OpenReviews { units: open });
    }
    let unassessed: Vec<String> = c
        .units
        .iter()
        .filter_map(|u| match &u.assessment {
            Assessment::NotAssessed { gaps } => Some(format!(
                "{}（{}）：{}",
                u.name,
                u.unit_id,
                gaps.iter()
                    .map(|g| g.message.as_str())
                    .collect::<Vec<_>>()
                    .join("，")
            )),
            _ => None,
        })
        .collect();
    if !unassessed.is_empty() {
        return Err(WorkflowError::Unassessed { units: unassessed });
    }
    let digest = c.sha256();
    let results = serde_json::to_string(&YearResults::from_consolidation(c)).unwrap_or_default();
    tx.execute(
        "INSERT INTO approvals (year, doc_number, approved_at, operator, consolidation_sha256, results)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![year, doc_number, actor.at.to_string(), actor.operator, digest, results],
    )?;
    audit::append(
        &tx,
        actor,
        action::APPROVE,
        &year.to_string(),
        &json!({"doc_number": doc_number, "consolidation_sha256": digest, "pack": format!("{}-{} v{}", c.pack.id, c.pack.year, c.pack.version)}),
    )?;
    tx.commit()?;
    Ok(digest)
}

/// 公布: after approval, once.
pub fn publish(conn: &mut Connection, year: i32, actor: &Actor) -> Result<(), WorkflowError> {
    let tx = conn.transaction()?;
    if approval(&tx, year)?.is_none() {
        return Err(WorkflowError::NotApproved { year });
    }
    if let Some(at) = publication(&tx, year)? {
        return Err(WorkflowError::AlreadyPublished { year, at });
    }
    tx.execute(
        "INSERT INTO publications (year, published_at, operator) VALUES (?1, ?2, ?3)",
        params![year, actor.at.to_string(), actor.operator],
    )?;
    audit::append(&tx, actor, action::PUBLISH, &year.to_string(), &json!({}))?;
    tx.commit()?;
    Ok(())
}

/// Points typed by an official that are not a non-negative number with at
/// most two decimals.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("分数 {text:?} 无效，应为如 15 或 12.5 的非负数（invalid points）{detail}")]
pub struct InvalidPoints {
    pub text: String,
    detail: String,
}

/// Points as an official types them (`15`, `12.5`, `0.05`) → hundredths,
/// read by the one parser of decimal literals; negative points are refused.
/// The CLI's `--cap` and the console's form both read a cap through it.
pub fn parse_points(text: &str) -> Result<i64, InvalidPoints> {
    let t = text.trim();
    match kaohe_rulepacks::rubric::decimal::parse_hundredths(t) {
        Ok(v) if v >= 0 => Ok(v),
        Ok(_) => Err(InvalidPoints {
            text: t.to_owned(),
            detail: String::new(),
        }),
        Err(e) => Err(InvalidPoints {
            text: t.to_owned(),
            detail: format!("：{e}"),
        }),
    }
}

#[cfg(test)]
mod tests;
