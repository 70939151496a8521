//! Tunnels and encapsulations a mirror port carries: PPPoE, MPLS, GRE (with
//! PPP, transparent Ethernet bridging and ERSPAN), VXLAN and Geneve, plus the
//! depth check shared with IP-in-IP.
//!
//! Owner: `decode`. Invariant: every function here removes exactly one
//! encapsulation, calls [`enter`] first (so nesting stops at
//! [`super::MAX_LAYERS`]), and hands the inner bytes back to the generic
//! decoders in `mod.rs`; no state, no indexing.

use super::{
    be16, be32, err, ether_payload, ethernet, ip_by_version, ipv4, ipv6, DecodeError, Decoded,
    Layer, Reason,
};

/// Count one more tunnel layer, or refuse with `TooManyLayers`.
pub(super) fn enter(tunnels: u8) -> Result<u8, DecodeError> {
    if tunnels >= super::MAX_LAYERS {
        err(Layer::Tunnel, Reason::TooManyLayers)
    } else {
        Ok(tunnels + 1)
    }
}

/// PPP protocol numbers (RFC 1661 §2, IANA PPP DLL protocol numbers).
mod ppp {
    pub const IPV4: u16 = 0x0021;
    pub const IPV6: u16 = 0x0057;
}

/// GRE protocol types: ethertypes, plus the ones only GRE uses.
mod greproto {
    /// Transparent Ethernet Bridging (RFC 1701): an Ethernet frame follows.
    pub const TEB: u16 = 0x6558;
    /// PPP (RFC 2637 enhanced GRE, PPTP).
    pub const PPP: u16 = 0x880b;
    /// ERSPAN type I (no header) and II (8-byte header).
    pub const ERSPAN_II: u16 = 0x88be;
    /// ERSPAN type III (12-byte header, optional 8-byte subheader).
    pub const ERSPAN_III: u16 = 0x22eb;
}

/// UDP ports of UDP-carried tunnels.
mod udpport {
    /// VXLAN, RFC 7348 §5.
    pub const VXLAN: u16 = 4789;
    /// Geneve, RFC 8926 §3.3.
    pub const GENEVE: u16 = 6081;
}

/// A PPP frame: optional address/control (0xff 0x03, RFC 1662 §3.1), then the
/// protocol, one byte when compressed (RFC 1661 §6.5: odd first byte).
/// Link/network control frames (LCP, IPCP, ...) are not IP: `Ok(None)`.
fn ppp_frame(bytes: &[u8], tunnels: u8) -> Decoded<'_> {
    // 0xff is the all-stations address, never a (compressed) protocol.
    let bytes = match bytes {
        [0xff, 0x03, rest @ ..] => rest,
        [0xff] => return err(Layer::Tunnel, Reason::Truncated),
        [0xff, ..] => return err(Layer::Tunnel, Reason::Malformed),
        _ => bytes,
    };
    let (proto, rest) = match bytes {
        [b, rest @ ..] if b & 1 == 1 => (u16::from(*b), rest),
        [a, b, rest @ ..] => (u16::from_be_bytes([*a, *b]), rest),
        _ => return err(Layer::Tunnel, Reason::Truncated),
    };
    match proto {
        ppp::IPV4 => ipv4(rest, tunnels),
        ppp::IPV6 => ipv6(rest, tunnels),
        _ => Ok(None),
    }
}

/// PPPoE session stage (RFC 2516 §4): ver/type 0x11, code 0, session id,
/// length, then a PPP protocol field (no address/control).
pub(super) fn pppoe(bytes: &[u8], tunnels: u8) -> Decoded<'_> {
    let tunnels = enter(tunnels)?;
    let (Some(vt), Some(len), Some(proto)) = (bytes.first(), be16(bytes, 4), be16(bytes, 6)) else {
        return err(Layer::Tunnel, Reason::Truncated);
    };
    if *vt != 0x11 {
        return err(Layer::Tunnel, Reason::Malformed);
    }
    // The PPPoE length covers the PPP protocol field and payload; use it to
    // cut Ethernet padding, but never beyond what was captured.
    let end = 6usize.saturating_add(usize::from(len)).min(bytes.len());
    let rest = bytes.get(8..end.max(8)).unwrap_or(&[]);
    match proto {
        ppp::IPV4 => ipv4(rest, tunnels),
        ppp::IPV6 => ipv6(rest, tunnels),
        _ => Ok(None),
    }
}

/// MPLS label stack (RFC 3032 §2.1): 4-byte entries until the S bit; the
/// payload type is not signalled, so guess IP from the version nibble (as
/// every sniffer does); anything else (pseudowires) is `Ok(None)`.
pub(super) fn mpls(bytes: &[u8], tunnels: u8) -> Decoded<'_> {
    let tunnels = enter(tunnels)?;
    let mut rest = bytes;
    // A label stack deeper than this is not real traffic.
    for _ in 0..16 {
        let Some(entry) = be32(rest, 0) else {
            return err(Layer::Tunnel, Reason::Truncated);
        };
        rest = rest.get(4..).unwrap_or(&[]);
        if entry & 0x100 != 0 {
            return match rest.first().map(|b| b >> 4) {
                Some(4) => ipv4(rest, tunnels),
                Some(6) => ipv6(rest, tunnels),
                Some(_) => Ok(None),
                None => err(Layer::Tunnel, Reason::Truncated),
            };
        }
    }
    err(Layer::Tunnel, Reason::TooManyLayers)
}

/// GRE flag bits (RFC 2784 §2, RFC 2890 §2, RFC 2637 §4.1).
mod greflag {
    pub const CHECKSUM: u16 = 0x8000;
    pub const ROUTING: u16 = 0x4000;
    pub const KEY: u16 = 0x2000;
    pub const SEQ: u16 = 0x1000;
    /// Enhanced GRE (version 1) only.
    pub const ACK: u16 = 0x0080;
    pub const VERSION: u16 = 0x0007;
}

/// A GRE packet (IP protocol 47).
pub(super) fn gre(bytes: &[u8], tunnels: u8) -> Decoded<'_> {
    let tunnels = enter(tunnels)?;
    let (Some(flags), Some(proto)) = (be16(bytes, 0), be16(bytes, 2)) else {
        return err(Layer::Tunnel, Reason::Truncated);
    };
    let has = |f: u16| flags & f != 0;
    let hlen = match flags & greflag::VERSION {
        0 => {
            // RFC 1701 source routing is deprecated (RFC 2784 §2.1 says a
            // receiver should discard it); its variable SRE list is not walked.
            if has(greflag::ROUTING) {
                return err(Layer::Tunnel, Reason::Malformed);
            }
            // Checksum+reserved, key, sequence: 4 bytes each when flagged.
            4 + 4 * usize::from(has(greflag::CHECKSUM))
                + 4 * usize::from(has(greflag::KEY))
                + 4 * usize::from(has(greflag::SEQ))
        }
        1 => {
            // RFC 2637 §4.1: the key (payload length + call id) is mandatory,
            // sequence and acknowledgment optional.
            if !has(greflag::KEY) {
                return err(Layer::Tunnel, Reason::Malformed);
            }
            8 + 4 * usize::from(has(greflag::SEQ)) + 4 * usize::from(has(greflag::ACK))
        }
        _ => return err(Layer::Tunnel, Reason::Malformed),
    };
    let Some(inner) = bytes.get(hlen..) else {
        return err(Layer::Tunnel, Reason::Truncated);
    };
    match proto {
        greproto::TEB => ethernet(inner, tunnels),
        greproto::PPP => ppp_frame(inner, tunnels),
        greproto::ERSPAN_II => {
            // ERSPAN type I has no sequence number and no header; type II
            // sets S and has an 8-byte header with version 1 (draft-foschiano-erspan §4).
            if !has(greflag::SEQ) {
                return ethernet(inner, tunnels);
            }
            let Some(ver) = inner.first().map(|b| b >> 4) else {
                return err(Layer::Tunnel, Reason::Truncated);
            };
            if ver != 1 {
                return err(Layer::Tunnel, Reason::Malformed);
            }
            match inner.get(8..) {
                Some(frame) => ethernet(frame, tunnels),
                None => err(Layer::Tunnel, Reason::Truncated),
            }
        }
        greproto::ERSPAN_III => erspan3(inner, tunnels),
        // An ethertype: IPv4, IPv6, MPLS, a VLAN tag, ...
        et => ether_payload(et, inner, tunnels),
    }
}

/// ERSPAN type III (draft-foschiano-erspan §4.3): 12-byte header; word 3 is
/// SGT(16) P(1) FT(5) HW-ID(6) D(1) Gra(2) O(1). FT 0 is Ethernet, 2 is IP.
/// O says an 8-byte platform-specific subheader follows.
fn erspan3(bytes: &[u8], tunnels: u8) -> Decoded<'_> {
    let (Some(ver), Some(word3)) = (bytes.first().map(|b| b >> 4), be32(bytes, 8)) else {
        return err(Layer::Tunnel, Reason::Truncated);
    };
    if ver != 2 {
        return err(Layer::Tunnel, Reason::Malformed);
    }
    let frame_type = (word3 >> 10) & 0x1f;
    let hlen = if word3 & 1 != 0 { 20 } else { 12 };
    let Some(inner) = bytes.get(hlen..) else {
        return err(Layer::Tunnel, Reason::Truncated);
    };
    match frame_type {
        0 => ethernet(inner, tunnels),
        2 => ip_by_version(inner, tunnels),
        _ => Ok(None),
    }
}

/// UDP-carried tunnels, recognised by destination port and a plausible
/// header; `None` when the datagram is not one (then it is plain UDP).
pub(super) fn udp_tunnel(dst_port: u16, data: &[u8], tunnels: u8) -> Option<Decoded<'_>> {
    match dst_port {
        udpport::VXLAN => {
            // RFC 7348 §5: flags byte with I (0x08) set, 24-bit VNI, 8 bytes.
            let flags = *data.first()?;
            if flags & 0x08 == 0 || data.len() < 8 {
                return None;
            }
            let inner = data.get(8..)?;
            Some(enter(tunnels).and_then(|t| ethernet(inner, t)))
        }
        udpport::GENEVE => {
            // RFC 8926 §3.4: Ver(2) OptLen(6) | O C Rsvd | Protocol | VNI+Rsvd,
            // then OptLen*4 bytes of options.
            let first = *data.first()?;
            if first >> 6 != 0 {
                return None;
            }
            let proto = be16(data, 2)?;
            let hlen = 8 + 4 * usize::from(first & 0x3f);
            let inner = data.get(hlen..)?;
            Some(enter(tunnels).and_then(|t| match proto {
                greproto::TEB => ethernet(inner, t),
                et => ether_payload(et, inner, t),
            }))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{eth, ipv4_udp, sip_of, udp, udp_ports};
    use super::super::*;
    use crate::testkit::frames::ipv4;

    /// Outer Ethernet + IPv4 (proto; 192.0.2.1 > 192.0.2.2, DF) around `inner`.
    fn outer_ip(proto: u8, inner: &[u8]) -> Vec<u8> {
        eth(
            0x0800,
            &ipv4([192, 0, 2, 1], [192, 0, 2, 2], proto, 1, 0x4000, inner),
        )
    }

    fn inner_eth_sip() -> Vec<u8> {
        eth(0x0800, &ipv4_udp(5060, 5060, b"OPTIONS sip:x SIP/2.0\r\n"))
    }

    #[test]
    fn prefixes_of_tunnel_frames() {
        use super::super::tests::assert_prefixes_truncated;
        let mut teb = vec![0x20, 0x00, 0x65, 0x58, 0, 0, 0, 1]; // K; TEB; key
        teb.extend_from_slice(&inner_eth_sip());
        let mut e2 = vec![
            0x10, 0x00, 0x88, 0xbe, 0, 0, 0, 1, 0x10, 0x64, 0, 5, 0, 0, 0, 0,
        ];
        e2.extend_from_slice(&inner_eth_sip());
        let mut e3 = vec![
            0x10, 0x00, 0x22, 0xeb, 0, 0, 0, 1, 0x20, 0x64, 0, 5, 0, 0, 0, 0, 0, 0, 0, 1,
        ];
        e3.extend_from_slice(&[0; 8]);
        e3.extend_from_slice(&inner_eth_sip());
        let mut ppp = vec![
            0x30, 0x81, 0x88, 0x0b, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0xff, 0x03, 0x00, 0x21,
        ];
        ppp.extend_from_slice(&ipv4_udp(5060, 5060, b"SIP/2.0 100 Trying"));
        let mut vx = vec![0x08, 0, 0, 0, 0, 0, 1, 0];
        vx.extend_from_slice(&inner_eth_sip());
        let frames = [
            outer_ip(47, &teb),
            outer_ip(47, &e2),
            outer_ip(47, &e3),
            outer_ip(47, &ppp),
            outer_ip(17, &udp(1, 4789, &vx)),
            outer_ip(4, &ipv4_udp(5060, 5060, b"x")),
        ];
        for f in &frames {
            assert_prefixes_truncated(LinkType::Ethernet, f);
        }
    }

    #[test]
    fn gre_plain_ipv4() {
        let mut g = vec![
            0x00, 0x00, // no flags, version 0
            0x08, 0x00, // IPv4
        ];
        g.extend_from_slice(&ipv4_udp(5060, 5061, b"SIP/2.0 200 OK\r\n"));
        let f = outer_ip(47, &g);
        let p = decode(LinkType::Ethernet, &f).unwrap().unwrap();
        assert_eq!(p.tunnels, 1);
        assert_eq!(udp_ports(&p), Some((5060, 5061)));
        assert_eq!(sip_of(&p), b"SIP/2.0 200 OK\r\n");
    }

    #[test]
    fn gre_key_seq_checksum_teb() {
        let mut g = vec![
            0xb0, 0x00, // C, K, S; version 0
            0x65, 0x58, // transparent Ethernet bridging
            0x12, 0x34, 0x00, 0x00, // checksum + reserved
            0x00, 0x00, 0x00, 0x2a, // key
            0x00, 0x00, 0x00, 0x07, // sequence
        ];
        g.extend_from_slice(&inner_eth_sip());
        let frame = outer_ip(47, &g);
        let p = decode(LinkType::Ethernet, &frame).unwrap().unwrap();
        assert_eq!(p.tunnels, 1);
        assert_eq!(udp_ports(&p), Some((5060, 5060)));
    }

    #[test]
    fn gre_routing_is_malformed_and_unknown_proto_is_none() {
        let g = [0x40, 0x00, 0x08, 0x00, 0, 0, 0, 0];
        let e = decode(LinkType::Ethernet, &outer_ip(47, &g)).unwrap_err();
        assert_eq!(
            e,
            DecodeError {
                layer: Layer::Tunnel,
                reason: Reason::Malformed
            }
        );
        // GRE keepalive-like payload of an unknown protocol type.
        let g = [0x00, 0x00, 0x12, 0x34, 1, 2, 3, 4];
        assert!(decode(LinkType::Ethernet, &outer_ip(47, &g))
            .unwrap()
            .is_none());
        // Key flagged but cut.
        let g = [0x20, 0x00, 0x08, 0x00, 0, 0];
        let e = decode(LinkType::Ethernet, &outer_ip(47, &g)).unwrap_err();
        assert_eq!(
            e,
            DecodeError {
                layer: Layer::Tunnel,
                reason: Reason::Truncated
            }
        );
    }

    #[test]
    fn enhanced_gre_ppp() {
        // As in ndpi_gre.pcapng: GREv1 with key, seq and ack, PPP with
        // address/control, protocol 0x0021.
        let inner = ipv4_udp(5060, 5060, b"SIP/2.0 100 Trying\r\n");
        let mut g = vec![
            0x30, 0x81, // K, S, A; version 1
            0x88, 0x0b, // PPP
        ];
        g.extend_from_slice(&((inner.len() + 4) as u16).to_be_bytes()); // payload length
        g.extend_from_slice(&[0x98, 0x50]); // call id
        g.extend_from_slice(&[0, 0, 0, 0x6a, 0, 0, 0, 0x8c]); // seq, ack
        g.extend_from_slice(&[0xff, 0x03, 0x00, 0x21]); // PPP addr, ctrl, IPv4
        g.extend_from_slice(&inner);
        let frame = outer_ip(47, &g);
        let p = decode(LinkType::Ethernet, &frame).unwrap().unwrap();
        assert_eq!(p.tunnels, 1);
        assert!(sip_of(&p).starts_with(b"SIP/2.0 100"));
        // Compressed protocol field (one byte, 0x21), no address/control.
        let mut g2 = vec![0x20, 0x01, 0x88, 0x0b, 0, 0, 0, 0, 0x21];
        g2.extend_from_slice(&inner);
        let frame = outer_ip(47, &g2);
        let p = decode(LinkType::Ethernet, &frame).unwrap().unwrap();
        assert_eq!(udp_ports(&p), Some((5060, 5060)));
        // LCP is not IP.
        let g3 = [
            0x20, 0x01, 0x88, 0x0b, 0, 0, 0, 0, 0xff, 0x03, 0xc0, 0x21, 1, 1, 0, 4,
        ];
        assert!(decode(LinkType::Ethernet, &outer_ip(47, &g3))
            .unwrap()
            .is_none());
        // Version 1 without key is malformed.
        let g4 = [0x00, 0x01, 0x88, 0x0b, 0, 0, 0, 0];
        assert_eq!(
            decode(LinkType::Ethernet, &outer_ip(47, &g4))
                .unwrap_err()
                .reason,
            Reason::Malformed
        );
    }

    #[test]
    fn erspan_type_1_2_3() {
        // Type II: GRE with S, 8-byte ERSPAN header (version 1).
        let mut g = vec![
            0x10, 0x00, 0x88, 0xbe, // S; ERSPAN
            0x00, 0x00, 0x00, 0x01, // sequence
            0x10, 0x64, 0x00, 0x05, // ver 1, vlan 100, session 5
            0x00, 0x00, 0x00, 0x00, // reserved, index
        ];
        g.extend_from_slice(&inner_eth_sip());
        let frame = outer_ip(47, &g);
        let p = decode(LinkType::Ethernet, &frame).unwrap().unwrap();
        assert_eq!((p.tunnels, udp_ports(&p)), (1, Some((5060, 5060))));

        // Type I: no S, Ethernet right after GRE.
        let mut g = vec![0x00, 0x00, 0x88, 0xbe];
        g.extend_from_slice(&inner_eth_sip());
        let frame = outer_ip(47, &g);
        let p = decode(LinkType::Ethernet, &frame).unwrap().unwrap();
        assert_eq!(udp_ports(&p), Some((5060, 5060)));

        // Type III without, then with, the platform subheader (O flag).
        for o in [false, true] {
            let mut g = vec![
                0x10,
                0x00,
                0x22,
                0xeb, // S; ERSPAN III
                0x00,
                0x00,
                0x00,
                0x01, // sequence
                0x20,
                0x64,
                0x00,
                0x05, // ver 2, vlan 100, session 5
                0x00,
                0x00,
                0x00,
                0x00, // timestamp
                0x00,
                0x00,                        // SGT
                0x00,                        // P=0, FT=0 (Ethernet), HW id high bits
                if o { 0x01 } else { 0x00 }, // HW id, D, Gra, O
            ];
            if o {
                g.extend_from_slice(&[0x08, 0, 0, 0, 0, 0, 0, 0]); // platform subheader
            }
            g.extend_from_slice(&inner_eth_sip());
            let frame = outer_ip(47, &g);
            let p = decode(LinkType::Ethernet, &frame).unwrap().unwrap();
            assert_eq!(udp_ports(&p), Some((5060, 5060)), "o={o}");
        }
        // Type II header cut.
        let g = [0x10, 0x00, 0x88, 0xbe, 0, 0, 0, 1, 0x10, 0x64];
        assert_eq!(
            decode(LinkType::Ethernet, &outer_ip(47, &g))
                .unwrap_err()
                .reason,
            Reason::Truncated
        );
    }

    #[test]
    fn vxlan_and_geneve() {
        let mut vx = vec![
            0x08, 0x00, 0x00, 0x00, // I flag
            0x00, 0x01, 0x00, 0x00, // VNI 256
        ];
        vx.extend_from_slice(&inner_eth_sip());
        let f = outer_ip(17, &udp(49152, 4789, &vx));
        let p = decode(LinkType::Ethernet, &f).unwrap().unwrap();
        assert_eq!((p.tunnels, udp_ports(&p)), (1, Some((5060, 5060))));

        // No I flag: plain UDP to port 4789.
        let mut vx2 = vx.clone();
        vx2[0] = 0;
        let frame = outer_ip(17, &udp(49152, 4789, &vx2));
        let p = decode(LinkType::Ethernet, &frame).unwrap().unwrap();
        assert_eq!((p.tunnels, udp_ports(&p)), (0, Some((49152, 4789))));

        let mut gn = vec![
            0x01, 0x00, 0x65, 0x58, // ver 0, 1 word of options; TEB
            0x00, 0x00, 0x01, 0x00, // VNI
            0x01, 0x02, 0x03, 0x00, // one option word
        ];
        gn.extend_from_slice(&inner_eth_sip());
        let frame = outer_ip(17, &udp(1234, 6081, &gn));
        let p = decode(LinkType::Ethernet, &frame).unwrap().unwrap();
        assert_eq!((p.tunnels, udp_ports(&p)), (1, Some((5060, 5060))));
    }

    #[test]
    fn ip_in_ip_and_depth_limit() {
        // IPv4 in IPv4 (protocol 4).
        let inner = ipv4_udp(5060, 5060, b"x");
        let frame = outer_ip(4, &inner);
        let p = decode(LinkType::Ethernet, &frame).unwrap().unwrap();
        assert_eq!((p.tunnels, udp_ports(&p)), (1, Some((5060, 5060))));
        // Nest GRE(IPv4) MAX_LAYERS times; one more is refused.
        let mut ip = inner.clone();
        for _ in 0..MAX_LAYERS {
            let mut g = vec![0x00, 0x00, 0x08, 0x00];
            g.extend_from_slice(&ip);
            ip = outer_ip(47, &g)[14..].to_vec();
        }
        let mut f = eth(0x0800, &[]);
        f.extend_from_slice(&ip);
        let p = decode(LinkType::Ethernet, &f).unwrap().unwrap();
        assert_eq!(p.tunnels, MAX_LAYERS);
        let mut g = vec![0x00, 0x00, 0x08, 0x00];
        g.extend_from_slice(&ip);
        let e = decode(LinkType::Ethernet, &outer_ip(47, &g)).unwrap_err();
        assert_eq!(
            e,
            DecodeError {
                layer: Layer::Tunnel,
                reason: Reason::TooManyLayers
            }
        );
    }

    #[test]
    fn pppoe_session() {
        let inner = ipv4_udp(5060, 5060, b"INFO sip:x SIP/2.0\r\n");
        let mut f = eth(0x8864, &[]);
        f.extend_from_slice(&[
            0x11, 0x00, // ver 1 type 1, code 0 (session data)
            0x12, 0x34, // session id
        ]);
        f.extend_from_slice(&((inner.len() + 2) as u16).to_be_bytes()); // length
        f.extend_from_slice(&[0x00, 0x21]); // PPP: IPv4
        f.extend_from_slice(&inner);
        f.extend_from_slice(&[0; 6]); // Ethernet padding
        let p = decode(LinkType::Ethernet, &f).unwrap().unwrap();
        assert_eq!((p.tunnels, udp_ports(&p)), (1, Some((5060, 5060))));
        assert!(!p.truncated);
        // LCP echo over PPPoE: not IP.
        let mut f2 = eth(0x8864, &[]);
        f2.extend_from_slice(&[0x11, 0x00, 0x12, 0x34, 0x00, 0x06, 0xc0, 0x21, 9, 1, 0, 4]);
        assert!(decode(LinkType::Ethernet, &f2).unwrap().is_none());
        // Header cut.
        let e = decode(LinkType::Ethernet, &f[..18]).unwrap_err();
        assert_eq!(
            e,
            DecodeError {
                layer: Layer::Tunnel,
                reason: Reason::Truncated
            }
        );
    }

    #[test]
    fn mpls_stack() {
        let mut f = eth(0x8847, &[]);
        f.extend_from_slice(&[
            0x00, 0x01, 0x00, 0x40, // label 16, S=0
            0x00, 0x02, 0x01, 0x40, // label 32, S=1
        ]);
        f.extend_from_slice(&ipv4_udp(5060, 5060, b"x"));
        let p = decode(LinkType::Ethernet, &f).unwrap().unwrap();
        assert_eq!((p.tunnels, udp_ports(&p)), (1, Some((5060, 5060))));
    }
}
