//! Hostile traffic against the sensor core, one test per class (issue
//! "Hostile traffic"), each input generated here:
//! - nesting: IP-in-IP fragments whose reassembly completes another
//!   datagram, chains far deeper than the defragmentation pool, must end at
//!   the layer budget (counted), never overflow a worker's stack;
//! - table-full cost: INVITEs announcing new media endpoints into a full
//!   endpoint table cost about what INVITEs repeating endpoints cost.
//!
//! Timed comparisons are ratios of two runs made side by side in this
//! process, never absolute times.

mod robust;

use robust::{assert_contract, run_bounded, sum_metric, tmpdir, PcapWriter};
use std::path::Path;
use std::time::Duration;

/// The sensor's default defragmentation pool (datagrams per worker).
const DEFAULT_POOL: usize = 4096;
/// `decode::MAX_LAYERS`: tunnels and reassemblies per frame.
const MAX_LAYERS: usize = 8;

/// A raw IPv4 header (no options) for a fragment of datagram `id`.
fn ipv4(proto: u8, id: u16, offset: usize, more: bool, payload: &[u8]) -> Vec<u8> {
    let total = 20 + payload.len();
    assert!(total <= 65_535 && offset % 8 == 0);
    let mut h = vec![0x45, 0];
    h.extend_from_slice(&(total as u16).to_be_bytes());
    h.extend_from_slice(&id.to_be_bytes());
    let frag = (offset / 8) as u16 | if more { 0x2000 } else { 0 };
    h.extend_from_slice(&frag.to_be_bytes());
    h.extend_from_slice(&[64, proto, 0, 0]);
    h.extend_from_slice(&[198, 51, 100, 7]);
    h.extend_from_slice(&[203, 0, 113, 9]);
    h.extend_from_slice(payload);
    h
}

/// One chain of `depth` datagrams, ids `base..base+depth+1`: datagram i
/// (i >= 1, IP-in-IP) holds, past its first 8 bytes, the last fragment of
/// datagram i-1, so completing the top one completes each below it in turn.
/// Returns the frames in sending order: every first fragment, then the top
/// datagram's two fragments.
fn chain(base: u16, depth: usize) -> Vec<Vec<u8>> {
    // Datagram 0: a UDP datagram to 5060 (8-byte header + a short body).
    let mut body = vec![0x13, 0xc4, 0x13, 0xc4, 0, 24, 0, 0];
    body.extend_from_slice(b"OPTIONS sip:x SIP/2.0\r\n\r\n");
    let mut payload = body;
    let mut proto = 17u8;
    let mut firsts = Vec::with_capacity(depth + 1);
    for i in 0..=depth {
        let id = base.wrapping_add(i as u16);
        // First fragment: bytes 0..8 of this datagram's payload.
        firsts.push(ipv4(proto, id, 0, true, &payload[..8]));
        if i == depth {
            let last = ipv4(proto, id, 8, false, &payload[8..]);
            let mut frames = firsts;
            frames.push(last);
            return frames;
        }
        // The next datagram carries this one's last fragment.
        payload = ipv4(proto, id, 8, false, &payload[8..]);
        proto = 4;
    }
    unreachable!()
}

fn metrics_of(run: &robust::Run) -> &str {
    &run.stdout
}

#[test]
fn nested_reassembly_ends_at_the_layer_budget() {
    let dir = tmpdir("nesting");
    let pcap = dir.join("nested.pcap");
    let mut w = PcapWriter::create(&pcap, 101);
    // Ten pools' worth of nesting: chains of 4,000 (each as deep as one
    // pool holds), all from one address pair, so one worker gets them all.
    let (chains, depth) = (10usize, 4_000usize);
    assert!(chains * depth >= 10 * DEFAULT_POOL - chains * 100);
    let mut ts = Duration::from_secs(1_700_000_000);
    for c in 0..chains {
        for f in chain((c * (depth + 1)) as u16, depth) {
            w.write(ts, &f);
            ts += Duration::from_micros(1);
        }
    }
    let frames = w.frames;
    w.finish();
    let p = pcap.to_str().unwrap();
    let run = run_bounded(
        &["audit", "--format", "prometheus", "--workers", "2", p],
        Duration::from_secs(120),
        2048,
        &dir,
    );
    assert_contract(&run, "nested reassembly");
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let m = metrics_of(&run);
    assert_eq!(
        sum_metric(m, "sipsentinel_capture_packets_total", &[]),
        frames as f64
    );
    // Each chain stops once, at the budget: a level is a reassembly and an
    // IP-in-IP header, two layers, so MAX_LAYERS/2 + 1 datagrams complete
    // before the next would pass it.
    let stopped = sum_metric(
        m,
        "sipsentinel_decode_failures_total",
        &[("layer", "tunnel"), ("reason", "too_many_layers")],
    );
    assert_eq!(stopped, chains as f64, "{m}");
    let reassembled = sum_metric(m, "sipsentinel_ip_datagrams_reassembled_total", &[]);
    assert_eq!(reassembled, (chains * (MAX_LAYERS / 2 + 1)) as f64);
    // The innermost SIP was never reached.
    assert_eq!(sum_metric(m, "sipsentinel_sip_messages_total", &[]), 0.0);
    if std::env::var_os("SIPSENTINEL_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// An INVITE whose SDP announces `n` media lines at `addr`, ports from
/// `port0`.
fn invite(i: usize, addr: [u8; 4], port0: u16, n: u16) -> Vec<u8> {
    let a = format!("{}.{}.{}.{}", addr[0], addr[1], addr[2], addr[3]);
    let mut sdp = format!("v=0\r\no=- 1 1 IN IP4 {a}\r\ns=-\r\nc=IN IP4 {a}\r\nt=0 0\r\n");
    for k in 0..n {
        sdp.push_str(&format!("m=audio {} RTP/AVP 0\r\n", port0 + 2 * k));
    }
    let msg = format!(
        "INVITE sip:b@example.invalid SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK{i}\r\n\
         From: <sip:a@example.invalid>;tag={i}\r\n\
         To: <sip:b@example.invalid>\r\n\
         Call-ID: c{i}\r\nCSeq: 1 INVITE\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    robust::udp4([192, 0, 2, 1], [192, 0, 2, 2], 5060, 5060, msg.as_bytes())
}

fn write_invites(path: &Path, n: usize, distinct: bool) {
    let mut w = PcapWriter::create(path, 1);
    let mut ts = Duration::from_secs(1_700_000_000);
    for i in 0..n {
        let addr = if distinct {
            [10, (i >> 16) as u8, (i >> 8) as u8, i as u8]
        } else {
            [10, 0, 0, 1]
        };
        w.write(ts, &invite(i, addr, 20_000, 48));
        ts += Duration::from_micros(500);
    }
    w.finish();
}

#[test]
fn full_endpoint_table_costs_what_repeats_cost() {
    let dir = tmpdir("endpoints");
    let cfg = dir.join("small.toml");
    // A table that is full after a few hundred INVITEs (96 endpoints each).
    std::fs::write(&cfg, "[limits]\nmedia_endpoints = 16384\n").unwrap();
    let (hostile, friendly) = (dir.join("hostile.pcap"), dir.join("friendly.pcap"));
    let n = 12_000;
    write_invites(&hostile, n, true);
    write_invites(&friendly, n, false);
    let audit = |p: &Path| {
        let run = run_bounded(
            &[
                "audit",
                "--format",
                "prometheus",
                "--config",
                cfg.to_str().unwrap(),
                p.to_str().unwrap(),
            ],
            Duration::from_secs(300),
            2048,
            &dir,
        );
        assert_contract(&run, "invites");
        assert_eq!(
            sum_metric(&run.stdout, "sipsentinel_sip_messages_total", &[]),
            n as f64
        );
        run
    };
    // Alternate, three rounds each; compare medians.
    let mut h = Vec::new();
    let mut f = Vec::new();
    let mut evicted = 0.0;
    for _ in 0..3 {
        let r = audit(&hostile);
        evicted = sum_metric(
            &r.stdout,
            "sipsentinel_flow_evictions_total",
            &[("reason", "endpoints_capacity")],
        );
        h.push(r.elapsed);
        f.push(audit(&friendly).elapsed);
    }
    // The hostile run did fill the table (or the test shows nothing):
    // most INVITEs evicted at least 16 endpoints (the SDP parser keeps a
    // bounded number of media lines per body, each an RTP and an RTCP
    // endpoint).
    assert!(evicted >= (n * 16) as f64, "evicted {evicted}");
    h.sort();
    f.sort();
    let ratio = h[1].as_secs_f64() / f[1].as_secs_f64();
    eprintln!(
        "full endpoint table: hostile {:?}, friendly {:?}, ratio {ratio:.2}",
        h[1], f[1]
    );
    assert!(ratio <= 3.0, "hostile/friendly = {ratio:.2}");
    if std::env::var_os("SIPSENTINEL_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
