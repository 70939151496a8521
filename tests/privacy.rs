//! The sensor must not become a leak (design, "Privacy of the sensor").
//!
//! Captures with known phone numbers, SIP users and IP addresses are
//! replayed through every output the sensor has: `audit --format
//! text|json|prometheus|html` (stdout and stderr), and `run --read FILE` with
//! `SIPSENTINEL_LOG=debug` (`/metrics`, `/api/exposures`, the `/` page,
//! stderr). None of
//! the identifiers may appear in any of them, while the exposures must be
//! there (non-empty, with pseudonyms).
//!
//! The identifiers are tshark's reading of each capture (SIP From/To/
//! Contact/P-Asserted-Identity/Request-URI users, digest usernames, IP
//! source and destination), those of at least 4 characters; names that are
//! also in a User-Agent or Server value are software, not people, and are
//! left out. Matching is on word boundaries, and pseudonyms, plain numbers
//! (counters, timestamps) and file paths are removed from the outputs
//! first, so a 4-digit user cannot be "found" in a counter or a hex
//! pseudonym.
//!
//! Corpus: `$SIPSENTINEL_CORPUS` (default `../shared/corpus`); missing ⇒
//! skipped, or a failure under `CI=true`. tshark is required.

mod common;
#[path = "exposure/synth.rs"]
mod synth;

use common::corpus;
use common::record::{tshark_identifiers, IDENTIFIER_FIELDS};
use common::sensor::{audit_debug as audit, free_port, http_get, sensor_bin};

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const FILES: [&str; 3] = [
    "sngrep_aaa.pcap",
    "voipshark_SIP-RTP-Normal_Call_two_parties.pcap",
    "heplify_sip_tcp_websocket.pcap",
];

/// Values planted in the SIPp content scenarios (tests/sipp/uac_content_*.xml).
const CONTENT_CANARIES: [&str; 12] = [
    "Signal=4",
    "canary-im-text-7d3f",
    "canary-cpim-text-91ac",
    "canary-multipart-text-5e21",
    "canary-presence-note",
    "canary-subject-board-meeting",
    "canary.alice@example.invalid",
    "15550107771",
    "15550107772",
    "15550107779",
    "35209900-176148-1",
    "00:16:3e:5a:7c:11",
];

/// The identifiers of `file`, per tshark.
fn identifiers(file: &Path) -> BTreeSet<String> {
    tshark_identifiers(file, &IDENTIFIER_FIELDS)
}

/// Remove what may legitimately look like an identifier: pseudonyms
/// (`class-xxxxxxxx`), whitespace-separated plain numbers and `key=number`
/// tokens (counters, durations), RFC 3339 timestamps, and `paths`.
fn scrub(text: &str, paths: &[String]) -> String {
    let mut t = text.to_string();
    for p in paths {
        t = t.replace(p.as_str(), " ");
    }
    let out = common::pseudonyms::strip(&t, "PSEUDONYM");
    out.split_whitespace()
        .filter(|tok| {
            let tok = tok.trim_matches(|c: char| ",;:\"'{}[]()".contains(c));
            let val = tok
                .rsplit_once('=')
                .map_or(tok, |(_, v)| v)
                .trim_matches('"');
            let numeric = !val.is_empty()
                && val.bytes().all(|c| {
                    c.is_ascii_digit() || c == b'.' || c == b'e' || c == b'-' || c == b'+'
                })
                && val.bytes().filter(|&c| c == b'.').count() <= 1;
            let timestamp = tok.len() >= 20
                && tok.as_bytes()[..4].iter().all(u8::is_ascii_digit)
                && tok.as_bytes()[4] == b'-';
            !numeric && !timestamp
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `id` in `text` at word boundaries: not inside a longer alphanumeric run,
/// or, for numbers and IPv4 addresses, not inside a longer digit run (an
/// address glued to letters, as in a Via branch, is still a leak).
fn contains_word(text: &str, id: &str) -> bool {
    let digitish = id.bytes().all(|c| c.is_ascii_digit() || c == b'.');
    let joins = |c: char| {
        if digitish {
            c.is_ascii_digit()
        } else {
            c.is_ascii_alphanumeric()
        }
    };
    text.match_indices(id).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + id.len()..].chars().next();
        !before.is_some_and(joins) && !after.is_some_and(joins)
    })
}

fn assert_no_leak(what: &str, text: &str, ids: &BTreeSet<String>, paths: &[String]) {
    let clean = scrub(text, paths);
    let leaked: Vec<&String> = ids.iter().filter(|id| contains_word(&clean, id)).collect();
    assert!(
        leaked.is_empty(),
        "{what}: identifiers leaked: {leaked:?}\n--- output (scrubbed) ---\n{}",
        clean.chars().take(4000).collect::<String>()
    );
}

/// Kills the replay on every path out of the test.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `run --read FILE --listen`: scrape `/metrics`, `/api/exposures` and the
/// `/` page once the replay has produced exposures (≤ 20 s), then stop it
/// and read stderr.
fn replay(file: &Path, dir: &Path) -> (String, String, String, String) {
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    let err_path = dir.join(format!("{name}.stderr"));
    let child = Command::new(sensor_bin())
        .args(["run", "--read"])
        .arg(file)
        .args(["--listen", &addr.to_string()])
        .env("SIPSENTINEL_LOG", "debug")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let mut running = Running(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut api = (0u16, String::new());
    while Instant::now() < deadline {
        if let Ok(r) = http_get(addr, "/api/exposures") {
            let done = r.0 == 200
                && serde_json::from_str::<serde_json::Value>(&r.1)
                    .ok()
                    .and_then(|v| v["exposures"].as_array().map(|a| !a.is_empty()))
                    .unwrap_or(false);
            let missing = r.0 == 404;
            api = r;
            if missing {
                break;
            }
            if done {
                // Let the replay finish its last batches before scraping.
                std::thread::sleep(Duration::from_millis(500));
                if let Ok(r) = http_get(addr, "/api/exposures") {
                    api = r;
                }
                break;
            }
        }
        if let Ok(Some(st)) = running.0.try_wait() {
            panic!(
                "sipsentinel run --read {} exited early: {st}",
                file.display()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let metrics = http_get(addr, "/metrics")
        .ok()
        .map(|r| r.1)
        .unwrap_or_default();
    let page = http_get(addr, "/").ok().map(|r| r.1).unwrap_or_default();
    drop(running);
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    assert_eq!(
        api.0,
        200,
        "{}: /api/exposures answered {} within 20 s: {}\nstderr:\n{stderr}",
        file.display(),
        api.0,
        api.1
    );
    (metrics, api.1, page, stderr)
}

/// The exposures in an `/api/exposures` or `audit --format json` document
/// are non-empty and pseudonymised.
fn assert_exposures_present(what: &str, doc: &serde_json::Value) {
    let ex = doc["exposures"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: no \"exposures\" array: {doc}"));
    assert!(!ex.is_empty(), "{what}: no exposures found");
    for e in ex {
        let sender = e["sender"].as_str().unwrap_or("");
        assert!(
            sender.starts_with("ip-") && sender.len() == 11,
            "{what}: sender is not a pseudonym: {e}"
        );
        for k in ["kind", "severity", "field", "evidence", "transport", "zone"] {
            assert!(e[k].is_string(), "{what}: {k} missing in {e}");
        }
    }
}

fn captures() -> Option<Vec<(PathBuf, BTreeSet<String>)>> {
    let dir = corpus::required()?;
    let mut v: Vec<(PathBuf, BTreeSet<String>)> = FILES
        .iter()
        .map(|f| {
            let p = dir.join(f);
            assert!(p.is_file(), "corpus file missing: {}", p.display());
            let ids = identifiers(&p);
            assert!(
                !ids.is_empty(),
                "tshark found no identifiers in {}",
                p.display()
            );
            (p, ids)
        })
        .collect();
    // The synthetic capture: keys, Privacy, location, forwarding headers.
    let synth = common::temp_dir("privacy").join("synthetic_privacy.pcap");
    std::fs::write(&synth, synth::privacy_capture()).unwrap();
    let mut ids = identifiers(&synth);
    ids.extend(synth::IDENTIFIERS.iter().map(|s| s.to_string()));
    v.push((synth, ids));
    // The SIPp content recordings (issue 14, tests/content_exposure.rs):
    // keys pressed, message text, PASSporT numbers, IMEI, MAC, e-mail.
    for f in ["sip_content_call.pcap", "sip_content_im.pcap"] {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/recorded")
            .join(f);
        let mut ids = identifiers(&p);
        ids.extend(CONTENT_CANARIES.iter().map(|s| s.to_string()));
        v.push((p, ids));
    }
    Some(v)
}

#[test]
fn audit_outputs_carry_no_identifiers() {
    let Some(caps) = captures() else { return };
    for (file, ids) in &caps {
        let paths = vec![file.display().to_string()];
        for format in ["text", "json", "prometheus", "html"] {
            let (out, err) = audit(file, format);
            let what = format!("audit {} --format {format}", file.display());
            assert_no_leak(&format!("{what} (stdout)"), &out, ids, &paths);
            assert_no_leak(&format!("{what} (stderr)"), &err, ids, &paths);
            match format {
                "json" => {
                    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
                    assert_exposures_present(&what, &doc);
                }
                "prometheus" => assert!(
                    out.lines().any(
                        |l| l.starts_with("sipsentinel_exposures_total{") && !l.ends_with(" 0")
                    ),
                    "{what}: no exposures_total sample"
                ),
                "html" => assert!(
                    out.contains("id=\"verdict\"")
                        && out.contains("class=\"finding\"")
                        && out.contains("ip-"),
                    "{what}: no findings with pseudonyms in the page"
                ),
                _ => assert!(
                    out.contains("Exposures found")
                        && (out.contains("ip-") || out.contains("user-")),
                    "{what}: no findings table with pseudonyms:\n{out}"
                ),
            }
        }
    }
}

#[test]
fn live_replay_outputs_carry_no_identifiers() {
    let Some(caps) = captures() else { return };
    let dir = common::temp_dir("privacy");
    for (file, ids) in &caps {
        let paths = vec![file.display().to_string()];
        let (metrics, api, page, stderr) = replay(file, &dir);
        let what = format!("run --read {}", file.display());
        assert_no_leak(&format!("{what}: /metrics"), &metrics, ids, &paths);
        assert_no_leak(&format!("{what}: /api/exposures"), &api, ids, &paths);
        assert_no_leak(&format!("{what}: / (page)"), &page, ids, &paths);
        assert!(
            page.contains("id=\"verdict\"") && page.contains("class=\"finding\""),
            "{what}: / has no findings"
        );
        assert_no_leak(&format!("{what}: stderr (debug log)"), &stderr, ids, &paths);
        assert!(
            metrics.contains("sipsentinel_exposures_total{"),
            "{what}: /metrics has no exposures"
        );
        let doc: serde_json::Value = serde_json::from_str(&api).unwrap();
        assert_exposures_present(&format!("{what}: /api/exposures"), &doc);
    }
}

/// The test's own machinery: identifiers are found where they are, and
/// pseudonyms, numbers and paths are not mistaken for them.
#[test]
fn leak_detector_works() {
    let ids: BTreeSet<String> = ["1111", "alice", "192.168.20.1"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let clean = "kind=x count=1111 ip-1111abcd user-0a1b1111 2026-11-26T17:00:00.123Z value 1111";
    assert_eq!(
        scrub(clean, &[]).matches("1111").count(),
        0,
        "{}",
        scrub(clean, &[])
    );
    assert_no_leak("scrubbed sample", clean, &ids, &[]);
    assert!(contains_word(&scrub("<sip:alice@h>", &[]), "alice"));
    assert!(contains_word(
        &scrub("from 192.168.20.1:5060", &[]),
        "192.168.20.1"
    ));
    assert!(!contains_word("192.168.20.10", "192.168.20.1"));
    assert!(contains_word(
        "branch=z9hG4bKe192.168.20.1;rport",
        "192.168.20.1"
    ));
    assert!(contains_word(&scrub("tel:+1111;x", &[]), "1111"));
    assert!(!contains_word(
        &scrub("/tmp/alice.pcap", &["/tmp/alice.pcap".into()]),
        "alice"
    ));
}
