//! Reassembly of SCTP user messages split over several DATA chunks
//! (RFC 9260 §6.9: the fragments of one message carry consecutive TSNs,
//! the first has B set, the last E).
//!
//! Owner: `decode`. Invariant: at most `max_messages` partial messages of at
//! most `max_bytes` each; a fragment that does not continue a partial
//! message (lost chunk, reordering) drops it and is counted, never kept.
//! Parses no bytes: it takes [`SctpData`] views.

use super::SctpData;
use std::collections::HashMap;
use std::net::IpAddr;

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
}

pub struct SctpReassembler {
    max_messages: usize,
    max_bytes: usize,
    partial: HashMap<SctpKey, Partial>,
    stats: SctpStats,
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
    pub fn new(max_messages: usize, max_bytes: usize) -> SctpReassembler {
        SctpReassembler {
            max_messages,
            max_bytes,
            partial: HashMap::new(),
            stats: SctpStats::default(),
        }
    }

    pub fn push<'a>(&mut self, key: SctpKey, chunk: &SctpData<'a>) -> SctpOutcome<'a> {
        if chunk.begin && chunk.end {
            return SctpOutcome::Whole(chunk.data);
        }
        if chunk.begin {
            if self.partial.remove(&key).is_some() {
                self.stats.dropped += 1;
            }
            if chunk.data.len() > self.max_bytes {
                self.stats.dropped += 1;
                return SctpOutcome::Pending;
            }
            if self.partial.len() >= self.max_messages {
                // Full: give up on one partial message (an arbitrary one:
                // stale partials are the ones still around) for the new.
                if let Some(old) = self.partial.keys().next().copied() {
                    self.partial.remove(&old);
                    self.stats.dropped += 1;
                }
            }
            self.partial.insert(
                key,
                Partial {
                    next_tsn: chunk.tsn.wrapping_add(1),
                    data: chunk.data.to_vec(),
                },
            );
            return SctpOutcome::Pending;
        }
        let Some(p) = self.partial.get_mut(&key) else {
            // A middle or last fragment without its start: lost before us.
            self.stats.dropped += 1;
            return SctpOutcome::Pending;
        };
        if p.next_tsn != chunk.tsn || p.data.len() + chunk.data.len() > self.max_bytes {
            self.partial.remove(&key);
            self.stats.dropped += 1;
            return SctpOutcome::Pending;
        }
        p.data.extend_from_slice(chunk.data);
        p.next_tsn = chunk.tsn.wrapping_add(1);
        if chunk.end {
            self.stats.reassembled += 1;
            return match self.partial.remove(&key) {
                Some(p) => SctpOutcome::Reassembled(p.data),
                None => SctpOutcome::Pending,
            };
        }
        SctpOutcome::Pending
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
        let mut r = SctpReassembler::new(4, 100);
        assert!(matches!(
            r.push(key(), &chunk(1, true, true, b"ab")),
            SctpOutcome::Whole(b"ab")
        ));
        assert!(matches!(
            r.push(key(), &chunk(7, true, false, b"ab")),
            SctpOutcome::Pending
        ));
        assert!(matches!(
            r.push(key(), &chunk(8, false, false, b"cd")),
            SctpOutcome::Pending
        ));
        match r.push(key(), &chunk(9, false, true, b"ef")) {
            SctpOutcome::Reassembled(v) => assert_eq!(v, b"abcdef"),
            _ => panic!("not reassembled"),
        }
        assert!(r.is_empty());
        assert_eq!(r.take_stats().reassembled, 1);
    }

    #[test]
    fn gaps_and_bounds_are_counted() {
        let mut r = SctpReassembler::new(1, 4);
        r.push(key(), &chunk(1, true, false, b"ab"));
        r.push(key(), &chunk(3, false, true, b"cd")); // TSN 2 lost
        assert!(r.is_empty());
        r.push(key(), &chunk(5, false, true, b"cd")); // no start
        r.push(key(), &chunk(6, true, false, b"abcdef")); // too large
        let mut k2 = key();
        k2.stream_id = 1;
        r.push(key(), &chunk(8, true, false, b"ab"));
        r.push(k2, &chunk(9, true, false, b"ab")); // table full: evicts one
        assert_eq!(r.take_stats().dropped, 4);
        assert_eq!(r.len(), 1);
    }
}
