//! Frame bytes → a borrowed view of the packet (link, tunnels, IP, transport).
//!
//! Owner: the `decode` module. Invariant: nothing here does I/O, logs, or
//! touches metrics; every failure is a typed [`DecodeError`] whose
//! `layer`/`reason` strings are the `decode_failures_total` labels.
//! State (IP defragmentation, TCP streams) lives in `defrag.rs` and `tcp.rs`;
//! this file and the other parser files (`tunnel.rs`, `sctp.rs`) hold no state.
//!
//! The decoder is a chain of small functions over one borrowed frame; every
//! slice in the result points into it (a frame is copied once, at capture).
//! Header slicing of Ethernet, 802.1Q, IPv4, IPv6 (and its extension headers),
//! UDP and TCP is done by `etherparse`'s `*HeaderSlice` types, which check the
//! length once on entry; the link headers etherparse lacks (SLL2, BSD
//! loopback, PPPoE) and the tunnels (GRE, ERSPAN, VXLAN, Geneve, MPLS) are
//! read here and in `tunnel.rs` with `get(..)` only, never indexing.
//!
//! What is an error and what is not:
//! - a frame that is not IP (ARP, LLDP, STP, IS-IS, a PPP control frame, a
//!   tunnel carrying something other than Ethernet/IP) is `Ok(None)`: normal
//!   traffic on a mirror port, not worth a failure counter;
//! - a header that is cut (snaplen, or a lying outer length) is
//!   `Err(layer, Truncated)`; an impossible header is `Malformed` / `BadLength`;
//! - strict, then lax: when every header is complete but the payload is cut,
//!   the packet is returned with `truncated: true` and what was captured;
//! - an inconsistency the decoder can work around (a UDP length larger than
//!   the IP payload) still returns the packet, and names the problem in
//!   [`Packet::anomaly`] so the caller can count it (tshark dissects these too).

pub mod defrag;
pub mod quick;
mod sctp;
pub mod sctp_reasm;
pub mod tcp;
mod tunnel;

pub use sctp::{sctp_data_chunks, SctpData, SctpDataChunks};

use etherparse::{
    Ethernet2HeaderSlice, IpAuthHeaderSlice, Ipv4HeaderSlice, Ipv6FragmentHeaderSlice,
    Ipv6HeaderSlice, Ipv6RawExtHeaderSlice, SingleVlanHeaderSlice, TcpHeaderSlice, UdpHeaderSlice,
};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Encapsulation layers of one frame, tunnels (GRE, ERSPAN, VXLAN, Geneve,
/// IP-in-IP, PPPoE, MPLS) and IP reassemblies together, before giving up
/// with `(tunnel, too_many_layers)` (Suricata's `decoder.max-layers`). A
/// mirror session rarely nests more than two tunnels, and a fragmented
/// tunnel adds one reassembly per level.
///
/// The budget survives reassembly: a reassembled datagram continues at the
/// depth of the fragment that completed it ([`decode_reassembled`] takes
/// it). Without that, IP-in-IP fragments whose reassembled payload
/// completes another datagram, and so on, made one frame cost a chain of
/// reassemblies as long as the attacker's pool of pending datagrams, each
/// a stack frame in the worker (a stack overflow after a few thousand).
pub const MAX_LAYERS: u8 = 8;
/// 802.1Q/802.1ad tags per Ethernet header (QinQ is 2; more is exotic or hostile).
pub const MAX_VLANS: u8 = 8;
/// IPv6 extension headers walked before giving up (RFC 8200 §4.1 recommends
/// each appear at most once; a few repeats are tolerated).
const MAX_IPV6_EXTS: u8 = 16;

/// Ethertypes (IEEE registry) the decoder follows.
mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const IPV6: u16 = 0x86dd;
    /// 802.1Q C-tag.
    pub const VLAN: u16 = 0x8100;
    /// 802.1ad S-tag (QinQ).
    pub const QINQ: u16 = 0x88a8;
    /// Pre-standard QinQ used by some switches.
    pub const QINQ_OLD: u16 = 0x9100;
    /// PPPoE session stage (RFC 2516 §4).
    pub const PPPOE_SESSION: u16 = 0x8864;
    pub const MPLS_UNICAST: u16 = 0x8847;
    pub const MPLS_MULTICAST: u16 = 0x8848;
}

/// IP protocol numbers (IANA) the decoder follows.
mod ipproto {
    pub const HOP_BY_HOP: u8 = 0;
    pub const IPIP: u8 = 4;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const IPV6: u8 = 41;
    pub const ROUTING: u8 = 43;
    pub const FRAGMENT: u8 = 44;
    pub const GRE: u8 = 47;
    pub const AUTH: u8 = 51;
    pub const DEST_OPTS: u8 = 60;
    pub const SCTP: u8 = 132;
    pub const MOBILITY: u8 = 135;
    pub const HIP: u8 = 139;
    pub const SHIM6: u8 = 140;
}

/// Link types the sensor decodes, mapped from libpcap DLT numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkType {
    Ethernet,
    LinuxSll,
    LinuxSll2,
    /// DLT_RAW / LINKTYPE_RAW: the frame starts with an IPv4 or IPv6 header.
    Raw,
    Ipv4,
    Ipv6,
    /// BSD loopback (DLT_NULL, host-order 4-byte family) and DLT_LOOP (network order).
    Null,
    Loop,
}

impl LinkType {
    /// Every variant, for tests and fuzzing.
    pub const ALL: [LinkType; 8] = [
        LinkType::Ethernet,
        LinkType::LinuxSll,
        LinkType::LinuxSll2,
        LinkType::Raw,
        LinkType::Ipv4,
        LinkType::Ipv6,
        LinkType::Null,
        LinkType::Loop,
    ];

    /// Map a libpcap data link type number; `None` for unsupported ones.
    ///
    /// DLT_RAW is 12 on most systems and 14 on OpenBSD; both are rewritten
    /// to LINKTYPE_RAW (101) in savefiles, but live captures report the DLT.
    pub fn from_dlt(dlt: i32) -> Option<LinkType> {
        match dlt {
            0 => Some(LinkType::Null),
            1 => Some(LinkType::Ethernet),
            12 | 14 | 101 => Some(LinkType::Raw),
            108 => Some(LinkType::Loop),
            113 => Some(LinkType::LinuxSll),
            228 => Some(LinkType::Ipv4),
            229 => Some(LinkType::Ipv6),
            276 => Some(LinkType::LinuxSll2),
            _ => None,
        }
    }
}

/// Network layer summary (owned, `Copy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IP protocol / IPv6 next header of the transport (after extension headers).
    pub proto: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpFlags {
    pub syn: bool,
    pub fin: bool,
    pub rst: bool,
    pub ack: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct TcpSegment<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub flags: TcpFlags,
    pub payload: &'a [u8],
}

/// One IP fragment, to be given to [`defrag::Defrag::push`].
#[derive(Debug, Clone, Copy)]
pub struct Fragment<'a> {
    /// IPv4 identification (16 bits) or IPv6 fragment identification (32 bits).
    pub id: u32,
    /// Offset of `payload` in the reassembled transport payload, in bytes.
    pub offset: u32,
    pub more: bool,
    pub payload: &'a [u8],
}

#[derive(Debug, Clone, Copy)]
pub enum L4<'a> {
    Udp {
        src_port: u16,
        dst_port: u16,
        payload: &'a [u8],
    },
    Tcp(TcpSegment<'a>),
    /// SCTP: ports and the bytes after the 12-byte common header (the chunks).
    /// [`sctp_data_chunks`] walks the DATA chunks.
    Sctp {
        src_port: u16,
        dst_port: u16,
        chunks: &'a [u8],
    },
    /// A fragment (IPv4 MF or offset != 0, IPv6 Fragment header that is not
    /// atomic). Do not give a `truncated` fragment to the defragmenter: its
    /// payload is shorter than the IP header claims.
    Fragment(Fragment<'a>),
    /// Any other IP protocol (ICMP, ESP, ...): not an error, just not ours.
    Other,
}

#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    pub net: Net,
    pub l4: L4<'a>,
    /// True when the captured bytes ended before the IP total length
    /// (snaplen); the payload slices hold what was captured.
    pub truncated: bool,
    /// Number of tunnel layers removed (GRE, ERSPAN, VXLAN, IP-in-IP, PPPoE).
    pub tunnels: u8,
    /// A non-fatal inconsistency the decoder worked around (for example a UDP
    /// length larger than the IP payload: `Udp`/`BadLength`); the packet is
    /// still usable, the caller counts it like a failure.
    pub anomaly: Option<DecodeError>,
}

crate::label_enum! {
    /// The layer at which decoding stopped: the `layer` label.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Layer {
        Link = "link",
        Vlan = "vlan",
        Tunnel = "tunnel",
        Ip = "ip",
        Udp = "udp",
        Tcp = "tcp",
        Sctp = "sctp",
        /// A TLS handshake read from a TCP stream (`tls::TlsReader`).
        Tls = "tls",
        /// A DTLS handshake datagram (`tls::dtls_datagram`).
        Dtls = "dtls",
    }
}

crate::label_enum! {
    /// Why decoding stopped: the `reason` label (a fixed set).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Reason {
        Truncated = "truncated",
        Malformed = "malformed",
        UnsupportedLinkType = "unsupported_link_type",
        UnsupportedEthertype = "unsupported_ethertype",
        TooManyLayers = "too_many_layers",
        BadLength = "bad_length",
        /// An IP fragment the reassembler refused (overlap, beyond the
        /// datagram's end): counted by the caller from `DefragStats`.
        BadFragment = "bad_fragment",
        /// An SCTP message whose fragments never all arrived: counted by
        /// the caller from the SCTP reassembler's statistics.
        LostFragment = "lost_fragment",
        /// A DTLS handshake message in fragments: not reassembled, counted.
        Fragmented = "fragmented",
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{} {}", layer.as_str(), reason.as_str())]
pub struct DecodeError {
    pub layer: Layer,
    pub reason: Reason,
}

impl DecodeError {
    pub(crate) const fn new(layer: Layer, reason: Reason) -> Self {
        DecodeError { layer, reason }
    }
}

/// Shorthand for the many early returns.
const fn err<T>(layer: Layer, reason: Reason) -> Result<T, DecodeError> {
    Err(DecodeError::new(layer, reason))
}

type Decoded<'a> = Result<Option<Packet<'a>>, DecodeError>;

/// Read a big-endian u16 at `at`, if present.
#[inline]
pub(crate) fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([s[0], s[1]]))
}

/// Read a big-endian u32 at `at`, if present.
#[inline]
pub(crate) fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// Decode one captured frame.
///
/// Non-IP frames (ARP, LLDP, STP, ...) and tunnels carrying something other
/// than Ethernet or IP are `Ok(None)`: they are not failures. `Err` names the
/// layer where a header was cut or impossible.
pub fn decode(link: LinkType, frame: &[u8]) -> Decoded<'_> {
    match link {
        LinkType::Ethernet => ethernet(frame, 0),
        LinkType::LinuxSll => {
            // Linux cooked v1: packet type, ARPHRD, address length, 8-byte
            // address, then the protocol (an ethertype for IP) at 14..16.
            let Some(proto) = be16(frame, 14) else {
                return err(Layer::Link, Reason::Truncated);
            };
            ether_payload(proto, frame.get(16..).unwrap_or(&[]), 0)
        }
        LinkType::LinuxSll2 => {
            // Linux cooked v2: protocol first (0..2), 20-byte header.
            let Some(proto) = be16(frame, 0) else {
                return err(Layer::Link, Reason::Truncated);
            };
            match frame.get(20..) {
                Some(rest) => ether_payload(proto, rest, 0),
                None => err(Layer::Link, Reason::Truncated),
            }
        }
        LinkType::Raw => ip_by_version(frame, 0),
        LinkType::Ipv4 => ipv4(frame, 0),
        LinkType::Ipv6 => ipv6(frame, 0),
        LinkType::Null | LinkType::Loop => {
            let Some(fam) = frame.get(..4) else {
                return err(Layer::Link, Reason::Truncated);
            };
            let fam = [fam[0], fam[1], fam[2], fam[3]];
            // DLT_NULL is in the byte order of the capturing host, which we
            // do not know: families are small, so whichever reading is small
            // is the right one. DLT_LOOP is network order.
            let family = if link == LinkType::Loop {
                u32::from_be_bytes(fam)
            } else {
                let le = u32::from_le_bytes(fam);
                if le <= 0xffff {
                    le
                } else {
                    u32::from_be_bytes(fam)
                }
            };
            let rest = frame.get(4..).unwrap_or(&[]);
            match family {
                // AF_INET everywhere.
                2 => ipv4(rest, 0),
                // AF_INET6: NetBSD/OpenBSD 24, FreeBSD 28, macOS 30.
                24 | 28 | 30 => ipv6(rest, 0),
                _ => Ok(None),
            }
        }
    }
}

/// Decode the transport of a reassembled IP datagram (after defrag); may
/// itself contain a tunnel (VXLAN, GRE), hence a full [`Packet`].
///
/// `layers` is the depth of the fragment that completed the datagram
/// ([`Packet::tunnels`]); the reassembly itself is one more layer, so a
/// chain of reassemblies and tunnels stops at [`MAX_LAYERS`] in total.
///
/// For IPv6, `net.proto` may be an extension header that followed the
/// Fragment header (RFC 8200 §4.5: it is part of the fragmentable part); it
/// is walked like in a whole packet.
pub fn decode_reassembled(net: Net, payload: &[u8], layers: u8) -> Decoded<'_> {
    let layers = tunnel::enter(layers)?;
    let mut net = net;
    let mut payload = payload;
    if net.src.is_ipv6() && is_ipv6_ext(net.proto) {
        match ipv6_exts(net.proto, payload, false)? {
            Ipv6Walk::Transport { proto, rest } => {
                net.proto = proto;
                payload = rest;
            }
            // A Fragment header inside a reassembled datagram is nested
            // fragmentation, which RFC 8200 does not allow.
            Ipv6Walk::Fragment { .. } => return err(Layer::Ip, Reason::Malformed),
        }
    }
    transport(net, payload, false, layers)
}

/// An address as one fixed-size word (IPv4 as its IPv4-mapped IPv6
/// value). Equal addresses give equal words, so hashing words agrees with
/// `Eq` on `IpAddr`; a v4 address and its mapped v6 form collide, which a
/// hash tolerates. Flow keys hash these instead of `derive(Hash)` on
/// `IpAddr` (a discriminant and a length-prefixed slice per address, 5-7%
/// of a thread's time in `perf` on the offline benchmark).
#[inline]
pub fn ip_word(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(a.to_ipv6_mapped()),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// The dispatch hash: equal for both directions of a flow, keyed per start.
///
/// Fragments hash on the address pair only, so every fragment of a datagram
/// meets on one worker. The key is chosen by the caller (random per start
/// in the pipeline): with a fixed, public seed an attacker can choose flows
/// that all land on one worker and overload it while the others idle.
/// Results never depend on which worker a flow lands on (workers are
/// synchronised when reading files), so a random key keeps `audit`
/// deterministic.
#[derive(Clone)]
pub struct FlowHasher([u64; 4]);

/// One multiply-and-fold round (the mixing step of wyhash and of ahash's
/// fallback): the 128-bit product of two words, its halves xored.
#[inline]
fn fold(a: u64, b: u64) -> u64 {
    let r = u128::from(a) * u128::from(b);
    (r as u64) ^ ((r >> 64) as u64)
}

impl FlowHasher {
    pub fn new(seeds: [u64; 4]) -> FlowHasher {
        FlowHasher(seeds)
    }

    /// Hash of the endpoints in sorted order, so A→B and B→A feed
    /// identical input.
    pub fn hash(&self, pkt: &Packet<'_>) -> u64 {
        let ports = match pkt.l4 {
            L4::Udp {
                src_port, dst_port, ..
            } => Some((src_port, dst_port)),
            L4::Tcp(seg) => Some((seg.src_port, seg.dst_port)),
            L4::Sctp {
                src_port, dst_port, ..
            } => Some((src_port, dst_port)),
            L4::Fragment(_) | L4::Other => None,
        };
        self.hash_flow(FlowWords {
            src: ip_word(pkt.net.src),
            dst: ip_word(pkt.net.dst),
            proto: pkt.net.proto,
            ports,
        })
    }

    /// [`Self::hash`] of a packet summarised as words: what
    /// [`quick::flow_words`] reads from the headers alone.
    ///
    /// Keyed multiply-and-fold rounds over the words (the key enters every
    /// round), not a general-purpose hasher: `ahash`'s `BuildHasher` with
    /// two `write_u128` and a `write_u64` was a fifth of the capture
    /// thread (offline benchmark, `perf`).
    #[inline]
    pub fn hash_flow(&self, f: FlowWords) -> u64 {
        let [k0, k1, k2, k3] = self.0;
        let (lo, hi, tail) = match f.ports {
            Some((sp, dp)) => {
                // UDP ports 2n and 2n+1 hash alike: RTP on an even port and
                // its RTCP on the next (RFC 3550 §11) meet on one worker,
                // whose stream table knows the SSRC the RTCP reports on.
                // Apart, RTCP's protection depended on which worker each
                // flow landed on, so counts moved from run to run.
                let (sp, dp) = if f.proto == 17 {
                    (sp & !1, dp & !1)
                } else {
                    (sp, dp)
                };
                let a = (f.src, sp);
                let b = (f.dst, dp);
                let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
                let tail = u64::from(f.proto) << 32 | u64::from(lo.1) << 16 | u64::from(hi.1);
                (lo.0, hi.0, tail | 1 << 40)
            }
            None => (f.src.min(f.dst), f.src.max(f.dst), 0),
        };
        let h = fold((lo >> 64) as u64 ^ k0, lo as u64 ^ k1);
        let h = fold(h ^ (hi >> 64) as u64 ^ k2, hi as u64 ^ k3);
        fold(h ^ tail ^ k1, k0 ^ k2 ^ 0x9e37_79b9_7f4a_7c15)
    }
}

/// What the dispatch hash covers: addresses as [`ip_word`]s, the transport
/// protocol, and the ports (none for fragments and other protocols).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowWords {
    pub src: u128,
    pub dst: u128,
    pub proto: u8,
    pub ports: Option<(u16, u16)>,
}

// ---------------------------------------------------------------- link ----

/// An Ethernet II frame (possibly inside a tunnel: `tunnels` so far).
pub(crate) fn ethernet(frame: &[u8], tunnels: u8) -> Decoded<'_> {
    let Ok(eth) = Ethernet2HeaderSlice::from_slice(frame) else {
        return err(Layer::Link, Reason::Truncated);
    };
    let rest = frame.get(eth.slice().len()..).unwrap_or(&[]);
    let et = eth.ether_type().0;
    // Ethertypes below 0x0600 are an 802.3 length field: LLC (STP, CDP, ...).
    if et < 0x0600 {
        return Ok(None);
    }
    ether_payload(et, rest, tunnels)
}

/// Dispatch on an ethertype (from Ethernet, a VLAN tag, SLL or a GRE header).
pub(crate) fn ether_payload(et: u16, bytes: &[u8], tunnels: u8) -> Decoded<'_> {
    let mut et = et;
    let mut bytes = bytes;
    let mut vlans = 0u8;
    while matches!(et, ethertype::VLAN | ethertype::QINQ | ethertype::QINQ_OLD) {
        if vlans >= MAX_VLANS {
            return err(Layer::Vlan, Reason::TooManyLayers);
        }
        vlans += 1;
        let Ok(tag) = SingleVlanHeaderSlice::from_slice(bytes) else {
            return err(Layer::Vlan, Reason::Truncated);
        };
        et = tag.ether_type().0;
        bytes = bytes.get(tag.slice().len()..).unwrap_or(&[]);
    }
    match et {
        ethertype::IPV4 => ipv4(bytes, tunnels),
        ethertype::IPV6 => ipv6(bytes, tunnels),
        ethertype::PPPOE_SESSION => tunnel::pppoe(bytes, tunnels),
        ethertype::MPLS_UNICAST | ethertype::MPLS_MULTICAST => tunnel::mpls(bytes, tunnels),
        _ => Ok(None),
    }
}

/// Raw IP: the version nibble says which (RFC 791 §3.1, RFC 8200 §3).
pub(crate) fn ip_by_version(bytes: &[u8], tunnels: u8) -> Decoded<'_> {
    match bytes.first().map(|b| b >> 4) {
        Some(4) => ipv4(bytes, tunnels),
        Some(6) => ipv6(bytes, tunnels),
        Some(_) => err(Layer::Ip, Reason::Malformed),
        None => err(Layer::Ip, Reason::Truncated),
    }
}

// ------------------------------------------------------------------ ip ----

pub(crate) fn ipv4(bytes: &[u8], tunnels: u8) -> Decoded<'_> {
    use etherparse::err::ipv4::HeaderSliceError;
    let ip = match Ipv4HeaderSlice::from_slice(bytes) {
        Ok(ip) => ip,
        Err(HeaderSliceError::Len(_)) => return err(Layer::Ip, Reason::Truncated),
        Err(HeaderSliceError::Content(_)) => return err(Layer::Ip, Reason::Malformed),
    };
    let hlen = ip.slice().len();
    let total = usize::from(ip.total_len());
    // Total length 0 is what TSO/LRO-offloaded packets look like when
    // captured on the sending host: trust the captured length then.
    let total = if total == 0 { bytes.len() } else { total };
    if total < hlen {
        return err(Layer::Ip, Reason::BadLength);
    }
    let truncated = bytes.len() < total;
    // `min` also cuts Ethernet padding after short datagrams.
    let end = total.min(bytes.len());
    let payload = bytes.get(hlen..end).unwrap_or(&[]);
    let net = Net {
        src: IpAddr::V4(Ipv4Addr::from(ip.source())),
        dst: IpAddr::V4(Ipv4Addr::from(ip.destination())),
        proto: ip.protocol().0,
    };
    // RFC 791 §3.2: a fragment has MF set or a non-zero offset; a datagram
    // with DF and neither is whole.
    if ip.more_fragments() || ip.fragments_offset().value() != 0 {
        let frag = Fragment {
            id: u32::from(ip.identification()),
            offset: u32::from(ip.fragments_offset().byte_offset()),
            more: ip.more_fragments(),
            payload,
        };
        return Ok(Some(Packet {
            net,
            l4: L4::Fragment(frag),
            truncated,
            tunnels,
            anomaly: None,
        }));
    }
    transport(net, payload, truncated, tunnels)
}

pub(crate) fn ipv6(bytes: &[u8], tunnels: u8) -> Decoded<'_> {
    use etherparse::err::ipv6::HeaderSliceError;
    let ip = match Ipv6HeaderSlice::from_slice(bytes) {
        Ok(ip) => ip,
        Err(HeaderSliceError::Len(_)) => return err(Layer::Ip, Reason::Truncated),
        Err(HeaderSliceError::Content(_)) => return err(Layer::Ip, Reason::Malformed),
    };
    let hlen = ip.slice().len();
    let claimed = usize::from(ip.payload_length());
    // Payload length 0 is a jumbogram (RFC 2675) or an offloaded packet:
    // use what was captured.
    let claimed = if claimed == 0 {
        bytes.len().saturating_sub(hlen)
    } else {
        claimed
    };
    let total = hlen.saturating_add(claimed);
    let truncated = bytes.len() < total;
    let payload = bytes.get(hlen..total.min(bytes.len())).unwrap_or(&[]);
    let mut net = Net {
        src: IpAddr::V6(Ipv6Addr::from(ip.source())),
        dst: IpAddr::V6(Ipv6Addr::from(ip.destination())),
        proto: ip.next_header().0,
    };
    match ipv6_exts(net.proto, payload, truncated)? {
        Ipv6Walk::Transport { proto, rest } => {
            net.proto = proto;
            transport(net, rest, truncated, tunnels)
        }
        Ipv6Walk::Fragment { proto, frag } => {
            net.proto = proto;
            Ok(Some(Packet {
                net,
                l4: L4::Fragment(frag),
                truncated,
                tunnels,
                anomaly: None,
            }))
        }
    }
}

fn is_ipv6_ext(proto: u8) -> bool {
    matches!(
        proto,
        ipproto::HOP_BY_HOP
            | ipproto::ROUTING
            | ipproto::FRAGMENT
            | ipproto::AUTH
            | ipproto::DEST_OPTS
            | ipproto::MOBILITY
            | ipproto::HIP
            | ipproto::SHIM6
    )
}

enum Ipv6Walk<'a> {
    Transport { proto: u8, rest: &'a [u8] },
    Fragment { proto: u8, frag: Fragment<'a> },
}

/// Walk IPv6 extension headers (RFC 8200 §4) up to the transport or a
/// Fragment header. A cut extension header is `Truncated` when the capture
/// was cut (`truncated`), else `Malformed` (it overruns the payload length).
fn ipv6_exts(first: u8, bytes: &[u8], truncated: bool) -> Result<Ipv6Walk<'_>, DecodeError> {
    let cut = if truncated {
        Reason::Truncated
    } else {
        Reason::Malformed
    };
    let mut next = first;
    let mut rest = bytes;
    let mut seen = 0u8;
    while is_ipv6_ext(next) {
        if seen >= MAX_IPV6_EXTS {
            return err(Layer::Ip, Reason::TooManyLayers);
        }
        seen += 1;
        let len = match next {
            ipproto::FRAGMENT => {
                let Ok(fh) = Ipv6FragmentHeaderSlice::from_slice(rest) else {
                    return err(Layer::Ip, cut);
                };
                let payload = rest.get(fh.slice().len()..).unwrap_or(&[]);
                let offset = fh.fragment_offset().byte_offset();
                // RFC 6946: an "atomic fragment" (offset 0, M clear) is a
                // whole datagram; process it as one.
                if offset == 0 && !fh.more_fragments() {
                    next = fh.next_header().0;
                    rest = payload;
                    continue;
                }
                let frag = Fragment {
                    id: fh.identification(),
                    offset: u32::from(offset),
                    more: fh.more_fragments(),
                    payload,
                };
                return Ok(Ipv6Walk::Fragment {
                    proto: fh.next_header().0,
                    frag,
                });
            }
            ipproto::AUTH => {
                // RFC 4302 §2.2: AH length is in 4-byte units minus 2.
                let Ok(ah) = IpAuthHeaderSlice::from_slice(rest) else {
                    return err(Layer::Ip, cut);
                };
                next = ah.next_header().0;
                ah.slice().len()
            }
            _ => {
                // RFC 8200 §4.3-4.6, RFC 6275, 7401, 5533: 8-byte units after the first 8.
                let Ok(eh) = Ipv6RawExtHeaderSlice::from_slice(rest) else {
                    return err(Layer::Ip, cut);
                };
                next = eh.next_header().0;
                eh.slice().len()
            }
        };
        rest = rest.get(len..).unwrap_or(&[]);
    }
    Ok(Ipv6Walk::Transport { proto: next, rest })
}

// ----------------------------------------------------------- transport ----

/// The transport (or an IP-carried tunnel) of an IP datagram.
pub(crate) fn transport<'a>(
    net: Net,
    payload: &'a [u8],
    truncated: bool,
    tunnels: u8,
) -> Decoded<'a> {
    let packet = |l4: L4<'a>| {
        Ok(Some(Packet {
            net,
            l4,
            truncated,
            tunnels,
            anomaly: None,
        }))
    };
    match net.proto {
        ipproto::UDP => udp(net, payload, truncated, tunnels),
        ipproto::TCP => {
            use etherparse::err::tcp::HeaderSliceError;
            let tcp = match TcpHeaderSlice::from_slice(payload) {
                Ok(t) => t,
                Err(HeaderSliceError::Len(_)) => return err(Layer::Tcp, Reason::Truncated),
                // Data offset below 5 words (RFC 9293 §3.1).
                Err(HeaderSliceError::Content(_)) => return err(Layer::Tcp, Reason::Malformed),
            };
            packet(L4::Tcp(TcpSegment {
                src_port: tcp.source_port(),
                dst_port: tcp.destination_port(),
                seq: tcp.sequence_number(),
                flags: TcpFlags {
                    syn: tcp.syn(),
                    fin: tcp.fin(),
                    rst: tcp.rst(),
                    ack: tcp.ack(),
                },
                payload: payload.get(tcp.slice().len()..).unwrap_or(&[]),
            }))
        }
        ipproto::SCTP => {
            // RFC 9260 §3.1: ports, verification tag, checksum; 12 bytes.
            let (Some(src_port), Some(dst_port), Some(chunks)) =
                (be16(payload, 0), be16(payload, 2), payload.get(12..))
            else {
                return err(Layer::Sctp, Reason::Truncated);
            };
            packet(L4::Sctp {
                src_port,
                dst_port,
                chunks,
            })
        }
        ipproto::GRE => tunnel::gre(payload, tunnels),
        ipproto::IPIP => tunnel::enter(tunnels).and_then(|t| ipv4(payload, t)),
        ipproto::IPV6 => tunnel::enter(tunnels).and_then(|t| ipv6(payload, t)),
        _ => packet(L4::Other),
    }
}

fn udp(net: Net, payload: &[u8], truncated: bool, tunnels: u8) -> Decoded<'_> {
    let Ok(udp) = UdpHeaderSlice::from_slice(payload) else {
        return err(Layer::Udp, Reason::Truncated);
    };
    let src_port = udp.source_port();
    let dst_port = udp.destination_port();
    let len = usize::from(udp.length());
    let mut anomaly = None;
    let mut truncated = truncated;
    // RFC 768: the length covers header and data. Cases, like tshark:
    // - 0: jumbogram (RFC 2675) or offload; use what the IP layer gave.
    // - below 8: impossible; keep the IP payload, flag it.
    // - beyond the IP payload: if the capture was cut the datagram is just
    //   truncated; otherwise the field lies, keep what is there and flag it.
    // - shorter than the IP payload: trailing bytes are not UDP data.
    let end = if len == 0 {
        payload.len()
    } else if len < 8 {
        anomaly = Some(DecodeError::new(Layer::Udp, Reason::BadLength));
        payload.len()
    } else if len > payload.len() {
        if !truncated {
            anomaly = Some(DecodeError::new(Layer::Udp, Reason::BadLength));
        }
        truncated = true;
        payload.len()
    } else {
        len
    };
    let data = payload.get(8..end).unwrap_or(&[]);
    if let Some(inner) = tunnel::udp_tunnel(dst_port, data, tunnels) {
        return inner;
    }
    Ok(Some(Packet {
        net,
        l4: L4::Udp {
            src_port,
            dst_port,
            payload: data,
        },
        truncated,
        tunnels,
        anomaly,
    }))
}

#[cfg(test)]
pub(crate) mod tests;
