//! `kaohe hub user add | passwd | disable | list`: the web console's
//! accounts. A password is read from standard input (`--password-stdin`)
//! or generated and printed once.

use std::io::BufRead as _;

use anyhow::{Context, bail};
use kaohe_tables::terminal;

use super::{Invocation, beijing};
use crate::accounts::{self, Role};

#[derive(Debug, clap::Subcommand)]
pub enum UserCommand {
    /// 新建控制台账号；不给 --password-stdin 则生成随机密码并显示一次（add an account）
    Add {
        /// 账号名（account name），如 wangfang
        #[arg(value_name = "账号")]
        name: String,
        /// 角色（role）：admin 管理员、reviewer 审核员、readonly 只读
        #[arg(long, value_name = "角色")]
        role: Role,
        /// 从标准输入读取密码（第一行）（read the password from stdin）
        #[arg(long)]
        password_stdin: bool,
    },
    /// 重设账号密码（set a new password）
    Passwd {
        #[arg(value_name = "账号")]
        name: String,
        /// 从标准输入读取密码（第一行）（read the password from stdin）
        #[arg(long)]
        password_stdin: bool,
    },
    /// 停用账号：此后不能登录，已登录的会话随即失效（disable an account）
    Disable {
        #[arg(value_name = "账号")]
        name: String,
        /// 停用原因，记入审计日志（reason）
        #[arg(long, value_name = "原因")]
        reason: String,
    },
    /// 列出控制台账号（list accounts）
    List,
}

pub(super) fn run(inv: &Invocation, command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add {
            name,
            role,
            password_stdin,
        } => {
            let actor = inv.actor()?;
            let mut conn = inv.open()?;
            let (password, generated) = password(password_stdin)?;
            let account = accounts::add(&mut conn, &name, role, &password, &actor)?;
            println!(
                "已新建控制台账号 {}（{}）（account added）",
                account.name, account.role
            );
            if generated {
                print_generated(&password);
            }
        }
        UserCommand::Passwd {
            name,
            password_stdin,
        } => {
            let actor = inv.actor()?;
            let mut conn = inv.open()?;
            let (password, generated) = password(password_stdin)?;
            accounts::set_password(&mut conn, &name, &password, &actor)?;
            println!("已重设账号 {} 的密码（password set）", name.trim());
            if generated {
                print_generated(&password);
            }
        }
        UserCommand::Disable { name, reason } => {
            let actor = inv.actor()?;
            let mut conn = inv.open()?;
            accounts::disable(&mut conn, &name, &reason, &actor)?;
            println!(
                "已停用账号 {}，原因：{}（account disabled）",
                name.trim(),
                reason.trim()
            );
        }
        UserCommand::List => {
            let conn = inv.open()?;
            let rows: Vec<Vec<String>> = accounts::list(&conn)?
                .into_iter()
                .map(|a| {
                    vec![
                        a.name,
                        a.role.to_string(),
                        stored_time(&a.created_at),
                        a.created_by,
                        match a.disabled {
                            None => "有效".into(),
                            Some((at, why)) => format!("已停用（{}，{why}）", stored_time(&at)),
                        },
                    ]
                })
                .collect();
            if rows.is_empty() {
                println!("尚无控制台账号：用 kaohe hub user add 新建（no accounts）");
            } else {
                print!(
                    "{}",
                    terminal::render(
                        &["账号", "角色", "建立时间（北京）", "建立人", "状态"],
                        &rows
                    )
                );
            }
        }
    }
    Ok(())
}

/// Makes the first administrator at `hub init --admin`, unless an
/// enabled one exists.
pub(super) fn first_admin(inv: &Invocation, name: &str) -> anyhow::Result<()> {
    let mut conn = inv.open()?;
    if accounts::has_admin(&conn)? {
        println!(
            "已有管理员账号，未新建 {}（an administrator exists）",
            name.trim()
        );
        return Ok(());
    }
    let actor = inv.actor()?;
    let password = accounts::generate_password();
    let account = accounts::add(&mut conn, name, Role::Admin, &password, &actor)?;
    println!(
        "已新建控制台管理员账号 {}（first administrator）",
        account.name
    );
    print_generated(&password);
    Ok(())
}

fn password(from_stdin: bool) -> anyhow::Result<(String, bool)> {
    if !from_stdin {
        return Ok((accounts::generate_password(), true));
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("从标准输入读取密码（read the password from stdin）")?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        bail!("标准输入中没有密码（no password on stdin）");
    }
    Ok((password, false))
}

fn print_generated(password: &str) {
    println!("初始密码（只显示这一次，请登录后尽快告知本人并妥善保管）：{password}");
}

fn stored_time(text: &str) -> String {
    text.parse::<jiff::Timestamp>()
        .map(beijing)
        .unwrap_or_else(|_| text.to_owned())
}
