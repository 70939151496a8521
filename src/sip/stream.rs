//! Per-TCP-stream SIP state: what the stream is (SIP, WebSocket, TLS, not SIP)
//! and what was consumed. Parses no bytes itself: calls `framing`, `ws`, `parse`.
//!
//! One [`StreamState`] per TCP direction, kept by the caller beside its
//! reassembly buffer. The caller hands in the buffered bytes; the state says
//! how many it consumed (only whole messages, keep-alives or garbage it gave
//! up on) and the caller drops those. Memory: one scratch buffer for unmasked
//! WebSocket payloads and one for a fragmented WebSocket message, each at
//! most [`MAX_WS_MESSAGE`] bytes, given back to the allocator after a
//! message larger than [`KEEP_CAPACITY`]; both are reported to the TCP
//! reassembler's byte budget ([`HeldBytes`]).
//!
//! Cost: amortised O(new bytes) per call. The caller offers the whole
//! unconsumed buffer each time, so every search that could re-read it
//! (Content-Length framing, the WebSocket upgrade's header section) resumes
//! where the previous call stopped ([`framing::FrameProgress`],
//! `hs_scan`): a message sent one byte per segment is scanned once, not
//! once per segment.

use super::framing::{self, FrameProgress, StreamFrame};
use super::parse::{self, parse_message, Message, ParseError, MAX_HEADER_BYTES};
use super::ws::{self, Opcode};
use super::Transport;
use crate::decode::tcp::HeldBytes;

/// Largest SIP message reassembled from WebSocket fragments (RFC 6455 §5.4).
pub const MAX_WS_MESSAGE: usize = 1024 * 1024;
/// Bytes seen without a start line before a stream is declared not SIP.
pub const CLASSIFY_LIMIT: usize = 4096;
/// Above this capacity, a buffer is given back once its message is done.
pub const KEEP_CAPACITY: usize = 64 * 1024;

crate::label_enum! {
    /// What a stream turned out to be.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub enum StreamKind {
        #[default]
        Unknown = "unknown",
        /// SIP messages framed by Content-Length (RFC 3261 §18.3).
        Sip = "sip",
        /// An HTTP request or response head that may upgrade to WebSocket.
        WebSocketHandshake = "websocket_handshake",
        /// WebSocket frames carrying SIP (RFC 7118).
        WebSocket = "websocket",
        /// TLS records: SIP inside cannot be seen (transport `tls`).
        Tls = "tls",
        /// Something else; final for the stream.
        NotSip = "not_sip",
    }
}

/// What a stream yields, in order.
#[derive(Debug)]
pub enum SipEvent<'a> {
    Message {
        transport: Transport,
        msg: Message<'a>,
    },
    ParseError {
        transport: Transport,
        error: ParseError,
    },
    /// The stream is TLS (emitted once); the SIP inside is not readable,
    /// its handshake is read on ([`SipEvent::Tls`]). `first`
    /// holds the bytes that showed it (the start of the first record: a
    /// ClientHello on the client's side, whose SNI is an exposure).
    TlsStream { first: &'a [u8] },
    /// What the TLS handshake in clear showed (`tls::TlsReader`), until it
    /// is encrypted or over.
    Tls(crate::tls::Event<'a>),
    /// The stream is not SIP (emitted once).
    NotSip,
}

#[derive(Debug, Default)]
pub struct StreamState {
    kind: StreamKind,
    /// After a gap or a bad message: skip to the next start line quietly.
    resync: bool,
    /// WebSocket frames lost their alignment (gap): search for a frame.
    ws_resync: bool,
    /// A fragmented WebSocket message is being joined in `ws_msg`.
    ws_fragmenting: bool,
    /// The fragmented message grew past the bound: drop until its last frame.
    ws_discarding: bool,
    ws_msg: Vec<u8>,
    scratch: Vec<u8>,
    /// Content-Length framing progress in the message at the front.
    frame: FrameProgress,
    /// Where the WebSocket upgrade's header-end search resumes.
    hs_scan: usize,
    /// Bytes the header-end search examined.
    hs_work: u64,
    /// Classification progress while the kind is unknown.
    class: ClassifyProgress,
    /// The TLS handshake reader of a TLS stream, dropped once the
    /// handshake is encrypted or over (then a segment costs O(1)).
    tls: Option<Box<crate::tls::TlsReader>>,
}

/// How far classification got in an unknown stream's first bytes (after
/// leading CRLFs), which only grow at their end until it decides.
#[derive(Debug, Default)]
struct ClassifyProgress {
    /// Length of those bytes at the last call (shorter: start over).
    seen: usize,
    /// The first line so far.
    first: framing::StartLineScan,
    /// Offset just past the first line's LF, once seen.
    after_first: Option<usize>,
    /// Start of the first later line not yet checked for a start line.
    next_line: usize,
    /// Bytes of the first 512 checked for binary.
    bin_checked: usize,
    binary: bool,
    /// Bytes examined.
    work: u64,
}

impl HeldBytes for StreamState {
    fn held_bytes(&self) -> usize {
        self.ws_msg.capacity()
            + self.scratch.capacity()
            + self.tls.as_ref().map_or(0, |t| t.held_bytes())
    }
}

/// Empty `v`, giving its memory back when it grew large.
fn clear_shrink(v: &mut Vec<u8>) {
    if v.capacity() > KEEP_CAPACITY {
        *v = Vec::new();
    } else {
        v.clear();
    }
}

impl StreamState {
    pub fn kind(&self) -> StreamKind {
        self.kind
    }

    /// Bytes the framing searches examined so far (tests and benches
    /// compare this across ways of splitting the same bytes).
    pub fn framing_work(&self) -> u64 {
        self.frame
            .work()
            .saturating_add(self.hs_work)
            .saturating_add(self.class.work)
    }

    /// Bytes were lost before the next `on_data`: drop partial state and
    /// look for the next message boundary.
    pub fn on_gap(&mut self) {
        // What was buffered is gone: searches start over.
        self.frame.reset();
        self.hs_scan = 0;
        self.class = ClassifyProgress::default();
        clear_shrink(&mut self.scratch);
        match self.kind {
            StreamKind::Sip | StreamKind::Unknown => self.resync = true,
            StreamKind::WebSocket | StreamKind::WebSocketHandshake => {
                self.kind = StreamKind::WebSocket;
                self.ws_resync = true;
                self.ws_fragmenting = false;
                self.ws_discarding = false;
                clear_shrink(&mut self.ws_msg);
            }
            StreamKind::Tls => {
                // Record boundaries are lost: the handshake is not read on.
                self.tls = None;
            }
            StreamKind::NotSip => {}
        }
    }

    /// Feed the stream's buffered bytes; events go to `f`. Returns how many
    /// leading bytes of `data` were consumed; the rest must be offered again,
    /// with more appended, on the next call.
    pub fn on_data<F: FnMut(SipEvent<'_>)>(
        &mut self,
        data: &[u8],
        tls_port_hint: bool,
        mut f: F,
    ) -> usize {
        let mut pos = 0;
        // Each pass either consumes bytes, changes kind, or returns: bounded.
        for _ in 0..8 {
            let rest = data.get(pos..).unwrap_or(&[]);
            let before = (pos, self.kind);
            match self.kind {
                StreamKind::Unknown => pos += self.classify(rest, tls_port_hint, &mut f),
                StreamKind::WebSocketHandshake => pos += self.handshake(rest, &mut f),
                StreamKind::Sip => return pos + self.sip(rest, &mut f),
                StreamKind::WebSocket => return pos + self.websocket(rest, &mut f),
                StreamKind::Tls => return pos + self.tls_records(rest, &mut f),
                StreamKind::NotSip => return data.len(),
            }
            if before == (pos, self.kind) {
                break;
            }
        }
        pos
    }

    /// The stream is not SIP: final.
    fn set_final(&mut self, kind: StreamKind, f: &mut impl FnMut(SipEvent<'_>)) {
        self.kind = kind;
        f(SipEvent::NotSip);
    }

    /// A TLS stream's records: handshake events until the reader is done,
    /// then everything is consumed unread.
    fn tls_records(&mut self, data: &[u8], f: &mut impl FnMut(SipEvent<'_>)) -> usize {
        let Some(reader) = self.tls.as_deref_mut() else {
            return data.len();
        };
        let used = reader.feed(data, &mut |e| f(SipEvent::Tls(e)));
        if reader.done() {
            self.tls = None;
        }
        used
    }

    /// Decide what the stream is from its first bytes; returns bytes consumed.
    fn classify(
        &mut self,
        data: &[u8],
        tls_port_hint: bool,
        f: &mut impl FnMut(SipEvent<'_>),
    ) -> usize {
        let Some(&first) = data.first() else { return 0 };
        // TLS record header (RFC 8446 §5.1). On a TLS port the first byte
        // alone is enough: SSLv2-style or short first segments.
        if framing::is_tls_record(data) || (tls_port_hint && (20..=23).contains(&first)) {
            self.kind = StreamKind::Tls;
            self.tls = Some(Box::default());
            f(SipEvent::TlsStream { first: data });
            // Nothing consumed: the records are read from the start.
            return 0;
        }
        if data.len() < 5 && (20..=23).contains(&first) {
            return 0;
        }
        let crlf = parse::leading_crlf(data);
        let body = data.get(crlf..).unwrap_or(&[]);
        if body.is_empty() {
            return data.len();
        }
        if body.starts_with(b"GET ") || body.starts_with(b"HTTP/1.") {
            self.kind = StreamKind::WebSocketHandshake;
            return crlf;
        }
        if b"GET ".starts_with(body) || b"HTTP/1.".starts_with(body) {
            return 0;
        }
        // From here each call only looks at the bytes that are new since
        // the last (`ClassifyProgress`): waiting for the first line of a
        // stream sent one byte per segment costs O(1) per segment.
        let c = &mut self.class;
        if body.len() < c.seen {
            *c = ClassifyProgress::default();
        }
        c.seen = body.len();
        let mut lf_seen = true;
        if c.after_first.is_none() {
            let before = c.first.scanned();
            let lf = c.first.feed(body);
            c.work += c.first.scanned().saturating_sub(before) as u64 + 8;
            match lf {
                Some(lf) => {
                    let line = body.get(..lf).unwrap_or(&[]);
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    c.work += line.len() as u64;
                    // `looks_like_sip`: a start line within MAX_HEADER_BYTES.
                    if lf < MAX_HEADER_BYTES && parse::parse_start_line(line).is_ok() {
                        self.kind = StreamKind::Sip;
                        return crlf;
                    }
                    c.after_first = Some(lf + 1);
                    c.next_line = lf + 1;
                }
                None => {
                    // A start line may still be arriving.
                    if body.len() < CLASSIFY_LIMIT && c.first.could_be(body) {
                        return 0;
                    }
                    lf_seen = false;
                }
            }
        }
        if lf_seen {
            // Not at a start line: a capture that began mid-connection, or
            // a gap. A later line that is a start line makes it SIP
            // (`framing::resync_offset`); lines already checked are not
            // looked at again.
            let limit = body.len().min(MAX_HEADER_BYTES * 2);
            let window = body.get(..limit).unwrap_or(&[]);
            while let Some(lf) = window
                .get(c.next_line..)
                .and_then(|r| r.iter().position(|&b| b == b'\n'))
            {
                let at = c.next_line + lf;
                let line = window.get(c.next_line..at).unwrap_or(&[]);
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                c.work += (lf + 1 + line.len()) as u64;
                if !line.is_empty() && parse::parse_start_line(line).is_ok() {
                    let skip = c.next_line;
                    self.kind = StreamKind::Sip;
                    return crlf + skip;
                }
                c.next_line = at + 1;
            }
        }
        // Binary bytes among the first 512 (checked once each), or too
        // much text without a start line: not SIP.
        let end = body.len().min(512);
        if c.bin_checked < end {
            let new = body.get(c.bin_checked..end).unwrap_or(&[]);
            c.work += new.len() as u64;
            c.binary |= new
                .iter()
                .any(|&b| b.is_ascii_control() && !matches!(b, b'\r' | b'\n' | b'\t'));
            c.bin_checked = end;
        }
        if c.binary || body.len() >= CLASSIFY_LIMIT {
            self.set_final(StreamKind::NotSip, f);
            return data.len();
        }
        0
    }

    /// HTTP head of a WebSocket upgrade (RFC 6455 §4): the client's `GET`
    /// with `Upgrade: websocket`, or the server's `101`.
    fn handshake(&mut self, data: &[u8], f: &mut impl FnMut(SipEvent<'_>)) -> usize {
        let from = self.hs_scan;
        let found = ws::http_header_end_from(data, MAX_HEADER_BYTES, &mut self.hs_scan);
        self.hs_work += self.hs_scan.saturating_sub(from) as u64;
        let Some(end) = found else {
            if data.len() >= MAX_HEADER_BYTES {
                self.set_final(StreamKind::NotSip, f);
                return data.len();
            }
            return 0;
        };
        self.hs_scan = 0;
        let head = data.get(..end).unwrap_or(&[]);
        self.hs_work += end as u64;
        if framing::looks_like_websocket_upgrade(head) || ws::is_http_101(head) {
            self.kind = StreamKind::WebSocket;
            end
        } else {
            self.set_final(StreamKind::NotSip, f);
            data.len()
        }
    }

    /// Content-Length framed SIP over TCP.
    fn sip(&mut self, data: &[u8], f: &mut impl FnMut(SipEvent<'_>)) -> usize {
        let mut pos = 0;
        while pos < data.len() {
            let rest = data.get(pos..).unwrap_or(&[]);
            match framing::frame_stream_from(rest, &mut self.frame) {
                StreamFrame::Skip { len } => pos += len.max(1),
                StreamFrame::NeedMore => break,
                StreamFrame::Complete { len } => {
                    self.resync = false;
                    let bytes = rest.get(..len).unwrap_or(rest);
                    match parse_message(bytes) {
                        Ok(msg) => f(SipEvent::Message {
                            transport: Transport::Tcp,
                            msg,
                        }),
                        Err(error) => f(SipEvent::ParseError {
                            transport: Transport::Tcp,
                            error,
                        }),
                    }
                    pos += len.max(1);
                }
                StreamFrame::Invalid { skip, error } => {
                    // One error per run of garbage, none right after a gap
                    // (the gap is the reason, and the caller counted it).
                    if !self.resync {
                        f(SipEvent::ParseError {
                            transport: Transport::Tcp,
                            error,
                        });
                        self.resync = true;
                    }
                    pos += skip.max(1);
                }
            }
        }
        pos.min(data.len())
    }

    /// WebSocket frames whose text/binary messages are SIP (RFC 7118 §5).
    fn websocket(&mut self, data: &[u8], f: &mut impl FnMut(SipEvent<'_>)) -> usize {
        let mut pos = 0;
        while pos < data.len() {
            if self.ws_resync {
                match find_ws_frame(data.get(pos..).unwrap_or(&[])) {
                    Some(off) => {
                        pos += off;
                        self.ws_resync = false;
                    }
                    // Keep a short tail: a frame header may be split.
                    None => return data.len().saturating_sub(16).max(pos),
                }
            }
            let rest = data.get(pos..).unwrap_or(&[]);
            let (frame, used) = match ws::parse_frame(rest) {
                Ok(Some(x)) => x,
                Ok(None) => break,
                Err(_) => {
                    // Frame alignment is unknown from here on: resync.
                    f(SipEvent::ParseError {
                        transport: Transport::Ws,
                        error: ParseError::BadWebSocketFrame,
                    });
                    self.on_gap();
                    pos += 1;
                    continue;
                }
            };
            pos += used;
            match frame.opcode {
                Opcode::Text | Opcode::Binary | Opcode::Continuation => {}
                // Close, ping, pong and reserved opcodes carry no SIP.
                _ => continue,
            }
            let start = frame.opcode != Opcode::Continuation;
            if start && frame.fin {
                // The common case: one frame, one message.
                self.ws_fragmenting = false;
                self.ws_discarding = false;
                let payload: &[u8] = match frame.mask {
                    Some(key) => {
                        self.scratch.clear();
                        ws::unmask_into(frame.payload, key, &mut self.scratch);
                        &self.scratch
                    }
                    None => frame.payload,
                };
                emit_ws(payload, f);
                if self.scratch.capacity() > KEEP_CAPACITY {
                    self.scratch = Vec::new();
                }
                continue;
            }
            if start {
                self.ws_msg.clear();
                self.ws_fragmenting = true;
                self.ws_discarding = false;
            } else if !self.ws_fragmenting {
                // A continuation whose start was lost (gap): nothing to join.
                continue;
            }
            if !self.ws_discarding {
                if self.ws_msg.len() + frame.payload.len() > MAX_WS_MESSAGE {
                    f(SipEvent::ParseError {
                        transport: Transport::Ws,
                        error: ParseError::BadWebSocketFrame,
                    });
                    self.ws_discarding = true;
                    self.ws_msg = Vec::new();
                } else {
                    match frame.mask {
                        Some(key) => ws::unmask_into(frame.payload, key, &mut self.ws_msg),
                        None => self.ws_msg.extend_from_slice(frame.payload),
                    }
                }
            }
            if frame.fin {
                if !self.ws_discarding {
                    emit_ws(&self.ws_msg, f);
                }
                self.ws_fragmenting = false;
                self.ws_discarding = false;
                clear_shrink(&mut self.ws_msg);
            }
        }
        pos.min(data.len())
    }
}

/// One WebSocket message's payload: a SIP message, or a CRLF keep-alive.
fn emit_ws(payload: &[u8], f: &mut impl FnMut(SipEvent<'_>)) {
    if parse::leading_crlf(payload) == payload.len() {
        return;
    }
    match parse_message(payload) {
        Ok(msg) => f(SipEvent::Message {
            transport: Transport::Ws,
            msg,
        }),
        Err(error) => f(SipEvent::ParseError {
            transport: Transport::Ws,
            error,
        }),
    }
}

/// After a gap in a WebSocket stream: the first offset where a complete
/// text/binary frame starts whose (unmasked) payload starts with a SIP
/// start line. Bounded by the input length times a small constant.
fn find_ws_frame(data: &[u8]) -> Option<usize> {
    let mut head = Vec::with_capacity(64);
    for off in 0..data.len() {
        let b0 = data.get(off).copied()?;
        // FIN may be clear (first fragment); RSV must be clear, opcode 1/2.
        if b0 & 0x70 != 0 || !matches!(b0 & 0x0F, 1 | 2) {
            continue;
        }
        let Ok(Some((frame, _))) = ws::parse_frame(data.get(off..)?) else {
            continue;
        };
        // Most offsets of garbage parse as some small frame; unmasking 64
        // bytes for each made resync cost ~64 byte operations per input
        // byte (a stream of `81 FD` pairs: ~10x a friendly stream of the
        // same packets). Reject byte by byte first, as early as the
        // unmasked head rules a start line out.
        let n = frame.payload.len().min(64);
        if !head_could_be_start_line(frame.payload.get(..n).unwrap_or(&[]), frame.mask) {
            continue;
        }
        head.clear();
        let p = frame
            .payload
            .get(..frame.payload.len().min(64))
            .unwrap_or(&[]);
        match frame.mask {
            Some(key) => ws::unmask_into(p, key, &mut head),
            None => head.extend_from_slice(p),
        }
        if framing::could_be_start_line(&head)
            && (framing::looks_like_sip(&head) || head.len() == 64)
        {
            return Some(off);
        }
    }
    None
}

/// `framing::could_be_start_line` of `payload` unmasked with `mask`,
/// unmasking one byte at a time and stopping at the first byte that decides
/// it: garbage is rejected after a byte or two instead of 64.
fn head_could_be_start_line(payload: &[u8], mask: Option<[u8; 4]>) -> bool {
    const SIP: &[u8] = b"SIP/2.0 ";
    let key = mask.unwrap_or([0; 4]);
    // Prefix of "SIP/2.0 " (over the first 8 bytes); method token up to the
    // first space; after it, no control character but CR.
    let (mut sip, mut in_method, mut ok) = (true, true, true);
    for (i, &m) in payload.iter().enumerate() {
        let b = m ^ key.get(i % 4).copied().unwrap_or(0);
        if i < SIP.len() {
            sip &= SIP.get(i).is_some_and(|c| b.eq_ignore_ascii_case(c));
        } else if sip {
            return true;
        }
        if in_method && b == b' ' {
            in_method = false;
        } else if in_method {
            ok &= parse::is_token(b);
        } else {
            ok &= !(b.is_ascii_control() && b != b'\r');
        }
        if !sip && !ok {
            return false;
        }
    }
    sip || ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::parse::{Method, StartLine};

    /// What one event was, owned, for comparisons.
    #[derive(Debug, PartialEq, Eq)]
    enum Ev {
        Msg(Transport, String, usize),
        Err(Transport, ParseError),
        Tls,
        TlsHandshake,
        NotSip,
    }

    fn feed(st: &mut StreamState, data: &[u8], hint: bool, out: &mut Vec<Ev>) -> usize {
        st.on_data(data, hint, |e| {
            out.push(match e {
                SipEvent::Message { transport, msg } => {
                    let what = match msg.start {
                        StartLine::Request { method_raw, .. } => {
                            String::from_utf8_lossy(method_raw).into_owned()
                        }
                        StartLine::Response { code, .. } => code.to_string(),
                    };
                    Ev::Msg(transport, what, msg.body.len())
                }
                SipEvent::ParseError { transport, error } => Ev::Err(transport, error),
                SipEvent::TlsStream { .. } => Ev::Tls,
                SipEvent::Tls(_) => Ev::TlsHandshake,
                SipEvent::NotSip => Ev::NotSip,
            })
        })
    }

    /// Drive a stream like a reassembler does: append, feed, drop consumed.
    fn drive(chunks: &[&[u8]]) -> (Vec<Ev>, StreamState, usize) {
        let mut st = StreamState::default();
        let mut buf = Vec::new();
        let mut out = Vec::new();
        for c in chunks {
            buf.extend_from_slice(c);
            let n = feed(&mut st, &buf, false, &mut out);
            assert!(n <= buf.len());
            buf.drain(..n);
        }
        (out, st, buf.len())
    }

    const INV: &[u8] =
        b"INVITE sip:b@h SIP/2.0\r\nCall-ID: 1\r\nCSeq: 1 INVITE\r\nl: 4\r\n\r\nv=0\n";
    const OK: &[u8] =
        b"SIP/2.0 200 OK\r\nCall-ID: 1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";

    #[test]
    fn several_messages_in_one_buffer() {
        let mut d = b"\r\n\r\n".to_vec();
        d.extend_from_slice(INV);
        d.extend_from_slice(b"\r\n\r\n");
        d.extend_from_slice(OK);
        d.extend_from_slice(&INV[..10]);
        let (ev, st, left) = drive(&[&d]);
        assert_eq!(
            ev,
            vec![
                Ev::Msg(Transport::Tcp, "INVITE".into(), 4),
                Ev::Msg(Transport::Tcp, "200".into(), 0)
            ]
        );
        assert_eq!(st.kind(), StreamKind::Sip);
        assert_eq!(left, 10); // the partial third message is kept
    }

    #[test]
    fn message_split_across_calls() {
        // Every split point, and byte by byte.
        for cut in 1..INV.len() {
            let (ev, _, left) = drive(&[&INV[..cut], &INV[cut..]]);
            assert_eq!(
                ev,
                vec![Ev::Msg(Transport::Tcp, "INVITE".into(), 4)],
                "cut {cut}"
            );
            assert_eq!(left, 0);
        }
        let bytes: Vec<&[u8]> = INV.chunks(1).collect();
        let (ev, _, _) = drive(&bytes);
        assert_eq!(ev.len(), 1);
    }

    #[test]
    fn bad_message_then_good_one() {
        let mut d = INV.to_vec();
        d.extend_from_slice(b"INVITE sip:b@h SIP/2.0\r\nBroken header\r\n\r\n");
        d.extend_from_slice(OK);
        let (ev, _, left) = drive(&[&d]);
        assert_eq!(
            ev,
            vec![
                Ev::Msg(Transport::Tcp, "INVITE".into(), 4),
                Ev::Err(Transport::Tcp, ParseError::BadHeader),
                Ev::Msg(Transport::Tcp, "200".into(), 0),
            ]
        );
        assert_eq!(left, 0);
    }

    #[test]
    fn resync_after_gap() {
        let mut st = StreamState::default();
        let mut out = Vec::new();
        assert_eq!(feed(&mut st, &INV[..20], false, &mut out), 0);
        // The reassembler lost bytes: it drops its buffer and tells us.
        st.on_gap();
        // Data resumes mid-body of some message, then a whole one.
        let mut d = b"a=rtpmap:0 PCMU/8000\r\nm=audio 4000 RTP/AVP 0\r\n".to_vec();
        d.extend_from_slice(OK);
        let n = feed(&mut st, &d, false, &mut out);
        assert_eq!(n, d.len());
        // No parse error for the gap's garbage, the next message is found.
        assert_eq!(out, vec![Ev::Msg(Transport::Tcp, "200".into(), 0)]);
    }

    #[test]
    fn capture_starting_mid_stream() {
        // No gap signalled, first bytes mid-message: still found as SIP.
        let mut d = b"o=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n".to_vec();
        d.extend_from_slice(OK);
        let (ev, st, _) = drive(&[&d]);
        assert_eq!(st.kind(), StreamKind::Sip);
        assert_eq!(ev, vec![Ev::Msg(Transport::Tcp, "200".into(), 0)]);
    }

    #[test]
    fn headers_never_ending_is_bounded() {
        let mut d = b"INVITE sip:b@h SIP/2.0\r\n".to_vec();
        while d.len() <= MAX_HEADER_BYTES {
            d.extend_from_slice(b"X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        let mut st = StreamState::default();
        let mut out = Vec::new();
        let n = feed(&mut st, &d, false, &mut out);
        assert_eq!(
            out,
            vec![Ev::Err(Transport::Tcp, ParseError::HeadersTooLong)]
        );
        assert!(n > 0);
        // Then the stream picks up the next message.
        let mut rest = d[n..].to_vec();
        rest.extend_from_slice(b"\r\n");
        rest.extend_from_slice(OK);
        let mut out = Vec::new();
        let m = feed(&mut st, &rest, false, &mut out);
        assert_eq!(m, rest.len());
        assert_eq!(out, vec![Ev::Msg(Transport::Tcp, "200".into(), 0)]);
    }

    #[test]
    fn tls_streams() {
        let ch = [
            0x16, 0x03, 0x01, 0x00, 0xc8, 0x01, 0x00, 0x00, 0xc4, 0x03, 0x03,
        ];
        let (ev, st, left) = drive(&[&ch[..2], &ch[2..], b"more records"]);
        assert_eq!(ev, vec![Ev::Tls]);
        assert_eq!(st.kind(), StreamKind::Tls);
        // The first record (200 bytes) is not whole yet: kept for the
        // handshake reader.
        assert_eq!(left, ch.len() + b"more records".len());
        // With the port hint, one byte is enough to call it TLS; the
        // record is read once whole.
        let mut st = StreamState::default();
        let mut out = Vec::new();
        assert_eq!(feed(&mut st, &[0x16], true, &mut out), 0);
        assert_eq!(out, vec![Ev::Tls]);
        // An alert record: the reader stops, the rest is consumed unread.
        let data = [0x15, 3, 3, 0, 2, 2, 40, 0xaa, 0xbb];
        assert_eq!(feed(&mut st, &data, true, &mut out), data.len());
        assert_eq!(out, vec![Ev::Tls]);
        assert_eq!(st.held_bytes(), 0);
    }

    #[test]
    fn not_sip() {
        let (ev, st, left) = drive(&[b"\x00\x01binary", b"more"]);
        assert_eq!(ev, vec![Ev::NotSip]);
        assert_eq!(st.kind(), StreamKind::NotSip);
        assert_eq!(left, 0);
        // Plain HTTP: not an upgrade.
        let (ev, st, _) = drive(&[b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"]);
        assert_eq!((ev, st.kind()), (vec![Ev::NotSip], StreamKind::NotSip));
        // Text that never shows a start line: decided after CLASSIFY_LIMIT.
        let line = b"hello there this is not sip\r\n";
        let chunks: Vec<&[u8]> =
            std::iter::repeat_n(&line[..], CLASSIFY_LIMIT / line.len() + 2).collect();
        let (ev, _, _) = drive(&chunks);
        assert_eq!(ev, vec![Ev::NotSip]);
    }

    /// A client frame: FIN/opcode byte, masked with a fixed key.
    fn masked(b0: u8, payload: &[u8]) -> Vec<u8> {
        let key = [0xa1, 0xb2, 0xc3, 0xd4];
        let mut f = vec![b0];
        match payload.len() {
            n @ 0..=125 => f.push(0x80 | n as u8),
            n => {
                f.push(0x80 | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
        }
        f.extend_from_slice(&key);
        ws::unmask_into(payload, key, &mut f); // XOR masks and unmasks
        f
    }

    #[test]
    fn websocket_client_direction() {
        let get = b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
            Sec-WebSocket-Protocol: sip\r\n\r\n";
        let mut d = get.to_vec();
        d.extend(masked(0x81, INV));
        d.extend(masked(0x89, b"")); // ping
                                     // OK split into three frames: text (no FIN), continuation, ping in between, FIN continuation.
        d.extend(masked(0x01, &OK[..10]));
        d.extend(masked(0x00, &OK[10..30]));
        d.extend(masked(0x8a, b"pong"));
        d.extend(masked(0x80, &OK[30..]));
        d.extend(masked(0x81, b"\r\n\r\n")); // keep-alive
                                             // Whole, then split at every byte boundary.
        let (ev, st, left) = drive(&[&d]);
        let want = vec![
            Ev::Msg(Transport::Ws, "INVITE".into(), 4),
            Ev::Msg(Transport::Ws, "200".into(), 0),
        ];
        assert_eq!(ev, want);
        assert_eq!(st.kind(), StreamKind::WebSocket);
        assert_eq!(left, 0);
        for cut in 1..d.len() {
            let (ev, _, left) = drive(&[&d[..cut], &d[cut..]]);
            assert_eq!(ev, want, "cut {cut}");
            assert_eq!(left, 0);
        }
    }

    #[test]
    fn websocket_server_direction_and_handshake_state() {
        let mut st = StreamState::default();
        let mut out = Vec::new();
        let head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n";
        assert_eq!(feed(&mut st, head, false, &mut out), 0);
        assert_eq!(st.kind(), StreamKind::WebSocketHandshake);
        let mut d = head.to_vec();
        d.extend_from_slice(b"\r\n");
        // Server frames are not masked.
        d.push(0x81);
        d.push(126);
        d.extend_from_slice(&(OK.len() as u16).to_be_bytes());
        d.extend_from_slice(OK);
        assert_eq!(feed(&mut st, &d, false, &mut out), d.len());
        assert_eq!(out, vec![Ev::Msg(Transport::Ws, "200".into(), 0)]);
    }

    #[test]
    fn websocket_gap_and_bad_frames() {
        let mut st = StreamState::default();
        let mut out = Vec::new();
        let get = b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n";
        assert_eq!(feed(&mut st, get, false, &mut out), get.len());
        st.on_gap();
        // Garbage (tail of a lost frame), then a real frame.
        let mut d = b"\x07\x99 lost bytes".to_vec();
        d.extend(masked(0x81, OK));
        let n = feed(&mut st, &d, false, &mut out);
        assert_eq!(n, d.len());
        assert_eq!(out, vec![Ev::Msg(Transport::Ws, "200".into(), 0)]);
        // An oversized frame header: error, then resync.
        out.clear();
        let mut d = vec![0x82, 127, 0, 0, 0, 1, 0, 0, 0, 0];
        d.extend(masked(0x81, OK));
        let n = feed(&mut st, &d, false, &mut out);
        assert_eq!(n, d.len());
        assert_eq!(
            out,
            vec![
                Ev::Err(Transport::Ws, ParseError::BadWebSocketFrame),
                Ev::Msg(Transport::Ws, "200".into(), 0)
            ]
        );
    }

    #[test]
    fn websocket_reassembly_is_bounded() {
        let mut st = StreamState::default();
        let mut out = Vec::new();
        let get = b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n";
        feed(&mut st, get, false, &mut out);
        let chunk = vec![b'a'; 60_000];
        let mut d = masked(0x01, &chunk);
        for _ in 0..(MAX_WS_MESSAGE / chunk.len() + 1) {
            d.extend(masked(0x00, &chunk));
        }
        d.extend(masked(0x80, b"end"));
        d.extend(masked(0x81, OK));
        assert_eq!(feed(&mut st, &d, false, &mut out), d.len());
        assert_eq!(
            out,
            vec![
                Ev::Err(Transport::Ws, ParseError::BadWebSocketFrame),
                Ev::Msg(Transport::Ws, "200".into(), 0)
            ]
        );
        assert!(st.ws_msg.capacity() <= MAX_WS_MESSAGE + 65536);
    }

    #[test]
    fn method_in_event() {
        let mut st = StreamState::default();
        let mut seen = None;
        st.on_data(INV, false, |e| {
            if let SipEvent::Message { msg, .. } = e {
                seen = Some(msg.method());
            }
        });
        assert_eq!(seen, Some(Method::Invite));
    }

    /// A random stream of valid SIP messages (and keep-alives) split at
    /// random points yields the same events as fed whole.
    fn sip_stream() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        let msg = (0usize..30, 0usize..200, any::<bool>(), any::<bool>()).prop_map(
            |(headers, body, lf_only, keepalive)| {
                let eol: &str = if lf_only { "\n" } else { "\r\n" };
                let mut m = Vec::new();
                if keepalive {
                    m.extend_from_slice(b"\r\n\r\n");
                }
                m.extend_from_slice(
                    format!("MESSAGE sip:a@b SIP/2.0{eol}Call-ID: {headers}{eol}").as_bytes(),
                );
                for i in 0..headers {
                    m.extend_from_slice(format!("X-{i}: {}{eol}", "z".repeat(i * 3)).as_bytes());
                }
                m.extend_from_slice(format!("l: {body}{eol}{eol}").as_bytes());
                m.resize(m.len() + body, b'q');
                m
            },
        );
        proptest::collection::vec(msg, 1..6).prop_map(|v| v.concat())
    }

    /// `data` cut at `cuts` (each taken modulo its length + 1, sorted):
    /// chunks that together are `data`, some possibly empty.
    fn split_at(data: &[u8], cuts: Vec<usize>) -> Vec<&[u8]> {
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (data.len() + 1)).collect();
        cuts.push(data.len());
        cuts.sort_unstable();
        let mut chunks = Vec::with_capacity(cuts.len());
        let mut from = 0;
        for c in cuts {
            chunks.push(&data[from..c]);
            from = c;
        }
        chunks
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 128, ..Default::default() })]
        #[test]
        fn split_stream_same_events(
            data in sip_stream(),
            cuts in proptest::collection::vec(0usize..100_000, 0..40),
        ) {
            let (whole, _, _) = drive(&[&data]);
            let chunks = split_at(&data, cuts);
            let (split, _, left) = drive(&chunks);
            proptest::prop_assert_eq!(split, whole);
            proptest::prop_assert_eq!(left, 0);
        }
    }

    /// A ~6 KB message in 1-byte pieces costs the framer about what it
    /// costs whole (bytes examined), not ~n times more.
    #[test]
    fn tiny_segments_cost_what_one_segment_costs() {
        let mut m = b"INVITE sip:b@h SIP/2.0\r\nCall-ID: x\r\n".to_vec();
        while m.len() < 5000 {
            m.extend_from_slice(b"Via: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bKaaaaaaaa\r\n");
        }
        m.extend_from_slice(b"Content-Length: 1000\r\n\r\n");
        m.resize(m.len() + 1000, b'v');
        let (ev, one, _) = drive(&[&m]);
        assert_eq!(ev.len(), 1);
        let bytes: Vec<&[u8]> = m.chunks(1).collect();
        let (ev, tiny, left) = drive(&bytes);
        assert_eq!((ev.len(), left), (1, 0));
        let ratio = tiny.framing_work() as f64 / one.framing_work() as f64;
        assert!(
            ratio <= 3.0,
            "{} vs {} bytes examined",
            tiny.framing_work(),
            one.framing_work()
        );
    }

    #[test]
    fn held_bytes_follow_ws_buffers() {
        let mut st = StreamState::default();
        let mut out = Vec::new();
        feed(
            &mut st,
            b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
            false,
            &mut out,
        );
        assert_eq!(st.held_bytes(), 0);
        // A fragmented 200 KB message is joined, then its buffer given back.
        let chunk = vec![b'a'; 50_000];
        let mut d = masked(0x01, b"MESSAGE sip:a@b SIP/2.0\r\nl: 200000\r\n\r\n");
        for _ in 0..4 {
            d.extend(masked(0x00, &chunk));
        }
        let mut held = 0;
        for f in [&d[..], &masked(0x80, b"")[..]] {
            feed(&mut st, f, false, &mut out);
            held = held.max(st.held_bytes());
        }
        assert!(held >= 200_000, "{held}");
        assert!(st.held_bytes() <= KEEP_CAPACITY, "{}", st.held_bytes());
    }

    /// Streams that start mid-message, with garbage or binary, or as a
    /// WebSocket upgrade: split anywhere, the same events as whole.
    fn mixed_stream() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        let part = prop_oneof![
            Just(INV.to_vec()),
            Just(OK.to_vec()),
            Just(b"o=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n".to_vec()),
            Just(b"not a start line at all\n".to_vec()),
            Just(b"\r\n\r\n".to_vec()),
            Just(b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n".to_vec()),
            "[a-zA-Z :/@.]{0,60}".prop_map(|s| s.into_bytes()),
            proptest::collection::vec(any::<u8>(), 0..12),
        ];
        proptest::collection::vec(part, 1..8).prop_map(|v| v.concat())
    }

    /// Like [`drive`], but starting every search over on every call, as
    /// the stateless code did: the reference for resumed searches.
    fn drive_rescanning(chunks: &[&[u8]]) -> (Vec<Ev>, StreamState) {
        let mut st = StreamState::default();
        let mut buf = Vec::new();
        let mut out = Vec::new();
        for c in chunks {
            buf.extend_from_slice(c);
            st.frame.reset();
            st.hs_scan = 0;
            st.class = ClassifyProgress::default();
            let n = feed(&mut st, &buf, false, &mut out);
            buf.drain(..n);
        }
        (out, st)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, ..Default::default() })]
        /// Garbage can make where a stream is split matter (a start line
        /// glued to binary bytes is found only if they arrive apart, as
        /// before), but resuming never does: split the same way, the
        /// events equal those of rescanning from the start every call.
        #[test]
        fn resumed_equals_rescanned(
            data in mixed_stream(),
            cuts in proptest::collection::vec(0usize..100_000, 0..40),
        ) {
            let chunks = split_at(&data, cuts);
            let (resumed, st, _) = drive(&chunks);
            let (rescanned, st2) = drive_rescanning(&chunks);
            proptest::prop_assert_eq!(resumed, rescanned);
            proptest::prop_assert_eq!(st.kind(), st2.kind());
        }
    }

    /// Classification waiting for a first line sent one byte per segment
    /// looks at each byte about once.
    #[test]
    fn classification_of_tiny_segments_is_linear() {
        for head in [&b"INVITE sip:"[..], b"mid-message text "] {
            let mut d = head.to_vec();
            d.resize(CLASSIFY_LIMIT - 10, b'a');
            if head.starts_with(b"mid") {
                d.extend_from_slice(b"\r\nmore text\r\n");
            }
            let (ev1, one, _) = drive(&[&d]);
            let bytes: Vec<&[u8]> = d.chunks(1).collect();
            let (ev2, tiny, _) = drive(&bytes);
            assert_eq!(ev1, ev2);
            assert!(
                tiny.framing_work() <= 10 * one.framing_work().max(d.len() as u64),
                "{} vs {}",
                tiny.framing_work(),
                one.framing_work()
            );
        }
    }

    mod head_prefilter {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// The byte-at-a-time prefilter of `find_ws_frame` answers what
            /// `could_be_start_line` of the unmasked head answers.
            #[test]
            fn head_prefilter_equals_could_be_start_line(
                head in prop_oneof![
                    proptest::collection::vec(any::<u8>(), 0..64),
                    "(SIP/2\\.0 |sip/2|INVITE |OPTIONS|[A-Za-z!~ \r\t/.:]{0,20}){1,3}"
                        .prop_map(|s| s.into_bytes()),
                ],
                mask in proptest::option::of(any::<[u8; 4]>()),
            ) {
                let mut masked = Vec::new();
                match mask {
                    Some(k) => ws::unmask_into(&head, k, &mut masked),
                    None => masked.extend_from_slice(&head),
                }
                // `masked` XOR the key again is `head`.
                proptest::prop_assert_eq!(
                    head_could_be_start_line(&masked, mask),
                    framing::could_be_start_line(&head)
                );
            }
        }
    }
}
