//! Events: the append-only record of every state change.

use crate::FieldError;
use crate::ids::{CredentialId, RequestId, SubjectId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum EventType {
    #[serde(rename = "authority.created")]
    AuthorityCreated,
    #[serde(rename = "token.created")]
    TokenCreated,
    #[serde(rename = "subject.created")]
    SubjectCreated,
    #[serde(rename = "profile.applied")]
    ProfileApplied,
    #[serde(rename = "request.denied")]
    RequestDenied,
    #[serde(rename = "credential.issued")]
    CredentialIssued,
    /// An authority key other than a CA's was created (the log key).
    #[serde(rename = "key.created")]
    KeyCreated,
    /// A request to an operator endpoint presented no valid credentials.
    #[serde(rename = "operator.auth_failed")]
    OperatorAuthFailed,
    /// An operator was created.
    #[serde(rename = "operator.created")]
    OperatorCreated,
    /// An operator's roles, sites, teams or state changed.
    #[serde(rename = "operator.updated")]
    OperatorUpdated,
    /// An operator token was revoked.
    #[serde(rename = "token.revoked")]
    TokenRevoked,
    /// An authenticated operator was refused an action (403), with the policies and reasons.
    #[serde(rename = "operator.denied")]
    AccessDenied,
    /// A new policy set version became active; details carry the diff.
    #[serde(rename = "policy.activated")]
    PolicyActivated,
    /// A proposed policy set was refused (invalid, or it would lock out every admin).
    #[serde(rename = "policy.rejected")]
    PolicyRejected,
    /// A request awaits approvals (m of n).
    #[serde(rename = "request.pending")]
    RequestPending,
    /// One approval of a pending request was recorded.
    #[serde(rename = "request.approved")]
    RequestApproved,
    /// An approval or denial of a request was refused (expired, already decided, counted already).
    #[serde(rename = "request.approval_refused")]
    ApprovalRefused,
    /// A pending request expired before its approvals were collected.
    #[serde(rename = "request.expired")]
    RequestExpired,
    /// A subject was suspended, reinstated or revoked.
    #[serde(rename = "subject.status_changed")]
    SubjectStatusChanged,
    /// An emergency issuance was asked for (high severity).
    #[serde(rename = "break_glass.requested")]
    BreakGlassRequested,
    /// Key ceremony: the keystore's master key was created (`signet init`,
    /// or the quick start's local unseal key); n, m and the seal id.
    #[serde(rename = "keystore.initialized")]
    KeystoreInitialized,
    /// Key ceremony: the keystore was unsealed (which shares, from where).
    #[serde(rename = "keystore.unsealed")]
    KeystoreUnsealed,
    /// Key ceremony: the keystore was sealed (by whom).
    #[serde(rename = "keystore.sealed")]
    KeystoreSealed,
    /// Key ceremony: a rollover made a new authority key active and retired
    /// the old one (who, old and new ids, key refs and fingerprints).
    #[serde(rename = "authority.rotated")]
    AuthorityRotated,
    /// Key ceremony: a retired authority key was destroyed in the keystore.
    #[serde(rename = "key.destroyed")]
    KeyDestroyed,
    /// `signet recover` on the host (break-glass for the authority itself):
    /// a step of a recovery, with its reason (high severity).
    #[serde(rename = "authority.recovered")]
    AuthorityRecovered,
    /// High severity: the log failed verification (an entry, a leaf hash, an
    /// index column or the tree was changed around the authority); the
    /// authority stopped issuing and recording. The reason names what failed.
    #[serde(rename = "log.integrity_failed")]
    LogIntegrityFailed,
    /// An operator redeemed its enrolment secret for its first token (or a new one after re-enrolment).
    #[serde(rename = "operator.enrolled")]
    OperatorEnrolled,
    /// A privileged grant (role, reach or re-enrolment) waits for a second admin (high severity).
    #[serde(rename = "operator.grant_requested")]
    OperatorGrantRequested,
    /// A privileged grant was approved and applied, denied or found expired (high severity).
    #[serde(rename = "operator.grant_decided")]
    OperatorGrantDecided,
}

impl EventType {
    pub const ALL: [EventType; 30] = [
        Self::AuthorityCreated,
        Self::TokenCreated,
        Self::SubjectCreated,
        Self::ProfileApplied,
        Self::RequestDenied,
        Self::CredentialIssued,
        Self::KeyCreated,
        Self::OperatorAuthFailed,
        Self::OperatorCreated,
        Self::OperatorUpdated,
        Self::TokenRevoked,
        Self::AccessDenied,
        Self::PolicyActivated,
        Self::PolicyRejected,
        Self::RequestPending,
        Self::RequestApproved,
        Self::ApprovalRefused,
        Self::RequestExpired,
        Self::SubjectStatusChanged,
        Self::BreakGlassRequested,
        Self::KeystoreInitialized,
        Self::KeystoreUnsealed,
        Self::KeystoreSealed,
        Self::AuthorityRotated,
        Self::KeyDestroyed,
        Self::AuthorityRecovered,
        Self::LogIntegrityFailed,
        Self::OperatorEnrolled,
        Self::OperatorGrantRequested,
        Self::OperatorGrantDecided,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorityCreated => "authority.created",
            Self::TokenCreated => "token.created",
            Self::SubjectCreated => "subject.created",
            Self::ProfileApplied => "profile.applied",
            Self::RequestDenied => "request.denied",
            Self::CredentialIssued => "credential.issued",
            Self::KeyCreated => "key.created",
            Self::OperatorAuthFailed => "operator.auth_failed",
            Self::OperatorCreated => "operator.created",
            Self::OperatorUpdated => "operator.updated",
            Self::TokenRevoked => "token.revoked",
            Self::AccessDenied => "operator.denied",
            Self::PolicyActivated => "policy.activated",
            Self::PolicyRejected => "policy.rejected",
            Self::RequestPending => "request.pending",
            Self::RequestApproved => "request.approved",
            Self::ApprovalRefused => "request.approval_refused",
            Self::RequestExpired => "request.expired",
            Self::SubjectStatusChanged => "subject.status_changed",
            Self::BreakGlassRequested => "break_glass.requested",
            Self::KeystoreInitialized => "keystore.initialized",
            Self::KeystoreUnsealed => "keystore.unsealed",
            Self::KeystoreSealed => "keystore.sealed",
            Self::AuthorityRotated => "authority.rotated",
            Self::KeyDestroyed => "key.destroyed",
            Self::AuthorityRecovered => "authority.recovered",
            Self::LogIntegrityFailed => "log.integrity_failed",
            Self::OperatorEnrolled => "operator.enrolled",
            Self::OperatorGrantRequested => "operator.grant_requested",
            Self::OperatorGrantDecided => "operator.grant_decided",
        }
    }

    pub fn parse(field: &str, s: &str) -> Result<Self, FieldError> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| FieldError::new(field, format!("`{}` is not an event type", crate::names::shorten(s))))
    }
}

/// An event before the store gives it its index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    pub event_type: EventType,
    /// Who caused it: an operator id (`op_…`), `system`, or `anonymous`.
    pub actor: String,
    pub subject_id: Option<SubjectId>,
    pub request_id: Option<RequestId>,
    pub credential_id: Option<CredentialId>,
    /// Why (for denials).
    pub reason: Option<String>,
    /// Type-specific facts (serial, fingerprint, validity...). Never key material.
    pub details: serde_json::Value,
    /// The id of the HTTP request that caused it, for correlation with logs.
    pub trace_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
}

/// One recorded event, with its position in the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Event {
    pub index: i64,
    pub event_type: EventType,
    pub actor: String,
    pub subject_id: Option<SubjectId>,
    pub request_id: Option<RequestId>,
    pub credential_id: Option<CredentialId>,
    pub reason: Option<String>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub trace_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ALL` lists every variant once: adding a variant fails to compile
    /// here until it is numbered, and the test fails until it is in `ALL`.
    #[test]
    fn all_lists_every_variant_and_names_round_trip() {
        fn position(v: EventType) -> usize {
            match v {
                EventType::AuthorityCreated => 0,
                EventType::TokenCreated => 1,
                EventType::SubjectCreated => 2,
                EventType::ProfileApplied => 3,
                EventType::RequestDenied => 4,
                EventType::CredentialIssued => 5,
                EventType::KeyCreated => 6,
                EventType::OperatorAuthFailed => 7,
                EventType::OperatorCreated => 8,
                EventType::OperatorUpdated => 9,
                EventType::TokenRevoked => 10,
                EventType::AccessDenied => 11,
                EventType::PolicyActivated => 12,
                EventType::PolicyRejected => 13,
                EventType::RequestPending => 14,
                EventType::RequestApproved => 15,
                EventType::ApprovalRefused => 16,
                EventType::RequestExpired => 17,
                EventType::SubjectStatusChanged => 18,
                EventType::BreakGlassRequested => 19,
                EventType::KeystoreInitialized => 20,
                EventType::KeystoreUnsealed => 21,
                EventType::KeystoreSealed => 22,
                EventType::AuthorityRotated => 23,
                EventType::KeyDestroyed => 24,
                EventType::AuthorityRecovered => 25,
                EventType::LogIntegrityFailed => 26,
                EventType::OperatorEnrolled => 27,
                EventType::OperatorGrantRequested => 28,
                EventType::OperatorGrantDecided => 29,
            }
        }
        for (i, v) in EventType::ALL.into_iter().enumerate() {
            assert_eq!(position(v), i);
            assert_eq!(EventType::parse("t", v.as_str()).unwrap(), v);
            assert_eq!(serde_json::to_value(v).unwrap(), v.as_str());
        }
    }
}
