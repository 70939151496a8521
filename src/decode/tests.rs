//! Tests of `decode` (link types, VLAN, IP, fragments, transports,
//! truncation), the corpus replay and a random-bytes loop. Tunnel, SCTP,
//! defrag and TCP tests sit beside their code.

use super::defrag::{Defrag, DefragConfig, DefragOutcome};
use super::*;
use crate::testkit::frames;
use std::time::Duration;

// Frame builders: one set for every test, in `crate::testkit::frames`
// (`ipv4_udp`: 192.0.2.1 > 192.0.2.2, DF; `ipv6_with`: 2001:db8::1 >
// 2001:db8::2; `udp`: checksum zero; `eth`: Ethernet II + the rest).
pub(crate) use crate::testkit::frames::{eth, ipv4_udp, ipv6 as ipv6_with, udp};

pub(crate) fn udp_ports(p: &Packet<'_>) -> Option<(u16, u16)> {
    match p.l4 {
        L4::Udp {
            src_port, dst_port, ..
        } => Some((src_port, dst_port)),
        _ => None,
    }
}

pub(crate) fn sip_of<'a>(p: &Packet<'a>) -> &'a [u8] {
    match p.l4 {
        L4::Udp { payload, .. } => payload,
        L4::Tcp(s) => s.payload,
        _ => &[],
    }
}

const SIP: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\n\r\n";

fn e(layer: Layer, reason: Reason) -> DecodeError {
    DecodeError { layer, reason }
}

#[test]
fn labels_are_distinct_snake_case() {
    let l: std::collections::HashSet<_> = Layer::ALL.iter().map(|l| l.as_str()).collect();
    let r: std::collections::HashSet<_> = Reason::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!((l.len(), r.len()), (Layer::ALL.len(), Reason::ALL.len()));
    for s in l.iter().chain(r.iter()) {
        assert!(
            s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{s}"
        );
    }
    assert_eq!(
        e(Layer::Udp, Reason::BadLength).to_string(),
        "udp bad_length"
    );
}

#[test]
fn dlt_mapping() {
    assert_eq!(LinkType::from_dlt(1), Some(LinkType::Ethernet));
    assert_eq!(LinkType::from_dlt(113), Some(LinkType::LinuxSll));
    assert_eq!(LinkType::from_dlt(276), Some(LinkType::LinuxSll2));
    for d in [12, 14, 101] {
        assert_eq!(LinkType::from_dlt(d), Some(LinkType::Raw));
    }
    assert_eq!(LinkType::from_dlt(228), Some(LinkType::Ipv4));
    assert_eq!(LinkType::from_dlt(229), Some(LinkType::Ipv6));
    assert_eq!(LinkType::from_dlt(0), Some(LinkType::Null));
    assert_eq!(LinkType::from_dlt(108), Some(LinkType::Loop));
    assert_eq!(LinkType::from_dlt(127), None); // radiotap
    assert_eq!(LinkType::from_dlt(-1), None);
}

#[test]
fn ethernet_ipv4_udp() {
    let f = eth(0x0800, &ipv4_udp(5060, 5080, SIP));
    let p = decode(LinkType::Ethernet, &f).unwrap().unwrap();
    assert_eq!(p.net.src, "192.0.2.1".parse::<IpAddr>().unwrap());
    assert_eq!(p.net.dst, "192.0.2.2".parse::<IpAddr>().unwrap());
    assert_eq!(p.net.proto, 17);
    assert_eq!(udp_ports(&p), Some((5060, 5080)));
    assert_eq!(sip_of(&p), SIP);
    assert!(!p.truncated && p.tunnels == 0 && p.anomaly.is_none());
}

#[test]
fn ethernet_padding_is_cut_by_ip_length() {
    let mut f = eth(0x0800, &ipv4_udp(1, 2, b"x"));
    f.extend_from_slice(&[0; 17]); // padding to the 60-byte minimum
    let p = decode(LinkType::Ethernet, &f).unwrap().unwrap();
    assert_eq!(sip_of(&p), b"x");
}

#[test]
fn non_ip_is_none() {
    // ARP request.
    let arp = eth(
        0x0806,
        &[
            0, 1, 8, 0, 6, 4, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ],
    );
    assert!(decode(LinkType::Ethernet, &arp).unwrap().is_none());
    // LLDP, and 802.3 length (STP over LLC).
    assert!(decode(LinkType::Ethernet, &eth(0x88cc, &[2, 7, 4]))
        .unwrap()
        .is_none());
    assert!(
        decode(LinkType::Ethernet, &eth(0x0026, &[0x42, 0x42, 0x03]))
            .unwrap()
            .is_none()
    );
    // Null link with AF_APPLETALK-ish family.
    assert!(decode(LinkType::Null, &[16, 0, 0, 0, 1, 2])
        .unwrap()
        .is_none());
}

#[test]
fn vlan_and_qinq() {
    let ip = ipv4_udp(5060, 5060, SIP);
    for tags in [
        &[0x8100u16][..],
        &[0x88a8, 0x8100],
        &[0x9100, 0x8100],
        &[0x8100, 0x8100, 0x8100],
    ] {
        // Ethernet type is the first TPID; each tag: TCI, next type.
        let mut rest = Vec::new();
        for (i, _) in tags.iter().enumerate() {
            rest.extend_from_slice(&[0x00, 0x64]); // PCP 0, VID 100
            let next = tags.get(i + 1).copied().unwrap_or(0x0800);
            rest.extend_from_slice(&next.to_be_bytes());
        }
        rest.extend_from_slice(&ip);
        let f = eth(tags[0], &rest);
        let p = decode(LinkType::Ethernet, &f).unwrap().unwrap();
        assert_eq!(udp_ports(&p), Some((5060, 5060)), "{tags:?}");
        assert_eq!(p.tunnels, 0);
    }
    // Too many tags.
    let mut rest = Vec::new();
    for _ in 0..=MAX_VLANS {
        rest.extend_from_slice(&[0x00, 0x64, 0x81, 0x00]);
    }
    assert_eq!(
        decode(LinkType::Ethernet, &eth(0x8100, &rest)).unwrap_err(),
        e(Layer::Vlan, Reason::TooManyLayers)
    );
    // Tag cut.
    assert_eq!(
        decode(LinkType::Ethernet, &eth(0x8100, &[0x00])).unwrap_err(),
        e(Layer::Vlan, Reason::Truncated)
    );
}

#[test]
fn linux_sll_v1_and_v2() {
    let ip = ipv4_udp(5060, 5060, SIP);
    let mut sll = vec![
        0x00, 0x00, // packet type: to us
        0x00, 0x01, // ARPHRD_ETHER
        0x00, 0x06, // address length
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x00, 0x00, // address, padded to 8
        0x08, 0x00, // protocol: IPv4
    ];
    sll.extend_from_slice(&ip);
    let p = decode(LinkType::LinuxSll, &sll).unwrap().unwrap();
    assert_eq!(udp_ports(&p), Some((5060, 5060)));
    assert_eq!(
        decode(LinkType::LinuxSll, &sll[..15]).unwrap_err(),
        e(Layer::Link, Reason::Truncated)
    );

    let mut sll2 = vec![
        0x08, 0x00, // protocol: IPv4
        0x00, 0x00, // reserved
        0x00, 0x00, 0x00, 0x02, // interface index
        0x00, 0x01, // ARPHRD_ETHER
        0x04, // packet type: outgoing
        0x06, // address length
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x00, 0x00, // address
    ];
    sll2.extend_from_slice(&ip);
    let p = decode(LinkType::LinuxSll2, &sll2).unwrap().unwrap();
    assert_eq!(udp_ports(&p), Some((5060, 5060)));
    assert_eq!(
        decode(LinkType::LinuxSll2, &sll2[..19]).unwrap_err(),
        e(Layer::Link, Reason::Truncated)
    );
    // SLL2 carrying ARP.
    sll2[0..2].copy_from_slice(&[0x08, 0x06]);
    assert!(decode(LinkType::LinuxSll2, &sll2).unwrap().is_none());
}

#[test]
fn raw_ipv4_ipv6_links() {
    let v4 = ipv4_udp(5060, 5060, SIP);
    let v6 = ipv6_with(17, &udp(5060, 5062, SIP));
    for (link, f) in [
        (LinkType::Raw, &v4),
        (LinkType::Raw, &v6),
        (LinkType::Ipv4, &v4),
        (LinkType::Ipv6, &v6),
    ] {
        let p = decode(link, f).unwrap().unwrap();
        assert_eq!(sip_of(&p), SIP, "{link:?}");
    }
    assert_eq!(
        decode(LinkType::Raw, &[0x50, 0, 0]).unwrap_err(),
        e(Layer::Ip, Reason::Malformed)
    );
    assert_eq!(
        decode(LinkType::Raw, &[]).unwrap_err(),
        e(Layer::Ip, Reason::Truncated)
    );
    // The IPv4 link with an IPv6 header is malformed.
    assert_eq!(
        decode(LinkType::Ipv4, &v6).unwrap_err(),
        e(Layer::Ip, Reason::Malformed)
    );
}

#[test]
fn bsd_loopback_both_byte_orders() {
    let v4 = ipv4_udp(5060, 5060, SIP);
    let v6 = ipv6_with(17, &udp(5060, 5060, SIP));
    let mut le = vec![2, 0, 0, 0]; // AF_INET, little-endian host
    le.extend_from_slice(&v4);
    let mut be = vec![0, 0, 0, 2]; // AF_INET, big-endian host
    be.extend_from_slice(&v4);
    assert!(decode(LinkType::Null, &le).unwrap().is_some());
    assert!(decode(LinkType::Null, &be).unwrap().is_some());
    for fam in [24u32, 28, 30] {
        let mut f = fam.to_le_bytes().to_vec();
        f.extend_from_slice(&v6);
        assert!(
            decode(LinkType::Null, &f)
                .unwrap()
                .unwrap()
                .net
                .src
                .is_ipv6(),
            "{fam}"
        );
        // DLT_LOOP is network order.
        let mut f = fam.to_be_bytes().to_vec();
        f.extend_from_slice(&v6);
        assert!(
            decode(LinkType::Loop, &f)
                .unwrap()
                .unwrap()
                .net
                .src
                .is_ipv6(),
            "{fam}"
        );
    }
    assert!(decode(LinkType::Loop, &le).unwrap().is_none()); // 0x02000000 is no family
    assert_eq!(
        decode(LinkType::Null, &[2, 0]).unwrap_err(),
        e(Layer::Link, Reason::Truncated)
    );
}

#[test]
fn ipv4_options_tcp_sctp_other() {
    // IHL 6: one 4-byte option (NOP NOP NOP EOL), TCP SYN with data.
    let mut v = vec![0x46, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 64, 6, 0, 0];
    v.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
    v.extend_from_slice(&[0x01, 0x01, 0x01, 0x00]); // options
    v.extend_from_slice(&[
        0x13, 0xc4, 0x9c, 0x40, // 5060 > 40000
        0x00, 0x00, 0x03, 0xe8, // seq 1000
        0x00, 0x00, 0x00, 0x00, // ack
        0x50, 0x13, // data offset 5; FIN SYN ACK
        0xff, 0xff, 0, 0, 0, 0, // window, checksum, urgent
    ]);
    v.extend_from_slice(b"REGISTER");
    let len = v.len() as u16;
    v[2..4].copy_from_slice(&len.to_be_bytes());
    let p = decode(LinkType::Raw, &v).unwrap().unwrap();
    let L4::Tcp(seg) = p.l4 else { panic!("tcp") };
    assert_eq!((seg.src_port, seg.dst_port, seg.seq), (5060, 40000, 1000));
    assert_eq!(
        seg.flags,
        TcpFlags {
            syn: true,
            fin: true,
            rst: false,
            ack: true
        }
    );
    assert_eq!(seg.payload, b"REGISTER");
    // TCP data offset 4: malformed; TCP header cut: truncated.
    let mut bad = v.clone();
    bad[24 + 12] = 0x40;
    assert_eq!(
        decode(LinkType::Raw, &bad).unwrap_err(),
        e(Layer::Tcp, Reason::Malformed)
    );
    let cut = &v[..24 + 10];
    assert_eq!(
        decode(LinkType::Raw, cut).unwrap_err(),
        e(Layer::Tcp, Reason::Truncated)
    );

    // SCTP: common header then one chunk.
    let mut s = vec![0x13, 0xc4, 0x13, 0xc5, 0, 0, 0, 1, 0, 0, 0, 0];
    s.extend_from_slice(&[
        0, 3, 0, 20, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, b'S', b'I', b'P', b'/',
    ]);
    let frame = ipv6_with(132, &s);
    let p = decode(LinkType::Raw, &frame).unwrap().unwrap();
    let L4::Sctp {
        src_port,
        dst_port,
        chunks,
    } = p.l4
    else {
        panic!("sctp")
    };
    assert_eq!((src_port, dst_port, chunks.len()), (5060, 5061, 20));
    assert_eq!(sctp_data_chunks(chunks).next().unwrap().data, b"SIP/");
    assert_eq!(
        decode(LinkType::Raw, &ipv6_with(132, &s[..11])).unwrap_err(),
        e(Layer::Sctp, Reason::Truncated)
    );

    // ICMPv6 echo: other.
    let frame = ipv6_with(58, &[128, 0, 0, 0, 0, 1, 0, 1]);
    let p = decode(LinkType::Raw, &frame).unwrap().unwrap();
    assert!(matches!(p.l4, L4::Other));
}

#[test]
fn ipv4_bad_headers() {
    let v = ipv4_udp(1, 2, b"abc");
    let mut ihl4 = v.clone();
    ihl4[0] = 0x44;
    assert_eq!(
        decode(LinkType::Raw, &ihl4).unwrap_err(),
        e(Layer::Ip, Reason::Malformed)
    );
    let mut short_total = v.clone();
    short_total[2..4].copy_from_slice(&10u16.to_be_bytes());
    assert_eq!(
        decode(LinkType::Raw, &short_total).unwrap_err(),
        e(Layer::Ip, Reason::BadLength)
    );
    // Total length 0 (segmentation offload): the captured length is used.
    let mut zero = v.clone();
    zero[2..4].copy_from_slice(&[0, 0]);
    assert_eq!(
        sip_of(&decode(LinkType::Raw, &zero).unwrap().unwrap()),
        b"abc"
    );
}

#[test]
fn ipv6_extension_headers() {
    // Hop-by-hop (8 bytes, PadN), routing (type 0 segments left 0, 24 bytes),
    // destination options (8 bytes), then UDP.
    let mut x = vec![43, 0, 1, 4, 0, 0, 0, 0]; // HBH: next routing, len 0, PadN(4)
    x.extend_from_slice(&[60, 2, 0, 0, 0, 0, 0, 0]); // routing: next dest opts, len 2 (24 bytes)
    x.extend_from_slice(&[0; 16]);
    x.extend_from_slice(&[17, 0, 1, 4, 0, 0, 0, 0]); // dest opts: next UDP
    x.extend_from_slice(&udp(5060, 5060, SIP));
    let frame = ipv6_with(0, &x);
    let p = decode(LinkType::Raw, &frame).unwrap().unwrap();
    assert_eq!((p.net.proto, udp_ports(&p)), (17, Some((5060, 5060))));
    // AH (RFC 4302): next UDP, payload len 4 → (4+2)*4 = 24 bytes.
    let mut ah = vec![17, 4, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1];
    ah.extend_from_slice(&[0; 12]); // ICV
    ah.extend_from_slice(&udp(5060, 5060, SIP));
    let frame = ipv6_with(51, &ah);
    let p = decode(LinkType::Raw, &frame).unwrap().unwrap();
    assert_eq!(sip_of(&p), SIP);
    // Ext header overrunning the payload length: malformed; cut by the
    // capture: truncated.
    let over = ipv6_with(0, &[17, 1, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        decode(LinkType::Raw, &over).unwrap_err(),
        e(Layer::Ip, Reason::Malformed)
    );
    let full = ipv6_with(0, &x);
    assert_eq!(
        decode(LinkType::Raw, &full[..40 + 12]).unwrap_err(),
        e(Layer::Ip, Reason::Truncated)
    );
    // Endless chain of hop-by-hop headers.
    let chain: Vec<u8> = (0..40).flat_map(|_| [0u8, 0, 1, 4, 0, 0, 0, 0]).collect();
    assert_eq!(
        decode(LinkType::Raw, &ipv6_with(0, &chain)).unwrap_err(),
        e(Layer::Ip, Reason::TooManyLayers)
    );
}

/// IPv4 fragment of a UDP datagram: `offset` in bytes.
fn v4_frag(id: u16, offset: u16, more: bool, payload: &[u8]) -> Vec<u8> {
    let total = (20 + payload.len()) as u16;
    let fo = (offset / 8) | if more { 0x2000 } else { 0 };
    let mut v = vec![0x45, 0x00];
    v.extend_from_slice(&total.to_be_bytes());
    v.extend_from_slice(&id.to_be_bytes());
    v.extend_from_slice(&fo.to_be_bytes()); // flags + fragment offset
    v.extend_from_slice(&[64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2]);
    v.extend_from_slice(payload);
    v
}

/// IPv6 with a Fragment header.
fn v6_frag(id: u32, offset: u16, more: bool, payload: &[u8]) -> Vec<u8> {
    let mut x = vec![17, 0]; // next header UDP, reserved
    x.extend_from_slice(&(offset | u16::from(more)).to_be_bytes()); // offset (8-byte units << 3) | M
    x.extend_from_slice(&id.to_be_bytes());
    x.extend_from_slice(payload);
    ipv6_with(44, &x)
}

/// The dispatch hash under a fixed test key.
fn flow_hash(p: &Packet<'_>) -> u64 {
    FlowHasher::new([1, 2, 3, 4]).hash(p)
}

fn reassemble_through(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut d = Defrag::new(DefragConfig::default());
    let mut out = None;
    for f in frames {
        let p = decode(LinkType::Raw, f).unwrap().unwrap();
        let L4::Fragment(fr) = p.l4 else {
            panic!("fragment expected")
        };
        assert_eq!(p.net.proto, 17);
        assert_eq!(
            flow_hash(&p),
            flow_hash(&decode(LinkType::Raw, &frames[0]).unwrap().unwrap())
        );
        if let DefragOutcome::Complete(v) = d.push(&p.net, &fr, Duration::from_secs(1)) {
            out = Some((p.net, v));
        }
    }
    let (net, payload) = out.expect("complete");
    let p = decode_reassembled(net, &payload, 0).unwrap().unwrap();
    assert_eq!(udp_ports(&p), Some((5060, 5060)));
    sip_of(&p).to_vec()
}

#[test]
fn ipv4_fragments_in_order_reversed_duplicated() {
    let body: Vec<u8> = (0..100u8).collect();
    let dgram = udp(5060, 5060, &body);
    let frames = vec![
        v4_frag(9, 0, true, &dgram[..48]),
        v4_frag(9, 48, true, &dgram[48..96]),
        v4_frag(9, 96, false, &dgram[96..]),
    ];
    let p = decode(LinkType::Raw, &frames[1]).unwrap().unwrap();
    let L4::Fragment(fr) = p.l4 else { panic!() };
    assert_eq!(
        (fr.id, fr.offset, fr.more, fr.payload.len()),
        (9, 48, true, 48)
    );
    assert_eq!(reassemble_through(&frames), body);
    let rev: Vec<_> = frames.iter().rev().cloned().collect();
    assert_eq!(reassemble_through(&rev), body);
    let dup = vec![
        frames[0].clone(),
        frames[0].clone(),
        frames[2].clone(),
        frames[1].clone(),
    ];
    assert_eq!(reassemble_through(&dup), body);
}

#[test]
fn ipv6_fragments_and_atomic_fragment() {
    let body = b"INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP [2001:db8::1]\r\n\r\n";
    let dgram = udp(5060, 5060, body);
    let frames = vec![
        v6_frag(0xdead, 0, true, &dgram[..40]),
        v6_frag(0xdead, 40, false, &dgram[40..]),
    ];
    let p = decode(LinkType::Raw, &frames[1]).unwrap().unwrap();
    let L4::Fragment(fr) = p.l4 else { panic!() };
    assert_eq!((fr.id, fr.offset, fr.more), (0xdead, 40, false));
    assert_eq!(reassemble_through(&frames), body);
    let rev: Vec<_> = frames.iter().rev().cloned().collect();
    assert_eq!(reassemble_through(&rev), body);
    // Atomic fragment (RFC 6946): offset 0, M clear: decoded as a whole.
    let frame = v6_frag(1, 0, false, &dgram);
    let p = decode(LinkType::Raw, &frame).unwrap().unwrap();
    assert_eq!(sip_of(&p), body);
    // Fragment header cut.
    let f = v6_frag(1, 8, true, &dgram);
    let mut cut = f[..44].to_vec();
    cut[4..6].copy_from_slice(&4u16.to_be_bytes());
    assert_eq!(
        decode(LinkType::Raw, &cut).unwrap_err(),
        e(Layer::Ip, Reason::Malformed)
    );
}

#[test]
fn reassembled_ipv6_with_dest_opts_after_fragment_header() {
    let mut frag_part = vec![17, 0, 1, 4, 0, 0, 0, 0]; // destination options, next UDP
    frag_part.extend_from_slice(&udp(5060, 5060, SIP));
    let net = Net {
        src: "2001:db8::1".parse().unwrap(),
        dst: "2001:db8::2".parse().unwrap(),
        proto: 60,
    };
    let p = decode_reassembled(net, &frag_part, 0).unwrap().unwrap();
    assert_eq!((p.net.proto, sip_of(&p)), (17, SIP));
}

#[test]
fn reassembled_vxlan() {
    let mut vx = vec![0x08, 0, 0, 0, 0, 0, 1, 0];
    vx.extend_from_slice(&eth(0x0800, &ipv4_udp(5060, 5060, SIP)));
    let net = Net {
        src: "192.0.2.1".parse().unwrap(),
        dst: "192.0.2.2".parse().unwrap(),
        proto: 17,
    };
    let payload = udp(50000, 4789, &vx);
    let p = decode_reassembled(net, &payload, 0).unwrap().unwrap();
    // The reassembly and the VXLAN tunnel are a layer each.
    assert_eq!((p.tunnels, sip_of(&p)), (2, SIP));
}

#[test]
fn reassembly_counts_against_the_layer_budget() {
    let net = Net {
        src: "192.0.2.1".parse().unwrap(),
        dst: "192.0.2.2".parse().unwrap(),
        proto: 17,
    };
    let payload = udp(5060, 5060, SIP);
    // A datagram completed at depth d continues at d + 1 ...
    for d in 0..MAX_LAYERS {
        let p = decode_reassembled(net, &payload, d).unwrap().unwrap();
        assert_eq!((p.tunnels, sip_of(&p)), (d + 1, SIP));
    }
    // ... and the budget, not the reassembly, ends a chain.
    assert_eq!(
        decode_reassembled(net, &payload, MAX_LAYERS).unwrap_err(),
        DecodeError::new(Layer::Tunnel, Reason::TooManyLayers)
    );
    // IP-in-IP inside a reassembled datagram: the inner header is one more.
    let inner = ipv4_udp(5060, 5060, SIP);
    let net4 = Net { proto: 4, ..net };
    let p = decode_reassembled(net4, &inner, MAX_LAYERS - 2)
        .unwrap()
        .unwrap();
    assert_eq!(p.tunnels, MAX_LAYERS);
    assert_eq!(
        decode_reassembled(net4, &inner, MAX_LAYERS - 1).unwrap_err(),
        DecodeError::new(Layer::Tunnel, Reason::TooManyLayers)
    );
}

#[test]
fn truncation_strict_then_lax() {
    let f = eth(0x0800, &ipv4_udp(5060, 5060, SIP));
    // Payload cut after the UDP header: packet returned, truncated.
    let cut = &f[..14 + 20 + 8 + 5];
    let p = decode(LinkType::Ethernet, cut).unwrap().unwrap();
    assert!(p.truncated);
    assert!(p.anomaly.is_none());
    assert_eq!(sip_of(&p), &SIP[..5]);
    // Every shorter cut: a header is incomplete.
    for n in 0..14 {
        assert_eq!(
            decode(LinkType::Ethernet, &f[..n]).unwrap_err(),
            e(Layer::Link, Reason::Truncated),
            "{n}"
        );
    }
    // Ethernet header only: no IP header at all.
    for n in 14..34 {
        assert_eq!(
            decode(LinkType::Ethernet, &f[..n]).unwrap_err(),
            e(Layer::Ip, Reason::Truncated),
            "{n}"
        );
    }
    for n in 34..42 {
        assert_eq!(
            decode(LinkType::Ethernet, &f[..n]).unwrap_err(),
            e(Layer::Udp, Reason::Truncated),
            "{n}"
        );
    }
    for n in 42..f.len() {
        let p = decode(LinkType::Ethernet, &f[..n]).unwrap().unwrap();
        assert!(p.truncated, "{n}");
    }
    // IPv6 fixed header cut.
    let v6 = ipv6_with(17, &udp(1, 2, SIP));
    assert_eq!(
        decode(LinkType::Raw, &v6[..39]).unwrap_err(),
        e(Layer::Ip, Reason::Truncated)
    );
    assert!(decode(LinkType::Raw, &v6[..50]).unwrap().unwrap().truncated);
}

#[test]
fn udp_length_cases() {
    // UDP length larger than the (complete) IP payload: kept, flagged.
    let mut v = ipv4_udp(5060, 5060, SIP);
    v[24..26].copy_from_slice(&500u16.to_be_bytes());
    let p = decode(LinkType::Raw, &v).unwrap().unwrap();
    assert_eq!(p.anomaly, Some(e(Layer::Udp, Reason::BadLength)));
    assert_eq!(sip_of(&p), SIP);
    // UDP length below 8.
    v[24..26].copy_from_slice(&3u16.to_be_bytes());
    let p = decode(LinkType::Raw, &v).unwrap().unwrap();
    assert_eq!(
        (p.anomaly, sip_of(&p)),
        (Some(e(Layer::Udp, Reason::BadLength)), SIP)
    );
    // UDP length smaller than the IP payload: trailing bytes are not data.
    v[24..26].copy_from_slice(&12u16.to_be_bytes());
    let p = decode(LinkType::Raw, &v).unwrap().unwrap();
    assert_eq!((p.anomaly, sip_of(&p)), (None, &SIP[..4]));
}

#[test]
fn flow_hash_is_symmetric() {
    let a = ipv4_udp(5060, 40000, SIP);
    let mut b = a.clone();
    // Swap addresses and ports.
    b[12..16].copy_from_slice(&a[16..20]);
    b[16..20].copy_from_slice(&a[12..16]);
    b[20..22].copy_from_slice(&a[22..24]);
    b[22..24].copy_from_slice(&a[20..22]);
    let pa = decode(LinkType::Raw, &a).unwrap().unwrap();
    let pb = decode(LinkType::Raw, &b).unwrap().unwrap();
    assert_eq!(flow_hash(&pa), flow_hash(&pb));
    let c = ipv4_udp(5060, 40002, SIP);
    assert_ne!(
        flow_hash(&pa),
        flow_hash(&decode(LinkType::Raw, &c).unwrap().unwrap())
    );
    // Keyed: another key moves flows elsewhere (one of 1,000 flows hashing
    // alike under two keys is a 2^-64 event each), and stays symmetric.
    let other = FlowHasher::new([9, 8, 7, 6]);
    assert_eq!(other.hash(&pa), other.hash(&pb));
    let moved = (0..1000u16)
        .filter(|i| {
            let f = ipv4_udp(5060, 20000 + i, SIP);
            let p = decode(LinkType::Raw, &f).unwrap().unwrap();
            flow_hash(&p) != other.hash(&p)
        })
        .count();
    assert_eq!(moved, 1000);
    // A fragment hashes on the address pair, both directions alike.
    let fr1 = v4_frag(1, 8, true, &[0; 8]);
    let f1 = decode(LinkType::Raw, &fr1).unwrap().unwrap();
    let mut fr = v4_frag(2, 0, true, &[0; 8]);
    let (s, d) = (fr[12..16].to_vec(), fr[16..20].to_vec());
    fr[12..16].copy_from_slice(&d);
    fr[16..20].copy_from_slice(&s);
    let f2 = decode(LinkType::Raw, &fr).unwrap().unwrap();
    assert_eq!(flow_hash(&f1), flow_hash(&f2));
}

#[test]
fn rtp_and_its_rtcp_hash_alike_over_udp_only() {
    let h = |f: &[u8]| flow_hash(&decode(LinkType::Ethernet, f).unwrap().unwrap());
    let (a, b) = ([192, 0, 2, 1], [192, 0, 2, 2]);
    let rtp = frames::udp4(a, b, 4000, 6000, b"x");
    // RTCP on the next ports, and the reverse direction of it.
    assert_eq!(h(&rtp), h(&frames::udp4(a, b, 4001, 6001, b"x")));
    assert_eq!(h(&rtp), h(&frames::udp4(b, a, 6001, 4001, b"x")));
    // The next pair of ports is another flow.
    assert_ne!(h(&rtp), h(&frames::udp4(a, b, 4002, 6002, b"x")));
    // TCP ports stay apart.
    let t = |sp, dp| frames::tcp4(a, b, sp, dp, 1, false, b"x");
    assert_ne!(h(&t(4000, 6000)), h(&t(4001, 6001)));
}

/// A small deterministic generator (xorshift64*), no dependency needed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let seeds = [
        eth(
            0x0800,
            &ipv4_udp(
                5060,
                4789,
                &eth(0x86dd, &ipv6_with(44, &[17, 0, 0, 9, 0, 0, 0, 1, 1, 2, 3])),
            ),
        ),
        eth(
            0x8100,
            &[
                0, 1, 0x88, 0x64, 0x11, 0, 0, 1, 0, 40, 0, 0x21, 0x45, 0, 0, 40, 0, 0, 0, 0, 9, 47,
                0, 0,
            ],
        ),
        ipv4_udp(1, 6081, &[0, 0, 0x65, 0x58, 0, 0, 0, 0]),
        ipv6_with(0, &[43, 0, 1, 4, 0, 0, 0, 0, 60, 2]),
    ];
    for i in 0..60_000u32 {
        let mut f: Vec<u8> = if i % 2 == 0 {
            let len = (rng.next() % 200) as usize;
            (0..len).map(|_| rng.next() as u8).collect()
        } else {
            // Mutate a seed: flip bytes, cut.
            let mut s = seeds[(rng.next() % seeds.len() as u64) as usize].clone();
            for _ in 0..(rng.next() % 6) {
                let at = (rng.next() % s.len() as u64) as usize;
                s[at] = rng.next() as u8;
            }
            s.truncate((rng.next() % (s.len() as u64 + 1)) as usize);
            s
        };
        if i % 7 == 0 && !f.is_empty() {
            // Make protocol fields likely: IPv4/IPv6 version nibbles, GRE.
            f[0] = if i % 2 == 0 { 0x45 } else { 0x60 };
        }
        for link in LinkType::ALL {
            if let Ok(Some(p)) = decode(link, &f) {
                let _ = flow_hash(&p);
                if let L4::Sctp { chunks, .. } = p.l4 {
                    let _ = sctp_data_chunks(chunks).count();
                }
            }
        }
        let net = Net {
            src: "2001:db8::1".parse().unwrap(),
            dst: "2001:db8::2".parse().unwrap(),
            proto: f.first().copied().unwrap_or(0),
        };
        let _ = decode_reassembled(net, &f, 0);
    }
}

// ------------------------------------------------------------- corpus ----

#[derive(Default, Debug)]
struct FileSummary {
    frames: usize,
    ok_some: usize,
    none: usize,
    errors: Vec<DecodeError>,
    udp: usize,
    tcp: usize,
    sctp: usize,
    fragments: usize,
    tunneled: usize,
    ipv4: usize,
    port_5060: usize,
    payload_prefixes: Vec<Vec<u8>>,
    reassembled_udp: usize,
}

fn summarise(path: &std::path::Path) -> FileSummary {
    let mut cap = pcap::Capture::from_file(path).expect("open corpus file");
    let dlt = cap.get_datalink().0;
    let link = LinkType::from_dlt(dlt)
        .unwrap_or_else(|| panic!("{}: unsupported DLT {dlt}", path.display()));
    let mut s = FileSummary::default();
    let mut defrag = Defrag::new(DefragConfig::default());
    while let Ok(pkt) = cap.next_packet() {
        s.frames += 1;
        match decode(link, pkt.data) {
            Ok(Some(p)) => {
                s.ok_some += 1;
                s.ipv4 += usize::from(p.net.src.is_ipv4());
                s.tunneled += usize::from(p.tunnels > 0);
                match p.l4 {
                    L4::Udp {
                        src_port,
                        dst_port,
                        payload,
                    } => {
                        s.udp += 1;
                        s.port_5060 += usize::from(src_port == 5060 || dst_port == 5060);
                        s.payload_prefixes
                            .push(payload.iter().take(16).copied().collect());
                    }
                    L4::Tcp(_) => s.tcp += 1,
                    L4::Sctp { .. } => s.sctp += 1,
                    L4::Fragment(fr) => {
                        s.fragments += 1;
                        if let DefragOutcome::Complete(v) =
                            defrag.push(&p.net, &fr, Duration::from_secs(1))
                        {
                            if let Ok(Some(r)) = decode_reassembled(p.net, &v, p.tunnels) {
                                s.reassembled_udp += usize::from(matches!(r.l4, L4::Udp { .. }));
                            }
                        }
                    }
                    L4::Other => {}
                }
            }
            Ok(None) => s.none += 1,
            Err(e) => s.errors.push(e),
        }
    }
    s
}

#[test]
fn corpus_replay() {
    let Some(dir) = crate::testkit::corpus::existing() else {
        eprintln!("corpus not found (set SIPSENTINEL_CORPUS); skipping corpus_replay");
        return;
    };
    let names = crate::testkit::corpus::files(&dir);
    assert!(!names.is_empty());
    let mut all = std::collections::HashMap::new();
    for path in &names {
        let s = summarise(path);
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        eprintln!(
            "{name}: frames={} ip={} none={} err={} udp={} tcp={} sctp={} frag={} tunneled={}",
            s.frames,
            s.ok_some,
            s.none,
            s.errors.len(),
            s.udp,
            s.tcp,
            s.sctp,
            s.fragments,
            s.tunneled
        );
        if !s.errors.is_empty() {
            eprintln!(
                "  errors: {:?}",
                s.errors.iter().map(|e| e.to_string()).collect::<Vec<_>>()
            );
        }
        all.insert(name, s);
    }
    let get = |n: &str| {
        all.get(n)
            .unwrap_or_else(|| panic!("{n} missing from corpus"))
    };

    let gre = get("ndpi_gre.pcapng");
    assert_eq!((gre.frames, gre.udp, gre.tunneled), (1, 1, 1));
    assert!(gre.payload_prefixes[0].starts_with(b"SIP/2.0 100"));

    let erspan = get("heplify_erspan_sip_ipv4_udp.pcapng");
    assert!(erspan.errors.is_empty(), "{:?}", erspan.errors);
    assert_eq!(erspan.udp, erspan.frames);
    assert_eq!(erspan.tunneled, erspan.frames);
    assert!(erspan.port_5060 > 0);

    let pppoe = get("ws_DTMFsipinfo_pppoe.pcap");
    assert!(pppoe.errors.is_empty(), "{:?}", pppoe.errors);
    assert_eq!(pppoe.udp, pppoe.frames);
    assert_eq!(pppoe.tunneled, pppoe.frames);

    let sll2 = get("zeek_linux_dlt_sll2.pcap");
    assert!(sll2.ipv4 > 0 && sll2.errors.is_empty());

    let frag = get("sngrep_ipv6frag.pcap");
    assert!(frag.fragments >= 4, "{frag:?}");
    assert_eq!(frag.reassembled_udp, 2);

    let sctp = get("heplify_sip_sctp.pcap");
    assert!(sctp.sctp >= 4);

    let lo = get("sv_sip-body-large.pcap");
    assert_eq!((lo.tcp, lo.errors.len()), (lo.frames, 0));

    let rawip = get("heplify_ipip0_rawip.pcap");
    assert_eq!(rawip.udp, rawip.frames);
}

#[test]
fn corpus_tcp_reassembly_large_body_and_retransmissions() {
    use super::tcp::{StreamKey, TcpConfig, TcpReassembler};
    let Some(dir) = crate::testkit::corpus::existing() else {
        eprintln!("corpus not found; skipping");
        return;
    };
    for (name, needle) in [
        ("sv_sip-body-large.pcap", &b"INVITE"[..]),
        ("heplify_sip_ipv4_tcp_retrans.pcap", b"REGISTER"),
    ] {
        let mut cap = pcap::Capture::from_file(dir.join(name)).unwrap();
        let link = LinkType::from_dlt(cap.get_datalink().0).unwrap();
        let mut r: TcpReassembler<()> = TcpReassembler::new(TcpConfig::default());
        let mut delivered = 0usize;
        let mut seen_needle = false;
        while let Ok(pkt) = cap.next_packet() {
            let Ok(Some(p)) = decode(link, pkt.data) else {
                continue;
            };
            let L4::Tcp(seg) = p.l4 else { continue };
            let key = StreamKey {
                src: p.net.src,
                dst: p.net.dst,
                src_port: seg.src_port,
                dst_port: seg.dst_port,
            };
            if let Some(st) = r.segment(key, &seg, Duration::from_secs(1)) {
                let (bytes, _) = st.parts();
                seen_needle |= bytes.windows(needle.len()).any(|w| w == needle);
                delivered += bytes.len();
                let n = bytes.len();
                st.consume(n);
            }
        }
        let stats = r.take_stats();
        eprintln!("{name}: delivered={delivered} {stats:?}");
        assert!(seen_needle, "{name}");
        if name == "sv_sip-body-large.pcap" {
            assert!(delivered > 65_536);
        } else {
            assert!(stats.retransmitted > 0);
        }
    }
}

/// Every proper prefix of a valid frame is either a cut header
/// (`Err(_, Truncated)`) or a packet flagged `truncated`: strict, then lax.
pub(crate) fn assert_prefixes_truncated(link: LinkType, frame: &[u8]) {
    assert!(decode(link, frame).unwrap().is_some());
    for n in 0..frame.len() {
        match decode(link, &frame[..n]) {
            Err(err) => assert_eq!(err.reason, Reason::Truncated, "prefix {n}: {err}"),
            Ok(Some(p)) => assert!(p.truncated, "prefix {n} not flagged truncated"),
            Ok(None) => panic!("prefix {n} decoded as non-IP"),
        }
    }
}

#[test]
fn prefixes_of_plain_frames() {
    assert_prefixes_truncated(LinkType::Ethernet, &eth(0x0800, &ipv4_udp(5060, 5060, SIP)));
    assert_prefixes_truncated(
        LinkType::Ethernet,
        &eth(0x8100, &[0, 100, 0x86, 0xdd])
            .into_iter()
            .chain(ipv6_with(17, &udp(1, 2, SIP)))
            .collect::<Vec<_>>(),
    );
    let mut x = vec![60, 0, 1, 4, 0, 0, 0, 0];
    x.extend_from_slice(&[17, 0, 1, 4, 0, 0, 0, 0]);
    x.extend_from_slice(&udp(5060, 5060, SIP));
    assert_prefixes_truncated(LinkType::Raw, &ipv6_with(0, &x));
    assert_prefixes_truncated(LinkType::Raw, &v6_frag(3, 8, true, SIP));
    assert_prefixes_truncated(LinkType::Raw, &v4_frag(3, 8, true, SIP));
}

#[test]
fn corpus_prefixes_never_panic() {
    let Some(dir) = crate::testkit::corpus::existing() else {
        eprintln!("corpus not found; skipping");
        return;
    };
    let mut decoded = 0usize;
    for entry in std::fs::read_dir(&dir).unwrap().filter_map(|e| e.ok()) {
        let Ok(mut cap) = pcap::Capture::from_file(entry.path()) else {
            continue;
        };
        let Some(link) = LinkType::from_dlt(cap.get_datalink().0) else {
            continue;
        };
        let mut frames = 0;
        while let Ok(pkt) = cap.next_packet() {
            frames += 1;
            if frames > 40 {
                break;
            }
            for n in 0..pkt.data.len() {
                let _ = decode(link, &pkt.data[..n]);
                decoded += 1;
            }
        }
    }
    eprintln!("decoded {decoded} prefixes");
    assert!(decoded > 100_000);
}
