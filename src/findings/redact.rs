//! Keyed pseudonyms and the allowlist redaction of evidence lines.
//!
//! Owner: `findings`. Invariant: what [`Pseudonymizer::redact`] returns
//! holds only (a) the header name, whose parts (between `-`, or camel-case
//! segments) are words of header names or of the allowlist, else
//! pseudonyms, (b) punctuation and whitespace, (c) tokens from the fixed
//! allowlist below (SIP/SDP keywords, parameter names, URI and auth scheme
//! names, transports, codecs, crypto suites, well-known product names),
//! numbers of at most three digits and short version numbers (`1.10.7`;
//! of four digits or more only in User-Agent and Server),
//! and (d) pseudonyms or `<redacted>`. Anything not recognised as safe is
//! replaced: a value this module has never seen before is hidden, not
//! shown. The value of an unknown parameter is always replaced, and no
//! four digits are shown that a reader would join into one number across
//! separators (a last pass over the output, `join_digit_runs`). The
//! output is ASCII (plus a final `…` when cut) and at most
//! [`MAX_EVIDENCE`] characters.
//!
//! A pseudonym is `class-` + the first 4 bytes (8 hex digits) of
//! HMAC-SHA256(key, identifier): stable for one key (so one sender or one
//! user can be followed through the table) and meaningless without it.
//! Classes: `user` (URI user parts, SDP `o=` user), `host` (host names,
//! Via sent-by), `ip` (addresses, the same pseudonym as the sender column),
//! `num` (digit runs of four or more, hashed as bare digits so `+49 30 1234`
//! and `%2B49301234` give the same pseudonym), `name` (display names), `str`
//! (quoted strings), `val` (any other value).
//!
//! Cost: the value is cut to [`MAX_INPUT`] bytes before any work, then
//! percent-decoded (at most three passes; an escape still left is part of
//! its word) and read once from left to right;
//! the look-aheads (end of a URI, of a display name, of a quoted string, of
//! a digit run) each cover a region the main loop then skips or that no
//! other look-ahead covers, so the work is linear in [`MAX_INPUT`]. The loop
//! stops once the output is longer than [`MAX_EVIDENCE`]; the final pass
//! over the output is linear in it.
//!
//! Credentials (`Authorization`, `Proxy-Authorization`, the challenges and
//! `*-Authentication-Info`, or any value that starts with an auth scheme)
//! keep the scheme and the names of known parameters only; every value is
//! `<redacted>` except `algorithm` and `qop` values from a fixed list.
//! Comments in parentheses (User-Agent, Server) keep safe tokens; anything
//! else in them is `<redacted>`.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt::Write as _;
use std::net::IpAddr;

/// Longest redacted evidence kept, in characters (the final `…` of a cut
/// line included).
pub const MAX_EVIDENCE: usize = 256;

/// Bytes of a value looked at: more cannot fit in [`MAX_EVIDENCE`] after
/// redaction anyway, and a 60 KB header must not cost 60 KB of work.
pub const MAX_INPUT: usize = 4 * MAX_EVIDENCE;

const REDACTED: &str = "<redacted>";

/// The parameter state after an unknown parameter name: its value is
/// pseudonymised whatever it looks like (a short number, a listed word).
const OPAQUE: &str = "opaque";

/// The HMAC key and the pseudonym function.
#[derive(Clone)]
pub struct Pseudonymizer {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for Pseudonymizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonymizer { key: <secret> }")
    }
}

/// The four bytes of a pseudonym (`class-xxxxxxxx` shows them in hex):
/// `Copy`, for table keys that must not allocate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tag32([u8; 4]);

impl Tag32 {
    /// `class-xxxxxxxx`.
    pub fn pseudonym(self, class: &str) -> String {
        let mut s = String::with_capacity(class.len() + 9);
        s.push_str(class);
        s.push('-');
        for b in self.0 {
            let _ = write!(s, "{b:02x}");
        }
        s
    }
}

impl Pseudonymizer {
    /// `key` of any length (HMAC, RFC 2104 §3); callers give at least 32 bytes.
    pub fn new(key: &[u8]) -> Pseudonymizer {
        Pseudonymizer {
            mac: <Hmac<Sha256> as Mac>::new_from_slice(key)
                .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length")),
        }
    }

    /// `class-xxxxxxxx`.
    pub fn pseudonym(&self, class: &str, id: &[u8]) -> String {
        self.tag32(id).pseudonym(class)
    }

    /// The four bytes a pseudonym shows: the HMAC of `id`, truncated.
    pub fn tag32(&self, id: &[u8]) -> Tag32 {
        let mut m = self.mac.clone();
        m.update(id);
        let tag = m.finalize().into_bytes();
        let mut b = [0u8; 4];
        b.copy_from_slice(tag.get(..4).unwrap_or(&[0; 4]));
        Tag32(b)
    }

    /// A keyed 64-bit tag of `parts` (each length-prefixed, so `["ab",
    /// "c"]` and `["a", "bc"]` differ): what state tables keep instead of
    /// an identifier (the observer's linker and registration tables).
    pub fn tag64(&self, parts: &[&[u8]]) -> u64 {
        let mut m = self.mac.clone();
        for p in parts {
            m.update(&(p.len() as u64).to_be_bytes());
            m.update(p);
        }
        let tag = m.finalize().into_bytes();
        let mut b = [0u8; 8];
        b.copy_from_slice(tag.get(..8).unwrap_or(&[0; 8]));
        u64::from_be_bytes(b)
    }

    /// `ip-xxxxxxxx` of the canonical text of the address, so the same
    /// address gives the same pseudonym as sender and inside evidence.
    pub fn ip(&self, ip: IpAddr) -> String {
        self.ip_tag(ip).pseudonym("ip")
    }

    /// [`Self::ip`] before formatting (what tables key on). The address
    /// text is written into a stack buffer: no allocation per message.
    pub fn ip_tag(&self, ip: IpAddr) -> Tag32 {
        use std::io::Write as _;
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        // The longest address text (IPv6 with an embedded IPv4) is 45 bytes.
        let mut buf = [0u8; 64];
        let mut w = &mut buf[..];
        let _ = write!(w, "{ip}");
        let n = 64 - w.len();
        self.tag32(buf.get(..n).unwrap_or(&[]))
    }

    /// Redact one evidence line: `Name: value` (or the value alone when
    /// `name` is empty), at most [`MAX_EVIDENCE`] characters.
    pub fn redact(&self, name: &[u8], value: &[u8]) -> String {
        let mut out = String::with_capacity(MAX_EVIDENCE + 16);
        if !name.is_empty() {
            // `X-555-123-4567`: the name's own digit groups are joined too.
            let mut n = String::with_capacity(name.len().min(64) + 16);
            push_header_name(self, name, &mut n);
            out.push_str(&join_digit_runs(self, n, 0));
            out.push_str(": ");
        }
        let (capped, mut cut) = cap_input(value);
        let v = percent_decode(capped);
        let start = out.len();
        if is_credential_header(name) || auth_scheme(&v).is_some() {
            redact_credentials(&v, &mut out);
        } else {
            cut |= Redactor::new(self, name, &mut out).run(&v);
        }
        let out = join_digit_runs(self, out, start);
        finish(out, cut)
    }
}

/// Cut `value` to [`MAX_INPUT`] bytes, back to the last separator when one
/// is near, so no token is split (a split one would be pseudonymised too,
/// but under another pseudonym than the whole).
fn cap_input(value: &[u8]) -> (&[u8], bool) {
    let Some(c) = value.get(..MAX_INPUT) else {
        return (value, false);
    };
    let sep = c
        .iter()
        .rposition(|b| matches!(b, b' ' | b'\t' | b',' | b';' | b'>'))
        .filter(|&s| s >= MAX_INPUT / 2)
        // No separator: at least never end inside a word (the digits of a
        // number straddling the cut would be shown as a short number).
        .or_else(|| {
            c.iter()
                .rposition(|&b| !is_word(b))
                .filter(|&s| s >= MAX_INPUT / 2)
        });
    (sep.and_then(|s| c.get(..s)).unwrap_or(c), true)
}

/// Pseudonym classes (`class-` + 8 hex digits), skipped whole by
/// [`join_digit_runs`].
pub const CLASSES: [&str; 7] = ["user-", "host-", "ip-", "num-", "name-", "str-", "val-"];

/// Characters a reader reads through when joining digits into one number
/// (`555/123 4567`, `1.2.3-4`, `12.34.56 78.90`, `123\456`, `555,123`,
/// `&#53;&#53;`).
fn digit_joiner(b: u8) -> bool {
    b" \t-./()+_~*#|\\?,;:&".contains(&b)
}

/// The last word of defence, over what the redaction wrote from `start`
/// on: digit groups it kept (each short, or a version) that a reader would
/// join across [`digit_joiner`]s into four digits or more become one `num-`
/// pseudonym. A lone version (`18.2.1`, `v2.1`) stays. Digits glued to a
/// letter on their left (`x86`, `g722`, a pseudonym's hex) start no run.
/// Linear: each byte is looked at a bounded number of times.
fn join_digit_runs(p: &Pseudonymizer, out: String, start: usize) -> String {
    let b = out.as_bytes();
    if !b.get(start..).unwrap_or(&[]).iter().any(u8::is_ascii_digit) {
        return out;
    }
    let mut res = String::with_capacity(out.len() + 16);
    res.push_str(out.get(..start).unwrap_or(""));
    let mut i = start;
    let mut copied = start;
    while let Some(&c) = b.get(i) {
        if let Some(k) = CLASSES
            .iter()
            .find(|k| b.get(i..).is_some_and(|t| t.starts_with(k.as_bytes())))
        {
            let hex = b.get(i + k.len()..i + k.len() + 8);
            if hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                i += k.len() + 8;
                continue;
            }
        }
        if c.is_ascii_alphabetic() {
            // A word, with the digits glued to it (`x86`, `v2`).
            let prev_alnum = i > start && b.get(i - 1).is_some_and(u8::is_ascii_alphanumeric);
            let version_v = matches!(c, b'v' | b'V')
                && !prev_alnum
                && b.get(i + 1).is_some_and(u8::is_ascii_digit);
            if !version_v {
                i += b
                    .get(i..)
                    .unwrap_or(&[])
                    .iter()
                    .take_while(|x| x.is_ascii_alphanumeric())
                    .count();
                continue;
            }
        }
        if !c.is_ascii_digit() && !matches!(c, b'v' | b'V') {
            i += 1;
            continue;
        }
        // A run: digit groups joined by joiners.
        let run_start = i;
        let mut j = i + usize::from(!c.is_ascii_digit());
        let mut end = j;
        let mut digits: Vec<u8> = Vec::new();
        let mut groups = 0usize;
        loop {
            let g = b
                .get(j..)
                .unwrap_or(&[])
                .iter()
                .take_while(|x| x.is_ascii_digit())
                .count();
            if g == 0 {
                break;
            }
            digits.extend_from_slice(b.get(j..j + g).unwrap_or(&[]));
            groups += 1;
            end = j + g;
            let sep = b
                .get(end..)
                .unwrap_or(&[])
                .iter()
                .take_while(|&&x| digit_joiner(x))
                .count();
            if sep == 0 || !b.get(end + sep).is_some_and(u8::is_ascii_digit) {
                break;
            }
            j = end + sep;
        }
        let span = b.get(run_start..end).unwrap_or(&[]);
        let lone_version = is_version(span) || in_list(span);
        if digits.len() >= 4 && !lone_version && groups > 0 {
            res.push_str(out.get(copied..run_start).unwrap_or(""));
            res.push_str(&p.pseudonym("num", &digits));
            copied = end;
        }
        i = end.max(i + 1);
    }
    res.push_str(out.get(copied..).unwrap_or(""));
    res
}

/// At most [`MAX_EVIDENCE`] characters; a cut line ends with `…`.
fn finish(mut out: String, cut: bool) -> String {
    if cut || out.chars().count() > MAX_EVIDENCE {
        if let Some((at, _)) = out.char_indices().nth(MAX_EVIDENCE - 1) {
            out.truncate(at);
        }
        out.push('…');
    }
    out
}

fn hex_val(b: u8) -> Option<u8> {
    (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// `%XX` escapes decoded (RFC 3986 §2.1), up to three times (a doubly
/// encoded `%2531` is still `1`), so identifiers are matched as written
/// by people, not as escaped on the wire. Invalid escapes stay as they are.
fn percent_decode(v: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if !v.contains(&b'%') {
        // The common case: nothing to decode, nothing to copy.
        return std::borrow::Cow::Borrowed(v);
    }
    let mut cur = v.to_vec();
    for _ in 0..3 {
        if !cur.contains(&b'%') {
            break;
        }
        let mut next = Vec::with_capacity(cur.len());
        let mut i = 0usize;
        let mut changed = false;
        while let Some(&b) = cur.get(i) {
            let esc = (b == b'%')
                .then(|| Some(hex_val(*cur.get(i + 1)?)? * 16 + hex_val(*cur.get(i + 2)?)?))
                .flatten();
            match esc {
                Some(d) => {
                    next.push(d);
                    i += 3;
                    changed = true;
                }
                None => {
                    next.push(b);
                    i += 1;
                }
            }
        }
        cur = next;
        if !changed {
            break;
        }
    }
    std::borrow::Cow::Owned(cur)
}

/// Characters of a word: what a token, a URI user or host, a number or a
/// base64 blob is made of. Bytes ≥ 0x80 belong to words, so non-ASCII
/// text is pseudonymised with its word and never copied. So does `%`: an
/// escape left after the decoding passes (`%31%35` from a quadruple
/// encoding) is part of its word, never digits shown between `%`s.
fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-_.!~*'+%".contains(&b) || b >= 0x80
}

fn push_ascii(w: &[u8], out: &mut String) {
    out.extend(w.iter().map(|&c| {
        if c.is_ascii_graphic() || c == b' ' {
            c as char
        } else {
            '?'
        }
    }));
}

/// The header name: standard names and the words software uses to name
/// headers are kept; any other part of a name (between `-`) is
/// pseudonymised, since a custom header name can carry an identifier too
/// (`X-Alice-Smith`, `X-Token-YWxp...`, `X-Account-4930123456`). Parts of
/// one or two letters and numbers of at most three digits stay; bytes
/// outside the token set become `?`. At most 64 bytes are looked at.
fn push_header_name(p: &Pseudonymizer, name: &[u8], out: &mut String) {
    let name = name.get(..64).unwrap_or(name);
    for (n, part) in name.split(|&b| b == b'-').enumerate() {
        if n > 0 {
            out.push('-');
        }
        let token = part
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"_.!%*+`'~".contains(&b));
        let short = part.len() <= 2 && part.iter().all(u8::is_ascii_alphabetic);
        let number = part.len() < 4 && part.iter().all(u8::is_ascii_digit);
        if part.is_empty() {
            continue;
        }
        if token && (short || number || header_word(part) || camel_words(part)) {
            push_ascii(part, out);
        } else if part.iter().all(u8::is_ascii_digit) {
            out.push_str(&p.pseudonym("num", part));
        } else {
            out.push_str(&p.pseudonym("val", part));
        }
    }
}

fn header_word(w: &[u8]) -> bool {
    in_list(w) || one_of(w, &HEADER_WORDS)
}

/// `CallID`, `HangupCause`, `UniqueID`: every camel-case segment a header
/// word (or one or two letters).
fn camel_words(part: &[u8]) -> bool {
    let mut start = 0usize;
    let mut segments = 0usize;
    for k in 1..=part.len() {
        let boundary = k == part.len()
            || (part.get(k).is_some_and(u8::is_ascii_uppercase)
                && part.get(k - 1).is_some_and(u8::is_ascii_lowercase));
        if boundary {
            let seg = part.get(start..k).unwrap_or(&[]);
            let short = seg.len() <= 2 && seg.iter().all(u8::is_ascii_alphabetic);
            if !(short || header_word(seg)) {
                return false;
            }
            segments += 1;
            start = k;
        }
    }
    segments > 1
}

/// Words of header names (RFC 3261 §20, the P- headers of RFC 7315/3325,
/// and common custom `X-` names): kept in a header name.
const HEADER_WORDS: [&[u8]; 446] = [
    b"accept",
    b"access",
    b"account",
    b"acct",
    b"addr",
    b"address",
    b"addresses",
    b"agent",
    b"alert",
    b"alias",
    b"allow",
    b"amzn",
    b"ani",
    b"answer",
    b"answered",
    b"api",
    b"app",
    b"asserted",
    b"associated",
    b"asterisk",
    b"attestation",
    b"audio",
    b"auth",
    b"authenticate",
    b"authentication",
    b"authorization",
    b"bar",
    b"baz",
    b"bearer",
    b"bill",
    b"billed",
    b"billing",
    b"block",
    b"blocked",
    b"body",
    b"breadth",
    b"bridge",
    b"browser",
    b"build",
    b"by",
    b"call",
    b"callback",
    b"called",
    b"callee",
    b"caller",
    b"calling",
    b"campaign",
    b"capabilities",
    b"capability",
    b"caps",
    b"carrier",
    b"category",
    b"cause",
    b"cdr",
    b"cell",
    b"cert",
    b"certificate",
    b"channel",
    b"charge",
    b"charging",
    b"chat",
    b"city",
    b"class",
    b"client",
    b"cluster",
    b"code",
    b"codec",
    b"codecs",
    b"comment",
    b"comments",
    b"company",
    b"connect",
    b"connected",
    b"consent",
    b"contact",
    b"content",
    b"context",
    b"contract",
    b"conversation",
    b"cookie",
    b"correlation",
    b"cost",
    b"count",
    b"counter",
    b"country",
    b"cpe",
    b"credential",
    b"credentials",
    b"cseq",
    b"custom",
    b"customer",
    b"data",
    b"database",
    b"date",
    b"dcs",
    b"debug",
    b"deny",
    b"department",
    b"dept",
    b"dest",
    b"destination",
    b"detail",
    b"details",
    b"dev",
    b"device",
    b"dhcp",
    b"dial",
    b"dialed",
    b"dialing",
    b"dialled",
    b"dialog",
    b"did",
    b"direction",
    b"display",
    b"disposition",
    b"diversion",
    b"dnis",
    b"dns",
    b"domain",
    b"dst",
    b"early",
    b"email",
    b"encoding",
    b"encryption",
    b"env",
    b"environment",
    b"error",
    b"etag",
    b"event",
    b"events",
    b"expires",
    b"ext",
    b"extension",
    b"external",
    b"family",
    b"feature",
    b"features",
    b"firmware",
    b"first",
    b"flag",
    b"flags",
    b"flood",
    b"flow",
    b"foo",
    b"for",
    b"forward",
    b"forwarded",
    b"forwarding",
    b"forwards",
    b"fraud",
    b"freeswitch",
    b"from",
    b"fs",
    b"full",
    b"function",
    b"gateway",
    b"geo",
    b"geolocation",
    b"given",
    b"group",
    b"guid",
    b"gw",
    b"handle",
    b"hangup",
    b"hardware",
    b"hash",
    b"header",
    b"hide",
    b"history",
    b"hop",
    b"hops",
    b"host",
    b"href",
    b"iat",
    b"iccid",
    b"id",
    b"identity",
    b"ids",
    b"if",
    b"im",
    b"imei",
    b"imsi",
    b"in",
    b"inbound",
    b"indication",
    b"info",
    b"instance",
    b"internal",
    b"invoice",
    b"ip",
    b"ip4",
    b"ip6",
    b"ipv4",
    b"ipv6",
    b"jitter",
    b"jwt",
    b"key",
    b"kind",
    b"label",
    b"lan",
    b"lang",
    b"language",
    b"last",
    b"lat",
    b"lead",
    b"leg",
    b"length",
    b"level",
    b"limit",
    b"line",
    b"lines",
    b"link",
    b"linkedid",
    b"list",
    b"lite",
    b"lng",
    b"loc",
    b"local",
    b"locale",
    b"location",
    b"login",
    b"lon",
    b"long",
    b"loss",
    b"mac",
    b"mail",
    b"match",
    b"max",
    b"media",
    b"message",
    b"meta",
    b"mime",
    b"min",
    b"missing",
    b"mobile",
    b"mode",
    b"model",
    b"mos",
    b"msg",
    b"msisdn",
    b"name",
    b"nat",
    b"network",
    b"nick",
    b"nickname",
    b"node",
    b"nonce",
    b"note",
    b"notes",
    b"num",
    b"number",
    b"numbers",
    b"operator",
    b"option",
    b"options",
    b"order",
    b"org",
    b"organization",
    b"orig",
    b"origid",
    b"origin",
    b"original",
    b"originate",
    b"originating",
    b"originator",
    b"os",
    b"outbound",
    b"owner",
    b"package",
    b"parent",
    b"parties",
    b"party",
    b"pass",
    b"passport",
    b"password",
    b"path",
    b"payload",
    b"peer",
    b"permission",
    b"phone",
    b"pin",
    b"plan",
    b"platform",
    b"pod",
    b"policy",
    b"port",
    b"ports",
    b"postal",
    b"ppt",
    b"preferred",
    b"price",
    b"priority",
    b"priv",
    b"privacy",
    b"private",
    b"product",
    b"profile",
    b"proxy",
    b"public",
    b"pwd",
    b"quality",
    b"queue",
    b"rack",
    b"rate",
    b"real",
    b"realm",
    b"reason",
    b"received",
    b"record",
    b"recorded",
    b"recording",
    b"recv",
    b"redirect",
    b"redirected",
    b"redirecting",
    b"redirection",
    b"ref",
    b"refer",
    b"referer",
    b"referred",
    b"referrer",
    b"refused",
    b"region",
    b"reject",
    b"release",
    b"remote",
    b"replaces",
    b"reply",
    b"report",
    b"reports",
    b"req",
    b"request",
    b"require",
    b"resource",
    b"response",
    b"result",
    b"retry",
    b"risk",
    b"role",
    b"route",
    b"routing",
    b"rseq",
    b"rtcp",
    b"rtp",
    b"sampled",
    b"score",
    b"sdp",
    b"secret",
    b"security",
    b"sent",
    b"seq",
    b"sequence",
    b"serial",
    b"served",
    b"server",
    b"service",
    b"session",
    b"shaken",
    b"sid",
    b"sig",
    b"sign",
    b"signature",
    b"signed",
    b"sip",
    b"sipfrag",
    b"site",
    b"skill",
    b"software",
    b"source",
    b"spam",
    b"span",
    b"spanid",
    b"src",
    b"sso",
    b"stage",
    b"stamp",
    b"stat",
    b"state",
    b"stats",
    b"status",
    b"stir",
    b"street",
    b"sub",
    b"subject",
    b"subscriber",
    b"subscription",
    b"support",
    b"supported",
    b"suppress",
    b"surname",
    b"tag",
    b"target",
    b"team",
    b"tenant",
    b"terminating",
    b"test",
    b"text",
    b"ticket",
    b"tier",
    b"time",
    b"timer",
    b"timestamp",
    b"timezone",
    b"title",
    b"to",
    b"token",
    b"trace",
    b"traceid",
    b"tracker",
    b"tracking",
    b"transaction",
    b"transfer",
    b"transferred",
    b"trigger",
    b"trunk",
    b"ts",
    b"type",
    b"tz",
    b"ua",
    b"uid",
    b"unique",
    b"uniqueid",
    b"unsupported",
    b"upstream",
    b"uri",
    b"url",
    b"user",
    b"uuid",
    b"value",
    b"var",
    b"variable",
    b"vector",
    b"vendor",
    b"verify",
    b"version",
    b"verstat",
    b"via",
    b"video",
    b"visited",
    b"vpn",
    b"vvx",
    b"wan",
    b"warning",
    b"www",
    b"zip",
    b"zone",
];

fn trim(v: &[u8]) -> &[u8] {
    let s = v.iter().position(|b| !b.is_ascii_whitespace());
    let e = v.iter().rposition(|b| !b.is_ascii_whitespace());
    match (s, e) {
        (Some(s), Some(e)) => v.get(s..=e).unwrap_or(&[]),
        _ => &[],
    }
}

fn one_of(w: &[u8], list: &[&[u8]]) -> bool {
    list.iter().any(|k| w.eq_ignore_ascii_case(k))
}

/// In the sorted allowlist (case-insensitive).
fn in_list(w: &[u8]) -> bool {
    let mut buf = [0u8; 24];
    let Some(dst) = buf.get_mut(..w.len()) else {
        return false;
    };
    for (d, s) in dst.iter_mut().zip(w) {
        *d = s.to_ascii_lowercase();
    }
    let dst: &[u8] = dst;
    SAFE.binary_search_by(|e| (*e).cmp(dst)).is_ok()
}

/// A short version number: two or three dot-separated groups of one to
/// three digits, the first of at most two, six digits at most, with an
/// optional `v` (`1.10.7`, `v2.1`). Longer dotted numbers may be phone
/// numbers (`555.123.4567`, `123.456`) and four groups an address: neither
/// is a version here.
fn is_version(p: &[u8]) -> bool {
    let p = match p {
        [b'v' | b'V', rest @ ..] => rest,
        _ => p,
    };
    let mut groups = 0usize;
    let mut digits = 0usize;
    for g in p.split(|&b| b == b'.') {
        groups += 1;
        if g.is_empty() || g.len() > 3 || groups > 3 || !g.iter().all(u8::is_ascii_digit) {
            return false;
        }
        if groups == 1 && g.len() > 2 {
            return false;
        }
        digits += g.len();
    }
    groups >= 2 && digits <= 6
}

/// A word shown as it is: in the allowlist; or punctuation only (`-`,
/// `*`); or made of allowlisted parts, versions and short numbers joined by
/// `-`, `_`, `~`, `!` (`FreeSWITCH-mod_sofia`, `1.10.7-release~64bit`,
/// `3GPP-UTRAN-TDD`) with fewer than four digits in its number parts (so
/// `555-123-4567` glued to a word is not shown). A word with a dot is only
/// safe as a listed token or a version: dotted words are host names.
fn is_safe(w: &[u8]) -> bool {
    if in_list(w) {
        return true;
    }
    if !w.iter().any(|b| b.is_ascii_alphanumeric() || *b >= 0x80) {
        return true;
    }
    let mut digits = 0usize;
    for (n, part) in w.split(|b| b"-_~!".contains(b)).enumerate() {
        if n >= 8 {
            return false;
        }
        if part.is_empty() || in_list(part) || is_version(part) {
            continue;
        }
        if part.len() < 4 && part.iter().all(u8::is_ascii_digit) {
            digits += part.len();
            continue;
        }
        return false;
    }
    digits < 4
}

/// Digits in the version parts of a word (`12.34-sip` has four): outside
/// User-Agent and Server a version of four digits is a number like any.
fn version_digits(w: &[u8]) -> usize {
    w.split(|b| b"-_~!".contains(b))
        .filter(|p| is_version(p))
        .map(|p| p.iter().filter(|b| b.is_ascii_digit()).count())
        .sum()
}

/// Placeholders that stand for nobody (RFC 3323 §4.1.1.3 and common use).
fn is_anonymous(w: &[u8]) -> bool {
    one_of(
        w,
        &[
            b"anonymous",
            b"unknown",
            b"unavailable",
            b"restricted",
            b"private",
            b"anonymous.invalid",
        ],
    )
}

/// URI schemes after which a user part or a host follows.
const SCHEMES: [&[u8]; 18] = [
    b"sip", b"sips", b"tel", b"cid", b"cname", b"mailto", b"im", b"pres", b"http", b"https",
    b"urn", b"xmpp", b"h323", b"fax", b"modem", b"ws", b"wss", b"geo",
];

/// The pseudonym class of a parameter's value.
fn param_class(name: &[u8]) -> &'static str {
    if one_of(
        name,
        &[b"received", b"maddr", b"realm", b"domain", b"raddr"],
    ) {
        "host"
    } else if one_of(name, &[b"username", b"cname"]) {
        "user"
    } else {
        "val"
    }
}

/// HTTP/SIP authentication schemes (IANA registry, common ones).
const AUTH_SCHEMES: [&[u8]; 12] = [
    b"Digest",
    b"Basic",
    b"Bearer",
    b"NTLM",
    b"Negotiate",
    b"Kerberos",
    b"HOBA",
    b"Mutual",
    b"SCRAM-SHA-1",
    b"SCRAM-SHA-256",
    b"AWS4-HMAC-SHA256",
    b"DPoP",
];

/// Schemes whose whole credential is one opaque token.
const TOKEN_SCHEMES: [&[u8]; 6] = [
    b"Basic",
    b"Bearer",
    b"NTLM",
    b"Negotiate",
    b"Kerberos",
    b"DPoP",
];

/// Auth parameter names (RFC 7616 §3.3-3.5, RFC 3261 §25.1, RFC 3310).
const CRED_PARAMS: [&[u8]; 19] = [
    b"username",
    b"realm",
    b"nonce",
    b"uri",
    b"response",
    b"algorithm",
    b"cnonce",
    b"opaque",
    b"qop",
    b"nc",
    b"stale",
    b"domain",
    b"userhash",
    b"charset",
    b"auts",
    b"nextnonce",
    b"rspauth",
    b"integrity-protected",
    b"error",
];

/// `algorithm` and `qop` values that may be shown.
const CRED_SAFE_VALUES: [&[u8]; 12] = [
    b"MD5",
    b"MD5-sess",
    b"SHA-256",
    b"SHA-256-sess",
    b"SHA-512-256",
    b"SHA-512-256-sess",
    b"AKAv1-MD5",
    b"AKAv2-MD5",
    b"auth",
    b"auth-int",
    b"true",
    b"false",
];

fn is_credential_header(name: &[u8]) -> bool {
    one_of(
        name,
        &[
            b"Authorization",
            b"Proxy-Authorization",
            b"WWW-Authenticate",
            b"Proxy-Authenticate",
            b"Authentication-Info",
            b"Proxy-Authentication-Info",
        ],
    )
}

/// The auth scheme `v` starts with (followed by whitespace or the end).
fn auth_scheme(v: &[u8]) -> Option<&'static [u8]> {
    let v = trim(v);
    let n = v.iter().take_while(|b| !b.is_ascii_whitespace()).count();
    let first = v.get(..n)?;
    AUTH_SCHEMES
        .iter()
        .find(|s| first.eq_ignore_ascii_case(s))
        .copied()
}

/// `Scheme name=<redacted>, ...`: the scheme, known parameter names, and
/// `algorithm`/`qop` values from [`CRED_SAFE_VALUES`]; nothing else.
fn redact_credentials(v: &[u8], out: &mut String) {
    let v = trim(v);
    let rest = match auth_scheme(v) {
        Some(s) => {
            out.push_str(std::str::from_utf8(s).unwrap_or("?"));
            let rest = trim(v.get(s.len()..).unwrap_or(&[]));
            if rest.is_empty() {
                return;
            }
            out.push(' ');
            if one_of(s, &TOKEN_SCHEMES) {
                out.push_str(REDACTED);
                return;
            }
            rest
        }
        // `Authentication-Info` has parameters and no scheme; anything
        // else without a known scheme is hidden whole.
        None if v.contains(&b'=')
            && !v
                .iter()
                .take_while(|&&b| b != b'=')
                .any(|b| b.is_ascii_whitespace()) =>
        {
            v
        }
        None => {
            if !v.is_empty() {
                out.push_str(REDACTED);
            }
            return;
        }
    };
    let mut k = 0usize;
    let mut first = true;
    for _ in 0..32 {
        if k >= rest.len() {
            break;
        }
        // The element ends at the next comma outside quotes.
        let mut j = k;
        let mut quoted = false;
        while let Some(&c) = rest.get(j) {
            if c == b'\\' && quoted {
                j += 2;
                continue;
            }
            if c == b'"' {
                quoted = !quoted;
            } else if c == b',' && !quoted {
                break;
            }
            j += 1;
        }
        let el = trim(rest.get(k..j.min(rest.len())).unwrap_or(&[]));
        k = j + 1;
        if el.is_empty() {
            continue;
        }
        if !first {
            out.push_str(", ");
        }
        first = false;
        let Some(eq) = el.iter().position(|&b| b == b'=') else {
            out.push_str(REDACTED);
            continue;
        };
        let pname = trim(el.get(..eq).unwrap_or(&[]));
        let pval = trim(el.get(eq + 1..).unwrap_or(&[]));
        let pval = pval
            .strip_prefix(b"\"")
            .and_then(|p| p.strip_suffix(b"\""))
            .unwrap_or(pval);
        if one_of(pname, &CRED_PARAMS) {
            push_ascii(pname, out);
        } else {
            out.push_str(REDACTED);
        }
        out.push('=');
        let safe_value = one_of(pname, &[b"algorithm", b"qop"])
            && !pval.is_empty()
            && pval
                .split(|&b| b == b',')
                .all(|x| one_of(trim(x), &CRED_SAFE_VALUES));
        if safe_value {
            push_ascii(pval, out);
        } else {
            out.push_str(REDACTED);
        }
    }
}

/// End (the `<`) of an unquoted display name starting at `i` (RFC 3261
/// §20.10 name-addr), if this list element is one; scans no further than
/// the element.
fn display_name_end(v: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    while let Some(&c) = v.get(j) {
        match c {
            b'<' => return (j > i).then_some(j),
            b',' | b';' | b'"' | b'>' | b'(' | b'\r' | b'\n' => return None,
            _ => j += 1,
        }
    }
    None
}

/// Length of an IPv6-looking run at `i` (hex digits, `:` and `.` with at
/// least two colons), or 0. MACs (`00:1a:2b:...`) match too: hidden alike.
fn ipv6_run(v: &[u8], i: usize) -> usize {
    let s = v.get(i..).unwrap_or(&[]);
    let run = s
        .iter()
        .take_while(|&&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        .count();
    let s = s.get(..run).unwrap_or(&[]);
    let colons = s.iter().filter(|&&b| b == b':').count();
    if colons >= 2 && s.iter().any(u8::is_ascii_hexdigit) {
        run
    } else {
        0
    }
}

/// The state of one left-to-right pass over a value.
struct Redactor<'a> {
    p: &'a Pseudonymizer,
    out: &'a mut String,
    /// A Via header: the word after the sent-protocol is a host.
    via: bool,
    via_host_pending: bool,
    /// Something other than whitespace seen in this list element.
    seen: bool,
    /// Inside a URI until this offset (exclusive).
    uri_end: usize,
    /// The current URI's user part ends at this offset (its `@`).
    user_until: Option<usize>,
    /// The next word is a host.
    host_next: bool,
    /// The pseudonym class of the value after `name=`, until a separator.
    param: Option<&'static str>,
    /// Parenthesis depth: inside a comment, unsafe tokens are `<redacted>`.
    comment: u32,
    in_angle: bool,
    /// Versions of four digits or more (`18.2.1`) are shown only where
    /// software names itself: User-Agent and Server.
    software: bool,
    /// At the start of a list element (where a display name may be).
    elem_start: bool,
    /// Output length right after the last `<redacted>` (to merge runs).
    last_red: Option<usize>,
}

impl<'a> Redactor<'a> {
    fn new(p: &'a Pseudonymizer, name: &[u8], out: &'a mut String) -> Redactor<'a> {
        let via = one_of(name, &[b"Via", b"v"]);
        let software = one_of(name, &[b"User-Agent", b"Server"]);
        Redactor {
            p,
            out,
            via,
            via_host_pending: via,
            seen: false,
            uri_end: 0,
            user_until: None,
            host_next: false,
            param: None,
            comment: 0,
            in_angle: false,
            software,
            elem_start: true,
            last_red: None,
        }
    }

    /// Redact `v` into the output; true when stopped because the output is
    /// already longer than [`MAX_EVIDENCE`].
    fn run(&mut self, v: &[u8]) -> bool {
        let mut i = 0usize;
        // An SDP line `x=...` (RFC 8866 §5): keep the type; the first
        // field of `o=` is a user name.
        if let [t @ b'a'..=b'z', b'=', ..] = v {
            self.out.push(*t as char);
            self.out.push('=');
            i = 2;
            if *t == b'o' {
                let n = v
                    .get(2..)
                    .unwrap_or(&[])
                    .iter()
                    .take_while(|b| !b.is_ascii_whitespace())
                    .count();
                let user = v.get(2..2 + n).unwrap_or(&[]);
                if user == b"-" {
                    self.out.push('-');
                } else if !user.is_empty() {
                    self.emit_id("user", user);
                }
                i = 2 + n;
            }
            self.elem_start = false;
        }
        while let Some(&b) = v.get(i) {
            if self.out.len() > MAX_EVIDENCE {
                return true;
            }
            let prev = i.checked_sub(1).and_then(|j| v.get(j)).copied();
            let boundary = !prev.is_some_and(is_word);
            if self.elem_start && !b.is_ascii_whitespace() {
                self.elem_start = false;
                if self.comment == 0 && b != b'"' {
                    if let Some(end) = display_name_end(v, i) {
                        i = self.display_name(v, i, end);
                        continue;
                    }
                }
            }
            if !b.is_ascii_whitespace() {
                self.seen = true;
            }
            if b == b'"' {
                i = self.quoted(v, i);
                continue;
            }
            if boundary && prev != Some(b':') && (b.is_ascii_hexdigit() || b == b':') {
                let n = ipv6_run(v, i);
                if n > 0 {
                    self.ipv6(v.get(i..i + n).unwrap_or(&[]));
                    i += n;
                    continue;
                }
            }
            if boundary {
                if let Some(n) = self.number(v, i) {
                    i += n;
                    continue;
                }
            }
            if is_word(b) {
                i = self.word(v, i);
                continue;
            }
            self.punct(b);
            i += 1;
        }
        false
    }

    fn emit_id(&mut self, class: &str, id: &[u8]) {
        if self.comment > 0 {
            self.push_redacted();
        } else {
            let s = self.p.pseudonym(class, id);
            self.out.push_str(&s);
        }
    }

    fn emit_ip(&mut self, ip: IpAddr) {
        if self.comment > 0 {
            self.push_redacted();
        } else {
            let s = self.p.ip(ip);
            self.out.push_str(&s);
        }
    }

    /// `<redacted>`, merged with the previous one when only spaces and
    /// joiners lie between (`(Galaxy S10 de Alice)` → `(<redacted>)`).
    fn push_redacted(&mut self) {
        if let Some(e) = self.last_red {
            let between = self.out.get(e..);
            if between.is_some_and(|t| t.bytes().all(|c| b" @:,".contains(&c))) {
                self.out.truncate(e);
                return;
            }
        }
        self.out.push_str(REDACTED);
        self.last_red = Some(self.out.len());
    }

    fn display_name(&mut self, v: &[u8], i: usize, end: usize) -> usize {
        let span = v.get(i..end).unwrap_or(&[]);
        let name = trim(span);
        if is_anonymous(name) {
            push_ascii(name, self.out);
        } else {
            self.emit_id("name", name);
        }
        // The whitespace before `<` is emitted by the main loop.
        i + span.len()
            - span
                .iter()
                .rev()
                .take_while(|b| b.is_ascii_whitespace())
                .count()
    }

    /// A quoted string: shown only when it is an anonymity placeholder or
    /// an allowlisted parameter value; else `"str-..."`.
    fn quoted(&mut self, v: &[u8], i: usize) -> usize {
        let mut j = i + 1;
        while let Some(&c) = v.get(j) {
            if c == b'"' {
                break;
            }
            j += if c == b'\\' { 2 } else { 1 };
        }
        let inner = v.get(i + 1..j.min(v.len())).unwrap_or(&[]);
        self.out.push('"');
        if !inner.is_empty() {
            if is_anonymous(inner) || (self.param == Some("val") && in_list(inner)) {
                push_ascii(inner, self.out);
            } else {
                self.emit_id("str", inner);
            }
        }
        self.out.push('"');
        j + 1
    }

    fn ipv6(&mut self, s: &[u8]) {
        self.host_next = false;
        match std::str::from_utf8(s)
            .ok()
            .and_then(|t| t.parse::<IpAddr>().ok())
        {
            Some(ip) => self.emit_ip(ip),
            None => self.emit_id("val", s),
        }
    }

    /// A digit run at `i`: `1234`, `+49 30 123 456 78`, `555-123-4567`,
    /// `+1(555)123-4567`, `(555) 123-4567`, `10.0.0.1`, `1.10.7`. Groups of
    /// digits joined by up to three separators of one family: dots, or
    /// space/dash/parentheses (so `2130706431 192.168.1.2` is a number and
    /// an address, not one run). A group glued to letters ends the run
    /// before it. Returns the bytes consumed, or `None` to let the word
    /// (or comment) path take `i`.
    fn number(&mut self, v: &[u8], i: usize) -> Option<usize> {
        let lead = *v.get(i)?;
        let next_digit = v.get(i + 1).is_some_and(u8::is_ascii_digit);
        let (plus, paren) = (lead == b'+' && next_digit, lead == b'(' && next_digit);
        if !(lead.is_ascii_digit() || plus || paren) {
            return None;
        }
        let in_family = |dots: bool, c: u8| {
            if dots {
                c == b'.'
            } else {
                b" \t\r\n-()/#|\\".contains(&c)
            }
        };
        let mut family: Option<bool> = None;
        let mut j = i + usize::from(plus || paren);
        let mut end = i;
        let mut digits: Vec<u8> = Vec::new();
        let mut groups = 0usize;
        let mut max_group = 0usize;
        loop {
            let g = v
                .get(j..)
                .unwrap_or(&[])
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
            if g == 0 {
                break;
            }
            let after = v.get(j + g).copied();
            let fam = match (family, after) {
                (Some(f), _) => Some(f),
                (None, Some(b'.')) => Some(true),
                (None, Some(c)) if in_family(false, c) => Some(false),
                (None, _) => None,
            };
            let sep_ok = after.is_some_and(|c| fam.is_some_and(|f| in_family(f, c)));
            if !sep_ok && after.is_some_and(is_word) {
                // Glued (`4bit`, `192.168` after a space-run): not ours.
                break;
            }
            digits.extend_from_slice(v.get(j..j + g).unwrap_or(&[]));
            groups += 1;
            max_group = max_group.max(g);
            end = j + g;
            if !sep_ok {
                break;
            }
            family = fam;
            // Up to six separators (`) `, `  -  `; one dot), then a digit.
            let max_sep = if family == Some(true) { 1 } else { 6 };
            let mut k = j + g;
            let mut n = 0;
            while n < max_sep
                && v.get(k)
                    .is_some_and(|&c| fam.is_some_and(|f| in_family(f, c)))
            {
                k += 1;
                n += 1;
            }
            if !v.get(k).is_some_and(u8::is_ascii_digit) {
                break;
            }
            j = k;
        }
        if groups == 0 {
            return None;
        }
        let run = v.get(i..end).unwrap_or(&[]);
        let glued_after = v.get(end).is_some_and(|&c| is_word(c));
        // Before `@` (`12.34@h`), or the value of an unknown parameter: an
        // identifier, however short.
        let in_user = self.user_until.is_some_and(|a| i < a);
        let opaque = v.get(end) == Some(&b'@')
            || self.param == Some(OPAQUE)
            || (v.get(end) == Some(&b'=') && self.comment == 0);
        if v.get(end) == Some(&b'=') && self.comment == 0 && !glued_after {
            // A parameter name made of digits: unknown, so is its value.
            self.emit_id("num", &digits);
            self.param = Some(OPAQUE);
            return Some(run.len());
        }
        if family == Some(true) && !plus && !paren && !in_user {
            if groups == 4 {
                if let Some(ip) = std::str::from_utf8(run).ok().and_then(|t| t.parse().ok()) {
                    self.host_next = false;
                    self.emit_ip(ip);
                    return Some(run.len());
                }
            }
            if self.host_next && !glued_after {
                // `sip:1.2.3` or `Via: SIP/2.0/UDP 10.1.2`: a host, not a version.
                self.host_next = false;
                self.emit_id("host", run);
                return Some(run.len());
            }
            let version_ok = digits.len() < 4 || self.software;
            if is_version(run) && !opaque && version_ok {
                if glued_after {
                    return None;
                }
                push_ascii(run, self.out);
                return Some(run.len());
            }
        }
        if digits.len() >= 4
            || in_user
            || (opaque && !glued_after)
            || (self.host_next && !glued_after)
        {
            self.host_next = false;
            self.emit_id("num", &digits);
            return Some(run.len());
        }
        if paren || glued_after {
            return None;
        }
        push_ascii(run, self.out);
        Some(run.len())
    }

    /// A word at `i`: kept when safe in its place, else pseudonymised by
    /// its place (user part, host, parameter value, other). Returns the
    /// offset after it.
    fn word(&mut self, v: &[u8], i: usize) -> usize {
        let n = v
            .get(i..)
            .unwrap_or(&[])
            .iter()
            .take_while(|&&c| is_word(c))
            .count()
            .max(1);
        let w = v.get(i..i + n).unwrap_or(&[]);
        let j = i + n;
        let next = v.get(j).copied();
        let prev = i.checked_sub(1).and_then(|k| v.get(k)).copied();
        // `inline:<key>` (RFC 4568 §9.1): drop the key, whatever it is.
        if next == Some(b':') && w.eq_ignore_ascii_case(b"inline") {
            self.out.push_str("inline:<key>");
            let skip = v
                .get(j..)
                .unwrap_or(&[])
                .iter()
                .take_while(|b| !b.is_ascii_whitespace())
                .count();
            return j + skip;
        }
        if next == Some(b':') && i >= self.uri_end && one_of(w, &SCHEMES) {
            push_ascii(w, self.out);
            self.out.push(':');
            self.open_uri(v, j + 1, w);
            return j + 1;
        }
        let in_user = self.user_until.is_some_and(|a| i < a);
        if in_user || next == Some(b'@') {
            if is_anonymous(w) {
                push_ascii(w, self.out);
            } else {
                self.emit_id("user", w);
            }
            return j;
        }
        if self.host_next || prev == Some(b'@') {
            self.host_next = false;
            if is_anonymous(w) {
                push_ascii(w, self.out);
            } else {
                self.emit_id("host", w);
            }
            return j;
        }
        if next == Some(b'=') && self.comment == 0 {
            // A parameter name: only listed names are shown (a user part
            // can sit before `=` too).
            if in_list(w) {
                push_ascii(w, self.out);
                self.param = Some(param_class(w));
            } else {
                self.emit_id("val", w);
                self.param = Some(OPAQUE);
            }
            return j;
        }
        match self.param {
            Some("val") | None if is_safe(w) && (self.software || version_digits(w) < 4) => {
                push_ascii(w, self.out)
            }
            Some(OPAQUE) => self.emit_id("val", w),
            Some(class) => self.emit_id(class, w),
            None => {
                let class = if w.contains(&b'.') { "host" } else { "val" };
                self.emit_id(class, w);
            }
        }
        j
    }

    /// After `scheme:` at `start`: find where the URI ends and where its
    /// user part does. Nested schemes inside it are not looked at again,
    /// so each byte is scanned here once.
    fn open_uri(&mut self, v: &[u8], start: usize, scheme: &[u8]) {
        let body = v.get(start..).unwrap_or(&[]);
        // `geo:52.52,13.405` (RFC 5870): the comma is inside the URI.
        let geo = scheme.eq_ignore_ascii_case(b"geo");
        let len = body
            .iter()
            .position(|&c| {
                matches!(c, b'>' | b'<' | b'"') || c.is_ascii_whitespace() || (c == b',' && !geo)
            })
            .unwrap_or(body.len());
        let body = body.get(..len).unwrap_or(&[]);
        self.uri_end = start + len;
        if scheme.eq_ignore_ascii_case(b"tel") || geo {
            // RFC 3966: the number (or local name) up to the parameters;
            // RFC 5870: the coordinates, likewise.
            let user = body.iter().position(|&c| c == b';').unwrap_or(len);
            self.user_until = Some(start + user);
            self.host_next = false;
        } else if scheme.eq_ignore_ascii_case(b"urn") {
            self.user_until = None;
            self.host_next = false;
        } else {
            self.user_until = body.iter().rposition(|&c| c == b'@').map(|a| start + a);
            self.host_next = self.user_until.is_none();
        }
    }

    fn punct(&mut self, b: u8) {
        match b {
            b'(' => self.comment = self.comment.saturating_add(1),
            b')' => self.comment = self.comment.saturating_sub(1),
            b'<' => self.in_angle = true,
            b'>' => {
                self.in_angle = false;
                self.param = None;
            }
            b',' => {
                self.param = None;
                self.host_next = false;
                if !self.in_angle && self.comment == 0 {
                    self.elem_start = true;
                    self.via_host_pending = self.via;
                    self.seen = false;
                }
            }
            b';' | b'&' | b'?' => {
                self.param = None;
                self.via_host_pending = false;
            }
            b' ' | b'\t' => {
                self.param = None;
                if self.via_host_pending && self.seen {
                    self.host_next = true;
                    self.via_host_pending = false;
                }
            }
            _ => {}
        }
        self.out.push(if b.is_ascii_graphic() || b == b' ' {
            b as char
        } else {
            '?'
        });
    }
}

/// Tokens shown as they are (lowercase, sorted: binary search). SIP
/// methods, URI and auth schemes, transports, header parameter names and
/// their fixed values, SDP line types and keywords, ICE candidate keywords,
/// SRTP crypto suites, codec names, P-Access-Network-Info access types,
/// privacy values, and product names of common SIP software (a product
/// name not listed is pseudonymised; its version is kept). Never a value
/// that names a person, a host or an account.
const SAFE: [&[u8]; 384] = [
    b"+g.3gpp.icsi-ref",
    b"+sip.ice",
    b"+sip.instance",
    b"+sip.rendering",
    b"32bit",
    b"3cx",
    b"3gpp",
    b"64bit",
    b"802.11",
    b"802.11a",
    b"802.11ac",
    b"802.11ax",
    b"802.11b",
    b"802.11g",
    b"802.11n",
    b"802.3",
    b"a",
    b"aarch64",
    b"ack",
    b"active",
    b"actpass",
    b"adsl",
    b"aead_aes_128_gcm",
    b"aead_aes_256_gcm",
    b"aes_192_cm_hmac_sha1_32",
    b"aes_192_cm_hmac_sha1_80",
    b"aes_256_cm_hmac_sha1_32",
    b"aes_256_cm_hmac_sha1_80",
    b"aes_cm_128_hmac_sha1_32",
    b"aes_cm_128_hmac_sha1_80",
    b"agent",
    b"akav1-md5",
    b"akav2-md5",
    b"algorithm",
    b"alias",
    b"amd64",
    b"amr",
    b"amr-wb",
    b"android",
    b"anonymous",
    b"anonymous.invalid",
    b"application",
    b"arm64",
    b"asterisk",
    b"asterisk-pbx",
    b"audio",
    b"audiocodes",
    b"auth",
    b"auth-int",
    b"auts",
    b"avaya",
    b"avm",
    b"avp",
    b"avpf",
    b"away",
    b"b",
    b"b2bua",
    b"baresip",
    b"basic",
    b"bearer",
    b"belle-sip",
    b"box",
    b"branch",
    b"broadworks",
    b"bundle",
    b"bye",
    b"c",
    b"called",
    b"calling",
    b"cancel",
    b"candidate",
    b"cause",
    b"cdma2000",
    b"cgi-3gpp",
    b"charset",
    b"ci-3gpp",
    b"cid",
    b"cisco",
    b"cn",
    b"cname",
    b"cnonce",
    b"comp",
    b"control",
    b"counter",
    b"counterpath",
    b"critical",
    b"crypto",
    b"cucm",
    b"data",
    b"deflection",
    b"dialog",
    b"digest",
    b"do-not-disturb",
    b"domain",
    b"drachtio",
    b"dsl-location",
    b"dtls",
    b"dvb",
    b"e",
    b"ekiga",
    b"eutran-cell-id-3gpp",
    b"evs",
    b"expires",
    b"ext",
    b"eyebeam",
    b"f8_128_hmac_sha1_80",
    b"false",
    b"fdd",
    b"fec_key",
    b"fec_order",
    b"fid",
    b"fingerprint",
    b"fmtp",
    b"follow-me",
    b"freepbx",
    b"freeswitch",
    b"fritz!box",
    b"full",
    b"g722",
    b"g726",
    b"g729",
    b"gateway",
    b"generation",
    b"geran",
    b"gigaset",
    b"gr",
    b"grandstream",
    b"group",
    b"gsm",
    b"gstn",
    b"gstn-location",
    b"h263",
    b"h264",
    b"h323",
    b"handling",
    b"header",
    b"hoba",
    b"host",
    b"http",
    b"https",
    b"i-wlan-node-id",
    b"ice-options",
    b"ice-pwd",
    b"ice-ufrag",
    b"icid-generated-at",
    b"icid-value",
    b"id",
    b"id-type",
    b"ieee",
    b"ilbc",
    b"im",
    b"in",
    b"inactive",
    b"index",
    b"info",
    b"inline",
    b"inserted-by",
    b"invite",
    b"ios",
    b"ip4",
    b"ip6",
    b"isub",
    b"jitsi",
    b"jssip",
    b"k",
    b"kamailio",
    b"kdr",
    b"keep",
    b"kerberos",
    b"l16",
    b"label",
    b"limit",
    b"linksys",
    b"linphone",
    b"linux",
    b"local-time-zone",
    b"lr",
    b"lte",
    b"m",
    b"macos",
    b"maddr",
    b"mailto",
    b"maxptime",
    b"md5",
    b"md5-sess",
    b"mediasoup",
    b"message",
    b"metaswitch",
    b"method",
    b"methods",
    b"microsip",
    b"mid",
    b"mitel",
    b"mod",
    b"mp",
    b"msid",
    b"mutual",
    b"nc",
    b"negotiate",
    b"network-cost",
    b"network-id",
    b"network-provided",
    b"nextnonce",
    b"no",
    b"no-answer",
    b"nonce",
    b"none",
    b"notify",
    b"np",
    b"nr",
    b"ntlm",
    b"null_hmac_sha1_32",
    b"null_hmac_sha1_80",
    b"o",
    b"ob",
    b"obihai",
    b"off",
    b"on",
    b"opaque",
    b"openser",
    b"opensips",
    b"options",
    b"opus",
    b"orig",
    b"orig-ioi",
    b"out-of-service",
    b"p",
    b"party",
    b"passive",
    b"pbx",
    b"pcma",
    b"pcmu",
    b"phone",
    b"phone-context",
    b"phonerlite",
    b"pjproject",
    b"pjsip",
    b"pjsua",
    b"polycom",
    b"polycomvvx",
    b"postd",
    b"prack",
    b"pres",
    b"prflx",
    b"privacy",
    b"private",
    b"protocol",
    b"ptime",
    b"pub-gruu",
    b"publish",
    b"purpose",
    b"q",
    b"qop",
    b"r",
    b"raddr",
    b"rc",
    b"realm",
    b"reason",
    b"received",
    b"recvonly",
    b"refer",
    b"reg-id",
    b"register",
    b"relay",
    b"release",
    b"response",
    b"restricted",
    b"ribbon",
    b"routr",
    b"rport",
    b"rspauth",
    b"rtcp",
    b"rtcp-mux",
    b"rtp",
    b"rtpengine",
    b"rtpmap",
    b"rtpproxy",
    b"s",
    b"savp",
    b"savpf",
    b"sbc",
    b"sbc-domain",
    b"scram-sha-1",
    b"scram-sha-256",
    b"screen",
    b"sctp",
    b"sems",
    b"sendonly",
    b"sendrecv",
    b"ser",
    b"server",
    b"session",
    b"setup",
    b"sha-256",
    b"sha-256-sess",
    b"sha-512-256",
    b"sha-512-256-sess",
    b"sigcomp-id",
    b"sip",
    b"sip-router",
    b"sip.instance",
    b"siphon",
    b"sipml5",
    b"sipp",
    b"sips",
    b"sipsorcery",
    b"sipura",
    b"snom",
    b"so",
    b"sofia",
    b"softphone",
    b"softswitch",
    b"sonus",
    b"spa",
    b"speex",
    b"srflx",
    b"ssrc",
    b"stale",
    b"subscribe",
    b"subscriber",
    b"t",
    b"tag",
    b"tcp",
    b"tcptype",
    b"tdd",
    b"tel",
    b"telephone-event",
    b"temp-gruu",
    b"term",
    b"term-ioi",
    b"text",
    b"time-of-day",
    b"tls",
    b"tls-sctp",
    b"token",
    b"transport",
    b"trickle",
    b"true",
    b"ttl",
    b"twinkle",
    b"typ",
    b"u",
    b"ua",
    b"udp",
    b"ufrag",
    b"ulpfec",
    b"unauthenticated_srtp",
    b"unavailable",
    b"unconditional",
    b"unencrypted_srtcp",
    b"unencrypted_srtp",
    b"unknown",
    b"update",
    b"uri",
    b"urn",
    b"user",
    b"user-busy",
    b"userhash",
    b"username",
    b"utran",
    b"utran-cell-id-3gpp",
    b"utran-sai-3gpp",
    b"uuid",
    b"v",
    b"video",
    b"vp8",
    b"vp9",
    b"vvx",
    b"webrtc",
    b"windows",
    b"wlan",
    b"ws",
    b"wsh",
    b"wss",
    b"x-lite",
    b"x86",
    b"x86_64",
    b"xdsl",
    b"xmpp",
    b"yate",
    b"yealink",
    b"yes",
    b"z",
    b"zoiper",
];

#[cfg(test)]
#[path = "redact_tests.rs"]
mod tests;
