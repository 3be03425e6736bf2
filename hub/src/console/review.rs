//! 反馈与复核：the feedback notices (问题通报反馈) and their deadlines, the
//! objections queue — material to download, the working-day deadline of
//! the decision counting down — the decision form (维持 / 更正), and an
//! objection recorded on a unit's behalf with its material.

use axum::Form;
use axum::extract::{Multipart, Path, Query, State};
use axum::response::Response;
use jiff::civil::Date;
use kaohe_web::fmt;
use kaohe_web::page::download;
use maud::{Markup, html};
use rusqlite::Connection;
use serde::Deserialize;

use super::{
    Console, Inner, PageError, User, YearQuery, csrf, done, pick_year, render, year_picker,
};
use crate::accounts::Permission;
use crate::calendar::Calendar;
use crate::registry::calendar_years;
use crate::workflow::{self, Decision, Material, queue};

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
            body(conn, inner, &u, year)
        })
        .await?;
    Ok(render(&c, &user, "/review", "反馈与复核", body))
}

fn body(conn: &Connection, inner: &Inner, user: &User, year: i32) -> Result<Markup, PageError> {
    let notices = queue::notices(conn, year).map_err(PageError::db)?;
    let objections = queue::objections(conn, year, None).map_err(PageError::db)?;
    let cal =
        calendar_years::effective_calendar(conn).map_err(|e| PageError::Internal(e.to_string()))?;
    let today = fmt::beijing_date(inner.clock.now());
    let admin = user.role.may(Permission::Administer);
    let reviewer = user.role.may(Permission::Review);
    Ok(html! {
        (year_picker(conn, "/review", year))
        p.muted { "今天（汇总中心时钟）：" (fmt::date(today)) }
        h2 { "复核申请（" (objections.iter().filter(|o| o.decision.is_none()).count()) " 件待决定）" }
        @if objections.is_empty() { p { "本年度尚无复核申请。" } }
        @for o in &objections {
            section.card {
                h3 { "第 " (o.id) " 号：" a href=(format!("/units/{year}/{}", o.unit_id)) { (o.unit_id) } " " span.badge { (o.decision_zh()) } }
                p { "理由：" (o.reason) }
                p.muted { (fmt::stored(&o.filed_at)) " 由 " (o.filed_by) " 登记" }
                @if o.materials.is_empty() { p.muted { "无证明材料" } }
                @else {
                    ul { @for (name, sha, size) in &o.materials {
                        li { a href=(format!("/review/material/{}/{}", o.id, urlencode(name))) { (name) } " " span.muted { (size) " 字节，SHA-256 " code { (&sha[..16]) } "…" } }
                    } }
                }
                @match &o.decision {
                    None => {
                        p { "应于 " strong { (deadline(&o.decision_deadline)) } " 前作出决定" (countdown(&cal, today, &o.decision_deadline)) }
                        @if reviewer {
                            form method="post" action="/review/decide" {
                                (csrf(user))
                                input type="hidden" name="year" value=(year);
                                input type="hidden" name="unit" value=(o.unit_id);
                                label.inline { input type="radio" name="decision" value="upheld" checked; " 维持原结果" }
                                label.inline { input type="radio" name="decision" value="revised"; " 更正（依据异议之后提交的新上报）" }
                                label { "决定说明（可不填；填写的记入审计日志）" textarea name="reason" {} }
                                button type="submit" { "作出决定" }
                            }
                        }
                    }
                    Some(_) => {
                        p { (o.decision_zh()) "：" (o.decided_at.as_deref().map(fmt::stored).unwrap_or_default()) " 由 " (o.decided_by.clone().unwrap_or_default()) " 决定"
                            @if let Some(n) = &o.decision_note { "；" (n) } }
                    }
                }
            }
        }
        h2 { "问题通报反馈（" (notices.len()) " 个单位）" }
        @if admin {
            form.card method="post" action="/review/notify" data-confirm="确定通报？通报后起算核实和申请复核期限。" {
                h3 { "通报反馈考核结果" }
                (csrf(user))
                input type="hidden" name="year" value=(year);
                label { "单位编号（逗号分隔；不填则通报全部已考核单位）" input type="text" name="units"; }
                label { "通报日期（不填为今天）" input type="date" name="on"; }
                button type="submit" { "通报" }
            }
        }
        @if !notices.is_empty() {
            table {
                thead { tr { th { "单位" } th { "通报日期" } th { "核实截止" } th { "申请复核截止" } th { "通报人" } } }
                tbody { @for n in &notices {
                    tr {
                        td { a href=(format!("/units/{year}/{}", n.unit_id)) { (n.unit_id) } }
                        td { (deadline(&n.notified_on)) }
                        td { (deadline(&n.verification_deadline)) }
                        td { (deadline(&n.review_request_deadline)) (countdown(&cal, today, &n.review_request_deadline)) }
                        td { (n.operator) }
                    }
                } }
            }
        }
        @if admin {
            form.card method="post" action="/review/object" enctype="multipart/form-data" {
                h3 { "代考核对象登记复核申请" }
                (csrf(user))
                input type="hidden" name="year" value=(year);
                label { "单位编号 " input type="text" name="unit" required; }
                label { "异议理由" textarea name="reason" required {} }
                label { "证明材料（可多选）" input type="file" name="material" multiple; }
                button type="submit" { "登记复核申请" }
            }
        }
    })
}

fn deadline(iso: &str) -> String {
    iso.parse::<Date>()
        .map(fmt::date)
        .unwrap_or_else(|_| iso.to_owned())
}

/// `（还有 3 个工作日）`, `（今天截止）` or `（已过期）`.
fn countdown(cal: &Calendar, today: Date, iso: &str) -> Markup {
    let Ok(day) = iso.parse::<Date>() else {
        return html! {};
    };
    if day < today {
        return html! { " " span.badge.bad { "已过期" } };
    }
    match cal.working_days_between(today, day) {
        Ok(0) => html! { " " span.badge.late { "今天截止" } },
        Ok(n) => html! { "（还有 " b { (n) } " 个工作日）" },
        Err(_) => html! {},
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[derive(Debug, Deserialize)]
pub(super) struct Notify {
    #[serde(default)]
    csrf: String,
    year: i32,
    #[serde(default)]
    units: String,
    #[serde(default)]
    on: String,
}

pub(super) async fn notify(
    State(c): State<Console>,
    user: User,
    Form(f): Form<Notify>,
) -> Result<Response, PageError> {
    user.may_change(Permission::Administer, &f.csrf)?;
    let units: Vec<String> = f
        .units
        .split([',', '，', '、', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let on = match f.on.trim() {
        "" => None,
        d => Some(
            d.parse::<Date>()
                .map_err(|_| PageError::Invalid(format!("通报日期「{d}」无效（bad date）")))?,
        ),
    };
    let (u, year) = (user.clone(), f.year);
    let n = c
        .db(move |conn, inner| {
            let actor = inner.actor(&u);
            let cal = calendar_years::effective_calendar(conn).map_err(PageError::invalid)?;
            let y = inner.year(conn, year)?;
            let on = on.unwrap_or_else(|| fmt::beijing_date(actor.at));
            let notices = workflow::notify(
                conn,
                &cal,
                y.manifest(),
                &y.consolidation,
                &units,
                on,
                &actor,
            )
            .map_err(PageError::invalid)?;
            Ok(notices.len())
        })
        .await?;
    Ok(done(
        &c,
        &user,
        &format!("/review?year={year}"),
        format!("已通报 {n} 个单位"),
    ))
}

pub(super) async fn object(
    State(c): State<Console>,
    user: User,
    mp: Multipart,
) -> Result<Response, PageError> {
    let form = user.read_change(mp, Permission::Administer).await?;
    let year: i32 = form.year("year").map_err(PageError::Invalid)?;
    let (unit, reason) = (form.text("unit").to_owned(), form.text("reason").to_owned());
    let materials: Vec<Material> = form
        .files
        .into_iter()
        .filter(|f| f.field == "material")
        .map(|f| Material {
            file_name: f.file_name,
            bytes: f.bytes,
        })
        .collect();
    let u = user.clone();
    let un = unit.clone();
    let filed = c
        .db(move |conn, inner| {
            let cal = calendar_years::effective_calendar(conn).map_err(PageError::invalid)?;
            let data = crate::results::load_year(conn, &inner.runtime, year)
                .map_err(|e| PageError::Unavailable(e.to_string()))?;
            workflow::object(
                conn,
                &cal,
                data.manifest(),
                year,
                &un,
                &reason,
                &materials,
                &inner.actor(&u),
            )
            .map_err(PageError::invalid)
        })
        .await?;
    Ok(done(
        &c,
        &user,
        &format!("/review?year={year}"),
        format!(
            "已登记单位 {unit} 的复核申请（第 {} 号），应于 {} 前作出决定；证明材料 {} 份",
            filed.id,
            fmt::date(filed.decision_deadline),
            filed.materials.len()
        ),
    ))
}

#[derive(Debug, Deserialize)]
pub(super) struct Decide {
    #[serde(default)]
    csrf: String,
    year: i32,
    #[serde(default)]
    unit: String,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    reason: String,
}

pub(super) async fn decide(
    State(c): State<Console>,
    user: User,
    Form(f): Form<Decide>,
) -> Result<Response, PageError> {
    user.may_change(Permission::Review, &f.csrf)?;
    let decision = match f.decision.as_str() {
        "upheld" => Decision::Upheld,
        "revised" => Decision::Revised,
        other => {
            return Err(PageError::Invalid(format!(
                "决定「{other}」无效：应为维持或更正（bad decision）"
            )));
        }
    };
    let (u, year, unit) = (user.clone(), f.year, f.unit.clone());
    let d = c
        .db(move |conn, inner| {
            let reason = Some(f.reason.as_str()).filter(|r| !r.trim().is_empty());
            workflow::decide(conn, f.year, &f.unit, decision, reason, &inner.actor(&u))
                .map_err(PageError::invalid)
        })
        .await?;
    let text = match d.revised_submission {
        Some(s) => format!(
            "复核申请第 {} 号（{unit}）：更正，依据第 {s} 号上报",
            d.objection
        ),
        None => format!("复核申请第 {} 号（{unit}）：维持原结果", d.objection),
    };
    Ok(done(&c, &user, &format!("/review?year={year}"), text))
}

#[derive(Debug, Deserialize)]
pub(super) struct MaterialPath {
    id: i64,
    name: String,
}

pub(super) async fn material(
    State(c): State<Console>,
    user: User,
    Path(p): Path<MaterialPath>,
) -> Result<Response, PageError> {
    user.require(Permission::Read)?;
    let name = p.name.clone();
    let bytes = c
        .db(move |conn, _| {
            queue::material(conn, p.id, &p.name)
                .map_err(PageError::db)?
                .ok_or_else(|| {
                    PageError::NotFound(format!("复核申请第 {} 号没有材料 {}", p.id, p.name))
                })
        })
        .await?;
    Ok(download("application/octet-stream", &name, bytes))
}
