//! [`score`]: the year's active pack loaded and checked against the
//! stored manifest, then the asked-for round scored — and, when
//! submitting, every round an earlier pack of the year computed, again.
//! `kaohe node evaluate`, `kaohe node submit` and the console's 评分 page
//! all score through it.

use kaohe_rulepacks::manifest::Round;
use kaohe_rulepacks::pack::Pack;
use kaohe_rulepacks::runtime::Runtime;

use super::{EvaluateError, UnitResult, jobs, run};
use crate::store::{PackInfo, Reevaluation, Store, StoreError};

/// What to score.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScoreRequest {
    pub year: u16,
    pub round: Round,
    /// Only these method ids (the asked-for round only); empty: all.
    pub methods: Vec<String>,
    /// Also evaluate again every result an earlier pack of the year
    /// computed (what `submit` does); otherwise they are only named.
    pub submitting: bool,
}

/// What [`score`] found.
#[derive(Debug)]
pub struct Scored {
    pub pack: PackInfo,
    /// Results computed under an earlier pack of the year.
    pub reevaluations: Vec<Reevaluation>,
    /// Each round scored, the asked-for one first; an empty list: nothing
    /// to evaluate in it.
    pub rounds: Vec<(Round, Vec<UnitResult>)>,
}

impl Scored {
    /// Every unit result of every round.
    pub fn results(&self) -> impl Iterator<Item = &UnitResult> {
        self.rounds.iter().flat_map(|(_, r)| r)
    }
}

/// Scoring could not start or failed.
#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    #[error(transparent)]
    NoPack(#[from] crate::store::NoPack),
    #[error("证据库中缺少规则包模块 {0}（pack module missing）")]
    NoModule(String),
    #[error("规则包 {0} 内嵌的清单与证据库中的不一致（embedded manifest differs）")]
    ManifestDiffers(String),
    #[error(transparent)]
    Pack(#[from] kaohe_rulepacks::pack::PackError),
    #[error("评分（evaluate）：{0}")]
    Evaluate(#[from] EvaluateError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Scores as the request says; see the module docs.
pub fn score(store: &Store, runtime: &Runtime, req: &ScoreRequest) -> Result<Scored, ScoreError> {
    // Which years the node has at all, when it has no pack for this one.
    let pack = store.require_pack(req.year)??;
    let module = store
        .pack_module(&pack.identity)?
        .ok_or_else(|| ScoreError::NoModule(pack.identity.to_string()))?;
    let loaded = Pack::load(runtime, &module, &pack.identity)?;
    // The jobs are built from the stored manifest and the pack reads its
    // own: they must be the same.
    if loaded.manifest() != &pack.manifest {
        return Err(ScoreError::ManifestDiffers(pack.identity.to_string()));
    }
    let reevaluations = store.reevaluations(req.year)?;
    let mut rounds = vec![req.round];
    if req.submitting {
        for r in &reevaluations {
            if !rounds.contains(&r.round) {
                rounds.push(r.round);
            }
        }
    }
    let scope = store.scope(req.year)?;
    let only = (!req.methods.is_empty()).then_some(req.methods.as_slice());
    let mut out = Vec::new();
    for (i, round) in rounds.iter().enumerate() {
        // The asked-for round honours the method filter; a re-evaluation
        // redoes all.
        let only = if i == 0 { only } else { None };
        let jobs = jobs(store, &pack.manifest, &scope, *round, only)?;
        let results = if jobs.is_empty() {
            Vec::new()
        } else {
            run(&loaded, jobs)?
        };
        out.push((*round, results));
    }
    Ok(Scored {
        pack,
        reevaluations,
        rounds: out,
    })
}
