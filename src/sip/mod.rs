//! SIP: recognising, framing and parsing messages (RFC 3261), leniently.
//!
//! Owner: the `sip` module. Parsers (`parse.rs`, `framing.rs`, `ws.rs`) hold
//! no state; `stream.rs` holds per-TCP-stream state and parses no bytes
//! itself. Nothing here does I/O, logs or touches metrics: callers count.
//! Error and label strings come from fixed sets (`as_str`).

pub mod framing;
pub mod parse;
pub mod stream;
pub mod ws;

pub use parse::{parse_message, Header, HeaderName, Message, Method, ParseError, StartLine};

/// The `transport` label of a SIP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
    Ws,
    Wss,
    Sctp,
}

impl Transport {
    pub const ALL: [Transport; 6] = [Transport::Udp, Transport::Tcp, Transport::Tls, Transport::Ws, Transport::Wss, Transport::Sctp];
    pub fn as_str(&self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
            Transport::Ws => "ws",
            Transport::Wss => "wss",
            Transport::Sctp => "sctp",
        }
    }
    pub fn index(&self) -> usize {
        *self as usize
    }
}
