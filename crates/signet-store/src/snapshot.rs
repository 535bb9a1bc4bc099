//! Logical snapshots of the whole database, for `signet backup` and
//! `signet restore`: every table, every row, as portable typed values.
//!
//! ```text
//!  SnapshotReader::open(location)      one read transaction: SQLite `BEGIN` (WAL: a snapshot),
//!        │                             PostgreSQL `REPEATABLE READ READ ONLY`
//!        ├─ migrations()               the applied schema versions (`_sqlx_migrations`)
//!        ├─ tables()                   from the catalog, not a list in the code: a table that a
//!        │                             later migration adds is included without a change here
//!        ├─ newest_checkpoint()        what the log's newest signed checkpoint says
//!        └─ for_each_row(table, f)     every row, as [`Value`]s typed by the column
//!
//!  restore(location, snapshot, before_commit)
//!        one write transaction on an empty target: check that the snapshot's migrations are
//!        the first of this binary's, run them, clear rows they seeded, insert every row
//!        (parents before children), run the newer migrations (an upgrade, as on start),
//!        read the log back, `before_commit`, commit.
//!        SQLite: into `<file>.restoring`, linked to `<file>` after the commit (never
//!        replacing a file); PostgreSQL: DDL and rows in that one transaction.
//! ```
//!
//! Column types are mapped to a small portable set ([`ColumnType`]); a column
//! of any other type fails the backup loudly, naming the table and column,
//! rather than being skipped. Values convert between the two backends'
//! spellings (a PostgreSQL `BOOLEAN` is a SQLite `INTEGER` 0/1), so a
//! snapshot of one backend restores into the other.

use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{AssertSqlSafe, Pool, Postgres, Row, Sqlite, Transaction};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// The table sqlx records applied migrations in: part of the schema, not of the data.
const MIGRATIONS_TABLE: &str = "_sqlx_migrations";

/// Why a snapshot cannot be taken or restored.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("{0}")]
    Location(String),
    #[error("the target database is not empty: {0}; restore only into an empty database")]
    NotEmpty(String),
    #[error("table `{table}` column `{column}` has type `{ty}`, which backups do not support")]
    UnsupportedType { table: String, column: String, ty: String },
    #[error("the backup's schema does not match this Signet's: {0}")]
    SchemaMismatch(String),
    #[error("table `{table}`: {reason}")]
    Value { table: String, reason: String },
    #[error("the foreign keys between tables {0} form a cycle")]
    Cycle(String),
    #[error("{0}")]
    Check(String),
    #[error("database: {0}")]
    Database(String),
    #[error("cannot write `{}`: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

fn db(e: impl std::fmt::Display) -> SnapshotError {
    SnapshotError::Database(e.to_string())
}

/// Which database a URL or path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Sqlite(PathBuf),
    /// The URL (it may hold a password: never print it).
    Postgres(String),
}

impl Location {
    /// Parse as [`crate::open_store`] does: `postgres://…` / `postgresql://…`,
    /// or `sqlite://PATH`, `sqlite:PATH`, a plain file path.
    pub fn parse(database: &str) -> Result<Self, SnapshotError> {
        if database.starts_with("postgres://") || database.starts_with("postgresql://") {
            return Ok(Self::Postgres(database.to_string()));
        }
        let path = database.strip_prefix("sqlite://").or_else(|| database.strip_prefix("sqlite:")).unwrap_or(database);
        if path.is_empty() || path == ":memory:" || path.starts_with("file::memory:") {
            return Err(SnapshotError::Location(format!("`{database}` is not a database file path or a postgres:// URL")));
        }
        Ok(Self::Sqlite(PathBuf::from(path)))
    }

    pub fn backend(&self) -> BackendKind {
        match self {
            Self::Sqlite(_) => BackendKind::Sqlite,
            Self::Postgres(_) => BackendKind::Postgres,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    Sqlite,
    Postgres,
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        })
    }
}

/// The portable column types a snapshot carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    Int2,
    Int4,
    Int8,
    Bool,
    Float4,
    Float8,
    Text,
    Blob,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: ColumnType,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableInfo {
    pub name: String,
    pub columns: Vec<Column>,
}

/// One applied migration: its version and sqlx's checksum (hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedMigration {
    pub version: i64,
    pub checksum: String,
}

/// One stored value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Float(f64),
    Text(String),
    Blob(Vec<u8>),
    Bool(bool),
}

/// What the newest signed checkpoint in `log_checkpoints` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewestCheckpoint {
    pub tree_size: u64,
    pub root_hash: Vec<u8>,
}

/// A whole database in memory, ready to restore.
#[derive(Debug, Clone)]
pub struct DatabaseSnapshot {
    pub backend: BackendKind,
    pub migrations: Vec<AppliedMigration>,
    pub tables: Vec<TableData>,
}

#[derive(Debug, Clone)]
pub struct TableData {
    pub info: TableInfo,
    pub rows: Vec<Vec<Value>>,
}

/// The restored log, read back inside the restoring transaction.
#[derive(Debug, Clone, Default)]
pub struct LogReadBack {
    /// `events.entry`, by `event_index`.
    pub entries: Vec<Vec<u8>>,
    /// `log_nodes` level 0, by index: the leaf hashes the sequencer stored.
    pub leaf_hashes: Vec<[u8; 32]>,
    /// `log_checkpoints.note`, by tree size.
    pub checkpoints: Vec<String>,
}

/// How long a backup waits for the server's write lock to clear (SQLite).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

fn pg_options(url: &str) -> Result<PgConnectOptions, SnapshotError> {
    // The error must not echo the URL, which may hold a password.
    PgConnectOptions::from_str(url).map_err(|e| SnapshotError::Location(format!("invalid PostgreSQL URL: {e}")))
}

async fn pg_pool(url: &str) -> Result<Pool<Postgres>, SnapshotError> {
    PgPoolOptions::new()
        .max_connections(1)
        .connect_with(pg_options(url)?)
        .await
        .map_err(|e| SnapshotError::Database(format!("cannot connect to PostgreSQL: {e}")))
}

enum ReadTx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

/// A read transaction over a live database: everything read through one
/// reader comes from the same consistent snapshot, while the server goes
/// on writing.
pub struct SnapshotReader {
    tx: ReadTx,
    backend: BackendKind,
}

impl SnapshotReader {
    /// Open the database (never creating or migrating it) and begin the read transaction.
    pub async fn open(location: &Location) -> Result<Self, SnapshotError> {
        match location {
            Location::Sqlite(path) => {
                if !path.is_file() {
                    return Err(SnapshotError::Location(format!("no SQLite database at `{}`", path.display())));
                }
                let options = SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(false)
                    .busy_timeout(BUSY_TIMEOUT)
                    .pragma("query_only", "ON");
                let pool = SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_with(options)
                    .await
                    .map_err(|e| SnapshotError::Database(format!("cannot open `{}`: {e}", path.display())))?;
                // In WAL mode a read transaction sees the database as of its
                // first read, whatever commits after: a consistent snapshot.
                let mut tx = pool.begin_with("BEGIN").await.map_err(db)?;
                sqlx::query("SELECT count(*) FROM sqlite_master").fetch_one(&mut *tx).await.map_err(db)?;
                Ok(Self { tx: ReadTx::Sqlite(tx), backend: BackendKind::Sqlite })
            }
            Location::Postgres(url) => {
                let pool = pg_pool(url).await?;
                let tx = pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await.map_err(db)?;
                Ok(Self { tx: ReadTx::Postgres(tx), backend: BackendKind::Postgres })
            }
        }
    }

    pub fn backend(&self) -> BackendKind {
        self.backend
    }

    /// The applied migrations, oldest first.
    pub async fn migrations(&mut self) -> Result<Vec<AppliedMigration>, SnapshotError> {
        let sql = format!("SELECT version, checksum FROM {MIGRATIONS_TABLE} WHERE success ORDER BY version");
        let rows: Vec<(i64, Vec<u8>)> = match &mut self.tx {
            ReadTx::Sqlite(tx) => sqlx::query_as(AssertSqlSafe(sql)).fetch_all(&mut **tx).await,
            ReadTx::Postgres(tx) => sqlx::query_as(AssertSqlSafe(sql)).fetch_all(&mut **tx).await,
        }
        .map_err(|e| SnapshotError::Check(format!("the database has no Signet schema (cannot read `{MIGRATIONS_TABLE}`: {e})")))?;
        Ok(rows.into_iter().map(|(version, checksum)| AppliedMigration { version, checksum: hex(&checksum) }).collect())
    }

    /// Every table of the schema (but the migrations table), parents before children.
    pub async fn tables(&mut self) -> Result<Vec<TableInfo>, SnapshotError> {
        match &mut self.tx {
            ReadTx::Sqlite(tx) => sqlite_tables(tx).await,
            ReadTx::Postgres(tx) => pg_tables(tx).await,
        }
    }

    /// The newest signed checkpoint, if the log has one.
    pub async fn newest_checkpoint(&mut self) -> Result<Option<NewestCheckpoint>, SnapshotError> {
        let sql = "SELECT tree_size, root_hash FROM log_checkpoints ORDER BY tree_size DESC LIMIT 1";
        let row: Option<(i64, Vec<u8>)> = match &mut self.tx {
            ReadTx::Sqlite(tx) => sqlx::query_as(sql).fetch_optional(&mut **tx).await,
            ReadTx::Postgres(tx) => sqlx::query_as(sql).fetch_optional(&mut **tx).await,
        }
        .map_err(db)?;
        Ok(row.map(|(size, root_hash)| NewestCheckpoint { tree_size: size.unsigned_abs(), root_hash }))
    }

    /// The number of rows in `table`.
    pub async fn count(&mut self, table: &TableInfo) -> Result<u64, SnapshotError> {
        let sql = format!("SELECT count(*) FROM {}", quote(&table.name));
        let n: i64 = match &mut self.tx {
            ReadTx::Sqlite(tx) => sqlx::query_scalar(AssertSqlSafe(sql)).fetch_one(&mut **tx).await,
            ReadTx::Postgres(tx) => sqlx::query_scalar(AssertSqlSafe(sql)).fetch_one(&mut **tx).await,
        }
        .map_err(db)?;
        Ok(n.unsigned_abs())
    }

    /// Call `f` with every row of `table`, streaming; returns the row count.
    pub async fn for_each_row<E>(
        &mut self,
        table: &TableInfo,
        mut f: impl FnMut(Vec<Value>) -> Result<(), E>,
    ) -> Result<u64, ForEachError<E>> {
        let columns: Vec<String> = table.columns.iter().map(|c| quote(&c.name)).collect();
        let sql = format!("SELECT {} FROM {}", columns.join(", "), quote(&table.name));
        let bad = |reason: String| ForEachError::Snapshot(SnapshotError::Value { table: table.name.clone(), reason });
        let mut n = 0u64;
        match &mut self.tx {
            ReadTx::Sqlite(tx) => {
                let mut rows = sqlx::query(AssertSqlSafe(sql)).fetch(&mut **tx);
                while let Some(row) = rows.try_next().await.map_err(|e| ForEachError::Snapshot(db(e)))? {
                    let values = table.columns.iter().enumerate().map(|(i, c)| sqlite_value(&row, i, c.ty)).collect::<Result<_, _>>();
                    f(values.map_err(|e| bad(e.to_string()))?).map_err(ForEachError::Sink)?;
                    n += 1;
                }
            }
            ReadTx::Postgres(tx) => {
                let mut rows = sqlx::query(AssertSqlSafe(sql)).fetch(&mut **tx);
                while let Some(row) = rows.try_next().await.map_err(|e| ForEachError::Snapshot(db(e)))? {
                    let values = table.columns.iter().enumerate().map(|(i, c)| pg_value(&row, i, c.ty)).collect::<Result<_, _>>();
                    f(values.map_err(|e| bad(e.to_string()))?).map_err(ForEachError::Sink)?;
                    n += 1;
                }
            }
        }
        Ok(n)
    }

    /// End the read transaction.
    pub async fn close(self) -> Result<(), SnapshotError> {
        match self.tx {
            ReadTx::Sqlite(tx) => tx.rollback().await.map_err(db),
            ReadTx::Postgres(tx) => tx.rollback().await.map_err(db),
        }
    }
}

/// A failure while streaming rows: the database's, or the caller's.
#[derive(Debug)]
pub enum ForEachError<E> {
    Snapshot(SnapshotError),
    Sink(E),
}

/// `"name"`, with any `"` doubled.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sqlite_type(table: &str, column: &str, declared: &str) -> Result<ColumnType, SnapshotError> {
    // SQLite's affinity rules (https://sqlite.org/datatype3.html §3.1), narrowed to what we can carry.
    let d = declared.to_ascii_uppercase();
    let ty = if d.contains("INT") || d.contains("BOOL") {
        ColumnType::Int8
    } else if d.contains("CHAR") || d.contains("CLOB") || d.contains("TEXT") {
        ColumnType::Text
    } else if d == "BLOB" {
        ColumnType::Blob
    } else if d.contains("REAL") || d.contains("FLOA") || d.contains("DOUB") {
        ColumnType::Float8
    } else {
        return Err(SnapshotError::UnsupportedType { table: table.into(), column: column.into(), ty: declared.into() });
    };
    Ok(ty)
}

fn pg_type(table: &str, column: &str, data_type: &str) -> Result<ColumnType, SnapshotError> {
    Ok(match data_type {
        "smallint" => ColumnType::Int2,
        "integer" => ColumnType::Int4,
        "bigint" => ColumnType::Int8,
        "boolean" => ColumnType::Bool,
        "real" => ColumnType::Float4,
        "double precision" => ColumnType::Float8,
        "text" | "character varying" | "character" => ColumnType::Text,
        "bytea" => ColumnType::Blob,
        other => return Err(SnapshotError::UnsupportedType { table: table.into(), column: column.into(), ty: other.into() }),
    })
}

async fn sqlite_tables(conn: &mut sqlx::SqliteConnection) -> Result<Vec<TableInfo>, SnapshotError> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name <> $1 ORDER BY name",
    )
    .bind(MIGRATIONS_TABLE)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    let mut tables = Vec::new();
    let mut edges = Vec::new();
    for name in names {
        // table_info lists the stored columns (generated and hidden ones are not).
        let cols: Vec<(String, String)> = sqlx::query_as("SELECT name, type FROM pragma_table_info($1) ORDER BY cid")
            .bind(&name)
            .fetch_all(&mut *conn)
            .await
            .map_err(db)?;
        let columns = cols
            .into_iter()
            .map(|(c, t)| Ok(Column { ty: sqlite_type(&name, &c, &t)?, name: c }))
            .collect::<Result<Vec<_>, SnapshotError>>()?;
        let parents: Vec<String> = sqlx::query_scalar("SELECT DISTINCT \"table\" FROM pragma_foreign_key_list($1)")
            .bind(&name)
            .fetch_all(&mut *conn)
            .await
            .map_err(db)?;
        edges.extend(parents.into_iter().map(|p| (name.clone(), p)));
        tables.push(TableInfo { name, columns });
    }
    parents_first(tables, &edges)
}

async fn pg_tables(conn: &mut sqlx::PgConnection) -> Result<Vec<TableInfo>, SnapshotError> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name <> $1 ORDER BY table_name",
    )
    .bind(MIGRATIONS_TABLE)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    let mut tables = Vec::new();
    for name in names {
        // Generated columns are computed, not stored: they are not carried.
        let cols: Vec<(String, String)> = sqlx::query_as(
            "SELECT column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 AND is_generated = 'NEVER' ORDER BY ordinal_position",
        )
        .bind(&name)
        .fetch_all(&mut *conn)
        .await
        .map_err(db)?;
        let columns = cols
            .into_iter()
            .map(|(c, t)| Ok(Column { ty: pg_type(&name, &c, &t)?, name: c }))
            .collect::<Result<Vec<_>, SnapshotError>>()?;
        tables.push(TableInfo { name, columns });
    }
    let edges: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.relname::text, p.relname::text FROM pg_constraint k \
         JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class p ON p.oid = k.confrelid \
         JOIN pg_namespace n ON n.oid = k.connamespace \
         WHERE k.contype = 'f' AND n.nspname = current_schema()",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    parents_first(tables, &edges)
}

/// Order `tables` so that every table comes after the tables its foreign
/// keys reference (`edges`: (child, parent)); ties by name.
fn parents_first(tables: Vec<TableInfo>, edges: &[(String, String)]) -> Result<Vec<TableInfo>, SnapshotError> {
    let mut pending: BTreeMap<String, TableInfo> = tables.into_iter().map(|t| (t.name.clone(), t)).collect();
    let mut needs: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (child, parent) in edges {
        if child != parent && pending.contains_key(parent) {
            needs.entry(child.clone()).or_default().insert(parent.clone());
        }
    }
    let mut ordered = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        let ready: Vec<String> = pending
            .keys()
            .filter(|name| needs.get(*name).is_none_or(|parents| parents.iter().all(|p| !pending.contains_key(p))))
            .cloned()
            .collect();
        if ready.is_empty() {
            return Err(SnapshotError::Cycle(pending.keys().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")));
        }
        for name in ready {
            if let Some(t) = pending.remove(&name) {
                ordered.push(t);
            }
        }
    }
    Ok(ordered)
}

fn sqlite_value(row: &sqlx::sqlite::SqliteRow, i: usize, ty: ColumnType) -> Result<Value, sqlx::Error> {
    Ok(match ty {
        ColumnType::Int2 | ColumnType::Int4 | ColumnType::Int8 | ColumnType::Bool => row.try_get::<Option<i64>, _>(i)?.map(Value::Int),
        ColumnType::Float4 | ColumnType::Float8 => row.try_get::<Option<f64>, _>(i)?.map(Value::Float),
        ColumnType::Text => row.try_get::<Option<String>, _>(i)?.map(Value::Text),
        ColumnType::Blob => row.try_get::<Option<Vec<u8>>, _>(i)?.map(Value::Blob),
    }
    .unwrap_or(Value::Null))
}

fn pg_value(row: &sqlx::postgres::PgRow, i: usize, ty: ColumnType) -> Result<Value, sqlx::Error> {
    Ok(match ty {
        ColumnType::Int2 => row.try_get::<Option<i16>, _>(i)?.map(|v| Value::Int(v.into())),
        ColumnType::Int4 => row.try_get::<Option<i32>, _>(i)?.map(|v| Value::Int(v.into())),
        ColumnType::Int8 => row.try_get::<Option<i64>, _>(i)?.map(Value::Int),
        ColumnType::Bool => row.try_get::<Option<bool>, _>(i)?.map(Value::Bool),
        ColumnType::Float4 => row.try_get::<Option<f32>, _>(i)?.map(|v| Value::Float(v.into())),
        ColumnType::Float8 => row.try_get::<Option<f64>, _>(i)?.map(Value::Float),
        ColumnType::Text => row.try_get::<Option<String>, _>(i)?.map(Value::Text),
        ColumnType::Blob => row.try_get::<Option<Vec<u8>>, _>(i)?.map(Value::Blob),
    }
    .unwrap_or(Value::Null))
}

/// Is there a database at `location` that holds anything? SQLite: the file
/// exists. PostgreSQL: the current schema has a table.
pub async fn check_empty(location: &Location) -> Result<(), SnapshotError> {
    match location {
        Location::Sqlite(path) => {
            if path.exists() {
                return Err(SnapshotError::NotEmpty(format!("`{}` already exists", path.display())));
            }
            Ok(())
        }
        Location::Postgres(url) => {
            let pool = pg_pool(url).await?;
            let mut conn = pool.acquire().await.map_err(db)?;
            let result = pg_check_empty(&mut conn).await;
            drop(conn);
            pool.close().await;
            result
        }
    }
}

async fn pg_check_empty(conn: &mut sqlx::PgConnection) -> Result<(), SnapshotError> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY table_name LIMIT 3",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    if tables.is_empty() {
        return Ok(());
    }
    Err(SnapshotError::NotEmpty(format!("it has tables ({})", tables.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", "))))
}

/// The migrations this binary would apply to `backend`.
fn migrator(backend: BackendKind) -> sqlx::migrate::Migrator {
    let mut m = match backend {
        BackendKind::Sqlite => sqlx::migrate!("./migrations/sqlite"),
        BackendKind::Postgres => sqlx::migrate!("./migrations/postgres"),
    };
    // The restore holds the only connection inside its own transaction.
    m.set_locking(false);
    m
}

/// A snapshot is restored with the schema it was taken with, then brought
/// up to this binary's by the newer migrations, as an upgrade would. Its
/// migrations must therefore be the first of ours: the same versions (and, on
/// the same backend, the same checksums). A snapshot from a newer Signet is
/// refused.
fn check_migrations(snapshot: &DatabaseSnapshot, target: BackendKind) -> Result<(), SnapshotError> {
    let m = migrator(target);
    let ours: Vec<AppliedMigration> = m
        .iter()
        .filter(|x| !x.migration_type.is_down_migration())
        .map(|x| AppliedMigration { version: x.version, checksum: hex(&x.checksum) })
        .collect();
    let versions = |v: &[AppliedMigration]| v.iter().map(|m| m.version.to_string()).collect::<Vec<_>>().join(", ");
    let prefix = !snapshot.migrations.is_empty()
        && snapshot.migrations.len() <= ours.len()
        && snapshot.migrations.iter().zip(&ours).all(|(theirs, mine)| theirs.version == mine.version);
    if !prefix {
        return Err(SnapshotError::SchemaMismatch(format!(
            "the backup has migrations [{}], this Signet has [{}]: restore with a Signet at least as new as the one that took the backup",
            versions(&snapshot.migrations),
            versions(&ours)
        )));
    }
    if let Some((theirs, _)) = snapshot.migrations.iter().zip(&ours).find(|(a, b)| snapshot.backend == target && a.checksum != b.checksum) {
        return Err(SnapshotError::SchemaMismatch(format!("migration {} differs from this Signet's", theirs.version)));
    }
    Ok(())
}

/// The schema version the snapshot was taken at (checked by [`check_migrations`]).
fn snapshot_version(snapshot: &DatabaseSnapshot) -> Option<i64> {
    snapshot.migrations.last().map(|m| m.version)
}

/// Restore `snapshot` into the empty database at `location`, in one
/// transaction. `before_commit` gets the restored log as read back inside
/// that transaction; its error rolls everything back. Nothing is left at
/// `location` unless this returns `Ok`.
pub async fn restore(
    location: &Location,
    snapshot: &DatabaseSnapshot,
    before_commit: impl FnOnce(LogReadBack) -> Result<(), String>,
) -> Result<u64, SnapshotError> {
    check_migrations(snapshot, location.backend())?;
    match location {
        Location::Postgres(url) => {
            let pool = pg_pool(url).await?;
            let result = pg_restore(&pool, snapshot, before_commit).await;
            pool.close().await;
            result
        }
        Location::Sqlite(path) => sqlite_restore(path, snapshot, before_commit).await,
    }
}

async fn pg_restore(
    pool: &Pool<Postgres>,
    snapshot: &DatabaseSnapshot,
    before_commit: impl FnOnce(LogReadBack) -> Result<(), String>,
) -> Result<u64, SnapshotError> {
    let mut tx = pool.begin().await.map_err(db)?;
    pg_check_empty(&mut tx).await?;
    migrator(BackendKind::Postgres)
        .run_direct(snapshot_version(snapshot), &mut *tx, false)
        .await
        .map_err(|e| SnapshotError::Database(format!("cannot create the schema: {e}")))?;
    let target = pg_tables(&mut tx).await?;
    let plan = plan(snapshot, &target)?;
    for t in plan.iter().rev() {
        // Rows the migrations seeded (the empty log state): the snapshot has its own.
        sqlx::query(AssertSqlSafe(format!("DELETE FROM {}", quote(&t.target.name)))).execute(&mut *tx).await.map_err(db)?;
    }
    let mut rows = 0u64;
    for t in &plan {
        let sql = insert_sql(t, " OVERRIDING SYSTEM VALUE");
        for row in &t.data.rows {
            let mut q = sqlx::query(AssertSqlSafe(sql.clone()));
            for (src, col) in &t.columns {
                let v = row.get(*src).ok_or_else(|| value_error(t, "a row has too few values"))?;
                q = bind_pg(q, col.ty, v).map_err(|e| value_error(t, &format!("column `{}`: {e}", col.name)))?;
            }
            q.execute(&mut *tx).await.map_err(|e| value_error(t, &e.to_string()))?;
            rows += 1;
        }
        // Serial and identity columns: continue after the restored values.
        for (_, col) in &t.columns {
            let seq: Option<String> = sqlx::query_scalar("SELECT pg_get_serial_sequence($1, $2)")
                .bind(quote(&t.target.name))
                .bind(&col.name)
                .fetch_one(&mut *tx)
                .await
                .map_err(db)?;
            if let Some(seq) = seq {
                let sql = format!(
                    "SELECT setval($1, COALESCE((SELECT max({c}) FROM {t}), 0) + 1, false)",
                    c = quote(&col.name),
                    t = quote(&t.target.name)
                );
                sqlx::query(AssertSqlSafe(sql)).bind(seq).execute(&mut *tx).await.map_err(db)?;
            }
        }
    }
    // Migrations newer than the backup, applied to its rows.
    migrator(BackendKind::Postgres)
        .run_direct(None, &mut *tx, false)
        .await
        .map_err(|e| SnapshotError::Database(format!("cannot bring the restored schema up to date: {e}")))?;
    let log = read_log_pg(&mut tx).await?;
    before_commit(log).map_err(SnapshotError::Check)?;
    tx.commit().await.map_err(db)?;
    Ok(rows)
}

async fn sqlite_restore(
    path: &Path,
    snapshot: &DatabaseSnapshot,
    before_commit: impl FnOnce(LogReadBack) -> Result<(), String>,
) -> Result<u64, SnapshotError> {
    if path.exists() {
        return Err(SnapshotError::NotEmpty(format!("`{}` already exists", path.display())));
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".restoring");
    let tmp = PathBuf::from(tmp);
    let remove_tmp = |p: &Path| {
        for suffix in ["", "-journal", "-wal", "-shm"] {
            let mut f = p.as_os_str().to_owned();
            f.push(suffix);
            let _ = std::fs::remove_file(PathBuf::from(f));
        }
    };
    if tmp.exists() {
        return Err(SnapshotError::NotEmpty(format!("`{}` exists (left by an interrupted restore?): remove it first", tmp.display())));
    }
    let options =
        SqliteConnectOptions::new().filename(&tmp).create_if_missing(true).journal_mode(SqliteJournalMode::Delete).foreign_keys(true);
    let pool = match SqlitePoolOptions::new().max_connections(1).connect_with(options).await {
        Ok(p) => p,
        Err(e) => {
            remove_tmp(&tmp);
            return Err(SnapshotError::Database(format!("cannot create `{}`: {e}", tmp.display())));
        }
    };
    let result = sqlite_restore_into(&pool, snapshot, before_commit).await;
    pool.close().await;
    let rows = match result {
        Ok(rows) => rows,
        Err(e) => {
            remove_tmp(&tmp);
            return Err(e);
        }
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Err(source) = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)) {
            remove_tmp(&tmp);
            return Err(SnapshotError::Io { path: tmp, source });
        }
    }
    // A hard link never replaces an existing file, unlike a rename.
    let linked = std::fs::hard_link(&tmp, path).map_err(|source| SnapshotError::Io { path: path.to_path_buf(), source });
    remove_tmp(&tmp);
    linked?;
    Ok(rows)
}

async fn sqlite_restore_into(
    pool: &Pool<Sqlite>,
    snapshot: &DatabaseSnapshot,
    before_commit: impl FnOnce(LogReadBack) -> Result<(), String>,
) -> Result<u64, SnapshotError> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
    // Foreign keys are checked at commit: a table referencing itself restores in any row order.
    sqlx::query("PRAGMA defer_foreign_keys = ON").execute(&mut *tx).await.map_err(db)?;
    migrator(BackendKind::Sqlite)
        .run_direct(snapshot_version(snapshot), &mut *tx, false)
        .await
        .map_err(|e| SnapshotError::Database(format!("cannot create the schema: {e}")))?;
    let target = sqlite_tables(&mut tx).await?;
    let plan = plan(snapshot, &target)?;
    for t in plan.iter().rev() {
        sqlx::query(AssertSqlSafe(format!("DELETE FROM {}", quote(&t.target.name)))).execute(&mut *tx).await.map_err(db)?;
    }
    let mut rows = 0u64;
    for t in &plan {
        let sql = insert_sql(t, "");
        for row in &t.data.rows {
            let mut q = sqlx::query(AssertSqlSafe(sql.clone()));
            for (src, col) in &t.columns {
                let v = row.get(*src).ok_or_else(|| value_error(t, "a row has too few values"))?;
                q = bind_sqlite(q, col.ty, v).map_err(|e| value_error(t, &format!("column `{}`: {e}", col.name)))?;
            }
            q.execute(&mut *tx).await.map_err(|e| value_error(t, &e.to_string()))?;
            rows += 1;
        }
    }
    // Migrations newer than the backup, applied to its rows.
    migrator(BackendKind::Sqlite)
        .run_direct(None, &mut *tx, false)
        .await
        .map_err(|e| SnapshotError::Database(format!("cannot bring the restored schema up to date: {e}")))?;
    let log = read_log_sqlite(&mut tx).await?;
    before_commit(log).map_err(SnapshotError::Check)?;
    tx.commit().await.map_err(db)?;
    Ok(rows)
}

/// One table to restore: the snapshot's rows and, for each target column,
/// the index of its value in a snapshot row.
struct TablePlan<'a> {
    target: &'a TableInfo,
    data: &'a TableData,
    columns: Vec<(usize, &'a Column)>,
}

fn value_error(t: &TablePlan<'_>, reason: &str) -> SnapshotError {
    SnapshotError::Value { table: t.target.name.clone(), reason: reason.to_string() }
}

/// Match the snapshot's tables and columns to the target's, by name: the
/// same tables, each with the same columns, or an error naming the difference.
fn plan<'a>(snapshot: &'a DatabaseSnapshot, target: &'a [TableInfo]) -> Result<Vec<TablePlan<'a>>, SnapshotError> {
    let theirs: BTreeMap<&str, &TableData> = snapshot.tables.iter().map(|t| (t.info.name.as_str(), t)).collect();
    if theirs.len() != snapshot.tables.len() {
        return Err(SnapshotError::SchemaMismatch("the backup holds a table twice".into()));
    }
    if let Some(extra) = theirs.keys().find(|n| !target.iter().any(|t| t.name == **n)) {
        return Err(SnapshotError::SchemaMismatch(format!("the backup has table `{extra}`, which this schema does not")));
    }
    let mut plans = Vec::new();
    for t in target {
        let data =
            theirs.get(t.name.as_str()).ok_or_else(|| SnapshotError::SchemaMismatch(format!("the backup has no table `{}`", t.name)))?;
        let mut columns = Vec::new();
        for col in &t.columns {
            let src =
                data.info.columns.iter().position(|c| c.name == col.name).ok_or_else(|| {
                    SnapshotError::SchemaMismatch(format!("the backup's table `{}` has no column `{}`", t.name, col.name))
                })?;
            columns.push((src, col));
        }
        if let Some(extra) = data.info.columns.iter().find(|c| !t.columns.iter().any(|x| x.name == c.name)) {
            return Err(SnapshotError::SchemaMismatch(format!(
                "the backup's table `{}` has column `{}`, which this schema does not",
                t.name, extra.name
            )));
        }
        plans.push(TablePlan { target: t, data, columns });
    }
    Ok(plans)
}

fn insert_sql(t: &TablePlan<'_>, overriding: &str) -> String {
    let names: Vec<String> = t.columns.iter().map(|(_, c)| quote(&c.name)).collect();
    let params: Vec<String> = (1..=names.len()).map(|i| format!("${i}")).collect();
    format!("INSERT INTO {} ({}){overriding} VALUES ({})", quote(&t.target.name), names.join(", "), params.join(", "))
}

fn as_int(v: &Value) -> Result<Option<i64>, String> {
    match v {
        Value::Null => Ok(None),
        Value::Int(i) => Ok(Some(*i)),
        Value::Bool(b) => Ok(Some(i64::from(*b))),
        other => Err(format!("expected an integer, found {}", kind(other))),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Int(_) => "an integer",
        Value::Float(_) => "a number",
        Value::Text(_) => "text",
        Value::Blob(_) => "bytes",
        Value::Bool(_) => "a boolean",
    }
}

type PgQuery<'q> = sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>;
type SqliteQuery<'q> = sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments>;

fn bind_pg<'q>(q: PgQuery<'q>, ty: ColumnType, v: &Value) -> Result<PgQuery<'q>, String> {
    let narrow = |i: Option<i64>, what: &str| -> Result<Option<i64>, String> {
        match i {
            Some(x) if (ty == ColumnType::Int2 && i16::try_from(x).is_err()) || (ty == ColumnType::Int4 && i32::try_from(x).is_err()) => {
                Err(format!("{x} does not fit {what}"))
            }
            other => Ok(other),
        }
    };
    Ok(match ty {
        ColumnType::Int2 => q.bind(narrow(as_int(v)?, "smallint")?.and_then(|x| i16::try_from(x).ok())),
        ColumnType::Int4 => q.bind(narrow(as_int(v)?, "integer")?.and_then(|x| i32::try_from(x).ok())),
        ColumnType::Int8 => q.bind(as_int(v)?),
        ColumnType::Bool => q.bind(match v {
            Value::Null => None,
            Value::Bool(b) => Some(*b),
            Value::Int(0) => Some(false),
            Value::Int(1) => Some(true),
            other => return Err(format!("expected a boolean, found {}", kind(other))),
        }),
        ColumnType::Float4 | ColumnType::Float8 => q.bind(as_float(v)?),
        ColumnType::Text => q.bind(as_text(v)?),
        ColumnType::Blob => q.bind(as_blob(v)?),
    })
}

fn bind_sqlite<'q>(q: SqliteQuery<'q>, ty: ColumnType, v: &Value) -> Result<SqliteQuery<'q>, String> {
    Ok(match ty {
        ColumnType::Int2 | ColumnType::Int4 | ColumnType::Int8 | ColumnType::Bool => q.bind(as_int(v)?),
        ColumnType::Float4 | ColumnType::Float8 => q.bind(as_float(v)?),
        ColumnType::Text => q.bind(as_text(v)?),
        ColumnType::Blob => q.bind(as_blob(v)?),
    })
}

fn as_float(v: &Value) -> Result<Option<f64>, String> {
    match v {
        Value::Null => Ok(None),
        Value::Float(f) => Ok(Some(*f)),
        other => Err(format!("expected a number, found {}", kind(other))),
    }
}

fn as_text(v: &Value) -> Result<Option<String>, String> {
    match v {
        Value::Null => Ok(None),
        Value::Text(s) => Ok(Some(s.clone())),
        other => Err(format!("expected text, found {}", kind(other))),
    }
}

fn as_blob(v: &Value) -> Result<Option<Vec<u8>>, String> {
    match v {
        Value::Null => Ok(None),
        Value::Blob(b) => Ok(Some(b.clone())),
        other => Err(format!("expected bytes, found {}", kind(other))),
    }
}

const READ_ENTRIES: &str = "SELECT entry FROM events ORDER BY event_index";
const READ_LEAVES: &str = "SELECT hash FROM log_nodes WHERE level = 0 ORDER BY node_index";
const READ_CHECKPOINTS: &str = "SELECT note FROM log_checkpoints ORDER BY tree_size";

fn leaf_hashes(raw: Vec<Vec<u8>>) -> Result<Vec<[u8; 32]>, SnapshotError> {
    raw.into_iter()
        .enumerate()
        .map(|(i, h)| <[u8; 32]>::try_from(h.as_slice()).map_err(|_| SnapshotError::Check(format!("stored leaf hash {i} is not 32 bytes"))))
        .collect()
}

async fn read_log_pg(conn: &mut sqlx::PgConnection) -> Result<LogReadBack, SnapshotError> {
    let entries = sqlx::query_scalar(READ_ENTRIES).fetch_all(&mut *conn).await.map_err(db)?;
    let leaves: Vec<Vec<u8>> = sqlx::query_scalar(READ_LEAVES).fetch_all(&mut *conn).await.map_err(db)?;
    let checkpoints = sqlx::query_scalar(READ_CHECKPOINTS).fetch_all(&mut *conn).await.map_err(db)?;
    Ok(LogReadBack { entries, leaf_hashes: leaf_hashes(leaves)?, checkpoints })
}

async fn read_log_sqlite(conn: &mut sqlx::SqliteConnection) -> Result<LogReadBack, SnapshotError> {
    let entries = sqlx::query_scalar(READ_ENTRIES).fetch_all(&mut *conn).await.map_err(db)?;
    let leaves: Vec<Vec<u8>> = sqlx::query_scalar(READ_LEAVES).fetch_all(&mut *conn).await.map_err(db)?;
    let checkpoints = sqlx::query_scalar(READ_CHECKPOINTS).fetch_all(&mut *conn).await.map_err(db)?;
    Ok(LogReadBack { entries, leaf_hashes: leaf_hashes(leaves)?, checkpoints })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn t(name: &str) -> TableInfo {
        TableInfo { name: name.into(), columns: vec![] }
    }

    #[test]
    fn parents_come_first_and_cycles_are_named() {
        let edges = vec![("credentials".to_string(), "requests".to_string()), ("requests".to_string(), "subjects".to_string())];
        let order = parents_first(vec![t("credentials"), t("requests"), t("subjects"), t("events")], &edges).unwrap();
        let names: Vec<&str> = order.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["events", "subjects", "requests", "credentials"]);
        let cycle = vec![("a".to_string(), "b".to_string()), ("b".to_string(), "a".to_string())];
        let e = parents_first(vec![t("a"), t("b")], &cycle).unwrap_err();
        assert!(e.to_string().contains("`a`, `b`"), "{e}");
    }

    #[test]
    fn locations_parse_like_open_store() {
        assert_eq!(Location::parse("sqlite:///x/y.db").unwrap(), Location::Sqlite("/x/y.db".into()));
        assert_eq!(Location::parse("y.db").unwrap(), Location::Sqlite("y.db".into()));
        assert!(matches!(Location::parse("postgres://u@h/d").unwrap(), Location::Postgres(_)));
        assert!(Location::parse(":memory:").is_err());
    }
}
