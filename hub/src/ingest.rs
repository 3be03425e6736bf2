//! 接收上报（ingestion）：核验、复算、提交、回执。
//!
//! Every submission passes the same stages, in this order; the first that
//! fails refuses it whole with its own [`RejectionCode`] (and so its own
//! gRPC status), a message naming the unit, indicator, field or scope, an
//! audit record (`submission.reject`), and **nothing else stored changes**:
//!
//! 1. **signature** — exactly one signature, strict Ed25519 over the bytes
//!    received, by a registered key of an active node (a revoked node is
//!    refused with the date and reason) — [`verify_envelope`];
//! 2. **payload** — decodes once, validates (`Submission::try_from`);
//! 3. **identity** — `node_id` inside is the signer, and the client
//!    certificate names the signer when mTLS is used ([`PeerIdentity`]);
//!
//!    *then, an envelope already committed (same digest) is answered with
//!    its stored receipt: submitting twice is harmless even after a newer
//!    pack or a scope change;*
//! 4. **pack** — the pack named is the current version for its (id, year);
//!    a superseded version is refused naming the current one
//!    ([`checks::check_pack`]);
//! 5. **scope** — the unit (in that year's roster), every method and the
//!    year lie in the node's delegated scope ([`checks::check_scope`]);
//!    **closed** — the unit's review window is still open: a unit notified
//!    whose review-request deadline has passed by the hub's clock at
//!    commit (Beijing date), or any unit of an approved year, is refused
//!    with [`RejectionCode::Closed`] naming the date — unless the unit has
//!    an undecided objection, which this submission may then revise
//!    ([`check_window`]);
//! 6. **replay** — the evidence inside is run through the current pack
//!    (one `kaohe_evaluate` call per batch and pack) and must reproduce
//!    every indicator score and fired clause exactly ([`replay`]);
//! 7. **commit** — supersession by the node's own sequence numbers per
//!    (unit, year, round, method): a newer one replaces (history kept), an
//!    older one arriving later is refused as stale, a reused number with
//!    other content is refused; then the batch is written in one
//!    transaction (WAL, `synchronous = FULL`), rows in key order, with
//!    lateness by the hub's clock read once inside the transaction (a
//!    correction arriving while its unit's objection is undecided is a
//!    review correction, never late).
//!    **Only after the commit** are the receipts built: one
//!    [`ReceiptBatch`](kaohe_proto::receipt::ReceiptBatch) signature per committed batch.
//!
//! Stages 1–3 are pure CPU work and run in parallel outside the writer
//! ([`Candidate::verify`]); so does stage 6, ahead, against the rosters
//! and packs the writer last published ([`replay::ahead`]). Stages 4–7 run
//! in the single writer ([`Committer`]) inside the write transaction,
//! against a registry snapshot that is reloaded whenever another
//! connection (the CLI) has committed since — so a node revoked, a pack
//! published or a roster replaced a moment ago is already in force for the
//! next batch; a verdict replayed ahead is taken only where that snapshot
//! gives the same pack, category and unit name, and replayed again in the
//! writer otherwise.
//!
//! The current packs are [`ActivePack`]s: the [`Pack`](kaohe_rulepacks::pack::Pack) loaded under its
//! stored identity, with the round deadlines of its schedule; a pack that
//! cannot be loaded is a [`PackUnavailable`] that refuses whatever names it.
//!
//! Layout: [`verify`] (stages 1–3: [`Candidate`], [`NodeDirectory`]),
//! [`snapshot`] (the registry as the writer sees it, [`ActivePack`], the
//! `ReplayView` it shares with the verifiers),
//! [`checks`] (stages 4–5 and the deadline, pure), [`replay`] (stage 6:
//! evidence → ABI input → comparison, pure apart from the sandboxed pack
//! call; `ahead` on the verify workers), [`committer`] (the single writer: stages 4–7 in one transaction,
//! then the receipts), [`store`] (the SQL of stage 7 and of receipts). This
//! file holds the [`Refusal`] every stage answers with.

pub mod checks;
pub mod committer;
pub mod replay;
pub mod snapshot;
pub mod store;
pub mod verify;

use kaohe_proto::keys::KeyId;
use kaohe_proto::model::{Rejection, RejectionCode};

pub use checks::{DeadlineError, RoundDeadlines};
pub use committer::{CommitError, Committer, check_window};
pub use snapshot::{ActivePack, PackUnavailable, RegistrySnapshot};
pub use verify::{Candidate, NodeDirectory, verify_envelope};

/// Audit action of a refused submission.
pub const ACTION_REJECT: &str = "submission.reject";

/// Why a submission is refused, with what the audit record names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Code, message and field, as the node receives them.
    pub rejection: Rejection,
    /// The signing node, once known.
    pub node: Option<KeyId>,
    /// The unit, once the payload decoded.
    pub unit: Option<String>,
}

impl Refusal {
    fn new(code: RejectionCode, message: impl Into<String>, field: Option<&str>) -> Refusal {
        Refusal {
            rejection: Rejection {
                code,
                message: message.into(),
                field: field.map(str::to_owned),
            },
            node: None,
            unit: None,
        }
    }

    fn about(mut self, node: Option<&KeyId>, unit: Option<&str>) -> Refusal {
        if self.node.is_none() {
            self.node = node.cloned();
        }
        if self.unit.is_none() {
            self.unit = unit.map(str::to_owned);
        }
        self
    }
}

impl From<Rejection> for Refusal {
    fn from(rejection: Rejection) -> Refusal {
        Refusal {
            rejection,
            node: None,
            unit: None,
        }
    }
}

/// The identity a client certificate proves (mTLS), compared with the
/// signer in stage 3.
pub trait PeerIdentity: Send + Sync {
    /// Whether the certificate is the one of `node`.
    fn is_node(&self, node: &KeyId) -> bool;
    /// How the certificate names itself, for messages.
    fn describe(&self) -> String;
}
