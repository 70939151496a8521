//! What an observer can assemble (issue #15): the linker and the
//! registration table stay at their caps under floods of distinct
//! identifiers, counting what they evict; and recorded captures (when
//! present) give the counts the wire shows (tshark as the oracle).
//!
//! The floods drive one worker directly (`Worker::standalone`, default
//! `[limits]`) with frames from the test kit: 1,000,000 distinct values
//! each, inside a few minutes of capture time (so the caps, not the
//! day-long identifier TTL or the binding expiry, do the work). Every
//! insert into a full table evicts exactly one entry, so "evictions =
//! distinct values - cap" means the table holds exactly its cap.

use sipsentinel::config::Limits;
use sipsentinel::decode::LinkType;
use sipsentinel::metrics::Metrics;
use sipsentinel::pipeline::worker::Worker;
use sipsentinel::testkit::frames::udp4;
use std::time::Duration;

const N: u32 = 1_000_000;

fn series(m: &Metrics, prefix: &str) -> f64 {
    m.render()
        .lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn evictions(m: &Metrics, reason: &str) -> f64 {
    series(
        m,
        &format!("sipsentinel_flow_evictions_total{{reason=\"{reason}\"}}"),
    )
}

/// Distinct source address per value (10.x.y.z), so no per-flow table
/// merges them.
fn src(i: u32) -> [u8; 4] {
    let b = (i + 1).to_be_bytes();
    [10, b[1], b[2], b[3]]
}

const DST: [u8; 4] = [192, 0, 2, 200];

/// Capture time of the i-th value: 10,000 a second.
fn at(i: u32) -> Duration {
    Duration::from_secs(1) + Duration::from_micros(u64::from(i) * 100)
}

fn flood(make: impl Fn(u32) -> Vec<u8>) -> (Metrics, Limits) {
    let m = Metrics::new();
    let limits = Limits::default();
    let mut w = Worker::standalone(0, &m, &limits);
    for i in 0..N {
        let payload = make(i);
        let frame = udp4(src(i), DST, 5060, 5060, &payload);
        w.frame(LinkType::Ethernet, at(i), &frame);
    }
    w.finish();
    (m, limits)
}

fn linkable(m: &Metrics) -> f64 {
    series(m, "sipsentinel_exposures_total{")
        - m.render()
            .lines()
            .filter(|l| {
                l.starts_with("sipsentinel_exposures_total{")
                    && !l.contains("kind=\"linkable_identifier\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
}

#[test]
fn a_flood_of_distinct_sdp_cnames_stays_at_the_linker_cap() {
    let (m, limits) = flood(|i| {
        let sdp = format!(
            "v=0\r\no=- 0 0 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
             m=audio 4000 RTP/AVP 0\r\na=ssrc:{i} cname:flood-{i}@example\r\n"
        );
        format!(
            "INVITE sip:b@h SIP/2.0\r\nCall-ID: cname-{i}\r\nCSeq: 1 INVITE\r\n\
             Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        )
        .into_bytes()
    });
    let cap = limits.linkable_identifiers as f64;
    assert_eq!(evictions(&m, "linkable_capacity"), f64::from(N) - cap);
    assert_eq!(evictions(&m, "linkable_idle"), 0.0);
    // every value distinct, each in one dialog: nothing linkable
    assert_eq!(linkable(&m), 0.0);
}

/// RTCP receiver report + SDES with one CNAME (RFC 3550 §6.4.2, §6.5).
fn rtcp_sdes(ssrc: u32, cname: &[u8]) -> Vec<u8> {
    let s = ssrc.to_be_bytes();
    let mut p = vec![0x80, 201, 0, 1, s[0], s[1], s[2], s[3]];
    let chunk = 4 + 2 + cname.len() + 1;
    let padded = chunk.div_ceil(4) * 4;
    let words = ((4 + padded) / 4 - 1) as u16;
    p.extend_from_slice(&[0x81, 202]);
    p.extend_from_slice(&words.to_be_bytes());
    p.extend_from_slice(&s);
    p.push(1);
    p.push(cname.len() as u8);
    p.extend_from_slice(cname);
    p.resize(p.len() + padded - chunk + 1, 0);
    p
}

#[test]
fn a_flood_of_distinct_rtcp_cnames_stays_at_the_linker_cap() {
    let m = Metrics::new();
    let limits = Limits::default();
    let mut w = Worker::standalone(0, &m, &limits);
    for i in 0..N {
        let pkt = rtcp_sdes(i, format!("rtcp-{i}@example").as_bytes());
        let frame = udp4(src(i), DST, 4001, 5001, &pkt);
        w.frame(LinkType::Ethernet, at(i), &frame);
    }
    // One CNAME in two flows links, once.
    for (n, port) in [(N, 4003u16), (N + 1, 4005)] {
        let frame = udp4(src(7), DST, port, 5001, &rtcp_sdes(1, b"same@example"));
        w.frame(LinkType::Ethernet, at(n), &frame);
    }
    w.finish();
    let cap = limits.linkable_identifiers as f64;
    assert_eq!(evictions(&m, "linkable_capacity"), f64::from(N) + 1.0 - cap);
    assert_eq!(linkable(&m), 1.0);
}

#[test]
fn a_flood_of_distinct_instances_stays_at_the_linker_cap() {
    let (m, limits) = flood(|i| {
        format!(
            "INVITE sip:b@h SIP/2.0\r\nCall-ID: inst-{i}\r\nCSeq: 1 INVITE\r\n\
             Contact: <sip:a@10.0.0.1>;+sip.instance=\"<urn:uuid:{i:08x}>\"\r\n\
             Content-Length: 0\r\n\r\n"
        )
        .into_bytes()
    });
    let cap = limits.linkable_identifiers as f64;
    assert_eq!(evictions(&m, "linkable_capacity"), f64::from(N) - cap);
    assert_eq!(linkable(&m), 0.0);
}

#[test]
fn a_flood_of_distinct_registrations_stays_at_the_caps() {
    let m = Metrics::new();
    let limits = Limits::default();
    let mut w = Worker::standalone(0, &m, &limits);
    for i in 0..N {
        let reg = format!(
            "REGISTER sip:h SIP/2.0\r\nTo: <sip:u{i}@h>\r\nCall-ID: reg-{i}\r\nCSeq: 1 REGISTER\r\n\
             Contact: <sip:u{i}@10.0.0.1>\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n"
        );
        let ok = format!(
            "SIP/2.0 200 OK\r\nTo: <sip:u{i}@h>;tag=x\r\nCall-ID: reg-{i}\r\nCSeq: 1 REGISTER\r\n\
             Content-Length: 0\r\n\r\n"
        );
        w.frame(
            LinkType::Ethernet,
            at(i),
            &udp4(src(i), DST, 5060, 5060, reg.as_bytes()),
        );
        w.frame(
            LinkType::Ethernet,
            at(i),
            &udp4(DST, src(i), 5060, 5060, ok.as_bytes()),
        );
    }
    w.finish();
    let cap = limits.registrations as f64;
    assert_eq!(series(&m, "sipsentinel_registrations_active "), cap);
    assert_eq!(evictions(&m, "registrations_capacity"), f64::from(N) - cap);
    assert_eq!(
        series(
            &m,
            "sipsentinel_exposures_total{field=\"register\",kind=\"registration_presence\""
        ),
        f64::from(N)
    );
    // Every Call-ID is new: the linker fills with them, links none.
    assert_eq!(
        evictions(&m, "linkable_capacity"),
        f64::from(N) - limits.linkable_identifiers as f64
    );
    assert_eq!(linkable(&m), 0.0);
}
