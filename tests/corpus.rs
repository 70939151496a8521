//! The third-party capture corpus against tshark.
//!
//! For every capture in `$SIPSENTINEL_CORPUS` (default `../shared/corpus`),
//! `sipsentinel audit FILE --format prometheus` must report
//! `capture_packets_total` equal to `capinfos -c`, and
//! `sip_messages_total` equal, label set by label set (kind, method,
//! status class, transport), to what tshark 4.0 dissects, and
//! `media_streams_total` equal to the streams of `tshark -z rtp,streams`
//! (RTP heuristic on; see `rtp_tolerance`). tshark's numbers
//! were recorded by `tests/oracle/tshark_sip.py` into
//! `tests/corpus/expected/FILE.tsv` (see tests/corpus/README.md); they are
//! tshark's reading of the file, not ours.

mod common;

use common::sensor::{audit_prometheus as audit, parse_metrics, sum_metric};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

type Key = (String, String, String, String);

fn expected_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/expected")
}

struct Expected {
    sip: BTreeMap<Key, u64>,
    total: u64,
    packets: u64,
    rtp_streams: u64,
}

fn load_expected(path: &Path) -> Expected {
    let text = std::fs::read_to_string(path).unwrap();
    let mut sip = BTreeMap::new();
    let (mut total, mut packets, mut rtp_streams) = (0, 0, 0);
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        match f.as_slice() {
            ["#total", n] => total = n.parse().unwrap(),
            ["#packets", n] => packets = n.parse().unwrap(),
            ["#rtp_streams", n] => rtp_streams = n.parse().unwrap(),
            [k, m, s, t, n] => {
                sip.insert(
                    (k.to_string(), m.to_string(), s.to_string(), t.to_string()),
                    n.parse().unwrap(),
                );
            }
            _ => panic!("bad line in {}: {line:?}", path.display()),
        }
    }
    Expected {
        sip,
        total,
        packets,
        rtp_streams,
    }
}

/// Files where tshark's own two counts disagree: `-z sip,stat` leaves out
/// messages whose dissection threw (malformed headers) while PDML still
/// shows them. For those the sensor must land between the two.
fn tolerance(name: &str) -> Option<(u64, u64)> {
    match name {
        // nDPI's fuzzer-mutated aaa.pcap: sip,stat 28, PDML 52.
        "ndpi_fuzz-2006-06-26-2594.pcap" => Some((28, 52)),
        _ => None,
    }
}

/// Files where tshark's heuristic RTP finds streams that do not pass RFC
/// 3550 A.1 probation (three packets in sequence from one SSRC): the
/// sensor counts fewer, never more. Each entry says why.
fn rtp_tolerance(name: &str) -> Option<&'static str> {
    match name {
        // Fuzzed copy of aaa.pcap: 9 RTP-looking packets scattered over 7
        // corrupted SSRCs; none is a stream.
        "ndpi_fuzz-2006-06-26-2594.pcap" => Some("fuzzed SSRCs"),
        // STUN-port packets tshark reads as RTP: one SSRC with 2 packets,
        // one with 9 whose sequence numbers jump (tshark flags it "X").
        "ndpi_stun_dtls_rtp.pcapng" => Some("short/erratic heuristic streams"),
        _ => None,
    }
}

#[test]
fn corpus_matches_tshark() {
    let Some(dir) = common::corpus::required() else {
        let msg = "corpus not found: set SIPSENTINEL_CORPUS or place it at ../shared/corpus";
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{msg} (required under CI=true)");
        }
        eprintln!("SKIPPED: {msg}");
        return;
    };
    let mut failures = Vec::new();
    let mut checked = 0;
    let mut entries: Vec<_> = std::fs::read_dir(expected_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for exp_path in entries {
        let name = exp_path
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .trim_end_matches(".tsv")
            .to_string();
        let file = dir.join(&name);
        assert!(
            file.exists(),
            "corpus file {name} missing from {}",
            dir.display()
        );
        let exp = load_expected(&exp_path);
        let text = audit(&file);
        let s = parse_metrics(&text);
        let packets = sum_metric(&s, "sipsentinel_capture_packets_total", &[]);
        if packets as u64 != exp.packets {
            failures.push(format!(
                "{name}: capture_packets_total {packets} != capinfos {}",
                exp.packets
            ));
        }
        let streams = sum_metric(&s, "sipsentinel_media_streams_total", &[]) as u64;
        match rtp_tolerance(&name) {
            Some(_) if streams <= exp.rtp_streams => {}
            _ if streams == exp.rtp_streams => {}
            _ => failures.push(format!(
                "{name}: media_streams_total {streams} != tshark rtp,streams {}",
                exp.rtp_streams
            )),
        }
        let mut got: BTreeMap<Key, u64> = BTreeMap::new();
        for x in &s {
            if x.name == "sipsentinel_sip_messages_total" && x.value > 0.0 {
                let k = (
                    x.label("kind").to_string(),
                    x.label("method").to_string(),
                    x.label("status_class").to_string(),
                    x.label("transport").to_string(),
                );
                *got.entry(k).or_default() += x.value as u64;
            }
        }
        let total: u64 = got.values().sum();
        match tolerance(&name) {
            Some((lo, hi)) => {
                if total < lo || total > hi {
                    failures.push(format!(
                        "{name}: {total} SIP messages, tshark says {lo}..{hi}"
                    ));
                }
            }
            None => {
                if got != exp.sip {
                    failures.push(format!(
                        "{name}: sip_messages_total differs (ours {total}, tshark {})\n  ours:   {got:?}\n  tshark: {:?}",
                        exp.total, exp.sip
                    ));
                }
                let exp_sum: u64 = exp.sip.values().sum();
                assert_eq!(exp_sum, exp.total, "{name}: expected file inconsistent");
            }
        }
        checked += 1;
    }
    assert!(checked >= 30, "only {checked} corpus files checked");
    assert!(
        failures.is_empty(),
        "{} of {checked} files differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Two `_sum` lines of one histogram that differ only by floating-point
/// rounding: workers observe values in an order that depends on which
/// worker has which flow, and f64 addition is not associative.
fn same_float_sum(a: &str, b: &str) -> bool {
    let (Some((ka, va)), Some((kb, vb))) = (a.rsplit_once(' '), b.rsplit_once(' ')) else {
        return false;
    };
    let (Ok(x), Ok(y)) = (va.parse::<f64>(), vb.parse::<f64>()) else {
        return false;
    };
    ka == kb && ka.contains("_sum") && (x - y).abs() <= 1e-9 * x.abs().max(y.abs())
}

/// The audit's numbers do not depend on how many workers share the work
/// or on how the threads happen to be scheduled: SDP seen by one worker
/// must declare the media another worker sees (see `Dispatcher::barrier`).
#[test]
fn results_do_not_depend_on_worker_count() {
    let Some(dir) = common::corpus::required() else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("corpus not found (required under CI=true)");
        }
        eprintln!("SKIPPED: corpus not found");
        return;
    };
    let files = [
        "voipshark_SIP-RTP-Normal_Call_two_parties.pcap",
        "heplify_rtp_rtcp_sip_ipv4_udp.pcap",
        "heplify_sip_tcp_websocket.pcap",
        "sngrep_ipv6frag.pcap",
        "snort3demo_SIP_Eyebeam2Eyebeam_Video_Audio.pcap",
    ];
    for name in files {
        let file = dir.join(name);
        let mut outputs = Vec::new();
        for workers in ["1", "2", "3", "2", "3"] {
            let out = Command::new(env!("CARGO_BIN_EXE_sipsentinel"))
                .args(["audit", "--format", "prometheus", "--workers", workers])
                .arg(&file)
                .output()
                .unwrap();
            assert!(out.status.success());
            let text: Vec<String> = String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .filter(|l| !l.contains("worker_frames_total"))
                .map(String::from)
                .collect();
            outputs.push((workers, text));
        }
        let (_, first) = &outputs[0];
        for (w, o) in &outputs[1..] {
            let diff: Vec<_> = first
                .iter()
                .zip(o)
                .filter(|(a, b)| a != b && !same_float_sum(a, b))
                .collect();
            assert!(
                first.len() == o.len() && diff.is_empty(),
                "{name}: --workers {w} differs from --workers 1: {diff:?}"
            );
        }
    }
}
