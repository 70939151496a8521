//! The Debian package, end to end on this machine (issue #16, item 1).
//!
//! Builds the `.deb` with `cargo deb` (metadata in Cargo.toml, maintainer
//! scripts in `debian/`), checks it with lintian (clean: the remaining tags
//! are overridden with a reason in `debian/lintian-overrides`), installs it
//! with `dpkg -i`, checks what is installed (binary, units, conffiles,
//! dashboards and rules, the `sipsentinel` user, a 0600 pseudonym key owned
//! by it), runs `systemd-analyze verify` on the installed unit (its
//! `ExecStart=` binary must exist: the package's drop-in points it at
//! `/usr/bin`), runs `/usr/bin/sipsentinel audit` with the packaged config
//! (pseudonyms stable across runs: the key is used), reinstalls (an
//! upgrade keeps the key), and purges (files, key, user and group gone).
//!
//! Needs root (dpkg). Not root: skipped with a note (CI runs as root).
//! Tools: `cargo-deb`, `lintian`, `systemd-analyze`, installed by
//! `tests/run.sh`. The package is purged on every way out of the test.

mod common;

use common::{is_root, repo_root};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PKG: &str = "sipsentinel";

fn run(cmd: &mut Command) -> Output {
    let desc = format!("{cmd:?}");
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {desc}: {e} (tests/run.sh installs it)"));
    out
}

fn ok(cmd: &mut Command) -> String {
    let desc = format!("{cmd:?}");
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{desc} failed: {}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn installed() -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", PKG])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("installed"))
        .unwrap_or(false)
}

/// Purges the package however the test ends.
struct Purge;

impl Drop for Purge {
    fn drop(&mut self) {
        if installed() {
            let _ = Command::new("dpkg").args(["--purge", PKG]).output();
        }
    }
}

/// `cargo deb`: the binary the test harness built (release: `--no-build`),
/// stripped; else let cargo-deb build it. The path of the `.deb`.
fn build_deb() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let bin = Path::new(common::bin());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(repo_root()).args(["deb", "--strip"]);
    if bin.parent().and_then(Path::file_name) == Some("release".as_ref()) {
        cmd.arg("--no-build");
    }
    let out = ok(&mut cmd);
    let deb = out
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.ends_with(".deb"))
        .unwrap_or_else(|| panic!("cargo deb printed no .deb path: {out}"));
    let deb = PathBuf::from(deb);
    assert!(deb.is_file(), "{}", deb.display());
    deb
}

fn uid_of(user: &str) -> Option<u32> {
    let out = Command::new("getent")
        .args(["passwd", user])
        .output()
        .ok()?;
    let line = String::from_utf8_lossy(&out.stdout).into_owned();
    line.split(':').nth(2)?.parse().ok()
}

fn group_exists(group: &str) -> bool {
    Command::new("getent")
        .args(["group", group])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// The senders of an `audit --format json` run of `/usr/bin/sipsentinel`.
fn audit_senders(extra: &[&str]) -> Vec<String> {
    let fixture = repo_root().join("tests/fixtures/recorded/sdes_udp.pcap");
    let out = ok(Command::new("/usr/bin/sipsentinel")
        .arg("audit")
        .args(extra)
        .args(["--format", "json"])
        .arg(&fixture));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let mut s: Vec<String> = v["exposures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["sender"].as_str().unwrap().to_string())
        .collect();
    s.sort();
    s.dedup();
    assert!(!s.is_empty(), "no exposures in {out}");
    s
}

#[test]
fn package_installs_verifies_runs_and_purges() {
    if !is_root() {
        eprintln!(
            "note: tests/deb.rs needs root (dpkg -i / --purge on this machine); skipped. \
             CI runs it as root: sudo -E cargo test --release --test deb"
        );
        return;
    }
    let _purge = Purge;
    if installed() {
        ok(Command::new("dpkg").args(["--purge", PKG]));
    }

    let deb = build_deb();

    // lintian: no error or warning left (each override says why).
    let out = run(Command::new("lintian").arg(&deb));
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let tags: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("E: ") || l.starts_with("W: "))
        .collect();
    assert!(
        out.status.success() && tags.is_empty(),
        "lintian: {}\n{text}",
        out.status
    );

    ok(Command::new("dpkg").arg("-i").arg(&deb));
    assert!(installed());

    for f in [
        "/usr/bin/sipsentinel",
        "/lib/systemd/system/sipsentinel.service",
        "/lib/systemd/system/sipsentinel.service.d/debian.conf",
        "/lib/systemd/system/sipsentinel-cdr-sanitize.service",
        "/lib/systemd/system/sipsentinel-cdr-sanitize.timer",
        "/usr/lib/sysusers.d/sipsentinel.conf",
        "/etc/default/sipsentinel",
        "/etc/default/sipsentinel-cdr",
        "/etc/sipsentinel/sipsentinel.toml",
        "/usr/share/sipsentinel/alerts/alerts.yml",
        "/usr/share/sipsentinel/dashboards/sipsentinel-overview.json",
        "/usr/share/sipsentinel/dashboards/sipsentinel-media.json",
        "/usr/share/sipsentinel/dashboards/sipsentinel-signalling.json",
        "/usr/share/sipsentinel/dashboards/sipsentinel-health.json",
        "/usr/share/sipsentinel/dashboards/sipsentinel-scorecard.json",
        "/usr/share/doc/sipsentinel/copyright",
    ] {
        assert!(Path::new(f).is_file(), "{f} not installed");
    }
    let conffiles = ok(Command::new("dpkg-query").args(["-W", "-f=${Conffiles}", PKG]));
    for c in [
        "/etc/default/sipsentinel",
        "/etc/default/sipsentinel-cdr",
        "/etc/sipsentinel/sipsentinel.toml",
    ] {
        assert!(conffiles.contains(c), "{c} is not a conffile: {conffiles}");
    }
    // The packaged settings are commented, and point at the key.
    let toml = std::fs::read_to_string("/etc/sipsentinel/sipsentinel.toml").unwrap();
    assert!(toml.lines().filter(|l| l.starts_with('#')).count() > 20);
    assert!(toml.contains("key_file = \"/etc/sipsentinel/pseudonym.key\""));

    // The user, and the key: 32 random bytes, 0600, owned by the user.
    let uid = uid_of("sipsentinel").expect("user sipsentinel not created");
    assert!(group_exists("sipsentinel"));
    let key_path = Path::new("/etc/sipsentinel/pseudonym.key");
    let meta = std::fs::metadata(key_path).expect("no pseudonym key");
    assert_eq!(meta.mode() & 0o777, 0o600, "key mode");
    assert_eq!(meta.uid(), uid, "key owner");
    assert_eq!(meta.len(), 32, "key length");
    let key = std::fs::read(key_path).unwrap();
    assert!(key.iter().any(|&b| b != 0));

    // The unit as installed, drop-in included: clean.
    let out =
        run(Command::new("systemd-analyze")
            .args(["verify", "/lib/systemd/system/sipsentinel.service"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !stderr.lines().any(|l| l.contains("sipsentinel")),
        "systemd-analyze verify: {}\n{stderr}",
        out.status
    );

    // The installed binary with the packaged config: the key makes
    // pseudonyms stable across runs; without it they change.
    let cfg = ["-c", "/etc/sipsentinel/sipsentinel.toml"];
    let a = audit_senders(&cfg);
    assert_eq!(
        a,
        audit_senders(&cfg),
        "pseudonyms differ with the same key"
    );
    assert_ne!(a, audit_senders(&[]), "the key file was not used");
    let text = ok(Command::new("/usr/bin/sipsentinel")
        .args(["audit"])
        .arg(repo_root().join("tests/fixtures/recorded/plain_udp.pcap")));
    assert!(text.contains("cleartext_media"), "{text}");

    // An upgrade (reinstall) keeps the key.
    ok(Command::new("dpkg").arg("-i").arg(&deb));
    assert_eq!(
        std::fs::read(key_path).unwrap(),
        key,
        "key changed on upgrade"
    );

    // Purge: nothing left.
    ok(Command::new("dpkg").args(["--purge", PKG]));
    assert!(!installed());
    for f in [
        "/usr/bin/sipsentinel",
        "/etc/sipsentinel",
        "/etc/default/sipsentinel",
        "/etc/default/sipsentinel-cdr",
        "/lib/systemd/system/sipsentinel.service",
        "/lib/systemd/system/sipsentinel.service.d",
        "/usr/lib/sysusers.d/sipsentinel.conf",
        "/usr/share/sipsentinel",
        "/usr/share/doc/sipsentinel",
    ] {
        assert!(!Path::new(f).exists(), "{f} left after purge");
    }
    assert!(uid_of("sipsentinel").is_none(), "user left after purge");
    assert!(!group_exists("sipsentinel"), "group left after purge");
}
