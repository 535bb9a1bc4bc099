#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point
//! Benchmarks, ignored by default. Run them optimised:
//!
//! ```sh
//! cargo test -p signet-log --release --test bench -- --ignored --nocapture --test-threads 1
//! ```
//!
//! The limits are asserted only in optimised builds.

use std::time::{Duration, Instant};

use signet_log::{
    Checkpoint, CompactRange, Hash, MemoryTree, NodeSource, NoteSigner, VerifyError, consistency_proof, inclusion_proof, leaf_hash,
    root_at, to_hex, verify_consistency, verify_export, verify_inclusion, write_export,
};

const ORIGIN: &str = "signet.example/log";
const OPTIMISED: bool = !cfg!(debug_assertions);

/// An entry of a realistic size (~400 bytes), shaped like an issuance event.
fn entry(index: u64, prev: &Hash) -> Vec<u8> {
    format!(
        concat!(
            r#"{{"v":1,"index":{},"prev":"{}","time":1795428000,"type":"credential.issued","#,
            r#""actor":"token:tok_01JD{:016x}","subject_id":"sub_01JD{:016x}","request_id":"req_01JD{:016x}","#,
            r#""credential_id":"crd_01JD{:016x}","reason":null,"details":{{"profile":"tls-server","serial":"{:032x}"}},"trace_id":null}}"#
        ),
        index,
        to_hex(prev),
        index / 1000,
        index / 3,
        index ^ 0x5555,
        index.wrapping_mul(0x9e37_79b9),
        u128::from(index).wrapping_mul(0x9e37_79b9_7f4a_7c15),
    )
    .into_bytes()
}

/// Entries `0..n`, chained by `prev`.
fn entries(n: u64) -> impl Iterator<Item = Vec<u8>> {
    (0..n).scan([0u8; 32], |prev, i| {
        let e = entry(i, prev);
        *prev = leaf_hash(&e);
        Some(e)
    })
}

/// xorshift64*: reproducible indexes without a dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

#[test]
#[ignore = "benchmark: 1 M entries, run with --release --ignored"]
fn verify_export_of_one_million_entries() {
    const N: u64 = 1_000_000;
    const EVERY: u64 = 1_000;
    let signer = NoteSigner::generate().unwrap();
    let verifier = signer.verifier(ORIGIN).unwrap();

    // The sequencer: append, store leaf hashes, sign a checkpoint per batch.
    let started = Instant::now();
    let mut range = CompactRange::empty();
    let mut stored = Vec::with_capacity(N as usize);
    let mut notes = Vec::new();
    for e in entries(N) {
        let leaf = leaf_hash(&e);
        range.append_with(leaf, |_, _, _| {});
        stored.push(leaf);
        if range.size().is_multiple_of(EVERY) {
            notes.push(signer.sign_checkpoint(&Checkpoint::new(ORIGIN, range.size(), range.root()).unwrap()).unwrap());
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    write_export(tmp.path(), entries(N), stored, &notes).unwrap();
    let bytes = std::fs::metadata(tmp.path().join("entries.jsonl")).unwrap().len();
    println!("built: {N} entries ({} MB), {} checkpoints in {:.2?}", bytes / 1_000_000, notes.len(), started.elapsed());

    let started = Instant::now();
    let report = verify_export(tmp.path(), &verifier).unwrap();
    let elapsed = started.elapsed();
    println!(
        "verify_export: {N} entries, {} checkpoints: {elapsed:.2?} ({:.0} entries/s)",
        report.checkpoints,
        N as f64 / elapsed.as_secs_f64()
    );
    assert_eq!(report.entries, N);
    assert_eq!(report.uncovered, 0);

    // A changed byte deep in the file is still named exactly.
    let path = tmp.path().join("entries.jsonl");
    let mut data = std::fs::read(&path).unwrap();
    let line_start = data.split(|&b| b == b'\n').take(777_777).map(|l| l.len() + 1).sum::<usize>();
    let at = line_start + data[line_start..].windows(6).position(|w| w == b"issued").unwrap();
    data[at] ^= 0x01;
    std::fs::write(&path, data).unwrap();
    let started = Instant::now();
    let err = verify_export(tmp.path(), &verifier).unwrap_err();
    println!("tampered verify_export: `{err}` in {:.2?}", started.elapsed());
    assert!(matches!(err, VerifyError::EntryMismatch { index: 777_777, checkpoint_size: 778_000 }), "{err}");

    if OPTIMISED {
        assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    }
}

#[test]
#[ignore = "benchmark: 10 M leaves (about 1 GB of memory), run with --release --ignored"]
fn proofs_on_ten_million_leaves_and_append_rate() {
    // Appending: leaf hashing of ~300-byte entries plus node computation.
    const APPEND: u64 = 1_000_000;
    let entries: Vec<Vec<u8>> = entries(APPEND).collect();
    let mut range = CompactRange::empty();
    let mut completed = 0u64;
    let started = Instant::now();
    for e in &entries {
        completed += range.append(leaf_hash(e)).len() as u64;
    }
    let elapsed = started.elapsed();
    let rate = APPEND as f64 / elapsed.as_secs_f64();
    println!("append: {APPEND} entries in {elapsed:.2?} = {rate:.0} entries/s ({completed} nodes to store)");

    const N: u64 = 10_000_000;
    let started = Instant::now();
    let tree = MemoryTree::from_leaf_hashes((0..N).map(|i| leaf_hash(&i.to_be_bytes())));
    println!("MemoryTree of {N} leaves built in {:.2?}", started.elapsed());
    let root = tree.root();
    assert_eq!(root_at(N, &tree).unwrap(), root);

    const PROOFS: u32 = 10_000;
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let (mut total, mut worst) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..PROOFS {
        let index = rng.below(N);
        let started = Instant::now();
        let proof = inclusion_proof(index, N, &tree).unwrap();
        let took = started.elapsed();
        (total, worst) = (total + took, worst.max(took));
        verify_inclusion(&leaf_hash(&index.to_be_bytes()), index, N, &proof, &root).unwrap();
    }
    let inclusion_avg = total / PROOFS;
    println!("inclusion_proof at size {N}: avg {inclusion_avg:.2?}, worst {worst:.2?} over {PROOFS}");

    let (mut total, mut worst) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..PROOFS {
        let n = N - rng.below(1000);
        let m = 1 + rng.below(n);
        let started = Instant::now();
        let proof = consistency_proof(m, n, &tree).unwrap();
        let took = started.elapsed();
        (total, worst) = (total + took, worst.max(took));
        if rng.below(100) == 0 {
            verify_consistency(m, n, &root_at(m, &tree).unwrap(), &root_at(n, &tree).unwrap(), &proof).unwrap();
        }
    }
    let consistency_avg = total / PROOFS;
    println!("consistency_proof up to size {N}: avg {consistency_avg:.2?}, worst {worst:.2?} over {PROOFS}");

    let started = Instant::now();
    let loaded = CompactRange::new(N, &tree).unwrap();
    println!("CompactRange::new({N}) + root: {:.2?}", started.elapsed());
    assert_eq!(loaded.root(), root);
    assert_eq!(tree.node(0, 0).unwrap(), leaf_hash(&0u64.to_be_bytes()));

    if OPTIMISED {
        assert!(rate >= 50_000.0, "{rate}");
        assert!(inclusion_avg < Duration::from_millis(1));
        assert!(consistency_avg < Duration::from_millis(1));
    }
}
