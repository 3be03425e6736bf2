//! Merkle tree hashes and proof verification exactly as RFC 9162 §2.1: leaf
//! hash `SHA-256(0x00 || leaf)`, interior node `SHA-256(0x01 || left ||
//! right)`, and a tree of `n > 1` leaves split at the largest power of two
//! smaller than `n`.
//!
//! This is the one home of the tree's hashing and of checking proofs, for
//! the per-batch receipts ([`root_and_paths`], [`verify_inclusion`]) and for
//! the year's transparency log ([`verify_consistency`]; the log's storage and
//! proof generation are in [`crate::tlog::tree`]).

use sha2::{Digest as _, Sha256};

/// A SHA-256 tree hash.
pub type Hash = [u8; 32];

/// Longest inclusion path accepted (a tree of up to 2^64 leaves).
pub const MAX_INCLUSION_PATH: usize = 64;

/// Why an inclusion proof fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InclusionError {
    /// The leaf index is not below the tree size.
    #[error(
        "叶序号 {index} 不小于树大小 {size}（leaf index {index} is not below tree size {size}）"
    )]
    IndexOutOfRange {
        /// The leaf index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// The path has more hashes than the tree has levels for this leaf.
    #[error("包含路径过长（inclusion path is too long）")]
    PathTooLong,
    /// The path ends before the root.
    #[error("包含路径过短（inclusion path is too short）")]
    PathTooShort,
    /// The path leads to another root.
    #[error("包含路径算得的根与签名的根不符（inclusion path does not lead to the signed root）")]
    RootMismatch,
}

/// Why a consistency proof fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConsistencyError {
    /// The old tree is larger than the new one.
    #[error(
        "旧树大小 {old} 大于新树大小 {new}（old tree size {old} is larger than new tree size {new}）"
    )]
    SizesOutOfOrder {
        /// The old tree size.
        old: u64,
        /// The new tree size.
        new: u64,
    },
    /// The proof has more hashes than the two sizes call for.
    #[error("一致性证明过长（consistency proof is too long）")]
    PathTooLong,
    /// The proof ends before both roots are rebuilt.
    #[error("一致性证明过短（consistency proof is too short）")]
    PathTooShort,
    /// The proof does not rebuild the old root.
    #[error(
        "一致性证明算得的旧根与旧检查点不符（consistency proof does not lead to the old root）"
    )]
    OldRootMismatch,
    /// The proof does not rebuild the new root.
    #[error(
        "一致性证明算得的新根与新检查点不符（consistency proof does not lead to the new root）"
    )]
    NewRootMismatch,
}

/// The hash of the empty tree: SHA-256 of nothing.
pub fn empty_tree_hash() -> Hash {
    Sha256::digest([]).into()
}

/// `SHA-256(0x00 || leaf)`.
pub fn leaf_hash(leaf: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(leaf);
    h.finalize().into()
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The tree hash over `leaves` (already leaf-hashed) and every leaf's
/// inclusion path, computed in one pass: O(n log n) hashes.
/// The empty tree's hash is SHA-256 of nothing, and has no paths.
pub fn root_and_paths(leaves: &[Hash]) -> (Hash, Vec<Vec<Hash>>) {
    let mut paths = vec![Vec::new(); leaves.len()];
    let root = if leaves.is_empty() {
        empty_tree_hash()
    } else {
        subtree(leaves, &mut paths)
    };
    (root, paths)
}

/// RFC 9162 `MTH(D[n])`, appending each leaf's sibling at this level to its
/// path after the levels below, which is the RFC's `PATH(m, D[n])` order.
fn subtree(leaves: &[Hash], paths: &mut [Vec<Hash>]) -> Hash {
    if leaves.len() == 1 {
        return leaves[0];
    }
    // A slice length always fits in u64, and k < len fits back in usize.
    let k = split(leaves.len() as u64) as usize;
    let (left_paths, right_paths) = paths.split_at_mut(k);
    let left = subtree(&leaves[..k], left_paths);
    let right = subtree(&leaves[k..], right_paths);
    left_paths.iter_mut().for_each(|p| p.push(right));
    right_paths.iter_mut().for_each(|p| p.push(left));
    node_hash(&left, &right)
}

/// The largest power of two smaller than `n` (n > 1): where RFC 9162 splits
/// a tree of `n` leaves.
pub(crate) fn split(n: u64) -> u64 {
    1 << (u64::BITS - 1 - (n - 1).leading_zeros())
}

/// RFC 9162 §2.1.3.2: verifies that `leaf` is at `index` of the tree of
/// `size` leaves whose hash is `root`.
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    path: &[Hash],
    root: &Hash,
) -> Result<(), InclusionError> {
    if index >= size {
        return Err(InclusionError::IndexOutOfRange { index, size });
    }
    let (mut f_n, mut s_n) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if s_n == 0 {
            return Err(InclusionError::PathTooLong);
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(InclusionError::PathTooShort);
    }
    if r != *root {
        return Err(InclusionError::RootMismatch);
    }
    Ok(())
}

/// RFC 9162 §2.1.4.2: verifies that the tree of `old_size` leaves with hash
/// `old_root` is a prefix of the tree of `new_size` leaves with hash
/// `new_root`.
///
/// The RFC's algorithm covers `0 < old_size < new_size`. At the edges the
/// proof must be empty: equal sizes are consistent exactly when the roots
/// are equal, and the empty tree (whose root must then be SHA-256 of
/// nothing) is a prefix of every tree.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ConsistencyError> {
    if old_size > new_size {
        return Err(ConsistencyError::SizesOutOfOrder {
            old: old_size,
            new: new_size,
        });
    }
    if old_size == new_size || old_size == 0 {
        if !proof.is_empty() {
            return Err(ConsistencyError::PathTooLong);
        }
        if old_size == 0 && *old_root != empty_tree_hash() {
            return Err(ConsistencyError::OldRootMismatch);
        }
        if old_size == new_size && old_root != new_root {
            return Err(ConsistencyError::NewRootMismatch);
        }
        return Ok(());
    }
    // Step 1–2: a non-empty proof; an old tree that is a complete subtree
    // of the new one is not repeated in the proof, so it is put in front.
    let (first, rest) = if old_size.is_power_of_two() {
        (old_root, proof)
    } else {
        proof.split_first().ok_or(ConsistencyError::PathTooShort)?
    };
    // Steps 3–4.
    let (mut f_n, mut s_n) = (old_size - 1, new_size - 1);
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    // Steps 5–6.
    let (mut f_r, mut s_r) = (*first, *first);
    for c in rest {
        if s_n == 0 {
            return Err(ConsistencyError::PathTooLong);
        }
        if f_n & 1 == 1 || f_n == s_n {
            f_r = node_hash(c, &f_r);
            s_r = node_hash(c, &s_r);
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            s_r = node_hash(&s_r, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    // Step 7.
    if s_n != 0 {
        return Err(ConsistencyError::PathTooShort);
    }
    if f_r != *old_root {
        return Err(ConsistencyError::OldRootMismatch);
    }
    if s_r != *new_root {
        return Err(ConsistencyError::NewRootMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
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
}

/// The published RFC 6962 / RFC 9162 proof vectors: the 8-leaf tree of RFC
/// 6962 §2.1.3, its roots at every size, and inclusion and consistency
/// proofs in it. Copied from transparency-dev/merkle `proof/verify_test.go`
/// (the same vectors as certificate-transparency-go's `merkletree` tests).
#[cfg(test)]
pub(crate) mod vectors {
    use super::Hash;

    /// Leaf data (before leaf hashing).
    pub const LEAVES: [&str; 8] = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];

    /// `ROOTS[n - 1]` is the root of the first `n` leaves.
    pub const ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    /// (leaf index, tree size, inclusion path). The source numbers leaves
    /// from 1; these indices are 0-based.
    pub const INCLUSION: &[(u64, u64, &[&str])] = &[
        (0, 1, &[]),
        (
            0,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            8,
            &[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            3,
            &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
        ),
        (
            1,
            5,
            &[
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];

    /// (old size, new size, consistency proof).
    pub const CONSISTENCY: &[(u64, u64, &[&str])] = &[
        (1, 1, &[]),
        (
            1,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            5,
            &[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
        (
            6,
            7,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
    ];

    /// A hash from its hex text.
    pub fn h(hex_text: &str) -> Hash {
        let mut out = [0u8; 32];
        hex::decode_to_slice(hex_text, &mut out).expect("vector hash is 64 hex characters");
        out
    }

    /// A proof from its hex texts.
    pub fn path(hexes: &[&str]) -> Vec<Hash> {
        hexes.iter().map(|x| h(x)).collect()
    }

    /// The leaf hashes of the first `n` leaves.
    pub fn leaf_hashes(n: usize) -> Vec<Hash> {
        LEAVES[..n]
            .iter()
            .map(|l| super::leaf_hash(&hex::decode(l).expect("vector leaf is hex")))
            .collect()
    }
}

#[cfg(test)]
mod vector_tests {
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
}
