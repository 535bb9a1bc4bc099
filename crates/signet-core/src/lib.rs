//! Signet's core: the issuance pipeline and the ports it needs.
//!
//! ```text
//!  HTTP/CLI edge                        core (this crate)                        adapters
//!  ─────────────                        ─────────────────                        ────────
//!  parse body, CSR ──▶ authenticate ──▶ decide (pure: profile ∩ request = Grant)
//!                                     ─▶ record intent ──────────────────────▶ Store (group commit)
//!                                     ─▶ mint: build + lint, sign, verify ─────▶ X509Issuer ─▶ KeyStore
//!                                     ─▶ commit request + credential + event ─▶ Store (one transaction)
//!                                     ─▶ respond
//! ```
//!
//! Where is the decision made? [`decide::decide_x509`]. Where is the key used?
//! [`mint::X509Issuer::mint`], through [`ports::AuthoritySigner::sign`].

pub mod approvals;
pub mod authority;
pub mod cache;
pub mod clock;
pub mod commit;
pub mod decide;
pub mod error;
pub mod governance;
pub mod integrity;
pub mod listing;
pub mod log;
pub mod memory;
pub mod mint;
pub mod operator_certs;
pub mod ports;
pub mod recovery;
pub mod rollover;
pub mod server_cert;
pub mod sod;

pub use authority::Authority;
pub use error::CoreError;
