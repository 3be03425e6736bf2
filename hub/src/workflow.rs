//! 反馈、复核、审定、公布（workflow）：考核方案 六（一）（三）.
//!
//! - [`notify`]: 问题通报反馈 per unit — the score sheet, the reason of every
//!   deduction and the deadlines as dates: verification (核实) and review
//!   request (申请复核) windows in working days of the effective calendar,
//!   the request window running alongside or after verification as the
//!   manifest says ([`deadlines`], pure).
//! - [`object`]: an objection (异议/复核申请) filed by the county office on
//!   the assessee's behalf, with material (at least one file, as 六（三）
//!   "申请复核并提供证明材料" asks; size cap, SHA-256); refused after the
//!   review-request deadline, naming it.
//! - [`decide`]: upheld (维持) or revised (更正: a newer submission for the
//!   unit must have been committed after the objection; its id is recorded),
//!   within `review_decision_days` working days of the filing.
//! - [`excuse`], [`override_cap`]: recorded decisions, each with a reason.
//! - [`approve`]: 审定, refused while an objection is undecided, a unit is
//!   not assessed and not excused, or a result awaits re-evaluation under a
//!   newer pack (待重新评价). Stores the SHA-256 of the consolidation it
//!   approved and the results as next year's history.
//! - [`reopen`]: 撤销审定, with a reason — the only way to change an
//!   approved year; the approval is kept, marked reopened, and the next
//!   approval names it as the one it replaces.
//! - [`publish`]: 公布, of the approval in force, once.
//! - [`approved_for_export`]: the approval in force, its publication and
//!   the approval it replaces — refused unless the year consolidated now is
//!   exactly what was approved.
//! - [`history`]: earlier years' results imported from Excel/CSV.
//! - [`queue`]: what the review desk reads — notices sent, objections with
//!   their materials and decisions, a material's bytes.
//! - [`rectification`]: who owes a rectification plan (整改方案), derived
//!   from the consolidation and outcomes; plans and reports received.
//! - [`ruling`]: 裁定 — which node's report stands where two nodes
//!   reported one slot.
//!
//! Layout: this file (errors, recorded decisions), `notice`, `review`,
//! `approval` (approve, reopen, publish, export check), [`history`],
//! [`rectification`].
//!
//! **Invariant:** every transition and its audit record (with the operator)
//! commit in one transaction; a refused transition changes nothing.
//! **Invariant:** while an approval is in force ([`crate::lock`]), every
//! act that would change the year's result — notify, object, decide,
//! excuse, override, approve again — is refused with
//! [`Locked`], naming the approval's 文号, checked
//! inside the act's transaction.
//! "Now" is the [`Actor`]'s time, read at the CLI edge (`--now`); dates are
//! Beijing dates.

mod approval;
pub mod history;
mod notice;
pub mod queue;
pub mod rectification;
mod review;
pub mod ruling;

use rusqlite::{Connection, params};
use serde_json::json;

use crate::audit::{self, Actor};
use crate::calendar::CalendarError;
use crate::lock::{self, Locked};

pub use approval::{ApprovedYear, approve, approved_for_export, approved_report, publish, reopen};
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
    pub const REOPEN: &str = "results.reopen";
    pub const PUBLISH: &str = "results.publish";
    pub const HISTORY_IMPORT: &str = "history.import";
    pub const RULING: &str = "results.ruling";
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
        "{year} 年度考核结果已审定（文号 {doc_number}），审定有效期间不能再次审定；确需更正的，先撤销审定（kaohe hub reopen）（already approved）"
    )]
    AlreadyApproved { year: i32, doc_number: String },
    #[error(transparent)]
    Locked(#[from] Locked),
    #[error(
        "单位 {unit} 的复核申请没有附证明材料，不予受理；考核方案 六（三）要求“申请复核并提供证明材料”，请附上材料后重新申请（review request needs material）"
    )]
    NoMaterial { unit: String },
    #[error(
        "{year} 年度规则包已更新为第 {current} 版，下列结果仍按旧版计算，待重新评价；须待有关节点同步后按新版重新上报，才能审定（results await re-evaluation）：{}",
        units.join("；")
    )]
    AwaitingReevaluation {
        year: i32,
        current: u32,
        units: Vec<String>,
    },
    #[error("{year} 年度考核结果没有有效的审定，无可撤销（nothing to reopen）")]
    NothingToReopen { year: i32 },
    #[error(
        "{year} 年度考核结果的审定（文号 {doc_number}）已于 {on} 撤销，须重新审定后才能{what}（reopened: approve again first）"
    )]
    Reopened {
        year: i32,
        doc_number: String,
        on: String,
        what: &'static str,
    },
    #[error(
        "{year} 年度当前汇总结果与审定（文号 {doc_number}，汇总 SHA-256 {approved}）时不一致（现为 {now}），拒绝导出；请查明审定后的改动（results differ from the approval）"
    )]
    ApprovalMismatch {
        year: i32,
        doc_number: String,
        approved: String,
        now: String,
    },
    #[error(
        "{year} 年度的汇总在查看之后已有变化（查看时 SHA-256 {shown}，现为 {now}），未记录审定；请重新查看考核结果后再审定（results changed since shown）"
    )]
    ChangedSinceShown {
        year: i32,
        shown: String,
        now: String,
    },
    #[error("汇总考核结果失败，未作任何改动（consolidation failed, nothing changed）：{0}")]
    Results(#[from] crate::results::ResultsError),
    #[error("下列单位的复核申请尚未决定，不能审定（open reviews）：{}", units.join("、"))]
    OpenReviews { units: Vec<String> },
    #[error("下列单位未被考核，须先补齐上报或记录免于考核的原因（excuse），才能审定（units not assessed）：{}", units.join("；"))]
    Unassessed { units: Vec<String> },
    #[error("{year} 年度考核结果尚未审定，不能{what}（not approved）")]
    NotApproved { year: i32, what: &'static str },
    #[error("{year} 年度考核结果已于 {at} 公布（already published）")]
    AlreadyPublished { year: i32, at: String },
    #[error("扣分上限须为不小于 0 的分数（invalid cap）")]
    BadCap,
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
    if let Some(locked) = lock::locked(&tx, year)? {
        return Err(locked.into());
    }
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
        &json!({"cap": cap, "reason": reason}),
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
