//! 结果运用：the use of the year's results — recommendation letters,
//! warning notices, commendations, upward recommendations, admonitions,
//! each with its reasons and issuer and the copy list — and rectification:
//! who owes a plan and a report, what was received, recording a received
//! plan or report with its file.

use axum::extract::{Multipart, Query, State};
use axum::response::Response;
use kaohe_web::fmt;
use maud::html;

use super::{Console, PageError, User, YearQuery, csrf, done, pick_year, render, year_picker};
use crate::accounts::Permission;
use crate::workflow::{Material, rectification};

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
            let y = inner.year(conn, year)?;
            let status = rectification::status(conn, &y.consolidation, y.manifest(), &y.outcomes)
                .map_err(PageError::db)?;
            let o = &y.outcomes;
            let admin = u.role.may(Permission::Administer);
            Ok(html! {
                (year_picker(conn, "/outcomes", year))
                p.no-print { a href=(format!("/history?year={year}")) { "往年结果（连续优秀、名次大幅下降所依据的往年考核结果）：查看与导入 →" } }
                h2 { "结果运用（" (o.notices.len()) " 项）" }
                @if o.notices.is_empty() { p { "本年度没有须发出的文书。" } }
                @else {
                    table {
                        thead { tr { th { "类别" } th { "单位" } th { "发出单位" } th { "原因" } th { "抄送" } } }
                        tbody { @for n in &o.notices {
                            tr {
                                td { (n.kind.name_zh()) }
                                td { a href=(format!("/units/{year}/{}", n.unit_id)) { (n.unit_name) } }
                                td { (n.issued_by) }
                                td { (n.reasons.join("；")) }
                                td { (o.copy_recipients(&n.unit_id).join("、")) }
                            }
                        } }
                    }
                }
                @if !o.problems.is_empty() {
                    @for p in &o.problems { p.flash.warn { (p) } }
                }
                @let unnamed = y.commended_without_principal();
                @if !unnamed.is_empty() {
                    p.flash.warn {
                        "下列受通报表扬的单位在名册中没有登记主要负责人，表扬文书中将留下待填的空白；请在审定前于名册“主要负责人”一列补登后重新导入，或在文书中填写："
                        @for (i, (id, name)) in unnamed.iter().enumerate() {
                            @if i > 0 { "、" }
                            a href=(format!("/units/{year}/{id}")) { (name) } "（" (id) "）"
                        }
                    }
                }
                h2 { "整改" }
                @if status.is_empty() { p { "本年度没有须整改的单位。" } }
                @else {
                    table {
                        thead { tr { th { "单位" } th { "整改原因" } th { "整改方案" } th { "整改情况报告" } } }
                        tbody { @for s in &status {
                            tr {
                                td { a href=(format!("/units/{year}/{}", s.unit_id)) { (s.unit_name) } }
                                td { (s.owed.as_ref().map(|o| o.why_zh()).unwrap_or_else(|| "已无须整改".into())) }
                                @for r in [&s.plan, &s.report] {
                                    td { @match r {
                                        Some(r) => { (r.file_name) " " span.muted { (fmt::stored(&r.received_at)) @if r.count > 1 { "（共 " (r.count) " 份）" } } },
                                        None => span.badge.bad { "未收到" },
                                    } }
                                }
                            }
                        } }
                    }
                }
                @if admin && !status.is_empty() {
                    form.card method="post" action="/outcomes/rectification" enctype="multipart/form-data" {
                        h3 { "登记收到的整改方案或整改情况报告" }
                        (csrf(&u))
                        input type="hidden" name="year" value=(year);
                        label { "单位 "
                            select name="unit" { @for s in &status { option value=(s.unit_id) { (s.unit_name) "（" (s.unit_id) "）" } } }
                        }
                        label.inline { input type="radio" name="kind" value="plan" checked; " 整改方案" }
                        label.inline { input type="radio" name="kind" value="report"; " 整改情况报告（须先有整改方案）" }
                        label { "文件 " input type="file" name="file" required; }
                        label { "备注 " input type="text" name="note"; }
                        button type="submit" { "登记" }
                    }
                }
            })
        })
        .await?;
    Ok(render(&c, &user, "/outcomes", "结果运用", body))
}

pub(super) async fn record(
    State(c): State<Console>,
    user: User,
    mp: Multipart,
) -> Result<Response, PageError> {
    let mut form = user.read_change(mp, Permission::Administer).await?;
    let year: i32 = form.year("year").map_err(PageError::Invalid)?;
    let kind = match form.text("kind") {
        "plan" => rectification::Kind::Plan,
        "report" => rectification::Kind::Report,
        other => {
            return Err(PageError::Invalid(format!(
                "种类「{other}」无效（bad kind）"
            )));
        }
    };
    let unit = form.text("unit").to_owned();
    let note = Some(form.text("note").to_owned()).filter(|n| !n.is_empty());
    let file = form.take_file("file", "文件").map_err(PageError::Invalid)?;
    let material = Material {
        file_name: file.file_name,
        bytes: file.bytes,
    };
    let (u, un) = (user.clone(), unit.clone());
    let r = c
        .db(move |conn, inner| {
            let y = inner.year(conn, year)?;
            rectification::record(
                conn,
                &y.consolidation,
                y.manifest(),
                &y.outcomes,
                &un,
                kind,
                &material,
                note.as_deref(),
                &inner.actor(&u),
            )
            .map_err(PageError::invalid)
        })
        .await?;
    Ok(done(
        &c,
        &user,
        &format!("/outcomes?year={year}"),
        format!(
            "已登记单位 {unit} 的{}（第 {} 号，整改原因：{}）",
            kind.name_zh(),
            r.id,
            r.owed.why_zh()
        ),
    ))
}
