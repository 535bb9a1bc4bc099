#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point
//! A CA whose keys live in a PKCS#11 token (SoftHSM2) issues certificates
//! that openssl verifies against the chain.

mod common;
#[path = "../../signet-keys/tests/softhsm/mod.rs"]
mod softhsm;

use common::*;
use signet_core::mint::X509Issuer;
use signet_core::ports::KeyStore;
use signet_keys::pkcs11::Pkcs11KeyStore;
use signet_model::ids::AuthorityId;
use signet_model::profile::KeyAlgorithm;
use signet_x509::csr::parse_csr;
use signet_x509::{X509Authority, create_issuing, create_root};
use softhsm::{PIN, run_isolated};
use time::Duration;

#[test]
fn pkcs11_a_ca_whose_keys_live_in_the_token_issues_certificates_openssl_verifies() {
    run_isolated("pkcs11_a_ca_whose_keys_live_in_the_token_issues_certificates_openssl_verifies", &["signet-ca"], |hsm| {
        if !have_openssl() {
            return;
        }
        let keys = Pkcs11KeyStore::open(hsm.config("signet-ca", PIN)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        for (n, (name, alg)) in [
            ("ecdsa-p256", KeyAlgorithm::EcdsaP256),
            ("ecdsa-p384", KeyAlgorithm::EcdsaP384),
            ("ed25519", KeyAlgorithm::Ed25519),
            ("rsa-3072", KeyAlgorithm::Rsa3072),
        ]
        .into_iter()
        .enumerate()
        {
            let n = n as u8 * 10;
            let (root_der, root_signer) =
                create_root(&keys, &format!("root-{name}"), alg, "Token Root", &serial(n + 1), now(), Duration::days(3650)).unwrap();
            let (issuing_der, _) = create_issuing(
                &keys,
                &format!("issuing-{name}"),
                alg,
                "Token Issuing CA",
                &serial(n + 2),
                now(),
                Duration::days(1825),
                &root_der,
                root_signer.as_ref(),
            )
            .unwrap();

            // As at a restart: the issuing key is loaded from the token by its reference.
            let reopened = Pkcs11KeyStore::open(hsm.config("signet-ca", PIN)).unwrap();
            let signer = reopened.load(&format!("issuing-{name}")).unwrap();
            let authority = X509Authority::new(
                AuthorityId::from_random([n + 3; 16]),
                issuing_der.clone(),
                signer,
                vec![issuing_der.clone(), root_der.clone()],
                BASE_URL.into(),
            )
            .unwrap();

            let csr = parse_csr(&openssl_csr(dir.path(), "ecdsa-p256", &[])).unwrap();
            let grant = server_grant("a.example", csr.names.clone(), KeyAlgorithm::EcdsaP256);
            let leaf = authority.mint(&grant.grant(), &csr.key, &serial(n + 4)).unwrap();
            let out = openssl_verify(dir.path(), &root_der, &[&issuing_der], &leaf, &["-purpose", "sslserver"]);
            assert!(out.contains("leaf.pem: OK"), "{name}: {out}");

            // The CA certificates carry the token's public keys: openssl sees the algorithm.
            let text = openssl_text(dir.path(), &issuing_der);
            let want = match alg {
                KeyAlgorithm::EcdsaP256 => "NIST CURVE: P-256",
                KeyAlgorithm::EcdsaP384 => "NIST CURVE: P-384",
                KeyAlgorithm::Ed25519 => "Public Key Algorithm: ED25519",
                _ => "Public-Key: (3072 bit)",
            };
            assert!(text.contains(want), "{name}: {want} not in\n{text}");

            // Negative: the chain does not verify under another root.
            let other = TestCa::new(alg, alg);
            write_pem(dir.path(), "other-root.pem", &other.root_der);
            let at = (now() + Duration::hours(1)).unix_timestamp().to_string();
            let out = openssl_fails(
                dir.path(),
                &["verify", "-attime", &at, "-CAfile", "other-root.pem", "-untrusted", "untrusted.pem", "leaf.pem"],
            );
            assert!(out.contains("unable to get local issuer certificate") || out.contains("error"), "{name}: {out}");
        }
    });
}
