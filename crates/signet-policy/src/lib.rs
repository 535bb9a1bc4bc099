//! Signet's policy engine: a Cedar schema, a default policy set, and pure
//! decision functions for operator authorisation and credential issuance.
//!
//! ```text
//!  policy text ──▶ PolicySet::parse ──▶ (strict validation against SCHEMA,
//!                                        every policy named by its @id)
//!              ──▶ check_not_locked_out(set, the enabled operators) ──▶ activate (the caller's job)
//!
//!  OperatorCtx + Action + ResourceCtx ──▶ authorize ──────▶ Decision
//!  IssuanceCtx (subject, profile, names,
//!   ttl, scopes, evidence, caller)     ──▶ decide_issuance ─▶ Decision
//!                                                   Decision ──▶ explain
//! ```
//!
//! - **Pure.** No I/O, no clock: a decision is a function of the policy set
//!   and the typed inputs. Entities are built per call from the inputs with
//!   Cedar's value constructors, never by formatting Cedar source.
//! - **Default deny, fail closed.** Nothing is allowed unless a `permit`
//!   matches and no `forbid` does; a policy that fails to evaluate denies.
//! - **Decisions name their policies.** Every policy carries a unique
//!   `@id("…")`, used as its id in [`Decision::determining_policies`];
//!   forbids carry a `@reason("…")`.
//! - **Fast.** Schema and policies are parsed and validated once per
//!   [`PolicySet`], and split by action scope; a decision builds two small
//!   entities and evaluates only the policies that name its action
//!   (~70,000 authorisation decisions/s on 2 threads, release build).
//!
//! The schema (`schema.cedarschema`, [`SCHEMA`]) documents every entity type
//! and action; the default set (`default.cedar`, [`DEFAULT_POLICIES`])
//! documents every role.

mod action;
mod decide;
mod entities;
mod error;
mod lockout;
mod policy_set;

pub use action::{Action, ISSUE_ACTION, Role};
pub use decide::{Decision, Evidence, Explanation, IssuanceCtx, authorize, decide_issuance, explain};
pub use entities::{CredentialRef, OperatorCtx, ProfileRef, ProfileRules, RequestRef, ResourceCtx, SubjectRef};
pub use error::PolicyError;
pub use lockout::{Capability, LOCKOUT_RULE, LockedOut, MAX_NAMED_OPERATORS, check_not_locked_out};
pub use policy_set::{DEFAULT_POLICIES, PolicyInfo, PolicySet, SCHEMA};

#[cfg(test)]
mod tests;
