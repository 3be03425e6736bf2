//! `kaohe hub backup` and `kaohe hub restore`: an online copy of `hub.db`,
//! and putting one back into an empty data directory.

use std::path::PathBuf;

use anyhow::Context;

use super::Invocation;
use crate::{config, db};

#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// 备份文件（backup file），须尚不存在
    #[arg(long, value_name = "文件")]
    pub out: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// 备份文件（backup file）
    #[arg(long, value_name = "文件")]
    pub from: PathBuf,
}

pub(super) fn run_backup(inv: &Invocation, BackupArgs { out }: BackupArgs) -> anyhow::Result<()> {
    let actor = inv.actor()?;
    let report = crate::backup::backup(inv.dir(), &out, &actor)
        .with_context(|| format!("备份数据库到 {}（backup）", out.display()))?;
    println!(
        "已备份到 {}：{} 字节，结构版本 {}，SHA-256 {}，完整性检查通过（backup written, integrity ok）",
        report.path.display(),
        report.bytes,
        report.schema_version,
        report.sha256
    );
    println!(
        "注意：hub.toml 与回执签名密钥 {} 不在备份中，请另行妥善保存（hub.toml and the receipt key are not included）",
        config::RECEIPT_KEY_FILE
    );
    Ok(())
}

pub(super) fn run_restore(
    inv: &Invocation,
    RestoreArgs { from }: RestoreArgs,
) -> anyhow::Result<()> {
    let dir = inv.dir();
    let actor = inv.actor()?;
    let report = crate::backup::restore(dir, &from, &actor)
        .with_context(|| format!("从 {} 恢复数据库（restore）", from.display()))?;
    println!(
        "已恢复数据库 {}（备份结构版本 {}，现为 {}），SHA-256 {}，完整性检查通过（restored）",
        report.path.display(),
        report.schema_version,
        db::SCHEMA_VERSION,
        report.sha256
    );
    if !dir.join(config::RECEIPT_KEY_FILE).exists() {
        println!(
            "数据目录中还没有回执签名密钥 {}：请放回原密钥（节点已固定其公钥），勿运行 init 生成新密钥（put the original receipt key back）",
            config::RECEIPT_KEY_FILE
        );
    }
    Ok(())
}
