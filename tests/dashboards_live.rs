//! Every Grafana panel query against a real Prometheus that scraped the
//! sensor replaying the bundled sample captures: no query may error, and
//! every panel the samples should fill must return data.
//!
//! The sensor replays `tests/fixtures/recorded/*.pcap` (real baresip calls:
//! plain, SDES, DTLS, TCP, TLS, IPv6) and the bundled third-party fixtures
//! with `run --read ... --read ...` and keeps serving; Prometheus (Debian
//! `prometheus`) scrapes it every second. Grafana's variables become what a
//! user selecting "All" would send. Panels about failures the samples do not
//! contain (drops, decode failures, parse errors, evictions, reopens,
//! encryption mismatches) may be empty; they are listed with the reason.

mod common;

use common::grafana::{panels, substitute, Windows};
use common::prometheus::Prometheus;
use common::sensor::Sensor;
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

/// Grafana's windows as sent with a 15-minute range.
const WINDOWS: Windows = Windows {
    rate_interval: "1m",
    interval: "15s",
    range: "15m",
};

/// Panels that may be empty on clean sample captures, and why.
fn may_be_empty(title: &str, expr: &str) -> Option<&'static str> {
    let t = title.to_ascii_lowercase();
    let e = expr;
    let rules: [(&str, &str, &str); 10] = [
        ("drop", "dropped", "no drops while replaying files"),
        ("decode", "decode_failures", "the sample frames all decode"),
        ("parse", "sip_parse_errors", "the sample SIP all parses"),
        ("evict", "flow_evictions", "tables never fill on samples"),
        ("reopen", "reopen", "files are not reopened"),
        (
            "mismatch",
            "encryption_mismatch",
            "no SRTP-declared cleartext in the samples",
        ),
        ("kernel", "kernel_dropped", "no kernel drops on a file"),
        (
            "interface",
            "interface_dropped",
            "no interface drops on a file",
        ),
        (
            "ws",
            "transport=\"wss\"",
            "no secure WebSocket in the samples",
        ),
        (
            "CDR",
            "sipsentinel_cdr_",
            "this sensor has no [cdr] store to check (tests/cdr.rs scrapes one)",
        ),
    ];
    rules
        .iter()
        .find(|(tw, ew, _)| t.contains(tw) || e.contains(ew))
        .map(|(_, _, why)| *why)
}

#[test]
fn every_dashboard_query_returns_data_from_a_real_scrape() {
    common::require_tool("prometheus");
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(common::repo_root().join("tests/fixtures/recorded"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
            .collect();
    files.sort();
    for f in [
        "sv_sip-tcp.pcap",
        "sv_sip_compact_form.pcap",
        "sv_sip-body-large.pcap",
        "zeek_sip_invalid-content-length.pcap",
        "zeek_sip_junk-before-request.pcap",
        "zeek_webrtc-stun.pcap",
    ] {
        files.push(common::repo_root().join("tests/fixtures").join(f));
    }
    assert!(files.len() >= 10, "{files:?}");
    let mut args = vec!["run".to_string()];
    for f in &files {
        args.push("--read".into());
        args.push(f.display().to_string());
    }
    let sensor = Sensor::start_with(&args);
    // Replay done: the last file's frames are counted.
    let s = sensor.scrape_until(Duration::from_secs(30), |s| {
        common::sensor::sum_metric(s, "sipsentinel_capture_up", &[]) == 0.0
            && common::sensor::sum_metric(s, "sipsentinel_capture_packets_total", &[]) > 0.0
    });
    assert!(common::sensor::sum_metric(&s, "sipsentinel_media_streams_total", &[]) > 0.0);
    let prom = Prometheus::start(&[sensor.addr], &[]);
    // rate() needs two samples in its window: wait for a few scrapes.
    let ok = prom.wait_until(Duration::from_secs(30), |p| {
        p.query_sum("count_over_time(sipsentinel_build_info[1m])") >= 4.0
    });
    assert!(
        ok,
        "Prometheus did not scrape the sensor 4 times\n{}",
        prom.log_text()
    );

    let mut failures = Vec::new();
    let mut checked = 0;
    let mut allowed_empty = Vec::new();
    let mut names: Vec<PathBuf> = std::fs::read_dir(common::repo_root().join("dashboards"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    names.sort();
    assert_eq!(names.len(), 5, "{names:?}");
    for path in names {
        let d: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let dash = path.file_name().unwrap().to_string_lossy().to_string();
        for p in panels(&d) {
            let title = p["title"].as_str().unwrap_or("?");
            for t in p["targets"].as_array().into_iter().flatten() {
                let Some(expr) = t["expr"].as_str() else {
                    continue;
                };
                let q = substitute(expr, &WINDOWS);
                let url = format!("/api/v1/query?query={}", common::prometheus::url_encode(&q));
                let (code, body) = common::sensor::http_get(prom.addr, &url).unwrap();
                checked += 1;
                let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                if code != 200 || v["status"] != "success" {
                    failures.push(format!("{dash} / {title}: error {code}: {body}\n  {q}"));
                    continue;
                }
                let empty = match &v["data"]["result"] {
                    Value::Array(a) => a.is_empty(),
                    _ => false, // scalar or string results are data
                };
                if empty {
                    match may_be_empty(title, &q) {
                        Some(why) => allowed_empty.push(format!("{dash} / {title}: {why}")),
                        None => failures.push(format!("{dash} / {title}: empty result\n  {q}")),
                    }
                }
            }
        }
    }
    eprintln!(
        "{checked} panel queries; empty and allowed:\n  {}",
        allowed_empty.join("\n  ")
    );
    assert!(checked > 20, "only {checked} queries");
    assert!(
        failures.is_empty(),
        "{} of {checked} panel queries failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
