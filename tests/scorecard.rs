//! The `audit` "per zone" section (the provider scorecard for a capture,
//! issue #15 item 4) on recorded captures, against tshark's reading of
//! the same files: sessions per zone pair (INVITE dialogs or TLS
//! ClientHellos, RTP streams by direction) and the exposure answers per
//! sender zone (cleartext REGISTER transactions, STIR/SHAKEN tokens).
//! The section names zones only: no address of the capture appears in it.

mod common;

use common::record::{tshark_count_filter, tshark_values};
use common::{require_tool, temp_dir};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn recorded(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/recorded")
        .join(file)
}

/// `audit --format FORMAT --config CONFIG FILE`'s stdout.
fn audit(file: &Path, format: &str, config: Option<&Path>) -> String {
    let mut cmd = std::process::Command::new(common::sensor::sensor_bin());
    cmd.arg("audit").arg(file).args(["--format", format]);
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    let out = common::run_bounded(&mut cmd, Duration::from_secs(60));
    assert!(out.status.success(), "{}: {out:?}", file.display());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn pair<'a>(v: &'a Value, src: &str, dst: &str) -> Option<&'a Value> {
    v["per_zone"]["pairs"]
        .as_array()?
        .iter()
        .find(|r| r["src_zone"] == src && r["dst_zone"] == dst)
}

/// The lab's calls (caller "alice" → callee "bob"), the caller's address
/// in zone `inside` and the callee's in `carrier`: per pair, the
/// signalling sessions are tshark's INVITEs (SIP over UDP) or ClientHellos
/// (SIP over TLS, counted as tls), the streams are tshark's RTP streams of
/// that direction, encrypted when the file's media is SRTP.
#[test]
fn per_zone_pairs_match_tshark_on_plain_sdes_and_tls_calls() {
    require_tool("tshark");
    let dir = temp_dir("scorecard-zones");
    for (file, tls, encrypted) in [
        ("plain_udp.pcap", false, false),
        ("sdes_udp.pcap", false, true),
        // SIP over TLS with SDES: tshark cannot tell SRTP from RTP without
        // the keys and the sensor's verdict is encrypted_unknown, which the
        // scorecard does not count as encrypted.
        ("tls_sdes.pcap", true, false),
    ] {
        let path = recorded(file);
        let filter = "sip.Method == \"INVITE\" || tls.handshake.type == 1";
        let caller = tshark_values(&path, Some(filter), &["ip.src"])[0].clone();
        let callee = tshark_values(&path, Some(filter), &["ip.dst"])[0].clone();
        let invites = tshark_count_filter(&path, "sip.Method == \"INVITE\"");
        let hellos = tshark_count_filter(&path, "tls.handshake.type == 1");
        let sessions = if tls { hellos } else { invites };
        let config = dir.join(format!("{file}.toml"));
        std::fs::write(
            &config,
            format!("[zones]\ninside = [\"{caller}/32\"]\ncarrier = [\"{callee}/32\"]\n"),
        )
        .unwrap();
        let v: Value = serde_json::from_str(&audit(&path, "json", Some(&config))).unwrap();
        let streams = common::record::tshark_rtp_streams(&path);
        let out_n = streams.iter().filter(|s| s.src == caller).count() as u64;
        let in_n = streams.iter().filter(|s| s.src == callee).count() as u64;
        assert!(
            sessions >= 1 && out_n >= 1 && in_n >= 1,
            "{file}: {streams:?}"
        );

        let out = pair(&v, "inside", "carrier").expect("inside → carrier row");
        assert_eq!(out["signaling_sessions"], sessions, "{file}: {out}");
        assert_eq!(
            out["signaling_tls"],
            if tls { sessions } else { 0 },
            "{file}"
        );
        assert_eq!(out["media_streams"], out_n, "{file}: {out}");
        assert_eq!(out["media_encrypted"], if encrypted { out_n } else { 0 });
        let back = pair(&v, "carrier", "inside").expect("carrier → inside row");
        // The callee starts no dialog: its only sessions are its streams.
        assert_eq!(back["signaling_sessions"], 0, "{file}: {back}");
        assert_eq!(back["media_streams"], in_n, "{file}: {back}");
        assert_eq!(back["media_encrypted"], if encrypted { in_n } else { 0 });

        // The text section, with the shares, and no address.
        let text = audit(&path, "text", Some(&config));
        let section = text
            .split("Per zone (provider scorecard)")
            .nth(1)
            .expect("per zone section")
            .split("Exposures found")
            .next()
            .unwrap();
        let share = if tls { "100%" } else { "0%" };
        let row = section
            .lines()
            .find(|l| l.trim_start().starts_with("inside"))
            .unwrap_or_default();
        assert!(row.contains(&format!(" {share} ")), "{file}: {section}");
        for ip in [&caller, &callee] {
            assert!(!section.contains(ip.as_str()), "{file}: {section}");
        }
    }
}

/// Exposure answers per sender zone (no `[zones]`: everything is
/// `unknown`): the SIPp registrations (every REGISTER got a 200, one
/// registration_presence per 2xx transaction) and the content call's
/// STIR/SHAKEN `Identity` header (one per message carrying it).
#[test]
fn per_sender_zone_answers_match_tshark() {
    require_tool("tshark");
    let reg = recorded("observer_register_presence.pcap");
    let ok = tshark_count_filter(
        &reg,
        "sip.Status-Code == 200 && sip.CSeq.method == \"REGISTER\"",
    );
    let v: Value = serde_json::from_str(&audit(&reg, "json", None)).unwrap();
    let row = &v["per_zone"]["senders"][0];
    assert_eq!(row["zone"], "unknown", "{v}");
    assert!(ok > 0);
    assert_eq!(row["cleartext_registrations"], ok, "{row}");

    let call = recorded("sip_content_call.pcap");
    let tokens = tshark_count_filter(&call, "sip.Identity");
    assert!(tokens > 0);
    let v: Value = serde_json::from_str(&audit(&call, "json", None)).unwrap();
    let row = &v["per_zone"]["senders"][0];
    assert_eq!(row["stir_shaken_tokens"], tokens, "{row}");
}

/// Call-IDs (distinct) of the messages matching `filter`, restricted to
/// the INVITE dialogs `calls`.
fn call_ids(file: &Path, filter: &str, calls: &[String]) -> usize {
    call_id_set(file, filter, calls).len()
}

fn call_id_set(file: &Path, filter: &str, calls: &[String]) -> Vec<String> {
    let mut ids = tshark_values(file, Some(filter), &["sip.Call-ID"]);
    ids.retain(|c| calls.contains(c));
    ids.sort();
    ids.dedup();
    ids
}

/// "What an on-path observer could log" on recorded cleartext calls: per
/// CDR field, the calls (tshark's INVITE dialogs) whose messages show it
/// (caller: From; callee: To; start: the INVITE; duration: a 2xx to the
/// INVITE and a BYE; user agent: User-Agent or Server; media endpoints: an
/// SDP media description; DTMF: an INFO with a DTMF body).
#[test]
fn observer_log_matches_tshark_per_cdr_field() {
    require_tool("tshark");
    for file in [
        "plain_udp.pcap",
        "sip_content_call.pcap",
        "observer_one_instance_two_calls.pcap",
        "media_sipp_dtmf.pcap",
    ] {
        let path = recorded(file);
        let mut calls = tshark_values(&path, Some("sip.Method == \"INVITE\""), &["sip.Call-ID"]);
        calls.sort();
        calls.dedup();
        assert!(!calls.is_empty(), "{file}");
        let answered = call_id_set(
            &path,
            "sip.CSeq.method == \"INVITE\" && sip.Status-Code >= 200 && sip.Status-Code < 300",
            &calls,
        );
        let byes = call_id_set(&path, "sip.Method == \"BYE\"", &calls);
        let ended = answered.iter().filter(|c| byes.contains(c)).count();
        let want = [
            ("caller", call_ids(&path, "sip.From", &calls)),
            ("callee", call_ids(&path, "sip.To", &calls)),
            ("start", calls.len()),
            ("duration", ended),
            (
                "user_agent",
                call_ids(&path, "sip.User-Agent || sip.Server", &calls),
            ),
            ("media_endpoints", call_ids(&path, "sdp.media", &calls)),
            (
                "dtmf_count",
                call_ids(
                    &path,
                    "sip.Method == \"INFO\" && sip.Content-Type contains \"dtmf\"",
                    &calls,
                ),
            ),
        ];
        let v: Value = serde_json::from_str(&audit(&path, "json", None)).unwrap();
        let clear = &v["observer_log"]["cleartext"];
        assert_eq!(clear["calls"], calls.len(), "{file}: {clear}");
        for (field, n) in want {
            assert_eq!(clear["visible"][field], n, "{file}: {field}: {clear}");
        }
        assert_eq!(v["observer_log"]["tls"]["calls"], 0, "{file}");
    }
}
