//! Live tests with real SIP user agents: two baresip peers in two lab
//! namespaces call each other directly (UDP/TCP/TLS signalling; plain RTP,
//! SDES-SRTP or DTLS-SRTP media; IPv4 or IPv6), while tcpdump and
//! `sipsentinel run` both capture on the lab bridge.
//!
//! Per scenario: tshark's dissection of the recording is the oracle (SIP
//! messages by kind/method-or-status/transport, RTP streams with the RTP
//! heuristic, SDP `a=crypto` / `a=fingerprint`, TLS on 5061, DTLS on the media
//! path); the sensor's `sip_messages_total` must equal tshark's exactly,
//! `capture_packets_total` must equal the frames recorded, and the media
//! verdict (`media_streams_total{protection}`) and exposures must be the ones
//! the scenario implies. A peer that cannot start fails the test.
//!
//! Needs root, baresip (Debian `baresip-core`), openssl, tcpdump, tshark,
//! capinfos, iproute2. Run: `cargo test --test live_baresip -- --nocapture`.
//!
//! `SIPSENTINEL_SAVE_RECORDINGS=DIR` copies each recording to
//! `DIR/<scenario>.pcap` (how `tests/fixtures/recorded/` was made).
mod common;

use std::path::Path;
use std::time::Duration;

use common::baresip::{baresip_version, run_call, CallSpec, MediaEnc, SipTransport};
use common::netns::Lab;
use common::record::{
    tshark_count_filter, tshark_packet_count, tshark_protocol_hierarchy, tshark_rtp_streams,
    tshark_sip_counts, tshark_sip_resent, tshark_sip_stat_total, Recorder,
};
use common::sensor::{
    audit_prometheus, parse_metrics, sip_counts_from_metrics, sum_metric, Sample, Sensor,
    CAPTURE_PACKETS,
};
use common::{diff_counts, key, lab_lock, nonzero, require_root, temp_dir, SipCounts};

const CALLEE: usize = 0;
const CALLER: usize = 1;
/// Same filter for recorder and sensor: what the peers send, not the
/// kernel's own ARP/ND/MLD chatter (see live_sipp.rs).
const QUIET_FILTER: &str = "udp or tcp";
/// tcpdump -B (see Recorder::start_buffered).
const RECORD_BUFFER_KIB: u32 = 32768;

pub const MEDIA_STREAMS: &str = "sipsentinel_media_streams_total";
pub const EXPOSURES: &str = "sipsentinel_exposures_total";

/// What a scenario must look like to the sensor.
#[derive(Debug, Clone, Copy)]
struct Expect {
    /// the media verdict for every RTP stream of the call
    protection: &'static str,
    cleartext_media: bool,
    srtp_key_exposed: bool,
    cleartext_signaling: bool,
}

fn expect_for(spec: &CallSpec) -> Expect {
    let tls = spec.transport == SipTransport::Tls;
    let protection = match (spec.media, tls) {
        (MediaEnc::Plain, _) => "cleartext",
        (MediaEnc::Sdes, false) => "srtp_sdes",
        // SDP hidden by TLS: SRTP packets, keying not seen.
        (MediaEnc::Sdes, true) => "encrypted_unknown",
        // The DTLS handshake runs on the media 5-tuple, visible either way.
        (MediaEnc::Dtls, _) => "srtp_dtls",
    };
    Expect {
        protection,
        cleartext_media: spec.media == MediaEnc::Plain,
        srtp_key_exposed: spec.media == MediaEnc::Sdes && !tls,
        cleartext_signaling: !tls,
    }
}

/// SIP messages one direct baresip call puts on the wire: INVITE, 180, 200,
/// ACK, BYE, 200 (no 100 Trying from baresip; none over TLS are visible).
fn expected_sip(spec: &CallSpec) -> SipCounts {
    let mut e = SipCounts::new();
    if spec.transport == SipTransport::Tls {
        return e;
    }
    let tr = spec.transport.label();
    for (kind, label, n) in [
        ("request", "INVITE", 1),
        ("request", "ACK", 1),
        ("request", "BYE", 1),
        ("response", "1xx", 1),
        ("response", "2xx", 2),
    ] {
        e.insert(key(kind, label, tr), n);
    }
    e
}

fn media_report(samples: &[Sample]) -> String {
    samples
        .iter()
        .filter(|s| {
            (s.name.starts_with("sipsentinel_media_") || s.name == EXPOSURES) && s.value != 0.0
        })
        .map(|s| format!("{} {:?} {}", s.name, s.labels, s.value))
        .collect::<Vec<_>>()
        .join("\n")
}

fn save_recording(name: &str, file: &Path) {
    if let Some(dir) = std::env::var_os("SIPSENTINEL_SAVE_RECORDINGS") {
        let dir = Path::new(&dir);
        std::fs::create_dir_all(dir).unwrap();
        let dest = dir.join(format!("{name}.pcap"));
        std::fs::copy(file, &dest).unwrap();
        eprintln!("saved recording {}", dest.display());
    }
}

/// Oracle checks on the recording; returns (tshark SIP counts, RTP streams).
fn check_recording(name: &str, spec: &CallSpec, file: &Path) -> (SipCounts, u64) {
    let phs = || tshark_protocol_hierarchy(file);
    let tshark = nonzero(&tshark_sip_counts(file));
    let expected = expected_sip(spec);
    // On a loaded machine a peer may answer after T1 (500 ms): UDP
    // retransmissions are legitimate, so compare the shape without them.
    let total: u64 = tshark.values().sum();
    assert_eq!(total, tshark_sip_stat_total(file), "{name}: vs sip,stat");
    let resent = tshark_sip_resent(file);
    let same_keys = tshark.keys().eq(expected.keys());
    let at_least = expected
        .iter()
        .all(|(k, v)| tshark.get(k).copied().unwrap_or(0) >= *v);
    let expected_total: u64 = expected.values().sum();
    assert!(
        same_keys && at_least && total - resent == expected_total,
        "{name}: tshark's SIP counts ({resent} resent) differ from one direct baresip call (recording {}):\n{}\n{}",
        file.display(),
        diff_counts("expected", &expected, "tshark", &tshark),
        phs()
    );

    let streams = tshark_rtp_streams(file);
    assert_eq!(
        streams.len(),
        2,
        "{name}: expected one RTP stream each way (tshark -z rtp,streams, heuristic on); got {streams:#?}\n{}",
        phs()
    );
    for s in &streams {
        assert!(
            s.packets >= 25,
            "{name}: RTP stream with only {} packets (expected >= 0.5 s of 20 ms G.711): {s:?}",
            s.packets
        );
        let v6 = s.src.contains(':');
        assert_eq!(
            v6,
            spec.family == common::sipp::Family::V6,
            "{name}: media on the wrong address family: {s:?}"
        );
    }

    let crypto = tshark_count_filter(file, "sdp contains \"a=crypto:\"");
    let fingerprint = tshark_count_filter(file, "sdp contains \"a=fingerprint:\"");
    let (want_crypto, want_fp) = match (spec.transport, spec.media) {
        (SipTransport::Tls, _) => (0, 0),
        (_, MediaEnc::Plain) => (0, 0),
        (_, MediaEnc::Sdes) => (2, 0), // offer (INVITE) and answer (200)
        (_, MediaEnc::Dtls) => (0, 2),
    };
    assert_eq!(
        (crypto, fingerprint),
        (want_crypto, want_fp),
        "{name}: SIP messages with SDP a=crypto / a=fingerprint visible on the wire"
    );

    let tls_hello = tshark_count_filter(file, "tls.handshake.type == 1 && tcp.dstport == 5061");
    if spec.transport == SipTransport::Tls {
        assert!(
            tls_hello >= 1,
            "{name}: no TLS ClientHello to port 5061\n{}",
            phs()
        );
        let sip_on_5061 = tshark_count_filter(file, "tcp.port == 5061 && sip");
        assert_eq!(sip_on_5061, 0, "{name}: SIP readable on the TLS port");
    } else {
        assert_eq!(tls_hello, 0, "{name}: unexpected TLS");
    }
    let dtls_hello = tshark_count_filter(file, "dtls.handshake.type == 1");
    if spec.media == MediaEnc::Dtls {
        assert!(
            dtls_hello >= 1,
            "{name}: no DTLS ClientHello on the media path\n{}",
            phs()
        );
    } else {
        assert_eq!(dtls_hello, 0, "{name}: unexpected DTLS");
    }
    (tshark, streams.len() as u64)
}

/// Media verdict and exposures from a set of samples (live or audit).
fn check_media(name: &str, what: &str, spec: &CallSpec, streams: u64, samples: &[Sample]) {
    let exp = expect_for(spec);
    let by = |p: &str| sum_metric(samples, MEDIA_STREAMS, &[("protection", p)]);
    let all = sum_metric(samples, MEDIA_STREAMS, &[]);
    let exposures = |k: &str| sum_metric(samples, EXPOSURES, &[("kind", k)]);
    let report = || {
        format!(
            "{what} of {name} ({spec:?}), expected {exp:?} for {streams} RTP streams; media/exposure samples:\n{}",
            media_report(samples)
        )
    };
    assert_eq!(
        (by(exp.protection) + 0.0, all + 0.0),
        (streams as f64, streams as f64),
        "media_streams_total{{protection=\"{}\"}} and its sum over all protections must equal tshark's RTP stream count\n{}",
        exp.protection,
        report()
    );
    let check = |kind: &str, want: bool| {
        let v = exposures(kind);
        assert_eq!(
            v > 0.0,
            want,
            "exposures_total{{kind=\"{kind}\"}} = {v}, expected {}\n{}",
            if want { "> 0" } else { "0" },
            report()
        );
    };
    check("cleartext_media", exp.cleartext_media);
    check("srtp_key_exposed", exp.srtp_key_exposed);
    check("cleartext_signaling", exp.cleartext_signaling);
}

fn scenario(name: &str, spec: CallSpec) {
    let _g = lab_lock();
    require_root();
    eprintln!("{name}: {}", baresip_version());
    let dir = temp_dir(name);
    let file = dir.join(format!("{name}.pcap"));
    let lab = Lab::new(2);
    let rec = Recorder::start_buffered(&lab.bridge, &file, Some(QUIET_FILTER), RECORD_BUFFER_KIB);
    let sensor = Sensor::start_live(&lab.bridge, &["--filter", QUIET_FILTER]);

    let call = run_call(&lab, CALLEE, CALLER, &spec);
    call.assert_ok();
    std::thread::sleep(Duration::from_millis(300));
    let summary = rec.stop();
    assert_eq!(
        summary.dropped_by_kernel.unwrap_or(0),
        0,
        "tcpdump dropped packets: {}",
        summary.stderr
    );
    save_recording(name, &file);
    let (tshark, streams) = check_recording(name, &spec, &file);
    let packets = tshark_packet_count(&file) as f64;

    let samples = sensor.scrape_until(Duration::from_secs(5), |s| {
        nonzero(&sip_counts_from_metrics(s)) == tshark
            && sum_metric(s, CAPTURE_PACKETS, &[]) >= packets
            && sum_metric(s, MEDIA_STREAMS, &[]) >= streams as f64
    });
    let live = nonzero(&sip_counts_from_metrics(&samples));
    assert_eq!(
        live,
        tshark,
        "{name}: live sensor sip_messages_total differs from tshark (recording {}):\n{}\nsensor stderr:\n{}",
        file.display(),
        diff_counts("tshark", &tshark, "sensor", &live),
        sensor.stderr()
    );
    assert_eq!(
        sum_metric(&samples, CAPTURE_PACKETS, &[]),
        packets,
        "{name}: capture_packets_total != frames recorded on the same bridge with the same filter ({})",
        file.display()
    );
    drop(sensor);

    let audit = parse_metrics(&audit_prometheus(&file));
    let audited = nonzero(&sip_counts_from_metrics(&audit));
    assert_eq!(
        audited,
        tshark,
        "{name}: `audit` of {} differs from tshark:\n{}",
        file.display(),
        diff_counts("tshark", &tshark, "audit", &audited)
    );

    // Media verdicts and exposures: live first, then the offline audit.
    check_media(name, "live sensor", &spec, streams, &samples);
    check_media(name, "audit", &spec, streams, &audit);
}

#[test]
fn baresip_plain_rtp_udp() {
    scenario(
        "plain_udp",
        CallSpec::new(SipTransport::Udp, MediaEnc::Plain),
    );
}

#[test]
fn baresip_sdes_srtp_udp() {
    scenario("sdes_udp", CallSpec::new(SipTransport::Udp, MediaEnc::Sdes));
}

#[test]
fn baresip_dtls_srtp_udp() {
    scenario("dtls_udp", CallSpec::new(SipTransport::Udp, MediaEnc::Dtls));
}

#[test]
fn baresip_plain_rtp_sip_over_tcp() {
    scenario(
        "plain_tcp",
        CallSpec::new(SipTransport::Tcp, MediaEnc::Plain),
    );
}

#[test]
fn baresip_tls_sdes_srtp() {
    scenario("tls_sdes", CallSpec::new(SipTransport::Tls, MediaEnc::Sdes));
}

#[test]
fn baresip_tls_dtls_srtp() {
    scenario("tls_dtls", CallSpec::new(SipTransport::Tls, MediaEnc::Dtls));
}

#[test]
fn baresip_plain_rtp_udp_ipv6() {
    scenario(
        "plain_udp_v6",
        CallSpec::new(SipTransport::Udp, MediaEnc::Plain).v6(),
    );
}

/// The harness alone (no sensor): one plain call establishes on both sides
/// and the recording holds what the oracle expects.
#[test]
fn harness_selfcheck_baresip() {
    let _g = lab_lock();
    require_root();
    let dir = temp_dir("baresip-selfcheck");
    let file = dir.join("selfcheck.pcap");
    let lab = Lab::new(2);
    let rec = Recorder::start_buffered(&lab.bridge, &file, Some(QUIET_FILTER), RECORD_BUFFER_KIB);
    let spec = CallSpec::new(SipTransport::Udp, MediaEnc::Plain).secs(3);
    let call = run_call(&lab, CALLEE, CALLER, &spec);
    call.assert_ok();
    std::thread::sleep(Duration::from_millis(300));
    rec.stop();
    check_recording("selfcheck", &spec, &file);
}
