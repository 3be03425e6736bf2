//! 节点配置（node configuration）：数据目录中的 `node.toml`。
//!
//! Loaded and checked **before anything connects or writes**: every problem
//! is collected and reported at once, each naming the file, the key and what
//! is expected. `kaohe node init` renders the file and runs it through the
//! same check before writing it, so init can never leave a config that the
//! next command refuses.
//!
//! ```toml
//! # kaohe 节点配置（node configuration）
//! name = "宝丰县依法治县办"            # the node's name, as the county office registers it
//! assessor = "county_office"          # county_office | sasac | health_commission | township | county_unit
//! key_file = "node.key"               # default; relative paths are relative to this file
//! store = "node.db"                   # default
//!
//! [hub]
//! address = "https://127.0.0.1:7443"  # https; plain http only to a loopback address
//! ca_cert = "/etc/kaohe/hub-ca.pem"   # PEM; required for https (this build trusts no system roots)
//! receipt_key = "ed25519:…"           # the hub's receipt public key (`kaohe hub init` prints it)
//! client_cert = "/etc/kaohe/node-tls.pem"  # optional, https only: the node's client certificate (mTLS)
//! client_key = "/etc/kaohe/node-tls.key"   # its private key (PEM, unencrypted); both or neither
//! crl = "/etc/kaohe/county-ca.crl"    # optional, https only: the county CA's revocation list (PEM or DER)
//! connect_timeout_secs = 10           # optional deadlines, whole seconds (these are the defaults):
//! call_timeout_secs = 60              #   connecting; one call; one SubmitStream from first
//! stream_timeout_secs = 600           #   envelope to last receipt (see `HUB_TIMEOUT_KEYS`)
//!
//! [pack_authorities]                  # pinned keys that sign rule packs
//! keys = ["ed25519:…"]
//! threshold = 1                       # k of n; 1 ≤ k ≤ n (0 only with no keys)
//! ```
//!
//! With no pinned keys the node works offline (template, import) but no
//! pack can be activated by sync until keys are pinned.
//!
//! **The hub's receipt key is pinned, never learned from the hub.** A
//! receipt is the node's only proof that the hub committed a submission,
//! and the node checks it offline against `hub.receipt_key`. The hub does
//! not publish the key over gRPC, and taking it from the first connection
//! (trust on first use) would let whoever answers first — a wrong address,
//! a plain-http loopback relay, a mis-issued certificate — sign receipts
//! for submissions that were never stored. So the county office hands the
//! key out with the node's registration (`kaohe hub init` prints it; it
//! never changes) and `kaohe node init --hub-receipt-key` pins it. Without
//! it the node evaluates and queues, but does not deliver.
//!
//! **Client certificate (mTLS).** A hub served with `--client-ca` serves
//! only connections that present a certificate of the county CA naming the
//! node (`DNS:<key id>.node.kaohe`). `hub.client_cert` and `hub.client_key`
//! (both or neither, https only) are presented on every connection.
//!
//! **Revoked hub certificates.** With `hub.crl` (https only) the node
//! checks the hub's certificate against the county CA's certificate
//! revocation list on every connection and refuses a revoked one; a list
//! that the CA did not sign, or whose `nextUpdate` has passed, refuses
//! every connection until the county office hands out a fresh one (see
//! [`crate::tls`]). The file is read when a command connects.
//!
//! **Deadlines.** Every call to the hub has one ([`crate::client::Timeouts`]):
//! a hub that accepts the connection and then says nothing costs a command
//! at most `connect_timeout_secs` + `call_timeout_secs` (a delivery at most
//! `stream_timeout_secs`), and the outbox keeps every entry without a
//! receipt. Each is a whole number of seconds within [`HUB_TIMEOUT_KEYS`]'s
//! bounds.

use std::fmt;
use std::path::{Path, PathBuf};

use kaohe_proto::PublicKey;
use kaohe_rulepacks::manifest::Assessor;

use crate::client::{
    DEFAULT_CALL_TIMEOUT_SECS, DEFAULT_CONNECT_TIMEOUT_SECS, DEFAULT_STREAM_TIMEOUT_SECS, Timeouts,
};

/// The configuration file inside the data directory.
pub const CONFIG_FILE: &str = "node.toml";
/// Default key file name, next to the config.
pub const DEFAULT_KEY_FILE: &str = "node.key";
/// Default store file name, next to the config.
pub const DEFAULT_STORE_FILE: &str = crate::store::DB_FILE;
/// Config files larger than this are refused unread.
const MAX_CONFIG_BYTES: u64 = 64 * 1024;
/// Longest node name, in characters.
const MAX_NAME_CHARS: usize = 100;

/// A checked node configuration; paths are resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    /// The file it was read from.
    pub path: PathBuf,
    pub name: String,
    pub assessor: Assessor,
    pub key_file: PathBuf,
    pub store_file: PathBuf,
    pub hub: HubConfig,
    pub authorities: PackAuthorities,
}

/// Where the hub is and how to trust it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubConfig {
    /// `https://host:port` (or `http://` to a loopback host), no path.
    pub address: String,
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// PEM file of the CA that signed the hub's certificate.
    pub ca_cert: Option<PathBuf>,
    /// The hub's receipt public key, pinned (see the module docs).
    pub receipt_key: Option<PublicKey>,
    /// The node's client certificate and key (PEM) for mTLS, if configured.
    pub client_identity: Option<ClientIdentity>,
    /// The county CA's certificate revocation list (PEM or DER), checked
    /// against the hub's certificate on every connection.
    pub crl: Option<PathBuf>,
    /// Deadlines of every call (`connect_timeout_secs` …; defaults if absent).
    pub timeouts: Timeouts,
}

/// The `[hub]` deadline keys: key, default seconds, largest accepted
/// seconds (the smallest is 1).
pub const HUB_TIMEOUT_KEYS: [(&str, u64, u64); 3] = [
    ("connect_timeout_secs", DEFAULT_CONNECT_TIMEOUT_SECS, 600),
    ("call_timeout_secs", DEFAULT_CALL_TIMEOUT_SECS, 3_600),
    ("stream_timeout_secs", DEFAULT_STREAM_TIMEOUT_SECS, 86_400),
];

/// PEM files of the node's TLS client certificate and its private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The pinned pack-authority keys and how many must sign a pack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackAuthorities {
    pub keys: Vec<PublicKey>,
    pub threshold: usize,
}

/// One thing wrong in the config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Dotted key, e.g. `hub.address`.
    pub key: String,
    /// What is expected there (Chinese, English beside).
    pub expected: String,
    /// What was found, if anything.
    pub found: Option<String>,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.found {
            Some(found) => write!(f, "{}：应为{}，实为 {found}", self.key, self.expected),
            None => write!(f, "{}：缺少此项，应为{}", self.key, self.expected),
        }
    }
}

/// The config could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "找不到节点配置 {path}，请先运行 `kaohe node init`（no node configuration: run `kaohe node init` first）"
    )]
    NotFound { path: PathBuf },
    #[error("不能读取节点配置 {path}（cannot read the node configuration）：{source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("节点配置 {path} 超过 {MAX_CONFIG_BYTES} 字节（configuration file too large）")]
    TooLarge { path: PathBuf },
    #[error("节点配置 {path} 不是有效的 TOML（invalid TOML）：{message}")]
    Syntax { path: PathBuf, message: String },
    #[error("{}", invalid_message(path, problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<ConfigProblem>,
    },
}

fn invalid_message(path: &Path, problems: &[ConfigProblem]) -> String {
    let mut out = format!(
        "节点配置 {} 有 {} 处问题（invalid node configuration）：",
        path.display(),
        problems.len()
    );
    for p in problems {
        out.push_str("\n  ");
        out.push_str(&p.to_string());
    }
    out
}

impl NodeConfig {
    /// Reads and checks `DATA_DIR/node.toml`.
    pub fn load_from_dir(data_dir: &Path) -> Result<NodeConfig, ConfigError> {
        NodeConfig::load(&data_dir.join(CONFIG_FILE))
    }

    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<NodeConfig, ConfigError> {
        use std::io::Read as _;
        let file = std::fs::File::open(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                ConfigError::NotFound {
                    path: path.to_path_buf(),
                }
            } else {
                ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                }
            }
        })?;
        let mut text = String::new();
        file.take(MAX_CONFIG_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|source| ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })?;
        if text.len() as u64 > MAX_CONFIG_BYTES {
            return Err(ConfigError::TooLarge {
                path: path.to_path_buf(),
            });
        }
        NodeConfig::parse(&text, path)
    }

    /// Checks config text as if read from `path` (relative paths in it are
    /// resolved against `path`'s directory).
    pub fn parse(text: &str, path: &Path) -> Result<NodeConfig, ConfigError> {
        let table: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: path.to_path_buf(),
            message: e.to_string().trim().to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut p = Problems::default();
        p.unknown_keys(
            &table,
            "",
            &[
                "name",
                "assessor",
                "key_file",
                "store",
                "hub",
                "pack_authorities",
            ],
        );

        let name = p.string(
            &table,
            "name",
            "name",
            "节点名称（非空文字，最多 100 字）（the node's name）",
        );
        let name = name.and_then(|n| {
            let n = n.trim().to_string();
            if n.is_empty() || n.chars().count() > MAX_NAME_CHARS {
                p.bad(
                    "name",
                    "节点名称（非空文字，最多 100 字）（the node's name）",
                    format!("{n:?}"),
                );
                None
            } else {
                Some(n)
            }
        });
        let assessor_expected =
            "county_office、sasac、health_commission、township 或 county_unit 之一（the assessor）";
        let assessor = p
            .string(&table, "assessor", "assessor", assessor_expected)
            .and_then(|a| {
                let found = Assessor::from_id(&a);
                if found.is_none() {
                    p.bad("assessor", assessor_expected, format!("{a:?}"));
                }
                found
            });
        let key_file = p
            .optional_string(
                &table,
                "key_file",
                "key_file",
                "密钥文件路径（path of the key file）",
            )
            .unwrap_or_else(|| DEFAULT_KEY_FILE.to_string());
        let store_file = p
            .optional_string(
                &table,
                "store",
                "store",
                "证据库文件路径（path of the evidence store）",
            )
            .unwrap_or_else(|| DEFAULT_STORE_FILE.to_string());

        let hub = match table.get("hub") {
            Some(toml::Value::Table(t)) => Some(t),
            Some(other) => {
                p.bad("hub", "表 [hub]（a table）", type_name(other));
                None
            }
            None => {
                p.missing("hub", "表 [hub]，含 address（a [hub] table with address）");
                None
            }
        };
        let mut hub_config = None;
        if let Some(hub) = hub {
            p.unknown_keys(
                hub,
                "hub.",
                &[
                    "address",
                    "ca_cert",
                    "receipt_key",
                    "client_cert",
                    "client_key",
                    "crl",
                    "connect_timeout_secs",
                    "call_timeout_secs",
                    "stream_timeout_secs",
                ],
            );
            let timeouts = hub_timeouts(&mut p, hub);
            let addr_expected =
                "https://主机:端口（或指向本机回环地址的 http://），不带路径（https://host:port）";
            let address = p.string(hub, "address", "hub.address", addr_expected);
            let parsed = address.as_deref().and_then(|a| match parse_address(a) {
                Ok(v) => Some(v),
                Err(why) => {
                    p.bad(
                        "hub.address",
                        &format!("{addr_expected}；{why}"),
                        format!("{a:?}"),
                    );
                    None
                }
            });
            let ca_expected = "可读的 PEM 证书文件（a readable PEM certificate file）";
            let ca_cert = p
                .optional_string(hub, "ca_cert", "hub.ca_cert", ca_expected)
                .and_then(|c| {
                    checked_file(
                        &mut p,
                        base,
                        &c,
                        "hub.ca_cert",
                        ca_expected,
                        pem_certificate,
                    )
                });
            let cert_expected =
                "可读的 PEM 客户端证书文件（a readable PEM client certificate file）";
            let client_cert = p
                .optional_string(hub, "client_cert", "hub.client_cert", cert_expected)
                .and_then(|c| {
                    checked_file(
                        &mut p,
                        base,
                        &c,
                        "hub.client_cert",
                        cert_expected,
                        pem_certificate,
                    )
                });
            let key_expected =
                "可读的 PEM 私钥文件（未加密）（a readable, unencrypted PEM private key file）";
            let client_key = p
                .optional_string(hub, "client_key", "hub.client_key", key_expected)
                .and_then(|k| {
                    checked_file(
                        &mut p,
                        base,
                        &k,
                        "hub.client_key",
                        key_expected,
                        pem_private_key,
                    )
                });
            let crl_expected =
                "可读的证书吊销列表文件（PEM 或 DER）（a readable CRL file, PEM or DER）";
            let crl = p
                .optional_string(hub, "crl", "hub.crl", crl_expected)
                .and_then(|c| {
                    checked_file(&mut p, base, &c, "hub.crl", crl_expected, |bytes| {
                        crate::tls::parse_crl(bytes).map(drop)
                    })
                });
            let mut client_ok = true;
            match (hub.get("client_cert"), hub.get("client_key")) {
                (Some(_), None) => {
                    p.missing(
                        "hub.client_key",
                        "客户端证书的私钥（PEM）：hub.client_cert 与 hub.client_key 须同时设置（both or neither）",
                    );
                    client_ok = false;
                }
                (None, Some(_)) => {
                    p.missing(
                        "hub.client_cert",
                        "客户端证书（PEM）：hub.client_cert 与 hub.client_key 须同时设置（both or neither）",
                    );
                    client_ok = false;
                }
                _ => {}
            }
            let receipt_expected = "汇总中心回执公钥 `ed25519:<base64>`（`kaohe hub init` 显示的回执公钥）（the hub's receipt public key）";
            let mut receipt_ok = true;
            let receipt_key = p
                .optional_string(hub, "receipt_key", "hub.receipt_key", receipt_expected)
                .and_then(|k| match PublicKey::parse(k.trim()) {
                    Ok(key) => Some(key),
                    Err(e) => {
                        p.bad("hub.receipt_key", receipt_expected, format!("{k:?}（{e}）"));
                        receipt_ok = false;
                        None
                    }
                });
            if let Some((tls, host, port, address)) = parsed
                && receipt_ok
            {
                if tls && ca_cert.is_none() && hub.get("ca_cert").is_none() {
                    p.missing(
                        "hub.ca_cert",
                        "签发汇总中心证书的 CA 证书（PEM）：使用 https 时必填，本程序不信任系统根证书（required for https: this build trusts no system roots）",
                    );
                }
                if !tls && hub.get("client_cert").is_some() {
                    p.bad(
                        "hub.client_cert",
                        "客户端证书只用于 https 地址（a client certificate needs https）",
                        format!("明文地址 {address}（plain http）"),
                    );
                }
                if !tls && hub.get("crl").is_some() {
                    p.bad(
                        "hub.crl",
                        "吊销列表只用于 https 地址（a CRL needs https）",
                        format!("明文地址 {address}（plain http）"),
                    );
                }
                let client_identity = match (client_cert, client_key) {
                    (Some(cert), Some(key)) if client_ok => Some(ClientIdentity { cert, key }),
                    _ => None,
                };
                hub_config = Some(HubConfig {
                    address,
                    tls,
                    host,
                    port,
                    ca_cert,
                    receipt_key,
                    client_identity,
                    crl,
                    // A bad deadline recorded a problem: this config is
                    // refused below whatever stands here.
                    timeouts: timeouts.clone().unwrap_or_default(),
                });
            }
        }

        let authorities = match table.get("pack_authorities") {
            None => Some(PackAuthorities {
                keys: Vec::new(),
                threshold: 0,
            }),
            Some(toml::Value::Table(t)) => {
                p.unknown_keys(t, "pack_authorities.", &["keys", "threshold"]);
                check_authorities(&mut p, t)
            }
            Some(other) => {
                p.bad(
                    "pack_authorities",
                    "表 [pack_authorities]（a table）",
                    type_name(other),
                );
                None
            }
        };

        if !p.0.is_empty() {
            return Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                problems: p.0,
            });
        }
        match (name, assessor, hub_config, authorities) {
            (Some(name), Some(assessor), Some(hub), Some(authorities)) => Ok(NodeConfig {
                path: path.to_path_buf(),
                name,
                assessor,
                key_file: base.join(key_file),
                store_file: base.join(store_file),
                hub,
                authorities,
            }),
            // Every `None` above recorded a problem.
            _ => Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                problems: Vec::new(),
            }),
        }
    }
}

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

fn check_authorities(p: &mut Problems, t: &toml::Table) -> Option<PackAuthorities> {
    let key_expected = "`ed25519:<base64>` 形式的公钥（an Ed25519 public key）";
    let mut keys = Vec::new();
    let mut ok = true;
    match t.get("keys") {
        None => {}
        Some(toml::Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let key = format!("pack_authorities.keys[{i}]");
                match item {
                    toml::Value::String(s) => match PublicKey::parse(s) {
                        Ok(k) if keys.contains(&k) => {
                            p.bad(
                                &key,
                                "与其他各项不同的公钥（each key once）",
                                format!("{s}（重复 / duplicate）"),
                            );
                            ok = false;
                        }
                        Ok(k) => keys.push(k),
                        Err(e) => {
                            p.bad(&key, key_expected, format!("{s:?}（{e}）"));
                            ok = false;
                        }
                    },
                    other => {
                        p.bad(&key, key_expected, type_name(other));
                        ok = false;
                    }
                }
            }
        }
        Some(other) => {
            p.bad(
                "pack_authorities.keys",
                "公钥列表（an array of public keys）",
                type_name(other),
            );
            ok = false;
        }
    }
    let n = keys.len();
    let threshold = match t.get("threshold") {
        None if n <= 1 => Some(n),
        None => {
            p.missing(
                "pack_authorities.threshold",
                &format!("1 到 {n} 之间的整数（k of n）"),
            );
            None
        }
        Some(toml::Value::Integer(k)) => {
            let valid = if n == 0 {
                *k == 0
            } else {
                (1..=n as i64).contains(k)
            };
            if valid {
                usize::try_from(*k).ok()
            } else {
                let expected = if n == 0 {
                    "0（未配置公钥时）（0 while no keys are pinned）".to_string()
                } else {
                    format!("1 到 {n} 之间的整数（k of n, 1 ≤ k ≤ {n}）")
                };
                p.bad("pack_authorities.threshold", &expected, k.to_string());
                None
            }
        }
        Some(other) => {
            p.bad(
                "pack_authorities.threshold",
                "整数（an integer）",
                type_name(other),
            );
            None
        }
    };
    match (ok, threshold) {
        (true, Some(threshold)) => Some(PackAuthorities { keys, threshold }),
        _ => None,
    }
}

/// The `[hub]` deadlines; a problem for each one that is not a whole
/// number of seconds within its bounds (`None` then).
fn hub_timeouts(p: &mut Problems, hub: &toml::Table) -> Option<Timeouts> {
    let mut seconds = [0u64; 3];
    let mut ok = true;
    for (slot, (key, default, max)) in seconds.iter_mut().zip(HUB_TIMEOUT_KEYS) {
        let expected = format!(
            "1 到 {max} 之间的整数秒，默认 {default}（whole seconds, 1 to {max}; default {default}）"
        );
        *slot = match hub.get(key) {
            None => default,
            Some(toml::Value::Integer(n)) => match u64::try_from(*n) {
                Ok(n) if (1..=max).contains(&n) => n,
                _ => {
                    p.bad(&format!("hub.{key}"), &expected, n.to_string());
                    ok = false;
                    continue;
                }
            },
            Some(other) => {
                p.bad(&format!("hub.{key}"), &expected, type_name(other));
                ok = false;
                continue;
            }
        };
    }
    let [connect, call, stream] = seconds.map(std::time::Duration::from_secs);
    ok.then_some(Timeouts {
        connect,
        call,
        stream,
    })
}

/// `(tls, host, port, normalised address)` of a hub address.
fn parse_address(a: &str) -> Result<(bool, String, u16, String), &'static str> {
    let (tls, rest) = if let Some(r) = a.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = a.strip_prefix("http://") {
        (false, r)
    } else {
        return Err("须以 https:// 开头（must start with https://）");
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains(['/', '?', '#', '@']) {
        return Err("不能带路径、查询或用户信息（no path, query or user info）");
    }
    let (host, port) = if let Some(r) = rest.strip_prefix('[') {
        let (h, p) = r
            .split_once("]:")
            .ok_or("IPv6 地址须写作 [地址]:端口（IPv6 as [addr]:port）")?;
        (h, p)
    } else {
        rest.rsplit_once(':')
            .ok_or("须写明端口（a port is required）")?
    };
    if host.is_empty()
        || !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'))
    {
        return Err("主机名无效（invalid host）");
    }
    let port: u16 = port
        .parse()
        .map_err(|_| "端口须为 1 到 65535 的整数（port 1–65535）")?;
    if port == 0 {
        return Err("端口须为 1 到 65535 的整数（port 1–65535）");
    }
    let loopback = host == "localhost" || host == "::1" || host.starts_with("127.");
    if !tls && !loopback {
        return Err("明文 http 只允许连接本机回环地址（plain http only to a loopback address）");
    }
    let scheme = if tls { "https" } else { "http" };
    let shown_host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    Ok((
        tls,
        host.to_string(),
        port,
        format!("{scheme}://{shown_host}:{port}"),
    ))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn pem_certificate(bytes: &[u8]) -> Result<(), String> {
    if contains(bytes, b"-----BEGIN CERTIFICATE-----") {
        Ok(())
    } else {
        Err("不是 PEM 证书 / not a PEM certificate".into())
    }
}

/// A PEM private key rustls can use: PKCS#8, SEC1 or PKCS#1, not encrypted.
fn pem_private_key(bytes: &[u8]) -> Result<(), String> {
    let pem = [
        &b"-----BEGIN PRIVATE KEY-----"[..],
        b"-----BEGIN EC PRIVATE KEY-----",
        b"-----BEGIN RSA PRIVATE KEY-----",
    ]
    .iter()
    .any(|m| contains(bytes, m));
    if pem && !contains(bytes, b"ENCRYPTED") {
        Ok(())
    } else {
        Err("不是未加密的 PEM 私钥 / not an unencrypted PEM private key".into())
    }
}

/// Resolves `raw` against `base` and checks that the file reads and that
/// `check` accepts it; records a problem naming the file and why otherwise.
fn checked_file(
    p: &mut Problems,
    base: &Path,
    raw: &str,
    key: &str,
    expected: &str,
    check: impl FnOnce(&[u8]) -> Result<(), String>,
) -> Option<PathBuf> {
    let path = base.join(raw);
    let why = match std::fs::read(&path) {
        Ok(bytes) => match check(&bytes) {
            Ok(()) => return Some(path),
            Err(why) => why,
        },
        Err(e) => e.to_string(),
    };
    p.bad(key, expected, format!("{}（{why}）", path.display()));
    None
}

fn type_name(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => format!("文字 {s:?}"),
        toml::Value::Integer(i) => format!("整数 {i}"),
        toml::Value::Float(f) => format!("小数 {f}"),
        toml::Value::Boolean(b) => format!("布尔值 {b}"),
        toml::Value::Datetime(d) => format!("日期 {d}"),
        toml::Value::Array(_) => "数组（array）".to_string(),
        toml::Value::Table(_) => "表（table）".to_string(),
    }
}

#[derive(Default)]
struct Problems(Vec<ConfigProblem>);

impl Problems {
    fn bad(&mut self, key: &str, expected: &str, found: String) {
        self.0.push(ConfigProblem {
            key: key.to_string(),
            expected: expected.to_string(),
            found: Some(found),
        });
    }

    fn missing(&mut self, key: &str, expected: &str) {
        self.0.push(ConfigProblem {
            key: key.to_string(),
            expected: expected.to_string(),
            found: None,
        });
    }

    fn unknown_keys(&mut self, t: &toml::Table, prefix: &str, allowed: &[&str]) {
        for k in t.keys() {
            if !allowed.contains(&k.as_str()) {
                self.bad(
                    &format!("{prefix}{k}"),
                    &format!(
                        "不认识的配置项；可用的有 {}（unknown key）",
                        allowed.join("、")
                    ),
                    "（多余的项 / extra key）".to_string(),
                );
            }
        }
    }

    fn string(
        &mut self,
        t: &toml::Table,
        key: &str,
        shown: &str,
        expected: &str,
    ) -> Option<String> {
        match t.get(key) {
            Some(toml::Value::String(s)) => Some(s.clone()),
            Some(other) => {
                self.bad(shown, expected, type_name(other));
                None
            }
            None => {
                self.missing(shown, expected);
                None
            }
        }
    }

    fn optional_string(
        &mut self,
        t: &toml::Table,
        key: &str,
        shown: &str,
        expected: &str,
    ) -> Option<String> {
        match t.get(key) {
            Some(toml::Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            Some(other) => {
                self.bad(shown, expected, type_name(other));
                None
            }
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> String {
        kaohe_proto::SigningKeyPair::from_seed(&[7; 32])
            .public()
            .to_string()
    }

    fn hub_key() -> String {
        kaohe_proto::SigningKeyPair::from_seed(&[8; 32])
            .public()
            .to_string()
    }

    fn write_ca(dir: &Path) -> PathBuf {
        let p = dir.join("ca.pem");
        std::fs::write(
            &p,
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        p
    }

    fn good(dir: &Path) -> String {
        let ca = write_ca(dir);
        render(
            "宝丰县依法治县办",
            Assessor::CountyOffice,
            "https://127.0.0.1:7443",
            Some(&ca),
            Some(&hub_key()),
            &[key()],
            1,
        )
    }

    /// Problems of `text` as `(key, found present)`; the message names the file.
    fn problems(dir: &Path, text: &str) -> Vec<(String, String)> {
        let path = dir.join(CONFIG_FILE);
        match NodeConfig::parse(text, &path) {
            Err(e @ ConfigError::Invalid { .. }) => {
                let msg = e.to_string();
                assert!(
                    msg.contains(&path.display().to_string()),
                    "file not named: {msg}"
                );
                let ConfigError::Invalid { problems, .. } = e else {
                    unreachable!()
                };
                problems
                    .into_iter()
                    .map(|p| (p.key.clone(), p.to_string()))
                    .collect()
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    fn keys_of(dir: &Path, text: &str) -> Vec<String> {
        problems(dir, text).into_iter().map(|(k, _)| k).collect()
    }

    #[test]
    fn the_rendered_config_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let c = NodeConfig::parse(&good(dir.path()), &dir.path().join(CONFIG_FILE)).unwrap();
        assert_eq!(c.name, "宝丰县依法治县办");
        assert_eq!(c.assessor, Assessor::CountyOffice);
        assert_eq!(c.hub.address, "https://127.0.0.1:7443");
        assert_eq!(
            (c.hub.host.as_str(), c.hub.port, c.hub.tls),
            ("127.0.0.1", 7443, true)
        );
        assert_eq!(c.authorities.threshold, 1);
        assert_eq!(c.authorities.keys.len(), 1);
        assert_eq!(
            c.hub.receipt_key.map(|k| k.to_string()),
            Some(hub_key()),
            "the pinned receipt key"
        );
        assert_eq!(c.key_file, dir.path().join("node.key"));
        assert_eq!(c.store_file, dir.path().join("node.db"));
    }

    #[test]
    fn bad_toml_names_the_file_and_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CONFIG_FILE);
        let err = NodeConfig::parse("name = \"x\"\nassessor = \n", &path).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, ConfigError::Syntax { .. }), "{err:?}");
        assert!(
            msg.contains(&path.display().to_string()) && msg.contains("line 2"),
            "{msg}"
        );
    }

    #[test]
    fn each_key_is_checked_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let g = good(dir.path());
        let k = key();
        let cases: Vec<(&str, String, &str)> = vec![
            (
                "name",
                g.replace("name = \"宝丰县依法治县办\"\n", ""),
                "缺少此项",
            ),
            (
                "name",
                g.replace("name = \"宝丰县依法治县办\"", "name = \"  \""),
                "节点名称",
            ),
            (
                "name",
                g.replace("name = \"宝丰县依法治县办\"", "name = 3"),
                "整数 3",
            ),
            (
                "assessor",
                g.replace("assessor = \"county_office\"", "assessor = \"mayor\""),
                "county_office、sasac",
            ),
            (
                "key_file",
                g.replace("key_file = \"node.key\"", "key_file = 7"),
                "整数 7",
            ),
            (
                "hub.address",
                g.replace("https://127.0.0.1:7443", "ftp://127.0.0.1:7443"),
                "https://",
            ),
            (
                "hub.address",
                g.replace("https://127.0.0.1:7443", "https://127.0.0.1"),
                "端口",
            ),
            (
                "hub.address",
                g.replace("https://127.0.0.1:7443", "https://127.0.0.1:99999"),
                "65535",
            ),
            (
                "hub.address",
                g.replace("https://127.0.0.1:7443", "https://hub:7443/api"),
                "路径",
            ),
            (
                "hub.address",
                g.replace("https://127.0.0.1:7443", "http://hub.example.cn:80"),
                "回环",
            ),
            (
                "hub.ca_cert",
                g.replace("ca.pem", "missing.pem"),
                "missing.pem",
            ),
            (
                "hub",
                g.replace(
                    "[hub]\naddress = \"https://127.0.0.1:7443\"",
                    "[hubb]\naddress = \"x\"",
                ),
                "缺少此项",
            ),
            (
                "pack_authorities.keys[0]",
                g.replace(&k, "ed25519:AAAA"),
                "ed25519:AAAA",
            ),
            (
                "pack_authorities.keys[0]",
                g.replace(&k, "rsa:abc"),
                "rsa:abc",
            ),
            (
                "pack_authorities.threshold",
                g.replace("threshold = 1", "threshold = 2"),
                "1 到 1",
            ),
            (
                "pack_authorities.threshold",
                g.replace("threshold = 1", "threshold = \"all\""),
                "整数",
            ),
            (
                "hub.receipt_key",
                g.replace(&hub_key(), "ed25519:AAAA"),
                "ed25519:AAAA",
            ),
            ("color", format!("color = \"red\"\n{g}"), "不认识的配置项"),
            (
                "hub.proxy",
                g.replace("[hub]\n", "[hub]\nproxy = \"x\"\n"),
                "不认识的配置项",
            ),
        ];
        for (key, text, says) in cases {
            let found = problems(dir.path(), &text);
            assert!(
                found.iter().any(|(k, msg)| k == key && msg.contains(says)),
                "expected a problem at {key} saying {says:?}; got {found:?}"
            );
        }
    }

    #[test]
    fn https_without_a_ca_is_refused_and_loopback_http_is_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let no_ca = render(
            "n",
            Assessor::Sasac,
            "https://10.0.0.5:7443",
            None,
            None,
            &[],
            0,
        );
        assert_eq!(keys_of(dir.path(), &no_ca), vec!["hub.ca_cert"]);
        let http = render(
            "n",
            Assessor::Sasac,
            "http://127.0.0.1:7443",
            None,
            None,
            &[],
            0,
        );
        let c = NodeConfig::parse(&http, &dir.path().join(CONFIG_FILE)).unwrap();
        assert!(!c.hub.tls);
        assert!(c.authorities.keys.is_empty());
    }

    #[test]
    fn a_ca_file_that_is_not_pem_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.der"), [0x30, 0x82, 0x01]).unwrap();
        let text = render(
            "n",
            Assessor::Sasac,
            "https://10.0.0.5:7443",
            Some(&dir.path().join("ca.der")),
            None,
            &[],
            0,
        );
        let found = problems(dir.path(), &text);
        assert!(
            found
                .iter()
                .any(|(k, m)| k == "hub.ca_cert" && m.contains("PEM")),
            "{found:?}"
        );
    }

    #[test]
    fn duplicate_keys_and_a_threshold_without_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ca = write_ca(dir.path());
        let dup = render(
            "n",
            Assessor::Township,
            "https://h:1",
            Some(&ca),
            None,
            &[key(), key()],
            1,
        );
        assert_eq!(keys_of(dir.path(), &dup), vec!["pack_authorities.keys[1]"]);
        let none = render(
            "n",
            Assessor::Township,
            "https://h:1",
            Some(&ca),
            None,
            &[],
            1,
        );
        assert_eq!(
            keys_of(dir.path(), &none),
            vec!["pack_authorities.threshold"]
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let text = "name = \"\"\nassessor = \"x\"\n[hub]\naddress = \"ftp://x\"\n";
        let keys = keys_of(dir.path(), text);
        assert_eq!(keys, vec!["name", "assessor", "hub.address"]);
    }

    #[test]
    fn a_client_certificate_needs_its_key_pem_files_and_https() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let ca = write_ca(d);
        let cert = d.join("node-tls.pem");
        std::fs::write(&cert, std::fs::read(&ca).unwrap()).unwrap();
        let key_pem = d.join("node-tls.key");
        std::fs::write(
            &key_pem,
            "-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let with = |address: &str, client: Option<(&Path, &Path)>| {
            let tls = TlsFiles {
                ca_cert: Some(&ca),
                client,
                crl: None,
            };
            render_with_tls(
                "n",
                Assessor::Township,
                address,
                &tls,
                Some(&hub_key()),
                &[key()],
                1,
            )
        };

        // Both, https: accepted, paths resolved.
        let text = with("https://127.0.0.1:7443", Some((&cert, &key_pem)));
        let config = NodeConfig::parse(&text, &d.join(CONFIG_FILE)).unwrap();
        assert_eq!(
            config.hub.client_identity,
            Some(ClientIdentity {
                cert: cert.clone(),
                key: key_pem.clone()
            })
        );
        let none = NodeConfig::parse(&good(d), &d.join(CONFIG_FILE)).unwrap();
        assert_eq!(none.hub.client_identity, None);

        // Only one of them: the other is named as missing.
        let only_cert = text
            .lines()
            .filter(|l| !l.starts_with("client_key"))
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(keys_of(d, &only_cert), vec!["hub.client_key"]);
        let only_key = text
            .lines()
            .filter(|l| !l.starts_with("client_cert"))
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(keys_of(d, &only_key), vec!["hub.client_cert"]);

        // Swapped files: neither looks right; each problem names its file.
        let swapped = with("https://127.0.0.1:7443", Some((&key_pem, &cert)));
        let found = problems(d, &swapped);
        assert!(
            found.iter().any(|(k, m)| k == "hub.client_cert"
                && m.contains("node-tls.key")
                && m.contains("PEM")),
            "{found:?}"
        );
        assert!(
            found.iter().any(|(k, m)| k == "hub.client_key"
                && m.contains("node-tls.pem")
                && m.contains("私钥")),
            "{found:?}"
        );

        // A missing file, an encrypted key, plain http.
        let missing = with(
            "https://127.0.0.1:7443",
            Some((&d.join("nope.pem"), &key_pem)),
        );
        assert_eq!(keys_of(d, &missing), vec!["hub.client_cert"]);
        let encrypted = d.join("enc.key");
        std::fs::write(
            &encrypted,
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIGH\n-----END ENCRYPTED PRIVATE KEY-----\n",
        )
        .unwrap();
        let enc = with("https://127.0.0.1:7443", Some((&cert, &encrypted)));
        assert_eq!(keys_of(d, &enc), vec!["hub.client_key"]);
        let http = with("http://127.0.0.1:7443", Some((&cert, &key_pem)));
        assert_eq!(keys_of(d, &http), vec!["hub.client_cert"]);
    }

    /// `hub.crl`: a CRL file (PEM or DER) on an https hub; anything else
    /// is refused naming the key and the file.
    #[test]
    fn a_crl_must_be_a_readable_crl_and_needs_https() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let g = good(d);
        assert!(g.contains("# crl = "), "init documents the key:\n{g}");
        assert_eq!(
            NodeConfig::parse(&g, &d.join(CONFIG_FILE)).unwrap().hub.crl,
            None
        );

        let pem = d.join("county.crl.pem");
        let der = d.join("county.crl");
        crate::testutil::write_crl(&pem, &der);
        let with = |text: &str, file: &Path| {
            text.replace(
                "[hub]\n",
                &format!("[hub]\ncrl = {:?}\n", file.display().to_string()),
            )
        };
        for file in [&pem, &der] {
            let config = NodeConfig::parse(&with(&g, file), &d.join(CONFIG_FILE)).unwrap();
            assert_eq!(config.hub.crl.as_deref(), Some(file.as_path()));
        }

        // A certificate, a missing file: named with the key.
        for (file, words) in [
            (d.join("ca.pem"), "证书吊销列表"),
            (d.join("nope.crl"), "nope.crl"),
        ] {
            let found = problems(d, &with(&g, &file));
            assert!(
                found.len() == 1 && found[0].0 == "hub.crl" && found[0].1.contains(words),
                "{found:?}"
            );
        }
        // Plain http.
        let http = with(&g, &pem).replace("https://127.0.0.1:7443", "http://127.0.0.1:7443");
        assert_eq!(keys_of(d, &http), vec!["hub.crl"]);
    }

    #[test]
    fn a_missing_config_says_run_init() {
        let dir = tempfile::tempdir().unwrap();
        let err = NodeConfig::load_from_dir(dir.path()).unwrap_err();
        assert!(matches!(err, ConfigError::NotFound { .. }));
        assert!(err.to_string().contains("kaohe node init"), "{err}");
    }

    /// RELIABILITY.md "slow or stuck peer": the deadlines are read from
    /// `[hub]`, default when absent, and a bad one is refused naming the
    /// key and the file.
    #[test]
    fn hub_deadlines_are_configurable_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CONFIG_FILE);
        let g = good(dir.path());
        assert!(
            g.contains("# call_timeout_secs = 60"),
            "init documents the deadlines with their defaults:\n{g}"
        );
        let c = NodeConfig::parse(&g, &path).unwrap();
        assert_eq!(c.hub.timeouts, Timeouts::default());

        let set = g.replace(
            "[hub]\n",
            "[hub]\nconnect_timeout_secs = 3\ncall_timeout_secs = 7\nstream_timeout_secs = 90\n",
        );
        let c = NodeConfig::parse(&set, &path).unwrap();
        assert_eq!(
            c.hub.timeouts,
            Timeouts {
                connect: std::time::Duration::from_secs(3),
                call: std::time::Duration::from_secs(7),
                stream: std::time::Duration::from_secs(90),
            }
        );

        for (line, key, found) in [
            ("call_timeout_secs = 0", "hub.call_timeout_secs", "0"),
            ("call_timeout_secs = -5", "hub.call_timeout_secs", "-5"),
            (
                "connect_timeout_secs = 601",
                "hub.connect_timeout_secs",
                "601",
            ),
            (
                "stream_timeout_secs = 86401",
                "hub.stream_timeout_secs",
                "86401",
            ),
            (
                "stream_timeout_secs = \"600\"",
                "hub.stream_timeout_secs",
                "文字",
            ),
            ("call_timeout_secs = 1.5", "hub.call_timeout_secs", "小数"),
        ] {
            let text = g.replace("[hub]\n", &format!("[hub]\n{line}\n"));
            let found_problems = problems(dir.path(), &text);
            assert_eq!(
                found_problems
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>(),
                vec![key],
                "{line}"
            );
            let message = &found_problems[0].1;
            assert!(
                message.contains(found) && message.contains("整数秒"),
                "{line}: {message}"
            );
        }
    }
}
