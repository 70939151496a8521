//! RFC 3550 reception statistics of one RTP stream: the sequence state with
//! probation, wraparound and restart detection (A.1), the loss counts at the
//! end (A.3) and the interarrival jitter (A.8).
//!
//! Plain arithmetic on sequence numbers, timestamps and arrival times: no
//! bytes parsed, no tables, no allocation. `stream` keeps one of each per
//! stream. Every operation is O(1) and wrapping where the RFC's is modular,
//! so no input can overflow or panic here.

use std::time::Duration;

/// RFC 3550 A.1 constants; probation needs 3 packets (MIN_SEQUENTIAL 2
/// in the RFC, one more here because noise is common on a mirror port).
const MIN_SEQUENTIAL: u8 = 3;
const MAX_DROPOUT: u16 = 3000;
const MAX_MISORDER: u16 = 100;
const RTP_SEQ_MOD: u32 = 1 << 16;

/// RFC 3550 A.3 counts at the end of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Loss {
    pub expected: u64,
    pub received: u64,
    /// expected − received; negative with duplicates.
    pub lost: i64,
}

/// RFC 3550 A.1 sequence state.
#[derive(Debug, Clone, Copy)]
pub(super) struct SeqState {
    max_seq: u16,
    cycles: u64,
    base_seq: u32,
    bad_seq: u32,
    received: u64,
    probation: u8,
}

impl SeqState {
    /// The state after a first packet `seq`, in probation.
    pub(super) fn new(seq: u16) -> Self {
        SeqState {
            max_seq: seq.wrapping_sub(1),
            cycles: 0,
            base_seq: u32::from(seq),
            bad_seq: RTP_SEQ_MOD + 1,
            received: 0,
            probation: MIN_SEQUENTIAL,
        }
    }

    fn init(&mut self, seq: u16) {
        self.base_seq = u32::from(seq);
        self.max_seq = seq;
        self.bad_seq = RTP_SEQ_MOD + 1;
        self.cycles = 0;
        self.received = 0;
    }

    /// Still short of [`MIN_SEQUENTIAL`] packets in sequence.
    pub(super) fn in_probation(&self) -> bool {
        self.probation > 0
    }

    /// RFC 3550 A.1 `update_seq`; `in_step` adds this crate's probation
    /// checks (same PT, timestamp forward). Returns whether the packet is
    /// valid (counted).
    pub(super) fn update(&mut self, seq: u16, in_step: bool) -> bool {
        let udelta = seq.wrapping_sub(self.max_seq);
        if self.probation > 0 {
            if seq == self.max_seq.wrapping_add(1) && in_step {
                self.probation -= 1;
                self.max_seq = seq;
                if self.probation == 0 {
                    self.init(seq);
                    self.received += 1;
                    return true;
                }
            } else {
                self.probation = MIN_SEQUENTIAL - 1;
                self.max_seq = seq;
            }
            return false;
        }
        if udelta < MAX_DROPOUT {
            if seq < self.max_seq {
                self.cycles += u64::from(RTP_SEQ_MOD);
            }
            self.max_seq = seq;
        } else if u32::from(udelta) <= RTP_SEQ_MOD - u32::from(MAX_MISORDER) {
            // A very large jump: the sender restarted, if the next packet
            // follows this one (RFC 3550 A.1).
            if u32::from(seq) == self.bad_seq {
                self.init(seq);
            } else {
                self.bad_seq = (u32::from(seq) + 1) & (RTP_SEQ_MOD - 1);
                return false;
            }
        }
        // else: duplicate or reordered, counted.
        self.received += 1;
        true
    }

    /// RFC 3550 A.3: expected from the extended highest sequence number.
    pub(super) fn loss(&self) -> Loss {
        let extended_max = self.cycles + u64::from(self.max_seq);
        let expected = (extended_max + 1).saturating_sub(u64::from(self.base_seq));
        Loss {
            expected,
            received: self.received,
            lost: expected as i64 - self.received as i64,
        }
    }
}

/// RFC 3550 A.8 jitter, in timestamp units × 16 (the RFC's integer form).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Jitter {
    transit: Option<u32>,
    jitter16: u64,
}

impl Jitter {
    /// One packet: `arrival` (see [`arrival_ticks`]) and its RTP timestamp.
    pub(super) fn update(&mut self, arrival: u32, ts: u32) {
        let transit = arrival.wrapping_sub(ts);
        if let Some(prev) = self.transit {
            let d = u64::from((transit.wrapping_sub(prev) as i32).unsigned_abs());
            // J += (|D| - J) / 16, as `jitter += d - ((jitter + 8) >> 4)`;
            // bounded by 16 × 2^31, so u64 never overflows.
            self.jitter16 = self.jitter16 + d - ((self.jitter16 + 8) >> 4);
        }
        self.transit = Some(transit);
    }

    /// The jitter as a duration at clock `rate` (Hz); `None` before any
    /// packet (or for a zero rate).
    pub(super) fn duration(&self, rate: u32) -> Option<Duration> {
        self.transit?;
        // J × 16 in ticks → seconds, keeping the fraction.
        let ns = (u128::from(self.jitter16) * 1_000_000_000).checked_div(16 * u128::from(rate))?;
        Some(Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX)))
    }
}

/// Capture time in RTP timestamp units, modulo 2^32 (RFC 3550 A.8).
///
/// In 64-bit words: whole seconds times the rate (wrapping: only the low
/// 32 bits are kept), plus the fraction's ticks (under 2^62 before the
/// division). The `u128` form called `__udivti3` on every RTP packet.
pub(super) fn arrival_ticks(now: Duration, rate: u32) -> u32 {
    let rate = u64::from(rate);
    let whole = now.as_secs().wrapping_mul(rate);
    let part = u64::from(now.subsec_nanos()) * rate / 1_000_000_000;
    whole.wrapping_add(part) as u32
}

#[cfg(test)]
mod arrival_tests {
    use super::arrival_ticks;
    use std::time::Duration;

    /// Equal to the exact `u128` formula of RFC 3550 A.8 on random
    /// instants (up to 2^40 s) and clock rates, including wrap-around.
    #[test]
    fn arrival_ticks_equal_the_exact_formula() {
        let mut rng = crate::testkit::random::Xorshift::new(0x2545_f491_4f6c_dd1d);
        let mut next = || rng.next_u64();
        for i in 0..100_000 {
            let now = Duration::new(next() >> 24, (next() % 1_000_000_000) as u32);
            let rate = match i % 4 {
                0 => 8_000,
                1 => 48_000,
                2 => 90_000,
                _ => next() as u32,
            };
            let exact = (now.as_nanos() * u128::from(rate) / 1_000_000_000) as u32;
            assert_eq!(arrival_ticks(now, rate), exact, "{now:?} at {rate} Hz");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `seqs` (all in step) and returns how many were counted.
    fn feed(s: &mut SeqState, seqs: impl IntoIterator<Item = u16>) -> u64 {
        seqs.into_iter().map(|q| u64::from(s.update(q, true))).sum()
    }

    #[test]
    fn loss_and_wrap() {
        let mut s = SeqState::new(65533);
        let counted = feed(&mut s, [65533u16, 65534, 65535, 0, 2, 3, 3, 5]);
        let l = s.loss();
        // Validated at 65535 (base); expected 65535..=5 = 7; received 6
        // (one duplicate); 1 and 4 lost, the duplicate offsets one.
        assert_eq!((l.expected, l.received, l.lost, counted), (7, 6, 1, 6));
    }

    #[test]
    fn probation_needs_three_in_sequence() {
        let mut s = SeqState::new(100);
        assert!(s.in_probation());
        // Out of sequence restarts probation; out of step counts as out of
        // sequence.
        assert!(!s.update(100, true));
        assert!(!s.update(150, true));
        assert!(!s.update(151, false));
        assert!(s.in_probation());
        assert!(!s.update(152, true));
        assert!(s.update(153, true));
        assert!(!s.in_probation());
        assert_eq!(
            s.loss(),
            Loss {
                expected: 1,
                received: 1,
                lost: 0
            }
        );
    }

    #[test]
    fn several_wraps_extend_the_sequence() {
        let mut s = SeqState::new(0);
        feed(&mut s, [0, 1, 2]);
        // Three full cycles in steps of 1000 (< MAX_DROPOUT).
        let steps = (1..=3 * 65536 / 1000).map(|i| (2 + i * 1000) as u16);
        feed(&mut s, steps);
        let l = s.loss();
        let last = 2 + (3 * 65536 / 1000) * 1000;
        assert_eq!(l.expected, last as u64 - 2 + 1);
        assert_eq!(l.received, 1 + 3 * 65536 / 1000);
        assert_eq!(l.lost, l.expected as i64 - l.received as i64);
    }

    #[test]
    fn big_jump_is_a_restart_only_when_confirmed() {
        let mut s = SeqState::new(10);
        feed(&mut s, [10, 11, 12, 13]);
        // A jump beyond MAX_DROPOUT: dropped once...
        assert!(!s.update(40_000, true));
        // ... a packet that does not follow it is ordinary.
        assert!(s.update(14, true));
        assert!(!s.update(40_000, true));
        // ... the next in sequence confirms the restart: counts begin again.
        assert!(s.update(40_001, true));
        assert_eq!(
            s.loss(),
            Loss {
                expected: 1,
                received: 1,
                lost: 0
            }
        );
        // Late packets within MAX_MISORDER are counted, not a restart.
        assert!(s.update(39_950, true));
        assert_eq!(s.loss().received, 2);
    }

    #[test]
    fn jitter_rfc3550_a8() {
        let mut j = Jitter::default();
        assert_eq!(j.duration(8000), None);
        // Transit alternates by 80 ticks: J converges towards 80.
        for i in 0..200u32 {
            let arrival = i * 160 + if i % 2 == 0 { 0 } else { 80 };
            j.update(arrival, i * 160);
        }
        let ticks = j.jitter16 >> 4;
        assert!((70..=80).contains(&ticks), "{ticks}");
        // 80 ticks at 8 kHz is 10 ms.
        let d = j.duration(8000).unwrap();
        assert!(
            d > Duration::from_micros(8_700) && d <= Duration::from_micros(10_100),
            "{d:?}"
        );
        assert_eq!(j.duration(0), None);
        // A huge transit jump saturates nothing (u64).
        j.update(0, 0x8000_0000);
        j.update(0x8000_0000, 0);
        assert!(j.duration(1).is_some());
    }

    #[test]
    fn jitter_across_timestamp_and_arrival_wrap() {
        // Constant transit across the 2^32 wrap of both clocks: no jitter.
        let mut j = Jitter::default();
        for i in 0..50u32 {
            let ts = (u32::MAX - 1000).wrapping_add(i * 160);
            j.update(ts.wrapping_add(12_345), ts);
        }
        assert_eq!(j.duration(8000), Some(Duration::ZERO));
        // arrival_ticks wraps modulo 2^32 rather than saturating.
        let t = Duration::from_secs(1 << 20);
        assert_eq!(
            arrival_ticks(t, 8000),
            ((1u128 << 20) * 8000 % (1 << 32)) as u32
        );
        assert_eq!(arrival_ticks(Duration::from_millis(20), 8000), 160);
    }
}
