//! Per-stream media state: one entry per direction and SSRC (5-tuple +
//! SSRC), bounded by `max_streams` with LRU eviction and idle expiry.
//!
//! A stream is only reported once it passes RFC 3550 A.1 probation (three
//! packets in sequence, same payload type, timestamps moving forward), so
//! UDP noise that happens to start with 0x80 creates no events. From then
//! on every stream produces exactly one `New`, one `Classified` and one
//! `Ended`, in that order, which is what the caller needs to keep
//! `media_streams_total{protection}` and `media_streams_active{protection}`
//! consistent.
//!
//! The protection label combines what the signalling declared (looked up
//! by the caller, see `endpoints`), what the payload looks like
//! (`payload`), and in-band hints on the same UDP flow (DTLS handshake,
//! ZRTP packets). It changes from `unknown` to a final value once.
//!
//! This file parses no bytes: it takes `RtpHeader`/`PacketKind` views built
//! by `classify`, and hands payload slices to the `payload` sampler. The
//! RFC 3550 sequence, loss and jitter arithmetic is `rtp_stats`'s.

use super::classify::{PacketKind, RtcpInfo, RtpHeader};
use super::payload::{CodecClass, PayloadSampler, PayloadVerdict};
pub use super::rtp_stats::Loss;
use super::rtp_stats::{arrival_ticks, Jitter, SeqState};
use super::watch::{Seen, Watch, WatchEvent};
use super::Micros;
use crate::lru::{Lru, Node};
use crate::sdp::{static_clock_rate, Announced, Declared};
use std::net::IpAddr;
use std::time::Duration;

crate::label_enum! {
    /// The protection label of a stream (metric label set `protection`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Protection {
        Cleartext = "cleartext",
        SrtpSdes = "srtp_sdes",
        SrtpDtls = "srtp_dtls",
        Zrtp = "zrtp",
        EncryptedUnknown = "encrypted_unknown",
        Unknown = "unknown",
    }
}

/// A UDP association regardless of direction: a [`Flow`] whose source is
/// the lower endpoint.
type UnorderedFlow = Flow;

/// One direction of a UDP flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
}

impl Protection {
    /// A label that says the payload is encrypted.
    pub fn is_encrypted(&self) -> bool {
        matches!(
            self,
            Protection::SrtpSdes
                | Protection::SrtpDtls
                | Protection::Zrtp
                | Protection::EncryptedUnknown
        )
    }
}

impl Flow {
    /// Both directions give the same value (hints are per UDP association).
    fn unordered(&self) -> UnorderedFlow {
        let a = (self.src, self.src_port);
        let b = (self.dst, self.dst_port);
        if a <= b {
            *self
        } else {
            Flow {
                src: self.dst,
                dst: self.src,
                src_port: self.dst_port,
                dst_port: self.src_port,
            }
        }
    }
}

/// Hashed per RTP packet: three fixed-size writes (see
/// [`crate::decode::ip_word`]).
impl std::hash::Hash for Flow {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        use crate::decode::ip_word;
        h.write_u128(ip_word(self.src));
        h.write_u128(ip_word(self.dst));
        h.write_u32(u32::from(self.src_port) << 16 | u32::from(self.dst_port));
    }
}

/// A stream: one flow direction and one SSRC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StreamKey {
    pub flow: Flow,
    pub ssrc: u32,
}

crate::label_enum! {
    /// Why a stream ended.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum EndReason {
        /// No packet for `idle_timeout`.
        Idle = "idle",
        /// The table was full and this was the least recently seen stream.
        Evicted = "evicted",
        /// [`StreamTable::flush`] (shutdown, end of file).
        Flushed = "flushed",
    }
}

/// What the caller counts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StreamEvent {
    /// The stream passed probation.
    New { key: StreamKey },
    /// The final protection label (exactly once per stream).
    Classified {
        key: StreamKey,
        protection: Protection,
        /// Signalling (SDP, or ZRTP in band) promised encryption, the
        /// payload is cleartext: exposure `encryption_mismatch`.
        mismatch: bool,
    },
    /// Something the stream gives away whatever its protection (see
    /// `watch`): a DTMF digit, audio levels, speech-driven lengths.
    Watch { key: StreamKey, event: WatchEvent },
    Ended {
        key: StreamKey,
        protection: Protection,
        reason: EndReason,
        duration: Duration,
        packets: u64,
        bytes: u64,
        loss: Loss,
        /// RFC 3550 A.8 interarrival jitter, when the clock rate is known.
        jitter: Option<Duration>,
    },
}

/// Table bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamConfig {
    pub max_streams: usize,
    pub idle_timeout: Duration,
    /// Flows with a DTLS/ZRTP hint remembered.
    pub max_hint_flows: usize,
    /// A stream is classified no earlier than this (capture time) after its
    /// first packet, so the SDP that announced it — possibly handled by
    /// another worker — has been registered (the pipeline synchronises
    /// workers once a second of capture time when reading files).
    pub min_classify_age: Duration,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            max_streams: 65_536,
            idle_timeout: Duration::from_secs(60),
            max_hint_flows: 16_384,
            min_classify_age: Duration::ZERO,
        }
    }
}

/// Counters for the caller to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamStats {
    /// Validated streams ended because the table was full.
    pub evicted_full: u64,
    /// Validated streams ended after `idle_timeout`.
    pub expired_idle: u64,
    /// Entries dropped before passing probation (noise, or evicted early).
    pub probation_dropped: u64,
    /// Flow hints forgotten because their table was full.
    pub hints_evicted: u64,
}

/// Per packet: what the caller needs for `media_packets_total{protection}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed {
    /// Current label (`Unknown` until classified).
    pub protection: Protection,
    /// The stream has passed probation.
    pub validated: bool,
}

/// In-band evidence on a UDP association (both directions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlowHints {
    pub dtls: bool,
    pub zrtp: bool,
    /// The DTLS handshake on this flow selected a NULL SRTP profile
    /// (RFC 5764 §4.1.2, 0x0005/0x0006): SRTP that encrypts nothing.
    pub null_srtp: bool,
}

/// Largest forward timestamp step accepted during probation (≈ 8.7 min at
/// 8 kHz, 46 s at 90 kHz).
const MAX_PROBATION_TS_STEP: u32 = 1 << 22;
/// Comfort noise (RFC 3389) is not sampled: it is a few bytes of level.
const PT_CN: u8 = 13;

#[derive(Debug)]
struct Stream {
    first_seen: Micros,
    last_seen: Micros,
    packets: u64,
    bytes: u64,
    seq: SeqState,
    last_ts: u32,
    pt: u8,
    clock_rate: Option<u32>,
    jitter: Jitter,
    declared: Option<Declared>,
    protection: Protection,
    classified: bool,
    validated: bool,
    /// Freed once classified.
    sampler: Option<Box<PayloadSampler>>,
    /// DTMF events, audio levels, length variation (16 bytes).
    watch: Watch,
}

/// Current size of one table entry (without the map's copy of the key and
/// the sampler box while it exists); see the tests.
pub const fn entry_size() -> usize {
    std::mem::size_of::<Node<StreamKey, Stream>>()
}

/// Events one call of [`StreamTable::expire_with`] or
/// [`StreamTable::flush_with`] leaves for the caller to drain: ending
/// 100,000 streams at once would otherwise hold 100,000 events (31 MB, the
/// peak of `benches/memory.sh` before this bound).
pub const EVENTS_PER_ROUND: usize = 1024;

/// The per-worker stream table.
pub struct StreamTable {
    cfg: StreamConfig,
    streams: Lru<StreamKey, Stream>,
    hints: Lru<UnorderedFlow, FlowHints>,
    stats: StreamStats,
}

impl StreamTable {
    pub fn new(cfg: StreamConfig) -> Self {
        StreamTable {
            streams: Lru::new(cfg.max_streams.max(1)),
            hints: Lru::new(cfg.max_hint_flows.max(1)),
            cfg,
            stats: StreamStats::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.streams.len()
    }

    pub fn is_empty(&self) -> bool {
        self.streams.len() == 0
    }

    pub fn stats(&self) -> StreamStats {
        self.stats
    }

    /// Records in-band evidence seen on a flow: DTLS records (DTLS-SRTP
    /// keying, RFC 5764) and ZRTP packets (RFC 6189). Other kinds are
    /// ignored.
    pub fn observe_flow(&mut self, flow: Flow, kind: &PacketKind<'_>) {
        let (dtls, zrtp) = match kind {
            PacketKind::Dtls(_) => (true, false),
            PacketKind::Zrtp => (false, true),
            _ => return,
        };
        self.hint(
            flow,
            FlowHints {
                dtls,
                zrtp,
                null_srtp: false,
            },
        );
    }

    /// Records that the DTLS-SRTP handshake on this flow selected a NULL
    /// profile: its streams are never called `srtp_*` (see [`decide`]).
    pub fn observe_null_srtp(&mut self, flow: Flow) {
        self.hint(
            flow,
            FlowHints {
                dtls: true,
                zrtp: false,
                null_srtp: true,
            },
        );
    }

    fn hint(&mut self, flow: Flow, add: FlowHints) {
        let k = flow.unordered();
        if let Some(h) = self.hints.get_mut(&k) {
            h.dtls |= add.dtls;
            h.zrtp |= add.zrtp;
            h.null_srtp |= add.null_srtp;
        } else if self.hints.insert(k, add).is_some() {
            self.stats.hints_evicted += 1;
        }
    }

    /// One RTP packet. `lookup` gives what the SDP declared for this flow
    /// (the caller checks the destination, and the source for symmetric
    /// RTP); it is called at most twice per stream: when the stream is
    /// created and, if that found nothing, when it is classified (the SDP
    /// may be processed by another worker a little later). Events are
    /// appended to `events`.
    // Inlined into the worker's one call site: out of line, the 38-byte
    // `Flow` argument was copied with loads straddling the stores that had
    // just built it (no store forwarding; a quarter of `packet_once`).
    #[inline(always)]
    pub fn observe_rtp<A: Into<Announced>>(
        &mut self,
        flow: Flow,
        hdr: &RtpHeader<'_>,
        now: Duration,
        mut lookup: impl FnMut() -> Option<A>,
        events: &mut Vec<StreamEvent>,
    ) -> Observed {
        let mut lookup = || lookup().map(Into::into);
        let key = StreamKey {
            flow,
            ssrc: hdr.ssrc(),
        };
        // One hash lookup per packet on a known stream, and a relink in
        // the LRU list at most once per capture second (see
        // `Lru::touch_stamped`: expiry and eviction are then exact to
        // within a second). `end` below does not touch the stream table,
        // so the node number stays valid.
        // Seconds modulo 2^16: a stream whose stamp is equal 18 hours
        // later misses one relink, no more.
        let tick = now.as_secs() as u16;
        let node = match self.streams.touch_stamped(&key, tick) {
            Some(i) => Some(i),
            None => {
                let pt = hdr.payload_type();
                let announced = lookup();
                let s = Stream {
                    first_seen: Micros::of(now),
                    last_seen: Micros::of(now),
                    packets: 0,
                    bytes: 0,
                    seq: SeqState::new(hdr.sequence()),
                    last_ts: hdr.timestamp().wrapping_sub(1),
                    pt,
                    clock_rate: static_clock_rate(pt),
                    jitter: Jitter::default(),
                    declared: announced.map(|a| a.declared),
                    protection: Protection::Unknown,
                    classified: false,
                    validated: false,
                    sampler: Some(Box::new(PayloadSampler::new())),
                    watch: Watch::new(announced.map(|a| a.facts).unwrap_or_default()),
                };
                // Stamped with this second: left at 0, its next packet would
                // not relink it if that came in a second whose stamp is 0,
                // however long after, and the stream would keep its
                // creation's place.
                if let Some((k, old)) = self.streams.insert_stamped(key, s, tick) {
                    self.end(k, old, EndReason::Evicted, &mut |_| None, events);
                }
                self.streams.front_index()
            }
        };
        let min_age = self.cfg.min_classify_age;
        let Some(s) = node.and_then(|i| self.streams.at_mut(i)) else {
            // Unreachable: found or inserted above with capacity ≥ 1.
            return Observed {
                protection: Protection::Unknown,
                validated: false,
            };
        };
        s.last_seen = Micros::of(now);
        s.packets += 1;
        s.bytes += hdr.len() as u64;
        let pt = hdr.payload_type();
        let ts = hdr.timestamp();
        // A stream may change payload type (RFC 3550 §5.1: DTMF events,
        // comfort noise, a video codec's several PTs) on one clock, so
        // probation checks the sequence and a forward timestamp, not the PT.
        // Before validation the stream's PT follows the latest packet, so
        // the payload sample and jitter use the codec that is flowing.
        let in_step = ts.wrapping_sub(s.last_ts) < MAX_PROBATION_TS_STEP;
        let counted = s.seq.update(hdr.sequence(), in_step);
        if in_step {
            s.last_ts = ts;
        }
        if !s.validated && pt != s.pt {
            s.pt = pt;
            s.clock_rate = static_clock_rate(pt);
        }
        if !s.validated && !s.seq.in_probation() {
            s.validated = true;
            events.push(StreamEvent::New { key });
        }
        if counted && pt == s.pt {
            if let Some(rate) = s.clock_rate {
                s.jitter.update(arrival_ticks(now, rate), ts);
            }
        }
        if !s.classified {
            if let Some(sampler) = s.sampler.as_mut() {
                if pt == s.pt && pt != PT_CN {
                    sampler.add(hdr.payload());
                }
            }
            if s.validated && s.first_seen.age(now) >= min_age {
                // Looked up only while unclassified: not per packet.
                let hint = self
                    .hints
                    .peek(&flow.unordered())
                    .copied()
                    .unwrap_or_default();
                classify_stream(s, &key, hint, false, &mut lookup, events);
            }
        }
        if s.validated && s.watch.active() {
            let seen = Seen {
                decided: s.classified,
                encrypted: if s.classified {
                    s.protection.is_encrypted()
                } else {
                    s.declared.is_some_and(|d| d.is_encrypted()) && !s.watch.facts().null_srtp
                },
            };
            s.watch.observe(hdr, s.pt, seen, |event| {
                events.push(StreamEvent::Watch { key, event })
            });
        }
        Observed {
            protection: s.protection,
            validated: s.validated,
        }
    }

    /// Protection to count an RTCP packet under: that of its RTP stream
    /// (same flow, or ports − 1 for RTCP on port + 1, RFC 3550 §11), else
    /// what the RTCP itself shows.
    pub fn rtcp_protection(&self, flow: Flow, info: &RtcpInfo) -> Protection {
        let same = StreamKey {
            flow,
            ssrc: info.ssrc,
        };
        let below = StreamKey {
            flow: Flow {
                src_port: flow.src_port.wrapping_sub(1),
                dst_port: flow.dst_port.wrapping_sub(1),
                ..flow
            },
            ssrc: info.ssrc,
        };
        let stream = self
            .streams
            .peek(&same)
            .or_else(|| self.streams.peek(&below))
            .filter(|s| s.classified);
        match stream {
            Some(s) => s.protection,
            None if info.encrypted => Protection::EncryptedUnknown,
            None if info.srtcp => Protection::Unknown,
            None => Protection::Cleartext,
        }
    }

    /// Ends streams idle for longer than the configured timeout.
    pub fn expire(&mut self, now: Duration, events: &mut Vec<StreamEvent>) {
        while self.expire_with(now, &mut |_| None, events) {}
    }

    /// [`Self::expire`], with a lookup of what SDP declared for a flow, for
    /// streams that end before they were classified. Stops once `events`
    /// holds [`EVENTS_PER_ROUND`] and returns true when there is more to
    /// do: the caller drains the events and calls again, so ending a whole
    /// table at once never holds an event per stream.
    pub fn expire_with(
        &mut self,
        now: Duration,
        lookup: &mut dyn FnMut(Flow) -> Option<Declared>,
        events: &mut Vec<StreamEvent>,
    ) -> bool {
        let idle = self.cfg.idle_timeout;
        loop {
            if events.len() >= EVENTS_PER_ROUND {
                return true;
            }
            let Some((k, s)) = self.streams.pop_lru_if(|s| s.last_seen.age(now) > idle) else {
                return false;
            };
            self.end(k, s, EndReason::Idle, lookup, events);
        }
    }

    /// Ends every stream (shutdown, end of a file).
    pub fn flush(&mut self, events: &mut Vec<StreamEvent>) {
        while self.flush_with(&mut |_| None, events) {}
    }

    /// [`Self::flush`], with a lookup as in [`Self::expire_with`], and
    /// bounded the same way (true: call again after draining `events`).
    pub fn flush_with(
        &mut self,
        lookup: &mut dyn FnMut(Flow) -> Option<Declared>,
        events: &mut Vec<StreamEvent>,
    ) -> bool {
        loop {
            if events.len() >= EVENTS_PER_ROUND {
                return true;
            }
            let Some((k, s)) = self.streams.pop_lru_if(|_| true) else {
                return false;
            };
            self.end(k, s, EndReason::Flushed, lookup, events);
        }
    }

    fn end(
        &mut self,
        key: StreamKey,
        mut s: Stream,
        reason: EndReason,
        lookup: &mut dyn FnMut(Flow) -> Option<Declared>,
        events: &mut Vec<StreamEvent>,
    ) {
        if !s.validated {
            self.stats.probation_dropped += 1;
            return;
        }
        match reason {
            EndReason::Idle => self.stats.expired_idle += 1,
            EndReason::Evicted => self.stats.evicted_full += 1,
            EndReason::Flushed => {}
        }
        if !s.classified {
            let hint = self
                .hints
                .peek(&key.flow.unordered())
                .copied()
                .unwrap_or_default();
            let flow = key.flow;
            classify_stream(
                &mut s,
                &key,
                hint,
                true,
                &mut || lookup(flow).map(Announced::from),
                events,
            );
        }
        let jitter = s.clock_rate.and_then(|rate| s.jitter.duration(rate));
        events.push(StreamEvent::Ended {
            key,
            protection: s.protection,
            reason,
            duration: s.last_seen.since(s.first_seen),
            packets: s.packets,
            bytes: s.bytes,
            loss: s.seq.loss(),
            jitter,
        });
    }
}

/// Decides and, when final, records and reports the label.
fn classify_stream(
    s: &mut Stream,
    key: &StreamKey,
    mut hint: FlowHints,
    at_end: bool,
    lookup: &mut dyn FnMut() -> Option<Announced>,
    events: &mut Vec<StreamEvent>,
) {
    let (verdict, full) = match &s.sampler {
        Some(sm) if at_end => (sm.verdict_at_end(CodecClass::from_pt(s.pt)), true),
        Some(sm) => (sm.verdict(CodecClass::from_pt(s.pt)), sm.is_full()),
        None => (PayloadVerdict::Undecided, true),
    };
    let last_chance = at_end || full;
    if verdict == PayloadVerdict::Undecided && !last_chance {
        return;
    }
    if s.declared.is_none() {
        if let Some(a) = lookup() {
            s.declared = Some(a.declared);
            s.watch.set_facts(a.facts);
        }
    }
    // SDES that encrypts nothing (NULL suite, UNENCRYPTED_SRTP) is rule 0
    // like a NULL DTLS-SRTP profile.
    hint.null_srtp |= s.watch.facts().null_srtp;
    if let Some((protection, mismatch)) = decide(s.declared, verdict, hint, last_chance) {
        s.protection = protection;
        s.classified = true;
        s.sampler = None;
        events.push(StreamEvent::Classified {
            key: *key,
            protection,
            mismatch,
        });
    }
}

/// The protection rules, in order:
///
/// 0. A NULL SRTP profile negotiated on the flow, or SDES `a=crypto`
///    offering only NULL suites / `UNENCRYPTED_SRTP`, encrypts nothing: the
///    stream is `cleartext` unless the payload test says it looks
///    encrypted (then `encrypted_unknown`); never `srtp_*`. Not a
///    mismatch: `srtp_null_cipher` reports it.
/// 1. Cleartext payload wins: the audio is readable whatever was promised;
///    `mismatch` if SDP declared encryption or ZRTP was seen.
/// 2. ZRTP seen in band or declared (`a=zrtp-hash`) ⇒ `zrtp`.
/// 3. SDP declared SDES or DTLS SRTP ⇒ that (an SRTP profile without
///    keying is `srtp_dtls` if a DTLS handshake was seen, else
///    `encrypted_unknown`). SRTP of a compressed codec looks no different
///    from the codec, so a final undecided payload accepts the declaration.
/// 4. SDP declared RTP/AVP: uniform G.711 ⇒ `encrypted_unknown` (keyed
///    outside SDP); otherwise `cleartext` (the profile says so).
/// 5. No SDP: DTLS handshake on the flow ⇒ `srtp_dtls`; uniform G.711 ⇒
///    `encrypted_unknown`; else `unknown`.
///
/// `None` means "wait for more packets" (only when not `last_chance`).
pub fn decide(
    declared: Option<Declared>,
    observed: PayloadVerdict,
    hint: FlowHints,
    last_chance: bool,
) -> Option<(Protection, bool)> {
    use PayloadVerdict as V;
    if hint.null_srtp {
        if observed == V::Undecided && !last_chance {
            return None;
        }
        return Some(if observed == V::Encrypted {
            (Protection::EncryptedUnknown, false)
        } else {
            (Protection::Cleartext, false)
        });
    }
    if observed == V::Cleartext {
        let promised = declared.is_some_and(|d| d.is_encrypted()) || hint.zrtp;
        return Some((Protection::Cleartext, promised));
    }
    if observed == V::Undecided && !last_chance {
        return None;
    }
    let encrypted = observed == V::Encrypted;
    let p = if hint.zrtp || declared == Some(Declared::Zrtp) {
        Protection::Zrtp
    } else {
        match declared {
            Some(Declared::SrtpSdes) => Protection::SrtpSdes,
            Some(Declared::SrtpDtls) => Protection::SrtpDtls,
            Some(Declared::SrtpUnknownKeying) if hint.dtls => Protection::SrtpDtls,
            Some(Declared::SrtpUnknownKeying) => Protection::EncryptedUnknown,
            Some(Declared::Cleartext) if encrypted => Protection::EncryptedUnknown,
            Some(Declared::Cleartext) => Protection::Cleartext,
            Some(Declared::Zrtp) => Protection::Zrtp,
            None if hint.dtls => Protection::SrtpDtls,
            None if encrypted => Protection::EncryptedUnknown,
            None => Protection::Unknown,
        }
    };
    Some((p, false))
}

// ---------------------------------------------------------------------------
#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::classify::{classify, DtlsContentType};
    use crate::media::payload::pseudo_random;
    use std::net::Ipv4Addr;

    fn flow(sport: u16) -> Flow {
        Flow {
            src: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            dst: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 2)),
            src_port: sport,
            dst_port: 4000,
        }
    }

    /// Builds an RTP packet: V=2, PT, seq, ts, SSRC, then `payload`.
    fn rtp(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x80, pt];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(&ssrc.to_be_bytes());
        p.extend_from_slice(payload);
        p
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Feeds `n` 20 ms G.711 packets; `enc` gives uniform payloads.
    #[allow(clippy::too_many_arguments)]
    fn feed(
        t: &mut StreamTable,
        f: Flow,
        pt: u8,
        n: u16,
        start: u64,
        enc: bool,
        declared: Option<Declared>,
        ev: &mut Vec<StreamEvent>,
    ) -> Observed {
        let mut last = None;
        let mut payload = [0u8; 160];
        for i in 0..n {
            if enc {
                pseudo_random(u64::from(i) + 1, &mut payload);
            } else {
                for (j, b) in payload.iter_mut().enumerate() {
                    *b = [0xd5, 0x55, 0xd4, 0x57][(usize::from(i) + j) % 4];
                }
            }
            let p = rtp(pt, 100 + i, 160 * u32::from(i), 7, &payload);
            let PacketKind::Rtp(h) = classify(&p) else {
                panic!()
            };
            last = Some(t.observe_rtp(f, &h, ms(start + 20 * u64::from(i)), || declared, ev));
        }
        last.unwrap()
    }

    #[test]
    fn cleartext_g711_lifecycle() {
        let mut t = StreamTable::new(StreamConfig::default());
        let mut ev = Vec::new();
        let o = feed(&mut t, flow(5000), 8, 2, 0, false, None, &mut ev);
        assert!(!o.validated && ev.is_empty());
        let o = feed(&mut t, flow(5000), 8, 30, 0, false, None, &mut ev);
        assert!(o.validated);
        assert_eq!(o.protection, Protection::Cleartext);
        assert!(matches!(ev[0], StreamEvent::New { .. }));
        assert!(matches!(
            ev[1],
            StreamEvent::Classified {
                protection: Protection::Cleartext,
                mismatch: false,
                ..
            }
        ));
        assert_eq!(ev.len(), 2);
        ev.clear();
        t.expire(Duration::from_secs(1), &mut ev);
        assert!(ev.is_empty());
        t.expire(Duration::from_secs(100), &mut ev);
        let StreamEvent::Ended {
            protection,
            reason,
            loss,
            jitter,
            ..
        } = ev[0]
        else {
            panic!("{ev:?}")
        };
        assert_eq!(
            (protection, reason),
            (Protection::Cleartext, EndReason::Idle)
        );
        assert_eq!(loss.lost, 0);
        // Packets at exactly 20 ms and 160 ticks: no jitter.
        assert_eq!(jitter, Some(Duration::ZERO));
        assert_eq!(t.stats().expired_idle, 1);
        assert!(t.is_empty());
    }

    #[test]
    fn declared_srtp_but_cleartext_is_mismatch() {
        let mut t = StreamTable::new(StreamConfig::default());
        let mut ev = Vec::new();
        feed(
            &mut t,
            flow(1),
            0,
            30,
            0,
            false,
            Some(Declared::SrtpSdes),
            &mut ev,
        );
        assert!(ev.contains(&StreamEvent::Classified {
            key: StreamKey {
                flow: flow(1),
                ssrc: 7
            },
            protection: Protection::Cleartext,
            mismatch: true,
        }));
    }

    #[test]
    fn declared_srtp_and_encrypted() {
        for (d, want) in [
            (Some(Declared::SrtpSdes), Protection::SrtpSdes),
            (Some(Declared::SrtpDtls), Protection::SrtpDtls),
            (
                Some(Declared::SrtpUnknownKeying),
                Protection::EncryptedUnknown,
            ),
            (Some(Declared::Cleartext), Protection::EncryptedUnknown),
            (None, Protection::EncryptedUnknown),
        ] {
            let mut t = StreamTable::new(StreamConfig::default());
            let mut ev = Vec::new();
            let o = feed(&mut t, flow(1), 8, 30, 0, true, d, &mut ev);
            assert_eq!(o.protection, want, "{d:?}");
        }
    }

    #[test]
    fn dtls_and_zrtp_hints() {
        let mut t = StreamTable::new(StreamConfig::default());
        let mut ev = Vec::new();
        // DTLS handshake in the reverse direction of the later RTP.
        let rev = Flow {
            src: flow(9).dst,
            dst: flow(9).src,
            src_port: 4000,
            dst_port: 9,
        };
        t.observe_flow(rev, &PacketKind::Dtls(DtlsContentType::Handshake));
        let o = feed(&mut t, flow(9), 8, 30, 0, true, None, &mut ev);
        assert_eq!(o.protection, Protection::SrtpDtls);
        t.observe_flow(flow(10), &PacketKind::Zrtp);
        let o = feed(
            &mut t,
            flow(10),
            8,
            30,
            0,
            true,
            Some(Declared::Cleartext),
            &mut ev,
        );
        assert_eq!(o.protection, Protection::Zrtp);
    }

    #[test]
    fn decide_table() {
        let none = FlowHints::default();
        let v = PayloadVerdict::Undecided;
        assert_eq!(decide(None, v, none, false), None);
        assert_eq!(
            decide(None, v, none, true),
            Some((Protection::Unknown, false))
        );
        // Opus over SAVPF: undecided payload accepts the declaration.
        assert_eq!(
            decide(Some(Declared::SrtpDtls), v, none, true),
            Some((Protection::SrtpDtls, false))
        );
        assert_eq!(
            decide(Some(Declared::Cleartext), v, none, true),
            Some((Protection::Cleartext, false))
        );
        let zrtp = FlowHints {
            zrtp: true,
            ..FlowHints::default()
        };
        assert_eq!(
            decide(None, PayloadVerdict::Cleartext, zrtp, false),
            Some((Protection::Cleartext, true))
        );
        // A NULL DTLS-SRTP profile: never srtp_dtls, whatever SDP declared.
        let null = FlowHints {
            dtls: true,
            null_srtp: true,
            ..FlowHints::default()
        };
        let sdp = Some(Declared::SrtpDtls);
        assert_eq!(decide(sdp, v, null, false), None);
        assert_eq!(
            decide(sdp, v, null, true),
            Some((Protection::Cleartext, false))
        );
        assert_eq!(
            decide(sdp, PayloadVerdict::Cleartext, null, false),
            Some((Protection::Cleartext, false))
        );
        assert_eq!(
            decide(sdp, PayloadVerdict::Encrypted, null, false),
            Some((Protection::EncryptedUnknown, false))
        );
    }

    #[test]
    fn null_srtp_hint_makes_a_dtls_stream_cleartext() {
        let mut t = StreamTable::new(StreamConfig::default());
        let mut ev = Vec::new();
        t.observe_flow(flow(11), &PacketKind::Dtls(DtlsContentType::Handshake));
        let f = flow(11);
        let rev = Flow {
            src: f.dst,
            dst: f.src,
            src_port: f.dst_port,
            dst_port: f.src_port,
        };
        t.observe_null_srtp(rev);
        let o = feed(
            &mut t,
            flow(11),
            8,
            30,
            0,
            false,
            Some(Declared::SrtpDtls),
            &mut ev,
        );
        assert_eq!(o.protection, Protection::Cleartext);
    }

    #[test]
    fn short_stream_classified_at_end_and_noise_is_silent() {
        let mut t = StreamTable::new(StreamConfig::default());
        let mut ev = Vec::new();
        // 3 packets (480 bytes): valid, too little payload to decide even
        // at the end.
        feed(&mut t, flow(2), 8, 3, 0, false, None, &mut ev);
        // 5 packets of silence: decided when the stream ends.
        feed(&mut t, flow(5), 8, 5, 0, false, None, &mut ev);
        // One noise packet on another flow.
        let p = rtp(96, 1, 1, 99, &[1, 2, 3]);
        let PacketKind::Rtp(h) = classify(&p) else {
            panic!()
        };
        t.observe_rtp(flow(3), &h, ms(0), || None::<Declared>, &mut ev);
        t.flush(&mut ev);
        let kinds: Vec<_> = ev
            .iter()
            .map(|e| match e {
                StreamEvent::New { .. } => "new",
                StreamEvent::Classified { protection, .. } => protection.as_str(),
                StreamEvent::Ended { .. } => "ended",
                StreamEvent::Watch { .. } => "watch",
            })
            .collect();
        assert_eq!(
            kinds,
            ["new", "new", "unknown", "ended", "cleartext", "ended"]
        );
        assert_eq!(t.stats().probation_dropped, 1);
    }

    #[test]
    fn probation_rejects_out_of_sequence() {
        let mut t = StreamTable::new(StreamConfig::default());
        let mut ev = Vec::new();
        for (i, seq) in [10u16, 20, 30, 40, 50].into_iter().enumerate() {
            let p = rtp(0, seq, 0, 1, &[0xff; 160]);
            let PacketKind::Rtp(h) = classify(&p) else {
                panic!()
            };
            let o = t.observe_rtp(flow(4), &h, ms(i as u64), || None::<Declared>, &mut ev);
            assert!(!o.validated);
        }
        assert!(ev.is_empty());
    }

    #[test]
    fn lru_capacity_eviction() {
        let mut t = StreamTable::new(StreamConfig {
            max_streams: 4,
            ..StreamConfig::default()
        });
        let mut ev = Vec::new();
        for sport in 0..10u16 {
            feed(
                &mut t,
                flow(sport),
                8,
                30,
                u64::from(sport) * 1000,
                false,
                None,
                &mut ev,
            );
        }
        assert_eq!(t.len(), 4);
        assert_eq!(t.stats().evicted_full, 6);
        let ended = ev
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    StreamEvent::Ended {
                        reason: EndReason::Evicted,
                        ..
                    }
                )
            })
            .count();
        assert_eq!(ended, 6);
        // The oldest went first: the four last remain.
        t.flush(&mut ev);
        let flushed: Vec<u16> = ev
            .iter()
            .filter_map(|e| match e {
                StreamEvent::Ended {
                    key,
                    reason: EndReason::Flushed,
                    ..
                } => Some(key.flow.src_port),
                _ => None,
            })
            .collect();
        assert_eq!(flushed, [6, 7, 8, 9]);
    }

    #[test]
    fn lru_map_consistency() {
        let mut l: Lru<u32, u32> = Lru::new(8);
        let mut rng = crate::testkit::random::Xorshift::new(12345);
        let mut model: Vec<u32> = Vec::new(); // most recent last
        for _ in 0..20_000 {
            let x = rng.next_u64();
            let k = (x % 16) as u32;
            match x % 3 {
                0 | 1 => {
                    if l.get_mut(&k).is_some() {
                        model.retain(|&m| m != k);
                        model.push(k);
                    } else {
                        let ev = l.insert(k, k * 10);
                        if model.len() == 8 {
                            assert_eq!(ev.map(|e| e.0), Some(model.remove(0)));
                        }
                        model.push(k);
                    }
                }
                _ => {
                    let got = l.pop_lru_if(|_| true).map(|e| e.0);
                    let want = (!model.is_empty()).then(|| model.remove(0));
                    assert_eq!(got, want);
                }
            }
            assert_eq!(l.len(), model.len());
            for &m in &model {
                assert_eq!(l.peek(&m), Some(&(m * 10)));
            }
        }
    }

    #[test]
    fn entry_size_budget() {
        let entry = entry_size();
        let sampler = std::mem::size_of::<PayloadSampler>();
        println!(
            "stream entry {entry} B (+ {sampler} B sampler until classified, + map key/index)"
        );
        assert!(entry <= 256, "{entry}");
    }

    #[test]
    fn rtcp_protection_follows_stream() {
        let mut t = StreamTable::new(StreamConfig::default());
        let mut ev = Vec::new();
        feed(
            &mut t,
            flow(5000),
            8,
            30,
            0,
            true,
            Some(Declared::SrtpSdes),
            &mut ev,
        );
        let mut f = flow(5001);
        f.dst_port = 4001;
        let info = RtcpInfo {
            ssrc: 7,
            srtcp: true,
            encrypted: true,
            ..RtcpInfo::default()
        };
        assert_eq!(t.rtcp_protection(f, &info), Protection::SrtpSdes);
        let other = RtcpInfo { ssrc: 8, ..info };
        assert_eq!(t.rtcp_protection(f, &other), Protection::EncryptedUnknown);
        let clear = RtcpInfo {
            ssrc: 8,
            ..RtcpInfo::default()
        };
        assert_eq!(t.rtcp_protection(f, &clear), Protection::Cleartext);
    }

    #[test]
    fn random_headers_never_panic_and_stay_bounded() {
        let mut t = StreamTable::new(StreamConfig {
            max_streams: 64,
            idle_timeout: Duration::from_secs(5),
            max_hint_flows: 8,
            min_classify_age: Duration::ZERO,
        });
        let mut rng = crate::testkit::random::Xorshift::new(0x1234_5678_9abc_def1);
        let mut next = move || rng.next_u64();
        let mut ev = Vec::new();
        let mut payload = [0u8; 200];
        let mut news = 0;
        let mut ends = 0;
        let mut classified = 0;
        for i in 0..200_000u64 {
            let r = next();
            pseudo_random(r, &mut payload[..(r % 200) as usize]);
            let seq = if r % 3 == 0 { (i / 7) as u16 } else { r as u16 };
            let ts = if r % 5 == 0 {
                (i * 160) as u32
            } else {
                (r >> 16) as u32
            };
            let pt = [0u8, 8, 13, 96, 111][((r >> 40) % 5) as usize];
            let p = rtp(
                pt,
                seq,
                ts,
                ((r >> 48) % 4) as u32,
                &payload[..(r % 200) as usize],
            );
            let PacketKind::Rtp(h) = classify(&p) else {
                panic!()
            };
            let f = flow(((r >> 32) % 100) as u16);
            if r % 97 == 0 {
                t.observe_flow(f, &PacketKind::Dtls(DtlsContentType::Handshake));
            }
            let now = Duration::from_millis(i * (r % 4));
            t.observe_rtp(f, &h, now, || None::<Declared>, &mut ev);
            if i % 1000 == 0 {
                t.expire(now, &mut ev);
            }
            assert!(t.len() <= 64);
            for e in ev.drain(..) {
                match e {
                    StreamEvent::New { .. } => news += 1,
                    StreamEvent::Classified { .. } => classified += 1,
                    StreamEvent::Ended { .. } => ends += 1,
                    StreamEvent::Watch { .. } => {}
                }
            }
        }
        t.flush(&mut ev);
        for e in ev.drain(..) {
            match e {
                StreamEvent::New { .. } => news += 1,
                StreamEvent::Classified { .. } => classified += 1,
                StreamEvent::Ended { .. } => ends += 1,
                StreamEvent::Watch { .. } => {}
            }
        }
        // Every validated stream: exactly one of each.
        assert_eq!(news, classified);
        assert_eq!(news, ends);
        assert!(t.is_empty());
    }

    /// Throughput of classify + observe_rtp; run with
    /// `cargo test --release --lib -- --ignored --nocapture bench_`.
    #[test]
    #[ignore]
    fn bench_classify_and_observe() {
        let mut t = StreamTable::new(StreamConfig::default());
        let mut ev = Vec::new();
        let mut payload = [0u8; 160];
        pseudo_random(1, &mut payload);
        let mut buf = rtp(8, 0, 0, 0, &payload);
        // 1000 concurrent streams (10 flows × 100 SSRCs), 20 ms apart.
        let n = 2_000_000u64;
        let start = std::time::Instant::now();
        for i in 0..n {
            let key = (i % 1000) as u32;
            let seq = (i / 1000) as u16;
            buf[2..4].copy_from_slice(&seq.to_be_bytes());
            buf[4..8].copy_from_slice(&(u32::from(seq) * 160).to_be_bytes());
            buf[8..12].copy_from_slice(&key.to_be_bytes());
            if let PacketKind::Rtp(h) = classify(&buf) {
                let f = flow((key % 10) as u16);
                t.observe_rtp(
                    f,
                    &h,
                    Duration::from_micros(i * 20),
                    || None::<Declared>,
                    &mut ev,
                );
            }
            ev.clear();
        }
        let el = start.elapsed();
        println!(
            "classify+observe_rtp: {:.0} ns/packet over {n} packets, {} streams",
            el.as_nanos() as f64 / n as f64,
            t.len()
        );
        assert_eq!(t.len(), 1000);
        let start = std::time::Instant::now();
        let mut k = 0usize;
        for i in 0..n {
            buf[2] = i as u8;
            k += usize::from(matches!(classify(&buf), PacketKind::Rtp(_)));
        }
        println!(
            "classify alone: {:.1} ns/packet ({k})",
            start.elapsed().as_nanos() as f64 / n as f64
        );
    }

    /// One packet of stream `ssrc` (on one flow) at `now`.
    fn packet(t: &mut StreamTable, ssrc: u32, seq: u16, now: Duration, ev: &mut Vec<StreamEvent>) {
        let p = rtp(0, seq, 160 * u32::from(seq), ssrc, &[0xd5; 160]);
        let PacketKind::Rtp(h) = classify(&p) else {
            panic!()
        };
        t.observe_rtp(flow(5000), &h, now, || None::<Declared>, ev);
    }

    fn key(ssrc: u32) -> StreamKey {
        StreamKey {
            flow: flow(5000),
            ssrc,
        }
    }

    /// The LRU order follows the packets to within a second, also when a
    /// stream's first packet after its creation falls in a second whose
    /// 16-bit stamp is 0 (a new entry must not already count as touched
    /// in that second).
    #[test]
    fn eviction_order_across_stamp_zero() {
        for wrap in [1u64, 2, 7] {
            let zero = 65_536 * wrap;
            let mut t = StreamTable::new(StreamConfig {
                max_streams: 2,
                ..StreamConfig::default()
            });
            let mut ev = Vec::new();
            let s = Duration::from_secs;
            packet(&mut t, 1, 1, s(zero - 6), &mut ev);
            packet(&mut t, 2, 1, s(zero - 5), &mut ev);
            // Stream 1 again, 5 s after stream 2's last packet.
            packet(&mut t, 1, 2, s(zero), &mut ev);
            packet(&mut t, 3, 1, s(zero + 1), &mut ev);
            assert!(t.streams.peek(&key(1)).is_some(), "wrap {wrap}: 1 evicted");
            assert!(t.streams.peek(&key(2)).is_none(), "wrap {wrap}: 2 kept");
        }
    }

    /// Random packets of a few streams over times that cross stamp
    /// wraps: the stream evicted for a new one (or expired as idle) was
    /// last seen no more than a second after the least recently seen
    /// stream.
    #[test]
    fn eviction_is_lru_to_within_a_second() {
        let cap = 4;
        let mut t = StreamTable::new(StreamConfig {
            max_streams: cap,
            idle_timeout: Duration::from_secs(30),
            ..StreamConfig::default()
        });
        let mut ev = Vec::new();
        // Model: stream -> last packet time.
        let mut last: std::collections::HashMap<u32, Duration> = Default::default();
        let mut seq: std::collections::HashMap<u32, u16> = Default::default();
        let mut now = Duration::from_secs(65_536 - 40);
        let mut rng = crate::testkit::random::Xorshift::new(0x0123_4567_89ab_cdef);
        for step in 0..20_000 {
            let x = rng.next_u64();
            // Steps of 0 to 2.5 s, now and then up to 20 s.
            let gap = if x % 50 == 0 {
                (x >> 8) % 20_000
            } else {
                (x >> 8) % 2_500
            };
            now += Duration::from_millis(gap);
            if x % 400 == 1 && now.as_secs() % 65_536 < 65_536 - 100 {
                // To a few seconds before the next wrap of the stamp; the
                // periodic expiry runs first, as a worker's tick would (a
                // stream idle for 2^16 s may keep a stale place otherwise).
                let next = (now.as_secs() / 65_536 + 1) * 65_536;
                now = Duration::from_secs(next - (x >> 40) % 8);
                t.expire(now, &mut ev);
                ev.clear();
                last.retain(|_, &mut seen| now.saturating_sub(seen) <= Duration::from_secs(30));
            }
            let ssrc = ((x >> 24) % 9) as u32;
            let n = seq.entry(ssrc).or_insert(0);
            *n = n.wrapping_add(1);
            packet(&mut t, ssrc, *n, now, &mut ev);
            ev.clear();
            if x % 13 == 0 {
                t.expire(now, &mut ev);
                ev.clear();
            }
            let before: Vec<(u32, Duration)> = last.iter().map(|(&k, &v)| (k, v)).collect();
            last.insert(ssrc, now);
            let oldest = before
                .iter()
                .filter(|(k, _)| *k != ssrc)
                .map(|&(_, v)| v)
                .min();
            for (k, seen) in before {
                if k != ssrc && t.streams.peek(&key(k)).is_none() {
                    last.remove(&k);
                    let oldest = oldest.unwrap_or(seen);
                    let idle = now.saturating_sub(seen) > Duration::from_secs(30);
                    assert!(
                        idle || seen <= oldest + Duration::from_secs(1),
                        "step {step}: stream {k} last seen {seen:?} ended, \
                         the least recent was seen {oldest:?}"
                    );
                }
            }
            assert!(t.len() <= cap);
        }
    }
}
