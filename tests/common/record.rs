//! `Recorder` (tcpdump on the lab bridge) and the tshark oracle.
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{require_tool, run_bounded, signal, wait_bounded, SipCounts};

/// The method labels that are kept verbatim; everything else is `other`.
pub const METHODS: [&str; 14] = [
    "INVITE",
    "ACK",
    "BYE",
    "CANCEL",
    "REGISTER",
    "OPTIONS",
    "PRACK",
    "SUBSCRIBE",
    "NOTIFY",
    "PUBLISH",
    "INFO",
    "REFER",
    "MESSAGE",
    "UPDATE",
];

pub fn method_label(m: &str) -> String {
    if METHODS.contains(&m) {
        m.to_string()
    } else {
        "other".to_string()
    }
}

pub fn status_class(code: &str) -> String {
    match code.trim().parse::<u32>() {
        Ok(c) if (100..700).contains(&c) => format!("{}xx", c / 100),
        _ => "other".to_string(),
    }
}

/// Map a tshark `frame.protocols` string to the sensor's transport label.
/// Returns None for SIP quoted inside ICMP errors (not a SIP message on the wire).
pub fn transport_label(protocols: &str) -> Option<&'static str> {
    let p: Vec<&str> = protocols.split(':').collect();
    if p.iter().any(|x| *x == "icmp" || *x == "icmpv6") {
        return None;
    }
    let has = |x: &str| p.contains(&x);
    Some(if has("sctp") {
        "sctp"
    } else if has("websocket") {
        if has("tls") {
            "wss"
        } else {
            "ws"
        }
    } else if has("tls") {
        "tls"
    } else if has("tcp") {
        "tcp"
    } else if has("udp") {
        "udp"
    } else {
        "other"
    })
}

pub struct Recorder {
    child: Option<Child>,
    pub file: PathBuf,
    pub iface: String,
    stderr_lines: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

/// What tcpdump said when it stopped.
#[derive(Debug, Clone, Default)]
pub struct RecordSummary {
    pub file: PathBuf,
    /// "N packets captured"
    pub captured: Option<u64>,
    /// "N packets dropped by kernel"
    pub dropped_by_kernel: Option<u64>,
    pub stderr: String,
}

impl Recorder {
    /// Start `tcpdump -i IFACE -w FILE -U --immediate-mode -n` and wait (≤ 10 s)
    /// until it reports "listening on".
    pub fn start(iface: &str, file: &Path) -> Recorder {
        Recorder::start_filtered(iface, file, None)
    }

    /// As [`Recorder::start`], with a BPF capture filter.
    pub fn start_filtered(iface: &str, file: &Path, filter: Option<&str>) -> Recorder {
        Recorder::start_with_args(iface, file, filter, &[])
    }

    /// As [`Recorder::start_filtered`] with a kernel capture buffer of
    /// `buffer_kib` KiB (`tcpdump -B`). In immediate mode each packet
    /// retires a ring block of ≥ snaplen bytes, so the default 2 MiB holds
    /// only a handful of packets: on a loaded machine tcpdump then drops
    /// even at 100 packets/s. 32768 (32 MiB) keeps a few seconds.
    pub fn start_buffered(
        iface: &str,
        file: &Path,
        filter: Option<&str>,
        buffer_kib: u32,
    ) -> Recorder {
        Recorder::start_with_args(iface, file, filter, &["-B", &buffer_kib.to_string()])
    }

    fn start_with_args(iface: &str, file: &Path, filter: Option<&str>, extra: &[&str]) -> Recorder {
        require_tool("tcpdump");
        let mut child = Command::new("tcpdump")
            .args(["-i", iface, "-w"])
            .arg(file)
            .args(["-U", "--immediate-mode", "-n", "-Z", "root"])
            .args(extra)
            .args(filter)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tcpdump");
        let stderr = child.stderr.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let l2 = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if line.contains("listening on") {
                    let _ = tx.send(());
                }
                l2.lock().unwrap().push(line);
            }
        });
        let rec = Recorder {
            child: Some(child),
            file: file.to_path_buf(),
            iface: iface.to_string(),
            stderr_lines: lines,
            reader: Some(reader),
        };
        if rx.recv_timeout(Duration::from_secs(10)).is_err() {
            let err = rec.stderr_text();
            drop(rec);
            panic!("tcpdump on {iface} did not start listening within 10 s; stderr:\n{err}");
        }
        rec
    }

    fn stderr_text(&self) -> String {
        self.stderr_lines
            .lock()
            .map(|v| v.join("\n"))
            .unwrap_or_default()
    }

    /// SIGINT, wait (≤ 10 s), and parse tcpdump's final statistics.
    pub fn stop(mut self) -> RecordSummary {
        let mut child = self.child.take().unwrap();
        signal(&child, libc::SIGINT);
        if wait_bounded(&mut child, Duration::from_secs(10)).is_none() {
            let _ = child.kill();
            let _ = child.wait();
            panic!("tcpdump did not exit within 10 s of SIGINT");
        }
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        let stderr = self.stderr_text();
        let num = |suffix: &str| {
            stderr
                .lines()
                .find(|l| l.trim_end().ends_with(suffix))
                .and_then(|l| l.split_whitespace().next())
                .and_then(|n| n.parse().ok())
        };
        RecordSummary {
            file: self.file.clone(),
            captured: num("packets captured"),
            dropped_by_kernel: num("packets dropped by kernel"),
            stderr,
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn tshark(args: &[&str], file: &Path) -> String {
    require_tool("tshark");
    let out = run_bounded(
        Command::new("tshark")
            .arg("-n")
            .arg("-r")
            .arg(file)
            .args(args),
        Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "tshark {args:?} on {} failed: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// SIP message counts per (kind, method|status_class, transport) as tshark
/// dissects the capture (IP defragmentation and TCP reassembly on, the
/// defaults). Counts message occurrences, so several SIP messages in one TCP
/// segment count separately. SIP quoted inside ICMP errors is ignored.
pub fn tshark_sip_counts(file: &Path) -> SipCounts {
    let text = tshark(
        &[
            "-Y",
            "sip",
            "-T",
            "fields",
            "-E",
            "occurrence=a",
            "-E",
            "aggregator=,",
            "-E",
            "separator=|",
            "-e",
            "sip.Method",
            "-e",
            "sip.Status-Code",
            "-e",
            "frame.protocols",
        ],
        file,
    );
    let mut counts = SipCounts::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('|').collect();
        if f.len() != 3 {
            continue;
        }
        let Some(tr) = transport_label(f[2]) else {
            continue;
        };
        for m in f[0].split(',').filter(|s| !s.is_empty()) {
            *counts
                .entry(("request".into(), method_label(m), tr.into()))
                .or_default() += 1;
        }
        for c in f[1].split(',').filter(|s| !s.is_empty()) {
            *counts
                .entry(("response".into(), status_class(c), tr.into()))
                .or_default() += 1;
        }
    }
    counts
}

/// Total from `tshark -q -z sip,stat` ("Number of SIP messages: N"), used to
/// cross-check `tshark_sip_counts`.
pub fn tshark_sip_stat_total(file: &Path) -> u64 {
    let text = tshark(&["-q", "-z", "sip,stat"], file);
    text.lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Number of SIP messages:")
                .map(|n| n.trim().parse::<u64>())
        })
        .and_then(|r| r.ok())
        .unwrap_or_else(|| panic!("no 'Number of SIP messages' in sip,stat output:\n{text}"))
}

/// Number of frames in a capture file (`capinfos -c -M`).
pub fn tshark_packet_count(file: &Path) -> u64 {
    require_tool("capinfos");
    let out = run_bounded(
        Command::new("capinfos").args(["-c", "-M"]).arg(file),
        Duration::from_secs(30),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Number of packets:")
                .map(|n| n.trim().parse::<u64>())
        })
        .and_then(|r| r.ok())
        .unwrap_or_else(|| {
            panic!(
                "capinfos -c failed on {}: {text}{}",
                file.display(),
                String::from_utf8_lossy(&out.stderr)
            )
        })
}

/// Protocol hierarchy of a capture (`tshark -q -z io,phs`), for diagnostics.
pub fn tshark_protocol_hierarchy(file: &Path) -> String {
    tshark(&["-q", "-z", "io,phs"], file)
}

/// Number of frames matching a display filter.
pub fn tshark_count_filter(file: &Path, filter: &str) -> u64 {
    tshark(&["-Y", filter, "-T", "fields", "-e", "frame.number"], file)
        .lines()
        .filter(|l| !l.is_empty())
        .count() as u64
}

/// One row of `tshark -z rtp,streams` (with the RTP heuristic on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpStream {
    pub src: String,
    pub src_port: u16,
    pub dst: String,
    pub dst_port: u16,
    pub ssrc: String,
    pub payload: String,
    pub packets: u64,
}

/// RTP streams as tshark sees them with `-o rtp.heuristic_rtp:TRUE -z
/// rtp,streams` (one per SSRC and direction; SRTP counts too, its header is
/// in the clear).
pub fn tshark_rtp_streams(file: &Path) -> Vec<RtpStream> {
    tshark_rtp_streams_heuristic(file, true)
}

/// As [`tshark_rtp_streams`]; with `heuristic` false only the streams
/// that signalling (SDP) announces.
pub fn tshark_rtp_streams_heuristic(file: &Path, heuristic: bool) -> Vec<RtpStream> {
    let pref = format!(
        "rtp.heuristic_rtp:{}",
        if heuristic { "TRUE" } else { "FALSE" }
    );
    let text = tshark(&["-q", "-o", &pref, "-z", "rtp,streams"], file);
    let mut v = Vec::new();
    for line in text.lines() {
        // start end src sport dst dport ssrc payload… pkts lost (..%) ...
        // The payload is one name or several (`g711A, CN`), so the packet
        // count is found from the lost percentage after it.
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 10 || f[0].parse::<f64>().is_err() || !f[6].starts_with("0x") {
            continue;
        }
        let Some(pct) = (9..f.len()).find(|&j| f[j].starts_with('(') && f[j].ends_with("%)"))
        else {
            continue;
        };
        let (Ok(sp), Ok(dp), Ok(pk)) = (f[3].parse(), f[5].parse(), f[pct - 2].parse()) else {
            continue;
        };
        v.push(RtpStream {
            src: f[2].to_string(),
            src_port: sp,
            dst: f[4].to_string(),
            dst_port: dp,
            ssrc: f[6].to_string(),
            payload: f[7..pct - 2].join(" "),
            packets: pk,
        });
    }
    v
}

/// Number of frames matching a display filter, with extra tshark options
/// (e.g. `["-o", "rtp.heuristic_rtp:TRUE"]`, or `-d` decode-as rules).
pub fn tshark_count_filter_opts(file: &Path, opts: &[&str], filter: &str) -> u64 {
    let mut args: Vec<&str> = opts.to_vec();
    args.extend(["-Y", filter, "-T", "fields", "-e", "frame.number"]);
    tshark(&args, file)
        .lines()
        .filter(|l| !l.is_empty())
        .count() as u64
}

/// "Number of resent SIP messages: N" from `tshark -q -z sip,stat`
/// (retransmissions tshark recognised by Call-ID/CSeq).
pub fn tshark_sip_resent(file: &Path) -> u64 {
    let text = tshark(&["-q", "-z", "sip,stat"], file);
    text.lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Number of resent SIP messages:")
                .map(|n| n.trim().parse::<u64>())
        })
        .and_then(|r| r.ok())
        .unwrap_or_else(|| panic!("no 'Number of resent SIP messages' in sip,stat output:\n{text}"))
}

/// `tshark -n -r FILE [-Y FILTER] -T fields -e F...`: one row per dissected
/// packet, one cell per field; a field that occurs several times in a
/// packet has its values joined by U+001E in its cell. Panics when tshark
/// is missing or fails.
pub fn tshark_fields(file: &Path, filter: Option<&str>, fields: &[&str]) -> Vec<Vec<String>> {
    tshark_fields_opts(file, &[], filter, fields)
}

/// As [`tshark_fields`], with extra tshark options (e.g. `["-o",
/// "rtp.heuristic_rtp:TRUE"]`).
pub fn tshark_fields_opts(
    file: &Path,
    opts: &[&str],
    filter: Option<&str>,
    fields: &[&str],
) -> Vec<Vec<String>> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-n").arg("-r").arg(file).args(opts);
    if let Some(f) = filter {
        cmd.args(["-Y", f]);
    }
    cmd.args(["-T", "fields"]);
    cmd.args([
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=\u{1e}",
        "-E",
        "separator=\u{1f}",
    ]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("tshark is required for this test: {e}"));
    assert!(
        out.status.success(),
        "tshark on {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('\u{1f}').map(str::to_string).collect())
        .collect()
}

/// Every value of `fields` in `file` (packets matching `filter`), one
/// entry per occurrence, trimmed of white space and quotes; empty ones
/// left out.
pub fn tshark_values(file: &Path, filter: Option<&str>, fields: &[&str]) -> Vec<String> {
    tshark_fields(file, filter, fields)
        .iter()
        .flatten()
        .flat_map(|cell| cell.split('\u{1e}'))
        .map(|v| v.trim().trim_matches('"').to_string())
        .filter(|v| !v.is_empty())
        .collect()
}

/// The fields that name people and hosts: SIP users (From, To, Contact,
/// P-Asserted-Identity, Request-URI, digest user name) and IP source and
/// destination addresses. Tests add fields of their own (Call-ID, keys).
pub const IDENTIFIER_FIELDS: [&str; 10] = [
    "sip.from.user",
    "sip.to.user",
    "sip.contact.user",
    "sip.pai.user",
    "sip.r-uri.user",
    "sip.auth.username",
    "ip.src",
    "ip.dst",
    "ipv6.src",
    "ipv6.dst",
];

/// The identifiers tshark reads in `file`: the values of `fields` (e.g.
/// [`IDENTIFIER_FIELDS`]) without a leading `+`, of at least 4 characters;
/// names that are also in a User-Agent or Server value are software, not
/// people, and are left out. The leak canary of the privacy tests.
pub fn tshark_identifiers(file: &Path, fields: &[&str]) -> BTreeSet<String> {
    let software = tshark_values(file, None, &["sip.User-Agent", "sip.Server"]).join("\n");
    tshark_values(file, None, fields)
        .into_iter()
        .map(|v| v.trim_start_matches('+').to_string())
        .filter(|v| v.len() >= 4 && !software.contains(v.as_str()))
        .collect()
}
