//! The event stream for dashboards: `/v1/events` as Server-Sent Events.
//!
//! The stream reads the store (so it also carries events written by other
//! server processes sharing a PostgreSQL store): it sends every event after
//! the client's position, then polls for new ones.
//!
//! A stream lives as long as its caller may read the log, no longer: at
//! least every [`RECHECK`] (and before any event is delivered after that
//! time, or after a token revocation or operator change in this process)
//! its credential is authenticated again from the store, not from the
//! token cache (so a revocation made by another process counts too), and
//! `log.read` is authorised again for the caller as it is now (its roles
//! and sites). A refusal, or a store that cannot answer, ends the stream.

use crate::AppState;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use signet_core::CoreError;
use signet_core::authority::Caller;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How often a caught-up stream looks for new events.
const POLL: Duration = Duration::from_millis(250);
/// Events read per store query.
const PAGE: u32 = 500;
/// How long a stream delivers on one check of its caller's access.
pub const RECHECK: Duration = Duration::from_millis(500);

/// How the stream's caller authenticated, to authenticate it again.
#[derive(Debug, Clone)]
pub enum StreamCredential {
    /// An operator token, by id.
    Token(signet_model::ids::TokenId),
    /// An operator client certificate (DER), as the TLS handshake verified it.
    Certificate(Arc<Vec<u8>>),
}

impl StreamCredential {
    /// The credential `caller` authenticated with: its token, else the
    /// connection's client certificate. `None` for callers with neither.
    pub fn of(caller: &Caller, certificate: Option<&crate::serve::ClientCertificate>) -> Option<Self> {
        match (&caller.token_id, certificate) {
            (Some(id), _) => Some(Self::Token(id.clone())),
            (None, Some(cert)) if caller.certificate_serial.is_some() => Some(Self::Certificate(cert.0.clone())),
            _ => None,
        }
    }
}

struct Cursor {
    state: Arc<AppState>,
    credential: StreamCredential,
    after: i64,
    buffer: std::collections::VecDeque<signet_model::event::Event>,
    /// The authority's [`AppState::stopping`]: the stream ends when it is set.
    stopping: tokio::sync::watch::Receiver<bool>,
    /// When the caller's access was last confirmed, and the authority's
    /// [`access_changes`](signet_core::Authority::access_changes) then.
    checked: Instant,
    access_changes: u64,
    /// The log failed verification: the stream ends after saying so.
    failed: bool,
}

pub fn sse(state: Arc<AppState>, credential: StreamCredential, after: i64) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let stopping = state.stopping.subscribe();
    let access_changes = state.authority.access_changes();
    let cursor =
        Cursor { state, credential, after, buffer: Default::default(), stopping, checked: Instant::now(), access_changes, failed: false };
    let events = stream::unfold(cursor, |mut c| async move {
        loop {
            if *c.stopping.borrow() || c.failed {
                return None;
            }
            // A revocation or operator change here is seen before the next
            // event; one made by another process within RECHECK.
            let changes = c.state.authority.access_changes();
            if c.checked.elapsed() >= RECHECK || changes != c.access_changes {
                if !may_still_read(&c.state, &c.credential).await {
                    return None;
                }
                c.checked = Instant::now();
                c.access_changes = changes;
            }
            if let Some(e) = c.buffer.pop_front() {
                c.after = e.index;
                let data = serde_json::to_string(&e).unwrap_or_default();
                let ev = SseEvent::default().id(e.index.to_string()).event(e.event_type.as_str()).data(data);
                return Some((Ok(ev), c));
            }
            let refilled = tokio::select! {
                _ = c.stopping.wait_for(|stopping| *stopping) => return None,
                r = refill(&c.state, c.after, &mut c.buffer) => r,
            };
            if let Err(reason) = refilled {
                // A changed entry is never shown: the stream says so and ends.
                c.failed = true;
                let ev = SseEvent::default().event("log-integrity").data(reason);
                return Some((Ok(ev), c));
            }
        }
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// Is the stream's caller still authenticated (from the store) and allowed `log.read`?
async fn may_still_read(state: &AppState, credential: &StreamCredential) -> bool {
    let a = &state.authority;
    let caller = match credential {
        StreamCredential::Token(id) => a.reauthenticate_token(id).await,
        StreamCredential::Certificate(der) => {
            let presented = signet_core::operator_certs::PresentedCertificate {
                der: der.as_slice(),
                serial: signet_x509::certificate::certificate_serial(der),
            };
            a.authenticate_certificate(&presented).await.map(Arc::new)
        }
    };
    let allowed = match caller {
        Ok(caller) => a.permitted(&caller, signet_policy::Action::LogRead, &signet_policy::ResourceCtx::Authority).await,
        Err(e) => Err(e),
    };
    match allowed {
        Ok(true) => true,
        Ok(false) => {
            tracing::info!("event stream ended: its caller may no longer read the log");
            false
        }
        Err(e) => {
            tracing::info!(error = %e, "event stream ended: its caller's access cannot be confirmed");
            false
        }
    }
}

/// The next page of events after `after` into `buffer`, or, when there is
/// none yet, a pause before the next look. `Err`: a log entry failed
/// verification (the integrity alarm is raised).
async fn refill(state: &AppState, after: i64, buffer: &mut std::collections::VecDeque<signet_model::event::Event>) -> Result<(), String> {
    let read = state.authority.store().list_events(after, PAGE).await.map_err(CoreError::from);
    match state.authority.checked(read).await {
        Ok(page) if !page.is_empty() => buffer.extend(page),
        Ok(_) => tokio::time::sleep(POLL).await,
        Err(CoreError::LogIntegrity(reason)) => return Err(reason),
        Err(e) => {
            tracing::warn!(error = %e, "event stream: cannot read events");
            tokio::time::sleep(POLL * 4).await;
        }
    }
    Ok(())
}
