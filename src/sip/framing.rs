//! Finding SIP messages in bytes: is a datagram SIP, where does a message end
//! in a TCP stream (RFC 3261 §18.3, Content-Length), is a stream TLS or a
//! WebSocket upgrade. No state of its own, no I/O: every function looks at
//! the bytes it is given and at most [`MAX_HEADER_BYTES`] of them for line
//! searches. Invariant of the resumable framer ([`frame_stream_from`]): given
//! the caller's [`FrameProgress`] for a buffer that only grew at its end, it
//! answers exactly as [`frame_stream`] on the whole buffer, and examines
//! each byte about once over all calls (amortised O(new bytes) per call),
//! so a message delivered one byte per TCP segment costs what it costs
//! whole.

use super::parse::{
    is_token, leading_crlf, parse_content_length, parse_start_line, trim, ParseError,
    MAX_HEADER_BYTES,
};

/// Largest body a stream message may announce. A TCP reassembly buffer never
/// holds more, so a bigger Content-Length could never complete: it is
/// refused at once rather than waited for.
pub const MAX_STREAM_BODY: usize = 1024 * 1024;

/// What the start of a TCP byte stream holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamFrame {
    /// A whole message (header section and Content-Length body) of `len` bytes.
    Complete { len: usize },
    /// `len` bytes of CRLF keep-alives (RFC 5626 §4.4.1 double-CRLF ping,
    /// §3.5.1 single-CRLF pong; RFC 3261 §7.5 empty lines): drop them.
    Skip { len: usize },
    /// A message starts here but is not all there yet.
    NeedMore,
    /// The data does not start with a usable message: drop `skip` bytes (the
    /// next line that looks like a start line, or all complete lines) and try
    /// again. `error` says why, for the parse error counter.
    Invalid { skip: usize, error: ParseError },
}

/// First line of `data` from `from`: `(content without CR/LF, offset past LF)`.
fn line_at(data: &[u8], from: usize) -> Option<(&[u8], usize)> {
    let rest = data.get(from..)?;
    let lf = rest.iter().position(|&b| b == b'\n')?;
    let line = rest.get(..lf)?;
    Some((line.strip_suffix(b"\r").unwrap_or(line), from + lf + 1))
}

/// Is this datagram (or stream start) SIP? The first line after any CRLFs is
/// a request line ending in `SIP/2.0` or a status line `SIP/2.0 NNN`, on any
/// port. Looks at no more than [`MAX_HEADER_BYTES`].
pub fn looks_like_sip(data: &[u8]) -> bool {
    let begin = leading_crlf(data);
    let window = data
        .get(..data.len().min(begin.saturating_add(MAX_HEADER_BYTES)))
        .unwrap_or(data);
    match line_at(window, begin) {
        Some((line, _)) => parse_start_line(line).is_ok(),
        None => false,
    }
}

/// Could `partial` (a line with no line end yet) grow into a start line?
/// Used to decide between waiting and giving up.
pub fn could_be_start_line(partial: &[u8]) -> bool {
    let n = partial.len().min(8);
    if partial
        .get(..n)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"SIP/2.0 ".get(..n).unwrap_or(&[])))
    {
        return true;
    }
    let sp = partial
        .iter()
        .position(|&b| b == b' ')
        .unwrap_or(partial.len());
    let method = partial.get(..sp).unwrap_or(&[]);
    let rest = partial.get(sp..).unwrap_or(&[]);
    method.iter().all(|&b| is_token(b)) && !rest.iter().any(|&b| b.is_ascii_control() && b != b'\r')
}

/// Offset of the line after `from` that looks like a start line; otherwise
/// the start of a trailing incomplete line that could still become one;
/// otherwise the whole length. Always > 0 for non-empty `data` (the first
/// line is known bad), so resync always makes progress.
pub fn resync_offset(data: &[u8]) -> usize {
    let limit = data.len().min(MAX_HEADER_BYTES * 2);
    let window = data.get(..limit).unwrap_or(data);
    let mut pos = match window.iter().position(|&b| b == b'\n') {
        Some(lf) => lf + 1,
        None => return limit,
    };
    while pos < window.len() {
        match line_at(window, pos) {
            Some((line, next)) => {
                if !line.is_empty() && parse_start_line(line).is_ok() {
                    return pos;
                }
                pos = next;
            }
            None => {
                let partial = window.get(pos..).unwrap_or(&[]);
                if data.len() == limit && could_be_start_line(partial) {
                    return pos;
                }
                return window.len();
            }
        }
    }
    pos.min(data.len())
}

/// Offset just past the empty line that ends the header section (CRLFCRLF,
/// or LF-only line ends), searching from `from` and at most
/// [`MAX_HEADER_BYTES`] past it.
pub fn header_end(data: &[u8], from: usize) -> Option<usize> {
    let limit = data.len().min(from.saturating_add(MAX_HEADER_BYTES));
    let window = data.get(..limit)?;
    let mut pos = from;
    while let Some((line, next)) = line_at(window, pos) {
        if line.is_empty() {
            return Some(next);
        }
        pos = next;
    }
    None
}

/// Content-Length from a header section (lines after the start line), by a
/// light scan that needs no allocation; folded values are followed.
fn scan_content_length(head: &[u8], from: usize) -> Result<Option<usize>, ParseError> {
    let mut pos = from;
    let mut found: Option<usize> = None;
    while let Some((line, next)) = line_at(head, pos) {
        let line_start = pos;
        pos = next;
        if line.is_empty() {
            break;
        }
        // A continuation line belongs to the header before it.
        if line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = trim(line.get(..colon).unwrap_or(&[]));
        if !(name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l")) {
            continue;
        }
        let start = line_start + colon + 1;
        let mut end = pos;
        // obs-fold continuation lines (RFC 3261 §7.3.1).
        while let Some((cont, n)) = line_at(head, end) {
            if cont.first().is_some_and(|&b| b == b' ' || b == b'\t') {
                end = n;
            } else {
                break;
            }
        }
        let n = parse_content_length(head.get(start..end).unwrap_or(&[]))?;
        if found.is_some_and(|f| f != n) {
            return Err(ParseError::BadContentLength);
        }
        found = Some(n);
    }
    Ok(found)
}

/// How far [`frame_stream_from`] got in a message that is not complete
/// yet, so a stream fed in small pieces scans each byte once (amortised)
/// instead of re-reading the whole message on every segment. Valid for one
/// buffer that only grows at its end; the caller resets it (or lets
/// `frame_stream_from` reset it) whenever the front of its buffer moves.
#[derive(Debug, Default, Clone)]
pub struct FrameProgress {
    /// Buffer length at the last call (a shorter buffer means the caller
    /// dropped bytes: start over).
    seen: usize,
    stage: Stage,
    /// The start line so far, while in [`Stage::Start`].
    scan: StartLineScan,
    /// Bytes examined since creation (never reset): a work counter for
    /// tests and benches.
    work: u64,
}

#[derive(Debug, Default, Clone, Copy)]
enum Stage {
    /// Looking for the first LF: none in `data[..scanned]`; the start line
    /// so far is followed by [`StartLineScan`].
    #[default]
    Start,
    /// The start line is valid and ends at `after_first`; header lines are
    /// complete up to `line` (the start of the line being read), and no LF
    /// is in `data[line..scanned]`.
    Headers {
        after_first: usize,
        line: usize,
        scanned: usize,
    },
    /// The header section is complete; the message is `len` bytes.
    Body { len: usize },
}

impl FrameProgress {
    /// Bytes examined so far.
    pub fn work(&self) -> u64 {
        self.work
    }

    /// Start over at a new message (the work counter is kept).
    pub fn reset(&mut self) {
        self.seen = 0;
        self.stage = Stage::Start;
        self.scan = StartLineScan::default();
    }
}

/// [`could_be_start_line`] of a first line that is still arriving, kept up
/// to date byte by byte (each byte looked at once), with where its LF is.
#[derive(Debug, Clone, Copy)]
pub struct StartLineScan {
    /// Bytes looked at (all without LF).
    scanned: usize,
    /// Offset of the first space.
    sp: Option<usize>,
    /// Every byte before the first space is a token character.
    method_ok: bool,
    /// No control character (other than CR) from the first space on.
    rest_ok: bool,
}

impl Default for StartLineScan {
    fn default() -> Self {
        StartLineScan {
            scanned: 0,
            sp: None,
            method_ok: true,
            rest_ok: true,
        }
    }
}

impl StartLineScan {
    /// Bytes looked at so far.
    pub fn scanned(&self) -> usize {
        self.scanned
    }

    /// Take in `data[self.scanned..]` up to the first LF; its offset.
    pub fn feed(&mut self, data: &[u8]) -> Option<usize> {
        let from = self.scanned;
        for (i, &b) in data.get(from..).unwrap_or(&[]).iter().enumerate() {
            if b == b'\n' {
                self.scanned = from + i;
                return Some(from + i);
            }
            if self.sp.is_none() {
                if b == b' ' {
                    self.sp = Some(from + i);
                } else if !is_token(b) {
                    self.method_ok = false;
                }
            } else if b.is_ascii_control() && b != b'\r' {
                self.rest_ok = false;
            }
        }
        self.scanned = data.len();
        None
    }

    /// [`could_be_start_line`] of everything fed so far (`data` is the
    /// buffer fed; its first 8 bytes are looked at again).
    pub fn could_be(&self, data: &[u8]) -> bool {
        let n = data.len().min(8);
        data.get(..n)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"SIP/2.0 ".get(..n).unwrap_or(&[])))
            || (self.method_ok && self.rest_ok)
    }
}

/// Where the first message in a TCP byte stream ends (RFC 3261 §18.3: the
/// header section, then exactly Content-Length bytes; a missing
/// Content-Length on a stream means an empty body).
pub fn frame_stream(data: &[u8]) -> StreamFrame {
    frame_stream_from(data, &mut FrameProgress::default())
}

/// [`frame_stream`] resuming where the last call on the same growing buffer
/// stopped: the same answer, each byte scanned once however the buffer was
/// split. `p` is reset whenever the answer is not `NeedMore` (the caller
/// then drops bytes from the front).
pub fn frame_stream_from(data: &[u8], p: &mut FrameProgress) -> StreamFrame {
    if data.len() < p.seen {
        p.reset();
    }
    p.seen = data.len();
    let r = frame_step(data, p);
    if r != StreamFrame::NeedMore {
        p.reset();
    }
    r
}

fn frame_step(data: &[u8], p: &mut FrameProgress) -> StreamFrame {
    let Some(&first_byte) = data.first() else {
        return StreamFrame::NeedMore;
    };
    if let Stage::Start = p.stage {
        if first_byte == b'\r' || first_byte == b'\n' {
            let crlf = leading_crlf(data);
            p.work += crlf as u64;
            return StreamFrame::Skip { len: crlf };
        }
        let before = p.scan.scanned;
        let lf = p.scan.feed(data);
        p.work += p.scan.scanned.saturating_sub(before) as u64 + 8;
        let Some(lf) = lf else {
            if data.len() < MAX_HEADER_BYTES && p.scan.could_be(data) {
                return StreamFrame::NeedMore;
            }
            let error = if data.len() >= MAX_HEADER_BYTES {
                ParseError::HeadersTooLong
            } else {
                ParseError::BadStartLine
            };
            return invalid(data, error, p);
        };
        let line = data.get(..lf).unwrap_or(&[]);
        let first = line.strip_suffix(b"\r").unwrap_or(line);
        p.work += first.len() as u64;
        if let Err(error) = parse_start_line(first) {
            return invalid(data, error, p);
        }
        p.stage = Stage::Headers {
            after_first: lf + 1,
            line: lf + 1,
            scanned: lf + 1,
        };
    }
    if let Stage::Headers {
        after_first,
        mut line,
        mut scanned,
    } = p.stage
    {
        // The header section ends within MAX_HEADER_BYTES of the start line.
        let limit = data.len().min(after_first.saturating_add(MAX_HEADER_BYTES));
        let window = data.get(..limit).unwrap_or(&[]);
        let mut head_end = None;
        while let Some(lf) = window
            .get(scanned..)
            .and_then(|r| r.iter().position(|&b| b == b'\n'))
        {
            let at = scanned + lf;
            p.work += (lf + 1) as u64;
            let content = window.get(line..at).unwrap_or(&[]);
            if content.is_empty() || content == b"\r" {
                head_end = Some(at + 1);
                break;
            }
            line = at + 1;
            scanned = at + 1;
        }
        let Some(head_end) = head_end else {
            p.work += window.len().saturating_sub(scanned) as u64;
            p.stage = Stage::Headers {
                after_first,
                line,
                scanned: window.len().max(scanned),
            };
            if data.len() >= MAX_HEADER_BYTES {
                return invalid(data, ParseError::HeadersTooLong, p);
            }
            return StreamFrame::NeedMore;
        };
        let head = data.get(..head_end).unwrap_or(&[]);
        p.work += head_end.saturating_sub(after_first) as u64;
        let body = match scan_content_length(head, after_first) {
            Ok(n) => n.unwrap_or(0),
            Err(error) => {
                return StreamFrame::Invalid {
                    skip: head_end,
                    error,
                }
            }
        };
        if body > MAX_STREAM_BODY {
            return StreamFrame::Invalid {
                skip: head_end,
                error: ParseError::BadContentLength,
            };
        }
        p.stage = Stage::Body {
            len: head_end + body,
        };
    }
    match p.stage {
        Stage::Body { len } if data.len() >= len => StreamFrame::Complete { len },
        _ => StreamFrame::NeedMore,
    }
}

/// No usable message at the front: skip to the next possible start line.
fn invalid(data: &[u8], error: ParseError, p: &mut FrameProgress) -> StreamFrame {
    let skip = resync_offset(data);
    p.work += skip.min(MAX_HEADER_BYTES * 2) as u64;
    StreamFrame::Invalid { skip, error }
}

/// A TLS record header (RFC 8446 §5.1): content type 20..=23
/// (change_cipher_spec, alert, handshake, application_data), legacy version
/// 0x0300..=0x0304, length at most 2^14 + 2048 (RFC 5246 §6.2.3).
pub fn is_tls_record(data: &[u8]) -> bool {
    match data {
        [t, 3, minor, hi, lo, ..] => {
            (20..=23).contains(t)
                && *minor <= 4
                && u16::from_be_bytes([*hi, *lo]) <= (1 << 14) + 2048
        }
        _ => false,
    }
}

/// A TLS handshake record whose first message is a ClientHello (type 1).
pub fn tls_client_hello(data: &[u8]) -> bool {
    is_tls_record(data) && data.first() == Some(&22) && data.get(5) == Some(&1)
}

/// An HTTP/1.1 `GET` whose headers (as far as present) carry
/// `Upgrade: websocket` (RFC 6455 §4.1; RFC 7118 §4 for SIP).
pub fn looks_like_websocket_upgrade(data: &[u8]) -> bool {
    let window = data.get(..data.len().min(MAX_HEADER_BYTES)).unwrap_or(data);
    let Some((first, mut pos)) = line_at(window, 0) else {
        return false;
    };
    if !first.starts_with(b"GET ") || !first.ends_with(b"HTTP/1.1") {
        return false;
    }
    while let Some((line, next)) = line_at(window, pos) {
        if line.is_empty() {
            break;
        }
        if let Some(colon) = line.iter().position(|&b| b == b':') {
            let name = trim(line.get(..colon).unwrap_or(&[]));
            let value = line.get(colon + 1..).unwrap_or(&[]);
            if name.eq_ignore_ascii_case(b"upgrade")
                && value
                    .windows(9)
                    .any(|w| w.eq_ignore_ascii_case(b"websocket"))
            {
                return true;
            }
        }
        pos = next;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPT: &[u8] = b"OPTIONS sip:h SIP/2.0\r\nCall-ID: 1\r\nContent-Length: 3\r\n\r\nabc";

    #[test]
    fn looks_like_sip_cases() {
        assert!(looks_like_sip(OPT));
        assert!(looks_like_sip(b"\r\n\r\nSIP/2.0 200 OK\r\n"));
        assert!(looks_like_sip(b"foo sip:h SIP/2.0\n"));
        // No line end yet, HTTP, RTP, STUN, empty.
        assert!(!looks_like_sip(b"OPTIONS sip:h SIP/2.0"));
        assert!(!looks_like_sip(b"GET / HTTP/1.1\r\n\r\n"));
        assert!(!looks_like_sip(b"\x80\x00\x00\x01\x00\x00\x00\x00\n"));
        assert!(!looks_like_sip(b""));
        assert!(!looks_like_sip(b"\r\n\r\n"));
    }

    #[test]
    fn frame_complete_and_need_more() {
        assert_eq!(frame_stream(OPT), StreamFrame::Complete { len: OPT.len() });
        for cut in 1..OPT.len() {
            assert_eq!(
                frame_stream(&OPT[..cut]),
                StreamFrame::NeedMore,
                "cut {cut}"
            );
        }
        // Two messages back to back: the first one only.
        let mut two = OPT.to_vec();
        two.extend_from_slice(OPT);
        assert_eq!(frame_stream(&two), StreamFrame::Complete { len: OPT.len() });
        // No Content-Length on a stream: empty body (RFC 3261 §18.3).
        assert_eq!(
            frame_stream(b"BYE sip:h SIP/2.0\nCall-ID: 1\n\nBYE sip:h"),
            StreamFrame::Complete { len: 30 }
        );
        // Compact, folded Content-Length.
        assert_eq!(
            frame_stream(b"BYE sip:h SIP/2.0\r\nl :\r\n 2\r\n\r\nxy"),
            StreamFrame::Complete { len: 32 }
        );
        // No space after the colon, CRLF line ends; a folded line that
        // looks like `l:` is not a Content-Length.
        assert_eq!(
            frame_stream(b"BYE sip:h SIP/2.0\r\nSubject: a\r\n l: 9\r\nl:3\r\n\r\nxyz"),
            StreamFrame::Complete { len: 48 } // 19 + 12 + 7 + 5 + 2 + 3
        );
        // Start line straight followed by the empty line.
        assert_eq!(
            frame_stream(b"BYE sip:h SIP/2.0\r\n\r\n"),
            StreamFrame::Complete { len: 21 }
        );
    }

    #[test]
    fn frame_keepalive_and_invalid() {
        // RFC 5626 §4.4.1 double-CRLF ping.
        assert_eq!(frame_stream(b"\r\n\r\n"), StreamFrame::Skip { len: 4 });
        assert_eq!(frame_stream(b"\r\n\r\nBYE"), StreamFrame::Skip { len: 4 });
        // Garbage then a start line: skip to it.
        let d = b"tail of a body\r\nmore\r\nBYE sip:h SIP/2.0\r\n\r\n";
        assert_eq!(
            frame_stream(d),
            StreamFrame::Invalid {
                skip: 22,
                error: ParseError::BadStartLine
            }
        );
        assert!(matches!(
            frame_stream(&d[22..]),
            StreamFrame::Complete { .. }
        ));
        // Garbage, no start line: drop the complete lines, keep a
        // trailing partial line that could still become one.
        assert_eq!(
            frame_stream(b"junk\r\nINV"),
            StreamFrame::Invalid {
                skip: 6,
                error: ParseError::BadStartLine
            }
        );
        assert_eq!(
            frame_stream(b"\x16\x03\x01\x00\x05hello"),
            StreamFrame::Invalid {
                skip: 10,
                error: ParseError::BadStartLine
            }
        );
        // Bad Content-Length: skip the header section.
        assert_eq!(
            frame_stream(b"BYE sip:h SIP/2.0\r\nl: x\r\n\r\n"),
            StreamFrame::Invalid {
                skip: 27,
                error: ParseError::BadContentLength
            }
        );
        // Body larger than any stream buffer.
        assert_eq!(
            frame_stream(b"BYE sip:h SIP/2.0\r\nl: 99999999\r\n\r\n"),
            StreamFrame::Invalid {
                skip: 34,
                error: ParseError::BadContentLength
            }
        );
    }

    #[test]
    fn frame_bounds() {
        let mut d = b"BYE sip:h SIP/2.0\r\nX: ".to_vec();
        d.resize(MAX_HEADER_BYTES - 100, b'a');
        assert_eq!(frame_stream(&d), StreamFrame::NeedMore);
        d.resize(MAX_HEADER_BYTES + 100, b'a');
        assert!(matches!(
            frame_stream(&d),
            StreamFrame::Invalid { error: ParseError::HeadersTooLong, skip } if skip > 0
        ));
    }

    #[test]
    fn tls_detection() {
        // ClientHello record: handshake(22), TLS 1.0 record version, len 0x00c8, type 1.
        let ch = [
            0x16, 0x03, 0x01, 0x00, 0xc8, 0x01, 0x00, 0x00, 0xc4, 0x03, 0x03,
        ];
        assert!(is_tls_record(&ch));
        assert!(tls_client_hello(&ch));
        // Application data, TLS 1.2.
        assert!(is_tls_record(&[0x17, 0x03, 0x03, 0x01, 0x00]));
        assert!(!tls_client_hello(&[0x17, 0x03, 0x03, 0x01, 0x00, 0x01]));
        assert!(!is_tls_record(&[0x16, 0x03, 0x05, 0x00, 0x10]));
        assert!(!is_tls_record(&[0x18, 0x03, 0x01, 0x00, 0x10]));
        assert!(!is_tls_record(&[0x16, 0x03, 0x01, 0xff, 0xff]));
        assert!(!is_tls_record(b"INVITE"));
        assert!(!is_tls_record(&[0x16, 0x03]));
    }

    #[test]
    fn websocket_upgrade() {
        let get = b"GET /sip HTTP/1.1\r\nHost: h\r\nUpgrade: WebSocket\r\n\
            Connection: Upgrade\r\nSec-WebSocket-Protocol: sip\r\n\r\n";
        assert!(looks_like_websocket_upgrade(get));
        assert!(!looks_like_websocket_upgrade(
            b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"
        ));
        assert!(!looks_like_websocket_upgrade(
            b"POST / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n"
        ));
    }

    /// Pieces a hostile or ordinary stream is made of.
    fn stream_parts() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        let part = prop_oneof![
            Just(OPT.to_vec()),
            Just(b"\r\n\r\n".to_vec()),
            Just(b"BYE sip:h SIP/2.0\nl: 2\n\nxy".to_vec()),
            Just(b"BYE sip:h SIP/2.0\r\nl: x\r\n\r\n".to_vec()),
            Just(b"junk line\r\n".to_vec()),
            (0usize..40, 0usize..300).prop_map(|(n, body)| {
                let mut m = b"INVITE sip:a@b SIP/2.0\r\n".to_vec();
                for i in 0..n {
                    m.extend_from_slice(format!("X-H{i}: {}\r\n", "v".repeat(i)).as_bytes());
                }
                m.extend_from_slice(format!("Content-Length: {body}\r\n\r\n").as_bytes());
                m.resize(m.len() + body, b'b');
                m
            }),
            proptest::collection::vec(any::<u8>(), 0..40),
        ];
        proptest::collection::vec(part, 1..8).prop_map(|v| v.concat())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, ..Default::default() })]
        /// Fed in random pieces, resuming from saved progress, the framer
        /// answers exactly as a fresh scan of the same buffer would.
        #[test]
        fn resumed_framing_equals_fresh(
            data in stream_parts(),
            cuts in proptest::collection::vec(0usize..4096, 0..24),
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (data.len() + 1)).collect();
            cuts.push(data.len());
            cuts.sort_unstable();
            let (mut buf, mut p, mut from) = (Vec::new(), FrameProgress::default(), 0);
            for c in cuts {
                buf.extend_from_slice(&data[from..c]);
                from = c;
                loop {
                    let r = frame_stream_from(&buf, &mut p);
                    proptest::prop_assert_eq!(r, frame_stream(&buf));
                    let n = match r {
                        StreamFrame::NeedMore => break,
                        StreamFrame::Complete { len } | StreamFrame::Skip { len } => len,
                        StreamFrame::Invalid { skip, .. } => skip,
                    };
                    buf.drain(..n.clamp(1, buf.len()));
                }
            }
        }
    }

    /// A long header section fed one byte at a time is scanned about as
    /// often as fed at once (the header-end search resumes).
    #[test]
    fn byte_at_a_time_scans_each_byte_once() {
        let mut m = b"INVITE sip:a@b SIP/2.0\r\n".to_vec();
        while m.len() < 6000 {
            m.extend_from_slice(b"X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        m.extend_from_slice(b"Content-Length: 0\r\n\r\n");
        let mut whole = FrameProgress::default();
        assert_eq!(
            frame_stream_from(&m, &mut whole),
            StreamFrame::Complete { len: m.len() }
        );
        let mut p = FrameProgress::default();
        for n in 1..m.len() {
            assert_eq!(frame_stream_from(&m[..n], &mut p), StreamFrame::NeedMore);
        }
        assert_eq!(
            frame_stream_from(&m, &mut p),
            StreamFrame::Complete { len: m.len() }
        );
        let ratio = p.work() as f64 / whole.work() as f64;
        assert!(
            ratio <= 1.5,
            "{} vs {} bytes examined",
            p.work(),
            whole.work()
        );
        // The counter sees rescans: starting over on every call (what the
        // framer did before it kept progress) costs hundreds of times more.
        let mut rescans = 0;
        for n in (1..m.len()).step_by(16) {
            let mut fresh = FrameProgress::default();
            frame_stream_from(&m[..n], &mut fresh);
            rescans += fresh.work() * 16;
        }
        assert!(rescans > 100 * whole.work(), "{rescans}");
    }
}
