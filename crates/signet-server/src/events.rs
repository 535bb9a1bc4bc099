//! The event stream for dashboards: `/v1/events` as Server-Sent Events.
//!
//! The stream reads the store (so it also carries events written by other
//! server processes sharing a PostgreSQL store): it sends every event after
//! the client's position, then polls for new ones.

use crate::AppState;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

/// How often a caught-up stream looks for new events.
const POLL: Duration = Duration::from_millis(250);
/// Events read per store query.
const PAGE: u32 = 500;

struct Cursor {
    state: Arc<AppState>,
    after: i64,
    buffer: std::collections::VecDeque<signet_model::event::Event>,
    /// The authority's [`AppState::stopping`]: the stream ends when it is set.
    stopping: tokio::sync::watch::Receiver<bool>,
}

pub fn sse(state: Arc<AppState>, after: i64) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let stopping = state.stopping.subscribe();
    let cursor = Cursor { state, after, buffer: Default::default(), stopping };
    let events = stream::unfold(cursor, |mut c| async move {
        loop {
            if *c.stopping.borrow() {
                return None;
            }
            if let Some(e) = c.buffer.pop_front() {
                c.after = e.index;
                let data = serde_json::to_string(&e).unwrap_or_default();
                let ev = SseEvent::default().id(e.index.to_string()).event(e.event_type.as_str()).data(data);
                return Some((Ok(ev), c));
            }
            tokio::select! {
                _ = c.stopping.wait_for(|stopping| *stopping) => return None,
                () = refill(&c.state, c.after, &mut c.buffer) => {}
            }
        }
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// The next page of events after `after` into `buffer`, or, when there is
/// none yet, a pause before the next look.
async fn refill(state: &AppState, after: i64, buffer: &mut std::collections::VecDeque<signet_model::event::Event>) {
    // The caller was authorised (`log.read`) when the stream opened.
    match state.authority.store().list_events(after, PAGE).await {
        Ok(page) if !page.is_empty() => buffer.extend(page),
        Ok(_) => tokio::time::sleep(POLL).await,
        Err(e) => {
            tracing::warn!(error = %e, "event stream: cannot read events");
            tokio::time::sleep(POLL * 4).await;
        }
    }
}
