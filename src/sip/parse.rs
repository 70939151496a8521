//! Zero-copy, lenient SIP message parser (start line, headers, body).
//! See the module docs in `sip/mod.rs`. No state, no I/O.

/// SIP methods: the RFC 3261 family plus the extensions in the metric
/// contract; anything else is `Unknown` (label `other`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Invite,
    Ack,
    Bye,
    Cancel,
    Register,
    Options,
    Prack,
    Subscribe,
    Notify,
    Publish,
    Info,
    Refer,
    Message,
    Update,
    Unknown,
}

impl Method {
    pub const ALL: [Method; 15] = [
        Method::Invite, Method::Ack, Method::Bye, Method::Cancel, Method::Register, Method::Options,
        Method::Prack, Method::Subscribe, Method::Notify, Method::Publish, Method::Info, Method::Refer,
        Method::Message, Method::Update, Method::Unknown,
    ];
    /// The `method` label value.
    pub fn as_str(&self) -> &'static str {
        todo!()
    }
    pub fn index(&self) -> usize {
        *self as usize
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartLine<'a> {
    Request { method: Method, method_raw: &'a [u8], uri: &'a [u8] },
    Response { code: u16, reason: &'a [u8] },
}

/// Well-known header names, compact forms folded in (RFC 3261 §7.3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HeaderName {
    Via,
    From,
    To,
    CallId,
    CSeq,
    Contact,
    ContentLength,
    ContentType,
    Other,
}

#[derive(Debug, Clone, Copy)]
pub struct Header<'a> {
    pub name: HeaderName,
    /// The name as written (for `Other`, e.g. `X-Foo`, `P-Asserted-Identity`).
    pub raw_name: &'a [u8],
    /// Value with surrounding whitespace trimmed; folded lines (obs-fold) are
    /// left in place (callers treat CR/LF + WSP as whitespace).
    pub value: &'a [u8],
}

#[derive(Debug, Clone)]
pub struct Message<'a> {
    pub start: StartLine<'a>,
    pub headers: Vec<Header<'a>>,
    pub body: &'a [u8],
}

impl<'a> Message<'a> {
    /// First header with this name (case-insensitive, compact forms included).
    pub fn header(&self, name: HeaderName) -> Option<&Header<'a>> {
        self.headers.iter().find(|h| h.name == name)
    }
}

/// Why a message could not be parsed: the `reason` label of `sip_parse_errors_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum ParseError {
    #[error("bad start line")]
    BadStartLine,
    #[error("bad header")]
    BadHeader,
    #[error("too many headers")]
    TooManyHeaders,
    #[error("header section too long")]
    HeadersTooLong,
    #[error("bad content-length")]
    BadContentLength,
    #[error("truncated body")]
    TruncatedBody,
    #[error("missing mandatory header")]
    MissingHeader,
}

impl ParseError {
    pub fn as_str(&self) -> &'static str {
        todo!()
    }
}

/// Parse one complete message (a UDP datagram, an SCTP chunk, a framed TCP message).
pub fn parse_message(data: &[u8]) -> Result<Message<'_>, ParseError> {
    let _ = data;
    todo!()
}
