//! Decisions: pure functions of a policy set and typed inputs.

use crate::action::Action;
use crate::entities::{OperatorCtx, ProfileRef, ResourceCtx, SubjectRef};
use crate::policy_set::{Inner, PolicyInfo, PolicySet, quoted};
use cedar_policy::{Context, Decision as CedarDecision, Entities, Entity, EntityUid, Request, RestrictedExpression};
use signet_model::names::SanSet;
use signet_model::profile::Profile;
use signet_model::subject::Subject;

/// A decision is a value: allowed or not, the ids of the policies that
/// determined it, and why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// The `@id`s of the policies that determined the decision: the matching
    /// permits when allowed, the matching forbids when denied (empty when
    /// denied because nothing permits: default deny).
    pub determining_policies: Vec<String>,
    /// Lower-case sentences: the `@reason` of each determining forbid, the
    /// default-deny sentence, or details computed outside Cedar (names).
    pub reasons: Vec<String>,
    /// Evaluation or request errors. Any error denies (fail closed), even
    /// when it only affected a `forbid`.
    pub errors: Vec<String>,
    /// Issuance only: approvals still to collect before this request would
    /// be allowed (0 when approvals are not what stands in the way).
    pub approvals_needed: u32,
}

impl Decision {
    fn refused(error: String) -> Self {
        Decision { allowed: false, errors: vec![error], ..Default::default() }
    }
}

fn evaluate(
    inner: &Inner,
    policies: &cedar_policy::PolicySet,
    principal: EntityUid,
    action: &EntityUid,
    resource: EntityUid,
    context: Context,
    entities: Vec<Entity>,
) -> Decision {
    // Entities are checked against the schema only in tests
    // (`entities_conform_to_the_schema`): the builders are typed, and doing it
    // per decision (which also re-adds every action entity) costs most of a
    // decision. A builder mistake would surface as an evaluation error, which
    // denies.
    let entities = match Entities::from_entities(entities, None) {
        Ok(e) => e,
        Err(e) => return Decision::refused(format!("invalid entities: {e}")),
    };
    let request = match Request::new(principal, action.clone(), resource, context, Some(&inner.schema)) {
        Ok(r) => r,
        Err(e) => return Decision::refused(format!("invalid request: {e}")),
    };
    let response = inner.authorizer.is_authorized(&request, policies, &entities);
    let diagnostics = response.diagnostics();
    let determining_policies: Vec<String> = diagnostics.reason().map(|id| id.to_string()).collect();
    let errors: Vec<String> = diagnostics.errors().map(|e| e.to_string()).collect();
    let allowed = response.decision() == CedarDecision::Allow && errors.is_empty();
    let mut reasons = Vec::new();
    if !allowed {
        for id in &determining_policies {
            if let Some(r) = inner.policies.policy(&cedar_policy::PolicyId::new(id)).and_then(|p| p.annotation("reason")) {
                reasons.push(r.to_string());
            }
        }
        if determining_policies.is_empty() && errors.is_empty() {
            reasons.push(format!("no policy permits `{}` (default deny)", action.id().unescaped()));
        }
        if response.decision() == CedarDecision::Allow && !errors.is_empty() {
            reasons.push("a policy failed to evaluate; denied to fail closed".to_string());
        }
    }
    Decision { allowed, determining_policies, reasons, errors, approvals_needed: 0 }
}

/// May `operator` perform `action` on `resource`? Pure: the entities are
/// built from the arguments, and nothing else is consulted.
pub fn authorize(set: &PolicySet, operator: &OperatorCtx, action: Action, resource: &ResourceCtx) -> Decision {
    let inner = set.inner();
    let vocab = &inner.vocab;
    let principal = match vocab.operator(operator) {
        Ok(p) => p,
        Err(e) => return Decision::refused(format!("invalid operator: {e}")),
    };
    let (resource_uid, resource_entity) = match vocab.resource(resource) {
        Ok(r) => r,
        Err(e) => return Decision::refused(format!("invalid resource: {e}")),
    };
    let (Some(action_uid), Some(policies)) = (vocab.actions.get(action.index()), inner.by_action.get(action.index())) else {
        return Decision::refused(format!("unknown action `{action}`"));
    };
    let principal_uid = principal.uid();
    let mut entities = Vec::with_capacity(2);
    entities.push(principal);
    // An operator acting on itself is one entity, not two.
    if let Some(r) = resource_entity.filter(|r| r.uid() != principal_uid) {
        entities.push(r);
    }
    evaluate(inner, policies, principal_uid, action_uid, resource_uid, Context::empty(), entities)
}

/// What was proven about a request, beyond the subject's record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Evidence {
    /// The requester proved possession of the key to bind.
    pub key_proven: bool,
    /// A device or workload attestation was verified.
    pub attested: bool,
}

/// Everything an issuance decision looks at.
#[derive(Debug, Clone)]
pub struct IssuanceCtx<'a> {
    pub subject: &'a Subject,
    pub profile: &'a Profile,
    pub names: &'a SanSet,
    /// The lifetime asked for; `None` takes the profile's default.
    pub ttl_seconds: Option<i64>,
    pub scopes: &'a [String],
    pub evidence: Evidence,
    /// The operator id of the authenticated caller.
    pub caller: &'a str,
    /// Approvals collected so far.
    pub approvals: u32,
}

/// Decide a credential request with the `credential.issue` policies:
/// principal the subject, resource the profile, the request as context.
///
/// Whether the requested names fit the profile is computed here, with the
/// profile's `require_names` and [`signet_model::names::NameRules::check`] (the
/// one place names are matched), and handed to Cedar as the boolean
/// `context.names_within_profile`; when false, the check's message is added
/// to the reasons.
///
/// When the request is refused only for want of approvals, `approvals_needed`
/// says how many are missing (found by a dry run with the approvals granted).
pub fn decide_issuance(set: &PolicySet, ctx: &IssuanceCtx<'_>) -> Decision {
    let names_check = if ctx.profile.require_names && ctx.names.is_empty() {
        Err(format!("names: profile `{}` requires at least one subject alternative name", ctx.profile.name))
    } else {
        ctx.profile.names.check("names", ctx.names, &ctx.subject.name).map_err(|e| e.to_string())
    };
    let names_within_profile = names_check.is_ok();
    let mut decision = issue_once(set, ctx, names_within_profile, ctx.approvals);
    if let Err(why) = names_check {
        decision.reasons.push(why);
    }
    let required = ctx.profile.approvals.as_ref().map_or(0, |a| a.required);
    if !decision.allowed && decision.errors.is_empty() && ctx.approvals < required {
        // Dry run: the same request with every approval collected.
        if issue_once(set, ctx, names_within_profile, required).allowed {
            decision.approvals_needed = required - ctx.approvals;
        }
    }
    decision
}

fn issue_once(set: &PolicySet, ctx: &IssuanceCtx<'_>, names_within_profile: bool, approvals: u32) -> Decision {
    let inner = set.inner();
    let vocab = &inner.vocab;
    let subject = match vocab.subject(&SubjectRef::from_subject(ctx.subject)) {
        Ok(s) => s,
        Err(e) => return Decision::refused(format!("invalid subject: {e}")),
    };
    let profile = match vocab.profile(&ProfileRef::from_profile(ctx.profile)) {
        Ok(p) => p,
        Err(e) => return Decision::refused(format!("invalid profile: {e}")),
    };
    let ttl = ctx.ttl_seconds.unwrap_or(ctx.profile.default_ttl_seconds);
    let evidence = match RestrictedExpression::new_record([
        ("key_proven".to_string(), RestrictedExpression::new_bool(ctx.evidence.key_proven)),
        ("attested".to_string(), RestrictedExpression::new_bool(ctx.evidence.attested)),
    ]) {
        Ok(e) => e,
        Err(e) => return Decision::refused(format!("invalid evidence: {e}")),
    };
    let context = Context::from_pairs([
        ("caller".to_string(), RestrictedExpression::new_entity_uid(vocab.operator_uid(ctx.caller))),
        ("ttl_seconds".to_string(), RestrictedExpression::new_long(ttl)),
        ("names_within_profile".to_string(), RestrictedExpression::new_bool(names_within_profile)),
        ("names_count".to_string(), RestrictedExpression::new_long(i64::try_from(ctx.names.len()).unwrap_or(i64::MAX))),
        (
            "requested_scopes".to_string(),
            RestrictedExpression::new_set(ctx.scopes.iter().map(|s| RestrictedExpression::new_string(s.clone()))),
        ),
        ("approvals".to_string(), RestrictedExpression::new_long(i64::from(approvals))),
        ("evidence".to_string(), evidence),
    ]);
    let context = match context {
        Ok(c) => c,
        Err(e) => return Decision::refused(format!("invalid context: {e}")),
    };
    let (subject_uid, profile_uid) = (subject.uid(), profile.uid());
    let Some(policies) = inner.by_action.last() else {
        return Decision::refused("no issuance policies".to_string());
    };
    evaluate(inner, policies, subject_uid, &vocab.issue, profile_uid, context, vec![subject, profile])
}

/// `policy explain`: the determining policies of a decision, with their
/// effect, `@reason` and source. Deciding is pure, so a dry run is simply a
/// call to [`authorize`] or [`decide_issuance`] followed by this.
pub fn explain(set: &PolicySet, decision: &Decision) -> Explanation {
    Explanation {
        summary: if decision.allowed {
            format!("allowed by {}", quoted(&decision.determining_policies))
        } else if decision.determining_policies.is_empty() {
            "denied: no policy permits it (default deny)".to_string()
        } else {
            format!("denied by {}", quoted(&decision.determining_policies))
        },
        policies: decision.determining_policies.iter().filter_map(|id| set.policy(id)).collect(),
        approvals_needed: decision.approvals_needed,
    }
}

/// The answer to `policy explain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    pub summary: String,
    pub policies: Vec<PolicyInfo>,
    /// Approvals that would still be needed (issuance).
    pub approvals_needed: u32,
}
