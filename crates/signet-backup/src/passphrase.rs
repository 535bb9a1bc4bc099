//! The backup passphrase: a secret, never printed, zeroed on drop.

use crate::error::BackupError;
use std::fmt;
use std::path::Path;
use zeroize::Zeroizing;

/// The environment variable `signet backup` and `signet restore` read the passphrase from.
pub const PASSPHRASE_ENV: &str = "SIGNET_BACKUP_PASSPHRASE";
/// A new backup's passphrase has at least this many bytes.
pub const MIN_NEW_PASSPHRASE_LEN: usize = 12;

pub struct Passphrase(Zeroizing<Vec<u8>>);

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase([redacted])")
    }
}

impl Passphrase {
    /// Any non-empty byte string.
    pub fn new(bytes: Vec<u8>) -> Result<Self, BackupError> {
        let bytes = Zeroizing::new(bytes);
        if bytes.is_empty() {
            return Err(BackupError::Usage("the backup passphrase is empty".into()));
        }
        Ok(Self(bytes))
    }

    /// From a file's contents, less one trailing newline (`\n` or `\r\n`).
    pub fn from_file(path: &Path) -> Result<Self, BackupError> {
        let mut bytes =
            std::fs::read(path).map_err(|e| BackupError::Usage(format!("--passphrase-file: cannot read `{}`: {e}", path.display())))?;
        if bytes.last() == Some(&b'\n') {
            bytes.pop();
            if bytes.last() == Some(&b'\r') {
                bytes.pop();
            }
        }
        Self::new(bytes)
    }

    /// `--passphrase-file` if given, else `SIGNET_BACKUP_PASSPHRASE`.
    pub fn from_file_or_env(file: Option<&Path>) -> Result<Self, BackupError> {
        match file {
            Some(path) => Self::from_file(path),
            None => match std::env::var_os(PASSPHRASE_ENV) {
                Some(v) => Self::new(v.into_encoded_bytes()),
                None => Err(BackupError::Usage(format!("no passphrase: give --passphrase-file or set {PASSPHRASE_ENV}"))),
            },
        }
    }

    /// Refuse a passphrase too short to protect a new backup.
    pub fn check_strength(&self) -> Result<(), BackupError> {
        if self.0.len() < MIN_NEW_PASSPHRASE_LEN {
            return Err(BackupError::Usage(format!(
                "the backup passphrase is too short: use at least {MIN_NEW_PASSPHRASE_LEN} characters"
            )));
        }
        Ok(())
    }

    pub(crate) fn expose(&self) -> &[u8] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn debug_is_redacted_and_files_lose_one_newline() {
        let p = Passphrase::new(b"hunter2hunter2".to_vec()).unwrap();
        assert_eq!(format!("{p:?}"), "Passphrase([redacted])");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("p"), "a passphrase here\r\n").unwrap();
        assert_eq!(Passphrase::from_file(&dir.path().join("p")).unwrap().expose(), b"a passphrase here");
        std::fs::write(dir.path().join("e"), "\n").unwrap();
        assert!(Passphrase::from_file(&dir.path().join("e")).is_err());
        assert!(Passphrase::new(b"short".to_vec()).unwrap().check_strength().is_err());
    }
}
