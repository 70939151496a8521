//! Every metric the sensor exports, defined once (names, help, label sets).
//!
//! Owner: `metrics`. Invariants: names follow the metric contract in the
//! design (prefix `sipsentinel_`, counters end in `_total`; add, never
//! rename); every label value comes from a fixed set chosen by the code,
//! never from the traffic (label vocabularies are `label_enum!` enums).
//! Hot paths hold resolved handles (the pipeline's `counters`) so no label
//! lookup happens per packet. Imports no domain module: a label whose
//! values `sip`, `media`, `decode`, `exposure` or `cdr` own is named by a
//! [`Vocabulary`] in the contract, resolved by `pipeline::metric_contract`.

use crate::label::{Eviction, FlowKind, MessageKind, SessionLayer, StatusClass, TcpEvent};
use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use std::sync::Arc;

const NS: &str = "sipsentinel";

crate::label_enum! {
    /// `pipeline_dropped_total{reason}` values.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum DropReason {
        QueueFull = "queue_full",
        DefragOverflow = "defrag_overflow",
        StreamOverflow = "stream_overflow",
        FlowTableFull = "flow_table_full",
        /// Sent to a worker thread that has died (panicked): see `health`.
        WorkerDead = "worker_dead",
    }
}

/// A vocabulary owned by a domain module (`sip`, `media`, `decode`,
/// `exposure`, `cdr`): `metrics` imports none of them (the design's
/// layering), so the contract names the vocabulary and
/// `pipeline::metric_contract` supplies its values from the enum's `ALL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vocabulary {
    Protection,
    Transport,
    Method,
    DecodeLayer,
    DecodeReason,
    SipParseError,
    CallOutcome,
    RegistrationOutcome,
    ExposureKind,
    Severity,
    ExposureField,
    CdrClass,
    /// `zone_sessions_total{protection}`: the media protections, plus `tls`
    /// for signalling (`cleartext` is shared by both layers).
    SessionProtection,
}

/// Where a label's values come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Values {
    /// A fixed set, every value listed.
    Fixed(&'static [&'static str]),
    /// A fixed set owned by a domain module (see [`Vocabulary`]).
    Domain(Vocabulary),
    /// Chosen by the configuration or the process, bounded there: capture
    /// source names, worker indexes, zone names, thread names, the version.
    Open,
}

/// `counter`, `gauge` or `histogram`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
    Histogram,
}

/// One metric family of the contract, as registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricSpec {
    /// Full name, with the `sipsentinel_` prefix.
    pub name: String,
    pub kind: MetricKind,
    pub help: &'static str,
    /// Label names with where their values come from, in definition order.
    pub labels: Vec<(&'static str, Values)>,
}

impl MetricSpec {
    /// The values of `label` when they are a listed fixed set.
    pub fn values(&self, label: &str) -> Option<&'static [&'static str]> {
        self.labels.iter().find_map(|(l, v)| match v {
            Values::Fixed(vals) if *l == label => Some(*vals),
            _ => None,
        })
    }
}

type Labels = &'static [(&'static str, Values)];

const SOURCE: Labels = &[("source", Values::Open)];
const PROTECTION: Labels = &[("protection", Values::Domain(Vocabulary::Protection))];

/// All metric families. Cloning is cheap (handles are reference counted).
#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    /// What an on-path observer could log about the calls (not a metric
    /// family: counts per CDR field, read by the audit report and
    /// `/api/exposures`).
    pub observer_log: Arc<crate::observer::cdr_view::ObserverLog>,
    /// The families as registered, for [`Metrics::contract`].
    spec: Arc<Vec<MetricSpec>>,
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
    pub findings_log_dropped: IntCounter,
    pub zone_sessions: IntCounterVec,
    pub registrations_active: IntGauge,
    pub dtmf_digits: IntCounterVec,
}

/// The registry being built and the contract it records.
struct Defs<'r> {
    reg: &'r Registry,
    spec: Vec<MetricSpec>,
}

impl Defs<'_> {
    fn record(&mut self, name: &str, kind: MetricKind, help: &'static str, labels: Labels) {
        self.spec.push(MetricSpec {
            name: format!("{NS}_{name}"),
            kind,
            help,
            labels: labels.to_vec(),
        });
    }

    fn counter(&mut self, name: &str, help: &'static str, labels: Labels) -> IntCounterVec {
        self.record(name, MetricKind::Counter, help, labels);
        let names: Vec<&str> = labels.iter().map(|(l, _)| *l).collect();
        let c = IntCounterVec::new(Opts::new(name, help).namespace(NS), &names)
            .expect("metric definition is valid");
        self.reg
            .register(Box::new(c.clone()))
            .expect("metric registered once");
        c
    }

    fn gauge(&mut self, name: &str, help: &'static str, labels: Labels) -> IntGaugeVec {
        self.record(name, MetricKind::Gauge, help, labels);
        let names: Vec<&str> = labels.iter().map(|(l, _)| *l).collect();
        let g = IntGaugeVec::new(Opts::new(name, help).namespace(NS), &names)
            .expect("metric definition is valid");
        self.reg
            .register(Box::new(g.clone()))
            .expect("metric registered once");
        g
    }

    fn plain_counter(&mut self, name: &str, help: &'static str) -> IntCounter {
        self.record(name, MetricKind::Counter, help, &[]);
        let c = IntCounter::with_opts(Opts::new(name, help).namespace(NS))
            .expect("metric definition is valid");
        self.reg
            .register(Box::new(c.clone()))
            .expect("metric registered once");
        c
    }

    fn plain_gauge(&mut self, name: &str, help: &'static str) -> IntGauge {
        self.record(name, MetricKind::Gauge, help, &[]);
        let g = IntGauge::with_opts(Opts::new(name, help).namespace(NS))
            .expect("metric definition is valid");
        self.reg
            .register(Box::new(g.clone()))
            .expect("metric registered once");
        g
    }

    fn histogram(&mut self, name: &str, help: &'static str, buckets: Vec<f64>) -> Histogram {
        self.record(name, MetricKind::Histogram, help, &[]);
        let h = Histogram::with_opts(
            HistogramOpts::new(name, help)
                .namespace(NS)
                .buckets(buckets),
        )
        .expect("metric definition is valid");
        self.reg
            .register(Box::new(h.clone()))
            .expect("metric registered once");
        h
    }
}

impl Metrics {
    /// Build the registry. The `expect`s can only fire on a programming error
    /// in the definitions below (duplicate or invalid names), which the unit
    /// test catches; they never depend on input.
    pub fn new() -> Metrics {
        let reg = Registry::new();
        let mut d = Defs {
            reg: &reg,
            spec: Vec::new(),
        };
        let build_info = d.gauge(
            "build_info",
            "Build information of the running sensor; always 1.",
            &[("version", Values::Open)],
        );
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        let capture_packets = d.counter(
            "capture_packets_total",
            "Frames read from the capture source.",
            SOURCE,
        );
        let capture_bytes = d.counter(
            "capture_bytes_total",
            "Bytes of frames read from the capture source (captured length).",
            SOURCE,
        );
        let capture_kernel_dropped = d.counter(
            "capture_kernel_dropped_total",
            "Frames dropped by the kernel because the capture buffer was full (pcap_stats ps_drop).",
            SOURCE,
        );
        let capture_interface_dropped = d.counter(
            "capture_interface_dropped_total",
            "Frames dropped by the interface or driver (pcap_stats ps_ifdrop).",
            SOURCE,
        );
        let capture_up = d.gauge(
            "capture_up",
            "1 while the capture source is open and delivering, 0 while it is down and being reopened.",
            SOURCE,
        );
        let capture_reopens = d.counter(
            "capture_reopen_attempts_total",
            "Attempts to reopen a capture source that failed or disappeared.",
            SOURCE,
        );
        let pipeline_dropped = d.counter(
            "pipeline_dropped_total",
            "Frames or data dropped inside the sensor, by reason.",
            &[("reason", Values::Fixed(&DropReason::LABELS))],
        );
        for r in DropReason::ALL {
            pipeline_dropped.with_label_values(&[r.as_str()]);
        }
        let decode_failures = d.counter(
            "decode_failures_total",
            "Frames whose decoding stopped early, by the layer where it stopped and why.",
            &[
                ("layer", Values::Domain(Vocabulary::DecodeLayer)),
                ("reason", Values::Domain(Vocabulary::DecodeReason)),
            ],
        );
        let ip_reassembled = d.plain_counter(
            "ip_datagrams_reassembled_total",
            "IP datagrams reassembled from fragments.",
        );
        let tcp_segments = d.counter(
            "tcp_segments_total",
            "TCP segments seen by stream reassembly, by what happened to them.",
            &[("event", Values::Fixed(&TcpEvent::LABELS))],
        );
        let sip_messages = d.counter(
            "sip_messages_total",
            "SIP messages seen, by kind, method (requests), status class (responses) and transport.",
            &[
                ("kind", Values::Fixed(&MessageKind::LABELS)),
                ("method", Values::Domain(Vocabulary::Method)),
                ("status_class", Values::Fixed(&StatusClass::LABELS)),
                ("transport", Values::Domain(Vocabulary::Transport)),
            ],
        );
        let sip_parse_errors = d.counter(
            "sip_parse_errors_total",
            "SIP messages that could not be parsed, by transport and reason.",
            &[
                ("transport", Values::Domain(Vocabulary::Transport)),
                ("reason", Values::Domain(Vocabulary::SipParseError)),
            ],
        );
        let sip_tls_streams = d.plain_counter(
            "sip_tls_streams_total",
            "TCP stream directions recognised as TLS where SIP is expected (transport tls, not parsed).",
        );
        let calls = d.counter(
            "calls_total",
            "Calls ended, by outcome.",
            &[("outcome", Values::Domain(Vocabulary::CallOutcome))],
        );
        let calls_active = d.plain_gauge("calls_active", "Calls (INVITE dialogs) in progress.");
        let call_duration = d.histogram(
            "call_duration_seconds",
            "Duration of answered calls, from 2xx to BYE.",
            vec![
                1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
            ],
        );
        let registrations = d.counter(
            "sip_registrations_total",
            "Final responses to REGISTER, by outcome (success 2xx, challenged 401/407, failed other).",
            &[(
                "outcome",
                Values::Domain(Vocabulary::RegistrationOutcome),
            )],
        );
        let stream_loss = d.histogram(
            "media_stream_loss_ratio",
            "Packet loss of ended RTP streams (RFC 3550 A.3: lost / expected).",
            vec![0.0, 0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5],
        );
        let stream_jitter = d.histogram(
            "media_stream_jitter_seconds",
            "Interarrival jitter of ended RTP streams at their end (RFC 3550 A.8), where the clock rate is known.",
            vec![0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2],
        );
        let media_streams = d.counter(
            "media_streams_total",
            "Media streams seen, counted once each, by protection.",
            PROTECTION,
        );
        let media_streams_active = d.gauge(
            "media_streams_active",
            "Media streams currently tracked, by protection.",
            PROTECTION,
        );
        let media_packets = d.counter(
            "media_packets_total",
            "RTP/SRTP packets, by protection.",
            PROTECTION,
        );
        let media_bytes = d.counter(
            "media_bytes_total",
            "RTP/SRTP bytes (UDP payload), by protection.",
            PROTECTION,
        );
        let rtcp_packets = d.counter(
            "rtcp_packets_total",
            "RTCP/SRTCP packets, by protection.",
            PROTECTION,
        );
        let exposures = d.counter(
            "exposures_total",
            "Privacy exposures observed on the wire, by kind, severity, transport, field and sender zone.",
            &[
                ("kind", Values::Domain(Vocabulary::ExposureKind)),
                ("severity", Values::Domain(Vocabulary::Severity)),
                ("transport", Values::Domain(Vocabulary::Transport)),
                ("field", Values::Domain(Vocabulary::ExposureField)),
                ("zone", Values::Open),
            ],
        );
        let flows_active = d.gauge(
            "flows_active",
            "Entries in the sensor's bounded state tables, by kind.",
            &[("kind", Values::Fixed(&FlowKind::LABELS))],
        );
        let flow_evictions = d.counter(
            "flow_evictions_total",
            "State table entries removed before their natural end, by reason.",
            &[("reason", Values::Fixed(&Eviction::LABELS))],
        );
        let worker_frames = d.counter(
            "worker_frames_total",
            "Frames processed, by worker thread index.",
            &[("worker", Values::Open)],
        );
        let thread_up = d.gauge(
            "thread_up",
            "1 while a pipeline thread (capture, worker_N) is running and making progress, 0 when it is dead, stalled or ended (see /healthz).",
            &[("thread", Values::Open)],
        );
        let findings_log_dropped = d.plain_counter(
            "findings_log_dropped_total",
            "New findings not written to the findings log: its queue was full or the file could not be written.",
        );
        let zone_sessions = d.counter(
            "zone_sessions_total",
            "Dialogs (layer signaling, protection tls or cleartext) and media streams (layer media, the media protection) by caller's and callee's zone.",
            &[
                ("src_zone", Values::Open),
                ("dst_zone", Values::Open),
                ("layer", Values::Fixed(&SessionLayer::LABELS)),
                ("protection", Values::Domain(Vocabulary::SessionProtection)),
            ],
        );
        let registrations_active = d.plain_gauge(
            "registrations_active",
            "Bindings (address of record and contact) currently registered, as seen in cleartext REGISTER transactions.",
        );
        let dtmf_digits = d.counter(
            "dtmf_digits_total",
            "DTMF key presses an on-path observer could count (never which keys), by where they were seen.",
            &[(
                "field",
                Values::Fixed(&["sip_info", "rtp_event", "rtp_event_timing"]),
            )],
        );
        let spec = Arc::new(d.spec);
        Metrics {
            registry: reg,
            spec,
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
            findings_log_dropped,
            zone_sessions,
            registrations_active,
            dtmf_digits,
            observer_log: Arc::default(),
        }
    }

    /// The sensor's metric families as registered (with the CDR families,
    /// which `[cdr]` adds): names, kinds, help and label sets. Labels whose
    /// values a domain module owns are [`Values::Domain`];
    /// `pipeline::metric_contract` resolves them.
    pub fn contract() -> Vec<MetricSpec> {
        let mut spec = Metrics::new().spec.as_ref().clone();
        spec.extend(CdrMetrics::contract());
        spec
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

    /// `flow_evictions_total{reason}`.
    pub fn evicted(&self, reason: Eviction) -> IntCounter {
        self.flow_evictions.with_label_values(&[reason.as_str()])
    }

    /// `flows_active{kind}`.
    pub fn flows(&self, kind: FlowKind) -> IntGauge {
        self.flows_active.with_label_values(&[kind.as_str()])
    }

    /// `tcp_segments_total{event}`.
    pub fn tcp_event(&self, event: TcpEvent) -> IntCounter {
        self.tcp_segments.with_label_values(&[event.as_str()])
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
        CdrMetrics::define(&mut Defs {
            reg,
            spec: Vec::new(),
        })
    }

    /// The CDR families of the contract.
    pub fn contract() -> Vec<MetricSpec> {
        let reg = Registry::new();
        let mut d = Defs {
            reg: &reg,
            spec: Vec::new(),
        };
        CdrMetrics::define(&mut d);
        d.spec
    }

    fn define(d: &mut Defs<'_>) -> CdrMetrics {
        CdrMetrics {
            records: d.plain_gauge(
                "cdr_records",
                "Call detail records in the configured CDR store (all audited tables).",
            ),
            oldest_record_age: d.plain_gauge(
                "cdr_oldest_record_age_seconds",
                "Age of the oldest dated call detail record in the CDR store.",
            ),
            beyond_retention: d.plain_gauge(
                "cdr_records_beyond_retention",
                "Call detail records older than the configured retention (keep_days).",
            ),
            columns: d.gauge(
                "cdr_columns",
                "Columns of the CDR store by privacy class (identity, network, timing, content, linkage, other).",
                &[("class", Values::Domain(Vocabulary::CdrClass))],
            ),
            retention: d.plain_gauge(
                "cdr_retention_seconds",
                "The configured CDR retention (keep_days) in seconds, for alerting on the oldest record's age.",
            ),
            check_success: d.plain_gauge(
                "cdr_last_check_success",
                "1 if the last check of the CDR store succeeded, 0 if it failed (see the log).",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_builds_and_renders_contract_names() {
        let m = Metrics::new();
        m.capture_packets.with_label_values(&["file"]).inc();
        m.evicted(Eviction::TcpIdle).inc();
        m.flows(FlowKind::MediaStreams).set(2);
        m.tcp_event(TcpEvent::Gap).inc();
        let text = m.render();
        assert!(text.contains("sipsentinel_build_info{version="));
        assert!(text.contains("sipsentinel_capture_packets_total{source=\"file\"} 1"));
        assert!(text.contains("sipsentinel_pipeline_dropped_total{reason=\"queue_full\"} 0"));
        assert!(text.contains("sipsentinel_flow_evictions_total{reason=\"tcp_idle\"} 1"));
        assert!(text.contains("sipsentinel_flows_active{kind=\"media_streams\"} 2"));
        assert!(text.contains("sipsentinel_tcp_segments_total{event=\"gap\"} 1"));
    }

    #[test]
    fn contract_is_what_is_registered() {
        let spec = Metrics::contract();
        let names: std::collections::HashSet<&str> = spec.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names.len(), spec.len(), "each family once");
        for s in &spec {
            assert!(s.name.starts_with("sipsentinel_"), "{}", s.name);
            if s.kind == MetricKind::Counter {
                assert!(s.name.ends_with("_total"), "{}", s.name);
            }
        }
        let m = Metrics::new();
        // every family with a series renders with the contract's name, type
        // and help
        let text = m.render();
        for s in spec.iter().filter(|s| s.name.ends_with("build_info")) {
            assert!(text.contains(&format!("# HELP {} {}", s.name, s.help)));
            assert!(text.contains(&format!("# TYPE {} gauge", s.name)));
        }
        let evictions = spec
            .iter()
            .find(|s| s.name == "sipsentinel_flow_evictions_total")
            .expect("in the contract");
        assert_eq!(evictions.values("reason"), Some(&Eviction::LABELS[..]));
        let cdr = spec
            .iter()
            .find(|s| s.name == "sipsentinel_cdr_columns")
            .expect("cdr families are in the contract");
        assert_eq!(cdr.labels[0].0, "class");
    }
}
