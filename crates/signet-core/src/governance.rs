//! Who may do what: operators, their tokens, the stored Cedar policy set,
//! and the one function that authorises an operator action ([`Authority::authorize`]).
//!
//! ```text
//!  bearer token ─▶ authenticate ─▶ Caller { actor: op_…, principal: Operator(OperatorCtx) }
//!  Caller + Action + resource ─▶ authorize ─▶ signet_policy::authorize(active set) ─▶ Ok
//!                                                                          └▶ Forbidden + `operator.denied` event
//!  policy text ─▶ apply_policy ─▶ parse + validate against the schema
//!              ─▶ lockout rule over every enabled operator as stored ─▶ diff against the active set
//!              ─▶ insert version n+1 + `policy.activated` (one transaction)
//!  operator change ─▶ update_operator ─▶ authorize ─▶ lockout rule (the change applied) ─▶ store
//! ```
//!
//! The lockout rule ([`Authority::check_lockout`], deciding with
//! [`signet_policy::check_not_locked_out`]): after a new policy set, or a
//! change to an operator, some enabled operator must still be able to apply
//! policies and some to create operators. Credentials are not part of it
//! (a token expires by itself, so no check at revocation could hold); a
//! lost credential, or a lockout written around the API, is what
//! `signet recover` (crate::recovery) answers.
//!
//! The active policy set is the highest stored version (the built-in default
//! set when none was ever stored). Each process keeps it in memory and checks
//! the stored version at most every [`POLICY_RECHECK`], so every server on a
//! shared database enforces a new version within that time.

use crate::authority::{Authority, Caller, Ctx, Principal, TOKEN_PREFIX, hex, sha256, with_auth};
use crate::error::CoreError;
use crate::ports::{OperatorToken, StoreError, StoredPolicy};
use signet_model::FieldError;
use signet_model::event::{EventType, NewEvent};
use signet_model::ids::{OperatorId, TokenId};
use signet_model::operator::{Operator, OperatorInput, Role};
use signet_policy::{Action, Decision, LOCKOUT_RULE, LockedOut, OperatorCtx, PolicySet, ResourceCtx};
use std::collections::BTreeSet;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

/// The rule that refuses a policy set under which the server could not get
/// its own certificate ([`Authority::check_server_certificate_policy`]).
pub const SERVER_CERTIFICATE_RULE: &str = "server-certificate";

/// How often a process checks whether another one activated a new policy version.
pub const POLICY_RECHECK: Duration = Duration::seconds(2);

/// The policy set in force, and which stored version it is (0: the built-in default).
#[derive(Debug, Clone)]
pub struct ActivePolicy {
    pub version: i64,
    pub set: PolicySet,
    pub sha256: String,
    pub created_by: String,
    pub created_at: Option<OffsetDateTime>,
}

impl ActivePolicy {
    fn builtin() -> Self {
        let set = PolicySet::default_set();
        let sha256 = hex(&sha256(set.text().as_bytes()));
        Self { version: 0, set, sha256, created_by: "built-in".into(), created_at: None }
    }
}

/// What changed between two policy sets, policy by policy (`@id`), plus a
/// line diff of the text. Recorded in the `policy.activated` event.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PolicyDiff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
    /// `-` and `+` lines (unchanged lines left out), at most [`MAX_DIFF_LINES`].
    pub lines: Vec<String>,
    pub truncated: bool,
}

pub const MAX_DIFF_LINES: usize = 400;

/// Compare two policy sets by policy id, and their text line by line.
pub fn diff_policies(old: &PolicySet, new: &PolicySet) -> PolicyDiff {
    let old_ids: BTreeSet<&String> = old.policy_ids().iter().collect();
    let new_ids: BTreeSet<&String> = new.policy_ids().iter().collect();
    let added = new_ids.difference(&old_ids).map(|s| s.to_string()).collect();
    let removed = old_ids.difference(&new_ids).map(|s| s.to_string()).collect();
    let changed = new_ids
        .intersection(&old_ids)
        .filter(|id| old.policy(id).map(|p| p.text) != new.policy(id).map(|p| p.text))
        .map(|s| s.to_string())
        .collect();
    let (lines, truncated) = line_diff(old.text(), new.text());
    PolicyDiff { added, removed, changed, lines, truncated }
}

/// A minimal line diff (longest common subsequence): removed lines as
/// `- …`, added lines as `+ …`, in order. Texts over 4,000 lines are compared
/// as wholly replaced rather than spending quadratic time.
fn line_diff(old: &str, new: &str) -> (Vec<String>, bool) {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let mut out = Vec::new();
    if a.len() > 4000 || b.len() > 4000 {
        out.extend(a.iter().map(|l| format!("- {l}")));
        out.extend(b.iter().map(|l| format!("+ {l}")));
    } else {
        // lcs[i][j]: the LCS length of a[i..] and b[j..].
        let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
        for i in (0..a.len()).rev() {
            for j in (0..b.len()).rev() {
                lcs[i][j] = if a[i] == b[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < a.len() || j < b.len() {
            if i < a.len() && j < b.len() && a[i] == b[j] {
                i += 1;
                j += 1;
            } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
                out.push(format!("- {}", a[i]));
                i += 1;
            } else {
                out.push(format!("+ {}", b[j]));
                j += 1;
            }
        }
    }
    let truncated = out.len() > MAX_DIFF_LINES;
    out.truncate(MAX_DIFF_LINES);
    (out, truncated)
}

/// The answer to a policy activation.
#[derive(Debug, Clone)]
pub struct PolicyApplied {
    pub version: i64,
    pub sha256: String,
    pub diff: PolicyDiff,
}

/// A token's name (1-128 characters, no control characters) and lifetime (1 s to 366 days).
pub(crate) fn check_token_shape(name: &str, ttl: Option<Duration>) -> Result<(), CoreError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 128 || name.chars().any(char::is_control) {
        return Err(CoreError::Invalid(FieldError::new("name", "a token name is 1-128 characters without control characters")));
    }
    if ttl.is_some_and(|t| t <= Duration::ZERO || t > Duration::days(366)) {
        return Err(CoreError::Invalid(FieldError::new("ttl", "a token lives between 1 second and 366 days")));
    }
    Ok(())
}

/// The operator as policies see it.
/// A new operator token and its secret: 32 random bytes behind
/// [`TOKEN_PREFIX`]; only the secret's SHA-256 is kept in the record.
pub(crate) fn mint_token(
    rng: &dyn crate::ports::Rng,
    id: TokenId,
    name: &str,
    operator_id: &OperatorId,
    expires_at: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> (OperatorToken, String) {
    let mut secret_bytes = [0u8; 32];
    rng.fill(&mut secret_bytes);
    use base64::Engine as _;
    let secret = format!("{TOKEN_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret_bytes));
    let token = OperatorToken {
        id,
        name: name.to_string(),
        secret_hash: sha256(secret.as_bytes()),
        operator_id: operator_id.clone(),
        created_at: now,
        expires_at,
        revoked: false,
    };
    (token, secret)
}

pub fn operator_ctx(op: &Operator) -> OperatorCtx {
    OperatorCtx {
        id: op.id.to_string(),
        roles: op.roles.clone(),
        sites: op.sites.clone(),
        all_sites: op.all_sites,
        teams: op.teams.clone(),
        subject_id: op.subject_id.as_ref().map(|s| s.to_string()),
    }
}

fn resource_label(r: &ResourceCtx) -> (&'static str, String) {
    match r {
        ResourceCtx::Subject(s) => ("subject", s.id.clone()),
        ResourceCtx::Profile(p) => ("profile", p.name.clone()),
        ResourceCtx::PolicyStore => ("policy", "active".into()),
        ResourceCtx::Request(q) => ("request", q.id.clone()),
        ResourceCtx::Credential(c) => ("credential", c.id.clone()),
        ResourceCtx::Authority => ("authority", "signet".into()),
        ResourceCtx::Operator { id } => ("operator", id.clone()),
        ResourceCtx::Token { id, .. } => ("token", id.clone()),
        ResourceCtx::Site { name } => ("site", name.clone()),
        ResourceCtx::BreakGlass { id, .. } => ("break_glass", id.clone()),
    }
}

impl Authority {
    // ------------------------------------------------------------ the policy in force

    /// The active policy set: from memory if checked in the last
    /// [`POLICY_RECHECK`], else the stored version is compared and, when it
    /// changed, the new text is loaded (it was validated before it was stored).
    pub async fn active_policy(&self) -> Result<Arc<ActivePolicy>, CoreError> {
        let now = self.now();
        let current = self.policy.read().ok().and_then(|g| g.clone());
        if let Some((p, checked)) = &current
            && now - *checked < POLICY_RECHECK
        {
            return Ok(p.clone());
        }
        let version = self.store().latest_policy_version().await?;
        let fresh = match current {
            Some((p, _)) if p.version == version => p,
            _ if version == 0 => Arc::new(ActivePolicy::builtin()),
            _ => {
                let stored =
                    self.store().latest_policy().await?.ok_or_else(|| CoreError::Internal("the latest policy version vanished".into()))?;
                let set = PolicySet::parse(&stored.text)
                    .map_err(|e| CoreError::Internal(format!("stored policy version {} does not parse: {e}", stored.version)))?;
                Arc::new(ActivePolicy {
                    version: stored.version,
                    set,
                    sha256: stored.sha256,
                    created_by: stored.created_by,
                    created_at: Some(stored.created_at),
                })
            }
        };
        if let Ok(mut g) = self.policy.write() {
            *g = Some((fresh.clone(), now));
        }
        Ok(fresh)
    }

    // ------------------------------------------------------------ authorisation

    /// May the caller perform `action` on `resource`? The one place operator
    /// permissions are decided. A refusal is a [`CoreError::Forbidden`] and
    /// is recorded in the log (`operator.denied`) with the determining
    /// policies and reasons.
    pub async fn authorize(&self, ctx: Ctx<'_>, action: Action, resource: &ResourceCtx) -> Result<(), CoreError> {
        let decision = match &ctx.caller.principal {
            Principal::System => return Ok(()),
            Principal::Anonymous => return Err(CoreError::Unauthenticated("no operator credentials were presented".into())),
            Principal::Operator(op) => {
                let policy = self.active_policy().await?;
                signet_policy::authorize(&policy.set, op, action, resource)
            }
        };
        if decision.allowed {
            return Ok(());
        }
        Err(self.record_denial(ctx, action, resource, &decision).await)
    }

    /// Like [`Self::authorize`] but silent: for filtering lists, where a row
    /// the caller may not see is left out rather than refused.
    pub async fn permitted(&self, caller: &Caller, action: Action, resource: &ResourceCtx) -> Result<bool, CoreError> {
        Ok(match &caller.principal {
            Principal::System => true,
            Principal::Anonymous => false,
            Principal::Operator(op) => signet_policy::authorize(&self.active_policy().await?.set, op, action, resource).allowed,
        })
    }

    pub(crate) async fn record_denial(&self, ctx: Ctx<'_>, action: Action, resource: &ResourceCtx, decision: &Decision) -> CoreError {
        let reason = if decision.reasons.is_empty() {
            format!("not permitted to `{action}`")
        } else {
            format!("not permitted to `{action}`: {}", decision.reasons.join("; "))
        };
        let now = self.now();
        if let Some(suppressed) = self.admit_denial(&ctx.caller.actor, now.unix_timestamp()) {
            let (kind, id) = resource_label(resource);
            let mut ev = self.event(ctx, EventType::AccessDenied, now);
            ev.reason = Some(reason.clone());
            ev.details = with_auth(
                ctx.caller,
                serde_json::json!({
                    "action": action.as_str(),
                    "resource": { "type": kind, "id": id },
                    "policies": decision.determining_policies,
                    "errors": decision.errors,
                    "suppressed_before": suppressed,
                }),
            );
            if let Err(e) = self.store().record_events(&[ev]).await {
                tracing::warn!(error = %e, "cannot record a refused operator action");
            }
        }
        CoreError::Forbidden { reason, policies: decision.determining_policies.clone() }
    }

    /// May this refusal of `actor`'s be logged (see [`crate::authority::FailureWindow`])?
    /// Each operator has its own window, so one operator's burst cannot hide
    /// another's refusals.
    fn admit_denial(&self, actor: &str, second: i64) -> Option<u64> {
        let mut windows = crate::authority::lock_windows(&self.denials);
        if windows.len() >= 4096 && !windows.contains_key(actor) {
            windows.retain(|_, w| !w.idle(second));
        }
        windows.entry(actor.to_string()).or_default().admit(second, crate::authority::DENIALS_PER_OPERATOR_PER_SECOND)
    }

    // ------------------------------------------------------------ operators

    /// Create the first operator and its token at first start: an admin that
    /// also enrols subjects and submits requests (registration officer), at
    /// every site. Recorded as done by `system`.
    ///
    /// Crash-safe: `keep_secret` receives the token's secret before anything
    /// is committed (the server writes it to `DATA/admin-token`), and the
    /// operator, its token and their events are committed in one transaction.
    /// A start that stops before the commit left no operator, so the next
    /// start creates the admin again (with a new secret); one that stops after
    /// it has the secret kept already.
    pub async fn bootstrap_admin(
        &self,
        name: &str,
        keep_secret: impl FnOnce(&str) -> Result<(), CoreError>,
    ) -> Result<Operator, CoreError> {
        let system = Caller::system();
        let ctx = Ctx { caller: &system, trace_id: None };
        let input = OperatorInput {
            name: name.to_string(),
            roles: vec![Role::Admin.as_str().into(), Role::RegistrationOfficer.as_str().into()],
            all_sites: true,
            ..Default::default()
        };
        let (op, op_event) = self.new_operator(ctx, &input).await?;
        let now = self.now();
        let token_id = TokenId::generate(now, self.rng().bytes16());
        self.authorize(ctx, Action::TokenCreate, &ResourceCtx::Token { id: token_id.to_string(), owner: op.id.to_string() }).await?;
        let (token, secret, token_event) = self.new_token(ctx, &op, token_id, "bootstrap admin", None, now);
        keep_secret(&secret)?;
        self.store().insert_operator_with_token(&op, &token, [&op_event, &token_event]).await?;
        Ok(op)
    }

    /// Create an operator. Its first token comes from its enrolment
    /// (`enrolment_verifier`), never from the admin; privileged roles may
    /// wait for a second admin (see [`crate::sod`]).
    pub async fn create_operator(&self, ctx: Ctx<'_>, input: &OperatorInput) -> Result<crate::sod::OperatorChange, CoreError> {
        let (op, ev) = self.new_operator(ctx, input).await?;
        self.store_new_operator(ctx, op, ev).await
    }

    /// A new operator and its `operator.created` event, authorised, not yet stored.
    async fn new_operator(&self, ctx: Ctx<'_>, input: &OperatorInput) -> Result<(Operator, NewEvent), CoreError> {
        let spec = input.parse().map_err(CoreError::Invalid)?;
        let now = self.now();
        let mut op = Operator {
            id: OperatorId::generate(now, self.rng().bytes16()),
            name: spec.name,
            roles: spec.roles,
            sites: spec.sites,
            all_sites: spec.all_sites,
            teams: spec.teams,
            subject_id: spec.subject_id,
            disabled: spec.disabled,
            created_at: now,
            updated_at: now,
            sponsors: vec![],
            enrolment_expires_at: None,
            enrolment_verifier: None,
        };
        op.sponsor(&ctx.caller.actor, signet_model::operator::SponsorAct::Created, now);
        if let Some(e) = &spec.enrolment {
            op.enrolment_verifier = e.verifier_bytes();
            op.enrolment_expires_at = Some(now + Duration::seconds(e.ttl_seconds));
        }
        self.authorize(ctx, Action::OperatorUpdate, &ResourceCtx::Operator { id: op.id.to_string() }).await?;
        if let Some(sid) = &op.subject_id {
            self.get_subject_unchecked(sid)
                .await
                .map_err(|_| CoreError::Invalid(FieldError::new("subject_id", format!("no subject `{sid}`"))))?;
        }
        let mut ev = self.event(ctx, EventType::OperatorCreated, now);
        ev.details = with_auth(
            ctx.caller,
            serde_json::json!({ "operator_id": op.id, "name": op.name, "roles": op.roles, "sites": op.sites,
            "all_sites": op.all_sites, "teams": op.teams, "subject_id": op.subject_id,
            "enrolment_expires_at": op.enrolment_expires_at.map(|t| t.unix_timestamp()) }),
        );
        Ok((op, ev))
    }

    /// Replace an operator's roles, sites, teams, subject and state. Nobody
    /// changes their own (policy `sod.no-self-role-change`); a privileged
    /// grant may wait for a second admin (see [`crate::sod`]).
    pub async fn update_operator(
        &self,
        ctx: Ctx<'_>,
        id: &OperatorId,
        input: &OperatorInput,
    ) -> Result<crate::sod::OperatorChange, CoreError> {
        let spec = input.parse().map_err(CoreError::Invalid)?;
        if spec.enrolment.is_some() {
            return Err(CoreError::Invalid(FieldError::new(
                "enrolment_verifier",
                "a new enrolment for an existing operator is set with POST /v1/operators/{id}/enrolment",
            )));
        }
        self.authorize(ctx, Action::OperatorUpdate, &ResourceCtx::Operator { id: id.to_string() }).await?;
        let before = self.store().get_operator(id).await?.ok_or_else(|| CoreError::NotFound { entity: "operator", id: id.to_string() })?;
        if spec.name != before.name {
            return Err(CoreError::Invalid(FieldError::new("name", "an operator's name cannot change")));
        }
        if let Some(sid) = &spec.subject_id {
            self.get_subject_unchecked(sid)
                .await
                .map_err(|_| CoreError::Invalid(FieldError::new("subject_id", format!("no subject `{sid}`"))))?;
        }
        let now = self.now();
        let after = Operator {
            roles: spec.roles,
            sites: spec.sites,
            all_sites: spec.all_sites,
            teams: spec.teams,
            subject_id: spec.subject_id,
            disabled: spec.disabled,
            updated_at: now,
            ..before.clone()
        };
        let policy = self.active_policy().await?;
        if let Err(locked) = self.check_lockout(&policy.set, Some(&after)).await? {
            self.refuse_if_lockout_worsens(ctx, &policy.set, id, locked).await?;
        }
        let mut ev = self.event(ctx, EventType::OperatorUpdated, now);
        ev.details = with_auth(
            ctx.caller,
            serde_json::json!({
                "operator_id": id,
                "before": { "roles": before.roles, "sites": before.sites, "all_sites": before.all_sites, "teams": before.teams, "subject_id": before.subject_id, "disabled": before.disabled },
                "after": { "roles": after.roles, "sites": after.sites, "all_sites": after.all_sites, "teams": after.teams, "subject_id": after.subject_id, "disabled": after.disabled },
            }),
        );
        self.store_operator_change(ctx, &before, after, ev).await
    }

    pub async fn get_operator(&self, ctx: Ctx<'_>, id: &OperatorId) -> Result<Operator, CoreError> {
        self.authorize(ctx, Action::OperatorRead, &ResourceCtx::Operator { id: id.to_string() }).await?;
        self.store().get_operator(id).await?.ok_or_else(|| CoreError::NotFound { entity: "operator", id: id.to_string() })
    }

    pub async fn list_operators(&self, ctx: Ctx<'_>) -> Result<Vec<Operator>, CoreError> {
        let mut out = Vec::new();
        for op in self.store().list_operators().await? {
            if self.permitted(ctx.caller, Action::OperatorRead, &ResourceCtx::Operator { id: op.id.to_string() }).await? {
                out.push(op);
            }
        }
        Ok(out)
    }

    // ------------------------------------------------------------ tokens

    /// Create an API token for an operator; returns its record and the
    /// secret (shown once; only its SHA-256 is stored).
    pub async fn create_token(
        &self,
        ctx: Ctx<'_>,
        operator_id: &OperatorId,
        name: &str,
        ttl: Option<Duration>,
    ) -> Result<(OperatorToken, String), CoreError> {
        let name = name.trim();
        check_token_shape(name, ttl)?;
        let now = self.now();
        let id = TokenId::generate(now, self.rng().bytes16());
        let resource = ResourceCtx::Token { id: id.to_string(), owner: operator_id.to_string() };
        self.authorize(ctx, Action::TokenCreate, &resource).await?;
        self.require_own_credentials(ctx, operator_id, Action::TokenCreate, &resource).await?;
        let operator = self
            .store()
            .get_operator(operator_id)
            .await?
            .ok_or_else(|| CoreError::NotFound { entity: "operator", id: operator_id.to_string() })?;
        let (token, secret, ev) = self.new_token(ctx, &operator, id, name, ttl, now);
        self.store().insert_token(&token, &ev).await?;
        Ok((token, secret))
    }

    /// A new token for `operator` (authorised already), its secret and its
    /// `token.created` event, not yet stored.
    pub(crate) fn new_token(
        &self,
        ctx: Ctx<'_>,
        operator: &Operator,
        id: TokenId,
        name: &str,
        ttl: Option<Duration>,
        now: OffsetDateTime,
    ) -> (OperatorToken, String, NewEvent) {
        let (token, secret) = mint_token(self.rng().as_ref(), id, name, &operator.id, ttl.map(|d| now + d), now);
        let mut ev = self.event(ctx, EventType::TokenCreated, now);
        ev.details = with_auth(
            ctx.caller,
            serde_json::json!({ "token_id": token.id, "name": name, "operator_id": operator.id,
            "expires_at": token.expires_at.map(|t| t.unix_timestamp()) }),
        );
        (token, secret, ev)
    }

    pub async fn revoke_token(&self, ctx: Ctx<'_>, id: &TokenId) -> Result<(), CoreError> {
        let token = self.store().get_token(id).await?.ok_or_else(|| CoreError::NotFound { entity: "token", id: id.to_string() })?;
        self.authorize(ctx, Action::TokenRevoke, &ResourceCtx::Token { id: id.to_string(), owner: token.operator_id.to_string() }).await?;
        let mut ev = self.event(ctx, EventType::TokenRevoked, self.now());
        ev.details = with_auth(ctx.caller, serde_json::json!({ "token_id": id, "operator_id": token.operator_id }));
        if !self.store().revoke_token(id, &ev).await? {
            return Err(CoreError::Conflict(FieldError::new("token", format!("token `{id}` is already revoked"))));
        }
        self.forget_cached_tokens();
        Ok(())
    }

    pub async fn list_tokens(&self, ctx: Ctx<'_>, operator_id: &OperatorId) -> Result<Vec<OperatorToken>, CoreError> {
        self.authorize(ctx, Action::OperatorRead, &ResourceCtx::Operator { id: operator_id.to_string() }).await?;
        Ok(self.store().list_tokens(operator_id).await?)
    }

    // ------------------------------------------------------------ policies

    /// Validate and activate a new policy set: it must parse, validate
    /// against the schema, give every policy a unique `@id`, and pass the
    /// lockout rule over the operators as stored ([`Self::check_lockout`]).
    /// A refusal leaves the active set as it was and is recorded
    /// (`policy.rejected`) with the validator's message or the rule's.
    pub async fn apply_policy(&self, ctx: Ctx<'_>, text: &str, comment: &str) -> Result<PolicyApplied, CoreError> {
        self.authorize(ctx, Action::PolicyApply, &ResourceCtx::PolicyStore).await?;
        if comment.chars().count() > 1024 || comment.chars().any(|c| c.is_control() && c != '\n') {
            return Err(CoreError::Invalid(FieldError::new("comment", "at most 1024 characters, without control characters")));
        }
        let active = self.active_policy().await?;
        let new_set = match PolicySet::parse(text) {
            Ok(s) => s,
            Err(e) => {
                let mut ev = self.event(ctx, EventType::PolicyRejected, self.now());
                ev.reason = Some(e.to_string());
                ev.details =
                    with_auth(ctx.caller, serde_json::json!({ "active_version": active.version, "sha256": hex(&sha256(text.as_bytes())) }));
                self.store().record_events(&[ev]).await?;
                return Err(CoreError::Invalid(FieldError::new("text", e.to_string())));
            }
        };
        if let Err(locked) = self.check_lockout(&new_set, None).await? {
            let mut ev = self.event(ctx, EventType::PolicyRejected, self.now());
            ev.reason = Some(locked.to_string());
            ev.details = with_auth(
                ctx.caller,
                serde_json::json!({ "active_version": active.version, "sha256": hex(&sha256(text.as_bytes())),
                "rule": LOCKOUT_RULE, "lost": locked.lost.iter().map(|c| c.as_str()).collect::<Vec<_>>() }),
            );
            self.store().record_events(&[ev]).await?;
            return Err(CoreError::Denied(FieldError::new("policy", locked.to_string())));
        }
        if let Some(why) = self.check_server_certificate_policy(&new_set).await? {
            let mut ev = self.event(ctx, EventType::PolicyRejected, self.now());
            ev.reason = Some(why.clone());
            ev.details = with_auth(
                ctx.caller,
                serde_json::json!({ "active_version": active.version, "sha256": hex(&sha256(text.as_bytes())),
                "rule": SERVER_CERTIFICATE_RULE }),
            );
            self.store().record_events(&[ev]).await?;
            return Err(CoreError::Denied(FieldError::new("policy", why)));
        }
        let diff = diff_policies(&active.set, &new_set);
        let now = self.now();
        let stored = StoredPolicy {
            version: active.version + 1,
            text: text.to_string(),
            sha256: hex(&sha256(text.as_bytes())),
            comment: comment.to_string(),
            created_by: ctx.caller.actor.clone(),
            created_at: now,
        };
        let mut ev = self.event(ctx, EventType::PolicyActivated, now);
        ev.details = with_auth(
            ctx.caller,
            serde_json::json!({
                "version": stored.version, "previous_version": active.version, "sha256": stored.sha256,
                "previous_sha256": active.sha256, "comment": comment, "diff": diff,
            }),
        );
        self.store().insert_policy(&stored, &ev).await.map_err(|e| match e {
            StoreError::Conflict { .. } => CoreError::Conflict(FieldError::new(
                "text",
                format!("policy version {} was activated concurrently; review it and apply again", stored.version),
            )),
            other => other.into(),
        })?;
        if let Ok(mut g) = self.policy.write() {
            *g = None;
        }
        Ok(PolicyApplied { version: stored.version, sha256: stored.sha256, diff })
    }

    // ------------------------------------------------------------ the lockout rule

    /// The server's own certificate goes through the issuance policy like
    /// every credential, so no policy may refuse it: a server that cannot
    /// renew its certificate cannot serve the API that would fix the policy.
    /// `Some(reason)`: under `set`, the server's next certificate (its
    /// subject and profile as stored) would be refused or held. `None` when
    /// it would be issued, or when the server has no certificate yet.
    pub async fn check_server_certificate_policy(&self, set: &PolicySet) -> Result<Option<String>, CoreError> {
        let subject_id = crate::server_cert::server_subject_id();
        let (Some(subject), Some(profile)) =
            (self.store().get_subject(&subject_id).await?, self.store().get_profile(crate::server_cert::SERVER_PROFILE).await?)
        else {
            return Ok(None);
        };
        let names = signet_model::names::SanSet {
            dns: profile.names.dns.iter().map(|p| p.as_str().to_string()).collect(),
            ip: Vec::new(),
            ..Default::default()
        };
        let decision = signet_policy::decide_issuance(
            set,
            &signet_policy::IssuanceCtx {
                subject: &subject,
                profile: &profile,
                names: &names,
                ttl_seconds: Some(profile.default_ttl_seconds),
                scopes: &[],
                evidence: signet_policy::Evidence { key_proven: true, attested: false },
                caller: "system",
                approvals: 0,
            },
        );
        if decision.allowed {
            return Ok(None);
        }
        let mut reasons = decision.reasons.clone();
        reasons.extend(decision.errors.iter().cloned());
        Ok(Some(format!(
            "the policy set would refuse the server's own certificate ({}; policy: {}): the server could no longer renew it \
             (rule `{SERVER_CERTIFICATE_RULE}`)",
            reasons.join("; "),
            decision.determining_policies.join(", ")
        )))
    }

    /// The lockout rule over the operators as stored, `changed` (an
    /// operator about to be updated) standing in for its stored version:
    /// under `set`, can some enabled operator still apply policies, and
    /// some still create operators? `Ok(Err(_))` is the rule's refusal.
    pub async fn check_lockout(&self, set: &PolicySet, changed: Option<&Operator>) -> Result<Result<(), LockedOut>, CoreError> {
        let mut operators = self.store().list_operators().await?;
        if let Some(c) = changed {
            operators.retain(|o| o.id != c.id);
            operators.push(c.clone());
        }
        let enabled: Vec<OperatorCtx> = operators.iter().filter(|o| !o.disabled).map(operator_ctx).collect();
        let new_operator = OperatorId::generate(self.now(), self.rng().bytes16());
        Ok(signet_policy::check_not_locked_out(set, &enabled, new_operator.as_str()))
    }

    /// Refuse an operator change that fails the lockout rule (409, naming
    /// the rule), unless every capability it loses was lost already: a
    /// change that does not make things worse (granting a role while nobody
    /// can apply policies) stays possible. The refusal is recorded as
    /// `operator.denied`.
    async fn refuse_if_lockout_worsens(&self, ctx: Ctx<'_>, set: &PolicySet, id: &OperatorId, locked: LockedOut) -> Result<(), CoreError> {
        let lost_before = match self.check_lockout(set, None).await? {
            Ok(()) => Vec::new(),
            Err(before) => before.lost,
        };
        if locked.lost.iter().all(|c| lost_before.contains(c)) {
            return Ok(());
        }
        let mut ev = self.event(ctx, EventType::AccessDenied, self.now());
        ev.reason = Some(locked.to_string());
        ev.details = with_auth(
            ctx.caller,
            serde_json::json!({ "action": Action::OperatorUpdate.as_str(), "resource": { "type": "operator", "id": id },
            "rule": LOCKOUT_RULE, "lost": locked.lost.iter().map(|c| c.as_str()).collect::<Vec<_>>() }),
        );
        self.store().record_events(&[ev]).await?;
        Err(CoreError::Conflict(FieldError::new("operator", locked.to_string())))
    }

    /// The active policy set, for reading (`policy.read`).
    pub async fn read_active_policy(&self, ctx: Ctx<'_>) -> Result<Arc<ActivePolicy>, CoreError> {
        self.authorize(ctx, Action::PolicyRead, &ResourceCtx::PolicyStore).await?;
        self.active_policy().await
    }

    pub async fn list_policy_versions(&self, ctx: Ctx<'_>) -> Result<Vec<StoredPolicy>, CoreError> {
        self.authorize(ctx, Action::PolicyRead, &ResourceCtx::PolicyStore).await?;
        Ok(self.store().list_policies().await?)
    }

    pub async fn get_policy_version(&self, ctx: Ctx<'_>, version: i64) -> Result<StoredPolicy, CoreError> {
        self.authorize(ctx, Action::PolicyRead, &ResourceCtx::PolicyStore).await?;
        self.store().get_policy(version).await?.ok_or_else(|| CoreError::NotFound { entity: "policy version", id: version.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_diff_shows_removed_and_added_lines_in_order() {
        let (d, t) = line_diff("a\nb\nc\n", "a\nx\nc\nd\n");
        assert_eq!(d, vec!["- b", "+ x", "+ d"]);
        assert!(!t);
        assert!(line_diff("same\n", "same\n").0.is_empty());
    }

    #[test]
    fn policy_diff_names_added_removed_and_changed_policies() {
        let old = PolicySet::default_set();
        let text = old.text().replace("@id(\"auditor.read\")", "@id(\"auditor.read.v2\")").replace(
            "when { principal.roles.contains(Role::\"site_operator\") };",
            "when { principal.roles.contains(Role::\"site_operator\") && principal.all_sites };",
        );
        let new = PolicySet::parse(&text).unwrap();
        let d = diff_policies(&old, &new);
        assert_eq!(d.added, vec!["auditor.read.v2"]);
        assert_eq!(d.removed, vec!["auditor.read"]);
        assert!(d.changed.contains(&"site_operator.metrics".to_string()), "{:?}", d.changed);
        assert!(d.lines.iter().any(|l| l.starts_with("+ ") && l.contains("all_sites };")));
    }
}
