//! State shared by every worker: the SDP-announced media endpoints, the
//! calls, the findings store, the configured zones, and what an observer
//! can assemble (the linker and the registration table, issue #15).
//!
//! Invariant: each table here is internally synchronised and bounded; a
//! worker only ever reaches it through [`Shared`], and every finding is
//! counted and recorded in one place ([`Shared::expose`]).

use crate::config::Limits;
use crate::exposure::{Finding, Zones};
use crate::findings::Store;
use crate::media::stream::Flow;
use crate::media::EndpointTable;
use crate::metrics::Metrics;
use crate::observer::{Linker, Registrations};
use crate::pipeline::counters::ExposureCounters;
use crate::sdp::{Announced, Declared};
use crate::sip::dialog::{CallConfig, CallTable};
use crate::sip::Transport;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

/// State shared by all workers: what signalling declared (written by the
/// worker that sees the SDP, read by the one that sees the media) and the
/// calls (a dialog's messages may cross several flows, hence workers).
pub struct Shared {
    pub endpoints: EndpointTable,
    pub calls: CallTable,
    pub store: Arc<Store>,
    /// Replaced on SIGHUP.
    pub zones: Arc<RwLock<Zones>>,
    /// Identifiers seen across dialogs (`linkable_identifier`); tags keyed
    /// with the findings key.
    pub linker: Linker,
    /// REGISTER transactions and bindings (`registration_presence`,
    /// `registrations_active`).
    pub registrations: Registrations,
}

pub use crate::label::SessionLayer;

impl Shared {
    pub fn new(limits: &Limits, store: Arc<Store>, zones: Arc<RwLock<Zones>>) -> Shared {
        let key = store.pseudonymizer().clone();
        Shared {
            linker: Linker::new(limits.linkable_identifiers, key.clone()),
            registrations: Registrations::new(limits.registrations, key),
            store,
            zones,
            endpoints: EndpointTable::new(16, limits.media_endpoints, limits.endpoint_ttl),
            calls: CallTable::new(CallConfig {
                max_entries: limits.calls,
                ..Default::default()
            }),
        }
    }

    /// Count and record findings from `sender`: `exposures_total` with the
    /// sender's zone, and the findings store (pseudonymised, redacted).
    pub(super) fn expose(
        &self,
        counters: &mut ExposureCounters,
        findings: &[Finding<'_>],
        sender: IpAddr,
        transport: Transport,
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
            transport.as_str(),
            zone,
            SystemTime::UNIX_EPOCH + now,
        );
    }

    /// `zone_sessions_total`: one dialog (from its caller `src`) or one
    /// media stream (from its sender) by zone pair. Once per dialog or
    /// stream: a label lookup is fine.
    pub(super) fn zone_session(
        &self,
        m: &Metrics,
        src: IpAddr,
        dst: IpAddr,
        layer: SessionLayer,
        protection: &str,
    ) {
        let zones = self.zones.read().unwrap_or_else(|p| p.into_inner());
        m.zone_sessions
            .with_label_values(&[
                zones.zone_of(src),
                zones.zone_of(dst),
                layer.as_str(),
                protection,
            ])
            .inc();
    }

    /// What the SDP declared for a flow: its destination (the announced
    /// receive address), else its source (symmetric RTP sends from there).
    pub(super) fn declared(&self, f: &Flow, now: Duration) -> Option<Declared> {
        self.endpoints
            .lookup(f.dst, f.dst_port, now)
            .or_else(|| self.endpoints.lookup(f.src, f.src_port, now))
    }

    /// [`Self::declared`] with the media facts (DTMF payload type, audio
    /// level id, NULL SDES) of the announcing `m=` section.
    pub(super) fn announced(&self, f: &Flow, now: Duration) -> Option<Announced> {
        self.endpoints
            .lookup_announced(f.dst, f.dst_port, now)
            .or_else(|| self.endpoints.lookup_announced(f.src, f.src_port, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposure::{Field, Kind, Severity};
    use crate::findings::StoreConfig;
    use crate::metrics::Metrics;
    use crate::sdp::Declared;

    fn shared() -> Shared {
        let store = Store::with_key(&[7u8; 32], StoreConfig::default());
        Shared::new(
            &Limits::default(),
            Arc::new(store),
            Arc::new(RwLock::new(Zones::default())),
        )
    }

    #[test]
    fn expose_counts_each_finding_with_the_senders_zone_and_records_it() {
        let s = shared();
        let m = Metrics::new();
        let mut c = ExposureCounters::new(&m);
        let sender: IpAddr = "192.0.2.1".parse().unwrap();
        s.expose(&mut c, &[], sender, Transport::Udp, Duration::ZERO);
        assert!(!m.render().contains("exposures_total{"));
        let f = Finding::new(Kind::CustomHeader, Field::XHeader);
        assert_eq!(f.kind.severity(), Severity::Low);
        s.expose(&mut c, &[f], sender, Transport::Tcp, Duration::from_secs(5));
        let text = m.render();
        assert!(text.contains(
            "sipsentinel_exposures_total{field=\"x_header\",kind=\"custom_header\",severity=\"low\",transport=\"tcp\",zone=\"unknown\"} 1"
        ), "{text}");
        assert_eq!(s.store.snapshot().len(), 1);
    }

    #[test]
    fn declared_looks_up_destination_then_source() {
        let s = shared();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let now = Duration::from_secs(1);
        let flow = Flow {
            src: a,
            dst: b,
            src_port: 4000,
            dst_port: 5000,
        };
        assert!(s.declared(&flow, now).is_none());
        s.endpoints.insert(a, 4000, Declared::Cleartext, now);
        assert!(s.declared(&flow, now).is_some(), "symmetric RTP: source");
        let other = Flow {
            src: b,
            dst: a,
            src_port: 5000,
            dst_port: 4000,
        };
        assert!(s.declared(&other, now).is_some(), "destination");
    }
}
