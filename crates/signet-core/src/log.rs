//! The tamper-evident log's entries: what exactly is hashed.
//!
//! Every event is one log entry. Its bytes are compact JSON with a fixed
//! field order, produced once, when the event is appended, and stored as
//! they are: verification hashes the stored bytes, it never re-serialises.
//!
//! | field | meaning |
//! |---|---|
//! | `v` | entry format version, `1` |
//! | `index` | the entry's leaf index in the Merkle tree (0, 1, 2, … without gaps) |
//! | `prev` | hex of the previous entry's leaf hash (64 zeros for entry 0): a hash chain, so an offline verifier names the first entry that was changed, dropped or moved, even past the last checkpoint |
//! | `time` | unix seconds |
//! | `type` | the event type (`credential.issued`, …) |
//! | `actor` | who caused it (`token:tok_…`, `system`) |
//! | `subject_id`, `request_id`, `credential_id` | what it concerns, or null |
//! | `reason` | why (denials), or null |
//! | `details` | type-specific facts; hashes and public data only, never key material or secrets |
//! | `trace_id` | the HTTP request id, for correlation with the server log |

use serde::{Deserialize, Serialize};
use signet_model::event::{Event, EventType, NewEvent};
use signet_model::ids::{CredentialId, RequestId, SubjectId};
use time::OffsetDateTime;

/// A leaf hash, SHA-256 (RFC 9162).
pub type Hash = [u8; 32];

#[derive(Serialize)]
struct EntryV1<'a> {
    v: u8,
    index: i64,
    prev: String,
    time: i64,
    #[serde(rename = "type")]
    event_type: &'static str,
    actor: &'a str,
    subject_id: Option<&'a str>,
    request_id: Option<&'a str>,
    credential_id: Option<&'a str>,
    reason: Option<&'a str>,
    details: &'a serde_json::Value,
    trace_id: Option<&'a str>,
}

/// The canonical bytes of the entry at `index` recording `event`, chained
/// to the entry before it by `prev_leaf_hash`.
pub fn entry_bytes(index: i64, prev_leaf_hash: &Hash, event: &NewEvent) -> Vec<u8> {
    let entry = EntryV1 {
        v: 1,
        index,
        prev: signet_log::to_hex(prev_leaf_hash),
        time: event.time.unix_timestamp(),
        event_type: event.event_type.as_str(),
        actor: &event.actor,
        subject_id: event.subject_id.as_ref().map(|v| v.as_str()),
        request_id: event.request_id.as_ref().map(|v| v.as_str()),
        credential_id: event.credential_id.as_ref().map(|v| v.as_str()),
        reason: event.reason.as_deref(),
        details: &event.details,
        trace_id: event.trace_id.as_deref(),
    };
    // Serialising strings, integers and a JSON value cannot fail; were it to,
    // the empty entry would break the hash chain and fail verification loudly.
    serde_json::to_vec(&entry).unwrap_or_default()
}

/// The leaf hash of entry bytes: SHA-256(0x00 ‖ entry).
pub fn leaf_hash(entry: &[u8]) -> Hash {
    signet_log::leaf_hash(entry)
}

/// An entry read back: what [`entry_bytes`] was given.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedEntry {
    pub index: i64,
    /// The leaf hash of the entry before it (64 zeros for entry 0).
    pub prev: Hash,
    pub event: NewEvent,
}

impl DecodedEntry {
    /// The event as every view of the log shows it.
    pub fn into_event(self) -> Event {
        let e = self.event;
        Event {
            index: self.index,
            event_type: e.event_type,
            actor: e.actor,
            subject_id: e.subject_id,
            request_id: e.request_id,
            credential_id: e.credential_id,
            reason: e.reason,
            details: e.details,
            trace_id: e.trace_id,
            time: e.time,
        }
    }
}

/// Entry bytes that [`decode_entry`] refuses: not what [`entry_bytes`] writes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed log entry: {0}")]
pub struct MalformedEntry(String);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OwnedEntryV1 {
    v: u8,
    index: i64,
    prev: String,
    time: i64,
    #[serde(rename = "type")]
    event_type: String,
    actor: String,
    subject_id: Option<String>,
    request_id: Option<String>,
    credential_id: Option<String>,
    reason: Option<String>,
    details: serde_json::Value,
    trace_id: Option<String>,
}

/// The inverse of [`entry_bytes`]: the index, the chain link and the event
/// an entry records. Only bytes that [`entry_bytes`] would write for them are
/// accepted (they are encoded again and compared), so every view built from
/// a decoded entry shows exactly what was hashed into the tree.
pub fn decode_entry(entry: &[u8]) -> Result<DecodedEntry, MalformedEntry> {
    let bad = |why: String| MalformedEntry(why);
    let raw: OwnedEntryV1 = serde_json::from_slice(entry).map_err(|e| bad(e.to_string()))?;
    if raw.v != 1 {
        return Err(bad(format!("format version `{}` is not 1", raw.v)));
    }
    let prev = signet_log::from_hex(raw.prev.as_bytes()).ok_or_else(|| bad("`prev` is not 64 lower-case hex digits".into()))?;
    let field = |e: signet_model::FieldError| bad(e.to_string());
    let event = NewEvent {
        event_type: EventType::parse("type", &raw.event_type).map_err(field)?,
        actor: raw.actor,
        subject_id: raw.subject_id.as_deref().map(|v| SubjectId::parse("subject_id", v)).transpose().map_err(field)?,
        request_id: raw.request_id.as_deref().map(|v| RequestId::parse("request_id", v)).transpose().map_err(field)?,
        credential_id: raw.credential_id.as_deref().map(|v| CredentialId::parse("credential_id", v)).transpose().map_err(field)?,
        reason: raw.reason,
        details: raw.details,
        trace_id: raw.trace_id,
        time: OffsetDateTime::from_unix_timestamp(raw.time).map_err(|e| bad(format!("`time`: {e}")))?,
    };
    if entry_bytes(raw.index, &prev, &event) != entry {
        return Err(bad("the bytes are not the canonical encoding of their fields".into()));
    }
    Ok(DecodedEntry { index: raw.index, prev, event })
}

// ---------------------------------------------------------------- the sequencer

use crate::error::CoreError;
use crate::ports::{AuthoritySigner, Store, StoredCheckpoint, TreeGrowth};
use signet_log::{Checkpoint, CompactRange, LogError, NodeSource, Verifier};
use std::collections::HashMap;
use std::sync::Arc;

/// The log's signing key (Ed25519, held by the KeyStore) and its origin,
/// the name every checkpoint and the verifier key carry.
pub struct LogKey {
    signer: Arc<dyn AuthoritySigner>,
    verifier: Verifier,
}

impl std::fmt::Debug for LogKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LogKey({})", self.verifier)
    }
}

/// DER SubjectPublicKeyInfo of an Ed25519 key: a fixed 12-byte header, then the key.
const ED25519_SPKI_HEADER: [u8; 12] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

impl LogKey {
    pub fn new(signer: Arc<dyn AuthoritySigner>, origin: &str) -> Result<Self, CoreError> {
        let spki = signer.public_key_spki_der();
        let key: [u8; 32] = match spki.strip_prefix(&ED25519_SPKI_HEADER[..]) {
            Some(k) => k.try_into().map_err(|_| CoreError::Internal("the log key is not an Ed25519 key".into()))?,
            None => return Err(CoreError::Internal("the log key is not an Ed25519 key".into())),
        };
        let verifier = Verifier::new(origin, key).map_err(|e| CoreError::Internal(format!("log origin `{origin}`: {e}")))?;
        Ok(Self { signer, verifier })
    }

    pub fn origin(&self) -> &str {
        self.verifier.name()
    }

    /// The C2SP verifier key (`origin+keyid+base64`), what `DATA/log.pub` and `/log/key` hold.
    pub fn verifier_key(&self) -> String {
        self.verifier.to_string()
    }

    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// Sign a checkpoint: the C2SP signed note.
    pub fn sign_checkpoint(&self, size: u64, root: &Hash) -> Result<String, CoreError> {
        let checkpoint = Checkpoint::new(self.origin(), size, *root).map_err(log_error)?;
        let text = checkpoint.body();
        let signature = self.signer.sign(text.as_bytes()).map_err(|e| CoreError::Internal(format!("signing the checkpoint: {e}")))?;
        let mut payload = self.verifier.key_id().to_vec();
        payload.extend_from_slice(&signature);
        use base64::Engine as _;
        let note = format!("{text}\n\u{2014} {} {}\n", self.origin(), base64::engine::general_purpose::STANDARD.encode(payload));
        // Verify what we signed before anyone sees it.
        signet_log::open_checkpoint(&note, &self.verifier).map_err(log_error)?;
        Ok(note)
    }
}

fn log_error(e: LogError) -> CoreError {
    CoreError::Internal(format!("log: {e}"))
}

/// Complete nodes fetched from the store for one computation.
struct Prefetched(HashMap<(u8, u64), Hash>);

impl NodeSource for Prefetched {
    fn node(&self, level: u8, index: u64) -> Result<Hash, LogError> {
        self.0.get(&(level, index)).copied().ok_or(LogError::MissingNode { level, index })
    }
}

/// The complete subtrees that make up a tree of `size` leaves (its right edge).
fn edge_positions(size: u64, out: &mut Vec<(u8, u64)>) {
    let mut start = 0u64;
    for level in (0..64u8).rev() {
        if size & (1 << level) != 0 {
            out.push((level, start >> level));
            start += 1 << level;
        }
    }
}

/// The siblings along the path from leaf `index` to the root of a tree of `size`.
fn path_positions(index: u64, size: u64, out: &mut Vec<(u8, u64)>) {
    for level in 0..64u8 {
        let sibling = (index >> level) ^ 1;
        match sibling.checked_add(1).and_then(|s| s.checked_shl(u32::from(level))) {
            Some(end) if end <= size => out.push((level, sibling)),
            _ => {}
        }
        if size >> level == 0 {
            break;
        }
    }
}

async fn prefetch(store: &dyn Store, positions: Vec<(u8, u64)>) -> Result<Prefetched, CoreError> {
    let mut positions = positions;
    positions.sort_unstable();
    positions.dedup();
    let nodes = store.log_nodes(&positions).await?;
    Ok(Prefetched(nodes.into_iter().map(|(l, i, h)| ((l, i), h)).collect()))
}

/// Most entries integrated in one step; a step is one transaction.
pub const MAX_GROWTH: u32 = 50_000;

/// One sequencer step: integrate every entry appended since the last step
/// into the tree (storing the newly completed nodes), sign a checkpoint for
/// the new size, and commit both, unless another process grew the tree
/// first. `Ok(None)`: nothing to do.
pub async fn grow_tree(store: &dyn Store, key: &LogKey, now: OffsetDateTime) -> Result<Option<StoredCheckpoint>, CoreError> {
    let (size, _) = store.log_tree().await?;
    let entries = store.log_entries(i64::try_from(size).unwrap_or(i64::MAX), MAX_GROWTH).await?;
    if entries.is_empty() {
        return Ok(None);
    }
    let mut positions = Vec::new();
    edge_positions(size, &mut positions);
    if size > 0 {
        positions.push((0, size - 1));
    }
    let stored = prefetch(store, positions).await?;
    // A stored node gone missing was removed around the authority.
    let missing = |e: LogError| CoreError::LogIntegrity(format!("the stored tree of size {size}: {e}"));
    let mut range = CompactRange::new(size, &stored).map_err(missing)?;
    // The first new entry is chained to the tree's last leaf.
    let mut prev = match size {
        0 => [0u8; 32],
        _ => stored.node(0, size - 1).map_err(missing)?,
    };
    let mut nodes = Vec::with_capacity(entries.len() * 2);
    for e in &entries {
        // Never integrate (and sign) an entry that is not the next link of
        // the chain: index without gaps, hash of its bytes, `prev`.
        prev = crate::integrity::check_link(e, range.size(), &prev)?;
        range.append_with(prev, |l, i, h| nodes.push((l, i, *h)));
    }
    let root = range.root();
    let to_size = range.size();
    let checkpoint = StoredCheckpoint { tree_size: to_size, root_hash: root, note: key.sign_checkpoint(to_size, &root)?, created_at: now };
    let growth = TreeGrowth { from_size: size, to_size, root_hash: root, nodes, checkpoint };
    if store.grow_log_tree(&growth).await? { Ok(Some(growth.checkpoint)) } else { Ok(None) }
}

/// The root of the stored tree at `size` (≤ the grown tree), from its right edge.
pub async fn root_at(store: &dyn Store, size: u64) -> Result<Hash, CoreError> {
    let mut positions = Vec::new();
    edge_positions(size, &mut positions);
    let nodes = prefetch(store, positions).await?;
    signet_log::root_at(size, &nodes).map_err(log_error)
}

/// An inclusion proof of leaf `index` in the tree of `size` (≤ the grown tree).
pub async fn inclusion_proof(store: &dyn Store, index: u64, size: u64) -> Result<Vec<Hash>, CoreError> {
    let mut positions = Vec::new();
    path_positions(index, size, &mut positions);
    edge_positions(size, &mut positions);
    let nodes = prefetch(store, positions).await?;
    signet_log::inclusion_proof(index, size, &nodes).map_err(log_error)
}

/// A consistency proof between tree sizes `m` ≤ `n` (≤ the grown tree).
pub async fn consistency_proof(store: &dyn Store, m: u64, n: u64) -> Result<Vec<Hash>, CoreError> {
    let mut positions = Vec::new();
    if m > 0 {
        path_positions(m - 1, n, &mut positions);
        path_positions(m - 1, m, &mut positions);
        if m < n {
            path_positions(m, n, &mut positions);
        }
        edge_positions(m, &mut positions);
    }
    edge_positions(n, &mut positions);
    let nodes = prefetch(store, positions).await?;
    signet_log::consistency_proof(m, n, &nodes).map_err(log_error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use signet_model::event::EventType;

    /// The positions prefetched for a proof are all the proof algorithms read.
    #[test]
    fn prefetched_positions_suffice_for_every_proof() {
        let mut tree = signet_log::MemoryTree::new();
        let only = |positions: Vec<(u8, u64)>, tree: &signet_log::MemoryTree| {
            Prefetched(positions.into_iter().filter_map(|(l, i)| tree.node(l, i).ok().map(|h| ((l, i), h))).collect())
        };
        for n in 1..=130u64 {
            tree.append(leaf_hash(&n.to_be_bytes()));
            for i in 0..n {
                let mut pos = Vec::new();
                path_positions(i, n, &mut pos);
                edge_positions(n, &mut pos);
                let got = signet_log::inclusion_proof(i, n, &only(pos, &tree)).unwrap();
                assert_eq!(got, signet_log::inclusion_proof(i, n, &tree).unwrap(), "inclusion {i} in {n}");
            }
            for m in 1..=n {
                let mut pos = Vec::new();
                path_positions(m - 1, n, &mut pos);
                path_positions(m - 1, m, &mut pos);
                if m < n {
                    path_positions(m, n, &mut pos);
                }
                edge_positions(m, &mut pos);
                edge_positions(n, &mut pos);
                let got = signet_log::consistency_proof(m, n, &only(pos, &tree)).unwrap();
                assert_eq!(got, signet_log::consistency_proof(m, n, &tree).unwrap(), "consistency {m} to {n}");
            }
        }
    }

    #[test]
    fn entries_are_chained_and_stable() {
        let ev = NewEvent {
            event_type: EventType::SubjectCreated,
            actor: "system".into(),
            subject_id: None,
            request_id: None,
            credential_id: None,
            reason: None,
            details: serde_json::json!({"name": "web"}),
            trace_id: Some("r1".into()),
            time: time::macros::datetime!(2026-11-23 12:00 UTC),
        };
        let e0 = entry_bytes(0, &[0; 32], &ev);
        assert_eq!(
            String::from_utf8(e0.clone()).unwrap(),
            format!(
                r#"{{"v":1,"index":0,"prev":"{}","time":1795435200,"type":"subject.created","actor":"system","subject_id":null,"request_id":null,"credential_id":null,"reason":null,"details":{{"name":"web"}},"trace_id":"r1"}}"#,
                "0".repeat(64)
            )
        );
        let e1 = entry_bytes(1, &leaf_hash(&e0), &ev);
        assert!(String::from_utf8(e1.clone()).unwrap().contains(&signet_log::to_hex(&leaf_hash(&e0))));

        // The decoder is the inverse of the encoder.
        let back = decode_entry(&e1).unwrap();
        assert_eq!((back.index, back.prev, &back.event), (1, leaf_hash(&e0), &ev));
        // Only the canonical bytes: the same fields spaced, reordered, with an
        // unknown or duplicated field, or another version, are refused.
        let text = String::from_utf8(e1).unwrap();
        for bad in [
            text.replace("\"actor\":", "\"actor\": "),
            text.replace("{\"v\":1,\"index\":1,", "{\"index\":1,\"v\":1,"),
            text.replace("\"trace_id\":\"r1\"}", "\"trace_id\":\"r1\",\"extra\":1}"),
            text.replace("\"actor\":\"system\"", "\"actor\":\"system\",\"actor\":\"op_x\""),
            text.replace("{\"v\":1,", "{\"v\":2,"),
            text.replace("\"type\":\"subject.created\"", "\"type\":\"subject.eaten\""),
        ] {
            assert_ne!(bad, text);
            assert!(decode_entry(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
