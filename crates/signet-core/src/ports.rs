//! The narrow traits behind which all I/O lives: store, keys, clock, randomness.
//! The pipeline depends on these and on nothing concrete.

use async_trait::async_trait;
use signet_model::credential::{Authority, Credential, CredentialStatus};
use signet_model::event::{Event, NewEvent};
use signet_model::ids::{AuthorityId, CredentialId, GrantId, OperatorId, RequestId, Serial, SubjectId, TokenId};
use signet_model::operator::{GrantState, Operator, OperatorGrant};
use signet_model::profile::{KeyAlgorithm, Profile, ProfileSpec};
use signet_model::request::{Approval, Request, RequestState};
use signet_model::subject::{Subject, SubjectStatus};
use std::fmt;
use time::OffsetDateTime;

// ---------------------------------------------------------------- clock, rng

/// The time. The only source of "now" in Signet; tests pass a fixed clock.
pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

/// Cryptographically secure randomness. Tests may pass a seeded one.
pub trait Rng: Send + Sync {
    fn fill(&self, buf: &mut [u8]);

    fn bytes16(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        self.fill(&mut b);
        b
    }
}

// ---------------------------------------------------------------- store

/// A store failure. `Conflict` is a client mistake (a unique name taken);
/// everything else is internal and never shown to clients in detail.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique value is taken: `field` is the input field that carried it.
    #[error("{entity} `{value}` already exists")]
    Conflict { entity: &'static str, field: &'static str, value: String },
    /// A stored row could not be read back into a domain type.
    #[error("corrupt row in {table}: {reason}")]
    Corrupt { table: &'static str, reason: String },
    /// A credential was to be written for a subject that is not (or no
    /// longer) active: suspended or revoked since the request was decided.
    #[error("subject `{subject}` is {status}: no credential is issued to it")]
    SubjectNotActive { subject: String, status: String },
    /// The request is not waiting for approvals (any more), or its time ran out.
    #[error("the request is not pending approval")]
    NotPending,
    /// The database failed (connection, I/O, constraint other than uniqueness).
    #[error("database error: {0}")]
    Backend(String),
    /// A stored log entry fails verification on read: its bytes do not hash
    /// to its leaf hash, or its index columns differ from what it records.
    /// The log was changed around the store: never shown, always alarmed.
    #[error("log entry {index} fails verification: {reason}")]
    LogIntegrity { index: i64, reason: String },
}

/// Paging for list calls: newest first (by creation time, then id), at
/// most `limit` rows, starting after the row `after` names (from the
/// newest when `None`). A position is a row's sort key, not a count, so rows
/// added while a listing is paged through do not shift its later pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub limit: u32,
    pub after: Option<Cursor>,
}

impl Default for Page {
    fn default() -> Self {
        Self { limit: 100, after: None }
    }
}

/// A position in a newest-first listing: the sort key of the last row seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: OffsetDateTime,
    pub id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CredentialFilter {
    pub subject_id: Option<SubjectId>,
    pub profile: Option<String>,
    pub status: Option<CredentialStatus>,
    pub page: Page,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestFilter {
    pub subject_id: Option<SubjectId>,
    pub state: Option<RequestState>,
    pub page: Page,
}

/// An operator's API token, as stored: only the SHA-256 of the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorToken {
    pub id: TokenId,
    /// A human label ("bootstrap admin").
    pub name: String,
    /// SHA-256 of the secret token string.
    pub secret_hash: [u8; 32],
    /// The operator the token authenticates.
    pub operator_id: OperatorId,
    pub created_at: OffsetDateTime,
    pub expires_at: Option<OffsetDateTime>,
    pub revoked: bool,
}

/// A policy set version as stored. The highest version is the active one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPolicy {
    pub version: i64,
    /// The Cedar policy text, as applied.
    pub text: String,
    /// SHA-256 of `text`, lower-case hex.
    pub sha256: String,
    pub comment: String,
    /// The operator who applied it (`op_…`).
    pub created_by: String,
    pub created_at: OffsetDateTime,
}

/// What recording one approver's verdict did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerdictRecorded {
    /// Approvals (verdict `approve`) the request now has.
    pub approvals: u32,
    /// This verdict closed the request: the quorum was met (the request is
    /// now `approved`, for this caller alone to mint) or it was a denial
    /// (the request is now `denied`).
    pub closed: bool,
}

/// Written before signing: what is about to be signed, so that a crash
/// between signing and commit still leaves a trace (see docs/ISSUANCE-CYCLE.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuanceIntent {
    pub serial: Serial,
    pub request_id: RequestId,
    pub subject_id: SubjectId,
    pub profile: String,
    /// The bound holder key's fingerprint; empty for a bearer credential.
    pub key_fingerprint: String,
    pub created_at: OffsetDateTime,
    /// SHA-256 of the exact bytes about to be signed (the TBSCertificate,
    /// the JWS signing input). `None` only for intents recorded before it was kept.
    pub tbs_sha256: Option<[u8; 32]>,
}

/// The recorded end of one request: the request row in its final state, the
/// credential if one was minted, and the event. Written in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct IssuanceOutcome {
    pub request: Request,
    pub credential: Option<Credential>,
    pub event: NewEvent,
}

/// One write of the issuance path, batched by the group committer.
// Outcomes are moved through the committer's channel once each; boxing them
// would add an allocation per request to save a memcpy.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum IssuanceWrite {
    Intent(IssuanceIntent),
    Outcome(IssuanceOutcome),
}

/// One stored log entry: its index, its exact bytes, its leaf hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub index: i64,
    pub entry: Vec<u8>,
    pub leaf_hash: [u8; 32],
}

/// A signed checkpoint as stored: the C2SP signed note and what it commits to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    pub tree_size: u64,
    pub root_hash: [u8; 32],
    /// The signed note text.
    pub note: String,
    pub created_at: OffsetDateTime,
}

/// What the sequencer adds to the tree in one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeGrowth {
    /// The tree size the step started from; the step applies only if the
    /// stored tree still has this size (another process may have grown it).
    pub from_size: u64,
    pub to_size: u64,
    pub root_hash: [u8; 32],
    /// Newly completed subtrees: (level, index, hash).
    pub nodes: Vec<(u8, u64, [u8; 32])>,
    pub checkpoint: StoredCheckpoint,
}

/// Filters for searching the event record. All present filters must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub subject_id: Option<SubjectId>,
    pub credential_id: Option<CredentialId>,
    pub actor: Option<String>,
    pub event_type: Option<signet_model::event::EventType>,
    /// Unix seconds, inclusive.
    pub since: Option<i64>,
    /// Unix seconds, exclusive.
    pub until: Option<i64>,
    /// Only events with index > `after`.
    pub after: i64,
    pub limit: u32,
}

impl EventFilter {
    /// Does `event` (as its log entry records it) match every present filter?
    /// The store selects by its index columns, then re-applies the filter to
    /// the decoded entries: a changed index column cannot make an event show
    /// under a subject, credential, actor, type or time it does not record.
    pub fn matches(&self, event: &Event) -> bool {
        let time = event.time.unix_timestamp();
        event.index > self.after
            && self.subject_id.as_ref().is_none_or(|v| event.subject_id.as_ref() == Some(v))
            && self.credential_id.as_ref().is_none_or(|v| event.credential_id.as_ref() == Some(v))
            && self.actor.as_ref().is_none_or(|v| &event.actor == v)
            && self.event_type.is_none_or(|v| event.event_type == v)
            && self.since.is_none_or(|v| time >= v)
            && self.until.is_none_or(|v| time < v)
    }
}

/// Persistence. Two implementations (SQLite, PostgreSQL) pass one conformance
/// suite. Every method that changes state writes its event in the SAME
/// transaction as the change.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Is the database reachable? (`/readyz`)
    async fn ping(&self) -> Result<(), StoreError>;

    async fn insert_subject(&self, subject: &Subject, event: &NewEvent) -> Result<(), StoreError>;
    async fn get_subject(&self, id: &SubjectId) -> Result<Option<Subject>, StoreError>;
    async fn list_subjects(&self, page: &Page) -> Result<Vec<Subject>, StoreError>;

    /// Insert a profile (version 1) or replace it (version + 1); returns the stored profile.
    async fn put_profile(&self, spec: &ProfileSpec, now: OffsetDateTime, event: &NewEvent) -> Result<Profile, StoreError>;
    async fn get_profile(&self, name: &str) -> Result<Option<Profile>, StoreError>;
    async fn list_profiles(&self) -> Result<Vec<Profile>, StoreError>;

    /// Apply a batch of issuance writes in ONE transaction: all or nothing.
    /// Returns, per write, the log index of its event (`None` for intents).
    async fn apply_issuance_batch(&self, batch: &[IssuanceWrite]) -> Result<Vec<Option<i64>>, StoreError>;
    async fn get_intent(&self, serial: &Serial) -> Result<Option<IssuanceIntent>, StoreError>;
    async fn get_request(&self, id: &RequestId) -> Result<Option<Request>, StoreError>;
    async fn list_requests(&self, filter: &RequestFilter) -> Result<Vec<Request>, StoreError>;
    async fn get_credential(&self, id: &CredentialId) -> Result<Option<Credential>, StoreError>;
    async fn get_credential_by_serial(&self, serial: &Serial) -> Result<Option<Credential>, StoreError>;
    async fn list_credentials(&self, filter: &CredentialFilter) -> Result<Vec<Credential>, StoreError>;

    /// Append events that record no other change (a key operation, a
    /// refused authentication), in one transaction.
    async fn record_events(&self, events: &[NewEvent]) -> Result<(), StoreError>;
    /// Events with index > `after`, oldest first. Indexes start at 0.
    async fn list_events(&self, after: i64, limit: u32) -> Result<Vec<Event>, StoreError>;
    /// Events matching every present filter, oldest first.
    async fn search_events(&self, filter: &EventFilter) -> Result<Vec<Event>, StoreError>;
    /// The index of the event that recorded a credential's issuance.
    async fn issuance_event_index(&self, credential_id: &CredentialId) -> Result<Option<i64>, StoreError>;

    // The tamper-evident log. Entries are written with their events (every
    // append assigns the next index and computes the entry and its leaf hash
    // in the appending transaction); the tree over them is grown by a sequencer.

    /// Log entries with index ≥ `start`, in order.
    async fn log_entries(&self, start: i64, limit: u32) -> Result<Vec<LogEntry>, StoreError>;
    /// The size and root hash of the tree as last grown.
    async fn log_tree(&self) -> Result<(u64, [u8; 32]), StoreError>;
    /// Stored complete-subtree hashes at these (level, index) positions; missing ones are left out.
    async fn log_nodes(&self, positions: &[(u8, u64)]) -> Result<Vec<(u8, u64, [u8; 32])>, StoreError>;
    /// The tree's stored leaf hashes (level-0 nodes) from `start`, in order.
    async fn log_tree_leaves(&self, start: u64, limit: u32) -> Result<Vec<[u8; 32]>, StoreError>;
    /// Grow the tree and store its checkpoint in one transaction. `Ok(false)`:
    /// the tree was no longer `from_size` (another sequencer got there first); nothing written.
    async fn grow_log_tree(&self, growth: &TreeGrowth) -> Result<bool, StoreError>;
    /// The newest checkpoint.
    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError>;
    /// Checkpoints with tree size > `after_size`, smallest first.
    async fn list_checkpoints(&self, after_size: u64, limit: u32) -> Result<Vec<StoredCheckpoint>, StoreError>;
    /// The smallest checkpoint whose tree covers `index` (size > index).
    async fn checkpoint_covering(&self, index: u64) -> Result<Option<StoredCheckpoint>, StoreError>;

    /// The index of the last log entry `sink` acknowledged (-1: none yet).
    async fn forwarding_position(&self, sink: &str) -> Result<i64, StoreError>;
    async fn set_forwarding_position(&self, sink: &str, position: i64) -> Result<(), StoreError>;

    /// How many requests are in `state` (the pending-approvals gauge).
    async fn count_requests(&self, state: RequestState) -> Result<u64, StoreError>;

    /// Insert authorities (first start, rollover) with their events, in one transaction.
    async fn insert_authorities(&self, authorities: &[Authority], events: &[NewEvent]) -> Result<(), StoreError>;
    async fn list_authorities(&self) -> Result<Vec<Authority>, StoreError>;
    /// A rollover, in one transaction: `retire` (which must be the `active`
    /// authority of `new`'s role) becomes `retired` at `at`, `new` is
    /// inserted, the events are appended. `Ok(false)`, nothing written: `retire`
    /// was no longer active (another rollover got there first).
    async fn rotate_authority(
        &self,
        retire: &AuthorityId,
        new: &Authority,
        at: OffsetDateTime,
        events: &[NewEvent],
    ) -> Result<bool, StoreError>;
    /// Mark a `retired` authority `destroyed` at `at`, with its event.
    /// `Ok(false)`, nothing written: it was not `retired`.
    async fn destroy_authority(&self, id: &AuthorityId, at: OffsetDateTime, event: &NewEvent) -> Result<bool, StoreError>;
    /// The latest `not_after` of every credential `issuer` signed, whatever
    /// its status; `None` when it signed none.
    async fn last_not_after(&self, issuer: &AuthorityId) -> Result<Option<OffsetDateTime>, StoreError>;

    async fn insert_token(&self, token: &OperatorToken, event: &NewEvent) -> Result<(), StoreError>;
    async fn find_token(&self, secret_hash: &[u8; 32]) -> Result<Option<OperatorToken>, StoreError>;
    async fn get_token(&self, id: &TokenId) -> Result<Option<OperatorToken>, StoreError>;
    async fn list_tokens(&self, operator_id: &OperatorId) -> Result<Vec<OperatorToken>, StoreError>;
    /// Mark a token revoked. False when it was revoked already (nothing written).
    async fn revoke_token(&self, id: &TokenId, event: &NewEvent) -> Result<bool, StoreError>;

    // operators
    /// Insert an operator (its sponsors and pending enrolment included) and,
    /// when a privileged part of it waits for a second admin, that grant,
    /// with the events, in one transaction; a taken name is a [`StoreError::Conflict`].
    async fn insert_operator(&self, operator: &Operator, grant: Option<&OperatorGrant>, events: &[&NewEvent]) -> Result<(), StoreError>;
    /// Insert an operator and its first token, with their two events, in one
    /// transaction: the bootstrap admin never exists without its token.
    async fn insert_operator_with_token(
        &self,
        operator: &Operator,
        token: &OperatorToken,
        events: [&NewEvent; 2],
    ) -> Result<(), StoreError>;
    /// Replace an operator's roles, sites, teams, subject, state, sponsors and pending enrolment.
    async fn update_operator(&self, operator: &Operator, events: &[&NewEvent]) -> Result<(), StoreError>;
    /// Redeem an enrolment, in one transaction: the operator's verifier is
    /// cleared only if it is still `verifier`, unexpired at `now` and the
    /// operator not disabled; then `token` and the events are written.
    /// `Ok(false)`, nothing written: no such enrolment (used, replaced, expired).
    async fn redeem_enrolment(
        &self,
        operator_id: &OperatorId,
        verifier: &[u8; 32],
        now: OffsetDateTime,
        token: &OperatorToken,
        events: &[&NewEvent],
    ) -> Result<bool, StoreError>;
    /// Record a privileged grant waiting for a second admin, with its event.
    async fn insert_grant(&self, grant: &OperatorGrant, events: &[&NewEvent]) -> Result<(), StoreError>;
    async fn get_grant(&self, id: &GrantId) -> Result<Option<OperatorGrant>, StoreError>;
    /// The newest grants first, at most `limit`.
    async fn list_grants(&self, limit: u32) -> Result<Vec<OperatorGrant>, StoreError>;
    /// Close a pending grant as `state`, decided by `decided_by` at `at`; with
    /// `apply`, the operator row is replaced in the same transaction, only if
    /// its roles, sites, teams and state are still the grant's `before`.
    /// `Ok(false)`, nothing written: the grant was not pending, or the
    /// operator changed since it was asked.
    async fn close_grant(
        &self,
        grant: &OperatorGrant,
        state: GrantState,
        decided_by: &str,
        at: OffsetDateTime,
        apply: Option<&Operator>,
        events: &[&NewEvent],
    ) -> Result<bool, StoreError>;
    async fn get_operator(&self, id: &OperatorId) -> Result<Option<Operator>, StoreError>;
    async fn list_operators(&self) -> Result<Vec<Operator>, StoreError>;

    // subjects' lifecycle
    /// Set a subject's status; false (nothing written) when it is not `from`.
    async fn set_subject_status(
        &self,
        id: &SubjectId,
        from: SubjectStatus,
        to: SubjectStatus,
        now: OffsetDateTime,
        event: &NewEvent,
    ) -> Result<bool, StoreError>;

    // policies
    /// Store a new policy version with its event. The version must be the
    /// latest plus one: a concurrent activation makes this a
    /// [`StoreError::Conflict`], and nothing is written.
    async fn insert_policy(&self, policy: &StoredPolicy, event: &NewEvent) -> Result<(), StoreError>;
    /// The active (latest) policy version, if any was ever stored.
    async fn latest_policy(&self) -> Result<Option<StoredPolicy>, StoreError>;
    /// The active version number; 0 when none was stored (the built-in default).
    async fn latest_policy_version(&self) -> Result<i64, StoreError>;
    async fn get_policy(&self, version: i64) -> Result<Option<StoredPolicy>, StoreError>;
    /// Every version, newest first, without their text.
    async fn list_policies(&self) -> Result<Vec<StoredPolicy>, StoreError>;

    // approvals
    /// Record one approver's verdict on a request that is still
    /// `pending_approval` and not expired at `now`, with its event, in one
    /// transaction. On a denial, the request becomes `denied` (with
    /// `reason`); on an approval that brings the count to `required`, it
    /// becomes `approved` (compare-and-set: exactly one caller sees `closed`).
    /// A request that is not pending, or expired, is a [`StoreError::NotPending`];
    /// a second verdict by the same approver is a [`StoreError::Conflict`].
    async fn record_verdict(
        &self,
        approval: &Approval,
        required: u32,
        now: OffsetDateTime,
        event: &NewEvent,
    ) -> Result<VerdictRecorded, StoreError>;
    async fn list_approvals(&self, request_id: &RequestId) -> Result<Vec<Approval>, StoreError>;
    /// Move a pending request whose time ran out to `expired`, with its
    /// event. False (nothing written) when it is no longer pending.
    async fn expire_request(&self, id: &RequestId, now: OffsetDateTime, event: &NewEvent) -> Result<bool, StoreError>;
    /// Pending requests whose `expires_at` is at or before `now`, oldest first.
    async fn list_expired_pending(&self, now: OffsetDateTime, limit: u32) -> Result<Vec<RequestId>, StoreError>;
}

// ---------------------------------------------------------------- keys

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key `{0}` not found in the keystore")]
    NotFound(String),
    #[error("key `{0}` already exists in the keystore")]
    Exists(String),
    #[error("key algorithm {0} is not supported for authority keys")]
    Unsupported(KeyAlgorithm),
    /// The keystore is sealed: no key can be used until it is unsealed.
    #[error("{0}")]
    Sealed(String),
    #[error("keystore failure: {0}")]
    Backend(String),
}

/// A private key held by a [`KeyStore`]. Callers get signatures, never the key.
pub trait AuthoritySigner: Send + Sync {
    fn algorithm(&self) -> KeyAlgorithm;
    /// The DER SubjectPublicKeyInfo of the key.
    fn public_key_spki_der(&self) -> &[u8];
    /// Sign `message` with the algorithm's X.509 signature scheme: ECDSA with
    /// SHA-256 (P-256) or SHA-384 (P-384), DER-encoded; Ed25519; RSA PKCS#1
    /// v1.5 with SHA-256.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError>;
    /// May [`AuthoritySigner::sign`] hold its thread for long (a call into
    /// an HSM, an RSA private-key operation)? Then the pipeline signs on a
    /// blocking thread, off the async workers. An in-memory ECDSA or Ed25519
    /// signature (tens of microseconds of CPU, like the CSR check beside it)
    /// is made in place: handing it to another thread costs more than it does.
    fn may_block(&self) -> bool {
        true
    }
}

impl fmt::Debug for dyn AuthoritySigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuthoritySigner({})", self.algorithm())
    }
}

/// Where authority keys live. Implementations: a software keystore (files,
/// later sealed), PKCS#11 (later).
pub trait KeyStore: Send + Sync {
    /// Generate a new key named `key_ref`; refuses to overwrite.
    fn generate(&self, key_ref: &str, algorithm: KeyAlgorithm) -> Result<std::sync::Arc<dyn AuthoritySigner>, KeyError>;
    fn load(&self, key_ref: &str) -> Result<std::sync::Arc<dyn AuthoritySigner>, KeyError>;
    /// Destroy the key named `key_ref` for good (a retired authority key):
    /// afterwards `load` answers [`KeyError::NotFound`]. A key that is not
    /// there is [`KeyError::NotFound`], so a caller retrying after a crash
    /// can tell that the work is done.
    fn destroy(&self, key_ref: &str) -> Result<(), KeyError>;
}
