//! 账户：the console's accounts, for administrators only — the list (role,
//! enabled or disabled, last login from the audit log), adding an account
//! with an initial password typed twice, resetting a password, disabling
//! an account with a reason (never deleting it). The same functions as
//! `kaohe hub user add | passwd | disable | list` ([`crate::accounts`]):
//! the password rules, the refusal to disable one's own account or the last
//! enabled administrator, and the audit record naming the acting account
//! are theirs.

use axum::Form;
use axum::extract::State;
use axum::response::Response;
use kaohe_web::fmt;
use maud::html;
use serde::Deserialize;

use super::{Console, PageError, User, csrf, done, render};
use crate::accounts::{self, MIN_PASSWORD_CHARS, Permission, Role};

pub(super) async fn page(State(c): State<Console>, user: User) -> Result<Response, PageError> {
    user.require(Permission::Administer)?;
    let u = user.clone();
    let body = c
        .db(move |conn, _| {
            let list = accounts::list(conn).map_err(PageError::db)?;
            let logins = accounts::last_logins(conn).map_err(PageError::db)?;
            let enabled: Vec<&accounts::Account> =
                list.iter().filter(|a| a.disabled.is_none()).collect();
            Ok(html! {
                h2 { "控制台账号（" (list.len()) " 个）" }
                p.muted { "账号只停用、不删除，审计日志中的账号名始终指同一人。不能停用自己正在使用的账号，也不能停用唯一有效的管理员。" }
                table {
                    thead { tr { th { "账号" } th { "角色" } th { "状态" } th { "建立时间" } th { "建立人" } th { "密码修改时间" } th { "上次登录" } } }
                    tbody { @for a in &list {
                        tr {
                            td { (a.name) }
                            td { (a.role.name_zh()) }
                            td { @match &a.disabled {
                                None => span.badge.good { "有效" },
                                Some((at, why)) => { span.badge.bad { "已停用" } " " (fmt::stored(at)) "，" (why) },
                            } }
                            td { (fmt::stored(&a.created_at)) }
                            td { (a.created_by) }
                            td { (fmt::stored(&a.password_changed_at)) }
                            td { (logins.get(&a.name).map(|t| fmt::stored(t)).unwrap_or_else(|| "从未登录".into())) }
                        }
                    } }
                }
                form.card method="post" action="/accounts" {
                    h3 { "新建账号" }
                    (csrf(&u))
                    label { "账号名（不含空格）" input type="text" name="name" required maxlength="64"; }
                    label { "角色 "
                        select name="role" { @for r in Role::ALL { option value=(r.id()) selected[r == Role::ReadOnly] { (r.name_zh()) } } }
                    }
                    label { "初始密码（至少 " (MIN_PASSWORD_CHARS) " 个字符）" input type="password" name="password" required autocomplete="new-password"; }
                    label { "再输入一次" input type="password" name="password2" required autocomplete="new-password"; }
                    button type="submit" { "新建账号" }
                }
                form.card method="post" action="/accounts/password" {
                    h3 { "重设密码" }
                    (csrf(&u))
                    label { "账号 "
                        select name="name" { @for a in &list { option value=(a.name) { (a.name) "（" (a.role.name_zh()) "）" } } }
                    }
                    label { "新密码（至少 " (MIN_PASSWORD_CHARS) " 个字符）" input type="password" name="password" required autocomplete="new-password"; }
                    label { "再输入一次" input type="password" name="password2" required autocomplete="new-password"; }
                    button type="submit" { "重设密码" }
                }
                form.card method="post" action="/accounts/disable" data-confirm="停用后该账号不能再登录，已登录的会话随即失效。确定停用？" {
                    h3 { "停用账号" }
                    (csrf(&u))
                    label { "账号 "
                        select name="name" { @for a in &enabled { option value=(a.name) { (a.name) "（" (a.role.name_zh()) "）" } } }
                    }
                    label { "停用原因（记入审计日志）" input type="text" name="reason" required; }
                    button type="submit" { "停用账号" }
                }
            })
        })
        .await?;
    Ok(render(&c, &user, "/accounts", "账户", body))
}

#[derive(Debug, Deserialize)]
pub(super) struct AddForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password2: String,
}

/// The two entries of a new password must agree (a typing slip is not
/// found out until the first login otherwise).
fn typed_twice(password: &str, again: &str) -> Result<(), PageError> {
    if password == again {
        Ok(())
    } else {
        Err(PageError::Invalid(
            "两次输入的密码不一致，未作修改（passwords differ; nothing changed）".into(),
        ))
    }
}

pub(super) async fn add(
    State(c): State<Console>,
    user: User,
    Form(f): Form<AddForm>,
) -> Result<Response, PageError> {
    user.may_change(Permission::Administer, &f.csrf)?;
    typed_twice(&f.password, &f.password2)?;
    let role: Role = f.role.parse().map_err(PageError::invalid)?;
    let u = user.clone();
    let account = c
        .db(move |conn, inner| {
            accounts::add(conn, &f.name, role, &f.password, &inner.actor(&u))
                .map_err(PageError::invalid)
        })
        .await?;
    Ok(done(
        &c,
        &user,
        "/accounts",
        format!(
            "已新建控制台账号 {}（{}）；请将初始密码当面告知本人",
            account.name, account.role
        ),
    ))
}

#[derive(Debug, Deserialize)]
pub(super) struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password2: String,
}

pub(super) async fn password(
    State(c): State<Console>,
    user: User,
    Form(f): Form<PasswordForm>,
) -> Result<Response, PageError> {
    user.may_change(Permission::Administer, &f.csrf)?;
    typed_twice(&f.password, &f.password2)?;
    let u = user.clone();
    let name = f.name.trim().to_owned();
    c.db(move |conn, inner| {
        accounts::set_password(conn, &f.name, &f.password, &inner.actor(&u))
            .map_err(PageError::invalid)
    })
    .await?;
    Ok(done(
        &c,
        &user,
        "/accounts",
        format!("已重设账号 {name} 的密码"),
    ))
}

#[derive(Debug, Deserialize)]
pub(super) struct DisableForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    reason: String,
}

pub(super) async fn disable(
    State(c): State<Console>,
    user: User,
    Form(f): Form<DisableForm>,
) -> Result<Response, PageError> {
    user.may_change(Permission::Administer, &f.csrf)?;
    let u = user.clone();
    let (name, reason) = (f.name.trim().to_owned(), f.reason.trim().to_owned());
    c.db(move |conn, inner| {
        accounts::disable(conn, &f.name, &f.reason, &inner.actor(&u)).map_err(PageError::invalid)
    })
    .await?;
    Ok(done(
        &c,
        &user,
        "/accounts",
        format!("已停用账号 {name}，原因：{reason}；该账号已登录的会话随即失效"),
    ))
}
