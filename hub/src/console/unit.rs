//! 单位：one unit of one year — its standing (grade, rank, total and the
//! way there), the indicator tree with every score and the reason of every
//! deduction, and every report the hub accepted for it: which assessor
//! signed it, the evidence it carried, its receipt, whether it was late,
//! and which reports a later one superseded. The reviewer's forms for an
//! excusal and a penalty-cap override are here too, and, where two nodes
//! reported one method and round, the ruling (裁定) of which report stands.

use axum::Form;
use axum::extract::{Path, State};
use axum::response::Response;
use kaohe_rulepacks::manifest::{FieldType, Manifest};
use kaohe_web::fmt;
use maud::{Markup, html};
use serde::Deserialize;

use super::{Console, PageError, User, csrf, done, render};
use crate::accounts::Permission;
use crate::consolidate::{Assessment, GapKind, UnitResult};
use crate::results::ConsolidatedYear;
use crate::results::reports::{self, UnitReport};
use crate::workflow::{self, queue};

#[derive(Debug, Deserialize)]
pub(super) struct UnitPath {
    year: i32,
    unit: String,
}

pub(super) async fn page(
    State(c): State<Console>,
    user: User,
    Path(p): Path<UnitPath>,
) -> Result<Response, PageError> {
    user.require(Permission::Read)?;
    let u = user.clone();
    let (title, body) = c
        .db(move |conn, inner| {
            let y = inner.year(conn, p.year)?;
            let unit = y
                .consolidation
                .unit(&p.unit)
                .ok_or_else(|| PageError::NotFound(format!("{} 年度名册中没有单位 {}（no such unit）", p.year, p.unit)))?
                .clone();
            let reports = reports::unit_reports(conn, p.year, &p.unit)
                .map_err(|e| PageError::Internal(e.to_string()))?;
            let objections = queue::objections(conn, p.year, Some(&p.unit)).map_err(PageError::db)?;
            let title = format!("{}（{}）{} 年度", unit.name, unit.unit_id, p.year);
            let mut body = body(&y, &unit, &reports);
            body = html! {
                (body)
                @if !objections.is_empty() {
                    h2 { "复核申请" }
                    @for o in &objections {
                        p { "第 " (o.id) " 号，" (fmt::stored(&o.filed_at)) " 由 " (o.filed_by) " 登记：" (o.reason) "。" strong { (o.decision_zh()) } " " a href=(format!("/review?year={}", p.year)) { "到复核页" } }
                    }
                }
                (forms(&u, p.year, &unit))
            };
            Ok((title, body))
        })
        .await?;
    Ok(render(&c, &user, "/results", &title, body))
}

/// The unit's standing, indicator tree and reports. Pure: also what the
/// bench renders.
pub fn body(y: &ConsolidatedYear, unit: &UnitResult, reports: &[UnitReport]) -> Markup {
    let m = y.manifest();
    let year = y.consolidation.year;
    html! {
        p {
            "类别：" (unit.category_name)
            @if let Some(p) = &unit.parent { "；上级单位：" a href=(format!("/units/{year}/{p}")) { (p) } }
            @if let Some(d) = &unit.supervising_department { "；主管部门：" (d) }
            "；考核主体：" (unit.assessor)
        }
        @match &unit.assessment {
            Assessment::Assessed(s) => {
                div.grid {
                    div.stat { "总分" b { (fmt::score(s.total)) } }
                    div.stat { "等次" b { (s.grade_name) } }
                    @if let Some(r) = s.rank { div.stat { "名次" b { (r.rank) "/" (r.of) @if r.tied { "（并列）" } } } }
                    div.stat { "适用分值 " (fmt::score(s.applicable)) "，得分 " (fmt::score(s.raw)) br; "换算 " (fmt::score(s.converted)) "，加分 " (fmt::score(s.bonus)) "，扣分 " (fmt::score(s.penalty)) }
                }
                @if s.serious_case { p.flash.warn { "有严重情形：不得评为优秀。" } }
                @if let Some(o) = &s.penalty_cap_override { p.flash.warn { "扣分上限已调整为 " (fmt::score(o.cap)) " 分：" (o.reason) } }
                @for n in &s.notes { p.muted { (n) } }
                h2 { "指标得分与扣分原因" }
                (indicator_tree(m, s))
                @if !s.not_applicable.is_empty() {
                    h2 { "不适用的考核内容（应考分值相应减少，按实际得分换算）" }
                    table {
                        thead { tr { th { "指标" } th.num { "分值" } th { "不适用理由" } } }
                        tbody { @for n in &s.not_applicable {
                            tr { td { (n.indicator_id) " " (n.name) } td.num { (fmt::score(n.points)) } td { (n.reason) } }
                        } }
                    }
                }
            }
            Assessment::NotAssessed { gaps } => {
                div.flash.error { "未考核（不计 0 分）" }
                ul { @for g in gaps { li { (g.message) } } }
            }
            Assessment::Excused { reason } => { div.flash.warn { "免于考核：" (reason) } }
        }
        @if !unit.late_reports.is_empty() {
            p { span.badge.late { "迟报" } " "
                @for (i, l) in unit.late_reports.iter().enumerate() {
                    @if i > 0 { "、" }
                    (method_name(m, &l.method_id)) (l.round.name_zh())
                }
            }
        }
        h2 { "上报记录（" (reports.len()) " 份）" }
        @if reports.is_empty() { p { "汇总中心尚未收到本单位的上报。" } }
        @for r in reports { (report(m, r)) }
    }
}

fn indicator_tree(m: &Manifest, s: &crate::consolidate::Scored) -> Markup {
    html! {
        table {
            thead { tr { th { "指标" } th { "考核方式" } th.num { "分值" } th.num { "得分" } th { "扣分、加分原因" } } }
            tbody {
                @for g in &m.groups {
                    @let in_group: Vec<_> = s.indicators.iter().filter(|i| m.indicators.iter().any(|d| d.id == i.indicator_id && d.group == g.id)).collect();
                    @if !in_group.is_empty() {
                        tr { th colspan="5" { (g.id) " " (g.name) } }
                        @for i in in_group {
                            @let def = m.indicators.iter().find(|d| d.id == i.indicator_id);
                            tr.sub {
                                td { (i.indicator_id) " " (def.map(|d| d.name.as_str()).unwrap_or("")) }
                                td { (def.map(|d| method_name(m, &d.method)).unwrap_or_default()) }
                                td.num { (def.and_then(|d| d.points.iter().flatten().max().copied()).map(fmt::score).unwrap_or_default()) }
                                td.num { (fmt::score(i.score)) }
                                td {
                                    @if let Some(r) = &i.reason { div { (r) } }
                                    @for f in s.fired.iter().filter(|f| f.indicator_id == i.indicator_id) {
                                        div { (f.reason) "（" (fmt::score(f.amount)) " 分" @if f.round.is_quarter() { "，" (f.round.name_zh()) } "）" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn report(m: &Manifest, r: &UnitReport) -> Markup {
    html! {
        section.card {
            h3 {
                (round_zh(&r.round)) "，" (r.methods.iter().map(|x| method_name(m, &x.method_id)).collect::<Vec<_>>().join("、"))
                " "
                @match r.superseded_by {
                    None => span.badge.good { "现行" },
                    Some(by) => span.badge { "已被第 " (by) " 号上报取代" },
                }
                @if r.late { " " span.badge.late { "迟报" } }
            }
            p.muted {
                "第 " (r.submission_id) " 号上报：由 " strong { (r.node_name) } "（密钥 " code { (&r.node_id[..r.node_id.len().min(8)]) } "）签名，节点序号 " (r.sequence)
                "；规则包 " (r.pack_id) " 第 " (r.pack_version) " 版；汇总中心于 " (fmt::unix(r.committed_at)) " 收到"
                br;
                "回执：第 " (r.batch_id) " 批第 " (r.leaf_index) " 项，摘要 " code { (r.digest) }
            }
            @for b in &r.methods {
                table {
                    thead { tr { th { (method_name(m, &b.method_id)) "：证据项" } th { "填报值" } } }
                    tbody { @for (field, v) in &b.evidence {
                        tr { td { (field_label(m, field)) } td { (evidence_text(m, field, *v)) } }
                    } }
                }
                @if !b.clauses.is_empty() {
                    ul { @for (id, amount, reason) in &b.clauses { li { (id) "：" (reason) "（" (fmt::score(*amount)) " 分）" } } }
                }
            }
        }
    }
}

fn forms(user: &User, year: i32, unit: &UnitResult) -> Markup {
    if !user.role.may(Permission::Review) {
        return html! {};
    }
    let base = format!("/units/{year}/{}", unit.unit_id);
    let doubles: Vec<(&String, &kaohe_rulepacks::manifest::Round, &Vec<String>)> =
        match &unit.assessment {
            Assessment::NotAssessed { gaps } => gaps
                .iter()
                .filter_map(|g| match &g.what {
                    GapKind::DuplicateReport {
                        method_id,
                        round,
                        nodes,
                    } => Some((method_id, round, nodes)),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
    html! {
        @for (method_id, round, nodes) in &doubles {
            form.card.no-print method="post" action=(format!("{base}/ruling")) data-confirm="确定裁定采用所选节点的上报？" {
                h3 { "裁定重复上报：" (method_id) " " (round.name_zh()) }
                (csrf(user))
                input type="hidden" name="method" value=(method_id);
                input type="hidden" name="round" value=(round.id());
                label { "采用哪个节点的上报 "
                    select name="node" { @for n in *nodes { option value=(n) { (n) } } }
                }
                label { "裁定理由（记入审计日志）" textarea name="reason" required {} }
                button type="submit" { "记录裁定" }
            }
        }
        div.grid.no-print {
            form.card method="post" action=(format!("{base}/excuse")) data-confirm="确定记录本单位本年度免于考核？" {
                h3 { "免于考核" }
                (csrf(user))
                label { "原因（记入审计日志）" textarea name="reason" required {} }
                button type="submit" { "记录免于考核" }
            }
            form.card method="post" action=(format!("{base}/override")) {
                h3 { "调整扣分上限" }
                (csrf(user))
                label { "扣分上限（分，如 15 或 12.5）" input type="text" name="cap" required; }
                label { "原因（记入审计日志）" textarea name="reason" required {} }
                button type="submit" { "记录调整" }
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct Excuse {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

pub(super) async fn excuse(
    State(c): State<Console>,
    user: User,
    Path(p): Path<UnitPath>,
    Form(f): Form<Excuse>,
) -> Result<Response, PageError> {
    user.may_change(Permission::Review, &f.csrf)?;
    let (u, unit, reason) = (user.clone(), p.unit.clone(), f.reason.clone());
    c.db(move |conn, inner| {
        workflow::excuse(conn, p.year, &p.unit, &f.reason, &inner.actor(&u))
            .map_err(PageError::invalid)
    })
    .await?;
    Ok(done(
        &c,
        &user,
        &format!("/units/{}/{unit}", p.year),
        format!(
            "已记录：{unit} {} 年度免于考核，原因：{}",
            p.year,
            reason.trim()
        ),
    ))
}

#[derive(Debug, Deserialize)]
pub(super) struct Override {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    cap: String,
    #[serde(default)]
    reason: String,
}

pub(super) async fn override_cap(
    State(c): State<Console>,
    user: User,
    Path(p): Path<UnitPath>,
    Form(f): Form<Override>,
) -> Result<Response, PageError> {
    user.may_change(Permission::Review, &f.csrf)?;
    let cap = workflow::parse_points(&f.cap).map_err(PageError::invalid)?;
    let (u, unit, reason) = (user.clone(), p.unit.clone(), f.reason.clone());
    c.db(move |conn, inner| {
        workflow::override_cap(conn, p.year, &p.unit, cap, &f.reason, &inner.actor(&u))
            .map_err(PageError::invalid)
    })
    .await?;
    Ok(done(
        &c,
        &user,
        &format!("/units/{}/{unit}", p.year),
        format!(
            "已记录：{unit} {} 年度扣分上限调整为 {} 分，原因：{}",
            p.year,
            fmt::score(cap),
            reason.trim()
        ),
    ))
}

fn method_name(m: &Manifest, id: &str) -> String {
    m.methods
        .iter()
        .find(|x| x.id == id)
        .map(|x| x.name.clone())
        .unwrap_or_else(|| id.to_owned())
}

fn round_zh(round: &str) -> &'static str {
    kaohe_rulepacks::manifest::Round::from_id(round).map_or("未知轮次", |r| r.name_zh())
}

fn field_label(m: &Manifest, id: &str) -> String {
    m.fields
        .iter()
        .find(|f| f.id == id)
        .map(|f| format!("{}（{id}）", f.label))
        .unwrap_or_else(|| id.to_owned())
}

/// An ABI-encoded evidence value as the official entered it.
fn evidence_text(m: &Manifest, id: &str, v: Option<i64>) -> String {
    let Some(v) = v else {
        return "未填".into();
    };
    let Some(f) = m.fields.iter().find(|f| f.id == id) else {
        return fmt::score(v);
    };
    let text = match f.kind {
        FieldType::Count => (v / 100).to_string(),
        FieldType::Decimal => fmt::score(v),
        FieldType::Bool => if v != 0 { "是" } else { "否" }.to_owned(),
        FieldType::Choice => usize::try_from(v / 100)
            .ok()
            .and_then(|i| f.choices.get(i))
            .cloned()
            .unwrap_or_else(|| fmt::score(v)),
    };
    if f.unit.is_empty() || matches!(f.kind, FieldType::Bool | FieldType::Choice) {
        text
    } else {
        format!("{text} {}", f.unit)
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct RulingForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    method: String,
    #[serde(default)]
    round: String,
    #[serde(default)]
    node: String,
    #[serde(default)]
    reason: String,
}

/// 裁定 ([`workflow::ruling::rule`]): which node's report stands where two
/// nodes reported one method and round of this unit.
pub(super) async fn ruling(
    State(c): State<Console>,
    user: User,
    Path(p): Path<UnitPath>,
    Form(f): Form<RulingForm>,
) -> Result<Response, PageError> {
    user.may_change(Permission::Review, &f.csrf)?;
    let round = kaohe_rulepacks::manifest::Round::from_id(&f.round)
        .ok_or_else(|| PageError::Invalid(format!("轮次「{}」无效（bad round）", f.round)))?;
    let (u, unit) = (user.clone(), p.unit.clone());
    let ruled = c
        .db(move |conn, inner| {
            let slot = workflow::ruling::Slot {
                year: p.year,
                unit_id: &p.unit,
                round,
                method_id: &f.method,
            };
            workflow::ruling::rule(conn, slot, &f.node, &f.reason, &inner.actor(&u))
                .map_err(PageError::invalid)
        })
        .await?;
    Ok(done(
        &c,
        &user,
        &format!("/units/{}/{unit}", p.year),
        format!(
            "已裁定：{unit} {} {} 采用节点 {} 的第 {} 号上报，理由：{}",
            ruled.method_id,
            ruled.round.name_zh(),
            ruled.node_id,
            ruled.submission_id,
            ruled.reason
        ),
    ))
}
