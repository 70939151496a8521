//! Offline tests on the recorded baresip calls in `tests/fixtures/recorded/`
//! (see its README): `sipsentinel audit --format prometheus` of each file
//! must match tshark's counts stored in `oracle.tsv` (SIP messages by
//! kind/label/transport, frames), and give the media verdict and exposures
//! the scenario implies. No root, no peers, no tshark needed.
mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::sensor::{audit_prometheus, parse_metrics, sip_counts_from_metrics, sum_metric};
use common::sensor::{Sample, CAPTURE_PACKETS};
use common::{diff_counts, key, nonzero, SipCounts};

const MEDIA_STREAMS: &str = "sipsentinel_media_streams_total";
const EXPOSURES: &str = "sipsentinel_exposures_total";

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/recorded")
}

/// What tshark saw in one file (from oracle.tsv).
#[derive(Debug, Default)]
struct Oracle {
    sip: SipCounts,
    measures: BTreeMap<String, u64>,
}

impl Oracle {
    fn measure(&self, m: &str) -> u64 {
        *self
            .measures
            .get(m)
            .unwrap_or_else(|| panic!("oracle.tsv has no `{m}` row"))
    }
}

fn oracle() -> BTreeMap<String, Oracle> {
    let text = std::fs::read_to_string(dir().join("oracle.tsv")).expect("read oracle.tsv");
    let mut m: BTreeMap<String, Oracle> = BTreeMap::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 6, "oracle.tsv line {}: {line:?}", i + 1);
        let v: u64 = f[5]
            .parse()
            .unwrap_or_else(|_| panic!("oracle.tsv line {}: bad value {:?}", i + 1, f[5]));
        let o = m.entry(f[0].to_string()).or_default();
        if f[1] == "sip" {
            *o.sip.entry(key(f[2], f[3], f[4])).or_default() += v;
        } else {
            o.measures.insert(f[1].to_string(), v);
        }
    }
    m
}

/// Media verdict and exposures each recorded scenario must produce.
struct Verdict {
    protection: &'static str,
    cleartext_media: bool,
    srtp_key_exposed: bool,
    cleartext_signaling: bool,
}

fn verdict(file: &str) -> Verdict {
    let v = |protection, cleartext_media, srtp_key_exposed, cleartext_signaling| Verdict {
        protection,
        cleartext_media,
        srtp_key_exposed,
        cleartext_signaling,
    };
    match file.trim_end_matches(".pcap") {
        "plain_udp" | "plain_tcp" | "plain_udp_v6" => v("cleartext", true, false, true),
        "sdes_udp" => v("srtp_sdes", false, true, true),
        "dtls_udp" => v("srtp_dtls", false, false, true),
        // SDP hidden by TLS: SRTP seen, keying not.
        "tls_sdes" => v("encrypted_unknown", false, false, false),
        // DTLS handshake visible on the media path.
        "tls_dtls" => v("srtp_dtls", false, false, false),
        // SIPp signalling only (tests/content_exposure.rs), no media.
        "sip_content_call" | "sip_content_im" => v("cleartext", false, false, true),
        // OpenSSL handshakes to port 5061 (make_tls.sh): no media.
        "tls_rsa_tls10_client_cert" | "tls_rsa_tls11" | "tls_ecdhe_tls12" => {
            v("unknown", false, false, false)
        }
        // DTLS-SRTP selecting SRTP_NULL_HMAC_SHA1_80 (tests/tls_exposure.rs):
        // the audio travels readable, never counted as srtp_dtls.
        "tls_dtls_null_profile" => v("cleartext", true, false, false),
        // tests/media_exposure.rs: SIPp replays cleartext G.711 and RFC
        // 4733 events under SDES that encrypts nothing (NULL suite,
        // UNENCRYPTED_SRTP) or plain RTP/AVP.
        "media_sipp_null_srtp" | "media_sipp_unencrypted_srtp" => v("cleartext", true, true, true),
        "media_sipp_dtmf" => v("cleartext", true, false, true),
        // baresip Opus over DTLS-SRTP (VBR, CBR, with and without RFC 6464
        // audio levels, with DTMF).
        "media_baresip_opus_vbr"
        | "media_baresip_opus_cbr"
        | "media_baresip_level"
        | "media_baresip_nolevel"
        | "media_baresip_dtmf" => v("srtp_dtls", false, false, true),
        // SIPp REGISTER / refresh / Expires: 0 on loopback (issue #15): no
        // media at all, cleartext signalling (tests/observer.rs checks the
        // presence findings).
        "observer_register_presence" => v("cleartext", false, false, true),
        // baresip DTLS-SRTP calls (issue #15): one caller instance placing
        // two calls, and two caller instances one call each.
        "observer_one_instance_two_calls" | "observer_two_instances" => {
            v("srtp_dtls", false, false, true)
        }
        other => {
            panic!("no expected verdict for recorded fixture {other}; add it to tests/recorded.rs")
        }
    }
}

fn audit(file: &str) -> Vec<Sample> {
    parse_metrics(&audit_prometheus(&dir().join(file)))
}

/// Every pcap in the directory is in oracle.tsv and vice versa, and each has
/// an expected verdict.
#[test]
fn recorded_fixtures_match_oracle_tsv_listing() {
    let mut files: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".pcap"))
        .collect();
    files.sort();
    let listed: Vec<String> = oracle().keys().cloned().collect();
    assert_eq!(files, listed, "run tests/fixtures/recorded/oracle.sh");
    assert!(files.len() >= 7, "expected the 7 baresip scenarios");
    for f in &files {
        verdict(f);
        let size = std::fs::metadata(dir().join(f)).unwrap().len();
        assert!(size < 300_000, "{f} is {size} bytes; keep fixtures small");
    }
}

#[test]
fn recorded_sip_counts_and_packets_match_tshark() {
    let mut failures = Vec::new();
    for (file, o) in oracle() {
        let s = audit(&file);
        let got = nonzero(&sip_counts_from_metrics(&s));
        if got != nonzero(&o.sip) {
            failures.push(format!(
                "{file}: sip_messages_total differs from tshark:\n{}",
                diff_counts("tshark", &o.sip, "audit", &got)
            ));
        }
        let packets = sum_metric(&s, CAPTURE_PACKETS, &[]);
        if packets != o.measure("packets") as f64 {
            failures.push(format!(
                "{file}: capture_packets_total {packets} != {} frames",
                o.measure("packets")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn recorded_media_verdicts_and_exposures() {
    let mut failures = Vec::new();
    for (file, o) in oracle() {
        let s = audit(&file);
        let want = verdict(&file);
        let streams = o.measure("rtp_streams") as f64;
        let by = sum_metric(&s, MEDIA_STREAMS, &[("protection", want.protection)]) + 0.0;
        let all = sum_metric(&s, MEDIA_STREAMS, &[]) + 0.0;
        if (by, all) != (streams, streams) {
            failures.push(format!(
                "{file}: media_streams_total{{protection=\"{}\"}} = {by} (all protections {all}), tshark saw {streams} RTP streams",
                want.protection
            ));
        }
        for (kind, expect) in [
            ("cleartext_media", want.cleartext_media),
            ("srtp_key_exposed", want.srtp_key_exposed),
            ("cleartext_signaling", want.cleartext_signaling),
        ] {
            let v = sum_metric(&s, EXPOSURES, &[("kind", kind)]) + 0.0;
            if (v > 0.0) != expect {
                failures.push(format!(
                    "{file}: exposures_total{{kind=\"{kind}\"}} = {v}, expected {}",
                    if expect { "> 0" } else { "0" }
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
