//! The findings log (`--findings-log FILE`): each new finding as one JSON
//! line, the record `/api/exposures` serves ([`Entry`], serialised by the
//! same `Serialize`), for a log shipper (Vector, Promtail, Fluent Bit) to
//! carry to Loki or Elasticsearch from many sensors.
//!
//! Owner: `findings`. Invariants:
//! - The worker never waits: [`Sink::send`] is a `try_send` on a bounded
//!   channel ([`QUEUE`] entries) to the writer thread; a full queue drops
//!   the line and counts it (`sipsentinel_findings_log_dropped_total`).
//! - The file never grows past `max_bytes` (a line is never split): before
//!   a line that would cross it, `FILE` becomes `FILE.1`, `FILE.1` becomes
//!   `FILE.2`, ..., and `FILE.<keep>` is removed, as logrotate's default
//!   numbering, so shippers that follow renames (all three above) lose
//!   nothing. `-` is stdout, never rotated.
//! - Only what the store holds is written: pseudonyms and redacted
//!   evidence, never a raw value.

use super::Entry;
use crossbeam_channel::{Receiver, Sender, TrySendError};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Duration;

/// Lines queued for the writer before new ones are dropped.
pub const QUEUE: usize = 4096;

enum Msg {
    Line(Box<Entry>),
    /// Flush, then answer.
    Flush(Sender<()>),
}

/// Where the store sends new findings.
pub struct Sink {
    tx: Sender<Msg>,
    dropped: prometheus::IntCounter,
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("findings::log::Sink")
    }
}

impl Sink {
    /// Queue one line; never blocks.
    pub fn send(&self, e: Entry) {
        match self.tx.try_send(Msg::Line(Box::new(e))) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => self.dropped.inc(),
        }
    }

    /// Wait (at most `timeout`) until every queued line is written and
    /// flushed: before exit.
    pub fn flush(&self, timeout: Duration) {
        let (tx, rx) = crossbeam_channel::bounded(1);
        if self.tx.send_timeout(Msg::Flush(tx), timeout).is_ok() {
            let _ = rx.recv_timeout(timeout);
        }
    }
}

/// Size cap and rotation of a findings log file.
#[derive(Debug, Clone, Copy)]
pub struct Rotation {
    pub max_bytes: u64,
    /// Rotated files kept (`FILE.1` … `FILE.<keep>`), at least 1.
    pub keep: usize,
}

#[derive(Debug, thiserror::Error)]
#[error("findings log {path}: {source}")]
pub struct LogError {
    path: String,
    source: std::io::Error,
}

enum Out {
    Stdout(std::io::Stdout),
    File {
        path: PathBuf,
        w: std::io::BufWriter<std::fs::File>,
        size: u64,
        rot: Rotation,
    },
}

fn open(path: &Path) -> std::io::Result<(std::fs::File, u64)> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)?;
    let size = f.metadata()?.len();
    Ok((f, size))
}

/// `FILE.n`.
fn numbered(path: &Path, n: usize) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

impl Out {
    fn write_line(&mut self, line: &[u8]) -> std::io::Result<()> {
        match self {
            Out::Stdout(s) => s.lock().write_all(line),
            Out::File { path, w, size, rot } => {
                if *size > 0 && *size + line.len() as u64 > rot.max_bytes {
                    w.flush()?;
                    for n in (1..rot.keep).rev() {
                        let from = numbered(path, n);
                        if from.exists() {
                            std::fs::rename(&from, numbered(path, n + 1))?;
                        }
                    }
                    std::fs::rename(&*path, numbered(path, 1))?;
                    let (f, s) = open(path)?;
                    *w = std::io::BufWriter::new(f);
                    *size = s;
                }
                w.write_all(line)?;
                *size += line.len() as u64;
                Ok(())
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Out::Stdout(s) => s.lock().flush(),
            Out::File { w, .. } => w.flush(),
        }
    }
}

/// Open `path` (`-`: stdout) now, so a bad path is a startup error, and
/// start the writer thread. The thread ends when every [`Sink`] is gone.
pub fn start(
    path: &Path,
    rot: Rotation,
    dropped: prometheus::IntCounter,
) -> Result<(Sink, JoinHandle<()>), LogError> {
    let err = |source| LogError {
        path: path.display().to_string(),
        source,
    };
    let out = if path.as_os_str() == "-" {
        Out::Stdout(std::io::stdout())
    } else {
        let (f, size) = open(path).map_err(err)?;
        Out::File {
            path: path.to_owned(),
            w: std::io::BufWriter::new(f),
            size,
            rot: Rotation {
                max_bytes: rot.max_bytes,
                keep: rot.keep.max(1),
            },
        }
    };
    let (tx, rx) = crossbeam_channel::bounded(QUEUE);
    let d = dropped.clone();
    let h = std::thread::Builder::new()
        .name("findings-log".into())
        .spawn(move || writer(out, rx, d))
        .map_err(err)?;
    Ok((Sink { tx, dropped }, h))
}

fn writer(mut out: Out, rx: Receiver<Msg>, dropped: prometheus::IntCounter) {
    let mut failed = false;
    let mut line = Vec::with_capacity(512);
    while let Ok(mut msg) = rx.recv() {
        // Write what is queued, then flush once the queue is empty, so a
        // line reaches the file within one burst.
        loop {
            match msg {
                Msg::Line(e) => {
                    line.clear();
                    let ok = serde_json::to_writer(&mut line, &*e).is_ok() && {
                        line.push(b'\n');
                        true
                    };
                    match ok.then(|| out.write_line(&line)) {
                        Some(Ok(())) => failed = false,
                        Some(Err(e)) => {
                            dropped.inc();
                            if !failed {
                                // Once per run of failures; the error names
                                // no traffic value.
                                tracing::error!(error = %e, "cannot write the findings log; counting lost lines");
                            }
                            failed = true;
                        }
                        None => dropped.inc(),
                    }
                }
                Msg::Flush(ack) => {
                    let _ = out.flush();
                    let _ = ack.send(());
                }
            }
            match rx.try_recv() {
                Ok(m) => msg = m,
                Err(_) => break,
            }
        }
        let _ = out.flush();
    }
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: u64) -> Entry {
        Entry {
            kind: "software_version",
            severity: "low",
            field: "user_agent",
            sender: format!("ip-{i:08x}"),
            transport: "udp".into(),
            zone: "unknown".into(),
            count: 1,
            first_seen: i,
            last_seen: i,
            first_seen_utc: "1970-01-01T00:00:00Z".into(),
            last_seen_utc: "1970-01-01T00:00:00Z".into(),
            evidence: "User-Agent: Asterisk PBX 1.6".into(),
        }
    }

    #[test]
    fn rotates_at_the_cap_and_keeps_n_files() {
        let dir = std::env::temp_dir().join(format!("ss-flog-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("findings.jsonl");
        let dropped = prometheus::IntCounter::new("dropped_total", "test").unwrap();
        let rot = Rotation {
            max_bytes: 1000,
            keep: 2,
        };
        let (sink, h) = start(&path, rot, dropped.clone()).unwrap();
        for i in 0..40 {
            sink.send(entry(i));
        }
        sink.flush(Duration::from_secs(5));
        drop(sink);
        h.join().unwrap();
        assert_eq!(dropped.get(), 0);
        let mut lines = 0;
        for p in [path.clone(), numbered(&path, 1), numbered(&path, 2)] {
            let text = std::fs::read_to_string(&p).unwrap();
            assert!(text.len() <= 1000, "{}: {}", p.display(), text.len());
            for l in text.lines() {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                assert_eq!(v["kind"], "software_version");
                lines += 1;
            }
        }
        assert!(!numbered(&path, 3).exists());
        // The newest lines survive; the oldest rotated out.
        assert!((3..40).contains(&lines), "{lines}");
        let last = std::fs::read_to_string(&path).unwrap();
        assert!(last.contains("ip-00000027"), "{last}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn full_queue_drops_and_counts() {
        let dropped = prometheus::IntCounter::new("dropped_total", "test").unwrap();
        // A sink whose writer never reads.
        let (tx, _rx) = crossbeam_channel::bounded(1);
        let sink = Sink {
            tx,
            dropped: dropped.clone(),
        };
        sink.send(entry(1));
        sink.send(entry(2));
        sink.send(entry(3));
        assert_eq!(dropped.get(), 2);
    }
}
