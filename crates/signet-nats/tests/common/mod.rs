//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

/// The local NATS server with JetStream that CI runs.
pub const NATS_URL: &str = "nats://127.0.0.1:4222";

/// True if NATS answers at 127.0.0.1:4222. Otherwise prints a notice and returns false, or
/// panics when `CI=true` (CI must not silently skip).
pub async fn nats_available() -> bool {
    let up = matches!(tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect("127.0.0.1:4222")).await, Ok(Ok(_)));
    if !up {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("NATS is not reachable at 127.0.0.1:4222 and CI=true");
        }
        eprintln!("skipping: NATS is not reachable at 127.0.0.1:4222 (start nats-server -js; CI=true makes this fail)");
    }
    up
}

/// A random suffix for stream names and subjects, so tests never share state.
pub fn unique() -> String {
    format!("{:016x}", RandomState::new().hash_one(0u8))
}
