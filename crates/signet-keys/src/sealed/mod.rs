//! The sealed software keystore: authority keys encrypted at rest, usable
//! only while the master key is in memory.
//!
//! ```text
//!  signet init (n, m)                       signet unseal (one share per custodian)
//!  ─────────────────                        ───────────────────────────────────────
//!  MasterKey::generate                      Unsealer::new(&SealConfig)
//!      │ blahaj split                           │ add_share(text): parse, seal id,
//!      ├──▶ Vec<Share> (to custodians)           │   digest vs SealConfig ─▶ Progress{have, need}
//!      └──▶ SealConfig (stored, public:         ▼
//!           seal id, n, m, share digests,   Unsealer::unseal ─▶ MasterKey (checked
//!           key-check value)                    │                against the key check)
//!                                               ▼
//!                            SealedKeyStore::unseal(master)        SealedKeyStore::seal()
//!                                               │                    drops the master key
//!  KeyStore::generate / load ───────────────────┤                    and every loaded key
//!    dir/<key_ref>.sealed (0600, never overwritten):
//!      PKCS#8 ─AES-256-GCM(data key)─▶ body      data key ─AES-256-GCM(master)─▶ wrapped
//!                                               ▼
//!                                 SealedSigner (Arc<dyn AuthoritySigner>)
//!                                 checks on every sign that the store is not sealed
//! ```
//!
//! Quick start (no `signet init`): [`init_local`] + [`write_local_unseal_key`]
//! on first start, [`read_local_unseal_key`] + [`SealedKeyStore::unseal`] on
//! every start, logging [`LOCAL_UNSEAL_WARNING`]. For a single trusted
//! machine only.
//!
//! Where is the key used? [`SealedSigner`]'s `sign` (delegating to
//! [`crate::SoftwareSigner`]). Where is the key decrypted? `blob::open`, called
//! only by [`SealedKeyStore`]'s `load`. Nothing here writes a private key or
//! the master key unencrypted, except [`write_local_unseal_key`] by design.

mod blob;
mod error;
mod file;
mod local;
mod master;
mod shares;
mod store;

pub use error::SealError;
pub use local::{LOCAL_UNSEAL_WARNING, read_local_unseal_key, write_local_unseal_key};
pub use master::{MASTER_KEY_LEN, MasterKey};
pub use shares::{DEFAULT_SHARES, DEFAULT_THRESHOLD, Progress, SealConfig, Share, Unsealer, init, init_local};
pub use store::{SealedKeyStore, SealedSigner};
