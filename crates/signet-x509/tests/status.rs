//! Status: the CRL and OCSP responses of an issuing CA, checked by
//! x509-parser and by openssl (the independent peer).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use ::time::{Duration, OffsetDateTime};
use common::*;
use signet_core::clock::SystemClock;
use signet_core::mint::{CertStatus, MintError, StatusPublisher};
use signet_core::ports::Clock;
use signet_model::ids::Serial;
use signet_model::profile::KeyAlgorithm;
use signet_x509::crl::CRL_VALIDITY;
use x509_parser::prelude::{FromDer, ParsedExtension, X509Certificate};
use x509_parser::revocation_list::CertificateRevocationList;
use x509_parser::x509::X509Version;

/// An end-entity certificate with serial `serial(n)` from `ca`.
fn leaf(ca: &TestCa, n: u8) -> Vec<u8> {
    let (_, bound) = own_key(&ca.keys, &format!("leaf-{n}"), KeyAlgorithm::EcdsaP256);
    ca.mint(&server_grant("leaf", names(&["a.example"], &[]), KeyAlgorithm::EcdsaP256), &bound, n).unwrap()
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

/// Run openssl in `dir`, expecting success; returns stdout + stderr.
fn openssl_all(dir: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new("openssl").args(args).current_dir(dir).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "openssl {args:?} failed:\n{text}");
    text
}

fn hex_serial(s: &Serial) -> String {
    format!("0x{}", s.to_hex())
}

#[test]
fn a_crl_lists_the_revoked_serials_and_verifies_under_the_issuing_key() {
    let ca = TestCa::new(KeyAlgorithm::EcdsaP384, KeyAlgorithm::EcdsaP256);
    let this_update = now() + Duration::minutes(30);
    let revoked = [(serial(10), now() + Duration::minutes(5)), (serial(12), now())];
    let der = ca.authority.crl(&revoked, this_update).unwrap();

    let (rest, crl) = CertificateRevocationList::from_der(&der).unwrap();
    assert!(rest.is_empty());
    assert_eq!(crl.version(), Some(X509Version::V2));
    assert_eq!(crl.last_update().to_datetime(), this_update);
    assert_eq!(crl.next_update().unwrap().to_datetime(), this_update + CRL_VALIDITY);
    assert_eq!(crl.crl_number().unwrap().to_u64_digits(), [this_update.unix_timestamp() as u64]);
    let entries: Vec<_> = crl.iter_revoked_certificates().map(|r| (r.raw_serial().to_vec(), r.revocation_date.to_datetime())).collect();
    assert_eq!(entries, [(serial(10).as_bytes().to_vec(), now() + Duration::minutes(5)), (serial(12).as_bytes().to_vec(), now())]);

    let (_, issuing) = X509Certificate::from_der(&ca.issuing_der).unwrap();
    crl.verify_signature(issuing.public_key()).unwrap();
    assert_eq!(crl.issuer().as_raw(), issuing.subject().as_raw());
    let aki = crl.extensions().iter().find_map(|e| match e.parsed_extension() {
        ParsedExtension::AuthorityKeyIdentifier(a) => a.key_identifier.as_ref().map(|k| k.0.to_vec()),
        _ => None,
    });
    assert_eq!(aki, Some(ski(&issuing)));

    // Nothing revoked: revokedCertificates is absent, the CRL still verifies.
    let empty = ca.authority.crl(&[], this_update).unwrap();
    let (_, crl) = CertificateRevocationList::from_der(&empty).unwrap();
    assert_eq!(crl.iter_revoked_certificates().count(), 0);
    crl.verify_signature(issuing.public_key()).unwrap();
}

#[test]
fn openssl_checks_certificates_against_the_crl() {
    if !have_openssl() {
        return;
    }
    for alg in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::Ed25519, KeyAlgorithm::Rsa2048] {
        let ca = TestCa::new(alg, alg);
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let good = leaf(&ca, 10);
        let bad = leaf(&ca, 11);
        write_pem(dir, "good.pem", &good);
        write_pem(dir, "bad.pem", &bad);
        write_pem(dir, "root.pem", &ca.root_der);
        write_pem(dir, "issuing.pem", &ca.issuing_der);
        std::fs::write(dir.join("chain.pem"), signet_x509::chain_pem(&[ca.issuing_der.clone(), ca.root_der.clone()])).unwrap();

        let der = ca.authority.crl(&[(serial(11), now())], now() + Duration::minutes(30)).unwrap();
        std::fs::write(dir.join("crl.der"), &der).unwrap();
        let out = openssl_all(dir, &["crl", "-inform", "DER", "-in", "crl.der", "-CAfile", "chain.pem", "-noout"]);
        assert!(out.contains("verify OK"), "{alg}: {out}");
        let text = openssl(dir, &["crl", "-inform", "DER", "-in", "crl.der", "-noout", "-text"]);
        assert!(
            text.contains("Version 2") && text.contains("X509v3 CRL Number") && text.contains("X509v3 Authority Key Identifier"),
            "{text}"
        );
        assert!(text.to_lowercase().contains(&serial(11).to_hex()), "{text}");
        openssl(dir, &["crl", "-inform", "DER", "-in", "crl.der", "-out", "crl.pem"]);

        let at = (now() + Duration::hours(1)).unix_timestamp().to_string();
        let verify = [
            "verify",
            "-x509_strict",
            "-crl_check",
            "-CRLfile",
            "crl.pem",
            "-attime",
            &at,
            "-CAfile",
            "root.pem",
            "-untrusted",
            "issuing.pem",
        ];
        openssl(dir, &[&verify[..], &["good.pem"]].concat());
        let out = openssl_fails(dir, &[&verify[..], &["bad.pem"]].concat());
        assert!(out.contains("certificate revoked"), "{alg}: {out}");
    }
}

#[test]
fn a_bad_crl_or_ocsp_signature_is_never_returned() {
    let ca = TestCa::new(KeyAlgorithm::EcdsaP256, KeyAlgorithm::EcdsaP256);
    let signer = TestSigner::new(ca.issuing_signer.clone(), true);
    let authority = ca.authority_with(signer.clone()).unwrap();
    assert!(matches!(authority.crl(&[(serial(3), now())], now()), Err(MintError::VerifyBack(_))));
    assert_eq!(signer.calls(), 1);

    let request = ocsp_request_for(&ca, &[serial(3)]);
    let parsed = authority.parse_ocsp_request(&request).unwrap();
    assert!(matches!(authority.ocsp_response(&parsed, &[CertStatus::Good], now()), Err(MintError::VerifyBack(_))));
    assert_eq!(signer.calls(), 2);
}

/// A CRL's content is checked before the key is used.
#[test]
fn bad_crl_entries_are_refused_before_signing() {
    let ca = TestCa::new(KeyAlgorithm::EcdsaP256, KeyAlgorithm::EcdsaP256);
    let signer = TestSigner::new(ca.issuing_signer.clone(), false);
    let authority = ca.authority_with(signer.clone()).unwrap();
    let twice = authority.crl(&[(serial(4), now()), (serial(4), now())], now());
    assert!(matches!(twice, Err(MintError::Lint(m)) if m.contains("twice")));
    let future = authority.crl(&[(serial(4), now() + Duration::minutes(1))], now());
    assert!(matches!(future, Err(MintError::Lint(m)) if m.contains("after thisUpdate")));
    assert_eq!(signer.calls(), 0);
}

/// A request made by hand: SHA-1 CertIDs for `serials` under the issuing CA,
/// no nonce. (The openssl-made requests are in the test below.)
fn ocsp_request_for(ca: &TestCa, serials: &[Serial]) -> Vec<u8> {
    let (_, issuing) = X509Certificate::from_der(&ca.issuing_der).unwrap();
    let sha1 = |d: &[u8]| aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, d).as_ref().to_vec();
    let name = sha1(issuing.subject().as_raw());
    let key = sha1(&issuing.public_key().subject_public_key.data);
    let tlv = |tag: u8, content: &[u8]| {
        let mut out = vec![tag];
        if content.len() < 128 {
            out.push(content.len() as u8);
        } else {
            out.extend([0x82, (content.len() >> 8) as u8, content.len() as u8]);
        }
        out.extend_from_slice(content);
        out
    };
    let alg = tlv(0x30, &[tlv(0x06, &[0x2b, 0x0e, 0x03, 0x02, 0x1a]), vec![0x05, 0x00]].concat());
    let list: Vec<u8> = serials
        .iter()
        .flat_map(|s| tlv(0x30, &tlv(0x30, &[alg.clone(), tlv(0x04, &name), tlv(0x04, &key), tlv(0x02, s.as_bytes())].concat())))
        .collect();
    tlv(0x30, &tlv(0x30, &tlv(0x30, &list)))
}

#[test]
fn openssl_accepts_ocsp_responses_for_good_revoked_held_and_unknown() {
    if !have_openssl() {
        return;
    }
    for alg in [KeyAlgorithm::EcdsaP384, KeyAlgorithm::Ed25519, KeyAlgorithm::Rsa2048] {
        let ca = TestCa::new(alg, alg);
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        write_pem(dir, "root.pem", &ca.root_der);
        write_pem(dir, "issuing.pem", &ca.issuing_der);
        let (good, revoked, held, unknown) = (serial(20), serial(21), serial(22), serial(23));
        let mut args = vec!["ocsp", "-issuer", "issuing.pem", "-nonce", "-reqout", "req.der"];
        let serials: Vec<String> = [&good, &revoked, &held, &unknown].iter().map(|s| hex_serial(s)).collect();
        for s in &serials {
            args.extend(["-serial", s.as_str()]);
        }
        // Another issuer's CertID, in the same request.
        args.extend(["-issuer", "root.pem", "-serial", "0x1234"]);
        openssl(dir, &args);

        let req = std::fs::read(dir.join("req.der")).unwrap();
        let parsed = ca.authority.parse_ocsp_request(&req).unwrap();
        let asked: Vec<_> = parsed.questions.iter().map(|q| q.serial.clone()).collect();
        assert_eq!(asked, [Some(good), Some(revoked), Some(held), Some(unknown), None]);
        assert!(parsed.nonce.is_some());

        // openssl checks the response's times against the real clock.
        let real_now: OffsetDateTime = SystemClock.now();
        let at = real_now - Duration::hours(2);
        let statuses = [
            CertStatus::Good,
            CertStatus::Revoked { revoked_at: at, on_hold: false },
            CertStatus::Revoked { revoked_at: at, on_hold: true },
            CertStatus::Unknown,
            CertStatus::Unknown,
        ];
        let resp = ca.authority.ocsp_response(&parsed, &statuses, real_now).unwrap();
        std::fs::write(dir.join("resp.der"), &resp).unwrap();
        // `-reqin` (not `-serial`, which would make a new request and nonce) so that openssl checks our nonce echo.
        let out = openssl_all(
            dir,
            &["ocsp", "-reqin", "req.der", "-respin", "resp.der", "-CAfile", "root.pem", "-issuer", "issuing.pem", "-resp_text"],
        );
        assert!(out.contains("Response verify OK"), "{alg}: {out}");
        assert!(!out.contains("WARNING") && !out.contains("Nonce Verify error"), "{alg}: {out}");
        assert!(out.contains("OCSP Nonce"), "{alg}: {out}");
        assert!(!out.contains("Responder Id: C ="), "byKey: {out}");
        let states: Vec<&str> = out.lines().filter_map(|l| l.trim().strip_prefix("Cert Status: ")).collect();
        assert_eq!(states, ["good", "revoked", "revoked", "unknown", "unknown"], "{alg}: {out}");
        assert!(out.contains("Revocation Reason: certificateHold"), "{out}");
    }
}
