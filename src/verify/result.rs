//! The result part of a bundle, from proved leaves only: each submission
//! signed by a node whose logged registration held the unit and method in
//! scope that year (and was not revoked before it), under a pack published
//! in the log with enough authority signatures; replaying the pack on the
//! signed evidence gives the signed scores; consolidating the current
//! reports with the logged decisions gives the approved total and grade.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use kaohe_hub::consolidate::{
    self, AcceptedResult, Assessment, ConsolidationInput, Decisions, Excusal, ExcusalScope,
    PenaltyCapOverride,
};
use kaohe_hub::ingest::replay::{Replayed, replay_batch};
use kaohe_hub::registry::units::{ResponsibleAssessor, UnitRecord, YearRoster};
use kaohe_hub::results::rulings::{self, Ruling};
use kaohe_hub::tlog::bundle::ProofBundle;
use kaohe_proto::PackIdentity;
use kaohe_proto::envelope::{Digest, Envelope};
use kaohe_proto::submission::{Submission, verify_submission};
use kaohe_proto::tlog::leaf::{Leaf, SubmissionLeaf, TreeHead};
use kaohe_rulepacks::manifest::Round;
use kaohe_rulepacks::pack::Pack;
use kaohe_rulepacks::runtime::Runtime;
use kaohe_rulepacks::sign::{Expectation, verify_pack};
use serde_json::Value;

use super::log::{Placed, ProvedLog};
use super::registry::Registry;
use super::{Policy, VerifyError};

/// What the bundle proves of the unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitVerdict {
    pub unit_name: String,
    /// Submissions counted (before the approval).
    pub submissions: usize,
    /// The pack the year was consolidated with.
    pub pack: PackIdentity,
    /// Authorities that signed it.
    pub pack_signers: usize,
    /// The approval's document number.
    pub doc_number: String,
    /// Recomputed total and grade (id, name); `None` when excused.
    pub scored: Option<(i64, String, String)>,
    /// Whether the bundle stated the published result (and it agreed).
    pub published_checked: bool,
    /// Caveats, in Chinese.
    pub notes: Vec<String>,
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// The roster a `units.import` leaf carries.
fn roster_of(year: u16, leaf: &Placed) -> Option<YearRoster> {
    let rows = leaf.audit()?.carried.as_ref()?.get("roster")?.as_array()?;
    let mut units = BTreeMap::new();
    for row in rows {
        let opt = |k: &str| str_of(row, k).map(str::to_owned);
        let unit = UnitRecord {
            year: i32::from(year),
            id: opt("id")?,
            name: opt("name")?,
            category: opt("category")?,
            parent: opt("parent"),
            supervising_department: opt("supervising_department"),
            assessor: ResponsibleAssessor::from_stored(str_of(row, "assessor")?),
            principal: opt("principal"),
        };
        units.insert(unit.id.clone(), unit);
    }
    Some(YearRoster {
        year: i32::from(year),
        units,
    })
}

/// Everything past the log part; see the module docs.
pub fn verify_result(
    bundle: &ProofBundle,
    log: &ProvedLog,
    policy: &Policy,
    packs_dir: &Path,
    runtime: &Runtime,
    compiled: &mut Compiled,
) -> Result<UnitVerdict, VerifyError> {
    let year = bundle.year;
    let unit = bundle.unit_id.as_str();
    let (approval, head): (&Placed, TreeHead) = (&log.approval.0, log.approval.1);
    let before_approval = |p: &Placed| p.year < year || (p.year == year && p.index < head.size);
    let audits = |action: &'static str| {
        log.leaves
            .iter()
            .filter(move |l| l.audit().is_some_and(|a| a.action == action))
    };
    let mut notes = Vec::new();

    // The roster in force at the approval.
    let roster = audits("units.import")
        .filter(|l| l.year == year && before_approval(l))
        .max_by_key(|l| l.index)
        .and_then(|l| roster_of(year, l))
        .ok_or(VerifyError::NoRoster { year })?;
    let record = roster
        .get(unit)
        .cloned()
        .ok_or_else(|| VerifyError::NotInRoster {
            year,
            unit: unit.to_owned(),
        })?;

    // The nodes as logged: registrations, scope edits, keys, revocations.
    let registry = Registry::from_leaves(&log.leaves)?;

    // Published packs of the year, as logged.
    let mut published: Vec<(Placed, PackIdentity, Envelope)> = Vec::new();
    for l in audits("pack.publish").filter(|l| l.year == year) {
        let a = l.audit().expect("filtered on audit leaves");
        let bad = |detail: &str| VerifyError::LeafBody {
            year,
            index: l.index,
            detail: detail.to_owned(),
        };
        let d = &a.detail;
        let mut sha = [0u8; 32];
        hex::decode_to_slice(str_of(d, "module_sha256").unwrap_or_default(), &mut sha)
            .map_err(|_| bad("规则包发布记录的模块摘要无效（bad module digest）"))?;
        let identity = PackIdentity {
            id: str_of(d, "pack_id").unwrap_or_default().to_owned(),
            year: d
                .get("year")
                .and_then(Value::as_u64)
                .and_then(|y| u16::try_from(y).ok())
                .unwrap_or_default(),
            version: d
                .get("version")
                .and_then(Value::as_u64)
                .and_then(|v| u32::try_from(v).ok())
                .unwrap_or_default(),
            module_sha256: sha,
        };
        let statement = a
            .carried
            .as_ref()
            .and_then(|c| str_of(c, "statement"))
            .and_then(|s| BASE64.decode(s).ok())
            .and_then(|b| Envelope::from_protobuf(&b).ok())
            .ok_or_else(|| bad("规则包发布记录没有签名声明（no pack statement）"))?;
        published.push((l.clone(), identity, statement));
    }
    let mut packs = Packs {
        year,
        published: &published,
        modules: super::modules::find(bundle, packs_dir)?,
        dir: packs_dir,
        policy,
        runtime,
        trusted: HashMap::new(),
        compiled,
    };

    // The unit's submissions: envelope, signer, scope, pack, replay.
    let mut envelopes: BTreeMap<Digest, Envelope> = BTreeMap::new();
    for (i, e) in bundle.envelopes.iter().enumerate() {
        let envelope = BASE64
            .decode(e)
            .ok()
            .and_then(|b| Envelope::from_protobuf(&b).ok())
            .ok_or(VerifyError::BadEnvelope { index: i })?;
        envelopes.insert(envelope.digest(), envelope);
    }
    let own: Vec<(&Placed, &SubmissionLeaf)> = log
        .leaves
        .iter()
        .filter_map(|l| match &l.leaf {
            Leaf::Submission(s) if s.unit == unit && l.year == year => Some((l, s)),
            _ => None,
        })
        .collect();
    if envelopes.len() > own.len() {
        return Err(VerifyError::EnvelopeNotLogged {
            count: envelopes.len() - own.len(),
        });
    }
    let mut counted: Vec<(&SubmissionLeaf, String, Submission)> = Vec::new();
    for (placed, leaf) in &own {
        let envelope = envelopes
            .get(&leaf.digest)
            .ok_or(VerifyError::MissingEnvelope {
                digest: leaf.digest,
            })?;
        let (node, key) = registry.signer(&leaf.signer, placed.position(), leaf.digest)?;
        let verified =
            verify_submission(envelope, &key).map_err(|e| VerifyError::BadSignature {
                digest: leaf.digest,
                detail: e.to_string(),
            })?;
        let s = verified.submission;
        if (s.unit_id.as_str(), s.year, s.round) != (leaf.unit.as_str(), leaf.year, leaf.round) {
            return Err(VerifyError::LeafDiffers {
                digest: leaf.digest,
            });
        }
        for m in &s.methods {
            node.authorize(&record, &m.method_id, i32::from(year), &roster)
                .map_err(|e| VerifyError::OutOfScope {
                    node: node.id.to_string(),
                    digest: leaf.digest,
                    detail: e.to_string(),
                })?;
        }
        let (pack, _) = packs.get(&s.pack)?;
        let verdict = replay_batch(
            pack,
            &[Replayed {
                submission: &s,
                unit_name: &record.name,
                category: &record.category,
            }],
        );
        if let Some(Err(rejection)) = verdict.into_iter().next() {
            return Err(VerifyError::Replay {
                digest: leaf.digest,
                detail: rejection.message,
            });
        }
        if before_approval(placed) {
            counted.push((leaf, node.id.to_string(), s));
        } else {
            notes.push(format!(
                "上报 {} 在审定之后记入日志，不计入审定结果（logged after the approval）",
                leaf.digest
            ));
        }
    }

    // The current report per (node, round, method): the highest sequence.
    let mut current: BTreeMap<(String, String, String), (u64, AcceptedResult)> = BTreeMap::new();
    for (leaf, node, s) in &counted {
        let round = Round::from_id(&s.round.to_string()).ok_or(VerifyError::LeafDiffers {
            digest: leaf.digest,
        })?;
        for m in &s.methods {
            let key = (node.clone(), s.round.to_string(), m.method_id.clone());
            if current.get(&key).is_some_and(|(seq, _)| *seq >= s.sequence) {
                continue;
            }
            current.insert(
                key,
                (
                    s.sequence,
                    AcceptedResult {
                        unit_id: s.unit_id.clone(),
                        round,
                        method_id: m.method_id.clone(),
                        node_id: node.clone(),
                        scores: m.scores.clone(),
                        clauses: m
                            .clauses
                            .iter()
                            .map(|(id, c)| (id.clone(), c.amount))
                            .collect(),
                        not_applicable: m.not_applicable.clone(),
                        // As the hub stores it: the supplied values only.
                        evidence: Some(
                            m.evidence
                                .iter()
                                .filter_map(|(id, v)| Some((id.clone(), (*v)?)))
                                .collect(),
                        ),
                        late: leaf.late,
                        received_at: leaf.commit_time,
                    },
                ),
            );
        }
    }
    let mut results: Vec<AcceptedResult> = current.into_values().map(|(_, r)| r).collect();

    // The decisions recorded for the unit before the approval (the latest
    // of each kind is in force).
    let subject = format!("{year}/{unit}");
    let mut decisions = Decisions::default();
    let decided = |action: &'static str| {
        audits(action)
            .filter(|l| l.year == year && before_approval(l))
            .filter(|l| l.audit().is_some_and(|a| a.subject == subject))
            .max_by_key(|l| l.index)
            .and_then(Placed::audit)
    };
    if let Some(a) = decided("decision.override") {
        let cap = a.detail.get("cap").and_then(Value::as_i64);
        let reason = str_of(&a.detail, "reason").unwrap_or_default().to_owned();
        if let Some(cap) = cap {
            decisions
                .penalty_cap_overrides
                .insert(unit.to_owned(), PenaltyCapOverride { cap, reason });
        }
    }
    if let Some(a) = decided("decision.excuse") {
        decisions.excusals.push(Excusal {
            unit_id: unit.to_owned(),
            scope: ExcusalScope::Unit,
            reason: str_of(&a.detail, "reason").unwrap_or_default().to_owned(),
        });
    }

    // Rulings (裁定) on the unit's double reports before the approval: the
    // latest of each (round, method) stands, as at the hub.
    let mut in_force: BTreeMap<(String, String), Ruling> = BTreeMap::new();
    for l in audits("results.ruling")
        .filter(|l| l.year == year && before_approval(l))
        .filter(|l| l.audit().is_some_and(|a| a.subject == subject))
    {
        let a = l.audit().expect("filtered on audit leaves");
        let d = &a.detail;
        let (Some(round), Some(method), Some(node)) = (
            str_of(d, "round").and_then(Round::from_id),
            str_of(d, "method"),
            str_of(d, "node"),
        ) else {
            return Err(VerifyError::LeafBody {
                year,
                index: l.index,
                detail: "裁定记录缺少轮次、考核方式或节点（ruling without round, method or node）"
                    .into(),
            });
        };
        in_force.insert(
            (round.id().to_owned(), method.to_owned()),
            Ruling {
                seq: a.seq,
                year: i32::from(year),
                unit_id: unit.to_owned(),
                round,
                method_id: method.to_owned(),
                node_id: node.to_owned(),
                submission_id: d.get("submission").and_then(Value::as_i64).unwrap_or(0),
                reason: str_of(d, "reason").unwrap_or_default().to_owned(),
                decided_at: a.time.clone(),
                operator: a.operator.clone(),
            },
        );
    }
    rulings::apply(&in_force.into_values().collect::<Vec<_>>(), &mut results);

    // The pack in force at the approval: the year's last one published
    // before it.
    let (_, pack_id, _) = published
        .iter()
        .filter(|(l, _, _)| before_approval(l))
        .max_by_key(|(l, _, _)| l.index)
        .ok_or(VerifyError::NoPack { year })?;
    let pack_id = pack_id.clone();
    let (pack, signers) = packs.get(&pack_id)?;
    let manifest = pack.manifest();
    let c = consolidate::consolidate(
        &ConsolidationInput {
            manifest,
            roster: &roster,
            results: &results,
            decisions: &decisions,
        },
        |units| pack.finalise(units),
    )
    .map_err(|e| VerifyError::Consolidate(e.to_string()))?;
    let mine = c
        .units
        .iter()
        .find(|u| u.unit_id == unit)
        .ok_or_else(|| VerifyError::Consolidate(format!("复算结果中没有单位 {unit}")))?;
    let scored = match &mine.assessment {
        Assessment::Assessed(s) => Some((s.total, s.grade.clone(), s.grade_name.clone())),
        Assessment::Excused { .. } => None,
        Assessment::NotAssessed { gaps } => {
            return Err(VerifyError::NotAssessed {
                unit: unit.to_owned(),
                gaps: gaps
                    .iter()
                    .map(|g| g.message.as_str())
                    .collect::<Vec<_>>()
                    .join("；"),
            });
        }
    };

    // The approval and the published documents must say the same.
    let approval_leaf = approval.audit().expect("the approval is an audit leaf");
    let approved = approval_leaf
        .carried
        .as_ref()
        .and_then(|c| c.pointer(&format!("/results/units/{unit}")))
        .map(|r| {
            (
                r.get("total").and_then(Value::as_i64),
                str_of(r, "grade").map(str::to_owned),
            )
        });
    let quota = manifest.composition.excellent_quota > 0;
    match (&scored, &approved) {
        (None, None) => notes.push(format!("单位 {unit} 免于考核（excused）")),
        (None, Some(_)) => {
            return Err(VerifyError::ApprovedDiffers {
                what: "本单位按日志免于考核，审定结果却列有得分".into(),
            });
        }
        (Some((total, ..)), None) => {
            return Err(VerifyError::ApprovedDiffers {
                what: format!(
                    "按日志复算总分 {}，审定结果中却没有本单位",
                    hundredths(*total)
                ),
            });
        }
        (Some((total, grade, _)), Some((a_total, a_grade))) => {
            if Some(*total) != *a_total {
                return Err(VerifyError::ApprovedDiffers {
                    what: format!(
                        "按日志复算总分 {}，审定总分 {}",
                        hundredths(*total),
                        a_total.map_or("（缺）".into(), hundredths)
                    ),
                });
            }
            if Some(grade) != a_grade.as_ref() {
                if quota {
                    notes.push(
                        "规则包设有优秀比例：等次受同类单位排名影响，单个单位的证明包只核对总分（grade depends on the quota; total checked only）"
                            .into(),
                    );
                } else {
                    return Err(VerifyError::ApprovedDiffers {
                        what: format!(
                            "按日志复算等次 {grade}，审定等次 {}",
                            a_grade.as_deref().unwrap_or("（缺）")
                        ),
                    });
                }
            }
        }
    }
    if let Some(p) = &bundle.published {
        let ours = scored.as_ref().map(|(t, g, _)| (*t, g.clone()));
        let theirs = p.total.zip(p.grade.clone());
        let differs = match (&ours, &theirs) {
            (Some((t, _)), Some((pt, _))) if t != pt => true,
            (Some((_, g)), Some((_, pg))) if g != pg && !quota => true,
            (None, Some(_)) | (Some(_), None) => true,
            _ => false,
        };
        if differs || (scored.is_none() && !p.excused) {
            return Err(VerifyError::PublishedDiffers {
                published: theirs.map_or("未评分".into(), |(t, g)| {
                    format!("{} {g}", hundredths(t))
                }),
                recomputed: ours.map_or("免于考核".into(), |(t, g)| {
                    format!("{} {g}", hundredths(t))
                }),
            });
        }
    } else {
        notes.push(
            "证明包未载明公布结果，仅与审定结果核对（no published result in the bundle）".into(),
        );
    }
    let doc_number = str_of(&approval_leaf.detail, "doc_number")
        .unwrap_or_default()
        .to_owned();
    Ok(UnitVerdict {
        unit_name: record.name.clone(),
        submissions: counted.len(),
        pack: pack_id,
        pack_signers: signers,
        doc_number,
        scored,
        published_checked: bundle.published.is_some(),
        notes,
    })
}

/// Compiled packs, kept across the bundles one run verifies (compiling a
/// module is the slow part; trusting it is checked again per bundle).
pub type Compiled = HashMap<PackIdentity, Pack>;

/// The packs the bundle names, each checked once.
struct Packs<'a> {
    year: u16,
    published: &'a [(Placed, PackIdentity, Envelope)],
    modules: HashMap<[u8; 32], Vec<u8>>,
    dir: &'a Path,
    policy: &'a Policy,
    runtime: &'a Runtime,
    /// Pack → how many authorities signed it, once trusted for this bundle.
    trusted: HashMap<PackIdentity, usize>,
    compiled: &'a mut Compiled,
}

impl Packs<'_> {
    /// The pack `identity`: published in the log, its module found by its
    /// digest, its statement signed by enough authorities; with how many
    /// signed.
    fn get(&mut self, identity: &PackIdentity) -> Result<(&Pack, usize), VerifyError> {
        if !self.trusted.contains_key(identity) {
            let (module, signers) = self.trust(identity)?;
            if !self.compiled.contains_key(identity) {
                let pack = Pack::load(self.runtime, &module, identity).map_err(|e| {
                    VerifyError::PackTrust {
                        pack: identity.to_string(),
                        detail: e.to_string(),
                    }
                })?;
                self.compiled.insert(identity.clone(), pack);
            }
            self.trusted.insert(identity.clone(), signers);
        }
        Ok((&self.compiled[identity], self.trusted[identity]))
    }

    fn trust(&self, identity: &PackIdentity) -> Result<(Vec<u8>, usize), VerifyError> {
        let (_, _, statement) = self
            .published
            .iter()
            .find(|(_, id, _)| id == identity)
            .ok_or_else(|| VerifyError::PackNotPublished {
                pack: identity.to_string(),
            })?;
        let module = self.modules.get(&identity.module_sha256).ok_or_else(|| {
            VerifyError::PackModuleMissing {
                pack: identity.to_string(),
                sha256: hex::encode(identity.module_sha256),
                dir: self.dir.display().to_string(),
            }
        })?;
        let trust = |detail: String| VerifyError::PackTrust {
            pack: identity.to_string(),
            detail,
        };
        let verified = verify_pack(
            module,
            statement,
            &self.policy.authorities,
            &Expectation {
                year: Some(self.year),
                accepted: &[],
            },
        )
        .map_err(|e| trust(e.to_string()))?;
        if verified.identity != *identity {
            return Err(trust(format!("签名声明的是 {}", verified.identity)));
        }
        Ok((module.clone(), verified.signers.len()))
    }
}

/// Hundredths as points with two decimals.
pub fn hundredths(v: i64) -> String {
    kaohe_rulepacks::rubric::decimal::format_hundredths_fixed(v)
}
