//! What the server accepts as a request body, on a real TLS server: every
//! JSON body is an object (an array is not read field by field), `ttl` as
//! a string or a number of seconds, and an oversized body always gets its
//! 413 answer instead of a reset connection.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod common;

use common::{Backend, TestServer};
use serde_json::{Value, json};

/// Every route that reads a JSON body (but `/v1/sys/unseal`, in tests/seal.rs).
fn body_routes(me: &str) -> Vec<(reqwest::Method, String)> {
    use reqwest::Method;
    let fake_subject = "sub_00000000000000000000000000000000";
    let fake_request = "req_00000000000000000000000000000000";
    [
        (Method::POST, "/v1/subjects".to_string()),
        (Method::PUT, "/v1/profiles/arrayprofile".to_string()),
        (Method::POST, "/v1/requests".to_string()),
        (Method::POST, format!("/v1/requests/{fake_request}/approve")),
        (Method::POST, format!("/v1/requests/{fake_request}/deny")),
        (Method::POST, "/v1/break-glass".to_string()),
        (Method::POST, "/v1/operators".to_string()),
        (Method::PUT, format!("/v1/operators/{me}")),
        (Method::POST, format!("/v1/operators/{me}/tokens")),
        (Method::POST, format!("/v1/operators/{me}/certificates")),
        (Method::PUT, "/v1/policy".to_string()),
        (Method::POST, "/v1/policy/explain".to_string()),
        (Method::POST, format!("/v1/subjects/{fake_subject}/suspend")),
        (Method::POST, format!("/v1/subjects/{fake_subject}/reinstate")),
        (Method::POST, format!("/v1/subjects/{fake_subject}/revoke")),
    ]
    .into_iter()
    .collect()
}

/// What the store holds that a body could have changed.
async fn everything(srv: &TestServer, me: &str) -> Vec<Value> {
    let mut all = Vec::new();
    for path in [
        "/v1/subjects?limit=1000".to_string(),
        "/v1/profiles".to_string(),
        "/v1/requests?limit=1000".to_string(),
        "/v1/operators".to_string(),
        format!("/v1/operators/{me}/tokens"),
        "/v1/policy/versions".to_string(),
        "/v1/credentials?limit=1000".to_string(),
    ] {
        let (status, v) = srv.get(&path).await;
        assert_eq!(status, 200, "{path}: {v}");
        all.push(v);
    }
    all
}

async fn send_raw(srv: &TestServer, method: reqwest::Method, path: &str, body: &str) -> (u16, Value) {
    let r = srv
        .http
        .request(method, srv.url(path))
        .bearer_auth(&srv.token)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    common::decode(r).await
}

both_backends!(a_body_that_is_not_a_json_object_is_refused_everywhere, |srv| {
    let (_, who) = srv.get("/v1/whoami").await;
    let me = who["actor"].as_str().unwrap().to_string();
    assert!(me.starts_with("op_"), "{who}");
    let before = everything(&srv, &me).await;

    // The attack: an operator as an array, its fields by position.
    let (status, p) = send_raw(&srv, reqwest::Method::POST, "/v1/operators", r#"["arrayop",["admin"],[],true,[],null,false]"#).await;
    assert_eq!(status, 400, "{p}");
    assert_eq!((p["type"].as_str(), p["field"].as_str()), (Some("urn:signet:problem:invalid-input"), Some("body")), "{p}");
    assert!(p["reason"].as_str().unwrap().contains("must be a JSON object, not an array"), "{p}");
    let (_, operators) = srv.get("/v1/operators").await;
    assert!(!operators.to_string().contains("arrayop"), "no operator was created: {operators}");

    // Every body route, every kind of JSON value that is not an object.
    let not_objects = [
        (r#"["arrayop",["admin"],[],true,[],null,false]"#, "an array"),
        (r#"["web","workload","team-web","serves the shop"]"#, "an array"),
        ("[]", "an array"),
        (r#""{\"name\":\"x\"}""#, "a string"),
        ("3600", "a number"),
        ("true", "a boolean"),
        ("null", "null"),
        (" \n [ ] ", "an array"),
    ];
    for (method, path) in body_routes(&me) {
        for (body, kind) in not_objects {
            let (status, p) = send_raw(&srv, method.clone(), &path, body).await;
            assert_eq!(status, 400, "{method} {path} {body}: {p}");
            assert_eq!(p["field"], "body", "{method} {path} {body}: {p}");
            assert!(p["reason"].as_str().unwrap().ends_with(&format!("not {kind}")), "{method} {path} {body}: {p}");
        }
    }

    // Deeper down too: a struct inside a body is an object, not an array.
    let subject = srv.create_subject("web").await;
    let (status, p) = srv
        .post("/v1/requests", &json!({ "subject": subject, "profile": "tls-server", "csr": "x", "names": [["evil.example.com"]] }))
        .await;
    assert_eq!((status, p["field"].as_str()), (400, Some("names")), "{p}");
    assert!(p["reason"].as_str().unwrap().contains("expected a JSON object"), "{p}");
    // The break-glass body too (it once flattened the request body, which serde
    // reads through its own buffer: arrays by position, unknown fields ignored).
    let bg = json!({ "subject": subject, "profile": "tls-server", "csr": "x", "reason": "r", "names": [["evil.example.com"]] });
    let (status, p) = srv.post("/v1/break-glass", &bg).await;
    assert_eq!((status, p["field"].as_str()), (400, Some("names")), "{p}");
    let bg = json!({ "subject": subject, "profile": "tls-server", "csr": "x", "reason": "r", "is_ca": true });
    let (status, p) = srv.post("/v1/break-glass", &bg).await;
    assert_eq!(status, 400, "an unknown break-glass field is refused: {p}");
    assert!(p["reason"].as_str().unwrap().contains("is_ca"), "{p}");
    let (status, p) =
        srv.put("/v1/profiles/arrayprofile", &json!({ "name": "arrayprofile", "max_ttl": "1d", "approvals": [1, "x"] })).await;
    assert_eq!((status, p["field"].as_str()), (400, Some("approvals")), "{p}");
    // And a key given twice is refused, not "the last one wins".
    let (status, p) =
        send_raw(&srv, reqwest::Method::POST, "/v1/operators", r#"{"name":"twice","roles":["auditor"],"roles":["admin"]}"#).await;
    assert_eq!(status, 400, "{p}");
    assert!(p["reason"].as_str().unwrap().contains("duplicate key `roles`"), "{p}");

    let mut after = everything(&srv, &me).await;
    // The one subject made above on purpose.
    let subjects = after[0]["items"].as_array_mut().unwrap();
    subjects.retain(|s| s["id"] != subject.as_str());
    assert_eq!(after, before, "nothing was created or changed");

    // An object is still read as before.
    let (status, v) = srv.post("/v1/operators", &json!({ "name": "objectop", "roles": ["auditor"] })).await;
    assert_eq!(status, 201, "{v}");
});

/// A certificate's lifetime in seconds, from its `not_before` and `not_after`.
fn lifetime(credential: &Value) -> i64 {
    let at =
        |k: &str| time::OffsetDateTime::parse(credential[k].as_str().unwrap(), &time::format_description::well_known::Rfc3339).unwrap();
    (at("not_after") - at("not_before")).whole_seconds()
}

both_backends!(ttl_is_a_number_of_seconds_or_a_string, |srv| {
    if !common::have_openssl() {
        return;
    }
    let subject = srv.create_subject("web").await;
    let tmp = tempfile::tempdir().unwrap();
    let (_, csr) = common::openssl_csr(tmp.path(), "web", "ec", "DNS:web.internal", &[]);
    let ask = |ttl: Value| json!({ "subject": subject, "profile": "tls-server", "csr": csr, "ttl": ttl });

    // docs/API.md's `3600` and the string forms give the same lifetime.
    let mut lifetimes = Vec::new();
    for ttl in [json!(3600), json!("3600"), json!("1h"), json!(7200)] {
        let (status, v) = srv.post("/v1/requests", &ask(ttl.clone())).await;
        assert_eq!(status, 201, "{ttl}: {v}");
        lifetimes.push(lifetime(&v["credential"]));
    }
    assert_eq!((lifetimes[0], lifetimes[1], lifetimes[2]), (lifetimes[0], lifetimes[0], lifetimes[0]), "{lifetimes:?}");
    assert_eq!(lifetimes[3] - lifetimes[0], 3600, "{lifetimes:?}");
    let before = srv.counts().await;

    // Bad numbers: 400 naming `ttl`, nothing written.
    for (ttl, words) in [
        ("0", "must be positive"),
        ("-5", "must be positive"),
        ("1.5", "whole number of seconds"),
        ("3600.0", "whole number of seconds"),
        ("1e30", "longer than 100 years"),
        ("99999999999999999999", "longer than 100 years"),
        ("3153600001", "longer than 100 years"),
        ("true", "expected a duration"),
        ("[3600]", "expected a duration"),
    ] {
        let body = format!(r#"{{"subject":"{subject}","profile":"tls-server","csr":{},"ttl":{ttl}}}"#, json!(csr));
        let (status, p) = send_raw(&srv, reqwest::Method::POST, "/v1/requests", &body).await;
        assert_eq!((status, p["field"].as_str()), (400, Some("ttl")), "{ttl}: {p}");
        assert!(p["reason"].as_str().unwrap().contains(words), "{ttl}: {p}");
    }
    assert_eq!(srv.counts().await, before, "a refused ttl wrote nothing");
    // Longer than the profile allows: refused by policy, as the string form is.
    let (status, p) = srv.post("/v1/requests", &ask(json!(31 * 86400))).await;
    assert_eq!((status, p["field"].as_str()), (422, Some("ttl")), "{p}");

    // A token's ttl too.
    let (_, who) = srv.get("/v1/whoami").await;
    let me = who["actor"].as_str().unwrap();
    let (status, v) = srv.post(&format!("/v1/operators/{me}/tokens"), &json!({ "name": "ci", "ttl": 86400 })).await;
    assert_eq!(status, 201, "{v}");
    let at =
        |k: &str| time::OffsetDateTime::parse(v["token"][k].as_str().unwrap(), &time::format_description::well_known::Rfc3339).unwrap();
    assert_eq!((at("expires_at") - at("created_at")).whole_seconds(), 86400, "{v}");
    let (status, p) = srv.post(&format!("/v1/operators/{me}/tokens"), &json!({ "name": "ci", "ttl": -1 })).await;
    assert_eq!((status, p["field"].as_str()), (400, Some("ttl")), "{p}");
});

/// A TLS connection to the test server, trusting only its `ca.pem`.
async fn connect_tls(addr: &str, ca_pem: &std::path::Path) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_file_iter(ca_pem).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(config)).connect(name, tcp).await.unwrap()
}

/// POST `body_len` bytes to `path` in one go, without `Expect:
/// 100-continue`, then read the answer until the server closes, as curl
/// does: what the server sent, or the error that cut the exchange (a reset
/// while sending makes a client give up before it reads any answer).
async fn post_oversized<S>(mut stream: S, path: &str, token: &str, body_len: usize) -> std::io::Result<Vec<u8>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: signet\r\nauthorization: Bearer {token}\r\ncontent-type: application/json\r\ncontent-length: {body_len}\r\n\r\n"
    );
    let mut request = head.into_bytes();
    request.resize(request.len() + body_len, b'A');
    stream.write_all(&request).await?;
    stream.flush().await?;
    let mut got = Vec::new();
    stream.read_to_end(&mut got).await?;
    Ok(got)
}

/// A complete HTTP/1.1 response: its status, content type and body, all
/// `content-length` bytes of it.
fn complete_response(raw: &[u8]) -> (u16, String, Vec<u8>) {
    let text = String::from_utf8_lossy(raw);
    let end = text.find("\r\n\r\n").unwrap_or_else(|| panic!("no complete head: {text}"));
    let head = text[..end].to_ascii_lowercase();
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    let header = |name: &str| {
        head.lines().find_map(|l| l.strip_prefix(&format!("{name}: ")).map(str::to_string)).unwrap_or_else(|| panic!("no {name}: {head}"))
    };
    let length: usize = header("content-length").parse().unwrap();
    let body = raw[end + 4..].to_vec();
    assert_eq!(body.len(), length, "the whole body arrived: {text}");
    (status, header("content-type"), body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_body_always_gets_its_answer_not_a_reset() {
    let srv = TestServer::start_with_status_listener(Default::default()).await;
    let tls_addr = srv.base.trim_start_matches("https://").to_string();
    let plain_addr = srv.status_base.clone().unwrap().trim_start_matches("http://").to_string();
    let ca = srv.config.data_dir.join("ca.pem");
    const TWO_MB: usize = 2 * 1024 * 1024;

    for attempt in 0..30 {
        // HTTPS: a JSON body over the 256 KiB limit gets its 413 problem, whole.
        let tls = connect_tls(&tls_addr, &ca).await;
        let raw = post_oversized(tls, "/v1/requests", &srv.token, TWO_MB)
            .await
            .unwrap_or_else(|e| panic!("attempt {attempt}: the 413 was cut by `{e}`"));
        let (status, content_type, body) = complete_response(&raw);
        assert_eq!((status, content_type.as_str()), (413, "application/problem+json"), "attempt {attempt}");
        let problem: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(problem["type"], "urn:signet:problem:body-too-large", "{problem}");

        // Plain HTTP (the status listener): an OCSP request over its 64 KiB
        // limit gets its malformedRequest answer, whole.
        let tcp = tokio::net::TcpStream::connect(&plain_addr).await.unwrap();
        let raw = post_oversized(tcp, "/ocsp", "none", TWO_MB)
            .await
            .unwrap_or_else(|e| panic!("attempt {attempt}: the OCSP answer was cut by `{e}`"));
        let (status, content_type, body) = complete_response(&raw);
        assert_eq!((status, content_type.as_str(), body), (200, "application/ocsp-response", vec![0x30, 0x03, 0x0a, 0x01, 0x01]));
    }

    // A well-behaved request on a new connection is served as before.
    let (status, v) = srv.get("/v1/whoami").await;
    assert_eq!(status, 200, "{v}");
    let r = reqwest::get(format!("{}/healthz", srv.status_base.as_ref().unwrap())).await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_keeps_sending_after_its_answer_loses_the_connection() {
    use signet_server::serve::{LINGER_MAX_BYTES, LINGER_TIMEOUT};
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let srv = TestServer::start_with_status_listener(Default::default()).await;
    let plain_addr = srv.status_base.clone().unwrap().trim_start_matches("http://").to_string();
    let head = |len: u64| {
        format!("POST /ocsp HTTP/1.1\r\nhost: signet\r\ncontent-type: application/ocsp-request\r\ncontent-length: {len}\r\n\r\n")
    };

    // A body of 1 GiB sent as fast as possible: the server stops reading
    // after LINGER_MAX_BYTES (and its buffers), not after the gigabyte.
    let mut flood = tokio::net::TcpStream::connect(&plain_addr).await.unwrap();
    flood.write_all(head(1 << 30).as_bytes()).await.unwrap();
    let chunk = vec![0u8; 64 * 1024];
    let mut sent: u64 = 0;
    let started = Instant::now();
    while flood.write_all(&chunk).await.is_ok() {
        sent += chunk.len() as u64;
        assert!(started.elapsed() < LINGER_TIMEOUT + Duration::from_secs(10), "still accepted after {sent} bytes");
    }
    assert!(sent < LINGER_MAX_BYTES + 64 * 1024 * 1024, "the server stopped reading after {sent} bytes");

    // A trickle (one byte every 100 ms after the first 100 KiB) is cut after LINGER_TIMEOUT.
    let mut trickle = tokio::net::TcpStream::connect(&plain_addr).await.unwrap();
    trickle.write_all(head(1 << 30).as_bytes()).await.unwrap();
    trickle.write_all(&vec![0u8; 100 * 1024]).await.unwrap();
    let mut answer = [0u8; 12];
    trickle.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer, b"HTTP/1.1 200", "the answer comes first");
    let answered = Instant::now();
    while trickle.write_all(&[0]).await.is_ok() {
        assert!(answered.elapsed() < LINGER_TIMEOUT + Duration::from_secs(5), "a trickling client kept its connection");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let held = answered.elapsed();
    assert!(held >= LINGER_TIMEOUT.mul_f32(0.9) && held < LINGER_TIMEOUT + Duration::from_secs(2), "held for {held:?}");
}
