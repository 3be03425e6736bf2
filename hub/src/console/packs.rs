//! 规则包：the published versions, publishing a signed pack (the module and
//! its signature file, verified against `hub.toml`'s authorities exactly as
//! `kaohe hub pack publish` does), and each version's rubric as the page
//! `kaohe pack doc` renders.

use axum::extract::{Multipart, Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use kaohe_web::fmt;
use maud::html;
use serde::Deserialize;

use super::{Console, PageError, User, csrf, done, render};
use crate::accounts::Permission;
use crate::config;
use crate::registry::packs::{self, PublishOutcome};

pub(super) async fn page(State(c): State<Console>, user: User) -> Result<Response, PageError> {
    user.require(Permission::Read)?;
    let list = c
        .db(|conn, _| packs::list_packs(conn).map_err(|e| PageError::Internal(e.to_string())))
        .await?;
    let admin = user.role.may(Permission::Administer);
    let body = html! {
        @if admin {
            form.card method="post" action="/packs" enctype="multipart/form-data" {
                h3 { "发布规则包" }
                p.muted { "上传发布机关签署的规则包模块（.wasm）及其签名文件（.sig）：按 hub.toml 中的发布机关公钥与签名门槛核验，试加载后成为该年度当前版本。" }
                (csrf(&user))
                label { "规则包模块 " input type="file" name="module" accept=".wasm" required; }
                label { "签名文件 " input type="file" name="sig" accept=".sig" required; }
                p { button type="submit" { "核验并发布" } }
            }
        }
        h2 { "已发布的规则包" }
        table {
            thead { tr { th { "规则包" } th { "年度" } th { "版本" } th { "状态" } th { "SHA-256（前 8 字节）" } th.num { "字节" } th { "发布时间" } th { "发布人" } th { "考核细则" } } }
            tbody {
                @for p in &list {
                    tr {
                        td { (p.identity.id) }
                        td { (p.identity.year) }
                        td.num { (p.identity.version) }
                        td { @if p.is_current { span.badge.good { "当前" } } @else { span.badge { "已取代" } } }
                        td { code { (hex::encode(&p.identity.module_sha256[..8])) } }
                        td.num { (p.module_len) }
                        td { (fmt::datetime(p.published_at)) }
                        td { (p.published_by) }
                        td { a href=(format!("/packs/{}/{}/{}/rubric", p.identity.id, p.identity.year, p.identity.version)) { "查看" } }
                    }
                }
            }
        }
    };
    Ok(render(&c, &user, "/packs", "规则包", body))
}

pub(super) async fn publish(
    State(c): State<Console>,
    user: User,
    mp: Multipart,
) -> Result<Response, PageError> {
    let form = user.read_change(mp, Permission::Administer).await?;
    let file = |field: &str| {
        form.files
            .iter()
            .find(|f| f.field == field)
            .map(|f| f.bytes.clone())
            .ok_or_else(|| {
                PageError::Invalid(format!(
                    "缺少{}（missing file）",
                    if field == "module" {
                        "规则包模块"
                    } else {
                        "签名文件"
                    }
                ))
            })
    };
    let (module, sig) = (file("module")?, file("sig")?);
    if module.len() > kaohe_proto::model::MAX_PACK_MODULE_BYTES {
        return Err(PageError::Invalid(
            "规则包模块超过大小上限（module too large）".into(),
        ));
    }
    let u = user.clone();
    let text = c
        .db(move |conn, inner| {
            let policy = config::HubConfig::load(&inner.data_dir)
                .and_then(|cfg| cfg.trust_policy(&inner.data_dir))
                .map_err(PageError::invalid)?;
            let (verified, outcome) = crate::publish::publish_signed(
                conn,
                &inner.runtime,
                &policy,
                &module,
                &sig,
                &inner.actor(&u),
            )
            .map_err(PageError::invalid)?;
            let id = &verified.identity;
            Ok(match outcome {
                PublishOutcome::Published { superseded } => {
                    let mut t = format!(
                        "已发布规则包 {id}（{}），由 {} 个发布机关签名",
                        verified.title,
                        verified.signers.len()
                    );
                    if let Some(old) = superseded {
                        t.push_str(&format!(
                            "；第 {old} 版已被取代，按第 {old} 版计算的结果已标记为待重新评价"
                        ));
                    }
                    t
                }
                PublishOutcome::AlreadyPublished { .. } => {
                    format!("规则包 {id} 已发布过，未作改动")
                }
            })
        })
        .await?;
    Ok(done(&c, &user, "/packs", text))
}

#[derive(Debug, Deserialize)]
pub(super) struct PackPath {
    pack: String,
    year: u16,
    version: u32,
}

/// The rubric of one version as `kaohe pack doc` renders it.
pub(super) async fn rubric(
    State(c): State<Console>,
    user: User,
    Path(p): Path<PackPath>,
) -> Result<Response, PageError> {
    user.require(Permission::Read)?;
    let html = c
        .db(move |conn, inner| {
            let stored = packs::pack_version(conn, &p.pack, p.year, p.version)
                .map_err(|e| PageError::Internal(e.to_string()))?
                .ok_or_else(|| {
                    PageError::NotFound(format!(
                        "没有规则包 {}-{} 第 {} 版",
                        p.pack, p.year, p.version
                    ))
                })?;
            let pack =
                kaohe_rulepacks::pack::Pack::load(&inner.runtime, &stored.module, &stored.identity)
                    .map_err(|e| PageError::Unavailable(e.to_string()))?;
            Ok(kaohe_rulepacks::doc::html(pack.manifest(), &[]))
        })
        .await?;
    Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response())
}
