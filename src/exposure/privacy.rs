//! What `Privacy:` asks beyond the caller's identity (RFC 3323 §4.2) and
//! what the Call-ID tells about the network (RFC 3261 §8.1.1.4).
//!
//! No state. `Privacy: header` asks that headers which could identify the
//! user or their network be hidden: Subject, Call-Info, Organization,
//! Reply-To, In-Reply-To, User-Agent/Server and internal hosts in Via,
//! Record-Route and Contact (RFC 3323 §5.1). `Privacy: session` asks for
//! the media to be anonymised (§5.2), which an SDP pointing at the sender's
//! own signalling address shows was not done.

use super::addr::{self, is_private, parse_ip, trim};
use super::{Field, Finding, Kind};
use crate::sdp::Sdp;
use crate::sip::{Header, HeaderName, Message, StartLine};
use std::net::IpAddr;

/// The `Privacy` values beyond identity that this module acts on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Asks {
    pub header: bool,
    pub session: bool,
}

impl Asks {
    /// Adds one `Privacy` header value (`;`- or `,`-separated tokens).
    pub fn add(&mut self, value: &[u8]) {
        for v in value.split(|&b| b == b';' || b == b',').take(16).map(trim) {
            self.header |= v.eq_ignore_ascii_case(b"header");
            self.session |= v.eq_ignore_ascii_case(b"session");
        }
    }
}

/// Fields `Privacy: header` asks to hide, in catalogue order.
const HIDEABLE: [Field; 10] = [
    Field::Subject,
    Field::CallInfo,
    Field::Organization,
    Field::ReplyTo,
    Field::InReplyTo,
    Field::UserAgent,
    Field::Server,
    Field::Via,
    Field::RecordRoute,
    Field::Contact,
];

/// The first header of each [`HIDEABLE`] field still showing what it
/// should hide (at most one per field: a fixed array, whatever the
/// message).
#[derive(Debug, Default)]
pub struct Hideable<'a> {
    seen: [Option<(&'a [u8], &'a [u8])>; HIDEABLE.len()],
}

impl<'a> Hideable<'a> {
    /// Looks at header `h` classified as `field`: free-text and software
    /// headers count when not empty, routing headers when they carry an
    /// internal (private) address (`internal`, which the caller read).
    pub fn see(&mut self, field: Option<Field>, h: &Header<'a>, internal: bool) {
        let Some(field) = field else { return };
        let Some(i) = HIDEABLE.iter().position(|&f| f == field) else {
            return;
        };
        let routing = matches!(field, Field::Via | Field::RecordRoute | Field::Contact);
        let shows = if routing {
            internal
        } else {
            !trim(h.value).is_empty()
        };
        if shows && self.seen[i].is_none() {
            self.seen[i] = Some((h.raw_name, h.value));
        }
    }

    /// One `privacy_request_ignored` per field seen.
    pub fn found(&self) -> impl Iterator<Item = Finding<'a>> + '_ {
        HIDEABLE
            .iter()
            .zip(self.seen.iter())
            .filter_map(|(&field, s)| {
                s.map(|(name, evidence)| Finding {
                    kind: Kind::PrivacyRequestIgnored,
                    field,
                    name,
                    evidence,
                })
            })
    }
}

/// `Privacy: session` not honoured: an SDP connection address is the
/// sender's own signalling address (a Contact host, or for a request the
/// topmost Via sent-by), so no media relay anonymises it (RFC 3323 §5.2).
/// The evidence is the Contact or Via that matches.
pub fn session_not_anonymised<'a>(msg: &Message<'a>, sdp: Option<&Sdp<'a>>) -> Option<Finding<'a>> {
    let sdp = sdp?;
    let media: Vec<IpAddr> = sdp
        .media_endpoints()
        .map(|e| e.rtp_ip)
        .take(crate::sdp::MAX_MEDIA)
        .collect();
    if media.is_empty() {
        return None;
    }
    let request = matches!(msg.start, StartLine::Request { .. });
    let mut first_via = true;
    for h in msg.headers.iter().take(64) {
        let hit = match h.name {
            HeaderName::Contact => {
                addr::uris(h.value).any(|u| parse_ip(u.host).is_some_and(|ip| media.contains(&ip)))
            }
            HeaderName::Via if first_via => {
                first_via = false;
                let mut hit = false;
                if request {
                    // Only the topmost Via is the sender's own (§18.1.1).
                    let top = h.value.split(|&b| b == b',').next().unwrap_or(h.value);
                    addr::via_hosts(top, |host| {
                        hit |= parse_ip(host).is_some_and(|ip| media.contains(&ip));
                    });
                }
                hit
            }
            _ => false,
        };
        if hit {
            return Some(Finding {
                kind: Kind::PrivacyRequestIgnored,
                field: Field::Session,
                name: h.raw_name,
                evidence: h.value,
            });
        }
    }
    None
}

/// The Call-ID's host part is a public address or a DNS host name: it
/// names a machine outside the local network (RFC 3261 §8.1.1.4 suggests
/// it; topology hiding rewrites it). A private address is `private_address`.
pub fn call_id_topology(value: &[u8]) -> bool {
    let Some(at) = value.iter().rposition(|&b| b == b'@') else {
        return false;
    };
    let host = addr::host_of_hostport(trim(value.get(at + 1..).unwrap_or(&[])));
    match parse_ip(host) {
        Some(ip) => !is_private(ip) && !ip.is_unspecified() && !ip.is_multicast(),
        None => is_host_name(host),
    }
}

/// A DNS name: at least two labels of letters, digits and `-`, the last
/// alphabetic (a TLD), so a random token after `@` does not count.
fn is_host_name(host: &[u8]) -> bool {
    let host = host.strip_suffix(b".").unwrap_or(host);
    if host.is_empty() || host.len() > 253 {
        return false;
    }
    let mut labels = 0usize;
    let mut last: &[u8] = &[];
    for l in host.split(|&b| b == b'.') {
        if l.is_empty()
            || l.len() > 63
            || !l.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        {
            return false;
        }
        labels += 1;
        last = l;
    }
    labels >= 2 && last.len() >= 2 && last.iter().all(u8::is_ascii_alphabetic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_id_hosts() {
        for (v, want) in [
            ("a84b4c76e66710@pc33.atlanta.com", true),
            ("1-2345@198.51.100.7", true),
            ("1-2345@[2001:db8::1]:5060", true),
            ("1-2345@198.51.100.7:5060", true),
            ("x@10.0.0.1", false),
            ("x@127.0.0.1", false),
            ("x@0.0.0.0", false),
            ("x@[fd00::1]", false),
            ("f81d4fae7dec11d0a76500a0c91e6bf6", false),
            ("abc@def", false),
            ("abc@a1b2.c3d4", false),
            ("abc@", false),
            ("abc@host_name.example.com", false),
        ] {
            assert_eq!(call_id_topology(v.as_bytes()), want, "{v}");
        }
    }

    #[test]
    fn asks() {
        let mut a = Asks::default();
        a.add(b"id");
        assert_eq!(a, Asks::default());
        a.add(b"Header ; session");
        assert!(a.header && a.session);
    }

    #[test]
    fn random_call_ids_never_panic() {
        crate::testkit::random::for_random_inputs(b"@.:[]-aZ09", 20_000, 80, |buf, _| {
            let _ = call_id_topology(buf);
        });
    }
}
