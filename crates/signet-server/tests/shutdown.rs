//! Connections: stopping the server (no new connections, the requests in
//! flight answered, then it returns), and clients that hold a connection
//! without sending a request.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod common;

use common::{Backend, TestServer};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A TLS connection to the test server, trusting only its `ca.pem`.
async fn connect(srv_addr: &str, ca_pem: &std::path::Path) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_file_iter(ca_pem).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(srv_addr).await?;
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_server_answers_the_request_in_flight_and_accepts_no_new_connection() {
    let srv = TestServer::start(Backend::Sqlite).await.unwrap();
    let addr = srv.base.trim_start_matches("https://").to_string();
    let ca = srv.config.data_dir.join("ca.pem");
    let body = r#"{"name":"in-flight","kind":"person"}"#;

    // A request whose body is still arriving when the stop comes.
    let mut tls = connect(&addr, &ca).await.unwrap();
    let head = format!(
        "POST /v1/subjects HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        srv.token,
        body.len()
    );
    tls.write_all(head.as_bytes()).await.unwrap();
    tls.write_all(&body.as_bytes()[..10]).await.unwrap();
    tls.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let stopping = tokio::spawn(srv.stop());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!stopping.is_finished(), "the server waits for the request in flight");
    assert!(connect(&addr, &ca).await.is_err(), "a stopping server accepts no new connection");

    tls.write_all(&body.as_bytes()[10..]).await.unwrap();
    tls.flush().await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut answer)).await.unwrap().unwrap_or_default();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("connection: close"), "the connection is closed after its last answer: {answer}");

    let (dir, _) = tokio::time::timeout(Duration::from_secs(5), stopping).await.expect("the server returns once drained").unwrap();
    // What was answered was committed: the subject is there after a restart.
    let srv = TestServer::start_in(dir, None).await;
    let (status, listed) = srv.get("/v1/subjects?limit=100").await;
    assert_eq!(status, 200);
    assert!(listed["items"].as_array().unwrap().iter().any(|s| s["name"] == "in-flight"), "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_event_stream_ends_when_the_server_stops_and_does_not_hold_it() {
    let srv = TestServer::start(Backend::Sqlite).await.unwrap();
    let mut stream =
        srv.http.get(srv.url("/v1/events")).bearer_auth(&srv.token).header("accept", "text/event-stream").send().await.unwrap();
    assert_eq!(stream.status(), 200);
    assert!(stream.chunk().await.unwrap().is_some(), "the stream sends the events so far");
    let started = std::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(5), srv.stop()).await.expect("the stop is not held by the stream");
    assert!(started.elapsed() < signet_server::serve::DRAIN_TIMEOUT);
    let ended = tokio::time::timeout(Duration::from_secs(5), async { while let Ok(Some(_)) = stream.chunk().await {} }).await;
    assert!(ended.is_ok(), "the stream ended");
}

/// Read until the server closes the connection (or errs), at most `limit`: what it sent.
async fn read_until_closed(c: &mut tokio::net::TcpStream, limit: Duration) -> Vec<u8> {
    let mut got = Vec::new();
    let _ = tokio::time::timeout(limit, c.read_to_end(&mut got)).await.expect("the server closed the connection");
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_sends_no_complete_request_head_loses_its_connection() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
    let timeout = Duration::from_millis(800);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(signet_server::serve::serve_with(
        listener,
        app,
        None,
        async {
            let _ = stopped.await;
        },
        timeout,
    ));

    // Half a request head, then nothing (slowloris); and nothing at all.
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nhost: signet\r\nx-slow: ").await.unwrap();
    let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    // A complete request is answered, and the connection may then idle as long, not longer.
    let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET / HTTP/1.1\r\nhost: signet\r\n\r\n").await.unwrap();

    let connected = std::time::Instant::now();
    for (name, c) in [("slow", &mut slow), ("silent", &mut silent), ("idle", &mut idle)] {
        let got = read_until_closed(c, Duration::from_secs(10)).await;
        let after = connected.elapsed();
        let got = String::from_utf8_lossy(&got);
        assert!(after >= timeout.mul_f32(0.9), "{name}: closed after {after:?}, before the timeout");
        match name {
            "idle" => assert!(got.starts_with("HTTP/1.1 200") && got.ends_with("ok"), "{name}: {got}"),
            _ => assert!(got.is_empty() || got.starts_with("HTTP/1.1 408"), "{name}: {got}"),
        }
    }
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
