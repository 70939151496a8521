//! Every exposure kind, raised by real traffic.
//!
//! For each kind, `sipsentinel audit FILE --format prometheus` over a
//! capture that carries it must report a positive
//! `sipsentinel_exposures_total{kind=…}`. Where the catalogue's unit is "per SIP message", the number is
//! cross-checked against tshark: the messages tshark dissects that carry the
//! header (read from tshark's own `sip.msg_hdr`, one per SIP message, or
//! from its SDP fields), not our parser's view.
//!
//! Captures come from the corpus (`$SIPSENTINEL_CORPUS`, default
//! `../shared/corpus`, see its MANIFEST.tsv); the kinds no corpus file
//! carries (SDES keys over UDP, Privacy, Diversion/History-Info, location
//! headers, `a=ssrc cname:`, SRTP declared but cleartext sent) come from
//! the synthetic capture in `tests/exposure/synth.rs`, checked against
//! tshark too. A missing corpus skips (and fails under `CI=true`); tshark
//! is required.

mod common;
#[path = "exposure/synth.rs"]
mod synth;

use common::corpus;
use common::sensor::audit_prometheus as audit;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

fn corpus(name: &str) -> Option<PathBuf> {
    let p = corpus::required()?.join(name);
    assert!(p.is_file(), "corpus file missing: {}", p.display());
    Some(p)
}

/// The synthetic capture, written once per test binary run.
fn synthetic() -> PathBuf {
    static PATH: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("sipsentinel-exposure-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("synthetic_privacy.pcap");
        std::fs::write(&p, synth::privacy_capture()).unwrap();
        p
    })
    .clone()
}

/// `exposures_total` samples: labels → value.
fn exposures(text: &str) -> Vec<(BTreeMap<String, String>, f64)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("sipsentinel_exposures_total{") else {
            continue;
        };
        let (labels, value) = rest.rsplit_once("} ").unwrap();
        let mut m = BTreeMap::new();
        for kv in labels.split("\",") {
            if let Some((k, v)) = kv.split_once("=\"") {
                m.insert(k.to_string(), v.trim_end_matches('"').to_string());
            }
        }
        out.push((m, value.parse().unwrap()));
    }
    out
}

/// Sum of `exposures_total` for `kind` (and `field` when given).
fn total(text: &str, kind: &str, field: Option<&str>) -> u64 {
    exposures(text)
        .iter()
        .filter(|(l, _)| l["kind"] == kind && field.is_none_or(|f| l["field"] == f))
        .map(|(_, v)| *v as u64)
        .sum()
}

fn tshark(file: &Path, filter: &str, fields: &[&str]) -> Vec<Vec<String>> {
    common::record::tshark_fields(file, Some(filter), fields)
}

/// One entry per SIP message tshark dissects: its headers as (lowercase
/// name with compact forms expanded, value).
fn tshark_messages(file: &Path) -> Vec<Vec<(String, String)>> {
    let mut msgs = Vec::new();
    for row in tshark(file, "sip", &["sip.msg_hdr"]) {
        for hdr in row[0].split('\u{1e}') {
            let mut headers = Vec::new();
            for line in hdr.split("\\r\\n") {
                if let Some((n, v)) = line.split_once(':') {
                    let n = n.trim().to_ascii_lowercase();
                    let n = match n.as_str() {
                        "f" => "from".to_string(),
                        "m" => "contact".to_string(),
                        "i" => "call-id".to_string(),
                        "v" => "via".to_string(),
                        _ => n,
                    };
                    headers.push((n, v.trim().to_string()));
                }
            }
            msgs.push(headers);
        }
    }
    msgs
}

fn messages_with(file: &Path, pred: impl Fn(&str, &str) -> bool) -> u64 {
    tshark_messages(file)
        .iter()
        .filter(|h| h.iter().any(|(n, v)| pred(n, v)))
        .count() as u64
}

/// A version-looking token (the catalogue's `software_version` rule):
/// `/` followed by a digit, or a token `[v]digits.digit…`.
fn has_version(v: &str) -> bool {
    let b = v.as_bytes();
    if b.windows(2).any(|w| w[0] == b'/' && w[1].is_ascii_digit()) {
        return true;
    }
    v.split(|c: char| c.is_ascii_whitespace() || "()[];,_-".contains(c))
        .any(|tok| {
            let t = tok.strip_prefix(['v', 'V']).unwrap_or(tok);
            let mut parts = t.split('.');
            let first = parts.next().unwrap_or("");
            let second = parts.next();
            !first.is_empty()
                && first.bytes().all(|c| c.is_ascii_digit())
                && second.is_some_and(|s| s.bytes().next().is_some_and(|c| c.is_ascii_digit()))
        })
}

fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v) => {
            let [a, b, ..] = v.octets();
            v.is_private()
                || v.is_loopback()
                || v.is_link_local()
                || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v) => {
            let s = v.segments()[0];
            v.is_loopback() || (s & 0xfe00) == 0xfc00 || (s & 0xffc0) == 0xfe80
        }
    }
}

/// Asserts `kind` (and `field`) counted exactly `want` times in `file`.
fn assert_count(file: &Path, text: &str, kind: &str, field: Option<&str>, want: u64) {
    let got = total(text, kind, field);
    assert!(
        want > 0,
        "{}: the oracle found no {kind} {field:?}: bad test",
        file.display()
    );
    assert_eq!(
        got, want,
        "{}: exposures_total{{kind={kind},field={field:?}}} = {got}, tshark says {want} messages\n{}",
        file.display(),
        exposures(text)
            .iter()
            .map(|(l, v)| format!("{l:?} {v}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

fn assert_some(file: &Path, text: &str, kind: &str, field: Option<&str>) {
    assert!(
        total(text, kind, field) > 0,
        "{}: no exposures_total{{kind={kind},field={field:?}}}",
        file.display()
    );
}

#[test]
fn identity_asserted_per_message() {
    for name in [
        "sngrep_ipv6frag.pcap",
        "heplify_erspan_sip_ipv4_udp.pcapng",
        "voipshark_SIP-RTP-Normal_Call_two_parties.pcap",
        "heplify_sip_sctp.pcap",
        "heplify_sip_tcp_websocket.pcap",
    ] {
        let Some(f) = corpus(name) else { return };
        let want = messages_with(&f, |n, _| {
            matches!(
                n,
                "p-asserted-identity" | "p-preferred-identity" | "remote-party-id"
            )
        });
        // The first catalogue's fields share one count per message; the
        // second catalogue's (Referred-By, PASSporT, ...) count on their
        // own (tests/content_exposure.rs).
        let text = audit(&f);
        let classic: u64 = [
            "p_asserted_identity",
            "p_preferred_identity",
            "remote_party_id",
        ]
        .iter()
        .map(|field| total(&text, "identity_asserted", Some(field)))
        .sum();
        assert_eq!(
            classic,
            want,
            "{}: identity_asserted (classic fields)",
            f.display()
        );
    }
    let f = synthetic();
    assert_count(
        &f,
        &audit(&f),
        "identity_asserted",
        Some("p_asserted_identity"),
        1,
    );
}

#[test]
fn digest_credentials_per_message() {
    for name in [
        "sngrep_aaa.pcap",
        "heplify_erspan_sip_ipv4_udp.pcapng",
        "voipshark_SIP-RTP-Normal_Call_two_parties.pcap",
        "heplify_ipip0_rawip.pcap",
    ] {
        let Some(f) = corpus(name) else { return };
        let want = messages_with(&f, |n, _| {
            matches!(n, "authorization" | "proxy-authorization")
        });
        assert_count(&f, &audit(&f), "digest_credentials", None, want);
    }
    // Over TLS nothing is readable: no finding.
    let Some(f) = corpus("voipshark_SIP-over-TLS-RTP-Normal_Call_two_parties.pcap") else {
        return;
    };
    assert_eq!(total(&audit(&f), "digest_credentials", None), 0);
}

#[test]
fn software_version_per_message() {
    for name in [
        "sngrep_aaa.pcap",
        "ws_SIP_DTMF2.cap",
        "heplify_sip_tcp_websocket.pcap",
        "ndpi_FAX-Call-t38-CA-TDM-SIP-FB-1.pcap",
    ] {
        let Some(f) = corpus(name) else { return };
        let want = messages_with(&f, |n, v| {
            matches!(n, "user-agent" | "server") && has_version(v)
        });
        assert_count(&f, &audit(&f), "software_version", None, want);
    }
}

#[test]
fn custom_header_per_message() {
    for name in [
        "heplify_sip_tcp_websocket.pcap",
        "sngrep_ipv6frag.pcap",
        "snort3demo_SIP_Eyebeam2Eyebeam_Video_Audio.pcap",
    ] {
        let Some(f) = corpus(name) else { return };
        let want = messages_with(&f, |n, _| n.len() > 2 && n.starts_with("x-"));
        assert_count(&f, &audit(&f), "custom_header", Some("x_header"), want);
    }
}

/// SDP messages whose `o=` username is not `-`, per tshark.
fn sdp_usernames(f: &Path) -> u64 {
    tshark(f, "sdp", &["sdp.owner.username"])
        .iter()
        .flat_map(|r| r[0].split('\u{1e}').map(str::to_string).collect::<Vec<_>>())
        .filter(|u| u != "-")
        .count() as u64
}

#[test]
fn sdp_username_per_message() {
    for name in [
        "sngrep_ipv6frag.pcap",
        "heplify_erspan_sip_ipv4_udp.pcapng",
        "sngrep_aaa.pcap",
    ] {
        let Some(f) = corpus(name) else { return };
        let want = sdp_usernames(&f);
        assert_count(&f, &audit(&f), "sdp_username", Some("sdp_origin"), want);
    }
    let f = synthetic();
    assert_eq!(sdp_usernames(&f), 1, "tshark reads the synthetic SDP");
    assert_count(&f, &audit(&f), "sdp_username", Some("sdp_origin"), 1);
}

#[test]
fn private_address_per_field_per_message() {
    for name in [
        "voipshark_SIP-RTP-Normal_Call_two_parties.pcap",
        "sngrep_aaa.pcap",
    ] {
        let Some(f) = corpus(name) else { return };
        let text = audit(&f);
        assert_some(&f, &text, "private_address", None);
        // SDP c= (any c= line of the message).
        let want = tshark(&f, "sdp", &["sdp.connection_info.address"])
            .iter()
            .filter(|r| {
                r[0].split('\u{1e}')
                    .any(|a| a.parse::<IpAddr>().is_ok_and(is_private))
            })
            .count() as u64;
        if want > 0 {
            assert_count(&f, &text, "private_address", Some("sdp_connection"), want);
        }
        // Call-ID `@host`.
        let want = messages_with(&f, |n, v| {
            n == "call-id"
                && v.rsplit_once('@').is_some_and(|(_, h)| {
                    h.trim_matches(['[', ']'])
                        .parse::<IpAddr>()
                        .is_ok_and(is_private)
                })
        });
        if want > 0 {
            assert_count(&f, &text, "private_address", Some("call_id"), want);
        }
    }
    let Some(f) = corpus("sngrep_ipv6frag.pcap") else {
        return;
    };
    // fd17:… unique local IPv6 in Via, Contact, SDP.
    let text = audit(&f);
    assert_some(&f, &text, "private_address", Some("via"));
    assert_some(&f, &text, "private_address", Some("contact"));
    let f = synthetic();
    assert_count(&f, &audit(&f), "private_address", Some("contact"), 1);
}

#[test]
fn rtcp_identity_from_sdes_and_sdp() {
    let Some(f) = corpus("voipshark_SIP-RTP-Normal_Call_two_parties.pcap") else {
        return;
    };
    let n = tshark(&f, "rtcp.sdes.type == 1", &["frame.number"]).len();
    assert!(n > 0, "tshark sees SDES CNAME in {}", f.display());
    assert_some(&f, &audit(&f), "rtcp_identity", Some("rtcp_sdes_cname"));
    let f = synthetic();
    assert_count(&f, &audit(&f), "rtcp_identity", Some("sdp_ssrc_cname"), 1);
}

#[test]
fn cleartext_signaling_and_media() {
    let Some(f) = corpus("voipshark_SIP-RTP-Normal_Call_two_parties.pcap") else {
        return;
    };
    let text = audit(&f);
    assert_some(&f, &text, "cleartext_signaling", Some("signaling"));
    assert_some(&f, &text, "cleartext_media", Some("media"));
    let Some(f) = corpus("heplify_sip_tcp_websocket.pcap") else {
        return;
    };
    assert_some(&f, &audit(&f), "cleartext_signaling", None);
    // SIP over TLS: not cleartext signalling.
    let Some(f) = corpus("voipshark_SIP-over-TLS-RTP-Normal_Call_two_parties.pcap") else {
        return;
    };
    let text = audit(&f);
    assert!(exposures(&text)
        .iter()
        .all(|(l, _)| !(l["kind"] == "cleartext_signaling" && l["transport"] == "tls")));
}

#[test]
fn tls_server_name_per_handshake() {
    let Some(f) = corpus("voipshark_SIP-over-TLS-RTP-Normal_Call_two_parties.pcap") else {
        return;
    };
    let want = tshark(
        &f,
        "tls.handshake.type == 1 && tls.handshake.extensions_server_name",
        &["frame.number"],
    )
    .len() as u64;
    assert_count(&f, &audit(&f), "tls_server_name", Some("tls_sni"), want);
}

/// Issue #13 on the corpus captures that carry TLS or DTLS (the full
/// per-connection comparison is tests/tls_exposure.rs): the TLS 1.0 RSA
/// call reports `weak_transport_crypto` {version, key_exchange} and its
/// server certificates once per connection — tshark's ServerHellos with
/// version 0x0301 and suite 0x0035 — and `software_version`
/// {tls_client_hello} once per ClientHello; the DTLS 1.0 WebRTC capture
/// reports its version; the TLS 1.3 and DTLS 1.2 ECDHE captures none.
#[test]
fn tls_and_dtls_handshakes() {
    let Some(f) = corpus("voipshark_SIP-over-TLS-RTP-Normal_Call_two_parties.pcap") else {
        return;
    };
    let text = audit(&f);
    let hellos = tshark(&f, "tls.handshake.type == 1", &["frame.number"]).len() as u64;
    let weak = tshark(
        &f,
        "tls.handshake.type == 2 && tls.handshake.version == 0x0301",
        &["frame.number"],
    )
    .len() as u64;
    let rsa = tshark(
        &f,
        "tls.handshake.type == 2 && tls.handshake.ciphersuite == 0x0035",
        &["frame.number"],
    )
    .len() as u64;
    let certs = tshark(
        &f,
        "tls.handshake.certificate && tcp.srcport == 5061",
        &["frame.number"],
    )
    .len() as u64;
    assert_eq!((hellos, weak, rsa, certs), (2, 2, 2, 2), "tshark");
    assert_count(
        &f,
        &text,
        "software_version",
        Some("tls_client_hello"),
        hellos,
    );
    assert_count(&f, &text, "weak_transport_crypto", Some("version"), weak);
    assert_count(
        &f,
        &text,
        "weak_transport_crypto",
        Some("key_exchange"),
        rsa,
    );
    assert_count(
        &f,
        &text,
        "certificate_exposed",
        Some("server_certificate"),
        certs,
    );
    // The clients answer the certificate request with an empty list.
    assert_eq!(
        total(&text, "certificate_exposed", Some("client_certificate")),
        0
    );
    for (name, version) in [
        ("zeek_webrtc-stun.pcap", 1),
        ("ndpi_stun_dtls_rtp.pcapng", 0),
        ("ws_sip-tls-1.3-and-rtcp__sip.pcap", 0),
    ] {
        let Some(f) = corpus(name) else { return };
        let dtls10 = tshark(
            &f,
            "dtls.handshake.type == 2 && dtls.handshake.version == 0xfeff",
            &["frame.number"],
        )
        .len() as u64;
        assert_eq!(dtls10, version, "tshark {name}");
        let text = audit(&f);
        let got = |kind, field| total(&text, kind, field);
        assert_eq!(
            got("weak_transport_crypto", Some("version")),
            version,
            "{name}"
        );
        assert_eq!(
            got("weak_transport_crypto", Some("key_exchange")),
            0,
            "{name}"
        );
        assert_eq!(got("srtp_null_cipher", None), 0, "{name}");
    }
}

/// The synthetic capture: first that tshark reads it as intended, then the
/// kinds the corpus lacks.
#[test]
fn synthetic_kinds_the_corpus_lacks() {
    let f = synthetic();
    let msgs = tshark_messages(&f);
    assert_eq!(msgs.len(), 7, "tshark: 7 SIP messages");
    assert_eq!(
        tshark(&f, "sdp.media_attr contains \"crypto\"", &["frame.number"]).len(),
        2,
        "tshark: 2 SDPs with a=crypto"
    );
    let text = audit(&f);
    // INVITE and 200, both over UDP.
    assert_count(&f, &text, "srtp_key_exposed", Some("sdp_crypto"), 2);
    assert_count(
        &f,
        &text,
        "privacy_request_ignored",
        Some("p_asserted_identity"),
        1,
    );
    assert_count(
        &f,
        &text,
        "location_disclosed",
        None,
        messages_with(&f, |n, _| {
            matches!(n, "p-access-network-info" | "geolocation")
        }),
    );
    assert_count(
        &f,
        &text,
        "forwarding_history",
        None,
        messages_with(&f, |n, _| matches!(n, "diversion" | "history-info")),
    );
    assert_count(&f, &text, "forwarding_history", Some("history_info"), 1);
    assert_count(&f, &text, "custom_header", Some("x_header"), 1);
    assert_count(&f, &text, "software_version", Some("user_agent"), 1);
    assert_some(&f, &text, "cleartext_signaling", Some("signaling"));
    assert_some(&f, &text, "cleartext_media", Some("media"));
    assert_some(&f, &text, "encryption_mismatch", Some("media"));
    // Severity labels follow the catalogue.
    for (l, _) in exposures(&text) {
        let want = match l["kind"].as_str() {
            "cleartext_media"
            | "srtp_key_exposed"
            | "privacy_request_ignored"
            | "srtp_null_cipher" => "critical",
            "encryption_mismatch"
            | "cleartext_signaling"
            | "identity_asserted"
            | "location_disclosed"
            | "digest_credentials"
            | "weak_transport_crypto"
            | "dtmf_disclosed"
            | "message_content" => "high",
            "forwarding_history"
            | "private_address"
            | "rtcp_identity"
            | "certificate_exposed"
            | "speech_activity"
            | "device_identifier"
            | "sdp_contact_info"
            | "topology_disclosed"
            | "linkable_identifier"
            | "registration_presence" => "medium",
            "software_version" | "custom_header" | "sdp_username" => "low",
            "tls_server_name" => "info",
            k => panic!("unknown kind {k}"),
        };
        assert_eq!(l["severity"], want, "{l:?}");
    }
}

#[test]
fn oracle_helpers() {
    assert!(has_version("Asterisk PBX 1.6.0.10") && has_version("X-Lite/3.0"));
    assert!(!has_version("MyPhone") && !has_version("Room 42"));
    assert!(is_private("fd17::1".parse().unwrap()) && !is_private("8.8.8.8".parse().unwrap()));
}
