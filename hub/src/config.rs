//! 配置（configuration）：数据目录中的 `hub.toml` 与回执签名密钥。
//!
//! `hub.toml` pins the pack authorities (发布机关) whose signatures a rule
//! pack needs before `kaohe hub pack publish` activates it:
//!
//! ```toml
//! [packs]
//! authorities = ["ed25519:…", "ed25519:…"]   # 发布机关公钥
//! threshold = 2                              # 至少几个机关签名
//!
//! [limits]                                   # optional; whole seconds, defaults shown
//! call_timeout_secs = 30                     # server deadline of one unary call
//! stream_idle_secs = 120                     # a SubmitStream silent this long is ended
//!
//! [console]                                  # optional: the web console
//! listen = "0.0.0.0:8443"                    # HTTPS with the hub's certificate
//! ```
//!
//! `[limits]` bounds what a slow or stuck node can hold: a submission
//! stream that sends nothing (or stops in the middle of a message) for
//! `stream_idle_secs` is ended with `DEADLINE_EXCEEDED`; what it had
//! receipted stays stored, nothing after that is. Each value is checked
//! on load ([`LIMIT_BOUNDS`]).
//!
//! The receipt key (`hub-receipt.key`, mode 0600) signs every batch of
//! receipts. `kaohe hub init` creates it once and never replaces it: nodes
//! pin its public key to check receipts offline.

use std::path::{Path, PathBuf};

use kaohe_proto::keys::{KeyError, PublicKey, SigningKeyPair};
use kaohe_rulepacks::sign::{PolicyError, TrustPolicy};
use serde::Deserialize;

/// The configuration file inside the data directory.
pub const CONFIG_FILE: &str = "hub.toml";
/// The receipt signing key inside the data directory.
pub const RECEIPT_KEY_FILE: &str = "hub-receipt.key";

/// What `hub.toml` holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubConfig {
    /// 规则包发布机关（pack authorities）.
    #[serde(default)]
    pub packs: PackAuthorities,
    /// 服务限值（server limits）; absent values keep the defaults of
    /// [`crate::server::Limits`].
    #[serde(default)]
    pub limits: LimitsConfig,
    /// 网页控制台（web console）; absent: no console is served.
    #[serde(default)]
    pub console: Option<ConsoleConfig>,
}

/// `[console]`: where `kaohe hub serve` serves the web console. HTTPS with
/// the hub's own certificate and key (`--tls-cert`, `--tls-key`); plain
/// HTTP only on a loopback address ([`ConsoleConfig::check`]).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {
    /// Listen address, e.g. `0.0.0.0:8443` (HTTPS) or `127.0.0.1:7701`.
    pub listen: std::net::SocketAddr,
}

impl ConsoleConfig {
    /// Refuses plain HTTP off loopback, naming the file.
    pub fn check(&self, data_dir: &Path, tls: bool) -> Result<(), ConfigError> {
        kaohe_web::serve::check_listen(self.listen, tls).map_err(|source| ConfigError::Console {
            path: data_dir.join(CONFIG_FILE),
            source,
        })
    }
}

/// `[limits]`: server deadlines, whole seconds (checked by
/// [`HubConfig::load`] against [`LIMIT_BOUNDS`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Server deadline of one unary call.
    pub call_timeout_secs: Option<i64>,
    /// A `SubmitStream` that sends nothing for this long is ended.
    pub stream_idle_secs: Option<i64>,
}

/// The `[limits]` keys: key, default seconds, largest accepted seconds
/// (the smallest is 1).
pub const LIMIT_BOUNDS: [(&str, i64, i64); 2] = [
    ("call_timeout_secs", 30, 3_600),
    ("stream_idle_secs", 120, 3_600),
];

impl LimitsConfig {
    /// `call_timeout_secs` as a duration, if set (and valid).
    pub fn call_timeout(&self) -> Option<std::time::Duration> {
        seconds(self.call_timeout_secs)
    }

    /// `stream_idle_secs` as a duration, if set (and valid).
    pub fn stream_idle(&self) -> Option<std::time::Duration> {
        seconds(self.stream_idle_secs)
    }

    /// The first value outside its bounds, as an error naming it.
    fn check(&self, path: &Path) -> Result<(), ConfigError> {
        let values = [self.call_timeout_secs, self.stream_idle_secs];
        for ((key, default, max), value) in LIMIT_BOUNDS.into_iter().zip(values) {
            if let Some(value) = value
                && !(1..=max).contains(&value)
            {
                return Err(ConfigError::Limit {
                    path: path.to_path_buf(),
                    key,
                    value,
                    default,
                    max,
                });
            }
        }
        Ok(())
    }
}

fn seconds(value: Option<i64>) -> Option<std::time::Duration> {
    value
        .and_then(|v| u64::try_from(v).ok())
        .filter(|v| *v > 0)
        .map(std::time::Duration::from_secs)
}

/// The pinned pack authorities and the signature threshold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackAuthorities {
    /// Public keys, `ed25519:<base64>`.
    #[serde(default)]
    pub authorities: Vec<String>,
    /// How many distinct authorities must sign.
    #[serde(default)]
    pub threshold: usize,
}

/// Reading the configuration failed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("读取配置文件 {path} 失败（cannot read config）：{source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("配置文件 {path} 格式错误（bad config）：{source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error(
        "配置文件 {path} 中 [packs] authorities 第 {index} 个公钥无效（bad authority key #{index}）：{source}"
    )]
    AuthorityKey {
        path: PathBuf,
        index: usize,
        source: KeyError,
    },
    #[error(
        "配置文件 {path} 没有配置规则包发布机关：请在 [packs] 中填写 authorities（发布机关公钥）和 threshold（签名门槛）（no pack authorities configured）"
    )]
    NoAuthorities { path: PathBuf },
    #[error("配置文件 {path} 的 [packs] 设置不可用（unusable pack policy）：{source}")]
    Policy { path: PathBuf, source: PolicyError },
    #[error("配置文件 {path} 中 [console] 不可用：{source}")]
    Console {
        path: PathBuf,
        source: kaohe_web::serve::ListenError,
    },
    #[error(
        "配置文件 {path} 中 [limits] {key} = {value} 不可用：应为 1 到 {max} 之间的整数秒，不设则为 {default}（limits.{key} must be whole seconds, 1 to {max}）"
    )]
    Limit {
        path: PathBuf,
        key: &'static str,
        value: i64,
        default: i64,
        max: i64,
    },
}

const TEMPLATE: &str = "\
# kaohe 汇总中心配置（hub configuration）
#
# 规则包发布机关（pack authorities）：发布规则包（kaohe hub pack publish）时，
# 须有至少 threshold 个下列公钥的有效签名。
[packs]
authorities = []
threshold = 0

# 服务限值（server limits），整数秒，以下为默认值：
# call_timeout_secs：单次调用的时限；stream_idle_secs：上报数据流超过此时长
# 没有新数据（节点卡住或断在半条消息上）即结束，已回执的均已保存，其余由节点重发。
# [limits]
# call_timeout_secs = 30
# stream_idle_secs = 120

# 网页控制台（web console），由 kaohe hub serve 一并提供。给出 --tls-cert 与
# --tls-key 时用同一证书提供 HTTPS；没有证书时只允许本机回环地址（明文 HTTP）。
# 账号用 kaohe hub user add 建立。
# [console]
# listen = \"127.0.0.1:7701\"
";

impl HubConfig {
    /// Reads `DATA_DIR/hub.toml`; a missing file is the empty configuration.
    pub fn load(data_dir: &Path) -> Result<HubConfig, ConfigError> {
        let path = data_dir.join(CONFIG_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HubConfig::default()),
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        let config: HubConfig = toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.clone(),
            source: Box::new(source),
        })?;
        config.limits.check(&path)?;
        Ok(config)
    }

    /// The trust policy for publishing packs.
    pub fn trust_policy(&self, data_dir: &Path) -> Result<TrustPolicy, ConfigError> {
        let path = data_dir.join(CONFIG_FILE);
        if self.packs.authorities.is_empty() {
            return Err(ConfigError::NoAuthorities { path });
        }
        let keys = self
            .packs
            .authorities
            .iter()
            .enumerate()
            .map(|(i, text)| {
                PublicKey::parse(text.trim()).map_err(|source| ConfigError::AuthorityKey {
                    path: path.clone(),
                    index: i + 1,
                    source,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        TrustPolicy::new(keys, self.packs.threshold)
            .map_err(|source| ConfigError::Policy { path, source })
    }
}

/// Writes the commented template of `hub.toml` unless the file exists.
/// Returns whether it wrote one.
pub fn write_template(data_dir: &Path) -> std::io::Result<bool> {
    let path = data_dir.join(CONFIG_FILE);
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
    {
        Ok(mut file) => {
            use std::io::Write as _;
            file.write_all(TEMPLATE.as_bytes())?;
            file.sync_all()?;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// Loads the receipt key, or creates it (mode 0600) when there is none.
/// Returns the key and whether it was created now.
pub fn init_receipt_key(data_dir: &Path) -> Result<(SigningKeyPair, bool), KeyError> {
    let path = data_dir.join(RECEIPT_KEY_FILE);
    if path.exists() {
        return SigningKeyPair::load(&path).map(|k| (k, false));
    }
    let key = SigningKeyPair::generate();
    key.save(&path)?;
    Ok((key, true))
}

/// Loads the receipt key `kaohe hub init` created.
pub fn load_receipt_key(data_dir: &Path) -> Result<SigningKeyPair, KeyError> {
    SigningKeyPair::load(&data_dir.join(RECEIPT_KEY_FILE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_config_has_no_authorities_and_says_where_to_add_them() {
        let dir = tempfile::tempdir().unwrap();
        let config = HubConfig::load(dir.path()).unwrap();
        let err = config.trust_policy(dir.path()).unwrap_err();
        assert!(matches!(err, ConfigError::NoAuthorities { .. }), "{err}");
        assert!(err.to_string().contains("authorities"), "{err}");
        assert!(write_template(dir.path()).unwrap());
        assert!(!write_template(dir.path()).unwrap(), "never overwritten");
        assert_eq!(HubConfig::load(dir.path()).unwrap(), HubConfig::default());
    }

    #[test]
    fn authorities_and_threshold_make_a_policy() {
        let dir = tempfile::tempdir().unwrap();
        let a = SigningKeyPair::from_seed(&[1; 32]).public();
        let b = SigningKeyPair::from_seed(&[2; 32]).public();
        std::fs::write(
            dir.path().join(CONFIG_FILE),
            format!("[packs]\nauthorities = [\"{a}\", \"{b}\"]\nthreshold = 2\n"),
        )
        .unwrap();
        let policy = HubConfig::load(dir.path())
            .unwrap()
            .trust_policy(dir.path())
            .unwrap();
        assert_eq!(policy.threshold(), 2);
        assert_eq!(policy.authorities(), &[a, b]);

        std::fs::write(
            dir.path().join(CONFIG_FILE),
            format!("[packs]\nauthorities = [\"{a}\"]\nthreshold = 2\n"),
        )
        .unwrap();
        let err = HubConfig::load(dir.path())
            .unwrap()
            .trust_policy(dir.path())
            .unwrap_err();
        assert!(matches!(err, ConfigError::Policy { .. }), "{err}");
    }

    #[test]
    fn the_receipt_key_is_created_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let (key, created) = init_receipt_key(dir.path()).unwrap();
        assert!(created);
        let (again, created) = init_receipt_key(dir.path()).unwrap();
        assert!(!created);
        assert_eq!(again.key_id(), key.key_id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join(RECEIPT_KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    /// RELIABILITY.md "slow or stuck peer": `[limits]` sets the server
    /// deadlines; a value outside its bounds is refused naming the key and
    /// the file; the template documents the defaults the server uses.
    #[test]
    fn limits_are_read_and_checked_on_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CONFIG_FILE);
        std::fs::write(&path, "[limits]\nstream_idle_secs = 5\n").unwrap();
        let config = HubConfig::load(dir.path()).unwrap();
        assert_eq!(
            config.limits.stream_idle(),
            Some(std::time::Duration::from_secs(5))
        );
        assert_eq!(config.limits.call_timeout(), None);
        let limits = crate::server::Limits::from_config(&config.limits);
        assert_eq!(limits.stream_idle, std::time::Duration::from_secs(5));
        let defaults = crate::server::Limits::default();
        assert_eq!(limits.call_timeout, defaults.call_timeout);
        for (key, default, _) in LIMIT_BOUNDS {
            assert!(TEMPLATE.contains(&format!("# {key} = {default}")), "{key}");
        }
        assert_eq!(
            (
                defaults.call_timeout.as_secs(),
                defaults.stream_idle.as_secs()
            ),
            (30, 120),
            "LIMIT_BOUNDS states the server's defaults"
        );

        for (text, key) in [
            ("[limits]\nstream_idle_secs = 0\n", "stream_idle_secs = 0"),
            ("[limits]\nstream_idle_secs = -3\n", "stream_idle_secs = -3"),
            (
                "[limits]\ncall_timeout_secs = 3601\n",
                "call_timeout_secs = 3601",
            ),
        ] {
            std::fs::write(&path, text).unwrap();
            let err = HubConfig::load(dir.path()).unwrap_err();
            let message = err.to_string();
            assert!(matches!(err, ConfigError::Limit { .. }), "{message}");
            assert!(
                message.contains(key)
                    && message.contains("整数秒")
                    && message.contains(&path.display().to_string()),
                "{message}"
            );
        }
        std::fs::write(&path, "[limits]\nstream_idle = 5\n").unwrap();
        let err = HubConfig::load(dir.path()).unwrap_err();
        assert!(err.to_string().contains("stream_idle"), "{err}");
    }
}
