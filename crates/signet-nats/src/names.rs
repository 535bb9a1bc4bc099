//! Newtypes for what we put on the wire: a value of these types is valid by construction.
//!
//! - [`Subject`]: a publish subject (no wildcards).
//! - [`SubjectFilter`]: a stream subject, wildcards allowed (`*` a whole token, `>` the last token).
//! - [`StreamName`]: a JetStream stream name (it becomes one token of an API subject).
//! - [`MsgId`]: a `Nats-Msg-Id` header value for JetStream de-duplication.

use std::fmt;

use crate::error::NatsError;

/// Longest subject we send. The server's default `max_control_line` is 4 KiB and a
/// `HPUB` line also carries the reply subject and two lengths.
pub const MAX_SUBJECT_LEN: usize = 1024;
/// Longest stream name (it becomes a directory name in file storage).
pub const MAX_STREAM_NAME_LEN: usize = 255;
/// Longest message id.
pub const MAX_MSG_ID_LEN: usize = 256;

/// A NATS subject to publish to: dot-separated non-empty tokens, no whitespace or control
/// characters, no wildcards.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Subject(String);

/// A subject a stream captures: like [`Subject`], but `*` (one token) and `>` (the rest, last
/// token only) are allowed.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SubjectFilter(String);

/// A JetStream stream name: printable, no whitespace, no `.`, `*`, `>`, `/`, `\`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct StreamName(String);

/// A `Nats-Msg-Id` value: 1..=256 printable ASCII characters (no spaces).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct MsgId(String);

impl Subject {
    pub fn parse(s: &str) -> Result<Self, NatsError> {
        check_subject(s, false).map(|()| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl SubjectFilter {
    pub fn parse(s: &str) -> Result<Self, NatsError> {
        check_subject(s, true).map(|()| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl StreamName {
    pub fn parse(s: &str) -> Result<Self, NatsError> {
        let invalid = |reason| NatsError::InvalidStreamName { name: s.to_owned(), reason };
        if s.is_empty() {
            return Err(invalid("name is empty"));
        }
        if s.len() > MAX_STREAM_NAME_LEN {
            return Err(invalid("name is longer than 255 bytes"));
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("name contains whitespace or control characters"));
        }
        if s.contains(['.', '*', '>', '/', '\\']) {
            return Err(invalid("name contains one of `.`, `*`, `>`, `/`, `\\`"));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl MsgId {
    pub fn parse(s: &str) -> Result<Self, NatsError> {
        let invalid = |reason| NatsError::InvalidMsgId { msg_id: s.escape_debug().to_string(), reason };
        if s.is_empty() {
            return Err(invalid("message id is empty"));
        }
        if s.len() > MAX_MSG_ID_LEN {
            return Err(invalid("message id is longer than 256 bytes"));
        }
        if !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid("message id must be printable ascii without spaces"));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn check_subject(s: &str, wildcards: bool) -> Result<(), NatsError> {
    let invalid = |reason| NatsError::InvalidSubject { subject: s.escape_debug().to_string(), reason };
    if s.is_empty() {
        return Err(invalid("subject is empty"));
    }
    if s.len() > MAX_SUBJECT_LEN {
        return Err(invalid("subject is longer than 1024 bytes"));
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("subject contains whitespace or control characters"));
    }
    let tokens: Vec<&str> = s.split('.').collect();
    for (i, token) in tokens.iter().enumerate() {
        if token.is_empty() {
            return Err(invalid("subject has an empty token (leading, trailing or double `.`)"));
        }
        let is_wildcard_token = *token == "*" || *token == ">";
        if !wildcards && (token.contains('*') || token.contains('>')) {
            return Err(invalid("wildcards `*` and `>` are not allowed in a publish subject"));
        }
        if wildcards && !is_wildcard_token && token.contains(['*', '>']) {
            return Err(invalid("a wildcard must be a whole token"));
        }
        if wildcards && *token == ">" && i + 1 != tokens.len() {
            return Err(invalid("`>` must be the last token"));
        }
    }
    Ok(())
}

macro_rules! display_as_str {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($t), self.0)
            }
        }
    )*};
}
display_as_str!(Subject, SubjectFilter, StreamName, MsgId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects() {
        for ok in ["signet.log", "a", "$JS.API.STREAM.INFO.X", "_INBOX.abc.1", "a-b_c.d"] {
            Subject::parse(ok).unwrap();
        }
        let cases = [
            ("", "empty"),
            ("a b", "whitespace"),
            ("a\tb", "whitespace"),
            ("a\r\nPUB x", "whitespace"),
            ("a\u{7}b", "control"),
            (".a", "empty token"),
            ("a.", "empty token"),
            ("a..b", "empty token"),
            ("a.*", "wildcards"),
            ("a.>", "wildcards"),
        ];
        for (bad, why) in cases {
            let err = Subject::parse(bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
        assert!(Subject::parse(&"a".repeat(1025)).is_err());
    }

    #[test]
    fn subject_filters() {
        for ok in ["a.*", "a.>", "*.b.*", ">", "signet.events"] {
            SubjectFilter::parse(ok).unwrap();
        }
        for (bad, why) in [("a.>.b", "last token"), ("a.b*", "whole token"), ("a. b", "whitespace"), ("a..*", "empty token")] {
            let err = SubjectFilter::parse(bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }

    #[test]
    fn stream_names() {
        StreamName::parse("SIGNET_LOG-1").unwrap();
        for bad in ["", "a.b", "a b", "a*", "a>", "a/b", "a\\b", "a\nb"] {
            assert!(StreamName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn msg_ids() {
        MsgId::parse("12345").unwrap();
        MsgId::parse("signet:log:7").unwrap();
        for bad in ["", "a b", "a\r\nX-Evil: 1", "é"] {
            assert!(MsgId::parse(bad).is_err(), "{bad:?}");
        }
        assert!(MsgId::parse(&"1".repeat(257)).is_err());
    }
}
