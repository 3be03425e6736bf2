//! 问题通报反馈: the feedback notice per unit — its score sheet, the reason
//! of every deduction, and the verification and review-request deadlines
//! in working days ([`deadlines`], pure).

use jiff::civil::Date;
use kaohe_rulepacks::manifest::{Manifest, ReviewRuns, Schedule};
use kaohe_rulepacks::rubric::decimal::format_hundredths_fixed;
use kaohe_tables::terminal;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::json;

use super::{WorkflowError, action};
use crate::audit::{self, Actor};
use crate::calendar::{Calendar, CalendarError, format_date_zh};
use crate::consolidate::{Assessment, Consolidation, UnitResult};
use crate::lock;

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
            // A formula's loss has its own reason; "—" only where nothing
            // was lost.
            let why = match (&i.reason, reasons.is_empty()) {
                (Some(r), true) => r.clone(),
                (Some(r), false) => format!("{r}；{}", reasons.join("；")),
                (None, false) => reasons.join("；"),
                (None, true) => "—".into(),
            };
            vec![
                i.indicator_id.clone(),
                name,
                points,
                format_hundredths_fixed(i.score),
                why,
            ]
        })
        .chain(s.not_applicable.iter().map(|n| {
            vec![
                n.indicator_id.clone(),
                n.name.clone(),
                format_hundredths_fixed(n.points),
                "不适用".into(),
                n.reason.clone(),
            ]
        }))
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
    // A notice after approval would invite a review that can no longer be
    // granted.
    if let Some(locked) = lock::locked(&tx, c.year)? {
        return Err(locked.into());
    }
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
