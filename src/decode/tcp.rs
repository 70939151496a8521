//! Bounded TCP stream reassembly, one direction at a time.
//!
//! Owner: `decode`. Invariants:
//! - at most `max_streams` directions tracked and at most `max_buffer`
//!   unconsumed bytes each (in-order plus out-of-order);
//! - all streams together hold at most `max_total_bytes`
//!   ([`TcpReassembler::held_bytes`]: buffer *capacity*, out-of-order
//!   pieces with their overhead, and what the application state `A` holds,
//!   via [`HeldBytes`]), like Suricata's `stream.reassembly.memcap`. The
//!   reassembler's own growth is checked before it allocates; the
//!   application's (a WebSocket message being joined) is charged when the
//!   consumer hands the stream back, at the start of the next call, and
//!   the least recently used streams are evicted until the pool fits;
//! - retransmitted bytes are delivered once; a hole that does not fill is
//!   skipped (a gap, counted) so the consumer can resynchronise;
//! - per segment the cost is O(bytes of the segment) plus
//!   O(`max_out_of_order_segments`): eviction and idle expiry take the
//!   oldest entry of an [`Lru`], never scan the table.
//!
//! Each stream carries an application state `A` so the consumer needs no
//! second table.
//!
//! How it works. Each stream holds `next_seq`, the sequence number of the
//! next byte the consumer has not been given, and:
//! - `buf[rd..]`: in-order bytes not yet consumed, contiguous, ending just
//!   before `next_seq` (one slice for [`Stream::parts`]; compacted when the
//!   read offset passes half the vector, and given back to the allocator
//!   when large and mostly empty, so memory stays bounded);
//! - `ooo`: up to `max_out_of_order_segments` segments beyond `next_seq`,
//!   held as received (no buffer sized by a far-out sequence number),
//!   released into `buf` when the hole before them fills.
//!
//! Sequence numbers are compared modulo 2^32 (RFC 9293 §3.4, RFC 1982 serial
//! arithmetic): `a` is before `b` when `(a - b) as i32 < 0`.
//!
//! A gap (a hole skipped because the out-of-order space or `max_buffer` ran
//! out) also discards the unconsumed in-order bytes before it: they are the
//! start of a message whose rest is lost, so no consumer could finish it.
//! After a gap the consumer sees only post-gap bytes and [`Stream::take_gap`]
//! is true once, so it restarts framing (a SIP framer looks for a start line).
//!
//! Streams first seen without a SYN (capture started mid-connection) begin
//! at the first data segment, with the gap flag set. Segments without payload
//! never create a stream (pure ACKs of a direction that sends nothing).

use super::TcpSegment;
use crate::lru::Lru;
use std::net::IpAddr;
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct TcpConfig {
    pub max_streams: usize,
    pub max_buffer: usize,
    pub max_out_of_order_segments: usize,
    /// Byte budget of all streams together (`[limits] tcp_bytes`).
    pub max_total_bytes: usize,
    pub idle_timeout: Duration,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            max_streams: 65_536,
            max_buffer: 256 * 1024,
            max_out_of_order_segments: 64,
            max_total_bytes: 64 << 20,
            idle_timeout: Duration::from_secs(300),
        }
    }
}

/// Heap bytes an application state holds (its buffers' capacity), charged
/// to the reassembler's byte budget.
pub trait HeldBytes {
    fn held_bytes(&self) -> usize;
}

impl HeldBytes for () {
    fn held_bytes(&self) -> usize {
        0
    }
}

impl HeldBytes for u32 {
    fn held_bytes(&self) -> usize {
        0
    }
}

/// One direction of a TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StreamKey {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
}

impl StreamKey {
    /// The direction a transport header's ports take inside `net`: the
    /// 4-tuple a TCP stream is keyed by (and, converted, a UDP flow).
    pub fn new(net: &super::Net, src_port: u16, dst_port: u16) -> StreamKey {
        StreamKey {
            src: net.src,
            dst: net.dst,
            src_port,
            dst_port,
        }
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TcpStats {
    pub segments: u64,
    pub retransmitted: u64,
    pub out_of_order: u64,
    /// Holes skipped (bytes lost to the consumer).
    pub gaps: u64,
    /// Segments whose bytes did not fit `max_buffer`, or the byte budget
    /// with every other stream gone (`stream_overflow`).
    pub overflow: u64,
    /// Streams evicted to admit a new one (`flow_table_full`).
    pub evicted_capacity: u64,
    /// Streams evicted to keep the byte budget (`tcp_memcap`, and
    /// `stream_overflow`).
    pub evicted_memcap: u64,
    pub evicted_idle: u64,
    pub closed: u64,
}

/// `a - b` in sequence space: negative when `a` is before `b`.
#[inline]
fn seq_diff(a: u32, b: u32) -> i64 {
    i64::from(a.wrapping_sub(b) as i32)
}

/// Above this capacity an emptied (or mostly empty) buffer is given back
/// to the allocator.
const KEEP_CAPACITY: usize = 64 * 1024;

/// Allocator overhead charged per heap block (chunk header and rounding).
const ALLOC_OVERHEAD: usize = 16;

/// One out-of-order segment: (first sequence number, bytes).
type OooSeg = (u32, Vec<u8>);

pub struct Stream<A> {
    pub app: A,
    buf: Vec<u8>,
    rd: usize,
    next_seq: u32,
    /// Sequence number of the SYN, when seen (to tell a retransmitted SYN
    /// from a new connection reusing the ports).
    isn: Option<u32>,
    /// Out-of-order segments, as received.
    ooo: Vec<OooSeg>,
    ooo_bytes: usize,
    gap: bool,
    /// Sequence number just after the FIN, when one was seen out of order.
    fin_at: Option<u32>,
    closed: bool,
    last_seen: Duration,
    /// What this stream is charged in [`TcpReassembler::held_bytes`].
    accounted: usize,
}

impl<A: HeldBytes> Stream<A> {
    fn new(app: A, next_seq: u32, gap: bool, now: Duration) -> Self {
        Stream {
            app,
            buf: Vec::new(),
            rd: 0,
            next_seq,
            isn: None,
            ooo: Vec::new(),
            ooo_bytes: 0,
            gap,
            fin_at: None,
            closed: false,
            last_seen: now,
            accounted: 0,
        }
    }

    /// Contiguous in-order bytes not yet consumed, and the app state.
    pub fn parts(&mut self) -> (&[u8], &mut A) {
        (self.buf.get(self.rd..).unwrap_or(&[]), &mut self.app)
    }

    /// Mark `n` bytes at the front as consumed (clamped to what is there).
    pub fn consume(&mut self, n: usize) {
        self.rd = self.rd.saturating_add(n).min(self.buf.len());
        if self.rd == self.buf.len() {
            self.clear_buf();
        } else if self.rd > self.buf.len() / 2 {
            self.buf.drain(..self.rd);
            self.rd = 0;
            // A large message was consumed: give most of its room back
            // (amortised: only when a quarter or less is in use).
            let cap = self.buf.capacity();
            if cap > KEEP_CAPACITY && self.buf.len() <= cap / 4 {
                self.buf.shrink_to(self.buf.len().max(KEEP_CAPACITY / 4));
            }
        }
    }

    /// True once since a gap was skipped: the consumer should resynchronise.
    pub fn take_gap(&mut self) -> bool {
        std::mem::take(&mut self.gap)
    }

    /// Bytes available to [`Stream::parts`].
    pub fn unconsumed(&self) -> usize {
        self.buf.len() - self.rd
    }

    /// True after FIN (in order) or RST: the stream is removed on the next
    /// call to the reassembler, so the consumer should flush now.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    fn clear_buf(&mut self) {
        self.rd = 0;
        if self.buf.capacity() > KEEP_CAPACITY {
            self.buf = Vec::new();
        } else {
            self.buf.clear();
        }
    }

    fn held(&self) -> usize {
        self.unconsumed() + self.ooo_bytes
    }

    /// Memory this stream holds: its table entry, buffer capacity,
    /// out-of-order pieces (each its own allocation) and the app's buffers.
    fn mem(&self) -> usize {
        STREAM_OVERHEAD
            + self.buf.capacity()
            + self.ooo.capacity() * std::mem::size_of::<OooSeg>()
            + self.ooo_bytes
            + self.ooo.len() * ALLOC_OVERHEAD
            + self.app.held_bytes()
    }

    /// An upper bound of what adding `len` bytes can add to [`Self::mem`]:
    /// the in-order buffer grows by doubling to at most twice what it may
    /// then hold (its bytes, this segment and every out-of-order byte
    /// released behind it), or the segment is kept out of order.
    fn growth_bound(&self, len: usize) -> usize {
        let required = self
            .buf
            .len()
            .saturating_add(len)
            .saturating_add(self.ooo_bytes);
        let cap = self.buf.capacity();
        let buf = if required > cap {
            required.saturating_mul(2).max(8) - cap
        } else {
            0
        };
        let vec = if self.ooo.len() == self.ooo.capacity() {
            self.ooo.capacity().max(4) * std::mem::size_of::<OooSeg>()
        } else {
            0
        };
        buf.saturating_add(len)
            .saturating_add(ALLOC_OVERHEAD)
            .saturating_add(vec)
    }

    /// Skip the hole before `to`: discard the unconsumed bytes (see the module
    /// docs) and move `next_seq`.
    fn skip_to(&mut self, to: u32, stats: &mut TcpStats) {
        stats.gaps += 1;
        self.gap = true;
        self.clear_buf();
        self.next_seq = to;
    }

    /// Drop everything held and skip past `end` (a segment that could not
    /// be kept): the consumer resynchronises after the gap.
    fn overflow_to(&mut self, end: u32, stats: &mut TcpStats) {
        stats.overflow += 1;
        self.skip_to(end, stats);
        self.drop_ooo_before_next(stats);
        self.release(stats);
    }

    /// Append the out-of-order segments that are now in order.
    fn release(&mut self, stats: &mut TcpStats) {
        loop {
            let Some(i) = self
                .ooo
                .iter()
                .position(|(s, _)| seq_diff(*s, self.next_seq) <= 0)
            else {
                return;
            };
            let (s, data) = self.ooo.swap_remove(i);
            self.ooo_bytes -= data.len();
            let skip = seq_diff(self.next_seq, s) as usize;
            match data.get(skip..) {
                Some(tail) if !tail.is_empty() => {
                    self.buf.extend_from_slice(tail);
                    self.next_seq = self.next_seq.wrapping_add(tail.len() as u32);
                }
                // Wholly before next_seq: a copy of bytes already delivered.
                _ => stats.retransmitted += 1,
            }
        }
    }

    /// Add payload starting at `seq`. True when the consumer has something new
    /// (bytes or a gap).
    fn add(&mut self, seq: u32, data: &[u8], cfg: &TcpConfig, stats: &mut TcpStats) -> bool {
        if data.is_empty() {
            return false;
        }
        // Segments are at most 64 KiB (IP length), so this never truncates.
        let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        let rel = seq_diff(seq, self.next_seq);
        let (seq, data) = if rel < 0 {
            // Starts before next_seq: the front (or all) was seen already.
            let seen = rel.unsigned_abs();
            if seen >= u64::from(len) {
                stats.retransmitted += 1;
                return false;
            }
            stats.retransmitted += 1;
            (self.next_seq, data.get(seen as usize..).unwrap_or(&[]))
        } else {
            (seq, data)
        };
        let len = data.len();
        let end = seq.wrapping_add(len as u32);
        if len > cfg.max_buffer {
            // Can never be held: drop it and skip past it (and past any
            // hole before it; such a segment is rare: IP caps it at 64 KiB).
            self.overflow_to(end, stats);
            return true;
        }
        if seq == self.next_seq {
            if self.held().saturating_add(len) > cfg.max_buffer {
                // The consumer is holding more than the bound (a message
                // larger than max_buffer): drop the segment and skip past it.
                self.overflow_to(end, stats);
                return true;
            }
            self.buf.extend_from_slice(data);
            self.next_seq = end;
            self.release(stats);
            return true;
        }
        // Beyond next_seq: a hole before it.
        if self.ooo.iter().any(|(s, d)| *s == seq && d.len() >= len) {
            stats.retransmitted += 1;
            return false;
        }
        if self.ooo.len() >= cfg.max_out_of_order_segments
            || self.held().saturating_add(len) > cfg.max_buffer
        {
            // The hole did not fill in time: skip to the earliest byte held
            // beyond it, then keep this segment if it fits now.
            let first = self
                .ooo
                .iter()
                .map(|(s, _)| *s)
                .chain(std::iter::once(seq))
                .min_by_key(|s| seq_diff(*s, self.next_seq))
                .unwrap_or(seq);
            self.skip_to(first, stats);
            self.release(stats);
            if seq_diff(seq, self.next_seq) <= 0 {
                self.add(seq, data, cfg, stats);
                return true;
            }
            if self.ooo.len() < cfg.max_out_of_order_segments
                && self.held().saturating_add(len) <= cfg.max_buffer
            {
                stats.out_of_order += 1;
                self.ooo_bytes += len;
                self.ooo.push((seq, data.to_vec()));
            } else {
                stats.overflow += 1;
            }
            return true;
        }
        stats.out_of_order += 1;
        self.ooo_bytes += len;
        self.ooo.push((seq, data.to_vec()));
        false
    }

    fn drop_ooo_before_next(&mut self, stats: &mut TcpStats) {
        let next = self.next_seq;
        let before = self.ooo.len();
        self.ooo
            .retain(|(s, d)| seq_diff(s.wrapping_add(d.len() as u32), next) > 0);
        stats.retransmitted += (before - self.ooo.len()) as u64;
        self.ooo_bytes = self.ooo.iter().map(|(_, d)| d.len()).sum();
    }
}

/// Charged per stream: its table node (key, stream, links) and hash index
/// entry. The app state's inline size is part of `Stream`.
const STREAM_OVERHEAD: usize = 2 * std::mem::size_of::<StreamKey>() + 32;

pub struct TcpReassembler<A> {
    cfg: TcpConfig,
    /// Least recently used at the tail (touched by every segment).
    streams: Lru<StreamKey, Stream<A>>,
    /// Sum of the streams' `accounted`.
    held: usize,
    /// The stream last handed to the consumer, whose app state may have
    /// grown since: charged again at the start of the next call.
    dirty: Option<StreamKey>,
    /// Streams closed by the previous call, removed at the start of the next.
    closing: Vec<StreamKey>,
    stats: TcpStats,
}

impl<A: Default + HeldBytes> TcpReassembler<A> {
    pub fn new(cfg: TcpConfig) -> Self {
        TcpReassembler {
            cfg,
            streams: Lru::new(cfg.max_streams),
            held: 0,
            dirty: None,
            closing: Vec::new(),
            stats: TcpStats::default(),
        }
    }

    /// Charge `s` what it holds now; the difference goes to the total.
    fn charge(held: &mut usize, s: &mut Stream<A>) {
        let now = s.mem() + std::mem::size_of::<Stream<A>>();
        *held = held.saturating_sub(s.accounted).saturating_add(now);
        s.accounted = now;
    }

    fn forget(&mut self, s: &Stream<A>) {
        self.held = self.held.saturating_sub(s.accounted);
    }

    /// Evict least recently used streams until `need` more bytes fit,
    /// keeping at least `keep` streams (the one being fed is the most
    /// recently used).
    fn make_room(&mut self, need: usize, keep: usize) {
        while self.held.saturating_add(need) > self.cfg.max_total_bytes && self.streams.len() > keep
        {
            let Some((_, s)) = self.streams.pop_lru_if(|_| true) else {
                break;
            };
            self.forget(&s);
            self.stats.evicted_memcap += 1;
        }
    }

    /// Charge the stream handed out last (its app state may have grown or
    /// shrunk) and evict until the pool is within budget again.
    pub fn settle(&mut self) {
        if let Some(k) = self.dirty.take() {
            if let Some(s) = self.streams.peek_mut(&k) {
                Self::charge(&mut self.held, s);
            }
            self.make_room(0, 0);
        }
    }

    fn remove_closed(&mut self) {
        for key in std::mem::take(&mut self.closing) {
            // Only if still closed: a SYN may have restarted the direction.
            if self.streams.peek(&key).is_some_and(|s| s.closed) {
                if let Some(s) = self.streams.remove(&key) {
                    self.forget(&s);
                }
                self.stats.closed += 1;
            }
        }
    }

    /// Feed one segment of direction `key`. Returns the stream when new
    /// in-order bytes became available (or a gap was skipped); `None` when
    /// there is nothing new to read (pure ACK, retransmission, buffered
    /// out-of-order segment). FIN/RST remove the stream after delivery.
    pub fn segment(
        &mut self,
        key: StreamKey,
        seg: &TcpSegment<'_>,
        now: Duration,
    ) -> Option<&mut Stream<A>> {
        self.settle();
        self.remove_closed();
        self.stats.segments += 1;
        let flags = seg.flags;
        // The SYN occupies one sequence number (RFC 9293 §3.4); data in a SYN
        // (TCP Fast Open) starts after it.
        let data_seq = if flags.syn {
            seg.seq.wrapping_add(1)
        } else {
            seg.seq
        };

        let restart = match self.streams.peek(&key) {
            // A SYN that does not match the stream's is a new connection
            // reusing the ports: start over.
            Some(s) => flags.syn && s.isn != Some(seg.seq),
            None => {
                if !flags.syn && (seg.payload.is_empty() || flags.rst) {
                    return None;
                }
                if self.cfg.max_streams == 0 {
                    return None;
                }
                true
            }
        };
        if restart {
            if let Some(old) = self.streams.remove(&key) {
                self.forget(&old);
            }
            // Mid-stream start: the first bytes are probably inside a message.
            let gap = !flags.syn;
            let mut stream = Stream::new(A::default(), data_seq, gap, now);
            stream.isn = flags.syn.then_some(seg.seq);
            let mut held = 0;
            Self::charge(&mut held, &mut stream);
            self.make_room(held, 0);
            self.held = self.held.saturating_add(held);
            if let Some((_, victim)) = self.streams.insert(key, stream) {
                self.forget(&victim);
                self.stats.evicted_capacity += 1;
            }
        }

        // Room for this segment, before anything is allocated: other
        // streams go first, least recently used first.
        if !self.streams.touch(&key) {
            return None;
        }
        let need = self
            .streams
            .peek(&key)
            .map_or(0, |s| s.growth_bound(seg.payload.len()));
        self.make_room(need, 1);
        let over = self.held.saturating_add(need) > self.cfg.max_total_bytes;

        let cfg = self.cfg;
        let stats = &mut self.stats;
        let stream = self.streams.front_mut()?;
        stream.last_seen = now;
        let mut new = if over && !seg.payload.is_empty() {
            // Alone and still over budget: this stream gives up what it
            // holds and skips past the segment.
            let end = data_seq.wrapping_add(seg.payload.len() as u32);
            if seq_diff(end, stream.next_seq) > 0 {
                stream.ooo = Vec::new();
                stream.ooo_bytes = 0;
                stream.overflow_to(end, stats);
                true
            } else {
                false
            }
        } else {
            stream.add(data_seq, seg.payload, &cfg, stats)
        };
        // A fresh mid-stream stream reports its gap with its first bytes.
        new |= restart && stream.gap;
        if flags.fin {
            stream.fin_at = Some(data_seq.wrapping_add(seg.payload.len() as u32));
        }
        if flags.rst
            || stream
                .fin_at
                .is_some_and(|f| seq_diff(stream.next_seq, f) >= 0)
        {
            stream.closed = true;
            self.closing.push(key);
        }
        Self::charge(&mut self.held, stream);
        if new {
            self.dirty = Some(key);
            Some(stream)
        } else {
            None
        }
    }

    /// Remove streams idle for longer than the idle timeout (and those closed
    /// by the previous call). Takes them from the least recently used end:
    /// O(streams removed).
    pub fn expire(&mut self, now: Duration) {
        self.settle();
        self.remove_closed();
        let timeout = self.cfg.idle_timeout;
        while let Some((_, s)) = self
            .streams
            .pop_lru_if(|s| now.saturating_sub(s.last_seen) > timeout)
        {
            self.forget(&s);
            self.stats.evicted_idle += 1;
        }
    }

    pub fn len(&self) -> usize {
        self.streams.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Memory held by all streams (buffers, pieces, app state), within
    /// `max_total_bytes` once settled (this settles first).
    pub fn held_bytes(&mut self) -> usize {
        self.settle();
        self.held
    }

    pub fn take_stats(&mut self) -> TcpStats {
        std::mem::take(&mut self.stats)
    }
}

#[cfg(test)]
mod tests {
    use super::super::TcpFlags;
    use super::*;
    use std::net::Ipv4Addr;

    fn key(port: u16) -> StreamKey {
        StreamKey {
            src: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            dst: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)),
            src_port: port,
            dst_port: 5060,
        }
    }

    // `NONE`: no flag but ACK, an ordinary data segment.
    use crate::testkit::tcp::{ACK as NONE, FIN, RST, SYN};

    fn seg(seq: u32, flags: TcpFlags, payload: &[u8]) -> TcpSegment<'_> {
        TcpSegment {
            src_port: 40000,
            dst_port: 5060,
            seq,
            flags,
            payload,
        }
    }

    fn t(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    /// Feed and return (bytes now readable, gap flag) if the stream was returned.
    fn feed(
        r: &mut TcpReassembler<u32>,
        k: StreamKey,
        s: TcpSegment<'_>,
    ) -> Option<(Vec<u8>, bool)> {
        let st = r.segment(k, &s, t(1))?;
        let gap = st.take_gap();
        Some((st.parts().0.to_vec(), gap))
    }

    fn new_r() -> TcpReassembler<u32> {
        TcpReassembler::new(TcpConfig::default())
    }

    #[test]
    fn in_order_with_syn_and_consume() {
        let mut r = new_r();
        let k = key(1);
        assert!(feed(&mut r, k, seg(1000, SYN, b"")).is_none());
        assert_eq!(r.len(), 1);
        assert_eq!(
            feed(&mut r, k, seg(1001, NONE, b"INVITE ")),
            Some((b"INVITE ".to_vec(), false))
        );
        let st = r.segment(k, &seg(1008, NONE, b"sip:x"), t(1)).unwrap();
        let (bytes, app) = st.parts();
        assert_eq!(bytes, b"INVITE sip:x");
        *app += 1;
        st.consume(7);
        assert_eq!(st.parts().0, b"sip:x");
        assert_eq!(st.app, 1);
        st.consume(100);
        assert_eq!(st.unconsumed(), 0);
        // Pure ACK: nothing new.
        assert!(feed(&mut r, k, seg(1013, NONE, b"")).is_none());
    }

    #[test]
    fn mid_stream_start_sets_gap_and_acks_do_not_create() {
        let mut r = new_r();
        assert!(feed(&mut r, key(1), seg(5, NONE, b"")).is_none());
        assert!(r.is_empty());
        assert_eq!(
            feed(&mut r, key(1), seg(5, NONE, b"abc")),
            Some((b"abc".to_vec(), true))
        );
        assert_eq!(
            feed(&mut r, key(1), seg(8, NONE, b"d")),
            Some((b"abcd".to_vec(), false))
        );
    }

    #[test]
    fn retransmission_delivered_once_and_overlap_trimmed() {
        let mut r = new_r();
        let k = key(1);
        feed(&mut r, k, seg(0, SYN, b""));
        assert!(feed(&mut r, k, seg(1, NONE, b"hello")).is_some());
        assert!(feed(&mut r, k, seg(1, NONE, b"hello")).is_none());
        assert!(feed(&mut r, k, seg(3, NONE, b"llo")).is_none());
        // Overlap: "lo" old, " world" new.
        assert_eq!(
            feed(&mut r, k, seg(4, NONE, b"lo world")),
            Some((b"hello world".to_vec(), false))
        );
        let s = r.take_stats();
        assert_eq!((s.segments, s.retransmitted), (5, 3));
    }

    #[test]
    fn out_of_order_released_when_hole_fills() {
        let mut r = new_r();
        let k = key(1);
        feed(&mut r, k, seg(0, SYN, b""));
        assert!(feed(&mut r, k, seg(7, NONE, b"CCC")).is_none());
        assert!(feed(&mut r, k, seg(4, NONE, b"BBB")).is_none());
        // Duplicate out-of-order segment.
        assert!(feed(&mut r, k, seg(4, NONE, b"BBB")).is_none());
        assert_eq!(
            feed(&mut r, k, seg(1, NONE, b"AAA")),
            Some((b"AAABBBCCC".to_vec(), false))
        );
        let s = r.take_stats();
        assert_eq!((s.out_of_order, s.retransmitted, s.gaps), (2, 1, 0));
    }

    #[test]
    fn overlapping_out_of_order_segments() {
        let mut r = new_r();
        let k = key(1);
        feed(&mut r, k, seg(0, SYN, b""));
        feed(&mut r, k, seg(5, NONE, b"EFGH"));
        feed(&mut r, k, seg(3, NONE, b"CDEF"));
        assert_eq!(
            feed(&mut r, k, seg(1, NONE, b"AB")),
            Some((b"ABCDEFGH".to_vec(), false))
        );
    }

    #[test]
    fn gap_skipped_when_out_of_order_space_runs_out() {
        let cfg = TcpConfig {
            max_out_of_order_segments: 2,
            ..Default::default()
        };
        let mut r: TcpReassembler<u32> = TcpReassembler::new(cfg);
        let k = key(1);
        feed(&mut r, k, seg(0, SYN, b""));
        assert!(feed(&mut r, k, seg(1, NONE, b"partial")).is_some());
        // Bytes 8..10 are lost; three segments follow.
        assert!(feed(&mut r, k, seg(10, NONE, b"xx")).is_none());
        assert!(feed(&mut r, k, seg(12, NONE, b"yy")).is_none());
        // Third out-of-order segment: skip the hole; "partial" is discarded.
        assert_eq!(
            feed(&mut r, k, seg(14, NONE, b"zz")),
            Some((b"xxyyzz".to_vec(), true))
        );
        assert_eq!(r.take_stats().gaps, 1);
        // The lost bytes arriving late are old now.
        assert!(feed(&mut r, k, seg(8, NONE, b"ll")).is_none());
    }

    #[test]
    fn overflow_drops_and_skips() {
        let cfg = TcpConfig {
            max_buffer: 8,
            ..Default::default()
        };
        let mut r: TcpReassembler<u32> = TcpReassembler::new(cfg);
        let k = key(1);
        feed(&mut r, k, seg(0, SYN, b""));
        assert!(feed(&mut r, k, seg(1, NONE, b"123456")).is_some());
        // Unconsumed 6 + 4 > 8: dropped, skipped past, gap.
        assert_eq!(
            feed(&mut r, k, seg(7, NONE, b"7890")),
            Some((Vec::new(), true))
        );
        assert_eq!(
            feed(&mut r, k, seg(11, NONE, b"ab")),
            Some((b"ab".to_vec(), false))
        );
        // Out-of-order segment larger than the buffer.
        assert_eq!(
            feed(&mut r, k, seg(20, NONE, b"0123456789")),
            Some((Vec::new(), true))
        );
        let s = r.take_stats();
        assert_eq!((s.overflow, s.gaps), (2, 2));
    }

    #[test]
    fn wrapping_sequence_numbers() {
        let mut r = new_r();
        let k = key(1);
        feed(&mut r, k, seg(u32::MAX - 2, SYN, b""));
        // Data starts at MAX-1 and wraps.
        assert!(feed(&mut r, k, seg(u32::MAX - 1, NONE, b"ab")).is_some());
        assert!(feed(&mut r, k, seg(2, NONE, b"de")).is_none()); // out of order across the wrap
        assert_eq!(
            feed(&mut r, k, seg(0, NONE, b"cc")),
            Some((b"abccde".to_vec(), false))
        );
        assert!(feed(&mut r, k, seg(u32::MAX - 1, NONE, b"ab")).is_none()); // retransmission
    }

    #[test]
    fn fin_and_rst_close_on_next_call() {
        let mut r = new_r();
        let k = key(1);
        feed(&mut r, k, seg(0, SYN, b""));
        let st = r.segment(k, &seg(1, FIN, b"bye"), t(1)).unwrap();
        assert!(st.is_closed());
        assert_eq!(st.parts().0, b"bye");
        assert_eq!(r.len(), 1);
        r.expire(t(1));
        assert!(r.is_empty());
        assert_eq!(r.take_stats().closed, 1);

        // FIN out of order closes once the hole fills.
        feed(&mut r, k, seg(0, SYN, b""));
        assert!(feed(&mut r, k, seg(4, FIN, b"")).is_none());
        assert!(!r.streams.peek(&k).unwrap().closed);
        assert_eq!(
            feed(&mut r, k, seg(1, NONE, b"abc")),
            Some((b"abc".to_vec(), false))
        );
        assert!(r.streams.peek(&k).unwrap().closed);
        // RST, then the next call removes it.
        let k2 = key(2);
        feed(&mut r, k2, seg(0, SYN, b""));
        assert!(feed(&mut r, k2, seg(1, RST, b"")).is_none());
        feed(&mut r, key(3), seg(0, NONE, b""));
        assert!(r.is_empty());
        assert_eq!(r.take_stats().closed, 2);
    }

    #[test]
    fn new_syn_restarts_stream() {
        let mut r = new_r();
        let k = key(1);
        feed(&mut r, k, seg(0, SYN, b""));
        r.segment(k, &seg(1, NONE, b"abc"), t(1)).unwrap().app = 9;
        feed(&mut r, k, seg(5000, SYN, b""));
        assert_eq!(
            feed(&mut r, k, seg(5001, NONE, b"x")),
            Some((b"x".to_vec(), false))
        );
        assert_eq!(r.streams.peek(&k).unwrap().app, 0);
        // Retransmitted SYN keeps the stream.
        feed(&mut r, k, seg(5000, SYN, b""));
        assert_eq!(
            feed(&mut r, k, seg(5002, NONE, b"y")),
            Some((b"xy".to_vec(), false))
        );
    }

    #[test]
    fn eviction_of_least_recently_used() {
        let cfg = TcpConfig {
            max_streams: 2,
            ..Default::default()
        };
        let mut r: TcpReassembler<u32> = TcpReassembler::new(cfg);
        feed(&mut r, key(1), seg(0, NONE, b"a"));
        feed(&mut r, key(2), seg(0, NONE, b"b"));
        feed(&mut r, key(1), seg(1, NONE, b"a")); // key 1 is now most recent
        feed(&mut r, key(3), seg(0, NONE, b"c"));
        assert_eq!(r.len(), 2);
        assert!(r.streams.peek(&key(1)).is_some() && r.streams.peek(&key(3)).is_some());
        assert_eq!(r.take_stats().evicted_capacity, 1);
    }

    #[test]
    fn idle_expiry() {
        let mut r = new_r();
        r.segment(key(1), &seg(0, NONE, b"a"), t(10));
        r.segment(key(2), &seg(0, NONE, b"a"), t(300));
        r.expire(t(311));
        assert_eq!(r.len(), 1);
        assert_eq!(r.take_stats().evicted_idle, 1);
    }

    #[test]
    fn compaction_keeps_one_contiguous_slice() {
        let mut r = new_r();
        let k = key(1);
        feed(&mut r, k, seg(0, SYN, b""));
        let mut seq = 1u32;
        let mut expect = Vec::new();
        for i in 0..100u8 {
            let chunk = [i; 10];
            let st = r.segment(k, &seg(seq, NONE, &chunk), t(1)).unwrap();
            seq += 10;
            expect.extend_from_slice(&chunk);
            // Consume 7 of every 10 bytes: a partial message stays behind.
            st.consume(7);
            expect.drain(..7);
            assert_eq!(st.parts().0, &expect[..]);
            assert!(st.buf.len() <= 2 * expect.len() + 10);
        }
    }

    #[test]
    fn zero_streams_tracks_nothing() {
        let mut r: TcpReassembler<u32> = TcpReassembler::new(TcpConfig {
            max_streams: 0,
            ..Default::default()
        });
        assert!(feed(&mut r, key(1), seg(0, NONE, b"a")).is_none());
        assert!(r.is_empty());
    }

    /// Held bytes as the pool reports them, against the budget, and the
    /// sum of what each stream is charged.
    fn check_budget(r: &mut TcpReassembler<u32>) -> usize {
        let held = r.held_bytes();
        assert!(
            held <= r.cfg.max_total_bytes,
            "{held} > {}",
            r.cfg.max_total_bytes
        );
        held
    }

    /// Many streams, each with far out-of-order segments behind a hole
    /// that never fills: what is held stays within the pool budget, the
    /// least recently used streams going first.
    #[test]
    fn pool_budget_with_out_of_order_floods() {
        let cfg = TcpConfig {
            max_total_bytes: 1 << 20,
            ..Default::default()
        };
        let mut r: TcpReassembler<u32> = TcpReassembler::new(cfg);
        let chunk = [b'o'; 1400];
        let mut max_held = 0;
        for port in 0..2000u16 {
            let k = key(port);
            feed(&mut r, k, seg(0, SYN, b""));
            // A hole at 1..1000, then segments far beyond it.
            for j in 0..40u32 {
                feed(&mut r, k, seg(1_000_000 + j * 1400, NONE, &chunk));
                max_held = max_held.max(check_budget(&mut r));
            }
        }
        let s = r.take_stats();
        assert!(s.evicted_memcap > 0, "{s:?}");
        assert!(max_held > (1 << 20) / 2, "budget not reached: {max_held}");
        // The newest stream survived, the oldest did not.
        assert!(r.streams.peek(&key(1999)).is_some());
        assert!(r.streams.peek(&key(0)).is_none());
        // Everything removed: nothing charged.
        r.expire(t(10_000));
        assert_eq!((r.len(), r.held_bytes()), (0, 0));
    }

    /// One stream alone over the budget gives up what it holds (a gap),
    /// never the budget.
    #[test]
    fn single_stream_over_budget_overflows() {
        let cfg = TcpConfig {
            max_total_bytes: 64 * 1024,
            max_buffer: 1 << 20,
            ..Default::default()
        };
        let mut r: TcpReassembler<u32> = TcpReassembler::new(cfg);
        let k = key(1);
        feed(&mut r, k, seg(0, SYN, b""));
        let chunk = [b'i'; 1000];
        let mut gaps = 0;
        for j in 0..200u32 {
            // In order, never consumed: the buffer grows until the budget.
            if let Some((_, gap)) = feed(&mut r, k, seg(1 + j * 1000, NONE, &chunk)) {
                gaps += usize::from(gap);
            }
            check_budget(&mut r);
        }
        assert!(gaps > 0);
        assert!(r.take_stats().overflow > 0);
        assert_eq!(r.len(), 1);
    }

    /// Capacity, not length, is what is charged: a buffer grown by a big
    /// message and consumed is given back.
    #[test]
    fn consumed_large_buffers_are_released() {
        let mut r = new_r();
        let k = key(1);
        feed(&mut r, k, seg(0, SYN, b""));
        let base = r.held_bytes();
        let big = vec![b'b'; 60_000];
        let mut seq = 1u32;
        for _ in 0..4 {
            r.segment(k, &seg(seq, NONE, &big), t(1)).unwrap();
            seq += 60_000;
        }
        assert!(r.held_bytes() >= base + 240_000);
        let st = r.segment(k, &seg(seq, NONE, b"x"), t(1)).unwrap();
        st.consume(240_000);
        assert_eq!(st.unconsumed(), 1);
        assert!(st.buf.capacity() <= KEEP_CAPACITY, "{}", st.buf.capacity());
        assert!(r.held_bytes() < base + KEEP_CAPACITY + 1024);
        let st = r.segment(k, &seg(seq + 1, NONE, b"y"), t(1)).unwrap();
        st.consume(2);
        assert!(r.held_bytes() < base + KEEP_CAPACITY);
    }

    /// The app state's buffers are charged once the consumer hands the
    /// stream back, and evict others when they do not fit.
    #[test]
    fn app_state_is_charged() {
        #[derive(Default)]
        struct Big(Vec<u8>);
        impl HeldBytes for Big {
            fn held_bytes(&self) -> usize {
                self.0.capacity()
            }
        }
        let mut r: TcpReassembler<Big> = TcpReassembler::new(TcpConfig {
            max_total_bytes: 1 << 20,
            ..Default::default()
        });
        for port in 0..4 {
            let st = r.segment(key(port), &seg(0, NONE, b"a"), t(1)).unwrap();
            st.app.0.reserve_exact(300_000);
        }
        let held = r.held_bytes();
        assert!(held <= 1 << 20, "{held}");
        assert_eq!(r.len(), 3);
        assert_eq!(r.take_stats().evicted_memcap, 1);
        assert!(r.streams.peek(&key(0)).is_none());
    }
}
