//! Signet's tamper-evident issuance log: an append-only Merkle tree with
//! RFC 9162 hashing, C2SP signed checkpoints, inclusion and consistency
//! proofs, and an export that anyone with the log's public key can verify
//! offline. Pure library: no database, network or clock.
//!
//! ```text
//!  state change ──▶ entry bytes (same DB transaction)
//!                       │  sequencer, in index order
//!                       ▼
//!   leaf_hash ──▶ CompactRange::append ──▶ completed nodes (level, index, hash) ──▶ node table
//!                       │                                                       (NodeSource)
//!                       ▼                                                            │
//!   Checkpoint{origin, size, root} ──▶ NoteSigner::sign_checkpoint ──▶ signed note   │
//!                                                                                    ▼
//!   inclusion_proof / consistency_proof / root_at  ◀── O(log n) stored nodes ────────┘
//!   verify_inclusion / verify_consistency / open_checkpoint / verify_export  (clients, offline)
//! ```
//!
//! # Hashing (RFC 9162 §2.1.1)
//!
//! `leaf_hash(e) = SHA-256(0x00 ‖ e)`, `node_hash(l, r) = SHA-256(0x01 ‖ l ‖ r)`,
//! and the root of the empty tree is `SHA-256("")`. The root of `n > 1`
//! leaves splits at `k`, the largest power of two below `n`:
//! `MTH(D[0:n]) = node_hash(MTH(D[0:k]), MTH(D[k:n]))`.
//!
//! # Node addressing
//!
//! Node `(level, index)` covers leaves `[index·2^level, (index+1)·2^level)`;
//! level 0 is the leaf hashes. Only *complete* nodes are stored, and they
//! never change once written. A tree of size `n` is described by its
//! compact range (right edge): the maximal complete subtrees, one per set
//! bit of `n` — e.g. `13 = 8 + 4 + 1` → `(3, 0)`, `(2, 2)`, `(0, 12)`.
//! [`CompactRange`] keeps that edge for the sequencer: appending a leaf is a
//! binary-counter increment that completes one node on average, returned to
//! the caller to store.
//!
//! # Proofs
//!
//! [`inclusion_proof`] and [`consistency_proof`] follow the RFC 9162
//! recursions (`PATH` and `SUBPROOF`). Every range they visit is either a
//! complete node (one read) or a suffix `[s, n)` of the right edge, whose
//! hash comes from folding the compact range of `n` (loaded once, one read
//! per set bit). A proof thus reads about `2·log2(n)` nodes, whatever `n`.
//! [`verify_inclusion`] and [`verify_consistency`] are the RFC's iterative
//! verification algorithms, written step by step.
//!
//! # Checkpoints and keys
//!
//! [`Checkpoint`] is the C2SP tlog-checkpoint body; [`NoteSigner`] signs it
//! as a C2SP signed note with Ed25519 (key name = origin);
//! [`open_checkpoint`] checks a note against a [`Verifier`] parsed from the
//! published `<name>+<key id>+<key>` string.
//!
//! # Export
//!
//! [`write_export`] and [`verify_export`]: see the [`export`] module for the
//! directory layout, the entry fields required, and how the first bad index
//! is located.

mod checkpoint;
mod compact;
mod error;
pub mod export;
mod hash;
mod node;
mod note;
mod proof;
mod verify;

pub use checkpoint::Checkpoint;
pub use compact::CompactRange;
pub use error::LogError;
pub use export::{VerifyError, VerifyReport, verify_export, write_export};
pub use hash::{Hash, empty_root, from_hex, leaf_hash, node_hash, to_hex};
pub use node::{MemoryTree, NodeSource};
pub use note::{NoteSigner, Pkcs8Der, Verifier, open_checkpoint, open_note};
pub use proof::{consistency_proof, inclusion_proof, root_at};
pub use verify::{verify_consistency, verify_inclusion};
