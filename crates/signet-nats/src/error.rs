//! The one error type of this crate.
//!
//! Every variant is `Clone`: when a connection dies, the same reason is handed to
//! every request that was in flight on it.

use std::sync::Arc;
use std::time::Duration;

use crate::protocol::ProtocolError;

/// Why a NATS operation failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum NatsError {
    /// The server URL could not be parsed. `url` is redacted (no password).
    #[error("invalid nats url `{url}`: {reason}")]
    InvalidUrl { url: String, reason: &'static str },

    /// A subject (or stream subject filter) is not a valid NATS subject.
    #[error("invalid subject `{subject}`: {reason}")]
    InvalidSubject { subject: String, reason: &'static str },

    /// A stream name is not valid for JetStream.
    #[error("invalid stream name `{name}`: {reason}")]
    InvalidStreamName { name: String, reason: &'static str },

    /// A message id cannot be sent as a `Nats-Msg-Id` header value.
    #[error("invalid message id `{msg_id}`: {reason}")]
    InvalidMsgId { msg_id: String, reason: &'static str },

    /// The message (headers + payload) exceeds the server's `max_payload`.
    #[error("message of {size} bytes exceeds the server's max_payload of {max} bytes")]
    PayloadTooLarge { size: usize, max: usize },

    /// The TCP connection could not be established (refused, unreachable, DNS).
    #[error("cannot connect to `{addr}`: {source}")]
    Connect {
        addr: String,
        #[source]
        source: Arc<std::io::Error>,
    },

    /// The server cannot serve this client (no header support, TLS required, ...).
    #[error("unsupported server: {0}")]
    UnsupportedServer(String),

    /// The connection was lost; in-flight requests fail with this and the next call reconnects.
    #[error("connection lost: {0}")]
    ConnectionLost(String),

    /// An operation did not complete in time.
    #[error("{what} timed out after {after:?}")]
    Timeout { what: &'static str, after: Duration },

    /// The server sent something this client does not accept (garbage, oversized lines or payloads).
    #[error("protocol error: {0}")]
    Protocol(#[from] ProtocolError),

    /// The server sent `-ERR` (for example an authorization violation); the text is the server's.
    #[error("server error: {0}")]
    Server(String),

    /// Nothing subscribes to the subject: no JetStream stream captures it (NATS status 503).
    #[error("no responders for subject `{subject}`: no stream captures it")]
    NoResponders { subject: String },

    /// The reply carried a NATS status other than 503.
    #[error("unexpected status {code} `{description}` in reply to `{subject}`")]
    Status { subject: String, code: u16, description: String },

    /// The JetStream API or a PubAck reported an error.
    #[error("jetstream error {code} (err_code {err_code}): {description}")]
    JetStream { code: u16, err_code: u32, description: String },

    /// The named stream does not exist.
    #[error("stream `{name}` not found")]
    StreamNotFound { name: String },

    /// The stream exists with subjects or storage different from what was asked for.
    #[error("stream `{name}` exists with a different configuration: subjects {existing_subjects:?}, storage `{existing_storage}`")]
    StreamConfigMismatch { name: String, existing_subjects: Vec<String>, existing_storage: String },

    /// A JetStream reply was not the JSON we expected.
    #[error("unexpected jetstream reply: {0}")]
    UnexpectedReply(String),
}
