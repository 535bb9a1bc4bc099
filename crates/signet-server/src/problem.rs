//! RFC 9457 problem details: the one place where errors become HTTP responses.
//!
//! Core errors carry a stable kind; this module maps each kind to a status,
//! a `type` URI and a title, and keeps internal detail out of the body.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use signet_core::CoreError;
use signet_model::FieldError;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// A problem+json body. `field` and `reason` name what was wrong with the input.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem (`urn:signet:problem:…`).
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The request field at fault, as a path (`names.dns[1]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Why that field was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For a 403: the `@id`s of the policies that refused it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policies: Option<Vec<String>>,
    /// The id of this HTTP request (also in the `x-request-id` header and in the log).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl Problem {
    pub fn new(status: StatusCode, kind: &str, title: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("urn:signet:problem:{kind}"),
            title: title.to_string(),
            status: status.as_u16(),
            detail: detail.into(),
            field: None,
            reason: None,
            policies: None,
            request_id: None,
        }
    }

    pub fn with_field(status: StatusCode, kind: &str, title: &str, e: &FieldError) -> Self {
        let mut p = Self::new(status, kind, title, e.to_string());
        p.field = Some(e.field.clone());
        p.reason = Some(e.reason.clone());
        p
    }

    /// 400 for a malformed field.
    pub fn invalid(e: &FieldError) -> Self {
        Self::with_field(StatusCode::BAD_REQUEST, "invalid-input", "invalid input", e)
    }

    pub fn unauthenticated(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", "authentication required", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "not found", detail)
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
            "the server failed; the request id identifies it in the server log",
        )
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl From<CoreError> for Problem {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::Invalid(f) => Problem::invalid(&f),
            CoreError::Denied(f) => Problem::with_field(StatusCode::UNPROCESSABLE_ENTITY, "policy-denied", "request denied by policy", &f),
            CoreError::NotFound { entity, id } => Problem::not_found(format!("{entity} `{id}` not found")),
            CoreError::Conflict(f) => Problem::with_field(StatusCode::CONFLICT, "conflict", "conflict with the current state", &f),
            CoreError::Unauthenticated(why) => Problem::unauthenticated(why),
            CoreError::Forbidden { reason, policies } => {
                let mut p = Problem::new(StatusCode::FORBIDDEN, "forbidden", "not permitted", reason);
                p.policies = Some(policies);
                p
            }
            CoreError::Unavailable(detail) => Problem::new(StatusCode::SERVICE_UNAVAILABLE, "sealed", "the authority is sealed", detail),
            CoreError::LogIntegrity(detail) => {
                tracing::error!(error = %detail, "the log fails verification");
                Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "log-integrity", "the log fails verification", detail)
            }
            CoreError::LogHalted(detail) => {
                Problem::new(StatusCode::SERVICE_UNAVAILABLE, "log-integrity", "the log fails verification", detail)
            }
            CoreError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                Problem::internal()
            }
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut resp = (status, body).into_response();
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"signet\""));
        }
        resp
    }
}

impl From<signet_core::ports::StoreError> for Problem {
    fn from(e: signet_core::ports::StoreError) -> Self {
        Problem::from(CoreError::from(e))
    }
}

/// Handlers return this; `?` on a `CoreError` maps it once, here.
pub type ApiResult<T> = Result<T, Problem>;
