//! The NATS client protocol, pure: parse what the server sends, encode what we send.
//!
//! No I/O here. [`parse_op`] takes the bytes received so far and returns one operation
//! and how many bytes it used, `None` if more bytes are needed, or an error for input we
//! refuse. It bounds what it accepts ([`MAX_CONTROL_LINE`], [`MAX_INBOUND_MESSAGE`]) so a
//! misbehaving server cannot make us buffer without limit, and it never panics.
//!
//! Server operations handled: `INFO`, `MSG`, `HMSG`, `PING`, `PONG`, `+OK`, `-ERR`
//! (case-insensitive, arguments separated by spaces or tabs, lines ended by CRLF).

use crate::names::{MsgId, Subject};

/// Longest control line accepted from the server (an `INFO` with many cluster URLs is the
/// longest legitimate one).
pub const MAX_CONTROL_LINE: usize = 64 * 1024;
/// Largest message (headers + payload) accepted from the server. Our replies are PubAcks
/// and JetStream API answers, far below this.
pub const MAX_INBOUND_MESSAGE: usize = 1024 * 1024;

/// Input from the server that we refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    #[error("control line longer than {max} bytes")]
    LineTooLong { max: usize },
    #[error("control line is not utf-8")]
    NotUtf8,
    #[error("unknown operation `{0}`")]
    UnknownOp(String),
    #[error("malformed `{op}`: {reason}")]
    Malformed { op: &'static str, reason: &'static str },
    #[error("message of {size} bytes exceeds the accepted maximum of {max} bytes")]
    MessageTooLarge { size: u64, max: usize },
    #[error("unexpected `{got}` during {during}")]
    Unexpected { got: &'static str, during: &'static str },
    #[error("invalid INFO: {0}")]
    BadInfo(String),
}

/// One operation sent by the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerOp {
    /// The JSON text of an `INFO`.
    Info(String),
    Msg(Message),
    Ping,
    Pong,
    Ok,
    /// The `-ERR` text, without its quotes.
    Err(String),
}

impl ServerOp {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Info(_) => "INFO",
            Self::Msg(m) if m.has_headers => "HMSG",
            Self::Msg(_) => "MSG",
            Self::Ping => "PING",
            Self::Pong => "PONG",
            Self::Ok => "+OK",
            Self::Err(_) => "-ERR",
        }
    }
}

/// A delivered `MSG` or `HMSG`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub subject: String,
    pub reply: Option<String>,
    /// True for `HMSG`.
    pub has_headers: bool,
    /// The status code of the `NATS/1.0 <code> <description>` header line, if any.
    pub status: Option<u16>,
    pub description: String,
    pub payload: Vec<u8>,
}

/// Parses one server operation from the front of `buf`.
pub fn parse_op(buf: &[u8]) -> Result<Option<(ServerOp, usize)>, ProtocolError> {
    let window = &buf[..buf.len().min(MAX_CONTROL_LINE + 2)];
    let Some(line_end) = find_crlf(window) else {
        return if window.len() >= MAX_CONTROL_LINE + 2 { Err(ProtocolError::LineTooLong { max: MAX_CONTROL_LINE }) } else { Ok(None) };
    };
    let line = std::str::from_utf8(&buf[..line_end]).map_err(|_| ProtocolError::NotUtf8)?;
    let body_start = line_end + 2;
    let (op, rest) = match line.find([' ', '\t']) {
        Some(i) => (&line[..i], line[i..].trim_matches([' ', '\t'])),
        None => (line, ""),
    };
    let simple = |op| Ok(Some((op, body_start)));
    if op.eq_ignore_ascii_case("PING") {
        simple(ServerOp::Ping)
    } else if op.eq_ignore_ascii_case("PONG") {
        simple(ServerOp::Pong)
    } else if op.eq_ignore_ascii_case("+OK") {
        simple(ServerOp::Ok)
    } else if op.eq_ignore_ascii_case("-ERR") {
        let text = rest.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')).unwrap_or(rest);
        simple(ServerOp::Err(text.to_owned()))
    } else if op.eq_ignore_ascii_case("INFO") {
        simple(ServerOp::Info(rest.to_owned()))
    } else if op.eq_ignore_ascii_case("MSG") {
        parse_msg(buf, body_start, rest, false)
    } else if op.eq_ignore_ascii_case("HMSG") {
        parse_msg(buf, body_start, rest, true)
    } else {
        let shown: String = op.chars().take(32).collect();
        Err(ProtocolError::UnknownOp(shown.escape_debug().to_string()))
    }
}

fn parse_msg(buf: &[u8], body_start: usize, args: &str, has_headers: bool) -> Result<Option<(ServerOp, usize)>, ProtocolError> {
    let op = if has_headers { "HMSG" } else { "MSG" };
    let malformed = |reason| ProtocolError::Malformed { op, reason };
    let args: Vec<&str> = args.split([' ', '\t']).filter(|a| !a.is_empty()).collect();
    // MSG <subject> <sid> [reply] <len>; HMSG <subject> <sid> [reply] <hdr_len> <total_len>
    let counts = if has_headers { (4, 5) } else { (3, 4) };
    let (subject, reply, lens) = match args.as_slice() {
        [subject, _sid, lens @ ..] if args.len() == counts.0 => (*subject, None, lens),
        [subject, _sid, reply, lens @ ..] if args.len() == counts.1 => (*subject, Some(*reply), lens),
        _ => return Err(malformed("wrong number of arguments")),
    };
    let (header_len, total_len) = match lens {
        [total] => (0, parse_len(total, op)?),
        [header, total] => (parse_len(header, op)?, parse_len(total, op)?),
        _ => return Err(malformed("wrong number of arguments")),
    };
    if header_len > total_len {
        return Err(malformed("header length exceeds total length"));
    }
    let body_end = body_start + total_len;
    if buf.len() < body_end + 2 {
        return Ok(None);
    }
    if &buf[body_end..body_end + 2] != b"\r\n" {
        return Err(malformed("payload not followed by CRLF"));
    }
    let (status, description) = if has_headers {
        parse_status(&buf[body_start..body_start + header_len]).ok_or_else(|| malformed("header block does not start with `NATS/1.0`"))?
    } else {
        (None, String::new())
    };
    let message = Message {
        subject: subject.to_owned(),
        reply: reply.map(str::to_owned),
        has_headers,
        status,
        description,
        payload: buf[body_start + header_len..body_end].to_vec(),
    };
    Ok(Some((ServerOp::Msg(message), body_end + 2)))
}

/// A byte count: ASCII digits only, at most [`MAX_INBOUND_MESSAGE`].
fn parse_len(s: &str, op: &'static str) -> Result<usize, ProtocolError> {
    if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ProtocolError::Malformed { op, reason: "length is not a number" });
    }
    let n: u64 = s.parse().map_err(|_| ProtocolError::Malformed { op, reason: "length is not a number" })?;
    match usize::try_from(n) {
        Ok(n) if n <= MAX_INBOUND_MESSAGE => Ok(n),
        _ => Err(ProtocolError::MessageTooLarge { size: n, max: MAX_INBOUND_MESSAGE }),
    }
}

/// Parses the first header line, `NATS/1.0[ <code>[ <description>]]`.
fn parse_status(headers: &[u8]) -> Option<(Option<u16>, String)> {
    let first = match find_crlf(headers) {
        Some(end) => &headers[..end],
        None => headers,
    };
    let first = std::str::from_utf8(first).ok()?;
    let rest = first.strip_prefix("NATS/1.0")?;
    let rest = rest.trim_start_matches([' ', '\t']);
    if rest.is_empty() {
        return Some((None, String::new()));
    }
    let (code, description) = rest.split_once([' ', '\t']).unwrap_or((rest, ""));
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((code.parse().ok(), description.trim().to_owned()))
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

/// `PUB <subject> <reply> <len>\r\n<payload>\r\n`.
pub fn encode_pub(subject: &Subject, reply: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(subject.as_str().len() + reply.len() + payload.len() + 32);
    out.extend_from_slice(format!("PUB {subject} {reply} {}\r\n", payload.len()).as_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
    out
}

/// The header block carrying the JetStream de-duplication id.
fn msg_id_headers(msg_id: &MsgId) -> String {
    format!("NATS/1.0\r\nNats-Msg-Id: {msg_id}\r\n\r\n")
}

/// Bytes the server counts against `max_payload` for [`encode_hpub`].
pub fn hpub_size(msg_id: &MsgId, payload: &[u8]) -> usize {
    msg_id_headers(msg_id).len() + payload.len()
}

/// `HPUB <subject> <reply> <hdr_len> <total_len>\r\n<headers><payload>\r\n` with a `Nats-Msg-Id` header.
pub fn encode_hpub(subject: &Subject, reply: &str, msg_id: &MsgId, payload: &[u8]) -> Vec<u8> {
    let headers = msg_id_headers(msg_id);
    let total = headers.len() + payload.len();
    let mut out = Vec::with_capacity(subject.as_str().len() + reply.len() + total + 40);
    out.extend_from_slice(format!("HPUB {subject} {reply} {} {total}\r\n", headers.len()).as_bytes());
    out.extend_from_slice(headers.as_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(input: &[u8]) -> (ServerOp, usize) {
        parse_op(input).unwrap().unwrap()
    }

    #[test]
    fn simple_ops_case_insensitive() {
        assert_eq!(one(b"PING\r\n"), (ServerOp::Ping, 6));
        assert_eq!(one(b"pong\r\nPING\r\n"), (ServerOp::Pong, 6));
        assert_eq!(one(b"+OK\r\n").0, ServerOp::Ok);
        assert_eq!(one(b"-ERR 'Authorization Violation'\r\n").0, ServerOp::Err("Authorization Violation".into()));
        assert_eq!(one(b"INFO {\"a\":1} \r\n").0, ServerOp::Info("{\"a\":1}".into()));
    }

    #[test]
    fn msg_with_and_without_reply() {
        let (op, used) = one(b"MSG _INBOX.x.7 1 5\r\nhello\r\nPING\r\n");
        assert_eq!(used, 27);
        let ServerOp::Msg(m) = op else { panic!("not a msg") };
        assert_eq!((m.subject.as_str(), m.reply, m.payload.as_slice(), m.status), ("_INBOX.x.7", None, &b"hello"[..], None));
        let ServerOp::Msg(m) = one(b"msg a\t1  r.1 0\r\n\r\n").0 else { panic!("not a msg") };
        assert_eq!(m.reply.as_deref(), Some("r.1"));
        assert!(m.payload.is_empty());
    }

    #[test]
    fn hmsg_status() {
        let ServerOp::Msg(m) = one(b"HMSG _INBOX.x.2 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\n").0 else { panic!("not a msg") };
        assert!(m.has_headers);
        assert_eq!(m.status, Some(503));
        assert!(m.payload.is_empty());
        let ServerOp::Msg(m) = one(b"HMSG s 1 r 32 34\r\nNATS/1.0 408 Request Timeout\r\n\r\nhi\r\n").0 else { panic!("not a msg") };
        assert_eq!((m.status, m.description.as_str(), m.payload.as_slice()), (Some(408), "Request Timeout", &b"hi"[..]));
        let ServerOp::Msg(m) = one(b"HMSG s 1 18 20\r\nNATS/1.0\r\nA: b\r\n\r\nhi\r\n").0 else { panic!("not a msg") };
        assert_eq!((m.status, m.payload.as_slice()), (None, &b"hi"[..]));
    }

    #[test]
    fn incomplete_input_needs_more_at_every_split() {
        let full = b"HMSG _INBOX.x.2 1 r 16 18\r\nNATS/1.0 503\r\n\r\nab\r\n";
        for cut in 0..full.len() {
            assert_eq!(parse_op(&full[..cut]), Ok(None), "cut at {cut}");
        }
        assert_eq!(one(full).1, full.len());
    }

    #[test]
    fn refuses_bad_input() {
        let err = |b: &[u8]| parse_op(b).unwrap_err();
        assert!(matches!(err(b"HELLO\r\n"), ProtocolError::UnknownOp(op) if op == "HELLO"));
        assert_eq!(err(b"\xff\xfe\r\n"), ProtocolError::NotUtf8);
        assert!(matches!(err(b"MSG a 1\r\n"), ProtocolError::Malformed { .. }));
        assert!(matches!(err(b"MSG a 1 r x 3\r\n"), ProtocolError::Malformed { .. }));
        assert!(matches!(err(b"MSG a 1 -3\r\n"), ProtocolError::Malformed { .. }));
        assert!(matches!(err(b"MSG a 1 3\r\nabcXY"), ProtocolError::Malformed { reason: "payload not followed by CRLF", .. }));
        assert!(matches!(err(b"HMSG a 1 5 3\r\n"), ProtocolError::Malformed { .. }));
        assert!(matches!(err(b"HMSG a 1 3 3\r\nabc\r\n"), ProtocolError::Malformed { .. }));
        assert!(matches!(err(b"MSG a 1 1048577\r\n"), ProtocolError::MessageTooLarge { .. }));
        assert!(matches!(err(b"MSG a 1 99999999999999999999999\r\n"), ProtocolError::Malformed { .. }));
        let long = vec![b'A'; MAX_CONTROL_LINE + 2];
        assert_eq!(err(&long), ProtocolError::LineTooLong { max: MAX_CONTROL_LINE });
        assert_eq!(parse_op(&long[..MAX_CONTROL_LINE]), Ok(None));
    }

    #[test]
    fn random_garbage_never_panics() {
        // xorshift: deterministic, no dependency.
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let seeds: [&[u8]; 4] = [b"MSG a 1 r 3\r\nabc\r\n", b"HMSG a 1 12 14\r\nNATS/1.0 503\r\nxy\r\n", b"INFO {}\r\n", b"-ERR 'x'\r\n"];
        for i in 0..20_000 {
            let mut input = seeds[i % seeds.len()].to_vec();
            for _ in 0..(next() % 4) {
                let pos = (next() as usize) % input.len();
                match next() % 3 {
                    0 => input[pos] = next() as u8,
                    1 => input.insert(pos, b"\r\n 0123456789"[(next() % 13) as usize]),
                    _ => {
                        input.remove(pos);
                    }
                }
                if input.is_empty() {
                    input.push(b'M');
                }
            }
            let mut rest = input.as_slice();
            while let Ok(Some((_, used))) = parse_op(rest) {
                assert!(used > 0 && used <= rest.len());
                rest = &rest[used..];
            }
        }
    }

    #[test]
    fn encodes_pub_and_hpub() {
        let s = Subject::parse("signet.log").unwrap();
        assert_eq!(encode_pub(&s, "_INBOX.a.1", b"hi"), b"PUB signet.log _INBOX.a.1 2\r\nhi\r\n");
        let id = MsgId::parse("42").unwrap();
        let frame = encode_hpub(&s, "_INBOX.a.2", &id, b"hi");
        assert_eq!(frame, b"HPUB signet.log _INBOX.a.2 29 31\r\nNATS/1.0\r\nNats-Msg-Id: 42\r\n\r\nhi\r\n");
        assert_eq!(hpub_size(&id, b"hi"), 31);
    }
}
