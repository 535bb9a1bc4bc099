//! The actions an operator may be allowed, and the operator roles.
//!
//! The names are the Cedar action ids of `schema.cedarschema`
//! (`Action::"subject.create"`); [`Action::ALL`] and the schema list the same
//! set, which a test checks.

use std::fmt;

/// An operator action: what `authorize` decides. Issuance itself
/// (`credential.issue`) is decided by `decide_issuance`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// Enrol a subject (resource: the subject to be created).
    SubjectCreate,
    SubjectRead,
    SubjectUpdate,
    SubjectSuspend,
    /// Lift a suspension.
    SubjectReinstate,
    SubjectRevoke,
    ProfileRead,
    /// Create or change a profile.
    ProfileApply,
    PolicyRead,
    /// Activate a policy set.
    PolicyApply,
    /// Submit a credential request (in one's own name).
    RequestSubmit,
    RequestRead,
    RequestApprove,
    RequestDeny,
    CredentialRead,
    CredentialRevoke,
    /// Read the tamper-evident log.
    LogRead,
    MetricsRead,
    /// Read reports derived from the log and the store.
    ReportRead,
    OperatorRead,
    /// Change an operator's roles, sites or teams.
    OperatorUpdate,
    TokenCreate,
    TokenRevoke,
    SiteRead,
    SiteUpdate,
    /// Ask for emergency access.
    BreakGlassRequest,
    BreakGlassApprove,
    /// Seal the keystore: drop every authority key from memory.
    KeystoreSeal,
    /// List the authority keys and their rotation state.
    AuthorityRead,
    /// Roll an authority key over: a new key becomes active, the old one retired.
    AuthorityRotate,
    /// Destroy a retired authority key in the keystore.
    AuthorityDestroy,
}

impl Action {
    pub const ALL: [Action; 31] = [
        Self::SubjectCreate,
        Self::SubjectRead,
        Self::SubjectUpdate,
        Self::SubjectSuspend,
        Self::SubjectReinstate,
        Self::SubjectRevoke,
        Self::ProfileRead,
        Self::ProfileApply,
        Self::PolicyRead,
        Self::PolicyApply,
        Self::RequestSubmit,
        Self::RequestRead,
        Self::RequestApprove,
        Self::RequestDeny,
        Self::CredentialRead,
        Self::CredentialRevoke,
        Self::LogRead,
        Self::MetricsRead,
        Self::ReportRead,
        Self::OperatorRead,
        Self::OperatorUpdate,
        Self::TokenCreate,
        Self::TokenRevoke,
        Self::SiteRead,
        Self::SiteUpdate,
        Self::BreakGlassRequest,
        Self::BreakGlassApprove,
        Self::KeystoreSeal,
        Self::AuthorityRead,
        Self::AuthorityRotate,
        Self::AuthorityDestroy,
    ];

    /// The Cedar action id.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SubjectCreate => "subject.create",
            Self::SubjectRead => "subject.read",
            Self::SubjectUpdate => "subject.update",
            Self::SubjectSuspend => "subject.suspend",
            Self::SubjectReinstate => "subject.reinstate",
            Self::SubjectRevoke => "subject.revoke",
            Self::ProfileRead => "profile.read",
            Self::ProfileApply => "profile.apply",
            Self::PolicyRead => "policy.read",
            Self::PolicyApply => "policy.apply",
            Self::RequestSubmit => "request.submit",
            Self::RequestRead => "request.read",
            Self::RequestApprove => "request.approve",
            Self::RequestDeny => "request.deny",
            Self::CredentialRead => "credential.read",
            Self::CredentialRevoke => "credential.revoke",
            Self::LogRead => "log.read",
            Self::MetricsRead => "metrics.read",
            Self::ReportRead => "report.read",
            Self::OperatorRead => "operator.read",
            Self::OperatorUpdate => "operator.update",
            Self::TokenCreate => "token.create",
            Self::TokenRevoke => "token.revoke",
            Self::SiteRead => "site.read",
            Self::SiteUpdate => "site.update",
            Self::BreakGlassRequest => "break_glass.request",
            Self::BreakGlassApprove => "break_glass.approve",
            Self::KeystoreSeal => "keystore.seal",
            Self::AuthorityRead => "authority.read",
            Self::AuthorityRotate => "authority.rotate",
            Self::AuthorityDestroy => "authority.destroy",
        }
    }

    /// Parse a Cedar action id (`subject.read`).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// The position in [`Action::ALL`].
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The Cedar action id of issuance.
pub const ISSUE_ACTION: &str = "credential.issue";

/// Operator roles: the `Role` enumerated entity type of the schema (defined
/// in the domain model, where operators live).
pub use signet_model::operator::Role;
