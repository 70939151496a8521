//! sipsentinel: a passive SIP/RTP privacy-exposure sensor.
//!
//! See `README.md` and the module map in the design: capture → pipeline →
//! decode → sip/media → exposure → metrics/findings → http.

pub mod decode;
pub mod sip;
