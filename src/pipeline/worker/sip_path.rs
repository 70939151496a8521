//! The SIP path of a worker: TCP and SCTP payloads into SIP messages, and
//! each message into its counters, call events, registration outcomes,
//! findings and announced media endpoints.

use super::shared::SessionLayer;
use super::{observe, Shared, Worker};
use crate::decode::sctp_reasm::{SctpKey, SctpOutcome};
use crate::decode::tcp::StreamKey;
use crate::decode::{self, Layer, Net, Reason, TcpSegment};
use crate::exposure;
use crate::media::Protection;
use crate::metrics::Metrics;
use crate::observer::cdr_view;
use crate::pipeline::counters::{DecodeFailures, ExposureCounters, SipCounters};
use crate::sip::dialog::{CallEvent, Observation, RegistrationOutcome};
use crate::sip::stream::SipEvent;
use crate::sip::{self, Body, HeaderName, Message, Method, StartLine, Transport};
use std::net::IpAddr;
use std::time::Duration;

/// Well-known SIP-over-TLS port (RFC 3261 §26.2); a TLS stream elsewhere is
/// still recognised by its record header.
const SIP_TLS_PORT: u16 = 5061;

impl Worker {
    fn sip_ctx(&mut self, sender: IpAddr, receiver: IpAddr, now: Duration) -> SipCtx<'_> {
        SipCtx {
            sip: &mut self.sip,
            exposures: &mut self.exposures,
            failures: &mut self.decode_failures,
            metrics: &self.metrics,
            shared: &self.shared,
            calls: &mut self.call_events,
            now,
            sender,
            receiver,
        }
    }

    /// One TCP segment: reassembled in order, then framed as SIP (or
    /// WebSocket, or recognised as TLS) by the stream's state.
    pub(super) fn tcp_segment(&mut self, net: &Net, seg: &TcpSegment<'_>, ts: Duration) {
        let key = StreamKey::new(net, seg.src_port, seg.dst_port);
        let tls_hint = seg.src_port == SIP_TLS_PORT || seg.dst_port == SIP_TLS_PORT;
        if let Some(stream) = self.tcp.segment(key, seg, ts) {
            let mut ctx = SipCtx {
                sip: &mut self.sip,
                exposures: &mut self.exposures,
                failures: &mut self.decode_failures,
                metrics: &self.metrics,
                shared: &self.shared,
                calls: &mut self.call_events,
                now: ts,
                sender: net.src,
                receiver: net.dst,
            };
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

    /// SCTP DATA chunks: one SIP message per SCTP user message (RFC 4168
    /// §5); a large one (SIP-I with ISUP) spans several DATA chunks.
    pub(super) fn sctp_chunks(
        &mut self,
        net: &Net,
        src_port: u16,
        dst_port: u16,
        chunks: &[u8],
        ts: Duration,
    ) {
        for chunk in decode::sctp_data_chunks(chunks) {
            let key = SctpKey {
                src: net.src,
                dst: net.dst,
                src_port,
                dst_port,
                stream_id: chunk.stream_id,
                unordered: chunk.unordered,
            };
            match self.sctp.push(key, &chunk, ts) {
                SctpOutcome::Whole(msg) => self.sctp_message(msg, net, ts),
                SctpOutcome::Reassembled(msg) => self.sctp_message(&msg, net, ts),
                SctpOutcome::Pending => {}
            }
        }
    }

    fn sctp_message(&mut self, msg: &[u8], net: &Net, ts: Duration) {
        if sip::framing::looks_like_sip(msg) {
            self.datagram(msg, Transport::Sctp, net.src, net.dst, ts);
        }
    }

    /// One whole SIP message (UDP datagram or SCTP chunk).
    pub(super) fn datagram(
        &mut self,
        payload: &[u8],
        transport: Transport,
        sender: IpAddr,
        receiver: IpAddr,
        ts: Duration,
    ) {
        let mut ctx = self.sip_ctx(sender, receiver, ts);
        match sip::parse_message(payload) {
            Ok(msg) => ctx.message(transport, &msg),
            Err(e) => ctx.sip.parse_error(transport, e),
        }
        self.drain_call_events();
    }

    pub(super) fn drain_call_events(&mut self) {
        if !self.call_events.is_empty() {
            count_call_events(&self.metrics, self.call_events.drain(..));
        }
    }
}

/// A finding of a TLS/DTLS handshake before its evidence is known: the
/// JA4 string or certificate subject is built into a string the caller
/// owns, then borrowed as evidence.
#[derive(Debug, Clone, Copy)]
pub(super) enum Pending {
    Static(exposure::Finding<'static>),
    /// Its evidence is the caller's string.
    WithText(exposure::Finding<'static>),
}

impl Pending {
    pub(super) fn with(self, text: &str) -> exposure::Finding<'_> {
        match self {
            Pending::Static(f) => f,
            Pending::WithText(f) => exposure::Finding {
                evidence: text.as_bytes(),
                ..f
            },
        }
    }
}

/// The findings of one TLS or DTLS handshake event (`exposure::tls`);
/// unreadable bytes and certificates that are not X.509 are counted in
/// `decode_failures_total{layer}`. The JA4 string or a certificate's
/// subject is written to `text` (one per event). A certificate whose
/// sender the handshake did not tell is taken as `unknown_sender`'s.
pub(super) fn handshake_findings(
    e: crate::tls::Event<'_>,
    out: &mut Vec<Pending>,
    text: &mut String,
    failures: &mut DecodeFailures,
    layer: Layer,
    unknown_sender: crate::tls::Role,
) {
    use crate::tls::{Event, Unreadable};
    let mut fail = |u: Unreadable| {
        let reason = match u {
            Unreadable::Malformed | Unreadable::Certificate => Reason::Malformed,
            Unreadable::TooLarge => Reason::BadLength,
            Unreadable::Fragment => Reason::Fragmented,
        };
        failures.add(layer, reason, 1);
    };
    match e {
        Event::ClientHello(h) => {
            // The JA4 string is not an identifier; it is still evidence
            // handed to the store like any other.
            *text = crate::tls::ja4::ja4(&h);
            out.push(Pending::WithText(exposure::tls::client_hello_finding("")));
        }
        Event::ServerHello(h) => {
            let mut found = Vec::new();
            exposure::tls::server_hello_findings(&h, &mut found);
            out.extend(found.into_iter().map(Pending::Static));
        }
        Event::Certificate { from, der } => match crate::tls::cert::subject(der) {
            Some(s) => {
                *text = s;
                let from = match from {
                    crate::tls::Role::Unknown => unknown_sender,
                    known => known,
                };
                out.extend(exposure::tls::certificate_finding(from, b"").map(Pending::WithText));
            }
            None => fail(Unreadable::Certificate),
        },
        Event::Unreadable(u) => fail(u),
    }
}

/// The CDR fields (`observer::cdr_view::bit`) one message shows an
/// on-path observer: none unless its transport is cleartext.
fn cdr_visible(
    msg: &sip::Message<'_>,
    body: &Body<'_>,
    method: Method,
    code: Option<u16>,
    transport: Transport,
) -> u8 {
    use cdr_view::bit;
    if !exposure::is_cleartext(transport) {
        return 0;
    }
    let has = |h: HeaderName| msg.header(h).is_some();
    let mut v = 0;
    if has(HeaderName::From) || has(HeaderName::PAssertedIdentity) {
        v |= bit::CALLER;
    }
    if has(HeaderName::To) {
        v |= bit::CALLEE;
    }
    if method == Method::Invite && code.is_none() {
        v |= bit::START;
    }
    if has(HeaderName::UserAgent) || has(HeaderName::Server) {
        v |= bit::USER_AGENT;
    }
    if body.sdp.as_ref().is_some_and(|s| !s.media.is_empty()) {
        v |= bit::MEDIA_ENDPOINTS;
    }
    v
}

/// `calls_active`, `calls_total{outcome}`, `call_duration_seconds`, and
/// the observer's CDR view of each ended call.
pub fn count_call_events(m: &Metrics, events: impl IntoIterator<Item = CallEvent>) {
    for ev in events {
        match ev {
            CallEvent::Started => m.calls_active.inc(),
            CallEvent::Ended {
                outcome,
                duration,
                seen,
            } => {
                // An INVITE the observer could not read (SIP over TLS)
                // leaves no START bit: that call's signalling was protected.
                m.observer_log.fold(seen, seen & cdr_view::bit::START == 0);
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
    failures: &'a mut DecodeFailures,
    metrics: &'a Metrics,
    shared: &'a Shared,
    calls: &'a mut Vec<CallEvent>,
    now: Duration,
    /// Source address of the packet that carried the message.
    sender: IpAddr,
    /// Its destination address.
    receiver: IpAddr,
}

impl SipCtx<'_> {
    fn event(&mut self, ev: SipEvent<'_>) {
        match ev {
            SipEvent::Message { transport, msg } => self.message(transport, &msg),
            SipEvent::ParseError { transport, error } => self.sip.parse_error(transport, error),
            SipEvent::TlsStream { first } => {
                self.metrics.sip_tls_streams.inc();
                // Dialogs inside TLS are not visible: the connection is
                // the signalling session an observer can count, once, on
                // the client's side (its first record is a handshake
                // record holding a ClientHello, RFC 8446 §5.1, §4), so the
                // client is `src_zone`.
                if first.first() == Some(&22) && first.get(5) == Some(&1) {
                    self.zone_session(Transport::Tls);
                }
                // The client's first record is its ClientHello: the server
                // name it asks for travels in clear (RFC 6066 §3).
                if let Some(f) = exposure::scan_tls(first) {
                    self.shared
                        .expose(self.exposures, &[f], self.sender, Transport::Tls, self.now);
                }
            }
            SipEvent::Tls(e) => {
                let mut found = Vec::new();
                let mut text = String::new();
                handshake_findings(
                    e,
                    &mut found,
                    &mut text,
                    self.failures,
                    Layer::Tls,
                    crate::tls::Role::Unknown,
                );
                let found: Vec<_> = found.into_iter().map(|f| f.with(&text)).collect();
                self.shared.expose(
                    self.exposures,
                    &found,
                    self.sender,
                    Transport::Tls,
                    self.now,
                );
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
            if let Some(o) = code.and_then(RegistrationOutcome::of) {
                // A final response to REGISTER is rare next to the other
                // messages: a label lookup each is fine.
                self.metrics
                    .registrations
                    .with_label_values(&[o.as_str()])
                    .inc();
            }
        }
        // The body is walked and its SDP parsed once, for both readers.
        let body = Body::parse(msg);
        let mut found = Vec::new();
        let scanned = exposure::scan_sip(msg, &body, transport, &mut found);
        if scanned.bad_identity {
            self.sip
                .parse_error(transport, sip::ParseError::BadIdentity);
        }
        if scanned.dtmf_digits > 0 {
            // Rare next to the other messages: a label lookup each is fine.
            self.metrics
                .dtmf_digits
                .with_label_values(&[exposure::Field::SipInfo.as_str()])
                .inc_by(u64::from(scanned.dtmf_digits));
        }
        if let Some(call_id) = msg.call_id() {
            let o = self.shared.calls.observe(
                &Observation {
                    call_id,
                    method,
                    code,
                    transport: transport.index() as u8,
                    visible: cdr_visible(msg, &body, method, code, transport),
                },
                self.now,
                self.calls,
            );
            // Once per dialog or registration (and transport it crosses),
            // not per message.
            if o.new_dialog {
                found.extend(exposure::cleartext_signaling(transport));
                if method == Method::Invite && code.is_none() {
                    self.zone_session(transport);
                }
            }
            observe::sip_identifiers(self.shared, msg, &body, call_id, self.now, &mut found);
            if method == Method::Register && exposure::is_cleartext(transport) {
                let presence =
                    observe::registration(self.shared, msg, call_id, code, self.sender, self.now);
                if let Some((f, device)) = presence {
                    self.shared
                        .expose(self.exposures, &[f], device, transport, self.now);
                }
            }
            // `dtmf_disclosed` is counted once per call (after `observe`,
            // so the call's entry exists when its INVITE was seen).
            if found
                .iter()
                .any(|f| f.kind == exposure::Kind::DtmfDisclosed)
                && !self.shared.calls.first_dtmf(call_id)
            {
                found.retain(|f| f.kind != exposure::Kind::DtmfDisclosed);
            }
        }
        self.shared
            .expose(self.exposures, &found, self.sender, transport, self.now);
        self.register_media(body.sdp.as_ref());
    }

    /// `zone_sessions_total{layer="signaling"}` for a new dialog: the
    /// INVITE's sender is the caller (`src_zone`), its destination the
    /// next hop towards the callee.
    fn zone_session(&self, transport: Transport) {
        let protection = if exposure::is_cleartext(transport) {
            Protection::Cleartext.as_str()
        } else {
            "tls"
        };
        self.shared.zone_session(
            self.metrics,
            self.sender,
            self.receiver,
            SessionLayer::Signaling,
            protection,
        );
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
            let a = crate::sdp::Announced {
                declared: e.declared,
                facts: e.facts,
            };
            eps.insert_announced(e.rtp_ip, e.rtp_port, a, self.now);
            if (e.rtcp_ip, e.rtcp_port) != (e.rtp_ip, e.rtp_port) {
                eps.insert_announced(e.rtcp_ip, e.rtcp_port, a, self.now);
            }
        }
        for (c, a) in sdp.candidate_announced() {
            let ip: IpAddr = c.ip;
            eps.insert_announced(ip, c.port, a, self.now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crate::decode::LinkType;
    use crate::metrics::Metrics;

    fn response(code: u16, reason: &str, call_id: &str) -> Vec<u8> {
        format!(
            "SIP/2.0 {code} {reason}\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
             Call-ID: {call_id}\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n"
        )
        .into_bytes()
    }

    fn outcome(m: &Metrics, o: &str) -> Option<f64> {
        value(
            m,
            &format!("sipsentinel_sip_registrations_total{{outcome=\"{o}\"}}"),
        )
    }

    #[test]
    fn register_responses_count_registration_outcomes() {
        let m = Metrics::new();
        let mut w = worker(&m);
        for (i, (code, reason)) in [
            (100, "Trying"),
            (401, "Unauthorized"),
            (407, "Proxy Authentication Required"),
            (200, "OK"),
            (403, "Forbidden"),
        ]
        .iter()
        .enumerate()
        {
            let frame = udp(B, 5060, A, 5060, &response(*code, reason, &format!("r{i}")));
            w.frame(LinkType::Ethernet, secs(1), &frame);
        }
        assert_eq!(outcome(&m, "success"), Some(1.0));
        assert_eq!(outcome(&m, "challenged"), Some(2.0));
        assert_eq!(outcome(&m, "failed"), Some(1.0));
        // 1xx is not final; responses to other methods are not registrations
        let invite_ok =
            b"SIP/2.0 200 OK\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
        w.frame(
            LinkType::Ethernet,
            secs(1),
            &udp(B, 5060, A, 5060, invite_ok),
        );
        assert_eq!(outcome(&m, "success"), Some(1.0));
    }

    #[test]
    fn parse_errors_are_counted_by_transport_and_reason() {
        let m = Metrics::new();
        let mut w = worker(&m);
        // a continuation line with nothing to continue: a bad header
        let bad = b"BYE sip:b@h SIP/2.0\r\n cont\r\n\r\n";
        w.frame(LinkType::Ethernet, secs(1), &udp(A, 5060, B, 5060, bad));
        let text = m.render();
        assert!(
            text.lines()
                .any(|l| l.starts_with("sipsentinel_sip_parse_errors_total{")
                    && l.contains("reason=\"bad_header\",transport=\"udp\"")),
            "{text}"
        );
    }

    #[test]
    fn sctp_sip_is_parsed_with_transport_sctp() {
        let m = Metrics::new();
        let mut w = worker(&m);
        let msg = b"OPTIONS sip:b@h SIP/2.0\r\nCall-ID: s1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
        w.datagram(
            msg,
            crate::sip::Transport::Sctp,
            A.into(),
            B.into(),
            secs(1),
        );
        assert_eq!(
            value(
                &m,
                r#"sipsentinel_sip_messages_total{kind="request",method="OPTIONS",status_class="",transport="sctp"}"#
            ),
            Some(1.0)
        );
    }

    /// Hostile TLS on port 5061: a handshake message claiming 16 MB is
    /// given up at the bound (counted, nothing more held), and random
    /// records after a valid start never panic; each segment's data is
    /// consumed once the reader has given up.
    #[test]
    fn hostile_tls_stream_is_bounded() {
        let m = Metrics::new();
        let mut w = worker(&m);
        // Record: handshake, Certificate claiming 0xffffff bytes.
        let mut seg = vec![22, 3, 3, 0x40, 0x00, 11, 0xff, 0xff, 0xff];
        seg.resize(5 + 0x4000, 0);
        let mut seq = 1u32;
        for _ in 0..40 {
            w.frame(
                LinkType::Ethernet,
                secs(1),
                &tcp(A, 40000, B, 5061, seq, &seg),
            );
            seq = seq.wrapping_add(seg.len() as u32);
            let mut rec = vec![22, 3, 3, 0x40, 0x00];
            rec.resize(5 + 0x4000, 0xab);
            seg = rec;
        }
        let failures = value(
            &m,
            r#"sipsentinel_decode_failures_total{layer="tls",reason="bad_length"}"#,
        );
        assert_eq!(failures, Some(1.0), "{}", m.render());
        // Random bytes on other connections: no panic.
        crate::testkit::random::for_random_inputs(
            &[22, 3, 1, 0, 11, 2, 0xff],
            300,
            3000,
            |d, i| {
                let port = 41000 + (i % 1000) as u16;
                let mut rec = vec![22, 3, 1];
                rec.extend_from_slice(&(d.len() as u16).to_be_bytes());
                rec.extend_from_slice(d);
                w.frame(LinkType::Ethernet, secs(2), &tcp(A, port, B, 5061, 1, &rec));
                w.frame(LinkType::Ethernet, secs(2), &udp(A, port, B, 5004, d));
            },
        );
    }

    #[test]
    fn dtmf_info_is_exposed_once_per_call_and_every_key_counted() {
        let m = Metrics::new();
        let mut w = worker(&m);
        let invite =
            b"INVITE sip:b@h SIP/2.0\r\nCall-ID: k1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
        w.frame(LinkType::Ethernet, secs(1), &udp(A, 5060, B, 5060, invite));
        for (i, key) in ["1", "2", "3"].iter().enumerate() {
            let body = format!("Signal={key}\r\nDuration=160\r\n");
            let info = format!(
                "INFO sip:b@h SIP/2.0\r\nCall-ID: k1\r\nCSeq: {} INFO\r\nContent-Type: application/dtmf-relay\r\nContent-Length: {}\r\n\r\n{body}",
                i + 2,
                body.len()
            );
            w.frame(
                LinkType::Ethernet,
                secs(2),
                &udp(A, 5060, B, 5060, info.as_bytes()),
            );
        }
        let text = m.render();
        let sum = |pred: &dyn Fn(&str) -> bool| -> f64 {
            text.lines()
                .filter(|l| pred(l))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum()
        };
        let calls = sum(&|l| {
            l.starts_with("sipsentinel_exposures_total{") && l.contains("kind=\"dtmf_disclosed\"")
        });
        assert_eq!(calls, 1.0, "{text}");
        let keys = sum(&|l| l.starts_with("sipsentinel_dtmf_digits_total{field=\"sip_info\"}"));
        assert_eq!(keys, 3.0, "{text}");
    }

    #[test]
    fn cleartext_signaling_is_exposed_once_per_dialog() {
        let m = Metrics::new();
        let mut w = worker(&m);
        let msg =
            b"INVITE sip:b@h SIP/2.0\r\nCall-ID: d1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
        for _ in 0..3 {
            w.frame(LinkType::Ethernet, secs(1), &udp(A, 5060, B, 5060, msg));
        }
        let text = m.render();
        let n: f64 = text
            .lines()
            .filter(|l| {
                l.starts_with("sipsentinel_exposures_total{")
                    && l.contains("kind=\"cleartext_signaling\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        assert_eq!(n, 1.0, "{text}");
    }
}
