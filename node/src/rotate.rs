//! 更换密钥（`kaohe node rotate-key`）：节点身份不变，换用新的签名密钥。
//!
//! The hub keeps a node's identity across keys (`kaohe hub node
//! rotate-key`): reports signed by the old key stay the node's, and the new
//! key continues the node's sequence. The node's side, in two steps:
//!
//! 1. [`prepare`] makes the next key beside the current one
//!    (`node.key.next`, 0600) and shows its public key for the county
//!    office; run again, it shows the same key. Nothing else changes: the
//!    node keeps signing with its current key.
//! 2. [`adopt`], once the county office registered the new key: refuses
//!    while the outbox holds anything not yet delivered (the hub no longer
//!    accepts new reports signed by the old key), asks the hub whether it
//!    knows the new key (a signed `ListMyUnits` with it), then swaps the
//!    files — the old key is kept as `node.key.retired-<key id>` — under
//!    the delivery lock, so no delivery is half-way. `node.db` and its
//!    sequence counter are untouched: the next submission simply signs
//!    the next number with the new key.

use std::path::{Path, PathBuf};

use kaohe_proto::{KeyError, KeyId, PublicKey, SigningKeyPair};

use crate::client::{CallError, HubClient};
use crate::config::NodeConfig;
use crate::deliver::DeliveryLock;
use crate::store::{Store, StoreError};

/// The next key made by [`prepare`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    pub path: PathBuf,
    pub public_key: PublicKey,
    pub key_id: KeyId,
    /// Whether it was made now (not by an earlier `prepare`).
    pub new: bool,
}

/// The keys before and after [`adopt`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adopted {
    pub old: KeyId,
    pub new: KeyId,
    /// Where the old key is kept.
    pub retired_path: PathBuf,
}

/// Rotating the node's key failed; the node's key is as it was.
#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(
        "还没有新密钥 {path}：请先运行 kaohe node rotate-key prepare，把显示的公钥交县依法治县办登记（no next key yet）"
    )]
    NoNextKey { path: PathBuf },
    #[error(
        "发件箱中还有 {pending} 份提交尚未送达（待发送、发送中或待重发）；汇总中心登记新密钥后不再接收旧密钥签名的新提交，请先送达（kaohe node deliver）再换用新密钥（outbox not empty）"
    )]
    OutboxNotEmpty { pending: u64 },
    #[error(
        "汇总中心尚未登记新密钥 {key_id}：请县依法治县办先运行 kaohe hub node rotate-key <节点> --key {public_key} --reason …；本节点仍使用原密钥（the hub does not know the new key yet）：{source}"
    )]
    NotRegistered {
        key_id: KeyId,
        /// `ed25519:…`, as the county office types it.
        public_key: String,
        source: Box<CallError>,
    },
    #[error(
        "汇总中心拒绝了以新密钥 {key_id} 的调用，本节点仍使用原密钥（the hub refused the next key）：{source}"
    )]
    Refused {
        key_id: KeyId,
        source: Box<CallError>,
    },
    #[error(
        "汇总中心把新密钥认作 {hub}，不是本节点的新密钥 {ours}；本节点仍使用原密钥（the hub identified another key）"
    )]
    Identity { hub: KeyId, ours: KeyId },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Lock(#[from] crate::deliver::LockError),
    #[error("换用密钥文件失败，原密钥不变（cannot swap the key files）：{path}：{source}")]
    Swap {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Where the next key is kept: beside the key, `.next` appended.
pub fn next_key_path(config: &NodeConfig) -> PathBuf {
    with_suffix(&config.key_file, ".next")
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// Makes the next key, or shows the one an earlier `prepare` made.
pub fn prepare(config: &NodeConfig) -> Result<Prepared, RotateError> {
    let path = next_key_path(config);
    let (key, new) = if path.exists() {
        (SigningKeyPair::load(&path)?, false)
    } else {
        let key = SigningKeyPair::generate();
        key.save(&path)?;
        (key, true)
    };
    Ok(Prepared {
        path,
        public_key: key.public(),
        key_id: key.key_id(),
        new,
    })
}

/// Changes the node over to the next key; see the module docs. `now` is
/// the node's clock (signed calls follow the hub's time as the client
/// learned it).
pub async fn adopt(
    config: &NodeConfig,
    store: &Store,
    hub: &HubClient,
    now: &dyn Fn() -> i64,
) -> Result<Adopted, RotateError> {
    let next_path = next_key_path(config);
    if !next_path.exists() {
        return Err(RotateError::NoNextKey { path: next_path });
    }
    let next = SigningKeyPair::load(&next_path)?;
    let current = SigningKeyPair::load(&config.key_file)?;
    let lock = DeliveryLock::acquire(&config.store_file)?;
    let c = store.outbox_counts()?;
    let pending = c.to_send + c.sending + c.retry;
    if pending > 0 {
        return Err(RotateError::OutboxNotEmpty { pending });
    }
    let answer = hub
        .list_my_units(&next, None, now)
        .await
        .map_err(|source| {
            // Only a key the hub has never heard of is "not registered yet";
            // anything else (a client certificate still issued for the old
            // key, a revoked node) is told as the hub gives it.
            let unknown = matches!(&source, CallError::Status(s)
                if s.code() == tonic::Code::PermissionDenied
                    && s.message().ends_with(kaohe_proto::call_auth::NOT_REGISTERED));
            if unknown {
                RotateError::NotRegistered {
                    key_id: next.key_id(),
                    public_key: next.public().to_string(),
                    source: Box::new(source),
                }
            } else {
                RotateError::Refused {
                    key_id: next.key_id(),
                    source: Box::new(source),
                }
            }
        })?;
    if answer.node_id != next.key_id() {
        return Err(RotateError::Identity {
            hub: answer.node_id,
            ours: next.key_id(),
        });
    }
    let retired_path = with_suffix(&config.key_file, &format!(".retired-{}", current.key_id()));
    let swap = |from: &Path, to: &Path| {
        std::fs::rename(from, to).map_err(|source| RotateError::Swap {
            path: from.to_path_buf(),
            source,
        })
    };
    swap(&config.key_file, &retired_path)?;
    if let Err(e) = swap(&next_path, &config.key_file) {
        // Put the old key back: the node keeps working as before.
        let _ = std::fs::rename(&retired_path, &config.key_file);
        return Err(e);
    }
    drop(lock);
    Ok(Adopted {
        old: current.key_id(),
        new: next.key_id(),
        retired_path,
    })
}
