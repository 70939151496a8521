//! Bounded TCP stream reassembly, one direction at a time.
//!
//! Owner: `decode`. Invariant: at most `max_streams` directions tracked and at
//! most `max_buffer` unconsumed bytes each (in-order plus out-of-order);
//! retransmitted bytes are delivered once; a hole that does not fill is
//! skipped (a gap, counted) so the consumer can resynchronise. Each stream
//! carries an application state `A` so the consumer needs no second table.

use super::TcpSegment;
use std::net::IpAddr;
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct TcpConfig {
    pub max_streams: usize,
    pub max_buffer: usize,
    pub max_out_of_order_segments: usize,
    pub idle_timeout: Duration,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            max_streams: 65_536,
            max_buffer: 256 * 1024,
            max_out_of_order_segments: 64,
            idle_timeout: Duration::from_secs(300),
        }
    }
}

/// One direction of a TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StreamKey {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TcpStats {
    pub segments: u64,
    pub retransmitted: u64,
    pub out_of_order: u64,
    /// Holes skipped (bytes lost to the consumer).
    pub gaps: u64,
    /// Segments whose bytes did not fit `max_buffer` (`stream_overflow`).
    pub overflow: u64,
    /// Streams evicted to admit a new one (`flow_table_full`).
    pub evicted_capacity: u64,
    pub evicted_idle: u64,
    pub closed: u64,
}

pub struct Stream<A> {
    pub app: A,
    _p: (),
}

impl<A> Stream<A> {
    /// Contiguous in-order bytes not yet consumed, and the app state.
    pub fn parts(&mut self) -> (&[u8], &mut A) {
        todo!()
    }
    /// Mark `n` bytes at the front as consumed.
    pub fn consume(&mut self, n: usize) {
        let _ = n;
        todo!()
    }
    /// True once since a gap was skipped: the consumer should resynchronise.
    pub fn take_gap(&mut self) -> bool {
        todo!()
    }
}

pub struct TcpReassembler<A> {
    _cfg: TcpConfig,
    _p: std::marker::PhantomData<A>,
}

impl<A: Default> TcpReassembler<A> {
    pub fn new(cfg: TcpConfig) -> Self {
        TcpReassembler { _cfg: cfg, _p: std::marker::PhantomData }
    }
    /// Feed one segment of direction `key`. Returns the stream when new
    /// in-order bytes became available (or a gap was skipped); `None` when
    /// there is nothing new to read (pure ACK, retransmission, buffered
    /// out-of-order segment). FIN/RST remove the stream after delivery.
    pub fn segment(&mut self, key: StreamKey, seg: &TcpSegment<'_>, now: Duration) -> Option<&mut Stream<A>> {
        let _ = (key, seg, now);
        todo!()
    }
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
    pub fn take_stats(&mut self) -> TcpStats {
        todo!()
    }
}
