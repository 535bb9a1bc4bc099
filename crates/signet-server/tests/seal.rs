//! The production path: `signet init` (Shamir shares), a server that starts
//! sealed, unseals share by share over TLS, issues, seals and unseals again.
//! Run on SQLite and PostgreSQL; certificates checked by openssl.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod common;

use common::{Backend, GatedServer, have_openssl, openssl_csr, openssl_verify, pg_database};
use serde_json::{Value, json};
use signet_server::init::init;
use std::sync::Arc;

/// `signet init` into `dir/data`; returns the share texts.
fn init_shares(dir: &std::path::Path, n: u8, m: u8) -> Vec<String> {
    let done = init(&dir.join("data"), n, m, None).unwrap();
    assert_eq!((done.total, done.threshold), (n, m));
    done.shares.iter().map(|s| s.reveal().to_string()).collect()
}

/// Change one character of the share part (the 4th field) of a share.
fn corrupt(share: &str) -> String {
    let mut fields: Vec<String> = share.split(':').map(str::to_string).collect();
    let y = &mut fields[3];
    let first = y.remove(0);
    y.insert(0, if first == 'A' { 'B' } else { 'A' });
    fields.join(":")
}

async fn events(srv: &GatedServer, token: &str, kind: &str) -> Vec<Value> {
    let (status, v) = srv.get(&format!("/log/v1/search?type={kind}&limit=1000"), Some(token)).await;
    assert_eq!(status, 200, "{v}");
    v["items"].as_array().unwrap().clone()
}

async fn issue_and_verify(srv: &GatedServer, token: &str, name: &str) {
    let (status, subject) = srv
        .post("/v1/subjects", Some(token), &json!({ "name": name, "kind": "workload", "owner": "team-web", "purpose": "serves the shop" }))
        .await;
    assert_eq!(status, 201, "{subject}");
    let tmp = tempfile::tempdir().unwrap();
    let (_, csr) = openssl_csr(tmp.path(), name, "ec", &format!("DNS:{name}.internal"), &[]);
    let (status, v) =
        srv.post("/v1/requests", Some(token), &json!({ "subject": subject["id"], "profile": "tls-server", "csr": csr, "ttl": "1h" })).await;
    assert_eq!(status, 201, "{v}");
    let (ok, out) = openssl_verify(tmp.path(), v["chain_pem"].as_str().unwrap(), &srv.config.data_dir.join("ca.pem"));
    assert!(ok, "openssl verify: {out}");
}

fn assert_problem(status: u16, v: &Value, want_status: u16, kind: &str) {
    assert_eq!(status, want_status, "{v}");
    assert_eq!(v["type"], format!("urn:signet:problem:{kind}"), "{v}");
}

/// openssl connects and verifies the server's certificate (and its IP name) against `ca_file`.
fn openssl_verifies_server(srv: &GatedServer, ca_file: &str) {
    let addr = srv.base.trim_start_matches("https://");
    let out = std::process::Command::new("openssl")
        .args(["s_client", "-connect", addr, "-verify_return_error", "-verify_ip", "127.0.0.1", "-CAfile"])
        .arg(srv.config.data_dir.join(ca_file))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("Verify return code: 0 (ok)"),
        "{ca_file}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn assert_sealed_with_progress(srv: &GatedServer, progress: u64) {
    let (status, v) = srv.get("/v1/sys/seal-status", None).await;
    assert_eq!(status, 200);
    assert_eq!(v["sealed"], true, "{v}");
    assert_eq!(v["progress"], progress, "{v}");
}

async fn full_ceremony(backend: Backend) {
    if !have_openssl() {
        return;
    }
    let pg = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => match pg_database().await {
            Some(db) => Some(Arc::new(db)),
            None => return,
        },
    };
    let dir = tempfile::tempdir().unwrap();
    let shares = init_shares(dir.path(), 5, 3);
    let other = tempfile::tempdir().unwrap();
    let foreign = init_shares(other.path(), 5, 3);
    let srv = GatedServer::start_in(dir, pg).await;
    assert!(srv.gate.is_sealed());
    // No authority yet: nothing but the seal and the unseal TLS CA.
    assert!(!srv.config.data_dir.join("admin-token").exists());
    assert!(!srv.config.data_dir.join("unseal-key").exists());
    assert!(srv.config.data_dir.join("unseal-ca.pem").exists());

    // Sealed: health answers, readiness says sealed, every other route 503 `sealed`.
    let (status, v) = srv.get("/healthz", None).await;
    assert_eq!((status, &v["status"]), (200, &json!("ok")));
    let (status, v) = srv.get("/readyz", None).await;
    assert_problem(status, &v, 503, "sealed");
    assert!(v["request_id"].as_str().unwrap().starts_with('r'));
    let (status, v) = srv.post("/v1/requests", Some("signet_whatever"), &json!({})).await;
    assert_problem(status, &v, 503, "sealed");
    for path in ["/v1/subjects", "/ca.pem", "/crl", "/log/checkpoint", "/no/such/path"] {
        let (status, v) = srv.get(path, None).await;
        assert_problem(status, &v, 503, "sealed");
    }
    let (status, v) = srv.post("/v1/sys/seal", None, &json!({})).await;
    assert_problem(status, &v, 503, "sealed");
    let (status, v) = srv.get("/v1/sys/seal-status", None).await;
    assert_eq!(status, 200);
    let seal_id = v["seal_id"].as_str().unwrap().to_string();
    assert_eq!(v, json!({ "sealed": true, "unseal": "shares", "shares": 5, "threshold": 3, "progress": 0, "seal_id": seal_id }));
    assert!(shares[0].contains(&seal_id));
    // While sealed, the certificate comes from the unseal TLS CA.
    openssl_verifies_server(&srv, "unseal-ca.pem");

    // Two shares: still sealed, progress 2 of 3; each share-holder gets the
    // unseal's progress token, the public status never shows it.
    let mut tokens = Vec::new();
    for (i, share) in shares[..2].iter().enumerate() {
        let (status, v) = srv.unseal(share).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!((v["sealed"].as_bool(), v["progress"].as_u64()), (Some(true), Some(i as u64 + 1)));
        tokens.push(v["progress_token"].as_str().unwrap().to_string());
    }
    assert!(tokens[0].starts_with("unseal_") && tokens[0] == tokens[1], "{tokens:?}");
    let (_, status) = srv.get("/v1/sys/seal-status", None).await;
    assert!(status.get("progress_token").is_none(), "{status}");
    let (status, v) = srv.post("/v1/sys/unseal", None, &json!({ "share": shares[2], "progress_token": tokens[0] })).await;
    assert_problem(status, &v, 400, "invalid-input");
    assert_eq!(v["field"], "progress_token");
    let (status, v) = srv.post("/v1/requests", None, &json!({})).await;
    assert_problem(status, &v, 503, "sealed");

    // Refused, each naming the problem; progress unchanged.
    let (status, v) = srv.unseal(&foreign[2]).await;
    assert_problem(status, &v, 400, "wrong-authority");
    assert_eq!(v["field"], "share");
    assert!(v["detail"].as_str().unwrap().contains("another authority"), "{v}");
    let (status, v) = srv.unseal(&corrupt(&shares[2])).await;
    assert_problem(status, &v, 400, "corrupt-share");
    assert!(v["detail"].as_str().unwrap().contains("share 3 is corrupt"), "{v}");
    let (status, v) = srv.unseal(&shares[0]).await;
    assert_problem(status, &v, 400, "duplicate-share");
    assert!(v["detail"].as_str().unwrap().contains("share 1 was already submitted"), "{v}");
    let (status, v) = srv.unseal("not a share").await;
    assert_problem(status, &v, 400, "invalid-share");
    let (status, v) = srv.post("/v1/sys/unseal", None, &json!({})).await;
    assert_problem(status, &v, 400, "invalid-input");
    assert_eq!(v["field"], "share");
    let (status, v) = srv.post("/v1/sys/unseal", None, &json!({ "share": shares[2], "reset": true })).await;
    assert_problem(status, &v, 400, "invalid-input");
    let (status, v) = srv.post("/v1/sys/unseal", None, &json!({ "shares": shares[2] })).await;
    assert_problem(status, &v, 400, "invalid-input");
    // A body that is not a JSON object (its fields by position) is refused.
    let (status, v) = srv.post("/v1/sys/unseal", None, &json!([shares[2], false])).await;
    assert_problem(status, &v, 400, "invalid-input");
    assert_eq!(v["field"], "body", "{v}");
    // The errors never echo the share.
    assert!(!v.to_string().contains(&shares[2]));
    assert_sealed_with_progress(&srv, 2).await;

    // The third share unseals; the first unseal creates the authority.
    let started = std::time::Instant::now();
    let (status, v) = srv.unseal(&shares[2]).await;
    eprintln!("third share to unsealed (first unseal, CAs created): {:?}", started.elapsed());
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["sealed"], false);
    assert!(!srv.gate.is_sealed());
    let token = srv.admin_token();
    let ca_pem = std::fs::read_to_string(srv.config.data_dir.join("ca.pem")).unwrap();
    let (status, v) = srv.get("/readyz", None).await;
    assert_eq!((status, &v["status"]), (200, &json!("ready")));
    issue_and_verify(&srv, &token, "web").await;

    // The server now presents a certificate from the authority's own CA.
    let only_ca = common::client_trusting(&srv.config.data_dir.join("ca.pem"));
    assert_eq!(only_ca.get(srv.url("/healthz")).send().await.unwrap().status(), 200);
    openssl_verifies_server(&srv, "ca.pem");
    let (status, doc) = srv.get("/v1/openapi.json", None).await;
    assert_eq!(status, 200);
    assert!(doc["paths"]["/v1/sys/unseal"]["post"].is_object(), "the sys endpoints are documented");

    // The ceremony is in the log.
    let init_events = events(&srv, &token, "keystore.initialized").await;
    assert_eq!(init_events.len(), 1);
    assert_eq!(init_events[0]["details"]["seal_id"], seal_id.as_str());
    assert_eq!((init_events[0]["details"]["shares"].as_u64(), init_events[0]["details"]["threshold"].as_u64()), (Some(5), Some(3)));
    let unsealed = events(&srv, &token, "keystore.unsealed").await;
    assert_eq!(unsealed.len(), 1);
    assert_eq!(unsealed[0]["details"]["shares_used"], json!([1, 2, 3]));
    assert_eq!(unsealed[0]["details"]["rejected_attempts"], 4);
    assert!(unsealed[0]["details"]["client"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert!(unsealed[0]["trace_id"].as_str().unwrap().starts_with('r'));
    assert_eq!(unsealed[0]["details"]["submissions"].as_array().unwrap().len(), 3);

    // A share sent to an unsealed authority is not used.
    let (status, v) = srv.unseal(&shares[3]).await;
    assert_eq!((status, &v["sealed"]), (200, &json!(false)));

    // `seal` needs an operator token.
    let (status, v) = srv.post("/v1/sys/seal", None, &json!({})).await;
    assert_problem(status, &v, 401, "unauthenticated");
    let (status, v) = srv.post("/v1/sys/seal", Some("signet_not-a-real-token"), &json!({})).await;
    assert_problem(status, &v, 401, "unauthenticated");
    assert!(!srv.gate.is_sealed());
    // An event stream opened while unsealed does not outlive the seal.
    let mut stream =
        srv.client().get(srv.url("/v1/events")).bearer_auth(&token).header("accept", "text/event-stream").send().await.unwrap();
    assert_eq!(stream.status(), 200);
    assert!(stream.chunk().await.unwrap().is_some(), "the stream sends the events so far");
    let (status, v) = srv.post("/v1/sys/seal", Some(&token), &json!({})).await;
    assert_eq!((status, &v["sealed"]), (200, &json!(true)), "{v}");
    let ended =
        tokio::time::timeout(std::time::Duration::from_secs(5), async { while let Some(_chunk) = stream.chunk().await.unwrap() {} }).await;
    assert!(ended.is_ok(), "the event stream ends when the keystore is sealed");
    let (status, v) = srv.post("/v1/requests", Some(&token), &json!({})).await;
    assert_problem(status, &v, 503, "sealed");
    let (status, v) = srv.get("/readyz", None).await;
    assert_problem(status, &v, 503, "sealed");

    // A different set of three, with a reset in between. A stranger (no
    // share given: no progress token) cannot reset it; the share-holder can.
    let (status, v) = srv.unseal(&shares[4]).await;
    assert_eq!(status, 200);
    let progress_token = v["progress_token"].as_str().unwrap().to_string();
    assert_ne!(progress_token, tokens[0], "a new token for a new unseal");
    assert_sealed_with_progress(&srv, 1).await;
    for stranger in
        [json!({ "reset": true }), json!({ "reset": true, "progress_token": tokens[0] }), json!({ "reset": true, "progress_token": "" })]
    {
        let (status, v) = srv.post("/v1/sys/unseal", None, &stranger).await;
        assert_problem(status, &v, 403, "reset-refused");
        assert_eq!(v["field"], "progress_token", "{v}");
        assert_sealed_with_progress(&srv, 1).await;
    }
    let (status, v) = srv.post("/v1/sys/unseal", None, &json!({ "reset": true, "progress_token": progress_token })).await;
    assert_eq!((status, &v["progress"]), (200, &json!(0)), "{v}");
    for share in [&shares[4], &shares[3]] {
        let (status, v) = srv.unseal(share).await;
        assert_eq!((status, &v["sealed"]), (200, &json!(true)), "{v}");
        assert_ne!(v["progress_token"], json!(progress_token), "the token ended with the reset");
    }
    let started = std::time::Instant::now();
    let (status, v) = srv.unseal(&shares[1]).await;
    eprintln!("third share to unsealed (keys loaded): {:?}", started.elapsed());
    assert_eq!((status, &v["sealed"]), (200, &json!(false)), "{v}");

    // Same CA chain, issuing again.
    assert_eq!(std::fs::read_to_string(srv.config.data_dir.join("ca.pem")).unwrap(), ca_pem);
    let served = srv.client().get(srv.url("/ca.pem")).send().await.unwrap().text().await.unwrap();
    assert_eq!(served, ca_pem);
    issue_and_verify(&srv, &token, "api").await;
    let sealed = events(&srv, &token, "keystore.sealed").await;
    assert_eq!(sealed.len(), 1);
    assert!(sealed[0]["actor"].as_str().unwrap().starts_with("op_"), "{}", sealed[0]);
    let unsealed = events(&srv, &token, "keystore.unsealed").await;
    assert_eq!(unsealed.len(), 2);
    assert_eq!(unsealed[1]["details"]["shares_used"], json!([5, 4, 2]));
    assert_eq!(unsealed[1]["details"]["rejected_attempts"], 0);
    assert_eq!(unsealed[1]["details"]["refused_resets"], 3, "the strangers' resets are in the log");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_serve_sealed_unseal_issue_seal_unseal_sqlite() {
    full_ceremony(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_serve_sealed_unseal_issue_seal_unseal_postgres() {
    full_ceremony(Backend::Postgres).await;
}

/// A sealed key file altered while the server was down: the shares are
/// valid, but the unseal fails naming the key, and the server stays sealed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_key_blob_keeps_the_server_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let shares = init_shares(dir.path(), 3, 2);
    let srv = GatedServer::start_in(dir, None).await;
    for share in &shares[..2] {
        assert_eq!(srv.unseal(share).await.0, 200);
    }
    assert!(!srv.gate.is_sealed());
    let (dir, _) = srv.stop().await;

    let keys = dir.path().join("data/keys");
    let issuing = std::fs::read_dir(&keys)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_str().unwrap().starts_with("issuing-"))
        .unwrap();
    let key_ref = issuing.file_stem().unwrap().to_str().unwrap().to_string();
    let original = std::fs::read(&issuing).unwrap();
    let mut tampered = original.clone();
    let last = tampered.len() - 20;
    tampered[last] ^= 0x01;
    std::fs::write(&issuing, &tampered).unwrap();
    let events_before = event_count(&dir.path().join("data/signet.db")).await;

    let srv = GatedServer::start_in(dir, None).await;
    assert!(srv.gate.is_sealed());
    assert_eq!(srv.unseal(&shares[2]).await.0, 200);
    let (status, v) = srv.unseal(&shares[0]).await;
    assert_problem(status, &v, 409, "unseal-failed");
    let detail = v["detail"].as_str().unwrap();
    assert!(detail.contains(&format!("sealed key `{key_ref}` failed authentication")), "{detail}");
    assert!(srv.gate.is_sealed());
    assert_sealed_with_progress(&srv, 0).await;
    let (status, v) = srv.get("/v1/subjects", None).await;
    assert_problem(status, &v, 503, "sealed");
    // Nothing was written by the failed unseal (the start recorded nothing new either:
    // `keystore.initialized` is recorded once per seal).
    assert_eq!(event_count(&srv.config.data_dir.join("signet.db")).await, events_before);
    assert_eq!(std::fs::read(&issuing).unwrap(), tampered);

    // Put the file back: the same shares unseal.
    std::fs::write(&issuing, &original).unwrap();
    for share in &shares[..2] {
        assert_eq!(srv.unseal(share).await.0, 200);
    }
    assert!(!srv.gate.is_sealed());
    srv.stop().await;
}

async fn event_count(db: &std::path::Path) -> i64 {
    use sqlx::Connection;
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display())).await.unwrap();
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM events").fetch_one(&mut c).await.unwrap();
    n
}

#[test]
fn init_refuses_to_overwrite_and_writes_nothing_on_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Bad schemes.
    for (n, m) in [(3, 4), (0, 0), (5, 0)] {
        let e = init(&data, n, m, None).unwrap_err();
        assert!(e.to_string().contains("invalid share scheme"), "{e}");
        assert!(!data.join("seal.json").exists());
    }
    // Share files that exist are not overwritten, and then no seal is written either.
    let out = dir.path().join("shares");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("share-2.txt"), "keep me").unwrap();
    let e = init(&data, 5, 3, Some(&out)).unwrap_err();
    assert!(e.to_string().contains("share-2.txt"), "{e}");
    assert_eq!(std::fs::read_to_string(out.join("share-2.txt")).unwrap(), "keep me");
    assert!(!out.join("share-1.txt").exists());
    assert!(!data.join("seal.json").exists());

    // Share files: one per share, mode 0600.
    std::fs::remove_file(out.join("share-2.txt")).unwrap();
    let done = init(&data, 5, 3, Some(&out)).unwrap();
    assert_eq!(done.share_files.len(), 5);
    for f in &done.share_files {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(f).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(std::fs::read_to_string(f).unwrap().starts_with(&format!("signet-share-1:{}:", done.seal_id)));
    }
    let seal = std::fs::read_to_string(data.join("seal.json")).unwrap();
    // A second init is refused and changes nothing.
    let e = init(&data, 5, 3, None).unwrap_err();
    assert!(e.to_string().contains("already has a keystore seal"), "{e}");
    assert_eq!(std::fs::read_to_string(data.join("seal.json")).unwrap(), seal);
    assert!(!data.join("unseal-key").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_start_directories_are_refused_by_init_and_cannot_be_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let srv = GatedServer::start_in(dir, None).await;
    assert!(!srv.gate.is_sealed());
    let token = srv.admin_token();
    let e = init(&srv.config.data_dir, 5, 3, None).unwrap_err();
    assert!(e.to_string().contains("already has a keystore seal"), "{e}");
    let (status, v) = srv.get("/v1/sys/seal-status", None).await;
    assert_eq!(status, 200);
    assert_eq!((&v["sealed"], &v["unseal"], &v["threshold"]), (&json!(false), &json!("local-key-file"), &Value::Null));
    let (status, v) = srv.post("/v1/sys/seal", Some(&token), &json!({})).await;
    assert_problem(status, &v, 409, "local-unseal");
    assert!(!srv.gate.is_sealed());
    // The quick start records its (local) seal too.
    let (status, v) = srv.get("/log/v1/search?type=keystore.initialized", Some(&token)).await;
    assert_eq!(status, 200);
    assert_eq!(v["items"][0]["details"]["unseal"], "local-key-file");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_sealed_keystore_is_not_served_over_plain_http() {
    let dir = tempfile::tempdir().unwrap();
    init_shares(dir.path(), 3, 2);
    let Err((e, _dir)) = GatedServer::try_start_in(dir, None, true).await else { panic!("plain HTTP was accepted") };
    assert!(e.to_string().contains("over TLS only"), "{e}");
}

/// Restarts before the first unseal record the seal once; the shares given
/// before a restart are gone with the process (they live only in memory).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_while_sealed_forgets_the_shares_and_records_the_seal_once() {
    let dir = tempfile::tempdir().unwrap();
    let shares = init_shares(dir.path(), 3, 2);
    let srv = GatedServer::start_in(dir, None).await;
    assert_eq!(srv.unseal(&shares[0]).await.0, 200);
    assert_sealed_with_progress(&srv, 1).await;
    let (dir, _) = srv.stop().await;
    let srv = GatedServer::start_in(dir, None).await;
    assert_sealed_with_progress(&srv, 0).await;
    for share in &shares[1..] {
        assert_eq!(srv.unseal(share).await.0, 200);
    }
    assert!(!srv.gate.is_sealed());
    let token = srv.admin_token();
    assert_eq!(events(&srv, &token, "keystore.initialized").await.len(), 1);
    let unsealed = events(&srv, &token, "keystore.unsealed").await;
    assert_eq!(unsealed[0]["details"]["shares_used"], json!([2, 3]));
    srv.stop().await;
}
