//! JetStream's JSON, pure: PubAcks, API replies, the stream config we ask for.
//!
//! Every JetStream reply is either the expected object or `{"error":{"code":…,"err_code":…,
//! "description":…}}`; [`parse_reply`] turns the latter into [`NatsError::JetStream`].

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::NatsError;
use crate::names::{StreamName, SubjectFilter};

/// JetStream's `err_code` for "stream not found".
pub const ERR_STREAM_NOT_FOUND: u32 = 10059;
/// JetStream's `err_code` for "stream name already in use with a different configuration".
pub const ERR_STREAM_NAME_IN_USE: u32 = 10058;

/// JetStream's acknowledgement of a stored (or de-duplicated) message.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PubAck {
    /// The stream that stored the message.
    pub stream: String,
    /// The message's sequence number in the stream (for a duplicate: the original's).
    pub seq: u64,
    /// True when the `Nats-Msg-Id` was seen within the stream's duplicate window: the message
    /// was not stored again.
    #[serde(default)]
    pub duplicate: bool,
}

/// What `$JS.API.STREAM.INFO` (and CREATE) return, reduced to the fields we use.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct StreamInfo {
    pub config: StreamConfig,
    pub state: StreamState,
}

/// The part of a stream's configuration that [`crate::Publisher::ensure_stream`] sets.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct StreamConfig {
    pub name: String,
    #[serde(default)]
    pub subjects: Vec<String>,
    pub storage: String,
}

/// A stream's counters.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct StreamState {
    pub messages: u64,
    pub bytes: u64,
    pub first_seq: u64,
    pub last_seq: u64,
}

#[derive(Deserialize)]
struct ApiError {
    code: u16,
    #[serde(default)]
    err_code: u32,
    #[serde(default)]
    description: String,
}

/// Parses a JetStream reply: the `error` object if there is one, `T` otherwise.
pub fn parse_reply<T: DeserializeOwned>(payload: &[u8]) -> Result<T, NatsError> {
    let value: serde_json::Value = serde_json::from_slice(payload).map_err(|e| NatsError::UnexpectedReply(format!("not json: {e}")))?;
    if let Some(error) = value.get("error") {
        let error = ApiError::deserialize(error).map_err(|e| NatsError::UnexpectedReply(format!("malformed error object: {e}")))?;
        return Err(NatsError::JetStream { code: error.code, err_code: error.err_code, description: error.description });
    }
    T::deserialize(value).map_err(|e| NatsError::UnexpectedReply(e.to_string()))
}

/// The body of `$JS.API.STREAM.CREATE.<name>`.
pub(crate) fn stream_create_request(name: &StreamName, subjects: &[SubjectFilter]) -> Vec<u8> {
    let subjects: Vec<&str> = subjects.iter().map(SubjectFilter::as_str).collect();
    serde_json::json!({ "name": name.as_str(), "subjects": subjects, "storage": "file" }).to_string().into_bytes()
}

/// Whether an existing stream has the subjects (in any order) and storage we ask for.
/// Other settings (limits, replicas, ...) are left to operators and not compared.
pub(crate) fn matches_config(existing: &StreamConfig, subjects: &[SubjectFilter]) -> bool {
    let mut have: Vec<&str> = existing.subjects.iter().map(String::as_str).collect();
    let mut want: Vec<&str> = subjects.iter().map(SubjectFilter::as_str).collect();
    have.sort_unstable();
    have.dedup();
    want.sort_unstable();
    want.dedup();
    existing.storage == "file" && have == want
}

/// The reply to `$JS.API.STREAM.DELETE.<name>`.
#[derive(Deserialize)]
pub(crate) struct DeleteReply {
    pub(crate) success: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pub_ack_and_errors() {
        let ack: PubAck = parse_reply(br#"{"stream":"S","seq":7}"#).unwrap();
        assert_eq!(ack, PubAck { stream: "S".into(), seq: 7, duplicate: false });
        let ack: PubAck = parse_reply(br#"{"stream":"S","seq":7,"duplicate":true}"#).unwrap();
        assert!(ack.duplicate);
        let err = parse_reply::<PubAck>(br#"{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"}}"#);
        assert!(
            matches!(err, Err(NatsError::JetStream { code: 503, err_code: 10077, ref description }) if description == "maximum messages exceeded")
        );
        assert!(matches!(parse_reply::<PubAck>(b"nope"), Err(NatsError::UnexpectedReply(_))));
        assert!(matches!(parse_reply::<PubAck>(br#"{"stream":"S"}"#), Err(NatsError::UnexpectedReply(_))));
        assert!(matches!(parse_reply::<PubAck>(br#"{"error":"x"}"#), Err(NatsError::UnexpectedReply(_))));
    }

    #[test]
    fn config_comparison_ignores_order_and_other_settings() {
        let want = [SubjectFilter::parse("a.>").unwrap(), SubjectFilter::parse("b").unwrap()];
        let existing = StreamConfig { name: "S".into(), subjects: vec!["b".into(), "a.>".into()], storage: "file".into() };
        assert!(matches_config(&existing, &want));
        assert!(!matches_config(&StreamConfig { storage: "memory".into(), ..existing.clone() }, &want));
        assert!(!matches_config(&StreamConfig { subjects: vec!["b".into()], ..existing }, &want));
    }

    #[test]
    fn create_request_json() {
        let body = stream_create_request(&StreamName::parse("S").unwrap(), &[SubjectFilter::parse("a.*").unwrap()]);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v, serde_json::json!({"name":"S","subjects":["a.*"],"storage":"file"}));
    }
}
