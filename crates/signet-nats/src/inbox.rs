//! Unique reply inboxes: `_INBOX.<random>` per connection, `_INBOX.<random>.<n>` per request.
//!
//! The random part only has to be unique among the clients of one NATS account; it is not a
//! secret (NATS permissions, not unguessable names, decide who may subscribe). It comes from
//! std's `RandomState`, whose SipHash keys are seeded from the OS per process, so we need no
//! RNG crate.

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};

/// `_INBOX.<random>`: the reply subject prefix of one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxPrefix(String);

impl InboxPrefix {
    /// A fresh prefix with 128 random bits.
    pub fn random() -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let state = RandomState::new();
        let (a, b) = (state.hash_one((n, 0u8)), state.hash_one((n, 1u8)));
        Self(format!("_INBOX.{a:016x}{b:016x}"))
    }

    /// The subscription subject covering every request of the connection.
    pub fn wildcard(&self) -> String {
        format!("{}.*", self.0)
    }

    /// The reply subject of request `token`.
    pub fn reply_subject(&self, token: u64) -> String {
        format!("{}.{token}", self.0)
    }

    /// The request token of a reply subject, if the subject is one of ours.
    pub fn token_of(&self, subject: &str) -> Option<u64> {
        let rest = subject.strip_prefix(self.0.as_str())?.strip_prefix('.')?;
        if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        rest.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_unique_and_tokens_round_trip() {
        let (a, b) = (InboxPrefix::random(), InboxPrefix::random());
        assert_ne!(a, b);
        assert_eq!(a.0.len(), "_INBOX.".len() + 32);
        assert_eq!(a.token_of(&a.reply_subject(42)), Some(42));
        assert_eq!(a.token_of(&b.reply_subject(42)), None);
        assert_eq!(a.token_of(&format!("{}.x", a.0)), None);
        assert_eq!(a.token_of(&format!("{}.+1", a.0)), None);
        assert_eq!(a.token_of(&a.0), None);
        assert!(a.wildcard().ends_with(".*"));
    }
}
