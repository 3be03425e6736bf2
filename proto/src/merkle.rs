//! Merkle tree hashes and inclusion proofs exactly as RFC 9162 §2.1: leaf
//! hash `SHA-256(0x00 || leaf)`, interior node `SHA-256(0x01 || left ||
//! right)`, and a tree of `n > 1` leaves split at the largest power of two
//! smaller than `n`.

use sha2::{Digest as _, Sha256};

/// A SHA-256 tree hash.
pub type Hash = [u8; 32];

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
        Sha256::digest([]).into()
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
    let k = split(leaves.len());
    let (left_paths, right_paths) = paths.split_at_mut(k);
    let left = subtree(&leaves[..k], left_paths);
    let right = subtree(&leaves[k..], right_paths);
    left_paths.iter_mut().for_each(|p| p.push(right));
    right_paths.iter_mut().for_each(|p| p.push(left));
    node_hash(&left, &right)
}

/// The largest power of two smaller than `n` (n > 1).
fn split(n: usize) -> usize {
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
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
        let expect = [(2, 1), (3, 2), (4, 2), (5, 4), (8, 4), (9, 8), (17, 16)];
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
