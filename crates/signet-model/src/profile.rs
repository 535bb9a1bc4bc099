//! Profiles: templates of what may be issued and under which constraints.

use crate::FieldError;
use crate::names::{IpRange, NamePattern, NameRules, shorten};
use crate::subject::{AssuranceLevel, SubjectKind, parse_subject_name};
use serde::{Deserialize, Serialize};
use std::fmt;
use time::OffsetDateTime;

/// The name of a credential type (`x509`, `jwt`, …): what a profile issues.
///
/// Which types exist is known only to the authority that registered their
/// implementations (`signet_core::credential_type`); the model checks the
/// name's form, and the authority refuses a profile naming a type it does
/// not have. A new type needs no change here.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = String, example = "x509")]
pub struct CredentialType(std::borrow::Cow<'static, str>);

impl CredentialType {
    /// X.509 certificates.
    pub const X509: Self = Self::from_static("x509");

    /// A type name known at compile time (a credential type crate's own).
    pub const fn from_static(name: &'static str) -> Self {
        Self(std::borrow::Cow::Borrowed(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A type name: 1 to 32 lower-case ASCII letters, digits, `-` or `_`,
    /// starting with a letter.
    pub fn parse(field: &str, s: &str) -> Result<Self, FieldError> {
        let ok = (1..=32).contains(&s.len())
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !ok {
            return Err(FieldError::new(
                field,
                format!("`{}` is not a credential type name (lower-case letters, digits, `-`, `_`)", shorten(s)),
            ));
        }
        Ok(Self(std::borrow::Cow::Owned(s.to_string())))
    }
}

impl fmt::Display for CredentialType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Public key algorithms a subject key (or an authority key) may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum KeyAlgorithm {
    #[serde(rename = "ecdsa-p256")]
    EcdsaP256,
    #[serde(rename = "ecdsa-p384")]
    EcdsaP384,
    #[serde(rename = "ed25519")]
    Ed25519,
    #[serde(rename = "rsa-2048")]
    Rsa2048,
    #[serde(rename = "rsa-3072")]
    Rsa3072,
    #[serde(rename = "rsa-4096")]
    Rsa4096,
}

impl KeyAlgorithm {
    pub const ALL: [KeyAlgorithm; 6] = [Self::EcdsaP256, Self::EcdsaP384, Self::Ed25519, Self::Rsa2048, Self::Rsa3072, Self::Rsa4096];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::EcdsaP256 => "ecdsa-p256",
            Self::EcdsaP384 => "ecdsa-p384",
            Self::Ed25519 => "ed25519",
            Self::Rsa2048 => "rsa-2048",
            Self::Rsa3072 => "rsa-3072",
            Self::Rsa4096 => "rsa-4096",
        }
    }

    pub fn parse(field: &str, s: &str) -> Result<Self, FieldError> {
        Self::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| {
            FieldError::new(
                field,
                format!(
                    "`{}` is not a key algorithm; expected one of ecdsa-p256, ecdsa-p384, ed25519, rsa-2048, rsa-3072, rsa-4096",
                    shorten(s)
                ),
            )
        })
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Extended key usages a profile may put in a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExtendedKeyUsage {
    ServerAuth,
    ClientAuth,
    CodeSigning,
    EmailProtection,
    TimeStamping,
    OcspSigning,
}

impl ExtendedKeyUsage {
    pub const ALL: [ExtendedKeyUsage; 6] =
        [Self::ServerAuth, Self::ClientAuth, Self::CodeSigning, Self::EmailProtection, Self::TimeStamping, Self::OcspSigning];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ServerAuth => "server_auth",
            Self::ClientAuth => "client_auth",
            Self::CodeSigning => "code_signing",
            Self::EmailProtection => "email_protection",
            Self::TimeStamping => "time_stamping",
            Self::OcspSigning => "ocsp_signing",
        }
    }

    pub fn parse(field: &str, s: &str) -> Result<Self, FieldError> {
        Self::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| {
            FieldError::new(field, format!("`{}` is not an extended key usage; expected one of server_auth, client_auth, code_signing, email_protection, time_stamping, ocsp_signing", shorten(s)))
        })
    }
}

/// Parse a duration: an integer number of seconds, or a number with a unit
/// suffix `s`, `m`, `h` or `d` (`90s`, `15m`, `24h`, `30d`); positive, at
/// most 100 years. A request's `ttl` may also be a JSON number: see
/// [`crate::duration::DurationInput`].
pub fn parse_duration_secs(field: &str, s: &str) -> Result<i64, FieldError> {
    let bad = || {
        FieldError::new(
            field,
            format!("`{}` is not a duration: use a whole number of seconds, or a number with s, m, h or d (`24h`)", shorten(s)),
        )
    };
    let too_long = || FieldError::new(field, format!("`{}` is longer than 100 years", shorten(s)));
    let not_positive = || FieldError::new(field, format!("`{}` must be positive", shorten(s)));
    let is_digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, 's')) => (&s[..i], 1),
        Some((i, 'm')) => (&s[..i], 60),
        Some((i, 'h')) => (&s[..i], 3600),
        Some((i, 'd')) => (&s[..i], 86400),
        _ => (s, 1),
    };
    let n: i64 = match num.parse() {
        Ok(n) => n,
        // Digits only, but more than an i64 holds.
        Err(_) if is_digits(num) => return Err(too_long()),
        Err(_) if num.strip_prefix('-').is_some_and(is_digits) => return Err(not_positive()),
        Err(_) => return Err(bad()),
    };
    if n <= 0 {
        return Err(not_positive());
    }
    n.checked_mul(mult).filter(|v| *v <= 100 * 365 * 86400).ok_or_else(too_long)
}

/// Format seconds back into the shortest exact unit form.
pub fn format_duration_secs(secs: i64) -> String {
    if secs % 86400 == 0 {
        format!("{}d", secs / 86400)
    } else if secs % 3600 == 0 {
        format!("{}h", secs / 3600)
    } else if secs % 60 == 0 {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

/// What may be issued and under which rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Profile {
    pub name: String,
    pub description: String,
    pub credential_type: CredentialType,
    /// Key algorithms a subject key may use.
    pub key_algorithms: Vec<KeyAlgorithm>,
    pub default_ttl_seconds: i64,
    pub max_ttl_seconds: i64,
    pub names: NameRules,
    /// Must a request name at least one SAN? (True for TLS server profiles.)
    pub require_names: bool,
    pub ext_key_usages: Vec<ExtendedKeyUsage>,
    /// A sub-CA profile: certificates get `CA:true`. Off for every end-entity profile.
    pub is_ca: bool,
    /// For sub-CA profiles: the path length constraint.
    pub path_len: Option<u8>,
    pub required_assurance: AssuranceLevel,
    /// Subject kinds this profile serves; empty means every kind.
    pub subject_kinds: Vec<SubjectKind>,
    /// Scopes (entitlements) a request may ask for; a request asking for
    /// anything else is refused. Empty: no scope may be asked for.
    pub allowed_scopes: Vec<String>,
    /// Approvals a request needs before issuance (m of the approval group).
    pub approvals: Option<ApprovalRule>,
    /// The credential type's own rules (a JWT profile's audiences, …),
    /// checked by that type when the profile is applied. Empty for X.509.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub params: serde_json::Map<String, serde_json::Value>,
    /// Increases by one on every change.
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// The wire and file form of a profile (`signet profile apply -f profile.toml`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileInput {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The credential type: `x509` (default), `jwt`, or another type the
    /// authority has.
    #[serde(default = "default_type")]
    pub credential_type: String,
    /// Default: `["ecdsa-p256", "ecdsa-p384", "ed25519"]`.
    #[serde(default)]
    pub key_algorithms: Vec<String>,
    /// A duration such as `24h`; default 24h (or max_ttl if shorter).
    #[serde(default)]
    pub default_ttl: Option<String>,
    /// A duration such as `30d`.
    pub max_ttl: String,
    #[serde(default)]
    pub names: NamesInput,
    #[serde(default)]
    pub require_names: bool,
    #[serde(default)]
    pub ext_key_usages: Vec<String>,
    #[serde(default)]
    pub is_ca: bool,
    #[serde(default)]
    pub path_len: Option<u8>,
    #[serde(default)]
    pub required_assurance: Option<String>,
    #[serde(default)]
    pub subject_kinds: Vec<String>,
    /// Scopes a request may ask for.
    #[serde(default)]
    pub allowed_scopes: Vec<String>,
    /// m-of-n approvals before issuance.
    #[serde(default)]
    pub approvals: Option<ApprovalsInput>,
    /// The credential type's own rules, checked by that type (a `jwt`
    /// profile: `audiences`, …). Absent for X.509.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub params: serde_json::Map<String, serde_json::Value>,
}

/// The wire form of [`ApprovalRule`]: `[approvals] required = 2, group = "security", expires_after = "24h"`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalsInput {
    /// How many distinct approvers (the m of "m of n"), 1 to 10.
    pub required: u32,
    /// The team whose members may approve.
    pub group: String,
    /// How long a request may wait for its approvals; default `24h`.
    #[serde(default)]
    pub expires_after: Option<String>,
    /// An approval does not count when the approver was created, enrolled or
    /// given privileged access by the requester within this window
    /// (`sod.fresh-approver`); default `7d`, at most `90d`, `0` turns it off.
    #[serde(default)]
    pub fresh_approver_window: Option<String>,
}

/// m of the members of `group` must approve a request before issuance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApprovalRule {
    pub required: u32,
    pub group: String,
    /// A pending request expires this long after it was submitted.
    pub expires_after_seconds: i64,
    /// See [`ApprovalsInput::fresh_approver_window`]; 0: off.
    #[serde(default = "default_fresh_approver_window")]
    pub fresh_approver_window_seconds: i64,
}

/// The default fresh-approver window: 7 days.
pub const DEFAULT_FRESH_APPROVER_WINDOW_SECONDS: i64 = 7 * 86400;
/// The longest fresh-approver window: 90 days (as long as sponsorships are kept).
pub const MAX_FRESH_APPROVER_WINDOW_SECONDS: i64 = crate::operator::SPONSORSHIP_KEPT_SECONDS;

fn default_fresh_approver_window() -> i64 {
    DEFAULT_FRESH_APPROVER_WINDOW_SECONDS
}

/// The most approvals a profile may require.
pub const MAX_APPROVALS: u32 = 10;

/// A scope (entitlement) name: 1-128 printable ASCII characters, no spaces.
pub fn parse_scope(field: &str, s: &str) -> Result<String, FieldError> {
    if !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(s.to_string())
    } else {
        Err(FieldError::new(field, format!("`{}` is not a scope: use 1-128 printable ASCII characters without spaces", shorten(s))))
    }
}

fn default_type() -> String {
    "x509".into()
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NamesInput {
    #[serde(default)]
    pub dns: Vec<String>,
    #[serde(default)]
    pub ip: Vec<String>,
    #[serde(default)]
    pub uri: Vec<String>,
    #[serde(default)]
    pub email: Vec<String>,
    #[serde(default)]
    pub allow_wildcards: bool,
}

/// A validated profile definition, without version and timestamps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileSpec {
    pub name: String,
    pub description: String,
    pub credential_type: CredentialType,
    pub key_algorithms: Vec<KeyAlgorithm>,
    pub default_ttl_seconds: i64,
    pub max_ttl_seconds: i64,
    pub names: NameRules,
    pub require_names: bool,
    pub ext_key_usages: Vec<ExtendedKeyUsage>,
    pub is_ca: bool,
    pub path_len: Option<u8>,
    pub required_assurance: AssuranceLevel,
    pub subject_kinds: Vec<SubjectKind>,
    pub allowed_scopes: Vec<String>,
    pub approvals: Option<ApprovalRule>,
    pub params: serde_json::Map<String, serde_json::Value>,
}

impl ProfileSpec {
    pub fn into_profile(self, version: i64, created_at: OffsetDateTime, updated_at: OffsetDateTime) -> Profile {
        Profile {
            name: self.name,
            description: self.description,
            credential_type: self.credential_type,
            key_algorithms: self.key_algorithms,
            default_ttl_seconds: self.default_ttl_seconds,
            max_ttl_seconds: self.max_ttl_seconds,
            names: self.names,
            require_names: self.require_names,
            ext_key_usages: self.ext_key_usages,
            is_ca: self.is_ca,
            path_len: self.path_len,
            required_assurance: self.required_assurance,
            subject_kinds: self.subject_kinds,
            allowed_scopes: self.allowed_scopes,
            approvals: self.approvals,
            params: self.params,
            version,
            created_at,
            updated_at,
        }
    }
}

impl Profile {
    pub fn spec(&self) -> ProfileSpec {
        ProfileSpec {
            name: self.name.clone(),
            description: self.description.clone(),
            credential_type: self.credential_type.clone(),
            key_algorithms: self.key_algorithms.clone(),
            default_ttl_seconds: self.default_ttl_seconds,
            max_ttl_seconds: self.max_ttl_seconds,
            names: self.names.clone(),
            require_names: self.require_names,
            ext_key_usages: self.ext_key_usages.clone(),
            is_ca: self.is_ca,
            path_len: self.path_len,
            required_assurance: self.required_assurance,
            subject_kinds: self.subject_kinds.clone(),
            allowed_scopes: self.allowed_scopes.clone(),
            approvals: self.approvals.clone(),
            params: self.params.clone(),
        }
    }
}

/// The longest lifetime any profile may grant: 10 years (for sub-CA profiles).
pub const MAX_PROFILE_TTL_SECONDS: i64 = 10 * 365 * 86400;

impl ProfileInput {
    pub fn parse(&self) -> Result<ProfileSpec, FieldError> {
        let name = parse_subject_name("name", &self.name)?;
        if self.description.chars().count() > 1024 {
            return Err(FieldError::new("description", "longer than 1024 characters"));
        }
        let credential_type = CredentialType::parse("credential_type", &self.credential_type)?;
        let mut key_algorithms = Vec::new();
        for (i, a) in self.key_algorithms.iter().enumerate() {
            let alg = KeyAlgorithm::parse(&format!("key_algorithms[{i}]"), a)?;
            if !key_algorithms.contains(&alg) {
                key_algorithms.push(alg);
            }
        }
        if key_algorithms.is_empty() {
            key_algorithms = vec![KeyAlgorithm::EcdsaP256, KeyAlgorithm::EcdsaP384, KeyAlgorithm::Ed25519];
        }
        let max_ttl_seconds = parse_duration_secs("max_ttl", &self.max_ttl)?;
        if max_ttl_seconds > MAX_PROFILE_TTL_SECONDS {
            return Err(FieldError::new("max_ttl", "longer than the 10-year limit"));
        }
        let default_ttl_seconds = match &self.default_ttl {
            Some(d) => parse_duration_secs("default_ttl", d)?,
            None => max_ttl_seconds.min(86400),
        };
        if default_ttl_seconds > max_ttl_seconds {
            return Err(FieldError::new(
                "default_ttl",
                format!("`{}` is longer than max_ttl `{}`", format_duration_secs(default_ttl_seconds), self.max_ttl),
            ));
        }
        let pat = |kind: &str, v: &[String]| -> Result<Vec<NamePattern>, FieldError> {
            v.iter().enumerate().map(|(i, p)| NamePattern::parse(&format!("names.{kind}[{i}]"), p)).collect()
        };
        let names = NameRules {
            dns: pat("dns", &self.names.dns)?,
            ip: self.names.ip.iter().enumerate().map(|(i, r)| IpRange::parse(&format!("names.ip[{i}]"), r)).collect::<Result<_, _>>()?,
            uri: pat("uri", &self.names.uri)?,
            email: pat("email", &self.names.email)?,
            allow_wildcards: self.names.allow_wildcards,
        };
        names.validate()?;
        let mut ext_key_usages = Vec::new();
        for (i, e) in self.ext_key_usages.iter().enumerate() {
            let eku = ExtendedKeyUsage::parse(&format!("ext_key_usages[{i}]"), e)?;
            if !ext_key_usages.contains(&eku) {
                ext_key_usages.push(eku);
            }
        }
        if self.path_len.is_some() && !self.is_ca {
            return Err(FieldError::new("path_len", "only a sub-CA profile (`is_ca = true`) has a path length"));
        }
        if self.require_names && names.dns.is_empty() && names.ip.is_empty() && names.uri.is_empty() && names.email.is_empty() {
            return Err(FieldError::new("require_names", "the profile requires names but allows none"));
        }
        let required_assurance = match &self.required_assurance {
            None => AssuranceLevel::Ial1,
            Some(s) => AssuranceLevel::parse("required_assurance", s)?,
        };
        let mut subject_kinds = Vec::new();
        for (i, k) in self.subject_kinds.iter().enumerate() {
            let kind = SubjectKind::parse(&format!("subject_kinds[{i}]"), k)?;
            if !subject_kinds.contains(&kind) {
                subject_kinds.push(kind);
            }
        }
        let mut allowed_scopes = Vec::new();
        for (i, sc) in self.allowed_scopes.iter().enumerate() {
            let sc = parse_scope(&format!("allowed_scopes[{i}]"), sc)?;
            if !allowed_scopes.contains(&sc) {
                allowed_scopes.push(sc);
            }
        }
        let approvals = match &self.approvals {
            None => None,
            Some(a) => {
                if a.required == 0 || a.required > MAX_APPROVALS {
                    return Err(FieldError::new("approvals.required", format!("must be between 1 and {MAX_APPROVALS}")));
                }
                let group = crate::operator::parse_site("approvals.group", &a.group)?;
                let expires_after_seconds = match &a.expires_after {
                    None => 86400,
                    Some(d) => parse_duration_secs("approvals.expires_after", d)?,
                };
                if expires_after_seconds > 30 * 86400 {
                    return Err(FieldError::new("approvals.expires_after", "a request may wait at most 30 days for its approvals"));
                }
                let fresh_approver_window_seconds = match a.fresh_approver_window.as_deref().map(str::trim) {
                    None => DEFAULT_FRESH_APPROVER_WINDOW_SECONDS,
                    Some("0" | "0s" | "0m" | "0h" | "0d") => 0,
                    Some(d) => parse_duration_secs("approvals.fresh_approver_window", d)?,
                };
                if fresh_approver_window_seconds > MAX_FRESH_APPROVER_WINDOW_SECONDS {
                    return Err(FieldError::new("approvals.fresh_approver_window", "at most 90 days (`0` turns the rule off)"));
                }
                Some(ApprovalRule { required: a.required, group, expires_after_seconds, fresh_approver_window_seconds })
            }
        };
        Ok(ProfileSpec {
            name,
            description: self.description.clone(),
            credential_type,
            key_algorithms,
            default_ttl_seconds,
            max_ttl_seconds,
            names,
            require_names: self.require_names,
            ext_key_usages,
            is_ca: self.is_ca,
            path_len: self.path_len,
            required_assurance,
            subject_kinds,
            allowed_scopes,
            approvals,
            params: self.params.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_secs("t", "90").unwrap(), 90);
        assert_eq!(parse_duration_secs("t", "15m").unwrap(), 900);
        assert_eq!(parse_duration_secs("t", "24h").unwrap(), 86400);
        assert_eq!(parse_duration_secs("t", "30d").unwrap(), 30 * 86400);
        assert!(parse_duration_secs("t", "-1h").is_err());
        assert!(parse_duration_secs("t", "0").is_err());
        assert!(parse_duration_secs("t", "1w").is_err());
        assert!(parse_duration_secs("t", "999999999999d").is_err());
        assert_eq!(format_duration_secs(86400), "1d");
        assert_eq!(format_duration_secs(5400), "90m");
    }

    #[test]
    fn profile_input_is_checked_field_by_field() {
        let base = ProfileInput { name: "p".into(), credential_type: "x509".into(), max_ttl: "30d".into(), ..Default::default() };
        let spec = base.parse().unwrap();
        assert_eq!(spec.default_ttl_seconds, 86400);
        assert_eq!(spec.key_algorithms.len(), 3);

        let mut p = base.clone();
        p.default_ttl = Some("31d".into());
        assert_eq!(p.parse().unwrap_err().field, "default_ttl");
        let mut p = base.clone();
        p.key_algorithms = vec!["dsa".into()];
        assert_eq!(p.parse().unwrap_err().field, "key_algorithms[0]");
        let mut p = base.clone();
        p.names.ip = vec!["10.0.0.0/99".into()];
        assert_eq!(p.parse().unwrap_err().field, "names.ip[0]");
        let mut p = base.clone();
        p.path_len = Some(0);
        assert_eq!(p.parse().unwrap_err().field, "path_len");
        let mut p = base.clone();
        p.credential_type = "X 509".into();
        assert_eq!(p.parse().unwrap_err().field, "credential_type");
        let mut p = base;
        p.require_names = true;
        assert_eq!(p.parse().unwrap_err().field, "require_names");
    }

    #[test]
    fn the_fresh_approver_window_defaults_to_7_days_is_bounded_and_can_be_off() {
        let with = |w: Option<&str>| {
            let a = ApprovalsInput { required: 1, group: "sec".into(), expires_after: None, fresh_approver_window: w.map(str::to_string) };
            ProfileInput {
                name: "p".into(),
                credential_type: "x509".into(),
                max_ttl: "1d".into(),
                approvals: Some(a),
                ..Default::default()
            }
            .parse()
            .map(|s| s.approvals.map(|a| a.fresh_approver_window_seconds))
        };
        assert_eq!(with(None).unwrap(), Some(7 * 86400));
        assert_eq!(with(Some("0")).unwrap(), Some(0));
        assert_eq!(with(Some("0d")).unwrap(), Some(0));
        assert_eq!(with(Some("90d")).unwrap(), Some(90 * 86400));
        assert_eq!(with(Some("91d")).unwrap_err().field, "approvals.fresh_approver_window");
        assert_eq!(with(Some("soon")).unwrap_err().field, "approvals.fresh_approver_window");
        // A rule stored before the window existed reads back with the default.
        let old: ApprovalRule = serde_json::from_str(r#"{"required":1,"group":"sec","expires_after_seconds":60}"#).unwrap();
        assert_eq!(old.fresh_approver_window_seconds, DEFAULT_FRESH_APPROVER_WINDOW_SECONDS);
    }
}
