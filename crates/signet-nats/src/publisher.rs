//! [`Publisher`]: JetStream publish-with-ack and stream management over one NATS connection,
//! reconnecting on the next call after the connection is lost.

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::connection::Connection;
use crate::error::NatsError;
use crate::jetstream::{self, DeleteReply, ERR_STREAM_NAME_IN_USE, ERR_STREAM_NOT_FOUND, PubAck, StreamInfo};
use crate::names::{MsgId, StreamName, Subject, SubjectFilter};
use crate::url::NatsUrl;

/// First wait after a failed reconnect.
pub const RECONNECT_DELAY_MIN: Duration = Duration::from_millis(100);
/// Longest wait between reconnect attempts (the delay doubles up to this).
pub const RECONNECT_DELAY_MAX: Duration = Duration::from_secs(5);

/// Publishes to JetStream and waits for each message's PubAck.
///
/// Cheap to share (`Arc<Publisher>`): any number of [`publish`](Self::publish) calls may run
/// concurrently on the one connection; their acks are matched by reply subject.
///
/// **Connection loss.** Requests in flight fail with [`NatsError::ConnectionLost`]; the next
/// call reconnects, waiting between failed attempts ([`RECONNECT_DELAY_MIN`] doubling up to
/// [`RECONNECT_DELAY_MAX`]) within its own timeout. Nothing is buffered or retried here: the
/// caller resumes from its last acknowledged message, and the `Nats-Msg-Id` lets JetStream drop
/// the re-sends it already stored. A request that times out also closes the connection (a
/// silently dead TCP peer looks exactly like that), so the next call starts afresh.
pub struct Publisher {
    url: NatsUrl,
    timeout: Duration,
    link: Mutex<Link>,
}

/// The current connection and the reconnect backoff.
struct Link {
    connection: Option<Arc<Connection>>,
    delay: Duration,
    not_before: Option<Instant>,
    last_error: Option<NatsError>,
}

impl Link {
    fn connected(connection: Arc<Connection>) -> Self {
        Self { connection: Some(connection), delay: RECONNECT_DELAY_MIN, not_before: None, last_error: None }
    }

    fn attempt_failed(&mut self, error: NatsError) {
        self.not_before = Some(Instant::now() + self.delay);
        self.delay = (self.delay * 2).min(RECONNECT_DELAY_MAX);
        self.last_error = Some(error);
    }
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher").field("url", &self.url).field("timeout", &self.timeout).finish_non_exhaustive()
    }
}

impl Publisher {
    /// Connects to `url` (`nats://[user:password@]host[:port]`). `timeout` bounds this
    /// connect and, later, each call (reconnect included). Fails at once, without retrying,
    /// if the server cannot be reached: a misconfiguration shows at startup.
    pub async fn connect(url: &str, timeout: Duration) -> Result<Self, NatsError> {
        let url = NatsUrl::parse(url)?;
        let connection = Connection::open(&url, timeout).await?;
        tracing::info!(%url, "connected to nats");
        Ok(Self { url, timeout, link: Mutex::new(Link::connected(Arc::new(connection))) })
    }

    /// The server URL (its `Display` redacts the password).
    pub fn url(&self) -> &NatsUrl {
        &self.url
    }

    /// Publishes `payload` to `subject` with header `Nats-Msg-Id: <msg_id>` and returns
    /// JetStream's ack. Re-publishing a `msg_id` within the stream's duplicate window (2 min by
    /// default) returns an ack with `duplicate: true` and stores nothing.
    ///
    /// Errors: [`NatsError::NoResponders`] if no stream captures `subject`;
    /// [`NatsError::JetStream`] if the stream refuses the message; connection errors and
    /// [`NatsError::Timeout`] otherwise.
    pub async fn publish(&self, subject: &str, msg_id: &str, payload: &[u8]) -> Result<PubAck, NatsError> {
        let subject = Subject::parse(subject)?;
        let msg_id = MsgId::parse(msg_id)?;
        let reply = self.request(&subject, Some(&msg_id), payload).await?;
        jetstream::parse_reply(&reply)
    }

    /// Makes sure stream `name` exists with these `subjects` and file storage.
    ///
    /// Asks `$JS.API.STREAM.INFO.<name>` first: an existing stream with the same subjects (any
    /// order) and storage is success, whatever its other settings; one with different subjects
    /// or storage is [`NatsError::StreamConfigMismatch`] (we do not change a stream operators
    /// may rely on). A missing stream is created with `$JS.API.STREAM.CREATE.<name>`; if
    /// another client created it in between, the comparison is made against that one.
    pub async fn ensure_stream(&self, name: &str, subjects: &[&str]) -> Result<StreamInfo, NatsError> {
        let name = StreamName::parse(name)?;
        if subjects.is_empty() {
            return Err(NatsError::InvalidSubject { subject: String::new(), reason: "a stream needs at least one subject" });
        }
        let subjects = subjects.iter().map(|s| SubjectFilter::parse(s)).collect::<Result<Vec<_>, _>>()?;
        match self.stream_info_of(&name).await {
            Ok(existing) => return check_config(&name, existing, &subjects),
            Err(NatsError::StreamNotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        let body = jetstream::stream_create_request(&name, &subjects);
        match self.api::<StreamInfo>(&format!("$JS.API.STREAM.CREATE.{name}"), &body).await {
            Ok(created) => {
                tracing::info!(stream = %name, subjects = ?created.config.subjects, "created jetstream stream");
                check_config(&name, created, &subjects)
            }
            Err(NatsError::JetStream { err_code: ERR_STREAM_NAME_IN_USE, .. }) => {
                let existing = self.stream_info_of(&name).await?;
                check_config(&name, existing, &subjects)
            }
            Err(e) => Err(e),
        }
    }

    /// The stream's configuration and counters (`$JS.API.STREAM.INFO.<name>`).
    pub async fn stream_info(&self, name: &str) -> Result<StreamInfo, NatsError> {
        self.stream_info_of(&StreamName::parse(name)?).await
    }

    /// Deletes stream `name` and every message in it (`$JS.API.STREAM.DELETE.<name>`).
    ///
    /// For tests and operations tooling only: Signet itself never deletes its event stream.
    pub async fn delete_stream(&self, name: &str) -> Result<(), NatsError> {
        let name = StreamName::parse(name)?;
        let reply: DeleteReply = self.api(&format!("$JS.API.STREAM.DELETE.{name}"), b"").await.map_err(|e| not_found_as(e, &name))?;
        if reply.success { Ok(()) } else { Err(NatsError::UnexpectedReply(format!("deleting stream `{name}` did not report success"))) }
    }

    async fn stream_info_of(&self, name: &StreamName) -> Result<StreamInfo, NatsError> {
        self.api(&format!("$JS.API.STREAM.INFO.{name}"), b"").await.map_err(|e| not_found_as(e, name))
    }

    /// A JetStream API request: JSON in, JSON (or an API error) out.
    async fn api<T: DeserializeOwned>(&self, subject: &str, body: &[u8]) -> Result<T, NatsError> {
        let subject = Subject::parse(subject)?;
        let reply = self.request(&subject, None, body).await?;
        jetstream::parse_reply(&reply)
    }

    /// One request/reply within `self.timeout`, reconnecting first if needed.
    async fn request(&self, subject: &Subject, msg_id: Option<&MsgId>, payload: &[u8]) -> Result<Vec<u8>, NatsError> {
        let deadline = Instant::now() + self.timeout;
        let connection = tokio::time::timeout_at(deadline, self.connection(deadline))
            .await
            .map_err(|_| NatsError::Timeout { what: "reconnect", after: self.timeout })??;
        match tokio::time::timeout_at(deadline, connection.request(subject, msg_id, payload)).await {
            Ok(result) => result,
            Err(_) => {
                connection.close(NatsError::ConnectionLost(format!("a request to `{subject}` timed out; the connection was reset")));
                Err(NatsError::Timeout { what: "request", after: self.timeout })
            }
        }
    }

    /// The live connection, or a new one. Holds the link lock while reconnecting so that
    /// concurrent callers wait for one attempt instead of racing their own.
    async fn connection(&self, deadline: Instant) -> Result<Arc<Connection>, NatsError> {
        let mut link = self.link.lock().await;
        if let Some(connection) = &link.connection {
            if !connection.is_closed() {
                return Ok(Arc::clone(connection));
            }
            link.connection = None;
        }
        loop {
            if let Some(not_before) = link.not_before {
                if not_before >= deadline {
                    return Err(link.last_error.clone().unwrap_or_else(|| NatsError::ConnectionLost("reconnecting".into())));
                }
                tokio::time::sleep_until(not_before).await;
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            match Connection::open(&self.url, remaining).await {
                Ok(connection) => {
                    tracing::info!(url = %self.url, "reconnected to nats");
                    let connection = Arc::new(connection);
                    *link = Link::connected(Arc::clone(&connection));
                    return Ok(connection);
                }
                Err(e) => {
                    tracing::warn!(url = %self.url, error = %e, "nats reconnect failed");
                    link.attempt_failed(e);
                }
            }
        }
    }
}

fn not_found_as(e: NatsError, name: &StreamName) -> NatsError {
    match e {
        NatsError::JetStream { err_code: ERR_STREAM_NOT_FOUND, .. } => NatsError::StreamNotFound { name: name.to_string() },
        other => other,
    }
}

fn check_config(name: &StreamName, info: StreamInfo, subjects: &[SubjectFilter]) -> Result<StreamInfo, NatsError> {
    if jetstream::matches_config(&info.config, subjects) {
        Ok(info)
    } else {
        Err(NatsError::StreamConfigMismatch {
            name: name.to_string(),
            existing_subjects: info.config.subjects,
            existing_storage: info.config.storage,
        })
    }
}
