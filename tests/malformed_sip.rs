//! Hostile SIP: the RFC 4475 torture messages and what real scanners send
//! (empty headers, absurd Content-Length, header floods, deep multipart,
//! NUL bytes, 64 KiB lines, 1 MiB bodies over TCP, Content-Length that lies,
//! binary garbage after a valid start line), through every SIP entry point:
//! `parse_message`, `frame_stream`, `StreamState::on_data` (whole, in
//! MSS-sized chunks, byte by byte) and `parse_sdp`/`for_each_part`. Each is
//! parsed or refused with a reason from the fixed set, never a panic; work is
//! bounded (events per byte, calls per chunk) and so is what is buffered.
//! A few are wrapped in pcap files and audited end to end.
//!
//! Also the property tests for parser invariants (proptest).

mod common;

use common::xorshift_bytes;
use proptest::prelude::*;
use sipsentinel::decode::{self, LinkType, L4};
use sipsentinel::sdp::{self, parse_sdp};
use sipsentinel::sip::body::{self as sip_body, for_each_part};
use sipsentinel::sip::framing::{self, frame_stream, StreamFrame, MAX_STREAM_BODY};
use sipsentinel::sip::parse::{MAX_HEADERS, MAX_HEADER_BYTES};
use sipsentinel::sip::{parse_message, Method, ParseError, SipEvent, StartLine, StreamState};
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

const REASONS: [&str; 8] = [
    "bad_start_line",
    "bad_header",
    "too_many_headers",
    "headers_too_long",
    "bad_content_length",
    "truncated_body",
    "missing_header",
    "bad_ws_frame",
];

#[derive(Debug, Default)]
struct Fed {
    messages: usize,
    errors: Vec<&'static str>,
    other: usize,
    calls: usize,
    /// Largest buffer the consumer had to keep between calls.
    max_buffered: usize,
}

/// Feed `data` to a fresh stream state in chunks of `chunk` bytes, keeping
/// unconsumed bytes like the worker does; check the per-call invariants.
fn feed(data: &[u8], chunk: usize) -> Fed {
    let mut st = StreamState::default();
    let mut buf = Vec::new();
    let mut fed = Fed::default();
    for piece in data.chunks(chunk.max(1)) {
        buf.extend_from_slice(piece);
        let mut events = 0;
        let n = st.on_data(&buf, false, |ev| {
            events += 1;
            match ev {
                SipEvent::Message { msg, .. } => {
                    let _ = (msg.call_id(), msg.cseq(), msg.validate());
                    fed.messages += 1
                }
                SipEvent::ParseError { error, .. } => fed.errors.push(error.as_str()),
                _ => fed.other += 1,
            }
        });
        fed.calls += 1;
        assert!(n <= buf.len(), "consumed {n} of {}", buf.len());
        assert!(events <= n + 1, "{events} events for {n} consumed bytes");
        buf.drain(..n);
        fed.max_buffered = fed.max_buffered.max(buf.len());
    }
    for e in &fed.errors {
        assert!(REASONS.contains(e), "unknown reason {e}");
    }
    fed
}

/// Every entry point on one hostile input; returns the datagram verdict.
fn torture(name: &str, data: &[u8]) -> Result<usize, &'static str> {
    let verdict = match parse_message(data) {
        Ok(m) => {
            assert!(m.len <= data.len(), "{name}: len");
            assert!(m.headers.len() <= MAX_HEADERS, "{name}: headers");
            let _ = (m.call_id(), m.cseq(), m.content_length(), m.validate());
            if let Some(ct) = m
                .headers
                .iter()
                .find(|h| h.is_named(b"content-type"))
                .map(|h| h.value)
            {
                let n = for_each_part(ct, m.body, &mut |_, b| {
                    let _ = parse_sdp(b);
                });
                assert!(n <= sip_body::MAX_PARTS, "{name}: parts");
            }
            Ok(m.headers.len())
        }
        Err(e) => {
            assert!(REASONS.contains(&e.as_str()), "{name}: {e:?}");
            Err(e.as_str())
        }
    };
    match frame_stream(data) {
        StreamFrame::Complete { len } | StreamFrame::Skip { len } => {
            assert!(len > 0 && len <= data.len(), "{name}: frame len")
        }
        StreamFrame::Invalid { skip, error } => {
            assert!(skip > 0 && skip <= data.len(), "{name}: skip");
            assert!(REASONS.contains(&error.as_str()));
        }
        StreamFrame::NeedMore => {}
    }
    let whole = feed(data, data.len());
    let mss = feed(data, 1460);
    assert_eq!(mss.calls, data.len().div_ceil(1460), "{name}: calls");
    // What the consumer must keep is at most a header section plus the
    // largest body a stream message may announce.
    for f in [&whole, &mss] {
        assert!(
            f.max_buffered <= MAX_HEADER_BYTES + MAX_STREAM_BODY,
            "{name}: buffered {}",
            f.max_buffered
        );
    }
    if data.len() <= 8 * 1024 {
        let bytes = feed(data, 1);
        assert_eq!(bytes.calls, data.len(), "{name}: byte calls");
        assert_eq!(
            bytes.messages, mss.messages,
            "{name}: byte-by-byte and MSS chunks disagree: {bytes:?} vs {mss:?}"
        );
    }
    verdict
}

fn invite(headers: &str, body: &[u8]) -> Vec<u8> {
    let mut m = format!(
        "INVITE sip:bob@example.invalid SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\n\
         From: <sip:alice@example.invalid>;tag=1\r\n\
         To: <sip:bob@example.invalid>\r\n\
         Call-ID: torture-1\r\n\
         CSeq: 1 INVITE\r\n{headers}\r\n"
    )
    .into_bytes();
    m.extend_from_slice(body);
    m
}

/// Nested multipart bodies `depth` levels deep: (content type, body).
fn nested_multipart(depth: usize) -> (String, Vec<u8>) {
    let mut ct = "application/sdp".to_string();
    let mut body = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n".to_vec();
    for level in 0..depth {
        let b = format!("b{level}");
        let mut outer = format!("--{b}\r\nContent-Type: {ct}\r\n\r\n").into_bytes();
        outer.extend_from_slice(&body);
        outer.extend_from_slice(format!("\r\n--{b}--\r\n").as_bytes());
        ct = format!("multipart/mixed;boundary={b}");
        body = outer;
    }
    (ct, body)
}

/// The hostile catalogue: (name, message).
fn hostile() -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = vec![
        (
            "empty_headers".into(),
            b"INVITE sip:a@b SIP/2.0\r\nVia:\r\nFrom:\r\nTo:\r\nCall-ID:\r\nCSeq:\r\nContent-Length:\r\n\r\n".to_vec(),
        ),
        ("empty".into(), Vec::new()),
        ("only_crlf".into(), b"\r\n".repeat(50_000)),
        ("start_line_only".into(), b"OPTIONS sip:a@b SIP/2.0".to_vec()),
        ("status_huge".into(), b"SIP/2.0 4294967301 Huge\r\n\r\n".to_vec()),
        ("nul_in_start_line".into(), b"INV\0ITE sip:a@b SIP/2.0\r\n\r\n".to_vec()),
        ("nul_in_header".into(), invite("Subject: a\0b\r\nX-\0: v\r\n", b"")),
        ("nul_body".into(), invite("Content-Length: 64\r\n", &[0u8; 64])),
        ("cl_missing_body_nul".into(), invite("", &[0u8; 300])),
        ("long_line_64k".into(), invite(&format!("Subject: {}\r\n", "x".repeat(64 * 1024)), b"")),
        ("long_start_line_64k".into(), format!("INVITE sip:{}@b SIP/2.0\r\n\r\n", "a".repeat(64 * 1024)).into_bytes()),
        ("folded_flood".into(), invite(&format!("Subject: a\r\n{}", " b\r\n".repeat(20_000)), b"")),
        ("comma_flood".into(), invite(&format!("Route: {}\r\n", "<sip:a>,".repeat(8000)), b"")),
        ("via_256".into(), invite(&"v: SIP/2.0/UDP h\r\n".repeat(256), b"")),
        ("header_flood_10000".into(), invite(&"X-Flood: 1\r\n".repeat(10_000), b"")),
        ("header_flood_10000_lf".into(), invite(&"X-F: 1\n".repeat(10_000), b"")),
        ("cl_smaller".into(), invite("Content-Length: 5\r\n", &[b'a'; 50])),
        ("cl_larger".into(), invite("Content-Length: 500\r\n", b"short")),
        ("cl_disagree".into(), invite("Content-Length: 5\r\nl: 6\r\n", b"abcdef")),
        ("garbage_after_start_line".into(), {
            let mut m = b"INVITE sip:bob@example.invalid SIP/2.0\r\n".to_vec();
            m.extend(xorshift_bytes(7, 4096));
            m
        }),
        ("garbage_after_headers".into(), invite("Content-Length: 4096\r\n", &xorshift_bytes(8, 4096))),
        ("binary_garbage".into(), xorshift_bytes(9, 16 * 1024)),
        ("http_not_sip".into(), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        ("tls_like".into(), b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03".to_vec()),
    ];
    for cl in [
        "4294967296",
        "99999999999999999999",
        "-1",
        "1e9",
        "0x10",
        " 12 12",
        "18446744073709551616",
        "1048577",
    ] {
        v.push((
            format!("cl_{cl}"),
            invite(&format!("Content-Length: {cl}\r\n"), b"v=0\r\n"),
        ));
    }
    let (ct, body) = nested_multipart(100);
    v.push((
        "multipart_depth_100".into(),
        invite(
            &format!("Content-Type: {ct}\r\nContent-Length: {}\r\n", body.len()),
            &body,
        ),
    ));
    let wide: Vec<u8> = (0..10_000)
        .flat_map(|_| b"--w\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n".to_vec())
        .chain(b"--w--\r\n".to_vec())
        .collect();
    v.push((
        "multipart_10000_parts".into(),
        invite(
            &format!(
                "Content-Type: multipart/mixed;boundary=w\r\nContent-Length: {}\r\n",
                wide.len()
            ),
            &wide,
        ),
    ));
    v
}

#[test]
fn rfc4475_torture_messages() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sip/rfc4475");
    let mut n = 0;
    let mut ok = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|e| e == "dat") {
            let data = std::fs::read(&p).unwrap();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if torture(&name, &data).is_ok() {
                ok += 1;
            }
            n += 1;
        }
    }
    eprintln!(
        "rfc4475: {n} messages, {ok} parsed, {} refused with a reason",
        n - ok
    );
    assert!(n >= 30, "expected the RFC 4475 set, found {n}");
}

#[test]
fn hostile_catalogue() {
    for (name, data) in hostile() {
        let v = torture(&name, &data);
        eprintln!("{name:28} {:>8} bytes: {v:?}", data.len());
    }
}

/// Specific verdicts, where the right answer is clear.
#[test]
fn hostile_verdicts() {
    let h: std::collections::HashMap<String, Vec<u8>> = hostile().into_iter().collect();
    let verdict = |n: &str| {
        parse_message(&h[n])
            .map(|m| m.headers.len())
            .map_err(|e| e.as_str())
    };
    assert_eq!(verdict("header_flood_10000"), Err("too_many_headers"));
    assert_eq!(verdict("long_line_64k"), Err("headers_too_long"));
    // A 20-digit or 2^32 Content-Length is refused on a stream at once, never waited for.
    for n in [
        "cl_4294967296",
        "cl_99999999999999999999",
        "cl_18446744073709551616",
        "cl_1048577",
    ] {
        match frame_stream(&h[n]) {
            StreamFrame::Invalid { error, .. } => {
                assert_eq!(error, ParseError::BadContentLength, "{n}")
            }
            other => panic!("{n}: {other:?}"),
        }
        let f = feed(&h[n], 1460);
        assert_eq!(f.messages, 0, "{n}");
        assert!(f.errors.contains(&"bad_content_length"), "{n}: {f:?}");
    }
    // Content-Length smaller than the datagram: body cut, message fine.
    let m = parse_message(&h["cl_smaller"]).unwrap();
    assert_eq!(m.body, b"aaaaa");
    let m = parse_message(&h["cl_larger"]).unwrap();
    assert!(m.content_length_mismatch);
    // On a stream, a too-large Content-Length just waits (for bytes that never come).
    assert_eq!(feed(&h["cl_larger"], 1460).messages, 0);
    // Deep multipart: bounded descent, no stack exhaustion.
    let (ct, body) = nested_multipart(100);
    let mut leaves = 0;
    let n = for_each_part(ct.as_bytes(), &body, &mut |_, _| leaves += 1);
    assert_eq!(n, leaves);
    assert_eq!(
        n, 0,
        "100 levels is past MAX_MULTIPART_DEPTH: nothing visited"
    );
    let (ct, body) = nested_multipart(sip_body::MAX_MULTIPART_DEPTH);
    assert_eq!(
        sip_body::sdp_from_body(ct.as_bytes(), &body).map(|b| b.starts_with(b"v=0")),
        Some(true)
    );
}

/// 1 MiB bodies over TCP: exactly `MAX_STREAM_BODY` is one message (in MSS
/// chunks and as one write); one byte more is refused at once.
#[test]
fn one_mib_body_over_tcp() {
    let body = vec![b'x'; MAX_STREAM_BODY];
    let m = invite(
        &format!(
            "Content-Type: text/plain\r\nContent-Length: {}\r\n",
            body.len()
        ),
        &body,
    );
    for chunk in [1460, 65_535, m.len()] {
        let f = feed(&m, chunk);
        assert_eq!(f.messages, 1, "chunk {chunk}: {f:?}");
        assert!(f.errors.is_empty());
    }
    // Two back to back, then a keep-alive.
    let mut two = m.clone();
    two.extend_from_slice(&m);
    two.extend_from_slice(b"\r\n\r\n");
    assert_eq!(feed(&two, 1460).messages, 2);
    let mut big = invite(
        &format!("Content-Length: {}\r\n", MAX_STREAM_BODY + 1),
        &body,
    );
    big.push(b'x');
    let f = feed(&big, 1460);
    assert_eq!(f.messages, 0);
    assert_eq!(f.errors, vec!["bad_content_length"]);
}

/// A slow-loris header section: a 60 KiB header arriving one byte per
/// segment. Each `on_data` rescans the buffered head, so the work is
/// quadratic in the header size; the bound is MAX_HEADER_BYTES, so the
/// total is bounded. Counted, not timed: the calls equal the bytes.
#[test]
fn header_section_one_byte_at_a_time() {
    let m = invite(&format!("Subject: {}\r\n", "s".repeat(8 * 1024)), b"");
    let f = feed(&m, 1);
    assert_eq!(f.calls, m.len());
    assert_eq!(f.messages, 1);
}

/// SDP bodies that try to grow the parser's tables.
#[test]
fn hostile_sdp() {
    let mut cases: Vec<Vec<u8>> = vec![
        b"v=0\r\n".repeat(100_000),
        format!(
            "v=0\r\nc=IN IP4 192.0.2.1\r\n{}",
            "m=audio 4000 RTP/AVP 0\r\n".repeat(10_000)
        )
        .into_bytes(),
        format!("v=0\r\nm=audio 4000 RTP/AVP {}\r\n", "0 ".repeat(50_000)).into_bytes(),
        format!(
            "v=0\r\nm=audio 1 RTP/SAVP 0\r\n{}",
            "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AAAA\r\n".repeat(5000)
        )
        .into_bytes(),
        format!(
            "v=0\r\n{}",
            "a=candidate:1 1 UDP 1 10.0.0.1 9 typ host raddr 10.0.0.2 rport 9\r\n".repeat(5000)
        )
        .into_bytes(),
        format!("v=0\r\n{}", "a=ssrc:1 cname:x\r\n".repeat(5000)).into_bytes(),
        format!(
            "v=0\r\nm=audio 1 RTP/AVP 0\r\n{}",
            "a=rtpmap:0 PCMU/8000\r\n".repeat(5000)
        )
        .into_bytes(),
        format!("v=0\r\no={} 1 1 IN IP4 1.2.3.4\r\n", "u".repeat(100_000)).into_bytes(),
        b"v=0\r\nc=IN IP4 999.1.1.1/300/2\r\nm=audio 99999 RTP/AVP 0\r\nc=IN IP6 ::::::\r\n"
            .to_vec(),
        xorshift_bytes(3, 64 * 1024),
        vec![0u8; 64 * 1024],
    ];
    cases.push(
        b"v=0\r\n"
            .iter()
            .chain(&xorshift_bytes(4, 10_000))
            .copied()
            .collect(),
    );
    for (i, c) in cases.iter().enumerate() {
        if let Ok(s) = parse_sdp(c) {
            assert!(s.media.len() <= sdp::MAX_MEDIA, "case {i}");
            assert!(s.candidate_addrs.len() <= sdp::MAX_CANDIDATES, "case {i}");
            for m in &s.media {
                assert!(m.payload_types.len() <= sdp::MAX_FORMATS, "case {i}");
                assert!(
                    m.ssrc.len() <= sdp::MAX_SSRC && m.rtpmap.len() <= sdp::MAX_RTPMAP,
                    "case {i}"
                );
            }
            let _ = s.media_endpoints().count();
            let _ = s.candidate_endpoints().count();
        }
        assert!(for_each_part(b"application/sdp", c, &mut |_, _| {}) <= 1);
    }
}

/// A few hostile messages wrapped in a pcap (UDP datagrams and one TCP
/// stream), audited: every datagram that looks like SIP is either a counted
/// message or a counted parse error, per the library's own verdict.
#[test]
fn audit_hostile_pcap() {
    let dir = common::temp_dir("malformed");
    let pcap = dir.join("hostile.pcap");
    let mut w = common::PcapWriter::create(&pcap, 1);
    let mut ts = Duration::from_secs(1_700_000_000);
    let (mut want_msgs, mut want_errs, mut want_invites) = (0.0, 0.0, 0.0);
    let mut port = 20_000u16;
    for (name, data) in hostile() {
        // Fit a datagram: skip the ones bigger than an IPv4 UDP payload.
        if data.len() > 65_000 {
            continue;
        }
        port += 1;
        w.write(
            ts,
            &common::frames::udp4([192, 0, 2, 1], [192, 0, 2, 2], port, 5060, &data),
        );
        ts += Duration::from_millis(1);
        if framing::looks_like_sip(&data) {
            match parse_message(&data) {
                Ok(m) => {
                    want_msgs += 1.0;
                    if matches!(
                        m.start,
                        StartLine::Request {
                            method: Method::Invite,
                            ..
                        }
                    ) {
                        want_invites += 1.0;
                    }
                }
                Err(_) => want_errs += 1.0,
            }
        } else {
            eprintln!("{name}: not SIP by content, not counted");
        }
    }
    // One TCP stream: a good INVITE, garbage, a good INVITE, a 2^32 CL.
    let mut stream = invite("Content-Length: 0\r\n", b"");
    stream.extend(xorshift_bytes(11, 3000));
    stream.extend(b"\r\n");
    stream.extend(invite("Content-Length: 0\r\n", b""));
    stream.extend(invite("Content-Length: 4294967296\r\n", b""));
    let (a, b) = ([192, 0, 2, 10], [192, 0, 2, 20]);
    w.write(
        ts,
        &common::frames::tcp4(a, b, 40_000, 5060, 999, true, b""),
    );
    let mut seq = 1000u32;
    for c in stream.chunks(1000) {
        ts += Duration::from_millis(1);
        w.write(ts, &common::frames::tcp4(a, b, 40_000, 5060, seq, false, c));
        seq += c.len() as u32;
    }
    w.finish();
    let p = pcap.to_string_lossy().into_owned();
    let run = common::limited::run_limited(
        &["audit", &p, "--format", "prometheus"],
        Duration::from_secs(60),
        4096,
        &dir,
    );
    common::limited::assert_contract(&run, "hostile.pcap");
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let t = &run.stdout;
    let udp_msgs =
        common::sensor::sum_text(t, "sipsentinel_sip_messages_total", &[("transport", "udp")]);
    let udp_errs = common::sensor::sum_text(
        t,
        "sipsentinel_sip_parse_errors_total",
        &[("transport", "udp")],
    );
    let udp_inv = common::sensor::sum_text(
        t,
        "sipsentinel_sip_messages_total",
        &[("transport", "udp"), ("method", "INVITE")],
    );
    assert_eq!(
        (udp_msgs, udp_errs, udp_inv),
        (want_msgs, want_errs, want_invites),
        "{t}"
    );
    let tcp_inv = common::sensor::sum_text(
        t,
        "sipsentinel_sip_messages_total",
        &[("transport", "tcp"), ("method", "INVITE")],
    );
    let tcp_errs = common::sensor::sum_text(
        t,
        "sipsentinel_sip_parse_errors_total",
        &[("transport", "tcp")],
    );
    assert_eq!(tcp_inv, 2.0, "{t}");
    assert!(
        tcp_errs >= 2.0,
        "garbage and the 2^32 Content-Length are counted: {t}"
    );
    eprintln!("audit: udp {udp_msgs} messages, {udp_errs} errors; tcp {tcp_inv} INVITEs, {tcp_errs} errors; peak RSS {} KiB", run.max_rss_kib);
}

// ---------------------------------------------------------------- properties

fn header_value() -> impl Strategy<Value = String> {
    "[A-Za-z0-9<>@:;=._/ -]{0,40}".prop_map(|s| s.trim().to_string())
}

fn method() -> impl Strategy<Value = &'static str> {
    // Every method the sensor labels, and one it does not.
    let mut m = common::record::METHODS.to_vec();
    m.push("FOOBAR");
    prop::sample::select(m)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// `frame_stream` never reports a frame longer than its input, on random
    /// bytes and on SIP-shaped streams.
    #[test]
    fn frame_stream_within_input(
        raw in prop::collection::vec(any::<u8>(), 0..2048),
        cl in 0usize..300,
        body in prop::collection::vec(any::<u8>(), 0..300),
        cut in any::<prop::sample::Index>(),
    ) {
        for d in [raw.clone(), {
            let mut m = invite(&format!("Content-Length: {cl}\r\n"), &body);
            m.truncate(cut.index(m.len() + 1));
            m
        }] {
            match frame_stream(&d) {
                StreamFrame::Complete { len } | StreamFrame::Skip { len } => prop_assert!(len > 0 && len <= d.len()),
                StreamFrame::Invalid { skip, .. } => prop_assert!(skip > 0 && skip <= d.len()),
                StreamFrame::NeedMore => {}
            }
        }
    }

    /// A message built from random valid header lists round-trips its
    /// method or status, its Call-ID and its CSeq.
    #[test]
    fn parse_message_round_trip(
        m in method(),
        status in proptest::option::of(100u16..700),
        call_id in "[A-Za-z0-9.!%*_+`'~@-]{1,40}",
        cseq in 0u32..=u32::MAX,
        extra in prop::collection::vec(("X-[A-Za-z]{1,12}", header_value()), 0..40),
        compact in any::<bool>(),
        lf_only in any::<bool>(),
        body in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let eol = if lf_only { "\n" } else { "\r\n" };
        let mut s = match status {
            Some(c) => format!("SIP/2.0 {c} Reason{eol}"),
            None => format!("{m} sip:bob@example.invalid SIP/2.0{eol}"),
        };
        let cid = if compact { "i" } else { "Call-ID" };
        let mut headers = vec![
            ("Via".to_string(), "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1".to_string()),
            ("From".to_string(), "<sip:a@example.invalid>;tag=1".to_string()),
            ("To".to_string(), "<sip:b@example.invalid>".to_string()),
            (cid.to_string(), call_id.clone()),
            ("CSeq".to_string(), format!("{cseq} {m}")),
        ];
        headers.extend(extra);
        for (k, v) in &headers {
            s.push_str(&format!("{k}: {v}{eol}"));
        }
        s.push_str(&format!("Content-Length: {}{eol}{eol}", body.len()));
        let mut bytes = s.into_bytes();
        bytes.extend_from_slice(&body);
        let msg = parse_message(&bytes).expect("valid message parses");
        match (status, msg.start) {
            (Some(c), StartLine::Response { code, .. }) => prop_assert_eq!(c, code),
            (None, StartLine::Request { method_raw, .. }) => prop_assert_eq!(method_raw, m.as_bytes()),
            (want, got) => prop_assert!(false, "start line {:?} vs {:?}", want, got),
        }
        prop_assert_eq!(msg.call_id(), Some(call_id.as_bytes()));
        let (n, cm) = msg.cseq().expect("cseq");
        prop_assert_eq!(n, cseq);
        prop_assert_eq!(cm.as_str(), Method::from_bytes(m.as_bytes()).as_str());
        prop_assert_eq!(msg.body, &body[..]);
        prop_assert_eq!(msg.len, bytes.len());
        // Framed as one whole message on a stream, too.
        prop_assert_eq!(frame_stream(&bytes), StreamFrame::Complete { len: bytes.len() });
    }

    /// `decode` of a packet built with etherparse returns exactly the
    /// addresses, ports and payload it was built from.
    #[test]
    fn decode_round_trip(
        v6 in any::<bool>(),
        tcp in any::<bool>(),
        s4 in any::<[u8; 4]>(), d4 in any::<[u8; 4]>(),
        s6 in any::<[u8; 16]>(), d6 in any::<[u8; 16]>(),
        sport in any::<u16>(), dport in any::<u16>(),
        seq in any::<u32>(),
        payload in prop::collection::vec(any::<u8>(), 0..1400),
    ) {
        let eth = etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
        let ip = if v6 { eth.ipv6(s6, d6, 64) } else { eth.ipv4(s4, d4, 64) };
        let mut frame = Vec::new();
        if tcp {
            let b = ip.tcp(sport, dport, seq, 1024).ack(1);
            b.write(&mut frame, &payload).unwrap();
        } else {
            let b = ip.udp(sport, dport);
            b.write(&mut frame, &payload).unwrap();
        }
        let p = decode::decode(LinkType::Ethernet, &frame).expect("decodes").expect("is IP");
        let (src, dst): (IpAddr, IpAddr) = if v6 { (s6.into(), d6.into()) } else { (s4.into(), d4.into()) };
        prop_assert_eq!(p.net.src, src);
        prop_assert_eq!(p.net.dst, dst);
        prop_assert!(!p.truncated);
        prop_assert!(p.anomaly.is_none());
        match (tcp, p.l4) {
            (false, L4::Udp { src_port, dst_port, payload: got }) => {
                prop_assert_eq!((src_port, dst_port), (sport, dport));
                prop_assert_eq!(got, &payload[..]);
            }
            (true, L4::Tcp(s)) => {
                prop_assert_eq!((s.src_port, s.dst_port, s.seq), (sport, dport, seq));
                prop_assert_eq!(s.payload, &payload[..]);
            }
            (_, other) => prop_assert!(false, "wrong transport: {:?}", other),
        }
        // Truncating the frame (snaplen) never panics and never yields more
        // payload than was captured.
        for cut in [14usize, 20, 34, 40, 54, frame.len() / 2] {
            let f = &frame[..cut.min(frame.len())];
            if let Ok(Some(p)) = decode::decode(LinkType::Ethernet, f) {
                if let L4::Udp { payload, .. } = p.l4 { prop_assert!(payload.len() <= f.len()); }
            }
        }
    }

    /// `on_data` fed the same stream in random chunk sizes yields the same
    /// messages as fed at once.
    #[test]
    fn on_data_chunking_invariant(
        n in 1usize..6,
        bodies in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..100), 6),
        chunk in 1usize..300,
    ) {
        let mut s = Vec::new();
        for b in bodies.iter().take(n) {
            s.extend(invite(&format!("Content-Length: {}\r\n", b.len()), b));
            s.extend_from_slice(b"\r\n\r\n");
        }
        let whole = feed(&s, s.len());
        let parts = feed(&s, chunk);
        prop_assert_eq!(whole.messages, n);
        prop_assert_eq!(parts.messages, n);
    }
}
