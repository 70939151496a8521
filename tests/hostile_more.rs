//! Hostile traffic, second round (shapes of the classes in
//! `hostile_core.rs` and `hostile_reasm.rs` those tests do not cover), each
//! input generated here:
//! - WebSocket resynchronisation: after a bad frame, garbage in which every
//!   other byte parses as a small masked frame costs about what a stream
//!   of real SIP frames costs, packet for packet;
//! - nesting through IPv6 fragments: IPv6-in-IPv6 (next header 41) and
//!   IPv6/IPv4 alternating (6in4, IP-in-IPv6) reassembly chains end at the
//!   layer budget, counted, with no stack overflow.
//!
//! Timed comparisons are ratios of two runs made side by side in this
//! process, never absolute times.

mod common;

use common::frames::{self, tcp4};
use common::limited::assert_contract;
use common::limited::run_limited;
use common::sensor::sum_text;
use common::temp_dir;
use common::PcapWriter;
use std::path::Path;
use std::time::Duration;

const CLIENT: [u8; 4] = [10, 0, 0, 1];
const SERVER: [u8; 4] = [10, 0, 0, 2];

/// One client-to-server WebSocket stream: the upgrade, then `segments`.
fn write_ws_stream(path: &Path, segments: &[Vec<u8>]) {
    let mut w = PcapWriter::create(path, 1);
    let mut ts = Duration::from_secs(1_700_000_000);
    let mut seq = 1000u32;
    let hs: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Protocol: sip\r\n\r\n";
    for p in std::iter::once(hs).chain(segments.iter().map(Vec::as_slice)) {
        w.write(ts, &tcp4(CLIENT, SERVER, 40_000, 5062, seq, false, p));
        seq = seq.wrapping_add(p.len() as u32);
        ts += Duration::from_micros(10);
    }
    w.finish();
}

fn masked_frame(msg: &[u8], key: [u8; 4]) -> Vec<u8> {
    let mut f = vec![0x81, 0x80 | 126];
    f.extend_from_slice(&(msg.len() as u16).to_be_bytes());
    f.extend_from_slice(&key);
    f.extend(msg.iter().zip(key.iter().cycle()).map(|(b, k)| b ^ k));
    f
}

#[test]
fn websocket_resync_garbage_costs_what_frames_cost() {
    let dir = temp_dir("ws-resync");
    let (hostile, friendly) = (dir.join("hostile.pcap"), dir.join("friendly.pcap"));
    let n = 20_000;
    // Hostile: a frame announcing 2^40 bytes (refused: the stream
    // resynchronises), then `81 FD` pairs: at every other offset a
    // complete masked text frame of 125 bytes whose payload is no start
    // line. Before the fix each such offset unmasked a 64-byte head.
    let pattern = [0x81u8, 0xFD].repeat(700);
    let mut first = vec![0x81, 0x7F];
    first.extend_from_slice(&(1u64 << 40).to_be_bytes());
    first.extend_from_slice(&pattern[..1390]);
    let mut segs = vec![first];
    segs.extend(std::iter::repeat_n(pattern, n - 1));
    write_ws_stream(&hostile, &segs);
    // Friendly: the same number of segments, each 7 masked frames of one
    // OPTIONS (1,358 bytes).
    let msg = b"OPTIONS sip:x@example.com SIP/2.0\r\nVia: SIP/2.0/WS a.invalid;branch=z9hG4bK1\r\n\
        From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: abc\r\nCSeq: 1 OPTIONS\r\n\
        Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
    let seg = masked_frame(msg, [0x11, 0x22, 0x33, 0x44]).repeat(7);
    write_ws_stream(&friendly, &vec![seg; n]);
    let audit = |p: &Path| {
        let run = run_limited(
            &["audit", "--format", "prometheus", p.to_str().unwrap()],
            Duration::from_secs(300),
            2048,
            &dir,
        );
        assert_contract(&run, "websocket");
        assert_eq!(
            sum_text(
                &run.stdout,
                "sipsentinel_tcp_segments_total",
                &[("event", "segment")]
            ),
            (n + 1) as f64
        );
        run
    };
    let mut h = Vec::new();
    let mut f = Vec::new();
    for _ in 0..3 {
        let r = audit(&hostile);
        // The hostile stream did go through resynchronisation.
        assert_eq!(
            sum_text(
                &r.stdout,
                "sipsentinel_sip_parse_errors_total",
                &[("reason", "bad_ws_frame")]
            ),
            1.0
        );
        h.push(r.elapsed);
        let r = audit(&friendly);
        assert_eq!(
            sum_text(
                &r.stdout,
                "sipsentinel_sip_messages_total",
                &[("transport", "ws")]
            ),
            (7 * n) as f64
        );
        f.push(r.elapsed);
    }
    h.sort();
    f.sort();
    let ratio = h[1].as_secs_f64() / f[1].as_secs_f64();
    eprintln!(
        "websocket resync: hostile {:?}, friendly {:?}, ratio {ratio:.2}",
        h[1], f[1]
    );
    assert!(ratio <= 3.0, "hostile/friendly = {ratio:.2}");
    if std::env::var_os("SIPSENTINEL_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// A chain of `depth` datagrams (ids from `base`,
/// [`frames::fragment_chain`]): datagram i holds, past its first 8 bytes,
/// the last fragment of datagram i-1; `v6(i)` says whether datagram i is
/// IPv6. Frames in sending order: every first fragment, then the top
/// datagram's last fragment.
fn chain(base: u32, depth: usize, v6: impl Fn(usize) -> bool) -> Vec<Vec<u8>> {
    let mut payload = vec![0x13, 0xc4, 0x13, 0xc4, 0, 33, 0, 0];
    payload.extend_from_slice(b"OPTIONS sip:x SIP/2.0\r\n\r\n");
    frames::fragment_chain(base, depth, v6, &payload)
}

#[test]
fn nested_ipv6_reassembly_ends_at_the_layer_budget() {
    let dir = temp_dir("nesting6");
    // IPv6-in-IPv6 grows 40 bytes a level: 1,500 levels fit a datagram.
    type Shape = (&'static str, usize, usize, fn(usize) -> bool);
    let shapes: [Shape; 2] = [
        ("ipv6-in-ipv6", 12, 1_500, |_| true),
        ("ipv6/ipv4 alternating", 12, 2_000, |i| i % 2 == 0),
    ];
    for (what, chains, depth, v6) in shapes {
        let pcap = dir.join("nested.pcap");
        let mut w = PcapWriter::create(&pcap, 101);
        let mut ts = Duration::from_secs(1_700_000_000);
        for c in 0..chains {
            for f in chain((c * (depth + 10)) as u32 + 1, depth, v6) {
                w.write(ts, &f);
                ts += Duration::from_micros(1);
            }
        }
        w.finish();
        // One worker: the alternating chain spans two address pairs (the
        // IPv6 and the IPv4 one), which the per-start random dispatch key
        // puts on one worker or on two by chance; only a worker that holds
        // both sees the chain cascade. (With two, each reassembly's inner
        // fragment is handled where its outer datagram was, and the chain
        // stops early without reaching the budget.)
        let run = run_limited(
            &[
                "audit",
                "--format",
                "prometheus",
                "--workers",
                "1",
                pcap.to_str().unwrap(),
            ],
            Duration::from_secs(120),
            2048,
            &dir,
        );
        assert_contract(&run, what);
        assert_eq!(
            sum_text(
                &run.stdout,
                "sipsentinel_decode_failures_total",
                &[("layer", "tunnel"), ("reason", "too_many_layers")]
            ),
            chains as f64,
            "{what}"
        );
        eprintln!(
            "{what}: {chains} x {depth} levels: exit 0, peak RSS {} KiB",
            run.max_rss_kib
        );
    }
    if std::env::var_os("SIPSENTINEL_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
