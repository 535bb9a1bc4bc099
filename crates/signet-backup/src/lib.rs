//! Backups of a Signet authority: a consistent, encrypted snapshot of the
//! store and the keystore files (`signet backup`), and a restore that
//! writes everything or nothing (`signet restore`).
//!
//! ```text
//!  backup:  SnapshotReader (one read transaction) ──rows──▶ PayloadWriter ──▶ Sealer ──▶ OUT.partial ──link──▶ OUT
//!           data directory files (keys/*, seal.json, log.pub, ca.pem) ─┘     (AES-256-GCM chunks,
//!                                                                              PBKDF2 passphrase key)
//!  restore: container::open (every chunk authenticated) ─▶ payload::parse ─▶ verify the log (signet-log)
//!           ─▶ stage files ─▶ snapshot::restore (one transaction; the log verified again before commit) ─▶ files in place
//! ```
//!
//! - [`container`]: the file format and its encryption.
//! - [`payload`]: the records inside (tables, rows, files).
//! - [`datadir`]: which files are carried, and how they are put back.
//! - [`backup`] and [`restore`]: the two commands.
//!
//! The tables come from the database's catalog
//! ([`signet_store::snapshot`]), so a table that a later migration adds is
//! carried without a change here.

pub mod backup;
pub mod container;
pub mod datadir;
mod error;
pub mod passphrase;
pub mod payload;
pub mod restore;

pub use backup::{BackupOptions, BackupSummary, create_backup};
pub use error::BackupError;
pub use passphrase::Passphrase;
pub use restore::{LogSummary, RestoreOptions, RestoreSummary, restore, verify_only};
