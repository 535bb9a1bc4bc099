//! The C2SP tlog-checkpoint note body.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::LogError;
use crate::hash::Hash;
use crate::note::check_key_name;

/// A tree head: the log's origin, a tree size and the root at that size.
///
/// Its note body is exactly three lines (C2SP tlog-checkpoint):
///
/// ```text
/// <origin>\n
/// <size, ASCII decimal, no leading zero>\n
/// <root hash, standard base64 with padding>\n
/// ```
///
/// Signet never writes extension lines and rejects bodies that have them
/// (dropping them would leave signed content unchecked). The origin doubles
/// as the signing key name (the spec's recommendation), so it must be a
/// valid key name: non-empty, no spaces, `+` or control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    origin: String,
    size: u64,
    root: Hash,
}

impl Checkpoint {
    /// A checkpoint for `origin` at `size` with root `root`.
    pub fn new(origin: &str, size: u64, root: Hash) -> Result<Self, LogError> {
        check_key_name(origin)?;
        Ok(Self { origin: origin.to_owned(), size, root })
    }

    /// The log's identity, also the key name of its signature.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root hash of the tree of that size.
    pub fn root(&self) -> &Hash {
        &self.root
    }

    /// The note body (the signed text).
    pub fn body(&self) -> String {
        format!("{}\n{}\n{}\n", self.origin, self.size, STANDARD.encode(self.root))
    }

    /// Parse a note body strictly: three lines, each ending in a newline.
    pub fn parse(body: &str) -> Result<Self, LogError> {
        let Some(text) = body.strip_suffix('\n') else {
            return Err(LogError::MalformedCheckpoint("the body does not end with a newline"));
        };
        let lines: Vec<&str> = text.split('\n').collect();
        let [origin, size, root] = lines.as_slice() else {
            return Err(LogError::MalformedCheckpoint("the body is not exactly three lines (Signet writes no extension lines)"));
        };
        if origin.is_empty() {
            return Err(LogError::MalformedCheckpoint("empty origin"));
        }
        check_key_name(origin).map_err(|_| LogError::MalformedCheckpoint("the origin is not a valid key name"))?;
        Ok(Self { origin: (*origin).to_owned(), size: parse_size(size)?, root: parse_root(root)? })
    }
}

fn parse_size(text: &str) -> Result<u64, LogError> {
    let canonical = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) && (text == "0" || !text.starts_with('0'));
    if !canonical {
        return Err(LogError::MalformedCheckpoint("the size is not a decimal number without leading zeros"));
    }
    text.parse().map_err(|_| LogError::MalformedCheckpoint("the size does not fit in 64 bits"))
}

fn parse_root(text: &str) -> Result<Hash, LogError> {
    let bytes = STANDARD.decode(text).map_err(|_| LogError::MalformedCheckpoint("the root hash is not standard base64"))?;
    let root: Hash = bytes.try_into().map_err(|_| LogError::MalformedCheckpoint("the root hash is not 32 bytes"))?;
    if STANDARD.encode(root) != text {
        return Err(LogError::MalformedCheckpoint("the root hash is not canonical base64"));
    }
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::empty_root;

    #[test]
    fn body_round_trip() {
        let cp = Checkpoint::new("signet.example/log", 20852163, crate::leaf_hash(b"x")).unwrap();
        let body = cp.body();
        assert_eq!(Checkpoint::parse(&body).unwrap(), cp);
    }

    #[test]
    fn parses_the_spec_example() {
        let cp = Checkpoint::parse("example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n").unwrap();
        assert_eq!(cp.origin(), "example.com/behind-the-sofa");
        assert_eq!(cp.size(), 20852163);
    }

    #[test]
    fn rejects_malformed_bodies() {
        let root = STANDARD.encode(empty_root());
        for body in [
            format!("o\n0\n{root}"),
            format!("o\n0\n{root}\nextension\n"),
            format!("\n0\n{root}\n"),
            format!("o o\n0\n{root}\n"),
            format!("o\n00\n{root}\n"),
            format!("o\n01\n{root}\n"),
            format!("o\n-1\n{root}\n"),
            format!("o\n+1\n{root}\n"),
            format!("o\n 1\n{root}\n"),
            format!("o\n18446744073709551616\n{root}\n"),
            format!("o\n\n{root}\n"),
            "o\n1\nAAAA\n".to_owned(),
            format!("o\n1\n{}\n", root.trim_end_matches('=')),
            // Non-zero trailing bits: decodes to the same 32 bytes in lax decoders.
            format!("o\n1\n{}V=\n", &root[..42]),
            format!("o\n1\n{root}\r\n"),
            format!("o\n1\n\n{root}\n"),
        ] {
            assert!(Checkpoint::parse(&body).is_err(), "{body:?}");
        }
        assert!(Checkpoint::parse(&format!("o\n18446744073709551615\n{root}\n")).is_ok());
    }
}
