//! 审定与公布：the year's approval (审定, with its 文号, recording the digest
//! of the consolidation approved), reopening it (撤销审定, with a reason —
//! the one way to change an approved year), publication (公布), and the
//! exports of the approval in force — the results workbook, the published
//! notice (PDF) and the letters (Word), as `kaohe hub export` writes them.
//! Every approval of the year stays listed, reopened ones with who, when
//! and why.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use kaohe_web::fmt;
use maud::html;
use serde::Deserialize;

use super::{Console, PageError, User, YearQuery, csrf, done, pick_year, render, year_picker};
use crate::accounts::Permission;
use crate::export::{self, ExportOptions};
use crate::lock;
use crate::results::NoticeNames;
use crate::workflow;
use kaohe_web::page::download;

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
            let history = lock::of_year(conn, year).map_err(PageError::db)?;
            let approval = history.iter().find(|a| a.in_force()).cloned();
            let published = match &approval {
                Some(a) => lock::publication(conn, a.id).map_err(PageError::db)?,
                None => None,
            };
            // Before an approval, the year as the page shows it: the form
            // carries its digest, and approve refuses if it has moved on.
            let now = match (&approval, u.role.may(Permission::Administer)) {
                (Some(_), _) | (None, true) => Some(inner.year(conn, year)?),
                (None, false) => None,
            };
            let shown = now.as_ref().map(|y| y.consolidation.sha256());
            let same = match (&approval, &shown) {
                (Some(a), Some(now)) => Some(a.approves(now)),
                _ => None,
            };
            let letters = match (&now, same) {
                (Some(y), Some(true)) => {
                    let report = workflow::approved_report(conn, y, NoticeNames::default())
                        .map_err(PageError::invalid)?;
                    export::render_letters(&report)
                        .map_err(PageError::invalid)?
                        .into_iter()
                        .map(|l| l.file_name)
                        .collect()
                }
                _ => Vec::new(),
            };
            let admin = u.role.may(Permission::Administer);
            Ok(html! {
                (year_picker(conn, "/approval", year))
                h2 { "审定" }
                @match &approval {
                    None => {
                        @if history.is_empty() {
                            p { (year) " 年度考核结果尚未审定。审定前须：复核申请均已决定，未考核单位均已记录免于考核或补齐，没有待重新评价的结果。" }
                        } @else {
                            div.flash.warn { (year) " 年度的审定已撤销，须重新审定后方可公布和导出。" }
                        }
                        @if admin {
                            form.card method="post" action="/approval/approve" data-confirm="确定记录审定？审定后该年度结果不能再改动，除非撤销审定。" {
                                (csrf(&u))
                                input type="hidden" name="year" value=(year);
                                @if let Some(shown) = &shown {
                                    input type="hidden" name="sha256" value=(shown);
                                    p.muted { "本次审定的是本页打开时的汇总结果（汇总 SHA-256 " code { (shown) } "）。此后如有新的上报或决定，审定不予记录，须刷新本页重新核对结果。" }
                                }
                                label { "审定文号 " input type="text" name="doc_number" placeholder="如：宝法治办〔2024〕1号" required; }
                                button type="submit" { "记录审定" }
                            }
                        }
                    }
                    Some(a) => {
                        p { "已审定：文号 " strong { (a.doc_number) } "，" (a.approved_on()) "（" (a.operator) "）；汇总 SHA-256 " code { (a.consolidation_sha256) } }
                        @if same == Some(false) { div.flash.warn { "当前汇总与审定时不同：须撤销审定并重新审定后方可导出。" } }
                        @else { div.flash.ok { "当前汇总与审定时一致。该年度结果已锁定，不能再改动。" } }
                        @if admin {
                            form.card method="post" action="/approval/reopen" data-confirm="确定撤销审定？撤销后该年度结果可以更正，须重新审定后方可公布和导出。" {
                                (csrf(&u))
                                input type="hidden" name="year" value=(year);
                                label { "撤销审定的原因 " textarea name="reason" rows="2" required {} }
                                button.danger type="submit" { "撤销审定" }
                            }
                        }
                    }
                }
                @if history.iter().any(|a| !a.in_force()) {
                    h3 { "审定记录" }
                    table {
                        thead { tr { th { "文号" } th { "审定日期" } th { "状态" } } }
                        tbody {
                            @for a in &history {
                                tr {
                                    td { (a.doc_number) }
                                    td { (a.approved_on()) }
                                    td {
                                        @match &a.reopened {
                                            None => { "有效" }
                                            Some(r) => { "已于 " (fmt::stored(&r.at)) " 由 " (r.by) " 撤销：" (r.reason) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                h2 { "公布" }
                @match (&approval, &published) {
                    (_, Some(p)) => { p { "已于 " (fmt::stored(&p.published_at)) " 公布。" } },
                    (Some(_), None) => {
                        p { "已审定，尚未公布。" }
                        @if admin {
                            form method="post" action="/approval/publish" data-confirm="确定记录公布？" {
                                (csrf(&u))
                                input type="hidden" name="year" value=(year);
                                button type="submit" { "记录公布" }
                            }
                        }
                    }
                    (None, None) => { p.muted { "审定后方可公布。" } },
                }
                h2 { "导出" }
                @if same == Some(true) {
                    ul {
                        li { a href=(format!("/approval/{year}/export/results.xlsx")) { (year) " 年度考核结果（Excel 工作簿）" } }
                        li { a href=(format!("/approval/{year}/export/notice.pdf")) { (year) " 年度考核结果通报（PDF）" } }
                        @for (i, name) in letters.iter().enumerate() {
                            li { a href=(format!("/approval/{year}/export/letter-{i}.docx")) { (name) } }
                        }
                    }
                } @else {
                    p.muted { "审定后（且汇总与审定时一致）可导出 Excel 工作簿、PDF 通报和 Word 文书。" }
                }
            })
        })
        .await?;
    Ok(render(&c, &user, "/approval", "审定与公布", body))
}

#[derive(Debug, Deserialize)]
pub(super) struct Approve {
    #[serde(default)]
    csrf: String,
    year: i32,
    #[serde(default)]
    doc_number: String,
    /// The digest of the year as the page showed it.
    #[serde(default)]
    sha256: Option<String>,
}

pub(super) async fn approve(
    State(c): State<Console>,
    user: User,
    Form(f): Form<Approve>,
) -> Result<Response, PageError> {
    user.may_change(Permission::Administer, &f.csrf)?;
    let (u, year, doc) = (user.clone(), f.year, f.doc_number.trim().to_owned());
    let digest = c
        .db(move |conn, inner| {
            workflow::approve(
                conn,
                &inner.runtime,
                f.year,
                &f.doc_number,
                f.sha256.as_deref(),
                &inner.actor(&u),
            )
            .map_err(PageError::invalid)
        })
        .await?;
    Ok(done(
        &c,
        &user,
        &format!("/approval?year={year}"),
        format!("已记录 {year} 年度考核结果审定，文号 {doc}，汇总 SHA-256 {digest}"),
    ))
}

#[derive(Debug, Deserialize)]
pub(super) struct Reopen {
    #[serde(default)]
    csrf: String,
    year: i32,
    #[serde(default)]
    reason: String,
}

/// 撤销审定 ([`workflow::reopen`]), administrators only.
pub(super) async fn reopen(
    State(c): State<Console>,
    user: User,
    Form(f): Form<Reopen>,
) -> Result<Response, PageError> {
    user.may_change(Permission::Administer, &f.csrf)?;
    let (u, year) = (user.clone(), f.year);
    let old = c
        .db(move |conn, inner| {
            workflow::reopen(conn, f.year, &f.reason, &inner.actor(&u)).map_err(PageError::invalid)
        })
        .await?;
    Ok(done(
        &c,
        &user,
        &format!("/approval?year={year}"),
        format!(
            "已撤销 {year} 年度考核结果审定（文号 {}）；更正后须重新审定",
            old.doc_number
        ),
    ))
}

#[derive(Debug, Deserialize)]
pub(super) struct Publish {
    #[serde(default)]
    csrf: String,
    year: i32,
}

pub(super) async fn publish(
    State(c): State<Console>,
    user: User,
    Form(f): Form<Publish>,
) -> Result<Response, PageError> {
    user.may_change(Permission::Administer, &f.csrf)?;
    let (u, year) = (user.clone(), f.year);
    c.db(move |conn, inner| {
        workflow::publish(conn, f.year, &inner.actor(&u)).map_err(PageError::invalid)
    })
    .await?;
    Ok(done(
        &c,
        &user,
        &format!("/approval?year={year}"),
        format!("已记录 {year} 年度考核结果公布"),
    ))
}

#[derive(Debug, Deserialize)]
pub(super) struct ExportPath {
    year: i32,
    file: String,
}

/// One export of an approved year: `results.xlsx`, `notice.pdf`,
/// `letter-N.docx`.
pub(super) async fn export(
    State(c): State<Console>,
    user: User,
    Path(p): Path<ExportPath>,
) -> Result<Response, PageError> {
    user.require(Permission::Read)?;
    let (name, kind, bytes) = c
        .db(move |conn, inner| {
            let y = inner.year(conn, p.year)?;
            let report = workflow::approved_report(conn, &y, NoticeNames::default())
                .map_err(PageError::invalid)?;
            let year = p.year;
            match p.file.as_str() {
                "results.xlsx" => Ok((
                    format!("{year}年度考核结果.xlsx"),
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    export::render_xlsx(&report).map_err(PageError::invalid)?,
                )),
                "notice.pdf" => Ok((
                    format!("{year}年度考核结果通报.pdf"),
                    "application/pdf",
                    export::render_pdf(&report, &ExportOptions::default())
                        .map_err(PageError::invalid)?,
                )),
                other => {
                    let n: usize = other
                        .strip_prefix("letter-")
                        .and_then(|s| s.strip_suffix(".docx"))
                        .and_then(|s| s.parse().ok())
                        .ok_or_else(|| PageError::NotFound(format!("没有导出文件 {other}")))?;
                    let letter = export::render_letters(&report)
                        .map_err(PageError::invalid)?
                        .into_iter()
                        .nth(n)
                        .ok_or_else(|| PageError::NotFound(format!("没有第 {} 份文书", n + 1)))?;
                    Ok((
                        letter.file_name,
                        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                        letter.bytes,
                    ))
                }
            }
        })
        .await?;
    Ok(download(kind, &name, bytes))
}
