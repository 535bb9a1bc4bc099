//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use crate::problem::Problem;
use crate::{api, authorities, governance, seal};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Signet", description = "Signet issuance authority API. Errors are RFC 9457 problem+json documents naming the field at fault."),
    paths(
        api::create_subject, api::list_subjects, api::get_subject,
        api::put_profile, api::list_profiles, api::get_profile,
        api::create_request, api::list_requests, api::get_request,
        api::list_credentials, api::get_credential,
        api::list_events,
        governance::suspend_subject, governance::reinstate_subject, governance::revoke_subject,
        governance::approve_request, governance::deny_request, governance::list_approvals, governance::break_glass,
        governance::whoami, governance::create_operator, governance::list_operators, governance::get_operator,
        governance::update_operator, governance::create_token, governance::list_tokens, governance::revoke_token,
        governance::create_operator_certificate, governance::set_enrolment, governance::enrol, governance::list_grants,
        governance::approve_grant, governance::deny_grant,
        governance::get_policy, governance::put_policy, governance::list_policy_versions, governance::get_policy_version,
        governance::explain,
        authorities::list_authorities, authorities::rotate_issuing, authorities::destroy_authority,
        seal::seal_status, seal::unseal, seal::seal,
    ),
    components(schemas(Problem)),
    modifiers(&BearerAuth),
    tags(
        (name = "subjects", description = "who or what receives credentials"),
        (name = "profiles", description = "what may be issued, under which rules"),
        (name = "requests", description = "asks for credentials; issuance"),
        (name = "credentials", description = "what was minted"),
        (name = "events", description = "the append-only record of every state change"),
        (name = "operators", description = "callers of the operator API: roles, sites, teams, tokens"),
        (name = "policy", description = "the Cedar policy set: read, apply (versioned), explain"),
        (name = "authorities", description = "authority keys: states, issuing CA rollover, destruction"),
        (name = "sys", description = "the keystore seal: status, unseal (shares), seal"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

/// The document as served at `/v1/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    doc
}

pub fn document_json() -> String {
    document().to_pretty_json().unwrap_or_else(|_| "{}".into())
}
