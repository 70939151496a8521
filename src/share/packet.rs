//! One captured frame → the packets of the shared capture (raw IP, no link
//! layer, no tunnel: MAC and outer addresses are identifiers too).
//!
//! State only where the bytes demand it: IP fragments are joined (a SIP
//! message split over fragments is redacted whole and written as one
//! unfragmented datagram, at the last fragment's place), and each TCP
//! direction keeps its SIP framing buffer and the sequence offset the
//! changed lengths caused (see [`Dir`]). Bounded: [`MAX_PENDING`]
//! datagrams, [`MAX_DIRS`] TCP directions, [`MAX_BUFFER`] bytes per
//! direction; past a bound, state is dropped (what it held is not written).
//!
//! What is written:
//! - SIP (UDP, TCP, WebSocket over TCP): rewritten by [`Rewriter::sip`];
//! - RTP: the fixed header and CSRCs as sent (tshark finds the streams by
//!   SSRC, sequence and payload type), the header extension's content and
//!   the payload zeroed, the padding flag cleared; same length;
//! - RTCP: each packet's first 8 bytes (header and sender SSRC), the rest
//!   zeroed (SDES CNAMEs, report blocks);
//! - RTP or RTCP in TURN ChannelData: the channel header, then as above;
//! - TCP segments without SIP (TLS, anything else): headers only, empty
//!   payload, so the connection stays visible;
//! - anything else (DNS, STUN, DTLS, ZRTP, SCTP, ...): nothing.
//!
//! IPv4 and IPv6 headers are rebuilt by etherparse (lengths and checksums
//! computed), with the addresses of [`AddrMap`].

use super::addr::AddrMap;
use super::text::Rewriter;
use crate::decode::{self, LinkType, Net, L4};
use crate::findings::Pseudonymizer;
use crate::sip::framing::{self, StreamFrame};
use crate::sip::ws;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

/// Datagrams being reassembled.
pub const MAX_PENDING: usize = 1024;
/// Bytes of one datagram being reassembled (an IP datagram is at most 64 KiB).
const MAX_DATAGRAM: usize = 65_535;
/// TCP directions followed.
pub const MAX_DIRS: usize = 65_536;
/// Bytes of an unfinished message kept per TCP direction.
pub const MAX_BUFFER: usize = 1 << 20;
/// Retransmittable segments remembered per direction.
const MAX_SENT: usize = 256;

/// What one frame became.
#[derive(Debug, Default)]
pub struct Out {
    pub packets: Vec<Vec<u8>>,
    pub sip_messages: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Nothing seen yet.
    New,
    Sip,
    /// HTTP upgrade head, then WebSocket frames (RFC 7118).
    Http,
    Ws,
    /// Not SIP: payloads dropped.
    Other,
}

/// One TCP direction: where the original and the rewritten byte streams
/// are (`orig_next`, `new_next`: the next sequence number of each), the
/// unframed bytes, and the last segments written (a retransmission is
/// written again as it was the first time).
#[derive(Debug)]
struct Dir {
    orig_next: u32,
    new_next: u32,
    buf: Vec<u8>,
    mode: Mode,
    sent: BTreeMap<u32, (u32, Vec<u8>)>,
}

impl Dir {
    /// The rewritten sequence number of original `s` (exact at the head of
    /// the stream; before it, the same distance back).
    fn map(&self, s: u32) -> u32 {
        self.new_next.wrapping_sub(self.orig_next.wrapping_sub(s))
    }
}

type DirKey = (IpAddr, u16, IpAddr, u16);
type FragKey = (IpAddr, IpAddr, u8, u32);

#[derive(Debug, Default)]
struct Pending {
    pieces: BTreeMap<u32, Vec<u8>>,
    total: Option<u32>,
    bytes: usize,
}

impl Pending {
    /// The datagram when every byte up to the last fragment's end is there.
    fn complete(&self) -> Option<Vec<u8>> {
        let total = self.total? as usize;
        let mut out = Vec::with_capacity(total);
        for (&off, p) in &self.pieces {
            let off = off as usize;
            if off > out.len() {
                return None;
            }
            let skip = out.len() - off;
            out.extend_from_slice(p.get(skip..).unwrap_or(&[]));
        }
        (out.len() >= total).then(|| {
            out.truncate(total);
            out
        })
    }
}

/// The rewriting state of one capture.
pub struct Redactor<'k> {
    pseudo: &'k Pseudonymizer,
    pub addrs: AddrMap,
    dirs: HashMap<DirKey, Dir>,
    frags: HashMap<FragKey, Pending>,
}

/// TCP header fields the decoder's view does not carry.
struct TcpExtra {
    ack: u32,
    window: u16,
    psh: bool,
}

/// Find the TCP header that ends where `payload` starts inside `frame`:
/// the one whose ports, sequence number and data offset agree.
fn tcp_extra(frame: &[u8], seg: &decode::TcpSegment<'_>) -> Option<TcpExtra> {
    let base = frame.as_ptr() as usize;
    let p = seg.payload.as_ptr() as usize;
    let off = p.checked_sub(base).filter(|&o| o <= frame.len())?;
    (20..=60).step_by(4).find_map(|hl| {
        let h = frame.get(off.checked_sub(hl)?..off)?;
        let ok = h.get(0..2)? == seg.src_port.to_be_bytes()
            && h.get(2..4)? == seg.dst_port.to_be_bytes()
            && h.get(4..8)? == seg.seq.to_be_bytes()
            && usize::from(h.get(12)? >> 4) * 4 == hl;
        ok.then(|| TcpExtra {
            ack: u32::from_be_bytes([h[8], h[9], h[10], h[11]]),
            window: u16::from_be_bytes([h[14], h[15]]),
            psh: h[13] & 0x08 != 0,
        })
    })
}

/// RTP (RFC 3550 §5.1) or RTCP (§6.4) by shape: version 2, on ports
/// above 1023 other than SIP's.
fn media_ports(sp: u16, dp: u16) -> bool {
    let sip = |p: u16| p == 5060 || p == 5061;
    sp >= 1024 && dp >= 1024 && !sip(sp) && !sip(dp)
}

fn is_rtcp(p: &[u8]) -> bool {
    p.len() >= 8
        && p[0] >> 6 == 2
        && (200..=207).contains(&p[1])
        && (usize::from(u16::from_be_bytes([p[2], p[3]])) + 1) * 4 <= p.len()
}

/// Zero RTP content, keep the header (see the module doc).
fn rtp_zeroed(p: &[u8]) -> Option<Vec<u8>> {
    if p.len() < 12 || p[0] >> 6 != 2 {
        return None;
    }
    let pt = p[1] & 0x7f;
    if (72..=76).contains(&pt) {
        return None;
    }
    let cc = usize::from(p[0] & 0x0f);
    let mut hl = 12 + 4 * cc;
    let mut out = p.to_vec();
    out[0] &= !0x20; // padding cleared: its count byte is zeroed below
    let mut ext = None;
    if p[0] & 0x10 != 0 {
        let e = p.get(hl..hl + 4)?;
        let words = usize::from(u16::from_be_bytes([e[2], e[3]]));
        ext = Some(hl + 4);
        hl += 4 + 4 * words;
    }
    if hl > p.len() {
        return None;
    }
    let zero_from = ext.unwrap_or(hl);
    out.iter_mut().skip(zero_from).for_each(|b| *b = 0);
    Some(out)
}

fn rtcp_zeroed(p: &[u8]) -> Vec<u8> {
    let mut out = p.to_vec();
    let mut off = 0;
    while let Some(h) = p.get(off..off + 4) {
        let len = (usize::from(u16::from_be_bytes([h[2], h[3]])) + 1) * 4;
        let end = (off + len).min(p.len());
        out.iter_mut().take(end).skip(off + 8).for_each(|b| *b = 0);
        off += len;
    }
    out
}

/// TURN ChannelData (RFC 8656 §12.4: channel number 0x4000..0x7FFF,
/// length, data) carrying RTP or RTCP: the 4-byte header as sent, the
/// media zeroed as above, the padding zeroed.
fn channel_data(p: &[u8]) -> Option<Vec<u8>> {
    if p.len() < 4 || p[0] & 0xc0 != 0x40 {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([p[2], p[3]]));
    let inner = p.get(4..4 + len)?;
    let z = if is_rtcp(inner) {
        rtcp_zeroed(inner)
    } else {
        rtp_zeroed(inner)?
    };
    let mut out = p[..4].to_vec();
    out.extend_from_slice(&z);
    out.resize(p.len(), 0);
    Some(out)
}

/// A WebSocket frame (RFC 6455 §5.2) with `payload`, FIN set; masked with
/// the all-zero key when the original was masked (the bytes then read as
/// they are).
fn ws_frame(opcode: u8, masked: bool, payload: &[u8]) -> Vec<u8> {
    let mut o = vec![0x80 | (opcode & 0x0f)];
    let m = if masked { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => o.push(m | n as u8),
        n if n <= 0xffff => {
            o.push(m | 126);
            o.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            o.push(m | 127);
            o.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if masked {
        o.extend_from_slice(&[0; 4]);
    }
    o.extend_from_slice(payload);
    o
}

fn opcode_u8(o: ws::Opcode) -> u8 {
    match o {
        ws::Opcode::Continuation => 0,
        ws::Opcode::Text => 1,
        ws::Opcode::Binary => 2,
        ws::Opcode::Close => 8,
        ws::Opcode::Ping => 9,
        ws::Opcode::Pong => 10,
        ws::Opcode::Unknown(n) => n,
    }
}

impl<'k> Redactor<'k> {
    pub fn new(pseudo: &'k Pseudonymizer, addrs: AddrMap) -> Redactor<'k> {
        Redactor {
            pseudo,
            addrs,
            dirs: HashMap::new(),
            frags: HashMap::new(),
        }
    }

    fn rewriter(&mut self) -> Rewriter<'_> {
        Rewriter {
            pseudo: self.pseudo,
            addrs: &mut self.addrs,
        }
    }

    /// Rewrite one frame.
    pub fn frame(&mut self, link: LinkType, frame: &[u8]) -> Out {
        let mut out = Out::default();
        let Ok(Some(pkt)) = decode::decode(link, frame) else {
            return out;
        };
        match pkt.l4 {
            L4::Fragment(f) => {
                if pkt.truncated {
                    return out;
                }
                let key = (pkt.net.src, pkt.net.dst, pkt.net.proto, f.id);
                if self.frags.len() >= MAX_PENDING && !self.frags.contains_key(&key) {
                    self.frags.clear();
                }
                let p = self.frags.entry(key).or_default();
                let end = f.offset as usize + f.payload.len();
                if end > MAX_DATAGRAM || p.bytes + f.payload.len() > 2 * MAX_DATAGRAM {
                    self.frags.remove(&key);
                    return out;
                }
                p.bytes += f.payload.len();
                p.pieces.insert(f.offset, f.payload.to_vec());
                if !f.more {
                    p.total = Some(end as u32);
                }
                let Some(whole) = p.complete() else {
                    return out;
                };
                self.frags.remove(&key);
                if let Ok(Some(inner)) = decode::decode_reassembled(pkt.net, &whole, pkt.tunnels) {
                    self.transport(inner.net, inner.l4, &whole, &mut out);
                }
            }
            l4 => self.transport(pkt.net, l4, frame, &mut out),
        }
        out
    }

    fn transport(&mut self, net: Net, l4: L4<'_>, frame: &[u8], out: &mut Out) {
        match l4 {
            L4::Udp {
                src_port,
                dst_port,
                payload,
            } => {
                // SIP by its start line (on any port, as tshark's heuristic).
                let sip = self.rewriter().sip(payload);
                out.sip_messages += u64::from(sip.is_some());
                let body = if sip.is_some() {
                    sip
                } else if !media_ports(src_port, dst_port) {
                    None
                } else if is_rtcp(payload) {
                    Some(rtcp_zeroed(payload))
                } else {
                    rtp_zeroed(payload).or_else(|| channel_data(payload))
                };
                if let Some(b) = body {
                    self.build(net, &b, None, out, (src_port, dst_port));
                }
            }
            L4::Tcp(seg) => self.tcp(net, &seg, frame, out),
            _ => {}
        }
    }

    /// One raw IP packet with mapped addresses; `tcp`: sequence and
    /// acknowledgment numbers, flags and the rest, else UDP.
    fn build(
        &mut self,
        net: Net,
        payload: &[u8],
        tcp: Option<(u32, u32, decode::TcpFlags, TcpExtra)>,
        out: &mut Out,
        (sp, dp): (u16, u16),
    ) {
        let (src, dst) = (
            self.addrs.map(self.pseudo, net.src),
            self.addrs.map(self.pseudo, net.dst),
        );
        let ip = match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                etherparse::PacketBuilder::ipv4(s.octets(), d.octets(), 64)
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                etherparse::PacketBuilder::ipv6(s.octets(), d.octets(), 64)
            }
            // An IPv4-mapped address on one side of an IPv6 packet.
            (s, d) => {
                let v6 = |a: IpAddr| match a {
                    IpAddr::V4(x) => x.to_ipv6_mapped(),
                    IpAddr::V6(x) => x,
                };
                etherparse::PacketBuilder::ipv6(v6(s).octets(), v6(d).octets(), 64)
            }
        };
        let mut v = Vec::with_capacity(payload.len() + 60);
        let r = match tcp {
            None => ip.udp(sp, dp).write(&mut v, payload),
            Some((seq, ack, flags, extra)) => {
                let mut t = ip.tcp(sp, dp, seq, extra.window);
                if flags.syn {
                    t = t.syn();
                }
                if flags.fin {
                    t = t.fin();
                }
                if flags.rst {
                    t = t.rst();
                }
                if extra.psh {
                    t = t.psh();
                }
                if flags.ack {
                    t = t.ack(ack);
                }
                t.write(&mut v, payload)
            }
        };
        if r.is_ok() {
            out.packets.push(v);
        }
    }

    fn tcp(&mut self, net: Net, seg: &decode::TcpSegment<'_>, frame: &[u8], out: &mut Out) {
        let Some(extra) = tcp_extra(frame, seg) else {
            return;
        };
        let key = (net.src, seg.src_port, net.dst, seg.dst_port);
        if self.dirs.len() >= MAX_DIRS && !self.dirs.contains_key(&key) {
            self.dirs.clear();
        }
        let start = if seg.flags.syn {
            seg.seq.wrapping_add(1)
        } else {
            seg.seq
        };
        let dir = self.dirs.entry(key).or_insert_with(|| Dir {
            orig_next: start,
            new_next: start,
            buf: Vec::new(),
            mode: Mode::New,
            sent: BTreeMap::new(),
        });
        if seg.flags.syn {
            // A new connection on the same ports: start over.
            dir.orig_next = start;
            dir.new_next = start;
            dir.buf.clear();
            dir.mode = Mode::New;
            dir.sent.clear();
        }
        let payload = seg.payload;
        let (seq, data) = if seg.flags.syn || payload.is_empty() {
            (
                if seg.flags.syn {
                    seg.seq
                } else {
                    dir.map(seg.seq)
                },
                Vec::new(),
            )
        } else if seg.seq == dir.orig_next || seg.seq.wrapping_sub(dir.orig_next) < 1 << 30 {
            if seg.seq != dir.orig_next {
                // A gap (lost segment): what was buffered cannot complete.
                dir.new_next = dir
                    .new_next
                    .wrapping_add(seg.seq.wrapping_sub(dir.orig_next));
                dir.orig_next = seg.seq;
                dir.buf.clear();
            }
            let new_seq = dir.new_next;
            if dir.buf.len() + payload.len() > MAX_BUFFER {
                dir.buf.clear();
                dir.mode = Mode::Other;
            }
            dir.buf.extend_from_slice(payload);
            let mode = dir.mode;
            let mut buf = std::mem::take(&mut dir.buf);
            let (bytes, mode, n) = stream(
                &mut Rewriter {
                    pseudo: self.pseudo,
                    addrs: &mut self.addrs,
                },
                mode,
                &mut buf,
            );
            out.sip_messages += n;
            let dir = self
                .dirs
                .get_mut(&key)
                .unwrap_or_else(|| unreachable!("inserted above"));
            dir.buf = buf;
            dir.mode = mode;
            dir.orig_next = dir.orig_next.wrapping_add(payload.len() as u32);
            dir.new_next = dir.new_next.wrapping_add(bytes.len() as u32);
            if dir.sent.len() >= MAX_SENT {
                dir.sent.pop_first();
            }
            dir.sent.insert(seg.seq, (new_seq, bytes.clone()));
            (new_seq, bytes)
        } else {
            // A retransmission: as written the first time, else empty.
            match dir.sent.get(&seg.seq) {
                Some((s, b)) => (*s, b.clone()),
                None => (dir.map(seg.seq), Vec::new()),
            }
        };
        let dir = self
            .dirs
            .get_mut(&key)
            .unwrap_or_else(|| unreachable!("inserted above"));
        if seg.flags.fin && seg.seq.wrapping_add(payload.len() as u32) == dir.orig_next {
            dir.orig_next = dir.orig_next.wrapping_add(1);
            dir.new_next = dir.new_next.wrapping_add(1);
        }
        let ack = match self
            .dirs
            .get(&(net.dst, seg.dst_port, net.src, seg.src_port))
        {
            Some(rev) => rev.map(extra.ack),
            None => extra.ack,
        };
        self.build(
            net,
            &data,
            Some((seq, ack, seg.flags, extra)),
            out,
            (seg.src_port, seg.dst_port),
        );
    }
}

/// Frame and rewrite what `buf` holds in `mode`; returns the bytes to
/// send, the next mode and the SIP messages rewritten. What is consumed is
/// drained from `buf`.
fn stream(rw: &mut Rewriter<'_>, mut mode: Mode, buf: &mut Vec<u8>) -> (Vec<u8>, Mode, u64) {
    let mut out = Vec::new();
    let mut n = 0;
    loop {
        if buf.is_empty() {
            break;
        }
        match mode {
            Mode::New => {
                mode = if framing::looks_like_websocket_upgrade(buf) || ws::is_http_101(buf) {
                    Mode::Http
                } else if framing::is_tls_record(buf) {
                    Mode::Other
                } else if framing::looks_like_sip(buf) || framing::could_be_start_line(buf) {
                    Mode::Sip
                } else {
                    Mode::Other
                };
                if mode == Mode::Sip && !framing::looks_like_sip(buf) && !buf.contains(&b'\n') {
                    // A start line still arriving.
                    return (out, Mode::New, n);
                }
            }
            Mode::Other => {
                buf.clear();
            }
            Mode::Sip => match framing::frame_stream(buf) {
                StreamFrame::Complete { len } => {
                    if let Some(m) = buf.get(..len).and_then(|m| rw.sip(m)) {
                        out.extend_from_slice(&m);
                        n += 1;
                    }
                    buf.drain(..len.min(buf.len()));
                }
                StreamFrame::Skip { len } => {
                    out.extend(buf.drain(..len.min(buf.len())));
                }
                StreamFrame::NeedMore => break,
                StreamFrame::Invalid { skip, .. } => {
                    buf.drain(..skip.clamp(1, buf.len()));
                }
            },
            Mode::Http => match ws::http_header_end(buf, 16 * 1024) {
                Some(end) => {
                    out.extend_from_slice(&http_head(rw, buf.get(..end).unwrap_or(&[])));
                    buf.drain(..end.min(buf.len()));
                    mode = Mode::Ws;
                }
                None if buf.len() > 16 * 1024 => mode = Mode::Other,
                None => break,
            },
            Mode::Ws => match ws::parse_frame(buf) {
                Ok(Some((f, used))) => {
                    let mut payload = Vec::new();
                    match f.mask {
                        Some(k) => ws::unmask_into(f.payload, k, &mut payload),
                        None => payload.extend_from_slice(f.payload),
                    }
                    let op = opcode_u8(f.opcode);
                    if f.opcode.is_control() {
                        out.extend_from_slice(&ws_frame(op, f.mask.is_some(), &[]));
                    } else if let Some(m) = framing::looks_like_sip(&payload)
                        .then(|| rw.sip(&payload))
                        .flatten()
                    {
                        out.extend_from_slice(&ws_frame(op, f.mask.is_some(), &m));
                        n += 1;
                    }
                    buf.drain(..used.min(buf.len()));
                }
                Ok(None) => break,
                Err(_) => mode = Mode::Other,
            },
        }
    }
    (out, mode, n)
}

/// The HTTP upgrade head (RFC 6455 §4): request line with path `/`,
/// status line as standard, the upgrade headers as they are when they are
/// plain tokens, every other header redacted.
fn http_head(rw: &mut Rewriter<'_>, head: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(head.len());
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let first = lines.next().unwrap_or(&[]);
    if first.starts_with(b"HTTP/") {
        out.extend_from_slice(b"HTTP/1.1 101 Switching Protocols\r\n");
    } else {
        out.extend_from_slice(b"GET / HTTP/1.1\r\n");
    }
    for l in lines {
        let Some(c) = l.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&l[..c], l[c + 1..].trim_ascii());
        const PLAIN: &[&[u8]] = &[
            b"upgrade",
            b"connection",
            b"sec-websocket-protocol",
            b"sec-websocket-version",
        ];
        let plain = PLAIN.iter().any(|p| p.eq_ignore_ascii_case(name))
            && value
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b", -.".contains(&b));
        if plain {
            out.extend_from_slice(name);
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
        } else {
            out.extend_from_slice(rw.pseudo.redact(name, value).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtp_header_kept_payload_zeroed() {
        // V=2, X=1, CC=0; PT 0; seq 1; ts; SSRC; ext profile 0xBEDE, 1 word; payload.
        let mut p = vec![
            0x90, 0x00, 0, 1, 0, 0, 0, 160, 1, 2, 3, 4, 0xbe, 0xde, 0, 1, 0x10, 0x55, 0, 0,
        ];
        p.extend_from_slice(b"voice!");
        let z = rtp_zeroed(&p).unwrap();
        assert_eq!(z.len(), p.len());
        assert_eq!(&z[..16], &p[..16]);
        assert!(z[16..].iter().all(|&b| b == 0));
        assert!(rtp_zeroed(b"\x16\xfe\xfd").is_none());
    }

    #[test]
    fn rtcp_keeps_header_and_ssrc() {
        // SDES: V=2 SC=1, PT 202, length 3 words; SSRC; CNAME item.
        let p = [
            0x81, 202, 0, 3, 1, 2, 3, 4, 1, 4, b'b', b'o', b'b', b'!', 0, 0,
        ];
        assert!(is_rtcp(&p));
        let z = rtcp_zeroed(&p);
        assert_eq!(&z[..8], &p[..8]);
        assert!(z[8..].iter().all(|&b| b == 0));
    }

    #[test]
    fn ws_frames_round_trip_through_the_parser() {
        for (len, masked) in [(5usize, true), (300, false), (70_000, true)] {
            let payload = vec![b'x'; len];
            let f = ws_frame(1, masked, &payload);
            let (frame, used) = ws::parse_frame(&f).unwrap().unwrap();
            assert_eq!(used, f.len());
            let mut un = Vec::new();
            match frame.mask {
                Some(k) => ws::unmask_into(frame.payload, k, &mut un),
                None => un.extend_from_slice(frame.payload),
            }
            assert_eq!(un, payload);
        }
    }
}
