//! 总览：this year's progress per node — the pack its latest report used,
//! when it was last seen, units reported of those expected (in all and per
//! round), late reports, refusals with the hub's latest reason — and the
//! next report deadline in working days.

use axum::extract::{Query, State};
use axum::response::Response;
use jiff::Timestamp;
use kaohe_rulepacks::manifest::Round;
use kaohe_web::fmt;
use maud::{Markup, html};
use rusqlite::Connection;

use super::{Console, PageError, User, YearQuery, pick_year, render, year_picker};
use crate::accounts::Permission;
use crate::ingest::RoundDeadlines;
use crate::progress;
use crate::registry::{calendar_years, packs};

pub(super) async fn page(
    State(c): State<Console>,
    user: User,
    Query(q): Query<YearQuery>,
) -> Result<Response, PageError> {
    user.require(Permission::Read)?;
    let body = c
        .db(move |conn, inner| {
            let year = pick_year(conn, q.year)?;
            body(conn, &inner.runtime, year, inner.clock.now())
        })
        .await?;
    Ok(render(&c, &user, "/", "总览", body))
}

fn body(
    conn: &Connection,
    runtime: &kaohe_rulepacks::runtime::Runtime,
    year: i32,
    now: Timestamp,
) -> Result<Markup, PageError> {
    let internal = |e: crate::registry::StoreError| PageError::Internal(e.to_string());
    let report = progress::report(conn, year).map_err(internal)?;
    let by_round = progress::reported_by_round(conn, year).map_err(internal)?;
    let unknown = progress::unidentified_refusals(conn).map_err(internal)?;
    let deadline = next_deadline(conn, runtime, year, now);
    Ok(html! {
        (year_picker(conn, "/", year))
        p.muted { "现在（汇总中心时钟）：" (fmt::datetime(now)) }
        @match deadline {
            Some(Ok((round, day, left))) => {
                div.stat {
                    "下一个上报截止：" strong { (round.name_zh()) "考核上报" } "，"
                    (fmt::date(day)) "，"
                    @if left == 0 { strong { "今天截止" } } @else { "还有 " b { (left) } " 个工作日" }
                }
            }
            Some(Err(why)) => { div.flash.warn { (why) } }
            None => { p.muted { (year) " 年度各轮次的上报截止日均已过去。" } }
        }
        h2 { (year) " 年度各节点上报进度" }
        @if report.is_empty() {
            p { "尚未登记任何节点。" }
        } @else {
            table {
                thead { tr {
                    th { "节点" } th { "所用规则包" } th { "最后联系" }
                    th.num { "已报/应报单位" }
                    @for r in Round::ALL { th.num { (r.name_zh()) } }
                    th.num { "逾期" } th { "被拒（汇总中心给出的原因）" }
                } }
                tbody {
                    @for p in &report {
                        tr {
                            td { (p.node.name) br; span.muted { (p.node.assessor.name_zh()) " · " (&p.node.id.as_str()[..8]) } }
                            td { @match &p.pack {
                                None => "—",
                                Some((id, v, Some(cur))) if cur == v => { (id) " 第 " (v) " 版（当前）" },
                                Some((id, v, Some(cur))) => { (id) " 第 " (v) " 版" br; span.badge.bad { "已被第 " (cur) " 版取代" } },
                                Some((id, v, None)) => { (id) " 第 " (v) " 版" },
                            } }
                            td { (p.last_seen.map(fmt::datetime).unwrap_or_else(|| "从未".into())) }
                            td.num { (p.reported) "/" (p.expected) }
                            @for r in Round::ALL {
                                td.num { (by_round.get(&(p.node.id.as_str().to_owned(), r.id().to_owned())).copied().unwrap_or(0)) }
                            }
                            td.num { @if p.late > 0 { span.badge.late { (p.late) } } @else { "0" } }
                            td {
                                @if p.rejected.is_empty() { "0" }
                                @for r in &p.rejected {
                                    div { (r.code.trim_start_matches("REJECTION_CODE_")) " × " (r.count) "：" span.muted { (r.latest_message) } }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if unknown > 0 {
            p.flash.warn { "另有 " (unknown) " 份上报来自未登记或无法识别的来源，已拒收。" }
        }
    })
}

/// The next round whose report deadline is after `now`, its Beijing date
/// and the working days left; an error text when the calendar or pack
/// cannot say.
fn next_deadline(
    conn: &Connection,
    runtime: &kaohe_rulepacks::runtime::Runtime,
    year: i32,
    now: Timestamp,
) -> Option<Result<(Round, jiff::civil::Date, u32), String>> {
    let year16 = u16::try_from(year).ok()?;
    let pack_ids: Vec<String> = packs::list_packs(conn)
        .ok()?
        .into_iter()
        .filter(|p| p.is_current && i32::from(p.identity.year) == year)
        .map(|p| p.identity.id)
        .collect();
    let stored = packs::current_pack(conn, pack_ids.first()?, year16).ok()??;
    let pack = kaohe_rulepacks::pack::Pack::load(runtime, &stored.module, &stored.identity).ok()?;
    let ends = match RoundDeadlines::of(&pack.manifest().schedule, year16) {
        Ok(d) => d,
        Err(e) => return Some(Err(e.to_string())),
    };
    let (round, end) = Round::ALL
        .into_iter()
        .filter_map(|r| {
            let wire = r.id().parse::<kaohe_proto::Round>().ok()?;
            Some((r, ends.end(wire)))
        })
        .filter(|(_, end)| *end > now)
        .min_by_key(|(_, end)| *end)?;
    // The deadline day is the day before the instant it passes.
    let day = fmt::beijing_date(end).yesterday().ok()?;
    let today = fmt::beijing_date(now);
    let left = calendar_years::effective_calendar(conn)
        .map_err(|e| e.to_string())
        .and_then(|cal| {
            cal.working_days_between(today, day)
                .map_err(|e| e.to_string())
        });
    Some(left.map(|left| (round, day, left)))
}
