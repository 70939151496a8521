//! A worker thread's state and per-frame work: decode, defragment,
//! reassemble TCP, find and parse SIP, count.
//!
//! Invariant: a worker owns its tables (defrag pool, TCP streams) outright;
//! nothing here is shared except metric handles. Every frame ends in exactly
//! one place: processed, not ours (non-IP, non-SIP), or a counted failure.

use super::dispatch::Msg;
use crate::config::Limits;
use crate::decode::defrag::{Defrag, DefragConfig, DefragOutcome};
use crate::decode::sctp_reasm::{SctpConfig, SctpKey, SctpOutcome, SctpReassembler};
use crate::decode::tcp::{StreamKey, TcpConfig, TcpReassembler};
use crate::decode::{self, DecodeError, LinkType, Packet, L4};
use crate::exposure::{self, Finding, Zones};
use crate::findings::Store;
use crate::lru::Lru;
use crate::media::stream::{Flow, Protection, StreamConfig, StreamEvent, StreamTable};
use crate::media::{classify, EndpointTable, PacketKind};
use crate::metrics::{DropReason, ExposureCounters, Metrics, SipCounters};
use crate::sdp::Declared;
use crate::sip::dialog::{CallEvent, CallTable, Observation};
use crate::sip::stream::{SipEvent, StreamState};
use crate::sip::{self, Body, Message, Method, StartLine, Transport};
use crossbeam_channel::Receiver;
use prometheus::{IntCounter, IntGauge};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

/// Well-known SIP-over-TLS port (RFC 3261 §26.2); a TLS stream elsewhere is
/// still recognised by its record header.
const SIP_TLS_PORT: u16 = 5061;

/// A media stream is classified no earlier than this after its first
/// packet: the SDP that announced it may be handled by another worker, and
/// file replay synchronises workers once a second of capture time.
const MIN_CLASSIFY_AGE: Duration = Duration::from_millis(1500);

/// How often (capture time) tables are expired.
const EXPIRE_EVERY: Duration = Duration::from_secs(1);

/// State shared by all workers: what signalling declared (written by the
/// worker that sees the SDP, read by the one that sees the media) and the
/// calls (a dialog's messages may cross several flows, hence workers).
pub struct Shared {
    pub endpoints: EndpointTable,
    pub calls: CallTable,
    pub store: Arc<Store>,
    /// Replaced on SIGHUP.
    pub zones: Arc<RwLock<Zones>>,
}

impl Shared {
    pub fn new(limits: &Limits, store: Arc<Store>, zones: Arc<RwLock<Zones>>) -> Shared {
        Shared {
            store,
            zones,
            endpoints: EndpointTable::new(16, limits.media_endpoints, limits.endpoint_ttl),
            calls: CallTable::new(crate::sip::dialog::CallConfig {
                max_entries: limits.calls,
                ..Default::default()
            }),
        }
    }

    /// Count and record findings from `sender`: `exposures_total` with the
    /// sender's zone, and the findings store (pseudonymised, redacted).
    fn expose(
        &self,
        counters: &mut ExposureCounters,
        findings: &[Finding<'_>],
        sender: IpAddr,
        transport: &str,
        now: Duration,
    ) {
        if findings.is_empty() {
            return;
        }
        let zones = self.zones.read().unwrap_or_else(|p| p.into_inner());
        let zone = zones.zone_of(sender);
        for f in findings {
            counters.inc(f.kind, f.field, transport, zone);
        }
        self.store.record_all(
            findings,
            sender,
            transport,
            zone,
            SystemTime::UNIX_EPOCH + now,
        );
    }

    /// What the SDP declared for a flow: its destination (the announced
    /// receive address), else its source (symmetric RTP sends from there).
    fn declared(&self, f: &Flow, now: Duration) -> Option<Declared> {
        self.endpoints
            .lookup(f.dst, f.dst_port, now)
            .or_else(|| self.endpoints.lookup(f.src, f.src_port, now))
    }
}

const NP: usize = Protection::ALL.len();

/// Resolved media handles, one per `protection` value.
///
/// Per-packet counts (`packets`, `bytes`, `rtcp`) are kept here as plain
/// integers and added to the shared counters once per batch and at every
/// publish (`flush`): the counters are atomics every worker writes, and two
/// workers incrementing the same cache lines for every RTP packet cost more
/// than classifying it.
struct MediaCounters {
    packets: [IntCounter; NP],
    bytes: [IntCounter; NP],
    rtcp: [IntCounter; NP],
    pending_packets: [u64; NP],
    pending_bytes: [u64; NP],
    pending_rtcp: [u64; NP],
    streams: [IntCounter; NP],
    active: [IntGauge; NP],
}

fn pidx(p: Protection) -> usize {
    Protection::ALL.iter().position(|x| *x == p).unwrap_or(0)
}

impl MediaCounters {
    fn new(m: &Metrics) -> MediaCounters {
        let arr = |v: &prometheus::IntCounterVec| {
            Protection::ALL.map(|p| v.with_label_values(&[p.as_str()]))
        };
        MediaCounters {
            packets: arr(&m.media_packets),
            bytes: arr(&m.media_bytes),
            rtcp: arr(&m.rtcp_packets),
            pending_packets: [0; NP],
            pending_bytes: [0; NP],
            pending_rtcp: [0; NP],
            streams: arr(&m.media_streams),
            active: Protection::ALL
                .map(|p| m.media_streams_active.with_label_values(&[p.as_str()])),
        }
    }

    fn flush(&mut self) {
        let sets = [
            (&self.packets, &mut self.pending_packets),
            (&self.bytes, &mut self.pending_bytes),
            (&self.rtcp, &mut self.pending_rtcp),
        ];
        for (counters, pending) in sets {
            for (c, n) in counters.iter().zip(pending.iter_mut()) {
                if *n > 0 {
                    c.inc_by(*n);
                    *n = 0;
                }
            }
        }
    }
}

/// RTCP identity is counted once per (stream, SSRC, field): which fields
/// each (flow, SSRC) already reported, as a bitmask of `Field::index`,
/// keyed by a 64-bit keyed hash of (flow, SSRC): 24-byte entries instead
/// of 64. Two keys colliding (odds about n²/2⁶⁵) would share a mask, at
/// worst not counting one repeat of an identity already counted.
const RTCP_SEEN_CAP: usize = 65_536;

pub struct Worker {
    exposures: ExposureCounters,
    /// Capture time of the frame being processed.
    last_ts: Duration,
    rtcp_seen: Lru<u64, u64>,
    rtcp_seen_key: ahash::RandomState,
    defrag_cfg: DefragConfig,
    tcp_cfg: TcpConfig,
    metrics: Metrics,
    shared: Arc<Shared>,
    streams: StreamTable,
    media: MediaCounters,
    stream_events: Vec<StreamEvent>,
    call_events: Vec<CallEvent>,
    sip: SipCounters,
    defrag: Defrag,
    tcp: TcpReassembler<StreamState>,
    sctp: SctpReassembler,
    decode_failures: HashMap<(&'static str, &'static str), IntCounter>,
    frames: IntCounter,
    last_expire: Duration,
    /// Running totals of the stream table's counters already exported.
    media_published: [u64; 3],
    /// Table sizes last published, so gauges shared by workers move by deltas.
    published: [i64; 4],
}

impl Worker {
    /// A worker with its own shared state (random pseudonym key, no zones):
    /// for benches, fuzzing and tests that drive one worker directly.
    pub fn standalone(index: usize, metrics: &Metrics, limits: &Limits) -> Worker {
        let store = Store::new(crate::findings::StoreConfig::default()).unwrap_or_else(|_| {
            Store::with_key(&[7u8; 32], crate::findings::StoreConfig::default())
        });
        let zones = Zones::default();
        let shared = Shared::new(limits, Arc::new(store), Arc::new(RwLock::new(zones)));
        Worker::new(index, metrics, limits, Arc::new(shared))
    }

    pub fn new(index: usize, metrics: &Metrics, limits: &Limits, shared: Arc<Shared>) -> Worker {
        let defrag_cfg = DefragConfig {
            max_datagrams: limits.defrag_datagrams,
            max_datagram_bytes: 65_535,
            max_bytes: limits.defrag_bytes,
            timeout: limits.defrag_timeout,
        };
        let tcp_cfg = TcpConfig {
            max_streams: limits.tcp_streams,
            max_buffer: limits.tcp_buffer_bytes,
            max_out_of_order_segments: 64,
            max_total_bytes: limits.tcp_bytes,
            idle_timeout: limits.tcp_idle,
        };
        Worker {
            exposures: ExposureCounters::new(metrics),
            last_ts: Duration::ZERO,
            rtcp_seen: Lru::new(RTCP_SEEN_CAP),
            rtcp_seen_key: ahash::RandomState::new(),
            defrag_cfg,
            tcp_cfg,
            shared,
            streams: StreamTable::new(StreamConfig {
                max_streams: limits.media_streams,
                idle_timeout: limits.media_idle,
                min_classify_age: MIN_CLASSIFY_AGE,
                ..StreamConfig::default()
            }),
            media: MediaCounters::new(metrics),
            stream_events: Vec::new(),
            call_events: Vec::new(),
            sip: SipCounters::new(metrics),
            defrag: Defrag::new(defrag_cfg),
            tcp: TcpReassembler::new(tcp_cfg),
            // SIP over SCTP is rare: a small, time-bounded table of
            // partial messages with a byte budget.
            sctp: SctpReassembler::new(SctpConfig {
                timeout: limits.defrag_timeout,
                ..SctpConfig::default()
            }),
            decode_failures: HashMap::new(),
            frames: metrics
                .worker_frames
                .with_label_values(&[&index.to_string()]),
            metrics: metrics.clone(),
            last_expire: Duration::ZERO,
            published: [0; 4],
            media_published: [0; 3],
        }
    }

    /// The thread body: process until every sender is gone, then publish.
    pub fn run(mut self, rx: Receiver<Msg>) {
        for msg in rx.iter() {
            match msg {
                Msg::Batch(b) => {
                    for (ts, data) in b.iter() {
                        self.frame(b.link, ts, data);
                    }
                    self.frames.inc_by(b.frames.len() as u64);
                    self.media.flush();
                }
                Msg::Tick(now) => self.maintain(now, true),
                Msg::Barrier(b) => {
                    b.wait();
                }
                Msg::Reset(now) => self.reset(now),
            }
        }
        self.finish();
    }

    /// A new, unrelated timeline starts at `now`: end every stream, drop
    /// partial datagrams and TCP streams (counted as evictions).
    fn reset(&mut self, now: Duration) {
        self.finish();
        let m = &self.metrics;
        let dropped = (self.defrag.len() + self.tcp.len() + self.sctp.len()) as u64;
        if dropped > 0 {
            m.flow_evictions
                .with_label_values(&["capture_reset"])
                .inc_by(dropped);
        }
        self.defrag = Defrag::new(self.defrag_cfg);
        self.tcp = TcpReassembler::new(self.tcp_cfg);
        self.sctp = SctpReassembler::new(SctpConfig {
            timeout: self.defrag_cfg.timeout,
            ..SctpConfig::default()
        });
        self.last_expire = now;
        self.publish();
    }

    /// End of input: streams still open end now (their verdicts and
    /// quality are final), then publish. Calls in progress stay active:
    /// they had not ended when the capture did.
    pub fn finish(&mut self) {
        let now = self.last_expire;
        let shared = Arc::clone(&self.shared);
        while self
            .streams
            .flush_with(&mut |f| shared.declared(&f, now), &mut self.stream_events)
        {
            self.drain_media_events();
        }
        self.drain_media_events();
        self.publish();
    }

    fn decode_failure(&mut self, e: DecodeError) {
        let key = (e.layer.as_str(), e.reason.as_str());
        let m = &self.metrics;
        self.decode_failures
            .entry(key)
            .or_insert_with(|| m.decode_failures.with_label_values(&[key.0, key.1]))
            .inc();
    }

    pub fn frame(&mut self, link: LinkType, ts: Duration, data: &[u8]) {
        self.last_ts = ts;
        match decode::decode(link, data) {
            Ok(Some(p)) => self.packet(p, ts),
            Ok(None) => {}
            Err(e) => self.decode_failure(e),
        }
        if ts >= self.last_expire + EXPIRE_EVERY {
            self.maintain(ts, false);
        }
    }

    /// One decoded packet, and then each datagram its fragments complete.
    ///
    /// A loop, not recursion: a reassembled datagram may itself be (or
    /// tunnel) a fragment that completes another datagram, a chain whose
    /// length the traffic chooses. The work list holds at most one datagram
    /// (a packet has one transport), and [`decode::MAX_LAYERS`], which
    /// survives reassembly, ends the chain.
    fn packet(&mut self, p: Packet<'_>, ts: Duration) {
        let mut next = self.packet_once(p, ts);
        while let Some((net, whole, layers)) = next.take() {
            match decode::decode_reassembled(net, &whole, layers) {
                Ok(Some(inner)) => next = self.packet_once(inner, ts),
                Ok(None) => {}
                Err(e) => self.decode_failure(e),
            }
        }
    }

    /// Everything for one packet except decoding what its fragment
    /// completes: that datagram is returned, with the depth it continues
    /// at, for [`Self::packet`]'s loop.
    fn packet_once(&mut self, p: Packet<'_>, ts: Duration) -> Option<(decode::Net, Vec<u8>, u8)> {
        // A problem the decoder worked around (e.g. a UDP length beyond the
        // IP payload) is counted at its layer; otherwise a frame cut by the
        // snaplen is counted as truncated at the IP layer. Either way the
        // packet is still analysed as far as its bytes go.
        if let Some(a) = p.anomaly {
            self.decode_failure(a);
        } else if p.truncated {
            self.decode_failure(DecodeError {
                layer: decode::Layer::Ip,
                reason: decode::Reason::Truncated,
            });
        }
        match p.l4 {
            L4::Udp {
                src_port,
                dst_port,
                payload,
            } => {
                let flow = Flow {
                    src: p.net.src,
                    dst: p.net.dst,
                    src_port,
                    dst_port,
                };
                self.udp(flow, payload, ts)
            }
            L4::Tcp(seg) => {
                let key = StreamKey {
                    src: p.net.src,
                    dst: p.net.dst,
                    src_port: seg.src_port,
                    dst_port: seg.dst_port,
                };
                let tls_hint = seg.src_port == SIP_TLS_PORT || seg.dst_port == SIP_TLS_PORT;
                let mut ctx = SipCtx {
                    sip: &mut self.sip,
                    exposures: &mut self.exposures,
                    metrics: &self.metrics,
                    shared: &self.shared,
                    calls: &mut self.call_events,
                    now: ts,
                    sender: p.net.src,
                };
                if let Some(stream) = self.tcp.segment(key, &seg, ts) {
                    let gap = stream.take_gap();
                    let (bytes, state) = stream.parts();
                    if gap {
                        state.on_gap();
                    }
                    let used = state.on_data(bytes, tls_hint, |ev| ctx.event(ev));
                    stream.consume(used);
                }
                self.drain_call_events();
            }
            L4::Sctp {
                src_port,
                dst_port,
                chunks,
            } => {
                // One SIP message per SCTP user message (RFC 4168 §5); a
                // large one (SIP-I with ISUP) spans several DATA chunks.
                for chunk in decode::sctp_data_chunks(chunks) {
                    let key = SctpKey {
                        src: p.net.src,
                        dst: p.net.dst,
                        src_port,
                        dst_port,
                        stream_id: chunk.stream_id,
                        unordered: chunk.unordered,
                    };
                    match self.sctp.push(key, &chunk, ts) {
                        SctpOutcome::Whole(msg) => self.sctp_message(msg, p.net.src, ts),
                        SctpOutcome::Reassembled(msg) => self.sctp_message(&msg, p.net.src, ts),
                        SctpOutcome::Pending => {}
                    }
                }
            }
            L4::Fragment(f) => {
                let net = p.net;
                if let DefragOutcome::Complete(whole) = self.defrag.push(&net, &f, ts) {
                    return Some((net, whole, p.tunnels));
                }
            }
            L4::Other => {}
        }
        None
    }

    fn udp(&mut self, flow: Flow, payload: &[u8], ts: Duration) {
        // SIP is recognised by content on any port, not by port number.
        // RTP and RTCP start with version 2 (first byte 0x80-0xBF, RFC 7983
        // §7): never a SIP start line, so skip the text test for them.
        let media_like = payload.first().is_some_and(|b| (0x80..=0xBF).contains(b));
        if !media_like && sip::framing::looks_like_sip(payload) {
            self.datagram(payload, Transport::Udp, flow.src, ts);
        } else {
            self.media_packet(flow, payload, ts);
        }
    }

    /// A UDP payload that is not SIP: RTP, RTCP, DTLS, ZRTP, STUN or other
    /// (RFC 7983 demultiplexing in `media::classify`).
    fn media_packet(&mut self, flow: Flow, payload: &[u8], ts: Duration) {
        match classify(payload) {
            PacketKind::Rtp(h) => {
                let shared = &self.shared;
                let o = self.streams.observe_rtp(
                    flow,
                    &h,
                    ts,
                    || shared.declared(&flow, ts),
                    &mut self.stream_events,
                );
                // Packets of streams still on probation may be noise that
                // happens to look like RTP: not counted as media.
                if o.validated {
                    let i = pidx(o.protection);
                    if let (Some(p), Some(b)) = (
                        self.media.pending_packets.get_mut(i),
                        self.media.pending_bytes.get_mut(i),
                    ) {
                        *p += 1;
                        *b += payload.len() as u64;
                    }
                }
                if !self.stream_events.is_empty() {
                    self.drain_media_events();
                }
            }
            PacketKind::Rtcp(info) => {
                let p = self.streams.rtcp_protection(flow, &info);
                if let Some(c) = self.media.pending_rtcp.get_mut(pidx(p)) {
                    *c += 1;
                }
                if p != Protection::Cleartext && p != Protection::Unknown {
                    return;
                }
                let mut found = Vec::new();
                exposure::scan_rtcp(&info, &mut found);
                if found.is_empty() {
                    return;
                }
                let key = self.rtcp_seen_key.hash_one((flow, info.ssrc));
                let seen = match self.rtcp_seen.get_mut(&key) {
                    Some(s) => s,
                    None => {
                        self.rtcp_seen.insert(key, 0);
                        match self.rtcp_seen.get_mut(&key) {
                            Some(s) => s,
                            None => return,
                        }
                    }
                };
                found.retain(|f| {
                    let bit = 1u64 << (f.field.index() & 63);
                    let new = *seen & bit == 0;
                    *seen |= bit;
                    new
                });
                self.shared
                    .expose(&mut self.exposures, &found, flow.src, "udp", ts);
            }
            k @ (PacketKind::Dtls(_) | PacketKind::Zrtp) => self.streams.observe_flow(flow, &k),
            PacketKind::Stun | PacketKind::Unknown => {}
        }
    }

    fn drain_media_events(&mut self) {
        let unknown = pidx(Protection::Unknown);
        for ev in self.stream_events.drain(..) {
            match ev {
                StreamEvent::New { .. } => {
                    if let Some(g) = self.media.active.get(unknown) {
                        g.inc();
                    }
                }
                StreamEvent::Classified {
                    key,
                    protection,
                    mismatch,
                } => {
                    let mut found = Vec::new();
                    exposure::media_findings(protection, mismatch, &mut found);
                    self.shared.expose(
                        &mut self.exposures,
                        &found,
                        key.flow.src,
                        "udp",
                        self.last_ts,
                    );
                    let i = pidx(protection);
                    if let Some(g) = self.media.active.get(unknown) {
                        g.dec();
                    }
                    if let Some(g) = self.media.active.get(i) {
                        g.inc();
                    }
                    if let Some(c) = self.media.streams.get(i) {
                        c.inc();
                    }
                }
                StreamEvent::Ended {
                    protection,
                    loss,
                    jitter,
                    ..
                } => {
                    if let Some(g) = self.media.active.get(pidx(protection)) {
                        g.dec();
                    }
                    if loss.expected > 0 {
                        let ratio = loss.lost.max(0) as f64 / loss.expected as f64;
                        self.metrics.stream_loss.observe(ratio.min(1.0));
                    }
                    if let Some(j) = jitter {
                        self.metrics.stream_jitter.observe(j.as_secs_f64());
                    }
                }
            }
        }
    }

    fn drain_call_events(&mut self) {
        if !self.call_events.is_empty() {
            count_call_events(&self.metrics, self.call_events.drain(..));
        }
    }

    fn sctp_message(&mut self, msg: &[u8], sender: IpAddr, ts: Duration) {
        if sip::framing::looks_like_sip(msg) {
            self.datagram(msg, Transport::Sctp, sender, ts);
        }
    }

    /// One whole SIP message (UDP datagram or SCTP chunk).
    fn datagram(&mut self, payload: &[u8], transport: Transport, sender: IpAddr, ts: Duration) {
        let mut ctx = SipCtx {
            sip: &mut self.sip,
            exposures: &mut self.exposures,
            metrics: &self.metrics,
            shared: &self.shared,
            calls: &mut self.call_events,
            now: ts,
            sender,
        };
        match sip::parse_message(payload) {
            Ok(msg) => ctx.message(transport, &msg),
            Err(e) => ctx.sip.parse_error(transport, e.as_str()),
        }
        self.drain_call_events();
    }

    /// Expire tables and publish what the parsers counted. Called about once
    /// a second of capture time, and at the end.
    fn maintain(&mut self, now: Duration, _tick: bool) {
        if now < self.last_expire + EXPIRE_EVERY {
            return;
        }
        self.last_expire = now;
        self.defrag.expire(now);
        self.tcp.expire(now);
        self.sctp.expire(now);
        let shared = Arc::clone(&self.shared);
        while self.streams.expire_with(
            now,
            &mut |f| shared.declared(&f, now),
            &mut self.stream_events,
        ) {
            self.drain_media_events();
        }
        self.drain_media_events();
        // Shared tables: every worker may expire them; each entry goes once.
        self.shared.calls.expire(now, &mut self.call_events);
        self.drain_call_events();
        self.shared.endpoints.purge(now);
        self.shared.store.expire(SystemTime::UNIX_EPOCH + now);
        self.publish();
    }

    fn publish(&mut self) {
        self.media.flush();
        let m = &self.metrics;
        let d = self.defrag.take_stats();
        m.ip_reassembled.inc_by(d.reassembled);
        // Dropped for the byte budget is an overflow too, and an eviction
        // with its own reason.
        m.dropped(DropReason::DefragOverflow)
            .inc_by(d.overflow + d.memcap);
        if d.memcap > 0 {
            m.flow_evictions
                .with_label_values(&["defrag_memcap"])
                .inc_by(d.memcap);
        }
        if d.invalid > 0 {
            m.decode_failures
                .with_label_values(&["ip", "bad_fragment"])
                .inc_by(d.invalid);
        }
        if d.timed_out > 0 {
            m.flow_evictions
                .with_label_values(&["defrag_timeout"])
                .inc_by(d.timed_out);
        }
        let t = self.tcp.take_stats();
        for (event, n) in [
            ("segment", t.segments),
            ("retransmitted", t.retransmitted),
            ("out_of_order", t.out_of_order),
            ("gap", t.gaps),
        ] {
            if n > 0 {
                m.tcp_segments.with_label_values(&[event]).inc_by(n);
            }
        }
        m.dropped(DropReason::StreamOverflow)
            .inc_by(t.overflow + t.evicted_memcap);
        if t.evicted_memcap > 0 {
            m.flow_evictions
                .with_label_values(&["tcp_memcap"])
                .inc_by(t.evicted_memcap);
        }
        m.dropped(DropReason::FlowTableFull)
            .inc_by(t.evicted_capacity);
        if t.evicted_capacity > 0 {
            m.flow_evictions
                .with_label_values(&["tcp_capacity"])
                .inc_by(t.evicted_capacity);
        }
        if t.evicted_idle > 0 {
            m.flow_evictions
                .with_label_values(&["tcp_idle"])
                .inc_by(t.evicted_idle);
        }
        let s = self.sctp.take_stats();
        if s.dropped > 0 {
            m.decode_failures
                .with_label_values(&["sctp", "lost_fragment"])
                .inc_by(s.dropped);
        }
        let ms = self.streams.stats();
        let totals = [ms.evicted_full, ms.expired_idle, ms.probation_dropped];
        for (i, reason) in ["media_capacity", "media_idle", "media_probation"]
            .iter()
            .enumerate()
        {
            // StreamTable keeps running totals; export the increase.
            let (n, last) = (totals[i], self.media_published[i]);
            if n > last {
                m.flow_evictions
                    .with_label_values(&[reason])
                    .inc_by(n - last);
                self.media_published[i] = n;
            }
        }
        let (full, idle) = self.shared.endpoints.take_evictions();
        for (reason, n) in [("endpoints_capacity", full), ("endpoints_idle", idle)] {
            if n > 0 {
                m.flow_evictions.with_label_values(&[reason]).inc_by(n);
            }
        }
        let (lru, ttl) = self.shared.store.take_evictions();
        if lru > 0 {
            m.flow_evictions
                .with_label_values(&["findings_lru"])
                .inc_by(lru);
        }
        if ttl > 0 {
            m.flow_evictions
                .with_label_values(&["findings_ttl"])
                .inc_by(ttl);
        }
        let cs = self.shared.calls.take_stats();
        if cs.evicted_capacity > 0 {
            m.flow_evictions
                .with_label_values(&["calls_capacity"])
                .inc_by(cs.evicted_capacity);
            m.dropped(DropReason::FlowTableFull)
                .inc_by(cs.evicted_capacity);
        }
        if cs.expired > 0 {
            m.flow_evictions
                .with_label_values(&["calls_idle"])
                .inc_by(cs.expired);
        }
        let sizes = [
            self.defrag.len() as i64,
            self.tcp.len() as i64,
            self.sctp.len() as i64,
            self.streams.len() as i64,
        ];
        for (i, kind) in [
            "ip_fragments",
            "tcp_streams",
            "sctp_partial_messages",
            "media_streams",
        ]
        .iter()
        .enumerate()
        {
            let delta = sizes[i] - self.published[i];
            if delta != 0 {
                m.flows_active.with_label_values(&[kind]).add(delta);
            }
        }
        self.published = sizes;
    }
}

/// A worker driven directly (benches, fuzzing, tests) is not always
/// published before it goes: per-packet counts must still reach the
/// counters.
impl Drop for Worker {
    fn drop(&mut self) {
        self.media.flush();
    }
}

/// `calls_active`, `calls_total{outcome}`, `call_duration_seconds`.
pub fn count_call_events(m: &Metrics, events: impl IntoIterator<Item = CallEvent>) {
    for ev in events {
        match ev {
            CallEvent::Started => m.calls_active.inc(),
            CallEvent::Ended { outcome, duration } => {
                m.calls_active.dec();
                m.calls.with_label_values(&[outcome.as_str()]).inc();
                if let Some(d) = duration {
                    m.call_duration.observe(d.as_secs_f64());
                }
            }
        }
    }
}

/// What a SIP message touches besides its counter: calls, registrations,
/// the media endpoints its SDP announces.
struct SipCtx<'a> {
    sip: &'a mut SipCounters,
    exposures: &'a mut ExposureCounters,
    metrics: &'a Metrics,
    shared: &'a Shared,
    calls: &'a mut Vec<CallEvent>,
    now: Duration,
    /// Source address of the packet that carried the message.
    sender: IpAddr,
}

impl SipCtx<'_> {
    fn event(&mut self, ev: SipEvent<'_>) {
        match ev {
            SipEvent::Message { transport, msg } => self.message(transport, &msg),
            SipEvent::ParseError { transport, error } => {
                self.sip.parse_error(transport, error.as_str())
            }
            SipEvent::TlsStream { first } => {
                self.metrics.sip_tls_streams.inc();
                // The client's first record is its ClientHello: the server
                // name it asks for travels in clear (RFC 6066 §3).
                if let Some(f) = exposure::scan_tls(first) {
                    self.shared.expose(
                        self.exposures,
                        &[f],
                        self.sender,
                        Transport::Tls.as_str(),
                        self.now,
                    );
                }
            }
            SipEvent::NotSip => {}
        }
    }

    fn message(&mut self, transport: Transport, msg: &Message<'_>) {
        let (method, code) = match msg.start {
            StartLine::Request { method, .. } => {
                self.sip.request(method, transport);
                (method, None)
            }
            StartLine::Response { code, .. } => {
                let method = msg.cseq().map(|(_, m)| m).unwrap_or(Method::Unknown);
                self.sip.response(code, method, transport);
                (method, Some(code))
            }
        };
        if method == Method::Register {
            if let Some(c) = code.filter(|c| *c >= 200) {
                let outcome = match c {
                    200..=299 => "success",
                    401 | 407 => "challenged",
                    _ => "failed",
                };
                self.metrics
                    .registrations
                    .with_label_values(&[outcome])
                    .inc();
            }
        }
        // The body is walked and its SDP parsed once, for both readers.
        let body = Body::parse(msg);
        let mut found = Vec::new();
        exposure::scan_sip(msg, &body, transport, &mut found);
        if let Some(call_id) = msg.call_id() {
            let o = self.shared.calls.observe(
                &Observation {
                    call_id,
                    method,
                    code,
                    transport: transport.index() as u8,
                },
                self.now,
                self.calls,
            );
            // Once per dialog or registration (and transport it crosses),
            // not per message.
            if o.new_dialog {
                found.extend(exposure::cleartext_signaling(transport));
            }
        }
        self.shared.expose(
            self.exposures,
            &found,
            self.sender,
            transport.as_str(),
            self.now,
        );
        self.register_media(body.sdp.as_ref());
    }

    /// Offer and answer both announce where their side receives media
    /// (RFC 3264 §5, §6): remember each (ip, port) with its declared
    /// protection, for whichever worker sees that media.
    fn register_media(&self, sdp: Option<&crate::sdp::Sdp<'_>>) {
        let Some(sdp) = sdp else {
            return;
        };
        let eps = &self.shared.endpoints;
        for e in sdp.media_endpoints() {
            eps.insert(e.rtp_ip, e.rtp_port, e.declared, self.now);
            if (e.rtcp_ip, e.rtcp_port) != (e.rtp_ip, e.rtp_port) {
                eps.insert(e.rtcp_ip, e.rtcp_port, e.declared, self.now);
            }
        }
        for (c, d) in sdp.candidate_endpoints() {
            let ip: IpAddr = c.ip;
            eps.insert(ip, c.port, d, self.now);
        }
    }
}
