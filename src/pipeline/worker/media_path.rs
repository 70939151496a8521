//! The media path of a worker: UDP payloads that are not SIP (RTP, RTCP,
//! DTLS, ZRTP, STUN), per-protection counters, and the stream table's
//! events turned into gauges, histograms and findings.

use super::shared::SessionLayer;
use super::{observe, Worker};
use crate::exposure;
use crate::exposure::{Field, Finding, Kind};
use crate::media::stream::{Flow, Protection, StreamEvent};
use crate::media::watch::{zrtp_hello_zid, WatchEvent};
use crate::media::{classify, PacketKind};
use crate::metrics::Metrics;
use crate::sip::{self, Transport};
use prometheus::{IntCounter, IntCounterVec, IntGauge};
use std::time::Duration;

const NP: usize = Protection::COUNT;

/// Resolved media handles, one per `protection` value.
///
/// Per-packet counts (`packets`, `bytes`, `rtcp`) are kept here as plain
/// integers and added to the shared counters once per batch and at every
/// publish (`flush`): the counters are atomics every worker writes, and two
/// workers incrementing the same cache lines for every RTP packet cost more
/// than classifying it.
pub(super) struct MediaCounters {
    packets: [IntCounter; NP],
    bytes: [IntCounter; NP],
    rtcp: [IntCounter; NP],
    pending_packets: [u64; NP],
    pending_bytes: [u64; NP],
    pending_rtcp: [u64; NP],
    streams: [IntCounter; NP],
    active: [IntGauge; NP],
}

impl MediaCounters {
    pub(super) fn new(m: &Metrics) -> MediaCounters {
        let arr = |v: &IntCounterVec| Protection::ALL.map(|p| v.with_label_values(&[p.as_str()]));
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

    pub(super) fn flush(&mut self) {
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

impl Worker {
    pub(super) fn udp(&mut self, flow: Flow, payload: &[u8], ts: Duration) {
        // SIP is recognised by content on any port, not by port number.
        // RTP and RTCP start with version 2 (first byte 0x80-0xBF, RFC 7983
        // §7): never a SIP start line, so skip the text test for them.
        let media_like = payload.first().is_some_and(|b| (0x80..=0xBF).contains(b));
        if !media_like && sip::framing::looks_like_sip(payload) {
            self.datagram(payload, Transport::Udp, flow.src, flow.dst, ts);
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
                    || shared.announced(&flow, ts),
                    &mut self.stream_events,
                );
                // Packets of streams still on probation may be noise that
                // happens to look like RTP: not counted as media.
                if o.validated {
                    let i = o.protection.index();
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
                if let Some(c) = self.media.pending_rtcp.get_mut(p.index()) {
                    *c += 1;
                }
                // Identity in SRTCP is encrypted (RFC 3711 §3.4); only
                // what may be readable is scanned.
                if p != Protection::Cleartext && p != Protection::Unknown {
                    return;
                }
                let mut found = Vec::new();
                exposure::scan_rtcp(&info, &mut found);
                // Counted once per (flow, SSRC, field), not per report.
                self.rtcp_seen
                    .retain_new(flow, info.ssrc, &mut found, |f| f.field.index());
                if !info.encrypted {
                    found.extend(observe::rtcp_identifier(&self.shared, &flow, payload, ts));
                }
                self.shared
                    .expose(&mut self.exposures, &found, flow.src, Transport::Udp, ts);
            }
            PacketKind::Zrtp => {
                self.streams.observe_flow(flow, &PacketKind::Zrtp);
                self.zrtp_hello(flow, payload, ts);
            }
            k @ PacketKind::Dtls(_) => {
                self.streams.observe_flow(flow, &k);
                if matches!(k, PacketKind::Dtls(classify::DtlsContentType::Handshake)) {
                    self.dtls_handshake(flow, payload, ts);
                }
            }
            PacketKind::Stun | PacketKind::Unknown => {}
        }
    }

    /// A DTLS datagram starting with a handshake record: the findings of
    /// its clear handshake messages, once per association and field; a
    /// NULL SRTP profile marks the flow's streams (never `srtp_*`).
    fn dtls_handshake(&mut self, flow: Flow, payload: &[u8], ts: Duration) {
        use crate::tls::Event;
        let mut events = Vec::new();
        crate::tls::dtls_datagram(payload, &mut |e| events.push(e));
        let src = (flow.src, flow.src_port);
        let dst = (flow.dst, flow.dst_port);
        for e in events {
            let Some(mut view) = self.dtls_flows.view(src, dst) else {
                return;
            };
            match &e {
                Event::ClientHello(_) => view.client_hello(),
                Event::ServerHello(h) => {
                    view.server_hello();
                    if matches!(h.srtp_profile, Some(0x0005 | 0x0006)) {
                        self.streams.observe_null_srtp(flow);
                    }
                }
                _ => {}
            }
            let sender = view.sender();
            let mut pending = Vec::new();
            let mut text = String::new();
            super::sip_path::handshake_findings(
                e,
                &mut pending,
                &mut text,
                &mut self.decode_failures,
                crate::decode::Layer::Dtls,
                sender,
            );
            let found: Vec<_> = pending
                .into_iter()
                .map(|p| p.with(&text))
                .filter(|f| view.first(f.field.index()))
                .collect();
            self.shared
                .expose(&mut self.exposures, &found, flow.src, Transport::Udp, ts);
        }
    }

    /// `device_identifier` (field `zrtp_zid`): the ZID of a ZRTP Hello
    /// (RFC 6189 §5.2) identifies the endpoint across all its calls. Once
    /// per (flow, ZRTP SSRC): Hellos are retransmitted until answered.
    fn zrtp_hello(&mut self, flow: Flow, payload: &[u8], ts: Duration) {
        let Some(zid) = zrtp_hello_zid(payload) else {
            return;
        };
        let ssrc = payload
            .get(8..12)
            .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        let mut found = vec![Finding {
            kind: Kind::DeviceIdentifier,
            field: Field::ZrtpZid,
            name: b"",
            evidence: zid,
        }];
        self.rtcp_seen
            .retain_new(flow, ssrc, &mut found, |f| f.field.index());
        // The same ZID in a second call links the two (issue #15).
        found.extend(super::observe::zrtp_identifier(
            &self.shared,
            &flow,
            zid,
            ts,
        ));
        self.shared
            .expose(&mut self.exposures, &found, flow.src, Transport::Udp, ts);
    }

    /// A [`WatchEvent`] of a stream: digits are counted in
    /// `dtmf_digits_total{field}` (never which key); the first digit of a
    /// field, audio levels and length variation are findings (once per
    /// stream, `watch` keeps the state).
    fn watch_event(&mut self, flow: Flow, event: WatchEvent) {
        let finding = match event {
            WatchEvent::Digit { timing, first } => {
                let field = if timing {
                    Field::RtpEventTiming
                } else {
                    Field::RtpEvent
                };
                self.metrics
                    .dtmf_digits
                    .with_label_values(&[field.as_str()])
                    .inc();
                if !first {
                    return;
                }
                Finding::new(Kind::DtmfDisclosed, field)
            }
            WatchEvent::AudioLevel => Finding::new(Kind::SpeechActivity, Field::AudioLevel),
            WatchEvent::PacketLength => Finding::new(Kind::SpeechActivity, Field::PacketLength),
        };
        self.shared.expose(
            &mut self.exposures,
            &[finding],
            flow.src,
            Transport::Udp,
            self.last_ts,
        );
    }

    pub(super) fn drain_media_events(&mut self) {
        let unknown = Protection::Unknown.index();
        let mut events = std::mem::take(&mut self.stream_events);
        for ev in events.drain(..) {
            match ev {
                StreamEvent::Watch { key, event } => self.watch_event(key.flow, event),
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
                    self.shared.zone_session(
                        &self.metrics,
                        key.flow.src,
                        key.flow.dst,
                        SessionLayer::Media,
                        protection.as_str(),
                    );
                    let mut found = Vec::new();
                    exposure::media_findings(protection, mismatch, &mut found);
                    self.shared.expose(
                        &mut self.exposures,
                        &found,
                        key.flow.src,
                        Transport::Udp,
                        self.last_ts,
                    );
                    let i = protection.index();
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
                    if let Some(g) = self.media.active.get(protection.index()) {
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
        // Keep the buffer (and its capacity) for the next packet.
        self.stream_events = events;
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::decode::LinkType;

    /// RTCP SR header (RFC 3550 §6.4.1, no report blocks) then SDES
    /// (§6.5) with one chunk: SSRC, CNAME item "alice@host", end.
    fn rtcp_sr_sdes(ssrc: u32) -> Vec<u8> {
        let s = ssrc.to_be_bytes();
        let mut p = vec![
            0x80, 200, 0, 6, // V=2, RC=0, PT=SR, length 6 words
            s[0], s[1], s[2], s[3], // SSRC of sender
            0, 0, 0, 0, 0, 0, 0, 0, // NTP timestamp
            0, 0, 0, 0, // RTP timestamp
            0, 0, 0, 1, // packet count
            0, 0, 0, 160, // octet count
        ];
        let cname = b"alice@host";
        // chunk: SSRC (4) + type + len + text + end (1), padded to 4
        let chunk_len = 4 + 2 + cname.len() + 1;
        let padded = chunk_len.div_ceil(4) * 4;
        let words = (4 + padded) / 4 - 1;
        p.extend_from_slice(&[0x81, 202, 0, words as u8]);
        p.extend_from_slice(&s);
        p.push(1); // CNAME
        p.push(cname.len() as u8);
        p.extend_from_slice(cname);
        p.resize(p.len() + (padded - chunk_len) + 1, 0);
        p
    }

    fn rtcp_identity(m: &crate::metrics::Metrics) -> f64 {
        m.render()
            .lines()
            .filter(|l| {
                l.starts_with("sipsentinel_exposures_total{")
                    && l.contains("kind=\"rtcp_identity\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    #[test]
    fn rtcp_identity_counted_once_per_flow_ssrc_and_field() {
        let m = crate::metrics::Metrics::new();
        let mut w = worker(&m);
        for i in 0..3 {
            let f = udp(A, 4001, B, 5001, &rtcp_sr_sdes(0x1234));
            w.frame(LinkType::Ethernet, secs(1 + i), &f);
        }
        assert_eq!(rtcp_identity(&m), 1.0, "{}", m.render());
        // another SSRC on the same flow counts again
        w.frame(
            LinkType::Ethernet,
            secs(5),
            &udp(A, 4001, B, 5001, &rtcp_sr_sdes(0x9999)),
        );
        assert_eq!(rtcp_identity(&m), 2.0);
        w.finish();
        assert_eq!(
            value(
                &m,
                r#"sipsentinel_rtcp_packets_total{protection="cleartext"}"#
            ),
            Some(4.0)
        );
    }

    fn exposures(m: &crate::metrics::Metrics, kind: &str, field: &str) -> f64 {
        m.render()
            .lines()
            .filter(|l| {
                l.starts_with("sipsentinel_exposures_total{")
                    && l.contains(&format!("kind=\"{kind}\""))
                    && l.contains(&format!("field=\"{field}\""))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    #[test]
    fn zrtp_hello_zid_once_per_flow_and_ssrc() {
        let m = crate::metrics::Metrics::new();
        let mut w = worker(&m);
        let hello = crate::media::watch::tests::zrtp_hello();
        // Hellos are retransmitted until answered: one finding.
        for i in 0..4 {
            w.frame(
                LinkType::Ethernet,
                secs(1 + i),
                &udp(A, 4000, B, 5000, &hello),
            );
        }
        assert_eq!(exposures(&m, "device_identifier", "zrtp_zid"), 1.0);
        // The other direction is another flow.
        w.frame(LinkType::Ethernet, secs(6), &udp(B, 5000, A, 4000, &hello));
        assert_eq!(exposures(&m, "device_identifier", "zrtp_zid"), 2.0);
        // Not a Hello: nothing.
        let mut other = hello.clone();
        other[16..24].copy_from_slice(b"Commit  ");
        w.frame(LinkType::Ethernet, secs(7), &udp(A, 4002, B, 5002, &other));
        assert_eq!(exposures(&m, "device_identifier", "zrtp_zid"), 2.0);
    }

    /// An INVITE whose SDP announces B:5000 with telephone-event 101, then
    /// G.711 from A to it with two events (each sent three times).
    #[test]
    fn sdp_announced_events_are_counted_as_digits() {
        let m = crate::metrics::Metrics::new();
        let mut w = worker(&m);
        let sdp = "v=0\r\no=- 1 1 IN IP4 192.0.2.2\r\ns=-\r\nc=IN IP4 192.0.2.2\r\nt=0 0\r\n\
                   m=audio 5000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
                   a=rtpmap:101 telephone-event/8000\r\n";
        let invite = format!(
            "INVITE sip:b@example.invalid SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n\
             From: <sip:a@example.invalid>;tag=1\r\nTo: <sip:b@example.invalid>\r\n\
             Call-ID: dtmf-test\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\n\
             Content-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        );
        w.frame(
            LinkType::Ethernet,
            secs(1),
            &udp(A, 5060, B, 5060, invite.as_bytes()),
        );
        let mut seq = 0u16;
        let mut send =
            |w: &mut crate::pipeline::worker::Worker, pt: u8, ts: u32, payload: &[u8]| {
                let mut rtp = vec![0x80, pt];
                rtp.extend_from_slice(&seq.to_be_bytes());
                rtp.extend_from_slice(&ts.to_be_bytes());
                rtp.extend_from_slice(&0xabcdu32.to_be_bytes());
                rtp.extend_from_slice(payload);
                let t = secs(2) + std::time::Duration::from_millis(20 * u64::from(seq));
                w.frame(LinkType::Ethernet, t, &udp(A, 4000, B, 5000, &rtp));
                seq += 1;
            };
        for i in 0..20u32 {
            send(&mut w, 0, i * 160, &[0x55; 160]);
        }
        for ts in [3200u32, 4800] {
            for _ in 0..3 {
                send(&mut w, 101, ts, &[5, 0x8a, 0, 160]);
            }
        }
        w.finish();
        assert_eq!(
            value(&m, r#"sipsentinel_dtmf_digits_total{field="rtp_event"}"#),
            Some(2.0),
            "{}",
            m.render()
        );
        assert_eq!(exposures(&m, "dtmf_disclosed", "rtp_event"), 1.0);
        assert_eq!(exposures(&m, "dtmf_disclosed", "rtp_event_timing"), 0.0);
    }

    #[test]
    fn rtp_stream_is_counted_as_media_once_validated() {
        let m = crate::metrics::Metrics::new();
        let mut w = worker(&m);
        for seq in 0..10u16 {
            let mut rtp = vec![0x80, 0]; // V=2, PT 0 (PCMU)
            rtp.extend_from_slice(&seq.to_be_bytes());
            rtp.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
            rtp.extend_from_slice(&0xabcdu32.to_be_bytes());
            rtp.extend_from_slice(&[0x55; 160]);
            let f = udp(A, 4000, B, 5000, &rtp);
            w.frame(
                LinkType::Ethernet,
                secs(1) + std::time::Duration::from_millis(20 * u64::from(seq)),
                &f,
            );
        }
        w.finish();
        let text = m.render();
        let packets: f64 = text
            .lines()
            .filter(|l| l.starts_with("sipsentinel_media_packets_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        // the first packets are on probation (RFC 3550 A.1)
        assert!((7.0..=10.0).contains(&packets), "{text}");
        let streams: f64 = text
            .lines()
            .filter(|l| l.starts_with("sipsentinel_media_streams_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        assert_eq!(streams, 1.0, "{text}");
        // ended at finish: nothing active
        let active: f64 = text
            .lines()
            .filter(|l| l.starts_with("sipsentinel_media_streams_active{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        assert_eq!(active, 0.0, "{text}");
    }
}
