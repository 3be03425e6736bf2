//! 日历：the working-day calendar the deadlines are counted on — a year's
//! holidays and 调休 working days as `kaohe hub calendar show` prints them
//! ([`describe::holiday_rows`]), importing a year file (`.toml`, as
//! `kaohe hub calendar import`; refused whole with the command's message,
//! administrators only) and computing a deadline (as `kaohe hub calendar
//! deadline`: working days, the notice's day not counted, or calendar days
//! moved off a rest day). The calendar is the effective one
//! ([`calendar_years::effective_calendar`]): built-in years with the
//! imported ones on top.

use axum::extract::{Multipart, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiff::civil::Date;
use kaohe_web::{fmt, page};
use maud::{Markup, html};
use rusqlite::Connection;
use serde::Deserialize;

use super::{Console, PageError, User, csrf, done, render};
use crate::accounts::Permission;
use crate::calendar::{Calendar, describe, format_date_zh};
use crate::registry::calendar_years;

#[derive(Debug, Default, Deserialize)]
pub(super) struct Q {
    year: Option<i32>,
    /// A deadline asked for: start date, days, natural days.
    #[serde(default)]
    from: String,
    #[serde(default)]
    days: String,
    #[serde(default)]
    natural: Option<String>,
}

pub(super) async fn page(
    State(c): State<Console>,
    user: User,
    Query(q): Query<Q>,
) -> Result<Response, PageError> {
    user.require(Permission::Read)?;
    let u = user.clone();
    let body = c
        .db(move |conn, inner| {
            let today = fmt::beijing_date(inner.clock.now());
            body(conn, &u, q, i32::from(today.year()), None)
        })
        .await?;
    Ok(render(&c, &user, "/calendar", "日历", body))
}

/// The deadline asked for in `q`, as `kaohe hub calendar deadline` says
/// it; `None` when none was asked.
fn deadline(calendar: &Calendar, q: &Q) -> Option<Result<String, String>> {
    if q.from.trim().is_empty() && q.days.trim().is_empty() {
        return None;
    }
    let from: Date = match q.from.trim().parse() {
        Ok(d) => d,
        Err(_) => {
            return Some(Err(format!(
                "起算日「{}」不是日期，应如 2024-09-27（bad date）",
                q.from.trim()
            )));
        }
    };
    let days: u32 = match q.days.trim().parse() {
        Ok(n) => n,
        Err(_) => {
            return Some(Err(format!(
                "天数「{}」应为不小于 0 的整数（bad number of days）",
                q.days.trim()
            )));
        }
    };
    Some(if q.natural.is_some() {
        calendar
            .deadline_after_days(from, days)
            .map(|end| {
                format!(
                    "自 {} 起 {days} 日（期满日为休息日的顺延），期限为 {}",
                    format_date_zh(from),
                    format_date_zh(end)
                )
            })
            .map_err(|e| e.to_string())
    } else {
        calendar
            .add_working_days(from, days)
            .map(|end| {
                format!(
                    "自 {} 起 {days} 个工作日（当日不计），期限为 {}",
                    format_date_zh(from),
                    format_date_zh(end)
                )
            })
            .map_err(|e| e.to_string())
    })
}

fn body(
    conn: &Connection,
    user: &User,
    q: Q,
    this_year: i32,
    refused: Option<Markup>,
) -> Result<Markup, PageError> {
    let calendar =
        calendar_years::effective_calendar(conn).map_err(|e| PageError::Internal(e.to_string()))?;
    let imported =
        calendar_years::imported_years(conn).map_err(|e| PageError::Internal(e.to_string()))?;
    let years: Vec<i32> = calendar.years().collect();
    let year = q
        .year
        .or_else(|| years.contains(&this_year).then_some(this_year))
        .or_else(|| years.last().copied())
        .unwrap_or(this_year);
    let data = calendar.year_data(year);
    let source = imported.iter().find(|y| y.year == year);
    let asked = deadline(&calendar, &q);
    Ok(html! {
        form.no-print method="get" action="/calendar" {
            label.inline { "年份 "
                select name="year" onchange="this.form.submit()" {
                    @for y in &years { option value=(y) selected[*y == year] { (y) "年" } }
                }
            }
            noscript { button type="submit" { "查看" } }
        }
        @if let Some(r) = refused { (r) }
        @match data {
            None => {
                (page::flash(kaohe_web::page::Flash::Warn, &format!(
                    "日历未包含 {year} 年（year not covered）；已有：{}。国务院办公厅通知发布后可在下方导入",
                    years.iter().map(ToString::to_string).collect::<Vec<_>>().join("、")
                )))
            }
            Some(data) => {
                h2 { (year) " 年 " (data.notice) }
                p {
                    @if let Some(n) = &data.document_number { "文号：" (n) br; }
                    @if let Some(d) = data.issued { "发布日期：" (format_date_zh(d)) br; }
                    @if let Some(url) = &data.url { "原文：" (url) br; }
                    "数据来源："
                    @match source {
                        Some(s) => { "导入（imported）：" (fmt::datetime(s.imported_at)) "，" (s.imported_by) },
                        None => "内置（built-in）",
                    }
                }
                table {
                    thead { tr { th { "节日" } th { "放假" } th { "调休上班" } } }
                    tbody { @for [name, off, work] in describe::holiday_rows(data) {
                        tr { td { (name) } td { (off) } td { (work) } }
                    } }
                }
                @if let Ok(n) = calendar.working_days_in_year(year) {
                    p { "全年工作日 " (n) " 天（working days）" }
                }
            }
        }
        form.card method="get" action="/calendar" {
            h3 { "推算期限" }
            input type="hidden" name="year" value=(year);
            label { "起算日（通知日）" input type="date" name="from" value=(q.from) required; }
            label { "天数 " input type="number" name="days" min="0" value=(q.days) required; }
            label.inline { input type="checkbox" name="natural" value="1" checked[q.natural.is_some()]; " 按自然日计算（期满日为休息日的顺延到下一个工作日）；不选则按工作日，通知当日不计" }
            p { button type="submit" { "推算" } }
            @match &asked {
                Some(Ok(text)) => { (page::flash(kaohe_web::page::Flash::Ok, text)) },
                Some(Err(text)) => { (page::flash(kaohe_web::page::Flash::Error, text)) },
                None => {},
            }
        }
        @if user.role.may(Permission::Administer) {
            form.card method="post" action="/calendar/import" enctype="multipart/form-data" {
                h3 { "导入年度日历文件" }
                p.muted { "国务院办公厅当年节假日安排通知的 .toml 文件（格式见 hub/data/holidays/）；有任何问题则不导入，日历不变。" }
                (csrf(user))
                label { "日历文件 " input type="file" name="file" accept=".toml,text/plain" required; }
                button type="submit" { "导入" }
            }
        }
    })
}

pub(super) async fn import(
    State(c): State<Console>,
    user: User,
    mp: Multipart,
) -> Result<Response, PageError> {
    let mut form = user.read_change(mp, Permission::Administer).await?;
    let file = form
        .take_file("file", "日历文件")
        .map_err(PageError::Invalid)?;
    let u = user.clone();
    let outcome = c
        .db(move |conn, inner| {
            let name = &file.file_name;
            let imported = match calendar_years::year_file_text(&file.bytes) {
                Err(_) => Err(format!("文件 {name} 不是 UTF-8 编码（not UTF-8）")),
                Ok(text) => calendar_years::import_calendar_year(conn, &text, &inner.actor(&u))
                    .map_err(|e| format!("导入日历文件 {name}（import calendar file）：{e}")),
            };
            match imported {
                Ok((data, replaced)) => Ok(Ok((
                    data.year,
                    format!(
                        "已导入 {} 年日历：{}{}（calendar imported）",
                        data.year,
                        data.notice,
                        replaced.note_zh()
                    ),
                ))),
                Err(why) => {
                    let refused = page::problems(
                        &format!("日历文件 {name} 未导入，日历未作任何改动（nothing written）"),
                        &[why],
                    );
                    let today = fmt::beijing_date(inner.clock.now());
                    Ok(Err(body(
                        conn,
                        &u,
                        Q::default(),
                        i32::from(today.year()),
                        Some(refused),
                    )?))
                }
            }
        })
        .await?;
    match outcome {
        Ok((year, text)) => Ok(done(&c, &user, &format!("/calendar?year={year}"), text)),
        Err(body) => {
            let mut r = render(&c, &user, "/calendar", "日历", body);
            *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Ok(r.into_response())
        }
    }
}
