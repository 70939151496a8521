//! Per-packet costs of the hot path, one stage at a time (criterion).
//!
//! Run: `cargo bench --bench hotpath` (about a minute on 2 cores), or one
//! group: `cargo bench --bench hotpath -- decode`. Results and how to read
//! them: `docs/performance.md`. Nothing here asserts on time.
//!
//! Inputs are built here, not read from files: an Ethernet/IPv4/UDP RTP
//! frame (G.711 A-law, 160-byte payload), a ~1 KB SIP INVITE with an SDP
//! offer carrying an `a=crypto` line, an RTCP SR + SDES compound and a DTLS
//! ClientHello. Addresses are from RFC 5737, identities from
//! `example.invalid`.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use sipsentinel::config::Limits;
use sipsentinel::decode::{self, LinkType};
use sipsentinel::media::classify::classify;
use sipsentinel::metrics::Metrics;
use sipsentinel::pipeline::counters::SipCounters;
use sipsentinel::pipeline::worker::Worker;
use sipsentinel::sdp::parse_sdp;
use sipsentinel::sip::{self, Method, Transport};
use sipsentinel::testkit::{frames, tcp};
use std::time::Duration;

const SDP: &str = "v=0\r\n\
o=user0001 3735928559 3735928559 IN IP4 192.0.2.10\r\n\
s=-\r\n\
c=IN IP4 192.0.2.10\r\n\
t=0 0\r\n\
m=audio 16384 RTP/SAVP 8 0 101\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n\
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n\
a=ssrc:2864434397 cname:user0001@example.invalid\r\n";

fn invite() -> Vec<u8> {
    let head = "INVITE sip:+15550101234@example.invalid SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.20.30.40:5060;branch=z9hG4bK5f2a9c0e7d1b3a64;received=192.0.2.10;rport=5060\r\n\
Max-Forwards: 70\r\n\
From: \"User 0001\" <sip:user0001@example.invalid>;tag=8a3f09c1\r\n\
To: <sip:+15550101234@example.invalid>\r\n\
Call-ID: 4e6f7420612072656164206964@example.invalid\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:user0001@10.20.30.40:5060>\r\n\
Route: <sip:203.0.113.10;lr>\r\n\
User-Agent: ExamplePhone/4.2.1 (sipsentinel-bench)\r\n\
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REFER, NOTIFY\r\n\
Supported: replaces, timer, 100rel\r\n\
Session-Expires: 1800\r\n\
Min-SE: 90\r\n\
P-Preferred-Identity: \"User 0001\" <sip:user0001@example.invalid>\r\n\
Content-Type: application/sdp\r\n";
    format!("{head}Content-Length: {}\r\n\r\n{SDP}", SDP.len()).into_bytes()
}

fn rtp_payload() -> Vec<u8> {
    let mut p = vec![0x80, 8, 0x12, 0x34, 0, 0, 0x10, 0, 0xde, 0xad, 0xbe, 0xef];
    // A-law around silence with some movement, as a quiet voice would be.
    p.extend((0..160u32).map(|i| 0xd5 ^ ((i * 7 % 13) as u8)));
    p
}

fn rtcp_payload() -> Vec<u8> {
    let mut p = vec![0x80, 200, 0, 6, 0xde, 0xad, 0xbe, 0xef];
    p.extend_from_slice(&[0u8; 20]);
    let cname = b"user0001@example.invalid";
    let mut sdes = vec![
        0x81,
        202,
        0,
        0,
        0xde,
        0xad,
        0xbe,
        0xef,
        1,
        cname.len() as u8,
    ];
    sdes.extend_from_slice(cname);
    sdes.push(0);
    while sdes.len() % 4 != 0 {
        sdes.push(0);
    }
    let words = (sdes.len() / 4 - 1) as u16;
    sdes[2..4].copy_from_slice(&words.to_be_bytes());
    p.extend_from_slice(&sdes);
    p
}

fn dtls_client_hello() -> Vec<u8> {
    let mut body = vec![0xfe, 0xfd];
    body.extend_from_slice(&[0x5a; 32]);
    body.extend_from_slice(&[0, 0, 0, 2, 0xc0, 0x2b, 1, 0, 0, 0]);
    let len = (body.len() as u32).to_be_bytes();
    let mut hs = vec![
        1, len[1], len[2], len[3], 0, 0, 0, 0, 0, len[1], len[2], len[3],
    ];
    hs.extend_from_slice(&body);
    let mut rec = vec![22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

/// An Ethernet/IPv4/UDP frame from 192.0.2.10 to 198.51.100.20.
fn udp_frame(payload: &[u8], sport: u16, dport: u16) -> Vec<u8> {
    frames::udp4([192, 0, 2, 10], [198, 51, 100, 20], sport, dport, payload)
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
}

fn bench_decode(c: &mut Criterion) {
    let rtp = udp_frame(&rtp_payload(), 16384, 32768);
    let sip = udp_frame(&invite(), 5060, 5060);
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(1));
    g.bench_function("rtp_frame_214B", |b| {
        b.iter(|| decode::decode(LinkType::Ethernet, black_box(&rtp)).is_ok())
    });
    g.bench_function("sip_invite_frame", |b| {
        b.iter(|| decode::decode(LinkType::Ethernet, black_box(&sip)).is_ok())
    });
    g.bench_function("decode_and_flow_hash_rtp", |b| {
        // What the capture thread does per frame to pick a worker.
        let hasher = decode::FlowHasher::new([1, 2, 3, 4]);
        b.iter(
            || match decode::decode(LinkType::Ethernet, black_box(&rtp)) {
                Ok(Some(p)) => hasher.hash(&p),
                _ => 0,
            },
        )
    });
    g.finish();
}

fn bench_sip(c: &mut Criterion) {
    let inv = invite();
    let rtp = rtp_payload();
    let mut g = c.benchmark_group("sip");
    g.throughput(Throughput::Elements(1));
    g.bench_function("looks_like_sip_on_rtp", |b| {
        // Paid by every UDP datagram: SIP is recognised by content.
        b.iter(|| sip::looks_like_sip(black_box(&rtp)))
    });
    g.bench_function(format!("parse_message_invite_{}B", inv.len()), |b| {
        b.iter(|| sip::parse_message(black_box(&inv)).map(|m| m.headers.len()))
    });
    g.bench_function(format!("parse_sdp_{}B", SDP.len()), |b| {
        b.iter(|| parse_sdp(black_box(SDP.as_bytes())).map(|s| s.media.len()))
    });
    g.bench_function("invite_exposure_scan_and_sdp", |b| {
        // What a worker does with a parsed INVITE besides counting: its
        // body walked and SDP parsed once, the exposure scan, the media
        // endpoints the SDP announces.
        b.iter(|| {
            let m = sip::parse_message(black_box(&inv)).expect("INVITE parses");
            let body = sip::Body::parse(&m);
            let mut out = Vec::new();
            sipsentinel::exposure::scan_sip(&m, &body, Transport::Udp, &mut out);
            let n = body.sdp.as_ref().map(|s| s.media_endpoints().count());
            (out.len(), n)
        })
    });
    g.bench_function("parse_message_then_sdp", |b| {
        b.iter(|| {
            let m = sip::parse_message(black_box(&inv)).expect("INVITE parses");
            parse_sdp(m.body).map(|s| s.media.len())
        })
    });
    g.finish();
}

fn bench_media(c: &mut Criterion) {
    let rtp = rtp_payload();
    let rtcp = rtcp_payload();
    let dtls = dtls_client_hello();
    let mut g = c.benchmark_group("classify");
    g.throughput(Throughput::Elements(1));
    g.bench_function("rtp", |b| b.iter(|| classify(black_box(&rtp)).as_str()));
    g.bench_function("rtcp_sr_sdes", |b| {
        b.iter(|| classify(black_box(&rtcp)).as_str())
    });
    g.bench_function("dtls_client_hello", |b| {
        b.iter(|| classify(black_box(&dtls)).as_str())
    });
    g.finish();
}

fn bench_metrics(c: &mut Criterion) {
    let m = Metrics::new();
    let resolved = m
        .sip_messages
        .with_label_values(&["request", "INVITE", "", "udp"]);
    let mut counters = SipCounters::new(&m);
    let mut g = c.benchmark_group("metrics");
    g.throughput(Throughput::Elements(1));
    g.bench_function("resolved_intcounter_inc", |b| b.iter(|| resolved.inc()));
    g.bench_function("with_label_values_4_labels_inc", |b| {
        b.iter(|| {
            m.sip_messages
                .with_label_values(black_box(&["request", "INVITE", "", "udp"]))
                .inc()
        })
    });
    g.bench_function("sip_counters_request_cached", |b| {
        b.iter(|| counters.request(black_box(Method::Invite), Transport::Udp))
    });
    g.finish();
}

fn bench_worker(c: &mut Criterion) {
    // The whole per-frame work of a worker thread (decode, SIP detection and
    // parsing, and whatever the media path does once wired in), on one frame.
    let m = Metrics::new();
    let limits = Limits::default();
    let rtp = udp_frame(&rtp_payload(), 16384, 32768);
    let sip = udp_frame(&invite(), 5060, 5060);
    let mut g = c.benchmark_group("worker");
    g.throughput(Throughput::Elements(1));
    let mut w = Worker::standalone(0, &m, &limits);
    let mut ts = Duration::from_secs(1_767_225_600);
    g.bench_function("frame_rtp", |b| {
        b.iter(|| {
            ts += Duration::from_millis(20);
            w.frame(LinkType::Ethernet, ts, black_box(&rtp))
        })
    });
    g.bench_function("frame_sip_invite", |b| {
        b.iter(|| w.frame(LinkType::Ethernet, ts, black_box(&sip)))
    });
    g.finish();
}

/// Reassembly under hostile shapes ("Hostile traffic", class 3): an
/// insert into a full fragment pool against one into a pool of one, and a
/// SIP message over TCP whole against 1-byte segments (per byte: the two
/// differ by the per-segment overhead, not by the message length).
fn bench_reasm(c: &mut Criterion) {
    use sipsentinel::decode::defrag::{Defrag, DefragConfig};
    use sipsentinel::decode::tcp::{StreamKey, TcpConfig, TcpReassembler};
    use sipsentinel::decode::{Fragment, Net, TcpSegment};
    use sipsentinel::sip::stream::StreamState;
    use std::net::{IpAddr, Ipv4Addr};

    let mut g = c.benchmark_group("reasm");
    g.throughput(Throughput::Elements(1));
    let net = Net {
        src: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        dst: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)),
        proto: 17,
    };
    let payload = [0x5Au8; 24];
    for cap in [1usize, 4096] {
        let mut d = Defrag::new(DefragConfig {
            max_datagrams: cap,
            ..DefragConfig::default()
        });
        let mut id = 0u32;
        g.bench_function(format!("defrag_insert_full_pool_{cap}"), |b| {
            b.iter(|| {
                id = id.wrapping_add(1);
                let f = Fragment {
                    id,
                    offset: 0,
                    more: true,
                    payload: &payload,
                };
                d.push(&net, black_box(&f), Duration::from_secs(1))
            })
        });
    }
    let mut msg = b"OPTIONS sip:b@example.invalid SIP/2.0\r\nCall-ID: bench\r\n".to_vec();
    while msg.len() < 6000 {
        msg.extend_from_slice(b"Via: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bKbench\r\n");
    }
    msg.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    g.throughput(Throughput::Bytes(msg.len() as u64));
    for piece in [msg.len(), 1] {
        let key = StreamKey {
            src: net.src,
            dst: net.dst,
            src_port: 40_000,
            dst_port: 5060,
        };
        let mut r: TcpReassembler<StreamState> = TcpReassembler::new(TcpConfig::default());
        let mut seq = 1u32;
        let feed = |r: &mut TcpReassembler<StreamState>, seq: u32, flags, data: &[u8]| {
            let seg = TcpSegment {
                src_port: key.src_port,
                dst_port: key.dst_port,
                seq,
                flags,
                payload: data,
            };
            let mut n = 0;
            if let Some(s) = r.segment(key, &seg, Duration::from_secs(1)) {
                let (bytes, st) = s.parts();
                let used = st.on_data(bytes, false, |_| n += 1);
                s.consume(used);
            }
            n
        };
        let (syn, ack) = (tcp::SYN, tcp::ACK);
        feed(&mut r, 0, syn, b"");
        g.bench_function(format!("sip_over_tcp_{piece}_byte_segments"), |b| {
            b.iter(|| {
                let mut events = 0;
                for p in msg.chunks(piece) {
                    events += feed(&mut r, seq, ack, black_box(p));
                    seq = seq.wrapping_add(p.len() as u32);
                }
                events
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_decode, bench_sip, bench_media, bench_metrics, bench_worker, bench_reasm
}
criterion_main!(benches);
