//! Certificate status, public by nature (no token): the CRL and the OCSP
//! responder that every issued certificate points at (cRLDistributionPoints
//! `{base}/crl`, AIA OCSP `{base}/ocsp`).
//!
//! - `GET /crl`: the issuing CA's CRL (DER, `application/pkix-crl`). Built
//!   on demand, kept in memory and served again until half its lifetime
//!   ([`CRL_VALIDITY`]) has passed, so requests do not each cost a signature.
//! - `POST /ocsp` (body: DER `OCSPRequest`, at most
//!   [`ocsp::MAX_REQUEST_BYTES`]) and `GET /ocsp/{base64 request}` (RFC 6960
//!   appendix A; standard or URL-safe alphabet, padding optional): a DER
//!   `OCSPResponse` (`application/ocsp-response`), always HTTP 200 as OCSP
//!   clients expect. A request that does not parse gets `malformedRequest`,
//!   a store failure `tryLater`, a signing failure `internalError`.
//!
//! Parsing and signing are the issuer's ([`signet_core::mint::X509Issuer`]),
//! the status rule is [`CertStatus::of`]; this module only looks serials up
//! in the store and caches the CRL.

use crate::AppState;
use crate::problem::Problem;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use signet_core::mint::CertStatus;
use signet_core::ports::{CredentialFilter, Page, StoreError};
use signet_model::credential::CredentialStatus;
use signet_model::ids::Serial;
use signet_x509::crl::CRL_VALIDITY;
use signet_x509::ocsp::{self, UnsuccessfulStatus};
use std::collections::HashSet;
use std::sync::Arc;
use time::OffsetDateTime;

pub const PKIX_CRL: &str = "application/pkix-crl";
pub const OCSP_RESPONSE: &str = "application/ocsp-response";

/// The status endpoints' state: the application, and the CRL last built.
struct StatusState {
    app: Arc<AppState>,
    crl: tokio::sync::Mutex<Option<CachedCrl>>,
}

struct CachedCrl {
    der: Bytes,
    built_at: OffsetDateTime,
}

/// A CRL built at `built_at` is served again until half its lifetime has
/// passed (and not if the clock went back).
fn reusable(built_at: OffsetDateTime, now: OffsetDateTime) -> bool {
    now >= built_at && now - built_at < CRL_VALIDITY / 2
}

/// The routes `/crl`, `/ocsp` and `/ocsp/{request}`, with their own state.
pub fn routes<S>(app: Arc<AppState>) -> Router<S> {
    let state = Arc::new(StatusState { app, crl: tokio::sync::Mutex::new(None) });
    Router::new().route("/crl", get(crl)).route("/ocsp", post(ocsp_post)).route("/ocsp/{*request}", get(ocsp_get)).with_state(state)
}

// ------------------------------------------------------------ CRL

async fn crl(State(s): State<Arc<StatusState>>) -> Response {
    match current_crl(&s).await {
        Ok(der) => ([(header::CONTENT_TYPE, PKIX_CRL)], der).into_response(),
        Err(p) => p.into_response(),
    }
}

/// The cached CRL if still reusable, else a new one. The lock is held while
/// building, so concurrent requests wait for one signature instead of each
/// making their own.
async fn current_crl(s: &StatusState) -> Result<Bytes, Problem> {
    let mut cached = s.crl.lock().await;
    let now = s.app.authority.now();
    if let Some(c) = cached.as_ref().filter(|c| reusable(c.built_at, now)) {
        return Ok(c.der.clone());
    }
    let revoked = revoked_serials(&s.app).await.map_err(|e| {
        tracing::error!(error = %e, "cannot list revoked credentials for the CRL");
        Problem::internal()
    })?;
    let der = Bytes::from(s.app.authority.issuer().crl(&revoked, now).map_err(|e| {
        tracing::error!(error = %e, "cannot build the CRL");
        Problem::internal()
    })?);
    *cached = Some(CachedCrl { der: der.clone(), built_at: now });
    tracing::info!(revoked = revoked.len(), "built a new CRL");
    Ok(der)
}

/// Every revoked X.509 credential of the active issuer, with the time
/// [`CertStatus::of`] states (the same rule as OCSP).
async fn revoked_serials(app: &AppState) -> Result<Vec<(Serial, OffsetDateTime)>, StoreError> {
    const PAGE: u32 = 1000;
    let issuer = app.authority.issuer().issuer_id();
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut offset = 0u32;
    loop {
        let filter = CredentialFilter { status: Some(CredentialStatus::Revoked), page: Page { limit: PAGE, offset }, ..Default::default() };
        let page = app.authority.store().list_credentials(&filter).await?;
        let full = page.len() == PAGE as usize;
        for c in page {
            if let CertStatus::Revoked { revoked_at, on_hold: false } = CertStatus::of(Some(&c), issuer)
                && seen.insert(c.serial.clone())
            {
                out.push((c.serial, revoked_at));
            }
        }
        match offset.checked_add(PAGE) {
            Some(next) if full => offset = next,
            _ => return Ok(out),
        }
    }
}

// ------------------------------------------------------------ OCSP

fn ocsp_response(der: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, OCSP_RESPONSE)], der).into_response()
}

fn malformed() -> Response {
    ocsp_response(ocsp::unsuccessful_response(UnsuccessfulStatus::MalformedRequest))
}

async fn ocsp_post(State(s): State<Arc<StatusState>>, body: Body) -> Response {
    match axum::body::to_bytes(body, ocsp::MAX_REQUEST_BYTES).await {
        Ok(der) => ocsp_response(answer(&s.app, &der).await),
        Err(_) => malformed(),
    }
}

async fn ocsp_get(State(s): State<Arc<StatusState>>, request: Result<Path<String>, PathRejection>) -> Response {
    match request.ok().and_then(|Path(b64)| decode_get_request(&b64)) {
        Some(der) => ocsp_response(answer(&s.app, &der).await),
        None => malformed(),
    }
}

/// The request in a GET path (already percent-decoded): base64, standard or
/// URL-safe alphabet, with or without padding; at most
/// [`ocsp::MAX_REQUEST_BYTES`] once decoded.
fn decode_get_request(b64: &str) -> Option<Vec<u8>> {
    if b64.len() > ocsp::MAX_REQUEST_BYTES.div_ceil(3) * 4 {
        return None;
    }
    let standard: String = b64
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    base64::engine::general_purpose::STANDARD_NO_PAD.decode(standard).ok()
}

/// The OCSPResponse to the DER request `der`.
async fn answer(app: &AppState, der: &[u8]) -> Vec<u8> {
    let issuer = app.authority.issuer();
    let request = match issuer.parse_ocsp_request(der) {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(error = %e, "refused an OCSP request");
            return ocsp::unsuccessful_response(UnsuccessfulStatus::MalformedRequest);
        }
    };
    let mut statuses = Vec::with_capacity(request.questions.len());
    for q in &request.questions {
        let status = match &q.serial {
            None => CertStatus::Unknown,
            Some(serial) => match app.authority.store().get_credential_by_serial(serial).await {
                Ok(credential) => CertStatus::of(credential.as_ref(), issuer.issuer_id()),
                Err(e) => {
                    tracing::error!(error = %e, "cannot look up a serial for OCSP");
                    return ocsp::unsuccessful_response(UnsuccessfulStatus::TryLater);
                }
            },
        };
        statuses.push(status);
    }
    match issuer.ocsp_response(&request, &statuses, app.authority.now()) {
        Ok(der) => der,
        Err(e) => {
            tracing::error!(error = %e, "cannot build an OCSP response");
            ocsp::unsuccessful_response(UnsuccessfulStatus::InternalError)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    #[test]
    fn a_crl_is_reused_for_half_its_lifetime() {
        let t = time::macros::datetime!(2026-03-01 12:00:00 UTC);
        assert!(reusable(t, t));
        assert!(reusable(t, t + CRL_VALIDITY / 2 - Duration::seconds(1)));
        assert!(!reusable(t, t + CRL_VALIDITY / 2));
        assert!(!reusable(t, t - Duration::seconds(1)));
    }

    #[test]
    fn get_requests_decode_in_either_base64_alphabet() {
        let der = vec![0x30, 0xfb, 0xff, 0x3e, 0x00];
        let std = base64::engine::general_purpose::STANDARD.encode(&der);
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&der);
        assert_ne!(std.trim_end_matches('='), url);
        assert_eq!(decode_get_request(&std), Some(der.clone()));
        assert_eq!(decode_get_request(&url), Some(der));
        assert_eq!(decode_get_request("not base64!"), None);
        assert_eq!(decode_get_request(&"A".repeat(100_000)), None);
    }
}
