//! Signet's HTTP adapter: routes, problem+json, TLS, first-start bootstrap.
//!
//! A request's path: [`seal::router`] (the sealed layer: `/v1/sys/*`, and
//! while sealed 503 for everything but health) → [`router`] → request-id middleware → an extractor that
//! authenticates ([`extract::Authed`]) and one that parses the body
//! ([`extract::JsonBody`]) → a handler in [`api`] → `signet_core::Authority`
//! → response, or a [`problem::Problem`].

// Handlers return `Result<_, Problem>`; a problem is built only on the error
// path, where its size does not matter.
#![allow(clippy::result_large_err)]

pub mod api;
pub mod authorities;
pub mod bootstrap;
pub mod config;
pub mod events;
pub mod extract;
pub mod governance;
pub mod init;
pub mod log;
pub mod metrics;
pub mod openapi;
pub mod problem;
pub mod recover;
pub mod seal;
pub mod serve;
pub mod status;
pub mod strict_json;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use extract::RequestIdExt;
use problem::Problem;
use signet_core::Authority;
use signet_core::ports::Rng;
use std::sync::Arc;

/// What every handler can reach.
pub struct AppState {
    pub authority: Arc<Authority>,
    pub rng: Arc<dyn Rng>,
    pub root_der: Vec<u8>,
    /// The data directory (`ca.pem` is rewritten there after a rollover).
    pub data_dir: std::path::PathBuf,
    /// The OpenAPI document, rendered once at start.
    pub openapi_json: String,
    pub metrics: metrics::Metrics,
    /// The log's signing key (through the KeyStore) and origin.
    pub log_key: Arc<signet_core::log::LogKey>,
    /// Set once this authority stops serving (the server stops, or is
    /// sealed): long-lived responses, the event stream, end then instead of
    /// holding a stopping server's connections open or outliving a seal.
    pub stopping: tokio::sync::watch::Sender<bool>,
}

impl AppState {
    /// End the long-lived responses (see [`AppState::stopping`]).
    pub fn stop_streams(&self) {
        self.stopping.send_replace(true);
    }

    /// The CA bundle served at `/ca.pem`: every published issuing CA (the
    /// active one first, then the retired ones), then the root.
    pub fn ca_bundle_pem(&self) -> String {
        let mut ders: Vec<Vec<u8>> = self.authority.status_issuers().iter().filter_map(|i| i.chain_der().first().cloned()).collect();
        ders.push(self.root_der.clone());
        signet_x509::pem::chain_pem(&ders)
    }
}

/// All routes. Public by nature: health, readiness, the OpenAPI document,
/// the CA certificates and certificate status (CRL, OCSP: see [`status`]).
/// Everything under `/v1` needs an operator token or an operator client certificate.
pub fn router(state: Arc<AppState>) -> Router {
    routers(state).api
}

/// The two faces of one authority, sharing its state (and its CRL cache).
pub struct Routers {
    /// Every route: [`router`], what the HTTPS listener serves.
    pub api: Router,
    /// Only what is public and signed, for the plain-HTTP `status_listen`:
    /// health, readiness, the CA certificates, the CRLs and OCSP.
    pub public: Router,
}

pub fn routers(state: Arc<AppState>) -> Routers {
    let status = status::routes(state.clone());
    Routers { api: api_router(state.clone(), status.clone()), public: public_router(state, status) }
}

/// Health, readiness and the CA certificates (what caIssuers URLs name).
fn health_and_ca_routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/ca.pem", get(ca_pem))
        .route("/ca/issuing.der", get(issuing_der))
        .route("/ca/root.der", get(root_der))
        .route("/ca/{id}", get(authority_der))
}

/// What every router ends with: the status routes (CRL, OCSP) after the
/// latency layer, the answers for unknown routes and methods, the body
/// limit and the request context.
fn finish<H, T>(routes: Router<Arc<AppState>>, status: Router<Arc<AppState>>, not_found: H, state: Arc<AppState>) -> Router
where
    H: axum::handler::Handler<T, Arc<AppState>>,
    T: 'static,
{
    routes
        // Every route above, nested ones included: after routing, so the
        // matched route template is known.
        .route_layer(middleware::from_fn_with_state(state.clone(), record_latency))
        .merge(status)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(extract::MAX_BODY))
        .layer(middleware::from_fn_with_state(state.rng.clone(), request_context))
        .with_state(state)
}

fn public_router(state: Arc<AppState>, status: Router<Arc<AppState>>) -> Router {
    let not_found = || async {
        Problem::not_found(
            "this listener serves only certificate status and CA certificates (/crl, /ocsp, /ca/…); the API is on the HTTPS listener",
        )
    };
    finish(health_and_ca_routes(), status, not_found, state)
}

fn api_router(state: Arc<AppState>, status: Router<Arc<AppState>>) -> Router {
    let v1 = Router::new()
        .route("/subjects", post(api::create_subject).get(api::list_subjects))
        .route("/subjects/{id}", get(api::get_subject))
        .route("/subjects/{id}/suspend", post(governance::suspend_subject))
        .route("/subjects/{id}/reinstate", post(governance::reinstate_subject))
        .route("/subjects/{id}/revoke", post(governance::revoke_subject))
        .route("/profiles", get(api::list_profiles))
        .route("/profiles/{name}", get(api::get_profile).put(api::put_profile))
        .route("/requests", post(api::create_request).get(api::list_requests))
        .route("/requests/{id}", get(api::get_request))
        .route("/requests/{id}/approve", post(governance::approve_request))
        .route("/requests/{id}/deny", post(governance::deny_request))
        .route("/requests/{id}/approvals", get(governance::list_approvals))
        .route("/break-glass", post(governance::break_glass))
        .route("/operators", post(governance::create_operator).get(governance::list_operators))
        .route("/operators/{id}", get(governance::get_operator).put(governance::update_operator))
        .route("/operators/{id}/tokens", post(governance::create_token).get(governance::list_tokens))
        .route("/operators/{id}/certificates", post(governance::create_operator_certificate))
        .route("/operators/{id}/enrolment", post(governance::set_enrolment))
        .route("/operators/enrol", post(governance::enrol))
        .route("/operators/grants", get(governance::list_grants))
        .route("/operators/grants/{id}/approve", post(governance::approve_grant))
        .route("/operators/grants/{id}/deny", post(governance::deny_grant))
        .route("/tokens/{id}", axum::routing::delete(governance::revoke_token))
        .route("/whoami", get(governance::whoami))
        .route("/policy", get(governance::get_policy).put(governance::put_policy))
        .route("/policy/versions", get(governance::list_policy_versions))
        .route("/policy/versions/{version}", get(governance::get_policy_version))
        .route("/policy/explain", post(governance::explain))
        .route("/credentials", get(api::list_credentials))
        .route("/credentials/{id}", get(api::get_credential))
        .route("/events", get(api::list_events))
        .route("/authorities", get(authorities::list_authorities))
        .route("/authorities/issuing/rollover", post(authorities::rotate_issuing))
        .route("/authorities/{id}/destroy", post(authorities::destroy_authority))
        .route("/openapi.json", get(openapi_json))
        .route_layer(middleware::from_fn_with_state(state.clone(), refuse_changes_while_the_log_fails));
    let routes = Router::new().nest("/v1", v1).merge(health_and_ca_routes()).route("/metrics", get(metrics_text)).merge(log::routes());
    finish(routes, status, not_found, state)
}

/// While the log fails verification, every API request that would change
/// something (and so be logged) is refused with 503 `log-integrity`, naming
/// the reason; reads are served (a view of a changed entry fails on its own).
/// Issuance is refused in the core as well (`Authority::mint_and_commit`).
async fn refuse_changes_while_the_log_fails(State(s): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let method = req.method();
    let reads = method == axum::http::Method::GET || method == axum::http::Method::HEAD;
    // Nested under `/v1`: the path here has the prefix stripped. Explaining a
    // decision changes nothing.
    let explains = req.uri().path() == "/policy/explain";
    if !reads
        && !explains
        && let Err(e) = s.authority.log_integrity().require()
    {
        return Problem::from(e).into_response();
    }
    next.run(req).await
}

/// Give every request an id (`x-request-id`), a tracing span, security
/// headers, and put the id into problem bodies.
pub(crate) async fn request_context(State(rng): State<Arc<dyn Rng>>, mut req: Request, next: Next) -> Response {
    let rid = format!("r{}", signet_core::authority::hex(&rng.bytes16()[..8]));
    let over_tls = req.extensions().get::<serve::OverTls>().is_some();
    req.extensions_mut().insert(RequestIdExt(rid.clone()));
    let span = tracing::info_span!("request", request_id = %rid, method = %req.method(), path = %req.uri().path());
    let started = std::time::Instant::now();
    let mut resp = {
        use tracing::Instrument;
        next.run(req).instrument(span.clone()).await
    };
    let status = resp.status();
    span.in_scope(|| tracing::debug!(status = status.as_u16(), micros = started.elapsed().as_micros() as u64, "done"));
    let is_problem = resp.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes() == problem::PROBLEM_JSON.as_bytes());
    if is_problem {
        resp = add_request_id(resp, &rid).await;
    }
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&rid) {
        h.insert("x-request-id", v);
    }
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Never over plain HTTP (RFC 6797 §7.2).
    if over_tls {
        h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000"));
    }
    // A body refused for its size or its slowness was not read to its end:
    // the connection cannot carry another request, so say so (RFC 9112
    // §9.6) rather than let the client reuse it and fail.
    if status == StatusCode::PAYLOAD_TOO_LARGE || status == StatusCode::REQUEST_TIMEOUT {
        h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

/// Time every routed request into the latency histogram, by route template.
async fn record_latency(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<axum::extract::MatchedPath>().map(|m| m.as_str().to_string()).unwrap_or_default();
    let method = req.method().to_string();
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    state.metrics.request(&method, &route, resp.status().as_u16(), started.elapsed().as_secs_f64());
    resp
}

/// `/metrics` needs an operator allowed `metrics.read`: label values name profiles.
async fn metrics_text(
    State(s): State<Arc<AppState>>,
    caller: extract::Authed,
    axum::Extension(rid): axum::Extension<RequestIdExt>,
) -> Response {
    if let Err(e) =
        s.authority.authorize(api::ctx(&caller, &rid), signet_policy::Action::MetricsRead, &signet_policy::ResourceCtx::Authority).await
    {
        return Problem::from(e).into_response();
    }
    let store = s.authority.store();
    let now = s.authority.now();
    let latest = store.latest_checkpoint().await.ok().flatten();
    let gauges = metrics::Gauges {
        pending_approvals: store.count_requests(signet_model::request::RequestState::PendingApproval).await.unwrap_or(0),
        log_size: latest.as_ref().map(|c| c.tree_size).unwrap_or(0),
        checkpoint_age_seconds: latest.map(|c| (now - c.created_at).whole_seconds()),
        log_integrity_ok: s.authority.log_integrity().failure().is_none(),
        log_integrity_failures: s.authority.log_integrity().detections(),
    };
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], s.metrics.render(gauges)).into_response()
}

async fn add_request_id(resp: Response, rid: &str) -> Response {
    let (parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    if let Some(obj) = v.as_object_mut() {
        obj.insert("request_id".into(), serde_json::Value::String(rid.to_string()));
    }
    let body = serde_json::to_vec(&v).unwrap_or_else(|_| bytes.to_vec());
    let mut parts = parts;
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

async fn not_found() -> Problem {
    Problem::not_found("no such endpoint; see /v1/openapi.json")
}

pub(crate) async fn method_not_allowed() -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "method not allowed",
        "this endpoint does not accept that method; see /v1/openapi.json",
    )
}

pub(crate) async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn readyz(State(s): State<Arc<AppState>>) -> Response {
    if let Some(reason) = s.authority.log_integrity().failure() {
        let detail = format!("the log fails verification, so nothing is issued or changed: {reason}");
        return Problem::new(StatusCode::SERVICE_UNAVAILABLE, "log-integrity", "not ready", detail).into_response();
    }
    match s.authority.store().ping().await {
        Ok(()) => Json(serde_json::json!({ "status": "ready" })).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, "not-ready", "not ready", "the store is unreachable").into_response()
        }
    }
}

async fn openapi_json(State(s): State<Arc<AppState>>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], s.openapi_json.clone()).into_response()
}

async fn ca_pem(State(s): State<Arc<AppState>>) -> Response {
    ([(header::CONTENT_TYPE, "application/pem-certificate-chain")], s.ca_bundle_pem()).into_response()
}

/// The active issuing CA's certificate.
async fn issuing_der(State(s): State<Arc<AppState>>) -> Response {
    let der = s.authority.issuer().chain_der().first().cloned().unwrap_or_default();
    ([(header::CONTENT_TYPE, "application/pkix-cert")], der).into_response()
}

/// A published issuing CA's certificate by id: what the caIssuers URL of
/// each certificate names.
async fn authority_der(State(s): State<Arc<AppState>>, axum::extract::Path(id): axum::extract::Path<String>) -> Response {
    let issuer = signet_model::ids::AuthorityId::parse("id", &id).ok().and_then(|id| s.authority.status_issuer(&id));
    match issuer.and_then(|i| i.chain_der().first().cloned()) {
        Some(der) => ([(header::CONTENT_TYPE, "application/pkix-cert")], der).into_response(),
        None => Problem::not_found(format!("no published issuing CA `{}`", signet_model::names::shorten(&id))).into_response(),
    }
}

async fn root_der(State(s): State<Arc<AppState>>) -> Response {
    ([(header::CONTENT_TYPE, "application/pkix-cert")], s.root_der.clone()).into_response()
}
