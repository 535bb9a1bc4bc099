//! What differs between the backends, and nothing else: how a write
//! transaction begins, and how a unique violation names its constraint.
//! Everything else (SQL text, row mapping, the batch writer) is shared.

use crate::multi_insert::Placeholders;
use signet_core::ports::StoreError;
use sqlx::error::DatabaseError;
use sqlx::{Database, Postgres, Sqlite};

mod sealed {
    pub trait Sealed {}
    impl Sealed for sqlx::Sqlite {}
    impl Sealed for sqlx::Postgres {}
}

/// A database Signet can store in: SQLite or PostgreSQL.
pub trait Backend: Database + sealed::Sealed {
    /// Opens a transaction that writes but appends no event.
    const BEGIN_WRITE: &'static str;
    /// Opens a transaction that appends to the event log.
    const BEGIN_APPEND: &'static str;
    /// How the hot path's many-row statements spell their parameters.
    const PLACEHOLDERS: Placeholders;

    /// The unique constraint a violation hit, in this backend's spelling.
    fn unique_constraint(err: &dyn DatabaseError) -> Option<&str>;

    /// Rows a statement changed.
    fn rows_affected(result: &Self::QueryResult) -> u64;
}

impl Backend for Sqlite {
    /// `IMMEDIATE` takes the write lock at `BEGIN`: a deferred transaction
    /// that reads first and then writes can fail with `SQLITE_BUSY` when it
    /// tries to upgrade its lock. SQLite has one writer, so event indexes are
    /// assigned in commit order without more.
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
    const BEGIN_APPEND: &'static str = "BEGIN IMMEDIATE";
    const PLACEHOLDERS: Placeholders = Placeholders::Anonymous;

    /// SQLite names the columns: `UNIQUE constraint failed: subjects.name`.
    fn unique_constraint(err: &dyn DatabaseError) -> Option<&str> {
        err.message().strip_prefix("UNIQUE constraint failed: ")
    }

    fn rows_affected(result: &Self::QueryResult) -> u64 {
        result.rows_affected()
    }
}

impl Backend for Postgres {
    const BEGIN_WRITE: &'static str = "BEGIN";
    /// Log indexes are assigned by the appender (the last index plus one), so
    /// appenders must take turns: without this lock two transactions would
    /// both read index 7 as the last and both append 8, or one holding 8
    /// could commit before one holding 7. `EXCLUSIVE` blocks other appenders
    /// until commit but not readers. One simple-protocol round trip with `BEGIN`.
    const BEGIN_APPEND: &'static str = "BEGIN; LOCK TABLE events IN EXCLUSIVE MODE";
    const PLACEHOLDERS: Placeholders = Placeholders::Numbered;

    /// PostgreSQL names the constraint (named explicitly in the migrations).
    fn unique_constraint(err: &dyn DatabaseError) -> Option<&str> {
        err.constraint()
    }

    fn rows_affected(result: &Self::QueryResult) -> u64 {
        result.rows_affected()
    }
}

/// The unique values the store reports as [`StoreError::Conflict`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UniqueKey {
    SubjectName,
    CredentialSerial,
    IntentSerial,
    TokenSecret,
    OperatorName,
    /// One verdict per approver and request.
    Approval,
    PolicyVersion,
    /// One active authority key per role.
    ActiveAuthority,
}

impl UniqueKey {
    /// (SQLite spelling, PostgreSQL constraint name, key).
    const ALL: [(&'static str, &'static str, UniqueKey); 8] = [
        ("subjects.name", "subjects_name_key", UniqueKey::SubjectName),
        ("credentials.serial", "credentials_serial_key", UniqueKey::CredentialSerial),
        ("issuance_intents.serial", "issuance_intents_pkey", UniqueKey::IntentSerial),
        ("operator_tokens.secret_hash", "operator_tokens_secret_hash_key", UniqueKey::TokenSecret),
        ("operators.name", "operators_name_key", UniqueKey::OperatorName),
        ("approvals.request_id, approvals.approver", "approvals_pkey", UniqueKey::Approval),
        ("policies.version", "policies_pkey", UniqueKey::PolicyVersion),
        ("authorities.role", "authorities_one_active_per_role", UniqueKey::ActiveAuthority),
    ];

    /// The conflict error for this key, with the value that was taken.
    pub(crate) fn conflict(self, value: String) -> StoreError {
        let (entity, field) = match self {
            UniqueKey::SubjectName => ("subject", "name"),
            // An intent reserves its serial: a taken serial is a taken serial.
            UniqueKey::CredentialSerial | UniqueKey::IntentSerial => ("credential", "serial"),
            UniqueKey::TokenSecret => ("token", "secret"),
            UniqueKey::OperatorName => ("operator", "name"),
            UniqueKey::Approval => ("approval", "approver"),
            UniqueKey::PolicyVersion => ("policy version", "version"),
            UniqueKey::ActiveAuthority => ("active authority of role", "role"),
        };
        StoreError::Conflict { entity, field, value }
    }
}

/// Which reported unique value, if any, `err` violated.
pub(crate) fn unique_violation<DB: Backend>(err: &sqlx::Error) -> Option<UniqueKey> {
    let db = err.as_database_error()?;
    if !db.is_unique_violation() {
        return None;
    }
    let name = DB::unique_constraint(db)?;
    UniqueKey::ALL.iter().find(|(lite, pg, _)| *lite == name || *pg == name).map(|(_, _, key)| *key)
}

/// Any other database failure. Decoding failures mean a stored value does not
/// fit its column type: the row is corrupt, not the database.
pub(crate) fn backend_error(table: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |e| match e {
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) | sqlx::Error::ColumnNotFound(_) => {
            StoreError::Corrupt { table, reason: e.to_string() }
        }
        other => StoreError::Backend(other.to_string()),
    }
}
