//! The authority: every operation a caller can ask for, each read top to
//! bottom as the steps of the issuance pipeline (DESIGN.md).

use crate::cache::TtlCache;
use crate::commit::GroupCommitter;
use crate::decide::{X509Ask, decide_x509};
use crate::error::CoreError;
use crate::listing::{Listing, VisiblePage};
use crate::mint::{BoundKey, X509Issuer};
use crate::ports::{
    Clock, CredentialFilter, IssuanceIntent, IssuanceOutcome, IssuanceWrite, OperatorToken, Page, RequestFilter, Rng, Store,
};
use signet_model::FieldError;
use signet_model::credential::{Credential, CredentialStatus};
use signet_model::event::{Event, EventType, NewEvent};
use signet_model::ids::{CredentialId, RequestId, Serial, SubjectId, TokenId};
use signet_model::names::SanSet;
use signet_model::operator::Operator;
use signet_model::profile::{ApprovalRule, CredentialType, Profile, ProfileInput};
use signet_model::request::{Grant, Request, RequestState};
use signet_model::subject::{Subject, SubjectInput, SubjectStatus};
use signet_policy::{Action, CredentialRef, Evidence, IssuanceCtx, OperatorCtx, ProfileRef, RequestRef, ResourceCtx, SubjectRef};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use time::{Duration, OffsetDateTime};

/// Who is calling, as authorisation sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The authority itself: first-start bootstrap and background tasks.
    /// Never produced from a request; every action is allowed.
    System,
    /// No valid credentials: only refusals are recorded under this name.
    Anonymous,
    /// An authenticated operator; what it may do is decided by policy.
    Operator(OperatorCtx),
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// How the caller appears in events and requests: an operator id
    /// (`op_…`), `system` or `anonymous`.
    pub actor: String,
    pub principal: Principal,
    /// The API token it authenticated with, if any.
    pub token_id: Option<TokenId>,
    /// The serial of the client certificate it authenticated with, if any
    /// (recorded as `details.auth` in the events it causes).
    pub certificate_serial: Option<Serial>,
}

impl Caller {
    pub fn system() -> Self {
        Self { actor: "system".into(), principal: Principal::System, token_id: None, certificate_serial: None }
    }

    pub fn anonymous() -> Self {
        Self { actor: "anonymous".into(), principal: Principal::Anonymous, token_id: None, certificate_serial: None }
    }

    pub fn operator(op: &Operator, token_id: Option<TokenId>) -> Self {
        Self {
            actor: op.id.to_string(),
            principal: Principal::Operator(crate::governance::operator_ctx(op)),
            token_id,
            certificate_serial: None,
        }
    }

    /// An operator authenticated by a client certificate Signet issued to it.
    pub fn operator_by_certificate(op: &Operator, serial: Serial) -> Self {
        Self { certificate_serial: Some(serial), ..Self::operator(op, None) }
    }
}

/// An event's details, with how the caller authenticated when it used a
/// client certificate: `"auth": {"method": "client_certificate", "serial": …}`.
/// Token-authenticated and system events are left as they are.
pub(crate) fn with_auth(caller: &Caller, mut details: serde_json::Value) -> serde_json::Value {
    let Some(serial) = &caller.certificate_serial else { return details };
    let auth = serde_json::json!({ "method": "client_certificate", "serial": serial.to_hex() });
    match details.as_object_mut() {
        Some(obj) => {
            obj.insert("auth".into(), auth);
        }
        None => details = serde_json::json!({ "auth": auth }),
    }
    details
}

/// Who is asking, and the id of the HTTP request (for correlation).
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    pub caller: &'a Caller,
    pub trace_id: Option<&'a str>,
}

/// One X.509 request, parsed at the edge: the CSR's proof of possession has
/// been verified (that is what made `key`).
#[derive(Debug, Clone)]
pub struct X509Issue {
    pub subject_id: SubjectId,
    pub profile: String,
    pub key: BoundKey,
    /// The names the CSR asked for; used when `names` is absent.
    pub csr_names: SanSet,
    /// Names given explicitly in the request body; they replace the CSR's.
    pub names: Option<SanSet>,
    pub ttl_seconds: Option<i64>,
    /// Scopes (entitlements) asked for; each must be allowed by the profile.
    pub scopes: Vec<String>,
    /// `Some(reason)`: an emergency (break-glass) request.
    pub break_glass: Option<String>,
}

impl X509Issue {
    /// The request field the names came from, for refusals that name it.
    pub fn names_field(&self) -> &'static str {
        if self.names.is_some() { "names" } else { "csr.names" }
    }
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

/// A decision of the pipeline, before anything is recorded.
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

/// The `@id` of the default policy that holds a request until its approvals are in.
pub const AWAITING_APPROVAL: &str = "issue.forbid.awaiting-approval";
/// Break-glass: approvals needed (each by a different operator with
/// `break_glass.approve`), how long a request waits, and the longest lifetime.
pub const BREAK_GLASS_APPROVALS: u32 = 2;
pub const BREAK_GLASS_WINDOW: Duration = Duration::minutes(30);
pub const BREAK_GLASS_MAX_TTL_SECONDS: i64 = 3600;

/// A Cedar refusal as a field error: the request field the first
/// determining policy is about, and every reason.
fn refusal_of(decision: &signet_policy::Decision, names_field: &str) -> FieldError {
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
    FieldError::new(field, format!("{} (policy: {})", reasons.join("; "), decision.determining_policies.join(", ")))
}

/// Refused only because approvals are still missing?
pub(crate) fn waits_only_for_approvals(decision: &signet_policy::Decision) -> bool {
    decision.approvals_needed > 0 && decision.determining_policies.iter().all(|p| p == AWAITING_APPROVAL)
}

/// A reason is required for approvals, denials and status changes.
pub(crate) fn required_reason(reason: &str) -> Result<&str, CoreError> {
    let r = reason.trim();
    if r.is_empty() {
        return Err(CoreError::Invalid(FieldError::new("reason", "a reason is required")));
    }
    if r.chars().count() > 1024 || r.chars().any(char::is_control) {
        return Err(CoreError::Invalid(FieldError::new("reason", "at most 1024 characters, without control characters")));
    }
    Ok(r)
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

/// A minted certificate and what it was minted for.
#[derive(Debug, Clone)]
pub struct Issued {
    pub request: Request,
    pub credential: Credential,
    /// The index of the log entry that records the issuance.
    pub log_index: i64,
}

/// A token looked up recently: what authentication checks, and the caller
/// it authenticates, built once and shared by the requests that present it.
#[derive(Debug)]
struct KnownToken {
    token: OperatorToken,
    operator_disabled: bool,
    caller: Arc<Caller>,
}

/// Prefix of every operator token, so that secret scanners can find leaked ones.
pub const TOKEN_PREFIX: &str = "signet_";

pub struct Authority {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    rng: Arc<dyn Rng>,
    /// The active issuing CA and the retired ones still published.
    pub(crate) issuers: RwLock<crate::rollover::Issuers>,
    /// How rollovers make, load and destroy CA keys, and the overlap.
    pub(crate) rollover: Option<crate::rollover::Rollover>,
    /// One rollover or destruction at a time in this process.
    pub(crate) rotation: tokio::sync::Mutex<()>,
    /// The active issuing CA's id, announced whenever it changes (a rollover
    /// here, or one picked up from another process).
    pub(crate) active_issuer: tokio::sync::watch::Sender<signet_model::ids::AuthorityId>,
    committer: GroupCommitter,
    /// Authenticated tokens, by the token's SHA-256.
    tokens: TtlCache<[u8; 32], KnownToken>,
    /// The policy set in force and when its version was last checked.
    pub(crate) policy: RwLock<Option<(Arc<crate::governance::ActivePolicy>, OffsetDateTime)>>,
    profiles: TtlCache<String, Profile>,
    subjects: TtlCache<SubjectId, Subject>,
    auth_failures: std::sync::Mutex<FailureWindow>,
    /// Per operator id: its refused actions.
    pub(crate) denials: std::sync::Mutex<HashMap<String, FailureWindow>>,
    /// Whether the log verified so far (see [`crate::integrity`]).
    pub(crate) log_integrity: crate::integrity::LogIntegrity,
    /// Counts the token revocations and operator changes made here: a
    /// long-lived response checks its caller again when it moved.
    access_changes: std::sync::atomic::AtomicU64,
}

/// Refusals are logged, but no client may grow the log at will with them:
/// at most a fixed number of events a second (refused authentications: in
/// all, [`AUTH_FAILURES_PER_SECOND`]; refused actions: per operator,
/// [`DENIALS_PER_OPERATOR_PER_SECOND`]); the rest are counted, and the count
/// is carried by the next event logged (`suppressed_before`). The refusal
/// itself stands either way.
#[derive(Debug, Default)]
pub(crate) struct FailureWindow {
    second: i64,
    logged: u32,
    suppressed: u64,
}

impl FailureWindow {
    /// May one more event be logged in `second`, at most `per_second` a
    /// second? `Some(n)`: yes, and `n` were suppressed since the last one
    /// logged; `None`: no (it is counted).
    pub(crate) fn admit(&mut self, second: i64, per_second: u32) -> Option<u64> {
        if self.second != second {
            self.second = second;
            self.logged = 0;
        }
        if self.logged >= per_second {
            self.suppressed += 1;
            return None;
        }
        self.logged += 1;
        Some(std::mem::take(&mut self.suppressed))
    }

    /// Nothing left to report and not in use this second: can be forgotten.
    pub(crate) fn idle(&self, second: i64) -> bool {
        self.suppressed == 0 && self.second != second
    }

    /// The refusals counted but not yet reported, handed over for a summary
    /// event (see [`Authority::report_suppressed_refusals`]); the window then
    /// starts counting again from zero, so no refusal is reported twice.
    pub(crate) fn take_suppressed(&mut self) -> Option<u64> {
        Some(std::mem::take(&mut self.suppressed)).filter(|n| *n > 0)
    }

    /// Hand back counts whose summary could not be recorded.
    pub(crate) fn restore_suppressed(&mut self, n: u64) {
        self.suppressed += n;
    }
}

/// A rate-limit window (or map of them), even if a thread panicked holding
/// it: the counts stay usable.
pub(crate) fn lock_windows<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub const AUTH_FAILURES_PER_SECOND: u32 = 20;
pub const DENIALS_PER_OPERATOR_PER_SECOND: u32 = 20;

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority").field("issuer", self.issuer().issuer_id()).finish_non_exhaustive()
    }
}

/// SHA-256, the hash used for token secrets and key fingerprints.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

impl Authority {
    /// Must be called inside a Tokio runtime (it starts the group committer).
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, rng: Arc<dyn Rng>, x509: Arc<dyn X509Issuer>, max_batch: usize) -> Self {
        let committer = GroupCommitter::start(store.clone(), max_batch);
        Self {
            store,
            clock,
            rng,
            active_issuer: tokio::sync::watch::Sender::new(x509.issuer_id().clone()),
            issuers: RwLock::new(crate::rollover::Issuers { active: x509, retired: Vec::new() }),
            rollover: None,
            rotation: tokio::sync::Mutex::new(()),
            committer,
            tokens: TtlCache::default(),
            policy: RwLock::default(),
            profiles: TtlCache::default(),
            subjects: TtlCache::default(),
            auth_failures: Default::default(),
            denials: Default::default(),
            log_integrity: Default::default(),
            access_changes: Default::default(),
        }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The active issuing CA: the one new certificates are signed by.
    pub fn issuer(&self) -> Arc<dyn X509Issuer> {
        match self.issuers.read() {
            Ok(i) => i.active.clone(),
            Err(p) => p.into_inner().active.clone(),
        }
    }

    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    pub(crate) fn rng(&self) -> &Arc<dyn Rng> {
        &self.rng
    }

    pub(crate) fn event(&self, ctx: Ctx<'_>, event_type: EventType, now: OffsetDateTime) -> NewEvent {
        NewEvent {
            event_type,
            actor: ctx.caller.actor.clone(),
            subject_id: None,
            request_id: None,
            credential_id: None,
            reason: None,
            details: with_auth(ctx.caller, serde_json::Value::Null),
            trace_id: ctx.trace_id.map(str::to_string),
            time: now,
        }
    }

    // ------------------------------------------------------------ authenticate

    /// Turn a bearer token into a caller, or refuse. The token is looked up by
    /// its SHA-256; the secret itself is never stored. The token must be
    /// neither revoked nor expired, and its operator not disabled.
    pub async fn authenticate(&self, bearer: &str) -> Result<Arc<Caller>, CoreError> {
        let refuse = |why: &str| CoreError::Unauthenticated(why.to_string());
        if !bearer.starts_with(TOKEN_PREFIX) || bearer.len() > 256 {
            return Err(refuse("the bearer token is not a Signet operator token"));
        }
        let hash = sha256(bearer.as_bytes());
        let now = self.clock.now();
        let known = match self.tokens.get(&hash, now) {
            Some(known) => known,
            None => {
                let t = self.store.find_token(&hash).await?.ok_or_else(|| refuse("unknown operator token"))?;
                let o = self.store.get_operator(&t.operator_id).await?.ok_or_else(|| refuse("the token's operator no longer exists"))?;
                let known = Arc::new(KnownToken {
                    caller: Arc::new(Caller::operator(&o, Some(t.id.clone()))),
                    token: t,
                    operator_disabled: o.disabled,
                });
                self.tokens.put(hash, known.clone(), now);
                known
            }
        };
        if known.token.revoked {
            return Err(refuse("the operator token has been revoked"));
        }
        if known.token.expires_at.is_some_and(|exp| exp <= now) {
            return Err(refuse("the operator token has expired"));
        }
        if known.operator_disabled {
            return Err(refuse("the operator is disabled"));
        }
        Ok(known.caller.clone())
    }

    /// The caller of the token `token_id`, read again from the store (never
    /// from the token cache), with the checks of [`Authority::authenticate`]:
    /// for long-lived responses (event streams), which must end once the
    /// token or its operator loses access, wherever the change was made (in
    /// another server process sharing the store too).
    pub async fn reauthenticate_token(&self, token_id: &TokenId) -> Result<Arc<Caller>, CoreError> {
        let refuse = |why: &str| CoreError::Unauthenticated(why.to_string());
        let t = self.store.get_token(token_id).await?.ok_or_else(|| refuse("unknown operator token"))?;
        if t.revoked {
            return Err(refuse("the operator token has been revoked"));
        }
        if t.expires_at.is_some_and(|exp| exp <= self.clock.now()) {
            return Err(refuse("the operator token has expired"));
        }
        let o = self.store.get_operator(&t.operator_id).await?.ok_or_else(|| refuse("the token's operator no longer exists"))?;
        if o.disabled {
            return Err(refuse("the operator is disabled"));
        }
        Ok(Arc::new(Caller::operator(&o, Some(t.id))))
    }

    /// Moves whenever a token is revoked or an operator changed in this
    /// process (changes made elsewhere are seen by reading the store).
    pub fn access_changes(&self) -> u64 {
        self.access_changes.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Drop every cached token, after a revocation or an operator change.
    pub(crate) fn forget_cached_tokens(&self) {
        self.access_changes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.tokens.clear();
    }

    /// Record a refused authentication (`why`, on `path`) in the log, within
    /// the rate limit. Never fails the caller: the refusal stands either way.
    pub async fn record_auth_failure(&self, why: &str, path: &str, trace_id: Option<&str>) {
        let now = self.clock.now();
        let admitted = lock_windows(&self.auth_failures).admit(now.unix_timestamp(), AUTH_FAILURES_PER_SECOND);
        let Some(suppressed) = admitted else { return };
        let anonymous = Caller::anonymous();
        let mut ev = self.event(Ctx { caller: &anonymous, trace_id }, EventType::OperatorAuthFailed, now);
        ev.reason = Some(why.to_string());
        ev.details = serde_json::json!({ "path": signet_model::names::shorten(path), "suppressed_before": suppressed });
        if let Err(e) = self.store.record_events(&[ev]).await {
            tracing::warn!(error = %e, "cannot record a refused authentication");
        }
    }

    /// Report the refusals the rate limits above counted but did not log one
    /// by one, and that no later refusal has reported yet (`suppressed_before`):
    /// one summary event per window with `details.suppressed` = how many,
    /// `operator.auth_failed` for authentications, `operator.denied` with the
    /// operator as actor for refused actions. Run every few seconds and at
    /// shutdown, so a burst followed by silence is accounted for too. Counts
    /// whose events cannot be recorded are kept for the next call.
    pub async fn report_suppressed_refusals(&self) {
        let now = self.clock.now();
        let second = now.unix_timestamp();
        let auth = lock_windows(&self.auth_failures).take_suppressed();
        let denials: Vec<(String, u64)> = {
            let mut windows = lock_windows(&self.denials);
            let taken = windows.iter_mut().filter_map(|(actor, w)| Some((actor.clone(), w.take_suppressed()?))).collect();
            windows.retain(|_, w| !w.idle(second));
            taken
        };
        if auth.is_none() && denials.is_empty() {
            return;
        }
        let anonymous = Caller::anonymous();
        let summary = |event_type, actor: Option<&str>, reason: &str, n: u64| {
            let mut ev = self.event(Ctx { caller: &anonymous, trace_id: None }, event_type, now);
            if let Some(actor) = actor {
                ev.actor = actor.to_string();
            }
            ev.reason = Some(reason.to_string());
            ev.details = serde_json::json!({ "suppressed": n });
            ev
        };
        let mut events = Vec::with_capacity(denials.len() + 1);
        if let Some(n) = auth {
            events.push(summary(
                EventType::OperatorAuthFailed,
                None,
                "refused authentications over the rate limit, not logged one by one",
                n,
            ));
        }
        for (actor, n) in &denials {
            events.push(summary(EventType::AccessDenied, Some(actor), "refused actions over the rate limit, not logged one by one", *n));
        }
        if let Err(e) = self.store.record_events(&events).await {
            tracing::warn!(error = %e, "cannot record the refusals left out by the rate limit; kept for the next attempt");
            if let Some(n) = auth {
                lock_windows(&self.auth_failures).restore_suppressed(n);
            }
            let mut windows = lock_windows(&self.denials);
            for (actor, n) in denials {
                windows.entry(actor).or_default().restore_suppressed(n);
            }
        }
    }

    // ------------------------------------------------------------ subjects

    /// A subject Signet issues to itself (an operator's certificate subject,
    /// the server), whose id is derived rather than random: returned as
    /// stored if it exists, else enrolled now with its `subject.created`
    /// event, whose details carry `key = value` to say whose it is.
    pub(crate) async fn enrol_builtin_subject(&self, ctx: Ctx<'_>, subject: Subject, key: &str, value: &str) -> Result<Subject, CoreError> {
        if let Some(s) = self.store.get_subject(&subject.id).await? {
            return Ok(s);
        }
        let mut ev = self.event(ctx, EventType::SubjectCreated, subject.created_at);
        ev.subject_id = Some(subject.id.clone());
        let mut details = serde_json::json!({
            "name": subject.name, "kind": subject.kind, "owner": subject.owner, "purpose": subject.purpose,
            "assurance": subject.assurance, "site": subject.site,
        });
        if let Some(obj) = details.as_object_mut() {
            obj.insert(key.to_string(), serde_json::Value::String(value.to_string()));
        }
        ev.details = with_auth(ctx.caller, details);
        match self.store.insert_subject(&subject, &ev).await {
            Ok(()) => Ok(subject),
            // Enrolled concurrently (another request, another server process): use that one.
            Err(crate::ports::StoreError::Conflict { .. }) => self.store.get_subject(&subject.id).await?.ok_or_else(|| {
                CoreError::Conflict(FieldError::new(
                    "name",
                    format!("a subject named `{}` already exists and is not Signet's own", subject.name),
                ))
            }),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn create_subject(&self, ctx: Ctx<'_>, input: &SubjectInput) -> Result<Subject, CoreError> {
        let new = input.parse().map_err(CoreError::Invalid)?;
        let now = self.clock.now();
        let subject = Subject {
            id: SubjectId::generate(now, self.rng.bytes16()),
            name: new.name,
            kind: new.kind,
            owner: new.owner,
            purpose: new.purpose,
            assurance: new.assurance,
            attributes: new.attributes,
            site: new.site,
            status: SubjectStatus::Active,
            created_at: now,
            updated_at: now,
        };
        self.authorize(ctx, Action::SubjectCreate, &ResourceCtx::Subject(SubjectRef::from_subject(&subject))).await?;
        let mut ev = self.event(ctx, EventType::SubjectCreated, now);
        ev.subject_id = Some(subject.id.clone());
        ev.details = with_auth(
            ctx.caller,
            serde_json::json!({
                "name": subject.name, "kind": subject.kind, "owner": subject.owner,
                "purpose": subject.purpose, "assurance": subject.assurance, "site": subject.site,
            }),
        );
        self.store.insert_subject(&subject, &ev).await?;
        Ok(subject)
    }

    /// A subject, without an authorisation check: for the pipeline's own use.
    pub(crate) async fn get_subject_unchecked(&self, id: &SubjectId) -> Result<Subject, CoreError> {
        self.store.get_subject(id).await?.ok_or_else(|| CoreError::NotFound { entity: "subject", id: id.to_string() })
    }

    pub async fn get_subject(&self, ctx: Ctx<'_>, id: &SubjectId) -> Result<Subject, CoreError> {
        let subject = self.get_subject_unchecked(id).await?;
        self.authorize(ctx, Action::SubjectRead, &ResourceCtx::Subject(SubjectRef::from_subject(&subject))).await?;
        Ok(subject)
    }

    /// The subjects the caller may read, newest first (see [`crate::listing`]).
    pub async fn list_subjects(&self, ctx: Ctx<'_>, page: Page) -> Result<Listing<Subject>, CoreError> {
        let mut page = VisiblePage::new(page);
        while let Some(read) = page.next_read() {
            let rows = self.store.list_subjects(&read).await?;
            page.read(&read, rows.len());
            for s in rows {
                if !page.wants_more() {
                    break;
                }
                let visible = self.permitted(ctx.caller, Action::SubjectRead, &ResourceCtx::Subject(SubjectRef::from_subject(&s))).await?;
                page.offer(s, visible);
            }
        }
        Ok(page.finish())
    }

    /// Suspend (`active → suspended`), reinstate (`suspended → active`) or
    /// revoke (`active|suspended → revoked`, final) a subject. A subject
    /// that is not active gets no new credential.
    pub async fn set_subject_status(&self, ctx: Ctx<'_>, id: &SubjectId, to: SubjectStatus, reason: &str) -> Result<Subject, CoreError> {
        let reason = required_reason(reason)?;
        let subject = self.get_subject_unchecked(id).await?;
        if *id == crate::server_cert::server_subject_id() {
            // Suspended, the server could not renew its own certificate, nor
            // start again to serve the API that would reinstate it.
            return Err(CoreError::Conflict(FieldError::new(
                "id",
                format!("subject `{}` is the server's own (its HTTPS certificates): its status cannot change", subject.name),
            )));
        }
        let action = match (subject.status, to) {
            (SubjectStatus::Active, SubjectStatus::Suspended) => Action::SubjectSuspend,
            (SubjectStatus::Suspended, SubjectStatus::Active) => Action::SubjectReinstate,
            (SubjectStatus::Active | SubjectStatus::Suspended, SubjectStatus::Revoked) => Action::SubjectRevoke,
            (from, to) => {
                return Err(CoreError::Conflict(FieldError::new(
                    "status",
                    format!("subject `{}` is {}; it cannot become {}", subject.name, from.as_str(), to.as_str()),
                )));
            }
        };
        self.authorize(ctx, action, &ResourceCtx::Subject(SubjectRef::from_subject(&subject))).await?;
        let now = self.clock.now();
        let mut ev = self.event(ctx, EventType::SubjectStatusChanged, now);
        ev.subject_id = Some(subject.id.clone());
        ev.reason = Some(reason.to_string());
        ev.details = with_auth(ctx.caller, serde_json::json!({ "from": subject.status, "to": to }));
        let changed = self.store.set_subject_status(id, subject.status, to, now, &ev).await;
        self.subjects.evict(id);
        if !changed? {
            return Err(CoreError::Conflict(FieldError::new(
                "status",
                format!("subject `{}` changed concurrently; try again", subject.name),
            )));
        }
        Ok(Subject { status: to, updated_at: now, ..subject })
    }

    // ------------------------------------------------------------ profiles

    pub async fn apply_profile(&self, ctx: Ctx<'_>, input: &ProfileInput) -> Result<Profile, CoreError> {
        let spec = input.parse().map_err(CoreError::Invalid)?;
        let now = self.clock.now();
        let draft = spec.clone().into_profile(0, now, now);
        self.authorize(ctx, Action::ProfileApply, &ResourceCtx::Profile(ProfileRef::from_profile(&draft))).await?;
        let before = self.store.get_profile(&spec.name).await?;
        let mut ev = self.event(ctx, EventType::ProfileApplied, now);
        ev.details = with_auth(
            ctx.caller,
            serde_json::json!({
                "name": spec.name,
                "previous_version": before.as_ref().map(|p| p.version),
            }),
        );
        let profile = self.store.put_profile(&spec, now, &ev).await?;
        self.profiles.evict(&profile.name);
        Ok(profile)
    }

    pub async fn get_profile(&self, ctx: Ctx<'_>, name: &str) -> Result<Profile, CoreError> {
        let profile = self.store.get_profile(name).await?.ok_or_else(|| CoreError::NotFound { entity: "profile", id: name.to_string() })?;
        self.authorize(ctx, Action::ProfileRead, &ResourceCtx::Profile(ProfileRef::from_profile(&profile))).await?;
        Ok(profile)
    }

    pub async fn list_profiles(&self, ctx: Ctx<'_>) -> Result<Vec<Profile>, CoreError> {
        let mut out = Vec::new();
        for p in self.store.list_profiles().await? {
            if self.permitted(ctx.caller, Action::ProfileRead, &ResourceCtx::Profile(ProfileRef::from_profile(&p))).await? {
                out.push(p);
            }
        }
        Ok(out)
    }

    // ------------------------------------------------------------ issuance

    /// Resolve what an X.509 request refers to: its subject and profile,
    /// from memory if looked up in the last [`crate::cache::TTL`], else from
    /// the store. A stale subject status cannot mint: the store writes
    /// credentials only for subjects active at commit.
    pub(crate) async fn resolve(&self, ask: &X509Issue, now: OffsetDateTime) -> Result<(Arc<Subject>, Arc<Profile>), CoreError> {
        let subject = self
            .subjects
            .get_or_load(&ask.subject_id, now, || self.store.get_subject(&ask.subject_id))
            .await?
            .ok_or_else(|| CoreError::Invalid(FieldError::new("subject", format!("no subject `{}`", ask.subject_id))))?;
        let profile =
            self.profiles.get_or_load(ask.profile.as_str(), now, || self.store.get_profile(&ask.profile)).await?.ok_or_else(|| {
                CoreError::Invalid(FieldError::new("profile", format!("no profile `{}`", signet_model::names::shorten(&ask.profile))))
            })?;
        Ok((subject, profile))
    }

    /// The profile's X.509 rules for this request ([`decide_x509`], a floor
    /// no policy can lower): a grant, or a refusal naming the field.
    pub(crate) fn x509_floor(
        &self,
        request: &Request,
        subject: &Subject,
        profile: &Profile,
        key: &BoundKey,
        names_field: &str,
        now: OffsetDateTime,
    ) -> Result<Grant, FieldError> {
        decide_x509(&X509Ask {
            subject,
            profile,
            key,
            names: &request.requested_names,
            names_field,
            // A break-glass request's lifetime was capped when it was made.
            ttl_seconds: request.requested_ttl_seconds,
            now,
            issuer_not_before: self.issuer().issuer_not_before(),
            issuer_not_after: self.issuer().issuer_not_after(),
        })
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
                evidence: Evidence { key_proven: true, attested: false },
                caller: &request.requested_by,
                approvals,
            },
        )
    }

    /// Decide a request with everything known at this point: the X.509 rules
    /// of the profile (a floor no policy can lower), then the active Cedar
    /// issuance policy with `approvals` collected so far.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn decide(
        &self,
        policy: &crate::governance::ActivePolicy,
        request: &Request,
        subject: &Subject,
        profile: &Profile,
        key: &BoundKey,
        names_field: &str,
        approvals: u32,
        now: OffsetDateTime,
    ) -> Ruling {
        let grant = match self.x509_floor(request, subject, profile, key, names_field, now) {
            Ok(g) => g,
            Err(refusal) => return Ruling::Refused { refusal, policies: vec![] },
        };
        let decision = Self::policy_decision(policy, request, subject, profile, approvals);
        if decision.allowed {
            return Ruling::Permit { grant, policies: decision.determining_policies };
        }
        if waits_only_for_approvals(&decision) {
            return Ruling::NeedsApprovals { needed: decision.approvals_needed };
        }
        Ruling::Refused { refusal: refusal_of(&decision, names_field), policies: decision.determining_policies }
    }

    /// The issuance pipeline for one X.509 certificate:
    /// resolve subject and profile → authorise the submission → decide
    /// (profile rules, then Cedar policy) → either wait for approvals
    /// (recorded as `pending_approval`), or record intent → mint (build,
    /// lint, sign, verify back) → commit request + credential + event in one
    /// transaction → respond. A refusal is recorded as a denied request with
    /// its event, and returned as [`CoreError::Denied`].
    pub async fn issue_x509(&self, ctx: Ctx<'_>, ask: X509Issue) -> Result<Submitted, CoreError> {
        // Built-in profiles with a path of their own: never through a request.
        let reserved = match ask.profile.as_str() {
            crate::operator_certs::OPERATOR_CLIENT_PROFILE => Some("through `POST /v1/operators/{id}/certificates`"),
            crate::server_cert::SERVER_PROFILE => Some("to the server itself, for its own HTTPS endpoint"),
            _ => None,
        };
        if let Some(path) = reserved {
            return Err(CoreError::Invalid(FieldError::new("profile", format!("profile `{}` is issued only {path}", ask.profile))));
        }
        let now = self.clock.now();
        let (subject, profile) = self.resolve(&ask, now).await?;
        let request = self.new_request(ctx, &ask, &subject, &profile, now);

        // Authenticate → authorise: may this caller ask, for this subject?
        if ask.break_glass.is_some() {
            self.authorize(ctx, Action::BreakGlassRequest, &break_glass_resource(&request, &subject)).await?;
        } else {
            self.authorize(ctx, Action::RequestSubmit, &request_resource(&request, &subject, &profile)).await?;
        }
        self.decide_and_issue(ctx, ask, request, &subject, &profile, now).await
    }

    /// The pipeline after authorisation: decide (profile rules, then the
    /// Cedar issuance policy) → deny, wait for approvals, or mint and commit.
    pub(crate) async fn decide_and_issue(
        &self,
        ctx: Ctx<'_>,
        ask: X509Issue,
        request: Request,
        subject: &Subject,
        profile: &Profile,
        now: OffsetDateTime,
    ) -> Result<Submitted, CoreError> {
        let names_field = ask.names_field();
        // Decide.
        let policy = self.active_policy().await?;
        let approvals_for_decision = match ask.break_glass {
            // Break-glass replaces the profile's approvals with two of its own.
            Some(_) => profile.approvals.as_ref().map_or(0, |a| a.required),
            None => 0,
        };
        match self.decide(&policy, &request, subject, profile, &ask.key, names_field, approvals_for_decision, now) {
            Ruling::Refused { refusal, policies } => Err(self.deny(ctx, request, refusal, policies, now).await?),
            Ruling::NeedsApprovals { needed } => {
                let rule = profile.approvals.clone().unwrap_or(ApprovalRule {
                    required: needed,
                    group: String::new(),
                    expires_after_seconds: 86400,
                    fresh_approver_window_seconds: signet_model::profile::DEFAULT_FRESH_APPROVER_WINDOW_SECONDS,
                });
                self.hold_for_approvals(
                    ctx,
                    request,
                    &ask.key,
                    rule.required,
                    Some(&rule.group),
                    Duration::seconds(rule.expires_after_seconds),
                    EventType::RequestPending,
                    None,
                    now,
                )
                .await
            }
            Ruling::Permit { .. } if ask.break_glass.is_some() => {
                let reason = ask.break_glass.as_deref().unwrap_or_default();
                self.hold_for_approvals(
                    ctx,
                    request,
                    &ask.key,
                    BREAK_GLASS_APPROVALS,
                    None,
                    BREAK_GLASS_WINDOW,
                    EventType::BreakGlassRequested,
                    Some(reason),
                    now,
                )
                .await
            }
            Ruling::Permit { grant, policies } => {
                let mut request = request;
                request.state = RequestState::Approved;
                let issued = self.mint_and_commit(ctx, request, &ask.key, grant, policies, &[], now).await?;
                Ok(Submitted::Issued(issued))
            }
        }
    }

    pub(crate) fn new_request(&self, ctx: Ctx<'_>, ask: &X509Issue, subject: &Subject, profile: &Profile, now: OffsetDateTime) -> Request {
        let names = ask.names.clone().unwrap_or_else(|| ask.csr_names.clone());
        let ttl = match ask.break_glass {
            // Time-boxed: never longer than the break-glass maximum.
            Some(_) => Some(ask.ttl_seconds.unwrap_or(profile.default_ttl_seconds).min(BREAK_GLASS_MAX_TTL_SECONDS)),
            None => ask.ttl_seconds,
        };
        Request {
            id: RequestId::generate(now, self.rng.bytes16()),
            subject_id: subject.id.clone(),
            profile: profile.name.clone(),
            profile_version: profile.version,
            credential_type: CredentialType::X509,
            requested_names: names,
            requested_ttl_seconds: ttl,
            requested_scopes: ask.scopes.clone(),
            key_algorithm: Some(ask.key.algorithm),
            key_fingerprint: Some(ask.key.fingerprint.clone()),
            requested_by: ctx.caller.actor.clone(),
            state: RequestState::Submitted,
            break_glass: ask.break_glass.is_some(),
            expires_at: None,
            key_spki: None,
            reason: None,
            credential_id: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// Record a refusal: the request as `denied`, with its event naming the
    /// reason and the policies that decided it.
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
            "policies": policies, "break_glass": request.break_glass }),
        );
        self.committer.write(IssuanceWrite::Outcome(IssuanceOutcome { request, credential: None, event: ev })).await?;
        Ok(CoreError::Denied(refusal))
    }

    /// Keep a request waiting for `required` approvals until `window` has passed.
    #[allow(clippy::too_many_arguments)]
    async fn hold_for_approvals(
        &self,
        ctx: Ctx<'_>,
        mut request: Request,
        key: &BoundKey,
        required: u32,
        group: Option<&str>,
        window: Duration,
        event_type: EventType,
        break_glass_reason: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Submitted, CoreError> {
        request.state = RequestState::PendingApproval;
        request.expires_at = Some(now + window);
        request.key_spki = Some(key.spki_der.clone());
        let mut ev = self.event(ctx, event_type, now);
        ev.subject_id = Some(request.subject_id.clone());
        ev.request_id = Some(request.id.clone());
        ev.reason = break_glass_reason.map(str::to_string);
        ev.details = with_auth(
            ctx.caller,
            serde_json::json!({
                "profile": request.profile, "approvals_required": required, "approval_group": group,
                "expires_at": request.expires_at.map(|t| t.unix_timestamp()),
                "break_glass": request.break_glass,
                "severity": if request.break_glass { "high" } else { "info" },
            }),
        );
        self.committer.write(IssuanceWrite::Outcome(IssuanceOutcome { request: request.clone(), credential: None, event: ev })).await?;
        Ok(Submitted::Pending { request, approvals_required: required })
    }

    /// Record intent → mint (build + lint, sign, verify back) → commit the
    /// credential, the request's final state and the event together.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn mint_and_commit(
        &self,
        ctx: Ctx<'_>,
        mut request: Request,
        key: &BoundKey,
        grant: Grant,
        policies: Vec<String>,
        approvers: &[String],
        now: OffsetDateTime,
    ) -> Result<Issued, CoreError> {
        // Nothing is issued while the log fails verification: it could not be
        // recorded where anyone can check it.
        self.log_integrity.require()?;
        // Record intent before the key is used.
        let serial = Serial::generate(now, self.rng.bytes16());
        self.committer
            .write(IssuanceWrite::Intent(IssuanceIntent {
                serial: serial.clone(),
                request_id: request.id.clone(),
                subject_id: request.subject_id.clone(),
                profile: request.profile.clone(),
                key_fingerprint: key.fingerprint.clone(),
                created_at: now,
            }))
            .await?;

        // Mint: build + lint, sign, verify back (by the issuing CA active now).
        let x509 = self.issuer();
        let der = x509.mint(&grant, key, &serial)?;

        let credential = Credential {
            id: CredentialId::generate(now, self.rng.bytes16()),
            credential_type: CredentialType::X509,
            serial: serial.clone(),
            subject_id: request.subject_id.clone(),
            profile: request.profile.clone(),
            request_id: request.id.clone(),
            issuer_id: x509.issuer_id().clone(),
            key_algorithm: key.algorithm,
            key_fingerprint: key.fingerprint.clone(),
            names: grant.names.clone(),
            not_before: grant.not_before,
            not_after: grant.not_after,
            status: CredentialStatus::Active,
            der,
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
            "type": "x509",
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
            // revoked since the decision: the certificate just minted is
            // dropped unseen (its serial stays recorded as an intent), and
            // the request is recorded as denied.
            Err(CoreError::Denied(refusal)) => {
                request.credential_id = None;
                Err(self.deny(ctx, request, refusal, Vec::new(), now).await?)
            }
            Err(e) => Err(e),
        }
    }

    // ------------------------------------------------------------ reads

    /// A request and what policies need to see it: its subject and profile.
    pub(crate) async fn request_with_context(&self, id: &RequestId) -> Result<(Request, Subject, Profile), CoreError> {
        let request = self.store.get_request(id).await?.ok_or_else(|| CoreError::NotFound { entity: "request", id: id.to_string() })?;
        let subject = self.get_subject_unchecked(&request.subject_id).await?;
        let profile = self
            .store
            .get_profile(&request.profile)
            .await?
            .ok_or_else(|| CoreError::Internal(format!("request `{id}` names a missing profile")))?;
        Ok((request, subject, profile))
    }

    pub async fn get_request(&self, ctx: Ctx<'_>, id: &RequestId) -> Result<Request, CoreError> {
        let (request, subject, profile) = self.request_with_context(id).await?;
        self.authorize(ctx, Action::RequestRead, &request_resource(&request, &subject, &profile)).await?;
        Ok(request)
    }

    /// A subject, read from the store once per listing (`seen` holds those read).
    async fn subject_once<'a>(&self, seen: &'a mut HashMap<SubjectId, Subject>, id: &SubjectId) -> Result<&'a Subject, CoreError> {
        Ok(match seen.entry(id.clone()) {
            std::collections::hash_map::Entry::Occupied(known) => known.into_mut(),
            std::collections::hash_map::Entry::Vacant(new) => new.insert(self.get_subject_unchecked(id).await?),
        })
    }

    /// The requests the caller may read, newest first (see [`crate::listing`]).
    pub async fn list_requests(&self, ctx: Ctx<'_>, filter: &RequestFilter) -> Result<Listing<Request>, CoreError> {
        let mut subjects: HashMap<SubjectId, Subject> = HashMap::new();
        let mut profiles: HashMap<String, Option<Profile>> = HashMap::new();
        let mut page = VisiblePage::new(filter.page.clone());
        while let Some(read) = page.next_read() {
            let rows = self.store.list_requests(&RequestFilter { page: read.clone(), ..filter.clone() }).await?;
            page.read(&read, rows.len());
            for r in rows {
                if !page.wants_more() {
                    break;
                }
                if !profiles.contains_key(&r.profile) {
                    profiles.insert(r.profile.clone(), self.store.get_profile(&r.profile).await?);
                }
                let subject = self.subject_once(&mut subjects, &r.subject_id).await?;
                let visible = match profiles.get(&r.profile) {
                    Some(Some(profile)) => self.permitted(ctx.caller, Action::RequestRead, &request_resource(&r, subject, profile)).await?,
                    _ => false,
                };
                page.offer(r, visible);
            }
        }
        Ok(page.finish())
    }

    fn credential_resource(credential: &Credential, subject: &Subject) -> ResourceCtx {
        ResourceCtx::Credential(CredentialRef {
            id: credential.id.to_string(),
            subject_id: subject.id.to_string(),
            subject_owner: subject.owner.clone(),
            site: subject.site.clone(),
            status: credential.status,
        })
    }

    async fn authorize_credential_read(&self, ctx: Ctx<'_>, credential: Credential) -> Result<Credential, CoreError> {
        let subject = self.get_subject_unchecked(&credential.subject_id).await?;
        self.authorize(ctx, Action::CredentialRead, &Self::credential_resource(&credential, &subject)).await?;
        Ok(credential)
    }

    pub async fn get_credential(&self, ctx: Ctx<'_>, id: &CredentialId) -> Result<Credential, CoreError> {
        let c = self.store.get_credential(id).await?.ok_or_else(|| CoreError::NotFound { entity: "credential", id: id.to_string() })?;
        self.authorize_credential_read(ctx, c).await
    }

    pub async fn get_credential_by_serial(&self, ctx: Ctx<'_>, serial: &Serial) -> Result<Credential, CoreError> {
        let c = self
            .store
            .get_credential_by_serial(serial)
            .await?
            .ok_or_else(|| CoreError::NotFound { entity: "credential", id: serial.to_hex() })?;
        self.authorize_credential_read(ctx, c).await
    }

    /// The credentials the caller may read, newest first (see [`crate::listing`]).
    pub async fn list_credentials(&self, ctx: Ctx<'_>, filter: &CredentialFilter) -> Result<Listing<Credential>, CoreError> {
        let mut subjects: HashMap<SubjectId, Subject> = HashMap::new();
        let mut page = VisiblePage::new(filter.page.clone());
        while let Some(read) = page.next_read() {
            let rows = self.store.list_credentials(&CredentialFilter { page: read.clone(), ..filter.clone() }).await?;
            page.read(&read, rows.len());
            for c in rows {
                if !page.wants_more() {
                    break;
                }
                let subject = self.subject_once(&mut subjects, &c.subject_id).await?;
                let visible = self.permitted(ctx.caller, Action::CredentialRead, &Self::credential_resource(&c, subject)).await?;
                page.offer(c, visible);
            }
        }
        Ok(page.finish())
    }

    /// The log's events: `log.read`.
    pub async fn list_events(&self, ctx: Ctx<'_>, after: i64, limit: u32) -> Result<Vec<Event>, CoreError> {
        self.authorize(ctx, Action::LogRead, &ResourceCtx::Authority).await?;
        self.checked(self.store.list_events(after, limit).await.map_err(CoreError::from)).await
    }
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::FailureWindow;

    #[test]
    fn a_failure_window_logs_a_few_a_second_and_counts_the_rest_into_the_next() {
        let mut w = FailureWindow::default();
        let logged: Vec<Option<u64>> = (0..5).map(|_| w.admit(100, 3)).collect();
        assert_eq!(logged, [Some(0), Some(0), Some(0), None, None]);
        assert!(!w.idle(101), "two refusals are still to be reported");
        // The next second: the first event carries the two suppressed ones.
        assert_eq!(w.admit(101, 3), Some(2));
        assert_eq!(w.admit(101, 3), Some(0));
        assert!(!w.idle(101) && w.idle(102));
    }
}
