//! The dispatch hash's input read from fixed header offsets, for the
//! common shape of a frame on a mirror port: Ethernet (802.1Q/QinQ tags
//! allowed) or raw IP, IPv4 without fragmentation or IPv6 without extension
//! headers, then UDP or TCP.
//!
//! Invariant: when [`flow_words`] returns `Some`, [`super::decode`] of the
//! same frame returns a UDP or TCP packet with exactly these addresses,
//! protocol and ports (so a flow hashes alike whichever path its frames
//! take, and both directions still meet). Every frame it is unsure of
//! (tunnels, fragments, extension headers, SCTP, a header that
//! `etherparse` would reject, a UDP port that may carry a tunnel) is
//! `None`, and the caller decodes it in full. The worker decodes every
//! frame once more, so nothing is counted here.
//!
//! Why: the capture thread is the one serial stage of the pipeline; the
//! full decode it did only to choose a worker was a third of its own
//! work (offline benchmark, `perf`).

use super::{be16, ethertype, ip_word, ipproto, FlowWords, LinkType, MAX_VLANS};
use std::net::{Ipv4Addr, Ipv6Addr};

/// UDP destination ports where [`super::decode`] may enter a tunnel
/// (VXLAN, Geneve): left to the full decoder.
const TUNNEL_PORTS: [u16; 2] = [4789, 6081];

const IPV4_MIN: usize = 20;
const IPV6_HEADER: usize = 40;
const UDP_HEADER: usize = 8;
const TCP_MIN: usize = 20;

/// See the module documentation.
///
/// `inline(always)` here and on the helpers: with plain `#[inline]` the
/// compiler called `ipv4` out of line and returned the 48-byte
/// `FlowWords` through the stack; the hash then reloaded the ports with
/// loads wider than the stores that wrote them (no store forwarding), the
/// hottest instruction of the capture thread. Inlined, the words stay in
/// registers: audit CPU -7% (`benches/offline.sh`, 2,000-call capture).
#[inline(always)]
pub fn flow_words(link: LinkType, frame: &[u8]) -> Option<FlowWords> {
    match link {
        LinkType::Ethernet => {
            let mut et = be16(frame, 12)?;
            let mut at = 14usize;
            let mut vlans = 0u8;
            while matches!(et, ethertype::VLAN | ethertype::QINQ | ethertype::QINQ_OLD) {
                if vlans >= MAX_VLANS {
                    return None;
                }
                vlans += 1;
                // Tag control (2 bytes), then the next ethertype.
                et = be16(frame, at + 2)?;
                at += 4;
            }
            let rest = frame.get(at..)?;
            match et {
                ethertype::IPV4 => ipv4(rest),
                ethertype::IPV6 => ipv6(rest),
                _ => None,
            }
        }
        LinkType::Raw => match frame.first()? >> 4 {
            4 => ipv4(frame),
            6 => ipv6(frame),
            _ => None,
        },
        LinkType::Ipv4 => ipv4(frame),
        LinkType::Ipv6 => ipv6(frame),
        _ => None,
    }
}

#[inline(always)]
fn ipv4(b: &[u8]) -> Option<FlowWords> {
    let first = *b.first()?;
    let hlen = usize::from(first & 0x0f) * 4;
    if first >> 4 != 4 || hlen < IPV4_MIN || b.len() < hlen {
        return None;
    }
    let total = usize::from(be16(b, 2)?);
    let total = if total == 0 { b.len() } else { total };
    if total < hlen {
        return None;
    }
    // RFC 791 §3.1: MF flag (0x2000) or a fragment offset (low 13 bits).
    if be16(b, 6)? & 0x3fff != 0 {
        return None;
    }
    let src = Ipv4Addr::from(<[u8; 4]>::try_from(b.get(12..16)?).ok()?);
    let dst = Ipv4Addr::from(<[u8; 4]>::try_from(b.get(16..20)?).ok()?);
    let proto = *b.get(9)?;
    let payload = b.get(hlen..total.min(b.len()))?;
    ports(ip_word(src.into()), ip_word(dst.into()), proto, payload)
}

#[inline(always)]
fn ipv6(b: &[u8]) -> Option<FlowWords> {
    if b.len() < IPV6_HEADER || b.first()? >> 4 != 6 {
        return None;
    }
    let claimed = usize::from(be16(b, 4)?);
    let claimed = if claimed == 0 {
        b.len() - IPV6_HEADER
    } else {
        claimed
    };
    let total = IPV6_HEADER + claimed;
    let proto = *b.get(6)?;
    let src = Ipv6Addr::from(<[u8; 16]>::try_from(b.get(8..24)?).ok()?);
    let dst = Ipv6Addr::from(<[u8; 16]>::try_from(b.get(24..40)?).ok()?);
    let payload = b.get(IPV6_HEADER..total.min(b.len()))?;
    ports(ip_word(src.into()), ip_word(dst.into()), proto, payload)
}

#[inline(always)]
fn ports(src: u128, dst: u128, proto: u8, payload: &[u8]) -> Option<FlowWords> {
    match proto {
        ipproto::UDP => {
            if payload.len() < UDP_HEADER {
                return None;
            }
            let dp = be16(payload, 2)?;
            if TUNNEL_PORTS.contains(&dp) {
                return None;
            }
            Some(FlowWords {
                src,
                dst,
                proto,
                ports: Some((be16(payload, 0)?, dp)),
            })
        }
        ipproto::TCP => {
            // RFC 9293 §3.1: data offset in 32-bit words, at least 5;
            // etherparse rejects a header the slice does not hold.
            let doff = usize::from(*payload.get(12)? >> 4) * 4;
            if payload.len() < TCP_MIN || doff < TCP_MIN || payload.len() < doff {
                return None;
            }
            Some(FlowWords {
                src,
                dst,
                proto,
                ports: Some((be16(payload, 0)?, be16(payload, 2)?)),
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{decode, FlowHasher, L4};

    /// What the full decoder makes of a frame, as the hash's input.
    fn full(link: LinkType, frame: &[u8]) -> Option<FlowWords> {
        let p = decode(link, frame).ok()??;
        let ports = match p.l4 {
            L4::Udp {
                src_port, dst_port, ..
            } => (src_port, dst_port),
            L4::Tcp(s) => (s.src_port, s.dst_port),
            _ => return None,
        };
        Some(FlowWords {
            src: ip_word(p.net.src),
            dst: ip_word(p.net.dst),
            proto: p.net.proto,
            ports: Some(ports),
        })
    }

    /// Ethernet / 802.1Q / IPv4 / UDP 5060 → 5062, 8 bytes of payload.
    fn udp_frame() -> Vec<u8> {
        let mut f = vec![
            0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, // MACs
            0x81, 0x00, 0x00, 0x07, // 802.1Q, VLAN 7
            0x08, 0x00, // IPv4
            0x45, 0, 0, 36, 0, 1, 0x40, 0, 64, 17, 0, 0, // ver/ihl .. proto UDP
            192, 0, 2, 1, 192, 0, 2, 2, // addresses
            0x13, 0xc4, 0x13, 0xc6, 0, 16, 0, 0, // UDP
        ];
        f.extend_from_slice(b"INVITE x");
        f
    }

    /// Ethernet / IPv6 / TCP 5060 → 40000 with 20-byte header.
    fn tcp6_frame() -> Vec<u8> {
        let mut f = vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x86, 0xdd];
        f.extend_from_slice(&[0x60, 0, 0, 0, 0, 24, 6, 64]);
        f.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        f.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        f.extend_from_slice(&[
            0x13, 0xc4, 0x9c, 0x40, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0, 0,
        ]);
        f.extend_from_slice(&[0, 0, 0, 0, b'S', b'I', b'P', b'/']);
        f
    }

    /// The invariant, on every single-byte change of both frames at
    /// every offset (to several values) and every cut: where the quick
    /// reader answers, the full decoder agrees.
    #[test]
    fn agrees_with_the_full_decoder() {
        let mut answered = 0;
        for base in [udp_frame(), tcp6_frame()] {
            assert_eq!(
                flow_words(LinkType::Ethernet, &base),
                full(LinkType::Ethernet, &base)
            );
            assert!(flow_words(LinkType::Ethernet, &base).is_some());
            for cut in 0..=base.len() {
                let f = &base[..cut];
                if let Some(w) = flow_words(LinkType::Ethernet, f) {
                    assert_eq!(Some(w), full(LinkType::Ethernet, f), "cut {cut}");
                }
            }
            for i in 0..base.len() {
                for v in [
                    0u8, 1, 4, 5, 6, 0x0f, 0x11, 0x20, 0x3f, 0x45, 0x50, 0x60, 0x81, 0x86, 0xff,
                ] {
                    let mut f = base.clone();
                    f[i] = v;
                    for link in [LinkType::Ethernet, LinkType::Raw] {
                        let data = if link == LinkType::Raw {
                            &f[14..]
                        } else {
                            &f[..]
                        };
                        if let Some(w) = flow_words(link, data) {
                            answered += 1;
                            assert_eq!(Some(w), full(link, data), "byte {i} = {v:#x}");
                        }
                    }
                }
            }
        }
        assert!(answered > 500, "{answered}");
    }

    /// Tunnels, fragments and IPv6 extension headers go to the full decoder.
    #[test]
    fn leaves_tunnels_and_fragments_to_the_decoder() {
        let mut vxlan = udp_frame();
        vxlan[40..42].copy_from_slice(&4789u16.to_be_bytes());
        assert_eq!(flow_words(LinkType::Ethernet, &vxlan), None);
        let mut frag = udp_frame();
        frag[24] = 0x20; // MF
        assert_eq!(flow_words(LinkType::Ethernet, &frag), None);
        let mut hbh = tcp6_frame();
        hbh[20] = 0; // next header: hop-by-hop options
        assert_eq!(flow_words(LinkType::Ethernet, &hbh), None);
        // And the hash is the same whichever path computed its input.
        let h = FlowHasher::new([1, 2, 3, 4]);
        let f = udp_frame();
        let p = decode(LinkType::Ethernet, &f).unwrap().unwrap();
        assert_eq!(
            h.hash(&p),
            h.hash_flow(flow_words(LinkType::Ethernet, &f).unwrap())
        );
    }
}
