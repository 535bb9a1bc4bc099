//! The embedded default: one SQLite file, in WAL mode, fsynced on every commit.

use crate::store::SqlStore;
use signet_core::ports::StoreError;
use sqlx::Sqlite;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::path::Path;
use std::time::Duration;

/// The [`Store`](signet_core::ports::Store) on an SQLite file.
pub type SqliteStore = SqlStore<Sqlite>;

/// Connections that read alongside the writer (WAL lets readers run in
/// parallel with one writer).
const READERS: u32 = 4;

/// How long a connection waits for another process's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

impl SqlStore<Sqlite> {
    /// Open (or create) the database file at `path` and bring its schema up
    /// to date. The parent directory must exist.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            // WAL: readers never block the writer, nor the writer readers.
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: the WAL is fsynced at every commit, so an acknowledged
            // write survives a power cut. (NORMAL would only survive a crash.)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            // Read pages through a memory map rather than a read() per page:
            // readers re-read pages the writer changed after every commit.
            .pragma("mmap_size", "268435456")
            // Statement journals (one per INSERT of a multi-statement
            // transaction) in memory instead of a temporary file.
            .pragma("temp_store", "MEMORY")
            .busy_timeout(BUSY_TIMEOUT);
        let open_error = |e: sqlx::Error| StoreError::Backend(format!("cannot open `{}`: {e}", path.display()));

        // A local file does not go stale: skip the ping on every acquire, and
        // keep connections (and their prepared statements) for good.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .test_before_acquire(false)
            .idle_timeout(None)
            .max_lifetime(None)
            // A checkpoint every 4000 pages (16 MiB of WAL) rather than 1000:
            // the pages at the right edge of each index, rewritten by every
            // commit, are copied back to the database once per checkpoint.
            .connect_with(options.clone().pragma("cache_size", "-32768").pragma("wal_autocheckpoint", "4000"))
            .await
            .map_err(open_error)?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&writer)
            .await
            .map_err(|e| StoreError::Backend(format!("cannot migrate `{}`: {e}", path.display())))?;
        let reader = SqlitePoolOptions::new()
            .max_connections(READERS)
            .test_before_acquire(false)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options.pragma("query_only", "ON"))
            .await
            .map_err(open_error)?;
        Ok(Self { writer, reader })
    }
}
