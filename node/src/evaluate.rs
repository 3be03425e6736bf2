//! 评分与提交（evaluate and submit, the local half）。
//!
//! - [`jobs`] builds one ABI [`UnitInput`] per unit in scope for a round
//!   from the stored evidence and not-applicable marks (ABI 1.1, with
//!   their reasons for the submission). Only fields of the unit's evaluated methods
//!   are passed, and a field with no stored value is passed as **absent**
//!   (`present = 0`): the pack then applies the manifest's `missing` rule
//!   itself — the default value with `present(f)` false, or status 1 for a
//!   required field — exactly as the hub's replay will. Substituting the
//!   default here would make `present(f)` lie.
//! - [`evaluate_units`] is the one door to scoring: any
//!   [`Evaluator`] — the sandboxed [`Pack`](kaohe_rulepacks::pack::Pack),
//!   loaded under the active pack's identity, or the reference
//!   [`Interpreter`](kaohe_rulepacks::interp::Interpreter) — in batches of
//!   [`MAX_BATCH`] units.
//! - [`submit`] signs one envelope per (unit, round, method set) with the
//!   node's next sequence number and writes evaluation, envelope and counter
//!   in **one transaction**. A unit whose evaluation is unchanged since its
//!   last queued submission is not signed again.
//! - [`score`]: the active pack loaded and checked, a round scored (and,
//!   when submitting, what an earlier pack computed, again) — what the
//!   CLI's `evaluate` and `submit` and the console's 评分 page share.
//! - [`summary`] renders the Chinese result table of `kaohe node evaluate`.
//! - [`reevaluate`]: after a newer pack version is activated, the results
//!   computed under the old one scored again from the stored evidence and
//!   queued (what `sync` does, so no official retypes anything).
//!
//! Layout: here the jobs and scoring; `score`, `submit` (signing and queueing, the
//! submission's method blocks), `summary` (the table, group scores and
//! problems an official reads), `again` (re-evaluation under a new pack).

use std::collections::BTreeMap;

use kaohe_rulepacks::abi::{UnitInput, UnitOutput};
use kaohe_rulepacks::manifest::{Manifest, Round};
use kaohe_rulepacks::pack::{Evaluator, PackError};

use crate::store::{Scope, Store, StoreError, UnitInfo};

mod again;
mod score;
mod submit;
mod summary;

pub use again::{ReevaluateError, Reevaluated, reevaluate};
pub use score::{ScoreError, ScoreRequest, Scored, score};
pub(crate) use submit::proto_round;
pub use submit::{SubmitError, SubmitReport, submit};
pub use summary::summary;

/// Units per call into the pack.
pub const MAX_BATCH: usize = 1_000;

/// Scoring failed for the whole batch (a unit's own error is its status).
#[derive(Debug, thiserror::Error)]
pub enum EvaluateError {
    #[error(transparent)]
    Pack(#[from] PackError),
    #[error("规则包返回 {found} 个单位的结果，应为 {expected} 个（wrong number of results）")]
    Count { expected: usize, found: usize },
    #[error(
        "单位 {unit_id} 的类别 {category_id} 不在规则包中（unit category unknown to the pack）"
    )]
    UnknownCategory {
        unit_id: String,
        category_id: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Scores `inputs` with `pack`, [`MAX_BATCH`] units per call.
pub fn evaluate_units(
    pack: &dyn Evaluator,
    inputs: &[UnitInput],
) -> Result<Vec<UnitOutput>, EvaluateError> {
    let mut out = Vec::with_capacity(inputs.len());
    for chunk in inputs.chunks(MAX_BATCH) {
        let got = pack.evaluate(chunk)?;
        if got.len() != chunk.len() {
            return Err(EvaluateError::Count {
                expected: chunk.len(),
                found: got.len(),
            });
        }
        out.extend(got);
    }
    Ok(out)
}

/// One unit to evaluate in one round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub unit: UnitInfo,
    pub round: Round,
    /// Manifest indices of the methods evaluated, ascending.
    pub methods: Vec<usize>,
    /// The evidence passed, by field id (fields of those methods; `None` =
    /// not supplied).
    pub evidence: BTreeMap<String, Option<i64>>,
    /// Indicators of those methods the assessor marked not applicable (不适用),
    /// by indicator id, with the reason.
    pub not_applicable: BTreeMap<String, String>,
    pub input: UnitInput,
}

/// A job and the pack's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitResult {
    pub job: Job,
    pub output: UnitOutput,
}

/// The jobs of `round` for every unit in scope that has a method to
/// evaluate in it. `only`: restrict to these method ids.
pub fn jobs(
    store: &Store,
    manifest: &Manifest,
    scope: &Scope,
    round: Round,
    only: Option<&[String]>,
) -> Result<Vec<Job>, EvaluateError> {
    let mut out = Vec::new();
    for unit in &scope.units {
        let category = manifest.category_index(&unit.category_id).ok_or_else(|| {
            EvaluateError::UnknownCategory {
                unit_id: unit.unit_id.clone(),
                category_id: unit.category_id.clone(),
            }
        })?;
        let methods = methods_for(manifest, scope, category, round, only);
        if methods.is_empty() {
            continue;
        }
        let stored = store.evidence_of(&unit.unit_id, scope.year, round)?;
        let marks = store.marks_of(&unit.unit_id, scope.year, round)?;
        out.push(job(
            manifest, unit, category, round, methods, &stored, &marks,
        ));
    }
    Ok(out)
}

/// Methods in scope (and in `only`) that fit the round and have an
/// indicator applying to the category.
pub fn methods_for(
    manifest: &Manifest,
    scope: &Scope,
    category: usize,
    round: Round,
    only: Option<&[String]>,
) -> Vec<usize> {
    (0..manifest.methods.len())
        .filter(|&m| {
            let method = &manifest.methods[m];
            scope.has_method(&method.id)
                && only.is_none_or(|o| o.contains(&method.id))
                && method.quarterly == round.is_quarter()
                && (0..manifest.indicators.len()).any(|i| {
                    manifest.indicator_method(i) == Some(m) && manifest.applies(i, category)
                })
        })
        .collect()
}

/// The job of one unit from its stored values and not-applicable marks.
/// Only marks on indicators of the evaluated methods are passed; the pack
/// refuses one it does not allow (status 7), as the hub's replay will.
pub fn job(
    manifest: &Manifest,
    unit: &UnitInfo,
    category: usize,
    round: Round,
    methods: Vec<usize>,
    stored: &BTreeMap<String, i64>,
    marks: &BTreeMap<String, String>,
) -> Job {
    let mut evidence = BTreeMap::new();
    let mut mask = 0u32;
    for &m in &methods {
        mask |= 1 << m;
    }
    let values = manifest
        .fields
        .iter()
        .map(|f| {
            let evaluated = manifest
                .method_index(&f.method)
                .is_some_and(|m| methods.contains(&m));
            if !evaluated {
                return None;
            }
            let v = stored.get(&f.id).copied();
            evidence.insert(f.id.clone(), v);
            v
        })
        .collect();
    let mut not_applicable = BTreeMap::new();
    let flags: Vec<bool> = manifest
        .indicators
        .iter()
        .enumerate()
        .map(|(i, ind)| {
            let evaluated = manifest
                .indicator_method(i)
                .is_some_and(|m| methods.contains(&m));
            match marks.get(&ind.id) {
                Some(reason) if evaluated => {
                    not_applicable.insert(ind.id.clone(), reason.clone());
                    true
                }
                _ => false,
            }
        })
        .collect();
    Job {
        unit: unit.clone(),
        round,
        methods,
        evidence,
        input: UnitInput {
            category: u32::try_from(category).unwrap_or(u32::MAX),
            round,
            methods: mask,
            values,
            not_applicable: if not_applicable.is_empty() {
                Vec::new()
            } else {
                flags
            },
        },
        not_applicable,
    }
}

/// Evaluates `jobs` with `pack`; the jobs must have been built with its
/// manifest.
pub fn run(pack: &dyn Evaluator, jobs: Vec<Job>) -> Result<Vec<UnitResult>, EvaluateError> {
    let inputs: Vec<UnitInput> = jobs.iter().map(|j| j.input.clone()).collect();
    let outputs = evaluate_units(pack, &inputs)?;
    Ok(jobs
        .into_iter()
        .zip(outputs)
        .map(|(job, output)| UnitResult { job, output })
        .collect())
}

#[cfg(test)]
mod tests;
