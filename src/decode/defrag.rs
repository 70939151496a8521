//! IPv4/IPv6 fragment reassembly with a bounded pool (RFC 791 §3.2, RFC 8200 §4.5).
//!
//! Owner: `decode`. Invariant: at most `max_datagrams` datagrams in flight,
//! each at most `max_datagram_bytes`; anything past a bound is dropped and
//! reported in [`DefragStats`], never kept. Parses no bytes (the caller gives
//! [`super::Fragment`]s).
//!
//! Policy, chosen for a sensor that must not be fooled nor exhausted:
//! - a datagram is keyed by (source, destination, protocol, identification),
//!   RFC 791 §3.2 / RFC 8200 §4.5;
//! - an exact or partial repeat of bytes already held is accepted only if the
//!   bytes are identical (a duplicate); differing overlaps are the classic
//!   evasion trick, and RFC 5722 tells IPv6 receivers to drop the whole
//!   datagram, so both IP versions drop it and count it `invalid`;
//! - when the pool is full, expired datagrams are dropped first, then the
//!   oldest one makes room (counted `overflow`), so a flood of never-finished
//!   datagrams cannot block newer ones for a whole timeout.

use super::{Fragment, Net};
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct DefragConfig {
    pub max_datagrams: usize,
    pub max_datagram_bytes: usize,
    pub timeout: Duration,
}

impl Default for DefragConfig {
    fn default() -> Self {
        DefragConfig {
            max_datagrams: 4096,
            max_datagram_bytes: 65_535,
            timeout: Duration::from_secs(30),
        }
    }
}

/// Counts since the last [`Defrag::take_stats`]; the caller turns them into metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DefragStats {
    pub reassembled: u64,
    /// Datagrams dropped because the pool was full (`pipeline_dropped_total{reason="defrag_overflow"}`).
    pub overflow: u64,
    /// Datagrams dropped because they exceeded `max_datagram_bytes` or had inconsistent fragments.
    pub invalid: u64,
    /// Incomplete datagrams dropped by timeout.
    pub timed_out: u64,
}

#[derive(Debug)]
pub enum DefragOutcome {
    /// Kept, waiting for more fragments (or dropped: see stats).
    Pending,
    /// The whole transport payload of the datagram (owned: it spans frames).
    Complete(Vec<u8>),
}

/// Fragment pieces held per datagram before it is judged hostile: a 64 KiB
/// datagram in 1280-byte IPv6 fragments is ~52 pieces; 8-byte slivers are not.
const MAX_PIECES: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    id: u32,
}

struct Datagram {
    /// Reassembly buffer; bytes outside `have` are zero and meaningless.
    buf: Vec<u8>,
    /// Received byte ranges, sorted and merged (touching ranges joined).
    have: Vec<(usize, usize)>,
    /// Pieces received (not merged), bounded by [`MAX_PIECES`].
    pieces: usize,
    /// Length of the whole payload, known once the last fragment (M=0) arrived.
    total: Option<usize>,
    first_seen: Duration,
}

impl Datagram {
    /// Insert `data` at `start`. `Err(())` means the datagram is inconsistent.
    fn insert(&mut self, start: usize, data: &[u8], last: bool) -> Result<(), ()> {
        let end = start.checked_add(data.len()).ok_or(())?;
        if last {
            // Two different ends, or bytes already held past the new end.
            match self.total {
                Some(t) if t != end => return Err(()),
                _ => {}
            }
            if self.have.last().is_some_and(|&(_, e)| e > end) {
                return Err(());
            }
            self.total = Some(end);
        } else if self.total.is_some_and(|t| end > t) {
            return Err(());
        }
        // Overlaps with held bytes must be identical (duplicates).
        for &(s, e) in &self.have {
            let (os, oe) = (s.max(start), e.min(end));
            if os < oe {
                let held = self.buf.get(os..oe).ok_or(())?;
                let new = data.get(os - start..oe - start).ok_or(())?;
                if held != new {
                    return Err(());
                }
            }
        }
        if data.is_empty() {
            return Ok(());
        }
        self.pieces += 1;
        if self.pieces > MAX_PIECES {
            return Err(());
        }
        if self.buf.len() < end {
            self.buf.resize(end, 0);
        }
        self.buf
            .get_mut(start..end)
            .ok_or(())?
            .copy_from_slice(data);
        // Merge [start, end) into the sorted range list.
        let mut merged = (start, end);
        let mut out = Vec::with_capacity(self.have.len() + 1);
        let mut placed = false;
        for &(s, e) in &self.have {
            if e < merged.0 {
                out.push((s, e));
            } else if s > merged.1 {
                if !placed {
                    out.push(merged);
                    placed = true;
                }
                out.push((s, e));
            } else {
                merged = (merged.0.min(s), merged.1.max(e));
            }
        }
        if !placed {
            out.push(merged);
        }
        self.have = out;
        Ok(())
    }

    fn complete(&self) -> bool {
        matches!((self.total, self.have.as_slice()), (Some(t), [(0, e)]) if *e == t)
    }
}

pub struct Defrag {
    cfg: DefragConfig,
    pool: HashMap<Key, Datagram, ahash::RandomState>,
    stats: DefragStats,
}

impl Defrag {
    pub fn new(cfg: DefragConfig) -> Self {
        Defrag {
            cfg,
            pool: HashMap::with_hasher(ahash::RandomState::new()),
            stats: DefragStats::default(),
        }
    }

    /// `now` is the capture timestamp (time since the epoch), not wall time.
    pub fn push(&mut self, net: &Net, frag: &Fragment<'_>, now: Duration) -> DefragOutcome {
        let key = Key {
            src: net.src,
            dst: net.dst,
            proto: net.proto,
            id: frag.id,
        };
        let start = frag.offset as usize;
        let end = start.saturating_add(frag.payload.len());
        if end > self.cfg.max_datagram_bytes {
            // Drop what we held of it too: it can never complete.
            self.pool.remove(&key);
            self.stats.invalid += 1;
            return DefragOutcome::Pending;
        }
        // A stale entry with the same key is an old datagram whose id was
        // reused (16-bit IPv4 ids wrap quickly): it is timed out, not merged.
        if self.pool.get(&key).is_some_and(|d| self.expired(d, now)) {
            self.pool.remove(&key);
            self.stats.timed_out += 1;
        }
        if !self.pool.contains_key(&key) {
            if self.cfg.max_datagrams == 0 {
                self.stats.overflow += 1;
                return DefragOutcome::Pending;
            }
            if self.pool.len() >= self.cfg.max_datagrams {
                self.expire(now);
            }
            if self.pool.len() >= self.cfg.max_datagrams {
                let oldest = self
                    .pool
                    .iter()
                    .min_by_key(|(_, d)| d.first_seen)
                    .map(|(k, _)| *k);
                if let Some(k) = oldest {
                    self.pool.remove(&k);
                }
                self.stats.overflow += 1;
            }
            self.pool.insert(
                key,
                Datagram {
                    buf: Vec::new(),
                    have: Vec::new(),
                    pieces: 0,
                    total: None,
                    first_seen: now,
                },
            );
        }
        let Some(dgram) = self.pool.get_mut(&key) else {
            return DefragOutcome::Pending;
        };
        if dgram.insert(start, frag.payload, !frag.more).is_err() {
            self.pool.remove(&key);
            self.stats.invalid += 1;
            return DefragOutcome::Pending;
        }
        if dgram.complete() {
            let total = dgram.total.unwrap_or(0);
            let mut buf = self.pool.remove(&key).map(|d| d.buf).unwrap_or_default();
            buf.truncate(total);
            self.stats.reassembled += 1;
            return DefragOutcome::Complete(buf);
        }
        DefragOutcome::Pending
    }

    fn expired(&self, d: &Datagram, now: Duration) -> bool {
        now.saturating_sub(d.first_seen) > self.cfg.timeout
    }

    /// Drop datagrams older than the timeout; call about once a second of capture time.
    pub fn expire(&mut self, now: Duration) {
        let timeout = self.cfg.timeout;
        let before = self.pool.len();
        self.pool
            .retain(|_, d| now.saturating_sub(d.first_seen) <= timeout);
        self.stats.timed_out += (before - self.pool.len()) as u64;
    }

    pub fn len(&self) -> usize {
        self.pool.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn take_stats(&mut self) -> DefragStats {
        std::mem::take(&mut self.stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn net() -> Net {
        Net {
            src: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            dst: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)),
            proto: 17,
        }
    }

    fn frag(id: u32, offset: u32, more: bool, payload: &[u8]) -> Fragment<'_> {
        Fragment {
            id,
            offset,
            more,
            payload,
        }
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    /// 24 bytes in three 8-byte pieces.
    const DATA: &[u8; 24] = b"AAAAAAAABBBBBBBBCCCCCCCC";

    fn pieces() -> [Fragment<'static>; 3] {
        [
            frag(7, 0, true, &DATA[0..8]),
            frag(7, 8, true, &DATA[8..16]),
            frag(7, 16, false, &DATA[16..24]),
        ]
    }

    fn complete(o: DefragOutcome) -> Vec<u8> {
        match o {
            DefragOutcome::Complete(v) => v,
            DefragOutcome::Pending => panic!("expected complete"),
        }
    }

    fn pending(o: DefragOutcome) {
        assert!(matches!(o, DefragOutcome::Pending));
    }

    #[test]
    fn in_order_and_reversed() {
        let mut d = Defrag::new(DefragConfig::default());
        let [a, b, c] = pieces();
        pending(d.push(&net(), &a, secs(1)));
        pending(d.push(&net(), &b, secs(1)));
        assert_eq!(complete(d.push(&net(), &c, secs(1))), DATA);
        assert!(d.is_empty());
        for f in [c, b] {
            pending(d.push(&net(), &f, secs(2)));
        }
        assert_eq!(d.len(), 1);
        assert_eq!(complete(d.push(&net(), &a, secs(2))), DATA);
        assert_eq!(
            d.take_stats(),
            DefragStats {
                reassembled: 2,
                ..Default::default()
            }
        );
    }

    #[test]
    fn duplicates_accepted_conflicts_dropped() {
        let mut d = Defrag::new(DefragConfig::default());
        let [a, b, c] = pieces();
        pending(d.push(&net(), &a, secs(1)));
        pending(d.push(&net(), &a, secs(1)));
        // Overlapping piece with identical bytes.
        pending(d.push(&net(), &frag(7, 4, true, &DATA[4..12]), secs(1)));
        pending(d.push(&net(), &b, secs(1)));
        assert_eq!(complete(d.push(&net(), &c, secs(1))), DATA);
        // Overlap with different bytes: the datagram is dropped (RFC 5722).
        pending(d.push(&net(), &a, secs(1)));
        pending(d.push(&net(), &frag(7, 0, true, b"ZZZZZZZZ"), secs(1)));
        assert!(d.is_empty());
        // Two different ends.
        pending(d.push(&net(), &c, secs(1)));
        pending(d.push(&net(), &frag(7, 8, false, &DATA[8..16]), secs(1)));
        // Data past the known end.
        pending(d.push(&net(), &frag(8, 8, false, b"12345678"), secs(1)));
        pending(d.push(&net(), &frag(8, 16, true, b"12345678"), secs(1)));
        let s = d.take_stats();
        assert_eq!((s.reassembled, s.invalid), (1, 3));
        assert!(d.is_empty());
    }

    #[test]
    fn too_big_is_invalid() {
        let mut d = Defrag::new(DefragConfig {
            max_datagram_bytes: 16,
            ..Default::default()
        });
        let [a, _, c] = pieces();
        pending(d.push(&net(), &a, secs(1)));
        pending(d.push(&net(), &c, secs(1)));
        assert!(d.is_empty());
        assert_eq!(d.take_stats().invalid, 1);
        // Offset near u32::MAX does not overflow.
        pending(d.push(&net(), &frag(1, u32::MAX, true, b"x"), secs(1)));
        assert_eq!(d.take_stats().invalid, 1);
    }

    #[test]
    fn overflow_evicts_oldest() {
        let mut d = Defrag::new(DefragConfig {
            max_datagrams: 2,
            ..Default::default()
        });
        pending(d.push(&net(), &frag(1, 0, true, b"11111111"), secs(1)));
        pending(d.push(&net(), &frag(2, 0, true, b"22222222"), secs(2)));
        pending(d.push(&net(), &frag(3, 0, true, b"33333333"), secs(3)));
        assert_eq!(d.len(), 2);
        assert_eq!(d.take_stats().overflow, 1);
        // Datagram 2 survived.
        assert_eq!(
            complete(d.push(&net(), &frag(2, 8, false, b"y"), secs(3))),
            b"22222222y"
        );
        // Datagram 1 was evicted: its last fragment does not complete it.
        pending(d.push(&net(), &frag(1, 8, false, b"x"), secs(3)));
        assert_eq!(d.len(), 2);
        let mut z = Defrag::new(DefragConfig {
            max_datagrams: 0,
            ..Default::default()
        });
        pending(z.push(&net(), &frag(1, 0, true, b"1"), secs(1)));
        assert_eq!((z.len(), z.take_stats().overflow), (0, 1));
    }

    #[test]
    fn timeout() {
        let mut d = Defrag::new(DefragConfig {
            timeout: secs(30),
            ..Default::default()
        });
        let [a, b, c] = pieces();
        pending(d.push(&net(), &a, secs(100)));
        d.expire(secs(120));
        assert_eq!(d.len(), 1);
        d.expire(secs(131));
        assert!(d.is_empty());
        assert_eq!(d.take_stats().timed_out, 1);
        // A stale entry is not merged with a reused id.
        pending(d.push(&net(), &a, secs(200)));
        pending(d.push(&net(), &b, secs(300)));
        pending(d.push(&net(), &c, secs(300)));
        assert_eq!(d.take_stats().timed_out, 1);
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn keys_separate_datagrams() {
        let mut d = Defrag::new(DefragConfig::default());
        let [a, b, c] = pieces();
        let mut other = net();
        other.proto = 6;
        pending(d.push(&net(), &a, secs(1)));
        pending(d.push(&other, &b, secs(1)));
        pending(d.push(&net(), &c, secs(1)));
        assert_eq!(d.len(), 2);
    }

    #[test]
    fn too_many_pieces_is_invalid() {
        let mut d = Defrag::new(DefragConfig::default());
        // Non-overlapping 1-byte slivers with holes between them.
        for i in 0..=MAX_PIECES as u32 {
            pending(d.push(&net(), &frag(9, i * 16, true, b"s"), secs(1)));
        }
        assert!(d.is_empty());
        assert_eq!(d.take_stats().invalid, 1);
    }
}
