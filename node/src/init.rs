//! 节点初始化（`kaohe node init`）：数据目录、签名密钥、配置文件与证据库。
//!
//! Order of work: check every input by rendering the config and running it
//! through [`NodeConfig::parse`] (nothing is created if anything is wrong);
//! refuse a data directory that already holds a config, key or store; then
//! create the store, the config and last the key (mode 0600, written by
//! [`SigningKeyPair::save`]). If any step fails, the files this run created
//! are removed again, so `init` can simply be run once more.

use std::path::{Path, PathBuf};

use kaohe_proto::{KeyId, PublicKey, SigningKeyPair};
use kaohe_rulepacks::manifest::Assessor;

use crate::config::{self, CONFIG_FILE, ConfigError, ConfigProblem, NodeConfig};
use crate::store::{OpenError, Store};

/// What `init` is asked to set up.
#[derive(Debug, Clone)]
pub struct InitOptions {
    pub data_dir: PathBuf,
    pub hub: String,
    pub name: String,
    pub assessor: Assessor,
    /// Pack-authority public keys, `ed25519:…`.
    pub authority_keys: Vec<String>,
    /// k of n; default: all of them.
    pub threshold: Option<usize>,
    pub ca_cert: Option<PathBuf>,
    /// The hub's receipt public key, `ed25519:…`, pinned in `node.toml`.
    pub hub_receipt_key: Option<String>,
    /// The node's TLS client certificate (PEM) for a hub with mTLS.
    pub client_cert: Option<PathBuf>,
    /// Its private key (PEM); given together with `client_cert`.
    pub client_key: Option<PathBuf>,
    pub crl: Option<PathBuf>,
}

/// What `init` created.
#[derive(Debug, Clone)]
pub struct InitReport {
    pub config: NodeConfig,
    pub public_key: PublicKey,
    pub key_id: KeyId,
}

/// `init` refused or failed; nothing is left behind.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(
        "数据目录 {dir} 已初始化（已有 {existing}），不会覆盖（already initialised; nothing overwritten）"
    )]
    AlreadyInitialised { dir: PathBuf, existing: PathBuf },
    #[error("不能创建数据目录 {dir}（cannot create the data directory）：{source}")]
    CreateDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("CA 证书 {path} 不可用（unusable CA certificate）：{source}")]
    CaCert {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("客户端证书或私钥 {path} 不可用（unusable client certificate or key）：{source}")]
    ClientCert {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("不能写入配置 {path}（cannot write the configuration）：{source}")]
    WriteConfig {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] OpenError),
    #[error(transparent)]
    Key(#[from] kaohe_proto::KeyError),
}

/// Sets up a node's data directory.
pub fn init(opts: &InitOptions) -> Result<InitReport, InitError> {
    let dir = &opts.data_dir;
    let config_path = dir.join(CONFIG_FILE);
    // The CA path is stored absolute so the config works from any directory.
    let ca_cert = match &opts.ca_cert {
        Some(p) => Some(std::path::absolute(p).map_err(|source| InitError::CaCert {
            path: p.clone(),
            source,
        })?),
        None => None,
    };
    let absolute = |p: &Option<PathBuf>| match p {
        Some(p) => std::path::absolute(p)
            .map(Some)
            .map_err(|source| InitError::ClientCert {
                path: p.clone(),
                source,
            }),
        None => Ok(None),
    };
    let client_cert = absolute(&opts.client_cert)?;
    let client_key = absolute(&opts.client_key)?;
    let crl = absolute(&opts.crl)?;
    let threshold = opts.threshold.unwrap_or(opts.authority_keys.len());
    let tls = config::TlsFiles {
        ca_cert: ca_cert.as_deref(),
        client: client_cert.as_deref().zip(client_key.as_deref()),
        crl: crl.as_deref(),
    };
    let text = config::render_with_tls(
        &opts.name,
        opts.assessor,
        &opts.hub,
        &tls,
        opts.hub_receipt_key.as_deref(),
        &opts.authority_keys,
        threshold,
    );
    // Only one of the pair: refused as the config check would name it.
    let lone = match (&client_cert, &client_key) {
        (Some(_), None) => Some(("hub.client_key", "--client-key")),
        (None, Some(_)) => Some(("hub.client_cert", "--client-cert")),
        _ => None,
    };
    if let Some((key, flag)) = lone {
        return Err(InitError::Config(ConfigError::Invalid {
            path: config_path,
            problems: vec![ConfigProblem {
                key: key.to_string(),
                expected: format!(
                    "与另一项同时给出（{flag}）：客户端证书与私钥须同时设置（both or neither）"
                ),
                found: None,
            }],
        }));
    }
    // Check before creating anything.
    let config = NodeConfig::parse(&text, &config_path)?;
    for existing in [&config_path, &config.key_file, &config.store_file] {
        if existing.exists() {
            return Err(InitError::AlreadyInitialised {
                dir: dir.clone(),
                existing: existing.clone(),
            });
        }
    }
    let created_dir = !dir.exists();
    std::fs::create_dir_all(dir).map_err(|source| InitError::CreateDir {
        dir: dir.clone(),
        source,
    })?;
    let mut created: Vec<PathBuf> = Vec::new();
    let result = create_files(&config, &text, &mut created);
    if result.is_err() {
        for path in created.iter().rev() {
            remove_store_or_file(path);
        }
        if created_dir {
            let _ = std::fs::remove_dir(dir);
        }
    }
    let key = result?;
    Ok(InitReport {
        config,
        public_key: key.public(),
        key_id: key.key_id(),
    })
}

fn create_files(
    config: &NodeConfig,
    text: &str,
    created: &mut Vec<PathBuf>,
) -> Result<SigningKeyPair, InitError> {
    drop(Store::create(&config.store_file)?);
    created.push(config.store_file.clone());
    write_new(&config.path, text).map_err(|source| InitError::WriteConfig {
        path: config.path.clone(),
        source,
    })?;
    created.push(config.path.clone());
    let key = SigningKeyPair::generate();
    key.save(&config.key_file)?;
    created.push(config.key_file.clone());
    Ok(key)
}

/// Writes a new file (refusing an existing one) and syncs it.
fn write_new(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

fn remove_store_or_file(path: &Path) {
    let _ = std::fs::remove_file(path);
    for suffix in ["-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(dir: &Path) -> InitOptions {
        InitOptions {
            data_dir: dir.join("node"),
            hub: "http://127.0.0.1:7443".into(),
            name: "宝丰县国资局".into(),
            assessor: Assessor::Sasac,
            authority_keys: vec![SigningKeyPair::from_seed(&[1; 32]).public().to_string()],
            threshold: None,
            ca_cert: None,
            hub_receipt_key: Some(SigningKeyPair::from_seed(&[2; 32]).public().to_string()),
            client_cert: None,
            client_key: None,
            crl: None,
        }
    }

    #[test]
    fn init_creates_key_config_and_store_and_refuses_a_second_time() {
        let dir = tempfile::tempdir().unwrap();
        let o = opts(dir.path());
        let report = init(&o).unwrap();
        let key = SigningKeyPair::load(&report.config.key_file).unwrap();
        assert_eq!(key.public(), report.public_key);
        assert_eq!(report.key_id, report.public_key.key_id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&report.config.key_file)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let loaded = NodeConfig::load_from_dir(&o.data_dir).unwrap();
        assert_eq!(loaded, report.config);
        assert_eq!(loaded.authorities.threshold, 1);
        Store::open(&loaded.store_file)
            .unwrap()
            .integrity_check()
            .unwrap();

        let before = std::fs::read(&loaded.key_file).unwrap();
        let err = init(&o).unwrap_err();
        assert!(
            matches!(err, InitError::AlreadyInitialised { .. }),
            "{err:?}"
        );
        assert_eq!(
            std::fs::read(&loaded.key_file).unwrap(),
            before,
            "the key was overwritten"
        );
    }

    #[test]
    fn bad_options_create_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = opts(dir.path());
        o.hub = "https://hub.example.cn:7443".into(); // https without --ca-cert
        o.threshold = Some(3);
        let err = init(&o).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("hub.ca_cert") && msg.contains("pack_authorities.threshold"),
            "{msg}"
        );
        assert!(
            !o.data_dir.exists(),
            "a refused init created the data directory"
        );
    }

    #[test]
    fn a_client_certificate_is_written_absolute_and_needs_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let pki = dir.path().join("pki");
        std::fs::create_dir_all(&pki).unwrap();
        let pem = |name: &str, label: &str| {
            let p = pki.join(name);
            std::fs::write(
                &p,
                format!("-----BEGIN {label}-----\nMIIB\n-----END {label}-----\n"),
            )
            .unwrap();
            p
        };
        let ca = pem("ca.pem", "CERTIFICATE");
        let cert = pem("node-tls.pem", "CERTIFICATE");
        let key = pem("node-tls.key", "PRIVATE KEY");
        let mut o = opts(dir.path());
        o.hub = "https://127.0.0.1:7443".into();
        o.ca_cert = Some(ca);

        // One without the other: refused, nothing created.
        o.client_cert = Some(cert.clone());
        let msg = init(&o).unwrap_err().to_string();
        assert!(
            msg.contains("hub.client_key") && msg.contains("--client-key"),
            "{msg}"
        );
        assert!(!o.data_dir.exists());
        o.client_cert = None;
        o.client_key = Some(key.clone());
        let msg = init(&o).unwrap_err().to_string();
        assert!(msg.contains("hub.client_cert"), "{msg}");
        assert!(!o.data_dir.exists());

        // Both: written, and loaded back from another directory's view.
        o.client_cert = Some(cert.clone());
        let report = init(&o).unwrap();
        let loaded = NodeConfig::load_from_dir(&o.data_dir).unwrap();
        assert_eq!(loaded, report.config);
        let identity = loaded.hub.client_identity.expect("client identity");
        assert!(identity.cert.is_absolute() && identity.key.is_absolute());
        assert_eq!(
            std::fs::read(identity.cert).unwrap(),
            std::fs::read(&cert).unwrap()
        );
        assert_eq!(
            std::fs::read(identity.key).unwrap(),
            std::fs::read(&key).unwrap()
        );
    }

    /// `--crl`: checked like the other files before anything is created,
    /// and written as an absolute path.
    #[test]
    fn init_writes_the_crl_and_refuses_a_file_that_is_no_crl() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(
            &ca,
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let (pem, der) = (dir.path().join("crl.pem"), dir.path().join("crl.der"));
        crate::testutil::write_crl(&pem, &der);
        let mut o = opts(dir.path());
        o.hub = "https://127.0.0.1:7443".into();
        o.ca_cert = Some(ca.clone());

        o.crl = Some(ca);
        let msg = init(&o).unwrap_err().to_string();
        assert!(msg.contains("hub.crl") && msg.contains("ca.pem"), "{msg}");
        assert!(!o.data_dir.exists(), "nothing created");

        o.crl = Some(der.clone());
        let report = init(&o).unwrap();
        let crl = report.config.hub.crl.expect("crl configured");
        assert!(crl.is_absolute());
        assert_eq!(std::fs::read(crl).unwrap(), std::fs::read(&der).unwrap());
    }

    #[cfg(unix)]
    #[test]
    fn a_failure_midway_removes_what_it_created() {
        let dir = tempfile::tempdir().unwrap();
        let o = opts(dir.path());
        std::fs::create_dir_all(&o.data_dir).unwrap();
        // A dangling symlink where the key goes: `exists()` says no, so the
        // store and the config are created, then saving the key (create_new)
        // fails.
        std::os::unix::fs::symlink(dir.path().join("missing/key"), o.data_dir.join("node.key"))
            .unwrap();
        let err = init(&o).unwrap_err();
        assert!(
            matches!(err, InitError::Key(kaohe_proto::KeyError::AlreadyExists(_))),
            "{err:?}"
        );
        let left: Vec<_> = std::fs::read_dir(&o.data_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            left,
            vec!["node.key".to_string()],
            "only the pre-existing symlink may remain"
        );
    }
}
