//! 规则包（rule packs）：已发布的版本全部保留，每个（规则包，年度）只有一个当前版本。
//!
//! Signature verification happens *before* [`publish_pack`]: the caller
//! passes the identity it verified together with the exact module and
//! envelope bytes it verified. This module stores them, keeps every version,
//! and refuses to make an older version current (an older pack is never
//! activated; the last good one stays).
//!
//! A year whose approval is in force takes no pack at all
//! ([`lock::locked`]): a new version would regrade an approved result.
//!
//! When a newer version becomes current, the results computed under the
//! version it replaces must be evaluated again: [`mark_results_for_reevaluation`]
//! records the request in `pack_reevaluations` and flags the results, in
//! the same transaction as the publication. What counts is the version:
//! [`crate::results`] leaves a result of an older version out of the
//! consolidation (待重新评价) until its node reports again under the
//! current one, which the node's next sync does.

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::StoreError;
use crate::audit::{self, Actor};
use crate::lock::{self, Locked};

pub use kaohe_proto::submission::PackIdentity;

/// A stored pack version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPack {
    pub identity: PackIdentity,
    pub module: Vec<u8>,
    /// The signature envelope exactly as received.
    pub envelope: Vec<u8>,
    pub published_at: Timestamp,
    pub published_by: String,
    pub is_current: bool,
}

/// A pack version without its bytes, for listings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackSummary {
    pub identity: PackIdentity,
    pub module_len: usize,
    pub published_at: Timestamp,
    pub published_by: String,
    pub is_current: bool,
}

/// What [`publish_pack`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishOutcome {
    /// Stored and made current; `superseded` is the version it replaced.
    Published { superseded: Option<u32> },
    /// This exact version (same module) was already published: nothing changed.
    AlreadyPublished { is_current: bool },
}

/// Publishing failed; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum PublishPackError {
    #[error(
        "规则包 {id} {year} 年度模块的 SHA-256 与签名身份不符（module digest does not match the verified identity）"
    )]
    DigestMismatch { id: String, year: u16 },
    #[error(
        "规则包 {id} {year} 年度当前版本是 {current}，不能发布更旧的版本 {offered}（older version refused; current stays）"
    )]
    NotNewer {
        id: String,
        year: u16,
        current: u32,
        offered: u32,
    },
    #[error(
        "规则包 {id} {year} 年度版本 {version} 已发布过另一个模块，同一版本号不能对应两个模块（version already published with different content）"
    )]
    ConflictingContent { id: String, year: u16, version: u32 },
    #[error("规则包 {id} 未发布：{locked}")]
    Locked { id: String, locked: Locked },
    #[error("发布规则包失败，已回滚（cannot store pack, rolled back）：{0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// Stores a verified pack version and makes it current (audit-logged), in
/// one transaction with the re-evaluation request for the version it replaces.
pub fn publish_pack(
    conn: &mut Connection,
    identity: &PackIdentity,
    module: &[u8],
    envelope: &[u8],
    actor: &Actor,
) -> Result<PublishOutcome, PublishPackError> {
    let digest: [u8; 32] = Sha256::digest(module).into();
    if digest != identity.module_sha256 {
        return Err(PublishPackError::DigestMismatch {
            id: identity.id.clone(),
            year: identity.year,
        });
    }
    let tx = conn.transaction()?;
    // A new version would regrade an approved year.
    if let Some(locked) = lock::locked(&tx, i32::from(identity.year))? {
        return Err(PublishPackError::Locked {
            id: identity.to_string(),
            locked,
        });
    }
    let existing: Option<(Vec<u8>, bool)> = tx
        .query_row(
            "SELECT module_sha256, is_current FROM packs WHERE pack_id = ?1 AND year = ?2 AND version = ?3",
            params![identity.id, identity.year, identity.version],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    if let Some((sha, is_current)) = existing {
        return if sha == identity.module_sha256 {
            Ok(PublishOutcome::AlreadyPublished { is_current })
        } else {
            Err(PublishPackError::ConflictingContent {
                id: identity.id.clone(),
                year: identity.year,
                version: identity.version,
            })
        };
    }
    let current: Option<u32> = tx
        .query_row(
            "SELECT version FROM packs WHERE pack_id = ?1 AND year = ?2 AND is_current = 1",
            params![identity.id, identity.year],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(current) = current {
        if current > identity.version {
            return Err(PublishPackError::NotNewer {
                id: identity.id.clone(),
                year: identity.year,
                current,
                offered: identity.version,
            });
        }
        tx.execute(
            "UPDATE packs SET is_current = 0 WHERE pack_id = ?1 AND year = ?2 AND is_current = 1",
            params![identity.id, identity.year],
        )?;
    }
    tx.execute(
        "INSERT INTO packs (pack_id, year, version, module_sha256, module, envelope, published_at, published_by, is_current)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1)",
        params![
            identity.id,
            identity.year,
            identity.version,
            identity.module_sha256.as_slice(),
            module,
            envelope,
            actor.at.to_string(),
            actor.operator
        ],
    )?;
    let flagged = match current {
        Some(superseded) => mark_results_for_reevaluation(&tx, identity, superseded, actor.at)?,
        None => 0,
    };
    audit::append(
        &tx,
        actor,
        audit::action::PACK_PUBLISH,
        &format!("pack/{}/{}", identity.id, identity.year),
        &json!({
            "pack_id": identity.id,
            "year": identity.year,
            "version": identity.version,
            "module_sha256": hex::encode(identity.module_sha256),
            "module_len": module.len(),
            "envelope_len": envelope.len(),
            "superseded": current,
            "results_flagged_for_reevaluation": flagged,
        }),
    )?;
    tx.commit()?;
    Ok(PublishOutcome::Published {
        superseded: current,
    })
}

/// Marks the results computed under `superseded` as needing re-evaluation
/// under the now-current `identity.version`. Runs inside the publishing
/// transaction.
///
/// Two records: the request itself (`pack_reevaluations`, `completed_at`
/// NULL until the replay under the new version has run), and the flag on
/// every current result computed under the superseded version
/// (`results.needs_reevaluation`). Returns how many results were flagged.
pub fn mark_results_for_reevaluation(
    tx: &Transaction<'_>,
    identity: &PackIdentity,
    superseded: u32,
    at: Timestamp,
) -> rusqlite::Result<usize> {
    tx.execute(
        "INSERT INTO pack_reevaluations (pack_id, year, superseded_version, current_version, requested_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            identity.id,
            identity.year,
            superseded,
            identity.version,
            at.to_string()
        ],
    )?;
    tx.execute(
        "UPDATE results SET needs_reevaluation = 1
         WHERE pack_id = ?1 AND year = ?2 AND pack_version = ?3 AND is_current = 1",
        params![identity.id, identity.year, superseded],
    )
}

/// A re-evaluation request left by a newer pack version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reevaluation {
    pub seq: i64,
    pub pack_id: String,
    pub year: u16,
    pub superseded_version: u32,
    pub current_version: u32,
    pub requested_at: Timestamp,
}

/// Re-evaluation requests not yet completed, oldest first.
pub fn pending_reevaluations(conn: &Connection) -> Result<Vec<Reevaluation>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT seq, pack_id, year, superseded_version, current_version, requested_at
         FROM pack_reevaluations WHERE completed_at IS NULL ORDER BY seq",
    )?;
    let rows = stmt.query_map([], |r| <(i64, String, u16, u32, u32, String)>::try_from(r))?;
    let mut out = Vec::new();
    for row in rows {
        let (seq, pack_id, year, superseded_version, current_version, at) = row?;
        let requested_at = at.parse().map_err(|e| StoreError::Corrupt {
            table: "pack_reevaluations",
            key: seq.to_string(),
            detail: format!("requested_at: {e}"),
        })?;
        out.push(Reevaluation {
            seq,
            pack_id,
            year,
            superseded_version,
            current_version,
            requested_at,
        });
    }
    Ok(out)
}

/// The current version of a pack for a year, with its bytes.
pub fn current_pack(
    conn: &Connection,
    pack_id: &str,
    year: u16,
) -> Result<Option<StoredPack>, StoreError> {
    load(
        conn,
        "pack_id = ?1 AND year = ?2 AND is_current = 1",
        params![pack_id, year],
    )
}

/// One stored version of a pack, with its bytes.
pub fn pack_version(
    conn: &Connection,
    pack_id: &str,
    year: u16,
    version: u32,
) -> Result<Option<StoredPack>, StoreError> {
    load(
        conn,
        "pack_id = ?1 AND year = ?2 AND version = ?3",
        params![pack_id, year, version],
    )
}

/// Every stored version, without bytes, by pack, year and version.
pub fn list_packs(conn: &Connection) -> Result<Vec<PackSummary>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT pack_id, year, version, module_sha256, length(module), published_at, published_by, is_current
         FROM packs ORDER BY pack_id, year, version",
    )?;
    let rows = stmt.query_map([], |r| {
        <(String, u16, u32, Vec<u8>, i64, String, String, bool)>::try_from(r)
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, year, version, sha, len, at, by, is_current) = row?;
        let key = format!("{id}/{year}/{version}");
        out.push(PackSummary {
            identity: PackIdentity {
                module_sha256: digest_from(&sha, &key)?,
                id,
                year,
                version,
            },
            module_len: len as usize,
            published_at: timestamp_from(&at, &key)?,
            published_by: by,
            is_current,
        });
    }
    Ok(out)
}

fn load(
    conn: &Connection,
    condition: &str,
    params: impl rusqlite::Params,
) -> Result<Option<StoredPack>, StoreError> {
    let row = conn
        .query_row(
            &format!(
                "SELECT pack_id, year, version, module_sha256, module, envelope, published_at, published_by, is_current
                 FROM packs WHERE {condition}"
            ),
            params,
            |r| <(String, u16, u32, Vec<u8>, Vec<u8>, Vec<u8>, String, String, bool)>::try_from(r),
        )
        .optional()?;
    let Some((id, year, version, sha, module, envelope, at, by, is_current)) = row else {
        return Ok(None);
    };
    let key = format!("{id}/{year}/{version}");
    Ok(Some(StoredPack {
        identity: PackIdentity {
            module_sha256: digest_from(&sha, &key)?,
            id,
            year,
            version,
        },
        module,
        envelope,
        published_at: timestamp_from(&at, &key)?,
        published_by: by,
        is_current,
    }))
}

fn digest_from(bytes: &[u8], key: &str) -> Result<[u8; 32], StoreError> {
    bytes.try_into().map_err(|_| StoreError::Corrupt {
        table: "packs",
        key: key.to_string(),
        detail: format!("module_sha256 has {} bytes", bytes.len()),
    })
}

fn timestamp_from(text: &str, key: &str) -> Result<Timestamp, StoreError> {
    text.parse().map_err(|e| StoreError::Corrupt {
        table: "packs",
        key: key.to_string(),
        detail: format!("published_at: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(version: u32, module: &[u8]) -> PackIdentity {
        PackIdentity {
            id: "baofeng".into(),
            year: 2024,
            version,
            module_sha256: Sha256::digest(module).into(),
        }
    }

    fn actor(at: &str) -> Actor {
        Actor::new("pack-admin", at.parse().unwrap())
    }

    #[test]
    fn a_newer_version_becomes_current_keeps_the_old_and_requests_reevaluation() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::db::create(dir.path()).unwrap();
        let v1 = identity(1, b"module v1");
        assert_eq!(
            publish_pack(
                &mut conn,
                &v1,
                b"module v1",
                b"env1",
                &actor("2024-01-01T00:00:00Z")
            )
            .unwrap(),
            PublishOutcome::Published { superseded: None }
        );
        assert!(pending_reevaluations(&conn).unwrap().is_empty());

        let v2 = identity(2, b"module v2");
        assert_eq!(
            publish_pack(
                &mut conn,
                &v2,
                b"module v2",
                b"env2",
                &actor("2024-03-01T00:00:00Z")
            )
            .unwrap(),
            PublishOutcome::Published {
                superseded: Some(1)
            }
        );
        let current = current_pack(&conn, "baofeng", 2024).unwrap().unwrap();
        assert_eq!(current.identity, v2);
        assert_eq!(current.module, b"module v2");
        assert_eq!(current.envelope, b"env2");
        assert_eq!(current.published_by, "pack-admin");
        let old = pack_version(&conn, "baofeng", 2024, 1).unwrap().unwrap();
        assert!(!old.is_current);
        assert_eq!(old.module, b"module v1");

        let pending = pending_reevaluations(&conn).unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(
            (pending[0].superseded_version, pending[0].current_version),
            (1, 2)
        );
        assert_eq!(list_packs(&conn).unwrap().len(), 2);
        let log = crate::audit::recent(&conn, 10).unwrap();
        assert_eq!(log.len(), 2);
        assert_eq!(log[1].detail["superseded"], json!(1));
    }

    #[test]
    fn an_older_version_is_refused_and_the_current_one_stays() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::db::create(dir.path()).unwrap();
        let v3 = identity(3, b"v3");
        publish_pack(&mut conn, &v3, b"v3", b"e", &actor("2024-01-01T00:00:00Z")).unwrap();
        let v2 = identity(2, b"v2");
        let err =
            publish_pack(&mut conn, &v2, b"v2", b"e", &actor("2024-01-02T00:00:00Z")).unwrap_err();
        assert!(
            matches!(
                err,
                PublishPackError::NotNewer {
                    current: 3,
                    offered: 2,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(
            current_pack(&conn, "baofeng", 2024)
                .unwrap()
                .unwrap()
                .identity,
            v3
        );
        assert!(pack_version(&conn, "baofeng", 2024, 2).unwrap().is_none());
        assert_eq!(crate::audit::recent(&conn, 10).unwrap().len(), 1);
    }

    #[test]
    fn republishing_is_idempotent_but_a_different_module_under_the_same_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::db::create(dir.path()).unwrap();
        let v1 = identity(1, b"v1");
        publish_pack(&mut conn, &v1, b"v1", b"e", &actor("2024-01-01T00:00:00Z")).unwrap();
        assert_eq!(
            publish_pack(&mut conn, &v1, b"v1", b"e", &actor("2024-01-02T00:00:00Z")).unwrap(),
            PublishOutcome::AlreadyPublished { is_current: true }
        );
        let other = identity(1, b"other");
        assert!(matches!(
            publish_pack(
                &mut conn,
                &other,
                b"other",
                b"e",
                &actor("2024-01-02T00:00:00Z")
            ),
            Err(PublishPackError::ConflictingContent { version: 1, .. })
        ));
        // The identity must describe the bytes stored.
        assert!(matches!(
            publish_pack(
                &mut conn,
                &identity(2, b"v2"),
                b"not v2",
                b"e",
                &actor("2024-01-02T00:00:00Z")
            ),
            Err(PublishPackError::DigestMismatch { .. })
        ));
        assert_eq!(crate::audit::recent(&conn, 10).unwrap().len(), 1);
    }

    #[test]
    fn packs_of_other_years_are_independent() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::db::create(dir.path()).unwrap();
        let mut a = identity(5, b"a");
        a.year = 2025;
        publish_pack(&mut conn, &a, b"a", b"e", &actor("2025-01-01T00:00:00Z")).unwrap();
        let b = identity(1, b"b");
        assert_eq!(
            publish_pack(&mut conn, &b, b"b", b"e", &actor("2025-01-01T00:00:00Z")).unwrap(),
            PublishOutcome::Published { superseded: None }
        );
        assert_eq!(
            current_pack(&conn, "baofeng", 2025)
                .unwrap()
                .unwrap()
                .identity
                .version,
            5
        );
        assert_eq!(
            current_pack(&conn, "baofeng", 2024)
                .unwrap()
                .unwrap()
                .identity
                .version,
            1
        );
    }
}
