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

mod common;

use common::baresip::{run_call, CallSpec, MediaEnc, SipTransport};
use common::netns::Lab;
use common::record::Recorder;
use common::record::{tshark_count_filter, tshark_values};
use common::sensor::{audit_prometheus, sum_text};
use common::{lab_lock, require_root, require_tool, temp_dir};
use sipsentinel::config::Limits;
use sipsentinel::decode::LinkType;
use sipsentinel::metrics::Metrics;
use sipsentinel::pipeline::worker::Worker;
use sipsentinel::testkit::frames::udp4;
use std::path::{Path, PathBuf};
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

fn recorded(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/recorded")
        .join(file)
}

/// The frames of a classic pcap file (what tcpdump writes), with their
/// capture times; bounded by the file.
fn pcap_frames(path: &Path) -> Vec<(Duration, Vec<u8>)> {
    let b = std::fs::read(path).unwrap();
    assert_eq!(
        &b[..4],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        "little-endian pcap (µs)"
    );
    let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
    let mut out = Vec::new();
    let mut o = 24;
    while o + 16 <= b.len() {
        let ts = Duration::new(u64::from(u32_at(o)), u32_at(o + 4) * 1000);
        let len = u32_at(o + 8) as usize;
        out.push((ts, b[o + 16..o + 16 + len].to_vec()));
        o += 16 + len;
    }
    out
}

const PRESENCE: &str = "observer_register_presence.pcap";

fn presence(text: &str, field: &str) -> f64 {
    sum_text(
        text,
        "sipsentinel_exposures_total",
        &[("kind", "registration_presence"), ("field", field)],
    )
}

/// The SIPp registration scenario (two devices: register, refresh with
/// the same Call-ID, `Expires: 0`): the presence fields against tshark's
/// reading of the same file.
#[test]
fn recorded_register_presence_matches_tshark() {
    require_tool("tshark");
    let file = recorded(PRESENCE);
    let text = audit_prometheus(&file);
    // Every REGISTER got a 200: one finding per 2xx transaction.
    let ok = tshark_count_filter(
        &file,
        "sip.Status-Code == 200 && sip.CSeq.method == \"REGISTER\"",
    );
    let dereg = tshark_count_filter(&file, "sip.Method == \"REGISTER\" && sip.Expires == 0");
    let reg = tshark_count_filter(&file, "sip.Method == \"REGISTER\" && sip.Expires > 0");
    // A device's first REGISTER registers, its later ones refresh: the
    // first is one per Call-ID.
    let mut call_ids = tshark_values(&file, Some("sip.Method == \"REGISTER\""), &["sip.Call-ID"]);
    call_ids.sort();
    call_ids.dedup();
    let devices = call_ids.len() as u64;
    assert_eq!((ok, dereg, reg, devices), (6, 2, 4, 2), "the recording");
    assert_eq!(presence(&text, "register"), devices as f64, "{text}");
    assert_eq!(presence(&text, "refresh"), (reg - devices) as f64);
    assert_eq!(presence(&text, "deregister"), dereg as f64);
    assert_eq!(
        sum_text(
            &text,
            "sipsentinel_exposures_total",
            &[("kind", "registration_presence")]
        ),
        ok as f64
    );
    // The refresh reuses its Call-ID: each device's is linkable, once.
    assert_eq!(
        sum_text(
            &text,
            "sipsentinel_exposures_total",
            &[
                ("kind", "linkable_identifier"),
                ("field", "register_call_id")
            ]
        ),
        devices as f64
    );
    // The instance is sent in one transaction per device: nothing links.
    assert_eq!(
        sum_text(
            &text,
            "sipsentinel_exposures_total",
            &[("kind", "linkable_identifier"), ("field", "sip_instance")]
        ),
        0.0
    );
    assert_eq!(
        sum_text(&text, "sipsentinel_registrations_active", &[]),
        0.0
    );
}

/// `registrations_active` frame by frame through one worker: it rises with
/// each device's first 2xx and falls with each `Expires: 0` 2xx.
#[test]
fn recorded_registrations_active_rises_and_falls() {
    let m = Metrics::new();
    let mut w = Worker::standalone(0, &m, &Limits::default());
    let mut curve = Vec::new();
    for (ts, frame) in pcap_frames(&recorded(PRESENCE)) {
        w.frame(LinkType::Ethernet, ts, &frame);
        w.finish(); // publishes
        let v = series(&m, "sipsentinel_registrations_active ");
        if curve.last() != Some(&v) {
            curve.push(v);
        }
    }
    assert_eq!(curve, [0.0, 1.0, 2.0, 1.0, 0.0]);
}

/// Live (root): records baresip DTLS-SRTP calls on the lab bridge and
/// saves them under `$SIPSENTINEL_SAVE_RECORDINGS` (how the `observer_*`
/// baresip fixtures were made). `calls` = one caller process per entry,
/// each placing that many calls at once.
fn record_baresip(name: &str, callers: &[u32]) -> PathBuf {
    let _g = lab_lock();
    require_root();
    let dir = temp_dir(name);
    let file = dir.join(format!("{name}.pcap"));
    let lab = Lab::new(1 + callers.len());
    let rec = Recorder::start_buffered(&lab.bridge, &file, Some("udp or tcp"), 8192);
    for (k, &dials) in callers.iter().enumerate() {
        let spec = CallSpec::new(SipTransport::Udp, MediaEnc::Dtls)
            .secs(4)
            .dials(dials);
        let call = run_call(&lab, 0, 1 + k, &spec);
        call.assert_ok();
    }
    std::thread::sleep(Duration::from_millis(300));
    rec.stop();
    if let Some(out) = std::env::var_os("SIPSENTINEL_SAVE_RECORDINGS") {
        let dest = Path::new(&out).join(format!("{name}.pcap"));
        std::fs::create_dir_all(Path::new(&out)).unwrap();
        std::fs::copy(&file, &dest).unwrap();
        eprintln!("saved recording {}", dest.display());
    }
    file
}

/// Identifiers an observer reads in the SDP (tshark's dissection, not the
/// sensor's): per value, the Call-IDs it appears in; the count of values
/// in two or more Call-IDs is what `linkable_identifier` must report.
fn tshark_linked_sdp_values(file: &Path, attr: &str) -> usize {
    // Session-level (baresip's caller) and media-level attributes.
    let rows = common::record::tshark_fields(
        file,
        Some("sdp"),
        &["sip.Call-ID", "sdp.session_attr", "sdp.media_attr"],
    );
    let mut by_value: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
        Default::default();
    for row in rows {
        let Some(cid) = row.first() else {
            continue;
        };
        let attrs = row.iter().skip(1).flat_map(|cell| cell.split('\u{1e}'));
        for a in attrs {
            let a = a.trim();
            let value = match attr {
                "fingerprint" => a.strip_prefix("fingerprint:"),
                // a=ssrc:<id> cname:<value>
                _ => a
                    .strip_prefix("ssrc:")
                    .and_then(|r| r.split_once(" cname:"))
                    .map(|(_, v)| v),
            };
            if let Some(v) = value {
                by_value
                    .entry(v.to_string())
                    .or_default()
                    .insert(cid.clone());
            }
        }
    }
    by_value.values().filter(|c| c.len() >= 2).count()
}

fn check_linkable(file: &Path, min_fingerprints: usize) {
    require_tool("tshark");
    let text = audit_prometheus(file);
    let linked = |field: &str| {
        sum_text(
            &text,
            "sipsentinel_exposures_total",
            &[("kind", "linkable_identifier"), ("field", field)],
        )
    };
    let fp = tshark_linked_sdp_values(file, "fingerprint");
    let cname = tshark_linked_sdp_values(file, "cname");
    assert!(
        fp >= min_fingerprints,
        "the recording: {fp} linked fingerprints"
    );
    assert_eq!(linked("dtls_fingerprint"), fp as f64, "{text}");
    assert_eq!(linked("rtcp_cname"), cname as f64, "{text}");
}

const ONE_INSTANCE: &str = "observer_one_instance_two_calls.pcap";
const TWO_INSTANCES: &str = "observer_two_instances.pcap";

/// Two calls from one baresip caller (one certificate, one CNAME) to one
/// callee instance: both sides' fingerprints and CNAMEs link the calls.
#[test]
fn recorded_one_instance_two_calls_is_linkable() {
    check_linkable(&recorded(ONE_INSTANCE), 2);
}

/// One call each from two baresip callers (each its own process,
/// namespace, certificate), to a callee restarted for each: no
/// certificate links. (The callee's CNAME is its AOR, `sip:bob@...`, in
/// both calls: that one links, as tshark sees too, in `check_linkable`.)
#[test]
fn recorded_two_instances_are_not_linkable() {
    let file = recorded(TWO_INSTANCES);
    check_linkable(&file, 0);
    let text = audit_prometheus(&file);
    for field in ["dtls_fingerprint", "sip_instance", "sdp_origin"] {
        assert_eq!(
            sum_text(
                &text,
                "sipsentinel_exposures_total",
                &[("kind", "linkable_identifier"), ("field", field)]
            ),
            0.0,
            "{field}: {text}"
        );
    }
}

#[test]
#[ignore = "live: root, baresip; makes the fixture (SIPSENTINEL_SAVE_RECORDINGS)"]
fn live_record_one_instance_two_calls() {
    let f = record_baresip("observer_one_instance_two_calls", &[2]);
    check_linkable(&f, 1);
}

#[test]
#[ignore = "live: root, baresip; makes the fixture (SIPSENTINEL_SAVE_RECORDINGS)"]
fn live_record_two_instances() {
    let f = record_baresip("observer_two_instances", &[1, 1]);
    check_linkable(&f, 0);
}

/// Zone pairs on the lab's recorded calls (`tests/fixtures/recorded/`,
/// caller "alice" and callee "bob" in two namespaces): with the caller's
/// address in zone `inside` and the callee's in `carrier`, one signalling
/// session inside → carrier (cleartext for SIP over UDP, tls for SIP over
/// TLS: tshark's INVITEs and ClientHellos), and each RTP stream tshark
/// sees counted by its direction, with the file's media verdict.
#[test]
fn zone_pairs_on_plain_sdes_and_tls_calls() {
    require_tool("tshark");
    let dir = temp_dir("observer-zones");
    for (file, signalling, media) in [
        ("plain_udp.pcap", "cleartext", "cleartext"),
        ("sdes_udp.pcap", "cleartext", "srtp_sdes"),
        ("tls_sdes.pcap", "tls", "encrypted_unknown"),
    ] {
        let path = recorded(file);
        // The caller is the client: the INVITE's sender (UDP), or the
        // ClientHello's (TLS).
        let filter = "sip.Method == \"INVITE\" || tls.handshake.type == 1";
        let callers = tshark_values(&path, Some(filter), &["ip.src"]);
        let callees = tshark_values(&path, Some(filter), &["ip.dst"]);
        let (caller, callee) = (callers[0].clone(), callees[0].clone());
        let invites = tshark_count_filter(&path, "sip.Method == \"INVITE\"");
        let hellos = tshark_count_filter(&path, "tls.handshake.type == 1");
        let dialogs = if signalling == "tls" { hellos } else { invites };
        let config = dir.join(format!("{file}.toml"));
        std::fs::write(
            &config,
            format!("[zones]\ninside = [\"{caller}/32\"]\ncarrier = [\"{callee}/32\"]\n"),
        )
        .unwrap();
        let out = common::run_bounded(
            std::process::Command::new(common::sensor::sensor_bin())
                .arg("audit")
                .arg(&path)
                .args(["--format", "prometheus", "--config"])
                .arg(&config),
            Duration::from_secs(60),
        );
        assert!(out.status.success(), "{file}: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        let rows = |layer: &str, src: &str, dst: &str, protection: &str| {
            sum_text(
                &text,
                "sipsentinel_zone_sessions_total",
                &[
                    ("layer", layer),
                    ("src_zone", src),
                    ("dst_zone", dst),
                    ("protection", protection),
                ],
            )
        };
        assert_eq!(dialogs, 1, "{file}: the recording has one call");
        assert_eq!(
            rows("signaling", "inside", "carrier", signalling),
            1.0,
            "{file}: {text}"
        );
        assert_eq!(
            sum_text(
                &text,
                "sipsentinel_zone_sessions_total",
                &[("layer", "signaling")]
            ),
            1.0,
            "{file}: both directions of a dialog count once"
        );
        let streams = common::record::tshark_rtp_streams(&path);
        let out_n = streams.iter().filter(|s| s.src == caller).count() as f64;
        let in_n = streams.iter().filter(|s| s.src == callee).count() as f64;
        assert!(out_n >= 1.0 && in_n >= 1.0, "{file}: {streams:?}");
        assert_eq!(
            rows("media", "inside", "carrier", media),
            out_n,
            "{file}: {text}"
        );
        assert_eq!(
            rows("media", "carrier", "inside", media),
            in_n,
            "{file}: {text}"
        );
    }
}
