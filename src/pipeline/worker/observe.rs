//! The observer's hooks in the worker (issue #15): each SIP message and
//! cleartext RTCP packet feeds the shared linker and registration table,
//! which answer with the findings to count (`linkable_identifier`,
//! `registration_presence`).
//!
//! Invariant: values reach the shared tables only as keyed tags; findings
//! borrow the message (the findings store redacts them).

use super::Shared;
use crate::exposure::{Field, Finding, Kind};
use crate::media::stream::Flow;
use crate::observer::extract::{self, RegisterFacts};
use crate::observer::registrations::RegisterRequest;
use crate::observer::Source;
use crate::sip::{Body, HeaderName, Message, Method};
use std::net::IpAddr;
use std::time::Duration;

fn linked<'a>(field: Field, name: &'a [u8], evidence: &'a [u8]) -> Finding<'a> {
    Finding {
        kind: Kind::LinkableIdentifier,
        field,
        name,
        evidence,
    }
}

/// The SIP sources: `+sip.instance` of every Contact, the SDP's
/// fingerprint, CNAME and origin (dialog = Call-ID), and for a REGISTER
/// request its Call-ID (dialog = the transaction: Call-ID and CSeq).
pub(super) fn sip_identifiers<'a>(
    shared: &Shared,
    msg: &Message<'a>,
    body: &Body<'a>,
    call_id: &'a [u8],
    now: Duration,
    found: &mut Vec<Finding<'a>>,
) {
    let linker = &shared.linker;
    for h in msg.headers.iter().filter(|h| h.name == HeaderName::Contact) {
        if let Some(v) = extract::sip_instance(h.value) {
            if linker.observe(Field::SipInstance, v, call_id, now) {
                found.push(linked(Field::SipInstance, h.raw_name, h.value));
            }
        }
    }
    if body.sdp.is_some() {
        let ids = extract::sdp_ids(msg.body);
        for (field, v) in [
            (Field::DtlsFingerprint, ids.fingerprint),
            (Field::RtcpCname, ids.cname),
            (Field::SdpOrigin, ids.origin),
        ] {
            if let Some(v) = v {
                if linker.observe(field, v, call_id, now) {
                    found.push(linked(field, b"", v));
                }
            }
        }
    }
    if let (Method::Register, true, Some((cseq, _))) = (msg.method(), msg.is_request(), msg.cseq())
    {
        // A refresh reuses the Call-ID (RFC 3261 §10.2.4 SHOULD): each
        // later transaction of one registration links to the first.
        let mut tx = Vec::with_capacity(call_id.len() + 4);
        tx.extend_from_slice(call_id);
        tx.extend_from_slice(&cseq.to_be_bytes());
        if linker.observe(Field::RegisterCallId, call_id, &tx, now) {
            let name = msg
                .header(HeaderName::CallId)
                .map_or(&b""[..], |h| h.raw_name);
            found.push(linked(Field::RegisterCallId, name, call_id));
        }
    }
}

/// A cleartext REGISTER request or a final response to one: the
/// registration table's input; for a 2xx, the `registration_presence`
/// finding and the REGISTER's sender it belongs to.
pub(super) fn registration<'a>(
    shared: &Shared,
    msg: &Message<'a>,
    call_id: &'a [u8],
    code: Option<u16>,
    sender: IpAddr,
    now: Duration,
) -> Option<(Finding<'a>, IpAddr)> {
    let (cseq, _) = msg.cseq()?;
    let to = msg.header(HeaderName::To)?;
    let regs = &shared.registrations;
    match code {
        None => {
            let facts = RegisterFacts::from_contacts(
                msg.headers
                    .iter()
                    .filter(|h| h.name == HeaderName::Contact)
                    .map(|h| h.value),
            );
            let expires = msg
                .headers_named(b"Expires")
                .next()
                .and_then(|h| extract::parse_u32(h.value));
            let aor = extract::name_addr_uri(to.value);
            let r = RegisterRequest {
                call_id,
                cseq,
                aor,
                facts: &facts,
                expires,
                sender,
            };
            regs.request(&r, now);
            None
        }
        Some(code) => {
            let p = regs.response(call_id, cseq, code, now)?;
            let f = Finding {
                kind: Kind::RegistrationPresence,
                field: p.field,
                name: to.raw_name,
                evidence: to.value,
            };
            Some((f, p.sender))
        }
    }
}

/// The RTCP flow as bytes: the dialog unit of CNAMEs read from RTCP.
fn flow_bytes(f: &Flow) -> ([u8; 36], usize) {
    let mut b = [0u8; 36];
    let mut n = 0;
    for (ip, port) in [(f.src, f.src_port), (f.dst, f.dst_port)] {
        let octets: ([u8; 16], usize) = match ip {
            IpAddr::V4(v) => {
                let mut o = [0u8; 16];
                o[..4].copy_from_slice(&v.octets());
                (o, 4)
            }
            IpAddr::V6(v) => (v.octets(), 16),
        };
        if let Some(dst) = b.get_mut(n..n + octets.1 + 2) {
            dst[..octets.1].copy_from_slice(&octets.0[..octets.1]);
            dst[octets.1..].copy_from_slice(&port.to_be_bytes());
        }
        n += octets.1 + 2;
    }
    (b, n.min(36))
}

/// The CNAME of a cleartext RTCP packet (dialog = its flow).
pub(super) fn rtcp_identifier(
    shared: &Shared,
    flow: &Flow,
    payload: &[u8],
    now: Duration,
) -> Option<Finding<'static>> {
    let cname = extract::rtcp_cname(payload)?;
    let (b, n) = flow_bytes(flow);
    let dialog = b.get(..n).unwrap_or(&b);
    shared
        .linker
        .observe_from(Source::Media, Field::RtcpCname, cname, dialog, now)
        // The CNAME borrows the packet, which the caller's finding may
        // not outlive: the field says where it was; no evidence.
        .then(|| Finding::new(Kind::LinkableIdentifier, Field::RtcpCname))
}

/// The ZID of a ZRTP Hello (RFC 6189 §5.2): the same for every call of
/// one endpoint (dialog = the ZRTP flow, as for RTCP CNAMEs; Hellos
/// retransmitted on one flow are one dialog).
pub(super) fn zrtp_identifier(
    shared: &Shared,
    flow: &Flow,
    zid: &[u8],
    now: Duration,
) -> Option<Finding<'static>> {
    let (b, n) = flow_bytes(flow);
    let dialog = b.get(..n).unwrap_or(&b);
    shared
        .linker
        .observe_from(Source::Media, Field::ZrtpZid, zid, dialog, now)
        .then(|| Finding::new(Kind::LinkableIdentifier, Field::ZrtpZid))
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::Worker;
    use crate::decode::LinkType;
    use crate::exposure::Zones;
    use crate::metrics::Metrics;

    fn invite(call_id: &str, fingerprint: &str, instance: &str) -> Vec<u8> {
        let sdp = format!(
            "v=0\r\no=- 0 0 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
             m=audio 4000 UDP/TLS/RTP/SAVP 0\r\na=fingerprint:sha-256 {fingerprint}\r\n"
        );
        format!(
            "INVITE sip:bob@h SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK{call_id}\r\n\
             From: <sip:alice@h>;tag=1\r\nTo: <sip:bob@h>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\n\
             Contact: <sip:alice@192.0.2.1>;+sip.instance=\"<urn:uuid:{instance}>\"\r\n\
             Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        )
        .into_bytes()
    }

    fn register(cseq: u32, expires: u32) -> Vec<u8> {
        format!(
            "REGISTER sip:h SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKr{cseq}\r\n\
             From: <sip:alice@h>;tag=1\r\nTo: <sip:alice@h>\r\nCall-ID: reg-1\r\nCSeq: {cseq} REGISTER\r\n\
             Contact: <sip:alice@192.0.2.1:5060>\r\nExpires: {expires}\r\nContent-Length: 0\r\n\r\n"
        )
        .into_bytes()
    }

    fn ok(cseq: u32) -> Vec<u8> {
        format!(
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKr{cseq}\r\n\
             From: <sip:alice@h>;tag=1\r\nTo: <sip:alice@h>;tag=2\r\nCall-ID: reg-1\r\nCSeq: {cseq} REGISTER\r\n\
             Content-Length: 0\r\n\r\n"
        )
        .into_bytes()
    }

    /// Sum of `exposures_total` series of `kind` (and `field`, if given).
    fn exposures(m: &Metrics, kind: &str, field: Option<&str>) -> f64 {
        m.render()
            .lines()
            .filter(|l| l.starts_with("sipsentinel_exposures_total{"))
            .filter(|l| l.contains(&format!("kind=\"{kind}\"")))
            .filter(|l| field.is_none_or(|f| l.contains(&format!("field=\"{f}\""))))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    fn send(w: &mut Worker, t: u64, from: [u8; 4], to: [u8; 4], msg: &[u8]) {
        w.frame(LinkType::Ethernet, secs(t), &udp(from, 5060, to, 5060, msg));
    }

    #[test]
    fn one_zrtp_zid_in_two_calls_is_linkable() {
        let m = Metrics::new();
        let mut w = worker(&m);
        let hello = crate::media::watch::tests::zrtp_hello();
        // retransmitted Hellos on one media flow: one dialog
        for t in 1..4 {
            w.frame(LinkType::Ethernet, secs(t), &udp(A, 4000, B, 5000, &hello));
        }
        assert_eq!(exposures(&m, "linkable_identifier", Some("zrtp_zid")), 0.0);
        assert_eq!(exposures(&m, "device_identifier", Some("zrtp_zid")), 1.0);
        // the same endpoint in a later call (other ports): linked, once
        w.frame(LinkType::Ethernet, secs(9), &udp(A, 4100, B, 5100, &hello));
        w.frame(LinkType::Ethernet, secs(19), &udp(A, 4200, B, 5200, &hello));
        assert_eq!(exposures(&m, "linkable_identifier", Some("zrtp_zid")), 1.0);
    }

    #[test]
    fn one_device_in_two_calls_is_linkable_two_devices_are_not() {
        let m = Metrics::new();
        let mut w = worker(&m);
        send(&mut w, 1, A, B, &invite("c1", "AA:BB", "dev-1"));
        // the same INVITE retransmitted: one dialog
        send(&mut w, 1, A, B, &invite("c1", "AA:BB", "dev-1"));
        assert_eq!(exposures(&m, "linkable_identifier", None), 0.0);
        // another device, another call
        send(&mut w, 2, A, B, &invite("c2", "CC:DD", "dev-2"));
        assert_eq!(exposures(&m, "linkable_identifier", None), 0.0);
        // the first device again: fingerprint and instance link, once each
        send(&mut w, 3, A, B, &invite("c3", "AA:BB", "dev-1"));
        send(&mut w, 4, A, B, &invite("c4", "AA:BB", "dev-1"));
        assert_eq!(
            exposures(&m, "linkable_identifier", Some("dtls_fingerprint")),
            1.0
        );
        assert_eq!(
            exposures(&m, "linkable_identifier", Some("sip_instance")),
            1.0
        );
        // `o=- 0 0` is not an identifier
        assert_eq!(
            exposures(&m, "linkable_identifier", Some("sdp_origin")),
            0.0
        );
    }

    #[test]
    fn register_refresh_and_expires_zero_show_presence() {
        let m = Metrics::new();
        let mut w = worker(&m);
        let active = |m: &Metrics| value(m, "sipsentinel_registrations_active");
        send(&mut w, 1, A, B, &register(1, 60));
        send(&mut w, 1, B, A, &ok(1));
        w.publish();
        assert_eq!(
            exposures(&m, "registration_presence", Some("register")),
            1.0
        );
        assert_eq!(active(&m), Some(1.0));
        send(&mut w, 30, A, B, &register(2, 60));
        send(&mut w, 30, B, A, &ok(2));
        send(&mut w, 30, B, A, &ok(2)); // retransmitted 2xx
        assert_eq!(exposures(&m, "registration_presence", Some("refresh")), 1.0);
        // the refresh reused the Call-ID
        assert_eq!(
            exposures(&m, "linkable_identifier", Some("register_call_id")),
            1.0
        );
        send(&mut w, 40, A, B, &register(3, 0));
        send(&mut w, 40, B, A, &ok(3));
        w.publish();
        assert_eq!(
            exposures(&m, "registration_presence", Some("deregister")),
            1.0
        );
        assert_eq!(active(&m), Some(0.0));
        assert_eq!(exposures(&m, "registration_presence", None), 3.0);
        // The finding is the device's (the REGISTER's sender, A), though
        // the 2xx that completes it comes from the registrar (B).
        let device = w.shared.store.pseudonymizer().ip(A.into());
        let snap = w.shared.store.snapshot();
        let senders: Vec<_> = snap
            .iter()
            .filter(|e| e.kind == "registration_presence")
            .map(|e| e.sender.as_str())
            .collect();
        assert_eq!(senders.len(), 3);
        assert!(senders.iter().all(|s| *s == device), "{senders:?}");
    }

    #[test]
    fn zone_pairs_count_dialogs_once_from_the_caller() {
        let m = Metrics::new();
        let mut w = worker(&m);
        *w.shared.zones.write().unwrap() = Zones::new(vec![
            ("inside".into(), vec!["192.0.2.1/32".into()]),
            ("carrier".into(), vec!["192.0.2.2/32".into()]),
        ])
        .unwrap();
        send(&mut w, 1, A, B, &invite("z1", "AA", "d"));
        send(
            &mut w,
            1,
            B,
            A,
            b"SIP/2.0 200 OK\r\nCall-ID: z1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
        );
        send(
            &mut w,
            2,
            B,
            A,
            b"BYE sip:a@h SIP/2.0\r\nCall-ID: z1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
        );
        let text = m.render();
        let rows: Vec<_> = text
            .lines()
            .filter(|l| l.starts_with("sipsentinel_zone_sessions_total{"))
            .collect();
        assert_eq!(
            rows,
            ["sipsentinel_zone_sessions_total{dst_zone=\"carrier\",layer=\"signaling\",protection=\"cleartext\",src_zone=\"inside\"} 1"],
            "{text}"
        );
    }
}
