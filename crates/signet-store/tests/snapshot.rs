//! Snapshots read every table the catalog has, including one a later
//! migration adds, and refuse a column type they cannot carry.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use signet_store::SqliteStore;
use signet_store::snapshot::{ColumnType, Location, SnapshotReader, Value};

#[tokio::test]
async fn a_table_added_later_is_carried_and_an_unknown_type_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signet.db");
    let _store = SqliteStore::open(&path).await.unwrap();
    let raw = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    // What another engineer's migration might add: a table this code has never heard of.
    sqlx::query(
        "CREATE TABLE badges (id TEXT NOT NULL PRIMARY KEY, subject_id TEXT REFERENCES subjects (id), level INTEGER NOT NULL) STRICT",
    )
    .execute(&raw)
    .await
    .unwrap();
    sqlx::query("INSERT INTO badges (id, subject_id, level) VALUES ('op_1', NULL, 3)").execute(&raw).await.unwrap();

    let mut reader = SnapshotReader::open(&Location::Sqlite(path.clone())).await.unwrap();
    // Every migration shipped is reported, the latest last.
    let shipped = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite")).unwrap().count();
    assert_eq!(reader.migrations().await.unwrap().last().unwrap().version, shipped as i64);
    let tables = reader.tables().await.unwrap();
    let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    let at = |n: &str| names.iter().position(|x| *x == n).unwrap_or_else(|| panic!("no `{n}` in {names:?}"));
    assert!(at("subjects") < at("badges"), "parents first: {names:?}");
    assert!(at("requests") < at("credentials") && at("authorities") < at("credentials"), "{names:?}");
    assert!(!names.contains(&"_sqlx_migrations"));
    let operators = &tables[at("badges")];
    assert_eq!(operators.columns.iter().map(|c| c.ty).collect::<Vec<_>>(), [ColumnType::Text, ColumnType::Text, ColumnType::Int8]);
    let mut rows = Vec::new();
    reader
        .for_each_row::<()>(operators, |r| {
            rows.push(r);
            Ok(())
        })
        .await
        .map_err(|_| "read")
        .unwrap();
    assert_eq!(rows, vec![vec![Value::Text("op_1".into()), Value::Null, Value::Int(3)]]);
    let log_state = &tables[at("log_state")];
    assert_eq!(reader.count(log_state).await.unwrap(), 1);
    reader.close().await.unwrap();

    // A column type with no portable spelling fails loudly, naming it.
    sqlx::query("CREATE TABLE votes (id TEXT PRIMARY KEY, decided_at DATETIME)").execute(&raw).await.unwrap();
    let mut reader = SnapshotReader::open(&Location::Sqlite(path)).await.unwrap();
    let e = reader.tables().await.unwrap_err().to_string();
    assert!(e.contains("`votes`") && e.contains("`decided_at`") && e.contains("DATETIME"), "{e}");
}
