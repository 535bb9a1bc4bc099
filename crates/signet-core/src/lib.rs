//! Signet's core: the issuance pipeline and the ports it needs.
//!
//! ```text
//!  HTTP/CLI edge                        core (this crate)                        adapters
//!  ─────────────                        ─────────────────                        ────────
//!  parse body ──▶ authenticate ──▶ the profile's CredentialType parses its fields (proof of possession)
//!             ─▶ authorise ─▶ decide (Cedar policy, profile rules, type rules: Grant) ─▶ [wait for approvals]
//!             ─▶ prepare (type: build + lint) ─▶ record intent + tbs hash ──────────▶ Store (group commit)
//!             ─▶ sign (type, off the async workers; verify back) ─────────────────▶ KeyStore
//!             ─▶ commit request + credential + event ─────────────────────────────▶ Store (one transaction)
//!             ─▶ respond
//! ```
//!
//! Where is the decision made? [`issuance`] (`Authority::decide`: the Cedar
//! issuance policy, then [`decide::decide_common`], then the credential
//! type's rules). Where is the key used? [`credential_type::PreparedCredential::sign`],
//! through [`ports::AuthoritySigner::sign`]. How is a credential type added?
//! One implementation of [`credential_type::CredentialType`] (docs/ARCHITECTURE.md).

pub mod approvals;
pub mod authority;
pub mod cache;
pub mod clock;
pub mod commit;
pub mod credential_type;
pub mod decide;
pub mod error;
pub mod governance;
pub mod integrity;
pub mod issuance;
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
