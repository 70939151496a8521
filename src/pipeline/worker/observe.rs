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
