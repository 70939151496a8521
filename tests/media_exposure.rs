//! Media exposures (issues #13, #14, media parts) on real captures, each
//! count compared with what tshark 4.0 dissects in the same file:
//!
//! - `srtp_null_cipher` / `sdp_crypto` and `weak_transport_crypto` /
//!   `srtp_auth`: one per `a=crypto` line (tshark `sdp.media_attr`) with a
//!   NULL suite or `UNENCRYPTED_SRTP/SRTCP`, resp. a 32-bit tag or
//!   `UNAUTHENTICATED_SRTP` (SIPp calls, `tests/sipp/uac_media.xml`);
//! - `dtmf_disclosed` / `rtp_event` and `dtmf_digits_total{rtp_event}`:
//!   digits = distinct (SSRC, RTP timestamp) of tshark's `rtpevent`
//!   packets; findings = streams carrying them (SIPp replaying its RFC 2833
//!   captures, and the shared corpus files with events); `rtp_event_timing`
//!   the same under DTLS-SRTP (baresip, keys typed during the call);
//! - `speech_activity`: `packet_length` once per SRTP stream whose payload
//!   length changes often (tshark `udp.length`, same threshold), and
//!   `audio_level` once per SRTP stream carrying the RFC 6464 extension id
//!   the SDP announced (tshark `rtp.ext.rfc5285.id`), on baresip Opus
//!   DTLS-SRTP calls (`tests/baresip/record_media.sh`);
//! - silence of all of these on the other recorded calls.
//!
//! Captures: `tests/fixtures/recorded/media_*.pcap` (see its README), and
//! `$SIPSENTINEL_CORPUS` for the third-party ones (skipped when absent).

mod common;

use common::corpus;
use common::record::tshark_fields_opts;
use common::sensor::{audit_prometheus, parse_metrics, sum_metric, Sample};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const EXPOSURES: &str = "sipsentinel_exposures_total";
const DIGITS: &str = "sipsentinel_dtmf_digits_total";
const STREAMS: &str = "sipsentinel_media_streams_total";

/// The sensor's packet-length window and threshold
/// (`sipsentinel::media::watch`), restated: the oracle applies them to
/// tshark's lengths.
const LENGTH_WINDOW: usize = 100;
const LENGTH_CHANGES_MIN: usize = 20;

fn recorded(name: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/recorded")
        .join(name);
    assert!(p.is_file(), "{}", p.display());
    p
}

fn audit(file: &Path) -> Vec<Sample> {
    parse_metrics(&audit_prometheus(file))
}

fn exposed(s: &[Sample], kind: &str, field: &str) -> f64 {
    sum_metric(s, EXPOSURES, &[("kind", kind), ("field", field)])
}

fn tshark(file: &Path, filter: &str, fields: &[&str]) -> Vec<Vec<String>> {
    tshark_fields_opts(
        file,
        &["-o", "rtp.heuristic_rtp:TRUE"],
        Some(filter),
        fields,
    )
}

/// tshark's `a=crypto` values (`crypto:<tag> <suite> <key> [params]`).
fn crypto_attrs(file: &Path) -> Vec<String> {
    tshark(file, "sdp", &["sdp.media_attr"])
        .into_iter()
        .flatten()
        .flat_map(|c| c.split('\u{1e}').map(str::to_string).collect::<Vec<_>>())
        .filter(|a| a.starts_with("crypto:"))
        .collect()
}

/// (NULL-ish lines, weak-auth lines) by RFC 4568's names.
fn crypto_expected(file: &Path) -> (f64, f64) {
    let (mut null, mut weak) = (0.0, 0.0);
    for a in crypto_attrs(file) {
        let t: Vec<&str> = a.split_whitespace().collect();
        let suite = t.get(1).copied().unwrap_or("").to_ascii_uppercase();
        let params = t.get(3..).unwrap_or(&[]).join(" ").to_ascii_uppercase();
        if suite.starts_with("NULL_") || params.contains("UNENCRYPTED_SRT") {
            null += 1.0;
        }
        if suite.ends_with("_32") || params.contains("UNAUTHENTICATED_SRTP") {
            weak += 1.0;
        }
    }
    (null, weak)
}

#[test]
fn sdes_that_encrypts_nothing_matches_tshark() {
    for (name, want_null, want_weak) in [
        ("media_sipp_null_srtp.pcap", 2.0, 0.0),
        ("media_sipp_unencrypted_srtp.pcap", 2.0, 2.0),
    ] {
        let f = recorded(name);
        let (null, weak) = crypto_expected(&f);
        // The capture is what the scenario says (offer and answer).
        assert_eq!((null, weak), (want_null, want_weak), "{name}: tshark");
        let s = audit(&f);
        assert_eq!(
            exposed(&s, "srtp_null_cipher", "sdp_crypto"),
            null,
            "{name}"
        );
        assert_eq!(
            exposed(&s, "weak_transport_crypto", "srtp_auth"),
            weak,
            "{name}"
        );
        // Media sent under it is cleartext, never srtp_*, and not a
        // "mismatch": srtp_null_cipher already says why.
        let rtp_streams: BTreeSet<String> = tshark(&f, "rtp", &["rtp.ssrc"])
            .into_iter()
            .flatten()
            .collect();
        assert_eq!(
            sum_metric(&s, STREAMS, &[("protection", "cleartext")]),
            rtp_streams.len() as f64,
            "{name}"
        );
        assert_eq!(sum_metric(&s, STREAMS, &[]), rtp_streams.len() as f64);
        assert_eq!(exposed(&s, "encryption_mismatch", "media"), 0.0, "{name}");
    }
}

/// (digits, streams with events) by tshark: RFC 4733 events keep one RTP
/// timestamp per event (§2.5.1), so a digit is a distinct (SSRC,
/// timestamp).
fn events_by_tshark(file: &Path, filter: &str) -> (f64, f64) {
    let rows = tshark(file, filter, &["rtp.ssrc", "rtp.timestamp"]);
    let digits: BTreeSet<_> = rows.iter().map(|r| (r[0].clone(), r[1].clone())).collect();
    let streams: BTreeSet<_> = rows.iter().map(|r| r[0].clone()).collect();
    (digits.len() as f64, streams.len() as f64)
}

fn check_digits(file: &Path, filter: &str, field: &str) {
    let (digits, streams) = events_by_tshark(file, filter);
    assert!(digits > 0.0, "{}: no events by tshark", file.display());
    let s = audit(file);
    assert_eq!(
        sum_metric(&s, DIGITS, &[("field", field)]),
        digits,
        "{}",
        file.display()
    );
    assert_eq!(sum_metric(&s, DIGITS, &[]), digits);
    assert_eq!(
        exposed(&s, "dtmf_disclosed", field),
        streams,
        "{}",
        file.display()
    );
}

#[test]
fn rtp_events_in_recorded_calls_match_tshark() {
    check_digits(&recorded("media_sipp_dtmf.pcap"), "rtpevent", "rtp_event");
    // RTP/SAVP with a NULL suite or UNENCRYPTED_SRTP: tshark does not
    // decode the events of an SAVP stream, their payload type (101, the
    // SDP's telephone-event) shows them; the payloads are in the clear.
    for name in [
        "media_sipp_null_srtp.pcap",
        "media_sipp_unencrypted_srtp.pcap",
    ] {
        check_digits(&recorded(name), "rtp.p_type == 101", "rtp_event");
    }
}

/// baresip over DTLS-SRTP, the caller pressing three keys: the event
/// packets are SRTP, yet their payload type (the SDP's telephone-event),
/// marker and timestamps give the count and timing away.
#[test]
fn rtp_events_under_srtp_are_timing() {
    let f = recorded("media_baresip_dtmf.pcap");
    let pt = tshark(&f, "sdp", &["sdp.media_attr"])
        .into_iter()
        .flatten()
        .flat_map(|c| c.split('\u{1e}').map(str::to_string).collect::<Vec<_>>())
        .find_map(|a| {
            let rest = a.strip_prefix("rtpmap:")?;
            let (pt, enc) = rest.split_once(' ')?;
            enc.starts_with("telephone-event").then(|| pt.to_string())
        })
        .expect("telephone-event rtpmap");
    check_digits(&f, &format!("rtp.p_type == {pt}"), "rtp_event_timing");
    let (digits, _) = events_by_tshark(&f, &format!("rtp.p_type == {pt}"));
    assert_eq!(digits, 3.0, "keys 1, 5, 9");
}

#[test]
fn rtp_events_in_the_corpus_match_tshark() {
    let Some(dir) = corpus::required() else {
        return;
    };
    // The corpus files where tshark finds `rtpevent` (MANIFEST.tsv rows).
    for name in ["ws_SIP_DTMF2.cap", "ndpi_FAX-Call-t38-CA-TDM-SIP-FB-1.pcap"] {
        check_digits(&dir.join(name), "rtpevent", "rtp_event");
    }
}

/// Per SSRC, how often the payload length changed between consecutive
/// packets within the first [`LENGTH_WINDOW`] codec packets (tshark's
/// `udp.length`; RTCP, DTLS and comfort noise left out).
fn length_changes(file: &Path) -> BTreeMap<String, usize> {
    let mut per: BTreeMap<String, (usize, usize, String)> = BTreeMap::new();
    for r in tshark(
        file,
        "rtp && !rtcp && !dtls && rtp.p_type != 13",
        &["rtp.ssrc", "udp.length"],
    ) {
        let e = per.entry(r[0].clone()).or_default();
        if e.0 < LENGTH_WINDOW {
            if e.0 > 0 && e.2 != r[1] {
                e.1 += 1;
            }
            e.0 += 1;
            e.2 = r[1].clone();
        }
    }
    per.into_iter()
        .filter(|(_, (n, _, _))| *n == LENGTH_WINDOW)
        .map(|(k, (_, c, _))| (k, c))
        .collect()
}

#[test]
fn opus_vbr_lengths_are_speech_activity_cbr_are_not() {
    for (name, vbr) in [
        ("media_baresip_opus_vbr.pcap", true),
        ("media_baresip_opus_cbr.pcap", false),
        ("media_baresip_nolevel.pcap", false),
    ] {
        let f = recorded(name);
        let changes = length_changes(&f);
        assert_eq!(changes.len(), 2, "{name}: two SRTP streams by tshark");
        let over = changes
            .values()
            .filter(|&&c| c >= LENGTH_CHANGES_MIN)
            .count();
        // The capture is what its name says.
        assert_eq!(over, if vbr { 2 } else { 0 }, "{name}: {changes:?}");
        let s = audit(&f);
        assert_eq!(
            sum_metric(&s, STREAMS, &[("protection", "srtp_dtls")]),
            2.0,
            "{name}"
        );
        assert_eq!(
            exposed(&s, "speech_activity", "packet_length"),
            over as f64,
            "{name}"
        );
    }
}

/// SSRCs whose packets carry RFC 5285/8285 element `id` (tshark).
fn ssrcs_with_extension(file: &Path, id: u8) -> BTreeSet<String> {
    tshark(file, &format!("rtp.ext.rfc5285.id == {id}"), &["rtp.ssrc"])
        .into_iter()
        .flatten()
        .collect()
}

/// The audio-level extmap id tshark reads in the SDP, if any.
fn audio_level_id(file: &Path) -> Option<u8> {
    tshark(file, "sdp", &["sdp.media_attr"])
        .into_iter()
        .flatten()
        .flat_map(|c| c.split('\u{1e}').map(str::to_string).collect::<Vec<_>>())
        .find_map(|a| {
            let rest = a.strip_prefix("extmap:")?;
            let (id, uri) = rest.split_once(' ')?;
            uri.trim()
                .eq_ignore_ascii_case("urn:ietf:params:rtp-hdrext:ssrc-audio-level")
                .then(|| id.split('/').next()?.parse().ok())?
        })
}

#[test]
fn audio_levels_under_srtp_match_tshark() {
    let f = recorded("media_baresip_level.pcap");
    let id = audio_level_id(&f).expect("extmap in the SDP");
    let streams = ssrcs_with_extension(&f, id);
    assert_eq!(streams.len(), 2, "both directions send levels");
    let s = audit(&f);
    assert_eq!(exposed(&s, "speech_activity", "audio_level"), 2.0);
    // CBR: the lengths say nothing.
    assert_eq!(exposed(&s, "speech_activity", "packet_length"), 0.0);
    // audio_level no: no extmap, no extension on the wire, no finding.
    let f = recorded("media_baresip_nolevel.pcap");
    assert_eq!(audio_level_id(&f), None);
    assert!(ssrcs_with_extension(&f, 1).is_empty());
    assert_eq!(exposed(&audit(&f), "speech_activity", "audio_level"), 0.0);
}

#[test]
fn clean_recorded_calls_show_none_of_these() {
    for name in [
        "plain_udp.pcap",
        "plain_tcp.pcap",
        "plain_udp_v6.pcap",
        "sdes_udp.pcap",
        "dtls_udp.pcap",
        "tls_sdes.pcap",
        "tls_dtls.pcap",
        "media_baresip_opus_cbr.pcap",
        "media_baresip_nolevel.pcap",
    ] {
        let s = audit(&recorded(name));
        for kind in [
            "srtp_null_cipher",
            "weak_transport_crypto",
            "speech_activity",
            "dtmf_disclosed",
            "device_identifier",
        ] {
            assert_eq!(
                sum_metric(&s, EXPOSURES, &[("kind", kind)]),
                0.0,
                "{name}: {kind}"
            );
        }
        assert_eq!(sum_metric(&s, DIGITS, &[]), 0.0, "{name}");
    }
}
