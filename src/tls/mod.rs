//! TLS and DTLS handshakes in clear: what a passive observer learns before
//! the encryption starts (issue #13).
//!
//! Owner: `tls`. Parsers without I/O, bounds-checked, no recursion, no
//! allocation sized by a length field. [`record::TlsReader`] follows one
//! direction of a TCP stream from record to handshake message (a message
//! may span records and segments; at most [`record::MAX_HANDSHAKE`] bytes
//! are held) until the handshake is encrypted or over, then reads nothing
//! more; [`record::dtls_datagram`] reads the unfragmented handshake
//! messages of one DTLS datagram. Both report [`Event`]s; what an event
//! exposes is `exposure::tls`'s to decide.
//!
//! Files: [`record`] (records, handshake framing, DTLS), [`hello`]
//! (ClientHello, ServerHello and their extensions), [`ja4`] (the JA4 client
//! fingerprint), [`cert`] (the Certificate message and X.509 subjects),
//! [`flows`] (bounded per-association DTLS memory).

pub mod cert;
pub mod flows;
pub mod hello;
pub mod ja4;
pub mod record;

pub use hello::{ClientHello, ServerHello};
pub use record::{dtls_datagram, TlsReader};

/// Which side of the handshake sent a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Role {
    #[default]
    Unknown,
    Client,
    Server,
}

/// What a handshake showed, in order.
#[derive(Debug)]
pub enum Event<'a> {
    /// A ClientHello, whole.
    ClientHello(ClientHello<'a>),
    /// A ServerHello, whole: the negotiated version, suite and SRTP profile.
    ServerHello(ServerHello),
    /// The first certificate (DER) of a Certificate message sent by `from`
    /// (an empty Certificate message, a client without one, yields none).
    Certificate { from: Role, der: &'a [u8] },
    /// Handshake bytes that could not be read: a length past its container,
    /// a message above the bound, a DTLS fragment. Counted, then skipped.
    Unreadable(Unreadable),
}

crate::label_enum! {
    /// Why handshake bytes were not read (the `reason` of the count).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Unreadable {
        /// A length that runs past what holds it, or a bad record header.
        Malformed = "malformed",
        /// A handshake message above [`record::MAX_HANDSHAKE`].
        TooLarge = "too_large",
        /// A DTLS handshake message in fragments (not reassembled).
        Fragment = "fragment",
        /// A certificate that is not DER X.509.
        Certificate = "certificate",
    }
}

/// A bounds-checked reader over a byte slice: every read is `None` past
/// the end, never a panic.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Reader<'a> {
        Reader { data, pos: 0 }
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }
    pub(crate) fn u8(&mut self) -> Option<u8> {
        let b = *self.data.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }
    pub(crate) fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes([self.u8()?, self.u8()?]))
    }
    pub(crate) fn u24(&mut self) -> Option<usize> {
        let (a, b, c) = (self.u8()?, self.u8()?, self.u8()?);
        Some(usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c))
    }
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.data.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }
    pub(crate) fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }
    pub(crate) fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }
    pub(crate) fn vec24(&mut self) -> Option<&'a [u8]> {
        let n = self.u24()?;
        self.take(n)
    }
}

/// RFC 8701 GREASE values (0x?a?a with equal bytes) are noise a client
/// adds on purpose: JA4 and the version logic ignore them.
pub fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}
