//! `kaohe node pack install` and `pack list`: a pack verified k of n
//! before it is activated, and the packs this node holds.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use kaohe_rulepacks::runtime::{Runtime, RuntimeConfig};

use super::{actor, open, print_self_test, print_superseded};

#[derive(Debug, clap::Subcommand)]
pub(super) enum PackCommand {
    /// 核验规则包的签发机构签名（k of n）并启用；未通过则原规则包不变（verify and activate a pack）
    Install {
        /// 规则包模块（.wasm）（the pack module）
        #[arg(value_name = "文件")]
        module: PathBuf,
        /// 签名文件；默认为 模块文件名.sig（signature file; default MODULE.sig）
        #[arg(long = "sig", alias = "signature", value_name = "签名文件")]
        signature: Option<PathBuf>,
        /// 操作人（默认为当前登录用户）（operator; default: the login user）
        #[arg(long, value_name = "姓名")]
        operator: Option<String>,
    },
    /// 列出本节点保存的规则包（list the packs this node holds）
    List,
}

/// Runs `kaohe node pack …`.
pub(super) fn run(dir: &Path, command: PackCommand) -> anyhow::Result<()> {
    match command {
        PackCommand::Install {
            module,
            signature,
            operator,
        } => install(dir, &module, signature, operator),
        PackCommand::List => list(dir),
    }
}

/// Largest module or signature file read.
const MAX_PACK_FILE_BYTES: u64 = 64 * 1024 * 1024;

fn read_capped(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    use std::io::Read as _;
    let f = std::fs::File::open(path)
        .with_context(|| format!("打开{what} {}（open the file）", path.display()))?;
    let mut bytes = Vec::new();
    f.take(MAX_PACK_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("读取{what} {}（read the file）", path.display()))?;
    if bytes.len() as u64 > MAX_PACK_FILE_BYTES {
        bail!(
            "{what} {} 超过 {MAX_PACK_FILE_BYTES} 字节（file too large）",
            path.display()
        );
    }
    Ok(bytes)
}

fn install(
    dir: &Path,
    module: &Path,
    signature: Option<PathBuf>,
    operator: Option<String>,
) -> anyhow::Result<()> {
    let (config, mut store) = open(dir)?;
    let actor = actor(operator)?;
    let sig_path = signature.unwrap_or_else(|| {
        let mut p = module.as_os_str().to_owned();
        p.push(".sig");
        PathBuf::from(p)
    });
    let bytes = read_capped(module, "规则包模块")?;
    let sig = read_capped(&sig_path, "签名文件")?;
    let envelope = kaohe_proto::Envelope::from_protobuf(&sig).with_context(|| {
        format!(
            "解码签名文件 {}（decode the signature file）",
            sig_path.display()
        )
    })?;
    let runtime = Runtime::new(RuntimeConfig::with_cache_under(dir))
        .context("启动规则包运行环境（start the pack runtime）")?;
    let installed = crate::pack::install(&mut store, &config, &runtime, &bytes, &envelope, &actor)
        .with_context(|| format!("启用规则包 {}（activate the pack）", module.display()))?;
    println!(
        "已启用规则包（pack activated）：{}　{}",
        installed.identity, installed.title
    );
    println!(
        "  模块 SHA-256：{}",
        hex::encode(installed.identity.module_sha256)
    );
    for k in &installed.signers {
        println!("  签发机构（signed by）：{k}");
    }
    print_self_test(&installed);
    print_superseded(&installed);
    Ok(())
}

fn list(dir: &Path) -> anyhow::Result<()> {
    let (_config, store) = open(dir)?;
    let rows: Vec<Vec<String>> = store
        .packs()
        .context("读取规则包（read the packs）")?
        .into_iter()
        .map(|(id, active)| {
            vec![
                id.year.to_string(),
                id.id.clone(),
                id.version.to_string(),
                hex::encode(&id.module_sha256[..8]),
                if active {
                    "启用中（active）".into()
                } else {
                    String::new()
                },
            ]
        })
        .collect();
    print!(
        "{}",
        kaohe_tables::terminal::render(
            &["年度", "规则包", "版本", "SHA-256（前8字节）", "状态"],
            &rows
        )
    );
    Ok(())
}
