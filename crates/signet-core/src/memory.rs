//! An in-memory [`Store`], for tests and tools; keeps nothing on disk.
//!
//! [`MemoryStore`] behaves as the SQL store (`signet-store`) does, call for
//! call, and runs the same conformance suite: the same conflicts, the same
//! compare-and-set answers, [`StoreError::SubjectNotActive`] at commit, the
//! same newest-first paging, and log entries built by [`crate::log::entry_bytes`]
//! and hashed by [`crate::log::leaf_hash`] at append, so its entries are
//! byte for byte those the SQL store would write for the same events.
//!
//! ```text
//!  MemoryStore ── Mutex<State> ── one lock per call: each call is one transaction
//!                    │
//!                    ├── rows: subjects, profiles, requests, credentials, intents, …
//!                    └── log: entries (index, bytes, leaf hash), tree nodes, checkpoints
//! ```
//!
//! A call that fails checks everything before it changes anything, so a
//! refused call leaves the store as it was (all or nothing, as a rolled-back
//! transaction). Rows are kept as the caller's structs (cloned whole); the
//! times the store itself writes from a `now` or `at` argument are cut to
//! whole seconds, as the SQL store's unix-second columns cut them. The
//! uniqueness and foreign-key rules of the SQL schema are kept too: a taken
//! unique value the SQL store reports as a [`StoreError::Conflict`] is one
//! here, a taken primary key or a missing referenced row is a
//! [`StoreError::Backend`] error, as a constraint failure is there.

use crate::log;
use crate::ports::{
    CredentialFilter, Cursor, EventFilter, IssuanceIntent, IssuanceWrite, LogEntry, OperatorToken, Page, RequestFilter, Store, StoreError,
    StoredCheckpoint, StoredPolicy, TreeGrowth, VerdictRecorded,
};
use async_trait::async_trait;
use signet_model::credential::{Authority, Credential, KeyState};
use signet_model::event::{Event, EventType, NewEvent};
use signet_model::ids::{AuthorityId, CredentialId, GrantId, OperatorId, RequestId, Serial, SubjectId, TokenId};
use signet_model::operator::{GrantState, Operator, OperatorAccess, OperatorGrant};
use signet_model::profile::{Profile, ProfileSpec};
use signet_model::request::{Approval, Request, RequestState, Verdict};
use signet_model::subject::{Subject, SubjectStatus};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;
use std::sync::Mutex;
use time::OffsetDateTime;

/// A [`Store`] held in memory, for tests and tools; keeps nothing on disk.
/// Every call takes one lock and is atomic, as a transaction of the SQL store is.
#[derive(Debug)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty store: no rows, an empty log whose tree has size 0.
    pub fn new() -> Self {
        Self { state: Mutex::new(State::new()) }
    }

    /// Run `f` on the state under the lock: one call, one transaction.
    fn with<T>(&self, f: impl FnOnce(&mut State) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let mut state = self.state.lock().map_err(|_| StoreError::Backend("the memory store's lock is poisoned".into()))?;
        f(&mut state)
    }
}

/// One appended event: its log entry, and the event it was built from (the
/// SQL store's index columns, which select rows before the entry is decoded).
#[derive(Debug, Clone)]
struct StoredEvent {
    log: LogEntry,
    event: NewEvent,
}

/// Everything the store holds. Each table is keyed as the SQL table is.
#[derive(Debug)]
struct State {
    subjects: BTreeMap<SubjectId, Subject>,
    profiles: BTreeMap<String, Profile>,
    requests: BTreeMap<RequestId, Request>,
    credentials: BTreeMap<CredentialId, Credential>,
    /// The unique `serial` of `credentials`.
    credential_serials: HashMap<Serial, CredentialId>,
    intents: HashMap<Serial, IssuanceIntent>,
    /// The log, in index order: `events[i]` has index `i`.
    events: Vec<StoredEvent>,
    /// Complete-subtree hashes by (level, index).
    log_nodes: BTreeMap<(u8, u64), [u8; 32]>,
    /// The tree's size and root as last grown.
    tree: (u64, [u8; 32]),
    checkpoints: BTreeMap<u64, StoredCheckpoint>,
    forwarding: BTreeMap<String, i64>,
    authorities: BTreeMap<AuthorityId, Authority>,
    tokens: BTreeMap<TokenId, OperatorToken>,
    operators: BTreeMap<OperatorId, Operator>,
    grants: BTreeMap<GrantId, OperatorGrant>,
    /// Verdicts by (request, approver): one per approver and request.
    approvals: BTreeMap<(RequestId, String), Approval>,
    policies: BTreeMap<i64, StoredPolicy>,
}

// ---------------------------------------------------------------- helpers

/// `t` as the SQL store reads back a time it wrote: whole seconds, UTC.
fn whole_seconds(t: OffsetDateTime) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp(t.unix_timestamp()).map_err(|e| StoreError::Backend(format!("time out of range: {e}")))
}

/// A primary key taken: the SQL store reports it as a database error.
fn key_taken(table: &str, key: &str) -> StoreError {
    StoreError::Backend(format!("{table}: primary key `{key}` already exists"))
}

/// A row referenced by a foreign key is missing: a database error too.
fn missing_reference(table: &str, column: &str, value: &str) -> StoreError {
    StoreError::Backend(format!("{table}: foreign key `{column}` = `{value}` references no row"))
}

/// The value a serial conflict names: a serial repeated within the batch,
/// else the first one already stored, as the SQL store finds it.
fn taken_serial(serials: &[&Serial], stored: impl Fn(&Serial) -> bool) -> Option<String> {
    let mut seen = HashSet::new();
    if let Some(dup) = serials.iter().find(|s| !seen.insert(**s)) {
        return Some(dup.to_hex());
    }
    serials.iter().find(|s| stored(s)).map(|s| s.to_hex())
}

/// The sort key of newest-first listings: creation time (unix seconds), then id.
fn sort_key(created_at: OffsetDateTime, id: &str) -> (i64, &str) {
    (created_at.unix_timestamp(), id)
}

/// Newest first, after the page's cursor, at most `page.limit` rows.
fn newest_first<'a, T: Clone + 'a>(rows: impl Iterator<Item = &'a T>, key: impl Fn(&T) -> (i64, &str), page: &Page) -> Vec<T> {
    let after = page.after.as_ref().map(|c: &Cursor| (c.created_at.unix_timestamp(), c.id.as_str()));
    let mut kept: Vec<&T> = rows.filter(|r| after.is_none_or(|a| key(r) < a)).collect();
    kept.sort_by(|a, b| key(b).cmp(&key(a)));
    kept.into_iter().take(limit(page.limit)).cloned().collect()
}

fn limit(limit: u32) -> usize {
    usize::try_from(limit).unwrap_or(usize::MAX)
}

/// Does a stored event's index columns match the search (the SQL store's `WHERE`)?
fn columns_match(f: &EventFilter, e: &NewEvent) -> bool {
    let time = e.time.unix_timestamp();
    f.subject_id.as_ref().is_none_or(|v| e.subject_id.as_ref() == Some(v))
        && f.credential_id.as_ref().is_none_or(|v| e.credential_id.as_ref() == Some(v))
        && f.actor.as_ref().is_none_or(|v| &e.actor == v)
        && f.event_type.is_none_or(|v| e.event_type == v)
        && f.since.is_none_or(|v| time >= v)
        && f.until.is_none_or(|v| time < v)
}

/// Was the operator row still as the grant saw it? (What the SQL store compares.)
fn access_unchanged(op: &Operator, before: &OperatorAccess) -> bool {
    op.roles == before.roles
        && op.sites == before.sites
        && op.all_sites == before.all_sites
        && op.teams == before.teams
        && op.disabled == before.disabled
}

/// Could `new` be inserted in order beside `existing`: ids free, at most one
/// active authority per role (the SQL schema's key and partial unique index)?
fn check_new_authorities<'a>(
    existing: impl Iterator<Item = &'a Authority> + Clone,
    new: impl Iterator<Item = &'a Authority>,
) -> Result<(), StoreError> {
    let mut added: Vec<&Authority> = Vec::new();
    for a in new {
        if existing.clone().chain(added.iter().copied()).any(|b| b.id == a.id) {
            return Err(key_taken("authorities", a.id.as_str()));
        }
        if a.is_active() && existing.clone().chain(added.iter().copied()).any(|b| b.is_active() && b.role == a.role) {
            return Err(StoreError::Conflict { entity: "active authority of role", field: "role", value: a.role.as_str().into() });
        }
        added.push(a);
    }
    Ok(())
}

impl State {
    fn new() -> Self {
        Self {
            subjects: BTreeMap::new(),
            profiles: BTreeMap::new(),
            requests: BTreeMap::new(),
            credentials: BTreeMap::new(),
            credential_serials: HashMap::new(),
            intents: HashMap::new(),
            events: Vec::new(),
            log_nodes: BTreeMap::new(),
            tree: (0, signet_log::empty_root()),
            checkpoints: BTreeMap::new(),
            forwarding: BTreeMap::new(),
            authorities: BTreeMap::new(),
            tokens: BTreeMap::new(),
            operators: BTreeMap::new(),
            grants: BTreeMap::new(),
            approvals: BTreeMap::new(),
            policies: BTreeMap::new(),
        }
    }

    /// Append events in order, each entry chained to the one before it, as
    /// the SQL store appends them. Returns the index given to the first.
    fn append(&mut self, events: &[&NewEvent]) -> i64 {
        let (mut next, mut prev) = match self.events.last() {
            Some(last) => (last.log.index + 1, last.log.leaf_hash),
            None => (0, [0u8; 32]),
        };
        let first = next;
        for e in events {
            let entry = log::entry_bytes(next, &prev, e);
            let leaf_hash = log::leaf_hash(&entry);
            self.events.push(StoredEvent { log: LogEntry { index: next, entry, leaf_hash }, event: (*e).clone() });
            prev = leaf_hash;
            next += 1;
        }
        first
    }

    /// The event as its entry records it, checked as the SQL store checks a
    /// stored entry on every read (see `EventRow` in `signet-store`).
    fn read_event(&self, stored: &StoredEvent) -> Result<Event, StoreError> {
        let index = stored.log.index;
        let tampered = |reason: String| StoreError::LogIntegrity { index, reason };
        let leaf = log::leaf_hash(&stored.log.entry);
        if stored.log.leaf_hash != leaf {
            return Err(tampered("its bytes do not hash to the leaf hash stored beside them".into()));
        }
        let tree_leaf = u64::try_from(index).ok().and_then(|i| self.log_nodes.get(&(0, i)));
        if tree_leaf.is_some_and(|t| *t != leaf) {
            return Err(tampered("its leaf hash is not the tree's leaf for it".into()));
        }
        let decoded = log::decode_entry(&stored.log.entry).map_err(|e| tampered(e.to_string()))?;
        if decoded.index != index {
            return Err(tampered(format!("it records `index` {}", decoded.index)));
        }
        Ok(decoded.into_event())
    }

    /// Stored events with index > `after`, oldest first.
    fn events_after(&self, after: i64) -> &[StoredEvent] {
        let start = usize::try_from(after.saturating_add(1).max(0)).unwrap_or(usize::MAX);
        self.events.get(start..).unwrap_or(&[])
    }

    // ------------------------------------------------------------ row checks

    /// A credential is written only for a subject that is `active` now (at commit).
    fn require_active_subjects<'a>(&self, subjects: impl Iterator<Item = &'a SubjectId>) -> Result<(), StoreError> {
        let mut seen = HashSet::new();
        for id in subjects.filter(|id| seen.insert(*id)) {
            match self.subjects.get(id).map(|s| s.status) {
                Some(SubjectStatus::Active) => {}
                Some(status) => return Err(StoreError::SubjectNotActive { subject: id.to_string(), status: status.as_str().into() }),
                None => return Err(StoreError::SubjectNotActive { subject: id.to_string(), status: "missing".into() }),
            }
        }
        Ok(())
    }

    /// Could `op` be inserted (its id and name free)?
    fn check_new_operator(&self, op: &Operator) -> Result<(), StoreError> {
        if self.operators.contains_key(&op.id) {
            return Err(key_taken("operators", op.id.as_str()));
        }
        if self.operators.values().any(|o| o.name == op.name) {
            return Err(StoreError::Conflict { entity: "operator", field: "name", value: op.name.clone() });
        }
        Ok(())
    }

    /// Could `token` be inserted (its id and secret free)?
    fn check_new_token(&self, token: &OperatorToken) -> Result<(), StoreError> {
        if self.tokens.contains_key(&token.id) {
            return Err(key_taken("operator_tokens", token.id.as_str()));
        }
        if self.tokens.values().any(|t| t.secret_hash == token.secret_hash) {
            // Never echo a secret, nor its hash.
            return Err(StoreError::Conflict { entity: "token", field: "secret", value: "[redacted]".into() });
        }
        Ok(())
    }

    /// Could `grant` be inserted, with `new_operator` inserted in the same call?
    fn check_new_grant(&self, grant: &OperatorGrant, new_operator: Option<&OperatorId>) -> Result<(), StoreError> {
        if self.grants.contains_key(&grant.id) {
            return Err(key_taken("operator_grants", grant.id.as_str()));
        }
        if !self.operators.contains_key(&grant.operator_id) && new_operator != Some(&grant.operator_id) {
            return Err(missing_reference("operator_grants", "operator_id", grant.operator_id.as_str()));
        }
        Ok(())
    }

    /// Replace an operator's mutable fields as the SQL store's `UPDATE` does:
    /// everything but its id, name and creation time.
    fn replace_operator(&mut self, op: &Operator) {
        if let Some(stored) = self.operators.get_mut(&op.id) {
            let (name, created_at) = (stored.name.clone(), stored.created_at);
            *stored = Operator { name, created_at, ..op.clone() };
        }
    }

    // ------------------------------------------------------------ issuance

    /// Check a whole batch in the order the SQL store writes it (subjects at
    /// commit, intents, requests, credentials), then write it: all or nothing.
    fn apply_issuance_batch(&mut self, batch: &[IssuanceWrite]) -> Result<Vec<Option<i64>>, StoreError> {
        let mut intents = Vec::new();
        let mut requests = Vec::new();
        let mut credentials = Vec::new();
        let mut events = Vec::new();
        for write in batch {
            match write {
                IssuanceWrite::Intent(i) => intents.push(i),
                IssuanceWrite::Outcome(o) => {
                    requests.push(&o.request);
                    if let Some(c) = &o.credential {
                        credentials.push(c);
                    }
                    events.push(&o.event);
                }
            }
        }

        self.require_active_subjects(credentials.iter().map(|c| &c.subject_id))?;

        let intent_serials: Vec<&Serial> = intents.iter().map(|i| &i.serial).collect();
        if let Some(value) = taken_serial(&intent_serials, |s| self.intents.contains_key(s)) {
            return Err(StoreError::Conflict { entity: "credential", field: "serial", value });
        }

        for r in &requests {
            if !self.subjects.contains_key(&r.subject_id) {
                return Err(missing_reference("requests", "subject_id", r.subject_id.as_str()));
            }
            if !self.profiles.contains_key(&r.profile) {
                return Err(missing_reference("requests", "profile", &r.profile));
            }
        }

        let credential_serials: Vec<&Serial> = credentials.iter().map(|c| &c.serial).collect();
        let mut ids = HashSet::new();
        let mut serials = HashSet::new();
        for c in &credentials {
            if self.credentials.contains_key(&c.id) || !ids.insert(&c.id) {
                return Err(key_taken("credentials", c.id.as_str()));
            }
            if self.credential_serials.contains_key(&c.serial) || !serials.insert(&c.serial) {
                let value = taken_serial(&credential_serials, |s| self.credential_serials.contains_key(s));
                return Err(StoreError::Conflict {
                    entity: "credential",
                    field: "serial",
                    value: value.unwrap_or_else(|| c.serial.to_hex()),
                });
            }
        }
        let batch_requests: HashSet<&RequestId> = requests.iter().map(|r| &r.id).collect();
        for c in &credentials {
            if !self.profiles.contains_key(&c.profile) {
                return Err(missing_reference("credentials", "profile", &c.profile));
            }
            if !self.requests.contains_key(&c.request_id) && !batch_requests.contains(&c.request_id) {
                return Err(missing_reference("credentials", "request_id", c.request_id.as_str()));
            }
            if !self.authorities.contains_key(&c.issuer_id) {
                return Err(missing_reference("credentials", "issuer_id", c.issuer_id.as_str()));
            }
        }

        // Everything checked: write.
        for i in intents {
            self.intents.insert(i.serial.clone(), i.clone());
        }
        for r in requests {
            // A request written before keeps its first `created_at`.
            let created_at = self.requests.get(&r.id).map_or(r.created_at, |stored| stored.created_at);
            self.requests.insert(r.id.clone(), Request { created_at, ..r.clone() });
        }
        for c in credentials {
            self.credential_serials.insert(c.serial.clone(), c.id.clone());
            self.credentials.insert(c.id.clone(), c.clone());
        }
        let mut next = self.append(&events);
        Ok(batch
            .iter()
            .map(|w| match w {
                IssuanceWrite::Intent(_) => None,
                IssuanceWrite::Outcome(_) => {
                    next += 1;
                    Some(next - 1)
                }
            })
            .collect())
    }

    // ------------------------------------------------------------ approvals

    fn record_verdict(
        &mut self,
        approval: &Approval,
        required: u32,
        now: OffsetDateTime,
        event: &NewEvent,
    ) -> Result<VerdictRecorded, StoreError> {
        let now_s = whole_seconds(now)?;
        let pending = self.requests.get(&approval.request_id).is_some_and(|r| {
            r.state == RequestState::PendingApproval && r.expires_at.is_none_or(|t| t.unix_timestamp() > now.unix_timestamp())
        });
        if !pending {
            return Err(StoreError::NotPending);
        }
        let key = (approval.request_id.clone(), approval.approver.clone());
        if self.approvals.contains_key(&key) {
            return Err(StoreError::Conflict { entity: "approval", field: "approver", value: approval.approver.clone() });
        }
        self.approvals.insert(key, approval.clone());
        let approvals = self.approvals.values().filter(|a| a.request_id == approval.request_id && a.verdict == Verdict::Approve).count();
        let approvals = u32::try_from(approvals).unwrap_or(u32::MAX);
        let close_as = match approval.verdict {
            Verdict::Deny => Some((RequestState::Denied, Some(format!("denied by `{}`: {}", approval.approver, approval.reason)))),
            Verdict::Approve if approvals >= required => Some((RequestState::Approved, None)),
            Verdict::Approve => None,
        };
        let mut closed = false;
        if let Some((state, reason)) = close_as
            && let Some(r) = self.requests.get_mut(&approval.request_id)
            && r.state == RequestState::PendingApproval
        {
            r.state = state;
            r.reason = reason;
            r.updated_at = now_s;
            closed = true;
        }
        self.append(&[event]);
        Ok(VerdictRecorded { approvals, closed })
    }
}

// ---------------------------------------------------------------- the Store

#[async_trait]
impl Store for MemoryStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.with(|_| Ok(()))
    }

    // ------------------------------------------------------------ subjects

    async fn insert_subject(&self, subject: &Subject, event: &NewEvent) -> Result<(), StoreError> {
        self.with(|s| {
            if s.subjects.contains_key(&subject.id) {
                return Err(key_taken("subjects", subject.id.as_str()));
            }
            if s.subjects.values().any(|o| o.name == subject.name) {
                return Err(StoreError::Conflict { entity: "subject", field: "name", value: subject.name.clone() });
            }
            s.subjects.insert(subject.id.clone(), subject.clone());
            s.append(&[event]);
            Ok(())
        })
    }

    async fn get_subject(&self, id: &SubjectId) -> Result<Option<Subject>, StoreError> {
        self.with(|s| Ok(s.subjects.get(id).cloned()))
    }

    async fn list_subjects(&self, page: &Page) -> Result<Vec<Subject>, StoreError> {
        self.with(|s| Ok(newest_first(s.subjects.values(), |r| sort_key(r.created_at, r.id.as_str()), page)))
    }

    // ------------------------------------------------------------ profiles

    async fn put_profile(&self, spec: &ProfileSpec, now: OffsetDateTime, event: &NewEvent) -> Result<Profile, StoreError> {
        self.with(|s| {
            let now = whole_seconds(now)?;
            let (version, created_at) = match s.profiles.get(&spec.name) {
                Some(p) => (p.version + 1, p.created_at),
                None => (1, now),
            };
            let profile = spec.clone().into_profile(version, created_at, now);
            s.profiles.insert(spec.name.clone(), profile.clone());
            s.append(&[event]);
            Ok(profile)
        })
    }

    async fn get_profile(&self, name: &str) -> Result<Option<Profile>, StoreError> {
        self.with(|s| Ok(s.profiles.get(name).cloned()))
    }

    async fn list_profiles(&self) -> Result<Vec<Profile>, StoreError> {
        self.with(|s| Ok(newest_first(s.profiles.values(), |p| sort_key(p.created_at, &p.name), &Page { limit: u32::MAX, after: None })))
    }

    // ------------------------------------------------------------ issuance

    async fn apply_issuance_batch(&self, batch: &[IssuanceWrite]) -> Result<Vec<Option<i64>>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        self.with(|s| s.apply_issuance_batch(batch))
    }

    async fn get_intent(&self, serial: &Serial) -> Result<Option<IssuanceIntent>, StoreError> {
        self.with(|s| Ok(s.intents.get(serial).cloned()))
    }

    async fn get_request(&self, id: &RequestId) -> Result<Option<Request>, StoreError> {
        self.with(|s| Ok(s.requests.get(id).cloned()))
    }

    async fn list_requests(&self, filter: &RequestFilter) -> Result<Vec<Request>, StoreError> {
        self.with(|s| {
            let rows = s
                .requests
                .values()
                .filter(|r| filter.subject_id.as_ref().is_none_or(|v| &r.subject_id == v) && filter.state.is_none_or(|v| r.state == v));
            Ok(newest_first(rows, |r| sort_key(r.created_at, r.id.as_str()), &filter.page))
        })
    }

    async fn get_credential(&self, id: &CredentialId) -> Result<Option<Credential>, StoreError> {
        self.with(|s| Ok(s.credentials.get(id).cloned()))
    }

    async fn get_credential_by_serial(&self, serial: &Serial) -> Result<Option<Credential>, StoreError> {
        self.with(|s| Ok(s.credential_serials.get(serial).and_then(|id| s.credentials.get(id)).cloned()))
    }

    async fn list_credentials(&self, filter: &CredentialFilter) -> Result<Vec<Credential>, StoreError> {
        self.with(|s| {
            let rows = s.credentials.values().filter(|c| {
                filter.subject_id.as_ref().is_none_or(|v| &c.subject_id == v)
                    && filter.profile.as_ref().is_none_or(|v| &c.profile == v)
                    && filter.status.is_none_or(|v| c.status == v)
            });
            Ok(newest_first(rows, |c| sort_key(c.created_at, c.id.as_str()), &filter.page))
        })
    }

    // ------------------------------------------------------------ events

    async fn record_events(&self, events: &[NewEvent]) -> Result<(), StoreError> {
        self.with(|s| {
            let events: Vec<&NewEvent> = events.iter().collect();
            s.append(&events);
            Ok(())
        })
    }

    async fn list_events(&self, after: i64, limit: u32) -> Result<Vec<Event>, StoreError> {
        self.with(|s| s.events_after(after).iter().take(self::limit(limit)).map(|e| s.read_event(e)).collect())
    }

    async fn search_events(&self, f: &EventFilter) -> Result<Vec<Event>, StoreError> {
        self.with(|s| {
            s.events_after(f.after)
                .iter()
                .filter(|e| columns_match(f, &e.event))
                .take(limit(f.limit))
                .map(|stored| {
                    let event = s.read_event(stored)?;
                    match f.matches(&event) {
                        true => Ok(event),
                        false => Err(StoreError::LogIntegrity {
                            index: event.index,
                            reason: "its index columns match the search, the values it records do not".into(),
                        }),
                    }
                })
                .collect()
        })
    }

    async fn issuance_event_index(&self, credential_id: &CredentialId) -> Result<Option<i64>, StoreError> {
        self.with(|s| {
            Ok(s.events
                .iter()
                .find(|e| e.event.credential_id.as_ref() == Some(credential_id) && e.event.event_type == EventType::CredentialIssued)
                .map(|e| e.log.index))
        })
    }

    // ------------------------------------------------------------ the log tree

    async fn log_entries(&self, start: i64, limit: u32) -> Result<Vec<LogEntry>, StoreError> {
        self.with(|s| Ok(s.events_after(start.saturating_sub(1)).iter().take(self::limit(limit)).map(|e| e.log.clone()).collect()))
    }

    async fn log_tree(&self) -> Result<(u64, [u8; 32]), StoreError> {
        self.with(|s| Ok(s.tree))
    }

    async fn log_nodes(&self, positions: &[(u8, u64)]) -> Result<Vec<(u8, u64, [u8; 32])>, StoreError> {
        self.with(|s| {
            let mut seen = HashSet::new();
            Ok(positions
                .iter()
                .filter(|p| seen.insert(**p))
                .filter_map(|&(level, index)| s.log_nodes.get(&(level, index)).map(|h| (level, index, *h)))
                .collect())
        })
    }

    async fn log_tree_leaves(&self, start: u64, limit: u32) -> Result<Vec<[u8; 32]>, StoreError> {
        self.with(|s| Ok(s.log_nodes.range((0, start)..=(0, u64::MAX)).take(self::limit(limit)).map(|(_, h)| *h).collect()))
    }

    async fn grow_log_tree(&self, g: &TreeGrowth) -> Result<bool, StoreError> {
        self.with(|s| {
            let in_range = |v: u64| i64::try_from(v).map(|_| ()).map_err(|_| StoreError::Backend("tree size out of range".into()));
            in_range(g.to_size)?;
            in_range(g.from_size)?;
            if s.tree.0 != g.from_size {
                // Another sequencer grew the tree first.
                return Ok(false);
            }
            let mut added = HashSet::new();
            for (level, index, _) in &g.nodes {
                in_range(*index)?;
                if s.log_nodes.contains_key(&(*level, *index)) || !added.insert((*level, *index)) {
                    return Err(key_taken("log_nodes", &format!("({level}, {index})")));
                }
            }
            let c = &g.checkpoint;
            in_range(c.tree_size)?;
            if s.checkpoints.contains_key(&c.tree_size) {
                return Err(key_taken("log_checkpoints", &c.tree_size.to_string()));
            }
            let checkpoint = StoredCheckpoint { created_at: whole_seconds(c.created_at)?, ..c.clone() };
            s.tree = (g.to_size, g.root_hash);
            s.log_nodes.extend(g.nodes.iter().map(|(level, index, hash)| ((*level, *index), *hash)));
            s.checkpoints.insert(c.tree_size, checkpoint);
            Ok(true)
        })
    }

    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        self.with(|s| Ok(s.checkpoints.values().next_back().cloned()))
    }

    async fn list_checkpoints(&self, after_size: u64, limit: u32) -> Result<Vec<StoredCheckpoint>, StoreError> {
        self.with(|s| {
            Ok(s.checkpoints
                .range((Bound::Excluded(after_size), Bound::Unbounded))
                .take(self::limit(limit))
                .map(|(_, c)| c.clone())
                .collect())
        })
    }

    async fn checkpoint_covering(&self, index: u64) -> Result<Option<StoredCheckpoint>, StoreError> {
        self.with(|s| Ok(s.checkpoints.range((Bound::Excluded(index), Bound::Unbounded)).next().map(|(_, c)| c.clone())))
    }

    async fn forwarding_position(&self, sink: &str) -> Result<i64, StoreError> {
        self.with(|s| Ok(s.forwarding.get(sink).copied().unwrap_or(-1)))
    }

    async fn set_forwarding_position(&self, sink: &str, position: i64) -> Result<(), StoreError> {
        self.with(|s| {
            // A position only moves forward.
            let stored = s.forwarding.entry(sink.to_string()).or_insert(position);
            *stored = (*stored).max(position);
            Ok(())
        })
    }

    async fn count_requests(&self, state: RequestState) -> Result<u64, StoreError> {
        self.with(|s| Ok(u64::try_from(s.requests.values().filter(|r| r.state == state).count()).unwrap_or(u64::MAX)))
    }

    // ------------------------------------------------------------ authorities

    async fn insert_authorities(&self, authorities: &[Authority], events: &[NewEvent]) -> Result<(), StoreError> {
        self.with(|s| {
            check_new_authorities(s.authorities.values(), authorities.iter())?;
            for a in authorities {
                s.authorities.insert(a.id.clone(), a.clone());
            }
            let events: Vec<&NewEvent> = events.iter().collect();
            s.append(&events);
            Ok(())
        })
    }

    async fn list_authorities(&self) -> Result<Vec<Authority>, StoreError> {
        self.with(|s| {
            Ok(newest_first(s.authorities.values(), |a| sort_key(a.created_at, a.id.as_str()), &Page { limit: u32::MAX, after: None }))
        })
    }

    async fn rotate_authority(
        &self,
        retire: &AuthorityId,
        new: &Authority,
        at: OffsetDateTime,
        events: &[NewEvent],
    ) -> Result<bool, StoreError> {
        self.with(|s| {
            let at = whole_seconds(at)?;
            let Some(old) = s.authorities.get(retire).filter(|a| a.state == KeyState::Active && a.role == new.role) else {
                return Ok(false);
            };
            let retired = Authority { state: KeyState::Retired, retired_at: Some(at), ..old.clone() };
            // Check `new` against the authorities as they are once `retire` is retired.
            let after = s.authorities.values().map(|a| if &a.id == retire { &retired } else { a });
            check_new_authorities(after, std::iter::once(new))?;
            s.authorities.insert(retire.clone(), retired);
            s.authorities.insert(new.id.clone(), new.clone());
            let events: Vec<&NewEvent> = events.iter().collect();
            s.append(&events);
            Ok(true)
        })
    }

    async fn destroy_authority(&self, id: &AuthorityId, at: OffsetDateTime, event: &NewEvent) -> Result<bool, StoreError> {
        self.with(|s| {
            let at = whole_seconds(at)?;
            let Some(a) = s.authorities.get_mut(id).filter(|a| a.state == KeyState::Retired) else {
                return Ok(false);
            };
            a.state = KeyState::Destroyed;
            a.destroyed_at = Some(at);
            s.append(&[event]);
            Ok(true)
        })
    }

    async fn last_not_after(&self, issuer: &AuthorityId) -> Result<Option<OffsetDateTime>, StoreError> {
        self.with(|s| {
            s.credentials
                .values()
                .filter(|c| &c.issuer_id == issuer)
                .map(|c| c.not_after.unix_timestamp())
                .max()
                .map(|t| {
                    OffsetDateTime::from_unix_timestamp(t)
                        .map_err(|e| StoreError::Corrupt { table: "credentials", reason: format!("not_after: {e}") })
                })
                .transpose()
        })
    }

    // ------------------------------------------------------------ tokens

    async fn insert_token(&self, token: &OperatorToken, event: &NewEvent) -> Result<(), StoreError> {
        self.with(|s| {
            s.check_new_token(token)?;
            s.tokens.insert(token.id.clone(), token.clone());
            s.append(&[event]);
            Ok(())
        })
    }

    async fn find_token(&self, secret_hash: &[u8; 32]) -> Result<Option<OperatorToken>, StoreError> {
        self.with(|s| Ok(s.tokens.values().find(|t| &t.secret_hash == secret_hash).cloned()))
    }

    async fn get_token(&self, id: &TokenId) -> Result<Option<OperatorToken>, StoreError> {
        self.with(|s| Ok(s.tokens.get(id).cloned()))
    }

    async fn list_tokens(&self, operator_id: &OperatorId) -> Result<Vec<OperatorToken>, StoreError> {
        self.with(|s| {
            let rows = s.tokens.values().filter(|t| &t.operator_id == operator_id);
            Ok(newest_first(rows, |t| sort_key(t.created_at, t.id.as_str()), &Page { limit: u32::MAX, after: None }))
        })
    }

    async fn revoke_token(&self, id: &TokenId, event: &NewEvent) -> Result<bool, StoreError> {
        self.with(|s| {
            let Some(t) = s.tokens.get_mut(id).filter(|t| !t.revoked) else {
                return Ok(false);
            };
            t.revoked = true;
            s.append(&[event]);
            Ok(true)
        })
    }

    // ------------------------------------------------------------ operators

    async fn insert_operator(&self, operator: &Operator, grant: Option<&OperatorGrant>, events: &[&NewEvent]) -> Result<(), StoreError> {
        self.with(|s| {
            s.check_new_operator(operator)?;
            if let Some(g) = grant {
                s.check_new_grant(g, Some(&operator.id))?;
            }
            s.operators.insert(operator.id.clone(), operator.clone());
            if let Some(g) = grant {
                s.grants.insert(g.id.clone(), g.clone());
            }
            s.append(events);
            Ok(())
        })
    }

    async fn insert_operator_with_token(
        &self,
        operator: &Operator,
        token: &OperatorToken,
        events: [&NewEvent; 2],
    ) -> Result<(), StoreError> {
        self.with(|s| {
            s.check_new_operator(operator)?;
            s.check_new_token(token)?;
            s.operators.insert(operator.id.clone(), operator.clone());
            s.tokens.insert(token.id.clone(), token.clone());
            s.append(&events);
            Ok(())
        })
    }

    async fn update_operator(&self, operator: &Operator, events: &[&NewEvent]) -> Result<(), StoreError> {
        self.with(|s| {
            s.replace_operator(operator);
            s.append(events);
            Ok(())
        })
    }

    async fn redeem_enrolment(
        &self,
        operator_id: &OperatorId,
        verifier: &[u8; 32],
        now: OffsetDateTime,
        token: &OperatorToken,
        events: &[&NewEvent],
    ) -> Result<bool, StoreError> {
        self.with(|s| {
            let open = s.operators.get(operator_id).is_some_and(|o| {
                o.enrolment_verifier.as_ref() == Some(verifier)
                    && o.enrolment_expires_at.is_some_and(|t| t.unix_timestamp() > now.unix_timestamp())
                    && !o.disabled
            });
            if !open {
                return Ok(false);
            }
            s.check_new_token(token)?;
            if let Some(o) = s.operators.get_mut(operator_id) {
                o.enrolment_verifier = None;
                o.enrolment_expires_at = None;
            }
            s.tokens.insert(token.id.clone(), token.clone());
            s.append(events);
            Ok(true)
        })
    }

    async fn insert_grant(&self, grant: &OperatorGrant, events: &[&NewEvent]) -> Result<(), StoreError> {
        self.with(|s| {
            s.check_new_grant(grant, None)?;
            s.grants.insert(grant.id.clone(), grant.clone());
            s.append(events);
            Ok(())
        })
    }

    async fn get_grant(&self, id: &GrantId) -> Result<Option<OperatorGrant>, StoreError> {
        self.with(|s| Ok(s.grants.get(id).cloned()))
    }

    async fn list_grants(&self, limit: u32) -> Result<Vec<OperatorGrant>, StoreError> {
        self.with(|s| Ok(newest_first(s.grants.values(), |g| sort_key(g.created_at, g.id.as_str()), &Page { limit, after: None })))
    }

    async fn close_grant(
        &self,
        grant: &OperatorGrant,
        state: GrantState,
        decided_by: &str,
        at: OffsetDateTime,
        apply: Option<&Operator>,
        events: &[&NewEvent],
    ) -> Result<bool, StoreError> {
        self.with(|s| {
            let at = whole_seconds(at)?;
            if !s.grants.get(&grant.id).is_some_and(|g| g.state == GrantState::Pending) {
                return Ok(false);
            }
            if let Some(op) = apply
                && !s.operators.get(&op.id).is_some_and(|stored| access_unchanged(stored, &grant.before))
            {
                return Ok(false);
            }
            if let Some(g) = s.grants.get_mut(&grant.id) {
                g.state = state;
                g.decided_by = Some(decided_by.to_string());
                g.decided_at = Some(at);
            }
            if let Some(op) = apply {
                s.replace_operator(op);
            }
            s.append(events);
            Ok(true)
        })
    }

    async fn get_operator(&self, id: &OperatorId) -> Result<Option<Operator>, StoreError> {
        self.with(|s| Ok(s.operators.get(id).cloned()))
    }

    async fn list_operators(&self) -> Result<Vec<Operator>, StoreError> {
        self.with(|s| {
            let mut all: Vec<Operator> = s.operators.values().cloned().collect();
            all.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(all)
        })
    }

    // ------------------------------------------------------------ subjects' lifecycle

    async fn set_subject_status(
        &self,
        id: &SubjectId,
        from: SubjectStatus,
        to: SubjectStatus,
        now: OffsetDateTime,
        event: &NewEvent,
    ) -> Result<bool, StoreError> {
        self.with(|s| {
            let now = whole_seconds(now)?;
            let Some(subject) = s.subjects.get_mut(id).filter(|x| x.status == from) else {
                return Ok(false);
            };
            subject.status = to;
            subject.updated_at = now;
            s.append(&[event]);
            Ok(true)
        })
    }

    // ------------------------------------------------------------ policies

    async fn insert_policy(&self, policy: &StoredPolicy, event: &NewEvent) -> Result<(), StoreError> {
        self.with(|s| {
            let latest = s.policies.keys().next_back().copied().unwrap_or(0);
            if policy.version != latest + 1 {
                return Err(StoreError::Conflict { entity: "policy version", field: "version", value: policy.version.to_string() });
            }
            s.policies.insert(policy.version, policy.clone());
            s.append(&[event]);
            Ok(())
        })
    }

    async fn latest_policy(&self) -> Result<Option<StoredPolicy>, StoreError> {
        self.with(|s| Ok(s.policies.values().next_back().cloned()))
    }

    async fn latest_policy_version(&self) -> Result<i64, StoreError> {
        self.with(|s| Ok(s.policies.keys().next_back().copied().unwrap_or(0)))
    }

    async fn get_policy(&self, version: i64) -> Result<Option<StoredPolicy>, StoreError> {
        self.with(|s| Ok(s.policies.get(&version).cloned()))
    }

    async fn list_policies(&self) -> Result<Vec<StoredPolicy>, StoreError> {
        self.with(|s| Ok(s.policies.values().rev().map(|p| StoredPolicy { text: String::new(), ..p.clone() }).collect()))
    }

    // ------------------------------------------------------------ approvals

    async fn record_verdict(
        &self,
        approval: &Approval,
        required: u32,
        now: OffsetDateTime,
        event: &NewEvent,
    ) -> Result<VerdictRecorded, StoreError> {
        self.with(|s| s.record_verdict(approval, required, now, event))
    }

    async fn list_approvals(&self, request_id: &RequestId) -> Result<Vec<Approval>, StoreError> {
        self.with(|s| {
            let mut all: Vec<Approval> = s.approvals.values().filter(|a| &a.request_id == request_id).cloned().collect();
            all.sort_by(|a, b| (a.created_at.unix_timestamp(), &a.approver).cmp(&(b.created_at.unix_timestamp(), &b.approver)));
            Ok(all)
        })
    }

    async fn expire_request(&self, id: &RequestId, now: OffsetDateTime, event: &NewEvent) -> Result<bool, StoreError> {
        self.with(|s| {
            let now = whole_seconds(now)?;
            let Some(r) = s.requests.get_mut(id).filter(|r| r.state == RequestState::PendingApproval) else {
                return Ok(false);
            };
            r.state = RequestState::Expired;
            r.reason = Some("the request expired before its approvals were collected".into());
            r.updated_at = now;
            s.append(&[event]);
            Ok(true)
        })
    }

    async fn list_expired_pending(&self, now: OffsetDateTime, limit: u32) -> Result<Vec<RequestId>, StoreError> {
        self.with(|s| {
            let now = now.unix_timestamp();
            let mut due: Vec<(i64, &RequestId)> = s
                .requests
                .values()
                .filter(|r| r.state == RequestState::PendingApproval)
                .filter_map(|r| r.expires_at.map(|t| (t.unix_timestamp(), &r.id)))
                .filter(|(t, _)| *t <= now)
                .collect();
            due.sort();
            Ok(due.into_iter().take(self::limit(limit)).map(|(_, id)| id.clone()).collect())
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::ports::{AuthoritySigner, IssuanceOutcome, KeyError};
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
    use signet_model::credential::{AuthorityRole, CredentialStatus};
    use signet_model::names::{NameRules, SanSet};
    use signet_model::profile::{CredentialType, KeyAlgorithm};
    use signet_model::subject::{AssuranceLevel, SubjectKind};
    use std::sync::Arc;
    use time::Duration;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-11-23 12:00 UTC);

    fn at(seconds: i64) -> OffsetDateTime {
        T0 + Duration::seconds(seconds)
    }

    fn event(event_type: EventType, n: u8) -> NewEvent {
        NewEvent {
            event_type,
            actor: "system".into(),
            subject_id: None,
            request_id: None,
            credential_id: None,
            reason: None,
            details: serde_json::json!({ "n": n }),
            trace_id: None,
            time: at(i64::from(n)),
        }
    }

    fn subject(n: u8, name: &str) -> Subject {
        Subject {
            id: SubjectId::from_random([n; 16]),
            name: name.into(),
            kind: SubjectKind::Workload,
            owner: Some("team".into()),
            purpose: Some("serve".into()),
            assurance: AssuranceLevel::Ial1,
            attributes: Default::default(),
            site: "default".into(),
            status: SubjectStatus::Active,
            created_at: at(0),
            updated_at: at(0),
        }
    }

    fn spec(name: &str) -> ProfileSpec {
        ProfileSpec {
            name: name.into(),
            description: String::new(),
            credential_type: CredentialType::X509,
            key_algorithms: vec![KeyAlgorithm::EcdsaP256],
            default_ttl_seconds: 3600,
            max_ttl_seconds: 86400,
            names: NameRules::default(),
            require_names: false,
            ext_key_usages: vec![],
            is_ca: false,
            path_len: None,
            required_assurance: AssuranceLevel::Ial1,
            subject_kinds: vec![],
            allowed_scopes: vec![],
            approvals: None,
            params: Default::default(),
        }
    }

    fn issuing(n: u8) -> Authority {
        Authority {
            id: AuthorityId::from_random([n; 16]),
            role: AuthorityRole::Issuing,
            key_algorithm: KeyAlgorithm::EcdsaP256,
            key_ref: format!("key-{n}"),
            certificate_der: vec![0x30, n],
            state: KeyState::Active,
            created_at: at(1),
            retired_at: None,
            destroyed_at: None,
        }
    }

    /// A store with subject `web`, profile `tls` and one issuing authority.
    async fn world() -> (MemoryStore, Subject, Authority) {
        let store = MemoryStore::new();
        let web = subject(1, "web");
        store.insert_subject(&web, &event(EventType::SubjectCreated, 0)).await.unwrap();
        store.put_profile(&spec("tls"), at(1), &event(EventType::ProfileApplied, 1)).await.unwrap();
        let issuer = issuing(9);
        store.insert_authorities(std::slice::from_ref(&issuer), &[event(EventType::AuthorityCreated, 1)]).await.unwrap();
        (store, web, issuer)
    }

    /// Request `n` issued: the request, its credential (serial `n`), its event.
    fn issued(n: u8, subject: &Subject, issuer: &Authority) -> IssuanceOutcome {
        let credential = Credential {
            id: CredentialId::from_random([n; 16]),
            credential_type: CredentialType::X509,
            serial: Serial::from_random([n; 16]),
            subject_id: subject.id.clone(),
            profile: "tls".into(),
            request_id: RequestId::from_random([n; 16]),
            issuer_id: issuer.id.clone(),
            key_algorithm: Some(KeyAlgorithm::EcdsaP256),
            key_fingerprint: "ab".repeat(32),
            names: SanSet { dns: vec!["web.internal".into()], ..Default::default() },
            not_before: at(10),
            not_after: at(3600),
            status: CredentialStatus::Active,
            der: vec![0x30, n],
            created_at: at(10 + i64::from(n)),
        };
        let request = Request {
            id: credential.request_id.clone(),
            subject_id: subject.id.clone(),
            profile: "tls".into(),
            profile_version: 1,
            credential_type: CredentialType::X509,
            requested_names: credential.names.clone(),
            requested_ttl_seconds: None,
            requested_scopes: vec![],
            params: signet_model::request::empty_object(),
            key_algorithm: Some(KeyAlgorithm::EcdsaP256),
            key_fingerprint: Some(credential.key_fingerprint.clone()),
            requested_by: "op_x".into(),
            state: RequestState::Issued,
            break_glass: false,
            expires_at: None,
            key_spki: None,
            reason: None,
            credential_id: Some(credential.id.clone()),
            created_at: credential.created_at,
            updated_at: credential.created_at,
        };
        let event = NewEvent {
            subject_id: Some(subject.id.clone()),
            request_id: Some(request.id.clone()),
            credential_id: Some(credential.id.clone()),
            ..event(EventType::CredentialIssued, n)
        };
        IssuanceOutcome { request, credential: Some(credential), event }
    }

    fn intent(o: &IssuanceOutcome) -> IssuanceWrite {
        let c = o.credential.as_ref().unwrap();
        IssuanceWrite::Intent(IssuanceIntent {
            serial: c.serial.clone(),
            request_id: c.request_id.clone(),
            subject_id: c.subject_id.clone(),
            profile: c.profile.clone(),
            key_fingerprint: c.key_fingerprint.clone(),
            created_at: c.created_at,
            tbs_sha256: Some([1; 32]),
        })
    }

    /// The log as it stands: every entry, and how many there are.
    async fn log(store: &MemoryStore) -> Vec<LogEntry> {
        store.log_entries(0, u32::MAX).await.unwrap()
    }

    /// What the group committer does: one batch carries the intents and
    /// outcomes of several requests; every outcome's event gets the next
    /// index, in batch order, and its entry is the one `entry_bytes` builds,
    /// chained to the entry before it.
    #[tokio::test]
    async fn a_group_commit_batch_gets_consecutive_indexes_and_chained_entries() {
        let (store, web, issuer) = world().await;
        let before = log(&store).await;
        assert_eq!(before.iter().map(|e| e.index).collect::<Vec<_>>(), vec![0, 1, 2]);

        let (a, b, c) = (issued(10, &web, &issuer), issued(11, &web, &issuer), issued(12, &web, &issuer));
        let batch = vec![
            intent(&a),
            IssuanceWrite::Outcome(a.clone()),
            intent(&b),
            intent(&c),
            IssuanceWrite::Outcome(b.clone()),
            IssuanceWrite::Outcome(c.clone()),
        ];
        let indexes = store.apply_issuance_batch(&batch).await.unwrap();
        assert_eq!(indexes, vec![None, Some(3), None, None, Some(4), Some(5)]);

        // The entries are exactly what the SQL store would write.
        let entries = log(&store).await;
        assert_eq!(entries[..3], before[..]);
        let mut prev = before[2].leaf_hash;
        for (entry, o) in entries[3..].iter().zip([&a, &b, &c]) {
            let bytes = log::entry_bytes(entry.index, &prev, &o.event);
            assert_eq!((&entry.entry, entry.leaf_hash), (&bytes, log::leaf_hash(&bytes)));
            prev = entry.leaf_hash;
        }
        let events = store.list_events(2, 10).await.unwrap();
        assert_eq!(
            events.iter().map(|e| (e.index, e.credential_id.clone())).collect::<Vec<_>>(),
            vec![(3, a.event.credential_id.clone()), (4, b.event.credential_id.clone()), (5, c.event.credential_id.clone()),]
        );
        for o in [&a, &b, &c] {
            let credential = o.credential.clone().unwrap();
            assert_eq!(store.get_credential_by_serial(&credential.serial).await.unwrap(), Some(credential.clone()));
            assert!(store.get_intent(&credential.serial).await.unwrap().is_some());
            assert_eq!(store.get_request(&o.request.id).await.unwrap(), Some(o.request.clone()));
        }
        assert_eq!(store.issuance_event_index(&b.credential.as_ref().unwrap().id).await.unwrap(), Some(4));
        // A batch of intents alone appends nothing.
        let d = issued(13, &web, &issuer);
        assert_eq!(store.apply_issuance_batch(&[intent(&d)]).await.unwrap(), vec![None]);
        assert_eq!(log(&store).await.len(), 6);
    }

    /// A duplicate serial anywhere in a batch fails all of it: no intent,
    /// request, credential or event of the batch stays; the good writes
    /// alone then go through (as the group committer retries them).
    #[tokio::test]
    async fn a_duplicate_serial_in_a_batch_writes_nothing() {
        let (store, web, issuer) = world().await;
        let before = log(&store).await;
        let a = issued(20, &web, &issuer);
        let mut twin = issued(21, &web, &issuer);
        let shared = a.credential.as_ref().unwrap().serial.clone();
        if let Some(c) = twin.credential.as_mut() {
            c.serial = shared.clone();
        }

        // Two credentials with one serial, and two intents with one serial.
        for batch in [
            vec![intent(&a), IssuanceWrite::Outcome(a.clone()), IssuanceWrite::Outcome(twin.clone())],
            vec![intent(&a), intent(&twin), IssuanceWrite::Outcome(a.clone())],
        ] {
            match store.apply_issuance_batch(&batch).await {
                Err(StoreError::Conflict { entity: "credential", field: "serial", value }) => assert_eq!(value, shared.to_hex()),
                other => panic!("expected a serial conflict, got {other:?}"),
            }
            assert_eq!(store.get_intent(&shared).await.unwrap(), None);
            assert_eq!(store.get_request(&a.request.id).await.unwrap(), None);
            assert_eq!(store.get_request(&twin.request.id).await.unwrap(), None);
            assert_eq!(store.get_credential_by_serial(&shared).await.unwrap(), None);
            assert_eq!(log(&store).await, before);
        }

        store.apply_issuance_batch(&[intent(&a), IssuanceWrite::Outcome(a.clone())]).await.unwrap();
        assert_eq!(store.get_credential_by_serial(&shared).await.unwrap(), a.credential.clone());
        // Now the serial is taken by a stored intent and credential.
        match store.apply_issuance_batch(&[intent(&twin)]).await {
            Err(StoreError::Conflict { value, .. }) => assert_eq!(value, shared.to_hex()),
            other => panic!("expected a serial conflict, got {other:?}"),
        }
        assert_eq!(log(&store).await.len(), before.len() + 1);
    }

    /// What the SQL schema's foreign keys refuse, the memory store refuses
    /// too, and writes nothing of the batch: a request for an unknown
    /// profile, a credential from an unknown issuer or a taken credential id.
    #[tokio::test]
    async fn a_batch_naming_a_missing_row_or_a_taken_id_writes_nothing() {
        let (store, web, issuer) = world().await;
        let before = log(&store).await;
        let good = issued(30, &web, &issuer);
        let mut no_profile = issued(31, &web, &issuer);
        no_profile.request.profile = "nope".into();
        let mut no_issuer = issued(32, &web, &issuer);
        if let Some(c) = no_issuer.credential.as_mut() {
            c.issuer_id = AuthorityId::from_random([0x77; 16]);
        }
        let mut same_id = issued(33, &web, &issuer);
        if let Some(c) = same_id.credential.as_mut() {
            c.id = good.credential.as_ref().unwrap().id.clone();
        }
        for bad in [no_profile, no_issuer, same_id] {
            let batch = [intent(&good), IssuanceWrite::Outcome(good.clone()), IssuanceWrite::Outcome(bad)];
            let err = store.apply_issuance_batch(&batch).await.unwrap_err();
            assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
            assert_eq!(store.get_request(&good.request.id).await.unwrap(), None);
            assert_eq!(store.get_intent(&good.credential.as_ref().unwrap().serial).await.unwrap(), None);
            assert_eq!(log(&store).await, before);
        }
    }

    /// An Ed25519 key for the log's checkpoints.
    struct LogSigner {
        key: Ed25519KeyPair,
        spki: Vec<u8>,
    }

    impl LogSigner {
        fn new() -> Self {
            let key = Ed25519KeyPair::generate().unwrap();
            let mut spki = vec![0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];
            spki.extend_from_slice(key.public_key().as_ref());
            Self { key, spki }
        }
    }

    impl AuthoritySigner for LogSigner {
        fn algorithm(&self) -> KeyAlgorithm {
            KeyAlgorithm::Ed25519
        }

        fn public_key_spki_der(&self) -> &[u8] {
            &self.spki
        }

        fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
            Ok(self.key.sign(message).as_ref().to_vec())
        }
    }

    /// The sequencer grows the tree over the memory store's entries: the
    /// signed root is the root of their leaf hashes, proofs verify, and a
    /// step from a size the tree no longer has writes nothing.
    #[tokio::test]
    async fn the_sequencer_grows_the_tree_over_the_entries_once() {
        let (store, web, issuer) = world().await;
        let key = log::LogKey::new(Arc::new(LogSigner::new()), "signet.test/log").unwrap();
        assert_eq!(store.log_tree().await.unwrap(), (0, signet_log::empty_root()));
        let (a, b) = (issued(40, &web, &issuer), issued(41, &web, &issuer));
        store.apply_issuance_batch(&[IssuanceWrite::Outcome(a), IssuanceWrite::Outcome(b)]).await.unwrap();

        let first = log::grow_tree(&store, &key, at(100)).await.unwrap().expect("a checkpoint");
        let leaves: Vec<[u8; 32]> = log(&store).await.iter().map(|e| e.leaf_hash).collect();
        let root = signet_log::MemoryTree::from_leaf_hashes(leaves.clone()).root();
        assert_eq!((first.tree_size, first.root_hash), (5, root));
        assert_eq!(store.log_tree().await.unwrap(), (5, root));
        assert_eq!(store.log_tree_leaves(0, 100).await.unwrap(), leaves);
        assert_eq!(store.log_tree_leaves(3, 1).await.unwrap(), leaves[3..4].to_vec());
        assert_eq!(signet_log::open_checkpoint(&first.note, key.verifier()).unwrap().size(), 5);
        let proof = log::inclusion_proof(&store, 3, 5).await.unwrap();
        signet_log::verify_inclusion(&leaves[3], 3, 5, &proof, &root).unwrap();
        assert_eq!(log::grow_tree(&store, &key, at(101)).await.unwrap(), None, "nothing new");

        // Grow again; the checkpoints are kept in size order.
        store.record_events(&[event(EventType::AuthorityCreated, 50)]).await.unwrap();
        let second = log::grow_tree(&store, &key, at(102)).await.unwrap().expect("a checkpoint");
        assert_eq!(second.tree_size, 6);
        assert_eq!(store.latest_checkpoint().await.unwrap(), Some(second.clone()));
        assert_eq!(store.list_checkpoints(0, 10).await.unwrap(), vec![first.clone(), second.clone()]);
        assert_eq!(store.list_checkpoints(5, 10).await.unwrap(), vec![second.clone()]);
        assert_eq!(store.checkpoint_covering(4).await.unwrap(), Some(first.clone()));
        assert_eq!(store.checkpoint_covering(5).await.unwrap(), Some(second.clone()));
        assert_eq!(store.checkpoint_covering(6).await.unwrap(), None);
        let consistency = log::consistency_proof(&store, 5, 6).await.unwrap();
        signet_log::verify_consistency(5, 6, &first.root_hash, &second.root_hash, &consistency).unwrap();

        // A stale step (another sequencer got there first) changes nothing.
        let stale = TreeGrowth { from_size: 5, to_size: 6, root_hash: [1; 32], nodes: vec![(0, 5, [1; 32])], checkpoint: second.clone() };
        assert!(!store.grow_log_tree(&stale).await.unwrap());
        assert_eq!(store.log_tree().await.unwrap(), (6, second.root_hash));
        // Every event still reads back, checked against the tree's leaves.
        assert_eq!(store.list_events(-1, 100).await.unwrap().len(), 6);
    }

    /// A forwarding position only moves forward; an unknown sink is at -1.
    #[tokio::test]
    async fn forwarding_positions_only_move_forward() {
        let store = MemoryStore::new();
        assert_eq!(store.forwarding_position("nats").await.unwrap(), -1);
        store.set_forwarding_position("nats", 7).await.unwrap();
        store.set_forwarding_position("nats", 3).await.unwrap();
        assert_eq!(store.forwarding_position("nats").await.unwrap(), 7);
        assert_eq!(store.forwarding_position("syslog").await.unwrap(), -1);
    }
}
