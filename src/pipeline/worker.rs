//! A worker thread's state and per-frame work: decode, defragment,
//! reassemble TCP, find and parse SIP, count.
//!
//! Invariant: a worker owns its tables (defrag pool, TCP streams) outright;
//! nothing here is shared except metric handles. Every frame ends in exactly
//! one place: processed, not ours (non-IP, non-SIP), or a counted failure.

use super::dispatch::Msg;
use crate::config::Limits;
use crate::decode::defrag::{Defrag, DefragConfig, DefragOutcome};
use crate::decode::sctp_reasm::{SctpKey, SctpOutcome, SctpReassembler};
use crate::decode::tcp::{StreamKey, TcpConfig, TcpReassembler};
use crate::decode::{self, DecodeError, LinkType, Packet, L4};
use crate::metrics::{DropReason, Metrics, SipCounters};
use crate::sip::stream::{SipEvent, StreamState};
use crate::sip::{self, Message, Method, StartLine, Transport};
use crossbeam_channel::Receiver;
use prometheus::IntCounter;
use std::collections::HashMap;
use std::time::Duration;

/// Well-known SIP-over-TLS port (RFC 3261 §26.2); a TLS stream elsewhere is
/// still recognised by its record header.
const SIP_TLS_PORT: u16 = 5061;

/// How often (capture time) tables are expired.
const EXPIRE_EVERY: Duration = Duration::from_secs(1);

pub struct Worker {
    metrics: Metrics,
    sip: SipCounters,
    defrag: Defrag,
    tcp: TcpReassembler<StreamState>,
    sctp: SctpReassembler,
    decode_failures: HashMap<(&'static str, &'static str), IntCounter>,
    frames: IntCounter,
    last_expire: Duration,
    /// Table sizes last published, so gauges shared by workers move by deltas.
    published: [i64; 3],
}

impl Worker {
    pub fn new(index: usize, metrics: &Metrics, limits: &Limits) -> Worker {
        Worker {
            sip: SipCounters::new(metrics),
            defrag: Defrag::new(DefragConfig {
                max_datagrams: limits.defrag_datagrams,
                max_datagram_bytes: 65_535,
                timeout: limits.defrag_timeout,
            }),
            tcp: TcpReassembler::new(TcpConfig {
                max_streams: limits.tcp_streams,
                max_buffer: limits.tcp_buffer_bytes,
                max_out_of_order_segments: 64,
                idle_timeout: limits.tcp_idle,
            }),
            // SIP over SCTP is rare; a small table of partial messages,
            // each at most the largest SIP message the TCP framer accepts.
            sctp: SctpReassembler::new(1024, 256 * 1024),
            decode_failures: HashMap::new(),
            frames: metrics
                .worker_frames
                .with_label_values(&[&index.to_string()]),
            metrics: metrics.clone(),
            last_expire: Duration::ZERO,
            published: [0; 3],
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
                }
                Msg::Tick(now) => self.maintain(now, true),
            }
        }
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
        match decode::decode(link, data) {
            Ok(Some(p)) => self.packet(p, ts),
            Ok(None) => {}
            Err(e) => self.decode_failure(e),
        }
        if ts >= self.last_expire + EXPIRE_EVERY {
            self.maintain(ts, false);
        }
    }

    fn packet(&mut self, p: Packet<'_>, ts: Duration) {
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
            } => self.udp(src_port, dst_port, payload),
            L4::Tcp(seg) => {
                let key = StreamKey {
                    src: p.net.src,
                    dst: p.net.dst,
                    src_port: seg.src_port,
                    dst_port: seg.dst_port,
                };
                let tls_hint = seg.src_port == SIP_TLS_PORT || seg.dst_port == SIP_TLS_PORT;
                let sip = &mut self.sip;
                let metrics = &self.metrics;
                if let Some(stream) = self.tcp.segment(key, &seg, ts) {
                    let gap = stream.take_gap();
                    let (bytes, state) = stream.parts();
                    if gap {
                        state.on_gap();
                    }
                    let used = state.on_data(bytes, tls_hint, |ev| stream_event(sip, metrics, ev));
                    stream.consume(used);
                }
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
                    match self.sctp.push(key, &chunk) {
                        SctpOutcome::Whole(msg) => self.sctp_message(msg),
                        SctpOutcome::Reassembled(msg) => self.sctp_message(&msg),
                        SctpOutcome::Pending => {}
                    }
                }
            }
            L4::Fragment(f) => {
                let net = p.net;
                match self.defrag.push(&net, &f, ts) {
                    DefragOutcome::Pending => {}
                    DefragOutcome::Complete(whole) => {
                        match decode::decode_reassembled(net, &whole) {
                            Ok(Some(inner)) => self.packet(inner, ts),
                            Ok(None) => {}
                            Err(e) => self.decode_failure(e),
                        }
                    }
                }
            }
            L4::Other => {}
        }
    }

    fn udp(&mut self, _src_port: u16, _dst_port: u16, payload: &[u8]) {
        // SIP is recognised by content on any port, not by port number.
        if sip::framing::looks_like_sip(payload) {
            self.datagram(payload, Transport::Udp);
        }
    }

    fn sctp_message(&mut self, msg: &[u8]) {
        if sip::framing::looks_like_sip(msg) {
            self.datagram(msg, Transport::Sctp);
        }
    }

    /// One whole SIP message (UDP datagram or SCTP chunk).
    fn datagram(&mut self, payload: &[u8], transport: Transport) {
        match sip::parse_message(payload) {
            Ok(msg) => count_message(&mut self.sip, transport, &msg),
            Err(e) => self.sip.parse_error(transport, e.as_str()),
        }
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
        self.publish();
    }

    fn publish(&mut self) {
        let m = &self.metrics;
        let d = self.defrag.take_stats();
        m.ip_reassembled.inc_by(d.reassembled);
        m.dropped(DropReason::DefragOverflow).inc_by(d.overflow);
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
        m.dropped(DropReason::StreamOverflow).inc_by(t.overflow);
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
        let sizes = [
            self.defrag.len() as i64,
            self.tcp.len() as i64,
            self.sctp.len() as i64,
        ];
        for (i, kind) in ["ip_fragments", "tcp_streams", "sctp_partial_messages"]
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

fn count_message(sip: &mut SipCounters, transport: Transport, msg: &Message<'_>) {
    match msg.start {
        StartLine::Request { method, .. } => sip.request(method, transport),
        StartLine::Response { code, .. } => {
            let method = msg.cseq().map(|(_, m)| m).unwrap_or(Method::Unknown);
            sip.response(code, method, transport)
        }
    }
}

fn stream_event(sip: &mut SipCounters, metrics: &Metrics, ev: SipEvent<'_>) {
    match ev {
        SipEvent::Message { transport, msg } => count_message(sip, transport, &msg),
        SipEvent::ParseError { transport, error } => sip.parse_error(transport, error.as_str()),
        SipEvent::TlsStream => metrics.sip_tls_streams.inc(),
        SipEvent::NotSip => {}
    }
}
