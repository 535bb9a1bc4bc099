//! Against fake servers (a TcpListener in the test): misbehaving peers must give errors,
//! never panics or hangs, and a lost connection must be replaced on the next call.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use signet_nats::protocol::ProtocolError;
use signet_nats::{NatsError, Publisher};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

const TIMEOUT: Duration = Duration::from_secs(3);
const INFO: &str = "INFO {\"server_id\":\"fake\",\"version\":\"2.10.0\",\"headers\":true,\"max_payload\":1048576,\"jetstream\":true}\r\n";

type Peer = BufReader<TcpStream>;

async fn listen() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("nats://{}", listener.local_addr().unwrap());
    (listener, url)
}

async fn accept(listener: &TcpListener) -> Peer {
    BufReader::new(listener.accept().await.unwrap().0)
}

async fn read_line(peer: &mut Peer) -> String {
    let mut line = String::new();
    peer.read_line(&mut line).await.unwrap();
    line.trim_end().to_owned()
}

/// Sends INFO, expects CONNECT, SUB and PING, answers PONG. Returns the CONNECT line.
async fn handshake(peer: &mut Peer) -> String {
    peer.get_mut().write_all(INFO.as_bytes()).await.unwrap();
    let connect = read_line(peer).await;
    assert!(connect.starts_with("CONNECT {"), "{connect}");
    let sub = read_line(peer).await;
    assert!(sub.starts_with("SUB _INBOX.") && sub.ends_with(".* 1"), "{sub}");
    assert_eq!(read_line(peer).await, "PING");
    peer.get_mut().write_all(b"PONG\r\n").await.unwrap();
    connect
}

/// Reads one PUB or HPUB; returns (control line, reply subject, payload without headers).
async fn read_pub(peer: &mut Peer) -> (String, String, Vec<u8>) {
    let line = read_line(peer).await;
    let args: Vec<&str> = line.split(' ').collect();
    let (reply, header_len, total) = match args.as_slice() {
        ["PUB", _subject, reply, len] => (reply.to_string(), 0, len.parse::<usize>().unwrap()),
        ["HPUB", _subject, reply, hdr, total] => (reply.to_string(), hdr.parse().unwrap(), total.parse::<usize>().unwrap()),
        _ => panic!("expected PUB/HPUB, got {line:?}"),
    };
    let mut body = vec![0; total + 2];
    peer.read_exact(&mut body).await.unwrap();
    assert_eq!(&body[total..], b"\r\n");
    let payload = body[header_len..total].to_vec();
    (line, reply, payload)
}

async fn send_ack(peer: &mut Peer, reply: &str, seq: u64) {
    let ack = format!(r#"{{"stream":"FAKE","seq":{seq}}}"#);
    let msg = format!("MSG {reply} 1 {}\r\n{ack}\r\n", ack.len());
    peer.get_mut().write_all(msg.as_bytes()).await.unwrap();
}

/// A fake server that sends `bytes` right after accepting (instead of or after INFO).
async fn connect_to_server_sending(bytes: Vec<u8>) -> NatsError {
    let (listener, url) = listen().await;
    let server = tokio::spawn(async move {
        let mut peer = accept(&listener).await;
        let _ = peer.get_mut().write_all(&bytes).await;
        // Keep the socket open until the client gives up, draining what it sends.
        let mut sink = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), peer.read_to_end(&mut sink)).await;
    });
    let err = Publisher::connect(&url, TIMEOUT).await.unwrap_err();
    server.abort();
    err
}

#[tokio::test]
async fn connection_refused_fails_fast() {
    let (listener, url) = listen().await;
    drop(listener);
    let started = Instant::now();
    let err = Publisher::connect(&url, TIMEOUT).await.unwrap_err();
    assert!(matches!(err, NatsError::Connect { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
    assert!(err.to_string().starts_with("cannot connect to `127.0.0.1:"), "{err}");
}

#[tokio::test]
async fn invalid_url_is_refused_without_showing_the_password() {
    let err = Publisher::connect("nats://signet:hunter2@127.0.0.1:notaport", TIMEOUT).await.unwrap_err();
    assert!(matches!(err, NatsError::InvalidUrl { .. }), "{err}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
    assert!(!format!("{err:?}").contains("hunter2"), "{err:?}");
}

#[tokio::test]
async fn garbage_instead_of_info_is_a_protocol_error() {
    let err = connect_to_server_sending(b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec()).await;
    assert!(matches!(err, NatsError::Protocol(ProtocolError::UnknownOp(_))), "{err}");
    let err = connect_to_server_sending(b"\xff\xfe\x00garbage\r\n".to_vec()).await;
    assert!(matches!(err, NatsError::Protocol(ProtocolError::NotUtf8)), "{err}");
    let err = connect_to_server_sending(b"INFO not json\r\n".to_vec()).await;
    assert!(matches!(err, NatsError::Protocol(ProtocolError::BadInfo(_))), "{err}");
}

#[tokio::test]
async fn huge_line_is_refused() {
    let mut bytes = INFO.as_bytes().to_vec();
    bytes.extend(std::iter::repeat_n(b'A', 200 * 1024));
    let err = connect_to_server_sending(bytes).await;
    assert!(matches!(err, NatsError::Protocol(ProtocolError::LineTooLong { .. })), "{err}");
}

#[tokio::test]
async fn err_from_server_is_an_error_with_its_text() {
    let (listener, url) = listen().await;
    tokio::spawn(async move {
        let mut peer = accept(&listener).await;
        peer.get_mut().write_all(INFO.as_bytes()).await.unwrap();
        let _connect = read_line(&mut peer).await;
        peer.get_mut().write_all(b"-ERR 'Authorization Violation'\r\n").await.unwrap();
    });
    let err = Publisher::connect(&url, TIMEOUT).await.unwrap_err();
    assert!(matches!(&err, NatsError::Server(text) if text == "Authorization Violation"), "{err}");
}

#[tokio::test]
async fn unsupported_servers_are_refused() {
    let no_headers = b"INFO {\"headers\":false}\r\n".to_vec();
    assert!(matches!(connect_to_server_sending(no_headers).await, NatsError::UnsupportedServer(_)));
    let tls = b"INFO {\"headers\":true,\"tls_required\":true}\r\n".to_vec();
    let err = connect_to_server_sending(tls).await;
    assert!(matches!(&err, NatsError::UnsupportedServer(m) if m.contains("tls")), "{err}");
}

#[tokio::test]
async fn silent_server_times_out() {
    let (listener, url) = listen().await;
    let _server = tokio::spawn(async move {
        let _peer = accept(&listener).await;
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    let started = Instant::now();
    let err = Publisher::connect(&url, Duration::from_millis(300)).await.unwrap_err();
    assert!(matches!(err, NatsError::Timeout { what: "connect", .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn credentials_go_in_connect() {
    let (listener, url) = listen().await;
    let server = tokio::spawn(async move {
        let mut peer = accept(&listener).await;
        handshake(&mut peer).await
    });
    let url = url.replace("nats://", "nats://signet:s%40cret@");
    let publisher = Publisher::connect(&url, TIMEOUT).await.unwrap();
    let connect = server.await.unwrap();
    let options: serde_json::Value = serde_json::from_str(connect.trim_start_matches("CONNECT ")).unwrap();
    assert_eq!(options["user"], "signet");
    assert_eq!(options["pass"], "s@cret");
    assert_eq!(options["headers"], true);
    assert_eq!(options["no_responders"], true);
    assert_eq!(options["verbose"], false);
    assert_eq!(options["name"], "signet");
    assert!(!format!("{publisher:?}").contains("s@cret"));
    assert!(format!("{}", publisher.url()).contains("signet:[redacted]@"));
}

#[tokio::test]
async fn answers_ping_and_sends_msg_id_header() {
    let (listener, url) = listen().await;
    let server = tokio::spawn(async move {
        let mut peer = accept(&listener).await;
        handshake(&mut peer).await;
        let (line, reply, payload) = read_pub(&mut peer).await;
        peer.get_mut().write_all(b"PING\r\n").await.unwrap();
        assert_eq!(read_line(&mut peer).await, "PONG");
        send_ack(&mut peer, &reply, 9).await;
        (line, payload)
    });
    let publisher = Publisher::connect(&url, TIMEOUT).await.unwrap();
    let ack = publisher.publish("signet.log", "17", b"entry").await.unwrap();
    assert_eq!((ack.stream.as_str(), ack.seq, ack.duplicate), ("FAKE", 9, false));
    let (line, payload) = server.await.unwrap();
    assert!(line.starts_with("HPUB signet.log _INBOX."), "{line}");
    assert_eq!(payload, b"entry");
}

#[tokio::test]
async fn garbage_after_handshake_fails_the_request_then_reconnects() {
    let (listener, url) = listen().await;
    tokio::spawn(async move {
        let mut first = accept(&listener).await;
        handshake(&mut first).await;
        let _ = read_pub(&mut first).await;
        first.get_mut().write_all(b"MSG x 1 99999999\r\n").await.unwrap();
        let mut second = accept(&listener).await;
        handshake(&mut second).await;
        let (_, reply, _) = read_pub(&mut second).await;
        send_ack(&mut second, &reply, 2).await;
        let (_, reply, _) = read_pub(&mut second).await;
        second.get_mut().write_all(format!("HMSG {reply} 1 5000000 5000000\r\n").as_bytes()).await.unwrap();
        let _keep_open = first;
        tokio::time::sleep(Duration::from_secs(5)).await;
    });
    let publisher = Publisher::connect(&url, TIMEOUT).await.unwrap();
    let err = publisher.publish("signet.log", "1", b"x").await.unwrap_err();
    assert!(matches!(err, NatsError::Protocol(ProtocolError::MessageTooLarge { .. })), "{err}");
    assert_eq!(publisher.publish("signet.log", "1", b"x").await.unwrap().seq, 2);
    let err = publisher.publish("signet.log", "2", b"x").await.unwrap_err();
    assert!(matches!(err, NatsError::Protocol(ProtocolError::MessageTooLarge { .. })), "{err}");
}

#[tokio::test]
async fn reconnects_after_the_server_closes_the_connection() {
    let (listener, url) = listen().await;
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    tokio::spawn(async move {
        for seq in 1..=3 {
            let mut peer = accept(&listener).await;
            counter.fetch_add(1, Ordering::SeqCst);
            handshake(&mut peer).await;
            let (_, reply, _) = read_pub(&mut peer).await;
            send_ack(&mut peer, &reply, seq).await;
            // then close the connection
        }
    });
    let publisher = Publisher::connect(&url, TIMEOUT).await.unwrap();
    for seq in 1..=3 {
        // Give the reader task a moment to notice the close (otherwise the request may be
        // written to the dying socket and fail with ConnectionLost, which is also correct).
        tokio::time::sleep(Duration::from_millis(100)).await;
        let ack = publisher.publish("signet.log", &seq.to_string(), b"x").await.unwrap();
        assert_eq!(ack.seq, seq);
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn in_flight_requests_fail_when_the_connection_drops() {
    let (listener, url) = listen().await;
    tokio::spawn(async move {
        let mut peer = accept(&listener).await;
        handshake(&mut peer).await;
        let _ = read_pub(&mut peer).await;
        let _ = read_pub(&mut peer).await;
        drop(peer);
    });
    let publisher = Publisher::connect(&url, TIMEOUT).await.unwrap();
    let (a, b) = tokio::join!(publisher.publish("signet.log", "1", b"x"), publisher.publish("signet.log", "2", b"y"));
    for result in [a, b] {
        let err = result.unwrap_err();
        assert!(matches!(&err, NatsError::ConnectionLost(m) if m.contains("closed")), "{err}");
    }
}

#[tokio::test]
async fn unanswered_request_times_out_and_the_next_call_reconnects() {
    let (listener, url) = listen().await;
    tokio::spawn(async move {
        let mut first = accept(&listener).await;
        handshake(&mut first).await;
        let _ = read_pub(&mut first).await; // never answered
        let mut second = accept(&listener).await;
        handshake(&mut second).await;
        let (_, reply, _) = read_pub(&mut second).await;
        send_ack(&mut second, &reply, 5).await;
        let _keep_open = (first, second);
        tokio::time::sleep(Duration::from_secs(5)).await;
    });
    let publisher = Publisher::connect(&url, Duration::from_millis(500)).await.unwrap();
    let err = publisher.publish("signet.log", "1", b"x").await.unwrap_err();
    assert!(matches!(err, NatsError::Timeout { what: "request", .. }), "{err}");
    assert_eq!(publisher.publish("signet.log", "1", b"x").await.unwrap().seq, 5);
}

#[tokio::test]
async fn server_gone_gives_connect_errors_within_the_timeout() {
    let (listener, url) = listen().await;
    tokio::spawn(async move {
        let mut peer = accept(&listener).await;
        handshake(&mut peer).await;
        drop(listener);
        // closing `peer` here drops the connection; the listener is gone too
    });
    let publisher = Publisher::connect(&url, Duration::from_millis(800)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    for _ in 0..3 {
        let started = Instant::now();
        let err = publisher.publish("signet.log", "1", b"x").await.unwrap_err();
        assert!(matches!(err, NatsError::Connect { .. } | NatsError::Timeout { .. } | NatsError::ConnectionLost(_)), "{err}");
        assert!(started.elapsed() < Duration::from_millis(1500), "took {:?}", started.elapsed());
    }
}

#[tokio::test]
async fn payload_above_server_max_payload_is_refused_locally() {
    let (listener, url) = listen().await;
    tokio::spawn(async move {
        let mut peer = accept(&listener).await;
        peer.get_mut().write_all(b"INFO {\"headers\":true,\"max_payload\":64}\r\n").await.unwrap();
        let _ = read_line(&mut peer).await;
        let _ = read_line(&mut peer).await;
        let _ = read_line(&mut peer).await;
        peer.get_mut().write_all(b"PONG\r\n").await.unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
    });
    let publisher = Publisher::connect(&url, TIMEOUT).await.unwrap();
    let err = publisher.publish("signet.log", "1", &[0u8; 64]).await.unwrap_err();
    assert!(matches!(err, NatsError::PayloadTooLarge { max: 64, .. }), "{err}");
}
