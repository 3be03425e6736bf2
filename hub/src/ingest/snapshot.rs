//! What the single writer checks against: the registry as of its last
//! look ([`RegistrySnapshot`], reloaded when another connection committed)
//! and the current packs loaded for replay ([`ActivePack`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use kaohe_proto::PackIdentity;
use kaohe_rulepacks::pack::{Pack, PackError};
use kaohe_rulepacks::runtime::Runtime;
use rusqlite::Connection;

use super::checks::{DeadlineError, RoundDeadlines};
use super::verify::NodeDirectory;
use crate::registry::StoreError;
use crate::registry::units::{self, YearRoster};

/// A current pack the hub can replay: loaded once, kept while current,
/// with the round deadlines its schedule gives (lateness is judged by
/// them at commit).
#[derive(Debug)]
pub struct ActivePack {
    pub pack: Pack,
    pub deadlines: RoundDeadlines,
}

/// Why the current pack of an (id, year) cannot be replayed here: every
/// submission naming it is refused with this reason until it is fixed.
#[derive(Debug, thiserror::Error)]
pub enum PackUnavailable {
    #[error("汇总中心不能使用该规则包（the hub cannot use the pack）：{0}")]
    Pack(#[from] PackError),
    #[error("规则包 {pack}：{source}")]
    Deadlines {
        pack: PackIdentity,
        #[source]
        source: DeadlineError,
    },
    #[error("规则包 {0} 的模块缺失（module missing）")]
    ModuleMissing(PackIdentity),
}

impl ActivePack {
    /// Loads a stored pack under its stored identity ([`Pack::load`]) and
    /// computes its round deadlines.
    pub fn load(
        runtime: &Runtime,
        identity: &PackIdentity,
        module: &[u8],
    ) -> Result<ActivePack, PackUnavailable> {
        let pack = Pack::load(runtime, module, identity)?;
        let deadlines =
            RoundDeadlines::of(&pack.manifest().schedule, identity.year).map_err(|source| {
                PackUnavailable::Deadlines {
                    pack: identity.clone(),
                    source,
                }
            })?;
        Ok(ActivePack { pack, deadlines })
    }

    /// Id, year, version and module SHA-256.
    pub fn identity(&self) -> &PackIdentity {
        self.pack.identity()
    }
}

/// What the writer checks against: the registry as of the last look, and
/// the current packs loaded for replay.
#[derive(Debug, Default)]
pub struct RegistrySnapshot {
    /// `PRAGMA data_version` when loaded; changes when another connection
    /// commits.
    data_version: Option<i64>,
    pub nodes: Arc<NodeDirectory>,
    pub rosters: Arc<BTreeMap<i32, YearRoster>>,
    /// Current pack per (id, year); `Err` when it cannot be replayed here.
    pub packs: HashMap<(String, u16), Result<Arc<ActivePack>, PackUnavailable>>,
    /// The rosters and usable packs of this snapshot, shared with the
    /// verifiers so they replay ahead of the writer.
    view: Arc<ReplayView>,
}

/// What replay needs of a snapshot, shared read-only with the verify
/// workers: they replay each submission against it ahead of the writer
/// ([`replay::ahead`](super::replay::ahead)), and the writer takes their
/// verdict only where its own snapshot gives the same pack, category and
/// unit name — so a view a moment old costs a replay in the writer, never
/// a wrong verdict.
#[derive(Debug, Default)]
pub struct ReplayView {
    pub rosters: Arc<BTreeMap<i32, YearRoster>>,
    /// The usable current packs per (id, year).
    pub packs: HashMap<(String, u16), Arc<ActivePack>>,
}

impl RegistrySnapshot {
    /// The rosters and packs of this snapshot, for replay ahead.
    pub fn replay_view(&self) -> Arc<ReplayView> {
        Arc::clone(&self.view)
    }

    /// Reloads everything if another connection committed since the last
    /// load (packs whose identity did not change are kept loaded). Returns
    /// whether it reloaded.
    pub fn refresh(&mut self, conn: &Connection, runtime: &Runtime) -> Result<bool, StoreError> {
        let version: i64 = conn.query_row("PRAGMA data_version", [], |r| r.get(0))?;
        if self.data_version == Some(version) {
            return Ok(false);
        }
        self.nodes = Arc::new(NodeDirectory::load(conn)?);
        let mut rosters = BTreeMap::new();
        for (year, _) in units::roster_years(conn)? {
            rosters.insert(year, units::load_roster(conn, year)?);
        }
        self.rosters = Arc::new(rosters);
        let mut packs = HashMap::new();
        for summary in crate::registry::packs::list_packs(conn)? {
            if !summary.is_current {
                continue;
            }
            let id = &summary.identity;
            let key = (id.id.clone(), id.year);
            let kept = match self.packs.remove(&key) {
                Some(Ok(active)) if active.identity() == id => Some(Ok(active)),
                _ => None,
            };
            let entry = match kept {
                Some(entry) => entry,
                None => {
                    let stored =
                        crate::registry::packs::pack_version(conn, &id.id, id.year, id.version)?;
                    match stored {
                        Some(stored) => ActivePack::load(runtime, id, &stored.module).map(Arc::new),
                        None => Err(PackUnavailable::ModuleMissing(id.clone())),
                    }
                }
            };
            if let Err(e) = &entry {
                tracing::error!("{e}");
            }
            packs.insert(key, entry);
        }
        self.packs = packs;
        self.view = Arc::new(ReplayView {
            rosters: Arc::clone(&self.rosters),
            packs: self
                .packs
                .iter()
                .filter_map(|(k, p)| Some((k.clone(), Arc::clone(p.as_ref().ok()?))))
                .collect(),
        });
        self.data_version = Some(version);
        Ok(true)
    }
}
