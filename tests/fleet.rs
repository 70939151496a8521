//! For the people who run it (issue 16): the findings log a fleet ships to
//! Loki/Elasticsearch (`--findings-log`), and the progress an `audit` shows
//! on a terminal (and nowhere else).

mod common;

use common::record::{tshark_identifiers, IDENTIFIER_FIELDS};
use common::{bin, repo_root, sipsentinel, temp_dir};
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn fixture(name: &str) -> PathBuf {
    repo_root().join("tests/fixtures/recorded").join(name)
}

/// The recorded fixtures together: plenty of findings from several senders.
fn fixtures() -> Vec<PathBuf> {
    [
        "plain_udp.pcap",
        "plain_tcp.pcap",
        "plain_udp_v6.pcap",
        "sdes_udp.pcap",
    ]
    .iter()
    .map(|n| fixture(n))
    .collect()
}

/// Identifiers tshark reads in the fixtures (users, addresses, Call-IDs),
/// at least 4 characters, that are not software names.
fn identifiers(files: &[PathBuf]) -> Vec<String> {
    let mut fields = IDENTIFIER_FIELDS.to_vec();
    fields.push("sip.Call-ID");
    let mut v: Vec<String> = files
        .iter()
        .flat_map(|f| tshark_identifiers(f, &fields))
        .collect();
    v.sort();
    v.dedup();
    assert!(!v.is_empty());
    v
}

fn exposures_in_report(stdout: &str) -> Vec<serde_json::Value> {
    let doc: serde_json::Value = serde_json::from_str(stdout).expect("audit json report");
    doc["exposures"].as_array().expect("exposures").clone()
}

fn lines_of(paths: &[PathBuf]) -> Vec<serde_json::Value> {
    paths
        .iter()
        .filter(|p| p.exists())
        .flat_map(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
                .collect::<Vec<serde_json::Value>>()
        })
        .collect()
}

/// Every new finding is one JSON line, the `/api/exposures` record; as many
/// lines as the report has exposures; no identifier in them.
#[test]
fn findings_log_has_one_line_per_finding_and_no_identifier() {
    let dir = temp_dir("fleet-log");
    let log = dir.join("findings.jsonl");
    let files = fixtures();
    let out = sipsentinel()
        .args(["audit", "--quiet", "--format", "json", "--findings-log"])
        .arg(&log)
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = exposures_in_report(&String::from_utf8_lossy(&out.stdout));
    let lines = lines_of(std::slice::from_ref(&log));
    assert!(!report.is_empty());
    assert_eq!(lines.len(), report.len());
    // The same records: every (kind, field, sender) of the report once,
    // with the report's keys.
    let key = |v: &serde_json::Value| format!("{} {} {}", v["kind"], v["field"], v["sender"]);
    let mut a: Vec<String> = lines.iter().map(key).collect();
    let mut b: Vec<String> = report.iter().map(key).collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
    let keys = |v: &serde_json::Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&lines[0]), keys(&report[0]));
    let text = std::fs::read_to_string(&log).unwrap();
    for id in identifiers(&files) {
        assert!(!text.contains(&id), "identifier {id} in the findings log");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// The log is rotated at `[limits] findings_log_bytes`, keeping
/// `findings_log_files` old files; nothing is lost while they suffice.
#[test]
fn findings_log_rotates_at_the_cap() {
    let dir = temp_dir("fleet-rotate");
    let log = dir.join("findings.jsonl");
    let cfg = dir.join("c.toml");
    std::fs::write(
        &cfg,
        "[limits]\nfindings_log_bytes = 4096\nfindings_log_files = 50\n",
    )
    .unwrap();
    let files = fixtures();
    let out = sipsentinel()
        .args(["audit", "--quiet", "--format", "json", "-c"])
        .arg(&cfg)
        .arg("--findings-log")
        .arg(&log)
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = exposures_in_report(&String::from_utf8_lossy(&out.stdout));
    let mut paths = vec![log.clone()];
    paths.extend((1..=50).map(|n| dir.join(format!("findings.jsonl.{n}"))));
    let present: Vec<&PathBuf> = paths.iter().filter(|p| p.exists()).collect();
    assert!(present.len() >= 2, "no rotation: {present:?}");
    for p in &present {
        let len = std::fs::metadata(p).unwrap().len();
        assert!(len <= 4096, "{}: {len} bytes", p.display());
    }
    assert_eq!(lines_of(&paths).len(), report.len());

    // A cap of 2 files: the oldest are removed, never more than 2 kept.
    let dir2 = temp_dir("fleet-rotate2");
    let log2 = dir2.join("f.jsonl");
    std::fs::write(
        &cfg,
        "[limits]\nfindings_log_bytes = 4096\nfindings_log_files = 2\n",
    )
    .unwrap();
    let out = sipsentinel()
        .args(["audit", "--quiet", "--format", "json", "-c"])
        .arg(&cfg)
        .arg("--findings-log")
        .arg(&log2)
        .args(&files)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(dir2.join("f.jsonl.1").exists());
    assert!(!dir2.join("f.jsonl.3").exists());
    let _ = std::fs::remove_dir_all(dir);
    let _ = std::fs::remove_dir_all(dir2);
}

/// `--findings-log -`: JSON lines on stdout (before the report).
#[test]
fn findings_log_to_stdout() {
    let out = sipsentinel()
        .args([
            "audit",
            "--quiet",
            "--format",
            "json",
            "--findings-log",
            "-",
        ])
        .arg(fixture("plain_udp.pcap"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let (lines, report): (Vec<&str>, Vec<&str>) =
        text.lines().partition(|l| l.starts_with("{\"kind\""));
    let report = exposures_in_report(&report.join("\n"));
    assert_eq!(lines.len(), report.len());
    for l in lines {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert!(v["sender"].as_str().unwrap().starts_with("ip-"));
    }
}

const BAR_MARK: &str = "packets/s";

/// No progress when stderr is not a terminal, nor with --quiet on one; a
/// bar on a terminal (a pty from `script`).
#[test]
fn progress_only_on_a_terminal() {
    let f = fixture("plain_udp.pcap");
    let out = sipsentinel()
        .args(["audit", "--format", "json"])
        .arg(&f)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains(BAR_MARK), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains(BAR_MARK));

    let in_pty = |extra: &str| {
        let cmd = format!(
            "{} audit --format prometheus {extra} {} >/dev/null",
            bin(),
            f.display()
        );
        let out = Command::new("script")
            .args(["-q", "-e", "-c", &cmd, "/dev/null"])
            .stdin(Stdio::null())
            .output()
            .expect("script (util-linux) is required");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let shown = in_pty("");
    assert!(shown.contains(BAR_MARK), "no bar on a terminal: {shown:?}");
    assert!(shown.contains("ETA"), "{shown:?}");
    let quiet = in_pty("--quiet");
    assert!(!quiet.contains(BAR_MARK), "{quiet:?}");
}
