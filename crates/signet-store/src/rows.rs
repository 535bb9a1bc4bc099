//! Rows as stored, and their conversion back into the model.
//!
//! Every column holds a portable value (TEXT, BIGINT, BLOB/BYTEA, BOOLEAN),
//! so one row struct serves both backends. Reading a row parses every value
//! again: a row that does not parse is [`StoreError::Corrupt`], never a panic.

use serde::de::DeserializeOwned;
use signet_core::ports::{IssuanceIntent, OperatorToken, StoreError, StoredPolicy};
use signet_model::FieldError;
use signet_model::credential::{Authority, AuthorityRole, Credential, CredentialStatus, KeyState};
use signet_model::event::Event;
use signet_model::ids::{AuthorityId, CredentialId, GrantId, OperatorId, RequestId, Serial, SubjectId, TokenId};
use signet_model::operator::{GrantState, Operator, OperatorGrant};
use signet_model::profile::{ApprovalRule, CredentialType, KeyAlgorithm, Profile};
use signet_model::request::{Approval, Request, RequestState, Verdict};
use signet_model::subject::{AssuranceLevel, Subject, SubjectKind, SubjectStatus};
use time::OffsetDateTime;

/// A time as stored: unix seconds. Model times are whole seconds in UTC;
/// anything finer is cut off.
/// A stored unix time read back outside a row type.
pub(crate) fn from_unix(table: &'static str, column: &str, v: i64) -> Result<OffsetDateTime, StoreError> {
    Parse { table }.time(column, v)
}

pub(crate) fn unix(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

/// A value encoded as JSON text for a structured column.
pub(crate) fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(format!("cannot encode a JSON column: {e}")))
}

/// Reads the columns of one row of `table`, naming the table in every error.
struct Parse {
    table: &'static str,
}

impl Parse {
    fn corrupt(&self, column: &str, reason: impl std::fmt::Display) -> StoreError {
        StoreError::Corrupt { table: self.table, reason: format!("{column}: {reason}") }
    }

    fn field(&self, e: FieldError) -> StoreError {
        self.corrupt(&e.field, e.reason)
    }

    /// Parse a value with the model's own parser (`SubjectId::parse`, `KeyAlgorithm::parse`...).
    fn parse<T>(&self, parser: impl Fn(&str, &str) -> Result<T, FieldError>, column: &str, v: &str) -> Result<T, StoreError> {
        parser(column, v).map_err(|e| self.field(e))
    }

    fn time(&self, column: &str, v: i64) -> Result<OffsetDateTime, StoreError> {
        OffsetDateTime::from_unix_timestamp(v).map_err(|e| self.corrupt(column, e))
    }

    fn opt_time(&self, column: &str, v: Option<i64>) -> Result<Option<OffsetDateTime>, StoreError> {
        v.map(|v| self.time(column, v)).transpose()
    }

    fn json<T: DeserializeOwned>(&self, column: &str, v: &str) -> Result<T, StoreError> {
        serde_json::from_str(v).map_err(|e| self.corrupt(column, e))
    }

    fn serial(&self, column: &str, v: &[u8]) -> Result<Serial, StoreError> {
        if v.len() != 16 {
            return Err(self.corrupt(column, format!("{} bytes, expected 16", v.len())));
        }
        let hex: String = v.iter().map(|b| format!("{b:02x}")).collect();
        Serial::parse_hex(column, &hex).map_err(|e| self.field(e))
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct SubjectRow {
    id: String,
    name: String,
    kind: String,
    owner: Option<String>,
    purpose: Option<String>,
    assurance: String,
    attributes: String,
    status: String,
    created_at: i64,
    updated_at: i64,
    site: String,
}

impl TryFrom<SubjectRow> for Subject {
    type Error = StoreError;

    fn try_from(r: SubjectRow) -> Result<Self, StoreError> {
        let p = Parse { table: "subjects" };
        Ok(Subject {
            id: p.parse(SubjectId::parse, "id", &r.id)?,
            name: r.name,
            kind: p.parse(SubjectKind::parse, "kind", &r.kind)?,
            owner: r.owner,
            purpose: r.purpose,
            assurance: p.parse(AssuranceLevel::parse, "assurance", &r.assurance)?,
            attributes: p.json("attributes", &r.attributes)?,
            site: r.site,
            status: p.parse(SubjectStatus::parse, "status", &r.status)?,
            created_at: p.time("created_at", r.created_at)?,
            updated_at: p.time("updated_at", r.updated_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ProfileRow {
    name: String,
    description: String,
    credential_type: String,
    key_algorithms: String,
    default_ttl_seconds: i64,
    max_ttl_seconds: i64,
    names: String,
    require_names: bool,
    ext_key_usages: String,
    is_ca: bool,
    path_len: Option<i64>,
    required_assurance: String,
    subject_kinds: String,
    version: i64,
    created_at: i64,
    updated_at: i64,
    rules: String,
}

/// The `rules` column of a profile: its scopes and approval rule.
#[derive(serde::Serialize, serde::Deserialize, Default)]
pub(crate) struct ProfileRules {
    #[serde(default)]
    pub(crate) allowed_scopes: Vec<String>,
    #[serde(default)]
    pub(crate) approvals: Option<ApprovalRule>,
    /// The credential type's own rules.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub(crate) params: serde_json::Map<String, serde_json::Value>,
}

impl TryFrom<ProfileRow> for Profile {
    type Error = StoreError;

    fn try_from(r: ProfileRow) -> Result<Self, StoreError> {
        let p = Parse { table: "profiles" };
        let path_len = r.path_len.map(|v| u8::try_from(v).map_err(|e| p.corrupt("path_len", e))).transpose()?;
        let rules: ProfileRules = p.json("rules", &r.rules)?;
        Ok(Profile {
            name: r.name,
            description: r.description,
            credential_type: p.parse(CredentialType::parse, "credential_type", &r.credential_type)?,
            key_algorithms: p.json("key_algorithms", &r.key_algorithms)?,
            default_ttl_seconds: r.default_ttl_seconds,
            max_ttl_seconds: r.max_ttl_seconds,
            names: p.json("names", &r.names)?,
            require_names: r.require_names,
            ext_key_usages: p.json("ext_key_usages", &r.ext_key_usages)?,
            is_ca: r.is_ca,
            path_len,
            required_assurance: p.parse(AssuranceLevel::parse, "required_assurance", &r.required_assurance)?,
            subject_kinds: p.json("subject_kinds", &r.subject_kinds)?,
            allowed_scopes: rules.allowed_scopes,
            approvals: rules.approvals,
            params: rules.params,
            version: r.version,
            created_at: p.time("created_at", r.created_at)?,
            updated_at: p.time("updated_at", r.updated_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct RequestRow {
    id: String,
    subject_id: String,
    profile: String,
    profile_version: i64,
    credential_type: String,
    requested_names: String,
    requested_ttl_seconds: Option<i64>,
    key_algorithm: Option<String>,
    key_fingerprint: Option<String>,
    requested_by: String,
    state: String,
    reason: Option<String>,
    credential_id: Option<String>,
    created_at: i64,
    updated_at: i64,
    requested_scopes: String,
    break_glass: bool,
    expires_at: Option<i64>,
    key_spki: Option<Vec<u8>>,
    params: String,
}

impl TryFrom<RequestRow> for Request {
    type Error = StoreError;

    fn try_from(r: RequestRow) -> Result<Self, StoreError> {
        let p = Parse { table: "requests" };
        Ok(Request {
            id: p.parse(RequestId::parse, "id", &r.id)?,
            subject_id: p.parse(SubjectId::parse, "subject_id", &r.subject_id)?,
            profile: r.profile,
            profile_version: r.profile_version,
            credential_type: p.parse(CredentialType::parse, "credential_type", &r.credential_type)?,
            requested_names: p.json("requested_names", &r.requested_names)?,
            requested_ttl_seconds: r.requested_ttl_seconds,
            requested_scopes: p.json("requested_scopes", &r.requested_scopes)?,
            params: p.json("params", &r.params)?,
            break_glass: r.break_glass,
            expires_at: p.opt_time("expires_at", r.expires_at)?,
            key_spki: r.key_spki,
            key_algorithm: r.key_algorithm.as_deref().map(|v| p.parse(KeyAlgorithm::parse, "key_algorithm", v)).transpose()?,
            key_fingerprint: r.key_fingerprint,
            requested_by: r.requested_by,
            state: p.parse(RequestState::parse, "state", &r.state)?,
            reason: r.reason,
            credential_id: r.credential_id.as_deref().map(|v| p.parse(CredentialId::parse, "credential_id", v)).transpose()?,
            created_at: p.time("created_at", r.created_at)?,
            updated_at: p.time("updated_at", r.updated_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct CredentialRow {
    id: String,
    credential_type: String,
    serial: Vec<u8>,
    subject_id: String,
    profile: String,
    request_id: String,
    issuer_id: String,
    key_algorithm: Option<String>,
    key_fingerprint: String,
    names: String,
    not_before: i64,
    not_after: i64,
    status: String,
    der: Vec<u8>,
    created_at: i64,
}

impl TryFrom<CredentialRow> for Credential {
    type Error = StoreError;

    fn try_from(r: CredentialRow) -> Result<Self, StoreError> {
        let p = Parse { table: "credentials" };
        Ok(Credential {
            id: p.parse(CredentialId::parse, "id", &r.id)?,
            credential_type: p.parse(CredentialType::parse, "credential_type", &r.credential_type)?,
            serial: p.serial("serial", &r.serial)?,
            subject_id: p.parse(SubjectId::parse, "subject_id", &r.subject_id)?,
            profile: r.profile,
            request_id: p.parse(RequestId::parse, "request_id", &r.request_id)?,
            issuer_id: p.parse(AuthorityId::parse, "issuer_id", &r.issuer_id)?,
            key_algorithm: r.key_algorithm.as_deref().map(|v| p.parse(KeyAlgorithm::parse, "key_algorithm", v)).transpose()?,
            key_fingerprint: r.key_fingerprint,
            names: p.json("names", &r.names)?,
            not_before: p.time("not_before", r.not_before)?,
            not_after: p.time("not_after", r.not_after)?,
            status: p.parse(CredentialStatus::parse, "status", &r.status)?,
            der: r.der,
            created_at: p.time("created_at", r.created_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct IntentRow {
    serial: Vec<u8>,
    request_id: String,
    subject_id: String,
    profile: String,
    key_fingerprint: String,
    created_at: i64,
    tbs_sha256: Option<Vec<u8>>,
}

impl TryFrom<IntentRow> for IssuanceIntent {
    type Error = StoreError;

    fn try_from(r: IntentRow) -> Result<Self, StoreError> {
        let p = Parse { table: "issuance_intents" };
        Ok(IssuanceIntent {
            serial: p.serial("serial", &r.serial)?,
            request_id: p.parse(RequestId::parse, "request_id", &r.request_id)?,
            subject_id: p.parse(SubjectId::parse, "subject_id", &r.subject_id)?,
            profile: r.profile,
            key_fingerprint: r.key_fingerprint,
            created_at: p.time("created_at", r.created_at)?,
            tbs_sha256: r
                .tbs_sha256
                .map(|h| <[u8; 32]>::try_from(h.as_slice()).map_err(|_| p.corrupt("tbs_sha256", "not 32 bytes")))
                .transpose()?,
        })
    }
}

/// One stored event: its entry (the bytes hashed into the tree), the leaf
/// hash stored beside it, the tree's leaf for it (`None` until the sequencer
/// integrates it), and the index columns the queries filter on.
#[derive(sqlx::FromRow)]
pub(crate) struct EventRow {
    event_index: i64,
    entry: Vec<u8>,
    leaf_hash: Vec<u8>,
    tree_leaf: Option<Vec<u8>>,
    event_type: String,
    actor: String,
    subject_id: Option<String>,
    request_id: Option<String>,
    credential_id: Option<String>,
    reason: Option<String>,
    details: String,
    trace_id: Option<String>,
    event_time: i64,
}

impl TryFrom<EventRow> for Event {
    type Error = StoreError;

    /// The event as its entry records it, never as the columns say: the
    /// entry must hash to the stored leaf hash and to the tree's leaf, decode
    /// (as the inverse of `entry_bytes`) at its own index, and every index
    /// column must equal the value the entry records. Any difference is
    /// [`StoreError::LogIntegrity`], naming the entry and what differs.
    fn try_from(r: EventRow) -> Result<Self, StoreError> {
        let index = r.event_index;
        let tampered = |reason: String| StoreError::LogIntegrity { index, reason };
        let leaf = signet_core::log::leaf_hash(&r.entry);
        if r.leaf_hash != leaf {
            return Err(tampered("its bytes do not hash to the leaf hash stored beside them".into()));
        }
        if r.tree_leaf.as_ref().is_some_and(|t| *t != leaf) {
            return Err(tampered("its leaf hash is not the tree's leaf for it".into()));
        }
        let decoded = signet_core::log::decode_entry(&r.entry).map_err(|e| tampered(e.to_string()))?;
        if decoded.index != index {
            return Err(tampered(format!("it records `index` {}", decoded.index)));
        }
        let e = &decoded.event;
        let details: Option<serde_json::Value> = serde_json::from_str(&r.details).ok();
        let differs = [
            ("event_type", r.event_type == e.event_type.as_str()),
            ("actor", r.actor == e.actor),
            ("subject_id", r.subject_id.as_deref() == e.subject_id.as_ref().map(|v| v.as_str())),
            ("request_id", r.request_id.as_deref() == e.request_id.as_ref().map(|v| v.as_str())),
            ("credential_id", r.credential_id.as_deref() == e.credential_id.as_ref().map(|v| v.as_str())),
            ("reason", r.reason == e.reason),
            ("details", details.as_ref() == Some(&e.details)),
            ("trace_id", r.trace_id == e.trace_id),
            ("event_time", r.event_time == unix(e.time)),
        ];
        if let Some((column, _)) = differs.iter().find(|(_, same)| !same) {
            return Err(tampered(format!("its `{column}` column differs from the value the entry records")));
        }
        Ok(decoded.into_event())
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AuthorityRow {
    id: String,
    role: String,
    key_algorithm: String,
    key_ref: String,
    certificate_der: Vec<u8>,
    created_at: i64,
    state: String,
    retired_at: Option<i64>,
    destroyed_at: Option<i64>,
}

impl TryFrom<AuthorityRow> for Authority {
    type Error = StoreError;

    fn try_from(r: AuthorityRow) -> Result<Self, StoreError> {
        let p = Parse { table: "authorities" };
        Ok(Authority {
            id: p.parse(AuthorityId::parse, "id", &r.id)?,
            role: p.parse(AuthorityRole::parse, "role", &r.role)?,
            key_algorithm: p.parse(KeyAlgorithm::parse, "key_algorithm", &r.key_algorithm)?,
            key_ref: r.key_ref,
            certificate_der: r.certificate_der,
            state: p.parse(KeyState::parse, "state", &r.state)?,
            created_at: p.time("created_at", r.created_at)?,
            retired_at: p.opt_time("retired_at", r.retired_at)?,
            destroyed_at: p.opt_time("destroyed_at", r.destroyed_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct TokenRow {
    id: String,
    name: String,
    secret_hash: Vec<u8>,
    operator_id: String,
    created_at: i64,
    expires_at: Option<i64>,
    revoked: bool,
}

impl TryFrom<TokenRow> for OperatorToken {
    type Error = StoreError;

    fn try_from(r: TokenRow) -> Result<Self, StoreError> {
        let p = Parse { table: "operator_tokens" };
        let secret_hash: [u8; 32] = r
            .secret_hash
            .as_slice()
            .try_into()
            .map_err(|_| p.corrupt("secret_hash", format!("{} bytes, expected 32", r.secret_hash.len())))?;
        Ok(OperatorToken {
            id: p.parse(TokenId::parse, "id", &r.id)?,
            name: r.name,
            secret_hash,
            operator_id: p.parse(OperatorId::parse, "operator_id", &r.operator_id)?,
            created_at: p.time("created_at", r.created_at)?,
            expires_at: p.opt_time("expires_at", r.expires_at)?,
            revoked: r.revoked,
        })
    }
}

/// A log entry as stored with its event.
#[derive(sqlx::FromRow)]
pub struct LogEntryRow {
    event_index: i64,
    entry: Vec<u8>,
    leaf_hash: Vec<u8>,
}

pub(crate) fn hash32(table: &'static str, column: &str, bytes: &[u8]) -> Result<[u8; 32], StoreError> {
    <[u8; 32]>::try_from(bytes).map_err(|_| StoreError::Corrupt { table, reason: format!("{column} is {} bytes, not 32", bytes.len()) })
}

impl TryFrom<LogEntryRow> for signet_core::ports::LogEntry {
    type Error = StoreError;

    fn try_from(r: LogEntryRow) -> Result<Self, StoreError> {
        Ok(Self { index: r.event_index, leaf_hash: hash32("events", "leaf_hash", &r.leaf_hash)?, entry: r.entry })
    }
}

/// A stored complete-subtree hash.
#[derive(sqlx::FromRow)]
pub(crate) struct NodeRow {
    pub level: i64,
    pub node_index: i64,
    pub hash: Vec<u8>,
}

/// The tree's size and root, or a checkpoint.
#[derive(sqlx::FromRow)]
pub(crate) struct CheckpointRow {
    tree_size: i64,
    root_hash: Vec<u8>,
    note: String,
    created_at: i64,
}

impl TryFrom<CheckpointRow> for signet_core::ports::StoredCheckpoint {
    type Error = StoreError;

    fn try_from(r: CheckpointRow) -> Result<Self, StoreError> {
        let p = Parse { table: "log_checkpoints" };
        Ok(Self {
            tree_size: u64::try_from(r.tree_size)
                .map_err(|_| StoreError::Corrupt { table: "log_checkpoints", reason: "negative tree size".into() })?,
            root_hash: hash32("log_checkpoints", "root_hash", &r.root_hash)?,
            note: r.note,
            created_at: p.time("created_at", r.created_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct TreeRow {
    pub tree_size: i64,
    pub root_hash: Vec<u8>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct OperatorRow {
    id: String,
    name: String,
    roles: String,
    sites: String,
    all_sites: bool,
    teams: String,
    subject_id: Option<String>,
    disabled: bool,
    created_at: i64,
    updated_at: i64,
    sponsors: String,
    enrolment_verifier: Option<Vec<u8>>,
    enrolment_expires_at: Option<i64>,
}

impl TryFrom<OperatorRow> for Operator {
    type Error = StoreError;

    fn try_from(r: OperatorRow) -> Result<Self, StoreError> {
        let p = Parse { table: "operators" };
        Ok(Operator {
            id: p.parse(OperatorId::parse, "id", &r.id)?,
            name: r.name,
            roles: p.json("roles", &r.roles)?,
            sites: p.json("sites", &r.sites)?,
            all_sites: r.all_sites,
            teams: p.json("teams", &r.teams)?,
            subject_id: r.subject_id.as_deref().map(|v| p.parse(SubjectId::parse, "subject_id", v)).transpose()?,
            disabled: r.disabled,
            created_at: p.time("created_at", r.created_at)?,
            updated_at: p.time("updated_at", r.updated_at)?,
            sponsors: p.json("sponsors", &r.sponsors)?,
            enrolment_verifier: r.enrolment_verifier.as_deref().map(|v| hash32("operators", "enrolment_verifier", v)).transpose()?,
            enrolment_expires_at: p.opt_time("enrolment_expires_at", r.enrolment_expires_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct GrantRow {
    id: String,
    operator_id: String,
    before_access: String,
    after_access: String,
    enrolment: Option<String>,
    requested_by: String,
    state: String,
    created_at: i64,
    expires_at: i64,
    decided_by: Option<String>,
    decided_at: Option<i64>,
}

impl TryFrom<GrantRow> for OperatorGrant {
    type Error = StoreError;

    fn try_from(r: GrantRow) -> Result<Self, StoreError> {
        let p = Parse { table: "operator_grants" };
        Ok(OperatorGrant {
            id: p.parse(GrantId::parse, "id", &r.id)?,
            operator_id: p.parse(OperatorId::parse, "operator_id", &r.operator_id)?,
            before: p.json("before_access", &r.before_access)?,
            after: p.json("after_access", &r.after_access)?,
            enrolment: r.enrolment.as_deref().map(|v| p.json("enrolment", v)).transpose()?,
            requested_by: r.requested_by,
            state: p.parse(GrantState::parse, "state", &r.state)?,
            created_at: p.time("created_at", r.created_at)?,
            expires_at: p.time("expires_at", r.expires_at)?,
            decided_by: r.decided_by,
            decided_at: p.opt_time("decided_at", r.decided_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ApprovalRow {
    request_id: String,
    approver: String,
    verdict: String,
    reason: String,
    created_at: i64,
}

impl TryFrom<ApprovalRow> for Approval {
    type Error = StoreError;

    fn try_from(r: ApprovalRow) -> Result<Self, StoreError> {
        let p = Parse { table: "approvals" };
        Ok(Approval {
            request_id: p.parse(RequestId::parse, "request_id", &r.request_id)?,
            approver: r.approver,
            verdict: p.parse(Verdict::parse, "verdict", &r.verdict)?,
            reason: r.reason,
            created_at: p.time("created_at", r.created_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct PolicyRow {
    version: i64,
    text: String,
    sha256: String,
    comment: String,
    created_by: String,
    created_at: i64,
}

impl TryFrom<PolicyRow> for StoredPolicy {
    type Error = StoreError;

    fn try_from(r: PolicyRow) -> Result<Self, StoreError> {
        let p = Parse { table: "policies" };
        Ok(StoredPolicy {
            version: r.version,
            text: r.text,
            sha256: r.sha256,
            comment: r.comment,
            created_by: r.created_by,
            created_at: p.time("created_at", r.created_at)?,
        })
    }
}
