//! What the server accepts as a request body, on a real TLS server: every
//! JSON body is an object (an array is not read field by field), and `ttl`
//! as a string or a number of seconds.
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
