//! 节点：the registered nodes with their keys (current and earlier), the
//! unit each assesses for, state and delegated scope; registering a node
//! with its public key and scope (units by category, subtree or list ×
//! methods × years, own unit), editing a scope (修改授权范围, with a
//! reason), rotating a key (更换密钥, with a reason) and revocation — one
//! handler per action over [`nodes::add_node`], [`change::edit_node`],
//! [`change::rotate_key`] and [`nodes::revoke_node`]. After a registration
//! or an edit the page lists [`registration::node_warnings`], as the CLI does.

use std::collections::BTreeSet;

use axum::Form;
use axum::extract::State;
use axum::response::Response;
use kaohe_web::fmt;
use maud::{Markup, html};
use rusqlite::Connection;
use serde::Deserialize;

use super::{Console, PageError, User, csrf, done, render};
use crate::accounts::Permission;
use crate::registration;
use crate::registry::nodes::change::{self, NodeEdit};
use crate::registry::nodes::{self, AssessorKind, NewNode, NodeRecord, NodeState};
use crate::registry::scope::{METHODS, Scope};

pub(super) async fn page(State(c): State<Console>, user: User) -> Result<Response, PageError> {
    user.require(Permission::Read)?;
    let u = user.clone();
    let body = c.db(move |conn, _| body(conn, &u)).await?;
    Ok(render(&c, &user, "/nodes", "节点", body))
}

fn joined(set: &BTreeSet<String>) -> String {
    set.iter().cloned().collect::<Vec<_>>().join(",")
}

fn body(conn: &Connection, user: &User) -> Result<Markup, PageError> {
    let list = nodes::list_nodes(conn).map_err(|e| PageError::Internal(e.to_string()))?;
    let admin = user.role.may(Permission::Administer);
    Ok(html! {
        h2 { "已登记节点（" (list.len()) "）" }
        table {
            thead { tr { th { "节点名称" } th { "考核主体" } th { "节点编号与密钥" } th { "状态" } th { "授权范围" } } }
            tbody {
                @for n in &list {
                    tr {
                        td { (n.name) }
                        td { (n.assessor.name_zh()) @if let Some(unit) = &n.assessor_unit { br; span.muted { "代表单位 " (unit) } } }
                        td {
                            code { (n.id.as_str()) }
                            @if n.key.key_id != n.id { br; "现用密钥 " code { (n.key.key_id.as_str()) } "（自序号 " (n.key.first_sequence) " 起）" }
                            @for k in &n.earlier_keys { br; span.muted { "已停用密钥 " code { (k.key_id.as_str()) } } }
                        }
                        td { @match &n.state {
                            NodeState::Active => span.badge.good { "有效" },
                            NodeState::Revoked { at, reason } => { span.badge.bad { "已吊销" } " " (fmt::datetime(*at)) "，" (reason) },
                        } }
                        td { (n.scope.to_string()) }
                    }
                    @if admin && matches!(n.state, NodeState::Active) {
                        tr.no-print { td colspan="5" { (actions(n, user)) } }
                    }
                }
            }
        }
        @if admin { (register_form(user)) }
    })
}

/// The forms that change one node: edit its scope, rotate its key, revoke.
fn actions(n: &NodeRecord, user: &User) -> Markup {
    let id = n.id.as_str();
    html! {
        details {
            summary { "修改授权范围、更换密钥或吊销「" (n.name) "」" }
            form.card method="post" action="/nodes/edit" data-confirm=(format!("确定修改节点「{}」的授权范围？", n.name)) {
                h4 { "修改授权范围（只改填写的项，原因记入审计日志）" }
                (csrf(user))
                input type="hidden" name="node" value=(id);
                label { "类别 " input type="text" name="categories" value=(joined(&n.scope.categories)); }
                label { "下级单位树 " input type="text" name="subtrees" value=(joined(&n.scope.subtrees)); }
                label { "单位清单 " input type="text" name="units" value=(joined(&n.scope.units)); }
                label { "考核方式 " input type="text" name="methods" value=(joined(&n.scope.methods)); }
                label { "年度 " input type="text" name="years" value=(n.scope.years.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")); }
                label { "代表单位 " input type="text" name="assessor_unit" value=(n.assessor_unit.clone().unwrap_or_default()); }
                label.inline { input type="checkbox" name="own_unit" value="true" checked[n.scope.own_unit]; " 本单位自评" }
                label { "修改原因 " input type="text" name="reason" required; }
                button type="submit" { "修改授权范围" }
            }
            form.card method="post" action="/nodes/rotate-key" data-confirm=(format!("确定为节点「{}」更换密钥？旧密钥此后不能再上报。", n.name)) {
                h4 { "更换密钥（节点身份、授权范围和已上报结果不变）" }
                (csrf(user))
                input type="hidden" name="node" value=(id);
                label { "新公钥（kaohe node rotate-key prepare 显示的 ed25519:…）" input type="text" name="key" size="60" required; }
                label { "更换原因 " input type="text" name="reason" required; }
                button type="submit" { "更换密钥" }
            }
            form.card method="post" action="/nodes/revoke" data-confirm=(format!("确定吊销节点「{}」？此后其上报一律拒收。", n.name)) {
                h4 { "吊销" }
                (csrf(user))
                input type="hidden" name="node" value=(id);
                label { "吊销原因 " input type="text" name="reason" required; }
                button.danger type="submit" { "吊销" }
            }
        }
    }
}

fn register_form(user: &User) -> Markup {
    html! {
        form.card method="post" action="/nodes" {
            h3 { "登记节点" }
            (csrf(user))
            label { "节点名称 " input type="text" name="name" placeholder="如：肖旗乡考核节点" required; }
            label { "考核主体类型 "
                select name="assessor" {
                    @for k in AssessorKind::ALL { option value=(k.id()) { (k.name_zh()) } }
                }
            }
            label { "代表单位（乡镇、县直单位节点填写，与名册「考核主体」列相同）" input type="text" name="assessor_unit"; }
            label { "节点公钥（kaohe node init 显示的 ed25519:…）" input type="text" name="key" size="60" required; }
            fieldset {
                legend { "授权的单位（至少一项）" }
                label { "类别（逗号分隔，如 township,department）" input type="text" name="categories"; }
                label { "下级单位树（单位编号，逗号分隔）" input type="text" name="subtrees"; }
                label { "单位清单（单位编号，逗号分隔）" input type="text" name="units"; }
                label.inline { input type="checkbox" name="own_unit" value="true"; " 本单位自评（须考核方案允许）" }
            }
            fieldset {
                legend { "授权的考核方式" }
                @for (id, name) in METHODS {
                    label.inline { input type="checkbox" name="methods" value=(id) checked; " " (name) }
                }
            }
            label { "授权的年度（逗号分隔，如 2023,2024）" input type="text" name="years" required; }
            p { button type="submit" { "登记节点" } }
        }
    }
}

/// The registration form; repeated `methods` arrive as several pairs.
#[derive(Debug, Deserialize)]
pub(super) struct Register {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    assessor: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    categories: String,
    #[serde(default)]
    subtrees: String,
    #[serde(default)]
    units: String,
    #[serde(default)]
    years: String,
    #[serde(default)]
    assessor_unit: String,
    #[serde(default)]
    own_unit: Option<String>,
}

pub(super) async fn register(
    State(c): State<Console>,
    user: User,
    body: axum::body::Bytes,
) -> Result<Response, PageError> {
    let f: Register = serde_urlencoded::from_bytes(&body).map_err(PageError::invalid)?;
    user.may_change(Permission::Administer, &f.csrf)?;
    let methods: Vec<String> = form_urlencoded_values(&body, "methods");
    let assessor: AssessorKind = f.assessor.parse().map_err(PageError::invalid)?;
    let years = years(&f.years)?;
    let scope = Scope {
        categories: list(&f.categories).into_iter().collect(),
        subtrees: list(&f.subtrees).into_iter().collect(),
        units: list(&f.units).into_iter().collect(),
        methods: methods.into_iter().collect(),
        years,
        own_unit: f.own_unit.is_some(),
    };
    let assessor_unit = Some(f.assessor_unit.trim().to_owned()).filter(|u| !u.is_empty());
    let u = user.clone();
    let (node, warnings) = c
        .db(move |conn, inner| {
            let node = nodes::add_node(
                conn,
                NewNode {
                    name: f.name,
                    assessor,
                    assessor_unit,
                    public_key: f.key,
                    scope,
                },
                &inner.actor(&u),
            )
            .map_err(PageError::invalid)?;
            let warnings = registration::node_warnings(conn, &inner.runtime, &node)
                .map_err(|e| PageError::Internal(e.to_string()))?;
            Ok((node, warnings))
        })
        .await?;
    let mut text = format!(
        "已登记节点「{}」，节点编号 {}；授权范围：{}",
        node.name, node.id, node.scope
    );
    for w in warnings {
        text.push_str(&format!("\n警告：{w}"));
    }
    Ok(done(&c, &user, "/nodes", text))
}

#[derive(Debug, Deserialize)]
pub(super) struct Revoke {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    node: String,
    #[serde(default)]
    reason: String,
}

pub(super) async fn revoke(
    State(c): State<Console>,
    user: User,
    Form(f): Form<Revoke>,
) -> Result<Response, PageError> {
    user.may_change(Permission::Administer, &f.csrf)?;
    let u = user.clone();
    let reason = f.reason.clone();
    let node = c
        .db(move |conn, inner| {
            nodes::revoke_node(conn, &f.node, &f.reason, &inner.actor(&u))
                .map_err(PageError::invalid)
        })
        .await?;
    Ok(done(
        &c,
        &user,
        "/nodes",
        format!(
            "已吊销节点「{}」（{}），原因：{}",
            node.name,
            node.id,
            reason.trim()
        ),
    ))
}

#[derive(Debug, Deserialize)]
pub(super) struct Edit {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    node: String,
    #[serde(default)]
    categories: String,
    #[serde(default)]
    subtrees: String,
    #[serde(default)]
    units: String,
    #[serde(default)]
    methods: String,
    #[serde(default)]
    years: String,
    #[serde(default)]
    assessor_unit: String,
    #[serde(default)]
    own_unit: Option<String>,
    #[serde(default)]
    reason: String,
}

/// 修改授权范围 ([`change::edit_node`]): the form shows the node's scope,
/// so every field is sent; what did not change stays as it was.
pub(super) async fn edit(
    State(c): State<Console>,
    user: User,
    Form(f): Form<Edit>,
) -> Result<Response, PageError> {
    user.may_change(Permission::Administer, &f.csrf)?;
    let edit = NodeEdit {
        categories: Some(list(&f.categories).into_iter().collect()),
        subtrees: Some(list(&f.subtrees).into_iter().collect()),
        units: Some(list(&f.units).into_iter().collect()),
        methods: Some(list(&f.methods).into_iter().collect()),
        years: Some(years(&f.years)?),
        own_unit: Some(f.own_unit.is_some()),
        assessor_unit: Some(f.assessor_unit.trim().to_owned()).filter(|u| !u.is_empty()),
    };
    let u = user.clone();
    let reason = f.reason.trim().to_owned();
    let (edited, warnings) = c
        .db(move |conn, inner| {
            let edited = change::edit_node(conn, &f.node, &edit, &f.reason, &inner.actor(&u))
                .map_err(PageError::invalid)?;
            let warnings = registration::node_warnings(conn, &inner.runtime, &edited.after)
                .map_err(|e| PageError::Internal(e.to_string()))?;
            Ok((edited, warnings))
        })
        .await?;
    let mut text = format!(
        "已修改节点「{}」的授权范围，原因：{reason}\n原授权范围：{}\n新授权范围：{}",
        edited.after.name, edited.before.scope, edited.after.scope
    );
    for w in warnings {
        text.push_str(&format!("\n警告：{w}"));
    }
    Ok(done(&c, &user, "/nodes", text))
}

#[derive(Debug, Deserialize)]
pub(super) struct RotateKey {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    node: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    reason: String,
}

/// 更换密钥 ([`change::rotate_key`]).
pub(super) async fn rotate_key(
    State(c): State<Console>,
    user: User,
    Form(f): Form<RotateKey>,
) -> Result<Response, PageError> {
    user.may_change(Permission::Administer, &f.csrf)?;
    let u = user.clone();
    let rotated = c
        .db(move |conn, inner| {
            change::rotate_key(conn, &f.node, &f.key, &f.reason, &inner.actor(&u))
                .map_err(PageError::invalid)
        })
        .await?;
    Ok(done(
        &c,
        &user,
        "/nodes",
        format!(
            "已为节点「{}」更换密钥：旧密钥 {} 即刻停用，新密钥 {} 从序号 {} 起签名；节点一方请运行 kaohe node rotate-key adopt",
            rotated.node.name,
            rotated.old.key_id,
            rotated.node.key.key_id,
            rotated.node.key.first_sequence
        ),
    ))
}

fn years(text: &str) -> Result<BTreeSet<i32>, PageError> {
    list(text)
        .into_iter()
        .map(|y| {
            y.parse::<i32>()
                .map_err(|_| PageError::Invalid(format!("年度「{y}」不是整数（bad year）")))
        })
        .collect()
}

fn list(text: &str) -> Vec<String> {
    text.split([',', '，', '、', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Every value of a repeated field of a urlencoded body.
fn form_urlencoded_values(body: &[u8], name: &str) -> Vec<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v)
        .collect()
}
