//! Authority key storage: implementations of [`signet_core::ports::KeyStore`].
//!
//! ```text
//!  KeyStore::generate(key_ref, alg)            KeyStore::load(key_ref)
//!        │                                             │
//!        ▼                                             ▼
//!  aws-lc-rs keygen ─▶ PKCS#8 DER ─▶ keyfile::write_new   keyfile::read ─▶ PKCS#8 DER
//!                                   (dir/<key_ref>.p8, 0600,       │
//!                                    never overwrites)             ▼
//!                                          └──────────▶ SoftwareSigner (Arc<dyn AuthoritySigner>)
//! ```
//!
//! Where is the key used? [`SoftwareSigner`]'s `AuthoritySigner::sign`. Where
//! does key material touch the disk? Only in the private `keyfile` module,
//! the one place a later sealed (encrypted) keystore has to change.
//!
//! Private key bytes never appear in `Debug` output or in errors.

mod keyfile;
pub mod pkcs11;
pub mod sealed;
mod signer;
mod software;

pub use signer::SoftwareSigner;
pub use software::{SoftwareKeyStore, validate_key_ref};
