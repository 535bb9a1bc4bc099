//! `signet recover`: break-glass for the authority itself, run on the host.
//!
//! ```text
//!  shares (or DATA/unseal-key, or the PKCS#11 PIN) ─▶ unseal the keystore ─▶ load the log key
//!    ─▶ open the store (SQLite in DATA, or PostgreSQL from the config)
//!    ─▶ signet_core::recovery::recover (reset the policy set, create an admin,
//!       every step a high-severity event) ─▶ sign a checkpoint with the log key
//! ```
//!
//! Unsealing is the proof: whoever can unseal holds the authority's keys
//! already. Nothing is written before it succeeds, so wrong shares leave the
//! data directory and the store untouched. The store is opened offline,
//! without a server: with SQLite the server should be stopped; with
//! PostgreSQL running servers pick up the policy set within
//! [`signet_core::governance::POLICY_RECHECK`] and the new admin's token at once.

use crate::bootstrap::{self, Keys, LOG_KEY_REF};
use crate::config::{KeystoreConfig, ServerConfig};
use signet_core::clock::{SystemClock, SystemRng};
use signet_core::ports::Clock;
use signet_core::recovery::{RecoveryPlan, recover};
use signet_keys::sealed::{self, SealConfig, SealedKeyStore, Unsealer};
use signet_model::credential::AuthorityRole;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zeroize::Zeroizing;

/// Why a recovery was refused or failed; one lower-case line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RecoverError(pub String);

/// What to recover, and the proof that the caller can unseal.
#[derive(Debug)]
pub struct RecoverRequest {
    /// Why (required; in every event).
    pub reason: String,
    /// Activate the built-in default policy set as a new version.
    pub reset_policy: bool,
    /// Create an admin operator of this name.
    pub new_admin: Option<String>,
    /// Where the new admin's token goes (mode 0600; must not exist yet).
    pub token_file: PathBuf,
    /// The unseal shares, for a keystore sealed with shares.
    pub shares: Vec<Zeroizing<String>>,
}

/// What a recovery did.
#[derive(Debug)]
pub struct RecoverOutcome {
    pub policy_version: Option<i64>,
    pub admin_id: Option<String>,
    pub token_file: Option<PathBuf>,
    /// The size of the checkpoint signed after the recovery's entries.
    pub checkpoint_size: Option<u64>,
    pub proof: &'static str,
}

/// How many shares unseal this data directory's keystore: `Some(m)` when it
/// is sealed with shares, `None` when it unseals without them (local unseal
/// key file, PKCS#11).
pub fn shares_needed(config: &ServerConfig) -> Result<Option<u8>, RecoverError> {
    match &config.keystore {
        KeystoreConfig::Pkcs11(_) => Ok(None),
        KeystoreConfig::Sealed => Ok(read_seal(&config.data_dir)?.share_scheme().map(|(_, m)| m)),
    }
}

fn read_seal(data_dir: &Path) -> Result<SealConfig, RecoverError> {
    let path = data_dir.join("seal.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        RecoverError(format!("`{}`: cannot read the keystore seal ({e}); is this a Signet data directory?", path.display()))
    })?;
    SealConfig::from_json(&text).map_err(|e| RecoverError(format!("`{}`: {e}", path.display())))
}

/// Unseal the configured keystore with the caller's proof. Reads only.
fn unseal(config: &ServerConfig, shares: &[Zeroizing<String>]) -> Result<(Keys, &'static str), RecoverError> {
    if let KeystoreConfig::Pkcs11(settings) = &config.keystore {
        if !shares.is_empty() {
            return Err(RecoverError("shares: the keys are in a PKCS#11 token; its PIN is the proof, no shares are needed".into()));
        }
        let keys = bootstrap::open_pkcs11_keystore(settings).map_err(|e| RecoverError(e.0))?;
        return Ok((Keys::Pkcs11(Arc::new(keys)), "pkcs11"));
    }
    let seal = read_seal(&config.data_dir)?;
    let keys = SealedKeyStore::open(config.data_dir.join("keys"), seal.clone())
        .map_err(|e| RecoverError(format!("cannot open the keystore: {e}")))?;
    if seal.uses_local_key_file() {
        if !shares.is_empty() {
            return Err(RecoverError("shares: this keystore unseals from its local unseal key file; no shares are needed".into()));
        }
        let master = sealed::read_local_unseal_key(&config.data_dir.join("unseal-key"))
            .map_err(|e| RecoverError(format!("cannot read the local unseal key: {e}")))?;
        keys.unseal(master).map_err(|e| RecoverError(format!("cannot unseal the keystore: {e}")))?;
        return Ok((Keys::Sealed(keys), "local-key-file"));
    }
    let mut unsealer = Unsealer::new(&seal).map_err(|e| RecoverError(e.to_string()))?;
    for (i, share) in shares.iter().enumerate() {
        unsealer.add_share(share).map_err(|e| RecoverError(format!("share {}: {e}; nothing was changed", i + 1)))?;
    }
    let master = unsealer.unseal().map_err(|e| RecoverError(format!("cannot unseal the keystore: {e}; nothing was changed")))?;
    keys.unseal(master).map_err(|e| RecoverError(format!("cannot unseal the keystore: {e}; nothing was changed")))?;
    Ok((Keys::Sealed(keys), "shares"))
}

/// Run a recovery (see the module documentation). Refused, with nothing
/// written, when the proof fails, the token file exists, the store is not
/// an authority's, or the plan is refused by [`recover`].
pub async fn run(config: &ServerConfig, request: RecoverRequest) -> Result<RecoverOutcome, RecoverError> {
    let (keys, proof) = unseal(config, &request.shares)?;
    // The log key decrypts: the proof holds for the keys themselves, not only the seal.
    let log_signer =
        keys.key_store().load(LOG_KEY_REF).map_err(|e| RecoverError(format!("cannot load the log key: {e}; nothing was changed")))?;
    if request.new_admin.is_some() && std::fs::symlink_metadata(&request.token_file).is_ok() {
        return Err(RecoverError(format!(
            "token_file: `{}` already exists; refusing to overwrite a token file; nothing was changed",
            request.token_file.display()
        )));
    }
    let database = match &config.database {
        Some(url) => url.clone(),
        None => {
            let path = config.data_dir.join("signet.db");
            if !path.exists() {
                return Err(RecoverError(format!("`{}` does not exist: no store to recover", path.display())));
            }
            format!("sqlite://{}", path.display())
        }
    };
    let store = signet_store::open_store(&database)
        .await
        .map_err(|e| RecoverError(format!("cannot open the store {}: {e}", bootstrap::redact_url(&database))))?;
    let authorities = store.list_authorities().await.map_err(|e| RecoverError(format!("cannot read the authorities: {e}")))?;
    let root = authorities
        .iter()
        .find(|a| a.role == AuthorityRole::Root && a.is_active())
        .ok_or_else(|| RecoverError("the store has no active root CA: nothing to recover (start the server first)".into()))?;
    let log_key = signet_core::log::LogKey::new(log_signer, &bootstrap::log_origin(&root.id))
        .map_err(|e| RecoverError(format!("the log key: {e}")))?;

    let plan = RecoveryPlan {
        reason: request.reason.clone(),
        reset_policy: request.reset_policy,
        new_admin: request.new_admin.clone(),
        proof: proof.to_string(),
    };
    let token_file = request.token_file.clone();
    let recovered = recover(store.as_ref(), &SystemClock, &SystemRng, &plan, |secret| {
        bootstrap::write_private(&token_file, format!("{secret}\n").as_bytes()).map_err(|e| signet_core::CoreError::Internal(e.0))
    })
    .await
    .map_err(|e| match e {
        signet_core::CoreError::Internal(detail) => RecoverError(format!("the recovery failed: {detail}")),
        other => RecoverError(other.to_string()),
    })?;
    // Cover the recovery's entries with a checkpoint now: with the server
    // stopped nobody else would sign one until it starts.
    let checkpoint = signet_core::log::grow_tree(store.as_ref(), &log_key, SystemClock.now())
        .await
        .map_err(|e| RecoverError(format!("the recovery is done, but no checkpoint was signed: {e}")))?;
    keys.seal();
    Ok(RecoverOutcome {
        policy_version: recovered.policy_version,
        admin_id: recovered.admin.as_ref().map(|(op, _)| op.id.to_string()),
        token_file: recovered.admin.as_ref().map(|_| request.token_file.clone()),
        checkpoint_size: checkpoint.map(|c| c.tree_size),
        proof,
    })
}
