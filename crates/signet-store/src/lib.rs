//! Signet's storage: one [`Store`] implementation over SQLite (the embedded
//! default, [`SqliteStore`]) and PostgreSQL ([`PgStore`]), checked by one
//! conformance suite (`tests/conformance/`) run against both, and against
//! signet-core's in-memory store (`signet_core::memory::MemoryStore`), which
//! must behave as they do.
//!
//! ```text
//!  open_store("sqlite://…" | path | "postgres://…")
//!        │
//!        ▼
//!  SqlStore<DB> ── one implementation of Store: portable SQL ($n, ON CONFLICT, RETURNING)
//!        │
//!        ├── Backend for Sqlite    BEGIN IMMEDIATE;  unique violations named `table.column`
//!        └── Backend for Postgres  BEGIN + LOCK events;  unique violations named by constraint
//! ```
//!
//! # Schema
//!
//! Versioned migrations in `migrations/sqlite/` and `migrations/postgres/`
//! (the same tables with each backend's native types) run on open.
//!
//! | table              | key                          | holds |
//! |--------------------|------------------------------|-------|
//! | `subjects`         | `id`; `name` unique          | who receives credentials |
//! | `profiles`         | `name`                       | issuance templates, `version` + 1 on every change |
//! | `requests`         | `id`                         | one ask, written with its outcome |
//! | `credentials`      | `id`; `serial` unique        | what was minted, with its DER |
//! | `issuance_intents` | `serial`                     | what was about to be signed (written before signing) |
//! | `events`           | `event_index`, assigned by the database | the append-only log (triggers refuse UPDATE and DELETE) |
//! | `authorities`      | `id`                         | CA certificates and their key references |
//! | `operator_tokens`  | `id`; `secret_hash` unique   | operator API tokens, as SHA-256 of the secret |
//!
//! Values are portable: ids and enums are TEXT, times BIGINT unix seconds
//! (UTC; model times are whole seconds), serials and DER BLOB/BYTEA, lists and
//! name sets JSON TEXT. List calls return newest first (`created_at`, then
//! `id`), backed by `(…, created_at, id)` indexes; events oldest first.
//!
//! Every call that changes state writes its event in the same transaction.
//! [`Store::apply_issuance_batch`], the hot path, writes a whole group-commit
//! batch in one transaction (one fsync), inserting up to 64 rows per statement.
//! Requests and credentials reference subjects, profiles, requests and
//! authorities by foreign key; intents and events reference nothing, so that
//! recording a trace can never fail on a missing row.
//!
//! # Durability
//!
//! A call returns `Ok` only after its transaction committed durably.
//! SQLite runs in WAL mode with `synchronous = FULL`: the WAL is fsynced at
//! every commit, so an acknowledged write survives a power cut (not only a
//! process crash), while readers (a pool of 4) proceed in parallel with the
//! single writer connection. Write transactions begin `IMMEDIATE`, taking the
//! write lock up front instead of failing with `SQLITE_BUSY` on upgrade;
//! other processes wait up to 5 s for the lock. Foreign keys are enforced.
//! PostgreSQL commits with the server's settings (keep `synchronous_commit`
//! on, as by default); transactions that append events first lock the events
//! table against other appenders, so indexes are handed out in commit order
//! and a reader paging with `list_events(after, …)` never skips a late commit.

mod backend;
mod multi_insert;
mod postgres;
mod rows;
pub mod snapshot;
mod sqlite;
mod store;

pub use backend::Backend;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;
pub use store::SqlStore;

use signet_core::ports::{Store, StoreError};
use std::path::Path;
use std::sync::Arc;

/// Open the store named by `database`: a `postgres://` or `postgresql://`
/// URL for PostgreSQL; `sqlite://PATH`, `sqlite:PATH` or a plain file path
/// for SQLite.
pub async fn open_store(database: &str) -> Result<Arc<dyn Store>, StoreError> {
    if database.starts_with("postgres://") || database.starts_with("postgresql://") {
        return Ok(Arc::new(PgStore::connect(database).await?));
    }
    let path = database.strip_prefix("sqlite://").or_else(|| database.strip_prefix("sqlite:")).unwrap_or(database);
    if path.is_empty() {
        return Err(StoreError::Backend("no database given: expected a file path or a postgres:// URL".into()));
    }
    if path == ":memory:" || path.starts_with("file::memory:") {
        // Every pooled connection would get a database of its own.
        return Err(StoreError::Backend("an in-memory SQLite database is not supported: give a file path".into()));
    }
    Ok(Arc::new(SqliteStore::open(Path::new(path)).await?))
}
