//! Recovery of the authority itself: break-glass for governance, run on the
//! host by someone who holds the unseal shares (`signet recover`).
//!
//! The lockout rule keeps the API from locking the authority out, but a
//! policy written into the store around the API, every admin's credential
//! lost, or a race between two changes could still leave nobody able to
//! apply policies or create operators. Whoever can unseal the keystore
//! already holds the authority's keys, so proving that (the server side
//! does, before calling [`recover`]) is what entitles a recovery.
//!
//! ```text
//!  plan (reason, reset policy?, new admin?) ─▶ validate ─▶ lockout rule on the outcome
//!    ─▶ `authority.recovered` (step `begin`: the intent, before any change)
//!    ─▶ [reset] default set as version n+1 + `policy.activated` (one transaction)
//!    ─▶ [admin] keep_secret(token) ─▶ operator + token + events (one transaction)
//!    ─▶ `authority.recovered` (step `complete`)
//! ```
//!
//! Every event is written by [`RECOVERY_ACTOR`], carries the operator's
//! reason and `details.severity = "high"`, and goes through the store's
//! append like any other, so the log stays one verifiable hash chain. Servers
//! running on the same store pick up the policy within
//! [`crate::governance::POLICY_RECHECK`].

use crate::authority::{hex, sha256};
use crate::error::CoreError;
use crate::governance::{diff_policies, mint_token, operator_ctx};
use crate::ports::{Clock, Rng, Store, StoreError, StoredPolicy};
use signet_model::FieldError;
use signet_model::event::{EventType, NewEvent};
use signet_model::ids::{OperatorId, TokenId};
use signet_model::operator::{Operator, OperatorInput, Role, SponsorAct, Sponsorship};
use signet_policy::{LockedOut, OperatorCtx, PolicySet};
use time::OffsetDateTime;

/// The actor of every event a recovery writes.
pub const RECOVERY_ACTOR: &str = "recovery:local";

/// What to recover, and why.
#[derive(Debug, Clone)]
pub struct RecoveryPlan {
    /// Why (required; recorded in every event of the recovery).
    pub reason: String,
    /// Activate the built-in default policy set as a new version.
    pub reset_policy: bool,
    /// Create an admin operator of this name (admin, every site), with a token.
    pub new_admin: Option<String>,
    /// How the unseal was proven: `shares`, `local-key-file` or `pkcs11`.
    pub proof: String,
}

/// What a recovery did.
#[derive(Debug, Clone)]
pub struct Recovered {
    /// The policy version it activated.
    pub policy_version: Option<i64>,
    /// The admin it created, and its token's id.
    pub admin: Option<(Operator, TokenId)>,
}

/// Check a plan without writing anything: the reason, the new admin's name
/// (free), and that the outcome passes the lockout rule. Returns the new
/// admin as it would be created, and the policy set in force now.
async fn prepare(
    store: &dyn Store,
    rng: &dyn Rng,
    plan: &RecoveryPlan,
    now: OffsetDateTime,
) -> Result<(Option<Operator>, Option<StoredPolicy>), CoreError> {
    let reason = plan.reason.trim();
    if reason.is_empty() || reason.chars().count() > 1024 || reason.chars().any(|c| c.is_control() && c != '\n') {
        return Err(CoreError::Invalid(FieldError::new(
            "reason",
            "a recovery needs a reason: 1-1024 characters, without control characters",
        )));
    }
    if !plan.reset_policy && plan.new_admin.is_none() {
        return Err(CoreError::Invalid(FieldError::new("recovery", "nothing to do: reset the policy set, create an admin, or both")));
    }
    let operators = store.list_operators().await?;
    let admin = match &plan.new_admin {
        None => None,
        Some(name) => {
            let input =
                OperatorInput { name: name.clone(), roles: vec![Role::Admin.as_str().into()], all_sites: true, ..Default::default() };
            let spec = input.parse().map_err(|e| CoreError::Invalid(e.within("new_admin")))?;
            if operators.iter().any(|o| o.name == spec.name) {
                return Err(CoreError::Conflict(FieldError::new("new_admin", format!("operator `{}` already exists", spec.name))));
            }
            Some(Operator {
                id: OperatorId::generate(now, rng.bytes16()),
                name: spec.name,
                roles: spec.roles,
                sites: spec.sites,
                all_sites: spec.all_sites,
                teams: spec.teams,
                subject_id: spec.subject_id,
                disabled: false,
                created_at: now,
                updated_at: now,
                sponsors: vec![Sponsorship { by: RECOVERY_ACTOR.into(), act: SponsorAct::Created, at: now }],
                enrolment_expires_at: None,
                enrolment_verifier: None,
            })
        }
    };
    let active = store.latest_policy().await?;
    let outcome = if plan.reset_policy {
        PolicySet::default_set()
    } else {
        match &active {
            None => PolicySet::default_set(),
            Some(p) => PolicySet::parse(&p.text).map_err(|e| {
                CoreError::Conflict(FieldError::new(
                    "reset_policy",
                    format!("the active policy version {} does not parse ({e}): reset the policy set too", p.version),
                ))
            })?,
        }
    };
    let mut enabled: Vec<OperatorCtx> = operators.iter().filter(|o| !o.disabled).map(operator_ctx).collect();
    enabled.extend(admin.iter().map(operator_ctx));
    let probe = OperatorId::generate(now, rng.bytes16());
    if let Err(LockedOut { why, .. }) = signet_policy::check_not_locked_out(&outcome, &enabled, probe.as_str()) {
        let hint = if plan.reset_policy { "create an admin too" } else { "reset the policy set too" };
        return Err(CoreError::Conflict(FieldError::new(
            "recovery",
            format!("after this recovery the authority would still be locked out (rule `lockout`: {why}): {hint}"),
        )));
    }
    Ok((admin, active))
}

fn recovery_event(event_type: EventType, plan: &RecoveryPlan, mut details: serde_json::Value, now: OffsetDateTime) -> NewEvent {
    if let Some(obj) = details.as_object_mut() {
        obj.insert("severity".into(), serde_json::json!("high"));
        obj.insert("recovery".into(), serde_json::json!(true));
    }
    NewEvent {
        event_type,
        actor: RECOVERY_ACTOR.into(),
        subject_id: None,
        request_id: None,
        credential_id: None,
        reason: Some(plan.reason.trim().to_string()),
        details,
        trace_id: None,
        time: now,
    }
}

/// Carry out a recovery on `store` (its holder having proven it can unseal
/// the keystore). Nothing is written when the plan is refused: a missing
/// reason, a taken name, or an outcome that would still be locked out.
///
/// `keep_secret` receives the new admin's token secret before the admin is
/// committed (the server writes it to a private file), as at first start;
/// the secret is never logged.
pub async fn recover(
    store: &dyn Store,
    clock: &dyn Clock,
    rng: &dyn Rng,
    plan: &RecoveryPlan,
    keep_secret: impl FnOnce(&str) -> Result<(), CoreError>,
) -> Result<Recovered, CoreError> {
    let now = clock.now();
    let (admin, active) = prepare(store, rng, plan, now).await?;
    let begin = recovery_event(
        EventType::AuthorityRecovered,
        plan,
        serde_json::json!({ "step": "begin", "proof": plan.proof, "reset_policy": plan.reset_policy,
            "new_admin": admin.as_ref().map(|a| &a.name) }),
        now,
    );
    store.record_events(&[begin]).await?;

    let mut policy_version = None;
    if plan.reset_policy {
        let previous_version = active.as_ref().map_or(0, |p| p.version);
        let previous_set = active.as_ref().and_then(|p| PolicySet::parse(&p.text).ok());
        let default = PolicySet::default_set();
        let empty = PolicySet::parse("").map_err(|e| CoreError::Internal(format!("an empty policy set: {e}")))?;
        let diff = diff_policies(previous_set.as_ref().unwrap_or(&empty), &default);
        let stored = StoredPolicy {
            version: previous_version + 1,
            text: default.text().to_string(),
            sha256: hex(&sha256(default.text().as_bytes())),
            comment: format!("recovery: {}", plan.reason.trim()),
            created_by: RECOVERY_ACTOR.into(),
            created_at: now,
        };
        let ev = recovery_event(
            EventType::PolicyActivated,
            plan,
            serde_json::json!({
                "version": stored.version, "previous_version": previous_version, "sha256": stored.sha256,
                "previous_sha256": active.as_ref().map(|p| p.sha256.clone()), "previous_parses": previous_set.is_some(),
                "comment": stored.comment, "diff": diff,
            }),
            now,
        );
        store.insert_policy(&stored, &ev).await.map_err(|e| match e {
            StoreError::Conflict { .. } => CoreError::Conflict(FieldError::new(
                "reset_policy",
                format!("policy version {} was activated concurrently; run the recovery again", stored.version),
            )),
            other => other.into(),
        })?;
        policy_version = Some(stored.version);
    }

    let mut created = None;
    if let Some(op) = admin {
        let token_id = TokenId::generate(now, rng.bytes16());
        let (token, secret) = mint_token(rng, token_id.clone(), "recovery admin", &op.id, None, now);
        let op_ev = recovery_event(
            EventType::OperatorCreated,
            plan,
            serde_json::json!({ "operator_id": op.id, "name": op.name, "roles": op.roles, "sites": op.sites,
                "all_sites": op.all_sites, "teams": op.teams, "subject_id": op.subject_id }),
            now,
        );
        let token_ev = recovery_event(
            EventType::TokenCreated,
            plan,
            serde_json::json!({ "token_id": token.id, "name": token.name, "operator_id": op.id, "expires_at": null }),
            now,
        );
        keep_secret(&secret)?;
        store.insert_operator_with_token(&op, &token, [&op_ev, &token_ev]).await?;
        created = Some((op, token_id));
    }

    let complete = recovery_event(
        EventType::AuthorityRecovered,
        plan,
        serde_json::json!({ "step": "complete", "policy_version": policy_version,
            "operator_id": created.as_ref().map(|(o, _)| &o.id), "token_id": created.as_ref().map(|(_, t)| t) }),
        now,
    );
    store.record_events(&[complete]).await?;
    Ok(Recovered { policy_version, admin: created })
}
