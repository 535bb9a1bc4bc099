#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point
//! Signing through the sealed keystore vs raw aws-lc signing with the same key.
//! Run: `cargo test -p signet-keys --test sealed_bench -- --ignored --nocapture`
//! (dependencies, aws-lc included, are built at opt-level 2 even in the dev profile).

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, Ed25519KeyPair};
use signet_core::ports::AuthoritySigner;
use signet_keys::SoftwareSigner;
use signet_keys::sealed::{SealedKeyStore, init_local};
use std::hint::black_box;
use std::time::{Duration, Instant};

const ROUNDS: usize = 15;
const BATCH: u32 = 1_000;

type Case<'a> = (&'a str, Box<dyn FnMut()>);

/// Best-of-rounds time per operation, rounds interleaved so drift hits all alike.
fn bench(mut fs: Vec<Case<'_>>) -> Vec<(String, Duration)> {
    let mut best = vec![Duration::MAX; fs.len()];
    for _ in 0..ROUNDS {
        for (i, (_, f)) in fs.iter_mut().enumerate() {
            let start = Instant::now();
            for _ in 0..BATCH {
                f();
            }
            best[i] = best[i].min(start.elapsed() / BATCH);
        }
    }
    fs.iter().zip(best).map(|((n, _), d)| (n.to_string(), d)).collect()
}

#[test]
#[ignore = "benchmark"]
fn sealed_signing_overhead() {
    let dir = tempfile::tempdir().unwrap();
    let (config, master) = init_local().unwrap();
    let store = SealedKeyStore::open(dir.path().to_path_buf(), config).unwrap();
    store.unseal(master).unwrap();
    let msg = [0x42u8; 512];

    let ec_doc = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap().to_pkcs8v1().unwrap();
    let ed_doc = Ed25519KeyPair::generate().unwrap().to_pkcs8v1().unwrap();
    let cases: Vec<(&str, &[u8])> = vec![("ecdsa-p256", ec_doc.as_ref()), ("ed25519", ed_doc.as_ref())];
    for (name, pkcs8) in cases {
        let sealed = store.import_pkcs8(&format!("bench-{name}"), pkcs8).unwrap();
        let software = SoftwareSigner::from_pkcs8(pkcs8).unwrap();
        let rng = SystemRandom::new();
        let raw: Box<dyn FnMut()> = if name == "ed25519" {
            let k = Ed25519KeyPair::from_pkcs8(pkcs8).unwrap();
            Box::new(move || {
                black_box(k.sign(black_box(&msg)));
            })
        } else {
            let k = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8).unwrap();
            Box::new(move || {
                black_box(k.sign(&rng, black_box(&msg)).unwrap());
            })
        };
        let results = bench(vec![
            ("raw aws-lc", raw),
            ("SoftwareSigner", Box::new(move || drop(black_box(software.sign(black_box(&msg)).unwrap())))),
            ("SealedSigner", Box::new(move || drop(black_box(sealed.sign(black_box(&msg)).unwrap())))),
        ]);
        let base = results[0].1.as_secs_f64();
        for (label, d) in &results {
            eprintln!(
                "{name:>10} {label:<15} {:>8.2} µs/sign  {:>8.0} signs/s  {:+6.1}% vs raw",
                d.as_secs_f64() * 1e6,
                1.0 / d.as_secs_f64(),
                (d.as_secs_f64() / base - 1.0) * 100.0
            );
        }
        let overhead = results[2].1.as_secs_f64() / base - 1.0;
        assert!(overhead < 0.10, "{name}: sealed signing is {:.1}% slower than raw aws-lc", overhead * 100.0);
    }
}
