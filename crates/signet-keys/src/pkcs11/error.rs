//! Errors of opening a PKCS#11 token and of using keys in it.
//!
//! No message ever carries the PIN: it is not formatted anywhere, and a
//! [`super::Pkcs11Pin`] prints `[redacted]`.

use signet_core::ports::KeyError;
use signet_model::names::shorten;
use std::path::PathBuf;

/// Why opening a PKCS#11 keystore, or an operation on it, failed. Every error
/// of `open` happens before any object is created in the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Pkcs11Error {
    /// The module path does not exist.
    #[error("PKCS#11 module `{}` does not exist", .0.display())]
    ModuleNotFound(PathBuf),
    /// The module exists but cannot be loaded or initialised.
    #[error("PKCS#11 module `{}` cannot be loaded: {reason}", path.display())]
    ModuleLoad { path: PathBuf, reason: String },
    /// No token has this label; `present` lists the labels that do exist.
    #[error("no PKCS#11 token labelled `{label}` in module `{}`; tokens present: {}", module.display(), list(present))]
    TokenNotFound { label: String, module: PathBuf, present: Vec<String> },
    /// More than one token has this label.
    #[error("more than one PKCS#11 token is labelled `{0}`: select the token by slot id instead")]
    TokenAmbiguous(String),
    /// No slot with this id holds a token.
    #[error("no PKCS#11 token in slot {slot} of module `{}`; slots with a token: {}", module.display(), list(present))]
    SlotNotFound { slot: u64, module: PathBuf, present: Vec<String> },
    /// The token refused the PIN.
    #[error("the PIN for token `{0}` is incorrect")]
    PinIncorrect(String),
    /// The token's user PIN is locked after too many wrong attempts.
    #[error("the PIN for token `{0}` is locked (too many wrong attempts): its security officer must reset it")]
    PinLocked(String),
    /// This process is already logged in to the token with another PIN.
    #[error("this process is already logged in to token `{0}` with a different PIN")]
    PinMismatch(String),
    /// The PIN could not be read from its source (file or environment variable).
    #[error("cannot read the PKCS#11 PIN: {0}")]
    PinSource(String),
    /// The token lacks a mechanism an algorithm needs.
    #[error("token `{token}` does not support {mechanism}, needed for {algorithm} keys")]
    Unsupported { token: String, algorithm: String, mechanism: String },
    /// A key exists but is not protected as an authority key must be.
    #[error("key `{key_ref}` in token `{token}` is not protected: {reason}; it is refused")]
    NotProtected { key_ref: String, token: String, reason: String },
    /// A key's objects are not what Signet created (missing public key, unknown type, several matches).
    #[error("key `{key_ref}` in token `{token}` cannot be used: {reason}")]
    BadKey { key_ref: String, token: String, reason: String },
    /// Any other failure reported by the token.
    #[error("PKCS#11 {operation} on token `{token}` failed: {reason}")]
    Token { token: String, operation: &'static str, reason: String },
}

fn list(items: &[String]) -> String {
    if items.is_empty() { "none".to_string() } else { items.iter().map(|s| format!("`{}`", shorten(s))).collect::<Vec<_>>().join(", ") }
}

impl From<Pkcs11Error> for KeyError {
    fn from(e: Pkcs11Error) -> Self {
        KeyError::Backend(e.to_string())
    }
}
