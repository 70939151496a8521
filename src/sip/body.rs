//! SIP message bodies (RFC 3261 §7.4, RFC 5621): the Content-Type, MIME
//! multipart walking (RFC 2046 §5.1: `multipart/mixed`, `/alternative`,
//! `/related`) and the one walk per message that finds the parts the sensor
//! reads: the SDP (for the media table and the exposure checks), a
//! PIDF-LO location document (RFC 4119, RFC 6442), content a person wrote
//! or a state they are in (instant messages, voicemail summaries, presence,
//! dialog state: [`Content`]) and DTMF key presses sent in SIP INFO
//! ([`Dtmf`]). Only content types and counts are read, never the text.
//!
//! Invariants: no recursion on a depth the message chooses (an explicit
//! stack of at most [`MAX_MULTIPART_DEPTH`] open multiparts), at most
//! [`MAX_PARTS`] leaves visited per body, every part a slice of the body.
//! [`Body::parse`] is the only place a message's body is walked and its SDP
//! parsed; callers read the result. No state, I/O, logging or metrics.

use super::parse::{HeaderName, Message, Method, StartLine};
use crate::sdp::{parse_sdp, Sdp};

/// Multipart nesting depth followed (a body inside a part inside a part).
pub const MAX_MULTIPART_DEPTH: usize = 3;
/// Body parts visited per SIP body, over all nesting levels.
pub const MAX_PARTS: usize = 16;

/// What the sensor reads in one message's body, found in one walk of its
/// parts and parsed once: the exposure scan and the media-endpoint table
/// both read it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Body<'a> {
    /// The first SDP part, parsed; `None` when there is none or it is not
    /// SDP (see [`crate::sdp::parse_sdp`]).
    pub sdp: Option<Sdp<'a>>,
    /// The Content-Type of the first PIDF-LO part, if any.
    pub pidf_lo: Option<&'a [u8]>,
    /// The first part whose content is personal (see [`ContentKind`]).
    pub content: Option<Content<'a>>,
    /// DTMF keys carried in the body (`application/dtmf-relay`,
    /// `application/dtmf`), over all parts.
    pub dtmf: Option<Dtmf<'a>>,
}

/// Bodies whose content is what a person wrote or the state they are in
/// (the `message_content` kind's fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentKind {
    /// An instant message (RFC 3428): `text/*`, `message/cpim` (RFC 3862),
    /// 3GPP SMS over IP (TS 24.341) in a MESSAGE request.
    Message,
    /// A message-waiting summary (RFC 3842): who has voicemail, how much.
    Voicemail,
    /// A PIDF document (RFC 3863) with a `<basic>` status: open/closed.
    Presence,
    /// A dialog-info document (RFC 4235) naming a `<remote>` party: who
    /// talks to whom (busy-lamp fields).
    DialogInfo,
}

/// One personal body part: its kind, its Content-Type (the evidence) and
/// its size in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Content<'a> {
    pub kind: ContentKind,
    pub content_type: &'a [u8],
    pub len: usize,
}

/// DTMF in a body: the Content-Type of the first such part and the number
/// of keys over all parts (which keys is never kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dtmf<'a> {
    pub content_type: &'a [u8],
    pub digits: u32,
}

/// Keys counted per part at most: a relay body carries one key (RFC 6086
/// leaves the format to the package; `Signal=` lines in practice), a
/// hostile one cannot make the count large.
pub const MAX_DTMF_PER_PART: u32 = 32;

impl<'a> Body<'a> {
    /// Walks the body of `msg` once (by its Content-Type) and parses the
    /// SDP it finds.
    pub fn parse(msg: &Message<'a>) -> Body<'a> {
        if msg.body.is_empty() {
            return Body::default();
        }
        let ct = msg
            .header(HeaderName::ContentType)
            .map_or(&b""[..], |h| h.value);
        let message = matches!(
            msg.start,
            StartLine::Request {
                method: Method::Message,
                ..
            }
        );
        let parts = find_parts_of(ct, msg.body, message);
        Body {
            sdp: parts.sdp.and_then(|s| parse_sdp(s).ok()),
            pidf_lo: parts.pidf_lo,
            content: parts.content,
            dtmf: parts.dtmf,
        }
    }
}

/// The parts of a body the sensor reads, as slices (see [`find_parts`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Parts<'a> {
    /// The first SDP: the body itself when the Content-Type is
    /// `application/sdp`, else the first `application/sdp` part (or a part
    /// without Content-Type that starts with `v=0`).
    pub sdp: Option<&'a [u8]>,
    /// The Content-Type of the first `application/pidf+xml` part that
    /// carries a location (a `geopriv` or `location-info` element, RFC 4119
    /// §2.2): what a finding points at, never the location itself.
    pub pidf_lo: Option<&'a [u8]>,
    /// The first personal part ([`ContentKind`]).
    pub content: Option<Content<'a>>,
    /// DTMF keys in the body.
    pub dtmf: Option<Dtmf<'a>>,
}

/// One walk of `body` (see [`for_each_part`]) for the parts in [`Parts`]
/// (instant messages are only looked for in a MESSAGE request: see
/// [`find_parts_of`]).
pub fn find_parts<'a>(content_type: &'a [u8], body: &'a [u8]) -> Parts<'a> {
    find_parts_of(content_type, body, false)
}

/// [`find_parts`]; `message` says the body is a MESSAGE request's, where a
/// `text/*` part is a message someone wrote (elsewhere it is usually a
/// reason phrase or a tool's note).
pub fn find_parts_of<'a>(content_type: &'a [u8], body: &'a [u8], message: bool) -> Parts<'a> {
    let mut found = Parts::default();
    for_each_part(content_type, body, &mut |ct, part| {
        let media = media_type(ct);
        if found.content.is_none() {
            found.content = content_kind(media, part, message).map(|kind| Content {
                kind,
                content_type: ct,
                len: part.len(),
            });
        }
        if let Some(n) = dtmf_digits(media, part) {
            let d = found.dtmf.get_or_insert(Dtmf {
                content_type: ct,
                digits: 0,
            });
            d.digits = d.digits.saturating_add(n);
        }
        let media = media_type(ct);
        if found.sdp.is_none()
            && (media.eq_ignore_ascii_case(b"application/sdp")
                || (ct.is_empty() && part.starts_with(b"v=0")))
        {
            found.sdp = Some(part);
        }
        if found.pidf_lo.is_none()
            && media.eq_ignore_ascii_case(b"application/pidf+xml")
            && (contains_ci(part, b"geopriv") || contains_ci(part, b"location-info"))
        {
            found.pidf_lo = Some(ct);
        }
    });
    found
}

/// Which personal content a part is, by its media type (and, for PIDF
/// and dialog-info, an element that makes it personal). Empty parts say
/// nothing.
fn content_kind(media: &[u8], part: &[u8], message: bool) -> Option<ContentKind> {
    if trim(part).is_empty() {
        return None;
    }
    let is = |t: &[u8]| media.eq_ignore_ascii_case(t);
    let text = media.len() > 5 && media[..5].eq_ignore_ascii_case(b"text/");
    if message
        && (text
            || is(b"message/cpim")
            || is(b"application/vnd.3gpp.sms")
            || is(b"application/vnd.3gpp2.sms"))
    {
        Some(ContentKind::Message)
    } else if is(b"application/simple-message-summary") {
        Some(ContentKind::Voicemail)
    } else if is(b"application/pidf+xml") && contains_ci(part, b"basic>") {
        // `<basic>open</basic>` (or a prefixed `<p:basic>`), RFC 3863 §4.1.4.
        Some(ContentKind::Presence)
    } else if is(b"application/dialog-info+xml") && contains_ci(part, b"remote>") {
        // `<remote><identity>…` (RFC 4235 §4.1.6.2): the other party.
        Some(ContentKind::DialogInfo)
    } else {
        None
    }
}

/// Keys in a DTMF body, `None` when the part is not DTMF.
/// `application/dtmf-relay`: one key per `Signal=` line (the de-facto
/// format, e.g. Cisco, Asterisk, SIPp); `application/dtmf`: the key itself
/// (`5`, or a named event number). At most [`MAX_DTMF_PER_PART`].
fn dtmf_digits(media: &[u8], part: &[u8]) -> Option<u32> {
    if media.eq_ignore_ascii_case(b"application/dtmf-relay") {
        let n = part
            .split(|&b| b == b'\n')
            .filter(|l| {
                // `Signal=5`, `signal = 5` (spacing varies between vendors).
                let Some(eq) = l.iter().position(|&b| b == b'=') else {
                    return false;
                };
                trim(&l[..eq]).eq_ignore_ascii_case(b"signal") && !trim(&l[eq + 1..]).is_empty()
            })
            .take(MAX_DTMF_PER_PART as usize)
            .count();
        Some(n as u32)
    } else if media.eq_ignore_ascii_case(b"application/dtmf") {
        Some(u32::from(!trim(part).is_empty()))
    } else {
        None
    }
}

/// The first SDP in a SIP body ([`Parts::sdp`]).
pub fn sdp_from_body<'a>(content_type: &'a [u8], body: &'a [u8]) -> Option<&'a [u8]> {
    find_parts(content_type, body).sdp
}

fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

// ---------------------------------------------------------------------------
// Content-Type and multipart (RFC 2045 §5.1, RFC 2046 §5.1.1)

/// The `type/subtype` of a Content-Type value, lowercase comparison left to
/// the caller; parameters are after the first ';'.
fn media_type(content_type: &[u8]) -> &[u8] {
    let end = content_type
        .iter()
        .position(|&b| b == b';')
        .unwrap_or(content_type.len());
    trim(&content_type[..end])
}

/// The `boundary` parameter of a `multipart/*` Content-Type, unquoted.
pub fn multipart_boundary(content_type: &[u8]) -> Option<&[u8]> {
    let mt = media_type(content_type);
    if mt.len() < 10 || !mt[..10].eq_ignore_ascii_case(b"multipart/") {
        return None;
    }
    for param in content_type.split(|&b| b == b';').skip(1) {
        let Some(eq) = param.iter().position(|&b| b == b'=') else {
            continue;
        };
        if !trim(&param[..eq]).eq_ignore_ascii_case(b"boundary") {
            continue;
        }
        let v = trim(&param[eq + 1..]);
        let v = match v {
            [b'"', inner @ .., b'"'] => inner,
            _ => v,
        };
        // RFC 2046 §5.1.1: 1 to 70 characters.
        return (!v.is_empty() && v.len() <= 70).then_some(v);
    }
    None
}

/// Calls `visit(content_type, body)` for every leaf part of `body`
/// (the body itself when it is not multipart), descending into nested
/// multiparts up to [`MAX_MULTIPART_DEPTH`] and visiting at most
/// [`MAX_PARTS`] leaves. A part without Content-Type gets an empty one
/// (RFC 2046 §5.1 would say text/plain; SIP UAs that omit it usually mean
/// SDP, which the caller may sniff). Returns the number of leaves visited.
pub fn for_each_part<'a>(
    content_type: &'a [u8],
    body: &'a [u8],
    visit: &mut dyn FnMut(&'a [u8], &'a [u8]),
) -> usize {
    let mut budget = MAX_PARTS;
    // Depth first, parts in order, with an explicit stack of the open
    // multiparts (at most MAX_MULTIPART_DEPTH): no recursion, whatever
    // the nesting a message claims.
    let mut open: Vec<(PartIter<'a>, usize)> = Vec::new();
    let mut next = Some((content_type, body, 0usize));
    while budget > 0 {
        if let Some((ct, part, depth)) = next.take() {
            match multipart_boundary(ct) {
                None => {
                    budget -= 1;
                    visit(ct, part);
                    continue;
                }
                Some(boundary) if depth < MAX_MULTIPART_DEPTH => {
                    open.push((PartIter::new(part, boundary), depth));
                }
                // Deeper nesting is not walked.
                Some(_) => {}
            }
        }
        let Some((parts, depth)) = open.last_mut() else {
            break;
        };
        match parts.next() {
            Some(part) => {
                let (headers, part_body) = split_headers(part);
                let part_ct = header_value(headers, b"content-type").unwrap_or_default();
                next = Some((part_ct, part_body, *depth + 1));
            }
            None => {
                open.pop();
            }
        }
    }
    MAX_PARTS - budget
}

/// Iterates over the parts between `--boundary` delimiter lines. A
/// delimiter is `--boundary` at the start of a line (after CRLF or LF, or at
/// the start of the body); the CRLF before it belongs to the delimiter
/// (RFC 2046 §5.1.1), so it is not part of the previous part.
struct PartIter<'a> {
    rest: &'a [u8],
    boundary: &'a [u8],
    started: bool,
}

impl<'a> PartIter<'a> {
    fn new(body: &'a [u8], boundary: &'a [u8]) -> Self {
        PartIter {
            rest: body,
            boundary,
            started: false,
        }
    }

    /// Finds the next delimiter line in `rest`: returns (bytes before the
    /// line break preceding it, bytes after the `--boundary`).
    fn next_delimiter(&self) -> Option<(&'a [u8], &'a [u8])> {
        let rest = self.rest;
        let b = self.boundary;
        let mut i = 0;
        while i + 2 + b.len() <= rest.len() {
            let at_line_start = i == 0 || rest[i - 1] == b'\n';
            if at_line_start && rest[i..].starts_with(b"--") && rest[i + 2..].starts_with(b) {
                let mut end = i;
                if end > 0 && rest[end - 1] == b'\n' {
                    end -= 1;
                    if end > 0 && rest[end - 1] == b'\r' {
                        end -= 1;
                    }
                }
                return Some((&rest[..end], &rest[i + 2 + b.len()..]));
            }
            // Jump to the next line start.
            match rest[i..].iter().position(|&c| c == b'\n') {
                Some(p) => i += p + 1,
                None => break,
            }
        }
        None
    }
}

impl<'a> Iterator for PartIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if !self.started {
            // Skip the preamble up to the first delimiter.
            let (_, after) = self.next_delimiter()?;
            self.started = true;
            self.rest = after;
        }
        // `rest` is just after a "--boundary": "--" closes, else skip the
        // transport padding and the line break.
        if self.rest.starts_with(b"--") {
            self.rest = &[];
            return None;
        }
        let nl = self.rest.iter().position(|&c| c == b'\n')?;
        self.rest = &self.rest[nl + 1..];
        let (part, after) = match self.next_delimiter() {
            Some(d) => d,
            // Unterminated: the rest is the last part (lax).
            None => (self.rest, &[][..]),
        };
        self.rest = after;
        Some(part)
    }
}

/// Splits a part (or message) into headers and body at the first blank
/// line; without a blank line, it is all headers.
fn split_headers(part: &[u8]) -> (&[u8], &[u8]) {
    // A part starting with a blank line has no headers.
    if part.starts_with(b"\r\n") {
        return (&[], &part[2..]);
    }
    if part.starts_with(b"\n") {
        return (&[], &part[1..]);
    }
    let mut i = 0;
    while let Some(p) = part[i..].iter().position(|&c| c == b'\n') {
        let nl = i + p;
        let next = &part[nl + 1..];
        if next.starts_with(b"\r\n") {
            return (&part[..nl], &next[2..]);
        }
        if next.starts_with(b"\n") {
            return (&part[..nl], &next[1..]);
        }
        i = nl + 1;
    }
    (part, &[])
}

/// Value of the first header `name` (case-insensitive) in a header block,
/// trimmed. Folded continuation lines are not joined (rare in parts).
fn header_value<'a>(headers: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    headers.split(|&b| b == b'\n').find_map(|line| {
        let colon = line.iter().position(|&b| b == b':')?;
        trim(&line[..colon])
            .eq_ignore_ascii_case(name)
            .then(|| trim(&line[colon + 1..]))
    })
}

fn trim(l: &[u8]) -> &[u8] {
    let start = l
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(l.len());
    let end = l
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    l.get(start..end).unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdp::parse_sdp;

    const MULTI: &[u8] = b"preamble\r\n\
--unique-boundary-1\r\n\
Content-Type: application/isup;version=nxv3\r\n\
\r\n\
\x01\x02\x03\r\n\
--unique-boundary-1   \r\n\
Content-Type: multipart/alternative; boundary=inner\r\n\
\r\n\
--inner\r\n\
Content-Type: text/plain\r\n\
\r\n\
hello\r\n\
--inner\r\n\
content-type: Application/SDP\r\n\
\r\n\
v=0\r\n\
m=audio 5004 RTP/AVP 0\r\n\
--inner--\r\n\
--unique-boundary-1--\r\n\
epilogue";

    #[test]
    fn multipart_nested() {
        let ct = b"multipart/mixed; boundary=\"unique-boundary-1\"";
        assert_eq!(multipart_boundary(ct), Some(&b"unique-boundary-1"[..]));
        let mut seen = Vec::new();
        let n = for_each_part(ct, MULTI, &mut |ct, body| {
            seen.push((ct.to_vec(), body.to_vec()))
        });
        assert_eq!(n, 3);
        assert_eq!(seen[0].0, b"application/isup;version=nxv3");
        assert_eq!(seen[0].1, b"\x01\x02\x03");
        assert_eq!(seen[1].1, b"hello");
        let sdp = sdp_from_body(ct, MULTI).unwrap();
        assert_eq!(sdp, b"v=0\r\nm=audio 5004 RTP/AVP 0");
        assert_eq!(parse_sdp(sdp).unwrap().media[0].port, 5004);
        // Plain body.
        assert_eq!(
            sdp_from_body(b"application/sdp", b"v=0\r\n"),
            Some(&b"v=0\r\n"[..])
        );
        assert_eq!(sdp_from_body(b"text/plain", b"v=0\r\n"), None);
        // LF-only, no content-type in the part, unterminated.
        let body = b"--b\n\nv=0\nm=audio 1 RTP/AVP 0\n";
        assert_eq!(
            sdp_from_body(b"multipart/mixed;boundary=b", body),
            Some(&b"v=0\nm=audio 1 RTP/AVP 0\n"[..])
        );
    }

    #[test]
    fn multipart_depth_bound() {
        // Depth 4 nesting: the innermost SDP is not reached.
        let body = b"--a\r\nContent-Type: multipart/mixed;boundary=b\r\n\r\n\
--b\r\nContent-Type: multipart/mixed;boundary=c\r\n\r\n\
--c\r\nContent-Type: multipart/mixed;boundary=d\r\n\r\n\
--d\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n--d--\r\n--c--\r\n--b--\r\n--a--";
        assert_eq!(sdp_from_body(b"multipart/mixed;boundary=a", body), None);
        // Depth 3 is fine.
        let body = b"--b\r\nContent-Type: multipart/mixed;boundary=c\r\n\r\n\
--c\r\nContent-Type: multipart/mixed;boundary=d\r\n\r\n\
--d\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n--d--\r\n--c--\r\n--b--";
        assert_eq!(
            sdp_from_body(b"multipart/mixed;boundary=b", body),
            Some(&b"v=0"[..])
        );
        // Part count bound.
        let mut many = Vec::new();
        for _ in 0..100 {
            many.extend_from_slice(b"--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n");
        }
        let n = for_each_part(b"multipart/mixed;boundary=x", &many, &mut |_, _| {});
        assert_eq!(n, MAX_PARTS);
    }

    #[test]
    fn parts_sdp_and_pidf_lo_in_one_walk() {
        let body = b"--b1\r\nContent-Type: application/sdp\r\n\r\nv=0\r\nm=audio 4000 RTP/AVP 0\r\n\r\n--b1\r\nContent-Type: application/pidf+xml\r\n\r\n<presence><gp:geopriv/></presence>\r\n--b1--\r\n";
        let p = find_parts(b"multipart/mixed;boundary=b1", body);
        assert_eq!(p.sdp, Some(&b"v=0\r\nm=audio 4000 RTP/AVP 0\r\n"[..]));
        assert_eq!(p.pidf_lo, Some(&b"application/pidf+xml"[..]));
        // A presence document without a location is not PIDF-LO.
        let plain = b"--b\r\nContent-Type: application/pidf+xml\r\n\r\n<presence/>\r\n--b--";
        assert_eq!(
            find_parts(b"multipart/mixed;boundary=b", plain),
            Parts::default()
        );
        // The whole body is the SDP.
        let p = find_parts(b"Application/SDP ; x=y", b"v=0\r\n");
        assert_eq!(p.sdp, Some(&b"v=0\r\n"[..]));
    }

    #[test]
    fn body_parse_reads_the_message_once() {
        let msg = b"INVITE sip:b@h SIP/2.0\r\nc: application/sdp\r\n\r\nv=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 0\r\n";
        let m = crate::sip::parse_message(msg).unwrap();
        let b = Body::parse(&m);
        assert_eq!(b.sdp.unwrap().media_endpoints().count(), 1);
        assert_eq!(b.pidf_lo, None);
        // No body, or a body that is not SDP: nothing.
        let m = crate::sip::parse_message(b"BYE sip:b@h SIP/2.0\r\n\r\n").unwrap();
        assert_eq!(Body::parse(&m), Body::default());
        let m = crate::sip::parse_message(
            b"MESSAGE sip:b@h SIP/2.0\r\nContent-Type: text/plain\r\n\r\nv=0\r\n",
        )
        .unwrap();
        // A MESSAGE's text is content, not SDP.
        let b = Body::parse(&m);
        assert!(b.sdp.is_none());
        assert_eq!(
            b.content,
            Some(Content {
                kind: ContentKind::Message,
                content_type: b"text/plain",
                len: 5
            })
        );
    }

    #[test]
    fn random_bytes_never_panic() {
        // Alphabet biased towards multipart syntax so the walker goes deep.
        const ALPHA: &[u8] = b"v=0 \r\n\r\n;-\"--b --c boundary=b boundary=c Content-Type: multipart/mixed application/sdp application/pidf+xml geopriv";
        crate::testkit::random::for_random_inputs(ALPHA, 20_000, 300, |buf, _| {
            let p = find_parts(b"multipart/mixed;boundary=b", buf);
            assert!(p.sdp.is_none_or(|s| s.len() <= buf.len()));
            assert!(for_each_part(buf, buf, &mut |_, _| {}) <= MAX_PARTS);
        });
    }
}
