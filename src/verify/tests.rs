//! The log part of `kaohe verify` on a small log built here (the whole
//! path, packs and consolidation included, is run on the demo's bundles by
//! the root tests).

use kaohe_hub::tlog::bundle::{BUNDLE_FORMAT, ProvedLeaf};
use kaohe_proto::SigningKeyPair;
use kaohe_proto::tlog::checkpoint::Checkpoint;
use kaohe_proto::tlog::cosignature::cosign;
use kaohe_proto::tlog::leaf::{AuditLeaf, Leaf, log_origin, witness_name};
use kaohe_proto::tlog::tree::MemoryTree;
use serde_json::json;

use super::*;

fn hub() -> SigningKeyPair {
    SigningKeyPair::from_seed(&[51; 32])
}

fn witnesses() -> Vec<SigningKeyPair> {
    (52..55)
        .map(|s| SigningKeyPair::from_seed(&[s; 32]))
        .collect()
}

fn audit(seq: i64, action: &str, carried: Option<serde_json::Value>) -> Leaf {
    Leaf::Audit(AuditLeaf {
        seq,
        time: "2023-03-20T01:00:00Z".into(),
        operator: "wang".into(),
        action: action.into(),
        subject: "2022".into(),
        detail: json!({}),
        carried,
    })
}

/// A 2022 log of five leaves: three records, the approval (naming the
/// first three as its head), the publication; its checkpoint cosigned by
/// `cosigners` of [`witnesses`].
fn bundle(cosigners: usize) -> ProofBundle {
    let mut tree = MemoryTree::new();
    let mut leaves: Vec<Leaf> = (1..=3).map(|i| audit(i, "units.import", None)).collect();
    for l in &leaves {
        tree.append(l.hash()).unwrap();
    }
    let head = json!({"size": 3, "root": hex::encode(tree.root())});
    leaves.push(audit(
        4,
        "results.approve",
        Some(json!({"checkpoint": head})),
    ));
    leaves.push(audit(5, "results.publish", None));
    for l in &leaves[3..] {
        tree.append(l.hash()).unwrap();
    }
    let mut note = Checkpoint {
        origin: log_origin(&hub().key_id(), 2022),
        size: 5,
        root: tree.root(),
        extensions: vec![],
    }
    .sign(&hub())
    .unwrap();
    for w in witnesses().iter().take(cosigners) {
        let sig = cosign(note.text(), &witness_name(&w.key_id()), w, 1_700_000_000).unwrap();
        note.add_signature(sig).unwrap();
    }
    ProofBundle {
        format: BUNDLE_FORMAT.into(),
        year: 2022,
        unit_id: "u1".into(),
        checkpoint: note.to_string(),
        leaves: leaves
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let i = i as u64;
                ProvedLeaf::new(i, &l.to_bytes(), &tree.inclusion_proof(i, 5).unwrap()).unwrap()
            })
            .collect(),
        earlier: vec![],
        approval_consistency: tree
            .consistency_proof(3, 5)
            .unwrap()
            .iter()
            .map(hex::encode)
            .collect(),
        envelopes: vec![],
        modules: vec![],
        published: None,
    }
}

fn policy(required: usize) -> Policy {
    Policy {
        hub: hub().public(),
        authorities: TrustPolicy::new(vec![hub().public()], 1).unwrap(),
        witnesses: witnesses().iter().map(SigningKeyPair::public).collect(),
        witnesses_required: required,
    }
}

#[test]
fn a_log_part_that_holds_is_proved() {
    let proved = log::prove_log(&bundle(2), &policy(2)).unwrap();
    assert_eq!(proved.checkpoint.checkpoint.size, 5);
    assert_eq!(proved.checkpoint.cosignatures.len(), 2);
    assert_eq!((proved.approval.0.index, proved.approval.1.size), (3, 3));
    assert_eq!(proved.leaves.len(), 5);
}

#[test]
fn too_few_witnesses_or_another_hub_are_named() {
    assert!(matches!(
        log::prove_log(&bundle(1), &policy(2)),
        Err(VerifyError::TooFewWitnesses { have: 1, need: 2 })
    ));
    let mut other = policy(0);
    other.hub = SigningKeyPair::from_seed(&[9; 32]).public();
    assert!(matches!(
        log::prove_log(&bundle(0), &other),
        Err(VerifyError::Checkpoint(_))
    ));
}

#[test]
fn a_changed_reordered_or_unproved_leaf_is_named_by_its_index() {
    let mut b = bundle(0);
    b.leaves[1].body["operator"] = json!("mallory");
    match log::prove_log(&b, &policy(0)) {
        Err(VerifyError::NotIncluded {
            year: 2022,
            index: 1,
            what,
            ..
        }) => {
            assert!(what.contains("units.import"), "{what}")
        }
        other => panic!("{other:?}"),
    }
    let mut b = bundle(0);
    b.leaves.swap(0, 1);
    let (a, c) = (b.leaves[0].index, b.leaves[1].index);
    b.leaves[0].index = c;
    b.leaves[1].index = a;
    assert!(matches!(
        log::prove_log(&b, &policy(0)),
        Err(VerifyError::NotIncluded { .. })
    ));
}

#[test]
fn an_approval_whose_head_is_not_a_prefix_is_refused() {
    let mut b = bundle(0);
    b.approval_consistency[0] = hex::encode([7u8; 32]);
    assert!(matches!(
        log::prove_log(&b, &policy(0)),
        Err(VerifyError::ApprovalNotInCheckpoint {
            approved: 3,
            size: 5,
            ..
        })
    ));
}

#[test]
fn witnesses_are_written_k_of_keys() {
    let key = witnesses()[0].public().to_string();
    let (k, keys) = parse_witnesses(&["1-of".into(), key.clone()]).unwrap();
    assert_eq!((k, keys.len()), (1, 1));
    for bad in [
        vec!["2-of".to_string(), key.clone()],
        vec!["0-of".to_string(), key.clone()],
        vec!["two".to_string(), key.clone()],
        vec!["1-of".to_string(), "ed25519:nope".to_string()],
    ] {
        assert!(parse_witnesses(&bad).is_err(), "{bad:?}");
    }
    assert_eq!(parse_witnesses(&[]).unwrap().0, 0);
}
