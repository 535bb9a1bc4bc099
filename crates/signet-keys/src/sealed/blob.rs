//! The sealed key file format (pure: bytes in, bytes out).
//!
//! ```text
//! offset  size        field
//! 0       8           magic "SIGNETSK"
//! 8       1           format version (1)
//! 9       1           key_ref length r (1-64)
//! 10      r           key_ref (ASCII; must equal the file's name)
//! 10+r    1           algorithm length a
//! 11+r    a           algorithm ("ecdsa-p256", "ed25519", ...)
//! ..      12          wrap nonce
//! ..      48          data key (32) AES-256-GCM-encrypted under the master
//!                     key's wrapping subkey, + tag (16);
//!                     AAD = "signet-sealed-key-1/wrap:" ‖ key_ref
//! ..      12          body nonce
//! ..      2           body length b (big-endian)
//! ..      b           PKCS#8 DER AES-256-GCM-encrypted under the data key, + tag (16);
//!                     AAD = "signet-sealed-key-1/body:" ‖ r ‖ key_ref ‖ a ‖ algorithm
//! ```
//!
//! Nothing follows the body. Every byte is covered: the magic, version and
//! lengths by the parser, key_ref by the name check and both AADs, the
//! algorithm by the body AAD, the rest by the GCM tags. A data key is fresh
//! per file and encrypts once; nonces are random.

use super::master::MasterKey;
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use signet_core::ports::KeyError;
use signet_model::profile::KeyAlgorithm;
use zeroize::Zeroizing;

const MAGIC: &[u8; 8] = b"SIGNETSK";
const VERSION: u8 = 1;
const DATA_KEY_LEN: usize = 32;
const TAG_LEN: usize = 16;
const WRAPPED_LEN: usize = DATA_KEY_LEN + TAG_LEN;
const WRAP_AAD: &[u8] = b"signet-sealed-key-1/wrap:";
const BODY_AAD: &[u8] = b"signet-sealed-key-1/body:";

fn backend(msg: String) -> KeyError {
    KeyError::Backend(msg)
}

fn wrap_aad(key_ref: &str) -> Vec<u8> {
    [WRAP_AAD, key_ref.as_bytes()].concat()
}

fn body_aad(key_ref: &str, algorithm: &str) -> Vec<u8> {
    // Lengths fit in a byte: key refs are at most 64 bytes, algorithm names are short.
    let mut aad = Vec::with_capacity(BODY_AAD.len() + 2 + key_ref.len() + algorithm.len());
    aad.extend_from_slice(BODY_AAD);
    aad.push(u8::try_from(key_ref.len()).unwrap_or(u8::MAX));
    aad.extend_from_slice(key_ref.as_bytes());
    aad.push(u8::try_from(algorithm.len()).unwrap_or(u8::MAX));
    aad.extend_from_slice(algorithm.as_bytes());
    aad
}

fn random<const N: usize>(what: &str) -> Result<[u8; N], KeyError> {
    let mut b = [0u8; N];
    aws_lc_rs::rand::fill(&mut b).map_err(|_| backend(format!("no randomness for the {what}")))?;
    Ok(b)
}

/// Encrypt a PKCS#8 private key into a sealed key file's bytes.
pub(super) fn seal(master: &MasterKey, key_ref: &str, algorithm: KeyAlgorithm, pkcs8: &[u8]) -> Result<Vec<u8>, KeyError> {
    let fail = |what: &str| backend(format!("cannot seal key `{key_ref}`: {what}"));
    let alg = algorithm.as_str();
    let r = u8::try_from(key_ref.len()).map_err(|_| fail("key reference too long"))?;
    let a = u8::try_from(alg.len()).map_err(|_| fail("algorithm name too long"))?;
    let body_len = u16::try_from(pkcs8.len() + TAG_LEN).map_err(|_| fail("private key too large"))?;

    let data_key = Zeroizing::new(random::<DATA_KEY_LEN>("data key")?);
    let wrap_nonce = random::<NONCE_LEN>("wrap nonce")?;
    let body_nonce = random::<NONCE_LEN>("body nonce")?;

    // Capacity reserved so sealing in place never reallocates a plaintext copy.
    let mut wrapped = Vec::with_capacity(WRAPPED_LEN);
    wrapped.extend_from_slice(&data_key[..]);
    master
        .wrapping_key()
        .map_err(|e| fail(&e.to_string()))?
        .seal_in_place_append_tag(Nonce::assume_unique_for_key(wrap_nonce), Aad::from(wrap_aad(key_ref)), &mut wrapped)
        .map_err(|_| fail("wrapping the data key failed"))?;

    let body_key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &data_key[..]).map_err(|_| fail("bad data key"))?);
    let mut body = Vec::with_capacity(pkcs8.len() + TAG_LEN);
    body.extend_from_slice(pkcs8);
    body_key
        .seal_in_place_append_tag(Nonce::assume_unique_for_key(body_nonce), Aad::from(body_aad(key_ref, alg)), &mut body)
        .map_err(|_| fail("encrypting the private key failed"))?;

    let mut out = Vec::with_capacity(MAGIC.len() + 3 + key_ref.len() + alg.len() + 2 * NONCE_LEN + WRAPPED_LEN + 2 + body.len());
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.push(r);
    out.extend_from_slice(key_ref.as_bytes());
    out.push(a);
    out.extend_from_slice(alg.as_bytes());
    out.extend_from_slice(&wrap_nonce);
    out.extend_from_slice(&wrapped);
    out.extend_from_slice(&body_nonce);
    out.extend_from_slice(&body_len.to_be_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// A cursor over the untrusted file bytes.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn byte(&mut self) -> Option<u8> {
        self.take(1).and_then(|b| b.first().copied())
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N).and_then(|b| b.try_into().ok())
    }
}

/// The parsed, still-encrypted parts of a sealed key file.
struct Parsed<'a> {
    key_ref: &'a [u8],
    algorithm: &'a [u8],
    wrap_nonce: [u8; NONCE_LEN],
    wrapped: &'a [u8],
    body_nonce: [u8; NONCE_LEN],
    body: &'a [u8],
}

fn parse(file: &[u8]) -> Result<Parsed<'_>, &'static str> {
    let mut r = Reader(file);
    if r.take(MAGIC.len()) != Some(&MAGIC[..]) {
        return Err("it is not a sealed key file (bad magic)");
    }
    match r.byte() {
        Some(VERSION) => {}
        Some(_) => return Err("unsupported format version"),
        None => return Err("truncated header"),
    }
    let key_ref_len = r.byte().ok_or("truncated header")?;
    let key_ref = r.take(usize::from(key_ref_len)).ok_or("truncated key reference")?;
    let alg_len = r.byte().ok_or("truncated header")?;
    let algorithm = r.take(usize::from(alg_len)).ok_or("truncated algorithm")?;
    let wrap_nonce = r.array::<NONCE_LEN>().ok_or("truncated wrap nonce")?;
    let wrapped = r.take(WRAPPED_LEN).ok_or("truncated wrapped data key")?;
    let body_nonce = r.array::<NONCE_LEN>().ok_or("truncated body nonce")?;
    let body_len = u16::from_be_bytes(r.array::<2>().ok_or("truncated body length")?);
    let body = r.take(usize::from(body_len)).ok_or("truncated encrypted key")?;
    if usize::from(body_len) < TAG_LEN {
        return Err("encrypted key too short");
    }
    if !r.0.is_empty() {
        return Err("trailing bytes after the encrypted key");
    }
    Ok(Parsed { key_ref, algorithm, wrap_nonce, wrapped, body_nonce, body })
}

/// Decrypt a sealed key file read for `key_ref`. The header must name the
/// same key; both GCM tags must verify before any plaintext is used. Errors
/// name the key and what is wrong, never any key material.
pub(super) fn open(master: &MasterKey, key_ref: &str, file: &[u8]) -> Result<(KeyAlgorithm, Zeroizing<Vec<u8>>), KeyError> {
    let parsed = parse(file).map_err(|why| backend(format!("sealed key file for `{key_ref}` is malformed: {why}")))?;
    if parsed.key_ref != key_ref.as_bytes() {
        return Err(backend(format!("sealed key file for `{key_ref}` holds another key (renamed or tampered with); refusing it")));
    }
    let algorithm = std::str::from_utf8(parsed.algorithm)
        .ok()
        .and_then(|s| KeyAlgorithm::parse("algorithm", s).ok())
        .ok_or_else(|| backend(format!("sealed key file for `{key_ref}` is malformed: unknown key algorithm")))?;

    let mut data_key = Zeroizing::new(parsed.wrapped.to_vec());
    let plain_len = master
        .wrapping_key()
        .map_err(|e| backend(e.to_string()))?
        .open_in_place(Nonce::assume_unique_for_key(parsed.wrap_nonce), Aad::from(wrap_aad(key_ref)), &mut data_key)
        .map_err(|_| {
            backend(format!(
                "sealed key `{key_ref}` failed authentication: its data key does not unwrap under this master key \
                 (the file was altered, or it belongs to another authority); nothing was decrypted"
            ))
        })?
        .len();
    data_key.truncate(plain_len);

    let body_key = LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, &data_key[..]).map_err(|_| backend(format!("sealed key `{key_ref}` has a bad data key")))?,
    );
    let mut pkcs8 = Zeroizing::new(parsed.body.to_vec());
    let plain_len = body_key
        .open_in_place(Nonce::assume_unique_for_key(parsed.body_nonce), Aad::from(body_aad(key_ref, algorithm.as_str())), &mut pkcs8)
        .map_err(|_| {
            backend(format!(
                "sealed key `{key_ref}` failed authentication: its encrypted private key or header was altered; the key was not decrypted"
            ))
        })?
        .len();
    pkcs8.truncate(plain_len);
    Ok((algorithm, pkcs8))
}
