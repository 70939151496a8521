//! Frame bytes → a borrowed view of the packet (link, tunnels, IP, transport).
//!
//! Owner: the `decode` module. Invariant: nothing here does I/O, logs, or
//! touches metrics; every failure is a typed [`DecodeError`] whose
//! `layer`/`reason` strings are the `decode_failures_total` labels.
//! State (IP defragmentation, TCP streams) lives in `defrag.rs` and `tcp.rs`;
//! this file holds no state.

pub mod defrag;
pub mod tcp;

use std::net::IpAddr;

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
    /// Map a libpcap data link type number; `None` for unsupported ones.
    pub fn from_dlt(dlt: i32) -> Option<LinkType> {
        let _ = dlt;
        todo!()
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
    Udp { src_port: u16, dst_port: u16, payload: &'a [u8] },
    Tcp(TcpSegment<'a>),
    /// SCTP: ports and the bytes after the 12-byte common header (the chunks).
    Sctp { src_port: u16, dst_port: u16, chunks: &'a [u8] },
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
}

/// The layer at which decoding stopped: the `layer` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layer {
    Link,
    Vlan,
    Tunnel,
    Ip,
    Udp,
    Tcp,
    Sctp,
}

impl Layer {
    pub fn as_str(&self) -> &'static str {
        todo!()
    }
}

/// Why decoding stopped: the `reason` label (a fixed set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    Truncated,
    Malformed,
    UnsupportedLinkType,
    UnsupportedEthertype,
    TooManyLayers,
    BadLength,
}

impl Reason {
    pub fn as_str(&self) -> &'static str {
        todo!()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{} {}", layer.as_str(), reason.as_str())]
pub struct DecodeError {
    pub layer: Layer,
    pub reason: Reason,
}

/// Decode one captured frame. Non-IP frames (ARP, LLDP, ...) are
/// `Err(UnsupportedEthertype)` at layer `Link` only when the caller should
/// count them; see the module docs for which are silently `Ok(None)`.
pub fn decode(link: LinkType, frame: &[u8]) -> Result<Option<Packet<'_>>, DecodeError> {
    let _ = (link, frame);
    todo!()
}

/// Decode the transport of a reassembled IP datagram (after defrag); may
/// itself contain a tunnel (VXLAN, GRE), hence a full [`Packet`].
pub fn decode_reassembled(net: Net, payload: &[u8]) -> Result<Option<Packet<'_>>, DecodeError> {
    let _ = (net, payload);
    todo!()
}

/// A hash equal for both directions of a flow. Fragments hash on the
/// address pair only, so every fragment of a datagram meets on one worker.
pub fn flow_hash(pkt: &Packet<'_>) -> u64 {
    let _ = pkt;
    todo!()
}
