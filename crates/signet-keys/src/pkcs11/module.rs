//! The process-wide registry of loaded PKCS#11 modules. A module is loaded and
//! `C_Initialize`d once per process (initialising it twice, or in parallel,
//! has crashed SoftHSM), and never finalised: keystores come and go, the
//! module stays.
//!
//! The registry also remembers, per token, a digest of the PIN this process
//! logged in with: login is per process in PKCS#11, so a second login while
//! the first is live reports "already logged in" without checking the PIN,
//! and the digest is what lets a second keystore with a wrong PIN be refused.

use super::Pkcs11Error;
use aws_lc_rs::digest::{SHA256, digest};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error, RvError};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};

struct Module {
    context: Pkcs11,
    /// slot id → SHA-256 of the PIN this process logged in with.
    logins: HashMap<u64, [u8; 32]>,
}

fn registry() -> MutexGuard<'static, HashMap<PathBuf, Module>> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Module>>> = OnceLock::new();
    // A panic while holding the lock cannot leave the map inconsistent (each
    // insert is one step), so a poisoned lock is taken over.
    MODULES.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner())
}

/// The initialised context of the module at `path` (loaded on first use).
pub(super) fn context(path: &Path) -> Result<Pkcs11, Pkcs11Error> {
    if !path.exists() {
        return Err(Pkcs11Error::ModuleNotFound(path.to_path_buf()));
    }
    let key = path.canonicalize().map_err(|e| Pkcs11Error::ModuleLoad { path: path.to_path_buf(), reason: e.to_string() })?;
    let mut modules = registry();
    if let Some(m) = modules.get(&key) {
        return Ok(m.context.clone());
    }
    let load_error = |e: Error| Pkcs11Error::ModuleLoad { path: path.to_path_buf(), reason: e.to_string() };
    let context = Pkcs11::new(&key).map_err(load_error)?;
    match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        // Initialised by someone else in this process: usable all the same.
        Ok(()) | Err(Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(load_error(e)),
    }
    modules.insert(key, Module { context: context.clone(), logins: HashMap::new() });
    Ok(context)
}

fn pin_digest(pin: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, pin.as_bytes()).as_ref());
    out
}

/// Record that this process logged in to `slot` of `module` with `pin`.
pub(super) fn record_login(module: &Path, slot: u64, pin: &str) {
    if let Ok(key) = module.canonicalize()
        && let Some(m) = registry().get_mut(&key)
    {
        m.logins.insert(slot, pin_digest(pin));
    }
}

/// Whether `pin` is the PIN this process logged in to `slot` with.
pub(super) fn same_login(module: &Path, slot: u64, pin: &str) -> bool {
    let Ok(key) = module.canonicalize() else { return false };
    let modules = registry();
    let Some(recorded) = modules.get(&key).and_then(|m| m.logins.get(&slot)) else { return false };
    aws_lc_rs::constant_time::verify_slices_are_equal(recorded, &pin_digest(pin)).is_ok()
}
