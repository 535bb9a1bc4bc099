//! Proof verification (RFC 9162 §2.1.3.2 and §2.1.4.2), step by step as the
//! RFC writes it. `fn`/`sn` are the RFC's "first node"/"second node"
//! positions; here `first`/`last`.

use crate::LogError;
use crate::hash::{Hash, empty_root, node_hash};

/// Check that `leaf_hash` is leaf `index` of the tree of size `size` with root
/// `root`, given its inclusion proof (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(leaf_hash: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> Result<(), LogError> {
    if index >= size {
        return Err(LogError::IndexOutOfRange { index, size });
    }
    let (mut first, mut last) = (index, size - 1);
    let mut r = *leaf_hash;
    for p in proof {
        if last == 0 {
            return Err(LogError::InclusionProof("the proof is longer than the path"));
        }
        if first & 1 == 1 || first == last {
            r = node_hash(p, &r);
            if first & 1 == 0 {
                while first & 1 == 0 && first != 0 {
                    first >>= 1;
                    last >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        first >>= 1;
        last >>= 1;
    }
    if last != 0 {
        return Err(LogError::InclusionProof("the proof is shorter than the path"));
    }
    if r != *root {
        return Err(LogError::InclusionProof("the computed root differs"));
    }
    Ok(())
}

/// Check that the tree of size `m` with root `root_m` is a prefix of the tree
/// of size `n` with root `root_n`, given the consistency proof (RFC 9162
/// §2.1.4.2). The RFC algorithm covers `0 < m < n`; the edge cases are:
/// `m == n` needs an empty proof and equal roots, `m == 0` needs an empty
/// proof and `root_m` the empty-tree root.
pub fn verify_consistency(m: u64, n: u64, root_m: &Hash, root_n: &Hash, proof: &[Hash]) -> Result<(), LogError> {
    if m > n {
        return Err(LogError::SizeOrder { first: m, second: n });
    }
    if m == 0 {
        return match (proof.is_empty(), *root_m == empty_root()) {
            (true, true) => Ok(()),
            (false, _) => Err(LogError::ConsistencyProof("a proof from the empty tree must be empty")),
            (_, false) => Err(LogError::ConsistencyProof("the root of the empty tree is wrong")),
        };
    }
    if m == n {
        return match (proof.is_empty(), root_m == root_n) {
            (true, true) => Ok(()),
            (false, _) => Err(LogError::ConsistencyProof("a proof between equal sizes must be empty")),
            (_, false) => Err(LogError::ConsistencyProof("equal sizes with different roots")),
        };
    }
    // 1. An empty path fails.
    let Some((head, tail)) = proof.split_first() else {
        return Err(LogError::ConsistencyProof("empty proof"));
    };
    // 2. If m is a power of two, the old root is the first element.
    let (seed, rest): (&Hash, &[Hash]) = if m.is_power_of_two() { (root_m, proof) } else { (head, tail) };
    // 3.-4.
    let (mut first, mut last) = (m - 1, n - 1);
    while first & 1 == 1 {
        first >>= 1;
        last >>= 1;
    }
    // 5.
    let (mut fr, mut sr) = (*seed, *seed);
    // 6.
    for c in rest {
        if last == 0 {
            return Err(LogError::ConsistencyProof("the proof is longer than the path"));
        }
        if first & 1 == 1 || first == last {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if first & 1 == 0 {
                while first & 1 == 0 && first != 0 {
                    first >>= 1;
                    last >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        first >>= 1;
        last >>= 1;
    }
    // 7.
    if last != 0 {
        return Err(LogError::ConsistencyProof("the proof is shorter than the path"));
    }
    if fr != *root_m {
        return Err(LogError::ConsistencyProof("the old root does not follow from the proof"));
    }
    if sr != *root_n {
        return Err(LogError::ConsistencyProof("the new root does not follow from the proof"));
    }
    Ok(())
}
