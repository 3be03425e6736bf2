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
//! [`crate::tls`]). The file is read when a command connects; its format
//! is checked here ([`parse_crl`]).
//!
//! **Deadlines.** Every call to the hub has one ([`Timeouts`]):
//! a hub that accepts the connection and then says nothing costs a command
//! at most `connect_timeout_secs` + `call_timeout_secs` (a delivery at most
//! `stream_timeout_secs`), and the outbox keeps every entry without a
//! receipt. Each is a whole number of seconds within [`HUB_TIMEOUT_KEYS`]'s
//! bounds.
//!
//! Layout: here the checked types and loading; `parse` (the checks, every
//! problem at once), `problems` (how a problem is recorded), `files` (the
//! PEM and CRL files a config names), `render` (what `init` writes).
//! `config` is plain data: it knows neither the gRPC client nor the TLS
//! connector, which are built from it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kaohe_proto::PublicKey;
use kaohe_rulepacks::manifest::Assessor;

mod files;
mod parse;
mod problems;
mod render;

pub use files::parse_crl;
pub use render::{TlsFiles, render, render_with_tls};

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

/// Deadlines of the node's calls: `node.toml` `[hub]`
/// `connect_timeout_secs`, `call_timeout_secs`, `stream_timeout_secs`
/// (checked by `config`; these defaults when absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeouts {
    /// Establishing the connection (TCP + TLS + HTTP/2).
    pub connect: Duration,
    /// One unary call; also how long a stream may take to be answered at all.
    pub call: Duration,
    /// One `SubmitStream` call, from the first envelope to the last chunk.
    pub stream: Duration,
}

/// Default [`Timeouts::connect`], seconds.
pub const DEFAULT_CONNECT_TIMEOUT_SECS: u64 = 10;
/// Default [`Timeouts::call`], seconds.
pub const DEFAULT_CALL_TIMEOUT_SECS: u64 = 60;
/// Default [`Timeouts::stream`], seconds.
pub const DEFAULT_STREAM_TIMEOUT_SECS: u64 = 600;

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(DEFAULT_CONNECT_TIMEOUT_SECS),
            call: Duration::from_secs(DEFAULT_CALL_TIMEOUT_SECS),
            stream: Duration::from_secs(DEFAULT_STREAM_TIMEOUT_SECS),
        }
    }
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
}

#[cfg(test)]
mod tests;
