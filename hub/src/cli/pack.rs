//! `kaohe hub pack publish | list`: signed rule packs.

use std::path::PathBuf;

use kaohe_tables::terminal;

use super::{Invocation, beijing, read_capped};
use crate::registry::packs;
use crate::{config, publish};

#[derive(Debug, clap::Subcommand)]
pub enum PackCommand {
    /// 核验发布机关签名（hub.toml 中的公钥与门槛）后发布规则包，成为该年度当前版本
    /// （verify the authorities' signatures and publish a pack）
    Publish {
        /// 规则包模块（.wasm）
        #[arg(value_name = "规则包")]
        module: PathBuf,
        /// 签名文件，默认为「规则包.sig」（signature file, default PACK.wasm.sig）
        #[arg(long, value_name = "签名文件")]
        sig: Option<PathBuf>,
    },
    /// 列出已发布的规则包版本（list published packs）
    List,
}

pub(super) fn run(inv: &Invocation, command: PackCommand) -> anyhow::Result<()> {
    let dir = inv.dir();
    match command {
        PackCommand::Publish { module, sig } => {
            let actor = inv.actor()?;
            let sig =
                sig.unwrap_or_else(|| kaohe_rulepacks::sign::command::default_sig_path(&module));
            let policy = config::HubConfig::load(dir)?.trust_policy(dir)?;
            let module_bytes =
                read_capped(&module, kaohe_proto::model::MAX_PACK_MODULE_BYTES as u64)?;
            let sig_bytes = read_capped(&sig, 1024 * 1024)?;
            let mut conn = inv.open()?;
            let runtime = inv.runtime()?;
            let (verified, outcome) = publish::publish_signed(
                &mut conn,
                &runtime,
                &policy,
                &module_bytes,
                &sig_bytes,
                &actor,
            )?;
            let id = &verified.identity;
            match outcome {
                packs::PublishOutcome::Published { superseded } => {
                    println!(
                        "已发布规则包 {id}（{}），SHA-256 {}，由 {} 个发布机关签名（published）",
                        verified.title,
                        hex::encode(id.module_sha256),
                        verified.signers.len()
                    );
                    if let Some(old) = superseded {
                        println!(
                            "第 {old} 版已被取代：按第 {old} 版计算的结果已标记为待重新评价（results of version {old} flagged for re-evaluation）"
                        );
                    }
                }
                packs::PublishOutcome::AlreadyPublished { is_current } => println!(
                    "规则包 {id} 已发布过，未作改动{}（already published）",
                    if is_current {
                        "（当前版本）"
                    } else {
                        "（非当前版本）"
                    }
                ),
            }
        }
        PackCommand::List => {
            let conn = inv.open()?;
            let rows: Vec<Vec<String>> = packs::list_packs(&conn)?
                .into_iter()
                .map(|p| {
                    vec![
                        p.identity.id.clone(),
                        p.identity.year.to_string(),
                        p.identity.version.to_string(),
                        if p.is_current {
                            "当前".into()
                        } else {
                            "已取代".into()
                        },
                        hex::encode(&p.identity.module_sha256[..8]),
                        p.module_len.to_string(),
                        beijing(p.published_at),
                        p.published_by,
                    ]
                })
                .collect();
            print!(
                "{}",
                terminal::render(
                    &[
                        "规则包",
                        "年度",
                        "版本",
                        "状态",
                        "SHA-256（前 8 字节）",
                        "字节",
                        "发布时间（北京）",
                        "发布人"
                    ],
                    &rows
                )
            );
        }
    }
    Ok(())
}
