//! The log part of a bundle: the checkpoint signed by the hub and
//! cosigned by enough trusted witnesses, every leaf included in it (earlier
//! years' leaves in the log head the next year's rollover leaf carries),
//! and the approval's log head a prefix of the checkpoint.

use kaohe_hub::tlog::bundle::{ProofBundle, ProvedLeaf};
use kaohe_proto::merkle::{self, Hash, verify_consistency, verify_inclusion};
use kaohe_proto::tlog::checkpoint::VerifiedCheckpoint;
use kaohe_proto::tlog::leaf::{AuditLeaf, Leaf, TreeHead, log_verifier, witness_verifier};
use kaohe_proto::tlog::note::SignedNote;

use super::{Policy, VerifyError};

/// A leaf and where it is: (year of its log, index).
#[derive(Debug, Clone)]
pub struct Placed {
    pub year: u16,
    pub index: u64,
    pub leaf: Leaf,
}

impl Placed {
    /// Its place in history: earlier years' logs come before.
    pub fn position(&self) -> (u16, u64) {
        (self.year, self.index)
    }

    pub fn audit(&self) -> Option<&AuditLeaf> {
        match &self.leaf {
            Leaf::Audit(a) => Some(a),
            _ => None,
        }
    }
}

/// The proved log part.
#[derive(Debug)]
pub struct ProvedLog {
    pub checkpoint: VerifiedCheckpoint,
    /// Every leaf of the bundle, proved; the year's first, then earlier
    /// years', each by index.
    pub leaves: Vec<Placed>,
    /// The approval leaf of the year (the latest) and the log head it names.
    pub approval: (Placed, TreeHead),
}

/// What a leaf is, for messages.
pub fn describe(leaf: &Leaf) -> String {
    match leaf {
        Leaf::Submission(s) => format!("单位 {} 的上报 {}", s.unit, s.digest),
        Leaf::Audit(a) => format!("审计记录 {}（{}）", a.action, a.subject),
        Leaf::Rollover(r) => format!("{} 年日志的滚动记录", r.year),
    }
}

fn prove(
    year: u16,
    p: &ProvedLeaf,
    size: u64,
    root: &Hash,
    what_head: &str,
) -> Result<Placed, VerifyError> {
    let leaf = p.leaf().map_err(|e| VerifyError::LeafBody {
        year,
        index: p.index,
        detail: e.to_string(),
    })?;
    let proof = p.proof_hashes().ok_or_else(|| VerifyError::LeafBody {
        year,
        index: p.index,
        detail: "包含证明的哈希须为 64 个小写十六进制字符（proof hashes must be lowercase hex）"
            .into(),
    })?;
    verify_inclusion(
        &merkle::leaf_hash(&p.leaf_bytes()),
        p.index,
        size,
        &proof,
        root,
    )
    .map_err(|e| VerifyError::NotIncluded {
        year,
        index: p.index,
        what: describe(&leaf),
        head: what_head.to_owned(),
        detail: e.to_string(),
    })?;
    Ok(Placed {
        year,
        index: p.index,
        leaf,
    })
}

/// Checks the log part of `bundle` under `policy`.
pub fn prove_log(bundle: &ProofBundle, policy: &Policy) -> Result<ProvedLog, VerifyError> {
    let year = bundle.year;
    let note = SignedNote::parse(bundle.checkpoint.as_bytes())
        .map_err(|e| VerifyError::Checkpoint(e.to_string()))?;
    let witnesses: Vec<_> = policy.witnesses.iter().map(witness_verifier).collect();
    let checkpoint = note
        .verify_checkpoint(&log_verifier(&policy.hub, year), &witnesses)
        .map_err(|e| VerifyError::Checkpoint(e.to_string()))?;
    let cosigned = checkpoint.cosignatures.len();
    if cosigned < policy.witnesses_required {
        return Err(VerifyError::TooFewWitnesses {
            have: cosigned,
            need: policy.witnesses_required,
        });
    }
    let (size, root) = (checkpoint.checkpoint.size, checkpoint.checkpoint.root);
    let head = format!("{year} 年检查点（{size} 条记录）");
    let mut leaves = Vec::with_capacity(bundle.leaves.len());
    for p in &bundle.leaves {
        leaves.push(prove(year, p, size, &root, &head)?);
    }
    for earlier in &bundle.earlier {
        // The head of an earlier year is what a proved rollover leaf says.
        let head = leaves
            .iter()
            .find_map(|l| match &l.leaf {
                Leaf::Rollover(r) if r.year == earlier.year => Some(r.head),
                _ => None,
            })
            .ok_or(VerifyError::NoChain { year: earlier.year })?;
        let what = format!(
            "{} 年日志滚动记录所载的日志（{} 条记录）",
            earlier.year, head.size
        );
        for p in &earlier.leaves {
            leaves.push(prove(earlier.year, p, head.size, &head.root, &what)?);
        }
    }

    let approval = leaves
        .iter()
        .filter(|l| l.year == year)
        .filter(|l| l.audit().is_some_and(|a| a.action == "results.approve"))
        .max_by_key(|l| l.index)
        .cloned()
        .ok_or(VerifyError::NoApproval { year })?;
    let approval_head = approval
        .audit()
        .and_then(|a| {
            let c = a.carried.as_ref()?.get("checkpoint")?;
            let mut root = [0u8; 32];
            hex::decode_to_slice(c.get("root")?.as_str()?, &mut root).ok()?;
            Some(TreeHead {
                size: c.get("size")?.as_u64()?,
                root,
            })
        })
        .ok_or(VerifyError::LeafBody {
            year,
            index: approval.index,
            detail: "审定记录没有写明所依据的日志（size、root）（the approval names no log head）"
                .into(),
        })?;
    let proof = kaohe_hub::tlog::bundle::parse_hashes(&bundle.approval_consistency).ok_or(
        VerifyError::ApprovalNotInCheckpoint {
            approved: approval_head.size,
            size,
            detail: "一致性证明的哈希格式错误（malformed consistency proof）".into(),
        },
    )?;
    if approval_head.size > approval.index {
        return Err(VerifyError::ApprovalNotInCheckpoint {
            approved: approval_head.size,
            size,
            detail: format!(
                "审定记录是第 {} 号叶，却称依据前 {} 条记录（the approval cannot cover itself）",
                approval.index, approval_head.size
            ),
        });
    }
    verify_consistency(approval_head.size, size, &approval_head.root, &root, &proof).map_err(
        |e| VerifyError::ApprovalNotInCheckpoint {
            approved: approval_head.size,
            size,
            detail: e.to_string(),
        },
    )?;
    Ok(ProvedLog {
        checkpoint,
        leaves,
        approval: (approval, approval_head),
    })
}
