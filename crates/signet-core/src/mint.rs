//! What minting shares across credential types ([`BoundKey`], [`MintError`]),
//! the X.509 signing authority ([`X509Issuer`], implemented in `signet-x509`)
//! and status publication ([`StatusPublisher`]: CRL and OCSP for X.509).
//!
//! A credential type gets a [`Grant`] and a [`BoundKey`] and nothing else,
//! so only checked values can reach a signature (see [`crate::credential_type`]).

use crate::credential_type::PreparedCredential;
use crate::ports::KeyError;
use signet_model::credential::{Credential, CredentialStatus};
use signet_model::ids::{AuthorityId, Serial};
use signet_model::profile::{CredentialType, KeyAlgorithm};
use signet_model::request::Grant;
use time::OffsetDateTime;

/// A public key whose holder has proven possession (for X.509: the CSR's
/// signature verified under it). Only a proof-of-possession check, such as
/// `signet_x509::csr::parse_csr`, should construct one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundKey {
    /// DER SubjectPublicKeyInfo.
    pub spki_der: Vec<u8>,
    pub algorithm: KeyAlgorithm,
    /// SHA-256 of `spki_der`, lower-case hex.
    pub fingerprint: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MintError {
    /// The to-be-signed credential failed a lint: a bug or a bad profile, never signed.
    #[error("lint failed before signing: {0}")]
    Lint(String),
    #[error("building the credential failed: {0}")]
    Build(String),
    #[error("signing failed: {0}")]
    Sign(#[from] KeyError),
    /// The signed credential did not verify under the issuer: never returned.
    #[error("verification after signing failed: {0}")]
    VerifyBack(String),
}

/// What an OCSP responder states about one certificate (RFC 6960 §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertStatus {
    /// Issued by this issuer and neither revoked nor suspended.
    Good,
    /// Revoked at `revoked_at`; `on_hold` for a suspension (CRL reason
    /// certificateHold), which may be lifted.
    Revoked { revoked_at: OffsetDateTime, on_hold: bool },
    /// Not issued by this issuer, or not known at all.
    Unknown,
}

impl CertStatus {
    /// The status of a certificate of `issuer`, from what the store holds
    /// for its serial. No revocation time is recorded yet, so a revoked or
    /// suspended certificate is stated as revoked since its issuance
    /// (`created_at`): the earliest possible time, never a later one.
    pub fn of(credential: Option<&Credential>, issuer: &AuthorityId) -> Self {
        let Some(c) = credential.filter(|c| c.credential_type == CredentialType::X509 && c.issuer_id == *issuer) else {
            return Self::Unknown;
        };
        match c.status {
            CredentialStatus::Active => Self::Good,
            CredentialStatus::Revoked => Self::Revoked { revoked_at: c.created_at, on_hold: false },
            CredentialStatus::Suspended => Self::Revoked { revoked_at: c.created_at, on_hold: true },
        }
    }
}

/// An OCSP request (RFC 6960), parsed by [`X509Issuer::parse_ocsp_request`]
/// and matched against that issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcspRequest {
    /// One per CertID of the request, in request order.
    pub questions: Vec<OcspQuestion>,
    /// The extnValue of the request's nonce extension (RFC 8954), echoed in
    /// the response. `None` when absent, or longer than a 32-octet nonce.
    pub nonce: Option<Vec<u8>>,
}

/// One CertID of an OCSP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcspQuestion {
    /// The CertID, DER, as the response names it.
    pub cert_id_der: Vec<u8>,
    /// The serial asked about, when the CertID names this issuer (issuer
    /// name and key hashes under SHA-1 or SHA-256) and the serial is one
    /// Signet could have issued. `None`: the answer is `unknown`.
    pub serial: Option<Serial>,
}

/// An OCSP request that does not parse: answered with `malformedRequest`.
#[derive(Debug, thiserror::Error)]
#[error("malformed OCSP request: {0}")]
pub struct MalformedOcspRequest(pub String);

/// Publishes the status of what an authority key signed, signed with the
/// same key: for X.509, the CRL and OCSP answers. A retired key keeps
/// publishing until it is destroyed.
pub trait StatusPublisher: Send + Sync {
    fn issuer_id(&self) -> &AuthorityId;
    /// The CRL (RFC 5280 v2, DER) of this issuer at `now`, listing `revoked`
    /// (serial, revocation time): built, linted, signed, verified back.
    fn crl(&self, revoked: &[(Serial, OffsetDateTime)], now: OffsetDateTime) -> Result<Vec<u8>, MintError>;
    /// Parse an OCSP request (DER) and match each CertID against this issuer.
    fn parse_ocsp_request(&self, der: &[u8]) -> Result<OcspRequest, MalformedOcspRequest>;
    /// The `successful` OCSPResponse (DER) answering `request` with
    /// `statuses`, one per question in order: built, linted, signed by this
    /// issuer's key, verified back.
    fn ocsp_response(&self, request: &OcspRequest, statuses: &[CertStatus], now: OffsetDateTime) -> Result<Vec<u8>, MintError>;
}

/// An X.509 issuing CA: prepares (builds and lints) one end-entity or sub-CA
/// certificate from a grant for the X.509 credential type to sign, and
/// publishes the status of what it issued.
pub trait X509Issuer: StatusPublisher {
    /// Certificates are never valid before the issuer's own start…
    fn issuer_not_before(&self) -> OffsetDateTime;
    /// …nor past its expiry.
    fn issuer_not_after(&self) -> OffsetDateTime;
    /// The chain to return with each certificate: issuing CA first, root last.
    fn chain_der(&self) -> &[Vec<u8>];
    /// Build the certificate for `grant` bound to `key` and lint it; signing
    /// the result (which verifies it back) yields its DER.
    fn prepare(&self, grant: &Grant, key: &BoundKey, serial: &Serial) -> Result<Box<dyn PreparedCredential>, MintError>;
    /// Prepare, sign and verify back in one call (tools and tests).
    fn mint(&self, grant: &Grant, key: &BoundKey, serial: &Serial) -> Result<Vec<u8>, MintError> {
        self.prepare(grant, key, serial)?.sign()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use signet_model::ids::{CredentialId, RequestId, SubjectId};
    use signet_model::names::SanSet;

    #[test]
    fn status_of_a_credential() {
        let issued = time::macros::datetime!(2026-03-01 12:00:00 UTC);
        let ours = AuthorityId::from_random([1; 16]);
        let credential = |status| Credential {
            id: CredentialId::from_random([2; 16]),
            credential_type: CredentialType::X509,
            serial: Serial::from_random([3; 16]),
            subject_id: SubjectId::from_random([4; 16]),
            profile: "tls-server".into(),
            request_id: RequestId::from_random([5; 16]),
            issuer_id: ours.clone(),
            key_algorithm: Some(KeyAlgorithm::EcdsaP256),
            key_fingerprint: String::new(),
            names: SanSet::default(),
            not_before: issued,
            not_after: issued,
            status,
            der: Vec::new(),
            created_at: issued,
        };
        assert_eq!(CertStatus::of(Some(&credential(CredentialStatus::Active)), &ours), CertStatus::Good);
        assert_eq!(
            CertStatus::of(Some(&credential(CredentialStatus::Revoked)), &ours),
            CertStatus::Revoked { revoked_at: issued, on_hold: false }
        );
        assert_eq!(
            CertStatus::of(Some(&credential(CredentialStatus::Suspended)), &ours),
            CertStatus::Revoked { revoked_at: issued, on_hold: true }
        );
        let other = AuthorityId::from_random([9; 16]);
        assert_eq!(CertStatus::of(Some(&credential(CredentialStatus::Active)), &other), CertStatus::Unknown);
        assert_eq!(CertStatus::of(None, &ours), CertStatus::Unknown);
    }
}
