//! Against the real local NATS server with JetStream (127.0.0.1:4222).
//! Each test uses its own stream and subjects and deletes the stream at the end.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{NATS_URL, nats_available, unique};
use signet_nats::{NatsError, Publisher};

const TIMEOUT: Duration = Duration::from_secs(10);

struct TestStream {
    name: String,
    subject: String,
    filter: String,
}

fn test_stream() -> TestStream {
    let id = unique();
    TestStream { name: format!("SIGNET_TEST_{id}"), subject: format!("signet.test.{id}.log"), filter: format!("signet.test.{id}.>") }
}

#[tokio::test]
async fn ensure_stream_is_idempotent_and_refuses_a_different_config() {
    if !nats_available().await {
        return;
    }
    let publisher = Publisher::connect(NATS_URL, TIMEOUT).await.unwrap();
    let s = test_stream();

    let created = publisher.ensure_stream(&s.name, &[&s.filter]).await.unwrap();
    assert_eq!(created.config.name, s.name);
    assert_eq!(created.config.subjects, vec![s.filter.clone()]);
    assert_eq!(created.config.storage, "file");
    let again = publisher.ensure_stream(&s.name, &[&s.filter]).await.unwrap();
    assert_eq!(again.config, created.config);

    let other = format!("{}.other", s.filter.trim_end_matches(".>"));
    let err = publisher.ensure_stream(&s.name, &[&other]).await.unwrap_err();
    assert!(
        matches!(&err, NatsError::StreamConfigMismatch { existing_subjects, .. } if *existing_subjects == vec![s.filter.clone()]),
        "{err}"
    );

    publisher.delete_stream(&s.name).await.unwrap();
    assert!(matches!(publisher.stream_info(&s.name).await, Err(NatsError::StreamNotFound { .. })));
    assert!(matches!(publisher.delete_stream(&s.name).await, Err(NatsError::StreamNotFound { .. })));
}

#[tokio::test]
async fn publishes_1000_pipelined_messages_with_distinct_acks() {
    if !nats_available().await {
        return;
    }
    let publisher = Arc::new(Publisher::connect(NATS_URL, TIMEOUT).await.unwrap());
    let s = test_stream();
    publisher.ensure_stream(&s.name, &[&s.filter]).await.unwrap();

    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..1000u32 {
        let (publisher, subject) = (Arc::clone(&publisher), s.subject.clone());
        tasks.spawn(async move {
            let entry = format!(r#"{{"index":{index},"event":"issued"}}"#);
            publisher.publish(&subject, &index.to_string(), entry.as_bytes()).await
        });
    }
    let mut seqs = HashSet::new();
    while let Some(result) = tasks.join_next().await {
        let ack = result.unwrap().unwrap();
        assert_eq!(ack.stream, s.name);
        assert!(!ack.duplicate);
        assert!(seqs.insert(ack.seq), "seq {} acked twice", ack.seq);
    }
    assert_eq!(seqs.len(), 1000);
    assert_eq!(seqs.iter().copied().min(), Some(1));
    assert_eq!(seqs.iter().copied().max(), Some(1000));
    let info = publisher.stream_info(&s.name).await.unwrap();
    assert_eq!(info.state.messages, 1000);

    publisher.delete_stream(&s.name).await.unwrap();
}

#[tokio::test]
async fn duplicate_msg_id_is_acked_as_duplicate_and_not_stored() {
    if !nats_available().await {
        return;
    }
    let publisher = Publisher::connect(NATS_URL, TIMEOUT).await.unwrap();
    let s = test_stream();
    publisher.ensure_stream(&s.name, &[&s.filter]).await.unwrap();

    let first = publisher.publish(&s.subject, "41", b"entry 41").await.unwrap();
    let second = publisher.publish(&s.subject, "42", b"entry 42").await.unwrap();
    let again = publisher.publish(&s.subject, "41", b"entry 41").await.unwrap();
    assert!(!first.duplicate && !second.duplicate);
    assert!(again.duplicate);
    assert_eq!(again.seq, first.seq);
    assert_eq!(publisher.stream_info(&s.name).await.unwrap().state.messages, 2);

    publisher.delete_stream(&s.name).await.unwrap();
}

#[tokio::test]
async fn subject_without_stream_is_no_responders_and_connection_survives() {
    if !nats_available().await {
        return;
    }
    let publisher = Publisher::connect(NATS_URL, TIMEOUT).await.unwrap();
    let subject = format!("signet.nobody.{}", unique());
    let started = Instant::now();
    let err = publisher.publish(&subject, "1", b"x").await.unwrap_err();
    assert!(matches!(&err, NatsError::NoResponders { subject: s } if *s == subject), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2), "no responders should be immediate");
    assert!(err.to_string().contains("no stream captures it"));

    // The same connection still works.
    let s = test_stream();
    publisher.ensure_stream(&s.name, &[&s.filter]).await.unwrap();
    assert_eq!(publisher.publish(&s.subject, "1", b"x").await.unwrap().seq, 1);
    publisher.delete_stream(&s.name).await.unwrap();
}

#[tokio::test]
async fn invalid_input_is_refused_before_sending() {
    if !nats_available().await {
        return;
    }
    let publisher = Publisher::connect(NATS_URL, TIMEOUT).await.unwrap();
    let cases = [
        publisher.publish("signet log", "1", b"x").await,
        publisher.publish("signet..log", "1", b"x").await,
        publisher.publish("signet.>", "1", b"x").await,
        publisher.publish("signet.log\r\nPUB evil 1", "1", b"x").await,
        publisher.publish("signet.log", "1\r\nX: y", b"x").await,
        publisher.publish("signet.log", "", b"x").await,
    ];
    for result in cases {
        let err = result.unwrap_err();
        assert!(matches!(err, NatsError::InvalidSubject { .. } | NatsError::InvalidMsgId { .. }), "{err}");
    }
    assert!(matches!(publisher.ensure_stream("A.B", &["a"]).await, Err(NatsError::InvalidStreamName { .. })));
    assert!(matches!(publisher.ensure_stream("AB", &[]).await, Err(NatsError::InvalidSubject { .. })));
    assert!(matches!(publisher.ensure_stream("AB", &["a.>.b"]).await, Err(NatsError::InvalidSubject { .. })));

    // Larger than the server's max_payload (1 MiB by default): refused locally.
    let err = publisher.publish("signet.log", "1", &vec![0u8; 2 * 1024 * 1024]).await.unwrap_err();
    assert!(matches!(err, NatsError::PayloadTooLarge { .. }), "{err}");
}
