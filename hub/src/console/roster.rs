//! 名册：a year's roster, and its import from the officials' workbook or
//! CSV — all or nothing, every problem named by sheet, row and column as
//! `kaohe hub units import` names them.

use axum::extract::{Multipart, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kaohe_web::page;
use maud::{Markup, html};
use rusqlite::Connection;

use super::{Console, PageError, User, YearQuery, csrf, done, pick_year, render, year_picker};
use crate::accounts::Permission;
use crate::registry::import::{self, UnitsImportError};
use crate::registry::units::{self, ResponsibleAssessor};

pub(super) async fn page(
    State(c): State<Console>,
    user: User,
    Query(q): Query<YearQuery>,
) -> Result<Response, PageError> {
    user.require(Permission::Read)?;
    let u = user.clone();
    let body = c
        .db(move |conn, inner| {
            let year = pick_year(conn, q.year).unwrap_or_else(|_| {
                kaohe_web::fmt::beijing_date(inner.clock.now())
                    .year()
                    .into()
            });
            body(conn, &u, year, None)
        })
        .await?;
    Ok(render(&c, &user, "/roster", "名册", body))
}

fn body(
    conn: &Connection,
    user: &User,
    year: i32,
    refused: Option<Markup>,
) -> Result<Markup, PageError> {
    let roster = units::load_roster(conn, year).map_err(|e| PageError::Internal(e.to_string()))?;
    Ok(html! {
        (year_picker(conn, "/roster", year))
        @if let Some(r) = refused { (r) }
        @if user.role.may(Permission::Administer) {
            form.card method="post" action="/roster" enctype="multipart/form-data" {
                h3 { "导入名册" }
                p.muted { "Excel（.xlsx）或 CSV 文件，整体替换该年度名册；有任何错误则全部不导入，并逐项列出（工作表、行、列）。" }
                (csrf(user))
                label { "考核年度 " input type="number" name="year" value=(year) min="2000" max="2200" required; }
                label { "名册文件 " input type="file" name="file" accept=".xlsx,.xlsm,.csv,.txt" required; }
                p { button type="submit" { "导入名册" } }
            }
        }
        h2 { (year) " 年度名册（" (roster.len()) " 个单位）" }
        @if roster.is_empty() {
            p { (year) " 年度尚无名册。" }
        } @else {
            table {
                thead { tr { th { "单位编号" } th { "单位名称" } th { "类别" } th { "上级单位" } th { "主管部门" } th { "考核主体" } } }
                tbody {
                    @for u in roster.iter() {
                        tr {
                            td { a href=(format!("/units/{year}/{}", u.id)) { (u.id) } }
                            td { (u.name) }
                            td { (u.category) }
                            td { (u.parent.clone().unwrap_or_default()) }
                            td { (u.supervising_department.clone().unwrap_or_default()) }
                            td { @match &u.assessor {
                                ResponsibleAssessor::Unit(id) => { (roster.get(id).map(|a| a.name.clone()).unwrap_or_else(|| id.clone())) "（" (id) "）" },
                                other => { (other.to_string()) },
                            } }
                        }
                    }
                }
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
    let year: i32 = form.year("year").map_err(PageError::Invalid)?;
    let file = form
        .take_file("file", "名册文件")
        .map_err(PageError::Invalid)?;
    let u = user.clone();
    let outcome = c
        .db(move |conn, inner| {
            let actor = inner.actor(&u);
            // Categories checked against the year's pack, as the CLI does.
            let pack = crate::registration::year_pack(conn, &inner.runtime, year)
                .map_err(|e| PageError::Internal(e.to_string()))?;
            let categories = pack
                .as_ref()
                .map(|p| import::PackCategories::of(p.manifest()));
            match import::import_units_upload(
                conn,
                &file.file_name,
                &file.bytes,
                year,
                categories.as_ref(),
                &actor,
            ) {
                Ok(o) => Ok(Ok(o)),
                Err(e) => {
                    let lines: Vec<String> = if e.problems().is_empty() {
                        vec![e.to_string()]
                    } else {
                        e.problems().iter().map(ToString::to_string).collect()
                    };
                    let title = match &e {
                        UnitsImportError::File { .. } => format!(
                            "名册 {} 未导入：共 {} 处问题，改正后重新上传；{year} 年度名册未作任何改动（import refused, nothing written）",
                            file.file_name,
                            lines.len()
                        ),
                        _ => format!("名册 {} 未导入（import refused）", file.file_name),
                    };
                    let refused = page::problems(&title, &lines);
                    Ok(Err(body(conn, &u, year, Some(refused))?))
                }
            }
        })
        .await?;
    match outcome {
        Ok(o) => {
            let s = &o.summary;
            let mut text = format!(
                "已导入 {year} 年度名册：共 {} 个单位；新增 {}，修改 {}，删除 {}，未变 {}",
                o.units,
                s.added.len(),
                s.changed.len(),
                s.removed.len(),
                s.unchanged
            );
            if !o.hidden_sheets.is_empty() {
                text.push_str(&format!(
                    "；隐藏的工作表未读取：{}",
                    o.hidden_sheets.join("、")
                ));
            }
            Ok(done(&c, &user, &format!("/roster?year={year}"), text))
        }
        Err(body) => {
            let mut r = render(&c, &user, "/roster", "名册", body);
            *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Ok(r.into_response())
        }
    }
}
