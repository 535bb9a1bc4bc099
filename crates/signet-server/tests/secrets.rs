//! No secret leaks into logs or answers. A representative run — the quick
//! start, then `signet init` + sealed start + unseal (with bad shares),
//! issuance, refused tokens, seal, unseal again — with the server's whole
//! log captured (every level, every target) and every response body and
//! header kept. Then every secret is looked for in all of it, in hex,
//! base64 and base64url: the admin and operator token secrets, the share
//! texts and their share parts, the master keys (the local unseal key, and
//! the one recombined from the shares here), and the PKCS#8 DER of every
//! authority key, which this test decrypts from the sealed key files itself
//! (an independent reading of the documented file format).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod common;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::GatedServer;
use serde_json::json;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// The log sink: everything the subscriber writes.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every answer, as text: status, headers, body.
#[derive(Default)]
struct Seen(Vec<String>);

impl Seen {
    async fn send(&mut self, rb: reqwest::RequestBuilder) -> (u16, serde_json::Value) {
        let r = rb.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = format!("{:?}", r.headers());
        let body = r.text().await.unwrap();
        self.0.push(format!("{status} {headers}\n{body}"));
        (status, serde_json::from_str(&body).unwrap_or(serde_json::Value::Null))
    }
}

/// A secret and the ways it could be written out.
struct Secret {
    what: String,
    forms: Vec<String>,
}

impl Secret {
    fn text(what: &str, s: &str) -> Self {
        Self { what: what.to_string(), forms: vec![s.to_string()] }
    }

    fn bytes(what: &str, b: &[u8]) -> Self {
        let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
        let mut forms = vec![hex.to_uppercase(), hex, STANDARD.encode(b), URL_SAFE_NO_PAD.encode(b)];
        // A 16-byte slice from the middle catches partial and re-encoded copies.
        if b.len() >= 48 {
            let mid = &b[b.len() / 2 - 8..b.len() / 2 + 8];
            forms.push(mid.iter().map(|x| format!("{x:02x}")).collect());
            forms.push(STANDARD.encode(mid));
        }
        Self { what: what.to_string(), forms }
    }

    fn found_in(&self, haystack: &str) -> Option<&str> {
        self.forms.iter().find(|f| haystack.contains(f.as_str())).map(String::as_str)
    }
}

/// Decrypt a sealed key file (the format documented in signet-keys `sealed/blob.rs`).
fn open_sealed(master: &[u8], key_ref: &str, file: &[u8]) -> Vec<u8> {
    let mut wrap_key = [0u8; 32];
    Salt::new(HKDF_SHA256, b"signet-seal-v1")
        .extract(master)
        .expand(&[b"signet seal data-key-wrap"], HKDF_SHA256)
        .unwrap()
        .fill(&mut wrap_key)
        .unwrap();
    assert_eq!(&file[..9], b"SIGNETSK\x01");
    let r = file[9] as usize;
    assert_eq!(&file[10..10 + r], key_ref.as_bytes());
    let a = file[10 + r] as usize;
    let alg = &file[11 + r..11 + r + a];
    let mut p = 11 + r + a;
    let wrap_nonce: [u8; 12] = file[p..p + 12].try_into().unwrap();
    p += 12;
    let mut data_key = file[p..p + 48].to_vec();
    p += 48;
    let body_nonce: [u8; 12] = file[p..p + 12].try_into().unwrap();
    p += 12;
    let len = u16::from_be_bytes([file[p], file[p + 1]]) as usize;
    p += 2;
    let mut body = file[p..p + len].to_vec();
    assert_eq!(p + len, file.len());

    let wrap = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &wrap_key).unwrap());
    let aad = [b"signet-sealed-key-1/wrap:".as_slice(), key_ref.as_bytes()].concat();
    let dk = wrap.open_in_place(Nonce::assume_unique_for_key(wrap_nonce), Aad::from(aad), &mut data_key).unwrap().to_vec();
    let body_key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &dk).unwrap());
    let mut aad = b"signet-sealed-key-1/body:".to_vec();
    aad.push(r as u8);
    aad.extend_from_slice(key_ref.as_bytes());
    aad.push(a as u8);
    aad.extend_from_slice(alg);
    body_key.open_in_place(Nonce::assume_unique_for_key(body_nonce), Aad::from(aad), &mut body).unwrap().to_vec()
}

/// The PKCS#8 DER of every key in a data directory: sealed authority keys
/// (decrypted with `master`) and the plain unseal TLS CA key.
fn private_keys(data: &Path, master: &[u8]) -> Vec<Secret> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(data.join("keys")).unwrap() {
        let path = entry.unwrap().path();
        let key_ref = path.file_stem().unwrap().to_str().unwrap().to_string();
        let der = open_sealed(master, &key_ref, &std::fs::read(&path).unwrap());
        assert_eq!(der[0], 0x30, "PKCS#8 DER");
        out.push(Secret::bytes(&format!("private key `{key_ref}` (PKCS#8)"), &der));
    }
    if let Ok(entries) = std::fs::read_dir(data.join("unseal-tls")) {
        for entry in entries {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "p8") {
                out.push(Secret::bytes("the unseal TLS CA key (PKCS#8)", &std::fs::read(&path).unwrap()));
            }
        }
    }
    assert!(out.len() >= 3, "root, issuing and log keys at least");
    out
}

fn csr_pem(name: &str) -> String {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec![format!("{name}.internal")]).unwrap();
    params.serialize_request(&key).unwrap().pem().unwrap()
}

async fn issue(seen: &mut Seen, srv: &GatedServer, token: &str, name: &str) {
    let c = srv.client();
    let (status, subject) = seen
        .send(c.post(srv.url("/v1/subjects")).bearer_auth(token).json(&json!({
            "name": name, "kind": "workload", "owner": "team", "purpose": "test",
        })))
        .await;
    assert_eq!(status, 201, "{subject}");
    let body = json!({ "subject": subject["id"], "profile": "tls-server", "csr": csr_pem(name), "ttl": "1h" });
    let (status, v) = seen.send(c.post(srv.url("/v1/requests")).bearer_auth(token).json(&body)).await;
    assert_eq!(status, 201, "{v}");
    // Refusals: a bad CSR, a name the profile refuses.
    let bad = json!({ "subject": subject["id"], "profile": "tls-server", "csr": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n" });
    assert_eq!(seen.send(c.post(srv.url("/v1/requests")).bearer_auth(token).json(&bad)).await.0, 400);
    let denied =
        json!({ "subject": subject["id"], "profile": "tls-server", "csr": csr_pem(name), "names": { "dns": ["www.example.com"] } });
    assert_eq!(seen.send(c.post(srv.url("/v1/requests")).bearer_auth(token).json(&denied)).await.0, 422);
    // Reads, and the log.
    for path in ["/v1/credentials", "/v1/requests", "/log/v1/search?limit=1000", "/metrics"] {
        assert_eq!(seen.send(c.get(srv.url(path)).bearer_auth(token)).await.0, 200, "{path}");
    }
}

/// Refused tokens: wrong, malformed, missing; each logged and recorded.
async fn bad_tokens(seen: &mut Seen, srv: &GatedServer, near_miss: &str) {
    let c = srv.client();
    for t in [near_miss, "signet_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "not-a-token"] {
        assert_eq!(seen.send(c.get(srv.url("/v1/subjects")).bearer_auth(t)).await.0, 401);
        assert_eq!(seen.send(c.post(srv.url("/v1/sys/seal")).bearer_auth(t).json(&json!({}))).await.0, 401);
    }
    assert_eq!(seen.send(c.get(srv.url("/v1/subjects"))).await.0, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_and_answers_carry_no_secrets() {
    let log = Capture::default();
    let sink = log.clone();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("trace"))
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .init();
    let mut seen = Seen::default();
    let mut secrets = Vec::new();

    // ---- The quick start: local unseal key.
    let quick = GatedServer::start_in(tempfile::tempdir().unwrap(), None).await;
    let data = quick.config.data_dir.clone();
    let admin = quick.admin_token();
    let local_key_text = std::fs::read_to_string(data.join("unseal-key")).unwrap();
    let master = URL_SAFE_NO_PAD.decode(local_key_text.trim().strip_prefix("signet-unseal-key-1:").unwrap()).unwrap();
    assert_eq!(master.len(), 32);
    let state = quick.gate.state().unwrap();
    let system = signet_core::authority::Caller::system();
    let ctx = signet_core::authority::Ctx { caller: &system, trace_id: None };
    let input = signet_model::operator::OperatorInput {
        name: "ops".into(),
        roles: vec!["admin".into(), "registration_officer".into()],
        all_sites: true,
        ..Default::default()
    };
    let op = state.authority.create_operator(ctx, &input).await.unwrap();
    let (_, operator) = state.authority.create_token(ctx, &op.operator.id, "ops", None).await.unwrap();
    issue(&mut seen, &quick, &admin, "quick").await;
    issue(&mut seen, &quick, &operator, "quick2").await;
    // A token one character off the real one.
    let near_miss = format!("{}x", &admin[..admin.len() - 1]);
    bad_tokens(&mut seen, &quick, &near_miss).await;
    let c = quick.client();
    assert_eq!(seen.send(c.post(quick.url("/v1/sys/seal")).bearer_auth(&admin).json(&json!({}))).await.0, 409);
    assert_eq!(seen.send(c.get(quick.url("/v1/sys/seal-status"))).await.0, 200);
    secrets.push(Secret::text("the quick start's admin token", &admin));
    secrets.push(Secret::text("an operator token", &operator));
    secrets.push(Secret::text("the local unseal key file", local_key_text.trim()));
    secrets.push(Secret::bytes("the quick start's master key", &master));
    secrets.extend(private_keys(&data, &master));
    quick.stop().await;

    // ---- The production path: signet init, sealed start, unseal.
    let dir = tempfile::tempdir().unwrap();
    let done = signet_server::init::init(&dir.path().join("data"), 5, 3, None).unwrap();
    let shares: Vec<String> = done.shares.iter().map(|s| s.reveal().to_string()).collect();
    let foreign_dir = tempfile::tempdir().unwrap();
    let foreign = signet_server::init::init(&foreign_dir.path().join("data"), 5, 3, None).unwrap();
    let srv = GatedServer::start_in(dir, None).await;
    let data = srv.config.data_dir.clone();
    let c = srv.client();
    let unseal = |share: &str| c.post(srv.url("/v1/sys/unseal")).json(&json!({ "share": share }));
    assert_eq!(seen.send(c.get(srv.url("/v1/subjects")).bearer_auth(&admin)).await.0, 503);
    assert_eq!(seen.send(unseal(&shares[0])).await.0, 200);
    assert_eq!(seen.send(unseal(foreign.shares[0].reveal())).await.0, 400);
    let mut corrupt: Vec<String> = shares[1].split(':').map(str::to_string).collect();
    corrupt[3] = corrupt[3].chars().rev().collect();
    assert_eq!(seen.send(unseal(&corrupt.join(":"))).await.0, 400);
    assert_eq!(seen.send(unseal(&shares[0])).await.0, 400);
    assert_eq!(seen.send(unseal(&format!("{}junk", shares[1]))).await.0, 400);
    assert_eq!(seen.send(c.post(srv.url("/v1/sys/unseal")).body(format!("{{\"share\": {}}}", shares[1]))).await.0, 415);
    assert_eq!(
        seen.send(c.post(srv.url("/v1/sys/unseal")).header("content-type", "application/json").body(format!("{{\"share\": {}", shares[1])))
            .await
            .0,
        400
    );
    assert_eq!(seen.send(unseal(&shares[1])).await.0, 200);
    assert_eq!(seen.send(unseal(&shares[2])).await.0, 200);
    let c = srv.client();
    let admin2 = srv.admin_token();
    issue(&mut seen, &srv, &admin2, "prod").await;
    let near_miss = format!("{}x", &admin2[..admin2.len() - 1]);
    bad_tokens(&mut seen, &srv, &near_miss).await;
    assert_eq!(seen.send(c.post(srv.url("/v1/sys/seal")).bearer_auth(&admin2).json(&json!({}))).await.0, 200);
    let c = srv.client();
    assert_eq!(seen.send(c.get(srv.url("/v1/credentials")).bearer_auth(&admin2)).await.0, 503);
    for share in [&shares[3], &shares[4], &shares[0]] {
        assert_eq!(seen.send(c.post(srv.url("/v1/sys/unseal")).json(&json!({ "share": share }))).await.0, 200);
    }
    let c = srv.client();
    assert_eq!(seen.send(c.get(srv.url("/log/v1/search?limit=1000")).bearer_auth(&admin2)).await.0, 200);

    // The master key, recombined here from three shares.
    let parts: Vec<blahaj::Share> = shares[..3]
        .iter()
        .map(|s| {
            let f: Vec<&str> = s.split(':').collect();
            let mut bytes = vec![f[2].parse::<u8>().unwrap()];
            bytes.extend(URL_SAFE_NO_PAD.decode(f[3]).unwrap());
            blahaj::Share::try_from(bytes.as_slice()).unwrap()
        })
        .collect();
    let master = blahaj::Sharks(3).recover(parts.iter()).unwrap();
    assert_eq!(master.len(), 32);
    secrets.push(Secret::text("the production admin token", &admin2));
    secrets.push(Secret::bytes("the production master key", &master));
    secrets.extend(private_keys(&data, &master));
    let all_shares: Vec<&str> = shares.iter().map(String::as_str).chain(foreign.shares.iter().map(|s| s.reveal())).collect();
    for (i, s) in all_shares.iter().enumerate() {
        secrets.push(Secret::text(&format!("share text {i}"), s));
        let y = s.split(':').nth(3).unwrap();
        secrets.push(Secret::text(&format!("share part {i}"), y));
        secrets.push(Secret::bytes(&format!("share part {i} (decoded)"), &URL_SAFE_NO_PAD.decode(y).unwrap()));
    }
    let _kept = srv.stop().await;

    // ---- Scan.
    let logs = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    let answers = seen.0.join("\n");
    // The capture worked: the run's refusals are in the log.
    for expected in ["unseal share refused", "unseal share accepted", "the keystore is unsealed", "the keystore was sealed"] {
        assert!(logs.contains(expected), "the log has no `{expected}`: the capture is not working");
    }
    assert!(answers.contains("urn:signet:problem:wrong-authority") && answers.contains("urn:signet:problem:unauthenticated"));
    // And the scanner finds what it looks for (positive control).
    let control = format!("{}\n{}", std::fs::read_to_string(data.join("admin-token")).unwrap(), local_key_text);
    let found: Vec<&str> = secrets.iter().filter(|s| s.found_in(&control).is_some()).map(|s| s.what.as_str()).collect();
    assert_eq!(found, ["the local unseal key file", "the quick start's master key", "the production admin token"]);

    let squeeze = |s: &str| s.chars().filter(|c| !c.is_whitespace() && *c != '\\').collect::<String>();
    let (logs_flat, answers_flat) = (squeeze(&logs), squeeze(&answers));
    let mut leaks = Vec::new();
    for s in &secrets {
        for (name, hay) in [("server log", &logs), ("server log", &logs_flat), ("responses", &answers), ("responses", &answers_flat)] {
            if let Some(form) = s.found_in(hay) {
                leaks.push(format!("{} found in the {name} (as `{}…`)", s.what, &form[..form.len().min(12)]));
            }
        }
    }
    assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));
    eprintln!("scanned {} bytes of log and {} answers for {} secrets", logs.len(), seen.0.len(), secrets.len());
}
