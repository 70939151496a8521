//! baresip runners: two real SIP user agents (Debian `baresip-core` 1.0) in
//! two lab namespaces calling each other directly (no registrar).
//!
//! Each peer gets its own config directory (`-f DIR`, written from
//! `tests/baresip/config.in` and an `accounts` line), `-t SECONDS` so it ends
//! by itself, and is wrapped in `timeout -s KILL` (its own process group) and
//! killed on drop. The callee auto-answers (`;answermode=auto`); the caller
//! dials with `-e "/dial URI"`. Audio comes from `ausine` (a 440 Hz tone) and
//! is played into an `aubridge` device, so no sound card is needed.
//!
//! Media encryption per account: nothing (plain RTP/AVP), `;mediaenc=srtp-mand`
//! (SDES: `a=crypto` keys in SDP) or `;mediaenc=dtls_srtp` (DTLS-SRTP:
//! `a=fingerprint` in SDP, DTLS handshake on the media path). SIP transport:
//! UDP or TCP on 5060, TLS on 5061 (baresip listens for TLS on the SIP port
//! + 1) with a self-signed certificate generated per call.
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::netns::Lab;
use super::sipp::Family;
use super::{require_tool, run_bounded, signal, temp_dir, wait_bounded};

/// SIP port both peers listen on (UDP and TCP; TLS on SIP_PORT + 1).
pub const SIP_PORT: u16 = 5060;
pub const TLS_PORT: u16 = 5061;
/// RTP/RTCP port range given to baresip.
pub const RTP_PORTS: (u16, u16) = (10000, 10100);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SipTransport {
    Udp,
    Tcp,
    Tls,
}

impl SipTransport {
    /// The sensor's / oracle's transport label.
    pub fn label(self) -> &'static str {
        match self {
            SipTransport::Udp => "udp",
            SipTransport::Tcp => "tcp",
            SipTransport::Tls => "tls",
        }
    }
    fn uri_param(self) -> &'static str {
        match self {
            SipTransport::Udp => "",
            SipTransport::Tcp => ";transport=tcp",
            SipTransport::Tls => ";transport=tls",
        }
    }
    pub fn port(self) -> u16 {
        match self {
            SipTransport::Tls => TLS_PORT,
            _ => SIP_PORT,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaEnc {
    /// RTP/AVP, G.711 in the clear
    Plain,
    /// SDES-SRTP (`;mediaenc=srtp-mand`): keys in SDP `a=crypto`
    Sdes,
    /// DTLS-SRTP (`;mediaenc=dtls_srtp`)
    Dtls,
}

impl MediaEnc {
    fn account_param(self) -> &'static str {
        match self {
            MediaEnc::Plain => "",
            MediaEnc::Sdes => ";mediaenc=srtp-mand",
            MediaEnc::Dtls => ";mediaenc=dtls_srtp",
        }
    }
}

/// One direct call between two baresip peers.
#[derive(Debug, Clone)]
pub struct CallSpec {
    pub transport: SipTransport,
    pub media: MediaEnc,
    pub family: Family,
    /// `-t` of the caller: the call (setup + media + BYE) lasts about this long.
    pub caller_secs: u32,
    /// Calls the one caller instance places at once (`-e "/dial URI"`
    /// repeated); 1 for a plain call.
    pub dials: u32,
}

impl CallSpec {
    pub fn new(transport: SipTransport, media: MediaEnc) -> CallSpec {
        CallSpec {
            transport,
            media,
            family: Family::V4,
            caller_secs: 5,
            dials: 1,
        }
    }
    pub fn v6(mut self) -> Self {
        self.family = Family::V6;
        self
    }
    pub fn secs(mut self, s: u32) -> Self {
        self.caller_secs = s;
        self
    }
    /// `n` calls from the same caller process (same certificate, CNAME).
    pub fn dials(mut self, n: u32) -> Self {
        self.dials = n.max(1);
        self
    }
}

fn node_ip(lab: &Lab, k: usize, fam: Family) -> IpAddr {
    match fam {
        Family::V4 => IpAddr::V4(lab.node(k).ipv4),
        Family::V6 => IpAddr::V6(lab.node(k).ipv6),
    }
}

/// Host part for a SIP URI / listen address (IPv6 in brackets).
fn host(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    }
}

/// Directory holding the baresip config template.
pub fn baresip_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("baresip")
}

/// `baresip -h` first line, e.g. "baresip v1.0.0 Copyright ...".
pub fn baresip_version() -> String {
    require_tool("baresip");
    let out = run_bounded(Command::new("baresip").arg("-h"), Duration::from_secs(10));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .find(|l| l.starts_with("baresip v"))
        .unwrap_or("baresip (unknown version)")
        .to_string()
}

/// Self-signed certificate + key (one PEM file, as baresip's
/// `sip_certificate` wants it) and the certificate alone as the CA file.
/// Returns (cert+key pem, ca pem).
pub fn make_tls_cert(dir: &Path) -> (PathBuf, PathBuf) {
    require_tool("openssl");
    let key = dir.join("key.pem");
    let crt = dir.join("cert.pem");
    let out = run_bounded(
        Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=sipsentinel-lab",
                "-days",
                "1",
                "-keyout",
            ])
            .arg(&key)
            .arg("-out")
            .arg(&crt),
        Duration::from_secs(30),
    );
    assert!(
        out.status.success(),
        "openssl req -x509 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let both = dir.join("cert+key.pem");
    let mut pem = std::fs::read(&crt).unwrap();
    pem.extend(std::fs::read(&key).unwrap());
    std::fs::write(&both, pem).unwrap();
    (both, crt)
}

/// Write a baresip config dir for one peer. Returns the dir.
fn write_config(
    dir: &Path,
    listen: IpAddr,
    ifname: &str,
    account: &str,
    tls: Option<&(PathBuf, PathBuf)>,
) {
    let template = std::fs::read_to_string(baresip_dir().join("config.in"))
        .expect("read tests/baresip/config.in");
    let tls_lines = match tls {
        Some((cert, ca)) => format!(
            "sip_certificate\t{}\nsip_cafile\t{}\n",
            cert.display(),
            ca.display()
        ),
        None => String::new(),
    };
    let cfg = template
        .replace("@LISTEN@", &format!("{}:{}", host(listen), SIP_PORT))
        .replace("@TLS@", &tls_lines)
        .replace("@NET_INTERFACE@", ifname)
        .replace("@RTP_PORTS@", &format!("{}-{}", RTP_PORTS.0, RTP_PORTS.1));
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("config"), cfg).unwrap();
    std::fs::write(dir.join("accounts"), format!("{account}\n")).unwrap();
}

/// A running baresip process.
pub struct Peer {
    child: Option<Child>,
    pub role: &'static str,
    pub dir: PathBuf,
    pub log: PathBuf,
    pub cmdline: String,
}

/// What a finished baresip said.
#[derive(Debug, Clone)]
pub struct PeerResult {
    pub role: &'static str,
    /// None: killed after the bound
    pub status: Option<ExitStatus>,
    pub log: String,
    pub dir: PathBuf,
    pub cmdline: String,
}

impl PeerResult {
    pub fn established(&self) -> bool {
        self.log.contains("Call established")
    }
    pub fn terminated(&self) -> bool {
        self.log.contains(" terminated (duration")
    }
    /// Lines of the log without the per-20 ms status line noise.
    pub fn report(&self) -> String {
        let log: String = self
            .log
            .split(['\n', '\r'])
            .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with("[0:"))
            .collect::<Vec<_>>()
            .join("\n");
        let config = std::fs::read_to_string(self.dir.join("config")).unwrap_or_default();
        let accounts = std::fs::read_to_string(self.dir.join("accounts")).unwrap_or_default();
        format!(
            "baresip {} `{}` exit={:?} (dir {})\n--- accounts ---\n{}--- config ---\n{}--- log ---\n{}",
            self.role,
            self.cmdline,
            self.status,
            self.dir.display(),
            accounts,
            config,
            log
        )
    }
}

/// Both sides of a finished call.
#[derive(Debug, Clone)]
pub struct CallResult {
    pub caller: PeerResult,
    pub callee: PeerResult,
    pub spec: CallSpec,
}

impl CallResult {
    /// Both peers established the call, and it ended (BYE) on both sides.
    pub fn ok(&self) -> bool {
        self.caller.established()
            && self.callee.established()
            && self.caller.terminated()
            && self.callee.terminated()
    }
    pub fn assert_ok(&self) {
        assert!(
            self.ok(),
            "baresip call {:?} did not establish and end on both sides:\n{}\n\n{}",
            self.spec,
            self.caller.report(),
            self.callee.report()
        );
    }
}

fn spawn(
    lab: &Lab,
    k: usize,
    role: &'static str,
    cfg: &Path,
    args: &[String],
    bound: Duration,
) -> Peer {
    require_tool("baresip");
    require_tool("timeout");
    let log = cfg.join("baresip.log");
    let f = std::fs::File::create(&log).unwrap();
    let mut cmd = lab.command(k, "timeout");
    cmd.args(["-s", "KILL", &format!("{}", bound.as_secs().max(1))]);
    cmd.arg("baresip").arg("-f").arg(cfg).args(args);
    let cmdline = format!("baresip -f {} {}", cfg.display(), args.join(" "));
    let child = cmd
        .current_dir(cfg)
        .stdin(Stdio::null())
        .stdout(f.try_clone().unwrap())
        .stderr(f)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn {cmdline}: {e}"));
    Peer {
        child: Some(child),
        role,
        dir: cfg.to_path_buf(),
        log,
        cmdline,
    }
}

impl Peer {
    fn log_text(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log).unwrap_or_default()).into_owned()
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Wait up to `limit` for exit; then SIGTERM (baresip hangs up and
    /// exits), 3 s later SIGKILL to the group.
    pub fn finish(mut self, limit: Duration) -> PeerResult {
        let mut child = self.child.take().unwrap();
        let mut st = wait_bounded(&mut child, limit);
        if st.is_none() {
            signal(&child, libc::SIGTERM);
            st = wait_bounded(&mut child, Duration::from_secs(3));
            if st.is_none() {
                super::kill_group(&mut child);
            }
        }
        PeerResult {
            role: self.role,
            status: st,
            log: self.log_text(),
            dir: self.dir.clone(),
            cmdline: self.cmdline.clone(),
        }
    }

    /// Wait (≤ `limit`) until the log contains `needle`; false if not, or if
    /// the process exited first.
    pub fn wait_log(&mut self, needle: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if self.log_text().contains(needle) {
                return true;
            }
            if self.exited().is_some() || Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            super::kill_group(&mut c);
        }
    }
}

/// Whether something in namespace k listens on `port` for `transport`.
fn listening(lab: &Lab, k: usize, transport: SipTransport) -> bool {
    let proto = if transport == SipTransport::Udp {
        "-Hlun"
    } else {
        "-Hltn"
    };
    let out = lab.exec(k, &["ss", proto, &format!("sport = :{}", transport.port())]);
    !String::from_utf8_lossy(&out.stdout).trim().is_empty()
}

/// The SIP URI the caller dials (the account adds `;transport=` itself).
pub fn callee_uri(lab: &Lab, callee_k: usize, spec: &CallSpec) -> String {
    format!("sip:bob@{}", host(node_ip(lab, callee_k, spec.family)))
}

/// Start the callee ("bob", auto-answer) in namespace `callee_k`, wait (≤ 5 s)
/// until it listens, run the caller ("alice") in `caller_k` to completion,
/// then wait (≤ 5 s) for the callee to see the BYE and stop it. Panics (the
/// scenario fails) when a peer cannot start.
pub fn run_call(lab: &Lab, callee_k: usize, caller_k: usize, spec: &CallSpec) -> CallResult {
    let base = temp_dir("baresip");
    let tls = (spec.transport == SipTransport::Tls).then(|| make_tls_cert(&base));
    let fam_flag = match spec.family {
        Family::V4 => "-4",
        Family::V6 => "-6",
    };
    let callee_ip = node_ip(lab, callee_k, spec.family);
    let caller_ip = node_ip(lab, caller_k, spec.family);
    let account = |user: &str, ip: IpAddr, extra: &str| {
        format!(
            "<sip:{user}@{}{}>;regint=0;audio_codecs=PCMU{}{}",
            host(ip),
            spec.transport.uri_param(),
            spec.media.account_param(),
            extra
        )
    };
    let bob_dir = base.join("bob");
    write_config(
        &bob_dir,
        callee_ip,
        &lab.node(callee_k).ifname,
        &account("bob", callee_ip, ";answermode=auto"),
        tls.as_ref(),
    );
    let alice_dir = base.join("alice");
    write_config(
        &alice_dir,
        caller_ip,
        &lab.node(caller_k).ifname,
        &account("alice", caller_ip, ""),
        tls.as_ref(),
    );

    // Callee: ends by itself well after the caller, killed at the bound.
    let callee_secs = spec.caller_secs + 15;
    let callee_args = vec![fam_flag.to_string(), "-t".into(), callee_secs.to_string()];
    let mut callee = spawn(
        lab,
        callee_k,
        "callee",
        &bob_dir,
        &callee_args,
        Duration::from_secs(callee_secs as u64 + 5),
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while !listening(lab, callee_k, spec.transport) {
        if let Some(st) = callee.exited() {
            let mut r = callee.finish(Duration::from_millis(1));
            r.status = Some(st);
            panic!("baresip callee exited before listening:\n{}", r.report());
        }
        if Instant::now() >= deadline {
            let r = callee.finish(Duration::from_millis(1));
            panic!(
                "baresip callee not listening on {} port {} after 5 s:\n{}",
                spec.transport.label(),
                spec.transport.port(),
                r.report()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    let uri = callee_uri(lab, callee_k, spec);
    let mut caller_args = vec![
        fam_flag.to_string(),
        "-t".into(),
        spec.caller_secs.to_string(),
    ];
    for _ in 0..spec.dials {
        caller_args.push("-e".into());
        caller_args.push(format!("/dial {uri}"));
    }
    let caller_bound = Duration::from_secs(spec.caller_secs as u64 + 10);
    let caller = spawn(
        lab,
        caller_k,
        "caller",
        &alice_dir,
        &caller_args,
        caller_bound,
    );
    let caller = caller.finish(caller_bound);
    callee.wait_log(" terminated (duration", Duration::from_secs(5));
    // Give the callee's last packets (200 OK to BYE) time to hit the wire.
    std::thread::sleep(Duration::from_millis(200));
    let callee = callee.finish(Duration::from_millis(1));
    CallResult {
        caller,
        callee,
        spec: spec.clone(),
    }
}
