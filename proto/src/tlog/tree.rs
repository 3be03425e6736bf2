//! The append-only log tree: RFC 9162 roots, inclusion and consistency
//! proofs computed from stored hashes of *complete* subtrees.
//!
//! A complete subtree ([`NodeId`]) is addressed by its level and index: the
//! `2^level` leaves from `index · 2^level`. Once complete its hash never
//! changes, so a store only ever inserts (the hub keeps them in SQLite).
//! Every function here first works out which complete subtrees it needs
//! (O(log n) of them), reads them in one [`HashReader::read_hashes`] call,
//! and folds them; incomplete subtrees on the right edge are rebuilt from
//! their complete parts and never stored.
//!
//! - [`append_hashes`]: the subtrees a new leaf completes, to persist.
//! - [`tree_hash`], [`inclusion_proof`], [`consistency_proof`]: read-only.
//! - [`MemoryTree`]: an in-memory store, for tests and offline tools.
//!
//! Proofs are checked by [`crate::merkle::verify_inclusion`] and
//! [`crate::merkle::verify_consistency`].

use crate::merkle::{self, Hash, node_hash, split};

/// A complete subtree: the `2^level` leaves from `index · 2^level`. Level 0
/// is a leaf hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    /// Height above the leaves, 0–63.
    pub level: u8,
    /// Position among the subtrees of that level, from the left.
    pub index: u64,
}

/// Read access to the stored hashes of complete subtrees.
pub trait HashReader {
    /// Why a read failed (the store's own error).
    type Error: std::error::Error + 'static;

    /// The hashes of `ids`, in the same order. Every id asked for is a
    /// subtree complete in a tree the caller said the store holds.
    fn read_hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, Self::Error>;
}

/// Why a tree hash or proof could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum TreeError<E: std::error::Error + 'static> {
    /// The leaf index is not below the tree size.
    #[error(
        "叶序号 {index} 不小于树大小 {size}（leaf index {index} is not below tree size {size}）"
    )]
    IndexOutOfRange {
        /// The leaf index asked for.
        index: u64,
        /// The tree size.
        size: u64,
    },
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
    /// The tree holds `u64::MAX` leaves and takes no more.
    #[error("日志树已满（the log tree is full）")]
    Full,
    /// The store failed.
    #[error("读取日志树哈希失败（reading the log tree's hashes failed）: {0}")]
    Read(#[source] E),
    /// The store answered with another number of hashes than asked for.
    #[error(
        "日志树存储返回 {got} 个哈希，应为 {wanted} 个（the hash store returned {got} hashes, {wanted} were asked for）"
    )]
    WrongCount {
        /// Hashes asked for.
        wanted: usize,
        /// Hashes returned.
        got: usize,
    },
}

/// The complete subtrees that appending `leaf` (a leaf hash) as leaf number
/// `size` creates: the leaf itself, then each parent it completes, lowest
/// first. The store must hold the tree of `size` leaves; persisting the
/// returned hashes makes it hold the tree of `size + 1`.
pub fn append_hashes<R: HashReader>(
    size: u64,
    leaf: Hash,
    reader: &R,
) -> Result<Vec<(NodeId, Hash)>, TreeError<R::Error>> {
    if size == u64::MAX {
        return Err(TreeError::Full);
    }
    // The new leaf is a right child exactly as many levels up as `size` has
    // trailing one bits; the left siblings there are complete already.
    let completes = size.trailing_ones() as u8;
    let siblings: Vec<NodeId> = (0..completes)
        .map(|level| NodeId {
            level,
            index: (size >> level) - 1,
        })
        .collect();
    let left = read(reader, &siblings)?;
    let mut out = Vec::with_capacity(1 + left.len());
    let mut hash = leaf;
    out.push((
        NodeId {
            level: 0,
            index: size,
        },
        hash,
    ));
    for (level, sibling) in (1..).zip(&left) {
        hash = node_hash(sibling, &hash);
        out.push((
            NodeId {
                level,
                index: size >> level,
            },
            hash,
        ));
    }
    Ok(out)
}

/// RFC 9162 `MTH` of the first `size` leaves.
pub fn tree_hash<R: HashReader>(size: u64, reader: &R) -> Result<Hash, TreeError<R::Error>> {
    if size == 0 {
        return Ok(merkle::empty_tree_hash());
    }
    let mut hashes = read_ranges(reader, &[(0, size)])?;
    Ok(hashes.remove(0))
}

/// RFC 9162 §2.1.3.1 `PATH(index, D[size])`: the inclusion proof of leaf
/// `index` in the tree of `size` leaves, from the leaf's sibling up.
pub fn inclusion_proof<R: HashReader>(
    index: u64,
    size: u64,
    reader: &R,
) -> Result<Vec<Hash>, TreeError<R::Error>> {
    if index >= size {
        return Err(TreeError::IndexOutOfRange { index, size });
    }
    // Walk down from the root; each sibling range is recorded top-down and
    // the RFC orders the path bottom-up.
    let mut ranges = Vec::new();
    let (mut lo, mut hi) = (0, size);
    while hi - lo > 1 {
        let mid = lo + split(hi - lo);
        if index < mid {
            ranges.push((mid, hi));
            hi = mid;
        } else {
            ranges.push((lo, mid));
            lo = mid;
        }
    }
    ranges.reverse();
    read_ranges(reader, &ranges)
}

/// RFC 9162 §2.1.4.1 `PROOF(old, D[new])`: the proof that the tree of `old`
/// leaves is a prefix of the tree of `new` leaves. Empty when `old` is 0 or
/// equals `new`.
pub fn consistency_proof<R: HashReader>(
    old: u64,
    new: u64,
    reader: &R,
) -> Result<Vec<Hash>, TreeError<R::Error>> {
    if old > new {
        return Err(TreeError::SizesOutOfOrder { old, new });
    }
    if old == 0 || old == new {
        return Ok(Vec::new());
    }
    // SUBPROOF(m, D[lo:hi], b), unrolled; like the inclusion path, ranges
    // are found top-down and the RFC lists them bottom-up.
    let mut ranges = Vec::new();
    let (mut m, mut lo, mut hi, mut whole_old_tree) = (old, 0, new, true);
    while m != hi - lo {
        let k = split(hi - lo);
        if m <= k {
            ranges.push((lo + k, hi));
            hi = lo + k;
        } else {
            ranges.push((lo, lo + k));
            m -= k;
            lo += k;
            whole_old_tree = false;
        }
    }
    // The old tree itself is not repeated when it is a subtree of the new.
    if !whole_old_tree {
        ranges.push((lo, hi));
    }
    ranges.reverse();
    read_ranges(reader, &ranges)
}

/// `MTH(D[lo:hi])` of each range, reading all their complete subtrees in one
/// call. Every range comes from the RFC's recursion, so `lo` is aligned to
/// the largest power of two in `hi - lo` and the range is a run of complete
/// subtrees, largest first.
fn read_ranges<R: HashReader>(
    reader: &R,
    ranges: &[(u64, u64)],
) -> Result<Vec<Hash>, TreeError<R::Error>> {
    let mut ids = Vec::new();
    let mut counts = Vec::with_capacity(ranges.len());
    for &(lo, hi) in ranges {
        let before = ids.len();
        let mut pos = lo;
        for level in (0..64u8).rev() {
            if ((hi - lo) >> level) & 1 == 1 {
                debug_assert_eq!(pos % (1 << level), 0, "range [{lo}, {hi}) is not aligned");
                ids.push(NodeId {
                    level,
                    index: pos >> level,
                });
                pos += 1 << level;
            }
        }
        counts.push(ids.len() - before);
    }
    let hashes = read(reader, &ids)?;
    let mut parts = hashes.as_slice();
    let mut out = Vec::with_capacity(ranges.len());
    for count in counts {
        let (range, rest) = parts.split_at(count);
        parts = rest;
        // MTH splits off the largest complete subtree on the left, so the
        // run folds from the right.
        let (last, init) = range.split_last().expect("a non-empty range has a subtree");
        out.push(init.iter().rev().fold(*last, |acc, h| node_hash(h, &acc)));
    }
    Ok(out)
}

fn read<R: HashReader>(reader: &R, ids: &[NodeId]) -> Result<Vec<Hash>, TreeError<R::Error>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let hashes = reader.read_hashes(ids).map_err(TreeError::Read)?;
    if hashes.len() != ids.len() {
        return Err(TreeError::WrongCount {
            wanted: ids.len(),
            got: hashes.len(),
        });
    }
    Ok(hashes)
}

/// A subtree the store does not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "日志树缺少子树（层 {}，序号 {}）（the log tree has no subtree at level {}, index {}）",
    .0.level, .0.index, .0.level, .0.index
)]
pub struct MissingNode(pub NodeId);

/// A log tree held in memory: every complete subtree, level by level.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryTree {
    /// `levels[l][i]` is the hash of subtree (l, i).
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    /// An empty tree.
    pub fn new() -> MemoryTree {
        MemoryTree::default()
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// Appends a leaf hash; returns the subtrees it completed (what a
    /// persistent store would insert).
    pub fn append(&mut self, leaf: Hash) -> Result<Vec<(NodeId, Hash)>, TreeError<MissingNode>> {
        let created = append_hashes(self.size(), leaf, self)?;
        for &(id, hash) in &created {
            let level = usize::from(id.level);
            if self.levels.len() <= level {
                self.levels.resize_with(level + 1, Vec::new);
            }
            // Subtrees complete left to right, so each is the next of its level.
            debug_assert_eq!(self.levels[level].len() as u64, id.index);
            self.levels[level].push(hash);
        }
        Ok(created)
    }

    /// The root of the first `size` leaves.
    pub fn root_at(&self, size: u64) -> Result<Hash, TreeError<MissingNode>> {
        self.check_size(size)?;
        tree_hash(size, self)
    }

    /// The root of the whole tree.
    pub fn root(&self) -> Hash {
        // The whole tree's subtrees are all held.
        self.root_at(self.size())
            .expect("every complete subtree of the tree is held")
    }

    /// Inclusion proof of leaf `index` in the tree of its first `size` leaves.
    pub fn inclusion_proof(
        &self,
        index: u64,
        size: u64,
    ) -> Result<Vec<Hash>, TreeError<MissingNode>> {
        self.check_size(size)?;
        inclusion_proof(index, size, self)
    }

    /// Consistency proof from the tree of its first `old` leaves to the tree
    /// of its first `new` leaves.
    pub fn consistency_proof(
        &self,
        old: u64,
        new: u64,
    ) -> Result<Vec<Hash>, TreeError<MissingNode>> {
        self.check_size(new)?;
        consistency_proof(old, new, self)
    }

    fn check_size(&self, size: u64) -> Result<(), TreeError<MissingNode>> {
        if size > self.size() {
            // Named as the missing last leaf, which is what is absent.
            return Err(TreeError::Read(MissingNode(NodeId {
                level: 0,
                index: size - 1,
            })));
        }
        Ok(())
    }
}

impl HashReader for MemoryTree {
    type Error = MissingNode;

    fn read_hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, MissingNode> {
        ids.iter()
            .map(|&id| {
                usize::try_from(id.index)
                    .ok()
                    .and_then(|i| self.levels.get(usize::from(id.level))?.get(i))
                    .copied()
                    .ok_or(MissingNode(id))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::vectors::{self, h, path};
    use crate::merkle::{leaf_hash, verify_consistency, verify_inclusion};
    use proptest::prelude::*;
    use sha2::Sha256;

    /// RFC 9162 `MTH(D[n])` as the RFC writes it, recursively from raw
    /// leaves: the naive recomputation every stored-hash answer is held to.
    fn mth(d: &[Vec<u8>]) -> Hash {
        match d.len() {
            0 => merkle::empty_tree_hash(),
            1 => leaf_hash(&d[0]),
            n => {
                let k = split(n as u64) as usize;
                node_hash(&mth(&d[..k]), &mth(&d[k..]))
            }
        }
    }

    fn tree_of(leaves: &[Vec<u8>]) -> MemoryTree {
        let mut tree = MemoryTree::new();
        for l in leaves {
            tree.append(leaf_hash(l)).unwrap();
        }
        tree
    }

    fn vector_tree() -> MemoryTree {
        let mut tree = MemoryTree::new();
        for l in vectors::leaf_hashes(8) {
            tree.append(l).unwrap();
        }
        tree
    }

    #[test]
    fn roots_at_every_size_are_the_published_ones() {
        let tree = vector_tree();
        assert_eq!(tree.root_at(0).unwrap(), merkle::empty_tree_hash());
        for n in 1..=8u64 {
            assert_eq!(
                tree.root_at(n).unwrap(),
                h(vectors::ROOTS[n as usize - 1]),
                "n = {n}"
            );
        }
        assert_eq!(tree.root(), h(vectors::ROOTS[7]));
    }

    #[test]
    fn generated_proofs_are_the_published_ones() {
        let tree = vector_tree();
        for &(index, size, hexes) in vectors::INCLUSION {
            assert_eq!(
                tree.inclusion_proof(index, size).unwrap(),
                path(hexes),
                "{index} of {size}"
            );
        }
        for &(old, new, hexes) in vectors::CONSISTENCY {
            assert_eq!(
                tree.consistency_proof(old, new).unwrap(),
                path(hexes),
                "{old} -> {new}"
            );
        }
    }

    #[test]
    fn append_creates_exactly_the_completed_subtrees() {
        let mut tree = MemoryTree::new();
        let mut ids = |leaf: u8| -> Vec<NodeId> {
            tree.append(leaf_hash(&[leaf]))
                .unwrap()
                .into_iter()
                .map(|(id, _)| id)
                .collect()
        };
        let n = |level, index| NodeId { level, index };
        assert_eq!(ids(0), [n(0, 0)]);
        assert_eq!(ids(1), [n(0, 1), n(1, 0)]);
        assert_eq!(ids(2), [n(0, 2)]);
        assert_eq!(ids(3), [n(0, 3), n(1, 1), n(2, 0)]);
        assert_eq!(ids(4), [n(0, 4)]);
        assert_eq!(ids(5), [n(0, 5), n(1, 2)]);
        assert_eq!(ids(6), [n(0, 6)]);
        assert_eq!(ids(7), [n(0, 7), n(1, 3), n(2, 1), n(3, 0)]);
    }

    /// A store that counts its reads, to hold proof generation to O(log n).
    struct Counting<'a>(&'a MemoryTree, std::cell::Cell<(usize, usize)>);

    impl HashReader for Counting<'_> {
        type Error = MissingNode;
        fn read_hashes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, MissingNode> {
            let (calls, hashes) = self.1.get();
            self.1.set((calls + 1, hashes + ids.len()));
            self.0.read_hashes(ids)
        }
    }

    #[test]
    fn every_operation_is_one_read_of_logarithmically_many_hashes() {
        let tree = tree_of(
            &(0..1000u32)
                .map(|i| i.to_be_bytes().to_vec())
                .collect::<Vec<_>>(),
        );
        let reader = Counting(&tree, Default::default());
        let check = |what: &str| {
            let (calls, hashes) = reader.1.replace((0, 0));
            assert!(calls <= 1, "{what}: {calls} reads");
            // Two incomplete edges of at most 10 subtrees each, plus the path.
            assert!(hashes <= 2 * 10 + 10, "{what}: {hashes} hashes");
        };
        for size in [1, 2, 3, 511, 512, 513, 999, 1000] {
            tree_hash(size, &reader).unwrap();
            check("root");
            for index in [0, size / 3, size - 1] {
                inclusion_proof(index, size, &reader).unwrap();
                check("inclusion");
            }
            for old in [1, size / 2, size - 1] {
                consistency_proof(old, size, &reader).unwrap();
                check("consistency");
            }
            append_hashes(size, [0; 32], &reader).unwrap();
            check("append");
        }
    }

    #[test]
    fn bad_arguments_and_short_stores_are_errors() {
        let tree = vector_tree();
        assert!(matches!(
            tree.inclusion_proof(8, 8),
            Err(TreeError::IndexOutOfRange { index: 8, size: 8 })
        ));
        assert!(matches!(
            tree.consistency_proof(5, 4),
            Err(TreeError::SizesOutOfOrder { old: 5, new: 4 })
        ));
        assert!(matches!(
            tree.root_at(9),
            Err(TreeError::Read(MissingNode(NodeId { level: 0, index: 8 })))
        ));
        // A store missing what it was said to hold is a read error, never a
        // wrong hash.
        let half = MemoryTree {
            levels: vec![tree.levels[0].clone()],
        };
        let err = inclusion_proof(0, 8, &half).unwrap_err();
        assert!(matches!(
            err,
            TreeError::Read(MissingNode(NodeId { level: 1, index: 1 }))
        ));
        assert!(err.to_string().contains("level 1, index 1"), "{err}");
        assert!(matches!(
            append_hashes(u64::MAX, [0; 32], &tree),
            Err(TreeError::Full)
        ));
        assert!(consistency_proof(0, 8, &tree).unwrap().is_empty());
        assert!(consistency_proof(8, 8, &tree).unwrap().is_empty());
    }

    #[test]
    fn a_store_that_answers_short_is_caught() {
        struct Short;
        impl HashReader for Short {
            type Error = MissingNode;
            fn read_hashes(&self, _: &[NodeId]) -> Result<Vec<Hash>, MissingNode> {
                Ok(vec![[0; 32]])
            }
        }
        assert!(matches!(
            tree_hash(7, &Short),
            Err(TreeError::WrongCount { wanted: 3, got: 1 })
        ));
    }

    fn to_ct(h: &Hash) -> ct_merkle::digest::Output<Sha256> {
        (*h).into()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Random appends; every root is the naive recomputation; every
        /// inclusion and consistency proof between random sizes verifies,
        /// is the one an independent implementation (ct-merkle) generates
        /// and accepts, and fails with any bit flipped in it or in a root.
        #[test]
        fn appends_and_proofs_match_a_naive_recomputation(
            leaves in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..8), 1..80),
            picks in prop::collection::vec((any::<u64>(), any::<u64>(), any::<u64>()), 1..6),
            flip in any::<(usize, u8)>(),
        ) {
            let tree = tree_of(&leaves);
            let n = leaves.len() as u64;
            prop_assert_eq!(tree.size(), n);
            let roots: Vec<Hash> = (0..=leaves.len()).map(|m| mth(&leaves[..m])).collect();
            for m in 0..=n {
                prop_assert_eq!(tree.root_at(m).unwrap(), roots[m as usize]);
            }
            let bit = 1u8 << (flip.1 % 8);
            for (a, b, c) in picks {
                let new = 1 + a % n;
                let old = b % (new + 1);
                let index = c % new;
                let (old_root, new_root) = (roots[old as usize], roots[new as usize]);

                // Inclusion.
                let leaf = leaf_hash(&leaves[index as usize]);
                let proof = tree.inclusion_proof(index, new).unwrap();
                prop_assert_eq!(verify_inclusion(&leaf, index, new, &proof, &new_root), Ok(()));
                let ct_tree = {
                    let mut t = ct_merkle::mem_backed_tree::MemoryBackedTree::<Sha256, Vec<u8>>::new();
                    leaves[..new as usize].iter().for_each(|l| t.push(l.clone()));
                    t
                };
                let ct_proof = ct_tree.prove_inclusion(index as usize);
                prop_assert_eq!(ct_proof.as_bytes().to_vec(), proof.concat());
                let ct_root = ct_merkle::RootHash::<Sha256>::new(to_ct(&new_root), new);
                prop_assert!(ct_root
                    .verify_inclusion(&leaves[index as usize], index, &ct_proof)
                    .is_ok());
                if !proof.is_empty() {
                    let mut bad = proof.clone();
                    let i = flip.0 % bad.len();
                    bad[i][flip.0 % 32] ^= bit;
                    prop_assert!(verify_inclusion(&leaf, index, new, &bad, &new_root).is_err());
                }
                let mut bad_root = new_root;
                bad_root[flip.0 % 32] ^= bit;
                prop_assert!(verify_inclusion(&leaf, index, new, &proof, &bad_root).is_err());

                // Consistency.
                let proof = tree.consistency_proof(old, new).unwrap();
                prop_assert_eq!(verify_consistency(old, new, &old_root, &new_root, &proof), Ok(()));
                if 0 < old && old < new {
                    let ct_proof = ct_tree.prove_consistency((new - old) as usize);
                    prop_assert_eq!(ct_proof.as_bytes().to_vec(), proof.concat());
                    let ct_old = ct_merkle::RootHash::<Sha256>::new(to_ct(&old_root), old);
                    prop_assert!(ct_root.verify_consistency(&ct_old, &ct_proof).is_ok());
                }
                if !proof.is_empty() {
                    let mut bad = proof.clone();
                    let i = flip.0 % bad.len();
                    bad[i][flip.0 % 32] ^= bit;
                    prop_assert!(verify_consistency(old, new, &old_root, &new_root, &bad).is_err());
                }
                let mut bad_old = old_root;
                bad_old[flip.0 % 32] ^= bit;
                prop_assert!(verify_consistency(old, new, &bad_old, &new_root, &proof).is_err());
                // From the empty tree nothing binds the new root: its
                // signature does. Every other new root is bound.
                let mut bad_new = new_root;
                bad_new[flip.0 % 32] ^= bit;
                prop_assert_eq!(
                    verify_consistency(old, new, &old_root, &bad_new, &proof).is_ok(),
                    old == 0
                );
            }
        }
    }
}
