//! 审定、撤销审定、公布（approve, reopen, publish）and the check every
//! export makes: the approval in force must approve exactly the year as it
//! consolidates now.

use kaohe_rulepacks::runtime::Runtime;
use rusqlite::{Connection, TransactionBehavior, params};
use serde_json::json;

use super::{WorkflowError, action};
use crate::audit::{self, Actor};
use crate::consolidate::{Assessment, Consolidation, Detail};
use crate::export::model::Report;
use crate::lock::{self, Approval, Publication};
use crate::outcome::YearResults;
use crate::results::{self, ConsolidatedYear, NoticeNames, Reevaluation};

/// 审定: records the approval of `year` as it consolidates now under
/// `doc_number`, naming the reopened approval it replaces if there is one;
/// returns the consolidation's SHA-256.
///
/// The year is consolidated inside the approval's own write transaction,
/// so what is approved is the database as it is committed, whatever ingest
/// or another console did a moment before. `shown` is the digest of the
/// consolidation the official looked at, when there is one (the console's
/// form carries it): if the year no longer consolidates to it, nothing is
/// recorded and the official is asked to look again.
pub fn approve(
    conn: &mut Connection,
    runtime: &Runtime,
    year: i32,
    doc_number: &str,
    shown: Option<&str>,
    actor: &Actor,
) -> Result<String, WorkflowError> {
    approve_with(conn, year, doc_number, shown, actor, |tx| {
        // Nothing recorded needs a unit's indicators: a national year is
        // approved in bounded memory, and its digest is the full one's.
        let y = results::consolidate_year_with(tx, runtime, year, Detail::Lean)?;
        let digest = y.data.sha256(tx, &y.consolidation, y.detail)?;
        Ok(Approvable {
            consolidation: y.consolidation,
            reevaluation: y.data.reevaluation,
            digest,
        })
    })
}

/// The year as [`approve`] consolidates it inside its transaction.
pub(super) struct Approvable {
    pub consolidation: Consolidation,
    /// The current results left out as computed under an older pack version.
    pub reevaluation: Vec<Reevaluation>,
    /// The digest of the full consolidation.
    pub digest: String,
}

/// [`approve`], the year consolidated by `consolidate` inside the
/// approval's write transaction.
pub(super) fn approve_with(
    conn: &mut Connection,
    year: i32,
    doc_number: &str,
    shown: Option<&str>,
    actor: &Actor,
    consolidate: impl FnOnce(&Connection) -> Result<Approvable, WorkflowError>,
) -> Result<String, WorkflowError> {
    let doc_number = doc_number.trim();
    if doc_number.is_empty() {
        return Err(WorkflowError::Empty { what: "文号" });
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if let Some(locked) = lock::locked(&tx, year)? {
        return Err(WorkflowError::AlreadyApproved {
            year,
            doc_number: locked.doc_number,
        });
    }
    let open: Vec<String> = tx
        .prepare("SELECT DISTINCT unit_id FROM objections WHERE year = ?1 AND decision IS NULL ORDER BY unit_id")?
        .query_map([year], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    if !open.is_empty() {
        return Err(WorkflowError::OpenReviews { units: open });
    }
    let Approvable {
        consolidation: c,
        reevaluation,
        digest,
    } = consolidate(&tx)?;
    let c = &c;
    // Results computed under an older version of the year's pack are left
    // out of the consolidation; approving without them would approve a
    // year that is not final (an excused unit's results do not count).
    let stale: Vec<String> = reevaluation
        .iter()
        .filter(|r| {
            !c.unit(&r.unit_id)
                .is_some_and(|u| matches!(u.assessment, Assessment::Excused { .. }))
        })
        .map(|r| r.describe(c.unit(&r.unit_id).map(|u| u.name.as_str())))
        .collect();
    if !stale.is_empty() {
        return Err(WorkflowError::AwaitingReevaluation {
            year,
            current: c.pack.version,
            units: stale,
        });
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
    if let Some(shown) = shown.map(str::trim).filter(|s| !s.is_empty())
        && shown != digest
    {
        return Err(WorkflowError::ChangedSinceShown {
            year,
            shown: shown.to_owned(),
            now: digest,
        });
    }
    let replaces = lock::last_approved(&tx, year)?;
    let results = serde_json::to_string(&YearResults::from_consolidation(c)).unwrap_or_default();
    tx.execute(
        "INSERT INTO approvals (year, doc_number, approved_at, operator, consolidation_sha256, results, replaces)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            year,
            doc_number,
            actor.at.to_string(),
            actor.operator,
            digest,
            results,
            replaces.as_ref().map(|a| a.id)
        ],
    )?;
    audit::append(
        &tx,
        actor,
        action::APPROVE,
        &year.to_string(),
        &json!({
            "doc_number": doc_number,
            "consolidation_sha256": digest,
            "pack": format!("{}-{} v{}", c.pack.id, c.pack.year, c.pack.version),
            "replaces": replaces.as_ref().map(|a| json!({"doc_number": a.doc_number, "consolidation_sha256": a.consolidation_sha256})),
        }),
    )?;
    tx.commit()?;
    Ok(digest)
}

/// 撤销审定: marks the approval in force of `year` reopened, with who, when
/// and why; it stays on record. Until the next approval, the year is open
/// again and nothing of it can be exported or published. Returns the
/// approval as it was.
pub fn reopen(
    conn: &mut Connection,
    year: i32,
    reason: &str,
    actor: &Actor,
) -> Result<Approval, WorkflowError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(WorkflowError::Empty {
            what: "撤销审定的原因",
        });
    }
    let tx = conn.transaction()?;
    let Some(approval) = lock::in_force(&tx, year)? else {
        return Err(WorkflowError::NothingToReopen { year });
    };
    let published = lock::publication(&tx, approval.id)?;
    tx.execute(
        "UPDATE approvals SET reopened_at = ?1, reopened_by = ?2, reopen_reason = ?3 WHERE id = ?4",
        params![actor.at.to_string(), actor.operator, reason, approval.id],
    )?;
    audit::append(
        &tx,
        actor,
        action::REOPEN,
        &year.to_string(),
        &json!({
            "doc_number": approval.doc_number,
            "approved_at": approval.approved_at,
            "consolidation_sha256": approval.consolidation_sha256,
            "reason": reason,
            "published_at": published.map(|p| p.published_at),
        }),
    )?;
    tx.commit()?;
    Ok(approval)
}

/// 公布: the approval in force, once.
pub fn publish(conn: &mut Connection, year: i32, actor: &Actor) -> Result<(), WorkflowError> {
    let tx = conn.transaction()?;
    let approval = in_force_for(&tx, year, "公布")?;
    if let Some(p) = lock::publication(&tx, approval.id)? {
        return Err(WorkflowError::AlreadyPublished {
            year,
            at: p.published_at,
        });
    }
    tx.execute(
        "INSERT INTO publications (approval_id, year, published_at, operator) VALUES (?1, ?2, ?3, ?4)",
        params![approval.id, year, actor.at.to_string(), actor.operator],
    )?;
    audit::append(
        &tx,
        actor,
        action::PUBLISH,
        &year.to_string(),
        &json!({"doc_number": approval.doc_number, "consolidation_sha256": approval.consolidation_sha256}),
    )?;
    tx.commit()?;
    Ok(())
}

/// The approval a year's exports rest on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovedYear {
    /// The approval in force.
    pub approval: Approval,
    pub publication: Option<Publication>,
    /// The reopened approval it replaces, if any.
    pub replaces: Option<Approval>,
}

/// The approval in force of `c`'s year, checked against `c` (the year
/// consolidated now): refused when there is none (never approved, or
/// reopened and not approved again) and when `c` is not exactly what it
/// approved.
pub fn approved_for_export(
    conn: &Connection,
    c: &Consolidation,
) -> Result<ApprovedYear, WorkflowError> {
    let approval = in_force_for(conn, c.year, "导出")?;
    let now = c.sha256();
    if !approval.approves(&now) {
        return Err(WorkflowError::ApprovalMismatch {
            year: c.year,
            doc_number: approval.doc_number,
            approved: approval.consolidation_sha256,
            now,
        });
    }
    let publication = lock::publication(conn, approval.id)?;
    let replaces = match approval.replaces {
        Some(id) => lock::by_id(conn, id)?,
        None => None,
    };
    Ok(ApprovedYear {
        approval,
        publication,
        replaces,
    })
}

/// The approval in force of `year`, or why there is none for `what`.
fn in_force_for(
    conn: &Connection,
    year: i32,
    what: &'static str,
) -> Result<Approval, WorkflowError> {
    if let Some(a) = lock::in_force(conn, year)? {
        return Ok(a);
    }
    Err(match lock::last_approved(conn, year)? {
        Some(a) => WorkflowError::Reopened {
            year,
            on: a
                .reopened
                .as_ref()
                .map(|r| date_of(&r.at))
                .unwrap_or_default(),
            doc_number: a.doc_number,
            what,
        },
        None => WorkflowError::NotApproved { year, what },
    })
}

fn date_of(at: &str) -> String {
    at.parse::<jiff::Timestamp>()
        .map(crate::calendar::beijing_day)
        .unwrap_or_else(|_| at.to_owned())
}

/// The export model of the approval in force of `y`'s year: refused
/// (as [`crate::workflow::approved_for_export`] refuses) unless that
/// approval approves exactly the year as it consolidates now. The
/// publication date (or the approval's when not yet published) is the
/// notice's date; after a reopening the model names the approval it
/// replaces. `kaohe hub export` and the console's downloads both call it.
pub fn approved_report(
    conn: &Connection,
    y: &ConsolidatedYear,
    names: NoticeNames,
) -> Result<Report, WorkflowError> {
    let approved = approved_for_export(conn, &y.consolidation)?;
    let approval = &approved.approval;
    let published_at = approved
        .publication
        .as_ref()
        .map_or(approval.approved_at.as_str(), |p| p.published_at.as_str());
    let meta = results::NoticeMeta {
        county: names.county,
        scheme_name: names.scheme_name,
        issuer: names.issuer,
        doc_number: approval.doc_number.clone(),
        published_on: date_of(published_at),
        recipients: names.recipients,
        approval_sha256: approval.consolidation_sha256.clone(),
        replaces: approved
            .replaces
            .as_ref()
            .map(|old| crate::export::model::ReplacedApproval {
                doc_number: old.doc_number.clone(),
                approved_on: date_of(&old.approved_at),
                reopened_on: old
                    .reopened
                    .as_ref()
                    .map(|r| date_of(&r.at))
                    .unwrap_or_default(),
                reason: old
                    .reopened
                    .as_ref()
                    .map(|r| r.reason.clone())
                    .unwrap_or_default(),
            }),
        principals: y
            .data
            .roster
            .iter()
            .filter_map(|u| Some((u.id.clone(), u.principal.clone()?)))
            .collect(),
    };
    Ok(results::to_report(
        &y.consolidation,
        &y.outcomes,
        y.manifest(),
        &meta,
    ))
}
