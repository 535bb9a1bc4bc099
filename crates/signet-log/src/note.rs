//! C2SP signed notes with Ed25519 keys: where the log key is used.
//!
//! A signed note is a text ending in a newline, a blank line, then signature
//! lines `— <key name> <base64(key ID ‖ signature)>\n` (em dash U+2014,
//! space). The Ed25519 signature covers the text including its final
//! newline. The key ID is the first 4 bytes of
//! `SHA-256(key name ‖ "\n" ‖ 0x01 ‖ 32-byte public key)`, and a verifier key
//! is written `<name>+<hex key ID>+<base64(0x01 ‖ public key)>`.
//!
//! Opening a note follows the spec's trust rules: signatures by other keys
//! (another name *or* another key ID) are ignored; every signature by the
//! verifier's key must verify; at least one must be present.

use std::fmt;

use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::LogError;
use crate::checkpoint::Checkpoint;
use crate::hash::sha256;

/// The C2SP signature type byte of Ed25519.
const ED25519_TYPE: u8 = 0x01;
/// How a signature line starts: em dash, space.
const SIGNATURE_PREFIX: &str = "\u{2014} ";
/// At most this many signature lines (the spec requires accepting 16; Go's
/// reference implementation stops at 100).
const MAX_SIGNATURES: usize = 100;

/// Check a C2SP key name: non-empty, no Unicode space, no `+`, and (our own
/// rule, as a name is also a checkpoint line) no control character.
pub(crate) fn check_key_name(name: &str) -> Result<(), LogError> {
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c == '+' || c.is_control()) {
        return Err(LogError::InvalidKeyName(name.to_owned()));
    }
    Ok(())
}

/// `SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4]`.
fn key_id(name: &str, public_key: &[u8; 32]) -> [u8; 4] {
    let mut input = Vec::with_capacity(name.len() + 34);
    input.extend_from_slice(name.as_bytes());
    input.push(b'\n');
    input.push(ED25519_TYPE);
    input.extend_from_slice(public_key);
    let hash = sha256(&input);
    [hash[0], hash[1], hash[2], hash[3]]
}

/// A PKCS#8 document holding a private key. Its `Debug` prints
/// `[redacted]`, and its bytes are overwritten with zeros on drop.
pub struct Pkcs8Der(Vec<u8>);

impl Pkcs8Der {
    /// The DER bytes, to store in a sealed key store.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Pkcs8Der {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pkcs8Der([redacted])")
    }
}

impl Drop for Pkcs8Der {
    fn drop(&mut self) {
        self.0.fill(0);
        // Keep the zeroing from being optimised away as a dead store.
        std::hint::black_box(&mut self.0);
    }
}

/// The log's Ed25519 signing key.
pub struct NoteSigner {
    key: Ed25519KeyPair,
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoteSigner").field("public_key", &STANDARD.encode(self.public_key())).field("private_key", &"[redacted]").finish()
    }
}

impl NoteSigner {
    /// A fresh random key.
    pub fn generate() -> Result<Self, LogError> {
        let key = Ed25519KeyPair::generate().map_err(|_| LogError::SigningKey("key generation failed"))?;
        Ok(Self { key })
    }

    /// Load a key from PKCS#8 (v1 or v2) DER.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, LogError> {
        let key = Ed25519KeyPair::from_pkcs8(der).map_err(|_| LogError::SigningKey("not an Ed25519 PKCS#8 private key"))?;
        Ok(Self { key })
    }

    /// The key as PKCS#8 v1 DER, for storage.
    pub fn to_pkcs8(&self) -> Result<Pkcs8Der, LogError> {
        let doc = self.key.to_pkcs8v1().map_err(|_| LogError::SigningKey("cannot encode the private key"))?;
        Ok(Pkcs8Der(doc.as_ref().to_vec()))
    }

    /// The 32-byte Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(self.key.public_key().as_ref());
        out
    }

    /// The verifier for this key under `name`.
    pub fn verifier(&self, name: &str) -> Result<Verifier, LogError> {
        Verifier::new(name, self.public_key())
    }

    /// The verifier key string `<name>+<hex key ID>+<base64(0x01 ‖ key)>` to
    /// publish; the log's key name is its origin.
    pub fn verifier_key(&self, name: &str) -> Result<String, LogError> {
        Ok(self.verifier(name)?.to_string())
    }

    /// Sign a checkpoint under its origin as key name; returns the full note.
    pub fn sign_checkpoint(&self, checkpoint: &Checkpoint) -> Result<String, LogError> {
        self.sign_note(checkpoint.origin(), &checkpoint.body())
    }

    /// Sign any note text under `key_name`: the text must be non-empty, end
    /// with a newline and hold no control character other than newline.
    pub fn sign_note(&self, key_name: &str, text: &str) -> Result<String, LogError> {
        check_key_name(key_name)?;
        if !text.ends_with('\n') {
            return Err(LogError::MalformedNote("the text does not end with a newline"));
        }
        check_no_control_characters(text)?;
        let signature = self.key.try_sign(text.as_bytes()).map_err(|_| LogError::SigningKey("signing failed"))?;
        let mut payload = key_id(key_name, &self.public_key()).to_vec();
        payload.extend_from_slice(signature.as_ref());
        Ok(format!("{text}\n{SIGNATURE_PREFIX}{key_name} {}\n", STANDARD.encode(payload)))
    }
}

/// A trusted log key: name, key ID and Ed25519 public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verifier {
    name: String,
    key_id: [u8; 4],
    public_key: [u8; 32],
}

impl Verifier {
    /// The verifier of `public_key` under `name`.
    pub fn new(name: &str, public_key: [u8; 32]) -> Result<Self, LogError> {
        check_key_name(name)?;
        Ok(Self { name: name.to_owned(), key_id: key_id(name, &public_key), public_key })
    }

    /// Parse a verifier key `<name>+<8 lower-case hex>+<base64(0x01 ‖ key)>`
    /// strictly: canonical base64, Ed25519 type, and a key ID that matches
    /// the name and key.
    pub fn parse(vkey: &str) -> Result<Self, LogError> {
        let mut parts = vkey.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(key_b64)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(LogError::MalformedVerifierKey("expected `<name>+<key id>+<key>`"));
        };
        check_key_name(name).map_err(|_| LogError::MalformedVerifierKey("invalid key name"))?;
        let id_ok = id_hex.len() == 8 && id_hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !id_ok {
            return Err(LogError::MalformedVerifierKey("the key ID is not 8 lower-case hex digits"));
        }
        let key = decode_canonical(key_b64).ok_or(LogError::MalformedVerifierKey("the key is not canonical standard base64"))?;
        let Some((&key_type, public_key)) = key.split_first() else {
            return Err(LogError::MalformedVerifierKey("empty key"));
        };
        if key_type != ED25519_TYPE {
            return Err(LogError::MalformedVerifierKey("not an Ed25519 key (type 0x01)"));
        }
        let public_key: [u8; 32] = public_key.try_into().map_err(|_| LogError::MalformedVerifierKey("an Ed25519 key is 32 bytes"))?;
        let verifier = Self::new(name, public_key)?;
        if hex4(&verifier.key_id) != id_hex {
            return Err(LogError::MalformedVerifierKey("the key ID does not match the name and key"));
        }
        Ok(verifier)
    }

    /// The key name (the log's origin).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 4-byte key ID.
    pub fn key_id(&self) -> [u8; 4] {
        self.key_id
    }

    /// The Ed25519 public key.
    pub fn public_key(&self) -> &[u8; 32] {
        &self.public_key
    }
}

/// The verifier key string.
impl fmt::Display for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut key = vec![ED25519_TYPE];
        key.extend_from_slice(&self.public_key);
        write!(f, "{}+{}+{}", self.name, hex4(&self.key_id), STANDARD.encode(key))
    }
}

fn hex4(id: &[u8; 4]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_canonical(text: &str) -> Option<Vec<u8>> {
    let bytes = STANDARD.decode(text).ok()?;
    (STANDARD.encode(&bytes) == text).then_some(bytes)
}

fn check_no_control_characters(text: &str) -> Result<(), LogError> {
    if text.chars().any(|c| c < ' ' && c != '\n') {
        return Err(LogError::MalformedNote("control character other than newline"));
    }
    Ok(())
}

/// One syntactically valid signature line.
pub(crate) struct SignatureLine<'a> {
    pub(crate) name: &'a str,
    pub(crate) key_id: [u8; 4],
    pub(crate) signature: Vec<u8>,
}

/// Split a note into its text and signature lines, checking the syntax only.
pub(crate) fn split_note(note: &str) -> Result<(&str, Vec<SignatureLine<'_>>), LogError> {
    check_no_control_characters(note)?;
    let Some(blank) = note.rfind("\n\n") else {
        return Err(LogError::MalformedNote("no blank line before the signatures"));
    };
    let (text, signatures) = (&note[..=blank], &note[blank + 2..]);
    let Some(signatures) = signatures.strip_suffix('\n') else {
        return Err(LogError::MalformedNote("the note does not end with a newline after a signature line"));
    };
    let lines: Vec<&str> = signatures.split('\n').collect();
    if lines.len() > MAX_SIGNATURES {
        return Err(LogError::MalformedNote("more than 100 signature lines"));
    }
    let parsed = lines.into_iter().map(parse_signature_line).collect::<Result<Vec<_>, _>>()?;
    Ok((text, parsed))
}

fn parse_signature_line(line: &str) -> Result<SignatureLine<'_>, LogError> {
    let Some(rest) = line.strip_prefix(SIGNATURE_PREFIX) else {
        return Err(LogError::MalformedNote("a signature line does not start with an em dash and a space"));
    };
    let Some((name, encoded)) = rest.split_once(' ') else {
        return Err(LogError::MalformedNote("a signature line has no signature"));
    };
    check_key_name(name).map_err(|_| LogError::MalformedNote("a signature line has an invalid key name"))?;
    let payload = decode_canonical(encoded).ok_or(LogError::MalformedNote("a signature is not canonical standard base64"))?;
    if payload.len() < 5 {
        return Err(LogError::MalformedNote("a signature is shorter than a key ID and one byte"));
    }
    let key_id = [payload[0], payload[1], payload[2], payload[3]];
    Ok(SignatureLine { name, key_id, signature: payload[4..].to_vec() })
}

/// Verify a signed note with `verifier` and return its text (with its final
/// newline). Fails on malformed notes, on any failing signature by the
/// verifier's key, and when no signature by that key is present.
pub fn open_note<'a>(note: &'a str, verifier: &Verifier) -> Result<&'a str, LogError> {
    let (text, signatures) = split_note(note)?;
    let key = UnparsedPublicKey::new(&ED25519, verifier.public_key);
    let mut verified = false;
    for sig in signatures.iter().filter(|s| s.name == verifier.name && s.key_id == verifier.key_id) {
        key.verify(text.as_bytes(), &sig.signature).map_err(|_| LogError::BadSignature(verifier.name.clone()))?;
        verified = true;
    }
    if !verified {
        return Err(LogError::UnknownKey(verifier.name.clone()));
    }
    Ok(text)
}

/// Verify a signed checkpoint with `verifier`: the note must verify, its
/// text must be a well-formed checkpoint, and its origin must be the key name.
pub fn open_checkpoint(note: &str, verifier: &Verifier) -> Result<Checkpoint, LogError> {
    let checkpoint = Checkpoint::parse(open_note(note, verifier)?)?;
    if checkpoint.origin() != verifier.name() {
        return Err(LogError::OriginMismatch { origin: checkpoint.origin().to_owned(), key_name: verifier.name.clone() });
    }
    Ok(checkpoint)
}

/// Parse a checkpoint note's body without checking any signature (to name
/// export files; never to trust it).
pub(crate) fn unverified_checkpoint(note: &str) -> Result<Checkpoint, LogError> {
    let (text, _) = split_note(note)?;
    Checkpoint::parse(text)
}
