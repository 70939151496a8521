//! Stable pseudonymous addresses: each IP address of the capture becomes an
//! address derived from its keyed pseudonym, the same in packet headers, in
//! SIP headers and in SDP, so tshark still pairs dialogs and media streams.
//!
//! Private, shared (100.64/10), link-local and unique-local addresses map
//! into 10.0.0.0/8 and fd00::/8; public ones into 198.18.0.0/15 (RFC 2544
//! benchmarking) and 2001:db8::/32 (RFC 3849 documentation), so a redacted
//! capture still shows which side was private. Unspecified, loopback,
//! broadcast and multicast addresses carry no identity and are kept (SDP
//! `c=IN IP4 0.0.0.0` means hold). Two addresses never map to one, and no
//! address maps onto one that appears in the input.

use crate::findings::Pseudonymizer;
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Addresses mapped so far; bounded by the addresses in the capture.
#[derive(Debug, Default)]
pub struct AddrMap {
    map: HashMap<IpAddr, IpAddr>,
    used: HashSet<IpAddr>,
    /// Addresses seen in the input (never produced as output).
    input: HashSet<IpAddr>,
    /// `ip-xxxxxxxx` (the findings pseudonym) → mapped address, for
    /// addresses the redaction turned into pseudonyms inside text.
    by_pseudonym: HashMap<String, IpAddr>,
}

fn keep_as_is(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            a.is_unspecified() || a.is_loopback() || a.is_broadcast() || a.is_multicast()
        }
        IpAddr::V6(a) => a.is_unspecified() || a.is_loopback() || a.is_multicast(),
    }
}

fn private_v4(a: Ipv4Addr) -> bool {
    let o = a.octets();
    a.is_private() || a.is_link_local() || (o[0] == 100 && (o[1] & 0xc0) == 64)
}

fn private_v6(a: Ipv6Addr) -> bool {
    let s = a.segments()[0];
    (s & 0xfe00) == 0xfc00 || (s & 0xffc0) == 0xfe80
}

/// The 4 bytes of `pseudonym(class, id)` (its hex part).
fn tag(p: &Pseudonymizer, class: &str, id: &[u8]) -> [u8; 4] {
    let s = p.pseudonym(class, id);
    let hex = s.rsplit('-').next().unwrap_or("");
    let mut out = [0u8; 4];
    for (i, b) in out.iter_mut().enumerate() {
        *b = hex
            .get(i * 2..i * 2 + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .unwrap_or(0);
    }
    out
}

impl AddrMap {
    pub fn new() -> AddrMap {
        AddrMap::default()
    }

    /// Note an address of the input (before mapping anything), so that no
    /// other address is mapped onto it.
    pub fn note_input(&mut self, ip: IpAddr) {
        self.input.insert(canon(ip));
    }

    /// The pseudonymous address of `ip`.
    pub fn map(&mut self, p: &Pseudonymizer, ip: IpAddr) -> IpAddr {
        let ip = canon(ip);
        if keep_as_is(ip) {
            return ip;
        }
        if let Some(&m) = self.map.get(&ip) {
            return m;
        }
        let text = ip.to_string();
        let mut m = ip;
        for round in 0u32.. {
            let id = if round == 0 {
                text.clone()
            } else {
                format!("{text}#{round}")
            };
            m = candidate(p, ip, id.as_bytes());
            if !self.used.contains(&m) && !self.input.contains(&m) && !keep_as_is(m) {
                break;
            }
        }
        self.map.insert(ip, m);
        self.used.insert(m);
        self.by_pseudonym.insert(p.ip(ip), m);
        m
    }

    /// The mapped address for a findings pseudonym `ip-xxxxxxxx`, if that
    /// address was mapped.
    pub fn by_pseudonym(&self, pseudonym: &str) -> Option<IpAddr> {
        self.by_pseudonym.get(pseudonym).copied()
    }
}

/// IPv4-mapped IPv6 as IPv4 (the pseudonym function does the same).
fn canon(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn candidate(p: &Pseudonymizer, ip: IpAddr, id: &[u8]) -> IpAddr {
    let a = tag(p, "addr", id);
    match ip {
        IpAddr::V4(v4) => {
            if private_v4(v4) {
                IpAddr::V4(Ipv4Addr::new(10, a[1], a[2], a[3]))
            } else {
                IpAddr::V4(Ipv4Addr::new(198, 18 | (a[1] & 1), a[2], a[3]))
            }
        }
        IpAddr::V6(v6) => {
            let b = tag(p, "addr6", id);
            let c = tag(p, "addr6b", id);
            let mut o = [0u8; 16];
            if private_v6(v6) {
                o[0] = 0xfd;
                o[4..8].copy_from_slice(&a);
            } else {
                o[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
                o[4..8].copy_from_slice(&a);
            }
            o[8..12].copy_from_slice(&b);
            o[12..16].copy_from_slice(&c);
            IpAddr::V6(Ipv6Addr::from(o))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_classed_and_distinct() {
        let p = Pseudonymizer::new(&[3u8; 32]);
        let mut m = AddrMap::new();
        let a: IpAddr = "192.168.1.10".parse().unwrap();
        let b: IpAddr = "203.0.113.9".parse().unwrap();
        let ma = m.map(&p, a);
        assert_eq!(m.map(&p, a), ma);
        assert!(matches!(ma, IpAddr::V4(x) if x.octets()[0] == 10));
        let mb = m.map(&p, b);
        assert!(matches!(mb, IpAddr::V4(x) if x.octets()[0] == 198));
        assert_ne!(ma, a);
        assert_eq!(m.by_pseudonym(&p.ip(a)), Some(ma));
        let z: IpAddr = "0.0.0.0".parse().unwrap();
        assert_eq!(m.map(&p, z), z);
        let v6: IpAddr = "2a00:1450::1".parse().unwrap();
        let m6 = m.map(&p, v6);
        assert!(m6.to_string().starts_with("2001:db8:"), "{m6}");
        // A fresh map with the same key gives the same addresses.
        let mut m2 = AddrMap::new();
        assert_eq!(m2.map(&p, a), ma);
    }

    #[test]
    fn never_onto_an_input_address() {
        let p = Pseudonymizer::new(&[3u8; 32]);
        let a: IpAddr = "192.168.1.10".parse().unwrap();
        let first = AddrMap::new().map(&p, a);
        let mut m = AddrMap::new();
        m.note_input(first);
        let again = m.map(&p, a);
        assert_ne!(again, first);
    }
}
