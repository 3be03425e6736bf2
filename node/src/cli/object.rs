//! `kaohe node object`: an objection (a review request) with its
//! material, filed with the hub.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow, bail};
use kaohe_proto::SigningKeyPair;

use super::{open, tokio_runtime};
use crate::config::Timeouts;
use crate::{client, review};

#[derive(Debug, clap::Args)]
pub(super) struct ObjectArgs {
    /// 考核年度（assessment year）
    #[arg(long, value_name = "年度")]
    year: u16,
    /// 单位编号，须在本节点的考核范围内（unit id, in this node's scope）
    #[arg(long, value_name = "单位")]
    unit: String,
    /// 异议理由（the objection, in Chinese）
    #[arg(long, value_name = "理由")]
    reason: String,
    /// 证明材料文件，可重复；多个文件打包为一个 zip 送出，合计不超过 20 MiB（supporting material; repeatable）
    #[arg(long = "material", value_name = "文件", required = true)]
    materials: Vec<PathBuf>,
}

pub(super) fn run(dir: &Path, a: ObjectArgs) -> anyhow::Result<()> {
    let (config, _store) = open(dir)?;
    let key =
        SigningKeyPair::load(&config.key_file).context("读取节点私钥（load the node key）")?;
    if a.reason.trim().is_empty() {
        bail!("请用 --reason 写明异议理由（give the reason）");
    }
    let material =
        review::read_material(&a.materials).context("读取证明材料（read the material）")?;
    let size = material.bytes.len();
    let objection = review::objection(&a.unit, a.year, &a.reason, material);
    // One call per command: the stream's deadline bounds the whole upload
    // (the channel's per-call deadline would cut a slow 20 MiB upload).
    let timeouts = Timeouts {
        call: config.hub.timeouts.stream,
        ..config.hub.timeouts.clone()
    };
    println!(
        "正在向汇总中心提交异议及材料 {} 字节（filing the objection）…",
        size
    );
    let answer = tokio_runtime()?.block_on(async {
        let hub = client::connect(&config.hub, &timeouts)
            .await
            .context("连接汇总中心（connect to the hub）")?;
        let now = || jiff::Timestamp::now().as_second();
        anyhow::Ok(hub.file_objection(&key, objection, &now).await)
    })?;
    match answer {
        Ok(receipt) => {
            print!("{}", review::render_receipt(&a.unit, a.year, &receipt));
            Ok(())
        }
        Err(e) => Err(anyhow!("{e}")).context(format!(
            "汇总中心未受理单位 {} 的复核申请（objection not filed）",
            a.unit
        )),
    }
}
