//! Helpers shared by the robustness tests (`mutated`, `malformed_sip`,
//! `flood`, `scrape_storm`): writing pcap files, running `sipsentinel` under
//! a time and memory bound while measuring its peak RSS, and reading
//! Prometheus text. Use with `mod robust;`.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_sipsentinel")
}

/// A fresh directory under the temp dir, unique per process and label.
pub fn tmpdir(label: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sipsentinel-robust-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The third-party capture corpus: `$SIPSENTINEL_CORPUS`, else
/// `../shared/corpus` beside the repository. `None` (with a note) when it is
/// missing; under `CI=true` a missing corpus fails the test.
pub fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("SIPSENTINEL_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("capture corpus {} is missing (CI=true)", dir.display());
    }
    eprintln!(
        "note: capture corpus {} is missing; set SIPSENTINEL_CORPUS. Skipping.",
        dir.display()
    );
    None
}

/// Every capture in the corpus, sorted.
pub fn corpus_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.ends_with(".pcap") || n.ends_with(".pcapng") || n.ends_with(".cap")
        })
        .collect();
    v.sort();
    v
}

/// A classic pcap file (microsecond timestamps) written record by record.
pub struct PcapWriter {
    out: std::io::BufWriter<std::fs::File>,
    pub frames: u64,
}

impl PcapWriter {
    /// `linktype`: 1 Ethernet, 101 raw IP.
    pub fn create(path: &Path, linktype: u32) -> PcapWriter {
        let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
        let mut h = Vec::with_capacity(24);
        h.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&0i32.to_le_bytes());
        h.extend_from_slice(&0u32.to_le_bytes());
        h.extend_from_slice(&262_144u32.to_le_bytes());
        h.extend_from_slice(&linktype.to_le_bytes());
        out.write_all(&h).unwrap();
        PcapWriter { out, frames: 0 }
    }

    pub fn write(&mut self, ts: Duration, frame: &[u8]) {
        let mut r = Vec::with_capacity(16);
        r.extend_from_slice(&(ts.as_secs() as u32).to_le_bytes());
        r.extend_from_slice(&ts.subsec_micros().to_le_bytes());
        r.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        r.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        self.out.write_all(&r).unwrap();
        self.out.write_all(frame).unwrap();
        self.frames += 1;
    }

    pub fn finish(mut self) {
        self.out.flush().unwrap();
    }
}

/// An Ethernet/IPv4/UDP frame.
pub fn udp4(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let b = etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(src, dst, 64)
        .udp(sport, dport);
    let mut v = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut v, payload).unwrap();
    v
}

/// An Ethernet/IPv4/TCP frame (flags: `syn`, else ACK|PSH).
pub fn tcp4(
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    seq: u32,
    syn: bool,
    payload: &[u8],
) -> Vec<u8> {
    let b = etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(src, dst, 64)
        .tcp(sport, dport, seq, 65_535);
    let b = if syn { b.syn() } else { b.ack(1).psh() };
    let mut v = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut v, payload).unwrap();
    v
}

/// An Ethernet/IPv4 frame by hand (etherparse's builder has no fragments
/// and no SCTP); `flags_offset` is the IPv4 flags and fragment offset
/// word (0x2000 = MF, low 13 bits the offset in 8-byte units).
pub fn ipv4_frame(
    src: [u8; 4],
    dst: [u8; 4],
    proto: u8,
    id: u16,
    flags_offset: u16,
    payload: &[u8],
) -> Vec<u8> {
    let total = 20 + payload.len();
    let mut ip = vec![
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        (id >> 8) as u8,
        id as u8,
        (flags_offset >> 8) as u8,
        flags_offset as u8,
        64,
        proto,
        0,
        0,
    ];
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    let sum = (0..20)
        .step_by(2)
        .map(|i| u32::from(u16::from_be_bytes([ip[i], ip[i + 1]])))
        .sum::<u32>();
    let sum = (sum & 0xffff) + (sum >> 16);
    let sum = !(((sum & 0xffff) + (sum >> 16)) as u16);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    f.extend_from_slice(&ip);
    f.extend_from_slice(payload);
    f
}

/// What one bounded run of the binary gave.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// Peak resident set size of the process, KiB (GNU time `%M`).
    pub max_rss_kib: u64,
    pub elapsed: Duration,
    pub timed_out: bool,
}

/// Run `sipsentinel ARGS` with a wall-clock limit (`timeout -s KILL`) and an
/// address-space limit (`prlimit --as`), measuring peak RSS with GNU time
/// written to a file (so stderr stays the program's own).
pub fn run_bounded(args: &[&str], limit: Duration, as_mib: u64, scratch: &Path) -> Run {
    assert!(
        Path::new("/usr/bin/time").is_file(),
        "GNU time (/usr/bin/time, Debian package `time`) is needed to measure peak RSS"
    );
    let rss_file = scratch.join(format!(
        "rss-{}-{}.txt",
        std::process::id(),
        RUNS.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    ));
    let start = Instant::now();
    let out = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&rss_file)
        .arg("timeout")
        .args(["-s", "KILL", &format!("{}", limit.as_secs().max(1))])
        .arg("prlimit")
        .arg(format!("--as={}", as_mib * 1024 * 1024))
        .arg("--")
        .arg(bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run sipsentinel under time/timeout/prlimit");
    let elapsed = start.elapsed();
    let rss = std::fs::read_to_string(&rss_file).unwrap_or_default();
    let _ = std::fs::remove_file(&rss_file);
    // GNU time prints "Command terminated by signal N" before %M when killed.
    let max_rss_kib = rss
        .lines()
        .filter_map(|l| l.trim().parse::<u64>().ok())
        .next_back()
        .unwrap_or(0);
    let code = out.status.code();
    Run {
        timed_out: code == Some(137) || code == Some(124),
        code,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        max_rss_kib,
        elapsed,
    }
}

/// `sipsentinel audit --format prometheus --workers N` of `pcap` with
/// `limits` as the config file's `[limits]` section, under
/// [`run_bounded`] (10 min, `as_mib` of address space); the run must keep
/// the robustness contract and exit 0.
pub fn audit_with_limits(
    dir: &Path,
    pcap: &Path,
    limits: &str,
    workers: usize,
    as_mib: u64,
) -> Run {
    let cfg = dir.join("limits.toml");
    std::fs::write(&cfg, format!("[limits]\n{limits}\n")).unwrap();
    let run = run_bounded(
        &[
            "audit",
            &pcap.to_string_lossy(),
            "--format",
            "prometheus",
            "--workers",
            &workers.to_string(),
            "--config",
            &cfg.to_string_lossy(),
        ],
        Duration::from_secs(600),
        as_mib,
        dir,
    );
    assert_contract(&run, &pcap.display().to_string());
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    run
}

/// An IPv4 address in `net`.0.0.0/8 numbered `i` (distinct for i < 2^24).
pub fn addr(net: u8, i: u32) -> [u8; 4] {
    [net, (i >> 16) as u8, (i >> 8) as u8, i as u8]
}

static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The robustness contract of one run: it ended in time, printed no panic,
/// exited 0, or 1 with exactly one `sipsentinel: error:` line.
pub fn assert_contract(run: &Run, what: &str) {
    assert!(!run.timed_out, "{what}: killed by the time limit: {run:?}");
    assert!(
        !run.stderr.contains("panicked") && !run.stderr.contains("RUST_BACKTRACE"),
        "{what}: panic: {}",
        run.stderr
    );
    match run.code {
        Some(0) => {}
        Some(1) => {
            let errs: Vec<&str> = run
                .stderr
                .lines()
                .filter(|l| l.starts_with("sipsentinel: error:"))
                .collect();
            assert_eq!(
                errs.len(),
                1,
                "{what}: exit 1 wants one error line: {}",
                run.stderr
            );
        }
        other => panic!("{what}: exit status {other:?}: {}", run.stderr),
    }
}

/// Sum of the samples of `metric` whose label set contains every `k="v"`
/// of `labels` (Prometheus text format; `metric` is the full name).
pub fn sum_metric(text: &str, metric: &str, labels: &[(&str, &str)]) -> f64 {
    let mut sum = 0.0;
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let Some(rest) = line.strip_prefix(metric) else {
            continue;
        };
        let (lbls, value) = match rest.strip_prefix('{') {
            Some(r) => match r.split_once('}') {
                Some((l, v)) => (l, v),
                None => continue,
            },
            None if rest.starts_with(' ') => ("", rest),
            None => continue,
        };
        if labels
            .iter()
            .all(|(k, v)| lbls.split(',').any(|kv| kv == format!("{k}=\"{v}\"")))
        {
            sum += value.trim().parse::<f64>().unwrap_or(0.0);
        }
    }
    sum
}

/// `tshark -r FILE [-Y FILTER] -T fields -e F...`: one row per dissected
/// packet, one cell per field; a field that occurs several times in a
/// packet has its values joined by U+001E in its cell. Panics when tshark
/// is missing or fails.
pub fn tshark_fields(file: &Path, filter: Option<&str>, fields: &[&str]) -> Vec<Vec<String>> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(file);
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
        "tshark: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('\u{1f}').map(str::to_string).collect())
        .collect()
}
