//! Several mirror ports (issue #17): a SPAN session that delivers the two
//! directions of a call on two ports. The sensor captures both
//! (`--interface A --interface B`), one capture thread each, the same
//! workers: the caller's INVITE (port A) and the callee's 200 OK (port B)
//! make one answered call, each direction's RTP is a stream, each port is
//! counted under its own `source`, and health watches both capture
//! threads.
//!
//! Setup: a `Lab` of two namespaces with the root-side veths taken off the
//! bridge, so each veth pair is its own link. Frames (testkit builders) are
//! sent with libpcap on the root-side ends; a capture on an interface sees
//! what is sent on it, so port A carries exactly caller→callee and port B
//! exactly callee→caller.

mod common;

use common::frames::udp4;
use common::netns::{ip, Lab};
use common::sensor::{http_get, sum_metric, Sample, Sensor};
use common::{lab_lock, require_root};
use std::time::Duration;

const CALLER: [u8; 4] = [192, 0, 2, 10];
const CALLEE: [u8; 4] = [198, 51, 100, 20];
const CALLER_RTP: u16 = 40_000;
const CALLEE_RTP: u16 = 50_000;
/// 20 ms apart: 3 s of audio, past the age at which a stream is classified
/// (so the SDP handled by another worker has been registered).
const RTP_PACKETS: u16 = 150;
/// Longer than the capture's read timeout (50 ms), so each step has been
/// handed to the workers before the next is sent on the other port.
const STEP: Duration = Duration::from_millis(200);

fn sdp(ip: &str, port: u16) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    )
}

/// A SIP message with the dialog's headers; `body` is SDP or empty.
fn sip(first: &str, from_tag: &str, to_tag: &str, cseq: &str, body: &str) -> Vec<u8> {
    let to_tag = if to_tag.is_empty() {
        String::new()
    } else {
        format!(";tag={to_tag}")
    };
    let ctype = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    format!(
        "{first}\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-{cseq_b}\r\n\
         From: <sip:alice@example.invalid>;tag={from_tag}\r\n\
         To: <sip:bob@example.invalid>{to_tag}\r\n\
         Call-ID: multi-port-call-1\r\nCSeq: {cseq}\r\n\
         Contact: <sip:alice@192.0.2.10:5060>\r\nMax-Forwards: 70\r\n\
         {ctype}Content-Length: {len}\r\n\r\n{body}",
        cseq_b = cseq.replace(' ', "-"),
        len = body.len(),
    )
    .into_bytes()
}

/// G.711 RTP (PT 0), 20 ms apart.
fn rtp(seq: u16, ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 0];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[0xd5; 160]);
    p
}

struct Port(pcap::Capture<pcap::Active>);

impl Port {
    fn open(iface: &str) -> Port {
        let c = pcap::Capture::from_device(iface)
            .and_then(|c| c.open())
            .unwrap_or_else(|e| panic!("cannot open {iface} for sending: {e}"));
        Port(c)
    }

    fn send(&mut self, frame: &[u8]) {
        self.0.sendpacket(frame).expect("sendpacket");
    }
}

fn thread_up(s: &[Sample], name: &str) -> f64 {
    sum_metric(s, "sipsentinel_thread_up", &[("thread", name)])
}

#[test]
fn two_ports_one_direction_each_make_one_call() {
    let _g = lab_lock();
    require_root();
    let lab = Lab::new(2);
    let a = lab.node(0).host_if.clone();
    let b = lab.node(1).host_if.clone();
    // Off the bridge: each root-side veth is a port of its own.
    ip(&["link", "set", &a, "nomaster"]);
    ip(&["link", "set", &b, "nomaster"]);
    let sensor = Sensor::start_with(&[
        "run".into(),
        "--interface".into(),
        a.clone(),
        "--interface".into(),
        b.clone(),
        "--workers".into(),
        "2".into(),
    ]);
    let (cap_a, cap_b) = (format!("capture_{a}"), format!("capture_{b}"));
    let s = sensor.scrape_until(Duration::from_secs(5), |s| {
        thread_up(s, &cap_a) == 1.0 && thread_up(s, &cap_b) == 1.0
    });
    assert_eq!(thread_up(&s, &cap_a), 1.0, "{}", sensor.stderr());
    assert_eq!(thread_up(&s, &cap_b), 1.0, "{}", sensor.stderr());

    let mut port_a = Port::open(&a); // caller → callee
    let mut port_b = Port::open(&b); // callee → caller
    let to_callee = |p: &[u8]| udp4(CALLER, CALLEE, 5060, 5060, p);
    let to_caller = |p: &[u8]| udp4(CALLEE, CALLER, 5060, 5060, p);

    let invite = sip(
        "INVITE sip:bob@198.51.100.20 SIP/2.0",
        "a1",
        "",
        "1 INVITE",
        &sdp("192.0.2.10", CALLER_RTP),
    );
    port_a.send(&to_callee(&invite));
    std::thread::sleep(STEP);
    let ok = sip(
        "SIP/2.0 200 OK",
        "a1",
        "b1",
        "1 INVITE",
        &sdp("198.51.100.20", CALLEE_RTP),
    );
    port_b.send(&to_caller(&ok));
    std::thread::sleep(STEP);
    let ack = sip("ACK sip:bob@198.51.100.20 SIP/2.0", "a1", "b1", "1 ACK", "");
    port_a.send(&to_callee(&ack));
    std::thread::sleep(STEP);
    for seq in 0..RTP_PACKETS {
        port_a.send(&udp4(
            CALLER,
            CALLEE,
            CALLER_RTP,
            CALLEE_RTP,
            &rtp(seq, 0x1111),
        ));
        port_b.send(&udp4(
            CALLEE,
            CALLER,
            CALLEE_RTP,
            CALLER_RTP,
            &rtp(seq, 0x2222),
        ));
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(STEP);
    let bye = sip("BYE sip:bob@198.51.100.20 SIP/2.0", "a1", "b1", "2 BYE", "");
    port_a.send(&to_callee(&bye));
    std::thread::sleep(STEP);
    let bye_ok = sip("SIP/2.0 200 OK", "a1", "b1", "2 BYE", "");
    port_b.send(&to_caller(&bye_ok));

    // The call settles a few seconds (of capture time, ticked by both
    // capture threads) after its BYE.
    let answered =
        |s: &[Sample]| sum_metric(s, "sipsentinel_calls_total", &[("outcome", "answered")]);
    let s = sensor.scrape_until(Duration::from_secs(15), |s| answered(s) >= 1.0);
    let packets = |iface: &str| {
        sum_metric(
            &s,
            "sipsentinel_capture_packets_total",
            &[("source", iface)],
        )
    };
    // SIP and RTP each way (plus whatever the namespaces sent).
    assert!(
        packets(&a) >= f64::from(RTP_PACKETS + 3),
        "port A: {} packets",
        packets(&a)
    );
    assert!(
        packets(&b) >= f64::from(RTP_PACKETS + 2),
        "port B: {} packets",
        packets(&b)
    );
    assert_eq!(
        answered(&s),
        1.0,
        "INVITE on one port and 200 OK on the other must make one answered call\n{}",
        sensor.stderr()
    );
    let calls: f64 = sum_metric(&s, "sipsentinel_calls_total", &[]);
    assert_eq!(calls, 1.0, "one call only");
    let cleartext = sum_metric(
        &s,
        "sipsentinel_media_streams_total",
        &[("protection", "cleartext")],
    );
    let media: Vec<String> = s
        .iter()
        .filter(|x| x.name.starts_with("sipsentinel_media_"))
        .map(|x| format!("{x:?}"))
        .collect();
    assert_eq!(
        cleartext, 2.0,
        "one cleartext stream per direction: {media:#?}"
    );
    let requests = sum_metric(&s, "sipsentinel_sip_messages_total", &[("kind", "request")]);
    let responses = sum_metric(
        &s,
        "sipsentinel_sip_messages_total",
        &[("kind", "response")],
    );
    assert_eq!((requests, responses), (3.0, 2.0));
    for iface in [&a, &b] {
        assert_eq!(
            sum_metric(&s, "sipsentinel_capture_up", &[("source", iface)]),
            1.0
        );
    }
    assert_eq!(thread_up(&s, &cap_a), 1.0);
    assert_eq!(thread_up(&s, &cap_b), 1.0);
    // No `capture` thread besides the two named ones.
    assert!(
        !s.iter()
            .any(|x| x.name == "sipsentinel_thread_up" && x.label("thread") == "capture"),
        "a single-source capture thread is reported too"
    );
    let (code, body) = http_get(sensor.addr, "/healthz").unwrap();
    assert_eq!(code, 200, "{body}");

    // One port down: only its capture goes down (and is reopened later),
    // the other keeps capturing.
    ip(&["link", "set", &b, "down"]);
    let up_b = |s: &[Sample]| sum_metric(s, "sipsentinel_capture_up", &[("source", &b)]);
    let s = sensor.scrape_until(Duration::from_secs(5), |s| up_b(s) == 0.0);
    assert_eq!(up_b(&s), 0.0, "capture_up of the port that went down");
    assert_eq!(
        sum_metric(&s, "sipsentinel_capture_up", &[("source", &a)]),
        1.0
    );
    ip(&["link", "set", &b, "up"]);
    let s = sensor.scrape_until(Duration::from_secs(5), |s| up_b(s) == 1.0);
    assert_eq!(up_b(&s), 1.0, "port B not reopened\n{}", sensor.stderr());

    // Shutdown joins every capture thread and exits cleanly.
    let (status, stderr) = sensor.terminate(Duration::from_secs(5));
    assert!(
        status.is_some_and(|s| s.success()),
        "exit {status:?}\n{stderr}"
    );
}
