//! `kaohe hub init`: the data directory, the database (created or
//! upgraded), the receipt key and the `hub.toml` template.

use anyhow::Context;

use super::Invocation;
use crate::{config, db};

#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// 同时新建网页控制台的第一个管理员账号，随机密码显示一次（first console administrator）
    #[arg(long, value_name = "账号")]
    pub admin: Option<String>,
}

pub(super) fn run(inv: &Invocation, args: InitArgs) -> anyhow::Result<()> {
    let dir = inv.dir();
    let conn = db::create(dir).context("初始化数据库（initialise database）")?;
    db::integrity_check(&conn).context("检查数据库（check database）")?;
    println!(
        "数据库已就绪：{}（结构版本 {}）（database ready）",
        dir.join(db::DB_FILE).display(),
        db::schema_version(&conn)?
    );
    let (key, created) =
        config::init_receipt_key(dir).context("准备回执签名密钥（prepare the receipt key）")?;
    println!(
        "{}回执签名密钥：{}（权限 0600）（receipt key）\n回执公钥（发给各节点用于核对回执）：{}",
        if created { "已生成" } else { "已有" },
        dir.join(config::RECEIPT_KEY_FILE).display(),
        key.public()
    );
    if config::write_template(dir).context("写入配置文件（write hub.toml）")? {
        println!(
            "已生成配置文件 {}：发布规则包前请填写发布机关公钥与签名门槛（config template written）",
            dir.join(config::CONFIG_FILE).display()
        );
    }
    if let Some(name) = &args.admin {
        super::user::first_admin(inv, name)?;
    }
    Ok(())
}
