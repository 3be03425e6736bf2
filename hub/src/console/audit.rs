//! 审计日志：the audit log filtered by account (operator), unit or other
//! subject, action and date, newest first.

use axum::extract::{Query, State};
use axum::response::Response;
use jiff::civil::Date;
use jiff::tz::{self, TimeZone};
use kaohe_web::fmt;
use maud::html;
use serde::Deserialize;

use super::{Console, PageError, User, render};
use crate::accounts::Permission;
use crate::audit::{self, AuditFilter};

/// At most this many records are shown.
const LIMIT: u32 = 500;

#[derive(Debug, Default, Deserialize)]
pub(super) struct Q {
    #[serde(default)]
    account: String,
    #[serde(default)]
    unit: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

pub(super) async fn page(
    State(c): State<Console>,
    user: User,
    Query(q): Query<Q>,
) -> Result<Response, PageError> {
    user.require(Permission::Read)?;
    let day = |s: &str, what: &str| -> Result<Option<Date>, PageError> {
        match s.trim() {
            "" => Ok(None),
            t => t
                .parse::<Date>()
                .map(Some)
                .map_err(|_| PageError::Invalid(format!("{what}「{t}」不是日期（bad date）"))),
        }
    };
    let (from, to) = (day(&q.from, "起始日期")?, day(&q.to, "截止日期")?);
    // Beijing days: from the start of `from` to the end of `to`.
    let start = |d: Date| {
        d.to_zoned(TimeZone::fixed(tz::offset(8)))
            .map(|z| z.timestamp())
            .ok()
    };
    let filter = AuditFilter {
        operator: Some(q.account.trim().to_owned()).filter(|s| !s.is_empty()),
        subject: Some(q.unit.trim().to_owned()).filter(|s| !s.is_empty()),
        action: Some(q.action.trim().to_owned()).filter(|s| !s.is_empty()),
        from: from.and_then(start),
        to: to.and_then(|d| d.tomorrow().ok()).and_then(start),
    };
    let records = c
        .db(move |conn, _| {
            audit::search(conn, &filter, LIMIT).map_err(|e| PageError::Internal(e.to_string()))
        })
        .await?;
    let body = html! {
        form.card.no-print method="get" action="/audit" {
            div.grid {
                label { "操作人（账号）" input type="text" name="account" value=(q.account); }
                label { "对象（单位编号等）" input type="text" name="unit" value=(q.unit); }
                label { "操作（如 review.、units.import）" input type="text" name="action" value=(q.action); }
                label { "起始日期" input type="date" name="from" value=(q.from); }
                label { "截止日期" input type="date" name="to" value=(q.to); }
            }
            p { button type="submit" { "筛选" } " " a.button.secondary href="/audit" { "清除" } }
        }
        p.muted { "共 " (records.len()) " 条" @if records.len() as u32 == LIMIT { "（只显示最近 " (LIMIT) " 条，请缩小范围）" } "，最新的在前。" }
        table {
            thead { tr { th.num { "序号" } th { "时间" } th { "操作人" } th { "操作" } th { "对象" } th { "详情" } } }
            tbody { @for r in &records {
                tr {
                    td.num { (r.seq) }
                    td { (fmt::stored(&r.time)) }
                    td { (r.operator) }
                    td { code { (r.action) } }
                    td { (r.subject) }
                    td { code { (r.detail.to_string()) } }
                }
            } }
        }
    };
    Ok(render(&c, &user, "/audit", "审计日志", body))
}
