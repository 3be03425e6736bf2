//! 规则包启用（pack activation）：`kaohe node pack install`。
//!
//! A pack becomes the year's active pack only after every check passed, in
//! this order; otherwise the last good pack stays active and nothing is
//! stored:
//!
//! 1. the pinned authorities of `node.toml` form a trust policy (k of n);
//! 2. [`kaohe_rulepacks::sign::verify_pack`]: the envelope is signed by at
//!    least k pinned authorities over a statement naming this module's
//!    SHA-256, id, year and version, and it is no rollback against the packs
//!    this node already holds;
//! 3. the module loads in the sandbox under the verified identity
//!    ([`Pack::load`]: no imports, the ABI exports, limits; the embedded
//!    manifest parses strictly and names that identity) — a pack that
//!    cannot run is never activated;
//! 4. the pack's own self-test ([`Pack::self_test`]: the fixtures `kaohe
//!    pack build` embedded, replayed in this node's sandbox) gives exactly
//!    the recorded bytes — a pack that loads but cannot evaluate, or scores
//!    otherwise, is never activated. A pack built before self-tests carries
//!    none and is installed (the hub no longer publishes such packs, and
//!    earlier years' packs must keep working);
//! 5. [`Store::install_pack`] stores module, manifest and envelope and
//!    switches the active pack in one transaction.
//!
//! `kaohe node sync` calls [`install`] with what `FetchPack` returned;
//! officials may also install the files the county office distributes.
//! Activating a newer version supersedes the unsent outbox entries computed
//! under the one it replaces (same transaction).

use kaohe_proto::{Envelope, KeyId, PackIdentity};
use kaohe_rulepacks::pack::{Pack, PackError};
use kaohe_rulepacks::runtime::Runtime;
use kaohe_rulepacks::selftest::Passed;
use kaohe_rulepacks::sign::{self, Expectation, PackTrustError, PolicyError, TrustPolicy};

use crate::config::NodeConfig;
use crate::store::{Actor, InstallPackError, NewPack, Store, StoreError};

/// A pack that was activated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub identity: PackIdentity,
    pub title: String,
    /// The authorities whose signatures verified.
    pub signers: Vec<KeyId>,
    /// The year's pack it replaced, if another one was active.
    pub replaced: Option<PackIdentity>,
    /// Outbox entries computed under an earlier pack of the year, still
    /// unsent: superseded in the activation's transaction, never sent.
    pub superseded: Vec<u64>,
    /// What the pack's self-test ran; `None` for a pack without one.
    pub self_test: Option<Passed>,
}

/// The pack was not activated; the previous one stays.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(
        "节点配置 {path} 中没有规则包签发机构公钥（[pack_authorities] keys），不能核验任何规则包（no pack authority keys pinned）"
    )]
    NoAuthorities { path: String },
    #[error("节点配置中的签发机构设置无效（invalid pack authority policy）：{0}")]
    Policy(#[from] PolicyError),
    #[error("规则包未通过核验，未启用（pack refused, not activated）：{0}")]
    Trust(#[from] PackTrustError),
    #[error("规则包不能使用，未启用（the pack cannot be used, not activated）：{0}")]
    Pack(#[from] PackError),
    #[error(transparent)]
    Store(#[from] InstallPackError),
}

impl From<StoreError> for InstallError {
    fn from(e: StoreError) -> Self {
        InstallError::Store(InstallPackError::Store(e))
    }
}

/// Verifies `module` with its authorities' `envelope` under the node's
/// pinned policy and activates it.
pub fn install(
    store: &mut Store,
    config: &NodeConfig,
    runtime: &Runtime,
    module: &[u8],
    envelope: &Envelope,
    actor: &Actor,
) -> Result<Installed, InstallError> {
    let a = &config.authorities;
    if a.keys.is_empty() {
        return Err(InstallError::NoAuthorities {
            path: config.path.display().to_string(),
        });
    }
    let policy = TrustPolicy::new(a.keys.clone(), a.threshold)?;
    let accepted = store.pack_identities()?;
    let verified = sign::verify_pack(
        module,
        envelope,
        &policy,
        &Expectation {
            year: None,
            accepted: &accepted,
        },
    )?;
    let pack = Pack::load(runtime, module, &verified.identity)?;
    let self_test = pack.self_test()?;
    let replaced = store
        .active_pack(verified.identity.year)?
        .map(|p| p.identity)
        .filter(|p| *p != verified.identity);
    let superseded = store.install_pack(
        &NewPack {
            identity: &verified.identity,
            module,
            manifest: pack.manifest(),
            signature: envelope,
        },
        actor,
    )?;
    Ok(Installed {
        identity: verified.identity,
        title: verified.title,
        signers: verified.signers,
        replaced,
        superseded,
        self_test,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{config_pinning as config, test_module as module};

    use crate::testutil::actor;
    use kaohe_proto::SigningKeyPair;

    use kaohe_rulepacks::runtime::RuntimeConfig;

    #[test]
    fn only_a_pack_signed_by_enough_pinned_authorities_is_activated() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::create(&dir.path().join("node.db")).unwrap();
        let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
        let (a, b) = (
            SigningKeyPair::from_seed(&[1; 32]),
            SigningKeyPair::from_seed(&[2; 32]),
        );
        let v2 = module(2);
        let one = sign::sign_pack(&v2, 1_700_000_000, &[&a]).unwrap();
        let both = sign::sign_pack(&v2, 1_700_000_000, &[&a, &b]).unwrap();

        // Nobody pinned.
        let err = install(
            &mut store,
            &config(dir.path(), &[], 0),
            &runtime,
            &v2,
            &both,
            &actor("王"),
        )
        .unwrap_err();
        assert!(matches!(err, InstallError::NoAuthorities { .. }), "{err}");
        // Two of two required, one signed.
        let two_of_two = config(dir.path(), &[&a, &b], 2);
        let err = install(&mut store, &two_of_two, &runtime, &v2, &one, &actor("王")).unwrap_err();
        assert!(matches!(err, InstallError::Trust(_)), "{err}");
        // A changed byte.
        let mut tampered = v2.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        let err = install(
            &mut store,
            &two_of_two,
            &runtime,
            &tampered,
            &both,
            &actor("王"),
        )
        .unwrap_err();
        assert!(matches!(err, InstallError::Trust(_)), "{err}");
        assert!(
            store.active_pack(2022).unwrap().is_none(),
            "a refused pack was activated"
        );

        let ok = install(&mut store, &two_of_two, &runtime, &v2, &both, &actor("王")).unwrap();
        assert_eq!((ok.identity.version, ok.signers.len()), (2, 2));
        assert_eq!(
            store.active_pack(2022).unwrap().unwrap().identity,
            ok.identity
        );

        // An older version after a newer one: refused, v2 stays.
        let v1 = module(1);
        let old = sign::sign_pack(&v1, 1_700_000_000, &[&a, &b]).unwrap();
        let err = install(&mut store, &two_of_two, &runtime, &v1, &old, &actor("王")).unwrap_err();
        assert!(matches!(err, InstallError::Trust(_)), "{err}");
        assert_eq!(
            store.active_pack(2022).unwrap().unwrap().identity.version,
            2
        );
    }
}
