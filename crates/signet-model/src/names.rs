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
///
/// Internationalised names are accepted only as A-labels (`xn--…`), and only
/// valid ones: see [`label_problem`]. A name in Unicode is refused, not
/// converted, so that what is asked is exactly what is signed.
pub fn parse_dns_name(field: &str, s: &str) -> Result<String, FieldError> {
    dns_name(s).map_err(|why| FieldError::new(field, format!("`{}` is not a valid DNS name: {why}", shorten(s))))
}

/// The normalised DNS name, or why `s` is not one.
fn dns_name(s: &str) -> Result<String, String> {
    let name = s.strip_suffix('.').unwrap_or(s).to_ascii_lowercase();
    if name.is_empty() {
        return Err("it is empty".into());
    }
    if name.len() > 253 {
        return Err("longer than 253 characters".into());
    }
    let mut idn = false;
    for (i, label) in name.split('.').enumerate() {
        if label == "*" && i == 0 && name.contains('.') {
            continue;
        }
        if let Some(why) = label_problem(label) {
            return Err(why);
        }
        idn |= is_a_label(label);
    }
    // The bidi rule (RFC 5893) looks at the whole name, not one label: run
    // the name through IDNA once more and ask for it back unchanged.
    if idn {
        let bare = name.strip_prefix("*.").unwrap_or(&name);
        match idna_to_ascii(bare) {
            Some(a) if a == bare => {}
            _ => return Err("its labels together break the IDNA bidi rule (RFC 5893)".into()),
        }
    }
    Ok(name)
}

/// Why `label` is not a valid DNS label, if it is not: 1 to 63 letters,
/// digits and `-`, not starting or ending with `-`. A label with `--` in its
/// third and fourth positions is reserved (RFC 5891 section 4.2.3.1) unless it is
/// an `xn--` A-label, which must be valid (see [`a_label_problem`]).
/// `label` is lower case, as [`parse_dns_name`] makes it.
pub fn label_problem(label: &str) -> Option<String> {
    if label.is_empty() {
        return Some("empty label".into());
    }
    if label.len() > 63 {
        return Some("a label is longer than 63 characters".into());
    }
    if !label.is_ascii() {
        return Some("non-ASCII characters: write an internationalised name as its A-label (`xn--…`)".into());
    }
    if !label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Some("only letters, digits, `-` and `.` are allowed".into());
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Some("a label starts or ends with `-`".into());
    }
    if label.get(2..4) == Some("--") {
        if is_a_label(label) {
            return a_label_problem(label);
        }
        return Some(format!(
            "`{label}` is a reserved label: `--` in the third and fourth positions is only for `xn--` A-labels (RFC 5891 section 4.2.3.1)"
        ));
    }
    None
}

fn is_a_label(label: &str) -> bool {
    label.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("xn--"))
}

/// Why an `xn--` label (lower case) is not a valid A-label, if it is not: its
/// Punycode must decode, to something that is not plain ASCII, that IDNA2008
/// as UTS #46 puts it (nontransitional, STD3 rules, hyphen checks) allows,
/// and that encodes back to exactly this label.
fn a_label_problem(label: &str) -> Option<String> {
    let Some(unicode) = label.get(4..).and_then(idna::punycode::decode_to_string) else {
        return Some(format!("`{label}` is not a valid A-label: its Punycode does not decode"));
    };
    if unicode.is_ascii() {
        return Some(format!("`{label}` is not a valid A-label: it decodes to plain ASCII"));
    }
    if let Some(c) = unicode.chars().find(|c| !idna2008_letter_digit(*c)) {
        return Some(format!(
            "`{label}` is not a valid A-label: it decodes to `{}`, and IDNA2008 (RFC 5892) does not allow `{}` in a label",
            escape_label(&unicode),
            escape_label(&c.to_string())
        ));
    }
    match idna_to_ascii(&unicode) {
        None => Some(format!(
            "`{label}` is not a valid A-label: it decodes to `{}`, which IDNA2008 (UTS #46) does not allow in a domain name",
            escape_label(&unicode)
        )),
        Some(again) if again != label => Some(format!(
            "`{label}` is not a valid A-label: it decodes to `{}`, whose A-label is `{again}`, not `{label}`",
            escape_label(&unicode)
        )),
        Some(_) => None,
    }
}

/// May `c` stand in an IDNA2008 U-label, as far as its general category
/// tells (RFC 5892 section 2)? UTS #46, which [`idna_to_ascii`] applies, allows
/// symbols and punctuation (emoji among them) that IDNA2008 does not: only
/// letters, marks and decimal digits (the LetterDigits category), `-`, the
/// exceptions of RFC 5892 section 2.6 and the joiners (their context is
/// UTS #46's CheckJoiners), and none of the code points and blocks IDNA2008
/// sets apart (old Hangul jamo, the combining marks for symbols, musical
/// notation). Stability under NFKC case folding, unassigned code points
/// and the joiners' context are left to UTS #46.
fn idna2008_letter_digit(c: char) -> bool {
    use icu_properties::CodePointMapData;
    use icu_properties::props::GeneralCategory as Gc;
    let cp = u32::from(c);
    // PVALID and CONTEXTO exceptions (RFC 5892 section 2.6), and the CONTEXTJ joiners.
    const ALLOWED: [u32; 13] = [0xDF, 0x3C2, 0x6FD, 0x6FE, 0xF0B, 0x3007, 0xB7, 0x375, 0x5F3, 0x5F4, 0x30FB, 0x200C, 0x200D];
    // DISALLOWED exceptions (section 2.6), OldHangulJamo (2.9) and IgnorableBlocks (2.8).
    const REFUSED: [(u32, u32); 11] = [
        (0x640, 0x640),
        (0x7FA, 0x7FA),
        (0x302E, 0x302F),
        (0x3031, 0x3035),
        (0x303B, 0x303B),
        (0x1100, 0x11FF),
        (0xA960, 0xA97F),
        (0xD7B0, 0xD7FF),
        (0x20D0, 0x20FF),
        (0x1D100, 0x1D1FF),
        (0x1D200, 0x1D24F),
    ];
    if c == '-' || ALLOWED.contains(&cp) {
        return true;
    }
    if REFUSED.iter().any(|(lo, hi)| (*lo..=*hi).contains(&cp)) {
        return false;
    }
    matches!(CodePointMapData::<Gc>::new().get(c), Gc::Ll | Gc::Lu | Gc::Lo | Gc::Lm | Gc::Mn | Gc::Mc | Gc::Nd)
}

/// UTS #46 ToASCII with the strict settings: STD3 ASCII rules, hyphen
/// checks, DNS lengths, nontransitional (the only mode of the `idna` crate).
fn idna_to_ascii(name: &str) -> Option<String> {
    use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};
    Uts46::new().to_ascii(name.as_bytes(), AsciiDenyList::STD3, Hyphens::Check, DnsLength::Verify).ok().map(|a| a.into_owned())
}

/// A decoded label safe to quote: printable ASCII as is, anything else as
/// `\u{…}`, so that control and bidi characters never reach a message.
fn escape_label(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_graphic() { c.to_string() } else { format!("\\u{{{:x}}}", u32::from(c)) }).collect()
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
    let domain = dns_name(domain).map_err(|why| bad(&format!("the domain is not a valid DNS name: {why}")))?;
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
/// give each workload only its own names (`{subject}.svc.internal`); where it
/// may stand, and which subject names it can stand for, is in
/// [`NamePattern::subject_slot`] and [`subject_value_problem`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct NamePattern(String);

/// The placeholder for the requesting subject's name in a [`NamePattern`].
pub const SUBJECT_PLACEHOLDER: &str = "{subject}";

/// The kinds of name a pattern is for: how it splits, and what `{subject}`
/// may stand for in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// Labels split on `.`; the root is on the right.
    Dns,
    /// Segments split on `/`; the root (scheme, authority) is on the left.
    Uri,
    /// `local@domain`: `{subject}` may only be the whole local part.
    Email,
}

impl NameKind {
    fn separator(self) -> char {
        match self {
            Self::Dns | Self::Email => '.',
            Self::Uri => '/',
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Self::Dns => "DNS label",
            Self::Uri => "URI path segment",
            Self::Email => "email local part",
        }
    }
}

/// Where `{subject}` stands in a DNS or URI pattern: the segments between the
/// root of the name and it, root first (DNS: the labels on its right, the
/// last first; URI: the segments on its left), and the text before it in its
/// own segment (`urn:signet:operator:`; always empty in DNS patterns).
///
/// Every name a pattern gives a subject has that subject's name at this one
/// place, so two subjects' names from one pattern differ there: neither can
/// equal the other, nor lie under it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SubjectSlot<'a> {
    root: Vec<&'a str>,
    prefix: &'a str,
}

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

    fn has_subject(&self) -> bool {
        self.0.contains(SUBJECT_PLACEHOLDER)
    }

    /// Where `{subject}` stands in this pattern (`None`: nowhere), or why it
    /// may not stand where it does. The rules, so that a subject's names sit
    /// at one fixed place under a fixed parent:
    /// - at most once;
    /// - DNS: a whole label (`{subject}.svc.internal`, not `web-{subject}`),
    ///   with no `**` on its right;
    /// - URI: at the end of a path segment, after a `/` or a `:`
    ///   (`spiffe://example.org/ci/{subject}`, `urn:example:{subject}`), with
    ///   no `*` in that segment, no `**` on its left, and neither in the
    ///   scheme nor in the authority;
    /// - email: the whole local part (`{subject}@example.org`).
    fn subject_slot(&self, kind: NameKind) -> Result<Option<SubjectSlot<'_>>, String> {
        let s = self.0.as_str();
        match s.matches(SUBJECT_PLACEHOLDER).count() {
            0 => return Ok(None),
            1 => {}
            _ => return Err("`{subject}` may appear only once in a pattern".into()),
        }
        match kind {
            NameKind::Dns => {
                let labels: Vec<&str> = s.split('.').collect();
                let at = labels.iter().position(|l| l.contains(SUBJECT_PLACEHOLDER)).unwrap_or(0);
                if labels[at] != SUBJECT_PLACEHOLDER {
                    return Err("`{subject}` must be a whole label, as in `{subject}.svc.internal`".into());
                }
                let root: Vec<&str> = labels[at + 1..].iter().rev().copied().collect();
                if root.contains(&"**") {
                    return Err("`**` may not stand on the right of `{subject}`: a subject's names must sit at one depth".into());
                }
                Ok(Some(SubjectSlot { root, prefix: "" }))
            }
            NameKind::Uri => {
                let segments: Vec<&str> = s.split('/').collect();
                let at = segments.iter().position(|g| g.contains(SUBJECT_PLACEHOLDER)).unwrap_or(0);
                let segment = segments[at];
                let prefix = segment.strip_suffix(SUBJECT_PLACEHOLDER).filter(|p| p.is_empty() || p.ends_with(':')).ok_or(
                    "`{subject}` must be a whole path segment (`spiffe://example.org/ci/{subject}`) or end one after a `:` (`urn:example:{subject}`)",
                )?;
                if prefix.contains('*') {
                    return Err("no `*` may share a path segment with `{subject}`".into());
                }
                if at == 0 && prefix.is_empty() {
                    return Err("`{subject}` cannot be the scheme of a URI".into());
                }
                if at == 2 && segments[0].ends_with(':') && segments[1].is_empty() {
                    return Err("`{subject}` cannot stand in the authority of a URI: put it in the path".into());
                }
                let root = segments[..at].to_vec();
                if root.contains(&"**") {
                    return Err("`**` may not stand on the left of `{subject}`: a subject's names must sit at one depth".into());
                }
                Ok(Some(SubjectSlot { root, prefix }))
            }
            NameKind::Email => match s.rsplit_once('@') {
                Some((SUBJECT_PLACEHOLDER, _)) => Ok(Some(SubjectSlot { root: Vec::new(), prefix: "" })),
                _ => Err("`{subject}` may only be the whole local part of an email pattern (`{subject}@example.org`)".into()),
            },
        }
    }

    /// Does `name` match, with `sep` the separator `*` may not cross (`.` for
    /// DNS names, `/` for URIs)? A pattern that puts `{subject}` where it may
    /// not stand, or a subject name `{subject}` cannot stand for, matches
    /// nothing.
    pub fn matches(&self, name: &str, sep: char, subject_name: &str) -> bool {
        let kind = if sep == '/' { NameKind::Uri } else { NameKind::Dns };
        let subject = match self.subject_slot(kind) {
            Err(_) => return false,
            Ok(None) => None,
            Ok(Some(_)) if subject_value_problem(kind, subject_name).is_some() => return false,
            Ok(Some(_)) => Some(subject_name),
        };
        self.matches_for(name, kind, subject)
    }

    /// The match itself, with `subject` the value `{subject}` stands for
    /// (`None`: the pattern matches no name that needs one).
    fn matches_for(&self, name: &str, kind: NameKind, subject: Option<&str>) -> bool {
        let sep = kind.separator();
        let p: Vec<&str> = self.0.split(sep).collect();
        let n: Vec<&str> = name.split(sep).collect();
        match_segments(&p, &n, kind != NameKind::Uri, subject)
    }
}

/// Why the subject name `name` cannot stand for `{subject}` in a pattern of
/// this kind, if it cannot: in a DNS pattern it must be exactly one valid DNS
/// label (no dots), in a URI pattern one path segment of unreserved
/// characters (no `/`, `:`, `.` or `..`), in an email pattern a local part.
/// Subject names may hold dots; such a subject gets no name from a
/// `{subject}` DNS pattern, or `foo.web-b` could take the names of `web-b`.
pub fn subject_value_problem(kind: NameKind, name: &str) -> Option<String> {
    let why = match kind {
        NameKind::Dns if name.contains('.') => Some("it has dots".to_string()),
        NameKind::Dns => label_problem(&name.to_ascii_lowercase()),
        NameKind::Uri => (name.is_empty()
            || name == "."
            || name == ".."
            || !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')))
        .then(|| "only letters, digits, `-`, `.`, `_` and `~` may form a path segment".to_string()),
        NameKind::Email => {
            (name.is_empty() || name.len() > 64 || !name.bytes().all(|b| b.is_ascii_graphic() && b != b'@' && b != b'"' && b != b'\\'))
                .then(|| "it cannot be a local part".to_string())
        }
    };
    why.map(|why| {
        format!("`{{subject}}` stands for exactly one {}, and the subject name `{}` is not one: {why}", kind.noun(), shorten(name))
    })
}

/// Segment-wise glob match: `*` is one whole segment, `**` one or more whole
/// segments. A `*` inside a segment (`web-*`) matches any run of characters
/// within that segment. A segment ending in `{subject}` matches its text
/// before the placeholder followed by exactly the subject's name.
fn match_segments(p: &[&str], n: &[&str], case_insensitive: bool, subject: Option<&str>) -> bool {
    match (p.first(), n.first()) {
        (None, None) => true,
        (None, Some(_)) | (Some(_), None) => false,
        (Some(&"**"), Some(_)) => (1..=n.len()).any(|k| match_segments(&p[1..], &n[k..], case_insensitive, subject)),
        (Some(ps), Some(ns)) => {
            segment_match(ps, ns, case_insensitive, subject) && match_segments(&p[1..], &n[1..], case_insensitive, subject)
        }
    }
}

fn segment_match(p: &str, n: &str, ci: bool, subject: Option<&str>) -> bool {
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
    if p.contains(SUBJECT_PLACEHOLDER) {
        // Only `prefix{subject}` gets here (`NamePattern::subject_slot`).
        return match (p.strip_suffix(SUBJECT_PLACEHOLDER), subject) {
            (Some(prefix), Some(subject)) => {
                n.len() == prefix.len() + subject.len() && eq(&n[..prefix.len()], prefix) && eq(&n[prefix.len()..], subject)
            }
            _ => false,
        };
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

/// Can a name one of these two `{subject}` patterns gives a subject equal,
/// or lie under, a name the other gives another subject? Only when they put
/// the subject at different depths (at one depth the two names differ where
/// the subject stands, as the prefixes end in `:` and no subject value holds
/// one) and the shallower one's root can coincide with the deeper one's: then
/// the deeper pattern's segment at the shallower depth could be a subject's
/// name. Conservative: a segment with a `*` can be anything.
fn slots_conflict(kind: NameKind, a: &SubjectSlot<'_>, b: &SubjectSlot<'_>) -> bool {
    let (short, long) = if a.root.len() <= b.root.len() { (a, b) } else { (b, a) };
    let depth = short.root.len();
    if depth == long.root.len() {
        return false;
    }
    let compatible = |p: &str, q: &str| p.contains('*') || q.contains('*') || p.eq_ignore_ascii_case(q);
    if !short.root.iter().zip(&long.root).all(|(p, q)| compatible(p, q)) {
        return false;
    }
    let there = long.root[depth];
    let prefix = short.prefix;
    there.contains('*')
        || (there.len() >= prefix.len()
            && there.is_char_boundary(prefix.len())
            && there[..prefix.len()].eq_ignore_ascii_case(prefix)
            && subject_value_problem(kind, &there[prefix.len()..]).is_none())
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
    /// Check what a profile allows before it is stored: every label a DNS or
    /// email pattern spells out is a valid label ([`label_problem`]), and
    /// `{subject}` stands only where the rules of
    /// [`NamePattern::subject_slot`] allow, in patterns that cannot give one
    /// subject another's names. Errors name `names.dns[i]` (and so on).
    pub fn validate(&self) -> Result<(), FieldError> {
        let at = |kind: &str, i: usize, p: &NamePattern, why: String| {
            FieldError::new(format!("names.{kind}[{i}]"), format!("`{}` is not a valid pattern: {why}", shorten(p.as_str())))
        };
        for (i, p) in self.dns.iter().enumerate() {
            spelled_out_labels_problem(p.as_str()).map_or(Ok(()), |why| Err(at("dns", i, p, why)))?;
            p.subject_slot(NameKind::Dns).map_err(|why| at("dns", i, p, why))?;
        }
        for (i, p) in self.uri.iter().enumerate() {
            p.subject_slot(NameKind::Uri).map_err(|why| at("uri", i, p, why))?;
        }
        for (i, p) in self.email.iter().enumerate() {
            if let Some((_, domain)) = p.as_str().rsplit_once('@') {
                spelled_out_labels_problem(domain).map_or(Ok(()), |why| Err(at("email", i, p, why)))?;
            }
            p.subject_slot(NameKind::Email).map_err(|why| at("email", i, p, why))?;
        }
        for (kind, key, patterns) in [(NameKind::Dns, "dns", &self.dns), (NameKind::Uri, "uri", &self.uri)] {
            if let Some((i, j)) = subject_conflict(kind, patterns) {
                return Err(at(
                    key,
                    j,
                    &patterns[j],
                    format!(
                        "it puts `{{subject}}` at another depth than `{}`, so that one subject could be given names of another; \
                         put `{{subject}}` at one depth, or split the patterns into two profiles",
                        shorten(patterns[i].as_str())
                    ),
                ));
            }
        }
        Ok(())
    }

    /// What `{subject}` stands for in this profile's patterns of one kind:
    /// the subject's name, or why it stands for nothing (the patterns break
    /// the rules of [`NameRules::validate`], as a profile stored before them
    /// may, or the subject's name is not a single label or segment). Where
    /// it stands for nothing, the patterns that hold it match no name.
    fn subject_value<'a>(patterns: &[NamePattern], kind: NameKind, subject_name: &'a str) -> Result<&'a str, String> {
        for p in patterns {
            if let Err(why) = p.subject_slot(kind) {
                return Err(format!("the profile's pattern `{}` gives no name: {why}", shorten(p.as_str())));
            }
        }
        if let Some((i, j)) = subject_conflict(kind, patterns) {
            return Err(format!(
                "the profile's patterns `{}` and `{}` put `{{subject}}` at two depths, so they give no name",
                shorten(patterns[i].as_str()),
                shorten(patterns[j].as_str())
            ));
        }
        subject_value_problem(kind, subject_name).map_or(Ok(subject_name), Err)
    }

    /// The one place a requested name is matched against a profile. Returns
    /// the first name not allowed, as a field error under `field`.
    pub fn check(&self, field: &str, names: &SanSet, subject_name: &str) -> Result<(), FieldError> {
        // Why a refused name was not given by a `{subject}` pattern, when
        // the profile has one and it stands for nothing here.
        let unless = |patterns: &[NamePattern], value: &Result<&str, String>| match value {
            Err(why) if patterns.iter().any(NamePattern::has_subject) => {
                format!("; its `{{subject}}` patterns give this subject no name: {why}")
            }
            _ => String::new(),
        };
        let dns_subject = Self::subject_value(&self.dns, NameKind::Dns, subject_name);
        for (i, d) in names.dns.iter().enumerate() {
            if d.starts_with("*.") && !self.allow_wildcards {
                return Err(FieldError::new(format!("{field}.dns[{i}]"), format!("wildcard name `{d}` is not allowed by the profile")));
            }
            if !self.dns.iter().any(|p| p.matches_for(d, NameKind::Dns, dns_subject.as_ref().ok().copied())) {
                return Err(FieldError::new(
                    format!("{field}.dns[{i}]"),
                    format!("DNS name `{d}` is not allowed by the profile{}", unless(&self.dns, &dns_subject)),
                ));
            }
        }
        for (i, a) in names.ip.iter().enumerate() {
            if !self.ip.iter().any(|r| r.contains(a)) {
                return Err(FieldError::new(format!("{field}.ip[{i}]"), format!("IP address `{a}` is not allowed by the profile")));
            }
        }
        let uri_subject = Self::subject_value(&self.uri, NameKind::Uri, subject_name);
        for (i, u) in names.uri.iter().enumerate() {
            if !self.uri.iter().any(|p| p.matches_for(u, NameKind::Uri, uri_subject.as_ref().ok().copied())) {
                return Err(FieldError::new(
                    format!("{field}.uri[{i}]"),
                    format!("URI `{}` is not allowed by the profile{}", shorten(u), unless(&self.uri, &uri_subject)),
                ));
            }
        }
        let email_subject = Self::subject_value(&self.email, NameKind::Email, subject_name);
        for (i, e) in names.email.iter().enumerate() {
            let ok = self.email.iter().any(|p| match (p.as_str().rsplit_once('@'), e.rsplit_once('@')) {
                (Some((pl, pd)), Some((el, ed))) => {
                    let local = match pl {
                        "*" => true,
                        SUBJECT_PLACEHOLDER => email_subject.as_ref().is_ok_and(|s| *s == el),
                        literal => !literal.contains(SUBJECT_PLACEHOLDER) && literal == el,
                    };
                    local && NamePattern(pd.to_string()).matches_for(ed, NameKind::Dns, None)
                }
                _ => false,
            });
            if !ok {
                return Err(FieldError::new(
                    format!("{field}.email[{i}]"),
                    format!("email `{}` is not allowed by the profile{}", shorten(e), unless(&self.email, &email_subject)),
                ));
            }
        }
        Ok(())
    }
}

/// Why a label a DNS pattern spells out (no `*`, no `{subject}`) is not a
/// valid label, if one is not: such a pattern could only allow names that
/// [`parse_dns_name`] refuses.
fn spelled_out_labels_problem(pattern: &str) -> Option<String> {
    pattern.split('.').filter(|l| !l.contains('*') && !l.contains(SUBJECT_PLACEHOLDER)).find_map(|l| label_problem(&l.to_ascii_lowercase()))
}

/// The first two `{subject}` patterns (indices, in order) that could give
/// one subject another's names ([`slots_conflict`]).
fn subject_conflict(kind: NameKind, patterns: &[NamePattern]) -> Option<(usize, usize)> {
    let slots: Vec<(usize, SubjectSlot<'_>)> =
        patterns.iter().enumerate().filter_map(|(i, p)| p.subject_slot(kind).ok().flatten().map(|s| (i, s))).collect();
    slots.iter().enumerate().find_map(|(x, (i, a))| slots[x + 1..].iter().find(|(_, b)| slots_conflict(kind, a, b)).map(|(j, _)| (*i, *j)))
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
    fn a_labels_must_decode_be_allowed_and_round_trip() {
        let why = |s: &str| parse_dns_name("names.dns[0]", s).unwrap_err();
        // Valid A-labels: bücher, βόλος (IDNA2008, final sigma) and βόλοσ.
        assert_eq!(parse_dns_name("d", "xn--bcher-kva.example").unwrap(), "xn--bcher-kva.example");
        assert_eq!(parse_dns_name("d", "xn--nxasmm1c.example").unwrap(), "xn--nxasmm1c.example");
        assert_eq!(parse_dns_name("d", "xn--nxasmq6b.example").unwrap(), "xn--nxasmq6b.example");
        assert_eq!(parse_dns_name("d", "www.xn--4dbrk0ce.example").unwrap(), "www.xn--4dbrk0ce.example");
        // Upper case is normalised before the check, not refused.
        assert_eq!(parse_dns_name("d", "XN--BCHER-KVA.Example").unwrap(), "xn--bcher-kva.example");
        assert_eq!(parse_dns_name("d", "*.xn--bcher-kva.example").unwrap(), "*.xn--bcher-kva.example");

        // The two of the issue: a control character (U+0080), and no Punycode at all.
        let e = why("xn--a.internal");
        assert_eq!(e.field, "names.dns[0]");
        assert!(e.reason.contains("`xn--a` is not a valid A-label") && e.reason.contains("\\u{80}"), "{}", e.reason);
        assert!(why("xn--zz-zzzzzzzz.internal").reason.contains("does not decode"));
        // A private-use code point and a line separator: disallowed by IDNA.
        assert!(why("xn--ab-je4l.internal").reason.contains("does not allow"));
        assert!(why("xn--abc-iq0a.internal").reason.contains("does not allow"));
        // UTS #46 allows symbols IDNA2008 does not: an emoji (U+1F4A9), a
        // currency sign (U+20AC); and an old Hangul jamo (U+1100).
        for s in ["xn--ls8h.example", "xn--a-xpn.example", "xn--a-o5g.example"] {
            assert!(why(s).reason.contains("RFC 5892"), "{s}: {}", why(s).reason);
        }
        // Letters of other scripts, digits and marks are fine: 例え.jp, ß (an exception).
        assert!(parse_dns_name("d", "xn--r8jz45g.jp").is_ok());
        assert!(parse_dns_name("d", "xn--zca.example").is_ok());
        // Upper-case Ü, and u + combining diaeresis (not NFC): they decode,
        // but bücher's A-label is another one.
        for s in ["xn--bcher-2pa.example", "xn--bucher-xyd.example"] {
            let e = why(s);
            assert!(e.reason.contains("whose A-label is `xn--bcher-kva`"), "{s}: {}", e.reason);
        }
        // Plain ASCII in disguise (`xn--abc-` decodes to `abc`) ends in `-`.
        assert!(why("xn--abc-.example").reason.contains("ends with `-`"));
        // A right-to-left label next to one starting with a digit: the bidi rule.
        assert!(why("xn--4dbrk0ce.1example").reason.contains("bidi"), "{}", why("xn--4dbrk0ce.1example").reason);

        // Reserved labels: `--` in positions 3 and 4 is for A-labels only.
        let e = why("ab--c.example");
        assert!(e.reason.contains("reserved label") && e.reason.contains("RFC 5891"), "{}", e.reason);
        assert!(parse_dns_name("d", "a--b.example").is_ok());
        // Unicode is refused, with the way out.
        assert!(why("bücher.example").reason.contains("A-label"));
        // The same rule for email domains; the CSR path goes through SanSet::parse.
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let e = SanSet::parse("csr.names", &[], &[], &[], &s(&["ops@xn--a.internal"])).unwrap_err();
        assert_eq!(e.field, "csr.names.email[0]");
        assert!(e.reason.contains("A-label"), "{}", e.reason);
        assert!(SanSet::parse("csr.names", &[], &[], &[], &s(&["ops@xn--bcher-kva.example"])).is_ok());
        let e = SanSet::parse("csr.names", &s(&["ok.internal", "xn--zz-zzzzzzzz.internal"]), &[], &[], &[]).unwrap_err();
        assert_eq!(e.field, "csr.names.dns[1]");
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
    fn subject_stands_for_exactly_one_label_or_segment() {
        // The collision of the issue: with `{subject}` a plain replacement,
        // `foo.web-b` got `foo.web-b.internal` from `{subject}.internal`,
        // a name `web-b` also gets from `*.{subject}.internal`.
        assert!(!pat("{subject}.internal").matches("foo.web-b.internal", '.', "foo.web-b"));
        assert!(pat("*.{subject}.internal").matches("foo.web-b.internal", '.', "web-b"));
        assert!(pat("{subject}.internal").matches("web-b.internal", '.', "web-b"));
        assert!(pat("{subject}.internal").matches("WEB-B.internal", '.', "web-b"));
        assert!(!pat("{subject}.internal").matches("x.web-b.internal", '.', "web-b"));
        // A subject name that is not a valid label gets nothing from a DNS `{subject}`.
        for bad in ["x_y", "ab--c", "xn--a", "-a", &"a".repeat(64)] {
            assert!(!pat("{subject}.internal").matches(&format!("{bad}.internal"), '.', bad), "{bad}");
            assert!(subject_value_problem(NameKind::Dns, bad).is_some(), "{bad}");
        }
        let why = subject_value_problem(NameKind::Dns, "foo.web-b").unwrap();
        assert!(why.contains("exactly one DNS label") && why.contains("`foo.web-b`") && why.contains("dots"), "{why}");
        // `**` on the leaf side is fine; on the root side it matches nothing.
        assert!(pat("**.{subject}.internal").matches("a.b.web.internal", '.', "web"));
        assert!(!pat("{subject}.**.internal").matches("web.b.internal", '.', "web"));
        // Not a whole label: matches nothing.
        assert!(!pat("web-{subject}.internal").matches("web-a.internal", '.', "a"));
        assert!(!pat("{subject}.{subject}.internal").matches("a.a.internal", '.', "a"));

        // URIs: one path segment, dots allowed; never two segments.
        assert!(pat("spiffe://example.org/ci/{subject}").matches("spiffe://example.org/ci/a.b", '/', "a.b"));
        assert!(!pat("spiffe://example.org/ci/{subject}").matches("spiffe://example.org/ci/a/b", '/', "a"));
        assert!(pat("spiffe://example.org/ns/*/sa/{subject}").matches("spiffe://example.org/ns/prod/sa/web", '/', "web"));
        assert!(pat("spiffe://example.org/{subject}/**").matches("spiffe://example.org/web/x/y", '/', "web"));
        assert!(pat("urn:signet:operator:{subject}").matches("urn:signet:operator:op_1", '/', "op_1"));
        assert!(!pat("urn:signet:operator:{subject}").matches("urn:signet:operator:op_1:x", '/', "op_1"));
        assert!(subject_value_problem(NameKind::Uri, "a.b").is_none());
        for bad in ["a/b", "a:b", "..", "a%2fb", ""] {
            assert!(subject_value_problem(NameKind::Uri, bad).is_some(), "{bad}");
        }
        for (p, name, subject) in [
            ("spiffe://example.org/**/{subject}", "spiffe://example.org/a/web", "web"),
            ("spiffe://example.org/ci-{subject}", "spiffe://example.org/ci-web", "web"),
            ("spiffe://example.org/{subject}-x", "spiffe://example.org/web-x", "web"),
            ("spiffe://{subject}/x", "spiffe://web/x", "web"),
            ("{subject}:x", "web:x", "web"),
            ("urn:x:*:{subject}", "urn:x:y:web", "web"),
        ] {
            assert!(!pat(p).matches(name, '/', subject), "{p}");
        }

        // Email: the whole local part only.
        let rules = |p: &str| NameRules { email: vec![pat(p)], ..Default::default() };
        let mail = |e: &str| SanSet { email: vec![e.into()], ..Default::default() };
        assert!(rules("{subject}@example.org").check("names", &mail("web@example.org"), "web").is_ok());
        assert!(rules("{subject}@example.org").check("names", &mail("db@example.org"), "web").is_err());
        assert!(rules("ci-{subject}@example.org").check("names", &mail("ci-web@example.org"), "web").is_err());
        assert!(rules("ops@{subject}.example.org").check("names", &mail("ops@web.example.org"), "web").is_err());
    }

    #[test]
    fn a_refusal_says_why_subject_patterns_gave_nothing() {
        let rules = NameRules { dns: vec![pat("{subject}.internal")], ..Default::default() };
        let n = SanSet { dns: vec!["foo.web-b.internal".into()], ..Default::default() };
        let e = rules.check("names", &n, "foo.web-b").unwrap_err();
        assert_eq!(e.field, "names.dns[0]");
        assert!(e.reason.contains("not allowed by the profile"), "{}", e.reason);
        assert!(e.reason.contains("`{subject}` stands for exactly one DNS label") && e.reason.contains("`foo.web-b`"), "{}", e.reason);
        // A profile stored before the rules, with `{subject}` where it may not stand.
        let legacy = NameRules { dns: vec![pat("{subject}-*.internal")], ..Default::default() };
        let n = SanSet { dns: vec!["a-b-c.internal".into()], ..Default::default() };
        let e = legacy.check("names", &n, "a").unwrap_err();
        assert!(e.reason.contains("whole label"), "{}", e.reason);
        let legacy = NameRules { dns: vec![pat("{subject}.internal"), pat("{subject}.svc.internal")], ..Default::default() };
        let n = SanSet { dns: vec!["svc.internal".into()], ..Default::default() };
        assert!(legacy.check("names", &n, "svc").unwrap_err().reason.contains("two depths"));
        // Without a `{subject}` pattern, the plain message.
        let plain = NameRules { dns: vec![pat("*.internal")], ..Default::default() };
        let n = SanSet { dns: vec!["a.example".into()], ..Default::default() };
        assert_eq!(plain.check("names", &n, "a.b").unwrap_err().reason, "DNS name `a.example` is not allowed by the profile");
    }

    #[test]
    fn profiles_are_checked_for_subject_patterns_and_labels() {
        let dns = |v: &[&str]| NameRules { dns: v.iter().map(|p| pat(p)).collect(), ..Default::default() };
        let uri = |v: &[&str]| NameRules { uri: v.iter().map(|p| pat(p)).collect(), ..Default::default() };
        let email = |v: &[&str]| NameRules { email: v.iter().map(|p| pat(p)).collect(), ..Default::default() };
        for ok in [
            dns(&["{subject}.internal", "*.{subject}.internal", "**.{subject}.internal", "{subject}.*.example"]),
            dns(&["{subject}.internal", "{subject}.svc.cluster.local", "*.internal", "localhost", "**.xn--bcher-kva.example"]),
            dns(&["{subject}.svc.internal", "{subject}.*.internal"]),
            uri(&["spiffe://example.org/ci/{subject}", "spiffe://example.org/cd/{subject}", "urn:signet:operator:{subject}"]),
            uri(&["spiffe://example.org/ns/*/sa/{subject}", "spiffe://example.org/ci/{subject}/**"]),
            email(&["{subject}@example.org", "*@example.org", "ops@example.org"]),
        ] {
            assert_eq!(ok.validate(), Ok(()), "{ok:?}");
        }
        for (bad, field, words) in [
            (dns(&["web-{subject}.internal"]), "names.dns[0]", "whole label"),
            (dns(&["{subject}.{subject}.internal"]), "names.dns[0]", "only once"),
            (dns(&["{subject}.**.internal"]), "names.dns[0]", "`**`"),
            (dns(&["a.internal", "{subject}.internal", "{subject}.svc.internal"]), "names.dns[2]", "another depth"),
            (dns(&["{subject}.internal", "{subject}.*.internal"]), "names.dns[1]", "another depth"),
            (dns(&["{subject}", "{subject}.web"]), "names.dns[1]", "another depth"),
            (dns(&["xn--a.internal"]), "names.dns[0]", "A-label"),
            (dns(&["*.ab--c.internal"]), "names.dns[0]", "reserved label"),
            (uri(&["spiffe://example.org/**/{subject}"]), "names.uri[0]", "`**`"),
            (uri(&["spiffe://example.org/ci-{subject}"]), "names.uri[0]", "whole path segment"),
            (uri(&["spiffe://{subject}/x"]), "names.uri[0]", "authority"),
            (uri(&["{subject}:x"]), "names.uri[0]", "whole path segment"),
            (uri(&["{subject}"]), "names.uri[0]", "scheme"),
            (uri(&["urn:x:*:{subject}"]), "names.uri[0]", "`*`"),
            (uri(&["spiffe://example.org/{subject}", "spiffe://example.org/ci/{subject}"]), "names.uri[1]", "another depth"),
            (uri(&["urn:x:{subject}", "urn:x:ci/{subject}"]), "names.uri[1]", "another depth"),
            // The subject `ns` would own the names the first gives others.
            (uri(&["spiffe://example.org/ns/*/sa/{subject}", "spiffe://example.org/{subject}/**"]), "names.uri[1]", "another depth"),
            (email(&["ci-{subject}@example.org"]), "names.email[0]", "whole local part"),
            (email(&["ops@{subject}.example.org"]), "names.email[0]", "whole local part"),
            (email(&["ops@xn--a.example.org"]), "names.email[0]", "A-label"),
        ] {
            let e = bad.validate().unwrap_err();
            assert_eq!(e.field, field, "{bad:?}: {e}");
            assert!(e.reason.contains(words), "{bad:?}: {e}");
        }
    }

    /// Every pattern form, against every subject and every name made of a
    /// few labels: no name one subject may have equals, or lies under, a
    /// name another subject may have. Profiles the rules refuse are tried
    /// too, as a profile stored before them would be matched.
    #[test]
    fn no_subject_gets_a_name_of_another() {
        fn names(alphabet: &[&str], sep: &str, prefix: &str, max: usize) -> Vec<String> {
            let mut all: Vec<Vec<String>> = vec![vec![]];
            let mut out = Vec::new();
            for _ in 0..max {
                all = all.iter().flat_map(|n| alphabet.iter().map(move |l| [n.clone(), vec![l.to_string()]].concat())).collect();
                out.extend(all.iter().map(|n| format!("{prefix}{}", n.join(sep))));
            }
            out
        }
        let subjects = ["a", "b", "ci", "svc", "web-b", "foo.web-b", "internal", "x_y", "a.b"];

        let dns_labels = ["a", "b", "ci", "svc", "web-b", "foo", "internal"];
        let mut dns_names: Vec<String> = names(&dns_labels, ".", "", 4).into_iter().filter(|n| n.ends_with("internal")).collect();
        let wildcards: Vec<String> = dns_names.iter().map(|n| format!("*.{n}")).collect();
        dns_names.extend(wildcards);
        let dns_profiles: &[&[&str]] = &[
            &["{subject}.internal"],
            &["*.{subject}.internal"],
            &["{subject}.internal", "*.{subject}.internal", "**.{subject}.internal"],
            &["{subject}.*.internal", "{subject}.svc.internal"],
            &["{subject}.internal", "{subject}.svc.internal"],
            &["{subject}.internal", "{subject}.*.internal"],
            &["{subject}.**.internal"],
            &["{subject}.internal", "{subject}-*.internal", "web-{subject}.internal"],
            &["{subject}.{subject}.internal"],
        ];
        for patterns in dns_profiles {
            let rules = NameRules { dns: patterns.iter().map(|p| pat(p)).collect(), allow_wildcards: true, ..Default::default() };
            let got: Vec<Vec<&String>> = subjects
                .iter()
                .map(|s| {
                    dns_names
                        .iter()
                        .filter(|n| rules.check("n", &SanSet { dns: vec![(*n).clone()], ..Default::default() }, s).is_ok())
                        .collect()
                })
                .collect();
            assert!(!got[0].is_empty() || rules.validate().is_err(), "{patterns:?} gives `a` nothing");
            for (i, mine) in got.iter().enumerate() {
                for (j, theirs) in got.iter().enumerate().filter(|(j, _)| *j != i) {
                    for n in mine {
                        let bare = |x: &str| x.strip_prefix("*.").unwrap_or(x).to_string();
                        assert!(
                            !theirs.iter().any(|m| bare(n) == bare(m) || bare(n).ends_with(&format!(".{}", bare(m)))),
                            "{patterns:?}: `{}` gets `{n}`, which `{}` has or holds",
                            subjects[i],
                            subjects[j]
                        );
                    }
                }
            }
        }

        let segments = ["a", "b", "ci", "a.b", "foo.web-b"];
        let mut uri_names = names(&segments, "/", "spiffe://example.org/", 3);
        uri_names.extend(names(&segments, "/", "urn:x:", 2));
        uri_names.extend(names(&segments, "/", "urn:x:ci:", 1));
        let uri_profiles: &[&[&str]] = &[
            &["spiffe://example.org/ci/{subject}", "spiffe://example.org/*/{subject}/**"],
            &["spiffe://example.org/{subject}", "spiffe://example.org/ci/{subject}"],
            &["spiffe://example.org/**/{subject}"],
            &["urn:x:{subject}", "urn:x:ci/{subject}", "urn:x:ci:{subject}"],
        ];
        for patterns in uri_profiles {
            let rules = NameRules { uri: patterns.iter().map(|p| pat(p)).collect(), ..Default::default() };
            let got: Vec<Vec<&String>> = subjects
                .iter()
                .map(|s| {
                    uri_names
                        .iter()
                        .filter(|n| rules.check("n", &SanSet { uri: vec![(*n).clone()], ..Default::default() }, s).is_ok())
                        .collect()
                })
                .collect();
            for (i, mine) in got.iter().enumerate() {
                for (j, theirs) in got.iter().enumerate().filter(|(j, _)| *j != i) {
                    for n in mine {
                        assert!(
                            !theirs.iter().any(|m| n == m || n.starts_with(&format!("{m}/")) || n.starts_with(&format!("{m}:"))),
                            "{patterns:?}: `{}` gets `{n}`, which `{}` has or holds",
                            subjects[i],
                            subjects[j]
                        );
                    }
                }
            }
        }
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
