//! Every metric the sensor exports, defined once (names, help, label sets).
//!
//! Owner: `metrics`. Invariants: names follow the metric contract in the
//! design (prefix `sipsentinel_`, counters end in `_total`; add, never
//! rename); every label value comes from a fixed set chosen by the code,
//! never from the traffic. Hot paths hold resolved handles (see
//! [`SipCounters`]) so no label lookup happens per packet.

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

const NS: &str = "sipsentinel";

/// `pipeline_dropped_total{reason}` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    QueueFull,
    DefragOverflow,
    StreamOverflow,
    FlowTableFull,
    /// Sent to a worker thread that has died (panicked): see `health`.
    WorkerDead,
}

impl DropReason {
    pub const ALL: [DropReason; 5] = [
        DropReason::QueueFull,
        DropReason::DefragOverflow,
        DropReason::StreamOverflow,
        DropReason::FlowTableFull,
        DropReason::WorkerDead,
    ];
    pub fn as_str(&self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::DefragOverflow => "defrag_overflow",
            DropReason::StreamOverflow => "stream_overflow",
            DropReason::FlowTableFull => "flow_table_full",
            DropReason::WorkerDead => "worker_dead",
        }
    }
}

/// All metric families. Cloning is cheap (handles are reference counted).
#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    pub build_info: IntGaugeVec,
    pub capture_packets: IntCounterVec,
    pub capture_bytes: IntCounterVec,
    pub capture_kernel_dropped: IntCounterVec,
    pub capture_interface_dropped: IntCounterVec,
    pub capture_up: IntGaugeVec,
    pub capture_reopens: IntCounterVec,
    pub pipeline_dropped: IntCounterVec,
    pub decode_failures: IntCounterVec,
    pub ip_reassembled: IntCounter,
    pub tcp_segments: IntCounterVec,
    pub sip_messages: IntCounterVec,
    pub sip_parse_errors: IntCounterVec,
    pub sip_tls_streams: IntCounter,
    pub calls: IntCounterVec,
    pub calls_active: IntGauge,
    pub call_duration: Histogram,
    pub registrations: IntCounterVec,
    pub stream_loss: Histogram,
    pub stream_jitter: Histogram,
    pub media_streams: IntCounterVec,
    pub media_streams_active: IntGaugeVec,
    pub media_packets: IntCounterVec,
    pub media_bytes: IntCounterVec,
    pub rtcp_packets: IntCounterVec,
    pub exposures: IntCounterVec,
    pub flows_active: IntGaugeVec,
    pub flow_evictions: IntCounterVec,
    pub worker_frames: IntCounterVec,
    pub thread_up: IntGaugeVec,
}

fn counter(reg: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help).namespace(NS), labels)
        .expect("metric definition is valid");
    reg.register(Box::new(c.clone()))
        .expect("metric registered once");
    c
}

fn gauge(reg: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help).namespace(NS), labels)
        .expect("metric definition is valid");
    reg.register(Box::new(g.clone()))
        .expect("metric registered once");
    g
}

impl Metrics {
    /// Build the registry. The `expect`s can only fire on a programming error
    /// in the definitions below (duplicate or invalid names), which the unit
    /// test catches; they never depend on input.
    pub fn new() -> Metrics {
        let reg = Registry::new();
        let build_info = gauge(
            &reg,
            "build_info",
            "Build information of the running sensor; always 1.",
            &["version"],
        );
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        let capture_packets = counter(
            &reg,
            "capture_packets_total",
            "Frames read from the capture source.",
            &["source"],
        );
        let capture_bytes = counter(
            &reg,
            "capture_bytes_total",
            "Bytes of frames read from the capture source (captured length).",
            &["source"],
        );
        let capture_kernel_dropped = counter(
            &reg,
            "capture_kernel_dropped_total",
            "Frames dropped by the kernel because the capture buffer was full (pcap_stats ps_drop).",
            &["source"],
        );
        let capture_interface_dropped = counter(
            &reg,
            "capture_interface_dropped_total",
            "Frames dropped by the interface or driver (pcap_stats ps_ifdrop).",
            &["source"],
        );
        let capture_up = gauge(
            &reg,
            "capture_up",
            "1 while the capture source is open and delivering, 0 while it is down and being reopened.",
            &["source"],
        );
        let capture_reopens = counter(
            &reg,
            "capture_reopen_attempts_total",
            "Attempts to reopen a capture source that failed or disappeared.",
            &["source"],
        );
        let pipeline_dropped = counter(
            &reg,
            "pipeline_dropped_total",
            "Frames or data dropped inside the sensor, by reason.",
            &["reason"],
        );
        for r in DropReason::ALL {
            pipeline_dropped.with_label_values(&[r.as_str()]);
        }
        let decode_failures = counter(
            &reg,
            "decode_failures_total",
            "Frames whose decoding stopped early, by the layer where it stopped and why.",
            &["layer", "reason"],
        );
        let ip_reassembled = IntCounter::with_opts(
            Opts::new(
                "ip_datagrams_reassembled_total",
                "IP datagrams reassembled from fragments.",
            )
            .namespace(NS),
        )
        .expect("metric definition is valid");
        reg.register(Box::new(ip_reassembled.clone()))
            .expect("metric registered once");
        let tcp_segments = counter(
            &reg,
            "tcp_segments_total",
            "TCP segments seen by stream reassembly, by what happened to them.",
            &["event"],
        );
        let sip_messages = counter(
            &reg,
            "sip_messages_total",
            "SIP messages seen, by kind, method (requests), status class (responses) and transport.",
            &["kind", "method", "status_class", "transport"],
        );
        let sip_parse_errors = counter(
            &reg,
            "sip_parse_errors_total",
            "SIP messages that could not be parsed, by transport and reason.",
            &["transport", "reason"],
        );
        let sip_tls_streams = IntCounter::with_opts(
            Opts::new(
                "sip_tls_streams_total",
                "TCP stream directions recognised as TLS where SIP is expected (transport tls, not parsed).",
            )
            .namespace(NS),
        )
        .expect("metric definition is valid");
        reg.register(Box::new(sip_tls_streams.clone()))
            .expect("metric registered once");
        let calls = counter(
            &reg,
            "calls_total",
            "Calls ended, by outcome.",
            &["outcome"],
        );
        let calls_active = IntGauge::with_opts(
            Opts::new("calls_active", "Calls (INVITE dialogs) in progress.").namespace(NS),
        )
        .expect("metric definition is valid");
        reg.register(Box::new(calls_active.clone()))
            .expect("metric registered once");
        let call_duration = Histogram::with_opts(
            HistogramOpts::new(
                "call_duration_seconds",
                "Duration of answered calls, from 2xx to BYE.",
            )
            .namespace(NS)
            .buckets(vec![
                1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
            ]),
        )
        .expect("metric definition is valid");
        reg.register(Box::new(call_duration.clone()))
            .expect("metric registered once");
        let registrations = counter(
            &reg,
            "sip_registrations_total",
            "Final responses to REGISTER, by outcome (success 2xx, challenged 401/407, failed other).",
            &["outcome"],
        );
        let stream_loss = Histogram::with_opts(
            HistogramOpts::new(
                "media_stream_loss_ratio",
                "Packet loss of ended RTP streams (RFC 3550 A.3: lost / expected).",
            )
            .namespace(NS)
            .buckets(vec![0.0, 0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5]),
        )
        .expect("metric definition is valid");
        reg.register(Box::new(stream_loss.clone()))
            .expect("metric registered once");
        let stream_jitter = Histogram::with_opts(
            HistogramOpts::new(
                "media_stream_jitter_seconds",
                "Interarrival jitter of ended RTP streams at their end (RFC 3550 A.8), where the clock rate is known.",
            )
            .namespace(NS)
            .buckets(vec![0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2]),
        )
        .expect("metric definition is valid");
        reg.register(Box::new(stream_jitter.clone()))
            .expect("metric registered once");
        let media_streams = counter(
            &reg,
            "media_streams_total",
            "Media streams seen, counted once each, by protection.",
            &["protection"],
        );
        let media_streams_active = gauge(
            &reg,
            "media_streams_active",
            "Media streams currently tracked, by protection.",
            &["protection"],
        );
        let media_packets = counter(
            &reg,
            "media_packets_total",
            "RTP/SRTP packets, by protection.",
            &["protection"],
        );
        let media_bytes = counter(
            &reg,
            "media_bytes_total",
            "RTP/SRTP bytes (UDP payload), by protection.",
            &["protection"],
        );
        let rtcp_packets = counter(
            &reg,
            "rtcp_packets_total",
            "RTCP/SRTCP packets, by protection.",
            &["protection"],
        );
        let exposures = counter(
            &reg,
            "exposures_total",
            "Privacy exposures observed on the wire, by kind, severity, transport, field and sender zone.",
            &["kind", "severity", "transport", "field", "zone"],
        );
        let flows_active = gauge(
            &reg,
            "flows_active",
            "Entries in the sensor's bounded state tables, by kind.",
            &["kind"],
        );
        let flow_evictions = counter(
            &reg,
            "flow_evictions_total",
            "State table entries removed before their natural end, by reason.",
            &["reason"],
        );
        let worker_frames = counter(
            &reg,
            "worker_frames_total",
            "Frames processed, by worker thread index.",
            &["worker"],
        );
        let thread_up = gauge(
            &reg,
            "thread_up",
            "1 while a pipeline thread (capture, worker_N) is running and making progress, 0 when it is dead, stalled or ended (see /healthz).",
            &["thread"],
        );
        Metrics {
            registry: reg,
            build_info,
            capture_packets,
            capture_bytes,
            capture_kernel_dropped,
            capture_interface_dropped,
            capture_up,
            capture_reopens,
            pipeline_dropped,
            decode_failures,
            ip_reassembled,
            tcp_segments,
            sip_messages,
            sip_parse_errors,
            sip_tls_streams,
            calls,
            calls_active,
            call_duration,
            registrations,
            stream_loss,
            stream_jitter,
            media_streams,
            media_streams_active,
            media_packets,
            media_bytes,
            rtcp_packets,
            exposures,
            flows_active,
            flow_evictions,
            worker_frames,
            thread_up,
        }
    }

    /// Prometheus text exposition format (what `/metrics` serves).
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        // Encoding into a Vec cannot fail for IO reasons; a failure would be a
        // malformed family, which `Registry` prevents.
        if TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .is_err()
        {
            return String::new();
        }
        String::from_utf8(buf).unwrap_or_default()
    }

    pub fn dropped(&self, reason: DropReason) -> IntCounter {
        self.pipeline_dropped.with_label_values(&[reason.as_str()])
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// The CDR store families (issue #18): registered into the sensor's
/// registry only when `[cdr]` is configured, and into a registry of their
/// own by `cdr audit --format prometheus`, so both print the same families.
/// Values are counts and ages of the store; the only label is the column
/// class, from the fixed set in `cdr::Class`.
#[derive(Clone)]
pub struct CdrMetrics {
    pub records: IntGauge,
    pub oldest_record_age: IntGauge,
    pub beyond_retention: IntGauge,
    pub columns: IntGaugeVec,
    pub retention: IntGauge,
    pub check_success: IntGauge,
}

impl CdrMetrics {
    pub fn register(reg: &Registry) -> CdrMetrics {
        let plain = |name: &str, help: &str| {
            let g = IntGauge::with_opts(Opts::new(name, help).namespace(NS))
                .expect("metric definition is valid");
            reg.register(Box::new(g.clone()))
                .expect("metric registered once");
            g
        };
        CdrMetrics {
            records: plain(
                "cdr_records",
                "Call detail records in the configured CDR store (all audited tables).",
            ),
            oldest_record_age: plain(
                "cdr_oldest_record_age_seconds",
                "Age of the oldest dated call detail record in the CDR store.",
            ),
            beyond_retention: plain(
                "cdr_records_beyond_retention",
                "Call detail records older than the configured retention (keep_days).",
            ),
            columns: gauge(
                reg,
                "cdr_columns",
                "Columns of the CDR store by privacy class (identity, network, timing, content, linkage, other).",
                &["class"],
            ),
            retention: plain(
                "cdr_retention_seconds",
                "The configured CDR retention (keep_days) in seconds, for alerting on the oldest record's age.",
            ),
            check_success: plain(
                "cdr_last_check_success",
                "1 if the last check of the CDR store succeeded, 0 if it failed (see the log).",
            ),
        }
    }
}

/// Number of response status classes (`1xx`..`6xx`, `other`).
const STATUS_CLASSES: usize = 7;
const STATUS_LABELS: [&str; STATUS_CLASSES] = ["1xx", "2xx", "3xx", "4xx", "5xx", "6xx", "other"];

fn status_index(code: u16) -> usize {
    match code {
        100..=699 => (code / 100 - 1) as usize,
        _ => 6,
    }
}

/// Resolved `sip_messages_total` handles for one worker. Each label
/// combination is looked up once, on its first use, then cached: no lookup
/// per message and no zero-valued series for combinations never seen.
pub struct SipCounters {
    vec: IntCounterVec,
    errors: IntCounterVec,
    req: Vec<Option<IntCounter>>,
    resp: Vec<Option<IntCounter>>,
}

impl SipCounters {
    pub fn new(m: &Metrics) -> SipCounters {
        let t = crate::sip::Transport::ALL.len();
        SipCounters {
            vec: m.sip_messages.clone(),
            errors: m.sip_parse_errors.clone(),
            req: vec![None; crate::sip::Method::ALL.len() * t],
            resp: vec![None; STATUS_CLASSES * crate::sip::Method::ALL.len() * t],
        }
    }

    pub fn request(&mut self, method: crate::sip::Method, transport: crate::sip::Transport) {
        let t = crate::sip::Transport::ALL.len();
        let i = method.index() * t + transport.index();
        if let Some(slot) = self.req.get_mut(i) {
            slot.get_or_insert_with(|| {
                self.vec
                    .with_label_values(&["request", method.as_str(), "", transport.as_str()])
            })
            .inc();
        }
    }

    /// A response, labelled with the method of its CSeq (what it answers).
    pub fn response(
        &mut self,
        code: u16,
        method: crate::sip::Method,
        transport: crate::sip::Transport,
    ) {
        let t = crate::sip::Transport::ALL.len();
        let s = status_index(code);
        let i = (s * crate::sip::Method::ALL.len() + method.index()) * t + transport.index();
        if let Some(slot) = self.resp.get_mut(i) {
            slot.get_or_insert_with(|| {
                self.vec.with_label_values(&[
                    "response",
                    method.as_str(),
                    STATUS_LABELS[s],
                    transport.as_str(),
                ])
            })
            .inc();
        }
    }

    /// Parse errors are rare; a label lookup each is fine.
    pub fn parse_error(&mut self, transport: crate::sip::Transport, reason: &'static str) {
        self.errors
            .with_label_values(&[transport.as_str(), reason])
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_builds_and_renders_contract_names() {
        let m = Metrics::new();
        m.capture_packets.with_label_values(&["file"]).inc();
        let mut s = SipCounters::new(&m);
        s.request(crate::sip::Method::Invite, crate::sip::Transport::Udp);
        s.response(486, crate::sip::Method::Invite, crate::sip::Transport::Tcp);
        s.response(42, crate::sip::Method::Unknown, crate::sip::Transport::Tcp);
        let text = m.render();
        assert!(text.contains("sipsentinel_build_info{version="));
        assert!(text.contains("sipsentinel_capture_packets_total{source=\"file\"} 1"));
        assert!(text.contains("sipsentinel_pipeline_dropped_total{reason=\"queue_full\"} 0"));
        assert!(text.contains(
            "sipsentinel_sip_messages_total{kind=\"response\",method=\"INVITE\",status_class=\"4xx\",transport=\"tcp\"} 1"
        ));
        assert!(text.contains("status_class=\"other\""));
    }

    #[test]
    fn status_classes() {
        assert_eq!(status_index(100), 0);
        assert_eq!(status_index(199), 0);
        assert_eq!(status_index(699), 5);
        assert_eq!(status_index(700), 6);
        assert_eq!(status_index(99), 6);
    }
}

/// Transport label values of `exposures_total`; anything else is `other`.
const EXPOSURE_TRANSPORTS: [&str; 7] = ["udp", "tcp", "tls", "ws", "wss", "sctp", "other"];
/// Distinct zone label values one worker resolves; later ones are `other`.
/// Zone names come from the configuration (bounded there), so this is
/// only a guard.
const MAX_EXPOSURE_ZONES: usize = 64;

/// Resolved `exposures_total{kind,severity,transport,field,zone}` handles
/// for one worker. Each (kind, field, transport, zone) combination is
/// looked up once, on first use, then cached; the severity follows from
/// the kind. Transport and zone strings are mapped to small indexes (the
/// zone list is learnt as zones are seen), so no label lookup happens per
/// finding and no series exists for combinations never seen.
pub struct ExposureCounters {
    vec: IntCounterVec,
    zones: Vec<String>,
    cache: ahash::AHashMap<(u8, u8, u8, u8), IntCounter>,
}

impl ExposureCounters {
    pub fn new(m: &Metrics) -> ExposureCounters {
        ExposureCounters {
            vec: m.exposures.clone(),
            zones: Vec::new(),
            cache: ahash::AHashMap::new(),
        }
    }

    fn zone_index(&mut self, zone: &str) -> usize {
        if let Some(i) = self.zones.iter().position(|z| z == zone) {
            return i;
        }
        if self.zones.len() < MAX_EXPOSURE_ZONES {
            self.zones.push(zone.to_string());
            self.zones.len() - 1
        } else {
            MAX_EXPOSURE_ZONES
        }
    }

    /// Count one exposure. `transport` is a `Transport::as_str` value,
    /// `zone` a name from `exposure::Zones::zone_of`.
    pub fn inc(
        &mut self,
        kind: crate::exposure::Kind,
        field: crate::exposure::Field,
        transport: &str,
        zone: &str,
    ) {
        let t = EXPOSURE_TRANSPORTS
            .iter()
            .position(|x| *x == transport)
            .unwrap_or(EXPOSURE_TRANSPORTS.len() - 1);
        let z = self.zone_index(zone);
        // Every index fits a u8: 15 kinds, < 256 fields, 7 transports, 65 zones.
        let key = (kind.index() as u8, field.index() as u8, t as u8, z as u8);
        let vec = &self.vec;
        let zone_label = self.zones.get(z).map_or("other", String::as_str);
        self.cache
            .entry(key)
            .or_insert_with(|| {
                vec.with_label_values(&[
                    kind.as_str(),
                    kind.severity().as_str(),
                    EXPOSURE_TRANSPORTS[t],
                    field.as_str(),
                    zone_label,
                ])
            })
            .inc();
    }
}

#[cfg(test)]
mod exposure_tests {
    use super::*;
    use crate::exposure::{Field, Kind};

    #[test]
    fn exposure_counters_resolve_once_and_label_correctly() {
        let m = Metrics::new();
        let mut c = ExposureCounters::new(&m);
        c.inc(Kind::SrtpKeyExposed, Field::SdpCrypto, "udp", "lan");
        c.inc(Kind::SrtpKeyExposed, Field::SdpCrypto, "udp", "lan");
        c.inc(Kind::PrivateAddress, Field::Via, "bogus", "unknown");
        assert_eq!(c.cache.len(), 2);
        let text = m.render();
        assert!(text.contains(
            "sipsentinel_exposures_total{field=\"sdp_crypto\",kind=\"srtp_key_exposed\",severity=\"critical\",transport=\"udp\",zone=\"lan\"} 2"
        ), "{text}");
        assert!(text.contains(
            "sipsentinel_exposures_total{field=\"via\",kind=\"private_address\",severity=\"medium\",transport=\"other\",zone=\"unknown\"} 1"
        ), "{text}");
        for i in 0..100 {
            c.inc(Kind::CustomHeader, Field::XHeader, "tcp", &format!("z{i}"));
        }
        assert!(m.render().contains("zone=\"other\""));
        assert!(c.zones.len() <= MAX_EXPOSURE_ZONES);
    }
}
