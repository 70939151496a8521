//! A real Prometheus scrapes the live sensor during baresip calls, with the
//! shipped alert rules (`dashboards/alerts.yml`) loaded; everything is
//! asserted through Prometheus' HTTP API (`/api/v1/targets`, `/api/v1/query`,
//! `/api/v1/rules`, `/api/v1/alerts`).
//!
//! - plain RTP over UDP (the leaky call): `CleartextMediaObserved` fires at
//!   once (no `for:`), `CleartextMediaActive` is pending, then firing after
//!   its `for: 2m` (its `rate(...[5m])` branch stays true for 5 minutes after
//!   the call, so a short call is enough; the test waits ≤ 2 m 40 s);
//! - SDES-SRTP over UDP: `SrtpKeyExposed` fires at once (no `for:`);
//! - DTLS-SRTP with SIP over TLS: no alert at all, pending or firing.
//!
//! Needs root, prometheus (Debian `prometheus`), baresip, openssl, tcpdump,
//! tshark. Run: `cargo test --test live_prometheus -- --nocapture`.
mod common;

use std::time::Duration;

use common::baresip::{run_call, CallSpec, MediaEnc, SipTransport};
use common::netns::Lab;
use common::prometheus::{alert_state, alerts_file, Alert, Prometheus};
use common::record::{tshark_packet_count, tshark_sip_counts, Recorder};
use common::sensor::Sensor;
use common::{diff_counts, lab_lock, nonzero, require_root, temp_dir, SipCounts};

const CALLEE: usize = 0;
const CALLER: usize = 1;
const QUIET_FILTER: &str = "udp or tcp";
/// tcpdump -B (see Recorder::start_buffered).
const RECORD_BUFFER_KIB: u32 = 32768;

/// The exposure alerts (group `sipsentinel-exposures` in alerts.yml).
const EXPOSURE_ALERTS: [&str; 6] = [
    "CleartextMediaActive",
    "CleartextMediaObserved",
    "SrtpKeyExposed",
    "PrivacyRequestIgnored",
    "EncryptionMismatch",
    "IdentityOrLocationLeak",
];

/// A lab with recorder, live sensor and Prometheus scraping it, after one
/// baresip call; the SIP counts and frames are checked through Prometheus.
struct Run {
    prom: Prometheus,
    sensor: Sensor,
    tshark: SipCounts,
    _lab: Lab,
}

fn alerts_text(a: &[Alert]) -> String {
    a.iter()
        .map(|a| format!("{} {} {:?}", a.name, a.state, a.labels))
        .collect::<Vec<_>>()
        .join("\n")
}

fn call_scraped(label: &str, spec: CallSpec) -> Run {
    require_root();
    let dir = temp_dir(label);
    let file = dir.join(format!("{label}.pcap"));
    let lab = Lab::new(2);
    let rec = Recorder::start_buffered(&lab.bridge, &file, Some(QUIET_FILTER), RECORD_BUFFER_KIB);
    let sensor = Sensor::start_live(&lab.bridge, &["--filter", QUIET_FILTER]);
    let prom = Prometheus::start(&[sensor.addr], &[alerts_file()]);

    // Rules loaded, target up before the call.
    let rules = prom.alert_rule_names();
    for a in EXPOSURE_ALERTS {
        assert!(
            rules.iter().any(|r| r == a),
            "alert {a} not loaded from {}: {rules:?}\n{}",
            alerts_file().display(),
            prom.log_text()
        );
    }
    let up = prom.wait_until(Duration::from_secs(15), |p| {
        p.targets().iter().any(|(_, h, _)| h == "up")
            && p.query_sum("up{job=\"sipsentinel\"}") == 1.0
    });
    assert!(
        up,
        "sensor target {} not up in Prometheus within 15 s: {:?}\n{}",
        sensor.addr,
        prom.targets(),
        prom.log_text()
    );

    let call = run_call(&lab, CALLEE, CALLER, &spec);
    call.assert_ok();
    std::thread::sleep(Duration::from_millis(300));
    let _summary = rec.stop();
    let tshark = nonzero(&tshark_sip_counts(&file));
    let packets = tshark_packet_count(&file) as f64;

    // Prometheus (1 s scrapes) catches up with the sensor within seconds.
    let q_packets = "sum(sipsentinel_capture_packets_total)";
    let caught_up = prom.wait_until(Duration::from_secs(15), |p| {
        p.sip_counts() == tshark && p.query_sum(q_packets) >= packets
    });
    let got = prom.sip_counts();
    assert!(
        caught_up,
        "{label}: sipsentinel_sip_messages_total in Prometheus differs from tshark (recording {}), \
         or capture_packets_total {} < {packets}:\n{}",
        file.display(),
        prom.query_sum(q_packets),
        diff_counts("tshark", &tshark, "prometheus", &got)
    );
    assert_eq!(
        prom.query_sum(q_packets),
        packets,
        "{label}: capture_packets_total in Prometheus != frames recorded"
    );
    let up = prom.targets();
    assert!(
        up.iter().all(|(_, h, _)| h == "up"),
        "target not up after the call: {up:?}"
    );
    Run {
        prom,
        sensor,
        tshark,
        _lab: lab,
    }
}

/// Wait ≤ `limit` until alert `name` is in one of `states`; returns the
/// alerts seen last.
fn wait_alert(prom: &Prometheus, name: &str, states: &[&str], limit: Duration) -> Vec<Alert> {
    let mut last = Vec::new();
    prom.wait_until(limit, |p| {
        last = p.alerts();
        alert_state(&last, name).is_some_and(|s| states.contains(&s.as_str()))
    });
    last
}

fn assert_alert(run: &Run, name: &str, states: &[&str], limit: Duration) -> Alert {
    let alerts = wait_alert(&run.prom, name, states, limit);
    let a = alerts
        .iter()
        .find(|a| a.name == name && states.contains(&a.state.as_str()))
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "alert {name} not {states:?} within {limit:?}; alerts:\n{}\nmedia/exposure series in Prometheus: {:?}",
                alerts_text(&alerts),
                run.prom.query("{__name__=~\"sipsentinel_(media|exposures).*\"} != 0")
            )
        });
    let instance = run.sensor.addr.to_string();
    assert_eq!(
        (
            a.labels.get("job").and_then(|v| v.as_str()),
            a.labels.get("instance").and_then(|v| v.as_str())
        ),
        (Some("sipsentinel"), Some(instance.as_str())),
        "alert {name} not aggregated per sensor: {:?}",
        a.labels
    );
    a
}

#[test]
fn prometheus_plain_rtp_fires_cleartext_media_alerts() {
    let _g = lab_lock();
    let run = call_scraped(
        "prom-plain",
        CallSpec::new(SipTransport::Udp, MediaEnc::Plain).secs(6),
    );
    assert!(!run.tshark.is_empty());
    let a = assert_alert(
        &run,
        "CleartextMediaObserved",
        &["firing"],
        Duration::from_secs(15),
    );
    assert_eq!(
        a.labels.get("severity").and_then(|v| v.as_str()),
        Some("high")
    );
    assert_alert(
        &run,
        "CleartextMediaActive",
        &["pending", "firing"],
        Duration::from_secs(15),
    );
    // for: 2m, evaluated every second.
    let a = assert_alert(
        &run,
        "CleartextMediaActive",
        &["firing"],
        Duration::from_secs(160),
    );
    assert_eq!(
        a.labels.get("severity").and_then(|v| v.as_str()),
        Some("critical")
    );
    let others: Vec<Alert> = run
        .prom
        .alerts()
        .into_iter()
        .filter(|a| a.name == "SrtpKeyExposed" || a.name == "EncryptionMismatch")
        .collect();
    assert!(
        others.is_empty(),
        "unexpected alerts for a plain RTP call:\n{}",
        alerts_text(&others)
    );
}

#[test]
fn prometheus_sdes_over_udp_fires_srtp_key_exposed() {
    let _g = lab_lock();
    let run = call_scraped(
        "prom-sdes",
        CallSpec::new(SipTransport::Udp, MediaEnc::Sdes),
    );
    let a = assert_alert(&run, "SrtpKeyExposed", &["firing"], Duration::from_secs(15));
    assert_eq!(
        a.labels.get("transport").and_then(|v| v.as_str()),
        Some("udp"),
        "{:?}",
        a.labels
    );
    assert_eq!(
        a.labels.get("severity").and_then(|v| v.as_str()),
        Some("critical")
    );
    let cleartext: Vec<Alert> = run
        .prom
        .alerts()
        .into_iter()
        .filter(|a| a.name.starts_with("CleartextMedia") || a.name == "EncryptionMismatch")
        .collect();
    assert!(
        cleartext.is_empty(),
        "SRTP media must not raise cleartext-media alerts:\n{}",
        alerts_text(&cleartext)
    );
}

#[test]
fn prometheus_dtls_srtp_over_tls_stays_silent() {
    let _g = lab_lock();
    let run = call_scraped(
        "prom-tls-dtls",
        CallSpec::new(SipTransport::Tls, MediaEnc::Dtls),
    );
    assert!(run.tshark.is_empty(), "SIP over TLS must not be readable");
    // Several scrape + evaluation cycles after the whole call is in.
    std::thread::sleep(Duration::from_secs(8));
    let alerts = run.prom.alerts();
    assert!(
        alerts.is_empty(),
        "DTLS-SRTP over TLS must raise no alert, pending or firing:\n{}",
        alerts_text(&alerts)
    );
    // Not silent by blindness: the sensor classified the media.
    let dtls = run
        .prom
        .query_sum("sum(sipsentinel_media_streams_total{protection=\"srtp_dtls\"})");
    assert_eq!(
        dtls,
        2.0,
        "expected 2 srtp_dtls streams in Prometheus; media series: {:?}",
        run.prom
            .query("{__name__=~\"sipsentinel_(media|exposures).*\"} != 0")
    );
}

/// The Prometheus runner itself (no root, no sensor): a rule file with an
/// alert that fires at once and one that stays pending; `query`, `alerts`,
/// `targets` and `alert_rule_names` parse what a real server answers.
#[test]
fn harness_selfcheck_prometheus() {
    let dir = temp_dir("prom-selfcheck");
    let rules = dir.join("rules.yml");
    std::fs::write(
        &rules,
        "groups:\n  - name: selfcheck\n    rules:\n\
         \x20     - alert: AlwaysFiring\n        expr: vector(1)\n        labels:\n          severity: info\n\
         \x20     - alert: AlwaysPending\n        expr: vector(2)\n        for: 1h\n",
    )
    .unwrap();
    // A target nothing listens on: health must become "down".
    let port = common::sensor::free_port();
    let target: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let prom = Prometheus::start(&[target], &[rules]);
    let mut names = prom.alert_rule_names();
    names.sort();
    assert_eq!(names, ["AlwaysFiring", "AlwaysPending"]);
    assert_eq!(prom.query_sum("vector(3) + 4"), 7.0);
    let ok = prom.wait_until(Duration::from_secs(20), |p| {
        let a = p.alerts();
        alert_state(&a, "AlwaysFiring").as_deref() == Some("firing")
            && alert_state(&a, "AlwaysPending").as_deref() == Some("pending")
            && p.targets().iter().any(|(_, h, _)| h == "down")
    });
    assert!(
        ok,
        "alerts {} targets {:?}",
        alerts_text(&prom.alerts()),
        prom.targets()
    );
    assert_eq!(prom.query_sum("up{job=\"sipsentinel\"}"), 0.0);
}
