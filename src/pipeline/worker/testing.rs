//! The split parts' unit tests: frames (from `testkit`), a worker, and
//! reading one series back from the registry.

use super::Worker;
use crate::config::Limits;
use crate::metrics::Metrics;
use crate::testkit::frames;
use std::time::Duration;

pub const A: [u8; 4] = [192, 0, 2, 1];
pub const B: [u8; 4] = [192, 0, 2, 2];

/// A UDP frame, arguments in (address, port) pairs as the tests read.
pub fn udp(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, payload: &[u8]) -> Vec<u8> {
    frames::udp4(src, dst, sport, dport, payload)
}

/// A TCP data segment (ACK|PSH).
pub fn tcp(
    src: [u8; 4],
    sport: u16,
    dst: [u8; 4],
    dport: u16,
    seq: u32,
    payload: &[u8],
) -> Vec<u8> {
    frames::tcp4(src, dst, sport, dport, seq, false, payload)
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
