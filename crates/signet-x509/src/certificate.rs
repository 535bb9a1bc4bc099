//! The issuance typestates of one certificate:
//!
//! ```text
//! Template ──prepare──▶ PreparedCertificate ──sign(self)──▶ SignedCertificate ──verify_back(self)──▶ DER
//!            build the TBS with rcgen,        the AuthoritySigner       parse, check the signature
//!            lint it; no signature yet        signs the linted bytes    and every field; else nothing
//! ```
//!
//! rcgen builds the to-be-signed bytes through a capturing key (see
//! `key::TbsCapture`); the real signature is made over exactly those bytes,
//! after the lint, so what was linted is what is signed, and the TBS hash is
//! known before signing (for the recorded intent).

use crate::der::{split_tlv, tlv};
use crate::key::{PublicKeyInfo, SignatureError, TbsCapture, sha256_hex, verify_signature};
use crate::template::{IssuerCa, Template, cert_time};
use rustls_pki_types::CertificateDer;
use signet_core::mint::MintError;
use signet_core::ports::AuthoritySigner;
use std::fmt;
use x509_parser::certificate::{TbsCertificate, X509Certificate};
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::FromDer;

/// A linted to-be-signed certificate and the signer that will sign it.
/// [`PreparedCertificate::sign`] consumes it: it can be signed once.
///
/// ```compile_fail
/// fn sign_twice(prepared: signet_x509::PreparedCertificate<'_>) {
///     let _first = prepared.sign();
///     let _second = prepared.sign(); // use of moved value
/// }
/// ```
pub struct PreparedCertificate<'a> {
    tbs_der: Vec<u8>,
    sig_alg_der: Vec<u8>,
    signer: SignerRef<'a>,
    template: Template,
}

/// The key a prepared certificate will be signed with: borrowed (a CA
/// being created), or shared with its issuing CA, so that the prepared
/// certificate can move to a blocking thread to be signed.
pub(crate) enum SignerRef<'a> {
    Borrowed(&'a dyn AuthoritySigner),
    Shared(std::sync::Arc<dyn AuthoritySigner>),
}

impl SignerRef<'_> {
    fn get(&self) -> &dyn AuthoritySigner {
        match self {
            Self::Borrowed(s) => *s,
            Self::Shared(s) => s.as_ref(),
        }
    }
}

impl fmt::Debug for PreparedCertificate<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreparedCertificate")
            .field("tbs_sha256", &self.tbs_sha256_hex())
            .field("signer", &self.signer.get().algorithm())
            .finish()
    }
}

/// A signed certificate not yet verified: its DER is only released by
/// [`SignedCertificate::verify_back`].
pub struct SignedCertificate {
    der: Vec<u8>,
    tbs_der: Vec<u8>,
    sig_alg_der: Vec<u8>,
    template: Template,
}

impl fmt::Debug for SignedCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedCertificate").field("len", &self.der.len()).finish()
    }
}

fn build_err(e: rcgen::Error) -> MintError {
    MintError::Build(format!("rcgen: {e}"))
}

/// Build the TBS for `template` (rcgen, through the capturing key), lint it,
/// and hold it for `signer`.
pub(crate) fn prepare(template: Template, signer: SignerRef<'_>) -> Result<PreparedCertificate<'_>, MintError> {
    template.lint_policy().map_err(MintError::Lint)?;
    if signer.get().public_key_spki_der() != template.issuer.key.spki_der.as_slice()
        || signer.get().algorithm() != template.issuer.key.algorithm
    {
        return Err(MintError::Build("the signer's key is not the issuer certificate's key".into()));
    }
    let params = template.to_params()?;
    let capture = TbsCapture::new(&template.issuer.key);
    let dummy = match &template.issuer.ca {
        None => params.self_signed(&capture).map_err(build_err)?,
        Some(ca) => {
            let issuer = rcgen::Issuer::from_ca_cert_der(&CertificateDer::from(ca.cert_der.as_slice()), &capture).map_err(build_err)?;
            params.signed_by(&template.subject_key, &issuer).map_err(build_err)?
        }
    };
    let captured =
        capture.captured.borrow_mut().take().ok_or_else(|| MintError::Build("rcgen produced no to-be-signed certificate".into()))?;
    let parts = CertParts::split(dummy.der()).ok_or_else(|| MintError::Build("rcgen produced a malformed certificate".into()))?;
    if parts.tbs != captured.as_slice() {
        return Err(MintError::Build("rcgen signed something other than its to-be-signed certificate".into()));
    }
    let sig_alg_der = parts.sig_alg.to_vec();

    let (rest, tbs) =
        TbsCertificate::from_der(&captured).map_err(|e| MintError::Lint(format!("the to-be-signed certificate does not parse: {e}")))?;
    if !rest.is_empty() {
        return Err(MintError::Lint("trailing data after the to-be-signed certificate".into()));
    }
    template.check(&tbs).map_err(MintError::Lint)?;
    Ok(PreparedCertificate { tbs_der: captured, sig_alg_der, signer, template })
}

impl PreparedCertificate<'_> {
    /// The DER to-be-signed certificate: exactly the bytes that will be signed.
    pub fn tbs_der(&self) -> &[u8] {
        &self.tbs_der
    }

    /// SHA-256 of [`Self::tbs_der`], lower-case hex (for the recorded intent).
    pub fn tbs_sha256_hex(&self) -> String {
        sha256_hex(&self.tbs_der)
    }

    /// Sign the linted bytes with the authority key. Consumes the prepared
    /// certificate, so it cannot be signed twice.
    pub fn sign(self) -> Result<SignedCertificate, MintError> {
        let signature = self.signer.get().sign(&self.tbs_der)?;
        let mut bits = Vec::with_capacity(signature.len() + 1);
        bits.push(0); // no unused bits
        bits.extend_from_slice(&signature);
        let body = [self.tbs_der.as_slice(), &self.sig_alg_der, &tlv(0x03, &bits)].concat();
        Ok(SignedCertificate { der: tlv(0x30, &body), tbs_der: self.tbs_der, sig_alg_der: self.sig_alg_der, template: self.template })
    }
}

impl SignedCertificate {
    /// Parse the certificate back, verify its signature under the issuer
    /// key and check every field against the template. Returns the DER
    /// only if all of it holds.
    pub fn verify_back(self) -> Result<Vec<u8>, MintError> {
        let fail = |why: &str| MintError::VerifyBack(why.to_string());
        let parts = CertParts::split(&self.der).ok_or_else(|| fail("the certificate is not one DER SEQUENCE"))?;
        if parts.tbs != self.tbs_der.as_slice() || parts.sig_alg != self.sig_alg_der.as_slice() {
            return Err(fail("the certificate does not carry the prepared to-be-signed bytes"));
        }
        let (rest, cert) =
            X509Certificate::from_der(&self.der).map_err(|e| MintError::VerifyBack(format!("the certificate does not parse: {e}")))?;
        if !rest.is_empty() {
            return Err(fail("trailing data after the certificate"));
        }
        if cert.signature_value.unused_bits != 0 {
            return Err(fail("the signature bit string is malformed"));
        }
        verify_signature(&self.template.issuer.key, &cert.signature_algorithm, &cert.signature_value.data, cert.tbs_certificate.as_ref())
            .map_err(|e| match e {
            SignatureError::Invalid => fail("the signature does not verify under the issuer key"),
            SignatureError::Unsupported(oid) => MintError::VerifyBack(format!("unexpected signature algorithm `{oid}`")),
        })?;
        self.template.check(&cert.tbs_certificate).map_err(MintError::VerifyBack)?;
        Ok(self.der)
    }
}

/// The three parts of a DER Certificate.
struct CertParts<'a> {
    tbs: &'a [u8],
    sig_alg: &'a [u8],
}

impl<'a> CertParts<'a> {
    fn split(der: &'a [u8]) -> Option<Self> {
        let outer = split_tlv(der)?;
        if outer.tag != 0x30 || !outer.rest.is_empty() {
            return None;
        }
        let tbs = split_tlv(outer.content)?;
        let sig_alg = split_tlv(tbs.rest)?;
        let sig = split_tlv(sig_alg.rest)?;
        if tbs.tag != 0x30 || sig_alg.tag != 0x30 || sig.tag != 0x03 || !sig.rest.is_empty() {
            return None;
        }
        Some(Self { tbs: tbs.whole, sig_alg: sig_alg.whole })
    }
}

/// What an issuer certificate tells us, checked: a CA certificate with
/// keyCertSign, a subjectKeyIdentifier and a key we support.
pub(crate) fn parse_issuer_ca(cert_der: &[u8]) -> Result<(IssuerCa, PublicKeyInfo), MintError> {
    let bad = |why: &str| MintError::Build(format!("the issuer certificate {why}"));
    let (rest, cert) = X509Certificate::from_der(cert_der).map_err(|_| bad("does not parse"))?;
    if !rest.is_empty() {
        return Err(bad("has trailing data"));
    }
    let bc = cert.basic_constraints().map_err(|_| bad("has a malformed basicConstraints"))?;
    let Some(bc) = bc.filter(|bc| bc.value.ca) else {
        return Err(bad("is not a CA certificate"));
    };
    let ku = cert.key_usage().map_err(|_| bad("has a malformed keyUsage"))?;
    if !ku.is_some_and(|ku| ku.value.key_cert_sign()) {
        return Err(bad("does not allow keyCertSign"));
    }
    let key_id = cert
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0.to_vec()),
            _ => None,
        })
        .ok_or_else(|| bad("has no subjectKeyIdentifier"))?;
    let key = PublicKeyInfo::from_parsed(cert.public_key()).map_err(|e| MintError::Build(format!("the issuer certificate key: {e}")))?;
    let ca = IssuerCa {
        cert_der: cert_der.to_vec(),
        subject_raw: cert.subject().as_raw().to_vec(),
        key_id,
        not_before: cert_time(cert.validity().not_before.to_datetime()),
        not_after: cert_time(cert.validity().not_after.to_datetime()),
        path_len: bc.value.path_len_constraint,
    };
    Ok((ca, key))
}

/// The serial of a DER certificate, when it is one of the form Signet issues
/// (16 octets); `None` for anything else (unparsable, or another issuer's).
pub fn certificate_serial(der: &[u8]) -> Option<signet_model::ids::Serial> {
    let (rest, cert) = X509Certificate::from_der(der).ok()?;
    if !rest.is_empty() {
        return None;
    }
    let raw = cert.tbs_certificate.raw_serial();
    if raw.len() != 16 {
        return None;
    }
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    signet_model::ids::Serial::parse_hex("serial", &hex).ok()
}
