//! The sealed software keystore: one encrypted file per key, usable only
//! while the master key is in memory.

use super::blob;
use super::error::SealError;
use super::file::{self, ReadError, WriteError};
use super::master::MasterKey;
use super::shares::SealConfig;
use crate::keyfile;
use crate::signer::{SoftwareSigner, generate_pkcs8};
use crate::validate_key_ref;
use signet_core::ports::{AuthoritySigner, KeyError, KeyStore};
use signet_model::profile::KeyAlgorithm;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use zeroize::Zeroizing;

/// Upper bound for a sealed key file (an RSA-4096 one is about 2.5 KiB).
const MAX_KEY_FILE: u64 = 16 * 1024;
/// Extension of sealed key files.
const EXTENSION: &str = "sealed";

fn sealed_error(key_ref: &str) -> KeyError {
    KeyError::Sealed(format!("keystore is sealed: cannot use key `{key_ref}` until it is unsealed (`signet unseal`)"))
}

/// One loaded private key, shared between the store (which must be able to
/// drop it on [`SealedKeyStore::seal`]) and the signer handed out.
struct KeySlot {
    key: RwLock<Option<SoftwareSigner>>,
}

/// The sealed/unsealed state. The master key's lock is held (shared) for the
/// whole of a load or generate, so `seal` waits for them and no key loaded
/// under the old state can escape being dropped.
struct Vault {
    master: RwLock<Option<MasterKey>>,
    loaded: Mutex<Vec<Weak<KeySlot>>>,
}

/// Keys as encrypted files `dir/<key_ref>.sealed` (mode 0600, directory 0700):
/// the PKCS#8 private key under a fresh AES-256-GCM data key, the data key
/// wrapped under the master key (see the `blob` module for the format).
///
/// The store starts **sealed**: `generate` and `load` fail with "keystore is
/// sealed". [`unseal`](Self::unseal) verifies a master key against the
/// [`SealConfig`] and keeps it; [`seal`](Self::seal) drops it and every
/// private key loaded through this store: signers handed out before then
/// fail from then on, even after a later unseal (load them again).
///
/// Clones share the state (seal one, all are sealed).
#[derive(Clone)]
pub struct SealedKeyStore {
    dir: PathBuf,
    config: SealConfig,
    vault: Arc<Vault>,
}

impl fmt::Debug for SealedKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedKeyStore")
            .field("dir", &self.dir)
            .field("seal_id", &self.config.seal_id_hex())
            .field("sealed", &self.is_sealed())
            .finish()
    }
}

impl SealedKeyStore {
    /// Open (creating it with mode 0700 if needed) the keystore directory of
    /// the authority described by `config`. The store starts sealed.
    pub fn open(dir: PathBuf, config: SealConfig) -> Result<Self, KeyError> {
        keyfile::prepare_dir(&dir)?;
        Ok(Self { dir, config, vault: Arc::new(Vault { master: RwLock::new(None), loaded: Mutex::new(Vec::new()) }) })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn config(&self) -> &SealConfig {
        &self.config
    }

    pub fn is_sealed(&self) -> bool {
        self.vault.master.read().unwrap_or_else(PoisonError::into_inner).is_none()
    }

    /// Verify `master` against the seal configuration and keep it. On a
    /// wrong key the store stays as it was. Unsealing an unsealed store
    /// with the right key is a no-op.
    pub fn unseal(&self, master: MasterKey) -> Result<(), SealError> {
        self.config.verify(&master)?;
        *self.vault.master.write().unwrap_or_else(PoisonError::into_inner) = Some(master);
        Ok(())
    }

    /// Drop the master key and every private key loaded through this store
    /// (their memory is zeroed as it is freed). Waits for loads and signatures
    /// in progress.
    pub fn seal(&self) {
        let mut master = self.vault.master.write().unwrap_or_else(PoisonError::into_inner);
        *master = None;
        let mut loaded = self.vault.loaded.lock().unwrap_or_else(PoisonError::into_inner);
        for slot in loaded.drain(..).filter_map(|w| w.upgrade()) {
            *slot.key.write().unwrap_or_else(PoisonError::into_inner) = None;
        }
    }

    fn path_for(&self, key_ref: &str) -> PathBuf {
        self.dir.join(format!("{key_ref}.{EXTENSION}"))
    }

    /// Put a decrypted key behind a slot the store can empty on `seal`.
    /// Called with the master lock held (shared).
    fn hand_out(&self, key_ref: &str, signer: SoftwareSigner) -> Arc<dyn AuthoritySigner> {
        let algorithm = signer.algorithm();
        let spki_der = signer.public_key_spki_der().to_vec();
        let slot = Arc::new(KeySlot { key: RwLock::new(Some(signer)) });
        let mut loaded = self.vault.loaded.lock().unwrap_or_else(PoisonError::into_inner);
        loaded.retain(|w| w.strong_count() > 0);
        loaded.push(Arc::downgrade(&slot));
        Arc::new(SealedSigner { key_ref: key_ref.to_string(), algorithm, spki_der, slot })
    }

    /// Seal an existing PKCS#8 private key into the store (migration from the
    /// unencrypted `SoftwareKeyStore`, or an imported authority key). Refuses
    /// to overwrite. The caller zeroes its copy of `pkcs8`.
    pub fn import_pkcs8(&self, key_ref: &str, pkcs8: &[u8]) -> Result<Arc<dyn AuthoritySigner>, KeyError> {
        validate_key_ref(key_ref)?;
        let signer = SoftwareSigner::from_pkcs8(pkcs8)?;
        self.store_new(key_ref, signer.algorithm(), pkcs8, signer)
    }

    /// Encrypt and write a new key, then hand out its signer.
    fn store_new(
        &self,
        key_ref: &str,
        algorithm: KeyAlgorithm,
        pkcs8: &[u8],
        signer: SoftwareSigner,
    ) -> Result<Arc<dyn AuthoritySigner>, KeyError> {
        let guard = self.vault.master.read().unwrap_or_else(PoisonError::into_inner);
        let master = guard.as_ref().ok_or_else(|| sealed_error(key_ref))?;
        if keyfile::exists(&self.dir, key_ref) {
            // An unencrypted key of the same name: refuse to shadow it.
            return Err(KeyError::Exists(key_ref.to_string()));
        }
        let sealed = blob::seal(master, key_ref, algorithm, pkcs8)?;
        file::write_new_private(&self.path_for(key_ref), &sealed).map_err(|e| match e {
            WriteError::Exists => KeyError::Exists(key_ref.to_string()),
            WriteError::Io(why) => KeyError::Backend(format!("cannot write the sealed key file for `{key_ref}`: {why}")),
        })?;
        Ok(self.hand_out(key_ref, signer))
    }
}

impl KeyStore for SealedKeyStore {
    fn generate(&self, key_ref: &str, algorithm: KeyAlgorithm) -> Result<Arc<dyn AuthoritySigner>, KeyError> {
        validate_key_ref(key_ref)?;
        // Cheap early refusals; the write is the authoritative no-overwrite check.
        if self.is_sealed() {
            return Err(sealed_error(key_ref));
        }
        if file::exists(&self.path_for(key_ref)) {
            return Err(KeyError::Exists(key_ref.to_string()));
        }
        // Key generation (seconds for RSA-4096) runs without holding the lock.
        let pkcs8 = Zeroizing::new(generate_pkcs8(algorithm)?);
        let signer = SoftwareSigner::from_pkcs8(&pkcs8)?;
        if signer.algorithm() != algorithm {
            return Err(KeyError::Backend(format!("generated a {} key for a {algorithm} request", signer.algorithm())));
        }
        self.store_new(key_ref, algorithm, &pkcs8, signer)
    }

    fn load(&self, key_ref: &str) -> Result<Arc<dyn AuthoritySigner>, KeyError> {
        validate_key_ref(key_ref)?;
        let guard = self.vault.master.read().unwrap_or_else(PoisonError::into_inner);
        let master = guard.as_ref().ok_or_else(|| sealed_error(key_ref))?;
        let sealed = file::read_private(&self.path_for(key_ref), MAX_KEY_FILE).map_err(|e| match e {
            ReadError::NotFound if keyfile::exists(&self.dir, key_ref) => KeyError::Backend(format!(
                "key `{key_ref}` is stored unencrypted (`{key_ref}.p8`); the sealed keystore does not load plaintext keys: import it"
            )),
            ReadError::NotFound => KeyError::NotFound(key_ref.to_string()),
            ReadError::Refused(why) => KeyError::Backend(format!("sealed key file for `{key_ref}` refused: {why}")),
            ReadError::Io(why) => KeyError::Backend(format!("sealed key file for `{key_ref}`: {why}")),
        })?;
        let (algorithm, pkcs8) = blob::open(master, key_ref, &sealed)?;
        let signer = SoftwareSigner::from_pkcs8(&pkcs8)
            .map_err(|_| KeyError::Backend(format!("sealed key `{key_ref}` decrypted to something that is not a supported private key")))?;
        drop(pkcs8);
        if signer.algorithm() != algorithm {
            return Err(KeyError::Backend(format!(
                "sealed key `{key_ref}` is labelled {algorithm} but holds a {} key; refusing it",
                signer.algorithm()
            )));
        }
        Ok(self.hand_out(key_ref, signer))
    }

    /// Destroys the sealed key file. Works while sealed: deleting needs no
    /// master key. Signers already handed out keep their in-memory copy
    /// until they are dropped or the keystore is sealed.
    fn destroy(&self, key_ref: &str) -> Result<(), KeyError> {
        validate_key_ref(key_ref)?;
        keyfile::destroy_file(&self.dir, &self.path_for(key_ref), key_ref)
    }
}

/// A key from the sealed keystore. Every signature checks, under a shared
/// lock, that the key is still there: after [`SealedKeyStore::seal`] it is
/// not, and signing fails with "keystore is sealed".
pub struct SealedSigner {
    key_ref: String,
    algorithm: KeyAlgorithm,
    spki_der: Vec<u8>,
    slot: Arc<KeySlot>,
}

impl fmt::Debug for SealedSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedSigner")
            .field("key_ref", &self.key_ref)
            .field("algorithm", &self.algorithm)
            .field("private_key", &"[redacted]")
            .finish()
    }
}

impl AuthoritySigner for SealedSigner {
    fn algorithm(&self) -> KeyAlgorithm {
        self.algorithm
    }

    fn public_key_spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// In memory (an RSA key excepted).
    fn may_block(&self) -> bool {
        !matches!(self.algorithm, KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384 | KeyAlgorithm::Ed25519)
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let key = self.slot.key.read().unwrap_or_else(PoisonError::into_inner);
        match key.as_ref() {
            Some(signer) => signer.sign(message),
            None => Err(KeyError::Backend(format!(
                "keystore is sealed: key `{}` was dropped from memory when the keystore was sealed; unseal and load it again",
                self.key_ref
            ))),
        }
    }
}
