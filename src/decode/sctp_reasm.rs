//! Reassembly of SCTP user messages split over several DATA chunks
//! (RFC 9260 §6.9: the fragments of one message carry consecutive TSNs,
//! the first has B set, the last E).
//!
//! Owner: `decode`. Invariant: at most `max_messages` partial messages of at
//! most `max_bytes` each and `max_total` bytes together (buffer *capacity*,
//! checked before growing), none older than `timeout` once
//! [`SctpReassembler::expire`] ran; a fragment that does not continue a
//! partial message (lost chunk, reordering) drops it and is counted, never
//! kept. Fragments only ever append (consecutive TSNs), so nothing is sized
//! by a claimed offset. Eviction and expiry take the oldest entry of an
//! arrival-ordered [`Lru`]: O(1) per chunk, whatever the table holds.
//! Parses no bytes: it takes [`SctpData`] views.

use super::SctpData;
use crate::lru::Lru;
use std::net::IpAddr;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SctpKey {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub stream_id: u16,
    pub unordered: bool,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SctpStats {
    pub reassembled: u64,
    /// Partial messages dropped: a gap in TSNs, too large, or table full.
    pub dropped: u64,
}

struct Partial {
    next_tsn: u32,
    data: Vec<u8>,
    started: Duration,
}

#[derive(Debug, Clone, Copy)]
pub struct SctpConfig {
    pub max_messages: usize,
    pub max_bytes: usize,
    pub max_total: usize,
    pub timeout: Duration,
}

impl Default for SctpConfig {
    fn default() -> Self {
        SctpConfig {
            max_messages: 256,
            max_bytes: 128 * 1024,
            max_total: 4 << 20,
            timeout: Duration::from_secs(30),
        }
    }
}

pub struct SctpReassembler {
    cfg: SctpConfig,
    /// Sum of the partial messages' buffer capacities.
    total: usize,
    /// In order of each message's first fragment (never touched after).
    partial: Lru<SctpKey, Partial>,
    stats: SctpStats,
}

/// Capacity of a `Vec<u8>` of capacity `cap` after appending `n` bytes to
/// its `len` (the amortised doubling of `Vec::reserve`).
fn grown(len: usize, cap: usize, n: usize) -> usize {
    let want = len.saturating_add(n);
    if want <= cap {
        cap
    } else {
        want.max(cap.saturating_mul(2)).max(8)
    }
}

/// What to do with one DATA chunk.
pub enum SctpOutcome<'a> {
    /// An unfragmented message: the chunk's own bytes.
    Whole(&'a [u8]),
    /// The last fragment completed a message.
    Reassembled(Vec<u8>),
    /// Kept (or dropped: see stats) waiting for more.
    Pending,
}

impl SctpReassembler {
    pub fn new(cfg: SctpConfig) -> SctpReassembler {
        SctpReassembler {
            cfg,
            total: 0,
            partial: Lru::new(cfg.max_messages),
            stats: SctpStats::default(),
        }
    }

    fn drop_partial(&mut self, key: &SctpKey) {
        if let Some(p) = self.partial.remove(key) {
            self.total = self.total.saturating_sub(p.data.capacity());
            self.stats.dropped += 1;
        }
    }

    /// Drop the oldest partial message; false when there is none.
    fn drop_oldest(&mut self) -> bool {
        match self.partial.pop_lru_if(|_| true) {
            Some((_, p)) => {
                self.total = self.total.saturating_sub(p.data.capacity());
                self.stats.dropped += 1;
                true
            }
            None => false,
        }
    }

    /// `now` is the capture time of the chunk.
    pub fn push<'a>(
        &mut self,
        key: SctpKey,
        chunk: &SctpData<'a>,
        now: Duration,
    ) -> SctpOutcome<'a> {
        if chunk.begin && chunk.end {
            return SctpOutcome::Whole(chunk.data);
        }
        let n = chunk.data.len();
        if chunk.begin {
            self.drop_partial(&key);
            if n > self.cfg.max_bytes || n > self.cfg.max_total {
                self.stats.dropped += 1;
                return SctpOutcome::Pending;
            }
            if self.cfg.max_messages == 0 {
                self.stats.dropped += 1;
                return SctpOutcome::Pending;
            }
            // Full (count or bytes): give up on the oldest partials.
            while self.partial.len() >= self.cfg.max_messages || self.total + n > self.cfg.max_total
            {
                if !self.drop_oldest() {
                    break;
                }
            }
            let data = chunk.data.to_vec();
            self.total += data.capacity();
            self.partial.insert(
                key,
                Partial {
                    next_tsn: chunk.tsn.wrapping_add(1),
                    data,
                    started: now,
                },
            );
            return SctpOutcome::Pending;
        }
        let Some(p) = self.partial.peek(&key) else {
            // A middle or last fragment without its start: lost before us.
            self.stats.dropped += 1;
            return SctpOutcome::Pending;
        };
        let (len, cap) = (p.data.len(), p.data.capacity());
        let grow = grown(len, cap, n) - cap;
        if p.next_tsn != chunk.tsn
            || len + n > self.cfg.max_bytes
            || self.total + grow > self.cfg.max_total
        {
            self.drop_partial(&key);
            return SctpOutcome::Pending;
        }
        if let Some(p) = self.partial.peek_mut(&key) {
            p.data.reserve(n);
            p.data.extend_from_slice(chunk.data);
            p.next_tsn = chunk.tsn.wrapping_add(1);
            self.total = self.total.saturating_sub(cap) + p.data.capacity();
        }
        if chunk.end {
            self.stats.reassembled += 1;
            if let Some(p) = self.partial.remove(&key) {
                self.total = self.total.saturating_sub(p.data.capacity());
                return SctpOutcome::Reassembled(p.data);
            }
        }
        SctpOutcome::Pending
    }

    /// Drop partial messages started more than the timeout before `now`,
    /// from the oldest end: O(messages dropped).
    pub fn expire(&mut self, now: Duration) {
        let timeout = self.cfg.timeout;
        while let Some((_, p)) = self
            .partial
            .pop_lru_if(|p| now.saturating_sub(p.started) > timeout)
        {
            self.total = self.total.saturating_sub(p.data.capacity());
            self.stats.dropped += 1;
        }
    }

    /// Bytes held in partial messages (buffer capacity).
    pub fn bytes(&self) -> usize {
        self.total
    }

    pub fn len(&self) -> usize {
        self.partial.len()
    }

    pub fn is_empty(&self) -> bool {
        self.partial.is_empty()
    }

    pub fn take_stats(&mut self) -> SctpStats {
        std::mem::take(&mut self.stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SctpKey {
        SctpKey {
            src: [10, 0, 0, 1].into(),
            dst: [10, 0, 0, 2].into(),
            src_port: 5060,
            dst_port: 5060,
            stream_id: 0,
            unordered: true,
        }
    }

    fn chunk(tsn: u32, begin: bool, end: bool, data: &[u8]) -> SctpData<'_> {
        SctpData {
            unordered: true,
            begin,
            end,
            tsn,
            stream_id: 0,
            stream_seq: 0,
            ppid: 0,
            data,
        }
    }

    #[test]
    fn whole_and_fragmented() {
        let mut r = SctpReassembler::new(SctpConfig {
            max_messages: 4,
            max_bytes: 100,
            ..SctpConfig::default()
        });
        let t = Duration::ZERO;
        assert!(matches!(
            r.push(key(), &chunk(1, true, true, b"ab"), t),
            SctpOutcome::Whole(b"ab")
        ));
        assert!(matches!(
            r.push(key(), &chunk(7, true, false, b"ab"), t),
            SctpOutcome::Pending
        ));
        assert!(matches!(
            r.push(key(), &chunk(8, false, false, b"cd"), t),
            SctpOutcome::Pending
        ));
        // "ab" then "cd": the buffer grew to 8 (Vec doubling, minimum 8).
        assert_eq!(r.bytes(), 8);
        match r.push(key(), &chunk(9, false, true, b"ef"), t) {
            SctpOutcome::Reassembled(v) => assert_eq!(v, b"abcdef"),
            _ => panic!("not reassembled"),
        }
        assert!(r.is_empty());
        assert_eq!(r.bytes(), 0);
        assert_eq!(r.take_stats().reassembled, 1);
    }

    #[test]
    fn partials_expire_and_respect_the_byte_budget() {
        let mut r = SctpReassembler::new(SctpConfig {
            max_messages: 100,
            max_bytes: 10,
            max_total: 20,
            timeout: Duration::from_secs(30),
        });
        let mut k = key();
        for i in 0..10u16 {
            k.stream_id = i;
            r.push(
                k,
                &chunk(u32::from(i) * 10, true, false, b"12345678"),
                Duration::from_secs(u64::from(i)),
            );
        }
        assert!(r.bytes() <= 20, "{}", r.bytes());
        assert_eq!(r.len(), 2);
        r.expire(Duration::from_secs(100));
        assert!(r.is_empty());
        assert_eq!(r.bytes(), 0);
        assert_eq!(r.take_stats().dropped, 10);
    }

    #[test]
    fn gaps_and_bounds_are_counted() {
        let mut r = SctpReassembler::new(SctpConfig {
            max_messages: 1,
            max_bytes: 4,
            ..SctpConfig::default()
        });
        let t = Duration::ZERO;
        r.push(key(), &chunk(1, true, false, b"ab"), t);
        r.push(key(), &chunk(3, false, true, b"cd"), t); // TSN 2 lost
        assert!(r.is_empty());
        r.push(key(), &chunk(5, false, true, b"cd"), t); // no start
        r.push(key(), &chunk(6, true, false, b"abcdef"), t); // too large
        let mut k2 = key();
        k2.stream_id = 1;
        r.push(key(), &chunk(8, true, false, b"ab"), t);
        r.push(k2, &chunk(9, true, false, b"ab"), t); // table full: evicts one
        assert_eq!(r.take_stats().dropped, 4);
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn oldest_started_goes_first_whatever_continued_later() {
        let mut r = SctpReassembler::new(SctpConfig {
            max_messages: 3,
            ..SctpConfig::default()
        });
        let k = |id: u16| SctpKey {
            stream_id: id,
            ..key()
        };
        let s = Duration::from_secs;
        for id in 0..3 {
            r.push(
                k(id),
                &chunk(10 * u32::from(id), true, false, b"ab"),
                s(u64::from(id)),
            );
        }
        // Continuing the oldest does not make it young: start order stays.
        r.push(k(0), &chunk(1, false, false, b"cd"), s(5));
        // Full: the fourth start evicts stream 0, the oldest started.
        r.push(k(3), &chunk(30, true, false, b"ab"), s(6));
        assert_eq!(r.take_stats().dropped, 1);
        assert!(matches!(
            r.push(k(0), &chunk(2, false, true, b"ef"), s(7)),
            SctpOutcome::Pending
        ));
        assert_eq!(r.take_stats().dropped, 1, "stream 0 was gone");
        // Expiry pops from the old end and stops at the first young one.
        r.expire(s(1) + SctpConfig::default().timeout + s(1));
        assert_eq!(r.len(), 2, "streams 2 and 3 remain");
        // The budget counts what is held: 2 bytes each.
        assert_eq!(r.bytes(), 4);
    }
}
