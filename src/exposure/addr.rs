//! Address classes and the hosts of SIP URIs and Via sent-by values.
//!
//! No state. Hosts are returned as borrowed slices; only literal IP
//! addresses are classified (a hostname tells nothing about the network).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An address that only means something inside one network: RFC 1918,
/// shared address space 100.64/10 (RFC 6598), loopback, link-local
/// (169.254/16, fe80::/10), unique local fc00::/7 (RFC 4193); IPv4-mapped
/// IPv6 addresses are judged by their IPv4 address. Seeing one on the wire
/// discloses the internal addressing plan (and often a NAT).
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_private_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_private_v4(v4),
            None => is_private_v6(v6),
        },
    }
}

fn is_private_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_private() // 10/8, 172.16/12, 192.168/16
        || ip.is_loopback()
        || ip.is_link_local()
        || (a == 100 && (64..128).contains(&b))
}

fn is_private_v6(ip: Ipv6Addr) -> bool {
    let s0 = ip.segments()[0];
    ip.is_loopback() || (s0 & 0xfe00) == 0xfc00 || (s0 & 0xffc0) == 0xfe80
}

/// Parse a host as an IP literal: `1.2.3.4`, `[2001:db8::1]`, `2001:db8::1`.
pub fn parse_ip(host: &[u8]) -> Option<IpAddr> {
    let host = host
        .strip_prefix(b"[")
        .and_then(|h| h.strip_suffix(b"]"))
        .unwrap_or(host);
    if host.is_empty() || host.len() > 45 {
        return None;
    }
    std::str::from_utf8(host).ok()?.parse().ok()
}

/// Split `host[:port]` (IPv6 in brackets, or a bare IPv6 literal) and
/// return the host.
pub fn host_of_hostport(hp: &[u8]) -> &[u8] {
    if hp.first() == Some(&b'[') {
        return match hp.iter().position(|&b| b == b']') {
            Some(e) => hp.get(..=e).unwrap_or(hp),
            None => hp,
        };
    }
    // More than one colon: a bare IPv6 literal (RFC 3261 wants brackets,
    // real traffic does not always use them).
    if hp.iter().filter(|&&b| b == b':').count() > 1 {
        return hp;
    }
    match hp.iter().position(|&b| b == b':') {
        Some(c) => hp.get(..c).unwrap_or(hp),
        None => hp,
    }
}

fn find_ci(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    (from..=hay.len() - needle.len()).find(|&i| {
        hay.get(i..i + needle.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(needle))
    })
}

/// The parts of one SIP/SIPS/TEL URI found in a header value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UriParts<'a> {
    /// User part (before `@`; for `tel:` the number), may be empty.
    pub user: &'a [u8],
    /// Host (IPv6 with brackets), empty for `tel:`.
    pub host: &'a [u8],
}

/// Every `sip:`, `sips:` and `tel:` URI in a header value (name-addr or
/// addr-spec, comma-separated lists), at most `MAX_URIS`.
pub fn uris(value: &[u8]) -> impl Iterator<Item = UriParts<'_>> {
    const MAX_URIS: usize = 16;
    let mut pos = 0usize;
    let mut n = 0usize;
    std::iter::from_fn(move || {
        if n < MAX_URIS && pos < value.len() {
            // The next scheme, at a word start (so `xsip:` does not count).
            let mut best: Option<(usize, usize)> = None;
            for scheme in [&b"sips:"[..], b"sip:", b"tel:"] {
                let mut from = pos;
                while let Some(i) = find_ci(value, scheme, from) {
                    let boundary =
                        i == 0 || !value.get(i - 1).is_some_and(|b| b.is_ascii_alphanumeric());
                    if boundary {
                        if best.is_none_or(|(b, _)| i < b) {
                            best = Some((i, scheme.len()));
                        }
                        break;
                    }
                    from = i + 1;
                }
            }
            let (at, len) = best?;
            n += 1;
            let start = at + len;
            let rest = value.get(start..).unwrap_or(&[]);
            let end = rest
                .iter()
                .position(|&b| matches!(b, b'>' | b',' | b' ' | b'\t' | b'\r' | b'\n' | b'"'))
                .unwrap_or(rest.len());
            pos = start + end.max(1);
            let uri = rest.get(..end).unwrap_or(&[]);
            let is_tel = len == 4 && value.get(at).is_some_and(|b| b.eq_ignore_ascii_case(&b't'));
            // Headers (`?`) and parameters (`;`) end the hostport; a `;` may
            // also sit in the user part (RFC 3261 §19.1.1 user-params), so
            // look for `@` first.
            let (user, hostport) = match uri.iter().position(|&b| b == b'@') {
                Some(a) => (uri.get(..a).unwrap_or(&[]), uri.get(a + 1..).unwrap_or(&[])),
                None if is_tel => (uri, &[][..]),
                None => (&[][..], uri),
            };
            let user = match user.iter().position(|&b| b == b':' || b == b';') {
                Some(c) => user.get(..c).unwrap_or(user),
                None => user,
            };
            let user = if is_tel {
                user.split(|&b| b == b';').next().unwrap_or(user)
            } else {
                user
            };
            let hp_end = hostport
                .iter()
                .position(|&b| b == b';' || b == b'?')
                .unwrap_or(hostport.len());
            let host = host_of_hostport(hostport.get(..hp_end).unwrap_or(&[]));
            return Some(UriParts { user, host });
        }
        None
    })
}

/// Hosts of a Via header value: for each via-parm (comma-separated), the
/// sent-by host and the `received=` and `maddr=` parameters (RFC 3261
/// §20.42, RFC 3581).
pub fn via_hosts(value: &[u8], mut f: impl FnMut(&[u8])) {
    for parm in value.split(|&b| b == b',').take(16) {
        let parm = trim(parm);
        // `SIP/2.0/UDP` then LWS then sent-by.
        let Some(sp) = parm.iter().position(|&b| b.is_ascii_whitespace()) else {
            continue;
        };
        let rest = trim(parm.get(sp..).unwrap_or(&[]));
        let mut parts = rest.split(|&b| b == b';');
        if let Some(sent_by) = parts.next() {
            f(host_of_hostport(trim(sent_by)));
        }
        for p in parts {
            let p = trim(p);
            if let Some(eq) = p.iter().position(|&b| b == b'=') {
                let (k, v) = (trim(&p[..eq]), trim(&p[eq + 1..]));
                if k.eq_ignore_ascii_case(b"received") || k.eq_ignore_ascii_case(b"maddr") {
                    f(v);
                }
            }
        }
    }
}

pub(crate) fn trim(v: &[u8]) -> &[u8] {
    let ws = |b: &u8| b.is_ascii_whitespace();
    let start = v.iter().position(|b| !ws(b)).unwrap_or(v.len());
    let end = v.iter().rposition(|b| !ws(b)).map_or(start, |e| e + 1);
    v.get(start..end).unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn private_classes() {
        for p in [
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "169.254.3.4",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "::1",
            "::ffff:192.168.0.1",
        ] {
            assert!(is_private(ip(p)), "{p}");
        }
        for p in [
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "100.63.255.255",
            "192.0.2.1",
            "0.0.0.0",
            "2001:db8::1",
            "fec0::1",
            "::ffff:8.8.8.8",
            "::",
        ] {
            assert!(!is_private(ip(p)), "{p}");
        }
    }

    #[test]
    fn uri_parts() {
        let all: Vec<_> = uris(b"\"Bob\" <sip:bob@192.168.0.2:5060;transport=udp>;tag=1, <sips:[fe80::1]:5061>, tel:+15551234;phone-context=x").collect();
        assert_eq!(
            all,
            vec![
                UriParts {
                    user: b"bob",
                    host: b"192.168.0.2"
                },
                UriParts {
                    user: b"",
                    host: b"[fe80::1]"
                },
                UriParts {
                    user: b"+15551234",
                    host: b""
                },
            ]
        );
        let u: Vec<_> = uris(b"<SIP:alice:secret@Example.COM?subject=x>").collect();
        assert_eq!(
            u,
            vec![UriParts {
                user: b"alice",
                host: b"Example.COM"
            }]
        );
        assert_eq!(uris(b"*").count(), 0);
        assert_eq!(uris(b"<mailto:x@y>").count(), 0);
        assert_eq!(
            uris(b"sip:").next(),
            Some(UriParts {
                user: b"",
                host: b""
            })
        );
    }

    #[test]
    fn via_sent_by_and_received() {
        let mut got = Vec::new();
        via_hosts(
            b"SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;received=203.0.113.9;rport=5060, SIP/2.0/TCP [2001:db8::2]:5060;maddr=fe80::3",
            |h| got.push(h.to_vec()),
        );
        assert_eq!(
            got,
            vec![
                b"10.0.0.1".to_vec(),
                b"203.0.113.9".to_vec(),
                b"[2001:db8::2]".to_vec(),
                b"fe80::3".to_vec()
            ]
        );
        assert_eq!(parse_ip(b"[2001:db8::2]"), Some(ip("2001:db8::2")));
        assert_eq!(parse_ip(b"host.example"), None);
        assert_eq!(host_of_hostport(b"fe80::1"), b"fe80::1");
    }
}
