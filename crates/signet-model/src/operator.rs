//! Operators: the humans and machines that use the operator API, with their
//! roles, the sites they act on and the teams they belong to.
//!
//! An operator authenticates with API tokens (random secrets, stored hashed)
//! or a client certificate Signet issued to it; what it may do is decided by
//! the active Cedar policy set from its roles, sites and teams.

use crate::FieldError;
use crate::duration::DurationInput;
use crate::ids::{GrantId, OperatorId, SubjectId, TokenId};
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

    /// The roles that can approve, apply policy or administer (in the default
    /// policy set: `request.approve`, `break_glass.approve`, `policy.apply`,
    /// `operator.update`). Granting one is a privileged grant: a second admin
    /// approves it when there is one, and it is a high-severity event.
    pub const PRIVILEGED: [Role; 4] = [Self::Admin, Self::PolicyAuthor, Self::Approver, Self::SecurityReviewer];

    pub fn is_privileged(self) -> bool {
        Self::PRIVILEGED.contains(&self)
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
    /// Who made this operator what it is, and when: its creator, the admins
    /// who granted it privileged access, who set its enrolment. An approval
    /// by an operator its requester sponsored recently does not count
    /// (`sod.fresh-approver`). Entries older than 90 days are dropped.
    #[serde(default)]
    pub sponsors: Vec<Sponsorship>,
    /// An enrolment is waiting to be redeemed until then (`POST /v1/operators/enrol`).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub enrolment_expires_at: Option<OffsetDateTime>,
    /// The SHA-256 of the enrolment secret the operator keeps; never shown.
    #[serde(skip)]
    pub enrolment_verifier: Option<[u8; 32]>,
}

/// What a sponsor did for an operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SponsorAct {
    /// Created the operator.
    Created,
    /// Granted it a privileged role, or widened the reach of one (teams,
    /// sites, re-enabled, subject changed), or asked for such a grant.
    Granted,
    /// Approved a privileged grant another admin asked for.
    ApprovedGrant,
    /// Set a new enrolment for it (re-enrolment after a lost credential).
    SetEnrolment,
}

impl SponsorAct {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Granted => "granted",
            Self::ApprovedGrant => "approved_grant",
            Self::SetEnrolment => "set_enrolment",
        }
    }
}

/// One act of sponsorship: `by` (an actor, `op_…`) did `act` at `at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Sponsorship {
    pub by: String,
    pub act: SponsorAct,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// How long sponsorships are kept: the longest fresh-approver window.
pub const SPONSORSHIP_KEPT_SECONDS: i64 = 90 * 86400;

/// What an operator may reach: the part of it a privileged grant changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OperatorAccess {
    pub roles: BTreeSet<Role>,
    pub sites: BTreeSet<String>,
    pub all_sites: bool,
    pub teams: BTreeSet<String>,
    pub subject_id: Option<SubjectId>,
    pub disabled: bool,
}

impl Operator {
    pub fn access(&self) -> OperatorAccess {
        OperatorAccess {
            roles: self.roles.clone(),
            sites: self.sites.clone(),
            all_sites: self.all_sites,
            teams: self.teams.clone(),
            subject_id: self.subject_id.clone(),
            disabled: self.disabled,
        }
    }

    pub fn set_access(&mut self, a: OperatorAccess) {
        self.roles = a.roles;
        self.sites = a.sites;
        self.all_sites = a.all_sites;
        self.teams = a.teams;
        self.subject_id = a.subject_id;
        self.disabled = a.disabled;
    }

    /// Does the operator hold a role that can approve, apply policy or administer?
    pub fn is_privileged(&self) -> bool {
        self.roles.iter().any(|r| r.is_privileged())
    }

    /// Record a sponsorship, forgetting those older than [`SPONSORSHIP_KEPT_SECONDS`].
    pub fn sponsor(&mut self, by: &str, act: SponsorAct, at: OffsetDateTime) {
        let horizon = at - time::Duration::seconds(SPONSORSHIP_KEPT_SECONDS);
        self.sponsors.retain(|s| s.at > horizon);
        self.sponsors.push(Sponsorship { by: by.to_string(), act, at });
    }
}

impl OperatorAccess {
    /// Does going from `self` to `after` grant or widen privileged access?
    /// Only when `after` holds a privileged role: a privileged role added;
    /// or, for a privileged operator, teams or sites added (more requests it
    /// may approve), `all_sites` turned on, re-enabled, or its linked subject
    /// changed (which the self-approval rules look at). Removing is never a grant.
    pub fn widens_privilege(&self, after: &OperatorAccess) -> bool {
        if !after.roles.iter().any(|r| r.is_privileged()) {
            return false;
        }
        after.roles.iter().any(|r| r.is_privileged() && !self.roles.contains(r))
            || !after.teams.is_subset(&self.teams)
            || (after.all_sites && !self.all_sites)
            || (!self.all_sites && !after.sites.is_subset(&self.sites))
            || (self.disabled && !after.disabled)
            || after.subject_id != self.subject_id
    }
}

/// The state of a privileged grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrantState {
    Pending,
    Applied,
    Denied,
    Expired,
}

impl GrantState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Applied => "applied",
            Self::Denied => "denied",
            Self::Expired => "expired",
        }
    }

    pub fn parse(field: &str, s: &str) -> Result<Self, FieldError> {
        [Self::Pending, Self::Applied, Self::Denied, Self::Expired]
            .into_iter()
            .find(|g| g.as_str() == s)
            .ok_or_else(|| FieldError::new(field, format!("`{}` is not a grant state", shorten(s))))
    }
}

/// A privileged change to an operator, asked by one admin, waiting for a
/// different admin (when more than one enabled admin exists).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OperatorGrant {
    pub id: GrantId,
    pub operator_id: OperatorId,
    /// The operator's access when the grant was asked; the grant applies only if it still is.
    pub before: OperatorAccess,
    pub after: OperatorAccess,
    /// A new enrolment (re-enrolment) to set when the grant applies: its verifier
    /// (SHA-256 hex of the operator's secret) and lifetime in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrolment: Option<EnrolmentAsk>,
    pub requested_by: String,
    pub state: GrantState,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    pub decided_by: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub decided_at: Option<OffsetDateTime>,
}

/// An enrolment to set: the verifier of a secret only the operator knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EnrolmentAsk {
    /// SHA-256 of the enrolment secret, 64 hex digits.
    pub verifier: String,
    pub ttl_seconds: i64,
}

impl EnrolmentAsk {
    /// Parse an enrolment verifier (64 hex digits) and lifetime (default 24h, at most 7 days).
    pub fn parse(verifier: &str, ttl: Option<&DurationInput>) -> Result<Self, FieldError> {
        let v = verifier.trim().to_ascii_lowercase();
        if v.len() != 64 || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(FieldError::new(
                "enrolment_verifier",
                "expected the SHA-256 of the enrolment secret, 64 hex digits (`signet operator enrol-code` prints both)",
            ));
        }
        let ttl_seconds = match ttl {
            None => ENROLMENT_DEFAULT_TTL_SECONDS,
            Some(t) => t.seconds("enrolment_ttl")?,
        };
        if ttl_seconds > ENROLMENT_MAX_TTL_SECONDS {
            return Err(FieldError::new("enrolment_ttl", "an enrolment may wait at most 7 days to be redeemed"));
        }
        Ok(Self { verifier: v, ttl_seconds })
    }

    pub fn verifier_bytes(&self) -> Option<[u8; 32]> {
        let mut out = [0u8; 32];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(self.verifier.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(out)
    }
}

pub const ENROLMENT_DEFAULT_TTL_SECONDS: i64 = 86400;
pub const ENROLMENT_MAX_TTL_SECONDS: i64 = 7 * 86400;

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
    /// Creation only: the SHA-256 (hex) of an enrolment secret the new
    /// operator generated and keeps; it redeems the secret for its first
    /// token at `POST /v1/operators/enrol`.
    #[serde(default)]
    pub enrolment_verifier: Option<String>,
    /// How long the enrolment may wait (`24h` by default, at most `7d`).
    #[serde(default)]
    pub enrolment_ttl: Option<DurationInput>,
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
    pub enrolment: Option<EnrolmentAsk>,
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
        let enrolment = match &self.enrolment_verifier {
            Some(v) => Some(EnrolmentAsk::parse(v, self.enrolment_ttl.as_ref())?),
            None if self.enrolment_ttl.is_some() => {
                return Err(FieldError::new("enrolment_ttl", "an enrolment lifetime needs an `enrolment_verifier`"));
            }
            None => None,
        };
        Ok(OperatorSpec { name, roles, sites, all_sites: self.all_sites, teams, subject_id, disabled: self.disabled, enrolment })
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

    fn access(roles: &[Role], teams: &[&str]) -> OperatorAccess {
        OperatorAccess {
            roles: roles.iter().copied().collect(),
            sites: BTreeSet::new(),
            all_sites: false,
            teams: teams.iter().map(|t| t.to_string()).collect(),
            subject_id: None,
            disabled: false,
        }
    }

    #[test]
    fn only_gaining_or_widening_a_privileged_role_is_a_privileged_grant() {
        let auditor = access(&[Role::Auditor], &[]);
        let approver = access(&[Role::Approver], &["sec"]);
        assert!(auditor.widens_privilege(&approver), "a privileged role added");
        assert!(!approver.widens_privilege(&auditor), "removing is never a grant");
        assert!(!auditor.widens_privilege(&access(&[Role::Auditor, Role::RegistrationOfficer], &["sec"])), "not privileged");
        assert!(approver.widens_privilege(&access(&[Role::Approver], &["sec", "ops"])), "a team added to an approver");
        assert!(!approver.widens_privilege(&access(&[Role::Approver], &[])), "a team removed");
        let mut all = approver.clone();
        all.all_sites = true;
        assert!(approver.widens_privilege(&all));
        let mut site = approver.clone();
        site.sites.insert("eu".into());
        assert!(approver.widens_privilege(&site));
        assert!(!all.widens_privilege(&site), "from every site to one");
        let mut disabled = approver.clone();
        disabled.disabled = true;
        assert!(disabled.widens_privilege(&approver), "re-enabled");
        assert!(!approver.widens_privilege(&disabled));
        let mut unlinked = approver.clone();
        unlinked.subject_id = Some(SubjectId::from_random([1; 16]));
        assert!(unlinked.widens_privilege(&approver), "its subject changed");
    }

    #[test]
    fn enrolment_verifiers_are_64_hex_digits_and_wait_at_most_7_days() {
        let v = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08";
        let ask = EnrolmentAsk::parse(v, None).unwrap();
        assert_eq!((ask.verifier.as_str(), ask.ttl_seconds), (v.to_ascii_lowercase().as_str(), 86400));
        assert_eq!(ask.verifier_bytes().unwrap()[0], 0x9f);
        assert_eq!(EnrolmentAsk::parse(&v[1..], None).unwrap_err().field, "enrolment_verifier");
        assert_eq!(EnrolmentAsk::parse(&v.replace('9', "g"), None).unwrap_err().field, "enrolment_verifier");
        assert_eq!(EnrolmentAsk::parse(v, Some(&"7d".into())).unwrap().ttl_seconds, 7 * 86400);
        assert_eq!(EnrolmentAsk::parse(v, Some(&"8d".into())).unwrap_err().field, "enrolment_ttl");
        assert_eq!(EnrolmentAsk::parse(v, Some(&serde_json::from_str("3600").unwrap())).unwrap().ttl_seconds, 3600, "a number of seconds");
        let input = OperatorInput { name: "a".into(), enrolment_ttl: Some("1h".into()), ..Default::default() };
        assert_eq!(input.parse().unwrap_err().field, "enrolment_ttl", "a lifetime without a verifier");
    }

    #[test]
    fn sponsorships_older_than_90_days_are_forgotten() {
        let t0 = time::macros::datetime!(2026-01-01 0:00 UTC);
        let mut op = Operator {
            id: OperatorId::from_random([1; 16]),
            name: "a".into(),
            roles: BTreeSet::new(),
            sites: BTreeSet::new(),
            all_sites: false,
            teams: BTreeSet::new(),
            subject_id: None,
            disabled: false,
            created_at: t0,
            updated_at: t0,
            sponsors: vec![],
            enrolment_expires_at: None,
            enrolment_verifier: None,
        };
        op.sponsor("op_x", SponsorAct::Created, t0);
        op.sponsor("op_y", SponsorAct::Granted, t0 + time::Duration::days(30));
        op.sponsor("op_z", SponsorAct::SetEnrolment, t0 + time::Duration::days(91));
        let by: Vec<&str> = op.sponsors.iter().map(|s| s.by.as_str()).collect();
        assert_eq!(by, ["op_y", "op_z"]);
    }

    #[test]
    fn roles_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
    }
}
