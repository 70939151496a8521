//! Capture-side batching and dispatch: frames are copied once into a batch
//! per worker, chosen by a symmetric flow hash so both directions of a flow
//! meet on one worker.
//!
//! Invariant: a live capture never blocks on a worker. When a worker's queue
//! is full the whole batch is dropped and counted
//! (`pipeline_dropped_total{reason="queue_full"}`); a file replay waits
//! instead, because nothing is lost by waiting and every frame must count.
//! A batch for a worker thread that has died (panicked) is dropped and
//! counted as `reason="worker_dead"`, in both modes, and a replay goes on
//! with the other workers (see `health`).

use crate::decode::{self, LinkType};
use crossbeam_channel::{Receiver, Sender, TrySendError};
use prometheus::IntCounter;
use std::sync::Arc;
use std::time::Duration;

/// Four random words from the OS for the dispatch hash key. Should the OS
/// refuse (no entropy source at all), ahash's own per-process random state
/// still keys the hash: the fallback is never a fixed, public seed.
///
/// Several dispatchers feeding the same workers (one capture thread per
/// interface) must share one key: see [`Dispatcher::seeded`].
pub fn random_seeds() -> [u64; 4] {
    let mut b = [0u8; 32];
    if getrandom::getrandom(&mut b).is_err() {
        let s = ahash::RandomState::new();
        return [0u64, 1, 2, 3].map(|i| s.hash_one(i));
    }
    let mut out = [0u64; 4];
    for (o, c) in out.iter_mut().zip(b.chunks_exact(8)) {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        *o = u64::from_le_bytes(w);
    }
    out
}

/// Position of one frame inside a batch buffer.
#[derive(Debug, Clone, Copy)]
pub struct FrameMeta {
    pub ts: Duration,
    pub off: u32,
    pub len: u32,
}

/// Frames for one worker, all of one link type, in one contiguous buffer.
pub struct Batch {
    pub link: LinkType,
    pub frames: Vec<FrameMeta>,
    pub buf: Vec<u8>,
}

impl Batch {
    fn new(link: LinkType, frames: usize) -> Batch {
        Batch {
            link,
            frames: Vec::with_capacity(frames),
            buf: Vec::with_capacity(frames * 256),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (Duration, &[u8])> {
        self.frames.iter().map(move |f| {
            let start = f.off as usize;
            let end = start + f.len as usize;
            (f.ts, self.buf.get(start..end).unwrap_or(&[]))
        })
    }
}

/// Spent batches on their way back from the workers to the capture
/// threads, so a batch's two buffers are allocated once and reused instead
/// of allocated by the capture thread and freed by a worker every 64 frames
/// (with the copy they were a tenth of the capture thread's time).
///
/// Bounded twice: at most `count` batches wait here (more are freed), and
/// a batch whose buffer grew past [`Spares::MAX_BYTES`] (a run of large
/// frames) is freed, not kept, so the pool holds at most
/// `count * MAX_BYTES` whatever the traffic was.
#[derive(Clone)]
pub struct Spares {
    tx: Sender<Batch>,
    rx: Receiver<Batch>,
}

impl Spares {
    /// Largest batch buffer kept for reuse: 64 full-size Ethernet frames.
    pub const MAX_BYTES: usize = 64 * 1536;

    pub fn new(count: usize) -> Spares {
        let (tx, rx) = crossbeam_channel::bounded(count.max(1));
        Spares { tx, rx }
    }

    /// A worker is done with `b`.
    pub fn put(&self, mut b: Batch) {
        if b.buf.capacity() > Self::MAX_BYTES {
            return;
        }
        b.frames.clear();
        b.buf.clear();
        // Full: this one is freed.
        let _ = self.tx.try_send(b);
    }

    fn take(&self, link: LinkType, frames: usize) -> Batch {
        match self.rx.try_recv() {
            Ok(mut b) => {
                b.link = link;
                b
            }
            Err(_) => Batch::new(link, frames),
        }
    }
}

/// What the capture thread sends to workers.
pub enum Msg {
    Batch(Batch),
    /// Capture time advanced (sent about once a second): expire state,
    /// publish table sizes.
    Tick(Duration),
    /// File replay only: every worker checks in here after the frames sent
    /// before it, so everything earlier in capture time has been processed
    /// by all workers before anything later (see `Dispatcher::barrier`).
    Barrier(Arrival),
    /// File replay only: capture time went backwards (the next file of an
    /// `audit` is another capture). End streams and drop per-worker flow
    /// state: the old timeline cannot continue into the new one.
    Reset(Duration),
}

/// One worker's part of a [`Dispatcher::barrier`]: the dispatcher waits
/// until every worker's `Arrival` is gone (handled: `wait`, then drop) or
/// that worker is dead (its flag, see [`Dispatcher::watch_deaths`]). A
/// `std::sync::Barrier` would wait for a dead worker forever: a message
/// queued to a dead worker is not dropped until the channel is freed.
pub struct Arrival {
    r: Arc<Rendezvous>,
    worker: usize,
}

struct Rendezvous {
    /// Workers whose `Arrival` is still out.
    pending: std::sync::Mutex<Vec<bool>>,
    done: std::sync::Condvar,
}

/// How often a barrier waiting on a worker looks whether it died.
const DEATH_POLL: Duration = Duration::from_millis(50);

impl Arrival {
    /// The worker has processed everything sent before this message.
    /// (Dropping says the same; `wait` keeps the worker's call site.)
    pub fn wait(&self) {}
}

impl Drop for Arrival {
    fn drop(&mut self) {
        let mut p = self.r.pending.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(x) = p.get_mut(self.worker) {
            *x = false;
        }
        if !p.contains(&true) {
            self.r.done.notify_all();
        }
    }
}

pub struct Dispatcher {
    senders: Vec<Sender<Msg>>,
    pending: Vec<Batch>,
    link: LinkType,
    batch_frames: usize,
    blocking: bool,
    queue_full: IntCounter,
    /// Random per start (see [`decode::FlowHasher`]).
    hasher: decode::FlowHasher,
    worker_dead: IntCounter,
    /// Per worker: set when its thread died (empty: not known).
    dead: Vec<Arc<std::sync::atomic::AtomicBool>>,
    /// Where spent batches come back from the workers (none: allocate).
    spares: Option<Spares>,
}

impl Dispatcher {
    pub fn new(
        senders: Vec<Sender<Msg>>,
        link: LinkType,
        batch_frames: usize,
        blocking: bool,
        queue_full: IntCounter,
        worker_dead: IntCounter,
    ) -> Dispatcher {
        let pending = (0..senders.len())
            .map(|_| Batch::new(link, batch_frames))
            .collect();
        Dispatcher {
            senders,
            pending,
            link,
            batch_frames,
            blocking,
            queue_full,
            hasher: decode::FlowHasher::new(random_seeds()),
            worker_dead,
            dead: Vec::new(),
            spares: None,
        }
    }

    /// Take new batches from `spares`, where the workers put the spent
    /// ones (see [`Spares`]).
    pub fn recycling(mut self, spares: Spares) -> Dispatcher {
        self.spares = Some(spares);
        self
    }

    /// Key the flow hash with `seeds` (from [`random_seeds`], drawn once
    /// per start) instead of a key of its own. Capture threads that feed
    /// the same workers must share it: a SPAN session may deliver the two
    /// directions of a flow on two ports, and both must meet on one worker.
    pub fn seeded(mut self, seeds: [u64; 4]) -> Dispatcher {
        self.hasher = decode::FlowHasher::new(seeds);
        self
    }

    /// Flags set when worker threads die (one per sender, in order), so a
    /// barrier stops waiting for a dead one.
    pub fn watch_deaths(mut self, dead: Vec<Arc<std::sync::atomic::AtomicBool>>) -> Dispatcher {
        self.dead = dead;
        self
    }

    /// A new source may have another link type: flush what is pending first.
    pub fn set_link(&mut self, link: LinkType) {
        if link != self.link {
            self.flush();
            self.link = link;
            for b in &mut self.pending {
                b.link = link;
            }
        }
    }

    pub fn push(&mut self, ts: Duration, data: &[u8]) {
        let n = self.senders.len();
        let w = if n <= 1 {
            0
        } else {
            // Headers read at fixed offsets for the common shape, the
            // full decoder for the rest (see `decode::quick`). A frame that
            // does not decode still goes somewhere (worker 0), where the
            // decode failure is counted once.
            let h = match decode::quick::flow_words(self.link, data) {
                Some(f) => Some(self.hasher.hash_flow(f)),
                None => match decode::decode(self.link, data) {
                    Ok(Some(p)) => Some(self.hasher.hash(&p)),
                    _ => None,
                },
            };
            // The hash scaled to 0..n (multiply and keep the high word)
            // rather than `h % n`: a 64-bit division was a tenth of the
            // capture thread.
            h.map_or(0, |h| ((u128::from(h) * n as u128) >> 64) as usize)
        };
        let Some(b) = self.pending.get_mut(w) else {
            return;
        };
        // Frames larger than u32 cannot come from libpcap; clamp defensively.
        let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        let off = u32::try_from(b.buf.len()).unwrap_or(u32::MAX);
        b.buf.extend_from_slice(&data[..len as usize]);
        b.frames.push(FrameMeta { ts, off, len });
        if b.frames.len() >= self.batch_frames {
            self.send(w);
        }
    }

    fn send(&mut self, w: usize) {
        let link = self.link;
        let frames = self.batch_frames;
        let Some(slot) = self.pending.get_mut(w) else {
            return;
        };
        if slot.frames.is_empty() {
            return;
        }
        let fresh = match &self.spares {
            Some(s) => s.take(link, frames),
            None => Batch::new(link, frames),
        };
        let batch = std::mem::replace(slot, fresh);
        let Some(tx) = self.senders.get(w) else {
            return;
        };
        // The dispatcher holds a sender, so the channel can only be
        // disconnected by its receiver going away: the worker thread died.
        if self.blocking {
            if let Err(e) = tx.send(Msg::Batch(batch)) {
                if let Msg::Batch(b) = e.0 {
                    self.worker_dead.inc_by(b.frames.len() as u64);
                }
            }
        } else {
            match tx.try_send(Msg::Batch(batch)) {
                Ok(()) => {}
                Err(TrySendError::Full(Msg::Batch(b))) => {
                    self.queue_full.inc_by(b.frames.len() as u64)
                }
                Err(TrySendError::Disconnected(Msg::Batch(b))) => {
                    self.worker_dead.inc_by(b.frames.len() as u64)
                }
                Err(_) => {}
            }
        }
    }

    /// Send every partial batch (read timeout, end of file, shutdown).
    pub fn flush(&mut self) {
        for w in 0..self.pending.len() {
            self.send(w);
        }
    }

    /// Flush, then wait until every worker has processed all it was sent.
    /// Used once per second of capture time when reading files, so state
    /// one worker writes (SDP endpoints, calls) is visible to the others in
    /// capture order, whatever the threads' relative speed: results do not
    /// depend on scheduling.
    ///
    /// A worker that dies meanwhile releases its part (see [`Arrival`]), so
    /// this never waits for a dead worker.
    pub fn barrier(&mut self) {
        self.flush();
        let r = Arc::new(Rendezvous {
            pending: std::sync::Mutex::new(vec![true; self.senders.len()]),
            done: std::sync::Condvar::new(),
        });
        for (worker, tx) in self.senders.iter().enumerate() {
            // A send to a dead worker fails and drops its Arrival at once.
            let _ = tx.send(Msg::Barrier(Arrival {
                r: r.clone(),
                worker,
            }));
        }
        let mut p = r.pending.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            for (x, d) in p.iter_mut().zip(&self.dead) {
                if d.load(std::sync::atomic::Ordering::Acquire) {
                    *x = false;
                }
            }
            if !p.contains(&true) {
                break;
            }
            p = r
                .done
                .wait_timeout(p, DEATH_POLL)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Send [`Msg::Reset`] to every worker and wait until all handled it.
    pub fn reset(&mut self, now: Duration) {
        self.flush();
        for tx in &self.senders {
            let _ = tx.send(Msg::Reset(now));
        }
        self.barrier();
    }

    pub fn tick(&mut self, now: Duration) {
        for tx in &self.senders {
            if self.blocking {
                let _ = tx.send(Msg::Tick(now));
            } else {
                // A dropped tick is harmless: the next one comes in a second.
                let _ = tx.try_send(Msg::Tick(now));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::frames::{addr, udp4};

    fn dispatcher(senders: &[Sender<Msg>], seeds: [u64; 4]) -> Dispatcher {
        Dispatcher::new(
            senders.to_vec(),
            LinkType::Ethernet,
            1,
            true,
            IntCounter::new("q", "q").unwrap(),
            IntCounter::new("d", "d").unwrap(),
        )
        .seeded(seeds)
    }

    /// Two capture threads (a SPAN session's two ports) with one key: the
    /// two directions of every flow, each seen on one port, meet on one
    /// worker.
    #[test]
    fn shared_seeds_send_both_directions_from_two_ports_to_one_worker() {
        let (txs, rxs): (Vec<_>, Vec<_>) = (0..8).map(|_| crossbeam_channel::unbounded()).unzip();
        let seeds = random_seeds();
        let mut port_a = dispatcher(&txs, seeds);
        let mut port_b = dispatcher(&txs, seeds);
        let n = 200u32;
        for i in 0..n {
            let (a, b) = (addr(10, i), addr(192, i));
            port_a.push(Duration::ZERO, &udp4(a, b, 5060, 5060, b"x"));
            port_b.push(Duration::ZERO, &udp4(b, a, 5060, 5060, b"x"));
        }
        drop((port_a, port_b, txs));
        // Per flow (its caller-side address), the workers it reached.
        let mut seen = std::collections::HashMap::<[u8; 4], Vec<usize>>::new();
        for (w, rx) in rxs.iter().enumerate() {
            for msg in rx.iter() {
                let Msg::Batch(batch) = msg else { continue };
                for (_, f) in batch.iter() {
                    let (src, dst) = (&f[26..30], &f[30..34]);
                    let key: [u8; 4] = if src[0] == 10 { src } else { dst }.try_into().unwrap();
                    seen.entry(key).or_default().push(w);
                }
            }
        }
        assert_eq!(seen.len(), n as usize);
        let mut used = std::collections::HashSet::new();
        for (k, ws) in &seen {
            assert_eq!(ws.len(), 2, "{k:?}");
            assert_eq!(ws[0], ws[1], "flow {k:?} split over two workers");
            used.insert(ws[0]);
        }
        assert!(used.len() > 1, "all flows on one worker");
    }
    /// The pool keeps at most `count` batches, none with a buffer above
    /// `MAX_BYTES`, and hands them out empty with the link asked for.
    #[test]
    fn spares_bound_count_and_bytes() {
        let sp = Spares::new(3);
        let max = Spares::MAX_BYTES;
        for (i, size) in [10usize, max + 1, max, 4 * max, 1, 2, 3, 5]
            .into_iter()
            .enumerate()
        {
            let mut b = Batch::new(LinkType::Ethernet, 4);
            b.buf.extend(std::iter::repeat_n(i as u8, size));
            b.frames.push(FrameMeta {
                ts: Duration::ZERO,
                off: 0,
                len: size as u32,
            });
            sp.put(b);
            assert!(sp.rx.len() <= 3);
        }
        let mut kept = Vec::new();
        while let Ok(b) = sp.rx.try_recv() {
            assert!(b.buf.capacity() <= max, "{}", b.buf.capacity());
            assert!(b.buf.is_empty() && b.frames.is_empty());
            kept.push(b);
        }
        // Five small batches were put: the count bound, not the bytes.
        assert_eq!(kept.len(), 3);
        for b in kept {
            sp.put(b);
        }
        for _ in 0..4 {
            let b = sp.take(LinkType::Raw, 4);
            assert_eq!(b.link, LinkType::Raw);
            assert!(b.buf.is_empty() && b.frames.is_empty());
            assert!(b.buf.capacity() <= max);
        }
        assert!(sp.rx.is_empty());
    }

    /// Batches going round (dispatcher -> worker -> spares -> dispatcher)
    /// carry exactly the frames pushed since the last send, whatever the
    /// frames in a buffer's earlier lives, and the pool stays bounded.
    #[test]
    fn recycled_batches_carry_only_their_frames() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let sp = Spares::new(2);
        let mut d = Dispatcher::new(
            vec![tx],
            LinkType::Ethernet,
            4,
            true,
            IntCounter::new("q", "q").unwrap(),
            IntCounter::new("d", "d").unwrap(),
        )
        .recycling(sp.clone());
        let mut rng = crate::testkit::random::Xorshift::new(0x5151_7a7a_0101_3c3c);
        let mut pushed: std::collections::VecDeque<(Duration, Vec<u8>)> = Default::default();
        for round in 0..400u32 {
            let x = rng.next_u64();
            // Mostly small frames, sometimes jumbo ones that outgrow
            // MAX_BYTES over a batch.
            let len = if x % 5 == 0 {
                30_000 + (x >> 8) as usize % 10_000
            } else {
                (x >> 8) as usize % 1500
            };
            let ts = Duration::from_micros(u64::from(round));
            let frame: Vec<u8> = (0..len).map(|j| (j as u32 ^ round) as u8).collect();
            d.push(ts, &frame);
            pushed.push_back((ts, frame));
            if round % 7 == 0 {
                d.flush();
            }
            while let Ok(msg) = rx.try_recv() {
                let Msg::Batch(b) = msg else { continue };
                assert!(!b.frames.is_empty());
                for (ts, f) in b.iter() {
                    let (wts, wf) = pushed.pop_front().expect("a frame pushed");
                    assert_eq!((ts, f), (wts, &wf[..]), "round {round}");
                }
                sp.put(b);
                assert!(sp.rx.len() <= 2);
            }
        }
        d.flush();
        drop(d);
        for msg in rx.iter() {
            let Msg::Batch(b) = msg else { continue };
            for (ts, f) in b.iter() {
                let (wts, wf) = pushed.pop_front().expect("a frame pushed");
                assert_eq!((ts, f), (wts, &wf[..]));
            }
        }
        assert!(pushed.is_empty());
        while let Ok(b) = sp.rx.try_recv() {
            assert!(b.buf.capacity() <= Spares::MAX_BYTES);
        }
    }
}
