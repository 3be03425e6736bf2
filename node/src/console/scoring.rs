//! 评分：each unit of a round evaluated with the active pack and shown —
//! group scores, the reason of every deduction, problems — before anything
//! is signed (nothing is saved by looking); then the submission, after a
//! confirmation: signed into the outbox and delivered, with what arrived.

use axum::Form;
use axum::extract::{Query, State};
use axum::response::Response;
use kaohe_rulepacks::manifest::Round;
use kaohe_web::fmt;
use kaohe_web::page::Flash;
use maud::html;
use serde::Deserialize;

use super::{NodeConsole, PageError, User, csrf, done, pick_year, render};
use crate::evaluate::{self, ScoreRequest};

#[derive(Debug, Deserialize)]
pub(super) struct Q {
    year: Option<u16>,
    #[serde(default)]
    round: String,
}

fn round_of(text: &str) -> Result<Round, PageError> {
    match text.trim() {
        "" => Ok(Round::Annual),
        t => Round::from_id(t).ok_or_else(|| {
            PageError::Invalid(format!(
                "轮次「{t}」无效：应为 annual 或 Q1–Q4（bad round）"
            ))
        }),
    }
}

pub(super) async fn page(
    State(c): State<NodeConsole>,
    user: User,
    Query(q): Query<Q>,
) -> Result<Response, PageError> {
    let store = c.store()?;
    let year = pick_year(&store, q.year)?;
    let round = round_of(&q.round)?;
    let scored = evaluate::score(
        &store,
        &c.0.runtime,
        &ScoreRequest {
            year,
            round,
            methods: Vec::new(),
            submitting: false,
        },
    )
    .map_err(PageError::invalid)?;
    let counts = store
        .outbox_counts()
        .map_err(|e| PageError::Internal(e.to_string()))?;
    let m = &scored.pack.manifest;
    let results: Vec<_> = scored
        .rounds
        .first()
        .map(|(_, r)| r.iter().collect())
        .unwrap_or_default();
    let body = html! {
        form.no-print method="get" action="/scoring" {
            input type="hidden" name="year" value=(year);
            label.inline { "轮次 "
                select name="round" onchange="this.form.submit()" {
                    @for r in Round::ALL { option value=(r.id()) selected[r == round] { (r.name_zh()) } }
                }
            }
            noscript { button type="submit" { "评分预览" } }
        }
        p { (year) " 年" (round.name_zh()) "，规则包 " (scored.pack.identity.to_string()) "：预览不保存任何内容。" }
        @if !scored.reevaluations.is_empty() {
            div.flash.warn { "规则包已更新：提交时将按新版一并重新评价 " (scored.reevaluations.len()) " 项结果。" }
        }
        @if results.is_empty() { p { "本轮次没有需要评分的单位和考核方式。" } }
        @else {
            table {
                thead { tr {
                    th { "单位" } th { "考核方式" }
                    @for g in &m.groups { th.num { (g.id) } }
                    th { "扣分、加分原因" } th { "问题" }
                } }
                tbody { @for r in &results {
                    tr {
                        td { (r.job.unit.name) br; span.muted { (r.job.unit.unit_id) } }
                        td { (r.method_set(m)) }
                        @for g in r.group_scores(m) { td.num { (g.map(fmt::score).unwrap_or_else(|| "—".into())) } }
                        td { @for b in r.method_blocks(m) { @for (_, cl) in &b.clauses { div { (cl.reason) "（" (fmt::score(cl.amount)) " 分）" } } } }
                        td { @for p in r.problems(m) { div.badge.bad { (p) } } }
                    }
                } }
            }
            form.card method="post" action="/scoring/submit" data-confirm=(format!("确定为 {} 个单位签名并提交{}的结果？提交后送达汇总中心。", results.len(), round.name_zh())) {
                (csrf(&user))
                input type="hidden" name="year" value=(year);
                input type="hidden" name="round" value=(round.id());
                p { "确认以上结果无误后提交：逐个单位签名，放入发件箱，随即送达汇总中心。" }
                button type="submit" { "签名并提交" }
            }
        }
        h2 { "送达进度" }
        p { "发件箱：待送达 " b { (counts.pending()) } " 份，已接收 " b { (counts.accepted) } " 份，被拒绝 " b { (counts.rejected) } " 份（详见「状态」页）。" }
    };
    Ok(render(&c, &user, "/scoring", "评分", body))
}

#[derive(Debug, Deserialize)]
pub(super) struct Submit {
    #[serde(default)]
    csrf: String,
    year: u16,
    #[serde(default)]
    round: String,
}

pub(super) async fn submit(
    State(c): State<NodeConsole>,
    user: User,
    Form(f): Form<Submit>,
) -> Result<Response, PageError> {
    user.check_csrf(&f.csrf)?;
    let round = round_of(&f.round)?;
    let key = c.key()?;
    let mut store = c.store()?;
    let scored = evaluate::score(
        &store,
        &c.0.runtime,
        &ScoreRequest {
            year: f.year,
            round,
            methods: Vec::new(),
            submitting: true,
        },
    )
    .map_err(PageError::invalid)?;
    let results: Vec<_> = scored.results().cloned().collect();
    let report = evaluate::submit(&mut store, &key, &scored.pack, &results, &c.actor())
        .map_err(PageError::invalid)?;
    drop(store);
    let mut text = format!(
        "已签名并放入发件箱 {} 份；未变化不重复提交 {} 个单位；未提交 {} 个单位",
        report.queued.len(),
        report.unchanged.len(),
        report.refused.len()
    );
    for (unit, why) in &report.refused {
        text.push_str(&format!("\n未提交：{unit}：{why}"));
    }
    let (kind, delivered) = match super::status::deliver_now(&c).await {
        Ok(d) => d,
        Err(e) => (Flash::Warn, format!("已保存在发件箱，暂未送达：{e}")),
    };
    text.push('\n');
    text.push_str(&delivered);
    Ok(done(
        &c,
        &user,
        &format!("/scoring?year={}&round={}", f.year, round.id()),
        kind,
        text,
    ))
}
