//! A minimal NATS JetStream publisher: Signet forwards every issuance-log entry to a stream
//! for SIEM pipelines (`--events nats://127.0.0.1:4222`).
//!
//! ```text
//!  forwarder (caller)                 Publisher                          Connection (one TCP session)
//!  ──────────────────                 ─────────                          ────────────────────────────
//!  publish(subject, log index, entry) ─▶ parse Subject, MsgId ─▶ live?  ─▶ pending[token] = oneshot
//!                                         else reconnect (backoff)       HPUB subject _INBOX.<r>.<token>
//!                                                                         (Nats-Msg-Id) ─▶ writer task ─▶ TCP
//!  PubAck { stream, seq, duplicate } ◀── parse PubAck JSON ◀── oneshot ◀── reader task ◀─ MSG / HMSG 503
//! ```
//!
//! # The protocol subset
//!
//! Client side: `CONNECT` (`verbose:false`, `headers:true`, `no_responders:true`, user/password
//! from the URL), one `SUB` to the connection's inbox `_INBOX.<random>.*`, `PUB`/`HPUB` with a
//! reply subject, `PING`/`PONG`. Server side: `INFO`, `MSG`, `HMSG` (only the status line of the
//! headers is read), `PING`, `PONG`, `+OK`, `-ERR`. On top of that, three JetStream API calls
//! (`STREAM.INFO`, `STREAM.CREATE`, `STREAM.DELETE`) and PubAck parsing.
//!
//! Not supported, on purpose: TLS, NKEY/JWT/token auth, cluster discovery (`connect_urls`),
//! subscriptions for consumers, `-ERR` as a non-fatal event (any `-ERR` closes the connection
//! and fails what is in flight; the next call reconnects).
//!
//! # Why not async-nats
//!
//! async-nats brings its own TLS stack, nkeys, a second set of crypto crates and a few dozen
//! transitive crates to a workspace built on 2 cores, for a feature that needs only
//! publish-with-ack. This crate depends on tokio, serde, serde_json, thiserror and tracing,
//! which Signet already builds.
//!
//! # Guarantees and limits
//!
//! - Pipelining: any number of concurrent [`Publisher::publish`] calls share the connection;
//!   acks are matched to callers by reply subject.
//! - De-duplication: the caller's message id (Signet's log index) is sent as `Nats-Msg-Id`,
//!   so re-publishing after a reconnect does not store an entry twice within the stream's
//!   duplicate window.
//! - No buffering or retry inside: after a failure the caller resumes from its last ack.
//! - Input from the server is bounded ([`protocol::MAX_CONTROL_LINE`],
//!   [`protocol::MAX_INBOUND_MESSAGE`]) and refused with [`NatsError::Protocol`], never a panic.
//! - Subjects, stream names, message ids and URLs are parsed into newtypes ([`names`],
//!   [`NatsUrl`]) before anything is sent; the URL's password never appears in `Debug`/`Display`.

mod connection;
pub mod error;
mod inbox;
pub mod jetstream;
pub mod names;
pub mod protocol;
mod publisher;
pub mod url;

pub use error::NatsError;
pub use jetstream::{PubAck, StreamConfig, StreamInfo, StreamState};
pub use names::{MsgId, StreamName, Subject, SubjectFilter};
pub use publisher::{Publisher, RECONNECT_DELAY_MAX, RECONNECT_DELAY_MIN};
pub use url::NatsUrl;
