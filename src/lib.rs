//! sipsentinel: a passive SIP/RTP privacy-exposure sensor.
//!
//! See `README.md` and the module map in the design: capture → pipeline →
//! decode → sip/media → exposure → metrics/findings → http.
#![forbid(unsafe_code)]

pub mod capture;
pub mod cdr;
pub mod civil;
pub mod config;
pub mod decode;
pub mod exposure;
pub mod findings;
pub mod health;
pub mod http;
pub mod label;
pub mod lru;
pub mod media;
pub mod metrics;
pub mod observer;
pub mod pbxlog;
pub mod pipeline;
pub mod privdrop;
pub mod progress;
pub mod report;
pub mod sdp;
pub mod share;
pub mod sip;
pub mod tls;
// Builders and readers for tests, benches and examples; not the sensor.
#[doc(hidden)]
pub mod testkit;
