//! 结果：the year consolidated now — rankings of the ranked categories (a
//! shared rank marked 并列), grades of the others, the quarterly
//! leaderboard (党建引领·比拼四季) as a chart, late reports, units not
//! assessed with exactly what is missing — and whether it is still what
//! was approved.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::response::Response;
use kaohe_rulepacks::manifest::Round;
use kaohe_web::chart::{self, Row};
use kaohe_web::fmt;
use maud::{Markup, html};

use super::{Console, PageError, User, YearQuery, pick_year, render, year_picker};
use crate::accounts::Permission;
use crate::consolidate::Assessment;
use crate::consolidate::rank::QuarterBoard;
use crate::lock;
use crate::results::ConsolidatedYear;

pub(super) async fn page(
    State(c): State<Console>,
    user: User,
    Query(q): Query<YearQuery>,
) -> Result<Response, PageError> {
    user.require(Permission::Read)?;
    let body = c
        .db(move |conn, inner| {
            let year = pick_year(conn, q.year)?;
            let y = inner.year(conn, year)?;
            let approval = lock::in_force(conn, year).map_err(PageError::db)?;
            let state = approval.map(|a| {
                let same = a.approves(&y.consolidation.sha256());
                (a.doc_number, a.approved_at, same)
            });
            Ok(html! {
                (year_picker(conn, "/results", year))
                @match &state {
                    Some((doc, at, true)) => { div.flash.ok { "已审定（文号 " (doc) "，" (fmt::stored(at)) "），当前汇总与审定时一致。" } },
                    Some((doc, at, false)) => { div.flash.warn { "注意：已审定（文号 " (doc) "，" (fmt::stored(at)) "），但当前汇总与审定时不同（审定后有改动）。" } },
                    None => { p.muted { "尚未审定：以下为当前汇总，审定前仍可能变化。" } },
                }
                (body(&y))
            })
        })
        .await?;
    Ok(render(&c, &user, "/results", "考核结果", body))
}

/// The whole results page below the year picker. Pure: also what the
/// bench renders.
pub fn body(y: &ConsolidatedYear) -> Markup {
    let (c, manifest) = (&y.consolidation, y.manifest());
    let pack = &c.pack;
    html! {
        p.muted { (c.year) " 年度，规则包 " (pack.id) "-" (pack.year) " 第 " (pack.version) " 版；已收到应报上报 " (c.completeness.received) "/" (c.completeness.expected) " 份。" }
        @for cat in &manifest.categories {
            @let units: Vec<_> = c.units.iter().filter(|u| u.category == cat.id).collect();
            @if !units.is_empty() {
                @if let Some(r) = c.ranking(&cat.id).filter(|_| cat.ranked) {
                    h2 { (cat.name) "（评定等次并排名）" }
                    table {
                        thead { tr { th.num { "名次" } th { "编号" } th { "单位" } th.num { "总分" } th { "等次" } th { "备注" } } }
                        tbody {
                            @for e in &r.entries {
                                tr {
                                    td.num { (e.rank) @if e.tied { "（并列）" } }
                                    td { (e.unit_id) }
                                    td { a href=(format!("/units/{}/{}", c.year, e.unit_id)) { (e.name) } }
                                    td.num { (fmt::score(e.total)) }
                                    td { (grade_name(manifest, &e.grade)) }
                                    td { @if c.unit(&e.unit_id).is_some_and(|u| !u.late_reports.is_empty()) { span.badge.late { "迟报" } } }
                                }
                            }
                        }
                    }
                } @else {
                    h2 { (cat.name) "（只评定等次）" }
                    table {
                        thead { tr { th { "等次" } th.num { "单位数" } th { "单位" } } }
                        tbody {
                            @for g in &manifest.composition.grades {
                                @let named: Vec<_> = units.iter().filter(|u| u.scored().is_some_and(|s| s.grade == g.id)).collect();
                                tr {
                                    td { (g.name) }
                                    td.num { (named.len()) }
                                    td { @for (i, u) in named.iter().enumerate() {
                                        @if i > 0 { "、" }
                                        a href=(format!("/units/{}/{}", c.year, u.unit_id)) { (u.name) }
                                        " " span.muted { (u.scored().map(|s| fmt::score(s.total)).unwrap_or_default()) }
                                    } }
                                }
                            }
                        }
                    }
                }
            }
        }
        (leaderboards(y))
        @if !c.completeness.late.is_empty() {
            h2 { "迟报（已计入考核）" }
            table {
                thead { tr { th { "编号" } th { "单位" } th { "上报" } th { "汇总中心收到" } } }
                tbody { @for l in &c.completeness.late {
                    tr {
                        td { (l.unit_id) }
                        td { a href=(format!("/units/{}/{}", c.year, l.unit_id)) { (l.unit_name) } }
                        td { (l.method_name) (l.round.name_zh()) }
                        td { (fmt::unix(l.received_at)) }
                    }
                } }
            }
        }
        @if !y.data.reevaluation.is_empty() {
            h2 { "待重新评价（规则包已更新版本）" }
            p.muted { "以下结果按旧版规则包计算，暂不计入汇总；节点下次同步时按新版重新评价并上报。" }
            table {
                thead { tr { th { "单位" } th { "考核方式" } th { "轮次" } th { "计算所用版本" } th { "现行版本" } } }
                tbody { @for r in &y.data.reevaluation {
                    tr {
                        td { a href=(format!("/units/{}/{}", c.year, r.unit_id)) { (r.unit_id) } }
                        td { (r.method_id) }
                        td { (r.round.name_zh()) }
                        td.num { "第 " (r.computed_under) " 版" }
                        td.num { "第 " (r.current) " 版" }
                    }
                } }
            }
        }
        @let missing: Vec<_> = c.units.iter().filter(|u| !matches!(u.assessment, Assessment::Assessed(_))).collect();
        @if !missing.is_empty() {
            h2 { "未考核单位（不计 0 分）" }
            table {
                thead { tr { th { "编号" } th { "单位" } th { "状态" } th { "缺少什么 / 原因" } } }
                tbody { @for u in missing {
                    tr {
                        td { (u.unit_id) }
                        td { a href=(format!("/units/{}/{}", c.year, u.unit_id)) { (u.name) } }
                        @match &u.assessment {
                            Assessment::NotAssessed { gaps } => {
                                td { span.badge.bad { "未考核" } }
                                td { @for g in gaps { div { (g.message) } } }
                            }
                            Assessment::Excused { reason } => { td { span.badge { "免于考核" } } td { (reason) } }
                            Assessment::Assessed(_) => { td {} td {} }
                        }
                    }
                } }
            }
        }
    }
}

/// Per ranked category with quarterly methods: each unit's points per
/// quarter as bars, and each quarter's leader.
fn leaderboards(y: &ConsolidatedYear) -> Markup {
    let c = &y.consolidation;
    let mut by_category: BTreeMap<(usize, &str), Vec<&QuarterBoard>> = BTreeMap::new();
    for b in &c.leaderboards {
        let order = y
            .manifest()
            .categories
            .iter()
            .position(|cat| cat.id == b.category)
            .unwrap_or(usize::MAX);
        by_category
            .entry((order, b.category_name.as_str()))
            .or_default()
            .push(b);
    }
    if by_category.is_empty() {
        return html! {};
    }
    html! {
        h2 { "季度擂台（党建引领·比拼四季）" }
        @for ((_, name), boards) in &by_category {
            @let max = boards.iter().map(|b| b.max_points).max().unwrap_or(1);
            h3 { (name) "（每季满分 " (fmt::score(max)) " 分）" }
            (chart::grouped_bars(&format!("{name} 季度擂台"), &["第一季度", "第二季度", "第三季度", "第四季度"], &chart_rows(boards), max))
            p { @for b in boards.iter() {
                @if let Some(first) = b.entries.first() {
                    span.badge { (b.round.name_zh()) "擂主：" (first.name) " " (fmt::score(first.points)) }
                    " "
                }
            } }
        }
    }
}

/// One row per unit on any board, in order of first appearance, with its
/// points in each quarter.
fn chart_rows(boards: &[&QuarterBoard]) -> Vec<Row> {
    let quarters = [Round::Q1, Round::Q2, Round::Q3, Round::Q4];
    let mut units: Vec<(&str, &str)> = Vec::new();
    for e in boards.iter().flat_map(|b| &b.entries) {
        if !units.iter().any(|(id, _)| *id == e.unit_id) {
            units.push((&e.unit_id, &e.name));
        }
    }
    units
        .into_iter()
        .map(|(id, name)| Row {
            label: name.to_owned(),
            values: quarters
                .iter()
                .map(|q| {
                    boards
                        .iter()
                        .find(|b| b.round == *q)
                        .and_then(|b| b.entries.iter().find(|e| e.unit_id == id))
                        .map(|e| e.points)
                })
                .collect(),
        })
        .collect()
}

pub(super) fn grade_name(manifest: &kaohe_rulepacks::manifest::Manifest, id: &str) -> String {
    manifest
        .composition
        .grades
        .iter()
        .find(|g| g.id == id)
        .map(|g| g.name.clone())
        .unwrap_or_else(|| id.to_owned())
}
