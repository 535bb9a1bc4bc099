//! Log entries forwarded to NATS JetStream, read back by an independent
//! client (nats-py), byte for byte and in order.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod common;

use common::{Backend, TestServer};
use serde_json::json;
use std::process::Command;

const NATS: &str = "nats://127.0.0.1:4222";

fn nats_ready() -> bool {
    let up = std::net::TcpStream::connect("127.0.0.1:4222").is_ok();
    let py = Command::new("python3").args(["-c", "import nats"]).output().map(|o| o.status.success()).unwrap_or(false);
    assert!(up && py, "NATS at 127.0.0.1:4222 and python3 nats-py are needed by this test: run scripts/test, which provides them");
    up && py
}

/// Read every message of `stream` with nats-py: `[{"id": …, "data": …}]`.
fn read_stream(stream: &str, subject: &str, expect: usize) -> Vec<serde_json::Value> {
    let script = r#"
import asyncio, json, sys
import nats
async def main(stream, subject, expect):
    nc = await nats.connect("nats://127.0.0.1:4222")
    js = nc.jetstream()
    sub = await js.subscribe(subject, stream=stream, ordered_consumer=True)
    out = []
    try:
        while len(out) < expect:
            m = await sub.next_msg(timeout=10)
            out.append({"id": (m.headers or {}).get("Nats-Msg-Id"), "data": m.data.decode()})
    finally:
        await nc.close()
    print(json.dumps(out))
asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"#;
    let out = Command::new("python3").args(["-c", script, stream, subject, &expect.to_string()]).output().unwrap();
    assert!(out.status.success(), "nats-py: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_log_entry_reaches_jetstream_in_order() {
    if !nats_ready() {
        return;
    }
    let srv = TestServer::start(Backend::Sqlite).await.unwrap();
    let mut rnd = [0u8; 6];
    signet_core::ports::Rng::fill(&signet_core::clock::SystemRng, &mut rnd);
    let tag = signet_core::authority::hex(&rnd);
    let stream = format!("SIGNET_TEST_{tag}");
    let subject = format!("signet.test.{tag}");
    let events = signet_server::config::EventsConfig { url: NATS.into(), subject: subject.clone(), stream: stream.clone() };
    let forwarder = tokio::spawn(signet_server::bootstrap::run_forwarder(srv.state(), events));

    let subject_id = srv.create_subject("web").await;
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let csr = rcgen::CertificateParams::new(vec!["web.internal".into()]).unwrap().serialize_request(&key).unwrap().pem().unwrap();
    let (s, issued) = srv.post("/v1/requests", &json!({ "subject": subject_id, "profile": "tls-server", "csr": csr })).await;
    assert_eq!(s, 201);

    let (_, entries) = srv.get("/log/v1/entries?limit=1000").await;
    let entries = entries["items"].as_array().unwrap().clone();
    assert!(entries.len() >= 6, "bootstrap events, the subject and the issuance");
    let got = tokio::task::spawn_blocking({
        let (stream, subject, n) = (stream.clone(), subject.clone(), entries.len());
        move || read_stream(&stream, &subject, n)
    })
    .await
    .unwrap();
    assert_eq!(got.len(), entries.len());
    let origin = srv.get_text("/log/key").await.split('+').next().unwrap().to_string();
    for (msg, entry) in got.iter().zip(&entries) {
        assert_eq!(msg["data"], entry["entry"], "the exact entry bytes");
        assert_eq!(msg["id"].as_str().unwrap(), format!("{origin}/{}", entry["index"]));
    }
    let last = got.last().unwrap();
    assert!(last["data"].as_str().unwrap().contains(issued["credential"]["id"].as_str().unwrap()));

    forwarder.abort();
    let p = signet_nats::Publisher::connect(NATS, std::time::Duration::from_secs(5)).await.unwrap();
    p.delete_stream(&stream).await.unwrap();
}
