//! Media: RTP/RTCP/SRTP/ZRTP/DTLS/STUN recognition and per-stream state,
//! ending in one protection label per stream (`cleartext`, `srtp_sdes`,
//! `srtp_dtls`, `zrtp`, `encrypted_unknown`, `unknown`).
//!
//! Files, by role (parsing and state kept apart):
//! - [`classify`]: one UDP payload → [`classify::PacketKind`] (RFC 7983
//!   demultiplexing), with checked RTP header and RTCP compound views. No state.
//! - [`payload`]: byte-distribution test telling encrypted from cleartext
//!   audio payloads. Fixed-size, allocation-free accumulator.
//! - [`stream`]: bounded per-stream table (5-tuple + SSRC), RFC 3550 probation,
//!   loss and jitter, protection decision and the events the caller counts.
//!   Parses no bytes.
//! - [`endpoints`]: the shared, sharded table of SDP-announced media
//!   endpoints, written by SIP workers and read by media workers.
//!
//! Nothing here does I/O, logging or metrics: functions return values and
//! events, and the pipeline counts them.

pub mod classify;
pub mod endpoints;
pub mod payload;
pub mod stream;

#[cfg(test)]
pub(crate) mod corpus;
pub use classify::{classify, PacketKind, RtcpInfo, RtpHeader};
pub use endpoints::EndpointTable;
pub use payload::{PayloadSampler, PayloadVerdict};
pub use stream::{
    EndReason, Flow, Observed, Protection, StreamConfig, StreamEvent, StreamKey, StreamTable,
};
