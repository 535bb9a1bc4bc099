//! End-to-end tests of the HTTP API on a real TLS server, run once on SQLite
//! and once on PostgreSQL. Certificates are checked by openssl, not by us.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod common;

use common::{Backend, TestServer, have_openssl, openssl_csr, openssl_text, openssl_verify, served_certificate};
use serde_json::json;

both_backends!(issues_a_certificate_that_openssl_verifies, |srv| {
    if !have_openssl() {
        return;
    }
    let subject = srv.create_subject("web").await;
    let tmp = tempfile::tempdir().unwrap();
    let (_, csr) = openssl_csr(tmp.path(), "web", "ec", "DNS:web.internal,IP:127.0.0.1", &[]);
    let (status, v) = srv.post("/v1/requests", &json!({ "subject": subject, "profile": "tls-server", "csr": csr, "ttl": "1h" })).await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["request"]["state"], "issued");
    let chain = v["chain_pem"].as_str().unwrap();
    let (ok, out) = openssl_verify(tmp.path(), chain, &srv.config.data_dir.join("ca.pem"));
    assert!(ok, "openssl verify: {out}");

    let text = openssl_text(tmp.path(), v["credential"]["certificate_pem"].as_str().unwrap());
    assert!(text.contains("DNS:web.internal"), "{text}");
    assert!(text.contains("IP Address:127.0.0.1"), "{text}");
    assert!(text.contains("CA:FALSE"), "{text}");
    assert!(text.contains("TLS Web Server Authentication"), "{text}");
    assert!(text.contains(&format!("OCSP - URI:{}/ocsp", srv.base)), "{text}");
    let issuer = v["credential"]["issuer_id"].as_str().unwrap();
    assert!(text.contains(&format!("CA Issuers - URI:{}/ca/{issuer}", srv.base)), "{text}");
    assert!(text.contains(&format!("URI:{}/crl/{issuer}", srv.base)), "{text}");
    assert!(text.contains("Subject Key Identifier") && text.contains("Authority Key Identifier"), "{text}");

    // The serial: 16 octets, positive.
    let serial = v["credential"]["serial"].as_str().unwrap();
    assert_eq!(serial.len(), 32);
    assert!(u8::from_str_radix(&serial[..2], 16).unwrap() < 0x80);

    // Readable by id and by serial; listed; the event is recorded.
    let id = v["credential"]["id"].as_str().unwrap();
    let (s1, by_id) = srv.get(&format!("/v1/credentials/{id}")).await;
    let (s2, by_serial) = srv.get(&format!("/v1/credentials/{serial}")).await;
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(by_id, by_serial);
    assert_eq!(by_id["certificate_pem"], v["credential"]["certificate_pem"]);
    let issued = srv.events_of("credential.issued").await;
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0]["credential_id"], id);
    assert_eq!(issued[0]["details"]["serial"], serial);
    assert!(issued[0]["trace_id"].as_str().unwrap().starts_with('r'));
});

both_backends!(csr_names_can_be_replaced_and_other_key_types_work, |srv| {
    if !have_openssl() {
        return;
    }
    let subject = srv.create_subject("api").await;
    let tmp = tempfile::tempdir().unwrap();
    for (i, newkey) in ["ed25519", "rsa:3072"].iter().enumerate() {
        let (_, csr) = openssl_csr(tmp.path(), &format!("k{i}"), newkey, "DNS:ignored.internal", &[]);
        let (status, v) = srv
            .post(
                "/v1/requests",
                &json!({ "subject": subject, "profile": "tls-server", "csr": csr, "names": { "dns": [format!("api{i}.internal")] } }),
            )
            .await;
        assert_eq!(status, 201, "{newkey}: {v}");
        assert_eq!(v["credential"]["names"]["dns"], json!([format!("api{i}.internal")]));
        let (ok, out) = openssl_verify(tmp.path(), v["chain_pem"].as_str().unwrap(), &srv.config.data_dir.join("ca.pem"));
        assert!(ok, "{newkey}: {out}");
    }
});

both_backends!(a_csr_asking_for_ca_true_gets_an_end_entity_certificate, |srv| {
    if !have_openssl() {
        return;
    }
    let subject = srv.create_subject("sneaky").await;
    let tmp = tempfile::tempdir().unwrap();
    let (_, csr) = openssl_csr(
        tmp.path(),
        "sneaky",
        "ec",
        "DNS:sneaky.internal",
        &["basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign"],
    );
    let (status, v) = srv.post("/v1/requests", &json!({ "subject": subject, "profile": "tls-server", "csr": csr })).await;
    assert_eq!(status, 201, "{v}");
    let text = openssl_text(tmp.path(), v["credential"]["certificate_pem"].as_str().unwrap());
    assert!(text.contains("CA:FALSE"), "{text}");
    assert!(!text.contains("Certificate Sign"), "{text}");
});

// Every refused input: a problem naming the field, and nothing written
// except, for policy refusals, the denied request and its event.
both_backends!(bad_input_is_refused_with_the_field_and_changes_nothing, |srv| {
    if !have_openssl() {
        return;
    }
    let subject = srv.create_subject("web").await;
    let tmp = tempfile::tempdir().unwrap();
    let (_, good) = openssl_csr(tmp.path(), "good", "ec", "DNS:web.internal", &[]);
    let (_, rsa2048) = openssl_csr(tmp.path(), "rsa", "rsa:2048", "DNS:web.internal", &[]);
    let (_, outside) = openssl_csr(tmp.path(), "outside", "ec", "DNS:www.example.com", &[]);
    // A CSR whose signature no longer matches its content: flip one base64
    // character inside the signature near the end.
    let mut tampered: Vec<char> = good.chars().collect();
    let end = good.find("-----END").unwrap();
    let pos = end - 10;
    tampered[pos] = if tampered[pos] == 'A' { 'B' } else { 'A' };
    let tampered: String = tampered.into_iter().collect();

    let base = |csr: &str| json!({ "subject": subject, "profile": "tls-server", "csr": csr });
    let before = srv.counts().await;

    // Malformed input: 400, nothing written at all.
    let malformed: Vec<(serde_json::Value, &str)> = vec![
        (json!({ "subject": subject, "profile": "tls-server", "csr": "not a csr" }), "csr"),
        (
            json!({ "subject": subject, "profile": "tls-server", "csr": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n" }),
            "csr",
        ),
        (base(&tampered), "csr"),
        (json!({ "subject": subject, "profile": "no-such-profile", "csr": good }), "profile"),
        (json!({ "subject": "sub_00000000000000000000000000000000", "profile": "tls-server", "csr": good }), "subject"),
        (json!({ "subject": "web", "profile": "tls-server", "csr": good }), "subject"),
        (
            json!({ "subject": subject, "profile": "tls-server", "csr": good, "names": { "dns": ["a.internal", "A.internal"] } }),
            "names.dns[1]",
        ),
        (json!({ "subject": subject, "profile": "tls-server", "csr": good, "names": { "ip": ["300.1.1.1"] } }), "names.ip[0]"),
        (json!({ "subject": subject, "profile": "tls-server", "csr": good, "ttl": "forever" }), "ttl"),
        (json!({ "subject": subject, "profile": "tls-server", "csr": good, "colour": "blue" }), "colour"),
        (json!({ "subject": subject, "profile": "tls-server" }), "csr"),
        (json!({ "subject": 7, "profile": "tls-server", "csr": good }), "subject"),
    ];
    for (body, field) in malformed {
        let (status, p) = srv.post("/v1/requests", &body).await;
        assert_eq!(status, 400, "{body}: {p}");
        assert_eq!(p["field"], field, "{body}: {p}");
        assert!(p["detail"].as_str().unwrap().len() > 5);
        assert!(p["request_id"].as_str().is_some());
        assert_eq!(p["type"], "urn:signet:problem:invalid-input");
    }
    assert_eq!(srv.counts().await, before, "malformed input wrote nothing");

    // Not JSON at all, wrong content type, too large.
    let r = srv
        .http
        .post(srv.url("/v1/requests"))
        .bearer_auth(&srv.token)
        .header("content-type", "application/json")
        .body("{\"subject\": ")
        .send()
        .await
        .unwrap();
    let (status, p) = common::decode(r).await;
    assert_eq!(status, 400);
    assert!(p["reason"].as_str().unwrap().contains("malformed JSON"), "{p}");
    let r =
        srv.http.post(srv.url("/v1/requests")).bearer_auth(&srv.token).header("content-type", "text/plain").body("x").send().await.unwrap();
    assert_eq!(common::decode(r).await.0, 415);
    let huge = json!({ "subject": subject, "profile": "tls-server", "csr": "A".repeat(300 * 1024) });
    let r = srv.http.post(srv.url("/v1/requests")).bearer_auth(&srv.token).json(&huge).send().await.unwrap();
    // The rest of the body was not read: the server closes the connection and says so, so that it is not reused.
    assert_eq!(r.headers().get("connection").map(|v| v.to_str().unwrap()), Some("close"));
    assert_eq!(common::decode(r).await.0, 413);
    assert_eq!(srv.counts().await, before, "malformed input wrote nothing");

    // Policy refusals: 422, recorded as a denied request with its event, no credential.
    let denied: Vec<(serde_json::Value, &str, &str)> = vec![
        (base(&outside), "csr.names.dns[0]", "not allowed by the profile"),
        (
            json!({ "subject": subject, "profile": "tls-server", "csr": good, "names": { "dns": ["evil.example.com"] } }),
            "names.dns[0]",
            "not allowed",
        ),
        (
            json!({ "subject": subject, "profile": "tls-server", "csr": good, "names": { "uri": ["spiffe://example.org/web"] } }),
            "names.uri[0]",
            "not allowed",
        ),
        (json!({ "subject": subject, "profile": "tls-server", "csr": good, "ttl": "31d" }), "ttl", "max `30d`"),
        (base(&rsa2048), "csr", "rsa-2048"),
        (json!({ "subject": subject, "profile": "tls-server", "csr": good, "names": { "dns": [] } }), "names", "at least one"),
    ];
    for (body, field, words) in &denied {
        let (status, p) = srv.post("/v1/requests", body).await;
        assert_eq!(status, 422, "{body}: {p}");
        assert_eq!(p["field"], *field, "{p}");
        assert!(p["reason"].as_str().unwrap().contains(words), "{p}");
        assert_eq!(p["type"], "urn:signet:problem:policy-denied");
    }
    let (creds, reqs, subjects) = srv.counts().await;
    assert_eq!(creds, before.0, "no credential for a refused request");
    assert_eq!(reqs, before.1 + denied.len());
    assert_eq!(subjects, before.2);
    let (_, list) = srv.get("/v1/requests?state=denied").await;
    assert_eq!(list["items"].as_array().unwrap().len(), denied.len());
    assert!(list["items"][0]["reason"].as_str().unwrap().contains(':'));
    let (_, events) = srv.get("/v1/events?limit=1000").await;
    let denials = events["items"].as_array().unwrap().iter().filter(|e| e["event_type"] == "request.denied").count();
    assert_eq!(denials, denied.len());
});

both_backends!(subjects_and_profiles_validate_their_fields, |srv| {
    // Subjects.
    let (status, p) = srv.post("/v1/subjects", &json!({ "name": "svc", "kind": "workload" })).await;
    assert_eq!((status, p["field"].as_str()), (400, Some("owner")), "{p}");
    let (status, p) = srv.post("/v1/subjects", &json!({ "name": "svc", "kind": "robot", "owner": "x", "purpose": "y" })).await;
    assert_eq!((status, p["field"].as_str()), (400, Some("kind")));
    let (status, p) = srv.post("/v1/subjects", &json!({ "name": "Bad Name", "kind": "person" })).await;
    assert_eq!((status, p["field"].as_str()), (400, Some("name")));
    srv.create_subject("svc").await;
    let before = srv.counts().await;
    let (status, p) = srv.post("/v1/subjects", &json!({ "name": "svc", "kind": "workload", "owner": "o", "purpose": "p" })).await;
    assert_eq!((status, p["field"].as_str()), (409, Some("name")), "{p}");
    assert_eq!(srv.counts().await, before, "a duplicate wrote nothing");
    let (status, _) = srv.get("/v1/subjects/sub_00000000000000000000000000000000").await;
    assert_eq!(status, 404);
    let (status, _) = srv.get("/v1/subjects/nonsense").await;
    assert_eq!(status, 404);

    // Profiles.
    let profile = json!({ "name": "mtls-client", "max_ttl": "1h", "names": { "uri": ["spiffe://example.org/ns/*/sa/*"] }, "ext_key_usages": ["client_auth"] });
    let (status, v) = srv.put("/v1/profiles/mtls-client", &profile).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["version"], 1);
    let (_, v) = srv.put("/v1/profiles/mtls-client", &profile).await;
    assert_eq!(v["version"], 2);
    let cases = [
        (json!({ "name": "p", "max_ttl": "1h", "default_ttl": "2h" }), "default_ttl"),
        (json!({ "name": "p", "max_ttl": "soon" }), "max_ttl"),
        (json!({ "name": "p", "max_ttl": "1h", "key_algorithms": ["dsa"] }), "key_algorithms[0]"),
        (json!({ "name": "p", "max_ttl": "1h", "ext_key_usages": ["everything"] }), "ext_key_usages[0]"),
        (json!({ "name": "p", "max_ttl": "1h", "names": { "ip": ["10.0.0.1/8"] } }), "names.ip[0]"),
        (json!({ "name": "p", "max_ttl": "1h", "path_len": 1 }), "path_len"),
        (json!({ "name": "p" }), "max_ttl"),
        (json!({ "name": "q", "max_ttl": "1h" }), "name"),
    ];
    for (body, field) in cases {
        let (status, p) = srv.put("/v1/profiles/p", &body).await;
        assert_eq!(status, 400, "{body}: {p}");
        assert_eq!(p["field"], field, "{body}: {p}");
    }
    let (status, _) = srv.get("/v1/profiles/p").await;
    assert_eq!(status, 404, "no refused profile was stored");
});

both_backends!(operators_must_authenticate, |srv| {
    for (auth, words) in [
        (None, "no `Authorization"),
        (Some("Bearer signet_wrong"), "unknown"),
        (Some("Bearer nope"), "not a Signet"),
        (Some("Basic abc"), "Bearer"),
    ] {
        let mut rb = srv.http.get(srv.url("/v1/subjects"));
        if let Some(a) = auth {
            rb = rb.header("authorization", a);
        }
        let r = rb.send().await.unwrap();
        assert_eq!(r.headers().get("www-authenticate").unwrap(), "Bearer realm=\"signet\"");
        let (status, p) = common::decode(r).await;
        assert_eq!(status, 401, "{auth:?}");
        assert!(p["detail"].as_str().unwrap().contains(words), "{p}");
    }
    // Public by nature: health, readiness, the API document, the CA.
    for path in ["/healthz", "/readyz", "/v1/openapi.json", "/ca.pem", "/ca/issuing.der", "/ca/root.der"] {
        let r = srv.http.get(srv.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert!(r.headers().get("strict-transport-security").is_some());
    }
    let (status, p) = srv.get("/v1/nowhere").await;
    assert_eq!(status, 404, "{p}");
    let r = srv.http.delete(srv.url("/v1/subjects")).bearer_auth(&srv.token).send().await.unwrap();
    assert_eq!(common::decode(r).await.0, 405);
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_is_generated_from_the_code() {
    let srv = TestServer::start(Backend::Sqlite).await.unwrap();
    let r = srv.http.get(srv.url("/v1/openapi.json")).send().await.unwrap();
    let doc: serde_json::Value = r.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    for path in ["/v1/subjects", "/v1/subjects/{id}", "/v1/profiles/{name}", "/v1/requests", "/v1/credentials/{id}", "/v1/events"] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing");
    }
    assert!(doc["components"]["schemas"].get("Problem").is_some());
    assert!(doc["components"]["schemas"].get("IssueRequestBody").is_some());
    assert_eq!(doc, signet_server::openapi::document_json().parse::<serde_json::Value>().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_the_authority_and_the_token() {
    let srv = TestServer::start(Backend::Sqlite).await.unwrap();
    let token = srv.token.clone();
    let ca = std::fs::read_to_string(srv.config.data_dir.join("ca.pem")).unwrap();
    srv.create_subject("before").await;
    let (dir, pg) = srv.stop().await;
    let srv = TestServer::start_in(dir, pg).await;
    assert_eq!(srv.token, token, "the admin token is created once");
    assert_eq!(std::fs::read_to_string(srv.config.data_dir.join("ca.pem")).unwrap(), ca, "same CA after restart");
    let (_, subjects) = srv.get("/v1/subjects").await;
    assert!(subjects["items"].as_array().unwrap().iter().any(|s| s["name"] == "before"), "{subjects}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(srv.config.data_dir.join("admin-token")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_issuance_is_batched_and_every_certificate_recorded() {
    let srv = TestServer::start(Backend::Sqlite).await.unwrap();
    let subject = srv.create_subject("burst").await;
    let mut tasks = Vec::new();
    for i in 0..64 {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let csr = rcgen::CertificateParams::new(vec![format!("n{i}.internal")]).unwrap().serialize_request(&key).unwrap().pem().unwrap();
        let (http, url, token, subject) = (srv.http.clone(), srv.url("/v1/requests"), srv.token.clone(), subject.clone());
        tasks.push(tokio::spawn(async move {
            let r = http
                .post(url)
                .bearer_auth(token)
                .json(&json!({ "subject": subject, "profile": "tls-server", "csr": csr }))
                .send()
                .await
                .unwrap();
            r.status().as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 201);
    }
    let (creds, reqs, _) = srv.counts().await;
    assert_eq!((creds, reqs), (64, 64));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authority_keys_are_encrypted_at_rest_and_a_tampered_key_stops_the_start() {
    let srv = TestServer::start(Backend::Sqlite).await.unwrap();
    let data = srv.config.data_dir.clone();
    let mut key_files = Vec::new();
    for f in std::fs::read_dir(data.join("keys")).unwrap() {
        let path = f.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        assert!(path.extension().is_some_and(|e| e == "sealed"), "no plaintext key file: {}", path.display());
        assert!(bytes.starts_with(b"SIGNETSK"), "{} is a sealed key file", path.display());
        key_files.push(path);
    }
    assert_eq!(key_files.len(), 3, "root, issuing and log keys");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(data.join("unseal-key")).unwrap().permissions().mode() & 0o777, 0o600);
    }
    // One flipped byte in the issuing CA's key file: the next start refuses, naming the key.
    let issuing = key_files.iter().find(|p| p.file_name().unwrap().to_string_lossy().starts_with("issuing-")).unwrap().clone();
    let (dir, _) = srv.stop().await;
    let mut bytes = std::fs::read(&issuing).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&issuing, &bytes).unwrap();
    let config = signet_server::config::ServerConfig::resolve(signet_server::config::ConfigFile {
        data_dir: Some(dir.path().join("data")),
        listen: Some("127.0.0.1:0".into()),
        ..Default::default()
    })
    .unwrap();
    let err = match signet_server::bootstrap::start(&config).await {
        Ok(_) => panic!("a tampered key file must stop the start"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("issuing CA key") && err.contains("issuing-"), "{err}");
}

both_backends!(the_servers_own_certificate_is_a_recorded_credential, |srv| {
    if !have_openssl() {
        return;
    }
    let server = common::server_subject();
    // What openssl is shown on the wire is a credential row, byte for byte.
    let served = served_certificate(&srv);
    let (_, list) = srv.get("/v1/credentials?limit=1000").await;
    let own: Vec<_> = list["items"].as_array().unwrap().iter().filter(|c| c["profile"] == "signet-server").cloned().collect();
    assert_eq!(own.len(), 1, "{list}");
    let pem_of = |c: &serde_json::Value| format!("/v1/credentials/{}", c["id"].as_str().unwrap());
    assert_eq!(srv.get(&pem_of(&own[0])).await.1["certificate_pem"], served.as_str());
    assert_eq!((own[0]["subject_id"].as_str(), own[0]["status"].as_str()), (Some(server.as_str()), Some("active")));
    assert!(own[0]["names"]["dns"].as_array().unwrap().contains(&json!("localhost")), "{}", own[0]);
    // Its request and its log entry, decided by the issuance policy like every
    // credential (issue 15: no entry skips the policy), and the built-in rule.
    let (_, reqs) = srv.get("/v1/requests?limit=1000").await;
    let req = reqs["items"].as_array().unwrap().iter().find(|r| r["credential_id"] == own[0]["id"]).unwrap().clone();
    assert_eq!((req["state"].as_str(), req["requested_by"].as_str()), (Some("issued"), Some("system")));
    let (_, events) = srv.get("/v1/events?limit=1000").await;
    let issued = events["items"].as_array().unwrap().iter().find(|e| e["credential_id"] == own[0]["id"]).unwrap().clone();
    assert_eq!(issued["event_type"], "credential.issued");
    assert_eq!(issued["details"]["policies"], json!(["issue.permit.within-profile", "builtin.server-certificate"]));
    let (_, profile) = srv.get("/v1/profiles/signet-server").await;
    assert_eq!((profile["version"].as_i64(), profile["key_algorithms"].clone()), (Some(1), json!(["ecdsa-p256"])), "{profile}");

    // Nobody else gets a certificate for the server's names through its profile.
    let before = srv.counts().await;
    let tmp = tempfile::tempdir().unwrap();
    let (_, csr) = openssl_csr(tmp.path(), "impostor", "ec", "DNS:localhost", &[]);
    let subject = srv.create_subject("impostor").await;
    let (s, p) = srv.post("/v1/requests", &json!({ "subject": subject, "profile": "signet-server", "csr": csr })).await;
    assert_eq!((s, p["field"].as_str()), (400, Some("profile")), "{p}");
    assert!(p["detail"].as_str().unwrap().contains("only to the server itself"), "{p}");
    assert_eq!(srv.counts().await, (before.0, before.1, before.2 + 1), "only the subject made above was written");
    // Nor can its subject be suspended: the server could no longer renew, nor restart to undo it.
    let (s, p) = srv.post(&format!("/v1/subjects/{server}/suspend"), &json!({ "reason": "try" })).await;
    assert_eq!((s, p["field"].as_str()), (409, Some("id")), "{p}");

    // A restart issues (and records) a new one; the profile, unchanged, keeps its version.
    let (dir, pg) = srv.stop().await;
    let srv = TestServer::start_in(dir, pg).await;
    let served_again = served_certificate(&srv);
    assert_ne!(served_again, served);
    let (_, list) = srv.get("/v1/credentials?limit=1000").await;
    let own: Vec<_> = list["items"].as_array().unwrap().iter().filter(|c| c["profile"] == "signet-server").cloned().collect();
    assert_eq!(own.len(), 2);
    let mut shown = Vec::new();
    for c in &own {
        shown.push(srv.get(&format!("/v1/credentials/{}", c["id"].as_str().unwrap())).await.1["certificate_pem"].clone());
    }
    assert!(shown.contains(&json!(served_again)), "the new one is served");
    assert_eq!(srv.get("/v1/profiles/signet-server").await.1["version"], 1);
});

both_backends!(the_servers_profile_follows_its_configuration, |srv| {
    // Changed by hand, the built-in profile is put back at the next start.
    let (_, mut profile) = srv.get("/v1/profiles/signet-server").await;
    let input = json!({
        "name": "signet-server", "description": "tampered", "credential_type": "x509", "key_algorithms": ["ecdsa-p256"],
        "max_ttl": "30d", "names": { "dns": ["**.internal"] }, "ext_key_usages": ["server_auth"],
    });
    let (s, v) = srv.put("/v1/profiles/signet-server", &input).await;
    assert_eq!(s, 200, "{v}");
    let (dir, pg) = srv.stop().await;
    let srv = TestServer::start_in(dir, pg).await;
    let (_, now) = srv.get("/v1/profiles/signet-server").await;
    assert_eq!(now["version"], 3, "{now}");
    for field in ["version", "updated_at", "created_at"] {
        profile[field] = now[field].clone();
    }
    assert_eq!(now, profile, "the configured profile is back");
});
