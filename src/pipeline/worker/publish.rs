//! Publishing a worker's table statistics: reassembly counts, evictions by
//! reason, and table sizes (`flows_active`), once a second of capture time
//! and at the end.
//!
//! Invariant: every count is exported exactly once. Tables that hand over
//! their counts (`take_stats`, `take_evictions`) are added as they come;
//! the media stream table keeps running totals, so only the increase since
//! the last publish is added; `flows_active` is shared by every worker, so
//! each moves it by the change of its own table sizes.

use super::Worker;
use crate::label::{Eviction, FlowKind, TcpEvent};
use crate::metrics::{DropReason, Metrics};
use crate::pipeline::counters::{CounterBy, GaugeBy};

/// Handles and what has been published so far.
pub(super) struct Published {
    pub(super) evictions: CounterBy<Eviction>,
    tcp_events: CounterBy<TcpEvent>,
    flows: GaugeBy<FlowKind>,
    /// Running totals of the stream table's counters already exported,
    /// by `MEDIA_EVICTIONS` position.
    media: [u64; 3],
    /// Table sizes last published, by `FlowKind::index`.
    sizes: [i64; FlowKind::COUNT],
}

/// The stream table's running totals, in the order of `StreamStats`
/// fields read in [`Worker::publish`].
const MEDIA_EVICTIONS: [Eviction; 3] = [
    Eviction::MediaCapacity,
    Eviction::MediaIdle,
    Eviction::MediaProbation,
];

impl Published {
    pub(super) fn new(m: &Metrics) -> Published {
        Published {
            evictions: CounterBy::new(&m.flow_evictions),
            tcp_events: CounterBy::new(&m.tcp_segments),
            flows: GaugeBy::new(&m.flows_active),
            media: [0; 3],
            sizes: [0; FlowKind::COUNT],
        }
    }
}

impl Worker {
    pub(super) fn publish(&mut self) {
        self.media.flush();
        let m = &self.metrics;
        let p = &mut self.published;
        let d = self.defrag.take_stats();
        m.ip_reassembled.inc_by(d.reassembled);
        // Dropped for the byte budget is an overflow too, and an eviction
        // with its own reason.
        m.dropped(DropReason::DefragOverflow)
            .inc_by(d.overflow + d.memcap);
        p.evictions.add(Eviction::DefragMemcap, d.memcap);
        self.decode_failures.add(
            crate::decode::Layer::Ip,
            crate::decode::Reason::BadFragment,
            d.invalid,
        );
        p.evictions.add(Eviction::DefragTimeout, d.timed_out);
        let t = self.tcp.take_stats();
        p.tcp_events.add(TcpEvent::Segment, t.segments);
        p.tcp_events.add(TcpEvent::Retransmitted, t.retransmitted);
        p.tcp_events.add(TcpEvent::OutOfOrder, t.out_of_order);
        p.tcp_events.add(TcpEvent::Gap, t.gaps);
        m.dropped(DropReason::StreamOverflow)
            .inc_by(t.overflow + t.evicted_memcap);
        p.evictions.add(Eviction::TcpMemcap, t.evicted_memcap);
        m.dropped(DropReason::FlowTableFull)
            .inc_by(t.evicted_capacity);
        p.evictions.add(Eviction::TcpCapacity, t.evicted_capacity);
        p.evictions.add(Eviction::TcpIdle, t.evicted_idle);
        let s = self.sctp.take_stats();
        self.decode_failures.add(
            crate::decode::Layer::Sctp,
            crate::decode::Reason::LostFragment,
            s.dropped,
        );
        let ms = self.streams.stats();
        let totals = [ms.evicted_full, ms.expired_idle, ms.probation_dropped];
        for (i, reason) in MEDIA_EVICTIONS.into_iter().enumerate() {
            // StreamTable keeps running totals; export the increase.
            let (n, last) = (totals[i], p.media[i]);
            if n > last {
                p.evictions.add(reason, n - last);
                p.media[i] = n;
            }
        }
        let (full, idle) = self.shared.endpoints.take_evictions();
        p.evictions.add(Eviction::EndpointsCapacity, full);
        p.evictions.add(Eviction::EndpointsIdle, idle);
        let (lru, ttl) = self.shared.store.take_evictions();
        p.evictions.add(Eviction::FindingsLru, lru);
        p.evictions.add(Eviction::FindingsTtl, ttl);
        let cs = self.shared.calls.take_stats();
        if cs.evicted_capacity > 0 {
            p.evictions
                .add(Eviction::CallsCapacity, cs.evicted_capacity);
            m.dropped(DropReason::FlowTableFull)
                .inc_by(cs.evicted_capacity);
        }
        p.evictions.add(Eviction::CallsIdle, cs.expired);
        let (full, idle) = self.shared.linker.take_evictions();
        p.evictions.add(Eviction::LinkableCapacity, full);
        p.evictions.add(Eviction::LinkableIdle, idle);
        let (full, timeout) = self.shared.registrations.take_evictions();
        p.evictions.add(Eviction::RegistrationsCapacity, full);
        p.evictions.add(Eviction::RegistrationsTimeout, timeout);
        // Shared table: every worker sets the same absolute value.
        m.registrations_active
            .set(self.shared.registrations.active() as i64);
        let mut sizes = [0i64; FlowKind::COUNT];
        for kind in FlowKind::ALL {
            sizes[kind.index()] = match kind {
                FlowKind::IpFragments => self.defrag.len(),
                FlowKind::TcpStreams => self.tcp.len(),
                FlowKind::SctpPartialMessages => self.sctp.len(),
                FlowKind::MediaStreams => self.streams.len(),
            } as i64;
        }
        for kind in FlowKind::ALL {
            let i = kind.index();
            p.flows.add(kind, sizes[i] - p.sizes[i]);
        }
        p.sizes = sizes;
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::Worker;
    use crate::config::Limits;
    use crate::decode::LinkType;
    use crate::metrics::Metrics;

    fn open_tcp(w: &mut Worker, port: u16, t: u64) {
        let f = tcp(
            A,
            port,
            B,
            5060,
            1,
            b"OPTIONS sip:b@h SIP/2.0\r\nCall-ID: x\r\n",
        );
        w.frame(LinkType::Ethernet, secs(t), &f);
    }

    const TCP_ACTIVE: &str = r#"sipsentinel_flows_active{kind="tcp_streams"}"#;

    #[test]
    fn flows_active_moves_by_deltas_shared_by_workers() {
        let m = Metrics::new();
        let limits = Limits::default();
        let mut w1 = Worker::standalone(0, &m, &limits);
        let mut w2 = Worker::standalone(1, &m, &limits);
        open_tcp(&mut w1, 6000, 1);
        open_tcp(&mut w1, 6001, 1);
        open_tcp(&mut w2, 6002, 1);
        w1.publish();
        w2.publish();
        assert_eq!(value(&m, TCP_ACTIVE), Some(3.0));
        // publishing again without change moves nothing
        w1.publish();
        w2.publish();
        assert_eq!(value(&m, TCP_ACTIVE), Some(3.0));
        open_tcp(&mut w1, 6003, 1);
        w1.publish();
        assert_eq!(value(&m, TCP_ACTIVE), Some(4.0));
        // w2's stream goes idle; w1's stay
        w2.maintain(secs(1) + limits.tcp_idle + secs(5));
        assert_eq!(value(&m, TCP_ACTIVE), Some(3.0));
        assert_eq!(
            value(&m, r#"sipsentinel_flow_evictions_total{reason="tcp_idle"}"#),
            Some(1.0)
        );
        // and the idle eviction is exported once
        w2.publish();
        assert_eq!(
            value(&m, r#"sipsentinel_flow_evictions_total{reason="tcp_idle"}"#),
            Some(1.0)
        );
    }

    #[test]
    fn tcp_events_are_labelled_from_the_vocabulary() {
        let m = Metrics::new();
        let mut w = worker(&m);
        let msg = b"OPTIONS sip:b@h SIP/2.0\r\nCall-ID: t\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
        let f = tcp(A, 7000, B, 5060, 1, msg);
        w.frame(LinkType::Ethernet, secs(1), &f);
        w.frame(LinkType::Ethernet, secs(1), &f); // the same segment again
        w.publish();
        assert_eq!(
            value(&m, r#"sipsentinel_tcp_segments_total{event="segment"}"#),
            Some(2.0)
        );
        assert_eq!(
            value(
                &m,
                r#"sipsentinel_tcp_segments_total{event="retransmitted"}"#
            ),
            Some(1.0)
        );
        assert!(!m.render().contains("event=\"gap\""), "no zero series");
    }

    #[test]
    fn media_evictions_export_the_increase_once() {
        let m = Metrics::new();
        let mut w = worker(&m);
        // two packets of an RTP-looking flow, then silence: dropped from
        // probation or idle when it expires, counted once however often
        // the worker publishes
        for seq in 0..2u16 {
            let mut rtp = vec![0x80, 0];
            rtp.extend_from_slice(&seq.to_be_bytes());
            rtp.extend_from_slice(&[0; 8]);
            rtp.extend_from_slice(&[0x55; 40]);
            w.frame(LinkType::Ethernet, secs(1), &udp(A, 4000, B, 5000, &rtp));
        }
        w.maintain(secs(3600));
        let media_evictions = |m: &Metrics| -> f64 {
            m.render()
                .lines()
                .filter(|l| l.starts_with("sipsentinel_flow_evictions_total{reason=\"media_"))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum()
        };
        let first = media_evictions(&m);
        assert_eq!(first, 1.0, "{}", m.render());
        w.publish();
        w.maintain(secs(7200));
        assert_eq!(media_evictions(&m), first);
    }
}
