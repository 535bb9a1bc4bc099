//! Model values built by hand: fixed times, fixed ids, every field set to
//! something that would show if it were lost or swapped on the way.

use serde_json::json;
use signet_core::ports::{IssuanceIntent, IssuanceOutcome, IssuanceWrite, OperatorToken};
use signet_model::credential::{Authority, AuthorityRole, Credential, CredentialStatus, KeyState};
use signet_model::event::{Event, EventType, NewEvent};
use signet_model::ids::{AuthorityId, CredentialId, OperatorId, RequestId, Serial, SubjectId, TokenId};
use signet_model::names::{IpRange, NamePattern, NameRules, SanSet};
use signet_model::profile::{ApprovalRule, CredentialType, ExtendedKeyUsage, KeyAlgorithm, ProfileSpec};
use signet_model::request::{Request, RequestState};
use signet_model::subject::{AssuranceLevel, Subject, SubjectKind, SubjectStatus};
use std::collections::BTreeMap;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

pub const T0: OffsetDateTime = datetime!(2026-03-01 12:00:00 UTC);

/// `T0` plus `seconds`.
pub fn at(seconds: i64) -> OffsetDateTime {
    T0 + Duration::seconds(seconds)
}

pub fn event(event_type: EventType, time: OffsetDateTime) -> NewEvent {
    NewEvent {
        event_type,
        actor: format!("token:{}", TokenId::from_random([0xaa; 16])),
        subject_id: None,
        request_id: None,
        credential_id: None,
        reason: None,
        details: json!({ "note": "fixture", "n": 7, "nested": { "list": [1, 2, 3], "flag": true } }),
        trace_id: Some("trace-0001".into()),
        time,
    }
}

/// The event as the store records it at `index`.
pub fn recorded(index: i64, e: &NewEvent) -> Event {
    Event {
        index,
        event_type: e.event_type,
        actor: e.actor.clone(),
        subject_id: e.subject_id.clone(),
        request_id: e.request_id.clone(),
        credential_id: e.credential_id.clone(),
        reason: e.reason.clone(),
        details: e.details.clone(),
        trace_id: e.trace_id.clone(),
        time: e.time,
    }
}

pub fn subject(n: u8, name: &str, created_at: OffsetDateTime) -> Subject {
    Subject {
        id: SubjectId::from_random([n; 16]),
        name: name.into(),
        kind: SubjectKind::Workload,
        owner: Some("team-web".into()),
        purpose: Some("serves the shop".into()),
        assurance: AssuranceLevel::Ial2,
        attributes: BTreeMap::from([("env".to_string(), "prod".to_string()), ("region".to_string(), "eu-west-1".to_string())]),
        site: "eu-1".into(),
        status: SubjectStatus::Active,
        created_at,
        updated_at: created_at + Duration::seconds(5),
    }
}

pub fn person(n: u8, name: &str, created_at: OffsetDateTime) -> Subject {
    Subject {
        kind: SubjectKind::Person,
        owner: None,
        purpose: None,
        assurance: AssuranceLevel::Ial1,
        attributes: BTreeMap::new(),
        status: SubjectStatus::Suspended,
        ..subject(n, name, created_at)
    }
}

pub fn subject_created(s: &Subject) -> NewEvent {
    NewEvent { subject_id: Some(s.id.clone()), ..event(EventType::SubjectCreated, s.created_at) }
}

fn pattern(p: &str) -> NamePattern {
    NamePattern::parse("pattern", p).expect("pattern")
}

pub fn profile_spec(name: &str) -> ProfileSpec {
    ProfileSpec {
        name: name.into(),
        description: "TLS servers of the shop".into(),
        credential_type: CredentialType::X509,
        key_algorithms: vec![KeyAlgorithm::EcdsaP256, KeyAlgorithm::Ed25519],
        default_ttl_seconds: 86_400,
        max_ttl_seconds: 30 * 86_400,
        names: NameRules {
            dns: vec![pattern("{subject}.svc.internal"), pattern("*.shop.example")],
            ip: vec![IpRange::parse("ip", "10.0.0.0/8").expect("range"), IpRange::parse("ip", "fd00::/8").expect("range")],
            uri: vec![pattern("spiffe://shop.example/ns/*/sa/*")],
            email: vec![pattern("*@shop.example")],
            allow_wildcards: true,
        },
        require_names: true,
        ext_key_usages: vec![ExtendedKeyUsage::ServerAuth, ExtendedKeyUsage::ClientAuth],
        is_ca: false,
        path_len: None,
        required_assurance: AssuranceLevel::Ial2,
        subject_kinds: vec![SubjectKind::Workload, SubjectKind::Device],
        allowed_scopes: vec!["read".into(), "write".into()],
        approvals: Some(ApprovalRule {
            required: 2,
            group: "security".into(),
            expires_after_seconds: 3600,
            fresh_approver_window_seconds: 86400,
        }),
        params: Default::default(),
    }
}

pub fn profile_applied(name: &str, time: OffsetDateTime) -> NewEvent {
    NewEvent { details: json!({ "profile": name }), ..event(EventType::ProfileApplied, time) }
}

pub fn authority(n: u8, role: AuthorityRole, created_at: OffsetDateTime) -> Authority {
    Authority {
        id: AuthorityId::from_random([n; 16]),
        role,
        key_algorithm: KeyAlgorithm::EcdsaP384,
        key_ref: format!("authority-{n}"),
        certificate_der: vec![0x30, 0x82, 0x01, n, 0x00, 0xff, 0x10],
        state: KeyState::Active,
        created_at,
        retired_at: None,
        destroyed_at: None,
    }
}

pub fn names() -> SanSet {
    SanSet {
        dns: vec!["web.svc.internal".into(), "*.shop.example".into()],
        ip: vec!["10.1.2.3".parse().expect("ip"), "fd00::1".parse().expect("ip")],
        uri: vec!["spiffe://shop.example/ns/prod/sa/web".into()],
        email: vec!["ops@shop.example".into()],
    }
}

/// A request in `state`, numbered `n` (its id), created at `created_at`.
pub fn request(n: u8, subject: &Subject, profile: &str, state: RequestState, created_at: OffsetDateTime) -> Request {
    Request {
        id: RequestId::from_random([n; 16]),
        subject_id: subject.id.clone(),
        profile: profile.into(),
        profile_version: 1,
        credential_type: CredentialType::X509,
        requested_names: names(),
        requested_ttl_seconds: Some(3_600),
        requested_scopes: vec!["read".into()],
        params: serde_json::json!({ "audience": ["https://api.shop.example"] }),
        key_algorithm: Some(KeyAlgorithm::EcdsaP256),
        key_fingerprint: Some(format!("{n:02x}").repeat(32)),
        requested_by: OperatorId::from_random([0xaa; 16]).to_string(),
        state,
        break_glass: false,
        expires_at: None,
        key_spki: None,
        reason: None,
        credential_id: None,
        created_at,
        updated_at: created_at + Duration::seconds(1),
    }
}

pub fn serial(n: u8) -> Serial {
    Serial::from_random([n; 16])
}

/// The credential minted for `request` (numbered `n`: its id and serial).
pub fn credential(n: u8, request: &Request, issuer: &Authority, status: CredentialStatus) -> Credential {
    Credential {
        id: CredentialId::from_random([n; 16]),
        credential_type: CredentialType::X509,
        serial: serial(n),
        subject_id: request.subject_id.clone(),
        profile: request.profile.clone(),
        request_id: request.id.clone(),
        issuer_id: issuer.id.clone(),
        key_algorithm: Some(KeyAlgorithm::EcdsaP256),
        key_fingerprint: format!("{n:02x}").repeat(32),
        names: request.requested_names.clone(),
        not_before: request.created_at - Duration::seconds(60),
        not_after: request.created_at + Duration::seconds(3_600),
        status,
        der: vec![0x30, 0x82, 0x02, n, 0x00, 0x01, 0x02, 0x03, 0xfe],
        created_at: request.updated_at,
    }
}

pub fn intent_for(c: &Credential) -> IssuanceIntent {
    IssuanceIntent {
        serial: c.serial.clone(),
        request_id: c.request_id.clone(),
        subject_id: c.subject_id.clone(),
        profile: c.profile.clone(),
        key_fingerprint: c.key_fingerprint.clone(),
        created_at: c.created_at - Duration::seconds(1),
        tbs_sha256: Some([c.serial.as_bytes()[0]; 32]),
    }
}

/// An issued outcome: the request (now `issued`), its credential, its event.
pub fn issued(
    n: u8,
    subject: &Subject,
    profile: &str,
    issuer: &Authority,
    status: CredentialStatus,
    created_at: OffsetDateTime,
) -> IssuanceOutcome {
    let mut req = request(n, subject, profile, RequestState::Issued, created_at);
    let cred = credential(n, &req, issuer, status);
    req.credential_id = Some(cred.id.clone());
    let event = NewEvent {
        subject_id: Some(subject.id.clone()),
        request_id: Some(req.id.clone()),
        credential_id: Some(cred.id.clone()),
        details: json!({ "serial": cred.serial.to_hex(), "profile": profile }),
        ..event(EventType::CredentialIssued, req.updated_at)
    };
    IssuanceOutcome { request: req, credential: Some(cred), event }
}

/// A denied outcome: the request with its reason, no credential.
pub fn denied(n: u8, subject: &Subject, profile: &str, created_at: OffsetDateTime) -> IssuanceOutcome {
    let mut req = request(n, subject, profile, RequestState::Denied, created_at);
    req.reason = Some("names.dns[0]: DNS name `evil.example` is not allowed by the profile".into());
    req.key_algorithm = None;
    req.key_fingerprint = None;
    req.requested_ttl_seconds = None;
    let event = NewEvent {
        subject_id: Some(subject.id.clone()),
        request_id: Some(req.id.clone()),
        reason: req.reason.clone(),
        trace_id: None,
        ..event(EventType::RequestDenied, req.updated_at)
    };
    IssuanceOutcome { request: req, credential: None, event }
}

pub fn outcome(o: &IssuanceOutcome) -> IssuanceWrite {
    IssuanceWrite::Outcome(o.clone())
}

pub fn token(n: u8, expires_at: Option<OffsetDateTime>, revoked: bool) -> OperatorToken {
    OperatorToken {
        id: TokenId::from_random([n; 16]),
        name: format!("operator {n}"),
        secret_hash: [n; 32],
        operator_id: OperatorId::from_random([n; 16]),
        created_at: at(i64::from(n)),
        expires_at,
        revoked,
    }
}
