//! End to end: identifiers planted in the SIP headers and SDP of a
//! synthetic capture never reach any output of the sensor, while the
//! exposures they carry are reported (so the test cannot pass by finding
//! nothing).
//!
//! The capture is written here (Ethernet/IPv4/UDP, `common::PcapWriter`):
//! an INVITE and a few requests from distinct TEST-NET senders (findings are
//! aggregated per sender, and a custom header or credential is reported
//! once per message), carrying the leaks the deny-list redaction let
//! through: `Authorization: Basic`/`Bearer`, `X-Caller-Name`, spaced,
//! dashed, parenthesised and percent-encoded numbers, unquoted display
//! names, a Via host name, a trailing-dot FQDN, a User-Agent comment, a
//! WLAN node MAC, a user part before `=`; and those of the second round
//! (a name in a custom header's name, a name that was an allowlisted
//! product word, `geo:` coordinates, a number split by `/`). Outputs
//! checked: `audit --format
//! json` and `--format text` (stdout and stderr), and `run --read FILE`'s
//! `/api/exposures` (and its stderr).

mod common;

use common::frames::udp4;
use common::sensor::{audit_debug as audit, http_get, Sensor};
use common::temp_dir;
use common::PcapWriter;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Values that must not appear in any output (case-insensitive), and
/// numbers none of whose four-digit runs may appear in any evidence.
const PLANTED: [&str; 32] = [
    "alice",
    "smith",
    "martin",
    "galaxy",
    "laptop",
    "pbx.corp-example.net",
    "corp-example",
    "home.example",
    "acme",
    "bobsmith",
    "premium",
    "jones",
    "YWxpY2U6czNjcmV0LXBhc3N3MHJk",
    "eyJhbGciOiJIUzI1NiJ9",
    "eyJzdWIiOiJib2IifQ",
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    "00:1a:2b:3c:4d:5e",
    "1a:2b:3c",
    "192.168.1.20",
    "10.1.2.3",
    "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3",
    "%2B%34%39",
    "+49 30 123 456 78",
    "555-123-4567",
    "(555)987-6543",
    "2890844526",
    "4930123456",
    // Second round (hostile inputs): a name in a custom header's name, a
    // name that was an allowlisted product word, geo: coordinates, a
    // number split by slashes.
    "zoemueller",
    "fritz",
    "52.52",
    "13.405",
    "555/123",
];
const NUMBERS: [&str; 9] = [
    "493012345678",
    "15551234567",
    "15559876543",
    "2890844526",
    "4930123456",
    "15550100777",
    "5551237654",
    "525200",
    "134050",
];

fn sip(start: &str, headers: &[&str], body: &str) -> Vec<u8> {
    let mut m = format!("{start}\r\n");
    for h in headers {
        m.push_str(h);
        m.push_str("\r\n");
    }
    if !body.is_empty() {
        m.push_str("Content-Type: application/sdp\r\n");
    }
    m.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    m.into_bytes()
}

fn capture(path: &Path) {
    let dst = [198, 51, 100, 20];
    let sdp = "v=0\r\n\
        o=alicesdp 2890844526 2890844527 IN IP4 192.168.1.20\r\n\
        s=-\r\n\
        c=IN IP4 192.168.1.20\r\n\
        t=0 0\r\n\
        m=audio 40000 RTP/SAVP 0\r\n\
        a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3|2^20|1:4\r\n\
        a=ssrc:4930123456 cname:alice.cname@192.168.1.20\r\n\
        a=candidate:1 1 UDP 2130706431 192.168.1.20 40000 typ host\r\n";
    let invite = sip(
        "INVITE sip:bob@198.51.100.20 SIP/2.0",
        &[
            "Via: SIP/2.0/UDP alice-laptop:5060;branch=z9hG4bK-e2e-1;received=192.168.1.20;rport",
            "Record-Route: <sip:pbx.corp-example.net.;lr>, <sip:10.1.2.3;lr>",
            "From: Alice Smith <sip:alice.smith@home.example>;tag=e2e1",
            "To: <sip:bob@198.51.100.20>",
            "Call-ID: e2e-4930123456@192.168.1.20",
            "CSeq: 1 INVITE",
            "Contact: <sip:alice=home@192.168.1.20:5060>",
            "Max-Forwards: 70",
            "Privacy: id",
            "P-Asserted-Identity: Alice Smith <sip:%2B%34%39%33%30%31%32%33%34%35%36%37%38@home.example;user=phone>, <tel:+1(555)987-6543>",
            "Authorization: Basic YWxpY2U6czNjcmV0LXBhc3N3MHJk",
            "X-Caller-Name: Alice Smith",
            "User-Agent: baresip/1.0.0 (Galaxy S10 de Alice Martin)",
            "P-Access-Network-Info: IEEE-802.11; i-wlan-node-id=00:1a:2b:3c:4d:5e",
            "Diversion: <tel:555-123-4567>;reason=unconditional;counter=1",
        ],
        sdp,
    );
    let options = sip(
        "OPTIONS sip:198.51.100.20 SIP/2.0",
        &[
            "Via: SIP/2.0/UDP 192.0.2.11:5060;branch=z9hG4bK-e2e-2",
            "From: <sip:bobsmith@acme.example>;tag=e2e2",
            "To: <sip:198.51.100.20>",
            "Call-ID: e2e-2@acme.example",
            "CSeq: 1 OPTIONS",
            "X-Phone: +49 30 123 456 78",
            "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib2IifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
            "Server: Asterisk PBX 18.2 (pbx01.acme.example)",
            "Geolocation: <cid:bobsmith.location@home.example>",
        ],
        "",
    );
    let register = sip(
        "REGISTER sip:198.51.100.20 SIP/2.0",
        &[
            "Via: SIP/2.0/UDP 192.0.2.12:5060;branch=z9hG4bK-e2e-3",
            "From: <sip:jones@acme.example>;tag=e2e3",
            "To: <sip:jones@acme.example>",
            "Call-ID: e2e-3@acme.example",
            "CSeq: 2 REGISTER",
            "X-Acct: bobsmith=premium",
            "Authorization: Digest username=\"jones\", realm=\"acme.example\", nonce=\"4b1e\", uri=\"sip:4930123456@198.51.100.20\", response=\"d41d8cd98f00b204e9800998ecf8427e\", algorithm=MD5",
            "History-Info: <sip:jones@acme.example?Reason=SIP%3Bcause%3D302>;index=1",
        ],
        "",
    );
    let message = sip(
        "MESSAGE sip:198.51.100.20 SIP/2.0",
        &[
            "Via: SIP/2.0/UDP 192.0.2.13:5060;branch=z9hG4bK-e2e-4",
            "From: <sip:anonymous@anonymous.invalid>;tag=e2e4",
            "To: <sip:198.51.100.20>",
            "Call-ID: e2e-4@192.0.2.13",
            "CSeq: 1 MESSAGE",
            "X-Callback: %2B%31%35%35%35%30%31%30%30%37%37%37",
        ],
        "",
    );
    let hostile = sip(
        "MESSAGE sip:198.51.100.20 SIP/2.0",
        &[
            "Via: SIP/2.0/UDP 192.0.2.14:5060;branch=z9hG4bK-e2e-5",
            "From: Fritz <sip:anonymous@anonymous.invalid>;tag=e2e5",
            "To: <sip:198.51.100.20>",
            "Call-ID: e2e-5@192.0.2.14",
            "CSeq: 1 MESSAGE",
            "X-Zoemueller-Token: Fritz 555/123/7654",
            "Geolocation: <geo:52.5200,13.4050>",
        ],
        "",
    );
    let mut w = PcapWriter::create(path, 1);
    let t0 = Duration::from_secs(1_700_000_000);
    for (k, (src, msg)) in [
        ([192, 0, 2, 10], invite),
        ([192, 0, 2, 11], options),
        ([192, 0, 2, 12], register),
        ([192, 0, 2, 14], hostile),
        ([192, 0, 2, 13], message),
    ]
    .iter()
    .enumerate()
    {
        w.write(
            t0 + Duration::from_millis(100 * k as u64),
            &udp4(*src, dst, 5060, 5060, msg),
        );
    }
    w.finish();
}

/// Remove pseudonyms (`class-xxxxxxxx`) so their hex digits are not read
/// as leaked digits.
fn scrub(s: &str) -> String {
    common::pseudonyms::strip(s, "#")
}

/// No planted value anywhere in `text`.
fn assert_no_planted(what: &str, text: &str) {
    let lower = text.to_ascii_lowercase();
    for id in PLANTED {
        assert!(
            !lower.contains(&id.to_ascii_lowercase()),
            "{what}: {id:?} leaked:\n{text}"
        );
    }
}

/// No four-digit run of a planted number in `evidence`, in whatever
/// grouping (digits joined across spaces, dashes, dots, parentheses).
fn assert_no_digits(what: &str, evidence: &str) {
    let clean = scrub(evidence);
    let mut joined = Vec::new();
    let mut cur = String::new();
    for c in clean.chars() {
        if c.is_ascii_digit() {
            cur.push(c);
        } else if !" -.()/+".contains(c) && !cur.is_empty() {
            joined.push(std::mem::take(&mut cur));
        }
    }
    joined.push(cur);
    for n in NUMBERS {
        for w in n.as_bytes().windows(4) {
            let w = std::str::from_utf8(w).unwrap();
            assert!(
                !joined.iter().any(|j| j.contains(w)),
                "{what}: digits {w} of {n} leaked in {evidence:?}"
            );
        }
    }
}

/// The exposures of a JSON document: present, the expected ones found
/// with the planted headers as evidence, and nothing planted in them.
fn check_exposures(what: &str, doc: &serde_json::Value) {
    let ex = doc["exposures"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: no exposures array: {doc}"));
    let kinds: BTreeSet<&str> = ex.iter().filter_map(|e| e["kind"].as_str()).collect();
    for k in [
        "identity_asserted",
        "privacy_request_ignored",
        "digest_credentials",
        "custom_header",
        "software_version",
        "private_address",
        "location_disclosed",
        "forwarding_history",
        "srtp_key_exposed",
        "sdp_username",
        "rtcp_identity",
    ] {
        assert!(kinds.contains(k), "{what}: {k} not found: {doc}");
    }
    let evidence: Vec<&str> = ex.iter().filter_map(|e| e["evidence"].as_str()).collect();
    for e in &evidence {
        assert_no_planted(what, e);
        assert_no_digits(what, e);
    }
    // The planted headers are the evidence (not some other message's).
    for prefix in [
        "P-Asserted-Identity: name-",
        "Authorization: Basic <redacted>",
        "Authorization: Bearer <redacted>",
        "Authorization: Digest username=<redacted>, realm=<redacted>",
        "X-Caller-Name: val-",
        "X-Phone: num-",
        "X-Acct: val-",
        "X-Callback: num-",
        "User-Agent: baresip/1.0.0 (<redacted>)",
        "Server: Asterisk PBX 18.2 (<redacted>)",
        "Via: SIP/2.0/UDP host-",
        "Record-Route: <sip:host-",
        "Contact: <sip:user-",
        "Call-ID: user-",
        "P-Access-Network-Info: IEEE-802.11; i-wlan-node-id=",
        "Diversion: <tel:num-",
        "Geolocation: <cid:user-",
        "Geolocation: <geo:num-",
        "X-val-",
        "o=user-",
        "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:<key>",
    ] {
        assert!(
            evidence.iter().any(|e| e.starts_with(prefix)),
            "{what}: no evidence starting with {prefix:?}: {evidence:#?}"
        );
    }
}

/// The capture in a directory of its own (`label`: tests run in parallel
/// and `temp_dir` gives each a directory of its own).
fn planted_capture(label: &str) -> PathBuf {
    let dir = temp_dir(label);
    let file = dir.join("planted.pcap");
    capture(&file);
    file
}

#[test]
fn audit_outputs_carry_no_planted_value() {
    let file = planted_capture("redaction-e2e-audit");
    let (json, err) = audit(&file, "json");
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    check_exposures("audit --format json", &doc);
    assert_no_planted("audit --format json", &json);
    assert_no_planted("audit --format json (stderr)", &err);

    let (text, err) = audit(&file, "text");
    let table = text
        .split_once("Exposures found")
        .map(|(_, t)| t)
        .unwrap_or_else(|| panic!("no findings table:\n{text}"));
    for k in ["identity_asserted", "digest_credentials", "custom_header"] {
        assert!(table.contains(k), "text: {k} missing:\n{text}");
    }
    assert!(table.contains("<redacted>"), "{text}");
    assert_no_planted("audit --format text", &text);
    assert_no_planted("audit --format text (stderr)", &err);
    for line in table.lines() {
        assert_no_digits("audit --format text", line);
    }
}

#[test]
fn api_exposures_carries_no_planted_value() {
    let file = planted_capture("redaction-e2e-api");
    let sensor = Sensor::start_with(&[
        "run".to_string(),
        "--read".to_string(),
        file.display().to_string(),
    ]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let doc = loop {
        let r = http_get(sensor.addr, "/api/exposures");
        let doc = r
            .as_ref()
            .ok()
            .filter(|(code, _)| *code == 200)
            .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(body).ok());
        // All four messages seen: the last sender's custom header is there.
        let done = doc.as_ref().is_some_and(|d| {
            d["exposures"].as_array().is_some_and(|a| {
                a.iter().any(|e| {
                    e["evidence"]
                        .as_str()
                        .is_some_and(|s| s.starts_with("X-Callback:"))
                })
            })
        });
        if done || Instant::now() >= deadline {
            break (doc, r);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let (doc, raw) = doc;
    let stderr = sensor.stop();
    let doc = doc.unwrap_or_else(|| panic!("/api/exposures: {raw:?}\nstderr:\n{stderr}"));
    check_exposures("/api/exposures", &doc);
    assert_no_planted("/api/exposures", &doc.to_string());
    assert_no_planted("run --read (stderr)", &stderr);
}
