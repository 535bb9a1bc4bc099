//! The REST API under `/v1`: wire types and handlers. Handlers parse, call
//! the authority, and shape the answer; they hold no business rules.

use crate::AppState;
use crate::extract::{Authed, JsonBody, RequestIdExt};
use crate::problem::{ApiResult, Problem};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use signet_core::authority::{Ask, Ctx, Submitted};
use signet_core::listing::Listing;
use signet_core::ports::{CredentialFilter, Cursor, Page, RequestFilter};
use signet_model::FieldError;
use signet_model::credential::{Credential, CredentialStatus};
use signet_model::duration::DurationInput;
use signet_model::event::Event;
use signet_model::ids::{CredentialId, RequestId, Serial, SubjectId};
use signet_model::profile::{Profile, ProfileInput, parse_scope};
use signet_model::request::{Request, RequestState};
use signet_model::subject::{Subject, SubjectInput};
use std::sync::Arc;

type St = State<Arc<AppState>>;

pub(crate) fn ctx<'a>(caller: &'a Authed, rid: &'a RequestIdExt) -> Ctx<'a> {
    Ctx { caller: &caller.0, trace_id: Some(rid.0.as_str()) }
}

// ------------------------------------------------------------ paging

/// Paging: `limit` (1–1000, default 100) and `cursor`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// At most this many items (1–1000, default 100).
    pub limit: Option<u32>,
    /// Where the page starts: absent for the newest, or the `next_cursor` of the page before.
    pub cursor: Option<String>,
}

pub(crate) fn page(limit: Option<u32>, cursor: Option<&str>) -> Result<Page, Problem> {
    let limit = limit.unwrap_or(100);
    if limit == 0 || limit > 1000 {
        return Err(Problem::invalid(&FieldError::new("limit", format!("`{limit}` is out of range: use 1 to 1000"))));
    }
    let after = cursor.map(parse_cursor).transpose().map_err(|e| Problem::invalid(&e))?;
    Ok(Page { limit, after })
}

/// A cursor on the wire: `<created_at, unix seconds>.<id>` of the last row a
/// page read. Opaque to clients: they hand back what a page gave them.
fn cursor_text(c: &Cursor) -> String {
    format!("{}.{}", c.created_at.unix_timestamp(), c.id)
}

fn parse_cursor(text: &str) -> Result<Cursor, FieldError> {
    let bad = || FieldError::new("cursor", format!("`{}` is not a cursor from an earlier page", signet_model::names::shorten(text)));
    let (at, id) = text.split_once('.').ok_or_else(bad)?;
    let created_at = at.parse::<i64>().ok().and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok()).ok_or_else(bad)?;
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(bad());
    }
    Ok(Cursor { created_at, id: id.to_string() })
}

pub(crate) fn query<T>(q: Result<Query<T>, axum::extract::rejection::QueryRejection>) -> Result<T, Problem> {
    q.map(|Query(v)| v).map_err(|e| Problem::invalid(&FieldError::new("query", e.body_text())))
}

// ------------------------------------------------------------ subjects

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SubjectList {
    pub items: Vec<Subject>,
    /// The `cursor` of the next page; `null` when this page is the last. A page
    /// may hold fewer than `limit` items, or none, and still not be the last:
    /// only the items the caller may read are listed.
    pub next_cursor: Option<String>,
}

/// Enrol a subject.
#[utoipa::path(post, path = "/v1/subjects", tag = "subjects", request_body = SubjectInput,
    responses((status = 201, body = Subject), (status = 400, body = Problem), (status = 401, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn create_subject(
    State(s): St,
    caller: Authed,
    Extension(rid): Extension<RequestIdExt>,
    JsonBody(input): JsonBody<SubjectInput>,
) -> ApiResult<(StatusCode, Json<Subject>)> {
    let subject = s.authority.create_subject(ctx(&caller, &rid), &input).await?;
    Ok((StatusCode::CREATED, Json(subject)))
}

/// List subjects, newest first.
#[utoipa::path(get, path = "/v1/subjects", tag = "subjects", params(PageQuery),
    responses((status = 200, body = SubjectList), (status = 401, body = Problem)), security(("bearer" = [])))]
pub async fn list_subjects(
    State(s): St,
    caller: Authed,
    Extension(rid): Extension<RequestIdExt>,
    q: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<SubjectList>> {
    let q = query(q)?;
    let Listing { items, next } = s.authority.list_subjects(ctx(&caller, &rid), page(q.limit, q.cursor.as_deref())?).await?;
    Ok(Json(SubjectList { items, next_cursor: next.as_ref().map(cursor_text) }))
}

/// Show one subject.
#[utoipa::path(get, path = "/v1/subjects/{id}", tag = "subjects", params(("id" = String, Path, description = "subject id, `sub_…`")),
    responses((status = 200, body = Subject), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn get_subject(
    State(s): St,
    caller: Authed,
    Extension(rid): Extension<RequestIdExt>,
    Path(id): Path<String>,
) -> ApiResult<Json<Subject>> {
    let id = SubjectId::parse("id", &id).map_err(|e| Problem::not_found(e.reason))?;
    Ok(Json(s.authority.get_subject(ctx(&caller, &rid), &id).await?))
}

// ------------------------------------------------------------ profiles

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProfileList {
    pub items: Vec<Profile>,
}

/// Create or replace a profile (its version increases by one on every change).
#[utoipa::path(put, path = "/v1/profiles/{name}", tag = "profiles", request_body = ProfileInput,
    params(("name" = String, Path, description = "profile name; must equal the body's `name`")),
    responses((status = 200, body = Profile), (status = 400, body = Problem), (status = 401, body = Problem)), security(("bearer" = [])))]
pub async fn put_profile(
    State(s): St,
    caller: Authed,
    Extension(rid): Extension<RequestIdExt>,
    Path(name): Path<String>,
    JsonBody(input): JsonBody<ProfileInput>,
) -> ApiResult<Json<Profile>> {
    if input.name != name {
        return Err(Problem::invalid(&FieldError::new(
            "name",
            format!(
                "`{}` does not match the profile named in the path, `{}`",
                signet_model::names::shorten(&input.name),
                signet_model::names::shorten(&name)
            ),
        )));
    }
    Ok(Json(s.authority.apply_profile(ctx(&caller, &rid), &input).await?))
}

/// List profiles.
#[utoipa::path(get, path = "/v1/profiles", tag = "profiles", responses((status = 200, body = ProfileList)), security(("bearer" = [])))]
pub async fn list_profiles(State(s): St, caller: Authed, Extension(rid): Extension<RequestIdExt>) -> ApiResult<Json<ProfileList>> {
    Ok(Json(ProfileList { items: s.authority.list_profiles(ctx(&caller, &rid)).await? }))
}

/// Show one profile.
#[utoipa::path(get, path = "/v1/profiles/{name}", tag = "profiles", params(("name" = String, Path)),
    responses((status = 200, body = Profile), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn get_profile(
    State(s): St,
    caller: Authed,
    Extension(rid): Extension<RequestIdExt>,
    Path(name): Path<String>,
) -> ApiResult<Json<Profile>> {
    Ok(Json(s.authority.get_profile(ctx(&caller, &rid), &name).await?))
}

// ------------------------------------------------------------ requests (issuance)

/// Names to put in the certificate, replacing the CSR's requested names.
#[derive(Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NamesBody {
    #[serde(default)]
    pub dns: Vec<String>,
    #[serde(default)]
    pub ip: Vec<String>,
    #[serde(default)]
    pub uri: Vec<String>,
    #[serde(default)]
    pub email: Vec<String>,
}

/// Ask for a credential: the fields every credential type shares, and the
/// fields of the profile's credential type (`x509`: `csr`, `names`; `jwt`:
/// `audience`, `key_proof`; see docs/API.md). Parsed field by field
/// ([`parse_ask_body`]); this type documents the body.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
pub struct IssueRequestBody {
    /// The subject id (`sub_…`).
    pub subject: String,
    /// The profile name.
    pub profile: String,
    /// Lifetime: seconds (`3600` or `"3600"`), or a number with s/m/h/d (`"24h"`). Default: the profile's.
    #[serde(default)]
    pub ttl: Option<DurationInput>,
    /// Scopes (entitlements) asked for; each must be allowed by the profile.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The credential type's fields. `x509`: `csr` (PKCS#10, PEM; its
    /// signature proves possession of the key) and `names` (`{dns, ip, uri,
    /// email}`, replacing the CSR's). `jwt`: `audience` (a string or an
    /// array), `key_proof` (a JWS signed by the holder key, binding it as `cnf.jkt`).
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub params: serde_json::Map<String, serde_json::Value>,
}

/// A credential as returned by the API: its record, and its type's
/// presentation of it (`certificate_pem` for X.509, `token` for a JWT).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CredentialView {
    #[serde(flatten)]
    pub credential: Credential,
    /// The credential itself, as its type shows it.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub presented: serde_json::Map<String, serde_json::Value>,
}

impl CredentialView {
    fn new(s: &AppState, credential: Credential) -> (Self, serde_json::Map<String, serde_json::Value>) {
        let presentation = s.authority.credential_type(&credential.credential_type).map(|t| t.present(&credential)).unwrap_or_default();
        (Self { credential, presented: presentation.credential }, presentation.response)
    }
}

/// Where the issuance is recorded in the tamper-evident log. The inclusion
/// proof follows once a checkpoint covers the entry (within about a second):
/// `GET /log/v1/receipt/{credential}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LogPosition {
    pub index: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IssueResponse {
    pub request: Request,
    pub credential: CredentialView,
    pub log: LogPosition,
    /// What the credential's type adds (X.509: `chain_pem`, the
    /// certificate followed by its issuer chain, PEM).
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// A request waiting for approvals.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PendingResponse {
    pub request: Request,
    pub approvals_required: u32,
}

/// Parse a request body at the edge: the common fields here, the rest
/// (`params`) by the profile's credential type in the pipeline, which also
/// checks the holder key's proof of possession. `reason` is read only for
/// a break-glass request (`break_glass`), where it is required.
pub(crate) fn parse_ask_body(body: serde_json::Map<String, serde_json::Value>, break_glass: bool) -> Result<Ask, FieldError> {
    let mut params = body;
    let mut text = |field: &str| -> Result<String, FieldError> {
        match params.remove(field) {
            Some(serde_json::Value::String(s)) => Ok(s),
            Some(_) => Err(FieldError::new(field, "expected a string")),
            None => Err(FieldError::new(field, "is required")),
        }
    };
    let subject = text("subject")?;
    let profile = text("profile")?;
    let reason = if break_glass { Some(text("reason")?) } else { None };
    let subject_id = SubjectId::parse("subject", &subject)?;
    if profile.is_empty() {
        return Err(FieldError::new("profile", "is empty"));
    }
    let ttl_seconds = match params.remove("ttl") {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => {
            let t: DurationInput = serde_json::from_value(v).map_err(|e| FieldError::new("ttl", e.to_string()))?;
            Some(t.seconds("ttl")?)
        }
    };
    let scopes = match params.remove("scopes") {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(serde_json::Value::Array(items)) => {
            if items.len() > 64 {
                return Err(FieldError::new("scopes", "at most 64 scopes"));
            }
            let mut scopes = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let field = format!("scopes[{i}]");
                let sc = parse_scope(&field, item.as_str().ok_or_else(|| FieldError::new(&field, "expected a string"))?)?;
                if !scopes.contains(&sc) {
                    scopes.push(sc);
                }
            }
            scopes
        }
        Some(_) => return Err(FieldError::new("scopes", "expected an array of strings")),
    };
    Ok(Ask { subject_id, profile, ttl_seconds, scopes, break_glass: reason, params })
}

/// The answer to a submission: 201 with the certificate, or 202 while it waits for approvals.
fn submitted_response(s: &AppState, submitted: Submitted) -> axum::response::Response {
    use axum::response::IntoResponse;
    match submitted {
        Submitted::Issued(issued) => {
            s.metrics.issuance(&issued.credential.profile, issued.credential.credential_type.as_str(), "issued");
            (StatusCode::CREATED, Json(issue_response(s, issued))).into_response()
        }
        Submitted::Pending { request, approvals_required } => {
            s.metrics.issuance(&request.profile, request.credential_type.as_str(), "pending");
            (StatusCode::ACCEPTED, Json(PendingResponse { request, approvals_required })).into_response()
        }
    }
}

pub(crate) fn issue_response(s: &AppState, issued: signet_core::authority::Issued) -> IssueResponse {
    let (credential, extra) = CredentialView::new(s, issued.credential);
    IssueResponse { request: issued.request, credential, log: LogPosition { index: issued.log_index }, extra }
}

/// Count a refused submission in the metrics. Label values stay bounded:
/// a profile name only once it resolved.
fn count_refusal(s: &AppState, profile: &str, e: &signet_core::CoreError) {
    match e {
        signet_core::CoreError::Denied(f) => {
            s.metrics.issuance(profile, "x509", "denied");
            s.metrics.denial(&f.field);
        }
        signet_core::CoreError::Internal(_) => s.metrics.issuance("-", "x509", "error"),
        _ => s.metrics.issuance("-", "x509", "invalid"),
    }
}

/// Submit a request. A permitted request is issued at once (201); one whose
/// profile requires approvals waits for them (202, `pending_approval`).
#[utoipa::path(post, path = "/v1/requests", tag = "requests", request_body = IssueRequestBody,
    responses((status = 201, body = IssueResponse), (status = 202, body = PendingResponse, description = "waiting for approvals"),
        (status = 400, body = Problem, description = "malformed input"),
        (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 422, body = Problem, description = "refused by the profile or the issuance policy; recorded as a denied request")),
    security(("bearer" = [])))]
pub async fn create_request(
    State(s): St,
    caller: Authed,
    Extension(rid): Extension<RequestIdExt>,
    JsonBody(body): JsonBody<serde_json::Map<String, serde_json::Value>>,
) -> ApiResult<axum::response::Response> {
    let ask = parse_ask_body(body, false).map_err(|e| {
        s.metrics.issuance("-", "-", "invalid");
        Problem::invalid(&e)
    })?;
    let profile = ask.profile.clone();
    answer_submission(&s, &profile, s.authority.submit(ctx(&caller, &rid), ask).await)
}

/// The answer to a submission (a request, break-glass, an operator
/// certificate), counted in the metrics: 201, 202, or the refusal.
pub(crate) fn answer_submission(
    s: &AppState,
    profile: &str,
    result: Result<Submitted, signet_core::CoreError>,
) -> ApiResult<axum::response::Response> {
    match result {
        Ok(submitted) => Ok(submitted_response(s, submitted)),
        Err(e) => {
            count_refusal(s, profile, &e);
            Err(e.into())
        }
    }
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RequestQuery {
    pub subject: Option<String>,
    /// submitted, pending_approval, approved, issued, denied, expired or cancelled.
    pub state: Option<String>,
    /// At most this many items (1–1000, default 100).
    pub limit: Option<u32>,
    /// Where the page starts: absent for the newest, or the `next_cursor` of the page before.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RequestList {
    pub items: Vec<Request>,
    /// The `cursor` of the next page; `null` when this page is the last. A page
    /// may hold fewer than `limit` items, or none, and still not be the last:
    /// only the items the caller may read are listed.
    pub next_cursor: Option<String>,
}

/// List requests, newest first.
#[utoipa::path(get, path = "/v1/requests", tag = "requests", params(RequestQuery), responses((status = 200, body = RequestList)), security(("bearer" = [])))]
pub async fn list_requests(
    State(s): St,
    caller: Authed,
    Extension(rid): Extension<RequestIdExt>,
    q: Result<Query<RequestQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<RequestList>> {
    let q = query(q)?;
    let filter = RequestFilter {
        subject_id: q.subject.as_deref().map(|v| SubjectId::parse("subject", v)).transpose().map_err(|e| Problem::invalid(&e))?,
        state: q.state.as_deref().map(|v| RequestState::parse("state", v)).transpose().map_err(|e| Problem::invalid(&e))?,
        page: page(q.limit, q.cursor.as_deref())?,
    };
    let Listing { items, next } = s.authority.list_requests(ctx(&caller, &rid), &filter).await?;
    Ok(Json(RequestList { items, next_cursor: next.as_ref().map(cursor_text) }))
}

/// Show one request.
#[utoipa::path(get, path = "/v1/requests/{id}", tag = "requests", params(("id" = String, Path, description = "request id, `req_…`")),
    responses((status = 200, body = Request), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn get_request(
    State(s): St,
    caller: Authed,
    Extension(rid): Extension<RequestIdExt>,
    Path(id): Path<String>,
) -> ApiResult<Json<Request>> {
    let id = RequestId::parse("id", &id).map_err(|e| Problem::not_found(e.reason))?;
    Ok(Json(s.authority.get_request(ctx(&caller, &rid), &id).await?))
}

// ------------------------------------------------------------ credentials

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CredentialQuery {
    pub subject: Option<String>,
    pub profile: Option<String>,
    /// active, suspended or revoked.
    pub status: Option<String>,
    /// At most this many items (1–1000, default 100).
    pub limit: Option<u32>,
    /// Where the page starts: absent for the newest, or the `next_cursor` of the page before.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CredentialList {
    pub items: Vec<Credential>,
    /// The `cursor` of the next page; `null` when this page is the last. A page
    /// may hold fewer than `limit` items, or none, and still not be the last:
    /// only the items the caller may read are listed.
    pub next_cursor: Option<String>,
}

/// List credentials, newest first.
#[utoipa::path(get, path = "/v1/credentials", tag = "credentials", params(CredentialQuery), responses((status = 200, body = CredentialList)), security(("bearer" = [])))]
pub async fn list_credentials(
    State(s): St,
    caller: Authed,
    Extension(rid): Extension<RequestIdExt>,
    q: Result<Query<CredentialQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<CredentialList>> {
    let q = query(q)?;
    let filter = CredentialFilter {
        subject_id: q.subject.as_deref().map(|v| SubjectId::parse("subject", v)).transpose().map_err(|e| Problem::invalid(&e))?,
        profile: q.profile,
        status: q.status.as_deref().map(|v| CredentialStatus::parse("status", v)).transpose().map_err(|e| Problem::invalid(&e))?,
        page: page(q.limit, q.cursor.as_deref())?,
    };
    let Listing { items, next } = s.authority.list_credentials(ctx(&caller, &rid), &filter).await?;
    Ok(Json(CredentialList { items, next_cursor: next.as_ref().map(cursor_text) }))
}

/// Show one credential, by id (`crd_…`) or by certificate serial (hex).
#[utoipa::path(get, path = "/v1/credentials/{id}", tag = "credentials", params(("id" = String, Path, description = "credential id `crd_…` or serial in hex")),
    responses((status = 200, body = CredentialView), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn get_credential(
    State(s): St,
    caller: Authed,
    Extension(rid): Extension<RequestIdExt>,
    Path(id): Path<String>,
) -> ApiResult<Json<CredentialView>> {
    let credential = if id.starts_with(CredentialId::PREFIX) {
        let id = CredentialId::parse("id", &id).map_err(|e| Problem::not_found(e.reason))?;
        s.authority.get_credential(ctx(&caller, &rid), &id).await?
    } else {
        let serial = Serial::parse_hex("id", &id)
            .map_err(|_| Problem::not_found(format!("`{}` is neither a credential id nor a serial", signet_model::names::shorten(&id))))?;
        s.authority.get_credential_by_serial(ctx(&caller, &rid), &serial).await?
    };
    Ok(Json(CredentialView::new(&s, credential).0))
}

// ------------------------------------------------------------ events

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EventQuery {
    /// Return events with an index greater than this (default -1: from the first, index 0).
    pub after: Option<i64>,
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventList {
    pub items: Vec<Event>,
}

/// Read the event record, oldest first. With `Accept: text/event-stream`,
/// a Server-Sent Events stream instead: every event, then new ones as they
/// are recorded (`id` is the event index; reconnect with `Last-Event-ID`).
#[utoipa::path(get, path = "/v1/events", tag = "events", params(EventQuery),
    responses((status = 200, body = EventList, description = "a page of events, or with `Accept: text/event-stream` an SSE stream of them")),
    security(("bearer" = [])))]
pub async fn list_events(
    State(s): St,
    caller: Authed,
    Extension(rid): Extension<RequestIdExt>,
    certificate: Option<Extension<crate::serve::ClientCertificate>>,
    headers: axum::http::HeaderMap,
    q: Result<Query<EventQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let q = query(q)?;
    let wants_stream =
        headers.get(axum::http::header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/event-stream"));
    if !wants_stream {
        let p = page(q.limit, None)?;
        return Ok(
            Json(EventList { items: s.authority.list_events(ctx(&caller, &rid), q.after.unwrap_or(-1), p.limit).await? }).into_response()
        );
    }
    let resume = headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<i64>().ok());
    let after = resume.or(q.after).unwrap_or(-1);
    s.authority.authorize(ctx(&caller, &rid), signet_policy::Action::LogRead, &signet_policy::ResourceCtx::Authority).await?;
    // The stream re-checks this credential while it lives (see `events`).
    let credential = crate::events::StreamCredential::of(&caller.0, certificate.as_ref().map(|Extension(c)| c))
        .ok_or_else(|| Problem::unauthenticated("an event stream needs an operator token or an operator client certificate"))?;
    Ok(crate::events::sse(s.clone(), credential, after).into_response())
}
