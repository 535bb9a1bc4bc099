//! A small read-mostly cache for the issuance hot path: values looked up in
//! the last [`TTL`] are served from memory, shared (`Arc`), not copied.
//!
//! What may be cached, and why it is safe: authenticated tokens (a
//! revocation or operator change here clears them at once; another process
//! sees it within the TTL), profiles (a change made in this
//! process evicts its entry at once; another process sees it within the TTL)
//! and subjects (immutable but for their status; a status change here evicts
//! at once, and the store refuses to write a credential for a subject that is
//! not active when the issuance commits, whatever was cached).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, RwLock};
use time::{Duration, OffsetDateTime};

/// How long a looked-up value is trusted from memory. Bounds how late another
/// server process's change is seen.
pub const TTL: Duration = Duration::seconds(2);

/// Entries beyond this are dropped all at once (a bound, not an LRU: the hot
/// set refills within one TTL).
const MAX_ENTRIES: usize = 10_000;

#[derive(Debug)]
pub struct TtlCache<K, V> {
    entries: RwLock<HashMap<K, (Arc<V>, OffsetDateTime)>>,
}

impl<K, V> Default for TtlCache<K, V> {
    fn default() -> Self {
        Self { entries: RwLock::new(HashMap::new()) }
    }
}

impl<K: Eq + Hash, V> TtlCache<K, V> {
    /// The value cached for `key`, if it was stored less than [`TTL`] before `now`.
    pub fn get<Q>(&self, key: &Q, now: OffsetDateTime) -> Option<Arc<V>>
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let entries = self.entries.read().ok()?;
        entries.get(key).filter(|(_, at)| now - *at < TTL).map(|(v, _)| v.clone())
    }

    pub fn put(&self, key: K, value: Arc<V>, now: OffsetDateTime) {
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(key, (value, now));
        }
    }

    /// Forget everything, after a change whose keys are not known here
    /// (a revoked token, a changed operator).
    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.write() {
            entries.clear();
        }
    }

    /// Forget `key`, after this process changed it.
    pub fn evict<Q>(&self, key: &Q)
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        if let Ok(mut entries) = self.entries.write() {
            entries.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_within_the_ttl_then_expires_and_evicts() {
        let cache: TtlCache<String, u32> = TtlCache::default();
        let t0 = OffsetDateTime::UNIX_EPOCH;
        cache.put("a".into(), Arc::new(1), t0);
        assert_eq!(cache.get("a", t0 + Duration::milliseconds(1999)).as_deref(), Some(&1));
        assert_eq!(cache.get("a", t0 + TTL), None, "an entry as old as the TTL is stale");
        cache.put("a".into(), Arc::new(2), t0);
        cache.evict("a");
        assert_eq!(cache.get("a", t0), None);
    }

    #[test]
    fn is_bounded() {
        let cache: TtlCache<usize, usize> = TtlCache::default();
        let t0 = OffsetDateTime::UNIX_EPOCH;
        for i in 0..=MAX_ENTRIES {
            cache.put(i, Arc::new(i), t0);
        }
        assert!(cache.entries.read().map(|e| e.len()).unwrap_or(0) <= MAX_ENTRIES);
        assert_eq!(cache.get(&MAX_ENTRIES, t0).as_deref(), Some(&MAX_ENTRIES));
    }
}
