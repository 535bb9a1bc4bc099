//! Separation of duties that one admin cannot satisfy alone: the rules
//! that keep an m-of-n approval from being met by the person who asked.
//!
//! ```text
//!  credentials ─▶ an operator's tokens and certificates are created only by that operator
//!                 (sod.own-credentials-only); its first one comes from an enrolment:
//!                 the operator keeps a secret, the admin stores only its SHA-256
//!                 (POST /v1/operators with enrolment_verifier) ─▶ POST /v1/operators/enrol
//!                 redeems it once, before it expires, for a token (one transaction)
//!  privileged grant (a role that approves, applies policy or administers; its reach; a re-enrolment)
//!     ─▶ another enabled admin exists? ─▶ pending grant ─▶ a different admin approves ─▶ applied
//!                                     └▶ applied at once
//!     every step a high-severity event; the operator records who sponsored it, when
//!  approval ─▶ was the approver created, enrolled or granted by the requester within the
//!              profile's fresh_approver_window? ─▶ refused, never counted (sod.fresh-approver)
//! ```
//!
//! One admin can still create an operator whose enrolment secret it made
//! itself: nothing can tell that apart from a real person's enrolment. What
//! it cannot do is use that operator to approve its own requests within the
//! window, nor give it a privileged role without a second admin (when there
//! is one), nor do any of it without high-severity events in the log.

use crate::authority::{Authority, Caller, Ctx, Principal, sha256, with_auth};
use crate::error::CoreError;
use crate::ports::OperatorToken;
use signet_model::FieldError;
use signet_model::event::{EventType, NewEvent};
use signet_model::ids::{GrantId, OperatorId, TokenId};
use signet_model::operator::{EnrolmentAsk, GrantState, Operator, OperatorGrant, Role, SponsorAct};
use signet_model::request::Request;
use signet_policy::{Action, Decision, ResourceCtx};
use time::{Duration, OffsetDateTime};

/// Nobody creates a token or a certificate for another operator.
pub const OWN_CREDENTIALS_ONLY: &str = "sod.own-credentials-only";
/// A privileged grant asked by one admin is approved by a different one.
pub const SECOND_ADMIN: &str = "sod.second-admin";
/// An approval does not count when the requester recently made the approver.
pub const FRESH_APPROVER: &str = "sod.fresh-approver";

/// How long a privileged grant waits for a second admin.
pub const GRANT_TTL: Duration = Duration::hours(24);

/// An operator as created or changed, and the privileged part of the change
/// that waits for a second admin, if any.
#[derive(Debug, Clone)]
pub struct OperatorChange {
    pub operator: Operator,
    pub pending_grant: Option<OperatorGrant>,
}

/// Mark an event's details high severity (as break-glass events are).
pub(crate) fn high_severity(details: &mut serde_json::Value) {
    if let Some(obj) = details.as_object_mut() {
        obj.insert("severity".into(), "high".into());
    }
}

/// The one answer to every failed enrolment: it does not say which part was wrong.
fn enrolment_refused() -> CoreError {
    CoreError::Unauthenticated("no enrolment matches this operator and secret (unknown, already used, expired, or a wrong secret)".into())
}

impl Authority {
    // ------------------------------------------------------------ own credentials

    /// `sod.own-credentials-only`: an operator's tokens and certificates are
    /// created by that operator, never by an admin for it (an admin holding
    /// them could act as it, and approve its own requests). A refusal is an
    /// `operator.denied` event naming the rule. The authority itself
    /// (first-start bootstrap) is exempt.
    pub(crate) async fn require_own_credentials(
        &self,
        ctx: Ctx<'_>,
        owner: &OperatorId,
        action: Action,
        resource: &ResourceCtx,
    ) -> Result<(), CoreError> {
        match &ctx.caller.principal {
            Principal::System => Ok(()),
            Principal::Operator(_) if ctx.caller.actor == owner.as_str() => Ok(()),
            _ => {
                let decision = Decision {
                    allowed: false,
                    determining_policies: vec![OWN_CREDENTIALS_ONLY.into()],
                    reasons: vec![
                        "nobody creates credentials for another operator; an operator gets its first token by enrolment \
                         (POST /v1/operators/enrol) and creates the others itself"
                            .into(),
                    ],
                    errors: vec![],
                    approvals_needed: 0,
                };
                Err(self.record_denial(ctx, action, resource, &decision).await)
            }
        }
    }

    // ------------------------------------------------------------ privileged grants

    /// Is there an enabled admin other than `actor`, who could approve a grant?
    /// The authority itself (first start, tests' fixtures) never waits.
    async fn another_admin_exists(&self, ctx: Ctx<'_>) -> Result<bool, CoreError> {
        if ctx.caller.principal == Principal::System {
            return Ok(false);
        }
        let actor = ctx.caller.actor.as_str();
        Ok(self.store().list_operators().await?.iter().any(|o| !o.disabled && o.roles.contains(&Role::Admin) && o.id.as_str() != actor))
    }

    fn new_grant(
        &self,
        ctx: Ctx<'_>,
        operator: &Operator,
        after: signet_model::operator::OperatorAccess,
        now: OffsetDateTime,
    ) -> OperatorGrant {
        OperatorGrant {
            id: GrantId::generate(now, self.rng().bytes16()),
            operator_id: operator.id.clone(),
            before: operator.access(),
            after,
            enrolment: None,
            requested_by: ctx.caller.actor.clone(),
            state: GrantState::Pending,
            created_at: now,
            expires_at: now + GRANT_TTL,
            decided_by: None,
            decided_at: None,
        }
    }

    fn grant_event(&self, ctx: Ctx<'_>, kind: EventType, grant: &OperatorGrant, now: OffsetDateTime) -> NewEvent {
        let mut ev = self.event(ctx, kind, now);
        let mut details = serde_json::json!({
            "grant_id": grant.id, "operator_id": grant.operator_id, "state": grant.state, "requested_by": grant.requested_by,
            "before": grant.before, "after": grant.after, "enrolment": grant.enrolment.is_some(),
            "expires_at": grant.expires_at.unix_timestamp(),
        });
        high_severity(&mut details);
        ev.details = with_auth(ctx.caller, details);
        ev
    }

    /// Store a new operator (authorised and built by `new_operator`). Its
    /// privileged roles wait for a second admin when there is one: the
    /// operator is created without them and a pending grant holds them.
    pub(crate) async fn store_new_operator(&self, ctx: Ctx<'_>, mut op: Operator, mut ev: NewEvent) -> Result<OperatorChange, CoreError> {
        let now = op.created_at;
        if !op.is_privileged() {
            self.store().insert_operator(&op, None, &[&ev]).await?;
            return Ok(OperatorChange { operator: op, pending_grant: None });
        }
        high_severity(&mut ev.details);
        if !self.another_admin_exists(ctx).await? {
            self.store().insert_operator(&op, None, &[&ev]).await?;
            return Ok(OperatorChange { operator: op, pending_grant: None });
        }
        let wanted = op.access();
        op.roles.retain(|r| !r.is_privileged());
        let grant = self.new_grant(ctx, &op, wanted, now);
        if let Some(obj) = ev.details.as_object_mut() {
            obj.insert("roles".into(), serde_json::json!(op.roles));
            obj.insert("pending_grant".into(), serde_json::json!(grant.id));
        }
        let grant_ev = self.grant_event(ctx, EventType::OperatorGrantRequested, &grant, now);
        self.store().insert_operator(&op, Some(&grant), &[&ev, &grant_ev]).await?;
        Ok(OperatorChange { operator: op, pending_grant: Some(grant) })
    }

    /// Store a change to an operator (authorised and validated by
    /// `update_operator`). A change that grants or widens privileged access
    /// waits, whole, for a second admin when there is one; otherwise it
    /// applies, and a privileged one records its sponsor.
    pub(crate) async fn store_operator_change(
        &self,
        ctx: Ctx<'_>,
        before: &Operator,
        mut after: Operator,
        mut ev: NewEvent,
    ) -> Result<OperatorChange, CoreError> {
        let now = after.updated_at;
        if !before.access().widens_privilege(&after.access()) {
            self.store().update_operator(&after, &[&ev]).await?;
            self.forget_cached_tokens();
            return Ok(OperatorChange { operator: after, pending_grant: None });
        }
        if self.another_admin_exists(ctx).await? {
            let grant = self.new_grant(ctx, before, after.access(), now);
            let grant_ev = self.grant_event(ctx, EventType::OperatorGrantRequested, &grant, now);
            self.store().insert_grant(&grant, &[&grant_ev]).await?;
            return Ok(OperatorChange { operator: before.clone(), pending_grant: Some(grant) });
        }
        after.sponsor(&ctx.caller.actor, SponsorAct::Granted, now);
        high_severity(&mut ev.details);
        self.store().update_operator(&after, &[&ev]).await?;
        self.forget_cached_tokens();
        Ok(OperatorChange { operator: after, pending_grant: None })
    }

    /// Re-enrolment (a lost credential): a new enrolment verifier for an
    /// existing operator, set by an admin (`operator.update`; never one's own).
    /// For a privileged operator it counts as a privileged grant: it waits
    /// for a second admin when there is one, and the setter becomes a sponsor.
    pub async fn set_enrolment(&self, ctx: Ctx<'_>, id: &OperatorId, ask: EnrolmentAsk) -> Result<OperatorChange, CoreError> {
        self.authorize(ctx, Action::OperatorUpdate, &ResourceCtx::Operator { id: id.to_string() }).await?;
        let before = self.store().get_operator(id).await?.ok_or_else(|| CoreError::NotFound { entity: "operator", id: id.to_string() })?;
        let verifier =
            ask.verifier_bytes().ok_or_else(|| CoreError::Invalid(FieldError::new("enrolment_verifier", "expected 64 hex digits")))?;
        let now = self.now();
        if before.is_privileged() && self.another_admin_exists(ctx).await? {
            let mut grant = self.new_grant(ctx, &before, before.access(), now);
            grant.enrolment = Some(ask);
            let grant_ev = self.grant_event(ctx, EventType::OperatorGrantRequested, &grant, now);
            self.store().insert_grant(&grant, &[&grant_ev]).await?;
            return Ok(OperatorChange { operator: before, pending_grant: Some(grant) });
        }
        let mut after = before.clone();
        after.enrolment_verifier = Some(verifier);
        after.enrolment_expires_at = Some(now + Duration::seconds(ask.ttl_seconds));
        after.updated_at = now;
        after.sponsor(&ctx.caller.actor, SponsorAct::SetEnrolment, now);
        let mut ev = self.event(ctx, EventType::OperatorUpdated, now);
        let mut details = serde_json::json!({
            "operator_id": id, "enrolment_set": true,
            "enrolment_expires_at": after.enrolment_expires_at.map(|t| t.unix_timestamp()),
        });
        if before.is_privileged() {
            high_severity(&mut details);
        }
        ev.details = with_auth(ctx.caller, details);
        self.store().update_operator(&after, &[&ev]).await?;
        Ok(OperatorChange { operator: after, pending_grant: None })
    }

    /// Every privileged grant, newest first (`operator.read` on each operator).
    pub async fn list_grants(&self, ctx: Ctx<'_>) -> Result<Vec<OperatorGrant>, CoreError> {
        let mut out = Vec::new();
        for g in self.store().list_grants(500).await? {
            if self.permitted(ctx.caller, Action::OperatorRead, &ResourceCtx::Operator { id: g.operator_id.to_string() }).await? {
                out.push(g);
            }
        }
        Ok(out)
    }

    /// Approve (and apply) or deny a pending privileged grant. Approving
    /// needs `operator.update` on the operator and is refused to the admin who
    /// asked for the grant (`sod.second-admin`); denying is open to any admin,
    /// the asker included (a withdrawal). An expired grant is closed as such.
    /// The grant applies only to the operator as it was when it was asked.
    pub async fn decide_grant(&self, ctx: Ctx<'_>, id: &GrantId, approve: bool, reason: &str) -> Result<OperatorGrant, CoreError> {
        let reason = crate::authority::required_reason(reason)?;
        let grant = self.store().get_grant(id).await?.ok_or_else(|| CoreError::NotFound { entity: "grant", id: id.to_string() })?;
        let resource = ResourceCtx::Operator { id: grant.operator_id.to_string() };
        self.authorize(ctx, Action::OperatorUpdate, &resource).await?;
        let conflict = |why: String| CoreError::Conflict(FieldError::new("grant", why));
        if grant.state != GrantState::Pending {
            return Err(conflict(format!("grant `{id}` is {}, not pending", grant.state.as_str())));
        }
        if approve && grant.requested_by == ctx.caller.actor {
            let decision = Decision {
                allowed: false,
                determining_policies: vec![SECOND_ADMIN.into()],
                reasons: vec!["a privileged grant is approved by a different admin than the one who asked for it".into()],
                errors: vec![],
                approvals_needed: 0,
            };
            return Err(self.record_denial(ctx, Action::OperatorUpdate, &resource, &decision).await);
        }
        let now = self.now();
        let close =
            |state: GrantState| OperatorGrant { state, decided_by: Some(ctx.caller.actor.clone()), decided_at: Some(now), ..grant.clone() };
        if now >= grant.expires_at {
            let expired = close(GrantState::Expired);
            let ev = self.grant_event(ctx, EventType::OperatorGrantDecided, &expired, now);
            self.store().close_grant(&grant, GrantState::Expired, &ctx.caller.actor, now, None, &[&ev]).await?;
            return Err(conflict(format!("grant `{id}` expired before a second admin approved it; ask again")));
        }
        if !approve {
            let denied = close(GrantState::Denied);
            let mut ev = self.grant_event(ctx, EventType::OperatorGrantDecided, &denied, now);
            ev.reason = Some(reason.to_string());
            if !self.store().close_grant(&grant, GrantState::Denied, &ctx.caller.actor, now, None, &[&ev]).await? {
                return Err(conflict(format!("grant `{id}` was decided concurrently")));
            }
            return Ok(denied);
        }
        let mut op = self
            .store()
            .get_operator(&grant.operator_id)
            .await?
            .ok_or_else(|| CoreError::NotFound { entity: "operator", id: grant.operator_id.to_string() })?;
        let stale = || conflict(format!("operator `{}` changed since grant `{id}` was asked; deny it and ask again", grant.operator_id));
        if op.access() != grant.before {
            return Err(stale());
        }
        op.set_access(grant.after.clone());
        if let Some(e) = &grant.enrolment {
            let verifier = e.verifier_bytes().ok_or_else(|| CoreError::Internal(format!("grant `{id}` holds a malformed verifier")))?;
            op.enrolment_verifier = Some(verifier);
            op.enrolment_expires_at = Some(now + Duration::seconds(e.ttl_seconds));
        }
        op.updated_at = now;
        let asked_as = if grant.enrolment.is_some() { SponsorAct::SetEnrolment } else { SponsorAct::Granted };
        op.sponsor(&grant.requested_by, asked_as, now);
        op.sponsor(&ctx.caller.actor, SponsorAct::ApprovedGrant, now);
        let applied = close(GrantState::Applied);
        let mut decided = self.grant_event(ctx, EventType::OperatorGrantDecided, &applied, now);
        decided.reason = Some(reason.to_string());
        let mut updated = self.event(ctx, EventType::OperatorUpdated, now);
        let mut details = serde_json::json!({ "operator_id": op.id, "grant_id": id, "before": grant.before, "after": grant.after,
            "enrolment_set": grant.enrolment.is_some() });
        high_severity(&mut details);
        updated.details = with_auth(ctx.caller, details);
        if !self.store().close_grant(&grant, GrantState::Applied, &ctx.caller.actor, now, Some(&op), &[&decided, &updated]).await? {
            return Err(stale());
        }
        self.forget_cached_tokens();
        Ok(applied)
    }

    // ------------------------------------------------------------ enrolment

    /// Redeem an enrolment secret for a token (unauthenticated: the secret is
    /// the credential). `operator` is the operator's id or name. The secret's
    /// SHA-256 must be the operator's pending verifier, unexpired, and the
    /// operator enabled; the verifier is cleared in the transaction that
    /// stores the token and the `operator.enrolled` event, so a secret works
    /// once. Every refusal gives the same answer and is logged like a failed
    /// authentication (rate-limited).
    pub async fn enrol(
        &self,
        operator: &str,
        secret: &str,
        token_name: &str,
        ttl: Option<Duration>,
        trace_id: Option<&str>,
    ) -> Result<(Operator, OperatorToken, String), CoreError> {
        crate::governance::check_token_shape(token_name, ttl)?;
        let path = "/v1/operators/enrol";
        let found = match OperatorId::parse("operator", operator) {
            Ok(id) => self.store().get_operator(&id).await?,
            Err(_) => self.store().list_operators().await?.into_iter().find(|o| o.name == operator),
        };
        let now = self.now();
        let hash = sha256(secret.as_bytes());
        let long_enough = (MIN_ENROLMENT_SECRET..=256).contains(&secret.len());
        let matches = found.as_ref().is_some_and(|op| {
            long_enough
                && !op.disabled
                && op.enrolment_expires_at.is_some_and(|t| t > now)
                && op.enrolment_verifier.is_some_and(|v| aws_lc_rs::constant_time::verify_slices_are_equal(&v, &hash).is_ok())
        });
        let (Some(op), true) = (found, matches) else {
            self.record_auth_failure("enrolment refused: no matching enrolment for the operator and secret", path, trace_id).await;
            return Err(enrolment_refused());
        };
        let me = Caller::operator(&op, None);
        let ctx = Ctx { caller: &me, trace_id };
        let id = TokenId::generate(now, self.rng().bytes16());
        let (token, token_secret, token_ev) = self.new_token(ctx, &op, id, token_name.trim(), ttl, now);
        let mut ev = self.event(ctx, EventType::OperatorEnrolled, now);
        ev.details = serde_json::json!({ "operator_id": op.id, "name": op.name, "token_id": token.id });
        if !self.store().redeem_enrolment(&op.id, &hash, now, &token, &[&ev, &token_ev]).await? {
            self.record_auth_failure("enrolment refused: the enrolment was used or replaced concurrently", path, trace_id).await;
            return Err(enrolment_refused());
        }
        let mut op = op;
        op.enrolment_verifier = None;
        op.enrolment_expires_at = None;
        Ok((op, token, token_secret))
    }

    // ------------------------------------------------------------ fresh approvers

    /// `sod.fresh-approver`: refuse an approval of `request` by an operator
    /// that its requester created, enrolled, or granted privileged access
    /// within `window_seconds` before now (0: the rule is off). Logged as
    /// `request.approval_refused`; the approval is not recorded, so it never
    /// counts toward the quorum.
    pub(crate) async fn refuse_fresh_approver(&self, ctx: Ctx<'_>, request: &Request, window_seconds: i64) -> Result<(), CoreError> {
        if window_seconds <= 0 || !matches!(ctx.caller.principal, Principal::Operator(_)) {
            return Ok(());
        }
        let Ok(id) = OperatorId::parse("actor", &ctx.caller.actor) else { return Ok(()) };
        let Some(approver) = self.store().get_operator(&id).await? else { return Ok(()) };
        let now = self.now();
        let since = now - Duration::seconds(window_seconds);
        let Some(s) = approver.sponsors.iter().rev().find(|s| s.by == request.requested_by && s.at > since) else {
            return Ok(());
        };
        let why = format!(
            "`{}` ({}) was {} by the requester `{}` at {}, within the profile's fresh-approver window of {}: \
             its approval does not count toward the quorum",
            approver.name,
            approver.id,
            match s.act {
                SponsorAct::Created => "created",
                SponsorAct::Granted | SponsorAct::ApprovedGrant => "granted its access",
                SponsorAct::SetEnrolment => "given a new enrolment",
            },
            request.requested_by,
            s.at.unix_timestamp(),
            signet_model::profile::format_duration_secs(window_seconds),
        );
        let mut ev = self.event(ctx, EventType::ApprovalRefused, now);
        ev.subject_id = Some(request.subject_id.clone());
        ev.request_id = Some(request.id.clone());
        ev.reason = Some(why.clone());
        ev.details = with_auth(
            ctx.caller,
            serde_json::json!({ "rule": FRESH_APPROVER, "state": request.state, "sponsorship": s, "window_seconds": window_seconds }),
        );
        if let Err(e) = self.store().record_events(&[ev]).await {
            tracing::warn!(error = %e, "cannot record a refused approval");
        }
        Err(CoreError::Forbidden { reason: format!("not permitted to `request.approve`: {why}"), policies: vec![FRESH_APPROVER.into()] })
    }
}

/// How an enrolment secret made by `signet operator enrol-code` starts.
pub const ENROLMENT_PREFIX: &str = "enrol_";

/// The shortest enrolment secret accepted at redemption (32 characters).
pub const MIN_ENROLMENT_SECRET: usize = 32;

/// The verifier an admin stores for an enrolment secret: SHA-256, hex.
pub fn enrolment_verifier(secret: &str) -> String {
    crate::authority::hex(&sha256(secret.as_bytes()))
}

/// A new enrolment secret (256 random bits) and its verifier. The would-be
/// operator keeps the secret and hands only the verifier to an admin.
pub fn new_enrolment_code(rng: &dyn crate::ports::Rng) -> (String, String) {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    rng.fill(&mut bytes);
    let secret = format!("{ENROLMENT_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes));
    let verifier = enrolment_verifier(&secret);
    (secret, verifier)
}
