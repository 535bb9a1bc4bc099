//! Operators: the humans and machines that use the operator API, with their
//! roles, the sites they act on and the teams they belong to.
//!
//! An operator authenticates with API tokens (random secrets, stored hashed)
//! or a client certificate Signet issued to it; what it may do is decided by
//! the active Cedar policy set from its roles, sites and teams.

use crate::FieldError;
use crate::ids::{OperatorId, SubjectId, TokenId};
use crate::names::shorten;
use crate::subject::parse_subject_name;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use time::OffsetDateTime;

/// Operator roles (the `Role` enumerated entity type of the Cedar schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Configures the authority: policies, profiles, operators, sites, tokens.
    Admin,
    /// Writes and applies policies and profiles.
    PolicyAuthor,
    /// Enrols and manages subjects at its sites.
    RegistrationOfficer,
    /// Approves or denies requests at its sites.
    Approver,
    /// Reads everything; responds to incidents.
    SecurityReviewer,
    /// Read-only: the log and reports.
    Auditor,
    /// Runs its sites.
    SiteOperator,
}

impl Role {
    pub const ALL: [Role; 7] = [
        Self::Admin,
        Self::PolicyAuthor,
        Self::RegistrationOfficer,
        Self::Approver,
        Self::SecurityReviewer,
        Self::Auditor,
        Self::SiteOperator,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::PolicyAuthor => "policy_author",
            Self::RegistrationOfficer => "registration_officer",
            Self::Approver => "approver",
            Self::SecurityReviewer => "security_reviewer",
            Self::Auditor => "auditor",
            Self::SiteOperator => "site_operator",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn parse_field(field: &str, s: &str) -> Result<Self, FieldError> {
        Self::parse(s).ok_or_else(|| {
            FieldError::new(
                field,
                format!(
                    "`{}` is not a role; expected one of admin, policy_author, registration_officer, approver, security_reviewer, auditor, site_operator",
                    shorten(s)
                ),
            )
        })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The site every subject and operator belongs to unless told otherwise.
pub const DEFAULT_SITE: &str = "default";

/// A site or team name: the same shape as a subject name.
pub fn parse_site(field: &str, s: &str) -> Result<String, FieldError> {
    parse_subject_name(field, s)
}

/// A caller of the operator API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Operator {
    pub id: OperatorId,
    /// Unique, human-readable.
    pub name: String,
    pub roles: BTreeSet<Role>,
    /// Sites this operator may act on (ignored when `all_sites`).
    pub sites: BTreeSet<String>,
    pub all_sites: bool,
    /// Teams it belongs to: owner-scoped permissions match these.
    pub teams: BTreeSet<String>,
    /// The person subject this operator is, if enrolled (separation of duties).
    pub subject_id: Option<SubjectId>,
    /// A disabled operator cannot authenticate.
    pub disabled: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// The wire form of an operator (create and update).
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OperatorInput {
    pub name: String,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub sites: Vec<String>,
    #[serde(default)]
    pub all_sites: bool,
    #[serde(default)]
    pub teams: Vec<String>,
    #[serde(default)]
    pub subject_id: Option<String>,
    #[serde(default)]
    pub disabled: bool,
}

/// A validated [`OperatorInput`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorSpec {
    pub name: String,
    pub roles: BTreeSet<Role>,
    pub sites: BTreeSet<String>,
    pub all_sites: bool,
    pub teams: BTreeSet<String>,
    pub subject_id: Option<SubjectId>,
    pub disabled: bool,
}

impl OperatorInput {
    pub fn parse(&self) -> Result<OperatorSpec, FieldError> {
        let name = parse_subject_name("name", &self.name)?;
        let roles = self.roles.iter().enumerate().map(|(i, r)| Role::parse_field(&format!("roles[{i}]"), r)).collect::<Result<_, _>>()?;
        if self.sites.len() > 256 || self.teams.len() > 256 {
            return Err(FieldError::new(if self.sites.len() > 256 { "sites" } else { "teams" }, "at most 256 entries"));
        }
        let sites = self.sites.iter().enumerate().map(|(i, s)| parse_site(&format!("sites[{i}]"), s)).collect::<Result<_, _>>()?;
        let teams = self.teams.iter().enumerate().map(|(i, s)| parse_site(&format!("teams[{i}]"), s)).collect::<Result<_, _>>()?;
        let subject_id = match &self.subject_id {
            None => None,
            Some(s) => Some(SubjectId::parse("subject_id", s)?),
        };
        Ok(OperatorSpec { name, roles, sites, all_sites: self.all_sites, teams, subject_id, disabled: self.disabled })
    }
}

/// An operator API token, as stored: the secret's SHA-256, never the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenInfo {
    pub id: TokenId,
    pub operator_id: OperatorId,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    pub revoked: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_input_names_the_bad_field() {
        let ok =
            OperatorInput { name: "alice".into(), roles: vec!["approver".into()], teams: vec!["team-web".into()], ..Default::default() };
        let spec = ok.parse().unwrap();
        assert!(spec.roles.contains(&Role::Approver));
        let mut bad = ok.clone();
        bad.roles.push("root".into());
        assert_eq!(bad.parse().unwrap_err().field, "roles[1]");
        let mut bad = ok.clone();
        bad.sites = vec!["Bad Site".into()];
        assert_eq!(bad.parse().unwrap_err().field, "sites[0]");
        let mut bad = ok;
        bad.subject_id = Some("nope".into());
        assert_eq!(bad.parse().unwrap_err().field, "subject_id");
    }

    #[test]
    fn roles_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
    }
}
