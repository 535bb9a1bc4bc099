//! The one implementation of [`Store`], shared by both backends.
//!
//! The SQL is portable (`$n` placeholders, `ON CONFLICT ... DO UPDATE`,
//! `RETURNING`, `LIMIT/OFFSET`), the column types are portable, and the few
//! real differences live in [`Backend`]. So both backends run the same code,
//! and the conformance suite checks the same behaviour twice.

use crate::backend::{Backend, UniqueKey, backend_error, unique_violation};
use crate::multi_insert::{MultiInsert, Placeholders};
use crate::rows::{
    ApprovalRow, AuthorityRow, CheckpointRow, CredentialRow, EventRow, GrantRow, IntentRow, LogEntryRow, NodeRow, OperatorRow, PolicyRow,
    ProfileRow, ProfileRules, RequestRow, SubjectRow, TokenRow, TreeRow, hash32, json, unix,
};
use async_trait::async_trait;
use signet_core::ports::{
    CredentialFilter, EventFilter, IssuanceIntent, IssuanceWrite, LogEntry, OperatorToken, Page, RequestFilter, Store, StoreError,
    StoredCheckpoint, StoredPolicy, TreeGrowth, VerdictRecorded,
};
use signet_model::credential::{Authority, Credential};
use signet_model::event::{Event, NewEvent};
use signet_model::ids::{AuthorityId, CredentialId, GrantId, OperatorId, RequestId, Serial, SubjectId, TokenId};
use signet_model::operator::{GrantState, Operator, OperatorGrant};
use signet_model::profile::{Profile, ProfileSpec};
use signet_model::request::{Approval, Request, RequestState, Verdict};
use signet_model::subject::{Subject, SubjectStatus};
use sqlx::query::{Query, QueryAs};
use sqlx::{AssertSqlSafe, Database, Encode, Executor, FromRow, IntoArguments, Pool, Transaction, Type};
use std::collections::HashSet;
use std::sync::LazyLock;
use time::OffsetDateTime;

/// A [`Store`] over one SQL database. Use [`crate::SqliteStore`] or [`crate::PgStore`].
#[derive(Debug, Clone)]
pub struct SqlStore<DB: Database> {
    /// Write transactions. For SQLite, a single connection: SQLite has one
    /// writer anyway, and queueing here is fair and cheap where queueing on
    /// SQLite's lock would sleep and poll.
    pub(crate) writer: Pool<DB>,
    /// Reads. For SQLite, separate connections that read in parallel with the
    /// writer (WAL); for PostgreSQL, the same pool as `writer`.
    pub(crate) reader: Pool<DB>,
}

impl<DB: Database> SqlStore<DB> {
    /// Close every connection, waiting for those in use to be returned.
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}

// ---------------------------------------------------------------- SQL text

macro_rules! subject_columns {
    () => {
        "id, name, kind, owner, purpose, assurance, attributes, status, created_at, updated_at, site"
    };
}
macro_rules! profile_columns {
    () => {
        "name, description, credential_type, key_algorithms, default_ttl_seconds, max_ttl_seconds, names, \
         require_names, ext_key_usages, is_ca, path_len, required_assurance, subject_kinds, version, created_at, updated_at, rules"
    };
}
macro_rules! request_columns {
    () => {
        "id, subject_id, profile, profile_version, credential_type, requested_names, requested_ttl_seconds, \
         key_algorithm, key_fingerprint, requested_by, state, reason, credential_id, created_at, updated_at, \
         requested_scopes, break_glass, expires_at, key_spki, params"
    };
}
macro_rules! credential_columns {
    () => {
        "id, credential_type, serial, subject_id, profile, request_id, issuer_id, key_algorithm, key_fingerprint, \
         names, not_before, not_after, status, der, created_at"
    };
}
macro_rules! intent_columns {
    () => {
        "serial, request_id, subject_id, profile, key_fingerprint, created_at, tbs_sha256"
    };
}
macro_rules! event_columns {
    () => {
        "event_type, actor, subject_id, request_id, credential_id, reason, details, trace_id, event_time"
    };
}
/// Every view of an event reads its entry and both leaf hashes (the one
/// stored beside it, the tree's), and the index columns to check them against.
macro_rules! read_events {
    () => {
        "SELECT e.event_index, e.entry, e.leaf_hash, n.hash AS tree_leaf, e.event_type, e.actor, e.subject_id, e.request_id, \
         e.credential_id, e.reason, e.details, e.trace_id, e.event_time \
         FROM events e LEFT JOIN log_nodes n ON n.level = 0 AND n.node_index = e.event_index"
    };
}
macro_rules! authority_columns {
    () => {
        "id, role, key_algorithm, key_ref, certificate_der, created_at, state, retired_at, destroyed_at"
    };
}
macro_rules! operator_columns {
    () => {
        "id, name, roles, sites, all_sites, teams, subject_id, disabled, created_at, updated_at, sponsors, enrolment_verifier, enrolment_expires_at"
    };
}
macro_rules! grant_columns {
    () => {
        "id, operator_id, before_access, after_access, enrolment, requested_by, state, created_at, expires_at, decided_by, decided_at"
    };
}
macro_rules! approval_columns {
    () => {
        "request_id, approver, verdict, reason, created_at"
    };
}
macro_rules! policy_columns {
    () => {
        "version, text, sha256, comment, created_by, created_at"
    };
}
macro_rules! token_columns {
    () => {
        "id, name, secret_hash, operator_id, created_at, expires_at, revoked"
    };
}

fn column_count(columns: &str) -> usize {
    columns.split(',').count()
}

/// The hot path's many-row statements, for one placeholder style.
struct HotStatements {
    intents: MultiInsert,
    /// A request is written with its outcome; if it was written before (in
    /// an earlier state), the row takes its final state. `created_at` is kept.
    requests: MultiInsert,
    credentials: MultiInsert,
    events: MultiInsert,
}

impl HotStatements {
    fn new(placeholders: Placeholders) -> Self {
        Self {
            intents: MultiInsert::new(
                concat!("INSERT INTO issuance_intents (", intent_columns!(), ")"),
                column_count(intent_columns!()),
                "",
                placeholders,
            ),
            requests: MultiInsert::new(
                concat!("INSERT INTO requests (", request_columns!(), ")"),
                column_count(request_columns!()),
                "ON CONFLICT (id) DO UPDATE SET subject_id = excluded.subject_id, profile = excluded.profile, \
                 profile_version = excluded.profile_version, credential_type = excluded.credential_type, \
                 requested_names = excluded.requested_names, requested_ttl_seconds = excluded.requested_ttl_seconds, \
                 key_algorithm = excluded.key_algorithm, key_fingerprint = excluded.key_fingerprint, \
                 requested_by = excluded.requested_by, state = excluded.state, reason = excluded.reason, \
                 credential_id = excluded.credential_id, updated_at = excluded.updated_at, \
                 requested_scopes = excluded.requested_scopes, break_glass = excluded.break_glass, \
                 expires_at = excluded.expires_at, key_spki = excluded.key_spki, params = excluded.params",
                placeholders,
            ),
            credentials: MultiInsert::new(
                concat!("INSERT INTO credentials (", credential_columns!(), ")"),
                column_count(credential_columns!()),
                "",
                placeholders,
            ),
            events: MultiInsert::new(
                concat!("INSERT INTO events (event_index, ", event_columns!(), ", entry, leaf_hash)"),
                column_count(event_columns!()) + 3,
                "",
                placeholders,
            ),
        }
    }

    fn get(placeholders: Placeholders) -> &'static Self {
        static NUMBERED: LazyLock<HotStatements> = LazyLock::new(|| HotStatements::new(Placeholders::Numbered));
        static ANONYMOUS: LazyLock<HotStatements> = LazyLock::new(|| HotStatements::new(Placeholders::Anonymous));
        match placeholders {
            Placeholders::Numbered => &NUMBERED,
            Placeholders::Anonymous => &ANONYMOUS,
        }
    }
}

/// The largest group of rows in one statement; 1 would mean a statement per row.
const MAX_GROUP: usize = 64;

type Q<DB> = Query<'static, DB, <DB as Database>::Arguments>;

/// A `SELECT` with optional `column = $n` filters and newest-first paging.
/// Only the fixed fragments given here reach the SQL text; values are bound.
struct Filtered {
    sql: String,
    params: usize,
}

impl Filtered {
    fn new(select: &str) -> Self {
        Self { sql: select.to_string(), params: 0 }
    }

    fn filter(&mut self, column: &'static str, present: bool) {
        if !present {
            return;
        }
        self.next_condition();
        self.params += 1;
        self.sql.push_str(column);
        self.sql.push_str(" = $");
        self.sql.push_str(&self.params.to_string());
    }

    /// Start the next condition: ` WHERE ` for the first, ` AND ` after.
    fn next_condition(&mut self) {
        self.sql.push_str(if self.params == 0 { " WHERE " } else { " AND " });
    }

    /// Newest first (the id breaks ties within a second), after the page's
    /// cursor if it has one, then the limit. Binds, in order: the cursor's
    /// time and id (if any), then the limit: see [`bind_page`].
    fn newest_first(mut self, page: &Page) -> AssertSqlSafe<String> {
        if page.after.is_some() {
            let (at, id) = (self.params + 1, self.params + 2);
            self.next_condition();
            self.params += 2;
            self.sql.push_str(&format!("(created_at, id) < (${at}, ${id})"));
        }
        let limit = self.params + 1;
        self.sql.push_str(&format!(" ORDER BY created_at DESC, id DESC LIMIT ${limit}"));
        AssertSqlSafe(self.sql)
    }
}

/// Bind what [`Filtered::newest_first`] added for `page`.
fn bind_page<'q, DB, O>(
    q: QueryAs<'q, DB, O, <DB as Database>::Arguments>,
    page: &'q Page,
) -> QueryAs<'q, DB, O, <DB as Database>::Arguments>
where
    DB: Database,
    for<'t> &'t str: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
{
    let q = match &page.after {
        Some(c) => q.bind(unix(c.created_at)).bind(c.id.as_str()),
        None => q,
    };
    q.bind(i64::from(page.limit))
}

// ---------------------------------------------------------------- shared helpers

impl<DB> SqlStore<DB>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'t> &'t str: Encode<'t, DB> + Type<DB>,
    for<'t> &'t [u8]: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'t> bool: Encode<'t, DB> + Type<DB>,
    for<'t> Option<&'t str>: Encode<'t, DB> + Type<DB>,
    for<'t> Option<i64>: Encode<'t, DB> + Type<DB>,
    for<'t> Option<&'t [u8]>: Encode<'t, DB> + Type<DB>,
    for<'r> LogEntryRow: FromRow<'r, DB::Row>,
    for<'r> (String,): FromRow<'r, DB::Row>,
{
    async fn begin(&self, statement: &'static str) -> Result<Transaction<'static, DB>, StoreError> {
        self.writer.begin_with(statement).await.map_err(backend_error("transaction"))
    }

    async fn insert_authority(conn: &mut DB::Connection, a: &Authority) -> Result<(), StoreError> {
        sqlx::query(concat!(
            "INSERT INTO authorities (active, ",
            authority_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
        .bind(a.is_active())
        .bind(a.id.as_str())
        .bind(a.role.as_str())
        .bind(a.key_algorithm.as_str())
        .bind(a.key_ref.as_str())
        .bind(a.certificate_der.as_slice())
        .bind(unix(a.created_at))
        .bind(a.state.as_str())
        .bind(a.retired_at.map(unix))
        .bind(a.destroyed_at.map(unix))
        .execute(&mut *conn)
        .await
        .map_err(|e| match unique_violation::<DB>(&e) {
            Some(key @ UniqueKey::ActiveAuthority) => key.conflict(a.role.as_str().to_string()),
            _ => backend_error("authorities")(e),
        })?;
        Ok(())
    }

    async fn commit(tx: Transaction<'static, DB>) -> Result<(), StoreError> {
        tx.commit().await.map_err(backend_error("transaction"))
    }

    async fn insert_operator_row(conn: &mut DB::Connection, op: &Operator) -> Result<(), StoreError> {
        let (roles, sites, teams, sponsors) = (json(&op.roles)?, json(&op.sites)?, json(&op.teams)?, json(&op.sponsors)?);
        sqlx::query(concat!(
            "INSERT INTO operators (",
            operator_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ))
        .bind(op.id.as_str())
        .bind(op.name.as_str())
        .bind(roles.as_str())
        .bind(sites.as_str())
        .bind(op.all_sites)
        .bind(teams.as_str())
        .bind(op.subject_id.as_ref().map(|s| s.as_str()))
        .bind(op.disabled)
        .bind(unix(op.created_at))
        .bind(unix(op.updated_at))
        .bind(sponsors.as_str())
        .bind(op.enrolment_verifier.as_ref().map(|v| v.as_slice()))
        .bind(op.enrolment_expires_at.map(unix))
        .execute(&mut *conn)
        .await
        .map_err(|e| match unique_violation::<DB>(&e) {
            Some(key @ UniqueKey::OperatorName) => key.conflict(op.name.clone()),
            _ => backend_error("operators")(e),
        })?;
        Ok(())
    }

    /// Replace an operator's mutable columns; with `only_if`, only while its
    /// access is still that (a grant applies to what it was asked against).
    /// Whether a row changed.
    async fn update_operator_row(
        conn: &mut DB::Connection,
        op: &Operator,
        only_if: Option<&signet_model::operator::OperatorAccess>,
    ) -> Result<bool, StoreError> {
        let (roles, sites, teams, sponsors) = (json(&op.roles)?, json(&op.sites)?, json(&op.teams)?, json(&op.sponsors)?);
        let q = match only_if {
            None => sqlx::query(
                "UPDATE operators SET roles = $1, sites = $2, all_sites = $3, teams = $4, subject_id = $5, disabled = $6, updated_at = $7, \
                 sponsors = $8, enrolment_verifier = $9, enrolment_expires_at = $10 WHERE id = $11",
            ),
            Some(_) => sqlx::query(
                "UPDATE operators SET roles = $1, sites = $2, all_sites = $3, teams = $4, subject_id = $5, disabled = $6, updated_at = $7, \
                 sponsors = $8, enrolment_verifier = $9, enrolment_expires_at = $10 WHERE id = $11 \
                 AND roles = $12 AND sites = $13 AND all_sites = $14 AND teams = $15 AND disabled = $16",
            ),
        };
        let before = match only_if {
            Some(b) => Some((json(&b.roles)?, json(&b.sites)?, b.all_sites, json(&b.teams)?, b.disabled)),
            None => None,
        };
        let mut q = q
            .bind(roles.as_str())
            .bind(sites.as_str())
            .bind(op.all_sites)
            .bind(teams.as_str())
            .bind(op.subject_id.as_ref().map(|s| s.as_str()))
            .bind(op.disabled)
            .bind(unix(op.updated_at))
            .bind(sponsors.as_str())
            .bind(op.enrolment_verifier.as_ref().map(|v| v.as_slice()))
            .bind(op.enrolment_expires_at.map(unix))
            .bind(op.id.as_str());
        if let Some((roles, sites, all_sites, teams, disabled)) = &before {
            q = q.bind(roles.as_str()).bind(sites.as_str()).bind(*all_sites).bind(teams.as_str()).bind(*disabled);
        }
        let done = q.execute(&mut *conn).await.map_err(backend_error("operators"))?;
        Ok(DB::rows_affected(&done) == 1)
    }

    async fn insert_grant_row(conn: &mut DB::Connection, g: &OperatorGrant) -> Result<(), StoreError> {
        let enrolment = g.enrolment.as_ref().map(json).transpose()?;
        let (before, after) = (json(&g.before)?, json(&g.after)?);
        sqlx::query(concat!("INSERT INTO operator_grants (", grant_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"))
            .bind(g.id.as_str())
            .bind(g.operator_id.as_str())
            .bind(before.as_str())
            .bind(after.as_str())
            .bind(enrolment.as_deref())
            .bind(g.requested_by.as_str())
            .bind(g.state.as_str())
            .bind(unix(g.created_at))
            .bind(unix(g.expires_at))
            .bind(g.decided_by.as_deref())
            .bind(g.decided_at.map(unix))
            .execute(&mut *conn)
            .await
            .map_err(backend_error("operator_grants"))?;
        Ok(())
    }

    async fn insert_token_row(conn: &mut DB::Connection, token: &OperatorToken) -> Result<(), StoreError> {
        sqlx::query(concat!("INSERT INTO operator_tokens (", token_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7)"))
            .bind(token.id.as_str())
            .bind(token.name.as_str())
            .bind(token.secret_hash.as_slice())
            .bind(token.operator_id.as_str())
            .bind(unix(token.created_at))
            .bind(token.expires_at.map(unix))
            .bind(token.revoked)
            .execute(&mut *conn)
            .await
            .map_err(|e| match unique_violation::<DB>(&e) {
                // Never echo a secret, nor its hash.
                Some(key @ UniqueKey::TokenSecret) => key.conflict("[redacted]".to_string()),
                _ => backend_error("operator_tokens")(e),
            })?;
        Ok(())
    }

    /// Insert `rows` in groups of up to `max_group` rows per statement.
    async fn insert_rows<T>(
        conn: &mut DB::Connection,
        insert: &MultiInsert,
        rows: &[T],
        max_group: usize,
        bind: impl Fn(Q<DB>, &T) -> Q<DB> + Send,
    ) -> Result<(), sqlx::Error>
    where
        T: Sync,
    {
        let mut start = 0;
        for (size, sql) in insert.groups(rows.len(), max_group) {
            let mut q: Q<DB> = sqlx::query(sql);
            for row in &rows[start..start + size] {
                q = bind(q, row);
            }
            q.execute(&mut *conn).await?;
            start += size;
        }
        Ok(())
    }

    /// Append events to the log in the caller's transaction, in order. The
    /// caller's transaction holds the append lock (SQLite's single writer,
    /// PostgreSQL's `LOCK TABLE events`), so reading the last entry and
    /// appending after it cannot interleave with another appender: indexes
    /// are gap-free and every entry is chained to the one before it.
    /// Returns the index given to the first event.
    async fn append_events(conn: &mut DB::Connection, events: &[&NewEvent]) -> Result<i64, StoreError> {
        if events.is_empty() {
            return Ok(0);
        }
        let head: Option<LogEntryRow> =
            sqlx::query_as("SELECT event_index, entry, leaf_hash FROM events ORDER BY event_index DESC LIMIT 1")
                .fetch_optional(&mut *conn)
                .await
                .map_err(backend_error("events"))?;
        let (mut next, mut prev) = match head {
            Some(row) => {
                let last = signet_core::ports::LogEntry::try_from(row)?;
                (last.index + 1, last.leaf_hash)
            }
            None => (0, [0u8; 32]),
        };
        let first = next;
        let mut rows = Vec::with_capacity(events.len());
        for e in events {
            let entry = signet_core::log::entry_bytes(next, &prev, e);
            let leaf = signet_core::log::leaf_hash(&entry);
            rows.push((*e, json(&e.details)?, next, entry, leaf));
            prev = leaf;
            next += 1;
        }
        Self::insert_rows(conn, &HotStatements::get(DB::PLACEHOLDERS).events, &rows, MAX_GROUP, |q, (e, details, index, entry, leaf)| {
            q.bind(*index)
                .bind(e.event_type.as_str())
                .bind(e.actor.as_str())
                .bind(e.subject_id.as_ref().map(|v| v.as_str()))
                .bind(e.request_id.as_ref().map(|v| v.as_str()))
                .bind(e.credential_id.as_ref().map(|v| v.as_str()))
                .bind(e.reason.as_deref())
                .bind(details.as_str())
                .bind(e.trace_id.as_deref())
                .bind(unix(e.time))
                .bind(entry.as_slice())
                .bind(leaf.as_slice())
        })
        .await
        .map_err(backend_error("events"))?;
        Ok(first)
    }

    /// A credential is written only for a subject that is `active` when its
    /// transaction commits: the store's own guarantee, whatever the caller
    /// read earlier (the hot path decides on a cached subject). Status changes
    /// append an event, so they take the same append lock as this batch and
    /// cannot interleave with it.
    async fn require_active_subjects<'a>(
        conn: &mut DB::Connection,
        subjects: impl Iterator<Item = &'a SubjectId>,
    ) -> Result<(), StoreError> {
        let mut seen = HashSet::new();
        for id in subjects.filter(|id| seen.insert(*id)) {
            let status: Option<(String,)> = sqlx::query_as("SELECT status FROM subjects WHERE id = $1")
                .bind(id.as_str())
                .fetch_optional(&mut *conn)
                .await
                .map_err(backend_error("subjects"))?;
            match status {
                Some((s,)) if s == SubjectStatus::Active.as_str() => {}
                Some((s,)) => return Err(StoreError::SubjectNotActive { subject: id.to_string(), status: s }),
                None => return Err(StoreError::SubjectNotActive { subject: id.to_string(), status: "missing".into() }),
            }
        }
        Ok(())
    }

    /// The writes of one issuance batch, in the caller's transaction.
    /// Returns, per write, the log index of its event (`None` for intents).
    async fn write_issuance_batch(conn: &mut DB::Connection, batch: &[IssuanceWrite]) -> Result<Vec<Option<i64>>, BatchError> {
        let hot = HotStatements::get(DB::PLACEHOLDERS);
        let mut intents = Vec::new();
        let mut requests = Vec::new();
        let mut credentials = Vec::new();
        let mut events = Vec::new();
        for write in batch {
            match write {
                IssuanceWrite::Intent(i) => intents.push(i),
                IssuanceWrite::Outcome(o) => {
                    requests.push((
                        &o.request,
                        json(&o.request.requested_names)?,
                        json(&o.request.requested_scopes)?,
                        json(&o.request.params)?,
                    ));
                    if let Some(c) = &o.credential {
                        credentials.push((c, json(&c.names)?));
                    }
                    events.push(&o.event);
                }
            }
        }

        Self::require_active_subjects(conn, credentials.iter().map(|(c, _)| &c.subject_id)).await?;

        Self::insert_rows(conn, &hot.intents, &intents, MAX_GROUP, |q, i| {
            q.bind(i.serial.as_bytes().as_slice())
                .bind(i.request_id.as_str())
                .bind(i.subject_id.as_str())
                .bind(i.profile.as_str())
                .bind(i.key_fingerprint.as_str())
                .bind(unix(i.created_at))
                .bind(i.tbs_sha256.as_ref().map(|h| h.as_slice()))
        })
        .await?;

        // PostgreSQL refuses an upsert that touches one row twice in one
        // statement: should a batch carry one request twice, go row by row.
        let mut seen = HashSet::with_capacity(requests.len());
        let request_group = if requests.iter().all(|(r, _, _, _)| seen.insert(&r.id)) { MAX_GROUP } else { 1 };
        Self::insert_rows(conn, &hot.requests, &requests, request_group, |q, (r, names, scopes, params)| {
            q.bind(r.id.as_str())
                .bind(r.subject_id.as_str())
                .bind(r.profile.as_str())
                .bind(r.profile_version)
                .bind(r.credential_type.as_str())
                .bind(names.as_str())
                .bind(r.requested_ttl_seconds)
                .bind(r.key_algorithm.map(|a| a.as_str()))
                .bind(r.key_fingerprint.as_deref())
                .bind(r.requested_by.as_str())
                .bind(r.state.as_str())
                .bind(r.reason.as_deref())
                .bind(r.credential_id.as_ref().map(|v| v.as_str()))
                .bind(unix(r.created_at))
                .bind(unix(r.updated_at))
                .bind(scopes.as_str())
                .bind(r.break_glass)
                .bind(r.expires_at.map(unix))
                .bind(r.key_spki.as_deref())
                .bind(params.as_str())
        })
        .await?;

        Self::insert_rows(conn, &hot.credentials, &credentials, MAX_GROUP, |q, (c, names)| {
            q.bind(c.id.as_str())
                .bind(c.credential_type.as_str())
                .bind(c.serial.as_bytes().as_slice())
                .bind(c.subject_id.as_str())
                .bind(c.profile.as_str())
                .bind(c.request_id.as_str())
                .bind(c.issuer_id.as_str())
                .bind(c.key_algorithm.map(|a| a.as_str()))
                .bind(c.key_fingerprint.as_str())
                .bind(names.as_str())
                .bind(unix(c.not_before))
                .bind(unix(c.not_after))
                .bind(c.status.as_str())
                .bind(c.der.as_slice())
                .bind(unix(c.created_at))
        })
        .await?;

        let first = Self::append_events(conn, &events).await?;
        // Outcomes' events were appended in batch order.
        let mut next = first;
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

    /// After a batch failed on a taken serial: which serial? A duplicate
    /// within the batch, else one already stored. Only on the error path.
    async fn find_taken_serial(&self, key: UniqueKey, batch: &[IssuanceWrite]) -> String {
        let serials: Vec<&Serial> = batch
            .iter()
            .filter_map(|w| match (key, w) {
                (UniqueKey::IntentSerial, IssuanceWrite::Intent(i)) => Some(&i.serial),
                (UniqueKey::CredentialSerial, IssuanceWrite::Outcome(o)) => o.credential.as_ref().map(|c| &c.serial),
                _ => None,
            })
            .collect();
        let mut seen = HashSet::new();
        if let Some(dup) = serials.iter().find(|s| !seen.insert(**s)) {
            return dup.to_hex();
        }
        let sql = match key {
            UniqueKey::IntentSerial => "SELECT 1 FROM issuance_intents WHERE serial = $1",
            _ => "SELECT 1 FROM credentials WHERE serial = $1",
        };
        for serial in &serials {
            let found = sqlx::query(sql).bind(serial.as_bytes().as_slice()).fetch_optional(&self.reader).await;
            if let Ok(Some(_)) = found {
                return serial.to_hex();
            }
        }
        match serials.as_slice() {
            [only] => only.to_hex(),
            _ => "unknown".to_string(),
        }
    }
}

/// A failure inside the batch transaction, before it is mapped for the caller.
enum BatchError {
    Sql(sqlx::Error),
    Store(StoreError),
}

impl From<sqlx::Error> for BatchError {
    fn from(e: sqlx::Error) -> Self {
        Self::Sql(e)
    }
}

impl From<StoreError> for BatchError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

// ---------------------------------------------------------------- the Store

#[async_trait]
impl<DB> Store for SqlStore<DB>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'t> &'t str: Encode<'t, DB> + Type<DB>,
    for<'t> &'t [u8]: Encode<'t, DB> + Type<DB>,
    for<'t> i64: Encode<'t, DB> + Type<DB>,
    for<'t> bool: Encode<'t, DB> + Type<DB>,
    for<'t> Option<&'t str>: Encode<'t, DB> + Type<DB>,
    for<'t> Option<i64>: Encode<'t, DB> + Type<DB>,
    for<'t> Option<&'t [u8]>: Encode<'t, DB> + Type<DB>,
    for<'r> (i64, i64): FromRow<'r, DB::Row>,
    for<'r> (String, Option<i64>): FromRow<'r, DB::Row>,
    for<'r> (String,): FromRow<'r, DB::Row>,
    for<'r> SubjectRow: FromRow<'r, DB::Row>,
    for<'r> ProfileRow: FromRow<'r, DB::Row>,
    for<'r> RequestRow: FromRow<'r, DB::Row>,
    for<'r> CredentialRow: FromRow<'r, DB::Row>,
    for<'r> IntentRow: FromRow<'r, DB::Row>,
    for<'r> EventRow: FromRow<'r, DB::Row>,
    for<'r> AuthorityRow: FromRow<'r, DB::Row>,
    for<'r> TokenRow: FromRow<'r, DB::Row>,
    for<'r> OperatorRow: FromRow<'r, DB::Row>,
    for<'r> GrantRow: FromRow<'r, DB::Row>,
    for<'r> ApprovalRow: FromRow<'r, DB::Row>,
    for<'r> PolicyRow: FromRow<'r, DB::Row>,
    for<'r> LogEntryRow: FromRow<'r, DB::Row>,
    for<'r> NodeRow: FromRow<'r, DB::Row>,
    for<'r> CheckpointRow: FromRow<'r, DB::Row>,
    for<'r> TreeRow: FromRow<'r, DB::Row>,
    for<'r> (i64,): FromRow<'r, DB::Row>,
{
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.reader).await.map_err(backend_error("ping"))?;
        Ok(())
    }

    // ------------------------------------------------------------ subjects

    async fn insert_subject(&self, subject: &Subject, event: &NewEvent) -> Result<(), StoreError> {
        let attributes = json(&subject.attributes)?;
        let mut tx = self.begin(DB::BEGIN_APPEND).await?;
        sqlx::query(concat!("INSERT INTO subjects (", subject_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"))
            .bind(subject.id.as_str())
            .bind(subject.name.as_str())
            .bind(subject.kind.as_str())
            .bind(subject.owner.as_deref())
            .bind(subject.purpose.as_deref())
            .bind(subject.assurance.as_str())
            .bind(attributes.as_str())
            .bind(subject.status.as_str())
            .bind(unix(subject.created_at))
            .bind(unix(subject.updated_at))
            .bind(subject.site.as_str())
            .execute(&mut *tx)
            .await
            .map_err(|e| match unique_violation::<DB>(&e) {
                Some(key @ UniqueKey::SubjectName) => key.conflict(subject.name.clone()),
                _ => backend_error("subjects")(e),
            })?;
        Self::append_events(&mut tx, &[event]).await?;
        Self::commit(tx).await
    }

    async fn get_subject(&self, id: &SubjectId) -> Result<Option<Subject>, StoreError> {
        let row: Option<SubjectRow> = sqlx::query_as(concat!("SELECT ", subject_columns!(), " FROM subjects WHERE id = $1"))
            .bind(id.as_str())
            .fetch_optional(&self.reader)
            .await
            .map_err(backend_error("subjects"))?;
        row.map(Subject::try_from).transpose()
    }

    async fn list_subjects(&self, page: &Page) -> Result<Vec<Subject>, StoreError> {
        let sql = Filtered::new(concat!("SELECT ", subject_columns!(), " FROM subjects"));
        let q = sqlx::query_as(sql.newest_first(page));
        let rows: Vec<SubjectRow> = bind_page(q, page).fetch_all(&self.reader).await.map_err(backend_error("subjects"))?;
        rows.into_iter().map(Subject::try_from).collect()
    }

    // ------------------------------------------------------------ profiles

    async fn put_profile(&self, spec: &ProfileSpec, now: OffsetDateTime, event: &NewEvent) -> Result<Profile, StoreError> {
        let key_algorithms = json(&spec.key_algorithms)?;
        let names = json(&spec.names)?;
        let ext_key_usages = json(&spec.ext_key_usages)?;
        let subject_kinds = json(&spec.subject_kinds)?;
        let rules = json(&ProfileRules {
            allowed_scopes: spec.allowed_scopes.clone(),
            approvals: spec.approvals.clone(),
            params: spec.params.clone(),
        })?;
        let mut tx = self.begin(DB::BEGIN_APPEND).await?;
        let (version, created_at): (i64, i64) = sqlx::query_as(concat!(
            "INSERT INTO profiles (",
            profile_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 1, $14, $14, $15) \
             ON CONFLICT (name) DO UPDATE SET description = excluded.description, \
             credential_type = excluded.credential_type, key_algorithms = excluded.key_algorithms, \
             default_ttl_seconds = excluded.default_ttl_seconds, max_ttl_seconds = excluded.max_ttl_seconds, \
             names = excluded.names, require_names = excluded.require_names, \
             ext_key_usages = excluded.ext_key_usages, is_ca = excluded.is_ca, path_len = excluded.path_len, \
             required_assurance = excluded.required_assurance, subject_kinds = excluded.subject_kinds, \
             rules = excluded.rules, \
             version = profiles.version + 1, updated_at = excluded.updated_at \
             RETURNING version, created_at"
        ))
        .bind(spec.name.as_str())
        .bind(spec.description.as_str())
        .bind(spec.credential_type.as_str())
        .bind(key_algorithms.as_str())
        .bind(spec.default_ttl_seconds)
        .bind(spec.max_ttl_seconds)
        .bind(names.as_str())
        .bind(spec.require_names)
        .bind(ext_key_usages.as_str())
        .bind(spec.is_ca)
        .bind(spec.path_len.map(i64::from))
        .bind(spec.required_assurance.as_str())
        .bind(subject_kinds.as_str())
        .bind(unix(now))
        .bind(rules.as_str())
        .fetch_one(&mut *tx)
        .await
        .map_err(backend_error("profiles"))?;
        Self::append_events(&mut tx, &[event]).await?;
        Self::commit(tx).await?;
        let created_at = OffsetDateTime::from_unix_timestamp(created_at)
            .map_err(|e| StoreError::Corrupt { table: "profiles", reason: format!("created_at: {e}") })?;
        let updated_at = OffsetDateTime::from_unix_timestamp(unix(now))
            .map_err(|e| StoreError::Corrupt { table: "profiles", reason: format!("updated_at: {e}") })?;
        Ok(spec.clone().into_profile(version, created_at, updated_at))
    }

    async fn get_profile(&self, name: &str) -> Result<Option<Profile>, StoreError> {
        let row: Option<ProfileRow> = sqlx::query_as(concat!("SELECT ", profile_columns!(), " FROM profiles WHERE name = $1"))
            .bind(name)
            .fetch_optional(&self.reader)
            .await
            .map_err(backend_error("profiles"))?;
        row.map(Profile::try_from).transpose()
    }

    async fn list_profiles(&self) -> Result<Vec<Profile>, StoreError> {
        let rows: Vec<ProfileRow> =
            sqlx::query_as(concat!("SELECT ", profile_columns!(), " FROM profiles ORDER BY created_at DESC, name DESC"))
                .fetch_all(&self.reader)
                .await
                .map_err(backend_error("profiles"))?;
        rows.into_iter().map(Profile::try_from).collect()
    }

    // ------------------------------------------------------------ issuance

    async fn apply_issuance_batch(&self, batch: &[IssuanceWrite]) -> Result<Vec<Option<i64>>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let appends = batch.iter().any(|w| matches!(w, IssuanceWrite::Outcome(_)));
        let mut tx = self.begin(if appends { DB::BEGIN_APPEND } else { DB::BEGIN_WRITE }).await?;
        match Self::write_issuance_batch(&mut tx, batch).await {
            Ok(indexes) => {
                Self::commit(tx).await?;
                Ok(indexes)
            }
            Err(failure) => {
                // Roll back before looking for the culprit: nothing of the batch stays.
                let _ = tx.rollback().await;
                Err(match failure {
                    BatchError::Store(e) => e,
                    BatchError::Sql(e) => match unique_violation::<DB>(&e) {
                        Some(key @ (UniqueKey::CredentialSerial | UniqueKey::IntentSerial)) => {
                            key.conflict(self.find_taken_serial(key, batch).await)
                        }
                        _ => backend_error("issuance batch")(e),
                    },
                })
            }
        }
    }

    async fn get_intent(&self, serial: &Serial) -> Result<Option<IssuanceIntent>, StoreError> {
        let row: Option<IntentRow> = sqlx::query_as(concat!("SELECT ", intent_columns!(), " FROM issuance_intents WHERE serial = $1"))
            .bind(serial.as_bytes().as_slice())
            .fetch_optional(&self.reader)
            .await
            .map_err(backend_error("issuance_intents"))?;
        row.map(IssuanceIntent::try_from).transpose()
    }

    async fn get_request(&self, id: &RequestId) -> Result<Option<Request>, StoreError> {
        let row: Option<RequestRow> = sqlx::query_as(concat!("SELECT ", request_columns!(), " FROM requests WHERE id = $1"))
            .bind(id.as_str())
            .fetch_optional(&self.reader)
            .await
            .map_err(backend_error("requests"))?;
        row.map(Request::try_from).transpose()
    }

    async fn list_requests(&self, filter: &RequestFilter) -> Result<Vec<Request>, StoreError> {
        let mut sql = Filtered::new(concat!("SELECT ", request_columns!(), " FROM requests"));
        sql.filter("subject_id", filter.subject_id.is_some());
        sql.filter("state", filter.state.is_some());
        let mut q = sqlx::query_as(sql.newest_first(&filter.page));
        if let Some(s) = &filter.subject_id {
            q = q.bind(s.as_str());
        }
        if let Some(s) = filter.state {
            q = q.bind(s.as_str());
        }
        let rows: Vec<RequestRow> = bind_page(q, &filter.page).fetch_all(&self.reader).await.map_err(backend_error("requests"))?;
        rows.into_iter().map(Request::try_from).collect()
    }

    async fn get_credential(&self, id: &CredentialId) -> Result<Option<Credential>, StoreError> {
        let row: Option<CredentialRow> = sqlx::query_as(concat!("SELECT ", credential_columns!(), " FROM credentials WHERE id = $1"))
            .bind(id.as_str())
            .fetch_optional(&self.reader)
            .await
            .map_err(backend_error("credentials"))?;
        row.map(Credential::try_from).transpose()
    }

    async fn get_credential_by_serial(&self, serial: &Serial) -> Result<Option<Credential>, StoreError> {
        let row: Option<CredentialRow> = sqlx::query_as(concat!("SELECT ", credential_columns!(), " FROM credentials WHERE serial = $1"))
            .bind(serial.as_bytes().as_slice())
            .fetch_optional(&self.reader)
            .await
            .map_err(backend_error("credentials"))?;
        row.map(Credential::try_from).transpose()
    }

    async fn list_credentials(&self, filter: &CredentialFilter) -> Result<Vec<Credential>, StoreError> {
        let mut sql = Filtered::new(concat!("SELECT ", credential_columns!(), " FROM credentials"));
        sql.filter("subject_id", filter.subject_id.is_some());
        sql.filter("profile", filter.profile.is_some());
        sql.filter("status", filter.status.is_some());
        let mut q = sqlx::query_as(sql.newest_first(&filter.page));
        if let Some(s) = &filter.subject_id {
            q = q.bind(s.as_str());
        }
        if let Some(p) = &filter.profile {
            q = q.bind(p.as_str());
        }
        if let Some(s) = filter.status {
            q = q.bind(s.as_str());
        }
        let rows: Vec<CredentialRow> = bind_page(q, &filter.page).fetch_all(&self.reader).await.map_err(backend_error("credentials"))?;
        rows.into_iter().map(Credential::try_from).collect()
    }

    // ------------------------------------------------------------ events

    async fn list_events(&self, after: i64, limit: u32) -> Result<Vec<Event>, StoreError> {
        let rows: Vec<EventRow> = sqlx::query_as(concat!(read_events!(), " WHERE e.event_index > $1 ORDER BY e.event_index LIMIT $2"))
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await
            .map_err(backend_error("events"))?;
        rows.into_iter().map(Event::try_from).collect()
    }

    async fn record_events(&self, events: &[NewEvent]) -> Result<(), StoreError> {
        let mut tx = self.begin(DB::BEGIN_APPEND).await?;
        let events: Vec<&NewEvent> = events.iter().collect();
        Self::append_events(&mut tx, &events).await?;
        Self::commit(tx).await
    }

    async fn search_events(&self, f: &EventFilter) -> Result<Vec<Event>, StoreError> {
        let mut sql = String::from(concat!(read_events!(), " WHERE e.event_index > $1"));
        let mut n = 1;
        let mut clause = |column: &str, op: &str, present: bool| {
            if present {
                n += 1;
                sql.push_str(&format!(" AND e.{column} {op} ${n}"));
            }
        };
        clause("subject_id", "=", f.subject_id.is_some());
        clause("credential_id", "=", f.credential_id.is_some());
        clause("actor", "=", f.actor.is_some());
        clause("event_type", "=", f.event_type.is_some());
        clause("event_time", ">=", f.since.is_some());
        clause("event_time", "<", f.until.is_some());
        sql.push_str(&format!(" ORDER BY e.event_index LIMIT ${}", n + 1));
        // Only the fixed fragments above reach the SQL text; values are bound.
        let mut q = sqlx::query_as::<_, EventRow>(AssertSqlSafe(sql)).bind(f.after);
        if let Some(v) = &f.subject_id {
            q = q.bind(v.as_str());
        }
        if let Some(v) = &f.credential_id {
            q = q.bind(v.as_str());
        }
        if let Some(v) = &f.actor {
            q = q.bind(v.as_str());
        }
        if let Some(v) = f.event_type {
            q = q.bind(v.as_str());
        }
        if let Some(v) = f.since {
            q = q.bind(v);
        }
        if let Some(v) = f.until {
            q = q.bind(v);
        }
        let rows = q.bind(i64::from(f.limit)).fetch_all(&self.reader).await.map_err(backend_error("events"))?;
        // The columns selected the rows; the decoded entries must match too
        // (they do whenever the columns were not changed: see `EventRow`).
        rows.into_iter()
            .map(|row| {
                let event = Event::try_from(row)?;
                match f.matches(&event) {
                    true => Ok(event),
                    false => Err(StoreError::LogIntegrity {
                        index: event.index,
                        reason: "its index columns match the search, the values it records do not".into(),
                    }),
                }
            })
            .collect()
    }

    async fn issuance_event_index(&self, credential_id: &CredentialId) -> Result<Option<i64>, StoreError> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT event_index FROM events WHERE credential_id = $1 AND event_type = $2 ORDER BY event_index LIMIT 1")
                .bind(credential_id.as_str())
                .bind(signet_model::event::EventType::CredentialIssued.as_str())
                .fetch_optional(&self.reader)
                .await
                .map_err(backend_error("events"))?;
        Ok(row.map(|(i,)| i))
    }

    // ------------------------------------------------------------ the log tree

    async fn log_entries(&self, start: i64, limit: u32) -> Result<Vec<LogEntry>, StoreError> {
        let rows: Vec<LogEntryRow> =
            sqlx::query_as("SELECT event_index, entry, leaf_hash FROM events WHERE event_index >= $1 ORDER BY event_index LIMIT $2")
                .bind(start)
                .bind(i64::from(limit))
                .fetch_all(&self.reader)
                .await
                .map_err(backend_error("events"))?;
        rows.into_iter().map(LogEntry::try_from).collect()
    }

    async fn log_tree(&self) -> Result<(u64, [u8; 32]), StoreError> {
        let row: TreeRow = sqlx::query_as("SELECT tree_size, root_hash FROM log_state WHERE id = 1")
            .fetch_one(&self.reader)
            .await
            .map_err(backend_error("log_state"))?;
        let size =
            u64::try_from(row.tree_size).map_err(|_| StoreError::Corrupt { table: "log_state", reason: "negative tree size".into() })?;
        Ok((size, hash32("log_state", "root_hash", &row.root_hash)?))
    }

    async fn log_nodes(&self, positions: &[(u8, u64)]) -> Result<Vec<(u8, u64, [u8; 32])>, StoreError> {
        let mut out = Vec::with_capacity(positions.len());
        // One statement per 64 positions: `(level, node_index) IN (VALUES …)`
        // is not portable, OR-ed pairs are.
        for chunk in positions.chunks(64) {
            let mut sql = String::from("SELECT level, node_index, hash FROM log_nodes WHERE ");
            for i in 0..chunk.len() {
                if i > 0 {
                    sql.push_str(" OR ");
                }
                sql.push_str(&format!("(level = ${} AND node_index = ${})", 2 * i + 1, 2 * i + 2));
            }
            let mut q = sqlx::query_as::<_, NodeRow>(AssertSqlSafe(sql));
            for (level, index) in chunk {
                let index = i64::try_from(*index).map_err(|_| StoreError::Backend("node index out of range".into()))?;
                q = q.bind(i64::from(*level)).bind(index);
            }
            for r in q.fetch_all(&self.reader).await.map_err(backend_error("log_nodes"))? {
                let corrupt = || StoreError::Corrupt { table: "log_nodes", reason: "level or index out of range".into() };
                out.push((
                    u8::try_from(r.level).map_err(|_| corrupt())?,
                    u64::try_from(r.node_index).map_err(|_| corrupt())?,
                    hash32("log_nodes", "hash", &r.hash)?,
                ));
            }
        }
        Ok(out)
    }

    async fn log_tree_leaves(&self, start: u64, limit: u32) -> Result<Vec<[u8; 32]>, StoreError> {
        let start = i64::try_from(start).unwrap_or(i64::MAX);
        let rows: Vec<NodeRow> = sqlx::query_as(
            "SELECT level, node_index, hash FROM log_nodes WHERE level = 0 AND node_index >= $1 ORDER BY node_index LIMIT $2",
        )
        .bind(start)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(backend_error("log_nodes"))?;
        rows.iter().map(|r| hash32("log_nodes", "hash", &r.hash)).collect()
    }

    async fn grow_log_tree(&self, g: &TreeGrowth) -> Result<bool, StoreError> {
        let as_i64 = |v: u64| i64::try_from(v).map_err(|_| StoreError::Backend("tree size out of range".into()));
        let mut tx = self.begin(DB::BEGIN_WRITE).await?;
        let moved = sqlx::query("UPDATE log_state SET tree_size = $1, root_hash = $2 WHERE id = 1 AND tree_size = $3")
            .bind(as_i64(g.to_size)?)
            .bind(g.root_hash.as_slice())
            .bind(as_i64(g.from_size)?)
            .execute(&mut *tx)
            .await
            .map_err(backend_error("log_state"))?;
        if DB::rows_affected(&moved) != 1 {
            // Another sequencer grew the tree first; dropping `tx` rolls back.
            return Ok(false);
        }
        let rows: Vec<(i64, i64, &[u8])> =
            g.nodes.iter().map(|(l, i, h)| Ok((i64::from(*l), as_i64(*i)?, h.as_slice()))).collect::<Result<_, StoreError>>()?;
        for chunk in rows.chunks(MAX_GROUP) {
            let mut sql = String::from("INSERT INTO log_nodes (level, node_index, hash) VALUES ");
            for i in 0..chunk.len() {
                if i > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!("(${}, ${}, ${})", 3 * i + 1, 3 * i + 2, 3 * i + 3));
            }
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for (l, i, h) in chunk {
                q = q.bind(*l).bind(*i).bind(*h);
            }
            q.execute(&mut *tx).await.map_err(backend_error("log_nodes"))?;
        }
        let c = &g.checkpoint;
        sqlx::query("INSERT INTO log_checkpoints (tree_size, root_hash, note, created_at) VALUES ($1, $2, $3, $4)")
            .bind(as_i64(c.tree_size)?)
            .bind(c.root_hash.as_slice())
            .bind(c.note.as_str())
            .bind(unix(c.created_at))
            .execute(&mut *tx)
            .await
            .map_err(backend_error("log_checkpoints"))?;
        Self::commit(tx).await?;
        Ok(true)
    }

    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        let row: Option<CheckpointRow> =
            sqlx::query_as("SELECT tree_size, root_hash, note, created_at FROM log_checkpoints ORDER BY tree_size DESC LIMIT 1")
                .fetch_optional(&self.reader)
                .await
                .map_err(backend_error("log_checkpoints"))?;
        row.map(StoredCheckpoint::try_from).transpose()
    }

    async fn list_checkpoints(&self, after_size: u64, limit: u32) -> Result<Vec<StoredCheckpoint>, StoreError> {
        let after = i64::try_from(after_size).unwrap_or(i64::MAX);
        let rows: Vec<CheckpointRow> = sqlx::query_as(
            "SELECT tree_size, root_hash, note, created_at FROM log_checkpoints WHERE tree_size > $1 ORDER BY tree_size LIMIT $2",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(backend_error("log_checkpoints"))?;
        rows.into_iter().map(StoredCheckpoint::try_from).collect()
    }

    async fn checkpoint_covering(&self, index: u64) -> Result<Option<StoredCheckpoint>, StoreError> {
        let index = i64::try_from(index).unwrap_or(i64::MAX);
        let row: Option<CheckpointRow> = sqlx::query_as(
            "SELECT tree_size, root_hash, note, created_at FROM log_checkpoints WHERE tree_size > $1 ORDER BY tree_size LIMIT 1",
        )
        .bind(index)
        .fetch_optional(&self.reader)
        .await
        .map_err(backend_error("log_checkpoints"))?;
        row.map(StoredCheckpoint::try_from).transpose()
    }

    async fn forwarding_position(&self, sink: &str) -> Result<i64, StoreError> {
        let row: Option<(i64,)> = sqlx::query_as("SELECT position FROM log_forwarding WHERE sink = $1")
            .bind(sink)
            .fetch_optional(&self.reader)
            .await
            .map_err(backend_error("log_forwarding"))?;
        Ok(row.map_or(-1, |(p,)| p))
    }

    async fn set_forwarding_position(&self, sink: &str, position: i64) -> Result<(), StoreError> {
        let mut tx = self.begin(DB::BEGIN_WRITE).await?;
        sqlx::query(
            "INSERT INTO log_forwarding (sink, position) VALUES ($1, $2) \
             ON CONFLICT (sink) DO UPDATE SET position = excluded.position WHERE log_forwarding.position < excluded.position",
        )
        .bind(sink)
        .bind(position)
        .execute(&mut *tx)
        .await
        .map_err(backend_error("log_forwarding"))?;
        Self::commit(tx).await
    }

    async fn count_requests(&self, state: RequestState) -> Result<u64, StoreError> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM requests WHERE state = $1")
            .bind(state.as_str())
            .fetch_one(&self.reader)
            .await
            .map_err(backend_error("requests"))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    // ------------------------------------------------------------ authorities

    async fn insert_authorities(&self, authorities: &[Authority], events: &[NewEvent]) -> Result<(), StoreError> {
        let mut tx = self.begin(DB::BEGIN_APPEND).await?;
        for a in authorities {
            Self::insert_authority(&mut tx, a).await?;
        }
        let events: Vec<&NewEvent> = events.iter().collect();
        Self::append_events(&mut tx, &events).await?;
        Self::commit(tx).await
    }

    async fn rotate_authority(
        &self,
        retire: &AuthorityId,
        new: &Authority,
        at: OffsetDateTime,
        events: &[NewEvent],
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin(DB::BEGIN_APPEND).await?;
        let retired = sqlx::query(
            "UPDATE authorities SET state = 'retired', active = $1, retired_at = $2 WHERE id = $3 AND state = 'active' AND role = $4",
        )
        .bind(false)
        .bind(unix(at))
        .bind(retire.as_str())
        .bind(new.role.as_str())
        .execute(&mut *tx)
        .await
        .map_err(backend_error("authorities"))?;
        if DB::rows_affected(&retired) != 1 {
            return Ok(false);
        }
        Self::insert_authority(&mut tx, new).await?;
        let events: Vec<&NewEvent> = events.iter().collect();
        Self::append_events(&mut tx, &events).await?;
        Self::commit(tx).await?;
        Ok(true)
    }

    async fn destroy_authority(&self, id: &AuthorityId, at: OffsetDateTime, event: &NewEvent) -> Result<bool, StoreError> {
        let mut tx = self.begin(DB::BEGIN_APPEND).await?;
        let done =
            sqlx::query("UPDATE authorities SET state = 'destroyed', active = $1, destroyed_at = $2 WHERE id = $3 AND state = 'retired'")
                .bind(false)
                .bind(unix(at))
                .bind(id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(backend_error("authorities"))?;
        if DB::rows_affected(&done) != 1 {
            return Ok(false);
        }
        Self::append_events(&mut tx, &[event]).await?;
        Self::commit(tx).await?;
        Ok(true)
    }

    async fn last_not_after(&self, issuer: &AuthorityId) -> Result<Option<OffsetDateTime>, StoreError> {
        let (count, max): (i64, i64) = sqlx::query_as("SELECT COUNT(*), COALESCE(MAX(not_after), 0) FROM credentials WHERE issuer_id = $1")
            .bind(issuer.as_str())
            .fetch_one(&self.reader)
            .await
            .map_err(backend_error("credentials"))?;
        let max = (count > 0).then_some(max);
        max.map(|t| crate::rows::from_unix("credentials", "not_after", t)).transpose()
    }

    async fn list_authorities(&self) -> Result<Vec<Authority>, StoreError> {
        let rows: Vec<AuthorityRow> =
            sqlx::query_as(concat!("SELECT ", authority_columns!(), " FROM authorities ORDER BY created_at DESC, id DESC"))
                .fetch_all(&self.reader)
                .await
                .map_err(backend_error("authorities"))?;
        rows.into_iter().map(Authority::try_from).collect()
    }

    // ------------------------------------------------------------ tokens

    async fn insert_token(&self, token: &OperatorToken, event: &NewEvent) -> Result<(), StoreError> {
        let mut tx = self.begin(DB::BEGIN_APPEND).await?;
        Self::insert_token_row(&mut tx, token).await?;
        Self::append_events(&mut tx, &[event]).await?;
        Self::commit(tx).await
    }

    async fn find_token(&self, secret_hash: &[u8; 32]) -> Result<Option<OperatorToken>, StoreError> {
        let row: Option<TokenRow> = sqlx::query_as(concat!("SELECT ", token_columns!(), " FROM operator_tokens WHERE secret_hash = $1"))
            .bind(secret_hash.as_slice())
            .fetch_optional(&self.reader)
            .await
            .map_err(backend_error("operator_tokens"))?;
        row.map(OperatorToken::try_from).transpose()
    }

    async fn get_token(&self, id: &TokenId) -> Result<Option<OperatorToken>, StoreError> {
        let row: Option<TokenRow> = sqlx::query_as(concat!("SELECT ", token_columns!(), " FROM operator_tokens WHERE id = $1"))
            .bind(id.as_str())
            .fetch_optional(&self.reader)
            .await
            .map_err(backend_error("operator_tokens"))?;
        row.map(OperatorToken::try_from).transpose()
    }

    async fn list_tokens(&self, operator_id: &OperatorId) -> Result<Vec<OperatorToken>, StoreError> {
        let rows: Vec<TokenRow> = sqlx::query_as(concat!(
            "SELECT ",
            token_columns!(),
            " FROM operator_tokens WHERE operator_id = $1 ORDER BY created_at DESC, id DESC"
        ))
        .bind(operator_id.as_str())
        .fetch_all(&self.reader)
        .await
        .map_err(backend_error("operator_tokens"))?;
        rows.into_iter().map(OperatorToken::try_from).collect()
    }

    async fn revoke_token(&self, id: &TokenId, event: &NewEvent) -> Result<bool, StoreError> {
        let mut tx = self.begin(DB::BEGIN_APPEND).await?;
        let done = sqlx::query("UPDATE operator_tokens SET revoked = $1 WHERE id = $2 AND revoked = $3")
            .bind(true)
            .bind(id.as_str())
            .bind(false)
            .execute(&mut *tx)
            .await
            .map_err(backend_error("operator_tokens"))?;
        if DB::rows_affected(&done) == 0 {
            return Ok(false);
        }
        Self::append_events(&mut tx, &[event]).await?;
        Self::commit(tx).await?;
        Ok(true)
    }

    // ------------------------------------------------------------ operators

    async fn insert_operator(&self, op: &Operator, grant: Option<&OperatorGrant>, events: &[&NewEvent]) -> Result<(), StoreError> {
        let mut tx = self.begin(DB::BEGIN_APPEND).await?;
        Self::insert_operator_row(&mut tx, op).await?;
        if let Some(g) = grant {
            Self::insert_grant_row(&mut tx, g).await?;
        }
        Self::append_events(&mut tx, events).await?;
        Self::commit(tx).await
    }

    async fn insert_operator_with_token(&self, op: &Operator, token: &OperatorToken, events: [&NewEvent; 2]) -> Result<(), StoreError> {
        let mut tx = self.begin(DB::BEGIN_APPEND).await?;
        Self::insert_operator_row(&mut tx, op).await?;
        Self::insert_token_row(&mut tx, token).await?;
        Self::append_events(&mut tx, &events).await?;
        Self::commit(tx).await
    }

    async fn update_operator(&self, op: &Operator, events: &[&NewEvent]) -> Result<(), StoreError> {
        let mut tx = self.begin(DB::BEGIN_APPEND).await?;
        Self::update_operator_row(&mut tx, op, None).await?;
        Self::append_events(&mut tx, events).await?;
        Self::commit(tx).await
    }

    async fn redeem_enrolment(
        &self,
        operator_id: &OperatorId,
        verifier: &[u8; 32],
        now: OffsetDateTime,
        token: &OperatorToken,
        events: &[&NewEvent],
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin(DB::BEGIN_APPEND).await?;
        let done = sqlx::query(
            "UPDATE operators SET enrolment_verifier = NULL, enrolment_expires_at = NULL \
             WHERE id = $1 AND enrolment_verifier = $2 AND enrolment_expires_at > $3 AND disabled = $4",
        )
        .bind(operator_id.as_str())
        .bind(verifier.as_slice())
        .bind(unix(now))
        .bind(false)
        .execute(&mut *tx)
        .await
        .map_err(backend_error("operators"))?;
        if DB::rows_affected(&done) != 1 {
            let _ = tx.rollback().await;
            return Ok(false);
        }
        Self::insert_token_row(&mut tx, token).await?;
        Self::append_events(&mut tx, events).await?;
        Self::commit(tx).await?;
        Ok(true)
    }

    async fn insert_grant(&self, grant: &OperatorGrant, events: &[&NewEvent]) -> Result<(), StoreError> {
        let mut tx = self.begin(DB::BEGIN_APPEND).await?;
        Self::insert_grant_row(&mut tx, grant).await?;
        Self::append_events(&mut tx, events).await?;
        Self::commit(tx).await
    }

    async fn get_grant(&self, id: &GrantId) -> Result<Option<OperatorGrant>, StoreError> {
        let row: Option<GrantRow> = sqlx::query_as(concat!("SELECT ", grant_columns!(), " FROM operator_grants WHERE id = $1"))
            .bind(id.as_str())
            .fetch_optional(&self.reader)
            .await
            .map_err(backend_error("operator_grants"))?;
        row.map(OperatorGrant::try_from).transpose()
    }

    async fn list_grants(&self, limit: u32) -> Result<Vec<OperatorGrant>, StoreError> {
        let rows: Vec<GrantRow> =
            sqlx::query_as(concat!("SELECT ", grant_columns!(), " FROM operator_grants ORDER BY created_at DESC, id DESC LIMIT $1"))
                .bind(i64::from(limit))
                .fetch_all(&self.reader)
                .await
                .map_err(backend_error("operator_grants"))?;
        rows.into_iter().map(OperatorGrant::try_from).collect()
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
        let mut tx = self.begin(DB::BEGIN_APPEND).await?;
        let done = sqlx::query("UPDATE operator_grants SET state = $1, decided_by = $2, decided_at = $3 WHERE id = $4 AND state = $5")
            .bind(state.as_str())
            .bind(decided_by)
            .bind(unix(at))
            .bind(grant.id.as_str())
            .bind(GrantState::Pending.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend_error("operator_grants"))?;
        let applied = match apply {
            Some(op) if DB::rows_affected(&done) == 1 => Self::update_operator_row(&mut tx, op, Some(&grant.before)).await?,
            _ => DB::rows_affected(&done) == 1,
        };
        if !applied {
            let _ = tx.rollback().await;
            return Ok(false);
        }
        Self::append_events(&mut tx, events).await?;
        Self::commit(tx).await?;
        Ok(true)
    }

    async fn get_operator(&self, id: &OperatorId) -> Result<Option<Operator>, StoreError> {
        let row: Option<OperatorRow> = sqlx::query_as(concat!("SELECT ", operator_columns!(), " FROM operators WHERE id = $1"))
            .bind(id.as_str())
            .fetch_optional(&self.reader)
            .await
            .map_err(backend_error("operators"))?;
        row.map(Operator::try_from).transpose()
    }

    async fn list_operators(&self) -> Result<Vec<Operator>, StoreError> {
        let rows: Vec<OperatorRow> = sqlx::query_as(concat!("SELECT ", operator_columns!(), " FROM operators ORDER BY name"))
            .fetch_all(&self.reader)
            .await
            .map_err(backend_error("operators"))?;
        rows.into_iter().map(Operator::try_from).collect()
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
        let mut tx = self.begin(DB::BEGIN_APPEND).await?;
        let done = sqlx::query("UPDATE subjects SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4")
            .bind(to.as_str())
            .bind(unix(now))
            .bind(id.as_str())
            .bind(from.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend_error("subjects"))?;
        if DB::rows_affected(&done) == 0 {
            return Ok(false);
        }
        Self::append_events(&mut tx, &[event]).await?;
        Self::commit(tx).await?;
        Ok(true)
    }

    // ------------------------------------------------------------ policies

    async fn insert_policy(&self, policy: &StoredPolicy, event: &NewEvent) -> Result<(), StoreError> {
        let mut tx = self.begin(DB::BEGIN_APPEND).await?;
        let (latest,): (i64,) = sqlx::query_as("SELECT COALESCE(MAX(version), 0) FROM policies")
            .fetch_one(&mut *tx)
            .await
            .map_err(backend_error("policies"))?;
        if policy.version != latest + 1 {
            return Err(UniqueKey::PolicyVersion.conflict(policy.version.to_string()));
        }
        sqlx::query(concat!("INSERT INTO policies (", policy_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6)"))
            .bind(policy.version)
            .bind(policy.text.as_str())
            .bind(policy.sha256.as_str())
            .bind(policy.comment.as_str())
            .bind(policy.created_by.as_str())
            .bind(unix(policy.created_at))
            .execute(&mut *tx)
            .await
            .map_err(|e| match unique_violation::<DB>(&e) {
                Some(key @ UniqueKey::PolicyVersion) => key.conflict(policy.version.to_string()),
                _ => backend_error("policies")(e),
            })?;
        Self::append_events(&mut tx, &[event]).await?;
        Self::commit(tx).await
    }

    async fn latest_policy(&self) -> Result<Option<StoredPolicy>, StoreError> {
        let row: Option<PolicyRow> = sqlx::query_as(concat!("SELECT ", policy_columns!(), " FROM policies ORDER BY version DESC LIMIT 1"))
            .fetch_optional(&self.reader)
            .await
            .map_err(backend_error("policies"))?;
        row.map(StoredPolicy::try_from).transpose()
    }

    async fn latest_policy_version(&self) -> Result<i64, StoreError> {
        let (v,): (i64,) = sqlx::query_as("SELECT COALESCE(MAX(version), 0) FROM policies")
            .fetch_one(&self.reader)
            .await
            .map_err(backend_error("policies"))?;
        Ok(v)
    }

    async fn get_policy(&self, version: i64) -> Result<Option<StoredPolicy>, StoreError> {
        let row: Option<PolicyRow> = sqlx::query_as(concat!("SELECT ", policy_columns!(), " FROM policies WHERE version = $1"))
            .bind(version)
            .fetch_optional(&self.reader)
            .await
            .map_err(backend_error("policies"))?;
        row.map(StoredPolicy::try_from).transpose()
    }

    async fn list_policies(&self) -> Result<Vec<StoredPolicy>, StoreError> {
        let rows: Vec<PolicyRow> =
            sqlx::query_as("SELECT version, '' AS text, sha256, comment, created_by, created_at FROM policies ORDER BY version DESC")
                .fetch_all(&self.reader)
                .await
                .map_err(backend_error("policies"))?;
        rows.into_iter().map(StoredPolicy::try_from).collect()
    }

    // ------------------------------------------------------------ approvals

    async fn record_verdict(
        &self,
        approval: &Approval,
        required: u32,
        now: OffsetDateTime,
        event: &NewEvent,
    ) -> Result<VerdictRecorded, StoreError> {
        let mut tx = self.begin(DB::BEGIN_APPEND).await?;
        let row: Option<(String, Option<i64>)> = sqlx::query_as("SELECT state, expires_at FROM requests WHERE id = $1")
            .bind(approval.request_id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend_error("requests"))?;
        match row {
            Some((state, expires_at)) if state == RequestState::PendingApproval.as_str() && expires_at.is_none_or(|t| t > unix(now)) => {}
            _ => return Err(StoreError::NotPending),
        }
        sqlx::query(concat!("INSERT INTO approvals (", approval_columns!(), ") VALUES ($1, $2, $3, $4, $5)"))
            .bind(approval.request_id.as_str())
            .bind(approval.approver.as_str())
            .bind(approval.verdict.as_str())
            .bind(approval.reason.as_str())
            .bind(unix(approval.created_at))
            .execute(&mut *tx)
            .await
            .map_err(|e| match unique_violation::<DB>(&e) {
                Some(key @ UniqueKey::Approval) => key.conflict(approval.approver.clone()),
                _ => backend_error("approvals")(e),
            })?;
        let (approvals,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM approvals WHERE request_id = $1 AND verdict = $2")
            .bind(approval.request_id.as_str())
            .bind(Verdict::Approve.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(backend_error("approvals"))?;
        let approvals = u32::try_from(approvals).unwrap_or(u32::MAX);
        let close_as = match approval.verdict {
            Verdict::Deny => Some((RequestState::Denied, Some(format!("denied by `{}`: {}", approval.approver, approval.reason)))),
            Verdict::Approve if approvals >= required => Some((RequestState::Approved, None)),
            Verdict::Approve => None,
        };
        let mut closed = false;
        if let Some((state, reason)) = close_as {
            let done = sqlx::query("UPDATE requests SET state = $1, reason = $2, updated_at = $3 WHERE id = $4 AND state = $5")
                .bind(state.as_str())
                .bind(reason.as_deref())
                .bind(unix(now))
                .bind(approval.request_id.as_str())
                .bind(RequestState::PendingApproval.as_str())
                .execute(&mut *tx)
                .await
                .map_err(backend_error("requests"))?;
            closed = DB::rows_affected(&done) == 1;
        }
        Self::append_events(&mut tx, &[event]).await?;
        Self::commit(tx).await?;
        Ok(VerdictRecorded { approvals, closed })
    }

    async fn list_approvals(&self, request_id: &RequestId) -> Result<Vec<Approval>, StoreError> {
        let rows: Vec<ApprovalRow> =
            sqlx::query_as(concat!("SELECT ", approval_columns!(), " FROM approvals WHERE request_id = $1 ORDER BY created_at, approver"))
                .bind(request_id.as_str())
                .fetch_all(&self.reader)
                .await
                .map_err(backend_error("approvals"))?;
        rows.into_iter().map(Approval::try_from).collect()
    }

    async fn expire_request(&self, id: &RequestId, now: OffsetDateTime, event: &NewEvent) -> Result<bool, StoreError> {
        let mut tx = self.begin(DB::BEGIN_APPEND).await?;
        let done = sqlx::query("UPDATE requests SET state = $1, reason = $2, updated_at = $3 WHERE id = $4 AND state = $5")
            .bind(RequestState::Expired.as_str())
            .bind("the request expired before its approvals were collected")
            .bind(unix(now))
            .bind(id.as_str())
            .bind(RequestState::PendingApproval.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend_error("requests"))?;
        if DB::rows_affected(&done) == 0 {
            return Ok(false);
        }
        Self::append_events(&mut tx, &[event]).await?;
        Self::commit(tx).await?;
        Ok(true)
    }

    async fn list_expired_pending(&self, now: OffsetDateTime, limit: u32) -> Result<Vec<RequestId>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM requests WHERE state = $1 AND expires_at IS NOT NULL AND expires_at <= $2 ORDER BY expires_at LIMIT $3",
        )
        .bind(RequestState::PendingApproval.as_str())
        .bind(unix(now))
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(backend_error("requests"))?;
        rows.into_iter()
            .map(|(id,)| RequestId::parse("id", &id).map_err(|e| StoreError::Corrupt { table: "requests", reason: e.to_string() }))
            .collect()
    }
}
