//! 同步（`kaohe node sync`）：从汇总中心取得规则包和本节点的考核范围。
//!
//! In order, each step its own transaction, so a sync cut short leaves
//! everything consistent and simply runs again; repeating it changes
//! nothing that is already current:
//!
//! 1. `ListPacks` (unsigned; its answer also tells the hub's clock, which
//!    the signed calls below then use — see [`crate::client`]);
//! 2. `ListMyUnits` (signed): the years of the delegated scope, then each
//!    year's units and methods → [`Store::replace_scope`]; a year the hub
//!    no longer delegates is emptied locally (the hub would refuse it);
//! 3. for each year in scope, the hub's **current** pack: nothing to do if
//!    it is already the active one; otherwise `FetchPack` that exact
//!    version and [`pack::install`] it — k-of-n signatures by the pinned
//!    authorities, no rollback, sandbox load, then activation. A pack that
//!    fails any check is refused with the reason and **the last good pack
//!    stays active**;
//! 4. a newer version activated for a year supersedes the unsent outbox
//!    entries computed under the old one (never sent), and the results
//!    computed under it ([`Store::reevaluations`]) are scored again from
//!    the stored evidence and queued ([`evaluate::reevaluate`]) — the hub
//!    holds them as 待重新评价 until they arrive, and no official retypes
//!    anything. What cannot be evaluated again is listed, for the next
//!    `submit`.
//! 5. with the hub's key pinned, each year's transparency log is witnessed
//!    ([`witness`]): a checkpoint consistent with the last one stored is
//!    kept and cosigned; an inconsistent one is kept as evidence beside it
//!    and stops delivery.
//!
//! A node that synced once keeps working offline: everything is in the
//! store.

use kaohe_proto::model::{FetchPackRequest, FetchedPack, PackSummary};
use kaohe_proto::{PackIdentity, SigningKeyPair};
use kaohe_rulepacks::pack::Pack;
use kaohe_rulepacks::runtime::Runtime;

use crate::client::{CallError, HubClient};
use crate::config::NodeConfig;
use crate::evaluate::{self, Reevaluated};
use crate::pack::{self, InstallError, Installed};
use crate::store::{Actor, Reevaluation, Scope, ScopeError, Store, StoreError};
use crate::witness::{self, YearWitness};

/// `node_meta` name of the last completed sync (RFC 3339).
pub const LAST_SYNC: &str = "last_sync";

/// What a sync did.
#[derive(Debug, Clone, Default)]
pub struct SyncReport {
    /// Per year in scope: (year, units, methods).
    pub scopes: Vec<(u16, usize, usize)>,
    /// Years no longer delegated to this node (emptied locally).
    pub dropped_years: Vec<u16>,
    /// Packs activated now.
    pub installed: Vec<Installed>,
    /// Current packs already active here.
    pub up_to_date: Vec<PackIdentity>,
    /// Packs refused, with the reason; the year's last good pack stays.
    pub refused: Vec<(String, String)>,
    /// Years in scope for which the hub holds no current pack.
    pub no_pack: Vec<u16>,
    /// Per year: the results evaluated again under its active pack, and
    /// what was queued.
    pub reevaluated: Vec<(u16, Reevaluated)>,
    /// Per year: results still to evaluate again (re-evaluation failed,
    /// with the reason), for the next `submit`.
    pub reevaluate: Vec<(u16, Vec<Reevaluation>, String)>,
    /// Per year: what witnessing the hub's log found (none without a
    /// pinned hub key).
    pub witness: Vec<(u16, YearWitness)>,
}

/// The sync stopped (what it did before stays; run it again).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("向汇总中心查询{what}失败（{what_en} failed）：{source}")]
    Call {
        what: &'static str,
        what_en: &'static str,
        source: CallError,
    },
    #[error(
        "汇总中心认定的节点身份 {hub} 不是本节点的密钥 {ours}（the hub identified another node）"
    )]
    Identity { hub: String, ours: String },
    #[error(transparent)]
    Scope(#[from] ScopeError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Witness(#[from] witness::WitnessError),
}

/// Runs a sync (see the module docs). `now` is the node's clock.
pub async fn sync(
    store: &mut Store,
    config: &NodeConfig,
    key: &SigningKeyPair,
    runtime: &Runtime,
    hub: &HubClient,
    actor: &Actor,
    now: &dyn Fn() -> i64,
) -> Result<SyncReport, SyncError> {
    let call = |what, what_en| {
        move |source| SyncError::Call {
            what,
            what_en,
            source,
        }
    };
    let mut report = SyncReport::default();
    let packs = hub
        .list_packs(None, now)
        .await
        .map_err(call("规则包列表", "ListPacks"))?;

    // Scope.
    let all = hub
        .list_my_units(key, None, now)
        .await
        .map_err(call("考核范围", "ListMyUnits"))?;
    if all.node_id != key.key_id() {
        return Err(SyncError::Identity {
            hub: all.node_id.to_string(),
            ours: key.key_id().to_string(),
        });
    }
    let mut years = all.years.clone();
    years.sort_unstable();
    for &year in &years {
        let one = hub
            .list_my_units(key, Some(year), now)
            .await
            .map_err(call("考核范围", "ListMyUnits"))?;
        let scope = Scope {
            year,
            units: one.units,
            methods: one.method_ids,
        };
        report
            .scopes
            .push((year, scope.units.len(), scope.methods.len()));
        store.replace_scope(&scope)?;
    }
    for year in store.scope_years()? {
        if !years.contains(&year) {
            store.replace_scope(&Scope {
                year,
                units: Vec::new(),
                methods: Vec::new(),
            })?;
            report.dropped_years.push(year);
        }
    }

    // Packs: the current one of each year in scope.
    for &year in &years {
        let current: Vec<&PackSummary> = packs
            .packs
            .iter()
            .filter(|p| p.current && p.identity.year == year)
            .collect();
        match current.as_slice() {
            [] => report.no_pack.push(year),
            [one] => {
                let wanted = &one.identity;
                if store.active_pack(year)?.map(|p| p.identity).as_ref() == Some(wanted) {
                    report.up_to_date.push(wanted.clone());
                    continue;
                }
                let fetched = hub
                    .fetch_pack(
                        FetchPackRequest {
                            id: wanted.id.clone(),
                            year,
                            version: Some(wanted.version),
                        },
                        now,
                    )
                    .await;
                match fetched {
                    Err(e) => report.refused.push((
                        wanted.to_string(),
                        format!("下载失败，原规则包不变（download failed; the last good pack stays）：{e}"),
                    )),
                    Ok(fetched) => {
                        match activate(store, config, runtime, wanted, &fetched, actor) {
                            Ok(installed) => report.installed.push(installed),
                            Err(why) => report.refused.push((wanted.to_string(), why)),
                        }
                    }
                }
            }
            several => report.refused.push((
                several
                    .iter()
                    .map(|p| p.identity.to_string())
                    .collect::<Vec<_>>()
                    .join("、"),
                format!(
                    "汇总中心 {year} 年有 {} 个当前规则包，节点每年只能启用一个，均未启用；请联系县依法治县办（several current packs for one year; none activated）",
                    several.len()
                ),
            )),
        }
    }

    for &year in &years {
        if store.reevaluations(year)?.is_empty() {
            continue;
        }
        match evaluate_again(store, runtime, key, year, actor) {
            Ok(done) => report.reevaluated.push((year, done)),
            Err(why) => {
                let list = store.reevaluations(year)?;
                report.reevaluate.push((year, list, why));
            }
        }
    }

    // The hub's log of every year in scope and every year witnessed before.
    if let Some(hub_key) = config.hub.receipt_key {
        let mut logs = years.clone();
        logs.extend(store.witnessed_years()?);
        logs.sort_unstable();
        logs.dedup();
        report.witness =
            witness::witness(store, hub, &hub_key, key, &logs, now, &actor.at.to_string()).await?;
    }
    store.set_meta(LAST_SYNC, &actor.at.to_string())?;
    Ok(report)
}

/// Scores again under the year's active pack what was computed under an
/// older one, and queues it; `Err` is the reason in Chinese (nothing
/// queued then).
fn evaluate_again(
    store: &mut Store,
    runtime: &Runtime,
    key: &SigningKeyPair,
    year: u16,
    actor: &Actor,
) -> Result<Reevaluated, String> {
    let info = store
        .active_pack(year)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{year} 年没有启用的规则包（no active pack）"))?;
    let module = store
        .pack_module(&info.identity)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| {
            format!(
                "证据库中缺少规则包模块 {}（pack module missing）",
                info.identity
            )
        })?;
    let pack = Pack::load(runtime, &module, &info.identity).map_err(|e| e.to_string())?;
    evaluate::reevaluate(store, &pack, &info, key, actor).map_err(|e| e.to_string())
}

/// Checks a fetched pack against what the list announced and activates it
/// ([`pack::install`]: pinned authorities, threshold, rollback, sandbox).
/// `Err` is the reason in Chinese; nothing changed then.
pub fn activate(
    store: &mut Store,
    config: &NodeConfig,
    runtime: &Runtime,
    listed: &PackIdentity,
    fetched: &FetchedPack,
    actor: &Actor,
) -> Result<Installed, String> {
    if fetched.identity != *listed {
        return Err(format!(
            "汇总中心发来的是 {}，不是所列的 {listed}，未启用（the hub sent another pack than it listed; not activated）",
            fetched.identity
        ));
    }
    match pack::install(
        store,
        config,
        runtime,
        &fetched.module,
        &fetched.signature,
        actor,
    ) {
        Ok(installed) if installed.identity == *listed => Ok(installed),
        Ok(installed) => Err(format!(
            "签名声明的是 {}，不是 {listed}（the signed statement names another pack）",
            installed.identity
        )),
        Err(e @ InstallError::NoAuthorities { .. }) => Err(e.to_string()),
        Err(e) => Err(format!("{e}；原规则包不变（the last good pack stays）")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{config_pinning as config, test_module as module};

    use crate::outbox::{Outcome, State};
    use crate::store::{EvidenceWrite, SourceKind};
    use crate::testutil::{actor, sample_scope};
    use kaohe_proto::{Envelope, SigningKeyPair};
    use kaohe_rulepacks::manifest::Round;
    use kaohe_rulepacks::runtime::RuntimeConfig;
    use kaohe_rulepacks::sign;

    fn authority(seed: u8) -> SigningKeyPair {
        SigningKeyPair::from_seed(&[seed; 32])
    }

    fn fetched(module: Vec<u8>, signature: Envelope) -> FetchedPack {
        let rubric_identity = {
            let m = kaohe_rulepacks::manifest::Manifest::from_json(
                sign::manifest_section(&module).unwrap(),
            )
            .unwrap();
            PackIdentity {
                id: m.pack.id.clone(),
                year: u16::try_from(m.pack.year).unwrap(),
                version: m.pack.version,
                module_sha256: kaohe_rulepacks::pack::sha256(&module),
            }
        };
        FetchedPack {
            identity: rubric_identity,
            module,
            signature,
        }
    }

    fn queue_one(store: &mut Store, key: &SigningKeyPair) -> u64 {
        use crate::evaluate;
        let pack = store.active_pack(2022).unwrap().unwrap();
        let module = store.pack_module(&pack.identity).unwrap().unwrap();
        let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
        let loaded = kaohe_rulepacks::pack::Pack::load(&runtime, &module, &pack.identity).unwrap();
        let scope = store.scope(2022).unwrap();
        let only = vec!["satisfaction".to_string()];
        let jobs = evaluate::jobs(store, &pack.manifest, &scope, Round::Annual, Some(&only))
            .unwrap()
            .into_iter()
            .filter(|j| j.unit.unit_id == "justice")
            .collect();
        let results = evaluate::run(&loaded, jobs).unwrap();
        let report = evaluate::submit(store, key, &pack, &results, &actor("王")).unwrap();
        report.queued[0].1
    }

    /// RELIABILITY.md promise 5 through sync's activation step: a changed
    /// byte, too few signatures and an older version are each refused with
    /// a Chinese reason, and the active pack and the outbox stay as they
    /// were; a newer, properly signed version supersedes the unsent entries
    /// of the old one and lists what to evaluate again.
    #[test]
    fn tampered_undersigned_and_rolled_back_packs_are_refused_and_the_last_good_one_stays() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::create(&dir.path().join("node.db")).unwrap();
        store.replace_scope(&sample_scope(2022)).unwrap();
        let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
        let (a, b) = (authority(1), authority(2));
        let cfg = config(dir.path(), &[&a, &b], 2);
        let node_key = SigningKeyPair::from_seed(&[5; 32]);

        let v2 = module(2);
        let good = fetched(
            v2.clone(),
            sign::sign_pack(&v2, 1_700_000_000, &[&a, &b]).unwrap(),
        );
        let installed = activate(
            &mut store,
            &cfg,
            &runtime,
            &good.identity,
            &good,
            &actor("同步"),
        )
        .unwrap();
        assert_eq!(installed.identity.version, 2);
        assert!(installed.replaced.is_none() && installed.superseded.is_empty());
        store
            .apply_evidence(
                2022,
                &[EvidenceWrite {
                    unit_id: "justice".into(),
                    round: Round::Annual,
                    field_id: "sat_rate".into(),
                    value: Some(9000),
                }],
                &SourceKind::Set,
                &actor("王"),
                &mut |_| {},
            )
            .unwrap();
        let queued = queue_one(&mut store, &node_key);
        let before = (
            store.active_pack(2022).unwrap(),
            store.outbox(None).unwrap(),
        );

        // A changed byte in the module (the hub re-hashed it, so the
        // identity matches the bytes, but not what the authorities signed).
        let mut tampered_module = v2.clone();
        let last = tampered_module.len() - 1;
        tampered_module[last] ^= 1;
        let tampered = FetchedPack {
            identity: PackIdentity {
                module_sha256: kaohe_rulepacks::pack::sha256(&tampered_module),
                ..good.identity.clone()
            },
            module: tampered_module,
            signature: good.signature.clone(),
        };
        let err = activate(
            &mut store,
            &cfg,
            &runtime,
            &tampered.identity,
            &tampered,
            &actor("同步"),
        )
        .unwrap_err();
        assert!(
            err.contains("被改动") && err.contains("原规则包不变"),
            "{err}"
        );

        // Version 3, signed by one authority of the two required.
        let v3 = module(3);
        let one = fetched(
            v3.clone(),
            sign::sign_pack(&v3, 1_700_000_000, &[&a]).unwrap(),
        );
        let err = activate(
            &mut store,
            &cfg,
            &runtime,
            &one.identity,
            &one,
            &actor("同步"),
        )
        .unwrap_err();
        assert!(err.contains("少于要求的 2 个"), "{err}");

        // Version 1 after version 2: a rollback.
        let v1 = module(1);
        let old = fetched(
            v1.clone(),
            sign::sign_pack(&v1, 1_700_000_000, &[&a, &b]).unwrap(),
        );
        let err = activate(
            &mut store,
            &cfg,
            &runtime,
            &old.identity,
            &old,
            &actor("同步"),
        )
        .unwrap_err();
        assert!(err.contains("拒绝回退"), "{err}");

        // The hub sends another pack than it listed.
        let err = activate(
            &mut store,
            &cfg,
            &runtime,
            &old.identity,
            &good,
            &actor("同步"),
        )
        .unwrap_err();
        assert!(err.contains("不是所列的"), "{err}");

        assert_eq!(
            (
                store.active_pack(2022).unwrap(),
                store.outbox(None).unwrap()
            ),
            before,
            "a refused pack changed the active pack or the outbox"
        );
        assert!(store.reevaluations(2022).unwrap().is_empty());

        // A corrected version 3 signed by both: activated; the unsent entry
        // of v2 is superseded with a reason, and justice must be evaluated
        // again.
        let v3_good = fetched(
            v3.clone(),
            sign::sign_pack(&v3, 1_700_000_000, &[&a, &b]).unwrap(),
        );
        let installed = activate(
            &mut store,
            &cfg,
            &runtime,
            &v3_good.identity,
            &v3_good,
            &actor("同步"),
        )
        .unwrap();
        assert_eq!(installed.superseded, vec![queued]);
        assert_eq!(installed.replaced.map(|p| p.version), Some(2));
        let e = store.outbox_entry(queued).unwrap().unwrap();
        assert_eq!(e.state, State::Superseded);
        assert!(
            e.last_error
                .as_deref()
                .unwrap_or("")
                .contains("test-2022 v3"),
            "{:?}",
            e.last_error
        );
        let again = store.reevaluations(2022).unwrap();
        assert_eq!(
            again
                .iter()
                .map(|r| (r.unit_id.as_str(), r.round, r.computed_under.as_str()))
                .collect::<Vec<_>>(),
            vec![("justice", Round::Annual, "test-2022 v2")]
        );
        // Superseded entries are never claimed.
        let now = jiff::Timestamp::from_second(1_700_000_300).unwrap();
        assert!(store.claim(10, &now).unwrap().is_empty());
        // Evaluating again under v3 clears the list.
        let requeued = queue_one(&mut store, &node_key);
        assert!(requeued > queued);
        assert!(store.reevaluations(2022).unwrap().is_empty());
        // A re-evaluation the hub refuses does not count as done: the
        // result is listed again.
        let claimed = store.claim(10, &now).unwrap();
        assert_eq!(claimed.len(), 1);
        store
            .record(
                requeued,
                &Outcome::Rejected {
                    code: Some(kaohe_proto::model::RejectionCode::PackMismatch),
                    reason: "规则包不是当前版本".into(),
                },
                &now,
            )
            .unwrap();
        assert_eq!(store.reevaluations(2022).unwrap().len(), 1);
    }

    /// Issue #13 §3: after a newer pack version, the node resubmits under
    /// it on its next sync without an official retyping anything (before,
    /// sync only listed the results and waited for a `submit`).
    #[test]
    fn after_a_newer_version_the_old_results_are_evaluated_again_and_queued() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::create(&dir.path().join("node.db")).unwrap();
        store.replace_scope(&sample_scope(2022)).unwrap();
        let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
        let (a, b) = (authority(1), authority(2));
        let cfg = config(dir.path(), &[&a, &b], 2);
        let node_key = SigningKeyPair::from_seed(&[5; 32]);
        let install = |store: &mut Store, version: u32| {
            let m = module(version);
            let f = fetched(
                m.clone(),
                sign::sign_pack(&m, 1_700_000_000, &[&a, &b]).unwrap(),
            );
            activate(store, &cfg, &runtime, &f.identity, &f, &actor("同步")).unwrap()
        };
        install(&mut store, 2);
        store
            .apply_evidence(
                2022,
                &[EvidenceWrite {
                    unit_id: "justice".into(),
                    round: Round::Annual,
                    field_id: "sat_rate".into(),
                    value: Some(9000),
                }],
                &SourceKind::Set,
                &actor("王"),
                &mut |_| {},
            )
            .unwrap();
        let old = queue_one(&mut store, &node_key);
        install(&mut store, 3);
        assert_eq!(store.reevaluations(2022).unwrap().len(), 1);

        let done = evaluate_again(&mut store, &runtime, &node_key, 2022, &actor("同步")).unwrap();
        assert_eq!(
            done.listed
                .iter()
                .map(|r| (r.unit_id.as_str(), r.computed_under.as_str()))
                .collect::<Vec<_>>(),
            [("justice", "test-2022 v2")]
        );
        assert_eq!(done.report.queued.len(), 1, "{:?}", done.report);
        let (unit, seq) = &done.report.queued[0];
        assert_eq!(unit, "justice");
        assert!(*seq > old);
        assert_eq!(
            store.outbox_entry(*seq).unwrap().unwrap().state,
            State::ToSend
        );
        assert!(store.reevaluations(2022).unwrap().is_empty());
        // Nothing left: a second sync queues nothing more.
        let again = evaluate_again(&mut store, &runtime, &node_key, 2022, &actor("同步")).unwrap();
        assert_eq!(again, Reevaluated::default());
    }
}
