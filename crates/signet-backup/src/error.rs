//! What can go wrong with a backup or a restore, one variant per cause the
//! operator has to tell apart.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// A usage mistake: a missing or unusable option.
    #[error("{0}")]
    Usage(String),
    #[error("cannot read `{}`: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write `{}`: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
    /// The file does not start like a Signet backup, or its header is malformed.
    #[error("`{}` is not a Signet backup: {reason}", path.display())]
    NotABackup { path: PathBuf, reason: String },
    /// The passphrase does not open this backup.
    #[error("wrong passphrase: it does not match the backup's key check (or the header's key parameters were altered)")]
    WrongPassphrase,
    /// A chunk does not authenticate: the file was changed.
    #[error("the backup was altered: encrypted chunk {chunk} does not authenticate")]
    Altered { chunk: u64 },
    /// The last chunk in the file is short and does not authenticate: cut
    /// inside a chunk, or changed.
    #[error("the backup is truncated or altered: its last chunk ({chunk}) does not authenticate")]
    TruncatedOrAltered { chunk: u64 },
    /// The file ends before its final chunk.
    #[error("the backup is truncated: {0}")]
    Truncated(String),
    /// The decrypted contents are not what a backup holds (a bug, or a
    /// backup written by an incompatible version).
    #[error("the backup's contents are malformed: {0}")]
    Malformed(String),
    /// The restore target already holds data.
    #[error("the target is not empty: {0}; restore only into a new data directory and an empty database")]
    NotEmpty(String),
    /// The data directory to back up is incomplete.
    #[error("the data directory `{}` {reason}", dir.display())]
    DataDir { dir: PathBuf, reason: String },
    /// The log in the backup (or restored) does not verify.
    #[error("the log does not verify: {0}")]
    Log(String),
    #[error(transparent)]
    Store(#[from] signet_store::snapshot::SnapshotError),
    #[error("cryptography failed: {0}")]
    Crypto(&'static str),
}
