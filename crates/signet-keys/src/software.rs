//! The software keystore: one PKCS#8 file per key in a private directory.

use crate::keyfile;
use crate::signer::{SoftwareSigner, generate_pkcs8};
use signet_core::ports::{AuthoritySigner, KeyError, KeyStore};
use signet_model::names::shorten;
use signet_model::profile::KeyAlgorithm;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Keys as files `dir/<key_ref>.p8` (mode 0600) in a directory of mode 0700.
/// Unencrypted for now: a later sealed keystore encrypts the files under a
/// master key (see the private `keyfile` module).
#[derive(Debug, Clone)]
pub struct SoftwareKeyStore {
    dir: PathBuf,
}

/// A key reference names a file, so it is strict: 1-64 characters of
/// lower-case letters, digits, `_` and `-` (no path separators, no dots).
pub fn validate_key_ref(key_ref: &str) -> Result<(), KeyError> {
    let ok = !key_ref.is_empty()
        && key_ref.len() <= 64
        && key_ref.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(KeyError::Backend(format!(
            "`{}` is not a valid key reference: use 1-64 lower-case letters, digits, `_` or `-`",
            shorten(key_ref)
        )))
    }
}

impl SoftwareKeyStore {
    /// Open (creating it with mode 0700 if needed) the keystore directory.
    pub fn new(dir: PathBuf) -> Result<Self, KeyError> {
        keyfile::prepare_dir(&dir)?;
        Ok(Self { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl KeyStore for SoftwareKeyStore {
    fn generate(&self, key_ref: &str, algorithm: KeyAlgorithm) -> Result<Arc<dyn AuthoritySigner>, KeyError> {
        validate_key_ref(key_ref)?;
        // Cheap early refusal; `write_new` is the authoritative no-overwrite check.
        if keyfile::exists(&self.dir, key_ref) {
            return Err(KeyError::Exists(key_ref.to_string()));
        }
        let mut pkcs8 = generate_pkcs8(algorithm)?;
        let result = keyfile::write_new(&self.dir, key_ref, &pkcs8).and_then(|()| SoftwareSigner::from_pkcs8(&pkcs8));
        pkcs8.fill(0);
        let signer = result?;
        if signer.algorithm() != algorithm {
            return Err(KeyError::Backend(format!("generated a {} key for a {algorithm} request", signer.algorithm())));
        }
        Ok(Arc::new(signer))
    }

    fn load(&self, key_ref: &str) -> Result<Arc<dyn AuthoritySigner>, KeyError> {
        validate_key_ref(key_ref)?;
        let mut pkcs8 = keyfile::read(&self.dir, key_ref)?;
        let result = SoftwareSigner::from_pkcs8(&pkcs8);
        pkcs8.fill(0);
        Ok(Arc::new(result?))
    }

    fn destroy(&self, key_ref: &str) -> Result<(), KeyError> {
        validate_key_ref(key_ref)?;
        keyfile::destroy_file(&self.dir, &keyfile::path_for(&self.dir, key_ref), key_ref)
    }
}
