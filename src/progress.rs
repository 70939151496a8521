//! Progress of reading capture files: a bar on a terminal for `audit`, a
//! log line every 10 s for `run --read`.
//!
//! Owner: `progress`. The capture thread adds to two atomics
//! in batches ([`ReadProgress::add_read`]); a separate thread reads them and draws or
//! logs, so the reader never waits on a terminal or a log sink.
//!
//! Bytes read are an estimate: libpcap does not expose its file offset
//! (the `pcap` crate has no `pcap_dump_ftell`/`ftell` on an offline handle,
//! and `pcap_file()` is not wrapped), so each frame counts its captured
//! length plus its record overhead: 16 bytes for a classic pcap record
//! header, 32 for a pcapng Enhanced Packet Block (28 bytes of header, the
//! trailing length, and the data padded to 4 bytes). Section, interface and
//! statistics blocks are not counted, so the estimate runs slightly behind;
//! at the end of each file it is snapped to the file's size.
//!
//! What is shown or logged holds no identifier: byte and frame counts,
//! rates and times only, never a file name or an address.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Per-record overhead of the capture format (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Classic pcap: a 16-byte record header.
    Pcap,
    /// pcapng: an Enhanced Packet Block, data padded to 4 bytes.
    Pcapng,
}

impl Format {
    /// The format of `path` from its first four bytes; unknown ⇒ pcap.
    pub fn of_file(path: &Path) -> Format {
        use std::io::Read as _;
        let mut magic = [0u8; 4];
        let ok = std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut magic));
        if ok.is_ok() && magic == [0x0a, 0x0d, 0x0d, 0x0a] {
            Format::Pcapng
        } else {
            Format::Pcap
        }
    }

    /// Bytes one record of `caplen` captured bytes takes in the file.
    pub fn record_bytes(self, caplen: usize) -> u64 {
        let caplen = caplen as u64;
        match self {
            Format::Pcap => 16 + caplen,
            Format::Pcapng => 32 + caplen.div_ceil(4) * 4,
        }
    }
}

/// Shared counters of one read of several files.
#[derive(Debug)]
pub struct ReadProgress {
    /// Size and format of each file, in reading order.
    files: Vec<(u64, Format)>,
    total: u64,
    /// Index of the file being read.
    current: AtomicUsize,
    /// Estimated bytes read, all files.
    bytes: AtomicU64,
    frames: AtomicU64,
    done: AtomicBool,
}

impl ReadProgress {
    /// Counters for reading `files` in order (sizes read now; a file that
    /// cannot be read counts 0 and fails later, where it is opened).
    pub fn new(files: &[PathBuf]) -> ReadProgress {
        let files: Vec<(u64, Format)> = files
            .iter()
            .map(|f| {
                let size = std::fs::metadata(f).map_or(0, |m| m.len());
                (size, Format::of_file(f))
            })
            .collect();
        ReadProgress {
            total: files.iter().map(|f| f.0).sum(),
            files,
            current: AtomicUsize::new(0),
            bytes: AtomicU64::new(0),
            frames: AtomicU64::new(0),
            done: AtomicBool::new(false),
        }
    }

    /// Reading of file `i` starts: the bytes of the files before it count
    /// as read whole.
    pub fn start_file(&self, i: usize) {
        let before: u64 = self.files.iter().take(i).map(|f| f.0).sum();
        self.current.store(i, Ordering::Relaxed);
        self.bytes.store(before, Ordering::Relaxed);
    }

    /// `n` frames with `caplen` captured bytes in all were read: the
    /// reader adds in batches (two atomic adds per frame cost more than
    /// the display is worth). pcapng padding is not counted here; the
    /// estimate is snapped to the file size when the file ends.
    pub fn add_read(&self, n: u64, caplen: u64) {
        let i = self.current.load(Ordering::Relaxed);
        let fmt = self.files.get(i).map_or(Format::Pcap, |f| f.1);
        let header = fmt.record_bytes(0);
        self.bytes.fetch_add(n * header + caplen, Ordering::Relaxed);
        self.frames.fetch_add(n, Ordering::Relaxed);
    }

    /// Reading ended (all files, or stopped early).
    pub fn finish(&self) {
        self.done.store(true, Ordering::Release);
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// Bytes read so far, at most the total.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed).min(self.total)
    }

    pub fn frames(&self) -> u64 {
        self.frames.load(Ordering::Relaxed)
    }

    fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }
}

/// Rate and remaining time from two readings `dt` apart.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub frames_per_sec: f64,
    /// Seconds left at the byte rate since the start; `None` before any byte.
    pub eta_secs: Option<u64>,
}

/// `frames` and `bytes` read in `elapsed` out of `total` bytes.
pub fn rate(frames: u64, bytes: u64, total: u64, elapsed: Duration) -> Rate {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 {
        return Rate {
            frames_per_sec: 0.0,
            eta_secs: None,
        };
    }
    let bps = bytes as f64 / secs;
    Rate {
        frames_per_sec: frames as f64 / secs,
        eta_secs: (bps > 0.0).then(|| (total.saturating_sub(bytes) as f64 / bps).ceil() as u64),
    }
}

/// A progress bar on stderr until `p` is finished; the caller checks that
/// stderr is a terminal (indicatif hides itself otherwise as well). The
/// last state stays on screen as one line.
pub fn spawn_bar(p: Arc<ReadProgress>) -> std::io::Result<JoinHandle<()>> {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    std::thread::Builder::new()
        .name("progress".into())
        .spawn(move || {
            let bar = ProgressBar::with_draw_target(
                Some(p.total()),
                ProgressDrawTarget::stderr_with_hz(10),
            );
            let style = ProgressStyle::with_template(
                "{bar:30} {bytes}/{total_bytes} {msg} ETA {eta} ({elapsed})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            let start = Instant::now();
            let show = |bar: &ProgressBar| {
                let r = rate(p.frames(), p.bytes(), p.total(), start.elapsed());
                bar.set_position(p.bytes());
                bar.set_message(format!("{:.0} packets/s", r.frames_per_sec));
            };
            show(&bar);
            bar.tick();
            while !p.is_done() {
                std::thread::sleep(Duration::from_millis(100));
                show(&bar);
            }
            show(&bar);
            bar.abandon();
        })
}

/// Log progress every `every` until `p` is finished (`run --read`): one
/// `info` record with counts, percent, rate and ETA.
pub fn spawn_log(p: Arc<ReadProgress>, every: Duration) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("progress".into())
        .spawn(move || {
            let start = Instant::now();
            let mut next = start + every;
            while !p.is_done() {
                std::thread::sleep(Duration::from_millis(100));
                if Instant::now() < next {
                    continue;
                }
                next += every;
                let (frames, bytes, total) = (p.frames(), p.bytes(), p.total());
                let r = rate(frames, bytes, total, start.elapsed());
                tracing::info!(
                    frames,
                    bytes_read = bytes,
                    bytes_total = total,
                    percent = format!("{:.1}", percent(bytes, total)),
                    packets_per_second = r.frames_per_sec.round() as u64,
                    eta_seconds = r.eta_secs,
                    "replay progress"
                );
            }
        })
}

fn percent(bytes: u64, total: u64) -> f64 {
    if total == 0 {
        100.0
    } else {
        bytes as f64 * 100.0 / total as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_overhead_per_format() {
        assert_eq!(Format::Pcap.record_bytes(60), 76);
        // pcapng EPB: 28 header + data padded to 4 + 4 trailing length.
        assert_eq!(Format::Pcapng.record_bytes(60), 92);
        assert_eq!(Format::Pcapng.record_bytes(61), 96);
    }

    #[test]
    fn rate_and_eta() {
        let r = rate(100, 1000, 3000, Duration::from_secs(2));
        assert_eq!(r.frames_per_sec, 50.0);
        assert_eq!(r.eta_secs, Some(4));
        assert_eq!(rate(0, 0, 10, Duration::ZERO).eta_secs, None);
        assert_eq!(rate(0, 0, 10, Duration::from_secs(1)).eta_secs, None);
    }

    #[test]
    fn estimate_is_capped_and_files_snap() {
        let dir = std::env::temp_dir().join(format!("ss-progress-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = dir.join("a.pcap");
        let b = dir.join("b.pcapng");
        std::fs::write(&a, vec![0u8; 100]).unwrap();
        let mut ng = vec![0x0a, 0x0d, 0x0d, 0x0a];
        ng.resize(200, 0);
        std::fs::write(&b, ng).unwrap();
        let p = ReadProgress::new(&[a, b]);
        assert_eq!(p.total(), 300);
        p.start_file(0);
        p.add_read(1, 10);
        assert_eq!(p.bytes(), 26);
        p.start_file(1);
        assert_eq!(p.bytes(), 100);
        p.add_read(1, 4);
        assert_eq!(p.bytes(), 136);
        p.add_read(100, 100 * 100);
        assert_eq!(p.bytes(), 300);
        assert_eq!(p.frames(), 102);
        let _ = std::fs::remove_dir_all(dir);
    }
}
