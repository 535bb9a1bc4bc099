//! The seam between the pipeline and the credential types.
//!
//! A credential type (X.509 certificates in `signet-x509`, JWT access tokens
//! in `signet-jwt`, …) is one implementation of [`CredentialType`]:
//!
//! ```text
//!  request body ──▶ parse_ask  (its fields; the holder key's proof of possession)   ─▶ TypedAsk
//!  TypedAsk + Grant (common part decided) ──▶ decide (its own rules; its part of the grant)
//!  Grant + BoundKey + Serial ──▶ prepare (build + lint the to-be-signed, with its hash) ─▶ PreparedCredential
//!  PreparedCredential ──▶ sign (consumed: signed once, then verified back)              ─▶ the credential's bytes
//!  Credential ──▶ present (how the API shows it: PEM, a bearer token, …)
//! ```
//!
//! The pipeline ([`crate::issuance`]) does everything else (authorisation,
//! the issuance policy, approvals, the intent, the commit, the log) once for
//! every type; adding a type changes none of it. Status publication (CRL,
//! OCSP, status lists) is a separate trait: [`crate::mint::StatusPublisher`].

use crate::mint::{BoundKey, MintError};
use signet_model::FieldError;
use signet_model::credential::Credential;
use signet_model::ids::{AuthorityId, Serial, SubjectId};
use signet_model::names::SanSet;
use signet_model::profile::{CredentialType as TypeName, Profile, ProfileSpec};
use signet_model::request::Grant;
use signet_model::subject::Subject;
use std::collections::BTreeMap;
use std::sync::Arc;
use time::OffsetDateTime;

/// What a credential type is told when it parses an ask.
#[derive(Debug, Clone, Copy)]
pub struct AskContext<'a> {
    /// The subject the credential is asked for (a holder-key proof names it).
    pub subject_id: &'a SubjectId,
    pub now: OffsetDateTime,
}

/// The credential type's part of one ask, parsed by that type at the edge:
/// what the pipeline and the policy read (names, the holder key), and the
/// rest in the type's own terms (`params`), kept with the request while it
/// waits for approvals and read back only by the type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypedAsk {
    /// Names asked for (X.509 SANs); empty for types without names.
    pub names: SanSet,
    /// The request field the names came from, for refusals that name it
    /// (`names`, or `csr.names` when taken from a CSR).
    pub names_field: &'static str,
    /// The holder key, its proof of possession checked; `None`: a bearer credential.
    pub key: Option<BoundKey>,
    /// The request field that carried the key (`csr`, `key_proof`), for refusals that name it.
    pub key_field: &'static str,
    /// The rest, in the type's own terms (a JWT's `audience`); `{}` when none.
    pub params: serde_json::Value,
}

/// A refusal by a rule checked in Rust (a rule of the profile, or of the
/// credential type): the rule's id (`profile.ttl`, `x509.issuer-validity`),
/// recorded in the denied request's log entry like a Cedar policy id, and
/// the field and reason returned to the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub rule: &'static str,
    pub error: FieldError,
}

impl Refusal {
    pub fn new(rule: &'static str, field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { rule, error: FieldError::new(field, reason) }
    }
}

/// How the API shows a credential of this type, beside its common fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Presentation {
    /// Added to the credential object (`certificate_pem`, `token`).
    pub credential: serde_json::Map<String, serde_json::Value>,
    /// Added beside it in an issuance response (`chain_pem`).
    pub response: serde_json::Map<String, serde_json::Value>,
}

/// One credential type. See the module docs for where each method sits in
/// the pipeline.
pub trait CredentialType: Send + Sync + 'static {
    /// The name profiles select it by (`credential_type = "x509"`).
    fn name(&self) -> TypeName;

    /// Parse this type's fields of a request body (every field but
    /// `subject`, `profile`, `ttl`, `scopes` and `reason`), checking the
    /// holder key's proof of possession. An unknown field, or one that
    /// belongs to another type (a CSR on a JWT profile), is an error naming it.
    fn parse_ask(&self, body: &serde_json::Map<String, serde_json::Value>, cx: &AskContext<'_>) -> Result<TypedAsk, FieldError>;

    /// The lifetime a profile of this type grants when it sets no
    /// `default_ttl` (capped by its `max_ttl`). X.509: a day.
    fn default_ttl_seconds(&self) -> i64 {
        86400
    }

    /// Check a profile of this type when it is applied: its `params`, and
    /// the common settings that mean nothing for this type (extended key
    /// usages on a JWT profile).
    fn check_profile(&self, profile: &ProfileSpec) -> Result<(), FieldError>;

    /// This type's rules, after the profile's common rules passed: complete
    /// `grant` (its validity within the signing key's, its `params`), or
    /// refuse naming the rule and the field.
    fn decide(&self, ask: &TypedAsk, profile: &Profile, subject: &Subject, grant: &mut Grant, now: OffsetDateTime) -> Result<(), Refusal>;

    /// Build and lint the to-be-signed credential for `grant`, bound to
    /// `key`, numbered `serial`, with the signing key active now. Nothing is
    /// signed yet.
    fn prepare(&self, grant: &Grant, key: Option<&BoundKey>, serial: &Serial) -> Result<Box<dyn PreparedCredential>, MintError>;

    /// How the API shows one of its credentials.
    fn present(&self, credential: &Credential) -> Presentation;
}

/// A to-be-signed credential, linted, with the hash recorded as the intent.
/// Signing consumes it: it cannot be signed twice.
pub trait PreparedCredential: Send + 'static {
    /// SHA-256 of the exact bytes to be signed.
    fn tbs_sha256(&self) -> [u8; 32];
    /// The authority key that will sign it.
    fn issuer_id(&self) -> &AuthorityId;
    /// Whether signing may hold its thread for long (its signer's
    /// [`crate::ports::AuthoritySigner::may_block`]): then it is signed on a
    /// blocking thread.
    fn may_block(&self) -> bool {
        true
    }
    /// Sign with the authority key, verify the result back, return the
    /// credential's bytes. May block (an HSM): the pipeline then runs it off
    /// the async workers.
    fn sign(self: Box<Self>) -> Result<Vec<u8>, MintError>;
}

/// The credential types an authority issues, by name.
#[derive(Clone, Default)]
pub struct CredentialTypes {
    types: BTreeMap<TypeName, Arc<dyn CredentialType>>,
}

impl std::fmt::Debug for CredentialTypes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.types.keys()).finish()
    }
}

impl CredentialTypes {
    /// Add a type; a second type of the same name replaces the first.
    pub fn register(&mut self, ty: Arc<dyn CredentialType>) {
        self.types.insert(ty.name(), ty);
    }

    pub fn get(&self, name: &TypeName) -> Option<&Arc<dyn CredentialType>> {
        self.types.get(name)
    }

    /// The type named `name`, or a refusal naming `field`.
    pub fn require(&self, field: &str, name: &TypeName) -> Result<&Arc<dyn CredentialType>, FieldError> {
        self.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.types.keys().map(|k| k.as_str()).collect();
            FieldError::new(field, format!("`{name}` is not a credential type of this authority; it issues {}", known.join(", ")))
        })
    }

    pub fn names(&self) -> impl Iterator<Item = &TypeName> {
        self.types.keys()
    }
}
