//! The authority: every operation a caller can ask for, each read top to
//! bottom as the steps of the issuance pipeline (DESIGN.md).

use crate::cache::TtlCache;
use crate::commit::GroupCommitter;
use crate::error::CoreError;
use crate::issuance::request_resource;
use crate::listing::{Listing, VisiblePage};
use crate::mint::X509Issuer;
use crate::ports::{Clock, CredentialFilter, OperatorToken, Page, RequestFilter, Rng, Store};
use signet_model::FieldError;
use signet_model::credential::Credential;
use signet_model::event::{Event, EventType, NewEvent};
use signet_model::ids::{CredentialId, RequestId, Serial, SubjectId, TokenId};
use signet_model::operator::Operator;
use signet_model::profile::{CredentialType, Profile, ProfileInput};
use signet_model::request::Request;
use signet_model::subject::{Subject, SubjectInput, SubjectStatus};
use signet_policy::{Action, CredentialRef, OperatorCtx, ProfileRef, ResourceCtx, SubjectRef};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use time::OffsetDateTime;

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

pub use crate::issuance::{Ask, Issued, Submitted};

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
    pub(crate) issuers: Arc<crate::rollover::IssuerSet>,
    /// The credential types this authority issues, by name.
    pub(crate) types: crate::credential_type::CredentialTypes,
    /// How rollovers make, load and destroy CA keys, and the overlap.
    pub(crate) rollover: Option<crate::rollover::Rollover>,
    /// One rollover or destruction at a time in this process.
    pub(crate) rotation: tokio::sync::Mutex<()>,
    /// The active issuing CA's id, announced whenever it changes (a rollover
    /// here, or one picked up from another process).
    pub(crate) active_issuer: tokio::sync::watch::Sender<signet_model::ids::AuthorityId>,
    pub(crate) committer: GroupCommitter,
    /// Authenticated tokens, by the token's SHA-256.
    tokens: TtlCache<[u8; 32], KnownToken>,
    /// The policy set in force and when its version was last checked.
    pub(crate) policy: RwLock<Option<(Arc<crate::governance::ActivePolicy>, OffsetDateTime)>>,
    pub(crate) profiles: TtlCache<String, Profile>,
    pub(crate) subjects: TtlCache<SubjectId, Subject>,
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
            issuers: Arc::new(crate::rollover::IssuerSet::new(x509)),
            types: Default::default(),
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
        self.issuers.active()
    }

    /// The issuing CAs, shared with the X.509 credential type.
    pub fn x509_issuers(&self) -> Arc<crate::rollover::IssuerSet> {
        self.issuers.clone()
    }

    /// Issue credentials of `ty` too: profiles of its name may be applied
    /// and asked for. A type of the same name is replaced.
    pub fn with_credential_type(mut self, ty: Arc<dyn crate::credential_type::CredentialType>) -> Self {
        self.types.register(ty);
        self
    }

    /// The credential type named `name`, if this authority has it.
    pub fn credential_type(&self, name: &CredentialType) -> Option<Arc<dyn crate::credential_type::CredentialType>> {
        self.types.get(name).cloned()
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
        let mut spec = input.parse().map_err(CoreError::Invalid)?;
        // The type must be one this authority issues, and accept the profile.
        let ty = self.types.require("credential_type", &spec.credential_type).map_err(CoreError::Invalid)?;
        if input.default_ttl.is_none() {
            spec.default_ttl_seconds = ty.default_ttl_seconds().min(spec.max_ttl_seconds);
        }
        ty.check_profile(&spec).map_err(CoreError::Invalid)?;
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
