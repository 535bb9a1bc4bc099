//! Credentials: what was minted.

use crate::FieldError;
use crate::ids::{AuthorityId, CredentialId, RequestId, Serial, SubjectId};
use crate::names::SanSet;
use crate::profile::{CredentialType, KeyAlgorithm};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CredentialStatus {
    Active,
    Suspended,
    Revoked,
}

impl CredentialStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Revoked => "revoked",
        }
    }

    pub fn parse(field: &str, s: &str) -> Result<Self, FieldError> {
        match s {
            "active" => Ok(Self::Active),
            "suspended" => Ok(Self::Suspended),
            "revoked" => Ok(Self::Revoked),
            _ => Err(FieldError::new(field, format!("`{}` is not a credential status", crate::names::shorten(s)))),
        }
    }
}

/// A minted credential, as recorded. `der` is the credential itself (for
/// X.509, the DER certificate); it is public material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Credential {
    pub id: CredentialId,
    pub credential_type: CredentialType,
    pub serial: Serial,
    pub subject_id: SubjectId,
    pub profile: String,
    pub request_id: RequestId,
    /// The authority key that signed it.
    pub issuer_id: AuthorityId,
    pub key_algorithm: KeyAlgorithm,
    /// SHA-256 of the bound key's DER SubjectPublicKeyInfo, lower-case hex.
    pub key_fingerprint: String,
    pub names: SanSet,
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    pub status: CredentialStatus,
    #[serde(skip)]
    pub der: Vec<u8>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// An authority key's role in the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthorityRole {
    Root,
    Issuing,
}

impl AuthorityRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Root => "root",
            Self::Issuing => "issuing",
        }
    }

    pub fn parse(field: &str, s: &str) -> Result<Self, FieldError> {
        match s {
            "root" => Ok(Self::Root),
            "issuing" => Ok(Self::Issuing),
            _ => Err(FieldError::new(field, format!("`{}` is not an authority role", crate::names::shorten(s)))),
        }
    }
}

/// A certificate authority of this Signet: its certificate and where its
/// private key lives (a `KeyStore` reference, never the key itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authority {
    pub id: AuthorityId,
    pub role: AuthorityRole,
    pub key_algorithm: KeyAlgorithm,
    /// The KeyStore's name for the private key.
    pub key_ref: String,
    pub certificate_der: Vec<u8>,
    /// Whether this authority currently signs new credentials.
    pub active: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}
