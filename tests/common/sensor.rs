//! Running the sensor binary, scraping `/metrics`, parsing Prometheus text.
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{run_bounded, signal, stop, temp_dir, SipCounts};

/// Path of the binary under test: `$SIPSENTINEL_BIN` if set (e.g. a release
/// build, or a stub to check the harness itself), else the cargo-built binary.
pub fn sensor_bin() -> PathBuf {
    std::env::var_os("SIPSENTINEL_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(super::bin()))
}

/// A free TCP port on 127.0.0.1 (bind :0, read, release).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

pub struct Sensor {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub stderr_path: PathBuf,
    pub dir: PathBuf,
}

impl Sensor {
    /// `sipsentinel run --interface IFACE --listen 127.0.0.1:PORT EXTRA...`,
    /// stderr to a file; waits (≤ 10 s) for `/healthz` to answer 200, else
    /// panics with the sensor's stderr.
    pub fn start_live(iface: &str, extra_args: &[&str]) -> Sensor {
        let mut args = vec!["run".to_string(), "--interface".into(), iface.into()];
        args.extend(extra_args.iter().map(|s| s.to_string()));
        Sensor::start_with(&args)
    }

    /// Spawn the sensor with `args` plus `--listen 127.0.0.1:PORT`.
    pub fn start_with(args: &[String]) -> Sensor {
        let dir = temp_dir("sensor");
        let stderr_path = dir.join("sensor.stderr");
        let stdout_path = dir.join("sensor.stdout");
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let child = Command::new(sensor_bin())
            .args(args)
            .args(["--listen", &addr.to_string()])
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout_path).unwrap())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {}: {e}", sensor_bin().display()));
        let mut s = Sensor {
            child: Some(child),
            addr,
            stderr_path,
            dir,
        };
        s.wait_healthy(Duration::from_secs(10));
        s
    }

    fn wait_healthy(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(st) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "sensor exited early ({st}) before /healthz answered; stderr:\n{}",
                    self.stderr()
                );
            }
            if let Ok((200, _)) = http_get(self.addr, "/healthz") {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "sensor /healthz on {} did not answer 200 within {limit:?}; stderr:\n{}",
                    self.addr,
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// GET /metrics; panics (with the sensor's stderr) on failure.
    pub fn scrape(&self) -> String {
        match http_get(self.addr, "/metrics") {
            Ok((200, body)) => body,
            Ok((code, body)) => panic!(
                "/metrics answered {code}: {body}\nsensor stderr:\n{}",
                self.stderr()
            ),
            Err(e) => panic!(
                "/metrics scrape failed: {e}\nsensor stderr:\n{}",
                self.stderr()
            ),
        }
    }

    pub fn samples(&self) -> Vec<Sample> {
        parse_metrics(&self.scrape())
    }

    /// Scrape repeatedly (every 200 ms, at most `limit`) until `done` holds for
    /// the parsed samples; returns the last samples either way.
    pub fn scrape_until(
        &self,
        limit: Duration,
        mut done: impl FnMut(&[Sample]) -> bool,
    ) -> Vec<Sample> {
        let deadline = Instant::now() + limit;
        loop {
            let s = self.samples();
            if done(&s) || Instant::now() >= deadline {
                return s;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// SIGTERM, wait ≤ 5 s, then SIGKILL. Returns stderr.
    pub fn stop(mut self) -> String {
        self.kill();
        self.stderr()
    }

    /// Process id of the running sensor.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Send `sig` (e.g. `libc::SIGHUP`) to the sensor.
    pub fn send_signal(&self, sig: i32) {
        if let Some(c) = &self.child {
            signal(c, sig);
        }
    }

    /// SIGTERM, then wait up to `limit` for the exit; `None` if it did not
    /// exit in time (then it is killed).
    pub fn terminate(mut self, limit: Duration) -> (Option<std::process::ExitStatus>, String) {
        let st = self.child.take().and_then(|mut c| stop(&mut c, limit));
        (st, self.stderr())
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            stop(&mut c, Duration::from_secs(5));
        }
    }
}

impl Drop for Sensor {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `sipsentinel audit FILE --format prometheus` (bounded 60 s); panics on a
/// non-zero exit with its stderr.
pub fn audit_prometheus(file: &Path) -> String {
    let out = run_bounded(
        Command::new(sensor_bin())
            .arg("audit")
            .arg(file)
            .args(["--format", "prometheus"]),
        Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "`sipsentinel audit {} --format prometheus` failed ({}): {}",
        file.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `sipsentinel audit FILE --format FORMAT` with debug logging
/// (`SIPSENTINEL_LOG=debug`, so every log line is there to be checked for
/// leaks): (stdout, stderr); panics on a non-zero exit.
pub fn audit_debug(file: &Path, format: &str) -> (String, String) {
    let out = Command::new(sensor_bin())
        .args(["audit", "--format", format])
        .arg(file)
        .env("SIPSENTINEL_LOG", "debug")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "audit {} --format {format}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The `basic_auth_users:` section of a web config for `users` (name,
/// password), hashed with bcrypt at cost 10 (the exporter-toolkit format).
pub fn basic_auth_users(users: &[(&str, &str)]) -> String {
    let mut yml = "basic_auth_users:\n".to_string();
    for (u, p) in users {
        yml.push_str(&format!("  {u}: {}\n", bcrypt::hash(p, 10).unwrap()));
    }
    yml
}

/// `sipsentinel run --read tests/fixtures/recorded/plain_udp.pcap --listen
/// ADDR --web-config WEB`, started in `cwd`, stderr to the file `stderr`:
/// a replaying sensor that keeps serving behind the web config.
pub fn spawn_replay_with_web_config(
    addr: SocketAddr,
    web: &Path,
    stderr: &Path,
    cwd: &Path,
) -> Child {
    let fixture = super::repo_root().join("tests/fixtures/recorded/plain_udp.pcap");
    Command::new(sensor_bin())
        .args(["run", "--read"])
        .arg(&fixture)
        .args(["--listen", &addr.to_string(), "--web-config"])
        .arg(web)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(stderr).unwrap())
        .spawn()
        .unwrap()
}

/// Send the raw request `req`, read the raw response to the end (connect,
/// each read and each write within `limit`).
pub fn http_raw(addr: SocketAddr, req: &str, limit: Duration) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, limit)?;
    s.set_read_timeout(Some(limit))?;
    s.set_write_timeout(Some(limit))?;
    s.write_all(req.as_bytes())?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Minimal HTTP/1.1 GET with `Connection: close` over a plain TcpStream
/// (5 s timeouts). Returns (status code, body); handles chunked bodies.
pub fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/plain\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "malformed HTTP response");
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(bad)?;
    let code: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(bad)?;
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase().starts_with("transfer-encoding:")
            && l.to_ascii_lowercase().contains("chunked")
    });
    let body = if chunked {
        dechunk(body).ok_or_else(bad)?
    } else {
        body.to_string()
    };
    Ok((code, body))
}

fn dechunk(mut s: &str) -> Option<String> {
    let mut out = String::new();
    for _ in 0..100_000 {
        let (size_line, rest) = s.split_once("\r\n")?;
        let size = usize::from_str_radix(size_line.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            return Some(out);
        }
        out.push_str(rest.get(..size)?);
        s = rest.get(size..)?.strip_prefix("\r\n")?;
    }
    None
}

/// One sample line of the Prometheus text format.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, k: &str) -> &str {
        self.labels.get(k).map(String::as_str).unwrap_or("")
    }
}

/// Parse Prometheus text exposition format (0.0.4): comments and blank lines
/// skipped; `name{l="v",...} value [timestamp]`; label values unescaped.
/// Panics on a line it cannot parse (that is a bug worth seeing).
pub fn parse_metrics(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.push(
            parse_line(line)
                .unwrap_or_else(|| panic!("cannot parse metrics line {}: {raw:?}", i + 1)),
        );
    }
    out
}

fn parse_line(line: &str) -> Option<Sample> {
    let name_end = line.find(|c: char| c == '{' || c.is_whitespace())?;
    let name = line[..name_end].to_string();
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if rest.starts_with('{') {
        let mut chars = rest[1..].char_indices().peekable();
        let body = &rest[1..];
        let end;
        loop {
            // skip spaces and commas
            while let Some(&(_, c)) = chars.peek() {
                if c == ',' || c == ' ' {
                    chars.next();
                } else {
                    break;
                }
            }
            let &(start, c) = chars.peek()?;
            if c == '}' {
                end = Some(start + 1);
                break;
            }
            let mut key_end = start;
            while let Some(&(j, c)) = chars.peek() {
                if c == '=' {
                    key_end = j;
                    break;
                }
                chars.next();
            }
            let key = body[start..key_end].trim().to_string();
            chars.next(); // '='
            if chars.next()?.1 != '"' {
                return None;
            }
            let mut val = String::new();
            loop {
                let (_, c) = chars.next()?;
                match c {
                    '"' => break,
                    '\\' => match chars.next()?.1 {
                        'n' => val.push('\n'),
                        '\\' => val.push('\\'),
                        '"' => val.push('"'),
                        o => {
                            val.push('\\');
                            val.push(o)
                        }
                    },
                    o => val.push(o),
                }
            }
            labels.insert(key, val);
        }
        rest = &body[end?..];
    }
    let v = rest.split_whitespace().next()?;
    let value = match v {
        "+Inf" | "Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse().ok()?,
    };
    Some(Sample {
        name,
        labels,
        value,
    })
}

/// Sum of `name` samples whose labels match every (label, value) in `filter`.
pub fn sum_metric(samples: &[Sample], name: &str, filter: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name && filter.iter().all(|(k, v)| s.label(k) == *v))
        .map(|s| s.value)
        .sum()
}

/// [`sum_metric`] over Prometheus text (parsed with [`parse_metrics`]).
pub fn sum_text(text: &str, name: &str, filter: &[(&str, &str)]) -> f64 {
    sum_metric(&parse_metrics(text), name, filter)
}

/// The value of the unlabelled sample `name` in Prometheus text; panics
/// when there is none.
pub fn unlabelled(text: &str, name: &str) -> f64 {
    parse_metrics(text)
        .iter()
        .find(|s| s.name == name && s.labels.is_empty())
        .map(|s| s.value)
        .unwrap_or_else(|| panic!("{name} not in\n{text}"))
}

/// Whether any sample named `name` exists.
pub fn has_metric(samples: &[Sample], name: &str) -> bool {
    samples.iter().any(|s| s.name == name)
}

pub const SIP_MESSAGES: &str = "sipsentinel_sip_messages_total";
pub const CAPTURE_PACKETS: &str = "sipsentinel_capture_packets_total";

/// `sipsentinel_sip_messages_total` folded into the oracle's key shape:
/// (kind, method for requests | status_class for responses, transport).
/// Zero-valued series are dropped.
pub fn sip_counts_from_metrics(samples: &[Sample]) -> SipCounts {
    let mut c = SipCounts::new();
    for s in samples
        .iter()
        .filter(|s| s.name == SIP_MESSAGES && s.value != 0.0)
    {
        let kind = s.label("kind").to_string();
        let label = if kind == "response" {
            s.label("status_class")
        } else {
            s.label("method")
        };
        *c.entry((
            kind.clone(),
            label.to_string(),
            s.label("transport").to_string(),
        ))
        .or_default() += s.value as u64;
    }
    c
}
