//! Typed inputs of a decision, and their translation into Cedar entities.
//!
//! Cedar values are built with `RestrictedExpression` constructors from
//! these structs, never by pasting user input into Cedar source, so a
//! subject named `" || true` is just a strange string.

use crate::action::Role;
use cedar_policy::{Entity, EntityId, EntityTypeName, EntityUid, RestrictedExpression};
use signet_model::credential::CredentialStatus;
use signet_model::profile::Profile;
use signet_model::request::RequestState;
use signet_model::subject::{AssuranceLevel, Subject, SubjectKind, SubjectStatus};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::str::FromStr;

/// The authenticated operator asking to act (the Cedar principal).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OperatorCtx {
    /// Stable id of the caller (`token:tok_…`, an OIDC subject, …).
    pub id: String,
    pub roles: BTreeSet<Role>,
    /// Sites the operator may act on (ignored when `all_sites`).
    pub sites: BTreeSet<String>,
    pub all_sites: bool,
    /// Teams the operator belongs to; owner-scoped permissions match them.
    pub teams: BTreeSet<String>,
    /// The id of the person subject this operator is enrolled as, if any.
    pub subject_id: Option<String>,
}

impl OperatorCtx {
    pub fn new(id: impl Into<String>) -> Self {
        Self { id: id.into(), ..Default::default() }
    }

    pub fn with_role(mut self, role: Role) -> Self {
        self.roles.insert(role);
        self
    }

    pub fn with_site(mut self, site: impl Into<String>) -> Self {
        self.sites.insert(site.into());
        self
    }

    pub fn with_all_sites(mut self) -> Self {
        self.all_sites = true;
        self
    }

    pub fn with_team(mut self, team: impl Into<String>) -> Self {
        self.teams.insert(team.into());
        self
    }

    pub fn with_subject(mut self, subject_id: impl Into<String>) -> Self {
        self.subject_id = Some(subject_id.into());
        self
    }
}

/// A subject as policies see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectRef {
    pub id: String,
    pub kind: SubjectKind,
    pub owner: Option<String>,
    pub purpose: Option<String>,
    pub assurance: AssuranceLevel,
    pub site: String,
    pub status: SubjectStatus,
}

impl SubjectRef {
    pub fn from_subject(subject: &Subject) -> Self {
        Self {
            id: subject.id.as_str().to_string(),
            kind: subject.kind,
            owner: subject.owner.clone(),
            purpose: subject.purpose.clone(),
            assurance: subject.assurance,
            site: subject.site.clone(),
            status: subject.status,
        }
    }
}

/// A profile's scope and approval rules, as policies see them. The default
/// allows no scope and needs no approval.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileRules {
    /// Scopes (entitlements) a request may ask for.
    pub allowed_scopes: BTreeSet<String>,
    /// Approvals needed before issuance (the m of "m of n").
    pub approvals_required: u32,
    /// The team whose members may approve requests for this profile.
    pub approval_group: Option<String>,
}

/// A profile as policies see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileRef {
    pub name: String,
    pub credential_type: String,
    pub max_ttl_seconds: i64,
    pub required_assurance: AssuranceLevel,
    /// Empty: every kind.
    pub subject_kinds: Vec<SubjectKind>,
    pub rules: ProfileRules,
}

impl ProfileRef {
    pub fn from_profile(profile: &Profile) -> Self {
        let rules = ProfileRules {
            allowed_scopes: profile.allowed_scopes.iter().cloned().collect(),
            approvals_required: profile.approvals.as_ref().map_or(0, |a| a.required),
            approval_group: profile.approvals.as_ref().map(|a| a.group.clone()),
        };
        Self {
            name: profile.name.clone(),
            credential_type: profile.credential_type.as_str().to_string(),
            max_ttl_seconds: profile.max_ttl_seconds,
            required_assurance: profile.required_assurance,
            subject_kinds: profile.subject_kinds.clone(),
            rules,
        }
    }
}

/// A credential request as policies see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRef {
    pub id: String,
    pub subject_id: String,
    /// The owner of the request's subject.
    pub subject_owner: Option<String>,
    pub profile: String,
    /// The team whose members may approve it (from the profile).
    pub approval_group: Option<String>,
    pub site: String,
    /// The operator id of the submitter.
    pub requested_by: String,
    pub state: RequestState,
}

/// A minted credential as policies see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialRef {
    pub id: String,
    pub subject_id: String,
    pub subject_owner: Option<String>,
    pub site: String,
    pub status: CredentialStatus,
}

/// What an operator action is applied to (the Cedar resource).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceCtx {
    Subject(SubjectRef),
    Profile(ProfileRef),
    /// The active policy set.
    PolicyStore,
    Request(RequestRef),
    Credential(CredentialRef),
    /// The authority as a whole: log, metrics, reports.
    Authority,
    /// Another operator (or oneself), by id.
    Operator {
        id: String,
    },
    Token {
        id: String,
        owner: String,
    },
    Site {
        name: String,
    },
    BreakGlass {
        id: String,
        requested_by: String,
        site: String,
        /// The subject the emergency credential is for.
        subject_id: String,
    },
}

/// Pre-parsed Cedar names, built once per policy set.
#[derive(Debug, Clone)]
pub(crate) struct Vocabulary {
    role: EntityTypeName,
    site: EntityTypeName,
    operator: EntityTypeName,
    subject: EntityTypeName,
    profile: EntityTypeName,
    request: EntityTypeName,
    credential: EntityTypeName,
    policy_store: EntityTypeName,
    authority: EntityTypeName,
    token: EntityTypeName,
    break_glass: EntityTypeName,
    /// Indexed by [`crate::Action::index`].
    pub(crate) actions: Vec<EntityUid>,
    pub(crate) issue: EntityUid,
}

fn type_name(s: &str) -> Result<EntityTypeName, String> {
    EntityTypeName::from_str(s).map_err(|e| format!("bad entity type `{s}`: {e}"))
}

fn action_uid(action_type: &EntityTypeName, id: &str) -> EntityUid {
    EntityUid::from_type_name_and_id(action_type.clone(), EntityId::new(id))
}

fn long(v: i64) -> RestrictedExpression {
    RestrictedExpression::new_long(v)
}

fn string(v: &str) -> RestrictedExpression {
    RestrictedExpression::new_string(v.to_string())
}

fn strings<'a>(v: impl IntoIterator<Item = &'a str>) -> RestrictedExpression {
    RestrictedExpression::new_set(v.into_iter().map(string))
}

/// IAL1..IAL3 as the Longs 1..3 of the schema.
pub(crate) fn assurance_long(a: AssuranceLevel) -> i64 {
    match a {
        AssuranceLevel::Ial1 => 1,
        AssuranceLevel::Ial2 => 2,
        AssuranceLevel::Ial3 => 3,
    }
}

type Attrs = HashMap<String, RestrictedExpression>;

fn entity(uid: EntityUid, attrs: Attrs) -> Result<Entity, String> {
    Entity::new(uid, attrs, HashSet::new()).map_err(|e| e.to_string())
}

impl Vocabulary {
    pub(crate) fn new() -> Result<Self, String> {
        let action = type_name("Action")?;
        Ok(Self {
            role: type_name("Role")?,
            site: type_name("Site")?,
            operator: type_name("Operator")?,
            subject: type_name("Subject")?,
            profile: type_name("Profile")?,
            request: type_name("Request")?,
            credential: type_name("Credential")?,
            policy_store: type_name("PolicyStore")?,
            authority: type_name("Authority")?,
            token: type_name("Token")?,
            break_glass: type_name("BreakGlass")?,
            actions: crate::Action::ALL.iter().map(|a| action_uid(&action, a.as_str())).collect(),
            issue: action_uid(&action, crate::action::ISSUE_ACTION),
        })
    }

    fn uid(t: &EntityTypeName, id: &str) -> EntityUid {
        EntityUid::from_type_name_and_id(t.clone(), EntityId::new(id))
    }

    fn site_uid(&self, name: &str) -> EntityUid {
        Self::uid(&self.site, name)
    }

    pub(crate) fn operator_uid(&self, id: &str) -> EntityUid {
        Self::uid(&self.operator, id)
    }

    fn subject_uid(&self, id: &str) -> EntityUid {
        Self::uid(&self.subject, id)
    }

    fn profile_uid(&self, name: &str) -> EntityUid {
        Self::uid(&self.profile, name)
    }

    /// The operator entity (the principal of every operator action).
    pub(crate) fn operator(&self, op: &OperatorCtx) -> Result<Entity, String> {
        let mut attrs = Attrs::with_capacity(5);
        attrs.insert(
            "roles".into(),
            RestrictedExpression::new_set(op.roles.iter().map(|r| RestrictedExpression::new_entity_uid(Self::uid(&self.role, r.as_str())))),
        );
        attrs.insert(
            "sites".into(),
            RestrictedExpression::new_set(op.sites.iter().map(|s| RestrictedExpression::new_entity_uid(self.site_uid(s)))),
        );
        attrs.insert("all_sites".into(), RestrictedExpression::new_bool(op.all_sites));
        attrs.insert("teams".into(), strings(op.teams.iter().map(String::as_str)));
        if let Some(s) = &op.subject_id {
            attrs.insert("subject".into(), RestrictedExpression::new_entity_uid(self.subject_uid(s)));
        }
        entity(self.operator_uid(&op.id), attrs)
    }

    pub(crate) fn subject(&self, s: &SubjectRef) -> Result<Entity, String> {
        let mut attrs = Attrs::with_capacity(6);
        attrs.insert("kind".into(), string(s.kind.as_str()));
        if let Some(o) = &s.owner {
            attrs.insert("owner".into(), string(o));
        }
        if let Some(p) = &s.purpose {
            attrs.insert("purpose".into(), string(p));
        }
        attrs.insert("assurance".into(), long(assurance_long(s.assurance)));
        attrs.insert("site".into(), RestrictedExpression::new_entity_uid(self.site_uid(&s.site)));
        attrs.insert("status".into(), string(s.status.as_str()));
        entity(self.subject_uid(&s.id), attrs)
    }

    pub(crate) fn profile(&self, p: &ProfileRef) -> Result<Entity, String> {
        let mut attrs = Attrs::with_capacity(7);
        attrs.insert("credential_type".into(), string(&p.credential_type));
        attrs.insert("max_ttl_seconds".into(), long(p.max_ttl_seconds));
        attrs.insert("required_assurance".into(), long(assurance_long(p.required_assurance)));
        attrs.insert("subject_kinds".into(), strings(p.subject_kinds.iter().map(|k| k.as_str())));
        attrs.insert("allowed_scopes".into(), strings(p.rules.allowed_scopes.iter().map(String::as_str)));
        attrs.insert("approvals_required".into(), long(i64::from(p.rules.approvals_required)));
        if let Some(g) = &p.rules.approval_group {
            attrs.insert("approval_group".into(), string(g));
        }
        entity(self.profile_uid(&p.name), attrs)
    }

    /// The resource entities of an operator action: its uid and the entity.
    pub(crate) fn resource(&self, r: &ResourceCtx) -> Result<(EntityUid, Option<Entity>), String> {
        let uid_of = |e: Entity| (e.uid(), Some(e));
        Ok(match r {
            ResourceCtx::Subject(s) => uid_of(self.subject(s)?),
            ResourceCtx::Profile(p) => uid_of(self.profile(p)?),
            ResourceCtx::PolicyStore => (Self::uid(&self.policy_store, "active"), None),
            ResourceCtx::Authority => (Self::uid(&self.authority, "signet"), None),
            ResourceCtx::Site { name } => (self.site_uid(name), None),
            ResourceCtx::Operator { id } => (self.operator_uid(id), None),
            ResourceCtx::Request(q) => {
                let mut attrs = Attrs::with_capacity(7);
                attrs.insert("subject".into(), RestrictedExpression::new_entity_uid(self.subject_uid(&q.subject_id)));
                if let Some(o) = &q.subject_owner {
                    attrs.insert("subject_owner".into(), string(o));
                }
                attrs.insert("profile".into(), RestrictedExpression::new_entity_uid(self.profile_uid(&q.profile)));
                if let Some(g) = &q.approval_group {
                    attrs.insert("approval_group".into(), string(g));
                }
                attrs.insert("site".into(), RestrictedExpression::new_entity_uid(self.site_uid(&q.site)));
                attrs.insert("requested_by".into(), RestrictedExpression::new_entity_uid(self.operator_uid(&q.requested_by)));
                attrs.insert("state".into(), string(q.state.as_str()));
                uid_of(entity(Self::uid(&self.request, &q.id), attrs)?)
            }
            ResourceCtx::Credential(c) => {
                let mut attrs = Attrs::with_capacity(4);
                attrs.insert("subject".into(), RestrictedExpression::new_entity_uid(self.subject_uid(&c.subject_id)));
                if let Some(o) = &c.subject_owner {
                    attrs.insert("subject_owner".into(), string(o));
                }
                attrs.insert("site".into(), RestrictedExpression::new_entity_uid(self.site_uid(&c.site)));
                attrs.insert("status".into(), string(c.status.as_str()));
                uid_of(entity(Self::uid(&self.credential, &c.id), attrs)?)
            }
            ResourceCtx::Token { id, owner } => {
                let mut attrs = Attrs::with_capacity(1);
                attrs.insert("owner".into(), RestrictedExpression::new_entity_uid(self.operator_uid(owner)));
                uid_of(entity(Self::uid(&self.token, id), attrs)?)
            }
            ResourceCtx::BreakGlass { id, requested_by, site, subject_id } => {
                let mut attrs = Attrs::with_capacity(3);
                attrs.insert("subject".into(), RestrictedExpression::new_entity_uid(self.subject_uid(subject_id)));
                attrs.insert("requested_by".into(), RestrictedExpression::new_entity_uid(self.operator_uid(requested_by)));
                attrs.insert("site".into(), RestrictedExpression::new_entity_uid(self.site_uid(site)));
                uid_of(entity(Self::uid(&self.break_glass, id), attrs)?)
            }
        })
    }
}
