//! SIPp runners. A UAS runs in one lab namespace, a UAC in another; both
//! always get `-m` (call limit), `-timeout` (global), `-nostdin`, and are
//! additionally wrapped in `timeout -s KILL` and killed on drop. Screen output
//! and message traces (`-trace_msg`) go to a per-run temp directory.
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::netns::Lab;
use super::{require_tool, sipp_dir, temp_dir, wait_bounded};

#[derive(Debug, Clone)]
pub enum Scenario {
    /// a built-in scenario name (`-sn uas`, `-sn uac`)
    Builtin(&'static str),
    /// a file in tests/sipp/ (`-sf`)
    File(&'static str),
}

impl Scenario {
    fn args(&self) -> Vec<String> {
        match self {
            Scenario::Builtin(n) => vec!["-sn".into(), n.to_string()],
            Scenario::File(f) => {
                let p = sipp_dir().join(f);
                assert!(p.is_file(), "missing SIPp scenario {}", p.display());
                vec!["-sf".into(), p.display().to_string()]
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    fn flag(self) -> &'static str {
        match self {
            Transport::Udp => "u1",
            Transport::Tcp => "t1",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

/// Common options for one SIPp process.
#[derive(Debug, Clone)]
pub struct SippOpts {
    pub scenario: Scenario,
    pub transport: Transport,
    pub family: Family,
    pub port: u16,
    /// `-m`: number of calls before SIPp exits (mandatory, > 0)
    pub calls: u32,
    /// `-r`: call rate (calls per second), UAC only
    pub rate: u32,
    /// `-l`: max simultaneous calls, UAC only
    pub limit: u32,
    /// `-timeout`: SIPp's own global timeout
    pub sipp_timeout: Duration,
    pub extra: Vec<String>,
}

impl SippOpts {
    pub fn new(scenario: Scenario, calls: u32) -> SippOpts {
        SippOpts {
            scenario,
            transport: Transport::Udp,
            family: Family::V4,
            port: 5060,
            calls,
            rate: 10,
            limit: 5,
            sipp_timeout: Duration::from_secs(20),
            extra: Vec::new(),
        }
    }
    pub fn tcp(mut self) -> Self {
        self.transport = Transport::Tcp;
        self
    }
    pub fn v6(mut self) -> Self {
        self.family = Family::V6;
        self
    }
    pub fn rate(mut self, r: u32, l: u32) -> Self {
        self.rate = r;
        self.limit = l;
        self
    }
}

/// A running SIPp process.
pub struct SippProc {
    child: Option<Child>,
    pub role: &'static str,
    pub dir: PathBuf,
    pub ns: String,
    pub cmdline: String,
}

/// Result of a finished SIPp run.
#[derive(Debug, Clone)]
pub struct SippResult {
    pub role: &'static str,
    /// None: killed after the bound
    pub status: Option<ExitStatus>,
    pub successful: Option<u64>,
    pub failed: Option<u64>,
    pub dir: PathBuf,
    pub cmdline: String,
}

impl SippResult {
    /// Exit code 0 and no failed calls.
    pub fn ok(&self) -> bool {
        self.status.map(|s| s.success()).unwrap_or(false) && self.failed.unwrap_or(1) == 0
    }
    /// Screen output and the tail of the message trace, for assertion messages.
    pub fn report(&self) -> String {
        let screen = std::fs::read_to_string(self.dir.join("screen.txt")).unwrap_or_default();
        let screen: String = screen
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect::<Vec<_>>()
            .join("\n");
        let errs = std::fs::read_to_string(self.dir.join("stderr.txt")).unwrap_or_default();
        let msgs = std::fs::read_to_string(self.dir.join("messages.log")).unwrap_or_default();
        let tail: String = msgs
            .chars()
            .rev()
            .take(3000)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!(
            "SIPp {} `{}` exit={:?} successful={:?} failed={:?} (logs in {})\n--- screen ---\n{}\n--- stderr ---\n{}\n--- last messages ---\n{}",
            self.role,
            self.cmdline,
            self.status,
            self.successful,
            self.failed,
            self.dir.display(),
            screen,
            errs,
            tail
        )
    }
}

fn node_ip(lab: &Lab, k: usize, fam: Family) -> IpAddr {
    match fam {
        Family::V4 => IpAddr::V4(lab.node(k).ipv4),
        Family::V6 => IpAddr::V6(lab.node(k).ipv6),
    }
}

fn spawn(lab: &Lab, k: usize, role: &'static str, args: Vec<String>, bound: Duration) -> SippProc {
    require_tool("sipp");
    let dir = temp_dir(&format!("sipp-{role}"));
    let mut full: Vec<String> = args;
    full.extend([
        "-nostdin".into(),
        "-trace_msg".into(),
        "-message_file".into(),
        dir.join("messages.log").display().to_string(),
    ]);
    let mut cmd = lab.command(k, "timeout");
    cmd.args(["-s", "KILL", &format!("{}", bound.as_secs().max(1))]);
    cmd.arg("sipp").args(&full);
    let cmdline = format!("sipp {}", full.join(" "));
    let child = cmd
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.join("screen.txt")).unwrap())
        .stderr(std::fs::File::create(dir.join("stderr.txt")).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn {cmdline}: {e}"));
    SippProc {
        child: Some(child),
        role,
        dir,
        ns: lab.node(k).ns.clone(),
        cmdline,
    }
}

fn base_args(opts: &SippOpts, local: IpAddr) -> Vec<String> {
    assert!(opts.calls > 0, "SIPp runs must be bounded by -m");
    let mut a = opts.scenario.args();
    a.extend([
        "-i".into(),
        local.to_string(),
        "-p".into(),
        opts.port.to_string(),
        "-t".into(),
        opts.transport.flag().into(),
        "-m".into(),
        opts.calls.to_string(),
        "-timeout".into(),
        format!("{}s", opts.sipp_timeout.as_secs().max(1)),
        "-timeout_error".into(),
    ]);
    a.extend(opts.extra.iter().cloned());
    a
}

/// Start a UAS in namespace k and wait (≤ 5 s) until it listens on its port.
pub fn start_uas(lab: &Lab, k: usize, opts: &SippOpts) -> SippProc {
    let local = node_ip(lab, k, opts.family);
    let args = base_args(opts, local);
    let bound = opts.sipp_timeout + Duration::from_secs(10);
    let mut p = spawn(lab, k, "uas", args, bound);
    let proto = if opts.transport == Transport::Tcp {
        "-Hltn"
    } else {
        "-Hlun"
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let out = lab.exec(k, &["ss", proto, &format!("sport = :{}", opts.port)]);
        if !String::from_utf8_lossy(&out.stdout).trim().is_empty() {
            break;
        }
        if let Some(st) = p.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
            let r = p.result_with(Some(st));
            panic!("SIPp UAS exited before listening:\n{}", r.report());
        }
        if Instant::now() >= deadline {
            let r = p.finish(Duration::from_millis(1));
            panic!("SIPp UAS not listening after 5 s:\n{}", r.report());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    p
}

/// Run a UAC in namespace k against `target_k`'s address and the same port,
/// to completion (bounded by the SIPp timeout + 10 s).
pub fn run_uac(lab: &Lab, k: usize, target_k: usize, opts: &SippOpts) -> SippResult {
    let local = node_ip(lab, k, opts.family);
    let remote = node_ip(lab, target_k, opts.family);
    let remote = match remote {
        IpAddr::V4(a) => format!("{a}:{}", opts.port),
        IpAddr::V6(a) => format!("[{a}]:{}", opts.port),
    };
    let mut args = vec![remote];
    args.extend(base_args(opts, local));
    args.extend([
        "-r".into(),
        opts.rate.to_string(),
        "-l".into(),
        opts.limit.to_string(),
    ]);
    let bound = opts.sipp_timeout + Duration::from_secs(10);
    let p = spawn(lab, k, "uac", args, bound);
    p.finish(bound)
}

/// UAS on `uas_k` + UAC on `uac_k` with the same options except the scenario;
/// waits for both. Returns (uac, uas) results.
pub fn run_call(
    lab: &Lab,
    uas_k: usize,
    uas: &SippOpts,
    uac_k: usize,
    uac: &SippOpts,
) -> (SippResult, SippResult) {
    let server = start_uas(lab, uas_k, uas);
    let c = run_uac(lab, uac_k, uas_k, uac);
    let s = server.finish(Duration::from_secs(10));
    (c, s)
}

impl SippProc {
    /// Wait up to `limit` for exit, then kill; collect statistics.
    pub fn finish(mut self, limit: Duration) -> SippResult {
        let mut child = self.child.take().unwrap();
        let st = wait_bounded(&mut child, limit);
        if st.is_none() {
            super::kill_group(&mut child);
        }
        self.result_with(st)
    }

    fn result_with(&self, status: Option<ExitStatus>) -> SippResult {
        let screen = std::fs::read_to_string(self.dir.join("screen.txt")).unwrap_or_default();
        SippResult {
            role: self.role,
            status,
            successful: last_stat(&screen, "Successful call"),
            failed: last_stat(&screen, "Failed call"),
            dir: self.dir.clone(),
            cmdline: self.cmdline.clone(),
        }
    }
}

impl Drop for SippProc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            super::kill_group(&mut c);
        }
    }
}

/// Cumulative value of a statistics row in SIPp's final screen, e.g.
/// "  Successful call        |        0                  |        5   ".
fn last_stat(screen: &str, row: &str) -> Option<u64> {
    screen
        .lines()
        .rfind(|l| l.trim_start().starts_with(row))
        .and_then(|l| l.split('|').nth(2))
        .and_then(|v| v.trim().parse().ok())
}

/// Assert both sides of a call run succeeded, with full logs otherwise.
pub fn assert_ok(results: &[&SippResult]) {
    for r in results {
        assert!(r.ok(), "SIPp run failed:\n{}", r.report());
    }
}

pub fn scenario_file(name: &str) -> PathBuf {
    sipp_dir().join(name)
}

pub fn exists(p: &Path) -> bool {
    p.exists()
}
