//! The core's error: a stable kind that the HTTP edge maps to problem+json
//! once, and the CLI to a one-line message.

use crate::ports::StoreError;
use signet_model::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The input is malformed or names something that does not exist (400).
    #[error("{0}")]
    Invalid(FieldError),
    /// The input is well-formed but policy refuses it (422). Recorded as a denial.
    #[error("{0}")]
    Denied(FieldError),
    /// A resource addressed by the path does not exist (404).
    #[error("{entity} `{id}` not found")]
    NotFound { entity: &'static str, id: String },
    /// A unique value is already taken (409).
    #[error("{0}")]
    Conflict(FieldError),
    /// No valid credentials were presented (401).
    #[error("{0}")]
    Unauthenticated(String),
    /// The authenticated operator may not do this (403). Recorded in the
    /// log as `operator.denied`, with the policies that decided it.
    #[error("{reason}")]
    Forbidden { reason: String, policies: Vec<String> },
    /// The authority cannot serve this now (503): its keystore is sealed.
    #[error("{0}")]
    Unavailable(String),
    /// Our fault (500): the detail is logged, never sent to clients.
    #[error("internal error: {0}")]
    Internal(String),
    /// A log entry read back fails verification (500 `log-integrity`): the
    /// log was changed around the authority. Trips the integrity alarm.
    #[error("the log fails verification: {0}")]
    LogIntegrity(String),
    /// The log no longer verifies, so nothing more is logged or issued
    /// (503 `log-integrity`) until it is repaired and the server restarted.
    #[error("the log fails verification, so the authority stopped recording and issuing: {0}")]
    LogHalted(String),
}

impl From<StoreError> for CoreError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { field, value, entity } => {
                CoreError::Conflict(FieldError::new(field, format!("{entity} `{value}` already exists")))
            }
            e @ StoreError::SubjectNotActive { .. } => CoreError::Denied(FieldError::new("subject", e.to_string())),
            StoreError::NotPending => CoreError::Conflict(FieldError::new("request", "the request is not pending approval")),
            e @ StoreError::LogIntegrity { .. } => CoreError::LogIntegrity(e.to_string()),
            other => CoreError::Internal(other.to_string()),
        }
    }
}

impl From<crate::mint::MintError> for CoreError {
    fn from(e: crate::mint::MintError) -> Self {
        match e {
            // Sealed between the start of a request and its signature: try again once unsealed.
            crate::mint::MintError::Sign(crate::ports::KeyError::Sealed(why)) => CoreError::Unavailable(why),
            other => CoreError::Internal(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mint::MintError;
    use crate::ports::KeyError;

    #[test]
    fn a_key_sealed_while_signing_is_unavailable_not_internal() {
        assert!(matches!(CoreError::from(MintError::Sign(KeyError::Sealed("sealed".into()))), CoreError::Unavailable(_)));
        assert!(matches!(CoreError::from(MintError::Sign(KeyError::Backend("disk".into()))), CoreError::Internal(_)));
    }
}
