//! Liveness of the pipeline threads, for `/healthz` and
//! `sipsentinel_thread_up{thread}`.
//!
//! Owner: `health`. The pipeline registers what it starts (the capture
//! loop, each worker thread); the HTTP thread samples it about once a
//! second and on every `/healthz`. Nothing here runs on a hot path: the
//! capture loop bumps one counter about once a second, a worker thread is
//! observed from outside (its frame counter, its queue length) and marks
//! itself dead only while unwinding from a panic.
//!
//! A thread is unhealthy when it is
//! - dead: a worker thread panicked (its queue is gone; batches for it are
//!   counted as `pipeline_dropped_total{reason="worker_dead"}`), or
//! - stalled: a worker has had work queued for [`STALL_AFTER`] without
//!   processing a single frame, or the live capture loop, while capturing,
//!   has not come round for [`STALL_AFTER`].
//!
//! A worker that ended normally (the end of a replay) is neither: it is
//! no longer watched.
//!
//! Each capture loop (one per interface with several `--interface`) is
//! watched on its own, by name: `capture` for a single source, else
//! `capture_<interface>` (operator configuration, at most
//! `config::range::INTERFACES` of them, so a bounded label).

use prometheus::IntCounter;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a thread may make no progress while it has work before it is
/// reported stalled. The capture loop comes round at least once a second
/// (pcap's read timeout), a worker handles a batch in milliseconds; 10 s
/// is an order of magnitude above both, and still well within one
/// Prometheus scrape interval plus an alert's `for:`.
pub const STALL_AFTER: Duration = Duration::from_secs(10);

const RUNNING: u8 = 0;
const FINISHED: u8 = 1;
const DEAD: u8 = 2;

/// Length of a worker's queue, read from outside the worker.
pub type QueueLen = Box<dyn Fn() -> usize + Send + Sync>;

/// What one worker thread shares with the health checker.
pub struct WorkerState {
    status: AtomicU8,
    /// Frames processed (the worker's `worker_frames_total` handle).
    progress: IntCounter,
    /// Reads the queue length. Dropped when the thread ends: it holds a
    /// receiver of the worker's channel, and the channel must close when
    /// the worker dies so senders see it gone.
    queue: Mutex<Option<QueueLen>>,
}

impl WorkerState {
    fn queue_len(&self) -> usize {
        self.queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map_or(0, |f| f())
    }
}

/// Held by a worker thread for its whole life; on drop it records how the
/// thread ended (a panic unwinds through it: dead) and releases the queue
/// reader.
pub struct WorkerGuard(Arc<WorkerState>);

impl Drop for WorkerGuard {
    fn drop(&mut self) {
        let s = if std::thread::panicking() {
            DEAD
        } else {
            FINISHED
        };
        self.0.status.store(s, Ordering::Release);
        let f = self
            .0
            .queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        drop(f);
    }
}

struct Watched {
    index: usize,
    name: String,
    state: Arc<WorkerState>,
    last_progress: u64,
    last_ok: Instant,
}

#[derive(Default)]
pub struct Capture {
    /// Set while a capture source is open and being read.
    active: AtomicBool,
    /// Whether the loop is expected to beat: live capture only. A replay
    /// waits for the workers by design (back-pressure), so a slow worker
    /// would make it look stalled; the worker is reported instead.
    watched: AtomicBool,
    /// Bumped by the capture loop each time it comes round (about once a
    /// second while capturing).
    beats: AtomicU64,
}

struct WatchedCapture {
    name: String,
    state: Arc<Capture>,
    last_beats: u64,
    last_ok: Instant,
}

struct Sampled {
    workers: Vec<Watched>,
    captures: Vec<WatchedCapture>,
}

/// One capture loop's side of its health: held by the capture thread.
#[derive(Clone)]
pub struct CaptureProbe(Arc<Capture>);

impl CaptureProbe {
    /// The capture loop opened its source (`true`) or closed it.
    /// `watched`: whether it must beat (live capture) or not (a replay).
    pub fn active(&self, on: bool, watched: bool) {
        self.0.active.store(on, Ordering::Relaxed);
        self.0.watched.store(watched, Ordering::Relaxed);
        self.beat();
    }

    /// The capture loop came round (call about once a second).
    pub fn beat(&self) {
        self.0.beats.fetch_add(1, Ordering::Relaxed);
    }
}

struct Inner {
    sampled: Mutex<Sampled>,
    stall_after: Duration,
    thread_up: Option<prometheus::IntGaugeVec>,
}

/// Shared handle (cheap to clone).
#[derive(Clone)]
pub struct Health(Arc<Inner>);

/// The result of one check: empty `problems` means healthy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verdict {
    /// One short line each, e.g. `worker 1 dead`, `capture stalled`.
    pub problems: Vec<String>,
}

impl Verdict {
    pub fn healthy(&self) -> bool {
        self.problems.is_empty()
    }
}

impl Default for Health {
    fn default() -> Self {
        Health::new(None)
    }
}

impl Health {
    /// `thread_up`: the `sipsentinel_thread_up{thread}` family, set on
    /// every [`Health::check`].
    pub fn new(thread_up: Option<prometheus::IntGaugeVec>) -> Health {
        Health::with_stall_after(thread_up, STALL_AFTER)
    }

    pub fn with_stall_after(
        thread_up: Option<prometheus::IntGaugeVec>,
        stall_after: Duration,
    ) -> Health {
        Health(Arc::new(Inner {
            sampled: Mutex::new(Sampled {
                workers: Vec::new(),
                captures: Vec::new(),
            }),
            stall_after,
            thread_up,
        }))
    }

    fn sampled(&self) -> std::sync::MutexGuard<'_, Sampled> {
        self.0.sampled.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Watch worker `index` from now on (replacing an earlier worker of the
    /// same index: a later `audit` file set starts new ones). The guard must
    /// live on the worker thread for the thread's whole life.
    pub fn register_worker(
        &self,
        index: usize,
        progress: IntCounter,
        queue: QueueLen,
    ) -> WorkerGuard {
        let state = Arc::new(WorkerState {
            status: AtomicU8::new(RUNNING),
            progress,
            queue: Mutex::new(Some(queue)),
        });
        let mut g = self.sampled();
        g.workers.retain(|w| w.index != index);
        g.workers.push(Watched {
            index,
            name: worker_name(index),
            last_progress: state.progress.get(),
            state: state.clone(),
            last_ok: Instant::now(),
        });
        g.workers.sort_by_key(|w| w.index);
        WorkerGuard(state)
    }

    /// The capture loop named `name` (its `thread_up` label), watched from
    /// the first call on; the same name gives the same probe.
    pub fn capture(&self, name: &str) -> CaptureProbe {
        let mut g = self.sampled();
        if let Some(c) = g.captures.iter().find(|c| c.name == name) {
            return CaptureProbe(c.state.clone());
        }
        let state = Arc::new(Capture::default());
        g.captures.push(WatchedCapture {
            name: name.to_owned(),
            state: state.clone(),
            last_beats: 0,
            last_ok: Instant::now(),
        });
        CaptureProbe(state)
    }

    /// [`CaptureProbe::active`] of the single capture loop, `capture`.
    pub fn capture_active(&self, on: bool, watched: bool) {
        self.capture(CAPTURE).active(on, watched);
    }

    /// [`CaptureProbe::beat`] of the single capture loop, `capture`.
    pub fn beat(&self) {
        self.capture(CAPTURE).beat();
    }

    /// Sample every thread and say what is wrong; updates `thread_up`.
    pub fn check(&self) -> Verdict {
        self.check_at(Instant::now())
    }

    /// [`Health::check`] at a given instant (tests drive time).
    pub fn check_at(&self, now: Instant) -> Verdict {
        let mut problems = Vec::new();
        let stall = self.0.stall_after;
        let mut g = self.sampled();
        let mut up = Vec::with_capacity(g.workers.len() + g.captures.len());
        for c in &mut g.captures {
            let beats = c.state.beats.load(Ordering::Relaxed);
            let active = c.state.active.load(Ordering::Relaxed);
            let watched = c.state.watched.load(Ordering::Relaxed);
            if !active || !watched || beats != c.last_beats {
                c.last_beats = beats;
                c.last_ok = now;
            }
            let stalled = now.saturating_duration_since(c.last_ok) >= stall;
            if stalled {
                // `capture stalled`, `capture_eth1 stalled`.
                problems.push(format!("{} stalled", c.name));
            }
            up.push((c.name.clone(), active && !stalled));
        }
        for w in &mut g.workers {
            let status = w.state.status.load(Ordering::Acquire);
            let p = w.state.progress.get();
            // Progress, or nothing to do: not stalled. (The queue length is
            // read after the counter: a batch queued between the two reads
            // is judged at the next sample.)
            if p != w.last_progress || status != RUNNING || w.state.queue_len() == 0 {
                w.last_progress = p;
                w.last_ok = now;
            }
            let ok = match status {
                DEAD => {
                    problems.push(format!("worker {} dead", w.index));
                    false
                }
                FINISHED => false,
                _ if now.saturating_duration_since(w.last_ok) >= stall => {
                    problems.push(format!("worker {} stalled", w.index));
                    false
                }
                _ => true,
            };
            up.push((w.name.clone(), ok));
        }
        drop(g);
        if let Some(vec) = &self.0.thread_up {
            for (name, ok) in up {
                vec.with_label_values(&[&name]).set(i64::from(ok));
            }
        }
        Verdict { problems }
    }
}

/// Name of the capture loop when there is one source.
pub const CAPTURE: &str = "capture";

/// Name of the capture loop for `iface` when there are several:
/// `capture_eth1` (the interface name is operator configuration).
pub fn capture_name(iface: &str) -> String {
    format!("{CAPTURE}_{iface}")
}

/// Label value of worker `i`: `worker_0` … (bounded: at most 256 workers,
/// see `config::workers`).
fn worker_name(i: usize) -> String {
    format!("worker_{i}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn counter() -> IntCounter {
        IntCounter::new("x", "x").unwrap()
    }

    #[test]
    fn idle_worker_is_healthy_busy_unmoving_worker_is_stalled() {
        let h = Health::with_stall_after(None, Duration::from_secs(10));
        let progress = counter();
        let queued = Arc::new(AtomicUsize::new(0));
        let q = queued.clone();
        let _g = h.register_worker(
            1,
            progress.clone(),
            Box::new(move || q.load(Ordering::Relaxed)),
        );
        let t0 = Instant::now();
        assert!(h.check_at(t0).healthy());
        // Idle (empty queue) for a long time: healthy.
        assert!(h.check_at(t0 + Duration::from_secs(60)).healthy());
        // Work queued, progress moving: healthy.
        queued.store(3, Ordering::Relaxed);
        progress.inc();
        assert!(h.check_at(t0 + Duration::from_secs(65)).healthy());
        // Work queued, no progress for 10 s: stalled.
        assert!(h.check_at(t0 + Duration::from_secs(70)).healthy());
        let v = h.check_at(t0 + Duration::from_secs(75));
        assert_eq!(v.problems, vec!["worker 1 stalled".to_string()]);
        // Moves again: healthy.
        progress.inc();
        assert!(h.check_at(t0 + Duration::from_secs(76)).healthy());
    }

    #[test]
    fn capture_stalls_only_while_active() {
        let m = crate::metrics::Metrics::new();
        let h = Health::with_stall_after(Some(m.thread_up.clone()), Duration::from_secs(10));
        let t0 = Instant::now();
        assert!(h.check_at(t0 + Duration::from_secs(30)).healthy());
        h.capture_active(true, true);
        assert!(h.check_at(t0 + Duration::from_secs(31)).healthy());
        assert!(m
            .render()
            .contains("sipsentinel_thread_up{thread=\"capture\"} 1"));
        h.beat();
        assert!(h.check_at(t0 + Duration::from_secs(35)).healthy());
        let v = h.check_at(t0 + Duration::from_secs(45));
        assert_eq!(v.problems, vec!["capture stalled".to_string()]);
        assert!(m
            .render()
            .contains("sipsentinel_thread_up{thread=\"capture\"} 0"));
        h.capture_active(false, true);
        assert!(h.check_at(t0 + Duration::from_secs(46)).healthy());
        // A replay is not watched: no beat needed, but it is up.
        h.capture_active(true, false);
        assert!(h.check_at(t0 + Duration::from_secs(100)).healthy());
        assert!(m
            .render()
            .contains("sipsentinel_thread_up{thread=\"capture\"} 1"));
    }

    #[test]
    fn each_capture_loop_is_watched_by_name() {
        let m = crate::metrics::Metrics::new();
        let h = Health::with_stall_after(Some(m.thread_up.clone()), Duration::from_secs(10));
        let t0 = Instant::now();
        let a = h.capture(&capture_name("eth1"));
        let b = h.capture(&capture_name("eth2"));
        a.active(true, true);
        b.active(true, true);
        assert!(h.check_at(t0 + Duration::from_secs(1)).healthy());
        a.beat();
        let v = h.check_at(t0 + Duration::from_secs(12));
        assert_eq!(v.problems, vec!["capture_eth2 stalled".to_string()]);
        let r = m.render();
        assert!(
            r.contains("sipsentinel_thread_up{thread=\"capture_eth1\"} 1"),
            "{r}"
        );
        assert!(
            r.contains("sipsentinel_thread_up{thread=\"capture_eth2\"} 0"),
            "{r}"
        );
        assert!(!r.contains("thread=\"capture\""), "{r}");
    }

    #[test]
    fn panicking_worker_is_dead_finished_worker_is_not_watched() {
        let h = Health::default();
        let g0 = h.register_worker(0, counter(), Box::new(|| 0));
        let g1 = h.register_worker(1, counter(), Box::new(|| 5));
        let t = std::thread::spawn(move || {
            let _g = g1;
            panic!("test: worker dies");
        });
        assert!(t.join().is_err());
        assert_eq!(h.check().problems, vec!["worker 1 dead".to_string()]);
        drop(g0);
        assert_eq!(h.check().problems, vec!["worker 1 dead".to_string()]);
    }
}
