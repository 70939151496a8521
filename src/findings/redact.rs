//! Keyed pseudonyms and the redaction of evidence lines.
//!
//! A pseudonym is `class-` + the first 4 bytes (8 hex digits) of
//! HMAC-SHA256(key, identifier): stable for one key (so one sender or one
//! user can be followed through the table) and meaningless without it. The
//! identifier bytes are hashed as written, so `1234` as a SIP user and as
//! a number share the hex part.
//!
//! Redaction keeps the header name and the structure (schemes, parameter
//! names, punctuation, keywords, version numbers) and replaces what
//! identifies someone: quoted strings and display names, URI user parts,
//! host names, IPv4 and IPv6 addresses, digit runs of four or more (with an
//! optional `+`), the values of identity parameters (`username=`, `cname=`,
//! SDP `o=` user), and anything after `inline:` (an SRTP key). It errs on
//! the side of replacing: a version that looks like an IPv4 address becomes
//! an `ip-` pseudonym.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt::Write as _;
use std::net::IpAddr;

/// Longest redacted evidence kept, in characters (after redaction, so a cut
/// never leaves part of an identifier).
pub const MAX_EVIDENCE: usize = 256;

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
        let mut m = self.mac.clone();
        m.update(id);
        let tag = m.finalize().into_bytes();
        let mut s = String::with_capacity(class.len() + 9);
        s.push_str(class);
        s.push('-');
        for b in tag.iter().take(4) {
            let _ = write!(s, "{b:02x}");
        }
        s
    }

    /// `ip-xxxxxxxx` of the canonical text of the address, so the same
    /// address gives the same pseudonym as sender and inside evidence.
    pub fn ip(&self, ip: IpAddr) -> String {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.pseudonym("ip", ip.to_string().as_bytes())
    }

    /// Redact one evidence line: `Name: value` (or the value alone when
    /// `name` is empty), at most [`MAX_EVIDENCE`] characters.
    pub fn redact(&self, name: &[u8], value: &[u8]) -> String {
        let mut out = String::new();
        if !name.is_empty() {
            redact_into(self, name, &mut out);
            out.push_str(": ");
        }
        redact_into(self, value, &mut out);
        if out.chars().count() > MAX_EVIDENCE {
            out = out.chars().take(MAX_EVIDENCE).collect();
            out.push('…');
        }
        out
    }
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-_.!~*'%+".contains(&b) || b >= 0x80
}

/// URI schemes after which a user or host follows.
const SCHEMES: [&[u8]; 11] = [
    b"sip", b"sips", b"tel", b"cid", b"cname", b"mailto", b"im", b"pres", b"http", b"https", b"urn",
];

/// Parameter names whose value identifies someone or something, and the
/// pseudonym class of the value.
const SENSITIVE_KEYS: [(&[u8], &str); 13] = [
    (b"username", "user"),
    (b"uri", "val"),
    (b"realm", "host"),
    (b"nonce", "val"),
    (b"cnonce", "val"),
    (b"response", "val"),
    (b"opaque", "val"),
    (b"cname", "user"),
    (b"received", "host"),
    (b"maddr", "host"),
    (b"o", "user"), // SDP o=<username>
    (b"utran-cell-id-3gpp", "val"),
    (b"cgi-3gpp", "val"),
];

fn is_ipv4(w: &[u8]) -> Option<IpAddr> {
    if w.len() < 7 || w.len() > 15 || !w.iter().all(|b| b.is_ascii_digit() || *b == b'.') {
        return None;
    }
    std::str::from_utf8(w).ok()?.parse().ok()
}

/// A DNS-looking name: two or more labels, the last alphabetic (a TLD).
fn is_hostname(w: &[u8]) -> bool {
    let mut labels = w.split(|&b| b == b'.');
    let n = w.iter().filter(|&&b| b == b'.').count();
    let last = w.rsplit(|&b| b == b'.').next().unwrap_or(&[]);
    n >= 1
        && last.len() >= 2
        && last.iter().all(u8::is_ascii_alphabetic)
        && labels.all(|l| {
            !l.is_empty()
                && l.iter()
                    .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Length of an IPv6-looking run at `i` (hex digits, `:` and `.` with at
/// least two colons), or 0.
fn ipv6_run(v: &[u8], i: usize) -> usize {
    let run = v
        .get(i..)
        .unwrap_or(&[])
        .iter()
        .take_while(|&&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        .count();
    let s = v.get(i..i + run).unwrap_or(&[]);
    let colons = s.iter().filter(|&&b| b == b':').count();
    if colons >= 2 && s.iter().any(u8::is_ascii_hexdigit) {
        run
    } else {
        0
    }
}

/// Spans `[start, end)` of display names: text before a `<` back to the
/// start of the list element (RFC 3261 §20.10 name-addr), outside quotes.
fn display_names(v: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut elem = 0usize;
    let mut in_quote = false;
    let mut in_angle = false;
    let mut i = 0usize;
    while let Some(&b) = v.get(i) {
        match b {
            b'\\' if in_quote => i += 1,
            b'"' => in_quote = !in_quote,
            b'<' if !in_quote && !in_angle => {
                in_angle = true;
                let seg = v.get(elem..i).unwrap_or(&[]);
                let s = seg.iter().position(|b| !b.is_ascii_whitespace());
                let e = seg.iter().rposition(|b| !b.is_ascii_whitespace());
                if let (Some(s), Some(e)) = (s, e) {
                    spans.push((elem + s, elem + e + 1));
                }
            }
            b'>' if !in_quote => in_angle = false,
            b',' if !in_quote && !in_angle => elem = i + 1,
            _ => {}
        }
        i += 1;
        if spans.len() >= 32 {
            break;
        }
    }
    spans
}

fn redact_into(p: &Pseudonymizer, v: &[u8], out: &mut String) {
    let names = display_names(v);
    // Inside a URI whose userinfo ends at this `@` offset.
    let mut user_until: Option<usize> = None;
    let mut after_scheme = false;
    let mut sensitive_value: Option<&'static str> = None;
    let mut i = 0usize;
    while i < v.len() {
        let b = v[i];
        if let Some(&(s, e)) = names.iter().find(|(s, _)| *s == i) {
            let seg = v.get(s..e).unwrap_or(&[]);
            // A quoted display name is handled as a quoted string.
            if seg.first() != Some(&b'"') {
                out.push_str(&p.pseudonym("name", seg));
                i = e;
                continue;
            }
        }
        if b == b'"' {
            let mut j = i + 1;
            while j < v.len() && v[j] != b'"' {
                j += if v[j] == b'\\' { 2 } else { 1 };
            }
            let inner = v.get(i + 1..j.min(v.len())).unwrap_or(&[]);
            out.push('"');
            if !inner.is_empty() {
                out.push_str(&p.pseudonym("str", inner));
            }
            out.push('"');
            i = j + 1;
            sensitive_value = None;
            continue;
        }
        let prev_word = i > 0 && v.get(i - 1).is_some_and(|&c| is_word(c));
        if !prev_word {
            let n = ipv6_run(v, i);
            if n > 0 {
                let s = v.get(i..i + n).unwrap_or(&[]);
                let id = std::str::from_utf8(s)
                    .ok()
                    .and_then(|t| t.parse::<IpAddr>().ok());
                out.push_str(&match id {
                    Some(ip) => p.ip(ip),
                    None => p.pseudonym("ip", s),
                });
                i += n;
                sensitive_value = None;
                continue;
            }
        }
        if is_word(b) {
            let n = v[i..].iter().take_while(|&&c| is_word(c)).count();
            let w = &v[i..i + n];
            let next = v.get(i + n).copied();
            let prev = if i > 0 { v.get(i - 1).copied() } else { None };
            i += n;
            // `inline:<key>`: drop the key, whatever it looks like.
            if w.eq_ignore_ascii_case(b"inline") && next == Some(b':') {
                out.push_str("inline:<key>");
                while i < v.len() && !v[i].is_ascii_whitespace() {
                    i += 1;
                }
                continue;
            }
            if next == Some(b':') && SCHEMES.iter().any(|s| w.eq_ignore_ascii_case(s)) {
                push_ascii(w, out);
                after_scheme = true;
                // Userinfo: up to an `@` before the URI ends.
                let end = v[i..]
                    .iter()
                    .position(|&c| matches!(c, b'>' | b',' | b' ' | b'\t' | b'"' | b'\r' | b'\n'))
                    .map_or(v.len(), |e| i + e);
                user_until = v[i..end].iter().rposition(|&c| c == b'@').map(|a| i + a);
                continue;
            }
            if next == Some(b'=') {
                sensitive_value = SENSITIVE_KEYS
                    .iter()
                    .find(|(k, _)| w.eq_ignore_ascii_case(k))
                    .map(|(_, class)| *class);
                push_ascii(w, out);
                continue;
            }
            let in_user = user_until.is_some_and(|a| i <= a);
            let red = if let Some(ip) = is_ipv4(w) {
                Some(p.ip(ip))
            } else if in_user || next == Some(b'@') {
                Some(p.pseudonym("user", w))
            } else if prev == Some(b'@') || is_hostname(w) || (after_scheme && user_until.is_none())
            {
                Some(p.pseudonym("host", w))
            } else {
                sensitive_value.map(|class| p.pseudonym(class, w))
            };
            after_scheme = false;
            sensitive_value = None;
            match red {
                Some(r) => out.push_str(&r),
                None => redact_digits(p, w, out),
            }
            continue;
        }
        if user_until.is_some_and(|a| i > a) {
            user_until = None;
        }
        if matches!(b, b';' | b',' | b'>' | b' ') {
            after_scheme = false;
        }
        if matches!(b, b';' | b',' | b'>') {
            sensitive_value = None;
        }
        out.push(if b.is_ascii_graphic() || b == b' ' {
            b as char
        } else {
            '?'
        });
        i += 1;
    }
}

fn push_ascii(w: &[u8], out: &mut String) {
    out.extend(
        w.iter()
            .map(|&c| if c.is_ascii_graphic() { c as char } else { '?' }),
    );
}

/// Keep a word, replacing digit runs of four or more (with an optional
/// leading `+`) by `num-` pseudonyms; non-ASCII bytes become `?`.
fn redact_digits(p: &Pseudonymizer, w: &[u8], out: &mut String) {
    let mut i = 0usize;
    while i < w.len() {
        let plus = w[i] == b'+';
        let start = i + usize::from(plus);
        let n = w
            .get(start..)
            .unwrap_or(&[])
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let in_run = i > 0 && w[i - 1].is_ascii_digit();
        // A dotted run with three or more dots inside a word (an address
        // glued to a branch or tag: `z9hG4bK-1e192.168.1.2`).
        let dotted = w
            .get(start..)
            .unwrap_or(&[])
            .iter()
            .take_while(|b| b.is_ascii_digit() || **b == b'.')
            .count();
        let run = w.get(start..start + dotted).unwrap_or(&[]);
        if !in_run && n > 0 && run.iter().filter(|&&b| b == b'.').count() >= 3 {
            let run = run.strip_suffix(b".").unwrap_or(run);
            if plus {
                out.push('+');
            }
            out.push_str(&match is_ipv4(run) {
                Some(ip) => p.ip(ip),
                None => p.pseudonym("ip", run),
            });
            i = start + run.len();
            continue;
        }
        if n >= 4 && !in_run {
            out.push_str(&p.pseudonym("num", &w[start..start + n]));
            i = start + n;
            continue;
        }
        let c = w[i];
        out.push(if c.is_ascii_graphic() { c as char } else { '?' });
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> Pseudonymizer {
        Pseudonymizer::new(&[7u8; 32])
    }

    #[test]
    fn pseudonyms_are_keyed_and_stable() {
        let a = p().pseudonym("user", b"alice");
        assert_eq!(a, p().pseudonym("user", b"alice"));
        assert_eq!(a.len(), "user-".len() + 8);
        assert_ne!(
            a,
            Pseudonymizer::new(&[8u8; 32]).pseudonym("user", b"alice")
        );
        assert_eq!(
            p().ip("::ffff:10.0.0.1".parse().unwrap()),
            p().ip("10.0.0.1".parse().unwrap())
        );
        assert!(format!("{:?}", p()).contains("secret"));
    }

    fn r(name: &str, v: &str) -> String {
        p().redact(name.as_bytes(), v.as_bytes())
    }

    #[test]
    fn structure_is_kept() {
        let s = r(
            "P-Asserted-Identity",
            "\"Alice Smith\" <sip:+15551234567@pbx.example.com;user=phone>",
        );
        assert!(s.starts_with("P-Asserted-Identity: \"str-"), "{s}");
        assert!(
            s.contains("<sip:user-") && s.contains("@host-") && s.contains(";user=phone>"),
            "{s}"
        );
        assert!(!s.contains("5551234567") && !s.contains("Alice") && !s.contains("example"));

        let s = r("Via", "SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK776asdhds;received=[2001:db8::9];rport=5060");
        assert!(s.starts_with("Via: SIP/2.0/UDP ip-"), "{s}");
        assert!(
            s.contains(":num-") && s.contains(";branch=z9hG4bK776asdhds;received=[ip-"),
            "{s}"
        );
        assert!(!s.contains("192.168") && !s.contains("2001"));

        let s = r("Contact", "Bob <sip:bob@[fe80::1]:5060>;expires=3600");
        assert!(s.starts_with("Contact: name-"), "{s}");
        assert!(s.contains("<sip:user-") && s.contains("@[ip-"), "{s}");
        assert!(!s.contains("Bob") && !s.contains("bob") && !s.contains("fe80"));

        let s = r(
            "Authorization",
            "Digest username=\"alice\", realm=\"asterisk\", nonce=\"4b1e\", uri=\"sip:1000@10.0.0.1\", response=\"d41d8cd98f00b204e9800998ecf8427e\", algorithm=MD5",
        );
        assert!(
            s.starts_with("Authorization: Digest username=\"str-"),
            "{s}"
        );
        assert!(s.ends_with(", algorithm=MD5"), "{s}");
        assert!(!s.contains("alice") && !s.contains("d41d8"));

        let s = r("", "o=alice 2890844526 2890844527 IN IP4 10.47.16.5");
        assert!(s.starts_with("o=user-") && s.contains(" IN IP4 ip-"), "{s}");
        // An address glued inside a word.
        let s = r(
            "Via",
            "SIP/2.0/UDP h;branch=z9hG4bKnp1-46ea715e192.168.1.2;rport",
        );
        assert!(!s.contains("192.168") && !s.contains("168.1.2"), "{s}");
        assert!(s.contains("715eip-"), "{s}");
        assert!(!s.contains("alice") && !s.contains("2890844") && !s.contains("10.47"));

        let s = r("", "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4");
        assert_eq!(s, "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:<key>");

        let s = r("User-Agent", "FreeSWITCH-mod_sofia/1.10.7-release~64bit");
        assert_eq!(s, "User-Agent: FreeSWITCH-mod_sofia/1.10.7-release~64bit");
        let s = r("", "a=ssrc:3735928559 cname:alice@host.example");
        assert!(
            s.starts_with("a=ssrc:num-") && s.contains(" cname:user-") && s.contains("@host-"),
            "{s}"
        );
        let s = r("", "sip.example.com");
        assert!(s.starts_with("host-"), "{s}");
        let s = r(
            "P-Access-Network-Info",
            "3GPP-UTRAN-TDD; utran-cell-id-3gpp=23456789ABCD",
        );
        assert!(
            s.starts_with("P-Access-Network-Info: 3GPP-UTRAN-TDD; utran-cell-id-3gpp=val-"),
            "{s}"
        );
        let s = r("Call-ID", "a84b4c76e66710@pc33.atlanta.com");
        assert!(
            s.starts_with("Call-ID: user-") && s.contains("@host-"),
            "{s}"
        );
        let s = r("Contact", "<sip:alice:secret@h>");
        assert!(!s.contains("alice") && !s.contains("secret"), "{s}");
        assert_eq!(r("Privacy", "id"), "Privacy: id");
        assert_eq!(r("", ""), "");
        // Non-ASCII and control bytes never reach the output raw.
        let s = p().redact(b"X-A", b"J\xf6rg\x01 x");
        assert!(s.is_ascii() && !s.contains('\u{1}'), "{s}");
        // Long values are cut after redaction.
        assert!(r("X-Long", &"ab ".repeat(500)).chars().count() <= MAX_EVIDENCE + 1);
    }
}
