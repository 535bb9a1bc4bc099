#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point
//! The tree, the appender and the proofs: RFC 6962/9162 reference vectors
//! (transparency-dev/merkle `testonly/constants.go` and
//! `proof/verify_test.go`, used as data), then every size up to 130 against
//! a from-scratch recursive implementation of the RFC definitions.

use std::cell::Cell;
use std::collections::HashMap;

use signet_log::{
    CompactRange, Hash, LogError, MemoryTree, NodeSource, consistency_proof, empty_root, from_hex, inclusion_proof, leaf_hash, node_hash,
    root_at, verify_consistency, verify_inclusion,
};

fn h(hex: &str) -> Hash {
    from_hex(hex.as_bytes()).unwrap()
}

fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
}

const LEAF_INPUTS: [&str; 8] = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"];

const ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// Every complete node of the 8-leaf reference tree, by level.
const NODES: [&[&str]; 4] = [
    &[
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ],
    &[
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ],
    &[
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    &["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
];

fn reference_tree() -> MemoryTree {
    MemoryTree::from_leaf_hashes(LEAF_INPUTS.iter().map(|x| leaf_hash(&unhex(x))))
}

#[test]
fn roots_match_the_reference_vectors() {
    assert_eq!(empty_root(), h(ROOTS[0]));
    let tree = reference_tree();
    for (size, root) in ROOTS.iter().enumerate() {
        assert_eq!(root_at(size as u64, &tree).unwrap(), h(root), "size {size}");
    }
    let mut range = CompactRange::empty();
    assert_eq!(range.root(), h(ROOTS[0]));
    for (i, input) in LEAF_INPUTS.iter().enumerate() {
        range.append(leaf_hash(&unhex(input)));
        assert_eq!(range.root(), h(ROOTS[i + 1]));
    }
}

#[test]
fn stored_nodes_match_the_reference_vectors() {
    let tree = reference_tree();
    for (level, nodes) in NODES.iter().enumerate() {
        for (index, node) in nodes.iter().enumerate() {
            assert_eq!(tree.node(level as u8, index as u64).unwrap(), h(node), "({level}, {index})");
        }
    }
}

#[test]
fn proofs_match_the_reference_vectors() {
    let tree = reference_tree();
    // (leaf index, tree size, proof); the Go vectors number leaves from 1.
    let inclusion: [(u64, u64, &[&str]); 5] = [
        (0, 1, &[]),
        (0, 8, &[NODES[0][1], NODES[1][1], NODES[2][1]]),
        (5, 8, &[NODES[0][4], NODES[1][3], NODES[2][0]]),
        (2, 3, &[NODES[1][0]]),
        (1, 5, &[NODES[0][0], NODES[1][1], NODES[0][4]]),
    ];
    for (index, size, expected) in inclusion {
        let proof = inclusion_proof(index, size, &tree).unwrap();
        assert_eq!(proof, expected.iter().map(|x| h(x)).collect::<Vec<_>>(), "inclusion ({index}, {size})");
        let leaf = leaf_hash(&unhex(LEAF_INPUTS[index as usize]));
        verify_inclusion(&leaf, index, size, &proof, &h(ROOTS[size as usize])).unwrap();
    }
    let consistency: [(u64, u64, &[&str]); 5] = [
        (1, 1, &[]),
        (1, 8, &[NODES[0][1], NODES[1][1], NODES[2][1]]),
        (6, 8, &[NODES[1][2], NODES[1][3], NODES[2][0]]),
        (2, 5, &[NODES[1][1], NODES[0][4]]),
        (6, 7, &[NODES[1][2], NODES[0][6], NODES[2][0]]),
    ];
    for (m, n, expected) in consistency {
        let proof = consistency_proof(m, n, &tree).unwrap();
        assert_eq!(proof, expected.iter().map(|x| h(x)).collect::<Vec<_>>(), "consistency ({m}, {n})");
        verify_consistency(m, n, &h(ROOTS[m as usize]), &h(ROOTS[n as usize]), &proof).unwrap();
    }
}

/// The RFC 9162 definitions, recursively, over `leaves[start..end]`, memoised.
struct Reference {
    leaves: Vec<Hash>,
    cache: std::cell::RefCell<HashMap<(usize, usize), Hash>>,
}

fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

impl Reference {
    fn new(count: usize) -> Self {
        Self { leaves: (0..count).map(|i| leaf_hash(format!("entry {i}").as_bytes())).collect(), cache: Default::default() }
    }

    fn mth(&self, start: usize, end: usize) -> Hash {
        if let Some(hash) = self.cache.borrow().get(&(start, end)) {
            return *hash;
        }
        let hash = match end - start {
            0 => empty_root(),
            1 => self.leaves[start],
            n => {
                let k = split(n);
                node_hash(&self.mth(start, start + k), &self.mth(start + k, end))
            }
        };
        self.cache.borrow_mut().insert((start, end), hash);
        hash
    }

    /// PATH(m, D[start:end])
    fn path(&self, m: usize, start: usize, end: usize) -> Vec<Hash> {
        let n = end - start;
        if n == 1 {
            return vec![];
        }
        let k = split(n);
        if m < k {
            let mut p = self.path(m, start, start + k);
            p.push(self.mth(start + k, end));
            p
        } else {
            let mut p = self.path(m - k, start + k, end);
            p.push(self.mth(start, start + k));
            p
        }
    }

    /// SUBPROOF(m, D[start:end], b)
    fn subproof(&self, m: usize, start: usize, end: usize, b: bool) -> Vec<Hash> {
        let n = end - start;
        if m == n {
            return if b { vec![] } else { vec![self.mth(start, end)] };
        }
        let k = split(n);
        if m <= k {
            let mut p = self.subproof(m, start, start + k, b);
            p.push(self.mth(start + k, end));
            p
        } else {
            let mut p = self.subproof(m - k, start + k, end, false);
            p.push(self.mth(start, start + k));
            p
        }
    }
}

fn flip(proof: &[Hash], i: usize) -> Vec<Hash> {
    let mut p = proof.to_vec();
    p[i][0] ^= 0x10;
    p
}

const MAX: usize = 130;

#[test]
fn every_root_and_inclusion_proof_up_to_130_leaves() {
    let reference = Reference::new(MAX);
    let tree = MemoryTree::from_leaf_hashes(reference.leaves.iter().copied());
    let other = empty_root();
    for n in 1..=MAX {
        let root = reference.mth(0, n);
        assert_eq!(root_at(n as u64, &tree).unwrap(), root, "root {n}");
        for i in 0..n {
            let (index, size) = (i as u64, n as u64);
            let proof = inclusion_proof(index, size, &tree).unwrap();
            assert_eq!(proof, reference.path(i, 0, n), "path ({i}, {n})");
            let leaf = &reference.leaves[i];
            verify_inclusion(leaf, index, size, &proof, &root).unwrap();

            // Anything else fails. (A size off by one can share the path's
            // shape, so only sizes that change the depth are probed.)
            if n > 1 {
                let wrong_index = if i + 1 < n { index + 1 } else { index - 1 };
                assert!(verify_inclusion(leaf, wrong_index, size, &proof, &root).is_err(), "index ({i}, {n})");
            }
            assert!(verify_inclusion(leaf, index, size * 2, &proof, &root).is_err(), "size*2 ({i}, {n})");
            if size / 2 > index {
                assert!(verify_inclusion(leaf, index, size / 2, &proof, &root).is_err(), "size/2 ({i}, {n})");
            }
            assert!(verify_inclusion(&other, index, size, &proof, &root).is_err(), "leaf ({i}, {n})");
            assert!(verify_inclusion(leaf, index, size, &proof, &other).is_err(), "root ({i}, {n})");
            for k in 0..proof.len() {
                assert!(verify_inclusion(leaf, index, size, &flip(&proof, k), &root).is_err(), "flip {k} ({i}, {n})");
            }
            let mut longer = proof.clone();
            longer.push(root);
            assert!(verify_inclusion(leaf, index, size, &longer, &root).is_err(), "longer ({i}, {n})");
            if !proof.is_empty() {
                assert!(verify_inclusion(leaf, index, size, &proof[..proof.len() - 1], &root).is_err(), "shorter ({i}, {n})");
            }
        }
        assert_eq!(inclusion_proof(n as u64, n as u64, &tree), Err(LogError::IndexOutOfRange { index: n as u64, size: n as u64 }));
    }
}

#[test]
fn every_consistency_proof_up_to_130_leaves() {
    let reference = Reference::new(MAX);
    let tree = MemoryTree::from_leaf_hashes(reference.leaves.iter().copied());
    for n in 1..=MAX {
        let root_n = reference.mth(0, n);
        for m in 1..=n {
            let (old, new) = (m as u64, n as u64);
            let root_m = reference.mth(0, m);
            let proof = consistency_proof(old, new, &tree).unwrap();
            let expected = if m == n { vec![] } else { reference.subproof(m, 0, n, true) };
            assert_eq!(proof, expected, "proof ({m}, {n})");
            verify_consistency(old, new, &root_m, &root_n, &proof).unwrap();

            if m == n {
                continue;
            }
            assert!(verify_consistency(old, new, &root_n, &root_m, &proof).is_err(), "swapped ({m}, {n})");
            assert!(verify_consistency(old, new, &root_m, &root_m, &proof).is_err(), "root_n ({m}, {n})");
            assert!(verify_consistency(old, new, &root_m, &root_n, &[]).is_err(), "empty ({m}, {n})");
            if m > 1 {
                assert!(verify_consistency(old - 1, new, &root_m, &root_n, &proof).is_err(), "m-1 ({m}, {n})");
            }
            assert!(verify_consistency(old + 1, new, &root_m, &root_n, &proof).is_err(), "m+1 ({m}, {n})");
            assert!(verify_consistency(old, new * 2, &root_m, &root_n, &proof).is_err(), "n*2 ({m}, {n})");
            for k in 0..proof.len() {
                assert!(verify_consistency(old, new, &root_m, &root_n, &flip(&proof, k)).is_err(), "flip {k} ({m}, {n})");
            }
            let mut longer = proof.clone();
            longer.push(root_n);
            assert!(verify_consistency(old, new, &root_m, &root_n, &longer).is_err(), "longer ({m}, {n})");
            let mut prefixed = vec![root_m];
            prefixed.extend_from_slice(&proof);
            assert!(verify_consistency(old, new, &root_m, &root_n, &prefixed).is_err(), "prefixed ({m}, {n})");
            assert!(verify_consistency(old, new, &root_m, &root_n, &proof[..proof.len() - 1]).is_err(), "shorter ({m}, {n})");
        }
    }
}

#[test]
fn consistency_edge_cases() {
    let tree = reference_tree();
    let (r0, r3, r5) = (h(ROOTS[0]), h(ROOTS[3]), h(ROOTS[5]));
    assert_eq!(consistency_proof(0, 5, &tree).unwrap(), Vec::<Hash>::new());
    verify_consistency(0, 5, &r0, &r5, &[]).unwrap();
    verify_consistency(0, 0, &r0, &r0, &[]).unwrap();
    assert!(verify_consistency(0, 5, &r3, &r5, &[]).is_err(), "the empty tree has one root");
    assert!(verify_consistency(0, 5, &r0, &r5, &[r0]).is_err());
    verify_consistency(3, 3, &r3, &r3, &[]).unwrap();
    assert!(verify_consistency(3, 3, &r3, &r5, &[]).is_err());
    assert!(verify_consistency(3, 3, &r3, &r3, &[r3]).is_err());
    assert_eq!(consistency_proof(5, 3, &tree), Err(LogError::SizeOrder { first: 5, second: 3 }));
    assert!(verify_consistency(5, 3, &r5, &r3, &[]).is_err());
    assert!(consistency_proof(3, 9, &tree).is_err(), "the tree has 8 leaves");
}

/// Answers any complete node of a tree of `size` leaves with a made-up hash,
/// refuses the others, and counts reads.
struct Synthetic {
    size: u64,
    reads: Cell<u64>,
}

impl NodeSource for Synthetic {
    fn node(&self, level: u8, index: u64) -> Result<Hash, LogError> {
        self.reads.set(self.reads.get() + 1);
        let complete = level < 64 && index.checked_add(1).and_then(|i| i.checked_mul(1 << level)).is_some_and(|end| end <= self.size);
        if !complete {
            return Err(LogError::MissingNode { level, index });
        }
        let mut input = vec![level];
        input.extend_from_slice(&index.to_be_bytes());
        Ok(leaf_hash(&input))
    }
}

#[test]
fn proofs_read_only_complete_nodes_and_about_two_log_n_of_them() {
    for size in [1u64, 2, 3, 1000, 1 << 20, (1 << 20) + 1, 10_000_000, 10_000_019, (1 << 40) - 1, u64::MAX] {
        let source = Synthetic { size, reads: Cell::new(0) };
        let bits = u64::from(64 - size.leading_zeros());
        for index in [0, 1, size / 3, size / 2, size.saturating_sub(2), size - 1].into_iter().filter(|i| *i < size) {
            source.reads.set(0);
            inclusion_proof(index, size, &source).unwrap();
            assert!(source.reads.get() <= 2 * bits, "inclusion ({index}, {size}): {} reads", source.reads.get());

            let m = index + 1;
            source.reads.set(0);
            consistency_proof(m, size, &source).unwrap();
            assert!(source.reads.get() <= 2 * bits, "consistency ({m}, {size}): {} reads", source.reads.get());
        }
    }
}

#[test]
fn missing_nodes_are_reported() {
    let tree = reference_tree();
    assert!(matches!(root_at(9, &tree), Err(LogError::MissingNode { .. })));
    assert!(matches!(inclusion_proof(0, 9, &tree), Err(LogError::MissingNode { .. })));
    assert!(matches!(CompactRange::new(9, &tree), Err(LogError::MissingNode { .. })));
}
