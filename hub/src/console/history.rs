//! 往年结果 (part of 结果运用): earlier years' results a year's outcomes
//! look back on (consecutive 优秀 → commendation, a large fall →
//! warning), and importing them from Excel or CSV as `kaohe hub history
//! import` does — grades checked against the year's pack, all or nothing,
//! every problem by sheet, row and column ([`history::import_history_upload`]),
//! shown as the 名册 page shows a refused roster.

use axum::extract::{Multipart, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kaohe_tables::sheet::Workbook;
use kaohe_web::page;
use maud::{Markup, html};
use rusqlite::Connection;

use super::{
    Console, Inner, PageError, User, YearQuery, csrf, done, pick_year, render, year_picker,
};
use crate::accounts::Permission;
use crate::workflow::history::{self, HistoryImportError};

pub(super) async fn page(
    State(c): State<Console>,
    user: User,
    Query(q): Query<YearQuery>,
) -> Result<Response, PageError> {
    user.require(Permission::Read)?;
    let u = user.clone();
    let body = c
        .db(move |conn, inner| {
            let year = pick_year(conn, q.year)?;
            body(conn, inner, &u, year, None)
        })
        .await?;
    Ok(render(&c, &user, "/outcomes", "往年结果", body))
}

fn body(
    conn: &Connection,
    inner: &Inner,
    user: &User,
    year: i32,
    refused: Option<Markup>,
) -> Result<Markup, PageError> {
    // As the command loads it: the year's pack (its grades) and the
    // earlier years' results its outcomes look back on.
    let data = crate::results::load_year(conn, &inner.runtime, year);
    Ok(html! {
        (year_picker(conn, "/history", year))
        p { a href=(format!("/outcomes?year={year}")) { "← 返回结果运用" } }
        @if let Some(r) = refused { (r) }
        @match &data {
            Err(e) => { (page::flash(page::Flash::Warn, &format!("{year} 年度尚不能导入往年结果：{e}"))) },
            Ok(data) => {
                h2 { (year) " 年度结果运用所依据的往年结果" }
                @if data.history.is_empty() {
                    p { "尚无 " (year) " 年以前的考核结果。" }
                } @else {
                    table {
                        thead { tr { th { "年度" } th.num { "单位数" } th { "各等次单位数" } } }
                        tbody { @for y in &data.history {
                            tr {
                                td { (y.year) "年" }
                                td.num { (y.units.len()) }
                                td { (grade_counts(data.manifest(), y)) }
                            }
                        } }
                    }
                }
                @if user.role.may(Permission::Administer) {
                    form.card method="post" action="/history" enctype="multipart/form-data" {
                        h3 { "导入往年考核结果" }
                        p.muted { "Excel（.xlsx）或 CSV 文件，列为 单位编号、年度、总分、等次；等次按 " (year) " 年度规则包的等次核对。全部无误才写入，否则逐项列出（工作表、行、列），不写入任何数据；同一单位同一年度已有的结果被替换。" }
                        (csrf(user))
                        input type="hidden" name="year" value=(year);
                        label { "往年结果文件 " input type="file" name="file" accept=".xlsx,.xlsm,.csv,.txt" required; }
                        button type="submit" { "导入" }
                    }
                }
            },
        }
    })
}

/// `优秀 3、良好 10`: a year's units per grade, in the pack's grade order.
fn grade_counts(
    manifest: &kaohe_rulepacks::manifest::Manifest,
    y: &crate::outcome::YearResults,
) -> String {
    let mut parts = Vec::new();
    for g in &manifest.composition.grades {
        let n = y.units.values().filter(|r| r.grade == g.id).count();
        if n > 0 {
            parts.push(format!("{} {n}", g.name));
        }
    }
    let other = y
        .units
        .values()
        .filter(|r| !manifest.composition.grades.iter().any(|g| g.id == r.grade))
        .count();
    if other > 0 {
        parts.push(format!("其他 {other}"));
    }
    parts.join("、")
}

pub(super) async fn import(
    State(c): State<Console>,
    user: User,
    mp: Multipart,
) -> Result<Response, PageError> {
    let mut form = user.read_change(mp, Permission::Administer).await?;
    let year: i32 = form.year("year").map_err(PageError::Invalid)?;
    let file = form
        .take_file("file", "往年结果文件")
        .map_err(PageError::Invalid)?;
    let u = user.clone();
    let outcome = c
        .db(move |conn, inner| {
            let data = crate::results::load_year(conn, &inner.runtime, year)
                .map_err(|e| PageError::Unavailable(e.to_string()))?;
            let actor = inner.actor(&u);
            match history::import_history_upload(
                conn,
                &file.file_name,
                &file.bytes,
                data.manifest(),
                &actor,
            ) {
                Ok(done) => Ok(Ok((done, file.file_name))),
                Err(e) => {
                    let lines: Vec<String> = match &e {
                        HistoryImportError::Invalid(problems) => problems.clone(),
                        other => vec![other.to_string()],
                    };
                    let refused = page::problems(
                        &format!(
                            "往年结果 {} 未导入：共 {} 处问题，改正后重新上传；未写入任何数据（import refused, nothing written）",
                            file.file_name,
                            lines.len()
                        ),
                        &lines,
                    );
                    Ok(Err(body(conn, inner, &u, year, Some(refused))?))
                }
            }
        })
        .await?;
    match outcome {
        Ok((imported, name)) => {
            let mut text = format!(
                "已导入往年考核结果 {} 条（imported），来自 {name}",
                imported.rows
            );
            if let Some(note) = Workbook::hidden_note(&imported.hidden_sheets) {
                text.push_str(&format!("；{note}"));
            }
            Ok(done(&c, &user, &format!("/history?year={year}"), text))
        }
        Err(body) => {
            let mut r = render(&c, &user, "/outcomes", "往年结果", body);
            *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Ok(r.into_response())
        }
    }
}
