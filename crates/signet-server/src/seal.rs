//! The sealed layer: a router in front of the full one ([`crate::router`]).
//!
//! ```text
//!  request ──▶ seal::router ──┬─ /v1/sys/seal-status  (public)   seal status, progress
//!                             ├─ /v1/sys/unseal       (public)   one share per call; the shares are the credential
//!                             ├─ /v1/sys/seal         (admin)    drop every key from memory
//!                             └─ anything else ──▶ sealed?  ── yes ─▶ /healthz 200, /readyz 503, else 503 `sealed`
//!                                                          └─ no ──▶ crate::router(AppState)  (the full API)
//! ```
//!
//! A keystore made by `signet init` starts sealed: the server listens, with a
//! TLS certificate from the unseal TLS CA ([`bootstrap::sealed_tls`]), and
//! waits. Each share is checked as it arrives ([`Unsealer::add_share`]); a bad
//! one is refused with its reason and leaves the progress as it was. With the
//! m-th share the master key is recombined and checked, the start is finished
//! ([`bootstrap::finish`]: the CAs are created on the first unseal, loaded
//! afterwards), the certificate switches to one from the issuing CA, and the
//! full router takes over, without a restart. `keystore.unsealed` and
//! `keystore.sealed` go to the tamper-evident log; every share submission,
//! accepted or refused, is logged with the client's address.

use crate::AppState;
use crate::bootstrap::{self, BootError};
use crate::config::ServerConfig;
use crate::extract::{self, Authed, JsonBody, RequestIdExt};
use crate::problem::Problem;
use crate::serve::ServerCert;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::middleware;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Deserializer, Serialize};
use signet_core::clock::{SystemClock, SystemRng};
use signet_core::mint::X509Issuer;
use signet_core::ports::{Clock, Rng, Store};
use signet_keys::sealed::{SealError, Unsealer};
use signet_model::FieldError;
use signet_model::event::{EventType, NewEvent};
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use time::OffsetDateTime;
use tokio::task::JoinHandle;
use zeroize::Zeroizing;

/// Starts the background tasks of an unsealed authority (sequencer,
/// certificate renewal, log forwarding); they are aborted when it is sealed.
pub type OnUnseal = Box<dyn Fn(&Arc<AppState>, &Arc<ServerCert>) -> Vec<JoinHandle<()>> + Send + Sync>;

/// The background tasks `signet serve` runs while unsealed.
pub fn standard_tasks(config: ServerConfig) -> OnUnseal {
    Box::new(move |state, cert| {
        let mut tasks = vec![tokio::spawn(bootstrap::run_sequencer(state.clone())), tokio::spawn(bootstrap::run_expiry(state.clone()))];
        if !config.insecure_http {
            tasks.push(tokio::spawn(bootstrap::renew_server_cert(cert.clone(), state.clone(), config.clone())));
        }
        if let Some(events) = config.events.clone() {
            tasks.push(tokio::spawn(bootstrap::run_forwarder(state.clone(), events)));
        }
        tasks
    })
}

#[derive(Clone)]
enum Phase {
    Sealed,
    /// `app` serves the HTTPS listener, `public` the plain-HTTP status listener.
    Unsealed {
        state: Arc<AppState>,
        app: Router,
        public: Router,
    },
}

impl Phase {
    fn unsealed(state: Arc<AppState>) -> Self {
        let crate::Routers { api, public } = crate::routers(state.clone());
        Phase::Unsealed { state, app: api, public }
    }
}

/// One accepted share: which, from where, when. Never the share itself.
#[derive(Debug, Clone, Serialize)]
struct ShareUse {
    index: u8,
    client: Option<String>,
    request_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    time: OffsetDateTime,
}

/// The unseal in progress: shares collected so far (inside the
/// [`Unsealer`], zeroed on drop) and who sent them.
#[derive(Default)]
struct Ceremony {
    unsealer: Option<Unsealer>,
    accepted: Vec<ShareUse>,
    rejected: u32,
    /// Handed to every client whose share was accepted in this unseal (and
    /// to no one else); a reset must present it.
    progress_token: Option<Zeroizing<String>>,
    /// Resets refused for a missing or wrong progress token.
    refused_resets: u32,
}

impl Ceremony {
    fn progress(&self) -> u8 {
        self.unsealer.as_ref().map_or(0, |u| u.progress().have)
    }

    /// Is `presented` this unseal's progress token? (Compared in constant time.)
    fn holds_token(&self, presented: Option<&str>) -> bool {
        match (&self.progress_token, presented) {
            (Some(token), Some(presented)) => {
                aws_lc_rs::constant_time::verify_slices_are_equal(token.as_bytes(), presented.trim().as_bytes()).is_ok()
            }
            _ => false,
        }
    }
}

/// The seal state of a running server, and the router in front of the full one.
pub struct SealGate {
    config: ServerConfig,
    store: Arc<dyn Store>,
    keys: bootstrap::Keys,
    local_unseal: bool,
    clock: Arc<dyn Clock>,
    rng: Arc<dyn Rng>,
    server_cert: Arc<ServerCert>,
    /// The issuer of the certificate presented while sealed (share-sealed keystores only).
    sealed_tls: Option<Arc<dyn X509Issuer>>,
    phase: RwLock<Phase>,
    /// Held for a whole share submission, unseal or seal: one at a time.
    ceremony: tokio::sync::Mutex<Ceremony>,
    /// Background tasks of the current phase.
    tasks: Mutex<Vec<JoinHandle<()>>>,
    on_unseal: OnUnseal,
    sealed_app: Router,
    sealed_public: Router,
}

impl fmt::Debug for SealGate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealGate").field("keys", &self.keys).field("sealed", &self.is_sealed()).finish()
    }
}

/// What `signet serve` prints at start.
pub struct Launched {
    pub gate: Arc<SealGate>,
    pub server_cert: Arc<ServerCert>,
    pub database: String,
    pub local_unseal: bool,
    /// Where the bootstrap admin token was written, when this start created it.
    pub admin_token_path: Option<PathBuf>,
    /// Sealed at start: the CA file that verifies the certificate presented
    /// while sealed, and its SHA-256 fingerprint.
    pub sealed_tls: Option<(PathBuf, String)>,
}

impl SealGate {
    /// Open the store and keystore and start: unsealed at once in the quick
    /// start, otherwise sealed and waiting for shares.
    pub async fn launch(config: ServerConfig, on_unseal: OnUnseal) -> Result<Launched, BootError> {
        let opened = bootstrap::open(&config).await?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let rng: Arc<dyn Rng> = Arc::new(SystemRng);
        let sealed_app = sealed_router(rng.clone());
        let sealed_public = sealed_public_router(rng.clone());
        if !opened.keys.is_sealed() {
            let unsealed = bootstrap::finish(&config, opened.store.clone(), &opened.keys).await?;
            let server_cert = Arc::new(ServerCert::new(&unsealed.identity.chain_der, &unsealed.identity.key_pkcs8_der).map_err(BootError)?);
            bootstrap::trust_operator_clients(&server_cert, &unsealed.state)?;
            let gate = Arc::new(Self {
                phase: RwLock::new(Phase::unsealed(unsealed.state.clone())),
                config,
                store: opened.store,
                keys: opened.keys,
                local_unseal: opened.local_unseal,
                clock,
                rng,
                server_cert: server_cert.clone(),
                sealed_tls: None,
                ceremony: Default::default(),
                tasks: Mutex::new(Vec::new()),
                on_unseal,
                sealed_app,
                sealed_public,
            });
            gate.replace_tasks((gate.on_unseal)(&unsealed.state, &server_cert));
            return Ok(Launched {
                gate,
                server_cert,
                database: opened.database,
                local_unseal: opened.local_unseal,
                admin_token_path: unsealed.admin_token_path,
                sealed_tls: None,
            });
        }

        if config.insecure_http {
            return Err(BootError(
                "the keystore is sealed with Shamir shares, and shares are sent over TLS only: `insecure_http` is refused for it".into(),
            ));
        }
        let tls = bootstrap::sealed_tls(&config, rng.as_ref(), clock.now())?;
        let identity = bootstrap::sealed_server_identity(tls.issuer.as_ref(), &config, rng.as_ref(), clock.now())?;
        let server_cert = Arc::new(ServerCert::new(&identity.chain_der, &identity.key_pkcs8_der).map_err(BootError)?);
        let gate = Arc::new(Self {
            phase: RwLock::new(Phase::Sealed),
            config,
            store: opened.store,
            keys: opened.keys,
            local_unseal: false,
            clock,
            rng,
            server_cert: server_cert.clone(),
            sealed_tls: Some(tls.issuer),
            ceremony: Default::default(),
            tasks: Mutex::new(Vec::new()),
            on_unseal,
            sealed_app,
            sealed_public,
        });
        gate.replace_tasks(vec![gate.spawn_sealed_renewal()]);
        let (seal_id, (n, m)) =
            gate.keys.seal_config().map(|c| (c.seal_id_hex(), c.share_scheme().unwrap_or_default())).unwrap_or_default();
        tracing::warn!(
            seal_id = %seal_id, shares = n, threshold = m, unseal_ca = %tls.ca_pem_path.display(), unseal_ca_sha256 = %tls.ca_sha256,
            "the keystore is sealed: only /healthz, /readyz and /v1/sys/* answer until {m} of {n} shares are given with `signet unseal`"
        );
        Ok(Launched {
            gate,
            server_cert,
            database: opened.database,
            local_unseal: false,
            admin_token_path: None,
            sealed_tls: Some((tls.ca_pem_path, tls.ca_sha256)),
        })
    }

    /// At shutdown: stop the background tasks and drop every key from memory.
    pub fn shutdown(&self) {
        if let Some(state) = self.state() {
            state.stop_streams();
        }
        self.replace_tasks(Vec::new());
        self.keys.seal();
    }

    pub fn is_sealed(&self) -> bool {
        matches!(*self.phase.read().unwrap_or_else(PoisonError::into_inner), Phase::Sealed)
    }

    /// The running authority, when unsealed.
    pub fn state(&self) -> Option<Arc<AppState>> {
        match &*self.phase.read().unwrap_or_else(PoisonError::into_inner) {
            Phase::Sealed => None,
            Phase::Unsealed { state, .. } => Some(state.clone()),
        }
    }

    fn app(&self) -> Router {
        match &*self.phase.read().unwrap_or_else(PoisonError::into_inner) {
            Phase::Sealed => self.sealed_app.clone(),
            Phase::Unsealed { app, .. } => app.clone(),
        }
    }

    fn public_app(&self) -> Router {
        match &*self.phase.read().unwrap_or_else(PoisonError::into_inner) {
            Phase::Sealed => self.sealed_public.clone(),
            Phase::Unsealed { public, .. } => public.clone(),
        }
    }

    fn replace_tasks(&self, new: Vec<JoinHandle<()>>) {
        let mut tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        for t in tasks.drain(..) {
            t.abort();
        }
        *tasks = new;
    }

    /// While sealed, renew the sealed certificate every half of its lifetime.
    fn spawn_sealed_renewal(&self) -> JoinHandle<()> {
        let (issuer, cert, config, rng, clock) =
            (self.sealed_tls.clone(), self.server_cert.clone(), self.config.clone(), self.rng.clone(), self.clock.clone());
        tokio::spawn(async move {
            let Some(issuer) = issuer else { return };
            let period = bootstrap::renewal_period(&config);
            loop {
                tokio::time::sleep(period).await;
                match bootstrap::sealed_server_identity(issuer.as_ref(), &config, rng.as_ref(), clock.now()) {
                    Ok(id) => {
                        if let Err(e) = cert.replace(&id.chain_der, &id.key_pkcs8_der) {
                            tracing::error!(error = %e, "cannot install the renewed sealed TLS certificate");
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "cannot renew the sealed TLS certificate"),
                }
            }
        })
    }

    /// `GET /v1/sys/seal-status`.
    pub async fn status(&self) -> SealStatus {
        let ceremony = self.ceremony.lock().await;
        self.status_of(&ceremony)
    }

    fn status_of(&self, ceremony: &Ceremony) -> SealStatus {
        let Some(seal) = self.keys.seal_config() else {
            // A PKCS#11 token: logged in at start, never sealed by Signet.
            return SealStatus { sealed: false, unseal: "pkcs11", shares: None, threshold: None, progress: 0, seal_id: String::new() };
        };
        let scheme = seal.share_scheme();
        let sealed = self.is_sealed();
        SealStatus {
            sealed,
            unseal: if scheme.is_some() { "shares" } else { "local-key-file" },
            shares: scheme.map(|(n, _)| n),
            threshold: scheme.map(|(_, m)| m),
            progress: if sealed { ceremony.progress() } else { 0 },
            seal_id: seal.seal_id_hex(),
        }
    }

    /// Discard the shares submitted so far: only for a client that presents
    /// this unseal's progress token, which only the clients whose share was
    /// accepted received. Anyone can reach this endpoint; without the token
    /// a reset is refused (403), logged and counted, and the progress kept.
    async fn reset(&self, who: &Peer, progress_token: Option<&str>) -> Result<SealStatus, Problem> {
        let mut ceremony = self.ceremony.lock().await;
        let had = ceremony.progress();
        if had == 0 {
            // Nothing to discard: no token exists yet, none is needed.
            return Ok(self.status_of(&ceremony));
        }
        if !ceremony.holds_token(progress_token) {
            ceremony.refused_resets = ceremony.refused_resets.saturating_add(1);
            tracing::warn!(
                client = %who.client_text(), have = had, presented = progress_token.is_some(), refused_resets = ceremony.refused_resets,
                "unseal reset refused: no valid progress token; the shares submitted so far are kept"
            );
            return Err(Problem::with_field(
                StatusCode::FORBIDDEN,
                "reset-refused",
                "unseal reset refused",
                &FieldError::new(
                    "progress_token",
                    "a reset needs the `progress_token` answered to an accepted share of this unseal; the shares given so far are kept",
                ),
            ));
        }
        *ceremony = Ceremony { refused_resets: ceremony.refused_resets, ..Ceremony::default() };
        tracing::warn!(client = %who.client_text(), discarded = had, "unseal reset: the shares submitted so far were discarded");
        Ok(self.status_of(&ceremony))
    }

    /// Check one share; with the threshold reached, unseal and finish the
    /// start. An accepted share short of the threshold is answered with the
    /// unseal's progress token.
    async fn submit(&self, share: &str, who: &Peer) -> Result<UnsealAnswer, Problem> {
        let mut ceremony = self.ceremony.lock().await;
        if !self.is_sealed() {
            tracing::info!(client = %who.client_text(), "unseal share submitted to an unsealed authority; not used");
            return Ok(UnsealAnswer { status: self.status_of(&ceremony), progress_token: None });
        }
        let c = &mut *ceremony;
        let unsealer = match c.unsealer.as_mut() {
            Some(u) => u,
            None => {
                let seal = self.keys.seal_config().ok_or_else(Problem::internal)?;
                c.unsealer.insert(Unsealer::new(seal).map_err(|e| seal_problem(&e))?)
            }
        };
        let before = unsealer.progress();
        let progress = match unsealer.add_share(share) {
            Ok(p) => p,
            Err(e) => {
                c.rejected = c.rejected.saturating_add(1);
                tracing::warn!(client = %who.client_text(), reason = %e, have = before.have, need = before.need, "unseal share refused");
                return Err(seal_problem(&e));
            }
        };
        // INVARIANT: add_share accepted it, so the third field is a valid index.
        let index = share.trim().split(':').nth(2).and_then(|i| i.parse::<u8>().ok()).unwrap_or(0);
        if progress.have == before.have {
            c.rejected = c.rejected.saturating_add(1);
            tracing::warn!(client = %who.client_text(), share_index = index, have = progress.have, need = progress.need, "unseal share refused: already submitted");
            return Err(Problem::with_field(
                StatusCode::BAD_REQUEST,
                "duplicate-share",
                "share already submitted",
                &FieldError::new("share", format!("share {index} was already submitted in this unseal; progress is unchanged")),
            ));
        }
        tracing::warn!(client = %who.client_text(), share_index = index, have = progress.have, need = progress.need, "unseal share accepted");
        c.accepted.push(ShareUse {
            index,
            client: who.client.map(|a| a.to_string()),
            request_id: who.request_id.clone(),
            time: self.clock.now(),
        });
        if !progress.is_complete() {
            let rng = self.rng.clone();
            let token =
                c.progress_token.get_or_insert_with(|| Zeroizing::new(format!("unseal_{}", signet_core::authority::hex(&rng.bytes16()))));
            let progress_token = Some(token.to_string());
            return Ok(UnsealAnswer { status: self.status_of(c), progress_token });
        }

        // The threshold is reached: whatever happens next, this round is over.
        let round = std::mem::take(c);
        let started = std::time::Instant::now();
        let master = round.unsealer.as_ref().map(Unsealer::unseal).transpose().map_err(|e| {
            tracing::error!(error = %e, "unseal failed: the shares do not recombine to this authority's master key; still sealed");
            seal_problem(&e)
        })?;
        let Some(master) = master else { return Err(Problem::internal()) };
        self.keys.sealed().ok_or_else(Problem::internal)?.unseal(master).map_err(|e| seal_problem(&e))?;
        let unsealed = match bootstrap::finish(&self.config, self.store.clone(), &self.keys).await {
            Ok(u) => u,
            Err(e) => {
                self.keys.seal();
                tracing::error!(error = %e, "unseal failed: the shares are valid but the authority cannot start; still sealed");
                return Err(Problem::new(
                    StatusCode::CONFLICT,
                    "unseal-failed",
                    "the authority cannot start",
                    format!(
                        "the shares are valid but the authority cannot start: {e}; the keystore stays sealed and the shares were discarded"
                    ),
                ));
            }
        };
        if let Err(e) = self.server_cert.replace(&unsealed.identity.chain_der, &unsealed.identity.key_pkcs8_der) {
            // The sealed certificate stays in place; the renewal task replaces it.
            tracing::error!(error = %e, "cannot install the server's TLS certificate after unsealing");
        }
        if let Err(e) = bootstrap::trust_operator_clients(&self.server_cert, &unsealed.state) {
            tracing::error!(error = %e, "cannot trust operator client certificates after unsealing; tokens still work");
        }
        let state = unsealed.state;
        *self.phase.write().unwrap_or_else(PoisonError::into_inner) = Phase::unsealed(state.clone());
        self.replace_tasks((self.on_unseal)(&state, &self.server_cert));
        let millis = started.elapsed().as_millis();
        tracing::warn!(client = %who.client_text(), millis = millis as u64, "the keystore is unsealed: serving the full API");
        if let Some(path) = &unsealed.admin_token_path {
            tracing::warn!(path = %path.display(), "first unseal: the authority was created and the bootstrap admin token written");
        }
        let seal = self.keys.seal_config();
        let event = self.event(
            EventType::KeystoreUnsealed,
            "share-holders",
            who,
            serde_json::json!({
                "seal_id": seal.map(|s| s.seal_id_hex()),
                "threshold": seal.and_then(|s| s.share_scheme()).map(|(_, m)| m),
                "shares_used": round.accepted.iter().map(|u| u.index).collect::<Vec<_>>(),
                "submissions": round.accepted,
                "rejected_attempts": round.rejected,
                "refused_resets": round.refused_resets,
            }),
        );
        if let Err(e) = self.store.record_events(&[event]).await {
            tracing::error!(error = %e, "cannot record the keystore.unsealed event");
        }
        Ok(UnsealAnswer { status: self.status_of(&Ceremony::default()), progress_token: None })
    }

    /// Drop the master key and every loaded key; back to the sealed state.
    async fn seal(&self, caller: &signet_core::authority::Caller, who: &Peer) -> Result<SealStatus, Problem> {
        if self.keys.sealed().is_none() {
            return Err(Problem::new(
                StatusCode::CONFLICT,
                "pkcs11",
                "cannot seal keys held by a PKCS#11 token",
                "the authority's keys are in a PKCS#11 token, which guards them itself; stop the server, or log out of the token",
            ));
        }
        if self.local_unseal {
            return Err(Problem::new(
                StatusCode::CONFLICT,
                "local-unseal",
                "cannot seal a locally unsealed authority",
                "this authority unseals itself from its local unseal key file (DATA/unseal-key) at every start, so sealing it would \
                 protect nothing; stop the server instead, or use `signet init` for an authority unsealed with Shamir shares",
            ));
        }
        let mut ceremony = self.ceremony.lock().await;
        let was = std::mem::replace(&mut *self.phase.write().unwrap_or_else(PoisonError::into_inner), Phase::Sealed);
        if matches!(was, Phase::Sealed) {
            return Ok(self.status_of(&ceremony));
        }
        *ceremony = Ceremony::default();
        // End the event streams opened while unsealed, stop the tasks that
        // sign (sequencer, renewal), then drop the keys.
        if let Phase::Unsealed { state, .. } = &was {
            state.stop_streams();
        }
        self.replace_tasks(Vec::new());
        self.keys.seal();
        drop(was);
        if let Some(issuer) = &self.sealed_tls {
            match bootstrap::sealed_server_identity(issuer.as_ref(), &self.config, self.rng.as_ref(), self.clock.now()) {
                Ok(id) => {
                    if let Err(e) = self.server_cert.replace(&id.chain_der, &id.key_pkcs8_der) {
                        tracing::error!(error = %e, "cannot install the sealed TLS certificate");
                    }
                }
                Err(e) => tracing::error!(error = %e, "cannot issue the sealed TLS certificate"),
            }
        }
        self.replace_tasks(vec![self.spawn_sealed_renewal()]);
        tracing::warn!(actor = %caller.actor, client = %who.client_text(), "the keystore was sealed: every key was dropped from memory");
        let event = self.event(
            EventType::KeystoreSealed,
            &caller.actor,
            who,
            serde_json::json!({ "seal_id": self.keys.seal_config().map(|s| s.seal_id_hex()) }),
        );
        if let Err(e) = self.store.record_events(&[event]).await {
            tracing::error!(error = %e, "cannot record the keystore.sealed event");
        }
        Ok(self.status_of(&ceremony))
    }

    fn event(&self, event_type: EventType, actor: &str, who: &Peer, mut details: serde_json::Value) -> NewEvent {
        if let Some(obj) = details.as_object_mut() {
            obj.insert("client".into(), who.client.map(|a| a.to_string()).into());
        }
        NewEvent {
            event_type,
            actor: actor.to_string(),
            subject_id: None,
            request_id: None,
            credential_id: None,
            reason: None,
            details,
            trace_id: who.request_id.clone(),
            time: self.clock.now(),
        }
    }
}

/// `GET /v1/sys/seal-status` (and the answer of the other sys endpoints).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SealStatus {
    pub sealed: bool,
    /// `shares` (Shamir, `signet init`) or `local-key-file` (the quick start).
    pub unseal: &'static str,
    /// n: how many shares exist (share-sealed only).
    pub shares: Option<u8>,
    /// m: how many unseal.
    pub threshold: Option<u8>,
    /// Distinct valid shares submitted so far in this unseal.
    pub progress: u8,
    /// The authority's seal id (printed on every share).
    pub seal_id: String,
}

/// The answer of `POST /v1/sys/unseal`: the status, and after an accepted
/// share short of the threshold, the unseal's progress token.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UnsealAnswer {
    #[serde(flatten)]
    pub status: SealStatus,
    /// Given to each client whose share was accepted in this unseal: the
    /// only way to reset it (`{"reset": true, "progress_token": …}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress_token: Option<String>,
}

/// A share's text, zeroed on drop, never printed.
pub struct ShareText(Zeroizing<String>);

impl fmt::Debug for ShareText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ShareText([redacted])")
    }
}

impl<'de> Deserialize<'de> for ShareText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|s| ShareText(Zeroizing::new(s)))
    }
}

/// `POST /v1/sys/unseal`: `{"share": "signet-share-1:…"}` or `{"reset": true}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnsealBody {
    /// One unseal share, as `signet init` gave it.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    share: Option<ShareText>,
    /// Discard the shares given so far (instead of giving one).
    #[serde(default)]
    reset: bool,
    /// With `reset`: the token answered to an accepted share of this unseal
    /// (kept like a share: zeroed on drop, never printed).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    progress_token: Option<ShareText>,
}

/// Who called: the client's address and this request's id.
#[derive(Debug, Clone, Default)]
pub struct Peer {
    client: Option<SocketAddr>,
    request_id: Option<String>,
}

impl Peer {
    fn client_text(&self) -> String {
        self.client.map_or_else(|| "unknown".to_string(), |a| a.to_string())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Peer {
            client: parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0),
            request_id: parts.extensions.get::<RequestIdExt>().map(|r| r.0.clone()),
        })
    }
}

fn seal_problem(e: &SealError) -> Problem {
    let (status, kind, title) = match e {
        SealError::Malformed(_) => (StatusCode::BAD_REQUEST, "invalid-share", "not a valid unseal share"),
        SealError::WrongAuthority { .. } => (StatusCode::BAD_REQUEST, "wrong-authority", "share of another authority"),
        SealError::CorruptShare { .. } => (StatusCode::BAD_REQUEST, "corrupt-share", "corrupt unseal share"),
        SealError::KeyCheckFailed => (StatusCode::BAD_REQUEST, "key-check-failed", "the shares do not unseal this authority"),
        SealError::TooFewShares { .. } => (StatusCode::BAD_REQUEST, "too-few-shares", "not enough unseal shares"),
        SealError::NotShareSealed => (StatusCode::CONFLICT, "local-unseal", "not sealed with shares"),
        SealError::InvalidScheme(_) | SealError::Config(_) | SealError::LocalKey(_) | SealError::Crypto(_) => {
            tracing::error!(error = %e, "seal failure");
            return Problem::internal();
        }
    };
    Problem::with_field(status, kind, title, &FieldError::new("share", e.to_string()))
}

/// 503 for everything but health while sealed.
pub fn sealed_problem() -> Problem {
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "sealed",
        "the keystore is sealed",
        "the authority's keys are sealed: only /healthz, /readyz and /v1/sys/* answer until it is unsealed (`signet unseal`)",
    )
}

/// The router in front of everything: the sys endpoints, then the full
/// router when unsealed or the sealed answers when not.
pub fn router(gate: Arc<SealGate>) -> Router {
    let rng = gate.rng.clone();
    let dispatch_gate = gate.clone();
    Router::new()
        .route("/v1/sys/seal-status", get(seal_status))
        .route("/v1/sys/unseal", post(unseal))
        .route("/v1/sys/seal", post(seal))
        .method_not_allowed_fallback(crate::method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(extract::MAX_BODY))
        .layer(middleware::from_fn_with_state(rng, crate::request_context))
        .with_state(gate)
        // Set after the layers, so the full router's own request context is the only one.
        .fallback(move |req: Request| dispatch(dispatch_gate.app(), req))
}

/// Hand `req` to the router of the current phase.
async fn dispatch(app: Router, req: Request) -> Response {
    match tower::ServiceExt::oneshot(app, req).await {
        Ok(resp) => resp,
        Err(never) => match never {},
    }
}

/// What the plain-HTTP status listener (`status_listen`) serves: the
/// authority's public routes ([`crate::Routers::public`]) when unsealed;
/// while sealed, `/healthz`, an unsigned OCSP `tryLater` (RFC 6960: what an
/// OCSP client expects from a responder that cannot answer for now) and
/// 503 `sealed` for the rest. No sys endpoint: shares and seal go over HTTPS.
pub fn status_router(gate: Arc<SealGate>) -> Router {
    Router::new().fallback(move |req: Request| dispatch(gate.public_app(), req))
}

fn sealed_public_router(rng: Arc<dyn Rng>) -> Router {
    let try_later = || async {
        let der = signet_x509::ocsp::unsuccessful_response(signet_x509::ocsp::UnsuccessfulStatus::TryLater);
        ([(axum::http::header::CONTENT_TYPE, crate::status::OCSP_RESPONSE)], der)
    };
    Router::new()
        .route("/healthz", get(crate::healthz))
        .route("/readyz", get(|| async { sealed_problem() }))
        .route("/ocsp", post(try_later))
        .route("/ocsp/{*request}", get(try_later))
        .fallback(|| async { sealed_problem() })
        .layer(middleware::from_fn_with_state(rng, crate::request_context))
}

/// What a sealed server answers besides the sys endpoints.
fn sealed_router(rng: Arc<dyn Rng>) -> Router {
    Router::new()
        .route("/healthz", get(crate::healthz))
        .route("/readyz", get(|| async { sealed_problem() }))
        .fallback(|| async { sealed_problem() })
        .layer(middleware::from_fn_with_state(rng, crate::request_context))
}

/// Is the keystore sealed, and how far is the unseal?
#[utoipa::path(get, path = "/v1/sys/seal-status", tag = "sys", responses((status = 200, body = SealStatus)))]
pub async fn seal_status(State(gate): State<Arc<SealGate>>) -> Json<SealStatus> {
    Json(gate.status().await)
}

/// Give one unseal share (no token: the shares are the credential), or reset.
#[utoipa::path(post, path = "/v1/sys/unseal", tag = "sys", request_body = UnsealBody,
    responses((status = 200, body = UnsealAnswer), (status = 400, body = Problem), (status = 403, body = Problem), (status = 409, body = Problem)))]
pub async fn unseal(
    State(gate): State<Arc<SealGate>>,
    who: Peer,
    JsonBody(body): JsonBody<UnsealBody>,
) -> Result<Json<UnsealAnswer>, Problem> {
    match (body.share, body.reset) {
        (None, true) => {
            let token = body.progress_token.as_ref().map(|t| t.0.as_str());
            let status = gate.reset(&who, token).await?;
            Ok(Json(UnsealAnswer { status, progress_token: None }))
        }
        (Some(_), true) => Err(Problem::invalid(&FieldError::new("reset", "give either `share` or `reset`, not both"))),
        (None, false) => Err(Problem::invalid(&FieldError::new(
            "share",
            "a share is required (or `\"reset\": true` with the `progress_token` to discard the shares given so far)",
        ))),
        (Some(_), false) if body.progress_token.is_some() => {
            Err(Problem::invalid(&FieldError::new("progress_token", "`progress_token` goes with `reset` only")))
        }
        (Some(share), false) => gate.submit(&share.0, &who).await.map(Json),
    }
}

/// Seal: drop every key from memory; the server answers 503 `sealed` until unsealed.
#[utoipa::path(post, path = "/v1/sys/seal", tag = "sys",
    responses((status = 200, body = SealStatus), (status = 401, body = Problem), (status = 403, body = Problem), (status = 409, body = Problem), (status = 503, body = Problem)),
    security(("bearer" = [])))]
pub async fn seal(State(gate): State<Arc<SealGate>>, who: Peer, mut parts: Parts) -> Result<Json<SealStatus>, Problem> {
    let Some(state) = gate.state() else { return Err(sealed_problem()) };
    let Authed(caller) = Authed::from_request_parts(&mut parts, &state).await?;
    let trace = parts.extensions.get::<crate::extract::RequestIdExt>().map(|r| r.0.clone());
    let ctx = signet_core::authority::Ctx { caller: &caller, trace_id: trace.as_deref() };
    state.authority.authorize(ctx, signet_policy::Action::KeystoreSeal, &signet_policy::ResourceCtx::Authority).await?;
    gate.seal(&caller, &who).await.map(Json)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: failing loudly is the point
    use super::*;
    use axum::body::Body;

    async fn call(app: &Router, method: &str, uri: &str) -> (StatusCode, Option<String>, Vec<u8>) {
        let req = Request::builder().method(method).uri(uri).body(Body::from(vec![0x30, 0x00])).unwrap();
        let resp = tower::ServiceExt::oneshot(app.clone(), req).await.unwrap();
        let content_type = resp.headers().get(axum::http::header::CONTENT_TYPE).map(|v| v.to_str().unwrap().to_string());
        let status = resp.status();
        (status, content_type, axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap().to_vec())
    }

    #[tokio::test]
    async fn a_sealed_status_listener_answers_ocsp_with_try_later_and_nothing_else() {
        let app = sealed_public_router(Arc::new(SystemRng));
        // OCSPResponse { responseStatus tryLater (3) }: unsigned, as RFC 6960 allows.
        let try_later = vec![0x30, 0x03, 0x0a, 0x01, 0x03];
        for (method, uri) in [("POST", "/ocsp"), ("GET", "/ocsp/MAMwAQ%3D%3D")] {
            let (status, content_type, body) = call(&app, method, uri).await;
            assert_eq!((status, content_type.as_deref()), (StatusCode::OK, Some(crate::status::OCSP_RESPONSE)), "{method} {uri}");
            assert_eq!(body, try_later, "{method} {uri}");
        }
        assert_eq!(call(&app, "GET", "/healthz").await.0, StatusCode::OK);
        for uri in ["/readyz", "/crl", "/ca.pem", "/v1/sys/seal-status", "/v1/subjects"] {
            let (status, content_type, _) = call(&app, "GET", uri).await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{uri}");
            assert_eq!(content_type.as_deref(), Some(crate::problem::PROBLEM_JSON), "{uri}");
        }
    }
}
