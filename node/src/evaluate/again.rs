//! 重新评价（evaluate again）: after a newer version of a year's pack is
//! activated, the results computed under the older one
//! ([`Store::reevaluations`]) are scored again from the evidence already
//! stored — the same units, rounds and method sets — and queued, so the
//! hub can consolidate them under the new version. Nothing is retyped:
//! [`sync`](crate::sync::sync) does this right after the activation.

use std::collections::{BTreeMap, BTreeSet};

use kaohe_proto::SigningKeyPair;
use kaohe_rulepacks::manifest::Round;
use kaohe_rulepacks::pack::Evaluator;

use super::{EvaluateError, SubmitError, SubmitReport, UnitResult, jobs, run, submit};
use crate::store::{Actor, PackInfo, Reevaluation, Store};

/// What [`reevaluate`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reevaluated {
    /// The results that were to be evaluated again.
    pub listed: Vec<Reevaluation>,
    /// What was queued, unchanged or refused.
    pub report: SubmitReport,
}

/// Evaluating again failed; nothing was queued.
#[derive(Debug, thiserror::Error)]
pub enum ReevaluateError {
    #[error("重新评价失败（evaluate again）：{0}")]
    Evaluate(#[from] EvaluateError),
    #[error("重新评价后签名并放入发件箱失败（sign and queue）：{0}")]
    Submit(#[from] SubmitError),
}

/// Scores again, with `pack` (loaded under `info`, the year's active
/// pack), every result of `info`'s year computed under an earlier pack,
/// and queues the new results in one transaction.
pub fn reevaluate(
    store: &mut Store,
    pack: &dyn Evaluator,
    info: &PackInfo,
    key: &SigningKeyPair,
    actor: &Actor,
) -> Result<Reevaluated, ReevaluateError> {
    let year = info.identity.year;
    let listed = store.reevaluations(year).map_err(EvaluateError::from)?;
    if listed.is_empty() {
        return Ok(Reevaluated::default());
    }
    // Per (round, method set): the units to evaluate again.
    let mut groups: BTreeMap<(Round, String), BTreeSet<&str>> = BTreeMap::new();
    for r in &listed {
        groups
            .entry((r.round, r.methods.clone()))
            .or_default()
            .insert(r.unit_id.as_str());
    }
    let scope = store.scope(year).map_err(EvaluateError::from)?;
    let mut results: Vec<UnitResult> = Vec::new();
    for ((round, methods), units) in &groups {
        let only: Vec<String> = methods.split(',').map(str::to_owned).collect();
        let jobs: Vec<_> = jobs(store, &info.manifest, &scope, *round, Some(&only))?
            .into_iter()
            .filter(|j| units.contains(j.unit.unit_id.as_str()))
            .collect();
        if !jobs.is_empty() {
            results.extend(run(pack, jobs)?);
        }
    }
    let report = submit(store, key, info, &results, actor)?;
    Ok(Reevaluated { listed, report })
}
