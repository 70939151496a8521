//! Which RTCP identity fields each (flow, SSRC) has already reported.
//!
//! Owner: `media`. RTCP SDES repeats the same CNAME/NAME/... in every
//! report (RFC 3550 §6.5: CNAME in every compound packet), while an
//! identity exposure is counted once per (stream, SSRC, field). Invariant:
//! bounded (an LRU of `cap` entries; a forgotten stream may count its
//! identity again, never more than once per time it is remembered), and
//! one lookup per report whatever the table's size.
//!
//! Each entry is a bitmask of field indexes, keyed by a 64-bit keyed hash
//! of (flow, SSRC): 24-byte entries instead of 64. Two keys colliding
//! (odds about n²/2⁶⁵) would share a mask, at worst not counting one
//! repeat of an identity already counted.

use super::stream::Flow;
use crate::lru::Lru;

/// Entries kept by the worker's table.
pub const RTCP_SEEN_CAP: usize = 65_536;

pub struct RtcpSeen {
    seen: Lru<u64, u64>,
    key: ahash::RandomState,
}

impl RtcpSeen {
    pub fn new(cap: usize) -> RtcpSeen {
        RtcpSeen {
            seen: Lru::new(cap),
            key: ahash::RandomState::new(),
        }
    }

    /// Keep only the items whose field (`bit(item)`, a field index; taken
    /// modulo 64) this (flow, SSRC) had not reported yet, and remember them.
    /// An empty list touches nothing.
    pub fn retain_new<T>(
        &mut self,
        flow: Flow,
        ssrc: u32,
        items: &mut Vec<T>,
        bit: impl Fn(&T) -> usize,
    ) {
        if items.is_empty() {
            return;
        }
        let key = self.key.hash_one((flow, ssrc));
        let seen = match self.seen.get_mut(&key) {
            Some(s) => s,
            None => {
                self.seen.insert(key, 0);
                match self.seen.get_mut(&key) {
                    Some(s) => s,
                    None => {
                        items.clear();
                        return;
                    }
                }
            }
        };
        items.retain(|it| {
            let b = 1u64 << (bit(it) & 63);
            let new = *seen & b == 0;
            *seen |= b;
            new
        });
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(port: u16) -> Flow {
        Flow {
            src: "192.0.2.1".parse().unwrap(),
            dst: "192.0.2.2".parse().unwrap(),
            src_port: port,
            dst_port: 5000,
        }
    }

    #[test]
    fn each_field_once_per_flow_and_ssrc() {
        let mut s = RtcpSeen::new(16);
        let mut v = vec![1usize, 2, 2];
        s.retain_new(flow(4000), 7, &mut v, |x| *x);
        // a field repeated inside one report also counts once
        assert_eq!(v, [1, 2]);
        let mut v = vec![1usize, 2, 3];
        s.retain_new(flow(4000), 7, &mut v, |x| *x);
        assert_eq!(v, [3], "only the field not reported before");
        let mut v = vec![1usize];
        s.retain_new(flow(4000), 8, &mut v, |x| *x);
        assert_eq!(v, [1], "another SSRC");
        let mut v = vec![1usize];
        s.retain_new(flow(4002), 7, &mut v, |x| *x);
        assert_eq!(v, [1], "another flow");
        assert_eq!(s.len(), 3);
    }

    #[test]
    fn empty_reports_take_no_entry_and_the_table_is_bounded() {
        let mut s = RtcpSeen::new(4);
        let mut v: Vec<usize> = Vec::new();
        s.retain_new(flow(1), 1, &mut v, |x| *x);
        assert!(s.is_empty());
        for ssrc in 0..100 {
            let mut v = vec![0usize];
            s.retain_new(flow(1), ssrc, &mut v, |x| *x);
            assert_eq!(v.len(), 1);
        }
        assert!(s.len() <= 4);
        // the oldest was forgotten: it counts again
        let mut v = vec![0usize];
        s.retain_new(flow(1), 0, &mut v, |x| *x);
        assert_eq!(v.len(), 1);
    }

    #[test]
    fn field_indexes_wrap_at_64() {
        let mut s = RtcpSeen::new(4);
        let mut v = vec![3usize];
        s.retain_new(flow(1), 1, &mut v, |x| *x);
        let mut v = vec![67usize];
        s.retain_new(flow(1), 1, &mut v, |x| *x);
        assert!(v.is_empty(), "67 shares bit 3");
    }
}
