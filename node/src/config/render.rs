//! The text of `node.toml` as `kaohe node init` writes it, every optional
//! key shown commented out with what it is for.

use std::path::Path;

use kaohe_rulepacks::manifest::Assessor;

use super::{DEFAULT_KEY_FILE, DEFAULT_STORE_FILE, HUB_TIMEOUT_KEYS};

/// The text of a config file without a client certificate.
pub fn render(
    name: &str,
    assessor: Assessor,
    hub_address: &str,
    ca_cert: Option<&Path>,
    receipt_key: Option<&str>,
    keys: &[String],
    threshold: usize,
) -> String {
    let tls = TlsFiles {
        ca_cert,
        ..TlsFiles::default()
    };
    render_with_tls(
        name,
        assessor,
        hub_address,
        &tls,
        receipt_key,
        keys,
        threshold,
    )
}

/// The files of `[hub]` that set up TLS, as `init` writes them.
#[derive(Debug, Clone, Copy, Default)]
pub struct TlsFiles<'a> {
    /// `hub.ca_cert`.
    pub ca_cert: Option<&'a Path>,
    /// `hub.client_cert` and `hub.client_key`, presented for mTLS.
    pub client: Option<(&'a Path, &'a Path)>,
    /// `hub.crl`, the county CA's revocation list.
    pub crl: Option<&'a Path>,
}

/// The text of a config file (what `init` writes).
pub fn render_with_tls(
    name: &str,
    assessor: Assessor,
    hub_address: &str,
    tls: &TlsFiles<'_>,
    receipt_key: Option<&str>,
    keys: &[String],
    threshold: usize,
) -> String {
    let TlsFiles {
        ca_cert,
        client,
        crl,
    } = *tls;
    let q = |s: &str| toml::Value::String(s.to_string()).to_string();
    let mut out = String::new();
    out.push_str(
        "# kaohe 节点配置（node configuration）。修改后下一条命令即生效；每项均会在联网前检查。\n",
    );
    out.push_str(&format!("name = {}\n", q(name)));
    out.push_str(&format!(
        "assessor = {}  # {}\n",
        q(assessor.id()),
        assessor.name_zh()
    ));
    out.push_str(&format!("key_file = {}\n", q(DEFAULT_KEY_FILE)));
    out.push_str(&format!("store = {}\n", q(DEFAULT_STORE_FILE)));
    out.push_str("\n[hub]\n");
    out.push_str(&format!("address = {}\n", q(hub_address)));
    match ca_cert {
        Some(p) => out.push_str(&format!("ca_cert = {}\n", q(&p.display().to_string()))),
        None => out.push_str(
            "# ca_cert = \"/path/to/hub-ca.pem\"  # 使用 https 时必填（required for https）\n",
        ),
    }
    out.push_str(
        "# 汇总中心回执公钥：由县依法治县办随节点登记一并提供（`kaohe hub init` 显示），用于离线核验每份回执；未填写则不能送达。\n",
    );
    match receipt_key {
        Some(k) => out.push_str(&format!("receipt_key = {}\n", q(k))),
        None => out.push_str("# receipt_key = \"ed25519:…\"\n"),
    }
    out.push_str(
        "# 客户端证书（mTLS）：汇总中心以 --client-ca 运行时必填，证书须含 DNS 名称「密钥编号.node.kaohe」；两项同时设置。\n",
    );
    match client {
        Some((cert, key)) => {
            out.push_str(&format!(
                "client_cert = {}\n",
                q(&cert.display().to_string())
            ));
            out.push_str(&format!("client_key = {}\n", q(&key.display().to_string())));
        }
        None => out.push_str(
            "# client_cert = \"/path/to/node-tls.pem\"\n# client_key = \"/path/to/node-tls.key\"\n",
        ),
    }
    out.push_str(
        "# 县 CA 的证书吊销列表（PEM 或 DER）：设置后每次连接都核对汇总中心的证书是否已被吊销；列表过期后须换用县依法治县办下发的新列表。\n",
    );
    match crl {
        Some(p) => out.push_str(&format!("crl = {}\n", q(&p.display().to_string()))),
        None => out.push_str("# crl = \"/path/to/county-ca.crl\"\n"),
    }
    out.push_str(
        "# 时限（整数秒，以下为默认值）：汇总中心超时不答复时本次命令中止并说明，发件箱中未获回执的提交全部保留待重发（deadlines, seconds; defaults shown）。\n",
    );
    for (key, default, max) in HUB_TIMEOUT_KEYS {
        let what = match key {
            "connect_timeout_secs" => "建立连接（connect）",
            "call_timeout_secs" => "单次调用（one call）",
            _ => "一次送达数据流，从首份到末份回执（one delivery stream）",
        };
        out.push_str(&format!("# {key} = {default}  # {what}，1–{max}\n"));
    }
    out.push_str("\n# 规则包签发机构的公钥：同步时须至少 threshold 个签名有效（k of n）。\n");
    out.push_str("[pack_authorities]\n");
    out.push_str("keys = [");
    for (i, k) in keys.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&q(k));
    }
    out.push_str("]\n");
    out.push_str(&format!("threshold = {threshold}\n"));
    out
}
