//! PostgreSQL, for deployments that already run one (or run several Signets).

use crate::store::SqlStore;
use signet_core::ports::StoreError;
use sqlx::Postgres;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr;

/// The [`Store`](signet_core::ports::Store) on a PostgreSQL database.
pub type PgStore = SqlStore<Postgres>;

/// Connections in the pool.
const CONNECTIONS: u32 = 8;

impl SqlStore<Postgres> {
    /// Connect to `url` (`postgres://user@host:port/database`) and bring the
    /// schema up to date.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        // Parse first: the error must not echo the URL, which may hold a password.
        let options = PgConnectOptions::from_str(url).map_err(|e| StoreError::Backend(format!("invalid PostgreSQL URL: {e}")))?;
        Self::connect_with(options).await
    }

    /// Connect with explicit options and bring the schema up to date.
    pub async fn connect_with(options: PgConnectOptions) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(CONNECTIONS)
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Backend(format!("cannot connect to PostgreSQL: {e}")))?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Backend(format!("cannot migrate the PostgreSQL database: {e}")))?;
        Ok(Self { writer: pool.clone(), reader: pool })
    }
}
