//! The year's transparency log: its formats and proofs, pure (no IO, no
//! clock). The hub appends every accepted submission to one log per
//! assessment year and signs checkpoints of it; nodes cosign the
//! checkpoints they have checked to be consistent with the last one they
//! saw; anyone holding a proof bundle checks it offline.
//!
//! The formats are the transparency ecosystem's, so that their published
//! test vectors (and their tools) apply: RFC 9162 §2.1 trees and proofs,
//! C2SP `signed-note`, `tlog-checkpoint`, `tlog-cosignature`
//! (cosignature/v1, Ed25519) and `tlog-proof`. Keys are kaohe's Ed25519
//! keys ([`crate::keys`]), and every signature check is `verify_strict`.
//!
//! Own code rather than a crate: `signed_note`, `tlog_tiles` (Cloudflare
//! azul) and `sigsum` build on ed25519-dalek 2 and sha2 0.10, a second
//! crypto stack beside the workspace's ed25519-dalek 3 / sha2 0.11;
//! `ct-merkle` matches our stack but keeps its whole tree in memory or
//! addresses nodes that change as the tree grows, where the hub needs
//! append-only rows. It serves as an independent oracle in the tests.
//!
//! # Layout
//!
//! - [`tree`] — the log as stored complete subtrees: [`tree::append_hashes`],
//!   [`tree::tree_hash`], [`tree::inclusion_proof`],
//!   [`tree::consistency_proof`] over a [`tree::HashReader`];
//!   [`tree::MemoryTree`]. Verification is in [`crate::merkle`].
//! - [`note`] — signed notes: [`note::SignedNote`], [`note::KeyName`],
//!   parsed strictly and signed with Ed25519.
//! - [`verifier`] — trusted keys: [`verifier::NoteVerifier`] and its
//!   verifier-key text form; [`verifier::open`] → [`verifier::VerifiedNote`].
//! - [`checkpoint`] — [`checkpoint::Checkpoint`] (origin, size, root), signed
//!   by the log; [`checkpoint::open`] → [`checkpoint::VerifiedCheckpoint`].
//! - [`cosignature`] — witnesses' timestamped cosignatures:
//!   [`cosignature::cosign`].
//! - [`proof`] — [`proof::TlogProof`], the offline proof bundle.
//! - [`leaf`] — kaohe's leaves ([`leaf::Leaf`]: submission, audit record,
//!   rollover), one canonical encoding each; the names of the keys that
//!   sign a year's checkpoints ([`leaf::log_origin`],
//!   [`leaf::witness_name`]).

pub mod checkpoint;
pub mod cosignature;
pub mod leaf;
pub mod note;
pub mod proof;
pub mod tree;
pub mod verifier;
