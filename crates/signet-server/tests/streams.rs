//! An open event stream (`/v1/events`, Server-Sent Events) lives no longer
//! than its caller's access: it ends within a second of its token being
//! revoked (here, or in another process: directly in the store), of its
//! operator being disabled or losing `log.read`, and of its operator's
//! client certificate being refused; a stream whose caller keeps access
//! keeps delivering.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod common;

use common::{Backend, TestServer, decode, openssl_csr};
use serde_json::{Value, json};
use sqlx::Connection;
use std::time::Duration;
use tokio::time::Instant;

/// An operator with `roles` at every site and its token, as enrolment gives
/// it (the admin never holds it): (operator id, token id, secret).
async fn operator(srv: &TestServer, name: &str, roles: &[&str]) -> (String, String, String) {
    let (secret, verifier) = signet_core::sod::new_enrolment_code(&signet_core::clock::SystemRng);
    let body = json!({ "name": name, "roles": roles, "all_sites": true, "enrolment_verifier": verifier });
    let (s, op) = srv.post("/v1/operators", &body).await;
    assert_eq!(s, 201, "{op}");
    let id = op["id"].as_str().unwrap().to_string();
    let (s, t) = srv.enrol(&id, &secret).await;
    assert_eq!(s, 201, "{t}");
    (id, t["token"]["id"].as_str().unwrap().to_string(), t["secret"].as_str().unwrap().to_string())
}

async fn open(client: &reqwest::Client, srv: &TestServer, token: Option<&str>) -> reqwest::Response {
    let mut rb = client.get(srv.url("/v1/events")).header("accept", "text/event-stream");
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    let r = rb.send().await.unwrap();
    assert_eq!(r.status(), 200);
    r
}

/// Read until the text holds `needle`; the text read.
async fn read_until(stream: &mut reqwest::Response, needle: &str) -> String {
    let mut text = String::new();
    tokio::time::timeout(Duration::from_secs(5), async {
        while !text.contains(needle) {
            match stream.chunk().await.unwrap() {
                Some(c) => text.push_str(&String::from_utf8_lossy(&c)),
                None => panic!("the stream ended before `{needle}`: {text}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no `{needle}` within 5 s: {text}"));
    text
}

/// Read to the end of the stream (at most `limit`): the text and how long it took.
async fn read_to_end(stream: &mut reqwest::Response, limit: Duration) -> (String, Duration) {
    let started = Instant::now();
    let mut text = String::new();
    let ended = tokio::time::timeout(limit, async {
        while let Ok(Some(c)) = stream.chunk().await {
            text.push_str(&String::from_utf8_lossy(&c));
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream is still open after {limit:?}: {text}");
    (text, started.elapsed())
}

async fn subject(srv: &TestServer, name: &str) -> String {
    srv.create_subject(name).await
}

/// The stream ends within about a second, and the event logged right after
/// the change (`subject` created now) is not delivered.
async fn ends_without(srv: &TestServer, stream: &mut reqwest::Response, what: &str) {
    let after = subject(srv, &format!("after-{what}")).await;
    let (text, took) = read_to_end(stream, Duration::from_secs(3)).await;
    assert!(took < Duration::from_millis(1500), "{what}: the stream ended after {took:?}");
    assert!(!text.contains(&after), "{what}: an event logged after the change was delivered: {text}");
}

both_backends!(a_stream_ends_when_its_token_is_revoked, |srv| {
    let (_, token_id, secret) = operator(&srv, "watcher", &["auditor"]).await;
    let before = subject(&srv, "before").await;
    let mut stream = open(&srv.http, &srv, Some(&secret)).await;
    read_until(&mut stream, &before).await;
    let (s, v) = decode(srv.http.delete(srv.url(&format!("/v1/tokens/{token_id}"))).bearer_auth(&srv.token).send().await.unwrap()).await;
    assert!(s < 300, "{s} {v}");
    ends_without(&srv, &mut stream, "revocation").await;
});

both_backends!(a_stream_ends_when_its_token_is_revoked_by_another_process, |srv| {
    let (_, token_id, secret) = operator(&srv, "watcher", &["auditor"]).await;
    let before = subject(&srv, "before").await;
    let mut stream = open(&srv.http, &srv, Some(&secret)).await;
    read_until(&mut stream, &before).await;
    // Not through this server: what another server process sharing the store writes.
    let sql = "UPDATE operator_tokens SET revoked = $1 WHERE id = $2";
    let rows = match &srv.pg {
        Some(pg) => {
            let mut c = sqlx::PgConnection::connect(&pg.url).await.unwrap();
            sqlx::query(sql).bind(true).bind(&token_id).execute(&mut c).await.unwrap().rows_affected()
        }
        None => {
            let url = format!("sqlite://{}", srv.config.data_dir.join("signet.db").display());
            let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::query(sql).bind(true).bind(&token_id).execute(&mut c).await.unwrap().rows_affected()
        }
    };
    assert_eq!(rows, 1);
    let (_, took) = read_to_end(&mut stream, Duration::from_secs(3)).await;
    assert!(took < Duration::from_millis(1500), "the stream ended after {took:?}");
});

both_backends!(a_stream_ends_when_its_operator_is_disabled_or_loses_log_read, |srv| {
    for (name, change) in [
        ("disabled", json!({ "name": "disabled", "roles": ["auditor"], "all_sites": true, "disabled": true })),
        ("demoted", json!({ "name": "demoted", "roles": ["registration_officer"], "all_sites": true })),
    ] {
        let (id, _, secret) = operator(&srv, name, &["auditor"]).await;
        let before = subject(&srv, &format!("before-{name}")).await;
        let mut stream = open(&srv.http, &srv, Some(&secret)).await;
        read_until(&mut stream, &before).await;
        let (s, v) = srv.put(&format!("/v1/operators/{id}"), &change).await;
        assert_eq!(s, 200, "{v}");
        ends_without(&srv, &mut stream, name).await;
    }
});

both_backends!(a_stream_whose_caller_keeps_access_keeps_delivering, |srv| {
    let (_, _, secret) = operator(&srv, "watcher", &["auditor"]).await;
    let mut stream = open(&srv.http, &srv, Some(&secret)).await;
    for i in 0..3 {
        let id = subject(&srv, &format!("s{i}")).await;
        read_until(&mut stream, &id).await;
        // Past several re-checks of its access.
        tokio::time::sleep(Duration::from_millis(1200)).await;
    }
});

both_backends!(a_stream_over_mtls_ends_when_its_operator_is_disabled, |srv| {
    if !common::have_openssl() {
        return;
    }
    let (id, _, secret) = operator(&srv, "cert-watcher", &["auditor"]).await;
    let (_, csr) = openssl_csr(srv.dir.path(), "cert-watcher", "ec", "", &[]);
    // The operator asks for its own certificate (nobody else may).
    let r = srv.http.post(srv.url(&format!("/v1/operators/{id}/certificates"))).bearer_auth(&secret).json(&json!({ "csr": csr }));
    let (s, v) = decode(r.send().await.unwrap()).await;
    assert_eq!(s, 201, "{v}");
    let mut pem = std::fs::read(srv.dir.path().join("cert-watcher.key")).unwrap();
    pem.extend(v["chain_pem"].as_str().unwrap().as_bytes());
    let mut b = reqwest::Client::builder().identity(reqwest::Identity::from_pem(&pem).unwrap());
    for c in reqwest::Certificate::from_pem_bundle(&std::fs::read(srv.config.data_dir.join("ca.pem")).unwrap()).unwrap() {
        b = b.add_root_certificate(c);
    }
    let client = b.build().unwrap();

    let before = subject(&srv, "before").await;
    let mut stream = open(&client, &srv, None).await;
    read_until(&mut stream, &before).await;
    let change: Value = json!({ "name": "cert-watcher", "roles": ["auditor"], "all_sites": true, "disabled": true });
    let (s, v) = srv.put(&format!("/v1/operators/{id}"), &change).await;
    assert_eq!(s, 200, "{v}");
    ends_without(&srv, &mut stream, "certificate").await;
});
