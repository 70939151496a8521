//! The command line at its edges: bad input gives one clear line on stderr
//! and a non-zero exit, never a panic or a backtrace; good input serves
//! Prometheus text that `promtool check metrics` accepts.

mod common;

use common::sensor::{free_port, http_get};
use common::{assert_clean_error, sipsentinel, temp_dir};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn missing_file() {
    let out = sipsentinel()
        .args(["audit", "/nonexistent/none.pcap"])
        .output()
        .unwrap();
    assert_clean_error(&out, "/nonexistent/none.pcap: no such file");
}

#[test]
fn empty_file() {
    let d = temp_dir("empty");
    let p = d.join("empty.pcap");
    std::fs::write(&p, b"").unwrap();
    let out = sipsentinel().arg("audit").arg(&p).output().unwrap();
    assert_clean_error(&out, "empty file");
}

#[test]
fn text_file() {
    let d = temp_dir("text");
    let p = d.join("notes.txt");
    std::fs::write(&p, "INVITE sip:bob@example.invalid SIP/2.0\r\n\r\n").unwrap();
    let out = sipsentinel().arg("audit").arg(&p).output().unwrap();
    assert_clean_error(&out, "not a pcap or pcapng capture");
}

#[test]
fn random_bytes() {
    let d = temp_dir("random");
    let p = d.join("random.pcap");
    // Deterministic xorshift bytes: the same "random" file every run.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let bytes: Vec<u8> = (0..65_536)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(&p, bytes).unwrap();
    let out = sipsentinel().arg("audit").arg(&p).output().unwrap();
    assert_clean_error(&out, "not a pcap or pcapng capture");
}

#[test]
fn truncated_pcap() {
    let src = std::fs::read(fixture("sv_sip_header_multi_val.pcap")).unwrap();
    let d = temp_dir("trunc");
    let p = d.join("cut.pcap");
    // Global header (24) + record header (16) + part of the packet.
    std::fs::write(&p, &src[..24 + 16 + 100]).unwrap();
    let out = sipsentinel()
        .args(["audit", "--format", "prometheus"])
        .arg(&p)
        .output()
        .unwrap();
    assert_clean_error(&out, "truncated or corrupt after 0 packets");
}

#[test]
fn directory_is_not_a_capture() {
    let d = temp_dir("dir");
    let out = sipsentinel().arg("audit").arg(&d).output().unwrap();
    assert_clean_error(&out, "is a directory");
}

#[test]
fn unknown_interface() {
    let out = sipsentinel()
        .args(["run", "--interface", "nosuchif0", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_clean_error(&out, "interface \"nosuchif0\" does not exist");
}

#[test]
fn usage_errors_exit_2() {
    let out = sipsentinel().args(["audit"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = sipsentinel().args(["run"]).output().unwrap();
    assert_clean_error(&out, "run needs --interface or --read");
}

/// Several mirror ports: the same `--interface` twice is a usage error
/// (exit 2) that says which; the config file takes a list, whose
/// duplicates are named too, and whose every entry is opened.
#[test]
fn interfaces_repeated_or_listed() {
    let out = sipsentinel()
        .args(["run", "-i", "eth7", "--interface", "eth7"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("invalid value for --interface: \"eth7\" is given twice"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");

    let d = temp_dir("cfg");
    let p = d.join("c.toml");
    std::fs::write(&p, "interface = [\"nosuchif0\", \"nosuchif1\"]\n").unwrap();
    let out = sipsentinel()
        .args(["run", "--listen", "127.0.0.1:0", "--config"])
        .arg(&p)
        .output()
        .unwrap();
    assert_clean_error(&out, "interface \"nosuchif0\" does not exist");
    std::fs::write(&p, "interface = [\"lo\", \"nosuchif1\"]\n").unwrap();
    let out = sipsentinel()
        .args(["run", "--listen", "127.0.0.1:0", "--config"])
        .arg(&p)
        .output()
        .unwrap();
    // `lo` may open (root) or fail for want of CAP_NET_RAW; either way the
    // list was read. As root, the second entry is the one that fails.
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{err}");
    if common::is_root() {
        assert_clean_error(&out, "interface \"nosuchif1\" does not exist");
    }
    std::fs::write(&p, "interface = [\"eth7\", \"eth8\", \"eth7\"]\n").unwrap();
    let out = sipsentinel()
        .args(["run", "--config"])
        .arg(&p)
        .output()
        .unwrap();
    assert_clean_error(&out, "\"eth7\" is given twice");
}

#[test]
fn bad_config_key_is_named() {
    let d = temp_dir("cfg");
    let p = d.join("c.toml");
    std::fs::write(&p, "interfase = \"eth0\"\n").unwrap();
    let out = sipsentinel()
        .args(["run", "--config"])
        .arg(&p)
        .output()
        .unwrap();
    assert_clean_error(&out, "interfase");
}

#[test]
fn audit_text_and_json() {
    let f = fixture("sv_sip_compact_form.pcap");
    let out = sipsentinel().args(["audit"]).arg(&f).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("SIP messages: 1"), "{text}");
    assert!(text.contains("method=INVITE"), "{text}");
    let out = sipsentinel()
        .args(["audit", "--format", "json"])
        .arg(&f)
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let msgs = &v["metrics"]["sipsentinel_sip_messages_total"];
    assert_eq!(msgs[0]["labels"]["method"], "INVITE");
    assert_eq!(msgs[0]["value"], 1.0);
}

/// `run --read` serves the same numbers as `audit --format prometheus`, and
/// promtool accepts the exposition.
#[test]
fn replay_serves_metrics_equal_to_audit() {
    let f = fixture("sv_sip-tcp.pcap");
    let port = free_port();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let mut child = sipsentinel()
        .args(["run", "--read"])
        .arg(&f)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut body = None;
    while Instant::now() < deadline {
        if let Ok((200, r)) = http_get(addr, "/metrics") {
            if r.contains("sipsentinel_sip_messages_total") {
                body = Some(r);
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let health = http_get(addr, "/healthz");
    let _ = child.kill();
    let _ = child.wait();
    let body = body.expect("metrics served within 10 s");
    assert_eq!(health.map(|(status, _)| status).ok(), Some(200));
    let text = body;
    let audit = sipsentinel()
        .args(["audit", "--format", "prometheus"])
        .arg(&f)
        .output()
        .unwrap();
    let audit = String::from_utf8(audit.stdout).unwrap();
    let pick = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| {
                l.starts_with("sipsentinel_sip_messages_total")
                    || l.starts_with("sipsentinel_capture_packets_total")
            })
            .map(String::from)
            .collect()
    };
    assert_eq!(pick(&text), pick(&audit));
    assert!(!pick(&text).is_empty());
    // promtool is the reference checker for the exposition format.
    let mut p = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool installed (tests/run.sh installs it)");
    p.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let o = p.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}
