//! The store conformance suite: every test here runs against SQLite, against
//! PostgreSQL and against signet-core's in-memory store, except the few that
//! reach around the store with raw SQL, which run on SQLite and PostgreSQL
//! only (see `harness.rs` for how each gets its own database).

// A test crate: failing loudly is the point. (The workspace denies these in
// library code; clippy only exempts `#[test]` functions, not their helpers.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fixtures;
mod harness;

use fixtures::*;
use harness::Db;
use serde_json::json;
use signet_core::listing::Listed;
use signet_core::ports::{CredentialFilter, IssuanceWrite, Page, RequestFilter, Store, StoreError};
use signet_model::credential::{Authority, AuthorityRole, Credential, CredentialStatus, KeyState};
use signet_model::event::{Event, EventType, NewEvent};
use signet_model::ids::{CredentialId, RequestId, SubjectId};
use signet_model::request::RequestState;
use signet_model::subject::Subject;
use std::sync::Arc;
use time::OffsetDateTime;

/// Generates, for each test function `f(db: Db)`, one `#[tokio::test]` per
/// backend: SQLite, PostgreSQL and the in-memory store for the tests in
/// `all`; SQLite and PostgreSQL only for those in `sql_only`, which reach
/// around the store with raw SQL (tampering, schema triggers, migrations).
macro_rules! conformance {
    (all: [$($test:ident),* $(,)?], sql_only: [$($sql_test:ident),* $(,)?] $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    crate::harness::run_sqlite(|db| Box::pin(crate::$test(db))).await;
                }
            )*
            $(
                #[tokio::test]
                async fn $sql_test() {
                    crate::harness::run_sqlite(|db| Box::pin(crate::$sql_test(db))).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $test() {
                    crate::harness::run_postgres(|db| Box::pin(crate::$test(db))).await;
                }
            )*
            $(
                #[tokio::test]
                async fn $sql_test() {
                    crate::harness::run_postgres(|db| Box::pin(crate::$sql_test(db))).await;
                }
            )*
        }
        mod memory {
            $(
                #[tokio::test]
                async fn $test() {
                    crate::harness::run_memory(|db| Box::pin(crate::$test(db))).await;
                }
            )*
        }
    };
}

conformance!(
    all: [
        ping_answers,
        subjects_insert_get_list,
        duplicate_subject_name_is_a_conflict_and_writes_nothing,
        profiles_are_versioned,
        issuance_batch_round_trips_every_field,
        duplicate_serial_fails_the_whole_batch,
        duplicate_serial_within_one_batch_fails_it,
        no_credential_for_a_subject_not_active_at_commit,
        outcome_upserts_its_request,
        credential_filters_and_paging,
        request_filters_and_paging,
        events_are_ascending_and_paged,
        authorities_round_trip,
        authority_rotation_and_destruction,
        tokens_round_trip,
        empty_batch_is_a_no_op,
        concurrent_writers_commit_and_a_tailing_reader_misses_nothing,
        operators_round_trip_and_names_are_unique,
        an_operator_and_its_first_token_commit_together,
        an_enrolment_is_redeemed_once_before_it_expires,
        a_grant_applies_once_and_only_to_the_operator_it_was_asked_for,
        token_revocation_is_recorded_once,
        subject_status_is_compare_and_set,
        policy_versions_are_gap_free_and_immutable,
        verdicts_count_once_and_close_the_request_once,
        pending_requests_expire_once,
    ],
    sql_only: [
        migrations_are_idempotent,
        stored_policies_cannot_be_changed_around_the_store,
        events_are_read_from_their_entries_and_a_changed_one_fails,
    ],
);

// ---------------------------------------------------------------- helpers

async fn all_events(store: &dyn Store) -> Vec<Event> {
    store.list_events(-1, 10_000).await.expect("list events")
}

/// The rows every issuance needs: two subjects, two profiles, an authority.
struct World {
    web: Subject,
    db: Subject,
    issuer: Authority,
}

const TLS: &str = "tls-server";
const MTLS: &str = "mtls-client";

async fn world(store: &dyn Store) -> World {
    let web = subject(1, "web", at(0));
    let db = subject(2, "db", at(1));
    store.insert_subject(&web, &subject_created(&web)).await.expect("insert web");
    store.insert_subject(&db, &subject_created(&db)).await.expect("insert db");
    for name in [TLS, MTLS] {
        store.put_profile(&profile_spec(name), at(2), &profile_applied(name, at(2))).await.expect("put profile");
    }
    let issuer = authority(9, AuthorityRole::Issuing, at(3));
    store.insert_authorities(std::slice::from_ref(&issuer), &[event(EventType::AuthorityCreated, at(3))]).await.expect("authority");
    World { web, db, issuer }
}

// ---------------------------------------------------------------- tests

async fn ping_answers(db: Db) {
    db.open().await.ping().await.expect("ping");
}

async fn subjects_insert_get_list(db: Db) {
    let store = db.open().await;
    let a = subject(1, "alpha", at(10));
    let b = person(2, "bravo", at(20));
    // Same second as `b`: the id breaks the tie (0x03.. > 0x02..).
    let c = subject(3, "charlie", at(20));
    for s in [&a, &b, &c] {
        store.insert_subject(s, &subject_created(s)).await.expect("insert subject");
    }

    assert_eq!(store.get_subject(&a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(store.get_subject(&b.id).await.unwrap(), Some(b.clone()), "optional fields and an empty attribute map survive");
    assert_eq!(store.get_subject(&SubjectId::from_random([0x7e; 16])).await.unwrap(), None);

    let all = store.list_subjects(&Page::default()).await.unwrap();
    assert_eq!(all, vec![c.clone(), b.clone(), a.clone()], "newest first, then by id");
    assert_eq!(store.list_subjects(&Page { limit: 2, after: None }).await.unwrap(), vec![c.clone(), b.clone()]);
    assert_eq!(store.list_subjects(&Page { limit: 2, after: Some(b.position()) }).await.unwrap(), vec![a.clone()]);
    assert_eq!(store.list_subjects(&Page { limit: 2, after: Some(a.position()) }).await.unwrap(), vec![]);
    // After a row of the same second, the id decides.
    assert_eq!(store.list_subjects(&Page { limit: 1, after: Some(c.position()) }).await.unwrap(), vec![b.clone()]);

    let events = all_events(&*store).await;
    let expected: Vec<Event> = [&a, &b, &c].iter().zip(&events).map(|(s, e)| recorded(e.index, &subject_created(s))).collect();
    assert_eq!(events, expected);
}

async fn duplicate_subject_name_is_a_conflict_and_writes_nothing(db: Db) {
    let store = db.open().await;
    let first = subject(1, "web", at(0));
    store.insert_subject(&first, &subject_created(&first)).await.unwrap();

    let second = subject(2, "web", at(5));
    match store.insert_subject(&second, &subject_created(&second)).await {
        Err(StoreError::Conflict { entity, field, value }) => {
            assert_eq!((entity, field, value.as_str()), ("subject", "name", "web"));
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(store.get_subject(&second.id).await.unwrap(), None);
    assert_eq!(store.list_subjects(&Page::default()).await.unwrap(), vec![first.clone()]);
    let events = all_events(&*store).await;
    assert_eq!(events.len(), 1, "no event for the failed insert: {events:?}");
    assert_eq!(events[0].subject_id.as_ref(), Some(&first.id));
}

async fn profiles_are_versioned(db: Db) {
    let store = db.open().await;
    let spec = profile_spec("tls-server");
    let v1 = store.put_profile(&spec, at(100), &profile_applied("tls-server", at(100))).await.unwrap();
    assert_eq!(v1, spec.clone().into_profile(1, at(100), at(100)));
    assert_eq!(store.get_profile("tls-server").await.unwrap(), Some(v1.clone()));

    let mut changed = spec.clone();
    changed.description = "changed".into();
    changed.max_ttl_seconds = 7 * 86_400;
    changed.is_ca = true;
    changed.path_len = Some(0);
    changed.require_names = false;
    changed.names.allow_wildcards = false;
    changed.subject_kinds.clear();
    let v2 = store.put_profile(&changed, at(200), &profile_applied("tls-server", at(200))).await.unwrap();
    assert_eq!(v2, changed.clone().into_profile(2, at(100), at(200)), "version bumped, created_at kept");
    assert_eq!(store.get_profile("tls-server").await.unwrap(), Some(v2.clone()));

    let other = store.put_profile(&profile_spec("mtls"), at(150), &profile_applied("mtls", at(150))).await.unwrap();
    assert_eq!(other.version, 1);
    assert_eq!(store.list_profiles().await.unwrap(), vec![other, v2], "newest first by creation");
    assert_eq!(store.get_profile("nope").await.unwrap(), None);

    let events = all_events(&*store).await;
    assert_eq!(events.iter().map(|e| e.event_type).collect::<Vec<_>>(), vec![EventType::ProfileApplied; 3]);
    assert_eq!(events[1], recorded(events[1].index, &profile_applied("tls-server", at(200))));
}

async fn issuance_batch_round_trips_every_field(db: Db) {
    let store = db.open().await;
    let w = world(&*store).await;
    let before = all_events(&*store).await;

    let ok = issued(10, &w.web, TLS, &w.issuer, CredentialStatus::Active, at(1000));
    let no = denied(11, &w.db, MTLS, at(1001));
    let cred = ok.credential.clone().unwrap();
    // An intent for the credential, and one whose signing never finished.
    let intent = intent_for(&cred);
    let orphan = fixtures::intent_for(&issued(12, &w.web, TLS, &w.issuer, CredentialStatus::Active, at(1002)).credential.unwrap());
    let batch = vec![IssuanceWrite::Intent(intent.clone()), IssuanceWrite::Intent(orphan.clone()), outcome(&ok), outcome(&no)];
    store.apply_issuance_batch(&batch).await.expect("apply batch");

    assert_eq!(store.get_intent(&intent.serial).await.unwrap(), Some(intent));
    assert_eq!(store.get_intent(&orphan.serial).await.unwrap(), Some(orphan));
    assert_eq!(store.get_intent(&serial(0x55)).await.unwrap(), None);
    assert_eq!(store.get_request(&ok.request.id).await.unwrap(), Some(ok.request.clone()));
    assert_eq!(store.get_request(&no.request.id).await.unwrap(), Some(no.request.clone()));
    assert_eq!(store.get_request(&RequestId::from_random([0x55; 16])).await.unwrap(), None);
    assert_eq!(store.get_credential(&cred.id).await.unwrap(), Some(cred.clone()));
    assert_eq!(store.get_credential_by_serial(&cred.serial).await.unwrap(), Some(cred.clone()));
    assert_eq!(store.get_credential(&CredentialId::from_random([0x55; 16])).await.unwrap(), None);
    assert_eq!(store.get_credential_by_serial(&serial(0x55)).await.unwrap(), None);

    let after = all_events(&*store).await;
    assert_eq!(after.len(), before.len() + 2);
    let last = before.last().map_or(-1, |e| e.index);
    let new = &after[before.len()..];
    assert!(new[0].index > last && new[1].index > new[0].index, "ascending: {new:?}");
    assert_eq!(new, [recorded(new[0].index, &ok.event), recorded(new[1].index, &no.event)]);
}

async fn duplicate_serial_fails_the_whole_batch(db: Db) {
    let store = db.open().await;
    let w = world(&*store).await;
    let first = issued(10, &w.web, TLS, &w.issuer, CredentialStatus::Active, at(1000));
    store.apply_issuance_batch(&[IssuanceWrite::Intent(intent_for(first.credential.as_ref().unwrap())), outcome(&first)]).await.unwrap();
    let events_before = all_events(&*store).await;

    // Good writes around one whose credential reuses `first`'s serial.
    let fresh = issued(20, &w.web, TLS, &w.issuer, CredentialStatus::Active, at(2000));
    let denial = denied(21, &w.db, TLS, at(2001));
    let mut clash = issued(22, &w.db, MTLS, &w.issuer, CredentialStatus::Active, at(2002));
    let reused = first.credential.as_ref().unwrap().serial.clone();
    if let Some(c) = clash.credential.as_mut() {
        c.serial = reused.clone();
    }
    let fresh_intent = intent_for(fresh.credential.as_ref().unwrap());
    let batch = vec![IssuanceWrite::Intent(fresh_intent.clone()), outcome(&fresh), outcome(&denial), outcome(&clash)];
    match store.apply_issuance_batch(&batch).await {
        Err(StoreError::Conflict { entity, field, value }) => {
            assert_eq!((entity, field), ("credential", "serial"));
            assert_eq!(value, reused.to_hex());
        }
        other => panic!("expected a serial conflict, got {other:?}"),
    }

    // Nothing of the batch stayed.
    assert_eq!(store.get_intent(&fresh_intent.serial).await.unwrap(), None);
    for o in [&fresh, &denial, &clash] {
        assert_eq!(store.get_request(&o.request.id).await.unwrap(), None);
    }
    assert_eq!(store.get_credential(&fresh.credential.as_ref().unwrap().id).await.unwrap(), None);
    assert_eq!(store.get_credential(&clash.credential.as_ref().unwrap().id).await.unwrap(), None);
    assert_eq!(store.get_credential_by_serial(&reused).await.unwrap(), first.credential.clone());
    assert_eq!(all_events(&*store).await, events_before);

    // A reused intent serial is the same conflict.
    let again = IssuanceWrite::Intent(intent_for(first.credential.as_ref().unwrap()));
    match store.apply_issuance_batch(&[IssuanceWrite::Intent(fresh_intent.clone()), again]).await {
        Err(StoreError::Conflict { entity: "credential", field: "serial", value }) => assert_eq!(value, reused.to_hex()),
        other => panic!("expected a serial conflict, got {other:?}"),
    }
    assert_eq!(store.get_intent(&fresh_intent.serial).await.unwrap(), None);

    // The good writes alone go through (as the group committer retries them).
    store.apply_issuance_batch(&[IssuanceWrite::Intent(fresh_intent), outcome(&fresh), outcome(&denial)]).await.unwrap();
    assert_eq!(store.get_credential(&fresh.credential.as_ref().unwrap().id).await.unwrap(), fresh.credential.clone());
    assert_eq!(all_events(&*store).await.len(), events_before.len() + 2);
}

async fn duplicate_serial_within_one_batch_fails_it(db: Db) {
    let store = db.open().await;
    let w = world(&*store).await;
    let events_before = all_events(&*store).await;
    let a = issued(30, &w.web, TLS, &w.issuer, CredentialStatus::Active, at(3000));
    let mut b = issued(31, &w.db, TLS, &w.issuer, CredentialStatus::Active, at(3001));
    let shared = a.credential.as_ref().unwrap().serial.clone();
    if let Some(c) = b.credential.as_mut() {
        c.serial = shared.clone();
    }
    match store.apply_issuance_batch(&[outcome(&a), outcome(&b)]).await {
        Err(StoreError::Conflict { entity: "credential", field: "serial", value }) => assert_eq!(value, shared.to_hex()),
        other => panic!("expected a serial conflict, got {other:?}"),
    }
    assert_eq!(store.get_request(&a.request.id).await.unwrap(), None);
    assert_eq!(store.get_credential_by_serial(&shared).await.unwrap(), None);
    assert_eq!(all_events(&*store).await, events_before);
}

async fn no_credential_for_a_subject_not_active_at_commit(db: Db) {
    use signet_model::subject::SubjectStatus::{Active, Revoked, Suspended};
    let store = db.open().await;
    let w = world(&*store).await;
    // `web` is suspended after the (cached) decision, before the commit.
    assert!(store.set_subject_status(&w.web.id, Active, Suspended, at(5), &event(EventType::SubjectStatusChanged, at(5))).await.unwrap());
    let events_before = all_events(&*store).await;

    let late = issued(50, &w.web, TLS, &w.issuer, CredentialStatus::Active, at(5000));
    let fine = issued(51, &w.db, MTLS, &w.issuer, CredentialStatus::Active, at(5001));
    match store.apply_issuance_batch(&[outcome(&fine), outcome(&late)]).await {
        Err(StoreError::SubjectNotActive { subject, status }) => {
            assert_eq!((subject, status.as_str()), (w.web.id.to_string(), "suspended"))
        }
        other => panic!("expected the suspended subject to be refused, got {other:?}"),
    }
    // Nothing of the batch stayed, not even the neighbour's credential.
    for o in [&fine, &late] {
        assert_eq!(store.get_request(&o.request.id).await.unwrap(), None);
        assert_eq!(store.get_credential(&o.credential.as_ref().unwrap().id).await.unwrap(), None);
    }
    assert_eq!(all_events(&*store).await, events_before);

    // A denial for that subject (no credential) is still recorded; so is the neighbour alone.
    let refused = denied(52, &w.web, TLS, at(5002));
    store.apply_issuance_batch(&[outcome(&fine), outcome(&refused)]).await.unwrap();
    assert_eq!(store.get_request(&refused.request.id).await.unwrap(), Some(refused.request.clone()));
    assert_eq!(store.get_credential(&fine.credential.as_ref().unwrap().id).await.unwrap(), fine.credential.clone());

    // Revoked is refused too; an unknown subject is refused as missing.
    assert!(store.set_subject_status(&w.web.id, Suspended, Revoked, at(6), &event(EventType::SubjectStatusChanged, at(6))).await.unwrap());
    match store.apply_issuance_batch(&[outcome(&late)]).await {
        Err(StoreError::SubjectNotActive { status, .. }) => assert_eq!(status, "revoked"),
        other => panic!("expected the revoked subject to be refused, got {other:?}"),
    }
    let mut ghost = issued(53, &w.db, MTLS, &w.issuer, CredentialStatus::Active, at(5003));
    if let Some(c) = ghost.credential.as_mut() {
        c.subject_id = SubjectId::from_random([0x77; 16]);
    }
    match store.apply_issuance_batch(&[outcome(&ghost)]).await {
        Err(StoreError::SubjectNotActive { status, .. }) => assert_eq!(status, "missing"),
        other => panic!("expected an unknown subject to be refused, got {other:?}"),
    }
}

async fn outcome_upserts_its_request(db: Db) {
    let store = db.open().await;
    let w = world(&*store).await;
    let done = issued(40, &w.web, TLS, &w.issuer, CredentialStatus::Active, at(4000));
    let mut pending = done.request.clone();
    pending.state = RequestState::PendingApproval;
    pending.credential_id = None;
    pending.updated_at = pending.created_at;
    let parked = fixtures::denied(40, &w.web, TLS, at(4000));
    let parked = signet_core::ports::IssuanceOutcome { request: pending.clone(), credential: None, event: parked.event };
    store.apply_issuance_batch(&[outcome(&parked)]).await.unwrap();
    assert_eq!(store.get_request(&pending.id).await.unwrap(), Some(pending.clone()));

    // The final outcome replaces the row; created_at stays as first written.
    let mut final_request = done.request.clone();
    final_request.created_at = at(9999);
    let mut done_later = done.clone();
    done_later.request = final_request;
    store.apply_issuance_batch(&[outcome(&done_later)]).await.unwrap();
    assert_eq!(store.get_request(&done.request.id).await.unwrap(), Some(done.request.clone()));

    // One request twice in one batch: the last write wins.
    let twice = issued(41, &w.db, TLS, &w.issuer, CredentialStatus::Active, at(4100));
    let mut first = twice.clone();
    first.request.state = RequestState::Approved;
    first.request.credential_id = None;
    first.credential = None;
    store.apply_issuance_batch(&[outcome(&first), outcome(&twice)]).await.unwrap();
    assert_eq!(store.get_request(&twice.request.id).await.unwrap(), Some(twice.request.clone()));
    assert_eq!(store.list_requests(&RequestFilter::default()).await.unwrap().len(), 2);
}

async fn credential_filters_and_paging(db: Db) {
    let store = db.open().await;
    let w = world(&*store).await;
    // Ten credentials: alternating subjects, profiles split 6/4, statuses cycling.
    let statuses = [CredentialStatus::Active, CredentialStatus::Revoked, CredentialStatus::Suspended];
    let outcomes: Vec<_> = (0..10u8)
        .map(|i| {
            let subject = if i % 2 == 0 { &w.web } else { &w.db };
            let profile = if i < 6 { TLS } else { MTLS };
            issued(50 + i, subject, profile, &w.issuer, statuses[usize::from(i) % 3], at(5000 + i64::from(i) * 10))
        })
        .collect();
    let writes: Vec<_> = outcomes.iter().map(outcome).collect();
    store.apply_issuance_batch(&writes).await.unwrap();
    let creds: Vec<_> = outcomes.iter().rev().map(|o| o.credential.clone().unwrap()).collect(); // newest first

    let list = |f: CredentialFilter| {
        let store = Arc::clone(&store);
        async move { store.list_credentials(&f).await.unwrap() }
    };
    let expect =
        |pred: &dyn Fn(&signet_model::credential::Credential) -> bool| creds.iter().filter(|c| pred(c)).cloned().collect::<Vec<_>>();

    assert_eq!(list(CredentialFilter::default()).await, creds);
    assert_eq!(
        list(CredentialFilter { subject_id: Some(w.web.id.clone()), ..Default::default() }).await,
        expect(&|c| c.subject_id == w.web.id)
    );
    assert_eq!(list(CredentialFilter { profile: Some(MTLS.into()), ..Default::default() }).await, expect(&|c| c.profile == MTLS));
    assert_eq!(
        list(CredentialFilter { status: Some(CredentialStatus::Revoked), ..Default::default() }).await,
        expect(&|c| c.status == CredentialStatus::Revoked)
    );
    let all_three = CredentialFilter {
        subject_id: Some(w.db.id.clone()),
        profile: Some(TLS.into()),
        status: Some(CredentialStatus::Active),
        page: Page::default(),
    };
    let matching = expect(&|c| c.subject_id == w.db.id && c.profile == TLS && c.status == CredentialStatus::Active);
    assert_eq!(matching.len(), 1);
    assert_eq!(list(all_three).await, matching);
    assert_eq!(list(CredentialFilter { profile: Some("unknown".into()), ..Default::default() }).await, vec![]);

    // Paging walks the same order without gaps or repeats.
    let mut paged: Vec<Credential> = Vec::new();
    for _ in 0..3 {
        let after = paged.last().map(|c| c.position());
        paged.extend(list(CredentialFilter { page: Page { limit: 4, after }, ..Default::default() }).await);
    }
    assert_eq!(paged, creds);
    let web = expect(&|c| c.subject_id == w.web.id);
    let web_page = list(CredentialFilter {
        subject_id: Some(w.web.id.clone()),
        page: Page { limit: 2, after: Some(web[0].position()) },
        ..Default::default()
    })
    .await;
    assert_eq!(web_page, web[1..3].to_vec());
    assert_eq!(list(CredentialFilter { page: Page { limit: 0, after: None }, ..Default::default() }).await, vec![]);
}

async fn request_filters_and_paging(db: Db) {
    let store = db.open().await;
    let w = world(&*store).await;
    let mut writes = Vec::new();
    let mut requests = Vec::new();
    for i in 0..8u8 {
        let subject = if i < 5 { &w.web } else { &w.db };
        let o = if i % 2 == 0 {
            issued(60 + i, subject, TLS, &w.issuer, CredentialStatus::Active, at(6000 + i64::from(i)))
        } else {
            denied(60 + i, subject, TLS, at(6000 + i64::from(i)))
        };
        requests.push(o.request.clone());
        writes.push(outcome(&o));
    }
    store.apply_issuance_batch(&writes).await.unwrap();
    requests.reverse(); // newest first

    let list = |f: RequestFilter| {
        let store = Arc::clone(&store);
        async move { store.list_requests(&f).await.unwrap() }
    };
    let expect = |pred: &dyn Fn(&signet_model::request::Request) -> bool| requests.iter().filter(|r| pred(r)).cloned().collect::<Vec<_>>();

    assert_eq!(list(RequestFilter::default()).await, requests);
    assert_eq!(list(RequestFilter { subject_id: Some(w.db.id.clone()), ..Default::default() }).await, expect(&|r| r.subject_id == w.db.id));
    assert_eq!(
        list(RequestFilter { state: Some(RequestState::Denied), ..Default::default() }).await,
        expect(&|r| r.state == RequestState::Denied)
    );
    let web_issued = expect(&|r| r.subject_id == w.web.id && r.state == RequestState::Issued);
    let both = RequestFilter {
        subject_id: Some(w.web.id.clone()),
        state: Some(RequestState::Issued),
        page: Page { limit: 2, after: Some(web_issued[0].position()) },
    };
    assert_eq!(list(both).await, web_issued[1..3].to_vec());
    assert_eq!(list(RequestFilter { state: Some(RequestState::Cancelled), ..Default::default() }).await, vec![]);
    let tail = RequestFilter { page: Page { limit: 3, after: Some(requests[5].position()) }, ..Default::default() };
    assert_eq!(list(tail).await, requests[6..].to_vec());
}

async fn events_are_ascending_and_paged(db: Db) {
    let store = db.open().await;
    let mut expected: Vec<NewEvent> = Vec::new();
    let s = subject(1, "web", at(0));
    store.insert_subject(&s, &subject_created(&s)).await.unwrap();
    expected.push(subject_created(&s));
    let roots = [authority(1, AuthorityRole::Root, at(1)), authority(2, AuthorityRole::Issuing, at(2))];
    let authority_events: Vec<NewEvent> =
        (0..2).map(|i| NewEvent { details: json!({ "authority": i }), ..event(EventType::AuthorityCreated, at(1 + i)) }).collect();
    store.insert_authorities(&roots, &authority_events).await.unwrap();
    expected.extend(authority_events);
    store.put_profile(&profile_spec(TLS), at(3), &profile_applied(TLS, at(3))).await.unwrap();
    expected.push(profile_applied(TLS, at(3)));
    let t = token(5, None, false);
    let token_event = NewEvent { reason: Some("bootstrap".into()), ..event(EventType::TokenCreated, at(4)) };
    store.insert_token(&t, &token_event).await.unwrap();
    expected.push(token_event);
    let outcomes: Vec<_> = (0..3u8).map(|i| issued(70 + i, &s, TLS, &roots[1], CredentialStatus::Active, at(10 + i64::from(i)))).collect();
    store.apply_issuance_batch(&outcomes.iter().map(outcome).collect::<Vec<_>>()).await.unwrap();
    expected.extend(outcomes.iter().map(|o| o.event.clone()));

    let events = all_events(&*store).await;
    assert_eq!(events.len(), expected.len());
    assert!(events.windows(2).all(|p| p[0].index < p[1].index), "strictly ascending: {events:?}");
    assert!(events[0].index >= 0);
    assert!(events.windows(2).all(|p| p[1].index == p[0].index + 1), "gap-free: {events:?}");
    let want: Vec<Event> = events.iter().zip(&expected).map(|(got, e)| recorded(got.index, e)).collect();
    assert_eq!(events, want);

    // Paging by index: each page starts after the last index seen.
    let mut paged = Vec::new();
    let mut after = -1;
    loop {
        let page = store.list_events(after, 3).await.unwrap();
        assert!(page.len() <= 3);
        let Some(last) = page.last() else { break };
        after = last.index;
        paged.extend(page);
    }
    assert_eq!(paged, events);
    assert_eq!(store.list_events(events[2].index, 2).await.unwrap(), events[3..5].to_vec());
    assert_eq!(store.list_events(events[events.len() - 1].index, 10).await.unwrap(), vec![]);
    assert_eq!(store.list_events(-1, 0).await.unwrap(), vec![]);
}

async fn authorities_round_trip(db: Db) {
    let store = db.open().await;
    assert_eq!(store.list_authorities().await.unwrap(), vec![]);
    let root = authority(1, AuthorityRole::Root, at(0));
    let issuing = authority(2, AuthorityRole::Issuing, at(1));
    let events = [event(EventType::AuthorityCreated, at(0)), event(EventType::AuthorityCreated, at(1))];
    store.insert_authorities(&[root.clone(), issuing.clone()], &events).await.unwrap();
    assert_eq!(store.list_authorities().await.unwrap(), vec![issuing.clone(), root.clone()], "newest first");
    assert_eq!(all_events(&*store).await.len(), 2);

    // One active key per role: a second active issuing CA (what two processes
    // starting at once on an empty store would record) is refused, as is a
    // taken id; either adds nothing, events included.
    let next = authority(3, AuthorityRole::Issuing, at(2));
    let err = store.insert_authorities(std::slice::from_ref(&next), &[event(EventType::AuthorityCreated, at(2))]).await;
    assert!(matches!(&err, Err(StoreError::Conflict { field: "role", value, .. }) if value == "issuing"), "{err:?}");
    let next = Authority { state: KeyState::Retired, retired_at: Some(at(2)), ..next };
    let taken_id = Authority { state: KeyState::Retired, ..root.clone() };
    let err = store.insert_authorities(&[next.clone(), taken_id], &[event(EventType::AuthorityCreated, at(2))]).await;
    assert!(matches!(err, Err(StoreError::Backend(_))), "{err:?}");
    assert_eq!(store.list_authorities().await.unwrap().len(), 2);
    assert_eq!(all_events(&*store).await.len(), 2);
    store.insert_authorities(std::slice::from_ref(&next), &[event(EventType::AuthorityCreated, at(2))]).await.unwrap();
    assert_eq!(store.list_authorities().await.unwrap(), vec![next, issuing, root]);
}

async fn tokens_round_trip(db: Db) {
    let store = db.open().await;
    let forever = token(1, None, false);
    let expiring = token(2, Some(at(86_400)), true);
    for t in [&forever, &expiring] {
        store.insert_token(t, &event(EventType::TokenCreated, t.created_at)).await.unwrap();
    }
    assert_eq!(store.find_token(&forever.secret_hash).await.unwrap(), Some(forever.clone()));
    assert_eq!(store.find_token(&expiring.secret_hash).await.unwrap(), Some(expiring.clone()));
    assert_eq!(store.find_token(&[0x77; 32]).await.unwrap(), None);

    let mut same_secret = token(3, None, false);
    same_secret.secret_hash = forever.secret_hash;
    match store.insert_token(&same_secret, &event(EventType::TokenCreated, at(3))).await {
        Err(StoreError::Conflict { entity, field, value }) => {
            assert_eq!((entity, field), ("token", "secret"));
            assert!(!value.contains("0101"), "the conflict must not echo the hash: {value}");
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(store.find_token(&forever.secret_hash).await.unwrap(), Some(forever));
    assert_eq!(all_events(&*store).await.len(), 2);
}

async fn migrations_are_idempotent(db: Db) {
    let first = db.open().await;
    let s = subject(1, "web", at(0));
    first.insert_subject(&s, &subject_created(&s)).await.unwrap();
    // A second store on the same database runs the migrations again: a no-op.
    let second = db.open().await;
    assert_eq!(second.get_subject(&s.id).await.unwrap(), Some(s.clone()));
    let t = subject(2, "db", at(1));
    second.insert_subject(&t, &subject_created(&t)).await.unwrap();
    assert_eq!(first.list_subjects(&Page::default()).await.unwrap(), vec![t, s]);
    let third = db.open().await;
    assert_eq!(all_events(&*third).await.len(), 2);
}

async fn empty_batch_is_a_no_op(db: Db) {
    let store = db.open().await;
    store.apply_issuance_batch(&[]).await.unwrap();
    assert_eq!(all_events(&*store).await, vec![]);
}

async fn concurrent_writers_commit_and_a_tailing_reader_misses_nothing(db: Db) {
    let store = db.open().await;
    let w = Arc::new(world(&*store).await);
    const WRITERS: u8 = 4;
    const ROUNDS: u8 = 10;

    // A reader follows the log the way a log consumer would, by index. If an
    // event could commit after one with a higher index, it would skip it.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let tail = {
        let (store, stop) = (Arc::clone(&store), Arc::clone(&stop));
        tokio::spawn(async move {
            let mut seen: Vec<Event> = Vec::new();
            loop {
                let done = stop.load(std::sync::atomic::Ordering::SeqCst);
                let after = seen.last().map_or(-1, |e| e.index);
                let page = store.list_events(after, 50).await.unwrap();
                let empty = page.is_empty();
                seen.extend(page);
                if done && empty {
                    return seen;
                }
                tokio::task::yield_now().await;
            }
        })
    };

    let writers: Vec<_> = (0..WRITERS)
        .map(|t| {
            let (store, w) = (Arc::clone(&store), Arc::clone(&w));
            tokio::spawn(async move {
                for r in 0..ROUNDS {
                    let n = 100 + t * ROUNDS + r; // distinct ids and serials per write
                    let s = subject(n, &format!("s-{n}"), at(i64::from(n)));
                    store.insert_subject(&s, &subject_created(&s)).await.unwrap();
                    let o = issued(n, &w.web, TLS, &w.issuer, CredentialStatus::Active, at(i64::from(n)));
                    let d = denied(n.wrapping_add(100), &w.db, TLS, at(i64::from(n)));
                    let i = IssuanceWrite::Intent(intent_for(o.credential.as_ref().unwrap()));
                    store.apply_issuance_batch(&[i]).await.unwrap();
                    store.apply_issuance_batch(&[outcome(&o), outcome(&d)]).await.unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let tailed = tail.await.unwrap();

    let events = all_events(&*store).await;
    let writes = usize::from(WRITERS) * usize::from(ROUNDS);
    assert_eq!(store.list_subjects(&Page { limit: 1000, after: None }).await.unwrap().len(), 2 + writes);
    assert_eq!(
        store.list_credentials(&CredentialFilter { page: Page { limit: 1000, after: None }, ..Default::default() }).await.unwrap().len(),
        writes
    );
    assert_eq!(events.len(), 5 + 3 * writes);
    assert!(events.windows(2).all(|p| p[0].index < p[1].index));
    assert_eq!(tailed, events, "the tailing reader saw every event, in order");
}

// ---------------------------------------------------------------- SQLite only

mod sqlite_file {
    use crate::fixtures::*;
    use signet_core::ports::{IssuanceWrite, Store};
    use signet_model::credential::{AuthorityRole, CredentialStatus};
    use signet_model::event::EventType;
    use signet_store::{SqliteStore, open_store};

    /// Write, close, reopen the file: everything is still there.
    #[tokio::test]
    async fn reopen_keeps_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signet.db");
        let s = subject(1, "web", at(0));
        let issuer = authority(9, AuthorityRole::Issuing, at(1));
        let o = issued(10, &s, "tls", &issuer, CredentialStatus::Active, at(10));
        {
            let store = SqliteStore::open(&path).await.unwrap();
            store.insert_subject(&s, &subject_created(&s)).await.unwrap();
            store.put_profile(&profile_spec("tls"), at(1), &profile_applied("tls", at(1))).await.unwrap();
            store.insert_authorities(std::slice::from_ref(&issuer), &[event(EventType::AuthorityCreated, at(1))]).await.unwrap();
            store.apply_issuance_batch(&[IssuanceWrite::Intent(intent_for(o.credential.as_ref().unwrap())), outcome(&o)]).await.unwrap();
            store.close().await;
        }
        // A plain path works as well as `sqlite://`.
        let store = open_store(path.to_str().unwrap()).await.unwrap();
        assert_eq!(store.get_subject(&s.id).await.unwrap(), Some(s));
        assert_eq!(store.get_credential_by_serial(&o.credential.as_ref().unwrap().serial).await.unwrap(), o.credential);
        assert_eq!(store.get_request(&o.request.id).await.unwrap(), Some(o.request));
        assert_eq!(store.list_events(-1, 100).await.unwrap().len(), 4);
    }

    #[tokio::test]
    async fn file_is_in_wal_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signet.db");
        let store = SqliteStore::open(&path).await.unwrap();
        store.ping().await.unwrap();
        assert!(dir.path().join("signet.db-wal").exists(), "WAL journal present");
    }

    /// The schema itself refuses to rewrite the log.
    #[tokio::test]
    async fn events_are_append_only() {
        use sqlx::{Connection, Executor, SqliteConnection};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signet.db");
        let store = SqliteStore::open(&path).await.unwrap();
        let s = subject(1, "web", at(0));
        store.insert_subject(&s, &subject_created(&s)).await.unwrap();
        let mut conn = SqliteConnection::connect(&format!("sqlite://{}", path.display())).await.unwrap();
        for sql in ["UPDATE events SET actor = 'someone else'", "DELETE FROM events"] {
            let err = conn.execute(sql).await.unwrap_err();
            assert!(err.to_string().contains("append-only"), "{sql}: {err}");
        }
        assert_eq!(store.list_events(-1, 10).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn unusable_locations_are_refused() {
        for location in ["", "sqlite://", "sqlite::memory:", ":memory:"] {
            let err = open_store(location).await.err().unwrap_or_else(|| panic!("`{location}` was accepted"));
            assert!(matches!(err, signet_core::ports::StoreError::Backend(_)), "{err}");
        }
        let err = open_store("postgres://nobody:secret@127.0.0.1:port/none").await.err().unwrap();
        assert!(!err.to_string().contains("secret"), "the password leaked: {err}");
    }

    #[tokio::test]
    async fn missing_directory_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let err = SqliteStore::open(&dir.path().join("no/such/dir/signet.db")).await.unwrap_err();
        assert!(err.to_string().contains("cannot open"), "{err}");
    }
}

// ---------------------------------------------------------------- governance

fn an_operator(n: u8, name: &str) -> signet_model::operator::Operator {
    use signet_model::operator::{Operator, Role};
    Operator {
        id: signet_model::ids::OperatorId::from_random([n; 16]),
        name: name.into(),
        roles: [Role::Approver, Role::Auditor].into(),
        sites: ["eu-1".to_string()].into(),
        all_sites: false,
        teams: ["sec".to_string()].into(),
        subject_id: None,
        disabled: false,
        created_at: at(i64::from(n)),
        updated_at: at(i64::from(n)),
        sponsors: vec![signet_model::operator::Sponsorship {
            by: "op_someone".into(),
            act: signet_model::operator::SponsorAct::Created,
            at: at(i64::from(n)),
        }],
        enrolment_expires_at: None,
        enrolment_verifier: None,
    }
}

async fn operators_round_trip_and_names_are_unique(db: Db) {
    let store = db.open().await;
    let a = an_operator(1, "alice");
    store.insert_operator(&a, None, &[&event(EventType::OperatorCreated, at(1))]).await.unwrap();
    assert_eq!(store.get_operator(&a.id).await.unwrap(), Some(a.clone()));
    let mut twin = an_operator(2, "alice");
    twin.roles.clear();
    match store.insert_operator(&twin, None, &[&event(EventType::OperatorCreated, at(2))]).await {
        Err(StoreError::Conflict { entity, field, value }) => assert_eq!((entity, field, value.as_str()), ("operator", "name", "alice")),
        other => panic!("expected a conflict, got {other:?}"),
    }
    let mut changed = a.clone();
    changed.all_sites = true;
    changed.disabled = true;
    changed.updated_at = at(50);
    store.update_operator(&changed, &[&event(EventType::OperatorUpdated, at(50))]).await.unwrap();
    assert_eq!(store.list_operators().await.unwrap(), vec![changed]);
    assert_eq!(all_events(&*store).await.len(), 2, "the refused insert wrote nothing");
}

/// An enrolment is redeemed once: the verifier must match, be unexpired and
/// the operator enabled; the token and events are written with the clearing.
async fn an_enrolment_is_redeemed_once_before_it_expires(db: Db) {
    let store = db.open().await;
    let mut a = an_operator(1, "alice");
    a.enrolment_verifier = Some([7; 32]);
    a.enrolment_expires_at = Some(at(100));
    store.insert_operator(&a, None, &[&event(EventType::OperatorCreated, at(1))]).await.unwrap();
    let back = store.get_operator(&a.id).await.unwrap().unwrap();
    assert_eq!((back.enrolment_verifier, back.enrolment_expires_at), (Some([7; 32]), Some(at(100))));
    let mut t = token(1, None, false);
    t.operator_id = a.id.clone();
    let evs = [event(EventType::OperatorEnrolled, at(2)), event(EventType::TokenCreated, at(2))];
    // A wrong verifier, or a late one: nothing written.
    assert!(!store.redeem_enrolment(&a.id, &[8; 32], at(2), &t, &[&evs[0], &evs[1]]).await.unwrap());
    assert!(!store.redeem_enrolment(&a.id, &[7; 32], at(100), &t, &[&evs[0], &evs[1]]).await.unwrap());
    assert_eq!(store.find_token(&t.secret_hash).await.unwrap(), None);
    assert!(store.redeem_enrolment(&a.id, &[7; 32], at(99), &t, &[&evs[0], &evs[1]]).await.unwrap());
    assert_eq!(store.find_token(&t.secret_hash).await.unwrap(), Some(t.clone()));
    let back = store.get_operator(&a.id).await.unwrap().unwrap();
    assert_eq!((back.enrolment_verifier, back.enrolment_expires_at), (None, None));
    // Once only.
    let mut t2 = token(2, None, false);
    t2.operator_id = a.id.clone();
    assert!(!store.redeem_enrolment(&a.id, &[7; 32], at(3), &t2, &[&evs[0], &evs[1]]).await.unwrap());
    assert_eq!(all_events(&*store).await.len(), 3);
}

/// A grant is closed once; applying it replaces the operator only while it
/// is as the grant saw it.
async fn a_grant_applies_once_and_only_to_the_operator_it_was_asked_for(db: Db) {
    use signet_model::operator::{GrantState, OperatorGrant, Role};
    let store = db.open().await;
    let mut a = an_operator(1, "alice");
    a.roles = [Role::Auditor].into();
    let mut wanted = a.access();
    wanted.roles.insert(Role::Approver);
    let grant = OperatorGrant {
        id: signet_model::ids::GrantId::from_random([1; 16]),
        operator_id: a.id.clone(),
        before: a.access(),
        after: wanted.clone(),
        enrolment: None,
        requested_by: "op_one".into(),
        state: GrantState::Pending,
        created_at: at(1),
        expires_at: at(1000),
        decided_by: None,
        decided_at: None,
    };
    store.insert_operator(&a, Some(&grant), &[&event(EventType::OperatorCreated, at(1))]).await.unwrap();
    assert_eq!(store.get_grant(&grant.id).await.unwrap(), Some(grant.clone()));
    assert_eq!(store.list_grants(10).await.unwrap(), vec![grant.clone()]);
    // The operator changed meanwhile: the grant does not apply, nothing written.
    let mut moved = a.clone();
    moved.teams.insert("other".into());
    store.update_operator(&moved, &[&event(EventType::OperatorUpdated, at(2))]).await.unwrap();
    let mut applied = moved.clone();
    applied.set_access(wanted.clone());
    let ev = event(EventType::OperatorGrantDecided, at(3));
    assert!(!store.close_grant(&grant, GrantState::Applied, "op_two", at(3), Some(&applied), &[&ev]).await.unwrap());
    assert_eq!(store.get_grant(&grant.id).await.unwrap().unwrap().state, GrantState::Pending);
    // Back as it was: it applies, once.
    store.update_operator(&a, &[&event(EventType::OperatorUpdated, at(4))]).await.unwrap();
    let mut applied = a.clone();
    applied.set_access(wanted);
    assert!(store.close_grant(&grant, GrantState::Applied, "op_two", at(5), Some(&applied), &[&ev]).await.unwrap());
    assert_eq!(store.get_operator(&a.id).await.unwrap().unwrap().roles, [Role::Auditor, Role::Approver].into());
    let closed = store.get_grant(&grant.id).await.unwrap().unwrap();
    assert_eq!((closed.state, closed.decided_by.as_deref(), closed.decided_at), (GrantState::Applied, Some("op_two"), Some(at(5))));
    assert!(!store.close_grant(&grant, GrantState::Denied, "op_two", at(6), None, &[&ev]).await.unwrap());
    assert_eq!(all_events(&*store).await.len(), 4);
}

async fn an_operator_and_its_first_token_commit_together(db: Db) {
    let store = db.open().await;
    let admin = an_operator(1, "admin");
    let mut first = token(1, None, false);
    first.operator_id = admin.id.clone();
    let (op_ev, token_ev) = (event(EventType::OperatorCreated, at(1)), event(EventType::TokenCreated, at(1)));
    store.insert_operator_with_token(&admin, &first, [&op_ev, &token_ev]).await.unwrap();
    assert_eq!(store.list_operators().await.unwrap(), vec![admin.clone()]);
    assert_eq!(store.list_tokens(&admin.id).await.unwrap(), vec![first.clone()]);
    let types: Vec<EventType> = all_events(&*store).await.iter().map(|e| e.event_type).collect();
    assert_eq!(types, vec![EventType::OperatorCreated, EventType::TokenCreated]);

    // A taken name refuses both: no token is left without its operator.
    let twin = an_operator(2, "admin");
    let mut second = token(2, None, false);
    second.operator_id = twin.id.clone();
    match store.insert_operator_with_token(&twin, &second, [&op_ev, &token_ev]).await {
        Err(StoreError::Conflict { entity, field, .. }) => assert_eq!((entity, field), ("operator", "name")),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(store.find_token(&second.secret_hash).await.unwrap(), None);
    // A taken token secret refuses both: no operator is left without its token.
    let other = an_operator(3, "other");
    let mut reused = token(3, None, false);
    reused.operator_id = other.id.clone();
    reused.secret_hash = first.secret_hash;
    assert!(matches!(
        store.insert_operator_with_token(&other, &reused, [&op_ev, &token_ev]).await,
        Err(StoreError::Conflict { entity: "token", .. })
    ));
    assert_eq!(store.get_operator(&other.id).await.unwrap(), None);
    assert_eq!(all_events(&*store).await.len(), 2, "the refused inserts wrote nothing");
}

async fn token_revocation_is_recorded_once(db: Db) {
    let store = db.open().await;
    let t = token(1, None, false);
    store.insert_token(&t, &event(EventType::TokenCreated, at(1))).await.unwrap();
    assert_eq!(store.list_tokens(&t.operator_id).await.unwrap(), vec![t.clone()]);
    assert!(store.revoke_token(&t.id, &event(EventType::TokenRevoked, at(2))).await.unwrap());
    assert!(!store.revoke_token(&t.id, &event(EventType::TokenRevoked, at(3))).await.unwrap());
    assert!(store.get_token(&t.id).await.unwrap().unwrap().revoked);
    assert_eq!(all_events(&*store).await.len(), 2);
}

async fn subject_status_is_compare_and_set(db: Db) {
    use signet_model::subject::SubjectStatus::{Active, Revoked, Suspended};
    let store = db.open().await;
    let w = world(&*store).await;
    let ev = event(EventType::SubjectStatusChanged, at(5));
    assert!(store.set_subject_status(&w.web.id, Active, Suspended, at(5), &ev).await.unwrap());
    assert!(!store.set_subject_status(&w.web.id, Active, Revoked, at(6), &ev).await.unwrap(), "no longer active");
    let s = store.get_subject(&w.web.id).await.unwrap().unwrap();
    assert_eq!((s.status, s.updated_at), (Suspended, at(5)));
    assert_eq!(all_events(&*store).await.iter().filter(|e| e.event_type == EventType::SubjectStatusChanged).count(), 1);
}

async fn policy_versions_are_gap_free_and_immutable(db: Db) {
    use signet_core::ports::StoredPolicy;
    let store = db.open().await;
    assert_eq!((store.latest_policy_version().await.unwrap(), store.latest_policy().await.unwrap()), (0, None));
    let v = |version: i64, text: &str| StoredPolicy {
        version,
        text: text.into(),
        sha256: format!("{version:064x}"),
        comment: format!("v{version}"),
        created_by: "op_x".into(),
        created_at: at(version),
    };
    store.insert_policy(&v(1, "one"), &event(EventType::PolicyActivated, at(1))).await.unwrap();
    // A second writer that also read version 0 loses, and writes nothing.
    assert!(matches!(
        store.insert_policy(&v(1, "other"), &event(EventType::PolicyActivated, at(1))).await,
        Err(StoreError::Conflict { .. })
    ));
    assert!(matches!(store.insert_policy(&v(3, "gap"), &event(EventType::PolicyActivated, at(1))).await, Err(StoreError::Conflict { .. })));
    store.insert_policy(&v(2, "two"), &event(EventType::PolicyActivated, at(2))).await.unwrap();
    assert_eq!(store.latest_policy_version().await.unwrap(), 2);
    assert_eq!(store.latest_policy().await.unwrap(), Some(v(2, "two")));
    assert_eq!(store.get_policy(1).await.unwrap(), Some(v(1, "one")));
    let listed = store.list_policies().await.unwrap();
    assert_eq!(listed.iter().map(|p| p.version).collect::<Vec<_>>(), vec![2, 1]);
    assert_eq!(all_events(&*store).await.len(), 2);
}

/// Stored versions cannot be changed behind the store's back either.
async fn stored_policies_cannot_be_changed_around_the_store(db: Db) {
    use signet_core::ports::StoredPolicy;
    let store = db.open().await;
    let one = StoredPolicy {
        version: 1,
        text: "one".into(),
        sha256: format!("{:064x}", 1),
        comment: "v1".into(),
        created_by: "op_x".into(),
        created_at: at(1),
    };
    store.insert_policy(&one, &event(EventType::PolicyActivated, at(1))).await.unwrap();
    assert!(db.raw_execute("UPDATE policies SET text = 'evil' WHERE version = 1").await.is_err());
    assert!(db.raw_execute("DELETE FROM policies WHERE version = 1").await.is_err());
    assert_eq!(store.get_policy(1).await.unwrap(), Some(one));
}

fn pending_request(n: u8, w: &World, expires_at: OffsetDateTime) -> signet_core::ports::IssuanceOutcome {
    let mut o = fixtures::denied(n, &w.web, TLS, at(100));
    o.request.state = RequestState::PendingApproval;
    o.request.reason = None;
    o.request.expires_at = Some(expires_at);
    o.request.key_spki = Some(vec![0x30, 0x59, n]);
    o
}

fn approval(n: u8, request: &RequestId, who: &str, verdict: signet_model::request::Verdict) -> signet_model::request::Approval {
    signet_model::request::Approval {
        request_id: request.clone(),
        approver: who.into(),
        verdict,
        reason: format!("reason {n}"),
        created_at: at(200 + i64::from(n)),
    }
}

async fn verdicts_count_once_and_close_the_request_once(db: Db) {
    use signet_model::request::Verdict::{Approve, Deny};
    let store = db.open().await;
    let w = world(&*store).await;
    let o = pending_request(60, &w, at(10_000));
    store.apply_issuance_batch(&[outcome(&o)]).await.unwrap();
    let id = o.request.id.clone();
    assert_eq!(store.get_request(&id).await.unwrap(), Some(o.request.clone()), "pending fields round-trip");
    let ev = event(EventType::RequestApproved, at(201));
    let r = store.record_verdict(&approval(1, &id, "op_a", Approve), 2, at(201), &ev).await.unwrap();
    assert_eq!((r.approvals, r.closed), (1, false));
    assert!(matches!(store.record_verdict(&approval(2, &id, "op_a", Approve), 2, at(202), &ev).await, Err(StoreError::Conflict { .. })));
    let r = store.record_verdict(&approval(3, &id, "op_b", Approve), 2, at(203), &ev).await.unwrap();
    assert_eq!((r.approvals, r.closed), (2, true));
    assert_eq!(store.get_request(&id).await.unwrap().unwrap().state, RequestState::Approved);
    assert!(matches!(store.record_verdict(&approval(4, &id, "op_c", Approve), 2, at(204), &ev).await, Err(StoreError::NotPending)));
    assert_eq!(store.list_approvals(&id).await.unwrap().len(), 2);

    // A denial closes at once; an expired request takes no verdict.
    let o2 = pending_request(61, &w, at(10_000));
    store.apply_issuance_batch(&[outcome(&o2)]).await.unwrap();
    let r = store.record_verdict(&approval(5, &o2.request.id, "op_a", Deny), 2, at(205), &ev).await.unwrap();
    assert!(r.closed);
    let denied = store.get_request(&o2.request.id).await.unwrap().unwrap();
    assert_eq!(denied.state, RequestState::Denied);
    assert!(denied.reason.unwrap().contains("reason 5"));
    let o3 = pending_request(62, &w, at(150));
    store.apply_issuance_batch(&[outcome(&o3)]).await.unwrap();
    assert!(matches!(
        store.record_verdict(&approval(6, &o3.request.id, "op_a", Approve), 1, at(206), &ev).await,
        Err(StoreError::NotPending)
    ));
    assert!(store.list_approvals(&o3.request.id).await.unwrap().is_empty(), "nothing written");
}

async fn pending_requests_expire_once(db: Db) {
    let store = db.open().await;
    let w = world(&*store).await;
    let late = pending_request(70, &w, at(150));
    let fresh = pending_request(71, &w, at(10_000));
    store.apply_issuance_batch(&[outcome(&late), outcome(&fresh)]).await.unwrap();
    assert_eq!(store.list_expired_pending(at(300), 10).await.unwrap(), vec![late.request.id.clone()]);
    let ev = event(EventType::RequestExpired, at(300));
    assert!(store.expire_request(&late.request.id, at(300), &ev).await.unwrap());
    assert!(!store.expire_request(&late.request.id, at(301), &ev).await.unwrap());
    assert_eq!(store.get_request(&late.request.id).await.unwrap().unwrap().state, RequestState::Expired);
    assert!(store.list_expired_pending(at(300), 10).await.unwrap().is_empty());
}

async fn authority_rotation_and_destruction(db: Db) {
    let store = db.open().await;
    let w = world(&*store).await;
    let root = authority(1, AuthorityRole::Root, at(0));
    store.insert_authorities(std::slice::from_ref(&root), &[event(EventType::AuthorityCreated, at(0))]).await.unwrap();
    let first = w.issuer.clone();

    // The latest expiry of what an issuer signed, whatever its status.
    assert_eq!(store.last_not_after(&first.id).await.unwrap(), None);
    let a = issued(10, &w.web, TLS, &first, CredentialStatus::Active, at(1000));
    let b = issued(11, &w.db, TLS, &first, CredentialStatus::Revoked, at(1001));
    store.apply_issuance_batch(&[outcome(&a), outcome(&b)]).await.unwrap();
    let latest = [&a, &b].iter().map(|o| o.credential.as_ref().unwrap().not_after).max();
    assert_eq!(store.last_not_after(&first.id).await.unwrap(), latest);

    // Rotate: the old one retired at the rollover time, the new one inserted, both events appended.
    let second = authority(3, AuthorityRole::Issuing, at(5));
    assert_eq!(store.last_not_after(&second.id).await.unwrap(), None);
    let before = all_events(&*store).await.len();
    let events = [event(EventType::AuthorityCreated, at(5)), event(EventType::AuthorityRotated, at(5))];
    assert!(store.rotate_authority(&first.id, &second, at(5), &events).await.unwrap());
    let listed = store.list_authorities().await.unwrap();
    let old = listed.iter().find(|a| a.id == first.id).unwrap();
    assert_eq!((old.state, old.retired_at, old.destroyed_at), (KeyState::Retired, Some(at(5)), None));
    assert_eq!(listed.iter().find(|a| a.id == second.id).unwrap(), &second);
    assert_eq!(all_events(&*store).await.len(), before + 2);

    // Rotating the retired one again is refused and writes nothing (another rollover got there first);
    // so is retiring a root through an issuing rollover.
    let third = authority(4, AuthorityRole::Issuing, at(6));
    for retire in [&first.id, &root.id] {
        assert!(!store.rotate_authority(retire, &third, at(6), &[event(EventType::AuthorityRotated, at(6))]).await.unwrap());
    }
    assert_eq!(store.list_authorities().await.unwrap().len(), 3);
    assert_eq!(all_events(&*store).await.len(), before + 2);

    // Destroy: only a retired one, once.
    assert!(!store.destroy_authority(&second.id, at(7), &event(EventType::KeyDestroyed, at(7))).await.unwrap(), "active");
    assert!(store.destroy_authority(&first.id, at(7), &event(EventType::KeyDestroyed, at(7))).await.unwrap());
    assert!(!store.destroy_authority(&first.id, at(8), &event(EventType::KeyDestroyed, at(8))).await.unwrap(), "twice");
    let old = store.list_authorities().await.unwrap().into_iter().find(|a| a.id == first.id).unwrap();
    assert_eq!((old.state, old.retired_at, old.destroyed_at), (KeyState::Destroyed, Some(at(5)), Some(at(7))));
    assert_eq!(old.certificate_der, first.certificate_der, "the certificate stays on record");
    assert_eq!(all_events(&*store).await.len(), before + 3);
}

/// The store reads every event from its entry: a changed index column or a
/// changed entry (as an attacker who dropped the append-only trigger would
/// make) fails the read, naming the entry; it is never shown.
async fn events_are_read_from_their_entries_and_a_changed_one_fails(db: Db) {
    let store = db.open().await;
    let a = subject(1, "a", at(1));
    let b = subject(2, "b", at(1));
    let events = [subject_created(&a), subject_created(&b)];
    store.record_events(&events).await.unwrap();
    let before = all_events(&*store).await;
    assert_eq!(before, [recorded(0, &events[0]), recorded(1, &events[1])]);
    let pg = !db.location.starts_with("sqlite:");
    let drop_trigger = if pg { "DROP TRIGGER events_no_update_or_delete ON events" } else { "DROP TRIGGER events_no_update" };
    db.raw_execute(drop_trigger).await.unwrap();
    let by_b = signet_core::ports::EventFilter { subject_id: Some(b.id.clone()), after: -1, limit: 100, ..Default::default() };

    let e = &events[0];
    let text = |v: &str| format!("'{}'", v.replace('\'', "''"));
    for (column, forged, original) in [
        ("actor", text("system"), text(&e.actor)),
        ("reason", text("forged"), "NULL".to_string()),
        ("details", text("{}"), text(&serde_json::to_string(&e.details).unwrap())),
        ("event_type", text("token.created"), text(e.event_type.as_str())),
        ("subject_id", text(b.id.as_str()), text(a.id.as_str())),
        ("event_time", "1".to_string(), e.time.unix_timestamp().to_string()),
    ] {
        db.raw_execute(&format!("UPDATE events SET {column} = {forged} WHERE event_index = 0")).await.unwrap();
        let err = store.list_events(-1, 100).await.unwrap_err();
        assert!(matches!(&err, StoreError::LogIntegrity { index: 0, reason } if reason.contains(column)), "{column}: {err}");
        if column == "subject_id" {
            // Found by the changed column, refused rather than shown under `b`.
            assert!(matches!(store.search_events(&by_b).await, Err(StoreError::LogIntegrity { index: 0, .. })), "{column}");
        }
        db.raw_execute(&format!("UPDATE events SET {column} = {original} WHERE event_index = 0")).await.unwrap();
        assert_eq!(all_events(&*store).await, before, "{column} put back");
    }

    // The entry itself: it no longer hashes to its stored leaf hash.
    let entry = store.log_entries(0, 1).await.unwrap().remove(0);
    let forged = String::from_utf8(entry.entry.clone()).unwrap().replace("fixture", "forgery");
    assert_ne!(forged.as_bytes(), entry.entry.as_slice());
    let hex: String = forged.bytes().map(|b| format!("{b:02x}")).collect();
    let literal = if pg { format!("'\\x{hex}'::bytea") } else { format!("X'{hex}'") };
    db.raw_execute(&format!("UPDATE events SET entry = {literal} WHERE event_index = 0")).await.unwrap();
    let err = store.list_events(-1, 100).await.unwrap_err();
    assert!(matches!(&err, StoreError::LogIntegrity { index: 0, reason } if reason.contains("leaf hash")), "{err}");
    let err = store.search_events(&signet_core::ports::EventFilter { after: -1, limit: 100, ..Default::default() }).await.unwrap_err();
    assert!(matches!(err, StoreError::LogIntegrity { index: 0, .. }), "{err}");
}
