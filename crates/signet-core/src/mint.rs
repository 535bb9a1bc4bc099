//! The boundary between the pipeline and a credential type's minting code.
//!
//! A credential type implements [`X509Issuer`]-like traits in `signet-x509`
//! (and later siblings); the pipeline hands it a [`Grant`] and a [`BoundKey`]
//! and nothing else, so only checked values can reach a signature.

use crate::ports::KeyError;
use signet_model::ids::{AuthorityId, Serial};
use signet_model::profile::KeyAlgorithm;
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

/// An X.509 issuing authority: builds, lints, signs and verifies back one
/// end-entity (or sub-CA) certificate from a grant.
pub trait X509Issuer: Send + Sync {
    fn issuer_id(&self) -> &AuthorityId;
    /// Certificates are never valid before the issuer's own start…
    fn issuer_not_before(&self) -> OffsetDateTime;
    /// …nor past its expiry.
    fn issuer_not_after(&self) -> OffsetDateTime;
    /// The chain to return with each certificate: issuing CA first, root last.
    fn chain_der(&self) -> &[Vec<u8>];
    /// Build the certificate for `grant` bound to `key`, lint it, sign it,
    /// verify the signature and contents back, and return its DER.
    fn mint(&self, grant: &Grant, key: &BoundKey, serial: &Serial) -> Result<Vec<u8>, MintError>;
}
