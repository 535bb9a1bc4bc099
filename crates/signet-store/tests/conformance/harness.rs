//! Runs one conformance test against one backend, each test on a database of
//! its own: a file in a fresh temporary directory (SQLite), a fresh
//! database created for the test and dropped after it (PostgreSQL), or a
//! fresh [`MemoryStore`] (signet-core's in-memory store).

use signet_core::memory::MemoryStore;
use signet_core::ports::Store;
use signet_store::open_store;
use sqlx::{Connection, Executor, PgConnection};
use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::pin::Pin;
use std::sync::Arc;

/// Where PostgreSQL tests create their databases, e.g. `postgres://postgres@127.0.0.1:5432/test`.
const PG_URL_VAR: &str = "SIGNET_TEST_DATABASE_URL";

pub type TestFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The database a test runs on. `open` may be called more than once: every
/// call opens a new store (new pools, migrations run again) on the same data.
#[derive(Debug, Clone)]
pub struct Db {
    /// What `open_store` is given: `sqlite://PATH` or a PostgreSQL URL
    /// (`memory` for the in-memory store).
    pub location: String,
    /// The in-memory store every `open` returns, for the memory backend.
    memory: Option<Arc<MemoryStore>>,
}

impl Db {
    pub async fn open(&self) -> Arc<dyn Store> {
        if let Some(memory) = &self.memory {
            return Arc::clone(memory) as Arc<dyn Store>;
        }
        match open_store(&self.location).await {
            Ok(store) => store,
            Err(e) => panic!("cannot open `{}`: {e}", self.location),
        }
    }

    /// Run one SQL statement directly on the database, around the store.
    /// Only the SQL backends have one: tests that call this are listed as
    /// `sql_only` in `main.rs`.
    pub async fn raw_execute(&self, sql: &str) -> Result<(), sqlx::Error> {
        assert!(self.memory.is_none(), "raw SQL on the memory store: list this test as `sql_only`");
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        if self.location.starts_with("sqlite:") {
            let mut c = sqlx::SqliteConnection::connect(&self.location).await?;
            c.execute(sql).await?;
        } else {
            let mut c = PgConnection::connect(&self.location).await?;
            c.execute(sql).await?;
        }
        Ok(())
    }
}

pub async fn run_sqlite(test: fn(Db) -> TestFuture) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("signet.db");
    let db = Db { location: format!("sqlite://{}", path.display()), memory: None };
    test(db).await;
}

pub async fn run_postgres(test: fn(Db) -> TestFuture) {
    let Some(admin_url) = postgres_url() else { return };
    let name = format!("signet_t_{:016x}{:016x}", RandomState::new().hash_one(std::process::id()), RandomState::new().hash_one(0u8));
    let mut admin = PgConnection::connect(&admin_url).await.unwrap_or_else(|e| panic!("cannot connect to {PG_URL_VAR}: {e}"));
    admin.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).await.expect("create the test database");

    let db = Db { location: with_database(&admin_url, &name), memory: None };
    // Run the test in its own task: a failing assertion ends the task, not
    // this function, so the database is dropped either way.
    let outcome = tokio::spawn(test(db)).await;

    let dropped = admin.execute(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).await;
    if let Err(e) = dropped {
        eprintln!("note: could not drop test database {name}: {e}");
    }
    let _ = admin.close().await;
    if let Err(e) = outcome {
        match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => panic!("test task failed: {e}"),
        }
    }
}

pub async fn run_memory(test: fn(Db) -> TestFuture) {
    let db = Db { location: "memory".into(), memory: Some(Arc::new(MemoryStore::new())) };
    test(db).await;
}

/// The PostgreSQL URL, or `None` when the run explicitly leaves the
/// PostgreSQL variants out (`SIGNET_TEST_NO_POSTGRES=1`, set by scripts/test
/// only when it cannot reach PostgreSQL, and reported there as skipped; never
/// under CI). A missing URL otherwise fails the test.
fn postgres_url() -> Option<String> {
    match std::env::var(PG_URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            let opted_out = std::env::var("SIGNET_TEST_NO_POSTGRES").as_deref() == Ok("1");
            assert!(
                opted_out && std::env::var("CI").as_deref() != Ok("true"),
                "{PG_URL_VAR} is not set: run scripts/test, which points the tests at PostgreSQL on 127.0.0.1:5432"
            );
            eprintln!("note: SIGNET_TEST_NO_POSTGRES=1: the PostgreSQL variant of this test is left out");
            None
        }
    }
}

/// `url` with its database (the path) replaced by `database`, query kept.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let root = match base[authority_start..].find('/') {
        Some(i) => &base[..authority_start + i],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{database}?{q}"),
        None => format!("{root}/{database}"),
    }
}

#[test]
fn database_is_replaced_in_urls() {
    assert_eq!(with_database("postgres://postgres@127.0.0.1:5432/test", "x"), "postgres://postgres@127.0.0.1:5432/x");
    assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
    assert_eq!(with_database("postgresql://u:p@h/db?sslmode=disable", "x"), "postgresql://u:p@h/x?sslmode=disable");
}
