//! Stages 1–3, pure CPU work run in parallel outside the writer: the
//! signature by a registered, active node, the payload decoded once, the
//! signer as the payload's node (and the client certificate's).

use std::collections::HashMap;
use std::sync::Arc;

use kaohe_proto::envelope::{Digest, Envelope, EnvelopeError, KeyLookup, Limits};
use kaohe_proto::keys::{KeyId, PublicKey};
use kaohe_proto::model::{Rejection, RejectionCode};
use kaohe_proto::pb;
use kaohe_proto::submission::{
    SUBMISSION_PAYLOAD_TYPE, Submission, SubmissionError, VerifiedSubmission,
};
use rusqlite::Connection;

use super::{PeerIdentity, Refusal};
use crate::registry::StoreError;
use crate::registry::nodes::{self, NodeRecord, NodeState};

/// Every registered node by each key id it has had, revoked nodes and
/// retired keys included (a signature by either still verifies: stage 1
/// refuses a revoked node, the writer a retired key once it knows the
/// envelope is not already committed).
#[derive(Debug, Clone, Default)]
pub struct NodeDirectory {
    by_key: HashMap<KeyId, Arc<NodeRecord>>,
}

impl NodeDirectory {
    /// The directory of these nodes.
    pub fn new(list: impl IntoIterator<Item = NodeRecord>) -> NodeDirectory {
        let mut by_key = HashMap::new();
        for node in list {
            let node = Arc::new(node);
            for key in node.keys() {
                by_key.insert(key.key_id.clone(), Arc::clone(&node));
            }
        }
        NodeDirectory { by_key }
    }

    /// Loads every registered node.
    pub fn load(conn: &Connection) -> Result<NodeDirectory, StoreError> {
        Ok(NodeDirectory::new(nodes::list_nodes(conn)?))
    }

    /// The node that has (or had) the key with this id.
    pub fn get(&self, key: &KeyId) -> Option<&NodeRecord> {
        self.by_key.get(key).map(Arc::as_ref)
    }
}

impl KeyLookup for NodeDirectory {
    fn lookup(&self, id: &KeyId) -> Option<PublicKey> {
        self.get(id)
            .and_then(|n| n.key_by_id(id))
            .map(|k| k.public_key)
    }
}

/// Stages 1–3 for one envelope: strict signature by a registered, active
/// node; decode and validate once; `node_id` is the signer (and the client
/// certificate's node, if any).
pub fn verify_envelope(
    envelope: &Envelope,
    nodes: &NodeDirectory,
    peer: Option<&dyn PeerIdentity>,
) -> Result<VerifiedSubmission, Refusal> {
    let refuse = |e: &SubmissionError| Refusal {
        rejection: Rejection::from(e),
        node: None,
        unit: None,
    };
    // Stage 1: signature, key, node active.
    if envelope.signatures.len() != 1 {
        return Err(refuse(&SubmissionError::SignerCount(
            envelope.signatures.len(),
        )));
    }
    let verified = envelope
        .verify_with(SUBMISSION_PAYLOAD_TYPE, nodes, 1, &Limits::default())
        .map_err(|e| {
            let mut r = refuse(&SubmissionError::Envelope(e.clone()));
            if let EnvelopeError::UnknownKey(id) = &e {
                r.rejection.message = format!(
                    "{}；请先在汇总中心登记该节点（kaohe hub node add），或改用已登记的密钥（register the node first）",
                    r.rejection.message
                );
                r.node = Some(id.clone());
            }
            r
        })?;
    let signer = verified
        .signers
        .first()
        .cloned()
        .ok_or_else(|| refuse(&SubmissionError::SignerCount(0)))?;
    let node = nodes.get(&signer).ok_or_else(|| {
        refuse(&SubmissionError::Envelope(EnvelopeError::UnknownKey(
            signer.clone(),
        )))
    })?;
    check_active(node)?;
    // Stage 2: decode once, validate.
    let submission = Submission::decode(verified.payload).map_err(|e| {
        let mut r = refuse(&e);
        r.node = Some(signer.clone());
        r
    })?;
    // Stage 3: identity.
    let about = |r: Refusal| r.about(Some(&signer), Some(&submission.unit_id));
    if submission.node_id != signer {
        return Err(about(refuse(&SubmissionError::IdentityMismatch {
            payload: submission.node_id.clone(),
            signer: signer.clone(),
        })));
    }
    if let Some(peer) = peer
        && !peer.is_node(&signer)
    {
        return Err(about(Refusal::new(
            RejectionCode::IdentityMismatch,
            format!(
                "连接所用的客户端证书（{}）不属于签名节点 {signer}（{}）：每个节点须使用自己的证书（the client certificate is not the signing node's）",
                peer.describe(),
                node.name
            ),
            None,
        )));
    }
    Ok(VerifiedSubmission {
        submission,
        digest: verified.digest,
        node_id: signer,
    })
}

pub(super) fn check_active(node: &NodeRecord) -> Result<(), Refusal> {
    if let NodeState::Revoked { at, reason } = &node.state {
        let refusal = nodes::NodeRefusal::Revoked {
            node: node.id.clone(),
            name: node.name.clone(),
            at: *at,
            reason: reason.clone(),
        };
        return Err(Refusal {
            rejection: Rejection {
                code: RejectionCode::UnknownKey,
                message: format!("{refusal}；该节点的上报一律拒收"),
                field: Some("signatures".to_owned()),
            },
            node: Some(node.id.clone()),
            unit: None,
        });
    }
    Ok(())
}

/// A key the node no longer signs with may not submit anything new (its
/// envelopes already committed are still answered with their receipts),
/// and a key signs only the node's sequence numbers from its first one on:
/// the node's sequence continues across keys.
pub(super) fn check_key(
    node: &NodeRecord,
    signer: &KeyId,
    sub: &Submission,
) -> Result<(), Refusal> {
    let Some(key) = node.key_by_id(signer) else {
        return Ok(());
    };
    let about = |rejection: Rejection| Refusal {
        rejection,
        node: Some(node.id.clone()),
        unit: Some(sub.unit_id.clone()),
    };
    if let Some((at, reason)) = &key.retired {
        return Err(about(Rejection {
            code: RejectionCode::UnknownKey,
            message: format!(
                "节点 {}（{}）的密钥 {signer} 已于 {}更换为 {}（{reason}），旧密钥不能再上报；请在节点上改用新密钥（kaohe node rotate-key adopt）后重新提交（key retired）",
                node.name,
                node.id,
                crate::calendar::format_date_zh(crate::calendar::beijing_date(*at)),
                node.key.key_id
            ),
            field: Some("signatures".to_owned()),
        }));
    }
    if sub.sequence < key.first_sequence {
        return Err(about(Rejection {
            code: RejectionCode::Stale,
            message: format!(
                "节点 {}（{}）的新密钥 {signer} 从序号 {} 起签名，这份提交的序号 {} 已由旧密钥用过；节点须沿用原证据库（node.db）的序号继续编号（sequence below the key's first）",
                node.name, node.id, key.first_sequence, sub.sequence
            ),
            field: Some("submission.sequence".to_owned()),
        }));
    }
    Ok(())
}

/// One envelope after stages 1–3, on its way to the writer.
#[derive(Clone)]
pub struct Candidate {
    /// Position in its call (0 for `Submit`, the stream index otherwise).
    pub index: u64,
    /// SHA-256 of the PAE bytes as received.
    pub digest: Digest,
    /// The envelope, when it converted.
    pub envelope: Option<Envelope>,
    /// The outcome of stages 1–3.
    pub verified: Result<VerifiedSubmission, Refusal>,
    /// The connection's client certificate, kept for a second look.
    pub peer: Option<Arc<dyn PeerIdentity>>,
    /// Stage 6 as a verify worker ran it ahead of the writer, if it could.
    pub ahead: Option<Ahead>,
    /// The rows' encoded columns, when stages 1–3 passed here (the writer
    /// encodes them itself otherwise).
    pub encoded: Option<super::store::Encoded>,
}

/// A replay verdict reached ahead of the writer, with what it was reached
/// against: the writer uses it only when its own checks give the same
/// pack, category and unit name (the verdict is a function of those and
/// the submission alone).
#[derive(Debug, Clone)]
pub struct Ahead {
    pub pack: kaohe_proto::PackIdentity,
    pub category: String,
    pub unit_name: String,
    pub verdict: Result<(), Rejection>,
}

impl std::fmt::Debug for Candidate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Candidate")
            .field("index", &self.index)
            .field("digest", &self.digest)
            .field("verified", &self.verified.as_ref().map(|v| &v.node_id))
            .finish_non_exhaustive()
    }
}

impl Candidate {
    /// A message of a stream that is not a protobuf envelope: refused as
    /// `INVALID` in its place, named by the SHA-256 of its bytes.
    pub fn undecodable(
        index: u64,
        digest: Digest,
        reason: &str,
        peer: Option<Arc<dyn PeerIdentity>>,
    ) -> Candidate {
        Candidate {
            index,
            digest,
            envelope: None,
            verified: Err(Refusal::new(
                RejectionCode::Invalid,
                format!(
                    "数据流中第 {} 条消息不是有效的 protobuf 信封（Envelope），未作处理；其余上报照常处理。请核对发送方所用的 kaohe 版本（message {} of the stream is not a protobuf Envelope: {reason}）",
                    index + 1,
                    index
                ),
                Some("envelope"),
            )),
            peer,
            ahead: None,
            encoded: None,
        }
    }

    /// Converts a wire envelope and runs stages 1–3.
    pub fn verify(
        index: u64,
        wire: pb::Envelope,
        nodes: &NodeDirectory,
        peer: Option<Arc<dyn PeerIdentity>>,
    ) -> Candidate {
        // The digest of the bytes as received, also for an envelope that
        // does not convert (its outcome must still name it).
        let digest = Digest::of_pae(&wire.payload_type, &wire.payload);
        match Envelope::try_from(wire) {
            Ok(envelope) => {
                let verified = verify_envelope(&envelope, nodes, peer.as_deref());
                // Encoded here, on this core, not in the writer.
                let encoded = verified
                    .as_ref()
                    .ok()
                    .and_then(|v| super::store::Encoded::of(&envelope, v).ok());
                Candidate {
                    index,
                    digest,
                    envelope: Some(envelope),
                    verified,
                    peer,
                    ahead: None,
                    encoded,
                }
            }
            Err(e) => Candidate {
                index,
                digest,
                envelope: None,
                verified: Err(Refusal {
                    rejection: Rejection::from(e.within("envelope")),
                    node: None,
                    unit: None,
                }),
                peer,
                ahead: None,
                encoded: None,
            },
        }
    }
}
