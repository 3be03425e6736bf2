//! 控制台账号（console accounts）：local accounts of the hub's web
//! console, their roles and their passwords, hashed with Argon2id.
//!
//! Roles ([`Role`]): 管理员 may do everything; 审核员 decides objections
//! and records excusals and penalty-cap overrides; 只读 reads (e.g. the
//! discipline commission on the copy list). Which role may do what is
//! [`Role::may`], the one place that says so.
//!
//! Every change (add, password, disable) commits with its audit record;
//! a login, good or bad, is audited by [`login`]'s caller through
//! [`record_login`]. Accounts are never deleted, only disabled, so a name
//! in the audit log always means one person.

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::json;

use crate::audit::{self, Actor};

/// Audit actions of accounts and console logins.
pub mod action {
    pub const ADD: &str = "account.add";
    pub const PASSWORD: &str = "account.password";
    pub const DISABLE: &str = "account.disable";
    pub const LOGIN: &str = "console.login";
    pub const LOGIN_FAILED: &str = "console.login_failed";
    pub const LOGOUT: &str = "console.logout";
}

/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// A console role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// 管理员.
    Admin,
    /// 审核员.
    Reviewer,
    /// 只读.
    ReadOnly,
}

/// What a console action needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Read any page, download exports and material.
    Read,
    /// Decide objections, record excusals and overrides.
    Review,
    /// Everything else that changes the hub: roster, nodes, packs,
    /// notices, approval, publication, rectification, accounts.
    Administer,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Admin, Role::Reviewer, Role::ReadOnly];

    /// As stored and typed: `admin`, `reviewer`, `readonly`.
    pub fn id(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Reviewer => "reviewer",
            Role::ReadOnly => "readonly",
        }
    }

    /// 管理员 / 审核员 / 只读.
    pub fn name_zh(self) -> &'static str {
        match self {
            Role::Admin => "管理员",
            Role::Reviewer => "审核员",
            Role::ReadOnly => "只读",
        }
    }

    /// Whether this role may do what needs `p`.
    pub fn may(self, p: Permission) -> bool {
        matches!(
            (self, p),
            (Role::Admin, _)
                | (Role::Reviewer, Permission::Read | Permission::Review)
                | (Role::ReadOnly, Permission::Read)
        )
    }
}

impl std::str::FromStr for Role {
    type Err = AccountError;
    /// The id or the Chinese name.
    fn from_str(s: &str) -> Result<Role, AccountError> {
        let s = s.trim();
        Role::ALL
            .into_iter()
            .find(|r| r.id() == s || r.name_zh() == s)
            .ok_or_else(|| AccountError::UnknownRole(s.to_owned()))
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name_zh())
    }
}

/// One account as stored (without its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub role: Role,
    pub created_at: String,
    pub created_by: String,
    pub password_changed_at: String,
    /// When and why it was disabled.
    pub disabled: Option<(String, String)>,
}

/// Adding or changing an account failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error(
        "未知角色 {0:?}：应为 管理员（admin）、审核员（reviewer）或 只读（readonly）（unknown role）"
    )]
    UnknownRole(String),
    #[error("账号名不能为空，也不能含空白或控制字符（bad account name {0:?}）")]
    BadName(String),
    #[error("账号 {0} 已存在（account exists）")]
    Exists(String),
    #[error("没有账号 {0}（no such account）")]
    NotFound(String),
    #[error("账号 {0} 已停用（account already disabled）")]
    AlreadyDisabled(String),
    #[error("密码太短：至少 {MIN_PASSWORD_CHARS} 个字符（password too short）")]
    WeakPassword,
    #[error("停用原因不能为空（reason required）")]
    NoReason,
    #[error(
        "不能停用自己正在使用的账号 {0}：请由另一位管理员停用（cannot disable your own account）"
    )]
    OwnAccount(String),
    #[error(
        "账号 {0} 是唯一有效的管理员，停用后将无人能管理账号：请先新建或指定另一位管理员（cannot disable the last enabled administrator）"
    )]
    LastAdmin(String),
    #[error("无法计算密码散列（cannot hash the password）：{0}")]
    Hash(String),
    #[error("数据库读写失败（database error）：{0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// Why a login was refused. The message shown is the same for a wrong
/// password and an unknown account, so names cannot be probed.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("账号或密码不正确（wrong account or password）")]
    Wrong,
    #[error("账号 {0} 已停用，请联系管理员（account disabled）")]
    Disabled(String),
    #[error("数据库读写失败（database error）：{0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// Adds an account with `password`.
pub fn add(
    conn: &mut Connection,
    name: &str,
    role: Role,
    password: &str,
    actor: &Actor,
) -> Result<Account, AccountError> {
    let name = check_name(name)?;
    let hash = hash_password(password)?;
    let tx = conn.transaction()?;
    let exists: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM accounts WHERE name = ?1)",
        [&name],
        |r| r.get(0),
    )?;
    if exists {
        return Err(AccountError::Exists(name));
    }
    let at = actor.at.to_string();
    tx.execute(
        "INSERT INTO accounts (name, role, password_hash, created_at, created_by, password_changed_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?4)",
        params![name, role.id(), hash, at, actor.operator],
    )?;
    audit::append(&tx, actor, action::ADD, &name, &json!({"role": role.id()}))?;
    tx.commit()?;
    find(conn, &name)?.ok_or(AccountError::NotFound(name))
}

/// Sets a new password (the account stays enabled or disabled).
pub fn set_password(
    conn: &mut Connection,
    name: &str,
    password: &str,
    actor: &Actor,
) -> Result<(), AccountError> {
    let hash = hash_password(password)?;
    let tx = conn.transaction()?;
    let n = tx.execute(
        "UPDATE accounts SET password_hash = ?1, password_changed_at = ?2 WHERE name = ?3",
        params![hash, actor.at.to_string(), name.trim()],
    )?;
    if n == 0 {
        return Err(AccountError::NotFound(name.trim().to_owned()));
    }
    audit::append(&tx, actor, action::PASSWORD, name.trim(), &json!({}))?;
    tx.commit()?;
    Ok(())
}

/// Disables an account with a reason; it can no longer log in. Refused
/// for the acting account itself (`actor.operator`) and for the last
/// enabled administrator, so the console always keeps one who can manage
/// accounts.
pub fn disable(
    conn: &mut Connection,
    name: &str,
    reason: &str,
    actor: &Actor,
) -> Result<(), AccountError> {
    let (name, reason) = (name.trim(), reason.trim());
    if reason.is_empty() {
        return Err(AccountError::NoReason);
    }
    let tx = conn.transaction()?;
    let state: Option<(Option<String>, String)> = tx
        .query_row(
            "SELECT disabled_at, role FROM accounts WHERE name = ?1",
            [name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let role = match state {
        None => return Err(AccountError::NotFound(name.to_owned())),
        Some((Some(_), _)) => return Err(AccountError::AlreadyDisabled(name.to_owned())),
        Some((None, role)) => role,
    };
    if actor.operator.trim() == name {
        return Err(AccountError::OwnAccount(name.to_owned()));
    }
    if role == Role::Admin.id() {
        let admins: i64 = tx.query_row(
            "SELECT COUNT(*) FROM accounts WHERE role = 'admin' AND disabled_at IS NULL",
            [],
            |r| r.get(0),
        )?;
        if admins <= 1 {
            return Err(AccountError::LastAdmin(name.to_owned()));
        }
    }
    tx.execute(
        "UPDATE accounts SET disabled_at = ?1, disabled_reason = ?2 WHERE name = ?3",
        params![actor.at.to_string(), reason, name],
    )?;
    audit::append(
        &tx,
        actor,
        action::DISABLE,
        name,
        &json!({"reason": reason}),
    )?;
    tx.commit()?;
    Ok(())
}

/// Every account, by name.
pub fn list(conn: &Connection) -> rusqlite::Result<Vec<Account>> {
    let mut stmt = conn.prepare(
        "SELECT name, role, created_at, created_by, password_changed_at, disabled_at, disabled_reason
         FROM accounts ORDER BY name",
    )?;
    let rows = stmt.query_map([], row_account)?;
    rows.collect()
}

/// One account.
pub fn find(conn: &Connection, name: &str) -> rusqlite::Result<Option<Account>> {
    conn.query_row(
        "SELECT name, role, created_at, created_by, password_changed_at, disabled_at, disabled_reason
         FROM accounts WHERE name = ?1",
        [name.trim()],
        row_account,
    )
    .optional()
}

/// Each account's last successful console login (`console.login` in the
/// audit log), as stored: account name → time.
pub fn last_logins(
    conn: &Connection,
) -> rusqlite::Result<std::collections::BTreeMap<String, String>> {
    audit::latest_per_subject(conn, action::LOGIN)
}

/// Whether any enabled administrator exists (the first one is made by
/// `kaohe hub init --admin` or `kaohe hub user add`).
pub fn has_admin(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM accounts WHERE role = 'admin' AND disabled_at IS NULL)",
        [],
        |r| r.get(0),
    )
}

/// Checks a name and password. Reads only: the caller audits the
/// outcome with [`record_login`].
pub fn login(conn: &Connection, name: &str, password: &str) -> Result<Account, LoginError> {
    let row: Option<String> = conn
        .query_row(
            "SELECT password_hash FROM accounts WHERE name = ?1",
            [name.trim()],
            |r| r.get(0),
        )
        .optional()?;
    let Some(hash) = row else {
        // Spend the time a real check takes, so an unknown name is not
        // told apart by the answer's speed.
        let _ = verify_password(dummy_hash(), password);
        return Err(LoginError::Wrong);
    };
    if !verify_password(&hash, password) {
        return Err(LoginError::Wrong);
    }
    let account = find(conn, name)?.ok_or(LoginError::Wrong)?;
    if account.disabled.is_some() {
        return Err(LoginError::Disabled(account.name));
    }
    Ok(account)
}

/// Audits a login attempt (`console.login` or `console.login_failed`)
/// under the name that was typed, with the address it came from.
pub fn record_login(
    conn: &Connection,
    name: &str,
    at: Timestamp,
    addr: &str,
    outcome: Result<(), &str>,
) -> rusqlite::Result<()> {
    let name = name.trim();
    let operator = if name.is_empty() { "（空）" } else { name };
    let actor = Actor::new(operator, at);
    let (act, detail) = match outcome {
        Ok(()) => (action::LOGIN, json!({"addr": addr})),
        Err(why) => (action::LOGIN_FAILED, json!({"addr": addr, "reason": why})),
    };
    audit::append(conn, &actor, act, operator, &detail).map(drop)
}

/// A random password of 16 letters and digits, for a first account.
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789";
    let bytes: [u8; 16] = rand::random();
    bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

/// An Argon2id hash of a random password nobody has, checked against for
/// unknown names (made once per process).
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_password(&generate_password()).unwrap_or_default())
}

fn check_name(name: &str) -> Result<String, AccountError> {
    let n = name.trim();
    if n.is_empty()
        || n.chars().any(|c| c.is_whitespace() || c.is_control())
        || n.chars().count() > 64
    {
        return Err(AccountError::BadName(name.to_owned()));
    }
    Ok(n.to_owned())
}

/// Argon2id with the crate's defaults (m = 19 MiB, t = 2, p = 1) and a
/// random salt, as a PHC string.
fn hash_password(password: &str) -> Result<String, AccountError> {
    use argon2::password_hash::{PasswordHasher as _, SaltString};
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(AccountError::WeakPassword);
    }
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|e| AccountError::Hash(e.to_string()))?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AccountError::Hash(e.to_string()))
}

fn verify_password(hash: &str, password: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier as _};
    PasswordHash::new(hash).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

fn row_account(r: &rusqlite::Row<'_>) -> rusqlite::Result<Account> {
    let role: String = r.get(1)?;
    let disabled_at: Option<String> = r.get(5)?;
    let reason: Option<String> = r.get(6)?;
    Ok(Account {
        name: r.get(0)?,
        role: role.parse().unwrap_or(Role::ReadOnly),
        created_at: r.get(2)?,
        created_by: r.get(3)?,
        password_changed_at: r.get(4)?,
        disabled: disabled_at.zip(reason),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor() -> Actor {
        Actor::new("初始化", "2024-03-01T08:00:00Z".parse().unwrap())
    }

    #[test]
    fn passwords_are_argon2id_and_a_login_checks_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::db::create(dir.path()).unwrap();
        assert!(!has_admin(&conn).unwrap());
        let a = add(&mut conn, "wang", Role::Admin, "correct horse 1", &actor()).unwrap();
        assert_eq!(a.role, Role::Admin);
        assert!(has_admin(&conn).unwrap());
        let stored: String = conn
            .query_row("SELECT password_hash FROM accounts", [], |r| r.get(0))
            .unwrap();
        assert!(stored.starts_with("$argon2id$v=19$"), "{stored}");
        assert!(!stored.contains("correct horse"));

        assert_eq!(
            login(&conn, "wang", "correct horse 1").unwrap().name,
            "wang"
        );
        assert!(matches!(
            login(&conn, "wang", "wrong password"),
            Err(LoginError::Wrong)
        ));
        assert!(matches!(
            login(&conn, "nobody", "correct horse 1"),
            Err(LoginError::Wrong)
        ));

        assert!(matches!(
            add(
                &mut conn,
                "wang",
                Role::Reviewer,
                "another pass 2",
                &actor()
            ),
            Err(AccountError::Exists(_))
        ));
        assert!(matches!(
            add(&mut conn, "li", Role::Reviewer, "short", &actor()),
            Err(AccountError::WeakPassword)
        ));
        assert!(matches!(
            add(&mut conn, "a b", Role::Reviewer, "long enough 3", &actor()),
            Err(AccountError::BadName(_))
        ));

        set_password(&mut conn, "wang", "new password 4", &actor()).unwrap();
        assert!(login(&conn, "wang", "correct horse 1").is_err());
        assert!(login(&conn, "wang", "new password 4").is_ok());

        // The last enabled administrator, and one's own account, stay.
        assert!(matches!(
            disable(&mut conn, "wang", "调离", &actor()),
            Err(AccountError::LastAdmin(_))
        ));
        add(&mut conn, "zhao", Role::Admin, "zhao password 5", &actor()).unwrap();
        let own = Actor::new("wang", actor().at);
        assert!(matches!(
            disable(&mut conn, "wang", "调离", &own),
            Err(AccountError::OwnAccount(_))
        ));
        disable(&mut conn, "wang", "调离", &actor()).unwrap();
        assert!(matches!(
            login(&conn, "wang", "new password 4"),
            Err(LoginError::Disabled(_))
        ));
        assert!(matches!(
            disable(&mut conn, "wang", "again", &actor()),
            Err(AccountError::AlreadyDisabled(_))
        ));
        let actions: Vec<String> = crate::audit::recent(&conn, 10)
            .unwrap()
            .into_iter()
            .map(|r| r.action)
            .collect();
        assert_eq!(
            actions,
            [action::ADD, action::PASSWORD, action::ADD, action::DISABLE]
        );
    }

    #[test]
    fn roles_say_who_may_do_what() {
        use Permission::*;
        assert!(Role::Admin.may(Administer) && Role::Admin.may(Review));
        assert!(Role::Reviewer.may(Review) && !Role::Reviewer.may(Administer));
        assert!(Role::ReadOnly.may(Read) && !Role::ReadOnly.may(Review));
        assert_eq!("审核员".parse::<Role>().unwrap(), Role::Reviewer);
        assert_eq!("readonly".parse::<Role>().unwrap(), Role::ReadOnly);
        assert!("boss".parse::<Role>().is_err());
    }
}
