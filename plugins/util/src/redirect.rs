//! The redirect cache of redirect_cache.c: Call-IDs of INVITEs a plugin
//! answered with a 302, so the phone's ACK for that 302 can be swallowed;
//! also used (with a value and a longer timeout) for the in-place rewrite
//! modes, to rewrite CANCEL and non-2xx ACK like their INVITE.

/// redirect_cache.c `CACHE_TIMEOUT`, in milliseconds.
pub const REDIRECT_CACHE_TIMEOUT_MS: u64 = 20_000;

/// Keys (Call-IDs) with a value and the time they were added
/// (milliseconds of `Host::now_ms`).
/// Mirrors redirect_cache.c: entries live `CACHE_TIMEOUT` = 20 s by default;
/// expired entries are purged whenever the cache is used; a hit found by
/// [`RedirectCache::take`] is removed (`is_in_redirected_cache`).
#[derive(Clone, Debug)]
pub struct RedirectCache {
    timeout_ms: u64,
    entries: Vec<(String, String, u64)>,
}

impl Default for RedirectCache {
    fn default() -> RedirectCache {
        RedirectCache::with_timeout(REDIRECT_CACHE_TIMEOUT_MS)
    }
}

impl RedirectCache {
    pub fn with_timeout(timeout_ms: u64) -> RedirectCache {
        RedirectCache {
            timeout_ms,
            entries: Vec::new(),
        }
    }

    /// Remembers `key` with `value` (replacing an older entry of that key).
    pub fn add(&mut self, key: &str, value: &str, now_ms: u64) {
        self.purge(now_ms);
        self.entries.retain(|(k, v, _)| !(k == key && v == value));
        self.entries
            .push((key.to_string(), value.to_string(), now_ms));
    }

    /// True if `key` is cached; the entry is removed (consumed once).
    pub fn take(&mut self, key: &str, now_ms: u64) -> bool {
        self.purge(now_ms);
        match self.entries.iter().position(|(k, _, _)| k == key) {
            Some(at) => {
                self.entries.remove(at);
                true
            }
            None => false,
        }
    }

    /// Every value cached for `key`, newest first, without removing them.
    pub fn values(&mut self, key: &str, now_ms: u64) -> Vec<String> {
        self.purge(now_ms);
        self.entries
            .iter()
            .rev()
            .filter(|(k, _, _)| k == key)
            .map(|(_, v, _)| v.clone())
            .collect()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn purge(&mut self, now_ms: u64) {
        let timeout = self.timeout_ms;
        self.entries
            .retain(|&(_, _, at)| now_ms.saturating_sub(at) <= timeout);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_after_twenty_seconds_and_are_taken_once() {
        let mut cache = RedirectCache::default();
        cache.add("a@h", "", 1_000);
        cache.add("b@h", "", 1_000);
        assert!(cache.take("a@h", 21_000));
        assert!(!cache.take("a@h", 21_000), "consumed");
        assert!(!cache.take("c@h", 21_000));
        assert!(!cache.take("b@h", 21_001), "expired");
        assert!(cache.is_empty());
    }

    #[test]
    fn values_are_kept_per_key() {
        let mut cache = RedirectCache::with_timeout(100);
        cache.add("k", "one", 0);
        cache.add("k", "two", 10);
        cache.add("other", "x", 10);
        assert_eq!(cache.values("k", 50), ["two", "one"]);
        assert_eq!(cache.values("k", 105), ["two"]);
        assert_eq!(cache.len(), 2);
    }
}

/// How long the rewrite modes remember an INVITE's rewrite: longer than an
/// INVITE can ring before it is cancelled (Timer C is > 3 min).
pub const REWRITE_CACHE_TIMEOUT_MS: u64 = 300_000;

/// For the in-place rewrite modes (an extension, inventory §12): the
/// Request-URI rewrite of an initial INVITE, by Call-ID, so that its CANCEL
/// and the ACK of a non-2xx final response (same Call-ID, same original
/// Request-URI) are rewritten the same way, while the ACK of a 2xx (sent to
/// the remote target) is not.
#[derive(Clone, Debug)]
pub struct RewriteCache(RedirectCache);

impl Default for RewriteCache {
    fn default() -> RewriteCache {
        RewriteCache(RedirectCache::with_timeout(REWRITE_CACHE_TIMEOUT_MS))
    }
}

impl RewriteCache {
    pub fn remember(&mut self, call_id: &str, original: &str, rewritten: &str, now_ms: u64) {
        self.0
            .add(call_id, &format!("{original}\n{rewritten}"), now_ms);
    }

    /// The rewrite of `uri` for this Call-ID, if its INVITE was rewritten.
    pub fn lookup(&mut self, call_id: &str, uri: &str, now_ms: u64) -> Option<String> {
        self.0.values(call_id, now_ms).into_iter().find_map(|v| {
            let (original, rewritten) = v.split_once('\n')?;
            (original == uri).then(|| rewritten.to_string())
        })
    }
}

#[cfg(test)]
mod rewrite_tests {
    use super::*;

    #[test]
    fn a_rewrite_is_found_by_call_id_and_original_uri() {
        let mut cache = RewriteCache::default();
        cache.remember("c1", "sip:123@p", "sip:0123@p", 0);
        assert_eq!(
            cache.lookup("c1", "sip:123@p", 1).as_deref(),
            Some("sip:0123@p")
        );
        assert_eq!(cache.lookup("c1", "sip:0123@gw", 1), None);
        assert_eq!(cache.lookup("c2", "sip:123@p", 1), None);
        assert_eq!(cache.lookup("c1", "sip:123@p", 300_001), None);
    }
}
