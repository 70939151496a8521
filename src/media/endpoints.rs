//! The shared table of SDP-announced media endpoints: `(address, port)` →
//! what the signalling declared, with an expiry. SIP workers insert from
//! each SDP offer/answer; media workers look up when a new stream appears.
//!
//! Sharded by a hash of the key, one `std::sync::Mutex` per shard, so SIP
//! and media workers rarely contend. Bounded: a full shard evicts its
//! oldest entry (by insertion/refresh time), and evictions are counted.
//! Expired entries are ignored by `lookup` and removed lazily (on insert
//! into a full shard, or by [`EndpointTable::purge`]).

use super::Micros;
use crate::sdp::Declared;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
struct Entry {
    declared: Declared,
    /// Capture time of the last insert (refresh), in microseconds: 8
    /// bytes where a `Duration` takes 16 with padding, a sixth of each
    /// slot of a table that holds four entries per call.
    inserted: Micros,
}

type Shard = HashMap<(IpAddr, u16), Entry, ahash::RandomState>;

/// Sharded, bounded `(IpAddr, port) → Declared` map with a TTL.
pub struct EndpointTable {
    shards: Box<[Mutex<Shard>]>,
    per_shard: usize,
    ttl: Duration,
    hasher: ahash::RandomState,
    evicted_full: AtomicU64,
    expired: AtomicU64,
}

/// Counters for the caller to export.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EndpointStats {
    pub entries: usize,
    /// Oldest entry evicted because its shard was full.
    pub evicted_full: u64,
    /// Entries removed after their TTL.
    pub expired: u64,
}

impl EndpointTable {
    /// `shards` (at least 1) mutexes sharing `max_entries` (at least one
    /// per shard); an entry lives `ttl` after its last insert.
    pub fn new(shards: usize, max_entries: usize, ttl: Duration) -> Self {
        let shards = shards.max(1);
        let per_shard = max_entries.div_ceil(shards).max(1);
        let hasher = ahash::RandomState::new();
        EndpointTable {
            shards: (0..shards)
                .map(|_| Mutex::new(HashMap::with_hasher(hasher.clone())))
                .collect(),
            per_shard,
            ttl,
            hasher,
            evicted_full: AtomicU64::new(0),
            expired: AtomicU64::new(0),
        }
    }

    fn shard(&self, key: &(IpAddr, u16)) -> std::sync::MutexGuard<'_, Shard> {
        let i = (self.hasher.hash_one(key) as usize) % self.shards.len();
        // A worker that panicked while holding the lock leaves a map that is
        // still consistent (no multi-step invariants): keep using it.
        self.shards[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Inserts or refreshes. `now` is capture time. Returns true when an
    /// entry had to be evicted to make room.
    pub fn insert(&self, addr: IpAddr, port: u16, declared: Declared, now: Duration) -> bool {
        let key = (addr, port);
        let mut shard = self.shard(&key);
        let entry = Entry {
            declared,
            inserted: Micros::of(now),
        };
        if let Some(e) = shard.get_mut(&key) {
            *e = entry;
            return false;
        }
        let mut evicted = false;
        if shard.len() >= self.per_shard {
            let before = shard.len();
            let ttl = self.ttl;
            shard.retain(|_, e| e.inserted.age(now) < ttl);
            let expired = before - shard.len();
            if expired > 0 {
                self.expired.fetch_add(expired as u64, Ordering::Relaxed);
            } else if let Some(oldest) = shard
                .iter()
                .min_by_key(|(_, e)| e.inserted)
                .map(|(k, _)| *k)
            {
                // O(shard) scan, only when a shard is full of live entries.
                shard.remove(&oldest);
                self.evicted_full.fetch_add(1, Ordering::Relaxed);
                evicted = true;
            }
        }
        shard.insert(key, entry);
        evicted
    }

    /// What was declared for `(addr, port)`, unless expired at `now`.
    pub fn lookup(&self, addr: IpAddr, port: u16, now: Duration) -> Option<Declared> {
        let key = (addr, port);
        let shard = self.shard(&key);
        shard
            .get(&key)
            .filter(|e| e.inserted.age(now) < self.ttl)
            .map(|e| e.declared)
    }

    /// Forget everything (a new, unrelated capture starts).
    pub fn clear(&self) {
        for s in self.shards.iter() {
            s.lock().unwrap_or_else(|e| e.into_inner()).clear();
        }
    }

    /// Removes expired entries; returns how many.
    pub fn purge(&self, now: Duration) -> usize {
        let mut n = 0;
        for s in self.shards.iter() {
            let mut s = s.lock().unwrap_or_else(|e| e.into_inner());
            let before = s.len();
            s.retain(|_, e| e.inserted.age(now) < self.ttl);
            n += before - s.len();
        }
        self.expired.fetch_add(n as u64, Ordering::Relaxed);
        n
    }

    pub fn stats(&self) -> EndpointStats {
        EndpointStats {
            entries: self
                .shards
                .iter()
                .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).len())
                .sum(),
            evicted_full: self.evicted_full.load(Ordering::Relaxed),
            expired: self.expired.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use std::sync::Arc;

    fn ip(n: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, n))
    }
    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn insert_lookup_expire() {
        let t = EndpointTable::new(4, 100, S(60));
        assert!(!t.insert(ip(1), 4000, Declared::SrtpSdes, S(10)));
        assert_eq!(t.lookup(ip(1), 4000, S(20)), Some(Declared::SrtpSdes));
        assert_eq!(t.lookup(ip(1), 4001, S(20)), None);
        assert_eq!(t.lookup(ip(1), 4000, S(70)), None);
        // Refresh moves the expiry and may change the declaration
        // (re-INVITE).
        t.insert(ip(1), 4000, Declared::Cleartext, S(50));
        assert_eq!(t.lookup(ip(1), 4000, S(100)), Some(Declared::Cleartext));
        assert_eq!(t.purge(S(200)), 1);
        assert_eq!(t.stats().entries, 0);
        assert_eq!(t.stats().expired, 1);
    }

    #[test]
    fn bounded_evicts_oldest() {
        let t = EndpointTable::new(1, 3, S(600));
        for p in 0..3 {
            t.insert(ip(1), 1000 + p, Declared::Cleartext, S(u64::from(p)));
        }
        assert!(t.insert(ip(1), 2000, Declared::SrtpDtls, S(10)));
        assert_eq!(t.lookup(ip(1), 1000, S(11)), None);
        assert_eq!(t.lookup(ip(1), 1001, S(11)), Some(Declared::Cleartext));
        assert_eq!(t.lookup(ip(1), 2000, S(11)), Some(Declared::SrtpDtls));
        let st = t.stats();
        assert_eq!((st.entries, st.evicted_full), (3, 1));
        // Full of expired entries: they go first, no eviction counted.
        assert!(!t.insert(ip(2), 1, Declared::Zrtp, S(10_000)));
        assert_eq!(t.stats().entries, 1);
    }

    #[test]
    fn shared_between_threads() {
        let t = Arc::new(EndpointTable::new(8, 10_000, S(60)));
        let writers: Vec<_> = (0..4u8)
            .map(|w| {
                let t = Arc::clone(&t);
                std::thread::spawn(move || {
                    for p in 0..1000u16 {
                        t.insert(ip(w), p, Declared::SrtpSdes, S(1));
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        assert_eq!(t.stats().entries, 4000);
        assert_eq!(t.lookup(ip(3), 999, S(2)), Some(Declared::SrtpSdes));
    }
}
