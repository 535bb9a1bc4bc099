//! The only code that reads or writes key material on disk.
//!
//! A key file is `dir/<key_ref>.p8`, mode 0600, holding the key's PKCS#8 DER.
//! A sealed keystore will encrypt in [`write_new`] and decrypt in [`read`]
//! (AES-256-GCM under the unsealed master key, AAD = the key ref); nothing
//! else needs to change.

use signet_core::ports::KeyError;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Upper bound for a key file (an RSA-4096 PKCS#8 is about 2.4 KiB).
const MAX_KEY_FILE: u64 = 16 * 1024;

fn io_err(what: &str, e: std::io::Error) -> KeyError {
    KeyError::Backend(format!("{what}: {e}"))
}

/// Create the keystore directory (mode 0700) if needed, and make sure an
/// existing one is a directory readable by its owner only.
pub(crate) fn prepare_dir(dir: &Path) -> Result<(), KeyError> {
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| io_err("cannot create the keystore directory", e))?;
    let meta = fs::metadata(dir).map_err(|e| io_err("cannot read the keystore directory", e))?;
    if !meta.is_dir() {
        return Err(KeyError::Backend("the keystore path is not a directory".into()));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| io_err("cannot restrict the keystore directory to mode 0700", e))?;
    }
    Ok(())
}

pub(crate) fn path_for(dir: &Path, key_ref: &str) -> PathBuf {
    dir.join(format!("{key_ref}.p8"))
}

pub(crate) fn exists(dir: &Path, key_ref: &str) -> bool {
    fs::symlink_metadata(path_for(dir, key_ref)).is_ok()
}

/// Write a new key file; never overwrites. The bytes go to a private
/// temporary file first, which is then hard-linked to its final name (the
/// link fails if the name is taken), so a crash never leaves a half-written
/// key under the real name.
pub(crate) fn write_new(dir: &Path, key_ref: &str, pkcs8: &[u8]) -> Result<(), KeyError> {
    let mut nonce = [0u8; 8];
    aws_lc_rs::rand::fill(&mut nonce).map_err(|_| KeyError::Backend("no randomness for a temporary file name".into()))?;
    let nonce: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
    let tmp = dir.join(format!(".{key_ref}.{nonce}.tmp"));
    let result = write_tmp_and_link(&tmp, &path_for(dir, key_ref), key_ref, pkcs8);
    let _ = fs::remove_file(&tmp);
    result?;
    // Make the new directory entry durable.
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io_err("cannot sync the keystore directory", e))
}

fn write_tmp_and_link(tmp: &Path, path: &Path, key_ref: &str, pkcs8: &[u8]) -> Result<(), KeyError> {
    let mut f =
        OpenOptions::new().write(true).create_new(true).mode(0o600).open(tmp).map_err(|e| io_err("cannot create the key file", e))?;
    f.write_all(pkcs8).and_then(|()| f.sync_all()).map_err(|e| io_err("cannot write the key file", e))?;
    drop(f);
    fs::hard_link(tmp, path).map_err(|e| match e.kind() {
        ErrorKind::AlreadyExists => KeyError::Exists(key_ref.to_string()),
        _ => io_err("cannot create the key file", e),
    })
}

/// Read a key file. Refuses symlinks, non-files and files that group or
/// others may read.
pub(crate) fn read(dir: &Path, key_ref: &str) -> Result<Vec<u8>, KeyError> {
    let path = path_for(dir, key_ref);
    let meta = match fs::symlink_metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return Err(KeyError::NotFound(key_ref.to_string())),
        Err(e) => return Err(io_err("cannot read the key file", e)),
    };
    if !meta.file_type().is_file() {
        return Err(KeyError::Backend(format!("key file for `{key_ref}` is not a regular file")));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(KeyError::Backend(format!("key file for `{key_ref}` is accessible to group or others; expected mode 0600")));
    }
    let f = File::open(&path).map_err(|e| io_err("cannot open the key file", e))?;
    let mut buf = Vec::new();
    f.take(MAX_KEY_FILE + 1).read_to_end(&mut buf).map_err(|e| io_err("cannot read the key file", e))?;
    if buf.len() as u64 > MAX_KEY_FILE {
        buf.fill(0);
        return Err(KeyError::Backend(format!("key file for `{key_ref}` is too large")));
    }
    Ok(buf)
}

/// Destroy the key file at `path` (in `dir`): refuse anything but a regular
/// file, overwrite its bytes with zeros and sync, unlink it, sync the
/// directory. The overwrite is best effort against recovery from the disk
/// (journaling and copy-on-write file systems may keep old blocks); sealed
/// key files are encrypted under the master key in any case.
pub(crate) fn destroy_file(dir: &Path, path: &Path, key_ref: &str) -> Result<(), KeyError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return Err(KeyError::NotFound(key_ref.to_string())),
        Err(e) => return Err(io_err("cannot read the key file", e)),
    };
    if !meta.file_type().is_file() {
        return Err(KeyError::Backend(format!("the key file of `{key_ref}` is not a regular file; refusing to destroy it")));
    }
    let len = usize::try_from(meta.len()).unwrap_or(usize::MAX).min(MAX_KEY_FILE as usize * 4);
    let mut f = OpenOptions::new().write(true).open(path).map_err(|e| io_err("cannot open the key file to destroy it", e))?;
    f.write_all(&vec![0u8; len]).and_then(|()| f.sync_all()).map_err(|e| io_err("cannot overwrite the key file", e))?;
    drop(f);
    fs::remove_file(path).map_err(|e| io_err("cannot remove the key file", e))?;
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io_err("cannot sync the keystore directory", e))
}
