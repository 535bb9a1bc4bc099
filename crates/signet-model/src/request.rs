//! Requests (one ask for one credential) and grants (what was allowed).

use crate::FieldError;
use crate::ids::{CredentialId, RequestId, SubjectId};
use crate::names::SanSet;
use crate::profile::{CredentialType, KeyAlgorithm};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A request's life: `submitted → [pending_approval →] approved → issued`,
/// or `denied`, `expired`, `cancelled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequestState {
    Submitted,
    PendingApproval,
    Approved,
    Issued,
    Denied,
    Expired,
    Cancelled,
}

impl RequestState {
    pub const ALL: [RequestState; 7] =
        [Self::Submitted, Self::PendingApproval, Self::Approved, Self::Issued, Self::Denied, Self::Expired, Self::Cancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submitted => "submitted",
            Self::PendingApproval => "pending_approval",
            Self::Approved => "approved",
            Self::Issued => "issued",
            Self::Denied => "denied",
            Self::Expired => "expired",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(field: &str, s: &str) -> Result<Self, FieldError> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| FieldError::new(field, format!("`{}` is not a request state", crate::names::shorten(s))))
    }

    /// No further transition leaves these states.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Issued | Self::Denied | Self::Expired | Self::Cancelled)
    }
}

/// One ask for one credential, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Request {
    pub id: RequestId,
    pub subject_id: SubjectId,
    pub profile: String,
    pub profile_version: i64,
    pub credential_type: CredentialType,
    pub requested_names: SanSet,
    pub requested_ttl_seconds: Option<i64>,
    /// Scopes (entitlements) asked for.
    #[serde(default)]
    pub requested_scopes: Vec<String>,
    /// What else was asked, in the credential type's own terms (a JWT's
    /// `audience`, …), as that type parsed it; `{}` for X.509.
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    /// The algorithm of the key to bind, once the key's proof of possession was checked.
    pub key_algorithm: Option<KeyAlgorithm>,
    /// SHA-256 of the DER SubjectPublicKeyInfo, lower-case hex.
    pub key_fingerprint: Option<String>,
    /// Who asked: the authenticated operator (`op_…`).
    pub requested_by: String,
    pub state: RequestState,
    /// An emergency request: two approvals with `break_glass.approve`, a
    /// short lifetime, a high-severity event.
    #[serde(default)]
    pub break_glass: bool,
    /// When a pending request stops waiting for approvals.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// The DER SubjectPublicKeyInfo of the key to bind, kept while the
    /// request waits for approvals (its proof of possession was checked on
    /// submission). Not part of the API.
    #[serde(skip)]
    pub key_spki: Option<Vec<u8>>,
    /// Why it was denied (for `denied`), as a `field: reason` sentence.
    pub reason: Option<String>,
    pub credential_id: Option<CredentialId>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// What one approver decided about a pending request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Approve,
    Deny,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Deny => "deny",
        }
    }

    pub fn parse(field: &str, s: &str) -> Result<Self, FieldError> {
        match s {
            "approve" => Ok(Self::Approve),
            "deny" => Ok(Self::Deny),
            _ => Err(FieldError::new(field, format!("`{}` is not a verdict", crate::names::shorten(s)))),
        }
    }
}

/// One approver's decision on a pending request. One per approver: a second
/// approval by the same operator is refused, so each person counts once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Approval {
    pub request_id: RequestId,
    /// The operator id (`op_…`).
    pub approver: String,
    pub verdict: Verdict,
    pub reason: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// What was actually allowed: the intersection of what was asked and what the
/// profile and the policy permit. A credential type builds its credential
/// from a grant (and the bound key) and from nothing else, so nothing a
/// requester sent can reach the signature unchecked.
///
/// The fields every type shares are decided by the pipeline; `params` is
/// the type's own part (X.509: subject CN, extended key usages, CA flag;
/// JWT: audience, client id), decided by that type and read back only by it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub credential_type: CredentialType,
    /// The subject's name.
    pub subject_name: String,
    /// Names allowed (X.509 SANs); empty for types without names.
    pub names: SanSet,
    /// Scopes allowed: those asked, each permitted by the profile.
    pub scopes: Vec<String>,
    /// The algorithm of the bound holder key; `None` for a bearer credential.
    pub key_algorithm: Option<KeyAlgorithm>,
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// The credential type's own part.
    pub params: serde_json::Value,
}

/// `{}`: the `params` of a request stored before types had any.
pub fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}
