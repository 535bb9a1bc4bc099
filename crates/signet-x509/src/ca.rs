//! An issuing CA: [`X509Authority`] implements [`X509Issuer`] (it prepares
//! certificates for the X.509 credential type) and [`StatusPublisher`] (CRL, OCSP).

use crate::certificate::{PreparedCertificate, SignerRef, parse_issuer_ca, prepare};
use crate::key::{PublicKeyInfo, SignatureError, sha256_hex, signature_oid, verify_signature};
use crate::ocsp::IssuerHashes;
use crate::template::{IssuerCa, IssuerTemplate, Template, Urls, cert_time, key_usages_for};
use signet_core::credential_type::PreparedCredential;
use signet_core::mint::{BoundKey, CertStatus, MalformedOcspRequest, MintError, OcspRequest, StatusPublisher, X509Issuer};
use signet_core::ports::AuthoritySigner;
use signet_model::ids::{AuthorityId, Serial};
use signet_model::request::Grant;
use std::fmt;
use std::sync::Arc;
use time::OffsetDateTime;
use x509_parser::x509::AlgorithmIdentifier;

/// An issuing CA: its certificate, its key (behind an [`AuthoritySigner`]),
/// the chain to hand out with each certificate and the public URLs written
/// into each certificate (OCSP, caIssuers, CRL). The same key signs the
/// CRL ([`crate::crl`]) and the OCSP responses ([`crate::ocsp`]) served there.
pub struct X509Authority {
    id: AuthorityId,
    signer: Arc<dyn AuthoritySigner>,
    chain: Vec<Vec<u8>>,
    ca: IssuerCa,
    key: PublicKeyInfo,
    urls: Urls,
    /// How OCSP CertIDs name this CA.
    ocsp: IssuerHashes,
}

impl fmt::Debug for X509Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("X509Authority")
            .field("id", &self.id)
            .field("algorithm", &self.key.algorithm)
            .field("not_after", &self.ca.not_after)
            .field("urls", &self.urls)
            .finish()
    }
}

/// `http(s)://host[:port][/path]`, printable ASCII, no trailing `/`.
fn parse_base_url(base_url: &str) -> Result<String, MintError> {
    let url = base_url.trim_end_matches('/');
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    let ok = rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
        && url.bytes().all(|b| b.is_ascii_graphic())
        && !url.contains(['?', '#']);
    if ok {
        Ok(url.to_string())
    } else {
        Err(MintError::Build(format!("`{base_url}` is not a valid base URL: expected `https://host[:port]`")))
    }
}

impl X509Authority {
    /// `certificate_der` is the issuing CA's certificate; `signer` must hold
    /// its key; `chain_der` starts with `certificate_der` and ends with the
    /// root; `base_url` is the base of the AIA (OCSP, CA issuers) and CRL
    /// distribution point URLs it puts in what it signs: where this Signet
    /// server publishes status.
    pub fn new(
        id: AuthorityId,
        certificate_der: Vec<u8>,
        signer: Arc<dyn AuthoritySigner>,
        chain_der: Vec<Vec<u8>>,
        base_url: String,
    ) -> Result<Self, MintError> {
        let (ca, key) = parse_issuer_ca(&certificate_der)?;
        if key.spki_der != signer.public_key_spki_der() || key.algorithm != signer.algorithm() {
            return Err(MintError::Build("the issuing certificate's public key is not the signer's key".into()));
        }
        if chain_der.first() != Some(&certificate_der) {
            return Err(MintError::Build("the chain must start with the issuing certificate".into()));
        }
        let urls = Urls::for_issuer(&parse_base_url(&base_url)?, id.as_str());
        let ocsp = IssuerHashes::of(&ca.subject_raw, &key);
        Ok(Self { id, signer, chain: chain_der, ca, key, urls, ocsp })
    }

    /// The issuing CA certificate (DER).
    pub fn certificate_der(&self) -> &[u8] {
        &self.ca.cert_der
    }

    /// Build and lint the certificate for `grant` bound to `key`; nothing is
    /// signed yet. Sign it with [`PreparedCertificate::sign`]. The X.509
    /// part of the grant (CN, extended key usages, CA) is read from
    /// `grant.params` ([`crate::credential::X509Params`]).
    pub fn prepare_certificate(&self, grant: &Grant, key: &BoundKey, serial: &Serial) -> Result<PreparedCertificate<'static>, MintError> {
        let x509 = crate::credential::X509Params::of(grant)?;
        let subject_key = PublicKeyInfo::from_spki_der(&key.spki_der).map_err(|e| MintError::Lint(format!("the bound key: {e}")))?;
        if subject_key.algorithm != key.algorithm || grant.key_algorithm != Some(key.algorithm) {
            return Err(MintError::Lint(format!(
                "key algorithm mismatch: granted {:?}, bound {}, actual {}",
                grant.key_algorithm, key.algorithm, subject_key.algorithm
            )));
        }
        if key.fingerprint != sha256_hex(&subject_key.spki_der) {
            return Err(MintError::Lint("the bound key's fingerprint is not the SHA-256 of its public key".into()));
        }
        if !x509.is_ca && x509.path_len.is_some() {
            return Err(MintError::Lint("an end-entity grant has a path length".into()));
        }
        let template = Template {
            serial: crate::der::positive_integer_content(serial.as_bytes()),
            not_before: cert_time(grant.not_before),
            not_after: cert_time(grant.not_after),
            common_name: (!x509.common_name.is_empty()).then(|| x509.common_name.clone()),
            names: grant.names.clone(),
            ca: x509.is_ca.then_some(x509.path_len),
            key_usages: key_usages_for(x509.is_ca, subject_key.algorithm),
            ext_key_usages: x509.ext_key_usages,
            subject_key,
            issuer: IssuerTemplate { key: self.key.clone(), ca: Some(self.ca.clone()) },
            urls: Some(self.urls.clone()),
        };
        prepare(template, SignerRef::Shared(self.signer.clone()))
    }
}

/// A certificate prepared by an issuing CA, as the pipeline holds it.
struct PreparedX509 {
    certificate: PreparedCertificate<'static>,
    issuer_id: AuthorityId,
    may_block: bool,
}

impl PreparedCredential for PreparedX509 {
    fn tbs_sha256(&self) -> [u8; 32] {
        crate::key::sha256(self.certificate.tbs_der())
    }

    fn issuer_id(&self) -> &AuthorityId {
        &self.issuer_id
    }

    fn may_block(&self) -> bool {
        self.may_block
    }

    fn sign(self: Box<Self>) -> Result<Vec<u8>, MintError> {
        self.certificate.sign()?.verify_back()
    }
}

impl StatusPublisher for X509Authority {
    fn issuer_id(&self) -> &AuthorityId {
        &self.id
    }

    fn crl(&self, revoked: &[(Serial, OffsetDateTime)], now: OffsetDateTime) -> Result<Vec<u8>, MintError> {
        crate::crl::build_crl(self.signer.as_ref(), &self.key, &self.ca, revoked, now)
    }

    fn parse_ocsp_request(&self, der: &[u8]) -> Result<OcspRequest, MalformedOcspRequest> {
        crate::ocsp::parse_request(der, &self.ocsp)
    }

    fn ocsp_response(&self, request: &OcspRequest, statuses: &[CertStatus], now: OffsetDateTime) -> Result<Vec<u8>, MintError> {
        crate::ocsp::build_response(self.signer.as_ref(), &self.key, &self.ocsp, request, statuses, now)
    }
}

impl X509Issuer for X509Authority {
    fn issuer_not_before(&self) -> OffsetDateTime {
        self.ca.not_before
    }

    fn issuer_not_after(&self) -> OffsetDateTime {
        self.ca.not_after
    }

    fn chain_der(&self) -> &[Vec<u8>] {
        &self.chain
    }

    fn prepare(&self, grant: &Grant, key: &BoundKey, serial: &Serial) -> Result<Box<dyn PreparedCredential>, MintError> {
        let certificate = self.prepare_certificate(grant, key, serial)?;
        Ok(Box::new(PreparedX509 { certificate, issuer_id: self.id.clone(), may_block: self.signer.may_block() }))
    }
}

/// A [`BoundKey`] for a key this process holds (a new CA key, the server's
/// TLS key): possession is proven by signing a fresh challenge and
/// verifying it under the public key.
pub fn bind_own_key(signer: &dyn AuthoritySigner) -> Result<BoundKey, MintError> {
    let key = PublicKeyInfo::from_spki_der(signer.public_key_spki_der())
        .map_err(|e| MintError::Build(format!("the signer's public key: {e}")))?;
    if key.algorithm != signer.algorithm() {
        return Err(MintError::Build("the signer's public key does not match its algorithm".into()));
    }
    let mut challenge = [0u8; 32];
    aws_lc_rs::rand::fill(&mut challenge).map_err(|_| MintError::Build("no randomness for the possession challenge".into()))?;
    let signature = signer.sign(&challenge)?;
    verify_signature(&key, &AlgorithmIdentifier::new(signature_oid(key.algorithm), None), &signature, &challenge).map_err(|e| match e {
        SignatureError::Invalid => MintError::VerifyBack("the signer's signature does not verify under its public key".into()),
        SignatureError::Unsupported(o) => MintError::Build(format!("unsupported signature algorithm `{o}`")),
    })?;
    let fingerprint = sha256_hex(&key.spki_der);
    Ok(BoundKey { spki_der: key.spki_der, algorithm: key.algorithm, fingerprint })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        assert_eq!(parse_base_url("https://127.0.0.1:8443/").unwrap(), "https://127.0.0.1:8443");
        assert_eq!(parse_base_url("http://ca.example/signet").unwrap(), "http://ca.example/signet");
        for bad in ["ftp://x", "https://", "https:///x", "https://a b", "https://x?y", "127.0.0.1:8443", "https://é"] {
            assert!(parse_base_url(bad).is_err(), "{bad}");
        }
    }
}
