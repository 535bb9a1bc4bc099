//! The log's integrity, attacked around the authority: whoever can write the
//! database changes an event's columns, its entry, its leaf hash, as an
//! attacker would (dropping the append-only triggers first). Every view of
//! the log then shows what was logged or fails loudly, and the server stops
//! issuing and reports not ready; an untampered log raises no alarm.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

mod common;

use common::{Backend, PgDb, TestServer};
use serde_json::{Value, json};
use sqlx::{Connection, Executor};
use std::sync::Arc;
use std::time::Duration;

fn csr(name: &str) -> String {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    rcgen::CertificateParams::new(vec![name.to_string()]).unwrap().serialize_request(&key).unwrap().pem().unwrap()
}

/// Run SQL on the server's database directly, around the server.
async fn raw(data_dir: &std::path::Path, pg: Option<&Arc<PgDb>>, sql: &str) {
    let sql = sqlx::AssertSqlSafe(sql.to_string());
    match pg {
        Some(pg) => {
            let mut c = sqlx::PgConnection::connect(&pg.url).await.unwrap();
            c.execute(sql).await.unwrap();
        }
        None => {
            let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", data_dir.join("signet.db").display())).await.unwrap();
            c.execute(sql).await.unwrap();
        }
    }
}

/// What an attacker does first: drop the triggers that keep `events` append-only.
async fn drop_triggers(data_dir: &std::path::Path, pg: Option<&Arc<PgDb>>) {
    let sql = match pg {
        Some(_) => "DROP TRIGGER events_no_update_or_delete ON events",
        None => "DROP TRIGGER events_no_update",
    };
    raw(data_dir, pg, sql).await;
}

/// A BLOB/BYTEA literal.
fn blob(pg: bool, bytes: &[u8]) -> String {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    if pg { format!("'\\x{hex}'::bytea") } else { format!("X'{hex}'") }
}

/// Rewrite entry `index`'s bytes (and, with `leaf`, its stored leaf hash to match).
async fn rewrite_entry(srv_dir: &std::path::Path, pg: Option<&Arc<PgDb>>, index: u64, entry: &str, leaf: bool) {
    let mut sql = format!("UPDATE events SET entry = {}", blob(pg.is_some(), entry.as_bytes()));
    if leaf {
        sql.push_str(&format!(", leaf_hash = {}", blob(pg.is_some(), &signet_log::leaf_hash(entry.as_bytes()))));
    }
    raw(srv_dir, pg, &format!("{sql} WHERE event_index = {index}")).await;
}

/// The stored bytes of entry `index`.
async fn entry_text(srv: &TestServer, index: u64) -> String {
    let (s, v) = srv.get(&format!("/log/v1/entries?start={index}&limit=1")).await;
    assert_eq!(s, 200, "{v}");
    v["items"][0]["entry"].as_str().unwrap().to_string()
}

async fn issue(srv: &TestServer, subject: &str, name: &str) -> (u16, Value) {
    srv.post("/v1/requests", &json!({ "subject": subject, "profile": "tls-server", "csr": csr(name) })).await
}

/// Issue one certificate; its log index.
async fn issued(srv: &TestServer, subject: &str, name: &str) -> u64 {
    let (s, v) = issue(srv, subject, name).await;
    assert_eq!(s, 201, "{v}");
    v["log"]["index"].as_u64().unwrap()
}

/// Wait until a checkpoint covers `size` entries.
async fn checkpointed(srv: &TestServer, size: u64) {
    for _ in 0..100 {
        let r = srv.http.get(srv.url("/log/checkpoint")).send().await.unwrap();
        if r.status() == 200 && r.text().await.unwrap().lines().nth(1).unwrap().parse::<u64>().unwrap() >= size {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no checkpoint covering {size} entries");
}

async fn ready(srv: &TestServer) -> (u16, Value) {
    common::decode(srv.http.get(srv.url("/readyz")).send().await.unwrap()).await
}

/// Wait (up to `limit`) for `/readyz` to report the log's failure.
async fn not_ready_within(srv: &TestServer, limit: Duration) -> Value {
    let started = tokio::time::Instant::now();
    loop {
        let (s, v) = ready(srv).await;
        if s == 503 {
            assert_eq!(v["type"], "urn:signet:problem:log-integrity", "{v}");
            return v;
        }
        assert!(started.elapsed() < limit, "still ready after {limit:?}: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A metric's value from `/metrics`.
async fn metric(srv: &TestServer, name: &str) -> u64 {
    let text = srv.http.get(srv.url("/metrics")).bearer_auth(&srv.token).send().await.unwrap().text().await.unwrap();
    let line = text.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("no `{name}` in {text}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

fn assert_integrity_problem(status: u16, v: &Value, index: u64, what: &str) {
    assert_eq!((status, v["type"].as_str()), (500, Some("urn:signet:problem:log-integrity")), "{what}: {v}");
    assert!(v["detail"].as_str().unwrap().contains(&format!("log entry {index} ")), "{what}: {v}");
}

/// Every view that shows events: the search (`query` selects the changed
/// event by its columns, changed or not), `/v1/events`.
async fn views_refuse(srv: &TestServer, query: &str, index: u64, what: &str) {
    let (s, v) = srv.get(&format!("/log/v1/search?{query}")).await;
    assert_integrity_problem(s, &v, index, &format!("{what}: search"));
    let (s, v) = srv.get("/v1/events?limit=1000").await;
    assert_integrity_problem(s, &v, index, &format!("{what}: events"));
}

both_backends!(a_changed_index_column_is_never_shown, |srv| {
    let pg = srv.pg.clone();
    let subject = srv.create_subject("web").await;
    let other = srv.create_subject("other").await;
    let index = issued(&srv, &subject, "web.internal").await;
    checkpointed(&srv, index + 1).await;
    let logged: Value = serde_json::from_str(&entry_text(&srv, index).await).unwrap();
    drop_triggers(&srv.config.data_dir, pg.as_ref()).await;
    let sql_text = |v: &Value| match v {
        Value::Null => "NULL".to_string(),
        Value::String(s) => format!("'{}'", s.replace('\'', "''")),
        other => format!("'{}'", other.to_string().replace('\'', "''")),
    };
    let by_subject = format!("subject={subject}");
    let cases = [
        ("actor", "'op_00000000000000000000000000000000'".to_string(), sql_text(&logged["actor"]), by_subject.clone()),
        ("reason", "'nothing to see here'".to_string(), sql_text(&logged["reason"]), by_subject.clone()),
        ("details", "'{\"serial\":\"00\"}'".to_string(), sql_text(&logged["details"]), by_subject.clone()),
        // Under a type, a subject it does not record: refused, never shown there.
        ("event_type", "'subject.created'".to_string(), sql_text(&logged["type"]), "type=subject.created".to_string()),
        ("subject_id", format!("'{other}'"), sql_text(&logged["subject_id"]), format!("subject={other}")),
    ];
    for (column, forged, original, query) in &cases {
        raw(&srv.config.data_dir, pg.as_ref(), &format!("UPDATE events SET {column} = {forged} WHERE event_index = {index}")).await;
        views_refuse(&srv, query, index, column).await;
        raw(&srv.config.data_dir, pg.as_ref(), &format!("UPDATE events SET {column} = {original} WHERE event_index = {index}")).await;
    }
    // Restored: the views show what was logged again.
    let (s, v) = srv.get(&format!("/log/v1/search?subject={subject}&type=credential.issued")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["items"][0]["actor"], logged["actor"]);
    assert_eq!(v["items"][0]["details"], logged["details"]);

    // The stream says so and ends, rather than show a changed event.
    raw(&srv.config.data_dir, pg.as_ref(), &format!("UPDATE events SET actor = 'system' WHERE event_index = {index}")).await;
    let mut stream =
        srv.http.get(srv.url("/v1/events")).bearer_auth(&srv.token).header("accept", "text/event-stream").send().await.unwrap();
    let mut text = String::new();
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Ok(Some(chunk)) = stream.chunk().await {
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream ended: {text}");
    assert!(text.contains("event: log-integrity") && text.contains(&format!("log entry {index} ")), "{text}");
    assert!(!text.contains(&format!("id: {index}\n")), "the changed event was not sent: {text}");

    // The alarm: not ready, nothing issued, the metric says so.
    not_ready_within(&srv, Duration::from_secs(2)).await;
    let (s, v) = issue(&srv, &subject, "again.internal").await;
    assert_eq!((s, v["type"].as_str()), (503, Some("urn:signet:problem:log-integrity")), "{v}");
    assert_eq!(metric(&srv, "signet_log_integrity_ok").await, 0);
    assert!(metric(&srv, "signet_log_integrity_failures_total").await >= 1);
});

both_backends!(a_changed_entry_is_found_with_or_without_its_leaf_hash, |srv| {
    let pg = srv.pg.clone();
    let subject = srv.create_subject("web").await;
    let index = issued(&srv, &subject, "web.internal").await;
    checkpointed(&srv, index + 1).await;
    let original = entry_text(&srv, index).await;
    let forged = original.replace("web.internal", "evil.internal");
    assert_ne!(forged, original);
    drop_triggers(&srv.config.data_dir, pg.as_ref()).await;

    // The entry alone: it no longer hashes to its stored leaf hash.
    let query = format!("subject={subject}");
    rewrite_entry(&srv.config.data_dir, pg.as_ref(), index, &forged, false).await;
    views_refuse(&srv, &query, index, "entry").await;
    // The entry and its stored leaf hash: the tree's leaf differs.
    rewrite_entry(&srv.config.data_dir, pg.as_ref(), index, &forged, true).await;
    views_refuse(&srv, &query, index, "entry and leaf hash").await;
    let (s, v) = srv.get(&format!("/log/v1/search?subject={subject}")).await;
    assert!(v["detail"].as_str().unwrap().contains("tree's leaf"), "{s} {v}");
    not_ready_within(&srv, Duration::from_secs(2)).await;
});

both_backends!(an_untampered_log_raises_no_alarm, |srv| {
    let subject = srv.create_subject("web").await;
    for i in 0..3 {
        issued(&srv, &subject, &format!("n{i}.internal")).await;
    }
    // Right after the writes (not yet checkpointed) and through an audit pass.
    for _ in 0..14 {
        let (s, v) = ready(&srv).await;
        assert_eq!(s, 200, "{v}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // A start with entries not yet checkpointed (written while no sequencer ran).
    let state = srv.state();
    let (dir, pg) = srv.stop().await;
    let event = signet_model::event::NewEvent {
        event_type: signet_model::event::EventType::KeystoreUnsealed,
        actor: "system".into(),
        subject_id: None,
        request_id: None,
        credential_id: None,
        reason: None,
        details: json!({ "test": true }),
        trace_id: None,
        time: state.authority.now(),
    };
    state.authority.store().record_events(&[event.clone(), event]).await.unwrap();
    drop(state);
    let srv = TestServer::start_in(dir, pg).await;
    for _ in 0..14 {
        let (s, v) = ready(&srv).await;
        assert_eq!(s, 200, "{v}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(metric(&srv, "signet_log_integrity_ok").await, 1);
    assert_eq!(metric(&srv, "signet_log_integrity_failures_total").await, 0);
    let (s, v) = issue(&srv, &subject, "later.internal").await;
    assert_eq!(s, 201, "{v}");
});

both_backends!(a_checkpointed_entry_changed_before_a_start_is_found, |srv| {
    let subject = srv.create_subject("web").await;
    let index = issued(&srv, &subject, "web.internal").await;
    for i in 0..4 {
        issued(&srv, &subject, &format!("n{i}.internal")).await;
    }
    let (_, all) = srv.get("/log/v1/entries?limit=1000").await;
    checkpointed(&srv, all["items"].as_array().unwrap().len() as u64).await;
    let forged = entry_text(&srv, index).await.replace("web.internal", "evil.internal");
    let (dir, pg) = srv.stop().await;
    let data = dir.path().join("data");
    drop_triggers(&data, pg.as_ref()).await;
    rewrite_entry(&data, pg.as_ref(), index, &forged, true).await;

    let srv = TestServer::start_in(dir, pg).await;
    let v = not_ready_within(&srv, Duration::from_secs(10)).await;
    assert!(v["detail"].as_str().unwrap().contains("fails verification"), "{v}");
    let (s, v) = issue(&srv, &subject, "after.internal").await;
    assert_eq!((s, v["type"].as_str()), (503, Some("urn:signet:problem:log-integrity")), "{v}");
    // Other changes too; reads are still served.
    let (s, v) = srv.post("/v1/subjects", &json!({ "name": "x", "kind": "person" })).await;
    assert_eq!((s, v["type"].as_str()), (503, Some("urn:signet:problem:log-integrity")), "{v}");
    assert_eq!(srv.get("/v1/subjects").await.0, 200);
    // The high-severity event was appended.
    let (s, v) = srv.get("/log/v1/search?type=log.integrity_failed").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["items"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["items"][0]["details"]["severity"], "high");
});

both_backends!(an_entry_after_the_last_checkpoint_changed_is_found_at_start, |srv| {
    let subject = srv.create_subject("web").await;
    let index = issued(&srv, &subject, "web.internal").await;
    checkpointed(&srv, index + 1).await;
    // Entries the sequencer has not integrated: written while it does not run.
    let state = srv.state();
    let (dir, pg) = srv.stop().await;
    let event = |n: u64| signet_model::event::NewEvent {
        event_type: signet_model::event::EventType::KeystoreUnsealed,
        actor: "system".into(),
        subject_id: None,
        request_id: None,
        credential_id: None,
        reason: None,
        details: json!({ "n": n }),
        trace_id: None,
        time: state.authority.now(),
    };
    state.authority.store().record_events(&[event(1), event(2)]).await.unwrap();
    let first = state.authority.store().log_entries(index as i64 + 1, 10).await.unwrap()[0].clone();
    drop(state);
    let forged = String::from_utf8(first.entry).unwrap().replace("{\"n\":1}", "{\"n\":7}");
    let data = dir.path().join("data");
    drop_triggers(&data, pg.as_ref()).await;
    // Entry and leaf hash rewritten together: the next entry's `prev` breaks.
    rewrite_entry(&data, pg.as_ref(), first.index as u64, &forged, true).await;

    let srv = TestServer::start_in(dir, pg).await;
    let v = not_ready_within(&srv, Duration::from_millis(200)).await;
    assert!(v["detail"].as_str().unwrap().contains("`prev`"), "{v}");
    let (s, _) = issue(&srv, &subject, "after.internal").await;
    assert_eq!(s, 503);
});

both_backends!(an_entry_changed_while_running_stops_issuance_and_quiets_the_sequencer, |srv| {
    let pg = srv.pg.clone();
    let subject = srv.create_subject("web").await;
    let index = issued(&srv, &subject, "web.internal").await;
    checkpointed(&srv, index + 1).await;
    let forged = entry_text(&srv, index).await.replace("web.internal", "evil.internal");
    drop_triggers(&srv.config.data_dir, pg.as_ref()).await;
    rewrite_entry(&srv.config.data_dir, pg.as_ref(), index, &forged, false).await;

    // Found by the audit, without any read of the event.
    not_ready_within(&srv, Duration::from_secs(12)).await;
    let (s, v) = issue(&srv, &subject, "after.internal").await;
    assert_eq!((s, v["type"].as_str()), (503, Some("urn:signet:problem:log-integrity")), "{v}");
    // The sequencer stopped: no more checkpoints, no error twice a second.
    let found = metric(&srv, "signet_log_integrity_failures_total").await;
    let size = metric(&srv, "signet_log_size").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(metric(&srv, "signet_log_integrity_failures_total").await, found);
    assert_eq!(metric(&srv, "signet_log_size").await, size);
});
