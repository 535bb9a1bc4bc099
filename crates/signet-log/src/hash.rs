//! RFC 9162 §2.1.1 hashing: domain-separated SHA-256 for leaves and interior nodes.

use aws_lc_rs::digest::{self, SHA256};

/// A SHA-256 output: a leaf hash, an interior node hash or a tree root.
pub type Hash = [u8; 32];

/// Entries up to this size are hashed from a stack buffer in one shot.
const STACK_ENTRY_LIMIT: usize = 1023;

/// The hash of a leaf: `SHA-256(0x00 ‖ entry)`.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    if entry.len() <= STACK_ENTRY_LIMIT {
        let mut buf = [0u8; STACK_ENTRY_LIMIT + 1];
        buf[1..=entry.len()].copy_from_slice(entry);
        sha256(&buf[..=entry.len()])
    } else {
        let mut ctx = digest::Context::new(&SHA256);
        ctx.update(&[0x00]);
        ctx.update(entry);
        to_hash(ctx.finish().as_ref())
    }
}

/// The hash of an interior node: `SHA-256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut buf = [0u8; 65];
    buf[0] = 0x01;
    buf[1..33].copy_from_slice(left);
    buf[33..].copy_from_slice(right);
    sha256(&buf)
}

/// The root of the empty tree: `SHA-256("")`.
pub fn empty_root() -> Hash {
    sha256(b"")
}

pub(crate) fn sha256(data: &[u8]) -> Hash {
    to_hash(digest::digest(&SHA256, data).as_ref())
}

fn to_hash(bytes: &[u8]) -> Hash {
    let mut out = [0u8; 32];
    out.copy_from_slice(bytes);
    out
}

/// Lower-case hex of a hash (for messages and the export's `leaf-hashes.txt`).
pub fn to_hex(hash: &Hash) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(64);
    for b in hash {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// Parse exactly 64 lower-case hex digits.
pub fn from_hex(text: &[u8]) -> Option<Hash> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        *o = (hex_digit(pair[0])? << 4) | hex_digit(pair[1])?;
    }
    Some(out)
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(to_hex(&empty_root()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }

    #[test]
    fn large_and_small_entries_hash_alike() {
        for len in [0, 1, 1022, 1023, 1024, 5000] {
            let entry = vec![0x5a; len];
            let mut prefixed = vec![0x00];
            prefixed.extend_from_slice(&entry);
            assert_eq!(leaf_hash(&entry), sha256(&prefixed), "len {len}");
        }
    }

    #[test]
    fn hex_round_trip_is_strict() {
        let h = leaf_hash(b"x");
        assert_eq!(from_hex(to_hex(&h).as_bytes()), Some(h));
        assert_eq!(from_hex(to_hex(&h).to_uppercase().as_bytes()), None);
        assert_eq!(from_hex(&to_hex(&h).as_bytes()[..63]), None);
    }
}
