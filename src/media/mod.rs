//! Media: RTP/RTCP/SRTP/ZRTP/DTLS/STUN recognition and per-stream state,
//! ending in one protection label per stream (`cleartext`, `srtp_sdes`,
//! `srtp_dtls`, `zrtp`, `encrypted_unknown`, `unknown`).
//!
//! Files, by role (parsing and state kept apart):
//! - [`classify`]: one UDP payload → [`classify::PacketKind`] (RFC 7983
//!   demultiplexing), with checked RTP header and RTCP compound views. No state.
//! - [`payload`]: byte-distribution test telling encrypted from cleartext
//!   audio payloads. Fixed-size, allocation-free accumulator.
//! - [`stream`]: bounded per-stream table (5-tuple + SSRC), protection
//!   decision and the events the caller counts. Parses no bytes.
//! - [`rtp_stats`]: RFC 3550 arithmetic a stream keeps: sequence probation,
//!   wraparound and restarts, loss, interarrival jitter.
//! - [`endpoints`]: the shared, sharded table of SDP-announced media
//!   endpoints, written by SIP workers and read by media workers.
//! - [`rtcp_seen`]: which RTCP identity fields each (flow, SSRC) already
//!   reported, so each is counted once. Bounded, keyed-hash keys.
//!
//! Nothing here does I/O, logging or metrics: functions return values and
//! events, and the pipeline counts them.

use std::time::Duration;

pub mod classify;
pub mod endpoints;
pub mod payload;
pub mod rtcp_seen;
pub mod rtp_stats;
pub mod stream;
pub mod watch;

#[cfg(test)]
pub(crate) mod corpus;
pub use classify::{classify, PacketKind, RtcpInfo, RtpHeader};
pub use endpoints::EndpointTable;
pub use payload::{PayloadSampler, PayloadVerdict};
pub use rtcp_seen::RtcpSeen;
pub use stream::{
    EndReason, Flow, Observed, Protection, StreamConfig, StreamEvent, StreamKey, StreamTable,
};

/// A UDP flow has the same 4-tuple as one TCP stream direction.
impl From<crate::decode::tcp::StreamKey> for Flow {
    fn from(k: crate::decode::tcp::StreamKey) -> Flow {
        Flow {
            src: k.src,
            dst: k.dst,
            src_port: k.src_port,
            dst_port: k.dst_port,
        }
    }
}

/// A capture time in whole microseconds (u64: half a million years): 8
/// bytes where a `Duration` takes 16 with padding, in table entries kept
/// per stream and per endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Micros(u64);

impl Micros {
    pub fn of(t: Duration) -> Micros {
        // Without `as_micros` (a u128): this runs on every RTP packet.
        let us = t
            .as_secs()
            .checked_mul(1_000_000)
            .and_then(|s| s.checked_add(u64::from(t.subsec_micros())));
        Micros(us.unwrap_or(u64::MAX))
    }

    /// Time from this instant to `now` (zero if `now` is earlier).
    pub fn age(self, now: Duration) -> Duration {
        now.saturating_sub(Duration::from_micros(self.0))
    }

    /// Time from `earlier` to this instant (zero if it is later).
    pub fn since(self, earlier: Micros) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }
}
