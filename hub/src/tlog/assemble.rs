//! Building each unit's [`ProofBundle`] of an approved year from the log
//! (what [`bundle`](super::bundle) describes), for `kaohe hub export`.
//!
//! One checkpoint serves every bundle of the year: among the checkpoints
//! the hub signed that include every leaf the bundles need, the one with
//! the most witness cosignatures (the newest of those); when none includes
//! them all (the log grew since the last checkpoint), a new one is signed
//! now and has no cosignature yet — the export says so.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use jiff::Timestamp;
use kaohe_proto::keys::SigningKeyPair;
use kaohe_proto::tlog::leaf::{AuditLeaf, Leaf, RolloverLeaf, TreeHead};
use rusqlite::{Connection, OptionalExtension};
use serde_json::Value;

use super::bundle::{BUNDLE_FORMAT, EarlierLog, ProofBundle, ProvedLeaf};
use super::store::{self, SqlTree};
use super::{LogCheckpoint, LogError, consistency_proof, cosigned_note};

/// Every unit's bundle of a year, the checkpoint they are proved against
/// and the pack modules they name.
#[derive(Debug)]
pub struct BundleSet {
    pub year: u16,
    /// The log head the approval names: what the approved results were
    /// computed from.
    pub approval_head: TreeHead,
    pub checkpoint: LogCheckpoint,
    /// Witnesses that cosigned `checkpoint`.
    pub cosignatures: u32,
    /// Whether `checkpoint` was signed for this export (the log had grown
    /// past every earlier one).
    pub signed_now: bool,
    /// One per unit of the year's roster, by unit id.
    pub bundles: Vec<ProofBundle>,
    /// (module SHA-256 hex, module) of every pack published for the year.
    pub modules: Vec<(String, Vec<u8>)>,
}

/// Why the bundles could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("{year} 年的透明日志中没有审定记录，不能生成证明包（no approval in the log）")]
    NotApproved { year: u16 },
    #[error("{year} 年的透明日志中没有名册，不能生成证明包（no roster in the log）")]
    NoRoster { year: u16 },
    #[error("透明日志第 {index} 号叶：{detail}（unusable log leaf）")]
    Leaf { index: u64, detail: String },
}

impl From<rusqlite::Error> for BundleError {
    fn from(e: rusqlite::Error) -> BundleError {
        BundleError::Log(e.into())
    }
}

/// A parsed leaf of the year's log.
struct Logged {
    index: u64,
    bytes: Vec<u8>,
    leaf: Leaf,
}

impl Logged {
    fn audit(&self) -> Option<&AuditLeaf> {
        match &self.leaf {
            Leaf::Audit(a) => Some(a),
            _ => None,
        }
    }
}

fn read(conn: &Connection, year: u16, kind: &str) -> Result<Vec<Logged>, BundleError> {
    store::leaves_of_kind(conn, year, kind)?
        .into_iter()
        .map(|(index, bytes)| {
            let leaf = Leaf::parse(&bytes).map_err(|e| BundleError::Leaf {
                index,
                detail: e.to_string(),
            })?;
            Ok(Logged { index, bytes, leaf })
        })
        .collect()
}

/// Builds every unit's bundle of `year` (see the module docs); `key` signs
/// a checkpoint when the log grew past the last one.
pub fn bundles(
    conn: &Connection,
    year: u16,
    key: &SigningKeyPair,
    at: Timestamp,
) -> Result<BundleSet, BundleError> {
    let audits = read(conn, year, "audit")?;
    let rollover = read(conn, year, "rollover")?.into_iter().next();
    let submissions = read(conn, year, "submission")?;

    let approval = audits
        .iter()
        .rev()
        .find(|l| l.audit().is_some_and(|a| a.action == "results.approve"))
        .ok_or(BundleError::NotApproved { year })?;
    let approval_head = approval
        .audit()
        .and_then(|a| {
            let head = a.carried.as_ref()?.get("checkpoint")?;
            let mut root = [0u8; 32];
            hex::decode_to_slice(head.get("root")?.as_str()?, &mut root).ok()?;
            Some(TreeHead {
                size: head.get("size")?.as_u64()?,
                root,
            })
        })
        .ok_or_else(|| BundleError::Leaf {
            index: approval.index,
            detail: "审定叶没有日志检查点（the approval leaf names no log head）".into(),
        })?;
    let approval_size = approval_head.size;
    let roster: Vec<String> = audits
        .iter()
        .rev()
        .find_map(|l| {
            let a = l.audit()?;
            (a.action == "units.import").then_some(a.carried.as_ref()?.get("roster")?)
        })
        .and_then(Value::as_array)
        .ok_or(BundleError::NoRoster { year })?
        .iter()
        .filter_map(|u| Some(u.get("id")?.as_str()?.to_owned()))
        .collect();

    let mut by_unit: BTreeMap<&str, Vec<&Logged>> = BTreeMap::new();
    for s in &submissions {
        if let Leaf::Submission(leaf) = &s.leaf {
            by_unit.entry(leaf.unit.as_str()).or_default().push(s);
        }
    }

    // What each unit's bundle holds, before the proofs.
    struct Plan<'a> {
        unit: &'a str,
        leaves: Vec<&'a Logged>,
        earlier: Vec<(u16, Vec<Logged>)>,
        envelopes: Vec<Vec<u8>>,
    }
    let mut plans = Vec::with_capacity(roster.len());
    for unit in &roster {
        let own: &[&Logged] = by_unit.get(unit.as_str()).map_or(&[], Vec::as_slice);
        // A leaf names the key that signed; registry records name the node
        // (its first key's id), which a rotated key maps back to.
        let mut signers = BTreeSet::new();
        for l in own {
            if let Leaf::Submission(s) = &l.leaf {
                signers.insert(node_of_key(conn, s.signer.as_str())?);
            }
        }
        let subjects = unit_subjects(year, unit, &signers);
        let mut leaves: Vec<&Logged> = audits
            .iter()
            .filter(|l| {
                l.audit()
                    .is_some_and(|a| relevant(&a.subject, year, &subjects))
            })
            .chain(rollover.iter())
            .chain(own.iter().copied())
            .collect();
        leaves.sort_by_key(|l| l.index);
        let registered: BTreeSet<String> = leaves
            .iter()
            .filter_map(|l| registered_node(l.audit()?))
            .collect();
        let missing: BTreeSet<String> = signers.difference(&registered).cloned().collect();
        let earlier = if missing.is_empty() {
            Vec::new()
        } else {
            earlier_registrations(conn, rollover.as_ref(), &missing)?
        };
        let mut envelopes = Vec::with_capacity(own.len());
        for l in own {
            if let Leaf::Submission(s) = &l.leaf {
                let envelope: Option<Vec<u8>> = conn
                    .prepare_cached("SELECT envelope FROM submissions WHERE digest = ?1")?
                    .query_row([s.digest.0.as_slice()], |r| r.get(0))
                    .optional()?;
                envelopes.push(envelope.ok_or_else(|| BundleError::Leaf {
                    index: l.index,
                    detail: format!(
                        "上报 {} 不在数据库中（the submission is not in the database）",
                        s.digest
                    ),
                })?);
            }
        }
        plans.push(Plan {
            unit,
            leaves,
            earlier,
            envelopes,
        });
    }

    // One checkpoint for every bundle.
    let needed = plans
        .iter()
        .flat_map(|p| p.leaves.iter().map(|l| l.index))
        .chain([approval.index])
        .max()
        .unwrap_or(0);
    let best = store::checkpoints_from(conn, year, needed + 1)?
        .into_iter()
        .max_by_key(|(row, cosigned)| (*cosigned, row.size));
    let (checkpoint, cosignatures, signed_now) = match best {
        Some((row, cosigned)) => (LogCheckpoint::from_row(year, row)?, cosigned, false),
        None => (super::checkpoint(conn, year, key, at)?, 0, true),
    };
    let note = cosigned_note(conn, year, checkpoint.size)?
        .map_or_else(|| checkpoint.note.to_string(), |n| n.to_string());
    let approval_consistency = consistency_proof(conn, year, approval_size, checkpoint.size)?
        .iter()
        .map(hex::encode)
        .collect::<Vec<_>>();

    let tree = SqlTree::new(conn, year);
    let mut out = Vec::with_capacity(plans.len());
    for plan in plans {
        let prove =
            |l: &Logged, tree: &SqlTree<'_>, size: u64| -> Result<ProvedLeaf, BundleError> {
                let proof = kaohe_proto::tlog::tree::inclusion_proof(l.index, size, tree)
                    .map_err(LogError::tree(tree.year()))?;
                ProvedLeaf::new(l.index, &l.bytes, &proof).map_err(|e| BundleError::Leaf {
                    index: l.index,
                    detail: e.to_string(),
                })
            };
        let leaves = plan
            .leaves
            .iter()
            .map(|l| prove(l, &tree, checkpoint.size))
            .collect::<Result<Vec<_>, _>>()?;
        let mut earlier = Vec::with_capacity(plan.earlier.len());
        for (e_year, e_leaves) in &plan.earlier {
            let size = head_size_of(&plan.leaves, &plan.earlier, *e_year).unwrap_or(0);
            let e_tree = SqlTree::new(conn, *e_year);
            earlier.push(EarlierLog {
                year: *e_year,
                leaves: e_leaves
                    .iter()
                    .map(|l| prove(l, &e_tree, size))
                    .collect::<Result<Vec<_>, _>>()?,
            });
        }
        out.push(ProofBundle {
            format: BUNDLE_FORMAT.to_owned(),
            year,
            unit_id: plan.unit.to_owned(),
            checkpoint: note.clone(),
            leaves,
            earlier,
            approval_consistency: approval_consistency.clone(),
            envelopes: plan.envelopes.iter().map(|e| BASE64.encode(e)).collect(),
            modules: Vec::new(),
            published: None,
        });
    }

    let mut modules = Vec::new();
    for l in &audits {
        let Some(a) = l.audit().filter(|a| a.action == "pack.publish") else {
            continue;
        };
        let Some(sha) = a.detail.get("module_sha256").and_then(Value::as_str) else {
            continue;
        };
        let Ok(raw) = hex::decode(sha) else { continue };
        let module: Option<Vec<u8>> = conn
            .prepare_cached("SELECT module FROM packs WHERE module_sha256 = ?1 LIMIT 1")?
            .query_row([raw], |r| r.get(0))
            .optional()?;
        if let Some(module) = module
            && !modules.iter().any(|(s, _)| s == sha)
        {
            modules.push((sha.to_owned(), module));
        }
    }
    Ok(BundleSet {
        year,
        approval_head,
        checkpoint,
        cosignatures,
        signed_now,
        bundles: out,
        modules,
    })
}

/// The subjects of the audit records a unit's bundle holds: the year's
/// roster and packs, the year itself (approval, publication), the unit in
/// the year (workflow acts), and each signing node.
fn unit_subjects(year: u16, unit: &str, signers: &BTreeSet<String>) -> BTreeSet<String> {
    let mut s: BTreeSet<String> = [
        format!("units/{year}"),
        format!("{year}"),
        format!("{year}/{unit}"),
    ]
    .into_iter()
    .collect();
    s.extend(signers.iter().map(|n| format!("node/{n}")));
    s
}

fn relevant(subject: &str, year: u16, subjects: &BTreeSet<String>) -> bool {
    subjects.contains(subject)
        || (subject.starts_with("pack/") && subject.ends_with(&format!("/{year}")))
}

/// The node whose key `key_id` is (or was); the key itself when the
/// database no longer knows it (the bundle then lacks its registration and
/// `kaohe verify` says so).
fn node_of_key(conn: &Connection, key_id: &str) -> rusqlite::Result<String> {
    Ok(conn
        .prepare_cached("SELECT node_id FROM node_keys WHERE key_id = ?1")?
        .query_row([key_id], |r| r.get::<_, String>(0))
        .optional()?
        .unwrap_or_else(|| key_id.to_owned()))
}

/// The node a registration leaf registers.
fn registered_node(a: &AuditLeaf) -> Option<String> {
    (a.action == "node.add").then(|| a.detail.get("key_id")?.as_str().map(str::to_owned))?
}

/// The records of `missing` nodes in earlier years' logs, following the
/// rollover chain back from `rollover` until each node's registration is
/// found: per earlier year, its leaves (its own rollover leaf too when the
/// chain goes further back).
fn earlier_registrations(
    conn: &Connection,
    rollover: Option<&Logged>,
    missing: &BTreeSet<String>,
) -> Result<Vec<(u16, Vec<Logged>)>, BundleError> {
    let mut out = Vec::new();
    let mut missing = missing.clone();
    let mut link: Option<RolloverLeaf> = rollover.and_then(|l| match &l.leaf {
        Leaf::Rollover(r) => Some(r.clone()),
        _ => None,
    });
    while let Some(r) = link.take() {
        if missing.is_empty() {
            break;
        }
        let subjects: BTreeSet<String> = missing.iter().map(|n| format!("node/{n}")).collect();
        let mut leaves: Vec<Logged> = read(conn, r.year, "audit")?
            .into_iter()
            .filter(|l| l.index < r.head.size)
            .filter(|l| l.audit().is_some_and(|a| subjects.contains(&a.subject)))
            .collect();
        for l in &leaves {
            if let Some(node) = l.audit().and_then(registered_node) {
                missing.remove(&node);
            }
        }
        if !missing.is_empty()
            && let Some(first) = read(conn, r.year, "rollover")?.into_iter().next()
            && first.index < r.head.size
        {
            if let Leaf::Rollover(next) = &first.leaf {
                link = Some(next.clone());
            }
            leaves.push(first);
        }
        leaves.sort_by_key(|l| l.index);
        out.push((r.year, leaves));
    }
    Ok(out)
}

/// The head size the rollover leaf naming `year` gives: found in the
/// year's own leaves or in the earlier logs already planned.
fn head_size_of(leaves: &[&Logged], earlier: &[(u16, Vec<Logged>)], year: u16) -> Option<u64> {
    leaves
        .iter()
        .copied()
        .chain(earlier.iter().flat_map(|(_, l)| l.iter()))
        .find_map(|l| match &l.leaf {
            Leaf::Rollover(r) if r.year == year => Some(r.head.size),
            _ => None,
        })
}
