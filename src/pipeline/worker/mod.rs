//! A worker thread's state and per-frame work: decode, defragment,
//! reassemble TCP, find and parse SIP, count.
//!
//! Invariant: a worker owns its tables (defrag pool, TCP streams) outright;
//! nothing here is shared except metric handles and [`Shared`]. Every frame
//! ends in exactly one place: processed, not ours (non-IP, non-SIP), or a
//! counted failure.
//!
//! Files, by concern:
//! - this file: the thread loop, frame entry and routing by transport,
//!   table expiry;
//! - [`shared`]: state shared by all workers (endpoints, calls, findings);
//! - `sip_path`: SIP messages, call events, registration outcomes;
//! - `media_path`: RTP/RTCP, per-protection counters, stream events;
//! - `observe`: what an observer can assemble (linker, registrations);
//! - `publish`: table statistics and sizes exported as metrics.

mod media_path;
mod observe;
mod publish;
pub mod shared;
mod sip_path;

pub use shared::Shared;
pub use sip_path::count_call_events;

use super::counters::{DecodeFailures, ExposureCounters, SipCounters};
use super::dispatch::{Msg, Spares};
use crate::config::Limits;
use crate::decode::defrag::{Defrag, DefragConfig, DefragOutcome};
use crate::decode::sctp_reasm::{SctpConfig, SctpReassembler};
use crate::decode::tcp::{StreamKey, TcpConfig, TcpReassembler};
use crate::decode::{self, DecodeError, LinkType, Packet, L4};
use crate::exposure::Zones;
use crate::findings::Store;
use crate::label::Eviction;
use crate::media::rtcp_seen::{RtcpSeen, RTCP_SEEN_CAP};
use crate::media::stream::{StreamConfig, StreamEvent, StreamTable};
use crate::metrics::Metrics;
use crate::sip::dialog::CallEvent;
use crate::sip::stream::StreamState;
use crate::tls::flows::{DtlsFlows, DTLS_FLOWS_CAP};
use crossbeam_channel::Receiver;
use media_path::MediaCounters;
use prometheus::IntCounter;
use publish::Published;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// A media stream is classified no earlier than this after its first
/// packet: the SDP that announced it may be handled by another worker, and
/// file replay synchronises workers once a second of capture time.
const MIN_CLASSIFY_AGE: Duration = Duration::from_millis(1500);

/// How often (capture time) tables are expired.
const EXPIRE_EVERY: Duration = Duration::from_secs(1);

pub struct Worker {
    exposures: ExposureCounters,
    /// Capture time of the frame being processed.
    last_ts: Duration,
    rtcp_seen: RtcpSeen,
    /// DTLS associations: server side and findings already reported.
    dtls_flows: DtlsFlows,
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
    decode_failures: DecodeFailures,
    frames: IntCounter,
    last_expire: Duration,
    /// What has been exported of the tables' statistics and sizes.
    published: Published,
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
            rtcp_seen: RtcpSeen::new(RTCP_SEEN_CAP),
            dtls_flows: DtlsFlows::new(DTLS_FLOWS_CAP),
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
            sctp: Self::sctp_table(&defrag_cfg),
            decode_failures: DecodeFailures::new(metrics),
            frames: metrics
                .worker_frames
                .with_label_values(&[&index.to_string()]),
            published: Published::new(metrics),
            metrics: metrics.clone(),
            last_expire: Duration::ZERO,
        }
    }

    /// SIP over SCTP is rare: a small, time-bounded table of partial
    /// messages with a byte budget.
    fn sctp_table(defrag_cfg: &DefragConfig) -> SctpReassembler {
        SctpReassembler::new(SctpConfig {
            timeout: defrag_cfg.timeout,
            ..SctpConfig::default()
        })
    }

    /// The thread body: process until every sender is gone, then publish.
    /// Handle messages until the channel closes; spent batches go back to
    /// `spares` for the capture thread to reuse.
    pub fn run(mut self, rx: Receiver<Msg>, spares: Option<Spares>) {
        for msg in rx.iter() {
            match msg {
                Msg::Batch(b) => {
                    for (ts, data) in b.iter() {
                        self.frame(b.link, ts, data);
                    }
                    self.frames.inc_by(b.frames.len() as u64);
                    self.media.flush();
                    if let Some(s) = &spares {
                        s.put(b);
                    }
                }
                Msg::Tick(now) => self.maintain(now),
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
        let dropped = (self.defrag.len() + self.tcp.len() + self.sctp.len()) as u64;
        self.published
            .evictions
            .add(Eviction::CaptureReset, dropped);
        self.defrag = Defrag::new(self.defrag_cfg);
        self.tcp = TcpReassembler::new(self.tcp_cfg);
        self.sctp = Self::sctp_table(&self.defrag_cfg);
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
        self.decode_failures.add(e.layer, e.reason, 1);
    }

    pub fn frame(&mut self, link: LinkType, ts: Duration, data: &[u8]) {
        self.last_ts = ts;
        match decode::decode(link, data) {
            Ok(Some(p)) => self.packet(p, ts),
            Ok(None) => {}
            Err(e) => self.decode_failure(e),
        }
        if ts >= self.last_expire + EXPIRE_EVERY {
            self.maintain(ts);
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
            } => self.udp(
                StreamKey::new(&p.net, src_port, dst_port).into(),
                payload,
                ts,
            ),
            L4::Tcp(seg) => self.tcp_segment(&p.net, &seg, ts),
            L4::Sctp {
                src_port,
                dst_port,
                chunks,
            } => self.sctp_chunks(&p.net, src_port, dst_port, chunks, ts),
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

    /// Expire tables and publish what the parsers counted. Called about once
    /// a second of capture time, and at the end.
    fn maintain(&mut self, now: Duration) {
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
        self.shared.linker.expire(now);
        self.shared.registrations.expire(now);
        self.shared
            .store
            .expire(std::time::SystemTime::UNIX_EPOCH + now);
        self.publish();
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

#[cfg(test)]
mod testing;

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    #[test]
    fn frames_route_by_transport_and_count_failures() {
        let m = Metrics::new();
        let mut w = worker(&m);
        let sip = b"OPTIONS sip:b@h SIP/2.0\r\nCall-ID: r1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
        w.frame(LinkType::Ethernet, secs(1), &udp(A, 5060, B, 5060, sip));
        w.frame(LinkType::Ethernet, secs(1), &tcp(A, 5070, B, 5060, 1, sip));
        // cut inside the IPv4 header
        let short = udp(A, 1, B, 2, b"x");
        w.frame(LinkType::Ethernet, secs(1), &short[..20]);
        w.finish();
        let s = r#"sipsentinel_sip_messages_total{kind="request",method="OPTIONS",status_class="""#;
        assert_eq!(value(&m, &format!(r#"{s},transport="udp"}}"#)), Some(1.0));
        assert_eq!(value(&m, &format!(r#"{s},transport="tcp"}}"#)), Some(1.0));
        assert!(
            m.render().contains("sipsentinel_decode_failures_total{"),
            "{}",
            m.render()
        );
    }

    #[test]
    fn a_reset_counts_capture_reset_evictions() {
        let m = Metrics::new();
        let mut w = worker(&m);
        // half a SIP message on TCP: the stream stays open
        w.frame(
            LinkType::Ethernet,
            secs(1),
            &tcp(
                A,
                5070,
                B,
                5060,
                1,
                b"OPTIONS sip:b@h SIP/2.0\r\nCall-ID: x\r\n",
            ),
        );
        assert_eq!(w.tcp.len(), 1);
        w.reset(secs(100));
        assert_eq!(w.tcp.len(), 0);
        assert_eq!(
            value(
                &m,
                r#"sipsentinel_flow_evictions_total{reason="capture_reset"}"#
            ),
            Some(1.0)
        );
        // nothing left to drop: no further count
        w.reset(secs(200));
        assert_eq!(
            value(
                &m,
                r#"sipsentinel_flow_evictions_total{reason="capture_reset"}"#
            ),
            Some(1.0)
        );
        assert_eq!(
            value(&m, r#"sipsentinel_flows_active{kind="tcp_streams"}"#),
            Some(0.0)
        );
    }

    #[test]
    fn maintain_runs_once_a_second_of_capture_time() {
        let m = Metrics::new();
        let mut w = worker(&m);
        w.frame(LinkType::Ethernet, secs(5), &udp(A, 1, B, 2, b"\x00"));
        assert_eq!(w.last_expire, secs(5));
        w.frame(
            LinkType::Ethernet,
            secs(5) + Duration::from_millis(500),
            &udp(A, 1, B, 2, b"\x00"),
        );
        assert_eq!(w.last_expire, secs(5));
        w.maintain(secs(7));
        assert_eq!(w.last_expire, secs(7));
        // Several capture threads (one per interface) tick each on its own
        // clock reading: a tick a little behind the last is not a new
        // timeline, only nothing to do.
        w.maintain(secs(7) - Duration::from_millis(300));
        assert_eq!(w.last_expire, secs(7));
        w.frame(
            LinkType::Ethernet,
            secs(6) + Duration::from_millis(900),
            &udp(A, 1, B, 2, b"\x00"),
        );
        assert_eq!(w.last_expire, secs(7));
        w.maintain(secs(8));
        assert_eq!(w.last_expire, secs(8));
    }
}
