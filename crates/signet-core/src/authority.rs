//! The authority: every operation a caller can ask for, each read top to
//! bottom as the steps of the issuance pipeline (DESIGN.md).

use crate::commit::GroupCommitter;
use crate::decide::{X509Ask, decide_x509};
use crate::error::CoreError;
use crate::mint::{BoundKey, X509Issuer};
use crate::ports::{
    Clock, CredentialFilter, IssuanceIntent, IssuanceOutcome, IssuanceWrite, OperatorToken, Page, RequestFilter, Rng, Store,
};
use signet_model::FieldError;
use signet_model::credential::{Credential, CredentialStatus};
use signet_model::event::{Event, EventType, NewEvent};
use signet_model::ids::{CredentialId, RequestId, Serial, SubjectId, TokenId};
use signet_model::names::SanSet;
use signet_model::profile::{CredentialType, Profile, ProfileInput};
use signet_model::request::{Request, RequestState};
use signet_model::subject::{Subject, SubjectInput, SubjectStatus};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use time::{Duration, OffsetDateTime};

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// How the caller appears in events: `token:tok_…` or `system`.
    pub actor: String,
    pub role: String,
}

impl Caller {
    pub fn system() -> Self {
        Self { actor: "system".into(), role: "admin".into() }
    }
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
}

/// A minted certificate and what it was minted for.
#[derive(Debug, Clone)]
pub struct Issued {
    pub request: Request,
    pub credential: Credential,
    /// The index of the log entry that records the issuance.
    pub log_index: i64,
}

/// How long a looked-up token or profile is trusted from memory. Bounds how
/// late another server process sees a profile change or a revoked token.
const CACHE_TTL: Duration = Duration::seconds(2);

/// Prefix of every operator token, so that secret scanners can find leaked ones.
pub const TOKEN_PREFIX: &str = "signet_";

pub struct Authority {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    rng: Arc<dyn Rng>,
    x509: Arc<dyn X509Issuer>,
    committer: GroupCommitter,
    tokens: RwLock<HashMap<[u8; 32], (OperatorToken, OffsetDateTime)>>,
    profiles: RwLock<HashMap<String, (Profile, OffsetDateTime)>>,
    auth_failures: std::sync::Mutex<FailureWindow>,
}

/// Refused authentications are logged, but an unauthenticated client must
/// not be able to grow the log at will: at most [`AUTH_FAILURES_PER_SECOND`]
/// events a second; the rest are counted into the next event.
#[derive(Debug, Default)]
struct FailureWindow {
    second: i64,
    logged: u32,
    suppressed: u64,
}

pub const AUTH_FAILURES_PER_SECOND: u32 = 20;

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority").field("issuer", self.x509.issuer_id()).finish_non_exhaustive()
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
            x509,
            committer,
            tokens: RwLock::default(),
            profiles: RwLock::default(),
            auth_failures: Default::default(),
        }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn issuer(&self) -> &Arc<dyn X509Issuer> {
        &self.x509
    }

    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    fn event(&self, ctx: Ctx<'_>, event_type: EventType, now: OffsetDateTime) -> NewEvent {
        NewEvent {
            event_type,
            actor: ctx.caller.actor.clone(),
            subject_id: None,
            request_id: None,
            credential_id: None,
            reason: None,
            details: serde_json::Value::Null,
            trace_id: ctx.trace_id.map(str::to_string),
            time: now,
        }
    }

    // ------------------------------------------------------------ authenticate

    /// Turn a bearer token into a caller, or refuse. The token is looked up by
    /// its SHA-256; the secret itself is never stored.
    pub async fn authenticate(&self, bearer: &str) -> Result<Caller, CoreError> {
        let refuse = |why: &str| CoreError::Unauthenticated(why.to_string());
        if !bearer.starts_with(TOKEN_PREFIX) || bearer.len() > 256 {
            return Err(refuse("the bearer token is not a Signet operator token"));
        }
        let hash = sha256(bearer.as_bytes());
        let now = self.clock.now();
        let cached = self.tokens.read().ok().and_then(|m| m.get(&hash).filter(|(_, at)| now - *at < CACHE_TTL).map(|(t, _)| t.clone()));
        let token = match cached {
            Some(t) => t,
            None => {
                let t = self.store.find_token(&hash).await?.ok_or_else(|| refuse("unknown operator token"))?;
                if let Ok(mut m) = self.tokens.write() {
                    if m.len() > 10_000 {
                        m.clear();
                    }
                    m.insert(hash, (t.clone(), now));
                }
                t
            }
        };
        if token.revoked {
            return Err(refuse("the operator token has been revoked"));
        }
        if token.expires_at.is_some_and(|exp| exp <= now) {
            return Err(refuse("the operator token has expired"));
        }
        Ok(Caller { actor: format!("token:{}", token.id), role: token.role })
    }

    /// Record a refused authentication (`why`, on `path`) in the log, within
    /// the rate limit. Never fails the caller: the refusal stands either way.
    pub async fn record_auth_failure(&self, why: &str, path: &str, trace_id: Option<&str>) {
        let now = self.clock.now();
        let suppressed = {
            let mut w = match self.auth_failures.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            if w.second != now.unix_timestamp() {
                w.second = now.unix_timestamp();
                w.logged = 0;
            }
            if w.logged >= AUTH_FAILURES_PER_SECOND {
                w.suppressed += 1;
                return;
            }
            w.logged += 1;
            std::mem::take(&mut w.suppressed)
        };
        let anonymous = Caller { actor: "anonymous".into(), role: String::new() };
        let mut ev = self.event(Ctx { caller: &anonymous, trace_id }, EventType::OperatorAuthFailed, now);
        ev.reason = Some(why.to_string());
        ev.details = serde_json::json!({ "path": signet_model::names::shorten(path), "suppressed_before": suppressed });
        if let Err(e) = self.store.record_events(&[ev]).await {
            tracing::warn!(error = %e, "cannot record a refused authentication");
        }
    }

    /// Record that a key was created (other than a CA key, which its authority event records).
    pub async fn record_key_created(
        &self,
        ctx: Ctx<'_>,
        key_ref: &str,
        algorithm: &str,
        purpose: &str,
        public: &str,
    ) -> Result<(), CoreError> {
        let mut ev = self.event(ctx, EventType::KeyCreated, self.clock.now());
        ev.details = serde_json::json!({ "key_ref": key_ref, "algorithm": algorithm, "purpose": purpose, "public_key": public });
        Ok(self.store.record_events(&[ev]).await?)
    }

    /// Create an operator token; returns its record and the secret (shown once).
    pub async fn create_token(
        &self,
        ctx: Ctx<'_>,
        name: &str,
        role: &str,
        ttl: Option<Duration>,
    ) -> Result<(OperatorToken, String), CoreError> {
        let now = self.clock.now();
        let mut secret_bytes = [0u8; 32];
        self.rng.fill(&mut secret_bytes);
        use base64::Engine as _;
        let secret = format!("{TOKEN_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret_bytes));
        let token = OperatorToken {
            id: TokenId::generate(now, self.rng.bytes16()),
            name: name.to_string(),
            secret_hash: sha256(secret.as_bytes()),
            role: role.to_string(),
            created_at: now,
            expires_at: ttl.map(|d| now + d),
            revoked: false,
        };
        let mut ev = self.event(ctx, EventType::TokenCreated, now);
        ev.details = serde_json::json!({ "token_id": token.id, "name": name, "role": role, "expires_at": token.expires_at.map(|t| t.unix_timestamp()) });
        self.store.insert_token(&token, &ev).await?;
        Ok((token, secret))
    }

    // ------------------------------------------------------------ subjects

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
            status: SubjectStatus::Active,
            created_at: now,
            updated_at: now,
        };
        let mut ev = self.event(ctx, EventType::SubjectCreated, now);
        ev.subject_id = Some(subject.id.clone());
        ev.details = serde_json::json!({
            "name": subject.name, "kind": subject.kind, "owner": subject.owner,
            "purpose": subject.purpose, "assurance": subject.assurance,
        });
        self.store.insert_subject(&subject, &ev).await?;
        Ok(subject)
    }

    pub async fn get_subject(&self, id: &SubjectId) -> Result<Subject, CoreError> {
        self.store.get_subject(id).await?.ok_or_else(|| CoreError::NotFound { entity: "subject", id: id.to_string() })
    }

    pub async fn list_subjects(&self, page: Page) -> Result<Vec<Subject>, CoreError> {
        Ok(self.store.list_subjects(page).await?)
    }

    // ------------------------------------------------------------ profiles

    pub async fn apply_profile(&self, ctx: Ctx<'_>, input: &ProfileInput) -> Result<Profile, CoreError> {
        let spec = input.parse().map_err(CoreError::Invalid)?;
        let now = self.clock.now();
        let before = self.store.get_profile(&spec.name).await?;
        let mut ev = self.event(ctx, EventType::ProfileApplied, now);
        ev.details = serde_json::json!({
            "name": spec.name,
            "previous_version": before.as_ref().map(|p| p.version),
        });
        let profile = self.store.put_profile(&spec, now, &ev).await?;
        if let Ok(mut m) = self.profiles.write() {
            m.remove(&profile.name);
        }
        Ok(profile)
    }

    pub async fn get_profile(&self, name: &str) -> Result<Profile, CoreError> {
        self.store.get_profile(name).await?.ok_or_else(|| CoreError::NotFound { entity: "profile", id: name.to_string() })
    }

    pub async fn list_profiles(&self) -> Result<Vec<Profile>, CoreError> {
        Ok(self.store.list_profiles().await?)
    }

    /// A profile for the hot path: from memory if looked up in the last
    /// [`CACHE_TTL`], else from the store.
    async fn profile_for_issuance(&self, name: &str, now: OffsetDateTime) -> Result<Option<Profile>, CoreError> {
        let cached = self.profiles.read().ok().and_then(|m| m.get(name).filter(|(_, at)| now - *at < CACHE_TTL).map(|(p, _)| p.clone()));
        if let Some(p) = cached {
            return Ok(Some(p));
        }
        let p = self.store.get_profile(name).await?;
        if let (Some(p), Ok(mut m)) = (&p, self.profiles.write()) {
            m.insert(p.name.clone(), (p.clone(), now));
        }
        Ok(p)
    }

    // ------------------------------------------------------------ issuance

    /// The issuance pipeline for one X.509 certificate:
    /// resolve subject and profile → decide → record intent → mint (build,
    /// lint, sign, verify back) → commit request + credential + event in one
    /// transaction → respond. A refusal is recorded as a denied request with
    /// its event, and returned as [`CoreError::Denied`].
    pub async fn issue_x509(&self, ctx: Ctx<'_>, ask: X509Issue) -> Result<Issued, CoreError> {
        let now = self.clock.now();

        // Resolve what the request refers to.
        let subject = self
            .store
            .get_subject(&ask.subject_id)
            .await?
            .ok_or_else(|| CoreError::Invalid(FieldError::new("subject", format!("no subject `{}`", ask.subject_id))))?;
        let profile = self.profile_for_issuance(&ask.profile, now).await?.ok_or_else(|| {
            CoreError::Invalid(FieldError::new("profile", format!("no profile `{}`", signet_model::names::shorten(&ask.profile))))
        })?;

        // Decide: the grant is what the profile allows of what was asked.
        let (names, names_field) = match &ask.names {
            Some(n) => (n, "names"),
            None => (&ask.csr_names, "csr.names"),
        };
        let decision = decide_x509(&X509Ask {
            subject: &subject,
            profile: &profile,
            key: &ask.key,
            names,
            names_field,
            ttl_seconds: ask.ttl_seconds,
            now,
            issuer_not_before: self.x509.issuer_not_before(),
            issuer_not_after: self.x509.issuer_not_after(),
        });

        let mut request = Request {
            id: RequestId::generate(now, self.rng.bytes16()),
            subject_id: subject.id.clone(),
            profile: profile.name.clone(),
            profile_version: profile.version,
            credential_type: CredentialType::X509,
            requested_names: names.clone(),
            requested_ttl_seconds: ask.ttl_seconds,
            key_algorithm: Some(ask.key.algorithm),
            key_fingerprint: Some(ask.key.fingerprint.clone()),
            requested_by: ctx.caller.actor.clone(),
            state: RequestState::Submitted,
            reason: None,
            credential_id: None,
            created_at: now,
            updated_at: now,
        };

        let grant = match decision {
            Ok(g) => g,
            Err(refusal) => {
                request.state = RequestState::Denied;
                request.reason = Some(refusal.to_string());
                let mut ev = self.event(ctx, EventType::RequestDenied, now);
                ev.subject_id = Some(subject.id.clone());
                ev.request_id = Some(request.id.clone());
                ev.reason = Some(refusal.to_string());
                ev.details = serde_json::json!({ "profile": profile.name, "profile_version": profile.version, "field": refusal.field });
                self.committer.write(IssuanceWrite::Outcome(IssuanceOutcome { request, credential: None, event: ev })).await?;
                return Err(CoreError::Denied(refusal));
            }
        };
        request.state = RequestState::Approved;

        // Record intent before the key is used.
        let serial = Serial::generate(now, self.rng.bytes16());
        self.committer
            .write(IssuanceWrite::Intent(IssuanceIntent {
                serial: serial.clone(),
                request_id: request.id.clone(),
                subject_id: subject.id.clone(),
                profile: profile.name.clone(),
                key_fingerprint: ask.key.fingerprint.clone(),
                created_at: now,
            }))
            .await?;

        // Mint: build + lint, sign, verify back.
        let der = self.x509.mint(&grant, &ask.key, &serial)?;

        // Commit the credential, the request's final state and the event together.
        let credential = Credential {
            id: CredentialId::generate(now, self.rng.bytes16()),
            credential_type: CredentialType::X509,
            serial: serial.clone(),
            subject_id: subject.id.clone(),
            profile: profile.name.clone(),
            request_id: request.id.clone(),
            issuer_id: self.x509.issuer_id().clone(),
            key_algorithm: ask.key.algorithm,
            key_fingerprint: ask.key.fingerprint.clone(),
            names: grant.names.clone(),
            not_before: grant.not_before,
            not_after: grant.not_after,
            status: CredentialStatus::Active,
            der,
            created_at: now,
        };
        request.state = RequestState::Issued;
        request.credential_id = Some(credential.id.clone());
        let mut ev = self.event(ctx, EventType::CredentialIssued, now);
        ev.subject_id = Some(subject.id.clone());
        ev.request_id = Some(request.id.clone());
        ev.credential_id = Some(credential.id.clone());
        ev.details = serde_json::json!({
            "type": "x509",
            "serial": serial,
            "issuer_id": credential.issuer_id,
            "profile": profile.name,
            "profile_version": profile.version,
            "key_algorithm": credential.key_algorithm,
            "key_fingerprint": credential.key_fingerprint,
            "names": credential.names,
            "not_before": credential.not_before.unix_timestamp(),
            "not_after": credential.not_after.unix_timestamp(),
            "certificate_sha256": hex(&sha256(&credential.der)),
        });
        let outcome = IssuanceOutcome { request, credential: Some(credential), event: ev };
        let log_index = self.committer.write(IssuanceWrite::Outcome(outcome.clone())).await?;
        let log_index = log_index.ok_or_else(|| CoreError::Internal("the issuance was committed without a log index".into()))?;

        let IssuanceOutcome { request, credential, .. } = outcome;
        let credential = credential.ok_or_else(|| CoreError::Internal("issued outcome without a credential".into()))?;
        Ok(Issued { request, credential, log_index })
    }

    // ------------------------------------------------------------ reads

    pub async fn get_request(&self, id: &RequestId) -> Result<Request, CoreError> {
        self.store.get_request(id).await?.ok_or_else(|| CoreError::NotFound { entity: "request", id: id.to_string() })
    }

    pub async fn list_requests(&self, filter: &RequestFilter) -> Result<Vec<Request>, CoreError> {
        Ok(self.store.list_requests(filter).await?)
    }

    pub async fn get_credential(&self, id: &CredentialId) -> Result<Credential, CoreError> {
        self.store.get_credential(id).await?.ok_or_else(|| CoreError::NotFound { entity: "credential", id: id.to_string() })
    }

    pub async fn get_credential_by_serial(&self, serial: &Serial) -> Result<Credential, CoreError> {
        self.store.get_credential_by_serial(serial).await?.ok_or_else(|| CoreError::NotFound { entity: "credential", id: serial.to_hex() })
    }

    pub async fn list_credentials(&self, filter: &CredentialFilter) -> Result<Vec<Credential>, CoreError> {
        Ok(self.store.list_credentials(filter).await?)
    }

    pub async fn list_events(&self, after: i64, limit: u32) -> Result<Vec<Event>, CoreError> {
        Ok(self.store.list_events(after, limit).await?)
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
