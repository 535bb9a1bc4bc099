#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point
//! The sealed keystore: shares, unseal, encrypted key files, seal.

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1, ED25519, EcdsaKeyPair, Ed25519KeyPair,
    RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey, VerificationAlgorithm,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use signet_core::ports::{AuthoritySigner, KeyError, KeyStore};
use signet_keys::sealed::{
    MasterKey, Progress, SealConfig, SealError, SealedKeyStore, Share, Unsealer, init, init_local, read_local_unseal_key,
    write_local_unseal_key,
};
use signet_model::profile::KeyAlgorithm;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------- helpers

fn tlv(input: &[u8]) -> (u8, &[u8], &[u8]) {
    let tag = input[0];
    let (len, hdr) = if input[1] < 0x80 {
        (input[1] as usize, 2)
    } else {
        let n = (input[1] & 0x7f) as usize;
        (input[2..2 + n].iter().fold(0usize, |a, b| (a << 8) | *b as usize), 2 + n)
    };
    (tag, &input[hdr..hdr + len], &input[hdr + len..])
}

fn raw_public_key(spki: &[u8]) -> Vec<u8> {
    let (_, body, _) = tlv(spki);
    let (_, _alg, rest) = tlv(body);
    let (tag, bits, _) = tlv(rest);
    assert_eq!(tag, 0x03);
    bits[1..].to_vec()
}

fn verifier(alg: KeyAlgorithm) -> &'static dyn VerificationAlgorithm {
    match alg {
        KeyAlgorithm::EcdsaP256 => &ECDSA_P256_SHA256_ASN1,
        KeyAlgorithm::EcdsaP384 => &ECDSA_P384_SHA384_ASN1,
        KeyAlgorithm::Ed25519 => &ED25519,
        _ => &RSA_PKCS1_2048_8192_SHA256,
    }
}

fn assert_signs(signer: &Arc<dyn AuthoritySigner>) {
    let msg = b"to be signed";
    let sig = signer.sign(msg).unwrap();
    let raw = raw_public_key(signer.public_key_spki_der());
    UnparsedPublicKey::new(verifier(signer.algorithm()), &raw).verify(msg, &sig).expect("signature verifies");
}

/// A local-key authority, unsealed, with its master key bytes (for scans).
fn local_store(dir: &Path) -> (SealedKeyStore, Vec<u8>) {
    let (config, master) = init_local().unwrap();
    let key_path = dir.join("unseal.key");
    write_local_unseal_key(&key_path, &master).unwrap();
    let text = std::fs::read_to_string(&key_path).unwrap();
    let bytes = URL_SAFE_NO_PAD.decode(text.trim().strip_prefix("signet-unseal-key-1:").unwrap()).unwrap();
    let store = SealedKeyStore::open(dir.join("keys"), config).unwrap();
    store.unseal(master).unwrap();
    (store, bytes)
}

fn unseal_with(config: &SealConfig, shares: &[&Share]) -> Result<MasterKey, SealError> {
    let mut u = Unsealer::new(config)?;
    for s in shares {
        u.add_share(s.reveal())?;
    }
    u.unseal()
}

fn err_text(r: Result<Arc<dyn AuthoritySigner>, KeyError>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

/// Replace the character at `pos` of a share's text with another of the same class.
fn flip_char(text: &str, pos: usize) -> String {
    let mut b = text.as_bytes().to_vec();
    b[pos] = if b[pos] == b'A' { b'B' } else { b'A' };
    String::from_utf8(b).unwrap()
}

// ---------------------------------------------------------------- shares

#[test]
fn every_three_of_five_subset_unseals_the_same_key() {
    let dir = tempfile::tempdir().unwrap();
    let (config, shares) = init(5, 3).unwrap();
    assert_eq!(config.share_scheme(), Some((5, 3)));
    assert_eq!(shares.iter().map(Share::index).collect::<Vec<_>>(), vec![1, 2, 3, 4, 5]);
    let store = SealedKeyStore::open(dir.path().join("keys"), config.clone()).unwrap();
    let mut first = true;
    for a in 0..5 {
        for b in a + 1..5 {
            for c in b + 1..5 {
                let master = unseal_with(&config, &[&shares[a], &shares[b], &shares[c]]).unwrap();
                store.unseal(master).unwrap();
                if first {
                    store.generate("ca", KeyAlgorithm::Ed25519).unwrap();
                    first = false;
                }
                // The key sealed under the first subset's master opens under every other subset's.
                assert_signs(&store.load("ca").unwrap());
                store.seal();
            }
        }
    }
    // Four or five shares work too.
    let all: Vec<&Share> = shares.iter().collect();
    store.unseal(unseal_with(&config, &all).unwrap()).unwrap();
    store.unseal(unseal_with(&config, &all[1..]).unwrap()).unwrap();
    assert_signs(&store.load("ca").unwrap());
}

#[test]
fn two_shares_are_too_few() {
    let (config, shares) = init(5, 3).unwrap();
    let mut u = Unsealer::new(&config).unwrap();
    assert_eq!(u.progress(), Progress { have: 0, need: 3 });
    assert!(matches!(u.unseal(), Err(SealError::TooFewShares { have: 0, need: 3 })));
    assert_eq!(u.add_share(shares[0].reveal()).unwrap(), Progress { have: 1, need: 3 });
    assert_eq!(u.add_share(shares[3].reveal()).unwrap(), Progress { have: 2, need: 3 });
    let err = u.unseal().unwrap_err();
    assert_eq!(err, SealError::TooFewShares { have: 2, need: 3 });
    assert_eq!(err.to_string(), "too few unseal shares: have 2, need 3");
    // Still usable: the third share completes it.
    assert!(u.add_share(shares[4].reveal()).unwrap().is_complete());
    u.unseal().unwrap();
}

#[test]
fn duplicate_share_counts_once() {
    let (config, shares) = init(5, 3).unwrap();
    let mut u = Unsealer::new(&config).unwrap();
    u.add_share(shares[1].reveal()).unwrap();
    assert_eq!(u.add_share(shares[1].reveal()).unwrap(), Progress { have: 1, need: 3 });
    // Surrounding whitespace (a pasted line) is the same share.
    assert_eq!(u.add_share(&format!("  {}\n", shares[1].reveal())).unwrap(), Progress { have: 1, need: 3 });
    u.add_share(shares[2].reveal()).unwrap();
    assert_eq!(u.unseal().unwrap_err(), SealError::TooFewShares { have: 2, need: 3 });
}

#[test]
fn corrupted_share_is_named_by_index() {
    let (config, shares) = init(5, 3).unwrap();
    let text = shares[1].reveal().to_string();
    let fields: Vec<&str> = text.split(':').collect();
    assert_eq!(fields.len(), 5);
    assert_eq!(fields[2], "2");
    let share_start = fields[0].len() + fields[1].len() + fields[2].len() + 3;
    let tag_start = text.len() - fields[4].len();

    let mut u = Unsealer::new(&config).unwrap();
    // Every character of the share part and of the tag.
    for pos in (share_start..share_start + fields[3].len()).chain(tag_start..text.len()) {
        let bad = flip_char(&text, pos);
        match u.add_share(&bad) {
            Err(SealError::CorruptShare { index: 2 }) => {}
            // The last base64 character carries unused bits: a flip may be non-canonical.
            Err(SealError::Malformed(_)) => {}
            other => panic!("flip at {pos}: {other:?}"),
        }
    }
    assert_eq!(u.add_share(&flip_char(&text, share_start)).unwrap_err(), SealError::CorruptShare { index: 2 });
    let msg = SealError::CorruptShare { index: 2 }.to_string();
    assert!(msg.contains("share 2 is corrupt"), "{msg}");

    // Share 2 relabelled as share 4: corrupt as share 4.
    let relabelled = format!("{}:{}:4:{}:{}", fields[0], fields[1], fields[3], fields[4]);
    assert_eq!(u.add_share(&relabelled).unwrap_err(), SealError::CorruptShare { index: 4 });

    // Nothing was counted; the good shares still unseal.
    assert_eq!(u.progress().have, 0);
    for s in &shares[..3] {
        u.add_share(s.reveal()).unwrap();
    }
    u.unseal().unwrap();
}

#[test]
fn shares_of_another_authority_are_recognised() {
    let (config, shares) = init(5, 3).unwrap();
    let (other_config, other_shares) = init(5, 3).unwrap();
    let mut u = Unsealer::new(&config).unwrap();
    u.add_share(shares[0].reveal()).unwrap();
    let err = u.add_share(other_shares[1].reveal()).unwrap_err();
    assert!(matches!(err, SealError::WrongAuthority { .. }), "{err:?}");
    assert!(err.to_string().contains(&config.seal_id_hex()), "{err}");
    assert_eq!(u.progress().have, 1);

    // Even a full set of the other authority's shares, fed to an unsealer
    // whose config was swapped, does not unseal this store.
    let dir = tempfile::tempdir().unwrap();
    let store = SealedKeyStore::open(dir.path().to_path_buf(), config).unwrap();
    let other_master = unseal_with(&other_config, &[&other_shares[0], &other_shares[1], &other_shares[2]]).unwrap();
    assert_eq!(store.unseal(other_master).unwrap_err(), SealError::KeyCheckFailed);
    assert!(store.is_sealed());
}

#[test]
fn malformed_shares_are_rejected() {
    let (config, shares) = init(5, 3).unwrap();
    let text = shares[0].reveal();
    let fields: Vec<&str> = text.split(':').collect();
    let mut u = Unsealer::new(&config).unwrap();
    for bad in [
        String::new(),
        "hello".to_string(),
        text.replacen("signet-share-1", "signet-share-2", 1),
        text.replacen("signet-share-1", "sharks", 1),
        format!("{}:{}:0:{}:{}", fields[0], fields[1], fields[3], fields[4]),
        format!("{}:{}:9:{}:{}", fields[0], fields[1], fields[3], fields[4]),
        format!("{}:{}:01:{}:{}", fields[0], fields[1], fields[3], fields[4]),
        format!("{}:{}:1:{}:{}", fields[0], fields[1], &fields[3][1..], fields[4]),
        format!("{text}:extra"),
        "x".repeat(10_000),
    ] {
        let err = u.add_share(&bad).unwrap_err();
        assert!(matches!(err, SealError::Malformed(_)), "{bad:.40}: {err:?}");
    }
    assert_eq!(u.progress().have, 0);
}

#[test]
fn init_rejects_bad_schemes() {
    for (n, m) in [(0, 0), (3, 0), (3, 4), (0, 1)] {
        assert!(matches!(init(n, m), Err(SealError::InvalidScheme(_))), "{m} of {n}");
    }
    let (config, shares) = init(1, 1).unwrap();
    assert_eq!(shares.len(), 1);
    unseal_with(&config, &[&shares[0]]).unwrap();
}

#[test]
fn seal_config_json_round_trip_and_tamper() {
    let (config, shares) = init(5, 3).unwrap();
    let json = config.to_json();
    let back = SealConfig::from_json(&json).unwrap();
    assert_eq!(back, config);
    let subset = [&shares[0], &shares[2], &shares[4]];
    unseal_with(&back, &subset).unwrap();

    // A config with another key-check value: the shares verify, the key does not.
    let (other, _) = init(5, 3).unwrap();
    let other_json = other.to_json();
    let check = |j: &str| -> String {
        let v: serde_json::Value = serde_json::from_str(j).unwrap();
        v["key_check"].as_str().unwrap().to_string()
    };
    let tampered = json.replace(&check(&json), &check(&other_json));
    let tampered = SealConfig::from_json(&tampered).unwrap();
    assert_eq!(unseal_with(&tampered, &subset).unwrap_err(), SealError::KeyCheckFailed);

    for bad in ["{}", "not json", &json.replace("signet-seal-config-1", "v2"), &json.replace("\"threshold\": 3", "\"threshold\": 6")] {
        assert!(matches!(SealConfig::from_json(bad), Err(SealError::Config(_))), "{bad}");
    }

    let (local, _) = init_local().unwrap();
    assert!(local.uses_local_key_file());
    assert_eq!(SealConfig::from_json(&local.to_json()).unwrap(), local);
    assert_eq!(Unsealer::new(&local).unwrap_err(), SealError::NotShareSealed);
}

#[test]
fn unseal_is_fast() {
    let dir = tempfile::tempdir().unwrap();
    let (config, shares) = init(5, 3).unwrap();
    let store = SealedKeyStore::open(dir.path().to_path_buf(), config.clone()).unwrap();
    let start = Instant::now();
    let master = unseal_with(&config, &[&shares[0], &shares[1], &shares[2]]).unwrap();
    store.unseal(master).unwrap();
    let elapsed = start.elapsed();
    eprintln!("unseal (3 of 5, parse + verify + recombine + key check): {elapsed:?}");
    assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
}

// ---------------------------------------------------------------- keystore

#[test]
fn sealed_store_refuses_everything() {
    let dir = tempfile::tempdir().unwrap();
    let (config, shares) = init(5, 3).unwrap();
    let store = SealedKeyStore::open(dir.path().join("keys"), config.clone()).unwrap();
    assert!(store.is_sealed());
    let msg = err_text(store.generate("ca", KeyAlgorithm::EcdsaP256));
    assert!(msg.contains("keystore is sealed") && msg.contains("`ca`"), "{msg}");
    let msg = err_text(store.load("ca"));
    assert!(msg.contains("keystore is sealed"), "{msg}");
    assert_eq!(std::fs::read_dir(dir.path().join("keys")).unwrap().count(), 0, "nothing written");

    store.unseal(unseal_with(&config, &[&shares[0], &shares[1], &shares[2]]).unwrap()).unwrap();
    assert!(!store.is_sealed());
    store.generate("ca", KeyAlgorithm::EcdsaP256).unwrap();
}

#[test]
fn generate_load_sign_every_algorithm() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = local_store(dir.path());
    for alg in KeyAlgorithm::ALL {
        let key_ref = format!("k-{}", alg.as_str());
        let generated = store.generate(&key_ref, alg).unwrap();
        assert_eq!(generated.algorithm(), alg);
        let loaded = store.load(&key_ref).unwrap();
        assert_eq!(loaded.algorithm(), alg);
        assert_eq!(loaded.public_key_spki_der(), generated.public_key_spki_der());
        assert_signs(&generated);
        assert_signs(&loaded);

        let path = store.dir().join(format!("{key_ref}.sealed"));
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(std::fs::read(&path).unwrap().starts_with(b"SIGNETSK\x01"));
        assert!(matches!(store.generate(&key_ref, alg), Err(KeyError::Exists(_))));
    }
    assert_eq!(std::fs::metadata(store.dir()).unwrap().permissions().mode() & 0o777, 0o700);
    // No temporary files left behind.
    let names: Vec<String> = std::fs::read_dir(store.dir()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert!(names.iter().all(|n| n.ends_with(".sealed")), "{names:?}");
    assert!(matches!(store.load("missing"), Err(KeyError::NotFound(_))));
    assert!(store.load("../etc").is_err());
}

#[test]
fn a_plaintext_key_is_neither_shadowed_nor_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = local_store(dir.path());
    let plain = signet_keys::SoftwareKeyStore::new(store.dir().to_path_buf()).unwrap();
    plain.generate("old", KeyAlgorithm::Ed25519).unwrap();
    assert!(matches!(store.generate("old", KeyAlgorithm::Ed25519), Err(KeyError::Exists(_))));
    let msg = err_text(store.load("old"));
    assert!(msg.contains("unencrypted"), "{msg}");
}

fn flip(path: &Path, pos: usize) -> Vec<u8> {
    let original = std::fs::read(path).unwrap();
    let mut bytes = original.clone();
    bytes[pos] ^= 0x01;
    std::fs::write(path, &bytes).unwrap();
    original
}

#[test]
fn every_flipped_byte_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = local_store(dir.path());
    for alg in [KeyAlgorithm::Ed25519, KeyAlgorithm::EcdsaP256] {
        let key_ref = format!("t-{}", alg.as_str());
        store.generate(&key_ref, alg).unwrap();
        let path = store.dir().join(format!("{key_ref}.sealed"));
        let len = std::fs::metadata(&path).unwrap().len() as usize;
        for pos in 0..len {
            for mask in [0x01u8, 0x80] {
                let original = std::fs::read(&path).unwrap();
                let mut bytes = original.clone();
                bytes[pos] ^= mask;
                std::fs::write(&path, &bytes).unwrap();
                let msg = err_text(store.load(&key_ref));
                assert!(msg.contains(&format!("`{key_ref}`")), "byte {pos}: {msg}");
                std::fs::write(&path, &original).unwrap();
            }
        }
        // Truncated at every length, and extended.
        let original = std::fs::read(&path).unwrap();
        for cut in 0..len {
            std::fs::write(&path, &original[..cut]).unwrap();
            assert!(store.load(&key_ref).is_err(), "truncated to {cut}");
        }
        std::fs::write(&path, [&original[..], b"\0"].concat()).unwrap();
        assert!(err_text(store.load(&key_ref)).contains("trailing bytes"));
        std::fs::write(&path, &original).unwrap();
        assert_signs(&store.load(&key_ref).unwrap());
    }
}

#[test]
fn tampered_regions_give_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = local_store(dir.path());
    store.generate("ca", KeyAlgorithm::Rsa2048).unwrap();
    let path = store.dir().join("ca.sealed");
    let len = std::fs::metadata(&path).unwrap().len() as usize;
    // Layout: magic 8, version 1, len 1, "ca" 2, len 1, "rsa-2048" 8, nonce 12, wrapped 48, nonce 12, len 2, body.
    let header = 0..21;
    let wrap_nonce = 21;
    let wrapped = 33..81;
    let body_nonce = 81;
    let ciphertext = 95;
    let tag = len - 1;
    let cases: Vec<(usize, &str)> = vec![
        (0, "bad magic"),
        (8, "unsupported format version"),
        (10, "holds another key"),
        (13, "unknown key algorithm"),
        (wrap_nonce, "does not unwrap"),
        (wrapped.start, "does not unwrap"),
        (wrapped.end - 1, "does not unwrap"),
        (body_nonce, "was altered"),
        (ciphertext, "was altered"),
        (tag, "was altered"),
    ];
    assert!(header.contains(&13));
    for (pos, expect) in cases {
        let original = flip(&path, pos);
        let msg = err_text(store.load("ca"));
        assert!(msg.contains("`ca`") && msg.contains(expect), "byte {pos}: {msg}");
        std::fs::write(&path, &original).unwrap();
    }
    assert_signs(&store.load("ca").unwrap());
}

#[test]
fn moved_or_foreign_key_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = local_store(dir.path());
    store.generate("a", KeyAlgorithm::Ed25519).unwrap();
    // Renamed: the header and the AADs name `a`.
    std::fs::copy(store.dir().join("a.sealed"), store.dir().join("b.sealed")).unwrap();
    let msg = err_text(store.load("b"));
    assert!(msg.contains("holds another key"), "{msg}");

    // A key file of another authority.
    let other_dir = tempfile::tempdir().unwrap();
    let (other, _) = local_store(other_dir.path());
    other.generate("c", KeyAlgorithm::Ed25519).unwrap();
    std::fs::copy(other.dir().join("c.sealed"), store.dir().join("c.sealed")).unwrap();
    let msg = err_text(store.load("c"));
    assert!(msg.contains("does not unwrap under this master key"), "{msg}");
}

#[test]
fn group_readable_key_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = local_store(dir.path());
    store.generate("ca", KeyAlgorithm::Ed25519).unwrap();
    let path = store.dir().join("ca.sealed");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    assert!(err_text(store.load("ca")).contains("mode 0600"));
}

#[test]
fn seal_drops_every_loaded_key() {
    let dir = tempfile::tempdir().unwrap();
    let (config, master) = init_local().unwrap();
    let key_path = dir.path().join("unseal.key");
    write_local_unseal_key(&key_path, &master).unwrap();
    let store = SealedKeyStore::open(dir.path().join("keys"), config).unwrap();
    store.unseal(master).unwrap();
    let generated = store.generate("ca", KeyAlgorithm::EcdsaP256).unwrap();
    let loaded = store.load("ca").unwrap();
    let clone = store.clone();
    assert_signs(&loaded);

    clone.seal();
    assert!(store.is_sealed());
    for s in [&generated, &loaded] {
        let msg = s.sign(b"m").unwrap_err().to_string();
        assert!(msg.contains("keystore is sealed") && msg.contains("`ca`"), "{msg}");
        // Public data stays available.
        assert!(!s.public_key_spki_der().is_empty());
    }
    assert!(err_text(store.load("ca")).contains("keystore is sealed"));

    // Unsealing again does not revive old signers; loading again works.
    store.unseal(read_local_unseal_key(&key_path).unwrap()).unwrap();
    assert!(loaded.sign(b"m").is_err());
    assert_signs(&store.load("ca").unwrap());
}

#[test]
fn seal_while_signing_in_threads() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = local_store(dir.path());
    let signer = store.generate("ca", KeyAlgorithm::Ed25519).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let s = signer.clone();
            std::thread::spawn(move || {
                let mut ok = 0u32;
                while s.sign(b"m").is_ok() {
                    ok += 1;
                }
                ok
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(50));
    store.seal();
    for h in handles {
        h.join().unwrap();
    }
    assert!(signer.sign(b"m").is_err());
}

// ---------------------------------------------------------------- local unseal key

#[test]
fn local_unseal_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let (config, master) = init_local().unwrap();
    let path = dir.path().join("unseal.key");
    write_local_unseal_key(&path, &master).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    let err = write_local_unseal_key(&path, &master).unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");

    let store = SealedKeyStore::open(dir.path().join("keys"), config.clone()).unwrap();
    store.unseal(read_local_unseal_key(&path).unwrap()).unwrap();

    // Another authority's local key: refused, stays sealed.
    let (_, other_master) = init_local().unwrap();
    let other_path = dir.path().join("other.key");
    write_local_unseal_key(&other_path, &other_master).unwrap();
    let fresh = SealedKeyStore::open(dir.path().join("keys"), config).unwrap();
    assert_eq!(fresh.unseal(read_local_unseal_key(&other_path).unwrap()).unwrap_err(), SealError::KeyCheckFailed);
    assert!(fresh.is_sealed());

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(read_local_unseal_key(&path).unwrap_err().to_string().contains("mode 0600"));
    assert!(read_local_unseal_key(&dir.path().join("missing")).unwrap_err().to_string().contains("not found"));
    std::fs::write(dir.path().join("junk"), "junk").unwrap();
    std::fs::set_permissions(dir.path().join("junk"), std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(read_local_unseal_key(&dir.path().join("junk")).is_err());
}

// ---------------------------------------------------------------- no secrets leak

fn contains_window(haystack: &[u8], secret: &[u8], window: usize) -> bool {
    secret.windows(window).any(|w| haystack.windows(window).any(|h| h == w))
}

fn encodings(secret: &[u8]) -> Vec<String> {
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let hex_upper = hex.to_uppercase();
    let debug_bytes = format!("{:?}", &secret[..8]).trim_end_matches(']').to_string();
    let b64 = URL_SAFE_NO_PAD.encode(secret);
    let std_b64 = base64::engine::general_purpose::STANDARD.encode(secret);
    vec![hex[..16].to_string(), hex_upper[..16].to_string(), debug_bytes, b64[..12].to_string(), std_b64[..12].to_string()]
}

#[test]
fn no_key_material_in_files_or_messages() {
    let dir = tempfile::tempdir().unwrap();
    let (store, master_bytes) = local_store(dir.path());

    // A known private key, imported.
    let doc = Ed25519KeyPair::generate().unwrap().to_pkcs8v1().unwrap();
    let pkcs8 = doc.as_ref().to_vec();
    let imported = store.import_pkcs8("imported", &pkcs8).unwrap();
    assert_signs(&imported);
    let ec_doc = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap().to_pkcs8v1().unwrap();
    let ec_pkcs8 = ec_doc.as_ref().to_vec();
    store.import_pkcs8("imported-ec", &ec_pkcs8).unwrap();
    assert!(matches!(store.import_pkcs8("imported", &pkcs8), Err(KeyError::Exists(_))));

    // The private parts: the 32-byte seed / scalar at the end of each PKCS#8.
    let ed_seed = &pkcs8[pkcs8.len() - 32..];
    let (config, shares) = init(5, 3).unwrap();
    let secrets: Vec<&[u8]> = vec![ed_seed, &ec_pkcs8, &master_bytes];

    // Every file in the keystore directory.
    for entry in std::fs::read_dir(store.dir()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        for s in &secrets {
            assert!(!contains_window(&bytes, s, 12), "key material in a key file");
        }
    }

    // Messages: Debug of every type, errors of tampering and sealing.
    let loaded = store.load("imported").unwrap();
    let mut messages = vec![
        format!("{store:?}"),
        format!("{loaded:?}"),
        format!("{imported:?}"),
        format!("{config:?}"),
        format!("{:?}", shares[0]),
        config.to_json(),
        format!("{:?}", Unsealer::new(&config).unwrap()),
        format!("{:?}", read_local_unseal_key(&dir.path().join("unseal.key")).unwrap()),
    ];
    let path = store.dir().join("imported.sealed");
    for pos in [0, 30, 60, 100] {
        let original = flip(&path, pos);
        messages.push(err_text(store.load("imported")));
        std::fs::write(&path, &original).unwrap();
    }
    store.seal();
    messages.push(loaded.sign(b"m").unwrap_err().to_string());
    messages.push(err_text(store.load("imported")));
    messages.push(format!("{:?}", store.load("imported").map(|_| ())));

    for m in &messages {
        assert!(!m.contains(shares[0].reveal()));
        for s in &secrets {
            for enc in encodings(s) {
                assert!(!m.contains(&enc), "secret encoding `{enc}` in: {m}");
            }
        }
    }
    assert!(messages[4].contains("[redacted]"));
    assert!(messages[7].contains("[redacted]"));
}

#[test]
fn a_destroyed_key_file_is_gone_and_the_others_stay() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = local_store(dir.path());
    store.generate("issuing-old", KeyAlgorithm::EcdsaP256).unwrap();
    let kept = store.generate("issuing-new", KeyAlgorithm::EcdsaP256).unwrap();
    let file = dir.path().join("keys").join("issuing-old.sealed");
    assert!(file.exists());
    store.destroy("issuing-old").unwrap();
    assert!(!file.exists());
    assert!(matches!(store.load("issuing-old"), Err(KeyError::NotFound(r)) if r == "issuing-old"));
    assert!(matches!(store.destroy("issuing-old"), Err(KeyError::NotFound(_))));
    assert!(store.destroy("../keys").unwrap_err().to_string().contains("not a valid key reference"));
    // No temporary or leftover file; the other key still loads and signs.
    let names: Vec<String> =
        std::fs::read_dir(dir.path().join("keys")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(names, vec!["issuing-new.sealed".to_string()]);
    let again = store.load("issuing-new").unwrap();
    assert_eq!(again.public_key_spki_der(), kept.public_key_spki_der());
    assert_signs(&again);

    // Destroying needs no master key: it works sealed too.
    store.seal();
    store.destroy("issuing-new").unwrap();
    assert!(std::fs::read_dir(dir.path().join("keys")).unwrap().next().is_none());
}

#[test]
fn a_symlink_is_not_destroyed_through() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = local_store(dir.path());
    let target = dir.path().join("precious");
    std::fs::write(&target, b"not a key").unwrap();
    std::os::unix::fs::symlink(&target, dir.path().join("keys").join("trap.sealed")).unwrap();
    let err = store.destroy("trap").unwrap_err().to_string();
    assert!(err.contains("not a regular file"), "{err}");
    assert_eq!(std::fs::read(&target).unwrap(), b"not a key");
}
