//! Names through the API, on SQLite and PostgreSQL: invalid internationalised
//! labels are refused before anything is written, and `{subject}` in a
//! profile's patterns stands for exactly one label, so that one subject
//! cannot take another's names.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod common;

use common::{Backend, TestServer, have_openssl, openssl_csr, openssl_text};
use serde_json::json;

both_backends!(invalid_a_labels_are_refused_and_nothing_is_written, |srv| {
    if !have_openssl() {
        return;
    }
    let subject = srv.create_subject("web").await;
    let tmp = tempfile::tempdir().unwrap();
    let (_, good) = openssl_csr(tmp.path(), "good", "ec", "DNS:web.internal", &[]);
    let before = srv.counts().await;

    // In the request body: the two names of the issue (a control character,
    // no Punycode at all), an A-label that does not round-trip (upper-case Ü)
    // and a reserved `--` label; each refused with the field, nothing written.
    for (name, words) in [
        ("xn--a.internal", "not a valid A-label"),
        ("xn--zz-zzzzzzzz.internal", "does not decode"),
        ("xn--bcher-2pa.internal", "whose A-label is `xn--bcher-kva`"),
        ("ab--c.internal", "reserved label"),
    ] {
        let body = json!({ "subject": subject, "profile": "tls-server", "csr": good, "names": { "dns": [name] } });
        let (status, p) = srv.post("/v1/requests", &body).await;
        assert_eq!(status, 400, "{name}: {p}");
        assert_eq!(p["type"], "urn:signet:problem:invalid-input", "{p}");
        assert_eq!(p["field"], "names.dns[0]", "{p}");
        assert!(p["reason"].as_str().unwrap().contains(words), "{name}: {p}");
    }
    // The same name in a CSR: the same rule, the CSR's field.
    let (_, bad_csr) = openssl_csr(tmp.path(), "bad", "ec", "DNS:web.internal,DNS:xn--a.internal", &[]);
    let (status, p) = srv.post("/v1/requests", &json!({ "subject": subject, "profile": "tls-server", "csr": bad_csr })).await;
    assert_eq!(status, 400, "{p}");
    assert_eq!(p["field"], "csr.names.dns[1]", "{p}");
    assert!(p["reason"].as_str().unwrap().contains("not a valid A-label"), "{p}");
    assert_eq!(srv.counts().await, before, "refused names wrote nothing");

    // A valid A-label, in upper case, is issued in its normal form.
    let body = json!({ "subject": subject, "profile": "tls-server", "csr": good, "names": { "dns": ["XN--BCHER-KVA.internal"] } });
    let (status, v) = srv.post("/v1/requests", &body).await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["credential"]["names"]["dns"], json!(["xn--bcher-kva.internal"]));
    let text = openssl_text(tmp.path(), v["credential"]["certificate_pem"].as_str().unwrap());
    assert!(text.contains("DNS:xn--bcher-kva.internal"), "{text}");
});

both_backends!(a_subject_name_with_dots_gets_nothing_from_subject_patterns, |srv| {
    if !have_openssl() {
        return;
    }
    // Profiles that put `{subject}` where it could give one subject another's
    // names are refused, and not stored.
    for (dns, field, words) in [
        (json!(["web-{subject}.internal"]), "names.dns[0]", "whole label"),
        (json!(["{subject}.**.internal"]), "names.dns[0]", "`**`"),
        (json!(["{subject}.internal", "{subject}.svc.internal"]), "names.dns[1]", "another depth"),
    ] {
        let body = json!({ "name": "bad", "max_ttl": "1h", "names": { "dns": dns }, "ext_key_usages": ["server_auth"] });
        let (status, p) = srv.put("/v1/profiles/bad", &body).await;
        assert_eq!(status, 400, "{body}: {p}");
        assert_eq!(p["field"], field, "{p}");
        assert!(p["reason"].as_str().unwrap().contains(words), "{p}");
    }
    assert_eq!(srv.get("/v1/profiles/bad").await.0, 404, "no refused profile was stored");

    let profile = json!({
        "name": "per-subject", "max_ttl": "1h", "require_names": true, "ext_key_usages": ["server_auth"],
        "names": { "dns": ["{subject}.internal", "*.{subject}.internal"] }
    });
    let (status, v) = srv.put("/v1/profiles/per-subject", &profile).await;
    assert_eq!(status, 200, "{v}");
    let web_b = srv.create_subject("web-b").await;
    let foo_web_b = srv.create_subject("foo.web-b").await;
    let tmp = tempfile::tempdir().unwrap();
    let (_, csr) = openssl_csr(tmp.path(), "k", "ec", "DNS:web-b.internal", &[]);
    let ask = |subject: &str, name: &str| json!({ "subject": subject, "profile": "per-subject", "csr": csr, "names": { "dns": [name] } });

    // The attack: `foo.web-b` asks for `foo.web-b.internal`, a name inside
    // `web-b`'s namespace (`*.{subject}.internal`). Refused, saying why.
    let (status, p) = srv.post("/v1/requests", &ask(&foo_web_b, "foo.web-b.internal")).await;
    assert_eq!(status, 422, "{p}");
    assert_eq!(p["type"], "urn:signet:problem:policy-denied", "{p}");
    assert_eq!(p["field"], "names.dns[0]", "{p}");
    let reason = p["reason"].as_str().unwrap();
    assert!(reason.contains("`{subject}` stands for exactly one DNS label") && reason.contains("`foo.web-b`"), "{p}");
    let (_, list) = srv.get("/v1/credentials?limit=1000").await;
    assert!(!list["items"].as_array().unwrap().iter().any(|c| c["subject_id"] == foo_web_b), "{list}");

    // `web-b` still gets its own names, that one included.
    for name in ["web-b.internal", "foo.web-b.internal"] {
        let (status, v) = srv.post("/v1/requests", &ask(&web_b, name)).await;
        assert_eq!(status, 201, "{name}: {v}");
        assert_eq!(v["credential"]["names"]["dns"], json!([name]));
    }
    // And no other subject's.
    let (status, p) = srv.post("/v1/requests", &ask(&web_b, "other.internal")).await;
    assert_eq!(status, 422, "{p}");
});
