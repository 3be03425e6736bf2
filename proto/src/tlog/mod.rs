//! The year's transparency log: formats and proofs, pure.
//!
//! - [`tree`] — the append-only RFC 9162 tree over stored complete subtrees.
pub mod tree;
