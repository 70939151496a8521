//! Frames built with etherparse for the split parts' unit tests, and
//! reading one series back from the registry.

use super::Worker;
use crate::config::Limits;
use crate::metrics::Metrics;
use etherparse::PacketBuilder;
use std::time::Duration;

pub const A: [u8; 4] = [192, 0, 2, 1];
pub const B: [u8; 4] = [192, 0, 2, 2];

pub fn udp(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ethernet2([1; 6], [2; 6])
        .ipv4(src, dst, 64)
        .udp(sport, dport);
    let mut out = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut out, payload).expect("frame builds");
    out
}

pub fn tcp(
    src: [u8; 4],
    sport: u16,
    dst: [u8; 4],
    dport: u16,
    seq: u32,
    payload: &[u8],
) -> Vec<u8> {
    let b = PacketBuilder::ethernet2([1; 6], [2; 6])
        .ipv4(src, dst, 64)
        .tcp(sport, dport, seq, 65_535)
        .ack(1);
    let mut out = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut out, payload).expect("frame builds");
    out
}

pub fn worker(m: &Metrics) -> Worker {
    Worker::standalone(0, m, &Limits::default())
}

/// The value of one rendered series (`name{labels}`), if present.
pub fn value(m: &Metrics, series: &str) -> Option<f64> {
    m.render().lines().find_map(|l| {
        l.strip_prefix(series)
            .and_then(|rest| rest.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
    })
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}
