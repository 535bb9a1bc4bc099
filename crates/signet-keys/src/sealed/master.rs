//! The master key and the keys derived from it.
//!
//! The master key is never used directly: HKDF-SHA256 derives one subkey per
//! purpose (the key check, data-key wrapping), so the public key-check value
//! and the wrapping ciphertexts are under independent keys.

use super::error::SealError;
use aws_lc_rs::aead::{AES_256_GCM, LessSafeKey, UnboundKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};
use aws_lc_rs::hmac;
use std::fmt;
use zeroize::{Zeroize, Zeroizing};

/// Length of the master key in bytes (AES-256 strength).
pub const MASTER_KEY_LEN: usize = 32;

const HKDF_SALT: &[u8] = b"signet-seal-v1";
const LABEL_CHECK: &[u8] = b"signet seal key-check";
const LABEL_WRAP: &[u8] = b"signet seal data-key-wrap";
const CHECK_MESSAGE: &[u8] = b"signet seal check";

/// The authority's master key: 32 random bytes that wrap every data key.
///
/// It lives on the heap (moves never copy it), is zeroed on drop, is not
/// `Clone`, and its `Debug` prints `[redacted]`. It is created by `init` /
/// `init_local`, recombined by an `Unsealer`, or read from the local unseal
/// key file; it never leaves this module as bytes except to that file.
pub struct MasterKey {
    bytes: Box<[u8; MASTER_KEY_LEN]>,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

impl Drop for MasterKey {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl MasterKey {
    /// A new random master key from the operating system's CSPRNG.
    pub(crate) fn generate() -> Result<Self, SealError> {
        let mut bytes = Box::new([0u8; MASTER_KEY_LEN]);
        aws_lc_rs::rand::fill(&mut bytes[..]).map_err(|_| SealError::Crypto("no randomness for the master key"))?;
        Ok(Self { bytes })
    }

    /// Take a master key from bytes (recombined shares, the local key file).
    /// Returns `None` if the length is wrong. The caller zeroes its copy.
    pub(crate) fn from_slice(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != MASTER_KEY_LEN {
            return None;
        }
        let mut key = Box::new([0u8; MASTER_KEY_LEN]);
        key.copy_from_slice(bytes);
        Some(Self { bytes: key })
    }

    /// The raw bytes, for splitting into shares and the local unseal key file only.
    pub(crate) fn expose_bytes(&self) -> &[u8; MASTER_KEY_LEN] {
        &self.bytes
    }

    fn subkey(&self, label: &[u8]) -> Result<Zeroizing<[u8; 32]>, SealError> {
        let mut out = Zeroizing::new([0u8; 32]);
        Salt::new(HKDF_SHA256, HKDF_SALT)
            .extract(&self.bytes[..])
            .expand(&[label], HKDF_SHA256)
            .and_then(|okm| okm.fill(&mut out[..]))
            .map_err(|_| SealError::Crypto("key derivation failed"))?;
        Ok(out)
    }

    /// The public key-check value: HMAC-SHA256 under the key-check subkey of
    /// a fixed message bound to the seal id. Publishing it reveals nothing
    /// useful about the key; it lets a recombined key be verified.
    pub(crate) fn key_check(&self, seal_id: &[u8]) -> Result<[u8; 32], SealError> {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.subkey(LABEL_CHECK)?[..]);
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(CHECK_MESSAGE);
        ctx.update(seal_id);
        let tag = ctx.sign();
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        Ok(out)
    }

    /// Is `expected` this key's check value for `seal_id`? Constant time.
    pub(crate) fn matches_check(&self, seal_id: &[u8], expected: &[u8; 32]) -> Result<bool, SealError> {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.subkey(LABEL_CHECK)?[..]);
        let mut msg = Vec::with_capacity(CHECK_MESSAGE.len() + seal_id.len());
        msg.extend_from_slice(CHECK_MESSAGE);
        msg.extend_from_slice(seal_id);
        Ok(hmac::verify(&key, &msg, expected).is_ok())
    }

    /// The AES-256-GCM key that wraps data keys.
    pub(crate) fn wrapping_key(&self) -> Result<LessSafeKey, SealError> {
        let subkey = self.subkey(LABEL_WRAP)?;
        let unbound = UnboundKey::new(&AES_256_GCM, &subkey[..]).map_err(|_| SealError::Crypto("cannot set up the wrapping key"))?;
        Ok(LessSafeKey::new(unbound))
    }
}
