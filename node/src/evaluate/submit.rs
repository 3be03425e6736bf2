//! Signing and queueing: one envelope per unit, round and method set
//! under the node's next sequence number, written with its evaluation in
//! the store's one transaction ([`crate::store::Queue`]).

use std::collections::BTreeMap;

use kaohe_proto::submission::{FiredClause, MethodBlock, Submission};
use kaohe_proto::{PackIdentity, SigningKeyPair};
use kaohe_rulepacks::manifest::{Manifest, Round};
use sha2::{Digest as _, Sha256};

use super::UnitResult;
use crate::store::{Actor, NewEvaluation, PackInfo, Store, StoreError};

impl UnitResult {
    /// The submission's method blocks: per method, its fields' evidence, its
    /// indicators' scores, its fired clauses and the indicators marked not
    /// applicable with their reasons.
    pub fn method_blocks(&self, manifest: &Manifest) -> Vec<MethodBlock> {
        let offsets = manifest.clause_offsets();
        self.job
            .methods
            .iter()
            .map(|&m| {
                let id = &manifest.methods[m].id;
                let evidence = manifest
                    .fields
                    .iter()
                    .filter(|f| f.method == *id)
                    .map(|f| {
                        (
                            f.id.clone(),
                            self.job.evidence.get(&f.id).copied().flatten(),
                        )
                    })
                    .collect();
                let mut scores = BTreeMap::new();
                let mut clauses = BTreeMap::new();
                for (i, ind) in manifest.indicators.iter().enumerate() {
                    if ind.method != *id {
                        continue;
                    }
                    if let Some(Some(score)) = self.output.indicators.get(i) {
                        scores.insert(ind.id.clone(), *score);
                    }
                    for (k, clause) in ind.clauses.iter().enumerate() {
                        if let Some(Some(amount)) = self.output.clauses.get(offsets[i] + k) {
                            clauses.insert(
                                clause.id.clone(),
                                FiredClause {
                                    amount: *amount,
                                    reason: clause.reason.clone(),
                                },
                            );
                        }
                    }
                }
                let not_applicable = manifest
                    .indicators
                    .iter()
                    .filter(|ind| ind.method == *id)
                    .filter_map(|ind| {
                        self.job
                            .not_applicable
                            .get(&ind.id)
                            .map(|reason| (ind.id.clone(), reason.clone()))
                    })
                    .collect();
                MethodBlock {
                    method_id: id.clone(),
                    evidence,
                    scores,
                    clauses,
                    not_applicable,
                }
            })
            .collect()
    }

    /// Method ids joined by commas (the outbox key's method set).
    pub fn method_set(&self, manifest: &Manifest) -> String {
        self.job
            .methods
            .iter()
            .map(|&m| manifest.methods[m].id.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// What `submit` did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubmitReport {
    /// (unit, sequence number) of each envelope queued.
    pub queued: Vec<(String, u64)>,
    /// Units whose evaluation did not change since the last queued one.
    pub unchanged: Vec<String>,
    /// Units not submitted, with the reason (their evaluation failed).
    pub refused: Vec<(String, String)>,
}

/// Submitting failed; nothing was queued.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("单位 {unit_id} 的提交不合规（invalid submission）：{reason}")]
    Invalid { unit_id: String, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Signs and queues the successful results in one transaction.
pub fn submit(
    store: &mut Store,
    key: &SigningKeyPair,
    pack: &PackInfo,
    results: &[UnitResult],
    actor: &Actor,
) -> Result<SubmitReport, SubmitError> {
    let manifest = &pack.manifest;
    let year = pack.identity.year;
    let mut report = SubmitReport::default();
    let mut queue = store.queue()?;
    for r in results {
        let unit_id = &r.job.unit.unit_id;
        if !r.output.status.is_ok() {
            report
                .refused
                .push((unit_id.clone(), r.output.status.describe(manifest)));
            continue;
        }
        let methods = r.method_set(manifest);
        let blocks = r.method_blocks(manifest);
        let (evidence_json, result_json) =
            (evidence_json(r), result_json(&blocks, r.output.fuel_used));
        let content = content_digest(
            &pack.identity,
            unit_id,
            year,
            r.job.round,
            &methods,
            &evidence_json,
            &result_json,
        );
        let last = queue.last_content(unit_id, year, r.job.round, &methods)?;
        if last.as_deref() == Some(content.as_slice()) {
            report.unchanged.push(unit_id.clone());
            continue;
        }
        let sequence = queue.next_sequence();
        let submission = Submission {
            pack: pack.identity.clone(),
            unit_id: unit_id.clone(),
            year,
            round: proto_round(r.job.round),
            node_id: key.key_id(),
            sequence,
            created_at: actor.at.as_second(),
            methods: blocks,
        };
        submission.validate().map_err(|e| SubmitError::Invalid {
            unit_id: unit_id.clone(),
            reason: e.to_string(),
        })?;
        let envelope = submission.to_envelope(key);
        let signature = envelope
            .signatures
            .first()
            .ok_or_else(|| SubmitError::Invalid {
                unit_id: unit_id.clone(),
                reason: "envelope without signature".into(),
            })?;
        queue.push(
            &NewEvaluation {
                unit_id,
                round: r.job.round,
                methods: &methods,
                pack: &pack.identity,
                evidence: &evidence_json,
                result: &result_json,
                content_sha256: &content,
                actor,
            },
            &envelope,
            signature,
        )?;
        report.queued.push((unit_id.clone(), sequence));
    }
    queue.commit()?;
    Ok(report)
}

pub(crate) fn proto_round(r: Round) -> kaohe_proto::Round {
    match r {
        Round::Annual => kaohe_proto::Round::Annual,
        Round::Q1 => kaohe_proto::Round::Q1,
        Round::Q2 => kaohe_proto::Round::Q2,
        Round::Q3 => kaohe_proto::Round::Q3,
        Round::Q4 => kaohe_proto::Round::Q4,
    }
}

fn evidence_json(r: &UnitResult) -> String {
    serde_json::to_string(&r.job.evidence).unwrap_or_else(|_| "{}".into())
}

fn result_json(blocks: &[MethodBlock], fuel_used: u64) -> String {
    let scores: BTreeMap<&str, i64> = blocks
        .iter()
        .flat_map(|b| b.scores.iter().map(|(k, v)| (k.as_str(), *v)))
        .collect();
    let clauses: BTreeMap<&str, i64> = blocks
        .iter()
        .flat_map(|b| b.clauses.iter().map(|(k, c)| (k.as_str(), c.amount)))
        .collect();
    let not_applicable: BTreeMap<&str, &str> = blocks
        .iter()
        .flat_map(|b| {
            b.not_applicable
                .iter()
                .map(|(k, reason)| (k.as_str(), reason.as_str()))
        })
        .collect();
    if not_applicable.is_empty() {
        // As before marks existed, so an unchanged evaluation is not
        // signed again after an upgrade.
        serde_json::json!({ "scores": scores, "clauses": clauses, "fuel_used": fuel_used })
            .to_string()
    } else {
        serde_json::json!({
            "scores": scores,
            "clauses": clauses,
            "not_applicable": not_applicable,
            "fuel_used": fuel_used
        })
        .to_string()
    }
}

fn content_digest(
    pack: &PackIdentity,
    unit: &str,
    year: u16,
    round: Round,
    methods: &str,
    evidence: &str,
    result: &str,
) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in [
        pack.to_string().as_bytes(),
        &pack.module_sha256,
        unit.as_bytes(),
        &year.to_le_bytes(),
        round.id().as_bytes(),
        methods.as_bytes(),
        evidence.as_bytes(),
        result.as_bytes(),
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    h.finalize().into()
}
