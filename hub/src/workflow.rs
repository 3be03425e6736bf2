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
pub mod rectification;

use jiff::civil::Date;
use kaohe_rulepacks::manifest::{Manifest, ReviewRuns, Schedule};
use kaohe_rulepacks::rubric::decimal::format_hundredths_fixed;
use kaohe_tables::terminal;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::audit::{self, Actor};
use crate::calendar::{Calendar, CalendarError, beijing_date, format_date_zh};
use crate::consolidate::{Assessment, Consolidation, UnitResult};
use crate::outcome::YearResults;

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

/// The deadlines of one feedback notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    pub notified_on: Date,
    /// Last day to verify (核实).
    pub verification: Date,
    /// Last day to request a review (申请复核).
    pub review_request: Date,
}

/// The windows of a notice given on `notified_on`. Pure.
pub fn deadlines(
    cal: &Calendar,
    schedule: &Schedule,
    notified_on: Date,
) -> Result<Deadlines, CalendarError> {
    let verification = cal.add_working_days(notified_on, schedule.verification_days)?;
    let review_request = match schedule.review_request_runs {
        ReviewRuns::Alongside => cal.add_working_days(notified_on, schedule.review_request_days)?,
        ReviewRuns::After => cal.add_working_days(verification, schedule.review_request_days)?,
    };
    Ok(Deadlines {
        notified_on,
        verification,
        review_request,
    })
}

/// A feedback notice as given to one unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedbackNotice {
    pub unit_id: String,
    pub deadlines: Deadlines,
    pub text: String,
}

/// The text of a feedback notice (问题通报反馈). Pure.
pub fn notice_text(
    u: &UnitResult,
    manifest: &Manifest,
    year: i32,
    d: &Deadlines,
) -> Result<String, WorkflowError> {
    let Assessment::Assessed(s) = &u.assessment else {
        return Err(WorkflowError::NotAssessed {
            unit: u.unit_id.clone(),
            why: "无得分表".into(),
        });
    };
    let cat = manifest.category_index(&u.category);
    let rows: Vec<Vec<String>> = s
        .indicators
        .iter()
        .map(|i| {
            let idx = manifest.indicator_index(&i.indicator_id);
            let name = idx
                .map(|x| manifest.indicators[x].name.clone())
                .unwrap_or_default();
            let points = match (idx, cat) {
                (Some(x), Some(k)) => manifest
                    .points(x, k)
                    .map(format_hundredths_fixed)
                    .unwrap_or_default(),
                _ => String::new(),
            };
            let reasons: Vec<String> = s
                .fired
                .iter()
                .filter(|f| f.indicator_id == i.indicator_id)
                .map(|f| {
                    format!(
                        "{}（{}，{}分）",
                        f.reason,
                        f.round.name_zh(),
                        format_hundredths_fixed(f.amount)
                    )
                })
                .collect();
            vec![
                i.indicator_id.clone(),
                name,
                points,
                format_hundredths_fixed(i.score),
                if reasons.is_empty() {
                    "—".into()
                } else {
                    reasons.join("；")
                },
            ]
        })
        .collect();
    let runs = match manifest.schedule.review_request_runs {
        ReviewRuns::Alongside => "与核实期同时起算",
        ReviewRuns::After => "自核实期届满后起算",
    };
    let mut text = format!(
        "{year}年度考核问题通报反馈\n\n{name}（{id}）：\n\n现将你单位{year}年度考核得分及扣分原因反馈如下（通报日期：{on}）。\n\n",
        name = u.name,
        id = u.unit_id,
        on = format_date_zh(d.notified_on),
    );
    text.push_str(&terminal::render(
        &["指标", "名称", "分值", "得分", "扣分原因"],
        &rows,
    ));
    text.push_str(&format!(
        "\n换算后得分 {}，加分 {}，扣分 {}，总分 {}，等次：{}。\n",
        format_hundredths_fixed(s.converted),
        format_hundredths_fixed(s.bonus),
        format_hundredths_fixed(s.penalty),
        format_hundredths_fixed(s.total),
        s.grade_name
    ));
    for note in &s.notes {
        text.push_str(&format!("说明：{note}\n"));
    }
    text.push_str(&format!(
        "\n请于{}前（{}个工作日内）核实上述结果；对有关问题有异议的，请于{}前（{}个工作日内，{runs}）申请复核并提供证明材料，逾期不予受理。\n对考核发现的问题，请按要求制定整改方案并报告整改情况。\n",
        format_date_zh(d.verification),
        manifest.schedule.verification_days,
        format_date_zh(d.review_request),
        manifest.schedule.review_request_days,
    ));
    Ok(text)
}

/// Gives the feedback notice to `units` (all assessed units when empty),
/// dated `notified_on`; stores each with its deadlines. Units already
/// notified are refused; units not assessed are refused when named and
/// skipped otherwise.
pub fn notify(
    conn: &mut Connection,
    cal: &Calendar,
    manifest: &Manifest,
    c: &Consolidation,
    units: &[String],
    notified_on: Date,
    actor: &Actor,
) -> Result<Vec<FeedbackNotice>, WorkflowError> {
    let d = deadlines(cal, &manifest.schedule, notified_on)?;
    let chosen: Vec<&UnitResult> = if units.is_empty() {
        c.units.iter().filter(|u| u.scored().is_some()).collect()
    } else {
        units
            .iter()
            .map(|id| {
                c.unit(id).ok_or_else(|| WorkflowError::UnknownUnit {
                    year: c.year,
                    unit: id.clone(),
                })
            })
            .collect::<Result<_, _>>()?
    };
    let tx = conn.transaction()?;
    let mut out = Vec::new();
    for u in chosen {
        if let Some(on) = tx
            .query_row(
                "SELECT notified_on FROM notifications WHERE year = ?1 AND unit_id = ?2",
                params![c.year, u.unit_id],
                |r| r.get::<_, String>(0),
            )
            .optional()?
        {
            return Err(WorkflowError::AlreadyNotified {
                unit: u.unit_id.clone(),
                on,
            });
        }
        let text = notice_text(u, manifest, c.year, &d)?;
        tx.execute(
            "INSERT INTO notifications (year, unit_id, notified_on, verification_deadline,
               review_request_deadline, notified_at, operator, notice)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                c.year,
                u.unit_id,
                d.notified_on.to_string(),
                d.verification.to_string(),
                d.review_request.to_string(),
                actor.at.to_string(),
                actor.operator,
                text
            ],
        )?;
        audit::append(
            &tx,
            actor,
            action::NOTIFY,
            &format!("{}/{}", c.year, u.unit_id),
            &json!({
                "notified_on": d.notified_on.to_string(),
                "verification_deadline": d.verification.to_string(),
                "review_request_deadline": d.review_request.to_string(),
                "total": u.scored().map(|s| s.total),
            }),
        )?;
        out.push(FeedbackNotice {
            unit_id: u.unit_id.clone(),
            deadlines: d,
            text,
        });
    }
    tx.commit()?;
    Ok(out)
}

/// One material file of an objection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Material {
    pub file_name: String,
    pub bytes: Vec<u8>,
}

/// A filed objection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filed {
    pub id: i64,
    pub decision_deadline: Date,
    /// (file name, SHA-256 hex, size).
    pub materials: Vec<(String, String, usize)>,
}

/// Records an objection of `unit` on its behalf; see the module docs.
#[allow(
    clippy::too_many_arguments,
    reason = "the store, the calendar and the pack, then the objection's own four parts"
)]
pub fn object(
    conn: &mut Connection,
    cal: &Calendar,
    manifest: &Manifest,
    year: i32,
    unit: &str,
    reason: &str,
    materials: &[Material],
    actor: &Actor,
) -> Result<Filed, WorkflowError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(WorkflowError::Empty {
            what: "异议理由"
        });
    }
    let mut seen = std::collections::BTreeSet::new();
    for m in materials {
        if m.bytes.len() > MAX_MATERIAL_BYTES {
            return Err(WorkflowError::MaterialTooLarge {
                name: m.file_name.clone(),
                size: m.bytes.len(),
            });
        }
        if !seen.insert(m.file_name.as_str()) {
            return Err(WorkflowError::DuplicateMaterial {
                name: m.file_name.clone(),
            });
        }
    }
    let tx = conn.transaction()?;
    let deadline: Option<String> = tx
        .query_row(
            "SELECT review_request_deadline FROM notifications WHERE year = ?1 AND unit_id = ?2",
            params![year, unit],
            |r| r.get(0),
        )
        .optional()?;
    let Some(deadline) = deadline else {
        return Err(WorkflowError::NotNotified { unit: unit.into() });
    };
    let deadline: Date = deadline.parse().map_err(|_| {
        rusqlite::Error::InvalidColumnType(
            0,
            "review_request_deadline".into(),
            rusqlite::types::Type::Text,
        )
    })?;
    let today = beijing_date(actor.at);
    if today > deadline {
        return Err(WorkflowError::ObjectionLate {
            unit: unit.into(),
            deadline: format_date_zh(deadline),
        });
    }
    let decision_deadline = cal.add_working_days(today, manifest.schedule.review_decision_days)?;
    tx.execute(
        "INSERT INTO objections (year, unit_id, reason, filed_at, filed_at_unix, filed_by, decision_deadline)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            year,
            unit,
            reason,
            actor.at.to_string(),
            actor.at.as_second(),
            actor.operator,
            decision_deadline.to_string()
        ],
    )?;
    let id = tx.last_insert_rowid();
    let mut stored = Vec::new();
    for m in materials {
        let sha = hex::encode(Sha256::digest(&m.bytes));
        tx.execute(
            "INSERT INTO objection_materials (objection_id, file_name, sha256, size, content) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, m.file_name, sha, m.bytes.len() as i64, m.bytes],
        )?;
        stored.push((m.file_name.clone(), sha, m.bytes.len()));
    }
    audit::append(
        &tx,
        actor,
        action::OBJECT,
        &format!("{year}/{unit}"),
        &json!({
            "objection": id,
            "reason": reason,
            "decision_deadline": decision_deadline.to_string(),
            "materials": stored.iter().map(|(n, s, z)| json!({"name": n, "sha256": s, "size": z})).collect::<Vec<_>>(),
        }),
    )?;
    tx.commit()?;
    Ok(Filed {
        id,
        decision_deadline,
        materials: stored,
    })
}

/// The decision on an objection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// 维持原结果.
    Upheld,
    /// 更正: the result is replaced by a newer submission.
    Revised,
}

/// What [`decide`] recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decided {
    pub objection: i64,
    /// The submission the revision rests on.
    pub revised_submission: Option<i64>,
}

/// Decides the open objection of `unit`; see the module docs.
pub fn decide(
    conn: &mut Connection,
    year: i32,
    unit: &str,
    decision: Decision,
    reason: Option<&str>,
    actor: &Actor,
) -> Result<Decided, WorkflowError> {
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    let tx = conn.transaction()?;
    require_reason_after_approval(&tx, year, reason)?;
    let open: Option<(i64, i64, String, String)> = tx
        .query_row(
            "SELECT id, filed_at_unix, filed_at, decision_deadline FROM objections
             WHERE year = ?1 AND unit_id = ?2 AND decision IS NULL ORDER BY id LIMIT 1",
            params![year, unit],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    let Some((id, filed_unix, filed_at, deadline)) = open else {
        return Err(WorkflowError::NoOpenObjection { unit: unit.into() });
    };
    if let Ok(deadline) = deadline.parse::<Date>()
        && beijing_date(actor.at) > deadline
    {
        return Err(WorkflowError::DecisionLate {
            unit: unit.into(),
            deadline: format_date_zh(deadline),
        });
    }
    let revised_submission = match decision {
        Decision::Upheld => None,
        Decision::Revised => {
            let sid: Option<i64> = tx.query_row(
                "SELECT max(s.id) FROM submissions s
                 WHERE s.year = ?1 AND s.unit_id = ?2 AND s.committed_at > ?3
                   AND EXISTS (SELECT 1 FROM results r WHERE r.submission_id = s.id AND r.is_current = 1)",
                params![year, unit, filed_unix],
                |r| r.get(0),
            )?;
            match sid {
                Some(sid) => Some(sid),
                None => {
                    return Err(WorkflowError::NoNewSubmission {
                        unit: unit.into(),
                        filed: filed_at,
                    });
                }
            }
        }
    };
    let kind = match decision {
        Decision::Upheld => "upheld",
        Decision::Revised => "revised",
    };
    tx.execute(
        "UPDATE objections SET decision = ?1, decided_at = ?2, decided_by = ?3, decision_note = ?4,
           revised_submission = ?5 WHERE id = ?6",
        params![
            kind,
            actor.at.to_string(),
            actor.operator,
            reason,
            revised_submission,
            id
        ],
    )?;
    audit::append(
        &tx,
        actor,
        action::DECIDE,
        &format!("{year}/{unit}"),
        &json!({"objection": id, "decision": kind, "reason": reason, "revised_submission": revised_submission}),
    )?;
    tx.commit()?;
    Ok(Decided {
        objection: id,
        revised_submission,
    })
}

fn require_reason_after_approval(
    conn: &Connection,
    year: i32,
    reason: Option<&str>,
) -> Result<(), WorkflowError> {
    if reason.is_some() {
        return Ok(());
    }
    if let Some((at, doc_number)) = approval(conn, year)? {
        return Err(WorkflowError::ReasonAfterApproval {
            year,
            at,
            doc_number,
        });
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn schedule(runs: ReviewRuns) -> Schedule {
        let mut s = crate::consolidate::golden::county()
            .manifest()
            .schedule
            .clone();
        s.review_request_runs = runs;
        s.verification_days = 5;
        s.review_request_days = 5;
        s
    }

    #[test]
    fn deadlines_skip_the_national_day_holiday_and_count_the_make_up_workday() {
        let cal = Calendar::builtin();
        // Notified Friday 2024-09-27; 2024-09-29 (Sun) is a make-up workday,
        // 10-01..10-07 the National Day holiday, 10-12 (Sat) a make-up workday.
        let d = deadlines(&cal, &schedule(ReviewRuns::After), date(2024, 9, 27)).unwrap();
        assert_eq!(d.verification, date(2024, 10, 10));
        assert_eq!(format_date_zh(d.verification), "2024年10月10日（星期四）");
        assert_eq!(d.review_request, date(2024, 10, 16));
        let d = deadlines(&cal, &schedule(ReviewRuns::Alongside), date(2024, 9, 27)).unwrap();
        assert_eq!(d.review_request, d.verification);
    }

    #[test]
    fn an_approval_recognises_the_consolidation_it_approved_and_no_other() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::db::create(dir.path()).unwrap();
        let mut c = crate::consolidate::golden::county().consolidate();
        // Approval refuses unassessed units; what is approved here is the rest.
        c.units
            .retain(|u| !matches!(u.assessment, Assessment::NotAssessed { .. }));
        let actor = Actor::new("tester", "2023-01-10T02:00:00Z".parse().unwrap());
        let digest = approve(&mut conn, &c, "宝法治办〔2023〕1号", &actor).unwrap();
        let record = approval_record(&conn, c.year).unwrap().unwrap();
        assert_eq!(record.doc_number, "宝法治办〔2023〕1号");
        assert_eq!(record.consolidation_sha256, digest);
        assert!(record.approves(&c));

        // One total changed after approval: no longer what was approved.
        let mut changed = c.clone();
        let scored = changed
            .units
            .iter_mut()
            .find_map(|u| match &mut u.assessment {
                Assessment::Assessed(s) => Some(s),
                _ => None,
            })
            .unwrap();
        scored.total += 1;
        assert!(!record.approves(&changed));
        assert_eq!(approval_record(&conn, c.year + 1).unwrap(), None);
    }

    #[test]
    fn a_deadline_beyond_the_calendar_is_an_error_not_a_guess() {
        let cal = Calendar::builtin();
        let last = cal.years().max().unwrap();
        let err = deadlines(
            &cal,
            &schedule(ReviewRuns::After),
            date(last as i16, 12, 28),
        )
        .unwrap_err();
        assert!(!err.to_string().is_empty());
    }
}
