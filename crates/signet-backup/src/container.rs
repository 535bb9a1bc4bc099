//! The encrypted container: a plaintext header, then the payload in
//! authenticated AES-256-GCM chunks under a key derived from a passphrase.
//!
//! ```text
//!  "SIGNETBK" | version (1 byte, = 1) | header length (u32 BE) | header (JSON)
//!  chunk 0 | chunk 1 | … | chunk n (final)
//! ```
//!
//! - Key: `master = PBKDF2-HMAC-SHA256(passphrase, salt, iterations, 32 bytes)`;
//!   `key = HMAC-SHA256(master, "signet-backup v1 encryption key")`;
//!   the header's `key_check = HMAC-SHA256(master, "signet-backup v1 key check")`
//!   tells a wrong passphrase from a damaged file before any chunk is opened.
//! - Chunk `i`: the next `chunk_size` bytes of payload (the final one: the
//!   rest, 0 to `chunk_size` bytes), sealed with nonce
//!   `nonce_prefix (7 bytes) ‖ i (u32 BE) ‖ final (1 byte: 1 for the last chunk, else 0)`
//!   and AAD = every header byte from the magic on; each chunk is its
//!   ciphertext and 16-byte tag, so all but the last are `chunk_size + 16` bytes.
//! - So: a changed header fails chunk 0; a changed, dropped or moved chunk
//!   fails (its counter is in the nonce); a file cut at a chunk boundary ends
//!   on a chunk sealed as not final; extra bytes after the final chunk are refused.
//!
//! The payload streams through [`Sealer`] chunk by chunk; [`open`] checks
//! every chunk before returning anything, so a caller never acts on
//! unauthenticated bytes.

use crate::error::BackupError;
use crate::passphrase::Passphrase;
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::{hmac, pbkdf2};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use signet_core::ports::Rng;
use signet_store::snapshot::BackendKind;
use std::io::{Read, Write};
use std::num::NonZeroU32;
use std::path::Path;
use zeroize::{Zeroize, Zeroizing};

pub const MAGIC: &[u8; 8] = b"SIGNETBK";
pub const CONTAINER_VERSION: u8 = 1;
/// OWASP's 2023 figure for PBKDF2-HMAC-SHA256.
pub const DEFAULT_ITERATIONS: u32 = 600_000;
/// Fewer iterations are refused, on writing and on reading.
pub const MIN_ITERATIONS: u32 = 100_000;
/// More are refused on reading (a header cannot make a restore spin for hours).
pub const MAX_ITERATIONS: u32 = 10_000_000;
pub const DEFAULT_CHUNK_SIZE: u32 = 64 * 1024;
const MAX_CHUNK_SIZE: u32 = 16 * 1024 * 1024;
const MIN_CHUNK_SIZE: u32 = 1024;
const MAX_HEADER_LEN: u32 = 64 * 1024;
const TAG_LEN: usize = 16;
const SALT_LEN: usize = 16;
const PREFIX_LEN: usize = 7;
const KDF_ALGORITHM: &str = "pbkdf2-hmac-sha256";
const CIPHER_ALGORITHM: &str = "aes-256-gcm";
const LABEL_KEY: &[u8] = b"signet-backup v1 encryption key";
const LABEL_CHECK: &[u8] = b"signet-backup v1 key check";

/// The header: how to open the file, and what it holds (shown by
/// `signet restore --verify-only`; authenticated as the AAD of every chunk).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub info: BackupInfo,
    pub kdf: Kdf,
    /// Base64 HMAC-SHA256 of a fixed label under the passphrase-derived key.
    pub key_check: String,
    pub cipher: Cipher,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupInfo {
    /// Payload format version.
    pub format: u32,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// The database the backup was taken from.
    pub backend: BackendKind,
    /// The newest applied migration.
    pub schema_version: i64,
    /// The newest signed checkpoint in the backup.
    pub log_tree_size: u64,
    /// Its root hash, lower-case hex.
    pub log_root_hash: String,
    /// Whether the local unseal key file (`DATA/unseal-key`) is inside.
    pub includes_local_unseal_key: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kdf {
    pub algorithm: String,
    pub iterations: u32,
    /// Base64, 16 random bytes.
    pub salt: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cipher {
    pub algorithm: String,
    pub chunk_size: u32,
    /// Base64, 7 random bytes.
    pub nonce_prefix: String,
}

/// The chunk key and the key-check value, derived from the passphrase.
struct Keys {
    aead: LessSafeKey,
    check: hmac::Tag,
}

fn derive(passphrase: &Passphrase, salt: &[u8], iterations: u32) -> Result<Keys, BackupError> {
    let iterations = NonZeroU32::new(iterations).ok_or(BackupError::Crypto("zero iterations"))?;
    let mut master = Zeroizing::new([0u8; 32]);
    pbkdf2::derive(pbkdf2::PBKDF2_HMAC_SHA256, iterations, salt, passphrase.expose(), &mut master[..]);
    let prf = hmac::Key::new(hmac::HMAC_SHA256, &master[..]);
    let mut key = Zeroizing::new([0u8; 32]);
    key.copy_from_slice(hmac::sign(&prf, LABEL_KEY).as_ref());
    let aead = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &key[..]).map_err(|_| BackupError::Crypto("cannot make the AES key"))?);
    Ok(Keys { aead, check: hmac::sign(&prf, LABEL_CHECK) })
}

fn nonce(prefix: &[u8; PREFIX_LEN], counter: u32, last: bool) -> Nonce {
    let mut n = [0u8; NONCE_LEN];
    n[..PREFIX_LEN].copy_from_slice(prefix);
    n[PREFIX_LEN..PREFIX_LEN + 4].copy_from_slice(&counter.to_be_bytes());
    n[NONCE_LEN - 1] = u8::from(last);
    Nonce::assume_unique_for_key(n)
}

fn header_bytes(header: &Header) -> Result<Vec<u8>, BackupError> {
    let json = serde_json::to_vec(header).map_err(|e| BackupError::Malformed(e.to_string()))?;
    let len =
        u32::try_from(json.len()).ok().filter(|l| *l <= MAX_HEADER_LEN).ok_or_else(|| BackupError::Malformed("header too long".into()))?;
    let mut out = Vec::with_capacity(13 + json.len());
    out.extend_from_slice(MAGIC);
    out.push(CONTAINER_VERSION);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&json);
    Ok(out)
}

/// Encrypts a payload as it is written. Call [`finish`](Self::finish): a
/// `Sealer` dropped without it has written no final chunk, and the file
/// reads as truncated.
pub struct Sealer<W: Write> {
    out: W,
    key: LessSafeKey,
    aad: Vec<u8>,
    prefix: [u8; PREFIX_LEN],
    counter: u32,
    chunk_size: usize,
    buf: Zeroizing<Vec<u8>>,
}

impl<W: Write> Sealer<W> {
    /// Write the header for `info` to `out` and return the writer for the payload.
    pub fn new(mut out: W, passphrase: &Passphrase, info: BackupInfo, rng: &dyn Rng, iterations: u32) -> Result<Self, BackupError> {
        if iterations < MIN_ITERATIONS {
            return Err(BackupError::Usage(format!("at least {MIN_ITERATIONS} PBKDF2 iterations are required")));
        }
        let mut salt = [0u8; SALT_LEN];
        rng.fill(&mut salt);
        let mut prefix = [0u8; PREFIX_LEN];
        rng.fill(&mut prefix);
        let keys = derive(passphrase, &salt, iterations)?;
        let header = Header {
            info,
            kdf: Kdf { algorithm: KDF_ALGORITHM.into(), iterations, salt: B64.encode(salt) },
            key_check: B64.encode(keys.check.as_ref()),
            cipher: Cipher { algorithm: CIPHER_ALGORITHM.into(), chunk_size: DEFAULT_CHUNK_SIZE, nonce_prefix: B64.encode(prefix) },
        };
        let aad = header_bytes(&header)?;
        out.write_all(&aad).map_err(|e| BackupError::Malformed(format!("cannot write the header: {e}")))?;
        let chunk_size = DEFAULT_CHUNK_SIZE as usize;
        Ok(Self { out, key: keys.aead, aad, prefix, counter: 0, chunk_size, buf: Zeroizing::new(Vec::with_capacity(chunk_size)) })
    }

    fn emit(&mut self, last: bool) -> std::io::Result<()> {
        let mut chunk = Vec::with_capacity(self.buf.len() + TAG_LEN);
        chunk.extend_from_slice(&self.buf);
        self.buf.zeroize();
        self.buf.clear();
        self.key
            .seal_in_place_append_tag(nonce(&self.prefix, self.counter, last), Aad::from(&self.aad[..]), &mut chunk)
            .map_err(|_| std::io::Error::other("AES-GCM sealing failed"))?;
        self.out.write_all(&chunk)?;
        self.counter = self.counter.checked_add(1).ok_or_else(|| std::io::Error::other("the backup has too many chunks"))?;
        Ok(())
    }

    /// Seal the rest as the final chunk; returns the underlying writer.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.emit(true)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write> Write for Sealer<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let mut rest = data;
        while !rest.is_empty() {
            // A full buffer is sealed only once more data arrives: the last
            // chunk is sealed as final by `finish`, never an empty extra one.
            if self.buf.len() == self.chunk_size {
                self.emit(false)?;
            }
            let take = (self.chunk_size - self.buf.len()).min(rest.len());
            self.buf.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Read and check the header, without the passphrase.
pub fn read_header(input: &mut impl Read, path: &Path) -> Result<(Header, Vec<u8>), BackupError> {
    let not = |reason: &str| BackupError::NotABackup { path: path.to_path_buf(), reason: reason.to_string() };
    let mut fixed = [0u8; 13];
    read_full(input, &mut fixed, path)?.eq(&13).then_some(()).ok_or_else(|| not("it is shorter than a backup header"))?;
    if &fixed[..8] != MAGIC {
        return Err(not("it does not start with `SIGNETBK`"));
    }
    if fixed[8] != CONTAINER_VERSION {
        return Err(not(&format!("container version {} is not supported (this Signet reads version {CONTAINER_VERSION})", fixed[8])));
    }
    let len = u32::from_be_bytes([fixed[9], fixed[10], fixed[11], fixed[12]]);
    if len > MAX_HEADER_LEN {
        return Err(not("its header is too long"));
    }
    let mut json = vec![0u8; len as usize];
    if read_full(input, &mut json, path)? != json.len() {
        return Err(BackupError::Truncated("the file ends inside the header".into()));
    }
    let header: Header = serde_json::from_slice(&json).map_err(|e| not(&format!("its header is malformed: {e}")))?;
    if header.kdf.algorithm != KDF_ALGORITHM || header.cipher.algorithm != CIPHER_ALGORITHM {
        return Err(not(&format!("unsupported algorithms `{}` / `{}`", header.kdf.algorithm, header.cipher.algorithm)));
    }
    if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&header.kdf.iterations) {
        return Err(not(&format!("{} PBKDF2 iterations is outside {MIN_ITERATIONS}..={MAX_ITERATIONS}", header.kdf.iterations)));
    }
    if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&header.cipher.chunk_size) {
        return Err(not(&format!("chunk size {} is outside {MIN_CHUNK_SIZE}..={MAX_CHUNK_SIZE}", header.cipher.chunk_size)));
    }
    let mut aad = fixed.to_vec();
    aad.extend_from_slice(&json);
    Ok((header, aad))
}

/// Read until `buf` is full or the input ends; returns the bytes read.
fn read_full(input: &mut impl Read, buf: &mut [u8], path: &Path) -> Result<usize, BackupError> {
    let mut got = 0;
    while got < buf.len() {
        match input.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(source) => return Err(BackupError::Read { path: path.to_path_buf(), source }),
        }
    }
    Ok(got)
}

/// Open a whole backup: the header, then every chunk authenticated and
/// decrypted in order. Nothing is returned unless every byte checked out.
pub fn open(input: &mut impl Read, path: &Path, passphrase: &Passphrase) -> Result<(Header, Zeroizing<Vec<u8>>), BackupError> {
    let (header, aad) = read_header(input, path)?;
    let not = |reason: &str| BackupError::NotABackup { path: path.to_path_buf(), reason: reason.to_string() };
    let salt = B64.decode(&header.kdf.salt).map_err(|_| not("its salt is not base64"))?;
    let check = B64.decode(&header.key_check).map_err(|_| not("its key check is not base64"))?;
    let prefix: [u8; PREFIX_LEN] = B64
        .decode(&header.cipher.nonce_prefix)
        .ok()
        .and_then(|p| p.try_into().ok())
        .ok_or_else(|| not("its nonce prefix is not 7 base64 bytes"))?;
    let keys = derive(passphrase, &salt, header.kdf.iterations)?;
    if check.len() != keys.check.as_ref().len() || !constant_time_eq(&check, keys.check.as_ref()) {
        return Err(BackupError::WrongPassphrase);
    }

    let block = header.cipher.chunk_size as usize + TAG_LEN;
    let mut plain = Zeroizing::new(Vec::new());
    let mut current = vec![0u8; block];
    let mut n = read_full(input, &mut current, path)?;
    if n == 0 {
        return Err(BackupError::Truncated("the file ends after the header".into()));
    }
    let mut counter: u32 = 0;
    loop {
        // One chunk of look-ahead: the chunk before the end of the file is the final one.
        let mut next = vec![0u8; block];
        let m = if n == block { read_full(input, &mut next, path)? } else { 0 };
        let last = m == 0;
        let mut chunk = current[..n].to_vec();
        match keys.aead.open_in_place(nonce(&prefix, counter, last), Aad::from(&aad[..]), &mut chunk) {
            Ok(p) => {
                plain.extend_from_slice(p);
                chunk.zeroize();
            }
            Err(_) => {
                // A full chunk sealed as not final, at the end of the file: cut at a chunk boundary.
                if last
                    && n == block
                    && keys.aead.open_in_place(nonce(&prefix, counter, false), Aad::from(&aad[..]), &mut current[..n]).is_ok()
                {
                    current.zeroize();
                    return Err(BackupError::Truncated(format!("it ends after chunk {counter}, which is not the final chunk")));
                }
                if last && n < block {
                    return Err(BackupError::TruncatedOrAltered { chunk: counter.into() });
                }
                return Err(BackupError::Altered { chunk: counter.into() });
            }
        }
        if last {
            return Ok((header, plain));
        }
        counter = counter.checked_add(1).ok_or(BackupError::Altered { chunk: u64::from(u32::MAX) })?;
        current = next;
        n = m;
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use signet_core::clock::SystemRng;

    fn info() -> BackupInfo {
        BackupInfo {
            format: 1,
            created_at: "2026-01-01T00:00:00Z".into(),
            backend: BackendKind::Sqlite,
            schema_version: 1,
            log_tree_size: 7,
            log_root_hash: "00".repeat(32),
            includes_local_unseal_key: false,
        }
    }

    fn pass(s: &str) -> Passphrase {
        Passphrase::new(s.as_bytes().to_vec()).unwrap()
    }

    /// A backup of `len` bytes with small chunks, so chunk boundaries are easy to hit.
    fn sealed(len: usize, chunk: u32) -> (Vec<u8>, Vec<u8>) {
        let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let mut s = Sealer::new(Vec::new(), &pass("correct horse battery"), info(), &SystemRng, MIN_ITERATIONS).unwrap();
        s.chunk_size = chunk as usize;
        // Rewrite the header's chunk size: it is the AAD, so rebuild it the way `new` does.
        let (mut header, _) = read_header(&mut &s.out[..], Path::new("x")).unwrap();
        header.cipher.chunk_size = chunk;
        s.aad = header_bytes(&header).unwrap();
        s.out = s.aad.clone();
        for piece in payload.chunks(333) {
            s.write_all(piece).unwrap();
        }
        (s.finish().unwrap(), payload)
    }

    fn open_bytes(bytes: &[u8], p: &str) -> Result<Vec<u8>, BackupError> {
        open(&mut &bytes[..], Path::new("b"), &pass(p)).map(|(_, plain)| plain.to_vec())
    }

    #[test]
    fn round_trips_across_chunk_sizes() {
        for len in [0, 1, 1023, 1024, 1025, 4096, 5000] {
            let (bytes, payload) = sealed(len, 1024);
            assert_eq!(open_bytes(&bytes, "correct horse battery").unwrap(), payload, "{len}");
        }
    }

    #[test]
    fn wrong_passphrase_is_named() {
        let (bytes, _) = sealed(3000, 1024);
        assert!(matches!(open_bytes(&bytes, "incorrect horse"), Err(BackupError::WrongPassphrase)));
    }

    #[test]
    fn flipped_bytes_after_the_magic_are_refused() {
        let (bytes, _) = sealed(2500, 1024);
        // Every 7th byte (each flip costs a key derivation): header and chunks alike.
        for i in (8..bytes.len()).step_by(7) {
            let mut b = bytes.clone();
            b[i] ^= 0x01;
            assert!(open_bytes(&b, "correct horse battery").is_err(), "flipped byte {i} was accepted");
        }
        let header_len = read_header(&mut &bytes[..], Path::new("x")).unwrap().1.len();
        let mut b = bytes.clone();
        b[header_len + 1500] ^= 0x80;
        assert!(matches!(open_bytes(&b, "correct horse battery"), Err(BackupError::Altered { chunk: 1 })));
    }

    #[test]
    fn truncation_and_reordering_are_detected() {
        let (bytes, _) = sealed(5000, 1024);
        let header_len = read_header(&mut &bytes[..], Path::new("x")).unwrap().1.len();
        let block = 1024 + TAG_LEN;
        // Cut at a chunk boundary: the remaining chunks all authenticate, but the last is not final.
        let cut = &bytes[..header_len + 2 * block];
        let e = open_bytes(cut, "correct horse battery").unwrap_err();
        assert!(matches!(e, BackupError::Truncated(_)), "{e}");
        assert!(e.to_string().contains("chunk 1"), "{e}");
        // Cut inside a chunk.
        assert!(open_bytes(&bytes[..bytes.len() - 10], "correct horse battery").is_err());
        // Only the header.
        assert!(matches!(open_bytes(&bytes[..header_len], "correct horse battery"), Err(BackupError::Truncated(_))));
        // Two chunks swapped.
        let mut swapped = bytes[..header_len].to_vec();
        swapped.extend_from_slice(&bytes[header_len + block..header_len + 2 * block]);
        swapped.extend_from_slice(&bytes[header_len..header_len + block]);
        swapped.extend_from_slice(&bytes[header_len + 2 * block..]);
        assert!(matches!(open_bytes(&swapped, "correct horse battery"), Err(BackupError::Altered { chunk: 0 })));
        // Bytes appended after the final chunk.
        let mut longer = bytes.clone();
        longer.extend_from_slice(&[0u8; 20]);
        assert!(open_bytes(&longer, "correct horse battery").is_err());
    }

    #[test]
    fn headers_that_are_not_ours_are_named() {
        let e = open_bytes(b"PK\x03\x04 not a backup at all", "x").unwrap_err();
        assert!(e.to_string().contains("SIGNETBK"), "{e}");
        let (mut bytes, _) = sealed(10, 1024);
        bytes[8] = 9;
        assert!(open_bytes(&bytes, "correct horse battery").unwrap_err().to_string().contains("version 9"));
    }
}
