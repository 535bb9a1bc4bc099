//! Request extractors that turn raw HTTP into typed, checked input, with a
//! problem+json naming the field on failure: the JSON body, the caller.

use crate::AppState;
use crate::problem::Problem;
use crate::strict_json::{Node, Strict};
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use signet_core::authority::Caller;
use signet_model::FieldError;
use std::sync::Arc;

/// The largest request body accepted (a CSR is at most 64 KiB).
pub const MAX_BODY: usize = 256 * 1024;

/// How long a request's body may take to arrive, from when its handler
/// starts reading it: a client that sends its headers and then trickles the
/// body (or stops) gets 408 and loses the connection.
pub const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// `read`, the reading of a request body, if it ends within
/// [`BODY_READ_TIMEOUT`]; else 408 `body-timeout`.
pub async fn within_body_timeout<F: std::future::Future>(read: F) -> Result<F::Output, Problem> {
    tokio::time::timeout(BODY_READ_TIMEOUT, read).await.map_err(|_| {
        Problem::new(
            StatusCode::REQUEST_TIMEOUT,
            "body-timeout",
            "request body too slow",
            format!("the request body did not arrive within {} seconds", BODY_READ_TIMEOUT.as_secs()),
        )
    })
}

/// A JSON body, deserialised with the path of the first bad field.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        let ct = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let mime = ct.split(';').next().unwrap_or("").trim();
        if !(mime.eq_ignore_ascii_case("application/json") || mime.to_ascii_lowercase().ends_with("+json")) {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "unsupported media type",
                format!("the body must be `application/json`, not `{}`", signet_model::names::shorten(ct)),
            ));
        }
        let bytes = within_body_timeout(Bytes::from_request(req, state)).await?.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Problem::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body-too-large",
                    "request body too large",
                    format!("the body exceeds {MAX_BODY} bytes"),
                )
            } else {
                Problem::new(StatusCode::BAD_REQUEST, "invalid-body", "unreadable body", "the request body could not be read")
            }
        })?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Deserialise a JSON body, which must be an object ([`strict_json`]: no
/// array read as a struct, no repeated key); on failure name the field
/// (`names.dns[0]`, or `body`) and the reason.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let node: Node = serde_path_to_error::deserialize(&mut de).map_err(json_problem)?;
    de.end().map_err(|_| Problem::invalid(&FieldError::new("body", "trailing characters after the JSON value")))?;
    let kind = match &node {
        Node::Object(_) => None,
        Node::Array(_) => Some("an array"),
        Node::String(_) => Some("a string"),
        Node::Number(_) => Some("a number"),
        Node::Bool(_) => Some("a boolean"),
        Node::Null => Some("null"),
    };
    if let Some(kind) = kind {
        return Err(Problem::invalid(&FieldError::new("body", format!("the request body must be a JSON object, not {kind}"))));
    }
    serde_path_to_error::deserialize(Strict(node)).map_err(json_problem)
}

/// A JSON error as a 400 naming the field: the path serde reached, or the
/// missing field its message names, or `body`.
fn json_problem(e: serde_path_to_error::Error<serde_json::Error>) -> Problem {
    let path = e.path().to_string();
    let inner = e.into_inner();
    let mut field = if path == "." { String::new() } else { path };
    // serde names a missing field only in its message: put it in the path.
    let msg = inner.to_string();
    if let Some(name) = msg.strip_prefix("missing field `").and_then(|m| m.split('`').next()) {
        field = if field.is_empty() { name.to_string() } else { format!("{field}.{name}") };
    }
    let reason = if inner.is_syntax() || inner.is_eof() {
        format!("malformed JSON: {inner}")
    } else {
        // serde's message may end with " at line L column C"; the field path says more.
        match msg.rfind(" at line ") {
            Some(i) => msg[..i].to_string(),
            None => msg,
        }
    };
    Problem::invalid(&FieldError::new(if field.is_empty() { "body".to_string() } else { field }, reason))
}

/// The authenticated caller (`Authorization: Bearer signet_…`, or a client
/// certificate Signet issued to an operator).
#[derive(Debug, Clone)]
pub struct Authed(pub Arc<Caller>);

impl FromRequestParts<Arc<AppState>> for Authed {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Problem> {
        match authenticate(parts, state).await {
            Ok(caller) => Ok(Authed(caller)),
            Err(problem) => {
                let trace = parts.extensions.get::<RequestIdExt>().map(|r| r.0.clone());
                // Nested routers see their path with the prefix stripped; log the one the client sent.
                let path = parts
                    .extensions
                    .get::<axum::extract::OriginalUri>()
                    .map_or_else(|| parts.uri.path().to_string(), |u| u.path().to_string());
                state.authority.record_auth_failure(&problem.detail, &path, trace.as_deref()).await;
                Err(problem)
            }
        }
    }
}

/// Authenticate a request: with an `Authorization: Bearer` operator token
/// when the header is present (it wins over a client certificate: the
/// header is an explicit choice of the client for this request), else with
/// the client certificate the TLS handshake verified, if any.
async fn authenticate(parts: &Parts, state: &Arc<AppState>) -> Result<Arc<Caller>, Problem> {
    let Some(header) = parts.headers.get(header::AUTHORIZATION) else {
        let Some(cert) = parts.extensions.get::<crate::serve::ClientCertificate>() else {
            return Err(Problem::unauthenticated("no `Authorization: Bearer` header and no client certificate"));
        };
        let presented = signet_core::operator_certs::PresentedCertificate {
            der: cert.0.as_slice(),
            serial: signet_x509::certificate::certificate_serial(&cert.0),
        };
        return state.authority.authenticate_certificate(&presented).await.map(Arc::new).map_err(Problem::from);
    };
    let header = header.to_str().map_err(|_| Problem::unauthenticated("the Authorization header is not ASCII"))?;
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .ok_or_else(|| Problem::unauthenticated("the Authorization header must be `Bearer <token>`"))?;
    state.authority.authenticate(token.trim()).await.map_err(Problem::from)
}

/// An authenticated caller allowed to read the log (`log.read`).
#[derive(Debug, Clone)]
pub struct LogReader(pub Arc<Caller>);

impl FromRequestParts<Arc<AppState>> for LogReader {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Problem> {
        let Authed(caller) = Authed::from_request_parts(parts, state).await?;
        let trace = parts.extensions.get::<RequestIdExt>().map(|r| r.0.clone());
        let ctx = signet_core::authority::Ctx { caller: &caller, trace_id: trace.as_deref() };
        state.authority.authorize(ctx, signet_policy::Action::LogRead, &signet_policy::ResourceCtx::Authority).await?;
        Ok(LogReader(caller))
    }
}

/// The id of this HTTP request, set by the request-id middleware.
#[derive(Debug, Clone)]
pub struct RequestIdExt(pub String);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: failing loudly is the point
    use super::*;
    use axum::body::Body;

    /// A JSON request whose body never arrives (the client sent its headers only).
    fn stalled_request() -> Request {
        let never = futures_util::stream::pending::<Result<Bytes, std::io::Error>>();
        Request::builder().header(header::CONTENT_TYPE, "application/json").body(Body::from_stream(never)).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_does_not_arrive_in_time_is_refused_with_408() {
        let started = tokio::time::Instant::now();
        let refused = JsonBody::<serde_json::Value>::from_request(stalled_request(), &()).await.unwrap_err();
        assert_eq!(refused.status, StatusCode::REQUEST_TIMEOUT.as_u16());
        assert_eq!(started.elapsed(), BODY_READ_TIMEOUT, "refused when the time is up, not before");
        // A body that does arrive is read as before.
        let req = Request::builder().header(header::CONTENT_TYPE, "application/json").body(Body::from("{\"a\":1}")).unwrap();
        let JsonBody(v) = JsonBody::<serde_json::Value>::from_request(req, &()).await.unwrap();
        assert_eq!(v["a"], 1);
    }
}
