//! The error type of the tree, proof and note operations.

/// What went wrong in a tree, proof or note operation. Messages are
/// lower-case; user input is quoted in backticks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    /// The [`NodeSource`](crate::NodeSource) does not hold a node that a
    /// complete tree of the requested size must have.
    #[error("tree node (level {level}, index {index}) is not stored")]
    MissingNode { level: u8, index: u64 },
    /// The [`NodeSource`](crate::NodeSource) backend failed (for the lead's
    /// database implementation).
    #[error("tree node store failed: {0}")]
    NodeStore(String),
    /// A leaf index at or beyond the tree size.
    #[error("leaf index {index} is outside a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    /// A consistency request from a larger tree to a smaller one.
    #[error("tree size {first} is larger than tree size {second}")]
    SizeOrder { first: u64, second: u64 },
    /// An inclusion proof that does not lead to the expected root.
    #[error("inclusion proof does not verify: {0}")]
    InclusionProof(&'static str),
    /// A consistency proof that does not connect the two roots.
    #[error("consistency proof does not verify: {0}")]
    ConsistencyProof(&'static str),
    /// A key name that is empty or holds a space, a plus or a control character.
    #[error("invalid key name `{0}`: it must be non-empty, without spaces, `+` or control characters")]
    InvalidKeyName(String),
    /// A verifier key string that is not `<name>+<8 hex>+<base64(0x01 ‖ key)>`.
    #[error("malformed verifier key: {0}")]
    MalformedVerifierKey(&'static str),
    /// A signed note that does not follow the C2SP signed-note syntax.
    #[error("malformed signed note: {0}")]
    MalformedNote(&'static str),
    /// A note body that is not a C2SP checkpoint Signet accepts.
    #[error("malformed checkpoint: {0}")]
    MalformedCheckpoint(&'static str),
    /// The note carries no signature by the verifier's key (name and key ID).
    #[error("the note carries no signature by key `{0}`")]
    UnknownKey(String),
    /// A signature line by the verifier's key whose signature does not verify.
    #[error("the signature by key `{0}` does not verify")]
    BadSignature(String),
    /// The checkpoint's origin is not the verifier's key name.
    #[error("checkpoint origin `{origin}` is not the key name `{key_name}`")]
    OriginMismatch { origin: String, key_name: String },
    /// A private key that cannot be loaded or generated.
    #[error("signing key: {0}")]
    SigningKey(&'static str),
}
