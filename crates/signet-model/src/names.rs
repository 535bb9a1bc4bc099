//! Subject alternative names and the patterns a profile allows them by.
//!
//! Names arrive from CSRs and API bodies; [`SanSet::parse`] turns them into
//! normalised, validated values. [`NamePattern`] and [`IpRange`] are what a
//! profile allows; [`NameRules::check`] is the single place where a requested
//! name is matched against what a profile permits.

use crate::FieldError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;

/// Cut user input for quoting in an error message.
pub fn shorten(s: &str) -> String {
    const MAX: usize = 80;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let cut: String = s.chars().take(MAX).collect();
        format!("{cut}…")
    }
}

/// The subject alternative names one credential asks for (or was granted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SanSet {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<String>)]
    pub ip: Vec<IpAddr>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uri: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub email: Vec<String>,
}

impl SanSet {
    pub fn is_empty(&self) -> bool {
        self.dns.is_empty() && self.ip.is_empty() && self.uri.is_empty() && self.email.is_empty()
    }

    pub fn len(&self) -> usize {
        self.dns.len() + self.ip.len() + self.uri.len() + self.email.len()
    }

    /// Validate and normalise every name; `field` is the path of this set in
    /// the request (`names`, or `csr` when the names came from a CSR).
    /// Duplicates are refused rather than silently merged: a request that
    /// names the same thing twice is a client bug worth surfacing.
    pub fn parse(field: &str, dns: &[String], ip: &[String], uri: &[String], email: &[String]) -> Result<Self, FieldError> {
        const MAX_NAMES: usize = 100;
        let total = dns.len() + ip.len() + uri.len() + email.len();
        if total > MAX_NAMES {
            return Err(FieldError::new(field, format!("{total} names requested; at most {MAX_NAMES} are allowed")));
        }
        let mut out = SanSet::default();
        for (i, d) in dns.iter().enumerate() {
            let f = format!("{field}.dns[{i}]");
            let norm = parse_dns_name(&f, d)?;
            if out.dns.contains(&norm) {
                return Err(FieldError::new(f, format!("duplicate name `{}`", shorten(d))));
            }
            out.dns.push(norm);
        }
        for (i, s) in ip.iter().enumerate() {
            let f = format!("{field}.ip[{i}]");
            let addr: IpAddr = s.trim().parse().map_err(|_| FieldError::new(&f, format!("`{}` is not an IP address", shorten(s))))?;
            if out.ip.contains(&addr) {
                return Err(FieldError::new(f, format!("duplicate address `{}`", shorten(s))));
            }
            out.ip.push(addr);
        }
        for (i, u) in uri.iter().enumerate() {
            let f = format!("{field}.uri[{i}]");
            let norm = parse_uri(&f, u)?;
            if out.uri.contains(&norm) {
                return Err(FieldError::new(f, format!("duplicate URI `{}`", shorten(u))));
            }
            out.uri.push(norm);
        }
        for (i, e) in email.iter().enumerate() {
            let f = format!("{field}.email[{i}]");
            let norm = parse_email(&f, e)?;
            if out.email.contains(&norm) {
                return Err(FieldError::new(f, format!("duplicate email `{}`", shorten(e))));
            }
            out.email.push(norm);
        }
        Ok(out)
    }
}

/// A DNS name as it may appear in a certificate: LDH labels, lower-cased, no
/// trailing dot, at most 253 octets. A leading `*.` wildcard label is allowed
/// (the profile decides whether a wildcard may be granted).
pub fn parse_dns_name(field: &str, s: &str) -> Result<String, FieldError> {
    let bad = |why: &str| FieldError::new(field, format!("`{}` is not a valid DNS name: {why}", shorten(s)));
    let name = s.strip_suffix('.').unwrap_or(s).to_ascii_lowercase();
    if name.is_empty() {
        return Err(bad("it is empty"));
    }
    if name.len() > 253 {
        return Err(bad("longer than 253 characters"));
    }
    for (i, label) in name.split('.').enumerate() {
        if label == "*" && i == 0 && name.contains('.') {
            continue;
        }
        if label.is_empty() {
            return Err(bad("empty label"));
        }
        if label.len() > 63 {
            return Err(bad("a label is longer than 63 characters"));
        }
        if !label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(bad("only letters, digits, `-` and `.` are allowed"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(bad("a label starts or ends with `-`"));
        }
    }
    Ok(name)
}

/// A URI SAN: `scheme:rest` with an ASCII scheme and no whitespace or control
/// characters. SPIFFE IDs (`spiffe://trust-domain/path`) get the stricter
/// checks of the SPIFFE ID specification.
pub fn parse_uri(field: &str, s: &str) -> Result<String, FieldError> {
    let bad = |why: &str| FieldError::new(field, format!("`{}` is not a valid URI: {why}", shorten(s)));
    if s.len() > 2048 {
        return Err(bad("longer than 2048 characters"));
    }
    let (scheme, rest) = s.split_once(':').ok_or_else(|| bad("no scheme"))?;
    if scheme.is_empty()
        || !scheme.as_bytes()[0].is_ascii_alphabetic()
        || !scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.')
    {
        return Err(bad("invalid scheme"));
    }
    if rest.is_empty() || s.bytes().any(|b| b <= b' ' || b >= 0x7f) {
        return Err(bad("empty, or contains spaces or non-ASCII characters"));
    }
    let scheme = scheme.to_ascii_lowercase();
    if scheme == "spiffe" {
        let body = rest.strip_prefix("//").ok_or_else(|| bad("a SPIFFE ID is `spiffe://trust-domain/path`"))?;
        let (td, path) = match body.split_once('/') {
            Some((td, p)) => (td, Some(p)),
            None => (body, None),
        };
        if td.is_empty() || !td.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-' || b == b'_') {
            return Err(bad("the SPIFFE trust domain must be lower-case letters, digits, `.`, `-` or `_`"));
        }
        if let Some(p) = path {
            for seg in p.split('/') {
                if seg.is_empty() || seg == "." || seg == ".." {
                    return Err(bad("a SPIFFE path has an empty, `.` or `..` segment"));
                }
                if !seg.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_') {
                    return Err(bad("a SPIFFE path segment may hold only letters, digits, `.`, `-` and `_`"));
                }
            }
        }
        if s.contains('?') || s.contains('#') {
            return Err(bad("a SPIFFE ID has no query or fragment"));
        }
        return Ok(format!("spiffe://{body}"));
    }
    Ok(format!("{scheme}:{rest}"))
}

/// An RFC 822 mailbox for an rfc822Name SAN: `local@domain`, ASCII only, the
/// domain lower-cased and a valid DNS name.
pub fn parse_email(field: &str, s: &str) -> Result<String, FieldError> {
    let bad = |why: &str| FieldError::new(field, format!("`{}` is not a valid email address: {why}", shorten(s)));
    let (local, domain) = s.rsplit_once('@').ok_or_else(|| bad("no `@`"))?;
    if local.is_empty() || local.len() > 64 {
        return Err(bad("the local part is empty or longer than 64 characters"));
    }
    if !local.bytes().all(|b| b.is_ascii_graphic() && b != b'@' && b != b'"' && b != b'\\') {
        return Err(bad("the local part has characters that are not allowed"));
    }
    let domain = parse_dns_name(field, domain).map_err(|_| bad("the domain is not a valid DNS name"))?;
    if domain.starts_with("*.") {
        return Err(bad("the domain cannot be a wildcard"));
    }
    Ok(format!("{local}@{domain}"))
}

/// A pattern a profile allows names by.
///
/// `*` matches exactly one DNS label (or one URI path segment, or a whole
/// email local part); `**` matches one or more labels (or segments). Anything
/// else matches itself, case-insensitively for DNS names. The placeholder
/// `{subject}` stands for the requesting subject's name, so one profile can
/// give each workload only its own names (`{subject}.svc.internal`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct NamePattern(String);

impl NamePattern {
    pub fn parse(field: &str, s: &str) -> Result<Self, FieldError> {
        if s.is_empty() || s.len() > 512 || s.bytes().any(|b| b <= b' ' || b >= 0x7f) {
            return Err(FieldError::new(field, format!("`{}` is not a valid name pattern", shorten(s))));
        }
        Ok(Self(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Does `name` match, with `sep` the separator `*` may not cross?
    pub fn matches(&self, name: &str, sep: char, subject_name: &str) -> bool {
        let pattern = self.0.replace("{subject}", subject_name);
        glob_match(&pattern, name, sep)
    }
}

impl fmt::Display for NamePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Segment-wise glob match: pattern and name split on `sep`; `*` is one whole
/// segment, `**` one or more whole segments. A `*` inside a segment (`web-*`)
/// matches any run of characters within that segment.
fn glob_match(pattern: &str, name: &str, sep: char) -> bool {
    let p: Vec<&str> = pattern.split(sep).collect();
    let n: Vec<&str> = name.split(sep).collect();
    match_segments(&p, &n, sep == '.')
}

fn match_segments(p: &[&str], n: &[&str], case_insensitive: bool) -> bool {
    match (p.first(), n.first()) {
        (None, None) => true,
        (None, Some(_)) | (Some(_), None) => false,
        (Some(&"**"), Some(_)) => (1..=n.len()).any(|k| match_segments(&p[1..], &n[k..], case_insensitive)),
        (Some(ps), Some(ns)) => segment_match(ps, ns, case_insensitive) && match_segments(&p[1..], &n[1..], case_insensitive),
    }
}

fn segment_match(p: &str, n: &str, ci: bool) -> bool {
    // A `*` in the requested name (a wildcard certificate) matches only a
    // whole-segment `*` in the pattern; whether wildcards may be granted at
    // all is the profile's `allow_wildcards`, checked in `NameRules::check`.
    // An empty segment (the one between the slashes of `spiffe://`) matches
    // only an empty one: no wildcard matches nothing.
    if n.is_empty() {
        return p.is_empty();
    }
    let eq = |a: &str, b: &str| if ci { a.eq_ignore_ascii_case(b) } else { a == b };
    if p == "*" {
        return true;
    }
    if n.contains('*') {
        return false;
    }
    match p.split_once('*') {
        None => eq(p, n),
        Some((pre, post)) => {
            if post.contains('*') {
                return false;
            }
            n.len() >= pre.len() + post.len() && eq(&n[..pre.len()], pre) && eq(&n[n.len() - post.len()..], post)
        }
    }
}

/// An IP range a profile allows addresses from, in CIDR form (`10.0.0.0/8`,
/// `::1/128`); a bare address means just that address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IpRange {
    net: IpAddr,
    prefix: u8,
}

impl IpRange {
    pub fn parse(field: &str, s: &str) -> Result<Self, FieldError> {
        let bad =
            || FieldError::new(field, format!("`{}` is not an IP range: expected an address or CIDR such as `10.0.0.0/8`", shorten(s)));
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let net: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().map_err(|_| bad())?,
            None => max,
        };
        if prefix > max {
            return Err(bad());
        }
        if mask(net, prefix) != net {
            return Err(FieldError::new(field, format!("`{}` has host bits set after the prefix", shorten(s))));
        }
        Ok(Self { net, prefix })
    }

    pub fn contains(&self, addr: &IpAddr) -> bool {
        addr.is_ipv4() == self.net.is_ipv4() && mask(*addr, self.prefix) == self.net
    }
}

fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            let m = if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix)) };
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            let m = if prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(prefix)) };
            IpAddr::V6((bits & m).into())
        }
    }
}

impl utoipa::PartialSchema for IpRange {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("an IP address or CIDR range, such as `10.0.0.0/8`"))
            .into()
    }
}
impl utoipa::ToSchema for IpRange {}

impl TryFrom<String> for IpRange {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse("ip", &s).map_err(|e| e.reason)
    }
}

impl From<IpRange> for String {
    fn from(r: IpRange) -> String {
        r.to_string()
    }
}

impl fmt::Display for IpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.net, self.prefix)
    }
}

/// What a profile allows, per SAN kind. An empty list allows none of that kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NameRules {
    #[serde(default)]
    pub dns: Vec<NamePattern>,
    #[serde(default)]
    pub ip: Vec<IpRange>,
    #[serde(default)]
    pub uri: Vec<NamePattern>,
    #[serde(default)]
    pub email: Vec<NamePattern>,
    /// May a DNS name be a wildcard (`*.example.com`)? Off by default.
    #[serde(default)]
    pub allow_wildcards: bool,
}

impl NameRules {
    /// The one place a requested name is matched against a profile. Returns
    /// the first name not allowed, as a field error under `field`.
    pub fn check(&self, field: &str, names: &SanSet, subject_name: &str) -> Result<(), FieldError> {
        for (i, d) in names.dns.iter().enumerate() {
            if d.starts_with("*.") && !self.allow_wildcards {
                return Err(FieldError::new(format!("{field}.dns[{i}]"), format!("wildcard name `{d}` is not allowed by the profile")));
            }
            if !self.dns.iter().any(|p| p.matches(d, '.', subject_name)) {
                return Err(FieldError::new(format!("{field}.dns[{i}]"), format!("DNS name `{d}` is not allowed by the profile")));
            }
        }
        for (i, a) in names.ip.iter().enumerate() {
            if !self.ip.iter().any(|r| r.contains(a)) {
                return Err(FieldError::new(format!("{field}.ip[{i}]"), format!("IP address `{a}` is not allowed by the profile")));
            }
        }
        for (i, u) in names.uri.iter().enumerate() {
            if !self.uri.iter().any(|p| p.matches(u, '/', subject_name)) {
                return Err(FieldError::new(format!("{field}.uri[{i}]"), format!("URI `{}` is not allowed by the profile", shorten(u))));
            }
        }
        for (i, e) in names.email.iter().enumerate() {
            let ok = self.email.iter().any(|p| match (p.as_str().rsplit_once('@'), e.rsplit_once('@')) {
                (Some((pl, pd)), Some((el, ed))) => {
                    let pl = pl.replace("{subject}", subject_name);
                    (pl == "*" || pl == el) && NamePattern(pd.to_string()).matches(ed, '.', subject_name)
                }
                _ => false,
            });
            if !ok {
                return Err(FieldError::new(
                    format!("{field}.email[{i}]"),
                    format!("email `{}` is not allowed by the profile", shorten(e)),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pat(s: &str) -> NamePattern {
        NamePattern::parse("p", s).unwrap()
    }

    #[test]
    fn dns_names_are_normalised_and_checked() {
        assert_eq!(parse_dns_name("d", "WWW.Example.COM.").unwrap(), "www.example.com");
        assert!(parse_dns_name("d", "").is_err());
        assert!(parse_dns_name("d", "a..b").is_err());
        assert!(parse_dns_name("d", "-a.b").is_err());
        assert!(parse_dns_name("d", "a_b.c").is_err());
        assert!(parse_dns_name("d", "a.*.c").is_err());
        assert!(parse_dns_name("d", &"a".repeat(64)).is_err());
        assert_eq!(parse_dns_name("d", "*.example.com").unwrap(), "*.example.com");
        assert!(parse_dns_name("d", "*").is_err());
    }

    #[test]
    fn glob_patterns() {
        assert!(pat("*.example.com").matches("www.example.com", '.', "s"));
        assert!(!pat("*.example.com").matches("a.b.example.com", '.', "s"));
        assert!(!pat("*.example.com").matches("example.com", '.', "s"));
        assert!(pat("**.example.com").matches("a.b.example.com", '.', "s"));
        assert!(!pat("**.example.com").matches("example.com", '.', "s"));
        assert!(!pat("**.example.com").matches("evil-example.com", '.', "s"));
        assert!(pat("web-*.internal").matches("web-01.internal", '.', "s"));
        assert!(!pat("web-*.internal").matches("db-01.internal", '.', "s"));
        assert!(pat("{subject}.svc.internal").matches("api.svc.internal", '.', "api"));
        assert!(!pat("{subject}.svc.internal").matches("db.svc.internal", '.', "api"));
        assert!(pat("spiffe://example.org/ns/*/sa/*").matches("spiffe://example.org/ns/prod/sa/web", '/', "s"));
        assert!(!pat("spiffe://example.org/ns/*/sa/*").matches("spiffe://example.org/ns/prod/sa/web/x", '/', "s"));
        assert!(!pat("spiffe://example.org/ns/*/sa/*").matches("spiffe://example.org/ns//sa/web", '/', "s"));
        assert!(!pat("spiffe://example.org/**").matches("spiffe://other.org/x", '/', "s"));
        assert!(pat("spiffe://example.org/**").matches("spiffe://example.org/a/b", '/', "s"));
        // A wildcard name only matches a whole-segment `*`.
        assert!(pat("*.example.com").matches("*.example.com", '.', "s"));
        assert!(!pat("web-*.example.com").matches("*.example.com", '.', "s"));
    }

    #[test]
    fn ip_ranges() {
        let r = IpRange::parse("ip", "10.0.0.0/8").unwrap();
        assert!(r.contains(&"10.1.2.3".parse().unwrap()));
        assert!(!r.contains(&"11.0.0.1".parse().unwrap()));
        assert!(!r.contains(&"::1".parse().unwrap()));
        assert!(IpRange::parse("ip", "10.0.0.1/8").is_err());
        assert!(IpRange::parse("ip", "10.0.0.0/33").is_err());
        let one = IpRange::parse("ip", "::1").unwrap();
        assert!(one.contains(&"::1".parse().unwrap()));
        assert_eq!(one.to_string(), "::1/128");
    }

    #[test]
    fn san_sets_refuse_duplicates_and_junk() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let e = SanSet::parse("names", &s(&["a.example", "A.example"]), &[], &[], &[]).unwrap_err();
        assert_eq!(e.field, "names.dns[1]");
        assert!(e.reason.contains("duplicate"));
        let e = SanSet::parse("names", &[], &s(&["1.2.3"]), &[], &[]).unwrap_err();
        assert_eq!(e.field, "names.ip[0]");
        let e = SanSet::parse("names", &[], &[], &s(&["spiffe://Example/x"]), &[]).unwrap_err();
        assert_eq!(e.field, "names.uri[0]");
        assert!(SanSet::parse("names", &[], &[], &s(&["spiffe://example.org/ns/a"]), &[]).is_ok());
        assert!(SanSet::parse("names", &[], &[], &s(&["spiffe://example.org/a/../b"]), &[]).is_err());
        assert!(SanSet::parse("names", &[], &[], &[], &s(&["ops@Example.org"])).is_ok());
        assert!(SanSet::parse("names", &[], &[], &[], &s(&["opsexample.org"])).is_err());
    }

    #[test]
    fn rules_check_names_the_failing_field() {
        let rules = NameRules {
            dns: vec![pat("*.internal")],
            ip: vec![IpRange::parse("ip", "127.0.0.0/8").unwrap()],
            uri: vec![],
            email: vec![pat("*@example.org")],
            allow_wildcards: false,
        };
        let mut n = SanSet { dns: vec!["a.internal".into()], ..Default::default() };
        assert!(rules.check("names", &n, "s").is_ok());
        n.dns.push("evil.com".into());
        assert_eq!(rules.check("names", &n, "s").unwrap_err().field, "names.dns[1]");
        let n = SanSet { dns: vec!["*.internal".into()], ..Default::default() };
        assert!(rules.check("names", &n, "s").unwrap_err().reason.contains("wildcard"));
        let n = SanSet { uri: vec!["spiffe://x/y".into()], ..Default::default() };
        assert_eq!(rules.check("names", &n, "s").unwrap_err().field, "names.uri[0]");
        let n = SanSet { email: vec!["a@example.org".into()], ip: vec!["127.0.0.2".parse().unwrap()], ..Default::default() };
        assert!(rules.check("names", &n, "s").is_ok());
        let n = SanSet { email: vec!["a@example.com".into()], ..Default::default() };
        assert!(rules.check("names", &n, "s").is_err());
    }
}
