//! IPv4/IPv6 fragment reassembly with a bounded pool (RFC 791 §3.2, RFC 8200 §4.5).
//!
//! Owner: `decode`. Invariant: at most `max_datagrams` datagrams in flight,
//! each at most `max_datagram_bytes`; anything past a bound is dropped and
//! reported in [`DefragStats`], never kept. Parses no bytes (the caller gives
//! [`super::Fragment`]s).

use super::{Fragment, Net};
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct DefragConfig {
    pub max_datagrams: usize,
    pub max_datagram_bytes: usize,
    pub timeout: Duration,
}

impl Default for DefragConfig {
    fn default() -> Self {
        DefragConfig { max_datagrams: 4096, max_datagram_bytes: 65_535, timeout: Duration::from_secs(30) }
    }
}

/// Counts since the last [`Defrag::take_stats`]; the caller turns them into metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DefragStats {
    pub reassembled: u64,
    /// Datagrams dropped because the pool was full (`pipeline_dropped_total{reason="defrag_overflow"}`).
    pub overflow: u64,
    /// Datagrams dropped because they exceeded `max_datagram_bytes` or had inconsistent fragments.
    pub invalid: u64,
    /// Incomplete datagrams dropped by timeout.
    pub timed_out: u64,
}

pub enum DefragOutcome {
    /// Kept, waiting for more fragments (or dropped: see stats).
    Pending,
    /// The whole transport payload of the datagram (owned: it spans frames).
    Complete(Vec<u8>),
}

pub struct Defrag {
    _cfg: DefragConfig,
}

impl Defrag {
    pub fn new(cfg: DefragConfig) -> Self {
        Defrag { _cfg: cfg }
    }
    /// `now` is the capture timestamp (time since the epoch), not wall time.
    pub fn push(&mut self, net: &Net, frag: &Fragment<'_>, now: Duration) -> DefragOutcome {
        let _ = (net, frag, now);
        todo!()
    }
    /// Drop datagrams older than the timeout; call about once a second of capture time.
    pub fn expire(&mut self, now: Duration) {
        let _ = now;
        todo!()
    }
    pub fn len(&self) -> usize {
        todo!()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn take_stats(&mut self) -> DefragStats {
        todo!()
    }
}
