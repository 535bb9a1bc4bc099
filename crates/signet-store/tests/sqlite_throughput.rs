//! How many certificates per second the SQLite store records, on the hot path
//! the group committer uses: batches of intents, then batches of outcomes
//! (request + credential + event), each batch one durable transaction.
//!
//! Not a unit test: run it on purpose, on a real disk (not tmpfs, where fsync
//! costs nothing):
//!
//! ```text
//! cargo test -p signet-store --test sqlite_throughput -- --ignored --nocapture
//! SIGNET_BENCH_CERTS=50000 SIGNET_BENCH_BATCH=200 cargo test ...
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::json;
use signet_core::ports::{IssuanceIntent, IssuanceOutcome, IssuanceWrite, Store};
use signet_model::credential::{Authority, AuthorityRole, Credential, CredentialStatus};
use signet_model::event::{EventType, NewEvent};
use signet_model::ids::{AuthorityId, CredentialId, RequestId, Serial, SubjectId};
use signet_model::names::{NamePattern, NameRules, SanSet};
use signet_model::profile::{CredentialType, ExtendedKeyUsage, KeyAlgorithm, ProfileSpec};
use signet_model::request::{Request, RequestState};
use signet_model::subject::{AssuranceLevel, Subject, SubjectKind, SubjectStatus};
use signet_store::SqliteStore;
use std::time::Instant;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const T0: OffsetDateTime = datetime!(2026-03-01 12:00:00 UTC);

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// 16 distinct bytes for certificate `i`, with a `tag` so ids of different kinds differ.
fn id_bytes(i: u64, tag: u8) -> [u8; 16] {
    let mut b = [tag; 16];
    b[8..].copy_from_slice(&i.to_be_bytes());
    b
}

fn event(event_type: EventType, time: OffsetDateTime) -> NewEvent {
    NewEvent {
        event_type,
        actor: "system".into(),
        subject_id: None,
        request_id: None,
        credential_id: None,
        reason: None,
        details: json!({}),
        trace_id: None,
        time,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --ignored --nocapture"]
async fn sqlite_issuance_throughput() {
    let certs = env_usize("SIGNET_BENCH_CERTS", 20_000);
    let batch = env_usize("SIGNET_BENCH_BATCH", 100).max(1);
    let base = std::env::var("SIGNET_BENCH_DIR").map(std::path::PathBuf::from).unwrap_or_else(|_| std::env::temp_dir());
    let dir = tempfile::tempdir_in(base).unwrap();
    let store = SqliteStore::open(&dir.path().join("bench.db")).await.unwrap();

    let subject = Subject {
        id: SubjectId::from_random([1; 16]),
        name: "web".into(),
        kind: SubjectKind::Workload,
        owner: Some("team".into()),
        purpose: Some("bench".into()),
        assurance: AssuranceLevel::Ial2,
        attributes: Default::default(),
        site: "default".into(),
        status: SubjectStatus::Active,
        created_at: T0,
        updated_at: T0,
    };
    store.insert_subject(&subject, &event(EventType::SubjectCreated, T0)).await.unwrap();
    let spec = ProfileSpec {
        name: "tls".into(),
        description: String::new(),
        credential_type: CredentialType::X509,
        key_algorithms: vec![KeyAlgorithm::EcdsaP256],
        default_ttl_seconds: 86_400,
        max_ttl_seconds: 86_400,
        names: NameRules { dns: vec![NamePattern::parse("p", "*.svc.internal").unwrap()], ..Default::default() },
        require_names: true,
        ext_key_usages: vec![ExtendedKeyUsage::ServerAuth],
        is_ca: false,
        path_len: None,
        required_assurance: AssuranceLevel::Ial1,
        subject_kinds: vec![],
        allowed_scopes: vec![],
        approvals: None,
        params: Default::default(),
    };
    store.put_profile(&spec, T0, &event(EventType::ProfileApplied, T0)).await.unwrap();
    let issuer = Authority {
        id: AuthorityId::from_random([2; 16]),
        role: AuthorityRole::Issuing,
        key_algorithm: KeyAlgorithm::EcdsaP256,
        key_ref: "issuing".into(),
        certificate_der: vec![0x30; 400],
        state: signet_model::credential::KeyState::Active,
        created_at: T0,
        retired_at: None,
        destroyed_at: None,
    };
    store.insert_authorities(std::slice::from_ref(&issuer), &[event(EventType::AuthorityCreated, T0)]).await.unwrap();

    // Build every write first: the clock measures the store only.
    let der = vec![0x30; 700]; // about the size of a P-256 leaf certificate
    let mut batches: Vec<Vec<IssuanceWrite>> = Vec::new();
    for chunk_start in (0..certs).step_by(batch) {
        let n = batch.min(certs - chunk_start);
        let mut intents = Vec::with_capacity(n);
        let mut outcomes = Vec::with_capacity(n);
        for k in chunk_start..chunk_start + n {
            let i = k as u64;
            let now = T0 + Duration::seconds(k as i64 / 1000);
            let names = SanSet { dns: vec![format!("w{k}.svc.internal")], ..Default::default() };
            let serial = Serial::from_random(id_bytes(i, 3));
            let request_id = RequestId::from_random(id_bytes(i, 4));
            let credential_id = CredentialId::from_random(id_bytes(i, 5));
            let fingerprint = format!("{k:064x}");
            intents.push(IssuanceWrite::Intent(IssuanceIntent {
                serial: serial.clone(),
                request_id: request_id.clone(),
                subject_id: subject.id.clone(),
                profile: "tls".into(),
                key_fingerprint: fingerprint.clone(),
                created_at: now,
                tbs_sha256: Some([0; 32]),
            }));
            let request = Request {
                id: request_id.clone(),
                subject_id: subject.id.clone(),
                profile: "tls".into(),
                profile_version: 1,
                credential_type: CredentialType::X509,
                requested_names: names.clone(),
                requested_ttl_seconds: None,
                requested_scopes: vec![],
                params: serde_json::json!({}),
                break_glass: false,
                expires_at: None,
                key_spki: None,
                key_algorithm: Some(KeyAlgorithm::EcdsaP256),
                key_fingerprint: Some(fingerprint.clone()),
                requested_by: "token:bench".into(),
                state: RequestState::Issued,
                reason: None,
                credential_id: Some(credential_id.clone()),
                created_at: now,
                updated_at: now,
            };
            let credential = Credential {
                id: credential_id.clone(),
                credential_type: CredentialType::X509,
                serial: serial.clone(),
                subject_id: subject.id.clone(),
                profile: "tls".into(),
                request_id: request_id.clone(),
                issuer_id: issuer.id.clone(),
                key_algorithm: Some(KeyAlgorithm::EcdsaP256),
                key_fingerprint: fingerprint,
                names,
                not_before: now,
                not_after: now + Duration::days(1),
                status: CredentialStatus::Active,
                der: der.clone(),
                created_at: now,
            };
            let event = NewEvent {
                subject_id: Some(subject.id.clone()),
                request_id: Some(request_id),
                credential_id: Some(credential_id),
                details: json!({ "serial": serial.to_hex() }),
                ..event(EventType::CredentialIssued, now)
            };
            outcomes.push(IssuanceWrite::Outcome(IssuanceOutcome { request, credential: Some(credential), event }));
        }
        batches.push(intents);
        batches.push(outcomes);
    }

    let started = Instant::now();
    for b in &batches {
        store.apply_issuance_batch(b).await.unwrap();
    }
    let elapsed = started.elapsed();
    let per_second = certs as f64 / elapsed.as_secs_f64();
    println!(
        "sqlite: {certs} certificates in batches of {batch} ({} transactions): {:.2} s, {per_second:.0} certificates/s",
        batches.len(),
        elapsed.as_secs_f64()
    );
    assert_eq!(store.list_events(0, u32::MAX).await.unwrap().len(), certs + 3);
}
