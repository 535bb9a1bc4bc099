//! X.509 for Signet: CSR intake, certificate minting, CA bootstrap. The
//! credential type the pipeline sees is [`credential::X509Type`].
//!
//! ```text
//!  untrusted CSR ──▶ csr::parse_csr ──▶ ParsedCsr { BoundKey, SanSet, CN }     (proof of possession checked;
//!                                                                              requested extensions ignored)
//!  Grant + BoundKey + Serial
//!        │
//!        ▼
//!  X509Authority::prepare ── Template (from the grant ONLY) ──▶ rcgen builds the TBS ──▶ lint the TBS
//!        │                                                                                     │
//!        ▼                                                                                     ▼
//!  PreparedCertificate::sign(self) ── AuthoritySigner signs the linted bytes ──▶ SignedCertificate
//!        │
//!        ▼
//!  SignedCertificate::verify_back(self) ── parse, check signature + every field ──▶ DER (or MintError::VerifyBack)
//! ```
//!
//! Where is the key used? [`certificate::PreparedCertificate::sign`]. Where is
//! a certificate's content decided? The private `template` module, from a
//! [`signet_model::request::Grant`] (never from CSR extensions).
//! [`bootstrap`] creates the root and issuing CAs through the same path;
//! [`tls::server_identity`] issues the server's own HTTPS certificate.
//!
//! Status, signed by the same issuing CA key through the same
//! lint-then-sign-then-verify-back discipline: [`crl`] writes the CRL and
//! [`ocsp`] parses OCSP requests and writes responses, both by hand in DER,
//! reached through `StatusPublisher::crl` / `parse_ocsp_request` / `ocsp_response`.

pub mod bootstrap;
pub mod ca;
pub mod certificate;
pub mod credential;
pub mod crl;
pub mod csr;
mod der;
mod key;
pub mod ocsp;
pub mod pem;
mod template;
pub mod tls;

pub use bootstrap::{create_issuing, create_root};
pub use ca::{X509Authority, bind_own_key};
pub use certificate::{PreparedCertificate, SignedCertificate};
pub use credential::{X509Params, X509Type};
pub use csr::{ParsedCsr, parse_csr};
pub use pem::{chain_pem, pem_encode};
pub use tls::{ServerIdentity, server_identity};
