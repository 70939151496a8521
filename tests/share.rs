//! `audit --redact-pcap`: the redacted capture is still the same capture to
//! tshark, and holds none of the input's identifiers.
//!
//! For every recorded fixture (`tests/fixtures`, `tests/fixtures/recorded`)
//! and every capture of the third-party corpus (`$SIPSENTINEL_CORPUS`,
//! default `../shared/corpus`, as in `tests/corpus.rs`):
//! - tshark's SIP messages per request method and per status code are the
//!   same in the input and the redacted output;
//! - tshark's RTP stream count (`-z rtp,streams`, heuristic RTP on) is the
//!   same;
//! - no identifier tshark reads in the input is in the output's bytes:
//!   From/To/Contact/P-Asserted-Identity/Request-URI/digest user names,
//!   Call-IDs, digest responses and nonces, SDP `o=` user names, SRTP master
//!   keys (`a=crypto inline:`), IP source and destination addresses (as text
//!   anywhere, and as the output's packet addresses).
//!
//! Not comparable, and why (asserted where they can be): SIP over SCTP
//! (`heplify_sip_sctp.pcap`: SCTP is not written, so its SIP is not
//! either; the test checks the output has no SIP and no identifier); RTP
//! inside TCP (TURN over TCP in `ndpi_stun_dtls_rtp.pcapng`): non-SIP TCP
//! keeps its headers only, so those streams are subtracted.
//!
//! tshark is required (tests/run.sh installs it).

mod common;

use common::corpus;
use common::record::{
    tshark_fields, tshark_fields_opts, tshark_identifiers, tshark_rtp_streams,
    tshark_rtp_streams_heuristic, tshark_values, IDENTIFIER_FIELDS,
};
use common::{repo_root, sipsentinel, temp_dir};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The recorded fixtures, then the corpus (when it is there; under
/// `CI=true` it must be).
fn all_captures() -> Vec<PathBuf> {
    let root = repo_root().join("tests/fixtures");
    let mut v = corpus::files(&root);
    v.extend(corpus::files(&root.join("recorded")));
    if let Some(c) = corpus::required() {
        v.extend(corpus::files(&c));
    }
    v
}

/// Per request method and status code, how many SIP messages tshark reads.
fn sip_counts(f: &Path) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for row in tshark_fields(f, Some("sip"), &["sip.Method", "sip.Status-Code"]) {
        for (i, col) in row.iter().enumerate() {
            for v in col.split('\u{1e}').filter(|v| !v.is_empty()) {
                let k = if i == 0 {
                    v.to_string()
                } else {
                    format!("status {v}")
                };
                *m.entry(k).or_insert(0) += 1;
            }
        }
    }
    m
}

/// RTP streams tshark finds inside TCP (distinct source and SSRC).
fn rtp_streams_over_tcp(f: &Path) -> usize {
    let mut v = tshark_fields_opts(
        f,
        &["-o", "rtp.heuristic_rtp:TRUE"],
        Some("rtp && tcp"),
        &["ip.src", "tcp.srcport", "rtp.ssrc"],
    );
    v.sort();
    v.dedup();
    v.len()
}

/// Identifiers tshark reads in `f` (as in privacy.rs, with Call-IDs,
/// digests, nonces, SDP owners and SRTP keys besides): none of them may
/// be in the redacted capture.
fn identifiers(f: &Path) -> Vec<String> {
    let mut fields = IDENTIFIER_FIELDS.to_vec();
    fields.extend([
        "sip.auth.digest.response",
        "sip.auth.nonce",
        "sip.auth.cnonce",
        "sip.Call-ID",
        "sdp.owner.username",
        "sdp.crypto.master_key",
    ]);
    tshark_identifiers(f, &fields)
        .into_iter()
        // RFC 3323 §4.1.1.3 placeholders name no one (the redaction keeps them).
        .filter(|v| !PLACEHOLDERS.contains(&v.to_ascii_lowercase().as_str()))
        .filter(|v| !kept_address(v))
        .collect()
}

const PLACEHOLDERS: &[&str] = &[
    "anonymous",
    "unavailable",
    "unknown",
    "restricted",
    "invalid",
];

/// Addresses that identify no one and are kept: unspecified, loopback,
/// broadcast, multicast.
fn kept_address(v: &str) -> bool {
    match v.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(a)) => {
            a.is_unspecified() || a.is_loopback() || a.is_broadcast() || a.is_multicast()
        }
        Ok(std::net::IpAddr::V6(a)) => a.is_unspecified() || a.is_loopback() || a.is_multicast(),
        Err(_) => false,
    }
}

/// `needle` in `hay` with no letter or digit on either side (a 4-digit
/// user is not "found" inside a longer number).
fn contains_word(hay: &[u8], needle: &[u8]) -> bool {
    if needle.is_empty() || hay.len() < needle.len() {
        return false;
    }
    let alnum = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_alphanumeric());
    hay.windows(needle.len()).enumerate().any(|(i, w)| {
        w.eq_ignore_ascii_case(needle)
            && !alnum(i.checked_sub(1).and_then(|j| hay.get(j)))
            && !alnum(hay.get(i + needle.len()))
    })
}

fn redact(input: &Path, out: &Path) {
    let r = sipsentinel()
        .args(["audit", "--quiet", "--format", "json", "--redact-pcap"])
        .arg(out)
        .arg(input)
        .output()
        .unwrap();
    // A truncated capture still gives a report and a redacted copy, with
    // exit 1; anything else must succeed.
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(
        r.status.success() || stderr.contains("truncated") || stderr.contains("cut short"),
        "{}: {stderr}",
        input.display()
    );
    assert!(out.is_file(), "{}: no output; {stderr}", input.display());
}

#[test]
fn redacted_captures_dissect_the_same_and_leak_nothing() {
    let dir = temp_dir("share-all");
    let mut failures = Vec::new();
    let mut compared = 0;
    for input in all_captures() {
        let name = input.file_name().unwrap().to_string_lossy().into_owned();
        let out = dir.join(format!("{name}.redacted.pcapng"));
        redact(&input, &out);
        let bytes = std::fs::read(&out).unwrap();
        // Identifiers: none in the output's bytes, none as a packet address.
        let ids = identifiers(&input);
        for id in &ids {
            if contains_word(&bytes, id.as_bytes()) {
                failures.push(format!("{name}: identifier {id:?} in the redacted capture"));
            }
        }
        let out_addrs = tshark_values(&out, None, &["ip.addr", "ipv6.addr"]);
        for id in ids.iter().filter(|i| i.parse::<std::net::IpAddr>().is_ok()) {
            if out_addrs.contains(id) {
                failures.push(format!("{name}: address {id} in the output's headers"));
            }
        }
        let (sip_in, sip_out) = (sip_counts(&input), sip_counts(&out));
        if name == "heplify_sip_sctp.pcap" {
            // SCTP is not written (see the module doc).
            if !sip_out.is_empty() {
                failures.push(format!("{name}: SIP over SCTP written: {sip_out:?}"));
            }
            continue;
        }
        if sip_in != sip_out {
            failures.push(format!(
                "{name}: SIP per method/status {sip_in:?} → {sip_out:?}"
            ));
        }
        let (rtp_in, rtp_out) = (
            tshark_rtp_streams(&input).len(),
            tshark_rtp_streams(&out).len(),
        );
        // RTP carried in TCP (TURN over TCP, RFC 4571) is not written:
        // non-SIP TCP keeps its headers only.
        let over_tcp = rtp_streams_over_tcp(&input);
        if rtp_in - over_tcp != rtp_out {
            failures.push(format!("{name}: RTP streams {rtp_in} → {rtp_out}"));
        }
        compared += 1;
        eprintln!(
            "{name}: {} SIP messages, {rtp_in} RTP streams, {} identifiers: same/none",
            sip_in.values().sum::<usize>(),
            ids.len()
        );
    }
    assert!(compared >= 10, "only {compared} captures compared");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let _ = std::fs::remove_dir_all(dir);
}

/// The redacted capture is pcapng (a `pcap-file` writer), raw IP, and the
/// SDP still announces the RTP the packets carry: a call's media stream is
/// found by tshark through the SDP alone (heuristic RTP off).
#[test]
fn sdp_still_leads_tshark_to_the_media() {
    let input = repo_root().join("tests/fixtures/recorded/plain_udp.pcap");
    let dir = temp_dir("share-sdp");
    let out = dir.join("sdp.pcapng");
    redact(&input, &out);
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(
        &bytes[..4],
        &[0x0a, 0x0d, 0x0d, 0x0a],
        "pcapng section header"
    );
    // Heuristic RTP off: only the streams the SDP announces.
    let streams = |f: &Path| tshark_rtp_streams_heuristic(f, false).len();
    let n = streams(&input);
    assert!(n > 0, "fixture has SDP-announced RTP");
    assert_eq!(streams(&out), n);
    // The RTP payload is zeroed: no non-zero byte after the 12-byte header.
    let payloads = tshark_values(&out, Some("rtp"), &["rtp.payload"]);
    assert!(!payloads.is_empty());
    for p in &payloads {
        assert!(p.chars().all(|c| c == '0' || c == ':'), "payload {p}");
    }
    let _ = std::fs::remove_dir_all(dir);
}
