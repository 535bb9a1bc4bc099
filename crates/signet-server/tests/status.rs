//! Certificate status over HTTP: `GET /crl` and the OCSP responder, checked
//! by openssl (`openssl crl`, `openssl verify -crl_check`, `openssl ocsp`
//! over HTTPS), once on SQLite and once on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod common;

use base64::Engine as _;
use common::{Backend, TestServer, have_openssl, openssl_csr};
use serde_json::json;
use std::path::Path;
use std::process::Command;

/// Run openssl in `dir`; returns (success, stdout + stderr).
fn openssl(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

fn openssl_ok(dir: &Path, args: &[&str]) -> String {
    let (ok, out) = openssl(dir, args);
    assert!(ok, "openssl {args:?} failed:\n{out}");
    out
}

/// Issue a certificate for `name`; write `{name}.pem`, `issuing.pem` and
/// `root.pem` into `dir`; return the serial (hex).
async fn issue(srv: &TestServer, dir: &Path, subject: &str, name: &str) -> String {
    let (_, csr) = openssl_csr(dir, name, "ec", &format!("DNS:{name}.internal"), &[]);
    let (status, v) = srv.post("/v1/requests", &json!({ "subject": subject, "profile": "tls-server", "csr": csr, "ttl": "1h" })).await;
    assert_eq!(status, 201, "{v}");
    let chain = v["chain_pem"].as_str().unwrap();
    let blocks: Vec<&str> = chain.split_inclusive("-----END CERTIFICATE-----\n").collect();
    assert_eq!(blocks.len(), 3, "leaf, issuing, root");
    std::fs::write(dir.join(format!("{name}.pem")), blocks[0]).unwrap();
    std::fs::write(dir.join("issuing.pem"), blocks[1]).unwrap();
    std::fs::write(dir.join("root.pem"), blocks[2]).unwrap();
    v["credential"]["serial"].as_str().unwrap().to_string()
}

/// No revoke API exists yet: mark a credential revoked in the database, as one will.
async fn revoke_in_database(srv: &TestServer, serial_hex: &str) {
    let serial: Vec<u8> = (0..serial_hex.len()).step_by(2).map(|i| u8::from_str_radix(&serial_hex[i..i + 2], 16).unwrap()).collect();
    let sql = "UPDATE credentials SET status = 'revoked' WHERE serial = $1";
    let updated = match &srv.pg {
        Some(pg) => {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(&pg.url).await.unwrap();
            sqlx::query(sql).bind(serial).execute(&mut c).await.unwrap().rows_affected()
        }
        None => {
            use sqlx::Connection;
            let url = format!("sqlite://{}", srv.config.data_dir.join("signet.db").display());
            let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::query(sql).bind(serial).execute(&mut c).await.unwrap().rows_affected()
        }
    };
    assert_eq!(updated, 1);
}

async fn status_endpoints_work_with_openssl(backend: Backend) {
    if !have_openssl() {
        return;
    }
    let Some(srv) = TestServer::start(backend).await else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let ca_pem = srv.config.data_dir.join("ca.pem");
    let ca_pem = ca_pem.to_str().unwrap();
    let subject = srv.create_subject("web").await;
    let _good = issue(&srv, dir, &subject, "good").await;
    let bad = issue(&srv, dir, &subject, "bad").await;
    revoke_in_database(&srv, &bad).await;

    // The CRL: DER, verified by openssl under the chain; it lists `bad` only.
    let r = srv.http.get(srv.url("/crl")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/pkix-crl");
    let crl = r.bytes().await.unwrap();
    std::fs::write(dir.join("crl.der"), &crl).unwrap();
    let out = openssl_ok(dir, &["crl", "-inform", "DER", "-in", "crl.der", "-CAfile", ca_pem, "-noout"]);
    assert!(out.contains("verify OK"), "{out}");
    let text = openssl_ok(dir, &["crl", "-inform", "DER", "-in", "crl.der", "-noout", "-text"]);
    assert!(text.to_lowercase().contains(&bad), "{text}");
    assert_eq!(text.matches("Serial Number:").count(), 1, "{text}");
    openssl_ok(dir, &["crl", "-inform", "DER", "-in", "crl.der", "-out", "crl.pem"]);
    let verify = ["verify", "-crl_check", "-CRLfile", "crl.pem", "-CAfile", "root.pem", "-untrusted", "issuing.pem"];
    openssl_ok(dir, &[&verify[..], &["good.pem"]].concat());
    let (ok, out) = openssl(dir, &[&verify[..], &["bad.pem"]].concat());
    assert!(!ok && out.contains("certificate revoked"), "{out}");

    // Served again from memory: the same bytes, not a new signature.
    let again = srv.http.get(srv.url("/crl")).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(again, crl);

    // OCSP over HTTPS, by openssl: good (nonce checked), revoked, unknown.
    let url = srv.url("/ocsp");
    let ocsp = |cert: &[&str]| {
        let mut args = vec!["ocsp", "-issuer", "issuing.pem", "-url", &url, "-CAfile", ca_pem, "-resp_text"];
        args.extend(cert);
        openssl_ok(dir, &args)
    };
    let out = ocsp(&["-cert", "good.pem"]);
    assert!(out.contains("Response verify OK") && out.contains("good.pem: good"), "{out}");
    assert!(out.contains("OCSP Nonce") && !out.contains("WARNING") && !out.contains("Nonce Verify error"), "{out}");
    let out = ocsp(&["-sha256", "-cert", "good.pem"]);
    assert!(out.contains("Hash Algorithm: sha256") && out.contains("Response verify OK") && out.contains("good.pem: good"), "{out}");
    let out = ocsp(&["-cert", "bad.pem"]);
    assert!(out.contains("Response verify OK") && out.contains("bad.pem: revoked"), "{out}");
    let out = ocsp(&["-serial", "0x1234"]);
    assert!(out.contains("Response verify OK") && out.contains("0x1234: unknown"), "{out}");

    // The GET form, standard and URL-safe base64 (percent-encoded in the path).
    openssl_ok(dir, &["ocsp", "-issuer", "issuing.pem", "-cert", "good.pem", "-reqout", "req.der"]);
    let req = std::fs::read(dir.join("req.der")).unwrap();
    let standard = base64::engine::general_purpose::STANDARD.encode(&req).replace('+', "%2B").replace('/', "%2F").replace('=', "%3D");
    let url_safe = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&req);
    for encoded in [standard, url_safe] {
        let r = srv.http.get(srv.url(&format!("/ocsp/{encoded}"))).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "application/ocsp-response");
        std::fs::write(dir.join("resp.der"), r.bytes().await.unwrap()).unwrap();
        let out = openssl_ok(
            dir,
            &["ocsp", "-reqin", "req.der", "-respin", "resp.der", "-issuer", "issuing.pem", "-CAfile", ca_pem, "-resp_text"],
        );
        assert!(out.contains("Response verify OK") && out.contains("Cert Status: good"), "{out}");
        assert!(!out.contains("WARNING") && !out.contains("Nonce Verify error"), "{out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_endpoints_work_with_openssl_sqlite() {
    status_endpoints_work_with_openssl(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_endpoints_work_with_openssl_postgres() {
    status_endpoints_work_with_openssl(Backend::Postgres).await
}

/// Garbage, truncated, oversized or undecodable requests: HTTP 200 with an
/// unsigned `malformedRequest` OCSPResponse, never a 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_ocsp_requests_get_malformed_request() {
    if !have_openssl() {
        return;
    }
    let Some(srv) = TestServer::start(Backend::Sqlite).await else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    openssl_ok(
        dir,
        &["ocsp", "-issuer", &srv.config.data_dir.join("ca.pem").display().to_string(), "-serial", "0x1234", "-reqout", "req.der"],
    );
    let req = std::fs::read(dir.join("req.der")).unwrap();

    let post = |body: Vec<u8>| srv.http.post(srv.url("/ocsp")).header("content-type", "application/ocsp-request").body(body).send();
    let responses = vec![
        post(b"garbage".to_vec()).await.unwrap(),
        post(Vec::new()).await.unwrap(),
        post(req[..req.len() - 3].to_vec()).await.unwrap(),
        post([req.clone(), vec![0]].concat()).await.unwrap(),
        post(vec![0x30; 70 * 1024]).await.unwrap(),
        srv.http.get(srv.url("/ocsp/not*base64")).send().await.unwrap(),
        srv.http.get(srv.url("/ocsp/Z2FyYmFnZQ")).send().await.unwrap(), // base64 of "garbage"
    ];
    for (i, r) in responses.into_iter().enumerate() {
        assert_eq!(r.status(), 200, "case {i}");
        assert_eq!(r.headers()["content-type"], "application/ocsp-response", "case {i}");
        let body = r.bytes().await.unwrap();
        assert_eq!(&body[..], [0x30, 0x03, 0x0a, 0x01, 0x01], "case {i}");
        std::fs::write(dir.join("resp.der"), &body).unwrap();
        let (_, out) = openssl(dir, &["ocsp", "-respin", "resp.der", "-resp_text", "-noverify"]);
        assert!(out.contains("malformedrequest"), "case {i}: {out}");
    }
    // The well-formed request still gets a signed answer.
    let r = post(req).await.unwrap();
    assert_eq!(r.status(), 200);
    let body = r.bytes().await.unwrap();
    std::fs::write(dir.join("resp.der"), &body).unwrap();
    let out = openssl_ok(dir, &["ocsp", "-respin", "resp.der", "-resp_text", "-noverify"]);
    assert!(out.contains("OCSP Response Status: successful") && out.contains("Cert Status: unknown"), "{out}");
}

/// `tool --help` must run: a missing tool fails the test (scripts/test
/// installs them), so it is never counted as passed.
fn have(tool: &str) -> bool {
    let ok = Command::new(tool).arg("--help").output().map(|o| o.status.success()).unwrap_or(false);
    assert!(ok, "{tool} is needed by this test: run scripts/test, which installs the test peers");
    ok
}

/// Run a tool in `dir`; (success, stdout + stderr).
fn run(dir: &Path, tool: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(tool).args(args).current_dir(dir).output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// curl (an independent HTTP client) GETs `url` into `file`; the HTTP status.
fn curl_get(dir: &Path, url: &str, file: &str) -> String {
    let (ok, out) = run(dir, "curl", &["-s", "-o", file, "-w", "%{http_code}", url]);
    assert!(ok, "curl {url}: {out}");
    out
}

/// The value after `label` on its line of `text` (an `openssl x509 -text` field).
fn field_after<'a>(text: &'a str, label: &str) -> &'a str {
    let at = text.find(label).unwrap_or_else(|| panic!("no `{label}` in:\n{text}")) + label.len();
    text[at..].lines().next().unwrap().trim()
}

/// pkilint's findings for `file` with the linter `tool` and `args`, at
/// WARNING and above: empty when the document is clean.
fn pkilint(dir: &Path, tool: &str, args: &[&str], file: &str) -> String {
    let (_, out) = run(dir, tool, &[&["lint", "-s", "WARNING"], args, &[file]].concat());
    out.trim().to_string()
}

/// With `status_listen`, new certificates point at plain-HTTP status URLs,
/// which relying parties that fetch revocation data over HTTP only (Windows'
/// CryptoAPI; the CA/Browser Forum requires it) can use; the listener serves
/// the CRL, OCSP and the CA certificates and nothing else. Checked with curl,
/// openssl and pkilint (RFC 5280, RFC 6960 and the CA/B Forum lints).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_over_plain_http_with_a_status_listener() {
    if !have_openssl() || !have("curl") || !have("lint_pkix_cert") {
        return;
    }
    let srv = TestServer::start_with_status_listener(Default::default()).await;
    let status = srv.status_base.clone().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let ca_pem = srv.config.data_dir.join("ca.pem");
    let ca_pem = ca_pem.to_str().unwrap();
    let subject = srv.create_subject("web").await;
    issue(&srv, dir, &subject, "good").await;
    let bad = issue(&srv, dir, &subject, "bad").await;
    revoke_in_database(&srv, &bad).await;

    // Every status URL of the certificate is on the plain-HTTP listener.
    let text = openssl_ok(dir, &["x509", "-in", "good.pem", "-noout", "-text"]);
    let crl_url = field_after(&text, "Full Name:\n").trim_start_matches("URI:").to_string();
    let ocsp_url = field_after(&text, "OCSP - URI:");
    let ca_issuers_url = field_after(&text, "CA Issuers - URI:");
    for url in [crl_url.as_str(), ocsp_url, ca_issuers_url] {
        assert!(url.starts_with(&format!("{status}/")), "`{url}` is not on {status}:\n{text}");
    }

    // CA issuers: the issuing CA's certificate, DER.
    assert_eq!(curl_get(dir, ca_issuers_url, "issuing.der"), "200");
    openssl_ok(dir, &["x509", "-in", "issuing.pem", "-outform", "DER", "-out", "issuing-expected.der"]);
    assert_eq!(std::fs::read(dir.join("issuing.der")).unwrap(), std::fs::read(dir.join("issuing-expected.der")).unwrap());

    // The CRL, fetched from the URL in the certificate: signed, lists `bad`.
    assert_eq!(curl_get(dir, &crl_url, "crl.der"), "200");
    let out = openssl_ok(dir, &["crl", "-inform", "DER", "-in", "crl.der", "-CAfile", ca_pem, "-noout"]);
    assert!(out.contains("verify OK"), "{out}");
    openssl_ok(dir, &["crl", "-inform", "DER", "-in", "crl.der", "-out", "crl.pem"]);
    let verify = ["verify", "-crl_check", "-CRLfile", "crl.pem", "-CAfile", "root.pem", "-untrusted", "issuing.pem"];
    openssl_ok(dir, &[&verify[..], &["good.pem"]].concat());
    let (ok, out) = openssl(dir, &[&verify[..], &["bad.pem"]].concat());
    assert!(!ok && out.contains("certificate revoked"), "{out}");

    // OCSP over plain HTTP at the URL in the certificate.
    let ocsp = |cert: &str| {
        openssl_ok(dir, &["ocsp", "-issuer", "issuing.pem", "-url", ocsp_url, "-CAfile", ca_pem, "-cert", cert, "-respout", "resp.der"])
    };
    let out = ocsp("good.pem");
    assert!(out.contains("Response verify OK") && out.contains("good.pem: good"), "{out}");
    let out = ocsp("bad.pem");
    assert!(out.contains("Response verify OK") && out.contains("bad.pem: revoked"), "{out}");

    // pkilint finds nothing at WARNING or above in the chain, the CRL or the
    // OCSP response; and the CA/B Forum's TLS lints find no status URL they
    // refuse (they do for the HTTPS URLs of a server without a status listener).
    for cert in ["good.pem", "issuing.pem", "root.pem"] {
        assert_eq!(pkilint(dir, "lint_pkix_cert", &[], cert), "", "{cert}");
    }
    assert_eq!(pkilint(dir, "lint_crl", &["-t", "CRL", "-p", "PKIX"], "crl.der"), "");
    assert_eq!(pkilint(dir, "lint_ocsp_response", &[], "resp.der"), "");
    let refused_urls = ["aia_location_uri_not_http", "crldp_dpname_prohibited_uri_scheme", "revocation_information_absent"];
    let br = pkilint(dir, "lint_cabf_serverauth_cert", &["-d"], "good.pem");
    for finding in refused_urls {
        assert!(!br.contains(finding), "{finding}:\n{br}");
    }
    let https_only = TestServer::start(Backend::Sqlite).await.unwrap();
    let https_subject = https_only.create_subject("web").await;
    issue(&https_only, dir, &https_subject, "over-https").await;
    let br = pkilint(dir, "lint_cabf_serverauth_cert", &["-d"], "over-https.pem");
    for finding in refused_urls {
        assert!(br.contains(finding), "the control certificate is refused for `{finding}`:\n{br}");
    }

    // Nothing but status on the plain listener: no API, no sys, no log, no metrics.
    for path in ["/v1/subjects", "/v1/requests", "/v1/sys/seal-status", "/v1/openapi.json", "/log/v1/checkpoint", "/metrics"] {
        assert_eq!(curl_get(dir, &format!("{status}{path}"), "body.json"), "404", "{path}");
        let body: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("body.json")).unwrap()).unwrap();
        assert!(body["detail"].as_str().unwrap().contains("HTTPS listener"), "{body}");
    }
    let (ok, code) =
        run(dir, "curl", &["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "-d", "{}", &format!("{status}/v1/requests")]);
    assert!(ok && code == "404", "{code}");
    assert_eq!(curl_get(dir, &format!("{status}/ca.pem"), "ca.pem"), "200");
    assert_eq!(std::fs::read_to_string(dir.join("ca.pem")).unwrap(), std::fs::read_to_string(ca_pem).unwrap());
    assert_eq!(curl_get(dir, &format!("{status}/healthz"), "health.json"), "200");
    // No HSTS over plain HTTP (RFC 6797 §7.2); the other security headers stay.
    let (_, headers) = run(dir, "curl", &["-s", "-D", "-", "-o", "/dev/null", &format!("{status}/healthz")]);
    let headers = headers.to_ascii_lowercase();
    assert!(headers.contains("x-content-type-options: nosniff") && !headers.contains("strict-transport-security"), "{headers}");

    // The HTTPS listener still answers at the URLs of earlier certificates.
    let r = srv.http.get(srv.url("/crl")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}
