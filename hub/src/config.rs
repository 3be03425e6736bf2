//! 配置（configuration）：数据目录中的 `hub.toml` 与回执签名密钥。
//!
//! `hub.toml` pins the pack authorities (发布机关) whose signatures a rule
//! pack needs before `kaohe hub pack publish` activates it:
//!
//! ```toml
//! [packs]
//! authorities = ["ed25519:…", "ed25519:…"]   # 发布机关公钥
//! threshold = 2                              # 至少几个机关签名
//! ```
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
}

const TEMPLATE: &str = "\
# kaohe 汇总中心配置（hub configuration）
#
# 规则包发布机关（pack authorities）：发布规则包（kaohe hub pack publish）时，
# 须有至少 threshold 个下列公钥的有效签名。
[packs]
authorities = []
threshold = 0
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
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path,
            source: Box::new(source),
        })
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
}
