//! The findings store: a bounded, in-memory, pseudonymised table of
//! exposures for the audit report and `/api/exposures`.
//!
//! Owner: `findings`. Invariants:
//! - Entries are aggregated by (kind, field, sender pseudonym); each keeps a
//!   count, first/last seen (wall time), transport, zone, severity and one
//!   redacted evidence line.
//! - Raw evidence never outlives [`Store::record`]: it is redacted (see
//!   [`redact`]) before it is stored, and the sender address is kept only
//!   as an HMAC pseudonym. The key is random per process start unless a key
//!   file is configured ([`Store::with_key_file`]).
//! - Bounded: at most `capacity` entries (least recently updated evicted
//!   first) and entries not updated for `ttl` expire; both evictions are
//!   counted ([`Stats`]) for `flow_evictions_total{reason="findings_lru"|"findings_ttl"}`.
//!
//! `Send + Sync`: one `Mutex`; redaction and hashing run outside it.

pub mod keyfile;
pub mod log;
pub mod redact;

pub use redact::Pseudonymizer;

use crate::exposure::{Finding, Kind};
use crate::lru::Lru;
use serde::Serialize;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Bytes of a pseudonym key (HMAC-SHA256 block-size-independent minimum).
pub const KEY_LEN: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreConfig {
    /// Most entries kept; at least 1.
    pub capacity: usize,
    /// An entry not updated for this long expires.
    pub ttl: Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            capacity: 10_000,
            ttl: Duration::from_secs(24 * 3600),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FindingsError {
    #[error("pseudonym key file {path}: {source}")]
    KeyFile {
        path: String,
        source: std::io::Error,
    },
    #[error("pseudonym key file {path}: {len} bytes, need at least {KEY_LEN}")]
    KeyTooShort { path: String, len: usize },
    #[error("pseudonym key file {path}: {why}")]
    KeyFileUnsafe { path: String, why: String },
    #[error("no randomness for the pseudonym key: {0}")]
    Random(String),
}

/// One aggregated exposure, as served by the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub kind: &'static str,
    pub severity: &'static str,
    pub field: &'static str,
    /// `ip-xxxxxxxx`: pseudonym of the sender's address.
    pub sender: String,
    /// Transport and zone of the latest occurrence (fixed-set labels).
    pub transport: String,
    pub zone: String,
    pub count: u64,
    /// Seconds since the Unix epoch.
    pub first_seen: u64,
    pub last_seen: u64,
    /// RFC 3339 UTC, the same instants.
    pub first_seen_utc: String,
    pub last_seen_utc: String,
    /// Redacted header line or SDP line of the first occurrence.
    pub evidence: String,
}

/// Store counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Stats {
    pub entries: usize,
    pub capacity: usize,
    pub ttl_seconds: u64,
    /// Entries removed because the table was full.
    pub evicted_lru: u64,
    /// Entries removed because they were not updated for `ttl`.
    pub evicted_ttl: u64,
}

/// Aggregation key: `Copy` and allocation-free (the sender as the four
/// pseudonym bytes, formatted as `ip-xxxxxxxx` only in the entry), so a
/// repeat costs one hash probe and an O(1) relink, under the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    kind: Kind,
    field: crate::exposure::Field,
    sender: redact::Tag32,
}

struct Slot {
    entry: Entry,
    last: SystemTime,
}

struct Inner {
    /// Entries in update order (front: most recently updated). The table's
    /// own bound is the store's capacity; its evictions are `evicted_lru`.
    table: Lru<Key, Slot>,
    evicted_lru: u64,
    evicted_ttl: u64,
    /// Evictions already handed out by `take_evictions`.
    reported: (u64, u64),
}

impl Inner {
    fn new(capacity: usize) -> Inner {
        Inner {
            table: Lru::new(capacity),
            evicted_lru: 0,
            evicted_ttl: 0,
            reported: (0, 0),
        }
    }

    /// Remove entries not updated for `ttl` before `now`, oldest first;
    /// stops at the first one still fresh (the list is in update order).
    fn expire(&mut self, now: SystemTime, ttl: Duration) {
        let expired = |s: &Slot| now.duration_since(s.last).is_ok_and(|age| age >= ttl);
        while self.table.pop_lru_if(expired).is_some() {
            self.evicted_ttl += 1;
        }
    }
}

pub struct Store {
    pseudo: Pseudonymizer,
    cfg: StoreConfig,
    inner: Mutex<Inner>,
    /// Where each new entry is also sent (`--findings-log`), if set.
    log: std::sync::OnceLock<log::Sink>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("cfg", &self.cfg).finish()
    }
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// RFC 3339 UTC for seconds since the epoch.
fn rfc3339(secs: u64) -> String {
    let rem = secs % 86_400;
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        crate::civil::civil_from_days((secs / 86_400) as i64),
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

impl Store {
    /// A store with a fresh random key (from the OS, `getrandom`).
    pub fn new(cfg: StoreConfig) -> Result<Store, FindingsError> {
        let mut key = [0u8; KEY_LEN];
        getrandom::getrandom(&mut key).map_err(|e| FindingsError::Random(e.to_string()))?;
        Ok(Store::with_key(&key, cfg))
    }

    /// A store keyed by the bytes of `path` (at least [`KEY_LEN`] bytes;
    /// all of them are the key), so pseudonyms stay stable across restarts
    /// and sensors sharing the file.
    pub fn with_key_file(path: &Path, cfg: StoreConfig) -> Result<Store, FindingsError> {
        let key = keyfile::read_key_file(path)?;
        Ok(Store::with_key(&key, cfg))
    }

    /// A store with an explicit key (tests, or a key from elsewhere).
    pub fn with_key(key: &[u8], cfg: StoreConfig) -> Store {
        Store {
            pseudo: Pseudonymizer::new(key),
            cfg: StoreConfig {
                capacity: cfg.capacity.max(1),
                ttl: cfg.ttl,
            },
            inner: Mutex::new(Inner::new(cfg.capacity.max(1))),
            log: std::sync::OnceLock::new(),
        }
    }

    /// Send every new entry from now on to `sink` as well (once; a second
    /// sink is refused and returned).
    pub fn set_log(&self, sink: log::Sink) -> Result<(), log::Sink> {
        self.log.set(sink)
    }

    /// Wait until the findings log has written what was sent (no-op
    /// without one).
    pub fn flush_log(&self, timeout: Duration) {
        if let Some(l) = self.log.get() {
            l.flush(timeout);
        }
    }

    /// The pseudonym function of this store (e.g. to log a sender as
    /// `ip-xxxxxxxx` consistently with the table).
    pub fn pseudonymizer(&self) -> &Pseudonymizer {
        &self.pseudo
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves a consistent table (every
        // mutation is complete before the next), so poisoning is ignored.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Record one finding from `sender`. `transport` and `zone` are label
    /// values (fixed sets); `now` is the observation's wall time (packet
    /// timestamp when replaying). Expires entries older than the TTL
    /// relative to `now`, and evicts the least recently updated entry when
    /// full. The finding's evidence is redacted here and not kept raw.
    pub fn record(
        &self,
        f: &Finding<'_>,
        sender: IpAddr,
        transport: &str,
        zone: &str,
        now: SystemTime,
    ) {
        self.record_all(std::slice::from_ref(f), sender, transport, zone, now);
    }

    /// [`Store::record`] for every finding of one message: the sender's
    /// pseudonym is computed once and the lock taken once for the repeats
    /// (the common case), once more for the new entries, whose evidence is
    /// redacted between the two, outside the lock.
    pub fn record_all(
        &self,
        findings: &[Finding<'_>],
        sender: IpAddr,
        transport: &str,
        zone: &str,
        now: SystemTime,
    ) {
        if findings.is_empty() {
            return;
        }
        let sender = self.pseudo.ip_tag(sender);
        let key = |f: &Finding<'_>| Key {
            kind: f.kind,
            field: f.field,
            sender,
        };
        // Indices of the findings without an entry (allocates only then).
        let mut fresh = Vec::new();
        {
            let mut g = self.lock();
            g.expire(now, self.cfg.ttl);
            for (i, f) in findings.iter().enumerate() {
                match g.table.get_mut(&key(f)) {
                    Some(slot) => bump(slot, transport, zone, now),
                    None => fresh.push(i),
                }
            }
        }
        if fresh.is_empty() {
            return;
        }
        let t = unix(now);
        let new: Vec<(Key, Entry)> = fresh
            .into_iter()
            .filter_map(|i| findings.get(i))
            .map(|f| {
                let entry = Entry {
                    kind: f.kind.as_str(),
                    severity: f.kind.severity().as_str(),
                    field: f.field.as_str(),
                    sender: sender.pseudonym("ip"),
                    transport: transport.to_string(),
                    zone: zone.to_string(),
                    count: 1,
                    first_seen: t,
                    last_seen: t,
                    // Formatted by `snapshot`, not on every update.
                    first_seen_utc: String::new(),
                    last_seen_utc: String::new(),
                    evidence: self.pseudo.redact(f.name, f.evidence),
                };
                (key(f), entry)
            })
            .collect();
        let mut g = self.lock();
        for (key, entry) in new {
            if let Some(slot) = g.table.get_mut(&key) {
                // Another thread inserted it meanwhile, or the same key
                // came twice in this message.
                bump(slot, transport, zone, now);
                continue;
            }
            // A new entry: the findings log gets it as `/api/exposures`
            // would show it now (sent under the lock, so lines keep the
            // table's order; `send` never blocks).
            if let Some(l) = self.log.get() {
                let mut e = entry.clone();
                e.first_seen_utc = rfc3339(e.first_seen);
                e.last_seen_utc = rfc3339(e.last_seen);
                l.send(e);
            }
            if g.table.insert(key, Slot { entry, last: now }).is_some() {
                g.evicted_lru += 1;
            }
        }
    }

    /// Expire entries not updated for the TTL before `now` (a live sensor
    /// calls this periodically; a replay need not).
    pub fn expire(&self, now: SystemTime) {
        self.lock().expire(now, self.cfg.ttl);
    }

    /// All entries: by severity (critical first), then count (largest
    /// first), then kind, field and sender.
    pub fn snapshot(&self) -> Vec<Entry> {
        let mut v: Vec<Entry> = self
            .lock()
            .table
            .values()
            .map(|s| s.entry.clone())
            .collect();
        for e in &mut v {
            e.first_seen_utc = rfc3339(e.first_seen);
            e.last_seen_utc = rfc3339(e.last_seen);
        }
        v.sort_by(|a, b| {
            sev_rank(a.severity)
                .cmp(&sev_rank(b.severity))
                .then(b.count.cmp(&a.count))
                .then(a.kind.cmp(b.kind))
                .then(a.field.cmp(b.field))
                .then(a.sender.cmp(&b.sender))
        });
        v
    }

    pub fn stats(&self) -> Stats {
        let g = self.lock();
        Stats {
            entries: g.table.len(),
            capacity: self.cfg.capacity,
            ttl_seconds: self.cfg.ttl.as_secs(),
            evicted_lru: g.evicted_lru,
            evicted_ttl: g.evicted_ttl,
        }
    }

    /// Evictions since the last call, `(lru, ttl)`: what to add to
    /// `flow_evictions_total{reason="findings_lru"}` and `{reason="findings_ttl"}`.
    /// ([`Store::stats`] keeps the cumulative numbers.)
    pub fn take_evictions(&self) -> (u64, u64) {
        let mut g = self.lock();
        let d = (g.evicted_lru - g.reported.0, g.evicted_ttl - g.reported.1);
        g.reported = (g.evicted_lru, g.evicted_ttl);
        d
    }

    /// `{"stats": {...}, "exposures": [...]}` (what `/api/exposures` serves).
    pub fn to_json(&self) -> String {
        #[derive(Serialize)]
        struct Doc {
            stats: Stats,
            exposures: Vec<Entry>,
        }
        let doc = Doc {
            stats: self.stats(),
            exposures: self.snapshot(),
        };
        serde_json::to_string_pretty(&doc).unwrap_or_else(|_| "{}".into()) + "\n"
    }
}

fn bump(slot: &mut Slot, transport: &str, zone: &str, now: SystemTime) {
    let e = &mut slot.entry;
    e.count = e.count.saturating_add(1);
    if now > slot.last {
        slot.last = now;
        e.last_seen = unix(now);
    }
    if e.transport != transport {
        e.transport = transport.to_string();
    }
    if e.zone != zone {
        e.zone = zone.to_string();
    }
}

fn sev_rank(s: &str) -> usize {
    crate::exposure::Severity::ALL
        .iter()
        .position(|x| x.as_str() == s)
        .unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests;
