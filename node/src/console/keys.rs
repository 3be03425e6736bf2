//! 密钥轮换 and 透明日志见证 on the 状态 page: the node's key, the next
//! key made by `rotate-key prepare` with its public key to hand to the
//! county office, and `adopt` — refused with [`crate::rotate`]'s Chinese
//! reason until the hub knows the key and the outbox is delivered; the
//! years' logs as this node witnessed them and, when delivery is stopped
//! by an inconsistency, the evidence and the resolve form of `kaohe node
//! witness --resolve` ([`crate::witness::adoptable`],
//! [`Store::resolve_log_evidence`]). The same functions as the commands.

use axum::Form;
use axum::extract::State;
use axum::response::Response;
use kaohe_proto::SigningKeyPair;
use kaohe_web::page::Flash;
use maud::{Markup, html};
use serde::Deserialize;

use super::{NodeConsole, PageError, User, csrf, done};
use crate::store::Store;
use crate::{client, rotate, witness};

/// The key rotation section of 状态.
pub(super) fn rotation_section(c: &NodeConsole, user: &User) -> Markup {
    let config = &c.0.config;
    let current = SigningKeyPair::load(&config.key_file).map(|k| k.key_id());
    let next_path = rotate::next_key_path(config);
    let next = next_path
        .exists()
        .then(|| SigningKeyPair::load(&next_path).map(|k| (k.public(), k.key_id())));
    html! {
        h2 { "密钥轮换" }
        p { "本节点现用密钥编号："
            @match &current { Ok(id) => code { (id.as_str()) }, Err(e) => span.badge.bad { (e.to_string()) } }
        }
        @match &next {
            None => {
                p.muted { "更换密钥分两步：先生成新密钥，把显示的公钥交县依法治县办登记；汇总中心登记后、发件箱送达完毕，再改用新密钥。本节点身份、此前的上报与回执都不变，序号接续。" }
                form.inline method="post" action="/rotate/prepare" data-confirm="生成新密钥？本节点在改用前仍用原密钥签名。" {
                    (csrf(user)) button type="submit" { "生成新密钥" }
                }
            },
            Some(Err(e)) => { div.flash.error { "新密钥文件无法读取：" (e.to_string()) } },
            Some(Ok((public, id))) => {
                div.card {
                    p { "已生成新密钥（" code { (next_path.display()) } "）。请将以下公钥交县依法治县办登记（kaohe hub node rotate-key 或汇总中心控制台「节点」页）：" }
                    p { "新公钥（public key）：" code { (public.to_string()) } }
                    p { "新密钥编号（key id）：" code { (id.as_str()) } }
                    p.muted { "汇总中心启用 mTLS 的，还须按新密钥编号签发客户端证书（SAN：" (id.as_str()) ".node.kaohe）。" }
                    form.inline method="post" action="/rotate/adopt" data-confirm="汇总中心已登记新密钥、发件箱已送达完毕？改用后原密钥另存，不再用于签名。" {
                        (csrf(user)) button type="submit" { "改用新密钥" }
                    }
                }
            },
        }
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub(super) async fn prepare(
    State(c): State<NodeConsole>,
    user: User,
    Form(f): Form<CsrfForm>,
) -> Result<Response, PageError> {
    user.check_csrf(&f.csrf)?;
    let p = rotate::prepare(&c.0.config)
        .map_err(|e| PageError::Internal(format!("生成新密钥（make the next key）：{e}")))?;
    let head = if p.new {
        format!("已生成新密钥（next key made）：{}", p.path.display())
    } else {
        format!(
            "新密钥已存在，沿用（next key already made）：{}",
            p.path.display()
        )
    };
    Ok(done(
        &c,
        &user,
        "/",
        Flash::Ok,
        format!(
            "{head}\n请将以下公钥交县依法治县办登记；登记后点「改用新密钥」：\n新公钥（public key）：{}\n新密钥编号（key id）：{}",
            p.public_key, p.key_id
        ),
    ))
}

pub(super) async fn adopt(
    State(c): State<NodeConsole>,
    user: User,
    Form(f): Form<CsrfForm>,
) -> Result<Response, PageError> {
    user.check_csrf(&f.csrf)?;
    let adopted = c
        .with_hub(|c| async move {
            let config = &c.0.config;
            let store = c.store()?;
            let hub = client::connect(&config.hub, &config.hub.timeouts)
                .await
                .map_err(|e| {
                    PageError::Unavailable(format!(
                        "改用新密钥未进行，本节点仍使用原密钥：连接汇总中心（connect to the hub）：{e}"
                    ))
                })?;
            let now = || jiff::Timestamp::now().as_second();
            rotate::adopt(config, &store, &hub, &now)
                .await
                .map_err(|e| PageError::Invalid(format!("改用新密钥（adopt the next key）：{e}")))
        })
        .await?;
    Ok(done(
        &c,
        &user,
        "/",
        Flash::Ok,
        format!(
            "已改用新密钥 {}（key adopted）；原密钥 {} 另存于 {}，此前的上报与回执不受影响，序号接续。汇总中心启用 mTLS 的，请在 node.toml 的 hub.client_cert / hub.client_key 换上按新密钥编号签发的证书",
            adopted.new,
            adopted.old,
            adopted.retired_path.display()
        ),
    ))
}

/// The witness section of 状态: each year's log as witnessed and, while
/// delivery is stopped, the open evidence with the resolve form.
pub(super) fn witness_section(store: &Store, user: &User) -> Result<Markup, PageError> {
    let internal = |e: crate::store::StoreError| PageError::Internal(e.to_string());
    let years = store.witnessed_years().map_err(internal)?;
    let mut witnessed = Vec::new();
    for y in years {
        if let Some(w) = store.witnessed(y).map_err(internal)? {
            witnessed.push(w);
        }
    }
    let stopped = witness::delivery_stopped(store).map_err(internal)?;
    let evidence = store.log_evidence().map_err(internal)?;
    let mut open_years: Vec<u16> = evidence
        .iter()
        .filter(|e| e.resolved.is_none())
        .map(|e| e.year)
        .collect();
    open_years.sort_unstable();
    open_years.dedup();
    Ok(html! {
        h2 { "透明日志见证" }
        @if witnessed.is_empty() {
            p { "尚未见证汇总中心的透明日志（no log witnessed yet）：同步时自动进行。" }
        } @else {
            table {
                thead { tr { th { "年度" } th.num { "已见证记录" } th.num { "见证节点副署" } th { "上次核对" } } }
                tbody { @for w in &witnessed {
                    tr {
                        td { (w.year) "年" }
                        td.num { (w.size) }
                        td.num { (witness::cosigners(&w.checkpoint)) }
                        td { (kaohe_web::fmt::stored(&w.checked_at)) }
                    }
                } }
            }
        }
        @if let Some(why) = &stopped { div.flash.error role="alert" { (why) } }
        @if !evidence.is_empty() {
            h3 { "不一致的证据" }
            table {
                thead { tr { th.num { "编号" } th { "年度" } th { "发现于" } th { "情况" } th { "本节点已见证" } th { "汇总中心出示" } th { "处理" } } }
                tbody { @for e in &evidence {
                    tr {
                        td.num { (e.id) }
                        td { (e.year) }
                        td { (kaohe_web::fmt::stored(&e.found_at)) }
                        td { (e.reason) }
                        td { (witness::describe_checkpoint(&e.held)) }
                        td { (witness::describe_checkpoint(&e.presented)) }
                        td { @match &e.resolved {
                            Some((at, by, why)) => { "已处理 " (kaohe_web::fmt::stored(at)) " " (by) "：" (why) },
                            None => span.badge.bad { "待处理" },
                        } }
                    }
                } }
            }
        }
        @if !open_years.is_empty() {
            form.card method="post" action="/witness/resolve" data-confirm="确认已核查（如汇总中心从备份恢复），以汇总中心现在出示的检查点为准继续见证并恢复送达？证据保留备查。" {
                h3 { "核查后处理，恢复送达" }
                p.muted { "经县依法治县办核查（例如确因汇总中心从备份恢复所致）后，写明核查了什么、为何接受汇总中心现在的日志；本节点以汇总中心出示的检查点为准继续见证，证据保留备查。" }
                (csrf(user))
                label { "年度 " select name="year" { @for y in &open_years { option value=(y) { (y) "年" } } } }
                label { "处理意见 " input type="text" name="reason" required; }
                button type="submit" { "记录处理意见并恢复送达" }
            }
        }
    })
}

#[derive(Debug, Deserialize)]
pub(super) struct ResolveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    year: String,
    #[serde(default)]
    reason: String,
}

pub(super) async fn resolve(
    State(c): State<NodeConsole>,
    user: User,
    Form(f): Form<ResolveForm>,
) -> Result<Response, PageError> {
    user.check_csrf(&f.csrf)?;
    let year: u16 = kaohe_web::upload::year(&f.year).map_err(PageError::Invalid)?;
    let config = &c.0.config;
    let Some(hub) = config.hub.receipt_key else {
        return Err(PageError::Invalid(
            "节点配置中没有汇总中心公钥（[hub] receipt_key），不能核对检查点（no hub key pinned）"
                .into(),
        ));
    };
    let key = c.key()?;
    let actor = c.actor();
    let mut store = c.store()?;
    let internal = |e: crate::store::StoreError| PageError::Internal(e.to_string());
    let Some(adopt) = witness::adoptable(&store, year, &hub, &key.public(), &actor.at.to_string())
        .map_err(internal)?
    else {
        return Err(PageError::Invalid(format!(
            "{year} 年透明日志没有待处理的不一致证据（no open evidence for the year）"
        )));
    };
    let n = store
        .resolve_log_evidence(year, &adopt, &actor, &f.reason)
        .map_err(PageError::invalid)?;
    let mut text = format!(
        "已记录处理意见，{n} 份证据标记为已处理（保留备查）；本节点以汇总中心出示的 {year} 年检查点（{} 条记录）为准继续见证",
        adopt.size
    );
    let stopped = witness::delivery_stopped(&store).map_err(internal)?;
    match &stopped {
        Some(why) => text.push_str(&format!("\n{why}")),
        None => text.push_str("\n已恢复送达（delivery resumes）"),
    }
    let kind = if stopped.is_some() {
        Flash::Warn
    } else {
        Flash::Ok
    };
    Ok(done(&c, &user, "/", kind, text))
}
