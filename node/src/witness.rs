//! 见证（witnessing the hub's transparency log）：每次同步时核对汇总中心的
//! 年度日志只增不改，并副署。
//!
//! On every sync, for each year in scope (and each year already witnessed),
//! the node asks for the newest checkpoint of the hub's log with a
//! consistency proof from the last checkpoint it stored ([`witness`]), and
//! [`check`]s it, purely:
//! - the checkpoint must be signed by the pinned hub key under that year's
//!   origin (else the answer is refused, and nothing is recorded: an
//!   unsigned checkpoint proves nothing about the hub);
//! - first sight of a year's log: taken as it is;
//! - a larger log: the consistency proof must show it extends the stored
//!   one; the same size: the same root;
//! - anything else — a smaller log, another root at the same size, a proof
//!   that fails — is an **inconsistency**: a rewritten history or a split
//!   view. Both signed checkpoints and the proof are kept as evidence
//!   ([`Store::record_log_evidence`]), the stored checkpoint stays, and
//!   delivery stops ([`crate::deliver`]) until an official resolves it
//!   (`kaohe node witness --resolve`).
//!
//! A consistent checkpoint is stored and cosigned (C2SP cosignature/v1,
//! key name `kaohe.witness/<key id>`) with the node's key, and the
//! cosignature sent back to the hub, which publishes it with the
//! checkpoint.

use kaohe_proto::merkle::{Hash, verify_consistency};
use kaohe_proto::model::{AddCosignatureRequest, GetCheckpointRequest};
use kaohe_proto::tlog::checkpoint::{self, VerifiedCheckpoint};
use kaohe_proto::tlog::cosignature::cosign;
use kaohe_proto::tlog::leaf::{log_verifier, witness_name, witness_verifier};
use kaohe_proto::tlog::note::SignedNote;
use kaohe_proto::{PublicKey, SigningKeyPair};
use tonic::Code;

use crate::client::{CallError, HubClient};
use crate::store::{NewLogEvidence, Store, StoreError, Witnessed};

/// What a presented checkpoint is, against the one stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The first checkpoint of the year this node sees.
    First,
    /// It extends the stored one.
    Grew { from: u64 },
    /// It is the stored one.
    Unchanged,
    /// It does not extend the stored one: what does not hold, in Chinese.
    Inconsistent(String),
}

/// The presented checkpoint is not one the hub signed for the year.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "汇总中心给出的 {year} 年日志检查点无效，未予采信（invalid checkpoint from the hub）：{detail}"
)]
pub struct BadCheckpoint {
    pub year: u16,
    pub detail: String,
}

/// Checks `presented` (with `proof` from the stored size) against the
/// stored checkpoint; see the module docs. Pure.
pub fn check(
    hub: &PublicKey,
    own: &PublicKey,
    year: u16,
    held: Option<&Witnessed>,
    presented: &SignedNote,
    proof: &[Hash],
) -> Result<(Verdict, VerifiedCheckpoint), BadCheckpoint> {
    let verified = presented
        .verify_checkpoint(&log_verifier(hub, year), &[witness_verifier(own)])
        .map_err(|e| BadCheckpoint {
            year,
            detail: e.to_string(),
        })?;
    let new = &verified.checkpoint;
    let Some(held) = held else {
        return Ok((Verdict::First, verified));
    };
    let verdict = if new.size < held.size {
        Verdict::Inconsistent(format!(
            "汇总中心 {year} 年透明日志从本节点已见证的 {} 条记录变为 {} 条：已记录的内容被删除，历史被改写（the log shrank: rewritten history）",
            held.size, new.size
        ))
    } else if new.size == held.size {
        if new.root == held.root {
            Verdict::Unchanged
        } else {
            Verdict::Inconsistent(format!(
                "汇总中心 {year} 年透明日志同为 {} 条记录，根哈希却与本节点已见证的不同：汇总中心给出了另一份历史（same size, another root: a split view or rewritten history）",
                new.size
            ))
        }
    } else {
        match verify_consistency(held.size, new.size, &held.root, &new.root, proof) {
            Ok(()) => Verdict::Grew { from: held.size },
            Err(e) => Verdict::Inconsistent(format!(
                "汇总中心不能证明 {year} 年透明日志的新检查点（{} 条记录）包含本节点已见证的检查点（{} 条记录）：历史被改写或分叉（no valid consistency proof: rewritten history or split view）：{e}",
                new.size, held.size
            )),
        }
    };
    Ok((verdict, verified))
}

/// What witnessing did for one year.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum YearWitness {
    /// The hub keeps no log for the year yet.
    NoLog,
    /// Consistent (or first seen), stored and cosigned.
    Cosigned {
        verdict: Verdict,
        size: u64,
        /// Witnesses that have cosigned it at the hub now.
        cosignatures: u32,
    },
    /// Inconsistent: evidence kept, delivery stopped.
    Inconsistent { reason: String, evidence: i64 },
    /// It could not be checked this time (call failed, bad checkpoint);
    /// nothing was recorded.
    Failed(String),
}

/// Witnessing stopped on the store.
#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Witnesses each of `years` (see the module docs); `now` is the node's
/// clock (unix seconds), `at` when, for the store.
pub async fn witness(
    store: &mut Store,
    hub: &HubClient,
    hub_key: &PublicKey,
    key: &SigningKeyPair,
    years: &[u16],
    now: &dyn Fn() -> i64,
    at: &str,
) -> Result<Vec<(u16, YearWitness)>, WitnessError> {
    let mut out = Vec::with_capacity(years.len());
    for &year in years {
        let held = store.witnessed(year)?;
        let request = GetCheckpointRequest {
            year,
            from_size: held.as_ref().map_or(0, |h| h.size),
        };
        let answer = match hub.get_checkpoint(request, now).await {
            Ok(answer) => answer,
            Err(CallError::Status(s)) if s.code() == Code::NotFound => {
                out.push((year, YearWitness::NoLog));
                continue;
            }
            Err(e) => {
                out.push((year, YearWitness::Failed(e.to_string())));
                continue;
            }
        };
        let (verdict, verified) = match check(
            hub_key,
            &key.public(),
            year,
            held.as_ref(),
            &answer.checkpoint,
            &answer.consistency,
        ) {
            Ok(v) => v,
            Err(e) => {
                out.push((year, YearWitness::Failed(e.to_string())));
                continue;
            }
        };
        if let Verdict::Inconsistent(reason) = verdict {
            let held = held.expect("only a stored checkpoint can be contradicted");
            let proof: Vec<String> = answer.consistency.iter().map(hex::encode).collect();
            let evidence = store.record_log_evidence(
                &NewLogEvidence {
                    year,
                    held: &held.checkpoint,
                    presented: &answer.checkpoint.to_string(),
                    proof: &proof,
                    reason: &reason,
                },
                at,
            )?;
            out.push((year, YearWitness::Inconsistent { reason, evidence }));
            continue;
        }
        let size = verified.checkpoint.size;
        let mut note = answer.checkpoint.clone();
        let own = witness_verifier(&key.public());
        let cosigned_before = verified.cosignatures.iter().any(|(v, _)| *v == own);
        if !cosigned_before {
            match cosign(
                note.text(),
                &witness_name(&key.key_id()),
                key,
                hub.hub_now(now()),
            ) {
                Ok(sig) => {
                    if let Err(e) = note.add_signature(sig) {
                        out.push((year, YearWitness::Failed(e.to_string())));
                        continue;
                    }
                }
                Err(e) => {
                    out.push((year, YearWitness::Failed(e.to_string())));
                    continue;
                }
            }
        }
        store.record_witnessed(&Witnessed {
            year,
            size,
            root: verified.checkpoint.root,
            checkpoint: note.to_string(),
            checked_at: at.to_owned(),
        })?;
        let cosignatures = match hub
            .add_cosignature(AddCosignatureRequest { checkpoint: note }, now)
            .await
        {
            Ok(r) => r.cosignatures,
            Err(e) => {
                out.push((
                    year,
                    YearWitness::Failed(format!(
                        "日志一致，已记录；副署未能送达汇总中心，下次同步重发（consistent and stored; the cosignature was not delivered, sent again next sync）：{e}"
                    )),
                ));
                continue;
            }
        };
        out.push((
            year,
            YearWitness::Cosigned {
                verdict,
                size,
                cosignatures,
            },
        ));
    }
    Ok(out)
}

/// Why delivery is stopped: the years with unresolved evidence, in
/// Chinese, or `None`.
pub fn delivery_stopped(store: &Store) -> Result<Option<String>, StoreError> {
    let open = store.open_log_evidence()?;
    if open.is_empty() {
        return Ok(None);
    }
    let mut years: Vec<u16> = open.iter().map(|e| e.year).collect();
    years.dedup();
    let years = years
        .iter()
        .map(|y| format!("{y} 年"))
        .collect::<Vec<_>>()
        .join("、");
    Ok(Some(format!(
        "汇总中心的{years}透明日志与本节点见证的不一致（历史被改写或分叉），两份签名检查点已作为证据保存；本节点停止送达，直至县依法治县办核查后运行 `kaohe node witness --resolve --year <年度> --reason <处理意见>`（the hub's log is inconsistent with what this node witnessed: evidence kept, delivery stopped until an official resolves it）"
    )))
}

/// How many witnesses besides the hub signed a stored checkpoint (its
/// signatures less the hub's own), as `node status` and the console show.
pub fn cosigners(note: &str) -> usize {
    SignedNote::parse(note.as_bytes())
        .map(|n| n.signatures().len().saturating_sub(1))
        .unwrap_or(0)
}

/// A signed checkpoint kept as evidence, as people compare two of them:
/// `12 条记录，根哈希 ab…`.
pub fn describe_checkpoint(note: &str) -> String {
    SignedNote::parse(note.as_bytes())
        .ok()
        .and_then(|n| checkpoint::Checkpoint::parse(n.text()).ok())
        .map_or("无法解析".to_owned(), |c| {
            format!("{} 条记录，根哈希 {}", c.size, hex::encode(c.root))
        })
}

/// The checkpoint an official adopts when resolving `year`: the one the
/// hub last presented in the year's open evidence.
pub fn adoptable(
    store: &Store,
    year: u16,
    hub: &PublicKey,
    own: &PublicKey,
    at: &str,
) -> Result<Option<Witnessed>, StoreError> {
    let Some(last) = store
        .open_log_evidence()?
        .into_iter()
        .filter(|e| e.year == year)
        .max_by_key(|e| e.id)
    else {
        return Ok(None);
    };
    let verified = checkpoint::open(
        last.presented.as_bytes(),
        &log_verifier(hub, year),
        &[witness_verifier(own)],
    )
    .map_err(|e| StoreError::Corrupt(format!("log_evidence {}: {e}", last.id)))?;
    Ok(Some(Witnessed {
        year,
        size: verified.checkpoint.size,
        root: verified.checkpoint.root,
        checkpoint: last.presented,
        checked_at: at.to_owned(),
    }))
}

#[cfg(test)]
mod tests;
