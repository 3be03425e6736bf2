//! `kaohe node rotate-key prepare | adopt`: change the node's signing key
//! without losing its history (see [`crate::rotate`]).

use std::path::Path;

use anyhow::Context as _;

use super::{open, tokio_runtime};
use crate::{client, rotate};

#[derive(Debug, clap::Subcommand)]
pub(super) enum RotateKeyCommand {
    /// 生成新密钥（node.key.next）并显示公钥，交县依法治县办登记；本节点仍用原密钥
    /// （make the next key and show its public key）
    Prepare,
    /// 汇总中心登记新密钥后，改用新密钥：发件箱须已送达完毕；原密钥另存，序号接续
    /// （change over to the next key once the hub registered it）
    Adopt,
}

pub(super) fn run(dir: &Path, command: RotateKeyCommand) -> anyhow::Result<()> {
    match command {
        RotateKeyCommand::Prepare => {
            let (config, _store) = open(dir)?;
            let p = rotate::prepare(&config).context("生成新密钥（make the next key）")?;
            if p.new {
                println!("已生成新密钥（next key made）：{}", p.path.display());
            } else {
                println!(
                    "新密钥已存在，沿用（next key already made）：{}",
                    p.path.display()
                );
            }
            println!(
                "请将以下公钥交县依法治县办登记（kaohe hub node rotate-key）；登记后运行 kaohe node rotate-key adopt："
            );
            println!("  新公钥（public key）：{}", p.public_key);
            println!("  新密钥编号（key id）：{}", p.key_id);
            println!(
                "汇总中心启用 mTLS 的，还须按新密钥编号签发客户端证书（SAN：{}.node.kaohe）",
                p.key_id
            );
        }
        RotateKeyCommand::Adopt => {
            let (config, store) = open(dir)?;
            let adopted = tokio_runtime()?.block_on(async {
                let hub = client::connect(&config.hub, &config.hub.timeouts)
                    .await
                    .context("连接汇总中心（connect to the hub）")?;
                let now = || jiff::Timestamp::now().as_second();
                rotate::adopt(&config, &store, &hub, &now)
                    .await
                    .context("改用新密钥（adopt the next key）")
            })?;
            println!(
                "已改用新密钥 {}（key adopted）；原密钥 {} 另存于 {}，此前的上报与回执不受影响，序号接续",
                adopted.new,
                adopted.old,
                adopted.retired_path.display()
            );
            println!(
                "汇总中心启用 mTLS 的，请在 node.toml 的 hub.client_cert / hub.client_key 换上按新密钥编号签发的证书"
            );
        }
    }
    Ok(())
}
