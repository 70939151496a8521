//! Issue 14: content and identity leaks in SIP, on captures made by real
//! software, with tshark as the oracle.
//!
//! * `recorded_*`: the SIPp recordings in `tests/fixtures/recorded/sip_*`
//!   (made by `live_content_*` below, see that README) audited offline;
//!   every count of a new kind or field equals what tshark's display
//!   filters find in the same file (per SIP message, or per call for
//!   `dtmf_disclosed`), and none of the planted canaries (keys pressed,
//!   message text, PASSporT numbers, IMEI, e-mail) is in any output.
//! * `corpus_*`: third-party captures that carry SIP INFO DTMF, SDP
//!   `e=`/`p=`/`u=`/`i=` and `+sip.instance` (skipped without the corpus,
//!   a failure under `CI=true`).
//! * `clean_*`: the baresip recordings raise none of the new kinds.
//! * `live_content_*` (root): the SIPp scenarios between two lab
//!   namespaces, recorded on the bridge, then the same checks;
//!   `SIPSENTINEL_SAVE_RECORDINGS=DIR` keeps the recordings (how the
//!   fixtures were made).
mod common;

use common::record::{tshark_count_filter, tshark_values, Recorder};
use common::sensor::{audit_debug, audit_prometheus, sum_text};
use common::sipp::{assert_ok, run_call, Scenario, SippOpts};
use common::{lab_lock, require_root, temp_dir};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

const EXPOSURES: &str = "sipsentinel_exposures_total";

fn recorded(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/recorded")
        .join(name)
}

fn exposed(text: &str, kind: &str, field: Option<&str>) -> u64 {
    let mut f = vec![("kind", kind)];
    if let Some(field) = field {
        f.push(("field", field));
    }
    sum_text(text, EXPOSURES, &f) as u64
}

/// Distinct values of `field` in the frames matching `filter`.
fn distinct(file: &Path, filter: &str, field: &str) -> usize {
    tshark_values(file, Some(filter), &[field])
        .into_iter()
        .filter(|v| !v.is_empty())
        .collect::<BTreeSet<_>>()
        .len()
}

/// Canaries planted in the SIPp scenarios (tests/sipp/uac_content_*.xml):
/// none may reach any output of the sensor.
const CANARIES: &[&str] = &[
    "Signal=",
    "canary-im-text-7d3f",
    "canary-cpim-text-91ac",
    "canary-multipart-text-5e21",
    "canary-presence-note",
    "canary-subject-board-meeting",
    "canary.alice",
    "15550107771",
    "15550107772",
    "15550107779",
    "35209900",
    "176148",
    "00:16:3e:5a:7c:11",
    "00163e5a7c11",
    "555 010 7771",
    "AyretyU0dm6O2IrT5tAFrbHLso",
    "56a390f3d2b7310023a2",
    "6a1c4b2e",
    "4437c7eb",
];

fn assert_no_canary(file: &Path) {
    let mut outputs = vec![("prometheus", audit_prometheus(file))];
    for format in ["json", "text"] {
        let (out, log) = audit_debug(file, format);
        outputs.push((format, out));
        outputs.push(("debug log", log));
    }
    for (what, text) in &outputs {
        for c in CANARIES {
            assert!(
                !text.contains(c),
                "canary {c:?} in the {what} output of {}",
                file.display()
            );
        }
    }
}

/// The call: full PASSporT with Privacy: id;header;session, more identity
/// headers, User-to-User, P-Charging-Vector, +sip.instance, SDP
/// i=/u=/e=/p=, a DNS name as Call-ID host, four DTMF INFOs.
fn check_content_call(file: &Path) {
    let m = audit_prometheus(file);
    let t = |filter: &str| tshark_count_filter(file, filter);
    let dtmf = r#"sip.Method == "INFO" && sip.Content-Type matches "^application/dtmf(-relay)?$""#;
    // Per call: the Call-IDs of the INFOs with DTMF.
    let calls = distinct(file, dtmf, "sip.Call-ID") as u64;
    assert!(calls > 0, "no DTMF INFO in {}", file.display());
    assert_eq!(exposed(&m, "dtmf_disclosed", Some("sip_info")), calls);
    assert_eq!(exposed(&m, "dtmf_disclosed", None), calls);
    // Keys: one per relay body with a Signal= line, one per application/dtmf.
    let keys = t(&format!(
        r#"{dtmf} && (frame contains "Signal=" || sip.Content-Type == "application/dtmf")"#
    ));
    assert_eq!(keys, 4);
    assert_eq!(
        sum_text(
            &m,
            "sipsentinel_dtmf_digits_total",
            &[("field", "sip_info")]
        ) as u64,
        keys
    );
    for (kind, field, filter) in [
        ("identity_asserted", "identity", "sip.Identity"),
        (
            "identity_asserted",
            "p_called_party_id",
            "sip.P-Called-Party-ID",
        ),
        ("identity_asserted", "p_served_user", "sip.P-Served-User"),
        (
            "custom_header",
            "p_charging_vector",
            "sip.P-Charging-Vector",
        ),
        (
            "custom_header",
            "user_to_user",
            r#"sip.msg_hdr contains "User-to-User:""#,
        ),
        (
            "device_identifier",
            "sip_instance",
            r#"sip.Contact contains "+sip.instance""#,
        ),
        ("sdp_contact_info", "sdp_info", "sdp.session_info"),
        // RFC 3323 `Privacy: header`: each header still visible.
        (
            "privacy_request_ignored",
            "subject",
            r#"sip.Privacy contains "header" && sip.Subject"#,
        ),
        (
            "privacy_request_ignored",
            "organization",
            r#"sip.Privacy contains "header" && sip.Organization"#,
        ),
        (
            "privacy_request_ignored",
            "call_info",
            r#"sip.Privacy contains "header" && sip.Call-Info"#,
        ),
        (
            "privacy_request_ignored",
            "user_agent",
            r#"sip.Privacy contains "header" && sip.User-Agent"#,
        ),
        // The lab's addresses are private (10.99/16): internal hosts.
        (
            "privacy_request_ignored",
            "contact",
            r#"sip.Privacy contains "header" && sip.Contact"#,
        ),
        (
            "privacy_request_ignored",
            "via",
            r#"sip.Privacy contains "header" && sip.Via"#,
        ),
        // `Privacy: id` and the PASSporT names the caller.
        (
            "privacy_request_ignored",
            "identity",
            r#"sip.Privacy contains "id" && sip.Identity"#,
        ),
        // `Privacy: session`, media at the caller's own Contact address.
        (
            "privacy_request_ignored",
            "session",
            r#"sip.Privacy contains "session" && sdp.connection_info.address == sip.contact.host"#,
        ),
    ] {
        let want = t(filter);
        assert!(want > 0, "{filter}: tshark found nothing");
        assert_eq!(
            exposed(&m, kind, Some(field)),
            want,
            "{kind}/{field} vs tshark `{filter}`"
        );
    }
    // The SDP carries all four lines; one finding per message (the first).
    assert_eq!(
        exposed(&m, "sdp_contact_info", None),
        t("sdp.session_info || sdp.uri || sdp.email || sdp.phone")
    );
    // Every message of the call has the DNS name as Call-ID host.
    let topo = t(r#"sip.Call-ID matches "@[A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)*\\.[A-Za-z]{2,}$""#);
    assert_eq!(topo, t("sip"));
    assert_eq!(exposed(&m, "topology_disclosed", Some("call_id")), topo);
    // Nothing here is content, and the token is well formed.
    assert_eq!(exposed(&m, "message_content", None), 0);
    assert_eq!(
        sum_text(
            &m,
            "sipsentinel_sip_parse_errors_total",
            &[("reason", "bad_identity")]
        ) as u64,
        0
    );
    assert_no_canary(file);
}

/// REGISTER with an IMEI, 200 with GRUU and P-Associated-URI, MESSAGEs,
/// NOTIFYs with voicemail, presence, dialog-info, a malformed Identity.
fn check_content_im(file: &Path) {
    let m = audit_prometheus(file);
    let t = |filter: &str| tshark_count_filter(file, filter);
    let msg_body = r#"sip.Method == "MESSAGE" && (sip.Content-Type matches "^(text/|message/cpim|application/vnd\\.3gpp2?\\.sms)" || mime_multipart.header.content-type matches "^text/")"#;
    for (kind, field, filter) in [
        ("message_content", "message", msg_body),
        (
            "message_content",
            "voicemail",
            r#"sip.Content-Type == "application/simple-message-summary""#,
        ),
        (
            "message_content",
            "presence",
            r#"sip.Content-Type == "application/pidf+xml" && frame contains "<basic>""#,
        ),
        (
            "message_content",
            "dialog_info",
            r#"sip.Content-Type == "application/dialog-info+xml" && frame contains "<remote>""#,
        ),
        (
            "device_identifier",
            "imei",
            r#"sip.Contact contains "urn:gsma:imei""#,
        ),
        (
            "device_identifier",
            "gruu",
            r#"sip.Contact contains "pub-gruu""#,
        ),
        (
            "device_identifier",
            "mac_address",
            r#"sip.User-Agent matches "([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}""#,
        ),
        (
            "identity_asserted",
            "p_associated_uri",
            "sip.P-Associated-URI",
        ),
        ("identity_asserted", "referred_by", "sip.Referred-by"),
        // The compact form (`y: ..signature`) is asserted too.
        (
            "identity_asserted",
            "identity",
            r#"sip.Identity matches "^[A-Za-z0-9_-]*\\.[A-Za-z0-9_-]*\\.[A-Za-z0-9_-]+(;|$)""#,
        ),
    ] {
        let want = t(filter);
        assert!(want > 0, "{filter}: tshark found nothing");
        assert_eq!(
            exposed(&m, kind, Some(field)),
            want,
            "{kind}/{field} vs tshark `{filter}`"
        );
    }
    // The malformed token: a counted parse error, the message still counted.
    let bad = t(
        r#"sip.Identity && !(sip.Identity matches "^[A-Za-z0-9_-]*\\.[A-Za-z0-9_-]*\\.[A-Za-z0-9_-]+(;|$)")"#,
    );
    assert_eq!(bad, 1);
    assert_eq!(
        sum_text(
            &m,
            "sipsentinel_sip_parse_errors_total",
            &[("reason", "bad_identity")]
        ) as u64,
        bad
    );
    assert_eq!(
        sum_text(
            &m,
            "sipsentinel_sip_messages_total",
            &[("method", "MESSAGE")]
        ) as u64,
        t("sip.CSeq.method == \"MESSAGE\"")
    );
    assert_eq!(exposed(&m, "dtmf_disclosed", None), 0);
    assert_eq!(exposed(&m, "topology_disclosed", None), 0);
    assert_no_canary(file);
}

#[test]
fn recorded_sip_content_call_matches_tshark() {
    check_content_call(&recorded("sip_content_call.pcap"));
}

#[test]
fn recorded_sip_content_im_matches_tshark() {
    check_content_im(&recorded("sip_content_im.pcap"));
}

/// The baresip calls (no DTMF, no messages, no device ids, no SDP contact
/// lines, Call-IDs without a host) raise none of the new kinds.
#[test]
fn clean_recordings_raise_no_content_kind() {
    for f in [
        "plain_udp.pcap",
        "plain_tcp.pcap",
        "sdes_udp.pcap",
        "dtls_udp.pcap",
    ] {
        let file = recorded(f);
        let m = audit_prometheus(&file);
        for kind in [
            "dtmf_disclosed",
            "message_content",
            "device_identifier",
            "sdp_contact_info",
            "topology_disclosed",
        ] {
            assert_eq!(exposed(&m, kind, None), 0, "{f}: {kind}");
        }
        assert_eq!(tshark_count_filter(&file, "sdp.email || sdp.phone || sdp.uri || sdp.session_info || sip.Method == \"INFO\" || sip.Method == \"MESSAGE\""), 0, "{f}");
    }
}

fn corpus(name: &str) -> Option<PathBuf> {
    let p = common::corpus::required()?.join(name);
    assert!(p.is_file(), "corpus file missing: {}", p.display());
    Some(p)
}

/// A corpus call with DTMF in SIP INFO (Wireshark sample, over PPPoE).
#[test]
fn corpus_dtmf_sip_info_per_call() {
    let Some(file) = corpus("ws_DTMFsipinfo_pppoe.pcap") else {
        return;
    };
    let m = audit_prometheus(&file);
    let dtmf = r#"sip.Method == "INFO" && sip.Content-Type matches "^application/dtmf(-relay)?$""#;
    let calls = distinct(&file, dtmf, "sip.Call-ID") as u64;
    assert!(calls > 0);
    assert_eq!(exposed(&m, "dtmf_disclosed", Some("sip_info")), calls);
    let keys = tshark_count_filter(
        &file,
        &format!(
            r#"{dtmf} && (frame contains "Signal=" || sip.Content-Type == "application/dtmf")"#
        ),
    );
    assert!(keys >= calls);
    assert_eq!(
        sum_text(
            &m,
            "sipsentinel_dtmf_digits_total",
            &[("field", "sip_info")]
        ) as u64,
        keys
    );
}

/// SDP contact lines in three corpus files: one finding per message that
/// has any.
#[test]
fn corpus_sdp_contact_lines() {
    for f in [
        "sv_sip-body-large.pcap",
        "sv_sip_compact_form.pcap",
        "sv_sip_header_multi_val.pcap",
    ] {
        let Some(file) = corpus(f) else {
            return;
        };
        let m = audit_prometheus(&file);
        let want = tshark_count_filter(
            &file,
            "sdp.email || sdp.phone || sdp.uri || sdp.session_info",
        );
        assert!(want > 0, "{f}");
        assert_eq!(exposed(&m, "sdp_contact_info", None), want, "{f}");
    }
}

/// Content and identity fields of issue 14 in third-party captures:
/// `+sip.instance` (heplify, over UDP and TCP), Referred-By (heplify
/// ERSPAN), P-Associated-URI (sngrep), message-summary NOTIFYs (voipshark).
/// (Eyebeam's `rinstance` URI parameter is not `+sip.instance`.)
#[test]
fn corpus_identity_device_and_content_fields() {
    for (f, kind, field, filter) in [
        (
            "heplify_sip_ipv4_tcp_retrans.pcap",
            "device_identifier",
            "sip_instance",
            r#"sip.Contact contains "+sip.instance""#,
        ),
        (
            "heplify_erspan_sip_ipv4_udp.pcapng",
            "identity_asserted",
            "referred_by",
            "sip.Referred-by",
        ),
        (
            "sngrep_aaa.pcap",
            "identity_asserted",
            "p_associated_uri",
            "sip.P-Associated-URI",
        ),
        (
            "voipshark_SIP-RTP-Normal_Call_two_parties.pcap",
            "message_content",
            "voicemail",
            r#"sip.Content-Type == "application/simple-message-summary""#,
        ),
    ] {
        let Some(file) = corpus(f) else {
            return;
        };
        let m = audit_prometheus(&file);
        let want = tshark_count_filter(&file, filter);
        assert!(want > 0, "{f}: {filter}");
        assert_eq!(exposed(&m, kind, Some(field)), want, "{f}: {kind}/{field}");
    }
}

// ---------------------------------------------------------------------------
// Live: the scenarios in the namespace lab.

const UAS: usize = 0;
const UAC: usize = 1;

/// Runs the UAC scenario against the UAS scenario (files in tests/sipp/)
/// in a fresh lab, recorded on the bridge as `sip_content_{name}.pcap`;
/// returns the recording.
fn record_scenario(name: &str, uas: &'static str, uac: &'static str, extra: &[&str]) -> PathBuf {
    let dir = temp_dir(&format!("content-{name}"));
    let file = dir.join(format!("sip_content_{name}.pcap"));
    let lab = common::netns::Lab::new(2);
    let rec = Recorder::start(&lab.bridge, &file);
    let uas = SippOpts::new(Scenario::File(uas), 1);
    let mut uac = SippOpts::new(Scenario::File(uac), 1);
    uac.extra = extra.iter().map(|s| s.to_string()).collect();
    let (c, s) = run_call(&lab, UAS, &uas, UAC, &uac);
    assert_ok(&[&c, &s]);
    std::thread::sleep(Duration::from_millis(300));
    rec.stop();
    if let Ok(save) = std::env::var("SIPSENTINEL_SAVE_RECORDINGS") {
        std::fs::create_dir_all(&save).unwrap();
        std::fs::copy(&file, Path::new(&save).join(file.file_name().unwrap())).unwrap();
    }
    file
}

#[test]
fn live_content_call() {
    let _g = lab_lock();
    require_root();
    let file = record_scenario(
        "call",
        "uas_content_call.xml",
        "uac_content_call.xml",
        &["-cid_str", "%u-%p-content@pbx.example.invalid"],
    );
    check_content_call(&file);
}

#[test]
fn live_content_im() {
    let _g = lab_lock();
    require_root();
    let file = record_scenario("im", "uas_content_im.xml", "uac_content_im.xml", &[]);
    check_content_im(&file);
}
