//! Certificate status, public by nature (no token): the CRLs and the OCSP
//! responder that every issued certificate points at (cRLDistributionPoints
//! `{base}/crl/{issuer id}`, AIA OCSP `{base}/ocsp`; `{base}` is the
//! configured `status_url`), served on the HTTPS listener and, with
//! `status_listen`, on a plain-HTTP one ([`crate::Routers::public`]), for every published
//! issuing CA: the active one and the retired ones not yet destroyed
//! (docs/KEY-ROLLOVER.md).
//!
//! - `GET /crl/{authority_id}`: that issuing CA's CRL, signed by it; `GET
//!   /crl`: the active one's (DER, `application/pkix-crl`). Built on
//!   demand, kept in memory and served again until half its lifetime
//!   ([`CRL_VALIDITY`]) has passed, so requests do not each cost a signature.
//! - `POST /ocsp` (body: DER `OCSPRequest`, at most
//!   [`ocsp::MAX_REQUEST_BYTES`]) and `GET /ocsp/{base64 request}` (RFC 6960
//!   appendix A; standard or URL-safe alphabet, padding optional): a DER
//!   `OCSPResponse` (`application/ocsp-response`), always HTTP 200 as OCSP
//!   clients expect. A request that does not parse gets `malformedRequest`,
//!   a store failure `tryLater`, a signing failure `internalError`.
//!
//! An OCSP request is answered by the published CA its first CertID names
//! (issuer name and key hashes), signed with that CA's key; CertIDs naming
//! another issuer are `unknown`.
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
use signet_core::listing::Listed;
use signet_core::mint::{CertStatus, X509Issuer};
use signet_core::ports::{CredentialFilter, Page, StoreError};
use signet_model::credential::CredentialStatus;
use signet_model::ids::{AuthorityId, Serial};
use signet_x509::crl::CRL_VALIDITY;
use signet_x509::ocsp::{self, UnsuccessfulStatus};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use time::OffsetDateTime;

pub const PKIX_CRL: &str = "application/pkix-crl";
pub const OCSP_RESPONSE: &str = "application/ocsp-response";

/// The status endpoints' state: the application, and the CRL last built per issuer.
struct StatusState {
    app: Arc<AppState>,
    crls: tokio::sync::Mutex<HashMap<AuthorityId, CachedCrl>>,
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
    let state = Arc::new(StatusState { app, crls: tokio::sync::Mutex::new(HashMap::new()) });
    Router::new()
        .route("/crl", get(crl))
        .route("/crl/{id}", get(crl_of))
        .route("/ocsp", post(ocsp_post))
        .route("/ocsp/{*request}", get(ocsp_get))
        .with_state(state)
}

// ------------------------------------------------------------ CRL

fn crl_response(result: Result<Bytes, Problem>) -> Response {
    match result {
        Ok(der) => ([(header::CONTENT_TYPE, PKIX_CRL)], der).into_response(),
        Err(p) => p.into_response(),
    }
}

/// The active issuing CA's CRL.
async fn crl(State(s): State<Arc<StatusState>>) -> Response {
    let issuer = s.app.authority.issuer();
    crl_response(current_crl(&s, issuer).await)
}

/// A published issuing CA's CRL, by its id.
async fn crl_of(State(s): State<Arc<StatusState>>, id: Result<Path<String>, PathRejection>) -> Response {
    let id = id.map(|Path(id)| id).unwrap_or_default();
    match AuthorityId::parse("id", &id).ok().and_then(|id| s.app.authority.status_issuer(&id)) {
        Some(issuer) => crl_response(current_crl(&s, issuer).await),
        None => Problem::not_found(format!("no published issuing CA `{}`", signet_model::names::shorten(&id))).into_response(),
    }
}

/// The cached CRL of `issuer` if still reusable, else a new one. The lock
/// is held while building, so concurrent requests wait for one signature
/// instead of each making their own.
async fn current_crl(s: &StatusState, issuer: Arc<dyn X509Issuer>) -> Result<Bytes, Problem> {
    let mut cached = s.crls.lock().await;
    let now = s.app.authority.now();
    let id = issuer.issuer_id().clone();
    if let Some(c) = cached.get(&id).filter(|c| reusable(c.built_at, now)) {
        return Ok(c.der.clone());
    }
    let revoked = revoked_serials(&s.app, &id).await.map_err(|e| {
        tracing::error!(error = %e, "cannot list revoked credentials for the CRL");
        Problem::internal()
    })?;
    let der = Bytes::from(issuer.crl(&revoked, now).map_err(|e| {
        tracing::error!(error = %e, "cannot build the CRL");
        Problem::internal()
    })?);
    // Issuers destroyed since are not kept.
    cached.retain(|k, _| s.app.authority.status_issuer(k).is_some());
    cached.insert(id.clone(), CachedCrl { der: der.clone(), built_at: now });
    tracing::info!(issuer = %id, revoked = revoked.len(), "built a new CRL");
    Ok(der)
}

/// Every revoked X.509 credential of `issuer`, with the time
/// [`CertStatus::of`] states (the same rule as OCSP).
async fn revoked_serials(app: &AppState, issuer: &AuthorityId) -> Result<Vec<(Serial, OffsetDateTime)>, StoreError> {
    const PAGE: u32 = 1000;
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    // Paged by position, not by count: a credential revoked while this runs
    // cannot shift the pages and make one revoked earlier be skipped.
    let mut after = None;
    loop {
        let filter = CredentialFilter { status: Some(CredentialStatus::Revoked), page: Page { limit: PAGE, after }, ..Default::default() };
        let page = app.authority.store().list_credentials(&filter).await?;
        let full = page.len() == PAGE as usize;
        after = page.last().map(|c| c.position());
        for c in page {
            if let CertStatus::Revoked { revoked_at, on_hold: false } = CertStatus::of(Some(&c), issuer)
                && seen.insert(c.serial.clone())
            {
                out.push((c.serial, revoked_at));
            }
        }
        if !full {
            return Ok(out);
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
    match crate::extract::within_body_timeout(axum::body::to_bytes(body, ocsp::MAX_REQUEST_BYTES)).await {
        Ok(Ok(der)) => ocsp_response(answer(&s.app, &der).await),
        Ok(Err(_)) => malformed(),
        Err(too_slow) => too_slow.into_response(),
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

/// The OCSPResponse to the DER request `der`, from the published issuing
/// CA that the request's first CertID names (the active one if none).
async fn answer(app: &AppState, der: &[u8]) -> Vec<u8> {
    let mut chosen = None;
    for issuer in app.authority.status_issuers() {
        let request = match issuer.parse_ocsp_request(der) {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "refused an OCSP request");
                return ocsp::unsuccessful_response(UnsuccessfulStatus::MalformedRequest);
            }
        };
        let names_it = request.questions.first().is_some_and(|q| q.serial.is_some());
        if names_it || chosen.is_none() {
            chosen = Some((issuer, request));
        }
        if names_it {
            break;
        }
    }
    let Some((issuer, request)) = chosen else {
        return ocsp::unsuccessful_response(UnsuccessfulStatus::InternalError);
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
