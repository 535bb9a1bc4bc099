//! Which files of the data directory a backup carries, and how a restore
//! puts them back.
//!
//! | file | carried | restored mode |
//! |---|---|---|
//! | `keys/*` (the sealed authority keys, encrypted under the master key) | always | 0600 (directory 0700) |
//! | `seal.json` (the seal configuration: public) | always | 0600 |
//! | `log.pub`, `ca.pem` (public) | always | 0644 |
//! | `unseal-key` (the local master key) | only with `--include-local-unseal-key` | 0600 |
//! | `admin-token`, `signet.db` (the SQLite store travels as rows) | never | |

use crate::error::BackupError;
use crate::payload::DataFile;
use std::io::Write;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

pub const KEYS_DIR: &str = "keys";
pub const SEAL_CONFIG: &str = "seal.json";
pub const LOG_PUB: &str = "log.pub";
pub const CA_PEM: &str = "ca.pem";
pub const UNSEAL_KEY: &str = "unseal-key";
/// The embedded store's file, when no database URL is given.
pub const DATABASE_FILE: &str = "signet.db";
/// Where a restore writes files before moving them into place.
const STAGING: &str = ".restoring";

/// The files to carry from `dir`, read now.
pub fn collect(dir: &Path, include_unseal_key: bool) -> Result<Vec<DataFile>, BackupError> {
    let missing =
        |what: &str| BackupError::DataDir { dir: dir.to_path_buf(), reason: format!("has no {what}: is it a Signet data directory?") };
    let read = |name: &str| -> Result<DataFile, BackupError> {
        let path = dir.join(name);
        let data = std::fs::read(&path).map_err(|source| BackupError::Read { path, source })?;
        Ok(DataFile { path: name.to_string(), data: Zeroizing::new(data) })
    };
    let mut files = Vec::new();
    for name in [SEAL_CONFIG, LOG_PUB, CA_PEM] {
        if !dir.join(name).is_file() {
            return Err(missing(&format!("`{name}`")));
        }
        files.push(read(name)?);
    }
    let keys = dir.join(KEYS_DIR);
    let listing = std::fs::read_dir(&keys).map_err(|_| missing("`keys/` directory"))?;
    let mut names = Vec::new();
    for item in listing {
        let item = item.map_err(|source| BackupError::Read { path: keys.clone(), source })?;
        if item.file_type().map_err(|source| BackupError::Read { path: item.path(), source })?.is_file() {
            let name = item.file_name().into_string().map_err(|n| BackupError::DataDir {
                dir: dir.to_path_buf(),
                reason: format!("holds a key file whose name is not UTF-8: `{}`", n.to_string_lossy()),
            })?;
            names.push(name);
        }
    }
    names.sort();
    for name in names {
        files.push(read(&format!("{KEYS_DIR}/{name}"))?);
    }
    if include_unseal_key {
        if !dir.join(UNSEAL_KEY).is_file() {
            return Err(missing("`unseal-key` (asked for by --include-local-unseal-key)"));
        }
        files.push(read(UNSEAL_KEY)?);
    }
    Ok(files)
}

/// A restore writes only the files a backup may carry: refuse anything
/// else (an absolute path, `..`, a name not ours).
pub fn check_path(path: &str) -> Result<(), BackupError> {
    let ok = match path.split_once('/') {
        None => [SEAL_CONFIG, LOG_PUB, CA_PEM, UNSEAL_KEY].contains(&path),
        Some((KEYS_DIR, name)) => !name.is_empty() && !name.starts_with('.') && !name.contains(['/', '\\', '\0']),
        Some(_) => false,
    };
    if ok { Ok(()) } else { Err(BackupError::Malformed(format!("it names a file `{path}` that a backup does not carry"))) }
}

fn is_public(path: &str) -> bool {
    path == LOG_PUB || path == CA_PEM
}

/// Refuse a target data directory that exists and holds anything.
pub fn check_empty(dir: &Path) -> Result<(), BackupError> {
    match std::fs::read_dir(dir) {
        Ok(mut listing) => match listing.next() {
            None => Ok(()),
            Some(item) => {
                let name = item.map(|i| i.file_name().to_string_lossy().into_owned()).unwrap_or_default();
                Err(BackupError::NotEmpty(format!("the data directory `{}` holds `{name}`", dir.display())))
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
            Err(BackupError::NotEmpty(format!("`{}` is a file, not a data directory", dir.display())))
        }
        Err(source) => Err(BackupError::Read { path: dir.to_path_buf(), source }),
    }
}

/// A directory only we can read (0700).
pub fn private_dir(dir: &Path) -> Result<(), BackupError> {
    let w = |source| BackupError::Write { path: dir.to_path_buf(), source };
    std::fs::create_dir_all(dir).map_err(w)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(w)?;
    }
    Ok(())
}

/// Create `path` (never replacing a file) with `mode`, write and sync it.
pub fn write_new(path: &Path, data: &[u8], mode: u32) -> Result<std::fs::File, BackupError> {
    let w = |source| BackupError::Write { path: path.to_path_buf(), source };
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = opts.open(path).map_err(w)?;
    f.write_all(data).map_err(w)?;
    f.sync_all().map_err(w)?;
    Ok(f)
}

/// Files written to a staging directory inside the data directory, moved
/// into place only by [`Staged::commit`]; whatever was written is removed
/// by [`Staged::undo`].
pub struct Staged {
    dir: PathBuf,
    files: Vec<String>,
    moved: Vec<PathBuf>,
}

impl Staged {
    pub fn write(dir: &Path, files: &[DataFile]) -> Result<Self, BackupError> {
        let staging = dir.join(STAGING);
        let mut staged = Self { dir: dir.to_path_buf(), files: Vec::new(), moved: Vec::new() };
        let result = (|| {
            private_dir(&staging)?;
            private_dir(&staging.join(KEYS_DIR))?;
            for f in files {
                check_path(&f.path)?;
                let mode = if is_public(&f.path) { 0o644 } else { 0o600 };
                write_new(&staging.join(&f.path), &f.data, mode)?;
                staged.files.push(f.path.clone());
            }
            Ok(())
        })();
        match result {
            Ok(()) => Ok(staged),
            Err(e) => {
                staged.undo();
                Err(e)
            }
        }
    }

    /// The staged copy of `path`.
    pub fn read(&self, path: &str) -> Option<Vec<u8>> {
        std::fs::read(self.dir.join(STAGING).join(path)).ok()
    }

    /// Move every staged file into the data directory (renames within one
    /// file system; a file already there is never replaced).
    pub fn commit(&mut self) -> Result<(), BackupError> {
        let staging = self.dir.join(STAGING);
        private_dir(&self.dir.join(KEYS_DIR))?;
        self.moved.push(self.dir.join(KEYS_DIR));
        for name in &self.files {
            let to = self.dir.join(name);
            // A hard link fails if `to` exists, where a rename would replace it.
            std::fs::hard_link(staging.join(name), &to).map_err(|source| BackupError::Write { path: to.clone(), source })?;
            self.moved.push(to);
        }
        let _ = std::fs::remove_dir_all(&staging);
        Ok(())
    }

    /// Remove what was staged or moved.
    pub fn undo(&mut self) {
        for p in self.moved.drain(..).rev() {
            if p.is_dir() {
                let _ = std::fs::remove_dir_all(&p);
            } else {
                let _ = std::fs::remove_file(&p);
            }
        }
        let _ = std::fs::remove_dir_all(self.dir.join(STAGING));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn only_our_file_names_are_restored() {
        for ok in ["seal.json", "log.pub", "ca.pem", "unseal-key", "keys/root-1.sealed"] {
            check_path(ok).unwrap();
        }
        for bad in ["../x", "/etc/passwd", "keys/../x", "keys/a/b", "keys/", "keys/.hidden", "admin-token", "signet.db", "other/x"] {
            assert!(check_path(bad).is_err(), "{bad}");
        }
    }
}
