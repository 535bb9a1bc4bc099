//! Subjects: who or what receives credentials.

use crate::FieldError;
use crate::ids::SubjectId;
use crate::names::shorten;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    Person,
    Device,
    Workload,
    ServiceAccount,
    ApiClient,
    Pipeline,
    AiAgent,
}

impl SubjectKind {
    pub const ALL: [SubjectKind; 7] =
        [Self::Person, Self::Device, Self::Workload, Self::ServiceAccount, Self::ApiClient, Self::Pipeline, Self::AiAgent];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Person => "person",
            Self::Device => "device",
            Self::Workload => "workload",
            Self::ServiceAccount => "service_account",
            Self::ApiClient => "api_client",
            Self::Pipeline => "pipeline",
            Self::AiAgent => "ai_agent",
        }
    }

    pub fn parse(field: &str, s: &str) -> Result<Self, FieldError> {
        Self::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| {
            FieldError::new(
                field,
                format!(
                    "`{}` is not a subject kind; expected one of person, device, workload, service_account, api_client, pipeline, ai_agent",
                    shorten(s)
                ),
            )
        })
    }
}

impl fmt::Display for SubjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// NIST SP 800-63A identity assurance level of a subject's proofing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AssuranceLevel {
    Ial1,
    Ial2,
    Ial3,
}

impl AssuranceLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ial1 => "ial1",
            Self::Ial2 => "ial2",
            Self::Ial3 => "ial3",
        }
    }

    pub fn parse(field: &str, s: &str) -> Result<Self, FieldError> {
        match s {
            "ial1" => Ok(Self::Ial1),
            "ial2" => Ok(Self::Ial2),
            "ial3" => Ok(Self::Ial3),
            _ => Err(FieldError::new(field, format!("`{}` is not an assurance level; expected ial1, ial2 or ial3", shorten(s)))),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubjectStatus {
    Active,
    Suspended,
    Revoked,
}

impl SubjectStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Revoked => "revoked",
        }
    }

    pub fn parse(field: &str, s: &str) -> Result<Self, FieldError> {
        match s {
            "active" => Ok(Self::Active),
            "suspended" => Ok(Self::Suspended),
            "revoked" => Ok(Self::Revoked),
            _ => Err(FieldError::new(field, format!("`{}` is not a subject status", shorten(s)))),
        }
    }
}

/// A subject name: 1–64 characters of lower-case letters, digits, `.`, `-`
/// and `_`, starting with a letter or digit. Unique within the authority.
pub fn parse_subject_name(field: &str, s: &str) -> Result<String, FieldError> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.as_bytes()[0].is_ascii_alphanumeric()
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-' || b == b'_');
    if ok {
        Ok(s.to_string())
    } else {
        Err(FieldError::new(
            field,
            format!(
                "`{}` is not a valid name: use 1-64 lower-case letters, digits, `.`, `-` or `_`, starting with a letter or digit",
                shorten(s)
            ),
        ))
    }
}

/// Who or what receives credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Subject {
    pub id: SubjectId,
    pub name: String,
    pub kind: SubjectKind,
    /// The accountable person or team. Mandatory for every non-person subject.
    pub owner: Option<String>,
    /// Why this subject exists. Mandatory for every non-person subject.
    pub purpose: Option<String>,
    pub assurance: AssuranceLevel,
    pub attributes: BTreeMap<String, String>,
    /// The issuance site the subject belongs to (operators are scoped by site).
    pub site: String,
    pub status: SubjectStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A validated request to enrol a subject (everything but id and timestamps).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSubject {
    pub name: String,
    pub kind: SubjectKind,
    pub owner: Option<String>,
    pub purpose: Option<String>,
    pub assurance: AssuranceLevel,
    pub attributes: BTreeMap<String, String>,
    pub site: String,
}

/// The wire form of [`NewSubject`], parsed by [`SubjectInput::parse`].
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubjectInput {
    pub name: String,
    /// person, device, workload, service_account, api_client, pipeline or ai_agent.
    pub kind: String,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub purpose: Option<String>,
    /// ial1 (default), ial2 or ial3.
    #[serde(default)]
    pub assurance: Option<String>,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// The issuance site; default `default`.
    #[serde(default)]
    pub site: Option<String>,
}

fn parse_text(field: &str, v: &Option<String>, max: usize) -> Result<Option<String>, FieldError> {
    match v {
        None => Ok(None),
        Some(s) => {
            let t = s.trim();
            if t.is_empty() {
                return Ok(None);
            }
            if t.chars().count() > max {
                return Err(FieldError::new(field, format!("longer than {max} characters")));
            }
            if t.chars().any(|c| c.is_control()) {
                return Err(FieldError::new(field, "contains control characters"));
            }
            Ok(Some(t.to_string()))
        }
    }
}

impl SubjectInput {
    pub fn parse(&self) -> Result<NewSubject, FieldError> {
        let name = parse_subject_name("name", &self.name)?;
        let kind = SubjectKind::parse("kind", &self.kind)?;
        let owner = parse_text("owner", &self.owner, 256)?;
        let purpose = parse_text("purpose", &self.purpose, 1024)?;
        if kind != SubjectKind::Person {
            if owner.is_none() {
                return Err(FieldError::new("owner", format!("a {kind} subject must have an owner (the accountable person or team)")));
            }
            if purpose.is_none() {
                return Err(FieldError::new("purpose", format!("a {kind} subject must have a purpose")));
            }
        }
        let assurance = match &self.assurance {
            None => AssuranceLevel::Ial1,
            Some(s) => AssuranceLevel::parse("assurance", s)?,
        };
        if self.attributes.len() > 64 {
            return Err(FieldError::new("attributes", "at most 64 attributes are allowed"));
        }
        for (k, v) in &self.attributes {
            let f = format!("attributes.{}", shorten(k));
            if k.is_empty() || k.len() > 64 || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.') {
                return Err(FieldError::new(f, "attribute names are 1-64 letters, digits, `_`, `-` or `.`"));
            }
            if v.chars().count() > 1024 || v.chars().any(|c| c.is_control()) {
                return Err(FieldError::new(f, "attribute values are at most 1024 characters, without control characters"));
            }
        }
        let site = match &self.site {
            None => crate::operator::DEFAULT_SITE.to_string(),
            Some(s) => crate::operator::parse_site("site", s)?,
        };
        Ok(NewSubject { name, kind, owner, purpose, assurance, attributes: self.attributes.clone(), site })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(kind: &str) -> SubjectInput {
        SubjectInput { name: "web-1".into(), kind: kind.into(), ..Default::default() }
    }

    #[test]
    fn non_person_needs_owner_and_purpose() {
        assert!(input("person").parse().is_ok());
        let e = input("workload").parse().unwrap_err();
        assert_eq!(e.field, "owner");
        let mut i = input("workload");
        i.owner = Some("team-web".into());
        assert_eq!(i.parse().unwrap_err().field, "purpose");
        i.purpose = Some("serves the shop".into());
        assert_eq!(i.parse().unwrap().kind, SubjectKind::Workload);
        i.owner = Some("   ".into());
        assert_eq!(i.parse().unwrap_err().field, "owner");
    }

    #[test]
    fn bad_fields_are_named() {
        let mut i = input("robot");
        assert_eq!(i.parse().unwrap_err().field, "kind");
        i = input("person");
        i.name = "Web 1".into();
        assert_eq!(i.parse().unwrap_err().field, "name");
        i = input("person");
        i.assurance = Some("ial9".into());
        assert_eq!(i.parse().unwrap_err().field, "assurance");
    }
}
