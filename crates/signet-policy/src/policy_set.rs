//! Loading a policy set: parse, name every policy by its `@id`, and validate
//! against the schema. Whether a set would lock the authority out depends on
//! its operators: [`crate::check_not_locked_out`].

use crate::entities::Vocabulary;
use crate::error::PolicyError;
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
        // `tests::default_set_loads` parses and validates them, so this
        // cannot fail in a tested build.
        Self::parse(DEFAULT_POLICIES).expect("the embedded default policy set is valid")
    }

    /// Parse Cedar policy text and validate it against [`SCHEMA`] in strict
    /// mode. Every policy must be static and carry a unique `@id("…")`, which
    /// becomes its id in decisions. This does not check for lockout: before
    /// activating a set, call [`crate::check_not_locked_out`] with the
    /// authority's operators.
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

pub(crate) fn quoted(ids: &[String]) -> String {
    ids.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", ")
}
