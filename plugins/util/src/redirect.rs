//! The redirect cache of redirect_cache.c: Call-IDs of INVITEs a plugin
//! answered with a 302, so the phone's ACK for that 302 can be swallowed.

/// Call-IDs with the time they were added (milliseconds of `Host::now_ms`).
/// Mirrors redirect_cache.c: entries live `CACHE_TIMEOUT` = 20 s; expired
/// entries are purged whenever the cache is used.
#[derive(Clone, Debug, Default)]
pub struct RedirectCache {
    entries: Vec<(String, u64)>,
}

/// redirect_cache.c `CACHE_TIMEOUT`, in milliseconds.
pub const REDIRECT_CACHE_TIMEOUT_MS: u64 = 20_000;

impl RedirectCache {
    /// Remembers `call_id` (refreshing its time if present).
    pub fn add(&mut self, call_id: &str, now_ms: u64) {
        self.purge(now_ms);
        match self.entries.iter_mut().find(|(c, _)| c == call_id) {
            Some(entry) => entry.1 = now_ms,
            None => self.entries.push((call_id.to_string(), now_ms)),
        }
    }

    /// True if `call_id` was added within the last 20 s.
    pub fn contains(&mut self, call_id: &str, now_ms: u64) -> bool {
        self.purge(now_ms);
        self.entries.iter().any(|(c, _)| c == call_id)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn purge(&mut self, now_ms: u64) {
        self.entries
            .retain(|&(_, at)| now_ms.saturating_sub(at) < REDIRECT_CACHE_TIMEOUT_MS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_after_twenty_seconds() {
        let mut cache = RedirectCache::default();
        cache.add("a@h", 1_000);
        assert!(cache.contains("a@h", 20_999));
        assert!(!cache.contains("b@h", 20_999));
        assert!(!cache.contains("a@h", 21_000));
        assert!(cache.is_empty());
    }
}
