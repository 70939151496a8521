//! Zero-copy, lenient SIP message parser (start line, headers, body).
//!
//! One checked entry point, [`parse_message`], turns untrusted bytes into a
//! [`Message`] of slices into those bytes; no accessor after it can panic.
//! Lenient where real traffic is sloppy (RFC 3261 §7.3.1 folding, §7.3.3
//! compact names, LF-only line ends, Latin-1 bytes, whitespace before the
//! colon, keep-alive CRLFs before the start line), strict where leniency
//! would cost bounded work or make the message ambiguous (start line shape,
//! header count and size, Content-Length syntax). No state, no I/O.

/// Most headers one message may carry; beyond it the message is refused
/// (`TooManyHeaders`) so a hostile datagram cannot make us allocate more.
pub const MAX_HEADERS: usize = 256;
/// Longest header section (start line through the empty line), in bytes.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

crate::label_enum! {
    /// SIP methods: the RFC 3261 family plus the extensions in the metric
    /// contract; anything else is `Unknown` (label `other`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Method {
        Invite = "INVITE",
        Ack = "ACK",
        Bye = "BYE",
        Cancel = "CANCEL",
        Register = "REGISTER",
        Options = "OPTIONS",
        Prack = "PRACK",
        Subscribe = "SUBSCRIBE",
        Notify = "NOTIFY",
        Publish = "PUBLISH",
        Info = "INFO",
        Refer = "REFER",
        Message = "MESSAGE",
        Update = "UPDATE",
        Unknown = "other",
    }
}

impl Method {
    /// Map a method token. Case-sensitive on purpose: RFC 3261 §7.1 says the
    /// method names are case-sensitive, so `REGIStER` is an extension method.
    pub fn from_bytes(raw: &[u8]) -> Method {
        match raw {
            b"INVITE" => Method::Invite,
            b"ACK" => Method::Ack,
            b"BYE" => Method::Bye,
            b"CANCEL" => Method::Cancel,
            b"REGISTER" => Method::Register,
            b"OPTIONS" => Method::Options,
            b"PRACK" => Method::Prack,
            b"SUBSCRIBE" => Method::Subscribe,
            b"NOTIFY" => Method::Notify,
            b"PUBLISH" => Method::Publish,
            b"INFO" => Method::Info,
            b"REFER" => Method::Refer,
            b"MESSAGE" => Method::Message,
            b"UPDATE" => Method::Update,
            _ => Method::Unknown,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartLine<'a> {
    Request {
        method: Method,
        method_raw: &'a [u8],
        uri: &'a [u8],
    },
    Response {
        code: u16,
        reason: &'a [u8],
    },
}

/// Every header name the sensor reads, compact forms folded in (RFC 3261
/// §7.3.3). Classified once, when the message is parsed, and stored on the
/// [`Header`]; any other name is `Other` (its `raw_name` is still there, e.g.
/// for `X-*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HeaderName {
    // RFC 3261 §20.
    Via,
    From,
    To,
    CallId,
    CSeq,
    Contact,
    ContentLength,
    ContentType,
    ContentEncoding,
    MaxForwards,
    RecordRoute,
    Supported,
    Subject,
    Authorization,
    ProxyAuthorization,
    UserAgent,
    Server,
    // Extensions with a compact form (see [`expand_compact`]).
    Event,
    ReferTo,
    AllowEvents,
    SessionExpires,
    Identity,
    ReferredBy,
    RejectContact,
    AcceptContact,
    RequestDisposition,
    IdentityInfo,
    // Extensions the exposure catalogue reads.
    /// RFC 3325 §9.1.
    PAssertedIdentity,
    /// RFC 3325 §9.2.
    PPreferredIdentity,
    /// draft-ietf-sip-privacy-04 (still common).
    RemotePartyId,
    /// RFC 7315 §4.4.
    PAccessNetworkInfo,
    /// RFC 6442 §4.1.
    Geolocation,
    /// RFC 5806.
    Diversion,
    /// RFC 7044.
    HistoryInfo,
    /// RFC 3323 §4.2.
    Privacy,
    /// RFC 3455 §4.1.
    PAssociatedUri,
    /// RFC 5502 §6.
    PServedUser,
    /// RFC 3455 §4.2.
    PCalledPartyId,
    /// RFC 7433 §4.
    UserToUser,
    /// RFC 7315 §4.6.
    PChargingVector,
    /// RFC 3261 §20.9 (one of the headers `Privacy: header` hides).
    CallInfo,
    /// RFC 3261 §20.25.
    Organization,
    /// RFC 3261 §20.31.
    ReplyTo,
    /// RFC 3261 §20.21.
    InReplyTo,
    Other,
}

/// `(long form, compact form, name)` for every [`HeaderName`] but `Other`:
/// the one list both [`HeaderName::from_bytes`] and [`expand_compact`] read.
///
/// Compact forms: RFC 3261 §7.3.3 (i f t v m l c k s e) plus the registered
/// extensions: o Event (RFC 6665), r Refer-To (RFC 3515), u Allow-Events
/// (RFC 6665), x Session-Expires (RFC 4028), y Identity (RFC 8224), b
/// Referred-By (RFC 3892), j Reject-Contact and a Accept-Contact and d
/// Request-Disposition (RFC 3841), n Identity-Info (RFC 4474).
pub const HEADER_NAMES: [(&[u8], Option<u8>, HeaderName); 44] = [
    (b"Via", Some(b'v'), HeaderName::Via),
    (b"From", Some(b'f'), HeaderName::From),
    (b"To", Some(b't'), HeaderName::To),
    (b"Call-ID", Some(b'i'), HeaderName::CallId),
    (b"CSeq", None, HeaderName::CSeq),
    (b"Contact", Some(b'm'), HeaderName::Contact),
    (b"Content-Length", Some(b'l'), HeaderName::ContentLength),
    (b"Content-Type", Some(b'c'), HeaderName::ContentType),
    (b"Content-Encoding", Some(b'e'), HeaderName::ContentEncoding),
    (b"Max-Forwards", None, HeaderName::MaxForwards),
    (b"Record-Route", None, HeaderName::RecordRoute),
    (b"Supported", Some(b'k'), HeaderName::Supported),
    (b"Subject", Some(b's'), HeaderName::Subject),
    (b"Authorization", None, HeaderName::Authorization),
    (b"Proxy-Authorization", None, HeaderName::ProxyAuthorization),
    (b"User-Agent", None, HeaderName::UserAgent),
    (b"Server", None, HeaderName::Server),
    (b"Event", Some(b'o'), HeaderName::Event),
    (b"Refer-To", Some(b'r'), HeaderName::ReferTo),
    (b"Allow-Events", Some(b'u'), HeaderName::AllowEvents),
    (b"Session-Expires", Some(b'x'), HeaderName::SessionExpires),
    (b"Identity", Some(b'y'), HeaderName::Identity),
    (b"Referred-By", Some(b'b'), HeaderName::ReferredBy),
    (b"Reject-Contact", Some(b'j'), HeaderName::RejectContact),
    (b"Accept-Contact", Some(b'a'), HeaderName::AcceptContact),
    (
        b"Request-Disposition",
        Some(b'd'),
        HeaderName::RequestDisposition,
    ),
    (b"Identity-Info", Some(b'n'), HeaderName::IdentityInfo),
    (b"P-Asserted-Identity", None, HeaderName::PAssertedIdentity),
    (
        b"P-Preferred-Identity",
        None,
        HeaderName::PPreferredIdentity,
    ),
    (b"Remote-Party-ID", None, HeaderName::RemotePartyId),
    (
        b"P-Access-Network-Info",
        None,
        HeaderName::PAccessNetworkInfo,
    ),
    (b"Geolocation", None, HeaderName::Geolocation),
    (b"Diversion", None, HeaderName::Diversion),
    (b"History-Info", None, HeaderName::HistoryInfo),
    (b"Privacy", None, HeaderName::Privacy),
    (b"P-Associated-URI", None, HeaderName::PAssociatedUri),
    (b"P-Served-User", None, HeaderName::PServedUser),
    (b"P-Called-Party-ID", None, HeaderName::PCalledPartyId),
    (b"User-to-User", None, HeaderName::UserToUser),
    (b"P-Charging-Vector", None, HeaderName::PChargingVector),
    (b"Call-Info", None, HeaderName::CallInfo),
    (b"Organization", None, HeaderName::Organization),
    (b"Reply-To", None, HeaderName::ReplyTo),
    (b"In-Reply-To", None, HeaderName::InReplyTo),
];

impl HeaderName {
    /// Classify a raw header name (case-insensitive, compact forms included).
    pub fn from_bytes(raw: &[u8]) -> HeaderName {
        let found = match raw {
            [c] => {
                let c = c.to_ascii_lowercase();
                HEADER_NAMES.iter().find(|e| e.1 == Some(c))
            }
            // `eq_ignore_ascii_case` compares lengths first: most entries
            // cost one comparison.
            _ => HEADER_NAMES.iter().find(|e| e.0.eq_ignore_ascii_case(raw)),
        };
        found.map_or(HeaderName::Other, |e| e.2)
    }
}

/// The long form of a compact header name, or the name itself.
pub fn expand_compact(raw: &[u8]) -> &[u8] {
    let [c] = raw else { return raw };
    let c = c.to_ascii_lowercase();
    HEADER_NAMES
        .iter()
        .find(|e| e.1 == Some(c))
        .map_or(raw, |e| e.0)
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

impl<'a> Header<'a> {
    /// Does this header have the name `name` (case-insensitive, a compact
    /// form on either side matches its long form)?
    pub fn is_named(&self, name: &[u8]) -> bool {
        expand_compact(self.raw_name).eq_ignore_ascii_case(expand_compact(name))
    }
}

#[derive(Debug, Clone)]
pub struct Message<'a> {
    pub start: StartLine<'a>,
    pub headers: Vec<Header<'a>>,
    /// The body: what follows the empty line, cut to Content-Length when
    /// that is smaller (RFC 3261 §18.3: extra datagram bytes are ignored).
    pub body: &'a [u8],
    /// Content-Length promised more bytes than the input holds, or was not
    /// usable (not a number, copies disagree); `body` is all there was.
    /// RFC 3261 §18.3 says to discard such a datagram, but it was still
    /// sent and seen on the wire, so we report it, not drop it.
    pub content_length_mismatch: bool,
    /// Bytes of the input this message spans: leading CRLFs, header section
    /// and `body`. Anything after it was ignored.
    pub len: usize,
}

impl<'a> Message<'a> {
    /// First header with this name (case-insensitive, compact forms included).
    pub fn header(&self, name: HeaderName) -> Option<&Header<'a>> {
        self.headers.iter().find(|h| h.name == name)
    }

    /// Every header with this raw name, in order (case-insensitive, compact
    /// aware: `b"Subject"` also finds `s:`).
    pub fn headers_named<'s>(
        &'s self,
        name: &'s [u8],
    ) -> impl Iterator<Item = &'s Header<'a>> + 's {
        self.headers.iter().filter(move |h| h.is_named(name))
    }

    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// The `kind` label: `request` or `response`.
    pub fn kind(&self) -> &'static str {
        if self.is_request() {
            "request"
        } else {
            "response"
        }
    }

    /// The request method; for a response, the method of its CSeq (RFC 3261
    /// §8.2.6.2: a response carries the request's CSeq), else `Unknown`.
    pub fn method(&self) -> Method {
        match self.start {
            StartLine::Request { method, .. } => method,
            StartLine::Response { .. } => self.cseq().map_or(Method::Unknown, |(_, m)| m),
        }
    }

    pub fn status_code(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { code, .. } => Some(code),
            StartLine::Request { .. } => None,
        }
    }

    /// The `status_class` label: `1xx`..`6xx` for responses, `other` for a
    /// response code outside 100..=699, empty for requests (metric contract).
    pub fn status_class(&self) -> &'static str {
        match self.start {
            StartLine::Request { .. } => "",
            StartLine::Response { code, .. } => match code {
                100..=199 => "1xx",
                200..=299 => "2xx",
                300..=399 => "3xx",
                400..=499 => "4xx",
                500..=599 => "5xx",
                600..=699 => "6xx",
                _ => "other",
            },
        }
    }

    /// Content-Length as written (first one), if present and well-formed.
    pub fn content_length(&self) -> Option<usize> {
        self.header(HeaderName::ContentLength)
            .and_then(|h| parse_content_length(h.value).ok())
    }

    pub fn call_id(&self) -> Option<&'a [u8]> {
        self.header(HeaderName::CallId)
            .map(|h| h.value)
            .filter(|v| !v.is_empty())
    }

    /// CSeq number and method (RFC 3261 §20.16: `1*DIGIT LWS Method`).
    pub fn cseq(&self) -> Option<(u32, Method)> {
        let v = self.header(HeaderName::CSeq)?.value;
        let digits_end = v
            .iter()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(v.len());
        let n = parse_u32(v.get(..digits_end)?)?;
        let rest = trim(v.get(digits_end..)?);
        if rest.is_empty() || !rest.iter().all(|&b| is_token(b)) {
            return None;
        }
        Some((n, Method::from_bytes(rest)))
    }

    /// The stricter checks a lenient parse skips: the mandatory headers of
    /// RFC 3261 §8.1.1 (Max-Forwards only for requests) and a body as long
    /// as Content-Length says (a usable one: `BadContentLength` otherwise).
    /// Callers that want only clean messages use it.
    pub fn validate(&self) -> Result<(), ParseError> {
        for name in [
            HeaderName::To,
            HeaderName::From,
            HeaderName::CSeq,
            HeaderName::CallId,
            HeaderName::Via,
        ] {
            if self.header(name).is_none() {
                return Err(ParseError::MissingHeader);
            }
        }
        if self.is_request() && self.header(HeaderName::MaxForwards).is_none() {
            return Err(ParseError::MissingHeader);
        }
        declared_content_length(&self.headers)?;
        if self.content_length_mismatch {
            return Err(ParseError::TruncatedBody);
        }
        Ok(())
    }
}

crate::label_enum! {
    /// Why a message could not be parsed: the `reason` label of `sip_parse_errors_total`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
    pub enum ParseError {
        #[error("bad start line")]
        BadStartLine = "bad_start_line",
        #[error("bad header")]
        BadHeader = "bad_header",
        #[error("too many headers")]
        TooManyHeaders = "too_many_headers",
        #[error("header section too long")]
        HeadersTooLong = "headers_too_long",
        #[error("bad content-length")]
        BadContentLength = "bad_content_length",
        #[error("truncated body")]
        TruncatedBody = "truncated_body",
        #[error("missing mandatory header")]
        MissingHeader = "missing_header",
        /// SIP over WebSocket: a frame or a fragmented message that cannot be
        /// used (oversized, bad control frame); the message inside is lost.
        #[error("bad websocket frame")]
        BadWebSocketFrame = "bad_ws_frame",
        /// An `Identity` header that is not a PASSporT (RFC 8224/8225):
        /// not a JWS, payload not base64url JSON, or over the size bound.
        /// The message itself was parsed and is counted and scanned.
        #[error("bad identity token")]
        BadIdentity = "bad_identity",
    }
}

/// RFC 3261 §25.1 `token` characters.
pub fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Trim SP, HT, CR and LF on both ends (CR/LF appear inside folded values).
pub(crate) fn trim(v: &[u8]) -> &[u8] {
    let ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let start = v.iter().position(|b| !ws(b)).unwrap_or(v.len());
    let end = v.iter().rposition(|b| !ws(b)).map_or(start, |e| e + 1);
    v.get(start..end).unwrap_or(&[])
}

fn parse_u32(d: &[u8]) -> Option<u32> {
    if d.is_empty() || d.len() > 10 {
        return None;
    }
    let mut n: u32 = 0;
    for &b in d {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u32::from(b - b'0'))?;
    }
    Some(n)
}

/// Parse a Content-Length value (RFC 3261 §20.14: `1*DIGIT`), with
/// overflow checks; surrounding whitespace is allowed.
pub fn parse_content_length(v: &[u8]) -> Result<usize, ParseError> {
    let d = trim(v);
    if d.is_empty() {
        return Err(ParseError::BadContentLength);
    }
    let mut n: usize = 0;
    for &b in d {
        if !b.is_ascii_digit() {
            return Err(ParseError::BadContentLength);
        }
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(usize::from(b - b'0')))
            .ok_or(ParseError::BadContentLength)?;
    }
    Ok(n)
}

/// Number of leading CR/LF bytes (keep-alives, RFC 5626 §4.4.1; RFC 3261
/// §7.5 says to ignore empty lines before the start line).
pub fn leading_crlf(data: &[u8]) -> usize {
    data.iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(data.len())
}

/// One line: `(content without CR/LF, offset just past the LF)`; `None` when
/// no LF follows `from`.
fn next_line(data: &[u8], from: usize) -> Option<(&[u8], usize)> {
    let rest = data.get(from..)?;
    let lf = rest.iter().position(|&b| b == b'\n')?;
    let line = rest.get(..lf)?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    Some((line, from + lf + 1))
}

/// Does `v` (case-insensitively) equal `SIP/2.0`? RFC 3261 §7.1: the version
/// string is case-insensitive, implementations send it upper-case.
pub fn is_sip_version(v: &[u8]) -> bool {
    v.eq_ignore_ascii_case(b"SIP/2.0")
}

/// Parse a start line (without its line end).
pub fn parse_start_line(line: &[u8]) -> Result<StartLine<'_>, ParseError> {
    // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase (§7.2).
    if line.len() >= 8 && is_sip_version(line.get(..7).unwrap_or(&[])) && line.get(7) == Some(&b' ')
    {
        let rest = line.get(8..).unwrap_or(&[]);
        let code = rest.get(..3).ok_or(ParseError::BadStartLine)?;
        if !code.iter().all(u8::is_ascii_digit) {
            return Err(ParseError::BadStartLine);
        }
        // The code is exactly three digits: `SIP/2.0 4294967301 Huge` (RFC
        // 4475 bigcode) must not wrap into a plausible code.
        let reason = match rest.get(3) {
            None => &[][..],
            Some(b' ') => rest.get(4..).unwrap_or(&[]),
            Some(_) => return Err(ParseError::BadStartLine),
        };
        let code = code.iter().fold(0u16, |n, &b| n * 10 + u16::from(b - b'0'));
        return Ok(StartLine::Response { code, reason });
    }
    // Request-Line = Method SP Request-URI SP SIP-Version (§7.1). Lenient
    // on extra SP between the elements and trailing whitespace (RFC 4475
    // lwsstart, trws): the three parts are still unambiguous.
    let end = line.iter().rposition(|&b| !is_wsp(b)).map_or(0, |e| e + 1);
    let line = line.get(..end).unwrap_or(&[]);
    let sp = line
        .iter()
        .position(|&b| b == b' ')
        .ok_or(ParseError::BadStartLine)?;
    let method_raw = line.get(..sp).unwrap_or(&[]);
    if method_raw.is_empty() || !method_raw.iter().all(|&b| is_token(b)) {
        return Err(ParseError::BadStartLine);
    }
    let last_sp = line.iter().rposition(|&b| b == b' ').unwrap_or(sp);
    if last_sp <= sp || !is_sip_version(line.get(last_sp + 1..).unwrap_or(&[])) {
        return Err(ParseError::BadStartLine);
    }
    let uri = trim(line.get(sp + 1..last_sp).unwrap_or(&[]));
    // Whitespace inside the URI makes the line ambiguous (RFC 4475 lwsruri).
    if uri.is_empty() || uri.iter().any(|&b| is_wsp(b) || b.is_ascii_control()) {
        return Err(ParseError::BadStartLine);
    }
    Ok(StartLine::Request {
        method: Method::from_bytes(method_raw),
        method_raw,
        uri,
    })
}

/// Parse one complete message (a UDP datagram, an SCTP chunk, a framed TCP message).
///
/// Work is linear in the input and bounded by [`MAX_HEADER_BYTES`] for the
/// header section and [`MAX_HEADERS`] for the allocation.
pub fn parse_message(data: &[u8]) -> Result<Message<'_>, ParseError> {
    let begin = leading_crlf(data);
    // Search for line ends only within the bound: a hostile input cannot
    // make us scan more than MAX_HEADER_BYTES of header section.
    let limit = data.len().min(begin.saturating_add(MAX_HEADER_BYTES));
    let window = data.get(..limit).unwrap_or(data);

    let (start_raw, mut pos) = match next_line(window, begin) {
        Some(l) => l,
        None if data.len() > limit => return Err(ParseError::HeadersTooLong),
        // A datagram that is only a start line (no line end): lenient.
        None => (window.get(begin..).unwrap_or(&[]), window.len()),
    };
    let start = parse_start_line(start_raw)?;

    let mut headers: Vec<Header<'_>> = Vec::with_capacity(16);
    // Start offset of the current header's value; its end is extended over
    // folded continuation lines (RFC 3261 §7.3.1).
    let mut cur: Option<(usize, usize)> = None;
    let body_start;
    loop {
        let (line, next, line_start) = match next_line(window, pos) {
            Some((line, next)) => (line, next, pos),
            None if data.len() > limit => return Err(ParseError::HeadersTooLong),
            None => {
                // No empty line before the end: the datagram is all headers
                // (lenient: the last line may even lack its line end).
                let rest = window.get(pos..).unwrap_or(&[]);
                let rest = rest.strip_suffix(b"\r").unwrap_or(rest);
                if rest.is_empty() {
                    body_start = window.len();
                    break;
                }
                (rest, window.len(), pos)
            }
        };
        if line.is_empty() {
            body_start = next;
            break;
        }
        if line.first().is_some_and(|&b| is_wsp(b)) {
            // obs-fold: continues the previous header's value.
            match cur.as_mut() {
                Some((_, end)) => *end = line_start + line.len(),
                None => return Err(ParseError::BadHeader),
            }
        } else {
            finish(window, cur.take(), headers.last_mut());
            if headers.len() >= MAX_HEADERS {
                return Err(ParseError::TooManyHeaders);
            }
            let colon = line
                .iter()
                .position(|&b| b == b':')
                .ok_or(ParseError::BadHeader)?;
            let raw_name = line.get(..colon).unwrap_or(&[]);
            let raw_name = raw_name
                .get(
                    ..raw_name
                        .iter()
                        .rposition(|&b| !is_wsp(b))
                        .map_or(0, |e| e + 1),
                )
                .unwrap_or(&[]);
            if raw_name.is_empty() || !raw_name.iter().all(|&b| is_token(b)) {
                return Err(ParseError::BadHeader);
            }
            headers.push(Header {
                name: HeaderName::from_bytes(raw_name),
                raw_name,
                value: &[],
            });
            cur = Some((line_start + colon + 1, line_start + line.len()));
        }
        pos = next;
    }
    finish(window, cur.take(), headers.last_mut());

    // Content-Length decides where the body ends. On a datagram the
    // datagram's end is known anyway, so an unusable Content-Length (not
    // digits, overflow, copies that disagree: RFC 4475 ncl, mcl01) does not
    // lose the message: the body is the rest and the message is flagged
    // (tshark counts such messages too). Stream framing refuses them before
    // they get here (`framing::frame_stream`).
    let rest = data.get(body_start..).unwrap_or(&[]);
    let (body, mismatch) = match declared_content_length(&headers) {
        Ok(Some(n)) if n <= rest.len() => (rest.get(..n).unwrap_or(rest), false),
        Ok(Some(_)) | Err(_) => (rest, true),
        // No Content-Length on a datagram: the body is the rest (§18.3).
        Ok(None) => (rest, false),
    };
    Ok(Message {
        start,
        headers,
        body,
        content_length_mismatch: mismatch,
        len: body_start + body.len(),
    })
}

/// The Content-Length all copies agree on; `BadContentLength` when one does
/// not parse or two differ (RFC 4475 mcl01).
fn declared_content_length(headers: &[Header<'_>]) -> Result<Option<usize>, ParseError> {
    let mut cl: Option<usize> = None;
    for h in headers
        .iter()
        .filter(|h| h.name == HeaderName::ContentLength)
    {
        let n = parse_content_length(h.value)?;
        if cl.is_some_and(|c| c != n) {
            return Err(ParseError::BadContentLength);
        }
        cl = Some(n);
    }
    Ok(cl)
}

/// Close the current header: set its trimmed value.
fn finish<'a>(
    window: &'a [u8],
    cur: Option<(usize, usize)>,
    last: Option<&mut Header<'a>>,
) -> Option<()> {
    let (s, e) = cur?;
    let h = last?;
    h.value = trim(window.get(s..e).unwrap_or(&[]));
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(data: &[u8]) -> Message<'_> {
        parse_message(data).expect("parses")
    }

    #[test]
    fn basic_request() {
        let m = req(b"INVITE sip:bob@example.com SIP/2.0\r\n\
            Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\n\
            Max-Forwards: 70\r\n\
            To: <sip:bob@example.com>\r\n\
            From: <sip:alice@example.com>;tag=1\r\n\
            Call-ID: abc@192.0.2.1\r\n\
            CSeq: 1 INVITE\r\n\
            Content-Length: 4\r\n\
            \r\n\
            v=0\n");
        assert_eq!(
            m.start,
            StartLine::Request {
                method: Method::Invite,
                method_raw: b"INVITE",
                uri: b"sip:bob@example.com"
            }
        );
        assert_eq!(m.headers.len(), 7);
        assert_eq!(m.call_id(), Some(&b"abc@192.0.2.1"[..]));
        assert_eq!(m.cseq(), Some((1, Method::Invite)));
        assert_eq!(m.content_length(), Some(4));
        assert_eq!(m.body, b"v=0\n");
        assert!(!m.content_length_mismatch);
        assert_eq!(m.status_class(), "");
        assert_eq!(m.kind(), "request");
        assert_eq!(m.validate(), Ok(()));
    }

    #[test]
    fn response_and_status_class() {
        let m = req(b"SIP/2.0 180 Ringing\r\nCSeq: 7 INVITE\r\n\r\n");
        assert_eq!(
            m.start,
            StartLine::Response {
                code: 180,
                reason: b"Ringing"
            }
        );
        assert_eq!(m.status_class(), "1xx");
        assert_eq!(m.method(), Method::Invite);
        assert_eq!(m.kind(), "response");
        // Reason phrase may be empty (RFC 3261 §7.2 allows `*(...)`).
        let m = req(b"SIP/2.0 200 \r\n\r\n");
        assert_eq!(
            m.start,
            StartLine::Response {
                code: 200,
                reason: b""
            }
        );
        let m = req(b"SIP/2.0 699\r\n\r\n");
        assert_eq!(m.status_class(), "6xx");
        let m = req(b"SIP/2.0 700 Odd\r\n\r\n");
        assert_eq!(m.status_class(), "other");
        // Not three digits.
        assert_eq!(
            parse_message(b"SIP/2.0 4294967301 Huge\r\n\r\n").unwrap_err(),
            ParseError::BadStartLine
        );
        assert_eq!(
            parse_message(b"SIP/2.0 20 OK\r\n\r\n").unwrap_err(),
            ParseError::BadStartLine
        );
    }

    #[test]
    fn compact_forms() {
        // RFC 3261 §7.3.3 compact names, mixed case.
        let m = req(b"OPTIONS sip:x@example.com SIP/2.0\r\n\
            v: SIP/2.0/UDP h;branch=z9hG4bKa\r\n\
            f: <sip:a@example.com>;tag=1\r\n\
            T: <sip:x@example.com>\r\n\
            i: cid-1\r\n\
            m: <sip:a@192.0.2.9>\r\n\
            c: application/sdp\r\n\
            l: 0\r\n\
            s: hello\r\n\
            k: 100rel\r\n\
            o: presence\r\n\
            CSeq: 2 OPTIONS\r\n\r\n");
        assert_eq!(m.header(HeaderName::Via).unwrap().raw_name, b"v");
        assert_eq!(
            m.header(HeaderName::From).unwrap().value,
            b"<sip:a@example.com>;tag=1"
        );
        assert_eq!(m.header(HeaderName::To).unwrap().raw_name, b"T");
        assert_eq!(m.call_id(), Some(&b"cid-1"[..]));
        assert!(m.header(HeaderName::Contact).is_some());
        assert_eq!(
            m.header(HeaderName::ContentType).unwrap().value,
            b"application/sdp"
        );
        assert_eq!(m.content_length(), Some(0));
        assert_eq!(m.headers_named(b"Subject").next().unwrap().value, b"hello");
        assert_eq!(m.headers_named(b"supported").count(), 1);
        assert_eq!(m.headers_named(b"EVENT").count(), 1);
        assert_eq!(m.headers_named(b"i").count(), 1);
        assert_eq!(m.method(), Method::Options);
    }

    #[test]
    fn folding_lf_only_and_space_before_colon() {
        // obs-fold (RFC 3261 §7.3.1), LF-only ends, `Name  :` and leading CRLFs.
        let m = req(b"\r\n\r\nBYE sip:b@example.com SIP/2.0\n\
            Subject  : first\n  second\n\tthird\n\
            Call-ID\t: x1\n\
            CSeq: 3\n BYE\n\
            \n");
        let s = m.headers_named(b"subject").next().unwrap();
        assert_eq!(s.raw_name, b"Subject");
        assert_eq!(s.value, b"first\n  second\n\tthird");
        assert_eq!(m.call_id(), Some(&b"x1"[..]));
        assert_eq!(m.cseq(), Some((3, Method::Bye)));
        assert_eq!(m.body, b"");
        // A continuation with nothing to continue is a bad header.
        assert_eq!(
            parse_message(b"BYE sip:b@h SIP/2.0\r\n cont\r\n\r\n").unwrap_err(),
            ParseError::BadHeader
        );
    }

    #[test]
    fn latin1_display_name() {
        // "Jörg" in Latin-1 (0xF6): not UTF-8, still parses, bytes kept.
        let m = req(b"MESSAGE sip:b@h SIP/2.0\r\nFrom: \"J\xf6rg\" <sip:j@h>;tag=9\r\n\r\n");
        assert_eq!(
            m.header(HeaderName::From).unwrap().value,
            b"\"J\xf6rg\" <sip:j@h>;tag=9"
        );
        assert_eq!(
            m.start,
            StartLine::Request {
                method: Method::Message,
                method_raw: b"MESSAGE",
                uri: b"sip:b@h"
            }
        );
    }

    #[test]
    fn methods_are_case_sensitive_tokens() {
        let m = req(b"REGIStER sip:h SIP/2.0\r\n\r\n");
        assert_eq!(
            m.start,
            StartLine::Request {
                method: Method::Unknown,
                method_raw: b"REGIStER",
                uri: b"sip:h"
            }
        );
        assert_eq!(m.method().as_str(), "other");
        let m = req(b"NEWMETHOD-1.x sip:h SIP/2.0\r\n\r\n");
        assert!(matches!(
            m.start,
            StartLine::Request {
                method: Method::Unknown,
                ..
            }
        ));
        // The version is case-insensitive (RFC 3261 §7.1).
        assert!(parse_message(b"ACK sip:h sip/2.0\r\n\r\n").is_ok());
        assert_eq!(
            parse_message(b"INV<ITE sip:h SIP/2.0\r\n\r\n").unwrap_err(),
            ParseError::BadStartLine
        );
        assert_eq!(
            parse_message(b"INVITE sip:h SIP/3.0\r\n\r\n").unwrap_err(),
            ParseError::BadStartLine
        );
        assert_eq!(
            parse_message(b"INVITE SIP/2.0\r\n\r\n").unwrap_err(),
            ParseError::BadStartLine
        );
        assert_eq!(
            parse_message(b"\r\n\r\n").unwrap_err(),
            ParseError::BadStartLine
        );
        assert_eq!(parse_message(b"").unwrap_err(), ParseError::BadStartLine);
        for m in Method::ALL {
            if m != Method::Unknown {
                assert_eq!(Method::from_bytes(m.as_str().as_bytes()), m);
            }
        }
    }

    #[test]
    fn content_length_rules() {
        // Smaller than the datagram: extra bytes ignored (RFC 3261 §18.3).
        let m = req(b"INFO sip:h SIP/2.0\r\nContent-Length: 2\r\n\r\nabcdef");
        assert_eq!(m.body, b"ab");
        assert_eq!(m.len, 43); // 20 start + 19 header + 2 empty + 2 body
                               // Larger: still parsed, flagged.
        let m = req(b"INFO sip:h SIP/2.0\r\nl: 200\r\n\r\nabc");
        assert_eq!(m.body, b"abc");
        assert!(m.content_length_mismatch);
        assert_eq!(m.validate(), Err(ParseError::MissingHeader));
        // No Content-Length on a datagram: the rest.
        assert_eq!(req(b"INFO sip:h SIP/2.0\r\n\r\nxyz").body, b"xyz");
        // Unusable Content-Length on a datagram: body is the rest, flagged.
        for bad in [
            &b"INFO sip:h SIP/2.0\r\nContent-Length: 1x\r\n\r\nab"[..],
            b"INFO sip:h SIP/2.0\r\nContent-Length: \r\n\r\nab",
            b"INFO sip:h SIP/2.0\r\nContent-Length: -1\r\n\r\nab",
            b"INFO sip:h SIP/2.0\r\nContent-Length: 99999999999999999999999\r\n\r\nab",
            b"INFO sip:h SIP/2.0\r\nContent-Length: 1\r\nl: 2\r\n\r\nab",
        ] {
            let m = parse_message(bad).unwrap();
            assert_eq!((m.body, m.content_length_mismatch), (&b"ab"[..], true));
            assert_eq!(m.validate(), Err(ParseError::MissingHeader));
            assert_eq!(
                declared_content_length(&m.headers),
                Err(ParseError::BadContentLength)
            );
        }
        // Two that agree are fine.
        assert_eq!(
            req(b"INFO sip:h SIP/2.0\r\nContent-Length: 1\r\nl: 1\r\n\r\nab").body,
            b"a"
        );
    }

    #[test]
    fn headers_without_final_empty_line() {
        // A datagram cut after the headers (or sent without the empty line).
        let m = req(b"NOTIFY sip:h SIP/2.0\r\nCall-ID: a\r\nCSeq: 1 NOTIFY");
        assert_eq!(m.cseq(), Some((1, Method::Notify)));
        assert_eq!(m.body, b"");
        let m = req(b"NOTIFY sip:h SIP/2.0");
        assert!(m.headers.is_empty());
    }

    #[test]
    fn bounds() {
        let mut many = b"OPTIONS sip:h SIP/2.0\r\n".to_vec();
        for _ in 0..MAX_HEADERS {
            many.extend_from_slice(b"X-A: 1\r\n");
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(parse_message(&many).unwrap().headers.len(), MAX_HEADERS);
        let mut too_many = many.clone();
        too_many.truncate(too_many.len() - 2);
        too_many.extend_from_slice(b"X-B: 2\r\n\r\n");
        assert_eq!(
            parse_message(&too_many).unwrap_err(),
            ParseError::TooManyHeaders
        );

        let mut long = b"OPTIONS sip:h SIP/2.0\r\nX-Long: ".to_vec();
        long.resize(MAX_HEADER_BYTES + 10, b'a');
        long.extend_from_slice(b"\r\n\r\n");
        assert_eq!(
            parse_message(&long).unwrap_err(),
            ParseError::HeadersTooLong
        );
        let mut long_start = b"OPTIONS sip:".to_vec();
        long_start.resize(MAX_HEADER_BYTES + 10, b'a');
        assert_eq!(
            parse_message(&long_start).unwrap_err(),
            ParseError::HeadersTooLong
        );
    }

    #[test]
    fn bad_headers() {
        assert_eq!(
            parse_message(b"BYE sip:h SIP/2.0\r\nNoColonHere\r\n\r\n").unwrap_err(),
            ParseError::BadHeader
        );
        assert_eq!(
            parse_message(b"BYE sip:h SIP/2.0\r\n: empty name\r\n\r\n").unwrap_err(),
            ParseError::BadHeader
        );
        assert_eq!(
            parse_message(b"BYE sip:h SIP/2.0\r\nBad Name: x\r\n\r\n").unwrap_err(),
            ParseError::BadHeader
        );
        // Empty values are fine.
        assert_eq!(
            req(b"BYE sip:h SIP/2.0\r\nSubject:\r\n\r\n").headers[0].value,
            b""
        );
    }

    #[test]
    fn cseq_edge_cases() {
        let cseq = |v: &[u8]| {
            let mut d = b"BYE sip:h SIP/2.0\r\nCSeq: ".to_vec();
            d.extend_from_slice(v);
            d.extend_from_slice(b"\r\n\r\n");
            let m = parse_message(&d).unwrap();
            m.cseq()
        };
        assert_eq!(cseq(b"4294967295 BYE"), Some((u32::MAX, Method::Bye)));
        assert_eq!(cseq(b"4294967296 BYE"), None);
        assert_eq!(cseq(b"1"), None);
        assert_eq!(cseq(b"x BYE"), None);
        assert_eq!(cseq(b"1 FOO"), Some((1, Method::Unknown)));
    }

    #[test]
    fn header_names_classified_once() {
        for (long, compact, name) in HEADER_NAMES {
            assert_ne!(name, HeaderName::Other);
            assert_eq!(HeaderName::from_bytes(long), name);
            assert_eq!(HeaderName::from_bytes(&long.to_ascii_lowercase()), name);
            assert_eq!(HeaderName::from_bytes(&long.to_ascii_uppercase()), name);
            if let Some(c) = compact {
                assert_eq!(HeaderName::from_bytes(&[c]), name, "{}", c as char);
                assert_eq!(HeaderName::from_bytes(&[c.to_ascii_uppercase()]), name);
                assert_eq!(expand_compact(&[c]), long);
            }
            assert_eq!(expand_compact(long), long);
        }
        // One entry per name and per compact form.
        for (i, a) in HEADER_NAMES.iter().enumerate() {
            for b in &HEADER_NAMES[i + 1..] {
                assert!(a.2 != b.2 && !a.0.eq_ignore_ascii_case(b.0));
                assert!(a.1.is_none() || a.1 != b.1);
            }
        }
        for other in [
            &b"X-Foo"[..],
            b"x-",
            b"P-Asserted-Identity-Foo",
            b"Geolocation-Routing",
            b"Via2",
            b"z",
            b"Route",
            b"WWW-Authenticate",
            b"",
        ] {
            assert_eq!(HeaderName::from_bytes(other), HeaderName::Other);
        }
        // Stored on the header at parse time.
        let m =
            req(b"BYE sip:h SIP/2.0\r\nx: 90\r\nP-ASSERTED-identity: <sip:a@h>\r\nX-A: 1\r\n\r\n");
        let names: Vec<_> = m.headers.iter().map(|h| h.name).collect();
        assert_eq!(
            names,
            [
                HeaderName::SessionExpires,
                HeaderName::PAssertedIdentity,
                HeaderName::Other
            ]
        );
    }

    #[test]
    fn labels_are_fixed() {
        let labels: Vec<_> = ParseError::ALL.iter().map(|e| e.as_str()).collect();
        assert!(labels
            .iter()
            .all(|l| l.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')));
        assert_eq!(Method::Unknown.as_str(), "other");
        assert_eq!(Method::Prack.as_str(), "PRACK");
    }
}

/// RFC 4475 torture messages (hand-typed, see `tests/sip/rfc4475/README.md`).
#[cfg(test)]
mod rfc4475 {
    use super::*;

    macro_rules! torture {
        ($name:literal) => {
            (
                $name,
                include_bytes!(concat!("../../tests/sip/rfc4475/", $name, ".dat")) as &[u8],
            )
        };
    }

    const ALL: [(&str, &[u8]); 40] = [
        torture!("wsinv"),
        torture!("intmeth"),
        torture!("esc01"),
        torture!("escnull"),
        torture!("esc02"),
        torture!("lwsdisp"),
        torture!("longreq"),
        torture!("dblreq"),
        torture!("semiuri"),
        torture!("transports"),
        torture!("mpart01"),
        torture!("unreason"),
        torture!("noreason"),
        torture!("badinv01"),
        torture!("clerr"),
        torture!("ncl"),
        torture!("scalar02"),
        torture!("scalarlg"),
        torture!("quotbal"),
        torture!("ltgtruri"),
        torture!("lwsruri"),
        torture!("lwsstart"),
        torture!("trws"),
        torture!("escruri"),
        torture!("baddate"),
        torture!("regbadct"),
        torture!("badaspec"),
        torture!("baddn"),
        torture!("badvers"),
        torture!("mismatch01"),
        torture!("mismatch02"),
        torture!("bigcode"),
        torture!("insuf"),
        torture!("unkscm"),
        torture!("bext01"),
        torture!("invut"),
        torture!("mcl01"),
        torture!("bcast"),
        torture!("cparam01"),
        torture!("sdp01"),
    ];

    fn get(name: &str) -> &'static [u8] {
        ALL.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, d)| *d)
            .unwrap()
    }

    /// Our verdict per message: `Ok` means it parses (possibly leniently),
    /// `Err(e)` the error it must give. Why each one:
    #[test]
    fn rfc4475_verdicts() {
        use ParseError::*;
        let want: [(&str, Result<(), ParseError>); 40] = [
            // §3.1.1: every valid message parses.
            ("wsinv", Ok(())),
            ("intmeth", Ok(())),
            ("esc01", Ok(())),
            ("escnull", Ok(())),
            ("esc02", Ok(())),
            ("lwsdisp", Ok(())),
            ("longreq", Ok(())),
            ("dblreq", Ok(())),
            ("semiuri", Ok(())),
            ("transports", Ok(())),
            ("mpart01", Ok(())),
            ("unreason", Ok(())),
            ("noreason", Ok(())),
            // §3.1.2: invalid. Header *values* are not interpreted here, so
            // bad values (separators, quotes, dates, addr-specs, display
            // names, scalars) parse: the message was sent and is counted.
            ("badinv01", Ok(())),
            // Content-Length too large: parsed, flagged (tshark counts it).
            ("clerr", Ok(())),
            // Negative Content-Length: on a datagram the body is the rest,
            // flagged (`content_length_mismatch`); a stream refuses it.
            ("ncl", Ok(())),
            ("scalar02", Ok(())),
            ("scalarlg", Ok(())),
            ("quotbal", Ok(())),
            // The Request-URI is not validated beyond "no whitespace".
            ("ltgtruri", Ok(())),
            // Whitespace inside the Request-URI: the line is ambiguous.
            ("lwsruri", Err(BadStartLine)),
            // Extra SP between the elements / trailing SP: still unambiguous.
            ("lwsstart", Ok(())),
            ("trws", Ok(())),
            ("escruri", Ok(())),
            ("baddate", Ok(())),
            ("regbadct", Ok(())),
            ("badaspec", Ok(())),
            ("baddn", Ok(())),
            // Not SIP/2.0: not a message we can speak for.
            ("badvers", Err(BadStartLine)),
            ("mismatch01", Ok(())),
            ("mismatch02", Ok(())),
            // The status code must be exactly three digits.
            ("bigcode", Err(BadStartLine)),
            // §3.2/3.3: semantics, not syntax; `validate` catches insuf.
            ("insuf", Ok(())),
            ("unkscm", Ok(())),
            ("bext01", Ok(())),
            ("invut", Ok(())),
            // Two different Content-Lengths: as ncl.
            ("mcl01", Ok(())),
            ("bcast", Ok(())),
            ("cparam01", Ok(())),
            ("sdp01", Ok(())),
        ];
        assert_eq!(want.len(), ALL.len());
        for (name, verdict) in want {
            let got = parse_message(get(name)).map(|_| ());
            assert_eq!(got, verdict, "{name}");
        }
    }

    #[test]
    fn rfc4475_details() {
        use ParseError::BadContentLength;
        let m = parse_message(get("wsinv")).unwrap();
        assert_eq!(m.call_id(), Some(&b"wsinv.ndaksdj@192.0.2.1"[..]));
        assert_eq!(m.cseq(), Some((9, Method::Invite)));
        assert_eq!(m.headers_named(b"via").count(), 2);
        assert_eq!(
            m.headers_named(b"Max-Forwards").next().unwrap().value,
            b"0068"
        );
        assert_eq!(m.header(HeaderName::To).unwrap().raw_name, b"TO");
        assert!(m.body.starts_with(b"v=0\r\n") && !m.content_length_mismatch);
        assert_eq!(m.content_length(), Some(m.body.len()));
        assert_eq!(m.validate(), Ok(()));

        let m = parse_message(get("intmeth")).unwrap();
        assert!(matches!(
            m.start,
            StartLine::Request {
                method: Method::Unknown,
                ..
            }
        ));
        assert_eq!(m.cseq().map(|c| c.1), Some(Method::Unknown));

        let m = parse_message(get("esc02")).unwrap();
        assert_eq!(m.method(), Method::Unknown);
        assert_eq!(m.headers_named(b"contact").count(), 2); // C%6Fntact is another name

        let d = get("dblreq");
        let m = parse_message(d).unwrap();
        assert_eq!(m.method(), Method::Register);
        assert!(m.body.is_empty() && m.len < d.len());
        assert!(parse_message(&d[m.len..]).is_ok());

        let m = parse_message(get("noreason")).unwrap();
        assert_eq!(
            m.start,
            StartLine::Response {
                code: 100,
                reason: b""
            }
        );
        let m = parse_message(get("unreason")).unwrap();
        assert_eq!(m.status_class(), "2xx");

        let m = parse_message(get("clerr")).unwrap();
        assert!(m.content_length_mismatch);
        assert_eq!(m.validate(), Err(ParseError::TruncatedBody));
        assert_eq!(parse_message(get("scalar02")).unwrap().cseq(), None);
        let m = parse_message(get("mismatch01")).unwrap();
        assert_eq!(
            (m.method(), m.cseq()),
            (Method::Options, Some((8, Method::Invite)))
        );
        assert_eq!(
            parse_message(get("insuf")).unwrap().validate(),
            Err(ParseError::MissingHeader)
        );
        let m = parse_message(get("lwsstart")).unwrap();
        assert!(matches!(
            m.start,
            StartLine::Request {
                uri: b"sip:user@example.com",
                ..
            }
        ));
        assert_eq!(parse_message(get("mpart01")).unwrap().body.len(), 134);
        for name in ["ncl", "mcl01"] {
            let m = parse_message(get(name)).unwrap();
            assert!(m.content_length_mismatch, "{name}");
            let framed = crate::sip::framing::frame_stream(get(name));
            assert!(
                matches!(
                    framed,
                    crate::sip::framing::StreamFrame::Invalid {
                        error: BadContentLength,
                        ..
                    }
                ),
                "{name}"
            );
        }
    }

    #[test]
    fn rfc4475_every_prefix_is_bounded_and_panic_free() {
        for (_, d) in ALL {
            for cut in 0..d.len().min(600) {
                let _ = parse_message(&d[..cut]);
                let _ = crate::sip::framing::frame_stream(&d[..cut]);
            }
        }
    }
}
