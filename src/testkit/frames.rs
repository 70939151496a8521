//! Frame builders for tests, benches and examples: whole Ethernet frames
//! built by etherparse (`PacketBuilder` and its header types, so every
//! checksum is computed, never written by hand), and raw headers laid out
//! byte by byte for the shapes etherparse refuses to build (IPv6 with an
//! arbitrary next header, UDP with zero checksum, fragments of any length).
//!
//! Addresses are documentation ranges (RFC 5737, RFC 3849); MACs are
//! locally administered.

use etherparse::{EtherType, Ethernet2Header, IpFragOffset, IpNumber, Ipv4Header, PacketBuilder};

/// Source MAC of every frame built here.
pub const SRC_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
/// Destination MAC of every frame built here.
pub const DST_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];

/// Source and destination of [`ipv4_fragment`] (RFC 5737 TEST-NET-2, -3).
pub const FRAG_SRC: [u8; 4] = [198, 51, 100, 7];
/// See [`FRAG_SRC`].
pub const FRAG_DST: [u8; 4] = [203, 0, 113, 9];

/// An IPv4 address in `net`.0.0.0/8 numbered `i` (distinct for i < 2^24).
pub fn addr(net: u8, i: u32) -> [u8; 4] {
    [net, (i >> 16) as u8, (i >> 8) as u8, i as u8]
}

// ------------------------------------------------ whole Ethernet frames ----

/// An Ethernet/IPv4/UDP frame.
pub fn udp4(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(SRC_MAC, DST_MAC)
        .ipv4(src, dst, 64)
        .udp(sport, dport);
    let mut v = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut v, payload).expect("udp4 frame builds");
    v
}

/// An Ethernet/IPv4/TCP frame (flags: `syn`, else ACK|PSH).
pub fn tcp4(
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    seq: u32,
    syn: bool,
    payload: &[u8],
) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(SRC_MAC, DST_MAC)
        .ipv4(src, dst, 64)
        .tcp(sport, dport, seq, 65_535);
    let b = if syn { b.syn() } else { b.ack(1).psh() };
    let mut v = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut v, payload).expect("tcp4 frame builds");
    v
}

/// An Ethernet/IPv4 frame of any protocol, fragments included (etherparse's
/// `PacketBuilder` builds neither fragments nor SCTP): see [`ipv4`].
pub fn ipv4_frame(
    src: [u8; 4],
    dst: [u8; 4],
    proto: u8,
    id: u16,
    flags_offset: u16,
    payload: &[u8],
) -> Vec<u8> {
    eth(0x0800, &ipv4(src, dst, proto, id, flags_offset, payload))
}

/// An Ethernet II header (from [`SRC_MAC`] to [`DST_MAC`]) with `ethertype`,
/// then `rest` as it is.
pub fn eth(ethertype: u16, rest: &[u8]) -> Vec<u8> {
    let h = Ethernet2Header {
        source: SRC_MAC,
        destination: DST_MAC,
        ether_type: EtherType(ethertype),
    };
    let mut v = Vec::with_capacity(Ethernet2Header::LEN + rest.len());
    h.write(&mut v).expect("ethernet header writes");
    v.extend_from_slice(rest);
    v
}

// ------------------------------------------------------- raw IP packets ----

/// An IPv4 packet (no options, TTL 64, header checksum computed) of
/// protocol `proto` around `payload`. `flags_offset` is the IPv4 flags and
/// fragment offset word: 0x4000 DF, 0x2000 MF, the low 13 bits the offset
/// in 8-byte units. Panics when `payload` does not fit one datagram.
pub fn ipv4(
    src: [u8; 4],
    dst: [u8; 4],
    proto: u8,
    id: u16,
    flags_offset: u16,
    payload: &[u8],
) -> Vec<u8> {
    let len = u16::try_from(payload.len()).expect("IPv4 payload fits 64 KiB");
    let mut h = Ipv4Header::new(len, 64, IpNumber(proto), src, dst).expect("IPv4 payload fits");
    h.identification = id;
    h.dont_fragment = flags_offset & 0x4000 != 0;
    h.more_fragments = flags_offset & 0x2000 != 0;
    h.fragment_offset = IpFragOffset::try_new(flags_offset & 0x1fff).expect("13-bit offset");
    h.header_checksum = h.calc_header_checksum();
    let mut v = Vec::with_capacity(h.header_len() + payload.len());
    h.write(&mut v).expect("IPv4 header writes");
    v.extend_from_slice(payload);
    v
}

/// A fragment of IPv4 datagram `id` from [`FRAG_SRC`] to [`FRAG_DST`]:
/// `data` at byte `offset` (a multiple of 8) of the datagram's payload,
/// `more` the MF flag.
pub fn ipv4_fragment(proto: u8, id: u16, offset: usize, more: bool, data: &[u8]) -> Vec<u8> {
    assert!(offset % 8 == 0, "fragment offsets are in 8-byte units");
    let word = u16::try_from(offset / 8).expect("13-bit offset") | if more { 0x2000 } else { 0 };
    ipv4(FRAG_SRC, FRAG_DST, proto, id, word, data)
}

/// IPv4 (192.0.2.1 > 192.0.2.2, no options, DF) + UDP header + `data`, by
/// hand: IPv4 and UDP checksums zero (the decoder checks neither).
pub fn ipv4_udp(sp: u16, dp: u16, data: &[u8]) -> Vec<u8> {
    let total = (20 + 8 + data.len()) as u16;
    let mut v = vec![0x45, 0x00]; // version 4, IHL 5; DSCP
    v.extend_from_slice(&total.to_be_bytes()); // total length
    v.extend_from_slice(&[0x00, 0x01, 0x40, 0x00]); // id 1, DF, offset 0
    v.extend_from_slice(&[64, 17, 0x00, 0x00]); // TTL, UDP, checksum (unchecked)
    v.extend_from_slice(&[192, 0, 2, 1, 192, 0, 2, 2]); // src, dst
    v.extend_from_slice(&udp(sp, dp, data));
    v
}

/// IPv6 (2001:db8::1 > 2001:db8::2) with next header `next` before
/// `payload` (extension headers, if any, are part of `payload`).
pub fn ipv6(next: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0x60, 0x00, 0x00, 0x00]; // version 6, TC, flow label
    v.extend_from_slice(&(payload.len() as u16).to_be_bytes()); // payload length
    v.extend_from_slice(&[next, 64]); // next header, hop limit
    v.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    v.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    v.extend_from_slice(payload);
    v
}

/// A fragment of IPv6 datagram `id` carrying `next` (RFC 8200 §4.5): `data`
/// at byte `offset` (a multiple of 8), `more` the M flag.
pub fn ipv6_fragment(next: u8, id: u32, offset: usize, more: bool, data: &[u8]) -> Vec<u8> {
    assert!(offset % 8 == 0, "fragment offsets are in 8-byte units");
    let mut p = vec![next, 0]; // next header, reserved
    p.extend_from_slice(&(((offset / 8) as u16) << 3 | u16::from(more)).to_be_bytes());
    p.extend_from_slice(&id.to_be_bytes()); // identification
    p.extend_from_slice(data);
    ipv6(44, &p)
}

/// A UDP header (length set, at most 65,535; checksum zero) + `data`.
pub fn udp(sp: u16, dp: u16, data: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + data.len());
    v.extend_from_slice(&sp.to_be_bytes());
    v.extend_from_slice(&dp.to_be_bytes());
    let len = (8 + data.len()).min(65_535) as u16;
    v.extend_from_slice(&len.to_be_bytes()); // length
    v.extend_from_slice(&[0, 0]); // checksum: none
    v.extend_from_slice(data);
    v
}

/// Raw IP frames (`LINKTYPE_RAW`) of one chain of `depth + 1` fragmented
/// datagrams, ids from `base`: datagram 0 carries `datagram0` (protocol
/// UDP); datagram i >= 1 (IP-in-IP, or IPv6 next header 41) holds, past its
/// first 8 bytes, the last fragment of datagram i-1, so completing the top
/// one completes each below it in turn. `v6(i)` says whether datagram i is
/// IPv6 (an IPv4 datagram's id is `base + i` truncated to 16 bits). Frames
/// in sending order: every first fragment, then the top datagram's last.
pub fn fragment_chain(
    base: u32,
    depth: usize,
    v6: impl Fn(usize) -> bool,
    datagram0: &[u8],
) -> Vec<Vec<u8>> {
    let mut payload = datagram0.to_vec();
    let mut next = 17u8;
    let mut frames = Vec::with_capacity(depth + 2);
    for i in 0..=depth {
        let id = base.wrapping_add(i as u32);
        let (first, last, carried) = if v6(i) {
            (
                ipv6_fragment(next, id, 0, true, &payload[..8]),
                ipv6_fragment(next, id, 8, false, &payload[8..]),
                41,
            )
        } else {
            (
                ipv4_fragment(next, id as u16, 0, true, &payload[..8]),
                ipv4_fragment(next, id as u16, 8, false, &payload[8..]),
                4,
            )
        };
        frames.push(first);
        if i == depth {
            frames.push(last);
            return frames;
        }
        payload = last;
        next = carried;
    }
    unreachable!("the loop returns at i == depth")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The etherparse-built IPv4 header agrees with the layout the
    /// hand-written tests used (RFC 791 §3.1), checksum included.
    #[test]
    fn ipv4_fragment_layout() {
        let f = ipv4_fragment(17, 0x1234, 16, true, &[0xaa; 8]);
        assert_eq!(f.len(), 28);
        assert_eq!(&f[..10], &[0x45, 0, 0, 28, 0x12, 0x34, 0x20, 2, 64, 17]);
        assert_eq!(&f[12..20], &[198, 51, 100, 7, 203, 0, 113, 9]);
        // One's complement sum over a header with its checksum is 0xffff.
        let sum = (0..20)
            .step_by(2)
            .map(|i| u32::from(u16::from_be_bytes([f[i], f[i + 1]])))
            .sum::<u32>();
        let sum = (sum & 0xffff) + (sum >> 16);
        assert_eq!((sum & 0xffff) + (sum >> 16), 0xffff);
        let e = ipv4_frame([192, 0, 2, 1], [192, 0, 2, 2], 132, 7, 0x4000, b"x");
        assert_eq!(&e[..14], &[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00]);
        assert_eq!(e[14 + 6], 0x40); // DF
    }

    #[test]
    fn fragment_chain_order() {
        let d0 = [0x13, 0xc4, 0x13, 0xc4, 0, 33, 0, 0, 1, 2, 3];
        let frames = fragment_chain(1, 2, |i| i == 1, &d0);
        assert_eq!(frames.len(), 4); // three first fragments, one last
        assert_eq!(frames[0][0] >> 4, 4);
        assert_eq!(frames[1][0] >> 4, 6);
        assert_eq!(frames[2][0] >> 4, 4);
        assert_eq!(frames[2][9], 41); // IPv4 carrying IPv6
    }
}
