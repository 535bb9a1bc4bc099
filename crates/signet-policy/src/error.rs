//! The errors of loading and activating a policy set.

/// Why a policy set was refused. Messages are lower-case; policy ids are
/// quoted in backticks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The embedded schema did not parse (a build defect, caught by tests).
    #[error("the policy schema is invalid: {0}")]
    Schema(String),
    /// The policy text is not Cedar.
    #[error("the policy text does not parse: {0}")]
    Parse(String),
    /// The policies do not validate against Signet's schema; one message per
    /// validator error, as the Cedar validator wrote it.
    #[error("the policies do not validate against the schema: {}", .0.join("; "))]
    Validation(Vec<String>),
    /// A policy has no `@id("…")` annotation.
    #[error("policy {0} has no `@id(\"…\")` annotation; every policy needs one")]
    MissingId(String),
    /// Two policies share an `@id`.
    #[error("policy id `{0}` is used more than once")]
    DuplicateId(String),
    /// Templates are not supported (yet): every policy must be static.
    #[error("policy `{0}` is a template; only static policies are supported")]
    Template(String),
}
