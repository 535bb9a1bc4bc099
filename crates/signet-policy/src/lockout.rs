//! The lockout rule: a policy set, or a change to the operators, must leave
//! the authority governable by the operators it really has.
//!
//! ```text
//!  policy set + every enabled operator (as stored: roles, sites, teams, subject)
//!      ─▶ check_not_locked_out ─▶ Ok: some operator can still `policy.apply`,
//!                                     and some can still `operator.update` a new operator
//!                               └▶ LockedOut { lost: [capability…], why }
//! ```
//!
//! Pure, like every decision here: the caller gathers the operators (the
//! core reads them from the store), this evaluates each of them with
//! [`crate::authorize`], the same function and entity building as real
//! authorisation. Nothing is synthetic but the target of `operator.update`:
//! an operator that does not exist yet (the caller passes a fresh id), which
//! is what creating a new admin asks for, so a `forbid` on self-action
//! (`sod.no-self-role-change`) or one naming existing operators does not hide
//! the answer.

use crate::{Action, OperatorCtx, ResourceCtx};
use std::fmt;

/// What the authority must never lose: without it nobody could fix a
/// mistaken policy set or give the authority a new administrator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Capability {
    /// `policy.apply` on the active set.
    ApplyPolicy,
    /// `operator.update` on a new operator: create or promote an operator.
    ManageOperators,
}

impl Capability {
    pub const ALL: [Capability; 2] = [Capability::ApplyPolicy, Capability::ManageOperators];

    /// The action that proves the capability.
    pub fn action(self) -> Action {
        match self {
            Self::ApplyPolicy => Action::PolicyApply,
            Self::ManageOperators => Action::OperatorUpdate,
        }
    }

    /// The name used in refusals and log details: `apply_policy`, `manage_operators`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ApplyPolicy => "apply_policy",
            Self::ManageOperators => "manage_operators",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::ApplyPolicy => "apply policies (`policy.apply`)",
            Self::ManageOperators => "create or change operators (`operator.update`)",
        }
    }

    fn resource(self, new_operator_id: &str) -> ResourceCtx {
        match self {
            Self::ApplyPolicy => ResourceCtx::PolicyStore,
            Self::ManageOperators => ResourceCtx::Operator { id: new_operator_id.to_string() },
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The rule's name, as refusals and log details carry it.
pub const LOCKOUT_RULE: &str = "lockout";

/// A refusal by the lockout rule: the capabilities no enabled operator would
/// keep, and why, operator by operator (at most [`MAX_NAMED_OPERATORS`] named).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rule `lockout`: {why}")]
pub struct LockedOut {
    pub lost: Vec<Capability>,
    pub why: String,
}

/// How many operators a refusal names per capability.
pub const MAX_NAMED_OPERATORS: usize = 3;

/// May the authority still be governed under `set` by `operators` (the
/// enabled ones, as stored)? At least one of them must be allowed each
/// [`Capability`]; `new_operator_id` is the id of an operator that does not
/// exist (the target of `operator.update`). An empty `operators` is locked
/// out.
pub fn check_not_locked_out(set: &crate::PolicySet, operators: &[OperatorCtx], new_operator_id: &str) -> Result<(), LockedOut> {
    let mut lost = Vec::new();
    let mut why = Vec::new();
    for capability in Capability::ALL {
        let resource = capability.resource(new_operator_id);
        let mut refusals = Vec::new();
        let mut able = false;
        for op in operators.iter().filter(|op| op.id != new_operator_id) {
            let d = crate::authorize(set, op, capability.action(), &resource);
            if d.allowed {
                able = true;
                break;
            }
            refusals.push((op, d));
        }
        if able {
            continue;
        }
        lost.push(capability);
        let mut sentence = format!("no enabled operator could still {}", capability.describe());
        if operators.is_empty() {
            sentence.push_str(" (there is no enabled operator)");
        }
        let named: Vec<String> = refusals
            .iter()
            .take(MAX_NAMED_OPERATORS)
            .map(|(op, d)| {
                let roles: Vec<&str> = op.roles.iter().map(|r| r.as_str()).collect();
                let because = if d.determining_policies.is_empty() && d.errors.is_empty() {
                    "no policy permits it".to_string()
                } else if d.determining_policies.is_empty() {
                    format!("a policy failed to evaluate ({})", d.errors.join("; "))
                } else {
                    format!("forbidden by {}", crate::policy_set::quoted(&d.determining_policies))
                };
                format!("`{}` (roles: {}): {because}", op.id, if roles.is_empty() { "none".to_string() } else { roles.join(", ") })
            })
            .collect();
        if !named.is_empty() {
            sentence.push_str(": ");
            sentence.push_str(&named.join("; "));
            if refusals.len() > named.len() {
                sentence.push_str(&format!("; and {} more", refusals.len() - named.len()));
            }
        }
        why.push(sentence);
    }
    if lost.is_empty() {
        return Ok(());
    }
    Err(LockedOut { lost, why: format!("{}; nobody could undo it through the API", why.join("; ")) })
}
