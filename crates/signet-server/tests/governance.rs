//! Operator access control, policies, approvals and break-glass, end to end
//! on a real TLS server, once on SQLite and once on PostgreSQL. The negative
//! cases matter most: every refusal must be refused, and logged.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Backend, TestServer, decode, have_openssl, openssl_csr, openssl_verify};
use serde_json::{Value, json};

async fn call(srv: &TestServer, method: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> (u16, Value) {
    let mut rb = match method {
        "GET" => srv.http.get(srv.url(path)),
        "POST" => srv.http.post(srv.url(path)),
        "PUT" => srv.http.put(srv.url(path)),
        "DELETE" => srv.http.delete(srv.url(path)),
        _ => unreachable!(),
    };
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    if let Some(b) = body {
        rb = rb.json(b);
    }
    decode(rb.send().await.unwrap()).await
}

/// An operator with `roles` and `teams` at every site, enrolled: (id, its token).
async fn operator(srv: &TestServer, name: &str, roles: &[&str], teams: &[&str], subject: Option<&str>) -> (String, String) {
    srv.enrolled_operator(json!({ "name": name, "roles": roles, "teams": teams, "all_sites": true, "subject_id": subject })).await
}

async fn admin_id(srv: &TestServer) -> String {
    let (_, me) = srv.get("/v1/whoami").await;
    me["actor"].as_str().unwrap().to_string()
}

fn csr(dir: &std::path::Path, name: &str) -> String {
    openssl_csr(dir, name, "ec", &format!("DNS:{name}.internal"), &[]).1
}

/// A profile like `tls-server` that needs `required` approvals from team `sec`.
async fn approval_profile(srv: &TestServer, name: &str, required: u32, expires: &str) {
    let (s, v) = srv
        .put(
            &format!("/v1/profiles/{name}"),
            &json!({ "name": name, "max_ttl": "30d", "names": { "dns": ["**.internal"] }, "ext_key_usages": ["server_auth"],
                "allowed_scopes": ["read"], "approvals": { "required": required, "group": "sec", "expires_after": expires } }),
        )
        .await;
    assert_eq!(s, 200, "{v}");
}

both_backends!(roles_are_enforced_and_every_refusal_is_logged, |srv| {
    let (auditor, auditor_token) = operator(&srv, "audit", &["auditor"], &[], None).await;
    let tok = Some(auditor_token.as_str());

    // No credentials: 401. Read-only role: reads the log, may not enrol.
    assert_eq!(call(&srv, "GET", "/v1/subjects", None, None).await.0, 401);
    assert_eq!(call(&srv, "GET", "/v1/events", tok, None).await.0, 200);
    let body = json!({ "name": "x", "kind": "person" });
    let (s, p) = call(&srv, "POST", "/v1/subjects", tok, Some(&body)).await;
    assert_eq!(s, 403, "{p}");
    assert_eq!(p["type"], "urn:signet:problem:forbidden");
    assert!(p["detail"].as_str().unwrap().contains("subject.create"), "{p}");
    // Subjects it may not read are left out of lists, and refused one by one.
    let sub = srv.create_subject("web").await;
    let (s, list) = call(&srv, "GET", "/v1/subjects", tok, None).await;
    assert_eq!((s, list["items"].as_array().unwrap().len()), (200, 0));
    assert_eq!(call(&srv, "GET", &format!("/v1/subjects/{sub}"), tok, None).await.0, 403);
    assert_eq!(call(&srv, "GET", "/metrics", tok, None).await.0, 403);
    // Nothing was written by the refused enrolment, and each refusal is in the log.
    assert_eq!(srv.counts().await.2, 1);
    let denied = srv.events_of("operator.denied").await;
    assert_eq!(denied.len(), 3, "{denied:?}");
    assert!(denied.iter().all(|e| e["actor"] == auditor.as_str() && e["reason"].as_str().unwrap().starts_with("not permitted")));
    assert_eq!(denied[0]["details"]["action"], "subject.create");

    // Nobody changes their own roles; an admin may change others'.
    let me = admin_id(&srv).await;
    let (s, p) =
        srv.put(&format!("/v1/operators/{me}"), &json!({ "name": "admin", "roles": ["admin", "approver"], "all_sites": true })).await;
    assert_eq!(s, 403, "{p}");
    assert!(p["policies"].as_array().unwrap().contains(&json!("sod.no-self-role-change")), "{p}");
    let (s, p) = srv.put(&format!("/v1/operators/{auditor}"), &json!({ "name": "audit", "roles": ["auditor"], "disabled": true })).await;
    assert_eq!(s, 200, "{p}");
    // A disabled operator's token stops working at once.
    let (s, p) = call(&srv, "GET", "/v1/events", tok, None).await;
    assert_eq!(s, 401, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("disabled"), "{p}");

    // Revoked and expired tokens.
    let (approver, approver_token) = operator(&srv, "appr", &["approver"], &["sec"], None).await;
    let tokens = srv.get(&format!("/v1/operators/{approver}/tokens")).await.1;
    let token_id = tokens["items"][0]["id"].as_str().unwrap().to_string();
    assert!(tokens.to_string().find("signet_").is_none(), "token secrets are never listed");
    assert_eq!(call(&srv, "GET", "/v1/whoami", Some(&approver_token), None).await.0, 200);
    // (Its tokens are its own to create: a second one, short-lived.)
    let short_body = json!({ "name": "short", "ttl": "1s" });
    let (s, short) = call(&srv, "POST", &format!("/v1/operators/{approver}/tokens"), Some(&approver_token), Some(&short_body)).await;
    assert_eq!(s, 201, "{short}");
    assert_eq!(call(&srv, "DELETE", &format!("/v1/tokens/{token_id}"), Some(&srv.token), None).await.0, 204);
    assert_eq!(call(&srv, "GET", "/v1/whoami", Some(&approver_token), None).await.0, 401);
    assert_eq!(call(&srv, "DELETE", &format!("/v1/tokens/{token_id}"), Some(&srv.token), None).await.0, 409);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (s, p) = call(&srv, "GET", "/v1/whoami", short["secret"].as_str(), None).await;
    assert_eq!(s, 401, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("expired"), "{p}");
});

/// Every page of `path` as `token` sees it, following `next_cursor`: the ids, and each page's size.
async fn all_pages(srv: &TestServer, path: &str, token: &str, limit: u32) -> (Vec<String>, Vec<usize>) {
    let (mut ids, mut sizes, mut cursor) = (Vec::new(), Vec::new(), String::new());
    loop {
        let (s, page) = call(srv, "GET", &format!("{path}?limit={limit}{cursor}"), Some(token), None).await;
        assert_eq!(s, 200, "{page}");
        let items = page["items"].as_array().unwrap();
        sizes.push(items.len());
        ids.extend(items.iter().map(|i| i["id"].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return (ids, sizes),
        }
    }
}

both_backends!(lists_page_over_what_the_caller_may_read, |srv| {
    // Subjects of two teams, mixed.
    for (i, team) in ["team-a", "team-b", "team-a", "team-b", "team-a", "team-b", "team-b"].iter().enumerate() {
        let (s, v) =
            srv.post("/v1/subjects", &json!({ "name": format!("svc{i}"), "kind": "workload", "owner": team, "purpose": "p" })).await;
        assert_eq!(s, 201, "{v}");
    }
    let (_, everything) = srv.get("/v1/subjects?limit=1000").await;
    let everything = everything["items"].as_array().unwrap();
    let mine: Vec<String> = everything.iter().filter(|s| s["owner"] == "team-a").map(|s| s["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(mine.len(), 3);
    // An operator of team-a reads only its team's subjects: full pages of
    // them, in the listing's order.
    let (_, a_token) = operator(&srv, "alice", &[], &["team-a"], None).await;
    let (ids, sizes) = all_pages(&srv, "/v1/subjects", &a_token, 2).await;
    assert_eq!(ids, mine);
    assert_eq!(sizes[..2], [2, 1], "{sizes:?}");
    // The admin pages through every row, its own server's subject included, each once.
    let (all, sizes) = all_pages(&srv, "/v1/subjects", &srv.token, 3).await;
    assert_eq!(all, everything.iter().map(|s| s["id"].as_str().unwrap().to_string()).collect::<Vec<_>>());
    assert_eq!((all.len(), sizes[..3].to_vec()), (8, vec![3, 3, 2]), "{all:?}");
    let (s, p) = call(&srv, "GET", "/v1/subjects?limit=0", Some(&srv.token), None).await;
    assert_eq!((s, p["field"].as_str()), (400, Some("limit")), "{p}");
    for bad in ["nonsense", "12.", "x.sub_1", "1.sub-1", "99999999999999999999.sub_1"] {
        let (s, p) = call(&srv, "GET", &format!("/v1/subjects?cursor={bad}"), Some(&srv.token), None).await;
        assert_eq!((s, p["field"].as_str()), (400, Some("cursor")), "{bad}: {p}");
    }

    // Subjects enrolled while someone pages through the listing do not
    // shift its later pages: the second page follows the first exactly.
    // (They are a second newer than the rest here; one enrolled within the
    // same clock tick as the cursor's row may sort after it and appear later,
    // but never moves the rows that were there.)
    let (_, first) = call(&srv, "GET", "/v1/subjects?limit=3", Some(&srv.token), None).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    for i in 0..4 {
        srv.post("/v1/subjects", &json!({ "name": format!("late{i}"), "kind": "workload", "owner": "team-b", "purpose": "p" })).await;
    }
    let next = first["next_cursor"].as_str().unwrap();
    let (_, second) = call(&srv, "GET", &format!("/v1/subjects?limit=3&cursor={next}"), Some(&srv.token), None).await;
    let ids = |v: &Value| v["items"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!([ids(&first), ids(&second)].concat(), all[..6].to_vec());
});

both_backends!(approvals_need_a_quorum_of_distinct_approvers_never_the_requester_or_the_subject, |srv| {
    if !have_openssl() {
        return;
    }
    approval_profile(&srv, "guarded", 2, "24h").await;
    let subject = srv.create_subject("pay").await;
    let (a, a_tok) = operator(&srv, "alice", &["approver"], &["sec"], None).await;
    let (b, b_tok) = operator(&srv, "bob", &["approver"], &["sec"], None).await;
    let (_, c_tok) = operator(&srv, "carol", &["approver"], &["other-team"], None).await;
    // An officer who is also an approver in the group, and an approver who is the subject itself.
    let (_, r_tok) = operator(&srv, "rita", &["registration_officer", "approver"], &["sec"], None).await;
    let (_, s_tok) = operator(&srv, "self", &["approver"], &["sec"], Some(&subject)).await;
    let tmp = tempfile::tempdir().unwrap();
    let body = json!({ "subject": subject, "profile": "guarded", "csr": csr(tmp.path(), "pay"), "scopes": ["read"] });

    let (s, v) = call(&srv, "POST", "/v1/requests", Some(&r_tok), Some(&body)).await;
    assert_eq!(s, 202, "{v}");
    assert_eq!((v["request"]["state"].as_str(), v["approvals_required"].as_u64()), (Some("pending_approval"), Some(2)));
    let id = v["request"]["id"].as_str().unwrap().to_string();
    let approve = |tok: String| {
        let (srv, id) = (&srv, id.clone());
        async move { call(srv, "POST", &format!("/v1/requests/{id}/approve"), Some(&tok), Some(&json!({ "reason": "checked" }))).await }
    };

    // The requester never approves; nor the subject; nor someone outside the group; nor an admin without the role.
    let (s, p) = approve(r_tok.clone()).await;
    assert_eq!(s, 403, "{p}");
    assert!(p["policies"].as_array().unwrap().contains(&json!("sod.no-self-approval")), "{p}");
    let (s, p) = approve(s_tok.clone()).await;
    assert_eq!(s, 403, "{p}");
    assert!(p["policies"].as_array().unwrap().contains(&json!("sod.no-approval-for-own-subject")), "{p}");
    assert_eq!(approve(c_tok.clone()).await.0, 403);
    assert_eq!(approve(srv.token.clone()).await.0, 403);
    // A reason is required; nothing else may be sent (no raising scopes or names on the way).
    let (s, p) = call(&srv, "POST", &format!("/v1/requests/{id}/approve"), Some(&a_tok), Some(&json!({ "reason": " " }))).await;
    assert_eq!((s, p["field"].as_str()), (400, Some("reason")), "{p}");
    let raise = json!({ "reason": "ok", "scopes": ["read", "admin"] });
    let (s, p) = call(&srv, "POST", &format!("/v1/requests/{id}/approve"), Some(&a_tok), Some(&raise)).await;
    assert_eq!(s, 400, "{p}");

    // One approval of two; the same approver again counts once.
    let (s, v) = approve(a_tok.clone()).await;
    assert_eq!((s, v["approvals"].as_u64(), v["issued"].is_null()), (200, Some(1), true), "{v}");
    let (s, p) = approve(a_tok.clone()).await;
    assert_eq!(s, 409, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("counts once"), "{p}");
    let (_, approvals) = srv.get(&format!("/v1/requests/{id}/approvals")).await;
    assert_eq!(approvals["items"].as_array().unwrap().len(), 1);
    assert_eq!(srv.counts().await.0, 0, "nothing minted before the quorum");

    // The second distinct approver meets the quorum: the authority mints.
    let (s, v) = approve(b_tok.clone()).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["request"]["state"], "issued");
    let chain = v["issued"]["chain_pem"].as_str().unwrap();
    let (ok, out) = openssl_verify(tmp.path(), chain, &srv.config.data_dir.join("ca.pem"));
    assert!(ok, "{out}");
    let issued = srv.events_of("credential.issued").await;
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0]["actor"], "system");
    let mut approvers: Vec<String> = serde_json::from_value(issued[0]["details"]["approvers"].clone()).unwrap();
    approvers.sort();
    let mut expected = vec![a.clone(), b.clone()];
    expected.sort();
    assert_eq!(approvers, expected);

    // Decided requests and unknown ones are refused.
    let (s, p) = approve(b_tok.clone()).await;
    assert_eq!(s, 409, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("issued"), "{p}");
    let missing = "req_0000000000000000000000000000000f";
    let (s, _) = call(&srv, "POST", &format!("/v1/requests/{missing}/approve"), Some(&a_tok), Some(&json!({ "reason": "x" }))).await;
    assert_eq!(s, 404);
    // Every refusal is in the log, with its reason.
    let refused = srv.events_of("request.approval_refused").await;
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert!(refused.iter().all(|e| !e["reason"].as_str().unwrap().is_empty()));
    assert!(srv.events_of("operator.denied").await.len() >= 4);

    // A denial closes a request.
    let (_, v) = call(&srv, "POST", "/v1/requests", Some(&r_tok), Some(&body)).await;
    let id2 = v["request"]["id"].as_str().unwrap().to_string();
    let (s, v) = call(&srv, "POST", &format!("/v1/requests/{id2}/deny"), Some(&a_tok), Some(&json!({ "reason": "no ticket" }))).await;
    assert_eq!((s, v["request"]["state"].as_str()), (200, Some("denied")), "{v}");
    assert_eq!(approve(b_tok).await.0, 409);
    let (_, pending) = srv.get("/v1/requests?state=pending_approval").await;
    assert_eq!(pending["items"].as_array().unwrap().len(), 0);
});

both_backends!(pending_requests_expire, |srv| {
    if !have_openssl() {
        return;
    }
    approval_profile(&srv, "quick", 1, "2s").await;
    let subject = srv.create_subject("exp").await;
    let (_, a_tok) = operator(&srv, "alice", &["approver"], &["sec"], None).await;
    let tmp = tempfile::tempdir().unwrap();
    let (s, v) = srv.post("/v1/requests", &json!({ "subject": subject, "profile": "quick", "csr": csr(tmp.path(), "exp") })).await;
    assert_eq!(s, 202, "{v}");
    let id = v["request"]["id"].as_str().unwrap().to_string();
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let (s, p) = call(&srv, "POST", &format!("/v1/requests/{id}/approve"), Some(&a_tok), Some(&json!({ "reason": "late" }))).await;
    assert_eq!(s, 409, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("expired"), "{p}");
    let (_, r) = srv.get(&format!("/v1/requests/{id}")).await;
    assert_eq!(r["state"], "expired");
    assert_eq!(srv.events_of("request.expired").await.len(), 1);
    assert_eq!(srv.counts().await.0, 0);
});

// The hot path decides on a subject cached for two seconds. Suspended by
// another server process (here: written to the store directly, around this
// process's cache), the subject still gets nothing: the store refuses the
// credential at commit, the minted certificate is dropped, the request is
// recorded as denied.
both_backends!(a_subject_suspended_elsewhere_gets_nothing_despite_the_cache, |srv| {
    if !have_openssl() {
        return;
    }
    use signet_model::subject::SubjectStatus;
    let tmp = tempfile::tempdir().unwrap();
    let subject = srv.create_subject("cached").await;
    // Both CSRs first: the second request must come within the cache's two seconds.
    let (first, second) = (csr(tmp.path(), "cached"), csr(tmp.path(), "cached"));
    let ask = |csr: &str| json!({ "subject": subject, "profile": "tls-server", "csr": csr });
    let (s, v) = srv.post("/v1/requests", &ask(&first)).await;
    assert_eq!(s, 201, "{v}");
    let (certs_before, _, _) = srv.counts().await;

    let state = srv.state();
    let id = signet_model::ids::SubjectId::parse("id", &subject).unwrap();
    let now = state.authority.now();
    let ev = signet_model::event::NewEvent {
        event_type: signet_model::event::EventType::SubjectStatusChanged,
        actor: "other-process".into(),
        subject_id: Some(id.clone()),
        request_id: None,
        credential_id: None,
        reason: Some("incident 9".into()),
        details: json!({ "from": "active", "to": "suspended" }),
        trace_id: None,
        time: now,
    };
    assert!(state.authority.store().set_subject_status(&id, SubjectStatus::Active, SubjectStatus::Suspended, now, &ev).await.unwrap());

    let (s, p) = srv.post("/v1/requests", &ask(&second)).await;
    assert_eq!((s, p["field"].as_str()), (422, Some("subject")), "{p}");
    assert!(p["detail"].as_str().unwrap().contains("suspended"), "{p}");
    assert_eq!(srv.counts().await.0, certs_before, "no credential was written");
    let denied = srv.events_of("request.denied").await;
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert!(denied[0]["reason"].as_str().unwrap().contains("suspended"), "{denied:?}");
    // Refused by the store at commit, not by a policy (the cached subject was still active).
    assert_eq!(denied[0]["details"]["policies"], json!([]), "{denied:?}");
    assert_eq!(srv.events_of("credential.issued").await.len(), 1);
    let (_, pending) = srv.get(&format!("/v1/requests/{}", denied[0]["request_id"].as_str().unwrap())).await;
    assert_eq!((pending["state"].as_str(), &pending["credential_id"]), (Some("denied"), &Value::Null), "{pending}");
});

both_backends!(the_issuance_policy_refuses_and_logs_why, |srv| {
    if !have_openssl() {
        return;
    }
    let (s, v) = srv
        .put(
            "/v1/profiles/scoped",
            &json!({ "name": "scoped", "max_ttl": "1d", "names": { "dns": ["**.internal"] }, "allowed_scopes": ["read", "write"],
                "required_assurance": "ial2" }),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let tmp = tempfile::tempdir().unwrap();
    let (s, v) = srv
        .post("/v1/subjects", &json!({ "name": "svc", "kind": "service_account", "owner": "team", "purpose": "p", "assurance": "ial2" }))
        .await;
    assert_eq!(s, 201, "{v}");
    let subject = v["id"].as_str().unwrap().to_string();
    let ask = |scopes: Value, ttl: &str| json!({ "subject": subject, "profile": "scoped", "csr": csr(tmp.path(), "svc"), "scopes": scopes, "ttl": ttl });

    // A superset of the profile's scopes; over the maximum lifetime.
    let (s, p) = srv.post("/v1/requests", &ask(json!(["read", "admin"]), "1h")).await;
    assert_eq!((s, p["field"].as_str()), (422, Some("scopes")), "{p}");
    assert!(p["detail"].as_str().unwrap().contains("issue.forbid.scopes-outside-profile"), "{p}");
    let (s, p) = srv.post("/v1/requests", &ask(json!(["read"]), "2d")).await;
    assert_eq!(s, 422, "{p}");
    let (s, v) = srv.post("/v1/requests", &ask(json!(["read", "write"]), "1h")).await;
    assert_eq!(s, 201, "{v}");

    // A suspended, then a revoked subject gets nothing; reinstated, it does.
    let (s, v) = srv.post(&format!("/v1/subjects/{subject}/suspend"), &json!({ "reason": "incident 7" })).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("suspended")), "{v}");
    assert_eq!(srv.post("/v1/requests", &ask(json!([]), "1h")).await.0, 422);
    assert_eq!(srv.post(&format!("/v1/subjects/{subject}/reinstate"), &json!({ "reason": "closed" })).await.0, 200);
    assert_eq!(srv.post("/v1/requests", &ask(json!([]), "1h")).await.0, 201);
    assert_eq!(srv.post(&format!("/v1/subjects/{subject}/revoke"), &json!({ "reason": "gone" })).await.0, 200);
    assert_eq!(srv.post(&format!("/v1/subjects/{subject}/reinstate"), &json!({ "reason": "oops" })).await.0, 409);
    let (s, p) = srv.post("/v1/requests", &ask(json!([]), "1h")).await;
    assert_eq!(s, 422, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("revoked"), "{p}");

    // Assurance below the profile's minimum.
    let low = srv.create_subject("low").await;
    let body = json!({ "subject": low, "profile": "scoped", "csr": csr(tmp.path(), "low") });
    assert_eq!(srv.post("/v1/requests", &body).await.0, 422);

    // A non-person subject without owner or purpose (written around the API's own checks) is refused by policy.
    let state = srv.state();
    let mut bare = state.authority.store().get_subject(&signet_model::ids::SubjectId::parse("id", &low).unwrap()).await.unwrap().unwrap();
    bare.id = signet_model::ids::SubjectId::from_random([7; 16]);
    bare.name = "bare".into();
    bare.owner = None;
    bare.purpose = None;
    let ev = signet_model::event::NewEvent {
        event_type: signet_model::event::EventType::SubjectCreated,
        actor: "test".into(),
        subject_id: Some(bare.id.clone()),
        request_id: None,
        credential_id: None,
        reason: None,
        details: json!({}),
        trace_id: None,
        time: bare.created_at,
    };
    state.authority.store().insert_subject(&bare, &ev).await.unwrap();
    let body = json!({ "subject": bare.id.to_string(), "profile": "tls-server", "csr": csr(tmp.path(), "bare") });
    let (s, p) = srv.post("/v1/requests", &body).await;
    assert_eq!(s, 422, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("owner or purpose"), "{p}");

    // Every refusal is a denied request in the log, with its reason.
    let denied = srv.events_of("request.denied").await;
    assert_eq!(denied.len(), 6, "{denied:?}");
    assert!(denied.iter().all(|e| !e["reason"].as_str().unwrap().is_empty()));
    assert!(denied[0]["details"]["policies"].as_array().unwrap().contains(&json!("issue.forbid.scopes-outside-profile")));
});

both_backends!(policies_are_validated_versioned_and_diffed, |srv| {
    let (_, author) = operator(&srv, "pol", &["policy_author"], &[], None).await;
    let (_, auditor) = operator(&srv, "aud", &["auditor"], &[], None).await;
    let (s, active) = srv.get("/v1/policy").await;
    assert_eq!((s, active["version"].as_i64()), (200, Some(0)));
    let text = active["text"].as_str().unwrap().to_string();

    // Only policy authors (and admins) apply policies.
    let put = |tok: String, body: Value| {
        let srv = &srv;
        async move { call(srv, "PUT", "/v1/policy", Some(&tok), Some(&body)).await }
    };
    assert_eq!(put(auditor.clone(), json!({ "text": text })).await.0, 403);
    // Invalid Cedar: the validator's message, and the active set stays.
    let (s, p) = put(author.clone(), json!({ "text": "@id(\"x\") permit (principal, action == Action::\"no.such\", resource);" })).await;
    assert_eq!((s, p["field"].as_str()), (400, Some("text")), "{p}");
    assert!(p["detail"].as_str().unwrap().contains("no.such"), "{p}");
    let (s, p) = put(author.clone(), json!({ "text": "permit (" })).await;
    assert_eq!(s, 400, "{p}");
    // A set that locks out every admin.
    let locked = text.replace("Action::\"policy.apply\", Action::\"profile.apply\"", "Action::\"profile.apply\"").replace(
        "@id(\"policy_author.author\")\npermit (\n  principal,\n  action in [\n    Action::\"policy.read\", Action::\"policy.apply\",",
        "@id(\"policy_author.author\")\npermit (\n  principal,\n  action in [\n    Action::\"policy.read\",",
    );
    assert_ne!(locked, text);
    let (s, p) = put(author.clone(), json!({ "text": locked })).await;
    assert_eq!((s, p["field"].as_str()), (422, Some("policy")), "{p}");
    assert!(p["detail"].as_str().unwrap().contains("rule `lockout`: no enabled operator could still apply policies"), "{p}");
    assert_eq!(srv.get("/v1/policy").await.1["version"], 0);
    assert_eq!(srv.events_of("policy.rejected").await.len(), 3);

    // A valid change: auditors lose the log. Version 1, with the diff, enforced at once.
    assert_eq!(call(&srv, "GET", "/v1/events", Some(&auditor), None).await.0, 200);
    let start = text.find("@id(\"auditor.read\")").unwrap();
    let end = start + text[start..].find("};").unwrap() + 2;
    let smaller = format!("{}{}", &text[..start], &text[end..]);
    let (s, v) = put(author.clone(), json!({ "text": smaller, "comment": "auditors read reports elsewhere" })).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["version"], 1);
    assert_eq!(v["diff"]["removed"], json!(["auditor.read"]));
    let lines: Vec<&str> = v["diff"]["lines"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    assert!(lines.contains(&"- @id(\"auditor.read\")"), "{lines:?}");
    assert!(lines.iter().all(|l| l.starts_with("- ") || l.trim() == "+"), "only removals (and a blank line): {lines:?}");
    assert_eq!(call(&srv, "GET", "/v1/events", Some(&auditor), None).await.0, 403);
    let activated = srv.events_of("policy.activated").await;
    assert_eq!(activated.len(), 1);
    assert_eq!(activated[0]["details"]["diff"]["removed"], json!(["auditor.read"]));
    let (_, versions) = srv.get("/v1/policy/versions").await;
    assert_eq!(versions["items"][0]["comment"], "auditors read reports elsewhere");
    let (_, v1) = srv.get("/v1/policy/versions/1").await;
    assert_eq!(v1["text"].as_str().unwrap(), smaller);
    assert_eq!(srv.get("/v1/policy/versions/9").await.0, 404);
});

/// The default policy set with `extra` policies appended.
async fn default_plus(srv: &TestServer, extra: &str) -> String {
    let (_, active) = srv.get("/v1/policy").await;
    format!("{}\n{extra}\n", active["text"].as_str().unwrap())
}

// Issue 14, hole 2: the lockout check evaluated a synthetic operator holding
// `admin` alone, so a `forbid` on the bootstrap admin's other role
// (registration officer) passed it and left nobody able to apply a policy or
// create an admin. The real operators are evaluated now.
both_backends!(a_policy_that_locks_out_the_real_admins_is_refused, |srv| {
    let attack = default_plus(
        &srv,
        "@id(\"lock\")\n@reason(\"locked\")\nforbid (principal, action in [Action::\"policy.apply\", Action::\"operator.update\"], resource)\nwhen { principal.roles.contains(Role::\"registration_officer\") };",
    )
    .await;
    let (s, p) = srv.put("/v1/policy", &json!({ "text": attack, "comment": "attack" })).await;
    assert_eq!((s, p["type"].as_str(), p["field"].as_str()), (422, Some("urn:signet:problem:policy-denied"), Some("policy")), "{p}");
    let detail = p["detail"].as_str().unwrap();
    for part in
        ["rule `lockout`", "apply policies (`policy.apply`)", "create or change operators (`operator.update`)", "forbidden by `lock`"]
    {
        assert!(detail.contains(part), "{part}: {p}");
    }
    // The active set is unchanged, and the refusal is logged with the rule and what would be lost.
    let (_, active) = srv.get("/v1/policy").await;
    assert_eq!(active["version"], 0);
    let rejected = srv.events_of("policy.rejected").await;
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0]["details"]["rule"], "lockout");
    assert_eq!(rejected[0]["details"]["lost"], json!(["apply_policy", "manage_operators"]));
    assert!(rejected[0]["reason"].as_str().unwrap().contains("rule `lockout`"));
    assert!(srv.events_of("policy.activated").await.is_empty());

    // A second admin who is not a registration officer keeps the authority
    // governable: the same set is accepted, and that admin can still govern.
    let (_, second) = operator(&srv, "admin2", &["admin"], &[], None).await;
    let (s, v) = srv.put("/v1/policy", &json!({ "text": attack, "comment": "officers stop governing" })).await;
    assert_eq!((s, v["version"].as_i64()), (200, Some(1)), "{v}");
    assert_eq!(call(&srv, "PUT", "/v1/policy", Some(&srv.token), Some(&json!({ "text": attack }))).await.0, 403);
    let (s, v) = call(&srv, "PUT", "/v1/policy", Some(&second), Some(&json!({ "text": attack, "comment": "still mine" }))).await;
    assert_eq!((s, v["version"].as_i64()), (200, Some(2)), "{v}");
    let body = json!({ "name": "aud", "roles": ["auditor"] });
    assert_eq!(call(&srv, "POST", "/v1/operators", Some(&second), Some(&body)).await.0, 201);
});

// The same rule guards operator changes: disabling or demoting the last
// operator able to apply policies is refused (409, naming the rule), and
// allowed once another one can.
both_backends!(disabling_or_demoting_the_last_capable_operator_is_refused, |srv| {
    let (author, author_token) = operator(&srv, "pol", &["policy_author"], &[], None).await;
    let only_authors = default_plus(
        &srv,
        "@id(\"authors-only\")\n@reason(\"only policy authors apply policies\")\nforbid (principal, action == Action::\"policy.apply\", resource)\nunless { principal.roles.contains(Role::\"policy_author\") };",
    )
    .await;
    let (s, v) = srv.put("/v1/policy", &json!({ "text": only_authors })).await;
    assert_eq!(s, 200, "{v}");

    let disable = json!({ "name": "pol", "roles": ["policy_author"], "disabled": true });
    let demote = json!({ "name": "pol", "roles": ["auditor"] });
    for (body, what) in [(&disable, "disable"), (&demote, "demote")] {
        let (s, p) = srv.put(&format!("/v1/operators/{author}"), body).await;
        assert_eq!((s, p["field"].as_str()), (409, Some("operator")), "{what}: {p}");
        let detail = p["detail"].as_str().unwrap();
        assert!(detail.contains("rule `lockout`: no enabled operator could still apply policies"), "{what}: {p}");
    }
    // Nothing changed: the author is as it was and still applies policies.
    let (_, op) = srv.get(&format!("/v1/operators/{author}")).await;
    assert_eq!((op["disabled"].as_bool(), &op["roles"]), (Some(false), &json!(["policy_author"])), "{op}");
    let (s, v) = call(&srv, "PUT", "/v1/policy", Some(&author_token), Some(&json!({ "text": only_authors, "comment": "again" }))).await;
    assert_eq!(s, 200, "{v}");
    let denied: Vec<Value> = srv.events_of("operator.denied").await.into_iter().filter(|e| e["details"]["rule"] == "lockout").collect();
    assert_eq!(denied.len(), 2, "{denied:?}");
    assert_eq!(
        (denied[0]["details"]["action"].as_str(), &denied[0]["details"]["lost"]),
        (Some("operator.update"), &json!(["apply_policy"]))
    );

    // With a second author, the first may go; admins disable each other freely while one stays.
    operator(&srv, "pol2", &["policy_author"], &[], None).await;
    let (s, p) = srv.put(&format!("/v1/operators/{author}"), &disable).await;
    assert_eq!(s, 200, "{p}");
    let (other_admin, _) = operator(&srv, "admin2", &["admin"], &[], None).await;
    let (s, p) = srv.put(&format!("/v1/operators/{other_admin}"), &json!({ "name": "admin2", "roles": ["admin"], "disabled": true })).await;
    assert_eq!(s, 200, "{p}");

    // Locked out already (a set written into the store around the API that
    // forbids every `policy.apply`): a change that loses nothing more stays
    // possible, so the authority can still be repaired through the API.
    let (auditor, _) = operator(&srv, "aud", &["auditor"], &[], None).await;
    let frozen =
        default_plus(&srv, "@id(\"freeze\")\n@reason(\"frozen\")\nforbid (principal, action == Action::\"policy.apply\", resource);").await;
    let store = srv.state().authority.store().clone();
    let version = store.latest_policy_version().await.unwrap() + 1;
    let written = signet_core::ports::StoredPolicy {
        version,
        text: frozen,
        sha256: "x".into(),
        comment: "around the api".into(),
        created_by: "attacker".into(),
        created_at: srv.state().authority.now(),
    };
    let ev = signet_model::event::NewEvent {
        event_type: signet_model::event::EventType::PolicyActivated,
        actor: "attacker".into(),
        subject_id: None,
        request_id: None,
        credential_id: None,
        reason: None,
        details: json!({}),
        trace_id: None,
        time: written.created_at,
    };
    store.insert_policy(&written, &ev).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (s, p) = srv.put(&format!("/v1/operators/{auditor}"), &json!({ "name": "aud", "roles": ["auditor"], "disabled": true })).await;
    assert_eq!(s, 200, "{p}");
});

both_backends!(explain_shows_the_decision_and_issues_nothing, |srv| {
    if !have_openssl() {
        return;
    }
    approval_profile(&srv, "guarded", 2, "24h").await;
    let subject = srv.create_subject("ex").await;
    let tmp = tempfile::tempdir().unwrap();
    let body = |scopes: Value| json!({ "subject": subject, "profile": "guarded", "csr": csr(tmp.path(), "ex"), "scopes": scopes });
    let before = srv.counts().await;
    let (s, v) = srv.post("/v1/policy/explain", &body(json!(["read"]))).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["outcome"].as_str(), v["approvals_required"].as_u64(), v["approval_group"].as_str()),
        (Some("pending_approval"), Some(2), Some("sec"))
    );
    assert!(v["determining_policies"].as_array().unwrap().iter().any(|p| p["id"] == "issue.forbid.awaiting-approval"), "{v}");
    let (_, v) = srv.post("/v1/policy/explain", &body(json!(["root"]))).await;
    assert_eq!(v["outcome"], "deny");
    assert!(v["determining_policies"].as_array().unwrap().iter().any(|p| p["id"] == "issue.forbid.scopes-outside-profile"), "{v}");
    let (_, v) =
        srv.post("/v1/policy/explain", &json!({ "subject": subject, "profile": "tls-server", "csr": csr(tmp.path(), "ex") })).await;
    assert_eq!(v["outcome"], "issue", "{v}");
    assert_eq!(srv.counts().await, before, "explain writes nothing");
});

both_backends!(break_glass_needs_two_approvers_and_is_time_boxed, |srv| {
    if !have_openssl() {
        return;
    }
    approval_profile(&srv, "guarded", 3, "24h").await;
    let subject = srv.create_subject("core").await;
    let (_, so) = operator(&srv, "site-op", &["site_operator"], &[], None).await;
    let (_, sr) = operator(&srv, "sec-rev", &["security_reviewer"], &[], None).await;
    let tmp = tempfile::tempdir().unwrap();
    let body =
        json!({ "subject": subject, "profile": "guarded", "csr": csr(tmp.path(), "core"), "ttl": "24h", "reason": "payment outage" });

    // Only an operator allowed break_glass.request may ask; a reason is required.
    assert_eq!(srv.post("/v1/break-glass", &body).await.0, 403);
    let mut no_reason = body.clone();
    no_reason["reason"] = json!("");
    assert_eq!(call(&srv, "POST", "/v1/break-glass", Some(&so), Some(&no_reason)).await.0, 400);
    let (s, v) = call(&srv, "POST", "/v1/break-glass", Some(&so), Some(&body)).await;
    assert_eq!(s, 202, "{v}");
    assert_eq!((v["request"]["break_glass"].as_bool(), v["approvals_required"].as_u64()), (Some(true), Some(2)));
    assert_eq!(v["request"]["requested_ttl_seconds"], 3600, "time-boxed to one hour");
    let id = v["request"]["id"].as_str().unwrap().to_string();
    let raised = srv.events_of("break_glass.requested").await;
    assert_eq!((raised.len(), raised[0]["details"]["severity"].as_str()), (1, Some("high")));
    assert_eq!(raised[0]["reason"], "payment outage");

    let approve = |tok: String| {
        let (srv, id) = (&srv, id.clone());
        async move { call(srv, "POST", &format!("/v1/requests/{id}/approve"), Some(&tok), Some(&json!({ "reason": "confirmed outage" }))).await }
    };
    // The requester cannot approve; an admin approves once; a second admin-grade approver completes it.
    assert_eq!(approve(so.clone()).await.0, 403);
    let (s, v) = approve(srv.token.clone()).await;
    assert_eq!((s, v["approvals"].as_u64()), (200, Some(1)), "{v}");
    assert_eq!(approve(srv.token.clone()).await.0, 409);
    let (s, v) = approve(sr.clone()).await;
    assert_eq!(s, 200, "{v}");
    let cred = &v["issued"]["credential"];
    let lifetime = time::OffsetDateTime::parse(cred["not_after"].as_str().unwrap(), &time::format_description::well_known::Rfc3339)
        .unwrap()
        - time::OffsetDateTime::parse(cred["not_before"].as_str().unwrap(), &time::format_description::well_known::Rfc3339).unwrap();
    assert!(lifetime <= time::Duration::seconds(3600 + 60), "{lifetime}");
    let (ok, out) = openssl_verify(tmp.path(), v["issued"]["chain_pem"].as_str().unwrap(), &srv.config.data_dir.join("ca.pem"));
    assert!(ok, "{out}");
    let issued = srv.events_of("credential.issued").await;
    assert_eq!((issued[0]["details"]["severity"].as_str(), issued[0]["details"]["break_glass"].as_bool()), (Some("high"), Some(true)));
});

#[test]
fn the_openapi_document_describes_the_governance_endpoints() {
    let doc: Value = signet_server::openapi::document_json().parse().unwrap();
    for path in [
        "/v1/operators",
        "/v1/operators/{id}/tokens",
        "/v1/tokens/{id}",
        "/v1/policy",
        "/v1/policy/explain",
        "/v1/policy/versions/{version}",
        "/v1/requests/{id}/approve",
        "/v1/requests/{id}/deny",
        "/v1/break-glass",
        "/v1/subjects/{id}/suspend",
        "/v1/whoami",
        "/v1/operators/{id}/certificates",
        "/v1/operators/enrol",
        "/v1/operators/{id}/enrolment",
        "/v1/operators/grants",
        "/v1/operators/grants/{id}/approve",
        "/v1/authorities",
        "/v1/authorities/issuing/rollover",
        "/v1/authorities/{id}/destroy",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} is not in the OpenAPI document");
    }
}

// ---------------------------------------------------------------- separation of duties one admin cannot satisfy alone

/// Make an enrolment code as a would-be operator does: (secret, verifier).
fn enrol_code() -> (String, String) {
    signet_core::sod::new_enrolment_code(&signet_core::clock::SystemRng)
}

/// The policies a problem names.
fn policies(p: &Value) -> Vec<String> {
    p["policies"].as_array().map(|a| a.iter().map(|x| x.as_str().unwrap().to_string()).collect()).unwrap_or_default()
}

both_backends!(one_admin_alone_cannot_get_an_approval_gated_certificate, |srv| {
    if !have_openssl() {
        return;
    }
    approval_profile(&srv, "guarded", 1, "24h").await;
    let subject = srv.create_subject("pay").await;
    let (alice, alice_token) = operator(&srv, "alice", &["approver"], &["sec"], None).await;
    let tmp = tempfile::tempdir().unwrap();
    let body = json!({ "subject": subject, "profile": "guarded", "csr": csr(tmp.path(), "pay"), "scopes": ["read"] });
    // The admin (also a registration officer) submits: it waits for one approval from `sec`.
    let (s, v) = srv.post("/v1/requests", &body).await;
    assert_eq!(s, 202, "{v}");
    let id = v["request"]["id"].as_str().unwrap().to_string();
    let approve = |tok: String| {
        let (srv, id) = (&srv, id.clone());
        async move { call(srv, "POST", &format!("/v1/requests/{id}/approve"), Some(&tok), Some(&json!({ "reason": "ok" }))).await }
    };

    // Attack 1: mint a token (or a certificate) for the existing approver and approve with it.
    let (s, p) = srv.post(&format!("/v1/operators/{alice}/tokens"), &json!({ "name": "borrowed" })).await;
    assert_eq!(s, 403, "{p}");
    assert_eq!(policies(&p), ["sod.own-credentials-only"], "{p}");
    let (s, p) = srv.post(&format!("/v1/operators/{alice}/certificates"), &json!({ "csr": csr(tmp.path(), "alice") })).await;
    assert_eq!((s, policies(&p)), (403, vec!["sod.own-credentials-only".to_string()]), "{p}");
    let denied = srv.events_of("operator.denied").await;
    assert!(
        denied.iter().filter(|e| e["details"]["policies"] == json!(["sod.own-credentials-only"])).count() >= 2,
        "each refusal is logged with its rule: {denied:?}"
    );
    // The approver itself still manages its own tokens.
    let (s, t) = call(&srv, "POST", &format!("/v1/operators/{alice}/tokens"), Some(&alice_token), Some(&json!({ "name": "mine" }))).await;
    assert_eq!(s, 201, "{t}");

    // Attack 2: a new approver in `sec`, whose enrolment secret the admin made itself.
    let (secret, verifier) = enrol_code();
    let (s, op) = srv
        .post(
            "/v1/operators",
            &json!({ "name": "mallory", "roles": ["approver"], "teams": ["sec"], "all_sites": true, "enrolment_verifier": verifier }),
        )
        .await;
    assert_eq!(s, 201, "{op}");
    assert!(op["pending_grant"].is_null(), "one admin: applied at once");
    let mallory = op["id"].as_str().unwrap().to_string();
    let (s, t) = srv.enrol("mallory", &secret).await;
    assert_eq!(s, 201, "{t}");
    let (s, p) = approve(t["secret"].as_str().unwrap().to_string()).await;
    assert_eq!(s, 403, "{p}");
    assert_eq!(policies(&p), ["sod.fresh-approver"], "{p}");
    assert!(p["detail"].as_str().unwrap().contains("does not count"), "{p}");
    // Attack 2b: re-enrol the existing approver with a secret the admin knows.
    let (secret, verifier) = enrol_code();
    let (s, v) = srv.post(&format!("/v1/operators/{alice}/enrolment"), &json!({ "enrolment_verifier": verifier })).await;
    assert_eq!(s, 200, "{v}");
    let (s, t) = srv.enrol(&alice, &secret).await;
    assert_eq!(s, 201, "{t}");
    let (s, p) = approve(t["secret"].as_str().unwrap().to_string()).await;
    assert_eq!((s, policies(&p)), (403, vec!["sod.fresh-approver".to_string()]), "{p}");

    // Nothing counted, nothing issued; each refused approval is in the log with its rule.
    let (_, r) = srv.get(&format!("/v1/requests/{id}")).await;
    assert_eq!(r["state"], "pending_approval");
    let (_, approvals) = srv.get(&format!("/v1/requests/{id}/approvals")).await;
    assert!(approvals["items"].as_array().unwrap().is_empty(), "{approvals}");
    assert_eq!(srv.counts().await.0, 0);
    let refused = srv.events_of("request.approval_refused").await;
    let fresh: Vec<&Value> = refused.iter().filter(|e| e["details"]["rule"] == "sod.fresh-approver").collect();
    assert_eq!(fresh.len(), 2, "{refused:?}");
    assert!(fresh.iter().any(|e| e["actor"] == mallory.as_str()));
    // The privileged creation and the re-enrolment of an approver are high-severity events.
    let created = srv.events_of("operator.created").await;
    let m = created.iter().find(|e| e["details"]["operator_id"] == mallory.as_str()).unwrap();
    assert_eq!(m["details"]["severity"], "high", "{m}");
    let updated = srv.events_of("operator.updated").await;
    assert!(updated.iter().any(|e| e["details"]["operator_id"] == alice.as_str() && e["details"]["severity"] == "high"), "{updated:?}");

    // Control: a request someone else submitted counts alice's approval, and issues.
    let (_, rita) = operator(&srv, "rita", &["registration_officer"], &[], None).await;
    let (s, v) = call(&srv, "POST", "/v1/requests", Some(&rita), Some(&body)).await;
    assert_eq!(s, 202, "{v}");
    let other = v["request"]["id"].as_str().unwrap().to_string();
    let (s, v) = call(&srv, "POST", &format!("/v1/requests/{other}/approve"), Some(&alice_token), Some(&json!({ "reason": "ok" }))).await;
    assert_eq!((s, v["request"]["state"].as_str()), (200, Some("issued")), "{v}");
});

both_backends!(enrolment_secrets_work_once_before_they_expire_and_say_nothing_else, |srv| {
    let (secret, verifier) = enrol_code();
    let (s, op) = srv.post("/v1/operators", &json!({ "name": "erin", "roles": ["auditor"], "enrolment_verifier": verifier })).await;
    assert_eq!(s, 201, "{op}");
    let erin = op["id"].as_str().unwrap().to_string();
    assert!(op["enrolment_expires_at"].is_string(), "{op}");
    let (_, shown) = srv.get(&format!("/v1/operators/{erin}")).await;
    assert!(!shown.to_string().contains(&verifier) && shown.get("enrolment_verifier").is_none(), "{shown}");

    // Wrong secret, unknown operator, short secret: one and the same 401, each logged.
    let (s, wrong) = srv.enrol(&erin, &enrol_code().0).await;
    assert_eq!(s, 401, "{wrong}");
    let (s, unknown) = srv.enrol("nobody", &secret).await;
    assert_eq!(s, 401, "{unknown}");
    assert_eq!(wrong["detail"], unknown["detail"]);
    assert_eq!(srv.enrol(&erin, "short").await.0, 401);
    // The right one, by name: a token for erin, once.
    let (s, t) = srv.enrol("erin", &secret).await;
    assert_eq!(s, 201, "{t}");
    assert_eq!(t["token"]["operator_id"], erin.as_str());
    let token = t["secret"].as_str().unwrap().to_string();
    let (s, me) = call(&srv, "GET", "/v1/whoami", Some(&token), None).await;
    assert_eq!((s, me["actor"].as_str()), (200, Some(erin.as_str())));
    let (s, replay) = srv.enrol(&erin, &secret).await;
    assert_eq!((s, &replay["detail"]), (401, &wrong["detail"]), "{replay}");
    let enrolled = srv.events_of("operator.enrolled").await;
    assert_eq!(enrolled.len(), 1);
    assert_eq!(enrolled[0]["actor"], erin.as_str());
    let failed = srv.events_of("operator.auth_failed").await;
    assert!(failed.iter().filter(|e| e["details"]["path"] == "/v1/operators/enrol").count() >= 4, "{failed:?}");

    // An expired enrolment is refused.
    let (late_secret, verifier) = enrol_code();
    let (s, op) = srv
        .post("/v1/operators", &json!({ "name": "late", "roles": ["auditor"], "enrolment_verifier": verifier, "enrolment_ttl": "1s" }))
        .await;
    assert_eq!(s, 201, "{op}");
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(srv.enrol("late", &late_secret).await.0, 401);

    // Malformed verifiers and over-long waits are refused, naming the field; nothing is created.
    let (s, p) = srv.post("/v1/operators", &json!({ "name": "bad", "enrolment_verifier": "abc" })).await;
    assert_eq!((s, p["field"].as_str()), (400, Some("enrolment_verifier")), "{p}");
    let (s, p) = srv.post("/v1/operators", &json!({ "name": "bad", "enrolment_verifier": enrol_code().1, "enrolment_ttl": "8d" })).await;
    assert_eq!((s, p["field"].as_str()), (400, Some("enrolment_ttl")), "{p}");
    let (_, list) = srv.get("/v1/operators").await;
    assert!(list["items"].as_array().unwrap().iter().all(|o| o["name"] != "bad"));
});

both_backends!(privileged_grants_need_a_second_admin_when_there_is_one, |srv| {
    // One admin: a privileged role applies at once, as a high-severity event.
    let (ada, ada_token) = operator(&srv, "ada", &["admin"], &[], None).await;
    let created = srv.events_of("operator.created").await;
    let e = created.iter().find(|e| e["details"]["operator_id"] == ada.as_str()).unwrap();
    assert_eq!(e["details"]["severity"], "high", "{e}");

    // Two admins now: an approver waits for the other one.
    let (secret, verifier) = enrol_code();
    let (s, op) = srv
        .post(
            "/v1/operators",
            &json!({ "name": "alice", "roles": ["approver", "auditor"], "teams": ["sec"], "enrolment_verifier": verifier }),
        )
        .await;
    assert_eq!(s, 201, "{op}");
    let alice = op["id"].as_str().unwrap().to_string();
    assert_eq!(op["roles"], json!(["auditor"]), "created without the privileged role meanwhile: {op}");
    let grant = op["pending_grant"]["id"].as_str().unwrap().to_string();
    assert_eq!(op["pending_grant"]["state"], "pending");
    let (s, t) = srv.enrol(&alice, &secret).await;
    assert_eq!(s, 201, "{t}");
    let requested = srv.events_of("operator.grant_requested").await;
    assert_eq!((requested.len(), requested[0]["details"]["severity"].as_str()), (1, Some("high")));

    // The asker cannot approve it; nor can the grantee; the other admin can.
    let decide = |tok: String, g: String, verdict: &'static str| {
        let srv = &srv;
        async move {
            call(srv, "POST", &format!("/v1/operators/grants/{g}/{verdict}"), Some(&tok), Some(&json!({ "reason": "ticket 7" }))).await
        }
    };
    let (s, p) = decide(srv.token.clone(), grant.clone(), "approve").await;
    assert_eq!((s, policies(&p)), (403, vec!["sod.second-admin".to_string()]), "{p}");
    assert_eq!(decide(t["secret"].as_str().unwrap().to_string(), grant.clone(), "approve").await.0, 403);
    let (s, g) = decide(ada_token.clone(), grant.clone(), "approve").await;
    assert_eq!((s, g["state"].as_str(), g["decided_by"].as_str()), (200, Some("applied"), Some(ada.as_str())), "{g}");
    let (_, now) = srv.get(&format!("/v1/operators/{alice}")).await;
    assert_eq!(now["roles"], json!(["approver", "auditor"]), "{now}");
    let sponsors: Vec<&str> = now["sponsors"].as_array().unwrap().iter().map(|s| s["by"].as_str().unwrap()).collect();
    assert!(sponsors.contains(&ada.as_str()) && sponsors.len() == 3, "creator, asker, approver: {now}");
    assert_eq!(decide(ada_token.clone(), grant.clone(), "approve").await.0, 409);
    let decided = srv.events_of("operator.grant_decided").await;
    assert_eq!(
        (decided.len(), decided[0]["details"]["state"].as_str(), decided[0]["details"]["severity"].as_str()),
        (1, Some("applied"), Some("high"))
    );

    // Widening a privileged operator's reach waits too, whole; a denial leaves it as it was.
    let put = |teams: Value| {
        let (srv, path) = (&srv, format!("/v1/operators/{alice}"));
        async move { srv.put(&path, &json!({ "name": "alice", "roles": ["approver", "auditor"], "teams": teams })).await }
    };
    let (s, v) = put(json!(["sec", "ops"])).await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["teams"], json!(["sec"]), "{v}");
    let widen = v["pending_grant"]["id"].as_str().unwrap().to_string();
    let (s, g) = decide(srv.token.clone(), widen, "deny").await;
    assert_eq!((s, g["state"].as_str()), (200, Some("denied")), "the asker may withdraw: {g}");
    // Narrowing applies at once.
    let (s, v) = put(json!([])).await;
    assert_eq!((s, v["teams"].clone()), (200, json!([])), "{v}");
    // A grant asked against an operator that changed before it was approved does not apply.
    let (_, v) = put(json!(["sec"])).await;
    let stale = v["pending_grant"]["id"].as_str().unwrap().to_string();
    let (s, _) = srv.put(&format!("/v1/operators/{alice}"), &json!({ "name": "alice", "roles": ["auditor"] })).await;
    assert_eq!(s, 200);
    let (s, p) = decide(ada_token.clone(), stale, "approve").await;
    assert_eq!(s, 409, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("changed"), "{p}");
    let (_, now) = srv.get(&format!("/v1/operators/{alice}")).await;
    assert_eq!(now["roles"], json!(["auditor"]), "{now}");
    let (_, grants) = srv.get("/v1/operators/grants").await;
    assert_eq!(grants["items"].as_array().unwrap().len(), 3, "{grants}");
});

both_backends!(a_fresh_approver_counts_once_the_profiles_window_has_passed, |srv| {
    if !have_openssl() {
        return;
    }
    let (s, v) = srv
        .put(
            "/v1/profiles/windowed",
            &json!({ "name": "windowed", "max_ttl": "1d", "names": { "dns": ["**.internal"] }, "ext_key_usages": ["server_auth"],
                "approvals": { "required": 1, "group": "sec", "fresh_approver_window": "2s" } }),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let subject = srv.create_subject("win").await;
    // Granted by the admin through a grant a second admin approved: the admin who asked is still its sponsor.
    let (_, ada_token) = operator(&srv, "ada", &["admin"], &[], None).await;
    let (secret, verifier) = enrol_code();
    let (s, op) = srv
        .post(
            "/v1/operators",
            &json!({ "name": "vic", "roles": ["approver"], "teams": ["sec"], "all_sites": true, "enrolment_verifier": verifier }),
        )
        .await;
    assert_eq!(s, 201, "{op}");
    let grant = op["pending_grant"]["id"].as_str().unwrap().to_string();
    let (s, g) =
        call(&srv, "POST", &format!("/v1/operators/grants/{grant}/approve"), Some(&ada_token), Some(&json!({ "reason": "new hire" })))
            .await;
    assert_eq!(s, 200, "{g}");
    let (_, t) = srv.enrol("vic", &secret).await;
    let vic = t["secret"].as_str().unwrap().to_string();
    let tmp = tempfile::tempdir().unwrap();
    let (s, v) = srv.post("/v1/requests", &json!({ "subject": subject, "profile": "windowed", "csr": csr(tmp.path(), "win") })).await;
    assert_eq!(s, 202, "{v}");
    let id = v["request"]["id"].as_str().unwrap().to_string();
    let (path, reason) = (format!("/v1/requests/{id}/approve"), json!({ "reason": "ok" }));
    let approve = || call(&srv, "POST", &path, Some(&vic), Some(&reason));
    let (s, p) = approve().await;
    assert_eq!((s, policies(&p)), (403, vec!["sod.fresh-approver".to_string()]), "{p}");
    // The window is the profile's: past it, the approval counts.
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    let (s, v) = approve().await;
    assert_eq!((s, v["request"]["state"].as_str()), (200, Some("issued")), "{v}");
});
