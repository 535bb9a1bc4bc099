//! Loading a policy set: parse, name every policy by its `@id`, validate
//! against the schema, and refuse a set that would lock every admin out.

use crate::entities::Vocabulary;
use crate::error::PolicyError;
use crate::{Action, OperatorCtx, ResourceCtx, Role};
use cedar_policy::{ActionConstraint, Authorizer, Effect, PolicyId, Schema, ValidationMode, Validator};
use std::str::FromStr;
use std::sync::Arc;

/// Signet's Cedar schema (entity types, actions, issuance context).
pub const SCHEMA: &str = include_str!("schema.cedarschema");

/// The policy set Signet starts with.
pub const DEFAULT_POLICIES: &str = include_str!("default.cedar");

/// A parsed, validated policy set, ready to decide. Cheap to clone (shared);
/// build it once per activation, not per decision.
#[derive(Debug, Clone)]
pub struct PolicySet {
    inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) schema: Schema,
    /// Every policy, named by its `@id`.
    pub(crate) policies: cedar_policy::PolicySet,
    /// The policies that can apply to each action, indexed like
    /// `Vocabulary::actions` with `credential.issue` last. Cedar evaluates
    /// every policy of the set it is given; handing it only the ones whose
    /// action scope matches is what makes a decision fast. Equivalent to the
    /// full set because the schema has no action groups (a test checks).
    pub(crate) by_action: Vec<cedar_policy::PolicySet>,
    pub(crate) vocab: Vocabulary,
    pub(crate) authorizer: Authorizer,
    text: String,
    ids: Vec<String>,
}

/// One policy, as `policy explain` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyInfo {
    /// The `@id` annotation.
    pub id: String,
    /// `permit` or `forbid`.
    pub effect: &'static str,
    /// The `@reason` annotation, if any.
    pub reason: Option<String>,
    /// The policy's Cedar source.
    pub text: String,
}

fn load_schema() -> Result<Schema, PolicyError> {
    Schema::from_cedarschema_str(SCHEMA).map(|(schema, _warnings)| schema).map_err(|e| PolicyError::Schema(e.to_string()))
}

impl PolicySet {
    /// The built-in policy set (`default.cedar`).
    #[allow(clippy::expect_used)]
    pub fn default_set() -> PolicySet {
        // INVARIANT: the embedded schema and default policies are constants;
        // `tests::default_set_loads` parses, validates and lockout-checks them,
        // so this cannot fail in a tested build.
        Self::parse(DEFAULT_POLICIES).expect("the embedded default policy set is valid")
    }

    /// Parse Cedar policy text and validate it against [`SCHEMA`] in strict
    /// mode. Every policy must be static and carry a unique `@id("…")`, which
    /// becomes its id in decisions. This does not check for lockout: call
    /// [`check_not_locked_out`] (or use [`PolicySet::parse_for_activation`]).
    pub fn parse(text: &str) -> Result<PolicySet, PolicyError> {
        let schema = load_schema()?;
        let parsed = cedar_policy::PolicySet::from_str(text).map_err(|e| PolicyError::Parse(e.to_string()))?;
        if let Some(t) = parsed.templates().next() {
            return Err(PolicyError::Template(t.annotation("id").unwrap_or(t.id().as_ref()).to_string()));
        }
        let mut policies = cedar_policy::PolicySet::new();
        let mut ids = Vec::new();
        for p in parsed.policies() {
            let id = match p.annotation("id") {
                Some(id) if !id.trim().is_empty() => id.to_string(),
                _ => {
                    let src = p.to_string();
                    let first = src.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
                    return Err(PolicyError::MissingId(format!("`{first}`")));
                }
            };
            if ids.contains(&id) {
                return Err(PolicyError::DuplicateId(id));
            }
            policies.add(p.new_id(PolicyId::new(&id))).map_err(|e| PolicyError::Parse(e.to_string()))?;
            ids.push(id);
        }
        let result = Validator::new(schema.clone()).validate(&policies, ValidationMode::Strict);
        if !result.validation_passed() {
            return Err(PolicyError::Validation(result.validation_errors().map(|e| e.to_string()).collect()));
        }
        let vocab = Vocabulary::new().map_err(PolicyError::Schema)?;
        let by_action = partition_by_action(&policies, &vocab)?;
        Ok(PolicySet {
            inner: Arc::new(Inner { schema, policies, by_action, vocab, authorizer: Authorizer::new(), text: text.to_string(), ids }),
        })
    }

    /// [`PolicySet::parse`] then [`check_not_locked_out`]: what activating a
    /// new policy set must pass.
    pub fn parse_for_activation(text: &str) -> Result<PolicySet, PolicyError> {
        let set = Self::parse(text)?;
        check_not_locked_out(&set)?;
        Ok(set)
    }

    /// The policy text as given.
    pub fn text(&self) -> &str {
        &self.inner.text
    }

    /// Every policy id, in source order.
    pub fn policy_ids(&self) -> &[String] {
        &self.inner.ids
    }

    /// One policy by its `@id`.
    pub fn policy(&self, id: &str) -> Option<PolicyInfo> {
        let p = self.inner.policies.policy(&PolicyId::new(id))?;
        Some(PolicyInfo {
            id: id.to_string(),
            effect: match p.effect() {
                Effect::Permit => "permit",
                Effect::Forbid => "forbid",
            },
            reason: p.annotation("reason").map(str::to_string),
            text: p.to_string(),
        })
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }
}

/// Split a validated set by action scope (see `Inner::by_action`).
fn partition_by_action(policies: &cedar_policy::PolicySet, vocab: &Vocabulary) -> Result<Vec<cedar_policy::PolicySet>, PolicyError> {
    let slots = vocab.actions.len() + 1;
    let slot_of = |uid: &cedar_policy::EntityUid| {
        if *uid == vocab.issue { Some(slots - 1) } else { vocab.actions.iter().position(|a| a == uid) }
    };
    let mut by_action = vec![cedar_policy::PolicySet::new(); slots];
    for p in policies.policies() {
        let targets: Vec<usize> = match p.action_constraint() {
            ActionConstraint::Eq(uid) => slot_of(&uid).into_iter().collect(),
            ActionConstraint::In(uids) => uids.iter().filter_map(slot_of).collect(),
            // `Any`, and whatever a later Cedar adds: every action.
            _ => (0..slots).collect(),
        };
        for t in targets {
            if let Some(set) = by_action.get_mut(t) {
                set.add(p.clone()).map_err(|e| PolicyError::Parse(e.to_string()))?;
            }
        }
    }
    Ok(by_action)
}

/// The operator id of the synthetic admin used by [`check_not_locked_out`].
pub const LOCKOUT_PROBE_ID: &str = "signet:lockout-probe";

/// Refuse a policy set under which an admin (a synthetic operator with the
/// `admin` role on every site, no teams and no subject) may not
/// `policy.apply`: activating it would leave nobody able to fix it.
///
/// The probe runs twice: as [`LOCKOUT_PROBE_ID`] and as an id derived from a
/// hash of the policy text, so a set cannot pass by permitting only the
/// well-known probe id. It is a check of a canonical admin, not a proof: a
/// set may still forbid admins with particular teams or sites.
pub fn check_not_locked_out(set: &PolicySet) -> Result<(), PolicyError> {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut h = DefaultHasher::new();
    set.text().hash(&mut h);
    let ids = [LOCKOUT_PROBE_ID.to_string(), format!("{LOCKOUT_PROBE_ID}:{:016x}", h.finish())];
    for id in ids {
        let admin = OperatorCtx::new(id).with_role(Role::Admin).with_all_sites();
        let d = crate::authorize(set, &admin, Action::PolicyApply, &ResourceCtx::PolicyStore);
        if !d.allowed {
            return Err(locked_out(d));
        }
    }
    Ok(())
}

fn locked_out(d: crate::Decision) -> PolicyError {
    let mut why = Vec::new();
    if d.determining_policies.is_empty() {
        why.push("no policy permits an admin to `policy.apply`".to_string());
    } else {
        why.push(format!("`policy.apply` by an admin is forbidden by {}", quoted(&d.determining_policies)));
    }
    why.extend(d.errors);
    PolicyError::LockedOut(why.join("; "))
}

pub(crate) fn quoted(ids: &[String]) -> String {
    ids.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", ")
}
