//! Governance endpoints: operators and their tokens, the policy set (read,
//! apply, versions, explain), approvals, break-glass, and subjects'
//! lifecycle. Each handler parses, calls the authority, and shapes the
//! answer; every permission is decided in `signet_core` by the policy set.

use crate::AppState;
use crate::api::{IssueRequestBody, IssueResponse, answer_submission, ctx, issue_response, parse_ask_body};
use crate::extract::{Authed, JsonBody, RequestIdExt};
use crate::problem::{ApiResult, Problem};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use signet_core::authority::Principal;
use signet_core::governance::PolicyDiff;
use signet_model::FieldError;
use signet_model::duration::DurationInput;
use signet_model::ids::{GrantId, OperatorId, RequestId, SubjectId, TokenId};
use signet_model::operator::{EnrolmentAsk, Operator, OperatorGrant, OperatorInput, TokenInfo};
use signet_model::request::{Approval, Request, Verdict};
use signet_model::subject::{Subject, SubjectStatus};
use std::sync::Arc;

type St = State<Arc<AppState>>;

fn operator_id(id: &str) -> Result<OperatorId, Problem> {
    OperatorId::parse("id", id).map_err(|e| Problem::not_found(e.reason))
}

fn token_info(t: signet_core::ports::OperatorToken) -> TokenInfo {
    TokenInfo { id: t.id, operator_id: t.operator_id, name: t.name, created_at: t.created_at, expires_at: t.expires_at, revoked: t.revoked }
}

// ------------------------------------------------------------ whoami

/// Who the caller is, as authorisation sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WhoAmI {
    pub actor: String,
    pub roles: Vec<String>,
    pub sites: Vec<String>,
    pub all_sites: bool,
    pub teams: Vec<String>,
    pub token_id: Option<String>,
}

/// The authenticated caller.
#[utoipa::path(get, path = "/v1/whoami", tag = "operators", responses((status = 200, body = WhoAmI), (status = 401, body = Problem)),
    security(("bearer" = [])))]
pub async fn whoami(caller: Authed) -> Json<WhoAmI> {
    let c = caller.0;
    let (roles, sites, all_sites, teams) = match &c.principal {
        Principal::Operator(op) => (
            op.roles.iter().map(|r| r.as_str().to_string()).collect(),
            op.sites.iter().cloned().collect(),
            op.all_sites,
            op.teams.iter().cloned().collect(),
        ),
        _ => (vec![], vec![], false, vec![]),
    };
    Json(WhoAmI { actor: c.actor.clone(), roles, sites, all_sites, teams, token_id: c.token_id.as_ref().map(|t| t.to_string()) })
}

// ------------------------------------------------------------ operators

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OperatorList {
    pub items: Vec<Operator>,
}

/// An operator as created or changed, and the privileged part of the change
/// still waiting for a second admin, if any.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OperatorChangeView {
    #[serde(flatten)]
    pub operator: Operator,
    /// Present when a privileged grant waits for a different admin's approval
    /// (`POST /v1/operators/grants/{id}/approve`).
    pub pending_grant: Option<OperatorGrant>,
}

fn change_view(c: signet_core::sod::OperatorChange) -> (StatusCode, Json<OperatorChangeView>) {
    let status = if c.pending_grant.is_some() { StatusCode::ACCEPTED } else { StatusCode::OK };
    (status, Json(OperatorChangeView { operator: c.operator, pending_grant: c.pending_grant }))
}

/// Create an operator (`operator.update`: admins). Give it the
/// `enrolment_verifier` its holder generated (`signet operator enrol-code`):
/// the holder redeems the secret for its first token at
/// `POST /v1/operators/enrol`; no admin ever holds another operator's
/// credentials. Privileged roles (admin, policy_author, approver,
/// security_reviewer) wait for a second admin when there is one
/// (`pending_grant`); the operator is created without them meanwhile.
#[utoipa::path(post, path = "/v1/operators", tag = "operators", request_body = OperatorInput,
    responses((status = 201, body = OperatorChangeView), (status = 400, body = Problem), (status = 403, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn create_operator(
    State(s): St,
    caller: Authed,
    Extension(rid): Extension<RequestIdExt>,
    JsonBody(input): JsonBody<OperatorInput>,
) -> ApiResult<(StatusCode, Json<OperatorChangeView>)> {
    let (_, view) = change_view(s.authority.create_operator(ctx(&caller, &rid), &input).await?);
    Ok((StatusCode::CREATED, view))
}

/// A new enrolment for an existing operator (a lost credential).
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrolmentBody {
    /// SHA-256 (hex) of the enrolment secret the operator generated and keeps.
    pub enrolment_verifier: String,
    /// How long it may wait to be redeemed (`24h` by default, at most `7d`): seconds or a string like `"24h"`.
    #[serde(default)]
    pub enrolment_ttl: Option<DurationInput>,
}

/// Re-enrolment: set a new enrolment verifier for an operator (admins; never
/// one's own). For an operator with a privileged role it is a privileged
/// grant: 202 with `pending_grant` when a second admin must approve it.
#[utoipa::path(post, path = "/v1/operators/{id}/enrolment", tag = "operators", request_body = EnrolmentBody, params(("id" = String, Path)),
    responses((status = 200, body = OperatorChangeView), (status = 202, body = OperatorChangeView), (status = 400, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn set_enrolment(
    State(s): St,
    caller: Authed,
    Extension(rid): Extension<RequestIdExt>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<EnrolmentBody>,
) -> ApiResult<(StatusCode, Json<OperatorChangeView>)> {
    let ask = EnrolmentAsk::parse(&body.enrolment_verifier, body.enrolment_ttl.as_ref()).map_err(|e| Problem::invalid(&e))?;
    Ok(change_view(s.authority.set_enrolment(ctx(&caller, &rid), &operator_id(&id)?, ask).await?))
}

/// Redeem an enrolment secret (no other credentials needed).
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrolBody {
    /// The operator's id (`op_…`) or name.
    pub operator: String,
    /// The enrolment secret whose SHA-256 the admin stored.
    pub secret: String,
    /// A label for the token (default `enrolment`).
    #[serde(default)]
    pub token_name: Option<String>,
    /// The token's lifetime: seconds (`2592000`) or a string (`"30d"`); default: no expiry. At most 366 days.
    #[serde(default)]
    pub ttl: Option<DurationInput>,
}

/// Enrol: trade a one-time enrolment secret for the operator's token (shown
/// once). The secret works once, before its enrolment expires; every
/// refusal is the same 401 and is logged as `operator.auth_failed`.
#[utoipa::path(post, path = "/v1/operators/enrol", tag = "operators", request_body = EnrolBody,
    responses((status = 201, body = CreatedToken), (status = 400, body = Problem), (status = 401, body = Problem)))]
pub async fn enrol(
    State(s): St,
    Extension(rid): Extension<RequestIdExt>,
    JsonBody(body): JsonBody<EnrolBody>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    let secret = zeroize::Zeroizing::new(body.secret);
    let ttl = body.ttl.as_ref().map(|t| t.seconds("ttl")).transpose().map_err(|e| Problem::invalid(&e))?;
    let name = body.token_name.as_deref().unwrap_or("enrolment");
    let (_, token, secret) =
        s.authority.enrol(&body.operator, &secret, name, ttl.map(time::Duration::seconds), Some(rid.0.as_str())).await?;
    Ok((StatusCode::CREATED, Json(CreatedToken { token: token_info(token), secret })))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GrantList {
    pub items: Vec<OperatorGrant>,
}

/// Privileged grants, newest first: pending ones wait for a second admin.
#[utoipa::path(get, path = "/v1/operators/grants", tag = "operators", responses((status = 200, body = GrantList)), security(("bearer" = [])))]
pub async fn list_grants(State(s): St, caller: Authed, Extension(rid): Extension<RequestIdExt>) -> ApiResult<Json<GrantList>> {
    Ok(Json(GrantList { items: s.authority.list_grants(ctx(&caller, &rid)).await? }))
}

async fn grant_verdict(
    s: &AppState,
    caller: &Authed,
    rid: &RequestIdExt,
    id: &str,
    approve: bool,
    body: VerdictBody,
) -> ApiResult<Json<OperatorGrant>> {
    let id = GrantId::parse("id", id).map_err(|e| Problem::not_found(e.reason))?;
    Ok(Json(s.authority.decide_grant(ctx(caller, rid), &id, approve, &body.reason).await?))
}

/// Approve and apply a pending privileged grant: a different admin than the
/// one who asked (`sod.second-admin`). 409 when it is no longer pending, has
/// expired, or the operator changed since it was asked.
#[utoipa::path(post, path = "/v1/operators/grants/{id}/approve", tag = "operators", request_body = VerdictBody, params(("id" = String, Path)),
    responses((status = 200, body = OperatorGrant), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn approve_grant(
    State(s): St,
    caller: Authed,
    Extension(rid): Extension<RequestIdExt>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<VerdictBody>,
) -> ApiResult<Json<OperatorGrant>> {
    grant_verdict(&s, &caller, &rid, &id, true, body).await
}

/// Deny (or, by its asker, withdraw) a pending privileged grant.
#[utoipa::path(post, path = "/v1/operators/grants/{id}/deny", tag = "operators", request_body = VerdictBody, params(("id" = String, Path)),
    responses((status = 200, body = OperatorGrant), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn deny_grant(
    State(s): St,
    caller: Authed,
    Extension(rid): Extension<RequestIdExt>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<VerdictBody>,
) -> ApiResult<Json<OperatorGrant>> {
    grant_verdict(&s, &caller, &rid, &id, false, body).await
}

/// List the operators the caller may read.
#[utoipa::path(get, path = "/v1/operators", tag = "operators", responses((status = 200, body = OperatorList)), security(("bearer" = [])))]
pub async fn list_operators(State(s): St, caller: Authed, Extension(rid): Extension<RequestIdExt>) -> ApiResult<Json<OperatorList>> {
    Ok(Json(OperatorList { items: s.authority.list_operators(ctx(&caller, &rid)).await? }))
}

/// Show one operator.
#[utoipa::path(get, path = "/v1/operators/{id}", tag = "operators", params(("id" = String, Path, description = "operator id, `op_…`")),
    responses((status = 200, body = Operator), (status = 403, body = Problem), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn get_operator(
    State(s): St,
    caller: Authed,
    Extension(rid): Extension<RequestIdExt>,
    Path(id): Path<String>,
) -> ApiResult<Json<Operator>> {
    Ok(Json(s.authority.get_operator(ctx(&caller, &rid), &operator_id(&id)?).await?))
}

/// Replace an operator's roles, sites, teams, subject and `disabled` flag.
/// Nobody changes their own. A change that grants or widens a privileged
/// role waits, whole, for a second admin when there is one: 202 with
/// `pending_grant`, the operator unchanged. A change that would leave no
/// enabled operator able to apply policies or create operators is refused
/// (409, rule `lockout`).
#[utoipa::path(put, path = "/v1/operators/{id}", tag = "operators", request_body = OperatorInput, params(("id" = String, Path)),
    responses((status = 200, body = OperatorChangeView), (status = 202, body = OperatorChangeView), (status = 400, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem, description = "refused by the rule `lockout`")),
    security(("bearer" = [])))]
pub async fn update_operator(
    State(s): St,
    caller: Authed,
    Extension(rid): Extension<RequestIdExt>,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<OperatorInput>,
) -> ApiResult<(StatusCode, Json<OperatorChangeView>)> {
    Ok(change_view(s.authority.update_operator(ctx(&caller, &rid), &operator_id(&id)?, &input).await?))
}

/// A new API token for an operator.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    /// A label (`ci deploy`).
    pub name: String,
    /// Lifetime (`30d`, or seconds: `3600`); default: no expiry. At most 366 days.
    #[serde(default)]
    pub ttl: Option<DurationInput>,
}

/// A created token: its record and its secret, shown this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    pub token: TokenInfo,
    /// `signet_…`: send as `Authorization: Bearer …`. Only its SHA-256 is stored.
    pub secret: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenList {
    pub items: Vec<TokenInfo>,
}

/// Create an API token for oneself (`sod.own-credentials-only`: nobody,
/// admins included, creates one for another operator).
#[utoipa::path(post, path = "/v1/operators/{id}/tokens", tag = "operators", request_body = TokenBody, params(("id" = String, Path)),
    responses((status = 201, body = CreatedToken), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
pub async fn create_token(
    State(s): St,
    caller: Authed,
    Extension(rid): Extension<RequestIdExt>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<TokenBody>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    let ttl = body.ttl.as_ref().map(|t| t.seconds("ttl")).transpose().map_err(|e| Problem::invalid(&e))?;
    let (token, secret) =
        s.authority.create_token(ctx(&caller, &rid), &operator_id(&id)?, &body.name, ttl.map(time::Duration::seconds)).await?;
    Ok((StatusCode::CREATED, Json(CreatedToken { token: token_info(token), secret })))
}

/// An operator's tokens (never their secrets).
#[utoipa::path(get, path = "/v1/operators/{id}/tokens", tag = "operators", params(("id" = String, Path)),
    responses((status = 200, body = TokenList), (status = 403, body = Problem)), security(("bearer" = [])))]
pub async fn list_tokens(
    State(s): St,
    caller: Authed,
    Extension(rid): Extension<RequestIdExt>,
    Path(id): Path<String>,
) -> ApiResult<Json<TokenList>> {
    let items = s.authority.list_tokens(ctx(&caller, &rid), &operator_id(&id)?).await?.into_iter().map(token_info).collect();
    Ok(Json(TokenList { items }))
}

/// Revoke a token: it stops working at once on this server, within 2 s on others.
#[utoipa::path(delete, path = "/v1/tokens/{id}", tag = "operators", params(("id" = String, Path, description = "token id, `tok_…`")),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn revoke_token(
    State(s): St,
    caller: Authed,
    Extension(rid): Extension<RequestIdExt>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = TokenId::parse("id", &id).map_err(|e| Problem::not_found(e.reason))?;
    s.authority.revoke_token(ctx(&caller, &rid), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A client certificate for an operator: its CSR and, optionally, a lifetime.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OperatorCertificateBody {
    /// PKCS#10 CSR, PEM. Only its key is used (proof of possession checked);
    /// the certificate names the operator by `urn:signet:operator:<id>`.
    pub csr: String,
    /// Lifetime (`8h`, or seconds: `28800`); default and maximum from the `operator-client` profile (24h, 30d).
    #[serde(default)]
    pub ttl: Option<DurationInput>,
}

/// Issue a client certificate to oneself, for mTLS to this API (like tokens,
/// only for one's own operator: `sod.own-credentials-only`). 201 with the certificate and its
/// chain; 422 when the profile or the issuance policy refuses it.
#[utoipa::path(post, path = "/v1/operators/{id}/certificates", tag = "operators", request_body = OperatorCertificateBody,
    params(("id" = String, Path, description = "operator id, `op_…`")),
    responses((status = 201, body = IssueResponse), (status = 202, body = crate::api::PendingResponse), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "the operator is disabled"), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn create_operator_certificate(
    State(s): St,
    caller: Authed,
    Extension(rid): Extension<RequestIdExt>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<OperatorCertificateBody>,
) -> ApiResult<Response> {
    let id = operator_id(&id)?;
    let csr = signet_x509::csr::parse_csr(body.csr.as_bytes()).map_err(|e| Problem::invalid(&e))?;
    let ttl = body.ttl.as_ref().map(|t| t.seconds("ttl")).transpose().map_err(|e| Problem::invalid(&e))?;
    let result = s.authority.issue_operator_certificate(ctx(&caller, &rid), &id, csr.key, ttl).await;
    answer_submission(&s, signet_core::operator_certs::OPERATOR_CLIENT_PROFILE, result)
}

// ------------------------------------------------------------ policy

/// The policy set in force.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PolicyView {
    /// 0: the built-in default set (no version was ever applied).
    pub version: i64,
    pub sha256: String,
    pub created_by: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub created_at: Option<time::OffsetDateTime>,
    /// The Cedar policy text.
    pub text: String,
    /// The policies, by `@id`.
    pub policies: Vec<String>,
}

/// Show the active policy set.
#[utoipa::path(get, path = "/v1/policy", tag = "policy", responses((status = 200, body = PolicyView), (status = 403, body = Problem)),
    security(("bearer" = [])))]
pub async fn get_policy(State(s): St, caller: Authed, Extension(rid): Extension<RequestIdExt>) -> ApiResult<Json<PolicyView>> {
    let p = s.authority.read_active_policy(ctx(&caller, &rid)).await?;
    Ok(Json(PolicyView {
        version: p.version,
        sha256: p.sha256.clone(),
        created_by: p.created_by.clone(),
        created_at: p.created_at,
        text: p.set.text().to_string(),
        policies: p.set.policy_ids().to_vec(),
    }))
}

/// A policy set to activate.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyBody {
    /// The whole Cedar policy set; every policy needs a unique `@id("…")`.
    pub text: String,
    /// Why it changes (kept with the version and in the log).
    #[serde(default)]
    pub comment: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PolicyAppliedView {
    pub version: i64,
    pub sha256: String,
    #[schema(value_type = Object)]
    pub diff: PolicyDiff,
}

/// Validate and activate a policy set (`policy.apply`: policy authors and
/// admins). An invalid set is refused with the validator's message (400); one
/// under which no enabled operator could still apply policies or create
/// operators, by the rule `lockout` (422); the active set stays.
#[utoipa::path(put, path = "/v1/policy", tag = "policy", request_body = PolicyBody,
    responses((status = 200, body = PolicyAppliedView), (status = 400, body = Problem, description = "invalid"),
        (status = 403, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem, description = "refused by the rule `lockout`")),
    security(("bearer" = [])))]
pub async fn put_policy(
    State(s): St,
    caller: Authed,
    Extension(rid): Extension<RequestIdExt>,
    JsonBody(body): JsonBody<PolicyBody>,
) -> ApiResult<Json<PolicyAppliedView>> {
    let applied = s.authority.apply_policy(ctx(&caller, &rid), &body.text, &body.comment).await?;
    Ok(Json(PolicyAppliedView { version: applied.version, sha256: applied.sha256, diff: applied.diff }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PolicyVersion {
    pub version: i64,
    pub sha256: String,
    pub comment: String,
    pub created_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: time::OffsetDateTime,
    /// The text (only when one version is asked for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PolicyVersionList {
    pub items: Vec<PolicyVersion>,
}

fn version_view(p: signet_core::ports::StoredPolicy, with_text: bool) -> PolicyVersion {
    PolicyVersion {
        version: p.version,
        sha256: p.sha256,
        comment: p.comment,
        created_by: p.created_by,
        created_at: p.created_at,
        text: with_text.then_some(p.text),
    }
}

/// Every applied policy version, newest first.
#[utoipa::path(get, path = "/v1/policy/versions", tag = "policy", responses((status = 200, body = PolicyVersionList)),
    security(("bearer" = [])))]
pub async fn list_policy_versions(
    State(s): St,
    caller: Authed,
    Extension(rid): Extension<RequestIdExt>,
) -> ApiResult<Json<PolicyVersionList>> {
    let items = s.authority.list_policy_versions(ctx(&caller, &rid)).await?.into_iter().map(|p| version_view(p, false)).collect();
    Ok(Json(PolicyVersionList { items }))
}

/// One applied policy version, with its text.
#[utoipa::path(get, path = "/v1/policy/versions/{version}", tag = "policy", params(("version" = i64, Path)),
    responses((status = 200, body = PolicyVersion), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn get_policy_version(
    State(s): St,
    caller: Authed,
    Extension(rid): Extension<RequestIdExt>,
    Path(version): Path<String>,
) -> ApiResult<Json<PolicyVersion>> {
    let v: i64 =
        version.parse().map_err(|_| Problem::not_found(format!("`{}` is not a policy version", signet_model::names::shorten(&version))))?;
    Ok(Json(version_view(s.authority.get_policy_version(ctx(&caller, &rid), v).await?, true)))
}

/// A policy that determined a decision.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ExplainedPolicy {
    pub id: String,
    /// `permit` or `forbid`.
    pub effect: String,
    pub reason: Option<String>,
    pub text: String,
}

/// What a request would get, and why. Nothing is written.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ExplainResponse {
    /// `issue`, `pending_approval` or `deny`.
    pub outcome: String,
    pub summary: String,
    pub policy_version: i64,
    /// The Cedar decision (before any approval is counted).
    pub allowed_by_policy: bool,
    pub determining_policies: Vec<ExplainedPolicy>,
    pub reasons: Vec<String>,
    pub errors: Vec<String>,
    /// A refusal by the profile's or the credential type's rules (checked in Rust).
    pub refusal: Option<Problem>,
    pub approvals_required: u32,
    pub approval_group: Option<String>,
}

/// Dry run: the decision a request would get, which policies decided it,
/// which approvals it would need; nothing is issued or recorded. Allowed to
/// whoever may submit the request, and to whoever may read the policy.
#[utoipa::path(post, path = "/v1/policy/explain", tag = "policy", request_body = IssueRequestBody,
    responses((status = 200, body = ExplainResponse), (status = 400, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = [])))]
pub async fn explain(
    State(s): St,
    caller: Authed,
    Extension(rid): Extension<RequestIdExt>,
    JsonBody(body): JsonBody<serde_json::Map<String, serde_json::Value>>,
) -> ApiResult<Json<ExplainResponse>> {
    let ask = parse_ask_body(body, false).map_err(|e| Problem::invalid(&e))?;
    let e = s.authority.explain(ctx(&caller, &rid), ask).await?;
    Ok(Json(ExplainResponse {
        outcome: e.outcome.to_string(),
        summary: e.explanation.summary,
        policy_version: e.policy_version,
        allowed_by_policy: e.decision.allowed,
        determining_policies: e
            .explanation
            .policies
            .into_iter()
            .map(|p| ExplainedPolicy { id: p.id, effect: p.effect.to_string(), reason: p.reason, text: p.text })
            .collect(),
        reasons: e.decision.reasons,
        errors: e.decision.errors,
        refusal: e.refusal.map(|f| Problem::with_field(StatusCode::UNPROCESSABLE_ENTITY, "policy-denied", "request denied by policy", &f)),
        approvals_required: e.approvals_required,
        approval_group: e.approval_group,
    }))
}

// ------------------------------------------------------------ approvals

/// An approval or a denial; the reason is required.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerdictBody {
    pub reason: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VerdictResponse {
    pub request: Request,
    pub approvals: u32,
    pub approvals_required: u32,
    /// Present when this approval met the quorum: the credential the authority minted.
    pub issued: Option<IssueResponse>,
}

async fn verdict(
    s: &AppState,
    caller: &Authed,
    rid: &RequestIdExt,
    id: &str,
    verdict: Verdict,
    body: VerdictBody,
) -> ApiResult<Json<VerdictResponse>> {
    let id = RequestId::parse("id", id).map_err(|e| Problem::not_found(e.reason))?;
    let out = s.authority.decide_request(ctx(caller, rid), &id, verdict, &body.reason).await?;
    if let Some(i) = &out.issued {
        s.metrics.issuance(&i.credential.profile, "x509", "issued");
    }
    Ok(Json(VerdictResponse {
        request: out.request,
        approvals: out.approvals,
        approvals_required: out.approvals_required,
        issued: out.issued.map(|i| issue_response(s, i)),
    }))
}

/// Approve a pending request. Separation of duties: the requester, and the
/// subject itself, never approve; each approver counts once. When the
/// quorum is met, the authority mints the credential from the request as
/// submitted.
#[utoipa::path(post, path = "/v1/requests/{id}/approve", tag = "requests", request_body = VerdictBody, params(("id" = String, Path)),
    responses((status = 200, body = VerdictResponse), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem, description = "not pending (issued, denied, expired) or already approved by this operator")),
    security(("bearer" = [])))]
pub async fn approve_request(
    State(s): St,
    caller: Authed,
    Extension(rid): Extension<RequestIdExt>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<VerdictBody>,
) -> ApiResult<Json<VerdictResponse>> {
    verdict(&s, &caller, &rid, &id, Verdict::Approve, body).await
}

/// Deny a pending request.
#[utoipa::path(post, path = "/v1/requests/{id}/deny", tag = "requests", request_body = VerdictBody, params(("id" = String, Path)),
    responses((status = 200, body = VerdictResponse), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn deny_request(
    State(s): St,
    caller: Authed,
    Extension(rid): Extension<RequestIdExt>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<VerdictBody>,
) -> ApiResult<Json<VerdictResponse>> {
    verdict(&s, &caller, &rid, &id, Verdict::Deny, body).await
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ApprovalList {
    pub items: Vec<Approval>,
}

/// The verdicts recorded on a request.
#[utoipa::path(get, path = "/v1/requests/{id}/approvals", tag = "requests", params(("id" = String, Path)),
    responses((status = 200, body = ApprovalList), (status = 403, body = Problem), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn list_approvals(
    State(s): St,
    caller: Authed,
    Extension(rid): Extension<RequestIdExt>,
    Path(id): Path<String>,
) -> ApiResult<Json<ApprovalList>> {
    let id = RequestId::parse("id", &id).map_err(|e| Problem::not_found(e.reason))?;
    s.authority.get_request(ctx(&caller, &rid), &id).await?;
    Ok(Json(ApprovalList { items: s.authority.store().list_approvals(&id).await? }))
}

// ------------------------------------------------------------ break-glass

/// An emergency request: the fields of a normal request body and the
/// emergency's reason. Parsed field by field like a request
/// ([`crate::api::parse_ask_body`]); this type documents the body.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
pub struct BreakGlassBody {
    #[serde(flatten)]
    pub request: IssueRequestBody,
    /// Why the normal path cannot be used (recorded in a high-severity event).
    pub reason: String,
}

/// Break-glass: an emergency issuance that needs two approvals by operators
/// with `break_glass.approve` (admins, security reviewers), neither of them
/// the requester; it waits at most 30 minutes, the credential lives at most
/// one hour, and every step is a high-severity event.
#[utoipa::path(post, path = "/v1/break-glass", tag = "requests", request_body = BreakGlassBody,
    responses((status = 202, body = crate::api::PendingResponse), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn break_glass(
    State(s): St,
    caller: Authed,
    Extension(rid): Extension<RequestIdExt>,
    JsonBody(body): JsonBody<serde_json::Map<String, serde_json::Value>>,
) -> ApiResult<Response> {
    let mut ask = parse_ask_body(body, true).map_err(|e| Problem::invalid(&e))?;
    let reason = ask.break_glass.as_deref().unwrap_or_default().trim().to_string();
    if reason.is_empty() || reason.chars().count() > 1024 || reason.chars().any(char::is_control) {
        return Err(Problem::invalid(&FieldError::new("reason", "a reason of 1-1024 characters, without control characters, is required")));
    }
    ask.break_glass = Some(reason);
    let profile = ask.profile.clone();
    answer_submission(&s, &profile, s.authority.submit(ctx(&caller, &rid), ask).await)
}

// ------------------------------------------------------------ subjects' lifecycle

async fn set_status(
    s: &AppState,
    caller: &Authed,
    rid: &RequestIdExt,
    id: &str,
    to: SubjectStatus,
    body: VerdictBody,
) -> ApiResult<Json<Subject>> {
    let id = SubjectId::parse("id", id).map_err(|e| Problem::not_found(e.reason))?;
    Ok(Json(s.authority.set_subject_status(ctx(caller, rid), &id, to, &body.reason).await?))
}

/// Suspend a subject: no credential is issued to it until it is reinstated.
#[utoipa::path(post, path = "/v1/subjects/{id}/suspend", tag = "subjects", request_body = VerdictBody, params(("id" = String, Path)),
    responses((status = 200, body = Subject), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn suspend_subject(
    State(s): St,
    caller: Authed,
    Extension(rid): Extension<RequestIdExt>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<VerdictBody>,
) -> ApiResult<Json<Subject>> {
    set_status(&s, &caller, &rid, &id, SubjectStatus::Suspended, body).await
}

/// Lift a suspension.
#[utoipa::path(post, path = "/v1/subjects/{id}/reinstate", tag = "subjects", request_body = VerdictBody, params(("id" = String, Path)),
    responses((status = 200, body = Subject), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn reinstate_subject(
    State(s): St,
    caller: Authed,
    Extension(rid): Extension<RequestIdExt>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<VerdictBody>,
) -> ApiResult<Json<Subject>> {
    set_status(&s, &caller, &rid, &id, SubjectStatus::Active, body).await
}

/// Revoke a subject, for good.
#[utoipa::path(post, path = "/v1/subjects/{id}/revoke", tag = "subjects", request_body = VerdictBody, params(("id" = String, Path)),
    responses((status = 200, body = Subject), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
pub async fn revoke_subject(
    State(s): St,
    caller: Authed,
    Extension(rid): Extension<RequestIdExt>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<VerdictBody>,
) -> ApiResult<Json<Subject>> {
    set_status(&s, &caller, &rid, &id, SubjectStatus::Revoked, body).await
}
