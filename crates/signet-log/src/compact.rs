//! The appender: the compact range (right edge) of a tree.

use crate::hash::{Hash, empty_root, node_hash};
use crate::{LogError, NodeSource};

/// The right edge of a tree of size `n`: the hashes of its maximal complete
/// subtrees, one per set bit of `n`, left to right (largest first). A tree of
/// size 13 = 0b1101 has the edge `[(3, 0), (2, 2), (0, 12)]` as
/// `(level, index)`, covering leaves `[0, 8)`, `[8, 12)` and `[12, 13)`.
///
/// This is all the sequencer needs to keep in memory: appending a leaf merges
/// it with the edge's trailing nodes of equal size, exactly like a binary
/// counter increment, so a leaf costs one node hash on average, and
/// [`root`](Self::root) folds the edge from the right (at most 63 hashes).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CompactRange {
    size: u64,
    /// `hashes[j]` covers the `j`-th set bit of `size`, from the highest.
    hashes: Vec<Hash>,
}

impl CompactRange {
    /// The edge of the empty tree.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Load the edge of the tree of size `size` from stored complete nodes:
    /// one read per set bit of `size`.
    pub fn new(size: u64, nodes: &dyn NodeSource) -> Result<Self, LogError> {
        let hashes = edge_nodes(size).map(|(level, index)| nodes.node(level, index)).collect::<Result<Vec<_>, _>>()?;
        Ok(Self { size, hashes })
    }

    /// The number of leaves appended so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Append a leaf hash and return every node this completes, as
    /// `(level, index, hash)`, starting with the leaf itself at level 0. The
    /// caller persists them: they are the only nodes the proofs ever read.
    ///
    /// A tree cannot reach 2^64 − 1 leaves in practice; that size is not
    /// supported.
    pub fn append(&mut self, leaf_hash: Hash) -> Vec<(u8, u64, Hash)> {
        let mut completed = Vec::with_capacity(2);
        self.append_with(leaf_hash, |level, index, hash| completed.push((level, index, *hash)));
        completed
    }

    /// [`append`](Self::append) without the allocation: `completed` is called
    /// for every completed node, bottom-up.
    pub fn append_with(&mut self, leaf_hash: Hash, mut completed: impl FnMut(u8, u64, &Hash)) {
        let mut hash = leaf_hash;
        let mut level = 0u8;
        let mut index = self.size;
        completed(level, index, &hash);
        // A node with an odd index is a right child: its left sibling is the
        // edge's last node, and together they complete the parent.
        while index & 1 == 1 {
            let Some(left) = self.hashes.pop() else { break };
            hash = node_hash(&left, &hash);
            level += 1;
            index >>= 1;
            completed(level, index, &hash);
        }
        self.hashes.push(hash);
        self.size += 1;
    }

    /// The root of the tree (RFC 9162 MTH): the edge folded from the right.
    pub fn root(&self) -> Hash {
        let mut nodes = self.hashes.iter().rev();
        let Some(last) = nodes.next() else { return empty_root() };
        nodes.fold(*last, |right, left| node_hash(left, &right))
    }

    /// The edge as `(level, index, hash)`, left to right.
    pub fn nodes(&self) -> impl Iterator<Item = (u8, u64, Hash)> + '_ {
        edge_nodes(self.size).zip(&self.hashes).map(|((level, index), hash)| (level, index, *hash))
    }
}

/// The `(level, index)` of the maximal complete subtrees of a tree of size
/// `size`, left to right.
pub(crate) fn edge_nodes(size: u64) -> impl Iterator<Item = (u8, u64)> {
    let mut start = 0u64;
    (0..64u8).rev().filter(move |level| size >> level & 1 == 1).map(move |level| {
        let index = start >> level;
        start += 1u64 << level;
        (level, index)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MemoryTree, leaf_hash};

    #[test]
    fn edge_of_13() {
        assert_eq!(edge_nodes(13).collect::<Vec<_>>(), vec![(3, 0), (2, 2), (0, 12)]);
        assert_eq!(edge_nodes(0).count(), 0);
        assert_eq!(edge_nodes(u64::MAX).count(), 64);
    }

    #[test]
    fn append_reports_every_completed_node_once() {
        let mut range = CompactRange::empty();
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..300u64 {
            for (level, index, _) in range.append(leaf_hash(&i.to_be_bytes())) {
                assert!(seen.insert((level, index)), "({level}, {index}) reported twice");
            }
            // Every complete node of the tree of size i + 1 has been reported.
            let size = i + 1;
            let complete: usize = (0..64).map(|l| (size >> l) as usize).sum();
            assert_eq!(seen.len(), complete);
        }
    }

    #[test]
    fn loading_the_edge_equals_appending() {
        let mut tree = MemoryTree::new();
        let mut range = CompactRange::empty();
        for i in 0..200u64 {
            assert_eq!(CompactRange::new(i, &tree).unwrap(), range);
            assert_eq!(range.root(), tree.root());
            let leaf = leaf_hash(&i.to_le_bytes());
            tree.append(leaf);
            range.append(leaf);
        }
    }
}
