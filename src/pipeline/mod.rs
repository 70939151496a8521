//! The only glue: threads, channels, capture loops, shutdown.
//!
//! Shape: one capture thread per source (per `--interface`: a SPAN session
//! may deliver the two directions on two ports) reads frames with libpcap, copies
//! each once into a per-worker batch (see `dispatch`), and sends batches over
//! bounded crossbeam channels; N worker threads (see `worker`) decode and
//! analyse. Files are read with back-pressure (every frame counts); live
//! interfaces never block (full queue ⇒ counted drop), are polled for
//! `pcap_stats` about once a second, and are reopened with backoff when they
//! fail, with `capture_up` following. Every thread started here is watched
//! by `health` (`/healthz`): each live capture loop beats about once a
//! second, each worker is registered with its frame counter and queue
//! length. Several capture threads feed the same workers with one dispatch
//! key and each send their own ticks; a worker takes a tick behind the last
//! one (another port's clock read a moment earlier) as nothing to do.

pub mod contract;
pub mod counters;
pub mod dispatch;
pub mod worker;

pub use contract::metric_contract;

use crate::capture::{CaptureError, LiveOptions, Next, Source};
use crate::config::{Limits, Settings};
use crate::decode::LinkType;
use crate::metrics::{DropReason, Metrics};
use crossbeam_channel::Sender;
use dispatch::{Dispatcher, Msg};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

/// What the pipeline shares with the rest of the process: the registry,
/// the findings store (read by `/api/exposures` and the audit report),
/// the zones (replaced on SIGHUP) and the threads' health (`/healthz`).
#[derive(Clone)]
pub struct Context {
    pub metrics: Metrics,
    pub store: Arc<crate::findings::Store>,
    pub zones: Arc<std::sync::RwLock<crate::exposure::Zones>>,
    pub health: crate::health::Health,
}

/// Running worker threads and the senders that feed them.
pub struct Workers {
    senders: Vec<Sender<Msg>>,
    handles: Vec<JoinHandle<()>>,
    shared: Arc<worker::Shared>,
    /// Per worker: set if its thread panicked.
    dead: Vec<Arc<AtomicBool>>,
    spares: dispatch::Spares,
}

/// Lives on a worker thread; marks the worker dead if the thread unwinds.
struct DeathFlag(Arc<AtomicBool>);

impl Drop for DeathFlag {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::Release);
        }
    }
}

impl Workers {
    pub fn start(n: usize, ctx: &Context, limits: &Limits) -> std::io::Result<Workers> {
        Workers::start_inner(n, ctx, limits, None)
    }

    /// `panic_worker` (tests only): that worker panics on its first
    /// message, as a bug would, to test what follows a dead worker.
    fn start_inner(
        n: usize,
        ctx: &Context,
        limits: &Limits,
        panic_worker: Option<usize>,
    ) -> std::io::Result<Workers> {
        let metrics = &ctx.metrics;
        let mut senders = Vec::with_capacity(n);
        let mut handles = Vec::with_capacity(n);
        let mut dead = Vec::with_capacity(n);
        let shared = Arc::new(worker::Shared::new(
            limits,
            ctx.store.clone(),
            ctx.zones.clone(),
        ));
        // A few spent batches per worker are enough: one goes back as the
        // capture thread takes one.
        let spares = dispatch::Spares::new(4 * n.max(1));
        for i in 0..n.max(1) {
            let (tx, rx) = crossbeam_channel::bounded(limits.queue_batches);
            let w = worker::Worker::new(i, metrics, limits, shared.clone());
            // The health checker reads the queue length through its own
            // receiver, which the guard drops when the thread ends, so the
            // channel closes with the worker (senders then see it dead).
            let peek = rx.clone();
            let guard = ctx.health.register_worker(
                i,
                metrics.worker_frames.with_label_values(&[&i.to_string()]),
                Box::new(move || peek.len()),
            );
            let flag = Arc::new(AtomicBool::new(false));
            dead.push(flag.clone());
            let spare = spares.clone();
            let h = std::thread::Builder::new()
                .name(format!("worker-{i}"))
                .spawn(move || {
                    let _guard = guard;
                    let _flag = DeathFlag(flag);
                    // Dropped before the guards (the channel closes once
                    // both this and the health checker's reader are gone).
                    let rx = rx;
                    if panic_worker == Some(i) {
                        let _ = rx.recv();
                        panic!("test: worker {i} panics");
                    }
                    w.run(rx, Some(spare))
                })?;
            senders.push(tx);
            handles.push(h);
        }
        Ok(Workers {
            senders,
            handles,
            shared,
            dead,
            spares,
        })
    }

    pub fn senders(&self) -> Vec<Sender<Msg>> {
        self.senders.clone()
    }

    /// The pool the workers return spent batches to (see
    /// [`dispatch::Spares`]), for `Dispatcher::recycling`.
    pub fn spares(&self) -> dispatch::Spares {
        self.spares.clone()
    }

    /// Per worker, in the order of [`Workers::senders`]: set if it died.
    pub fn dead_flags(&self) -> Vec<Arc<AtomicBool>> {
        self.dead.clone()
    }

    /// Close the channels and wait until every worker drained its queue;
    /// then end the calls whose BYE was seen (no other leg can still come).
    pub fn finish(self, metrics: &Metrics) {
        drop(self.senders);
        for h in self.handles {
            // A worker that panicked already lost its frames; the others'
            // counts still stand, so keep going.
            let _ = h.join();
        }
        let mut events = Vec::new();
        self.shared.calls.close_all(&mut events);
        worker::count_call_events(metrics, events);
    }
}

fn link_of(src: &Source) -> Result<LinkType, CaptureError> {
    let dlt = src.datalink();
    LinkType::from_dlt(dlt).ok_or_else(|| CaptureError::UnsupportedLinkType {
        dlt,
        name: src.datalink_name(),
        what: src.describe(),
    })
}

/// Outcome of reading files: how many frames, and the first error met
/// after reading had started (a truncated file), if any.
pub struct FilesOutcome {
    pub frames: u64,
    pub error: Option<CaptureError>,
}

/// Read capture files through the pipeline, in order, with back-pressure.
/// Every file is opened and checked before any is read, so a bad argument
/// fails before any output.
/// Queue depth per worker when reading files (see `read_files`).
const FILE_QUEUE_BATCHES: usize = 64;

pub fn read_files(
    files: &[PathBuf],
    settings: &Settings,
    ctx: &Context,
    shutdown: &AtomicBool,
) -> Result<FilesOutcome, CaptureError> {
    read_files_with(files, settings, ctx, shutdown, None)
}

/// [`read_files`], counting what is read into `progress` (see `progress`).
pub fn read_files_with(
    files: &[PathBuf],
    settings: &Settings,
    ctx: &Context,
    shutdown: &AtomicBool,
    progress: Option<&crate::progress::ReadProgress>,
) -> Result<FilesOutcome, CaptureError> {
    let metrics = &ctx.metrics;
    let mut sources = Vec::with_capacity(files.len());
    for f in files {
        let s = Source::open_file(f)?;
        let link = link_of(&s)?;
        sources.push((s, link));
    }
    // A file reader waits for the workers instead of dropping, so a deep
    // queue buys nothing: it would only hold up to queue_batches batches
    // of frames per worker in memory (about 5 MiB each at the defaults).
    let limits = Limits {
        queue_batches: settings.limits.queue_batches.min(FILE_QUEUE_BATCHES),
        ..settings.limits.clone()
    };
    let workers =
        Workers::start(settings.workers, ctx, &limits).map_err(|e| CaptureError::Live {
            name: "workers".into(),
            detail: e.to_string(),
        })?;
    let first_link = sources.first().map(|s| s.1).unwrap_or(LinkType::Ethernet);
    let mut disp = Dispatcher::new(
        workers.senders(),
        first_link,
        settings.limits.batch_frames,
        true,
        metrics.dropped(DropReason::QueueFull),
        metrics.dropped(DropReason::WorkerDead),
    )
    .watch_deaths(workers.dead_flags())
    .recycling(workers.spares());
    let packets = metrics.capture_packets.with_label_values(&["file"]);
    let bytes = metrics.capture_bytes.with_label_values(&["file"]);
    let up = metrics.capture_up.with_label_values(&["file"]);
    up.set(1);
    let health = &ctx.health;
    health.capture_active(true, false);
    let mut frames = 0u64;
    let mut counted = 0u64;
    let mut pending_bytes = 0u64;
    // Frames and captured bytes read since the last call reach the
    // counters and the progress display in batches (see below).
    let publish = |n: u64, caplen: u64| {
        packets.inc_by(n);
        bytes.inc_by(caplen);
        if let Some(p) = progress {
            p.add_read(n, caplen);
        }
    };
    let mut error = None;
    let mut last_tick = Duration::ZERO;
    'files: for (i, (mut src, link)) in sources.into_iter().enumerate() {
        disp.set_link(link);
        if let Some(p) = progress {
            p.start_file(i);
        }
        loop {
            if shutdown.load(Ordering::Relaxed) {
                break 'files;
            }
            match src.next_frame() {
                Ok(Next::Frame { ts, data, .. }) => {
                    frames += 1;
                    // Counted here and added to the shared counters every
                    // 4,096 frames and at the end (two atomic adds per
                    // frame were 3 % of the capture thread).
                    pending_bytes += data.len() as u64;
                    if frames % 4096 == 0 {
                        publish(frames - counted, std::mem::take(&mut pending_bytes));
                        counted = frames;
                    }
                    // Synchronise before a frame a second or more later in
                    // capture time than the last barrier: see
                    // `Dispatcher::barrier`.
                    if ts < last_tick {
                        // Time went backwards: the next file is another
                        // capture (or one stitched out of order). Results
                        // must not depend on how threads interleave two
                        // timelines, so the state of the first ends here.
                        disp.reset(ts);
                        let mut events = Vec::new();
                        workers.shared.calls.end_all(&mut events);
                        worker::count_call_events(metrics, events);
                        workers.shared.endpoints.clear();
                        last_tick = ts;
                        disp.tick(ts);
                    } else if ts >= last_tick + Duration::from_secs(1) {
                        last_tick = ts;
                        disp.barrier();
                        disp.tick(ts);
                    }
                    disp.push(ts, data);
                }
                Ok(Next::Timeout | Next::Empty) => {}
                Ok(Next::Eof) => {
                    publish(frames - counted, std::mem::take(&mut pending_bytes));
                    counted = frames;
                    if let Some(p) = progress {
                        p.start_file(i + 1);
                    }
                    break;
                }
                Err(e) => {
                    error.get_or_insert(e);
                    break;
                }
            }
        }
    }
    publish(frames - counted, pending_bytes);
    disp.flush();
    drop(disp);
    health.capture_active(false, false);
    workers.finish(metrics);
    up.set(0);
    Ok(FilesOutcome { frames, error })
}

/// Longest wait between reopen attempts: a flapping mirror port resumes
/// within about a second, and one failed open a second costs nothing.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

fn wall_now() -> Duration {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
}

/// Capture live until `shutdown`, one capture thread per interface (a SPAN
/// session may deliver the two directions on two ports), all feeding the
/// same workers through dispatchers keyed alike, so both directions of a
/// flow meet on one worker. Every interface must open at first (a wrong
/// name or a missing capability is a startup error); after that, failures
/// set that interface's `capture_up` to 0 and it is reopened with
/// exponential backoff (100 ms … 1 s), never spinning, never exiting,
/// while the others go on.
///
/// `opened` runs once, after every interface is open and before any
/// pipeline thread starts: the place to drop privileges (they are needed
/// only to open) and start serving.
pub fn capture_live(
    ifaces: &[String],
    settings: &Settings,
    ctx: &Context,
    shutdown: Arc<AtomicBool>,
    opened: impl FnOnce() -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let metrics = &ctx.metrics;
    let opts = LiveOptions {
        buffer_bytes: i32::try_from(u64::from(settings.buffer_mib) << 20).unwrap_or(i32::MAX),
        filter: settings.filter.clone(),
        ..LiveOptions::default()
    };
    let mut sources = Vec::with_capacity(ifaces.len());
    for iface in ifaces {
        let src = Source::open_live(iface, &opts)?;
        let link = link_of(&src)?;
        sources.push((iface.as_str(), src, link));
    }
    opened()?;
    let workers = Workers::start(settings.workers, ctx, &settings.limits).map_err(|e| {
        CaptureError::Live {
            name: "workers".into(),
            detail: e.to_string(),
        }
    })?;
    // One key for every capture thread: see `Dispatcher::seeded`.
    let seeds = dispatch::random_seeds();
    let single = sources.len() == 1;
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let mut threads = Vec::with_capacity(sources.len());
        for (iface, src, link) in sources {
            let disp = Dispatcher::new(
                workers.senders(),
                link,
                settings.limits.batch_frames,
                false,
                metrics.dropped(DropReason::QueueFull),
                metrics.dropped(DropReason::WorkerDead),
            )
            .seeded(seeds)
            .watch_deaths(workers.dead_flags())
            .recycling(workers.spares());
            // `capture` alone keeps today's name for one interface.
            let probe = if single {
                ctx.health.capture(crate::health::CAPTURE)
            } else {
                ctx.health.capture(&crate::health::capture_name(iface))
            };
            let live = Live {
                iface,
                opts: &opts,
                settings,
                metrics,
                health: probe,
                shutdown: &shutdown,
            };
            let spawned = std::thread::Builder::new()
                .name(format!("capture-{iface}"))
                .spawn_scoped(scope, move || live.run(src, link, disp));
            match spawned {
                Ok(h) => threads.push((iface, h)),
                Err(e) => {
                    // Stop the ones already started, then report.
                    shutdown.store(true, Ordering::Relaxed);
                    for (_, h) in threads {
                        let _ = h.join();
                    }
                    return Err(anyhow::Error::new(e).context("cannot start capture thread"));
                }
            }
        }
        for (iface, h) in threads {
            if h.join().is_err() {
                tracing::error!(interface = iface, "capture thread panicked");
            }
        }
        Ok(())
    })?;
    workers.finish(metrics);
    Ok(())
}

/// One interface's capture loop (its own thread).
struct Live<'a> {
    iface: &'a str,
    opts: &'a LiveOptions,
    settings: &'a Settings,
    metrics: &'a Metrics,
    health: crate::health::CaptureProbe,
    shutdown: &'a AtomicBool,
}

impl Live<'_> {
    fn run(self, mut src: Source, mut link: LinkType, mut disp: Dispatcher) {
        let Live {
            iface,
            opts,
            settings,
            metrics,
            health,
            shutdown,
        } = self;
        let source = iface;
        let packets = metrics.capture_packets.with_label_values(&[source]);
        let bytes = metrics.capture_bytes.with_label_values(&[source]);
        let kdrop = metrics.capture_kernel_dropped.with_label_values(&[source]);
        let ifdrop = metrics
            .capture_interface_dropped
            .with_label_values(&[source]);
        let up = metrics.capture_up.with_label_values(&[source]);
        let reopens = metrics.capture_reopens.with_label_values(&[source]);
        tracing::info!(
            interface = iface,
            datalink = link_name(link),
            workers = settings.workers,
            listen = %settings.listen,
            "capturing"
        );
        up.set(1);
        health.active(true, true);
        let mut last = crate::capture::Stats::default();
        let mut last_stats = Instant::now();
        let mut backoff = Duration::from_millis(100);
        'outer: while !shutdown.load(Ordering::Relaxed) {
            // Frames read since the clock and the shutdown flag were last
            // checked: they are checked when the ring is empty and every 256
            // frames, not per frame (clock_gettime was 2.5 % of the capture
            // thread at 300,000 pps).
            let mut frames_since = 0u32;
            let failure = loop {
                if frames_since == 0 || frames_since >= 256 {
                    frames_since = 0;
                    if shutdown.load(Ordering::Relaxed) {
                        break 'outer;
                    }
                }
                if frames_since == 0 && last_stats.elapsed() >= Duration::from_secs(1) {
                    last_stats = Instant::now();
                    health.beat();
                    if let Some(s) = src.stats() {
                        // pcap_stats counters are u32 and wrap; take deltas.
                        kdrop.inc_by(u64::from(s.dropped.wrapping_sub(last.dropped)));
                        ifdrop.inc_by(u64::from(s.if_dropped.wrapping_sub(last.if_dropped)));
                        last = s;
                    }
                    disp.flush();
                    disp.tick(wall_now());
                    if crate::capture::link_is_up(iface) == Some(false) {
                        break CaptureError::InterfaceDown {
                            name: iface.to_owned(),
                            detail: "link is down or gone".into(),
                        };
                    }
                }
                match src.next_frame() {
                    Ok(Next::Frame { ts, data, .. }) => {
                        packets.inc();
                        bytes.inc_by(data.len() as u64);
                        disp.push(ts, data);
                        backoff = Duration::from_millis(100);
                        frames_since += 1;
                    }
                    Ok(Next::Timeout) => {
                        disp.flush();
                        frames_since = 0;
                    }
                    Ok(Next::Empty) => frames_since = 0,
                    Ok(Next::Eof) => {
                        break CaptureError::Live {
                            name: iface.to_owned(),
                            detail: "capture ended".into(),
                        }
                    }
                    Err(e) => break e,
                }
            };
            up.set(0);
            // Not capturing while reopening: no beat is expected.
            health.active(false, true);
            disp.flush();
            tracing::warn!(interface = iface, error = %failure, "capture failed; reopening");
            // Reopen with backoff; sleep in small steps so shutdown stays prompt.
            // While the link is known to be down, its state (one sysfs read)
            // is checked at every step too, so capture resumes within about
            // 50 ms of the link coming back rather than after the backoff.
            let mut link_down = false;
            loop {
                let until = Instant::now() + backoff;
                while Instant::now() < until {
                    if shutdown.load(Ordering::Relaxed) {
                        break 'outer;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                    if link_down && crate::capture::link_is_up(iface) == Some(true) {
                        break;
                    }
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                reopens.inc();
                link_down = crate::capture::link_is_up(iface) == Some(false);
                if link_down {
                    tracing::debug!(retry_in_ms = backoff.as_millis() as u64, "link still down");
                    continue;
                }
                match Source::open_live(iface, opts) {
                    Err(e @ CaptureError::Permission { .. }) if settings.user.is_some() => {
                        // After --user there is no capability left to reopen
                        // with (as with tcpdump -Z); say so once a minute at
                        // most, keep capture_up at 0, keep serving.
                        if reopens.get() % 60 == 1 {
                            tracing::error!(error = %e, "cannot reopen after dropping privileges; restart the sensor, or run it under systemd with CAP_NET_RAW instead of --user");
                        }
                    }
                    Ok(s) => {
                        src = s;
                        match link_of(&src) {
                            Ok(l) => {
                                link = l;
                                disp.set_link(link);
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "reopened with an unsupported link type");
                                continue;
                            }
                        }
                        last = crate::capture::Stats::default();
                        up.set(1);
                        health.active(true, true);
                        tracing::info!(interface = iface, "capture reopened");
                        continue 'outer;
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, retry_in_ms = backoff.as_millis() as u64, "reopen failed");
                    }
                }
            }
        }
        up.set(0);
        health.active(false, true);
        disp.flush();
    }
}

fn link_name(l: LinkType) -> &'static str {
    match l {
        LinkType::Ethernet => "ethernet",
        LinkType::LinuxSll => "linux_sll",
        LinkType::LinuxSll2 => "linux_sll2",
        LinkType::Raw | LinkType::Ipv4 | LinkType::Ipv6 => "raw_ip",
        LinkType::Null | LinkType::Loop => "loopback",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        let metrics = Metrics::new();
        Context {
            health: crate::health::Health::new(Some(metrics.thread_up.clone())),
            store: Arc::new(crate::findings::Store::with_key(
                &[1u8; 32],
                crate::findings::StoreConfig::default(),
            )),
            zones: Arc::new(std::sync::RwLock::new(
                crate::exposure::Zones::new(Vec::new()).unwrap(),
            )),
            metrics,
        }
    }

    /// A worker that panics turns /healthz to 503 naming it, its batches
    /// are counted as worker_dead drops, and a replay's barrier does not
    /// wait for it.
    #[test]
    fn dead_worker_makes_healthz_503_and_its_batches_count_as_drops() {
        let ctx = ctx();
        let l = crate::http::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = l.local_addr().unwrap();
        crate::http::spawn_with(
            l,
            ctx.metrics.clone(),
            crate::http::Options {
                store: Some(ctx.store.clone()),
                health: Some(ctx.health.clone()),
                web: None,
            },
        )
        .unwrap();
        let r = crate::http::tests::get(addr, "/healthz");
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");

        let limits = Limits::default();
        let workers = Workers::start_inner(2, &ctx, &limits, Some(1)).unwrap();
        let mut disp = Dispatcher::new(
            workers.senders(),
            LinkType::Ethernet,
            1,
            true,
            ctx.metrics.dropped(DropReason::QueueFull),
            ctx.metrics.dropped(DropReason::WorkerDead),
        )
        .watch_deaths(workers.dead_flags());
        // Frames that do not decode all go to worker 0; make worker 1 get
        // some by sending from many (fake) flows. Junk frames are fine: the
        // point is where they are sent.
        // Ethernet + IPv4 (20 bytes, total length 46) + UDP (length 26).
        let mut frame = vec![0u8; 60];
        frame[12] = 0x08;
        frame[14] = 0x45;
        frame[17] = 46;
        frame[22] = 64;
        frame[23] = 17;
        frame[26..30].copy_from_slice(&[192, 0, 2, 1]);
        frame[30..34].copy_from_slice(&[192, 0, 2, 2]);
        frame[35] = 80;
        frame[37] = 81;
        frame[39] = 26;
        for i in 0..64u8 {
            frame[29] = i; // source address
            frame[34] = i; // source port
            disp.push(Duration::from_secs(1), &frame);
        }
        // Must not hang on the dead worker.
        disp.barrier();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let r = crate::http::tests::get(addr, "/healthz");
            if r.starts_with("HTTP/1.1 503") {
                assert!(r.ends_with("unhealthy: worker 1 dead\n"), "{r}");
                break;
            }
            assert!(Instant::now() < deadline, "{r}");
            std::thread::sleep(Duration::from_millis(50));
        }
        for i in 0..64u8 {
            frame[29] = i;
            frame[34] = i;
            disp.push(Duration::from_secs(2), &frame);
        }
        disp.flush();
        assert!(ctx.metrics.dropped(DropReason::WorkerDead).get() > 0);
        let m = crate::http::tests::get(addr, "/metrics");
        assert!(
            m.contains("sipsentinel_thread_up{thread=\"worker_1\"} 0"),
            "{m}"
        );
        assert!(
            m.contains("sipsentinel_thread_up{thread=\"worker_0\"} 1"),
            "{m}"
        );
        drop(disp);
        workers.finish(&ctx.metrics);
    }
}
