//! Rule packs: `packs`. One active pack per year, never an older version
//! of the active one; activating a pack supersedes, in the same
//! transaction, every unsent outbox entry of its year computed under
//! another pack.

use kaohe_proto::{Envelope, PackIdentity};
use kaohe_rulepacks::manifest::Manifest;
use rusqlite::{OptionalExtension as _, TransactionBehavior, params};
use sha2::{Digest as _, Sha256};

use super::outbox::supersede_other_packs;
use super::{Actor, Store, StoreError};

/// A verified pack to install (sync verifies the authorities' signatures
/// before it calls [`Store::install_pack`]; the store checks only that the
/// pieces belong together).
#[derive(Debug, Clone)]
pub struct NewPack<'a> {
    pub identity: &'a PackIdentity,
    pub module: &'a [u8],
    pub manifest: &'a Manifest,
    /// The pack authorities' envelope, kept as evidence of the verification.
    pub signature: &'a Envelope,
}

/// The active pack of a year, without its module bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackInfo {
    pub identity: PackIdentity,
    pub manifest: Manifest,
}

/// A year without an active pack here, with what the node knows about
/// why: whether the year is in its scope at all, and the years it has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct NoPack {
    pub year: u16,
    /// The years of the node's synced scope.
    pub scope_years: Vec<u16>,
    /// The years with an active pack.
    pub active_years: Vec<u16>,
}

impl NoPack {
    fn describe(&self) -> String {
        let list = |years: &[u16]| {
            if years.is_empty() {
                "无".to_string()
            } else {
                years
                    .iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join("、")
            }
        };
        let year = self.year;
        if self.scope_years.contains(&year) {
            format!(
                "{year} 年还没有启用的规则包：请先运行 kaohe node sync；同步后仍没有，说明汇总中心尚未发布 {year} 年的规则包，请联系县依法治县办（no active pack for {year}: sync; if there is still none, the hub has not published one）"
            )
        } else if self.scope_years.is_empty() {
            format!(
                "{year} 年没有规则包：本节点尚未同步考核范围，请先运行 kaohe node sync（no scope synced yet）"
            )
        } else {
            format!(
                "{year} 年不在本节点的考核范围内，没有该年度的规则包可用：本节点的考核年度为 {}，已启用规则包的年度为 {}；请核对 --year，或请县依法治县办授权该年度后再同步（{year} is not in this node's scope: no such pack）",
                list(&self.scope_years),
                list(&self.active_years)
            )
        }
    }
}

/// Installing a pack was refused.
#[derive(Debug, thiserror::Error)]
pub enum InstallPackError {
    #[error(
        "规则包模块的 SHA-256 与标识不符（module SHA-256 differs from the pack identity {identity}）"
    )]
    ModuleDigest { identity: String },
    #[error(
        "规则包清单是 {manifest}，与标识 {identity} 不符（manifest does not match the pack identity）"
    )]
    ManifestMismatch { identity: String, manifest: String },
    #[error(
        "{year} 年已启用 {active}，不会换成更旧的 {offered}（an older pack version is never activated）"
    )]
    Older {
        year: u16,
        active: String,
        offered: String,
    },
    #[error(
        "{identity} 已以不同的模块安装过（the same version was installed with a different module）"
    )]
    Conflict { identity: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for InstallPackError {
    fn from(e: rusqlite::Error) -> Self {
        InstallPackError::Store(StoreError::Sqlite(e))
    }
}

impl Store {
    /// Stores a pack and makes it the year's active pack, in one
    /// transaction. Installing the active version again is harmless; an
    /// older version than the active one is refused (the last good pack
    /// stays). In the same transaction every unsent outbox entry of that
    /// year computed under another pack is superseded (never sent); their
    /// sequence numbers are returned.
    pub fn install_pack(
        &mut self,
        pack: &NewPack<'_>,
        actor: &Actor,
    ) -> Result<Vec<u64>, InstallPackError> {
        let id = pack.identity;
        let digest: [u8; 32] = Sha256::digest(pack.module).into();
        if digest != id.module_sha256 {
            return Err(InstallPackError::ModuleDigest {
                identity: id.to_string(),
            });
        }
        let p = &pack.manifest.pack;
        if p.id != id.id || p.year != u32::from(id.year) || p.version != id.version {
            return Err(InstallPackError::ManifestMismatch {
                identity: id.to_string(),
                manifest: format!("{}-{} v{}", p.id, p.year, p.version),
            });
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let existing: Option<Vec<u8>> = tx
            .query_row(
                "SELECT module_sha256 FROM packs WHERE pack_id = ?1 AND year = ?2 AND version = ?3",
                params![id.id, id.year, id.version],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(sha) = &existing
            && *sha != id.module_sha256
        {
            return Err(InstallPackError::Conflict {
                identity: id.to_string(),
            });
        }
        let active: Option<(String, u32)> = tx
            .query_row(
                "SELECT pack_id, version FROM packs WHERE year = ?1 AND is_active = 1",
                [id.year],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((active_id, active_version)) = &active
            && *active_id == id.id
            && *active_version > id.version
        {
            return Err(InstallPackError::Older {
                year: id.year,
                active: format!("{active_id}-{} v{active_version}", id.year),
                offered: id.to_string(),
            });
        }
        if existing.is_none() {
            let signature = pack.signature.to_protobuf();
            tx.execute(
                "INSERT INTO packs (pack_id, year, version, module_sha256, module, manifest,
                                    signature, installed_at, is_active)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0)",
                params![
                    id.id,
                    id.year,
                    id.version,
                    id.module_sha256.as_slice(),
                    pack.module,
                    String::from_utf8_lossy(&pack.manifest.to_canonical_json()),
                    signature,
                    actor.at.to_string(),
                ],
            )?;
        }
        tx.execute(
            "UPDATE packs SET is_active = 0 WHERE year = ?1 AND is_active = 1",
            [id.year],
        )?;
        tx.execute(
            "UPDATE packs SET is_active = 1 WHERE pack_id = ?1 AND year = ?2 AND version = ?3",
            params![id.id, id.year, id.version],
        )?;
        let superseded = supersede_other_packs(&tx, id, &actor.at.to_string())?;
        tx.commit()?;
        Ok(superseded)
    }

    /// The year's active pack (identity and manifest), if any.
    pub fn active_pack(&self, year: u16) -> Result<Option<PackInfo>, StoreError> {
        let row: Option<(String, u16, u32, Vec<u8>, String)> = self
            .conn
            .query_row(
                "SELECT pack_id, year, version, module_sha256, manifest
                 FROM packs WHERE year = ?1 AND is_active = 1",
                [year],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()?;
        let Some((id, year, version, sha, manifest)) = row else {
            return Ok(None);
        };
        let module_sha256 = <[u8; 32]>::try_from(sha.as_slice()).map_err(|_| {
            StoreError::Corrupt(format!("packs.module_sha256 of {id}-{year} v{version}"))
        })?;
        let manifest = Manifest::from_json(manifest.as_bytes()).map_err(|e| {
            StoreError::Corrupt(format!("packs.manifest of {id}-{year} v{version}: {e}"))
        })?;
        Ok(Some(PackInfo {
            identity: PackIdentity {
                id,
                year,
                version,
                module_sha256,
            },
            manifest,
        }))
    }

    /// Every pack this node holds (any year, active or not).
    pub fn pack_identities(&self) -> Result<Vec<PackIdentity>, StoreError> {
        Ok(self.packs()?.into_iter().map(|(id, _)| id).collect())
    }

    /// Every pack this node holds with whether it is its year's active one,
    /// by year, id and version.
    /// The year's active pack, or why there is none ([`NoPack`]).
    pub fn require_pack(&self, year: u16) -> Result<Result<PackInfo, NoPack>, StoreError> {
        if let Some(pack) = self.active_pack(year)? {
            return Ok(Ok(pack));
        }
        let mut active_years: Vec<u16> = self
            .packs()?
            .into_iter()
            .filter(|(_, active)| *active)
            .map(|(id, _)| id.year)
            .collect();
        active_years.dedup();
        Ok(Err(NoPack {
            year,
            scope_years: self.scope_years()?,
            active_years,
        }))
    }

    pub fn packs(&self) -> Result<Vec<(PackIdentity, bool)>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT pack_id, year, version, module_sha256, is_active FROM packs ORDER BY year, pack_id, version",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, u16>(1)?,
                r.get::<_, u32>(2)?,
                r.get::<_, Vec<u8>>(3)?,
                r.get::<_, bool>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, year, version, sha, active) = row?;
            let module_sha256 = <[u8; 32]>::try_from(sha.as_slice()).map_err(|_| {
                StoreError::Corrupt(format!("packs.module_sha256 of {id}-{year} v{version}"))
            })?;
            out.push((
                PackIdentity {
                    id,
                    year,
                    version,
                    module_sha256,
                },
                active,
            ));
        }
        Ok(out)
    }

    /// The module bytes of a stored pack.
    pub fn pack_module(&self, identity: &PackIdentity) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT module FROM packs WHERE pack_id = ?1 AND year = ?2 AND version = ?3",
                params![identity.id, identity.year, identity.version],
                |r| r.get(0),
            )
            .optional()?)
    }
}
