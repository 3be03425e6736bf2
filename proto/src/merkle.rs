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
mod tests;

/// The published RFC 6962 / RFC 9162 proof vectors: the 8-leaf tree of RFC
/// 6962 §2.1.3, its roots at every size, and inclusion and consistency
/// proofs in it. Copied from transparency-dev/merkle `proof/verify_test.go`
/// (the same vectors as certificate-transparency-go's `merkletree` tests).
#[cfg(test)]
pub(crate) mod vectors;

#[cfg(test)]
mod vector_tests;
