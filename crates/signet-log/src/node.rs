//! Where complete subtree hashes are stored: the [`NodeSource`] port and an
//! in-memory implementation.

use crate::LogError;
use crate::compact::CompactRange;
use crate::hash::Hash;

/// Read access to the stored complete subtree hashes of a log.
///
/// Node `(level, index)` covers leaves `[index·2^level, (index+1)·2^level)`;
/// level 0 holds the leaf hashes. Only complete nodes exist: a source for a
/// tree of size `n` holds `(level, index)` exactly when
/// `(index+1)·2^level ≤ n`. They are the nodes [`CompactRange::append`]
/// returns; a stored node never changes.
pub trait NodeSource {
    /// The hash of node `(level, index)`, or [`LogError::MissingNode`].
    fn node(&self, level: u8, index: u64) -> Result<Hash, LogError>;
}

/// All complete nodes of a tree, in memory: `levels[l][i]` is node `(l, i)`.
/// For tests, offline verification and benchmarks (64 bytes per leaf).
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    levels: Vec<Vec<Hash>>,
    edge: CompactRange,
}

impl MemoryTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// A tree of the given leaf hashes, in order.
    pub fn from_leaf_hashes(leaf_hashes: impl IntoIterator<Item = Hash>) -> Self {
        let mut tree = Self::new();
        for leaf in leaf_hashes {
            tree.append(leaf);
        }
        tree
    }

    /// Append a leaf hash, storing every node it completes.
    pub fn append(&mut self, leaf_hash: Hash) {
        let levels = &mut self.levels;
        self.edge.append_with(leaf_hash, |level, _index, hash| {
            let level = usize::from(level);
            if levels.len() == level {
                levels.push(Vec::new());
            }
            // Nodes of a level complete in index order, so `_index` is the
            // level's length here.
            levels[level].push(*hash);
        });
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.edge.size()
    }

    /// The current root.
    pub fn root(&self) -> Hash {
        self.edge.root()
    }
}

impl NodeSource for MemoryTree {
    fn node(&self, level: u8, index: u64) -> Result<Hash, LogError> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.levels.get(usize::from(level))?.get(i))
            .copied()
            .ok_or(LogError::MissingNode { level, index })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::leaf_hash;

    #[test]
    fn holds_exactly_the_complete_nodes() {
        let tree = MemoryTree::from_leaf_hashes((0..13u8).map(|i| leaf_hash(&[i])));
        assert!(tree.node(0, 12).is_ok());
        assert_eq!(tree.node(0, 13), Err(LogError::MissingNode { level: 0, index: 13 }));
        assert!(tree.node(2, 2).is_ok());
        assert!(tree.node(2, 3).is_err());
        assert!(tree.node(3, 0).is_ok());
        assert!(tree.node(4, 0).is_err());
        assert!(tree.node(200, 0).is_err());
    }
}
