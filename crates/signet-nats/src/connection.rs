//! One TCP session with a NATS server: handshake, a writer task, a reader task, and the
//! table of requests waiting for their reply.
//!
//! ```text
//!  request() ── register token ──▶ pending: token → oneshot
//!            ── frame (PUB/HPUB) ─▶ mpsc ─▶ writer task ─▶ socket
//!  socket ─▶ reader task ─ MSG/HMSG on _INBOX.<r>.<token> ─▶ pending.remove(token).send(reply)
//!                        ─ PING ─▶ mpsc (PONG)
//!                        ─ -ERR, EOF, garbage ─▶ close: every pending request gets the reason
//! ```
//!
//! Frames go through a channel rather than a shared writer so that a request future that is
//! dropped (timeout, cancellation) can never leave half a frame on the wire. A connection
//! that fails is never reused: [`crate::Publisher`] opens a new one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::error::NatsError;
use crate::inbox::InboxPrefix;
use crate::names::{MsgId, Subject};
use crate::protocol::{self, Message, ProtocolError, ServerOp};
use crate::url::NatsUrl;

/// Frames queued for the writer before `request` waits.
const FRAME_QUEUE: usize = 1024;
/// The writer coalesces queued frames into writes of about this size.
const WRITE_BATCH: usize = 64 * 1024;
/// Reserve this much free space before each socket read.
const READ_CHUNK: usize = 64 * 1024;
/// `max_payload` assumed when `INFO` does not say (the server default).
const DEFAULT_MAX_PAYLOAD: usize = 1024 * 1024;
/// Subscription id of the connection's reply inbox.
const INBOX_SID: u32 = 1;

type ReplySender = oneshot::Sender<Result<Message, NatsError>>;

/// The fields of the server's `INFO` that we act on.
#[derive(Debug, Deserialize)]
struct ServerInfo {
    #[serde(default)]
    headers: bool,
    #[serde(default)]
    tls_required: bool,
    #[serde(default)]
    max_payload: Option<u64>,
    #[serde(default)]
    jetstream: bool,
    #[serde(default)]
    version: String,
}

/// State shared by the connection handle and its two tasks.
#[derive(Default)]
struct Shared {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    pending: HashMap<u64, ReplySender>,
    /// Set once, when the connection fails; never cleared.
    closed: Option<NatsError>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the map inconsistent, so poisoning is ignored.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn register(&self, token: u64, sender: ReplySender) -> Result<(), NatsError> {
        let mut state = self.lock();
        if let Some(reason) = &state.closed {
            return Err(reason.clone());
        }
        state.pending.insert(token, sender);
        Ok(())
    }

    /// Marks the connection failed and fails every waiting request with `reason`.
    fn fail(&self, reason: NatsError) {
        let waiting = {
            let mut state = self.lock();
            if state.closed.is_some() {
                return;
            }
            tracing::warn!(error = %reason, "nats connection closed");
            state.closed = Some(reason.clone());
            std::mem::take(&mut state.pending)
        };
        for sender in waiting.into_values() {
            let _ = sender.send(Err(reason.clone()));
        }
    }

    fn closed_reason(&self) -> NatsError {
        self.lock().closed.clone().unwrap_or_else(|| NatsError::ConnectionLost("connection closed".into()))
    }

    fn deliver(&self, token: u64, message: Message) {
        let sender = self.lock().pending.remove(&token);
        match sender {
            Some(sender) => {
                let _ = sender.send(Ok(message));
            }
            None => tracing::debug!(token, "nats reply for a request no longer waiting (timed out or cancelled)"),
        }
    }
}

/// Removes a request from the pending table however its future ends.
struct PendingGuard<'a> {
    shared: &'a Shared,
    token: u64,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.shared.lock().pending.remove(&self.token);
    }
}

/// An established session. Dropping it stops both tasks and closes the socket.
pub(crate) struct Connection {
    shared: Arc<Shared>,
    frames: mpsc::Sender<Vec<u8>>,
    inbox: InboxPrefix,
    next_token: AtomicU64,
    max_payload: usize,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
}

impl Connection {
    /// Connects, performs the handshake (INFO, CONNECT, SUB to the inbox, PING/PONG) and starts the tasks.
    pub(crate) async fn open(url: &NatsUrl, timeout: Duration) -> Result<Self, NatsError> {
        tokio::time::timeout(timeout, Self::open_inner(url)).await.map_err(|_| NatsError::Timeout { what: "connect", after: timeout })?
    }

    async fn open_inner(url: &NatsUrl) -> Result<Self, NatsError> {
        let addr = url.socket_addr();
        let mut stream = TcpStream::connect(&addr).await.map_err(|e| NatsError::Connect { addr: addr.clone(), source: Arc::new(e) })?;
        stream.set_nodelay(true).map_err(|e| lost("set TCP_NODELAY", &e))?;
        let inbox = InboxPrefix::random();
        let mut buf = Vec::with_capacity(READ_CHUNK);
        let info = handshake(&mut stream, url, &inbox, &mut buf).await?;
        if !info.jetstream {
            tracing::warn!(%url, "nats server does not announce jetstream: publishes will fail with no responders");
        }
        tracing::debug!(%url, version = %info.version, "nats handshake complete");
        let max_payload = info.max_payload.map_or(DEFAULT_MAX_PAYLOAD, |m| usize::try_from(m).unwrap_or(usize::MAX));

        let (read_half, write_half) = stream.into_split();
        let shared = Arc::new(Shared::default());
        let (frames, frame_rx) = mpsc::channel(FRAME_QUEUE);
        let reader = tokio::spawn(read_loop(read_half, buf, Arc::clone(&shared), frames.clone(), inbox.clone()));
        let writer = tokio::spawn(write_loop(write_half, frame_rx, Arc::clone(&shared)));
        Ok(Self { shared, frames, inbox, next_token: AtomicU64::new(0), max_payload, reader, writer })
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.shared.lock().closed.is_some()
    }

    /// Fails every waiting request with `reason` and stops using this connection.
    pub(crate) fn close(&self, reason: NatsError) {
        self.shared.fail(reason);
        self.reader.abort();
        self.writer.abort();
    }

    /// Publishes `payload` to `subject` with a reply inbox (and a `Nats-Msg-Id` header if
    /// `msg_id` is given), then waits for the reply's payload. No timeout here: the caller sets it.
    pub(crate) async fn request(&self, subject: &Subject, msg_id: Option<&MsgId>, payload: &[u8]) -> Result<Vec<u8>, NatsError> {
        let size = msg_id.map_or(payload.len(), |id| protocol::hpub_size(id, payload));
        if size > self.max_payload {
            return Err(NatsError::PayloadTooLarge { size, max: self.max_payload });
        }
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        let (sender, receiver) = oneshot::channel();
        self.shared.register(token, sender)?;
        let _guard = PendingGuard { shared: &self.shared, token };
        let reply_to = self.inbox.reply_subject(token);
        let frame = match msg_id {
            Some(id) => protocol::encode_hpub(subject, &reply_to, id, payload),
            None => protocol::encode_pub(subject, &reply_to, payload),
        };
        self.frames.send(frame).await.map_err(|_| self.shared.closed_reason())?;
        let reply = receiver.await.map_err(|_| self.shared.closed_reason())??;
        match reply.status {
            None => Ok(reply.payload),
            Some(503) => Err(NatsError::NoResponders { subject: subject.to_string() }),
            Some(code) => Err(NatsError::Status { subject: subject.to_string(), code, description: reply.description }),
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.reader.abort();
        self.writer.abort();
    }
}

fn lost(context: &str, e: &std::io::Error) -> NatsError {
    NatsError::ConnectionLost(format!("{context}: {e}"))
}

async fn handshake(stream: &mut TcpStream, url: &NatsUrl, inbox: &InboxPrefix, buf: &mut Vec<u8>) -> Result<ServerInfo, NatsError> {
    let info = match next_op(stream, buf).await? {
        ServerOp::Info(json) => serde_json::from_str::<ServerInfo>(&json).map_err(|e| ProtocolError::BadInfo(e.to_string()))?,
        ServerOp::Err(text) => return Err(NatsError::Server(text)),
        other => return Err(ProtocolError::Unexpected { got: other.name(), during: "handshake, expected INFO" }.into()),
    };
    if info.tls_required {
        return Err(NatsError::UnsupportedServer("the server requires tls, which this client does not speak".into()));
    }
    if !info.headers {
        return Err(NatsError::UnsupportedServer("the server does not support headers (nats-server 2.2 or later is needed)".into()));
    }
    let hello = format!("CONNECT {}\r\nSUB {} {INBOX_SID}\r\nPING\r\n", connect_options(url), inbox.wildcard());
    stream.write_all(hello.as_bytes()).await.map_err(|e| lost("send CONNECT", &e))?;
    loop {
        match next_op(stream, buf).await? {
            ServerOp::Pong => return Ok(info),
            ServerOp::Ping => stream.write_all(b"PONG\r\n").await.map_err(|e| lost("send PONG", &e))?,
            ServerOp::Ok | ServerOp::Info(_) => {}
            ServerOp::Err(text) => return Err(NatsError::Server(text)),
            other @ ServerOp::Msg(_) => {
                return Err(ProtocolError::Unexpected { got: other.name(), during: "handshake, expected PONG" }.into());
            }
        }
    }
}

/// The CONNECT options. Contains the password: never log it.
fn connect_options(url: &NatsUrl) -> String {
    let mut options = serde_json::json!({
        "verbose": false,
        "pedantic": false,
        "headers": true,
        "no_responders": true,
        "name": "signet",
        "lang": "rust",
        "version": env!("CARGO_PKG_VERSION"),
        "protocol": 1,
    });
    if let (Some(credentials), Some(map)) = (url.credentials(), options.as_object_mut()) {
        map.insert("user".into(), credentials.user.clone().into());
        map.insert("pass".into(), credentials.password.expose().into());
    }
    options.to_string()
}

/// Reads until one operation is complete (handshake only; the reader task batches).
async fn next_op(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<ServerOp, NatsError> {
    loop {
        if let Some((op, used)) = protocol::parse_op(buf)? {
            buf.drain(..used);
            return Ok(op);
        }
        buf.reserve(READ_CHUNK);
        let n = stream.read_buf(buf).await.map_err(|e| lost("read", &e))?;
        if n == 0 {
            return Err(NatsError::ConnectionLost("the server closed the connection during the handshake".into()));
        }
    }
}

async fn read_loop(mut socket: OwnedReadHalf, mut buf: Vec<u8>, shared: Arc<Shared>, frames: mpsc::Sender<Vec<u8>>, inbox: InboxPrefix) {
    let reason = loop {
        match handle_buffered(&mut buf, &shared, &frames, &inbox).await {
            Ok(()) => {}
            Err(reason) => break reason,
        }
        buf.reserve(READ_CHUNK);
        match socket.read_buf(&mut buf).await {
            Ok(0) => break NatsError::ConnectionLost("the server closed the connection".into()),
            Ok(_) => {}
            Err(e) => break lost("read", &e),
        }
    };
    shared.fail(reason);
}

/// Handles every complete operation in `buf`, then drops the consumed bytes.
async fn handle_buffered(buf: &mut Vec<u8>, shared: &Shared, frames: &mpsc::Sender<Vec<u8>>, inbox: &InboxPrefix) -> Result<(), NatsError> {
    let mut start = 0;
    let result = loop {
        let op = match protocol::parse_op(&buf[start..]) {
            Ok(Some((op, used))) => {
                start += used;
                op
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(NatsError::Protocol(e)),
        };
        match op {
            ServerOp::Msg(message) => match inbox.token_of(&message.subject) {
                Some(token) => shared.deliver(token, message),
                None => tracing::debug!(subject = %message.subject.escape_debug(), "ignoring nats message outside our inbox"),
            },
            ServerOp::Ping => {
                if frames.send(b"PONG\r\n".to_vec()).await.is_err() {
                    break Err(NatsError::ConnectionLost("writer stopped".into()));
                }
            }
            ServerOp::Pong | ServerOp::Ok | ServerOp::Info(_) => {}
            ServerOp::Err(text) => break Err(NatsError::Server(text)),
        }
    };
    buf.drain(..start);
    result
}

async fn write_loop(mut socket: OwnedWriteHalf, mut frames: mpsc::Receiver<Vec<u8>>, shared: Arc<Shared>) {
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    while let Some(frame) = frames.recv().await {
        batch.clear();
        batch.extend_from_slice(&frame);
        while batch.len() < WRITE_BATCH {
            match frames.try_recv() {
                Ok(frame) => batch.extend_from_slice(&frame),
                Err(_) => break,
            }
        }
        if let Err(e) = socket.write_all(&batch).await {
            shared.fail(lost("write", &e));
            return;
        }
    }
}
