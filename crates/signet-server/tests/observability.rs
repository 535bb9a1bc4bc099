//! Metrics (checked by Prometheus' own text-format parser) and the live
//! Server-Sent Events stream of the event record.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod common;

use common::{Backend, TestServer};
use serde_json::json;
use std::process::{Command, Stdio};

fn csr(name: &str) -> String {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    rcgen::CertificateParams::new(vec![name.to_string()]).unwrap().serialize_request(&key).unwrap().pem().unwrap()
}

/// Parse exposition text with the reference Python parser; `None` if it is not installed (and not required).
fn prometheus_parse(text: &str) -> Option<serde_json::Value> {
    let script = r#"
import sys, json
from prometheus_client.parser import text_string_to_metric_families
out = {}
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        out.setdefault(s.name, []).append({"labels": s.labels, "value": s.value})
print(json.dumps(out))
"#;
    let probe = Command::new("python3").args(["-c", "import prometheus_client"]).output();
    assert!(
        probe.map(|o| o.status.success()).unwrap_or(false),
        "python3 with prometheus_client is needed by this test: run scripts/test, which installs the test peers"
    );
    let mut child =
        Command::new("python3").args(["-c", script]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the Prometheus parser refused the text: {}", String::from_utf8_lossy(&out.stderr));
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_issuance_and_denials_and_parse_as_prometheus_text() {
    let srv = TestServer::start(Backend::Sqlite).await.unwrap();
    let subject = srv.create_subject("web").await;
    let (s, _) = srv.post("/v1/requests", &json!({ "subject": subject, "profile": "tls-server", "csr": csr("a.internal") })).await;
    assert_eq!(s, 201);
    let (s, _) = srv.post("/v1/requests", &json!({ "subject": subject, "profile": "tls-server", "csr": csr("x.example.com") })).await;
    assert_eq!(s, 422);
    let (s, _) = srv.post("/v1/requests", &json!({ "subject": subject, "profile": "tls-server", "csr": "junk" })).await;
    assert_eq!(s, 400);

    // Operators only.
    let r = srv.http.get(srv.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = srv.http.get(srv.url("/metrics")).bearer_auth(&srv.token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    let text = r.text().await.unwrap();
    assert!(text.contains(r#"signet_issuance_total{profile="tls-server",type="x509",outcome="issued"} 1"#), "{text}");
    assert!(text.contains(r#"signet_issuance_total{profile="tls-server",type="x509",outcome="denied"} 1"#), "{text}");
    assert!(text.contains(r#"signet_issuance_total{profile="-",type="x509",outcome="invalid"} 1"#), "{text}");
    assert!(text.contains(r#"signet_denials_total{reason="csr.names.dns"} 1"#), "{text}");

    let Some(parsed) = prometheus_parse(&text) else { return };
    let count = parsed["signet_http_request_duration_seconds_count"].as_array().unwrap();
    let posts = count.iter().find(|s| s["labels"]["route"] == "/v1/requests" && s["labels"]["status"] == "201").unwrap();
    assert_eq!(posts["value"].as_f64(), Some(1.0));
    assert!(parsed.get("signet_log_size").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_stream_as_server_sent_events_and_resume() {
    let srv = TestServer::start(Backend::Sqlite).await.unwrap();
    let r = srv.http.get(srv.url("/v1/events")).bearer_auth(&srv.token).header("accept", "text/event-stream").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let mut r = r;

    // Something happens after the client connected.
    let subject = srv.create_subject("live").await;
    let (s, v) = srv.post("/v1/requests", &json!({ "subject": subject, "profile": "tls-server", "csr": csr("live.internal") })).await;
    assert_eq!(s, 201, "{v}");

    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let ours = v["credential"]["id"].as_str().unwrap().to_string();
    while !seen.contains(&ours) {
        let chunk = tokio::time::timeout_at(deadline, r.chunk()).await.expect("the issuance event arrives").unwrap().unwrap();
        seen.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    // The bootstrap events come first, in order, each with its index as id.
    assert!(seen.starts_with("id: 1\n") || seen.contains("\nid: 1\n") || seen.starts_with("event: "), "{seen}");
    assert!(seen.contains("event: subject.created"));
    let issued = seen.split("\n\n").find(|b| b.contains("event: credential.issued") && b.contains(&ours)).unwrap();
    let id: i64 = issued.lines().find_map(|l| l.strip_prefix("id: ")).unwrap().parse().unwrap();
    let data = issued.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
    let event: serde_json::Value = serde_json::from_str(data).unwrap();
    assert_eq!(event["index"], id);
    assert_eq!(event["credential_id"], v["credential"]["id"]);

    // Resuming with Last-Event-ID starts after it.
    let mut r = srv
        .http
        .get(srv.url("/v1/events"))
        .bearer_auth(&srv.token)
        .header("accept", "text/event-stream")
        .header("last-event-id", (id - 1).to_string())
        .send()
        .await
        .unwrap();
    let first = tokio::time::timeout(std::time::Duration::from_secs(10), r.chunk()).await.unwrap().unwrap().unwrap();
    let first = std::str::from_utf8(&first).unwrap();
    assert!(first.contains(&format!("id: {id}\n")), "{first}");
    assert!(!first.contains(&format!("id: {}\n", id - 1)), "{first}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_actions_are_logged_within_a_rate_limit_per_operator_and_all_are_counted() {
    let srv = TestServer::start(Backend::Sqlite).await.unwrap();
    let token_of = async |name: &str| srv.enrolled_operator(json!({ "name": name, "roles": ["auditor"] })).await;
    let (noisy, noisy_token) = token_of("noisy").await;
    let (quiet, quiet_token) = token_of("quiet").await;
    let refuse = async |token: &str| {
        let r = srv.http.post(srv.url("/v1/subjects")).bearer_auth(token).json(&json!({ "name": "x", "kind": "person" })).send().await;
        assert_eq!(r.unwrap().status(), 403, "every refusal stands, logged or not");
    };
    // A burst from one operator: the first ones logged, the rest counted;
    // another operator's refusal in the middle of it is logged all the same.
    let burst = signet_core::authority::DENIALS_PER_OPERATOR_PER_SECOND as usize * 3;
    for i in 0..burst {
        refuse(&noisy_token).await;
        if i == burst / 2 {
            refuse(&quiet_token).await;
        }
    }
    // After the burst's seconds, one more: it reports what was left out.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    refuse(&noisy_token).await;

    let denied = srv.events_of("operator.denied").await;
    let of = |actor: &str| denied.iter().filter(|e| e["actor"] == actor).collect::<Vec<_>>();
    assert_eq!(of(&quiet).len(), 1);
    let noisy_events = of(&noisy);
    let (logged, counted) = refusals_accounted(&noisy_events);
    assert!(logged < burst as u64, "rate-limited: {logged} of {burst} logged");
    assert_eq!(logged + counted, burst as u64 + 1, "every refusal is logged or counted");
    // Unless the periodic summary got there first, the refusal after the
    // burst reported what was left out.
    let last = noisy_events.last().unwrap();
    assert!(
        last["details"]["suppressed_before"].as_u64().unwrap_or(0) > 0 || noisy_events.iter().any(|e| e["details"]["suppressed"].is_u64())
    );
}

/// Of a list of refusal events (`operator.denied` or `operator.auth_failed`):
/// how many refusals were logged one by one, and how many were counted
/// instead (`suppressed_before` on the next refusal logged, or `suppressed`
/// on a summary event, which is not itself a refusal).
fn refusals_accounted(events: &[&serde_json::Value]) -> (u64, u64) {
    let summaries = events.iter().filter(|e| e["details"]["suppressed"].is_u64());
    let logged = events.iter().filter(|e| !e["details"]["suppressed"].is_u64());
    let counted_after: u64 = logged.clone().map(|e| e["details"]["suppressed_before"].as_u64().unwrap()).sum();
    let counted_in_summaries: u64 = summaries.map(|e| e["details"]["suppressed"].as_u64().unwrap()).sum();
    (logged.count() as u64, counted_after + counted_in_summaries)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_left_out_by_a_burst_followed_by_silence_are_reported_in_a_summary() {
    let srv = TestServer::start(Backend::Sqlite).await.unwrap();
    let (operator, token) = srv.enrolled_operator(json!({ "name": "bursty", "roles": ["auditor"] })).await;

    // Two bursts, then nothing: no later refusal will carry their counts.
    let denials = signet_core::authority::DENIALS_PER_OPERATOR_PER_SECOND as usize * 3;
    for _ in 0..denials {
        let r = srv.http.post(srv.url("/v1/subjects")).bearer_auth(&token).json(&json!({ "name": "x", "kind": "person" })).send();
        assert_eq!(r.await.unwrap().status(), 403);
    }
    let forged = signet_core::authority::AUTH_FAILURES_PER_SECOND as usize * 3;
    for _ in 0..forged {
        let r = srv.http.get(srv.url("/v1/subjects")).bearer_auth("signet_forged").send();
        assert_eq!(r.await.unwrap().status(), 401);
    }
    // What the server does every few seconds and at shutdown; a second call
    // has nothing left to report and writes nothing.
    let authority = srv.state().authority.clone();
    authority.report_suppressed_refusals().await;
    let before = srv.events_of("operator.denied").await.len() + srv.events_of("operator.auth_failed").await.len();
    authority.report_suppressed_refusals().await;
    let after = srv.events_of("operator.denied").await.len() + srv.events_of("operator.auth_failed").await.len();
    assert_eq!(before, after, "nothing is reported twice");

    let denied = srv.events_of("operator.denied").await;
    let denied: Vec<_> = denied.iter().filter(|e| e["actor"] == operator.as_str()).collect();
    let (logged, counted) = refusals_accounted(&denied);
    assert!(logged < denials as u64);
    assert_eq!(logged + counted, denials as u64, "every refused action is logged or counted");
    let summary = denied.iter().find(|e| e["details"]["suppressed"].is_u64()).expect("a summary event for the operator");
    assert_eq!(summary["actor"], operator.as_str(), "the summary names the operator whose actions were refused");

    let failed = srv.events_of("operator.auth_failed").await;
    let failed: Vec<_> = failed.iter().collect();
    let (logged, counted) = refusals_accounted(&failed);
    assert!(logged < forged as u64);
    assert_eq!(logged + counted, forged as u64, "every refused authentication is logged or counted");
    let summary = failed.iter().find(|e| e["details"]["suppressed"].is_u64()).expect("a summary event for the refused authentications");
    assert_eq!(summary["actor"], "anonymous");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_authentications_are_logged_within_a_rate_limit() {
    let srv = TestServer::start(Backend::Sqlite).await.unwrap();
    // A burst of forged tokens: each refused, the first ones logged, the rest counted.
    let burst = signet_core::authority::AUTH_FAILURES_PER_SECOND as usize * 3;
    for _ in 0..burst {
        let r = srv.http.get(srv.url("/v1/subjects")).bearer_auth("signet_forged").send().await.unwrap();
        assert_eq!(r.status(), 401);
    }
    let (_, found) = srv.get("/log/v1/search?type=operator.auth_failed&limit=1000").await;
    // One by one, that is, not the periodic summary of what was left out.
    let items: Vec<_> = found["items"].as_array().unwrap().iter().filter(|e| !e["details"]["suppressed"].is_u64()).collect();
    assert!(!items.is_empty());
    assert!(items.len() < burst, "rate-limited: {} of {burst} logged", items.len());
    assert_eq!(items[0]["actor"], "anonymous");
    assert_eq!(items[0]["reason"], "unknown operator token");
    assert_eq!(items[0]["details"]["path"], "/v1/subjects");
    assert!(items[0]["trace_id"].as_str().unwrap().starts_with('r'));
    // The log key's creation is a recorded key operation.
    let (_, keys) = srv.get("/log/v1/search?type=key.created").await;
    assert_eq!(keys["items"][0]["details"]["key_ref"], "log");
}
