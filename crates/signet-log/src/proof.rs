//! Proof generation (RFC 9162 §2.1.3.1 and §2.1.4.1) over stored complete
//! nodes.
//!
//! The RFC defines the proofs recursively over `D[start:end]`, splitting at
//! the largest power of two `k < end − start`. Every range that recursion
//! visits is either
//! - a *complete* node: its length is a power of two and `start` is a
//!   multiple of it, so it is one stored node; or
//! - a *right-edge suffix* `[start, n)`: `start` is the start of one of the
//!   maximal complete subtrees of the tree of size `n` (its compact range).
//!
//! So a proof loads the compact range of `n` once (one read per set bit of
//! `n`), folds it from the right to get the hash of every suffix, and reads
//! one stored node per remaining proof element: at most 2·64 reads, and
//! about 2·log2(n) in practice, whatever the tree size.

use crate::compact::edge_nodes;
use crate::hash::{Hash, empty_root, node_hash};
use crate::{LogError, NodeSource};

/// The root of the tree of size `size` (RFC 9162 MTH), from its compact range.
pub fn root_at(size: u64, nodes: &dyn NodeSource) -> Result<Hash, LogError> {
    let tree = TreeView::load(size, nodes)?;
    Ok(tree.suffixes.first().map_or_else(empty_root, |(_, hash)| *hash))
}

/// The inclusion proof (audit path) of leaf `index` in the tree of size
/// `size`, leaf-side first (RFC 9162 §2.1.3.1, `PATH(m, D[n])`).
pub fn inclusion_proof(index: u64, size: u64, nodes: &dyn NodeSource) -> Result<Vec<Hash>, LogError> {
    if index >= size {
        return Err(LogError::IndexOutOfRange { index, size });
    }
    let tree = TreeView::load(size, nodes)?;
    let (mut start, mut end) = (0, size);
    let mut top_down = Vec::new();
    while end - start > 1 {
        let k = split(end - start);
        if index < start + k {
            // PATH(m, D[0:k]) : MTH(D[k:n])
            top_down.push(tree.hash(start + k, end)?);
            end = start + k;
        } else {
            // PATH(m − k, D[k:n]) : MTH(D[0:k])
            top_down.push(tree.hash(start, start + k)?);
            start += k;
        }
    }
    top_down.reverse();
    Ok(top_down)
}

/// The consistency proof from the tree of size `m` to the tree of size `n`
/// (RFC 9162 §2.1.4.1, `PROOF(m, D[n])`). Empty when `m` is 0 or `m == n`.
pub fn consistency_proof(m: u64, n: u64, nodes: &dyn NodeSource) -> Result<Vec<Hash>, LogError> {
    if m > n {
        return Err(LogError::SizeOrder { first: m, second: n });
    }
    if m == 0 || m == n {
        return Ok(Vec::new());
    }
    let tree = TreeView::load(n, nodes)?;
    let (mut start, mut end) = (0, n);
    // `b` of SUBPROOF: true while the range is a prefix of the old tree's root.
    let mut whole_old_root = true;
    let mut top_down = Vec::new();
    loop {
        if m - start == end - start {
            // SUBPROOF(m, D[m], b): the old tree's subtree itself, unless the
            // verifier already has it as the old root.
            if !whole_old_root {
                top_down.push(tree.hash(start, end)?);
            }
            break;
        }
        let k = split(end - start);
        if m - start <= k {
            // SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
            top_down.push(tree.hash(start + k, end)?);
            end = start + k;
        } else {
            // SUBPROOF(m − k, D[k:n], false) : MTH(D[0:k])
            top_down.push(tree.hash(start, start + k)?);
            start += k;
            whole_old_root = false;
        }
    }
    top_down.reverse();
    Ok(top_down)
}

/// The largest power of two strictly less than `len` (`len ≥ 2`).
fn split(len: u64) -> u64 {
    1 << (63 - (len - 1).leading_zeros())
}

/// A tree of size `size` seen through its stored nodes plus the hashes of its
/// right-edge suffixes.
struct TreeView<'a> {
    nodes: &'a dyn NodeSource,
    size: u64,
    /// `(start, hash of [start, size))` for each node of the compact range.
    suffixes: Vec<(u64, Hash)>,
}

impl<'a> TreeView<'a> {
    fn load(size: u64, nodes: &'a dyn NodeSource) -> Result<Self, LogError> {
        let edge =
            edge_nodes(size).map(|(level, index)| Ok((index << level, nodes.node(level, index)?))).collect::<Result<Vec<_>, LogError>>()?;
        let mut suffixes = edge;
        let mut right: Option<Hash> = None;
        for (_, hash) in suffixes.iter_mut().rev() {
            if let Some(r) = right {
                *hash = node_hash(hash, &r);
            }
            right = Some(*hash);
        }
        Ok(Self { nodes, size, suffixes })
    }

    /// MTH(D[start:end]) for a range the RFC recursion visits.
    fn hash(&self, start: u64, end: u64) -> Result<Hash, LogError> {
        let len = end - start;
        if end == self.size
            && let Some((_, hash)) = self.suffixes.iter().find(|(s, _)| *s == start)
        {
            return Ok(*hash);
        }
        if len.is_power_of_two() && start.is_multiple_of(len) && end <= self.size {
            let level = len.trailing_zeros() as u8;
            return self.nodes.node(level, start >> level);
        }
        // INVARIANT: unreachable for the ranges of the RFC recursion (see the
        // module documentation); reported rather than trusted.
        Err(LogError::NodeStore(format!(
            "internal: range [{start}, {end}) of a tree of size {} is neither complete nor a suffix",
            self.size
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_the_largest_power_of_two_below() {
        for (len, k) in [(2, 1), (3, 2), (4, 2), (5, 4), (8, 4), (9, 8), (1000, 512), (1 << 40, 1 << 39), ((1 << 63) + 1, 1 << 63)] {
            assert_eq!(split(len), k, "len {len}");
        }
    }
}
