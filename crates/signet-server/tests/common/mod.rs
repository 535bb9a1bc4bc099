//! Test harness: a real Signet server (TLS, real store) on a random loopback
//! port, a client that trusts its CA, and helpers for openssl-made CSRs.
#![allow(dead_code)]

/// Run `$body` against each backend, as `#[tokio::test]`s named `<name>::sqlite` and `<name>::postgres`.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, |$srv:ident| $body:block) => {
        mod $name {
            use super::*;
            async fn run(backend: Backend) {
                let Some($srv) = TestServer::start(backend).await else { return };
                $body
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run(Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                run(Backend::Postgres).await
            }
        }
    };
}

use signet_server::config::{ConfigFile, ServerConfig};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A throwaway PostgreSQL database, dropped on `Drop`.
pub struct PgDb {
    admin_url: String,
    name: String,
    pub url: String,
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let admin = self.admin_url.clone();
        let name = self.name.clone();
        // Drop on a separate thread with its own runtime: Drop may run inside one.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                use sqlx::Connection;
                if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).execute(&mut c).await;
                }
            });
        })
        .join();
    }
}

/// A fresh PostgreSQL database, or `None` when the run explicitly leaves the
/// PostgreSQL variants out (`SIGNET_TEST_NO_POSTGRES=1`, which scripts/test
/// sets only when it cannot reach PostgreSQL, and reports as skipped).
pub async fn pg_database() -> Option<PgDb> {
    let Ok(admin_url) = std::env::var("SIGNET_TEST_DATABASE_URL") else {
        assert!(
            std::env::var("SIGNET_TEST_NO_POSTGRES").as_deref() == Ok("1") && std::env::var("CI").as_deref() != Ok("true"),
            "SIGNET_TEST_DATABASE_URL is not set: run scripts/test, which points the tests at PostgreSQL on 127.0.0.1:5432"
        );
        eprintln!("SIGNET_TEST_NO_POSTGRES=1: the PostgreSQL variant is left out");
        return None;
    };
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(&admin_url).await.expect("PostgreSQL at SIGNET_TEST_DATABASE_URL is unreachable");
    let mut rnd = [0u8; 8];
    signet_core::ports::Rng::fill(&signet_core::clock::SystemRng, &mut rnd);
    let name = format!("signet_srv_{}", signet_core::authority::hex(&rnd));
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut c).await.unwrap();
    let base = admin_url.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap();
    let url = format!("{base}/{name}");
    Some(PgDb { admin_url, name, url })
}

pub struct TestServer {
    state: Arc<signet_server::AppState>,
    pub dir: tempfile::TempDir,
    pub base: String,
    pub token: String,
    pub http: reqwest::Client,
    pub config: ServerConfig,
    task: tokio::task::JoinHandle<()>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub pg: Option<Arc<PgDb>>,
    /// `http://ADDR` of the plain-HTTP status listener, when started with one.
    pub status_base: Option<String>,
}

impl TestServer {
    /// Start on SQLite, or on a fresh PostgreSQL database. `None`: PG not configured.
    pub async fn start(backend: Backend) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let pg = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(Arc::new(pg_database().await?)),
        };
        Some(Self::start_in(dir, pg).await)
    }

    pub async fn start_in(dir: tempfile::TempDir, pg: Option<Arc<PgDb>>) -> Self {
        Self::start_configured(dir, pg, ConfigFile::default()).await.unwrap()
    }

    /// Start with `extra` settings over the harness's own; the start's error if it fails.
    pub async fn start_configured(dir: tempfile::TempDir, pg: Option<Arc<PgDb>>, extra: ConfigFile) -> Result<Self, String> {
        Self::start_listening(dir, pg, extra, None).await
    }

    /// Start on SQLite with a plain-HTTP status listener too (`status_listen`
    /// on a free loopback port, so new certificates point at it).
    pub async fn start_with_status_listener(extra: ConfigFile) -> Self {
        let status = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let extra = ConfigFile { status_listen: Some(status.local_addr().unwrap().to_string()), ..extra };
        Self::start_listening(tempfile::tempdir().unwrap(), None, extra, Some(status)).await.unwrap()
    }

    async fn start_listening(
        dir: tempfile::TempDir,
        pg: Option<Arc<PgDb>>,
        extra: ConfigFile,
        status_listener: Option<tokio::net::TcpListener>,
    ) -> Result<Self, String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let config = ServerConfig::resolve(extra.or(ConfigFile {
            data_dir: Some(dir.path().join("data")),
            listen: Some(addr.to_string()),
            database: pg.as_ref().map(|p| p.url.clone()),
            commit_batch: Some(64),
            ..Default::default()
        }))
        .unwrap();
        let started = signet_server::bootstrap::start(&config).await.map_err(|e| e.to_string())?;
        let signet_server::Routers { api: app, public } = signet_server::routers(started.state.clone());
        let status_base = status_listener.as_ref().map(|l| format!("http://{}", l.local_addr().unwrap()));
        let sequencer = tokio::spawn(signet_server::bootstrap::run_sequencer(started.state.clone()));
        let expiry = tokio::spawn(signet_server::bootstrap::run_expiry(started.state.clone()));
        let renewal =
            tokio::spawn(signet_server::bootstrap::renew_server_cert(started.server_cert.clone(), started.state.clone(), config.clone()));
        let tls = signet_server::serve::tls_config(started.server_cert.clone()).unwrap();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let (status_stop, status_stopped) = tokio::sync::oneshot::channel::<()>();
            let status = status_listener.map(|l| {
                tokio::spawn(signet_server::serve::serve_plain(l, public, async {
                    let _ = status_stopped.await;
                }))
            });
            let _ = signet_server::serve::serve_tls(listener, app, tls, async {
                let _ = stop_rx.await;
            })
            .await;
            let _ = status_stop.send(());
            if let Some(status) = status {
                let _ = status.await;
            }
            sequencer.abort();
            expiry.abort();
            renewal.abort();
        });
        let token = std::fs::read_to_string(config.data_dir.join("admin-token")).unwrap().trim().to_string();
        let http = client_trusting(&config.data_dir.join("ca.pem"));
        Ok(Self {
            state: started.state.clone(),
            dir,
            base: format!("https://{addr}"),
            token,
            http,
            config,
            task,
            stop: Some(stop_tx),
            pg,
            status_base,
        })
    }

    /// Stop serving, as `signet serve` does (event streams ended, requests
    /// in flight answered), and hand back the data directory (and database)
    /// for a restart.
    pub async fn stop(mut self) -> (tempfile::TempDir, Option<Arc<PgDb>>) {
        self.state.stop_streams();
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = (&mut self.task).await;
        (self.dir, self.pg)
    }

    pub fn state(&self) -> Arc<signet_server::AppState> {
        self.state.clone()
    }

    /// A public text endpoint (`/log/key`, `/log/checkpoint`).
    pub async fn get_text(&self, path: &str) -> String {
        let r = self.http.get(self.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        r.text().await.unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let r = self.http.get(self.url(path)).bearer_auth(&self.token).send().await.unwrap();
        decode(r).await
    }

    pub async fn post(&self, path: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
        let r = self.http.post(self.url(path)).bearer_auth(&self.token).json(body).send().await.unwrap();
        decode(r).await
    }

    pub async fn put(&self, path: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
        let r = self.http.put(self.url(path)).bearer_auth(&self.token).json(body).send().await.unwrap();
        decode(r).await
    }

    /// Enrol: redeem an enrolment `secret` for `operator` (id or name), with no token.
    pub async fn enrol(&self, operator: &str, secret: &str) -> (u16, serde_json::Value) {
        let body = serde_json::json!({ "operator": operator, "secret": secret });
        decode(self.http.post(self.url("/v1/operators/enrol")).json(&body).send().await.unwrap()).await
    }

    /// An operator as a real one comes to be: its holder makes an enrolment
    /// secret, the admin creates the operator (`body`) with only the
    /// verifier, and the holder redeems the secret for its token. (id, token).
    pub async fn enrolled_operator(&self, body: serde_json::Value) -> (String, String) {
        let (secret, verifier) = signet_core::sod::new_enrolment_code(&signet_core::clock::SystemRng);
        let mut body = body;
        body["enrolment_verifier"] = verifier.into();
        let (status, op) = self.post("/v1/operators", &body).await;
        assert_eq!(status, 201, "{op}");
        let id = op["id"].as_str().unwrap().to_string();
        let (status, t) = self.enrol(&id, &secret).await;
        assert_eq!(status, 201, "{t}");
        (id, t["secret"].as_str().unwrap().to_string())
    }

    pub async fn create_subject(&self, name: &str) -> String {
        let (status, v) = self
            .post(
                "/v1/subjects",
                &serde_json::json!({ "name": name, "kind": "workload", "owner": "team-web", "purpose": "serves the shop" }),
            )
            .await;
        assert_eq!(status, 201, "{v}");
        v["id"].as_str().unwrap().to_string()
    }

    /// Rows the store holds (credentials, requests, subjects), to prove that
    /// a refused input wrote nothing; the server's own (its HTTPS
    /// certificate, issued at start) are left out.
    pub async fn counts(&self) -> (usize, usize, usize) {
        let (_, c) = self.get("/v1/credentials?limit=1000").await;
        let (_, r) = self.get("/v1/requests?limit=1000").await;
        let (_, s) = self.get("/v1/subjects?limit=1000").await;
        let server = server_subject();
        let not_servers = |v: &serde_json::Value, field: &str| v["items"].as_array().unwrap().iter().filter(|i| i[field] != server).count();
        (not_servers(&c, "subject_id"), not_servers(&r, "subject_id"), not_servers(&s, "id"))
    }

    /// The log's events of type `kind`, but those about the server's own
    /// certificate (its subject's), oldest first.
    pub async fn events_of(&self, kind: &str) -> Vec<serde_json::Value> {
        let (status, v) = self.get("/v1/events?limit=1000").await;
        assert_eq!(status, 200, "{v}");
        let server = server_subject();
        v["items"].as_array().unwrap().iter().filter(|e| e["event_type"] == kind && e["subject_id"] != server).cloned().collect()
    }
}

/// The certificate a TLS client is shown, as openssl (an independent peer)
/// sees it: PEM.
pub fn served_certificate(srv: &TestServer) -> String {
    let addr = srv.base.trim_start_matches("https://");
    let out = Command::new("openssl")
        .args(["s_client", "-connect", addr, "-servername", "localhost", "-showcerts"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let start = text.find("-----BEGIN CERTIFICATE-----").expect("the server shows a certificate");
    let end = text[start..].find("-----END CERTIFICATE-----").unwrap() + start + "-----END CERTIFICATE-----".len();
    format!("{}\n", &text[start..end])
}

/// The id of the subject the server's own HTTPS certificates are issued to.
pub fn server_subject() -> String {
    signet_core::server_cert::server_subject_id().to_string()
}

pub async fn decode(r: reqwest::Response) -> (u16, serde_json::Value) {
    let status = r.status().as_u16();
    let ct = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let bytes = r.bytes().await.unwrap();
    if status >= 400 {
        assert_eq!(ct, "application/problem+json", "error responses are problem+json: {}", String::from_utf8_lossy(&bytes));
    }
    (status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
}

pub fn client_trusting(ca_pem: &Path) -> reqwest::Client {
    let pem = std::fs::read(ca_pem).unwrap();
    let mut b = reqwest::Client::builder();
    for c in reqwest::Certificate::from_pem_bundle(&pem).unwrap() {
        b = b.add_root_certificate(c);
    }
    b.build().unwrap()
}

/// openssl must be here: its absence fails the test (scripts/test installs it),
/// so a test that could not run is never counted as passed.
pub fn have_openssl() -> bool {
    let ok = Command::new("openssl").arg("version").output().map(|o| o.status.success()).unwrap_or(false);
    assert!(ok, "openssl is needed by this test: run scripts/test, which installs the test peers");
    ok
}

/// Make a key and CSR with openssl. `newkey` is an `openssl req -newkey`
/// argument (`ec`, `ed25519`, `rsa:2048`); `extra` are more `-addext` values.
pub fn openssl_csr(dir: &Path, name: &str, newkey: &str, san: &str, extra: &[&str]) -> (PathBuf, String) {
    let key = dir.join(format!("{name}.key"));
    let csr = dir.join(format!("{name}.csr"));
    let mut cmd = Command::new("openssl");
    cmd.args(["req", "-new", "-nodes", "-newkey", newkey]);
    if newkey == "ec" {
        cmd.args(["-pkeyopt", "ec_paramgen_curve:P-256"]);
    }
    cmd.arg("-keyout").arg(&key).arg("-out").arg(&csr).args(["-subj", &format!("/CN={name}")]);
    if !san.is_empty() {
        cmd.args(["-addext", &format!("subjectAltName={san}")]);
    }
    for e in extra {
        cmd.args(["-addext", e]);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "openssl req: {}", String::from_utf8_lossy(&out.stderr));
    (key, std::fs::read_to_string(&csr).unwrap())
}

/// `openssl verify` the leaf of a chain PEM against the root in `ca.pem`.
pub fn openssl_verify(dir: &Path, chain_pem: &str, ca_pem: &Path) -> (bool, String) {
    let blocks: Vec<&str> = chain_pem.split_inclusive("-----END CERTIFICATE-----\n").collect();
    assert_eq!(blocks.len(), 3, "leaf, issuing, root");
    let leaf = dir.join("leaf.pem");
    let issuing = dir.join("issuing.pem");
    let root = dir.join("root.pem");
    std::fs::write(&leaf, blocks[0]).unwrap();
    std::fs::write(&issuing, blocks[1]).unwrap();
    std::fs::write(&root, blocks[2]).unwrap();
    // The root in the response must be the one in ca.pem.
    assert!(std::fs::read_to_string(ca_pem).unwrap().contains(blocks[2].trim()));
    let out = Command::new("openssl")
        .args(["verify", "-x509_strict", "-purpose", "sslserver", "-CAfile"])
        .arg(&root)
        .arg("-untrusted")
        .arg(&issuing)
        .arg(&leaf)
        .output()
        .unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

pub fn openssl_text(dir: &Path, cert_pem: &str) -> String {
    let p = dir.join("cert.pem");
    std::fs::write(&p, cert_pem).unwrap();
    let out = Command::new("openssl").args(["x509", "-noout", "-text", "-in"]).arg(&p).output().unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// A server started through the seal gate (`signet serve`'s path): sealed
/// when its data directory was made by `signet init`.
pub struct GatedServer {
    pub gate: Arc<signet_server::seal::SealGate>,
    pub dir: tempfile::TempDir,
    pub base: String,
    pub config: ServerConfig,
    task: tokio::task::JoinHandle<()>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub pg: Option<Arc<PgDb>>,
}

impl GatedServer {
    /// Start on `dir/data` (which `signet init` may have prepared).
    pub async fn start_in(dir: tempfile::TempDir, pg: Option<Arc<PgDb>>) -> Self {
        Self::try_start_in(dir, pg, false).await.map_err(|(e, _)| e).unwrap()
    }

    pub async fn try_start_in(
        dir: tempfile::TempDir,
        pg: Option<Arc<PgDb>>,
        insecure_http: bool,
    ) -> Result<Self, (signet_server::bootstrap::BootError, tempfile::TempDir)> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let config = ServerConfig::resolve(ConfigFile {
            data_dir: Some(dir.path().join("data")),
            listen: Some(addr.to_string()),
            database: pg.as_ref().map(|p| p.url.clone()),
            commit_batch: Some(64),
            insecure_http: Some(insecure_http),
            ..Default::default()
        })
        .unwrap();
        let launched =
            match signet_server::seal::SealGate::launch(config.clone(), signet_server::seal::standard_tasks(config.clone())).await {
                Ok(l) => l,
                Err(e) => return Err((e, dir)),
            };
        let app = signet_server::seal::router(launched.gate.clone());
        let tls = signet_server::serve::tls_config(launched.server_cert.clone()).unwrap();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = signet_server::serve::serve_tls(listener, app, tls, async {
                let _ = stop_rx.await;
            })
            .await;
        });
        Ok(Self { gate: launched.gate, dir, base: format!("https://{addr}"), config, task, stop: Some(stop_tx), pg })
    }

    /// Stop serving (sealing the keys) and hand back the data directory (and database).
    pub async fn stop(mut self) -> (tempfile::TempDir, Option<Arc<PgDb>>) {
        if let Some(state) = self.gate.state() {
            state.stop_streams();
        }
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = (&mut self.task).await;
        self.gate.shutdown();
        (self.dir, self.pg)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A fresh client trusting whichever of `ca.pem` and `unseal-ca.pem` exist now.
    pub fn client(&self) -> reqwest::Client {
        let mut b = reqwest::Client::builder();
        for name in ["ca.pem", "unseal-ca.pem"] {
            let path = self.config.data_dir.join(name);
            if let Ok(pem) = std::fs::read(&path) {
                for c in reqwest::Certificate::from_pem_bundle(&pem).unwrap() {
                    b = b.add_root_certificate(c);
                }
            }
        }
        b.build().unwrap()
    }

    pub fn admin_token(&self) -> String {
        std::fs::read_to_string(self.config.data_dir.join("admin-token")).unwrap().trim().to_string()
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, serde_json::Value) {
        let mut rb = self.client().get(self.url(path));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        decode(rb.send().await.unwrap()).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &serde_json::Value) -> (u16, serde_json::Value) {
        let mut rb = self.client().post(self.url(path)).json(body);
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        decode(rb.send().await.unwrap()).await
    }

    pub async fn unseal(&self, share: &str) -> (u16, serde_json::Value) {
        self.post("/v1/sys/unseal", None, &serde_json::json!({ "share": share })).await
    }
}
