//! The issuance pipeline: one function over typed states, for every
//! credential type and every way in.
//!
//! ```text
//!  submit (POST /v1/requests) ─▶ resolve subject + profile ─▶ the profile's type parses its part (proof of possession)
//!                             ─▶ authorise (request.submit / break_glass.request) ──┐
//!  operator certificate ─▶ authorise token.create, own only ─────────────────────────┤
//!  server certificate (as `system`) ─────────────────────────────────────────────────┤
//!                                                                                     ▼
//!                                                                               Authorized
//!  approvals: quorum met ─▶ the stored request, with its approvers ─────────────▶     │
//!                                                                                     ▼  decide: Cedar issuance policy,
//!                                                                                     │  then the profile's rules (Rust),
//!                                                                                     │  then the type's rules
//!                                    refused ◀── Ruling ──▶ needs approvals / break-glass: held (pending_approval)
//!                                       │          │
//!                            denied + event      Decided { grant, policies }
//!                                                  ▼  prepare (type: build + lint) ─▶ record intent (serial, tbs hash)
//!                                                Intended
//!                                                  ▼  sign (type, off the async workers; verified back)
//!                                                Minted
//!                                                  ▼  commit request + credential + event, one transaction
//!                                                Issued
//! ```
//!
//! Where is the decision made? [`Authority::decide`]. Where is the key
//! used? [`Intended::mint`], through [`crate::credential_type::PreparedCredential::sign`].

use crate::authority::{Authority, Ctx, hex, sha256, with_auth};
use crate::credential_type::{AskContext, CredentialType, PreparedCredential, Refusal, TypedAsk};
use crate::error::CoreError;
use crate::mint::BoundKey;
use crate::ports::{IssuanceIntent, IssuanceOutcome, IssuanceWrite};
use signet_model::FieldError;
use signet_model::credential::{Credential, CredentialStatus};
use signet_model::event::EventType;
use signet_model::ids::{AuthorityId, CredentialId, RequestId, Serial, SubjectId};
use signet_model::profile::{ApprovalRule, Profile};
use signet_model::request::{Grant, Request, RequestState};
use signet_model::subject::Subject;
use signet_policy::{Action, Evidence, IssuanceCtx, RequestRef, ResourceCtx};
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

/// The `@id` of the default policy that holds a request until its approvals are in.
pub const AWAITING_APPROVAL: &str = "issue.forbid.awaiting-approval";
/// Break-glass: approvals needed (each by a different operator with
/// `break_glass.approve`), how long a request waits, and the longest lifetime.
pub const BREAK_GLASS_APPROVALS: u32 = 2;
pub const BREAK_GLASS_WINDOW: Duration = Duration::minutes(30);
pub const BREAK_GLASS_MAX_TTL_SECONDS: i64 = 3600;

/// One ask for one credential of any type, as the edge received it: the
/// common fields, and the rest of the body for the profile's type to parse.
#[derive(Debug, Clone)]
pub struct Ask {
    pub subject_id: SubjectId,
    pub profile: String,
    pub ttl_seconds: Option<i64>,
    /// Scopes (entitlements) asked for; each must be allowed by the profile.
    pub scopes: Vec<String>,
    /// `Some(reason)`: an emergency (break-glass) request.
    pub break_glass: Option<String>,
    /// The credential type's fields (X.509: `csr`, `names`; JWT: `audience`, `key_proof`).
    pub params: serde_json::Map<String, serde_json::Value>,
}

/// What a submission led to. Returned once per request: not worth boxing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Submitted {
    /// Minted at once.
    Issued(Issued),
    /// Waiting for approvals (m of n, or two for break-glass).
    Pending { request: Request, approvals_required: u32 },
}

/// A minted credential and what it was minted for.
#[derive(Debug, Clone)]
pub struct Issued {
    pub request: Request,
    pub credential: Credential,
    /// The index of the log entry that records the issuance.
    pub log_index: i64,
}

// ------------------------------------------------------------ typed states

/// A request its caller may make (or the authority makes itself), with
/// everything the decision reads: the pipeline's entry state.
pub(crate) struct Authorized {
    pub(crate) request: Request,
    pub(crate) ask: TypedAsk,
    pub(crate) subject: Arc<Subject>,
    pub(crate) profile: Arc<Profile>,
    pub(crate) ty: Arc<dyn CredentialType>,
    /// Approvals collected (an approved request's approvers); empty on submission.
    pub(crate) approvers: Vec<String>,
    /// The rule recorded when the policy is decided for the authority's own
    /// credential (the server certificate): `None` for every other request.
    pub(crate) builtin_rule: Option<&'static str>,
}

/// A decision of the pipeline, before anything is recorded. Made once per
/// request and matched at once: not worth boxing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Ruling {
    Permit {
        grant: Grant,
        policies: Vec<String>,
    },
    /// Everything but the approvals is in order.
    NeedsApprovals {
        needed: u32,
    },
    Refused {
        refusal: FieldError,
        policies: Vec<String>,
    },
}

/// Permitted: the grant and the policies and rules that permitted it.
pub(crate) struct Decided {
    authorized: Authorized,
    grant: Grant,
    policies: Vec<String>,
}

/// Prepared by the credential type and recorded as an intent (serial and
/// the hash of the to-be-signed bytes), before the key is used.
pub(crate) struct Intended {
    decided: Decided,
    serial: Serial,
    prepared: Box<dyn PreparedCredential>,
}

/// Signed and verified back; not yet recorded, so not yet returned.
pub(crate) struct Minted {
    decided: Decided,
    serial: Serial,
    issuer_id: AuthorityId,
    bytes: Vec<u8>,
}

// ------------------------------------------------------------ helpers

/// A Cedar refusal as a field error: the request field the first
/// determining policy is about, and every reason, with the facts a default
/// policy refused on (the subject's status, …) spelt out.
fn refusal_of(decision: &signet_policy::Decision, names_field: &str, subject: &Subject, profile: &Profile) -> FieldError {
    let field = match decision.determining_policies.first().map(String::as_str) {
        Some("issue.forbid.ttl-out-of-range") => "ttl_seconds",
        Some("issue.forbid.names-outside-profile") => names_field,
        Some("issue.forbid.scopes-outside-profile") => "scopes",
        Some("issue.forbid.kind-not-served") => "profile",
        Some(p) if p.starts_with("issue.forbid.") => "subject",
        _ => "request",
    };
    let mut reasons = decision.reasons.clone();
    reasons.extend(decision.errors.iter().cloned());
    if reasons.is_empty() {
        reasons.push("refused by the issuance policy".into());
    }
    for policy in &decision.determining_policies {
        let fact = match policy.as_str() {
            "issue.forbid.subject-not-active" => format!("subject `{}` is {}", subject.name, subject.status.as_str()),
            "issue.forbid.no-owner-or-purpose" => format!("subject `{}` is a {} without an owner or purpose", subject.name, subject.kind),
            "issue.forbid.kind-not-served" => format!("profile `{}` does not serve {} subjects", profile.name, subject.kind),
            "issue.forbid.assurance-too-low" => format!(
                "subject `{}` is proven to {}, profile `{}` requires {}",
                subject.name,
                subject.assurance.as_str(),
                profile.name,
                profile.required_assurance.as_str()
            ),
            _ => continue,
        };
        reasons.push(fact);
    }
    FieldError::new(field, format!("{} (policy: {})", reasons.join("; "), decision.determining_policies.join(", ")))
}

/// Refused only because approvals are still missing?
pub(crate) fn waits_only_for_approvals(decision: &signet_policy::Decision) -> bool {
    decision.approvals_needed > 0 && decision.determining_policies.iter().all(|p| p == AWAITING_APPROVAL)
}

/// A request as operator policies see it.
pub(crate) fn request_resource(request: &Request, subject: &Subject, profile: &Profile) -> ResourceCtx {
    ResourceCtx::Request(RequestRef {
        id: request.id.to_string(),
        subject_id: subject.id.to_string(),
        subject_owner: subject.owner.clone(),
        profile: profile.name.clone(),
        approval_group: profile.approvals.as_ref().map(|a| a.group.clone()),
        site: subject.site.clone(),
        requested_by: request.requested_by.clone(),
        state: request.state,
    })
}

/// A break-glass request as operator policies see it.
pub(crate) fn break_glass_resource(request: &Request, subject: &Subject) -> ResourceCtx {
    ResourceCtx::BreakGlass {
        id: request.id.to_string(),
        requested_by: request.requested_by.clone(),
        site: subject.site.clone(),
        subject_id: subject.id.to_string(),
    }
}

/// The typed ask of a stored request (one that waited for approvals): its
/// names, its key (checked against the fingerprint recorded with its proof
/// of possession) and its type's params, as parsed on submission.
pub(crate) fn stored_ask(request: &Request) -> Result<TypedAsk, CoreError> {
    let key = match (&request.key_spki, request.key_algorithm, &request.key_fingerprint) {
        (Some(spki), Some(algorithm), Some(fingerprint)) => {
            if hex(&sha256(spki)) != *fingerprint {
                return Err(CoreError::Internal(format!("request `{}`: the stored key does not match its fingerprint", request.id)));
            }
            Some(BoundKey { spki_der: spki.clone(), algorithm, fingerprint: fingerprint.clone() })
        }
        (None, None, None) => None,
        _ => return Err(CoreError::Internal(format!("approved request `{}` has an incomplete key to bind", request.id))),
    };
    Ok(TypedAsk { names: request.requested_names.clone(), names_field: "names", key, key_field: "key", params: request.params.clone() })
}

impl Authority {
    // ------------------------------------------------------------ entries

    /// Resolve what a request refers to: its subject and profile, from
    /// memory if looked up in the last [`crate::cache::TTL`], else from the
    /// store, and the profile's credential type. A stale subject status
    /// cannot mint: the store writes credentials only for subjects active at commit.
    pub(crate) async fn resolve(
        &self,
        subject_id: &SubjectId,
        profile: &str,
        now: OffsetDateTime,
    ) -> Result<(Arc<Subject>, Arc<Profile>, Arc<dyn CredentialType>), CoreError> {
        let subject = self
            .subjects
            .get_or_load(subject_id, now, || self.store().get_subject(subject_id))
            .await?
            .ok_or_else(|| CoreError::Invalid(FieldError::new("subject", format!("no subject `{subject_id}`"))))?;
        let profile = self.profiles.get_or_load(profile, now, || self.store().get_profile(profile)).await?.ok_or_else(|| {
            CoreError::Invalid(FieldError::new("profile", format!("no profile `{}`", signet_model::names::shorten(profile))))
        })?;
        let ty = self.types.require("profile", &profile.credential_type).map_err(CoreError::Invalid)?.clone();
        Ok((subject, profile, ty))
    }

    /// Enter the pipeline at [`Authorized`] with a request the caller has
    /// already been authorised for (an approved request, an operator's own
    /// certificate, the server's certificate): its profile's type is looked up.
    pub(crate) fn enter(&self, request: Request, ask: TypedAsk, subject: Subject, profile: Profile) -> Result<Authorized, CoreError> {
        let ty = self.types.require("profile", &profile.credential_type).map_err(CoreError::Invalid)?.clone();
        Ok(Authorized {
            request,
            ask,
            subject: Arc::new(subject),
            profile: Arc::new(profile),
            ty,
            approvers: Vec::new(),
            builtin_rule: None,
        })
    }

    /// Resolve an ask and let its profile's type parse its fields: the
    /// request as it will be recorded, and everything the decision reads.
    pub(crate) async fn authorized_ask(&self, ctx: Ctx<'_>, ask: &Ask, now: OffsetDateTime) -> Result<Authorized, CoreError> {
        let (subject, profile, ty) = self.resolve(&ask.subject_id, &ask.profile, now).await?;
        let typed = ty.parse_ask(&ask.params, &AskContext { subject_id: &subject.id, now }).map_err(CoreError::Invalid)?;
        let ttl = match ask.break_glass {
            // Time-boxed: never longer than the break-glass maximum.
            Some(_) => Some(ask.ttl_seconds.unwrap_or(profile.default_ttl_seconds).min(BREAK_GLASS_MAX_TTL_SECONDS)),
            None => ask.ttl_seconds,
        };
        let request = self.new_request(ctx, &typed, &subject, &profile, ttl, &ask.scopes, ask.break_glass.is_some(), now);
        Ok(Authorized { request, ask: typed, subject, profile, ty, approvers: Vec::new(), builtin_rule: None })
    }

    /// A new request row for `typed` (not yet recorded).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new_request(
        &self,
        ctx: Ctx<'_>,
        typed: &TypedAsk,
        subject: &Subject,
        profile: &Profile,
        ttl_seconds: Option<i64>,
        scopes: &[String],
        break_glass: bool,
        now: OffsetDateTime,
    ) -> Request {
        Request {
            id: RequestId::generate(now, self.rng().bytes16()),
            subject_id: subject.id.clone(),
            profile: profile.name.clone(),
            profile_version: profile.version,
            credential_type: profile.credential_type.clone(),
            requested_names: typed.names.clone(),
            requested_ttl_seconds: ttl_seconds,
            requested_scopes: scopes.to_vec(),
            params: typed.params.clone(),
            key_algorithm: typed.key.as_ref().map(|k| k.algorithm),
            key_fingerprint: typed.key.as_ref().map(|k| k.fingerprint.clone()),
            requested_by: ctx.caller.actor.clone(),
            state: RequestState::Submitted,
            break_glass,
            expires_at: None,
            key_spki: None,
            reason: None,
            credential_id: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// Submit a request for a credential of any type: resolve subject and
    /// profile → the type parses its fields → authorise the submission →
    /// [`Self::process`]. A refusal is recorded as a denied request with its
    /// event, and returned as [`CoreError::Denied`].
    pub async fn submit(&self, ctx: Ctx<'_>, ask: Ask) -> Result<Submitted, CoreError> {
        // Built-in profiles with a path of their own: never through a request.
        let reserved = match ask.profile.as_str() {
            crate::operator_certs::OPERATOR_CLIENT_PROFILE => Some("through `POST /v1/operators/{id}/certificates`"),
            crate::server_cert::SERVER_PROFILE => Some("to the server itself, for its own HTTPS endpoint"),
            _ => None,
        };
        if let Some(path) = reserved {
            return Err(CoreError::Invalid(FieldError::new("profile", format!("profile `{}` is issued only {path}", ask.profile))));
        }
        let now = self.now();
        let authorized = self.authorized_ask(ctx, &ask, now).await?;
        // Authenticate → authorise: may this caller ask, for this subject?
        let Authorized { request, subject, profile, .. } = &authorized;
        if request.break_glass {
            self.authorize(ctx, Action::BreakGlassRequest, &break_glass_resource(request, subject)).await?;
        } else {
            self.authorize(ctx, Action::RequestSubmit, &request_resource(request, subject, profile)).await?;
        }
        self.process(ctx, authorized, ask.break_glass.as_deref(), now).await
    }

    // ------------------------------------------------------------ the pipeline

    /// The pipeline from [`Authorized`]: decide → deny, hold for approvals,
    /// or intend → mint → commit. `break_glass` carries an emergency
    /// request's reason on submission.
    pub(crate) async fn process(
        &self,
        ctx: Ctx<'_>,
        authorized: Authorized,
        break_glass: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Submitted, CoreError> {
        let approved = !authorized.approvers.is_empty();
        let approvals = match (authorized.request.break_glass, approved) {
            // Break-glass replaces the profile's approvals with two of its own.
            (true, _) => authorized.profile.approvals.as_ref().map_or(0, |a| a.required),
            (false, true) => u32::try_from(authorized.approvers.len()).unwrap_or(u32::MAX),
            (false, false) => 0,
        };
        let policy = self.active_policy().await?;
        match self.decide(&policy, &authorized, approvals, now) {
            Ruling::Refused { refusal, policies } => Err(self.deny(ctx, authorized.request, refusal, policies, now).await?),
            Ruling::NeedsApprovals { needed } if approved => {
                let refusal = FieldError::new("request", format!("the issuance policy still asks for {needed} more approval(s)"));
                Err(self.deny(ctx, authorized.request, refusal, vec![AWAITING_APPROVAL.into()], now).await?)
            }
            Ruling::NeedsApprovals { needed } => {
                let rule = authorized.profile.approvals.clone().unwrap_or(ApprovalRule {
                    required: needed,
                    group: String::new(),
                    expires_after_seconds: 86400,
                    fresh_approver_window_seconds: signet_model::profile::DEFAULT_FRESH_APPROVER_WINDOW_SECONDS,
                });
                let hold = Hold {
                    required: rule.required,
                    group: Some(&rule.group),
                    window: Duration::seconds(rule.expires_after_seconds),
                    event_type: EventType::RequestPending,
                    break_glass_reason: None,
                };
                self.hold_for_approvals(ctx, authorized, hold, now).await
            }
            Ruling::Permit { .. } if authorized.request.break_glass && !approved => {
                let hold = Hold {
                    required: BREAK_GLASS_APPROVALS,
                    group: None,
                    window: BREAK_GLASS_WINDOW,
                    event_type: EventType::BreakGlassRequested,
                    break_glass_reason: Some(break_glass.unwrap_or_default()),
                };
                self.hold_for_approvals(ctx, authorized, hold, now).await
            }
            Ruling::Permit { grant, policies } => {
                let mut decided = Decided { authorized, grant, policies };
                decided.authorized.request.state = RequestState::Approved;
                let intended = self.intend(decided, now).await?;
                let minted = intended.mint().await?;
                Ok(Submitted::Issued(self.commit(ctx, minted, now).await?))
            }
        }
    }

    /// Decide a request with everything known at this point, each rule in
    /// one place: the Cedar issuance policy (who may get what; with the
    /// `approvals` collected so far), then the profile's rules
    /// ([`crate::decide::decide_common`]), then the credential type's.
    /// The authority's own server certificate is decided the same way.
    pub(crate) fn decide(&self, policy: &crate::governance::ActivePolicy, a: &Authorized, approvals: u32, now: OffsetDateTime) -> Ruling {
        let decision = Self::policy_decision(policy, &a.request, &a.subject, &a.profile, approvals);
        let waits = !decision.allowed && waits_only_for_approvals(&decision);
        if !decision.allowed && !waits {
            return Ruling::Refused {
                refusal: refusal_of(&decision, a.ask.names_field, &a.subject, &a.profile),
                policies: decision.determining_policies,
            };
        }
        let grant = match self.rules(a, now) {
            Ok(grant) => grant,
            Err(Refusal { rule, error }) => return Ruling::Refused { refusal: error, policies: vec![rule.to_string()] },
        };
        if waits {
            return Ruling::NeedsApprovals { needed: decision.approvals_needed };
        }
        let mut policies = decision.determining_policies;
        policies.extend(a.builtin_rule.map(str::to_string));
        Ruling::Permit { grant, policies }
    }

    /// The profile's rules, then the credential type's: the grant, or the
    /// refusal naming its rule.
    pub(crate) fn rules(&self, a: &Authorized, now: OffsetDateTime) -> Result<Grant, Refusal> {
        let mut grant = crate::decide::decide_common(
            &a.profile,
            &a.subject.name,
            &a.ask,
            // A break-glass request's lifetime was capped when it was made.
            a.request.requested_ttl_seconds,
            &a.request.requested_scopes,
            now,
        )?;
        a.ty.decide(&a.ask, &a.profile, &a.subject, &mut grant, now)?;
        Ok(grant)
    }

    /// The Cedar issuance policy's decision on this request, with `approvals` collected.
    pub(crate) fn policy_decision(
        policy: &crate::governance::ActivePolicy,
        request: &Request,
        subject: &Subject,
        profile: &Profile,
        approvals: u32,
    ) -> signet_policy::Decision {
        signet_policy::decide_issuance(
            &policy.set,
            &IssuanceCtx {
                subject,
                profile,
                names: &request.requested_names,
                ttl_seconds: request.requested_ttl_seconds,
                scopes: &request.requested_scopes,
                evidence: Evidence { key_proven: request.key_fingerprint.is_some(), attested: false },
                caller: &request.requested_by,
                approvals,
            },
        )
    }

    /// Prepare (the type builds and lints the to-be-signed value) and
    /// record the intent (serial, hash of what is to be signed) before the
    /// key is used.
    async fn intend(&self, decided: Decided, now: OffsetDateTime) -> Result<Intended, CoreError> {
        // Nothing is issued while the log fails verification: it could not be
        // recorded where anyone can check it.
        self.log_integrity.require()?;
        let serial = Serial::generate(now, self.rng().bytes16());
        let a = &decided.authorized;
        let prepared = a.ty.prepare(&decided.grant, a.ask.key.as_ref(), &serial)?;
        self.committer
            .write(IssuanceWrite::Intent(IssuanceIntent {
                serial: serial.clone(),
                request_id: a.request.id.clone(),
                subject_id: a.request.subject_id.clone(),
                profile: a.request.profile.clone(),
                key_fingerprint: a.ask.key.as_ref().map(|k| k.fingerprint.clone()).unwrap_or_default(),
                created_at: now,
                tbs_sha256: Some(prepared.tbs_sha256()),
            }))
            .await?;
        Ok(Intended { decided, serial, prepared })
    }

    /// Record the credential, the request's final state and the event, in
    /// one transaction; only then is the credential returned.
    async fn commit(&self, ctx: Ctx<'_>, minted: Minted, now: OffsetDateTime) -> Result<Issued, CoreError> {
        let Minted { decided: Decided { authorized, grant, policies }, serial, issuer_id, bytes } = minted;
        let Authorized { mut request, ask, approvers, .. } = authorized;
        let credential = Credential {
            id: CredentialId::generate(now, self.rng().bytes16()),
            credential_type: grant.credential_type.clone(),
            serial: serial.clone(),
            subject_id: request.subject_id.clone(),
            profile: request.profile.clone(),
            request_id: request.id.clone(),
            issuer_id,
            key_algorithm: ask.key.as_ref().map(|k| k.algorithm),
            key_fingerprint: ask.key.as_ref().map(|k| k.fingerprint.clone()).unwrap_or_default(),
            names: grant.names.clone(),
            not_before: grant.not_before,
            not_after: grant.not_after,
            status: CredentialStatus::Active,
            der: bytes,
            created_at: now,
        };
        request.state = RequestState::Issued;
        request.credential_id = Some(credential.id.clone());
        request.updated_at = now;
        let mut ev = self.event(ctx, EventType::CredentialIssued, now);
        ev.subject_id = Some(request.subject_id.clone());
        ev.request_id = Some(request.id.clone());
        ev.credential_id = Some(credential.id.clone());
        let mut details = serde_json::json!({
            "type": credential.credential_type,
            "serial": serial,
            "issuer_id": credential.issuer_id,
            "profile": request.profile,
            "profile_version": request.profile_version,
            "key_algorithm": credential.key_algorithm,
            "key_fingerprint": credential.key_fingerprint,
            "names": credential.names,
            "not_before": credential.not_before.unix_timestamp(),
            "not_after": credential.not_after.unix_timestamp(),
            "certificate_sha256": hex(&sha256(&credential.der)),
            "policies": policies,
        });
        if let Some(obj) = details.as_object_mut() {
            if !grant.scopes.is_empty() {
                obj.insert("scopes".into(), serde_json::json!(grant.scopes));
            }
            if grant.params.as_object().is_some_and(|p| !p.is_empty()) {
                obj.insert("params".into(), grant.params.clone());
            }
            if !approvers.is_empty() {
                obj.insert("approvers".into(), serde_json::json!(approvers));
                obj.insert("requested_by".into(), serde_json::json!(request.requested_by));
            }
            if request.break_glass {
                obj.insert("break_glass".into(), serde_json::Value::Bool(true));
                obj.insert("severity".into(), serde_json::json!("high"));
            }
        }
        ev.details = with_auth(ctx.caller, details);
        let outcome = IssuanceOutcome { request, credential: Some(credential), event: ev };
        let (written, result) = self.committer.write_back(IssuanceWrite::Outcome(outcome)).await;
        let Some(IssuanceWrite::Outcome(IssuanceOutcome { mut request, credential: Some(credential), .. })) = written else {
            return Err(result.err().unwrap_or_else(|| CoreError::Internal("the committer did not hand the issuance back".into())));
        };
        match result {
            Ok(Some(log_index)) => Ok(Issued { request, credential, log_index }),
            Ok(None) => Err(CoreError::Internal("the issuance was committed without a log index".into())),
            // The store writes no credential for a subject suspended or
            // revoked since the decision: the credential just minted is
            // dropped unseen (its serial stays recorded as an intent), and
            // the request is recorded as denied.
            Err(CoreError::Denied(refusal)) => {
                request.credential_id = None;
                Err(self.deny(ctx, request, refusal, Vec::new(), now).await?)
            }
            Err(e) => Err(e),
        }
    }

    /// Record a refusal: the request as `denied`, with its event naming the
    /// reason and the policies or rules that decided it.
    pub(crate) async fn deny(
        &self,
        ctx: Ctx<'_>,
        mut request: Request,
        refusal: FieldError,
        policies: Vec<String>,
        now: OffsetDateTime,
    ) -> Result<CoreError, CoreError> {
        request.state = RequestState::Denied;
        request.reason = Some(refusal.to_string());
        request.updated_at = now;
        let mut ev = self.event(ctx, EventType::RequestDenied, now);
        ev.subject_id = Some(request.subject_id.clone());
        ev.request_id = Some(request.id.clone());
        ev.reason = Some(refusal.to_string());
        ev.details = with_auth(
            ctx.caller,
            serde_json::json!({ "profile": request.profile, "profile_version": request.profile_version, "field": refusal.field,
            "policies": policies, "break_glass": request.break_glass, "type": request.credential_type }),
        );
        self.committer.write(IssuanceWrite::Outcome(IssuanceOutcome { request, credential: None, event: ev })).await?;
        Ok(CoreError::Denied(refusal))
    }

    /// Keep a request waiting for its approvals until the window has passed.
    async fn hold_for_approvals(
        &self,
        ctx: Ctx<'_>,
        authorized: Authorized,
        hold: Hold<'_>,
        now: OffsetDateTime,
    ) -> Result<Submitted, CoreError> {
        let Authorized { mut request, ask, .. } = authorized;
        request.state = RequestState::PendingApproval;
        request.expires_at = Some(now + hold.window);
        request.key_spki = ask.key.map(|k| k.spki_der);
        let mut ev = self.event(ctx, hold.event_type, now);
        ev.subject_id = Some(request.subject_id.clone());
        ev.request_id = Some(request.id.clone());
        ev.reason = hold.break_glass_reason.map(str::to_string);
        ev.details = with_auth(
            ctx.caller,
            serde_json::json!({
                "profile": request.profile, "approvals_required": hold.required, "approval_group": hold.group,
                "expires_at": request.expires_at.map(|t| t.unix_timestamp()),
                "break_glass": request.break_glass,
                "severity": if request.break_glass { "high" } else { "info" },
            }),
        );
        self.committer.write(IssuanceWrite::Outcome(IssuanceOutcome { request: request.clone(), credential: None, event: ev })).await?;
        Ok(Submitted::Pending { request, approvals_required: hold.required })
    }
}

/// How a request waits for approvals.
struct Hold<'a> {
    required: u32,
    group: Option<&'a str>,
    window: Duration,
    event_type: EventType,
    break_glass_reason: Option<&'a str>,
}

impl Intended {
    /// Sign (the credential type, with the authority key; it verifies the
    /// result back), off the async workers when the key may block (an HSM
    /// call, an RSA key); an in-memory ECDSA or Ed25519 key signs in place.
    async fn mint(self) -> Result<Minted, CoreError> {
        let Intended { decided, serial, prepared } = self;
        let issuer_id = prepared.issuer_id().clone();
        let bytes = if prepared.may_block() {
            tokio::task::spawn_blocking(move || prepared.sign())
                .await
                .map_err(|e| CoreError::Internal(format!("the signing task failed: {e}")))??
        } else {
            prepared.sign()?
        };
        Ok(Minted { decided, serial, issuer_id, bytes })
    }
}
