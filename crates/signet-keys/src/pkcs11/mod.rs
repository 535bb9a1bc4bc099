//! The PKCS#11 keystore: authority keys that live in a token (an HSM; SoftHSM2
//! in tests) and never leave it.
//!
//! ```text
//!  Pkcs11KeyStore::open(Pkcs11Config { module, token, pin })
//!     │ module::context: load + C_Initialize once per process (registry keyed by path)
//!     │ find the token by label or slot id ─▶ open a R/W session ─▶ C_Login(user, PIN)
//!     ▼
//!  KeyStore::generate(key_ref, alg)                  KeyStore::load(key_ref)
//!     │ refuse if any object is labelled key_ref         │ find the private + public key by label
//!     │ C_GenerateKeyPair in the token:                  │ refuse unless sensitive and not extractable
//!     │   CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE,         │
//!     │   !CKA_EXTRACTABLE, CKA_SIGN                     │
//!     │ check the attributes back (else destroy, refuse) │
//!     └──────────────┬───────────────────────────────────┘
//!                    ▼
//!  public key ─▶ SubjectPublicKeyInfo (der.rs); a probe signature verified with aws-lc
//!                    ▼
//!  Pkcs11Signer (Arc<dyn AuthoritySigner>): C_Sign on a pooled read-only session
//!    ECDSA: SHA-256/384 here, CKM_ECDSA in the token, r‖s ─▶ DER
//!    Ed25519: CKM_EDDSA · RSA: CKM_SHA256_RSA_PKCS
//! ```
//!
//! Where is the key used? [`Pkcs11Signer`]'s `sign`. The private key never
//! exists outside the token; the PIN lives only in [`Pkcs11Pin`] (redacted,
//! zeroized) until the login.

mod config;
mod der;
mod error;
mod module;
mod store;

pub use config::{Pkcs11Config, Pkcs11Pin, TokenSelector};
pub use error::Pkcs11Error;
pub use store::{KeyProtection, Pkcs11KeyStore, Pkcs11Signer};
