//! `signet init` and `signet unseal`: creating the master key, splitting it
//! into Shamir shares (blahaj), and recombining and verifying it.
//!
//! A share's text is
//!
//! ```text
//! signet-share-1:<seal id, 16 hex>:<index 1-255>:<share, base64url 43>:<tag, base64url 11>
//! ```
//!
//! The seal id names the authority (one `signet init`), so shares of another
//! authority are recognised as such. The [`SealConfig`] records, per index,
//! `SHA-256("signet-share-1" ‖ 0 ‖ seal id ‖ index ‖ share)`; the tag in the
//! text is the first 8 bytes of that digest, so a typing error is caught even
//! before the configuration is consulted, and a share that does not match
//! its recorded digest is named as corrupt by its index.
//!
//! The digests cover a whole 32-byte share, so with fewer than m shares they
//! give no shortcut: checking a guess still means guessing all 256 bits of the
//! master key. (A digest per byte would be fatal; do not split them.)

use super::error::SealError;
use super::master::{MASTER_KEY_LEN, MasterKey};
use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest::{Context, SHA256};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use zeroize::Zeroizing;

/// The issue's default: 5 shares, any 3 of which unseal.
pub const DEFAULT_SHARES: u8 = 5;
/// The issue's default threshold.
pub const DEFAULT_THRESHOLD: u8 = 3;

const SEAL_ID_LEN: usize = 8;
const TAG_LEN: usize = 8;
const SHARE_PREFIX: &str = "signet-share-1";
const CONFIG_FORMAT: &str = "signet-seal-config-1";
/// Longest share text we look at (real ones are about 90 characters).
const MAX_SHARE_TEXT: usize = 512;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N || !s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return None;
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn b64_array<const N: usize>(s: &str) -> Option<[u8; N]> {
    let v = URL_SAFE_NO_PAD.decode(s).ok()?;
    v.try_into().ok()
}

fn share_digest(seal_id: &[u8; SEAL_ID_LEN], index: u8, share: &[u8]) -> [u8; 32] {
    let mut ctx = Context::new(&SHA256);
    ctx.update(SHARE_PREFIX.as_bytes());
    ctx.update(&[0]);
    ctx.update(seal_id);
    ctx.update(&[index]);
    ctx.update(share);
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

// ---------------------------------------------------------------- config

/// How the master key comes back after a restart.
#[derive(Clone, PartialEq, Eq)]
enum Unseal {
    /// Shamir shares: `threshold` of `digests.len()`; `digests[i]` is share `i + 1`'s digest.
    Shares { threshold: u8, digests: Vec<[u8; 32]> },
    /// The zero-configuration quick start: a local unseal key file.
    LocalKeyFile,
}

/// The public record of one `signet init`: store it next to the keystore.
/// It holds no secret: the seal id, the key-check value, and for a
/// share-sealed authority n, m and each share's digest.
#[derive(Clone, PartialEq, Eq)]
pub struct SealConfig {
    seal_id: [u8; SEAL_ID_LEN],
    key_check: [u8; 32],
    unseal: Unseal,
}

impl fmt::Debug for SealConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("SealConfig");
        d.field("seal_id", &self.seal_id_hex());
        match &self.unseal {
            Unseal::Shares { threshold, digests } => d.field("threshold", threshold).field("shares", &digests.len()),
            Unseal::LocalKeyFile => d.field("unseal", &"local key file"),
        };
        d.finish()
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigWire {
    format: String,
    seal_id: String,
    key_check: String,
    /// Absent: the authority unseals from a local unseal key file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    shares: Option<SchemeWire>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SchemeWire {
    total: u8,
    threshold: u8,
    digests: Vec<String>,
}

impl SealConfig {
    /// The authority's seal id, 16 hex digits (public; printed on each share).
    pub fn seal_id_hex(&self) -> String {
        hex(&self.seal_id)
    }

    /// `Some((n, m))` for a share-sealed authority; `None` for the local-key quick start.
    pub fn share_scheme(&self) -> Option<(u8, u8)> {
        match &self.unseal {
            // INVARIANT: at most 255 digests (checked at construction).
            Unseal::Shares { threshold, digests } => Some((u8::try_from(digests.len()).unwrap_or(u8::MAX), *threshold)),
            Unseal::LocalKeyFile => None,
        }
    }

    /// Does the authority auto-unseal from a local unseal key file?
    pub fn uses_local_key_file(&self) -> bool {
        matches!(self.unseal, Unseal::LocalKeyFile)
    }

    /// Verify a master key against the key-check value.
    pub fn verify(&self, master: &MasterKey) -> Result<(), SealError> {
        if master.matches_check(&self.seal_id, &self.key_check)? { Ok(()) } else { Err(SealError::KeyCheckFailed) }
    }

    /// The JSON form to store (pretty-printed).
    pub fn to_json(&self) -> String {
        let shares = match &self.unseal {
            Unseal::Shares { threshold, digests } => Some(SchemeWire {
                total: u8::try_from(digests.len()).unwrap_or(u8::MAX),
                threshold: *threshold,
                digests: digests.iter().map(|d| URL_SAFE_NO_PAD.encode(d)).collect(),
            }),
            Unseal::LocalKeyFile => None,
        };
        let wire = ConfigWire {
            format: CONFIG_FORMAT.into(),
            seal_id: self.seal_id_hex(),
            key_check: URL_SAFE_NO_PAD.encode(self.key_check),
            shares,
        };
        // Serialising a struct of strings and integers cannot fail.
        serde_json::to_string_pretty(&wire).unwrap_or_default()
    }

    /// Parse a stored configuration; every field is checked.
    pub fn from_json(json: &str) -> Result<Self, SealError> {
        let bad = |what: &str| SealError::Config(what.to_string());
        let wire: ConfigWire = serde_json::from_str(json).map_err(|e| SealError::Config(format!("not a seal configuration: {e}")))?;
        if wire.format != CONFIG_FORMAT {
            return Err(SealError::Config(format!(
                "unsupported format `{}`, expected `{CONFIG_FORMAT}`",
                signet_model::names::shorten(&wire.format)
            )));
        }
        let seal_id = unhex::<SEAL_ID_LEN>(&wire.seal_id).ok_or_else(|| bad("`seal_id` must be 16 lower-case hex digits"))?;
        let key_check = b64_array::<32>(&wire.key_check).ok_or_else(|| bad("`key_check` must be 32 bytes of base64url"))?;
        let unseal = match wire.shares {
            None => Unseal::LocalKeyFile,
            Some(s) => {
                check_scheme(s.total, s.threshold).map_err(|e| SealError::Config(e.to_string()))?;
                if s.digests.len() != usize::from(s.total) {
                    return Err(bad("`shares.digests` must hold one digest per share"));
                }
                let digests = s
                    .digests
                    .iter()
                    .map(|d| b64_array::<32>(d).ok_or_else(|| bad("each share digest must be 32 bytes of base64url")))
                    .collect::<Result<Vec<_>, _>>()?;
                Unseal::Shares { threshold: s.threshold, digests }
            }
        };
        Ok(Self { seal_id, key_check, unseal })
    }
}

fn check_scheme(total: u8, threshold: u8) -> Result<(), SealError> {
    if total == 0 || threshold == 0 || threshold > total {
        return Err(SealError::InvalidScheme(format!(
            "{threshold} of {total}: need 1 <= threshold <= shares <= 255 (default {DEFAULT_THRESHOLD} of {DEFAULT_SHARES})"
        )));
    }
    Ok(())
}

fn new_seal_id() -> Result<[u8; SEAL_ID_LEN], SealError> {
    let mut id = [0u8; SEAL_ID_LEN];
    aws_lc_rs::rand::fill(&mut id).map_err(|_| SealError::Crypto("no randomness for the seal id"))?;
    Ok(id)
}

// ---------------------------------------------------------------- shares

/// One custodian's share of the master key. `Debug` shows only the index;
/// the text is zeroed on drop. There is deliberately no `Display`.
pub struct Share {
    index: u8,
    text: Zeroizing<String>,
}

impl fmt::Debug for Share {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Share").field("index", &self.index).field("text", &"[redacted]").finish()
    }
}

impl Share {
    /// The share's index, 1..=n (public: it is printed in the share).
    pub fn index(&self) -> u8 {
        self.index
    }

    /// The secret share text to hand to exactly one custodian.
    pub fn reveal(&self) -> &str {
        &self.text
    }
}

/// `signet init`: create a master key and split it into `total` shares,
/// any `threshold` of which recombine it. Returns the public configuration
/// to store and the shares to hand out; the master key itself is dropped
/// (zeroed) here: the authority starts sealed.
///
/// `threshold = 1` makes every share a copy of the master key.
pub fn init(total: u8, threshold: u8) -> Result<(SealConfig, Vec<Share>), SealError> {
    check_scheme(total, threshold)?;
    let master = MasterKey::generate()?;
    let seal_id = new_seal_id()?;
    let key_check = master.key_check(&seal_id)?;
    let mut digests = Vec::with_capacity(usize::from(total));
    let mut shares = Vec::with_capacity(usize::from(total));
    // blahaj draws the polynomial coefficients from rand's ThreadRng (a CSPRNG
    // seeded by the OS); x runs 1, 2, 3, ...
    for (expected, share) in (1..=total).zip(blahaj::Sharks(threshold).dealer(master.expose_bytes())) {
        let bytes = Zeroizing::new(Vec::from(&share));
        let (x, y) = match bytes.split_first() {
            Some((x, y)) if *x == expected && y.len() == MASTER_KEY_LEN => (*x, y),
            _ => return Err(SealError::Crypto("secret sharing produced an unexpected share")),
        };
        let digest = share_digest(&seal_id, x, y);
        let text = Zeroizing::new(format!(
            "{SHARE_PREFIX}:{}:{x}:{}:{}",
            hex(&seal_id),
            URL_SAFE_NO_PAD.encode(y),
            URL_SAFE_NO_PAD.encode(&digest[..TAG_LEN])
        ));
        digests.push(digest);
        shares.push(Share { index: x, text });
    }
    if shares.len() != usize::from(total) {
        return Err(SealError::Crypto("secret sharing produced too few shares"));
    }
    Ok((SealConfig { seal_id, key_check, unseal: Unseal::Shares { threshold, digests } }, shares))
}

/// The zero-configuration quick start (`signet serve` on an empty data
/// directory): a master key that is kept in a local unseal key file (see
/// [`write_local_unseal_key`](super::write_local_unseal_key)) instead of
/// being split. Returns the configuration to store and the key.
pub fn init_local() -> Result<(SealConfig, MasterKey), SealError> {
    let master = MasterKey::generate()?;
    let seal_id = new_seal_id()?;
    let key_check = master.key_check(&seal_id)?;
    Ok((SealConfig { seal_id, key_check, unseal: Unseal::LocalKeyFile }, master))
}

/// A share parsed from its text; not yet checked against a configuration.
struct ParsedShare {
    seal_id: [u8; SEAL_ID_LEN],
    index: u8,
    y: Zeroizing<Vec<u8>>,
    tag: [u8; TAG_LEN],
}

fn parse_share(text: &str) -> Result<ParsedShare, SealError> {
    let malformed = |why: &str| SealError::Malformed(why.to_string());
    let text = text.trim();
    if text.len() > MAX_SHARE_TEXT {
        return Err(malformed("the text is far too long to be a share"));
    }
    let mut fields = text.split(':');
    let (Some(prefix), Some(seal_id), Some(index), Some(y), Some(tag), None) =
        (fields.next(), fields.next(), fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(malformed("expected `signet-share-1:<seal id>:<index>:<share>:<tag>`"));
    };
    if prefix != SHARE_PREFIX {
        return Err(if prefix.starts_with("signet-share-") {
            malformed("unsupported share version (this build reads `signet-share-1`)")
        } else {
            malformed("it does not start with `signet-share-1:`")
        });
    }
    let seal_id = unhex::<SEAL_ID_LEN>(seal_id).ok_or_else(|| malformed("the seal id must be 16 lower-case hex digits"))?;
    let index = match index.parse::<u8>() {
        Ok(i) if i >= 1 && !index.starts_with('0') => i,
        _ => return Err(malformed("the index must be a number from 1 to 255")),
    };
    let y = Zeroizing::new(URL_SAFE_NO_PAD.decode(y).map_err(|_| malformed("the share part is not base64url"))?);
    if y.len() != MASTER_KEY_LEN {
        return Err(malformed("the share part has the wrong length"));
    }
    let tag = b64_array::<TAG_LEN>(tag).ok_or_else(|| malformed("the tag is not 8 bytes of base64url"))?;
    Ok(ParsedShare { seal_id, index, y, tag })
}

// ---------------------------------------------------------------- unsealer

/// Unseal progress: `have` distinct valid shares of the `need`ed threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub have: u8,
    pub need: u8,
}

impl Progress {
    pub fn is_complete(&self) -> bool {
        self.have >= self.need
    }
}

/// Collects shares one at a time (`signet unseal` may run once per
/// custodian) and recombines the master key once the threshold is reached.
/// Each share is checked as it arrives; a bad share is rejected with its
/// reason and leaves the shares collected so far untouched.
pub struct Unsealer {
    seal_id: [u8; SEAL_ID_LEN],
    threshold: u8,
    digests: Vec<[u8; 32]>,
    key_check: [u8; 32],
    shares: BTreeMap<u8, blahaj::Share>,
}

impl fmt::Debug for Unsealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Unsealer").field("seal_id", &hex(&self.seal_id)).field("progress", &self.progress()).finish()
    }
}

impl Unsealer {
    /// Start unsealing the authority described by `config`.
    pub fn new(config: &SealConfig) -> Result<Self, SealError> {
        match &config.unseal {
            Unseal::Shares { threshold, digests } => Ok(Self {
                seal_id: config.seal_id,
                threshold: *threshold,
                digests: digests.clone(),
                key_check: config.key_check,
                shares: BTreeMap::new(),
            }),
            Unseal::LocalKeyFile => Err(SealError::NotShareSealed),
        }
    }

    pub fn progress(&self) -> Progress {
        // INVARIANT: at most 255 distinct indexes fit in a u8-keyed map.
        Progress { have: u8::try_from(self.shares.len()).unwrap_or(u8::MAX), need: self.threshold }
    }

    /// Check one share and keep it. A share given twice counts once.
    pub fn add_share(&mut self, text: &str) -> Result<Progress, SealError> {
        let share = parse_share(text)?;
        if share.seal_id != self.seal_id {
            return Err(SealError::WrongAuthority { share_seal_id: hex(&share.seal_id), seal_id: hex(&self.seal_id) });
        }
        let Some(recorded) = self.digests.get(usize::from(share.index) - 1) else {
            return Err(SealError::Malformed(format!(
                "share index {} is out of range: this authority has {} shares",
                share.index,
                self.digests.len()
            )));
        };
        let digest = share_digest(&share.seal_id, share.index, &share.y);
        if verify_slices_are_equal(&digest[..TAG_LEN], &share.tag).is_err() || verify_slices_are_equal(&digest, recorded).is_err() {
            return Err(SealError::CorruptShare { index: share.index });
        }
        // A share already held (same index, hence same bytes) counts once.
        if let std::collections::btree_map::Entry::Vacant(slot) = self.shares.entry(share.index) {
            let mut bytes = Zeroizing::new(Vec::with_capacity(1 + MASTER_KEY_LEN));
            bytes.push(share.index);
            bytes.extend_from_slice(&share.y);
            slot.insert(blahaj::Share::try_from(&bytes[..]).map_err(|e| SealError::Malformed(e.to_string()))?);
        }
        Ok(self.progress())
    }

    /// Recombine the master key from the shares collected and verify it
    /// against the key-check value. Needs at least the threshold.
    pub fn unseal(&self) -> Result<MasterKey, SealError> {
        let progress = self.progress();
        if !progress.is_complete() {
            return Err(SealError::TooFewShares { have: progress.have, need: progress.need });
        }
        // Exactly `threshold` shares are enough; more add nothing.
        let chosen = self.shares.values().take(usize::from(self.threshold));
        let secret = Zeroizing::new(
            blahaj::Sharks(self.threshold)
                .recover(chosen)
                .map_err(|_| SealError::TooFewShares { have: progress.have, need: progress.need })?,
        );
        let master = MasterKey::from_slice(&secret).ok_or(SealError::KeyCheckFailed)?;
        if !master.matches_check(&self.seal_id, &self.key_check)? {
            return Err(SealError::KeyCheckFailed);
        }
        Ok(master)
    }
}
