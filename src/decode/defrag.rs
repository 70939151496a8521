//! IPv4/IPv6 fragment reassembly with a bounded pool (RFC 791 §3.2, RFC 8200 §4.5).
//!
//! Owner: `decode`. Invariants:
//! - at most `max_datagrams` datagrams in flight, each at most
//!   `max_datagram_bytes`, and the whole pool holds at most `max_bytes`
//!   ([`Defrag::held_bytes`]: payload bytes plus per-piece and per-datagram
//!   overhead, checked *before* anything is allocated); anything past a
//!   bound is dropped and reported in [`DefragStats`], never kept;
//! - memory follows what was received, never what a header claims: a
//!   datagram is a sorted list of the pieces received (no buffer sized by a
//!   fragment's offset, so one 58-byte fragment at offset 65,000 holds ~40
//!   bytes, not 64 KiB); the whole payload is assembled once, when complete,
//!   sized by its real total (the sum of the pieces);
//! - no operation costs more than O(bytes of this fragment + pieces of its
//!   datagram (≤ [`MAX_PIECES`])): eviction and expiry take the oldest entry
//!   of an arrival-ordered [`Lru`], never scan the pool.
//!
//! Parses no bytes (the caller gives [`super::Fragment`]s).
//!
//! Policy, chosen for a sensor that must not be fooled nor exhausted:
//! - a datagram is keyed by (source, destination, protocol, identification),
//!   RFC 791 §3.2 / RFC 8200 §4.5;
//! - an exact or partial repeat of bytes already held is accepted only if the
//!   bytes are identical (a duplicate); differing overlaps are the classic
//!   evasion trick, and RFC 5722 tells IPv6 receivers to drop the whole
//!   datagram, so both IP versions drop it and count it `invalid`;
//! - when the pool is full (count), expired datagrams are dropped first,
//!   then the oldest one makes room (counted `overflow`); when the byte
//!   budget would be exceeded, the oldest datagrams are dropped until the
//!   new bytes fit (counted `memcap`, like Suricata's `defrag.memcap`), so
//!   a flood of never-finished datagrams cannot block newer ones for a
//!   whole timeout.

use super::{Fragment, Net};
use crate::lru::Lru;
use std::net::IpAddr;
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct DefragConfig {
    pub max_datagrams: usize,
    pub max_datagram_bytes: usize,
    /// Byte budget of the whole pool (`[limits] defrag_bytes`).
    pub max_bytes: usize,
    pub timeout: Duration,
}

impl Default for DefragConfig {
    fn default() -> Self {
        DefragConfig {
            max_datagrams: 4096,
            max_datagram_bytes: 65_535,
            max_bytes: 8 << 20,
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
    /// Datagrams dropped to keep the pool within its byte budget
    /// (`flow_evictions_total{reason="defrag_memcap"}`, and
    /// `defrag_overflow`).
    pub memcap: u64,
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
/// Also bounds the per-fragment overlap walk.
pub const MAX_PIECES: usize = 256;

/// Allocator overhead charged per heap block (chunk header and rounding).
const ALLOC_OVERHEAD: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    id: u32,
}

/// One received piece: (offset in the datagram, bytes).
type Piece = (usize, Box<[u8]>);

struct Datagram {
    /// Bytes received, sorted by offset, never overlapping (a repeat is
    /// compared, and only its new bytes are kept).
    pieces: Vec<Piece>,
    /// Sum of the pieces' lengths.
    covered: usize,
    /// Fragments accepted (duplicates included), bounded by [`MAX_PIECES`].
    frags: usize,
    /// Length of the whole payload, known once the last fragment (M=0) arrived.
    total: Option<usize>,
    first_seen: Duration,
}

/// Charged per datagram: its pool node (key, value, links) and hash index
/// entry.
const DATAGRAM_OVERHEAD: usize =
    2 * std::mem::size_of::<Key>() + std::mem::size_of::<Datagram>() + 32;

/// What a fragment would add to a datagram, worked out before anything is
/// allocated.
struct Plan {
    /// New bytes (not already held).
    bytes: usize,
    /// New pieces (holes of the datagram the fragment fills).
    pieces: usize,
}

impl Datagram {
    fn new(now: Duration) -> Datagram {
        Datagram {
            pieces: Vec::new(),
            covered: 0,
            frags: 0,
            total: None,
            first_seen: now,
        }
    }

    /// Memory held: what [`Defrag::held_bytes`] sums.
    fn held(&self) -> usize {
        DATAGRAM_OVERHEAD
            + self.pieces.capacity() * std::mem::size_of::<Piece>()
            + self.covered
            + self.pieces.len() * ALLOC_OVERHEAD
    }

    /// Bytes `plan` would add to [`Self::held`] (an upper bound: the piece
    /// vector grows as `Vec` does, doubling).
    fn cost(&self, plan: &Plan) -> usize {
        let (len, cap) = (self.pieces.len(), self.pieces.capacity());
        let want = len + plan.pieces;
        let grow = if want > cap {
            (cap * 2).max(want).max(4) - cap
        } else {
            0
        };
        plan.bytes + plan.pieces * ALLOC_OVERHEAD + grow * std::mem::size_of::<Piece>()
    }

    /// End of the highest piece held.
    fn held_end(&self) -> usize {
        self.pieces.last().map_or(0, |(s, d)| s + d.len())
    }

    /// Index of the first piece ending after `start` (pieces before it
    /// cannot overlap [start, ..)).
    fn first_after(&self, start: usize) -> usize {
        self.pieces.partition_point(|(s, d)| s + d.len() <= start)
    }

    /// Check `data` at `start` against what is held and work out what it
    /// adds. `Err(())`: the datagram is inconsistent (drop it).
    fn plan(&self, start: usize, data: &[u8], last: bool) -> Result<Plan, ()> {
        let end = start.checked_add(data.len()).ok_or(())?;
        if last {
            // Two different ends, or bytes already held past the new end.
            if self.total.is_some_and(|t| t != end) || self.held_end() > end {
                return Err(());
            }
        } else if self.total.is_some_and(|t| end > t) {
            return Err(());
        }
        if data.is_empty() {
            return Ok(Plan {
                bytes: 0,
                pieces: 0,
            });
        }
        if self.frags >= MAX_PIECES {
            return Err(());
        }
        // Overlaps with held bytes must be identical (duplicates, RFC
        // 5722). Pieces do not overlap each other, so the bytes compared
        // are at most this fragment's.
        let mut pos = start;
        let mut plan = Plan {
            bytes: 0,
            pieces: 0,
        };
        for (s, d) in self.pieces.get(self.first_after(start)..).unwrap_or(&[]) {
            let e = s + d.len();
            if *s >= end {
                break;
            }
            if *s > pos {
                plan.bytes += s - pos;
                plan.pieces += 1;
            }
            let (os, oe) = ((*s).max(start), e.min(end));
            let held = d.get(os - s..oe - s).ok_or(())?;
            let new = data.get(os - start..oe - start).ok_or(())?;
            if held != new {
                return Err(());
            }
            pos = pos.max(e);
        }
        if pos < end {
            plan.bytes += end - pos;
            plan.pieces += 1;
        }
        if self.pieces.len() + plan.pieces > MAX_PIECES {
            return Err(());
        }
        Ok(plan)
    }

    /// Apply a fragment that [`Self::plan`] accepted: keep its new bytes.
    fn commit(&mut self, start: usize, data: &[u8], last: bool, plan: &Plan) {
        let end = start.saturating_add(data.len());
        if last {
            self.total = Some(end);
        }
        if data.is_empty() {
            return;
        }
        self.frags += 1;
        self.pieces.reserve(plan.pieces);
        let mut i = self.first_after(start);
        let mut pos = start;
        while pos < end {
            // The next held piece at or after `pos`, if it starts before `end`.
            let next = self
                .pieces
                .get(i)
                .map(|(s, d)| (*s, s + d.len()))
                .filter(|(s, _)| *s < end);
            match next {
                Some((s, e)) if s <= pos => {
                    pos = pos.max(e);
                    i += 1;
                }
                other => {
                    let hole_end = other.map_or(end, |(s, _)| s);
                    let bytes = data.get(pos - start..hole_end - start).unwrap_or(&[]);
                    self.covered += bytes.len();
                    self.pieces.insert(i, (pos, Box::from(bytes)));
                    i += 1;
                    pos = hole_end;
                }
            }
        }
    }

    fn complete(&self) -> bool {
        self.total.is_some_and(|t| t == self.covered)
    }

    /// The whole payload, in one buffer sized by the real total. `None` if
    /// the pieces are not contiguous from 0 (cannot happen when complete).
    fn assemble(self) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(self.covered);
        for (s, d) in self.pieces {
            if s != out.len() {
                return None;
            }
            out.extend_from_slice(&d);
        }
        Some(out)
    }
}

pub struct Defrag {
    cfg: DefragConfig,
    /// In order of arrival of each datagram's first fragment (never
    /// touched afterwards): the tail is the oldest.
    pool: Lru<Key, Datagram>,
    /// Sum of [`Datagram::held`] over the pool.
    held: usize,
    stats: DefragStats,
}

impl Defrag {
    pub fn new(cfg: DefragConfig) -> Self {
        Defrag {
            cfg,
            pool: Lru::new(cfg.max_datagrams),
            held: 0,
            stats: DefragStats::default(),
        }
    }

    fn remove(&mut self, key: &Key) -> Option<Datagram> {
        let d = self.pool.remove(key)?;
        self.held = self.held.saturating_sub(d.held());
        Some(d)
    }

    /// Drop the oldest datagram; its key.
    fn pop_oldest(&mut self) -> Option<Key> {
        let (k, d) = self.pool.pop_lru_if(|_| true)?;
        self.held = self.held.saturating_sub(d.held());
        Some(k)
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
        let last = !frag.more;
        if end > self.cfg.max_datagram_bytes {
            // Drop what we held of it too: it can never complete.
            self.remove(&key);
            self.stats.invalid += 1;
            return DefragOutcome::Pending;
        }
        // A stale entry with the same key is an old datagram whose id was
        // reused (16-bit IPv4 ids wrap quickly): it is timed out, not merged.
        if self.pool.peek(&key).is_some_and(|d| self.expired(d, now)) {
            self.remove(&key);
            self.stats.timed_out += 1;
        }
        let fresh;
        let (dgram, exists) = match self.pool.peek(&key) {
            Some(d) => (d, true),
            None => {
                if self.cfg.max_datagrams == 0 {
                    self.stats.overflow += 1;
                    return DefragOutcome::Pending;
                }
                fresh = Datagram::new(now);
                (&fresh, false)
            }
        };
        let plan = match dgram.plan(start, frag.payload, last) {
            Ok(p) => p,
            Err(()) => {
                self.remove(&key);
                self.stats.invalid += 1;
                return DefragOutcome::Pending;
            }
        };
        let need = dgram.cost(&plan) + if exists { 0 } else { dgram.held() };
        if !exists && self.pool.len() >= self.cfg.max_datagrams {
            self.expire(now);
        }
        // Byte budget, checked before allocating: the oldest datagrams go
        // first; when that is this one, the fragment goes with it.
        while self.held.saturating_add(need) > self.cfg.max_bytes {
            match self.pop_oldest() {
                Some(k) => {
                    self.stats.memcap += 1;
                    if k == key {
                        return DefragOutcome::Pending;
                    }
                }
                None => {
                    // Does not fit an empty pool (a budget below one datagram).
                    self.stats.memcap += 1;
                    return DefragOutcome::Pending;
                }
            }
        }
        if !exists {
            let d = Datagram::new(now);
            self.held += d.held();
            if let Some((_, old)) = self.pool.insert(key, d) {
                self.held = self.held.saturating_sub(old.held());
                self.stats.overflow += 1;
            }
        }
        let Some(dgram) = self.pool.peek_mut(&key) else {
            return DefragOutcome::Pending;
        };
        let before = dgram.held();
        dgram.commit(start, frag.payload, last, &plan);
        let (after, complete) = (dgram.held(), dgram.complete());
        self.held = self.held.saturating_sub(before).saturating_add(after);
        if complete {
            let whole = self.remove(&key).and_then(Datagram::assemble);
            return match whole {
                Some(buf) => {
                    self.stats.reassembled += 1;
                    DefragOutcome::Complete(buf)
                }
                None => {
                    self.stats.invalid += 1;
                    DefragOutcome::Pending
                }
            };
        }
        DefragOutcome::Pending
    }

    fn expired(&self, d: &Datagram, now: Duration) -> bool {
        now.saturating_sub(d.first_seen) > self.cfg.timeout
    }

    /// Drop datagrams older than the timeout; call about once a second of
    /// capture time. Takes them from the oldest end, so it costs
    /// O(datagrams dropped). (Capture timestamps that go backwards can
    /// leave an expired datagram behind a younger one until that one goes.)
    pub fn expire(&mut self, now: Duration) {
        let timeout = self.cfg.timeout;
        while let Some((_, d)) = self
            .pool
            .pop_lru_if(|d| now.saturating_sub(d.first_seen) > timeout)
        {
            self.held = self.held.saturating_sub(d.held());
            self.stats.timed_out += 1;
        }
    }

    pub fn len(&self) -> usize {
        self.pool.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Memory the pool holds for datagrams (payload pieces and their
    /// overhead); never above `max_bytes`.
    pub fn held_bytes(&self) -> usize {
        self.held
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

    /// The pool's accounting: within budget, zero exactly when empty.
    fn check_held(d: &Defrag) {
        assert!(
            d.held_bytes() <= d.cfg.max_bytes,
            "{} > {}",
            d.held_bytes(),
            d.cfg.max_bytes
        );
        assert_eq!(d.held_bytes() == 0, d.is_empty());
    }

    #[test]
    fn overlapping_pieces_are_split_not_duplicated() {
        let mut d = Defrag::new(DefragConfig::default());
        // Middle first, then a piece covering it and both sides (identical
        // bytes where it overlaps), then the end.
        pending(d.push(&net(), &frag(5, 8, true, &DATA[8..16]), secs(1)));
        let held_one = d.held_bytes();
        pending(d.push(&net(), &frag(5, 4, true, &DATA[4..20]), secs(1)));
        // Only the 8 new bytes (two holes) were added, plus two pieces.
        assert!(d.held_bytes() < held_one + 8 + 2 * 64, "{}", d.held_bytes());
        pending(d.push(&net(), &frag(5, 16, false, &DATA[16..24]), secs(1)));
        assert_eq!(
            complete(d.push(&net(), &frag(5, 0, true, &DATA[0..8]), secs(1))),
            DATA
        );
        assert_eq!(d.held_bytes(), 0);
        // A partial overlap that differs in one byte drops the datagram.
        pending(d.push(&net(), &frag(6, 8, true, &DATA[8..16]), secs(1)));
        pending(d.push(&net(), &frag(6, 12, true, b"BBXBCCCC"), secs(1)));
        assert!(d.is_empty());
        assert_eq!(d.take_stats().invalid, 1);
        check_held(&d);
    }

    #[test]
    fn last_fragment_consistency() {
        let mut d = Defrag::new(DefragConfig::default());
        // An empty last fragment fixes the end; data past it is refused.
        pending(d.push(&net(), &frag(3, 24, false, b""), secs(1)));
        pending(d.push(&net(), &frag(3, 0, true, &DATA[0..16]), secs(1)));
        assert_eq!(d.len(), 1);
        pending(d.push(&net(), &frag(3, 16, true, b"CCCCCCCCX"), secs(1)));
        assert!(d.is_empty());
        assert_eq!(d.take_stats().invalid, 1);
        // Reverse order with an empty last fragment completes.
        pending(d.push(&net(), &frag(4, 24, false, b""), secs(1)));
        pending(d.push(&net(), &frag(4, 16, true, &DATA[16..24]), secs(1)));
        pending(d.push(&net(), &frag(4, 8, true, &DATA[8..16]), secs(1)));
        assert_eq!(
            complete(d.push(&net(), &frag(4, 0, true, &DATA[0..8]), secs(1))),
            DATA
        );
        check_held(&d);
    }

    /// The attacker's shape: one small fragment far out (offset ~65,000)
    /// per datagram, thousands of datagrams. Memory follows the bytes
    /// received, and the pool never passes its byte budget.
    #[test]
    fn sparse_fragments_hold_what_was_received() {
        let budget = 256 * 1024;
        let mut d = Defrag::new(DefragConfig {
            max_bytes: budget,
            ..Default::default()
        });
        let payload = [0x55u8; 24];
        for id in 0..16_384u32 {
            pending(d.push(&net(), &frag(id, 64_992, true, &payload), secs(1)));
            check_held(&d);
        }
        let per = d.held_bytes() / d.len();
        // About 24 bytes of payload plus overhead each, not 64 KiB.
        assert!(per < 512, "{per} bytes per datagram");
        let s = d.take_stats();
        assert!(s.memcap > 0, "{s:?}");
        assert_eq!(s.memcap + s.overflow + d.len() as u64, 16_384);
    }

    #[test]
    fn budget_evicts_oldest_first() {
        let big = [7u8; 1000];
        let one = {
            let mut p = Defrag::new(DefragConfig::default());
            pending(p.push(&net(), &frag(1, 0, true, &big), secs(1)));
            p.held_bytes()
        };
        // Room for three and a half such datagrams.
        let mut d = Defrag::new(DefragConfig {
            max_bytes: 3 * one + one / 2,
            ..Default::default()
        });
        for id in 1..=3 {
            pending(d.push(&net(), &frag(id, 0, true, &big), secs(id.into())));
        }
        assert_eq!((d.len(), d.held_bytes()), (3, 3 * one));
        pending(d.push(&net(), &frag(4, 0, true, &big), secs(4)));
        assert_eq!(d.len(), 3);
        assert_eq!(d.take_stats().memcap, 1);
        check_held(&d);
        // 1 (the oldest) went: its last fragment does not complete it; 2's does.
        pending(d.push(&net(), &frag(1, 1000, false, b"x"), secs(4)));
        assert_eq!(
            complete(d.push(&net(), &frag(2, 1000, false, b"y"), secs(4))).len(),
            1001
        );
        check_held(&d);
        // Growing the oldest datagram past the budget drops it, not a newer one.
        let mut d = Defrag::new(DefragConfig {
            max_bytes: 2 * one + one / 2,
            ..Default::default()
        });
        pending(d.push(&net(), &frag(1, 0, true, &big), secs(1)));
        pending(d.push(&net(), &frag(2, 0, true, &big), secs(2)));
        pending(d.push(&net(), &frag(1, 1000, true, &big), secs(3)));
        assert_eq!(d.take_stats().memcap, 1);
        assert_eq!(d.len(), 1);
        assert_eq!(
            complete(d.push(&net(), &frag(2, 1000, false, b"z"), secs(3))).len(),
            1001
        );
        // A budget below one fragment keeps nothing.
        let mut z = Defrag::new(DefragConfig {
            max_bytes: 100,
            ..Default::default()
        });
        pending(z.push(&net(), &frag(1, 0, true, &big), secs(1)));
        assert_eq!((z.len(), z.held_bytes(), z.take_stats().memcap), (0, 0, 1));
    }

    #[test]
    fn count_eviction_and_expiry_follow_arrival_order() {
        let mut d = Defrag::new(DefragConfig {
            max_datagrams: 3,
            timeout: secs(10),
            ..Default::default()
        });
        for id in 1..=3u32 {
            pending(d.push(&net(), &frag(id, 0, true, b"aaaaaaaa"), secs(u64::from(id))));
        }
        // More fragments of 1 do not make it younger.
        pending(d.push(&net(), &frag(1, 8, true, b"bbbbbbbb"), secs(4)));
        pending(d.push(&net(), &frag(4, 0, true, b"aaaaaaaa"), secs(4)));
        assert!(d
            .pool
            .peek(&Key {
                src: net().src,
                dst: net().dst,
                proto: 17,
                id: 1
            })
            .is_none());
        assert_eq!(d.take_stats().overflow, 1);
        // At 13 s, datagram 2 (seen at 2 s) is past 10 s; 3 is not.
        d.expire(secs(13));
        assert_eq!((d.len(), d.take_stats().timed_out), (2, 1));
        d.expire(secs(100));
        assert!(d.is_empty());
        assert_eq!(d.held_bytes(), 0);
    }
}
