//! The single writer thread: it owns the [`Committer`], takes the jobs the
//! services queue, commits what is queued as one batch, answers each, and
//! stores the signed heads when idle.

use std::sync::{Arc, PoisonError, RwLock};

use kaohe_proto::model::SubmitOutcome;
use tokio::sync::{mpsc, oneshot};

use crate::ingest::snapshot::ReplayView;
use crate::ingest::store::StoredReceipt;
use crate::ingest::{Candidate, Committer, NodeDirectory};

/// The writer's answer to a chunk: its outcomes, or why nothing committed.
pub(super) type CommitReply = oneshot::Sender<Result<Vec<SubmitOutcome>, String>>;

pub(super) enum Job {
    Commit {
        candidates: Vec<Candidate>,
        reply: CommitReply,
    },
    Receipt {
        digest: kaohe_proto::Digest,
        reply: oneshot::Sender<Result<Option<StoredReceipt>, String>>,
    },
    /// The hub is stopping: take nothing new, finish what is queued. (Not
    /// waiting for every sender to go: an idle connection the server has not
    /// dropped yet still holds one.)
    Stop,
}

/// What the writer publishes after each batch for the verify workers.
pub(super) struct Published {
    pub nodes: Arc<RwLock<Arc<NodeDirectory>>>,
    pub replay: Arc<RwLock<Arc<ReplayView>>>,
}

/// The writer thread: takes what is queued (up to `max_batch` envelopes)
/// into one transaction, answers, and stores signed heads when idle.
pub(super) fn writer_loop(
    committer: &mut Committer,
    mut rx: mpsc::Receiver<Job>,
    published: &Published,
    max_batch: usize,
) {
    while let Some(first) = rx.blocking_recv() {
        let mut commits: Vec<(usize, CommitReply)> = Vec::new();
        let mut lookups = Vec::new();
        let mut batch: Vec<Candidate> = Vec::new();
        let mut next = Some(first);
        while let Some(job) = next.take() {
            match job {
                Job::Commit { candidates, reply } => {
                    commits.push((candidates.len(), reply));
                    batch.extend(candidates);
                }
                Job::Receipt { digest, reply } => lookups.push((digest, reply)),
                Job::Stop => rx.close(),
            }
            if batch.len() < max_batch {
                next = rx.try_recv().ok();
            }
        }
        if !commits.is_empty() {
            match committer.commit(batch) {
                Ok(outcomes) => {
                    let mut outcomes = outcomes.into_iter();
                    for (n, reply) in commits {
                        let _ = reply.send(Ok(outcomes.by_ref().take(n).collect()));
                    }
                }
                Err(e) => {
                    tracing::error!("{e}");
                    for (_, reply) in commits {
                        let _ = reply.send(Err(e.to_string()));
                    }
                }
            }
            *published
                .nodes
                .write()
                .unwrap_or_else(PoisonError::into_inner) = committer.nodes();
            *published
                .replay
                .write()
                .unwrap_or_else(PoisonError::into_inner) = committer.replay_view();
        }
        // After the commit: a lookup queued behind a submission sees it.
        for (digest, reply) in lookups {
            let _ = reply.send(committer.receipt(&digest).map_err(|e| e.to_string()));
        }
        if rx.is_empty()
            && let Err(e) = committer.flush_heads()
        {
            tracing::warn!("{e}");
        }
    }
    if let Err(e) = committer.flush_heads() {
        tracing::warn!("{e}");
    }
}
