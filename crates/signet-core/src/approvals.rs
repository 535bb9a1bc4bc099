//! Approvals (m of n, separation of duties), expiry of pending requests,
//! and `policy explain`.
//!
//! ```text
//!  approve(id, reason) ─▶ authorise (request.approve, or break_glass.approve):
//!                          Cedar forbids self-approval and approving for one's own subject
//!                      ─▶ an approver the requester created, enrolled or granted within the
//!                         profile's fresh_approver_window is refused (sod.fresh-approver)
//!                      ─▶ still pending and not expired? (409 otherwise, recorded)
//!                      ─▶ record the verdict + event (one row per approver: counts once)
//!                      ─▶ quorum met? the store moves the request to `approved` for
//!                         exactly one caller ─▶ decide again ─▶ mint as `system`
//! ```
//! The credential is minted by the authority when the quorum is met, from
//! the request as it was submitted; no client sends anything to mint it.

use crate::authority::{Authority, Caller, Ctx, required_reason, with_auth};
use crate::error::CoreError;
use crate::issuance::{Ask, Authorized, BREAK_GLASS_APPROVALS, Issued, Submitted, break_glass_resource, request_resource, stored_ask};
use crate::ports::StoreError;
use signet_model::FieldError;
use signet_model::event::EventType;
use signet_model::ids::RequestId;
use signet_model::request::{Approval, Request, RequestState, Verdict};
use signet_policy::Action;

/// What an approval or denial led to.
#[derive(Debug, Clone)]
pub struct VerdictOutcome {
    pub request: Request,
    pub approvals: u32,
    pub approvals_required: u32,
    /// Set when this approval completed the quorum and the credential was minted.
    pub issued: Option<Issued>,
}

/// The answer to `policy explain`: what a request would get, and why.
#[derive(Debug, Clone)]
pub struct Explained {
    /// `issue`, `pending_approval` or `deny`.
    pub outcome: &'static str,
    pub policy_version: i64,
    pub decision: signet_policy::Decision,
    pub explanation: signet_policy::Explanation,
    /// A refusal by the profile's or the credential type's rules (checked in Rust).
    pub refusal: Option<FieldError>,
    pub approvals_required: u32,
    pub approval_group: Option<String>,
}

impl Authority {
    /// Approve or deny a pending request, with a reason. See the module docs.
    pub async fn decide_request(&self, ctx: Ctx<'_>, id: &RequestId, verdict: Verdict, reason: &str) -> Result<VerdictOutcome, CoreError> {
        let reason = required_reason(reason)?;
        let (request, subject, profile) = self.request_with_context(id).await?;

        // Authorise: the right role, group and site; never one's own request or subject.
        let required = if request.break_glass {
            self.authorize(ctx, Action::BreakGlassApprove, &break_glass_resource(&request, &subject)).await?;
            BREAK_GLASS_APPROVALS
        } else {
            let action = match verdict {
                Verdict::Approve => Action::RequestApprove,
                Verdict::Deny => Action::RequestDeny,
            };
            self.authorize(ctx, action, &request_resource(&request, &subject, &profile)).await?;
            profile.approvals.as_ref().map_or(1, |a| a.required.max(1))
        };

        let now = self.now();
        if request.state != RequestState::PendingApproval {
            let why = format!("request `{id}` is {}, not pending approval", request.state.as_str());
            return Err(self.refuse_verdict(ctx, &request, &why).await);
        }
        if request.expires_at.is_some_and(|t| t <= now) {
            self.expire(&request).await?;
            let why = format!("request `{id}` expired before its approvals were collected");
            return Err(self.refuse_verdict(ctx, &request, &why).await);
        }
        // Separation of duties one person cannot satisfy alone: an approver
        // the requester made recently does not count (`sod.fresh-approver`).
        if verdict == Verdict::Approve {
            let window = profile
                .approvals
                .as_ref()
                .map_or(signet_model::profile::DEFAULT_FRESH_APPROVER_WINDOW_SECONDS, |a| a.fresh_approver_window_seconds);
            self.refuse_fresh_approver(ctx, &request, window).await?;
        }

        let approval =
            Approval { request_id: id.clone(), approver: ctx.caller.actor.clone(), verdict, reason: reason.to_string(), created_at: now };
        let mut ev = self.event(ctx, if verdict == Verdict::Approve { EventType::RequestApproved } else { EventType::RequestDenied }, now);
        ev.subject_id = Some(request.subject_id.clone());
        ev.request_id = Some(id.clone());
        ev.reason = Some(reason.to_string());
        ev.details = with_auth(
            ctx.caller,
            serde_json::json!({ "verdict": verdict, "approvals_required": required, "break_glass": request.break_glass }),
        );
        let recorded = match self.store().record_verdict(&approval, required, now, &ev).await {
            Ok(r) => r,
            Err(StoreError::Conflict { .. }) => {
                let why = format!("`{}` has already decided on request `{id}`; each approver counts once", ctx.caller.actor);
                return Err(self.refuse_verdict(ctx, &request, &why).await);
            }
            Err(StoreError::NotPending) => {
                let why = format!("request `{id}` is no longer pending approval");
                return Err(self.refuse_verdict(ctx, &request, &why).await);
            }
            Err(e) => return Err(e.into()),
        };

        let mut outcome = VerdictOutcome { request, approvals: recorded.approvals, approvals_required: required, issued: None };
        match verdict {
            Verdict::Deny => {
                outcome.request.state = RequestState::Denied;
                outcome.request.reason = Some(format!("denied by `{}`: {reason}", ctx.caller.actor));
            }
            Verdict::Approve if recorded.closed => {
                // The quorum is met: the authority mints, from the request as submitted.
                let approvers: Vec<String> = self
                    .store()
                    .list_approvals(id)
                    .await?
                    .into_iter()
                    .filter(|a| a.verdict == Verdict::Approve)
                    .map(|a| a.approver)
                    .collect();
                let system = Caller::system();
                let sys = Ctx { caller: &system, trace_id: ctx.trace_id };
                outcome.issued = Some(self.issue_approved(sys, outcome.request.clone(), subject, profile, &approvers).await?);
                if let Some(i) = &outcome.issued {
                    outcome.request = i.request.clone();
                }
            }
            Verdict::Approve => {}
        }
        Ok(outcome)
    }

    /// Mint an approved request: the pipeline again from [`Authorized`],
    /// with the approvals collected (the subject may have been suspended,
    /// the policy changed, meanwhile), from the request as submitted.
    async fn issue_approved(
        &self,
        ctx: Ctx<'_>,
        mut request: Request,
        subject: signet_model::subject::Subject,
        profile: signet_model::profile::Profile,
        approvers: &[String],
    ) -> Result<Issued, CoreError> {
        let now = self.now();
        // The key's proof of possession was checked when the request was
        // submitted; the stored key must still be the one fingerprinted then.
        let ask = stored_ask(&request)?;
        request.state = RequestState::Approved;
        let authorized = Authorized { approvers: approvers.to_vec(), ..self.enter(request, ask, subject, profile)? };
        match self.process(ctx, authorized, None, now).await? {
            Submitted::Issued(issued) => Ok(issued),
            Submitted::Pending { request, .. } => {
                Err(CoreError::Internal(format!("approved request `{}` was held again instead of issued", request.id)))
            }
        }
    }

    async fn expire(&self, request: &Request) -> Result<(), CoreError> {
        let system = Caller::system();
        let ctx = Ctx { caller: &system, trace_id: None };
        let now = self.now();
        let mut ev = self.event(ctx, EventType::RequestExpired, now);
        ev.subject_id = Some(request.subject_id.clone());
        ev.request_id = Some(request.id.clone());
        ev.reason = Some("the request expired before its approvals were collected".into());
        ev.details = with_auth(
            ctx.caller,
            serde_json::json!({ "expires_at": request.expires_at.map(|t| t.unix_timestamp()), "break_glass": request.break_glass }),
        );
        self.store().expire_request(&request.id, now, &ev).await?;
        Ok(())
    }

    /// Expire every pending request whose time ran out (a background task
    /// calls this regularly). Returns how many were expired.
    pub async fn expire_pending_requests(&self) -> Result<usize, CoreError> {
        let now = self.now();
        let mut n = 0;
        for id in self.store().list_expired_pending(now, 500).await? {
            if let Some(r) = self.store().get_request(&id).await? {
                self.expire(&r).await?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Record a refused approval or denial, and return the 409 for the caller.
    async fn refuse_verdict(&self, ctx: Ctx<'_>, request: &Request, why: &str) -> CoreError {
        let mut ev = self.event(ctx, EventType::ApprovalRefused, self.now());
        ev.subject_id = Some(request.subject_id.clone());
        ev.request_id = Some(request.id.clone());
        ev.reason = Some(why.to_string());
        ev.details = with_auth(ctx.caller, serde_json::json!({ "state": request.state }));
        if let Err(e) = self.store().record_events(&[ev]).await {
            tracing::warn!(error = %e, "cannot record a refused approval");
        }
        CoreError::Conflict(FieldError::new("request", why))
    }

    /// What would this request get? Nothing is written. Allowed to whoever
    /// may submit the request, and to whoever may read the policy.
    pub async fn explain(&self, ctx: Ctx<'_>, ask: Ask) -> Result<Explained, CoreError> {
        let now = self.now();
        let authorized = self.authorized_ask(ctx, &ask, now).await?;
        let Authorized { request, subject, profile, .. } = &authorized;
        if !self.permitted(ctx.caller, Action::RequestSubmit, &request_resource(request, subject, profile)).await? {
            self.authorize(ctx, Action::PolicyRead, &signet_policy::ResourceCtx::PolicyStore).await?;
        }
        let policy = self.active_policy().await?;
        let refusal = self.rules(&authorized, now).err().map(|r| r.error);
        let decision = Self::policy_decision(&policy, request, subject, profile, 0);
        let outcome = match (&refusal, decision.allowed) {
            (_, false) if !crate::issuance::waits_only_for_approvals(&decision) => "deny",
            (Some(_), _) => "deny",
            (None, true) => "issue",
            (None, false) => "pending_approval",
        };
        let mut explanation = signet_policy::explain(&policy.set, &decision);
        if outcome == "pending_approval" {
            explanation.summary =
                format!("permitted once {} approval(s) are collected ({})", decision.approvals_needed, explanation.summary);
        }
        Ok(Explained {
            outcome,
            policy_version: policy.version,
            approvals_required: profile.approvals.as_ref().map_or(0, |a| a.required),
            approval_group: profile.approvals.as_ref().map(|a| a.group.clone()),
            decision,
            explanation,
            refusal,
        })
    }
}
