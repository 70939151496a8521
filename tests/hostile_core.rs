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

mod common;

use common::limited::assert_contract;
use common::limited::run_limited;
use common::sensor::sum_text;
use common::temp_dir;
use common::{frames, PcapWriter};
use std::path::Path;
use std::time::Duration;

/// The sensor's default defragmentation pool (datagrams per worker).
const DEFAULT_POOL: usize = 4096;
/// `decode::MAX_LAYERS`: tunnels and reassemblies per frame.
const MAX_LAYERS: usize = 8;

/// One chain of `depth` IPv4 datagrams, ids `base..base+depth+1`
/// ([`frames::fragment_chain`]): datagram 0 is UDP to 5060 (an 8-byte
/// header and a short body); each above is IP-in-IP holding the last
/// fragment of the one below, so completing the top one completes each
/// below it in turn.
fn chain(base: u16, depth: usize) -> Vec<Vec<u8>> {
    let mut body = vec![0x13, 0xc4, 0x13, 0xc4, 0, 24, 0, 0];
    body.extend_from_slice(b"OPTIONS sip:x SIP/2.0\r\n\r\n");
    frames::fragment_chain(u32::from(base), depth, |_| false, &body)
}

fn metrics_of(run: &common::limited::Run) -> &str {
    &run.stdout
}

#[test]
fn nested_reassembly_ends_at_the_layer_budget() {
    let dir = temp_dir("nesting");
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
    let run = run_limited(
        &["audit", "--format", "prometheus", "--workers", "2", p],
        Duration::from_secs(120),
        2048,
        &dir,
    );
    assert_contract(&run, "nested reassembly");
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let m = metrics_of(&run);
    assert_eq!(
        sum_text(m, "sipsentinel_capture_packets_total", &[]),
        frames as f64
    );
    // Each chain stops once, at the budget: a level is a reassembly and an
    // IP-in-IP header, two layers, so MAX_LAYERS/2 + 1 datagrams complete
    // before the next would pass it.
    let stopped = sum_text(
        m,
        "sipsentinel_decode_failures_total",
        &[("layer", "tunnel"), ("reason", "too_many_layers")],
    );
    assert_eq!(stopped, chains as f64, "{m}");
    let reassembled = sum_text(m, "sipsentinel_ip_datagrams_reassembled_total", &[]);
    assert_eq!(reassembled, (chains * (MAX_LAYERS / 2 + 1)) as f64);
    // The innermost SIP was never reached.
    assert_eq!(sum_text(m, "sipsentinel_sip_messages_total", &[]), 0.0);
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
    frames::udp4([192, 0, 2, 1], [192, 0, 2, 2], 5060, 5060, msg.as_bytes())
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
    let dir = temp_dir("endpoints");
    let cfg = dir.join("small.toml");
    // A table that is full after a few hundred INVITEs (96 endpoints each).
    std::fs::write(&cfg, "[limits]\nmedia_endpoints = 16384\n").unwrap();
    let (hostile, friendly) = (dir.join("hostile.pcap"), dir.join("friendly.pcap"));
    let n = 12_000;
    write_invites(&hostile, n, true);
    write_invites(&friendly, n, false);
    let audit = |p: &Path| {
        let run = run_limited(
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
            sum_text(&run.stdout, "sipsentinel_sip_messages_total", &[]),
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
        evicted = sum_text(
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
