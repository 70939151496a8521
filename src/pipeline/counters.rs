//! Resolved metric handles for one worker, per domain vocabulary.
//!
//! Owner: `pipeline` (the glue is the only place that knows both the
//! metric families and the domain enums: `metrics` imports no domain
//! module). Invariant: every handle is resolved once, on its first use,
//! by its label enum's `index()` (no string key, no search, no label lookup
//! per packet), and no series exists for a value never counted (first use,
//! not construction, creates it).

use crate::decode::{Layer, Reason};
use crate::exposure::{Field, Kind};
use crate::label::{Label, MessageKind, StatusClass};
use crate::metrics::Metrics;
use crate::sip::{Method, ParseError, Transport};
use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec};
use std::marker::PhantomData;

/// A one-label counter family's handles, indexed by the label enum.
pub struct CounterBy<E> {
    vec: IntCounterVec,
    slots: Vec<Option<IntCounter>>,
    _label: PhantomData<E>,
}

impl<E: Label> CounterBy<E> {
    pub fn new(vec: &IntCounterVec) -> Self {
        CounterBy {
            vec: vec.clone(),
            slots: vec![None; E::COUNT],
            _label: PhantomData,
        }
    }

    /// Add `n`; nothing (not even a zero series) when `n` is 0.
    pub fn add(&mut self, e: E, n: u64) {
        if n == 0 {
            return;
        }
        let vec = &self.vec;
        if let Some(slot) = self.slots.get_mut(e.index()) {
            slot.get_or_insert_with(|| vec.with_label_values(&[e.as_str()]))
                .inc_by(n);
        }
    }
}

/// A one-label gauge family's handles, indexed by the label enum.
pub struct GaugeBy<E> {
    vec: IntGaugeVec,
    slots: Vec<Option<IntGauge>>,
    _label: PhantomData<E>,
}

impl<E: Label> GaugeBy<E> {
    pub fn new(vec: &IntGaugeVec) -> Self {
        GaugeBy {
            vec: vec.clone(),
            slots: vec![None; E::COUNT],
            _label: PhantomData,
        }
    }

    /// Move the gauge by `delta`; nothing when it is 0.
    pub fn add(&mut self, e: E, delta: i64) {
        if delta == 0 {
            return;
        }
        let vec = &self.vec;
        if let Some(slot) = self.slots.get_mut(e.index()) {
            slot.get_or_insert_with(|| vec.with_label_values(&[e.as_str()]))
                .add(delta);
        }
    }
}

/// `decode_failures_total{layer,reason}` handles.
pub struct DecodeFailures {
    vec: IntCounterVec,
    slots: Vec<Option<IntCounter>>,
}

impl DecodeFailures {
    pub fn new(m: &Metrics) -> Self {
        DecodeFailures {
            vec: m.decode_failures.clone(),
            slots: vec![None; Layer::COUNT * Reason::COUNT],
        }
    }

    pub fn add(&mut self, layer: Layer, reason: Reason, n: u64) {
        if n == 0 {
            return;
        }
        let vec = &self.vec;
        if let Some(slot) = self
            .slots
            .get_mut(layer.index() * Reason::COUNT + reason.index())
        {
            slot.get_or_insert_with(|| vec.with_label_values(&[layer.as_str(), reason.as_str()]))
                .inc_by(n);
        }
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
        let t = Transport::COUNT;
        SipCounters {
            vec: m.sip_messages.clone(),
            errors: m.sip_parse_errors.clone(),
            req: vec![None; Method::COUNT * t],
            resp: vec![None; StatusClass::COUNT * Method::COUNT * t],
        }
    }

    pub fn request(&mut self, method: Method, transport: Transport) {
        let i = method.index() * Transport::COUNT + transport.index();
        if let Some(slot) = self.req.get_mut(i) {
            slot.get_or_insert_with(|| {
                self.vec.with_label_values(&[
                    MessageKind::Request.as_str(),
                    method.as_str(),
                    StatusClass::None.as_str(),
                    transport.as_str(),
                ])
            })
            .inc();
        }
    }

    /// A response, labelled with the method of its CSeq (what it answers).
    pub fn response(&mut self, code: u16, method: Method, transport: Transport) {
        let s = StatusClass::of(code);
        let i = (s.index() * Method::COUNT + method.index()) * Transport::COUNT + transport.index();
        if let Some(slot) = self.resp.get_mut(i) {
            slot.get_or_insert_with(|| {
                self.vec.with_label_values(&[
                    MessageKind::Response.as_str(),
                    method.as_str(),
                    s.as_str(),
                    transport.as_str(),
                ])
            })
            .inc();
        }
    }

    /// Parse errors are rare; a label lookup each is fine.
    pub fn parse_error(&mut self, transport: Transport, reason: ParseError) {
        self.errors
            .with_label_values(&[transport.as_str(), reason.as_str()])
            .inc();
    }
}

/// Distinct zone label values one worker resolves; later ones are `other`.
/// Zone names come from the configuration (bounded there), so this is
/// only a guard.
const MAX_EXPOSURE_ZONES: usize = 64;

/// Resolved `exposures_total{kind,severity,transport,field,zone}` handles
/// for one worker. Each (kind, field, transport, zone) combination is
/// looked up once, on first use, then cached; the severity follows from
/// the kind. Zone strings are mapped to small indexes (the zone list is
/// learnt as zones are seen), so no label lookup happens per finding and
/// no series exists for combinations never seen.
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

    /// Count one exposure. `zone` is a name from `exposure::Zones::zone_of`.
    pub fn inc(&mut self, kind: Kind, field: Field, transport: Transport, zone: &str) {
        let z = self.zone_index(zone);
        // Every index fits a u8: < 256 kinds and fields, 6 transports, 65 zones.
        let key = (
            kind.index() as u8,
            field.index() as u8,
            transport.index() as u8,
            z as u8,
        );
        let vec = &self.vec;
        let zone_label = self.zones.get(z).map_or("other", String::as_str);
        self.cache
            .entry(key)
            .or_insert_with(|| {
                vec.with_label_values(&[
                    kind.as_str(),
                    kind.severity().as_str(),
                    transport.as_str(),
                    field.as_str(),
                    zone_label,
                ])
            })
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::label::{Eviction, FlowKind};

    #[test]
    fn sip_counters_label_requests_and_responses() {
        let m = Metrics::new();
        let mut s = SipCounters::new(&m);
        s.request(Method::Invite, Transport::Udp);
        s.response(486, Method::Invite, Transport::Tcp);
        s.response(42, Method::Unknown, Transport::Tcp);
        s.parse_error(Transport::Udp, ParseError::ALL[0]);
        let text = m.render();
        assert!(text.contains(
            "sipsentinel_sip_messages_total{kind=\"request\",method=\"INVITE\",status_class=\"\",transport=\"udp\"} 1"
        ), "{text}");
        assert!(text.contains(
            "sipsentinel_sip_messages_total{kind=\"response\",method=\"INVITE\",status_class=\"4xx\",transport=\"tcp\"} 1"
        ));
        assert!(text.contains(
            "sipsentinel_sip_messages_total{kind=\"response\",method=\"other\",status_class=\"other\",transport=\"tcp\"} 1"
        ));
        assert!(text.contains(&format!(
            "sipsentinel_sip_parse_errors_total{{reason=\"{}\",transport=\"udp\"}} 1",
            ParseError::ALL[0].as_str()
        )));
    }

    #[test]
    fn exposure_counters_resolve_once_and_label_correctly() {
        let m = Metrics::new();
        let mut c = ExposureCounters::new(&m);
        c.inc(
            Kind::SrtpKeyExposed,
            Field::SdpCrypto,
            Transport::Udp,
            "lan",
        );
        c.inc(
            Kind::SrtpKeyExposed,
            Field::SdpCrypto,
            Transport::Udp,
            "lan",
        );
        c.inc(Kind::PrivateAddress, Field::Via, Transport::Sctp, "unknown");
        assert_eq!(c.cache.len(), 2);
        let text = m.render();
        assert!(text.contains(
            "sipsentinel_exposures_total{field=\"sdp_crypto\",kind=\"srtp_key_exposed\",severity=\"critical\",transport=\"udp\",zone=\"lan\"} 2"
        ), "{text}");
        assert!(text.contains(
            "sipsentinel_exposures_total{field=\"via\",kind=\"private_address\",severity=\"medium\",transport=\"sctp\",zone=\"unknown\"} 1"
        ), "{text}");
        for i in 0..100 {
            c.inc(
                Kind::CustomHeader,
                Field::XHeader,
                Transport::Tcp,
                &format!("z{i}"),
            );
        }
        assert!(m.render().contains("zone=\"other\""));
        assert!(c.zones.len() <= MAX_EXPOSURE_ZONES);
    }

    #[test]
    fn by_label_handles_create_no_series_until_used() {
        let m = Metrics::new();
        let mut ev = CounterBy::<Eviction>::new(&m.flow_evictions);
        let mut fl = GaugeBy::<FlowKind>::new(&m.flows_active);
        let mut df = DecodeFailures::new(&m);
        ev.add(Eviction::TcpIdle, 0);
        fl.add(FlowKind::TcpStreams, 0);
        df.add(Layer::Ip, Reason::Truncated, 0);
        let text = m.render();
        assert!(!text.contains("flow_evictions_total{"), "{text}");
        assert!(!text.contains("flows_active{"), "{text}");
        assert!(!text.contains("decode_failures_total{"), "{text}");
        ev.add(Eviction::TcpIdle, 2);
        ev.add(Eviction::TcpIdle, 1);
        fl.add(FlowKind::TcpStreams, 3);
        fl.add(FlowKind::TcpStreams, -1);
        df.add(Layer::Sctp, Reason::LostFragment, 4);
        let text = m.render();
        assert!(text.contains("sipsentinel_flow_evictions_total{reason=\"tcp_idle\"} 3"));
        assert!(text.contains("sipsentinel_flows_active{kind=\"tcp_streams\"} 2"));
        assert!(text.contains(
            "sipsentinel_decode_failures_total{layer=\"sctp\",reason=\"lost_fragment\"} 4"
        ));
    }
}
