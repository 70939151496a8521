//! The fuzz harnesses, one function per entry point, shared by the cargo-fuzz
//! targets (`fuzz/fuzz_targets/*.rs`) and the normal test suite
//! (`tests/regressions.rs` replays every file of `tests/regressions/<target>/`
//! through the same function). Each function takes arbitrary bytes and
//! asserts the invariants of its entry point; a panic is a finding.
#![allow(dead_code)]

use sipsentinel::config::Limits;
use sipsentinel::decode::defrag::{Defrag, DefragConfig, DefragOutcome};
use sipsentinel::decode::tcp::{StreamKey, TcpConfig, TcpReassembler};
use sipsentinel::decode::{self, Fragment, LinkType, Net, TcpFlags, TcpSegment, L4};
use sipsentinel::media::classify;
use sipsentinel::metrics::Metrics;
use sipsentinel::pipeline::worker::Worker;
use sipsentinel::sdp;
use sipsentinel::sip::body as sip_body;
use sipsentinel::sip::framing::{self, StreamFrame};
use sipsentinel::sip::stream::{SipEvent, StreamState};
use sipsentinel::sip::{parse_message, ws};
use sipsentinel::testkit::frames;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// A harness: arbitrary bytes in, panics on a broken invariant.
pub type Harness = fn(&[u8]);

/// Every target by name, for the replay test and `fuzz/run.sh`.
pub const TARGETS: [(&str, Harness); 9] = [
    ("decode_frame", decode_frame),
    ("sip_parse", sip_parse),
    ("sip_stream", sip_stream),
    ("ws_frame", ws_frame),
    ("sdp", sdp_body),
    ("rtp_classify", rtp_classify),
    ("defrag_tcp", defrag_tcp),
    ("whole_path", whole_path),
    ("nested", nested),
];

/// `decode` with the link type chosen by the first byte; a fragment's
/// payload is also fed to `decode_reassembled`, and SCTP chunks are walked.
pub fn decode_frame(data: &[u8]) {
    let Some((&sel, frame)) = data.split_first() else {
        return;
    };
    let link = LinkType::ALL[usize::from(sel) % LinkType::ALL.len()];
    let Ok(Some(p)) = decode::decode(link, frame) else {
        return;
    };
    assert!(p.tunnels <= decode::MAX_LAYERS, "tunnels {}", p.tunnels);
    let _ = decode::FlowHasher::new([1, 2, 3, 4]).hash(&p);
    match p.l4 {
        L4::Udp { payload, .. } => assert!(payload.len() <= frame.len()),
        L4::Tcp(seg) => assert!(seg.payload.len() <= frame.len()),
        L4::Sctp { chunks, .. } => {
            assert!(chunks.len() <= frame.len());
            let mut n = 0usize;
            for c in decode::sctp_data_chunks(chunks) {
                assert!(c.data.len() <= chunks.len());
                n += 1;
                // Each chunk is at least 16 bytes of header: the walk ends.
                assert!(n <= chunks.len() / 16 + 1, "sctp chunk walk runs away");
            }
        }
        L4::Fragment(f) => {
            assert!(f.payload.len() <= frame.len());
            let _ = decode::decode_reassembled(p.net, f.payload, p.tunnels);
        }
        L4::Other => {}
    }
}

/// `parse_message` and everything a caller then asks of a message, plus the
/// framer on the same bytes.
pub fn sip_parse(data: &[u8]) {
    if let Ok(m) = parse_message(data) {
        assert!(m.len <= data.len());
        assert!(m.body.len() <= data.len());
        assert!(m.headers.len() <= sipsentinel::sip::parse::MAX_HEADERS);
        let _ = (m.cseq(), m.call_id(), m.content_length(), m.status_class());
        let _ = (m.kind(), m.method().as_str(), m.validate());
        for h in &m.headers {
            let _ = h.is_named(b"via");
        }
    }
    let _ = framing::looks_like_sip(data);
    let _ = framing::resync_offset(data);
    check_frame(data);
}

fn check_frame(data: &[u8]) {
    match framing::frame_stream(data) {
        StreamFrame::Complete { len } | StreamFrame::Skip { len } => {
            assert!(len > 0 && len <= data.len(), "len {len} of {}", data.len())
        }
        StreamFrame::Invalid { skip, .. } => {
            assert!(
                skip > 0 && skip <= data.len(),
                "skip {skip} of {}",
                data.len()
            )
        }
        StreamFrame::NeedMore => {}
    }
}

/// Input layout: byte 0 = flags (bit 0: TLS port hint, bit 1: a gap after
/// the first chunk), byte 1..4 = three cut points; the rest is the stream,
/// fed in up to four chunks, consuming what `on_data` reports like the
/// worker does (the buffer keeps what was not consumed).
pub fn sip_stream(data: &[u8]) {
    let (hdr, body) = data.split_at(data.len().min(4));
    let flags = hdr.first().copied().unwrap_or(0);
    let mut cuts: Vec<usize> = hdr
        .iter()
        .skip(1)
        .map(|&b| usize::from(b) * body.len() / 256)
        .collect();
    cuts.push(body.len());
    cuts.sort_unstable();
    let mut st = StreamState::default();
    let mut buf: Vec<u8> = Vec::new();
    let mut at = 0;
    for (i, &cut) in cuts.iter().enumerate() {
        buf.extend_from_slice(&body[at..cut]);
        at = cut;
        let mut events = 0usize;
        let n = st.on_data(&buf, flags & 1 != 0, |ev| {
            events += 1;
            if let SipEvent::Message { msg, .. } = ev {
                let _ = (msg.call_id(), msg.cseq(), msg.status_class());
            }
        });
        assert!(n <= buf.len(), "consumed {n} of {}", buf.len());
        // At most one event per consumed byte, plus a final NotSip/Tls.
        assert!(events <= n + 1, "{events} events for {n} bytes");
        buf.drain(..n);
        if i == 0 && flags & 2 != 0 {
            st.on_gap();
            buf.clear();
        }
    }
}

/// One WebSocket frame, unmasked like the stream state does, and the HTTP
/// head helpers.
pub fn ws_frame(data: &[u8]) {
    if let Ok(Some((f, n))) = ws::parse_frame(data) {
        assert!(n <= data.len());
        assert!(f.payload.len() <= n);
        if let Some(k) = f.mask {
            let mut out = Vec::new();
            ws::unmask_into(f.payload, k, &mut out);
            assert_eq!(out.len(), f.payload.len());
        }
    }
    if let Some(e) = ws::http_header_end(data, 4096) {
        assert!(e <= data.len().min(4096));
    }
    let _ = ws::is_http_101(data);
}

/// The first line is a Content-Type, the rest a body: `for_each_part`,
/// `sdp_from_body`, then `parse_sdp` on every leaf and on the whole input.
pub fn sdp_body(data: &[u8]) {
    let (ct, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&b"application/sdp"[..], data),
    };
    let mut leaves = Vec::new();
    let n = sip_body::for_each_part(ct, body, &mut |c, b| leaves.push((c, b)));
    assert_eq!(n, leaves.len());
    assert!(n <= sip_body::MAX_PARTS);
    for (_, b) in &leaves {
        assert!(b.len() <= body.len());
        check_sdp(b);
    }
    if let Some(s) = sip_body::sdp_from_body(ct, body) {
        assert!(s.len() <= body.len());
    }
    check_sdp(data);
}

fn check_sdp(b: &[u8]) {
    if let Ok(s) = sdp::parse_sdp(b) {
        assert!(s.media.len() <= sdp::MAX_MEDIA);
        assert!(s.candidate_addrs.len() <= sdp::MAX_CANDIDATES);
        let _ = s.media_endpoints().count();
        let _ = s.candidate_endpoints().count();
        let _ = s.has_inline_key();
        for m in &s.media {
            let _ = (s.declared(m), s.direction(m));
        }
    }
}

/// `classify` and the RTCP walker on one UDP payload.
pub fn rtp_classify(data: &[u8]) {
    match classify::classify(data) {
        classify::PacketKind::Rtp(h) => {
            assert!(h.header_len() <= data.len());
            assert!(h.payload().len() <= data.len());
            let _ = (h.payload_type(), h.sequence(), h.ssrc(), h.len());
        }
        classify::PacketKind::Rtcp(i) => {
            let _ = i.first_type();
        }
        k => {
            let _ = k.as_str();
        }
    }
    let _ = classify::rtcp(data);
    let _ = classify::RtpHeader::new_checked(data);
}

/// Bounds used by `defrag_tcp`.
pub const FUZZ_DEFRAG: DefragConfig = DefragConfig {
    max_datagrams: 4,
    max_datagram_bytes: 2048,
    max_bytes: 8192,
    timeout: Duration::from_secs(5),
};
pub const FUZZ_TCP: TcpConfig = TcpConfig {
    max_streams: 4,
    max_buffer: 4096,
    max_out_of_order_segments: 4,
    max_total_bytes: 24 * 1024,
    idle_timeout: Duration::from_secs(10),
};

/// A little reader over the fuzz input.
struct Ops<'a>(&'a [u8]);

impl<'a> Ops<'a> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes([self.u8()?, self.u8()?]))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes([
            self.u8()?,
            self.u8()?,
            self.u8()?,
            self.u8()?,
        ]))
    }
    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
}

/// Sequences of IP fragments and TCP segments driving [`Defrag`] and
/// [`TcpReassembler`] with tiny bounds; after every step the tables are
/// within their caps and every buffer within its bound.
///
/// Each op: a tag byte (bit 0: fragment or segment; bits 1..3: which of
/// 4 flows; bits 4..7: flags), then fields, then a payload whose length is
/// the next byte times 8 (a fragment) or the next u16 mod 2048 (a segment).
pub fn defrag_tcp(data: &[u8]) {
    let mut defrag = Defrag::new(FUZZ_DEFRAG);
    let mut tcp: TcpReassembler<u32> = TcpReassembler::new(FUZZ_TCP);
    let mut ops = Ops(data);
    let mut now = Duration::from_secs(1);
    let mut steps = 0usize;
    while let Some(tag) = ops.u8() {
        steps += 1;
        let flow = (tag >> 1) & 3;
        let src = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1 + flow));
        let dst = IpAddr::V4(Ipv4Addr::new(10, 0, 1, 1));
        if tag & 0x80 != 0 {
            now += Duration::from_secs(u64::from(tag & 7));
        }
        if tag & 1 == 0 {
            let (Some(id), Some(off), Some(len)) = (ops.u8(), ops.u16(), ops.u8()) else {
                break;
            };
            let payload = ops.bytes(usize::from(len) * 8);
            let net = Net {
                src,
                dst,
                proto: 17,
            };
            let frag = Fragment {
                id: u32::from(id & 3),
                offset: u32::from(off & 0x1fff) * 8,
                more: tag & 0x10 != 0,
                payload,
            };
            if let DefragOutcome::Complete(whole) = defrag.push(&net, &frag, now) {
                assert!(whole.len() <= FUZZ_DEFRAG.max_datagram_bytes);
                let _ = decode::decode_reassembled(net, &whole, 0);
            }
            assert!(defrag.len() <= FUZZ_DEFRAG.max_datagrams);
            assert!(defrag.held_bytes() <= FUZZ_DEFRAG.max_bytes);
        } else {
            let (Some(seq), Some(len)) = (ops.u32(), ops.u16()) else {
                break;
            };
            let payload = ops.bytes(usize::from(len) % 2048);
            let key = StreamKey {
                src,
                dst,
                src_port: 5060 + u16::from(flow),
                dst_port: 5060,
            };
            let seg = TcpSegment {
                src_port: key.src_port,
                dst_port: key.dst_port,
                seq,
                flags: TcpFlags {
                    syn: tag & 0x10 != 0,
                    fin: tag & 0x20 != 0,
                    rst: tag & 0x40 != 0 && tag & 0x10 == 0,
                    ack: true,
                },
                payload,
            };
            if let Some(s) = tcp.segment(key, &seg, now) {
                assert!(
                    s.unconsumed() <= FUZZ_TCP.max_buffer,
                    "unconsumed {} > {}",
                    s.unconsumed(),
                    FUZZ_TCP.max_buffer
                );
                let _ = s.take_gap();
                let (bytes, count) = s.parts();
                *count += 1;
                // Consume about half, like a framer that waits for more.
                let n = bytes.len() / 2;
                s.consume(n);
            }
            assert!(tcp.len() <= FUZZ_TCP.max_streams);
            assert!(tcp.held_bytes() <= FUZZ_TCP.max_total_bytes);
        }
        if steps % 16 == 0 {
            defrag.expire(now);
            tcp.expire(now);
        }
    }
    let _ = (defrag.take_stats(), tcp.take_stats());
}

/// Frames through `Worker::frame` with a fresh `Metrics` and small limits.
/// Layout: repeated [link selector byte][u16 length][frame bytes]; capture
/// time advances 10 ms per frame (so expiry runs).
pub fn whole_path(data: &[u8]) {
    let metrics = Metrics::new();
    // The real pool sizes: bounds are the defaults, not shrunk for fuzzing,
    // so a cost that only shows in a large table is reachable.
    let limits = Limits::default();
    let mut w = Worker::standalone(0, &metrics, &limits);
    let mut ops = Ops(data);
    let mut ts = Duration::from_secs(1_000_000);
    while let (Some(sel), Some(len)) = (ops.u8(), ops.u16()) {
        let frame = ops.bytes(usize::from(len));
        let link = LinkType::ALL[usize::from(sel) % LinkType::ALL.len()];
        w.frame(link, ts, frame);
        ts += Duration::from_millis(10 * u64::from(sel >> 4) + 1);
    }
    drop(w);
    let text = metrics.render();
    assert!(text.contains("sipsentinel_build_info"));
}

/// Encapsulation of one nesting level of [`nested`].
fn encapsulate(kind: u8, inner_v4: &[u8]) -> (u8, Vec<u8>) {
    match kind % 4 {
        // IP-in-IP (protocol 4).
        0 => (4, inner_v4.to_vec()),
        // GRE carrying IPv4 (RFC 2784).
        1 => {
            let mut g = vec![0, 0, 0x08, 0x00];
            g.extend_from_slice(inner_v4);
            (47, g)
        }
        // VXLAN (UDP 4789) carrying Ethernet/IPv4.
        2 => {
            let mut v = vec![0x08, 0, 0, 0, 0, 0, 1, 0];
            v.extend_from_slice(&frames::eth(0x0800, inner_v4));
            (17, frames::udp(40000, 4789, &v))
        }
        // Plain UDP to 5060 (ends the chain's meaning, not its bytes).
        _ => (17, frames::udp(5060, 5060, inner_v4)),
    }
}

/// Nested encapsulations and fragments, shaped like the attack on the
/// reassembly recursion: each input byte is one level (kind: IP-in-IP,
/// GRE, VXLAN, UDP; whether the level is fragmented; the split point), up
/// to 512 levels, built inside out. Fragments of every level are sent
/// (first fragments first, in the order the bytes give), then the outer
/// frame. A [`Worker`] with the default (real) limits processes them: no
/// panic and no stack overflow, and reassemblies stay within the layer
/// budget per frame.
pub fn nested(data: &[u8]) {
    let levels = &data[..data.len().min(512)];
    let sip = b"OPTIONS sip:x SIP/2.0\r\nCall-ID: n\r\nCSeq: 1 OPTIONS\r\n\r\n";
    let mut cur = {
        let (_, udp) = encapsulate(3, sip);
        frames::ipv4_fragment(17, 0, 0, false, &udp)
    };
    let mut early: Vec<Vec<u8>> = Vec::new();
    for (i, &b) in levels.iter().enumerate() {
        let (proto, payload) = encapsulate(b, &cur);
        if payload.len() + 20 > 65_535 {
            break;
        }
        let id = i as u16;
        if b & 0x10 != 0 && payload.len() > 16 {
            // Split at a multiple of 8 chosen by the byte's high bits.
            let cut = ((usize::from(b >> 5) + 1) * 8).min(payload.len() - 8) / 8 * 8;
            early.push(frames::ipv4_fragment(proto, id, 0, true, &payload[..cut]));
            cur = frames::ipv4_fragment(proto, id, cut, false, &payload[cut..]);
        } else {
            cur = frames::ipv4_fragment(proto, id, 0, false, &payload);
        }
    }
    let metrics = Metrics::new();
    let mut w = Worker::standalone(0, &metrics, &Limits::default());
    let mut ts = Duration::from_secs(1_000_000);
    let frames = early.len() + 1;
    for f in early.iter().chain(std::iter::once(&cur)) {
        w.frame(LinkType::Raw, ts, f);
        ts += Duration::from_micros(1);
    }
    w.finish();
    drop(w);
    let text = metrics.render();
    let reassembled = text
        .lines()
        .find_map(|l| l.strip_prefix("sipsentinel_ip_datagrams_reassembled_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(
        reassembled <= (frames * usize::from(decode::MAX_LAYERS)) as f64,
        "{reassembled} reassemblies from {frames} frames"
    );
}
