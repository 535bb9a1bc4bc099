//! Errors of sealing and unsealing. Keystore operations themselves return
//! [`signet_core::ports::KeyError`]; these are the errors of the seal
//! ceremony (init, shares, unseal, the local unseal key file).
//!
//! No message ever carries key material: shares, master key bytes and private
//! keys are never formatted into an error.

/// Why a seal operation failed. On every error the keystore stays as it was
/// (sealed stays sealed) and nothing is written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// Fewer distinct valid shares than the threshold.
    #[error("too few unseal shares: have {have}, need {need}")]
    TooFewShares { have: u8, need: u8 },
    /// A share of this authority whose content does not match what was
    /// recorded for its index at init (a typing error or a damaged copy).
    #[error("unseal share {index} is corrupt: it does not match share {index} recorded at init (check it for typing errors)")]
    CorruptShare { index: u8 },
    /// A well-formed share made for another authority (another `signet init`).
    #[error("the unseal share belongs to another authority: its seal id is `{share_seal_id}`, this authority's is `{seal_id}`")]
    WrongAuthority { share_seal_id: String, seal_id: String },
    /// Not a share at all, or a share this version cannot read.
    #[error("malformed unseal share: {0}")]
    Malformed(String),
    /// The key recombined from valid shares (or read from the local unseal
    /// key file) does not match the seal configuration's key check.
    #[error("the master key does not match this authority's seal configuration (key check failed); the keystore stays sealed")]
    KeyCheckFailed,
    /// The authority is sealed with a local unseal key file, not with shares.
    #[error("this authority unseals from a local unseal key file, not from shares")]
    NotShareSealed,
    /// `n` / `m` out of range at init.
    #[error("invalid share scheme: {0}")]
    InvalidScheme(String),
    /// The stored seal configuration cannot be read.
    #[error("invalid seal configuration: {0}")]
    Config(String),
    /// The local unseal key file cannot be written or read.
    #[error("local unseal key file: {0}")]
    LocalKey(String),
    /// The platform failed to provide randomness or a crypto primitive failed.
    #[error("seal crypto failure: {0}")]
    Crypto(&'static str),
}
