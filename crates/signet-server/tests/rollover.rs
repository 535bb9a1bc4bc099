//! Key rollover of the issuing CA (docs/KEY-ROLLOVER.md): certificates of
//! the old and the new CA both verify (openssl verify) under the published
//! bundle and both have status (openssl ocsp, each answer signed by its own
//! CA; a CRL per issuer); only admins rotate and destroy; a retired key is
//! destroyed only once nothing it signed is valid; restarts keep working.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Backend, PgDb, TestServer, have_openssl, openssl_csr, pg_database, served_certificate};
use serde_json::{Value, json};
use signet_server::config::ConfigFile;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

fn openssl(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

fn openssl_ok(dir: &Path, args: &[&str]) -> String {
    let (ok, out) = openssl(dir, args);
    assert!(ok, "openssl {args:?} failed:\n{out}");
    out
}

/// Overlap 0: a retired CA may go as soon as its last certificate expired.
async fn start(dir: tempfile::TempDir, pg: Option<Arc<PgDb>>) -> TestServer {
    TestServer::start_configured(dir, pg, ConfigFile { rollover_overlap: Some("0".into()), ..Default::default() }).await.unwrap()
}

/// [`start`], with the server's own HTTPS certificates valid 10 seconds
/// (the shortest allowed), so that they do not hold a retired CA for days.
async fn start_short_lived(dir: tempfile::TempDir, pg: Option<Arc<PgDb>>) -> TestServer {
    let config = ConfigFile { rollover_overlap: Some("0".into()), server_cert_ttl: Some("10s".into()), ..Default::default() };
    TestServer::start_configured(dir, pg, config).await.unwrap()
}

async fn start_fresh(backend: Backend) -> Option<TestServer> {
    let pg = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(Arc::new(pg_database().await?)),
    };
    Some(start(tempfile::tempdir().unwrap(), pg).await)
}

/// Issue a certificate for `name` (lifetime `ttl`); write `{name}.pem` and
/// `{name}-issuer.pem` into `dir`; return the credential.
async fn issue(srv: &TestServer, dir: &Path, subject: &str, name: &str, ttl: &str) -> Value {
    let (_, csr) = openssl_csr(dir, name, "ec", &format!("DNS:{name}.internal"), &[]);
    let (status, v) = srv.post("/v1/requests", &json!({ "subject": subject, "profile": "tls-server", "csr": csr, "ttl": ttl })).await;
    assert_eq!(status, 201, "{v}");
    let chain = v["chain_pem"].as_str().unwrap();
    let blocks: Vec<&str> = chain.split_inclusive("-----END CERTIFICATE-----\n").collect();
    assert_eq!(blocks.len(), 3, "leaf, issuing, root");
    std::fs::write(dir.join(format!("{name}.pem")), blocks[0]).unwrap();
    std::fs::write(dir.join(format!("{name}-issuer.pem")), blocks[1]).unwrap();
    v["credential"].clone()
}

/// The CA bundle, written to `dir/bundle.pem`; its certificates' count.
async fn bundle(srv: &TestServer, dir: &Path) -> usize {
    let pem = srv.http.get(srv.url("/ca.pem")).send().await.unwrap().text().await.unwrap();
    std::fs::write(dir.join("bundle.pem"), &pem).unwrap();
    assert_eq!(std::fs::read_to_string(srv.config.data_dir.join("ca.pem")).unwrap(), pem, "DATA/ca.pem follows /ca.pem");
    pem.matches("-----BEGIN CERTIFICATE-----").count()
}

/// `openssl ocsp` for `{name}.pem` against the server; the responder must be its issuer (`-VAfile`).
fn ocsp(srv: &TestServer, dir: &Path, name: &str, responder: &str) -> (bool, String) {
    let url = srv.url("/ocsp");
    let issuer = format!("{name}-issuer.pem");
    let cert = format!("{name}.pem");
    openssl(dir, &["ocsp", "-issuer", &issuer, "-cert", &cert, "-url", &url, "-VAfile", responder, "-resp_text"])
}

/// The SHA-1 of a certificate's public key (a P-256 point): what an OCSP responderID byKey carries.
fn key_sha1(dir: &Path, cert: &str) -> String {
    openssl_ok(dir, &["x509", "-in", cert, "-noout", "-pubkey", "-out", "key.pem"]);
    openssl_ok(dir, &["pkey", "-pubin", "-in", "key.pem", "-outform", "DER", "-out", "key.der"]);
    let der = std::fs::read(dir.join("key.der")).unwrap();
    assert_eq!(der.len(), 91, "a P-256 SubjectPublicKeyInfo");
    std::fs::write(dir.join("key.raw"), &der[26..]).unwrap();
    let out = openssl_ok(dir, &["dgst", "-sha1", "-r", "key.raw"]);
    out.split_whitespace().next().unwrap().to_lowercase()
}

async fn rotate(srv: &TestServer) -> Value {
    let (status, v) = srv.post("/v1/authorities/issuing/rollover", &json!({})).await;
    assert_eq!(status, 201, "{v}");
    v
}

async fn authorities(srv: &TestServer) -> Vec<Value> {
    let (status, v) = srv.get("/v1/authorities").await;
    assert_eq!(status, 200, "{v}");
    v["items"].as_array().unwrap().clone()
}

fn state_of(list: &[Value], id: &str) -> String {
    list.iter().find(|a| a["id"] == id).unwrap()["state"].as_str().unwrap().to_string()
}

/// A token of a new operator with `roles`.
async fn operator_token(srv: &TestServer, name: &str, roles: &[&str]) -> String {
    srv.enrolled_operator(json!({ "name": name, "roles": roles, "all_sites": true })).await.1
}

async fn post_as(srv: &TestServer, token: &str, path: &str) -> (u16, Value) {
    common::decode(srv.http.post(srv.url(path)).bearer_auth(token).json(&json!({})).send().await.unwrap()).await
}

async fn rollover_keeps_old_certificates_verifying(backend: Backend) {
    if !have_openssl() {
        return;
    }
    let Some(srv) = start_fresh(backend).await else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let subject = srv.create_subject("web").await;
    let a = issue(&srv, dir, &subject, "a", "1h").await;
    let ca1 = a["issuer_id"].as_str().unwrap().to_string();
    assert_eq!(bundle(&srv, dir).await, 2, "issuing CA + root");

    // Only admins roll over and destroy; a reviewer may look.
    let reviewer = operator_token(&srv, "reviewer", &["security_reviewer"]).await;
    for path in ["/v1/authorities/issuing/rollover".to_string(), format!("/v1/authorities/{ca1}/destroy")] {
        let (status, v) = post_as(&srv, &reviewer, &path).await;
        assert_eq!(status, 403, "{path}: {v}");
    }
    let r = srv.http.get(srv.url("/v1/authorities")).bearer_auth(&reviewer).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(authorities(&srv).await.len(), 2, "nothing was created by the refusals");

    // Rotate: CA2 is active, CA1 retired and still published.
    let v = rotate(&srv).await;
    let ca2 = v["active"]["id"].as_str().unwrap().to_string();
    assert_ne!(ca2, ca1);
    assert_eq!((v["retired"]["id"].as_str().unwrap(), v["retired"]["state"].as_str().unwrap()), (ca1.as_str(), "retired"));
    assert_eq!(v["active"]["state"], "active");
    let b = issue(&srv, dir, &subject, "b", "1h").await;
    assert_eq!(b["issuer_id"], ca2.as_str(), "new issuance uses the new CA");
    assert_ne!(std::fs::read(dir.join("a-issuer.pem")).unwrap(), std::fs::read(dir.join("b-issuer.pem")).unwrap());
    assert_eq!(bundle(&srv, dir).await, 3, "two issuing CAs + root");

    // Both certificates verify under the new bundle (as trust store, and as intermediates under the root alone).
    let root = srv.http.get(srv.url("/ca/root.der")).send().await.unwrap().bytes().await.unwrap();
    std::fs::write(dir.join("root.der"), &root).unwrap();
    openssl_ok(dir, &["x509", "-inform", "DER", "-in", "root.der", "-out", "root.pem"]);
    for leaf in ["a.pem", "b.pem"] {
        openssl_ok(dir, &["verify", "-x509_strict", "-purpose", "sslserver", "-CAfile", "bundle.pem", leaf]);
        openssl_ok(dir, &["verify", "-x509_strict", "-purpose", "sslserver", "-CAfile", "root.pem", "-untrusted", "bundle.pem", leaf]);
    }

    // Each certificate points at its own issuer's CRL and certificate, and those are served.
    for (leaf, ca) in [("a.pem", &ca1), ("b.pem", &ca2)] {
        let text = openssl_ok(dir, &["x509", "-noout", "-text", "-in", leaf]);
        assert!(text.contains(&format!("URI:{}/crl/{ca}", srv.base)) && text.contains(&format!("URI:{}/ca/{ca}", srv.base)), "{text}");
        let r = srv.http.get(srv.url(&format!("/ca/{ca}"))).send().await.unwrap();
        assert_eq!(r.status(), 200);
        std::fs::write(dir.join("served.der"), r.bytes().await.unwrap()).unwrap();
        let served = openssl_ok(dir, &["x509", "-inform", "DER", "-in", "served.der"]);
        let issuer_file = leaf.replace(".pem", "-issuer.pem");
        assert_eq!(served.trim(), std::fs::read_to_string(dir.join(&issuer_file)).unwrap().trim());
        // Its CRL, signed by it: a CRL check of the leaf passes with it.
        let crl = srv.http.get(srv.url(&format!("/crl/{ca}"))).send().await.unwrap();
        assert_eq!(crl.status(), 200);
        std::fs::write(dir.join("crl.der"), crl.bytes().await.unwrap()).unwrap();
        openssl_ok(dir, &["crl", "-inform", "DER", "-in", "crl.der", "-out", "crl.pem"]);
        let out = openssl_ok(dir, &["crl", "-in", "crl.pem", "-CAfile", "bundle.pem", "-noout", "-issuer"]);
        assert!(out.contains("verify OK"), "{out}");
        openssl_ok(dir, &["verify", "-crl_check", "-CRLfile", "crl.pem", "-CAfile", "root.pem", "-untrusted", &issuer_file, leaf]);
    }
    // `/crl` is the active CA's.
    let active_crl = srv.http.get(srv.url("/crl")).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(active_crl, srv.http.get(srv.url(&format!("/crl/{ca2}"))).send().await.unwrap().bytes().await.unwrap());
    let r = srv.http.get(srv.url("/crl/aut_nosuchauthority")).send().await.unwrap();
    assert_eq!(r.status(), 404);

    // OCSP: both good, each answer signed by the certificate's own CA: its
    // responder id is that CA's key hash, and it verifies under that CA alone.
    let (a_key, b_key) = (key_sha1(dir, "a-issuer.pem"), key_sha1(dir, "b-issuer.pem"));
    assert_ne!(a_key, b_key);
    for (name, key) in [("a", &a_key), ("b", &b_key)] {
        let (ok, out) = ocsp(&srv, dir, name, &format!("{name}-issuer.pem"));
        assert!(ok && out.contains("Response verify OK") && out.contains(&format!("{name}.pem: good")), "{out}");
        assert!(out.to_lowercase().contains(&format!("responder id: {key}")), "{name}: responder is not {key}:\n{out}");
    }

    // Rotate again quickly: CA3; the bundle has three issuing CAs.
    let v = rotate(&srv).await;
    let ca3 = v["active"]["id"].as_str().unwrap().to_string();
    assert_eq!(v["retired"]["id"], ca2.as_str());
    assert_eq!(bundle(&srv, dir).await, 4, "three issuing CAs + root");
    let list = authorities(&srv).await;
    assert_eq!(list.len(), 4);
    assert_eq!(
        (state_of(&list, &ca1), state_of(&list, &ca2), state_of(&list, &ca3)),
        ("retired".into(), "retired".into(), "active".into())
    );
    let c = issue(&srv, dir, &subject, "c", "1h").await;
    assert_eq!(c["issuer_id"], ca3.as_str());
    for (name, responder) in [("a", "a-issuer.pem"), ("b", "b-issuer.pem"), ("c", "c-issuer.pem")] {
        let (ok, out) = ocsp(&srv, dir, name, responder);
        assert!(ok && out.contains(&format!("{name}.pem: good")), "{out}");
    }

    // The key ceremony record: who, which keys (old and new), fingerprints.
    let rotated = srv.events_of("authority.rotated").await;
    assert_eq!(rotated.len(), 2);
    assert!(rotated[0]["actor"].as_str().unwrap().starts_with("op_"));
    assert_eq!(
        (rotated[0]["details"]["old"]["authority_id"].as_str(), rotated[0]["details"]["new"]["authority_id"].as_str()),
        (Some(ca1.as_str()), Some(ca2.as_str()))
    );
    assert_eq!(rotated[0]["details"]["new"]["certificate_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(rotated[0]["details"]["keystore"]["kind"], "sealed");
    assert_eq!(srv.events_of("authority.created").await.len(), 4, "root, CA1 at the first start; CA2, CA3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollover_keeps_old_certificates_verifying_sqlite() {
    rollover_keeps_old_certificates_verifying(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollover_keeps_old_certificates_verifying_postgres() {
    rollover_keeps_old_certificates_verifying(Backend::Postgres).await
}

async fn destroy_waits_for_the_last_certificate(backend: Backend) {
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
    let srv = start_short_lived(tempfile::tempdir().unwrap(), pg).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let subject = srv.create_subject("web").await;
    let a = issue(&srv, dir, &subject, "a", "4s").await;
    let ca1 = a["issuer_id"].as_str().unwrap().to_string();
    let v = rotate(&srv).await;
    let ca2 = v["active"]["id"].as_str().unwrap().to_string();
    let root = authorities(&srv).await.into_iter().find(|x| x["role"] == "root").unwrap()["id"].as_str().unwrap().to_string();
    let key_file = |srv: &TestServer, list: &[Value], id: &str| {
        let key_ref = list.iter().find(|x| x["id"] == id).unwrap()["key_ref"].as_str().unwrap().to_string();
        srv.config.data_dir.join("keys").join(format!("{key_ref}.sealed"))
    };
    let list = authorities(&srv).await;
    let ca1_key = key_file(&srv, &list, &ca1);
    assert!(ca1_key.exists());
    // CA1 signed `a` and the server's own certificates until the rollover
    // (the server renewed its own from CA2 at once): the last to expire decides.
    let (_, credentials) = srv.get("/v1/credentials?limit=1000").await;
    let last = credentials["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["issuer_id"] == ca1.as_str())
        .map(|c| c["not_after"].as_str().unwrap().to_string())
        .max()
        .unwrap();
    assert!(last.as_str() >= a["not_after"].as_str().unwrap());
    let retired = list.iter().find(|x| x["id"] == ca1.as_str()).unwrap();
    assert_eq!(retired["last_certificate_expires_at"], last.as_str());
    assert_eq!(retired["destroyable_after"], last.as_str(), "overlap 0: the last certificate decides");

    // A restart loads the retired CA too: A still has status, signed by CA1.
    let (d, pg) = srv.stop().await;
    let srv = start_short_lived(d, pg).await;
    let (ok, out) = ocsp(&srv, dir, "a", "a-issuer.pem");
    assert!(ok && out.contains("a.pem: good"), "{out}");

    // While A is valid, CA1 cannot be destroyed; nor can the active CA or the root. Nothing changes.
    let events_before = srv.get("/v1/events?limit=1000").await.1["items"].as_array().unwrap().len();
    for (id, status, words) in [
        (ca1.as_str(), 409, "valid until"),
        (ca2.as_str(), 409, "active issuing CA"),
        (root.as_str(), 409, "root CA"),
        ("aut_nosuchauthority", 404, "not found"),
    ] {
        let (s, v) = srv.post(&format!("/v1/authorities/{id}/destroy"), &json!({})).await;
        assert_eq!(s, status, "{id}: {v}");
        assert!(v["detail"].as_str().unwrap_or_default().contains(words), "{id}: {v}");
    }
    let list = authorities(&srv).await;
    assert_eq!(state_of(&list, &ca1), "retired");
    assert!(ca1_key.exists());
    assert_eq!(srv.get("/v1/events?limit=1000").await.1["items"].as_array().unwrap().len(), events_before, "refusals write nothing");
    assert_eq!(bundle(&srv, dir).await, 3);

    // Once the last has expired: destroyed. The key file is gone, the record (and certificate) stays.
    let last = time::OffsetDateTime::parse(&last, &time::format_description::well_known::Rfc3339).unwrap();
    let wait = last - srv.state().authority.now() + time::Duration::seconds(1);
    tokio::time::sleep(wait.try_into().unwrap_or_default()).await;
    let (s, v) = srv.post(&format!("/v1/authorities/{ca1}/destroy"), &json!({})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["state"], "destroyed");
    assert!(!ca1_key.exists(), "the key file is gone");
    let list = authorities(&srv).await;
    let gone = list.iter().find(|x| x["id"] == ca1.as_str()).unwrap();
    assert_eq!(gone["state"], "destroyed");
    assert!(gone["certificate_pem"].as_str().unwrap().contains("BEGIN CERTIFICATE"));
    let destroyed = srv.events_of("key.destroyed").await;
    assert_eq!(destroyed.len(), 1);
    assert_eq!(destroyed[0]["details"]["authority_id"], ca1.as_str());
    assert!(destroyed[0]["actor"].as_str().unwrap().starts_with("op_"));
    assert_eq!(bundle(&srv, dir).await, 2, "no longer published");
    assert_eq!(srv.http.get(srv.url(&format!("/crl/{ca1}"))).send().await.unwrap().status(), 404);
    // Destroying it again retries the keystore deletion: nothing left to do.
    let (s, v) = srv.post(&format!("/v1/authorities/{ca1}/destroy"), &json!({})).await;
    assert_eq!((s, v["state"].as_str()), (200, Some("destroyed")), "{v}");
    assert_eq!(srv.events_of("key.destroyed").await.len(), 1);

    // A restart still works, and issues under CA2.
    let (d, pg) = srv.stop().await;
    let srv = start_short_lived(d, pg).await;
    assert_eq!(state_of(&authorities(&srv).await, &ca1), "destroyed");
    let b = issue(&srv, dir, &subject, "b", "1h").await;
    assert_eq!(b["issuer_id"], ca2.as_str());
    let (ok, out) = ocsp(&srv, dir, "b", "b-issuer.pem");
    assert!(ok && out.contains("b.pem: good"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destroy_waits_for_the_last_certificate_sqlite() {
    destroy_waits_for_the_last_certificate(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destroy_waits_for_the_last_certificate_postgres() {
    destroy_waits_for_the_last_certificate(Backend::Postgres).await
}

/// The overlap holds a retired CA even when it signed nothing (default settings: 7 days).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overlap_holds_a_retired_ca() {
    let srv = TestServer::start(Backend::Sqlite).await.unwrap();
    let v = rotate(&srv).await;
    let ca1 = v["retired"]["id"].as_str().unwrap().to_string();
    let (s, v) = srv.post(&format!("/v1/authorities/{ca1}/destroy"), &json!({})).await;
    assert_eq!(s, 409, "{v}");
    assert!(v["detail"].as_str().unwrap().contains("overlap period"), "{v}");
    assert_eq!(v["field"], "id");
    assert_eq!(state_of(&authorities(&srv).await, &ca1), "retired");
}

/// The issuer of the certificate the server shows, by its credential row.
async fn served_issuer(srv: &TestServer) -> String {
    let served = served_certificate(srv);
    let (_, list) = srv.get("/v1/credentials?limit=1000").await;
    for c in list["items"].as_array().unwrap().iter().filter(|c| c["profile"] == "signet-server") {
        let (_, full) = srv.get(&format!("/v1/credentials/{}", c["id"].as_str().unwrap())).await;
        if full["certificate_pem"] == served.as_str() {
            return full["issuer_id"].as_str().unwrap().to_string();
        }
    }
    panic!("the served certificate is not a credential: {served}");
}

async fn the_server_moves_its_own_certificate_to_the_new_ca(backend: Backend) {
    if !have_openssl() {
        return;
    }
    let Some(srv) = start_fresh(backend).await else { return };
    let ca1 = served_issuer(&srv).await;
    let v = rotate(&srv).await;
    let ca2 = v["active"]["id"].as_str().unwrap().to_string();
    assert_ne!(ca1, ca2);
    // Renewed at once, not at the next daily renewal.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while served_issuer(&srv).await != ca2 {
        assert!(tokio::time::Instant::now() < deadline, "the server still shows a certificate of {ca1}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_moves_its_own_certificate_to_the_new_ca_sqlite() {
    the_server_moves_its_own_certificate_to_the_new_ca(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_moves_its_own_certificate_to_the_new_ca_postgres() {
    the_server_moves_its_own_certificate_to_the_new_ca(Backend::Postgres).await
}
