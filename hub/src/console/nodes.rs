//! 节点：the registered nodes with their state and delegated scope, the
//! registration of a node with its public key and scope (units by
//! category, subtree or list × methods × years), and revocation.
//!
//! Scope edits and key rotation are separate actions with their own
//! handlers once the registry offers them; this page changes a node only
//! through [`nodes::add_node`] and [`nodes::revoke_node`].

use axum::Form;
use axum::extract::State;
use axum::response::Response;
use kaohe_web::fmt;
use maud::{Markup, html};
use rusqlite::Connection;
use serde::Deserialize;

use super::{Console, PageError, User, csrf, done, render};
use crate::accounts::Permission;
use crate::registry::nodes::{self, AssessorKind, NewNode, NodeState};
use crate::registry::scope::{METHODS, Scope};

pub(super) async fn page(State(c): State<Console>, user: User) -> Result<Response, PageError> {
    user.require(Permission::Read)?;
    let u = user.clone();
    let body = c.db(move |conn, _| body(conn, &u)).await?;
    Ok(render(&c, &user, "/nodes", "节点", body))
}

fn body(conn: &Connection, user: &User) -> Result<Markup, PageError> {
    let list = nodes::list_nodes(conn).map_err(|e| PageError::Internal(e.to_string()))?;
    let admin = user.role.may(Permission::Administer);
    Ok(html! {
        h2 { "已登记节点（" (list.len()) "）" }
        table {
            thead { tr { th { "节点名称" } th { "考核主体" } th { "密钥编号" } th { "状态" } th { "授权范围" } @if admin { th.no-print { "吊销" } } } }
            tbody {
                @for n in &list {
                    tr {
                        td { (n.name) }
                        td { (n.assessor.name_zh()) }
                        td { code { (n.key_id.as_str()) } }
                        td { @match &n.state {
                            NodeState::Active => span.badge.good { "有效" },
                            NodeState::Revoked { at, reason } => { span.badge.bad { "已吊销" } " " (fmt::datetime(*at)) "，" (reason) },
                        } }
                        td { (n.scope.to_string()) }
                        @if admin {
                            td.no-print {
                                @if matches!(n.state, NodeState::Active) {
                                    form method="post" action="/nodes/revoke" data-confirm=(format!("确定吊销节点「{}」？此后其上报一律拒收。", n.name)) {
                                        (csrf(user))
                                        input type="hidden" name="node" value=(n.key_id.as_str());
                                        input type="text" name="reason" placeholder="吊销原因" required;
                                        button type="submit" { "吊销" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if admin {
            form.card method="post" action="/nodes" {
                h3 { "登记节点" }
                (csrf(user))
                label { "节点名称 " input type="text" name="name" placeholder="如：肖旗乡考核节点" required; }
                label { "考核主体类型 "
                    select name="assessor" {
                        @for k in AssessorKind::ALL { option value=(k.id()) { (k.name_zh()) } }
                    }
                }
                label { "节点公钥（kaohe node init 显示的 ed25519:…）" input type="text" name="key" size="60" required; }
                fieldset {
                    legend { "授权的单位（至少一项）" }
                    label { "类别（逗号分隔，如 township,department）" input type="text" name="categories"; }
                    label { "下级单位树（单位编号，逗号分隔）" input type="text" name="subtrees"; }
                    label { "单位清单（单位编号，逗号分隔）" input type="text" name="units"; }
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
    })
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
    let years = list(&f.years)
        .into_iter()
        .map(|y| {
            y.parse::<i32>()
                .map_err(|_| PageError::Invalid(format!("年度「{y}」不是整数（bad year）")))
        })
        .collect::<Result<_, _>>()?;
    let scope = Scope {
        categories: list(&f.categories).into_iter().collect(),
        subtrees: list(&f.subtrees).into_iter().collect(),
        units: list(&f.units).into_iter().collect(),
        methods: methods.into_iter().collect(),
        years,
    };
    let u = user.clone();
    let (node, warnings) = c
        .db(move |conn, inner| {
            let node = nodes::add_node(
                conn,
                NewNode {
                    name: f.name,
                    assessor,
                    public_key: f.key,
                    scope,
                },
                &inner.actor(&u),
            )
            .map_err(PageError::invalid)?;
            let warnings = nodes::scope_warnings(conn, &node.scope)
                .map_err(|e| PageError::Internal(e.to_string()))?;
            Ok((node, warnings))
        })
        .await?;
    let mut text = format!(
        "已登记节点「{}」，密钥编号 {}；授权范围：{}",
        node.name, node.key_id, node.scope
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
            node.key_id,
            reason.trim()
        ),
    ))
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
