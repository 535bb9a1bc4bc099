//! Minting: chains openssl accepts, lints that stop bad certificates before
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns
//! any signature, verify-back that stops bad signatures.

mod common;

use ::time::Duration;
use common::*;
use signet_core::mint::{BoundKey, MintError, StatusPublisher, X509Issuer};
use signet_core::ports::AuthoritySigner;
use signet_model::ids::AuthorityId;
use signet_model::profile::KeyAlgorithm;
use signet_x509::{X509Authority, parse_csr, server_identity};
use std::sync::Arc;
use x509_parser::prelude::{FromDer, ParsedExtension, X509Certificate};

fn parse(der: &[u8]) -> X509Certificate<'_> {
    let (rest, cert) = X509Certificate::from_der(der).unwrap();
    assert!(rest.is_empty());
    cert
}

fn ski(cert: &X509Certificate<'_>) -> Vec<u8> {
    cert.extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
            _ => None,
        })
        .unwrap()
}

fn aki(cert: &X509Certificate<'_>) -> Option<Vec<u8>> {
    cert.extensions().iter().find_map(|e| match e.parsed_extension() {
        ParsedExtension::AuthorityKeyIdentifier(a) => a.key_identifier.as_ref().map(|k| k.0.to_vec()),
        _ => None,
    })
}

#[test]
fn bootstrap_creates_a_root_and_an_issuing_ca() {
    let ca = TestCa::new(KeyAlgorithm::EcdsaP384, KeyAlgorithm::EcdsaP256);
    let root = parse(&ca.root_der);
    let issuing = parse(&ca.issuing_der);

    let bc = root.basic_constraints().unwrap().unwrap();
    assert!(bc.critical && bc.value.ca);
    assert_eq!(bc.value.path_len_constraint, Some(1));
    let ku = root.key_usage().unwrap().unwrap();
    assert!(ku.critical && ku.value.key_cert_sign() && ku.value.crl_sign() && !ku.value.digital_signature());
    assert_eq!(root.issuer().as_raw(), root.subject().as_raw());
    assert!(aki(&root).is_none());
    root.verify_signature(None).unwrap();
    assert_eq!(root.validity().not_before.to_datetime(), now());
    assert_eq!(root.validity().not_after.to_datetime(), now() + Duration::days(3650));

    let bc = issuing.basic_constraints().unwrap().unwrap();
    assert!(bc.critical && bc.value.ca);
    assert_eq!(bc.value.path_len_constraint, Some(0));
    assert_eq!(aki(&issuing), Some(ski(&root)));
    assert_ne!(ski(&issuing), ski(&root));
    assert_eq!(issuing.issuer().as_raw(), root.subject().as_raw());
    issuing.verify_signature(Some(root.public_key())).unwrap();
    assert_eq!(issuing.raw_serial(), serial(2).as_bytes());

    // The keys are in the keystore and reload to the same public keys.
    use signet_core::ports::KeyStore;
    assert_eq!(ca.keys.load("root").unwrap().public_key_spki_der(), root.public_key().raw);
    assert_eq!(ca.keys.load("issuing").unwrap().public_key_spki_der(), issuing.public_key().raw);
    assert_eq!(ca.authority.chain_der(), &[ca.issuing_der.clone(), ca.root_der.clone()]);
    assert_eq!(ca.authority.issuer_not_after(), now() + Duration::days(1825));
}

#[test]
fn issuing_validity_is_clipped_to_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let keys = signet_keys::SoftwareKeyStore::new(dir.path().to_path_buf()).unwrap();
    let (root, root_signer) =
        signet_x509::create_root(&keys, "r", KeyAlgorithm::Ed25519, "Short Root", &serial(1), now(), Duration::days(30)).unwrap();
    let (issuing, _) = signet_x509::create_issuing(
        &keys,
        "i",
        KeyAlgorithm::Ed25519,
        "Long Issuing",
        &serial(2),
        now(),
        Duration::days(1825),
        &root,
        root_signer.as_ref(),
    )
    .unwrap();
    assert_eq!(parse(&issuing).validity().not_after.to_datetime(), now() + Duration::days(30));
    // The key refs are taken now: no overwrite.
    assert!(matches!(
        signet_x509::create_root(&keys, "r", KeyAlgorithm::Ed25519, "Again", &serial(3), now(), Duration::days(30)),
        Err(MintError::Sign(signet_core::ports::KeyError::Exists(_)))
    ));
}

#[test]
fn openssl_csrs_become_certificates_openssl_verifies() {
    if !have_openssl() {
        return;
    }
    let ca = TestCa::new(KeyAlgorithm::EcdsaP384, KeyAlgorithm::EcdsaP256);
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
        let csr = parse_csr(&openssl_csr(dir.path(), name, &[])).unwrap();
        let grant = server_grant("a.example", csr.names.clone(), alg);
        let leaf = ca.mint(&grant, &csr.key, 10 + n as u8).unwrap();

        let out = openssl_verify(dir.path(), &ca.root_der, &[&ca.issuing_der], &leaf, &["-purpose", "sslserver"]);
        assert!(out.contains("leaf.pem: OK"), "{name}: {out}");

        // The issued certificate is for the CSR's key (openssl agrees).
        let leaf_pub = openssl(dir.path(), &["x509", "-in", "leaf.pem", "-noout", "-pubkey"]);
        let csr_pub = openssl(dir.path(), &["req", "-in", "csr.pem", "-noout", "-pubkey"]);
        assert_eq!(leaf_pub, csr_pub, "{name}");

        let text = openssl_text(dir.path(), &leaf);
        for want in [
            "Subject: CN = a.example",
            "X509v3 Basic Constraints: critical",
            "CA:FALSE",
            "X509v3 Key Usage: critical",
            "Digital Signature",
            "TLS Web Server Authentication, TLS Web Client Authentication",
            "X509v3 Subject Alternative Name: \n                DNS:a.example, IP Address:127.0.0.1",
            "X509v3 Subject Key Identifier",
            "X509v3 Authority Key Identifier",
            format!(
                "Authority Information Access: \n                OCSP - URI:https://127.0.0.1:8443/ocsp\n                CA Issuers - URI:https://127.0.0.1:8443/ca/{}",
                ca.authority.issuer_id()
            )
            .as_str(),
            format!(
                "X509v3 CRL Distribution Points: \n                Full Name:\n                  URI:https://127.0.0.1:8443/crl/{}",
                ca.authority.issuer_id()
            )
            .as_str(),
        ] {
            assert!(text.contains(want), "{name}: missing `{want}` in\n{text}");
        }
        assert_eq!(text.contains("Key Encipherment"), alg == KeyAlgorithm::Rsa3072, "{name}");
        assert!(!text.contains("Certificate Sign"), "{name}");
    }
}

#[test]
fn every_authority_key_algorithm_issues_verifiable_chains() {
    if !have_openssl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (root_alg, issuing_alg) in [
        (KeyAlgorithm::Ed25519, KeyAlgorithm::Ed25519),
        (KeyAlgorithm::Rsa2048, KeyAlgorithm::Rsa2048),
        (KeyAlgorithm::EcdsaP256, KeyAlgorithm::EcdsaP384),
        (KeyAlgorithm::Rsa3072, KeyAlgorithm::EcdsaP256),
    ] {
        let ca = TestCa::new(root_alg, issuing_alg);
        let key = rcgen_key(KeyAlgorithm::EcdsaP256);
        let csr = parse_csr(&rcgen_csr(&key, "svc", vec![rcgen::SanType::DnsName("svc.internal".try_into().unwrap())])).unwrap();
        let leaf = ca.mint(&server_grant("svc.internal", csr.names.clone(), csr.key.algorithm), &csr.key, 20).unwrap();
        let out = openssl_verify(dir.path(), &ca.root_der, &[&ca.issuing_der], &leaf, &[]);
        assert!(out.contains("leaf.pem: OK"), "{root_alg}/{issuing_alg}: {out}");
        let cert = parse(&leaf);
        cert.verify_signature(Some(parse(&ca.issuing_der).public_key())).unwrap();
    }
}

#[test]
fn rcgen_csrs_of_every_algorithm_round_trip() {
    let ca = TestCa::new(KeyAlgorithm::EcdsaP256, KeyAlgorithm::EcdsaP256);
    for (n, alg) in KeyAlgorithm::ALL.into_iter().enumerate() {
        let key = rcgen_key(alg);
        let csr = parse_csr(&rcgen_csr(
            &key,
            "ignored-cn",
            vec![
                rcgen::SanType::DnsName("web.example".try_into().unwrap()),
                rcgen::SanType::URI("spiffe://example.org/web".try_into().unwrap()),
                rcgen::SanType::Rfc822Name("ops@example.org".try_into().unwrap()),
            ],
        ))
        .unwrap();
        let mut grant = server_grant("web.example", csr.names.clone(), alg);
        grant.ext_key_usages = vec![signet_model::profile::ExtendedKeyUsage::ClientAuth];
        let der = ca.mint(&grant, &csr.key, 30 + n as u8).unwrap();
        let cert = parse(&der);
        assert_eq!(cert.public_key().raw, csr.key.spki_der.as_slice(), "{alg}");
        assert_eq!(cert.raw_serial(), serial(30 + n as u8).as_bytes());
        assert_eq!(cert.subject().to_string(), "CN=web.example");
        let san = cert.subject_alternative_name().unwrap().unwrap();
        assert_eq!(san.value.general_names.len(), 3);
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.client_auth && !eku.server_auth);
        assert_eq!(aki(&cert), Some(ski(&parse(&ca.issuing_der))));
    }
}

#[test]
fn a_csr_asking_for_ca_true_still_gets_an_end_entity_certificate() {
    if !have_openssl() {
        return;
    }
    let ca = TestCa::new(KeyAlgorithm::EcdsaP256, KeyAlgorithm::EcdsaP256);
    let dir = tempfile::tempdir().unwrap();
    let pem = openssl_csr(
        dir.path(),
        "ecdsa-p256",
        &["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"],
    );
    let csr = parse_csr(&pem).unwrap();
    let leaf = ca.mint(&server_grant("a.example", csr.names.clone(), csr.key.algorithm), &csr.key, 40).unwrap();
    let cert = parse(&leaf);
    let bc = cert.basic_constraints().unwrap().unwrap();
    assert!(bc.critical && !bc.value.ca);
    assert!(!cert.key_usage().unwrap().unwrap().value.key_cert_sign());
    let text = openssl_text(dir.path(), &leaf);
    assert!(text.contains("CA:FALSE") && !text.contains("CA:TRUE") && !text.contains("Certificate Sign"), "{text}");
}

#[test]
fn validity_past_the_issuer_is_a_lint_error_and_nothing_is_signed() {
    let ca = TestCa::new(KeyAlgorithm::EcdsaP256, KeyAlgorithm::EcdsaP256);
    let counting = TestSigner::new(ca.issuing_signer.clone(), false);
    let authority = ca.authority_with(counting.clone()).unwrap();
    let key = parse_csr(&rcgen_csr(&rcgen_key(KeyAlgorithm::Ed25519), "x", vec![])).unwrap().key;

    let mut grant = server_grant("x", Default::default(), KeyAlgorithm::Ed25519);
    grant.not_after = authority.issuer_not_after() + Duration::seconds(1);
    match authority.mint(&grant.grant(), &key, &serial(50)) {
        Err(MintError::Lint(m)) => assert!(m.contains("not inside the issuer's"), "{m}"),
        other => panic!("expected a lint error, got {other:?}"),
    }
    let mut before = server_grant("x", Default::default(), KeyAlgorithm::Ed25519);
    before.not_before = now() - Duration::seconds(1);
    assert!(matches!(authority.mint(&before.grant(), &key, &serial(50)), Err(MintError::Lint(_))));
    let mut inverted = server_grant("x", Default::default(), KeyAlgorithm::Ed25519);
    inverted.not_after = inverted.not_before;
    assert!(matches!(authority.mint(&inverted.grant(), &key, &serial(50)), Err(MintError::Lint(_))));
    assert_eq!(counting.calls(), 0, "nothing may be signed after a lint error");

    // The same authority signs a good grant exactly once.
    authority.mint(&server_grant("x", Default::default(), KeyAlgorithm::Ed25519).grant(), &key, &serial(51)).unwrap();
    assert_eq!(counting.calls(), 1);
}

#[test]
fn other_lints_stop_bad_grants_before_signing() {
    let ca = TestCa::new(KeyAlgorithm::EcdsaP256, KeyAlgorithm::EcdsaP256);
    let counting = TestSigner::new(ca.issuing_signer.clone(), false);
    let authority = ca.authority_with(counting.clone()).unwrap();
    let key = parse_csr(&rcgen_csr(&rcgen_key(KeyAlgorithm::EcdsaP256), "x", vec![])).unwrap().key;
    let lint = |grant: &TestGrant, key: &BoundKey, serial_bytes: [u8; 16]| {
        let serial =
            signet_model::ids::Serial::parse_hex("s", &serial_bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()).unwrap();
        match authority.mint(&grant.grant(), key, &serial) {
            Err(MintError::Lint(m)) => m,
            other => panic!("expected a lint error, got {other:?}"),
        }
    };
    let good = server_grant("x", Default::default(), KeyAlgorithm::EcdsaP256);
    let ok_serial = *serial(1).as_bytes();

    let mut g = good.clone();
    g.key_algorithm = KeyAlgorithm::Ed25519;
    assert!(lint(&g, &key, ok_serial).contains("key algorithm mismatch"));
    let mut k = key.clone();
    k.algorithm = KeyAlgorithm::EcdsaP384;
    assert!(lint(&good, &k, ok_serial).contains("key algorithm mismatch"));
    let mut k = key.clone();
    k.fingerprint = "00".repeat(32);
    assert!(lint(&good, &k, ok_serial).contains("fingerprint"));
    let mut g = good.clone();
    g.common_name = String::new();
    assert!(lint(&g, &key, ok_serial).contains("neither a common name nor a subject alternative name"));
    let mut g = good.clone();
    g.path_len = Some(0);
    assert!(lint(&g, &key, ok_serial).contains("path length"));
    let mut g = good.clone();
    g.is_ca = true;
    g.path_len = Some(0);
    assert!(lint(&g, &key, ok_serial).contains("path length constraint 0"), "the issuing CA (pathlen 0) cannot sign a sub-CA");
    assert!(lint(&good, &key, [0; 16]).contains("zero"));
    assert_eq!(counting.calls(), 0);

    // Serials with the top bit set are encoded positive (17 octets) and accepted.
    let der = authority.mint(&good.grant(), &key, &signet_model::ids::Serial::parse_hex("s", &"ff".repeat(16)).unwrap()).unwrap();
    assert_eq!(parse(&der).raw_serial().len(), 17);
}

#[test]
fn a_signer_returning_a_bad_signature_fails_verify_back() {
    let ca = TestCa::new(KeyAlgorithm::EcdsaP256, KeyAlgorithm::EcdsaP256);
    let key = parse_csr(&rcgen_csr(&rcgen_key(KeyAlgorithm::EcdsaP256), "x", vec![])).unwrap().key;
    let grant = server_grant("x", Default::default(), KeyAlgorithm::EcdsaP256);
    let bad = TestSigner::new(ca.issuing_signer.clone(), true);
    let authority = ca.authority_with(bad.clone()).unwrap();
    match authority.mint(&grant.grant(), &key, &serial(60)) {
        Err(MintError::VerifyBack(m)) => assert!(m.contains("does not verify"), "{m}"),
        other => panic!("expected VerifyBack, got {other:?}"),
    }
    assert_eq!(bad.calls(), 1);
    // A signer holding a different key than the issuing certificate is refused up front.
    let (other, _) = own_key(&ca.keys, "other", KeyAlgorithm::EcdsaP256);
    assert!(matches!(ca.authority_with(other), Err(MintError::Build(_))));
}

#[test]
fn prepared_certificates_expose_their_tbs_and_sign_once() {
    let ca = TestCa::new(KeyAlgorithm::Ed25519, KeyAlgorithm::Ed25519);
    let key = parse_csr(&rcgen_csr(&rcgen_key(KeyAlgorithm::Ed25519), "x", vec![])).unwrap().key;
    let grant = server_grant("x", Default::default(), KeyAlgorithm::Ed25519);
    let prepared = ca.authority.prepare_certificate(&grant.grant(), &key, &serial(70)).unwrap();
    let tbs = prepared.tbs_der().to_vec();
    let hash = prepared.tbs_sha256_hex();
    assert_eq!(hash.len(), 64);
    // Preparing is deterministic for Ed25519 (no randomness in the TBS).
    assert_eq!(ca.authority.prepare_certificate(&grant.grant(), &key, &serial(70)).unwrap().tbs_sha256_hex(), hash);
    let der = prepared.sign().unwrap().verify_back().unwrap();
    assert_eq!(parse(&der).tbs_certificate.as_ref(), tbs.as_slice());
}

#[test]
fn a_sub_ca_grant_makes_an_intermediate_openssl_accepts() {
    if !have_openssl() {
        return;
    }
    let ca = TestCa::new(KeyAlgorithm::EcdsaP384, KeyAlgorithm::EcdsaP256);
    // The root (path length 1) issues a sub-CA with path length 0.
    let over_root = X509Authority::new(
        AuthorityId::from_random([9; 16]),
        ca.root_der.clone(),
        ca.root_signer.clone(),
        vec![ca.root_der.clone()],
        BASE_URL.into(),
    )
    .unwrap();
    let (sub_signer, sub_key) = own_key(&ca.keys, "site-1", KeyAlgorithm::EcdsaP256);
    let mut grant = server_grant("Signet Site 1 CA", Default::default(), KeyAlgorithm::EcdsaP256);
    grant.is_ca = true;
    grant.path_len = Some(0);
    grant.ext_key_usages = vec![];
    grant.not_after = now() + Duration::days(365);
    let sub_der = over_root.mint(&grant.grant(), &sub_key, &serial(80)).unwrap();
    let sub = parse(&sub_der);
    let bc = sub.basic_constraints().unwrap().unwrap();
    assert!(bc.critical && bc.value.ca && bc.value.path_len_constraint == Some(0));
    let ku = sub.key_usage().unwrap().unwrap().value;
    assert!(ku.key_cert_sign() && ku.crl_sign() && !ku.digital_signature());

    // The sub-CA issues a leaf; openssl accepts the chain.
    let site = X509Authority::new(
        AuthorityId::from_random([10; 16]),
        sub_der.clone(),
        sub_signer,
        vec![sub_der.clone(), ca.root_der.clone()],
        BASE_URL.into(),
    )
    .unwrap();
    let key =
        parse_csr(&rcgen_csr(&rcgen_key(KeyAlgorithm::EcdsaP256), "x", vec![rcgen::SanType::DnsName("edge.example".try_into().unwrap())]))
            .unwrap();
    let leaf = site.mint(&server_grant("edge.example", key.names.clone(), KeyAlgorithm::EcdsaP256).grant(), &key.key, &serial(81)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = openssl_verify(dir.path(), &ca.root_der, &[&sub_der], &leaf, &["-purpose", "sslserver"]);
    assert!(out.contains("leaf.pem: OK"), "{out}");
    let text = openssl_text(dir.path(), &sub_der);
    assert!(text.contains("CA:TRUE, pathlen:0"), "{text}");

    // And the sub-CA (path length 0) cannot mint a further CA.
    let mut deeper = grant.clone();
    deeper.not_after = now() + Duration::days(30);
    let (_, deeper_key) = own_key(&ca.keys, "site-2", KeyAlgorithm::EcdsaP256);
    assert!(matches!(site.mint(&deeper.grant(), &deeper_key, &serial(82)), Err(MintError::Lint(_))));
}

#[test]
fn server_identity_is_a_verifiable_tls_chain_with_an_in_memory_key() {
    let ca = TestCa::new(KeyAlgorithm::EcdsaP384, KeyAlgorithm::EcdsaP256);
    let id =
        server_identity(&ca.authority, &names(&["localhost", "signet.internal"], &["127.0.0.1"]), &serial(90), now(), Duration::days(90))
            .unwrap();
    assert_eq!(id.chain_der.len(), 3);
    assert_eq!(id.chain_der[1], ca.issuing_der);
    assert_eq!(id.chain_der[2], ca.root_der);
    let leaf = parse(&id.chain_der[0]);
    assert_eq!(leaf.subject().to_string(), "CN=localhost");
    assert!(leaf.extended_key_usage().unwrap().unwrap().value.server_auth);
    // The key matches the certificate.
    let kp =
        aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(&aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING, &id.key_pkcs8_der).unwrap();
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::signature::KeyPair;
    assert_eq!(kp.public_key().as_der().unwrap().as_ref(), leaf.public_key().raw);
    let dbg = format!("{id:?}");
    assert!(dbg.contains("redacted") && dbg.len() < 200, "{dbg}");
    // The issuer's expiry caps the lifetime.
    let long = server_identity(&ca.authority, &names(&["localhost"], &[]), &serial(91), now(), Duration::days(100_000)).unwrap();
    assert_eq!(parse(&long.chain_der[0]).validity().not_after.to_datetime(), ca.authority.issuer_not_after());

    if have_openssl() {
        let dir = tempfile::tempdir().unwrap();
        let out = openssl_verify(
            dir.path(),
            &ca.root_der,
            &[&ca.issuing_der],
            &id.chain_der[0],
            &["-purpose", "sslserver", "-verify_hostname", "signet.internal"],
        );
        assert!(out.contains("leaf.pem: OK"), "{out}");
        let out = openssl_verify(dir.path(), &ca.root_der, &[&ca.issuing_der], &id.chain_der[0], &["-verify_ip", "127.0.0.1"]);
        assert!(out.contains("leaf.pem: OK"), "{out}");
    }
}

#[test]
fn authority_construction_checks_its_inputs() {
    let ca = TestCa::new(KeyAlgorithm::EcdsaP256, KeyAlgorithm::EcdsaP256);
    let id = AuthorityId::from_random([1; 16]);
    let s: Arc<dyn AuthoritySigner> = ca.issuing_signer.clone();
    let chain = vec![ca.issuing_der.clone(), ca.root_der.clone()];
    assert!(X509Authority::new(id.clone(), ca.issuing_der.clone(), s.clone(), vec![ca.root_der.clone()], BASE_URL.into()).is_err());
    assert!(X509Authority::new(id.clone(), ca.issuing_der.clone(), s.clone(), chain.clone(), "ftp://x".into()).is_err());
    assert!(X509Authority::new(id.clone(), b"junk".to_vec(), s.clone(), chain.clone(), BASE_URL.into()).is_err());
    // An end-entity certificate cannot be an issuer.
    let key = parse_csr(&rcgen_csr(&rcgen_key(KeyAlgorithm::EcdsaP256), "x", vec![])).unwrap().key;
    let leaf = ca.mint(&server_grant("x", Default::default(), KeyAlgorithm::EcdsaP256), &key, 99).unwrap();
    match X509Authority::new(id, leaf.clone(), s, vec![leaf], BASE_URL.into()) {
        Err(MintError::Build(m)) => assert!(m.contains("not a CA"), "{m}"),
        other => panic!("expected a build error, got {other:?}"),
    }
}
