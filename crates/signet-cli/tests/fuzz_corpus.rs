//! Every input in the committed fuzz corpora (`fuzz/corpus/<target>/`),
//! replayed through the same parsers the cargo-fuzz targets drive
//! (`fuzz/fuzz_targets/`), on stable Rust, in every test run: a crash the
//! fuzzer once found and that was added to a corpus stays fixed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use signet_core::mint::StatusPublisher;
use signet_model::ids::{AuthorityId, Serial};
use std::path::PathBuf;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(target);
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    assert!(!inputs.is_empty(), "{} has no seed", dir.display());
    inputs.sort();
    inputs
}

#[test]
fn csr_corpus() {
    let mut parsed = 0;
    for (_, data) in corpus("csr") {
        if let Ok(csr) = signet_x509::parse_csr(&data) {
            assert!(!csr.key.spki_der.is_empty());
            parsed += 1;
        }
    }
    assert!(parsed > 0, "the seeds include valid CSRs");
}

#[test]
fn ocsp_request_corpus() {
    let dir = tempfile::tempdir().unwrap();
    let keys = signet_keys::SoftwareKeyStore::new(dir.path().to_path_buf()).unwrap();
    let now = time::macros::datetime!(2026-01-01 0:00 UTC);
    let (der, signer) = signet_x509::create_root(
        &keys,
        "fuzz-ca",
        signet_model::profile::KeyAlgorithm::EcdsaP256,
        "Fuzz CA",
        &Serial::from_random([7; 16]),
        now,
        time::Duration::days(30),
    )
    .unwrap();
    let ca = signet_x509::X509Authority::new(AuthorityId::from_random([1; 16]), der.clone(), signer, vec![der], "https://fuzz.test".into())
        .unwrap();
    for (_, data) in corpus("ocsp_request") {
        let _ = ca.parse_ocsp_request(&data);
    }
}

#[test]
fn log_note_corpus() {
    let verifier = signet_log::Verifier::new("signet/fuzz", [9; 32]).unwrap();
    for (_, data) in corpus("log_note") {
        let Ok(text) = std::str::from_utf8(&data) else { continue };
        let _ = signet_log::Verifier::parse(text);
        let _ = signet_log::Checkpoint::parse(text);
        assert!(signet_log::open_checkpoint(text, &verifier).is_err(), "no seed carries a valid signature of this key");
    }
}

#[test]
fn nats_protocol_corpus() {
    for (path, data) in corpus("nats_protocol") {
        let mut rest = data.as_slice();
        while let Ok(Some((_, used))) = signet_nats::protocol::parse_op(rest) {
            assert!(used > 0 && used <= rest.len(), "{}", path.display());
            rest = &rest[used..];
        }
    }
}

#[test]
fn backup_header_corpus() {
    for (_, data) in corpus("backup_header") {
        let mut input = data.as_slice();
        let _ = signet_backup::container::read_header(&mut input, std::path::Path::new("fuzz.signetbk"));
    }
}
