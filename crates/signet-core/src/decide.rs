//! The profile's own rules, checked in Rust for every credential type: a
//! pure function from (profile, ask, time) to the common part of a
//! [`Grant`], or a [`Refusal`] naming the rule and the field.
//!
//! Each rule is checked in exactly one place. Here, in Rust: what needs the
//! parsed ask (the holder key's algorithm, every name against the profile's
//! patterns, the lifetime), so the refusal can name the exact field
//! (`names.dns[1]`). In the Cedar issuance policy (`signet-policy`,
//! `default.cedar`): who may get what (the subject's status, owner and
//! purpose, kind, assurance; the scopes; the approvals). In the credential
//! type: what only it knows (an X.509 certificate never outlives its CA).

use crate::credential_type::{Refusal, TypedAsk};
use signet_model::profile::{Profile, format_duration_secs};
use signet_model::request::Grant;
use time::{Duration, OffsetDateTime};

/// The rule ids of this module, as recorded in a refusal's log entry.
pub const RULE_KEY_ALGORITHM: &str = "profile.key-algorithm";
pub const RULE_NAMES: &str = "profile.names";
pub const RULE_TTL: &str = "profile.ttl";

/// Decide the common part of a grant: the names and scopes asked, the key's
/// algorithm, a validity of the asked (or default) lifetime from `now`.
/// The credential type completes it ([`crate::credential_type::CredentialType::decide`]).
pub fn decide_common(
    profile: &Profile,
    subject_name: &str,
    ask: &TypedAsk,
    ttl_seconds: Option<i64>,
    scopes: &[String],
    now: OffsetDateTime,
) -> Result<Grant, Refusal> {
    // The key: an algorithm the profile allows.
    if let Some(key) = &ask.key
        && !profile.key_algorithms.contains(&key.algorithm)
    {
        let allowed: Vec<&str> = profile.key_algorithms.iter().map(|a| a.as_str()).collect();
        return Err(Refusal::new(
            RULE_KEY_ALGORITHM,
            ask.key_field,
            format!("key algorithm `{}` is not allowed by profile `{}`; allowed: {}", key.algorithm, profile.name, allowed.join(", ")),
        ));
    }

    // The names: every one allowed, and at least one where the profile needs it.
    if profile.require_names && ask.names.is_empty() {
        return Err(Refusal::new(
            RULE_NAMES,
            ask.names_field,
            format!("profile `{}` requires at least one subject alternative name", profile.name),
        ));
    }
    profile.names.check(ask.names_field, &ask.names, subject_name).map_err(|error| Refusal { rule: RULE_NAMES, error })?;

    // The lifetime: asked or default, never over the profile's max.
    let ttl = ttl_seconds.unwrap_or(profile.default_ttl_seconds);
    if ttl <= 0 {
        return Err(Refusal::new(RULE_TTL, "ttl", "must be positive"));
    }
    if ttl > profile.max_ttl_seconds {
        return Err(Refusal::new(
            RULE_TTL,
            "ttl",
            format!(
                "`{}` is longer than profile `{}` allows (max `{}`)",
                format_duration_secs(ttl),
                profile.name,
                format_duration_secs(profile.max_ttl_seconds)
            ),
        ));
    }

    Ok(Grant {
        credential_type: profile.credential_type.clone(),
        subject_name: subject_name.to_string(),
        names: ask.names.clone(),
        scopes: scopes.to_vec(),
        key_algorithm: ask.key.as_ref().map(|k| k.algorithm),
        not_before: now,
        not_after: now + Duration::seconds(ttl),
        params: signet_model::request::empty_object(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mint::BoundKey;
    use signet_model::names::{IpRange, NamePattern, NameRules, SanSet};
    use signet_model::profile::{CredentialType, ExtendedKeyUsage, KeyAlgorithm};
    use signet_model::subject::AssuranceLevel;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-23 12:00 UTC);

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
            params: Default::default(),
            version: 1,
            created_at: NOW,
            updated_at: NOW,
        }
    }

    fn ask(dns: &[&str], alg: Option<KeyAlgorithm>) -> TypedAsk {
        TypedAsk {
            names: SanSet { dns: dns.iter().map(|s| s.to_string()).collect(), ..Default::default() },
            names_field: "names",
            key: alg.map(|algorithm| BoundKey { spki_der: vec![1, 2, 3], algorithm, fingerprint: "ab".into() }),
            key_field: "csr",
            params: signet_model::request::empty_object(),
        }
    }

    #[test]
    fn the_grant_is_what_was_asked_within_the_profile() {
        let g = decide_common(&profile(), "web", &ask(&["api.internal"], Some(KeyAlgorithm::EcdsaP256)), None, &[], NOW).unwrap();
        assert_eq!(g.names.dns, vec!["api.internal".to_string()]);
        assert_eq!((g.not_before, g.not_after), (NOW, NOW + Duration::seconds(3600)));
        assert_eq!(g.key_algorithm, Some(KeyAlgorithm::EcdsaP256));
        assert_eq!(g.credential_type, CredentialType::X509);
        let g = decide_common(&profile(), "web", &ask(&["a.internal"], None), Some(60), &["read".into()], NOW).unwrap();
        assert_eq!((g.key_algorithm, g.not_after, g.scopes), (None, NOW + Duration::seconds(60), vec!["read".to_string()]));
    }

    #[test]
    fn each_refusal_names_its_rule_and_field() {
        let p = profile();
        let refused = |a: &TypedAsk, ttl: Option<i64>| decide_common(&p, "web", a, ttl, &[], NOW).unwrap_err();
        let r = refused(&ask(&["evil.example"], Some(KeyAlgorithm::EcdsaP256)), None);
        assert_eq!((r.rule, r.error.field.as_str()), (RULE_NAMES, "names.dns[0]"));
        let r = refused(&ask(&[], Some(KeyAlgorithm::EcdsaP256)), None);
        assert_eq!((r.rule, r.error.field.as_str()), (RULE_NAMES, "names"));
        let r = refused(&ask(&["a.internal"], Some(KeyAlgorithm::EcdsaP256)), Some(86401));
        assert_eq!((r.rule, r.error.field.as_str()), (RULE_TTL, "ttl"));
        assert!(r.error.reason.contains("max `1d`"), "{}", r.error.reason);
        let r = refused(&ask(&["a.internal"], Some(KeyAlgorithm::EcdsaP256)), Some(0));
        assert_eq!((r.rule, r.error.field.as_str()), (RULE_TTL, "ttl"));
        let r = refused(&ask(&["a.internal"], Some(KeyAlgorithm::Rsa2048)), None);
        assert_eq!((r.rule, r.error.field.as_str()), (RULE_KEY_ALGORITHM, "csr"));
    }
}
