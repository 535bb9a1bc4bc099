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

    /// The value for `key`: from memory if fresh, else from `load` (stored
    /// for the next [`TTL`] when found; a miss is not remembered).
    pub async fn get_or_load<Q, E, F>(&self, key: &Q, now: OffsetDateTime, load: impl FnOnce() -> F) -> Result<Option<Arc<V>>, E>
    where
        F: std::future::Future<Output = Result<Option<V>, E>>,
        K: std::borrow::Borrow<Q>,
        Q: ToOwned<Owned = K> + Eq + Hash + ?Sized,
    {
        if let Some(v) = self.get(key, now) {
            return Ok(Some(v));
        }
        let Some(v) = load().await? else { return Ok(None) };
        let v = Arc::new(v);
        self.put(key.to_owned(), v.clone(), now);
        Ok(Some(v))
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

    #[tokio::test]
    async fn loads_on_a_miss_and_remembers_only_hits() {
        let cache: TtlCache<String, u32> = TtlCache::default();
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let found = cache.get_or_load("a", t0, || async { Ok::<_, ()>(Some(7)) }).await;
        assert_eq!(found.map(|v| v.as_deref().copied()), Ok(Some(7)));
        // Served from memory now: the loader is not consulted.
        let cached = cache.get_or_load("a", t0, || async { Err(()) }).await;
        assert_eq!(cached.map(|v| v.as_deref().copied()), Ok(Some(7)));
        assert_eq!(cache.get_or_load("b", t0, || async { Ok::<_, ()>(None) }).await.map(|v| v.is_none()), Ok(true));
        assert_eq!(cache.get("b", t0), None, "a miss is not remembered");
        assert_eq!(cache.get_or_load("c", t0, || async { Err::<Option<u32>, _>("down") }).await.err(), Some("down"));
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
