//! Live-traffic tests: SIPp calls between network namespaces, captured on the
//! lab bridge (the "mirror port") by tcpdump and by `sipsentinel run`, with
//! tshark's dissection of the recording as the oracle.
//!
//! Needs root, sipp (sip-tester), tcpdump, tshark, capinfos, iproute2.
//! `harness_selfcheck*` tests do not need the sensor binary to work.
//! Run: `cargo test --test live_sipp -- --nocapture`.
mod common;

use std::time::Duration;

use common::netns::{link_list, netns_list, Lab};
use common::record::{
    tshark_count_filter, tshark_packet_count, tshark_protocol_hierarchy, tshark_sip_counts,
    tshark_sip_stat_total, RecordSummary, Recorder,
};
use common::sensor::{
    audit_prometheus, parse_metrics, sip_counts_from_metrics, sum_metric, Sensor, CAPTURE_PACKETS,
};
use common::sipp::{assert_ok, run_call, Scenario, SippOpts};
use common::{diff_counts, key, lab_lock, nonzero, require_root, temp_dir, SipCounts};

const UAS: usize = 0;
const UAC: usize = 1;
/// Packets in /usr/share/sip-tester/g711a.pcap, replayed once per basic call.
const G711A_PACKETS: u64 = 236;

#[derive(Debug, Clone, Copy)]
enum Scn {
    /// (a) INVITE/ACK/BYE over UDP/IPv4 with ~7 s of G.711 RTP per call.
    BasicCall { calls: u32 },
    /// (d) SIPp built-in uac/uas over TCP.
    Tcp { calls: u32 },
    /// (b) REGISTER, 401 digest challenge, REGISTER with Authorization, 200.
    RegisterAuth { regs: u32 },
    /// (c) INVITE with privacy-relevant headers, over UDP/IPv6.
    PrivacyHeadersV6 { calls: u32 },
    /// (e) ~3.3 kB INVITE over UDP/IPv4 from an interface with MTU 1280.
    FragmentedInvite { calls: u32 },
}

/// Run one scenario between the lab's UAC and UAS namespaces; assert SIPp
/// succeeded on both sides; return the SIP counts this scenario must produce
/// on the wire (no retransmissions expected on an idle lab).
fn run_scenario(lab: &Lab, s: Scn) -> SipCounts {
    let mut exp = SipCounts::new();
    let mut add = |kind: &str, label: &str, tr: &str, n: u32| {
        *exp.entry(key(kind, label, tr)).or_default() += n as u64;
    };
    let call_shape = |add: &mut dyn FnMut(&str, &str, &str, u32), tr: &str, n: u32| {
        // INVITE -> 180 -> 200 -> ACK -> BYE -> 200 (tests/sipp/uas_call.xml)
        add("request", "INVITE", tr, n);
        add("request", "ACK", tr, n);
        add("request", "BYE", tr, n);
        add("response", "1xx", tr, n);
        add("response", "2xx", tr, 2 * n);
    };
    let uas_builtin = |n: u32| SippOpts::new(Scenario::File("uas_call.xml"), n);
    match s {
        Scn::BasicCall { calls } => {
            let uac = SippOpts::new(Scenario::File("uac_pcap_call.xml"), calls).rate(10, calls);
            let (c, u) = run_call(lab, UAS, &uas_builtin(calls), UAC, &uac);
            assert_ok(&[&c, &u]);
            call_shape(&mut add, "udp", calls);
        }
        Scn::Tcp { calls } => {
            let uac = SippOpts::new(Scenario::Builtin("uac"), calls).tcp();
            let (c, u) = run_call(lab, UAS, &uas_builtin(calls).tcp(), UAC, &uac);
            assert_ok(&[&c, &u]);
            call_shape(&mut add, "tcp", calls);
        }
        Scn::RegisterAuth { regs } => {
            let uas = SippOpts::new(Scenario::File("uas_register_auth.xml"), regs);
            let uac = SippOpts::new(Scenario::File("uac_register_auth.xml"), regs);
            let (c, u) = run_call(lab, UAS, &uas, UAC, &uac);
            assert_ok(&[&c, &u]);
            add("request", "REGISTER", "udp", 2 * regs);
            add("response", "4xx", "udp", regs);
            add("response", "2xx", "udp", regs);
        }
        Scn::PrivacyHeadersV6 { calls } => {
            let uac = SippOpts::new(Scenario::File("uac_privacy_headers.xml"), calls).v6();
            let (c, u) = run_call(lab, UAS, &uas_builtin(calls).v6(), UAC, &uac);
            assert_ok(&[&c, &u]);
            call_shape(&mut add, "udp", calls);
        }
        Scn::FragmentedInvite { calls } => {
            lab.set_mtu(UAC, 1280);
            let uac = SippOpts::new(Scenario::File("uac_big_invite.xml"), calls);
            let (c, u) = run_call(lab, UAS, &uas_builtin(calls), UAC, &uac);
            lab.set_mtu(UAC, 1500);
            assert_ok(&[&c, &u]);
            call_shape(&mut add, "udp", calls);
        }
    }
    exp
}

fn merge(a: &mut SipCounts, b: SipCounts) {
    for (k, v) in b {
        *a.entry(k).or_default() += v;
    }
}

/// Recording + oracle checks that hold with or without a sensor.
fn check_oracle(summary: &RecordSummary, expected: &SipCounts) -> SipCounts {
    let file = &summary.file;
    let tshark = tshark_sip_counts(file);
    assert_eq!(
        nonzero(&tshark),
        nonzero(expected),
        "tshark's SIP counts differ from what the scenarios should put on the wire (recording {}):\n{}",
        file.display(),
        diff_counts("expected", expected, "tshark", &tshark)
    );
    let total: u64 = tshark.values().sum();
    assert_eq!(
        total,
        tshark_sip_stat_total(file),
        "per-message counts disagree with tshark -z sip,stat"
    );
    let packets = tshark_packet_count(file);
    if let Some(captured) = summary.captured {
        assert_eq!(
            captured, packets,
            "tcpdump reported {captured} captured, file has {packets}"
        );
    }
    assert_eq!(
        summary.dropped_by_kernel.unwrap_or(0),
        0,
        "tcpdump dropped packets: {}",
        summary.stderr
    );
    tshark
}

#[test]
fn harness_selfcheck() {
    let _g = lab_lock();
    require_root();
    let dir = temp_dir("selfcheck");
    let file = dir.join("selfcheck.pcap");
    let calls = 3;
    let (ns_names, link_names);
    {
        let lab = Lab::new(2);
        (ns_names, link_names) = lab.resource_names();
        let present_ns = netns_list();
        let present_links = link_list();
        for n in &ns_names {
            assert!(present_ns.contains(n), "netns {n} missing after Lab::new");
        }
        for l in &link_names {
            assert!(present_links.contains(l), "link {l} missing after Lab::new");
        }
        let rec = Recorder::start(&lab.bridge, &file);
        let expected = run_scenario(&lab, Scn::BasicCall { calls });
        std::thread::sleep(Duration::from_millis(300));
        let summary = rec.stop();
        let tshark = check_oracle(&summary, &expected);
        assert_eq!(
            tshark.get(&key("request", "INVITE", "udp")).copied(),
            Some(calls as u64)
        );
        let rtp = tshark_count_filter(&file, "rtp");
        assert_eq!(
            rtp,
            G711A_PACKETS * calls as u64,
            "expected every call to replay g711a.pcap's {G711A_PACKETS} RTP packets\n{}",
            tshark_protocol_hierarchy(&file)
        );
        eprintln!(
            "selfcheck recording {}:\n{}",
            file.display(),
            tshark_protocol_hierarchy(&file)
        );
    }
    let present_ns = netns_list();
    let present_links = link_list();
    for n in &ns_names {
        assert!(!present_ns.contains(n), "netns {n} left over after Drop");
    }
    for l in &link_names {
        assert!(!present_links.contains(l), "link {l} left over after Drop");
    }
}

/// Every scenario once, without the sensor: SIPp succeeds and the oracle sees
/// exactly the expected messages (incl. TCP, IPv6, digest auth, fragments).
#[test]
fn harness_selfcheck_all_scenarios() {
    let _g = lab_lock();
    require_root();
    let dir = temp_dir("selfcheck-all");
    let file = dir.join("all.pcap");
    let lab = Lab::new(2);
    let rec = Recorder::start(&lab.bridge, &file);
    let mut expected = SipCounts::new();
    for s in [
        Scn::Tcp { calls: 3 },
        Scn::RegisterAuth { regs: 3 },
        Scn::PrivacyHeadersV6 { calls: 2 },
        Scn::FragmentedInvite { calls: 2 },
    ] {
        merge(&mut expected, run_scenario(&lab, s));
    }
    std::thread::sleep(Duration::from_millis(300));
    let summary = rec.stop();
    check_oracle(&summary, &expected);
    let frags = tshark_count_filter(&file, "ip.flags.mf == 1 || ip.frag_offset > 0");
    assert!(frags >= 2 * 3, "expected the 2 big INVITEs to be sent as >= 3 IPv4 fragments each, saw {frags} fragment frames");
    let v6_sip = tshark_count_filter(&file, "ipv6 && sip");
    assert_eq!(v6_sip, 2 * 6, "expected 2 IPv6 calls x 6 messages");
    let auth = tshark_count_filter(&file, "sip.Authorization");
    assert_eq!(auth, 3, "expected 3 REGISTERs with Authorization");
}

/// Keeps what the scenarios send (SIP, RTP, IPv4 fragments of UDP) and
/// leaves out what the kernel sends on its own timers (ARP, neighbour
/// discovery, IGMP/MLD reports), which would reach one capture and not the
/// other depending on when each started and stopped.
const QUIET_FILTER: &str = "udp or tcp or sctp";

/// Run `scns` on a fresh lab with the recorder and the live sensor on the
/// bridge, then compare the sensor's /metrics and `audit` of the recording
/// with tshark.
fn sensor_vs_tshark(label: &str, scns: &[Scn]) -> (std::path::PathBuf, String) {
    let _g = lab_lock();
    require_root();
    let dir = temp_dir(label);
    let file = dir.join(format!("{label}.pcap"));
    let lab = Lab::new(2);
    // Recorder first, then the sensor, both with the same BPF filter (which
    // also exercises --filter); see QUIET_FILTER.
    let rec = Recorder::start_filtered(&lab.bridge, &file, Some(QUIET_FILTER));
    let sensor = Sensor::start_live(&lab.bridge, &["--filter", QUIET_FILTER]);
    let mut expected = SipCounts::new();
    for s in scns {
        merge(&mut expected, run_scenario(&lab, *s));
    }
    std::thread::sleep(Duration::from_millis(300));
    let summary = rec.stop();
    let tshark = nonzero(&check_oracle(&summary, &expected));
    let packets = tshark_packet_count(&file) as f64;

    // Give the sensor up to 5 s to catch up (workers, flush), then compare.
    let samples = sensor.scrape_until(Duration::from_secs(5), |s| {
        nonzero(&sip_counts_from_metrics(s)) == tshark
            && sum_metric(s, CAPTURE_PACKETS, &[]) >= packets
    });
    let live = nonzero(&sip_counts_from_metrics(&samples));
    assert_eq!(
        live,
        tshark,
        "live sensor sip_messages_total differs from tshark (recording {}):\n{}\nsensor stderr:\n{}",
        file.display(),
        diff_counts("tshark", &tshark, "sensor", &live),
        sensor.stderr()
    );
    let captured = sum_metric(&samples, CAPTURE_PACKETS, &[]);
    assert_eq!(
        captured,
        packets,
        "sipsentinel_capture_packets_total (all sources) != packets recorded by tcpdump on the same bridge \
         (recorder started before and stopped after the sensor's view of the traffic; recording {}):\n{}",
        file.display(),
        tshark_protocol_hierarchy(&file)
    );
    drop(sensor);

    let audit = audit_prometheus(&file);
    let audited = nonzero(&sip_counts_from_metrics(&parse_metrics(&audit)));
    assert_eq!(
        audited,
        tshark,
        "`audit --format prometheus` of {} differs from tshark:\n{}",
        file.display(),
        diff_counts("tshark", &tshark, "audit", &audited)
    );
    let audit_packets = sum_metric(&parse_metrics(&audit), CAPTURE_PACKETS, &[]);
    assert_eq!(
        audit_packets,
        packets,
        "audit capture_packets_total != frames in {}",
        file.display()
    );
    (file, audit)
}

/// The "sensor core" acceptance test: all scenarios on one lab.
#[test]
fn sensor_core_live_all_scenarios() {
    sensor_vs_tshark(
        "core-all",
        &[
            Scn::BasicCall { calls: 5 },
            Scn::Tcp { calls: 3 },
            Scn::RegisterAuth { regs: 3 },
            Scn::FragmentedInvite { calls: 2 },
        ],
    );
}

#[test]
fn sensor_live_basic_call_udp_rtp() {
    sensor_vs_tshark("basic", &[Scn::BasicCall { calls: 2 }]);
}

#[test]
fn sensor_live_tcp() {
    sensor_vs_tshark("tcp", &[Scn::Tcp { calls: 3 }]);
}

#[test]
fn sensor_live_register_digest_auth() {
    sensor_vs_tshark("register", &[Scn::RegisterAuth { regs: 3 }]);
}

#[test]
fn sensor_live_privacy_headers_ipv6() {
    let (file, audit) = sensor_vs_tshark("privacy6", &[Scn::PrivacyHeadersV6 { calls: 2 }]);
    // The exposures SIPp's real messages carry, once per SIP message that
    // carries the header (tshark counts those messages on the recording).
    let m = parse_metrics(&audit);
    for (kind, filter) in [
        ("privacy_request_ignored", "sip.Privacy"),
        ("identity_asserted", "sip.P-Asserted-Identity"),
        (
            "location_disclosed",
            "sip.P-Access-Network-Info || sip.Geolocation",
        ),
        ("forwarding_history", "sip.Diversion"),
        ("custom_header", "sip contains \"X-Custom\""),
    ] {
        let want = tshark_count_filter(&file, filter) as f64;
        let got = sum_metric(&m, "sipsentinel_exposures_total", &[("kind", kind)]);
        assert!(want > 0.0, "tshark found no {filter} in {}", file.display());
        assert_eq!(
            got, want,
            "{kind}: sensor {got}, tshark messages with {filter}: {want}"
        );
    }
    let signalling = sum_metric(
        &m,
        "sipsentinel_exposures_total",
        &[("kind", "cleartext_signaling")],
    );
    assert_eq!(
        signalling, 2.0,
        "one cleartext_signaling per call (2 calls over UDP)"
    );
}

#[test]
fn sensor_live_fragmented_invite() {
    sensor_vs_tshark("frag", &[Scn::FragmentedInvite { calls: 2 }]);
}

/// The Prometheus text parser and helpers (no root, no sensor needed).
#[test]
fn harness_selfcheck_metrics_parser() {
    let text = "# HELP sipsentinel_sip_messages_total SIP messages\n\
# TYPE sipsentinel_sip_messages_total counter\n\
sipsentinel_sip_messages_total{kind=\"request\",method=\"INVITE\",status_class=\"\",transport=\"udp\"} 5\n\
sipsentinel_sip_messages_total{kind=\"response\",method=\"INVITE\",status_class=\"2xx\",transport=\"udp\"} 3\n\
sipsentinel_sip_messages_total{kind=\"response\",method=\"BYE\",status_class=\"2xx\",transport=\"udp\"} 2\n\
sipsentinel_sip_messages_total{kind=\"request\",method=\"other\",status_class=\"\",transport=\"tcp\"} 0\n\
sipsentinel_capture_packets_total{source=\"a \\\"q\\\" \\\\ b\"} 1.5e3 1700000000000\n\
sipsentinel_calls_active 2\n\
x_bucket{le=\"+Inf\",} +Inf\n";
    let s = parse_metrics(text);
    assert_eq!(s.len(), 7);
    assert_eq!(s[4].label("source"), "a \"q\" \\ b");
    assert_eq!(sum_metric(&s, CAPTURE_PACKETS, &[]), 1500.0);
    assert_eq!(
        sum_metric(
            &s,
            "sipsentinel_sip_messages_total",
            &[("kind", "response")]
        ),
        5.0
    );
    assert_eq!(sum_metric(&s, "sipsentinel_calls_active", &[]), 2.0);
    assert!(s[6].value.is_infinite());
    let c = nonzero(&sip_counts_from_metrics(&s));
    let mut want = SipCounts::new();
    want.insert(key("request", "INVITE", "udp"), 5);
    want.insert(key("response", "2xx", "udp"), 5);
    assert_eq!(c, want);
}
