//! The one support module of the integration tests: use it from a test
//! file with `mod common;`. Pieces:
//! - [`frames`], [`PcapWriter`], [`corpus`]: frame builders, the pcap
//!   writer and the capture corpus's location, re-exported from the
//!   library's `sipsentinel::testkit` (which benches, examples and unit
//!   tests share).
//! - [`limited`]: `sipsentinel` under a time and memory limit with its peak
//!   RSS, and the robustness contract of such a run.
//! - [`sensor`]: `Sensor` (runs `sipsentinel run` live), `/metrics` scraping,
//!   the Prometheus text parser (`parse_metrics`, `sum_metric`, `sum_text`),
//!   `audit_prometheus`.
//! - [`record`]: `Recorder` (tcpdump on the bridge) and the tshark oracle.
//! - [`netns`]: `Lab` — a bridge plus N network namespaces joined by veth pairs
//!   (the bridge is the "mirror port" to capture on).
//! - [`sipp`], [`baresip`], [`prometheus`]: runners for SIPp scenarios in
//!   `tests/sipp/`, baresip calls and a Prometheus server.
//! - [`grafana`]: dashboard panels and Grafana's variables.
//! - Here: the repository root, binary paths, temporary directories, bounded child processes.
//!
//! Everything is bounded in time; every spawned process is killed on drop.
//!
//! Each test binary compiles this module whole and uses a different part of
//! it, so unused items are expected, not dead: hence the `allow` below.
#![allow(dead_code)]

pub mod baresip;
pub mod grafana;
pub mod limited;
pub mod netns;
pub mod prometheus;
pub mod record;
pub mod sensor;
pub mod sipp;

// Not every test binary uses each of these (see the `allow` above).
#[allow(unused_imports)]
pub use sipsentinel::testkit::{corpus, frames, pcap::PcapWriter, pseudonyms};

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Key used for SIP message counts: (kind, method-or-status-class, transport).
/// kind is `request` or `response`; for requests the second field is the
/// method label (`INVITE`, ..., `other`), for responses the status class
/// (`1xx`..`6xx`, `other`); transport is `udp`, `tcp`, `tls`, `ws`, `wss`, `sctp`.
pub type SipKey = (String, String, String);
pub type SipCounts = std::collections::BTreeMap<SipKey, u64>;

static LAB_LOCK: Mutex<()> = Mutex::new(());

/// Serialises tests (in one test binary) that create namespaces, capture and
/// generate traffic. Names are unique anyway; this keeps timing sane on small
/// machines. Poisoning (a panicking test) is ignored.
pub fn lab_lock() -> MutexGuard<'static, ()> {
    LAB_LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Is this process running as root (effective uid 0)?
pub fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

/// Panics (fails the test) unless running as root: the live tests need
/// `ip netns`, veth/bridge creation and packet capture.
pub fn require_root() {
    let euid = unsafe { libc::geteuid() };
    assert!(
        is_root(),
        "this test needs root (euid 0) to create network namespaces, veths and a bridge \
         and to capture packets; running as euid {euid}. Run it as root, e.g. `sudo -E cargo test --test live_sipp`."
    );
}

/// Panics with a clear message if `tool` is not on PATH.
pub fn require_tool(tool: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "required tool `{tool}` is not installed / not on PATH"
    );
}

/// The repository (the crate's manifest directory).
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The cargo-built `sipsentinel` binary.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_sipsentinel")
}

/// A command running [`bin`].
pub fn sipsentinel() -> Command {
    Command::new(bin())
}

/// The error contract of the command line: exit 1, exactly one line on
/// stderr starting with `sipsentinel: error:` and containing `needle`, no
/// panic text. Returns stderr for further checks.
pub fn assert_clean_error(out: &Output, needle: &str) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert!(!err.contains("panicked"), "panic: {err}");
    assert!(!err.contains("RUST_BACKTRACE"), "backtrace hint: {err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "want one line, got: {err}");
    assert!(lines[0].starts_with("sipsentinel: error: "), "{err}");
    assert!(err.contains(needle), "want {needle:?} in {err}");
    err
}

/// A fresh temporary directory under the system temp dir, unique per call
/// (not removed automatically, so logs and recordings survive a failed
/// test; the path is printed in assertion messages). Mode 0755 whatever the
/// umask: tests that drop privileges read files in it as another user.
pub fn temp_dir(label: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "sipsentinel-harness-{}-{}-{}-{}",
        label,
        std::process::id(),
        n,
        nanos
    ));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod temp dir");
    dir
}

/// Directory holding the SIPp scenario files.
pub fn sipp_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("sipp")
}

/// Run a command to completion, killing it after `limit`. Returns the output
/// (stdout/stderr captured) or panics with a message if it timed out.
pub fn run_bounded(cmd: &mut Command, limit: Duration) -> Output {
    let desc = format!("{cmd:?}");
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn {desc}: {e}"));
    wait_output_bounded(child, limit)
        .unwrap_or_else(|| panic!("command timed out after {limit:?}: {desc}"))
}

/// Wait for a child with piped stdout/stderr, draining pipes in threads, at
/// most `limit`; on timeout kill it and return None.
pub fn wait_output_bounded(mut child: Child, limit: Duration) -> Option<Output> {
    use std::io::Read;
    let mut so = child.stdout.take();
    let mut se = child.stderr.take();
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        if let Some(s) = so.as_mut() {
            let _ = s.read_to_end(&mut v);
        }
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        if let Some(s) = se.as_mut() {
            let _ = s.read_to_end(&mut v);
        }
        v
    });
    let status = wait_bounded(&mut child, limit);
    let status = match status {
        Some(s) => s,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
    };
    Some(Output {
        status,
        stdout: t_out.join().unwrap_or_default(),
        stderr: t_err.join().unwrap_or_default(),
    })
}

/// Poll `try_wait` until the child exits or `limit` passes.
pub fn wait_bounded(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(s)) => return Some(s),
            Ok(None) => {}
            Err(_) => return None,
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SIGTERM, wait up to `grace` for the exit, else SIGKILL and reap.
/// The exit status when it ended within `grace`.
pub fn stop(child: &mut Child, grace: Duration) -> Option<ExitStatus> {
    signal(child, libc::SIGTERM);
    let st = wait_bounded(child, grace);
    if st.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    st
}

/// Ends a child that leads a process group (pgid = its pid, as `timeout`
/// arranges, also behind `ip netns exec`): SIGTERM, which `timeout`
/// forwards; after 2 s SIGKILL to the whole group.
pub fn kill_group(c: &mut Child) {
    if let Ok(Some(_)) = c.try_wait() {
        return;
    }
    signal(c, libc::SIGTERM);
    if wait_bounded(c, Duration::from_secs(2)).is_none() {
        unsafe {
            libc::kill(-(c.id() as libc::pid_t), libc::SIGKILL);
        }
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// Send a signal to a child by its pid (only processes we spawned).
pub fn signal(child: &Child, sig: i32) {
    unsafe {
        libc::kill(child.id() as libc::pid_t, sig);
    }
}

/// One step of Marsaglia's xorshift64 (13, 7, 17): the tests' reproducible
/// noise. `state` must not be 0.
pub fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// `n` bytes of [`xorshift`] noise from `seed` (the low byte of each step).
pub fn xorshift_bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n).map(|_| xorshift(&mut x) as u8).collect()
}

/// Render two count maps side by side, marking differences.
pub fn diff_counts(
    expected_name: &str,
    expected: &SipCounts,
    actual_name: &str,
    actual: &SipCounts,
) -> String {
    let mut keys: std::collections::BTreeSet<&SipKey> = expected.keys().collect();
    keys.extend(actual.keys());
    let mut s = format!(
        "{:<9} {:<10} {:<5} {:>10} {:>10}\n",
        "kind", "label", "tr", expected_name, actual_name
    );
    for k in keys {
        let e = expected.get(k).copied().unwrap_or(0);
        let a = actual.get(k).copied().unwrap_or(0);
        s.push_str(&format!(
            "{:<9} {:<10} {:<5} {:>10} {:>10}{}\n",
            k.0,
            k.1,
            k.2,
            e,
            a,
            if e != a { "   <-- differs" } else { "" }
        ));
    }
    s
}

/// Remove zero entries (a sensor may export zero-valued series).
pub fn nonzero(c: &SipCounts) -> SipCounts {
    c.iter()
        .filter(|(_, v)| **v != 0)
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

pub fn key(kind: &str, label: &str, transport: &str) -> SipKey {
    (kind.to_string(), label.to_string(), transport.to_string())
}
