//! `kaohe node init`: data directory, key, config and store, and the
//! public key to hand to the county office.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use kaohe_rulepacks::manifest::Assessor;

use crate::init::{self, InitOptions};

#[derive(Debug, clap::Args)]
pub(super) struct InitArgs {
    /// 汇总中心地址，如 https://127.0.0.1:7443（hub address）
    #[arg(long, value_name = "地址")]
    hub: String,
    /// 节点名称，如 宝丰县依法治县办（node name）
    #[arg(long, value_name = "名称")]
    name: String,
    /// 考核主体（assessor）
    #[arg(long, value_parser = parse_assessor, value_name = "主体")]
    assessor: Assessor,
    /// 规则包签发机构公钥 ed25519:…，可重复（pack authority key; repeatable）
    #[arg(long = "authority-key", value_name = "公钥")]
    authority_keys: Vec<String>,
    /// 至少需要几个签发机构签名（k of n；默认全部）（signatures required）
    #[arg(long, value_name = "K")]
    threshold: Option<usize>,
    /// 签发汇总中心证书的 CA 证书（PEM），使用 https 时必填（hub CA certificate）
    #[arg(long, value_name = "文件")]
    ca_cert: Option<PathBuf>,
    /// 汇总中心回执公钥 ed25519:…（县依法治县办提供，即 `kaohe hub init` 显示的回执公钥），用于离线核验回执（the hub's receipt public key, pinned）
    #[arg(long, value_name = "公钥")]
    hub_receipt_key: Option<String>,
    /// 本节点的客户端证书（PEM），汇总中心启用 mTLS（--client-ca）时必填；证书须含 DNS 名称「密钥编号.node.kaohe」（client certificate for mTLS）
    #[arg(long, value_name = "文件", requires = "client_key")]
    client_cert: Option<PathBuf>,
    /// 客户端证书的私钥（PEM，未加密），与 --client-cert 同时给出（its private key）
    #[arg(long, value_name = "文件", requires = "client_cert")]
    client_key: Option<PathBuf>,
    /// 县 CA 的证书吊销列表（PEM 或 DER），仅用于 https：每次连接都核对汇总中心的证书是否已被吊销（the county CA's CRL）
    #[arg(long, value_name = "文件")]
    crl: Option<PathBuf>,
}

pub(super) fn run(dir: &Path, a: InitArgs) -> anyhow::Result<()> {
    let report = init::init(&InitOptions {
        data_dir: dir.to_path_buf(),
        hub: a.hub,
        name: a.name,
        assessor: a.assessor,
        authority_keys: a.authority_keys,
        threshold: a.threshold,
        ca_cert: a.ca_cert,
        hub_receipt_key: a.hub_receipt_key,
        client_cert: a.client_cert,
        client_key: a.client_key,
        crl: a.crl,
    })
    .context("初始化节点（initialise the node）")?;
    let c = &report.config;
    println!("节点已初始化（node initialised）：{}", dir.display());
    println!(
        "  名称（name）：{}　考核主体（assessor）：{}（{}）",
        c.name,
        c.assessor.name_zh(),
        c.assessor.id()
    );
    println!("  配置（config）：{}", c.path.display());
    println!("  证据库（store）：{}", c.store_file.display());
    println!("  私钥（key, mode 0600）：{}", c.key_file.display());
    println!();
    println!(
        "请将以下公钥和密钥编号交县依法治县办登记（register this key with the county office）："
    );
    println!("  公钥（public key）：{}", report.public_key);
    println!("  密钥编号（key id）：{}", report.key_id);
    if c.authorities.keys.is_empty() {
        println!();
        println!(
            "注意：尚未配置规则包签发机构公钥，同步前请在 node.toml 的 [pack_authorities] 中填写（no pack authority keys pinned yet）。"
        );
    }
    if c.hub.receipt_key.is_none() {
        println!();
        println!(
            "注意：尚未配置汇总中心回执公钥，送达前请在 node.toml 的 [hub] receipt_key 中填写（no hub receipt key pinned yet: nothing is delivered until it is）。"
        );
    }
    Ok(())
}

fn parse_assessor(s: &str) -> Result<Assessor, String> {
    Assessor::from_id(s).ok_or_else(|| {
        format!("须为 county_office、sasac、health_commission、township 或 county_unit（unknown assessor {s:?}）")
    })
}
