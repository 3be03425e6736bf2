use kaohe_proto::merkle;
use kaohe_proto::tlog::checkpoint::Checkpoint;
use kaohe_proto::tlog::leaf::log_origin;
use kaohe_proto::tlog::tree::MemoryTree;

use super::*;
use crate::testutil::actor;

fn hub() -> SigningKeyPair {
    SigningKeyPair::from_seed(&[41; 32])
}

fn node() -> SigningKeyPair {
    SigningKeyPair::from_seed(&[42; 32])
}

/// A log of `n` leaves named by `tag` (another tag: another history).
fn tree(n: u8, tag: u8) -> MemoryTree {
    let mut t = MemoryTree::new();
    for i in 0..n {
        let leaf = if i >= 3 { [i, tag] } else { [i, 0] };
        t.append(merkle::leaf_hash(&leaf)).unwrap();
    }
    t
}

fn signed(t: &MemoryTree, year: u16, key: &SigningKeyPair) -> SignedNote {
    Checkpoint {
        origin: log_origin(&hub().key_id(), year),
        size: t.size(),
        root: t.root(),
        extensions: vec![],
    }
    .sign(key)
    .unwrap()
}

fn held(t: &MemoryTree) -> Witnessed {
    Witnessed {
        year: 2022,
        size: t.size(),
        root: t.root(),
        checkpoint: signed(t, 2022, &hub()).to_string(),
        checked_at: "t".into(),
    }
}

fn verdict(held: Option<&Witnessed>, presented: &SignedNote, proof: &[Hash]) -> Verdict {
    check(
        &hub().public(),
        &node().public(),
        2022,
        held,
        presented,
        proof,
    )
    .unwrap()
    .0
}

#[test]
fn a_log_that_grows_consistently_is_taken() {
    let (old, new) = (tree(5, 1), tree(9, 1));
    let proof = new.consistency_proof(5, 9).unwrap();
    assert_eq!(
        verdict(None, &signed(&new, 2022, &hub()), &[]),
        Verdict::First
    );
    assert_eq!(
        verdict(Some(&held(&old)), &signed(&new, 2022, &hub()), &proof),
        Verdict::Grew { from: 5 }
    );
    assert_eq!(
        verdict(Some(&held(&new)), &signed(&new, 2022, &hub()), &[]),
        Verdict::Unchanged
    );
}

#[test]
fn a_rewritten_or_forked_log_is_an_inconsistency_naming_what_does_not_hold() {
    let held5 = held(&tree(5, 1));
    // The hub rewrote leaf 4 and grew: the proof of its new tree cannot
    // start from the held root.
    let forked = tree(9, 2);
    let proof = forked.consistency_proof(5, 9).unwrap();
    match verdict(Some(&held5), &signed(&forked, 2022, &hub()), &proof) {
        Verdict::Inconsistent(why) => assert!(why.contains("不能证明"), "{why}"),
        other => panic!("{other:?}"),
    }
    // Same size, another history.
    match verdict(Some(&held5), &signed(&tree(5, 2), 2022, &hub()), &[]) {
        Verdict::Inconsistent(why) => {
            assert!(why.contains("根哈希却与本节点已见证的不同"), "{why}")
        }
        other => panic!("{other:?}"),
    }
    // Leaves removed.
    match verdict(Some(&held5), &signed(&tree(4, 1), 2022, &hub()), &[]) {
        Verdict::Inconsistent(why) => {
            assert!(why.contains("从本节点已见证的 5 条记录变为 4 条"), "{why}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_checkpoint_the_hub_did_not_sign_for_that_year_is_not_evidence() {
    let t = tree(5, 1);
    let impostor = SigningKeyPair::from_seed(&[43; 32]);
    for note in [signed(&t, 2022, &impostor), signed(&t, 2023, &hub())] {
        let err = check(&hub().public(), &node().public(), 2022, None, &note, &[]).unwrap_err();
        assert_eq!(err.year, 2022);
    }
}

#[test]
fn evidence_stops_delivery_until_an_official_resolves_it_and_is_never_lost() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::create(&dir.path().join("node.db")).unwrap();
    assert_eq!(delivery_stopped(&store).unwrap(), None);
    let old = held(&tree(5, 1));
    store.record_witnessed(&old).unwrap();
    let presented = signed(&tree(5, 2), 2022, &hub()).to_string();
    let evidence = NewLogEvidence {
        year: 2022,
        held: &old.checkpoint,
        presented: &presented,
        proof: &[],
        reason: "同为 5 条记录，根哈希不同",
    };
    let id = store.record_log_evidence(&evidence, "t1").unwrap();
    // The same inconsistency found again is one piece of evidence.
    assert_eq!(store.record_log_evidence(&evidence, "t2").unwrap(), id);
    let why = delivery_stopped(&store).unwrap().unwrap();
    assert!(why.contains("2022 年") && why.contains("停止送达"), "{why}");

    let adopt = adoptable(&store, 2022, &hub().public(), &node().public(), "t3")
        .unwrap()
        .unwrap();
    assert_eq!((adopt.size, adopt.root), (5, tree(5, 2).root()));
    assert!(matches!(
        store.resolve_log_evidence(2022, &adopt, &actor("王"), "  "),
        Err(crate::store::ResolveError::NoReason)
    ));
    assert_eq!(
        store
            .resolve_log_evidence(2022, &adopt, &actor("王"), "汇总中心从备份恢复，已核实")
            .unwrap(),
        1
    );
    assert_eq!(delivery_stopped(&store).unwrap(), None);
    assert_eq!(
        store.witnessed(2022).unwrap().unwrap().root,
        tree(5, 2).root()
    );
    let all = store.log_evidence().unwrap();
    assert_eq!(all.len(), 1);
    let (_, by, why) = all[0].resolved.clone().unwrap();
    assert_eq!(
        (by.as_str(), why.as_str()),
        ("王", "汇总中心从备份恢复，已核实")
    );
    assert!(matches!(
        store.resolve_log_evidence(2022, &adopt, &actor("王"), "again"),
        Err(crate::store::ResolveError::NothingOpen { year: 2022 })
    ));
}
