//! The shared table of SDP-announced media endpoints: `(address, port)` →
//! what the signalling declared, with an expiry. SIP workers insert from
//! each SDP offer/answer; media workers look up when a new stream appears.
//!
//! Sharded by a hash of the key, one `std::sync::Mutex` per shard, so SIP
//! and media workers rarely contend. Bounded: each shard is an [`Lru`] in
//! insertion/refresh order, so a full shard evicts its oldest entry in
//! O(1), and evictions are counted. Expired entries are ignored by
//! `lookup` and removed from the old end by [`EndpointTable::purge`] and
//! by inserts, O(1) per entry removed.
//!
//! No operation scans a shard: an earlier version did (`retain` and a
//! minimum search over 16,384 entries) on every insert into a full shard,
//! under the mutex that RTP lookups take, and INVITEs announcing new
//! endpoints cost 270 times more once the table was full.

use super::Micros;
use crate::lru::Lru;
use crate::sdp::{Announced, Declared, MediaFacts};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
struct Entry {
    declared: Declared,
    /// DTMF payload type, audio-level id, NULL SDES (4 bytes: the entry
    /// stays 16 bytes).
    facts: MediaFacts,
    /// Capture time of the last insert (refresh), in microseconds: 8
    /// bytes where a `Duration` takes 16 with padding, a sixth of each
    /// slot of a table that holds four entries per call.
    inserted: Micros,
}

type Shard = Lru<(IpAddr, u16), Entry>;

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
                .map(|_| Mutex::new(Lru::new(per_shard)))
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
    /// entry had to be evicted to make room. O(1) plus the expired entries
    /// it removes (each removed once).
    pub fn insert(&self, addr: IpAddr, port: u16, declared: Declared, now: Duration) -> bool {
        self.insert_announced(addr, port, declared.into(), now)
    }

    /// [`Self::insert`] with the media facts of the `m=` section.
    pub fn insert_announced(&self, addr: IpAddr, port: u16, a: Announced, now: Duration) -> bool {
        let key = (addr, port);
        let mut shard = self.shard(&key);
        let entry = Entry {
            declared: a.declared,
            facts: a.facts,
            inserted: Micros::of(now),
        };
        // A refresh moves the entry to the young end, so the old end is
        // always the least recently inserted or refreshed.
        if let Some(e) = shard.get_mut(&key) {
            *e = entry;
            return false;
        }
        if shard.len() >= self.per_shard {
            self.expired
                .fetch_add(pop_expired(&mut shard, now, self.ttl), Ordering::Relaxed);
        }
        let evicted = shard.insert(key, entry).is_some();
        if evicted {
            self.evicted_full.fetch_add(1, Ordering::Relaxed);
        }
        evicted
    }

    /// What was declared for `(addr, port)`, unless expired at `now`.
    pub fn lookup(&self, addr: IpAddr, port: u16, now: Duration) -> Option<Declared> {
        self.lookup_announced(addr, port, now).map(|a| a.declared)
    }

    /// What was announced for `(addr, port)`, unless expired at `now`.
    pub fn lookup_announced(&self, addr: IpAddr, port: u16, now: Duration) -> Option<Announced> {
        let key = (addr, port);
        let shard = self.shard(&key);
        shard
            .peek(&key)
            .filter(|e| e.inserted.age(now) < self.ttl)
            .map(|e| Announced {
                declared: e.declared,
                facts: e.facts,
            })
    }

    /// Forget everything (a new, unrelated capture starts).
    pub fn clear(&self) {
        for s in self.shards.iter() {
            *s.lock().unwrap_or_else(|e| e.into_inner()) = Lru::new(self.per_shard);
        }
    }

    /// Removes expired entries from each shard's old end; returns how
    /// many. Costs the entries removed plus one look per shard, not a scan.
    pub fn purge(&self, now: Duration) -> usize {
        let mut n = 0;
        for s in self.shards.iter() {
            let mut s = s.lock().unwrap_or_else(|e| e.into_inner());
            n += pop_expired(&mut s, now, self.ttl);
        }
        self.expired.fetch_add(n, Ordering::Relaxed);
        n as usize
    }

    /// Evictions since the last call, `(capacity, expired)`, for
    /// `flow_evictions_total{reason="endpoints_capacity"|"endpoints_idle"}`:
    /// every worker publishes, and each eviction is taken once.
    pub fn take_evictions(&self) -> (u64, u64) {
        (
            self.evicted_full.swap(0, Ordering::Relaxed),
            self.expired.swap(0, Ordering::Relaxed),
        )
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

/// Pops entries older than `ttl` from the old end. Entries are in
/// insertion order, up to workers inserting with slightly different
/// capture times: an expired entry behind a younger one waits for the
/// next purge (and `lookup` ignores it meanwhile).
fn pop_expired(shard: &mut Shard, now: Duration, ttl: Duration) -> u64 {
    let mut n = 0;
    while shard.pop_lru_if(|e| e.inserted.age(now) >= ttl).is_some() {
        n += 1;
    }
    n
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
