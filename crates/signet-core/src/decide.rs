//! The issuance decision: a pure function from (subject, profile, request,
//! time) to a [`Grant`] or a refusal naming the field and the reason.
//!
//! Every rule a profile imposes on an X.509 request is checked here and
//! nowhere else. The grant is the intersection of what was asked and what
//! the profile allows; the mint layer builds the certificate from the grant
//! alone.

use crate::mint::BoundKey;
use signet_model::FieldError;
use signet_model::names::SanSet;
use signet_model::profile::{CredentialType, Profile};
use signet_model::request::Grant;
use signet_model::subject::{Subject, SubjectKind, SubjectStatus};
use time::{Duration, OffsetDateTime};

/// Certificates are backdated this much to tolerate clock skew on relying parties.
pub const BACKDATE: Duration = Duration::seconds(60);

/// Everything the decision looks at.
#[derive(Debug)]
pub struct X509Ask<'a> {
    pub subject: &'a Subject,
    pub profile: &'a Profile,
    pub key: &'a BoundKey,
    /// The names asked for, and the request field they came from
    /// (`names` when given explicitly, `csr.names` when taken from the CSR).
    pub names: &'a SanSet,
    pub names_field: &'a str,
    pub ttl_seconds: Option<i64>,
    pub now: OffsetDateTime,
    pub issuer_not_before: OffsetDateTime,
    pub issuer_not_after: OffsetDateTime,
}

/// Decide an X.509 request. `Err` is a refusal: the field and the reason.
pub fn decide_x509(ask: &X509Ask<'_>) -> Result<Grant, FieldError> {
    let X509Ask { subject, profile, key, names, names_field, ttl_seconds, now, issuer_not_before, issuer_not_after } = *ask;

    // The subject: enrolled, active, accountable, proven enough.
    match subject.status {
        SubjectStatus::Active => {}
        other => return Err(FieldError::new("subject", format!("subject `{}` is {}", subject.name, other.as_str()))),
    }
    if subject.kind != SubjectKind::Person && (subject.owner.is_none() || subject.purpose.is_none()) {
        return Err(FieldError::new("subject", format!("subject `{}` is a {} without an owner or purpose", subject.name, subject.kind)));
    }
    if !profile.subject_kinds.is_empty() && !profile.subject_kinds.contains(&subject.kind) {
        return Err(FieldError::new("profile", format!("profile `{}` does not serve {} subjects", profile.name, subject.kind)));
    }
    if subject.assurance < profile.required_assurance {
        return Err(FieldError::new(
            "subject",
            format!(
                "subject `{}` is proven to {}, profile `{}` requires {}",
                subject.name,
                subject.assurance.as_str(),
                profile.name,
                profile.required_assurance.as_str()
            ),
        ));
    }

    // The credential type and the key.
    if profile.credential_type != CredentialType::X509 {
        return Err(FieldError::new(
            "profile",
            format!("profile `{}` issues {}, not x509", profile.name, profile.credential_type.as_str()),
        ));
    }
    if !profile.key_algorithms.contains(&key.algorithm) {
        let allowed: Vec<&str> = profile.key_algorithms.iter().map(|a| a.as_str()).collect();
        return Err(FieldError::new(
            "csr",
            format!("key algorithm `{}` is not allowed by profile `{}`; allowed: {}", key.algorithm, profile.name, allowed.join(", ")),
        ));
    }

    // The names: every one allowed, and at least one where the profile needs it.
    if profile.require_names && names.is_empty() {
        return Err(FieldError::new(names_field, format!("profile `{}` requires at least one subject alternative name", profile.name)));
    }
    profile.names.check(names_field, names, &subject.name)?;

    // The lifetime: asked or default, never over the profile's max.
    let ttl = ttl_seconds.unwrap_or(profile.default_ttl_seconds);
    if ttl <= 0 {
        return Err(FieldError::new("ttl", "must be positive"));
    }
    if ttl > profile.max_ttl_seconds {
        return Err(FieldError::new(
            "ttl",
            format!(
                "`{}` is longer than profile `{}` allows (max `{}`)",
                signet_model::profile::format_duration_secs(ttl),
                profile.name,
                signet_model::profile::format_duration_secs(profile.max_ttl_seconds)
            ),
        ));
    }
    let not_after = now + Duration::seconds(ttl);
    if not_after > issuer_not_after {
        return Err(FieldError::new("ttl", "the certificate would outlive the issuing CA; ask for a shorter ttl"));
    }

    let common_name = names
        .dns
        .iter()
        .find(|d| !d.starts_with("*."))
        .cloned()
        .or_else(|| names.dns.first().cloned())
        .unwrap_or_else(|| subject.name.clone());

    Ok(Grant {
        credential_type: CredentialType::X509,
        common_name,
        names: names.clone(),
        key_algorithm: key.algorithm,
        // Backdated for clock skew, but never before the issuer itself.
        not_before: (now - BACKDATE).max(issuer_not_before),
        not_after,
        ext_key_usages: profile.ext_key_usages.clone(),
        is_ca: profile.is_ca,
        path_len: profile.path_len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use signet_model::ids::SubjectId;
    use signet_model::names::{IpRange, NamePattern, NameRules};
    use signet_model::profile::{ExtendedKeyUsage, KeyAlgorithm};
    use signet_model::subject::AssuranceLevel;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-23 12:00 UTC);

    fn subject(kind: SubjectKind) -> Subject {
        Subject {
            id: SubjectId::from_random([1; 16]),
            name: "web".into(),
            kind,
            owner: Some("team".into()),
            purpose: Some("serve".into()),
            assurance: AssuranceLevel::Ial1,
            attributes: Default::default(),
            site: "default".into(),
            status: SubjectStatus::Active,
            created_at: NOW,
            updated_at: NOW,
        }
    }

    fn profile() -> Profile {
        Profile {
            name: "tls-server".into(),
            description: String::new(),
            credential_type: CredentialType::X509,
            key_algorithms: vec![KeyAlgorithm::EcdsaP256],
            default_ttl_seconds: 3600,
            max_ttl_seconds: 86400,
            names: NameRules {
                dns: vec![NamePattern::parse("p", "**.internal").unwrap()],
                ip: vec![IpRange::parse("p", "127.0.0.0/8").unwrap()],
                ..Default::default()
            },
            require_names: true,
            ext_key_usages: vec![ExtendedKeyUsage::ServerAuth],
            is_ca: false,
            path_len: None,
            required_assurance: AssuranceLevel::Ial1,
            subject_kinds: vec![],
            allowed_scopes: vec![],
            approvals: None,
            version: 1,
            created_at: NOW,
            updated_at: NOW,
        }
    }

    fn key(alg: KeyAlgorithm) -> BoundKey {
        BoundKey { spki_der: vec![1, 2, 3], algorithm: alg, fingerprint: "ab".into() }
    }

    fn names(dns: &[&str]) -> SanSet {
        SanSet { dns: dns.iter().map(|s| s.to_string()).collect(), ..Default::default() }
    }

    fn ask<'a>(s: &'a Subject, p: &'a Profile, k: &'a BoundKey, n: &'a SanSet, ttl: Option<i64>) -> X509Ask<'a> {
        X509Ask {
            subject: s,
            profile: p,
            key: k,
            names: n,
            names_field: "names",
            ttl_seconds: ttl,
            now: NOW,
            issuer_not_before: NOW - Duration::days(1),
            issuer_not_after: NOW + Duration::days(365),
        }
    }

    #[test]
    fn grant_is_the_intersection() {
        let (s, p, k, n) = (subject(SubjectKind::Workload), profile(), key(KeyAlgorithm::EcdsaP256), names(&["api.internal"]));
        let g = decide_x509(&ask(&s, &p, &k, &n, None)).unwrap();
        assert_eq!(g.common_name, "api.internal");
        assert_eq!(g.not_after, NOW + Duration::seconds(3600));
        assert_eq!(g.not_before, NOW - BACKDATE);
        assert!(!g.is_ca);
        assert_eq!(g.ext_key_usages, vec![ExtendedKeyUsage::ServerAuth]);
    }

    #[test]
    fn refusals_name_the_field() {
        let (s, p, k) = (subject(SubjectKind::Workload), profile(), key(KeyAlgorithm::EcdsaP256));
        let bad = names(&["evil.example"]);
        assert_eq!(decide_x509(&ask(&s, &p, &k, &bad, None)).unwrap_err().field, "names.dns[0]");
        let none = SanSet::default();
        assert_eq!(decide_x509(&ask(&s, &p, &k, &none, None)).unwrap_err().field, "names");
        let n = names(&["a.internal"]);
        let e = decide_x509(&ask(&s, &p, &k, &n, Some(86401))).unwrap_err();
        assert_eq!(e.field, "ttl");
        assert!(e.reason.contains("max `1d`"), "{}", e.reason);
        let rsa = key(KeyAlgorithm::Rsa2048);
        assert_eq!(decide_x509(&ask(&s, &p, &rsa, &n, None)).unwrap_err().field, "csr");
        let mut suspended = s.clone();
        suspended.status = SubjectStatus::Suspended;
        assert!(decide_x509(&ask(&suspended, &p, &k, &n, None)).unwrap_err().reason.contains("suspended"));
        let mut ownerless = s.clone();
        ownerless.owner = None;
        assert_eq!(decide_x509(&ask(&ownerless, &p, &k, &n, None)).unwrap_err().field, "subject");
        let mut strict = p.clone();
        strict.required_assurance = AssuranceLevel::Ial2;
        assert!(decide_x509(&ask(&s, &strict, &k, &n, None)).unwrap_err().reason.contains("requires ial2"));
        let mut persons_only = p.clone();
        persons_only.subject_kinds = vec![SubjectKind::Person];
        assert_eq!(decide_x509(&ask(&s, &persons_only, &k, &n, None)).unwrap_err().field, "profile");
        let mut a = ask(&s, &p, &k, &n, None);
        a.issuer_not_after = NOW + Duration::seconds(60);
        assert_eq!(decide_x509(&a).unwrap_err().field, "ttl");
    }

    #[test]
    fn never_valid_before_the_issuer() {
        let (s, p, k, n) = (subject(SubjectKind::Workload), profile(), key(KeyAlgorithm::EcdsaP256), names(&["a.internal"]));
        let mut a = ask(&s, &p, &k, &n, None);
        a.issuer_not_before = NOW - Duration::seconds(5);
        assert_eq!(decide_x509(&a).unwrap().not_before, NOW - Duration::seconds(5));
    }

    #[test]
    fn ca_only_from_a_ca_profile() {
        let (s, k, n) = (subject(SubjectKind::Workload), key(KeyAlgorithm::EcdsaP256), names(&["a.internal"]));
        let p = profile();
        assert!(!decide_x509(&ask(&s, &p, &k, &n, None)).unwrap().is_ca);
        let mut sub_ca = p.clone();
        sub_ca.is_ca = true;
        sub_ca.path_len = Some(0);
        let g = decide_x509(&ask(&s, &sub_ca, &k, &n, None)).unwrap();
        assert!(g.is_ca);
        assert_eq!(g.path_len, Some(0));
    }
}
