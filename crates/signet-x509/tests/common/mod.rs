//! Shared test helpers: an openssl runner, a test CA, grants, signers.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use signet_core::mint::{BoundKey, MintError, X509Issuer};
use signet_core::ports::{AuthoritySigner, KeyError, KeyStore};
use signet_keys::SoftwareKeyStore;
use signet_model::ids::{AuthorityId, Serial};
use signet_model::names::SanSet;
use signet_model::profile::{ExtendedKeyUsage, KeyAlgorithm};
use signet_model::request::Grant;
use signet_x509::{X509Authority, create_issuing, create_root, pem_encode};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use time::{Duration, OffsetDateTime};

pub const BASE_URL: &str = "https://127.0.0.1:8443";

/// A fixed "now"; openssl verifies with `-attime` an hour later.
pub fn now() -> OffsetDateTime {
    time::macros::datetime!(2026-03-01 12:00:00 UTC)
}

pub fn serial(n: u8) -> Serial {
    Serial::from_random([n; 16])
}

/// openssl must be here: its absence fails the test (scripts/test installs
/// it), so an interop test that could not run is never counted as passed.
pub fn have_openssl() -> bool {
    let ok = Command::new("openssl").arg("version").output().map(|o| o.status.success()).unwrap_or(false);
    assert!(ok, "openssl is needed by the interop tests: run scripts/test, which installs the test peers");
    ok
}

/// Run openssl in `dir`; panics with its stderr on failure. Returns stdout.
pub fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run openssl in `dir`, expecting failure; returns stdout + stderr.
pub fn openssl_fails(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("run openssl");
    assert!(!out.status.success(), "openssl {args:?} unexpectedly succeeded");
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

pub fn write_pem(dir: &Path, name: &str, der: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, pem_encode("CERTIFICATE", der)).unwrap();
    path
}

/// `openssl verify -x509_strict` of `leaf` against `root` with `untrusted` intermediates.
pub fn openssl_verify(dir: &Path, root: &[u8], untrusted: &[&[u8]], leaf: &[u8], extra: &[&str]) -> String {
    write_pem(dir, "root.pem", root);
    let chain: String = untrusted.iter().map(|d| pem_encode("CERTIFICATE", d)).collect();
    std::fs::write(dir.join("untrusted.pem"), chain).unwrap();
    write_pem(dir, "leaf.pem", leaf);
    let at = (now() + Duration::hours(1)).unix_timestamp().to_string();
    let mut args = vec!["verify", "-x509_strict", "-attime", &at, "-CAfile", "root.pem"];
    if !untrusted.is_empty() {
        args.extend(["-untrusted", "untrusted.pem"]);
    }
    args.extend(extra);
    args.push("leaf.pem");
    openssl(dir, &args)
}

pub fn openssl_text(dir: &Path, der: &[u8]) -> String {
    write_pem(dir, "show.pem", der);
    openssl(dir, &["x509", "-in", "show.pem", "-noout", "-text"])
}

/// A root and an issuing CA in a software keystore, and the authority over them.
pub struct TestCa {
    pub dir: tempfile::TempDir,
    pub keys: SoftwareKeyStore,
    pub root_der: Vec<u8>,
    pub root_signer: Arc<dyn AuthoritySigner>,
    pub issuing_der: Vec<u8>,
    pub issuing_signer: Arc<dyn AuthoritySigner>,
    pub authority: X509Authority,
}

impl TestCa {
    pub fn new(root_alg: KeyAlgorithm, issuing_alg: KeyAlgorithm) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let keys = SoftwareKeyStore::new(dir.path().join("keys")).unwrap();
        let (root_der, root_signer) =
            create_root(&keys, "root", root_alg, "Signet Test Root", &serial(1), now(), Duration::days(3650)).unwrap();
        let (issuing_der, issuing_signer) = create_issuing(
            &keys,
            "issuing",
            issuing_alg,
            "Signet Test Issuing CA",
            &serial(2),
            now(),
            Duration::days(1825),
            &root_der,
            root_signer.as_ref(),
        )
        .unwrap();
        let authority = X509Authority::new(
            AuthorityId::from_random([7; 16]),
            issuing_der.clone(),
            issuing_signer.clone(),
            vec![issuing_der.clone(), root_der.clone()],
            BASE_URL.to_string(),
        )
        .unwrap();
        Self { dir, keys, root_der, root_signer, issuing_der, issuing_signer, authority }
    }

    /// An authority over the issuing CA whose signer is wrapped.
    pub fn authority_with(&self, signer: Arc<dyn AuthoritySigner>) -> Result<X509Authority, MintError> {
        X509Authority::new(
            AuthorityId::from_random([8; 16]),
            self.issuing_der.clone(),
            signer,
            vec![self.issuing_der.clone(), self.root_der.clone()],
            BASE_URL.into(),
        )
    }

    pub fn mint(&self, grant: &TestGrant, key: &BoundKey, n: u8) -> Result<Vec<u8>, MintError> {
        self.authority.mint(&grant.grant(), key, &serial(n))
    }
}

pub fn names(dns: &[&str], ip: &[&str]) -> SanSet {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    SanSet::parse("names", &s(dns), &s(ip), &[], &[]).unwrap()
}

/// A grant as these tests shape it: the common fields and the X.509 part
/// side by side; [`TestGrant::grant`] is the pipeline's `Grant`.
#[derive(Debug, Clone)]
pub struct TestGrant {
    pub common_name: String,
    pub names: SanSet,
    pub key_algorithm: KeyAlgorithm,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub ext_key_usages: Vec<ExtendedKeyUsage>,
    pub is_ca: bool,
    pub path_len: Option<u8>,
}

impl TestGrant {
    pub fn grant(&self) -> Grant {
        signet_x509::X509Params::grant(
            &self.common_name,
            self.names.clone(),
            self.key_algorithm,
            self.not_before,
            self.not_after,
            self.ext_key_usages.clone(),
            self.is_ca,
            self.path_len,
        )
    }
}

/// An end-entity TLS server grant for `key`, one day from `now()`.
pub fn server_grant(cn: &str, names: SanSet, alg: KeyAlgorithm) -> TestGrant {
    TestGrant {
        common_name: cn.to_string(),
        names,
        key_algorithm: alg,
        not_before: now(),
        not_after: now() + Duration::days(1),
        ext_key_usages: vec![ExtendedKeyUsage::ServerAuth, ExtendedKeyUsage::ClientAuth],
        is_ca: false,
        path_len: None,
    }
}

/// A signer wrapper that counts calls and can corrupt its signatures.
pub struct TestSigner {
    pub inner: Arc<dyn AuthoritySigner>,
    pub corrupt: bool,
    pub calls: AtomicUsize,
}

impl TestSigner {
    pub fn new(inner: Arc<dyn AuthoritySigner>, corrupt: bool) -> Arc<Self> {
        Arc::new(Self { inner, corrupt, calls: AtomicUsize::new(0) })
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl AuthoritySigner for TestSigner {
    fn algorithm(&self) -> KeyAlgorithm {
        self.inner.algorithm()
    }

    fn public_key_spki_der(&self) -> &[u8] {
        self.inner.public_key_spki_der()
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let mut sig = self.inner.sign(message)?;
        if self.corrupt {
            let last = sig.len() - 1;
            sig[last] ^= 0x01;
        }
        Ok(sig)
    }
}

/// Generate a key in `keys` and bind it (for sub-CA tests).
pub fn own_key(keys: &dyn KeyStore, key_ref: &str, alg: KeyAlgorithm) -> (Arc<dyn AuthoritySigner>, BoundKey) {
    let signer = keys.generate(key_ref, alg).unwrap();
    let bound = signet_x509::bind_own_key(signer.as_ref()).unwrap();
    (signer, bound)
}

/// `openssl req` key options for each algorithm (plus P-521 for a negative test).
pub fn openssl_key_args(alg: &str) -> Vec<&'static str> {
    match alg {
        "ecdsa-p256" => vec!["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "ecdsa-p384" => vec!["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
        "ecdsa-p521" => vec!["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-521"],
        "ed25519" => vec!["-newkey", "ed25519"],
        "rsa-1024" => vec!["-newkey", "rsa:1024"],
        "rsa-2048" => vec!["-newkey", "rsa:2048"],
        "rsa-3072" => vec!["-newkey", "rsa:3072"],
        "rsa-4096" => vec!["-newkey", "rsa:4096"],
        other => panic!("no openssl key options for {other}"),
    }
}

/// A CSR made by `openssl req` in `dir` (PEM), CN=x, SANs DNS:a.example and
/// IP:127.0.0.1, plus `extra` arguments (more `-addext`s).
pub fn openssl_csr(dir: &Path, alg: &str, extra: &[&str]) -> Vec<u8> {
    let mut args = vec!["req", "-new"];
    args.extend(openssl_key_args(alg));
    args.extend(["-nodes", "-keyout", "csr-key.pem", "-subj", "/CN=x", "-addext", "subjectAltName=DNS:a.example,IP:127.0.0.1"]);
    args.extend(extra);
    args.extend(["-out", "csr.pem"]);
    openssl(dir, &args);
    std::fs::read(dir.join("csr.pem")).unwrap()
}

/// The DER form of the CSR last written by [`openssl_csr`] in `dir`.
pub fn openssl_csr_der(dir: &Path) -> Vec<u8> {
    openssl(dir, &["req", "-in", "csr.pem", "-outform", "DER", "-out", "csr.der"]);
    std::fs::read(dir.join("csr.der")).unwrap()
}

/// A CSR made by rcgen, with the given key, CN and SANs.
pub fn rcgen_csr(key: &rcgen::KeyPair, cn: &str, sans: Vec<rcgen::SanType>) -> Vec<u8> {
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(rcgen::DnType::CommonName, cn);
    params.subject_alt_names = sans;
    params.serialize_request(key).unwrap().der().to_vec()
}

pub fn rcgen_key(alg: KeyAlgorithm) -> rcgen::KeyPair {
    match alg {
        KeyAlgorithm::EcdsaP256 => rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap(),
        KeyAlgorithm::EcdsaP384 => rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap(),
        KeyAlgorithm::Ed25519 => rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap(),
        KeyAlgorithm::Rsa2048 => rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048).unwrap(),
        KeyAlgorithm::Rsa3072 => rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_3072).unwrap(),
        KeyAlgorithm::Rsa4096 => rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_4096).unwrap(),
    }
}
