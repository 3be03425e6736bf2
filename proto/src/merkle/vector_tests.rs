use super::vectors::{self, h, path};
use super::*;

/// A hash other than any in the vectors.
const SOME_HASH: &str = "abacaba000000000000000000000000000000000000000000060061e00123456";

#[test]
fn batch_builder_reproduces_the_published_roots() {
    for n in 1..=8 {
        let (root, _) = root_and_paths(&vectors::leaf_hashes(n));
        assert_eq!(root, h(vectors::ROOTS[n - 1]), "n = {n}");
    }
    assert_eq!(
        hex::encode(empty_tree_hash()),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}

#[test]
fn published_inclusion_proofs_verify_and_every_corruption_fails() {
    let leaves = vectors::leaf_hashes(8);
    for &(index, size, hexes) in vectors::INCLUSION {
        let proof = path(hexes);
        let root = h(vectors::ROOTS[size as usize - 1]);
        let leaf = leaves[index as usize];
        assert_eq!(
            verify_inclusion(&leaf, index, size, &proof, &root),
            Ok(()),
            "{index} of {size}"
        );
        // The same corruptions the source's `corruptInclusionProof` probes.
        let mut probes: Vec<(u64, u64, Hash, Hash, Vec<Hash>, String)> = vec![
            (
                index.wrapping_sub(1),
                size,
                leaf,
                root,
                proof.clone(),
                "index - 1".into(),
            ),
            (
                index + 1,
                size,
                leaf,
                root,
                proof.clone(),
                "index + 1".into(),
            ),
            (
                index ^ 2,
                size,
                leaf,
                root,
                proof.clone(),
                "index ^ 2".into(),
            ),
            (
                index,
                size * 2,
                leaf,
                root,
                proof.clone(),
                "size * 2".into(),
            ),
            (
                index,
                size / 2,
                leaf,
                root,
                proof.clone(),
                "size / 2".into(),
            ),
            (
                index,
                size,
                h(SOME_HASH),
                root,
                proof.clone(),
                "wrong leaf".into(),
            ),
            (
                index,
                size,
                leaf,
                empty_tree_hash(),
                proof.clone(),
                "empty root".into(),
            ),
            (
                index,
                size,
                leaf,
                h(SOME_HASH),
                proof.clone(),
                "other root".into(),
            ),
            (
                index,
                size,
                leaf,
                root,
                [proof.clone(), vec![root]].concat(),
                "trailing root".into(),
            ),
            (
                index,
                size,
                leaf,
                root,
                [vec![root], proof.clone()].concat(),
                "preceding root".into(),
            ),
        ];
        for i in 0..proof.len() {
            let mut bad = proof.clone();
            bad[i][0] ^= 8;
            probes.push((index, size, leaf, root, bad, format!("proof[{i}] bit 3")));
        }
        if !proof.is_empty() {
            let removed = proof[..proof.len() - 1].to_vec();
            probes.push((index, size, leaf, root, removed, "removed".into()));
        }
        if proof.len() > 1 {
            let mut inserted = proof.clone();
            inserted.insert(1, h(SOME_HASH));
            probes.push((index, size, leaf, root, inserted, "inserted".into()));
        }
        for (i, s, l, r, p, what) in probes {
            assert!(
                verify_inclusion(&l, i, s, &p, &r).is_err(),
                "{index} of {size}: {what} verified"
            );
        }
    }
}

#[test]
fn published_consistency_proofs_verify_and_every_corruption_fails() {
    for &(old, new, hexes) in vectors::CONSISTENCY {
        let proof = path(hexes);
        let (r1, r2) = (
            h(vectors::ROOTS[old as usize - 1]),
            h(vectors::ROOTS[new as usize - 1]),
        );
        assert_eq!(
            verify_consistency(old, new, &r1, &r2, &proof),
            Ok(()),
            "{old} -> {new}"
        );
        if proof.is_empty() {
            continue;
        }
        // The corruptions of the source's `corruptConsistencyProof`.
        let mut probes: Vec<(u64, u64, Hash, Hash, Vec<Hash>, String)> = vec![
            (old - 1, new, r1, r2, proof.clone(), "old - 1".into()),
            (old + 1, new, r1, r2, proof.clone(), "old + 1".into()),
            (old ^ 2, new, r1, r2, proof.clone(), "old ^ 2".into()),
            (old, new * 2, r1, r2, proof.clone(), "new * 2".into()),
            (old, new / 2, r1, r2, proof.clone(), "new / 2".into()),
            (
                old,
                new,
                h(SOME_HASH),
                r2,
                proof.clone(),
                "wrong old root".into(),
            ),
            (
                old,
                new,
                r1,
                h(SOME_HASH),
                proof.clone(),
                "wrong new root".into(),
            ),
            (old, new, r2, r1, proof.clone(), "swapped roots".into()),
            (old, new, r1, r2, Vec::new(), "empty proof".into()),
            (
                old,
                new,
                r1,
                r2,
                [proof.clone(), vec![r1]].concat(),
                "trailing old root".into(),
            ),
            (
                old,
                new,
                r1,
                r2,
                [proof.clone(), vec![r2]].concat(),
                "trailing new root".into(),
            ),
            (
                old,
                new,
                r1,
                r2,
                [vec![r1], proof.clone()].concat(),
                "preceding old root".into(),
            ),
            (
                old,
                new,
                r1,
                r2,
                [vec![r2], proof.clone()].concat(),
                "preceding new root".into(),
            ),
            (
                old,
                new,
                r1,
                r2,
                [vec![proof[0]], proof.clone()].concat(),
                "preceding proof[0]".into(),
            ),
            (
                old,
                new,
                r1,
                r2,
                proof[..proof.len() - 1].to_vec(),
                "truncated".into(),
            ),
        ];
        for i in 0..proof.len() {
            let mut bad = proof.clone();
            bad[i][0] ^= 16;
            probes.push((old, new, r1, r2, bad, format!("proof[{i}] bit 4")));
        }
        for (o, n, a, b, p, what) in probes {
            assert!(
                verify_consistency(o, n, &a, &b, &p).is_err(),
                "{old} -> {new}: {what} verified"
            );
        }
    }
}

#[test]
fn consistency_edges_need_an_empty_proof() {
    let (r1, r2) = (h(vectors::ROOTS[0]), h(vectors::ROOTS[1]));
    let empty = empty_tree_hash();
    // The empty tree is a prefix of every tree, and equal sizes need equal roots.
    assert_eq!(verify_consistency(0, 0, &empty, &empty, &[]), Ok(()));
    assert_eq!(verify_consistency(0, 2, &empty, &r2, &[]), Ok(()));
    assert_eq!(verify_consistency(1, 1, &r1, &r1, &[]), Ok(()));
    assert_eq!(
        verify_consistency(0, 2, &r1, &r2, &[]),
        Err(ConsistencyError::OldRootMismatch)
    );
    assert_eq!(
        verify_consistency(1, 1, &r1, &r2, &[]),
        Err(ConsistencyError::NewRootMismatch)
    );
    assert_eq!(
        verify_consistency(1, 1, &r1, &r1, &[r1]),
        Err(ConsistencyError::PathTooLong)
    );
    assert_eq!(
        verify_consistency(0, 1, &empty, &r1, &[empty]),
        Err(ConsistencyError::PathTooLong)
    );
    assert_eq!(
        verify_consistency(2, 1, &r2, &r1, &[]),
        Err(ConsistencyError::SizesOutOfOrder { old: 2, new: 1 })
    );
    assert_eq!(
        verify_consistency(1, 2, &r1, &r2, &[]),
        Err(ConsistencyError::PathTooShort)
    );
}
