use super::*;

/// RFC 9162 MTH, written as the RFC defines it (recursively, from the
/// raw leaves), to check the one-pass builder against.
fn mth(d: &[Vec<u8>]) -> Hash {
    match d.len() {
        0 => Sha256::digest([]).into(),
        1 => leaf_hash(&d[0]),
        n => {
            let k = (1..n)
                .map(|i| 1 << i)
                .take_while(|&p| p < n)
                .last()
                .unwrap_or(1);
            node_hash(&mth(&d[..k]), &mth(&d[k..]))
        }
    }
}

/// RFC 9162 PATH(m, D[n]).
fn rfc_path(m: usize, d: &[Vec<u8>]) -> Vec<Hash> {
    let n = d.len();
    if n <= 1 {
        return Vec::new();
    }
    let k = (1..n)
        .map(|i| 1 << i)
        .take_while(|&p| p < n)
        .last()
        .unwrap_or(1);
    if m < k {
        let mut p = rfc_path(m, &d[..k]);
        p.push(mth(&d[k..]));
        p
    } else {
        let mut p = rfc_path(m - k, &d[k..]);
        p.push(mth(&d[..k]));
        p
    }
}

fn data(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| format!("leaf {i}").into_bytes()).collect()
}

#[test]
fn split_is_largest_power_of_two_below() {
    let expect = [
        (2, 1),
        (3, 2),
        (4, 2),
        (5, 4),
        (8, 4),
        (9, 8),
        (17, 16),
        (u64::MAX, 1 << 63),
    ];
    for (n, k) in expect {
        assert_eq!(split(n), k, "n = {n}");
    }
}

#[test]
fn matches_the_rfc_definitions_for_sizes_1_to_33() {
    for n in 1..=33 {
        let d = data(n);
        let leaves: Vec<Hash> = d.iter().map(|l| leaf_hash(l)).collect();
        let (root, paths) = root_and_paths(&leaves);
        assert_eq!(root, mth(&d), "n = {n}");
        for m in 0..n {
            assert_eq!(paths[m], rfc_path(m, &d), "n = {n}, m = {m}");
            assert_eq!(
                verify_inclusion(&leaves[m], m as u64, n as u64, &paths[m], &root),
                Ok(())
            );
        }
    }
}

#[test]
fn a_single_leaf_tree_is_its_leaf_hash() {
    let leaf = leaf_hash(b"only");
    let (root, paths) = root_and_paths(&[leaf]);
    assert_eq!(root, leaf);
    assert_eq!(paths, vec![Vec::<Hash>::new()]);
    assert_eq!(root_and_paths(&[]).0, <Hash>::from(Sha256::digest([])));
}

#[test]
fn known_answer_for_two_leaves() {
    // Independent of the builder: the RFC formula by hand.
    let (a, b) = (leaf_hash(b"a"), leaf_hash(b"b"));
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(a);
    h.update(b);
    let expect: Hash = h.finalize().into();
    assert_eq!(root_and_paths(&[a, b]).0, expect);
    assert_eq!(
        hex::encode(leaf_hash(b"")),
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    );
}

#[test]
fn wrong_index_size_or_path_fails() {
    let leaves: Vec<Hash> = data(7).iter().map(|l| leaf_hash(l)).collect();
    let (root, paths) = root_and_paths(&leaves);
    assert_eq!(
        verify_inclusion(&leaves[3], 7, 7, &paths[3], &root),
        Err(InclusionError::IndexOutOfRange { index: 7, size: 7 })
    );
    assert!(verify_inclusion(&leaves[3], 2, 7, &paths[3], &root).is_err());
    // The size shapes the path: the last leaf of 7 is not where it would
    // sit in a tree of 8. (Leaf 3 of 7 would verify as leaf 3 of 8: the
    // left subtree is the same; that is why the size is in the signed head.)
    assert!(verify_inclusion(&leaves[6], 6, 8, &paths[6], &root).is_err());
    assert!(verify_inclusion(&leaves[6], 6, 6, &paths[6], &root).is_err());
    let mut long = paths[3].clone();
    long.push(root);
    assert_eq!(
        verify_inclusion(&leaves[3], 3, 7, &long, &root),
        Err(InclusionError::PathTooLong)
    );
    assert_eq!(
        verify_inclusion(&leaves[3], 3, 7, &paths[3][..1], &root),
        Err(InclusionError::PathTooShort)
    );
    assert_eq!(
        verify_inclusion(&leaves[3], 3, 7, &paths[4], &root),
        Err(InclusionError::RootMismatch)
    );
}
