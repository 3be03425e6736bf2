//! 状态：the node, its active packs, the last sync, the outbox by state
//! (pending / delivered / refused with the hub's reason), whether the hub
//! can be reached now; and the two buttons that talk to the hub: 同步
//! (packs and scope) and 送达 (the outbox); below, the witnessed logs and
//! the key rotation (`keys`).

use axum::Form;
use axum::extract::State;
use axum::response::Response;
use kaohe_web::fmt;
use kaohe_web::page::Flash;
use maud::html;
use serde::Deserialize;

use super::{NodeConsole, PageError, User, csrf, done, render};
use crate::deliver::{self, DeliverOptions};
use crate::outbox::State as OutboxState;
use crate::{client, sync};

pub(super) async fn page(State(c): State<NodeConsole>, user: User) -> Result<Response, PageError> {
    let config = &c.0.config;
    // Reachable: the whole handshake within the configured connect time.
    let reachable = client::connect(&config.hub, &config.hub.timeouts).await;
    let store = c.store()?;
    let internal = |e: crate::store::StoreError| PageError::Internal(e.to_string());
    let last_sync = store.meta(sync::LAST_SYNC).map_err(internal)?;
    let packs = store.packs().map_err(internal)?;
    let counts = store.outbox_counts().map_err(internal)?;
    let next_retry = store.next_retry_at().map_err(internal)?;
    let rejected = store
        .outbox(Some(OutboxState::Rejected))
        .map_err(internal)?;
    let mut again = Vec::new();
    for (id, active) in &packs {
        if *active {
            again.extend(store.reevaluations(id.year).map_err(internal)?);
        }
    }
    let witnessing = super::keys::witness_section(&store, &user)?;
    let rotation = super::keys::rotation_section(&c, &user);
    let body = html! {
        div.grid {
            div.stat { "节点" b { (config.name) } span.muted { (config.hub.address) } }
            div.stat { "汇总中心"
                @match &reachable {
                    Ok(_) => b { span.badge.good { "可以连接" } },
                    Err(e) => { b { span.badge.bad { "无法连接" } } span.muted { (e.to_string()) } },
                }
            }
            div.stat { "上次同步" b { (last_sync.as_deref().map(fmt::stored).unwrap_or_else(|| "尚未同步".into())) } }
        }
        @if config.hub.receipt_key.is_none() {
            div.flash.warn { "未配置汇总中心回执公钥（node.toml 的 [hub] receipt_key），不能送达。" }
        }
        form.inline method="post" action="/sync" { (csrf(&user)) button type="submit" { "同步规则包和考核范围" } }
        " "
        form.inline method="post" action="/deliver" { (csrf(&user)) button type="submit" { "送达发件箱" } }
        h2 { "规则包" }
        table {
            thead { tr { th { "规则包" } th { "状态" } } }
            tbody { @for (id, active) in &packs {
                tr { td { (id.to_string()) } td { @if *active { span.badge.good { "启用" } } @else { "已取代" } } }
            } }
        }
        @if !again.is_empty() {
            div.flash.warn { "规则包已更新，以下 " (again.len()) " 项结果须按新版重新评价（提交时自动进行）：" @for r in &again { " " (r.unit_id) " " (r.round.name_zh()) } }
        }
        h2 { "发件箱" }
        table {
            thead { tr { th.num { "待发送" } th.num { "发送中" } th.num { "待重发" } th.num { "已接收" } th.num { "被拒绝" } th.num { "已作废" } } }
            tbody { tr {
                td.num { (counts.to_send) } td.num { (counts.sending) } td.num { (counts.retry) }
                td.num { (counts.accepted) } td.num { (counts.rejected) } td.num { (counts.superseded) }
            } }
        }
        @if let Some(t) = next_retry { p.muted { "下次自动重试：" (fmt::unix(t)) } }
        @if !rejected.is_empty() {
            h3 { "被拒绝的提交及汇总中心给出的原因" }
            table {
                thead { tr { th.num { "序号" } th { "单位" } th { "轮次" } th { "原因" } } }
                tbody { @for e in &rejected {
                    tr {
                        td.num { (e.sequence) }
                        td { (e.unit_id) }
                        td { (e.year) " " (e.round.name_zh()) }
                        td { (e.rejection_code.as_deref().map(|c| c.trim_start_matches("REJECTION_CODE_")).unwrap_or("本节点拒发")) "：" (e.last_error.as_deref().unwrap_or("")) }
                    }
                } }
            }
        }
        (witnessing)
        (rotation)
    };
    Ok(render(&c, &user, "/", "节点状态", body))
}

#[derive(Debug, Deserialize)]
pub(super) struct Csrf {
    #[serde(default)]
    csrf: String,
}

pub(super) async fn sync(
    State(c): State<NodeConsole>,
    user: User,
    Form(f): Form<Csrf>,
) -> Result<Response, PageError> {
    user.check_csrf(&f.csrf)?;
    let report = c
        .with_hub(|c| async move {
            let config = &c.0.config;
            let key = c.key()?;
            let mut store = c.store()?;
            let hub = client::connect(&config.hub, &config.hub.timeouts)
                .await
                .map_err(|e| {
                    PageError::Unavailable(format!("连接汇总中心失败（connect to the hub）：{e}"))
                })?;
            let now = || jiff::Timestamp::now().as_second();
            sync::sync(
                &mut store,
                config,
                &key,
                &c.0.runtime,
                &hub,
                &c.actor(),
                &now,
            )
            .await
            .map_err(|e| PageError::Unavailable(format!("同步失败（sync）：{e}")))
        })
        .await?;
    let mut lines = Vec::new();
    for (year, units, methods) in &report.scopes {
        lines.push(format!(
            "{year} 年考核范围：{units} 个单位，{methods} 种考核方式"
        ));
    }
    for i in &report.installed {
        lines.push(format!("已核验并启用规则包 {}（{}）", i.identity, i.title));
    }
    for id in &report.up_to_date {
        lines.push(format!("规则包已是最新：{id}"));
    }
    for (pack, why) in &report.refused {
        lines.push(format!("未启用规则包 {pack}：{why}"));
    }
    let kind = if report.refused.is_empty() {
        Flash::Ok
    } else {
        Flash::Error
    };
    Ok(done(&c, &user, "/", kind, lines.join("\n")))
}

pub(super) async fn deliver(
    State(c): State<NodeConsole>,
    user: User,
    Form(f): Form<Csrf>,
) -> Result<Response, PageError> {
    user.check_csrf(&f.csrf)?;
    let (kind, text) = deliver_now(&c).await?;
    Ok(done(&c, &user, "/", kind, text))
}

/// One delivery pass, as `kaohe node deliver` runs it; the message says
/// what arrived, what was refused and what waits.
pub(super) async fn deliver_now(c: &NodeConsole) -> Result<(Flash, String), PageError> {
    c.with_hub(|c| async move { deliver_pass(&c).await }).await
}

async fn deliver_pass(c: &NodeConsole) -> Result<(Flash, String), PageError> {
    let config = &c.0.config;
    let hub_key = deliver::receipt_key(config).map_err(PageError::invalid)?;
    let lock = deliver::DeliveryLock::acquire(&config.store_file).map_err(PageError::invalid)?;
    let mut store = c.store()?;
    let report = deliver::deliver_pass(
        &lock,
        &mut store,
        config,
        &hub_key,
        &DeliverOptions::default(),
        &jiff::Timestamp::now,
        &mut |_| {},
    )
    .await
    .map_err(|e| PageError::Internal(e.to_string()))?;
    let pending = store
        .outbox_counts()
        .map_err(|e| PageError::Internal(e.to_string()))?
        .pending();
    let mut text = format!(
        "已送达 {} 份（回执已核验）；被拒绝 {} 份；待重发 {} 份",
        report.accepted.len(),
        report.rejected.len(),
        pending
    );
    for (seq, why) in &report.rejected {
        text.push_str(&format!("\n被拒绝：序号 {seq}：{why}"));
    }
    if let Some(e) = &report.call_error {
        text.push_str(&format!("\n{}", e.message));
    }
    let kind = if report.rejected.is_empty() && report.call_error.is_none() {
        Flash::Ok
    } else {
        Flash::Warn
    };
    Ok((kind, text))
}
