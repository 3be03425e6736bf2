//! 评分与提交（evaluate and submit, the local half）。
//!
//! - [`jobs`] builds one ABI [`UnitInput`] per unit in scope for a round
//!   from the stored evidence. Only fields of the unit's evaluated methods
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
//! - [`summary`] renders the Chinese result table of `kaohe node evaluate`.

use std::collections::BTreeMap;

use kaohe_proto::submission::{FiredClause, MethodBlock, Submission};
use kaohe_proto::{PackIdentity, SigningKeyPair};
use kaohe_rulepacks::abi::{UnitInput, UnitOutput};
use kaohe_rulepacks::manifest::{IndicatorKind, Manifest, Round};
use kaohe_rulepacks::pack::{Evaluator, PackError};
use kaohe_rulepacks::rubric::decimal::format_hundredths;
use sha2::{Digest as _, Sha256};

use crate::store::{Actor, NewEvaluation, PackInfo, Scope, Store, StoreError, UnitInfo};

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
        out.push(job(manifest, unit, category, round, methods, &stored));
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

/// The job of one unit from its stored values.
pub fn job(
    manifest: &Manifest,
    unit: &UnitInfo,
    category: usize,
    round: Round,
    methods: Vec<usize>,
    stored: &BTreeMap<String, i64>,
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
        },
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

impl UnitResult {
    /// The submission's method blocks: per method, its fields' evidence, its
    /// indicators' scores and its fired clauses.
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
                MethodBlock {
                    method_id: id.clone(),
                    evidence,
                    scores,
                    clauses,
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

    /// Per group: signed sum of the evaluated indicators (scored and bonus
    /// add, penalty subtracts), `None` when none was evaluated.
    pub fn group_scores(&self, manifest: &Manifest) -> Vec<Option<i64>> {
        let mut out = vec![None; manifest.groups.len()];
        for (i, ind) in manifest.indicators.iter().enumerate() {
            let Some(Some(score)) = self.output.indicators.get(i) else {
                continue;
            };
            let Some(g) = manifest.group_index(&ind.group) else {
                continue;
            };
            let v = match ind.kind {
                IndicatorKind::Scored | IndicatorKind::Bonus => *score,
                IndicatorKind::Penalty => -*score,
                IndicatorKind::Flag => 0,
            };
            out[g] = Some(out[g].unwrap_or(0) + v);
        }
        out
    }

    /// Problems an official should see: the unit's error, raised flags.
    pub fn problems(&self, manifest: &Manifest) -> Vec<String> {
        let mut out = Vec::new();
        if !self.output.status.is_ok() {
            out.push(self.output.status.describe(manifest));
        }
        for (i, ind) in manifest.indicators.iter().enumerate() {
            if ind.kind == IndicatorKind::Flag
                && let Some(Some(v)) = self.output.indicators.get(i)
                && *v != 0
                && let Some(flag) = ind.flag
            {
                out.push(format!("{}（{}）", flag.name_zh(), ind.id));
            }
        }
        out
    }
}

/// The Chinese summary table: unit, per-group scores, problems.
pub fn summary(manifest: &Manifest, results: &[UnitResult]) -> String {
    let groups: Vec<usize> = (0..manifest.groups.len())
        .filter(|&g| {
            results
                .iter()
                .any(|r| r.group_scores(manifest)[g].is_some())
        })
        .collect();
    let mut header = vec![
        "单位编号".to_string(),
        "单位名称".to_string(),
        "轮次".to_string(),
    ];
    header.extend(groups.iter().map(|&g| manifest.groups[g].id.clone()));
    header.push("问题（problems）".to_string());
    let rows: Vec<Vec<String>> = results
        .iter()
        .map(|r| {
            let scores = r.group_scores(manifest);
            let mut row = vec![
                r.job.unit.unit_id.clone(),
                r.job.unit.name.clone(),
                r.job.round.name_zh().to_string(),
            ];
            row.extend(groups.iter().map(|&g| {
                scores[g]
                    .map(format_hundredths)
                    .unwrap_or_else(|| "—".into())
            }));
            let problems = r.problems(manifest);
            row.push(if problems.is_empty() {
                "无".into()
            } else {
                problems.join("；")
            });
            row
        })
        .collect();
    let header_refs: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut out = kaohe_tables::terminal::render(&header_refs, &rows);
    let legend: Vec<String> = groups
        .iter()
        .map(|&g| format!("{} = {}", manifest.groups[g].id, manifest.groups[g].name))
        .collect();
    if !legend.is_empty() {
        out.push_str(&format!("分组（groups）：{}\n", legend.join("；")));
    }
    out
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
    serde_json::json!({ "scores": scores, "clauses": clauses, "fuel_used": fuel_used }).to_string()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::{Event, Outcome, State};
    use crate::store::{EvidenceWrite, SourceKind};
    use crate::testutil::{TEST_RUBRIC, actor, store_with_pack, test_manifest};
    use crate::value;
    use kaohe_rulepacks::abi;
    use kaohe_rulepacks::interp::Interpreter;

    fn interpreter() -> Interpreter {
        let rubric = kaohe_rulepacks::rubric::compile("test-rubric.toml", TEST_RUBRIC)
            .expect("test rubric compiles");
        Interpreter::new(&rubric)
    }

    fn set(store: &mut Store, unit: &str, round: Round, field: &str, v: i64) {
        store
            .apply_evidence(
                2022,
                &[EvidenceWrite {
                    unit_id: unit.into(),
                    round,
                    field_id: field.into(),
                    value: Some(v),
                }],
                &SourceKind::Set,
                &actor("王"),
                &mut |_| {},
            )
            .unwrap();
    }

    fn annual_evidence(store: &mut Store) {
        for (u, f, v) in [
            ("justice", "sup_plan", 100),
            ("justice", "sup_report", 200),
            ("justice", "dept_cases", 600),
            ("justice", "sat_rate", 9000),
            ("xiaodian", "sup_plan", 0),
            ("xiaodian", "sup_report", 0),
            ("xiaodian", "sup_problems", 300),
            ("xiaodian", "sat_rate", 8000),
            // zhaozhuang: sup_plan (required) missing.
            ("zhaozhuang", "sup_report", 0),
            ("zhaozhuang", "sat_rate", 10000),
        ] {
            set(store, u, Round::Annual, f, v);
        }
    }

    #[test]
    fn annual_evaluation_uses_stored_evidence_and_the_packs_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = store_with_pack(dir.path());
        annual_evidence(&mut store);
        let m = test_manifest();
        let scope = store.scope(2022).unwrap();
        let jobs = jobs(&store, &m, &scope, Round::Annual, None).unwrap();
        assert_eq!(jobs.len(), 3);
        // justice's sup_problems was never entered: passed as absent, not 0.
        assert_eq!(jobs[0].evidence.get("sup_problems"), Some(&None));
        assert!(
            !jobs[0].evidence.contains_key("q_study"),
            "daily fields are not annual evidence"
        );
        let results = run(&interpreter(), jobs).unwrap();
        let score = |r: &UnitResult, id: &str| r.output.indicators[m.indicator_index(id).unwrap()];
        // justice: plan ok, no problems (default 0), report 未公开 −1 → L2 = 2;
        // L3 = 90 × 3 / 100 = 2.7; N1a: 6 cases > 5 → 0.
        assert_eq!(score(&results[0], "L2"), Some(200));
        assert_eq!(score(&results[0], "L3"), Some(270));
        assert_eq!(score(&results[0], "N1a"), Some(0));
        assert_eq!(
            score(&results[0], "L1"),
            None,
            "daily is not evaluated in the annual round"
        );
        // xiaodian: no plan −3 → L2 = 0 (扣完为止); L3 = 2.4; N1a does not apply.
        assert_eq!(score(&results[1], "L2"), Some(0));
        assert_eq!(score(&results[1], "L3"), Some(240));
        assert_eq!(score(&results[1], "N1a"), None);
        // zhaozhuang: a required field missing → status 1, named.
        assert!(!results[2].output.status.is_ok());
        let problems = results[2].problems(&m);
        assert!(problems[0].contains("sup_plan"), "{problems:?}");
        let table = summary(&m, &results);
        // Group L: L2 + L3 = 2 + 2.7.
        assert!(
            table.contains("肖旗乡") && table.contains("4.7") && table.contains("sup_plan"),
            "{table}"
        );
    }

    #[test]
    fn submit_queues_one_signed_envelope_per_unit_with_increasing_sequence_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = store_with_pack(dir.path());
        annual_evidence(&mut store);
        let m = test_manifest();
        let pack = store.active_pack(2022).unwrap().unwrap();
        let key = SigningKeyPair::from_seed(&[5; 32]);
        let scope = store.scope(2022).unwrap();
        let results = run(
            &interpreter(),
            jobs(&store, &m, &scope, Round::Annual, None).unwrap(),
        )
        .unwrap();
        let report = submit(&mut store, &key, &pack, &results, &actor("王")).unwrap();
        assert_eq!(
            report.queued,
            vec![("justice".to_string(), 1), ("xiaodian".to_string(), 2)]
        );
        assert_eq!(report.refused.len(), 1);
        assert_eq!(store.last_sequence().unwrap(), 2);

        let entries = store.outbox(None).unwrap();
        assert_eq!(entries.len(), 2);
        let e = &entries[0];
        assert_eq!(
            (e.state, e.methods.as_str()),
            (State::ToSend, "supervision,satisfaction")
        );
        let verified = kaohe_proto::verify_submission(&e.envelope, &key.public()).unwrap();
        let s = verified.submission;
        assert_eq!(
            (s.unit_id.as_str(), s.sequence, s.year),
            ("justice", 1, 2022)
        );
        assert_eq!(s.pack, pack.identity);
        let sup = s
            .methods
            .iter()
            .find(|b| b.method_id == "supervision")
            .unwrap();
        assert_eq!(sup.evidence.get("sup_problems"), Some(&None));
        assert_eq!(sup.scores.get("L2"), Some(&200));
        assert_eq!(sup.clauses.get("L2c").map(|c| c.amount), Some(100));

        // Nothing changed: nothing new is signed.
        let again = run(
            &interpreter(),
            jobs(&store, &m, &scope, Round::Annual, None).unwrap(),
        )
        .unwrap();
        let report = submit(&mut store, &key, &pack, &again, &actor("王")).unwrap();
        assert_eq!(
            report.unchanged,
            vec!["justice".to_string(), "xiaodian".to_string()]
        );
        assert!(report.queued.is_empty());
        // A corrected value: a new envelope with the next sequence number.
        set(&mut store, "xiaodian", Round::Annual, "sup_plan", 100);
        let changed = run(
            &interpreter(),
            jobs(&store, &m, &scope, Round::Annual, None).unwrap(),
        )
        .unwrap();
        let report = submit(&mut store, &key, &pack, &changed, &actor("王")).unwrap();
        assert_eq!(report.queued, vec![("xiaodian".to_string(), 3)]);
        assert_eq!(store.last_sequence().unwrap(), 3);
    }

    /// A store whose annual evidence was evaluated and queued once.
    fn store_with_annual_submitted(dir: &std::path::Path) -> Store {
        let mut store = store_with_pack(dir);
        annual_evidence(&mut store);
        let m = test_manifest();
        let pack = store.active_pack(2022).unwrap().unwrap();
        let key = SigningKeyPair::from_seed(&[5; 32]);
        let scope = store.scope(2022).unwrap();
        let results = run(
            &interpreter(),
            jobs(&store, &m, &scope, Round::Annual, None).unwrap(),
        )
        .unwrap();
        submit(&mut store, &key, &pack, &results, &actor("王")).unwrap();
        store
    }

    #[test]
    fn the_outbox_moves_only_as_the_state_machine_allows() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = store_with_annual_submitted(dir.path());
        let now = jiff::Timestamp::from_second(1_700_000_100).unwrap();
        let claimed = store.claim(10, &now).unwrap();
        assert_eq!(
            claimed
                .iter()
                .map(|e| (e.sequence, e.state, e.attempts))
                .collect::<Vec<_>>(),
            vec![(1, State::Sending, 1), (2, State::Sending, 1)]
        );
        assert!(
            store.claim(10, &now).unwrap().is_empty(),
            "sending entries are not claimed twice"
        );
        let to = store
            .record(
                1,
                &Outcome::Failed {
                    reason: "连接被拒绝".into(),
                    retry_at: Some(1_700_000_105),
                },
                &now,
            )
            .unwrap();
        assert_eq!(to, State::Retry);
        let to = store
            .record(
                2,
                &Outcome::Rejected {
                    code: Some(kaohe_proto::model::RejectionCode::OutOfScope),
                    reason: "范围外".into(),
                },
                &now,
            )
            .unwrap();
        assert_eq!(to, State::Rejected);
        let err = store
            .record(
                2,
                &Outcome::Failed {
                    reason: "x".into(),
                    retry_at: None,
                },
                &now,
            )
            .unwrap_err();
        assert!(
            matches!(err, crate::store::RecordError::Transition(t) if t.event == Event::Failed)
        );
        // A crash while sending: recovery puts the entry back to retry.
        let claimed = store.claim(10, &now).unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!(store.recover_interrupted(&now).unwrap(), 1);
        let counts = store.outbox_counts().unwrap();
        assert_eq!((counts.retry, counts.rejected, counts.sending), (1, 1, 0));
        assert_eq!(store.outbox(Some(State::Retry)).unwrap()[0].attempts, 2);
        // Entries and evaluations are never deleted.
        assert!(store.conn().execute("DELETE FROM outbox", []).is_err());
        assert!(store.conn().execute("DELETE FROM evaluations", []).is_err());
    }

    #[test]
    fn only_a_verified_receipt_for_the_entry_makes_it_accepted_and_is_stored() {
        use kaohe_proto::receipt::{ReceiptBatch, ReceiptItem};
        let dir = tempfile::tempdir().unwrap();
        let mut store = store_with_annual_submitted(dir.path());
        let now = jiff::Timestamp::from_second(1_700_000_100).unwrap();
        let claimed = store.claim(10, &now).unwrap();
        let hub = SigningKeyPair::from_seed(&[8; 32]);
        let item = |e: &crate::outbox::Entry| ReceiptItem {
            digest: e.digest,
            unit_id: e.unit_id.clone(),
            year: e.year,
            round: kaohe_proto::Round::Annual,
            late: false,
        };
        let receipts =
            ReceiptBatch::build(&[item(&claimed[0]), item(&claimed[1])], &hub, 1_700_000_200);
        let hub_key = hub.public();
        // The receipt of entry 2 presented for entry 1: refused, unchanged.
        let err = store
            .record(
                1,
                &Outcome::Accepted {
                    receipt: &receipts[1],
                    hub: &hub_key,
                },
                &now,
            )
            .unwrap_err();
        assert!(
            matches!(
                err,
                crate::store::RecordError::Receipt(crate::outbox::ReceiptMismatch::Digest { .. })
            ),
            "{err:?}"
        );
        // A receipt checked against another hub key: refused.
        let other = SigningKeyPair::from_seed(&[9; 32]).public();
        let err = store
            .record(
                1,
                &Outcome::Accepted {
                    receipt: &receipts[0],
                    hub: &other,
                },
                &now,
            )
            .unwrap_err();
        assert!(
            matches!(
                err,
                crate::store::RecordError::Receipt(crate::outbox::ReceiptMismatch::Invalid(_))
            ),
            "{err:?}"
        );
        assert_eq!(store.outbox(Some(State::Sending)).unwrap().len(), 2);
        // The right one: accepted, and the receipt kept.
        let to = store
            .record(
                1,
                &Outcome::Accepted {
                    receipt: &receipts[0],
                    hub: &hub_key,
                },
                &now,
            )
            .unwrap();
        assert_eq!(to, State::Accepted);
        let e = &store.outbox(Some(State::Accepted)).unwrap()[0];
        let stored = e.receipt.as_deref().expect("receipt stored");
        use prost::Message as _;
        let decoded = kaohe_proto::receipt::Receipt::try_from(
            kaohe_proto::pb::Receipt::decode(stored).unwrap(),
        )
        .unwrap();
        assert_eq!(decoded, receipts[0]);
    }

    /// Issue "Assessor node" §5: the node's own path — pack installed after
    /// verification, evidence written through the import's checks and
    /// [`Store::apply_evidence`], inputs built by [`jobs`] from the store,
    /// scored by [`evaluate_units`] with the wasm `Pack` — reproduces
    /// every hand-worked Baofeng 2022 fixture (error fixtures included).
    #[test]
    fn the_nodes_evaluation_of_the_2022_fixtures_matches_their_expected_sheets() {
        use crate::import::check_set;
        use crate::layout::Layout;
        use crate::testutil::{config_pinning, unit};
        use kaohe_rulepacks::fixture::{self, Fixture};
        use kaohe_rulepacks::pack::Pack;
        use kaohe_rulepacks::runtime::{Runtime, RuntimeConfig};

        let root =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../rulepacks/baofeng-2022");
        let source = std::fs::read_to_string(root.join("rubric.toml")).unwrap();
        let rubric = kaohe_rulepacks::rubric::compile("rubric.toml", &source)
            .unwrap_or_else(|d| panic!("the 2022 rubric does not compile:\n{d}"));
        let module = kaohe_rulepacks::compile::compile(&rubric).unwrap();
        let fixtures = Fixture::load_dir(&root.join("fixtures"), &rubric.manifest).unwrap();
        assert_eq!(fixtures.len(), 17, "the 2022 fixtures");

        // Installed as `kaohe node pack install` / sync do: verified k of n.
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::create(&dir.path().join(crate::store::DB_FILE)).unwrap();
        let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
        let authority = SigningKeyPair::from_seed(&[3; 32]);
        let envelope =
            kaohe_rulepacks::sign::sign_pack(&module, 1_700_000_000, &[&authority]).unwrap();
        crate::pack::install(
            &mut store,
            &config_pinning(dir.path(), &[&authority], 1),
            &runtime,
            &module,
            &envelope,
            &actor("王"),
        )
        .unwrap();
        // Loaded as `kaohe node evaluate` does: the module from the store,
        // under the active pack's identity.
        let pack = store.active_pack(2022).unwrap().expect("active 2022 pack");
        let m = &pack.manifest;
        let stored = store.pack_module(&pack.identity).unwrap().unwrap();
        let loaded = Pack::load(&runtime, &stored, &pack.identity).unwrap();
        assert_eq!(loaded.manifest(), m);

        // One unit per fixture, of its category; every method in scope.
        let unit_id = |i: usize| format!("fx{:02}", i + 1);
        store
            .replace_scope(&Scope {
                year: 2022,
                units: fixtures
                    .iter()
                    .enumerate()
                    .map(|(i, f)| {
                        unit(&unit_id(i), &f.title, &m.categories[f.evidence.category].id)
                    })
                    .collect(),
                methods: m.methods.iter().map(|x| x.id.clone()).collect(),
            })
            .unwrap();
        let scope = store.scope(2022).unwrap();

        // Evidence as an official enters it: the value's text, checked as
        // `set`/import check it, then one all-or-nothing write per fixture.
        {
            let layout = Layout::new(m, &scope).unwrap();
            let known = store.known_units().unwrap();
            for (i, f) in fixtures.iter().enumerate() {
                let mut writes = Vec::new();
                for (round, values) in &f.evidence.rounds {
                    for (field, v) in m.fields.iter().zip(values) {
                        let Some(v) = *v else { continue };
                        let text = value::display(field, v);
                        let w =
                            check_set(&layout, &known, &unit_id(i), &field.id, &text, Some(*round))
                                .unwrap_or_else(|p| {
                                    panic!("{}: {} = {text}: {p}", f.name, field.id)
                                });
                        assert_eq!(w.value, Some(v), "{}: {} = {text}", f.name, field.id);
                        writes.push(w);
                    }
                }
                let bytes = std::fs::read(root.join("fixtures").join(&f.name)).unwrap();
                let summary = store
                    .apply_evidence(
                        2022,
                        &writes,
                        &SourceKind::Import {
                            file_name: f.name.clone(),
                            sha256: Sha256::digest(&bytes).into(),
                        },
                        &actor("王"),
                        &mut |_| {},
                    )
                    .unwrap();
                assert_eq!(summary.added, writes.len());
            }
        }

        let mut failures = Vec::new();
        for (i, f) in fixtures.iter().enumerate() {
            let id = unit_id(i);
            let all = (1u32 << m.methods.len()) - 1;
            let only: Option<Vec<String>> = (f.evidence.methods & all != all).then(|| {
                (0..m.methods.len())
                    .filter(|&k| f.evidence.methods & (1 << k) != 0)
                    .map(|k| m.methods[k].id.clone())
                    .collect()
            });
            // The fixture's inputs only say which rounds to score; the
            // node's inputs come from its store.
            let evaluate = |wanted: &[UnitInput]| -> Result<Vec<UnitOutput>, EvaluateError> {
                let mut inputs = Vec::new();
                for w in wanted {
                    let js = jobs(&store, m, &scope, w.round, only.as_deref())?;
                    let job = js
                        .into_iter()
                        .find(|j| j.unit.unit_id == id)
                        .unwrap_or_else(|| panic!("{}: no node job in {}", f.name, w.round.id()));
                    assert_eq!(job.input.category, w.category, "{}", f.name);
                    inputs.push(job.input);
                }
                evaluate_units(&loaded, &inputs)
            };
            // The sheet is the hub's step; the same loaded pack finalises.
            let finalise = |units: &[abi::FinaliseInput]| loaded.finalise(units);
            if let Err(diffs) = fixture::check(f, evaluate, finalise) {
                let lines: Vec<String> = diffs.iter().map(ToString::to_string).collect();
                failures.push(format!(
                    "{}（{}）:\n  {}",
                    f.name,
                    f.title,
                    lines.join("\n  ")
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
