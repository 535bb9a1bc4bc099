#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point
//! The PKCS#11 keystore against SoftHSM2: keys made and kept in the token,
//! signatures that aws-lc and openssl verify, and every refusal named.
//! Each test runs in a child process with its own token directory (see softhsm/mod.rs).

mod softhsm;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1, ECDSA_P384_SHA384_ASN1, ED25519, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use base64::Engine;
use signet_core::ports::{AuthoritySigner, KeyError, KeyStore};
use signet_keys::pkcs11::{Pkcs11Config, Pkcs11Error, Pkcs11KeyStore, Pkcs11Pin, TokenSelector};
use signet_model::profile::KeyAlgorithm;
use softhsm::{PIN, SoftHsm, run_isolated};
use std::path::Path;
use std::process::Command;

const MESSAGE: &[u8] = b"to be signed: a certificate, a checkpoint";

fn open(hsm: &SoftHsm, token: &str) -> Pkcs11KeyStore {
    Pkcs11KeyStore::open(hsm.config(token, PIN)).unwrap()
}

fn verify(signer: &dyn AuthoritySigner, message: &[u8], signature: &[u8]) -> bool {
    let alg: &dyn aws_lc_rs::signature::VerificationAlgorithm = match signer.algorithm() {
        KeyAlgorithm::EcdsaP256 => &ECDSA_P256_SHA256_ASN1,
        KeyAlgorithm::EcdsaP384 => &ECDSA_P384_SHA384_ASN1,
        KeyAlgorithm::Ed25519 => &ED25519,
        _ => &RSA_PKCS1_2048_8192_SHA256,
    };
    UnparsedPublicKey::new(alg, signer.public_key_spki_der()).verify(message, signature).is_ok()
}

/// openssl, an independent verifier, checks `signature` with the SPKI the store reports.
fn openssl_verifies(dir: &Path, signer: &dyn AuthoritySigner, message: &[u8], signature: &[u8]) -> bool {
    let b64 = base64::engine::general_purpose::STANDARD.encode(signer.public_key_spki_der());
    let lines: Vec<String> = b64.as_bytes().chunks(64).map(|c| String::from_utf8_lossy(c).into_owned()).collect();
    std::fs::write(dir.join("pub.pem"), format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", lines.join("\n"))).unwrap();
    std::fs::write(dir.join("msg.bin"), message).unwrap();
    std::fs::write(dir.join("sig.bin"), signature).unwrap();
    let args: Vec<&str> = match signer.algorithm() {
        KeyAlgorithm::Ed25519 => {
            vec!["pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-rawin", "-in", "msg.bin", "-sigfile", "sig.bin"]
        }
        KeyAlgorithm::EcdsaP384 => vec!["dgst", "-sha384", "-verify", "pub.pem", "-signature", "sig.bin", "msg.bin"],
        _ => vec!["dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig.bin", "msg.bin"],
    };
    Command::new("openssl").args(&args).current_dir(dir).output().unwrap().status.success()
}

#[test]
fn pkcs11_every_algorithm_signs_in_the_token_and_verifies() {
    run_isolated("pkcs11_every_algorithm_signs_in_the_token_and_verifies", &["signet-algs"], |hsm| {
        let keys = open(hsm, "signet-algs");
        let tmp = tempfile::tempdir().unwrap();
        for alg in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::EcdsaP384, KeyAlgorithm::Ed25519, KeyAlgorithm::Rsa3072] {
            let key_ref = format!("key-{alg}");
            let signer = keys.generate(&key_ref, alg).unwrap();
            assert_eq!(signer.algorithm(), alg);
            let signature = signer.sign(MESSAGE).unwrap();
            assert!(verify(signer.as_ref(), MESSAGE, &signature), "{alg}: aws-lc rejects the token's signature");
            assert!(!verify(signer.as_ref(), b"another message", &signature), "{alg}: a signature verified for another message");
            let mut tampered = signature.clone();
            let last = tampered.len() - 1;
            tampered[last] ^= 1;
            assert!(!verify(signer.as_ref(), MESSAGE, &tampered), "{alg}: a tampered signature verified");
            assert!(openssl_verifies(tmp.path(), signer.as_ref(), MESSAGE, &signature), "{alg}: openssl rejects the token's signature");
            assert!(
                !openssl_verifies(tmp.path(), signer.as_ref(), b"another message", &signature),
                "{alg}: openssl accepted a wrong message"
            );

            // Loaded again, it is the same key.
            let loaded = keys.load(&key_ref).unwrap();
            assert_eq!(loaded.algorithm(), alg);
            assert_eq!(loaded.public_key_spki_der(), signer.public_key_spki_der());
            assert!(verify(signer.as_ref(), MESSAGE, &loaded.sign(MESSAGE).unwrap()));
        }

        // A second keystore on the token (a restart, in effect) finds the keys.
        let again = open(hsm, "signet-algs");
        let p256 = again.load("key-ecdsa-p256").unwrap();
        assert!(verify(p256.as_ref(), MESSAGE, &p256.sign(MESSAGE).unwrap()));

        // Signing from many threads at once: sessions are pooled, never shared.
        std::thread::scope(|s| {
            for _ in 0..8 {
                let p256 = p256.clone();
                s.spawn(move || {
                    for _ in 0..20 {
                        assert!(verify(p256.as_ref(), MESSAGE, &p256.sign(MESSAGE).unwrap()));
                    }
                });
            }
        });
    });
}

#[test]
fn pkcs11_keys_are_sensitive_and_never_extractable() {
    run_isolated("pkcs11_keys_are_sensitive_and_never_extractable", &["signet-prot"], |hsm| {
        let keys = open(hsm, "signet-prot");
        for (key_ref, alg) in [("ca-p256", KeyAlgorithm::EcdsaP256), ("ca-rsa", KeyAlgorithm::Rsa3072), ("log-ed", KeyAlgorithm::Ed25519)] {
            keys.generate(key_ref, alg).unwrap();
            let p = keys.protection(key_ref).unwrap();
            assert!(p.sensitive && p.always_sensitive, "{key_ref}: {p:?}");
            assert!(!p.extractable && p.never_extractable, "{key_ref}: {p:?}");
            assert!(!p.value_readable, "{key_ref}: the token let its private value be read: {p:?}");
        }

        // An independent PKCS#11 client (OpenSC's pkcs11-tool) sees the keys and their protection.
        let out = hsm.pkcs11_tool(&["--token-label", "signet-prot", "--login", "--pin", PIN, "--list-objects", "--type", "privkey"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let listing = String::from_utf8_lossy(&out.stdout);
        for label in ["ca-p256", "ca-rsa", "log-ed"] {
            assert!(listing.contains(&format!("label:      {label}")), "{label} missing from:\n{listing}");
        }
        assert_eq!(listing.matches("never extractable").count(), 3, "{listing}");
        assert_eq!(listing.matches("always sensitive").count(), 3, "{listing}");
    });
}

#[test]
fn pkcs11_a_wrong_pin_is_named_and_writes_nothing() {
    run_isolated("pkcs11_a_wrong_pin_is_named_and_writes_nothing", &["signet-pin"], |hsm| {
        let err = Pkcs11KeyStore::open(hsm.config("signet-pin", "not-the-pin-31337")).unwrap_err();
        assert_eq!(err, Pkcs11Error::PinIncorrect("signet-pin".into()));
        let shown = format!("{err} {err:?}");
        assert_eq!(err.to_string(), "the PIN for token `signet-pin` is incorrect");
        assert!(!shown.contains("not-the-pin-31337"), "{shown}");
        let key_error = KeyError::from(err).to_string();
        assert!(key_error.contains("the PIN for token `signet-pin` is incorrect"), "{key_error}");

        // Nothing was created: the token holds no object.
        let out = hsm.pkcs11_tool(&["--token-label", "signet-pin", "--login", "--pin", PIN, "--list-objects"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let listing = String::from_utf8_lossy(&out.stdout);
        assert!(!listing.contains("Object"), "the token has objects after a failed open:\n{listing}");

        // The right PIN works; a second keystore in this process with another PIN is still refused.
        let keys = open(hsm, "signet-pin");
        keys.generate("k", KeyAlgorithm::EcdsaP256).unwrap();
        let err = Pkcs11KeyStore::open(hsm.config("signet-pin", "not-the-pin-31337")).unwrap_err();
        assert_eq!(err, Pkcs11Error::PinMismatch("signet-pin".into()));
    });
}

#[test]
fn a_missing_or_broken_module_is_named() {
    // No token needed: these fail before any module is loaded.
    let config = |module: &Path| Pkcs11Config {
        module: module.to_path_buf(),
        token: TokenSelector::Label("any".into()),
        pin: Pkcs11Pin::new("1234".into()).unwrap(),
    };
    let err = Pkcs11KeyStore::open(config(Path::new("/nonexistent/lib/libnot-an-hsm.so"))).unwrap_err();
    assert_eq!(err.to_string(), "PKCS#11 module `/nonexistent/lib/libnot-an-hsm.so` does not exist");
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("libfake-pkcs11.so");
    std::fs::write(&fake, "not a shared library").unwrap();
    let err = Pkcs11KeyStore::open(config(&fake)).unwrap_err().to_string();
    assert!(err.starts_with(&format!("PKCS#11 module `{}` cannot be loaded: ", fake.display())), "{err}");
}

#[test]
fn pkcs11_an_unknown_token_is_named_with_the_tokens_present() {
    run_isolated("pkcs11_an_unknown_token_is_named_with_the_tokens_present", &["signet-a", "signet-b"], |hsm| {
        let err = Pkcs11KeyStore::open(hsm.config("signet-c", PIN)).unwrap_err().to_string();
        assert!(err.starts_with("no PKCS#11 token labelled `signet-c` in module `"), "{err}");
        assert!(err.contains("tokens present: `signet-a`, `signet-b`") || err.contains("tokens present: `signet-b`, `signet-a`"), "{err}");
        let config = Pkcs11Config { token: TokenSelector::Slot(4_000_000_000), ..hsm.config("x", PIN) };
        let err = Pkcs11KeyStore::open(config).unwrap_err().to_string();
        assert!(err.starts_with("no PKCS#11 token in slot 4000000000 of module"), "{err}");
        assert!(err.contains("(signet-a)"), "{err}");

        // The same token found by its slot id works.
        let slots = hsm.util(&["--show-slots"]);
        let mut current = None;
        let mut slot = None;
        for line in slots.lines() {
            if let Some(id) = line.strip_prefix("Slot ") {
                current = id.trim().parse::<u64>().ok();
            } else if line.trim() == "Label:            signet-a" {
                slot = current;
            }
        }
        let slot = slot.unwrap_or_else(|| panic!("no slot for signet-a in:\n{slots}"));
        let keys = Pkcs11KeyStore::open(Pkcs11Config { token: TokenSelector::Slot(slot), ..hsm.config("x", PIN) }).unwrap();
        assert_eq!(keys.token_label(), "signet-a");
    });
}

#[test]
fn pkcs11_key_refs_are_never_overwritten() {
    run_isolated("pkcs11_key_refs_are_never_overwritten", &["signet-refs"], |hsm| {
        let keys = open(hsm, "signet-refs");
        let first = keys.generate("root", KeyAlgorithm::EcdsaP256).unwrap();
        assert!(matches!(keys.generate("root", KeyAlgorithm::EcdsaP256), Err(KeyError::Exists(r)) if r == "root"));
        assert!(matches!(keys.generate("root", KeyAlgorithm::Ed25519), Err(KeyError::Exists(_))));
        // The first key is untouched.
        assert_eq!(keys.load("root").unwrap().public_key_spki_der(), first.public_key_spki_der());

        // An object made by someone else under the same label blocks the name too.
        let out = hsm.pkcs11_tool(&[
            "--token-label",
            "signet-refs",
            "--login",
            "--pin",
            PIN,
            "--keypairgen",
            "--key-type",
            "EC:prime256v1",
            "--label",
            "foreign",
        ]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(matches!(keys.generate("foreign", KeyAlgorithm::EcdsaP256), Err(KeyError::Exists(_))));

        assert!(matches!(keys.load("missing"), Err(KeyError::NotFound(r)) if r == "missing"));
        let err = keys.generate("../root", KeyAlgorithm::EcdsaP256).unwrap_err().to_string();
        assert!(err.contains("not a valid key reference"), "{err}");
    });
}

#[test]
fn pkcs11_an_extractable_key_is_refused() {
    run_isolated("pkcs11_an_extractable_key_is_refused", &["signet-weak"], |hsm| {
        // pkcs11-tool makes a key pair whose private key may be wrapped out of the token.
        let out = hsm.pkcs11_tool(&[
            "--token-label",
            "signet-weak",
            "--login",
            "--pin",
            PIN,
            "--keypairgen",
            "--key-type",
            "EC:prime256v1",
            "--label",
            "weak",
            "--extractable",
        ]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let keys = open(hsm, "signet-weak");
        let p = keys.protection("weak").unwrap();
        assert!(p.extractable && !p.never_extractable, "{p:?}");
        let err = keys.load("weak").unwrap_err().to_string();
        assert!(err.contains("key `weak` in token `signet-weak` is not protected"), "{err}");
    });
}

#[test]
fn pkcs11_a_destroyed_key_is_gone_from_the_token() {
    run_isolated("pkcs11_a_destroyed_key_is_gone_from_the_token", &["signet-destroy"], |hsm| {
        let keys = open(hsm, "signet-destroy");
        keys.generate("issuing-old", KeyAlgorithm::EcdsaP256).unwrap();
        let kept = keys.generate("issuing-new", KeyAlgorithm::EcdsaP256).unwrap();
        keys.destroy("issuing-old").unwrap();
        assert!(matches!(keys.load("issuing-old"), Err(KeyError::NotFound(r)) if r == "issuing-old"));
        assert!(matches!(keys.destroy("issuing-old"), Err(KeyError::NotFound(_))), "a second destroy finds nothing");
        assert!(keys.destroy("../x").unwrap_err().to_string().contains("not a valid key reference"));
        // The other key is untouched and still signs.
        let again = keys.load("issuing-new").unwrap();
        assert_eq!(again.public_key_spki_der(), kept.public_key_spki_der());
        assert!(verify(again.as_ref(), MESSAGE, &again.sign(MESSAGE).unwrap()));

        // An independent client sees neither the private nor the public object of the destroyed key.
        let out = hsm.pkcs11_tool(&["--token-label", "signet-destroy", "--login", "--pin", PIN, "--list-objects"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let listing = String::from_utf8_lossy(&out.stdout);
        assert!(!listing.contains("issuing-old"), "{listing}");
        assert_eq!(listing.matches("label:      issuing-new").count(), 2, "private and public: {listing}");
    });
}
