#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1, ECDSA_P384_SHA384_ASN1, ED25519, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey, VerificationAlgorithm,
};
use signet_core::ports::{KeyError, KeyStore};
use signet_keys::SoftwareKeyStore;
use signet_model::profile::KeyAlgorithm;
use std::os::unix::fs::PermissionsExt;

/// Read one DER TLV: (tag, content, rest). Test-only, short-form and long-form lengths.
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

/// The subjectPublicKey bits of a DER SubjectPublicKeyInfo.
fn raw_public_key(spki: &[u8]) -> Vec<u8> {
    let (tag, body, rest) = tlv(spki);
    assert_eq!(tag, 0x30);
    assert!(rest.is_empty());
    let (_, _alg, rest) = tlv(body);
    let (tag, bits, rest) = tlv(rest);
    assert_eq!(tag, 0x03);
    assert!(rest.is_empty());
    assert_eq!(bits[0], 0, "no unused bits");
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

#[test]
fn generate_load_sign_verify_every_algorithm() {
    let dir = tempfile::tempdir().unwrap();
    let store = SoftwareKeyStore::new(dir.path().join("keys")).unwrap();
    for alg in KeyAlgorithm::ALL {
        let key_ref = format!("k-{}", alg.as_str());
        let generated = store.generate(&key_ref, alg).unwrap();
        assert_eq!(generated.algorithm(), alg);
        let loaded = store.load(&key_ref).unwrap();
        assert_eq!(loaded.algorithm(), alg);
        assert_eq!(loaded.public_key_spki_der(), generated.public_key_spki_der());

        let msg = b"to be signed";
        let raw = raw_public_key(loaded.public_key_spki_der());
        for signer in [&generated, &loaded] {
            let sig = signer.sign(msg).unwrap();
            UnparsedPublicKey::new(verifier(alg), &raw).verify(msg, &sig).unwrap_or_else(|_| panic!("{alg} signature verifies"));
            assert!(UnparsedPublicKey::new(verifier(alg), &raw).verify(b"other", &sig).is_err());
        }
        if matches!(alg, KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096) {
            let bits = match alg {
                KeyAlgorithm::Rsa2048 => 2048,
                KeyAlgorithm::Rsa3072 => 3072,
                _ => 4096,
            };
            assert_eq!(loaded.sign(msg).unwrap().len() * 8, bits);
        }
        // Debug never shows key material.
        let dbg = format!("{loaded:?}");
        assert!(dbg.contains(alg.as_str()), "{dbg}");
    }
}

#[test]
fn existing_key_is_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let store = SoftwareKeyStore::new(dir.path().to_path_buf()).unwrap();
    let first = store.generate("root", KeyAlgorithm::EcdsaP256).unwrap();
    let before = std::fs::read(dir.path().join("root.p8")).unwrap();
    match store.generate("root", KeyAlgorithm::Ed25519) {
        Err(KeyError::Exists(r)) => assert_eq!(r, "root"),
        other => panic!("expected Exists, got {other:?}"),
    }
    assert_eq!(std::fs::read(dir.path().join("root.p8")).unwrap(), before);
    assert_eq!(store.load("root").unwrap().public_key_spki_der(), first.public_key_spki_der());
    // No temporary files left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("root.p8")]);
}

#[test]
fn bad_key_refs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = SoftwareKeyStore::new(dir.path().to_path_buf()).unwrap();
    let long = "a".repeat(65);
    for bad in ["", "../evil", "a/b", "Root", "a.b", "a b", "ключ", long.as_str(), "..", "/etc/passwd"] {
        assert!(matches!(store.generate(bad, KeyAlgorithm::Ed25519), Err(KeyError::Backend(_))), "generate `{bad}`");
        assert!(matches!(store.load(bad), Err(KeyError::Backend(_))), "load `{bad}`");
    }
    assert!(store.generate(&"a".repeat(64), KeyAlgorithm::Ed25519).is_ok());
    assert!(store.generate("issuing_ca-2", KeyAlgorithm::Ed25519).is_ok());
    assert!(std::fs::read_dir(dir.path().parent().unwrap()).unwrap().all(|e| e.unwrap().file_name() != "evil.p8"));
}

#[test]
fn files_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("nested").join("keys");
    let store = SoftwareKeyStore::new(keys.clone()).unwrap();
    assert_eq!(std::fs::metadata(&keys).unwrap().permissions().mode() & 0o777, 0o700);
    store.generate("k", KeyAlgorithm::EcdsaP384).unwrap();
    let path = keys.join("k.p8");
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);

    // A key file others can read is refused.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    match store.load("k") {
        Err(KeyError::Backend(m)) => assert!(m.contains("0600"), "{m}"),
        other => panic!("expected a permission error, got {other:?}"),
    }
}

#[test]
fn missing_and_corrupt_keys() {
    let dir = tempfile::tempdir().unwrap();
    let store = SoftwareKeyStore::new(dir.path().to_path_buf()).unwrap();
    assert!(matches!(store.load("nope"), Err(KeyError::NotFound(r)) if r == "nope"));

    let path = dir.path().join("junk.p8");
    std::fs::write(&path, b"not a key").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    match store.load("junk") {
        Err(e @ KeyError::Backend(_)) => assert!(!e.to_string().contains("not a key")),
        other => panic!("expected a backend error, got {other:?}"),
    }
}
