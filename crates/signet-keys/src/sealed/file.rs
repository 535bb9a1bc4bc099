//! Private files: written atomically with mode 0600 and never overwritten;
//! read only if they are regular files that group and others cannot access.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use zeroize::Zeroizing;

#[derive(Debug)]
pub(super) enum WriteError {
    /// The final name is taken; nothing was written under it.
    Exists,
    Io(String),
}

#[derive(Debug)]
pub(super) enum ReadError {
    NotFound,
    /// Exists but is refused (symlink, not a file, too open, too large).
    Refused(String),
    Io(String),
}

/// Write `bytes` as a new file `path` with mode 0600. The bytes go to a
/// private temporary file in the same directory, are synced, then
/// hard-linked to the final name (the link fails if the name is taken), so
/// a crash never leaves a half-written file under the real name.
pub(super) fn write_new_private(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return Err(WriteError::Io("the file name is not valid UTF-8".into()));
    };
    let mut nonce = [0u8; 8];
    aws_lc_rs::rand::fill(&mut nonce).map_err(|_| WriteError::Io("no randomness for a temporary file name".into()))?;
    let nonce: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
    let tmp = dir.join(format!(".{name}.{nonce}.tmp"));
    let result = write_tmp_and_link(&tmp, path, bytes);
    let _ = fs::remove_file(&tmp);
    result?;
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| WriteError::Io(format!("cannot sync the directory: {e}")))
}

fn write_tmp_and_link(tmp: &Path, path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(tmp)
        .map_err(|e| WriteError::Io(format!("cannot create the file: {e}")))?;
    f.write_all(bytes).and_then(|()| f.sync_all()).map_err(|e| WriteError::Io(format!("cannot write the file: {e}")))?;
    drop(f);
    fs::hard_link(tmp, path).map_err(|e| match e.kind() {
        ErrorKind::AlreadyExists => WriteError::Exists,
        _ => WriteError::Io(format!("cannot create the file: {e}")),
    })
}

/// Does anything (even a dangling symlink) exist at `path`?
pub(super) fn exists(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

/// Read a private file of at most `max` bytes. The buffer is zeroed on drop.
pub(super) fn read_private(path: &Path, max: u64) -> Result<Zeroizing<Vec<u8>>, ReadError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return Err(ReadError::NotFound),
        Err(e) => return Err(ReadError::Io(format!("cannot read the file: {e}"))),
    };
    if !meta.file_type().is_file() {
        return Err(ReadError::Refused("it is not a regular file".into()));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(ReadError::Refused("it is accessible to group or others; expected mode 0600".into()));
    }
    let f = File::open(path).map_err(|e| ReadError::Io(format!("cannot open the file: {e}")))?;
    // Reserved up front so the buffer never reallocates (leaving copies behind).
    let mut buf = Zeroizing::new(Vec::with_capacity(usize::try_from(max).unwrap_or(0).saturating_add(1)));
    f.take(max + 1).read_to_end(&mut buf).map_err(|e| ReadError::Io(format!("cannot read the file: {e}")))?;
    if buf.len() as u64 > max {
        return Err(ReadError::Refused("it is too large".into()));
    }
    Ok(buf)
}
