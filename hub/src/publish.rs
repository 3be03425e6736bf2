//! 发布规则包（publishing a pack）：核验发布机关签名，确认本中心能复算，再启用。
//!
//! `kaohe hub pack publish PACK.wasm --sig PACK.wasm.sig` reads the module
//! and the signature file (the protobuf `Envelope` that `kaohe pack sign`
//! writes), verifies them with [`verify_pack`] under the trust policy of
//! `hub.toml` (k of n authority keys; no rollback below a version this hub
//! already holds), loads the module into the sandbox under the verified
//! identity ([`Pack::load`]), runs the pack's own self-test in this hub's
//! sandbox ([`Pack::self_test`]: the fixtures `kaohe pack build` embedded,
//! every byte as recorded) and computes its round deadlines — a pack the
//! hub cannot replay, or that scores otherwise than it was built to, is
//! never activated, and the last good pack stays current — and only then
//! stores
//! it as the current version ([`publish_pack`]), which flags the results of
//! the version it replaces for re-evaluation.

use kaohe_proto::{Envelope, PackIdentity};
use kaohe_rulepacks::pack::{Pack, PackError};
use kaohe_rulepacks::runtime::Runtime;
use kaohe_rulepacks::sign::{Expectation, PackTrustError, TrustPolicy, VerifiedPack, verify_pack};
use rusqlite::Connection;

use crate::audit::Actor;
use crate::ingest::{DeadlineError, RoundDeadlines};
use crate::registry::StoreError;
use crate::registry::packs::{self, PublishOutcome, PublishPackError, publish_pack};

/// Publishing failed; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("签名文件无法解码（signature file does not decode）：{0}")]
    Envelope(kaohe_proto::FieldError),
    #[error("规则包未通过签名核验，未发布（pack not trusted, not published）：{0}")]
    Trust(#[from] PackTrustError),
    #[error("规则包未发布：{0}")]
    Unusable(#[from] PackError),
    /// A pack without a self-test: built before packs carried one, or not
    /// with `kaohe pack build`. New publication needs the dry run; packs
    /// published earlier keep working for their years.
    #[error(
        "规则包未发布：规则包 {pack} 没有内嵌自检用例，无法在启用前试算；请用 `kaohe pack build`（附手算用例）重新编译并签名（the pack carries no self-test: rebuild it with its fixtures）"
    )]
    NoSelfTest { pack: PackIdentity },
    #[error("规则包未发布：规则包 {pack}：{source}")]
    Deadlines {
        pack: PackIdentity,
        #[source]
        source: DeadlineError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Publish(#[from] PublishPackError),
}

/// Verifies, test-loads and publishes a signed pack.
pub fn publish_signed(
    conn: &mut Connection,
    runtime: &Runtime,
    policy: &TrustPolicy,
    module: &[u8],
    signature_file: &[u8],
    actor: &Actor,
) -> Result<(VerifiedPack, PublishOutcome), PublishError> {
    let envelope = Envelope::from_protobuf(signature_file).map_err(PublishError::Envelope)?;
    let accepted: Vec<_> = packs::list_packs(conn)?
        .into_iter()
        .map(|p| p.identity)
        .collect();
    let verified = verify_pack(
        module,
        &envelope,
        policy,
        &Expectation {
            year: None,
            accepted: &accepted,
        },
    )?;
    let pack = Pack::load(runtime, module, &verified.identity)?;
    if pack.self_test()?.is_none() {
        return Err(PublishError::NoSelfTest {
            pack: verified.identity.clone(),
        });
    }
    RoundDeadlines::of(&pack.manifest().schedule, verified.identity.year).map_err(|source| {
        PublishError::Deadlines {
            pack: verified.identity.clone(),
            source,
        }
    })?;
    let outcome = publish_pack(conn, &verified.identity, module, signature_file, actor)?;
    Ok((verified, outcome))
}
