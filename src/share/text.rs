//! One SIP message (header section and body) rewritten safe to share.
//!
//! Parser only: bytes in, bytes out, no I/O. Every header line goes through
//! the findings redaction ([`Pseudonymizer::redact`]: allowlist, keyed
//! pseudonyms, credentials `<redacted>`); then the `ip-xxxxxxxx` pseudonyms
//! it made of addresses become the stable pseudonymous addresses of
//! [`AddrMap`] (the ones in the rewritten packet headers), and the
//! `num-xxxxxxxx` it made of a port after a host gets its number back (a
//! port names no one). What tshark needs to dissect and count is kept as
//! is when it has the exact shape of something that cannot identify
//! anyone: the method, a status code (with its RFC 3261 reason phrase, not
//! the one sent), `CSeq`, `Max-Forwards`, `Expires`, `RSeq`, `RAck`, a bare
//! MIME type in `Content-Type`. `Content-Length` is recomputed.
//!
//! SDP bodies are rebuilt line by line (RFC 4566 §5): `v=`, `t=`, `b=`,
//! `m=` (media, port, protocol, formats: what tshark follows to decode
//! RTP) and well-known `a=` attributes of codec and direction are kept when
//! they have their documented shape; `o=` keeps a pseudonymous user and the
//! mapped address, `c=` the mapped address, `s=` becomes `-`; `a=crypto`
//! and `k=` lines (SRTP and session keys) are removed, as are `i=`, `u=`,
//! `e=`, `p=` (free text and contact details); any other `a=` line is
//! redacted like a header. Other bodies (PIDF-LO, message text, ISUP) are
//! dropped.

use super::addr::AddrMap;
use crate::findings::Pseudonymizer;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What a rewrite needs: the key and the address map of the capture.
pub struct Rewriter<'a> {
    pub pseudo: &'a Pseudonymizer,
    pub addrs: &'a mut AddrMap,
}

/// Longest header section looked at (as `sip::framing`).
const MAX_HEADER: usize = 64 * 1024;

/// Where the header section of `msg` ends (after the empty line), if it does.
fn header_end(msg: &[u8]) -> Option<usize> {
    let w = msg.get(..msg.len().min(MAX_HEADER)).unwrap_or(msg);
    let crlf = w.windows(4).position(|x| x == b"\r\n\r\n").map(|i| i + 4);
    let lf = w.windows(2).position(|x| x == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Standard reason phrases (RFC 3261 §21 and later RFCs); others get the
/// class's generic phrase.
fn reason(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        199 => "Early Dialog Terminated",
        200 => "OK",
        202 => "Accepted",
        204 => "No Notification",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        305 => "Use Proxy",
        380 => "Alternative Service",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        410 => "Gone",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        421 => "Extension Required",
        422 => "Session Interval Too Small",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        484 => "Address Incomplete",
        485 => "Ambiguous",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        489 => "Bad Event",
        491 => "Request Pending",
        493 => "Undecipherable",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        c if c < 200 => "Progress",
        c if c < 300 => "Success",
        c if c < 400 => "Redirection",
        c if c < 500 => "Client Error",
        c if c < 600 => "Server Error",
        _ => "Global Failure",
    }
}

/// Lines ended by CRLF, CR or LF, as tshark reads them (`tvb_find_line_end`).
fn split_lines(b: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\r' => {
                out.push(&b[start..i]);
                i += if b.get(i + 1) == Some(&b'\n') { 2 } else { 1 };
                start = i;
            }
            b'\n' => {
                out.push(&b[start..i]);
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    if start < b.len() {
        out.push(&b[start..]);
    }
    out
}

fn is_token(s: &[u8], max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"-._!%*+`'~".contains(&b))
}

fn all_digits(s: &[u8], max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.iter().all(u8::is_ascii_digit)
}

/// `CSeq`/`RAck`/`Expires`-shaped: digits, then optional tokens.
fn numeric_value(v: &[u8]) -> bool {
    let mut parts = v.split(|&b| b == b' ').filter(|p| !p.is_empty());
    parts.next().is_some_and(|p| all_digits(p, 10)) && parts.all(|p| is_token(p, 32))
}

/// `type/subtype` with no parameter.
fn bare_mime(v: &[u8]) -> bool {
    let mut it = v.splitn(2, |&b| b == b'/');
    matches!((it.next(), it.next()), (Some(a), Some(b)) if is_token(a, 64) && is_token(b, 64))
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    s.get(start..end).unwrap_or(&[])
}

/// Split on commas outside quotes and angle brackets (RFC 3261 §7.3.1
/// multi-value headers), so each value is redacted on its own and none is
/// cut by the evidence length.
fn split_values(v: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let (mut quote, mut angle, mut start) = (false, 0u32, 0usize);
    let mut esc = false;
    for (i, &b) in v.iter().enumerate() {
        if esc {
            esc = false;
            continue;
        }
        match b {
            b'\\' if quote => esc = true,
            b'"' => quote = !quote,
            b'<' if !quote => angle += 1,
            b'>' if !quote => angle = angle.saturating_sub(1),
            b',' if !quote && angle == 0 => {
                out.push(trim(v.get(start..i).unwrap_or(&[])));
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(trim(v.get(start..).unwrap_or(&[])));
    out
}

/// Headers split into values before redaction (they carry lists).
fn is_list_header(name: &[u8]) -> bool {
    const LIST: &[&[u8]] = &[
        b"via",
        b"v",
        b"route",
        b"record-route",
        b"contact",
        b"m",
        b"path",
        b"service-route",
        b"history-info",
        b"diversion",
        b"p-associated-uri",
        b"p-asserted-identity",
        b"p-preferred-identity",
        b"allow",
        b"supported",
        b"k",
        b"require",
        b"accept",
    ];
    LIST.iter().any(|n| n.eq_ignore_ascii_case(name))
}

fn is_name(name: &[u8], long: &[u8], compact: &[u8]) -> bool {
    name.eq_ignore_ascii_case(long) || (!compact.is_empty() && name.eq_ignore_ascii_case(compact))
}

impl Rewriter<'_> {
    /// Rewrite one SIP message (a datagram, or one framed from a stream);
    /// `None` when `msg` does not start with a SIP start line. The body is
    /// Content-Length bytes, or everything after the header section.
    pub fn sip(&mut self, msg: &[u8]) -> Option<Vec<u8>> {
        // Cheap refusal first: most datagrams offered are RTP.
        let first = msg
            .iter()
            .position(|&b| b != b'\r' && b != b'\n')
            .unwrap_or(msg.len());
        let rest = msg.get(first..).unwrap_or(&[]);
        let window = rest.get(..rest.len().min(MAX_HEADER)).unwrap_or(rest);
        let eol = window
            .iter()
            .position(|&b| b == b'\r' || b == b'\n')
            .unwrap_or(window.len());
        let line = window.get(..eol).unwrap_or(&[]);
        if !(line.starts_with(b"SIP/2.0 ") || line.ends_with(b" SIP/2.0")) {
            return None;
        }
        let hend = header_end(msg).unwrap_or(msg.len());
        let head = msg.get(..hend)?;
        let mut lines: Vec<Vec<u8>> = Vec::new();
        for l in split_lines(head) {
            if l.is_empty() {
                continue;
            }
            let n = lines.len();
            match (l.first(), lines.last_mut()) {
                // Folded continuation (RFC 3261 §7.3.1).
                (Some(b' ' | b'\t'), Some(prev)) if n > 1 => {
                    prev.push(b' ');
                    prev.extend_from_slice(trim(l));
                }
                _ => lines.push(l.to_vec()),
            }
        }
        let (start, headers) = lines.split_first()?;
        let mut out = Vec::with_capacity(msg.len());
        self.start_line(start, &mut out)?;
        let mut content_length = None;
        let mut sdp = false;
        let mut rewritten = Vec::with_capacity(headers.len());
        for h in headers {
            let Some(colon) = h.iter().position(|&b| b == b':') else {
                continue;
            };
            let name = trim(h.get(..colon).unwrap_or(&[]));
            let value = trim(h.get(colon + 1..).unwrap_or(&[]));
            if !is_token(name, 64) {
                continue;
            }
            if is_name(name, b"content-length", b"l") {
                content_length = std::str::from_utf8(value)
                    .ok()
                    .and_then(|s| s.parse::<usize>().ok());
                continue;
            }
            if is_name(name, b"content-type", b"c") {
                let mime = value.split(|&b| b == b';').next().map(trim).unwrap_or(&[]);
                sdp = mime.eq_ignore_ascii_case(b"application/sdp");
            }
            rewritten.push(self.header(name, value));
        }
        let body_start = hend.min(msg.len());
        let rest = msg.get(body_start..).unwrap_or(&[]);
        let body = match content_length {
            Some(n) => rest.get(..n.min(rest.len())).unwrap_or(rest),
            None => rest,
        };
        let body = if sdp || (body.starts_with(b"v=0") && !body.is_empty()) {
            self.sdp(body)
        } else {
            Vec::new()
        };
        for h in rewritten {
            out.extend_from_slice(&h);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
        out.extend_from_slice(&body);
        Some(out)
    }

    fn start_line(&mut self, l: &[u8], out: &mut Vec<u8>) -> Option<()> {
        // A control character in the start line: not SIP to tshark either.
        if l.iter().any(|&b| b < 0x20 && b != b'\t' || b == 0x7f) {
            return None;
        }
        if let Some(rest) = l.strip_prefix(b"SIP/2.0 ") {
            let code = rest.get(..3).filter(|c| all_digits(c, 3))?;
            let n: u16 = std::str::from_utf8(code).ok()?.parse().ok()?;
            out.extend_from_slice(format!("SIP/2.0 {n} {}\r\n", reason(n)).as_bytes());
            return Some(());
        }
        let mut parts = l.split(|&b| b == b' ').filter(|p| !p.is_empty());
        let (method, uri, version) = (parts.next()?, parts.next()?, parts.next()?);
        // A method is a token (RFC 3261 §25.1), kept as sent so tshark
        // counts the same methods, unless it holds a digit run a number
        // could hide in.
        if !is_token(method, MAX_HEADER) || !version.eq_ignore_ascii_case(b"SIP/2.0") {
            return None;
        }
        let method = if method.windows(4).any(|w| w.iter().all(u8::is_ascii_digit)) {
            self.pseudo.pseudonym("val", method).into_bytes()
        } else {
            method.to_vec()
        };
        let uri = self.value(b"", uri);
        let uri: String = uri.chars().filter(|c| !c.is_whitespace()).collect();
        out.extend_from_slice(&method);
        out.push(b' ');
        out.extend_from_slice(uri.as_bytes());
        out.extend_from_slice(b" SIP/2.0\r\n");
        Some(())
    }

    /// One header line, `Name: value`, without the line end.
    fn header(&mut self, name: &[u8], value: &[u8]) -> Vec<u8> {
        let keep = (is_name(name, b"cseq", b"")
            || is_name(name, b"max-forwards", b"")
            || is_name(name, b"expires", b"")
            || is_name(name, b"min-expires", b"")
            || is_name(name, b"rseq", b"")
            || is_name(name, b"rack", b""))
            && numeric_value(value)
            || is_name(name, b"content-type", b"c") && bare_mime(value);
        if keep {
            let mut o = name.to_vec();
            o.extend_from_slice(b": ");
            o.extend_from_slice(value);
            return o;
        }
        let values = if is_list_header(name) {
            split_values(value)
        } else {
            vec![value]
        };
        let mut o = Vec::new();
        for (i, v) in values.iter().enumerate() {
            let line = self.value(name, v);
            let (n, v) = line.split_once(": ").unwrap_or(("X", line.as_str()));
            if i == 0 {
                o.extend_from_slice(n.as_bytes());
                o.extend_from_slice(b": ");
            } else {
                o.extend_from_slice(b", ");
            }
            o.extend_from_slice(v.as_bytes());
        }
        o
    }

    /// Redact `value` (under `name`; empty for a bare value) and put the
    /// mapped addresses and the ports back.
    fn value(&mut self, name: &[u8], value: &[u8]) -> String {
        let ports = self.note_addresses(value);
        let red = self.pseudo.redact(name, value);
        let red = red.strip_suffix('…').unwrap_or(&red).to_string();
        self.restore(&red, &ports)
    }

    /// Map every address literal in `v`; return the port pseudonyms seen
    /// right after a host (`host:port`), as `num-xxxxxxxx` → port.
    fn note_addresses(&mut self, v: &[u8]) -> HashMap<String, u16> {
        let mut ports = HashMap::new();
        let is_addr_char = |b: u8| b.is_ascii_hexdigit() || b == b':' || b == b'.';
        let mut i = 0;
        while i < v.len() {
            if !is_addr_char(v[i])
                || (i > 0 && (v[i - 1].is_ascii_alphanumeric() || v[i - 1] == b'-'))
            {
                i += 1;
                continue;
            }
            let end = v[i..]
                .iter()
                .position(|&b| !is_addr_char(b))
                .map_or(v.len(), |e| i + e);
            let run = std::str::from_utf8(&v[i..end]).unwrap_or("");
            if let Ok(a) = run.parse::<Ipv6Addr>() {
                self.addrs.map(self.pseudo, IpAddr::V6(a));
            } else {
                // `a.b.c.d` or `a.b.c.d:port`.
                let (host, port) = run.split_once(':').unwrap_or((run, ""));
                if let Ok(a) = host.parse::<Ipv4Addr>() {
                    self.addrs.map(self.pseudo, IpAddr::V4(a));
                    self.note_port(port, &mut ports);
                }
            }
            // `[v6]:port`.
            if v.get(end) == Some(&b']') && v.get(end + 1) == Some(&b':') {
                let p = v[end + 2..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
                let port = std::str::from_utf8(&v[end + 2..end + 2 + p]).unwrap_or("");
                self.note_port(port, &mut ports);
            }
            i = end.max(i + 1);
        }
        // `name.example:port` (a host name, with a dot, before the colon).
        for (k, _) in v.iter().enumerate().filter(|(_, &b)| b == b':') {
            let before = v[..k]
                .iter()
                .rev()
                .take_while(|&&b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
                .count();
            let host = &v[k - before..k];
            if before > 0 && host.contains(&b'.') {
                let p = v[k + 1..].iter().take_while(|b| b.is_ascii_digit()).count();
                let port = std::str::from_utf8(&v[k + 1..k + 1 + p]).unwrap_or("");
                self.note_port(port, &mut ports);
            }
        }
        ports
    }

    fn note_port(&self, port: &str, ports: &mut HashMap<String, u16>) {
        if port.len() >= 4 {
            if let Ok(n) = port.parse::<u16>() {
                ports.insert(self.pseudo.pseudonym("num", port.as_bytes()), n);
            }
        }
    }

    /// Replace `ip-xxxxxxxx` by the mapped address and `:num-xxxxxxxx`
    /// after a host by its port.
    fn restore(&self, red: &str, ports: &HashMap<String, u16>) -> String {
        let mut out = String::with_capacity(red.len() + 16);
        let b = red.as_bytes();
        let mut i = 0;
        let mut after_host = false;
        while i < b.len() {
            let word_start = i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'-');
            if word_start {
                for class in ["ip-", "host-"] {
                    if let Some(tok) = red.get(i..i + class.len() + 8) {
                        if tok.starts_with(class)
                            && tok[class.len()..].bytes().all(|c| c.is_ascii_hexdigit())
                        {
                            match (class, self.addrs.by_pseudonym(tok)) {
                                ("ip-", Some(a)) => out.push_str(&a.to_string()),
                                _ => out.push_str(tok),
                            }
                            i += tok.len();
                            after_host = true;
                            break;
                        }
                    }
                }
                if after_host {
                    if red.get(i..i + 1) == Some("]") {
                        out.push(']');
                        i += 1;
                    }
                    if let Some(tok) = red.get(i..i + 13) {
                        if let Some(p) = tok.strip_prefix(':').and_then(|t| ports.get(t)) {
                            out.push(':');
                            out.push_str(&p.to_string());
                            i += tok.len();
                        }
                    }
                    after_host = false;
                    continue;
                }
            }
            let c = red[i..].chars().next().unwrap_or(' ');
            out.push(c);
            i += c.len_utf8();
        }
        out
    }

    /// Rewrite an SDP body (see the module doc).
    pub fn sdp(&mut self, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(body.len());
        for raw in body.split(|&b| b == b'\n') {
            let l = trim(raw.strip_suffix(b"\r").unwrap_or(raw));
            let (Some(&t), Some(b'=')) = (l.first(), l.get(1)) else {
                continue;
            };
            let v = l.get(2..).unwrap_or(&[]);
            let line: Option<Vec<u8>> = match t {
                b'v' => Some(b"v=0".to_vec()),
                b's' => Some(b"s=-".to_vec()),
                b'o' => Some(self.sdp_origin(v)),
                b'c' => self
                    .sdp_connection(v)
                    .map(|c| [b"c=".as_slice(), &c].concat()),
                b't' | b'r' | b'b'
                    if v.iter()
                        .all(|&b| b.is_ascii_alphanumeric() || b" :-".contains(&b))
                        && v.len() <= 64 =>
                {
                    Some(l.to_vec())
                }
                b'm' => self.sdp_media(v),
                b'a' => self.sdp_attribute(v),
                _ => None,
            };
            if let Some(line) = line {
                out.extend_from_slice(&line);
                out.extend_from_slice(b"\r\n");
            }
        }
        out
    }

    fn sdp_origin(&mut self, v: &[u8]) -> Vec<u8> {
        let f: Vec<&[u8]> = v.split(|&b| b == b' ').filter(|p| !p.is_empty()).collect();
        let user = match f.first() {
            Some(&b"-") | None => "-".to_string(),
            Some(u) => self.pseudo.pseudonym("user", u),
        };
        let conn = match (f.get(3), f.get(4), f.get(5)) {
            (Some(n), Some(a), Some(addr)) => self.connection(n, a, addr),
            _ => None,
        };
        let conn = conn.unwrap_or_else(|| b"IN IP4 0.0.0.0".to_vec());
        [format!("o={user} 1 1 ").as_bytes(), &conn].concat()
    }

    fn sdp_connection(&mut self, v: &[u8]) -> Option<Vec<u8>> {
        let f: Vec<&[u8]> = v.split(|&b| b == b' ').filter(|p| !p.is_empty()).collect();
        match f.as_slice() {
            [n, a, addr] => self.connection(n, a, addr),
            _ => None,
        }
    }

    /// `IN IP4 addr[/ttl[/n]]` with the address mapped.
    fn connection(&mut self, net: &[u8], atype: &[u8], addr: &[u8]) -> Option<Vec<u8>> {
        if net != b"IN" || !(atype == b"IP4" || atype == b"IP6") {
            return None;
        }
        let mut parts = addr.splitn(2, |&b| b == b'/');
        let host = std::str::from_utf8(parts.next()?).ok()?;
        let suffix = parts
            .next()
            .filter(|s| s.iter().all(|&b| b.is_ascii_digit() || b == b'/'));
        let ip: IpAddr = host.parse().ok()?;
        let m = self.addrs.map(self.pseudo, ip);
        let mut o = format!("IN {} {m}", if m.is_ipv4() { "IP4" } else { "IP6" }).into_bytes();
        if let Some(s) = suffix {
            o.push(b'/');
            o.extend_from_slice(s);
        }
        Some(o)
    }

    /// `m=media port[/n] proto fmt...`: kept when every field has its shape.
    fn sdp_media(&self, v: &[u8]) -> Option<Vec<u8>> {
        let f: Vec<&[u8]> = v.split(|&b| b == b' ').filter(|p| !p.is_empty()).collect();
        let ok = f.len() >= 3
            && is_token(f[0], 16)
            && f[1].iter().all(|&b| b.is_ascii_digit() || b == b'/')
            && f[1].len() <= 11
            && f[2].iter().all(|&b| b.is_ascii_alphanumeric() || b == b'/')
            && f[3..]
                .iter()
                .all(|p| is_token(p, 32) && !p.iter().all(u8::is_ascii_digit) || all_digits(p, 3));
        ok.then(|| [b"m=".as_slice(), &f.join(&b' ')].concat())
    }

    fn sdp_attribute(&mut self, v: &[u8]) -> Option<Vec<u8>> {
        let (name, value) = match v.iter().position(|&b| b == b':') {
            Some(i) => (&v[..i], Some(&v[i + 1..])),
            None => (v, None),
        };
        if name.eq_ignore_ascii_case(b"crypto") || !is_token(name, 64) {
            return None;
        }
        const FLAGS: &[&str] = &[
            "sendrecv",
            "sendonly",
            "recvonly",
            "inactive",
            "rtcp-mux",
            "rtcp-rsize",
            "ice-lite",
            "end-of-candidates",
            "extmap-allow-mixed",
        ];
        const SHAPED: &[&str] = &[
            "rtpmap",
            "fmtp",
            "ptime",
            "maxptime",
            "setup",
            "silencesupp",
            "framerate",
            "rtcp-fb",
            "mid",
            "connection",
            "ice-options",
            "t38faxversion",
            "t38maxbitrate",
            "t38faxfillbitremoval",
            "t38faxtranscodingmmr",
            "t38faxtranscodingjbig",
            "t38faxratemanagement",
            "t38faxmaxbuffer",
            "t38faxmaxdatagram",
            "t38faxudpec",
            "direction",
            "label",
            "msid-semantic",
            "group",
            "sctp-port",
            "max-message-size",
            "rtcp",
            "orient",
            "type",
            "charset",
            "quality",
        ];
        let lname = String::from_utf8_lossy(name).to_ascii_lowercase();
        let Some(value) = value else {
            return FLAGS
                .contains(&lname.as_str())
                .then(|| [b"a=".as_slice(), name].concat());
        };
        if SHAPED.contains(&lname.as_str()) {
            if lname == "rtcp" {
                // `port [IN IP4 addr]` (RFC 3605).
                let f: Vec<&[u8]> = value
                    .split(|&b| b == b' ')
                    .filter(|p| !p.is_empty())
                    .collect();
                if f.first().is_some_and(|p| all_digits(p, 5)) {
                    let mut o = [b"a=rtcp:".as_slice(), f[0]].concat();
                    if let [_, n, a, addr] = f.as_slice() {
                        if let Some(c) = self.connection(n, a, addr) {
                            o.push(b' ');
                            o.extend_from_slice(&c);
                        }
                    }
                    return Some(o);
                }
            } else if safe_attr_value(value) {
                return Some([b"a=".as_slice(), name, b":", value].concat());
            }
        }
        // Anything else: redacted like a header value.
        let line = self.value(b"", v);
        Some(format!("a={line}").into_bytes())
    }
}

/// Codec and direction values: short, plain characters, and no run of five
/// digits or more (a phone number does not hide in `a=fmtp`).
fn safe_attr_value(v: &[u8]) -> bool {
    let mut run = 0;
    v.len() <= 200
        && v.iter().all(|&b| {
            run = if b.is_ascii_digit() { run + 1 } else { 0 };
            run < 5 && (b.is_ascii_alphanumeric() || b" .:/=;,+-_*".contains(&b))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:+4930555123456@10.1.2.3:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.168.7.9:5062;branch=z9hG4bK776asdhds, SIP/2.0/UDP 10.9.9.9:5060;branch=z9hG4bKabc\r\n\
Max-Forwards: 70\r\n\
From: \"Alice Canary\" <sip:alicecanary@192.168.7.9>;tag=1928301774\r\n\
To: <sip:+4930555123456@example.com>\r\n\
Call-ID: a84b4c76e66710@192.168.7.9\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alicecanary@192.168.7.9:5062>\r\n\
Authorization: Digest username=\"alicecanary\", realm=\"atlanta.com\", nonce=\"84a4cc6f3082121f32b42a2187831a9e\", uri=\"sip:bob@biloxi.com\", response=\"7587245234b3434cc3412213e5f113a5\"\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 999\r\n\
\r\n\
v=0\r\n\
o=alicecanary 2890844526 2890844526 IN IP4 192.168.7.9\r\n\
s=Session SDP\r\n\
e=alice@example.com\r\n\
c=IN IP4 192.168.7.9\r\n\
t=0 0\r\n\
m=audio 49170 RTP/SAVP 0 8 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4\r\n\
a=ssrc:12345678 cname:alicecanary@host\r\n\
a=sendrecv\r\n";

    fn rw(msg: &str) -> (String, AddrMap) {
        let p = Pseudonymizer::new(&[9u8; 32]);
        let mut addrs = AddrMap::new();
        let out = Rewriter {
            pseudo: &p,
            addrs: &mut addrs,
        }
        .sip(msg.as_bytes())
        .unwrap();
        (String::from_utf8(out).unwrap(), addrs)
    }

    #[test]
    fn invite_keeps_structure_and_hides_identifiers() {
        let (out, _) = rw(INVITE);
        for canary in [
            "4930555123456",
            "alicecanary",
            "Alice",
            "192.168",
            "10.1.2.3",
            "10.9.9.9",
            "a84b4c76e66710",
            "1928301774",
            "7587245234",
            "WVNfX19z",
            "example.com",
            "2890844526",
            "12345678",
            "z9hG4bK776",
        ] {
            assert!(!out.contains(canary), "{canary} in\n{out}");
        }
        assert!(out.starts_with("INVITE sip:"), "{out}");
        assert!(out.contains("\r\nCSeq: 314159 INVITE\r\n"), "{out}");
        assert!(out.contains("\r\nMax-Forwards: 70\r\n"), "{out}");
        assert!(
            out.contains("\r\nContent-Type: application/sdp\r\n"),
            "{out}"
        );
        assert!(out.contains("response=<redacted>"), "{out}");
        assert!(
            out.contains("\r\nm=audio 49170 RTP/SAVP 0 8 101\r\n"),
            "{out}"
        );
        assert!(
            out.contains("\r\na=rtpmap:101 telephone-event/8000\r\n"),
            "{out}"
        );
        assert!(!out.contains("a=crypto"), "{out}");
        assert!(!out.contains("\r\ne="), "{out}");
        // Ports after an address come back; the Via list stays two values.
        assert!(out.contains(":5062;branch="), "{out}");
        let via = out.lines().find(|l| l.starts_with("Via:")).unwrap();
        assert_eq!(via.matches("SIP/2.0/UDP").count(), 2, "{via}");
        // Content-Length is the new body's.
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        let cl: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(cl, body.len());
    }

    #[test]
    fn addresses_agree_between_sdp_headers_and_the_map() {
        let (out, mut addrs) = rw(INVITE);
        let p = Pseudonymizer::new(&[9u8; 32]);
        let m = addrs.map(&p, "192.168.7.9".parse().unwrap());
        assert!(out.contains(&format!("c=IN IP4 {m}\r\n")), "{out}");
        assert!(out.contains(&format!("IN IP4 {m}\r\n")), "{out}");
        assert!(out.contains(&format!("SIP/2.0/UDP {m}:5062")), "{out}");
    }

    #[test]
    fn response_reason_is_the_standard_one() {
        let (out, _) =
            rw("SIP/2.0 486 Busy Here Alice Canary\r\nCSeq: 1 INVITE\r\nCall-ID: x@y\r\n\r\n");
        assert!(out.starts_with("SIP/2.0 486 Busy Here\r\n"), "{out}");
        assert!(!out.contains("Canary"));
        assert!(out.ends_with("Content-Length: 0\r\n\r\n"), "{out}");
    }

    #[test]
    fn not_sip_is_none() {
        let p = Pseudonymizer::new(&[9u8; 32]);
        let mut addrs = AddrMap::new();
        let mut r = Rewriter {
            pseudo: &p,
            addrs: &mut addrs,
        };
        assert!(r.sip(b"GET / HTTP/1.1\r\n\r\n").is_none());
        assert!(r.sip(b"\x16\x03\x01\x00").is_none());
    }
}
