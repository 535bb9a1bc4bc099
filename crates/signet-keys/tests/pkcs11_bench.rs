#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point
//! Signing through the PKCS#11 keystore (SoftHSM2) vs the sealed keystore vs
//! raw aws-lc, P-256, in the same run.
//! Run: `cargo test -p signet-keys --test pkcs11_bench -- --ignored --nocapture`

mod softhsm;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
use signet_core::ports::{AuthoritySigner, KeyStore};
use signet_keys::pkcs11::Pkcs11KeyStore;
use signet_keys::sealed::{SealedKeyStore, init_local};
use signet_model::profile::KeyAlgorithm;
use softhsm::{PIN, run_isolated};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

const ROUNDS: usize = 7;
const BATCH: u32 = 500;

type Case<'a> = (&'a str, Box<dyn FnMut()>);

/// Best-of-rounds time per operation, rounds interleaved so drift hits all alike.
fn bench(fs: &mut [Case<'_>]) -> Vec<Duration> {
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
    best
}

/// Signatures per second from `threads` threads sharing one signer.
fn parallel_rate(signer: &Arc<dyn AuthoritySigner>, threads: usize, msg: &[u8]) -> f64 {
    let per_thread = 2_000;
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for _ in 0..per_thread {
                    black_box(signer.sign(black_box(msg)).unwrap());
                }
            });
        }
    });
    (threads * per_thread) as f64 / start.elapsed().as_secs_f64()
}

#[test]
#[ignore = "benchmark"]
fn pkcs11_signing_rate() {
    run_isolated("pkcs11_signing_rate", &["signet-bench"], |hsm| {
        let msg = [0x42u8; 512];
        let token = Pkcs11KeyStore::open(hsm.config("signet-bench", PIN)).unwrap();
        let hsm_signer = token.generate("bench-p256", KeyAlgorithm::EcdsaP256).unwrap();

        let dir = tempfile::tempdir().unwrap();
        let (config, master) = init_local().unwrap();
        let sealed = SealedKeyStore::open(dir.path().to_path_buf(), config).unwrap();
        sealed.unseal(master).unwrap();
        let doc = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap().to_pkcs8v1().unwrap();
        let sealed_signer = sealed.import_pkcs8("bench-p256", doc.as_ref()).unwrap();
        let raw = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, doc.as_ref()).unwrap();
        let rng = SystemRandom::new();

        let h = hsm_signer.clone();
        let mut cases: Vec<Case<'_>> = vec![
            (
                "raw aws-lc",
                Box::new(move || {
                    black_box(raw.sign(&rng, black_box(&msg)).unwrap());
                }),
            ),
            ("SealedSigner", Box::new(move || drop(black_box(sealed_signer.sign(black_box(&msg)).unwrap())))),
            ("Pkcs11Signer (SoftHSM2)", Box::new(move || drop(black_box(h.sign(black_box(&msg)).unwrap())))),
        ];
        let results = bench(&mut cases);
        for ((label, _), d) in cases.iter().zip(&results) {
            eprintln!("ecdsa-p256 {label:<24} {:>8.2} µs/sign  {:>8.0} signs/s (1 thread)", d.as_secs_f64() * 1e6, 1.0 / d.as_secs_f64());
        }
        eprintln!("ecdsa-p256 Pkcs11Signer (SoftHSM2) {:>8.0} signs/s (2 threads, pooled sessions)", parallel_rate(&hsm_signer, 2, &msg));
    });
}
