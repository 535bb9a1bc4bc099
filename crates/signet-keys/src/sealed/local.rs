//! The local unseal key file of the zero-configuration quick start.
//!
//! **For a single trusted machine only.** The file holds the master key
//! itself, so anyone who can read it (root, backups, a copied disk) can
//! decrypt every authority key: the keys are encrypted at rest, but the key
//! to them sits beside them. Production authorities use `signet init` with
//! shares instead. The file is `signet-unseal-key-1:<base64url key>\n`,
//! mode 0600, never overwritten, and refused if group or others can read it.

use super::error::SealError;
use super::file::{self, ReadError, WriteError};
use super::master::{MASTER_KEY_LEN, MasterKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::path::Path;
use zeroize::Zeroizing;

const PREFIX: &str = "signet-unseal-key-1:";
const MAX_FILE: u64 = 256;

/// The startup warning to log when the server auto-unseals from a local key file.
pub const LOCAL_UNSEAL_WARNING: &str = "the keystore was unsealed automatically from a local unseal key file: \
     anyone who can read that file can decrypt every authority key. This is meant for a single trusted machine, \
     not for production: for production, run `signet init` on a new data directory (Shamir shares held by separate people) \
     and `signet unseal` after every start";

/// Write the master key to a new local unseal key file (mode 0600). Refuses
/// to overwrite an existing file. See the module documentation: for a single
/// trusted machine only.
pub fn write_local_unseal_key(path: &Path, master: &MasterKey) -> Result<(), SealError> {
    let text = Zeroizing::new(format!("{PREFIX}{}\n", URL_SAFE_NO_PAD.encode(master.expose_bytes())));
    file::write_new_private(path, text.as_bytes()).map_err(|e| match e {
        WriteError::Exists => SealError::LocalKey(format!("`{}` already exists; refusing to overwrite it", path.display())),
        WriteError::Io(why) => SealError::LocalKey(format!("`{}`: {why}", path.display())),
    })
}

/// Read the master key from a local unseal key file. The key is only a
/// candidate: unsealing verifies it against the seal configuration.
pub fn read_local_unseal_key(path: &Path) -> Result<MasterKey, SealError> {
    let err = |why: &str| SealError::LocalKey(format!("`{}`: {why}", path.display()));
    let bytes = file::read_private(path, MAX_FILE).map_err(|e| match e {
        ReadError::NotFound => err("not found"),
        ReadError::Refused(why) | ReadError::Io(why) => err(&why),
    })?;
    let text = std::str::from_utf8(&bytes).map_err(|_| err("not a local unseal key file"))?;
    let encoded = text.trim_end().strip_prefix(PREFIX).ok_or_else(|| err("not a local unseal key file"))?;
    let key = Zeroizing::new(URL_SAFE_NO_PAD.decode(encoded).map_err(|_| err("the key is not base64url"))?);
    if key.len() != MASTER_KEY_LEN {
        return Err(err("the key has the wrong length"));
    }
    MasterKey::from_slice(&key).ok_or_else(|| err("the key has the wrong length"))
}
