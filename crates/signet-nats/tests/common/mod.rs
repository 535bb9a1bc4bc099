//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

/// The local NATS server with JetStream that CI runs.
pub const NATS_URL: &str = "nats://127.0.0.1:4222";

/// NATS must answer at 127.0.0.1:4222 (scripts/test starts one when it is
/// missing): otherwise the test fails, so it is never counted as passed.
pub async fn nats_available() -> bool {
    let up = matches!(tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect("127.0.0.1:4222")).await, Ok(Ok(_)));
    assert!(up, "NATS is not reachable at 127.0.0.1:4222: run scripts/test, which starts nats-server -js when it is missing");
    up
}

/// A random suffix for stream names and subjects, so tests never share state.
pub fn unique() -> String {
    format!("{:016x}", RandomState::new().hash_one(0u8))
}
