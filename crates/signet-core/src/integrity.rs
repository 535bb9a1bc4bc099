//! The log's integrity: what is verified when, and what the authority does
//! when the log fails verification.
//!
//! | when | what | cost |
//! |---|---|---|
//! | every start ([`verify_head`]) | the latest checkpoint's signature (log key), the stored tree's root at its size, the last entry it covers (inclusion proof), and every entry after it (index, leaf hash, `prev` chain) | O(entries not yet checkpointed) |
//! | every sequencer step (`log::grow_tree`) | each entry it integrates: index, leaf hash, `prev` chain from the tree's last leaf | O(new entries) |
//! | in the background ([`LogAuditor`]) | every entry up to the latest checkpoint: leaf hash, the tree's stored leaf, `prev` chain, index columns against the entry, and the root recomputed from the entries against the signed one | [`AUDIT_BATCH`] entries a step, a pass at most every [`AUDIT_PASS_INTERVAL`] |
//! | every read of an event (the store) | the entry hashes to its stored leaf hash and to the tree's leaf; the index columns equal the values it records | O(events read) |
//!
//! Whoever finds a failure calls [`Authority::log_integrity_failed`]: from
//! then on [`LogIntegrity::require`] refuses (503 `log-integrity`) every
//! issuance and every other change, the server reports not ready, the
//! sequencer stops signing checkpoints, and one `log.integrity_failed` event
//! is recorded (if the log can still be appended to). The state is kept until
//! the server restarts, which verifies again.

use crate::Authority;
use crate::error::CoreError;
use crate::log::{Hash, LogKey, decode_entry, leaf_hash};
use crate::ports::{LogEntry, Store};
use signet_model::event::{EventType, NewEvent};
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Entries the background audit reads in one step.
pub const AUDIT_BATCH: u32 = 2_000;
/// A new audit pass (from entry 0) starts at most this often.
pub const AUDIT_PASS_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);
/// Entries read per page when checking the entries after the latest checkpoint.
const HEAD_PAGE: u32 = 10_000;

/// Whether the log verified so far: ok, or failed with the first reason.
#[derive(Debug, Default)]
pub struct LogIntegrity {
    failure: RwLock<Option<String>>,
    detections: AtomicU64,
}

impl LogIntegrity {
    /// The first failure found, if any.
    pub fn failure(&self) -> Option<String> {
        match self.failure.read() {
            Ok(f) => f.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// How many times a failure was found (by a read, the sequencer, the audit).
    pub fn detections(&self) -> u64 {
        self.detections.load(Ordering::Relaxed)
    }

    /// `Ok` while the log verifies; else [`CoreError::LogHalted`] with the reason.
    pub fn require(&self) -> Result<(), CoreError> {
        match self.failure() {
            None => Ok(()),
            Some(reason) => Err(CoreError::LogHalted(reason)),
        }
    }

    /// Record a failure; `true` when it is the first.
    fn trip(&self, reason: &str) -> bool {
        self.detections.fetch_add(1, Ordering::Relaxed);
        let mut f = match self.failure.write() {
            Ok(f) => f,
            Err(p) => p.into_inner(),
        };
        if f.is_some() {
            return false;
        }
        *f = Some(reason.to_string());
        true
    }
}

impl Authority {
    pub fn log_integrity(&self) -> &LogIntegrity {
        &self.log_integrity
    }

    /// The log failed verification (`reason`): stop issuing and recording
    /// (see the module documentation). The first time, an error is traced and
    /// a `log.integrity_failed` event is appended if the log still takes one.
    pub async fn log_integrity_failed(&self, reason: &str) {
        if !self.log_integrity.trip(reason) {
            return;
        }
        tracing::error!(
            reason,
            "the log fails verification: issuance and every change are refused until it is repaired and the server restarted"
        );
        let event = NewEvent {
            event_type: EventType::LogIntegrityFailed,
            actor: "system".into(),
            subject_id: None,
            request_id: None,
            credential_id: None,
            reason: Some(reason.to_string()),
            details: serde_json::json!({ "severity": "high" }),
            trace_id: None,
            time: self.now(),
        };
        if let Err(e) = self.store().record_events(&[event]).await {
            tracing::error!(error = %e, "cannot record the log's integrity failure in the log");
        }
    }

    /// `result`, after tripping the integrity alarm if it is a log entry
    /// that failed verification on read.
    pub async fn checked<T>(&self, result: Result<T, CoreError>) -> Result<T, CoreError> {
        if let Err(CoreError::LogIntegrity(reason)) = &result {
            self.log_integrity_failed(reason).await;
        }
        result
    }
}

fn tampered(reason: String) -> CoreError {
    CoreError::LogIntegrity(reason)
}

/// Check one stored entry as the `index`-th entry of the log, chained to the
/// entry before it by `prev`: its index, its leaf hash, its `prev`. Returns
/// its leaf hash.
pub(crate) fn check_link(e: &LogEntry, index: u64, prev: &Hash) -> Result<Hash, CoreError> {
    if u64::try_from(e.index).ok() != Some(index) {
        return Err(tampered(format!("log entry {index} is missing: entry {} was found in its place", e.index)));
    }
    let leaf = leaf_hash(&e.entry);
    if leaf != e.leaf_hash {
        return Err(tampered(format!("log entry {index} does not hash to the leaf hash stored beside it")));
    }
    let decoded = decode_entry(&e.entry).map_err(|m| tampered(format!("log entry {index}: {m}")))?;
    if decoded.index != e.index {
        return Err(tampered(format!("log entry {index} records `index` {}", decoded.index)));
    }
    if decoded.prev != *prev {
        return Err(tampered(format!("log entry {index} or the one before it was changed: its `prev` is not that entry's leaf hash")));
    }
    Ok(leaf)
}

/// The latest checkpoint, its signature verified with the log key: `(size, root)`.
async fn latest_signed(store: &dyn Store, key: &LogKey) -> Result<Option<(u64, Hash)>, CoreError> {
    let Some(cp) = store.latest_checkpoint().await? else { return Ok(None) };
    let opened = signet_log::open_checkpoint(&cp.note, key.verifier())
        .map_err(|e| tampered(format!("the latest checkpoint (size {}) does not verify with the log key: {e}", cp.tree_size)))?;
    if opened.size() != cp.tree_size || *opened.root() != cp.root_hash {
        return Err(tampered(format!("the stored size and root of checkpoint {} differ from what it signs", cp.tree_size)));
    }
    Ok(Some((cp.tree_size, cp.root_hash)))
}

/// The start's check: the stored tree against the latest signed checkpoint,
/// then the entries after it. Its cost grows with the entries not yet
/// checkpointed, not with the log; [`LogAuditor`] checks the older entries.
/// A failure is [`CoreError::LogIntegrity`]; other errors are the store's.
pub async fn verify_head(store: &dyn Store, key: &LogKey) -> Result<(), CoreError> {
    let latest = latest_signed(store, key).await?;
    let (tree_size, _) = store.log_tree().await?;
    let (mut next, mut prev) = match latest {
        None if tree_size != 0 => return Err(tampered(format!("the tree holds {tree_size} entries but no checkpoint signs them"))),
        None => (0, [0u8; 32]),
        Some((size, root)) => {
            if tree_size < size {
                return Err(tampered(format!("the tree holds {tree_size} entries, fewer than the latest checkpoint ({size})")));
            }
            let stored_root = crate::log::root_at(store, size)
                .await
                .map_err(|e| tampered(format!("the stored tree cannot be read at size {size}: {e}")))?;
            if stored_root != root {
                return Err(tampered(format!("the stored tree does not recompute to the root of the latest checkpoint ({size})")));
            }
            // The last entry it covers is the one it signs: the chain after it starts from a signed leaf.
            let last = size - 1;
            let entry = store.log_entries(last as i64, 1).await?.into_iter().next();
            let entry = entry.ok_or_else(|| tampered(format!("log entry {last} is missing")))?;
            let leaf = leaf_hash(&entry.entry);
            let proof = crate::log::inclusion_proof(store, last, size)
                .await
                .map_err(|e| tampered(format!("the stored tree cannot prove entry {last}: {e}")))?;
            signet_log::verify_inclusion(&leaf, last, size, &proof, &root)
                .map_err(|_| tampered(format!("log entry {last} is not the entry the latest checkpoint ({size}) signs")))?;
            (size, leaf)
        }
    };
    loop {
        let page = store.log_entries(next as i64, HEAD_PAGE).await?;
        for e in &page {
            prev = check_link(e, next, &prev)?;
            next += 1;
        }
        if page.len() < HEAD_PAGE as usize {
            return Ok(());
        }
    }
}

/// The background audit: every entry, from 0 to the latest checkpoint, a
/// batch per [`step`](Self::step), checked against the signed root.
#[derive(Debug, Default)]
pub struct LogAuditor {
    pass: Option<Pass>,
}

#[derive(Debug)]
struct Pass {
    size: u64,
    root: Hash,
    next: u64,
    prev: Hash,
    range: signet_log::CompactRange,
}

impl LogAuditor {
    /// Check the next `batch` entries of the current pass (starting one at
    /// the latest checkpoint if none is running). `Ok(true)`: the pass ended
    /// (or there was nothing to check), every entry it covered verified.
    pub async fn step(&mut self, store: &dyn Store, key: &LogKey, batch: u32) -> Result<bool, CoreError> {
        let pass = match &mut self.pass {
            Some(pass) => pass,
            None => {
                let Some((size, root)) = latest_signed(store, key).await? else { return Ok(true) };
                self.pass.insert(Pass { size, root, next: 0, prev: [0; 32], range: signet_log::CompactRange::empty() })
            }
        };
        let want = u32::try_from(pass.size - pass.next).unwrap_or(u32::MAX).min(batch);
        let start = pass.next as i64;
        let entries = store.log_entries(start, want).await?;
        let leaves = store.log_tree_leaves(pass.next, want).await?;
        // The views' own read: index columns against the entries, tree leaves.
        let events = store.list_events(start - 1, want).await?;
        for (i, e) in entries.iter().enumerate() {
            let index = pass.next;
            let leaf = check_link(e, index, &pass.prev)?;
            if leaves.get(i) != Some(&leaf) {
                return Err(tampered(format!("the tree's leaf {index} is missing or is not the leaf hash of entry {index}")));
            }
            pass.range.append_with(leaf, |_, _, _| {});
            pass.prev = leaf;
            pass.next += 1;
        }
        if entries.len() < want as usize || events.len() < want as usize {
            return Err(tampered(format!("log entry {} is missing: the latest checkpoint covers {}", pass.next, pass.size)));
        }
        if pass.next < pass.size {
            return Ok(false);
        }
        let (size, root) = (pass.size, pass.range.root());
        let signed = pass.root;
        self.pass = None;
        if root != signed {
            return Err(tampered(format!("entries 0..{size} do not recompute to the root of the signed checkpoint of size {size}")));
        }
        Ok(true)
    }
}
