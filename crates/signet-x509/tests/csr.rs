//! CSR intake: real openssl and rcgen CSRs in, hostile ones refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod common;

use common::*;
use rcgen::{PublicKeyData, SanType};
use signet_model::profile::KeyAlgorithm;
use signet_x509::csr::{MAX_CSR_BYTES, parse_csr};
use signet_x509::pem_encode;

fn reason(input: &[u8]) -> String {
    let e = parse_csr(input).unwrap_err();
    assert_eq!(e.field, "csr");
    e.reason
}

#[test]
fn openssl_csrs_of_every_algorithm_pem_and_der() {
    if !have_openssl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (name, alg) in [
        ("ecdsa-p256", KeyAlgorithm::EcdsaP256),
        ("ecdsa-p384", KeyAlgorithm::EcdsaP384),
        ("ed25519", KeyAlgorithm::Ed25519),
        ("rsa-2048", KeyAlgorithm::Rsa2048),
        ("rsa-3072", KeyAlgorithm::Rsa3072),
        ("rsa-4096", KeyAlgorithm::Rsa4096),
    ] {
        let pem = openssl_csr(dir.path(), name, &[]);
        let der = openssl_csr_der(dir.path());
        let from_pem = parse_csr(&pem).unwrap_or_else(|e| panic!("{name}: {e}"));
        let from_der = parse_csr(&der).unwrap();
        assert_eq!(from_pem, from_der);
        assert_eq!(from_pem.key.algorithm, alg, "{name}");
        assert_eq!(from_pem.common_name.as_deref(), Some("x"));
        assert_eq!(from_pem.names, names(&["a.example"], &["127.0.0.1"]));

        // The fingerprint is the SHA-256 of the SPKI openssl prints.
        openssl(dir.path(), &["req", "-in", "csr.pem", "-pubkey", "-noout", "-out", "pub.pem"]);
        openssl(dir.path(), &["pkey", "-pubin", "-in", "pub.pem", "-outform", "DER", "-out", "pub.der"]);
        let spki = std::fs::read(dir.path().join("pub.der")).unwrap();
        assert_eq!(from_pem.key.spki_der, spki, "{name}");
        let digest = openssl(dir.path(), &["dgst", "-sha256", "-r", "pub.der"]);
        assert_eq!(from_pem.key.fingerprint, digest.split_whitespace().next().unwrap());
    }
}

#[test]
fn rcgen_csrs_of_every_algorithm() {
    for alg in KeyAlgorithm::ALL {
        let key = rcgen_key(alg);
        let sans = vec![
            SanType::DnsName("Web.Example.".try_into().unwrap()),
            SanType::IpAddress("::1".parse().unwrap()),
            SanType::URI("spiffe://example.org/ns/prod/sa/web".try_into().unwrap()),
            SanType::Rfc822Name("ops@example.org".try_into().unwrap()),
        ];
        let der = rcgen_csr(&key, "web", sans);
        let csr = parse_csr(&der).unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(csr.key.algorithm, alg);
        assert_eq!(csr.key.spki_der, key.subject_public_key_info());
        assert_eq!(csr.common_name.as_deref(), Some("web"));
        assert_eq!(csr.names.dns, vec!["web.example"]);
        assert_eq!(csr.names.ip, vec!["::1".parse::<std::net::IpAddr>().unwrap()]);
        assert_eq!(csr.names.uri, vec!["spiffe://example.org/ns/prod/sa/web"]);
        assert_eq!(csr.names.email, vec!["ops@example.org"]);
        // Both PEM labels are accepted.
        for label in ["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"] {
            assert_eq!(parse_csr(pem_encode(label, &der).as_bytes()).unwrap(), csr);
        }
    }
}

#[test]
fn a_csr_without_names_or_cn_is_fine() {
    let key = rcgen_key(KeyAlgorithm::Ed25519);
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    let der = params.serialize_request(&key).unwrap().der().to_vec();
    let csr = parse_csr(&der).unwrap();
    assert!(csr.names.is_empty());
    assert_eq!(csr.common_name, None);
}

#[test]
fn flipped_signature_fails_proof_of_possession() {
    for alg in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::Ed25519, KeyAlgorithm::Rsa2048] {
        let mut der = rcgen_csr(&rcgen_key(alg), "x", vec![]);
        let last = der.len() - 1;
        der[last] ^= 0x01;
        assert_eq!(reason(&der), "the CSR signature does not verify: proof of possession failed", "{alg}");
    }
}

#[test]
fn a_signature_by_another_key_fails_proof_of_possession() {
    // Same subject key, signed by a different key: splice the second CSR's signature in.
    let a = rcgen_csr(&rcgen_key(KeyAlgorithm::Ed25519), "x", vec![]);
    let b = rcgen_csr(&rcgen_key(KeyAlgorithm::Ed25519), "x", vec![]);
    assert_eq!(a.len(), b.len());
    let mut spliced = a.clone();
    let sig_len = 64;
    spliced[a.len() - sig_len..].copy_from_slice(&b[b.len() - sig_len..]);
    assert!(reason(&spliced).contains("proof of possession failed"));
}

#[test]
fn garbage_truncated_and_trailing_data_are_refused() {
    let der = rcgen_csr(&rcgen_key(KeyAlgorithm::EcdsaP256), "x", vec![]);
    let not_csr = "not a PEM or DER certificate signing request";
    assert_eq!(reason(b""), not_csr);
    assert_eq!(reason(b"hello world"), not_csr);
    assert_eq!(reason(&der[..der.len() - 10]), not_csr);
    assert_eq!(reason(&der[..1]), not_csr);
    assert_eq!(reason(&[0x30, 0x03, 0x02, 0x01, 0x00]), not_csr);
    let mut trailing = der.clone();
    trailing.push(0);
    assert_eq!(reason(&trailing), "trailing data after the certificate signing request");
    // PEM: wrong label, two blocks, text after the block, broken base64.
    assert_eq!(reason(pem_encode("CERTIFICATE", &der).as_bytes()), not_csr);
    let pem = pem_encode("CERTIFICATE REQUEST", &der);
    assert_eq!(reason(format!("{pem}{pem}").as_bytes()), not_csr);
    assert_eq!(reason(format!("{pem}junk").as_bytes()), not_csr);
    assert_eq!(reason(pem.replace('A', "!").as_bytes()), not_csr);
    // A certificate is not a CSR.
    let cert = rcgen::CertificateParams::new(vec!["a.example".into()]).unwrap().self_signed(&rcgen_key(KeyAlgorithm::EcdsaP256)).unwrap();
    assert_eq!(reason(cert.der()), not_csr);
}

#[test]
fn oversized_input_is_refused_before_parsing() {
    let mut big = vec![0x30u8; MAX_CSR_BYTES + 1];
    big[1] = 0x84;
    assert!(reason(&big).contains("larger than 64 KiB"));
}

#[test]
fn weak_and_unsupported_keys_are_refused() {
    if !have_openssl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let rsa1024 = openssl_csr(dir.path(), "rsa-1024", &[]);
    assert!(reason(&rsa1024).starts_with("RSA key size 1024 is not allowed"), "{}", reason(&rsa1024));
    let p521 = openssl_csr(dir.path(), "ecdsa-p521", &[]);
    assert!(reason(&p521).starts_with("unsupported elliptic curve `1.3.132.0.35`"), "{}", reason(&p521));
    // RSA-PSS keys and signatures are not on the allow-list.
    openssl(dir.path(), &["genpkey", "-algorithm", "RSA-PSS", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "pss.pem"]);
    openssl(dir.path(), &["req", "-new", "-key", "pss.pem", "-subj", "/CN=x", "-out", "pss.csr"]);
    let pss = std::fs::read(dir.path().join("pss.csr")).unwrap();
    assert!(reason(&pss).starts_with("unsupported key algorithm"), "{}", reason(&pss));
    // SHA-1 signatures are refused even on a good key.
    openssl_csr(dir.path(), "rsa-2048", &["-sha1"]);
    let sha1 = std::fs::read(dir.path().join("csr.pem")).unwrap();
    assert!(reason(&sha1).starts_with("unsupported signature algorithm"), "{}", reason(&sha1));
}

#[test]
fn requested_ca_and_other_extensions_are_ignored() {
    if !have_openssl() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pem = openssl_csr(
        dir.path(),
        "ecdsa-p256",
        &[
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-addext",
            "extendedKeyUsage=codeSigning",
        ],
    );
    let csr = parse_csr(&pem).unwrap();
    assert_eq!(csr.names, names(&["a.example"], &["127.0.0.1"]));
}

#[test]
fn bad_names_name_the_field() {
    let key = rcgen_key(KeyAlgorithm::EcdsaP256);
    let dup =
        rcgen_csr(&key, "x", vec![SanType::DnsName("a.example".try_into().unwrap()), SanType::DnsName("A.example".try_into().unwrap())]);
    let e = parse_csr(&dup).unwrap_err();
    assert_eq!(e.field, "csr.names.dns[1]");
    let bad = rcgen_csr(&key, "x", vec![SanType::DnsName("not a name".try_into().unwrap())]);
    assert_eq!(parse_csr(&bad).unwrap_err().field, "csr.names.dns[0]");
    let other = rcgen_csr(&key, "x", vec![SanType::OtherName((vec![1, 3, 6, 1, 4, 1, 311, 20, 2, 3], "upn@example".into()))]);
    assert!(reason(&other).contains("unsupported type"));
    let long_cn = rcgen_csr(&key, &"c".repeat(65), vec![]);
    assert!(reason(&long_cn).contains("longer than 64"));
}
