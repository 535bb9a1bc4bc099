//! Operator client certificates: issued by Signet (`POST /v1/operators/{id}/certificates`),
//! accepted over mTLS by `Authed` (reqwest/rustls and curl as clients), and
//! every way such a certificate must be refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A client certificate: the key file, the chain PEM (leaf, issuing, root) and its serial.
struct OperatorCert {
    key: PathBuf,
    chain: PathBuf,
    serial: String,
}

/// Ask for an operator certificate with `token`; the raw answer.
async fn ask_certificate(srv: &TestServer, token: &str, operator: &str, name: &str, ttl: Option<&str>) -> (u16, serde_json::Value) {
    let (_, csr) = openssl_csr(srv.dir.path(), name, "ec", "", &[]);
    let mut body = serde_json::json!({ "csr": csr });
    if let Some(t) = ttl {
        body["ttl"] = serde_json::json!(t);
    }
    let r = srv.http.post(srv.url(&format!("/v1/operators/{operator}/certificates"))).bearer_auth(token).json(&body).send().await.unwrap();
    decode(r).await
}

async fn issue_certificate(srv: &TestServer, token: &str, operator: &str, name: &str, ttl: Option<&str>) -> OperatorCert {
    let (status, v) = ask_certificate(srv, token, operator, name, ttl).await;
    assert_eq!(status, 201, "{v}");
    let chain = srv.dir.path().join(format!("{name}-chain.pem"));
    std::fs::write(&chain, v["chain_pem"].as_str().unwrap()).unwrap();
    OperatorCert { key: srv.dir.path().join(format!("{name}.key")), chain, serial: v["credential"]["serial"].as_str().unwrap().to_string() }
}

/// A reqwest (rustls) client presenting `cert`, trusting Signet's CA.
fn client_with(srv: &TestServer, key: &Path, chain: &Path) -> reqwest::Client {
    let mut pem = std::fs::read(key).unwrap();
    pem.extend(std::fs::read(chain).unwrap());
    let mut b = reqwest::Client::builder().identity(reqwest::Identity::from_pem(&pem).unwrap());
    for c in reqwest::Certificate::from_pem_bundle(&std::fs::read(srv.config.data_dir.join("ca.pem")).unwrap()).unwrap() {
        b = b.add_root_certificate(c);
    }
    b.build().unwrap()
}

fn mtls(srv: &TestServer, cert: &OperatorCert) -> reqwest::Client {
    client_with(srv, &cert.key, &cert.chain)
}

/// GET without a bearer token: the status and body, or `None` when the TLS handshake was refused.
async fn get_with(client: &reqwest::Client, srv: &TestServer, path: &str) -> Option<(u16, serde_json::Value)> {
    match client.get(srv.url(path)).send().await {
        Ok(r) => Some(decode(r).await),
        Err(_) => None,
    }
}

async fn admin_id(srv: &TestServer) -> String {
    let (_, me) = srv.get("/v1/whoami").await;
    me["actor"].as_str().unwrap().to_string()
}

/// Create an operator with `roles` and an API token for it.
async fn operator_with_token(srv: &TestServer, name: &str, roles: &[&str]) -> (String, String) {
    srv.enrolled_operator(serde_json::json!({ "name": name, "roles": roles, "all_sites": true })).await
}

/// Set a credential's status directly in the store (there is no credential
/// lifecycle endpoint yet): what a revocation or suspension writes.
async fn set_credential_status(srv: &TestServer, serial_hex: &str, status: &str) {
    let serial: Vec<u8> = (0..serial_hex.len()).step_by(2).map(|i| u8::from_str_radix(&serial_hex[i..i + 2], 16).unwrap()).collect();
    use sqlx::Connection;
    let sql = "UPDATE credentials SET status = $1 WHERE serial = $2";
    let rows = match &srv.pg {
        Some(pg) => {
            let mut c = sqlx::PgConnection::connect(&pg.url).await.unwrap();
            sqlx::query(sql).bind(status).bind(serial).execute(&mut c).await.unwrap().rows_affected()
        }
        None => {
            let url = format!("sqlite://{}", srv.config.data_dir.join("signet.db").display());
            let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::query(sql).bind(status).bind(serial).execute(&mut c).await.unwrap().rows_affected()
        }
    };
    assert_eq!(rows, 1);
}

fn have_curl() -> bool {
    let ok = Command::new("curl").arg("--version").output().map(|o| o.status.success()).unwrap_or(false);
    assert!(ok, "curl is needed by this test: run scripts/test, which installs the test peers");
    ok
}

both_backends!(an_operator_certificate_authenticates_over_mtls, |srv| {
    if !have_openssl() {
        return;
    }
    let admin = admin_id(&srv).await;
    let cert = issue_certificate(&srv, &srv.token, &admin, "admin-client", None).await;

    // The certificate: clientAuth only, the operator's URI SAN, 24 hours by default; openssl agrees it is a client certificate.
    let text = openssl_text(srv.dir.path(), &std::fs::read_to_string(&cert.chain).unwrap());
    assert!(text.contains("TLS Web Client Authentication") && !text.contains("TLS Web Server Authentication"), "{text}");
    assert!(text.contains(&format!("URI:urn:signet:operator:{admin}")), "{text}");
    let (_, c) = srv.get("/v1/credentials?limit=1000").await;
    let row = c["items"].as_array().unwrap().iter().find(|c| c["serial"] == cert.serial.as_str()).unwrap().clone();
    assert_eq!(row["profile"], "operator-client");
    let nb = time::OffsetDateTime::parse(row["not_before"].as_str().unwrap(), &time::format_description::well_known::Rfc3339).unwrap();
    let na = time::OffsetDateTime::parse(row["not_after"].as_str().unwrap(), &time::format_description::well_known::Rfc3339).unwrap();
    assert!(na - nb <= time::Duration::hours(24) + time::Duration::minutes(10) && na - nb > time::Duration::hours(23), "{row}");
    let chain_text = std::fs::read_to_string(&cert.chain).unwrap();
    let blocks: Vec<&str> = chain_text.split_inclusive("-----END CERTIFICATE-----\n").collect();
    std::fs::write(srv.dir.path().join("leaf.pem"), blocks[0]).unwrap();
    std::fs::write(srv.dir.path().join("issuing.pem"), blocks[1]).unwrap();
    let out = Command::new("openssl")
        .args(["verify", "-x509_strict", "-purpose", "sslclient", "-CAfile"])
        .arg(srv.config.data_dir.join("ca.pem"))
        .arg("-untrusted")
        .arg(srv.dir.path().join("issuing.pem"))
        .arg(srv.dir.path().join("leaf.pem"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // whoami with the certificate alone.
    let client = mtls(&srv, &cert);
    let (status, me) = get_with(&client, &srv, "/v1/whoami").await.unwrap();
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["actor"], admin.as_str());
    assert!(me["token_id"].is_null());
    assert!(me["roles"].as_array().unwrap().iter().any(|r| r == "admin"));

    // A permitted action; its event says how the operator authenticated.
    let r = client
        .post(srv.url("/v1/subjects"))
        .json(&serde_json::json!({ "name": "via-mtls", "kind": "workload", "owner": "team-web", "purpose": "mtls test" }))
        .send()
        .await
        .unwrap();
    let (status, subject) = decode(r).await;
    assert_eq!(status, 201, "{subject}");
    let created = srv.events_of("subject.created").await;
    let ev = created.iter().find(|e| e["subject_id"] == subject["id"]).unwrap();
    assert_eq!(ev["actor"], admin.as_str());
    assert_eq!(ev["details"]["auth"]["method"], "client_certificate");
    assert_eq!(ev["details"]["auth"]["serial"], cert.serial.as_str());
    // The issuance itself was logged as a credential.issued event.
    assert!(srv.events_of("credential.issued").await.iter().any(|e| e["details"]["serial"] == cert.serial.as_str()));

    // A client that sends only its leaf is completed with the issuing CA.
    let leaf_only = srv.dir.path().join("leaf.pem");
    let (status, me) = get_with(&client_with(&srv, &cert.key, &leaf_only), &srv, "/v1/whoami").await.unwrap();
    assert_eq!(status, 200, "{me}");

    // A bearer token wins over the certificate.
    let (bob, bob_token) = operator_with_token(&srv, "bob", &["auditor"]).await;
    let r = client.get(srv.url("/v1/whoami")).bearer_auth(&bob_token).send().await.unwrap();
    let (status, me) = decode(r).await;
    assert_eq!(status, 200);
    assert_eq!(me["actor"], bob.as_str());
    // …and a bad token is not rescued by a good certificate.
    let r = client.get(srv.url("/v1/whoami")).bearer_auth("signet_nope").send().await.unwrap();
    assert_eq!(decode(r).await.0, 401);

    // Without a certificate and without a token: 401.
    let (status, p) = get_with(&srv.http, &srv, "/v1/whoami").await.unwrap();
    assert_eq!(status, 401);
    assert!(p["detail"].as_str().unwrap().contains("no client certificate"), "{p}");

    // curl (OpenSSL), an independent client.
    if have_curl() {
        let out = Command::new("curl")
            .args(["-sS", "--fail-with-body", "--cert"])
            .arg(&cert.chain)
            .arg("--key")
            .arg(&cert.key)
            .arg("--cacert")
            .arg(srv.config.data_dir.join("ca.pem"))
            .arg(srv.url("/v1/whoami"))
            .output()
            .unwrap();
        assert!(out.status.success(), "curl: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let me: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(me["actor"], admin.as_str());
        // curl over TLS 1.2 as well.
        let out = Command::new("curl")
            .args(["-sS", "--fail-with-body", "--tls-max", "1.2", "--cert"])
            .arg(&cert.chain)
            .arg("--key")
            .arg(&cert.key)
            .arg("--cacert")
            .arg(srv.config.data_dir.join("ca.pem"))
            .arg(srv.url("/v1/operators"))
            .output()
            .unwrap();
        assert!(out.status.success(), "curl: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }
});

both_backends!(refused_certificates_get_401_and_are_logged, |srv| {
    if !have_openssl() {
        return;
    }
    let admin = admin_id(&srv).await;

    // A certificate from a foreign CA: the handshake is refused.
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "Signet Root CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let mut leaf_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    leaf_params.subject_alt_names = vec![rcgen::SanType::URI(format!("urn:signet:operator:{admin}").try_into().unwrap())];
    leaf_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
    let (fkey, fchain) = (srv.dir.path().join("foreign.key"), srv.dir.path().join("foreign.pem"));
    std::fs::write(&fkey, leaf_key.serialize_pem()).unwrap();
    std::fs::write(&fchain, format!("{}{}", leaf.pem(), ca.pem())).unwrap();
    match get_with(&client_with(&srv, &fkey, &fchain), &srv, "/v1/whoami").await {
        None => {}
        Some((status, v)) => assert_eq!(status, 401, "{v}"),
    }

    // A Signet certificate for a workload (clientAuth, but no operator): 401.
    let profile = serde_json::json!({
        "name": "mtls-client", "description": "service mTLS", "key_algorithms": ["ecdsa-p256"],
        "default_ttl": "1h", "max_ttl": "24h", "ext_key_usages": ["client_auth"], "subject_kinds": ["workload"],
        "names": { "uri": ["spiffe://example.org/{subject}"] }
    });
    let (status, v) = srv.put("/v1/profiles/mtls-client", &profile).await;
    assert!(status == 200 || status == 201, "{v}");
    let sub = srv.create_subject("payments").await;
    let (wkey, csr) = openssl_csr(srv.dir.path(), "payments", "ec", "URI:spiffe://example.org/payments", &[]);
    let (status, v) = srv.post("/v1/requests", &serde_json::json!({ "subject": sub, "profile": "mtls-client", "csr": csr })).await;
    assert_eq!(status, 201, "{v}");
    let wchain = srv.dir.path().join("payments-chain.pem");
    std::fs::write(&wchain, v["chain_pem"].as_str().unwrap()).unwrap();
    let workload_serial = v["credential"]["serial"].as_str().unwrap().to_string();
    let (status, p) = get_with(&client_with(&srv, &wkey, &wchain), &srv, "/v1/whoami").await.unwrap();
    assert_eq!(status, 401, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("not an operator certificate"), "{p}");
    let failures = srv.events_of("operator.auth_failed").await;
    assert!(failures.iter().any(|e| e["reason"].as_str().unwrap().contains(&workload_serial)), "{failures:?}");

    // The operator-client profile is not reachable through /v1/requests.
    let (_, csr) = openssl_csr(srv.dir.path(), "sneaky", "ec", &format!("URI:urn:signet:operator:{admin}"), &[]);
    let (status, p) = srv.post("/v1/requests", &serde_json::json!({ "subject": sub, "profile": "operator-client", "csr": csr })).await;
    assert_eq!(status, 400, "{p}");
    assert_eq!(p["field"], "profile");

    // Revoked, then suspended: refused at once.
    let cert = issue_certificate(&srv, &srv.token, &admin, "admin-client", None).await;
    let client = mtls(&srv, &cert);
    assert_eq!(get_with(&client, &srv, "/v1/whoami").await.unwrap().0, 200);
    set_credential_status(&srv, &cert.serial, "revoked").await;
    let (status, p) = get_with(&client, &srv, "/v1/whoami").await.unwrap();
    assert_eq!(status, 401);
    assert!(p["detail"].as_str().unwrap().contains("has been revoked"), "{p}");
    set_credential_status(&srv, &cert.serial, "suspended").await;
    let (status, p) = get_with(&client, &srv, "/v1/whoami").await.unwrap();
    assert_eq!(status, 401);
    assert!(p["detail"].as_str().unwrap().contains("is suspended"), "{p}");
    set_credential_status(&srv, &cert.serial, "active").await;
    assert_eq!(get_with(&client, &srv, "/v1/whoami").await.unwrap().0, 200);

    // The operator's certificate subject suspended: refused; reinstated: accepted again.
    let (_, subjects) = srv.get("/v1/subjects?limit=1000").await;
    let op_subject =
        subjects["items"].as_array().unwrap().iter().find(|s| s["name"] == admin.as_str()).unwrap()["id"].as_str().unwrap().to_string();
    let (status, v) = srv.post(&format!("/v1/subjects/{op_subject}/suspend"), &serde_json::json!({ "reason": "lost laptop" })).await;
    assert_eq!(status, 200, "{v}");
    let (status, p) = get_with(&client, &srv, "/v1/whoami").await.unwrap();
    assert_eq!(status, 401);
    assert!(p["detail"].as_str().unwrap().contains("suspended"), "{p}");
    let (status, p) = ask_certificate(&srv, &srv.token, &admin, "while-suspended", None).await;
    assert_eq!(status, 422, "{p}");
    let (status, v) = srv.post(&format!("/v1/subjects/{op_subject}/reinstate"), &serde_json::json!({ "reason": "found it" })).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(get_with(&client, &srv, "/v1/whoami").await.unwrap().0, 200);

    // A disabled operator: its certificate is refused, and it gets no new one.
    let (carol, carol_token) = operator_with_token(&srv, "carol", &["auditor"]).await;
    let carol_cert = issue_certificate(&srv, &carol_token, &carol, "carol-client", None).await;
    let carol_client = mtls(&srv, &carol_cert);
    assert_eq!(get_with(&carol_client, &srv, "/v1/whoami").await.unwrap().0, 200);
    let (status, v) = srv
        .put(
            &format!("/v1/operators/{carol}"),
            &serde_json::json!({ "name": "carol", "roles": ["auditor"], "all_sites": true, "disabled": true }),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let (status, p) = get_with(&carol_client, &srv, "/v1/whoami").await.unwrap();
    assert_eq!(status, 401);
    assert!(p["detail"].as_str().unwrap().contains("disabled"), "{p}");
    let (status, p) = ask_certificate(&srv, &carol_token, &carol, "carol-again", None).await;
    assert_eq!(status, 401, "{p}");

    // An expired certificate: refused by the handshake (or 401).
    let short = issue_certificate(&srv, &srv.token, &admin, "short-lived", Some("2s")).await;
    let short_client = mtls(&srv, &short);
    tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
    match get_with(&short_client, &srv, "/v1/whoami").await {
        None => {}
        Some((status, v)) => assert_eq!(status, 401, "{v}"),
    }

    // Lifetimes beyond the profile's maximum are refused.
    let (status, p) = ask_certificate(&srv, &srv.token, &admin, "too-long", Some("31d")).await;
    assert_eq!(status, 422, "{p}");
    assert_eq!(p["field"], "ttl");
});

both_backends!(an_operator_certificate_carries_only_its_operators_rights, |srv| {
    if !have_openssl() {
        return;
    }
    let admin = admin_id(&srv).await;
    let (audrey, audrey_token) = operator_with_token(&srv, "audrey", &["auditor"]).await;

    // An operator may get a certificate for itself (like a token)…
    let cert = issue_certificate(&srv, &audrey_token, &audrey, "audrey-client", Some("1h")).await;
    // …but not for another operator: 403, logged.
    let (status, p) = ask_certificate(&srv, &audrey_token, &admin, "audrey-as-admin", None).await;
    assert_eq!(status, 403, "{p}");
    // Nor may an admin get one for another operator (sod.own-credentials-only), known or not.
    let (status, p) = ask_certificate(&srv, &srv.token, &audrey, "admin-as-audrey", None).await;
    assert_eq!(status, 403, "{p}");
    assert_eq!(p["policies"], serde_json::json!(["sod.own-credentials-only"]), "{p}");
    let (status, _) = ask_certificate(&srv, &srv.token, "op_00000000000000000000000000000000", "nobody", None).await;
    assert_eq!(status, 403);

    // With its certificate, the auditor reads the log but may not enrol subjects: 403 and `operator.denied`.
    let client = mtls(&srv, &cert);
    let (status, _) = get_with(&client, &srv, "/v1/events?limit=1").await.unwrap();
    assert_eq!(status, 200);
    let r = client
        .post(srv.url("/v1/subjects"))
        .json(&serde_json::json!({ "name": "nope", "kind": "workload", "owner": "team-web", "purpose": "x" }))
        .send()
        .await
        .unwrap();
    let (status, p) = decode(r).await;
    assert_eq!(status, 403, "{p}");
    let denied = srv.events_of("operator.denied").await;
    let ev = denied.iter().find(|e| e["actor"] == audrey.as_str() && e["details"]["action"] == "subject.create").unwrap();
    assert_eq!(ev["details"]["auth"]["serial"], cert.serial.as_str());
    // The certificate request that was refused is logged too (by its token: no `auth`).
    assert!(denied.iter().any(|e| e["actor"] == audrey.as_str() && e["details"]["action"] == "token.create"));
});
